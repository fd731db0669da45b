//! Tag assignment: a shop's rules and RFM settings, the evaluation that brings one customer's
//! derived tags, RFM group and super-user mark up to date whenever something about them
//! changes, and the scheduled pass that does the same for every customer in bounded,
//! resumable batches (time-dependent conditions change without any event, and a changed rule
//! must reach existing customers).

pub mod export;
pub mod rules;
pub mod segments;

use schemars::JsonSchema;
use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::applog;
use crate::customers::{self, AttributePatch, Customer};
use crate::domain::ids::{random_id, random_u64};
use crate::domain::{Currency, CustomerId, ShopId};
use crate::error::{Error, ErrorCode};
use crate::keys;
use crate::rfm::{RfmFacts, RfmSettings};
use crate::shops::Shop;
use crate::store::{get_json, update_json, Change, Store};
use crate::tags::{TagName, TagSource};
use rules::{CustomerFacts, Rule, RuleAction, RuleInput};

/// A shop's rules and RFM settings, one record read once per customer change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaggingConfig {
    /// Bumped by every change: a pass started under an older version starts over.
    pub version: u64,
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub rfm: RfmSettings,
}

pub fn load_config(store: &dyn Store, shop: &ShopId) -> Result<TaggingConfig, Error> {
    Ok(get_json(store, &keys::tagging_config(shop))?.unwrap_or_default())
}

/// Applies a change to the shop's config; the change sees the current config and fails
/// without writing anything if the result would be invalid.
fn change_config<R>(
    store: &dyn Store,
    shop: &ShopId,
    mut change: impl FnMut(&mut TaggingConfig) -> Result<R, Error>,
) -> Result<R, Error> {
    update_json(
        store,
        &keys::tagging_config(shop),
        |current: Option<TaggingConfig>| {
            let mut config = current.unwrap_or_default();
            let result = change(&mut config)?;
            rules::evaluation_order(&config.rules)?;
            config.version += 1;
            Ok(Change::Write(config, result))
        },
    )
}

pub fn create_rule(
    store: &dyn Store,
    shop: &ShopId,
    input: RuleInput,
    now: Timestamp,
) -> Result<Rule, Error> {
    let rule = Rule::create(format!("rul_{}", random_id(12)), input, now)?;
    change_config(store, shop, |config| {
        if config.rules.len() >= rules::MAX_RULES {
            return Err(Error::invalid(format!(
                "a shop has at most {} rules",
                rules::MAX_RULES
            )));
        }
        config.rules.push(rule.clone());
        Ok(rule.clone())
    })
}

pub fn update_rule(
    store: &dyn Store,
    shop: &ShopId,
    id: &str,
    input: RuleInput,
    now: Timestamp,
) -> Result<Rule, Error> {
    change_config(store, shop, |config| {
        let rule = config
            .rules
            .iter_mut()
            .find(|r| r.id == id)
            .ok_or_else(|| Error::not_found("rule"))?;
        // Patched afresh on each attempt: a concurrent change to the rule is kept.
        rule.patch(input.clone(), now)?;
        Ok(rule.clone())
    })
}

pub fn delete_rule(store: &dyn Store, shop: &ShopId, id: &str) -> Result<(), Error> {
    change_config(store, shop, |config| {
        let before = config.rules.len();
        config.rules.retain(|r| r.id != id);
        if config.rules.len() == before {
            return Err(Error::not_found("rule"));
        }
        Ok(())
    })
}

pub fn set_rfm_settings(
    store: &dyn Store,
    shop: &ShopId,
    settings: RfmSettings,
) -> Result<RfmSettings, Error> {
    settings.validate()?;
    change_config(store, shop, |config| {
        config.rfm = settings.clone();
        Ok(settings.clone())
    })
}

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

