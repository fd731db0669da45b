//! The app under a real `spin up` — Spin's own runtime, not a look-alike — once per store:
//! `spin build -f <manifest>`, then `spin up` on a free loopback port with a fresh state
//! directory, reached over HTTP. The scenarios run against it like against the other runners,
//! except those that move the clock (Spin serves the real one).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::app::{OPERATOR_TOKEN, PEPPER, SCHEDULER_TOKEN};
use crate::client::{reported_writes, Client, Reply};
use crate::processes;
use crate::redis_server::RedisServer;
use crate::routes::workspace_root;

/// Which store the app keeps its data in: one manifest each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// spin.toml: Spin's key-value store `default` (SQLite under `spin up`).
    KeyValue,
    /// spin.redis.toml: Redis through Spin's outbound Redis.
    Redis,
    /// spin.cloud.toml: Spin's SQLite database `default`.
    Sqlite,
}

impl Flavour {
    pub const ALL: [Flavour; 3] = [Flavour::KeyValue, Flavour::Redis, Flavour::Sqlite];

    pub fn manifest(self) -> &'static str {
        match self {
            Flavour::KeyValue => "spin.toml",
            Flavour::Redis => "spin.redis.toml",
            Flavour::Sqlite => "spin.cloud.toml",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Flavour::KeyValue => "kv",
            Flavour::Redis => "redis",
            Flavour::Sqlite => "cloud",
        }
    }
}

/// The `spin` to run: `$SPIN` or the first on PATH.
pub fn spin_program() -> PathBuf {
    std::env::var_os("SPIN")
        .map(PathBuf::from)
        .or_else(|| processes::on_path("spin"))
        .unwrap_or_else(|| {
            panic!(
                "Spin is not installed: the tests run the app under a real `spin up`. Install \
                 Spin 3.x or 4.x (https://spinframework.dev/install) so that `spin` is on PATH, \
                 or name it in $SPIN"
            )
        })
}

