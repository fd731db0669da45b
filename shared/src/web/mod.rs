//! HTTP plumbing shared by every component: the request environment, query and header
//! reading, JSON answers, the access log and the single place errors become responses.

pub mod client;
mod error;

pub use client::{ClientAddress, ClientAddressing};
pub use error::{ApiError, ErrorBody, ErrorDetail};

use std::time::Instant;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::error::{Error, ErrorCode};
use crate::outbound::Outbound;
use crate::store::Store;

pub type Request = http::Request<Vec<u8>>;
pub type Response = http::Response<Vec<u8>>;

/// Bodies larger than this are refused before any parsing.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The development values `spin.toml` ships for local runs. They are published, so the app
/// refuses them from any client that is not on this machine (`Secrets::for_client`); the
/// production manifests declare the secrets `required` with no default at all.
pub const DEV_PEPPER: &str = "dev-only-pepper-change-me";
pub const DEV_OPERATOR_TOKEN: &str = "dev-operator-token";
pub const DEV_SCHEDULER_TOKEN: &str = "dev-scheduler-token";

/// Secrets the components read from Spin variables.
#[derive(Clone, Default)]
pub struct Secrets {
    pub operator_token: Option<String>,
    pub pii_pepper: Option<String>,
    /// Authorises the scheduler's calls (reminder dispatch, redaction).
    pub scheduler_token: Option<String>,
    /// Secrets set to their published development value and refused for this request.
    refused: Vec<&'static str>,
}

impl Secrets {
    pub fn new(
        operator_token: Option<String>,
        pii_pepper: Option<String>,
        scheduler_token: Option<String>,
    ) -> Self {
        Self {
            operator_token,
            pii_pepper,
            scheduler_token,
            refused: Vec::new(),
        }
    }

    /// Whether any secret still holds its published development value.
    pub fn uses_dev_values(&self) -> bool {
        self.operator_token.as_deref() == Some(DEV_OPERATOR_TOKEN)
            || self.pii_pepper.as_deref() == Some(DEV_PEPPER)
            || self.scheduler_token.as_deref() == Some(DEV_SCHEDULER_TOKEN)
    }

    /// The secrets a request from this client may use: published development values only
    /// from this machine (loopback). Elsewhere they count as unset, so nothing is authorised
    /// by a token anyone can read and no hash or link is made with a pepper anyone can read.
    pub fn for_client(&self, loopback: bool) -> Secrets {
        let mut secrets = self.clone();
        if loopback {
            return secrets;
        }
        for (value, dev, name) in [
            (
                &mut secrets.operator_token,
                DEV_OPERATOR_TOKEN,
                "operator_token",
            ),
            (&mut secrets.pii_pepper, DEV_PEPPER, "pii_pepper"),
            (
                &mut secrets.scheduler_token,
                DEV_SCHEDULER_TOKEN,
                "scheduler_token",
            ),
        ] {
            if value.as_deref() == Some(dev) {
                *value = None;
                secrets.refused.push(name);
            }
        }
        secrets
    }

    fn refused_note(&self, name: &str) -> &'static str {
        if self.refused.contains(&name) {
            " (it is set to the published development value, which is accepted only from this machine: set your own)"
        } else {
            ""
        }
    }

    pub fn pepper(&self) -> Result<&[u8], ApiError> {
        match self.pii_pepper.as_deref() {
            Some(p) if p.len() >= 16 => Ok(p.as_bytes()),
            _ => Err(ApiError::from(Error::misconfigured(&format!(
                "the pii_pepper variable (16 characters or more){}",
                self.refused_note("pii_pepper")
            )))),
        }
    }

    /// Constant-time check of the scheduler's bearer token.
    pub fn is_scheduler(&self, presented: &str) -> bool {
        same_token(self.scheduler_token.as_deref(), presented)
    }

    /// The key a cron that can only send a plain GET (`spin aka cron`) presents in the query
    /// of `GET /api/jobs/run`: derived from the scheduler token, so the token itself is never
    /// in a URL, and good for nothing but running the due work.
    pub fn scheduler_cron_key(&self) -> Option<String> {
        let token = self.scheduler_token.as_deref().filter(|t| !t.is_empty())?;
        let mac = crate::crypto::hmac_sha256(token.as_bytes(), &[b"siyu-jobs-cron"]);
        Some(hex::encode(&mac[..16]))
    }

    /// Constant-time check of the cron key.
    pub fn is_scheduler_cron_key(&self, presented: &str) -> bool {
        same_token(self.scheduler_cron_key().as_deref(), presented)
    }

    /// Constant-time check of an operator bearer token.
    pub fn is_operator(&self, presented: &str) -> bool {
        same_token(self.operator_token.as_deref(), presented)
    }

    /// Why a token was not accepted, for the 401's message.
    pub fn token_note(&self, name: &str) -> &'static str {
        self.refused_note(name)
    }
}
fn same_token(expected: Option<&str>, presented: &str) -> bool {
    match expected {
        Some(token) if !token.is_empty() => {
            bool::from(token.as_bytes().ct_eq(presented.as_bytes()))
        }
        _ => false,
    }
}

