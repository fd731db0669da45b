//! An order event arrives (any platform, any order, any number of times) and settles:
//!
//! 1. the event is merged into the order record, which plans the next change of its
//!    customer's aggregates as an `Intent` (`orders::OrderRecord::plan`);
//! 2. the customer applies the intent (once per intent id) together with what the event
//!    says about them, re-evaluated in the same write (`customer_changed::update`, so
//!    tags, segments and tag-triggered coupons follow);
//! 3. the channel that captured them counts the order in its funnel (once per intent);
//! 4. the order's effects beyond the customer are brought in line with its state: coupon
//!    codes redeemed or given back (`coupons::apply_order_codes`), reminders planned or
//!    cancelled (`reminders::plan_order` / `cancel_order`) — all idempotent;
//! 5. the order record marks the intent and the effects applied, in one write.
//!
//! A crash anywhere leaves the intent pending or the effects due, and the platform's retry
//! finishes them without doing anything twice.

use jiff::Timestamp;

use crate::channels;
use crate::coupons::{self, CodeUse, OrderUse};
use crate::customers;
use crate::domain::{CustomerId, ShopId};
use crate::error::Error;
use crate::keys;
use crate::orders::{EffectState, OrderEvent, OrderOutcome, OrderRecord};
use crate::reminders;
use crate::shops::Shop;
use crate::store::{get_json, update_json, Change, Store};
use crate::tagging::Evaluator;

use super::customer_changed;

/// Settlement rounds per request; each round finishes one change of the order.
const SETTLE_ROUNDS: usize = 16;

/// Records an order event and brings the customer up to date, exactly once however often
/// and in whatever order the platform delivers. Returns only once everything is stored.
pub fn ingest(
    store: &dyn Store,
    shop: &Shop,
    pepper: &[u8],
    event: &OrderEvent,
    deliveries: &[String],
    now: Timestamp,
) -> Result<OrderOutcome, Error> {
    let zone = &shop.zone();
    let key = keys::order(&shop.id, event.platform, &event.order_id);
    let existing: Option<OrderRecord> = get_json(store, &key)?;
    if let Some(record) = &existing {
        let seen = deliveries.iter().any(|d| record.deliveries.contains(d));
        if seen && record.pending.is_none() && record.effects_due().is_none() {
            return Ok(OrderOutcome::of(record, true));
        }
    }

    let identities = event.customer.identities();
    let known = existing.as_ref().and_then(|r| r.customer_id.clone());
    let resolution = if identities.is_empty() && known.is_none() {
        customers::Resolution::default()
    } else {
        customers::resolve(store, &shop.id, pepper, &identities, known)?
    };

    let (mut record, mut intent) = update_json(store, &key, |current: Option<OrderRecord>| {
        let mut record = current.unwrap_or_else(|| OrderRecord::new(event, now));
        let before = record.clone();
        record.merge(event, deliveries);
        if record.customer_id.is_none() {
            record.customer_id = resolution.customer.clone();
        }
        let intent = record.plan();
        // Delivery ids alone are not worth a write: a redelivery under a new id changes nothing.
        let unchanged = OrderRecord {
            deliveries: before.deliveries.clone(),
            ..record.clone()
        } == before;
        if unchanged {
            Ok::<_, Error>(Change::Keep((record, intent)))
        } else {
            record.updated_at = now;
            Ok(Change::Write(record.clone(), (record, intent)))
        }
    })?;

    let mut profile = (!event.customer.is_empty()).then_some(&event.customer);
    let evaluator = (record.customer_id.is_some() && (intent.is_some() || profile.is_some()))
        .then(|| Evaluator::load(store, shop, now))
        .transpose()?;
    for _ in 0..SETTLE_ROUNDS {
        let Some(evaluator) = &evaluator else {
            break;
        };
        let Some(customer_id) = record.customer_id.clone() else {
            break;
        };
        if intent.is_none() && profile.is_none() {
            break;
        }
        let applied =
            customer_changed::update(store, shop, evaluator, &customer_id, now, |customer| {
                let mut changed = false;
                if let Some(intent) = &intent {
                    changed |= customer.apply_intent(intent, zone);
                }
                if let Some(patch) = profile {
                    changed |= customer.apply_profile(
                        patch,
                        event.platform.as_str(),
                        &resolution.owned_hashes,
                    );
                }
                changed
            })?;
        // The channel counts each intent once, so a retry may pass the same change again.
        if let Some(delta) = intent.as_ref().and_then(|i| applied.funnel_delta(i.id)) {
            channels::record_funnel(store, &shop.id, delta)?;
        }
        if applied.erased_at.is_some() && profile.is_some() {
            forget_identities(store, &shop.id, &customer_id, &resolution.owned_hashes)?;
        }
        profile = None;
        let Some(done) = intent.take() else {
            break;
        };
        // Effects go before the write that marks the change applied, so that one write
        // records both; a crash in between is finished by the retry (effects are idempotent).
        let effects = record.effects_due();
        if let Some(state) = effects {
            apply_effects(store, shop, &record, state, now)?;
        }
        (record, intent) = update_json(store, &key, |current: Option<OrderRecord>| {
            let Some(mut record) = current else {
                return Err(Error::internal("order record vanished"));
            };
            if record.pending.as_ref().map(|p| p.id) == Some(done.id) {
                record.applied = done.to.clone();
                record.pending = None;
            }
            if effects.is_some() && record.effect_state() == effects {
                record.effects_applied = effects;
            }
            let next = record.plan();
            record.updated_at = now;
            Ok(Change::Write(record.clone(), (record, next)))
        })?;
    }
    if record.pending.is_some() {
        // Other requests kept changing the order; the platform's retry will finish.
        return Err(Error::busy("order still settling; retry"));
    }
    settle_effects(store, shop, &key, &record, now)?;
    Ok(OrderOutcome::of(&record, false))
}

