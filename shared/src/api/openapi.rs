//! The OpenAPI 3.1 document of Siyu's HTTP API (`GET /api/openapi.json`), written from the
//! components' operation tables (`api::COMPONENTS`) and the Rust types their bodies are read
//! into and written from (JSON Schema 2020-12 by schemars), so it follows the code.

use std::collections::{BTreeMap, BTreeSet};

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::router::{path_params, Access, Operation};
use super::COMPONENTS;
use crate::web::ErrorBody;
use crate::web::Limit;

const SCHEMAS: &str = "#/components/schemas/";

/// What an operation's `describe` adds to the document, beside what the table says.
pub struct OperationDoc {
    description: Option<String>,
    parameters: Vec<Value>,
    request_body: Option<Map<String, Value>>,
    responses: BTreeMap<u16, Value>,
    errors: BTreeSet<u16>,
    requests: SchemaGenerator,
    replies: SchemaGenerator,
}

impl OperationDoc {
    /// A longer explanation than the summary.
    pub fn text(&mut self, description: &str) {
        self.description = Some(description.to_string());
    }

    /// An optional query parameter read as `T`.
    pub fn query<T: JsonSchema>(&mut self, name: &str, description: &str) {
        let schema = self.requests_schema::<T>();
        self.parameter("query", name, description, false, schema);
    }

    /// A header the operation reads.
    pub fn header(&mut self, name: &str, description: &str, required: bool) {
        let schema = json!({"type": "string"});
        self.parameter("header", name, description, required, schema);
    }

    /// An optional query parameter described by `schema`.
    pub fn query_with(&mut self, name: &str, description: &str, schema: Value) {
        self.parameter("query", name, description, false, schema);
    }

    /// An optional whole-number query parameter (`web::query_number`: 0 to 2^63 − 1).
    pub fn query_number(&mut self, name: &str, description: &str) {
        let schema = json!({"type": "integer", "minimum": 0, "maximum": i64::MAX});
        self.parameter("query", name, description, false, schema);
    }

    /// A size read with `web::Limit`: its default and largest value stated from the same
    /// `Limit` the handler reads.
    pub fn limit(&mut self, name: &str, limit: Limit, what: &str) {
        let (default, max) = (limit.default, limit.max);
        self.query_number(
            name,
            &format!("{what}: {default} when absent; larger values give {max}."),
        );
    }

    /// `?cursor=&limit=` of a paged list (`web::paging`).
    pub fn paging(&mut self, limit: Limit) {
        self.query_number(
            "cursor",
            "Where the previous page ended (its `next_cursor`).",
        );
        self.limit("limit", limit, "Page size");
    }

    /// A JSON body read as `T`.
    pub fn json_body<T: JsonSchema>(&mut self) {
        let schema = self.requests_schema::<T>();
        self.body_as("application/json", schema);
    }

    /// A body of another media type (CSV, a form, XML), described by `schema`.
    pub fn body_as(&mut self, content_type: &str, schema: Value) {
        let body = self.request_body.get_or_insert_with(|| {
            let mut body = Map::new();
            body.insert("required".into(), Value::Bool(true));
            body.insert("content".into(), json!({}));
            body
        });
        body["content"][content_type] = json!({ "schema": schema });
    }

    /// Makes the body optional (e.g. a redaction's first call needs none).
    pub fn optional_body(&mut self) {
        if let Some(body) = self.request_body.as_mut() {
            body.insert("required".into(), Value::Bool(false));
        }
    }

    /// A JSON answer written from `T`.
    pub fn reply<T: JsonSchema>(&mut self, status: u16, description: &str) {
        let schema = self.replies.subschema_for::<T>().to_value();
        self.reply_as(status, description, "application/json", schema);
    }

    /// An answer of another media type (CSV, an image, a page for people).
    pub fn reply_as(&mut self, status: u16, description: &str, content_type: &str, schema: Value) {
        let response = self
            .responses
            .entry(status)
            .or_insert_with(|| json!({"description": description, "content": {}}));
        response["content"][content_type] = json!({ "schema": schema });
    }

    /// An answer that is not JSON (CSV, an image, plain text) of `content_type`.
    pub fn reply_file(&mut self, status: u16, description: &str, content_type: &str) {
        let schema = json!({"type": "string", "contentMediaType": content_type});
        self.reply_as(status, description, content_type, schema);
    }

    /// An HTML page for people (a scan, a form, an unsubscribe link), not for programs.
    pub fn page(&mut self, status: u16, description: &str) {
        self.reply_file(status, description, "text/html");
    }

