//! Records that stop being needed at a known time (rate-limit windows, phone codes) are
//! listed, when created, under the hour they may be deleted; the scheduler's sweep
//! (`jobs`) deletes each listed key of every past hour, then the list itself. A listed
//! record is one that no request writes again after that hour (its key names its window),
//! so deleting it never loses a concurrent update. Listing costs two writes, once per
//! record.

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
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub deleted: usize,
    /// False when it stopped at its limit: the rest is for the next call.
    pub caught_up: bool,
}

/// Deletes the shop's records listed under every hour up to now, at most `limit` of them.
/// An hour is marked done only when all of it is deleted; a crash or a concurrent sweep
/// deletes some keys twice at worst (a delete of an absent key is harmless).
pub fn sweep(
    store: &dyn Store,
    shop: &ShopId,
    now_seconds: i64,
    limit: usize,
) -> Result<Swept, Error> {
    let now_hour = now_seconds.div_euclid(3600);
    let key = keys::expiry_cursor(shop);
    let start = get_json::<SweepCursor>(store, &key)?.unwrap_or(SweepCursor {
        hour: now_hour - FIRST_SWEEP_LOOKBACK_HOURS,
    });
    let mut swept = Swept::default();
    let mut hour = start.hour;
    while hour <= now_hour && hour < start.hour + MAX_HOURS_WALKED {
        let counter = keys::expiry_counter(shop, hour);
        let listed = store.counter(&counter)?;
        if swept.deleted + listed as usize > limit && swept.deleted > 0 {
            break;
        }
        for slot in 1..=listed {
            let slot_key = keys::expiry_slot(shop, hour, slot);
            if let Some(record) = get_json::<String>(store, &slot_key)? {
                // Only this shop's keys: a listed key is ours, but say so where it is used.
                if record.starts_with(&format!("s/{shop}/")) {
                    store.delete(&record)?;
                    swept.deleted += 1;
                }
                store.delete(&slot_key)?;
            }
        }
        if listed > 0 {
            store.delete(&counter)?;
        }
        hour += 1;
    }
    swept.caught_up = hour > now_hour;
    if hour != start.hour {
        update_json(store, &key, |current: Option<SweepCursor>| {
            Ok::<_, Error>(match current {
                Some(c) if c.hour >= hour => Change::Keep(()),
                _ => Change::Write(SweepCursor { hour }, ()),
            })
        })?;
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn a_listed_record_is_deleted_once_its_hour_has_passed_and_not_before() {
        let store = MemoryStore::new();
        let shop = ShopId::parse("shp_aaaaaaaaaaaa").unwrap();
        let record = format!("s/{shop}/rl/x/1");
        store.set(&record, b"{}").unwrap();
        let created = 1_000 * 3600 + 10;
        enlist(&store, &shop, &record, created + 60 + GRACE_SECONDS).unwrap();
        let early = sweep(&store, &shop, created + 60, 100).unwrap();
        assert_eq!(early.deleted, 0);
        assert!(store.get(&record).unwrap().is_some());
        let later = sweep(&store, &shop, created + 3 * 3600, 100).unwrap();
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
        sweep(&store, &shop, 10 * 3600, 100).unwrap();
        assert!(store.get("s/shp_bbbbbbbbbbbb/shop").unwrap().is_some());
    }
}
