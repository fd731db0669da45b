//! The `shops` component: operator-only shop creation and maintenance, and a shop's own
//! settings.

use http::Method;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::accept;
use super::router::{Access, Operation};
use std::time::Duration;

use crate::domain::ShopId;
use crate::error::Error;
use crate::flows::erasure::{self, RedactionProgress, RedactionReport};
use crate::jobs::status::{shop_status, ShopStatus};
use crate::shops::audit::{self, AuditEntry, AuditedChange};
use crate::shops::{self, CreatedShop, KeyScope, KeyView, NewKey, NewShop, ShopUpdate, ShopView};
use crate::web::ApiError;
use crate::web::{json_body, json_response, paging, Env, Limit, Request, RequestLog, Response};

/// How long one redaction call erases before it answers (the rest is the next call's, or the
/// scheduler's); well inside the 30 s hosted platforms allow a request.
const REDACTION_TIME: Duration = Duration::from_secs(10);
const AUDIT_PAGE: Limit = Limit::new(50, 200);

pub static OPERATIONS: &[Operation] = &[
    Operation {
        method: Method::GET,
        path: "/api/shop/status",
        summary: "How the shop's periodic work goes: late reminders, failing deliveries",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.reply::<ShopStatus>(
                200,
                "Each job's last run, the reminders waiting, and notices for the merchant.",
            );
        },
    },
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
        summary: "Replace a shop's owner key, revoking its other keys (operator)",
        access: Access::Operator,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.text("Every further key of the shop is revoked too, unless keep_other_keys.");
            d.json_body::<RotateRequest>();
            d.optional_body();
            d.reply::<NewApiKey>(200, "The new owner key, shown this once.");
        },
    },
    Operation {
        method: Method::POST,
        path: "/api/shops/{id}/redact",
        summary: "Close a shop and erase all its customers (operator)",
        access: Access::Operator,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.text("The shop closes at once. Customers are erased for up to 10 s; the scheduler (POST /api/redactions/run) or another call finishes the rest.");
            d.json_body::<RedactRequest>();
            d.optional_body();
            d.reply::<Redacted>(200, "Closed; `done` once every customer is erased.");
        },
    },
    Operation {
        method: Method::POST,
        path: "/api/redactions/run",
        summary: "Continue every unfinished shop redaction (the scheduler calls this)",
        access: Access::Scheduler,
        #[cfg(feature = "openapi")]
        describe: |d| d.reply::<RedactionReport>(200, "What was erased, and whether all are done."),
    },
    Operation {
        method: Method::GET,
        path: "/api/shop/audit",
        summary: "The shop's security log: delivery, credential and key changes (owner key)",
        access: Access::OwnerKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.paging(AUDIT_PAGE);
            d.reply::<super::Page<AuditEntry>>(200, "A page of the log, newest first.");
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
    /// Ignored: the redaction keeps its own place (kept so older callers are not refused).
    #[serde(default)]
    #[allow(dead_code)]
    cursor: i64,
}

/// `POST /api/shops/{id}/api-key` body (optional).
#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    /// Keep the shop's further keys working (default false: they are revoked).
    #[serde(default)]
    keep_other_keys: bool,
}

#[derive(Serialize, JsonSchema)]
struct Redacted {
    closed: bool,
    #[serde(flatten)]
    progress: RedactionProgress,
    /// Null once done; otherwise call again (any value may be sent back).
    next_cursor: Option<i64>,
}

