//! Test support for Siyu: the app routed as spin.toml routes it, over an in-memory store,
//! and sample webhook deliveries for each platform, written from the platforms' documented
//! formats and signed the way each platform signs.

pub mod app;
pub mod client;
pub mod conformance;
pub mod contract;
pub mod coupon_scenarios;
pub mod host;
pub mod platforms;
pub mod processes;
pub mod qr_decode;
pub mod receiver;
pub mod redis_server;
pub mod reminder_scenarios;
pub mod routes;
pub mod scenarios;
pub mod spin_up;
pub mod tagging_scenarios;
pub mod wasm;
