//! The `reminders` component: a shop's consumption profiles and delivery settings, the
//! scheduler's dispatch of due reminders, their stats, and the public unsubscribe link.

use http::Method;
use schemars::JsonSchema;
use serde::Serialize;

use super::accept;
use super::router::{Access, Operation};
use super::shopper_page::{escape, page};
use crate::domain::ShopId;
use crate::error::Error;
use crate::flows::customer_changed;
use crate::flows::reminders_due::CampaignCoupons;
use crate::reminders::{self, DispatchReport, ReminderSettings, ReminderStats, SettingsView};
use crate::shops::audit::{self, AuditedChange};
use crate::shops::KeyScope;
use crate::web::ApiError;
use crate::web::{
    json_body, json_response, message_page, paging, query_param, Env, Limit, Request, RequestLog,
    Response,
};

/// Products per page of `/api/reminders/stats`.
const PRODUCT_PAGE: Limit = Limit::new(50, 200);
/// Due reminders one dispatch call handles (each may be an HTTP delivery).
const DISPATCH_BATCH: Limit = Limit::new(500, 5_000);
/// How long one dispatch call starts new deliveries: with one delivery's timeout on top, it
/// answers well inside the 30 s hosted platforms allow a request.
const DISPATCH_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

pub static OPERATIONS: &[Operation] = &[
    Operation {
        method: Method::GET,
        path: "/api/reminders/settings",
        summary: "Read the reminder settings (cycles, quiet hours, caps, delivery)",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| d.reply::<SettingsView>(200, "The settings, the delivery secret masked."),
    },
    Operation {
        method: Method::PUT,
        path: "/api/reminders/settings",
        summary: "Replace the reminder settings",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.text("Changing delivery_url needs the owner key or a key with the manage_delivery scope (403 otherwise); every change is in the shop's security log.");
            d.json_body::<ReminderSettings>();
            d.reply::<SettingsView>(200, "The settings saved.");
            d.errors(&[403]);
        },
    },
    Operation {
        method: Method::POST,
        path: "/api/reminders/secret",
        summary: "Create or replace the secret reminder deliveries are signed with",
        access: Access::Scoped(KeyScope::ManageDelivery),
        #[cfg(feature = "openapi")]
        describe: |d| d.reply::<DeliverySecret>(200, "The secret, shown this once."),
    },
    Operation {
        method: Method::POST,
        path: "/api/reminders/dispatch",
        summary: "Deliver due reminders (the scheduler calls this every minute)",
        access: Access::Scheduler,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.query::<String>("shop", "Only this shop; all shops by default.");
            d.limit("limit", DISPATCH_BATCH, "Reminders to handle in this call");
            d.reply::<DispatchReport>(200, "What was sent, deferred, retried or failed.");
            d.errors(&[404]);
        },
    },
    Operation {
        method: Method::GET,
        path: "/api/reminders/stats",
        summary: "Reminder figures, overall and per product",
        access: Access::ShopKey,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.paging(PRODUCT_PAGE);
            d.reply::<StatsPage>(200, "Overall figures and a page of products.");
        },
    },
    Operation {
        method: Method::GET,
        path: "/r/u/{token}",
        summary: "The unsubscribe page a reminder links to",
        access: Access::Public,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.text("A page with one button; opening the link alone changes nothing.");
            d.page(200, "The page.");
            d.page(404, "The link is not valid.");
        },
    },
    Operation {
        method: Method::POST,
        path: "/r/u/{token}",
        summary: "Unsubscribe: withdraw marketing consent, cancel planned reminders",
        access: Access::Public,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.page(200, "Unsubscribed.");
            d.page(404, "The link is not valid.");
        },
    },
];

#[derive(Serialize, JsonSchema)]
struct DeliverySecret {
    delivery_secret: String,
}

#[derive(Serialize, JsonSchema)]
struct StatsPage {
    overall: ReminderStats,
    products: Vec<serde_json::Value>,
    next_cursor: Option<i64>,
}

