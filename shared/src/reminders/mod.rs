//! Repurchase reminders (issue 7, first step): consumption profiles per product and the
//! calendar arithmetic of when to remind. A customer who bought a 30-day supply should hear
//! from the shop a few days before it runs out, at a sensible local hour, and once more
//! after it has run out (the follow-up, which may carry a coupon).
//!
//! Days are counted in the shop's time zone and the send time is a local wall-clock time, so
//! daylight-saving changes move the UTC instant, never the local hour.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::applog;
use crate::customers::ProductRef;
use crate::domain::{CustomerId, ShopId};
use crate::error::Error;
use crate::keys;
use crate::shops::Shop;
use crate::store::{get_json, update_json, Change, Store};

/// Longest supply one unit may last, in days.
pub const MAX_DAYS_PER_UNIT: i64 = 730;
const MAX_REMINDERS: i64 = 5;

/// How long one unit of a product lasts and how to remind about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumptionProfile {
    pub days_per_unit: i64,
    /// Days before running out to send the first reminder.
    #[serde(default = "default_lead_days")]
    pub lead_days: i64,
    /// Reminders before running out (the follow-up comes on top).
    #[serde(default = "default_reminders")]
    pub reminders: i64,
    /// Days between reminders.
    #[serde(default = "default_gap_days")]
    pub reminder_gap_days: i64,
    /// Days after running out for the follow-up; None: no follow-up.
    #[serde(default = "default_follow_up_days")]
    pub follow_up_days: Option<i64>,
    /// A coupon campaign whose coupon the follow-up carries.
    #[serde(default)]
    pub follow_up_campaign: Option<String>,
    /// Local time of day messages are planned for, `HH:MM`.
    #[serde(default = "default_send_time")]
    pub send_time: String,
}

fn default_lead_days() -> i64 {
    5
}

fn default_reminders() -> i64 {
    2
}

fn default_gap_days() -> i64 {
    3
}

fn default_follow_up_days() -> Option<i64> {
    Some(7)
}

fn default_send_time() -> String {
    "10:00".to_string()
}

impl ConsumptionProfile {
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |m: String| Err(Error::invalid(m));
        if !(1..=MAX_DAYS_PER_UNIT).contains(&self.days_per_unit) {
            return invalid(format!("days_per_unit must be 1 to {MAX_DAYS_PER_UNIT}"));
        }
        if !(0..=365).contains(&self.lead_days) {
            return invalid("lead_days must be 0 to 365".into());
        }
        if !(1..=MAX_REMINDERS).contains(&self.reminders) {
            return invalid(format!("reminders must be 1 to {MAX_REMINDERS}"));
        }
        if !(1..=90).contains(&self.reminder_gap_days) {
            return invalid("reminder_gap_days must be 1 to 90".into());
        }
        if self.follow_up_days.is_some_and(|d| !(0..=365).contains(&d)) {
            return invalid("follow_up_days must be 0 to 365".into());
        }
        self.local_send_time()?;
        Ok(())
    }

    fn local_send_time(&self) -> Result<Time, Error> {
        local_time(&self.send_time)
            .map_err(|_| Error::invalid("send_time is a local time HH:MM, e.g. \"10:00\""))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepKind {
    /// The n-th reminder before running out, from 1.
    Reminder {
        n: i64,
    },
    FollowUp,
}

/// One planned message about one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedStep {
    #[serde(flatten)]
    pub kind: StepKind,
    pub at: Timestamp,
}

