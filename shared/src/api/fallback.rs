//! Answers every path no component claims, in the same JSON error shape.

use crate::error::ApiError;
use crate::web::{Env, Request, RequestLog, Response};

pub fn handle(_req: &Request, _env: &Env, log: &mut RequestLog) -> Result<Response, ApiError> {
    log.route = "fallback";
    Err(ApiError::unknown_route())
}
