//! Reminder schedules: one per customer and product, planned from paid orders (replanned by
//! a newer order, counted once per order), cancelled with the order, on erasure or on
//! withdrawn consent, and queued by the hour they fall due.
//!
//! Exactly once: a schedule is one record changed by compare-and-swap; its `version` moves
//! with every replan, so a queued entry of an older plan is skipped at dispatch.

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::dispatch;
use super::profile::{plan, PlannedStep};
use super::settings::ReminderSettings;
use super::stats::{self, stats};
use crate::applog;
use crate::customers::ProductRef;
use crate::domain::{CustomerId, ShopId};
use crate::error::Error;
use crate::keys;
use crate::orders::LineItem;
use crate::shops::Shop;
use crate::store::{get_json, update_json, Change, Store};

/// What became of one planned message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StepState {
    Pending,
    /// Claimed by a dispatch that is delivering it: never claimed twice.
    Sending {
        since: Timestamp,
    },
    Sent {
        sent_at: Timestamp,
    },
    Suppressed {
        reason: String,
    },
    Cancelled,
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReminderStep {
    #[serde(flatten)]
    pub planned: PlannedStep,
    #[serde(flatten)]
    pub state: StepState,
    /// Delivery attempts so far.
    #[serde(default)]
    pub attempts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ScheduleStatus {
    Active,
    /// The triggering order was cancelled or wholly refunded, the customer withdrew consent
    /// or was erased.
    Cancelled {
        reason: String,
    },
}

/// The reminders about one product for one customer, planned from their newest order of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReminderSchedule {
    pub customer: CustomerId,
    pub product: ProductRef,
    pub title: Option<String>,
    /// `{platform}/{order id}` of the order the plan counts from.
    pub order: String,
    pub paid_at: Timestamp,
    pub quantity: i64,
    pub run_out: Date,
    pub steps: Vec<ReminderStep>,
    pub follow_up_campaign: Option<String>,
    #[serde(flatten)]
    pub status: ScheduleStatus,
    /// Changes with every new plan: queued entries of an older plan are ignored.
    pub version: u64,
    pub updated_at: Timestamp,
}

/// One queued step, in the shop's list of the hour it is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QueuedStep {
    pub customer: CustomerId,
    pub product: String,
    pub version: u64,
    pub step: usize,
    /// When it is due (set when queued; older entries lack it): for the backlog's age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Timestamp>,
}

/// A product's id in keys: a hash of its product, variant and SKU ids.
pub fn product_key(product: &ProductRef) -> String {
    let text = format!(
        "{}|{}|{}",
        product.product_id.as_deref().unwrap_or(""),
        product.variant_id.as_deref().unwrap_or(""),
        product.sku.as_deref().unwrap_or("")
    );
    crate::domain::ids::short_hash(&text, 12)
}

/// An order as reminders see it.
pub struct PaidOrder<'a> {
    pub shop: &'a Shop,
    pub customer: &'a CustomerId,
    pub order: String,
    pub paid_at: Timestamp,
    pub items: &'a [crate::orders::LineItem],
}

/// Plans reminders for the items of a paid order that have a profile. A newer order of the
/// same product replans from that order; an older one (a late retry) changes nothing; the
/// same order again changes nothing. Each step is queued before the plan is stored, so a
/// crash never leaves a stored step unqueued (an unstored plan's queue entries are ignored).
pub fn plan_order(
    store: &dyn Store,
    settings: &ReminderSettings,
    order: &PaidOrder<'_>,
    now: Timestamp,
) -> Result<(), Error> {
    for item in order.items {
        plan_item(store, settings, order, item, now)?;
    }
    Ok(())
}

