//! What local self-scheduling costs a webhook: signed Shopify order ingest of repeat customers
//! at concurrency 32 under real `spin up`, once per store, three ways:
//! - `off`: `self_schedule` off and no scheduler: the baseline;
//! - `off + scheduler`: off, with an external scheduler calling `POST /api/jobs/run` every
//!   10 s, as production runs: the same periodic work, done by other requests;
//! - `on`: `self_schedule` on, no scheduler: the slices after ordinary answers do the work.
//!
//! In the last two, the work is real: another shop has 300 reminders due, delivered to a
//! receiver that takes 20 ms a message. `on` against `off + scheduler` is what the
//! mechanism itself costs; against `off`, what doing the work costs at all.
//!
//! Run: `cargo bench -p siyu-tests --bench self_scheduling` (add `-- --quick` for 10 s runs).
//! Needs `spin`, `wrk` and, for the Redis store, `redis-server`.

use std::fmt::Write as _;
use std::sync::Arc;

use http::Method;
use siyu_tests::app::{request, OPERATOR_TOKEN};
use siyu_tests::bench::{
    ingest_script, out_dir, run_wrk, seed_repeat_customers, wrk_or_exit, CONCURRENCY,
};
use siyu_tests::client::Client;
use siyu_tests::platforms::shop_body;
use siyu_tests::receiver::Receiver;
use siyu_tests::redis_server::{self, RedisServer};
use siyu_tests::scenarios::{buyers, run_jobs, shop_due_now};
use siyu_tests::spin_up::{build, Flavour, Launch, SpinUp};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let seconds = if quick { 10 } else { 30 };
    let wrk = wrk_or_exit();
    let out_dir = out_dir();
    let mut report = String::new();
    writeln!(
        report,
        "| store | periodic work | req/s | p50 ms | p99 ms | p50 × off | p99 × off | reminders delivered during the run |\n|---|---|---|---|---|---|---|---|"
    )
    .unwrap();
    for flavour in Flavour::ALL {
        if flavour == Flavour::Redis && !redis_server::available() {
            continue;
        }
        build(flavour);
        let mut off = None;
        for mode in ["off", "off + scheduler", "on"] {
            let on = mode == "on";
            let redis = (flavour == Flavour::Redis).then(|| Arc::new(RedisServer::start()));
            let launch = Launch {
                self_scheduling: on,
                variables: vec![("self_schedule", on.to_string())],
                ..Launch::default()
            };
            let app = SpinUp::start_as(flavour, redis, &launch).unwrap_or_else(|e| panic!("{e}"));
            let receiver = Receiver::start();
            receiver.hold_answers(Some(std::time::Duration::from_millis(20)));
            let due = shop_due_now(&app, &receiver);
            buyers(&app, &due, 0, 300);
            let created = app.call(request(
                Method::POST,
                "/api/shops",
                Some(OPERATOR_TOKEN),
                shop_body("Bench").to_string().into_bytes(),
            ));
            let shop_id = created.1["shop"]["id"].as_str().unwrap().to_string();
            seed_repeat_customers(&app, &shop_id);
            let script = ingest_script(
                &out_dir,
                &format!("{}-sched-{on}", flavour.name()),
                &shop_id,
                seconds,
            );
            let path = format!("/webhooks/shopify/{shop_id}");
            let done = std::sync::atomic::AtomicBool::new(false);
            let m = std::thread::scope(|s| {
                if mode == "off + scheduler" {
                    s.spawn(|| {
                        while !done.load(std::sync::atomic::Ordering::Relaxed) {
                            run_jobs(&app);
                            for _ in 0..100 {
                                if done.load(std::sync::atomic::Ordering::Relaxed) {
                                    break;
                                }
                                std::thread::sleep(std::time::Duration::from_millis(100));
                            }
                        }
                    });
                }
                let m = run_wrk(&wrk, &app.base, &path, Some(&script), seconds);
                done.store(true, std::sync::atomic::Ordering::Relaxed);
                m
            })
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", flavour.manifest(), app.log_tail()));
            let delivered = receiver.received().len();
            eprintln!(
                "{} {mode}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {delivered} delivered",
                flavour.manifest(),
                m.rps,
                m.p50_ms,
                m.p99_ms
            );
            let (p50_ratio, p99_ratio) = match &off {
                Some((p50, p99)) => (m.p50_ms / p50, m.p99_ms / p99),
                None => (1.0, 1.0),
            };
            writeln!(
                report,
                "| {} | {mode} | {:.0} | {:.2} | {:.2} | {p50_ratio:.2} | {p99_ratio:.2} | {delivered} |",
                flavour.manifest(),
                m.rps,
                m.p50_ms,
                m.p99_ms
            )
            .unwrap();
            if mode == "off" {
                off = Some((m.p50_ms, m.p99_ms));
            }
        }
    }
    println!("\nSigned order ingest under real `spin up`, concurrency {CONCURRENCY}, {seconds} s each; periodic work off, by a scheduler every 10 s, or by self-scheduling:\n");
    println!("{report}");
}
