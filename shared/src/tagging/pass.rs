//! The scheduled pass: every customer of a shop re-evaluated in bounded, resumable batches
//! (time-dependent conditions change without any event, and a changed rule must reach
//! existing customers). Which customers a batch holds is decided here; what refreshing one
//! means is the caller's (`flows::customer_changed::tagging_pass`).

use schemars::JsonSchema;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::Evaluator;
use crate::applog;
use crate::domain::ids::random_u64;
use crate::domain::CustomerId;
use crate::error::Error;
use crate::keys;
use crate::shops::Shop;
use crate::store::{update_json, Change, Store};

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
    refresh: &mut dyn FnMut(&Evaluator, &CustomerId) -> Result<bool, Error>,
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
        if refresh(&evaluator, id)? {
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
