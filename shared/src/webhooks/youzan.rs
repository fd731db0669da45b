//! Youzan (有赞云) push: `Event-Sign` = lowercase hex MD5 of client_id + raw body +
//! client_secret (an older scheme signs the URL-decoded `msg` instead); the business object
//! is URL-encoded JSON in `msg`; Youzan wants `{"code":0,"msg":"success"}` back.
//!
//! Under the older scheme the envelope — its `type` included — is not signed, only `msg`. So
//! there a trade's state is read from the signed trade itself (`order_info.status`,
//! `pay_time`) and the `type` must agree with it: a paid trade's message re-posted as
//! `trade_TradeClose` closes nothing.

use md5::{Digest, Md5};
use schemars::JsonSchema;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{
    external_id, invalid_payload, topic_mismatch, IdValue, ParseContext, PlatformLineItem,
    ProfileFields, WebhookEffect,
};
use crate::domain::money::DecimalText;
use crate::domain::time::parse_local;
use crate::domain::{Currency, Platform};
use crate::error::Error;
use crate::json::parse_json;
use crate::orders::{OrderEvent, OrderFacts, OrderSnapshot, Refund};
use crate::shops::YouzanCredentials;

/// The push envelope.
#[derive(Deserialize, JsonSchema)]
pub struct Envelope {
    pub client_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub msg: Option<String>,
    pub id: Option<IdValue>,
    #[serde(default)]
    pub test: bool,
}

fn md5_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Md5::new();
    for part in parts {
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// What a push's signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed {
    /// The whole body: the envelope's `type` is signed.
    Body,
    /// Only the decoded `msg` (the older scheme).
    MsgOnly,
}

/// Checks `Event-Sign` (over the body, or the older scheme over the decoded `msg`) in
/// constant time and that the push is for this shop's app; returns the parsed envelope and
/// what the signature covered.
pub fn verify(
    creds: &YouzanCredentials,
    body: &[u8],
    sign: Option<&str>,
) -> Result<(Envelope, Signed), Error> {
    let sign = sign
        .map(|s| s.trim().to_ascii_lowercase())
        .ok_or_else(Error::bad_signature)?;
    let id = creds.client_id.as_bytes();
    let secret = creds.client_secret.as_bytes();
    let body_signed = bool::from(
        md5_hex(&[id, body, secret])
            .as_bytes()
            .ct_eq(sign.as_bytes()),
    );
    let envelope: Envelope = match parse_json(body) {
        Ok(envelope) => envelope,
        Err(e) if body_signed => return Err(e),
        Err(_) => return Err(Error::bad_signature()),
    };
    let msg_signed = envelope.msg.as_deref().is_some_and(|msg| {
        let decoded = decode_msg(msg);
        bool::from(
            md5_hex(&[id, decoded.as_bytes(), secret])
                .as_bytes()
                .ct_eq(sign.as_bytes()),
        )
    });
    let right_app = envelope.client_id.as_deref() == Some(creds.client_id.as_str());
    match (body_signed, msg_signed, right_app) {
        (true, _, true) => Ok((envelope, Signed::Body)),
        (false, true, true) => Ok((envelope, Signed::MsgOnly)),
        _ => Err(Error::bad_signature()),
    }
}

