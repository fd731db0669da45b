//! The `jobs` component: the scheduler's one call for every shop's periodic work, the
//! deployment's status for its operator, and the health check.

use http::Method;
use schemars::JsonSchema;
use serde::Serialize;

use super::accept;
use super::router::{Access, Operation};
use crate::domain::ShopId;
use crate::error::Error;
use crate::jobs::status::{self, RunSource, SchedulerStatus, ShopStatus};
use crate::jobs::{self, JobsReport, Scheduler};
use crate::web::ApiError;
use crate::web::{json_response, query_param, with_header, Env, Request, RequestLog, Response};

pub static OPERATIONS: &[Operation] = &[
    Operation {
        method: Method::POST,
        path: "/api/jobs/run",
        summary: "Run every shop's due periodic work (the scheduler calls this every minute)",
        access: Access::Scheduler,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.text("For every shop: the daily tagging pass, due reminders and their retries, unfinished redactions, expired rate-limit and verification records. Each shop gets a share of the call; a call stops starting work after `jobs_budget_seconds` (20 by default) and the next call goes on where it stopped. Two calls at once never work on the same shop.");
            d.reply::<JobsReport>(200, "What was done, and whether the call caught up.");
        },
    },
    Operation {
        method: Method::GET,
        path: "/api/jobs/run",
        summary: "The same, for a cron that can only send a GET (`spin aka cron`)",
        access: Access::Public,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.query::<String>("key", "The cron key: `cron_path` in `GET /api/status` gives the whole path. Derived from the scheduler token, which never goes in a URL.");
            d.reply::<JobsReport>(200, "What was done, and whether the call caught up.");
            d.errors(&[401]);
        },
    },
    Operation {
        method: Method::GET,
        path: "/api/status",
        summary: "The scheduler's and the store's status (operator)",
        access: Access::Operator,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.query::<String>("shop", "Also this shop's jobs and live backlog.");
            d.reply::<DeploymentStatus>(
                200,
                "When the jobs last ran, how long they took, what waits.",
            );
            d.errors(&[404]);
        },
    },
    Operation {
        method: Method::GET,
        path: "/healthz",
        summary: "Whether the app and its store answer (no authentication)",
        access: Access::Public,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.reply::<Health>(200, "The store answered.");
            d.reply::<Health>(503, "The store did not answer.");
        },
    },
];

/// `/healthz`: what answers, and what it runs on.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Health {
    /// `ok`, or `store_unavailable`.
    pub status: &'static str,
    /// `spin-kv`, `redis` or `sqlite`.
    pub store: &'static str,
    pub version: &'static str,
}

/// `/api/status`: the deployment's scheduler as its calls left it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DeploymentStatus {
    pub version: &'static str,
    pub store: &'static str,
    /// Shops the deployment has (closed ones included).
    pub shops: i64,
    /// Whether ordinary requests run the periodic work (`self_schedule`).
    pub self_schedule: bool,
    pub scheduler: SchedulerStatus,
    /// Seconds since any call last ran; null when none ever did.
    pub seconds_since_last_call: Option<i64>,
    /// What a cron that can only send a GET calls (`spin aka cron create -p …`), with the
    /// cron key; null when no scheduler token is set.
    pub cron_path: Option<String>,
    /// With `?shop=`: that shop's jobs and its backlog now.
    pub shop: Option<ShopStatus>,
}

/// Answers about now, and runs of work: never kept by a cache or CDN on the way.
fn no_store(response: Response) -> Response {
    with_header(response, "cache-control", "no-store")
}

pub fn handle(req: &Request, env: &Env, log: &mut RequestLog) -> Result<Response, ApiError> {
    let call = accept(req, env, log, OPERATIONS)?;
    match call.operation() {
        (method @ ("POST" | "GET"), "/api/jobs/run") => {
            if method == "GET" {
                let key = query_param(req, "key").unwrap_or_default();
                if !env.secrets.is_scheduler_cron_key(&key) {
                    return Err(ApiError::from(Error::unauthorized(format!(
                        "this route needs the cron key as ?key= (GET /api/status shows cron_path){}",
                        env.secrets.token_note("scheduler_token")
                    ))));
                }
            }
            let pepper = env.secrets.pepper()?;
            // A key in a URL may leak (a platform's logs): whoever holds it must not choose
            // where links in customers' messages point, so the GET needs `public_url`.
            let origin = if method == "GET" {
                env.deployment.background_links_origin(req).ok_or_else(|| {
                    ApiError::from(Error::misconfigured(
                        "the public_url variable (the cron's GET builds links only from it)",
                    ))
                })?
            } else {
                env.deployment.links_origin(req)?
            };
            let report = jobs::run(&Scheduler {
                store: env.store,
                outbound: env.outbound,
                pepper,
                origin: &origin,
                allow_private: env.deployment.allow_private_delivery,
                budget: env.deployment.jobs_budget,
                now: env.now,
                source: RunSource::Scheduler,
            })?;
            Ok(no_store(json_response(200, &report)))
        }
        ("GET", "/api/status") => {
            let shop = match query_param(req, "shop") {
                Some(id) => {
                    let id = ShopId::parse(&id)
                        .ok_or_else(|| ApiError::from(Error::not_found("shop")))?;
                    crate::shops::load_shop(env.store, &id)?;
                    log.shop = Some(id.to_string());
                    Some(status::shop_status(env.store, &id, env.now)?)
                }
                None => None,
            };
            let scheduler = status::scheduler(env.store)?;
            let last = [
                scheduler.last_scheduler_call_at,
                scheduler.last_background_call_at,
            ]
            .into_iter()
            .flatten()
            .max();
            Ok(no_store(json_response(
                200,
                &DeploymentStatus {
                    version: env!("CARGO_PKG_VERSION"),
                    store: env.deployment.store_kind,
                    shops: env.store.counter(crate::keys::SHOPS_COUNTER)?,
                    self_schedule: env.deployment.self_schedule,
                    seconds_since_last_call: last.map(|t| env.now.duration_since(t).as_secs()),
                    cron_path: env
                        .secrets
                        .scheduler_cron_key()
                        .map(|key| format!("/api/jobs/run?key={key}")),
                    scheduler,
                    shop,
                },
            )))
        }
        ("GET", "/healthz") => {
            let answered = env.store.get(crate::keys::JOBS_STATUS).is_ok();
            let health = Health {
                status: if answered { "ok" } else { "store_unavailable" },
                store: env.deployment.store_kind,
                version: env!("CARGO_PKG_VERSION"),
            };
            Ok(no_store(json_response(
                if answered { 200 } else { 503 },
                &health,
            )))
        }
        _ => Err(ApiError::unknown_route()),
    }
}
