//! Repurchase reminders: a customer who bought a 30-day supply should hear from the shop a
//! few days before it runs out, at a sensible local hour, and once more after it has run out
//! (the follow-up, which may carry a coupon).
//!
//! `profile` holds the calendar arithmetic, `settings` a shop's profiles and delivery,
//! `schedules` the plans per customer and product, `dispatch` the delivery worker (quiet
//! hours, caps, signed messages, retries) and `tokens` the unsubscribe links. Orders plan and
//! cancel through `flows::order_settled`; a follow-up's coupon comes through
//! `flows::reminders_due`.

mod dispatch;
mod message;
mod profile;
mod schedules;
mod settings;
mod stats;
mod tokens;

pub use dispatch::{
    backlog, dispatch, dispatch_all, Delivery, DispatchReport, FollowUpCoupons, ReminderBacklog,
};
pub use message::{MessageCoupon, MessageCustomer};
pub use stats::{stats, ReminderStats};

pub use profile::*;
pub use schedules::*;
pub use settings::*;
pub use tokens::*;
