//! An order event arrives (any platform, any order, any number of times) and settles:
//!
//! 1. the event is merged into the order record, which plans the next change of its
//!    customer's aggregates as an `Intent` (`orders::OrderRecord::take_in`);
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
use crate::customers::{self, Intent, ProfilePatch};
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
    let key = keys::order(&shop.id, event.platform, &event.order_id);
    let existing: Option<OrderRecord> = get_json(store, &key)?;
    if let Some(record) = existing
        .as_ref()
        .filter(|r| r.is_settled_duplicate(deliveries))
    {
        return Ok(OrderOutcome::of(record, true));
    }
    let identities = event.customer.identities();
    let known = existing.as_ref().and_then(|r| r.customer_id.clone());
    let resolution = if identities.is_empty() && known.is_none() {
        customers::Resolution::default()
    } else {
        customers::resolve(store, &shop.id, pepper, &identities, known)?
    };
    // Step 1.
    let (record, intent) = update_json(store, &key, |current: Option<OrderRecord>| {
        let mut record = current.unwrap_or_else(|| OrderRecord::new(event, now));
        let (changed, intent) = record.take_in(event, deliveries, resolution.customer.as_ref());
        if changed {
            record.updated_at = now;
            Ok::<_, Error>(Change::Write(record.clone(), (record, intent)))
        } else {
            Ok(Change::Keep((record, intent)))
        }
    })?;
    let settlement = Settlement {
        store,
        shop,
        event,
        key: &key,
        owned_hashes: &resolution.owned_hashes,
        now,
    };
    let record = settlement.settle(record, intent)?;
    if record.pending.is_some() {
        // Other requests kept changing the order; the platform's retry will finish.
        return Err(Error::busy("order still settling; retry"));
    }
    settle_effects(store, shop, &key, &record, now)?;
    Ok(OrderOutcome::of(&record, false))
}

/// One request's settlement of one order.
struct Settlement<'a> {
    store: &'a dyn Store,
    shop: &'a Shop,
    event: &'a OrderEvent,
    key: &'a str,
    /// Identity index entries the event's customer holds.
    owned_hashes: &'a [String],
    now: Timestamp,
}

impl Settlement<'_> {
    /// Steps 2–5, round after round while the order has a change pending (each round
    /// finishes one), up to `SETTLE_ROUNDS`. Returns the order record as last written.
    fn settle(
        &self,
        mut record: OrderRecord,
        mut intent: Option<Intent>,
    ) -> Result<OrderRecord, Error> {
        let mut profile = (!self.event.customer.is_empty()).then_some(&self.event.customer);
        let Some(customer_id) = record.customer_id.clone() else {
            return Ok(record);
        };
        if intent.is_none() && profile.is_none() {
            return Ok(record);
        }
        let evaluator = Evaluator::load(self.store, self.shop, self.now)?;
        for _ in 0..SETTLE_ROUNDS {
            if intent.is_none() && profile.is_none() {
                break;
            }
            self.apply_to_customer(&evaluator, &customer_id, intent.as_ref(), profile)?;
            profile = None;
            let Some(done) = intent.take() else {
                break;
            };
            // Effects go before the write that marks the change applied, so that one write
            // records both; a crash in between is finished by the retry (they are idempotent).
            let effects = record.effects_due();
            if let Some(state) = effects {
                apply_effects(self.store, self.shop, &record, state, self.now)?;
            }
            (record, intent) =
                update_json(self.store, self.key, |current: Option<OrderRecord>| {
                    let Some(mut record) = current else {
                        return Err(Error::internal("order record vanished"));
                    };
                    let next = record.finish(&done, effects);
                    record.updated_at = self.now;
                    Ok(Change::Write(record.clone(), (record, next)))
                })?;
        }
        Ok(record)
    }

    /// Steps 2 and 3: the customer takes the intent and the event's profile in one write,
    /// and the channel that captured them counts the order.
    fn apply_to_customer(
        &self,
        evaluator: &Evaluator,
        customer_id: &CustomerId,
        intent: Option<&Intent>,
        profile: Option<&ProfilePatch>,
    ) -> Result<(), Error> {
        let (store, shop, now) = (self.store, self.shop, self.now);
        let zone = &shop.zone();
        let applied = customer_changed::update(store, shop, evaluator, customer_id, now, |c| {
            let mut changed = false;
            if let Some(intent) = intent {
                changed |= c.apply_intent(intent, zone);
            }
            if let Some(patch) = profile {
                changed |= c.apply_profile(
                    patch,
                    self.event.platform.as_str(),
                    self.owned_hashes,
                    false,
                );
            }
            changed
        })?;
        // The channel counts each intent once, so a retry may pass the same change again.
        if let Some(delta) = intent.and_then(|i| applied.funnel_delta(i.id)) {
            channels::record_funnel(store, &shop.id, delta)?;
        }
        if applied.erased_at.is_some() && profile.is_some() {
            forget_identities(store, &shop.id, customer_id, self.owned_hashes)?;
        }
        Ok(())
    }
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