/// When a customer who paid at `paid_at` for `quantity` units runs out (a local date), and the
/// messages to plan: reminders from `lead_days` before that day, `reminder_gap_days` apart,
/// then the follow-up. Steps are never planned before the day after payment.
pub fn plan(
    profile: &ConsumptionProfile,
    paid_at: Timestamp,
    quantity: i64,
    zone: &TimeZone,
) -> Result<(Date, Vec<PlannedStep>), Error> {
    let send_time = profile.local_send_time()?;
    let paid_day = paid_at.to_zoned(zone.clone()).date();
    let days = |n: i64| Span::new().days(n);
    let supply = profile.days_per_unit.saturating_mul(quantity.max(1));
    let run_out = paid_day
        .checked_add(days(supply.min(MAX_DAYS_PER_UNIT * 100)))
        .map_err(|_| Error::invalid("the supply runs past the calendar"))?;
    let earliest = paid_day.checked_add(days(1)).unwrap_or(paid_day);
    let at = |day: Date| -> Result<Timestamp, Error> {
        // A send time inside a daylight-saving gap moves forward, as clocks do.
        day.to_datetime(send_time)
            .to_zoned(zone.clone())
            .map(|z| z.timestamp())
            .map_err(|_| Error::invalid("send_time cannot be placed on that day"))
    };
    let mut steps = Vec::new();
    for n in 0..profile.reminders {
        let offset = n * profile.reminder_gap_days - profile.lead_days;
        let day = run_out
            .checked_add(days(offset))
            .unwrap_or(run_out)
            .max(earliest);
        if steps
            .last()
            .is_some_and(|s: &PlannedStep| s.at >= at(day).unwrap_or(s.at))
        {
            continue;
        }
        steps.push(PlannedStep {
            kind: StepKind::Reminder { n: n + 1 },
            at: at(day)?,
        });
    }
    if let Some(after) = profile.follow_up_days {
        let day = run_out
            .checked_add(days(after))
            .unwrap_or(run_out)
            .max(earliest);
        let when = at(day)?;
        if steps.last().is_none_or(|s| s.at < when) {
            steps.push(PlannedStep {
                kind: StepKind::FollowUp,
                at: when,
            });
        }
    }
    Ok((run_out, steps))
}

/// Which products a profile is for: a variant, a SKU or a whole product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductProfile {
    #[serde(default)]
    pub product_id: Option<String>,
    #[serde(default)]
    pub variant_id: Option<String>,
    #[serde(default)]
    pub sku: Option<String>,
    pub profile: ConsumptionProfile,
}

/// A shop's reminder settings: profiles, where messages are delivered, and the rules of
/// sending (quiet hours, frequency cap, conversion window, delivery attempts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderSettings {
    /// The profile of products without one of their own.
    #[serde(default)]
    pub default: Option<ConsumptionProfile>,
    #[serde(default)]
    pub products: Vec<ProductProfile>,
    /// Where messages are POSTed (the merchant's WeCom, SMS or own system).
    #[serde(default)]
    pub delivery_url: Option<String>,
    /// No message is sent from `quiet_start` to `quiet_end`, shop time (`HH:MM`).
    #[serde(default = "default_quiet_start")]
    pub quiet_start: String,
    #[serde(default = "default_quiet_end")]
    pub quiet_end: String,
    /// At most one message per customer in this many hours.
    #[serde(default = "default_cap_hours")]
    pub frequency_cap_hours: i64,
    /// A reorder within this many days of a reminder counts as its conversion.
    #[serde(default = "default_conversion_days")]
    pub conversion_days: i64,
    /// Delivery attempts before a message is marked failed.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: i64,
}

fn default_quiet_start() -> String {
    "21:00".into()
}

fn default_quiet_end() -> String {
    "08:00".into()
}

fn default_cap_hours() -> i64 {
    24
}

fn default_conversion_days() -> i64 {
    14
}

fn default_max_attempts() -> i64 {
    5
}

impl Default for ReminderSettings {
    fn default() -> Self {
        Self {
            default: None,
            products: Vec::new(),
            delivery_url: None,
            quiet_start: default_quiet_start(),
            quiet_end: default_quiet_end(),
            frequency_cap_hours: default_cap_hours(),
            conversion_days: default_conversion_days(),
            max_attempts: default_max_attempts(),
        }
    }
}

impl ReminderSettings {
    pub fn validate(&self) -> Result<(), Error> {
        self.validate_profiles()?;
        if let Some(url) = &self.delivery_url {
            let uri: http::Uri = url
                .parse()
                .map_err(|_| Error::invalid("delivery_url is not a URL"))?;
            let ok = matches!(uri.scheme_str(), Some("https") | Some("http"))
                && uri.host().is_some()
                && url.len() <= 2000;
            if !ok {
                return Err(Error::invalid(
                    "delivery_url must be an absolute https URL (http only for a local receiver)",
                ));
            }
        }
        for (field, value) in [
            ("quiet_start", &self.quiet_start),
            ("quiet_end", &self.quiet_end),
        ] {
            local_time(value).map_err(|_| {
                Error::invalid(format!("{field} is a local time HH:MM, e.g. \"21:00\""))
            })?;
        }
        if !(0..=168).contains(&self.frequency_cap_hours) {
            return Err(Error::invalid("frequency_cap_hours must be 0 to 168"));
        }
        if !(1..=90).contains(&self.conversion_days) {
            return Err(Error::invalid("conversion_days must be 1 to 90"));
        }
        if !(1..=20).contains(&self.max_attempts) {
            return Err(Error::invalid("max_attempts must be 1 to 20"));
        }
        Ok(())
    }
}

