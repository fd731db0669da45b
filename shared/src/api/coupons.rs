//! The `coupons` component: campaigns, issuing (with idempotency keys), pool imports, print
//! batches, validation, redemption through the API, campaign stats and a customer's coupons.

use http::Method;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::router::{Access, Operation};
use super::{accept, Call, Page};
use crate::coupons::campaigns::{self, CampaignInput, CouponCampaign};
use crate::coupons::{
    self, BatchPage, CampaignStats, Coupon, ImportReport, OrderUse, PrintBatch, Verdict,
};
use crate::domain::ids::ExternalId;
use crate::domain::{CampaignId, CustomerId};
use crate::error::{Error, ErrorCode};
use crate::shops::Shop;
use crate::web::ApiError;
use crate::web::{
    body_response, header, json_body, json_response, paging, query_number, query_param,
    with_header, Env, Limit, Request, RequestLog, Response,
};

const CAMPAIGN_PAGE: Limit = Limit::new(50, 200);
const BATCH_PAGE: Limit = Limit::new(500, 1000);
const CUSTOMER_COUPON_PAGE: Limit = Limit::new(50, 200);

pub static OPERATIONS: &[Operation] = &[
    Operation {
        method: Method::GET,
        path: "/api/campaigns",
        summary: "List the shop's coupon campaigns",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.paging(CAMPAIGN_PAGE);
            d.reply::<Page<CouponCampaign>>(200, "A page of campaigns, oldest first.");
        },
    },
    Operation {
        method: Method::POST,
        path: "/api/campaigns",
        summary: "Create a coupon campaign",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.json_body::<CampaignInput>();
            d.reply::<CouponCampaign>(201, "The campaign.");
        },
    },
    Operation {
        method: Method::GET,
        path: "/api/campaigns/{id}",
        summary: "Read a campaign",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| d.reply::<CouponCampaign>(200, "The campaign."),
    },
    Operation {
        method: Method::PATCH,
        path: "/api/campaigns/{id}",
        summary: "Change a campaign (the whole input again)",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.json_body::<CampaignInput>();
            d.reply::<CouponCampaign>(200, "The changed campaign.");
        },
    },
    Operation {
        method: Method::POST,
        path: "/api/campaigns/{id}/issue",
        summary: "Issue a coupon of the campaign to a customer",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.text(
                "Exactly once per Idempotency-Key: a repeat answers the same coupon and \
                 changes nothing. Quotas and per-customer limits are exact under concurrency.",
            );
            d.header(
                "Idempotency-Key",
                "1 to 255 visible ASCII characters; repeats answer the first result.",
                false,
            );
            d.json_body::<IssueRequest>();
            d.reply::<Coupon>(201, "The coupon issued (or issued before under this key).");
            d.errors(&[409, 422]);
        },
    },
    Operation {
        method: Method::POST,
        path: "/api/campaigns/{id}/pool",
        summary: "Import codes into a pool campaign",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.text("JSON `{\"codes\": […]}`, or CSV / plain text with one code per line.");
            d.json_body::<PoolCodes>();
            d.body_as(
                "text/csv",
                json!({"type": "string", "description": "One code per line, first column; a header row named code is skipped."}),
            );
            d.reply::<ImportReport>(200, "What was added and what was already there.");
            d.errors(&[409]);
        },
    },
    Operation {
        method: Method::GET,
        path: "/api/campaigns/{id}/stats",
        summary: "A campaign's issued, redeemed and revenue figures",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| d.reply::<CampaignStats>(200, "The campaign's figures."),
    },
    Operation {
        method: Method::GET,
        path: "/api/customers/{id}/coupons",
        summary: "The coupons issued to a customer, each as it stands now",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.text("Oldest first; coupons issued since December 2026 (when the list began).");
            d.paging(CUSTOMER_COUPON_PAGE);
            d.reply::<Page<Coupon>>(200, "A page of the customer's coupons.");
            d.errors(&[404]);
        },
    },
    Operation {
        method: Method::POST,
        path: "/api/campaigns/{id}/batches",
        summary: "Reserve a named print batch of codes",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.json_body::<BatchRequest>();
            d.reply::<PrintBatch>(201, "The batch.");
            d.errors(&[409]);
        },
    },
    Operation {
        method: Method::GET,
        path: "/api/campaigns/{id}/batches/{name}/codes",
        summary: "A page of a print batch's codes as CSV",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.paging(BATCH_PAGE);
            d.reply_file(200, "CSV: code, valid from, valid until. Stable pages: the same cursor gives the same codes.", "text/csv");
            d.reply_header(
                200,
                "X-Next-Cursor",
                "The next page's cursor; absent on the last page.",
            );
            d.reply_header(
                200,
                "X-Quota-Reached",
                "true when the campaign's quota ended the batch.",
            );
        },
    },
    Operation {
        method: Method::GET,
        path: "/api/coupons/{code}",
        summary: "Check whether a code can be used",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.query::<CustomerId>("customer", "The customer id who would use it.");
            d.query_number("order_total", "The order's total in minor units.");
            d.reply::<Verdict>(200, "Usable or not, why, and the discount it would give.");
        },
    },
    Operation {
        method: Method::POST,
        path: "/api/coupons/{code}/redeem",
        summary: "Redeem a code for an order",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.text("The same order redeeming again is answered as before and changes nothing.");
            d.json_body::<RedeemRequest>();
            d.reply::<Coupon>(200, "The redeemed coupon.");
            d.errors(&[409, 422]);
        },
    },
];

