//! Attacks on how a deployment is set up (issue 21), each on an instance of its own (in-process
//! and under real `spin up`), never on the runners' shared ones: published development
//! secrets seen from another machine, a deployment that refuses private delivery and trusts
//! its proxy's client header, and a dispatch across every shop of a store while one shop's
//! receiver is broken (it would dispatch the other scenarios' shops too).

use http::Method;
use serde_json::{json, Value};
use siyu::web::{DEV_OPERATOR_TOKEN, DEV_SCHEDULER_TOKEN};

use crate::app::{request, TestShop, SCHEDULER_TOKEN};
use crate::client::{Client, Reply};
use crate::platforms::*;
use crate::receiver::Receiver;

use super::lead_capture::json_request;
use super::*;

fn refusal(reply: &Reply) -> (u16, Value) {
    (reply.status, reply.json()["error"]["code"].clone())
}

/// A request as another machine sends it (in-process runners take the header as the
/// connection's peer; real Spin sets it from the connection, so there `remote` is reached
/// through a non-loopback address instead).
pub fn from_address(mut req: http::Request<Vec<u8>>, address: &str) -> http::Request<Vec<u8>> {
    req.headers_mut()
        .insert("spin-client-addr", address.parse().unwrap());
    req
}

// ------------------------------------------------------------------ 3. published secrets

/// "The operator forgot to set the secrets: spin.toml's published values are live. Shop ids
/// are public (every unsubscribe link has one), so I mint an owner key for any shop with the
/// published operator token, run the scheduler's calls, and forge unsubscribe links with the
/// published pepper." `local` and `remote` are the same deployment, on spin.toml's development
/// secrets, reached from this machine and from another.
pub fn published_development_secrets_serve_only_this_machine(
    local: &dyn Client,
    remote: &dyn Client,
) {
    let create = |app: &dyn Client| {
        app.send(request(
            Method::POST,
            "/api/shops",
            Some(DEV_OPERATOR_TOKEN),
            shop_body("Tea House").to_string().into_bytes(),
        ))
    };
    let refused = create(remote);
    assert_eq!(refusal(&refused), (401, json!("unauthorized")));
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("published development value"),
        "{}",
        refused.json()
    );
    // A proxy or tunnel on this machine forwards other machines' requests over loopback.
    let mut tunnelled = request(
        Method::POST,
        "/api/shops",
        Some(DEV_OPERATOR_TOKEN),
        shop_body("Tea House").to_string().into_bytes(),
    );
    tunnelled
        .headers_mut()
        .insert("x-forwarded-for", "127.0.0.1".parse().unwrap());
    assert_eq!(
        refusal(&local.send(tunnelled)),
        (401, json!("unauthorized"))
    );
    let created = create(local);
    assert_eq!(created.status, 201, "{}", created.json());
    let shop = TestShop {
        id: created.json()["shop"]["id"].as_str().unwrap().to_string(),
        api_key: created.json()["api_key"].as_str().unwrap().to_string(),
        generic_secret: String::new(),
    };
    let mint = |app: &dyn Client| {
        app.send(request(
            Method::POST,
            &format!("/api/shops/{}/api-key", shop.id),
            Some(DEV_OPERATOR_TOKEN),
            b"{}".to_vec(),
        ))
    };
    assert_eq!(refusal(&mint(remote)), (401, json!("unauthorized")));
    let dispatch = |app: &dyn Client| {
        app.send(request(
            Method::POST,
            "/api/reminders/dispatch",
            Some(DEV_SCHEDULER_TOKEN),
            vec![],
        ))
    };
    assert_eq!(refusal(&dispatch(remote)), (401, json!("unauthorized")));
    assert_eq!(dispatch(local).status, 200);

    // The shop's own key is no published value: it works from anywhere. Whatever needs the
    // pepper (a sign-up, an unsubscribe link) does not run on the published one off this
    // machine: no hash or link is made that anyone could forge.
    let channel = create_channel(
        remote,
        &shop,
        json!({"name": "Card", "target_url": "https://tea.example.com/"}),
    );
    let code = channel["code"].as_str().unwrap();
    let signed_up = local.send(json_request(
        &format!("/q/{code}/lead"),
        &json!({"phone": PHONE, "consent": true}),
    ));
    assert_eq!(signed_up.status, 201, "{}", signed_up.json());
    let customer = signed_up.json()["customer_id"]
        .as_str()
        .unwrap()
        .to_string();
    let stranger = remote.send(json_request(
        &format!("/q/{code}/lead"),
        &json!({"phone": "+8613900005555", "consent": true}),
    ));
    assert_eq!(
        refusal(&stranger),
        (500, json!("misconfigured")),
        "{}",
        stranger.json()
    );
    let (_, plans) = local.get(
        &format!("/api/customers/{customer}/reminders"),
        &shop.api_key,
    );
    let link = plans["unsubscribe_path"].as_str().unwrap().to_string();
    let forged = remote.send(request(Method::POST, &link, None, vec![]));
    assert_eq!(refusal(&forged), (500, json!("misconfigured")));
    let (_, mei) = local.get(&format!("/api/customers/{customer}"), &shop.api_key);
    assert_eq!(mei["consent"]["marketing"], true, "{mei}");
}

