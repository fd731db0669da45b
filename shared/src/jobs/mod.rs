//! The periodic work of every shop, in one call: what the scheduler's `POST /api/jobs/run`
//! and the local background slice (`background`) both run.
//!
//! A call first continues unfinished shop redactions (under a lease of their own), then
//! walks the list of shops from where the last call stopped. For each shop it takes the
//! shop's lease — so two calls at once never work on one shop — and, within the shop's share
//! of the call, dispatches due reminders first (they are the work that is late when it
//! waits; retries of failed deliveries are queued steps too), then runs the daily tagging
//! pass and sweeps expired records (`expiry`), each at least a little. A shop that fails or
//! is slow costs only its share; the rest go on, and the next call starts with the shop
//! after the last one this call began (a call the host killed mid-shop does not start with
//! that shop again). What each job did, and what is left, is recorded per shop and for the
//! deployment (`status`).

pub mod background;
pub mod status;

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::Serialize;

use crate::domain::ids::random_id;
use crate::domain::ShopId;
use crate::error::Error;
use crate::flows::customer_changed::tagging_pass;
use crate::flows::erasure::{continue_redactions, RedactionReport};
use crate::flows::reminders_due::CampaignCoupons;
use crate::outbound::Outbound;
use crate::reminders::{self, Delivery, DispatchReport};
use crate::store::{get_json, update_json, Change, Store};
use crate::{expiry, keys, lease, shops};
use status::{JobOutcome, JobRun, RunSource, ShopJobs, Waiting};

/// The most of one call one shop may take before the next shop's turn.
const SHOP_SHARE: Duration = Duration::from_secs(8);
/// How long a lease holds beyond the call's budget (it is taken at the call's start time):
/// one delivery's timeout and margin. Only a call that died holds a shop this long.
const LEASE_MARGIN: SignedDuration = SignedDuration::from_secs(60);
/// The part of a call unfinished redactions may take first.
const REDACTION_SHARE: Duration = Duration::from_secs(5);
/// Customers one batch of the tagging pass evaluates.
const TAGGING_BATCH: usize = 200;
/// Queued reminder entries one shop's dispatch looks at in a call.
const DISPATCH_LIMIT: usize = 500;
/// Expired records one shop's sweep deletes in a call.
const EXPIRY_LIMIT: usize = 2_000;

/// What a call needs besides the store: the way out for deliveries and the call's limits.
pub struct Scheduler<'a> {
    pub store: &'a dyn Store,
    pub outbound: &'a dyn Outbound,
    pub pepper: &'a [u8],
    /// Where links in messages point (the deployment's public address).
    pub origin: &'a str,
    /// The deployment's `allow_private_delivery`.
    pub allow_private: bool,
    /// How long this call may start new work.
    pub budget: Duration,
    pub now: Timestamp,
    pub source: RunSource,
}

/// The tagging pass over every shop's customers, as one call did it.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct TaggingReport {
    pub evaluated: usize,
    pub changed: usize,
    /// Shops whose pass for the day finished in this call.
    pub passes_finished: usize,
}

/// What one call did, and whether it caught up.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct JobsReport {
    /// Shops the deployment has.
    pub shops: i64,
    /// Shops whose work this call did.
    pub shops_visited: usize,
    /// Shops another call was working on (left to it).
    pub shops_busy: usize,
    /// Shops one of whose jobs failed (retried next call; the others went on).
    pub shops_failed: usize,
    /// Shops this call had no time left for: the next call starts with them.
    pub shops_left: usize,
    pub redactions: RedactionReport,
    pub tagging: TaggingReport,
    pub reminders: DispatchReport,
    /// Expired rate-limit and verification records deleted.
    pub expired: usize,
    /// False when work was left: call again.
    pub caught_up: bool,
    pub duration_ms: u64,
}

