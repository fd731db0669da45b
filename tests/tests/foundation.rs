//! The foundation scenarios in-process: the same request handlers the Spin components call,
//! routed by spin.toml, over the in-memory store. Plus what only the in-memory store can
//! show: failures injected at every write.

use siyu_tests::app::TestApp;
use siyu_tests::client::Client;
use siyu_tests::platforms::*;
use siyu_tests::scenarios::{self, customer_by_phone, mei, send_shopify, PHONE};

/// One `#[test]` per scenario, each on a fresh app.
macro_rules! in_process {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                scenarios::$name(&TestApp::new());
            }
        )*
    };
}

siyu_tests::each_scenario!(in_process);
siyu_tests::each_clock_tolerant_scenario!(in_process);
siyu_tests::each_clocked_scenario!(in_process);
siyu_tests::each_race!(in_process);

#[test]
fn paging_through_ten_thousand_tagged_customers_lists_each_once() {
    scenarios::paging_through_ten_thousand_members_returns_each_once(&TestApp::new(), 10_000);
}

// ------------------------------------------------------------------ failures mid-way

/// Whatever write a failure strikes, the request answers 5xx (so the platform retries) or
/// 2xx, and once the platform's retry succeeds the totals are exact.
#[test]
fn a_failure_at_any_write_is_completed_by_the_retry_without_double_counting() {
    for fail_at in 0..16 {
        let app = TestApp::new();
        let shop = app.shop_with_all_platforms();
        let card = scenarios::channel_with_lead(&app, &shop);
        let first = shopify_order(9001, &mei(), "paid", "100.00", &[TEA]);
        assert_eq!(
            send_shopify(&app, &shop, "orders/create", &first, "w-0").0,
            200
        );

        // The order's state changes (a refund) and a new order arrives, each hit by a failure.
        let refund = shopify_refund(9001, 6001, "30.00");
        let second = shopify_order(9002, &mei(), "paid", "50.00", &[CUPS]);
        for (topic, body, id) in [
            ("refunds/create", &refund, "w-1"),
            ("orders/create", &second, "w-2"),
        ] {
            app.store.fail_after_writes(Some(fail_at));
            let response = app.send(shopify_request(&shop.id, topic, body, SHOPIFY_SECRET, id));
            let status = response.status;
            assert!(
                status == 200 || status == 503,
                "fail_at {fail_at}: {status}"
            );
            app.store.fail_after_writes(None);
            // Shopify retries the same delivery until it gets a 2xx.
            assert_eq!(
                send_shopify(&app, &shop, topic, body, id).0,
                200,
                "fail_at {fail_at}"
            );
        }
        let customer = customer_by_phone(&app, &shop, PHONE).1;
        assert_eq!(customer["orders"]["order_count"], 2, "fail_at {fail_at}");
        assert_eq!(
            customer["orders"]["spend"]["CNY"], 12000,
            "fail_at {fail_at}"
        );
        let cups = customer["products"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["sku"] == "CUP-SET")
            .unwrap()
            .clone();
        assert_eq!(cups["quantity"], 2, "fail_at {fail_at}");
        let funnel = scenarios::november_stats(&app, &shop, &card);
        assert_eq!(funnel["first_orders"], 1, "fail_at {fail_at}");
        assert_eq!(funnel["repurchases"], 1, "fail_at {fail_at}");
        assert_eq!(funnel["revenue"]["CNY"], 12000, "fail_at {fail_at}");
    }
}

