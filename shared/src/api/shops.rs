//! The `shops` component: operator-only shop creation and maintenance, and a shop's own
//! settings.

use http::Method;
use serde::Deserialize;

use super::{authenticated_caller, authenticated_shop, require_operator};
use crate::customers;
use crate::domain::ShopId;
use crate::error::ApiError;
use crate::shops::{self, NewKey, NewShop, ShopUpdate};
use crate::web::{
    json_body, json_response, require_method, segments, Env, Request, RequestLog, Response,
};

/// Customers erased per call of the redaction endpoint (bounded request time).
const ERASE_BATCH: usize = 200;

pub fn handle(req: &Request, env: &Env, log: &mut RequestLog) -> Result<Response, ApiError> {
    match segments(req).as_slice() {
        ["api", "shops"] => {
            log.route = "/api/shops";
            require_method(req, &[Method::POST])?;
            require_operator(req, env)?;
            let input: NewShop = json_body(req)?;
            let created = shops::create_shop(env.store, input, env.now)?;
            log.shop = Some(created.shop.id.to_string());
            Ok(json_response(201, &created))
        }
        ["api", "shops", id] => {
            log.route = "/api/shops/{id}";
            require_method(req, &[Method::GET])?;
            require_operator(req, env)?;
            let shop = shops::load_shop(env.store, &shop_id(id)?)?;
            Ok(json_response(200, &shop.view()))
        }
        ["api", "shops", id, "api-key"] => {
            log.route = "/api/shops/{id}/api-key";
            require_method(req, &[Method::POST])?;
            require_operator(req, env)?;
            let id = shop_id(id)?;
            let api_key = shops::rotate_api_key(env.store, &id, env.now)?;
            Ok(json_response(200, &serde_json::json!({"api_key": api_key})))
        }
        ["api", "shops", id, "redact"] => {
            log.route = "/api/shops/{id}/redact";
            require_method(req, &[Method::POST])?;
            require_operator(req, env)?;
            let id = shop_id(id)?;
            #[derive(Deserialize, Default)]
            #[serde(deny_unknown_fields)]
            struct Body {
                #[serde(default)]
                cursor: i64,
            }
            let body: Body = if req.body().is_empty() {
                Body::default()
            } else {
                json_body(req)?
            };
            shops::close_shop(env.store, &id, env.now)?;
            let next = customers::erase_batch(env.store, &id, body.cursor, ERASE_BATCH, env.now)?;
            Ok(json_response(
                200,
                &serde_json::json!({"closed": true, "next_cursor": next}),
            ))
        }
        ["api", "shop", "keys"] => {
            log.route = "/api/shop/keys";
            require_method(req, &[Method::GET, Method::POST])?;
            let caller = authenticated_caller(req, env, log)?;
            caller.require_owner()?;
            if req.method() == Method::GET {
                return Ok(json_response(
                    200,
                    &serde_json::json!({"items": caller.shop.keys()}),
                ));
            }
            let input: NewKey = json_body(req)?;
            let created = shops::create_key(env.store, &caller.shop.id, input, env.now)?;
            Ok(json_response(201, &created))
        }
        ["api", "shop", "keys", key] => {
            log.route = "/api/shop/keys/{id}";
            require_method(req, &[Method::DELETE])?;
            let caller = authenticated_caller(req, env, log)?;
            caller.require_owner()?;
            shops::revoke_key(env.store, &caller.shop.id, key, env.now)?;
            Ok(json_response(200, &serde_json::json!({"revoked": key})))
        }
        ["api", "shop"] => {
            log.route = "/api/shop";
            require_method(req, &[Method::GET, Method::PATCH])?;
            let shop = authenticated_shop(req, env, log)?;
            if req.method() == Method::GET {
                return Ok(json_response(200, &shop.view()));
            }
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
    ShopId::parse(text).ok_or_else(|| ApiError::not_found("shop"))
}
