//! The `lead-capture` component: channel codes (`/api/channels…`) and the public scan
//! redirect (`/q/{code}`).

use http::Method;
use jiff::civil::Date;

use super::authenticated_shop;
use crate::channels::{self, ChannelInput, ScanOutcome};
use crate::error::ApiError;
use crate::web::{
    header, json_body, json_response, query_param, require_method, segments, Env, Request,
    RequestLog, Response,
};

const PAGE_LIMIT_MAX: i64 = 200;
/// Default stats window, in days up to today.
const DEFAULT_STATS_DAYS: i64 = 30;

pub fn handle(req: &Request, env: &Env, log: &mut RequestLog) -> Result<Response, ApiError> {
    match segments(req).as_slice() {
        ["q", code] => {
            log.route = "/q/{code}";
            require_method(req, &[Method::GET, Method::HEAD])?;
            scan(req, env, code)
        }
        ["api", "channels"] => {
            log.route = "/api/channels";
            require_method(req, &[Method::GET, Method::POST])?;
            let shop = authenticated_shop(req, env, log)?;
            if req.method() == Method::POST {
                let input: ChannelInput = json_body(req)?;
                let channel = channels::create(env.store, &shop, input, env.now)?;
                return Ok(json_response(201, &channel));
            }
            let after = number(req, "cursor", 0)?;
            let limit = number(req, "limit", 50)?.clamp(1, PAGE_LIMIT_MAX) as usize;
            let (items, next) = channels::list(env.store, &shop.id, after, limit)?;
            Ok(json_response(
                200,
                &serde_json::json!({"items": items, "next_cursor": next}),
            ))
        }
        ["api", "channels", id] => {
            log.route = "/api/channels/{id}";
            require_method(req, &[Method::GET, Method::PATCH])?;
            let shop = authenticated_shop(req, env, log)?;
            let channel = if req.method() == Method::PATCH {
                let input: ChannelInput = json_body(req)?;
                channels::update(env.store, &shop, id, input, env.now)?
            } else {
                channels::load(env.store, &shop.id, id)?
            };
            Ok(json_response(200, &channel))
        }
        ["api", "channels", id, "stats"] => {
            log.route = "/api/channels/{id}/stats";
            require_method(req, &[Method::GET])?;
            let shop = authenticated_shop(req, env, log)?;
            let channel = channels::load(env.store, &shop.id, id)?;
            let today = env.now.to_zoned(shop.zone()).date();
            let to = date(req, "to")?.unwrap_or(today);
            let from = match date(req, "from")? {
                Some(from) => from,
                None => to
                    .checked_sub(jiff::Span::new().days(DEFAULT_STATS_DAYS - 1))
                    .map_err(|_| ApiError::bad_request("invalid_query", "to is out of range"))?,
            };
            let stats = channels::stats(env.store, &shop.id, &channel, from, to)?;
            Ok(json_response(200, &stats))
        }
        _ => Err(ApiError::unknown_route()),
    }
}

/// The scan: a redirect, or a small page for people whose code no longer works. No JSON
/// here: a person with a phone camera is on the other end.
fn scan(req: &Request, env: &Env, code: &str) -> Result<Response, ApiError> {
    let cookie_name = format!("sq_{code}");
    let seen_before = header(req, "cookie").is_some_and(|cookies| {
        cookies.split(';').any(|c| {
            c.trim()
                .split_once('=')
                .is_some_and(|(k, _)| k == cookie_name)
        })
    });
    let response = match channels::scan(env.store, code, seen_before, env.now)? {
        ScanOutcome::Redirect {
            location,
            first_scan,
        } => {
            let mut builder = http::Response::builder()
                .status(302)
                .header("location", location)
                .header("cache-control", "no-store")
                .header("referrer-policy", "no-referrer");
            if first_scan {
                // Only marks "this browser scanned this code": no identifier, no PII.
                builder = builder.header(
                    "set-cookie",
                    format!(
                        "{cookie_name}=1; Path=/q/{code}; Max-Age=31536000; HttpOnly; SameSite=Lax"
                    ),
                );
            }
            builder.body(Vec::new())
        }
        ScanOutcome::Unknown => page(
            404,
            "这个二维码不存在 · This code does not exist",
            "请检查链接是否完整。Please check that the link is complete.",
        ),
        ScanOutcome::Inactive => page(
            410,
            "活动已结束 · This code is no longer active",
            "感谢关注，这个渠道码已停用。Thank you — this code has been retired.",
        ),
    };
    response.map_err(|_| ApiError::new(500, "internal", "could not build the response"))
}

fn page(status: u16, title: &str, text: &str) -> http::Result<Response> {
    let html = format!(
        "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>body{{font-family:system-ui,sans-serif;margin:3rem 1.5rem;\
         color:#333;text-align:center}}h1{{font-size:1.3rem}}</style></head>\
         <body><h1>{title}</h1><p>{text}</p></body></html>"
    );
    http::Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .body(html.into_bytes())
}

fn number(req: &Request, name: &str, default: i64) -> Result<i64, ApiError> {
    match query_param(req, name) {
        None => Ok(default),
        Some(text) => text.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!("{name} must be a non-negative integer"),
            )
        }),
    }
}

fn date(req: &Request, name: &str) -> Result<Option<Date>, ApiError> {
    query_param(req, name)
        .map(|text| {
            text.parse::<Date>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("{name} must be a date like 2026-11-22"),
                )
            })
        })
        .transpose()
}
