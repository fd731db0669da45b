//! Append-only lists over key-value: an atomic counter hands out slots and each slot is a
//! write-once key, so appends never conflict and a page costs one read per entry.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::domain::ShopId;
use crate::keys;
use crate::store::{get_json, put_json, Store, StoreResult};

pub fn append<T: Serialize>(
    store: &dyn Store,
    shop: &ShopId,
    list: &str,
    entry: &T,
) -> StoreResult<i64> {
    let slot = store.increment(&keys::list_counter(shop, list), 1)?;
    put_json(store, &keys::list_slot(shop, list, slot), entry)?;
    Ok(slot)
}

pub fn len(store: &dyn Store, shop: &ShopId, list: &str) -> StoreResult<i64> {
    store.counter(&keys::list_counter(shop, list))
}

/// One page of a list walk.
pub struct Page<T> {
    pub entries: Vec<(i64, T)>,
    /// The cursor to continue from; None at the end.
    pub next: Option<i64>,
}

/// Entries in slots after `after`, at most `limit`; the returned cursor continues the walk
/// (None at the end). A slot whose write never happened (crash after the increment) is skipped.
pub fn page<T: DeserializeOwned>(
    store: &dyn Store,
    shop: &ShopId,
    list: &str,
    after: i64,
    limit: usize,
) -> StoreResult<Page<T>> {
    let total = len(store, shop, list)?;
    let mut entries = Vec::new();
    let mut slot = after.max(0);
    while slot < total && entries.len() < limit {
        slot += 1;
        if let Some(entry) = get_json(store, &keys::list_slot(shop, list, slot))? {
            entries.push((slot, entry));
        }
    }
    Ok(Page {
        entries,
        next: (slot < total).then_some(slot),
    })
}