/// A failure at any write of an issue, and of the order redeeming the coupon, is finished by
/// the retry: one coupon for the key, never more coupons than the quota, one redemption.
#[test]
fn a_failure_at_any_write_of_issue_or_redemption_never_doubles_or_passes_the_quota() {
    for fail_at in 0..14 {
        let app = TestApp::new();
        let shop = app.shop_with_all_platforms();
        let mei = scenarios::profile(&app, &shop, 1, "Mei", "Lin");
        let campaign = scenarios::create_campaign(
            &app,
            &shop,
            serde_json::json!({"name": "Two", "discount": {"type": "fixed_amount", "amount_minor": 500}, "quota": 2}),
        );
        let cid = campaign["id"].as_str().unwrap();

        app.store.fail_after_writes(Some(fail_at));
        let first = scenarios::issue(&app, &shop, cid, &mei, Some("k-1"));
        assert!(
            first.status == 201 || first.status >= 500,
            "fail_at {fail_at}: {}",
            first.status
        );
        app.store.fail_after_writes(None);
        // The client retries a little later (a crashed request's key is held 10 s).
        let later = scenarios::now() + jiff::SignedDuration::from_secs(11);
        let retry = scenarios::issue_at(&app, &shop, cid, &mei, Some("k-1"), later);
        assert_eq!(retry.status, 201, "fail_at {fail_at}: {}", retry.json());
        let code = retry.json()["code"].as_str().unwrap().to_string();
        if first.status == 201 {
            assert_eq!(first.json()["code"], code.as_str(), "fail_at {fail_at}");
        }
        // The limit of one per customer holds; the quota is never passed.
        let again = scenarios::issue(&app, &shop, cid, &mei, None);
        assert_eq!(again.status, 409, "fail_at {fail_at}");
        // The customer's coupon list holds the coupon once.
        let listed = app
            .get(&format!("/api/customers/{mei}/coupons"), &shop.api_key)
            .1;
        assert_eq!(
            listed["items"],
            serde_json::json!([retry.json()]),
            "fail_at {fail_at}"
        );
        let others: Vec<u16> = (2..5)
            .map(|n| {
                let c = scenarios::profile(&app, &shop, n, "Hua", "Wang");
                scenarios::issue(&app, &shop, cid, &c, None).status
            })
            .collect();
        assert!(
            others.iter().filter(|s| **s == 201).count() <= 1,
            "fail_at {fail_at}: {others:?}"
        );
        let coupons = app
            .store
            .keys()
            .into_iter()
            .filter(|k| k.contains("/cpn/") && !k.contains("/u/"))
            .count();
        assert!(
            coupons <= 2,
            "fail_at {fail_at}: {coupons} coupons for a quota of 2"
        );

        // The order using the coupon, struck by a failure, then redelivered.
        let mut order = siyu_tests::scenarios::buyer_order(
            1,
            8001,
            "100.00",
            siyu_tests::scenarios::days_ago(1),
            &[TEA],
        );
        order["discount_codes"] =
            serde_json::json!([{"code": code, "amount": "5.00", "type": "fixed_amount"}]);
        app.store.fail_after_writes(Some(fail_at));
        let status = app
            .send(shopify_request(
                &shop.id,
                "orders/create",
                &order,
                SHOPIFY_SECRET,
                "o-1",
            ))
            .status;
        assert!(
            status == 200 || status >= 500,
            "fail_at {fail_at}: {status}"
        );
        app.store.fail_after_writes(None);
        assert_eq!(
            send_shopify(&app, &shop, "orders/create", &order, "o-1").0,
            200
        );
        let (_, verdict) = app.get(&format!("/api/coupons/{code}"), &shop.api_key);
        assert_eq!(verdict["reason"], "already_redeemed", "fail_at {fail_at}");
        // Stats follow the coupon: exact unless the failure fell between the coupon's write
        // and the count's increment, which loses that one count (documented), never doubles.
        let (_, stats) = app.get(&format!("/api/campaigns/{cid}/stats"), &shop.api_key);
        let redeemed = stats["redeemed"].as_i64().unwrap();
        assert!(
            redeemed == 1 || (status >= 500 && redeemed == 0),
            "fail_at {fail_at}: {redeemed}"
        );
    }
}

