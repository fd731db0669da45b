//! HTTP plumbing shared by every component: the request environment, body parsing,
//! JSON answers, the access log and the single place errors become responses.

use std::time::Instant;

use jiff::Timestamp;
use schemars::{JsonSchema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ErrorBody, ErrorCode, ErrorDetail};
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
            _ => Err(ApiError::misconfigured(
                "the pii_pepper variable (16 characters or more)",
            )),
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

/// Outgoing HTTP as Siyu needs it: POST a body with headers, learn the status.
pub trait Outbound {
    /// The response status, or why no response came (refused, unreachable, timed out).
    fn post(&self, url: &str, headers: &[(String, String)], body: &[u8]) -> Result<u16, String>;
}

/// For environments that send nothing (every component but the one that delivers).
pub struct NoOutbound;

impl Outbound for NoOutbound {
    fn post(&self, _: &str, _: &[(String, String)], _: &[u8]) -> Result<u16, String> {
        Err("this component makes no outbound requests".into())
    }
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
    let (response, error_code) = match result {
        Ok(response) => (response, None),
        Err(err) => (error_response(&err), Some(err.code.as_str())),
    };
    eprintln!(
        "{}",
        access_log_line(req, &log, response.status().as_u16(), error_code, started)
    );
    response
}

/// One JSON line per request: the route pattern, never the raw path, query, headers or body,
/// which may hold secrets or personal data.
fn access_log_line(
    req: &Request,
    log: &RequestLog,
    status: u16,
    error_code: Option<&str>,
    started: Instant,
) -> String {
    serde_json::json!({
        "method": req.method().as_str(),
        "route": log.route,
        "shop": log.shop,
        "status": status,
        "error": error_code,
        "duration_us": started.elapsed().as_micros() as u64,
    })
    .to_string()
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
            ApiError::bad_request(
                ErrorCode::InvalidQuery,
                format!("{name} must be a non-negative integer"),
            )
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
    parse_json(req.body())
}

/// Parses JSON into `T` as its published schema has it: besides what serde checks, an array
/// is refused where the schema wants an object (serde would fill a struct from an array by
/// position).
pub fn parse_json<T: DeserializeOwned + JsonSchema>(bytes: &[u8]) -> Result<T, ApiError> {
    if std::str::from_utf8(bytes).is_err() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidEncoding,
            "the body must be UTF-8 JSON",
        ));
    }
    // The schema costs tens of microseconds to make: only a body with an array needs it.
    if bytes.contains(&b'[') {
        let value: Value = serde_json::from_slice(bytes).map_err(json_error)?;
        let schema = SchemaGenerator::default().into_root_schema_for::<T>();
        let root = schema.as_value();
        if let Some(path) = misplaced_array(&value, root, root, "body") {
            return Err(ApiError::invalid(format!("{path} must not be an array")));
        }
    }
    // From the bytes, not the parsed value: serde then refuses duplicate fields, which a
    // parsed object has already collapsed to the last.
    serde_json::from_slice(bytes).map_err(json_error)
}

/// 400 for text that is not JSON, 422 for JSON of the wrong shape.
fn json_error(err: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Data => ApiError::invalid(err.to_string()),
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request(ErrorCode::InvalidJson, err.to_string())
        }
    }
}

/// The path of the first array in `value` where `schema` takes no array.
fn misplaced_array(value: &Value, schema: &Value, root: &Value, path: &str) -> Option<String> {
    match value {
        Value::Array(items) => {
            if !accepts_array(schema, root, 0) {
                return Some(path.to_string());
            }
            let items_schema = single(schema, root, 0, &|s| s.get("items"))?;
            items.iter().enumerate().find_map(|(i, item)| {
                misplaced_array(item, items_schema, root, &format!("{path}[{i}]"))
            })
        }
        Value::Object(fields) => {
            let object = single(schema, root, 0, &|s| {
                (s.get("properties").is_some() || s.get("additionalProperties").is_some())
                    .then_some(s)
            })?;
            fields.iter().find_map(|(name, field)| {
                let field_schema = object
                    .get("properties")
                    .and_then(|p| p.get(name))
                    .or_else(|| object.get("additionalProperties").filter(|a| a.is_object()))?;
                misplaced_array(field, field_schema, root, &format!("{path}.{name}"))
            })
        }
        _ => None,
    }
}

