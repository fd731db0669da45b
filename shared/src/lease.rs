//! Leases: who does a piece of periodic work now. A lease is taken by compare-and-swap, so
//! of two callers at once only one gets it; it runs out by itself, so a holder that died
//! (killed, timed out by its host) holds it up only until then.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::store::{update_json, Change, Store};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Lease {
    holder: String,
    until: Timestamp,
}

/// Takes the lease under `key` for `holder` until `now + hold`, unless someone else holds it.
pub fn take(
    store: &dyn Store,
    key: &str,
    holder: &str,
    now: Timestamp,
    hold: SignedDuration,
) -> Result<bool, Error> {
    update_json(store, key, |current: Option<Lease>| {
        Ok::<_, Error>(match current {
            Some(l) if l.until > now && l.holder != holder => Change::Keep(false),
            _ => Change::Write(
                Lease {
                    holder: holder.to_string(),
                    until: now + hold,
                },
                true,
            ),
        })
    })
}

/// Gives the lease back, if `holder` still holds it: it is free at once, whatever the clock
/// of the next taker says.
pub fn release(store: &dyn Store, key: &str, holder: &str, now: Timestamp) -> Result<(), Error> {
    update_json(store, key, |current: Option<Lease>| {
        Ok::<_, Error>(match current {
            Some(l) if l.holder == holder && l.until > now => Change::Write(
                Lease {
                    holder: l.holder,
                    until: Timestamp::UNIX_EPOCH,
                },
                (),
            ),
            _ => Change::Keep(()),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn one_holder_at_a_time_until_it_releases_or_runs_out() {
        let store = MemoryStore::new();
        let now: Timestamp = "2026-12-08T00:00:00Z".parse().unwrap();
        let minute = SignedDuration::from_secs(60);
        assert!(take(&store, "l", "a", now, minute).unwrap());
        assert!(!take(&store, "l", "b", now, minute).unwrap());
        assert!(
            take(&store, "l", "a", now, minute).unwrap(),
            "its holder renews it"
        );
        release(&store, "l", "b", now).unwrap();
        assert!(
            !take(&store, "l", "b", now, minute).unwrap(),
            "only the holder releases"
        );
        release(&store, "l", "a", now).unwrap();
        assert!(take(&store, "l", "b", now, minute).unwrap());
        let later = now + SignedDuration::from_secs(61);
        assert!(
            take(&store, "l", "a", later, minute).unwrap(),
            "a dead holder's lease runs out"
        );
    }
}