    /// A redirect (no body).
    pub fn redirect(&mut self, status: u16, description: &str) {
        self.responses.insert(
            status,
            json!({"description": description, "headers": {"Location": {"schema": {"type": "string"}}}}),
        );
    }

    /// A header an answer carries.
    pub fn reply_header(&mut self, status: u16, name: &str, description: &str) {
        if let Some(response) = self.responses.get_mut(&status) {
            response["headers"][name] =
                json!({"description": description, "schema": {"type": "string"}});
        }
    }

    /// Error statuses beyond those the operation's shape implies (see `implied_errors`).
    pub fn errors(&mut self, statuses: &[u16]) {
        self.errors.extend(statuses);
    }

    fn requests_schema<T: JsonSchema>(&mut self) -> Value {
        self.requests.subschema_for::<T>().to_value()
    }

    fn parameter(
        &mut self,
        into: &str,
        name: &str,
        description: &str,
        required: bool,
        schema: Value,
    ) {
        self.parameters.push(json!({
            "name": name,
            "in": into,
            "description": description,
            "required": required,
            "schema": schema,
        }));
    }

    /// The statuses every operation of this shape can answer with.
    fn implied_errors(&self, operation: &Operation) -> Vec<u16> {
        let mut statuses = vec![500, 503];
        if operation.access != Access::Public {
            statuses.push(401);
        }
        if matches!(operation.access, Access::OwnerKey | Access::Scoped(_)) {
            statuses.push(403);
        }
        if path_params(operation.path).next().is_some() {
            statuses.push(404);
        }
        if self.request_body.is_some() {
            statuses.extend([400, 413, 422]);
        }
        if self.parameters.iter().any(|p| p["in"] != "path") {
            statuses.push(400);
        }
        statuses
    }
}

fn generator(settings: SchemaSettings) -> SchemaGenerator {
    settings
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator()
}

/// The document, with `origin` (where this deployment is reached) as its server.
pub fn document(origin: Option<&str>) -> Value {
    let mut requests = generator(SchemaSettings::draft2020_12().for_deserialize());
    let mut replies = generator(SchemaSettings::draft2020_12().for_serialize());
    let error_schema = replies.subschema_for::<ErrorBody>().to_value();
    let mut paths: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    let mut tags = Vec::new();
    for component in COMPONENTS {
        tags.push(json!({"name": component.name, "description": component.description}));
        for operation in component.operations {
            let mut doc = OperationDoc {
                description: None,
                parameters: path_params(operation.path)
                    .map(|name| {
                        json!({"name": name, "in": "path", "required": true,
                               "schema": {"type": "string", "minLength": 1}})
                    })
                    .collect(),
                request_body: None,
                responses: BTreeMap::new(),
                errors: BTreeSet::new(),
                requests,
                replies,
            };
            (operation.describe)(&mut doc);
            let object = operation_object(component.name, operation, &doc, &error_schema);
            (requests, replies) = (doc.requests, doc.replies);
            paths
                .entry(operation.path)
                .or_default()
                .insert(operation.method.as_str().to_ascii_lowercase(), object);
        }
    }
    let mut paths = serde_json::to_value(paths).unwrap_or_default();
    let schemas = merge_definitions(&mut requests, &mut replies, &mut paths);
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Siyu API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Siyu turns buyers a shop meets on platforms into customers it reaches \
                directly: QR lead capture, tags and segments, coupons, repurchase reminders, \
                and the platform webhooks that feed them. Money is integer minor units; times \
                are RFC 3339 UTC instants. Every error answers `{\"error\": {\"code\", \"message\"}}`; \
                programs read `code`.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": error_responses(&error_schema),
            "securitySchemes": security_schemes(),
        },
    });
    if let Some(origin) = origin {
        document["servers"] = json!([{"url": origin}]);
    }
    document
}

fn operation_object(tag: &str, operation: &Operation, doc: &OperationDoc, error: &Value) -> Value {
    let mut responses = Map::new();
    for (status, response) in &doc.responses {
        responses.insert(status.to_string(), response.clone());
    }
    let statuses: BTreeSet<u16> = doc
        .implied_errors(operation)
        .into_iter()
        .chain(doc.errors.iter().copied())
        .collect();
    for status in statuses {
        match responses.get_mut(&status.to_string()) {
            // The operation answers people with a page here; programs get the JSON error.
            Some(own) => own["content"]["application/json"] = json!({ "schema": error }),
            None => {
                let shared = json!({ "$ref": format!("#/components/responses/Error{status}") });
                responses.insert(status.to_string(), shared);
            }
        }
    }
    let mut object = json!({
        "tags": [tag],
        "summary": operation.summary,
        "operationId": operation_id(operation),
        "parameters": doc.parameters,
        "responses": responses,
        "security": security(operation.access),
    });
    if let Some(text) = &doc.description {
        object["description"] = json!(text);
    }
    if let Some(body) = &doc.request_body {
        object["requestBody"] = Value::Object(body.clone());
    }
    object
}

