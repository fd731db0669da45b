//! How the periodic work went: per shop (each job's last run, what is left, whether its
//! deliveries keep failing) and for the deployment (the last calls). Written by every call;
//! read by `GET /api/status` (the operator), `GET /api/shop/status` (the merchant's console)
//! and `GET /healthz`.

use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::JobsReport;
use crate::domain::ShopId;
use crate::error::Error;
use crate::keys;
use crate::reminders::{DispatchReport, ReminderBacklog};
use crate::store::{get_json, update_json, Change, Store};

/// Reminders due longer than this are late: the console tells the merchant.
pub const LATE_AFTER: SignedDuration = SignedDuration::from_mins(15);

/// Who made a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunSource {
    /// `POST /api/jobs/run` with the scheduler token.
    Scheduler,
    /// The background slice of ordinary requests (`self_schedule`).
    Background,
}

impl RunSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RunSource::Scheduler => "scheduler",
            RunSource::Background => "background",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobOutcome {
    Ok,
    Failed,
}

/// One run of one job for one shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JobRun {
    pub at: Timestamp,
    pub duration_ms: u64,
    /// What it did: customers evaluated, messages delivered, records deleted.
    pub done: u64,
    /// False when it stopped with work left (its share of the call ran out).
    pub caught_up: bool,
    pub outcome: JobOutcome,
    /// The error code when it failed.
    pub error: Option<String>,
}

/// A shop's periodic work as the last call left it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ShopJobs {
    pub tagging: Option<JobRun>,
    pub reminders: Option<JobRun>,
    pub expiry: Option<JobRun>,
    /// Since when every call's deliveries to the shop's receiver failed (none delivered).
    pub delivery_failing_since: Option<Timestamp>,
    /// Reminders waiting as the last call left them.
    pub backlog: Option<ReminderBacklog>,
}

/// Records a shop's turn: its jobs' runs, whether its deliveries keep failing, its backlog.
pub fn record_shop(
    store: &dyn Store,
    shop: &ShopId,
    runs: &ShopJobs,
    dispatched: Option<&DispatchReport>,
    backlog: Option<ReminderBacklog>,
    now: Timestamp,
) -> Result<ShopJobs, Error> {
    update_json(
        store,
        &keys::shop_jobs_status(shop),
        |current: Option<ShopJobs>| {
            let current = current.unwrap_or_default();
            let failing = dispatched.map(|d| d.messages == 0 && d.retrying + d.failed > 0);
            let delivery_failing_since = match failing {
                Some(true) => current.delivery_failing_since.or(Some(now)),
                Some(false) if dispatched.is_some_and(|d| d.messages > 0) => None,
                _ => current.delivery_failing_since,
            };
            let next = ShopJobs {
                tagging: runs.tagging.clone().or(current.tagging),
                reminders: runs.reminders.clone().or(current.reminders),
                expiry: runs.expiry.clone().or(current.expiry),
                delivery_failing_since,
                backlog: backlog.clone().or(current.backlog),
            };
            Ok::<_, Error>(Change::Write(next.clone(), next))
        },
    )
}

pub fn shop_jobs(store: &dyn Store, shop: &ShopId) -> Result<ShopJobs, Error> {
    Ok(get_json(store, &keys::shop_jobs_status(shop))?.unwrap_or_default())
}

/// One call, as the deployment's status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CallSummary {
    pub at: Timestamp,
    pub source: RunSource,
    pub duration_ms: u64,
    pub caught_up: bool,
    pub shops_visited: usize,
    pub shops_busy: usize,
    pub shops_failed: usize,
    pub shops_left: usize,
    pub messages: usize,
    pub customers_evaluated: usize,
    pub customers_erased: u64,
    pub records_expired: usize,
    /// Queued reminder entries the visited shops still had waiting after it.
    pub reminders_waiting: u64,
    /// Of those, the longest-waiting one's due time.
    pub oldest_due_at: Option<Timestamp>,
    /// Visited shops whose deliveries keep failing.
    pub shops_delivery_failing: usize,
}

/// The deployment's scheduler, as its calls left it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SchedulerStatus {
    pub last_call: Option<CallSummary>,
    /// The last call that caught up with everything.
    pub last_caught_up_at: Option<Timestamp>,
    /// The last call of each kind.
    pub last_scheduler_call_at: Option<Timestamp>,
    pub last_background_call_at: Option<Timestamp>,
}

