//! Segment membership, kept incrementally so that listing a tag's or an RFM group's
//! customers costs in proportion to the page, never to the shop.
//!
//! A segment is an append-only list of customer ids (one slot each time someone joins) plus,
//! per customer, a membership record `{seq, slot}` naming the slot that lists them now. A
//! page walks slots and keeps an entry only if the customer's record still names that slot,
//! so a member appears exactly once however often they left and came back.
//!
//! The customer record is the truth; the index follows it. A change of memberships bumps the
//! customer's `segment_seq` and lists the segments in `unsynced` in the same write;
//! `sync_index` then writes each membership record only over an older seq (so late writers
//! never undo newer state), and `mark_synced` clears `unsynced` once what follows from the
//! change has run (`flows::customer_changed`). A crash in between leaves `unsynced` set, and
//! the next change of that customer, or the scheduled pass, finishes it.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::applog;
use crate::customers::{self, Customer};
use crate::domain::{CustomerId, ShopId};
use crate::error::Error;
use crate::keys;
use crate::store::{create_json, get_json, Store, StoreError};
use crate::tags::{Segment, TagName};

/// Slots one page may look at, per entry asked for: bounds a page's cost when many listed
/// customers have since left.
const SCAN_FACTOR: usize = 4;
const MAX_SYNC_ATTEMPTS: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
struct Membership {
    seq: u64,
    /// The slot listing the customer while a member; None after they left.
    slot: Option<i64>,
}

/// Brings the index up to date with what `customer` (as just written) says, and returns
/// the tags they gained among the segments synced. The customer's `unsynced` list stays as
/// it is until `mark_synced`, so what follows from the gain (coupon triggers) runs first:
/// a crash in between is finished by the next sync.
pub fn sync_index(
    store: &dyn Store,
    shop: &ShopId,
    customer: &Customer,
) -> Result<Vec<TagName>, Error> {
    for segment in &customer.unsynced {
        sync_one(
            store,
            shop,
            segment,
            &customer.id,
            customer.in_segment(segment),
            customer.segment_seq,
        )?;
    }
    Ok(customer
        .unsynced
        .iter()
        .filter_map(|s| match s {
            Segment::Tag(name) if customer.in_segment(s) => Some(name.clone()),
            _ => None,
        })
        .collect())
}

/// Clears from the customer's `unsynced` list what `sync_index` brought up to date.
pub fn mark_synced(
    store: &dyn Store,
    shop: &ShopId,
    customer: &Customer,
    now: Timestamp,
) -> Result<(), Error> {
    if customer.unsynced.is_empty() {
        return Ok(());
    }
    let seq = customer.segment_seq;
    let synced = customer.unsynced.clone();
    customers::update(store, shop, &customer.id, now, |c| {
        // A newer change lists its own segments and syncs them itself.
        if c.segment_seq != seq || c.unsynced.is_empty() {
            return false;
        }
        c.unsynced.retain(|s| !synced.contains(s));
        true
    })?;
    Ok(())
}

fn sync_one(
    store: &dyn Store,
    shop: &ShopId,
    segment: &Segment,
    customer: &CustomerId,
    member: bool,
    seq: u64,
) -> Result<(), Error> {
    let id = segment.key_id();
    let key = keys::segment_member(shop, &id, customer);
    let mut appended: Option<i64> = None;
    for _ in 0..MAX_SYNC_ATTEMPTS {
        let raw = store.get(&key)?;
        let current: Option<Membership> = match &raw {
            Some(bytes) => {
                Some(serde_json::from_slice(bytes).map_err(|_| StoreError::Corrupt(key.clone()))?)
            }
            None => None,
        };
        if current.is_some_and(|m| m.seq >= seq) {
            return Ok(());
        }
        let was_member = current.is_some_and(|m| m.slot.is_some());
        let slot = match (member, current.and_then(|m| m.slot)) {
            (false, _) => None,
            (true, Some(listed)) => Some(listed),
            (true, None) => Some(match appended {
                Some(slot) => slot,
                None => {
                    // A customer with a membership record joined before, so the tag is
                    // registered already.
                    if let (Segment::Tag(name), None) = (segment, current) {
                        register_tag(store, shop, &id, name)?;
                    }
                    let slot = applog::append(store, shop, &keys::lists::segment(&id), customer)?;
                    appended = Some(slot);
                    slot
                }
            }),
        };
        let next = serde_json::to_vec(&Membership { seq, slot })
            .map_err(|_| StoreError::Corrupt(key.clone()))?;
        if store.compare_and_swap(&key, raw.as_deref(), &next)? {
            if member != was_member {
                store.increment(&keys::segment_count(shop, &id), if member { 1 } else { -1 })?;
            }
            return Ok(());
        }
    }
    Err(StoreError::Contention(key).into())
}

