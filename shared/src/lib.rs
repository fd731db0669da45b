//! Siyu's shared crate: domain types, storage access, the records and features, the flows
//! that tie features together, the platform adapters and the request handlers every Spin
//! component calls. Nothing here names spin-sdk, so host tests drive it end to end. Modules
//! import only downwards through those layers (README's Layout; `tests/layers.rs` checks).

pub mod api;
pub mod applog;
pub mod channels;
pub mod coupons;
pub mod crypto;
pub mod customers;
pub mod domain;
pub mod error;
pub mod expiry;
pub mod flows;
pub mod jobs;
pub mod json;
pub mod keys;
pub mod lease;
pub mod orders;
pub mod outbound;
pub mod pii;
pub mod qr;
pub mod rate_limit;
pub mod reminders;
pub mod rfm;
pub mod shops;
pub mod store;
pub mod tagging;
pub mod tags;
pub mod web;
pub mod webhooks;
pub mod wecom;
