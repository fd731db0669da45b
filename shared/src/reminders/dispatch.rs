//! Dispatch: sends the reminder steps that are due, shop by shop, in bounded calls.
//!
//! Each shop has a queue of hourly lists and a cursor. A call walks the shop's lists from the
//! cursor up to the current hour and looks only at queued entries — never at all schedules.
//! Before a step is sent it is claimed on its schedule by compare-and-swap (`Sending`), so
//! two dispatches running at once, or a retried one, send it at most once. Suppression is
//! checked again just before sending (reordered, consent, erasure); quiet hours and the
//! frequency cap move a step later by queueing it again; several of a customer's steps that
//! are due together go out as one message.
//!
//! A claim is a lease: a step left `Sending` by a request that died (killed, timed out by the
//! host) is claimed again once `SENDING_LEASE` has passed and sent with the same message id,
//! which the receiver deduplicates. Shops are isolated: one whose receiver keeps failing, or
//! whose records cannot be read, is left for the next call while the others go on, and the
//! whole call stops at its time budget, the next one starting with another shop.

use schemars::JsonSchema;
use std::collections::HashMap;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::message::MessageCoupon;
use super::stats::count;
use super::{
    customer_schedules, local_time, product_key, queue, QueuedStep, ReminderSchedule,
    ReminderSettings, ScheduleStatus, StepState, StoredSettings,
};
use crate::customers::Customer;
use crate::domain::{CustomerId, ShopId};
use crate::error::Error;
use crate::keys;
use crate::outbound::{DeliveryTarget, Outbound};
use crate::shops::Shop;
use crate::store::{create_json, get_json, put_json, update_json, Change, Store};

/// Empty hours one call may walk past per shop (a shop idle for weeks catches up over calls).
const MAX_HOURS_WALKED: i64 = 24 * 60;
/// How long a claim holds: far longer than one delivery can take (`DELIVERY_TIMEOUT` for the
/// connection and each byte), so only a claim whose request died is taken over.
pub const SENDING_LEASE: SignedDuration = SignedDuration::from_secs(60);
/// Deliveries to one shop's receiver that may fail in one call before the shop is left for
/// the next call (its messages wait for their retries; the other shops go on).
const FAILURES_PER_SHOP: usize = 3;

/// The most of one dispatch-all call one shop may take before it is deferred to the next.
const SHOP_SHARE: std::time::Duration = std::time::Duration::from_secs(8);

/// Where a shop's dispatch stands: the hour list and the slots done in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
struct Cursor {
    hour: i64,
    after: i64,
}

/// Registers a shop for dispatch the first time it queues a step.
pub(crate) fn register(store: &dyn Store, shop: &ShopId, now: Timestamp) -> Result<(), Error> {
    let key = keys::reminder_cursor(shop);
    if get_json::<Cursor>(store, &key)?.is_some() {
        return Ok(());
    }
    // Listed first: a crash in between lists the shop twice at worst (walked twice, harmless).
    let slot = store.increment(keys::REMINDER_SHOPS_COUNTER, 1)?;
    put_json(store, &keys::reminder_shops_slot(slot), shop)?;
    let start = Cursor {
        hour: now.as_second().div_euclid(3600),
        after: 0,
    };
    create_json(store, &key, &start)?;
    Ok(())
}

/// What a dispatch call did.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct DispatchReport {
    /// Shops this call looked at.
    pub shops: usize,
    /// Shops left for the next call: their receiver kept failing, or the time ran out.
    pub shops_deferred: usize,
    /// Shops whose records could not be read or written this call (retried next call).
    pub shops_failed: usize,
    pub examined: usize,
    /// Messages delivered (a message may carry several steps).
    pub messages: usize,
    pub steps_sent: usize,
    pub deferred: usize,
    pub suppressed: usize,
    pub retrying: usize,
    pub failed: usize,
    /// False when the call stopped at its limit: call again.
    pub caught_up: bool,
}

/// What delivering needs besides the store: the way out, the unsubscribe-link key and
/// origin, how a follow-up's coupon is issued, and the deployment's limits.
pub struct Delivery<'a> {
    pub outbound: &'a dyn Outbound,
    pub pepper: &'a [u8],
    /// Where unsubscribe links point.
    pub origin: &'a str,
    pub coupons: &'a dyn FollowUpCoupons,
    /// The deployment's `allow_private_delivery`.
    pub allow_private: bool,
    /// When this call must stop starting new work.
    pub deadline: Instant,
}

