//! HTTP plumbing shared by every component: the request environment, query and header
//! reading, JSON answers, the access log and the single place errors become responses.

mod error;

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

/// The pepper shipped in spin.toml for local runs; deployments must override it.
pub const DEV_PEPPER: &str = "dev-only-pepper-change-me";
pub const DEV_OPERATOR_TOKEN: &str = "dev-operator-token";

/// Secrets the components read from Spin variables.
#[derive(Clone, Default)]
pub struct Secrets {
    pub operator_token: Option<String>,
    pub pii_pepper: Option<String>,
    /// Authorises the scheduler's calls (reminder dispatch).
    pub scheduler_token: Option<String>,
}

impl Secrets {
    pub fn pepper(&self) -> Result<&[u8], ApiError> {
        match self.pii_pepper.as_deref() {
            Some(p) if p.len() >= 16 => Ok(p.as_bytes()),
            _ => Err(ApiError::from(Error::misconfigured(
                "the pii_pepper variable (16 characters or more)",
            ))),
        }
    }

    /// Constant-time check of the scheduler's bearer token.
    pub fn is_scheduler(&self, presented: &str) -> bool {
        match self.scheduler_token.as_deref() {
            Some(token) if !token.is_empty() => {
                bool::from(token.as_bytes().ct_eq(presented.as_bytes()))
            }
            _ => false,
        }
    }

    /// Constant-time check of an operator bearer token.
    pub fn is_operator(&self, presented: &str) -> bool {
        match self.operator_token.as_deref() {
            Some(token) if !token.is_empty() => {
                bool::from(token.as_bytes().ct_eq(presented.as_bytes()))
            }
            _ => false,
        }
    }
}

/// Everything a handler may use besides the request.
pub struct Env<'a> {
    pub store: &'a dyn Store,
    pub secrets: &'a Secrets,
    pub now: Timestamp,
    /// Outgoing HTTP (reminder deliveries); only to the hosts the component may reach.
    pub outbound: &'a dyn Outbound,
}

/// Fields of the access log line that the handler fills in as it learns them.
#[derive(Default)]
pub struct RequestLog {
    pub route: &'static str,
    pub shop: Option<String>,
}

pub type Handler = fn(&Request, &Env, &mut RequestLog) -> Result<Response, ApiError>;

/// Runs a handler: refuses oversized bodies, maps errors to JSON, writes one log line.
pub fn serve(req: &Request, env: &Env, handler: Handler) -> Response {
    let started = Instant::now();
    let mut log = RequestLog {
        route: "unmatched",
        shop: None,
    };
    let result = if req.body().len() > MAX_BODY_BYTES {
        Err(ApiError::payload_too_large(MAX_BODY_BYTES))
    } else {
        handler(req, env, &mut log)
    };
    let (response, error) = match result {
        Ok(response) => (response, None),
        Err(err) => (error_response(&err), Some(err)),
    };
    let status = response.status().as_u16();
    eprintln!(
        "{}",
        access_log_line(req, &log, status, error.as_ref(), started)
    );
    response
}

/// One JSON line per request: the route pattern, never the raw path, query, headers or body,
/// which may hold secrets or personal data.
fn access_log_line(
    req: &Request,
    log: &RequestLog,
    status: u16,
    error: Option<&ApiError>,
    started: Instant,
) -> String {
    let mut line = serde_json::json!({
        "method": req.method().as_str(),
        "route": log.route,
        "shop": log.shop,
        "status": status,
        "error": error.map(|e| e.code.as_str()),
        "duration_us": started.elapsed().as_micros() as u64,
    });
    if let Some(detail) = error.and_then(|e| e.detail.as_deref()) {
        line["detail"] = detail.into();
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
    let body = ErrorBody {
        error: ErrorDetail {
            code: err.code,
            message: err.message.clone(),
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
        let failed_line = access_log_line(&req, &log, 500, Some(&failed), Instant::now());
        let parsed: serde_json::Value = serde_json::from_str(&failed_line).unwrap();
        assert_eq!(parsed["error"], "internal");
        assert_eq!(parsed["detail"], "order record vanished");
        let line = access_log_line(&req, &log, 200, None, Instant::now());
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["route"], "/api/customers");
        assert_eq!(parsed["status"], 200);
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
}
