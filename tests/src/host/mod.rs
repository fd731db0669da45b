//! A Spin-compatible host for tests and benchmarks: it builds the components named in
//! spin.toml, turns each core module into a component with the WASI preview1 adapter, and
//! serves HTTP requests to them in wasmtime — a fresh instance per request, routed by
//! spin.toml's routes, with Spin's key-value store (SQLite), variables and outbound HTTP.

pub mod componentize;
pub mod kv;
pub mod outbound;
mod spin_interfaces;
pub mod state;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpView};

use crate::routes::{workspace_root, Manifest};
pub use kv::SqliteKv;
pub use outbound::OutboundPolicy;
pub use state::{HostState, KvOps};

/// A component ready to serve: pre-instantiated, with what its requests may use.
struct LoadedComponent {
    pre: ProxyPre<HostState>,
    variables: Arc<HashMap<String, String>>,
    key_value_stores: Arc<Vec<String>>,
    outbound: Arc<OutboundPolicy>,
    imports: Vec<String>,
}

/// The answer to one request, with the key-value operations it made.
#[derive(Debug)]
pub struct WasmResponse {
    pub component: String,
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
    pub ops: KvOps,
    /// What the component wrote to stderr (Siyu's access log line).
    pub log: String,
}

impl WasmResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// What a component imports, for the host-compatibility record.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub component: String,
    pub imports: Vec<String>,
    pub beyond_spin3: Vec<String>,
    pub uses_atomics: bool,
}

/// Settings of a `WasmApp`.
#[derive(Default)]
pub struct WasmAppOptions {
    /// App variable values (as `SPIN_VARIABLE_*` would set them); others keep their defaults.
    pub variables: HashMap<String, String>,
    /// SQLite file for the key-value store; in memory when None.
    pub database: Option<PathBuf>,
    /// Extra components outside spin.toml (fixtures for host tests and benchmarks).
    pub extra_components: Vec<ExtraComponent>,
    /// A pause inside every compare-and-swap, between `current` and the swap: makes races
    /// that real traffic hits rarely happen every time.
    pub cas_pause: Option<std::time::Duration>,
}

/// A component served besides spin.toml's, on one exact route.
pub struct ExtraComponent {
    pub name: String,
    pub route: String,
    pub module: PathBuf,
    pub allowed_outbound_hosts: Vec<String>,
}

impl ExtraComponent {
    /// A fixture of `tests/fixtures` at `/_fixtures/{name}`, with no outbound access.
    pub fn fixture(name: &str) -> anyhow::Result<Self> {
        Ok(Self {
            name: name.to_string(),
            route: format!("/_fixtures/{name}"),
            module: fixture(name)?,
            allowed_outbound_hosts: Vec::new(),
        })
    }
}

pub struct WasmApp {
    manifest: Manifest,
    extra_routes: Vec<(String, String)>,
    components: HashMap<String, LoadedComponent>,
    kv: Arc<SqliteKv>,
    engine: Engine,
    cas_pause: Option<std::time::Duration>,
}

/// A request header only test hosts read: the wall clock the component sees while serving
/// that request (RFC 3339). Removed before the component sees the request.
pub const TEST_CLOCK_HEADER: &str = "x-siyu-test-now";

/// A wall clock stopped at one instant, for requests that play a later day.
struct FixedClock(jiff::Timestamp);

impl wasmtime_wasi::HostWallClock for FixedClock {
    fn resolution(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(1)
    }

    fn now(&self) -> std::time::Duration {
        let since_epoch = self.0.as_duration();
        std::time::Duration::try_from(since_epoch).unwrap_or_default()
    }
}

/// Builds every component spin.toml names with its own build command, once per process.
pub fn build_components() -> anyhow::Result<()> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let manifest = Manifest::load();
            for component in &manifest.components {
                if component.build_commands.is_empty() {
                    return Err(format!("{} has no build command", component.name));
                }
                for command in &component.build_commands {
                    run_build(command)?;
                }
            }
            Ok(())
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

/// Runs a build command in the workspace root, as `spin build` does.
pub fn run_build(command: &str) -> Result<(), String> {
    let status = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("{command}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command} failed: {status}"))
    }
}

fn engine() -> anyhow::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(512)
        .total_core_instances(4096)
        .total_memories(1024)
        .total_tables(2048)
        .max_memory_size(256 << 20);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Ok(Engine::new(&config)?)
}