// ------------------------------------------------------------------ 5. private delivery

/// "On a production deployment I point the shop's delivery URL at the cloud's internal
/// network or at the host itself, and let Siyu post there for me." The deployment keeps
/// `allow_private_delivery` at the production manifests' default, false.
pub fn private_delivery_urls_are_refused_where_not_allowed(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let put = |url: &str| {
        app.send(request(
            Method::PUT,
            "/api/reminders/settings",
            Some(&shop.api_key),
            json!({"delivery_url": url}).to_string().into_bytes(),
        ))
    };
    for url in [
        "http://127.0.0.1:9/siyu",
        "https://127.0.0.1/siyu",
        "https://localhost/siyu",
        "https://sms.localhost/siyu",
        "https://10.0.0.5/siyu",
        "https://172.16.3.4/siyu",
        "https://192.168.1.20/siyu",
        "https://[fd00::5]/siyu",
        "https://[::1]/siyu",
        "http://hooks.example.com/siyu",
    ] {
        let refused = put(url);
        assert_eq!(
            (refusal(&refused), refused.writes),
            ((422, json!("invalid_field")), 0),
            "{url}"
        );
    }
    let accepted = put("https://hooks.example.com/siyu");
    assert_eq!(accepted.status, 200, "{}", accepted.json());
}

// ------------------------------------------------------------------ 6. the shopper's address

/// "Behind the load balancer every shopper has the balancer's address, so ten sign-ups from
/// me block the shop's form for everyone; and with IPv6 each of my 2^64 addresses is a new
/// bucket." The deployment trusts `x-forwarded-for` from one proxy.
pub fn behind_a_trusted_proxy_each_shopper_has_their_own_bucket(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let channel = create_channel(
        app,
        &shop,
        json!({"name": "Poster", "target_url": "https://tea.example.com/"}),
    );
    let code = channel["code"].as_str().unwrap();
    // The per-minute window must not turn in the middle on a real clock.
    let second = app.now().as_second().rem_euclid(60);
    if second >= 40 && app.clock_is_real() {
        std::thread::sleep(std::time::Duration::from_secs((61 - second) as u64));
    }
    let mut n = 0;
    let mut sign_up = |forwarded: &str| {
        n += 1;
        let mut req = json_request(
            &format!("/q/{code}/lead"),
            &json!({"phone": format!("+86139000070{n:02}"), "consent": true}),
        );
        req.headers_mut()
            .insert("x-forwarded-for", forwarded.parse().unwrap());
        app.send(req).status
    };
    let limit = siyu::channels::leads::RATE_LIMIT_PER_MINUTE;
    for _ in 0..limit {
        assert_eq!(sign_up("203.0.113.7"), 201);
    }
    assert_eq!(sign_up("203.0.113.7"), 429, "the eleventh from one shopper");
    // What the shopper writes further left is their own claim: it buys no new bucket.
    assert_eq!(sign_up("198.51.100.1, 203.0.113.7"), 429);
    // Another shopper behind the same balancer is not blocked.
    assert_eq!(sign_up("203.0.113.8"), 201);
    // One IPv6 /64 is one shopper, whichever of its addresses they use.
    for k in 0..limit {
        assert_eq!(sign_up(&format!("2001:db8:5:6::{:x}", k + 1)), 201);
    }
    assert_eq!(sign_up("2001:db8:5:6:ffff::beef"), 429);
    assert_eq!(sign_up("2001:db8:5:7::1"), 201);
}

// ------------------------------------------------------------------ 5. dispatch isolation