/// `POST /api/campaigns/{id}/issue` body.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct IssueRequest {
    customer_id: String,
}

/// `POST /api/campaigns/{id}/batches` body.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    /// A name for the batch, unique in the campaign.
    name: String,
    /// How many codes to reserve.
    count: i64,
}

/// `POST /api/coupons/{code}/redeem` body.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RedeemRequest {
    /// The order's id on the shop's side.
    order_id: String,
    #[serde(default)]
    customer_id: Option<String>,
    #[serde(default)]
    order_total_minor: Option<i64>,
}

/// `POST /api/campaigns/{id}/pool` JSON body.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PoolCodes {
    codes: Vec<String>,
}

pub fn handle(req: &Request, env: &Env, log: &mut RequestLog) -> Result<Response, ApiError> {
    let call = accept(req, env, log, OPERATIONS)?;
    let shop = call.shop()?;
    if call.operation().1.starts_with("/api/campaigns") {
        campaign_operation(req, env, &call, shop)
    } else {
        code_operation(req, env, &call, shop)
    }
}

/// `/api/campaigns…`: campaigns, issuing, pools, print batches, stats.
fn campaign_operation(
    req: &Request,
    env: &Env,
    call: &Call,
    shop: &Shop,
) -> Result<Response, ApiError> {
    // Only the routes under one campaign have an id: parsed where they use it.
    let id = || campaign_id(call.param("id"));
    match call.operation() {
        ("GET", "/api/campaigns") => {
            let (after, limit) = paging(req, CAMPAIGN_PAGE)?;
            let (items, next_cursor) = campaigns::list(env.store, &shop.id, after, limit)?;
            Ok(json_response(200, &Page { items, next_cursor }))
        }
        ("POST", "/api/campaigns") => {
            let input: CampaignInput = json_body(req)?;
            let campaign = campaigns::create(env.store, &shop.id, shop.currency, input, env.now)?;
            Ok(json_response(201, &campaign))
        }
        ("GET", "/api/campaigns/{id}") => Ok(json_response(
            200,
            &campaigns::load(env.store, &shop.id, &id()?)?,
        )),
        ("PATCH", "/api/campaigns/{id}") => {
            let input: CampaignInput = json_body(req)?;
            let campaign =
                campaigns::update(env.store, &shop.id, shop.currency, &id()?, input, env.now)?;
            Ok(json_response(200, &campaign))
        }
        ("POST", "/api/campaigns/{id}/issue") => {
            let body: IssueRequest = json_body(req)?;
            let customer = CustomerId::parse(&body.customer_id)
                .ok_or_else(|| ApiError::from(Error::not_found("customer")))?;
            let key = idempotency_key(req)?;
            let coupon = coupons::issue(
                env.store,
                &shop.id,
                &id()?,
                &customer,
                key.as_deref(),
                env.now,
            )?;
            Ok(json_response(201, &coupon))
        }
        ("POST", "/api/campaigns/{id}/pool") => {
            let codes = pool_codes(req)?;
            let report = coupons::import_pool(env.store, &shop.id, &id()?, &codes)?;
            Ok(json_response(200, &report))
        }
        ("GET", "/api/campaigns/{id}/stats") => {
            let campaign = campaigns::load(env.store, &shop.id, &id()?)?;
            let stats = coupons::stats(env.store, &shop.id, &campaign, shop.currency)?;
            Ok(json_response(200, &stats))
        }
        ("POST", "/api/campaigns/{id}/batches") => {
            let body: BatchRequest = json_body(req)?;
            let batch = coupons::create_batch(
                env.store,
                &shop.id,
                &id()?,
                &body.name,
                body.count,
                env.now,
            )?;
            Ok(json_response(201, &batch))
        }
        ("GET", "/api/campaigns/{id}/batches/{name}/codes") => {
            let (after, limit) = paging(req, BATCH_PAGE)?;
            let name = call.param("name");
            let page: BatchPage =
                coupons::batch_codes(env.store, &shop.id, &id()?, name, after, limit, env.now)?;
            let mut response = body_response(200, "text/csv; charset=utf-8", page.csv);
            if let Some(next) = page.next {
                response = with_header(response, "x-next-cursor", &next.to_string());
            }
            if page.quota_reached {
                response = with_header(response, "x-quota-reached", "true");
            }
            Ok(response)
        }
        _ => Err(ApiError::unknown_route()),
    }
}