/// A failure at any write of a tag change leaves the segment index to the retry: the
/// customer is listed once while tagged, not at all after. The count takes the step or, when
/// the failure fell between the membership write and its count increment, loses that one
/// step (documented); it never counts twice.
#[test]
fn a_failure_at_any_write_of_a_tag_change_is_finished_by_the_retry() {
    let steps = [
        (serde_json::json!({"add": ["VIP"]}), 1),
        (serde_json::json!({"remove": ["VIP"]}), 0),
        (serde_json::json!({"add": ["vip"]}), 1),
    ];
    for fail_at in 0..10 {
        for failing in 0..steps.len() {
            let app = TestApp::new();
            let shop = app.shop_with_all_platforms();
            let mei = scenarios::profile(&app, &shop, 1, "Mei", "Lin");
            let path = format!("/api/customers/{mei}/tags");
            let change = |body: &serde_json::Value| {
                siyu_tests::app::request(
                    http::Method::POST,
                    &path,
                    Some(&shop.api_key),
                    body.to_string().into_bytes(),
                )
            };
            let count = || {
                let (_, tags) = app.get("/api/tags", &shop.api_key);
                tags["items"][0]["customers"].as_i64().unwrap_or(0)
            };
            for (body, _) in &steps[..failing] {
                assert_eq!(app.send(change(body)).status, 200);
            }
            let (body, members) = &steps[failing];
            let before = count();
            app.store.fail_after_writes(Some(fail_at));
            let status = app.send(change(body)).status;
            assert!(
                status == 200 || status >= 500,
                "fail_at {fail_at}: {status}"
            );
            app.store.fail_after_writes(None);
            assert_eq!(app.send(change(body)).status, 200);
            let listed = scenarios::members(&app, &shop, "/api/tags/VIP/customers", 10);
            assert_eq!(listed.len(), *members, "fail_at {fail_at}, {body}");
            let after = count();
            assert!(
                after == *members as i64 || (status >= 500 && after == before),
                "fail_at {fail_at}, {body}: count {before} → {after}"
            );
        }
    }
}

/// Components that hold no data and no secret: the console's files and charts (it works
/// through the API with the key the person signs in with).
const STORELESS: &[&str] = &["console"];

#[test]
fn spin_toml_declares_every_component_completely() {
    let manifest = siyu_tests::routes::Manifest::load();
    assert!(!manifest.components.is_empty());
    for component in &manifest.components {
        let package = format!("siyu-{}", component.name);
        assert_eq!(
            component.source,
            format!(
                "target/wasm32-wasip1/release/{}.wasm",
                package.replace('-', "_")
            ),
            "{}",
            component.name
        );
        if STORELESS.contains(&component.name.as_str()) {
            assert!(component.key_value_stores.is_empty(), "{}", component.name);
            assert!(component.variables.is_empty(), "{}", component.name);
            assert!(
                component.allowed_outbound_hosts.is_empty(),
                "{}",
                component.name
            );
        } else {
            assert_eq!(
                component.key_value_stores,
                ["default"],
                "{}",
                component.name
            );
        }
        let build = component.build_commands.join(" && ");
        assert!(
            build.contains("--target wasm32-wasip1") && build.contains(&format!("-p {package}")),
            "{build}"
        );
        for variable in &component.variables {
            assert!(
                manifest.variables.contains(variable),
                "{variable} is not an app variable"
            );
        }
        assert!(
            manifest
                .routes
                .iter()
                .any(|r| r.component == component.name),
            "{} has no route",
            component.name
        );
        siyu_tests::app::handler_of(&component.name);
    }
    assert_eq!(manifest.component_for("/api/shops"), Some("shops"));
    assert_eq!(manifest.component_for("/api/shop"), Some("shops"));
    assert_eq!(manifest.component_for("/api/shopx"), Some("fallback"));
    assert_eq!(
        manifest.component_for("/webhooks/shopify/shp_x"),
        Some("ingest")
    );
    assert_eq!(manifest.component_for("/"), Some("fallback"));
    assert_eq!(manifest.component_for("/q/Ab3x9"), Some("scan"));
    assert_eq!(
        manifest.component_for("/q/Ab3x9/form"),
        Some("lead-capture")
    );
    assert_eq!(manifest.component_for("/q/"), Some("lead-capture"));
    assert_eq!(manifest.component_for("/console"), Some("console"));
    assert_eq!(manifest.component_for("/console/app.js"), Some("console"));
}