/// Compiles a component, reusing machine code from an earlier run when the component and
/// the engine are the same (cranelift is the slow part of starting the host).
fn compile(engine: &Engine, component: &[u8]) -> anyhow::Result<Component> {
    let mut hasher = Sha256::new();
    hasher.update(component);
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut engine_hash);
    hasher.update(std::hash::Hasher::finish(&engine_hash).to_le_bytes());
    let dir = workspace_root().join("target").join("wasm-host-cache");
    let path = dir.join(format!("{}.cwasm", hex::encode(hasher.finalize())));
    if path.exists() {
        // SAFETY: the file was written by `Engine::precompile_component` of an engine with
        // the same compatibility hash, in this workspace's own target directory.
        if let Ok(component) = unsafe { Component::deserialize_file(engine, &path) } {
            return Ok(component);
        }
    }
    let compiled = engine.precompile_component(component)?;
    std::fs::create_dir_all(&dir)?;
    // Unique per writer: two hosts in one process may compile the same component at once.
    static WRITERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let writer = WRITERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temporary = path.with_extension(format!("tmp{}-{writer}", std::process::id()));
    std::fs::write(&temporary, &compiled)?;
    std::fs::rename(&temporary, &path)?;
    // SAFETY: produced just above by this engine.
    Ok(unsafe { Component::deserialize(engine, &compiled)? })
}

/// An app variable's value: the test's override, else spin.toml's default.
fn app_variable(
    manifest: &toml::Table,
    name: &str,
    overrides: &HashMap<String, String>,
) -> anyhow::Result<String> {
    if let Some(value) = overrides.get(name) {
        return Ok(value.clone());
    }
    let declared = manifest
        .get("variables")
        .and_then(|v| v.get(name))
        .ok_or_else(|| anyhow!("app variable {name} is not declared"))?;
    declared
        .get("default")
        .and_then(|d| d.as_str())
        .map(String::from)
        .ok_or_else(|| anyhow!("app variable {name} is required and not set"))
}

/// Fills `{{ name }}` templates, as Spin does in component variables and outbound hosts.
fn fill_templates(
    template: &str,
    value_of: &dyn Fn(&str) -> anyhow::Result<String>,
) -> anyhow::Result<String> {
    let mut filled = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        filled.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .ok_or_else(|| anyhow!("unclosed template in {template}"))?
            + start;
        filled.push_str(&value_of(rest[start + 2..end].trim())?);
        rest = &rest[end + 2..];
    }
    filled.push_str(rest);
    Ok(filled)
}

/// A component's variables, its templates filled from app variables.
fn component_variables(
    manifest: &toml::Table,
    component: &str,
    overrides: &HashMap<String, String>,
) -> anyhow::Result<HashMap<String, String>> {
    let declared = manifest
        .get("component")
        .and_then(|c| c.get(component))
        .and_then(|c| c.get("variables"))
        .and_then(|v| v.as_table());
    let mut values = HashMap::new();
    for (name, template) in declared.into_iter().flatten() {
        let template = template.as_str().unwrap_or_default();
        let value = fill_templates(template, &|n| app_variable(manifest, n, overrides))?;
        values.insert(name.clone(), value);
    }
    Ok(values)
}

