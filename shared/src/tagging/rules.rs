//! Tagging rules: a tag, an action and a condition tree over what Siyu knows about a
//! customer. Rules are checked on save (field types, ranges, cycles between tags) and
//! evaluated one customer at a time, so the cost of an event is that customer's rules only.

use schemars::JsonSchema;
use std::collections::BTreeSet;

use jiff::civil::Date;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::customers::{birthday_month, valid_attribute_key};
use crate::customers::{Customer, ProductRef};
use crate::domain::ChannelKind;
use crate::domain::{Currency, RuleId};
use crate::error::Error;
use crate::rfm::{RfmGroup, RfmScore};
use crate::tags::TagName;

/// Rules one shop may keep.
pub const MAX_RULES: usize = 100;
/// Longest look-back window, in days: per-day order history is kept this long.
pub use crate::customers::ACTIVITY_DAYS as MAX_WINDOW_DAYS;
const MAX_DEPTH: usize = 8;
const MAX_LEAVES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// The tag is held while the condition is true.
    Add,
    /// While the condition is true the tag is taken off, whoever put it there.
    Remove,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Rule {
    pub id: RuleId,
    pub name: String,
    pub tag: TagName,
    pub action: RuleAction,
    pub condition: Condition,
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A condition tree. Each node is an object with exactly one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    /// Paid, not cancelled, not wholly refunded orders; optionally only the last N days.
    OrderCount(Measure),
    /// Net of refunds, minor units, in `currency` (default: the shop's).
    NetSpend(Measure),
    /// Calendar days in the shop's zone; false for a customer without orders.
    DaysSinceLastOrder(Measure),
    DaysSinceFirstOrder(Measure),
    Bought(ProductMatch),
    /// The channel that first captured the customer.
    Channel(String),
    ChannelKind(ChannelKind),
    Consent(ConsentState),
    Gender(String),
    BirthdayMonth(MonthSpec),
    City(String),
    Attribute(AttributeMatch),
    RfmGroup(RfmGroup),
    Tag(TagName),
    SuperUser(bool),
}

/// Comparisons on a number; every one given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eq: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_days: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    Granted,
    Withdrawn,
    Unknown,
}