/// Plans (or replans) the reminders of one line of a paid order, if its product has a
/// profile and no newer order planned them already; counts a conversion when the order
/// came soon after a reminder of the plan it replaces.
fn plan_item(
    store: &dyn Store,
    settings: &ReminderSettings,
    order: &PaidOrder<'_>,
    item: &LineItem,
    now: Timestamp,
) -> Result<(), Error> {
    let shop = &order.shop.id;
    let product = ProductRef {
        product_id: item.product_id.clone(),
        variant_id: item.variant_id.clone(),
        sku: item.sku.clone(),
    };
    let Some(profile) = settings.for_item(&product) else {
        return Ok(());
    };
    let pkey = product_key(&product);
    let key = keys::reminder_schedule(shop, order.customer, &pkey);
    let current: Option<ReminderSchedule> = get_json(store, &key)?;
    match &current {
        Some(s) if s.order == order.order || s.paid_at > order.paid_at => return Ok(()),
        None => {
            // Listed before it exists (a listed key without a schedule is skipped).
            let list = keys::lists::customer_reminders(order.customer);
            applog::append(store, shop, &list, &pkey)?;
        }
        _ => {}
    }
    let (run_out, planned) = plan(profile, order.paid_at, item.quantity, &order.shop.zone())?;
    let version = crate::domain::ids::random_u64();
    for (step, p) in planned.iter().enumerate() {
        let entry = QueuedStep {
            customer: order.customer.clone(),
            product: pkey.clone(),
            version,
            step,
            due: None,
        };
        queue(store, shop, p.at, now, &entry)?;
    }
    let fresh = ReminderSchedule {
        customer: order.customer.clone(),
        product: product.clone(),
        title: item.title.clone(),
        order: order.order.clone(),
        paid_at: order.paid_at,
        quantity: item.quantity,
        run_out,
        steps: planned
            .into_iter()
            .map(|planned| ReminderStep {
                planned,
                state: StepState::Pending,
                attempts: 0,
            })
            .collect(),
        follow_up_campaign: profile.follow_up_campaign.clone(),
        status: ScheduleStatus::Active,
        version,
        updated_at: now,
    };
    let replaced = update_json(store, &key, |current: Option<ReminderSchedule>| {
        Ok::<_, Error>(match current {
            Some(s) if s.order == fresh.order || s.paid_at > fresh.paid_at => Change::Keep(None),
            other => Change::Write(fresh.clone(), Some(other)),
        })
    })?;
    let Some(previous) = replaced else {
        return Ok(());
    };
    register_product(store, shop, &pkey, &product, item.title.as_deref())?;
    stats::count(store, shop, &pkey, "scheduled", 1)?;
    let window = SignedDuration::from_hours(settings.conversion_days * 24);
    if previous.is_some_and(|p| p.converted_by(order.paid_at, window)) {
        stats::count(store, shop, &pkey, "converted", 1)?;
        let revenue = item.unit_price_minor.saturating_mul(item.quantity);
        stats::count(store, shop, &pkey, "revenue", revenue)?;
    }
    Ok(())
}

impl ReminderSchedule {
    /// A reorder paid at `paid_at` soon after (within `window`) one of this plan's reminders
    /// went out is that reminder's conversion.
    pub fn converted_by(&self, paid_at: Timestamp, window: SignedDuration) -> bool {
        self.steps.iter().any(|s| match s.state {
            StepState::Sent { sent_at } => sent_at <= paid_at && paid_at - window <= sent_at,
            _ => false,
        })
    }
}

/// Lists a product for per-product statistics the first time it is planned.
fn register_product(
    store: &dyn Store,
    shop: &ShopId,
    key: &str,
    product: &ProductRef,
    title: Option<&str>,
) -> Result<(), Error> {
    let marker = keys::reminder_product(shop, key);
    if get_json::<bool>(store, &marker)?.is_some() {
        return Ok(());
    }
    let entry = serde_json::json!({"key": key, "product": product, "title": title});
    applog::append(store, shop, keys::lists::REMINDER_PRODUCTS, &entry)?;
    crate::store::create_json(store, &marker, &true)?;
    Ok(())
}

/// Per-product statistics, one page of the products planned so far.
pub fn product_stats(
    store: &dyn Store,
    shop: &ShopId,
    after: i64,
    limit: usize,
) -> Result<(Vec<serde_json::Value>, Option<i64>), Error> {
    let page = applog::page::<serde_json::Value>(
        store,
        shop,
        keys::lists::REMINDER_PRODUCTS,
        after,
        limit,
    )?;
    let mut out = Vec::new();
    for (_, mut entry) in page.entries {
        let key = entry["key"].as_str().unwrap_or_default().to_string();
        entry["stats"] = serde_json::to_value(stats(store, shop, Some(&key))?)
            .unwrap_or(serde_json::Value::Null);
        out.push(entry);
    }
    Ok((out, page.next))
}

/// Cancels what an order planned (it was cancelled or wholly refunded).
pub fn cancel_order(
    store: &dyn Store,
    shop: &ShopId,
    customer: &CustomerId,
    order: &str,
    items: &[crate::orders::LineItem],
    now: Timestamp,
) -> Result<(), Error> {
    for item in items {
        let product = ProductRef {
            product_id: item.product_id.clone(),
            variant_id: item.variant_id.clone(),
            sku: item.sku.clone(),
        };
        let key = keys::reminder_schedule(shop, customer, &product_key(&product));
        cancel(store, &key, now, "order_cancelled", |s| s.order == order)?;
    }
    Ok(())
}

/// Cancels every active schedule of a customer (consent withdrawn, erasure).
pub fn cancel_customer(
    store: &dyn Store,
    shop: &ShopId,
    customer: &CustomerId,
    reason: &str,
    now: Timestamp,
) -> Result<(), Error> {
    for key in schedule_keys(store, shop, customer)? {
        cancel(store, &key, now, reason, |_| true)?;
    }
    Ok(())
}

