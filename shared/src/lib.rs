//! Siyu's shared crate: domain types, rules, storage access and the request handlers every
//! Spin component calls. Nothing here names spin-sdk, so host tests drive it end to end.

pub mod api;
pub mod applog;
pub mod channels;
pub mod coupons;
pub mod crypto;
pub mod customers;
pub mod domain;
pub mod error;
pub mod flows;
pub mod json;
pub mod keys;
pub mod orders;
pub mod outbound;
pub mod pii;
pub mod qr;
pub mod reminders;
pub mod rfm;
pub mod shops;
pub mod store;
pub mod tagging;
pub mod tags;
pub mod web;
pub mod webhooks;
pub mod wecom;
