//! The `lead-capture` component: channels and their QR images (`/api/channels…`), the hosted
//! form and lead submissions (`/q/{code}/…`), and WeCom's callbacks. The scan itself
//! (`/q/{code}`) is the `scan` component's.

use http::Method;
use jiff::civil::Date;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use super::router::{Access, Operation};
use super::{accept, lead_form, phone_code, Page};
use crate::channels::leads::{self, LeadOutcome, LeadSubmission};
use crate::channels::{self, Channel, ChannelInput, ChannelStats};
use crate::domain::{ChannelId, ChannelKind};
use crate::error::{Error, ErrorCode};
use crate::flows::lead_captured;
use crate::qr::QrStyle;
use crate::shops::{self, Shop};
use crate::web::ApiError;
use crate::web::{
    body_response, json_body, json_response, paging, public_origin, query_param, text_response,
    with_header, Env, Limit, Request, RequestLog, Response,
};

const CHANNEL_PAGE: Limit = Limit::new(50, 200);
/// Channels per page of `/api/channels/stats` (each reads its window of day counters).
const CHANNEL_STATS_PAGE: Limit = Limit::new(20, 50);
/// Default stats window, in days up to today.
const DEFAULT_STATS_DAYS: i64 = 30;

pub static OPERATIONS: &[Operation] = &[
    Operation {
        method: Method::GET,
        path: "/q/{code}/form",
        summary: "The hosted sign-up form of a channel (works without JavaScript)",
        access: Access::Public,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.page(200, "The form.");
            super::scan::code_pages(d);
        },
    },
    Operation {
        method: Method::POST,
        path: "/q/{code}/lead",
        summary: "Submit a lead: contact details and consent",
        access: Access::Public,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.text("JSON answers JSON; the hosted form (form-encoded) answers a page, errors included.");
            d.json_body::<LeadSubmission>();
            d.body_as(
                "application/x-www-form-urlencoded",
                json!({"type": "object", "properties": {
                    "name": {"type": "string"}, "phone": {"type": "string"},
                    "email": {"type": "string"}, "consent": {"type": "string"},
                    "notice_version": {"type": "string"}, "notice_accepted": {"type": "string"},
                    "marketing": {"type": "string"}, "phone_code": {"type": "string"},
                    "send_code": {"type": "string"}}}),
            );
            d.reply::<LeadOutcome>(
                201,
                "A new lead: the customer, tagged, maybe with a welcome coupon.",
            );
            d.reply::<LeadOutcome>(200, "The same person again: nothing doubled.");
            d.page(200, "From the form: a thank-you page, or (channels that verify phone numbers) the page asking for the code sent.");
            // The form's errors are pages too; JSON requests get the JSON error.
            for status in [400, 404, 410, 413, 422, 429, 503] {
                let text = "Not recorded (see the page, or `error.code`).";
                d.page(status, text);
            }
        },
    },
    Operation {
        method: Method::POST,
        path: "/q/{code}/verify",
        summary: "Send a phone verification code (channels with page.verify_phone)",
        access: Access::Public,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.text("The code goes to the shop's delivery URL, signed, for its SMS gateway to send; valid 5 minutes, 5 wrong tries. One code a minute and 5 an hour per number, 10 an hour per client address.");
            d.json_body::<super::phone_code::CodeRequest>();
            d.reply::<crate::flows::phone_verification::CodeSent>(
                200,
                "The code was handed to the shop's delivery URL.",
            );
            d.errors(&[404, 410, 422, 429, 503]);
        },
    },
    Operation {
        method: Method::GET,
        path: "/wecom/{shop}",
        summary: "WeCom callback URL verification",
        access: Access::Signed("wecomSignature"),
        #[cfg(feature = "openapi")]
        describe: |d| {
            wecom_params(d);
            d.query::<String>("echostr", "The encrypted text to decrypt and answer.");
            d.reply_file(200, "The decrypted echostr.", "text/plain");
        },
    },
    Operation {
        method: Method::POST,
        path: "/wecom/{shop}",
        summary: "WeCom events: a contact added through a channel code becomes its lead",
        access: Access::Signed("wecomSignature"),
        #[cfg(feature = "openapi")]
        describe: |d| {
            wecom_params(d);
            d.body_as(
                "application/xml",
                json!({"type": "string", "description": "WeCom's XML with the Encrypt element."}),
            );
            d.reply_file(200, "success, which WeCom requires.", "text/plain");
        },
    },
    Operation {
        method: Method::GET,
        path: "/api/channels",
        summary: "List the shop's channels",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.paging(CHANNEL_PAGE);
            d.reply::<Page<Channel>>(200, "A page of channels.");
        },
    },
    Operation {
        method: Method::POST,
        path: "/api/channels",
        summary: "Create a channel (a QR code on a package card, poster, SMS…)",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.json_body::<ChannelInput>();
            d.reply::<Channel>(201, "The channel with its code.");
        },
    },
    Operation {
        method: Method::GET,
        path: "/api/channels/stats",
        summary: "The funnel of every channel over a window",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            window_params(d);
            d.paging(CHANNEL_STATS_PAGE);
            d.reply::<ChannelStatsPage>(200, "A page of channels with their funnels.");
        },
    },
    Operation {
        method: Method::GET,
        path: "/api/channels/{id}",
        summary: "Read a channel",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| d.reply::<Channel>(200, "The channel."),
    },
    Operation {
        method: Method::PATCH,
        path: "/api/channels/{id}",
        summary: "Change a channel (the whole input again)",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.json_body::<ChannelInput>();
            d.reply::<Channel>(200, "The changed channel.");
        },
    },
    Operation {
        method: Method::DELETE,
        path: "/api/channels/{id}",
        summary: "Delete a channel; its code retires",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| d.reply::<ChannelDeleted>(200, "Deleted."),
    },
    Operation {
        method: Method::GET,
        path: "/api/channels/{id}/qr.svg",
        summary: "The channel's QR code as SVG",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| qr_image(d, "image/svg+xml"),
    },
    Operation {
        method: Method::GET,
        path: "/api/channels/{id}/qr.png",
        summary: "The channel's QR code as PNG",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| qr_image(d, "image/png"),
    },
    Operation {
        method: Method::GET,
        path: "/api/channels/{id}/stats",
        summary: "A channel's funnel over a window: scans, leads, orders",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            window_params(d);
            d.reply::<ChannelStats>(200, "The funnel, day by day and in total.");
        },
    },
];

