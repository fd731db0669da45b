//! A lead is captured (the hosted form, the JSON API, a WeCom contact), in this order:
//! the lead's claims are resolved to a customer (`customers::resolve_claims`: who the person
//! proved to be, if anyone); the customer is created or joined and the lead folded in as far
//! as that allows, with the channel's tags and first-capture mark, in one write
//! (`customer_changed::update`, so tag rules, segments and tag-triggered coupons follow); the
//! lead is counted once per person and channel (`channels::leads::count_lead`); the channel's
//! welcome coupon is issued, once per person and channel (the idempotency key says so).
//!
//! The coupon is shown only to a person who is new or proved who they are. A submitter who
//! matched someone already known without proof could be anyone who knows that number or
//! email: the coupon goes to the contact details on record, through the shop's delivery URL
//! (once, signed like every message), or stays on the record for the shop to hand over.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::Serialize;

use crate::channels::leads::{self, CouponPlace, LeadCaptured, ValidLead};
use crate::channels::Channel;
use crate::coupons;
use crate::customers::{self, Customer, Standing};
use crate::domain::{CampaignId, CouponCode, CustomerId, ShopId};
use crate::error::Error;
use crate::keys;
use crate::outbound::{post_signed, Courier};
use crate::reminders::{self, MessageCoupon, MessageCustomer};
use crate::shops::Shop;
use crate::store::{create_json, get_json, Store};
use crate::tagging::Evaluator;

use super::customer_changed;

/// Where a returning person's coupon may be sent: the way out, the unsubscribe links' key
/// and origin.
pub struct CouponDelivery<'a> {
    pub courier: Courier<'a>,
    pub pepper: &'a [u8],
    pub origin: &'a str,
}

/// Records a lead through a channel.
pub fn capture(
    store: &dyn Store,
    pepper: &[u8],
    shop: &Shop,
    channel: &Channel,
    lead: ValidLead,
    delivery: Option<&CouponDelivery>,
    now: Timestamp,
) -> Result<LeadCaptured, Error> {
    let phone_verified = lead.phone_verified();
    let (customer, standing) = upsert(store, pepper, shop, &lead, "lead", now, |c| {
        leads::apply_capture(c, channel, now)
    })?;
    let new_lead = leads::count_lead(store, shop, channel, &customer.id, now)?;
    let coupon = match welcome_coupon(store, shop, channel, &customer.id, now)? {
        None => None,
        Some(code) if standing != Standing::Unproven => Some((code, CouponPlace::Shown)),
        Some(code) => {
            let place = match delivery {
                Some(delivery) => {
                    send_coupon(store, delivery, shop, channel, &customer, &code, now)?
                }
                None => CouponPlace::Kept,
            };
            Some((code, place))
        }
    };
    Ok(LeadCaptured {
        customer: customer.id,
        standing,
        new_lead,
        coupon,
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
    Ok(upsert(store, pepper, shop, &lead, "wecom", now, |_| false)?
        .0
        .id)
}

/// Creates or joins the customer a lead's claims name and folds in what it may say about
/// them, plus whatever `more` changes in the same write; with the standing it had.
fn upsert(
    store: &dyn Store,
    pepper: &[u8],
    shop: &Shop,
    lead: &ValidLead,
    source: &str,
    now: Timestamp,
    mut more: impl FnMut(&mut Customer) -> bool,
) -> Result<(Customer, Standing), Error> {
    let resolution = customers::resolve_claims(store, &shop.id, pepper, &lead.claims())?;
    let evaluator = Evaluator::load(store, shop, now)?;
    let mut standing = resolution.standing;
    let customer =
        customer_changed::update(store, shop, &evaluator, &resolution.customer, now, |c| {
            standing = resolution.standing_for(c);
            let changed = lead.apply(
                c,
                standing,
                &resolution.foreign,
                source,
                &resolution.owned_hashes,
            );
            more(c) | changed
        })?;
    Ok((customer, standing))
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

/// The message a shop's delivery URL receives with a returning person's welcome coupon
/// (README, "Delivery").
#[derive(Debug, Serialize, JsonSchema)]
pub struct CouponMessage {
    message_id: String,
    /// Always `welcome_coupon`.
    kind: &'static str,
    shop_id: ShopId,
    sent_at: Timestamp,
    customer: MessageCustomer,
    coupon: MessageCoupon,
    /// A ready-made SMS text.
    text: String,
    unsubscribe_url: String,
}

/// Sends the coupon to the customer's contact details on record, once: a marker written
/// after the receiver took it keeps later submissions (which anyone may make) from sending
/// it again. Only to a customer who accepts marketing, and only where the shop delivers.
fn send_coupon(
    store: &dyn Store,
    delivery: &CouponDelivery,
    shop: &Shop,
    channel: &Channel,
    customer: &Customer,
    code: &CouponCode,
    now: Timestamp,
) -> Result<CouponPlace, Error> {
    let marker = keys::welcome_coupon_sent(&shop.id, &channel.id, &customer.id);
    if get_json::<Timestamp>(store, &marker)?.is_some() {
        return Ok(CouponPlace::Sent);
    }
    let recipient = MessageCustomer::of(customer);
    if customer.consent.marketing != Some(true) || !recipient.reachable() {
        return Ok(CouponPlace::Kept);
    }
    let Ok(Some(target)) =
        reminders::delivery_target(store, &shop.id, delivery.courier.allow_private)
    else {
        return Ok(CouponPlace::Kept);
    };
    let valid_until = coupons::load_coupon(store, &shop.id, code)?.and_then(|c| c.valid_until);
    let display = shop.branding.display_name.as_deref().unwrap_or(&shop.name);
    let until = valid_until
        .map(|at| {
            let local = at.to_zoned(shop.zone()).strftime("%Y-%m-%d").to_string();
            format!("，有效期至 {local}")
        })
        .unwrap_or_default();
    let token = reminders::unsubscribe_token(delivery.pepper, &shop.id, &customer.id);
    let message = CouponMessage {
        message_id: format!("{}.wc.{}.{}", shop.id, channel.id, customer.id),
        kind: "welcome_coupon",
        shop_id: shop.id.clone(),
        sent_at: now,
        text: format!("【{display}】您的欢迎优惠券：{code}{until}，结账时输入即可使用。"),
        customer: recipient,
        coupon: MessageCoupon {
            code: code.clone(),
            valid_until,
        },
        unsubscribe_url: format!("{}/r/u/{token}", delivery.origin),
    };
    let body = serde_json::to_vec(&message).map_err(|e| Error::internal(format!("coupon: {e}")))?;
    let sent = post_signed(
        delivery.courier.outbound,
        &target,
        &message.message_id,
        &body,
        now,
    );
    if !matches!(sent, Ok(status) if (200..300).contains(&status)) {
        // Not taken: kept on the record, and tried again on the next submission.
        return Ok(CouponPlace::Kept);
    }
    create_json(store, &marker, &now)?;
    Ok(CouponPlace::Sent)
}