/// A month 1–12, or "current": the month it is now in the shop's zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum MonthSpec {
    Month(i64),
    Named(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeMatch {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eq: Option<String>,
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
}

impl Measure {
    fn holds(&self, value: i64) -> bool {
        self.gte.is_none_or(|b| value >= b)
            && self.gt.is_none_or(|b| value > b)
            && self.lte.is_none_or(|b| value <= b)
            && self.lt.is_none_or(|b| value < b)
            && self.eq.is_none_or(|b| value == b)
    }

    fn validate(&self, field: &str, window: bool, currency: bool) -> Result<(), String> {
        let bounds = [self.gte, self.gt, self.lte, self.lt, self.eq];
        if bounds.iter().all(Option::is_none) {
            return Err(format!(
                "{field} needs at least one of gte, gt, lte, lt, eq"
            ));
        }
        if bounds.iter().flatten().any(|b| *b < 0) {
            return Err(format!("{field}: bounds cannot be negative"));
        }
        match self.within_days {
            Some(_) if !window => return Err(format!("{field} does not take within_days")),
            Some(d) if !(1..=MAX_WINDOW_DAYS).contains(&d) => {
                return Err(format!(
                    "{field}: within_days must be 1 to {MAX_WINDOW_DAYS}"
                ))
            }
            _ => {}
        }
        if self.currency.is_some() && !currency {
            return Err(format!("{field} does not take a currency"));
        }
        Ok(())
    }
}

impl Condition {
    /// Checks types and ranges beyond what parsing did; the error names the problem.
    pub fn validate(&self) -> Result<(), String> {
        let mut leaves = 0;
        self.validate_at(1, &mut leaves)?;
        if leaves > MAX_LEAVES {
            return Err(format!("a condition may test at most {MAX_LEAVES} things"));
        }
        Ok(())
    }

    fn validate_at(&self, depth: usize, leaves: &mut usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("conditions nest at most {MAX_DEPTH} deep"));
        }
        match self {
            Condition::All(parts) | Condition::Any(parts) => {
                if parts.is_empty() {
                    return Err("all / any need at least one condition".into());
                }
                parts
                    .iter()
                    .try_for_each(|p| p.validate_at(depth + 1, leaves))
            }
            Condition::Not(inner) => inner.validate_at(depth + 1, leaves),
            leaf => {
                *leaves += 1;
                leaf.validate_leaf()
            }
        }
    }

    fn validate_leaf(&self) -> Result<(), String> {
        let text = |field: &str, value: &str| {
            if value.trim().is_empty() || value.chars().count() > 255 {
                Err(format!("{field} must be 1 to 255 characters"))
            } else {
                Ok(())
            }
        };
        match self {
            Condition::OrderCount(m) => m.validate("order_count", true, false),
            Condition::NetSpend(m) => m.validate("net_spend", true, true),
            Condition::DaysSinceLastOrder(m) => m.validate("days_since_last_order", false, false),
            Condition::DaysSinceFirstOrder(m) => m.validate("days_since_first_order", false, false),
            Condition::Bought(p) => {
                if p.product_id.is_none() && p.variant_id.is_none() && p.sku.is_none() {
                    return Err("bought needs product_id, variant_id or sku".into());
                }
                match p.within_days {
                    Some(d) if !(1..=MAX_WINDOW_DAYS).contains(&d) => Err(format!(
                        "bought: within_days must be 1 to {MAX_WINDOW_DAYS}"
                    )),
                    _ => Ok(()),
                }
            }
            Condition::Channel(c) => text("channel", c),
            Condition::Gender(g) => text("gender", g),
            Condition::City(c) => text("city", c),
            Condition::BirthdayMonth(MonthSpec::Month(m)) if (1..=12).contains(m) => Ok(()),
            Condition::BirthdayMonth(MonthSpec::Named(n)) if n == "current" => Ok(()),
            Condition::BirthdayMonth(_) => {
                Err("birthday_month is a month 1 to 12 or \"current\"".into())
            }
            Condition::Attribute(a) => {
                if !valid_attribute_key(&a.key) {
                    return Err("attribute key is 1 to 64 lower-case letters, digits or _".into());
                }
                let given = [a.eq.is_some(), a.one_of.is_some(), a.exists.is_some()];
                if given.iter().filter(|g| **g).count() != 1 {
                    return Err("attribute takes exactly one of eq, in, exists".into());
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Tags this condition reads (for ordering rules and finding cycles).
    pub(super) fn tags_read(&self, out: &mut BTreeSet<String>) {
        match self {
            Condition::All(parts) | Condition::Any(parts) => {
                parts.iter().for_each(|p| p.tags_read(out))
            }
            Condition::Not(inner) => inner.tags_read(out),
            Condition::Tag(name) => {
                out.insert(name.folded().to_string());
            }
            _ => {}
        }
    }

    /// Whether the condition is true for the customer the facts describe.
    pub fn holds(&self, facts: &CustomerFacts<'_>) -> bool {
        let c = facts.customer;
        match self {
            Condition::All(parts) => parts.iter().all(|p| p.holds(facts)),
            Condition::Any(parts) => parts.iter().any(|p| p.holds(facts)),
            Condition::Not(inner) => !inner.holds(facts),
            Condition::OrderCount(m) => match m.within_days {
                None => m.holds(c.stats.order_count),
                Some(days) => m.holds(facts.orders_within(days)),
            },
            Condition::NetSpend(m) => {
                let currency = m.currency.unwrap_or(facts.currency);
                match m.within_days {
                    None => m.holds(c.stats.spend.get(&currency).copied().unwrap_or(0)),
                    Some(days) => m.holds(facts.spend_within(currency, days)),
                }
            }
            Condition::DaysSinceLastOrder(m) => facts
                .days_since(c.stats.last_order_at)
                .is_some_and(|d| m.holds(d)),
            Condition::DaysSinceFirstOrder(m) => facts
                .days_since(c.stats.first_order_at)
                .is_some_and(|d| m.holds(d)),
            Condition::Bought(p) => c.products.iter().any(|bought| {
                matches(&p.product_id, &bought.product, |r| &r.product_id)
                    && matches(&p.variant_id, &bought.product, |r| &r.variant_id)
                    && matches(&p.sku, &bought.product, |r| &r.sku)
                    && p.within_days.is_none_or(|days| {
                        facts
                            .days_since(bought.last_purchased_at)
                            .is_some_and(|d| d < days)
                    })
            }),
            Condition::Channel(id) => c
                .first_capture
                .as_ref()
                .is_some_and(|k| k.channel.as_str() == id),
            Condition::ChannelKind(kind) => c
                .first_capture
                .as_ref()
                .is_some_and(|k| k.kind == Some(*kind)),
            Condition::Consent(state) => {
                let actual = match c.consent.marketing {
                    Some(true) => ConsentState::Granted,
                    Some(false) => ConsentState::Withdrawn,
                    None => ConsentState::Unknown,
                };
                actual == *state
            }
            Condition::Gender(g) => same_text(c.attributes.get("gender"), g),
            Condition::City(city) => same_text(c.attributes.get("city"), city),
            Condition::BirthdayMonth(spec) => {
                let month = c.attributes.get("birthday").and_then(|b| birthday_month(b));
                let wanted = match spec {
                    MonthSpec::Month(m) => *m,
                    MonthSpec::Named(_) => i64::from(facts.today.month()),
                };
                month == Some(wanted)
            }
            Condition::Attribute(a) => {
                let value = c.attributes.get(&a.key);
                if let Some(exists) = a.exists {
                    value.is_some() == exists
                } else if let Some(eq) = &a.eq {
                    same_text(value, eq)
                } else {
                    a.one_of
                        .iter()
                        .flatten()
                        .any(|candidate| same_text(value, candidate))
                }
            }
            Condition::RfmGroup(group) => facts.rfm.group == *group,
            Condition::Tag(name) => facts.tags.contains(name.folded()),
            Condition::SuperUser(wanted) => facts.super_user == *wanted,
        }
    }
}

fn matches(
    wanted: &Option<String>,
    product: &ProductRef,
    field: impl Fn(&ProductRef) -> &Option<String>,
) -> bool {
    wanted
        .as_ref()
        .is_none_or(|w| field(product).as_ref() == Some(w))
}

fn same_text(value: Option<&String>, wanted: &str) -> bool {
    value.is_some_and(|v| v.trim().to_lowercase() == wanted.trim().to_lowercase())
}

/// What the conditions of one customer's evaluation read, computed once.
pub struct CustomerFacts<'a> {
    pub customer: &'a Customer,
    pub today: Date,
    pub currency: Currency,
    pub rfm: RfmScore,
    pub super_user: bool,
    /// The customer's tags (folded), as earlier rules of this evaluation left them.
    pub tags: BTreeSet<String>,
    pub zone: &'a jiff::tz::TimeZone,
}

impl CustomerFacts<'_> {
    pub fn days_since(&self, at: Option<Timestamp>) -> Option<i64> {
        let day = at?.to_zoned(self.zone.clone()).date();
        Some(i64::from((self.today - day).get_days()).max(0))
    }

    fn window_start(&self, days: i64) -> Date {
        self.today
            .checked_sub(jiff::Span::new().days(days - 1))
            .unwrap_or(Date::MIN)
    }

    pub fn orders_within(&self, days: i64) -> i64 {
        let from = self.window_start(days);
        self.customer
            .activity_since(from)
            .map(|(_, day)| day.orders)
            .sum()
    }

    pub fn spend_within(&self, currency: Currency, days: i64) -> i64 {
        let from = self.window_start(days);
        self.customer
            .activity_since(from)
            .filter_map(|(_, day)| day.spend.get(&currency))
            .sum()
    }
}

/// `POST /api/rules` body; `PATCH` takes the same fields, all optional.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tag: Option<TagName>,
    #[serde(default)]
    pub action: Option<RuleAction>,
    #[serde(default)]
    pub condition: Option<Condition>,
    #[serde(default)]
    pub active: Option<bool>,
}

