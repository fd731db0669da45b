//! The `coupons` component: campaigns, issuing (with idempotency keys), pool imports, print
//! batches, validation, redemption through the API, and campaign stats.

use http::Method;
use serde::Deserialize;

use super::authenticated_shop;
use crate::campaigns::{self, CampaignInput};
use crate::coupons::{self, OrderUse};
use crate::domain::ids::ExternalId;
use crate::domain::CustomerId;
use crate::error::ApiError;
use crate::web::{
    body_response, header, json_body, json_response, paging, query_number, query_param,
    require_method, segments, with_header, Env, Request, RequestLog, Response,
};

const PAGE_LIMIT_MAX: i64 = 200;
const BATCH_PAGE_MAX: i64 = 1000;

pub fn handle(req: &Request, env: &Env, log: &mut RequestLog) -> Result<Response, ApiError> {
    match segments(req).as_slice() {
        ["api", "campaigns"] => {
            log.route = "/api/campaigns";
            require_method(req, &[Method::GET, Method::POST])?;
            let shop = authenticated_shop(req, env, log)?;
            if req.method() == Method::GET {
                let (after, limit) = paging(req, 50, PAGE_LIMIT_MAX)?;
                let (items, next) = campaigns::list(env.store, &shop.id, after, limit)?;
                return Ok(json_response(
                    200,
                    &serde_json::json!({"items": items, "next_cursor": next}),
                ));
            }
            let input: CampaignInput = json_body(req)?;
            let campaign = campaigns::create(env.store, &shop.id, shop.currency, input, env.now)?;
            Ok(json_response(201, &campaign))
        }
        ["api", "campaigns", id] => {
            log.route = "/api/campaigns/{id}";
            require_method(req, &[Method::GET, Method::PATCH])?;
            let shop = authenticated_shop(req, env, log)?;
            let campaign = if req.method() == Method::PATCH {
                let input: CampaignInput = json_body(req)?;
                campaigns::update(env.store, &shop.id, shop.currency, id, input, env.now)?
            } else {
                campaigns::load(env.store, &shop.id, id)?
            };
            Ok(json_response(200, &campaign))
        }
        ["api", "campaigns", id, "issue"] => {
            log.route = "/api/campaigns/{id}/issue";
            require_method(req, &[Method::POST])?;
            let shop = authenticated_shop(req, env, log)?;
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Body {
                customer_id: String,
            }
            let body: Body = json_body(req)?;
            let customer = CustomerId::parse(&body.customer_id)
                .ok_or_else(|| ApiError::not_found("customer"))?;
            let key = idempotency_key(req)?;
            let coupon =
                coupons::issue(env.store, &shop.id, id, &customer, key.as_deref(), env.now)?;
            Ok(json_response(201, &coupon))
        }
        ["api", "campaigns", id, "pool"] => {
            log.route = "/api/campaigns/{id}/pool";
            require_method(req, &[Method::POST])?;
            let shop = authenticated_shop(req, env, log)?;
            let codes = pool_codes(req)?;
            let report = coupons::import_pool(env.store, &shop.id, id, &codes)?;
            Ok(json_response(200, &report))
        }
        ["api", "campaigns", id, "stats"] => {
            log.route = "/api/campaigns/{id}/stats";
            require_method(req, &[Method::GET])?;
            let shop = authenticated_shop(req, env, log)?;
            let campaign = campaigns::load(env.store, &shop.id, id)?;
            let stats = coupons::stats(env.store, &shop.id, &campaign, shop.currency)?;
            Ok(json_response(200, &stats))
        }
        ["api", "campaigns", id, "batches"] => {
            log.route = "/api/campaigns/{id}/batches";
            require_method(req, &[Method::POST])?;
            let shop = authenticated_shop(req, env, log)?;
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Body {
                name: String,
                count: i64,
            }
            let body: Body = json_body(req)?;
            let batch =
                coupons::create_batch(env.store, &shop.id, id, &body.name, body.count, env.now)?;
            Ok(json_response(201, &batch))
        }
        ["api", "campaigns", id, "batches", name, "codes"] => {
            log.route = "/api/campaigns/{id}/batches/{name}/codes";
            require_method(req, &[Method::GET])?;
            let shop = authenticated_shop(req, env, log)?;
            let (after, limit) = paging(req, 500, BATCH_PAGE_MAX)?;
            let page = coupons::batch_codes(env.store, &shop.id, id, name, after, limit, env.now)?;
            let mut response = body_response(200, "text/csv; charset=utf-8", page.csv);
            if let Some(next) = page.next {
                response = with_header(response, "x-next-cursor", &next.to_string());
            }
            if page.quota_reached {
                response = with_header(response, "x-quota-reached", "true");
            }
            Ok(response)
        }
        ["api", "coupons", code] => {
            log.route = "/api/coupons/{code}";
            require_method(req, &[Method::GET])?;
            let shop = authenticated_shop(req, env, log)?;
            let customer = match query_param(req, "customer") {
                Some(c) => Some(CustomerId::parse(&c).ok_or_else(|| {
                    ApiError::bad_request("invalid_query", "customer is a customer id")
                })?),
                None => None,
            };
            let total = match query_param(req, "order_total") {
                Some(_) => Some(query_number(req, "order_total", 0)?),
                None => None,
            };
            let verdict =
                coupons::validate(env.store, &shop.id, code, customer.as_ref(), total, env.now)?;
            Ok(json_response(200, &verdict))
        }
        ["api", "coupons", code, "redeem"] => {
            log.route = "/api/coupons/{code}/redeem";
            require_method(req, &[Method::POST])?;
            let shop = authenticated_shop(req, env, log)?;
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Body {
                order_id: String,
                #[serde(default)]
                customer_id: Option<String>,
                #[serde(default)]
                order_total_minor: Option<i64>,
            }
            let body: Body = json_body(req)?;
            let order = ExternalId::parse(&body.order_id).map_err(ApiError::invalid)?;
            let customer = body
                .customer_id
                .map(|c| {
                    CustomerId::parse(&c)
                        .ok_or_else(|| ApiError::invalid("customer_id is not a customer id"))
                })
                .transpose()?;
            if body.order_total_minor.is_some_and(|t| t < 0) {
                return Err(ApiError::invalid("order_total_minor cannot be negative"));
            }
            let use_ = OrderUse {
                order: format!("api/{}", order.key_part()),
                customer,
                total_minor: body.order_total_minor,
                currency: Some(shop.currency),
            };
            let coupon = coupons::redeem(env.store, &shop.id, code, &use_, env.now)?;
            Ok(json_response(200, &coupon))
        }
        _ => Err(ApiError::unknown_route()),
    }
}