pub fn handle(req: &Request, env: &Env, log: &mut RequestLog) -> Result<Response, ApiError> {
    let call = accept(req, env, log, OPERATIONS)?;
    match call.operation() {
        ("GET", "/api/reminders/settings") => {
            let view = reminders::load_settings(env.store, &call.shop()?.id)?;
            Ok(json_response(200, &view))
        }
        ("PUT", "/api/reminders/settings") => {
            let caller = call.caller()?;
            let shop = &caller.shop.id;
            let settings: ReminderSettings = json_body(req)?;
            let allow_private = env.deployment.allow_private_delivery;
            settings.validate(allow_private)?;
            let current = reminders::load_settings(env.store, shop)?;
            let (from, to) = (&current.settings.delivery_url, &settings.delivery_url);
            if from != to {
                // Messages carry phone numbers and emails: who may send them elsewhere.
                caller.require(KeyScope::ManageDelivery)?;
                let change = AuditedChange::DeliveryUrlChanged {
                    from_host: from.as_deref().map(crate::outbound::host_of),
                    to_host: to.as_deref().map(crate::outbound::host_of),
                };
                audit::record(env.store, shop, &caller.key_id, change, env.now)?;
            }
            let may_redirect = || caller.require(KeyScope::ManageDelivery);
            let view =
                reminders::save_settings(env.store, shop, settings, allow_private, may_redirect)?;
            Ok(json_response(200, &view))
        }
        ("POST", "/api/reminders/secret") => {
            let caller = call.caller()?;
            let change = AuditedChange::DeliverySecretRotated;
            audit::record(env.store, &caller.shop.id, &caller.key_id, change, env.now)?;
            let delivery_secret = reminders::rotate_secret(env.store, &caller.shop.id)?;
            Ok(json_response(200, &DeliverySecret { delivery_secret }))
        }
        ("POST", "/api/reminders/dispatch") => {
            let pepper = env.secrets.pepper()?;
            let origin = env.deployment.links_origin(req)?;
            let limit = DISPATCH_BATCH.read(req, "limit")?;
            let delivery = reminders::Delivery {
                outbound: env.outbound,
                pepper,
                origin: &origin,
                coupons: &CampaignCoupons { store: env.store },
                allow_private: env.deployment.allow_private_delivery,
                deadline: std::time::Instant::now() + DISPATCH_BUDGET,
            };
            let report = match query_param(req, "shop") {
                Some(id) => {
                    let id = ShopId::parse(&id)
                        .ok_or_else(|| ApiError::from(Error::not_found("shop")))?;
                    let shop = crate::shops::load_shop(env.store, &id)?;
                    log.shop = Some(shop.id.to_string());
                    reminders::dispatch(env.store, &delivery, &shop, limit, env.now)?
                }
                None => reminders::dispatch_all(env.store, &delivery, limit, env.now)?,
            };
            Ok(json_response(200, &report))
        }
        ("GET", "/api/reminders/stats") => {
            let shop = call.shop()?;
            let (after, limit) = paging(req, PRODUCT_PAGE)?;
            let overall = reminders::stats(env.store, &shop.id, None)?;
            let (products, next_cursor) =
                reminders::product_stats(env.store, &shop.id, after, limit)?;
            Ok(json_response(
                200,
                &StatsPage {
                    overall,
                    products,
                    next_cursor,
                },
            ))
        }
        (method, "/r/u/{token}") => unsubscribe_link(env, log, method, call.param("token")),
        _ => Err(ApiError::unknown_route()),
    }
}

/// The unsubscribe link every message carries: opening it shows one button (a preview or a
/// link scanner must not unsubscribe anyone); pressing it withdraws marketing consent.
fn unsubscribe_link(
    env: &Env,
    log: &mut RequestLog,
    method: &str,
    token: &str,
) -> Result<Response, ApiError> {
    let pepper = env.secrets.pepper()?;
    let found = reminders::parse_unsubscribe_token(pepper, token).and_then(|(shop, customer)| {
        crate::shops::load_shop(env.store, &shop)
            .ok()
            .map(|s| (s, customer))
    });
    let Some((shop, customer)) = found else {
        return Ok(message_page(
            404,
            "链接无效 · Link not valid",
            "这个退订链接无效。This unsubscribe link is not valid.",
        ));
    };
    log.shop = Some(shop.id.to_string());
    // In the shop's branding, saying what stops and from whom.
    let name = escape(shop.branding.display_name.as_deref().unwrap_or(&shop.name));
    if method == "GET" {
        // A link opened by a preview or a scanner must not unsubscribe: one button.
        let body = format!(
            "<h1>退订 {name} 的营销消息<span class=\"en\" lang=\"en\">Unsubscribe from {name}'s marketing</span></h1>\
             <p>退订后，{name} 将不再通过短信或消息向您发送优惠和复购提醒，已计划的提醒也会取消。订单相关的通知不受影响。\
             <span class=\"en\" lang=\"en\">{name} will stop sending you offers and repurchase reminders by SMS or \
             message, and cancel the reminders already planned. Messages about your orders are not affected.</span></p>\
             <form method=\"post\"><button type=\"submit\">不再接收营销消息 · <span lang=\"en\">Stop marketing messages</span></button></form>"
        );
        return Ok(page(200, &shop, "退订 · Unsubscribe", &body));
    }
    customer_changed::unsubscribe(env.store, &shop, &customer, env.now)?;
    let body = format!(
        "<h1>已退订<span class=\"en\" lang=\"en\">Unsubscribed</span></h1>\
         <p>{name} 不会再向您发送优惠和复购提醒。下次留资时，您可以重新选择接收。\
         <span class=\"en\" lang=\"en\">{name} will send you no more offers or repurchase reminders. You can opt in \
         again the next time you sign up.</span></p>"
    );
    Ok(page(200, &shop, "已退订 · Unsubscribed", &body))
}