/// `spin build -f <manifest>`, once per flavour and test process.
pub fn build(flavour: Flavour) {
    static BUILT: [OnceLock<Result<(), String>>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let index = Flavour::ALL.iter().position(|f| *f == flavour).unwrap();
    let result = BUILT[index].get_or_init(|| {
        let output = Command::new(spin_program())
            .args(["build", "-f", flavour.manifest()])
            .current_dir(workspace_root())
            .output()
            .map_err(|e| format!("running spin build: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "spin build -f {} failed:\n{}\n{}",
                flavour.manifest(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// One `spin up` process of the app.
pub struct SpinUp {
    pub flavour: Flavour,
    pub base: String,
    pub state_dir: PathBuf,
    log: PathBuf,
    redis: Option<Arc<RedisServer>>,
    agent: ureq::Agent,
}

impl SpinUp {
    /// Builds the flavour and starts `spin up` (the Redis flavour on `redis`, which must be
    /// given for it). Panics with Spin's output if it does not come up.
    pub fn start(flavour: Flavour, redis: Option<Arc<RedisServer>>) -> Self {
        build(flavour);
        Self::start_manifest(flavour, &workspace_root().join(flavour.manifest()), redis)
    }

    /// Starts `spin up` on a manifest already built (e.g. the benchmark's, which adds
    /// baseline components to a flavour's).
    pub fn start_manifest(
        flavour: Flavour,
        manifest: &std::path::Path,
        redis: Option<Arc<RedisServer>>,
    ) -> Self {
        Self::start_with_runtime_config(flavour, manifest, redis, None)
    }

    /// As `start_manifest`, with a Spin runtime config file (e.g. Spin's key-value store on
    /// Redis: `[key_value_store.default] type = "redis"`).
    pub fn start_with_runtime_config(
        flavour: Flavour,
        manifest: &std::path::Path,
        redis: Option<Arc<RedisServer>>,
        runtime_config: Option<&std::path::Path>,
    ) -> Self {
        let launch = Launch {
            runtime_config: runtime_config.map(PathBuf::from),
            ..Launch::default()
        };
        Self::launch(flavour, manifest, redis, &launch).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Builds the flavour and starts it set up as `launch` says; Spin's output if it exits.
    pub fn start_as(
        flavour: Flavour,
        redis: Option<Arc<RedisServer>>,
        launch: &Launch,
    ) -> Result<Self, String> {
        build(flavour);
        Self::launch(
            flavour,
            &workspace_root().join(flavour.manifest()),
            redis,
            launch,
        )
    }

    fn launch(
        flavour: Flavour,
        manifest: &std::path::Path,
        redis: Option<Arc<RedisServer>>,
        launch: &Launch,
    ) -> Result<Self, String> {
        let port = processes::free_port();
        let state_dir = workspace_root().join("target/spin-up").join(format!(
            "{}-{}-{port}",
            flavour.name(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&state_dir);
        std::fs::create_dir_all(&state_dir).expect("state dir");
        let log = state_dir.join("spin-up.log");
        let out = std::fs::File::create(&log).expect("spin log file");
        let listen = if launch.every_interface {
            "0.0.0.0"
        } else {
            "127.0.0.1"
        };
        let mut command = Command::new(spin_program());
        command
            .arg("up")
            .arg("-f")
            .arg(manifest)
            .args(["--listen", &format!("{listen}:{port}")])
            .arg("--state-dir")
            .arg(&state_dir)
            .current_dir(workspace_root())
            .env("SPIN_VARIABLE_DELIVERY_HOSTS", "http://127.0.0.1:*")
            // The tests' receivers listen on loopback; the production manifests refuse it.
            .env("SPIN_VARIABLE_ALLOW_PRIVATE_DELIVERY", "true")
            .env("SPIN_VARIABLE_REPORT_STORE_OPS", "true")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out);
        if !launch.without_secrets {
            command
                .env("SPIN_VARIABLE_OPERATOR_TOKEN", OPERATOR_TOKEN)
                .env("SPIN_VARIABLE_PII_PEPPER", PEPPER)
                .env("SPIN_VARIABLE_SCHEDULER_TOKEN", SCHEDULER_TOKEN);
        }
        if !launch.self_scheduling {
            command.env("SPIN_VARIABLE_SELF_SCHEDULE", "false");
        }
        for (name, value) in &launch.variables {
            command.env(
                format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()),
                value,
            );
        }
        if let Some(redis) = &redis {
            command.env("SPIN_VARIABLE_REDIS_URL", redis.url());
            command.env("SPIN_VARIABLE_REDIS_HOST", redis.host());
        }
        if let Some(config) = &launch.runtime_config {
            command.arg("--runtime-config-file").arg(config);
        }
        assert!(
            flavour != Flavour::Redis || redis.is_some(),
            "the Redis flavour needs a Redis"
        );
        let redis_for_dump = redis.clone().filter(|_| flavour == Flavour::Redis);
        let mut child = processes::spawn(&mut command).expect("starting spin up");
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            if std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("Serving http://")
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "spin up -f {} exited ({status}):\n{}",
                    flavour.manifest(),
                    processes::tail(&log, 40)
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "spin up -f {} did not start serving:\n{}",
                    flavour.manifest(),
                    processes::tail(&log, 40)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(120)))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Ok(Self {
            flavour,
            base: format!("http://127.0.0.1:{port}"),
            state_dir,
            log,
            redis: redis_for_dump,
            agent,
        })
    }

    /// This deployment as a client on another machine reaches it: at `host` (an address of
    /// this machine's that is not loopback; the app must listen on every interface).
    pub fn reached_at(&self, host: &str) -> ReachedAt<'_> {
        let port = self.base.rsplit(':').next().unwrap_or_default();
        ReachedAt {
            app: self,
            base: format!("http://{host}:{port}"),
        }
    }

    /// Spin's output so far (for the benchmark's failure messages).
    pub fn log_tail(&self) -> String {
        processes::tail(&self.log, 40)
    }

    /// Everything the components wrote to stderr so far.
    pub fn component_stderr(&self) -> String {
        self.stderr_files()
            .iter()
            .map(|path| std::fs::read_to_string(path).unwrap_or_default())
            .collect()
    }

    /// The components' stderr logs Spin keeps under the state directory.
    fn stderr_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.state_dir.join("logs"))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|entry| entry.path())
                    .filter(|path| path.to_string_lossy().ends_with("stderr.txt"))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A plain HTTP agent on this `spin up` (no redirects followed, any status returned).
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// Every row the store holds under `prefix`, as the app sees it.
    fn dump_prefix(&self, prefix: &str) -> Vec<(String, Vec<u8>)> {
        match self.flavour {
            Flavour::KeyValue => {
                let kv =
                    crate::host::kv::SqliteKv::open(&self.state_dir.join("sqlite_key_value.db"))
                        .expect("opening spin's key-value database");
                kv.dump_logical("default", prefix)
                    .expect("reading spin's key-value database")
            }
            Flavour::Redis => self
                .redis
                .as_ref()
                .expect("the Redis flavour runs on a Redis")
                .dump_prefix(prefix),
            Flavour::Sqlite => {
                let db = rusqlite::Connection::open(self.state_dir.join("sqlite_db.db"))
                    .expect("opening spin's SQLite database");
                db.busy_timeout(Duration::from_secs(10)).unwrap();
                let mut rows = Vec::new();
                for sql in [
                    "SELECT key, value FROM siyu_kv WHERE substr(key, 1, length(?1)) = ?1",
                    "SELECT key, CAST(n AS TEXT) FROM siyu_counter WHERE substr(key, 1, length(?1)) = ?1",
                ] {
                    let Ok(mut stmt) = db.prepare(sql) else {
                        continue; // no table yet: nothing stored
                    };
                    let found = stmt
                        .query_map([prefix], |row| {
                            let key: String = row.get(0)?;
                            let value: Vec<u8> = match row.get_ref(1)? {
                                rusqlite::types::ValueRef::Blob(b) => b.to_vec(),
                                rusqlite::types::ValueRef::Text(t) => t.to_vec(),
                                _ => Vec::new(),
                            };
                            Ok((key, value))
                        })
                        .expect("query")
                        .collect::<Result<Vec<_>, _>>()
                        .expect("rows");
                    rows.extend(found);
                }
                rows
            }
        }
    }
}

impl Client for SpinUp {
    fn send(&self, req: http::Request<Vec<u8>>) -> Reply {
        self.send_to(&self.base, req)
    }

    fn dump_shop(&self, shop_id: &str) -> Vec<(String, String)> {
        self.dump_prefix(&format!("s/{shop_id}/"))
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect()
    }

    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn client_address_is_real(&self) -> bool {
        true
    }

    fn clock_is_real(&self) -> bool {
        true
    }

    fn diagnostics(&self) -> String {
        let mut out = format!(
            "spin up -f {}:\n{}",
            self.flavour.manifest(),
            processes::tail(&self.log, 20)
        );
        for path in self.stderr_files() {
            out.push_str(&format!(
                "\n--- {}:\n{}",
                path.display(),
                processes::tail(&path, 10)
            ));
        }
        out
    }
}

impl SpinUp {
    fn send_to(&self, base: &str, req: http::Request<Vec<u8>>) -> Reply {
        assert!(
            !req.headers().contains_key(crate::host::TEST_CLOCK_HEADER),
            "this scenario moves the clock, which real Spin cannot: run it in-process and in the wasm host only"
        );
        let (parts, body) = req.into_parts();
        let url = format!(
            "{}{}",
            base,
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
        );
        let mut builder = http::Request::builder().method(parts.method).uri(url);
        for (name, value) in &parts.headers {
            builder = builder.header(name, value);
        }
        let request = builder.body(body).expect("a request");
        let response = self
            .agent
            .run(request)
            .unwrap_or_else(|e| panic!("spin up did not answer: {e}\n{}", self.diagnostics()));
        let (parts, mut body) = response.into_parts();
        let body = body
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .expect("reading the body");
        Reply {
            status: parts.status.as_u16(),
            writes: reported_writes(&parts.headers),
            headers: parts.headers,
            body,
        }
    }
}

/// A `spin up` reached through another of this machine's addresses (see `SpinUp::reached_at`):
/// the app sees a client that is not loopback.
pub struct ReachedAt<'a> {
    app: &'a SpinUp,
    base: String,
}

impl Client for ReachedAt<'_> {
    fn send(&self, req: http::Request<Vec<u8>>) -> Reply {
        self.app.send_to(&self.base, req)
    }

    fn dump_shop(&self, shop_id: &str) -> Vec<(String, String)> {
        self.app.dump_shop(shop_id)
    }

    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn client_address_is_real(&self) -> bool {
        true
    }

    fn clock_is_real(&self) -> bool {
        true
    }

    fn diagnostics(&self) -> String {
        self.app.diagnostics()
    }
}

/// How a `spin up` is set up besides its manifest and store.
#[derive(Debug, Default, Clone)]
pub struct Launch {
    /// Listen on every interface (0.0.0.0), not on loopback only.
    pub every_interface: bool,
    /// Leave the secrets unset: the manifest's defaults serve, if it has any.
    pub without_secrets: bool,
    /// Further app variables (`SPIN_VARIABLE_*`), by name, set after the tests' own.
    pub variables: Vec<(&'static str, String)>,
    /// A Spin runtime config file.
    pub runtime_config: Option<PathBuf>,
    /// Leave `self_schedule` as the manifest has it (spin.toml: on). Otherwise it is off:
    /// most tests count what their own scheduler calls did, and a background slice would
    /// do some of it first.
    pub self_scheduling: bool,
}

/// An address of this machine that is not loopback (the one its default route leaves from),
/// or None on a machine without one.
pub fn non_loopback_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // Connecting a UDP socket sends nothing: it only picks the route and so the address.
    socket.connect("192.0.2.1:9").ok()?;
    let address = socket.local_addr().ok()?.ip();
    (!address.is_loopback() && !address.is_unspecified()).then_some(address)
}

/// One `spin up` per flavour per test process, shared by its tests (each works in its own
/// shop). The Redis flavour gets its own `redis-server`; None where there is none to run
/// (see `redis_server::available`).
pub fn shared(flavour: Flavour) -> Option<&'static SpinUp> {
    static APPS: [OnceLock<SpinUp>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    if flavour == Flavour::Redis && !crate::redis_server::available() {
        return None;
    }
    let index = Flavour::ALL.iter().position(|f| *f == flavour).unwrap();
    Some(APPS[index].get_or_init(|| {
        let redis = (flavour == Flavour::Redis).then(|| Arc::new(RedisServer::start()));
        SpinUp::start(flavour, redis)
    }))
}

/// Two `spin up` processes of the Redis flavour on one `redis-server`, each request going to
/// the other process than the last.
pub struct Alternating {
    apps: [SpinUp; 2],
    next: std::sync::atomic::AtomicUsize,
}

impl Alternating {
    /// None where no `redis-server` can run (see `redis_server::available`).
    pub fn two_on_one_redis() -> Option<&'static Alternating> {
        static PAIR: OnceLock<Alternating> = OnceLock::new();
        if !crate::redis_server::available() {
            return None;
        }
        Some(PAIR.get_or_init(|| {
            let redis = Arc::new(RedisServer::start());
            let first = SpinUp::start(Flavour::Redis, Some(redis.clone()));
            let second = SpinUp::start(Flavour::Redis, Some(redis));
            Alternating {
                apps: [first, second],
                next: std::sync::atomic::AtomicUsize::new(0),
            }
        }))
    }
}