/// Changes a customer and re-evaluates their tags in the same write, then brings the
/// segment index up to date. Every path that changes a customer goes through here.
pub fn update_customer(
    store: &dyn Store,
    shop: &Shop,
    evaluator: &Evaluator,
    id: &CustomerId,
    now: Timestamp,
    mut change: impl FnMut(&mut Customer) -> bool,
) -> Result<Customer, Error> {
    let mut consented_before = None;
    let customer = customers::update(store, &shop.id, id, now, |c| {
        consented_before = c.consent.marketing;
        let changed = change(c);
        evaluator.evaluate(c) | changed
    })?;
    segments::sync(store, &shop.id, &customer, now)?;
    if consented_before != Some(false) && customer.consent.marketing == Some(false) {
        // No more marketing messages: whatever was planned for them is cancelled.
        crate::reminders::cancel_customer(store, &shop.id, id, "consent_withdrawn", now)?;
    }
    Ok(customer)
}

/// Re-evaluates one existing customer (nothing else changes) and finishes any segment sync
/// an earlier request left undone. Returns whether the customer changed. A customer listed
/// but never written (a crash before their first write) is left alone.
pub fn refresh_customer(
    store: &dyn Store,
    shop: &Shop,
    evaluator: &Evaluator,
    id: &CustomerId,
    now: Timestamp,
) -> Result<bool, Error> {
    let mut changed = false;
    let customer = customers::update_existing(store, &shop.id, id, now, |c| {
        changed = evaluator.evaluate(c);
        changed
    })?;
    if let Some(customer) = customer {
        segments::sync(store, &shop.id, &customer, now)?;
    }
    Ok(changed)
}

/// A person's change of a customer's tags through the API.
#[derive(Debug, Clone)]
pub struct ManualTagChange {
    pub add: Vec<TagName>,
    pub remove: Vec<TagName>,
    /// Whoever the caller says made the change, kept with the tag.
    pub by: Option<String>,
}

/// Adds and removes tags by hand. Adding holds the tag for the calling key; removing takes
/// away every reason but a rule's (a rule that still holds puts it back: change the rule).
/// Concurrent changes merge: each is applied to the customer as it is at write time.
pub fn change_tags(
    store: &dyn Store,
    shop: &Shop,
    id: &CustomerId,
    change: &ManualTagChange,
    key_id: &str,
    now: Timestamp,
) -> Result<Customer, Error> {
    let current = existing(store, shop, id)?;
    let mut names = current.tags.names();
    for tag in &change.add {
        if !names.contains(tag) {
            names.push(tag.clone());
        }
    }
    names.retain(|n| {
        !change.remove.contains(n)
            || current
                .tags
                .sources()
                .any(|t| &t.name == n && t.source.is_rule())
    });
    if names.len() > crate::tags::MAX_TAGS_PER_CUSTOMER {
        return Err(Error::invalid_as(
            ErrorCode::TooManyTags,
            format!(
                "a customer carries at most {} tags",
                crate::tags::MAX_TAGS_PER_CUSTOMER
            ),
        ));
    }
    let source = TagSource::Manual {
        key: key_id.to_string(),
        by: change.by.clone(),
    };
    let evaluator = Evaluator::load(store, shop, now)?;
    update_customer(store, shop, &evaluator, id, now, |c| {
        let before = c.segments();
        let mut changed = false;
        for tag in &change.remove {
            changed |= c.tags.remove_where(tag, now, &source, |s| !s.is_rule());
        }
        changed |= c.add_tags(&change.add, &source, now);
        c.note_segment_changes(&before);
        changed
    })
}

/// Sets or removes customer attributes (gender, birthday, city, custom keys).
pub fn set_attributes(
    store: &dyn Store,
    shop: &Shop,
    id: &CustomerId,
    patch: &AttributePatch,
    now: Timestamp,
) -> Result<Customer, Error> {
    let mut check = existing(store, shop, id)?;
    patch.apply(&mut check)?;
    let evaluator = Evaluator::load(store, shop, now)?;
    update_customer(store, shop, &evaluator, id, now, |c| {
        // Checked above; a concurrent change pushing past the limit keeps the old values.
        patch.apply(c).unwrap_or(false)
    })
}