/// The `Idempotency-Key` header: 1–255 visible ASCII characters, as Stripe and the IETF
/// draft have it.
fn idempotency_key(req: &Request) -> Result<Option<String>, ApiError> {
    match header(req, "idempotency-key") {
        None => Ok(None),
        Some(key)
            if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(key.to_string()))
        }
        Some(_) => Err(ApiError::bad_request(
            "invalid_header",
            "Idempotency-Key is 1 to 255 visible ASCII characters",
        )),
    }
}

/// Codes to import: JSON `{"codes": […]}`, or CSV / plain text with one code per line (the
/// first column; a header row named `code` is skipped).
fn pool_codes(req: &Request) -> Result<Vec<String>, ApiError> {
    let content_type = header(req, "content-type").unwrap_or("application/json");
    if content_type.starts_with("application/json") {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            codes: Vec<String>,
        }
        return Ok(json_body::<Body>(req)?.codes);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(req.body().as_slice());
    let mut codes = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record
            .map_err(|e| ApiError::bad_request("invalid_csv", format!("line {}: {e}", i + 1)))?;
        let Some(first) = record
            .get(0)
            .map(|f| f.trim().trim_start_matches('\u{feff}'))
        else {
            continue;
        };
        if first.is_empty() || (i == 0 && first.eq_ignore_ascii_case("code")) {
            continue;
        }
        codes.push(first.to_string());
    }
    Ok(codes)
}
