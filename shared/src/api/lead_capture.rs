//! The `lead-capture` component: channel codes (`/api/channels…`) and the public scan
//! redirect (`/q/{code}`).

use http::Method;
use jiff::civil::Date;

use super::authenticated_shop;
use crate::channels::{self, ChannelInput, ScanOutcome};
use crate::error::ApiError;
use crate::leads::{self, LeadSubmission};
use crate::qr::QrStyle;
use crate::shops;
use crate::web::{
    body_response, header, html_response, json_body, json_response, message_page, paging,
    public_origin, query_param, require_method, segments, text_response, with_header, Env, Request,
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
        ["q", code, "form"] => {
            log.route = "/q/{code}/form";
            require_method(req, &[Method::GET])?;
            lead_form(env, code)
        }
        ["q", code, "lead"] => {
            log.route = "/q/{code}/lead";
            require_method(req, &[Method::POST])?;
            let from_form = header(req, "content-type")
                .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
            match submit_lead(req, env, log, code, from_form) {
                // People filling in the hosted form see a page, not JSON.
                Err(err) if from_form && err.status < 500 => Ok(message_page(
                    err.status,
                    "提交未成功 · Not sent",
                    &html_escape(&err.message),
                )),
                other => other,
            }
        }
        ["wecom", shop_id] => {
            log.route = "/wecom/{shop}";
            require_method(req, &[Method::GET, Method::POST])?;
            wecom_callback(req, env, log, shop_id)
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
            let (after, limit) = paging(req, 50, PAGE_LIMIT_MAX)?;
            let (items, next) = channels::list(env.store, &shop.id, after, limit)?;
            Ok(json_response(
                200,
                &serde_json::json!({"items": items, "next_cursor": next}),
            ))
        }
        ["api", "channels", "stats"] => {
            log.route = "/api/channels/stats";
            require_method(req, &[Method::GET])?;
            let shop = authenticated_shop(req, env, log)?;
            let (from, to) = window(req, env, &shop)?;
            let (after, limit) = paging(req, 20, 50)?;
            let (items, next) = channels::list(env.store, &shop.id, after, limit)?;
            let mut stats = Vec::with_capacity(items.len());
            for channel in &items {
                let one = channels::stats(env.store, &shop.id, channel, from, to)?;
                stats.push(
                    serde_json::json!({"name": channel.name, "kind": channel.kind, "stats": one}),
                );
            }
            Ok(json_response(
                200,
                &serde_json::json!({"from": from, "to": to, "items": stats, "next_cursor": next}),
            ))
        }
        ["api", "channels", id] => {
            log.route = "/api/channels/{id}";
            require_method(req, &[Method::GET, Method::PATCH, Method::DELETE])?;
            let shop = authenticated_shop(req, env, log)?;
            if req.method() == Method::DELETE {
                channels::delete(env.store, &shop, id, env.now)?;
                return Ok(json_response(200, &serde_json::json!({"deleted": true})));
            }
            let channel = if req.method() == Method::PATCH {
                let input: ChannelInput = json_body(req)?;
                channels::update(env.store, &shop, id, input, env.now)?
            } else {
                channels::load(env.store, &shop.id, id)?
            };
            Ok(json_response(200, &channel))
        }
        ["api", "channels", id, image @ ("qr.svg" | "qr.png")] => {
            log.route = "/api/channels/{id}/qr";
            require_method(req, &[Method::GET])?;
            let shop = authenticated_shop(req, env, log)?;
            let channel = channels::load(env.store, &shop.id, id)?;
            let style = QrStyle::parse(
                query_param(req, "ec").as_deref(),
                query_param(req, "module").as_deref(),
            )?;
            let url = format!("{}/q/{}", public_origin(req)?, channel.code);
            let (content_type, body) = if *image == "qr.svg" {
                ("image/svg+xml", style.svg(&url)?.into_bytes())
            } else {
                ("image/png", style.png(&url)?)
            };
            Ok(with_header(
                body_response(200, content_type, body),
                "x-scan-url",
                &url,
            ))
        }
        ["api", "channels", id, "stats"] => {
            log.route = "/api/channels/{id}/stats";
            require_method(req, &[Method::GET])?;
            let shop = authenticated_shop(req, env, log)?;
            let channel = channels::load(env.store, &shop.id, id)?;
            let (from, to) = window(req, env, &shop)?;
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
            let mut redirect = body_response(302, "text/plain; charset=utf-8", Vec::new());
            for (name, value) in [
                ("location", location.as_str()),
                ("cache-control", "no-store"),
                ("referrer-policy", "no-referrer"),
            ] {
                redirect = with_header(redirect, name, value);
            }
            if first_scan {
                // Only marks "this browser scanned this code": no identifier, no PII.
                let cookie = format!(
                    "{cookie_name}=1; Path=/q/{code}; Max-Age=31536000; HttpOnly; SameSite=Lax"
                );
                redirect = with_header(redirect, "set-cookie", &cookie);
            }
            redirect
        }
        ScanOutcome::Unknown => message_page(
            404,
            "这个二维码不存在 · This code does not exist",
            "请检查链接是否完整。Please check that the link is complete.",
        ),
        ScanOutcome::Inactive => message_page(
            410,
            "活动已结束 · This code is no longer active",
            "感谢关注，这个渠道码已停用。Thank you — this code has been retired.",
        ),
    };
    Ok(response)
}

