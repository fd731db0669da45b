//! Request handlers, one module per component. Each parses the request, calls one domain
//! function and maps the result; errors become responses only in `web::serve`.

pub mod coupons;
pub mod customers;
pub mod fallback;
pub mod ingest;
pub mod lead_capture;
pub mod reminders;
pub mod shops;
pub mod tagging;

use crate::error::ApiError;
use crate::shops::{authenticate_caller, Caller, Shop};
use crate::web::{bearer_token, Env, Request, RequestLog};

/// The shop whose API key the request carries.
pub fn authenticated_shop(
    req: &Request,
    env: &Env,
    log: &mut RequestLog,
) -> Result<Shop, ApiError> {
    authenticated_caller(req, env, log).map(|c| c.shop)
}

/// The shop and which of its keys the request carries.
pub fn authenticated_caller(
    req: &Request,
    env: &Env,
    log: &mut RequestLog,
) -> Result<Caller, ApiError> {
    let token = bearer_token(req).ok_or_else(|| {
        ApiError::unauthorized("send the shop's API key as Authorization: Bearer <key>")
    })?;
    let caller = authenticate_caller(env.store, token)?;
    log.shop = Some(caller.shop.id.to_string());
    Ok(caller)
}

pub fn require_operator(req: &Request, env: &Env) -> Result<(), ApiError> {
    match bearer_token(req) {
        Some(token) if env.secrets.is_operator(token) => Ok(()),
        _ => Err(ApiError::unauthorized(
            "this route needs the operator token as Authorization: Bearer <token>",
        )),
    }
}