/// Issues the coupon a follow-up reminder carries. The reminders feature does not issue
/// coupons itself: `flows::reminders_due` says how.
pub trait FollowUpCoupons {
    /// The coupon `campaign` issues to `customer` under the idempotency `key`; None when it
    /// cannot (the message goes without one).
    fn issue(
        &self,
        shop: &ShopId,
        campaign: &str,
        customer: &CustomerId,
        key: &str,
        now: Timestamp,
    ) -> Option<MessageCoupon>;
}

/// Dispatches for every registered shop, each with the same limit, starting each call with
/// the next shop in turn so that no shop always waits behind the others. A shop that fails
/// is counted and skipped; the others go on.
pub fn dispatch_all(
    store: &dyn Store,
    delivery: &Delivery,
    limit: usize,
    now: Timestamp,
) -> Result<DispatchReport, Error> {
    let mut total = DispatchReport {
        caught_up: true,
        ..DispatchReport::default()
    };
    let shops = store.counter(keys::REMINDER_SHOPS_COUNTER)?;
    if shops == 0 {
        return Ok(total);
    }
    let round = store.increment(keys::REMINDER_DISPATCH_ROUND, 1)?;
    let mut seen = std::collections::BTreeSet::new();
    for turn in 0..shops {
        let slot = (round + turn).rem_euclid(shops) + 1;
        if Instant::now() >= delivery.deadline {
            total.caught_up = false;
            break;
        }
        let Some(id) = get_json::<ShopId>(store, &keys::reminder_shops_slot(slot))? else {
            continue;
        };
        if !seen.insert(id.clone()) {
            continue;
        }
        let Ok(shop) = crate::shops::load_shop(store, &id) else {
            continue;
        };
        total.shops += 1;
        // Each shop gets a share of the call: a receiver that is slow without failing
        // (answering just inside the timeout) cannot take the others' time.
        let share = Delivery {
            deadline: delivery.deadline.min(Instant::now() + SHOP_SHARE),
            ..*delivery
        };
        match dispatch(store, &share, &shop, limit, now) {
            Ok(r) => total.add(&r),
            Err(_) => {
                // Its queue stays where it was: the next call tries again.
                total.shops_failed += 1;
                total.caught_up = false;
            }
        }
    }
    Ok(total)
}

impl DispatchReport {
    /// Adds another shop's figures (`shops` is the caller's to count).
    pub fn add(&mut self, r: &DispatchReport) {
        self.shops_deferred += r.shops_deferred;
        self.examined += r.examined;
        self.messages += r.messages;
        self.steps_sent += r.steps_sent;
        self.deferred += r.deferred;
        self.suppressed += r.suppressed;
        self.retrying += r.retrying;
        self.failed += r.failed;
        self.caught_up &= r.caught_up;
    }
}

/// What a shop's queue holds that the dispatch has not passed yet, up to this hour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReminderBacklog {
    /// Queued entries waiting (a few may be due later this hour, or cancelled since).
    pub waiting: u64,
    /// When the first of them is due: the backlog's age, if it is in the past.
    pub oldest_due_at: Option<Timestamp>,
}

/// Hours the backlog reads: a week behind is late enough to say so.
const BACKLOG_HOURS: i64 = 24 * 7;

/// The shop's reminder backlog, read from its queue: one counter per hour from the dispatch
/// cursor to now (at most a week of them) and the first waiting entry.
pub fn backlog(store: &dyn Store, shop: &ShopId, now: Timestamp) -> Result<ReminderBacklog, Error> {
    let mut backlog = ReminderBacklog::default();
    let Some(cursor) = get_json::<Cursor>(store, &keys::reminder_cursor(shop))? else {
        return Ok(backlog);
    };
    let now_hour = now.as_second().div_euclid(3600);
    let mut after = cursor.after;
    let mut hour = cursor.hour;
    while hour <= now_hour && hour < cursor.hour + BACKLOG_HOURS {
        let len = store.counter(&keys::reminder_queue_counter(shop, hour))?;
        if len > after {
            backlog.waiting += (len - after) as u64;
            if backlog.oldest_due_at.is_none() {
                let first: Option<QueuedStep> =
                    get_json(store, &keys::reminder_queue_slot(shop, hour, after + 1))?;
                let hour_start = Timestamp::from_second(hour * 3600).unwrap_or(now);
                backlog.oldest_due_at = Some(first.and_then(|e| e.due).unwrap_or(hour_start));
            }
        }
        hour += 1;
        after = 0;
    }
    if hour <= now_hour && backlog.oldest_due_at.is_none() {
        // Further behind than it reads: as old as the cursor's hour.
        backlog.oldest_due_at = Timestamp::from_second(cursor.hour * 3600).ok();
    }
    Ok(backlog)
}