/// WeCom's callback: URL verification (GET) and events (POST). Only a new external contact
/// added through a channel code (`State`) is used: it becomes a lead of that channel.
fn wecom_callback(
    req: &Request,
    env: &Env,
    log: &mut RequestLog,
    shop_id: &str,
) -> Result<Response, ApiError> {
    let shop_id =
        crate::domain::ShopId::parse(shop_id).ok_or_else(|| ApiError::not_found("shop"))?;
    let shop = shops::load_shop(env.store, &shop_id)?;
    log.shop = Some(shop.id.to_string());
    let credentials = shop
        .credentials
        .wecom
        .clone()
        .ok_or_else(ApiError::bad_signature)?;
    let param = |name: &str| query_param(req, name).ok_or_else(ApiError::bad_signature);
    let (signature, timestamp, nonce) = (
        param("msg_signature")?,
        param("timestamp")?,
        param("nonce")?,
    );
    if req.method() == Method::GET {
        let echo = crate::wecom::restore_plus(&param("echostr")?);
        credentials.verify(&signature, &timestamp, &nonce, &echo)?;
        return Ok(text_response(200, credentials.decrypt(&echo)?));
    }
    let body = std::str::from_utf8(req.body())
        .map_err(|_| ApiError::bad_request("invalid_encoding", "the body must be UTF-8 XML"))?;
    let encrypted = crate::wecom::encrypted_field(body)?;
    credentials.verify(&signature, &timestamp, &nonce, &encrypted)?;
    let event = credentials.decrypt(&encrypted)?;
    if let Some(added) = crate::wecom::contact_added(&event)? {
        let lead = leads::ValidLead::wecom_contact(&added, env.now)?;
        let pepper = env.secrets.pepper()?;
        match leads::channel_for_state(env.store, &shop, added.state.as_deref())? {
            Some(channel) => {
                leads::capture(env.store, pepper, &shop, &channel, lead, env.now)?;
            }
            None => {
                leads::record_contact(env.store, pepper, &shop, lead, env.now)?;
            }
        }
    }
    // WeCom retries unless it reads exactly this.
    Ok(text_response(200, "success".to_string()))
}

