//! Orders: the one internal event every platform's webhook becomes, and the merged record of
//! everything known about an order, with the plan of what it should contribute to its
//! customer and set off beyond them. Pure over the record except `load`; the settlement
//! that carries the plan out is `flows::order_settled`.
//!
//! Exactly once, without transactions: the order record holds the contribution already
//! applied to the customer. A change is planned as an `Intent` (id, from, to) written into the
//! order record; the customer applies it only if it has not seen that id; then the order
//! record marks it applied. A crash between the steps leaves the intent pending, and the
//! platform's retry finishes it without applying anything twice.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::customers::{ContributedItem, Contribution, Intent, ProductRef, ProfilePatch};
use crate::domain::ids::{random_u64, ExternalId};
use crate::domain::MinorUnits;
use crate::domain::{Currency, CustomerId, Platform, ShopId};
use crate::error::Error;
use crate::keys;
use crate::store::{get_json, Store};

/// Refunds remembered per order; a platform sending more is merged into the last one.
const REFUNDS_KEPT: usize = 250;
/// Delivery ids remembered per order, to answer exact duplicates with one read.
const DELIVERIES_KEPT: usize = 16;

/// One webhook's news about an order, in platform-neutral form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    pub platform: Platform,
    pub order_id: ExternalId,
    pub facts: OrderFacts,
    /// The order's contents, when the event carries them (refund events do not).
    pub snapshot: Option<OrderSnapshot>,
    /// The payload's own modification time, to tell newer contents from older retries.
    pub version: Option<Timestamp>,
    pub customer: ProfilePatch,
}

impl OrderEvent {
    /// An event that only adds facts (a refund, a deletion): no contents, no customer.
    pub fn facts_only(platform: Platform, order_id: ExternalId, facts: OrderFacts) -> Self {
        Self {
            platform,
            order_id,
            facts,
            snapshot: None,
            version: None,
            customer: ProfilePatch::default(),
        }
    }
}

/// Facts that only ever become true; merging them is order-independent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderFacts {
    pub placed_at: Option<Timestamp>,
    pub paid_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    #[serde(default)]
    pub fully_refunded: bool,
    #[serde(default)]
    pub refunds: Vec<Refund>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Refund {
    pub id: String,
    pub amount_minor: MinorUnits,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderSnapshot {
    pub name: Option<String>,
    pub currency: Currency,
    pub total_minor: MinorUnits,
    pub discount_minor: MinorUnits,
    pub line_items: Vec<LineItem>,
    pub discount_codes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LineItem {
    pub product_id: Option<String>,
    pub variant_id: Option<String>,
    pub sku: Option<String>,
    pub title: Option<String>,
    pub quantity: i64,
    pub unit_price_minor: MinorUnits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Placed,
    Paid,
    PartiallyRefunded,
    Refunded,
    Cancelled,
}

/// Everything known about one order, merged from all its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderRecord {
    pub platform: Platform,
    pub order_id: ExternalId,
    pub customer_id: Option<CustomerId>,
    pub facts: OrderFacts,
    pub snapshot: Option<OrderSnapshot>,
    pub snapshot_version: Option<Timestamp>,
    /// What the customer's aggregates currently include from this order.
    pub applied: Contribution,
    pub pending: Option<Intent>,
    pub deliveries: Vec<String>,
    pub first_seen_at: Timestamp,
    pub updated_at: Timestamp,
    /// The state the order's effects beyond the customer (coupon redemptions, reminder
    /// plans) were last brought in line with (see `apply_effects`).
    #[serde(default)]
    pub effects_applied: Option<EffectState>,
}

/// What ingesting an order event did.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OrderOutcome {
    pub order_id: ExternalId,
    pub status: OrderStatus,
    pub customer_id: Option<CustomerId>,
    pub duplicate: bool,
}

