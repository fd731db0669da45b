//! Hot-path benchmark through the Spin-compatible wasm host over a SQLite file store, as
//! `spin up` runs it: requests per second and p50/p99 latency at concurrency 1 and 32, as
//! ratios to an empty component and to a component doing one atomic increment; key-value
//! reads and writes per request; and ingest latency with 1,000 vs 100,000 customers stored.
//!
//! Run: `cargo bench -p siyu-tests` (add `-- --quick` for a short run).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;
use serde_json::{json, Value};
use siyu::store::RegisterStore;
use siyu::store::Store;
use siyu::webhooks::{shopify, ParseContext, WebhookEffect};
use siyu_tests::app::{request, OPERATOR_TOKEN, PEPPER};
use siyu_tests::host::kv::SqliteSpinKv;
use siyu_tests::host::{ExtraComponent, KvOps, WasmApp, WasmAppOptions, TEST_CLOCK_HEADER};
use siyu_tests::platforms::{bench_order, shop_body, shopify_request, SHOPIFY_SECRET};

/// How a benchmark case makes its n-th request.
type MakeRequest = Arc<dyn Fn(u64) -> http::Request<Vec<u8>> + Send + Sync>;

struct Stats {
    requests: u64,
    rps: f64,
    p50: Duration,
    p99: Duration,
    ops: KvOps,
}

async fn run(app: &Arc<WasmApp>, make: &MakeRequest, total: u64, concurrency: u64) -> Stats {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (app, make, next) = (app.clone(), make.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut ops = KvOps::default();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return (latencies, ops);
                }
                let began = Instant::now();
                let response = app.handle(make(n)).await.expect("component failed");
                latencies.push(began.elapsed());
                assert!(
                    response.status < 400,
                    "status {}: {}",
                    response.status,
                    String::from_utf8_lossy(&response.body)
                );
                ops.reads += response.ops.reads;
                ops.writes += response.ops.writes;
            }
        }));
    }
    let mut latencies = Vec::new();
    let mut ops = KvOps::default();
    for worker in workers {
        let (l, o) = worker.await.expect("worker");
        latencies.extend(l);
        ops.reads += o.reads;
        ops.writes += o.writes;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Stats {
        requests: total,
        rps: total as f64 / elapsed.as_secs_f64(),
        p50: pick(0.50),
        p99: pick(0.99),
        ops,
    }
}

/// Adds customers `from..to`, each with one paid order, through the same ingest code the
/// component runs (tag rules evaluated), directly against the SQLite store (fast bulk fill).
/// Returns the new customers' ids.
fn fill(app: &WasmApp, shop: &siyu::domain::ShopId, from: u64, to: u64) -> Vec<String> {
    // Only the fill skips fsync; every measured request pays it as under `spin up`.
    app.kv().set_synchronous(false).unwrap();
    let store = RegisterStore::new(SqliteSpinKv {
        kv: app.kv(),
        label: "default",
    });
    let zone = jiff::tz::TimeZone::UTC;
    let shop = siyu::shops::load_shop(&store, shop).unwrap();
    let ctx = ParseContext {
        currency: siyu::domain::Currency::cny(),
        calling_code: "86",
        zone: &zone,
        now: jiff::Timestamp::now(),
        shopify_shop_domain: None,
    };
    let mut ids = Vec::new();
    for customer in from..to {
        let body = serde_json::to_vec(&bench_order(50_000_000 + customer, customer)).unwrap();
        let WebhookEffect::Order(event) = shopify::parse("orders/create", &body, &ctx).unwrap()
        else {
            unreachable!("an order")
        };
        let outcome = siyu::flows::order_settled::ingest(
            &store as &dyn Store,
            &shop,
            PEPPER.as_bytes(),
            &event,
            &[],
            ctx.now,
        )
        .unwrap();
        ids.extend(outcome.customer_id.map(|c| c.to_string()));
    }
    app.kv().set_synchronous(true).unwrap();
    ids
}

