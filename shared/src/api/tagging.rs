//! The `tagging` component: rules, RFM settings, segments (tags, RFM groups, super users)
//! with their members and CSV export, and the scheduled re-evaluation pass.

use http::Method;
use schemars::JsonSchema;
use serde::Serialize;

use super::router::{Access, Operation};
use super::{accept, Page};
use crate::customers::Customer;
use crate::domain::{Currency, CustomerId, RuleId};
use crate::error::{Error, ErrorCode};
use crate::rfm::{RfmGroup, RfmSettings};
use crate::shops::{KeyScope, Shop};
use crate::tagging::export::{self, Contacts};
use crate::tagging::rules::{Rule, RuleInput};
use crate::tagging::segments::{self, TagSummary};
use crate::tagging::{self, PassReport};
use crate::tags::{Segment, TagName, TagView};
use crate::web::ApiError;
use crate::web::{
    body_response, json_body, json_response, paging, query_param, with_header, Env, Limit, Request,
    RequestLog, Response,
};

const LIST_PAGE: Limit = Limit::new(50, 200);
const EXPORT_PAGE: Limit = Limit::new(500, 1000);
/// Customers one call of the scheduled pass looks at.
const PASS_BATCH: Limit = Limit::new(200, 1000);

/// The members page of a segment (a tag or an RFM group): one contract under two paths.
macro_rules! segment_members {
    ($what:literal, $path:literal) => {
        Operation {
            method: Method::GET,
            path: concat!($path, "/customers"),
            summary: concat!("List the customers of ", $what),
            access: Access::ShopKey,
            #[cfg(feature = "openapi")]
            describe: |d| {
                d.paging(LIST_PAGE);
                d.reply::<Page<MemberView>>(200, "A page of members, contacts masked.");
            },
        }
    };
}

/// The CSV export of a segment: one contract under two paths.
macro_rules! segment_export {
    ($what:literal, $path:literal) => {
        Operation {
            method: Method::GET,
            path: concat!($path, "/export"),
            summary: concat!("Export the customers of ", $what, " as CSV"),
            access: Access::ShopKey,
            #[cfg(feature = "openapi")]
            describe: |d| {
                d.paging(EXPORT_PAGE);
                d.query::<ExportContacts>(
                    "contacts",
                    "masked (default) or full (keys with the export_contacts scope).",
                );
                d.query::<ExportConsent>("consent", "granted: only customers who consented.");
                d.reply_file(
                    200,
                    "CSV (UTF-8 with BOM, CRLF) for spreadsheets.",
                    "text/csv",
                );
                d.reply_header(
                    200,
                    "X-Next-Cursor",
                    "The next page's cursor; absent on the last.",
                );
                d.errors(&[403]);
            },
        }
    };
}

pub static OPERATIONS: &[Operation] = &[
    Operation {
        method: Method::GET,
        path: "/api/rules",
        summary: "List the tag rules",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| d.reply::<RuleList>(200, "Every rule of the shop."),
    },
    Operation {
        method: Method::POST,
        path: "/api/rules",
        summary: "Create a tag rule",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.text("Checked on save; existing customers are tagged by the scheduled pass.");
            d.json_body::<RuleInput>();
            d.reply::<Rule>(201, "The rule.");
        },
    },
    Operation {
        method: Method::GET,
        path: "/api/rules/{id}",
        summary: "Read a tag rule",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| d.reply::<Rule>(200, "The rule."),
    },
    Operation {
        method: Method::PATCH,
        path: "/api/rules/{id}",
        summary: "Change a tag rule (the whole input again)",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.json_body::<RuleInput>();
            d.reply::<Rule>(200, "The changed rule.");
        },
    },
    Operation {
        method: Method::DELETE,
        path: "/api/rules/{id}",
        summary: "Delete a tag rule",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| d.reply::<Deleted>(200, "Deleted; the pass takes its tags off."),
    },
    Operation {
        method: Method::GET,
        path: "/api/rfm",
        summary: "RFM settings and group sizes",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.reply::<RfmOverview>(200, "Settings and how many customers each group has.")
        },
    },
    Operation {
        method: Method::PUT,
        path: "/api/rfm",
        summary: "Change the RFM thresholds",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.json_body::<RfmSettings>();
            d.reply::<RfmOverview>(200, "The new settings and group sizes.");
        },
    },
    Operation {
        method: Method::GET,
        path: "/api/tags",
        summary: "List the shop's tags with their customer counts",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.paging(LIST_PAGE);
            d.reply::<Page<TagSummary>>(200, "A page of tags.");
        },
    },
    segment_members!("a tag", "/api/tags/{tag}"),
    segment_export!("a tag", "/api/tags/{tag}"),
    segment_members!("an RFM group or super_users", "/api/rfm/{group}"),
    segment_export!("an RFM group or super_users", "/api/rfm/{group}"),
    Operation {
        method: Method::POST,
        path: "/api/tagging/run",
        summary: "Run a batch of the scheduled tagging pass for this shop",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.limit("limit", PASS_BATCH, "Customers to look at in this call");
            d.reply::<PassReport>(200, "What the batch did and whether the pass is done.");
        },
    },
];

