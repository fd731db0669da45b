//! Runs a `siyu` handler inside a Spin component: opens the store this build was made for,
//! reads the Spin variables, and hands both to the shared request handling.

#[cfg(any(
    all(feature = "kv", feature = "redis"),
    all(feature = "kv", feature = "sqlite"),
    all(feature = "redis", feature = "sqlite"),
    not(any(feature = "kv", feature = "redis", feature = "sqlite"))
))]
compile_error!("build with exactly one store feature: kv, redis or sqlite");

#[cfg(feature = "kv")]
pub mod kv;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use siyu::error::ErrorCode;
use siyu::store::{CountingStore, StoreError};
use siyu::web::{serve as serve_request, ApiError, ClientAddressing, Deployment, Env, Handler};
use siyu::web::{Request, Response, Secrets};
use spin_sdk::http::conversions::TryFromIncomingRequest;
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};

fn backend<E: std::fmt::Debug>(err: E) -> StoreError {
    StoreError::Backend(format!("{err:?}"))
}

/// The store this build keeps data in, opened lazily on first use.
#[cfg(feature = "kv")]
pub fn open_store() -> kv::SpinKvStore {
    kv::open()
}

#[cfg(feature = "redis")]
pub fn open_store() -> redis::RedisStore {
    redis::RedisStore::new(variable("redis_url"))
}

#[cfg(feature = "sqlite")]
pub fn open_store() -> sqlite::SqliteStore {
    sqlite::SqliteStore::default()
}

/// Which store this build keeps data in, as `/healthz` names it.
#[cfg(feature = "kv")]
const STORE_KIND: &str = "spin-kv";
#[cfg(feature = "redis")]
const STORE_KIND: &str = "redis";
#[cfg(feature = "sqlite")]
const STORE_KIND: &str = "sqlite";

fn variable(name: &str) -> Option<String> {
    spin_sdk::variables::get(name)
        .ok()
        .filter(|v| !v.is_empty())
}

/// The deployment as its Spin variables describe it.
fn deployment() -> Deployment {
    Deployment {
        client_addressing: ClientAddressing::from_variables(
            variable("trusted_client_header").as_deref(),
            variable("trusted_proxy_hops").as_deref(),
        ),
        allow_private_delivery: variable("allow_private_delivery").as_deref() == Some("true"),
        store_kind: STORE_KIND,
        public_url: variable("public_url"),
        jobs_budget: Deployment::jobs_budget_from(variable("jobs_budget_seconds").as_deref()),
        self_schedule: variable("self_schedule").as_deref() == Some("true"),
    }
}

/// The whole body of a Siyu component: reads the request, answers it through `handler`,
/// and then — the client has its answer — runs a slice of the periodic work if this
/// deployment schedules itself (`self_schedule`) and one is due.
pub async fn serve(
    incoming: IncomingRequest,
    out: ResponseOutparam,
    component: &'static str,
    handler: Handler,
) {
    let Some(req) = read_request(incoming).await else {
        send(out, unreadable()).await;
        return;
    };
    let (secrets, deployment) = (secrets(), deployment());
    let backend = open_store();
    let response = respond(&req, &backend, &secrets, &deployment, component, handler);
    send(out, response).await;
    if deployment.self_schedule {
        background_slice(&req, &backend, &secrets, &deployment);
    }
}

/// As `serve`, for a component without a store (the console's files): no store is opened,
/// no slice runs, and neither is linked in.
pub async fn serve_without_store(
    incoming: IncomingRequest,
    out: ResponseOutparam,
    component: &'static str,
    handler: Handler,
) {
    let Some(req) = read_request(incoming).await else {
        send(out, unreadable()).await;
        return;
    };
    let response = respond(
        &req,
        &NoStore,
        &secrets(),
        &deployment(),
        component,
        handler,
    );
    send(out, response).await;
}

async fn read_request(incoming: IncomingRequest) -> Option<Request> {
    http::Request::<Vec<u8>>::try_from_incoming_request(incoming)
        .await
        .ok()
}

fn unreadable() -> Response {
    let error = ApiError::new(
        400,
        ErrorCode::InvalidEncoding,
        "the request body could not be read",
    );
    siyu::web::error_response(&error)
}

fn secrets() -> Secrets {
    Secrets::new(
        variable("operator_token"),
        variable("pii_pepper"),
        variable("scheduler_token"),
    )
}

/// The store of a component that has none (the console): every operation fails, and no
/// store interface is linked in.
struct NoStore;

impl siyu::store::Store for NoStore {
    fn get(&self, _: &str) -> siyu::store::StoreResult<Option<Vec<u8>>> {
        Err(no_store())
    }
    fn set(&self, _: &str, _: &[u8]) -> siyu::store::StoreResult<()> {
        Err(no_store())
    }
    fn delete(&self, _: &str) -> siyu::store::StoreResult<()> {
        Err(no_store())
    }
    fn increment(&self, _: &str, _: i64) -> siyu::store::StoreResult<i64> {
        Err(no_store())
    }
    fn counter(&self, _: &str) -> siyu::store::StoreResult<i64> {
        Err(no_store())
    }
    fn compare_and_swap(
        &self,
        _: &str,
        _: Option<&[u8]>,
        _: &[u8],
    ) -> siyu::store::StoreResult<bool> {
        Err(no_store())
    }
}

fn no_store() -> StoreError {
    StoreError::Backend("this component has no store".into())
}

