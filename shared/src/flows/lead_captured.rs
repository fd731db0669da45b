//! A lead is captured (the hosted form, the JSON API, a WeCom contact), in this order:
//! the customer is created or joined and the lead folded in, with the channel's tags and
//! first-capture mark, in one write (`customer_changed::update`, so tag rules, segments and
//! tag-triggered coupons follow); the lead is counted once per person and channel
//! (`channels::leads::count_lead`); the channel's welcome coupon is issued, once per person
//! and channel (the idempotency key says so, so a repeated sign-up gets the same code).

use jiff::Timestamp;

use crate::channels::leads::{self, LeadOutcome, ValidLead};
use crate::channels::Channel;
use crate::coupons;
use crate::customers::{self, Customer};
use crate::domain::{CampaignId, CouponCode, CustomerId};
use crate::error::Error;
use crate::shops::Shop;
use crate::store::Store;
use crate::tagging::Evaluator;

use super::customer_changed;

/// Records a lead through a channel.
pub fn capture(
    store: &dyn Store,
    pepper: &[u8],
    shop: &Shop,
    channel: &Channel,
    lead: ValidLead,
    now: Timestamp,
) -> Result<LeadOutcome, Error> {
    let phone_verified = lead.phone_verified();
    let customer_id = upsert(store, pepper, shop, &lead, "lead", now, |c| {
        leads::apply_capture(c, channel, now)
    })?;
    let new_lead = leads::count_lead(store, shop, channel, &customer_id, now)?;
    Ok(LeadOutcome {
        welcome_coupon: welcome_coupon(store, shop, channel, &customer_id, now)?,
        customer_id,
        new_lead,
        phone_verified,
    })
}

/// A person known without a channel (e.g. a WeCom contact added outside channel codes):
/// the customer is created or joined, nothing is counted.
pub fn record_contact(
    store: &dyn Store,
    pepper: &[u8],
    shop: &Shop,
    lead: ValidLead,
    now: Timestamp,
) -> Result<CustomerId, Error> {
    upsert(store, pepper, shop, &lead, "wecom", now, |_| false)
}

/// Creates or joins the customer a lead names and folds in what it says about them, plus
/// whatever `more` changes in the same write.
fn upsert(
    store: &dyn Store,
    pepper: &[u8],
    shop: &Shop,
    lead: &ValidLead,
    source: &str,
    now: Timestamp,
    mut more: impl FnMut(&mut Customer) -> bool,
) -> Result<CustomerId, Error> {
    let identities = lead.patch.identities();
    let resolution = customers::resolve(store, &shop.id, pepper, &identities, None)?;
    let customer_id = resolution
        .customer
        .clone()
        .ok_or_else(|| Error::invalid("no identity given"))?;
    let evaluator = Evaluator::load(store, shop, now)?;
    customer_changed::update(store, shop, &evaluator, &customer_id, now, |c| {
        let changed = lead.apply(c, source, &resolution.owned_hashes);
        more(c) | changed
    })?;
    Ok(customer_id)
}

/// A coupon the campaign refuses (paused, quota reached, not eligible) leaves the lead
/// without one.
fn welcome_coupon(
    store: &dyn Store,
    shop: &Shop,
    channel: &Channel,
    customer: &CustomerId,
    now: Timestamp,
) -> Result<Option<CouponCode>, Error> {
    // The channel names its campaign as text; text that is no campaign's id names none.
    let Some(campaign) = channel
        .welcome_campaign
        .as_deref()
        .and_then(CampaignId::parse)
    else {
        return Ok(None);
    };
    let key = format!("welcome:{}:{customer}", channel.id);
    match coupons::issue(store, &shop.id, &campaign, customer, Some(&key), now) {
        Ok(coupon) => Ok(Some(coupon.code)),
        Err(e) if !e.is_server_fault() => Ok(None),
        Err(e) => Err(e),
    }
}