/// A tag's entry in the shop's tag directory: its first spelling and the one slot of the
/// directory list that shows it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct TagDirectoryEntry {
    name: TagName,
    slot: i64,
}

/// Lists a tag in the shop's tag directory the first time anyone holds it. Appended before
/// it is marked, and shown only in the slot the mark names: requests racing to register a
/// tag, or a crash between the two writes, leave slots no page shows — never a tag unlisted
/// or listed twice.
fn register_tag(store: &dyn Store, shop: &ShopId, id: &str, name: &TagName) -> Result<(), Error> {
    let meta = keys::segment_meta(shop, id);
    if get_json::<TagDirectoryEntry>(store, &meta)?.is_some() {
        return Ok(());
    }
    let slot = applog::append(store, shop, keys::lists::TAGS, name)?;
    let entry = TagDirectoryEntry {
        name: name.clone(),
        slot,
    };
    create_json(store, &meta, &entry)?;
    Ok(())
}

/// How many customers a segment has now.
pub fn count(store: &dyn Store, shop: &ShopId, segment: &Segment) -> Result<i64, Error> {
    Ok(store
        .counter(&keys::segment_count(shop, &segment.key_id()))?
        .max(0))
}

/// A tag as the shop's directory lists it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TagSummary {
    pub name: TagName,
    pub customers: i64,
}

/// The shop's tags in the order first used, one page.
pub fn list_tags(
    store: &dyn Store,
    shop: &ShopId,
    after: i64,
    limit: usize,
) -> Result<(Vec<TagSummary>, Option<i64>), Error> {
    let page = applog::page::<TagName>(store, shop, keys::lists::TAGS, after, limit)?;
    let mut tags: Vec<TagSummary> = Vec::with_capacity(page.entries.len());
    for (slot, name) in page.entries {
        let segment = Segment::Tag(name);
        let entry: Option<TagDirectoryEntry> =
            get_json(store, &keys::segment_meta(shop, &segment.key_id()))?;
        let Some(entry) = entry.filter(|e| e.slot == slot) else {
            continue; // a racing or interrupted registration's slot
        };
        let customers = count(store, shop, &segment)?;
        tags.push(TagSummary {
            name: entry.name,
            customers,
        });
    }
    Ok((tags, page.next))
}

/// The spelling under which a tag was first used, if anyone ever held it.
pub fn known_tag(
    store: &dyn Store,
    shop: &ShopId,
    name: &TagName,
) -> Result<Option<TagName>, Error> {
    let id = Segment::Tag(name.clone()).key_id();
    let entry: Option<TagDirectoryEntry> = get_json(store, &keys::segment_meta(shop, &id))?;
    Ok(entry.map(|e| e.name))
}

/// One page of a segment's members: each current member exactly once over a whole walk.
pub struct MemberPage {
    pub customers: Vec<Customer>,
    /// Where the next page starts; None at the end. A page may be short (even empty) while
    /// there is more: it stops after looking at `SCAN_FACTOR` slots per entry asked for.
    pub next: Option<i64>,
}

pub fn members(
    store: &dyn Store,
    shop: &ShopId,
    segment: &Segment,
    after: i64,
    limit: usize,
) -> Result<MemberPage, Error> {
    let id = segment.key_id();
    let list = keys::lists::segment(&id);
    let mut customers = Vec::with_capacity(limit);
    let mut after = after.max(0);
    let mut budget = limit.saturating_mul(SCAN_FACTOR);
    loop {
        let want = (limit - customers.len()).min(budget);
        let page = applog::page::<CustomerId>(store, shop, &list, after, want)?;
        budget = budget.saturating_sub(want);
        for (slot, customer) in page.entries {
            let membership: Option<Membership> =
                get_json(store, &keys::segment_member(shop, &id, &customer))?;
            if membership.and_then(|m| m.slot) != Some(slot) {
                continue;
            }
            if let Some(record) = get_json::<Customer>(store, &keys::customer(shop, &customer))? {
                customers.push(record);
            }
        }
        match page.next {
            Some(next) if customers.len() < limit && budget > 0 => after = next,
            next => return Ok(MemberPage { customers, next }),
        }
    }
}
