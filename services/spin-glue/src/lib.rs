//! Runs a `siyu` handler inside a Spin component: opens the `default` key-value store, reads
//! the Spin variables, and hands both to the shared request handling.

use std::cell::OnceCell;

use siyu::store::{check_key, decode_counter, Store, StoreError, StoreResult};
use siyu::web::{serve, Env, Handler, Request, Response, Secrets};
use spin_sdk::key_value;
use spin_sdk::wit::wasi::keyvalue::{atomics, store as wasi_store};

/// Spin's `default` store: plain operations through `fermyon:spin/key-value`, atomic ones
/// through `wasi:keyvalue/atomics`. Each is opened on first use, so a component that never
/// touches storage needs no store at all.
#[derive(Default)]
pub struct SpinStore {
    store: OnceCell<key_value::Store>,
    bucket: OnceCell<wasi_store::Bucket>,
}

fn backend<E: std::fmt::Debug>(err: E) -> StoreError {
    StoreError::Backend(format!("{err:?}"))
}

impl SpinStore {
    fn store(&self) -> StoreResult<&key_value::Store> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let store = key_value::Store::open_default().map_err(backend)?;
        Ok(self.store.get_or_init(|| store))
    }

    fn bucket(&self) -> StoreResult<&wasi_store::Bucket> {
        if let Some(bucket) = self.bucket.get() {
            return Ok(bucket);
        }
        let bucket = wasi_store::open("default").map_err(backend)?;
        Ok(self.bucket.get_or_init(|| bucket))
    }
}

impl Store for SpinStore {
    fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        check_key(key)?;
        self.store()?.get(key).map_err(backend)
    }

    fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        check_key(key)?;
        self.store()?.set(key, value).map_err(backend)
    }

    fn delete(&self, key: &str) -> StoreResult<()> {
        check_key(key)?;
        self.store()?.delete(key).map_err(backend)
    }

    fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        check_key(key)?;
        atomics::increment(self.bucket()?, key, delta).map_err(backend)
    }

    fn counter(&self, key: &str) -> StoreResult<i64> {
        check_key(key)?;
        match self.store()?.get(key).map_err(backend)? {
            None => Ok(0),
            Some(bytes) => decode_counter(key, &bytes),
        }
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> StoreResult<bool> {
        check_key(key)?;
        let cas = atomics::Cas::new(self.bucket()?, key).map_err(backend)?;
        if cas.current().map_err(backend)?.as_deref() != expected {
            return Ok(false);
        }
        match atomics::swap(cas, new) {
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(e)) => Err(backend(e)),
        }
    }
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
    let store = SpinStore::default();
    let env = Env {
        store: &store,
        secrets: &secrets,
        now: jiff::Timestamp::now(),
        outbound: &SpinOutbound,
    };
    serve(&req, &env, handler)
}

/// Outgoing HTTP through Spin (`wasi:http/outgoing-handler`): Spin refuses hosts the
/// component's `allowed_outbound_hosts` does not list.
struct SpinOutbound;

impl siyu::web::Outbound for SpinOutbound {
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
