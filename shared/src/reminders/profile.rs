//! Consumption profiles and the calendar arithmetic of when to remind: days are counted in
//! the shop's time zone and the send time is a local wall-clock time, so daylight-saving
//! changes move the UTC instant, never the local hour. Pure.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::settings::local_time;
use crate::error::Error;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customers::ProductRef;
    use crate::reminders::{ProductProfile, ReminderSettings};

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
