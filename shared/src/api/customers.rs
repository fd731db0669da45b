//! The `customers` component: read, look up and erase a shop's customers, and list the
//! privacy data requests platforms sent.

use std::collections::BTreeMap;

use http::Method;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::router::{Access, Operation};
use super::{accept, Page};
use crate::applog;
use crate::customers::{self, AttributePatch, Customer, CustomerView};
use crate::domain::ids::ExternalId;
use crate::domain::{CustomerId, EmailAddress, PhoneNumber, Platform};
use crate::error::{Error, ErrorCode};
use crate::flows::customer_changed;
use crate::keys;
use crate::pii::Identity;
use crate::reminders::ReminderSchedule;
use crate::shops::{Caller, KeyScope};
use crate::tagging::ManualTagChange;
use crate::tags::parse_tag_names;
use crate::web::ApiError;
use crate::web::{
    json_body, json_response, paging, query_param, Env, Limit, Request, RequestLog, Response,
};

const DATA_REQUEST_PAGE: Limit = Limit::new(50, 200);

pub static OPERATIONS: &[Operation] = &[
    Operation {
        method: Method::GET,
        path: "/api/customers",
        summary: "Find a customer by phone, email or WeCom external id",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.text("Exactly one of the three query parameters. Matched by keyed hash. A key may look up 100 customers an hour (1,000 with the export_contacts scope).");
            d.query::<String>(
                "phone",
                "A phone number; without +, the shop's calling code.",
            );
            d.query::<String>("email", "An email address, any case.");
            d.query::<String>("wecom_external_id", "A WeCom external contact id.");
            d.reply::<CustomerView>(200, "The customer, contacts masked.");
            d.errors(&[404, 429]);
        },
    },
    Operation {
        method: Method::GET,
        path: "/api/customers/{id}",
        summary: "Read a customer",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| d.reply::<CustomerView>(200, "The customer, contacts masked."),
    },
    Operation {
        method: Method::PATCH,
        path: "/api/customers/{id}",
        summary: "Set or clear a customer's attributes",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.json_body::<CustomerPatch>();
            d.reply::<CustomerView>(200, "The customer.");
            d.errors(&[409]);
        },
    },
    Operation {
        method: Method::DELETE,
        path: "/api/customers/{id}",
        summary: "Erase a customer's personal data",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.text("Contacts, names, attributes and tags go; anonymous order totals stay.");
            d.reply::<CustomerView>(200, "What remains of the customer.");
        },
    },
    Operation {
        method: Method::GET,
        path: "/api/customers/{id}/reminders",
        summary: "A customer's repurchase reminders and unsubscribe link",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| d.reply::<CustomerReminders>(200, "Planned, sent and cancelled reminders."),
    },
    Operation {
        method: Method::POST,
        path: "/api/customers/{id}/tags",
        summary: "Add and remove manual tags",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.json_body::<TagChangeBody>();
            d.reply::<CustomerView>(200, "The customer with its tags.");
            d.errors(&[409]);
        },
    },
    Operation {
        method: Method::GET,
        path: "/api/data-requests",
        summary: "Privacy data requests platforms sent (Shopify customers/data_request)",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.paging(DATA_REQUEST_PAGE);
            d.reply::<Page<serde_json::Value>>(200, "A page of recorded requests.");
        },
    },
];

#[derive(Serialize, JsonSchema)]
struct CustomerReminders {
    items: Vec<ReminderSchedule>,
    /// The customer's unsubscribe link, relative to this deployment.
    unsubscribe_path: String,
}

