//! The `tagging` component: rules, RFM settings, segments (tags, RFM groups, super users)
//! with their members and CSV export, and the scheduled re-evaluation pass.

use http::Method;
use serde::Serialize;

use super::{authenticated_caller, authenticated_shop};
use crate::customers::Customer;
use crate::domain::CustomerId;
use crate::error::ApiError;
use crate::export::{self, Contacts};
use crate::rfm::{RfmGroup, RfmSettings};
use crate::rules::RuleInput;
use crate::segments;
use crate::shops::{KeyScope, Shop};
use crate::tagging;
use crate::tags::{Segment, TagName, TagView};
use crate::web::{
    body_response, json_body, json_response, paging, query_number, query_param, require_method,
    segments, with_header, Env, Request, RequestLog, Response,
};

const PAGE_LIMIT_MAX: i64 = 200;
const EXPORT_LIMIT_MAX: i64 = 1000;
const PASS_LIMIT_MAX: i64 = 1000;
const PASS_LIMIT_DEFAULT: i64 = 200;

pub fn handle(req: &Request, env: &Env, log: &mut RequestLog) -> Result<Response, ApiError> {
    match segments(req).as_slice() {
        ["api", "rules"] => {
            log.route = "/api/rules";
            require_method(req, &[Method::GET, Method::POST])?;
            let shop = authenticated_shop(req, env, log)?;
            if req.method() == Method::GET {
                let config = tagging::load_config(env.store, &shop.id)?;
                return Ok(json_response(
                    200,
                    &serde_json::json!({"items": config.rules}),
                ));
            }
            let input: RuleInput = json_body(req)?;
            let rule = tagging::create_rule(env.store, &shop.id, input, env.now)?;
            Ok(json_response(201, &rule))
        }
        ["api", "rules", id] => {
            log.route = "/api/rules/{id}";
            require_method(req, &[Method::GET, Method::PATCH, Method::DELETE])?;
            let shop = authenticated_shop(req, env, log)?;
            match *req.method() {
                Method::GET => {
                    let config = tagging::load_config(env.store, &shop.id)?;
                    let rule = config
                        .rules
                        .into_iter()
                        .find(|r| r.id == *id)
                        .ok_or_else(|| ApiError::not_found("rule"))?;
                    Ok(json_response(200, &rule))
                }
                Method::PATCH => {
                    let input: RuleInput = json_body(req)?;
                    let rule = tagging::update_rule(env.store, &shop.id, id, input, env.now)?;
                    Ok(json_response(200, &rule))
                }
                _ => {
                    tagging::delete_rule(env.store, &shop.id, id)?;
                    Ok(json_response(200, &serde_json::json!({"deleted": id})))
                }
            }
        }
        ["api", "rfm"] => {
            log.route = "/api/rfm";
            require_method(req, &[Method::GET, Method::PUT])?;
            let shop = authenticated_shop(req, env, log)?;
            let settings = if req.method() == Method::PUT {
                let settings: RfmSettings = json_body(req)?;
                tagging::set_rfm_settings(env.store, &shop.id, settings)?
            } else {
                tagging::load_config(env.store, &shop.id)?.rfm
            };
            let mut groups = Vec::new();
            for group in RfmGroup::ALL {
                let customers = segments::count(env.store, &shop.id, &Segment::Rfm(group))?;
                groups.push(serde_json::json!({"group": group, "customers": customers}));
            }
            let super_users = segments::count(env.store, &shop.id, &Segment::SuperUsers)?;
            Ok(json_response(
                200,
                &serde_json::json!({
                    "settings": settings,
                    "currency": shop.currency,
                    "groups": groups,
                    "super_users": super_users,
                }),
            ))
        }
        ["api", "tags"] => {
            log.route = "/api/tags";
            require_method(req, &[Method::GET])?;
            let shop = authenticated_shop(req, env, log)?;
            let (after, limit) = paging(req, 50, PAGE_LIMIT_MAX)?;
            let (tags, next) = segments::list_tags(env.store, &shop.id, after, limit)?;
            Ok(json_response(
                200,
                &serde_json::json!({"items": tags, "next_cursor": next}),
            ))
        }
        ["api", kind @ ("tags" | "rfm"), name, action @ ("customers" | "export")] => {
            log.route = match (*kind, *action) {
                ("tags", "customers") => "/api/tags/{tag}/customers",
                ("tags", _) => "/api/tags/{tag}/export",
                (_, "customers") => "/api/rfm/{group}/customers",
                _ => "/api/rfm/{group}/export",
            };
            require_method(req, &[Method::GET])?;
            let caller = authenticated_caller(req, env, log)?;
            let segment = segment(env, &caller.shop, kind, name)?;
            if *action == "customers" {
                let (after, limit) = paging(req, 50, PAGE_LIMIT_MAX)?;
                let page = segments::members(env.store, &caller.shop.id, &segment, after, limit)?;
                let items: Vec<MemberView> = page
                    .customers
                    .iter()
                    .map(|c| MemberView::of(c, &segment))
                    .collect();
                return Ok(json_response(
                    200,
                    &serde_json::json!({"items": items, "next_cursor": page.next}),
                ));
            }
            let contacts = match query_param(req, "contacts").as_deref() {
                None | Some("masked") => Contacts::Masked,
                Some("full") if caller.may(KeyScope::ExportContacts) => Contacts::Full,
                Some("full") => {
                    return Err(ApiError::new(
                        403,
                        "forbidden",
                        "this key may not export full contact details (scope export_contacts)",
                    ))
                }
                Some(_) => {
                    return Err(ApiError::bad_request(
                        "invalid_query",
                        "contacts is masked or full",
                    ))
                }
            };
            let only_consented = match query_param(req, "consent").as_deref() {
                None => false,
                Some("granted") => true,
                Some(_) => {
                    return Err(ApiError::bad_request(
                        "invalid_query",
                        "consent takes only the value granted",
                    ))
                }
            };
            let (after, limit) = paging(req, 500, EXPORT_LIMIT_MAX)?;
            let page = segments::members(env.store, &caller.shop.id, &segment, after, limit)?;
            let rows: Vec<Customer> = page
                .customers
                .into_iter()
                .filter(|c| !only_consented || c.consent.marketing == Some(true))
                .collect();
            let csv = export::customers_csv(&rows, caller.shop.currency, contacts)?;
            let mut response = body_response(200, "text/csv; charset=utf-8", csv);
            response = with_header(
                response,
                "content-disposition",
                "attachment; filename=\"segment.csv\"",
            );
            if let Some(next) = page.next {
                response = with_header(response, "x-next-cursor", &next.to_string());
            }
            Ok(response)
        }
        ["api", "tagging", "run"] => {
            log.route = "/api/tagging/run";
            require_method(req, &[Method::POST])?;
            let shop = authenticated_shop(req, env, log)?;
            let limit = query_number(req, "limit", PASS_LIMIT_DEFAULT)?.clamp(1, PASS_LIMIT_MAX);
            let report = tagging::run_pass(env.store, &shop, limit as usize, env.now)?;
            Ok(json_response(200, &report))
        }
        _ => Err(ApiError::unknown_route()),
    }
}

