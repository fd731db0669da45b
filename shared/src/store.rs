//! Key-value storage as Siyu needs it: plain get/set/delete plus the two atomic operations
//! (increment, compare-and-swap) that keep concurrent requests from losing each other's writes.
//!
//! The trait is the only place atomics are named, so a build for hosts without
//! `wasi:keyvalue/atomics` changes the implementation, not the features.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Spin's portable floor for key and value sizes.
pub const MAX_KEY_BYTES: usize = 256;
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// How often a read-modify-write is retried when other writers keep winning.
const MAX_CAS_ATTEMPTS: u32 = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The backend failed; the request should be retried later.
    Backend(String),
    /// Too many concurrent writers on one key; retry later.
    Contention(String),
    /// A stored value could not be decoded: a bug or a foreign writer, never the client's fault.
    Corrupt(String),
    /// A key or value over the portable limits.
    TooLarge(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Backend(m) => write!(f, "store backend error: {m}"),
            StoreError::Contention(k) => write!(f, "too much contention on {k}"),
            StoreError::Corrupt(k) => write!(f, "stored value under {k} is unreadable"),
            StoreError::TooLarge(k) => write!(f, "key or value too large: {k}"),
        }
    }
}

impl std::error::Error for StoreError {}

pub type StoreResult<T> = Result<T, StoreError>;

/// A key-value store with atomic increment and compare-and-swap.
///
/// `increment` keys hold counters only: never `set` them (SQLite stores them as 8-byte
/// little-endian, Redis as decimal text).
pub trait Store {
    fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;
    fn set(&self, key: &str, value: &[u8]) -> StoreResult<()>;
    fn delete(&self, key: &str) -> StoreResult<()>;
    /// Adds `delta` (a missing key counts as 0) and returns the new value.
    fn increment(&self, key: &str, delta: i64) -> StoreResult<i64>;
    /// Reads the counter written by `increment` (0 when missing).
    fn counter(&self, key: &str) -> StoreResult<i64>;
    /// Writes `new` only if the key still holds `expected` (`None`: absent). True if written.
    fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8])
        -> StoreResult<bool>;
}

/// A counter written by `increment`, as a backend stores it: 8-byte little-endian (Spin's
/// SQLite store) or decimal text (Redis).
pub fn decode_counter(key: &str, bytes: &[u8]) -> StoreResult<i64> {
    match <[u8; 8]>::try_from(bytes) {
        Ok(le) => Ok(i64::from_le_bytes(le)),
        Err(_) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| StoreError::Corrupt(key.to_string())),
    }
}

pub fn check_key(key: &str) -> StoreResult<()> {
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::TooLarge(key.chars().take(64).collect()));
    }
    Ok(())
}

fn check_value(key: &str, value: &[u8]) -> StoreResult<()> {
    check_key(key)?;
    if value.len() > MAX_VALUE_BYTES {
        return Err(StoreError::TooLarge(key.to_string()));
    }
    Ok(())
}

/// What a read-modify-write step decided.
pub enum Change<T, R> {
    /// Store `T` (if the key is unchanged since it was read), then return `R`.
    Write(T, R),
    /// Leave the key as it is and return `R`.
    Keep(R),
}

pub fn get_json<T: DeserializeOwned>(store: &dyn Store, key: &str) -> StoreResult<Option<T>> {
    store.get(key)?.map(|bytes| decode(key, &bytes)).transpose()
}

pub fn put_json<T: Serialize>(store: &dyn Store, key: &str, value: &T) -> StoreResult<()> {
    let bytes = encode(key, value)?;
    store.set(key, &bytes)
}

/// Writes `value` under `key` only if the key is absent. Returns the value stored afterwards
/// (ours if we created it, the earlier writer's otherwise) and whether we created it.
pub fn create_json<T: Serialize + DeserializeOwned + Clone>(
    store: &dyn Store,
    key: &str,
    value: &T,
) -> StoreResult<(T, bool)> {
    update_json(store, key, |current: Option<T>| {
        Ok::<_, StoreError>(match current {
            Some(existing) => Change::Keep((existing, false)),
            None => Change::Write(value.clone(), (value.clone(), true)),
        })
    })
}

