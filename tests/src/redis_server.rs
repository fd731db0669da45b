//! A real Redis for the tests: Debian's `redis-server` on a free loopback port, no
//! persistence, fresh per test process.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::processes;

const PASSWORD: &str = "test-redis-password";

pub struct RedisServer {
    pub port: u16,
    pub log: PathBuf,
    /// Stopped when the test process exits (see `processes`).
    _process: std::process::Child,
}

/// Whether the Redis tests can run here. Without `redis-server` they say they skipped —
/// except in CI (`CI` set), where its absence fails them: .ci/run installs it.
pub fn available() -> bool {
    if processes::on_path("redis-server").is_some() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must install redis-server (see .ci/run)"
    );
    eprintln!(
        "skipped: redis-server is not installed (Debian/Ubuntu: apt-get install redis-server; \
         macOS: brew install redis)"
    );
    false
}

impl RedisServer {
    pub fn start() -> Self {
        let program = processes::on_path("redis-server")
            .expect("redis-server is on PATH (check `available` first)");
        let port = processes::free_port();
        let dir = crate::routes::workspace_root().join("target/spin-up");
        std::fs::create_dir_all(&dir).expect("target/spin-up");
        let log = dir.join(format!("redis-{port}.log"));
        let out = std::fs::File::create(&log).expect("redis log file");
        let process = processes::spawn(
            Command::new(program)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                // A password, as managed Redis has: the app must carry it in `redis_url`.
                .args(["--requirepass", PASSWORD])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("log file"))
                .stderr(out),
        )
        .expect("starting redis-server");
        let server = Self {
            port,
            log,
            _process: process,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut conn) = server.connection() {
                if redis::cmd("PING").query::<String>(&mut conn).is_ok() {
                    return server;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "redis-server did not answer on port {port}:\n{}",
            processes::tail(&server.log, 30)
        );
    }

    /// The connection URL, password included (`redis_url`).
    pub fn url(&self) -> String {
        format!("redis://:{PASSWORD}@127.0.0.1:{}", self.port)
    }

    /// The server as Spin's allowed outbound host (`redis_host`): no credentials.
    pub fn host(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn connection(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection()
    }

    /// Keys starting with `prefix` and their values (tests may list; the app never does).
    pub fn dump_prefix(&self, prefix: &str) -> Vec<(String, Vec<u8>)> {
        let mut conn = self.connection().expect("connecting to the test Redis");
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query(&mut conn)
            .expect("KEYS");
        keys.into_iter()
            .filter_map(|key| {
                let value: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query(&mut conn).ok()?;
                value.map(|v| (key, v))
            })
            .collect()
    }
}
