//! The `fallback` component: the API's OpenAPI document, and the same JSON error shape for
//! every path no component claims.

use http::Method;
use serde_json::json;

use super::router::{route, Access, Operation};

use crate::web::ApiError;
use crate::web::{json_response, public_origin, with_header, Env, Request, RequestLog, Response};

pub static OPERATIONS: &[Operation] = &[Operation {
    method: Method::GET,
    path: "/api/openapi.json",
    summary: "This API's OpenAPI 3.1 document",
    access: Access::Public,
    #[cfg(feature = "openapi")]
    describe: |d| {
        d.text("Load it into Swagger UI, Postman or a client generator.");
        d.reply_as(
            200,
            "The document.",
            "application/json",
            json!({"type": "object", "description": "An OpenAPI 3.1 document."}),
        );
    },
}];

/// Public routes only, so this component never opens the store (and imports no key-value
/// atomics: it loads on every host).
pub fn handle(req: &Request, _env: &Env, log: &mut RequestLog) -> Result<Response, ApiError> {
    log.route = "fallback";
    let route = route(req, OPERATIONS, log)?;
    match (route.operation.method.as_str(), route.path()) {
        ("GET", "/api/openapi.json") => {
            let origin = public_origin(req).ok();
            let document = super::openapi::document(origin.as_deref());
            // Public, and loaded by Swagger UI and other tools from their own origins.
            Ok(with_header(
                json_response(200, &document),
                "access-control-allow-origin",
                "*",
            ))
        }
        _ => Err(ApiError::unknown_route()),
    }
}
