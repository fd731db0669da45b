//! Spin's key-value store `default` (spin.toml), exact on what Spin really does.
//!
//! Spin 3.x/4.x's SQLite key-value store turns a compare-and-swap from an absent key into an
//! unconditional upsert, so two "create if absent" swaps can both succeed. What it does do
//! exactly is `increment` (one transaction) and a swap from a present value
//! (`UPDATE … WHERE value = old`). So every value sits behind a *register*: the key itself
//! holds a counter-shaped number naming the current version (0: no value), created by
//! `increment(key, 0)` — exact, and a no-op on a register that exists — and each version's
//! bytes live under a key of their own. A write stores its new version's bytes first, then
//! swaps the register from the version it read (always a swap from a present value), then
//! deletes the old version. Versions are random, so a register never returns to a value a
//! slower writer could mistake for the one it read. Counters (`increment`) stay plain.
//!
//! On Spin's Redis key-value backend every swap reports failure although it was applied. A
//! register that holds our fresh random version after a "failed" swap can only be our write,
//! so it counts as done, and one line says that spin.redis.toml is the way to run on Redis.

use std::cell::OnceCell;
use std::sync::atomic::{AtomicBool, Ordering};

use siyu::store::{check_key, decode_counter, Store, StoreError, StoreResult};
use spin_sdk::key_value;
use spin_sdk::wit::wasi::keyvalue::{atomics, store as wasi_store};

use crate::backend;

/// Reads of a register and its version before a reader gives up on a key that keeps moving.
const MAX_READS: u32 = 16;
/// Attempts of an unconditional write (`set`) against other writers.
const MAX_WRITES: u32 = 200;

/// Spin's `default` key-value store: plain operations through `fermyon:spin/key-value`,
/// increment and compare-and-swap through `wasi:keyvalue/atomics`. Opened on first use.
#[derive(Default)]
pub struct SpinKvStore {
    store: OnceCell<key_value::Store>,
    bucket: OnceCell<wasi_store::Bucket>,
}

/// The key holding one version's bytes. The unit separator appears in no key Siyu makes.
fn version_key(key: &str, version: i64) -> String {
    format!("{key}\u{1f}{version:x}")
}

/// A fresh version: random, never 0, and at least 13 digits so that a register Redis keeps
/// as decimal text is never 8 bytes long (8 bytes read as Spin's little-endian counter).
fn fresh_version() -> StoreResult<i64> {
    const LOW: u64 = 1_000_000_000_000;
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(backend)?;
    let spread = u64::from_le_bytes(bytes) % (i64::MAX as u64 - LOW);
    Ok((LOW + spread) as i64)
}

/// The register bytes for `version`, in the form the backend keeps counters in (as the
/// register was created by `increment`): 8 bytes little-endian (SQLite) or decimal (Redis).
fn encode_like(created: &[u8], version: i64) -> Vec<u8> {
    if created.len() == 8 {
        version.to_le_bytes().to_vec()
    } else {
        version.to_string().into_bytes()
    }
}

fn log_redis_defect_once() {
    static LOGGED: AtomicBool = AtomicBool::new(false);
    if !LOGGED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "{}",
            r#"{"warning":"Spin's Redis key-value backend reported a compare-and-swap as failed although it was applied (Spin sends UNWATCH with a key, which Redis refuses). Siyu detected it and carried on; run on Redis with spin.redis.toml (outbound Redis) instead."}"#
        );
    }
}

impl SpinKvStore {
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

    /// The bytes of `version` of `key`; `None` when the version was replaced meanwhile.
    fn version_bytes(&self, key: &str, version: i64) -> StoreResult<Option<Vec<u8>>> {
        if version == 0 {
            return Ok(None);
        }
        self.store()?
            .get(&version_key(key, version))
            .map_err(backend)
    }

    /// A compare-and-swap handle on the register and the register's bytes, creating the
    /// register (version 0) if the key has none.
    fn open_register(&self, key: &str) -> StoreResult<(atomics::Cas, Vec<u8>)> {
        for _ in 0..2 {
            let cas = atomics::Cas::new(self.bucket()?, key).map_err(backend)?;
            if let Some(raw) = cas.current().map_err(backend)? {
                return Ok((cas, raw));
            }
            // Exact even when racing: `increment` is one transaction, and adding 0 to a
            // register another request just made leaves it as it is.
            atomics::increment(self.bucket()?, key, 0).map_err(backend)?;
        }
        Err(StoreError::Contention(key.to_string()))
    }

    /// Moves `key` to a new version holding `new` if `accept` approves of its current value.
    /// `Ok(false)`: refused, or another writer moved the register first.
    fn replace(
        &self,
        key: &str,
        accept: impl Fn(Option<&[u8]>) -> bool,
        new: &[u8],
    ) -> StoreResult<bool> {
        let (cas, raw) = self.open_register(key)?;
        let version = decode_counter(key, &raw)?;
        let current = self.version_bytes(key, version)?;
        if version != 0 && current.is_none() {
            return Ok(false); // replaced between the two reads
        }
        if !accept(current.as_deref()) {
            return Ok(false);
        }
        let next = fresh_version()?;
        let next_key = version_key(key, next);
        let store = self.store()?;
        store.set(&next_key, new).map_err(backend)?;
        let next_raw = encode_like(&raw, next);
        let swapped = match atomics::swap(cas, &next_raw) {
            Ok(()) => true,
            Err(atomics::CasError::CasFailed(_)) => {
                let applied = store.get(key).map_err(backend)?.as_deref() == Some(&next_raw[..]);
                if applied {
                    log_redis_defect_once();
                }
                applied
            }
            Err(atomics::CasError::StoreError(e)) => {
                // Whether it was applied is unknown: keep the bytes, the register may name them.
                return Err(backend(e));
            }
        };
        if swapped {
            if version != 0 {
                store
                    .delete(&version_key(key, version))
                    .map_err(backend)?;
            }
        } else {
            store.delete(&next_key).map_err(backend)?;
        }
        Ok(swapped)
    }
}

impl Store for SpinKvStore {
    fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        check_key(key)?;
        let store = self.store()?;
        for _ in 0..MAX_READS {
            let Some(raw) = store.get(key).map_err(backend)? else {
                return Ok(None);
            };
            let version = decode_counter(key, &raw)?;
            if version == 0 {
                return Ok(None);
            }
            if let Some(bytes) = self.version_bytes(key, version)? {
                return Ok(Some(bytes));
            }
            // The version was replaced (and its bytes deleted) between the two reads.
        }
        Err(StoreError::Contention(key.to_string()))
    }

    fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        check_key(key)?;
        for _ in 0..MAX_WRITES {
            if self.replace(key, |_| true, value)? {
                return Ok(());
            }
        }
        Err(StoreError::Contention(key.to_string()))
    }

    fn delete(&self, key: &str) -> StoreResult<()> {
        check_key(key)?;
        let store = self.store()?;
        let Some(raw) = store.get(key).map_err(backend)? else {
            return Ok(());
        };
        // The register goes first: a crash leaves unreachable bytes, never a dangling register.
        store.delete(key).map_err(backend)?;
        if let Ok(version) = decode_counter(key, &raw) {
            if version != 0 {
                store
                    .delete(&version_key(key, version))
                    .map_err(backend)?;
            }
        }
        Ok(())
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
        self.replace(key, |current| current == expected, new)
    }
}
