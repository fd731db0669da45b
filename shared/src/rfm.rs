//! RFM: recency, frequency and monetary scores from 1 to 5 against shop-tunable thresholds,
//! mapped to Shopify's named groups, and the "super user" mark (spend over a year).
//!
//! Scores use fixed thresholds rather than quintiles: a quintile needs every customer of the
//! shop, a threshold needs only the one customer at hand, so groups stay current per event.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::MinorUnits;
use crate::error::Error;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RfmGroup {
    Champions,
    Loyal,
    Active,
    New,
    Promising,
    NeedsAttention,
    AlmostLost,
    AtRisk,
    Dormant,
    PreviouslyLoyal,
    Prospects,
}

impl RfmGroup {
    pub const ALL: [RfmGroup; 11] = [
        RfmGroup::Champions,
        RfmGroup::Loyal,
        RfmGroup::Active,
        RfmGroup::New,
        RfmGroup::Promising,
        RfmGroup::NeedsAttention,
        RfmGroup::AlmostLost,
        RfmGroup::AtRisk,
        RfmGroup::Dormant,
        RfmGroup::PreviouslyLoyal,
        RfmGroup::Prospects,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RfmGroup::Champions => "champions",
            RfmGroup::Loyal => "loyal",
            RfmGroup::Active => "active",
            RfmGroup::New => "new",
            RfmGroup::Promising => "promising",
            RfmGroup::NeedsAttention => "needs_attention",
            RfmGroup::AlmostLost => "almost_lost",
            RfmGroup::AtRisk => "at_risk",
            RfmGroup::Dormant => "dormant",
            RfmGroup::PreviouslyLoyal => "previously_loyal",
            RfmGroup::Prospects => "prospects",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == text)
    }

    /// The group for a recency score and the rounded-up mean of frequency and monetary.
    fn from_scores(r: u8, fm: u8) -> Self {
        use RfmGroup::*;
        match (r, fm) {
            (5, 4..) => Champions,
            (5, 3) | (4, 3) => Active,
            (5, _) => New,
            (4 | 3, 4..) => Loyal,
            (4, _) => Promising,
            (3, 2 | 3) => NeedsAttention,
            (3, _) => Promising,
            (_, 5) => PreviouslyLoyal,
            (_, 3 | 4) => AtRisk,
            (2, _) => AlmostLost,
            _ => Dormant,
        }
    }
}

/// A shop's thresholds. Each list holds four bounds, for scores 5, 4, 3, 2 (recency: most
/// days since the last order) or 2, 3, 4, 5 (frequency, monetary: at least this much).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RfmSettings {
    pub recency_days: [i64; 4],
    pub frequency_orders: [i64; 4],
    /// Net lifetime spend in the shop's currency, minor units.
    pub monetary_minor: [i64; 4],
    /// Spend in the last `super_user_days` that makes a super user, shop currency minor units.
    pub super_user_minor: MinorUnits,
    pub super_user_days: i64,
}

impl Default for RfmSettings {
    fn default() -> Self {
        Self {
            recency_days: [30, 90, 180, 365],
            frequency_orders: [2, 3, 5, 8],
            monetary_minor: [20_000, 50_000, 100_000, 300_000],
            super_user_minor: 500_000,
            super_user_days: 365,
        }
    }
}

impl RfmSettings {
    pub fn validate(&self) -> Result<(), Error> {
        let rising = |field: &str, bounds: &[i64; 4]| {
            if bounds[0] < 0 || bounds.windows(2).any(|w| w[0] >= w[1]) {
                Err(Error::invalid(format!(
                    "{field} must be four non-negative, strictly rising numbers"
                )))
            } else {
                Ok(())
            }
        };
        rising("recency_days", &self.recency_days)?;
        rising("frequency_orders", &self.frequency_orders)?;
        rising("monetary_minor", &self.monetary_minor)?;
        if self.super_user_minor <= 0 || !(1..=730).contains(&self.super_user_days) {
            return Err(Error::invalid(
                "super_user_minor must be positive and super_user_days 1 to 730",
            ));
        }
        Ok(())
    }

    /// Scores for a customer with orders; `None` for a prospect.
    pub fn score(&self, facts: &RfmFacts) -> RfmScore {
        let Some(days) = facts.days_since_last_order else {
            return RfmScore {
                recency: None,
                frequency: None,
                monetary: None,
                group: RfmGroup::Prospects,
            };
        };
        let recency = 5 - self.recency_days.iter().filter(|b| days > **b).count() as u8;
        let at_least = |bounds: &[i64; 4], value: i64| {
            1 + bounds.iter().filter(|b| value >= **b).count() as u8
        };
        let frequency = at_least(&self.frequency_orders, facts.orders);
        let monetary = at_least(&self.monetary_minor, facts.spend_minor);
        let fm = (frequency + monetary).div_ceil(2);
        RfmScore {
            recency: Some(recency),
            frequency: Some(frequency),
            monetary: Some(monetary),
            group: RfmGroup::from_scores(recency, fm),
        }
    }
}

/// What RFM needs to know about a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RfmFacts {
    pub days_since_last_order: Option<i64>,
    pub orders: i64,
    pub spend_minor: MinorUnits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RfmScore {
    pub recency: Option<u8>,
    pub frequency: Option<u8>,
    pub monetary: Option<u8>,
    pub group: RfmGroup,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(days: i64, orders: i64, spend: i64) -> RfmGroup {
        RfmSettings::default()
            .score(&RfmFacts {
                days_since_last_order: Some(days),
                orders,
                spend_minor: spend,
            })
            .group
    }

    #[test]
    fn every_group_is_reachable_with_the_defaults() {
        use RfmGroup::*;
        assert_eq!(group(3, 10, 400_000), Champions);
        assert_eq!(group(60, 8, 400_000), Loyal);
        assert_eq!(group(10, 3, 60_000), Active);
        assert_eq!(group(2, 1, 5_000), New);
        assert_eq!(group(60, 1, 5_000), Promising);
        assert_eq!(group(120, 3, 60_000), NeedsAttention);
        assert_eq!(group(300, 1, 5_000), AlmostLost);
        assert_eq!(group(300, 5, 100_000), AtRisk);
        assert_eq!(group(500, 1, 5_000), Dormant);
        assert_eq!(group(500, 9, 400_000), PreviouslyLoyal);
        let none = RfmFacts {
            days_since_last_order: None,
            orders: 0,
            spend_minor: 0,
        };
        assert_eq!(RfmSettings::default().score(&none).group, Prospects);
    }

    #[test]
    fn thresholds_must_rise() {
        let settings = RfmSettings {
            recency_days: [30, 30, 60, 90],
            ..RfmSettings::default()
        };
        assert!(settings.validate().is_err());
        assert!(RfmSettings::default().validate().is_ok());
    }
}