/// Dispatches one shop: at most `limit` queued entries looked at.
pub fn dispatch(
    store: &dyn Store,
    delivery: &Delivery,
    shop: &Shop,
    limit: usize,
    now: Timestamp,
) -> Result<DispatchReport, Error> {
    let mut report = DispatchReport::default();
    let key = keys::reminder_cursor(&shop.id);
    let stored: StoredSettings =
        get_json(store, &keys::reminder_settings(&shop.id))?.unwrap_or_default();
    let now_hour = now.as_second().div_euclid(3600);
    let mut sender = Sender {
        store,
        outbound: delivery.outbound,
        pepper: delivery.pepper,
        origin: delivery.origin,
        coupons: delivery.coupons,
        shop,
        settings: &stored.settings,
        target: stored.target(delivery.allow_private),
        now,
        customers: HashMap::new(),
        receiver_failures: 0,
    };
    let Some(start) = get_json::<Cursor>(store, &key)? else {
        report.caught_up = true;
        return Ok(report);
    };
    let mut pos = start;
    let mut hours = 0;
    loop {
        if report.examined >= limit || hours > MAX_HOURS_WALKED {
            break;
        }
        if sender.receiver_failures >= FAILURES_PER_SHOP || Instant::now() >= delivery.deadline {
            report.shops_deferred = 1;
            break;
        }
        if pos.hour > now_hour {
            report.caught_up = true;
            break;
        }
        let len = store.counter(&keys::reminder_queue_counter(&shop.id, pos.hour))?;
        // A step due later in this hour stops the cursor (not the walk) until it is due.
        let mut blocked = false;
        let mut slot = pos.after;
        while slot < len && report.examined < limit {
            if sender.receiver_failures >= FAILURES_PER_SHOP || Instant::now() >= delivery.deadline
            {
                report.shops_deferred = 1;
                break;
            }
            slot += 1;
            report.examined += 1;
            let entry: Option<QueuedStep> =
                get_json(store, &keys::reminder_queue_slot(&shop.id, pos.hour, slot))?;
            let done = match entry {
                Some(entry) => sender.handle(&entry, pos.hour, &mut report)?,
                None => true,
            };
            blocked |= !done;
            if !blocked {
                pos.after = slot;
            }
        }
        if slot < len {
            break;
        }
        if blocked || pos.hour == now_hour {
            report.caught_up = true;
            break;
        }
        pos = Cursor {
            hour: pos.hour + 1,
            after: 0,
        };
        hours += 1;
    }
    // Moved on only from where this call started: a concurrent call that got further wins.
    update_json(store, &key, |current: Option<Cursor>| {
        Ok::<_, Error>(match current {
            Some(c) if c == start && pos != start => Change::Write(pos, ()),
            _ => Change::Keep(()),
        })
    })?;
    Ok(report)
}

/// What dispatch needs while it works through one shop.
pub(super) struct Sender<'a> {
    pub(super) store: &'a dyn Store,
    pub(super) outbound: &'a dyn Outbound,
    pub(super) pepper: &'a [u8],
    pub(super) origin: &'a str,
    pub(super) coupons: &'a dyn FollowUpCoupons,
    pub(super) shop: &'a Shop,
    pub(super) settings: &'a ReminderSettings,
    /// Where messages go: None until URL and secret are set; Err when the URL is refused.
    pub(super) target: Result<Option<DeliveryTarget>, String>,
    pub(super) now: Timestamp,
    pub(super) customers: HashMap<CustomerId, Option<Customer>>,
    /// Deliveries to this shop's receiver that failed in this call.
    pub(super) receiver_failures: usize,
}