/// spin.redis.toml and spin.cloud.toml are spin.toml with another store: the same routes,
/// components and variables (plus `redis_url` and `redis_host`), each component built with its store's
/// feature into its own profile folder, and given only its store.
#[test]
fn the_other_manifests_are_spin_toml_with_another_store() {
    use siyu_tests::routes::Manifest;
    let base = Manifest::load();
    for (file, profile, feature) in [
        ("spin.redis.toml", "redis", "redis"),
        ("spin.cloud.toml", "cloud", "sqlite"),
    ] {
        let other = Manifest::load_file(file);
        let routes = |m: &Manifest| -> Vec<(String, String)> {
            m.routes
                .iter()
                .map(|r| (r.pattern.clone(), r.component.clone()))
                .collect()
        };
        assert_eq!(routes(&other), routes(&base), "{file}");
        let mut expected_variables = base.variables.clone();
        if feature == "redis" {
            expected_variables.push("redis_url".to_string());
            expected_variables.push("redis_host".to_string());
        }
        let mut variables = other.variables.clone();
        expected_variables.sort();
        variables.sort();
        assert_eq!(variables, expected_variables, "{file}");
        assert_eq!(other.components.len(), base.components.len(), "{file}");
        for component in &other.components {
            let original = base
                .components
                .iter()
                .find(|c| c.name == component.name)
                .unwrap_or_else(|| panic!("{file}: {} is not in spin.toml", component.name));
            let package = format!("siyu-{}", component.name);
            assert_eq!(
                component.source,
                original
                    .source
                    .replace("/release/", &format!("/{profile}/")),
                "{file}"
            );
            let build = component.build_commands.join(" && ");
            assert_eq!(
                build,
                original.build_commands.join(" && ").replace(
                    &format!("--release -p {package}"),
                    &format!("--profile {profile} -p {package} --no-default-features --features {feature}")
                ),
                "{file}"
            );
            match feature {
                _ if STORELESS.contains(&component.name.as_str()) => {
                    assert!(component.key_value_stores.is_empty(), "{file}");
                    assert!(component.sqlite_databases.is_empty(), "{file}");
                    assert!(component.allowed_outbound_hosts.is_empty(), "{file}");
                    assert!(component.variables.is_empty(), "{file}");
                }
                "redis" => {
                    assert!(component.key_value_stores.is_empty(), "{file}");
                    assert!(component.sqlite_databases.is_empty(), "{file}");
                    assert_eq!(component.allowed_outbound_hosts[0], "{{ redis_host }}");
                    assert!(component.variables.contains(&"redis_url".to_string()));
                }
                _ => {
                    assert!(component.key_value_stores.is_empty(), "{file}");
                    assert_eq!(component.sqlite_databases, ["default"], "{file}");
                    assert_eq!(
                        component.allowed_outbound_hosts, original.allowed_outbound_hosts,
                        "{file}"
                    );
                }
            }
        }
    }
}

