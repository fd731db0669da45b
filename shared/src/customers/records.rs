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