#[cfg(feature = "openapi")]
fn window_params(d: &mut super::openapi::OperationDoc) {
    d.query::<Date>(
        "from",
        "First day (the shop's calendar); 29 days before `to` by default.",
    );
    d.query::<Date>("to", "Last day; today in the shop's zone by default.");
}

/// What WeCom signs a callback with, besides `msg_signature` (the security scheme).
#[cfg(feature = "openapi")]
fn wecom_params(d: &mut super::openapi::OperationDoc) {
    d.query::<String>("timestamp", "WeCom's timestamp.");
    d.query::<String>("nonce", "WeCom's nonce.");
}

/// A QR image of the channel's scan URL: its style parameters and the answer.
#[cfg(feature = "openapi")]
fn qr_image(d: &mut super::openapi::OperationDoc, content_type: &str) {
    d.query_with(
        "ec",
        "Error correction: L, M (default), Q or H, in either case.",
        json!({"type": "string", "pattern": "^[LMQHlmqh]$"}),
    );
    d.query_with(
        "module",
        "Module size in pixels (PNG) or units (SVG).",
        json!({"type": "integer", "minimum": 1, "maximum": crate::qr::MAX_MODULE}),
    );
    d.reply_file(200, "The QR code.", content_type);
    d.reply_header(200, "X-Scan-Url", "The URL the code holds.");
    d.errors(&[400]);
}

#[derive(Serialize, JsonSchema)]
struct ChannelDeleted {
    deleted: bool,
}

#[derive(Serialize, JsonSchema)]
struct ChannelStatsPage {
    from: Date,
    to: Date,
    items: Vec<NamedChannelStats>,
    next_cursor: Option<i64>,
}