impl Rule {
    pub fn create(id: RuleId, input: RuleInput, now: Timestamp) -> Result<Self, Error> {
        let (Some(tag), Some(condition)) = (input.tag, input.condition) else {
            return Err(Error::invalid("a rule needs a tag and a condition"));
        };
        let rule = Rule {
            id,
            name: input.name.unwrap_or_else(|| tag.to_string()),
            tag,
            action: input.action.unwrap_or(RuleAction::Add),
            condition,
            active: input.active.unwrap_or(true),
            created_at: now,
            updated_at: now,
        };
        rule.validate()?;
        Ok(rule)
    }

    pub fn patch(&mut self, input: RuleInput, now: Timestamp) -> Result<(), Error> {
        if let Some(name) = input.name {
            self.name = name;
        }
        if let Some(tag) = input.tag {
            self.tag = tag;
        }
        if let Some(action) = input.action {
            self.action = action;
        }
        if let Some(condition) = input.condition {
            self.condition = condition;
        }
        if let Some(active) = input.active {
            self.active = active;
        }
        self.updated_at = now;
        self.validate()
    }

    fn validate(&self) -> Result<(), Error> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(Error::invalid("name must be 1 to 200 characters"));
        }
        self.condition
            .validate()
            .map_err(|e| Error::invalid(format!("condition: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customers::ProductPurchase;
    use crate::domain::CustomerId;
    use serde_json::json;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// A customer of 3 orders, 250.00 CNY, last order 10 days before "today", who bought
    /// oolong 40 days before, with attributes and consent.
    fn customer() -> Customer {
        let mut c = Customer::new(CustomerId::random(), at("2026-01-01T00:00:00Z"));
        c.stats.order_count = 3;
        c.stats.spend.insert(Currency::cny(), 25000);
        c.stats.first_order_at = Some(at("2026-06-01T04:00:00Z"));
        c.stats.last_order_at = Some(at("2026-11-20T04:00:00Z"));
        c.consent.marketing = Some(true);
        c.attributes.insert("gender".into(), "female".into());
        c.attributes.insert("city".into(), "Hangzhou".into());
        c.attributes.insert("birthday".into(), "1990-12-05".into());
        c.products.push(ProductPurchase {
            product: ProductRef {
                product_id: Some("7001".into()),
                variant_id: None,
                sku: Some("TEA-250G".into()),
            },
            title: Some("Oolong".into()),
            quantity: 2,
            last_purchased_at: Some(at("2026-10-21T04:00:00Z")),
        });
        c
    }

    fn holds(condition: serde_json::Value) -> bool {
        let condition: Condition = serde_json::from_value(condition.clone())
            .unwrap_or_else(|e| panic!("{condition}: {e}"));
        condition.validate().unwrap();
        let customer = customer();
        let zone = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
        let facts = CustomerFacts {
            customer: &customer,
            today: Date::new(2026, 11, 30).unwrap(),
            currency: Currency::cny(),
            rfm: RfmScore {
                recency: Some(5),
                frequency: Some(3),
                monetary: Some(2),
                group: RfmGroup::parse("loyal").unwrap(),
            },
            super_user: false,
            tags: ["vip".to_string()].into_iter().collect(),
            zone: &zone,
        };
        condition.holds(&facts)
    }

    #[test]
    fn measures_compare_every_bound_given() {
        assert!(holds(json!({"order_count": {"gte": 3}})));
        assert!(!holds(json!({"order_count": {"gt": 3}})));
        assert!(holds(json!({"order_count": {"gte": 2, "lt": 4}})));
        assert!(holds(json!({"net_spend": {"eq": 25000}})));
        assert!(!holds(json!({"net_spend": {"gte": 1, "currency": "USD"}})));
        assert!(holds(json!({"days_since_last_order": {"eq": 10}})));
        assert!(holds(json!({"days_since_first_order": {"gte": 180}})));
    }

    #[test]
    fn products_people_and_segments_are_matched() {
        assert!(holds(json!({"bought": {"sku": "TEA-250G"}})));
        assert!(holds(
            json!({"bought": {"product_id": "7001", "within_days": 60}})
        ));
        assert!(!holds(
            json!({"bought": {"product_id": "7001", "within_days": 30}})
        ));
        assert!(!holds(json!({"bought": {"sku": "CUP-SET"}})));
        assert!(holds(json!({"consent": "granted"})));
        assert!(holds(json!({"gender": "FEMALE"})), "case-insensitive");
        assert!(holds(json!({"city": "hangzhou"})));
        assert!(holds(json!({"birthday_month": 12})));
        assert!(
            !holds(json!({"birthday_month": "current"})),
            "today is 30 November"
        );
        assert!(holds(json!({"attribute": {"key": "city", "exists": true}})));
        assert!(!holds(
            json!({"attribute": {"key": "vip_level", "exists": true}})
        ));
        assert!(holds(json!({"rfm_group": "loyal"})));
        assert!(holds(json!({"tag": "VIP"})));
        assert!(holds(json!({"super_user": false})));
        assert!(!holds(json!({"channel": "ch_anything"})));
    }

    #[test]
    fn all_any_and_not_combine() {
        let big = json!({"net_spend": {"gte": 20000}});
        let many = json!({"order_count": {"gte": 5}});
        assert!(!holds(json!({"all": [big, many]})));
        assert!(holds(json!({"any": [big, many]})));
        assert!(holds(json!({"not": many})));
        assert!(holds(
            json!({"all": [{"any": [many, {"tag": "vip"}]}, {"not": {"consent": "withdrawn"}}]})
        ));
    }
}
