//! One interface to the app for the scenarios, whichever way it runs: in-process handlers
//! over the in-memory store (`app::TestApp`) or the real `.wasm` components in wasmtime over
//! SQLite (`wasm::SharedHost`). Each scenario is written once and run both ways.

use http::Method;
use jiff::Timestamp;
use serde_json::Value;
use siyu::web::Request;

use crate::app::{request, TestShop, OPERATOR_TOKEN};

/// An answer, with how many key-value writes the request made.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
    pub writes: u64,
}

/// The store writes a component reported in its `x-siyu-store-ops` header (the app's own
/// count through the `Store` trait, the same on every store; on when `report_store_ops`).
pub fn reported_writes(headers: &http::HeaderMap) -> u64 {
    let value = headers
        .get(STORE_OPS_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {STORE_OPS_HEADER} header: is report_store_ops on?"));
    value
        .split(',')
        .find_map(|part| part.trim().strip_prefix("writes="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable store ops header {value:?}"))
}

pub const STORE_OPS_HEADER: &str = "x-siyu-store-ops";

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

pub trait Client: Sync {
    /// Sends a request. A trap or host failure panics; a 5xx is returned (see `call`).
    fn send(&self, req: Request) -> Reply;

    /// Every stored key and value (lossy text) of one shop.
    fn dump_shop(&self, shop_id: &str) -> Vec<(String, String)>;

    /// The clock the app reads.
    fn now(&self) -> Timestamp;

    /// True where the server sets `spin-client-addr` from the connection (real Spin), so a
    /// test cannot pose as another address.
    fn client_address_is_real(&self) -> bool {
        false
    }

    /// True where the app reads the real clock while a scenario runs (real Spin), so time
    /// passes between requests.
    fn clock_is_real(&self) -> bool {
        false
    }

    /// What the runner can tell about a failure (e.g. the server's log), for messages.
    fn diagnostics(&self) -> String {
        String::new()
    }

    /// Sends and decodes a JSON answer; a 5xx fails the test, as no scenario expects one.
    fn call(&self, req: Request) -> (u16, Value) {
        let reply = self.send(req);
        let body = reply.json();
        assert!(
            reply.status < 500,
            "server error {}: {body}\n{}",
            reply.status,
            self.diagnostics()
        );
        (reply.status, body)
    }

    /// Sends a request as if it arrived at `at` (the app's clock reads `at` while serving it).
    fn call_at(&self, mut req: Request, at: Timestamp) -> (u16, Value) {
        req.headers_mut().insert(
            crate::host::TEST_CLOCK_HEADER,
            at.to_string()
                .parse()
                .expect("an instant is a header value"),
        );
        self.call(req)
    }

    fn get(&self, path: &str, api_key: &str) -> (u16, Value) {
        self.call(request(Method::GET, path, Some(api_key), Vec::new()))
    }

    fn create_shop(&self, body: Value) -> TestShop {
        let (status, created) = self.call(request(
            Method::POST,
            "/api/shops",
            Some(OPERATOR_TOKEN),
            body.to_string().into_bytes(),
        ));
        assert_eq!(status, 201, "{created}");
        TestShop {
            id: created["shop"]["id"].as_str().unwrap().to_string(),
            api_key: created["api_key"].as_str().unwrap().to_string(),
            generic_secret: created["generic_webhook_secret"]
                .as_str()
                .unwrap()
                .to_string(),
        }
    }

    /// A shop with credentials for every platform (see `platforms` for the secrets).
    fn shop_with_all_platforms(&self) -> TestShop {
        self.create_shop(crate::platforms::shop_body("Tea House"))
    }
}
