//! The evaluation that brings one customer's derived tags, RFM group and super-user mark up
//! to date with the shop's rules as of one instant, and the order rules run in (checked on
//! every save, so a cycle between tags is refused). Pure over the customer record: what is
//! written, and what follows, is `flows::customer_changed`'s.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use super::rules::{CustomerFacts, Rule, RuleAction};
use super::{load_config, TaggingConfig};
use crate::customers::Customer;
use crate::domain::{Currency, RuleId};
use crate::error::{Error, ErrorCode};
use crate::rfm::RfmFacts;
use crate::shops::Shop;
use crate::store::Store;
use crate::tags::{TagName, TagSource};

/// Evaluates customers of one shop against its config as of one instant.
pub struct Evaluator {
    config: TaggingConfig,
    /// Indexes into `config.rules`, active rules only, in dependency order.
    order: Vec<usize>,
    zone: jiff::tz::TimeZone,
    currency: Currency,
    now: Timestamp,
}

impl Evaluator {
    pub fn load(store: &dyn Store, shop: &Shop, now: Timestamp) -> Result<Self, Error> {
        Self::new(load_config(store, &shop.id)?, shop, now)
    }

    pub fn new(config: TaggingConfig, shop: &Shop, now: Timestamp) -> Result<Self, Error> {
        Self::in_zone(config, shop.zone(), shop.currency, now)
    }

    /// An evaluator for a shop's zone and currency, as of `now`; refuses rules that read a
    /// tag depending on their own.
    pub fn in_zone(
        config: TaggingConfig,
        zone: jiff::tz::TimeZone,
        currency: Currency,
        now: Timestamp,
    ) -> Result<Self, Error> {
        let order = evaluation_order(&config.rules)?
            .into_iter()
            .filter_map(|r| config.rules.iter().position(|c| c.id == r.id))
            .collect();
        Ok(Self {
            config,
            order,
            zone,
            currency,
            now,
        })
    }

    pub fn config_version(&self) -> u64 {
        self.config.version
    }

    /// Brings the customer's RFM scores, super-user mark and rule tags up to date. Returns
    /// whether anything changed; membership changes are noted for the segment index.
    pub fn evaluate(&self, customer: &mut Customer) -> bool {
        if customer.erased_at.is_some() {
            return false;
        }
        let before_segments = customer.segments();
        let before = (customer.rfm, customer.super_user, customer.tags.clone());
        let today = self.now.to_zoned(self.zone.clone()).date();
        let mut facts = CustomerFacts {
            customer,
            today,
            currency: self.currency,
            rfm: self.config.rfm.score(&RfmFacts {
                days_since_last_order: None,
                orders: 0,
                spend_minor: 0,
            }),
            super_user: false,
            tags: BTreeSet::new(),
            zone: &self.zone,
        };
        let settings = &self.config.rfm;
        let rfm_facts = RfmFacts {
            days_since_last_order: if facts.customer.stats.order_count > 0 {
                facts.days_since(facts.customer.stats.last_order_at)
            } else {
                None
            },
            orders: facts.customer.stats.order_count,
            spend_minor: facts
                .customer
                .stats
                .spend
                .get(&self.currency)
                .copied()
                .unwrap_or(0),
        };
        facts.rfm = settings.score(&rfm_facts);
        facts.super_user = facts.spend_within(self.currency, settings.super_user_days)
            >= settings.super_user_minor;
        let decisions = self.decide(&mut facts);
        let (rfm, super_user) = (facts.rfm, facts.super_user);

        customer.rfm = Some(rfm);
        customer.super_user = super_user;
        self.apply(customer, &decisions);
        let changed =
            (customer.rfm, customer.super_user, &customer.tags) != (before.0, before.1, &before.2);
        customer.note_segment_changes(&before_segments);
        changed
    }

    /// Runs the rules in order over a working view of the tags; returns, per tag written by
    /// a rule, which add rules hold it and whether a remove rule took it off.
    fn decide(&self, facts: &mut CustomerFacts<'_>) -> BTreeMap<TagName, Decision> {
        let rules = &self.config.rules;
        let active_add = |name: &TagName, rule: &RuleId| {
            self.order.iter().any(|i| {
                let r = &rules[*i];
                &r.id == rule && r.action == RuleAction::Add && &r.tag == name
            })
        };
        // Before any rule runs: tags held for a reason other than a live rule.
        facts.tags = facts
            .customer
            .tags
            .sources()
            .filter(|t| match &t.source {
                TagSource::Rule { rule } => active_add(&t.name, rule),
                _ => true,
            })
            .map(|t| t.name.folded().to_string())
            .collect();
        let mut decisions: BTreeMap<TagName, Decision> = BTreeMap::new();
        for i in &self.order {
            let rule = &rules[*i];
            let holds = rule.condition.holds(facts);
            let decision = decisions.entry(rule.tag.clone()).or_default();
            match rule.action {
                RuleAction::Add if holds => {
                    decision.held_by.push(rule.id.clone());
                }
                RuleAction::Add => {}
                RuleAction::Remove if holds => decision.removed_by = Some(rule.id.clone()),
                RuleAction::Remove => {}
            }
            // Every writer of this tag has now run before any reader of it (see the order).
            let held_otherwise = facts
                .customer
                .tags
                .sources()
                .any(|t| t.name == rule.tag && !t.source.is_rule());
            let present =
                decision.removed_by.is_none() && (held_otherwise || !decision.held_by.is_empty());
            let folded = rule.tag.folded().to_string();
            if present {
                facts.tags.insert(folded);
            } else {
                facts.tags.remove(&folded);
            }
        }
        decisions
    }