/// Rules of the kinds a shop typically keeps: spend and count tiers, recency, products,
/// consent, RFM groups and a tag read by another rule.
fn tagging_rules() -> Vec<Value> {
    let mut rules = Vec::new();
    for (i, spend) in [10_000, 50_000, 100_000, 300_000, 500_000]
        .iter()
        .enumerate()
    {
        rules.push(json!({"tag": format!("spend tier {i}"), "condition": {"net_spend": {"gte": spend, "within_days": 365}}}));
    }
    for (i, count) in [2, 3, 5, 10].iter().enumerate() {
        rules.push(
            json!({"tag": format!("orders {i}"), "condition": {"order_count": {"gte": count}}}),
        );
    }
    for (i, days) in [30, 60, 90, 180].iter().enumerate() {
        rules.push(json!({"tag": format!("lapsed {i}"), "condition": {"days_since_last_order": {"gte": days}}}));
    }
    rules.push(json!({"tag": "tea buyer", "condition": {"bought": {"sku": "TEA-250G"}}}));
    rules.push(json!({"tag": "recent tea", "condition": {"bought": {"sku": "TEA-250G", "within_days": 30}}}));
    rules.push(json!({"tag": "subscriber", "condition": {"consent": "granted"}}));
    rules.push(json!({"tag": "at risk", "condition": {"any": [{"rfm_group": "at_risk"}, {"rfm_group": "almost_lost"}]}}));
    rules.push(json!({"tag": "vip", "condition": {"all": [{"tag": "spend tier 3"}, {"not": {"tag": "lapsed 2"}}]}}));
    rules.push(json!({"tag": "vip", "action": "remove", "condition": {"tag": "blocked"}}));
    rules.push(json!({"tag": "super", "condition": {"super_user": true}}));
    rules
}