/// Runs every job that is due, for every shop, within the call's budget.
pub fn run(s: &Scheduler) -> Result<JobsReport, Error> {
    let started = Instant::now();
    let deadline = started + s.budget;
    let holder = random_id(16);
    let mut report = JobsReport {
        caught_up: true,
        ..JobsReport::default()
    };

    // A redaction that cannot go on now is retried next call; it never stops the shops.
    match run_redactions(s, &holder) {
        Ok(redactions) => {
            report.caught_up &= redactions.caught_up;
            report.redactions = redactions;
        }
        Err(_) => report.caught_up = false,
    }

    let shops = s.store.counter(keys::SHOPS_COUNTER)?;
    report.shops = shops;
    let first = get_json::<i64>(s.store, keys::JOBS_NEXT)?.unwrap_or(0);
    let mut stopped_at = None;
    let mut waiting = Waiting::default();
    for turn in 0..shops {
        let slot = (first + turn).rem_euclid(shops.max(1)) + 1;
        if Instant::now() >= deadline {
            report.shops_left = (shops - turn) as usize;
            report.caught_up = false;
            stopped_at = Some(slot - 1);
            break;
        }
        let Some(id) = get_json::<ShopId>(s.store, &keys::shops_slot(slot))? else {
            continue;
        };
        // Should the host kill this call during this shop, the next starts after it.
        set_next(s.store, slot.rem_euclid(shops.max(1)))?;
        let share_end = deadline.min(Instant::now() + SHOP_SHARE);
        match run_shop(s, &id, &holder, share_end, &mut report, &mut waiting) {
            Ok(ShopTurn::Done) => report.shops_visited += 1,
            Ok(ShopTurn::Busy) => report.shops_busy += 1,
            Ok(ShopTurn::Closed) => {}
            Err(_) => {
                report.shops_failed += 1;
                report.caught_up = false;
            }
        }
    }
    // The next call starts where this one stopped or, when it went round, one further on,
    // so no shop is always first.
    set_next(
        s.store,
        stopped_at.unwrap_or(first + 1).rem_euclid(shops.max(1)),
    )?;
    report.duration_ms = started.elapsed().as_millis() as u64;
    status::record_call(s.store, &report, &waiting, s.source, s.now)?;
    log_summary(&report, s.source);
    Ok(report)
}

/// Where the next call starts in the list of shops (fairness only: the last writer wins).
fn set_next(store: &dyn Store, next: i64) -> Result<(), Error> {
    update_json(store, keys::JOBS_NEXT, |current: Option<i64>| {
        Ok::<_, Error>(match current {
            Some(c) if c == next => Change::Keep(()),
            _ => Change::Write(next, ()),
        })
    })
}

/// How long a lease taken at the call's start must hold to outlast the call.
fn lease_hold(s: &Scheduler) -> SignedDuration {
    SignedDuration::try_from(s.budget).unwrap_or(SignedDuration::from_hours(1)) + LEASE_MARGIN
}

/// Continues unfinished shop redactions, one call at a time.
fn run_redactions(s: &Scheduler, holder: &str) -> Result<RedactionReport, Error> {
    if !lease::take(
        s.store,
        keys::JOBS_REDACTIONS_LEASE,
        holder,
        s.now,
        lease_hold(s),
    )? {
        // Another call is on them: it reports them.
        return Ok(RedactionReport {
            caught_up: true,
            ..RedactionReport::default()
        });
    }
    let report = continue_redactions(s.store, REDACTION_SHARE.min(s.budget), s.now);
    lease::release(s.store, keys::JOBS_REDACTIONS_LEASE, holder, s.now)?;
    report
}

enum ShopTurn {
    Done,
    /// Another call holds the shop.
    Busy,
    /// The shop is closed: it has no periodic work but its redaction.
    Closed,
}