/// How this deployment is set up, from Spin variables: where clients' addresses come from
/// and where deliveries may go.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub client_addressing: ClientAddressing,
    /// Delivery URLs may name loopback and private addresses (a local SMS gateway, tests);
    /// `allow_private_delivery`, on in spin.toml, off in the production manifests.
    pub allow_private_delivery: bool,
    /// Which store this build keeps data in (`/healthz` says): `spin-kv`, `redis`, `sqlite`.
    pub store_kind: &'static str,
    /// `public_url`: where links in messages point when the scheduler calls from inside the
    /// cluster; None: the address the request came to.
    pub public_url: Option<String>,
    /// `jobs_budget_seconds`: how long one scheduler call may start new work.
    pub jobs_budget: std::time::Duration,
    /// `self_schedule`: ordinary requests run the periodic work (`jobs::background`).
    pub self_schedule: bool,
}

/// What `jobs_budget_seconds` is when unset: inside the 30 s Fermyon Cloud and Akamai
/// Functions allow a request, with a delivery's timeout and the answer after it.
pub const DEFAULT_JOBS_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

impl Default for Deployment {
    fn default() -> Self {
        Deployment {
            client_addressing: ClientAddressing::default(),
            allow_private_delivery: false,
            store_kind: "memory",
            public_url: None,
            jobs_budget: DEFAULT_JOBS_BUDGET,
            self_schedule: false,
        }
    }
}

impl Deployment {
    /// The links' origin: `public_url` when set, else the address the request came to.
    pub fn links_origin(&self, req: &Request) -> Result<String, ApiError> {
        match &self.public_url {
            Some(url) => Ok(url.trim_end_matches('/').to_string()),
            None => public_origin(req),
        }
    }

    /// The links' origin for work a request sets off but does not ask for (the background
    /// slice): `public_url`, or else the request's own address only if it names this
    /// machine. Anyone can send a request with any Host, and links built from it would go
    /// to customers in other shops' messages.
    pub fn background_links_origin(&self, req: &Request) -> Option<String> {
        if let Some(url) = &self.public_url {
            return Some(url.trim_end_matches('/').to_string());
        }
        let origin = public_origin(req).ok()?;
        let host = origin
            .parse::<http::Uri>()
            .ok()?
            .host()?
            .to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        loopback.then_some(origin)
    }

    /// The secrets `req` may use. Published development secrets work only for this
    /// machine's own requests; one that a proxy or tunnel on this machine forwarded (it says
    /// so in a forwarding header) comes from elsewhere, though its connection is loopback.
    pub fn secrets_for(&self, secrets: &Secrets, req: &Request) -> Secrets {
        let loopback = self
            .client_addressing
            .client(req)
            .is_some_and(ClientAddress::is_loopback)
            && !FORWARDING_HEADERS
                .iter()
                .any(|h| req.headers().contains_key(*h));
        secrets.for_client(loopback)
    }

    /// `jobs_budget_seconds` read: between 1 and 600 seconds, else the default.
    pub fn jobs_budget_from(variable: Option<&str>) -> std::time::Duration {
        variable
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|s| (1..=600).contains(s))
            .map_or(DEFAULT_JOBS_BUDGET, std::time::Duration::from_secs)
    }
}

/// Everything a handler may use besides the request.
pub struct Env<'a> {
    pub store: &'a dyn Store,
    pub secrets: &'a Secrets,
    pub now: Timestamp,
    /// Outgoing HTTP (reminder deliveries); only to the hosts the component may reach.
    pub outbound: &'a dyn Outbound,
    pub deployment: &'a Deployment,
}

