//! Key-value storage as Siyu needs it: plain get/set/delete plus the two atomic operations
//! (increment, compare-and-swap) that keep concurrent requests from losing each other's writes.
//!
//! The trait is the only place atomics are named, so a build for hosts without
//! `wasi:keyvalue/atomics` changes the implementation, not the features.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

mod counting;
mod memory;
pub mod spin_kv;

pub use counting::CountingStore;
pub use memory::MemoryStore;
pub use spin_kv::{RegisterStore, SpinKv, SwapOutcome};

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

/// The counter under `key` from its stored bytes, 0 when the key is absent.
pub fn counter_or_zero(key: &str, stored: Option<Vec<u8>>) -> StoreResult<i64> {
    stored.map_or(Ok(0), |bytes| decode_counter(key, &bytes))
}

pub fn check_key(key: &str) -> StoreResult<()> {
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::TooLarge(key.chars().take(64).collect()));
    }
    Ok(())
}

pub(crate) fn check_value(key: &str, value: &[u8]) -> StoreResult<()> {
    check_key(key)?;
    if value.len() > MAX_VALUE_BYTES {
        return Err(StoreError::TooLarge(key.to_string()));
    }
    Ok(())
}

/// Reads and writes made through a store (see `MemoryStore`, `CountingStore`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpCounts {
    pub reads: u64,
    pub writes: u64,
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