fn cancel(
    store: &dyn Store,
    key: &str,
    now: Timestamp,
    reason: &str,
    applies: impl Fn(&ReminderSchedule) -> bool,
) -> Result<(), Error> {
    update_json(store, key, |current: Option<ReminderSchedule>| {
        let Some(mut s) = current else {
            return Ok::<_, Error>(Change::Keep(()));
        };
        if s.status != ScheduleStatus::Active || !applies(&s) {
            return Ok(Change::Keep(()));
        }
        s.status = ScheduleStatus::Cancelled {
            reason: reason.to_string(),
        };
        for step in &mut s.steps {
            if step.state == StepState::Pending {
                step.state = StepState::Cancelled;
            }
        }
        s.updated_at = now;
        Ok(Change::Write(s, ()))
    })
}

/// The keys of a customer's schedules (the list may name one twice after a race).
fn schedule_keys(
    store: &dyn Store,
    shop: &ShopId,
    customer: &CustomerId,
) -> Result<Vec<String>, Error> {
    let list = keys::lists::customer_reminders(customer);
    let mut keys_seen = Vec::new();
    let mut after = 0;
    loop {
        let page = applog::page::<String>(store, shop, &list, after, 200)?;
        for (_, pkey) in page.entries {
            let key = keys::reminder_schedule(shop, customer, &pkey);
            if !keys_seen.contains(&key) {
                keys_seen.push(key);
            }
        }
        match page.next {
            Some(next) => after = next,
            None => return Ok(keys_seen),
        }
    }
}

/// A customer's schedules, newest payment first.
pub fn customer_schedules(
    store: &dyn Store,
    shop: &ShopId,
    customer: &CustomerId,
) -> Result<Vec<ReminderSchedule>, Error> {
    let mut out = Vec::new();
    for key in schedule_keys(store, shop, customer)? {
        if let Some(s) = get_json::<ReminderSchedule>(store, &key)? {
            out.push(s);
        }
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.paid_at));
    Ok(out)
}

/// Queues a step in the shop's list of the hour it is due (a step already due goes in the
/// current hour, which dispatch has not passed yet). The shop is registered for dispatch
/// first, from this hour on.
pub(crate) fn queue(
    store: &dyn Store,
    shop: &ShopId,
    at: Timestamp,
    now: Timestamp,
    entry: &QueuedStep,
) -> Result<(), Error> {
    dispatch::register(store, shop, now)?;
    let hour = at.max(now).as_second().div_euclid(3600);
    let slot = store.increment(&keys::reminder_queue_counter(shop, hour), 1)?;
    // When it was planned for: a step planned in the past (an order that arrived late) is
    // already as late as its plan says.
    let entry = QueuedStep {
        due: Some(at),
        ..entry.clone()
    };
    crate::store::put_json(store, &keys::reminder_queue_slot(shop, hour, slot), &entry)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reminders::StepKind;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn schedule(states: Vec<StepState>) -> ReminderSchedule {
        let steps = states
            .into_iter()
            .map(|state| ReminderStep {
                planned: PlannedStep {
                    kind: StepKind::Reminder { n: 1 },
                    at: at("2026-11-01T02:00:00Z"),
                },
                state,
                attempts: 0,
            })
            .collect();
        ReminderSchedule {
            customer: CustomerId::random(),
            product: ProductRef {
                product_id: Some("7001".into()),
                variant_id: None,
                sku: None,
            },
            title: None,
            order: "shopify/1".into(),
            paid_at: at("2026-10-01T00:00:00Z"),
            quantity: 1,
            run_out: Date::constant(2026, 10, 31),
            steps,
            follow_up_campaign: None,
            status: ScheduleStatus::Active,
            version: 1,
            updated_at: at("2026-10-01T00:00:00Z"),
        }
    }

    #[test]
    fn a_reorder_soon_after_a_sent_reminder_is_its_conversion() {
        let week = SignedDuration::from_hours(7 * 24);
        let sent = StepState::Sent {
            sent_at: at("2026-11-01T02:00:00Z"),
        };
        let reminded = schedule(vec![sent, StepState::Pending]);
        assert!(reminded.converted_by(at("2026-11-03T00:00:00Z"), week));
        assert!(
            !reminded.converted_by(at("2026-11-09T00:00:00Z"), week),
            "too late"
        );
        assert!(
            !reminded.converted_by(at("2026-10-30T00:00:00Z"), week),
            "before it"
        );
        let never_sent = schedule(vec![StepState::Pending]);
        assert!(!never_sent.converted_by(at("2026-11-03T00:00:00Z"), week));
    }
}