/// Read-modify-write of one JSON value with compare-and-swap and bounded retry: the closure
/// sees the current value each attempt and must be free of side effects outside its result.
pub fn update_json<T, R, E>(
    store: &dyn Store,
    key: &str,
    mut step: impl FnMut(Option<T>) -> Result<Change<T, R>, E>,
) -> Result<R, E>
where
    T: Serialize + DeserializeOwned,
    E: From<StoreError>,
{
    for attempt in 0..MAX_CAS_ATTEMPTS {
        let raw = store.get(key)?;
        let current = raw.as_deref().map(|b| decode(key, b)).transpose()?;
        match step(current)? {
            Change::Keep(result) => return Ok(result),
            Change::Write(next, result) => {
                let bytes = encode(key, &next)?;
                if raw.as_deref() == Some(bytes.as_slice()) {
                    return Ok(result);
                }
                if store.compare_and_swap(key, raw.as_deref(), &bytes)? {
                    return Ok(result);
                }
                backoff(attempt);
            }
        }
    }
    Err(StoreError::Contention(key.to_string()).into())
}

/// Short randomised pause so that writers racing on one key spread out.
fn backoff(attempt: u32) {
    if attempt < 2 {
        return;
    }
    let mut byte = [0u8; 1];
    let jitter = getrandom::fill(&mut byte)
        .map(|_| byte[0] as u64)
        .unwrap_or(0);
    let micros = (50 * u64::from(attempt.min(20))) + jitter * 4;
    std::thread::sleep(std::time::Duration::from_micros(micros));
}

fn encode<T: Serialize>(key: &str, value: &T) -> StoreResult<Vec<u8>> {
    let bytes = serde_json::to_vec(value).map_err(|_| StoreError::Corrupt(key.to_string()))?;
    check_value(key, &bytes)?;
    Ok(bytes)
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|_| StoreError::Corrupt(key.to_string()))
}

/// Counts the operations a request makes through the `Store` trait (a compare-and-swap is a
/// read, and a write when it succeeds), whatever the backend does underneath, so a request's
/// cost reads the same on every store.
pub struct CountingStore<'a> {
    inner: &'a dyn Store,
    reads: std::cell::Cell<u64>,
    writes: std::cell::Cell<u64>,
}

impl<'a> CountingStore<'a> {
    pub fn new(inner: &'a dyn Store) -> Self {
        Self {
            inner,
            reads: Default::default(),
            writes: Default::default(),
        }
    }

    pub fn op_counts(&self) -> OpCounts {
        OpCounts {
            reads: self.reads.get(),
            writes: self.writes.get(),
        }
    }

    fn read(&self) {
        self.reads.set(self.reads.get() + 1);
    }

    fn write(&self) {
        self.writes.set(self.writes.get() + 1);
    }
}

impl Store for CountingStore<'_> {
    fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.read();
        self.inner.get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.write();
        self.inner.set(key, value)
    }

    fn delete(&self, key: &str) -> StoreResult<()> {
        self.write();
        self.inner.delete(key)
    }

    fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        self.write();
        self.inner.increment(key, delta)
    }

    fn counter(&self, key: &str) -> StoreResult<i64> {
        self.read();
        self.inner.counter(key)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> StoreResult<bool> {
        self.read();
        let swapped = self.inner.compare_and_swap(key, expected, new)?;
        if swapped {
            self.write();
        }
        Ok(swapped)
    }
}

/// In-memory store with the same semantics as Spin's (value-compare CAS, counters apart from
/// values), for host tests and benchmarks. Counts operations so tests can see what a request
/// costs.
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

/// Operation counts of a `MemoryStore` since it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpCounts {
    pub reads: u64,
    pub writes: u64,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_and_swap_needs_the_value_it_read() {
        let store = MemoryStore::new();
        assert!(store.compare_and_swap("k", None, b"1").unwrap());
        assert!(!store.compare_and_swap("k", None, b"2").unwrap());
        assert!(!store.compare_and_swap("k", Some(b"0"), b"2").unwrap());
        assert!(store.compare_and_swap("k", Some(b"1"), b"2").unwrap());
        assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"2"[..]));
    }

    #[test]
    fn concurrent_updates_are_all_kept() {
        let store = MemoryStore::new();
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    for _ in 0..25 {
                        update_json(&store, "n", |n: Option<u64>| {
                            Ok::<_, StoreError>(Change::Write(n.unwrap_or(0) + 1, ()))
                        })
                        .unwrap();
                    }
                });
            }
        });
        assert_eq!(get_json::<u64>(&store, "n").unwrap(), Some(400));
    }

    #[test]
    fn oversized_keys_and_values_are_refused() {
        let store = MemoryStore::new();
        assert!(matches!(
            store.set(&"k".repeat(300), b"v"),
            Err(StoreError::TooLarge(_))
        ));
        let big = vec![b'x'; MAX_VALUE_BYTES + 1];
        assert!(matches!(store.set("k", &big), Err(StoreError::TooLarge(_))));
    }
}
