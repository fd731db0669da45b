//! The `customers` component: read, look up and erase a shop's customers, and list the
//! privacy data requests platforms sent.

use http::Method;

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{authenticated_caller, authenticated_shop};
use crate::applog;
use crate::customers;
use crate::customers::AttributePatch;
use crate::domain::ids::ExternalId;
use crate::domain::{CustomerId, EmailAddress, PhoneNumber, Platform};
use crate::error::ApiError;
use crate::keys;
use crate::pii::Identity;
use crate::tagging::{self, ManualTagChange};
use crate::tags::parse_tag_names;
use crate::web::{
    json_body, json_response, paging, query_param, require_method, segments, Env, Request,
    RequestLog, Response,
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
            require_method(req, &[Method::GET, Method::PATCH, Method::DELETE])?;
            let shop = authenticated_shop(req, env, log)?;
            let id = CustomerId::parse(id).ok_or_else(|| ApiError::not_found("customer"))?;
            let customer = match *req.method() {
                Method::DELETE => customers::erase(env.store, &shop.id, &id, env.now)?,
                Method::PATCH => {
                    let body: CustomerPatch = json_body(req)?;
                    let patch = AttributePatch::parse(body.attributes)?;
                    tagging::set_attributes(env.store, &shop, &id, &patch, env.now)?
                }
                _ => customers::load(env.store, &shop.id, &id)?,
            };
            Ok(json_response(200, &customer.view()))
        }
        ["api", "customers", id, "reminders"] => {
            log.route = "/api/customers/{id}/reminders";
            require_method(req, &[Method::GET])?;
            let shop = authenticated_shop(req, env, log)?;
            let id = CustomerId::parse(id).ok_or_else(|| ApiError::not_found("customer"))?;
            customers::load(env.store, &shop.id, &id)?;
            let items = crate::reminders::customer_schedules(env.store, &shop.id, &id)?;
            let token = crate::reminders::unsubscribe_token(env.secrets.pepper()?, &shop.id, &id);
            Ok(json_response(
                200,
                &serde_json::json!({"items": items, "unsubscribe_path": format!("/r/u/{token}")}),
            ))
        }
        ["api", "customers", id, "tags"] => {
            log.route = "/api/customers/{id}/tags";
            require_method(req, &[Method::POST])?;
            let caller = authenticated_caller(req, env, log)?;
            let id = CustomerId::parse(id).ok_or_else(|| ApiError::not_found("customer"))?;
            let body: TagChangeBody = json_body(req)?;
            let change = body.parse()?;
            let customer = tagging::change_tags(
                env.store,
                &caller.shop,
                &id,
                &change,
                &caller.key_id,
                env.now,
            )?;
            Ok(json_response(200, &customer.view()))
        }
        ["api", "data-requests"] => {
            log.route = "/api/data-requests";
            require_method(req, &[Method::GET])?;
            let shop = authenticated_shop(req, env, log)?;
            let (after, limit) = paging(req, 50, PAGE_LIMIT_MAX as i64)?;
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

/// `PATCH /api/customers/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerPatch {
    attributes: BTreeMap<String, Option<String>>,
}

/// `POST /api/customers/{id}/tags` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TagChangeBody {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
    #[serde(default)]
    by: Option<String>,
}

impl TagChangeBody {
    fn parse(self) -> Result<ManualTagChange, ApiError> {
        let add = parse_tag_names("add", &self.add)?;
        let remove = parse_tag_names("remove", &self.remove)?;
        if add.is_empty() && remove.is_empty() {
            return Err(ApiError::invalid("give tags to add or remove"));
        }
        if add.iter().any(|t| remove.contains(t)) {
            return Err(ApiError::invalid("a tag cannot be both added and removed"));
        }
        let by = match self.by.as_deref().map(str::trim) {
            None => None,
            Some(by) if !by.is_empty() && by.chars().count() <= 100 => Some(by.to_string()),
            Some(_) => return Err(ApiError::invalid("by must be 1 to 100 characters")),
        };
        Ok(ManualTagChange { add, remove, by })
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
