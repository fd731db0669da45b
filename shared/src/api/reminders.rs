//! The `reminders` component: a shop's consumption profiles and delivery settings, and the
//! public unsubscribe link. (Dispatch and delivery follow in the next steps of issue 7.)

use http::Method;

use super::authenticated_shop;
use crate::domain::ShopId;
use crate::error::ApiError;
use crate::reminders::{self, ReminderSettings};
use crate::web::{
    bearer_token, json_body, json_response, message_page, paging, public_origin, query_number,
    query_param, require_method, segments, Env, Request, RequestLog, Response,
};

pub fn handle(req: &Request, env: &Env, log: &mut RequestLog) -> Result<Response, ApiError> {
    match segments(req).as_slice() {
        ["api", "reminders", "settings"] => {
            log.route = "/api/reminders/settings";
            require_method(req, &[Method::GET, Method::PUT])?;
            let shop = authenticated_shop(req, env, log)?;
            let view = if req.method() == Method::PUT {
                let settings: ReminderSettings = json_body(req)?;
                reminders::save_settings(env.store, &shop.id, settings)?
            } else {
                reminders::load_settings(env.store, &shop.id)?
            };
            Ok(json_response(200, &view))
        }
        ["api", "reminders", "secret"] => {
            log.route = "/api/reminders/secret";
            require_method(req, &[Method::POST])?;
            let shop = authenticated_shop(req, env, log)?;
            let secret = reminders::rotate_secret(env.store, &shop.id)?;
            Ok(json_response(
                200,
                &serde_json::json!({"delivery_secret": secret}),
            ))
        }
        ["api", "reminders", "dispatch"] => {
            log.route = "/api/reminders/dispatch";
            require_method(req, &[Method::POST])?;
            match bearer_token(req) {
                Some(token) if env.secrets.is_scheduler(token) => {}
                _ => {
                    return Err(ApiError::unauthorized(
                        "dispatch needs the scheduler token as Authorization: Bearer <token>",
                    ))
                }
            }
            let pepper = env.secrets.pepper()?;
            let origin = public_origin(req)?;
            let limit = query_number(req, "limit", 500)?.clamp(1, 5_000) as usize;
            let report = match query_param(req, "shop") {
                Some(id) => {
                    let id = ShopId::parse(&id).ok_or_else(|| ApiError::not_found("shop"))?;
                    let shop = crate::shops::load_shop(env.store, &id)?;
                    log.shop = Some(shop.id.to_string());
                    reminders::dispatch(
                        env.store,
                        env.outbound,
                        pepper,
                        &origin,
                        &shop,
                        limit,
                        env.now,
                    )?
                }
                None => reminders::dispatch_all(
                    env.store,
                    env.outbound,
                    pepper,
                    &origin,
                    limit,
                    env.now,
                )?,
            };
            Ok(json_response(200, &report))
        }
        ["api", "reminders", "stats"] => {
            log.route = "/api/reminders/stats";
            require_method(req, &[Method::GET])?;
            let shop = authenticated_shop(req, env, log)?;
            let (after, limit) = paging(req, 50, 200)?;
            let overall = reminders::stats(env.store, &shop.id, None)?;
            let (products, next) = reminders::product_stats(env.store, &shop.id, after, limit)?;
            Ok(json_response(
                200,
                &serde_json::json!({"overall": overall, "products": products, "next_cursor": next}),
            ))
        }
        ["r", "u", token] => {
            log.route = "/r/u/{token}";
            require_method(req, &[Method::GET, Method::POST])?;
            let pepper = env.secrets.pepper()?;
            let found =
                reminders::parse_unsubscribe_token(pepper, token).and_then(|(shop, customer)| {
                    crate::shops::load_shop(env.store, &shop)
                        .ok()
                        .map(|s| (s, customer))
                });
            let Some((shop, customer)) = found else {
                return Ok(message_page(
                    404,
                    "链接无效 · Link not valid",
                    "这个退订链接无效。This unsubscribe link is not valid.",
                ));
            };
            log.shop = Some(shop.id.to_string());
            if req.method() == Method::GET {
                // A link opened by a preview or a scanner must not unsubscribe: one button.
                return Ok(message_page(
                    200,
                    "退订 · Unsubscribe",
                    "<form method=\"post\"><button type=\"submit\">不再接收营销消息 · \
                     Stop marketing messages</button></form>",
                ));
            }
            reminders::unsubscribe(env.store, &shop, &customer, env.now)?;
            Ok(message_page(
                200,
                "已退订 · Unsubscribed",
                "您将不再收到营销消息。You will receive no more marketing messages.",
            ))
        }
        _ => Err(ApiError::unknown_route()),
    }
}
