//! The `ingest` component: `POST /webhooks/{platform}/{shop id}` for Shopify, WooCommerce,
//! Youzan and the generic format. Verify, translate, apply, and acknowledge in the form the
//! platform expects. A 2xx is sent only after every effect is stored; anything else makes
//! the platform retry, and the retry completes only what is missing.

use http::Method;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use super::accept;
use super::router::{Access, Operation};

use crate::customers;
use crate::domain::ids::ExternalId;
use crate::domain::{CustomerId, Platform, ShopId};
use crate::error::Error;
use crate::flows::{customer_changed, erasure, order_settled};
use crate::orders::OrderOutcome;
use crate::shops::{self, Shop};
use crate::web::ApiError;
use crate::web::{header, json_response, Env, Request, RequestLog, Response};
use crate::webhooks::{generic, shopify, woocommerce, youzan, ParseContext, WebhookEffect};

/// How much a `shop/redact` delivery erases before it answers (Shopify waits 5 s); the
/// redaction is recorded first and the scheduler finishes it.
const REDACTION_BUDGET: erasure::RedactionBudget = erasure::RedactionBudget {
    time: std::time::Duration::from_secs(2),
    customers: Some(100),
};

/// A platform's delivery endpoint: each platform signs and acknowledges its own way.
macro_rules! webhook {
    ($platform:literal, $scheme:literal, $summary:literal, $body:expr, $ack:ty) => {
        Operation {
            method: Method::POST,
            path: concat!("/webhooks/", $platform, "/{shop}"),
            summary: $summary,
            access: Access::Signed($scheme),
            #[cfg(feature = "openapi")]
            describe: |d| {
                d.text(
                    "Verified, applied exactly once (duplicates, retries and out-of-order \
                     deliveries included) and acknowledged only once every effect is stored; \
                     any other answer makes the platform retry.",
                );
                d.body_as("application/json", $body);
                d.reply::<$ack>(200, "Recorded (or already recorded, or ignored).");
            },
        }
    };
}

pub static OPERATIONS: &[Operation] = &[
    webhook!(
        "shopify",
        "shopifySignature",
        "Shopify webhooks: orders, refunds, customers, privacy topics",
        json!({"type": "object", "description": "Shopify's payload for the X-Shopify-Topic header's topic."}),
        Ack<'static>
    ),
    webhook!(
        "woocommerce",
        "woocommerceSignature",
        "WooCommerce webhooks: orders (and the activation ping)",
        json!({"type": "object", "description": "WooCommerce's order for the X-WC-Webhook-Topic header's topic."}),
        Ack<'static>
    ),
    webhook!(
        "youzan",
        "youzanSignature",
        "Youzan push messages: trades and refunds",
        json!({"type": "object", "description": "Youzan's push envelope; msg is the form-encoded business JSON."}),
        YouzanAck
    ),
    Operation {
        method: Method::POST,
        path: "/webhooks/generic/{shop}",
        summary: "Orders in Siyu's own format, from any system",
        access: Access::Signed("genericSignature"),
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.text("Signed with X-Siyu-Timestamp and X-Siyu-Signature; X-Siyu-Delivery-Id makes exact redeliveries cheap.");
            d.header(
                "X-Siyu-Timestamp",
                "Unix seconds when sent; within 5 minutes of the server's clock.",
                true,
            );
            d.header(
                "X-Siyu-Delivery-Id",
                "The delivery's id, kept to answer redeliveries.",
                false,
            );
            d.json_body::<crate::webhooks::generic::GenericOrder>();
            d.reply::<Ack<'static>>(200, "Recorded (or already recorded).");
        },
    },
];

pub fn handle(req: &Request, env: &Env, log: &mut RequestLog) -> Result<Response, ApiError> {
    let call = accept(req, env, log, OPERATIONS)?;
    let platform = match call.operation().1 {
        "/webhooks/shopify/{shop}" => Platform::Shopify,
        "/webhooks/woocommerce/{shop}" => Platform::WooCommerce,
        "/webhooks/youzan/{shop}" => Platform::Youzan,
        _ => Platform::Generic,
    };
    let shop_id = call.param("shop");
    let shop_id = ShopId::parse(shop_id).ok_or_else(|| ApiError::from(Error::not_found("shop")))?;
    let shop = shops::load_shop(env.store, &shop_id)?;
    log.shop = Some(shop.id.to_string());
    // Fail on a missing pepper before anything is recorded.
    env.secrets.pepper()?;

    let zone = shop.zone();
    let ctx = ParseContext {
        currency: shop.currency,
        calling_code: &shop.default_calling_code,
        zone: &zone,
        now: env.now,
        shopify_shop_domain: shop.credentials.shopify_shop_domain.as_deref(),
    };
    let body = req.body().as_slice();
    let delivery = match platform {
        Platform::Shopify => shopify_delivery(req, &shop, &ctx)?,
        Platform::WooCommerce => {
            let signature = header(req, "x-wc-webhook-signature");
            if woocommerce::is_ping(body, signature) {
                return Ok(acknowledge(platform, &Applied::Ignored { reason: "ping" }));
            }
            let secret = shop.credentials.woocommerce_secret.as_deref();
            crate::crypto::verify_base64_hmac(
                &secret.into_iter().collect::<Vec<_>>(),
                body,
                signature,
            )?;
            let topic = header(req, "x-wc-webhook-topic").unwrap_or_default();
            let effect = woocommerce::parse(topic, body, &ctx)?;
            Delivery {
                effect,
                ids: Vec::new(),
            }
        }
        Platform::Youzan => {
            let creds = shop
                .credentials
                .youzan
                .as_ref()
                .ok_or_else(Error::bad_signature)?;
            let (envelope, signed) = youzan::verify(creds, body, header(req, "event-sign"))?;
            let effect = youzan::parse(&envelope, signed, &ctx)?;
            Delivery {
                effect,
                ids: Vec::new(),
            }
        }
        Platform::Generic | Platform::Wecom => {
            let secret = shop
                .credentials
                .generic_secret
                .as_deref()
                .ok_or_else(Error::bad_signature)?;
            generic::verify(
                secret,
                body,
                header(req, generic::TIMESTAMP_HEADER),
                header(req, generic::SIGNATURE_HEADER),
                env.now,
            )?;
            let ids = header(req, generic::DELIVERY_HEADER)
                .map(|d| vec![delivery_id("g", d, body)])
                .unwrap_or_default();
            Delivery {
                effect: generic::parse(body, &ctx)?,
                ids,
            }
        }
    };
    let applied = apply(env, &shop, platform, delivery)?;
    Ok(acknowledge(platform, &applied))
}

