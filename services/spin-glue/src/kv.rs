//! Spin's key-value store `default` (spin.toml), through `siyu::store::RegisterStore`, which
//! keeps the `Store` contract exact on what Spin's key-value store really does.

use std::cell::OnceCell;

use siyu::store::{RegisterStore, SpinKv, StoreResult, SwapOutcome};
use spin_sdk::key_value;
use spin_sdk::wit::wasi::keyvalue::{atomics, store as wasi_store};

use crate::backend;

pub type SpinKvStore = RegisterStore<SpinKeyValue>;

pub fn open() -> SpinKvStore {
    RegisterStore::new(SpinKeyValue::default())
}

/// Spin's `default` key-value store: plain operations through `fermyon:spin/key-value`,
/// increment and compare-and-swap through `wasi:keyvalue/atomics`. Opened on first use.
#[derive(Default)]
pub struct SpinKeyValue {
    store: OnceCell<key_value::Store>,
    bucket: OnceCell<wasi_store::Bucket>,
}

impl SpinKeyValue {
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

impl SpinKv for SpinKeyValue {
    type Cas = atomics::Cas;

    fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.store()?.get(key).map_err(backend)
    }

    fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.store()?.set(key, value).map_err(backend)
    }

    fn delete(&self, key: &str) -> StoreResult<()> {
        self.store()?.delete(key).map_err(backend)
    }

    fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        atomics::increment(self.bucket()?, key, delta).map_err(backend)
    }

    fn cas_open(&self, key: &str) -> StoreResult<(Self::Cas, Option<Vec<u8>>)> {
        let cas = atomics::Cas::new(self.bucket()?, key).map_err(backend)?;
        let current = cas.current().map_err(backend)?;
        Ok((cas, current))
    }

    fn cas_swap(&self, cas: Self::Cas, value: &[u8]) -> StoreResult<SwapOutcome> {
        match atomics::swap(cas, value) {
            Ok(()) => Ok(SwapOutcome::Swapped),
            Err(atomics::CasError::CasFailed(_)) => Ok(SwapOutcome::Failed),
            Err(atomics::CasError::StoreError(e)) => Err(backend(e)),
        }
    }
}
