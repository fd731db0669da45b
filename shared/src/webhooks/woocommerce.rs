//! WooCommerce webhooks: base64 HMAC-SHA256 of the body in `X-WC-Webhook-Signature`;
//! an unsigned form-encoded `webhook_id=N` ping when a webhook is saved.
//!
//! The topic header is not signed, so the body must be what the topic carries: an order for
//! the order topics, a customer for the customer topics, and for `order.deleted` exactly
//! what WooCommerce sends then, `{"id": …}` — so no signed order can be re-posted as its own
//! deletion. (A deletion body names no shop; WooCommerce signs each webhook with its own
//! secret, so one shop's deliveries never verify as another's.)

use jiff::tz::TimeZone;
use jiff::Timestamp;
use schemars::JsonSchema;
use serde::Deserialize;

use serde::de::IgnoredAny;

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

/// The activation ping: unsigned, form-encoded, only `webhook_id`.
pub fn is_ping(body: &[u8], signature: Option<&str>) -> bool {
    if signature.is_some() {
        return false;
    }
    let fields: Vec<_> = form_urlencoded::parse(body).collect();
    fields.len() == 1 && fields[0].0 == "webhook_id"
}

#[derive(Deserialize, JsonSchema)]
struct WooOrder {
    id: IdValue,
    number: Option<String>,
    status: Option<String>,
    currency: Option<String>,
    date_created_gmt: Option<String>,
    date_paid_gmt: Option<String>,
    date_modified_gmt: Option<String>,
    date_completed_gmt: Option<String>,
    customer_id: Option<IdValue>,
    billing: Option<WooContact>,
    #[serde(default)]
    line_items: Vec<WooLineItem>,
    #[serde(default)]
    coupon_lines: Vec<WooCoupon>,
    discount_total: Option<DecimalText>,
    total: Option<DecimalText>,
    #[serde(default)]
    refunds: Vec<WooRefund>,
}

#[derive(Deserialize, JsonSchema)]
struct WooContact {
    email: Option<String>,
    phone: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
struct WooLineItem {
    product_id: Option<IdValue>,
    variation_id: Option<IdValue>,
    sku: Option<String>,
    name: Option<String>,
    quantity: i64,
    price: Option<DecimalText>,
}

#[derive(Deserialize, JsonSchema)]
struct WooCoupon {
    code: String,
}

#[derive(Deserialize, JsonSchema)]
struct WooRefund {
    id: IdValue,
    total: DecimalText,
}

#[derive(Deserialize, JsonSchema)]
struct WooCustomer {
    id: IdValue,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    date_modified_gmt: Option<String>,
    billing: Option<WooContact>,
}

fn gmt(field: &str, value: &Option<String>) -> Result<Option<jiff::Timestamp>, Error> {
    value
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            parse_local(s, &TimeZone::UTC).map_err(|e| invalid_payload(format!("{field}: {e}")))
        })
        .transpose()
}

fn order_event(order: WooOrder, ctx: &ParseContext) -> Result<OrderEvent, Error> {
    let currency = order
        .currency
        .as_deref()
        .map(|c| Currency::parse(c).map_err(invalid_payload))
        .transpose()?
        .unwrap_or(ctx.currency);
    let modified = gmt("date_modified_gmt", &order.date_modified_gmt)?;
    let facts = facts(&order, currency, modified)?;
    let snapshot = snapshot(&order, currency)?;
    let billing = order.billing.as_ref();
    let customer = ProfileFields {
        platform: Platform::WooCommerce,
        customer_id: order.customer_id.as_ref().and_then(IdValue::meaningful),
        email: billing.and_then(|b| b.email.as_deref()),
        phone: billing.and_then(|b| b.phone.as_deref()),
        first_name: billing.and_then(|b| b.first_name.as_deref()),
        last_name: billing.and_then(|b| b.last_name.as_deref()),
        accepts_marketing: None,
        observed_at: modified,
    }
    .into_patch(ctx.calling_code);
    Ok(OrderEvent {
        platform: Platform::WooCommerce,
        order_id: external_id("id", &order.id.text())?,
        facts,
        snapshot: Some(snapshot),
        version: modified,
        customer,
    })
}

/// An amount of the order's currency, the field named when it is malformed.
fn amount(field: &str, d: &DecimalText, currency: Currency) -> Result<i64, Error> {
    d.minor(currency)
        .map_err(|e| invalid_payload(format!("{field}: {e}")))
}

