//! Shopify webhooks: base64 HMAC-SHA256 over the raw body in `X-Shopify-Hmac-Sha256`
//! (`Shopify-Hmac-Sha256` in the newer events delivery), REST-shaped JSON payloads.
//!
//! Shopify signs the body only: the topic and shop-domain headers are not signed, and a
//! public app signs every shop's deliveries with one secret. So what a delivery does follows
//! from its body: the body's own shape must be the topic's (`BodyKind`), and the privacy
//! topics, which carry the shop's domain in their body, must name this shop. A shop that set
//! its domain also refuses any delivery whose header names another.

use schemars::JsonSchema;
use serde::de::IgnoredAny;
use serde::Deserialize;

use super::{
    external_id, invalid_payload, topic_mismatch, IdValue, ParseContext, PlatformLineItem,
    ProfileFields, WebhookEffect,
};
use crate::domain::money::DecimalText;
use crate::domain::time::parse_rfc3339;
use crate::domain::{Currency, Platform};
use crate::error::{Error, ErrorCode};
use crate::json::parse_json;
use crate::orders::{OrderEvent, OrderFacts, OrderSnapshot, Refund};

/// Header names with and without the legacy `X-` prefix.
pub fn header_names(name: &str) -> [String; 2] {
    [format!("x-shopify-{name}"), format!("shopify-{name}")]
}

#[derive(Deserialize, JsonSchema)]
struct ShopifyOrder {
    id: IdValue,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    created_at: Option<String>,
    processed_at: Option<String>,
    updated_at: Option<String>,
    cancelled_at: Option<String>,
    currency: Option<String>,
    total_price: Option<DecimalText>,
    total_discounts: Option<DecimalText>,
    financial_status: Option<String>,
    buyer_accepts_marketing: Option<bool>,
    customer: Option<ShopifyCustomer>,
    #[serde(default)]
    line_items: Vec<ShopifyLineItem>,
    #[serde(default)]
    discount_codes: Vec<ShopifyDiscountCode>,
    #[serde(default)]
    refunds: Vec<ShopifyRefund>,
}

