//! The in-memory store of host tests and benchmarks.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{check_key, check_value, OpCounts, Store, StoreError, StoreResult};

/// In-memory store keeping the `Store` contract exactly (a compare-and-swap, from a value or
/// from absent, writes only if the key still holds what was read; counters apart from
/// values), as the Redis and SQLite-database stores do, for host tests and benchmarks. Counts
/// operations so tests can see what a request costs, and fails writes on demand.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<MemoryInner>,
}

#[derive(Default)]
struct MemoryInner {
    values: HashMap<String, Vec<u8>>,
    counters: HashMap<String, i64>,
    reads: u64,
    writes: u64,
    /// Fault injection: writes that may still succeed before every write fails.
    writes_until_failure: Option<u64>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn op_counts(&self) -> OpCounts {
        let inner = self.lock();
        OpCounts {
            reads: inner.reads,
            writes: inner.writes,
        }
    }

    /// Makes every write after the next `writes` fail, as a crash or outage would;
    /// `None` heals the store.
    pub fn fail_after_writes(&self, writes: Option<u64>) {
        self.lock().writes_until_failure = writes;
    }

    /// Every stored key, for tests that check nothing was written or that no PII is left.
    pub fn keys(&self) -> Vec<String> {
        let inner = self.lock();
        inner
            .values
            .keys()
            .chain(inner.counters.keys())
            .cloned()
            .collect()
    }

    /// Every stored value as text (lossy), for PII checks in tests.
    pub fn dump(&self) -> Vec<(String, String)> {
        let inner = self.lock();
        inner
            .values
            .iter()
            .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        // A panicking test thread must not hide the store from the others.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MemoryInner {
    fn write(&mut self) -> StoreResult<()> {
        match &mut self.writes_until_failure {
            Some(0) => Err(StoreError::Backend("injected failure".into())),
            Some(n) => {
                *n -= 1;
                self.writes += 1;
                Ok(())
            }
            None => {
                self.writes += 1;
                Ok(())
            }
        }
    }
}

impl Store for MemoryStore {
    fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        check_key(key)?;
        let mut inner = self.lock();
        inner.reads += 1;
        Ok(inner.values.get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        check_value(key, value)?;
        let mut inner = self.lock();
        inner.write()?;
        inner.values.insert(key.to_string(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> StoreResult<()> {
        check_key(key)?;
        let mut inner = self.lock();
        inner.write()?;
        inner.values.remove(key);
        inner.counters.remove(key);
        Ok(())
    }

    fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        check_key(key)?;
        let mut inner = self.lock();
        inner.write()?;
        let slot = inner.counters.entry(key.to_string()).or_insert(0);
        *slot += delta;
        Ok(*slot)
    }

    fn counter(&self, key: &str) -> StoreResult<i64> {
        check_key(key)?;
        let mut inner = self.lock();
        inner.reads += 1;
        Ok(inner.counters.get(key).copied().unwrap_or(0))
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> StoreResult<bool> {
        check_value(key, new)?;
        let mut inner = self.lock();
        // Like Spin's CAS handle: one read of the current value, then the conditional write.
        inner.reads += 1;
        if inner.values.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        inner.write()?;
        inner.values.insert(key.to_string(), new.to_vec());
        Ok(true)
    }
}
