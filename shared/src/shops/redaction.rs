//! A shop's redaction in progress (Shopify's `shop/redact`, the operator's redact): the shop
//! is closed at once, and its customers are erased in batches — by the request that started
//! it, by the operator's repeated calls and by the scheduler (`POST /api/redactions/run`) —
//! until every one is done, however many there are. The record says where the walk over the
//! shop's customers stands; a global list names the shops with a redaction, so the scheduler
//! finds them without listing keys.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::ShopId;
use crate::error::Error;
use crate::keys;
use crate::store::{create_json, get_json, put_json, update_json, Change, Store};

/// Where a shop's redaction stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Redaction {
    pub started_at: Timestamp,
    /// The slot of the shop's customer list erased up to.
    pub cursor: i64,
    /// Customers erased so far (a batch retried after a crash may count some twice).
    pub erased: u64,
    pub finished_at: Option<Timestamp>,
}

/// The shop's redaction, started now if it was not yet: listed for the scheduler first, so a
/// crash in between lists it twice at worst, never not at all.
pub fn start(store: &dyn Store, shop: &ShopId, now: Timestamp) -> Result<Redaction, Error> {
    if let Some(existing) = get_json::<Redaction>(store, &keys::redaction(shop))? {
        return Ok(existing);
    }
    let slot = store.increment(keys::REDACTIONS_COUNTER, 1)?;
    put_json(store, &keys::redactions_slot(slot), shop)?;
    let fresh = Redaction {
        started_at: now,
        cursor: 0,
        erased: 0,
        finished_at: None,
    };
    Ok(create_json(store, &keys::redaction(shop), &fresh)?.0)
}

pub fn load(store: &dyn Store, shop: &ShopId) -> Result<Option<Redaction>, Error> {
    Ok(get_json(store, &keys::redaction(shop))?)
}

/// Records a batch done: from `cursor` (where it started) to `next` (None: the end). Moves
/// only forward, so a slower, older batch never takes the walk back.
pub fn advance(
    store: &dyn Store,
    shop: &ShopId,
    cursor: i64,
    next: Option<i64>,
    erased: u64,
    now: Timestamp,
) -> Result<Redaction, Error> {
    update_json(
        store,
        &keys::redaction(shop),
        |current: Option<Redaction>| {
            let Some(mut r) = current else {
                return Err(Error::internal("a redaction advanced before it started"));
            };
            if r.finished_at.is_some() || r.cursor > cursor {
                return Ok(Change::Keep(r));
            }
            r.erased += erased;
            match next {
                Some(next) => r.cursor = r.cursor.max(next),
                None => r.finished_at = Some(now),
            }
            Ok(Change::Write(r.clone(), r))
        },
    )
}

/// The shops listed for redaction, from slot `after` on, at most `limit`, with the slot each
/// was found at.
pub fn listed(store: &dyn Store, after: i64, limit: usize) -> Result<Vec<(i64, ShopId)>, Error> {
    let total = store.counter(keys::REDACTIONS_COUNTER)?;
    let mut found = Vec::new();
    let mut slot = after.max(0);
    while slot < total && found.len() < limit {
        slot += 1;
        if let Some(shop) = get_json::<ShopId>(store, &keys::redactions_slot(slot))? {
            found.push((slot, shop));
        }
    }
    Ok(found)
}

/// The first slot of the list that may still name an unfinished redaction.
pub fn first_pending(store: &dyn Store) -> Result<i64, Error> {
    Ok(get_json::<i64>(store, keys::REDACTIONS_FIRST)?.unwrap_or(0))
}

/// Every slot up to `slot` is finished: the scheduler need not look at them again.
pub fn mark_done_up_to(store: &dyn Store, slot: i64) -> Result<(), Error> {
    update_json(store, keys::REDACTIONS_FIRST, |current: Option<i64>| {
        Ok::<_, Error>(match current {
            Some(c) if c >= slot => Change::Keep(()),
            _ => Change::Write(slot, ()),
        })
    })
}
