//! The pages a shopper sees after a scan: the hosted sign-up form (`GET /q/{code}/form`) and
//! its submission (`POST /q/{code}/lead`, also taken as JSON from an integrator's own form).
//! What a lead is and how it is counted once is `channels::leads`'; its effects are
//! `flows::lead_captured`'s.

use crate::channels;
use crate::channels::leads::{self, LeadSubmission};
use crate::error::{Error, ErrorCode};
use crate::flows::lead_captured;
use crate::shops;
use crate::web::ApiError;
use crate::web::{
    header, html_response, json_body, json_response, message_page, Env, Request, RequestLog,
    Response,
};

/// `POST /q/{code}/lead`, from the hosted form (answered with a page, errors too) or from
/// an integrator's own form (JSON).
pub(super) fn submit(
    req: &Request,
    env: &Env,
    log: &mut RequestLog,
    code: &str,
) -> Result<Response, ApiError> {
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

/// Validate, rate-limit, record.
fn submit_lead(
    req: &Request,
    env: &Env,
    log: &mut RequestLog,
    code: &str,
    from_form: bool,
) -> Result<Response, ApiError> {
    let (target, channel) = leads::channel_for_code(env.store, code)?
        .ok_or_else(|| ApiError::from(Error::not_found("code")))?;
    if !target.active {
        return Err(ApiError::new(
            410,
            ErrorCode::Inactive,
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
            ErrorCode::RateLimited,
            "too many sign-ups from this address; try again in a minute",
        ));
    }
    let outcome = lead_captured::capture(env.store, pepper, &shop, &channel, lead, env.now)?;
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
pub(super) fn form(env: &Env, code: &str) -> Result<Response, ApiError> {
    Ok(match channels::scan_target(env.store, code)? {
        None => super::scan::unknown_code_page(),
        Some(target) if !target.active => super::scan::retired_code_page(),
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