/// A shop delivering to `receiver` whose tea runs out a day after purchase, with no quiet
/// hours or cap, so orders placed last month are due now on any clock.
pub fn shop_due_now(app: &dyn Client, receiver: &Receiver) -> TestShop {
    let shop = app.shop_with_all_platforms();
    let (status, saved) = app.call(request(
        Method::PUT,
        "/api/reminders/settings",
        Some(&shop.api_key),
        json!({
            "products": [{"sku": "TEA-250G", "profile": {"days_per_unit": 1, "lead_days": 0,
                "reminders": 1, "follow_up_days": null}}],
            "delivery_url": receiver.url,
            "quiet_start": "00:00",
            "quiet_end": "00:00",
            "frequency_cap_hours": 0,
            "max_attempts": 5,
        })
        .to_string()
        .into_bytes(),
    ));
    assert_eq!(status, 200, "{saved}");
    let (status, _) = app.call(request(
        Method::POST,
        "/api/reminders/secret",
        Some(&shop.api_key),
        b"{}".to_vec(),
    ));
    assert_eq!(status, 200);
    shop
}

/// `count` buyers of the shop, each with a paid tea order of 20 November; their ids.
pub fn buyers(app: &dyn Client, shop: &TestShop, first: u64, count: u64) -> Vec<String> {
    let mut ids = Vec::new();
    for n in first..first + count {
        let buyer = Buyer {
            platform_id: Some(60_000 + n),
            email: Some(Box::leak(format!("buyer{n}@example.com").into_boxed_str())),
            phone: Some(Box::leak(format!("+86139100{n:05}").into_boxed_str())),
        };
        let order = shopify_order(90_000 + n, &buyer, "paid", "59.90", &[TEA]);
        let (status, ack) = send_shopify(app, shop, "orders/create", &order, &format!("o-{n}"));
        assert_eq!(status, 200, "{ack}");
        ids.push(ack["result"]["customer_id"].as_str().unwrap().to_string());
    }
    ids
}

pub fn dispatch_all(app: &dyn Client) -> Value {
    let mut req = request(
        Method::POST,
        "/api/reminders/dispatch",
        Some(SCHEDULER_TOKEN),
        vec![],
    );
    req.headers_mut()
        .insert("host", "siyu.example.com".parse().unwrap());
    let (status, report) = app.call(req);
    assert_eq!(status, 200, "{report}");
    report
}

/// "My shop's receiver answers 503 to everything, or hangs: the scheduler's dispatch of
/// every shop stops at mine, and nobody else's reminders go out." `app` holds no other shop.
pub fn one_shops_broken_receiver_does_not_hold_up_the_others(app: &dyn Client) {
    let failing = Receiver::start();
    failing.answer_with(&[503; 20]);
    let hanging = Receiver::start();
    hanging.hold_answers(Some(std::time::Duration::from_secs(30)));
    let good = Receiver::start();
    let failing_shop = shop_due_now(app, &failing);
    let hanging_shop = shop_due_now(app, &hanging);
    let good_shop = shop_due_now(app, &good);
    buyers(app, &failing_shop, 0, 6);
    buyers(app, &hanging_shop, 100, 6);
    buyers(app, &good_shop, 200, 6);

    let report = dispatch_all(app);
    assert_eq!(report["shops"], 3, "{report}");
    assert_eq!(good.received().len(), 6, "{report}");
    assert_eq!(report["shops_deferred"], 2, "{report}");
    // A failing receiver is tried a few times a call, not once per due message.
    assert!(
        failing.received().len() <= 3,
        "{}",
        failing.received().len()
    );
    assert!(
        hanging.received().len() <= 3,
        "{}",
        hanging.received().len()
    );
    assert_eq!(report["caught_up"], false, "{report}");

    // The next call: the good shop's messages are not sent again; the hanging shop, answering
    // again, gets the messages it was not yet tried with (those cut off wait for their retry).
    hanging.hold_answers(None);
    let next = dispatch_all(app);
    assert_eq!(good.received().len(), 6, "{next}");
    assert!(hanging.received().len() > 3, "{next}");
}

/// "My receiver answers every message, just inside the timeout: the scheduler's dispatch of
/// every shop spends its time on mine." It gets its share of the call and no more; the other
/// shop's messages go out in the same call. `app` holds no other shop.
pub fn a_slow_receiver_takes_only_its_share_of_a_dispatch(app: &dyn Client) {
    let slow = Receiver::start();
    slow.hold_answers(Some(std::time::Duration::from_secs(2)));
    let good = Receiver::start();
    let slow_shop = shop_due_now(app, &slow);
    let good_shop = shop_due_now(app, &good);
    buyers(app, &slow_shop, 0, 8);
    buyers(app, &good_shop, 100, 3);
    let report = dispatch_all(app);
    assert_eq!(good.received().len(), 3, "{report}");
    assert_eq!(report["shops_deferred"], 1, "{report}");
    let taken = slow.received().len();
    assert!(
        (3..=5).contains(&taken),
        "{taken} slow deliveries: {report}"
    );
}