impl Env<'_> {
    /// The way messages leave this deployment.
    pub fn courier(&self) -> crate::outbound::Courier<'_> {
        crate::outbound::Courier {
            outbound: self.outbound,
            allow_private: self.deployment.allow_private_delivery,
        }
    }

    /// The client's address as this deployment learns it (see `web::client`).
    pub fn client(&self, req: &Request) -> Option<ClientAddress> {
        self.deployment.client_addressing.client(req)
    }

    /// What per-client limits count by: the client's bucket, or one shared bucket for
    /// requests whose address nobody named (never the case under Spin).
    pub fn client_bucket(&self, req: &Request) -> String {
        self.client(req)
            .map(ClientAddress::bucket)
            .unwrap_or_else(|| "unknown".to_string())
    }
}

/// Fields of the access log line that the handler fills in as it learns them.
#[derive(Default)]
pub struct RequestLog {
    pub route: &'static str,
    pub shop: Option<String>,
}

/// The header every answer names its request by (also in error bodies and the access log).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

pub type Handler = fn(&Request, &Env, &mut RequestLog) -> Result<Response, ApiError>;

/// Headers a proxy, load balancer or tunnel adds to what it forwards.
const FORWARDING_HEADERS: [&str; 6] = [
    "forwarded",
    "x-forwarded-for",
    "x-real-ip",
    "cf-connecting-ip",
    "true-client-ip",
    "x-forwarded-host",
];

/// Runs a handler: refuses oversized bodies, maps errors to JSON, writes one log line.
pub fn serve(req: &Request, env: &Env, component: &str, handler: Handler) -> Response {
    let started = Instant::now();
    let request_id = crate::domain::ids::random_id(16);
    let mut log = RequestLog {
        route: "unmatched",
        shop: None,
    };
    let secrets = env.deployment.secrets_for(env.secrets, req);
    let env = &Env {
        secrets: &secrets,
        ..*env
    };
    let result = if req.body().len() > MAX_BODY_BYTES {
        Err(ApiError::payload_too_large(MAX_BODY_BYTES))
    } else {
        handler(req, env, &mut log)
    };
    let (mut response, error) = match result {
        Ok(response) => (response, None),
        Err(err) => (error_response_for(&err, Some(&request_id)), Some(err)),
    };
    if let Ok(value) = http::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let status = response.status().as_u16();
    let dev_secrets = env.secrets.uses_dev_values();
    let line = AccessLine {
        component,
        request_id: &request_id,
        status,
        error: error.as_ref(),
        started,
        dev_secrets,
    };
    eprintln!("{}", access_log_line(req, &log, &line));
    response
}

/// What the access log says of a request besides its route and shop.
struct AccessLine<'a> {
    component: &'a str,
    request_id: &'a str,
    status: u16,
    error: Option<&'a ApiError>,
    started: Instant,
    dev_secrets: bool,
}

/// One JSON line per request: the route pattern, never the raw path, query, headers or body,
/// which may hold secrets or personal data.
fn access_log_line(req: &Request, log: &RequestLog, a: &AccessLine) -> String {
    let mut line = serde_json::json!({
        "component": a.component,
        "request_id": a.request_id,
        "method": req.method().as_str(),
        "route": log.route,
        "shop": log.shop,
        "status": a.status,
        "error": a.error.map(|e| e.code.as_str()),
        "duration_us": a.started.elapsed().as_micros() as u64,
    });
    if let Some(detail) = a.error.and_then(|e| e.detail.as_deref()) {
        line["detail"] = detail.into();
    }
    if a.dev_secrets {
        line["warning"] = "published development secrets in use: local development only".into();
    }
    line.to_string()
}

/// A response with a body of `content_type`: the one place responses are built. Statuses
/// and header values come from Siyu's own code; one that were invalid would be dropped (an
/// invalid status becomes 500) rather than trap.
pub fn body_response(status: u16, content_type: &str, body: Vec<u8>) -> Response {
    let mut response = http::Response::new(body);
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    with_header(response, "content-type", content_type)
}

/// Adds a header, skipping a value that is not a valid header value.
pub fn with_header(mut response: Response, name: &'static str, value: &str) -> Response {
    if let Ok(value) = http::HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
    response
}

pub fn json_response<T: Serialize>(status: u16, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    body_response(status, "application/json", bytes)
}