#[derive(Serialize, JsonSchema)]
struct NamedChannelStats {
    name: String,
    kind: ChannelKind,
    stats: ChannelStats,
}

pub fn handle(req: &Request, env: &Env, log: &mut RequestLog) -> Result<Response, ApiError> {
    let call = accept(req, env, log, OPERATIONS)?;
    let (method, path) = call.operation();
    match (method, path) {
        ("GET", "/q/{code}/form") => lead_form::form(env, call.param("code")),
        ("POST", "/q/{code}/lead") => lead_form::submit(req, env, log, call.param("code")),
        ("POST", "/q/{code}/verify") => phone_code::send(req, env, log, call.param("code")),
        (_, "/wecom/{shop}") => wecom_callback(req, env, log, call.param("shop")),
        ("GET", "/api/channels") => {
            let shop = call.shop()?;
            let (after, limit) = paging(req, CHANNEL_PAGE)?;
            let (items, next_cursor) = channels::list(env.store, &shop.id, after, limit)?;
            Ok(json_response(200, &Page { items, next_cursor }))
        }
        ("POST", "/api/channels") => {
            let input: ChannelInput = json_body(req)?;
            let channel = channels::create(env.store, call.shop()?, input, env.now)?;
            Ok(json_response(201, &channel))
        }
        ("GET", "/api/channels/stats") => all_channel_stats(req, env, call.shop()?),
        ("GET", "/api/channels/{id}") => {
            let channel =
                channels::load(env.store, &call.shop()?.id, &channel_id(call.param("id"))?)?;
            Ok(json_response(200, &channel))
        }
        ("PATCH", "/api/channels/{id}") => {
            let input: ChannelInput = json_body(req)?;
            let channel = channels::update(
                env.store,
                call.shop()?,
                &channel_id(call.param("id"))?,
                input,
                env.now,
            )?;
            Ok(json_response(200, &channel))
        }
        ("DELETE", "/api/channels/{id}") => {
            channels::delete(
                env.store,
                call.shop()?,
                &channel_id(call.param("id"))?,
                env.now,
            )?;
            Ok(json_response(200, &ChannelDeleted { deleted: true }))
        }
        ("GET", image @ ("/api/channels/{id}/qr.svg" | "/api/channels/{id}/qr.png")) => {
            let id = channel_id(call.param("id"))?;
            channel_qr(req, env, call.shop()?, &id, image.ends_with("svg"))
        }
        ("GET", "/api/channels/{id}/stats") => {
            let shop = call.shop()?;
            let channel = channels::load(env.store, &shop.id, &channel_id(call.param("id"))?)?;
            let (from, to) = window(req, env, shop)?;
            let stats = channels::stats(env.store, &shop.id, &channel, from, to)?;
            Ok(json_response(200, &stats))
        }
        _ => Err(ApiError::unknown_route()),
    }
}

/// Every channel's funnel over one window, a page of channels at a time.
fn all_channel_stats(req: &Request, env: &Env, shop: &Shop) -> Result<Response, ApiError> {
    let (from, to) = window(req, env, shop)?;
    let (after, limit) = paging(req, CHANNEL_STATS_PAGE)?;
    let (channels, next_cursor) = channels::list(env.store, &shop.id, after, limit)?;
    let mut items = Vec::with_capacity(channels.len());
    for channel in channels {
        let stats = channels::stats(env.store, &shop.id, &channel, from, to)?;
        items.push(NamedChannelStats {
            name: channel.name,
            kind: channel.kind,
            stats,
        });
    }
    let page = ChannelStatsPage {
        from,
        to,
        items,
        next_cursor,
    };
    Ok(json_response(200, &page))
}