impl Sender<'_> {
    /// Handles one queued entry of the list of `hour`. False when its step is due later in
    /// that same hour (the cursor must not pass it yet).
    fn handle(
        &mut self,
        entry: &QueuedStep,
        hour: i64,
        report: &mut DispatchReport,
    ) -> Result<bool, Error> {
        let key = keys::reminder_schedule(&self.shop.id, &entry.customer, &entry.product);
        let Some(schedule) = get_json::<ReminderSchedule>(self.store, &key)? else {
            return Ok(true);
        };
        let Some(step) = schedule.steps.get(entry.step) else {
            return Ok(true);
        };
        if schedule.version != entry.version || schedule.status != ScheduleStatus::Active {
            return Ok(true);
        }
        match step.state {
            StepState::Pending => {}
            StepState::Sending { since } if since + SENDING_LEASE > self.now => {
                // Another call holds it now, or one died holding it: look again once the
                // lease has run out, so a dead claim is never the step's end.
                let free = since + SENDING_LEASE;
                if free.as_second().div_euclid(3600) <= hour {
                    return Ok(false);
                }
                queue(self.store, &self.shop.id, free, self.now, entry)?;
                return Ok(true);
            }
            // A claim whose lease ran out: its request died. Sent again below, same id.
            StepState::Sending { .. } => {}
            _ => return Ok(true),
        }
        if step.planned.at > self.now {
            // Moved to a later hour (deferred), this entry is spent; else wait for it.
            return Ok(step.planned.at.as_second().div_euclid(3600) > hour);
        }
        // A later step of the same plan is due too (the scheduler was away): only the latest
        // goes out, the earlier ones are superseded.
        let later_due = schedule.steps[entry.step + 1..]
            .iter()
            .any(|s| claimable(&s.state, self.now) && s.planned.at <= self.now);
        if later_due {
            self.settle(
                &key,
                entry,
                |_| StepState::Suppressed {
                    reason: "superseded".into(),
                },
                |a| a,
            )?;
            return Ok(true);
        }
        let customer = self.customer(&entry.customer)?;
        if let Some(reason) = self.suppression(customer.as_ref(), &schedule) {
            self.settle(
                &key,
                entry,
                |_| StepState::Suppressed {
                    reason: reason.clone(),
                },
                |a| a,
            )?;
            self.count(
                &schedule,
                if reason == "reordered" {
                    "suppressed_reordered"
                } else {
                    "suppressed"
                },
            )?;
            report.suppressed += 1;
            return Ok(true);
        }
        let Some(customer) = customer else {
            return Ok(true);
        };
        if let Some(later) = self.not_before(&customer)? {
            self.defer(&key, entry, later)?;
            report.deferred += 1;
            return Ok(true);
        }
        if !self.claim(&key, entry.version, entry.step)? {
            return Ok(true);
        }
        let mut claimed = vec![(key.clone(), entry.version, entry.step)];
        claimed.extend(self.claim_others_due(&customer, &key)?);
        if self.deliver(&customer, &claimed, report)? {
            self.receiver_failures += 1;
        }
        Ok(true)
    }

    /// Claims every other step of the customer that is due now, to go in the same message.
    fn claim_others_due(
        &self,
        customer: &Customer,
        claimed_key: &str,
    ) -> Result<Vec<(String, u64, usize)>, Error> {
        let mut claimed = Vec::new();
        for other in customer_schedules(self.store, &self.shop.id, &customer.id)? {
            let okey =
                keys::reminder_schedule(&self.shop.id, &customer.id, &product_key(&other.product));
            if okey == claimed_key || other.status != ScheduleStatus::Active {
                continue;
            }
            for (i, s) in other.steps.iter().enumerate() {
                if claimable(&s.state, self.now)
                    && s.planned.at <= self.now
                    && self.claim(&okey, other.version, i)?
                {
                    claimed.push((okey.clone(), other.version, i));
                }
            }
        }
        Ok(claimed)
    }

    fn customer(&mut self, id: &CustomerId) -> Result<Option<Customer>, Error> {
        if let Some(c) = self.customers.get(id) {
            return Ok(c.clone());
        }
        let c: Option<Customer> = get_json(self.store, &keys::customer(&self.shop.id, id))?;
        self.customers.insert(id.clone(), c.clone());
        Ok(c)
    }

    /// Why a step must not go out at all, checked again just before sending.
    fn suppression(
        &self,
        customer: Option<&Customer>,
        schedule: &ReminderSchedule,
    ) -> Option<String> {
        let Some(customer) = customer else {
            return Some("customer_unknown".into());
        };
        if customer.erased_at.is_some() {
            return Some("erased".into());
        }
        if customer.consent.marketing != Some(true) {
            return Some("no_consent".into());
        }
        let reordered = customer.products.iter().any(|p| {
            p.product == schedule.product
                && p.last_purchased_at.is_some_and(|at| at > schedule.paid_at)
        });
        if reordered {
            return Some("reordered".into());
        }
        if matches!(self.target, Ok(None)) {
            return Some("delivery_not_configured".into());
        }
        None
    }

    /// The earliest a message may go to this customer, if not now: the end of quiet hours
    /// (shop time) or the end of the frequency cap.
    fn not_before(&self, customer: &Customer) -> Result<Option<Timestamp>, Error> {
        let zone = self.shop.zone();
        let local = self.now.to_zoned(zone.clone());
        let (Ok(start), Ok(end)) = (
            local_time(&self.settings.quiet_start),
            local_time(&self.settings.quiet_end),
        ) else {
            return Ok(None);
        };
        let t = local.time();
        let quiet = if start <= end {
            t >= start && t < end
        } else {
            t >= start || t < end
        };
        let mut later: Option<Timestamp> = None;
        if quiet {
            let mut day = local.date();
            if t >= end && start > end {
                day = day.tomorrow().unwrap_or(day);
            }
            let end_at = day
                .to_datetime(end)
                .to_zoned(zone)
                .map(|z| z.timestamp())
                .unwrap_or(self.now);
            later = Some(end_at);
        }
        let cap = self.settings.frequency_cap_hours;
        if cap > 0 {
            if let Some(last) = get_json::<Timestamp>(
                self.store,
                &keys::reminder_last_sent(&self.shop.id, &customer.id),
            )? {
                let free = last + SignedDuration::from_hours(cap);
                if free > self.now {
                    later = Some(later.map_or(free, |l| l.max(free)));
                }
            }
        }
        Ok(later)
    }

    /// Moves a step later and queues it again (its entry here has been dealt with).
    pub(super) fn defer(&self, key: &str, entry: &QueuedStep, at: Timestamp) -> Result<(), Error> {
        let moved = update_json(self.store, key, |current: Option<ReminderSchedule>| {
            let Some(mut s) = current else {
                return Ok::<_, Error>(Change::Keep(false));
            };
            match s.steps.get_mut(entry.step) {
                Some(step) if s.version == entry.version && step.state == StepState::Pending => {
                    step.planned.at = at;
                    Ok(Change::Write(s, true))
                }
                _ => Ok(Change::Keep(false)),
            }
        })?;
        if moved {
            queue(self.store, &self.shop.id, at, self.now, entry)?;
        }
        Ok(())
    }

    /// Takes a pending step (or one whose claim's lease ran out) for sending; false if someone
    /// else has it or it moved on.
    fn claim(&self, key: &str, version: u64, step: usize) -> Result<bool, Error> {
        let now = self.now;
        update_json(self.store, key, |current: Option<ReminderSchedule>| {
            let Some(mut s) = current else {
                return Ok::<_, Error>(Change::Keep(false));
            };
            match s.steps.get_mut(step) {
                Some(st)
                    if s.version == version
                        && claimable(&st.state, now)
                        && st.planned.at <= now =>
                {
                    st.state = StepState::Sending { since: now };
                    Ok(Change::Write(s, true))
                }
                _ => Ok(Change::Keep(false)),
            }
        })
    }

    /// Sets the state of a claimed (or pending) step.
    pub(super) fn settle(
        &self,
        key: &str,
        entry: &QueuedStep,
        state: impl Fn(&ReminderSchedule) -> StepState,
        attempts: impl Fn(i64) -> i64,
    ) -> Result<Option<ReminderSchedule>, Error> {
        update_json(self.store, key, |current: Option<ReminderSchedule>| {
            let Some(mut s) = current else {
                return Ok::<_, Error>(Change::Keep(None));
            };
            if s.version != entry.version || entry.step >= s.steps.len() {
                return Ok(Change::Keep(None));
            }
            let new_state = state(&s);
            let step = &mut s.steps[entry.step];
            step.attempts = attempts(step.attempts);
            step.state = new_state;
            s.updated_at = self.now;
            Ok(Change::Write(s.clone(), Some(s)))
        })
    }

    /// Counts a statistic for the shop and for the schedule's product.
    pub(super) fn count(&self, schedule: &ReminderSchedule, stat: &str) -> Result<(), Error> {
        count(
            self.store,
            &self.shop.id,
            &product_key(&schedule.product),
            stat,
            1,
        )
    }
}

/// A step that may be claimed: pending, or claimed by a request whose lease ran out.
fn claimable(state: &StepState, now: Timestamp) -> bool {
    match state {
        StepState::Pending => true,
        StepState::Sending { since } => *since + SENDING_LEASE <= now,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reminders::StepKind;
    use crate::reminders::{PlannedStep, ReminderStep};

    #[test]
    fn steps_round_trip_in_every_state() {
        let at: Timestamp = "2026-12-15T02:00:00Z".parse().unwrap();
        for state in [
            StepState::Pending,
            StepState::Sending { since: at },
            StepState::Sent { sent_at: at },
            StepState::Suppressed {
                reason: "reordered".into(),
            },
            StepState::Failed {
                error: "HTTP 503".into(),
            },
        ] {
            let step = ReminderStep {
                planned: PlannedStep {
                    kind: StepKind::Reminder { n: 1 },
                    at,
                },
                state,
                attempts: 1,
            };
            let text = serde_json::to_string(&step).unwrap();
            let back: ReminderStep =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(back, step);
        }
    }
}
