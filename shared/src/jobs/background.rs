//! The background slice: on a deployment with `self_schedule` on (spin.toml's default, for
//! local development), ordinary requests run the scheduler's work themselves, so nothing
//! else needs to be started. After a request has been answered, its component reads one
//! record to see whether a slice is due (every `INTERVAL`); the first to take it by
//! compare-and-swap runs one bounded call of `jobs::run`, and the others go on. The client
//! has its answer by then: the slice costs it nothing but the host's time.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::{run, JobsReport, Scheduler};
use crate::domain::ids::random_id;
use crate::error::Error;
use crate::keys;
use crate::store::{get_json, update_json, Change};

/// How often a slice runs while requests come in.
pub const INTERVAL: SignedDuration = SignedDuration::from_secs(30);
/// How long one slice may start new work (with one delivery's timeout after it).
pub const BUDGET: Duration = Duration::from_secs(5);
/// How long a slice is held: only one whose request died holds it this long.
const HOLD: SignedDuration = SignedDuration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SliceState {
    next_at: Timestamp,
    holder: Option<String>,
    held_until: Option<Timestamp>,
}

impl SliceState {
    fn due(&self, now: Timestamp) -> bool {
        now >= self.next_at && self.held_until.is_none_or(|until| until <= now)
    }
}

/// Runs a slice if one is due and nobody runs it: one read when not.
pub fn run_if_due(s: &Scheduler) -> Result<Option<JobsReport>, Error> {
    let now = s.now;
    let state = get_json::<SliceState>(s.store, keys::JOBS_BACKGROUND)?;
    if state.as_ref().is_some_and(|st| !st.due(now)) {
        return Ok(None);
    }
    let holder = random_id(16);
    let taken = update_json(
        s.store,
        keys::JOBS_BACKGROUND,
        |current: Option<SliceState>| {
            Ok::<_, Error>(match current {
                Some(st) if !st.due(now) => Change::Keep(false),
                _ => Change::Write(
                    SliceState {
                        next_at: now + INTERVAL,
                        holder: Some(holder.clone()),
                        held_until: Some(now + HOLD),
                    },
                    true,
                ),
            })
        },
    )?;
    if !taken {
        return Ok(None);
    }
    let report = run(&Scheduler {
        budget: s.budget.min(BUDGET),
        ..*s
    });
    update_json(
        s.store,
        keys::JOBS_BACKGROUND,
        |current: Option<SliceState>| {
            Ok::<_, Error>(match current {
                Some(st) if st.holder.as_deref() == Some(holder.as_str()) => Change::Write(
                    SliceState {
                        holder: None,
                        held_until: None,
                        ..st
                    },
                    (),
                ),
                _ => Change::Keep(()),
            })
        },
    )?;
    report.map(Some)
}