/// A channel's QR image (SVG or PNG) of its scan URL, which the answer also names.
fn channel_qr(
    req: &Request,
    env: &Env,
    shop: &Shop,
    id: &ChannelId,
    svg: bool,
) -> Result<Response, ApiError> {
    let channel = channels::load(env.store, &shop.id, id)?;
    let style = QrStyle::parse(
        query_param(req, "ec").as_deref(),
        query_param(req, "module").as_deref(),
    )?;
    let url = format!("{}/q/{}", public_origin(req)?, channel.code);
    let (content_type, body) = if svg {
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

/// WeCom's callback: URL verification (GET) and events (POST). Only a new external contact
/// added through a channel code (`State`) is used: it becomes a lead of that channel.
fn wecom_callback(
    req: &Request,
    env: &Env,
    log: &mut RequestLog,
    shop_id: &str,
) -> Result<Response, ApiError> {
    let shop_id = crate::domain::ShopId::parse(shop_id)
        .ok_or_else(|| ApiError::from(Error::not_found("shop")))?;
    let shop = shops::load_shop(env.store, &shop_id)?;
    log.shop = Some(shop.id.to_string());
    let credentials = shop
        .credentials
        .wecom
        .clone()
        .ok_or_else(Error::bad_signature)?;
    let param = |name: &str| query_param(req, name).ok_or_else(Error::bad_signature);
    let (signature, timestamp, nonce) = (
        param("msg_signature")?,
        param("timestamp")?,
        param("nonce")?,
    );
    if req.method() == Method::GET {
        let echo = crate::wecom::restore_plus(&param("echostr")?);
        credentials.verify(&signature, &timestamp, &nonce, &echo)?;
        crate::wecom::check_fresh(&timestamp, env.now)?;
        let plain = credentials.decrypt(&echo)?;
        // URL verification echoes a random string; an event's XML is never echoed, so a
        // captured callback cannot be read back through this door.
        if plain.trim_start().starts_with('<') {
            return Err(ApiError::from(Error::bad_signature()));
        }
        return Ok(text_response(200, plain));
    }
    let body = std::str::from_utf8(req.body()).map_err(|_| {
        ApiError::from(Error::malformed(
            ErrorCode::InvalidEncoding,
            "the body must be UTF-8 XML",
        ))
    })?;
    let encrypted = crate::wecom::encrypted_field(body)?;
    credentials.verify(&signature, &timestamp, &nonce, &encrypted)?;
    // The timestamp is signed: a captured callback replayed later is refused.
    crate::wecom::check_fresh(&timestamp, env.now)?;
    let event = credentials.decrypt(&encrypted)?;
    if let Some(added) = crate::wecom::contact_added(&event)? {
        let lead = leads::ValidLead::wecom_contact(&added, env.now)?;
        let pepper = env.secrets.pepper()?;
        match leads::channel_for_state(env.store, &shop, added.state.as_deref())? {
            Some(channel) => {
                lead_captured::capture(env.store, pepper, &shop, &channel, lead, None, env.now)?;
            }
            None => {
                lead_captured::record_contact(env.store, pepper, &shop, lead, env.now)?;
            }
        }
    }
    // WeCom retries unless it reads exactly this.
    Ok(text_response(200, "success".to_string()))
}

/// The stats window from `from`/`to`, by default the last 30 days in the shop's zone.
fn window(req: &Request, env: &Env, shop: &Shop) -> Result<(Date, Date), ApiError> {
    let today = env.now.to_zoned(shop.zone()).date();
    let to = date(req, "to")?.unwrap_or(today);
    let from = match date(req, "from")? {
        Some(from) => from,
        None => to
            .checked_sub(jiff::Span::new().days(DEFAULT_STATS_DAYS - 1))
            .map_err(|_| {
                ApiError::from(Error::malformed(
                    ErrorCode::InvalidQuery,
                    "to is out of range",
                ))
            })?,
    };
    Ok((from, to))
}

fn date(req: &Request, name: &str) -> Result<Option<Date>, ApiError> {
    query_param(req, name)
        .map(|text| {
            text.parse::<Date>().map_err(|_| {
                ApiError::from(Error::malformed(
                    ErrorCode::InvalidQuery,
                    format!("{name} must be a date like 2026-11-22"),
                ))
            })
        })
        .transpose()
}

/// A channel id from the path: one that cannot be a channel's is no channel of this shop.
fn channel_id(text: &str) -> Result<ChannelId, Error> {
    ChannelId::parse(text).ok_or_else(|| Error::not_found("channel"))
}