impl WasmApp {
    /// Builds, loads and links every component of spin.toml (plus any extras). Fails, naming
    /// the import, when a component imports something this host does not provide.
    pub fn start(options: WasmAppOptions) -> anyhow::Result<Self> {
        build_components()?;
        let root = workspace_root();
        let manifest_text: toml::Table =
            toml::from_str(&std::fs::read_to_string(root.join("spin.toml"))?)?;
        let manifest = Manifest::load();
        let engine = engine()?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        spin_interfaces::add_to_linker(&mut linker)?;

        /// A component to load: name, core module, stores it may open, its variables.
        struct Source {
            name: String,
            path: PathBuf,
            stores: Vec<String>,
            variables: HashMap<String, String>,
            outbound: Vec<String>,
        }
        let mut sources = Vec::new();
        for c in &manifest.components {
            sources.push(Source {
                name: c.name.clone(),
                path: root.join(&c.source),
                stores: c.key_value_stores.clone(),
                variables: component_variables(&manifest_text, &c.name, &options.variables)?,
                outbound: c
                    .allowed_outbound_hosts
                    .iter()
                    .map(|h| {
                        fill_templates(h, &|name| {
                            app_variable(&manifest_text, name, &options.variables)
                        })
                    })
                    .collect::<anyhow::Result<_>>()?,
            });
        }
        let mut extra_routes = Vec::new();
        for extra in &options.extra_components {
            sources.push(Source {
                name: extra.name.clone(),
                path: extra.module.clone(),
                stores: vec!["default".to_string()],
                variables: HashMap::new(),
                outbound: extra.allowed_outbound_hosts.clone(),
            });
            extra_routes.push((extra.route.clone(), extra.name.clone()));
        }

        let mut components = HashMap::new();
        for Source {
            name,
            path,
            stores,
            variables,
            outbound,
        } in sources
        {
            let module = std::fs::read(&path)
                .with_context(|| format!("{name}: reading {}", path.display()))?;
            let bytes = componentize(&module).with_context(|| format!("{name}: componentizing"))?;
            let imports = componentize::imports(&bytes)?;
            let component =
                compile(&engine, &bytes).with_context(|| format!("{name}: compiling"))?;
            let pre = linker
                .instantiate_pre(&component)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("component {name} cannot be linked"))?;
            let pre = ProxyPre::new(pre)
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!("component {name} does not export wasi:http/incoming-handler")
                })?;
            components.insert(
                name,
                LoadedComponent {
                    pre,
                    variables: Arc::new(variables),
                    key_value_stores: Arc::new(stores),
                    outbound: Arc::new(OutboundPolicy::new(outbound)?),
                    imports,
                },
            );
        }
        let kv = match &options.database {
            Some(path) => SqliteKv::open(path),
            None => SqliteKv::in_memory(),
        }
        .map_err(|e| anyhow!(e))?;
        Ok(Self {
            manifest,
            extra_routes,
            components,
            kv: Arc::new(kv),
            engine,
            cas_pause: options.cas_pause,
        })
    }

    pub fn kv(&self) -> &SqliteKv {
        &self.kv
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// What each component imports, and whether a host without atomics could load it.
    pub fn import_reports(&self) -> Vec<ImportReport> {
        let mut reports: Vec<_> = self
            .components
            .iter()
            .map(|(name, c)| ImportReport {
                component: name.clone(),
                imports: c.imports.clone(),
                beyond_spin3: componentize::beyond_spin3(&c.imports),
                uses_atomics: c.imports.iter().any(|i| i == componentize::ATOMICS),
            })
            .collect();
        reports.sort_by(|a, b| a.component.cmp(&b.component));
        reports
    }

    fn route(&self, path: &str) -> Option<(&str, String)> {
        for (route, name) in &self.extra_routes {
            if path == route {
                return Some((name.as_str(), route.clone()));
            }
        }
        let name = self.manifest.component_for(path)?;
        let route = self
            .manifest
            .routes
            .iter()
            .find(|r| r.component == name)
            .map(|r| r.pattern.clone())
            .unwrap_or_default();
        Some((name, route))
    }

    /// Serves one request in a fresh instance of the routed component. An error means the
    /// component trapped, failed to instantiate, or never answered: never a normal outcome.
    pub async fn handle(&self, req: http::Request<Vec<u8>>) -> anyhow::Result<WasmResponse> {
        let path = req.uri().path().to_string();
        let (name, matched_route) = self
            .route(&path)
            .ok_or_else(|| anyhow!("no route for {path}"))?;
        let component = self
            .components
            .get(name)
            .ok_or_else(|| anyhow!("spin.toml routes to unknown component {name}"))?;

        let (mut parts, body) = req.into_parts();
        // The test clock: the host, not the component, decides what time it is.
        let clock = match parts.headers.remove(TEST_CLOCK_HEADER) {
            Some(value) => Some(
                value
                    .to_str()
                    .ok()
                    .and_then(|v| v.parse::<jiff::Timestamp>().ok())
                    .ok_or_else(|| anyhow!("{TEST_CLOCK_HEADER} is not an RFC 3339 instant"))?,
            ),
            None => None,
        };
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or(path.clone());
        let full_url = format!("http://127.0.0.1:3000{path_and_query}");
        parts.uri = full_url.parse()?;
        for (header, value) in [
            ("spin-full-url", full_url.as_str()),
            ("spin-path-info", ""),
            ("spin-matched-route", matched_route.as_str()),
        ] {
            parts.headers.insert(header, value.parse()?);
        }
        // In-process callers play the network and may say who the client is; `listen` sets
        // it from the real peer, as Spin does.
        if !parts.headers.contains_key("spin-client-addr") {
            parts
                .headers
                .insert("spin-client-addr", "127.0.0.1:50000".parse()?);
        }
        let hyper_req = hyper::Request::from_parts(parts, Full::new(Bytes::from(body)));

        let stderr = MemoryOutputPipe::new(64 * 1024);
        let mut wasi = WasiCtx::builder();
        wasi.stderr(stderr.clone());
        if let Some(at) = clock {
            wasi.wall_clock(FixedClock(at));
        }
        let mut store = Store::new(
            &self.engine,
            HostState {
                wasi: wasi.build(),
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
                kv: self.kv.clone(),
                variables: component.variables.clone(),
                key_value_stores: component.key_value_stores.clone(),
                outbound: component.outbound.as_ref().clone(),
                ops: KvOps::default(),
                cas_pause: self.cas_pause,
            },
        );
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, hyper_req)?;
        let outparam = store.data_mut().http().new_response_outparam(sender)?;
        let proxy = component.pre.instantiate_async(&mut store).await?;
        let task = tokio::task::spawn(async move {
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await?;
            Ok::<_, anyhow::Error>(store.data().ops)
        });
        let response = match receiver.await {
            Ok(Ok(response)) => response,
            Ok(Err(code)) => bail!("{name} answered with an error code: {code:?}"),
            Err(_) => match task.await? {
                Ok(_) => bail!("{name} never set a response"),
                Err(trap) => return Err(trap.context(format!("{name} trapped"))),
            },
        };
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| anyhow!("{name}: reading the response body: {e:?}"))?
            .to_bytes()
            .to_vec();
        let ops = task
            .await?
            .with_context(|| format!("{name} trapped after answering"))?;
        Ok(WasmResponse {
            component: name.to_string(),
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
            ops,
            log: String::from_utf8_lossy(&stderr.contents()).into_owned(),
        })
    }
}