/// Follows `$ref`s within the root schema.
fn resolve<'s>(schema: &'s Value, root: &'s Value) -> &'s Value {
    let mut schema = schema;
    for _ in 0..16 {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => match root.pointer(r.trim_start_matches('#')) {
                Some(target) => schema = target,
                None => break,
            },
            None => break,
        }
    }
    schema
}

const ALTERNATIVES: [&str; 2] = ["anyOf", "oneOf"];

fn accepts_array(schema: &Value, root: &Value, depth: usize) -> bool {
    let schema = resolve(schema, root);
    if depth > 16 || schema.as_bool().is_some() {
        return true;
    }
    if let Some(kind) = schema.get("type") {
        return match kind {
            Value::String(t) => t == "array",
            Value::Array(ts) => ts.iter().any(|t| t == "array"),
            _ => true,
        };
    }
    match ALTERNATIVES.iter().find_map(|k| schema.get(*k)?.as_array()) {
        Some(alternatives) => alternatives
            .iter()
            .any(|a| accepts_array(a, root, depth + 1)),
        None => true,
    }
}

/// The one schema among `schema` and its alternatives for which `pick` gives something.
fn single<'s>(
    schema: &'s Value,
    root: &'s Value,
    depth: usize,
    pick: &dyn Fn(&'s Value) -> Option<&'s Value>,
) -> Option<&'s Value> {
    let schema = resolve(schema, root);
    if let Some(found) = pick(schema) {
        return Some(found);
    }
    if depth > 16 {
        return None;
    }
    let alternatives = ALTERNATIVES
        .iter()
        .find_map(|k| schema.get(*k)?.as_array())?;
    let mut found = alternatives
        .iter()
        .filter_map(|a| single(a, root, depth + 1, pick));
    match (found.next(), found.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
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
        _ => Err(ApiError::bad_request(
            ErrorCode::MissingHost,
            "the request names no host to build links from",
        )),
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
        let line = access_log_line(&req, &log, 200, None, Instant::now());
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["route"], "/api/customers");
        assert_eq!(parsed["status"], 200);
        for secret in ["8613812345678", "secret", "mei@example.com", "phone"] {
            assert!(!line.contains(secret), "{line}");
        }
    }

    #[derive(Debug, serde::Deserialize, JsonSchema)]
    #[allow(dead_code)] // Fields are read by the schema and by serde, not by the test.
    struct Inner {
        a: Option<String>,
        b: Option<String>,
    }

    #[derive(Debug, serde::Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Outer {
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        list: Vec<Inner>,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[test]
    fn arrays_are_refused_where_objects_belong() {
        let refused = |body: &str| parse_json::<Outer>(body.as_bytes()).unwrap_err();
        for (body, path) in [
            ("[null, null, null]", "body"),
            (r#"{"inner": ["x", "y"]}"#, "body.inner"),
            (r#"{"list": [{"a": "x"}, ["y"]]}"#, "body.list[1]"),
        ] {
            let err = refused(body);
            assert_eq!(err.status, 422, "{body}");
            assert_eq!(err.message, format!("{path} must not be an array"));
        }
        let ok =
            parse_json::<Outer>(br#"{"inner": {"a": "x"}, "list": [{"b": "y"}], "tags": ["t"]}"#)
                .unwrap();
        assert_eq!((ok.list.len(), ok.tags.len()), (1, 1));
        assert_eq!(refused("{").status, 400);
        assert_eq!(
            refused(r#"{"list": [], "list": [{"a": "x"}]}"#).status,
            422,
            "duplicate field"
        );
        assert_eq!(refused(r#"{"tags": []} trailing"#).status, 400);
        assert_eq!(refused(r#"{"tags": "t"}"#).status, 422);
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
