//! Finding, loading and changing customer records: identities matched by keyed hash and
//! claimed by compare-and-swap, every change a read-modify-write of one record.

use schemars::JsonSchema;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::applog;
use crate::domain::ids::ExternalId;
use crate::domain::{CustomerId, Platform, ShopId};
use crate::error::{Error, ErrorCode};
use crate::keys;
use crate::pii::Identity;
use crate::store::{get_json, update_json, Change, Store, StoreError};

use super::Customer;

/// The outcome of matching an event's identities to a customer.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    pub customer: Option<CustomerId>,
    /// Index entries that point to that customer (found or just claimed).
    pub owned_hashes: Vec<String>,
}

/// Finds the customer an event's identities belong to, creating one if none matches, and
/// claims the identities no one holds yet. `known` is a customer already tied to the order.
/// Two requests racing for a new person agree on one customer: the index entry is claimed
/// with compare-and-swap, and the loser adopts the winner's id.
pub fn resolve(
    store: &dyn Store,
    shop: &ShopId,
    pepper: &[u8],
    identities: &[Identity],
    known: Option<CustomerId>,
) -> Result<Resolution, StoreError> {
    let hashes: Vec<String> = identities.iter().map(|i| i.hash(pepper)).collect();
    let mut holders: Vec<Option<CustomerId>> = Vec::with_capacity(hashes.len());
    for hash in &hashes {
        holders.push(get_json(store, &keys::identity(shop, hash))?);
    }
    let customer = match known.or_else(|| holders.iter().flatten().next().cloned()) {
        Some(customer) => customer,
        None => {
            let Some(first) = hashes.first() else {
                return Ok(Resolution::default());
            };
            // Listed before it is claimed: a crash in between leaves a list entry with no
            // customer (skipped by every walk), never a customer missing from the list.
            let fresh = CustomerId::random();
            applog::append(store, shop, keys::lists::CUSTOMERS, &fresh)?;
            let key = keys::identity(shop, first);
            let (holder, _) = crate::store::create_json(store, &key, &fresh)?;
            holders[0] = Some(holder.clone());
            holder
        }
    };
    let mut owned = Vec::new();
    for (hash, holder) in hashes.iter().zip(holders) {
        let holder = match holder {
            Some(h) => h,
            None => crate::store::create_json(store, &keys::identity(shop, hash), &customer)?.0,
        };
        if holder == customer {
            owned.push(hash.clone());
        }
    }
    Ok(Resolution {
        customer: Some(customer),
        owned_hashes: owned,
    })
}

/// An identifier a person claims (a lead), and whether they proved it is theirs: a phone
/// number with the code sent to it, a WeCom contact that WeCom itself signed. A typed phone
/// or email proves nothing.
#[derive(Debug, Clone)]
pub struct Claim {
    pub identity: Identity,
    pub proven: bool,
}

/// What a set of claims may do to the customer they name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Nobody held any claimed identifier: a new customer was made for them.
    New,
    /// The customer was found by an identifier the person proved: they are that customer.
    Proven,
    /// The customer was found by an unproven claim: the claimant may be anyone who knows
    /// their number or email. The lead is recorded, nothing of the customer is rewritten or
    /// shown (README, "Who a lead is").
    Unproven,
}

/// The customer a lead's claims lead to, how far the claimant is trusted with it, and the
/// index entries that point there.
#[derive(Debug, Clone)]
pub struct ClaimResolution {
    pub customer: CustomerId,
    pub standing: Standing,
    pub owned_hashes: Vec<String>,
    /// Claimed identifiers that belong to another customer: left out of what the lead
    /// writes, so no claim moves one person's contact onto another's record.
    pub foreign: Vec<Identity>,
}

