//! Siyu's own order format, for platforms without a built-in connector and merchants' own
//! systems. Signed like Stripe-style webhooks: `X-Siyu-Signature` holds the hex
//! HMAC-SHA256 of `{X-Siyu-Timestamp}.{raw body}`; timestamps more than five minutes from
//! Siyu's clock are refused so a captured delivery cannot be replayed later.

use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{external_id, ParseContext, ProfileFields, WebhookEffect};
use crate::crypto::hmac_sha256;
use crate::domain::money::DecimalText;
use crate::domain::time::{parse_rfc3339, parse_unix_seconds};
use crate::domain::{Currency, Platform};
use crate::error::{Error, ErrorCode};
use crate::json::parse_json;
use crate::orders::{LineItem, OrderEvent, OrderFacts, OrderSnapshot, Refund};

pub const TIMESTAMP_HEADER: &str = "x-siyu-timestamp";
pub const SIGNATURE_HEADER: &str = "x-siyu-signature";
pub const DELIVERY_HEADER: &str = "x-siyu-delivery-id";
pub const MAX_SKEW: SignedDuration = SignedDuration::from_secs(300);

/// Checks signature and freshness.
pub fn verify(
    secret: &str,
    body: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    now: Timestamp,
) -> Result<(), Error> {
    let (Some(ts_text), Some(signature)) = (timestamp, signature) else {
        return Err(Error::bad_signature());
    };
    let presented = hex::decode(signature.trim()).map_err(|_| Error::bad_signature())?;
    let expected = hmac_sha256(secret.as_bytes(), &[ts_text.trim().as_bytes(), b".", body]);
    if !bool::from(expected.ct_eq(presented.as_slice())) {
        return Err(Error::bad_signature());
    }
    let sent = parse_unix_seconds(ts_text).ok_or_else(Error::bad_signature)?;
    if now.duration_since(sent).abs() > MAX_SKEW {
        return Err(Error::Unauthenticated {
            code: ErrorCode::StaleTimestamp,
            message: "the delivery timestamp is more than 5 minutes from the server's clock".into(),
        });
    }
    Ok(())
}

