//! One conformance suite (`siyu_tests::conformance`) against every store: in-process, and
//! inside a real `spin up` for each manifest's store, plus Spin's key-value store on Redis.
//! Also the two defects of Spin's key-value atomics, reproduced with raw Spin calls.

use std::sync::Arc;

use siyu::store::{MemoryStore, RegisterStore};
use siyu_tests::conformance::{conforms, InProcess, Probe};
use siyu_tests::host::kv::{SqliteKv, SqliteSpinKv};
use siyu_tests::redis_server::{self, RedisServer};
use siyu_tests::spin_up::{build, manifest_with_fixtures, Fixture, Flavour, SpinUp};

const PROBE: Fixture = Fixture {
    package: "fixture-store-probe",
    route: "/_store/...",
    uses_store: true,
};

/// A `spin up` of the flavour with the probe beside Siyu's components.
fn probed(flavour: Flavour, redis: Option<Arc<RedisServer>>, runtime_config: bool) -> SpinUp {
    build(flavour);
    let manifest = manifest_with_fixtures(flavour, &[PROBE]);
    let config = runtime_config.then(|| {
        let redis = redis.as_ref().expect("a Redis for the key-value store");
        let path = manifest.with_extension(format!("kv-on-redis-{}.toml", redis.port));
        std::fs::write(
            &path,
            format!(
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
                redis.url()
            ),
        )
        .unwrap();
        path
    });
    SpinUp::start_with_runtime_config(flavour, &manifest, redis, config.as_deref())
}

fn probe(app: &SpinUp) -> Probe<'_> {
    Probe {
        base: app.base.clone(),
        agent: app.agent(),
    }
}

#[test]
fn the_in_memory_store_conforms() {
    conforms(&InProcess(MemoryStore::new()), "memory");
}

#[test]
fn the_register_store_conforms_on_spins_sqlite_semantics() {
    // The wasm test host's SQLite key-value store: Spin 4.0.2's semantics, defect included.
    let kv: &'static SqliteKv = Box::leak(Box::new(SqliteKv::in_memory().unwrap()));
    let store = RegisterStore::new(SqliteSpinKv {
        kv,
        label: "default",
    });
    conforms(&InProcess(store), "registers");
}

#[test]
fn spin_tomls_key_value_store_conforms_under_spin() {
    conforms(&probe(&probed(Flavour::KeyValue, None, false)), "kv");
}

#[test]
fn spin_redis_tomls_redis_store_conforms_under_spin() {
    if !redis_server::available() {
        return;
    }
    let redis = Arc::new(RedisServer::start());
    conforms(&probe(&probed(Flavour::Redis, Some(redis), false)), "redis");
}

#[test]
fn spin_cloud_tomls_sqlite_database_conforms_under_spin() {
    conforms(&probe(&probed(Flavour::Sqlite, None, false)), "cloud");
}

/// spin.toml with Spin's key-value store on Redis (runtime config): every raw swap reports
/// failure although applied; Siyu's store sees through it, conforms, and says so once.
#[test]
fn spin_tomls_store_conforms_on_spins_redis_key_value_backend_and_names_the_defect() {
    if !redis_server::available() {
        return;
    }
    let redis = Arc::new(RedisServer::start());
    let app = probed(Flavour::KeyValue, Some(redis.clone()), true);
    let probe = probe(&app);

    // The defect, raw: a swap from an absent key reports failure, yet the value is there.
    let (status, outcome) = raw_create(&app, "defect/redis", 0);
    assert_eq!(
        (status, outcome.as_str()),
        (200, "lost"),
        "Spin's Redis swap"
    );
    assert_eq!(
        redis::cmd("GET")
            .arg("defect/redis")
            .query::<Option<Vec<u8>>>(&mut redis.connection().unwrap())
            .unwrap()
            .as_deref(),
        Some(&b"probe"[..]),
        "the 'failed' swap was applied"
    );

    conforms(&probe, "kv-on-redis");
    assert!(
        app.component_stderr().contains("spin.redis.toml"),
        "the defect is named once in the log"
    );
}

/// Spin's SQLite key-value store: 16 concurrent raw swaps from one absent key, each pausing
/// 20 ms between `current` and `swap`, all report success (an upsert, not a conditional
/// create). Siyu never relies on it (see the conformance runs above).
#[test]
fn spins_sqlite_key_value_swap_from_absent_lets_racers_all_win() {
    let app = probed(Flavour::KeyValue, None, false);
    let outcomes: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| s.spawn(|| raw_create(&app, "defect/sqlite", 20).1))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won = outcomes.iter().filter(|o| *o == "won").count();
    eprintln!("16 racing raw creates on Spin's SQLite key-value store: {won} reported success");
    assert!(won > 1, "{outcomes:?}");
}

fn raw_create(app: &SpinUp, key: &str, pause_ms: u64) -> (u16, String) {
    let url = format!(
        "{}/_store/raw-create?key={key}&pause_ms={pause_ms}",
        app.base
    );
    let response = app
        .agent()
        .run(http::Request::post(url).body(b"probe".to_vec()).unwrap())
        .expect("the probe answers");
    let status = response.status().as_u16();
    (status, response.into_body().read_to_string().unwrap())
}
