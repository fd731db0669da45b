//! A customer is erased (a person's request, a platform's redaction, a shop closing): the
//! record loses its personal data and identities (`customers::erase_record`), they leave
//! every segment (`customer_changed::sync_segments`), and every reminder planned for them is
//! cancelled (`reminders::cancel_customer`). Each step is idempotent, so a retry finishes
//! what an interrupted erasure left.
//!
//! A shop's redaction closes the shop at once and erases every customer in batches, over as
//! many calls as it takes (`shops::redaction` keeps where it stands).

use std::time::{Duration, Instant};

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::Serialize;

use crate::applog;
use crate::customers::{self, Customer};
use crate::domain::{CustomerId, ShopId};
use crate::error::Error;
use crate::keys;
use crate::reminders;
use crate::shops::{self, redaction};
use crate::store::Store;

use super::customer_changed::sync_segments;

pub fn erase(
    store: &dyn Store,
    shop: &ShopId,
    id: &CustomerId,
    now: Timestamp,
) -> Result<Customer, Error> {
    let erased = customers::erase_record(store, shop, id, now)?;
    // Erased customers leave every segment and hear nothing more.
    sync_segments(store, shop, &erased, now)?;
    reminders::cancel_customer(store, shop, id, "erased", now)?;
    Ok(erased)
}

/// Erases the customer an identity names, if any: a platform's redaction of someone Siyu
/// may never have seen.
pub fn erase_if_known(
    store: &dyn Store,
    shop: &ShopId,
    id: Option<&CustomerId>,
    now: Timestamp,
) -> Result<(), Error> {
    let Some(id) = id else {
        return Ok(());
    };
    match erase(store, shop, id, now) {
        // Claimed in the index but never written: nothing to erase.
        Err(Error::NotFound { .. }) => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Erases customers of a shop in creation order, at most `limit` per call; returns how many
/// it erased and the cursor to continue from, or None when every customer is done.
fn erase_batch(
    store: &dyn Store,
    shop: &ShopId,
    after: i64,
    limit: usize,
    now: Timestamp,
) -> Result<(u64, Option<i64>), Error> {
    let page = applog::page::<CustomerId>(store, shop, keys::lists::CUSTOMERS, after, limit)?;
    let erased = page.entries.len() as u64;
    for (_, id) in page.entries {
        erase_if_known(store, shop, Some(&id), now)?;
    }
    Ok((erased, page.next))
}

/// Customers erased per batch of a redaction: small enough that a call stops close to its
/// time budget.
const REDACTION_BATCH: usize = 50;

/// Where a shop's redaction stands after a call.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RedactionProgress {
    /// Customers erased by this call.
    pub erased_now: u64,
    /// Customers erased since the redaction began.
    pub erased: u64,
    /// Every customer is erased.
    pub done: bool,
}

/// How much of a redaction one call may do.
#[derive(Debug, Clone, Copy)]
pub struct RedactionBudget {
    /// Time, after which no new batch starts (one batch always runs).
    pub time: Duration,
    /// Customers, at most (a webhook's answer must come quickly whatever the store's speed).
    pub customers: Option<u64>,
}

/// Closes the shop (at once; every key and credential stops working) and erases its
/// customers, a batch at a time, until every one is done or the budget is spent. The
/// redaction is recorded before anything is erased: whatever this call does not finish, later
/// calls and the scheduler do.
pub fn redact_shop(
    store: &dyn Store,
    shop: &ShopId,
    budget: RedactionBudget,
    now: Timestamp,
) -> Result<RedactionProgress, Error> {
    let started = Instant::now();
    shops::close_shop(store, shop, now)?;
    let mut record = redaction::start(store, shop, now)?;
    let mut erased_now = 0;
    while record.finished_at.is_none() {
        let left = budget
            .customers
            .map_or(u64::MAX, |max| max - erased_now.min(max));
        if left == 0 {
            break;
        }
        let batch = REDACTION_BATCH.min(usize::try_from(left).unwrap_or(usize::MAX));
        let cursor = record.cursor;
        let (erased, next) = erase_batch(store, shop, cursor, batch, now)?;
        erased_now += erased;
        record = redaction::advance(store, shop, cursor, next, erased, now)?;
        if started.elapsed() >= budget.time {
            break;
        }
    }
    Ok(RedactionProgress {
        erased_now,
        erased: record.erased,
        done: record.finished_at.is_some(),
    })
}

/// What the scheduler's redaction pass did.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct RedactionReport {
    /// Shops whose redaction this call worked on.
    pub shops: usize,
    pub erased: u64,
    /// False when a redaction is still unfinished: call again.
    pub caught_up: bool,
}

/// The scheduler's pass: continues every unfinished redaction, oldest first, within `budget`.
pub fn continue_redactions(
    store: &dyn Store,
    budget: Duration,
    now: Timestamp,
) -> Result<RedactionReport, Error> {
    let started = Instant::now();
    let mut report = RedactionReport {
        caught_up: true,
        ..RedactionReport::default()
    };
    let first = redaction::first_pending(store)?;
    let mut all_done_up_to = Some(first);
    for (slot, shop) in redaction::listed(store, first, 1_000)? {
        let finished = redaction::load(store, &shop)?.is_some_and(|r| r.finished_at.is_some());
        if !finished {
            let left = budget.saturating_sub(started.elapsed());
            if left.is_zero() {
                report.caught_up = false;
                break;
            }
            let within = RedactionBudget {
                time: left,
                customers: None,
            };
            let progress = redact_shop(store, &shop, within, now)?;
            report.shops += 1;
            report.erased += progress.erased_now;
            if !progress.done {
                report.caught_up = false;
                all_done_up_to = None;
                break;
            }
        }
        if let Some(done) = all_done_up_to.as_mut() {
            *done = slot;
        }
    }
    if let Some(done) = all_done_up_to.filter(|d| *d > first) {
        redaction::mark_done_up_to(store, done)?;
    }
    Ok(report)
}
