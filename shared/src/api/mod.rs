//! Request handlers, one module per component. Each module's `OPERATIONS` table is what it
//! serves and what the OpenAPI document says; its handler parses the request, calls one domain
//! function and maps the result; errors become responses only in `web::serve`, with the
//! status of each kind of error decided in `web::error`.

// Types named only in the operations' descriptions go unused in builds without the document.
#![cfg_attr(not(feature = "openapi"), allow(unused_imports))]

pub mod console;
pub mod coupons;
pub mod customers;
#[cfg(feature = "openapi")]
pub mod fallback;
pub mod ingest;
pub mod jobs;
pub mod lead_capture;
mod lead_form;
#[cfg(feature = "openapi")]
pub mod openapi;
mod phone_code;
pub mod reminders;
pub mod router;
pub mod scan;
mod shopper_page;
pub mod shops;
pub mod tagging;

use schemars::JsonSchema;
use serde::Serialize;

use crate::error::Error;
use crate::shops::{authenticate_caller, Caller, Shop};
use crate::web::ApiError;
use crate::web::{bearer_token, Env, Request, RequestLog};
use router::{route, Access, Operation, Route};

/// A Spin component's share of the API.
#[cfg(feature = "openapi")]
pub struct Component {
    /// The component's name in spin.toml (and the document's tag).
    pub name: &'static str,
    pub description: &'static str,
    pub operations: &'static [Operation],
}

/// Every operation Siyu serves, by component (the document's tags).
#[cfg(feature = "openapi")]
pub static COMPONENTS: &[Component] = &[
    Component {
        name: "shops",
        description: "Shops (operator), a shop's settings and API keys.",
        operations: shops::OPERATIONS,
    },
    Component {
        name: "customers",
        description: "Customers: look-up, attributes, manual tags, erasure; privacy requests.",
        operations: customers::OPERATIONS,
    },
    Component {
        name: "ingest",
        description: "Shop platform webhooks: orders, refunds, customers, privacy.",
        operations: ingest::OPERATIONS,
    },
    Component {
        name: "scan",
        description: "Channel QR code scans: counted, then redirected.",
        operations: scan::OPERATIONS,
    },
    Component {
        name: "lead-capture",
        description: "Channels and their QR codes, leads, the hosted form, WeCom callbacks.",
        operations: lead_capture::OPERATIONS,
    },
    Component {
        name: "tagging",
        description: "Tag rules, RFM groups, segments and their exports.",
        operations: tagging::OPERATIONS,
    },
    Component {
        name: "coupons",
        description: "Coupon campaigns: issuing, pools, print batches, validation, redemption.",
        operations: coupons::OPERATIONS,
    },
    Component {
        name: "reminders",
        description: "Repurchase reminders: settings, dispatch, stats, unsubscribe links.",
        operations: reminders::OPERATIONS,
    },
    Component {
        name: "jobs",
        description: "The scheduler's call for every shop's periodic work, the deployment's status, the health check.",
        operations: jobs::OPERATIONS,
    },
    Component {
        name: "console",
        description:
            "The merchant console: a browser app at /console/ over this API, and its charts.",
        operations: console::OPERATIONS,
    },
    Component {
        name: "fallback",
        description: "This document; the JSON 404 for every path no component claims.",
        operations: fallback::OPERATIONS,
    },
];

/// One page of a list; `next_cursor` is null on the last page.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "{T}Page")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<i64>,
}

/// A request that reached an operation and passed its access check.
pub struct Call<'r> {
    pub route: Route<'r>,
    caller: Option<Caller>,
}

impl<'r> Call<'r> {
    /// The path parameter `name`.
    pub fn param(&self, name: &str) -> &'r str {
        self.route.param(name)
    }

    /// `(method, path template)`, for the handler to match on.
    pub fn operation(&self) -> (&'static str, &'static str) {
        let op = self.route.operation;
        (op.method.as_str(), op.path)
    }

    /// The key that called a shop-key operation.
    pub fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller
            .as_ref()
            .ok_or_else(|| ApiError::from(Error::unauthorized("this route needs a shop API key")))
    }

    pub fn shop(&self) -> Result<&Shop, ApiError> {
        self.caller().map(|c| &c.shop)
    }
}

/// Routes `req` through `operations` and enforces the operation's `Access`: the one place
/// keys and tokens are checked. Signed and public operations check what they need inside.
pub fn accept<'r>(
    req: &'r Request,
    env: &Env,
    log: &mut RequestLog,
    operations: &'static [Operation],
) -> Result<Call<'r>, ApiError> {
    let route = route(req, operations, log)?;
    let caller = match route.operation.access {
        Access::ShopKey => Some(authenticated_caller(req, env, log)?),
        Access::OwnerKey => {
            let caller = authenticated_caller(req, env, log)?;
            caller.require_owner()?;
            Some(caller)
        }
        Access::Scoped(scope) => {
            let caller = authenticated_caller(req, env, log)?;
            caller.require(scope)?;
            Some(caller)
        }
        Access::Operator => {
            require_operator(req, env)?;
            None
        }
        Access::Scheduler => {
            require_scheduler(req, env)?;
            None
        }
        Access::Public | Access::Signed(_) => None,
    };
    Ok(Call { route, caller })
}

fn require_scheduler(req: &Request, env: &Env) -> Result<(), ApiError> {
    match bearer_token(req) {
        Some(token) if env.secrets.is_scheduler(token) => Ok(()),
        _ => Err(ApiError::from(Error::unauthorized(format!(
            "this route needs the scheduler token as Authorization: Bearer <token>{}",
            env.secrets.token_note("scheduler_token")
        )))),
    }
}

/// The shop and which of its keys the request carries.
fn authenticated_caller(
    req: &Request,
    env: &Env,
    log: &mut RequestLog,
) -> Result<Caller, ApiError> {
    let token = bearer_token(req).ok_or_else(|| {
        ApiError::from(Error::unauthorized(
            "send the shop's API key as Authorization: Bearer <key>",
        ))
    })?;
    let caller = authenticate_caller(env.store, token)?;
    log.shop = Some(caller.shop.id.to_string());
    Ok(caller)
}

fn require_operator(req: &Request, env: &Env) -> Result<(), ApiError> {
    match bearer_token(req) {
        Some(token) if env.secrets.is_operator(token) => Ok(()),
        _ => Err(ApiError::from(Error::unauthorized(format!(
            "this route needs the operator token as Authorization: Bearer <token>{}",
            env.secrets.token_note("operator_token")
        )))),
    }
}