/// `POST /q/{code}/lead`: validate, rate-limit, record.
fn submit_lead(
    req: &Request,
    env: &Env,
    log: &mut RequestLog,
    code: &str,
    from_form: bool,
) -> Result<Response, ApiError> {
    let (target, channel) =
        leads::channel_for_code(env.store, code)?.ok_or_else(|| ApiError::not_found("code"))?;
    if !target.active {
        return Err(ApiError::new(
            410,
            "inactive",
            "this code is no longer active",
        ));
    }
    log.shop = Some(target.shop.to_string());
    let shop = shops::load_shop(env.store, &target.shop)?;
    let submission = if from_form {
        LeadSubmission::from_form(req.body())?
    } else {
        json_body(req)?
    };
    let lead = submission.validate(&shop, env.now)?;
    let pepper = env.secrets.pepper()?;
    let client = header(req, "spin-client-addr")
        .and_then(|a| a.rsplit_once(':').map(|(ip, _)| ip))
        .unwrap_or("unknown");
    if !leads::within_rate_limit(env.store, pepper, code, client, env.now)? {
        return Err(ApiError::new(
            429,
            "rate_limited",
            "too many sign-ups from this address; try again in a minute",
        ));
    }
    let outcome = leads::capture(env.store, pepper, &shop, &channel, lead, env.now)?;
    if from_form {
        // Coupon codes are letters, digits, - and _ (checked when made): safe in HTML as is.
        let text = match &outcome.welcome_coupon {
            Some(code) => format!(
                "我们已收到您的信息。您的欢迎优惠券：<strong>{code}</strong><br>\
                 We have received your details. Your welcome coupon: <strong>{code}</strong>"
            ),
            None => "我们已收到您的信息。We have received your details.".to_string(),
        };
        return Ok(message_page(200, "谢谢！· Thank you!", &text));
    }
    Ok(json_response(
        if outcome.new_lead { 201 } else { 200 },
        &outcome,
    ))
}

/// `GET /q/{code}/form`: a small server-rendered sign-up form that works without JavaScript.
fn lead_form(env: &Env, code: &str) -> Result<Response, ApiError> {
    Ok(match channels::scan_target(env.store, code)? {
        None => message_page(
            404,
            "这个二维码不存在 · This code does not exist",
            "请检查链接是否完整。Please check that the link is complete.",
        ),
        Some(target) if !target.active => message_page(
            410,
            "活动已结束 · This code is no longer active",
            "感谢关注，这个渠道码已停用。Thank you — this code has been retired.",
        ),
        Some(target) => {
            let title = html_escape(&target.name);
            let html = format!(
                "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\">\
                 <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
                 <title>{title}</title><style>body{{font-family:system-ui,sans-serif;margin:2rem 1.25rem;\
                 color:#333;max-width:28rem}}label{{display:block;margin:1rem 0 .3rem}}\
                 input[type=tel],input[type=email],input[type=text]{{width:100%;padding:.6rem;font-size:1rem;\
                 box-sizing:border-box}}button{{margin-top:1.2rem;width:100%;padding:.8rem;font-size:1.05rem}}\
                 .consent{{display:flex;gap:.5rem;align-items:flex-start;margin-top:1rem}}</style></head>\
                 <body><h1>{title}</h1>\
                 <form method=\"post\" action=\"/q/{code}/lead\">\
                 <label for=\"name\">称呼 · Name</label><input id=\"name\" name=\"name\" type=\"text\" autocomplete=\"name\">\
                 <label for=\"phone\">手机号 · Phone</label><input id=\"phone\" name=\"phone\" type=\"tel\" autocomplete=\"tel\">\
                 <label for=\"email\">邮箱 · Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\">\
                 <div class=\"consent\"><input id=\"consent\" name=\"consent\" type=\"checkbox\" required>\
                 <label for=\"consent\" style=\"margin:0\">我同意接收优惠与复购提醒，可随时退订。I agree to receive offers and reminders; I can unsubscribe at any time.</label></div>\
                 <button type=\"submit\">提交 · Sign up</button></form></body></html>"
            );
            html_response(200, html)
        }
    })
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The stats window from `from`/`to`, by default the last 30 days in the shop's zone.
fn window(req: &Request, env: &Env, shop: &crate::shops::Shop) -> Result<(Date, Date), ApiError> {
    let today = env.now.to_zoned(shop.zone()).date();
    let to = date(req, "to")?.unwrap_or(today);
    let from = match date(req, "from")? {
        Some(from) => from,
        None => to
            .checked_sub(jiff::Span::new().days(DEFAULT_STATS_DAYS - 1))
            .map_err(|_| ApiError::bad_request("invalid_query", "to is out of range"))?,
    };
    Ok((from, to))
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
