//! The `reminders` component: a shop's consumption profiles and delivery settings.
//! (Scheduling, dispatch and delivery follow in the next steps of issue 7.)

use http::Method;

use super::authenticated_shop;
use crate::error::ApiError;
use crate::reminders::{self, ReminderSettings};
use crate::web::{
    json_body, json_response, require_method, segments, Env, Request, RequestLog, Response,
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
        _ => Err(ApiError::unknown_route()),
    }
}