pub fn handle(req: &Request, env: &Env, log: &mut RequestLog) -> Result<Response, ApiError> {
    let call = accept(req, env, log, OPERATIONS)?;
    let caller = call.caller()?;
    let shop = &caller.shop;
    let customer_id = || {
        CustomerId::parse(call.param("id"))
            .ok_or_else(|| ApiError::from(Error::not_found("customer")))
    };
    match call.operation() {
        ("GET", "/api/customers") => {
            let identity = lookup_identity(req, &shop.default_calling_code)?;
            let pepper = env.secrets.pepper()?;
            within_lookup_limit(env, caller)?;
            let id = customers::find(env.store, &shop.id, pepper, &[identity])?
                .ok_or_else(|| ApiError::from(Error::not_found("customer")))?;
            let customer = customers::load(env.store, &shop.id, &id)?;
            Ok(json_response(200, &shown(&customer, caller)))
        }
        ("GET", "/api/customers/{id}") => {
            let customer = customers::load(env.store, &shop.id, &customer_id()?)?;
            Ok(json_response(200, &shown(&customer, caller)))
        }
        ("PATCH", "/api/customers/{id}") => {
            let id = customer_id()?;
            let body: CustomerPatch = json_body(req)?;
            let patch = AttributePatch::parse(body.attributes)?;
            let customer = customer_changed::set_attributes(env.store, shop, &id, &patch, env.now)?;
            Ok(json_response(200, &shown(&customer, caller)))
        }
        ("DELETE", "/api/customers/{id}") => {
            let customer =
                crate::flows::erasure::erase(env.store, &shop.id, &customer_id()?, env.now)?;
            Ok(json_response(200, &shown(&customer, caller)))
        }
        ("GET", "/api/customers/{id}/reminders") => {
            let id = customer_id()?;
            customers::load(env.store, &shop.id, &id)?;
            let items = crate::reminders::customer_schedules(env.store, &shop.id, &id)?;
            let token = crate::reminders::unsubscribe_token(env.secrets.pepper()?, &shop.id, &id);
            Ok(json_response(
                200,
                &CustomerReminders {
                    items,
                    unsubscribe_path: format!("/r/u/{token}"),
                },
            ))
        }
        ("POST", "/api/customers/{id}/tags") => {
            let id = customer_id()?;
            let body: TagChangeBody = json_body(req)?;
            let change = body.parse()?;
            let customer = customer_changed::change_tags(
                env.store,
                shop,
                &id,
                &change,
                &caller.key_id,
                env.now,
            )?;
            Ok(json_response(200, &shown(&customer, caller)))
        }
        ("GET", "/api/data-requests") => {
            let (after, limit) = paging(req, DATA_REQUEST_PAGE)?;
            let page = applog::page::<serde_json::Value>(
                env.store,
                &shop.id,
                keys::lists::DATA_REQUESTS,
                after,
                limit,
            )?;
            let items = page.entries.into_iter().map(|(_, v)| v).collect();
            Ok(json_response(
                200,
                &Page {
                    items,
                    next_cursor: page.next,
                },
            ))
        }
        _ => Err(ApiError::unknown_route()),
    }
}

/// `PATCH /api/customers/{id}` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CustomerPatch {
    attributes: BTreeMap<String, Option<String>>,
}

/// `POST /api/customers/{id}/tags` body.
#[derive(Debug, Deserialize, JsonSchema)]
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
            return Err(ApiError::from(Error::invalid("give tags to add or remove")));
        }
        if add.iter().any(|t| remove.contains(t)) {
            return Err(ApiError::from(Error::invalid(
                "a tag cannot be both added and removed",
            )));
        }
        let by = match self.by.as_deref().map(str::trim) {
            None => None,
            Some(by) if !by.is_empty() && by.chars().count() <= 100 => Some(by.to_string()),
            Some(_) => {
                return Err(ApiError::from(Error::invalid(
                    "by must be 1 to 100 characters",
                )))
            }
        };
        Ok(ManualTagChange { add, remove, by })
    }
}

/// A customer as this key may see them.
fn shown(customer: &Customer, caller: &Caller) -> CustomerView {
    let view = customer.view();
    if caller.may(KeyScope::ExportContacts) {
        view
    } else {
        view.with_wecom_ids_masked()
    }
}

/// Look-ups a key may make in an hour. A look-up confirms a guessed number, so a key that sees
/// contacts only masked (four digits hidden: 10,000 guesses) gets few; keys that may see full
/// contacts anyway get more, for the console and integrations.
pub const LOOKUPS_PER_HOUR: i64 = 100;
pub const LOOKUPS_PER_HOUR_WITH_CONTACTS: i64 = 1_000;

fn within_lookup_limit(env: &Env, caller: &Caller) -> Result<(), ApiError> {
    let limit = if caller.may(KeyScope::ExportContacts) {
        LOOKUPS_PER_HOUR_WITH_CONTACTS
    } else {
        LOOKUPS_PER_HOUR
    };
    let key = keys::lookup_count(&caller.shop.id, &caller.key_id);
    let hour = crate::rate_limit::Window::hour(env.now);
    if crate::rate_limit::admit(env.store, &caller.shop.id, &key, hour, limit)? {
        Ok(())
    } else {
        Err(ApiError::from(Error::refused(
            ErrorCode::RateLimited,
            format!("this key made its {limit} look-ups of this hour; try again later"),
        )))
    }
}

fn lookup_identity(req: &Request, calling_code: &str) -> Result<Identity, ApiError> {
    let invalid = |e: String| ApiError::from(Error::malformed(ErrorCode::InvalidQuery, e));
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
        _ => Err(ApiError::from(Error::malformed(
            ErrorCode::InvalidQuery,
            "look customers up by exactly one of ?phone=, ?email= or ?wecom_external_id=",
        ))),
    }
}
