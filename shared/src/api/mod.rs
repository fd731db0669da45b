//! Request handlers, one module per component. Each parses the request, calls one domain
//! function and maps the result; errors become responses only in `web::serve`.

pub mod customers;
pub mod fallback;
pub mod ingest;
pub mod lead_capture;
pub mod shops;

use crate::error::ApiError;
use crate::shops::{authenticate, Shop};
use crate::web::{bearer_token, Env, Request, RequestLog};

/// The shop whose API key the request carries.
pub fn authenticated_shop(
    req: &Request,
    env: &Env,
    log: &mut RequestLog,
) -> Result<Shop, ApiError> {
    let token = bearer_token(req).ok_or_else(|| {
        ApiError::unauthorized("send the shop's API key as Authorization: Bearer <key>")
    })?;
    let shop = authenticate(env.store, token)?;
    log.shop = Some(shop.id.to_string());
    Ok(shop)
}

pub fn require_operator(req: &Request, env: &Env) -> Result<(), ApiError> {
    match bearer_token(req) {
        Some(token) if env.secrets.is_operator(token) => Ok(()),
        _ => Err(ApiError::unauthorized(
            "this route needs the operator token as Authorization: Bearer <token>",
        )),
    }
}