#[derive(Serialize, JsonSchema)]
struct RuleList {
    items: Vec<Rule>,
}

#[derive(Serialize, JsonSchema)]
struct Deleted {
    /// The deleted rule's id.
    deleted: String,
}

/// `/api/rfm`: the thresholds and what they make of the shop's customers.
#[derive(Serialize, JsonSchema)]
struct RfmOverview {
    settings: RfmSettings,
    currency: Currency,
    groups: Vec<RfmGroupSize>,
    super_users: i64,
}

#[derive(Serialize, JsonSchema)]
struct RfmGroupSize {
    group: RfmGroup,
    customers: i64,
}

/// `?contacts=` of an export.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Only its schema is used; the handler reads the text.
enum ExportContacts {
    Masked,
    Full,
}

/// `?consent=` of an export.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Only its schema is used; the handler reads the text.
enum ExportConsent {
    Granted,
}

pub fn handle(req: &Request, env: &Env, log: &mut RequestLog) -> Result<Response, ApiError> {
    let call = accept(req, env, log, OPERATIONS)?;
    let caller = call.caller()?;
    let shop = &caller.shop;
    match call.operation() {
        ("GET", "/api/rules") => {
            let items = tagging::load_config(env.store, &shop.id)?.rules;
            Ok(json_response(200, &RuleList { items }))
        }
        ("POST", "/api/rules") => {
            let input: RuleInput = json_body(req)?;
            let rule = tagging::create_rule(env.store, &shop.id, input, env.now)?;
            Ok(json_response(201, &rule))
        }
        ("GET", "/api/rules/{id}") => {
            let id = rule_id(call.param("id"))?;
            let rule = tagging::load_config(env.store, &shop.id)?
                .rules
                .into_iter()
                .find(|r| r.id == id)
                .ok_or_else(|| ApiError::from(Error::not_found("rule")))?;
            Ok(json_response(200, &rule))
        }
        ("PATCH", "/api/rules/{id}") => {
            let input: RuleInput = json_body(req)?;
            let rule = tagging::update_rule(
                env.store,
                &shop.id,
                &rule_id(call.param("id"))?,
                input,
                env.now,
            )?;
            Ok(json_response(200, &rule))
        }
        ("DELETE", "/api/rules/{id}") => {
            let id = rule_id(call.param("id"))?;
            tagging::delete_rule(env.store, &shop.id, &id)?;
            Ok(json_response(
                200,
                &Deleted {
                    deleted: id.to_string(),
                },
            ))
        }
        (method @ ("GET" | "PUT"), "/api/rfm") => {
            let settings = if method == "PUT" {
                let settings: RfmSettings = json_body(req)?;
                tagging::set_rfm_settings(env.store, &shop.id, settings)?
            } else {
                tagging::load_config(env.store, &shop.id)?.rfm
            };
            rfm_overview(env, shop, settings)
        }
        ("GET", "/api/tags") => {
            let (after, limit) = paging(req, LIST_PAGE)?;
            let (items, next_cursor) = segments::list_tags(env.store, &shop.id, after, limit)?;
            Ok(json_response(200, &Page { items, next_cursor }))
        }
        ("GET", "/api/tags/{tag}/customers") => {
            let segment = tag_segment(env, shop, call.param("tag"))?;
            members(req, env, shop, &segment)
        }
        ("GET", "/api/rfm/{group}/customers") => {
            members(req, env, shop, &rfm_segment(call.param("group"))?)
        }
        ("GET", "/api/tags/{tag}/export") => {
            let segment = tag_segment(env, shop, call.param("tag"))?;
            export(req, env, caller, &segment)
        }
        ("GET", "/api/rfm/{group}/export") => {
            export(req, env, caller, &rfm_segment(call.param("group"))?)
        }
        ("POST", "/api/tagging/run") => {
            let limit = PASS_BATCH.read(req, "limit")?;
            let report =
                crate::flows::customer_changed::tagging_pass(env.store, shop, limit, env.now)?;
            Ok(json_response(200, &report))
        }
        _ => Err(ApiError::unknown_route()),
    }
}

