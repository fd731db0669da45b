//! Shop platform webhooks: signature checks and translation into Siyu's events.
//! Each platform module verifies its own scheme and parses its own payloads; `ingest`
//! (in `api::ingest`) applies the resulting effects the same way for all of them.

pub mod generic;
pub mod shopify;
pub mod woocommerce;
pub mod youzan;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::customers::{PlatformCustomerId, ProfilePatch};
use crate::domain::ids::ExternalId;
use crate::domain::money::DecimalText;
use crate::domain::{Currency, EmailAddress, PhoneNumber, Platform};
use crate::error::{Error, ErrorCode};
use crate::orders::{LineItem, OrderEvent};

/// What a verified webhook asks Siyu to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEffect {
    Order(Box<OrderEvent>),
    CustomerProfile(ProfilePatch),
    RedactCustomer(ProfilePatch),
    DataRequest {
        request_id: String,
        customer: ProfilePatch,
    },
    RedactShop,
    /// Acknowledged and dropped (a topic Siyu does not use, a ping).
    Ignore(&'static str),
}

/// Shop settings a parser needs besides the payload.
pub struct ParseContext<'a> {
    pub currency: Currency,
    pub calling_code: &'a str,
    pub zone: &'a jiff::tz::TimeZone,
    pub now: jiff::Timestamp,
    /// The shop's `*.myshopify.com` domain, if set (`credentials.shopify_shop_domain`).
    pub shopify_shop_domain: Option<&'a str>,
}

pub fn invalid_payload(message: impl Into<String>) -> Error {
    Error::invalid_as(ErrorCode::InvalidPayload, message)
}

/// The signed body is not what the topic header says: the header is not signed, so a body
/// signed for one topic may be re-posted under another. Nothing is done with it.
pub fn topic_mismatch(topic: &str, body_is: &str) -> Error {
    Error::invalid_as(
        ErrorCode::TopicMismatch,
        format!("the body is {body_is}, not what topic {topic:?} carries; nothing was changed"),
    )
}

pub fn external_id(field: &str, text: &str) -> Result<ExternalId, Error> {
    ExternalId::parse(text).map_err(|e| invalid_payload(format!("{field}: {e}")))
}

/// A platform id given as a JSON number or string.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum IdValue {
    Number(serde_json::Number),
    Text(String),
}

impl IdValue {
    pub fn text(&self) -> String {
        match self {
            IdValue::Number(n) => n.to_string(),
            IdValue::Text(s) => s.clone(),
        }
    }

    /// None for the "no id" values platforms use (0, empty).
    pub fn meaningful(&self) -> Option<String> {
        let text = self.text();
        (!text.is_empty() && text != "0").then_some(text)
    }
}

/// Builds a profile patch from loosely-typed platform fields. Contact details that do not
/// parse are dropped rather than failing the whole order: the order still counts.
pub struct ProfileFields<'a> {
    pub platform: Platform,
    pub customer_id: Option<String>,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub accepts_marketing: Option<bool>,
    pub observed_at: Option<jiff::Timestamp>,
}

impl ProfileFields<'_> {
    pub fn into_patch(self, calling_code: &str) -> ProfilePatch {
        let clean = |s: Option<&str>| {
            s.map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.chars().take(100).collect::<String>())
        };
        ProfilePatch {
            platform_customer: self
                .customer_id
                .and_then(|id| ExternalId::parse(&id).ok())
                .map(|id| PlatformCustomerId {
                    platform: self.platform,
                    id,
                }),
            phone: self
                .phone
                .filter(|p| !p.trim().is_empty())
                .and_then(|p| PhoneNumber::parse(p, calling_code).ok()),
            email: self
                .email
                .filter(|e| !e.trim().is_empty())
                .and_then(|e| EmailAddress::parse(e).ok()),
            first_name: clean(self.first_name),
            last_name: clean(self.last_name),
            accepts_marketing: self.accepts_marketing,
            observed_at: self.observed_at,
            platform_tags: None,
        }
    }
}

/// A line item as a platform names its fields; `normalise` makes it Siyu's `LineItem`.
pub struct PlatformLineItem<'a> {
    pub product_id: Option<&'a IdValue>,
    pub variant_id: Option<&'a IdValue>,
    pub sku: Option<&'a str>,
    pub title: Option<&'a str>,
    pub quantity: i64,
    pub unit_price: Option<&'a DecimalText>,
}

impl PlatformLineItem<'_> {
    pub fn normalise(self, currency: Currency) -> Result<LineItem, Error> {
        Ok(LineItem {
            product_id: self.product_id.and_then(IdValue::meaningful),
            variant_id: self.variant_id.and_then(IdValue::meaningful),
            sku: self.sku.filter(|s| !s.is_empty()).map(String::from),
            title: self.title.map(String::from),
            quantity: self.quantity,
            unit_price_minor: self
                .unit_price
                .map(|p| p.minor(currency))
                .transpose()
                .map_err(|e| invalid_payload(format!("line item price: {e}")))?
                .unwrap_or(0),
        })
    }
}