/// The segment a path names: a tag (percent-encoded, any case) or an RFM group, or
/// `super_users` under `/api/rfm/`.
fn segment(env: &Env, shop: &Shop, kind: &str, name: &str) -> Result<Segment, ApiError> {
    let decoded = percent_encoding::percent_decode_str(name)
        .decode_utf8()
        .map_err(|_| ApiError::not_found("tag"))?;
    if kind == "rfm" {
        return match decoded.as_ref() {
            "super_users" => Ok(Segment::SuperUsers),
            group => RfmGroup::parse(group)
                .map(Segment::Rfm)
                .ok_or_else(|| ApiError::not_found("RFM group")),
        };
    }
    let tag = TagName::parse(&decoded).map_err(|_| ApiError::not_found("tag"))?;
    let known = segments::known_tag(env.store, &shop.id, &tag)?
        .ok_or_else(|| ApiError::not_found("tag"))?;
    Ok(Segment::Tag(known))
}

/// A segment member as listed: enough to recognise them, contacts masked.
#[derive(Debug, Serialize)]
struct MemberView {
    id: CustomerId,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    marketing_consent: Option<bool>,
    rfm_group: Option<RfmGroup>,
    super_user: bool,
    order_count: i64,
    /// For a tag: why this customer carries it.
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<TagView>,
}

impl MemberView {
    fn of(c: &Customer, segment: &Segment) -> Self {
        Self {
            id: c.id.clone(),
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            phone: c.phone.as_ref().map(|p| p.masked()),
            email: c.email.as_ref().map(|e| e.masked()),
            marketing_consent: c.consent.marketing,
            rfm_group: c.rfm.map(|r| r.group),
            super_user: c.super_user,
            order_count: c.stats.order_count,
            tag: match segment {
                Segment::Tag(name) => c.tags.view().into_iter().find(|t| &t.name == name),
                _ => None,
            },
        }
    }
}