/// A data request must never be lost, whichever write fails before Shopify's retry.
#[test]
fn a_data_request_survives_a_failure_at_any_write() {
    let body = serde_json::json!({"shop_id": 1, "shop_domain": "tea-house.myshopify.com",
        "customer": {"id": 5001, "email": null, "phone": null}, "data_request": {"id": 4242}});
    for fail_at in 0..4 {
        let app = TestApp::new();
        let shop = app.shop_with_all_platforms();
        app.store.fail_after_writes(Some(fail_at));
        let first = app.send(shopify_request(
            &shop.id,
            "customers/data_request",
            &body,
            SHOPIFY_SECRET,
            "d-1",
        ));
        assert!(
            first.status == 200 || first.status == 503,
            "fail_at {fail_at}: {}",
            first.status
        );
        app.store.fail_after_writes(None);
        assert_eq!(
            send_shopify(&app, &shop, "customers/data_request", &body, "d-1").0,
            200
        );
        let (_, listed) = app.get("/api/data-requests", &shop.api_key);
        let items = listed["items"].as_array().unwrap();
        assert!(!items.is_empty(), "fail_at {fail_at}: the request was lost");
        assert_eq!(items[0]["request_id"], "4242");
    }
}

// ------------------------------------------------------------------ deployments (issue 21)

/// A `TestApp` posing as a deployment reached from another machine.
struct FromAnotherMachine<'a>(&'a TestApp);

impl Client for FromAnotherMachine<'_> {
    fn send(&self, req: http::Request<Vec<u8>>) -> siyu_tests::client::Reply {
        self.0
            .send(scenarios::from_address(req, "192.0.2.44:51000"))
    }
    fn dump_shop(&self, shop_id: &str) -> Vec<(String, String)> {
        self.0.dump_shop(shop_id)
    }
    fn now(&self) -> jiff::Timestamp {
        self.0.now()
    }
}

#[test]
fn published_development_secrets_serve_only_this_machine() {
    let mut app = TestApp::new();
    app.secrets = siyu::web::Secrets::new(
        Some(siyu::web::DEV_OPERATOR_TOKEN.into()),
        Some(siyu::web::DEV_PEPPER.into()),
        Some(siyu::web::DEV_SCHEDULER_TOKEN.into()),
    );
    scenarios::published_development_secrets_serve_only_this_machine(
        &app,
        &FromAnotherMachine(&app),
    );
}

/// As the production manifests set it up behind one proxy.
fn hardened() -> TestApp {
    let mut app = TestApp::new();
    app.deployment = siyu::web::Deployment {
        client_addressing: siyu::web::ClientAddressing::from_variables(
            Some("X-Forwarded-For"),
            Some("1"),
        ),
        allow_private_delivery: false,
        ..siyu::web::Deployment::default()
    };
    app
}

#[test]
fn private_delivery_urls_are_refused_where_not_allowed() {
    scenarios::private_delivery_urls_are_refused_where_not_allowed(&hardened());
}

#[test]
fn behind_a_trusted_proxy_each_shopper_has_their_own_bucket() {
    scenarios::behind_a_trusted_proxy_each_shopper_has_their_own_bucket(&hardened());
}

#[test]
fn one_shops_broken_receiver_does_not_hold_up_the_others() {
    scenarios::one_shops_broken_receiver_does_not_hold_up_the_others(&TestApp::new());
}

/// A request cut off after the receiver took a message (the step still says `sending`): the
/// step is not sent again while its lease runs, then sent again with the same `message_id`,
/// by which the receiver can tell it already has it.
#[test]
fn a_step_left_sending_by_a_cut_off_request_is_sent_again_after_its_lease() {
    let mut found = 0;
    for fail_at in 0..24 {
        let app = TestApp::new();
        let receiver = siyu_tests::receiver::Receiver::start();
        let shop = scenarios::shop_due_now(&app, &receiver);
        let customer = scenarios::buyers(&app, &shop, 0, 1).remove(0);
        let start = app.now();
        app.store.fail_after_writes(Some(fail_at));
        let cut_off = app.send(dispatch_request(&shop));
        app.store.fail_after_writes(None);
        let state = || {
            let (_, list) = app.get(
                &format!("/api/customers/{customer}/reminders"),
                &shop.api_key,
            );
            list["items"][0]["steps"][0]["state"].clone()
        };
        if receiver.received().len() != 1 || state() != "sending" {
            continue;
        }
        found += 1;
        assert_eq!(cut_off.status, 503, "fail_at {fail_at}");
        let first = receiver.received()[0].json()["message_id"].clone();
        app.set_now(start + jiff::SignedDuration::from_secs(30));
        assert_eq!(app.send(dispatch_request(&shop)).status, 200);
        assert_eq!(receiver.received().len(), 1, "within the lease");
        app.set_now(start + jiff::SignedDuration::from_secs(61));
        assert_eq!(app.send(dispatch_request(&shop)).status, 200);
        let received = receiver.received();
        assert_eq!(received.len(), 2, "fail_at {fail_at}: after the lease");
        assert_eq!(received[1].json()["message_id"], first);
        assert_eq!(state(), "sent");
    }
    assert!(found > 0, "no write left a step sending after its delivery");
}