struct Delivery {
    effect: WebhookEffect,
    /// The platform's delivery/event ids, to answer exact redeliveries cheaply.
    ids: Vec<String>,
}

/// A delivery id as remembered: the (unsigned) header's id with a digest of the (signed)
/// body, so a re-post of another body under a known id is no duplicate of it and cannot make
/// the real delivery of that id look like one.
fn delivery_id(kind: &str, id: &str, body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(&Sha256::digest(body)[..8]);
    format!(
        "{kind}:{}:{digest}",
        id.chars().take(100).collect::<String>()
    )
}

fn shopify_delivery(req: &Request, shop: &Shop, ctx: &ParseContext) -> Result<Delivery, ApiError> {
    let first = |name: &str| {
        shopify::header_names(name)
            .iter()
            .find_map(|h| header(req, h))
    };
    let secrets: Vec<&str> = shop
        .credentials
        .shopify_secrets
        .iter()
        .map(String::as_str)
        .collect();
    crate::crypto::verify_base64_hmac(&secrets, req.body(), first("hmac-sha256"))?;
    shopify::check_header_domain(ctx, first("shop-domain"))?;
    let topic = first("topic").unwrap_or_default();
    let mut ids = Vec::new();
    if let Some(id) = first("webhook-id") {
        ids.push(delivery_id("w", id, req.body()));
    }
    if let Some(id) = first("event-id") {
        ids.push(delivery_id("e", id, req.body()));
    }
    Ok(Delivery {
        effect: shopify::parse(topic, req.body(), ctx)?,
        ids,
    })
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "effect")]
enum Applied {
    Order(OrderOutcome),
    Customer {
        customer_id: Option<CustomerId>,
    },
    Erased {
        customer_id: Option<CustomerId>,
    },
    DataRequestRecorded {
        customer_id: Option<CustomerId>,
    },
    ShopClosed {
        /// Where the erasure of its customers stands (the scheduler finishes it).
        redaction: crate::flows::erasure::RedactionProgress,
    },
    Ignored {
        reason: &'static str,
    },
}

fn apply(
    env: &Env,
    shop: &Shop,
    platform: Platform,
    delivery: Delivery,
) -> Result<Applied, ApiError> {
    let pepper = env.secrets.pepper()?;
    Ok(match delivery.effect {
        WebhookEffect::Order(event) => Applied::Order(order_settled::ingest(
            env.store,
            shop,
            pepper,
            &event,
            &delivery.ids,
            env.now,
        )?),
        WebhookEffect::CustomerProfile(patch) => Applied::Customer {
            customer_id: customer_changed::upsert_profile(
                env.store, shop, pepper, &patch, platform, env.now,
            )?,
        },
        WebhookEffect::RedactCustomer(patch) => {
            let found = customers::find(env.store, &shop.id, pepper, &patch.identities())?;
            erasure::erase_if_known(env.store, &shop.id, found.as_ref(), env.now)?;
            Applied::Erased { customer_id: found }
        }
        WebhookEffect::DataRequest {
            request_id,
            customer,
        } => {
            let found = customers::find(env.store, &shop.id, pepper, &customer.identities())?;
            let request_id =
                ExternalId::parse(&request_id).map_err(crate::webhooks::invalid_payload)?;
            customers::record_data_request(
                env.store,
                &shop.id,
                platform,
                &request_id,
                found.as_ref(),
                env.now,
            )?;
            Applied::DataRequestRecorded { customer_id: found }
        }
        WebhookEffect::RedactShop => Applied::ShopClosed {
            redaction: erasure::redact_shop(env.store, &shop.id, REDACTION_BUDGET, env.now)?,
        },
        WebhookEffect::Ignore(reason) => Applied::Ignored { reason },
    })
}

fn acknowledge(platform: Platform, applied: &Applied) -> Response {
    match platform {
        // Youzan redelivers unless it reads exactly this acknowledgement.
        Platform::Youzan => json_response(
            200,
            &YouzanAck {
                code: 0,
                msg: "success",
            },
        ),
        _ => json_response(
            200,
            &Ack {
                ok: true,
                result: applied,
            },
        ),
    }
}

/// The acknowledgement of Shopify, WooCommerce and generic deliveries.
#[derive(Serialize, JsonSchema)]
struct Ack<'a> {
    ok: bool,
    result: &'a Applied,
}

/// The acknowledgement Youzan requires, exactly.
#[derive(Serialize, JsonSchema)]
struct YouzanAck {
    code: i32,
    msg: &'static str,
}
