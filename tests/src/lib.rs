//! Test support for Siyu: the app routed as spin.toml routes it, over an in-memory store,
//! and sample webhook deliveries for each platform, written from the platforms' documented
//! formats and signed the way each platform signs.

pub mod app;
pub mod bench;
pub mod client;
pub mod conformance;
pub mod contract;
pub mod host;
pub mod platforms;
pub mod processes;
pub mod qr_decode;
pub mod receiver;
pub mod redis_server;
pub mod routes;
pub mod scenarios;
pub mod spin_up;
pub mod wasm;
pub mod webdriver;