fn dispatch_request(shop: &siyu_tests::app::TestShop) -> http::Request<Vec<u8>> {
    let mut req = siyu_tests::app::request(
        http::Method::POST,
        &format!("/api/reminders/dispatch?shop={}", shop.id),
        Some(siyu_tests::app::SCHEDULER_TOKEN),
        vec![],
    );
    req.headers_mut()
        .insert("host", "siyu.example.com".parse().unwrap());
    req
}

/// spin.toml's development secrets are the published values the app refuses off loopback,
/// and the production manifests have no value for any secret and refuse private delivery.
#[test]
fn only_spin_toml_has_published_secrets_and_the_app_knows_them() {
    let variables = |file: &str| -> toml::Table {
        let text = std::fs::read_to_string(siyu_tests::routes::workspace_root().join(file))
            .expect("manifest");
        let manifest: toml::Table = text.parse().expect("TOML");
        manifest["variables"].as_table().expect("variables").clone()
    };
    let dev = variables("spin.toml");
    for (name, published) in [
        ("operator_token", siyu::web::DEV_OPERATOR_TOKEN),
        ("pii_pepper", siyu::web::DEV_PEPPER),
        ("scheduler_token", siyu::web::DEV_SCHEDULER_TOKEN),
    ] {
        assert_eq!(dev[name]["default"].as_str(), Some(published), "{name}");
        for file in ["spin.redis.toml", "spin.cloud.toml"] {
            let production = variables(file);
            assert_eq!(production[name].get("default"), None, "{file} {name}");
            assert_eq!(
                production[name]["required"].as_bool(),
                Some(true),
                "{file} {name}"
            );
            assert_eq!(
                production["allow_private_delivery"]["default"].as_str(),
                Some("false"),
                "{file}"
            );
        }
    }
    assert_eq!(
        dev["allow_private_delivery"]["default"].as_str(),
        Some("true")
    );
}

#[test]
fn a_slow_receiver_takes_only_its_share_of_a_dispatch() {
    scenarios::a_slow_receiver_takes_only_its_share_of_a_dispatch(&TestApp::new());
}

// ------------------------------------------------------------------ the scheduler (issue 22)

/// Each on an app of its own: a scheduler call reaches every shop of its store.
#[test]
fn one_scheduler_call_runs_every_shops_due_work() {
    scenarios::one_scheduler_call_runs_every_shops_due_work(&TestApp::new());
}

#[test]
fn a_backlog_larger_than_one_call_goes_out_over_calls_without_starving_others() {
    scenarios::a_backlog_larger_than_one_call_goes_out_over_calls_without_starving_others(
        &TestApp::new(),
    );
}

#[test]
fn two_scheduler_calls_at_once_never_do_the_same_work_twice() {
    scenarios::two_scheduler_calls_at_once_never_do_the_same_work_twice(&TestApp::new());
}

#[test]
fn expired_limits_and_codes_are_swept_by_the_scheduler() {
    scenarios::expired_limits_and_codes_are_swept_by_the_scheduler(&TestApp::new());
}