/// Settings as stored: with the secret that signs deliveries (never shown after it is made).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub(crate) struct StoredSettings {
    pub(crate) settings: ReminderSettings,
    #[serde(default)]
    pub(crate) delivery_secret: Option<String>,
}

/// What the API shows: the settings, and whether a signing secret exists.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SettingsView {
    #[serde(flatten)]
    pub settings: ReminderSettings,
    pub delivery_secret_set: bool,
}

pub fn load_settings(store: &dyn Store, shop: &ShopId) -> Result<SettingsView, Error> {
    let stored: StoredSettings =
        get_json(store, &keys::reminder_settings(shop))?.unwrap_or_default();
    Ok(SettingsView {
        settings: stored.settings,
        delivery_secret_set: stored.delivery_secret.is_some(),
    })
}

/// Replaces the settings (the secret stays).
pub fn save_settings(
    store: &dyn Store,
    shop: &ShopId,
    settings: ReminderSettings,
) -> Result<SettingsView, Error> {
    settings.validate()?;
    let stored = update_json(
        store,
        &keys::reminder_settings(shop),
        |current: Option<StoredSettings>| {
            let mut stored = current.unwrap_or_default();
            stored.settings = settings.clone();
            Ok::<_, Error>(Change::Write(stored.clone(), stored))
        },
    )?;
    Ok(SettingsView {
        settings: stored.settings,
        delivery_secret_set: stored.delivery_secret.is_some(),
    })
}

/// Makes a new secret for signing deliveries and returns it, shown this once.
pub fn rotate_secret(store: &dyn Store, shop: &ShopId) -> Result<String, Error> {
    let secret = crate::domain::ids::new_secret();
    update_json(
        store,
        &keys::reminder_settings(shop),
        |current: Option<StoredSettings>| {
            let mut stored = current.unwrap_or_default();
            stored.delivery_secret = Some(secret.clone());
            Ok::<_, Error>(Change::Write(stored, ()))
        },
    )?;
    Ok(secret)
}

pub(crate) fn local_time(text: &str) -> Result<Time, ()> {
    let (h, m) = text.split_once(':').ok_or(())?;
    let (h, m): (i8, i8) = (h.parse().map_err(|_| ())?, m.parse().map_err(|_| ())?);
    Time::new(h, m, 0, 0).map_err(|_| ())
}

/// Profiles one shop may keep.
pub const MAX_PROFILES: usize = 500;

impl ReminderSettings {
    fn validate_profiles(&self) -> Result<(), Error> {
        if self.products.len() > MAX_PROFILES {
            return Err(Error::invalid(format!(
                "at most {MAX_PROFILES} product profiles"
            )));
        }
        if let Some(default) = &self.default {
            default.validate()?;
        }
        for p in &self.products {
            if p.product_id.is_none() && p.variant_id.is_none() && p.sku.is_none() {
                return Err(Error::invalid(
                    "a product profile names a product_id, variant_id or sku",
                ));
            }
            p.profile.validate()?;
        }
        Ok(())
    }