impl OrderFacts {
    fn merge(&mut self, other: &OrderFacts) {
        self.placed_at = earliest(self.placed_at, other.placed_at);
        self.paid_at = earliest(self.paid_at, other.paid_at);
        self.cancelled_at = earliest(self.cancelled_at, other.cancelled_at);
        self.fully_refunded |= other.fully_refunded;
        for refund in &other.refunds {
            if self.refunds.iter().any(|r| r.id == refund.id) {
                continue;
            }
            if self.refunds.len() < REFUNDS_KEPT {
                self.refunds.push(refund.clone());
            } else if let Some(last) = self.refunds.last_mut() {
                last.amount_minor += refund.amount_minor;
            }
        }
    }
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl OrderRecord {
    pub fn new(event: &OrderEvent, now: Timestamp) -> Self {
        Self {
            platform: event.platform,
            order_id: event.order_id.clone(),
            customer_id: None,
            facts: OrderFacts::default(),
            snapshot: None,
            snapshot_version: None,
            applied: Contribution::default(),
            pending: None,
            deliveries: Vec::new(),
            first_seen_at: now,
            updated_at: now,
            effects_applied: None,
        }
    }

    /// Folds an event in. Older contents never replace newer ones; facts only accumulate.
    fn merge(&mut self, event: &OrderEvent, deliveries: &[String]) {
        self.facts.merge(&event.facts);
        if let Some(snapshot) = &event.snapshot {
            let newer = match (event.version, self.snapshot_version) {
                _ if self.snapshot.is_none() => true,
                (Some(new), Some(old)) => new > old,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if newer {
                self.snapshot = Some(snapshot.clone());
                self.snapshot_version = event.version;
            }
        }
        for id in deliveries {
            if !self.deliveries.contains(id) {
                self.deliveries.push(id.clone());
            }
        }
        let excess = self.deliveries.len().saturating_sub(DELIVERIES_KEPT);
        self.deliveries.drain(..excess);
    }

    /// What the order's state means for its effects beyond the customer; None when there
    /// is nothing to do (no contents or customer yet, or an unpaid order without codes).
    pub fn effect_state(&self) -> Option<EffectState> {
        let snapshot = self.snapshot.as_ref()?;
        self.customer_id.as_ref()?;
        Some(match self.status() {
            OrderStatus::Cancelled => EffectState::Cancelled,
            OrderStatus::Refunded => EffectState::Refunded,
            OrderStatus::Paid | OrderStatus::PartiallyRefunded => EffectState::Paid,
            OrderStatus::Placed if !snapshot.discount_codes.is_empty() => EffectState::Placed,
            OrderStatus::Placed => return None,
        })
    }

    /// Effects not yet brought in line with the order's state.
    pub fn effects_due(&self) -> Option<EffectState> {
        let state = self.effect_state();
        (state != self.effects_applied).then_some(state).flatten()
    }

    pub fn status(&self) -> OrderStatus {
        let refunded: i64 = self.refunded_minor();
        let total = self.snapshot.as_ref().map_or(0, |s| s.total_minor);
        if self.facts.cancelled_at.is_some() {
            OrderStatus::Cancelled
        } else if self.facts.fully_refunded || (total > 0 && refunded >= total) {
            OrderStatus::Refunded
        } else if refunded > 0 {
            OrderStatus::PartiallyRefunded
        } else if self.facts.paid_at.is_some() {
            OrderStatus::Paid
        } else {
            OrderStatus::Placed
        }
    }

    fn refunded_minor(&self) -> i64 {
        let Some(snapshot) = &self.snapshot else {
            return 0;
        };
        self.facts
            .refunds
            .iter()
            .filter(|r| r.currency == snapshot.currency)
            .map(|r| r.amount_minor)
            .sum()
    }

    /// What this order should contribute in its current state: paid, not cancelled, not
    /// wholly refunded orders count; spend is net of refunds.
    pub fn desired_contribution(&self) -> Contribution {
        let Some(snapshot) = &self.snapshot else {
            return Contribution::default();
        };
        if self.facts.paid_at.is_none() || self.facts.cancelled_at.is_some() {
            return Contribution::default();
        }
        let refunded = self.refunded_minor();
        let wholly_refunded = self.facts.fully_refunded
            || (snapshot.total_minor > 0 && refunded >= snapshot.total_minor);
        if wholly_refunded {
            return Contribution::default();
        }
        Contribution {
            counted: true,
            currency: Some(snapshot.currency),
            net_minor: snapshot.total_minor - refunded,
            items: snapshot
                .line_items
                .iter()
                .filter(|item| item.quantity > 0)
                .map(|item| ContributedItem {
                    product: ProductRef {
                        product_id: item.product_id.clone(),
                        variant_id: item.variant_id.clone(),
                        sku: item.sku.clone(),
                    },
                    title: item.title.clone(),
                    quantity: item.quantity,
                })
                .collect(),
            ordered_at: self.facts.placed_at.or(self.facts.paid_at),
        }
    }

    /// Takes in an event: merges it, ties the order to `customer` if it has none yet, and
    /// plans the next change of its customer. Whether the record changed beyond delivery
    /// ids (a redelivery under a new id is not worth a write).
    pub fn take_in(
        &mut self,
        event: &OrderEvent,
        deliveries: &[String],
        customer: Option<&CustomerId>,
    ) -> (bool, Option<Intent>) {
        let before = self.clone();
        self.merge(event, deliveries);
        if self.customer_id.is_none() {
            self.customer_id = customer.cloned();
        }
        let intent = self.plan();
        let unchanged = OrderRecord {
            deliveries: before.deliveries.clone(),
            ..self.clone()
        } == before;
        (!unchanged, intent)
    }

    /// Marks `done` applied to the customer (if it is still the pending change) and the
    /// effects of `effects` applied (if the order is still in that state), then plans the
    /// next change.
    pub fn finish(&mut self, done: &Intent, effects: Option<EffectState>) -> Option<Intent> {
        if self.pending.as_ref().map(|p| p.id) == Some(done.id) {
            self.applied = done.to.clone();
            self.pending = None;
        }
        if effects.is_some() && self.effect_state() == effects {
            self.effects_applied = effects;
        }
        self.plan()
    }

    /// A delivery seen before of an order with nothing left to settle: answered as is.
    pub fn is_settled_duplicate(&self, deliveries: &[String]) -> bool {
        let seen = deliveries.iter().any(|d| self.deliveries.contains(d));
        seen && self.pending.is_none() && self.effects_due().is_none()
    }

    /// The pending intent, or a new one when the customer lags behind the order's state.
    fn plan(&mut self) -> Option<Intent> {
        if let Some(pending) = &self.pending {
            return Some(pending.clone());
        }
        self.customer_id.as_ref()?;
        let desired = self.desired_contribution();
        if desired == self.applied {
            return None;
        }
        let intent = Intent {
            id: random_u64(),
            from: self.applied.clone(),
            to: desired,
        };
        self.pending = Some(intent.clone());
        Some(intent)
    }
}

/// What an order's state means for what it set off beyond the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EffectState {
    /// Placed, not paid: its codes are used.
    Placed,
    /// Paid (perhaps partly refunded): codes used, reminders planned.
    Paid,
    Cancelled,
    Refunded,
}

impl OrderOutcome {
    /// What the caller is told about `record`; `duplicate` when nothing new was done.
    pub fn of(record: &OrderRecord, duplicate: bool) -> Self {
        Self {
            order_id: record.order_id.clone(),
            status: record.status(),
            customer_id: record.customer_id.clone(),
            duplicate,
        }
    }
}

pub fn load(
    store: &dyn Store,
    shop: &ShopId,
    platform: Platform,
    order_id: &ExternalId,
) -> Result<Option<OrderRecord>, Error> {
    Ok(get_json(store, &keys::order(shop, platform, order_id))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn refund(id: &str, amount_minor: i64) -> Refund {
        Refund {
            id: id.into(),
            amount_minor,
            currency: Currency::cny(),
        }
    }

    fn snapshot(total_minor: i64) -> OrderSnapshot {
        let line = |sku: &str, quantity| LineItem {
            product_id: Some("p1".into()),
            variant_id: None,
            sku: Some(sku.into()),
            title: Some("Oolong".into()),
            quantity,
            unit_price_minor: 5990,
        };
        OrderSnapshot {
            name: Some("#1001".into()),
            currency: Currency::cny(),
            total_minor,
            discount_minor: 0,
            line_items: vec![line("TEA", 2), line("GONE", 0)],
            discount_codes: Vec::new(),
        }
    }

    fn event(facts: OrderFacts, contents: Option<(i64, &str)>) -> OrderEvent {
        OrderEvent {
            snapshot: contents.map(|(total, _)| snapshot(total)),
            version: contents.map(|(_, version)| at(version)),
            ..OrderEvent::facts_only(Platform::Shopify, ExternalId::parse("9001").unwrap(), facts)
        }
    }

    fn record_of(events: &[&OrderEvent]) -> OrderRecord {
        let mut record = OrderRecord::new(events[0], at("2026-11-20T02:00:00Z"));
        for e in events {
            record.merge(e, &[]);
        }
        record
    }

    fn paid() -> OrderFacts {
        OrderFacts {
            placed_at: Some(at("2026-11-20T02:00:00Z")),
            paid_at: Some(at("2026-11-20T02:01:00Z")),
            ..OrderFacts::default()
        }
    }

    #[test]
    fn facts_merge_the_same_in_any_order_and_count_a_refund_once() {
        let created = event(paid(), Some((11980, "2026-11-20T02:01:00Z")));
        let refunded = event(
            OrderFacts {
                refunds: vec![refund("r1", 1990)],
                ..OrderFacts::default()
            },
            None,
        );
        let later_paid = event(
            OrderFacts {
                paid_at: Some(at("2026-11-20T03:00:00Z")),
                refunds: vec![refund("r1", 1990), refund("r2", 1000)],
                ..OrderFacts::default()
            },
            None,
        );
        let forward = record_of(&[&created, &refunded, &later_paid]);
        let backward = record_of(&[&later_paid, &refunded, &created]);
        assert_eq!(forward.facts.paid_at, backward.facts.paid_at);
        assert_eq!(forward.facts.paid_at, Some(at("2026-11-20T02:01:00Z")));
        let total = |r: &OrderRecord| r.facts.refunds.iter().map(|r| r.amount_minor).sum::<i64>();
        assert_eq!((total(&forward), total(&backward)), (2990, 2990));
        assert_eq!(
            forward.desired_contribution(),
            backward.desired_contribution()
        );
        assert_eq!(forward.desired_contribution().net_minor, 11980 - 2990);
    }

    #[test]
    fn older_contents_never_replace_newer_ones() {
        let newer = event(paid(), Some((20000, "2026-11-21T00:00:00Z")));
        let older = event(paid(), Some((10000, "2026-11-20T00:00:00Z")));
        let unversioned = event(paid(), None);
        for order in [[&newer, &older], [&older, &newer]] {
            let record = record_of(&order);
            assert_eq!(record.snapshot.as_ref().unwrap().total_minor, 20000);
        }
        let mut record = record_of(&[&newer]);
        let mut no_version = unversioned.clone();
        no_version.snapshot = Some(snapshot(1));
        record.merge(&no_version, &[]);
        assert_eq!(record.snapshot.as_ref().unwrap().total_minor, 20000);
    }

    #[test]
    fn only_paid_uncancelled_not_wholly_refunded_orders_count() {
        let contents = Some((11980, "2026-11-20T02:01:00Z"));
        let placed = record_of(&[&event(
            OrderFacts {
                placed_at: Some(at("2026-11-20T02:00:00Z")),
                ..OrderFacts::default()
            },
            contents,
        )]);
        assert_eq!(placed.status(), OrderStatus::Placed);
        assert!(!placed.desired_contribution().counted);

        let counted = record_of(&[&event(paid(), contents)]).desired_contribution();
        assert!(counted.counted);
        assert_eq!(counted.net_minor, 11980);
        assert_eq!(counted.ordered_at, Some(at("2026-11-20T02:00:00Z")));
        assert_eq!(counted.items.len(), 1, "a zero-quantity line adds nothing");
        assert_eq!(counted.items[0].quantity, 2);

        let mut in_dollars = refund("usd", 5000);
        in_dollars.currency = Currency::parse("USD").unwrap();
        let other_currency = OrderFacts {
            refunds: vec![in_dollars],
            ..paid()
        };
        let record = record_of(&[&event(other_currency, contents)]);
        assert_eq!(
            record.status(),
            OrderStatus::Paid,
            "another currency's refund"
        );

        for (facts, status) in [
            (
                OrderFacts {
                    refunds: vec![refund("all", 11980)],
                    ..paid()
                },
                OrderStatus::Refunded,
            ),
            (
                OrderFacts {
                    fully_refunded: true,
                    ..paid()
                },
                OrderStatus::Refunded,
            ),
            (
                OrderFacts {
                    cancelled_at: Some(at("2026-11-20T05:00:00Z")),
                    ..paid()
                },
                OrderStatus::Cancelled,
            ),
        ] {
            let record = record_of(&[&event(facts, contents)]);
            assert_eq!(record.status(), status);
            assert_eq!(record.desired_contribution(), Contribution::default());
        }
    }

    #[test]
    fn a_change_is_planned_once_and_only_for_a_known_customer() {
        let mut record = record_of(&[&event(paid(), Some((11980, "2026-11-20T02:01:00Z")))]);
        assert!(record.plan().is_none(), "no customer yet");
        record.customer_id = Some(CustomerId::random());
        let intent = record.plan().unwrap();
        assert_eq!(intent.from, Contribution::default());
        assert_eq!(intent.to.net_minor, 11980);
        // Until it is marked applied, the same intent (same id) is planned again.
        assert_eq!(record.plan().unwrap().id, intent.id);
        record.applied = intent.to;
        record.pending = None;
        assert!(record.plan().is_none(), "the customer is up to date");
    }

    #[test]
    fn the_latest_delivery_ids_are_kept() {
        let e = event(paid(), None);
        let mut record = OrderRecord::new(&e, at("2026-11-20T02:00:00Z"));
        for n in 0..40 {
            record.merge(&e, &[format!("w:{n}"), format!("w:{n}")]);
        }
        assert_eq!(record.deliveries.len(), DELIVERIES_KEPT);
        assert_eq!(record.deliveries.last().unwrap(), "w:39");
        assert_eq!(record.deliveries[0], format!("w:{}", 40 - DELIVERIES_KEPT));
    }

    #[test]
    fn an_event_is_taken_in_once_and_its_change_finished_once() {
        let created = event(paid(), Some((11980, "2026-11-20T02:01:00Z")));
        let customer = CustomerId::random();
        let mut record = OrderRecord::new(&created, at("2026-11-20T02:00:00Z"));
        let deliveries = ["d1".to_string()];
        let (changed, intent) = record.take_in(&created, &deliveries, Some(&customer));
        let intent = intent.expect("a paid order changes its customer");
        assert!(changed);
        assert_eq!(record.customer_id.as_ref(), Some(&customer));
        assert_eq!(intent.to.net_minor, 11980);
        assert!(!record.is_settled_duplicate(&deliveries), "still pending");

        // The same event again, under another delivery id: nothing worth a write, and the
        // pending change is planned again, not a second one.
        let (changed, again) = record.take_in(&created, &["d2".to_string()], None);
        assert!(!changed);
        assert_eq!(again.map(|i| i.id), Some(intent.id));

        let effects = record.effects_due();
        assert_eq!(effects, Some(EffectState::Paid));
        assert_eq!(
            record.finish(&intent, effects),
            None,
            "nothing left to plan"
        );
        assert_eq!(record.applied, intent.to);
        assert!(record.is_settled_duplicate(&deliveries));
        // A stale finish (an intent this record no longer holds) changes nothing.
        let before = record.clone();
        record.finish(&intent, effects);
        assert_eq!(record, before);
    }
}
