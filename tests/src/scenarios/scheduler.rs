//! The scheduler (issue 22): one call runs every shop's periodic work. Each scenario that
//! calls it works on an app of its own (in-process, in the wasm host and under real
//! `spin up` per store): the call reaches every shop of the store, the other scenarios' too.

use std::collections::BTreeSet;

use http::Method;
use jiff::SignedDuration;
use serde_json::{json, Value};

use crate::app::{request, TestShop, OPERATOR_TOKEN, SCHEDULER_TOKEN};
use crate::client::Client;
use crate::receiver::Receiver;

use super::deployments::{buyers, shop_due_now};

/// `POST /api/jobs/run` as the scheduler calls it.
pub fn run_jobs(app: &dyn Client) -> Value {
    let (status, report) = app.call(jobs_request());
    assert_eq!(status, 200, "{report}");
    report
}

fn jobs_request() -> http::Request<Vec<u8>> {
    let mut req = request(Method::POST, "/api/jobs/run", Some(SCHEDULER_TOKEN), vec![]);
    // Links in messages are built from the address the scheduler called.
    req.headers_mut()
        .insert("host", "siyu.example.com".parse().unwrap());
    req
}

fn shop_status(app: &dyn Client, shop: &TestShop) -> Value {
    let (status, answer) = app.get("/api/shop/status", &shop.api_key);
    assert_eq!(status, 200, "{answer}");
    answer
}

fn message_ids(receiver: &Receiver) -> Vec<String> {
    receiver
        .received()
        .iter()
        .map(|r| r.json()["message_id"].as_str().unwrap().to_string())
        .collect()
}

