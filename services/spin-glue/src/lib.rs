//! Runs a `siyu` handler inside a Spin component: opens the store this build was made for,
//! reads the Spin variables, and hands both to the shared request handling.

#[cfg(any(
    all(feature = "kv", feature = "redis"),
    all(feature = "kv", feature = "sqlite"),
    all(feature = "redis", feature = "sqlite"),
    not(any(feature = "kv", feature = "redis", feature = "sqlite"))
))]
compile_error!("build with exactly one store feature: kv, redis or sqlite");

#[cfg(feature = "kv")]
pub mod kv;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use siyu::store::{CountingStore, StoreError};
use siyu::web::{serve, Env, Handler, Request, Response, Secrets};

fn backend<E: std::fmt::Debug>(err: E) -> StoreError {
    StoreError::Backend(format!("{err:?}"))
}

/// The store this build keeps data in, opened lazily on first use.
#[cfg(feature = "kv")]
pub fn open_store() -> kv::SpinKvStore {
    kv::open()
}

#[cfg(feature = "redis")]
pub fn open_store() -> redis::RedisStore {
    redis::RedisStore::new(variable("redis_url"))
}

#[cfg(feature = "sqlite")]
pub fn open_store() -> sqlite::SqliteStore {
    sqlite::SqliteStore::default()
}

fn variable(name: &str) -> Option<String> {
    spin_sdk::variables::get(name)
        .ok()
        .filter(|v| !v.is_empty())
}

/// The whole body of a Siyu component.
pub fn run(req: Request, handler: Handler) -> Response {
    let secrets = Secrets {
        operator_token: variable("operator_token"),
        pii_pepper: variable("pii_pepper"),
        scheduler_token: variable("scheduler_token"),
    };
    let backend = open_store();
    let store = CountingStore::new(&backend);
    let env = Env {
        store: &store,
        secrets: &secrets,
        now: jiff::Timestamp::now(),
        outbound: &SpinOutbound,
    };
    let mut response = serve(&req, &env, handler);
    // For tests and operators measuring a deployment: what the request cost the store.
    if variable("report_store_ops").as_deref() == Some("true") {
        let ops = store.op_counts();
        let value = format!("reads={}, writes={}", ops.reads, ops.writes);
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(STORE_OPS_HEADER, value);
        }
    }
    response
}

/// Response header with the store operations a request made, when `report_store_ops` is on.
pub const STORE_OPS_HEADER: &str = "x-siyu-store-ops";

/// Outgoing HTTP through Spin (`wasi:http/outgoing-handler`): Spin refuses hosts the
/// component's `allowed_outbound_hosts` does not list.
struct SpinOutbound;

impl siyu::outbound::Outbound for SpinOutbound {
    fn post(&self, url: &str, headers: &[(String, String)], body: &[u8]) -> Result<u16, String> {
        let mut builder = spin_sdk::http::Request::builder();
        builder.method(spin_sdk::http::Method::Post).uri(url);
        for (name, value) in headers {
            builder.header(name.as_str(), value.as_str());
        }
        // A length, not chunks: the simplest receivers (and some gateways) need it.
        builder.header("content-length", body.len().to_string());
        let request = builder.body(body.to_vec()).build();
        let response: spin_sdk::http::Response =
            spin_sdk::http::run(spin_sdk::http::send(request)).map_err(|e| format!("{e}"))?;
        Ok(*response.status())
    }
}