/// Coupons by code (`/api/coupons/{code}…`: validating, redeeming) and by customer.
fn code_operation(
    req: &Request,
    env: &Env,
    call: &Call,
    shop: &Shop,
) -> Result<Response, ApiError> {
    match call.operation() {
        ("GET", "/api/customers/{id}/coupons") => {
            let customer = CustomerId::parse(call.param("id"))
                .ok_or_else(|| ApiError::from(Error::not_found("customer")))?;
            let (after, limit) = paging(req, CUSTOMER_COUPON_PAGE)?;
            let (items, next_cursor) =
                coupons::customer_coupons(env.store, &shop.id, &customer, after, limit)?;
            Ok(json_response(200, &Page { items, next_cursor }))
        }
        ("GET", "/api/coupons/{code}") => {
            let customer = match query_param(req, "customer") {
                Some(c) => Some(CustomerId::parse(&c).ok_or_else(|| {
                    ApiError::from(Error::malformed(
                        ErrorCode::InvalidQuery,
                        "customer is a customer id",
                    ))
                })?),
                None => None,
            };
            let total = match query_param(req, "order_total") {
                Some(_) => Some(query_number(req, "order_total", 0)?),
                None => None,
            };
            let code = call.param("code");
            let verdict =
                coupons::validate(env.store, &shop.id, code, customer.as_ref(), total, env.now)?;
            Ok(json_response(200, &verdict))
        }
        ("POST", "/api/coupons/{code}/redeem") => {
            let body: RedeemRequest = json_body(req)?;
            let order = ExternalId::parse(&body.order_id).map_err(Error::invalid)?;
            let customer = body
                .customer_id
                .map(|c| {
                    CustomerId::parse(&c).ok_or_else(|| {
                        ApiError::from(Error::invalid("customer_id is not a customer id"))
                    })
                })
                .transpose()?;
            if body.order_total_minor.is_some_and(|t| t < 0) {
                return Err(ApiError::from(Error::invalid(
                    "order_total_minor cannot be negative",
                )));
            }
            let use_ = OrderUse {
                order: format!("api/{}", order.key_part()),
                customer,
                total_minor: body.order_total_minor,
                currency: Some(shop.currency),
            };
            let code = coupons::code_named(call.param("code"))?;
            let coupon = coupons::redeem(env.store, &shop.id, &code, &use_, env.now)?;
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
        Some(_) => Err(ApiError::from(Error::malformed(
            ErrorCode::InvalidHeader,
            "Idempotency-Key is 1 to 255 visible ASCII characters",
        ))),
    }
}

/// Codes to import: JSON `{"codes": […]}`, or CSV / plain text with one code per line (the
/// first column; a header row named `code` is skipped).
fn pool_codes(req: &Request) -> Result<Vec<String>, ApiError> {
    let content_type = header(req, "content-type").unwrap_or("application/json");
    if content_type.starts_with("application/json") {
        return Ok(json_body::<PoolCodes>(req)?.codes);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(req.body().as_slice());
    let mut codes = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            ApiError::from(Error::malformed(
                ErrorCode::InvalidCsv,
                format!("line {}: {e}", i + 1),
            ))
        })?;
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

/// A campaign id from the path: one that cannot be a campaign's is no campaign of this shop.
fn campaign_id(text: &str) -> Result<CampaignId, Error> {
    CampaignId::parse(text).ok_or_else(|| Error::not_found("campaign"))
}