/// A page for people, never cached (scan and form answers change with the channel).
pub fn html_response(status: u16, html: String) -> Response {
    let response = body_response(status, "text/html; charset=utf-8", html.into_bytes());
    with_header(response, "cache-control", "no-store")
}

/// A small page for people (not programs): a title and a line of text, given as trusted
/// HTML (callers escape what they did not write).
pub fn message_page(status: u16, title: &str, text: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>body{{font-family:system-ui,sans-serif;margin:3rem 1.5rem;\
         color:#333;text-align:center}}h1{{font-size:1.3rem}}</style></head>\
         <body><h1>{title}</h1><p>{text}</p></body></html>"
    );
    html_response(status, html)
}

pub fn text_response(status: u16, text: String) -> Response {
    body_response(status, "text/plain; charset=utf-8", text.into_bytes())
}

pub fn error_response(err: &ApiError) -> Response {
    error_response_for(err, None)
}

/// The error's answer, naming the request it answers.
fn error_response_for(err: &ApiError, request_id: Option<&str>) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: err.code,
            message: err.message.clone(),
            request_id: request_id.map(str::to_string),
        },
    };
    let mut response = json_response(err.status, &body);
    if err.status == 503 {
        response
            .headers_mut()
            .insert("retry-after", http::HeaderValue::from_static("1"));
    }
    if let Some(allow) = &err.allow {
        response = with_header(response, "allow", allow);
    }
    response
}

/// Path segments without empty ones: `/api/customers/c1` → `["api", "customers", "c1"]`.
pub fn segments(req: &Request) -> Vec<&str> {
    req.uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

pub fn query_param(req: &Request, name: &str) -> Option<String> {
    let query = req.uri().query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A non-negative whole number from the query, `default` when absent, 400 when malformed.
pub fn query_number(req: &Request, name: &str, default: i64) -> Result<i64, ApiError> {
    match query_param(req, name) {
        None => Ok(default),
        Some(text) => text.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            ApiError::from(Error::malformed(
                ErrorCode::InvalidQuery,
                format!("{name} must be a non-negative integer"),
            ))
        }),
    }
}

/// A page or batch size from the query: `default` when absent, clamped to 1..=`max`. One
/// value per list serves both the handler that reads it and the document that states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub default: i64,
    pub max: i64,
}

impl Limit {
    pub const fn new(default: i64, max: i64) -> Self {
        Self { default, max }
    }

    pub fn read(self, req: &Request, name: &str) -> Result<usize, ApiError> {
        Ok(query_number(req, name, self.default)?.clamp(1, self.max) as usize)
    }
}

/// `?cursor=&limit=` of a paged list: where to continue, and the page size.
pub fn paging(req: &Request, limit: Limit) -> Result<(i64, usize), ApiError> {
    let after = query_number(req, "cursor", 0)?;
    Ok((after, limit.read(req, "limit")?))
}

pub fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

