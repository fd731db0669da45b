//! The `customers` component: read, look up and erase a shop's customers, and list the
//! privacy data requests platforms sent.

use http::Method;

use super::authenticated_shop;
use crate::applog;
use crate::customers;
use crate::domain::ids::ExternalId;
use crate::domain::{CustomerId, EmailAddress, PhoneNumber, Platform};
use crate::error::ApiError;
use crate::keys;
use crate::pii::Identity;
use crate::web::{
    json_response, query_number, query_param, require_method, segments, Env, Request, RequestLog,
    Response,
};

const PAGE_LIMIT_MAX: usize = 200;

pub fn handle(req: &Request, env: &Env, log: &mut RequestLog) -> Result<Response, ApiError> {
    match segments(req).as_slice() {
        ["api", "customers"] => {
            log.route = "/api/customers";
            require_method(req, &[Method::GET])?;
            let shop = authenticated_shop(req, env, log)?;
            let identity = lookup_identity(req, &shop.default_calling_code)?;
            let pepper = env.secrets.pepper()?;
            let id = customers::find(env.store, &shop.id, pepper, &[identity])?
                .ok_or_else(|| ApiError::not_found("customer"))?;
            let customer = customers::load(env.store, &shop.id, &id)?;
            Ok(json_response(200, &customer.view()))
        }
        ["api", "customers", id] => {
            log.route = "/api/customers/{id}";
            require_method(req, &[Method::GET, Method::DELETE])?;
            let shop = authenticated_shop(req, env, log)?;
            let id = CustomerId::parse(id).ok_or_else(|| ApiError::not_found("customer"))?;
            let customer = if req.method() == Method::DELETE {
                customers::erase(env.store, &shop.id, &id, env.now)?
            } else {
                customers::load(env.store, &shop.id, &id)?
            };
            Ok(json_response(200, &customer.view()))
        }
        ["api", "data-requests"] => {
            log.route = "/api/data-requests";
            require_method(req, &[Method::GET])?;
            let shop = authenticated_shop(req, env, log)?;
            let (after, limit) = paging(req)?;
            let page = applog::page::<serde_json::Value>(
                env.store,
                &shop.id,
                keys::lists::DATA_REQUESTS,
                after,
                limit,
            )?;
            let items: Vec<_> = page.entries.into_iter().map(|(_, v)| v).collect();
            Ok(json_response(
                200,
                &serde_json::json!({"items": items, "next_cursor": page.next}),
            ))
        }
        _ => Err(ApiError::unknown_route()),
    }
}

fn lookup_identity(req: &Request, calling_code: &str) -> Result<Identity, ApiError> {
    let invalid = |e: String| ApiError::bad_request("invalid_query", e);
    match (
        query_param(req, "phone"),
        query_param(req, "email"),
        query_param(req, "wecom_external_id"),
    ) {
        (Some(phone), None, None) => PhoneNumber::parse(&phone, calling_code)
            .map(Identity::Phone)
            .map_err(invalid),
        (None, Some(email), None) => EmailAddress::parse(&email)
            .map(Identity::Email)
            .map_err(invalid),
        (None, None, Some(id)) => ExternalId::parse(&id)
            .map(|id| Identity::PlatformCustomer(Platform::Wecom, id))
            .map_err(invalid),
        _ => Err(ApiError::bad_request(
            "invalid_query",
            "look customers up by exactly one of ?phone=, ?email= or ?wecom_external_id=",
        )),
    }
}

fn paging(req: &Request) -> Result<(i64, usize), ApiError> {
    let after = query_number(req, "cursor", 0)?;
    let limit = query_number(req, "limit", 50)?.clamp(1, PAGE_LIMIT_MAX as i64) as usize;
    Ok((after, limit))
}