/// A shop delivering reminders to `url`, with `count` customers who each paid for one tea
/// (30 days, reminded 5 days before), their payments spread over `spread` days so that
/// `count / spread` are due at once. Returns the shop and when the first are due.
fn reminder_shop(
    runtime: &tokio::runtime::Runtime,
    app: &WasmApp,
    url: &str,
    count: u64,
    spread: u64,
) -> (String, jiff::Timestamp) {
    let call = |req| runtime.block_on(app.handle(req)).unwrap();
    let created = call(request(
        Method::POST,
        "/api/shops",
        Some(OPERATOR_TOKEN),
        shop_body("Reminders").to_string().into_bytes(),
    ))
    .json();
    let (shop_id, api_key) = (
        created["shop"]["id"].as_str().unwrap().to_string(),
        created["api_key"].as_str().unwrap().to_string(),
    );
    let settings = json!({"products": [{"sku": "TEA-250G", "profile": {"days_per_unit": 30,
        "lead_days": 5, "reminders": 1, "follow_up_days": null}}], "delivery_url": url});
    let r = call(request(
        Method::PUT,
        "/api/reminders/settings",
        Some(&api_key),
        settings.to_string().into_bytes(),
    ));
    assert_eq!(r.status, 200);
    call(request(
        Method::POST,
        "/api/reminders/secret",
        Some(&api_key),
        vec![],
    ));

    app.kv().set_synchronous(false).unwrap();
    let store = RegisterStore::new(SqliteSpinKv {
        kv: app.kv(),
        label: "default",
    });
    let shop =
        siyu::shops::load_shop(&store, &siyu::domain::ShopId::parse(&shop_id).unwrap()).unwrap();
    let zone = shop.zone();
    let now = jiff::Timestamp::now();
    // Paid from tomorrow on, at 10:00 shop time, so that every step lies ahead.
    let first_day = now.to_zoned(zone.clone()).date().tomorrow().unwrap();
    let ctx = ParseContext {
        currency: siyu::domain::Currency::cny(),
        calling_code: "86",
        zone: &zone,
        now,
        shopify_shop_domain: None,
    };
    for i in 0..count {
        let day = first_day
            .checked_add(jiff::Span::new().days((i % spread) as i64))
            .unwrap();
        let paid = day
            .at(10, 0, 0, 0)
            .to_zoned(zone.clone())
            .unwrap()
            .timestamp();
        let customer = 70_000_000 + i;
        let mut body = bench_order(80_000_000 + i, customer);
        for field in ["created_at", "processed_at", "updated_at"] {
            body[field] = json!(paid.to_string());
        }
        let body = serde_json::to_vec(&body).unwrap();
        let WebhookEffect::Order(event) = shopify::parse("orders/create", &body, &ctx).unwrap()
        else {
            unreachable!("an order")
        };
        siyu::flows::order_settled::ingest(
            &store as &dyn Store,
            &shop,
            PEPPER.as_bytes(),
            &event,
            &[],
            now,
        )
        .unwrap();
    }
    app.kv().set_synchronous(true).unwrap();
    let due = first_day
        .checked_add(jiff::Span::new().days(25))
        .unwrap()
        .at(10, 5, 0, 0)
        .to_zoned(zone)
        .unwrap()
        .timestamp();
    (shop_id, due)
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 1 } else { 5 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = siyu_tests::routes::workspace_root().join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let database = dir.join("sqlite_key_value.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
    let options = WasmAppOptions {
        variables: [
            ("operator_token".to_string(), OPERATOR_TOKEN.to_string()),
            ("pii_pepper".to_string(), PEPPER.to_string()),
            (
                "scheduler_token".to_string(),
                siyu_tests::app::SCHEDULER_TOKEN.to_string(),
            ),
            (
                "delivery_hosts".to_string(),
                "http://127.0.0.1:*".to_string(),
            ),
        ]
        .into(),
        database: Some(database.clone()),
        extra_components: ["empty", "increment"]
            .into_iter()
            .map(|name| ExtraComponent::fixture(name).unwrap())
            .collect(),
        cas_pause: None,
    };
    let app = Arc::new(WasmApp::start(options).expect("host"));
    let created = runtime
        .block_on(app.handle(request(
            Method::POST,
            "/api/shops",
            Some(OPERATOR_TOKEN),
            shop_body("Bench").to_string().into_bytes(),
        )))
        .unwrap()
        .json();
    let shop_id = created["shop"]["id"].as_str().unwrap().to_string();
    let shop = siyu::domain::ShopId::parse(&shop_id).unwrap();
    let api_key = created["api_key"].as_str().unwrap().to_string();
    // Twenty tagging rules, evaluated on every customer change below.
    for rule in tagging_rules() {
        let r = runtime
            .block_on(app.handle(request(
                Method::POST,
                "/api/rules",
                Some(&api_key),
                rule.to_string().into_bytes(),
            )))
            .unwrap();
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    let mut customer_ids = fill(&app, &shop, 0, 1_000);

    let order_ids = Arc::new(AtomicU64::new(1));
    let empty: MakeRequest = Arc::new(|_| request(Method::GET, "/_fixtures/empty", None, vec![]));
    let increment: MakeRequest =
        Arc::new(|_| request(Method::POST, "/_fixtures/increment", None, vec![]));
    let ingest: MakeRequest = {
        let (shop_id, order_ids) = (shop_id.clone(), order_ids.clone());
        // A repeat customer's new order: the common case once a shop is connected.
        Arc::new(move |n| {
            let id = order_ids.fetch_add(1, Ordering::Relaxed);
            shopify_request(
                &shop_id,
                "orders/create",
                &bench_order(id, n % 1_000),
                SHOPIFY_SECRET,
                &format!("b{id}"),
            )
        })
    };
    // The scan redirect: a repeat scanner (one write), the common case for a printed card.
    let scan: MakeRequest = {
        let created = runtime
            .block_on(app.handle(request(
                Method::POST,
                "/api/channels",
                Some(created["api_key"].as_str().unwrap()),
                json!({"name": "Card", "kind": "package_card", "target_url": "https://tea.example.com/"})
                    .to_string()
                    .into_bytes(),
            )))
            .unwrap()
            .json();
        let code = created["code"].as_str().unwrap().to_string();
        Arc::new(move |_| {
            let mut req = request(Method::GET, &format!("/q/{code}"), None, vec![]);
            req.headers_mut()
                .insert("cookie", format!("sq_{code}=1").parse().unwrap());
            req
        })
    };
    // Coupon validation at checkout: a customer's own coupon, with the order total.
    let validate: MakeRequest = {
        let call = |req| runtime.block_on(app.handle(req)).unwrap().json();
        let campaign = call(request(
            Method::POST,
            "/api/campaigns",
            Some(&api_key),
            json!({"name": "Bench", "discount": {"type": "percent", "basis_points": 1000},
                "min_order_minor": 5000, "valid_days": 30})
            .to_string()
            .into_bytes(),
        ));
        let customer = customer_ids[0].clone();
        let coupon = call(request(
            Method::POST,
            &format!("/api/campaigns/{}/issue", campaign["id"].as_str().unwrap()),
            Some(&api_key),
            json!({"customer_id": customer}).to_string().into_bytes(),
        ));
        let path = format!(
            "/api/coupons/{}?customer={customer}&order_total=10000",
            coupon["code"].as_str().expect("a coupon")
        );
        let api_key = api_key.clone();
        Arc::new(move |_| request(Method::GET, &path, Some(&api_key), vec![]))
    };
    let cases: [(&str, &MakeRequest); 5] = [
        ("(a) empty component", &empty),
        ("(a') one atomic increment", &increment),
        ("(b) signed Shopify order ingest", &ingest),
        ("(b) QR scan redirect", &scan),
        ("(b) coupon validation", &validate),
    ];

    println!(
        "machine: {} cores; {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        if quick { "quick run" } else { "full run" }
    );
    println!();
    println!("| path | concurrency | requests | req/s | p50 ms | p99 ms | vs (a) | vs (a') | KV reads/req | KV writes/req |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for concurrency in [1u64, 32] {
        let mut baseline = (0.0, 0.0);
        for (name, make) in cases {
            let total = if concurrency == 1 {
                400 * scale
            } else {
                1_000 * scale
            };
            // Warm up: first instantiations and SQLite caches.
            runtime.block_on(run(&app, make, 50, concurrency.min(8)));
            let stats = runtime.block_on(run(&app, make, total, concurrency));
            if name.starts_with("(a)") {
                baseline.0 = stats.rps;
            } else if name.starts_with("(a')") {
                baseline.1 = stats.rps;
            }
            println!(
                "| {name} | {concurrency} | {} | {:.0} | {} | {} | {:.2} | {:.2} | {:.1} | {:.1} |",
                stats.requests,
                stats.rps,
                ms(stats.p50),
                ms(stats.p99),
                stats.rps / baseline.0,
                if baseline.1 > 0.0 {
                    stats.rps / baseline.1
                } else {
                    f64::NAN
                },
                stats.ops.reads as f64 / stats.requests as f64,
                stats.ops.writes as f64 / stats.requests as f64,
            );
        }
    }

    // Per-request key-value operations of each ingest shape (deterministic).
    println!();
    println!("| ingest request | KV reads | KV writes |");
    println!("|---|---|---|");
    let one = |label: &str, body: Value, delivery: &str| {
        let r = runtime
            .block_on(app.handle(shopify_request(
                &shop_id,
                "orders/create",
                &body,
                SHOPIFY_SECRET,
                delivery,
            )))
            .unwrap();
        println!("| {label} | {} | {} |", r.ops.reads, r.ops.writes);
    };
    one(
        "new customer, first order",
        bench_order(90_000_001, 999_999),
        "k1",
    );
    one(
        "exact redelivery (same webhook id)",
        bench_order(90_000_001, 999_999),
        "k1",
    );
    one(
        "same order, other webhook id",
        bench_order(90_000_001, 999_999),
        "k2",
    );
    one(
        "repeat customer, new order",
        bench_order(90_000_002, 999_999),
        "k3",
    );

    // Does ingest cost grow with the store? Same measurement at 1,000 and 100,000 customers.
    println!();
    println!("| customers stored | request (c=1) | req/s | p50 ms | p99 ms | KV reads/req | KV writes/req |");
    println!("|---|---|---|---|---|---|---|");
    let big = if quick { 20_000 } else { 100_000 };
    for stored in [1_000u64, big] {
        let before = Instant::now();
        customer_ids.extend(fill(&app, &shop, 1_000, stored));
        if stored > 1_000 {
            eprintln!(
                "filled to {stored} customers in {:.1} s",
                before.elapsed().as_secs_f64()
            );
        }
        let repeat: MakeRequest = {
            let (shop_id, order_ids) = (shop_id.clone(), order_ids.clone());
            Arc::new(move |n| {
                let id = order_ids.fetch_add(1, Ordering::Relaxed);
                // Spread over all stored customers.
                let customer = (n * 7_919) % stored;
                shopify_request(
                    &shop_id,
                    "orders/create",
                    &bench_order(id, customer),
                    SHOPIFY_SECRET,
                    &format!("s{id}"),
                )
            })
        };
        // A manual tag added or removed on a customer spread over the store: evaluation of
        // the twenty rules plus the segment index, in one request.
        let tag_change: MakeRequest = {
            let (api_key, ids) = (api_key.clone(), Arc::new(customer_ids.clone()));
            Arc::new(move |n| {
                let id = &ids[((n / 2) * 7_919) as usize % ids.len()];
                let body = if n % 2 == 0 {
                    json!({"add": ["bench"]})
                } else {
                    json!({"remove": ["bench"]})
                };
                request(
                    Method::POST,
                    &format!("/api/customers/{id}/tags"),
                    Some(&api_key),
                    body.to_string().into_bytes(),
                )
            })
        };
        // One page of a segment, the way an export walks it.
        let page: MakeRequest = {
            let api_key = api_key.clone();
            Arc::new(move |n| {
                request(
                    Method::GET,
                    &format!("/api/rfm/new/customers?limit=50&cursor={}", (n * 50) % 900),
                    Some(&api_key),
                    vec![],
                )
            })
        };
        let cases: [(&str, &MakeRequest); 3] = [
            ("order ingest, 20 rules", &repeat),
            ("manual tag change, 20 rules", &tag_change),
            ("segment page of 50", &page),
        ];
        for (label, make) in cases {
            let stats = runtime.block_on(run(&app, make, 400 * scale, 1));
            println!(
                "| {stored} | {label} | {:.0} | {} | {} | {:.1} | {:.1} |",
                stats.rps,
                ms(stats.p50),
                ms(stats.p99),
                stats.ops.reads as f64 / stats.requests as f64,
                stats.ops.writes as f64 / stats.requests as f64,
            );
        }
        // The scheduled pass: batches of 200 customers; time per call and customers/s.
        let pass: MakeRequest = {
            let api_key = api_key.clone();
            Arc::new(move |_| {
                request(
                    Method::POST,
                    "/api/tagging/run?limit=200",
                    Some(&api_key),
                    vec![],
                )
            })
        };
        let stats = runtime.block_on(run(&app, &pass, 5, 1));
        println!(
            "| {stored} | scheduled pass, 200 customers per call | {:.1} calls/s = {:.0} customers/s | {} | {} | {:.1} | {:.1} |",
            stats.rps,
            stats.rps * 200.0,
            ms(stats.p50),
            ms(stats.p99),
            stats.ops.reads as f64 / stats.requests as f64,
            stats.ops.writes as f64 / stats.requests as f64,
        );
    }
    // Reminder dispatch: 1,000 due among 1,000 scheduled vs among 100,000 (20,000 quick).
    println!();
    println!("| reminders scheduled | due | dispatch calls | total ms | ms per message | KV reads/message | KV writes/message | messages received |");
    println!("|---|---|---|---|---|---|---|---|");
    let receiver = siyu_tests::receiver::Receiver::start();
    for (scheduled, spread) in [
        (1_000u64, 1u64),
        (
            if quick { 20_000 } else { 100_000 },
            if quick { 20 } else { 100 },
        ),
    ] {
        let before = Instant::now();
        let (shop, due_at) = reminder_shop(&runtime, &app, &receiver.url, scheduled, spread);
        if scheduled > 1_000 {
            eprintln!(
                "planned {scheduled} reminders in {:.1} s",
                before.elapsed().as_secs_f64()
            );
        }
        let received_before = receiver.received().len();
        let started = Instant::now();
        let mut ops = KvOps::default();
        let mut calls = 0;
        loop {
            calls += 1;
            let mut req = request(
                Method::POST,
                &format!("/api/reminders/dispatch?shop={shop}&limit=500"),
                Some(siyu_tests::app::SCHEDULER_TOKEN),
                vec![],
            );
            req.headers_mut()
                .insert(TEST_CLOCK_HEADER, due_at.to_string().parse().unwrap());
            let r = runtime.block_on(app.handle(req)).unwrap();
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            ops.reads += r.ops.reads;
            ops.writes += r.ops.writes;
            if r.json()["caught_up"] == true {
                break;
            }
        }
        let elapsed = started.elapsed();
        let messages = receiver.received().len() - received_before;
        println!(
            "| {scheduled} | {} | {calls} | {:.0} | {:.2} | {:.1} | {:.1} | {messages} |",
            scheduled / spread,
            elapsed.as_secs_f64() * 1000.0,
            elapsed.as_secs_f64() * 1000.0 / messages.max(1) as f64,
            ops.reads as f64 / messages.max(1) as f64,
            ops.writes as f64 / messages.max(1) as f64,
        );
    }

    let size = std::fs::metadata(&database).map(|m| m.len()).unwrap_or(0);
    println!();
    println!("SQLite store file: {:.1} MB", size as f64 / 1e6);
}