#[derive(Deserialize, JsonSchema)]
struct ShopifyCustomer {
    id: Option<IdValue>,
    email: Option<String>,
    phone: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    updated_at: Option<String>,
    accepts_marketing: Option<bool>,
    email_marketing_consent: Option<MarketingConsent>,
    /// Comma-separated, as the Shopify admin shows them.
    tags: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
struct MarketingConsent {
    state: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
struct ShopifyLineItem {
    product_id: Option<IdValue>,
    variant_id: Option<IdValue>,
    sku: Option<String>,
    title: Option<String>,
    quantity: i64,
    price: DecimalText,
}

#[derive(Deserialize, JsonSchema)]
struct ShopifyDiscountCode {
    code: String,
}

#[derive(Deserialize, JsonSchema)]
struct ShopifyRefund {
    id: IdValue,
    order_id: Option<IdValue>,
    #[serde(default)]
    transactions: Vec<ShopifyTransaction>,
}

#[derive(Deserialize, JsonSchema)]
struct ShopifyTransaction {
    amount: DecimalText,
    kind: Option<String>,
    status: Option<String>,
    currency: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
struct PrivacyPayload {
    customer: Option<ShopifyCustomer>,
    data_request: Option<DataRequestId>,
}

#[derive(Deserialize, JsonSchema)]
struct DataRequestId {
    id: IdValue,
}

fn time(field: &str, value: &Option<String>) -> Result<Option<jiff::Timestamp>, Error> {
    value
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| parse_rfc3339(s).map_err(|e| invalid_payload(format!("{field}: {e}"))))
        .transpose()
}

fn currency_or(text: Option<&str>, fallback: Currency) -> Result<Currency, Error> {
    text.map(|c| Currency::parse(c).map_err(invalid_payload))
        .transpose()
        .map(|c| c.unwrap_or(fallback))
}

fn refund(r: &ShopifyRefund, currency: Currency) -> Result<Refund, Error> {
    let mut amount = 0;
    let mut refund_currency = currency;
    for t in &r.transactions {
        let is_refund = t.kind.as_deref().is_none_or(|k| k == "refund");
        let succeeded = t.status.as_deref().is_none_or(|s| s == "success");
        if is_refund && succeeded {
            refund_currency = currency_or(t.currency.as_deref(), currency)?;
            amount += t
                .amount
                .minor(refund_currency)
                .map_err(|e| invalid_payload(format!("refund amount: {e}")))?;
        }
    }
    Ok(Refund {
        id: r.id.text(),
        amount_minor: amount,
        currency: refund_currency,
    })
}

fn customer_patch(
    c: &ShopifyCustomer,
    email: Option<&str>,
    phone: Option<&str>,
    accepts_marketing: Option<bool>,
    observed_at: Option<jiff::Timestamp>,
    ctx: &ParseContext,
) -> crate::customers::ProfilePatch {
    let consent = c
        .email_marketing_consent
        .as_ref()
        .and_then(|m| m.state.as_deref())
        .map(|s| s == "subscribed");
    ProfileFields {
        platform: Platform::Shopify,
        customer_id: c.id.as_ref().and_then(IdValue::meaningful),
        email: email.or(c.email.as_deref()),
        phone: phone.or(c.phone.as_deref()),
        first_name: c.first_name.as_deref(),
        last_name: c.last_name.as_deref(),
        accepts_marketing: accepts_marketing.or(consent).or(c.accepts_marketing),
        observed_at,
    }
    .into_patch(ctx.calling_code)
}

fn order_event(order: ShopifyOrder, ctx: &ParseContext) -> Result<OrderEvent, Error> {
    let currency = currency_or(order.currency.as_deref(), ctx.currency)?;
    let money = |field: &str, d: &Option<DecimalText>| -> Result<i64, Error> {
        d.as_ref()
            .map(|d| {
                d.minor(currency)
                    .map_err(|e| invalid_payload(format!("{field}: {e}")))
            })
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let created_at = time("created_at", &order.created_at)?;
    let processed_at = time("processed_at", &order.processed_at)?;
    let updated_at = time("updated_at", &order.updated_at)?;
    let status = order.financial_status.as_deref().unwrap_or("pending");
    let paid = matches!(status, "paid" | "partially_refunded" | "refunded");
    let facts = OrderFacts {
        placed_at: created_at.or(processed_at),
        paid_at: if paid {
            processed_at.or(created_at).or(updated_at)
        } else {
            None
        },
        cancelled_at: time("cancelled_at", &order.cancelled_at)?,
        fully_refunded: status == "refunded",
        refunds: order
            .refunds
            .iter()
            .map(|r| refund(r, currency))
            .collect::<Result<_, _>>()?,
    };
    let line_items = order
        .line_items
        .iter()
        .map(|item| {
            PlatformLineItem {
                product_id: item.product_id.as_ref(),
                variant_id: item.variant_id.as_ref(),
                sku: item.sku.as_deref(),
                title: item.title.as_deref(),
                quantity: item.quantity,
                unit_price: Some(&item.price),
            }
            .normalise(currency)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let snapshot = OrderSnapshot {
        name: order.name.clone(),
        currency,
        total_minor: money("total_price", &order.total_price)?,
        discount_minor: money("total_discounts", &order.total_discounts)?,
        line_items,
        discount_codes: order
            .discount_codes
            .iter()
            .map(|d| d.code.clone())
            .collect(),
    };
    let customer = order_customer(&order, updated_at, ctx);
    Ok(OrderEvent {
        platform: Platform::Shopify,
        order_id: external_id("id", &order.id.text())?,
        facts,
        snapshot: Some(snapshot),
        version: updated_at,
        customer,
    })
}

/// Who placed the order: its customer, or (a guest checkout) the order's own contacts.
fn order_customer(
    order: &ShopifyOrder,
    updated_at: Option<jiff::Timestamp>,
    ctx: &ParseContext,
) -> crate::customers::ProfilePatch {
    match &order.customer {
        Some(c) => customer_patch(
            c,
            order.email.as_deref(),
            order.phone.as_deref(),
            order.buyer_accepts_marketing,
            updated_at,
            ctx,
        ),
        None => ProfileFields {
            platform: Platform::Shopify,
            customer_id: None,
            email: order.email.as_deref(),
            phone: order.phone.as_deref(),
            first_name: None,
            last_name: None,
            accepts_marketing: order.buyer_accepts_marketing,
            observed_at: updated_at,
        }
        .into_patch(ctx.calling_code),
    }
}

/// What a Shopify body is, by its own (signed) fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Order,
    Refund,
    Customer,
    CustomerRedact,
    DataRequest,
    ShopRedact,
    Unknown,
}

impl BodyKind {
    fn described(self) -> &'static str {
        match self {
            BodyKind::Order => "an order",
            BodyKind::Refund => "a refund",
            BodyKind::Customer => "a customer",
            BodyKind::CustomerRedact => "a customer redaction",
            BodyKind::DataRequest => "a customer data request",
            BodyKind::ShopRedact => "a shop redaction",
            BodyKind::Unknown => "of no shape Siyu knows",
        }
    }

    /// The body each topic Siyu acts on carries; None for topics it ignores.
    fn of_topic(topic: &str) -> Option<BodyKind> {
        Some(match topic {
            "orders/create"
            | "orders/paid"
            | "orders/updated"
            | "orders/cancelled"
            | "orders/fulfilled"
            | "orders/partially_fulfilled" => BodyKind::Order,
            "refunds/create" => BodyKind::Refund,
            "customers/create" | "customers/update" => BodyKind::Customer,
            "customers/redact" => BodyKind::CustomerRedact,
            "customers/data_request" => BodyKind::DataRequest,
            "shop/redact" => BodyKind::ShopRedact,
            _ => return None,
        })
    }
}

/// The fields that tell Shopify's bodies apart (everything else is ignored here).
#[derive(Deserialize)]
struct Shape {
    id: Option<IgnoredAny>,
    admin_graphql_api_id: Option<String>,
    line_items: Option<IgnoredAny>,
    financial_status: Option<IgnoredAny>,
    total_price: Option<IgnoredAny>,
    order_id: Option<IgnoredAny>,
    transactions: Option<IgnoredAny>,
    refund_line_items: Option<IgnoredAny>,
    shop_id: Option<IgnoredAny>,
    shop_domain: Option<String>,
    customer: Option<IgnoredAny>,
    orders_to_redact: Option<IgnoredAny>,
    data_request: Option<IgnoredAny>,
    email: Option<IgnoredAny>,
    phone: Option<IgnoredAny>,
    first_name: Option<IgnoredAny>,
    last_name: Option<IgnoredAny>,
    state: Option<IgnoredAny>,
    verified_email: Option<IgnoredAny>,
    default_address: Option<IgnoredAny>,
    addresses: Option<IgnoredAny>,
}

impl Shape {
    /// The shape of a body that must be a JSON object.
    fn of(body: &[u8]) -> Result<Shape, Error> {
        if std::str::from_utf8(body).is_err() {
            return Err(Error::malformed(
                ErrorCode::InvalidEncoding,
                "the body must be UTF-8 JSON",
            ));
        }
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|b| *b == b'[') {
            return Err(invalid_payload("the body must be a JSON object"));
        }
        serde_json::from_slice(body).map_err(crate::json::json_error)
    }

    fn kind(&self) -> BodyKind {
        // Shopify's bodies name their own type where they carry a GraphQL id.
        if let Some(gid) = &self.admin_graphql_api_id {
            for (prefix, kind) in [
                ("gid://shopify/Order/", BodyKind::Order),
                ("gid://shopify/Refund/", BodyKind::Refund),
                ("gid://shopify/Customer/", BodyKind::Customer),
            ] {
                if gid.starts_with(prefix) {
                    return if self.structurally(kind) {
                        kind
                    } else {
                        BodyKind::Unknown
                    };
                }
            }
            return BodyKind::Unknown;
        }
        [
            BodyKind::DataRequest,
            BodyKind::CustomerRedact,
            BodyKind::ShopRedact,
            BodyKind::Refund,
            BodyKind::Order,
            BodyKind::Customer,
        ]
        .into_iter()
        .find(|kind| self.structurally(*kind))
        .unwrap_or(BodyKind::Unknown)
    }

    fn structurally(&self, kind: BodyKind) -> bool {
        let privacy = self.shop_domain.is_some() && self.shop_id.is_some();
        match kind {
            BodyKind::DataRequest => privacy && self.data_request.is_some(),
            BodyKind::CustomerRedact => {
                privacy
                    && self.customer.is_some()
                    && self.orders_to_redact.is_some()
                    && self.data_request.is_none()
            }
            BodyKind::ShopRedact => {
                privacy
                    && self.id.is_none()
                    && self.customer.is_none()
                    && self.line_items.is_none()
                    && self.orders_to_redact.is_none()
                    && self.data_request.is_none()
            }
            BodyKind::Refund => {
                self.order_id.is_some()
                    && (self.transactions.is_some() || self.refund_line_items.is_some())
                    && self.line_items.is_none()
                    && self.shop_domain.is_none()
            }
            BodyKind::Order => {
                self.id.is_some()
                    && self.line_items.is_some()
                    && (self.financial_status.is_some() || self.total_price.is_some())
                    && self.order_id.is_none()
                    && self.shop_domain.is_none()
            }
            BodyKind::Customer => {
                self.id.is_some()
                    && self.line_items.is_none()
                    && self.order_id.is_none()
                    && self.customer.is_none()
                    && self.shop_domain.is_none()
                    && [
                        &self.email,
                        &self.phone,
                        &self.first_name,
                        &self.last_name,
                        &self.state,
                        &self.verified_email,
                        &self.default_address,
                        &self.addresses,
                    ]
                    .iter()
                    .any(|f| f.is_some())
            }
            BodyKind::Unknown => false,
        }
    }
}

/// The header's shop domain, when the shop set its own: they must agree.
pub fn check_header_domain(ctx: &ParseContext, header: Option<&str>) -> Result<(), Error> {
    let Some(domain) = ctx.shopify_shop_domain else {
        return Ok(());
    };
    if header.is_some_and(|h| h.trim().eq_ignore_ascii_case(domain)) {
        return Ok(());
    }
    Err(Error::invalid_as(
        ErrorCode::WrongShop,
        format!("this delivery is not for {domain}, the Shopify shop set for this Siyu shop"),
    ))
}

/// A privacy body must name this shop by the domain the shop set (its body is signed).
fn names_this_shop(topic: &str, shape: &Shape, ctx: &ParseContext) -> Result<(), Error> {
    let Some(domain) = ctx.shopify_shop_domain else {
        return Err(Error::invalid_as(
            ErrorCode::ShopIdentityRequired,
            format!(
                "{topic} erases or reports personal data: set credentials.shopify_shop_domain \
                 so such deliveries can be matched to this shop"
            ),
        ));
    };
    match &shape.shop_domain {
        Some(named) if named.trim().eq_ignore_ascii_case(domain) => Ok(()),
        _ => Err(Error::invalid_as(
            ErrorCode::WrongShop,
            format!("this {topic} names another shop than {domain}; nothing was changed"),
        )),
    }
}

/// Translates a verified Shopify delivery: the body must be what `topic` carries, and a
/// privacy topic must name this shop.
pub fn parse(topic: &str, body: &[u8], ctx: &ParseContext) -> Result<WebhookEffect, Error> {
    if let Some(expected) = BodyKind::of_topic(topic) {
        let shape = Shape::of(body)?;
        let kind = shape.kind();
        if kind != expected {
            return Err(topic_mismatch(topic, kind.described()));
        }
        if matches!(
            kind,
            BodyKind::CustomerRedact | BodyKind::DataRequest | BodyKind::ShopRedact
        ) {
            names_this_shop(topic, &shape, ctx)?;
        }
    }
    Ok(match topic {
        "orders/create"
        | "orders/paid"
        | "orders/updated"
        | "orders/cancelled"
        | "orders/fulfilled"
        | "orders/partially_fulfilled" => {
            WebhookEffect::Order(Box::new(order_event(parse_json(body)?, ctx)?))
        }
        "refunds/create" => {
            let r: ShopifyRefund = parse_json(body)?;
            let order_id = r
                .order_id
                .as_ref()
                .ok_or_else(|| invalid_payload("refund without order_id"))?;
            WebhookEffect::Order(Box::new(OrderEvent::facts_only(
                Platform::Shopify,
                external_id("order_id", &order_id.text())?,
                OrderFacts {
                    refunds: vec![refund(&r, ctx.currency)?],
                    ..OrderFacts::default()
                },
            )))
        }
        "customers/create" | "customers/update" => {
            let c: ShopifyCustomer = parse_json(body)?;
            let observed = time("updated_at", &c.updated_at)?;
            let mut patch = customer_patch(&c, None, None, None, observed, ctx);
            // The customer's whole tag list on Shopify; names Siyu cannot take are skipped.
            patch.platform_tags = c.tags.as_deref().map(|tags| {
                tags.split(',')
                    .filter_map(|t| crate::tags::TagName::parse(t).ok())
                    .take(crate::tags::MAX_TAGS_PER_CUSTOMER)
                    .collect()
            });
            WebhookEffect::CustomerProfile(patch)
        }
        "customers/redact" | "customers/data_request" => {
            let p: PrivacyPayload = parse_json(body)?;
            let customer = p
                .customer
                .as_ref()
                .map(|c| customer_patch(c, None, None, None, None, ctx))
                .unwrap_or_default();
            if topic == "customers/redact" {
                WebhookEffect::RedactCustomer(customer)
            } else {
                let request_id = p
                    .data_request
                    .map(|d| d.id.text())
                    .ok_or_else(|| invalid_payload("data_request.id is missing"))?;
                WebhookEffect::DataRequest {
                    request_id,
                    customer,
                }
            }
        }
        "shop/redact" => WebhookEffect::RedactShop,
        _ => WebhookEffect::Ignore("topic not used by Siyu"),
    })
}