    fn apply(&self, customer: &mut Customer, decisions: &BTreeMap<TagName, Decision>) {
        let now = self.now;
        // Reasons held for rules that no longer add that tag go first.
        customer.tags.retain_rule_sources(now, |name, rule| {
            decisions
                .get(name)
                .is_some_and(|d| d.removed_by.is_none() && d.held_by.iter().any(|id| id == rule))
        });
        for (name, decision) in decisions {
            if let Some(rule) = &decision.removed_by {
                let by = TagSource::Rule { rule: rule.clone() };
                customer.tags.remove_where(name, now, &by, |_| true);
                continue;
            }
            for rule in &decision.held_by {
                let source = TagSource::Rule { rule: rule.clone() };
                customer.tags.add(name, &source, now);
            }
        }
    }
}

#[derive(Debug, Default)]
struct Decision {
    held_by: Vec<RuleId>,
    removed_by: Option<RuleId>,
}

/// The active rules in the order they must run: a rule that reads a tag runs after every
/// rule that sets or removes it. Fails, naming the tags, when the rules form a cycle.
pub(super) fn evaluation_order(rules: &[Rule]) -> Result<Vec<&Rule>, Error> {
    let active: Vec<&Rule> = rules.iter().filter(|r| r.active).collect();
    let reads: Vec<BTreeSet<String>> = active
        .iter()
        .map(|r| {
            let mut set = BTreeSet::new();
            r.condition.tags_read(&mut set);
            set
        })
        .collect();
    let mut writers: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, rule) in active.iter().enumerate() {
        writers
            .entry(rule.tag.folded().to_string())
            .or_default()
            .push(i);
    }
    // Kahn's algorithm over "rule i must wait for rule j": a reader waits for the writers of
    // what it reads, and a remove rule for the add rules of its tag (removal wins).
    let waits: Vec<BTreeSet<usize>> = reads
        .iter()
        .zip(&active)
        .map(|(tags, rule)| {
            let mut wait: BTreeSet<usize> = tags
                .iter()
                .flat_map(|t| writers.get(t).into_iter().flatten().copied())
                .collect();
            if rule.action == RuleAction::Remove {
                wait.extend(
                    writers
                        .get(rule.tag.folded())
                        .into_iter()
                        .flatten()
                        .copied()
                        .filter(|j| active[*j].action == RuleAction::Add),
                );
            }
            wait
        })
        .collect();
    let mut done = vec![false; active.len()];
    let mut order = Vec::with_capacity(active.len());
    while order.len() < active.len() {
        let ready: Vec<usize> = (0..active.len())
            .filter(|i| !done[*i] && waits[*i].iter().all(|j| done[*j]))
            .collect();
        if ready.is_empty() {
            let stuck: BTreeSet<&str> = (0..active.len())
                .filter(|i| !done[*i])
                .map(|i| active[i].tag.as_str())
                .collect();
            return Err(Error::invalid_as(
                ErrorCode::RuleCycle,
                format!(
                    "these rules depend on each other's tags in a cycle: {}",
                    stuck.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        for i in ready {
            done[i] = true;
            order.push(active[i]);
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CustomerId;
    use crate::error::ErrorCode;
    use crate::tagging::rules::{Rule, RuleInput};
    use serde_json::json;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn rule(tag: &str, action: &str, condition: serde_json::Value) -> Rule {
        let input: RuleInput = serde_json::from_value(json!({
            "tag": tag, "action": action, "condition": condition,
        }))
        .unwrap();
        Rule::create(RuleId::random(), input, at("2026-01-01T00:00:00Z")).unwrap()
    }

    fn evaluator(rules: Vec<Rule>, now: &str) -> Evaluator {
        let config = TaggingConfig {
            version: 1,
            rules,
            ..TaggingConfig::default()
        };
        let zone = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
        Evaluator::in_zone(config, zone, Currency::cny(), at(now)).unwrap()
    }

    /// A customer who spent `spend` (CNY minor units) over `orders` orders, the last on
    /// 2026-11-20.
    fn customer(orders: i64, spend: i64) -> Customer {
        let mut c = Customer::new(CustomerId::random(), at("2026-01-01T00:00:00Z"));
        c.stats.order_count = orders;
        c.stats.spend.insert(Currency::cny(), spend);
        c.stats.last_order_at = Some(at("2026-11-20T04:00:00Z"));
        c
    }

    fn tag_by_hand(c: &mut Customer, name: &str) {
        let by_hand = TagSource::Manual {
            key: "owner".into(),
            by: None,
        };
        let at = at("2026-11-01T00:00:00Z");
        c.add_tags(&[TagName::parse(name).unwrap()], &by_hand, at);
    }

    fn tags(c: &Customer) -> Vec<String> {
        let mut names: Vec<String> = c.tags.names().iter().map(|t| t.to_string()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_rule_tags_who_meets_it_once_and_untags_who_no_longer_does() {
        let vip = rule("VIP", "add", json!({"net_spend": {"gte": 20000}}));
        let ev = evaluator(vec![vip], "2026-11-30T12:00:00Z");
        let mut c = customer(3, 25_000);
        assert!(ev.evaluate(&mut c));
        assert_eq!(tags(&c), ["VIP"]);
        assert!(!ev.evaluate(&mut c), "a second evaluation changes nothing");
        c.stats.spend.insert(Currency::cny(), 15_000);
        assert!(ev.evaluate(&mut c));
        assert!(tags(&c).is_empty());
    }

    #[test]
    fn a_rule_reading_another_rules_tag_runs_after_it() {
        // Listed reader first: the evaluation order, not the list order, decides.
        let loyal = rule("loyal-vip", "add", json!({"tag": "VIP"}));
        let vip = rule("VIP", "add", json!({"order_count": {"gte": 3}}));
        let ev = evaluator(vec![loyal, vip], "2026-11-30T12:00:00Z");
        let mut c = customer(3, 1_000);
        ev.evaluate(&mut c);
        assert_eq!(tags(&c), ["VIP", "loyal-vip"]);
    }

    #[test]
    fn a_remove_rule_wins_over_an_add_rule_and_a_manual_tag() {
        let add = rule("VIP", "add", json!({"order_count": {"gte": 1}}));
        let remove = rule("VIP", "remove", json!({"net_spend": {"lt": 100}}));
        let ev = evaluator(vec![add, remove], "2026-11-30T12:00:00Z");
        let mut c = customer(1, 50);
        tag_by_hand(&mut c, "VIP");
        ev.evaluate(&mut c);
        assert!(tags(&c).is_empty());
    }

    #[test]
    fn a_manual_tag_stays_when_no_rule_holds() {
        let ev = evaluator(
            vec![rule("VIP", "add", json!({"order_count": {"gte": 5}}))],
            "2026-11-30T12:00:00Z",
        );
        let mut c = customer(1, 50);
        tag_by_hand(&mut c, "VIP");
        ev.evaluate(&mut c);
        assert_eq!(tags(&c), ["VIP"]);
    }

    #[test]
    fn recency_is_counted_in_the_shops_days() {
        // The last order was 2026-11-20 12:00 in Shanghai; 10 days later is 2026-11-30 there,
        // while it is still 2026-11-29 in UTC.
        let recent = rule(
            "recent",
            "add",
            json!({"days_since_last_order": {"lte": 9}}),
        );
        let mut c = customer(1, 100);
        evaluator(vec![recent.clone()], "2026-11-29T17:00:00Z").evaluate(&mut c);
        assert!(tags(&c).is_empty(), "day 10 in Shanghai");
        evaluator(vec![recent], "2026-11-29T15:00:00Z").evaluate(&mut c);
        assert_eq!(tags(&c), ["recent"], "day 9 in Shanghai");
    }

    #[test]
    fn erased_customers_are_left_alone_and_cycles_are_refused() {
        let ev = evaluator(
            vec![rule("VIP", "add", json!({"order_count": {"gte": 1}}))],
            "2026-11-30T12:00:00Z",
        );
        let mut c = customer(3, 100);
        c.erased_at = Some(at("2026-11-25T00:00:00Z"));
        assert!(!ev.evaluate(&mut c));
        let a = rule("a", "add", json!({"tag": "b"}));
        let b = rule("b", "add", json!({"tag": "a"}));
        let config = TaggingConfig {
            rules: vec![a, b],
            ..TaggingConfig::default()
        };
        let zone = jiff::tz::TimeZone::UTC;
        let err = Evaluator::in_zone(config, zone, Currency::cny(), at("2026-11-30T12:00:00Z"))
            .err()
            .unwrap();
        assert_eq!(err.code(), ErrorCode::RuleCycle);
    }
}
