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

use siyu::store::{CountingStore, StoreError};
use siyu::web::{serve, ClientAddressing, Deployment, Env, Handler, Request, Response, Secrets};

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

fn variable(name: &str) -> Option<String> {
    spin_sdk::variables::get(name)
        .ok()
        .filter(|v| !v.is_empty())
}

/// The whole body of a Siyu component.
pub fn run(req: Request, handler: Handler) -> Response {
    let secrets = Secrets::new(
        variable("operator_token"),
        variable("pii_pepper"),
        variable("scheduler_token"),
    );
    let deployment = Deployment {
        client_addressing: ClientAddressing::from_variables(
            variable("trusted_client_header").as_deref(),
            variable("trusted_proxy_hops").as_deref(),
        ),
        allow_private_delivery: variable("allow_private_delivery").as_deref() == Some("true"),
    };
    let backend = open_store();
    let store = CountingStore::new(&backend);
    let env = Env {
        store: &store,
        secrets: &secrets,
        now: jiff::Timestamp::now(),
        outbound: &SpinOutbound,
        deployment: &deployment,
    };
    let mut response = serve(&req, &env, handler);
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