/// A customer that exists and is not erased.
fn existing(store: &dyn Store, shop: &Shop, id: &CustomerId) -> Result<Customer, Error> {
    let customer = customers::load(store, &shop.id, id)?;
    if customer.erased_at.is_some() {
        return Err(Error::refused(
            ErrorCode::CustomerErased,
            "this customer was erased; their data cannot be changed",
        ));
    }
    Ok(customer)
}

/// Where the scheduled pass over every customer stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PassState {
    pub id: u64,
    /// The config version the pass evaluates under.
    pub config_version: u64,
    /// The shop-local day it started: a new day starts a new pass.
    pub day: jiff::civil::Date,
    /// Customers-list slot the next batch starts after.
    pub cursor: i64,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub evaluated: i64,
    pub changed: i64,
}

/// What one call of the pass did.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PassReport {
    pub pass: PassState,
    pub evaluated: usize,
    pub changed: usize,
    /// True when the pass is finished and nothing is due until the next day or rule change.
    pub idle: bool,
}

/// One bounded batch of the scheduled pass. A pass starts when none ran today (shop time)
/// or the rules changed since the running one started; each call evaluates the next `limit`
/// customers and then moves the cursor on, only if no one else moved it. Calls that run at
/// once may evaluate the same batch (evaluation is idempotent); a call that dies leaves the
/// cursor where it was, so the next call does its batch again.
pub fn run_pass(
    store: &dyn Store,
    shop: &Shop,
    limit: usize,
    now: Timestamp,
) -> Result<PassReport, Error> {
    let evaluator = Evaluator::load(store, shop, now)?;
    let today = now.to_zoned(shop.zone()).date();
    let key = keys::tagging_pass(&shop.id);
    let state = update_json(store, &key, |current: Option<PassState>| {
        let fresh = || PassState {
            id: random_u64(),
            config_version: evaluator.config_version(),
            day: today,
            cursor: 0,
            started_at: now,
            finished_at: None,
            evaluated: 0,
            changed: 0,
        };
        Ok::<_, Error>(match current {
            Some(s) if s.config_version != evaluator.config_version() => {
                let s = fresh();
                Change::Write(s.clone(), s)
            }
            Some(s) if s.finished_at.is_some() && s.day != today => {
                let s = fresh();
                Change::Write(s.clone(), s)
            }
            Some(s) => Change::Keep(s),
            None => {
                let s = fresh();
                Change::Write(s.clone(), s)
            }
        })
    })?;
    if state.finished_at.is_some() {
        return Ok(PassReport {
            pass: state,
            evaluated: 0,
            changed: 0,
            idle: true,
        });
    }

    let page =
        applog::page::<CustomerId>(store, &shop.id, keys::lists::CUSTOMERS, state.cursor, limit)?;
    let mut changed = 0;
    for (_, id) in &page.entries {
        if refresh_customer(store, shop, &evaluator, id, now)? {
            changed += 1;
        }
    }
    let evaluated = page.entries.len();
    let reached = page.next.unwrap_or(state.cursor);
    let state = update_json(store, &key, |current: Option<PassState>| {
        let Some(mut s) = current else {
            return Ok::<_, Error>(Change::Keep(state.clone()));
        };
        if s.id != state.id || s.cursor != state.cursor {
            return Ok(Change::Keep(s));
        }
        s.cursor = reached;
        s.evaluated += evaluated as i64;
        s.changed += changed as i64;
        if page.next.is_none() {
            s.finished_at = Some(now);
        }
        Ok(Change::Write(s.clone(), s))
    })?;
    Ok(PassReport {
        idle: false,
        pass: state,
        evaluated,
        changed,
    })
}