pub fn bearer_token(req: &Request) -> Option<&str> {
    let value = header(req, "authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Parses a JSON body into `T`, answering 400 for malformed JSON and 422 for wrong shapes.
pub fn json_body<T: DeserializeOwned + JsonSchema>(req: &Request) -> Result<T, ApiError> {
    Ok(crate::json::parse_json(req.body())?)
}

/// The origin people reach this deployment at: from Spin's `spin-full-url`, else `Host`.
pub fn public_origin(req: &Request) -> Result<String, ApiError> {
    if let Some(uri) = header(req, "spin-full-url").and_then(|u| u.parse::<http::Uri>().ok()) {
        if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
            return Ok(format!("{scheme}://{authority}"));
        }
    }
    match header(req, "host") {
        Some(host) if host.parse::<http::uri::Authority>().is_ok() => Ok(format!("https://{host}")),
        _ => Err(ApiError::from(Error::malformed(
            ErrorCode::MissingHost,
            "the request names no host to build links from",
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_links_name_this_machine_or_the_public_url_never_a_sent_host() {
        let at = |url: &str| {
            http::Request::builder()
                .uri("/q/x")
                .header("spin-full-url", url)
                .body(Vec::new())
                .unwrap()
        };
        let local = Deployment::default();
        assert_eq!(
            local.background_links_origin(&at("http://127.0.0.1:3000/q/x")),
            Some("http://127.0.0.1:3000".to_string())
        );
        assert_eq!(
            local.background_links_origin(&at("http://localhost:3000/q/x")),
            Some("http://localhost:3000".to_string())
        );
        assert_eq!(
            local.background_links_origin(&at("http://[::1]:3000/q/x")),
            Some("http://[::1]:3000".to_string())
        );
        assert_eq!(
            local.background_links_origin(&at("http://evil.example/q/x")),
            None
        );
        let public = Deployment {
            public_url: Some("https://siyu.example.com/".into()),
            ..Deployment::default()
        };
        assert_eq!(
            public.background_links_origin(&at("http://evil.example/q/x")),
            Some("https://siyu.example.com".to_string())
        );
    }

    #[test]
    fn access_log_lines_hold_no_query_or_secrets() {
        let req = http::Request::builder()
            .uri("/api/customers?phone=%2B8613812345678")
            .header("authorization", "Bearer siyu_shp_x_secret")
            .body(b"{\"email\":\"mei@example.com\"}".to_vec())
            .unwrap();
        let log = RequestLog {
            route: "/api/customers",
            shop: Some("shp_abc".into()),
        };
        let failed = ApiError::from(crate::error::Error::internal("order record vanished"));
        let mut access = AccessLine {
            component: "customers",
            request_id: "r1",
            status: 500,
            error: Some(&failed),
            started: Instant::now(),
            dev_secrets: false,
        };
        let failed_line = access_log_line(&req, &log, &access);
        let parsed: serde_json::Value = serde_json::from_str(&failed_line).unwrap();
        assert_eq!(parsed["error"], "internal");
        assert_eq!(parsed["detail"], "order record vanished");
        access.status = 200;
        access.error = None;
        let line = access_log_line(&req, &log, &access);
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["route"], "/api/customers");
        assert_eq!(parsed["status"], 200);
        assert_eq!(parsed["component"], "customers");
        assert_eq!(parsed["request_id"], "r1");
        for secret in ["8613812345678", "secret", "mei@example.com", "phone"] {
            assert!(!line.contains(secret), "{line}");
        }
    }

    #[test]
    fn limits_default_clamp_and_refuse_what_is_not_a_number() {
        let read = |query: &str| {
            let req = http::Request::builder()
                .uri(format!("/api/tags{query}"))
                .body(Vec::new())
                .unwrap();
            paging(&req, Limit::new(50, 200))
        };
        assert_eq!(read("").unwrap(), (0, 50));
        assert_eq!(read("?cursor=7&limit=0").unwrap(), (7, 1));
        assert_eq!(read("?limit=100000").unwrap(), (0, 200));
        for bad in ["?limit=-1", "?limit=ten", "?cursor=1.5"] {
            assert_eq!(
                read(bad).unwrap_err().code,
                ErrorCode::InvalidQuery,
                "{bad}"
            );
        }
    }

    #[test]
    fn published_development_secrets_serve_loopback_only() {
        let dev = Secrets::new(
            Some(DEV_OPERATOR_TOKEN.into()),
            Some(DEV_PEPPER.into()),
            Some(DEV_SCHEDULER_TOKEN.into()),
        );
        assert!(dev.uses_dev_values());
        let local = dev.for_client(true);
        assert!(local.is_operator(DEV_OPERATOR_TOKEN));
        assert!(local.is_scheduler(DEV_SCHEDULER_TOKEN));
        assert!(local.pepper().is_ok());

        let remote = dev.for_client(false);
        assert!(!remote.is_operator(DEV_OPERATOR_TOKEN));
        assert!(!remote.is_scheduler(DEV_SCHEDULER_TOKEN));
        let refused = remote.pepper().unwrap_err();
        assert!(format!("{refused:?}").contains("published development value"));
        assert!(remote
            .token_note("operator_token")
            .contains("only from this machine"));

        // A deployment's own secrets serve every client, and say nothing.
        let own = Secrets::new(
            Some("op-7f3a9c1e5b2d4f60".into()),
            Some("pepper-0b9e8d7c6a5f4e3d".into()),
            None,
        );
        let remote = own.for_client(false);
        assert!(!own.uses_dev_values());
        assert!(remote.is_operator("op-7f3a9c1e5b2d4f60"));
        assert!(remote.pepper().is_ok());
        assert_eq!(remote.token_note("operator_token"), "");
        // An unset scheduler token authorises nobody, not even an empty bearer.
        assert!(!remote.is_scheduler(""));
    }
}
