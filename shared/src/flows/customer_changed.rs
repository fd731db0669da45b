//! A customer changed: whatever changed them (an order, a profile, a lead, a person's tags
//! or attributes, the scheduled pass), the same follow-ups run, in this order:
//!
//! 1. the change and the re-evaluation of their tags and RFM group are one write
//!    (`customers::update` + `tagging::Evaluator`), which also lists the segments whose
//!    membership moved in the customer's `unsynced`;
//! 2. the segment index is brought up to date (`tagging::segments::sync_index`);
//! 3. coupon campaigns triggered by a tag they gained issue (`coupons::issue_for_new_tags`,
//!    idempotent per customer and campaign);
//! 4. the synced segments are cleared from `unsynced` (`tagging::segments::mark_synced`) —
//!    only now, so a crash before it is finished by the next change or the pass;
//! 5. a withdrawn marketing consent cancels their reminders (`reminders::cancel_customer`).

use jiff::Timestamp;

use crate::coupons;
use crate::customers::{self, AttributePatch, Customer, ProfilePatch};
use crate::domain::{CustomerId, Platform, ShopId};
use crate::error::Error;
use crate::reminders;
use crate::shops::Shop;
use crate::store::Store;
use crate::tagging::{self, segments, Evaluator, ManualTagChange, PassReport};

/// Changes a customer and re-evaluates their tags in the same write, then runs what follows
/// from it. Every path that changes a customer goes through here.
pub fn update(
    store: &dyn Store,
    shop: &Shop,
    evaluator: &Evaluator,
    id: &CustomerId,
    now: Timestamp,
    mut change: impl FnMut(&mut Customer) -> bool,
) -> Result<Customer, Error> {
    let mut consented_before = None;
    let customer = customers::update(store, &shop.id, id, now, |c| {
        consented_before = c.consent.marketing;
        let changed = change(c);
        evaluator.evaluate(c) | changed
    })?;
    sync_segments(store, &shop.id, &customer, now)?;
    if consented_before != Some(false) && customer.consent.marketing == Some(false) {
        // No more marketing messages: whatever was planned for them is cancelled.
        reminders::cancel_customer(store, &shop.id, id, "consent_withdrawn", now)?;
    }
    Ok(customer)
}

/// Steps 2–4: the segment index, the coupons a gained tag triggers, then `unsynced` cleared.
/// A customer with nothing unsynced costs nothing: each step has nothing to do.
pub fn sync_segments(
    store: &dyn Store,
    shop: &ShopId,
    customer: &Customer,
    now: Timestamp,
) -> Result<(), Error> {
    let gained = segments::sync_index(store, shop, customer)?;
    coupons::issue_for_new_tags(store, shop, &customer.id, &gained, now)?;
    segments::mark_synced(store, shop, customer, now)
}

/// Re-evaluates one existing customer (nothing else changes) and finishes any segment sync
/// an earlier request left undone. Returns whether the customer changed. A customer listed
/// but never written (a crash before their first write) is left alone.
pub fn refresh(
    store: &dyn Store,
    shop: &Shop,
    evaluator: &Evaluator,
    id: &CustomerId,
    now: Timestamp,
) -> Result<bool, Error> {
    let mut changed = false;
    let customer = customers::update_existing(store, &shop.id, id, now, |c| {
        changed = evaluator.evaluate(c);
        changed
    })?;
    if let Some(customer) = customer {
        sync_segments(store, &shop.id, &customer, now)?;
    }
    Ok(changed)
}

/// One batch of the scheduled pass: each customer of the batch refreshed as above.
pub fn tagging_pass(
    store: &dyn Store,
    shop: &Shop,
    limit: usize,
    now: Timestamp,
) -> Result<PassReport, Error> {
    tagging::run_pass(store, shop, limit, now, &mut |evaluator, id| {
        refresh(store, shop, evaluator, id, now)
    })
}

/// Records what an event says about a person (customers/create, customers/update).
pub fn upsert_profile(
    store: &dyn Store,
    shop: &Shop,
    pepper: &[u8],
    patch: &ProfilePatch,
    source: Platform,
    now: Timestamp,
) -> Result<Option<CustomerId>, Error> {
    let resolution = customers::resolve(store, &shop.id, pepper, &patch.identities(), None)?;
    let Some(id) = resolution.customer else {
        return Ok(None);
    };
    let evaluator = Evaluator::load(store, shop, now)?;
    update(store, shop, &evaluator, &id, now, |c| {
        c.apply_profile(patch, source.as_str(), &resolution.owned_hashes, false)
    })?;
    Ok(Some(id))
}

/// A person adds or removes tags by hand (see `ManualTagChange`).
pub fn change_tags(
    store: &dyn Store,
    shop: &Shop,
    id: &CustomerId,
    change: &ManualTagChange,
    key_id: &str,
    now: Timestamp,
) -> Result<Customer, Error> {
    change.check(&customers::load_live(store, &shop.id, id)?)?;
    let evaluator = Evaluator::load(store, shop, now)?;
    update(store, shop, &evaluator, id, now, |c| {
        change.apply(c, key_id, now)
    })
}

/// Sets or removes customer attributes (gender, birthday, city, custom keys).
pub fn set_attributes(
    store: &dyn Store,
    shop: &Shop,
    id: &CustomerId,
    patch: &AttributePatch,
    now: Timestamp,
) -> Result<Customer, Error> {
    let mut check = customers::load_live(store, &shop.id, id)?;
    patch.apply(&mut check)?;
    let evaluator = Evaluator::load(store, shop, now)?;
    update(store, shop, &evaluator, id, now, |c| {
        // Checked above; a concurrent change pushing past the limit keeps the old values.
        patch.apply(c).unwrap_or(false)
    })
}

/// Withdraws the customer's marketing consent through their unsubscribe link (which
/// cancels their reminders, step 5). Safe to repeat; an unknown customer is left as is.
pub fn unsubscribe(
    store: &dyn Store,
    shop: &Shop,
    customer: &CustomerId,
    now: Timestamp,
) -> Result<(), Error> {
    let evaluator = Evaluator::load(store, shop, now)?;
    match customers::load(store, &shop.id, customer) {
        Err(Error::NotFound { .. }) => return Ok(()),
        other => other?,
    };
    update(store, shop, &evaluator, customer, now, |c| {
        c.withdraw_consent("unsubscribe", now)
    })?;
    Ok(())
}