/// The generic order document (see README, "Generic webhook format").
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenericOrder {
    order_id: String,
    #[serde(default)]
    name: Option<String>,
    status: GenericStatus,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    placed_at: Option<String>,
    #[serde(default)]
    paid_at: Option<String>,
    #[serde(default)]
    cancelled_at: Option<String>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    total: Option<DecimalText>,
    #[serde(default)]
    discount_total: Option<DecimalText>,
    #[serde(default)]
    customer: Option<GenericCustomer>,
    #[serde(default)]
    line_items: Vec<GenericLineItem>,
    #[serde(default)]
    discount_codes: Vec<String>,
    #[serde(default)]
    refunds: Vec<GenericRefund>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum GenericStatus {
    Placed,
    Paid,
    Cancelled,
    Refunded,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GenericCustomer {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    accepts_marketing: Option<bool>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GenericLineItem {
    #[serde(default)]
    product_id: Option<String>,
    #[serde(default)]
    variant_id: Option<String>,
    #[serde(default)]
    sku: Option<String>,
    #[serde(default)]
    title: Option<String>,
    quantity: i64,
    unit_price: DecimalText,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GenericRefund {
    id: String,
    amount: DecimalText,
}

fn time(field: &str, value: &Option<String>) -> Result<Option<Timestamp>, Error> {
    value
        .as_deref()
        .map(|s| parse_rfc3339(s).map_err(|e| Error::invalid(format!("{field}: {e}"))))
        .transpose()
}

/// Translates a verified generic delivery. Being our own format, it is strict: unknown
/// fields and malformed values are 422s that name the field.
pub fn parse(body: &[u8], ctx: &ParseContext) -> Result<WebhookEffect, Error> {
    let order: GenericOrder = parse_json(body)?;
    let currency = order
        .currency
        .as_deref()
        .map(|c| Currency::parse(c).map_err(Error::invalid))
        .transpose()?
        .unwrap_or(ctx.currency);
    // Fields are read in the order a malformed one is reported.
    let updated_at = time("updated_at", &order.updated_at)?;
    let (placed_at, paid_at, cancelled_at) = times(&order, updated_at, ctx)?;
    let line_items = line_items(&order, currency)?;
    let refunds = refunds(&order, currency)?;
    let snapshot = snapshot(&order, currency, line_items)?;
    let customer = order.customer.as_ref();
    let patch = ProfileFields {
        platform: Platform::Generic,
        customer_id: customer.and_then(|c| c.id.clone()),
        email: customer.and_then(|c| c.email.as_deref()),
        phone: customer.and_then(|c| c.phone.as_deref()),
        first_name: customer.and_then(|c| c.first_name.as_deref()),
        last_name: customer.and_then(|c| c.last_name.as_deref()),
        accepts_marketing: customer.and_then(|c| c.accepts_marketing),
        observed_at: updated_at,
    }
    .into_patch(ctx.calling_code);
    Ok(WebhookEffect::Order(Box::new(OrderEvent {
        platform: Platform::Generic,
        order_id: external_id("order_id", &order.order_id)
            .map_err(|e| Error::invalid(e.message()))?,
        facts: OrderFacts {
            placed_at,
            paid_at,
            cancelled_at,
            fully_refunded: order.status == GenericStatus::Refunded,
            refunds,
        },
        snapshot,
        version: updated_at,
        customer: patch,
    })))
}

/// An amount of the order's currency, the field named when it is malformed.
fn amount(field: &str, d: &DecimalText, currency: Currency) -> Result<i64, Error> {
    d.minor(currency)
        .map_err(|e| Error::invalid(format!("{field}: {e}")))
}

type Times = (Option<Timestamp>, Option<Timestamp>, Option<Timestamp>);

/// When the order was placed, paid and cancelled, as it says or as its status implies.
fn times(
    order: &GenericOrder,
    updated_at: Option<Timestamp>,
    ctx: &ParseContext,
) -> Result<Times, Error> {
    let placed_at = time("placed_at", &order.placed_at)?.or(updated_at);
    let paid_at = time("paid_at", &order.paid_at)?;
    let paid_at = match order.status {
        GenericStatus::Paid | GenericStatus::Refunded => {
            Some(paid_at.or(placed_at).unwrap_or(ctx.now))
        }
        _ => paid_at,
    };
    let cancelled_at = match order.status {
        GenericStatus::Cancelled => Some(
            time("cancelled_at", &order.cancelled_at)?
                .or(updated_at)
                .unwrap_or(ctx.now),
        ),
        _ => time("cancelled_at", &order.cancelled_at)?,
    };
    Ok((placed_at, paid_at, cancelled_at))
}

fn line_items(order: &GenericOrder, currency: Currency) -> Result<Vec<LineItem>, Error> {
    let mut line_items = Vec::with_capacity(order.line_items.len());
    for item in &order.line_items {
        if item.quantity < 0 {
            return Err(Error::invalid("line_items.quantity must not be negative"));
        }
        line_items.push(LineItem {
            product_id: item.product_id.clone(),
            variant_id: item.variant_id.clone(),
            sku: item.sku.clone(),
            title: item.title.clone(),
            quantity: item.quantity,
            unit_price_minor: amount("line_items.unit_price", &item.unit_price, currency)?,
        });
    }
    Ok(line_items)
}

fn refunds(order: &GenericOrder, currency: Currency) -> Result<Vec<Refund>, Error> {
    order
        .refunds
        .iter()
        .map(|r| {
            let amount_minor = amount("refunds.amount", &r.amount, currency)?;
            if amount_minor < 0 {
                return Err(Error::invalid("refunds.amount must not be negative"));
            }
            Ok(Refund {
                id: r.id.clone(),
                amount_minor,
                currency,
            })
        })
        .collect()
}

/// The order's contents, if it says them: a total is needed once there are line items.
fn snapshot(
    order: &GenericOrder,
    currency: Currency,
    line_items: Vec<LineItem>,
) -> Result<Option<OrderSnapshot>, Error> {
    let total_minor = order
        .total
        .as_ref()
        .map(|t| amount("total", t, currency))
        .transpose()?;
    Ok(match total_minor {
        Some(total_minor) => Some(OrderSnapshot {
            name: order.name.clone(),
            currency,
            total_minor,
            discount_minor: order
                .discount_total
                .as_ref()
                .map(|d| amount("discount_total", d, currency))
                .transpose()?
                .unwrap_or(0),
            line_items,
            discount_codes: order.discount_codes.clone(),
        }),
        None if order.line_items.is_empty() => None,
        None => {
            return Err(Error::invalid(
                "total is required when line_items are given",
            ))
        }
    })
}