/// `get /api/campaigns/{id}/issue` → `post_api_campaigns_id_issue`: stable and unique.
fn operation_id(operation: &Operation) -> String {
    let path: String = operation
        .path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let words: Vec<&str> = path.split('_').filter(|w| !w.is_empty()).collect();
    format!(
        "{}_{}",
        operation.method.as_str().to_ascii_lowercase(),
        words.join("_")
    )
}

/// Every error status, once, as `components.responses.Error{status}`.
fn error_responses(error: &Value) -> Value {
    let mut responses = Map::new();
    for status in [400, 401, 403, 404, 405, 409, 410, 413, 422, 429, 500, 503] {
        responses.insert(
            format!("Error{status}"),
            json!({
                "description": error_meaning(status),
                "content": {"application/json": {"schema": error}},
            }),
        );
    }
    Value::Object(responses)
}

fn error_meaning(status: u16) -> &'static str {
    match status {
        400 => "Malformed request: JSON, encoding, query or header (see `error.code`).",
        401 => "No, or an unknown, key, token or signature.",
        403 => "The key may not do this.",
        404 => "No such resource in this shop.",
        405 => "The path does not take this method.",
        410 => "The code or channel was retired.",
        409 => "The request conflicts with the resource's state (see `error.code`).",
        413 => "The body is larger than 1 MiB.",
        422 => "A field is missing, of the wrong type or out of range (see `error.message`).",
        429 => "Too many requests; retry later.",
        500 => "The deployment is misconfigured or failed.",
        503 => "Storage is busy or unavailable; retry after `Retry-After` seconds.",
        _ => "An error (see `error.code`).",
    }
}

fn security(access: Access) -> Value {
    match access {
        Access::Public => json!([]),
        Access::ShopKey | Access::OwnerKey | Access::Scoped(_) => json!([{"shopKey": []}]),
        Access::Operator => json!([{"operatorToken": []}]),
        Access::Scheduler => json!([{"schedulerToken": []}]),
        Access::Signed(scheme) => json!([{ scheme: [] }]),
    }
}

fn security_schemes() -> Value {
    let bearer = |what: &str| json!({"type": "http", "scheme": "bearer", "description": what});
    let header = |name: &str, what: &str| json!({"type": "apiKey", "in": "header", "name": name, "description": what});
    json!({
        "shopKey": bearer("A shop's API key (`siyu_…`), shown once when the shop or key is \
            created. Routes marked owner-only need the owner key."),
        "operatorToken": bearer("The deployment's `operator_token` variable."),
        "schedulerToken": bearer("The deployment's `scheduler_token` variable."),
        "shopifySignature": header("X-Shopify-Hmac-Sha256",
            "Base64 HMAC-SHA256 of the raw body with the app's client secret (either of the \
             shop's `shopify_secrets` during a rotation)."),
        "woocommerceSignature": header("X-WC-Webhook-Signature",
            "Base64 HMAC-SHA256 of the raw body with the webhook's secret. WooCommerce's \
             unsigned activation ping (`webhook_id=…`) is acknowledged."),
        "youzanSignature": header("Event-Sign",
            "Hex MD5 of client_id + raw body + client_secret (Youzan push)."),
        "genericSignature": header("X-Siyu-Signature",
            "Hex HMAC-SHA256 of `{X-Siyu-Timestamp}.{raw body}` with the shop's \
             generic secret; timestamps older than 5 minutes are refused."),
        "wecomSignature": {"type": "apiKey", "in": "query", "name": "msg_signature",
            "description": "WeCom's SHA-1 over the sorted token, timestamp, nonce and \
             encrypted text; the message is AES-decrypted with the EncodingAESKey."},
    })
}