/// Brings an order's effects in line with its state: coupon codes redeemed while it stands
/// and taken back when it is cancelled or wholly refunded; reminders planned from it once
/// paid and cancelled with it. Each is idempotent, so a retry may run this again.
fn apply_effects(
    store: &dyn Store,
    shop: &Shop,
    record: &OrderRecord,
    state: EffectState,
    now: Timestamp,
) -> Result<(), Error> {
    let (Some(snapshot), Some(customer)) = (&record.snapshot, &record.customer_id) else {
        return Ok(());
    };
    let order = format!(
        "{}/{}",
        record.platform.as_str(),
        record.order_id.key_part()
    );
    if !snapshot.discount_codes.is_empty() {
        let used = OrderUse {
            order: order.clone(),
            customer: Some(customer.clone()),
            total_minor: Some(snapshot.total_minor),
            currency: Some(snapshot.currency),
        };
        let code_use = match state {
            EffectState::Placed | EffectState::Paid => CodeUse::Redeemed,
            EffectState::Cancelled => CodeUse::Cancelled,
            EffectState::Refunded => CodeUse::Refunded,
        };
        coupons::apply_order_codes(
            store,
            &shop.id,
            &snapshot.discount_codes,
            &used,
            code_use,
            now,
        )?;
    }
    let settings = reminders::settings(store, &shop.id)?;
    if !settings.has_profiles() {
        return Ok(());
    }
    match state {
        EffectState::Paid => {
            let paid_at = record
                .facts
                .paid_at
                .or(record.facts.placed_at)
                .unwrap_or(now);
            reminders::plan_order(
                store,
                &settings,
                &reminders::PaidOrder {
                    shop,
                    customer,
                    order,
                    paid_at,
                    items: &snapshot.line_items,
                },
                now,
            )?;
        }
        EffectState::Cancelled | EffectState::Refunded => {
            reminders::cancel_order(store, &shop.id, customer, &order, &snapshot.line_items, now)?;
        }
        EffectState::Placed => {}
    }
    Ok(())
}

/// Effects an event left due without a change of the customer's aggregates to carry the
/// marker (e.g. an unpaid order's codes): applied, then marked in a write of their own.
fn settle_effects(
    store: &dyn Store,
    shop: &Shop,
    key: &str,
    record: &OrderRecord,
    now: Timestamp,
) -> Result<(), Error> {
    let Some(state) = record.effects_due() else {
        return Ok(());
    };
    apply_effects(store, shop, record, state, now)?;
    update_json(store, key, |current: Option<OrderRecord>| {
        let Some(mut r) = current else {
            return Ok::<_, Error>(Change::Keep(()));
        };
        if r.effect_state() != Some(state) || r.effects_applied == Some(state) {
            // A newer event moved the order on; its own request settles that.
            return Ok(Change::Keep(()));
        }
        r.effects_applied = Some(state);
        Ok(Change::Write(r, ()))
    })
}

/// An erased customer must not be found again through identities an event just linked.
fn forget_identities(
    store: &dyn Store,
    shop: &ShopId,
    customer: &CustomerId,
    hashes: &[String],
) -> Result<(), Error> {
    for hash in hashes {
        let key = keys::identity(shop, hash);
        if get_json::<CustomerId>(store, &key)?.as_ref() == Some(customer) {
            store.delete(&key)?;
        }
    }
    Ok(())
}