fn respond(
    req: &Request,
    backend: &dyn siyu::store::Store,
    secrets: &Secrets,
    deployment: &Deployment,
    component: &'static str,
    handler: Handler,
) -> Response {
    let store = CountingStore::new(backend);
    let env = Env {
        store: &store,
        secrets,
        now: jiff::Timestamp::now(),
        outbound: &SpinOutbound,
        deployment,
    };
    let mut response = serve_request(req, &env, component, handler);
    // For tests and operators measuring a deployment: what the request cost the store.
    if variable("report_store_ops").as_deref() == Some("true") {
        let ops = store.op_counts();
        let value = format!("reads={}, writes={}", ops.reads, ops.writes);
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(STORE_OPS_HEADER, value);
        }
    }
    response
}

/// Hands the answer to Spin and finishes its body: the client has it from here on.
async fn send(out: ResponseOutparam, response: Response) {
    let (parts, body) = response.into_parts();
    let headers: Vec<(String, Vec<u8>)> = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
        .collect();
    let Ok(fields) = Fields::from_list(&headers) else {
        return;
    };
    let outgoing = OutgoingResponse::new(fields);
    if outgoing.set_status_code(parts.status.as_u16()).is_err() {
        return;
    }
    if let Err(e) = out.set_with_body(outgoing, body).await {
        eprintln!(
            "{}",
            serde_json::json!({"error": "response_not_sent", "detail": format!("{e:?}")})
        );
    }
}

/// The periodic work, on a deployment without a scheduler: a bounded slice when one is due
/// (`siyu::jobs::background`). Only where links in messages have a trustworthy origin:
/// `public_url`, or a request made to this machine's own address.
fn background_slice(
    req: &Request,
    backend: &dyn siyu::store::Store,
    secrets: &Secrets,
    deployment: &Deployment,
) {
    // The secrets the request that sets it off may use: published development ones only
    // for this machine's own requests.
    let secrets = deployment.secrets_for(secrets, req);
    let (Ok(pepper), Some(origin)) = (secrets.pepper(), deployment.background_links_origin(req))
    else {
        return;
    };
    let scheduler = siyu::jobs::Scheduler {
        store: backend,
        outbound: &SpinOutbound,
        pepper,
        origin: &origin,
        allow_private: deployment.allow_private_delivery,
        budget: siyu::jobs::background::BUDGET,
        now: jiff::Timestamp::now(),
        source: siyu::jobs::status::RunSource::Background,
    };
    if let Err(e) = siyu::jobs::background::run_if_due(&scheduler) {
        eprintln!(
            "{}",
            serde_json::json!({"scheduler": "background", "error": e.code().as_str()})
        );
    }
}

/// Response header with the store operations a request made, when `report_store_ops` is on.
pub const STORE_OPS_HEADER: &str = "x-siyu-store-ops";

/// Outgoing HTTP through Spin (`wasi:http/outgoing-handler`): Spin refuses hosts the
/// component's `allowed_outbound_hosts` does not list. spin-sdk's `send` takes no request
/// options, so the request is made with WASI's own types, whose options bound the wait for
/// the connection, the first byte and each later byte.
struct SpinOutbound;

impl siyu::outbound::Outbound for SpinOutbound {
    fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        timeout: std::time::Duration,
    ) -> Result<u16, String> {
        use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
        use spin_sdk::wit::wasi::http0_2_0::types::{
            Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
        };
        let uri: http::Uri = url.parse().map_err(|e| format!("{e}"))?;
        let mut fields: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(name, value)| (name.clone(), value.as_bytes().to_vec()))
            .collect();
        // A length, not chunks: the simplest receivers (and some gateways) need it.
        fields.push(("content-length".into(), body.len().to_string().into_bytes()));
        let fields = Fields::from_list(&fields).map_err(|e| format!("headers: {e:?}"))?;
        let request = OutgoingRequest::new(fields);
        let scheme = match uri.scheme_str() {
            Some("https") => Scheme::Https,
            Some("http") => Scheme::Http,
            other => Scheme::Other(other.unwrap_or_default().to_string()),
        };
        let refused = |what: &str| format!("the request's {what} was refused");
        request
            .set_method(&Method::Post)
            .map_err(|()| refused("method"))?;
        request
            .set_scheme(Some(&scheme))
            .map_err(|()| refused("scheme"))?;
        request
            .set_authority(uri.authority().map(|a| a.as_str()))
            .map_err(|()| refused("authority"))?;
        request
            .set_path_with_query(uri.path_and_query().map(|p| p.as_str()))
            .map_err(|()| refused("path"))?;
        let outgoing = request.body().map_err(|()| refused("body"))?;
        let options = RequestOptions::new();
        let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        // A host that cannot bound one of the waits says so; the others still hold.
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        let _ = options.set_between_bytes_timeout(Some(nanos));
        let future =
            outgoing_handler::handle(request, Some(options)).map_err(|e| format!("{e:?}"))?;
        {
            let stream = outgoing.write().map_err(|()| refused("body stream"))?;
            // The stream takes at most 4 KiB per blocking write.
            for chunk in body.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| format!("writing the body: {e:?}"))?;
            }
        }
        OutgoingBody::finish(outgoing, None).map_err(|e| format!("{e:?}"))?;
        future.subscribe().block();
        let response = future
            .get()
            .ok_or("no response")?
            .map_err(|()| "the response was already taken")?
            .map_err(|e| format!("{e:?}"))?;
        Ok(response.status())
    }
}
