//! A reminder message: the claimed steps of one customer made into one signed message,
//! posted to the shop's delivery URL, and each step settled by what the receiver answered
//! (sent, failed for good, or retried after a backoff).

use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::Serialize;

use super::dispatch::{DispatchReport, Sender};
use super::{product_key, QueuedStep, ReminderSchedule, StepKind, StepState};
use crate::customers::Customer;
use crate::domain::{CouponCode, CustomerId, Platform, ShopId};
use crate::error::Error;
use crate::keys;
use crate::outbound::post_signed;
use crate::store::{get_json, update_json, Change};

/// Minutes until the next attempt after the n-th failed one.
const BACKOFF_MINUTES: [i64; 6] = [1, 5, 30, 120, 360, 720];

/// The message a shop's delivery URL receives (documented in the README).
#[derive(Debug, Serialize, JsonSchema)]
struct Message {
    message_id: String,
    shop_id: ShopId,
    sent_at: Timestamp,
    customer: MessageCustomer,
    items: Vec<MessageItem>,
    coupon: Option<MessageCoupon>,
    unsubscribe_url: String,
}

/// Who a message is for, with the contact details to reach them by (every message to the
/// shop's delivery URL names its customer this way).
#[derive(Debug, Serialize, JsonSchema)]
pub struct MessageCustomer {
    id: CustomerId,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    wecom_external_id: Option<String>,
}

impl MessageCustomer {
    pub fn of(customer: &Customer) -> Self {
        Self {
            id: customer.id.clone(),
            first_name: customer.first_name.clone(),
            last_name: customer.last_name.clone(),
            phone: customer.phone.as_ref().map(|p| p.as_str().to_string()),
            email: customer.email.as_ref().map(|e| e.as_str().to_string()),
            wecom_external_id: customer
                .platform_ids
                .iter()
                .find(|p| p.platform == Platform::Wecom)
                .map(|p| p.id.as_str().to_string()),
        }
    }

    /// Whether the message can reach them at all.
    pub fn reachable(&self) -> bool {
        self.phone.is_some() || self.email.is_some() || self.wecom_external_id.is_some()
    }
}

#[derive(Debug, Serialize, JsonSchema)]
struct MessageItem {
    product_id: Option<String>,
    variant_id: Option<String>,
    sku: Option<String>,
    title: Option<String>,
    #[serde(flatten)]
    kind: StepKind,
    runs_out_on: jiff::civil::Date,
}

/// A step this dispatch claimed, with its schedule as read when the message was made.
struct ClaimedStep {
    key: String,
    version: u64,
    step: usize,
    schedule: ReminderSchedule,
}

/// What one message holds: its steps, their items, the follow-up's coupon.
struct Gathered {
    steps: Vec<ClaimedStep>,
    items: Vec<MessageItem>,
    coupon: Option<MessageCoupon>,
}

/// What the delivery URL made of a message.
struct PostOutcome {
    sent: bool,
    permanent: bool,
    error: String,
}

/// The coupon a follow-up message carries.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MessageCoupon {
    pub code: CouponCode,
    pub valid_until: Option<Timestamp>,
}

