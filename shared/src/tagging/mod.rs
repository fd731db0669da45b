//! Tag assignment: a shop's rules and RFM settings (here), the rules' conditions (`rules`),
//! the evaluation of one customer against them (`evaluator`), the segment index that lists
//! each tag's and RFM group's members (`segments`), exports of a segment (`export`), and the
//! scheduled pass over every customer (`pass`).
//!
//! Exactly once: the config is one record changed by compare-and-swap (its version bumps
//! with every change); evaluation is a pure function of the customer and the config, so a
//! repeated evaluation writes nothing new. Writing the customer, and what their new tags set
//! off, is `flows::customer_changed`'s.

mod evaluator;
pub mod export;
mod pass;
pub mod rules;
pub mod segments;

pub use evaluator::Evaluator;
pub use pass::{run_pass, PassReport, PassState};

use schemars::JsonSchema;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::customers::Customer;
use crate::domain::{RuleId, ShopId};
use crate::error::{Error, ErrorCode};
use crate::keys;
use crate::rfm::RfmSettings;
use crate::store::{get_json, update_json, Change, Store};
use crate::tags::{TagName, TagSource, MAX_TAGS_PER_CUSTOMER};
use rules::{Rule, RuleInput};

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
            evaluator::evaluation_order(&config.rules)?;
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
    let rule = Rule::create(RuleId::random(), input, now)?;
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
    id: &RuleId,
    input: RuleInput,
    now: Timestamp,
) -> Result<Rule, Error> {
    change_config(store, shop, |config| {
        let rule = config
            .rules
            .iter_mut()
            .find(|r| &r.id == id)
            .ok_or_else(|| Error::not_found("rule"))?;
        // Patched afresh on each attempt: a concurrent change to the rule is kept.
        rule.patch(input.clone(), now)?;
        Ok(rule.clone())
    })
}

pub fn delete_rule(store: &dyn Store, shop: &ShopId, id: &RuleId) -> Result<(), Error> {
    change_config(store, shop, |config| {
        let before = config.rules.len();
        config.rules.retain(|r| &r.id != id);
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

/// A person's change of a customer's tags through the API. Adding holds the tag for the
/// calling key; removing takes away every reason but a rule's (a rule that still holds puts
/// it back: change the rule).
#[derive(Debug, Clone)]
pub struct ManualTagChange {
    pub add: Vec<TagName>,
    pub remove: Vec<TagName>,
    /// Whoever the caller says made the change, kept with the tag.
    pub by: Option<String>,
}

impl ManualTagChange {
    /// Refuses a change that would leave `current` with more tags than allowed.
    pub fn check(&self, current: &Customer) -> Result<(), Error> {
        let mut names = current.tags.names();
        for tag in &self.add {
            if !names.contains(tag) {
                names.push(tag.clone());
            }
        }
        names.retain(|n| {
            !self.remove.contains(n)
                || current
                    .tags
                    .sources()
                    .any(|t| &t.name == n && t.source.is_rule())
        });
        if names.len() > MAX_TAGS_PER_CUSTOMER {
            return Err(Error::invalid_as(
                ErrorCode::TooManyTags,
                format!("a customer carries at most {MAX_TAGS_PER_CUSTOMER} tags"),
            ));
        }
        Ok(())
    }

    /// Applies the change to the customer as it is at write time, so concurrent changes
    /// merge; returns whether anything changed.
    pub fn apply(&self, customer: &mut Customer, key_id: &str, now: Timestamp) -> bool {
        let source = TagSource::Manual {
            key: key_id.to_string(),
            by: self.by.clone(),
        };
        let before = customer.segments();
        let mut changed = false;
        for tag in &self.remove {
            changed |= customer
                .tags
                .remove_where(tag, now, &source, |s| !s.is_rule());
        }
        changed |= customer.add_tags(&self.add, &source, now);
        customer.note_segment_changes(&before);
        changed
    }
}
