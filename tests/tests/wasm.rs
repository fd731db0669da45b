//! The `.wasm` components in the wasm test host (built with spin.toml's build commands,
//! componentized with the WASI preview1 adapter, run in wasmtime over a SQLite key-value
//! store with Spin 4.0.2's semantics, a fresh instance per request), for what real `spin up`
//! (tests/real_spin.rs) cannot show: scenarios that play other days, races made certain by a
//! pause inside every compare-and-swap, loading checks, and a 10,000-member walk. A trap, a
//! failed instantiation or a 5xx fails the test.

use std::io::{Read, Write};

use http::Method;
use siyu_tests::app::request;
use siyu_tests::host::{listen, ExtraComponent, WasmApp, WasmAppOptions};
use siyu_tests::platforms::*;
use siyu_tests::routes::Manifest;
use siyu_tests::scenarios::{self, mei};
use siyu_tests::wasm::host;

macro_rules! through_wasm {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                scenarios::$name(host());
            }
        )*
    };
}

siyu_tests::each_clock_tolerant_scenario!(through_wasm);
siyu_tests::each_clocked_scenario!(through_wasm);

/// The scheduler's scenarios, in one host of their own (its call reaches every shop of the
/// store), one after another.
#[test]
fn the_scheduler_runs_every_shops_work_once_in_a_host_of_its_own() {
    let own = siyu_tests::wasm::own_host();
    scenarios::two_scheduler_calls_at_once_never_do_the_same_work_twice(&own);
    scenarios::a_backlog_larger_than_one_call_goes_out_over_calls_without_starving_others(&own);
    scenarios::one_scheduler_call_runs_every_shops_due_work(&own);
    scenarios::expired_limits_and_codes_are_swept_by_the_scheduler(&own);
}

#[test]
fn paging_through_ten_thousand_tagged_customers_lists_each_once_in_sqlite() {
    scenarios::paging_through_ten_thousand_members_returns_each_once(host(), 10_000);
}

#[test]
fn every_component_imports_only_what_spin_3_provides() {
    let manifest = Manifest::load();
    let reports: Vec<_> = host()
        .app
        .import_reports()
        .into_iter()
        .filter(|r| manifest.components.iter().any(|c| c.name == r.component))
        .collect();
    assert_eq!(reports.len(), manifest.components.len(), "{reports:?}");
    for report in &reports {
        assert!(
            report.beyond_spin3.is_empty(),
            "{} imports what Spin 3.x lacks: {:?}",
            report.component,
            report.beyond_spin3
        );
    }
    // Recorded for the hosts without key-value atomics (Fermyon Cloud, Akamai Functions):
    // these components could not load there.
    let with_atomics: Vec<_> = reports
        .iter()
        .filter(|r| r.uses_atomics)
        .map(|r| r.component.as_str())
        .collect();
    assert_eq!(
        with_atomics,
        [
            "coupons",
            "customers",
            "fallback",
            "ingest",
            "jobs",
            "lead-capture",
            "reminders",
            "scan",
            "shops",
            "tagging"
        ]
    );
}

#[test]
fn a_trapping_component_fails_the_request_and_the_host_goes_on() {
    let err = host()
        .send_raw(request(Method::GET, "/_fixtures/trap", None, vec![]))
        .expect_err("a trap must not look like an answer");
    assert!(format!("{err:#}").contains("trap"), "{err:#}");
    let ok = host()
        .send_raw(request(Method::GET, "/_fixtures/empty", None, vec![]))
        .unwrap();
    assert_eq!(ok.status, 200);
}

#[test]
fn a_component_importing_what_the_host_lacks_fails_to_load_naming_the_import() {
    let options = WasmAppOptions {
        extra_components: vec![ExtraComponent::fixture("unprovided").unwrap()],
        ..WasmAppOptions::default()
    };
    let err = WasmApp::start(options).err().expect("loading must fail");
    let message = format!("{err:#}");
    assert!(message.contains("fermyon:spin/llm@2.0.0"), "{message}");
    assert!(message.contains("unprovided"), "{message}");
}

#[test]
fn access_log_lines_name_the_route_and_hold_no_personal_data() {
    let h = host();
    let shop = siyu_tests::client::Client::shop_with_all_platforms(h);
    let order = shopify_order(9001, &mei(), "paid", "59.90", &[TEA]);
    let response = h
        .send_raw(shopify_request(
            &shop.id,
            "orders/create",
            &order,
            SHOPIFY_SECRET,
            "w1",
        ))
        .unwrap();
    assert_eq!(response.status, 200);
    let line: serde_json::Value = serde_json::from_str(response.log.trim()).expect("one JSON line");
    assert_eq!(line["route"], "/webhooks/shopify/{shop}");
    assert_eq!(line["shop"], shop.id);
    assert_eq!(line["status"], 200);
    for private in ["13812345678", "mei.lin", "Mei", SHOPIFY_SECRET] {
        assert!(
            !response.log.contains(private),
            "the log holds {private}: {}",
            response.log
        );
    }
}

#[test]
fn the_host_serves_the_components_on_a_loopback_port() {
    let h = host();
    let address = h
        .runtime
        .block_on(listen(h.app.clone(), "127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .write_all(b"GET /no/such/page HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(
        answer.contains(r#"{"error":{"code":"unknown_route""#),
        "{answer}"
    );
}

/// A real HTTP listener on loopback that answers `pong` and records what it received.
fn pong_listener() -> (std::net::SocketAddr, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let (seen, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buffer = vec![0u8; 8192];
            let n = stream.read(&mut buffer).unwrap_or(0);
            let _ = seen.send(String::from_utf8_lossy(&buffer[..n]).into_owned());
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\npong",
            );
        }
    });
    (address, received)
}

#[test]
fn outbound_http_reaches_allowed_hosts_only() {
    let (address, received) = pong_listener();
    let allowed = host()
        .send_raw(request(
            Method::GET,
            &format!("/_fixtures/outbound?url=http://{address}/hook"),
            None,
            vec![],
        ))
        .unwrap();
    assert_eq!(
        allowed.status,
        200,
        "{}",
        String::from_utf8_lossy(&allowed.body)
    );
    assert_eq!(allowed.body, b"pong");
    let request_seen = received
        .recv_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    assert!(
        request_seen.starts_with("POST /hook HTTP/1.1"),
        "{request_seen}"
    );
    assert!(request_seen.contains("\r\nping\r\n"), "{request_seen}");

    // `localhost` is not in the fixture's allowed_outbound_hosts (only 127.0.0.1 is).
    let denied = host()
        .send_raw(request(
            Method::GET,
            &format!(
                "/_fixtures/outbound?url=http://localhost:{}/hook",
                address.port()
            ),
            None,
            vec![],
        ))
        .unwrap();
    assert_eq!(denied.status, 502);
    assert!(
        received
            .recv_timeout(std::time::Duration::from_millis(300))
            .is_err(),
        "a denied request reached the listener"
    );
}

// ------------------------------------------------------------------ Spin's swap, paused

/// On Spin's key-value store a swap from an absent key is an upsert; with every swap paused
/// 20 ms, racing creators of one key overlap every time. Still exact: one coupon per
/// Idempotency-Key and per customer limit, one customer for racing first orders, every
/// order and scan counted.
#[test]
fn races_stay_exact_when_every_swap_pauses_on_spins_semantics() {
    let host = siyu_tests::wasm::pausing_host();
    scenarios::concurrent_issues_for_one_customer_keep_the_limit(host, 10);
    scenarios::concurrent_orders_for_one_customer_are_all_counted(host, 16);
    scenarios::concurrent_scans_are_all_counted(host, 16);
}
