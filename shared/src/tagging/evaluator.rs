//! The evaluation that brings one customer's derived tags, RFM group and super-user mark up
//! to date with the shop's rules as of one instant. Pure over the customer record: what
//! is written, and what follows, is `flows::customer_changed`'s.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use super::rules::{self, CustomerFacts, RuleAction};
use super::{load_config, TaggingConfig};
use crate::customers::Customer;
use crate::domain::Currency;
use crate::error::Error;
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
        let order = rules::evaluation_order(&config.rules)?
            .into_iter()
            .filter_map(|r| config.rules.iter().position(|c| c.id == r.id))
            .collect();
        Ok(Self {
            config,
            order,
            zone: shop.zone(),
            currency: shop.currency,
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
        let active_add = |name: &TagName, rule: &str| {
            self.order.iter().any(|i| {
                let r = &rules[*i];
                r.id == rule && r.action == RuleAction::Add && &r.tag == name
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
    held_by: Vec<String>,
    removed_by: Option<String>,
}