#[derive(Serialize, JsonSchema)]
struct NewApiKey {
    api_key: String,
    /// The further keys revoked with the old owner key.
    revoked_keys: Vec<String>,
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
            let body: RotateRequest = optional_body(req)?;
            shops::load_shop(env.store, &id)?;
            let (api_key, revoked_keys) =
                shops::rotate_api_key(env.store, &id, body.keep_other_keys, env.now)?;
            let change = AuditedChange::OwnerKeyRotated {
                revoked_keys: revoked_keys.clone(),
            };
            audit::record(env.store, &id, "operator", change, env.now)?;
            Ok(json_response(
                200,
                &NewApiKey {
                    api_key,
                    revoked_keys,
                },
            ))
        }
        ("POST", "/api/shops/{id}/redact") => {
            let id = shop_id(call.param("id"))?;
            let _: RedactRequest = optional_body(req)?;
            log.shop = Some(id.to_string());
            let budget = erasure::RedactionBudget {
                time: REDACTION_TIME,
                customers: None,
            };
            let progress = erasure::redact_shop(env.store, &id, budget, env.now)?;
            let next_cursor = (!progress.done).then_some(0);
            Ok(json_response(
                200,
                &Redacted {
                    closed: true,
                    progress,
                    next_cursor,
                },
            ))
        }
        ("GET", "/api/shop/status") => {
            let status = shop_status(env.store, &call.shop()?.id, env.now)?;
            Ok(json_response(200, &status))
        }
        ("POST", "/api/redactions/run") => {
            let report = erasure::continue_redactions(env.store, REDACTION_TIME, env.now)?;
            Ok(json_response(200, &report))
        }
        ("GET", "/api/shop/audit") => {
            let (after, limit) = paging(req, AUDIT_PAGE)?;
            let (items, next_cursor) = audit::page(env.store, &call.shop()?.id, after, limit)?;
            Ok(json_response(200, &super::Page { items, next_cursor }))
        }
        ("GET", "/api/shop/keys") => {
            let items = call.shop()?.keys();
            Ok(json_response(200, &KeyList { items }))
        }
        ("POST", "/api/shop/keys") => {
            let input: NewKey = json_body(req)?;
            let shop = &call.shop()?.id;
            let created = shops::create_key(env.store, shop, input, env.now)?;
            let change = AuditedChange::KeyCreated {
                key: created.id.clone(),
                scopes: created.scopes.clone(),
            };
            audit::record(env.store, shop, &call.caller()?.key_id, change, env.now)?;
            Ok(json_response(201, &created))
        }
        ("DELETE", "/api/shop/keys/{id}") => {
            let key = call.param("id");
            let shop = &call.shop()?.id;
            shops::revoke_key(env.store, shop, key, env.now)?;
            let change = AuditedChange::KeyRevoked {
                key: key.to_string(),
            };
            audit::record(env.store, shop, &call.caller()?.key_id, change, env.now)?;
            Ok(json_response(
                200,
                &Revoked {
                    revoked: key.to_string(),
                },
            ))
        }
        ("GET", "/api/shop") => Ok(json_response(200, &call.shop()?.view())),
        ("PATCH", "/api/shop") => {
            let caller = call.caller()?;
            let shop = &caller.shop;
            let update: ShopUpdate = json_body(req)?;
            let credential_fields = update.credentials.as_ref().map(|c| c.fields());
            let limits = update.limits;
            let checked = shops::check_update(update)?;
            if let Some(limits) = limits {
                // The ceiling on codes is what texts strangers can make the shop pay for.
                caller.require(KeyScope::ManageDelivery)?;
                if limits != shop.limits {
                    let change = AuditedChange::LimitsChanged {
                        phone_codes_per_hour: limits.phone_codes_per_hour,
                    };
                    audit::record(env.store, &shop.id, &caller.key_id, change, env.now)?;
                }
            }
            if let Some(fields) = credential_fields {
                // Credentials verify the shop's webhooks: whoever sets them can forge any
                // delivery, a shop's closure included.
                caller.require(KeyScope::ManageCredentials)?;
                if !fields.is_empty() {
                    let change = AuditedChange::CredentialsChanged { fields };
                    audit::record(env.store, &shop.id, &caller.key_id, change, env.now)?;
                }
            }
            let updated = shops::update_shop(env.store, &shop.id, &checked, env.now)?;
            if updated.time_zone != shop.time_zone {
                crate::channels::refresh_scan_targets(env.store, &updated)?;
            }
            Ok(json_response(200, &updated.view()))
        }
        _ => Err(ApiError::unknown_route()),
    }
}

/// A JSON body that may be left out altogether.
fn optional_body<T: serde::de::DeserializeOwned + JsonSchema + Default>(
    req: &Request,
) -> Result<T, ApiError> {
    if req.body().is_empty() {
        Ok(T::default())
    } else {
        json_body(req)
    }
}

fn shop_id(text: &str) -> Result<ShopId, ApiError> {
    ShopId::parse(text).ok_or_else(|| ApiError::from(Error::not_found("shop")))
}