/// Serves the app on a loopback port until the runtime stops, so a browser or an external
/// load tool can reach the components. Returns the address it listens on.
pub async fn listen(app: Arc<WasmApp>, address: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let app = app.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let app = app.clone();
                        async move {
                            let (mut parts, body) = req.into_parts();
                            let body = body.collect().await?.to_bytes().to_vec();
                            let peer = http::HeaderValue::from_str(&peer.to_string())
                                .expect("a socket address is a valid header value");
                            parts.headers.insert("spin-client-addr", peer);
                            let response =
                                match app.handle(http::Request::from_parts(parts, body)).await {
                                    Ok(r) => {
                                        // Show the components' log lines, as `spin up` does.
                                        eprint!("{}", r.log);
                                        let mut builder =
                                            hyper::Response::builder().status(r.status);
                                        for (k, v) in &r.headers {
                                            builder = builder.header(k, v);
                                        }
                                        builder.body(Full::new(Bytes::from(r.body)))
                                    }
                                    Err(e) => hyper::Response::builder()
                                        .status(500)
                                        .body(Full::new(Bytes::from(format!("host error: {e:#}")))),
                                };
                            Ok::<_, hyper::Error>(response.expect("valid response parts"))
                        }
                    },
                );
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    Ok(bound)
}

/// Path of a built core module under the workspace target directory.
pub fn release_wasm(package: &str) -> PathBuf {
    workspace_root()
        .join("target/wasm32-wasip1/release")
        .join(format!("{}.wasm", package.replace('-', "_")))
}

use componentize::componentize;

/// The fixture components of `tests/fixtures` (not part of the app), built on first use.
pub fn fixture(name: &str) -> anyhow::Result<PathBuf> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            // As spin.toml's build commands do: a toolchain older than the checkout may lack
            // the target rust-toolchain.toml names.
            run_build("rustup target add wasm32-wasip1")?;
            run_build(
                "cargo build --target wasm32-wasip1 --release -p fixture-empty -p fixture-increment -p fixture-trap -p fixture-unprovided -p fixture-outbound",
            )
        })
        .clone()
        .map_err(|e| anyhow!(e))?;
    Ok(release_wasm(&format!("fixture-{name}")))
}
