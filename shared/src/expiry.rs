//! Records that stop being needed at a known time (rate-limit windows, phone codes) are
//! listed, when created, under the hour they may be deleted; the scheduler's sweep
//! (`jobs`) deletes each listed key of every past hour, then the list itself. A listed
//! record is one that no request writes again after that hour (its key names its window),
//! so deleting it never loses a concurrent update. Listing costs two writes, once per
//! record.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::domain::ShopId;
use crate::error::Error;
use crate::keys;
use crate::store::{get_json, put_json, update_json, Change, Store};

/// How long after its window a record is kept: far longer than any request that read the
/// clock before the window turned can still be writing it.
pub const GRACE_SECONDS: i64 = 3600;

/// Hours one sweep may walk past per shop (a shop idle for weeks catches up over calls).
const MAX_HOURS_WALKED: i64 = 24 * 7;
/// Where a shop's first sweep starts: records are listed at most a window and the grace
/// ahead, so nothing listed is older than this when a new deployment first sweeps.
const FIRST_SWEEP_LOOKBACK_HOURS: i64 = 48;

/// Lists `key` for deletion once `removable_at` (Unix seconds) has passed.
pub fn enlist(store: &dyn Store, shop: &ShopId, key: &str, removable_at: i64) -> Result<(), Error> {
    let hour = removable_at.div_euclid(3600) + 1;
    let slot = store.increment(&keys::expiry_counter(shop, hour), 1)?;
    put_json(store, &keys::expiry_slot(shop, hour, slot), &key)?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct SweepCursor {
    /// The first hour not yet swept.
    hour: i64,
    /// Its slots done so far.
    #[serde(default)]
    after: i64,
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub deleted: usize,
    /// False when it stopped at its limit: the rest is for the next call.
    pub caught_up: bool,
}

/// Deletes the shop's records listed under every hour up to now: at most `limit` of them,
/// and none after `deadline`. The cursor moves on as slots are done, so a huge hour is
/// swept over several calls; a crash or a concurrent sweep deletes some keys twice at worst
/// (a delete of an absent key is harmless).
pub fn sweep(
    store: &dyn Store,
    shop: &ShopId,
    now_seconds: i64,
    limit: usize,
    deadline: Instant,
) -> Result<Swept, Error> {
    let now_hour = now_seconds.div_euclid(3600);
    let key = keys::expiry_cursor(shop);
    let start = get_json::<SweepCursor>(store, &key)?.unwrap_or(SweepCursor {
        hour: now_hour - FIRST_SWEEP_LOOKBACK_HOURS,
        after: 0,
    });
    let mut swept = Swept::default();
    let mut at = start;
    let prefix = format!("s/{shop}/");
    'hours: while at.hour <= now_hour && at.hour < start.hour + MAX_HOURS_WALKED {
        let counter = keys::expiry_counter(shop, at.hour);
        let listed = store.counter(&counter)?;
        while at.after < listed {
            if swept.deleted >= limit || Instant::now() >= deadline {
                break 'hours;
            }
            let slot_key = keys::expiry_slot(shop, at.hour, at.after + 1);
            if let Some(record) = get_json::<String>(store, &slot_key)? {
                // Only this shop's keys: what is listed is ours, but say so where it is used.
                if record.starts_with(&prefix) {
                    store.delete(&record)?;
                    swept.deleted += 1;
                }
                store.delete(&slot_key)?;
            }
            at.after += 1;
        }
        if listed > 0 {
            store.delete(&counter)?;
        }
        at = SweepCursor {
            hour: at.hour + 1,
            after: 0,
        };
    }
    swept.caught_up = at.hour > now_hour;
    if at != start {
        update_json(store, &key, |current: Option<SweepCursor>| {
            Ok::<_, Error>(match current {
                Some(c) if (c.hour, c.after) >= (at.hour, at.after) => Change::Keep(()),
                _ => Change::Write(at, ()),
            })
        })?;
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn far() -> Instant {
        Instant::now() + std::time::Duration::from_secs(60)
    }

    #[test]
    fn a_big_hour_is_swept_over_several_calls_each_within_its_limit() {
        let store = MemoryStore::new();
        let shop = ShopId::parse("shp_aaaaaaaaaaaa").unwrap();
        for n in 0..25 {
            let record = format!("s/{shop}/rl/x/{n}");
            store.set(&record, b"{}").unwrap();
            enlist(&store, &shop, &record, 3600).unwrap();
        }
        let mut calls = 0;
        loop {
            calls += 1;
            let swept = sweep(&store, &shop, 5 * 3600, 10, far()).unwrap();
            assert!(swept.deleted <= 10);
            if swept.caught_up {
                break;
            }
        }
        assert_eq!(calls, 3);
        assert!(store.keys().iter().all(|k| !k.contains("/rl/")));
        // Out of time: nothing more is done, and the next call goes on.
        let record = format!("s/{shop}/rl/y/1");
        store.set(&record, b"{}").unwrap();
        enlist(&store, &shop, &record, 6 * 3600).unwrap();
        let none = sweep(&store, &shop, 7 * 3600, 10, Instant::now()).unwrap();
        assert_eq!(none.deleted, 0);
        assert_eq!(
            sweep(&store, &shop, 7 * 3600, 10, far()).unwrap().deleted,
            1
        );
    }

    #[test]
    fn a_listed_record_is_deleted_once_its_hour_has_passed_and_not_before() {
        let store = MemoryStore::new();
        let shop = ShopId::parse("shp_aaaaaaaaaaaa").unwrap();
        let record = format!("s/{shop}/rl/x/1");
        store.set(&record, b"{}").unwrap();
        let created = 1_000 * 3600 + 10;
        enlist(&store, &shop, &record, created + 60 + GRACE_SECONDS).unwrap();
        let early = sweep(&store, &shop, created + 60, 100, far()).unwrap();
        assert_eq!(early.deleted, 0);
        assert!(store.get(&record).unwrap().is_some());
        let later = sweep(&store, &shop, created + 3 * 3600, 100, far()).unwrap();
        assert_eq!(
            later,
            Swept {
                deleted: 1,
                caught_up: true
            }
        );
        assert!(store.get(&record).unwrap().is_none());
        // The list itself is gone too: nothing of the shop's expiry remains but the cursor.
        assert_eq!(
            store.get(&keys::expiry_counter(&shop, 1_002)).unwrap(),
            None
        );
    }

    #[test]
    fn another_shops_key_is_never_deleted_by_a_sweep() {
        let store = MemoryStore::new();
        let shop = ShopId::parse("shp_aaaaaaaaaaaa").unwrap();
        store.set("s/shp_bbbbbbbbbbbb/shop", b"{}").unwrap();
        enlist(&store, &shop, "s/shp_bbbbbbbbbbbb/shop", 3600).unwrap();
        sweep(&store, &shop, 10 * 3600, 100, far()).unwrap();
        assert!(store.get("s/shp_bbbbbbbbbbbb/shop").unwrap().is_some());
    }
}