impl Client for Alternating {
    fn send(&self, req: http::Request<Vec<u8>>) -> Reply {
        let turn = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.apps[turn % 2].send(req)
    }

    fn dump_shop(&self, shop_id: &str) -> Vec<(String, String)> {
        self.apps[0].dump_shop(shop_id)
    }

    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn client_address_is_real(&self) -> bool {
        true
    }

    fn clock_is_real(&self) -> bool {
        true
    }

    fn diagnostics(&self) -> String {
        format!(
            "{}\n{}",
            self.apps[0].diagnostics(),
            self.apps[1].diagnostics()
        )
    }
}

/// For scenarios that set the test clock only out of habit — their outcome does not depend
/// on the day they play (the races): the clock header is dropped and the real clock serves.
pub struct RealClock(pub &'static dyn Client);

impl Client for RealClock {
    fn send(&self, mut req: http::Request<Vec<u8>>) -> Reply {
        req.headers_mut().remove(crate::host::TEST_CLOCK_HEADER);
        self.0.send(req)
    }

    fn dump_shop(&self, shop_id: &str) -> Vec<(String, String)> {
        self.0.dump_shop(shop_id)
    }

    fn now(&self) -> Timestamp {
        self.0.now()
    }

    fn client_address_is_real(&self) -> bool {
        self.0.client_address_is_real()
    }

    fn clock_is_real(&self) -> bool {
        true
    }

    fn diagnostics(&self) -> String {
        self.0.diagnostics()
    }
}

/// A fixture component added to a flavour's manifest (benchmark baselines, store probes).
pub struct Fixture {
    /// The fixture's package, e.g. `fixture-increment`.
    pub package: &'static str,
    /// The exact route it is served on.
    pub route: &'static str,
    /// Whether it opens the flavour's store (then it is built for that store and given it).
    pub uses_store: bool,
}

/// The flavour's manifest (already built) plus `fixtures`, each built for the flavour's
/// store, written under `target/spin-up/` with absolute paths.
pub fn manifest_with_fixtures(flavour: Flavour, fixtures: &[Fixture]) -> PathBuf {
    let root = workspace_root();
    let (profile_args, profile_dir, store_features): (&[&str], &str, &[&str]) = match flavour {
        Flavour::KeyValue => (&["--release"], "release", &[]),
        Flavour::Redis => (
            &["--profile", "redis"],
            "redis",
            &["--no-default-features", "--features", "redis"],
        ),
        Flavour::Sqlite => (
            &["--profile", "cloud"],
            "cloud",
            &["--no-default-features", "--features", "sqlite"],
        ),
    };
    let mut text = std::fs::read_to_string(root.join(flavour.manifest())).expect("manifest");
    text = text.replace(
        "source = \"target/",
        &format!("source = \"{}/target/", root.display()),
    );
    for fixture in fixtures {
        let features = if fixture.uses_store {
            store_features
        } else {
            &[]
        };
        let status = Command::new("cargo")
            .args(["build", "--target", "wasm32-wasip1", "-p", fixture.package])
            .args(profile_args)
            .args(features)
            .current_dir(&root)
            .status()
            .expect("running cargo");
        assert!(status.success(), "building {}", fixture.package);
        let store = match (fixture.uses_store, flavour) {
            (false, _) => "allowed_outbound_hosts = []".to_string(),
            (true, Flavour::KeyValue) => {
                "key_value_stores = [\"default\"]\nallowed_outbound_hosts = []".to_string()
            }
            (true, Flavour::Redis) => format!(
                "allowed_outbound_hosts = [\"{{{{ redis_host }}}}\"]\n\
                 [component.{}.variables]\nredis_url = \"{{{{ redis_url }}}}\"",
                fixture.package
            ),
            (true, Flavour::Sqlite) => {
                "sqlite_databases = [\"default\"]\nallowed_outbound_hosts = []".to_string()
            }
        };
        text.push_str(&format!(
            "\n[[trigger.http]]\nroute = \"{}\"\ncomponent = \"{}\"\n\
             \n[component.{}]\nsource = \"{}/target/wasm32-wasip1/{profile_dir}/{}.wasm\"\n{store}\n",
            fixture.route,
            fixture.package,
            fixture.package,
            root.display(),
            fixture.package.replace('-', "_"),
        ));
    }
    let dir = root.join("target/spin-up");
    std::fs::create_dir_all(&dir).expect("target/spin-up");
    let names: Vec<&str> = fixtures.iter().map(|f| f.package).collect();
    let path = dir.join(format!("{}-with-{}.toml", flavour.name(), names.join("-")));
    std::fs::write(&path, text).expect("writing the manifest");
    path
}
