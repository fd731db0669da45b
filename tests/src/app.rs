//! The whole app in-process: requests go to the handler of the component spin.toml routes
//! them to, over one shared in-memory store, exactly as the Spin components call them.

use std::sync::{Arc, Mutex};

use http::Method;
use jiff::Timestamp;
use siyu::store::MemoryStore;
use siyu::web::{serve, ClientAddressing, Deployment, Env, Handler, Request, Secrets};

use crate::client::{Client, Reply};

use crate::routes::Manifest;

pub const OPERATOR_TOKEN: &str = "test-operator-token";
pub const PEPPER: &str = "test-pepper-0123456789abcdef";
pub const SCHEDULER_TOKEN: &str = "test-scheduler-token";

/// Real outgoing HTTP for the in-process app (the wasm host has its own): loopback
/// receivers in the tests, short timeouts, any status returned as is.
pub struct HttpOutbound {
    agent: ureq::Agent,
}

impl Default for HttpOutbound {
    fn default() -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(5)))
            .http_status_as_error(false)
            .build()
            .into();
        Self { agent }
    }
}

impl siyu::outbound::Outbound for HttpOutbound {
    fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        timeout: std::time::Duration,
    ) -> Result<u16, String> {
        let mut request = self
            .agent
            .post(url)
            .config()
            .timeout_global(Some(timeout))
            .build();
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        request
            .send(body)
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    }
}

/// The handler each component of spin.toml runs.
pub fn handler_of(component: &str) -> Handler {
    match component {
        "shops" => siyu::api::shops::handle,
        "customers" => siyu::api::customers::handle,
        "ingest" => siyu::api::ingest::handle,
        "fallback" => siyu::api::fallback::handle,
        "lead-capture" => siyu::api::lead_capture::handle,
        "scan" => siyu::api::scan::handle,
        "tagging" => siyu::api::tagging::handle,
        "coupons" => siyu::api::coupons::handle,
        "reminders" => siyu::api::reminders::handle,
        "jobs" => siyu::api::jobs::handle,
        "console" => siyu::api::console::handle,
        other => panic!("spin.toml names component {other:?} that the tests do not know"),
    }
}

pub struct TestApp {
    pub store: Arc<MemoryStore>,
    pub secrets: Secrets,
    /// As spin.toml sets it up (loopback receivers allowed), unless a test changes it.
    pub deployment: Deployment,
    manifest: Manifest,
    now: Mutex<Timestamp>,
    outbound: HttpOutbound,
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
            secrets: Secrets::new(
                Some(OPERATOR_TOKEN.to_string()),
                Some(PEPPER.to_string()),
                Some(SCHEDULER_TOKEN.to_string()),
            ),
            deployment: Deployment {
                client_addressing: ClientAddressing::default(),
                allow_private_delivery: true,
                ..Deployment::default()
            },
            outbound: HttpOutbound::default(),
            manifest: Manifest::load(),
            now: Mutex::new(Timestamp::now()),
        }
    }

    pub fn set_now(&self, now: Timestamp) {
        *self.now.lock().unwrap() = now;
    }
}

impl Client for TestApp {
    fn send(&self, mut req: Request) -> Reply {
        let now = match req.headers_mut().remove(crate::host::TEST_CLOCK_HEADER) {
            Some(at) => at
                .to_str()
                .ok()
                .and_then(|v| v.parse().ok())
                .expect("the test clock header holds an RFC 3339 instant"),
            None => self.now(),
        };
        // As Spin does: every request says the URL it was made to.
        if !req.headers().contains_key("spin-full-url") {
            let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let full_url = format!("http://127.0.0.1:3000{path}");
            req.headers_mut()
                .insert("spin-full-url", full_url.parse().expect("a URL header"));
        }
        // In-process callers play the network and may say who the client is; otherwise
        // this machine, as for the wasm host.
        if !req.headers().contains_key("spin-client-addr") {
            req.headers_mut().insert(
                "spin-client-addr",
                "127.0.0.1:50000".parse().expect("an address"),
            );
        }
        let component = self
            .manifest
            .component_for(req.uri().path())
            .expect("spin.toml routes every path (fallback)");
        let env = Env {
            store: self.store.as_ref(),
            secrets: &self.secrets,
            now,
            outbound: &self.outbound,
            deployment: &self.deployment,
        };
        let before = self.store.op_counts().writes;
        let response = serve(&req, &env, component, handler_of(component));
        let (parts, body) = response.into_parts();
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
            writes: self.store.op_counts().writes - before,
        }
    }

    fn dump_shop(&self, shop_id: &str) -> Vec<(String, String)> {
        let prefix = format!("s/{shop_id}/");
        self.store
            .dump()
            .into_iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .collect()
    }

    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap()
    }
}

pub fn request(method: Method, path: &str, bearer: Option<&str>, body: Vec<u8>) -> Request {
    let mut builder = http::Request::builder().method(method).uri(path);
    if let Some(token) = bearer {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(body).unwrap()
}
