//! Hot paths under a real `spin up`, once per store (spin.toml, spin.redis.toml,
//! spin.cloud.toml): requests per second and p50/p99 latency at concurrency 32, measured with
//! Debian's `wrk`, as ratios to an empty component and to one doing a single increment in the
//! same store, both served by the same `spin up`. Spin stalls 17–40 ms per request on
//! key-value components over keep-alive connections at concurrency 1, so no c=1 figure is
//! taken here (the wasm-host benchmark, `hot_paths`, has those).
//!
//! Run: `cargo bench -p siyu-tests --bench real_spin` (add `-- --quick` for a short run).
//! Needs `spin`, `wrk` and, for the Redis store, `redis-server`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::Method;
use serde_json::json;
use siyu_tests::app::{request, OPERATOR_TOKEN};
use siyu_tests::bench::{
    ingest_script, out_dir, run_wrk, seed_repeat_customers, wrk_or_exit, Measured, CONCURRENCY,
};
use siyu_tests::client::Client;
use siyu_tests::platforms::{bench_phone, shop_body};
use siyu_tests::redis_server::{self, RedisServer};
use siyu_tests::spin_up::{build, manifest_with_fixtures, Fixture, Flavour, SpinUp};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let seconds = if quick { 5 } else { 15 };
    let wrk = wrk_or_exit();
    let out_dir = out_dir();
    let mut report = String::new();
    writeln!(
        report,
        "| store | case | req/s | p50 ms | p99 ms | × empty | × one increment |\n|---|---|---|---|---|---|---|"
    )
    .unwrap();
    for flavour in Flavour::ALL {
        let redis = match flavour {
            Flavour::Redis if !redis_server::available() => continue,
            Flavour::Redis => Some(Arc::new(RedisServer::start())),
            _ => None,
        };
        build(flavour);
        let manifest = manifest_with_fixtures(
            flavour,
            &[
                Fixture {
                    package: "fixture-empty",
                    route: "/_bench/empty",
                    uses_store: false,
                },
                Fixture {
                    package: "fixture-increment",
                    route: "/_bench/increment",
                    uses_store: true,
                },
            ],
        );
        let app = SpinUp::start_manifest(flavour, &manifest, redis);
        let cases = prepare(&app, flavour, &out_dir, seconds);
        let mut results: Vec<(&str, Measured)> = Vec::new();
        for (name, script, path) in &cases {
            let measured = run_wrk(&wrk, &app.base, path, script.as_deref(), seconds)
                .unwrap_or_else(|e| {
                    panic!("{name} on {}: {e}\n{}", flavour.manifest(), app.log_tail())
                });
            eprintln!(
                "{} {name}: {:.0} req/s ({} requests)",
                flavour.manifest(),
                measured.rps,
                measured.requests
            );
            results.push((name, measured));
        }
        let empty = results[0].1.rps;
        let increment = results[1].1.rps;
        for (name, m) in &results {
            writeln!(
                report,
                "| {} | {name} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
                flavour.manifest(),
                m.rps,
                m.p50_ms,
                m.p99_ms,
                m.rps / empty,
                m.rps / increment
            )
            .unwrap();
        }
    }
    println!("\nHot paths under real `spin up`, concurrency {CONCURRENCY}, {seconds} s each (wrk, keep-alive):\n");
    println!("{report}");
}

/// Sets up a shop with repeat customers, a channel and a coupon; returns the cases as
/// (name, wrk script, path).
fn prepare(
    app: &SpinUp,
    flavour: Flavour,
    out_dir: &Path,
    seconds: u32,
) -> Vec<(&'static str, Option<PathBuf>, String)> {
    let created = app.call(request(
        Method::POST,
        "/api/shops",
        Some(OPERATOR_TOKEN),
        shop_body("Bench").to_string().into_bytes(),
    ));
    assert_eq!(created.0, 201, "{}", created.1);
    let shop_id = created.1["shop"]["id"].as_str().unwrap().to_string();
    let api_key = created.1["api_key"].as_str().unwrap().to_string();
    // Repeat customers: each has one order already.
    seed_repeat_customers(app, &shop_id);
    let customer = app
        .get(
            &format!(
                "/api/customers?phone={}",
                bench_phone(0).replace('+', "%2B")
            ),
            &api_key,
        )
        .1["id"]
        .as_str()
        .unwrap()
        .to_string();
    let channel = app.call(request(
        Method::POST,
        "/api/channels",
        Some(&api_key),
        json!({"name": "Card", "kind": "package_card", "target_url": "https://tea.example.com/"})
            .to_string()
            .into_bytes(),
    ));
    let code = channel.1["code"].as_str().unwrap().to_string();
    let campaign = app.call(request(
        Method::POST,
        "/api/campaigns",
        Some(&api_key),
        json!({"name": "Bench", "discount": {"type": "percent", "basis_points": 1000},
            "min_order_minor": 5000, "valid_days": 30})
        .to_string()
        .into_bytes(),
    ));
    let coupon = app.call(request(
        Method::POST,
        &format!(
            "/api/campaigns/{}/issue",
            campaign.1["id"].as_str().unwrap()
        ),
        Some(&api_key),
        json!({"customer_id": customer}).to_string().into_bytes(),
    ));
    let coupon_code = coupon.1["code"].as_str().expect("a coupon").to_string();

    // Scripts: headers for the GETs, and pre-signed orders for ingest (wrk cannot sign).
    let name = flavour.name();
    let header_script = |file: &str, headers: &[(&str, &str)]| {
        let mut lua = String::new();
        for (k, v) in headers {
            writeln!(lua, "wrk.headers[\"{k}\"] = \"{v}\"").unwrap();
        }
        let path = out_dir.join(format!("{name}-{file}.lua"));
        std::fs::write(&path, lua).unwrap();
        Some(path)
    };
    let ingest_script = ingest_script(out_dir, name, &shop_id, seconds);
    vec![
        ("empty component", None, "/_bench/empty".to_string()),
        ("one increment", None, "/_bench/increment".to_string()),
        (
            "QR scan redirect (repeat scanner)",
            header_script("scan", &[("Cookie", &format!("sq_{code}=1"))]),
            format!("/q/{code}"),
        ),
        (
            "coupon validation",
            header_script(
                "validate",
                &[("Authorization", &format!("Bearer {api_key}"))],
            ),
            format!("/api/coupons/{coupon_code}?customer={customer}&order_total=10000"),
        ),
        (
            "signed Shopify order ingest (repeat customer)",
            Some(ingest_script),
            format!("/webhooks/shopify/{shop_id}"),
        ),
    ]
}