/// The RFM settings with each group's size and the super users'.
fn rfm_overview(env: &Env, shop: &Shop, settings: RfmSettings) -> Result<Response, ApiError> {
    let mut groups = Vec::new();
    for group in RfmGroup::ALL {
        let customers = segments::count(env.store, &shop.id, &Segment::Rfm(group))?;
        groups.push(RfmGroupSize { group, customers });
    }
    let super_users = segments::count(env.store, &shop.id, &Segment::SuperUsers)?;
    let overview = RfmOverview {
        settings,
        currency: shop.currency,
        groups,
        super_users,
    };
    Ok(json_response(200, &overview))
}

fn members(req: &Request, env: &Env, shop: &Shop, segment: &Segment) -> Result<Response, ApiError> {
    let (after, limit) = paging(req, LIST_PAGE)?;
    let page = segments::members(env.store, &shop.id, segment, after, limit)?;
    let items: Vec<MemberView> = page
        .customers
        .iter()
        .map(|c| MemberView::of(c, segment))
        .collect();
    Ok(json_response(
        200,
        &Page {
            items,
            next_cursor: page.next,
        },
    ))
}

fn export(
    req: &Request,
    env: &Env,
    caller: &crate::shops::Caller,
    segment: &Segment,
) -> Result<Response, ApiError> {
    let contacts = match query_param(req, "contacts").as_deref() {
        None | Some("masked") => Contacts::Masked,
        Some("full") if caller.may(KeyScope::ExportContacts) => Contacts::Full,
        Some("full") => {
            return Err(ApiError::new(
                403,
                ErrorCode::Forbidden,
                "this key may not export full contact details (scope export_contacts)",
            ))
        }
        Some(_) => {
            return Err(ApiError::from(Error::malformed(
                ErrorCode::InvalidQuery,
                "contacts is masked or full",
            )))
        }
    };
    let only_consented = match query_param(req, "consent").as_deref() {
        None => false,
        Some("granted") => true,
        Some(_) => {
            return Err(ApiError::from(Error::malformed(
                ErrorCode::InvalidQuery,
                "consent takes only the value granted",
            )))
        }
    };
    let (after, limit) = paging(req, EXPORT_PAGE)?;
    let page = segments::members(env.store, &caller.shop.id, segment, after, limit)?;
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

/// The tag a path names (percent-encoded, any case), if the shop has it.
fn tag_segment(env: &Env, shop: &Shop, name: &str) -> Result<Segment, ApiError> {
    let decoded = percent_encoding::percent_decode_str(name)
        .decode_utf8()
        .map_err(|_| ApiError::from(Error::not_found("tag")))?;
    let tag = TagName::parse(&decoded).map_err(|_| ApiError::from(Error::not_found("tag")))?;
    let known = segments::known_tag(env.store, &shop.id, &tag)?
        .ok_or_else(|| ApiError::from(Error::not_found("tag")))?;
    Ok(Segment::Tag(known))
}

/// The RFM group a path names, or `super_users`.
fn rfm_segment(name: &str) -> Result<Segment, ApiError> {
    match name {
        "super_users" => Ok(Segment::SuperUsers),
        group => RfmGroup::parse(group)
            .map(Segment::Rfm)
            .ok_or_else(|| ApiError::from(Error::not_found("RFM group"))),
    }
}

/// A segment member as listed: enough to recognise them, contacts masked.
#[derive(Debug, Serialize, JsonSchema)]
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

/// A rule id from the path: one that cannot be a rule's is no rule of this shop.
fn rule_id(text: &str) -> Result<RuleId, Error> {
    RuleId::parse(text).ok_or_else(|| Error::not_found("rule"))
}