    /// The profile for a bought item: its variant's, else its SKU's, else its product's,
    /// else the shop default.
    pub fn for_item(&self, item: &ProductRef) -> Option<&ConsumptionProfile> {
        let by = |pick: fn(&ProductProfile) -> &Option<String>, value: &Option<String>| {
            value.as_ref().and_then(|v| {
                self.products
                    .iter()
                    .find(|p| pick(p).as_ref() == Some(v))
                    .map(|p| &p.profile)
            })
        };
        by(|p| &p.variant_id, &item.variant_id)
            .or_else(|| by(|p| &p.sku, &item.sku))
            .or_else(|| by(|p| &p.product_id, &item.product_id))
            .or(self.default.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(days: i64, lead: i64) -> ConsumptionProfile {
        ConsumptionProfile {
            days_per_unit: days,
            lead_days: lead,
            reminders: 2,
            reminder_gap_days: 3,
            follow_up_days: Some(7),
            follow_up_campaign: None,
            send_time: "10:00".into(),
        }
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn zone(name: &str) -> TimeZone {
        crate::domain::time::time_zone(name).unwrap()
    }

    #[test]
    fn a_thirty_day_supply_across_a_month_end_in_a_zone_without_dst() {
        // 23:00 on 31 January in Shanghai (15:00 UTC): the supply is counted from 31 January.
        let (run_out, steps) = plan(
            &profile(30, 5),
            ts("2026-01-31T15:00:00Z"),
            1,
            &zone("Asia/Shanghai"),
        )
        .unwrap();
        assert_eq!(run_out, jiff::civil::date(2026, 3, 2));
        let at: Vec<String> = steps.iter().map(|s| s.at.to_string()).collect();
        // 25 Feb and 28 Feb at 10:00 +08:00, then the follow-up on 9 March.
        assert_eq!(
            at,
            [
                "2026-02-25T02:00:00Z",
                "2026-02-28T02:00:00Z",
                "2026-03-09T02:00:00Z"
            ]
        );
        assert_eq!(steps[2].kind, StepKind::FollowUp);
    }

    #[test]
    fn quantity_multiplies_the_supply() {
        let one = plan(
            &profile(30, 5),
            ts("2026-05-01T02:00:00Z"),
            1,
            &zone("Asia/Shanghai"),
        )
        .unwrap();
        let three = plan(
            &profile(30, 5),
            ts("2026-05-01T02:00:00Z"),
            3,
            &zone("Asia/Shanghai"),
        )
        .unwrap();
        assert_eq!(one.0, jiff::civil::date(2026, 5, 31));
        assert_eq!(three.0, jiff::civil::date(2026, 7, 30));
    }

    #[test]
    fn the_local_hour_holds_across_daylight_saving() {
        // Paid in February (EST, UTC-5); runs out after the March change (EDT, UTC-4).
        let ny = zone("America/New_York");
        let (_, steps) = plan(&profile(30, 5), ts("2026-02-20T17:00:00Z"), 1, &ny).unwrap();
        assert_eq!(steps[0].at.to_string(), "2026-03-17T14:00:00Z", "10:00 EDT");
        let (_, before) = plan(&profile(10, 0), ts("2026-02-20T17:00:00Z"), 1, &ny).unwrap();
        assert_eq!(
            before[0].at.to_string(),
            "2026-03-02T15:00:00Z",
            "10:00 EST"
        );
        // A send time that does not exist on the day clocks spring forward moves forward.
        let mut early = profile(16, 0);
        early.send_time = "02:30".into();
        let (_, gap) = plan(&early, ts("2026-02-20T17:00:00Z"), 1, &ny).unwrap();
        assert_eq!(gap[0].at.to_string(), "2026-03-08T07:30:00Z", "03:30 EDT");
    }

    #[test]
    fn nothing_is_planned_before_the_day_after_payment() {
        let (_, steps) = plan(
            &profile(2, 5),
            ts("2026-05-01T02:00:00Z"),
            1,
            &zone("Asia/Shanghai"),
        )
        .unwrap();
        assert_eq!(steps[0].at.to_string(), "2026-05-02T02:00:00Z");
        assert!(steps.windows(2).all(|w| w[0].at < w[1].at));
    }

    #[test]
    fn profiles_match_variant_then_sku_then_product_then_default() {
        let profiles = ReminderSettings {
            default: Some(profile(60, 5)),
            products: vec![
                ProductProfile {
                    product_id: Some("7001".into()),
                    variant_id: None,
                    sku: None,
                    profile: profile(30, 5),
                },
                ProductProfile {
                    product_id: None,
                    variant_id: None,
                    sku: Some("TEA-500G".into()),
                    profile: profile(45, 5),
                },
                ProductProfile {
                    product_id: None,
                    variant_id: Some("8009".into()),
                    sku: None,
                    profile: profile(90, 5),
                },
            ],
            ..ReminderSettings::default()
        };
        let item = |p: &str, v: &str, s: &str| ProductRef {
            product_id: Some(p.into()),
            variant_id: Some(v.into()),
            sku: Some(s.into()),
        };
        let days = |i: &ProductRef| profiles.for_item(i).unwrap().days_per_unit;
        assert_eq!(days(&item("7001", "8009", "TEA-500G")), 90);
        assert_eq!(days(&item("7001", "8001", "TEA-500G")), 45);
        assert_eq!(days(&item("7001", "8001", "TEA-250G")), 30);
        assert_eq!(days(&item("7002", "8002", "CUP")), 60);
        let mut bad = profile(30, 5);
        bad.send_time = "25:00".into();
        assert!(bad.validate().is_err());
    }
}

// ------------------------------------------------------------------ schedules

mod dispatch;
pub use dispatch::{
    dispatch, dispatch_all, stats, Delivery, DispatchReport, FollowUpCoupons, MessageCoupon,
    ReminderStats,
};

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
    let shop = &order.shop.id;
    for item in order.items {
        let product = ProductRef {
            product_id: item.product_id.clone(),
            variant_id: item.variant_id.clone(),
            sku: item.sku.clone(),
        };
        let Some(profile) = settings.for_item(&product) else {
            continue;
        };
        let pkey = product_key(&product);
        let key = keys::reminder_schedule(shop, order.customer, &pkey);
        let current: Option<ReminderSchedule> = get_json(store, &key)?;
        match &current {
            Some(s) if s.order == order.order => continue,
            Some(s) if s.paid_at > order.paid_at => continue,
            None => {
                // Listed before it exists (a listed key without a schedule is skipped).
                applog::append(
                    store,
                    shop,
                    &keys::lists::customer_reminders(order.customer),
                    &pkey,
                )?;
            }
            _ => {}
        }
        let (run_out, planned) = plan(profile, order.paid_at, item.quantity, &order.shop.zone())?;
        let version = crate::domain::ids::random_u64();
        for (step, p) in planned.iter().enumerate() {
            queue(
                store,
                shop,
                p.at,
                now,
                &QueuedStep {
                    customer: order.customer.clone(),
                    product: pkey.clone(),
                    version,
                    step,
                },
            )?;
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
                Some(s) if s.order == fresh.order || s.paid_at > fresh.paid_at => {
                    Change::Keep(None)
                }
                other => Change::Write(fresh.clone(), Some(other)),
            })
        })?;
        let Some(previous) = replaced else {
            continue;
        };
        register_product(store, shop, &pkey, &product, item.title.as_deref())?;
        dispatch::count(store, shop, &pkey, "scheduled", 1)?;
        // A reorder soon after a reminder went out is that reminder's conversion.
        let window = SignedDuration::from_hours(settings.conversion_days * 24);
        let converted = previous.is_some_and(|p| {
            p.steps.iter().any(|s| match s.state {
                StepState::Sent { sent_at } => {
                    sent_at <= order.paid_at && order.paid_at - window <= sent_at
                }
                _ => false,
            })
        });
        if converted {
            dispatch::count(store, shop, &pkey, "converted", 1)?;
            let revenue = item.unit_price_minor.saturating_mul(item.quantity);
            dispatch::count(store, shop, &pkey, "revenue", revenue)?;
        }
    }
    Ok(())
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
    crate::store::put_json(store, &keys::reminder_queue_slot(shop, hour, slot), entry)?;
    Ok(())
}

