//! Fixed-window limits: sign-ups per client address and code, phone codes per number and
//! per address. One small record per limited thing holds the current window and its count;
//! it is replaced when the window turns (so no key piles up per window) and changed by
//! compare-and-swap, so concurrent requests are each counted once and a refused one writes
//! nothing.

use serde::{Deserialize, Serialize};

use crate::crypto::hmac_sha256;
use crate::error::Error;
use crate::store::{get_json, update_json, Change, Store};

/// A client address as a limit's key part: a keyed hash, never the address itself.
pub fn client_hash(pepper: &[u8], client: &str) -> String {
    hex::encode(&hmac_sha256(pepper, &[b"client:", client.as_bytes()])[..12])
}

/// What one record counts: the window it counts in and how many so far.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct WindowCount {
    window: i64,
    count: i64,
}

/// Counts one more under `key` in `window` (e.g. the clock minute or hour) unless `limit`
/// is reached there; whether it was counted.
pub fn admit(store: &dyn Store, key: &str, window: i64, limit: i64) -> Result<bool, Error> {
    update_json(store, key, |current: Option<WindowCount>| {
        let mut counted = current
            .filter(|c| c.window == window)
            .unwrap_or(WindowCount { window, count: 0 });
        if counted.count >= limit {
            return Ok::<_, Error>(Change::Keep(false));
        }
        counted.count += 1;
        Ok(Change::Write(counted, true))
    })
}

/// Whether `key` has reached `limit` in `window`, read only: to refuse before counting
/// anything when one of several limits is full.
pub fn is_full(store: &dyn Store, key: &str, window: i64, limit: i64) -> Result<bool, Error> {
    Ok(
        get_json::<WindowCount>(store, key)?
            .is_some_and(|c| c.window == window && c.count >= limit),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn a_window_admits_its_limit_and_the_next_window_starts_again() {
        let store = MemoryStore::default();
        for _ in 0..3 {
            assert!(admit(&store, "k", 7, 3).unwrap());
        }
        assert!(is_full(&store, "k", 7, 3).unwrap());
        assert!(!admit(&store, "k", 7, 3).unwrap());
        assert!(!is_full(&store, "k", 8, 3).unwrap());
        assert!(admit(&store, "other", 7, 3).unwrap());
        assert!(admit(&store, "k", 8, 3).unwrap());
    }

    #[test]
    fn a_client_hash_names_no_address() {
        let hash = client_hash(b"pepper", "203.0.113.7");
        assert_eq!(hash.len(), 24);
        assert!(!hash.contains("203"));
        assert_ne!(hash, client_hash(b"other pepper", "203.0.113.7"));
    }
}