/// One shop's turn: its lease, then each job in order, each recorded, within `share_end`.
fn run_shop(
    s: &Scheduler,
    id: &ShopId,
    holder: &str,
    share_end: Instant,
    report: &mut JobsReport,
    waiting: &mut Waiting,
) -> Result<ShopTurn, Error> {
    let shop = match shops::load_shop(s.store, id) {
        Ok(shop) => shop,
        Err(e) if e.code() == crate::error::ErrorCode::NotFound => return Ok(ShopTurn::Closed),
        Err(e) => return Err(e),
    };
    let lease_key = keys::shop_jobs_lease(id);
    if !lease::take(s.store, &lease_key, holder, s.now, lease_hold(s))? {
        return Ok(ShopTurn::Busy);
    }
    let mut failed = None;

    let coupons = CampaignCoupons { store: s.store };
    let delivery = Delivery {
        outbound: s.outbound,
        pepper: s.pepper,
        origin: s.origin,
        coupons: &coupons,
        allow_private: s.allow_private,
        deadline: share_end,
    };
    let mut dispatched = None;
    let reminders_run = timed(s.now, || {
        let r = reminders::dispatch(s.store, &delivery, &shop, DISPATCH_LIMIT, s.now)?;
        report.reminders.shops += 1;
        report.reminders.add(&r);
        let sent = r.messages as u64;
        let caught_up = r.caught_up;
        dispatched = Some(r);
        Ok((sent, caught_up))
    });

    let tagging = timed(s.now, || {
        let mut evaluated = 0;
        loop {
            let pass = tagging_pass(s.store, &shop, TAGGING_BATCH, s.now)?;
            evaluated += pass.evaluated;
            report.tagging.evaluated += pass.evaluated;
            report.tagging.changed += pass.changed;
            if pass.idle {
                return Ok((evaluated as u64, true));
            }
            if pass.pass.finished_at.is_some() {
                report.tagging.passes_finished += 1;
                return Ok((evaluated as u64, true));
            }
            if Instant::now() >= share_end {
                return Ok((evaluated as u64, false));
            }
        }
    });

    let expiry_run = timed(s.now, || {
        let swept = expiry::sweep(s.store, id, s.now.as_second(), EXPIRY_LIMIT, share_end)?;
        report.expired += swept.deleted;
        Ok((swept.deleted as u64, swept.caught_up))
    });

    for run in [&reminders_run, &tagging, &expiry_run] {
        report.caught_up &= run.caught_up;
        if let JobOutcome::Failed = run.outcome {
            failed = failed.or(run.error.clone());
        }
    }
    let backlog = reminders::backlog(s.store, id, s.now).ok();
    if let Some(b) = &backlog {
        waiting.reminders += b.waiting;
        if let Some(due) = b.oldest_due_at {
            waiting.oldest_due_at = Some(waiting.oldest_due_at.map_or(due, |w| w.min(due)));
        }
    }
    let recorded = status::record_shop(
        s.store,
        id,
        &ShopJobs {
            tagging: Some(tagging),
            reminders: Some(reminders_run),
            expiry: Some(expiry_run),
            ..ShopJobs::default()
        },
        dispatched.as_ref(),
        backlog,
        s.now,
    )?;
    if recorded.delivery_failing_since.is_some() {
        waiting.shops_delivery_failing += 1;
    }
    lease::release(s.store, &lease_key, holder, s.now)?;
    match failed {
        Some(error) => Err(Error::internal(error)),
        None => Ok(ShopTurn::Done),
    }
}

/// Runs one job and records how it went: `work` answers how much it did and whether it
/// caught up.
fn timed(now: Timestamp, work: impl FnOnce() -> Result<(u64, bool), Error>) -> JobRun {
    let started = Instant::now();
    let result = work();
    let duration_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok((done, caught_up)) => JobRun {
            at: now,
            duration_ms,
            done,
            caught_up,
            outcome: JobOutcome::Ok,
            error: None,
        },
        Err(e) => JobRun {
            at: now,
            duration_ms,
            done: 0,
            caught_up: false,
            outcome: JobOutcome::Failed,
            error: Some(e.code().as_str().to_string()),
        },
    }
}

/// One JSON line per job per call, for an operator's log search: counts only, no shop data.
fn log_summary(report: &JobsReport, source: RunSource) {
    let lines = [
        serde_json::json!({"job": "redactions", "shops": report.redactions.shops,
            "erased": report.redactions.erased, "caught_up": report.redactions.caught_up}),
        serde_json::json!({"job": "tagging", "evaluated": report.tagging.evaluated,
            "changed": report.tagging.changed, "passes_finished": report.tagging.passes_finished}),
        serde_json::json!({"job": "reminders", "shops": report.reminders.shops,
            "messages": report.reminders.messages, "retrying": report.reminders.retrying,
            "failed": report.reminders.failed, "caught_up": report.reminders.caught_up}),
        serde_json::json!({"job": "expiry", "deleted": report.expired}),
        serde_json::json!({"job": "all", "shops": report.shops, "visited": report.shops_visited,
            "busy": report.shops_busy, "failed": report.shops_failed, "left": report.shops_left,
            "caught_up": report.caught_up, "duration_ms": report.duration_ms}),
    ];
    for mut line in lines {
        line["scheduler"] = source.as_str().into();
        eprintln!("{line}");
    }
}