/// "I run 500 shops: one cron entry, not one per shop." One call delivers every shop's due
/// reminders and runs each shop's tagging pass; a shop whose receiver is down does not stop
/// the others, and the merchant of that shop is told, as is the operator.
pub fn one_scheduler_call_runs_every_shops_due_work(app: &dyn Client) {
    let receivers: Vec<Receiver> = (0..3).map(|_| Receiver::start()).collect();
    let broken = Receiver::start();
    broken.answer_with(&[503; 50]);
    let shops: Vec<TestShop> = receivers.iter().map(|r| shop_due_now(app, r)).collect();
    let broken_shop = shop_due_now(app, &broken);
    for (n, shop) in shops.iter().enumerate() {
        buyers(app, shop, 100 * n as u64, 2);
    }
    buyers(app, &broken_shop, 900, 2);

    let report = run_jobs(app);
    for receiver in &receivers {
        assert_eq!(receiver.received().len(), 2, "{report}");
    }
    assert!(report["shops_visited"].as_u64().unwrap() >= 4, "{report}");
    assert!(
        report["reminders"]["messages"].as_u64().unwrap() >= 6,
        "{report}"
    );
    assert!(
        report["tagging"]["evaluated"].as_u64().unwrap() >= 8,
        "{report}"
    );
    for job in ["tagging", "reminders", "expiry"] {
        assert_eq!(
            shop_status(app, &shops[0])["jobs"][job]["outcome"],
            "ok",
            "{job}"
        );
    }
    assert_eq!(shop_status(app, &shops[0])["notices"], json!([]));
    // The shop whose receiver fails: its merchant sees why, and nothing is lost.
    let failing = shop_status(app, &broken_shop);
    let notices: Vec<&str> = failing["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["code"].as_str().unwrap())
        .collect();
    assert_eq!(notices, ["delivery_failing"], "{failing}");
    assert!(
        failing["backlog"]["waiting"].as_u64().unwrap() >= 1,
        "{failing}"
    );

    // The operator's view: the call, what it did, what it left.
    let (status, deployment) = app.get("/api/status", OPERATOR_TOKEN);
    assert_eq!(status, 200, "{deployment}");
    let last = &deployment["scheduler"]["last_call"];
    assert_eq!(last["source"], "scheduler", "{deployment}");
    assert!(last["messages"].as_u64().unwrap() >= 6, "{deployment}");
    assert!(
        last["shops_delivery_failing"].as_u64().unwrap() >= 1,
        "{deployment}"
    );
    assert!(deployment["shops"].as_i64().unwrap() >= 4);
    let (status, one) = app.get(
        &format!("/api/status?shop={}", broken_shop.id),
        OPERATOR_TOKEN,
    );
    assert_eq!(status, 200, "{one}");
    assert!(
        one["shop"]["jobs"]["delivery_failing_since"].is_string(),
        "{one}"
    );
    // Only the operator reads it; only the scheduler runs the jobs.
    assert_eq!(app.get("/api/status", &shops[0].api_key).0, 401);
    let mut forged = jobs_request();
    forged.headers_mut().insert(
        "authorization",
        format!("Bearer {}", shops[0].api_key).parse().unwrap(),
    );
    assert_eq!(app.call(forged).0, 401);
    // A cron that can only send a GET (`spin aka cron`) uses the path the operator reads;
    // anything else is refused.
    let cron_path = deployment["cron_path"].as_str().unwrap().to_string();
    assert!(
        !cron_path.contains(SCHEDULER_TOKEN),
        "the token itself is never in a URL"
    );
    let (status, by_cron) = app.call(request(Method::GET, &cron_path, None, vec![]));
    assert_eq!(status, 200, "{by_cron}");
    assert!(by_cron["shops"].as_i64().unwrap() >= 4);
    for wrong in [
        "/api/jobs/run",
        "/api/jobs/run?key=00",
        &format!("/api/jobs/run?key={SCHEDULER_TOKEN}"),
    ] {
        assert_eq!(
            app.call(request(Method::GET, wrong, None, vec![])).0,
            401,
            "{wrong}"
        );
    }

    // The receiver answers again: the next call delivers what waited, once.
    broken.answer_with(&[]);
    let mut delivered = BTreeSet::new();
    for _ in 0..5 {
        run_jobs(app);
        delivered = message_ids(&broken).into_iter().collect();
        if delivered.len() == 2 && shop_status(app, &broken_shop)["notices"] == json!([]) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(delivered.len(), 2, "{:?}", message_ids(&broken));
    for receiver in &receivers {
        assert_eq!(receiver.received().len(), 2, "nothing was sent twice");
    }
}

/// "One shop has a thousand reminders due after a sale: the others wait behind it." A call
/// gives each shop a share; the small shop's messages go out in the first call, and the big
/// shop's backlog goes out over the next calls, each message once.
pub fn a_backlog_larger_than_one_call_goes_out_over_calls_without_starving_others(
    app: &dyn Client,
) {
    let big = Receiver::start();
    let small = Receiver::start();
    let big_shop = shop_due_now(app, &big);
    let small_shop = shop_due_now(app, &small);
    const BIG: usize = 520;
    buyers(app, &big_shop, 0, BIG as u64);
    buyers(app, &small_shop, 10_000, 2);

    let first = run_jobs(app);
    assert_eq!(small.received().len(), 2, "{first}");
    assert!(big.received().len() < BIG, "{first}");
    assert_eq!(first["caught_up"], false, "{first}");
    let mut calls = 1;
    loop {
        let report = run_jobs(app);
        calls += 1;
        if report["caught_up"] == true || calls >= 12 {
            break;
        }
    }
    let ids = message_ids(&big);
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), BIG, "every message once, in {calls} calls");
    assert_eq!(unique.len(), BIG);
    assert_eq!(small.received().len(), 2);
    assert_eq!(shop_status(app, &big_shop)["backlog"]["waiting"], 0);
}

/// "Two cron entries fire at once (or a slow call overlaps the next)." Each shop's work is
/// done by one of them: every message goes out once and no customer is evaluated twice.
pub fn two_scheduler_calls_at_once_never_do_the_same_work_twice(app: &dyn Client) {
    let receivers: Vec<Receiver> = (0..3).map(|_| Receiver::start()).collect();
    let shops: Vec<TestShop> = receivers.iter().map(|r| shop_due_now(app, r)).collect();
    let mut customers = 0;
    for (n, shop) in shops.iter().enumerate() {
        customers += buyers(app, shop, 100 * n as u64, 5).len();
    }
    let reports: Vec<Value> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..2).map(|_| s.spawn(|| run_jobs(app))).collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let evaluated: u64 = reports
        .iter()
        .map(|r| r["tagging"]["evaluated"].as_u64().unwrap())
        .sum();
    assert_eq!(evaluated as usize, customers, "{reports:?}");
    for receiver in &receivers {
        let ids = message_ids(receiver);
        assert_eq!(ids.len(), 5, "{reports:?}");
        assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 5);
    }
}