/// One `components.schemas` from the request and answer generators. A type whose schema
/// differs between the two (a default only when reading, say) keeps its name for answers
/// and becomes `{Name}Input` in requests.
fn merge_definitions(
    requests: &mut SchemaGenerator,
    replies: &mut SchemaGenerator,
    paths: &mut Value,
) -> Map<String, Value> {
    let mut schemas = replies.take_definitions(true);
    let mut request_schemas = requests.take_definitions(true);
    let renamed: BTreeMap<String, String> = request_schemas
        .iter()
        .filter(|(name, schema)| schemas.get(*name).is_some_and(|s| s != *schema))
        .map(|(name, _)| (name.clone(), format!("{name}Input")))
        .collect();
    if !renamed.is_empty() {
        for schema in request_schemas.values_mut() {
            rename_refs(schema, &renamed);
        }
        for item in paths
            .as_object_mut()
            .into_iter()
            .flat_map(|p| p.values_mut())
        {
            for operation in item
                .as_object_mut()
                .into_iter()
                .flat_map(|o| o.values_mut())
            {
                rename_refs(&mut operation["parameters"], &renamed);
                if let Some(body) = operation.get_mut("requestBody") {
                    rename_refs(body, &renamed);
                }
            }
        }
    }
    for (name, schema) in request_schemas {
        let name = renamed.get(&name).cloned().unwrap_or(name);
        schemas.insert(name, schema);
    }
    schemas
}

fn rename_refs(value: &mut Value, renamed: &BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "$ref" {
                    if let Some(new) = v
                        .as_str()
                        .and_then(|r| r.strip_prefix(SCHEMAS))
                        .and_then(|name| renamed.get(name))
                    {
                        *v = json!(format!("{SCHEMAS}{new}"));
                    }
                } else {
                    rename_refs(v, renamed);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, renamed)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn every_ref(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v.as_str()) {
                        ("$ref", Some(target)) => found.push(target.to_string()),
                        _ => every_ref(v, found),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| every_ref(v, found)),
            _ => {}
        }
    }

    #[test]
    fn every_operation_is_in_the_document_once_with_a_unique_id() {
        let document = document(Some("https://siyu.example.com"));
        let mut ids = BTreeSet::new();
        let mut count = 0;
        for component in COMPONENTS {
            for op in component.operations {
                let method = op.method.as_str().to_ascii_lowercase();
                let object = &document["paths"][op.path][&method];
                assert_eq!(object["summary"], op.summary, "{method} {}", op.path);
                assert!(ids.insert(object["operationId"].to_string()), "{}", op.path);
                assert!(object["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()));
                count += 1;
            }
        }
        let listed: usize = document["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| item.as_object().unwrap().len())
            .sum();
        assert_eq!(listed, count);
        assert_eq!(document["servers"][0]["url"], "https://siyu.example.com");
    }

    #[test]
    fn every_reference_resolves() {
        let document = document(None);
        let mut refs = Vec::new();
        every_ref(&document, &mut refs);
        assert!(refs.len() > 100);
        for target in refs {
            let pointer = target.trim_start_matches('#');
            assert!(
                document.pointer(pointer).is_some(),
                "{target} resolves nowhere"
            );
        }
    }

    #[test]
    fn errors_are_documented_with_every_code() {
        let document = document(None);
        let codes = &document["components"]["schemas"]["ErrorCode"];
        let listed: Vec<&str> = codes["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|variant| variant["const"].as_str())
            .collect();
        let every: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, every);
        // What the document lists is what an answer carries.
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
        // A shop-key route answers 401 and 503 with the error shape; a public one no 401.
        let issue = &document["paths"]["/api/campaigns/{id}/issue"]["post"]["responses"];
        assert_eq!(issue["401"]["$ref"], "#/components/responses/Error401");
        assert_eq!(issue["409"]["$ref"], "#/components/responses/Error409");
        let scan = &document["paths"]["/q/{code}"]["get"]["responses"];
        assert!(scan.get("401").is_none());
        assert!(scan["404"]["content"]["text/html"].is_object());
    }

    #[derive(serde::Serialize, serde::Deserialize, JsonSchema)]
    struct Threshold {
        #[serde(default)]
        days: i64,
    }

    #[derive(serde::Serialize, serde::Deserialize, JsonSchema)]
    struct Plain {
        name: String,
    }

    #[test]
    fn a_type_read_and_written_differently_gets_an_input_schema() {
        let mut requests = generator(SchemaSettings::draft2020_12().for_deserialize());
        let mut replies = generator(SchemaSettings::draft2020_12().for_serialize());
        let body = requests.subschema_for::<Threshold>().to_value();
        requests.subschema_for::<Plain>();
        replies.subschema_for::<Threshold>();
        replies.subschema_for::<Plain>();
        let mut paths = json!({"/x": {"put": {"parameters": [], "requestBody": {"content":
            {"application/json": {"schema": body}}}}}});
        let schemas = merge_definitions(&mut requests, &mut replies, &mut paths);
        // Written, `days` is always there; read, it may be left out.
        assert_eq!(schemas["Threshold"]["required"], json!(["days"]));
        assert!(schemas["ThresholdInput"].get("required").is_none());
        assert!(!schemas.contains_key("PlainInput"));
        assert_eq!(
            paths["/x"]["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ThresholdInput"
        );
    }
}