impl Sender<'_> {
    /// Sends the claimed steps as one message and settles each; true when the receiver did
    /// not take it (unreachable, timed out, or an error it may recover from).
    pub(super) fn deliver(
        &self,
        customer: &Customer,
        claimed: &[(String, u64, usize)],
        report: &mut DispatchReport,
    ) -> Result<bool, Error> {
        let Gathered {
            steps: schedules,
            items,
            coupon,
        } = self.gather(customer, claimed)?;
        let Some(first) = schedules.first() else {
            return Ok(false);
        };
        let message_id = format!(
            "{}.{}.{}.{}.{}",
            self.shop.id,
            customer.id,
            product_key(&first.schedule.product),
            first.version,
            first.step
        );
        let message = self.message(customer, message_id.clone(), items, coupon);
        let outcome = self.post_signed(&message_id, &message)?;
        if outcome.sent {
            self.note_sent(customer)?;
            report.messages += 1;
        }
        for claimed in &schedules {
            self.settle_step(customer, claimed, &outcome, report)?;
        }
        Ok(!outcome.sent && !outcome.permanent)
    }

    /// The claimed steps still planned as claimed, what the message says of each, and the
    /// coupon the first follow-up with a campaign brings.
    fn gather(
        &self,
        customer: &Customer,
        claimed: &[(String, u64, usize)],
    ) -> Result<Gathered, Error> {
        let mut items = Vec::new();
        let mut schedules = Vec::new();
        let mut coupon = None;
        for (key, version, step) in claimed {
            let Some(s) = get_json::<ReminderSchedule>(self.store, key)? else {
                continue;
            };
            // Replanned since the claim (a new order): the claim went with the old plan.
            if s.version != *version || *step >= s.steps.len() {
                continue;
            }
            let kind = s.steps[*step].planned.kind;
            if kind == StepKind::FollowUp && coupon.is_none() {
                if let Some(campaign) = &s.follow_up_campaign {
                    let idem = format!(
                        "reminder:{}:{}:{version}",
                        customer.id,
                        product_key(&s.product)
                    );
                    coupon =
                        self.coupons
                            .issue(&self.shop.id, campaign, &customer.id, &idem, self.now);
                }
            }
            items.push(MessageItem {
                product_id: s.product.product_id.clone(),
                variant_id: s.product.variant_id.clone(),
                sku: s.product.sku.clone(),
                title: s.title.clone(),
                kind,
                runs_out_on: s.run_out,
            });
            schedules.push(ClaimedStep {
                key: key.clone(),
                version: *version,
                step: *step,
                schedule: s,
            });
        }
        Ok(Gathered {
            steps: schedules,
            items,
            coupon,
        })
    }

    fn message(
        &self,
        customer: &Customer,
        message_id: String,
        items: Vec<MessageItem>,
        coupon: Option<MessageCoupon>,
    ) -> Message {
        let token = super::unsubscribe_token(self.pepper, &self.shop.id, &customer.id);
        Message {
            message_id,
            shop_id: self.shop.id.clone(),
            sent_at: self.now,
            customer: MessageCustomer::of(customer),
            items,
            coupon,
            unsubscribe_url: format!("{}/r/u/{token}", self.origin),
        }
    }

    /// Posts the message to the shop's delivery URL, signed with its secret.
    fn post_signed(&self, message_id: &str, message: &Message) -> Result<PostOutcome, Error> {
        let body =
            serde_json::to_vec(message).map_err(|e| Error::internal(format!("message: {e}")))?;
        // Suppression (checked before claiming) leaves only a set target, or a refused URL.
        let target = match &self.target {
            Ok(Some(target)) => target,
            Ok(None) => return Err(Error::internal("a message was claimed with no target")),
            Err(why) => {
                return Ok(PostOutcome {
                    sent: false,
                    permanent: true,
                    error: format!("delivery_url refused: {why}"),
                })
            }
        };
        let outcome = post_signed(self.outbound, target, message_id, &body, self.now);
        Ok(PostOutcome {
            sent: matches!(outcome, Ok(status) if (200..300).contains(&status)),
            // The receiver refused the message itself: retrying would not help.
            permanent: matches!(outcome, Ok(status) if (400..500).contains(&status) && status != 408 && status != 429),
            error: match outcome {
                Ok(status) => format!("HTTP {status}"),
                Err(e) => e,
            },
        })
    }

    /// Compare-and-swap, keeping the latest: a slower dispatch that sent earlier must not
    /// move the customer's last message back and open the frequency cap.
    fn note_sent(&self, customer: &Customer) -> Result<(), Error> {
        let now = self.now;
        update_json(
            self.store,
            &keys::reminder_last_sent(&self.shop.id, &customer.id),
            |current: Option<Timestamp>| {
                Ok::<_, Error>(match current {
                    Some(last) if last >= now => Change::Keep(()),
                    _ => Change::Write(now, ()),
                })
            },
        )
    }

    /// Records what became of one step of the message: sent, failed for good, or retried
    /// after a backoff.
    fn settle_step(
        &self,
        customer: &Customer,
        claimed: &ClaimedStep,
        outcome: &PostOutcome,
        report: &mut DispatchReport,
    ) -> Result<(), Error> {
        let ClaimedStep {
            key,
            version,
            step,
            schedule,
        } = claimed;
        let (version, step) = (*version, *step);
        let entry = QueuedStep {
            customer: customer.id.clone(),
            product: product_key(&schedule.product),
            version,
            step,
            due: None,
        };
        let attempts = schedule.steps[step].attempts + 1;
        if outcome.sent {
            self.settle(
                key,
                &entry,
                |_| StepState::Sent { sent_at: self.now },
                |a| a + 1,
            )?;
            self.count(schedule, "sent")?;
            report.steps_sent += 1;
        } else if outcome.permanent || attempts >= self.settings.max_attempts {
            let failed = |_: &ReminderSchedule| StepState::Failed {
                error: outcome.error.clone(),
            };
            self.settle(key, &entry, failed, |a| a + 1)?;
            self.count(schedule, "failed")?;
            report.failed += 1;
        } else {
            let wait = BACKOFF_MINUTES[((attempts - 1) as usize).min(BACKOFF_MINUTES.len() - 1)];
            let at = self.now + SignedDuration::from_mins(wait);
            self.settle(key, &entry, |_| StepState::Pending, |a| a + 1)?;
            self.defer(key, &entry, at)?;
            report.retrying += 1;
        }
        Ok(())
    }
}
