//! Fixed-window limits: sign-ups per client address and code, phone codes per number and
//! per address, look-ups per key. Each window of each limited thing is one small record,
//! changed by compare-and-swap, so concurrent requests are each counted once and a refused
//! one writes nothing. Its key names the window, so once the window is over nobody writes
//! it again: it is listed for the scheduler's sweep when created (`expiry`) and deleted
//! after it, without a race.

use serde::{Deserialize, Serialize};

use crate::crypto::hmac_sha256;
use crate::domain::ShopId;
use crate::error::Error;
use crate::expiry;
use crate::store::{get_json, update_json, Change, Store};

/// A client address as a limit's key part: a keyed hash, never the address itself.
pub fn client_hash(pepper: &[u8], client: &str) -> String {
    hex::encode(&hmac_sha256(pepper, &[b"client:", client.as_bytes()])[..12])
}

/// A clock window of fixed length: its number since the Unix epoch and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    index: i64,
    seconds: i64,
}

impl Window {
    pub fn minute(now: jiff::Timestamp) -> Self {
        Self::of(now, 60)
    }

    pub fn hour(now: jiff::Timestamp) -> Self {
        Self::of(now, 3600)
    }

    fn of(now: jiff::Timestamp, seconds: i64) -> Self {
        Window {
            index: now.as_second().div_euclid(seconds),
            seconds,
        }
    }

    fn key(&self, limited: &str) -> String {
        format!("{limited}/{}", self.index)
    }

    fn ends_at(&self) -> i64 {
        (self.index + 1) * self.seconds
    }
}

/// What one record counts.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct WindowCount {
    count: i64,
}

/// Counts one more for `limited` (a shop's key prefix naming the limited thing) in `window`
/// unless `limit` is reached there; whether it was counted.
pub fn admit(
    store: &dyn Store,
    shop: &ShopId,
    limited: &str,
    window: Window,
    limit: i64,
) -> Result<bool, Error> {
    let key = window.key(limited);
    let (admitted, created) = update_json(store, &key, |current: Option<WindowCount>| {
        let created = current.is_none();
        let counted = current.unwrap_or(WindowCount { count: 0 });
        if counted.count >= limit {
            return Ok::<_, Error>(Change::Keep((false, false)));
        }
        let next = WindowCount {
            count: counted.count + 1,
        };
        Ok(Change::Write(next, (true, created)))
    })?;
    if created {
        expiry::enlist(store, shop, &key, window.ends_at() + expiry::GRACE_SECONDS)?;
    }
    Ok(admitted)
}

/// Whether `limited` has reached `limit` in `window`, read only: to refuse before counting
/// anything when one of several limits is full.
pub fn is_full(
    store: &dyn Store,
    limited: &str,
    window: Window,
    limit: i64,
) -> Result<bool, Error> {
    Ok(get_json::<WindowCount>(store, &window.key(limited))?.is_some_and(|c| c.count >= limit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn a_window_admits_its_limit_and_the_next_window_starts_again() {
        let store = MemoryStore::default();
        let shop = ShopId::parse("shp_aaaaaaaaaaaa").unwrap();
        let now: jiff::Timestamp = "2026-12-08T10:00:30Z".parse().unwrap();
        let this = Window::minute(now);
        let next = Window::minute(now + jiff::SignedDuration::from_secs(60));
        for _ in 0..3 {
            assert!(admit(&store, &shop, "k", this, 3).unwrap());
        }
        assert!(is_full(&store, "k", this, 3).unwrap());
        assert!(!admit(&store, &shop, "k", this, 3).unwrap());
        assert!(!is_full(&store, "k", next, 3).unwrap());
        assert!(admit(&store, &shop, "other", this, 3).unwrap());
        assert!(admit(&store, &shop, "k", next, 3).unwrap());
    }

    #[test]
    fn a_window_is_swept_away_after_it_is_over() {
        let store = MemoryStore::default();
        let shop = ShopId::parse("shp_aaaaaaaaaaaa").unwrap();
        let now: jiff::Timestamp = "2026-12-08T10:00:30Z".parse().unwrap();
        let limited = format!("s/{shop}/rl/code/client");
        assert!(admit(&store, &shop, &limited, Window::minute(now), 3).unwrap());
        assert!(admit(&store, &shop, &limited, Window::minute(now), 3).unwrap());
        let later = now + jiff::SignedDuration::from_hours(3);
        let far = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let swept = expiry::sweep(&store, &shop, later.as_second(), 100, far).unwrap();
        assert_eq!(swept.deleted, 1, "listed once, when created");
        assert!(!is_full(&store, &limited, Window::minute(now), 1).unwrap());
    }

    #[test]
    fn a_client_hash_names_no_address() {
        let hash = client_hash(b"pepper", "203.0.113.7");
        assert_eq!(hash.len(), 24);
        assert!(!hash.contains("203"));
        assert_ne!(hash, client_hash(b"other pepper", "203.0.113.7"));
    }
}
