//! The `shops` component: operator-only shop creation and maintenance, and a shop's own
//! settings.

use http::Method;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::accept;
use super::router::{Access, Operation};
use crate::domain::ShopId;
use crate::error::Error;
use crate::shops::{self, CreatedShop, KeyView, NewKey, NewShop, ShopUpdate, ShopView};
use crate::web::ApiError;
use crate::web::{json_body, json_response, Env, Request, RequestLog, Response};

/// Customers erased per call of the redaction endpoint (bounded request time).
const ERASE_BATCH: usize = 200;

pub static OPERATIONS: &[Operation] = &[
    Operation {
        method: Method::POST,
        path: "/api/shops",
        summary: "Create a shop (operator)",
        access: Access::Operator,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.json_body::<NewShop>();
            d.reply::<CreatedShop>(201, "The shop and its owner key, shown this once.");
        },
    },
    Operation {
        method: Method::GET,
        path: "/api/shops/{id}",
        summary: "Read a shop (operator)",
        access: Access::Operator,
        #[cfg(feature = "openapi")]
        describe: |d| d.reply::<ShopView>(200, "The shop's settings, secrets masked."),
    },
    Operation {
        method: Method::POST,
        path: "/api/shops/{id}/api-key",
        summary: "Replace a shop's owner key (operator)",
        access: Access::Operator,
        #[cfg(feature = "openapi")]
        describe: |d| d.reply::<NewApiKey>(200, "The new owner key, shown this once."),
    },
    Operation {
        method: Method::POST,
        path: "/api/shops/{id}/redact",
        summary: "Close a shop and erase its customers, a batch per call (operator)",
        access: Access::Operator,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.json_body::<RedactRequest>();
            d.optional_body();
            d.reply::<Redacted>(200, "Closed; call again with next_cursor until it is null.");
        },
    },
    Operation {
        method: Method::GET,
        path: "/api/shop/keys",
        summary: "List the shop's API keys (owner key)",
        access: Access::OwnerKey,
        #[cfg(feature = "openapi")]
        describe: |d| d.reply::<KeyList>(200, "The keys, secrets never shown."),
    },
    Operation {
        method: Method::POST,
        path: "/api/shop/keys",
        summary: "Create an API key (owner key)",
        access: Access::OwnerKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.json_body::<NewKey>();
            d.reply::<KeyView>(201, "The key, its secret shown this once.");
        },
    },
    Operation {
        method: Method::DELETE,
        path: "/api/shop/keys/{id}",
        summary: "Revoke an API key (owner key)",
        access: Access::OwnerKey,
        #[cfg(feature = "openapi")]
        describe: |d| d.reply::<Revoked>(200, "Revoked; it stops working at once."),
    },
    Operation {
        method: Method::GET,
        path: "/api/shop",
        summary: "Read the shop's settings",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| d.reply::<ShopView>(200, "The shop's settings, secrets masked."),
    },
    Operation {
        method: Method::PATCH,
        path: "/api/shop",
        summary: "Change the shop's settings and platform credentials",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.json_body::<ShopUpdate>();
            d.reply::<ShopView>(200, "The changed settings, secrets masked.");
        },
    },
];

/// `POST /api/shops/{id}/redact` body (optional).
#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RedactRequest {
    /// Where the previous call ended (its `next_cursor`).
    #[serde(default)]
    cursor: i64,
}

#[derive(Serialize, JsonSchema)]
struct Redacted {
    closed: bool,
    next_cursor: Option<i64>,
}

#[derive(Serialize, JsonSchema)]
struct NewApiKey {
    api_key: String,
}

#[derive(Serialize, JsonSchema)]
struct KeyList {
    items: Vec<KeyView>,
}

#[derive(Serialize, JsonSchema)]
struct Revoked {
    /// The revoked key's id.
    revoked: String,
}

pub fn handle(req: &Request, env: &Env, log: &mut RequestLog) -> Result<Response, ApiError> {
    let call = accept(req, env, log, OPERATIONS)?;
    match call.operation() {
        ("POST", "/api/shops") => {
            let input: NewShop = json_body(req)?;
            let created = shops::create_shop(env.store, input, env.now)?;
            log.shop = Some(created.shop.id.to_string());
            Ok(json_response(201, &created))
        }
        ("GET", "/api/shops/{id}") => {
            let shop = shops::load_shop(env.store, &shop_id(call.param("id"))?)?;
            Ok(json_response(200, &shop.view()))
        }
        ("POST", "/api/shops/{id}/api-key") => {
            let id = shop_id(call.param("id"))?;
            let api_key = shops::rotate_api_key(env.store, &id, env.now)?;
            Ok(json_response(200, &NewApiKey { api_key }))
        }
        ("POST", "/api/shops/{id}/redact") => {
            let id = shop_id(call.param("id"))?;
            let body: RedactRequest = if req.body().is_empty() {
                RedactRequest::default()
            } else {
                json_body(req)?
            };
            shops::close_shop(env.store, &id, env.now)?;
            let next_cursor = crate::flows::erasure::erase_batch(
                env.store,
                &id,
                body.cursor,
                ERASE_BATCH,
                env.now,
            )?;
            Ok(json_response(
                200,
                &Redacted {
                    closed: true,
                    next_cursor,
                },
            ))
        }
        ("GET", "/api/shop/keys") => {
            let items = call.shop()?.keys();
            Ok(json_response(200, &KeyList { items }))
        }
        ("POST", "/api/shop/keys") => {
            let input: NewKey = json_body(req)?;
            let created = shops::create_key(env.store, &call.shop()?.id, input, env.now)?;
            Ok(json_response(201, &created))
        }
        ("DELETE", "/api/shop/keys/{id}") => {
            let key = call.param("id");
            shops::revoke_key(env.store, &call.shop()?.id, key, env.now)?;
            Ok(json_response(
                200,
                &Revoked {
                    revoked: key.to_string(),
                },
            ))
        }
        ("GET", "/api/shop") => Ok(json_response(200, &call.shop()?.view())),
        ("PATCH", "/api/shop") => {
            let shop = call.shop()?;
            let update: ShopUpdate = json_body(req)?;
            let updated = shops::update_shop(env.store, &shop.id, update, env.now)?;
            if updated.time_zone != shop.time_zone {
                crate::channels::refresh_scan_targets(env.store, &updated)?;
            }
            Ok(json_response(200, &updated.view()))
        }
        _ => Err(ApiError::unknown_route()),
    }
}

fn shop_id(text: &str) -> Result<ShopId, ApiError> {
    ShopId::parse(text).ok_or_else(|| ApiError::from(Error::not_found("shop")))
}
