//! The only place where one feature's change causes another's. Features (tagging, coupons,
//! channels, reminders) each report what happened; a flow decides what follows and in what
//! order, and that order is what keeps it crash-safe: every step is idempotent, and the step
//! that marks the work done comes last, so a retry finishes what a crash left.

pub mod customer_changed;
pub mod erasure;
pub mod lead_captured;
pub mod order_settled;
pub mod phone_verification;
pub mod reminders_due;
