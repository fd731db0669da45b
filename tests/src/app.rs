//! The whole app in-process: requests go to the handler of the component spin.toml routes
//! them to, over one shared in-memory store, exactly as the Spin components call them.

use std::sync::{Arc, Mutex};

use http::Method;
use jiff::Timestamp;
use serde_json::Value;
use siyu::store::MemoryStore;
use siyu::web::{serve, Env, Handler, Request, Response, Secrets};

use crate::routes::Manifest;

pub const OPERATOR_TOKEN: &str = "test-operator-token";
pub const PEPPER: &str = "test-pepper-0123456789abcdef";

/// The handler each component of spin.toml runs.
pub fn handler_of(component: &str) -> Handler {
    match component {
        "shops" => siyu::api::shops::handle,
        "customers" => siyu::api::customers::handle,
        "ingest" => siyu::api::ingest::handle,
        "fallback" => siyu::api::fallback::handle,
        other => panic!("spin.toml names component {other:?} that the tests do not know"),
    }
}

pub struct TestApp {
    pub store: Arc<MemoryStore>,
    pub secrets: Secrets,
    manifest: Manifest,
    now: Mutex<Timestamp>,
}

impl Default for TestApp {
    fn default() -> Self {
        Self::new()
    }
}

/// A created shop and what its creation returned.
#[derive(Debug, Clone)]
pub struct TestShop {
    pub id: String,
    pub api_key: String,
    pub generic_secret: String,
}

impl TestApp {
    pub fn new() -> Self {
        Self {
            store: Arc::new(MemoryStore::new()),
            secrets: Secrets {
                operator_token: Some(OPERATOR_TOKEN.to_string()),
                pii_pepper: Some(PEPPER.to_string()),
            },
            manifest: Manifest::load(),
            now: Mutex::new(Timestamp::now()),
        }
    }

    pub fn now(&self) -> Timestamp {
        *self.now.lock().unwrap()
    }

    pub fn set_now(&self, now: Timestamp) {
        *self.now.lock().unwrap() = now;
    }

    pub fn send(&self, req: Request) -> Response {
        let component = self
            .manifest
            .component_for(req.uri().path())
            .expect("spin.toml routes every path (fallback)");
        let env = Env {
            store: self.store.as_ref(),
            secrets: &self.secrets,
            now: self.now(),
        };
        serve(&req, &env, handler_of(component))
    }

    /// Sends and decodes a JSON answer; panics on a 5xx, which no test expects.
    pub fn call(&self, req: Request) -> (u16, Value) {
        let response = self.send(req);
        let status = response.status().as_u16();
        let body: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        assert!(status < 500, "server error {status}: {body}");
        (status, body)
    }

    pub fn get(&self, path: &str, api_key: &str) -> (u16, Value) {
        self.call(request(Method::GET, path, Some(api_key), Vec::new()))
    }

    pub fn create_shop(&self, body: Value) -> TestShop {
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
    pub fn shop_with_all_platforms(&self) -> TestShop {
        self.create_shop(crate::platforms::shop_body("Tea House"))
    }
}

pub fn request(method: Method, path: &str, bearer: Option<&str>, body: Vec<u8>) -> Request {
    let mut builder = http::Request::builder().method(method).uri(path);
    if let Some(token) = bearer {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(body).unwrap()
}