impl ClaimResolution {
    /// The standing for the customer record as it is: an unproven match on a record that was
    /// never written with an identity (a crashed or racing first sign-up of the same person)
    /// is treated as new, so its retry completes it.
    pub fn standing_for(&self, customer: &Customer) -> Standing {
        if self.standing == Standing::Unproven
            && customer.identity_hashes.is_empty()
            && customer.erased_at.is_none()
        {
            Standing::New
        } else {
            self.standing
        }
    }
}

/// Resolves a lead's claims (none may be empty). Proven identifiers decide: the customer
/// holding one, or a new customer for them; unproven identifiers held by someone else are
/// left out. Without proof, a claim that matches someone finds them as `Unproven` and links
/// nothing more to them; a claim that matches nobody makes a new customer holding every
/// identifier. Identifiers are claimed by compare-and-swap, as in `resolve`.
pub fn resolve_claims(
    store: &dyn Store,
    shop: &ShopId,
    pepper: &[u8],
    claims: &[Claim],
) -> Result<ClaimResolution, Error> {
    if claims.is_empty() {
        return Err(Error::invalid("no identity given"));
    }
    let hashes: Vec<String> = claims.iter().map(|c| c.identity.hash(pepper)).collect();
    let mut holders: Vec<Option<CustomerId>> = Vec::with_capacity(hashes.len());
    for hash in &hashes {
        holders.push(get_json(store, &keys::identity(shop, hash))?);
    }
    let any_proven = claims.iter().any(|c| c.proven);
    // Whose record this is: a holder of a proven identifier first, then (without proof) any
    // holder; the index positions that may decide.
    let deciding = |i: usize| !any_proven || claims[i].proven;
    let found = (0..claims.len()).find_map(|i| holders[i].clone().filter(|_| deciding(i)));
    let (customer, standing) = match found {
        Some(customer) if any_proven => (customer, Standing::Proven),
        Some(customer) => (customer, Standing::Unproven),
        None => {
            // The first deciding identifier names the new customer; a racing claimant of the
            // same identifier wins or loses the compare-and-swap, and the loser adopts.
            let first = (0..claims.len()).find(|i| deciding(*i)).unwrap_or(0);
            let fresh = CustomerId::random();
            applog::append(store, shop, keys::lists::CUSTOMERS, &fresh)?;
            let key = keys::identity(shop, &hashes[first]);
            let (holder, created) = crate::store::create_json(store, &key, &fresh)?;
            holders[first] = Some(holder.clone());
            let standing = match (created, claims[first].proven) {
                (true, _) => Standing::New,
                (false, true) => Standing::Proven,
                (false, false) => Standing::Unproven,
            };
            (holder, standing)
        }
    };
    let mut owned = Vec::new();
    let mut foreign = Vec::new();
    for (i, hash) in hashes.iter().enumerate() {
        let holder = match &holders[i] {
            Some(holder) => holder.clone(),
            // Unproven claimants link nothing to a record they did not prove is theirs.
            None if standing == Standing::Unproven => continue,
            None => crate::store::create_json(store, &keys::identity(shop, hash), &customer)?.0,
        };
        if holder == customer {
            owned.push(hash.clone());
        } else {
            foreign.push(claims[i].identity.clone());
        }
    }
    Ok(ClaimResolution {
        customer,
        standing,
        owned_hashes: owned,
        foreign,
    })
}