/// When the order was placed, paid and cancelled, as its dates and status say, and its
/// refunds.
fn facts(
    order: &WooOrder,
    currency: Currency,
    modified: Option<Timestamp>,
) -> Result<OrderFacts, Error> {
    let status = order.status.as_deref().unwrap_or("pending");
    let created = gmt("date_created_gmt", &order.date_created_gmt)?;
    let paid_at = gmt("date_paid_gmt", &order.date_paid_gmt)?.or(
        if matches!(status, "processing" | "completed" | "refunded") {
            gmt("date_completed_gmt", &order.date_completed_gmt)?
                .or(modified)
                .or(created)
        } else {
            None
        },
    );
    let refunds = order
        .refunds
        .iter()
        .map(|r| {
            Ok(Refund {
                id: r.id.text(),
                // Woo lists refunds as negative totals.
                amount_minor: amount("refunds.total", &r.total, currency)?.abs(),
                currency,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(OrderFacts {
        placed_at: created,
        paid_at,
        cancelled_at: (status == "cancelled")
            .then(|| modified.or(created))
            .flatten(),
        fully_refunded: status == "refunded",
        refunds,
    })
}

/// What the order holds and costs.
fn snapshot(order: &WooOrder, currency: Currency) -> Result<OrderSnapshot, Error> {
    let line_items = order
        .line_items
        .iter()
        .map(|item| {
            PlatformLineItem {
                product_id: item.product_id.as_ref(),
                variant_id: item.variation_id.as_ref(),
                sku: item.sku.as_deref(),
                title: item.name.as_deref(),
                quantity: item.quantity,
                unit_price: item.price.as_ref(),
            }
            .normalise(currency)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let optional = |field: &str, value: &Option<DecimalText>| {
        value
            .as_ref()
            .map(|t| amount(field, t, currency))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    Ok(OrderSnapshot {
        name: order.number.clone(),
        currency,
        total_minor: optional("total", &order.total)?,
        discount_minor: optional("discount_total", &order.discount_total)?,
        line_items,
        discount_codes: order.coupon_lines.iter().map(|c| c.code.clone()).collect(),
    })
}

/// What WooCommerce sends when an order is deleted: its id, nothing else.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DeletedOrder {
    id: IdValue,
}

/// The fields that tell an order from a customer.
#[derive(Deserialize)]
struct Shape {
    line_items: Option<IgnoredAny>,
    status: Option<IgnoredAny>,
    email: Option<IgnoredAny>,
    username: Option<IgnoredAny>,
    role: Option<IgnoredAny>,
}

fn shape_of(body: &[u8]) -> Result<Shape, Error> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(invalid_payload("the body must be a JSON object"));
    }
    serde_json::from_slice(body).map_err(crate::json::json_error)
}

/// Translates a verified WooCommerce delivery.
pub fn parse(topic: &str, body: &[u8], ctx: &ParseContext) -> Result<WebhookEffect, Error> {
    let is_order = |s: &Shape| s.line_items.is_some() && s.status.is_some() && s.role.is_none();
    let is_customer = |s: &Shape| {
        (s.email.is_some() || s.username.is_some() || s.role.is_some())
            && s.line_items.is_none()
            && s.status.is_none()
    };
    Ok(match topic {
        "order.created" | "order.updated" | "order.restored" => {
            if !is_order(&shape_of(body)?) {
                return Err(topic_mismatch(topic, "not an order"));
            }
            WebhookEffect::Order(Box::new(order_event(parse_json(body)?, ctx)?))
        }
        "order.deleted" => {
            // A deleted (trashed) order no longer counts: it is treated as cancelled.
            let order: DeletedOrder = parse_json(body)
                .map_err(|_| topic_mismatch(topic, "not what WooCommerce sends for a deletion"))?;
            WebhookEffect::Order(Box::new(OrderEvent::facts_only(
                Platform::WooCommerce,
                external_id("id", &order.id.text())?,
                OrderFacts {
                    cancelled_at: Some(ctx.now),
                    ..OrderFacts::default()
                },
            )))
        }
        "customer.created" | "customer.updated" => {
            if !is_customer(&shape_of(body)?) {
                return Err(topic_mismatch(topic, "not a customer"));
            }
            let c: WooCustomer = parse_json(body)?;
            let billing = c.billing.as_ref();
            WebhookEffect::CustomerProfile(
                ProfileFields {
                    platform: Platform::WooCommerce,
                    customer_id: c.id.meaningful(),
                    email: c
                        .email
                        .as_deref()
                        .or(billing.and_then(|b| b.email.as_deref())),
                    phone: billing.and_then(|b| b.phone.as_deref()),
                    first_name: c.first_name.as_deref(),
                    last_name: c.last_name.as_deref(),
                    accepts_marketing: None,
                    observed_at: gmt("date_modified_gmt", &c.date_modified_gmt)?,
                }
                .into_patch(ctx.calling_code),
            )
        }
        _ => WebhookEffect::Ignore("topic not used by Siyu"),
    })
}