/// The shop's settings with the profiles (no secret), for planning.
pub fn settings(store: &dyn Store, shop: &ShopId) -> Result<ReminderSettings, Error> {
    Ok(
        get_json::<StoredSettings>(store, &keys::reminder_settings(shop))?
            .map(|s| s.settings)
            .unwrap_or_default(),
    )
}

impl ReminderSettings {
    /// Whether any product would be reminded about.
    pub fn has_profiles(&self) -> bool {
        self.default.is_some() || !self.products.is_empty()
    }
}

// ------------------------------------------------------------------ unsubscribe

/// The token of a customer's unsubscribe link: shop, customer and a keyed MAC, so a link
/// works without a login and cannot be made for someone else.
pub fn unsubscribe_token(pepper: &[u8], shop: &ShopId, customer: &CustomerId) -> String {
    format!(
        "{shop}.{customer}.{}",
        unsubscribe_mac(pepper, shop, customer)
    )
}

fn unsubscribe_mac(pepper: &[u8], shop: &ShopId, customer: &CustomerId) -> String {
    let mac = crate::crypto::hmac_sha256(
        pepper,
        &[
            b"unsubscribe:",
            shop.as_str().as_bytes(),
            b":",
            customer.as_str().as_bytes(),
        ],
    );
    hex::encode(&mac[..16])
}

/// The shop and customer a token names, if its MAC is right.
pub fn parse_unsubscribe_token(pepper: &[u8], token: &str) -> Option<(ShopId, CustomerId)> {
    let mut parts = token.split('.');
    let (shop, customer, mac) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (shop, customer) = (ShopId::parse(shop)?, CustomerId::parse(customer)?);
    let expected = unsubscribe_mac(pepper, &shop, &customer);
    let same: bool = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), mac.as_bytes()).into();
    same.then_some((shop, customer))
}