/// Looks a customer up by identities without creating anything.
pub fn find(
    store: &dyn Store,
    shop: &ShopId,
    pepper: &[u8],
    identities: &[Identity],
) -> Result<Option<CustomerId>, StoreError> {
    for identity in identities {
        if let Some(id) = get_json(store, &keys::identity(shop, &identity.hash(pepper)))? {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

pub fn load(store: &dyn Store, shop: &ShopId, id: &CustomerId) -> Result<Customer, Error> {
    get_json(store, &keys::customer(shop, id))?.ok_or_else(|| Error::not_found("customer"))
}

/// Read-modify-write of a customer (created empty if absent). `change` returns whether it
/// changed anything; nothing is written otherwise.
pub fn update(
    store: &dyn Store,
    shop: &ShopId,
    id: &CustomerId,
    now: Timestamp,
    mut change: impl FnMut(&mut Customer) -> bool,
) -> Result<Customer, StoreError> {
    update_json(
        store,
        &keys::customer(shop, id),
        |current: Option<Customer>| {
            let mut customer = current.unwrap_or_else(|| Customer::new(id.clone(), now));
            if change(&mut customer) {
                customer.updated_at = now;
                Ok::<_, StoreError>(Change::Write(customer.clone(), customer))
            } else {
                Ok(Change::Keep(customer))
            }
        },
    )
}

/// Like `update`, but leaves an absent customer absent (returns None).
pub fn update_existing(
    store: &dyn Store,
    shop: &ShopId,
    id: &CustomerId,
    now: Timestamp,
    mut change: impl FnMut(&mut Customer) -> bool,
) -> Result<Option<Customer>, StoreError> {
    update_json(
        store,
        &keys::customer(shop, id),
        |current: Option<Customer>| {
            let Some(mut customer) = current else {
                return Ok::<_, StoreError>(Change::Keep(None));
            };
            if change(&mut customer) {
                customer.updated_at = now;
                Ok(Change::Write(customer.clone(), Some(customer)))
            } else {
                Ok(Change::Keep(Some(customer)))
            }
        },
    )
}

/// A customer that exists and is not erased: what a person may still change by hand.
pub fn load_live(store: &dyn Store, shop: &ShopId, id: &CustomerId) -> Result<Customer, Error> {
    let customer = load(store, shop, id)?;
    if customer.erased_at.is_some() {
        return Err(Error::refused(
            ErrorCode::CustomerErased,
            "this customer was erased; their data cannot be changed",
        ));
    }
    Ok(customer)
}

/// Erasure of the record: personal data and the identity index entries go, aggregates stay
/// anonymous. Safe to repeat; a retry finishes what an interrupted one left. What follows
/// (segments, reminders) is `flows::erasure`'s.
pub fn erase_record(
    store: &dyn Store,
    shop: &ShopId,
    id: &CustomerId,
    now: Timestamp,
) -> Result<Customer, Error> {
    let customer = load(store, shop, id)?;
    for hash in &customer.identity_hashes {
        let key = keys::identity(shop, hash);
        if get_json::<CustomerId>(store, &key)?.as_ref() == Some(id) {
            store.delete(&key)?;
        }
    }
    let erased = update(store, shop, id, now, |c| {
        let before = c.clone();
        c.erase(now);
        *c != before
    })?;
    Ok(erased)
}

/// A privacy data request as listed for the merchant.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct DataRequestMarker {
    entry: serde_json::Value,
    listed: bool,
}

/// Records a platform's data request once per request id. The marker is written first and
/// flagged once listed, so a crash in between is finished by the redelivery (at worst the
/// request is listed twice, never lost).
pub fn record_data_request(
    store: &dyn Store,
    shop: &ShopId,
    platform: Platform,
    request_id: &ExternalId,
    customer: Option<&CustomerId>,
    now: Timestamp,
) -> Result<(), Error> {
    let key = keys::data_request(shop, request_id);
    let fresh = DataRequestMarker {
        entry: serde_json::json!({
            "request_id": request_id,
            "platform": platform,
            "customer_id": customer,
            "received_at": now,
        }),
        listed: false,
    };
    let (marker, _) = crate::store::create_json(store, &key, &fresh)?;
    if !marker.listed {
        applog::append(store, shop, keys::lists::DATA_REQUESTS, &marker.entry)?;
        update_json(store, &key, |current: Option<DataRequestMarker>| {
            let mut marker = current.unwrap_or(fresh.clone());
            marker.listed = true;
            Ok::<_, StoreError>(Change::Write(marker, ()))
        })?;
    }
    Ok(())
}
