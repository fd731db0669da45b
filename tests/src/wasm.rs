//! One Spin-compatible host per test process, shared by its tests (each works in its own
//! shop, so they do not see each other's data).

use std::sync::{Arc, OnceLock};

use jiff::Timestamp;

use crate::app::{OPERATOR_TOKEN, PEPPER, SCHEDULER_TOKEN};
use crate::client::{Client, Reply};
use crate::host::{ExtraComponent, WasmApp, WasmAppOptions, WasmResponse};

pub struct SharedHost {
    pub runtime: tokio::runtime::Runtime,
    pub app: Arc<WasmApp>,
}

/// The host with the test variables, started (and the components built) on first use.
pub fn host() -> &'static SharedHost {
    static HOST: OnceLock<SharedHost> = OnceLock::new();
    HOST.get_or_init(|| SharedHost::start(None))
}

/// A host of its own, for a test that must see no other test's shops (the scheduler's call
/// reaches every shop of its store).
pub fn own_host() -> SharedHost {
    SharedHost::start(None)
}

/// A second host whose every compare-and-swap pauses 20 ms between `current` and the swap,
/// so requests racing on one key overlap every time (see `WasmAppOptions::cas_pause`).
pub fn pausing_host() -> &'static SharedHost {
    static HOST: OnceLock<SharedHost> = OnceLock::new();
    HOST.get_or_init(|| SharedHost::start(Some(std::time::Duration::from_millis(20))))
}

impl SharedHost {
    fn start(cas_pause: Option<std::time::Duration>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(8)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let options = WasmAppOptions {
            variables: [
                ("operator_token".to_string(), OPERATOR_TOKEN.to_string()),
                ("pii_pepper".to_string(), PEPPER.to_string()),
                ("scheduler_token".to_string(), SCHEDULER_TOKEN.to_string()),
                ("report_store_ops".to_string(), "true".to_string()),
                // Scenarios count what their own scheduler calls did: no background slices
                // (real `spin up` tests them, tests/real_spin.rs).
                ("self_schedule".to_string(), "false".to_string()),
                // Deliveries go to receivers the tests run on loopback.
                (
                    "delivery_hosts".to_string(),
                    "http://127.0.0.1:*".to_string(),
                ),
            ]
            .into(),
            extra_components: ["empty", "increment", "trap", "outbound"]
                .into_iter()
                .map(|name| {
                    let mut extra = ExtraComponent::fixture(name)
                        .unwrap_or_else(|e| panic!("fixture {name}: {e:#}"));
                    if name == "outbound" {
                        // Loopback only, by IP: `localhost` stays refused, for the test.
                        extra.allowed_outbound_hosts = vec!["http://127.0.0.1:*".into()];
                    }
                    extra
                })
                .collect(),
            cas_pause,
            ..WasmAppOptions::default()
        };
        let app = WasmApp::start(options)
            .unwrap_or_else(|e| panic!("the wasm host did not start: {e:#}"));
        SharedHost {
            runtime,
            app: Arc::new(app),
        }
    }
}

impl Client for SharedHost {
    fn send(&self, req: http::Request<Vec<u8>>) -> Reply {
        let response = self
            .runtime
            .block_on(self.app.handle(req))
            .unwrap_or_else(|e| panic!("component failed: {e:#}"));
        assert_eq!(
            response.ops.key_listings, 0,
            "{} listed every key",
            response.component
        );
        Reply {
            status: response.status,
            writes: crate::client::reported_writes(&response.headers),
            headers: response.headers,
            body: response.body,
        }
    }

    fn dump_shop(&self, shop_id: &str) -> Vec<(String, String)> {
        self.app
            .kv()
            .dump_logical("default", &format!("s/{shop_id}/"))
            .expect("reading the SQLite store")
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect()
    }

    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

impl SharedHost {
    /// Sends a request and returns the host's whole answer (component, key-value operations).
    pub fn send_raw(&self, req: http::Request<Vec<u8>>) -> anyhow::Result<WasmResponse> {
        self.runtime.block_on(self.app.handle(req))
    }
}