/// Rate-limit windows and phone codes are deleted once nobody needs them (clocked: the
/// call plays three hours later). The shop's data keeps everything else.
pub fn expired_limits_and_codes_are_swept_by_the_scheduler(app: &dyn Client) {
    let receiver = Receiver::start();
    let shop = shop_due_now(app, &receiver);
    let start = app.now();
    // A look-up counts in this hour's window: a record that lives until the window is over.
    let (status, _) = app.call_at(
        request(
            Method::GET,
            "/api/customers?phone=%2B8613912345678",
            Some(&shop.api_key),
            vec![],
        ),
        start,
    );
    assert_eq!(status, 404);
    let limits = |app: &dyn Client| {
        app.dump_shop(&shop.id)
            .into_iter()
            .filter(|(k, _)| k.contains("/lk/"))
            .count()
    };
    assert_eq!(limits(app), 1);
    let (status, _) = app.call_at(jobs_request(), start + SignedDuration::from_mins(5));
    assert_eq!(status, 200);
    assert_eq!(limits(app), 1, "still its window's");
    let (status, report) = app.call_at(jobs_request(), start + SignedDuration::from_hours(3));
    assert_eq!(status, 200, "{report}");
    assert!(report["expired"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(limits(app), 0, "the window's record is gone");
    let expiry_lists = app
        .dump_shop(&shop.id)
        .into_iter()
        .filter(|(k, _)| k.contains("/ex/") && !k.ends_with("/ex/cursor"))
        .count();
    assert_eq!(expiry_lists, 0, "and so is its listing");
    assert_eq!(app.get("/api/shop", &shop.api_key).0, 200);
}

/// `/healthz` answers without a key, with the store's kind and the version; every answer
/// names its request, and an error's body names the same one (what an operator searches the
/// log for).
pub fn health_says_the_store_answers(app: &dyn Client) {
    let (status, health) = app.call(request(Method::GET, "/healthz", None, vec![]));
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok");
    assert!(health["store"].is_string());
    assert!(health["version"].is_string());
    let refused = app.send(request(Method::GET, "/api/status", None, vec![]));
    assert_eq!(refused.status, 401);
    let id = refused
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_string();
    assert_eq!(refused.json()["error"]["request_id"], id.as_str());
    let other = app.send(request(Method::GET, "/healthz", None, vec![]));
    assert_ne!(other.headers.get("x-request-id").unwrap(), id.as_str());
}

/// On a deployment that schedules itself: while the app serves ordinary requests (here a
/// shopper's scan every few seconds), a due reminder is delivered and the day's tagging pass
/// runs within two minutes, and nobody calls the scheduler.
pub fn a_due_reminder_goes_out_with_no_scheduler_calling(app: &dyn Client) {
    let receiver = Receiver::start();
    let shop = shop_due_now(app, &receiver);
    buyers(app, &shop, 0, 1);
    let started = std::time::Instant::now();
    while receiver.received().is_empty() && started.elapsed().as_secs() < 120 {
        // Any route will do: a page nobody is signed in to.
        let (status, _) = app.call(request(Method::GET, "/healthz", None, vec![]));
        assert_eq!(status, 200);
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    assert_eq!(
        receiver.received().len(),
        1,
        "no reminder in {:?}",
        started.elapsed()
    );
    let status = shop_status(app, &shop);
    assert_eq!(status["jobs"]["tagging"]["outcome"], "ok", "{status}");
    let (_, deployment) = app.get("/api/status", OPERATOR_TOKEN);
    assert!(
        deployment["scheduler"]["last_background_call_at"].is_string(),
        "{deployment}"
    );
    assert_eq!(
        deployment["scheduler"]["last_scheduler_call_at"],
        Value::Null
    );
    assert_eq!(deployment["self_schedule"], true);
}