/// `msg` is URL-encoded (form style: `+` is a space).
pub fn decode_msg(msg: &str) -> String {
    form_urlencoded::parse(format!("m={}", msg.replace('&', "%26").replace('=', "%3D")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[derive(Deserialize, JsonSchema)]
struct TradeMessage {
    full_order_info: FullOrderInfo,
    order_promotion: Option<OrderPromotion>,
}

/// The order's discounts; a coupon or code used at checkout has `promotion_type` `coupon`
/// and its number (the code, for 优惠码) in `coupon_id`.
#[derive(Deserialize, JsonSchema)]
struct OrderPromotion {
    #[serde(default)]
    order: Vec<Promotion>,
}

#[derive(Deserialize, JsonSchema)]
struct Promotion {
    promotion_type: Option<String>,
    coupon_id: Option<IdValue>,
}

#[derive(Deserialize, JsonSchema)]
struct FullOrderInfo {
    order_info: OrderInfo,
    buyer_info: Option<BuyerInfo>,
    address_info: Option<AddressInfo>,
    #[serde(default)]
    orders: Vec<YouzanItem>,
    pay_info: Option<PayInfo>,
}

#[derive(Deserialize, JsonSchema)]
struct OrderInfo {
    tid: String,
    /// The trade's state when pushed: `WAIT_BUYER_PAY`, `WAIT_SELLER_SEND_GOODS`,
    /// `WAIT_BUYER_CONFIRM_GOODS`, `TRADE_SUCCESS`, `TRADE_CLOSE`…
    status: Option<String>,
    created: Option<String>,
    pay_time: Option<String>,
    update_time: Option<String>,
}

impl OrderInfo {
    fn is_closed(&self) -> bool {
        self.status
            .as_deref()
            .is_some_and(|s| s.starts_with("TRADE_CLOSE"))
    }

    fn is_paid(&self) -> bool {
        let paid_status = matches!(
            self.status.as_deref(),
            Some(
                "WAIT_SELLER_SEND_GOODS"
                    | "WAIT_BUYER_CONFIRM_GOODS"
                    | "TRADE_BUYER_SIGNED"
                    | "TRADE_SUCCESS"
                    | "TRADE_PAID"
                    | "WAIT_GROUP"
            )
        );
        paid_status
            || self
                .pay_time
                .as_deref()
                .is_some_and(|t| !t.trim().is_empty())
    }
}

/// Under the older scheme, whether the unsigned `type` agrees with the signed trade.
fn type_agrees(kind: &str, info: &OrderInfo) -> bool {
    match kind {
        "trade_TradeClose" => info.is_closed(),
        "trade_TradePaid" | "trade_TradeBuyerPay" | "trade_TradeSuccess" => {
            info.is_paid() && !info.is_closed()
        }
        _ => !info.is_closed(),
    }
}

#[derive(Deserialize, JsonSchema)]
struct BuyerInfo {
    buyer_phone: Option<String>,
    yz_open_id: Option<String>,
    fans_nickname: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
struct AddressInfo {
    receiver_name: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
struct YouzanItem {
    item_id: Option<IdValue>,
    sku_id: Option<IdValue>,
    outer_sku_id: Option<String>,
    outer_item_id: Option<String>,
    title: Option<String>,
    num: i64,
    price: Option<DecimalText>,
}

#[derive(Deserialize, JsonSchema)]
struct PayInfo {
    payment: Option<DecimalText>,
    total_fee: Option<DecimalText>,
}

#[derive(Deserialize, JsonSchema)]
struct RefundMessage {
    tid: String,
    refund_id: IdValue,
    refunded_fee: DecimalText,
}

fn local(
    field: &str,
    value: &Option<String>,
    ctx: &ParseContext,
) -> Result<Option<jiff::Timestamp>, Error> {
    // Youzan writes China time without an offset.
    let zone = crate::domain::time::time_zone("Asia/Shanghai").unwrap_or_else(|_| ctx.zone.clone());
    value
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| parse_local(s, &zone).map_err(|e| invalid_payload(format!("{field}: {e}"))))
        .transpose()
}

fn trade_event(
    kind: &str,
    msg: &str,
    signed: Signed,
    ctx: &ParseContext,
) -> Result<OrderEvent, Error> {
    let trade: TradeMessage = parse_json(msg.as_bytes())?;
    if signed == Signed::MsgOnly && !type_agrees(kind, &trade.full_order_info.order_info) {
        let status = trade.full_order_info.order_info.status.as_deref();
        return Err(topic_mismatch(
            kind,
            &format!(
                "a trade whose signed status is {}",
                status.unwrap_or("not given")
            ),
        ));
    }
    let discount_codes: Vec<String> = trade
        .order_promotion
        .iter()
        .flat_map(|p| &p.order)
        .filter(|p| p.promotion_type.as_deref() == Some("coupon"))
        .filter_map(|p| p.coupon_id.as_ref().and_then(IdValue::meaningful))
        .collect();
    let info = trade.full_order_info;
    let created = local("created", &info.order_info.created, ctx)?;
    let updated = local("update_time", &info.order_info.update_time, ctx)?;
    // A signed type says what happened; without one, the signed trade does.
    let (paid, closed) = match signed {
        Signed::Body => (
            matches!(
                kind,
                "trade_TradePaid" | "trade_TradeSuccess" | "trade_TradeBuyerPay"
            ),
            kind == "trade_TradeClose",
        ),
        Signed::MsgOnly => (info.order_info.is_paid(), info.order_info.is_closed()),
    };
    let paid_at = local("pay_time", &info.order_info.pay_time, ctx)?
        .filter(|_| paid)
        .or(if paid { updated.or(created) } else { None });
    let facts = OrderFacts {
        placed_at: created,
        paid_at,
        cancelled_at: closed.then(|| updated.unwrap_or(ctx.now)),
        fully_refunded: false,
        refunds: Vec::new(),
    };
    let snapshot = snapshot(&info, discount_codes)?;
    let buyer = info.buyer_info.as_ref();
    let customer = ProfileFields {
        platform: Platform::Youzan,
        customer_id: buyer
            .and_then(|b| b.yz_open_id.clone())
            .filter(|s| !s.is_empty()),
        email: None,
        phone: buyer.and_then(|b| b.buyer_phone.as_deref()),
        first_name: info
            .address_info
            .as_ref()
            .and_then(|a| a.receiver_name.as_deref())
            .or(buyer.and_then(|b| b.fans_nickname.as_deref())),
        last_name: None,
        accepts_marketing: None,
        observed_at: updated,
    }
    .into_patch(ctx.calling_code);
    Ok(OrderEvent {
        platform: Platform::Youzan,
        order_id: external_id("tid", &info.order_info.tid)?,
        facts,
        snapshot: Some(snapshot),
        version: updated,
        customer,
    })
}

/// What the trade holds and what was paid for it (Youzan trades are in yuan).
fn snapshot(info: &FullOrderInfo, discount_codes: Vec<String>) -> Result<OrderSnapshot, Error> {
    let currency = Currency::cny();
    let line_items = info
        .orders
        .iter()
        .map(|item| {
            PlatformLineItem {
                product_id: item.item_id.as_ref(),
                variant_id: item.sku_id.as_ref(),
                sku: item
                    .outer_sku_id
                    .as_deref()
                    .or(item.outer_item_id.as_deref()),
                title: item.title.as_deref(),
                quantity: item.num,
                unit_price: item.price.as_ref(),
            }
            .normalise(currency)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let pay = info.pay_info.as_ref();
    let total = pay.and_then(|p| p.payment.as_ref().or(p.total_fee.as_ref()));
    let total_fee = pay.and_then(|p| p.total_fee.as_ref());
    let total_minor = total
        .map(|t| amount("pay_info.payment", t, currency))
        .transpose()?
        .unwrap_or(0);
    let list_minor = total_fee
        .map(|t| amount("pay_info.total_fee", t, currency))
        .transpose()?
        .unwrap_or(total_minor);
    let snapshot = OrderSnapshot {
        name: Some(info.order_info.tid.clone()),
        currency,
        total_minor,
        discount_minor: (list_minor - total_minor).max(0),
        line_items,
        discount_codes,
    };
    Ok(snapshot)
}

/// An amount in `currency`, the field named when it is malformed.
fn amount(field: &str, d: &DecimalText, currency: Currency) -> Result<i64, Error> {
    d.minor(currency)
        .map_err(|e| invalid_payload(format!("{field}: {e}")))
}

/// Translates a verified Youzan push (`signed`: what its signature covered).
pub fn parse(
    envelope: &Envelope,
    signed: Signed,
    ctx: &ParseContext,
) -> Result<WebhookEffect, Error> {
    let kind = envelope.kind.as_deref().unwrap_or_default();
    let msg = || {
        envelope
            .msg
            .as_deref()
            .map(decode_msg)
            .ok_or_else(|| invalid_payload("msg is missing"))
    };
    Ok(match kind {
        "trade_TradeCreate"
        | "trade_TradePaid"
        | "trade_TradeBuyerPay"
        | "trade_TradeSuccess"
        | "trade_TradeClose" => {
            WebhookEffect::Order(Box::new(trade_event(kind, &msg()?, signed, ctx)?))
        }
        "trade_refund_RefundSuccess" => {
            let refund: RefundMessage = parse_json(msg()?.as_bytes())?;
            let currency = Currency::cny();
            WebhookEffect::Order(Box::new(OrderEvent::facts_only(
                Platform::Youzan,
                external_id("tid", &refund.tid)?,
                OrderFacts {
                    refunds: vec![Refund {
                        id: refund.refund_id.text(),
                        amount_minor: refund
                            .refunded_fee
                            .minor(currency)
                            .map_err(|e| invalid_payload(format!("refunded_fee: {e}")))?,
                        currency,
                    }],
                    ..OrderFacts::default()
                },
            )))
        }
        _ => WebhookEffect::Ignore("message type not used by Siyu"),
    })
}