/// What the shops a call visited left waiting, summed as it went.
#[derive(Debug, Clone, Default)]
pub struct Waiting {
    pub reminders: u64,
    pub oldest_due_at: Option<Timestamp>,
    pub shops_delivery_failing: usize,
}

pub fn record_call(
    store: &dyn Store,
    report: &JobsReport,
    waiting: &Waiting,
    source: RunSource,
    now: Timestamp,
) -> Result<(), Error> {
    let summary = CallSummary {
        at: now,
        source,
        duration_ms: report.duration_ms,
        caught_up: report.caught_up,
        shops_visited: report.shops_visited,
        shops_busy: report.shops_busy,
        shops_failed: report.shops_failed,
        shops_left: report.shops_left,
        messages: report.reminders.messages,
        customers_evaluated: report.tagging.evaluated,
        customers_erased: report.redactions.erased,
        records_expired: report.expired,
        reminders_waiting: waiting.reminders,
        oldest_due_at: waiting.oldest_due_at,
        shops_delivery_failing: waiting.shops_delivery_failing,
    };
    update_json(
        store,
        keys::JOBS_STATUS,
        |current: Option<SchedulerStatus>| {
            let mut s = current.unwrap_or_default();
            // A slower call finishing after a newer one does not hide it.
            if s.last_call.as_ref().is_none_or(|c| c.at <= now) {
                s.last_call = Some(summary.clone());
            }
            if report.caught_up {
                s.last_caught_up_at = s.last_caught_up_at.max(Some(now));
            }
            match source {
                RunSource::Scheduler => {
                    s.last_scheduler_call_at = s.last_scheduler_call_at.max(Some(now))
                }
                RunSource::Background => {
                    s.last_background_call_at = s.last_background_call_at.max(Some(now))
                }
            }
            Ok::<_, Error>(Change::Write(s, ()))
        },
    )
}

pub fn scheduler(store: &dyn Store) -> Result<SchedulerStatus, Error> {
    Ok(get_json(store, keys::JOBS_STATUS)?.unwrap_or_default())
}

/// One shop's periodic work: each job's last run, what waits now, and what the merchant
/// should be told.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ShopStatus {
    pub jobs: ShopJobs,
    /// Reminders waiting now.
    pub backlog: ReminderBacklog,
    /// Minutes the oldest waiting reminder is past due (0 when none is).
    pub oldest_due_minutes: i64,
    /// Whether a redaction of the shop is still erasing customers.
    pub redaction_open: bool,
    /// What needs the merchant's attention; the console shows each as a banner.
    pub notices: Vec<Notice>,
}

/// Something wrong with a shop's periodic work that the merchant can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Notice {
    pub code: NoticeCode,
    /// Since when (the oldest late reminder's due time, the first failing call).
    pub since: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeCode {
    /// A reminder has waited more than 15 minutes past due: the scheduler is not running
    /// (or not keeping up).
    RemindersLate,
    /// Every recent delivery to the shop's receiver failed.
    DeliveryFailing,
}

pub fn shop_status(store: &dyn Store, shop: &ShopId, now: Timestamp) -> Result<ShopStatus, Error> {
    let jobs = shop_jobs(store, shop)?;
    let backlog = crate::reminders::backlog(store, shop, now)?;
    let late_since = backlog.oldest_due_at.filter(|due| *due + LATE_AFTER < now);
    let oldest_due_minutes = backlog
        .oldest_due_at
        .map_or(0, |due| now.duration_since(due).as_mins().max(0));
    let redaction_open =
        crate::shops::redaction::load(store, shop)?.is_some_and(|r| r.finished_at.is_none());
    let mut notices = Vec::new();
    if let Some(since) = late_since {
        notices.push(Notice {
            code: NoticeCode::RemindersLate,
            since,
        });
    }
    if let Some(since) = jobs.delivery_failing_since {
        notices.push(Notice {
            code: NoticeCode::DeliveryFailing,
            since,
        });
    }
    Ok(ShopStatus {
        jobs,
        backlog,
        oldest_due_minutes,
        redaction_open,
        notices,
    })
}
