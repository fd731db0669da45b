//! The attack suite: each scenario is an attack, in the attacker's words, that once went
//! through (issue 21), and what stops it now. These run on every runner and store; those that
//! need a deployment set up another way (published secrets, no private delivery, a trusted
//! proxy header) are in `deployments` and run on their own instances.

use http::Method;
use serde_json::{json, Value};

use crate::app::{request, TestShop, OPERATOR_TOKEN, SCHEDULER_TOKEN};
use crate::client::{Client, Reply};
use crate::platforms::*;
use crate::receiver::Receiver;

use super::coupons::create_campaign;
use super::phone_verification::{ask_code, last_code, shop_delivering_to};
use super::*;

/// `(status, error.code)` of an answer.
fn refusal(reply: &Reply) -> (u16, Value) {
    (reply.status, reply.json()["error"]["code"].clone())
}

fn with_key(method: Method, path: &str, key: &str, body: Value) -> http::Request<Vec<u8>> {
    request(method, path, Some(key), body.to_string().into_bytes())
}

/// A further API key of the shop, made by its owner.
fn new_key(app: &dyn Client, shop: &TestShop, name: &str, scopes: &[&str]) -> (String, String) {
    let (status, key) = app.call(with_key(
        Method::POST,
        "/api/shop/keys",
        &shop.api_key,
        json!({"name": name, "scopes": scopes}),
    ));
    assert_eq!(status, 201, "{key}");
    (
        key["id"].as_str().unwrap().to_string(),
        key["api_key"].as_str().unwrap().to_string(),
    )
}

// ------------------------------------------------------------------ 1. identity claims

/// "I know Mei's phone number. I sign up with it and my own email and name, tick the
/// marketing box, and read her customer id and welcome coupon off the answer; her reminders
/// then come to my email. On a channel that verifies numbers, I verify my own number and
/// give her email, so my number lands on her record as verified."
pub fn a_stranger_who_knows_a_customers_number_cannot_take_over_or_see_it(app: &dyn Client) {
    let receiver = Receiver::start();
    let (shop, _) = shop_delivering_to(app, &receiver);
    let welcome = create_campaign(
        app,
        &shop,
        json!({"name": "Welcome", "discount": {"type": "fixed_amount", "amount_minor": 1000}, "valid_days": 30}),
    );
    let card = create_channel(
        app,
        &shop,
        json!({"name": "Card", "target_url": "https://tea.example.com/", "welcome_campaign": welcome["id"]}),
    );
    let code = card["code"].as_str().unwrap();
    let signed_up = submit_lead(
        app,
        code,
        json!({"phone": PHONE, "email": "mei@example.com", "name": "Mei", "consent": true}),
        "10.21.0.1:1",
    );
    assert_eq!(signed_up.status, 201, "{}", signed_up.json());
    let mei_id = signed_up.json()["customer_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mei_coupon = signed_up.json()["welcome_coupon"]
        .as_str()
        .unwrap()
        .to_string();
    // Mei unsubscribes from the link in a message.
    let (_, plans) = app.get(&format!("/api/customers/{mei_id}/reminders"), &shop.api_key);
    let link = plans["unsubscribe_path"].as_str().unwrap();
    assert_eq!(
        app.send(request(Method::POST, link, None, vec![])).status,
        200
    );

    // The attack, as JSON and through the hosted form.
    let json_attack = submit_lead(
        app,
        code,
        json!({"phone": PHONE, "email": "attacker@evil.example", "name": "Mallory", "consent": true}),
        "10.21.0.2:1",
    );
    assert_eq!(json_attack.status, 200);
    assert_eq!(
        json_attack.json(),
        json!({"recorded": true, "returning": true, "coupon": "kept", "phone_verified": false})
    );
    let form = String::from_utf8_lossy(&form_page(app, code).body).into_owned();
    let version = hidden_value(&form, "notice_version");
    let form_attack = submit_form(
        app,
        code,
        &format!(
            "name=Mallory&phone=%2B8613812345678&email=attacker%40evil.example\
             &notice_version={version}&notice_accepted=on&marketing=on"
        ),
        "10.21.0.3:1",
    );
    assert_eq!(form_attack.status, 200);
    for answer in [&json_attack, &form_attack] {
        let text = String::from_utf8_lossy(&answer.body);
        assert!(
            !text.contains(&mei_id) && !text.contains(&mei_coupon),
            "the answer shows Mei's id or coupon: {text}"
        );
    }
    assert!(String::from_utf8_lossy(&form_attack.body).contains("您之前已在本店登记过"));
    let mei = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(mei["email"], "m***@example.com", "{mei}");
    assert_eq!(mei["first_name"], "Mei");
    assert_eq!(
        (&mei["consent"]["marketing"], &mei["consent"]["source"]),
        (&json!(false), &json!("unsubscribe")),
        "her unsubscribe stands"
    );
    let by_email = app.get(
        "/api/customers?email=attacker%40evil.example",
        &shop.api_key,
    );
    assert_eq!(by_email.0, 404, "the attacker's email was linked to Mei");
    assert!(
        receiver
            .received()
            .iter()
            .all(|r| r.json()["kind"] != "welcome_coupon"),
        "a coupon went out to someone who unsubscribed"
    );

    // On a channel that verifies numbers: Mallory proves her own number, claims Mei's email.
    let verifying = create_channel(
        app,
        &shop,
        json!({"name": "Verified card", "target_url": "https://tea.example.com/",
            "page": {"verify_phone": true, "fields": {"phone": "required", "email": "optional"}}}),
    );
    let verifying = verifying["code"].as_str().unwrap();
    let mallory = "+8613900006666";
    let asked = ask_code(app, verifying, mallory, "10.21.0.4:1", None);
    assert_eq!(asked.status, 200, "{}", asked.json());
    let proof = last_code(&receiver, mallory);
    let claimed = submit_lead(
        app,
        verifying,
        json!({"phone": mallory, "phone_code": proof, "email": "mei@example.com", "consent": true}),
        "10.21.0.4:2",
    );
    assert_eq!(claimed.status, 201, "{}", claimed.json());
    assert_eq!(claimed.json()["phone_verified"], true);
    assert_ne!(claimed.json()["customer_id"], json!(mei_id));
    let mei = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(mei["phone"], "138****5678");
    assert_eq!(mei["phone_verified_at"], Value::Null, "{mei}");
    let (_, theirs) = customer_by_phone(app, &shop, mallory);
    assert_eq!(
        theirs["email"],
        Value::Null,
        "Mei's email was copied: {theirs}"
    );
    let (_, by_email) = app.get("/api/customers?email=mei%40example.com", &shop.api_key);
    assert_eq!(by_email["id"], json!(mei_id));

    // A real returning customer (a Shopify buyer who accepts marketing) who proves nothing:
    // their coupon goes to the contact details on record, once, and the page says so.
    let order = shopify_order(9001, &mei_buyer_two(), "paid", "59.90", &[TEA]);
    assert_eq!(
        send_shopify(app, &shop, "orders/create", &order, "o-1").0,
        200
    );
    let returning = submit_lead(
        app,
        code,
        json!({"phone": "+8613800002222", "consent": true}),
        "10.21.0.5:1",
    );
    assert_eq!(returning.json()["coupon"], "sent", "{}", returning.json());
    assert_eq!(returning.json()["welcome_coupon"], Value::Null);
    let coupons: Vec<Value> = receiver
        .received()
        .iter()
        .map(|r| r.json())
        .filter(|m| m["kind"] == "welcome_coupon")
        .collect();
    assert_eq!(coupons.len(), 1, "{coupons:?}");
    assert_eq!(coupons[0]["customer"]["phone"], "+8613800002222");
    assert!(coupons[0]["coupon"]["code"].is_string());
    let again = submit_lead(
        app,
        code,
        json!({"phone": "+8613800002222", "consent": true}),
        "10.21.0.5:2",
    );
    assert_eq!(again.json()["coupon"], "sent");
    let sent_again = receiver
        .received()
        .iter()
        .filter(|r| r.json()["kind"] == "welcome_coupon")
        .count();
    assert_eq!(sent_again, 1, "resubmitting sends the coupon again");
}

/// A Shopify buyer with their own number and email, who accepts marketing.
fn mei_buyer_two() -> Buyer {
    Buyer {
        platform_id: Some(5002),
        email: Some("hua@example.com"),
        phone: Some("+8613800002222"),
    }
}

/// "I check out as a guest in Mei's shop with her phone number, my email and the marketing
/// box ticked (cash on delivery: it costs me nothing): Siyu folds my order into her record and
/// her reminders come to me. Or I re-post her last signed customers/update, from before she
/// unsubscribed, to subscribe her again."
pub fn a_checkout_with_someone_elses_number_does_not_rewrite_them(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let profile = json!({
        "id": 5001, "email": "mei@example.com", "phone": PHONE,
        "first_name": "Mei", "last_name": "Lin", "updated_at": "2026-11-19T10:00:00+08:00",
        "email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in"},
    });
    assert_eq!(
        send_shopify(app, &shop, "customers/create", &profile, "c-1").0,
        200
    );
    let (_, mei) = customer_by_phone(app, &shop, PHONE);
    let mei_id = mei["id"].as_str().unwrap().to_string();
    let (_, plans) = app.get(&format!("/api/customers/{mei_id}/reminders"), &shop.api_key);
    let link = plans["unsubscribe_path"].as_str().unwrap();
    assert_eq!(
        app.send(request(Method::POST, link, None, vec![])).status,
        200
    );

    let mallory = Buyer {
        platform_id: None,
        email: Some("mallory@evil.example"),
        phone: Some(PHONE),
    };
    let mut guest = shopify_order(9101, &mallory, "pending", "0.00", &[TEA]);
    guest["customer"] = Value::Null;
    assert_eq!(
        send_shopify(app, &shop, "orders/create", &guest, "o-g").0,
        200
    );
    assert_eq!(
        send_shopify(app, &shop, "customers/update", &profile, "c-replayed").0,
        200
    );
    let (_, after) = customer_by_phone(app, &shop, PHONE);
    assert_eq!(after["id"], json!(mei_id));
    assert_eq!(after["email"], "m***@example.com", "{after}");
    assert_eq!(after["first_name"], "Mei");
    assert_eq!(after["consent"]["marketing"], false, "{after}");
    // A new account of mine with her number joins her orders, never her details.
    let account = Buyer {
        platform_id: Some(6666),
        email: Some("mallory@evil.example"),
        phone: Some(PHONE),
    };
    let order = shopify_order(9102, &account, "paid", "1.00", &[TEA]);
    assert_eq!(
        send_shopify(app, &shop, "orders/create", &order, "o-a").0,
        200
    );
    let mine = json!({
        "id": 6666, "email": "mallory@evil.example", "phone": PHONE,
        "first_name": "Mallory", "updated_at": "2026-12-29T10:00:00+08:00",
        "email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in"},
    });
    assert_eq!(
        send_shopify(app, &shop, "customers/update", &mine, "c-m").0,
        200
    );
    let (_, after) = customer_by_phone(app, &shop, PHONE);
    assert_eq!(after["email"], "m***@example.com", "{after}");
    assert_eq!(after["first_name"], "Mei");
    assert_eq!(after["consent"]["marketing"], false, "{after}");
    assert_eq!(
        after["orders"]["order_count"], 1,
        "her orders count: {after}"
    );

    // Her own account speaks for her: a newer update from it changes her email.
    let mut moved = profile.clone();
    moved["email"] = json!("mei.lin@example.org");
    moved["updated_at"] = json!("2026-12-30T10:00:00+08:00");
    moved["email_marketing_consent"] = json!({"state": "unsubscribed"});
    assert_eq!(
        send_shopify(app, &shop, "customers/update", &moved, "c-2").0,
        200
    );
    let (_, moved) = customer_by_phone(app, &shop, PHONE);
    assert_eq!(moved["email"], "m***@example.org", "{moved}");
}

// ------------------------------------------------------------------ 2. webhook topics

/// "I captured one signed Shopify order delivery. Re-posted with `X-Shopify-Topic:
/// shop/redact` it closes the shop; as `customers/redact` it erases the buyer. The same for
/// a WooCommerce order as `order.deleted`, and a Youzan trade under the older signing, which
/// does not cover the message type, as `trade_TradeClose`."
pub fn a_signed_webhook_re_posted_under_another_topic_changes_nothing(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let order = shopify_order(9001, &mei(), "paid", "59.90", &[TEA]);
    assert_eq!(
        send_shopify(app, &shop, "orders/create", &order, "o-1").0,
        200
    );
    let shopify = |topic: &str, body: &Value, id: &str| {
        app.send(shopify_request(&shop.id, topic, body, SHOPIFY_SECRET, id))
    };
    for topic in [
        "shop/redact",
        "customers/redact",
        "customers/data_request",
        "refunds/create",
        "customers/update",
    ] {
        let replayed = shopify(topic, &order, &format!("replay-{topic}"));
        assert_eq!(
            (refusal(&replayed), replayed.writes),
            ((422, json!("topic_mismatch")), 0),
            "{topic}"
        );
    }
    let refund = shopify_refund(9001, 6001, "10.00");
    assert_eq!(
        refusal(&shopify("orders/create", &refund, "replay-refund")),
        (422, json!("topic_mismatch"))
    );
    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(customer["orders"]["order_count"], 1);
    assert_eq!(customer["erased_at"], Value::Null);
    assert_eq!(
        app.get("/api/data-requests", &shop.api_key).1["items"],
        json!([])
    );

    // A public app signs every shop with one secret: a genuine privacy delivery for another
    // shop, or a delivery whose header names another shop, does nothing here.
    let elsewhere = json!({"shop_id": 2, "shop_domain": "someone-else.myshopify.com"});
    assert_eq!(
        refusal(&shopify("shop/redact", &elsewhere, "other-shop")),
        (422, json!("wrong_shop"))
    );
    let mut misrouted = shopify_request(&shop.id, "orders/create", &order, SHOPIFY_SECRET, "m");
    misrouted.headers_mut().insert(
        "x-shopify-shop-domain",
        "someone-else.myshopify.com".parse().unwrap(),
    );
    assert_eq!(refusal(&app.send(misrouted)), (422, json!("wrong_shop")));
    // A shop that never said which Shopify shop it is takes no redaction at all.
    let bare = app.create_shop(json!({"name": "Bare", "currency": "CNY",
        "credentials": {"shopify_secrets": [SHOPIFY_SECRET]}}));
    let ours = json!({"shop_id": 1, "shop_domain": SHOPIFY_DOMAIN});
    let unnamed = app.send(shopify_request(
        &bare.id,
        "shop/redact",
        &ours,
        SHOPIFY_SECRET,
        "bare",
    ));
    assert_eq!(refusal(&unnamed), (422, json!("shop_identity_required")));
    assert_eq!(app.get("/api/shop", &bare.api_key).0, 200);

    // WooCommerce: a signed order re-posted as its deletion, or as a customer.
    let woo = woo_order(312, &mei(), "completed", "20.00", &[CUPS]);
    assert_eq!(
        app.call(woo_request(&shop.id, "order.created", &woo, WOO_SECRET))
            .0,
        200
    );
    for topic in ["order.deleted", "customer.updated"] {
        let replayed = app.send(woo_request(&shop.id, topic, &woo, WOO_SECRET));
        assert_eq!(
            refusal(&replayed),
            (422, json!("topic_mismatch")),
            "{topic}"
        );
    }
    assert_eq!(order_count_of_mei(app, &shop), 2);

    // Youzan's older scheme signs only `msg`: a paid trade re-posted as closed.
    let paid = youzan_trade("E9", Some("13812345678"), None, "30.00", &[TEA]);
    let youzan = |kind: &str, msg: &Value| {
        app.send(youzan_msg_signed_request(
            &shop.id,
            kind,
            "E9",
            msg,
            YOUZAN_SECRET,
        ))
    };
    assert_eq!(youzan("trade_TradePaid", &paid).status, 200);
    assert_eq!(order_count_of_mei(app, &shop), 3);
    assert_eq!(
        refusal(&youzan("trade_TradeClose", &paid)),
        (422, json!("topic_mismatch"))
    );
    assert_eq!(order_count_of_mei(app, &shop), 3);
    // A trade that really closed says so in its signed status.
    let mut closed = paid.clone();
    closed["full_order_info"]["order_info"]["status"] = json!("TRADE_CLOSE");
    assert_eq!(youzan("trade_TradeClose", &closed).status, 200);
    assert_eq!(order_count_of_mei(app, &shop), 2);

    // The genuine shop/redact, in its own shape and naming this shop, closes it.
    let (status, closed) = app.call(shopify_request(
        &shop.id,
        "shop/redact",
        &ours,
        SHOPIFY_SECRET,
        "real-redact",
    ));
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["result"]["effect"], "shop_closed");
    assert_eq!(app.get("/api/shop", &shop.api_key).0, 401);
}

/// "I captured a signed generic delivery of order A-1 and re-post it within five minutes with
/// `X-Siyu-Delivery-Id` set to the id the shop's system will give the cancellation; when the
/// real cancellation comes, it is answered as a duplicate and never applied."
pub fn a_re_posted_delivery_id_cannot_hide_a_genuine_delivery(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let send = |body: &Value, id: &str| {
        let bytes = serde_json::to_vec(body).unwrap();
        let mut req = generic_request(
            &shop.id,
            &shop.generic_secret,
            &bytes,
            app.now().as_second(),
        );
        req.headers_mut()
            .insert("x-siyu-delivery-id", id.parse().unwrap());
        app.call(req)
    };
    let paid = generic_order("A-1", "paid", None, Some(PHONE), "59.90");
    assert_eq!(send(&paid, "A-1-paid").0, 200);
    assert_eq!(send(&paid, "A-1-cancelled").0, 200, "the re-post");
    let mut cancelled = paid.clone();
    cancelled["status"] = json!("cancelled");
    cancelled["updated_at"] = json!("2026-11-21T02:00:00Z");
    let (status, ack) = send(&cancelled, "A-1-cancelled");
    assert_eq!(status, 200, "{ack}");
    assert_eq!(
        order_count_of_mei(app, &shop),
        0,
        "the cancellation was dropped: {ack}"
    );
}

// ------------------------------------------------------------------ 4. scopes

/// "The shop gave me an integration key without the contacts scope. I point the reminders'
/// delivery URL at my server and rotate its secret: every reminder then brings me full
/// numbers and emails. Or I swap the platform secrets and forge webhooks. Or I unmask a
/// number by looking up all 10,000 candidates its mask leaves."
pub fn a_key_without_scopes_cannot_redirect_messages_or_unmask_numbers(app: &dyn Client) {
    let receiver = Receiver::start();
    let (shop, _) = shop_delivering_to(app, &receiver);
    let (_, limited) = new_key(app, &shop, "ERP", &[]);
    let settings = |key: &str, url: &str| {
        app.send(with_key(
            Method::PUT,
            "/api/reminders/settings",
            key,
            json!({"delivery_url": url, "quiet_start": "22:00", "quiet_end": "08:00"}),
        ))
    };
    let redirect = settings(&limited, "https://evil.example/collect");
    assert_eq!(
        (refusal(&redirect), redirect.writes),
        ((403, json!("forbidden")), 0)
    );
    let rotate = app.send(with_key(
        Method::POST,
        "/api/reminders/secret",
        &limited,
        json!({}),
    ));
    assert_eq!(refusal(&rotate), (403, json!("forbidden")));
    let swap = app.send(with_key(
        Method::PATCH,
        "/api/shop",
        &limited,
        json!({"credentials": {"shopify_secrets": ["attacker-chosen-secret-0001"]}}),
    ));
    assert_eq!(
        (refusal(&swap), swap.writes),
        ((403, json!("forbidden")), 0)
    );
    // Nor may it lift the shop's ceiling on the texts strangers can make it pay for.
    let lift = app.send(with_key(
        Method::PATCH,
        "/api/shop",
        &limited,
        json!({"limits": {"phone_codes_per_hour": 100_000}}),
    ));
    assert_eq!(
        (refusal(&lift), lift.writes),
        ((403, json!("forbidden")), 0)
    );
    // Its everyday work goes on: the same URL with other settings, the shop's name.
    assert_eq!(settings(&limited, &receiver.url).status, 200);
    let (status, _) = app.call(with_key(
        Method::PATCH,
        "/api/shop",
        &limited,
        json!({"name": "Tea House 2"}),
    ));
    assert_eq!(status, 200);

    // A key given the scope may; every change is in the log, which only the owner reads.
    let (courier_id, courier) = new_key(app, &shop, "SMS gateway", &["manage_delivery"]);
    assert_eq!(
        settings(&courier, "https://hooks.example.com/siyu").status,
        200
    );
    let (status, log) = app.get("/api/shop/audit", &shop.api_key);
    assert_eq!(status, 200, "{log}");
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "delivery_url_changed",
            "key_created",
            "key_created",
            "delivery_secret_rotated",
            "delivery_url_changed"
        ],
        "newest first"
    );
    // Paged two at a time, the same entries in the same order.
    let mut paged = Vec::new();
    let mut cursor = json!(0);
    while !cursor.is_null() {
        let (_, page) = app.get(
            &format!("/api/shop/audit?limit=2&cursor={cursor}"),
            &shop.api_key,
        );
        paged.extend(page["items"].as_array().unwrap().clone());
        cursor = page["next_cursor"].clone();
    }
    assert_eq!(paged, log["items"].as_array().unwrap().clone());
    let last = &log["items"][0];
    assert_eq!(
        (&last["by"], &last["from_host"], &last["to_host"]),
        (
            &json!(courier_id),
            &json!("127.0.0.1"),
            &json!("hooks.example.com")
        ),
        "{log}"
    );
    let read = app.send(request(
        Method::GET,
        "/api/shop/audit",
        Some(&limited),
        vec![],
    ));
    assert_eq!(refusal(&read), (403, json!("forbidden")));

    // Numbers are masked as Chinese apps show them, and look-ups are counted per key.
    let order = shopify_order(9001, &mei(), "paid", "59.90", &[TEA]);
    assert_eq!(
        send_shopify(app, &shop, "orders/create", &order, "o-1").0,
        200
    );
    let (_, prober) = new_key(app, &shop, "Prober", &[]);
    let lookup = |n: u32| {
        app.send(request(
            Method::GET,
            &format!("/api/customers?phone=%2B86138{n:04}5678"),
            Some(&prober),
            vec![],
        ))
    };
    // The limit counts per clock hour: on a real clock, start well inside one.
    let second = app.now().as_second().rem_euclid(3600);
    if second >= 3540 && app.clock_is_real() {
        std::thread::sleep(std::time::Duration::from_secs((3601 - second) as u64));
    }
    let found = lookup(1234);
    assert_eq!(found.status, 200);
    assert_eq!(found.json()["phone"], "138****5678");
    for n in 1..siyu::api::customers::LOOKUPS_PER_HOUR as u32 {
        assert_ne!(lookup(n).status, 429, "look-up {n}");
    }
    assert_eq!(refusal(&lookup(9999)), (429, json!("rate_limited")));
}

// ------------------------------------------------------------------ 5. outbound

/// "I set the delivery URL to the cloud's metadata service (or write loopback in a form the
/// resolver reads as loopback) and let Siyu fetch it for me; or I point it at a server that
/// never answers, so every request waiting on it hangs."
pub fn delivery_urls_never_reach_metadata_and_a_hanging_receiver_is_cut_off(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://100.100.100.200/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
        "http://0x7f.0.0.1/",
        "http://2130706433/",
        "gopher://hooks.example.com/",
    ] {
        let refused = app.send(with_key(
            Method::PUT,
            "/api/reminders/settings",
            &shop.api_key,
            json!({"delivery_url": url}),
        ));
        assert_eq!(
            (refusal(&refused), refused.writes),
            ((422, json!("invalid_field")), 0),
            "{url}"
        );
    }
    // A receiver that takes the message and never answers: the code request gives up after
    // a few seconds and says so (the code is withdrawn), instead of answering when the
    // receiver finally does.
    let receiver = Receiver::start();
    receiver.hold_answers(Some(std::time::Duration::from_secs(40)));
    let (shop, _) = shop_delivering_to(app, &receiver);
    let verifying = super::phone_verification::verifying_channel(app, &shop);
    let asked = ask_code(app, &verifying, "+8613900001111", "10.22.0.1:1", None);
    assert_eq!(
        refusal(&asked),
        (503, json!("delivery_unavailable")),
        "{}",
        asked.json()
    );
}

// ------------------------------------------------------------------ 6. limits

/// "I fill the sign-up form with a thousand numbers from a thousand addresses: the shop pays
/// for every text (SMS pumping). Or I forge `X-Forwarded-For` to get a fresh bucket."
pub fn a_shop_caps_the_codes_strangers_can_make_it_send(app: &dyn Client) {
    let receiver = Receiver::start();
    let (shop, _) = shop_delivering_to(app, &receiver);
    let (status, limited) = patch_shop(app, &shop, &json!({"limits": {"phone_codes_per_hour": 3}}));
    assert_eq!(status, 200, "{limited}");
    assert_eq!(limited["limits"]["phone_codes_per_hour"], 3);
    let verifying = super::phone_verification::verifying_channel(app, &shop);
    // On a real clock the hour must not turn in the middle.
    let second = app.now().as_second().rem_euclid(3600);
    if second >= 3540 && app.clock_is_real() {
        std::thread::sleep(std::time::Duration::from_secs((3601 - second) as u64));
    }
    for n in 0..3 {
        let asked = ask_code(
            app,
            &verifying,
            &format!("+86139000020{n:02}"),
            &format!("10.23.{n}.1:1"),
            None,
        );
        assert_eq!(asked.status, 200, "{}", asked.json());
    }
    let pumped = ask_code(app, &verifying, "+8613900002099", "10.23.9.1:1", None);
    assert_eq!(refusal(&pumped), (429, json!("rate_limited")));
    assert!(pumped.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("this shop"));
    for bad in [0, 100_001] {
        let (status, _) = patch_shop(
            app,
            &shop,
            &json!({"limits": {"phone_codes_per_hour": bad}}),
        );
        assert_eq!(status, 422, "{bad}");
    }

    // With no proxy trusted, a forged X-Forwarded-For is the client's own claim: ignored.
    let (other, _) = shop_delivering_to(app, &receiver);
    let verifying = super::phone_verification::verifying_channel(app, &other);
    let per_address = siyu::channels::verification::CODES_PER_ADDRESS_PER_HOUR;
    for n in 0..=per_address {
        let mut req = json_request(
            &format!("/q/{verifying}/verify"),
            &json!({"phone": format!("+86139000030{n:02}")}),
        );
        req.headers_mut()
            .insert("spin-client-addr", "10.24.0.1:1".parse().unwrap());
        req.headers_mut().insert(
            "x-forwarded-for",
            format!("198.51.100.{n}").parse().unwrap(),
        );
        let asked = app.send(req);
        let expected = if n < per_address { 200 } else { 429 };
        assert_eq!(asked.status, expected, "code {n}: {}", asked.json());
    }
}

// ------------------------------------------------------------------ 7. redaction

/// "Shopify sends shop/redact for a shop with many customers; Siyu erases the first 200,
/// answers 200, and Shopify never asks again: the rest keep their personal data."
pub fn a_shop_redaction_erases_every_customer_however_many(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    const CUSTOMERS: u64 = 130;
    for n in 1..=CUSTOMERS {
        let order = bench_order(n, n);
        let (status, ack) = send_shopify(app, &shop, "orders/create", &order, &format!("o-{n}"));
        assert_eq!(status, 200, "{ack}");
    }
    let redact = json!({"shop_id": 1, "shop_domain": SHOPIFY_DOMAIN});
    let (status, ack) = send_shopify(app, &shop, "shop/redact", &redact, "s-1");
    assert_eq!(status, 200, "{ack}");
    let progress = &ack["result"]["redaction"];
    assert_eq!(progress["done"], false, "{ack}");
    assert!(progress["erased_now"].as_u64().unwrap() <= 100, "{ack}");
    assert_eq!(
        app.get("/api/shop", &shop.api_key).0,
        401,
        "the shop is closed"
    );

    // The scheduler finishes it (a redelivery would too).
    let erased = |app: &dyn Client| {
        let dump = app.dump_shop(&shop.id);
        let (records_prefix, index_prefix) =
            (format!("s/{}/c/", shop.id), format!("s/{}/i/", shop.id));
        let records: Vec<Value> = dump
            .iter()
            .filter(|(k, _)| k.starts_with(&records_prefix))
            .filter_map(|(_, v)| serde_json::from_str(v).ok())
            .collect();
        let left = records.iter().filter(|c| c["erased_at"].is_null()).count();
        let identities = dump
            .iter()
            .filter(|(k, _)| k.starts_with(&index_prefix))
            .count();
        (records.len(), left, identities)
    };
    for _ in 0..20 {
        if erased(app).1 == 0 {
            break;
        }
        let (status, report) = app.call(request(
            Method::POST,
            "/api/redactions/run",
            Some(SCHEDULER_TOKEN),
            vec![],
        ));
        assert_eq!(status, 200, "{report}");
    }
    let (records, left, identities) = erased(app);
    assert_eq!(records, CUSTOMERS as usize);
    assert_eq!((left, identities), (0, 0), "customers kept their data");
    let dump = app.dump_shop(&shop.id);
    assert!(
        !dump.iter().any(|(_, v)| v.contains("+86139")),
        "a phone number is still stored"
    );
    let (status, _) = app.call(request(
        Method::POST,
        "/api/redactions/run",
        Some(OPERATOR_TOKEN),
        vec![],
    ));
    assert_eq!(status, 401, "the scheduler's door takes only its token");
}

// ------------------------------------------------------------------ 8. owner key

/// "I had the owner key for a while and made myself a further key. The shop rotates the
/// owner key; mine goes on working."
pub fn rotating_the_owner_key_revokes_every_other_key(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let (kept_id, mine) = new_key(app, &shop, "Backdoor", &["export_contacts"]);
    let rotate = |body: Vec<u8>| {
        app.call(request(
            Method::POST,
            &format!("/api/shops/{}/api-key", shop.id),
            Some(OPERATOR_TOKEN),
            body,
        ))
    };
    let (status, rotated) = rotate(Vec::new());
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["revoked_keys"], json!([kept_id]));
    let owner = rotated["api_key"].as_str().unwrap().to_string();
    assert_eq!(
        app.get("/api/shop", &shop.api_key).0,
        401,
        "the old owner key"
    );
    assert_eq!(app.get("/api/shop", &mine).0, 401, "the key made with it");
    assert_eq!(app.get("/api/shop", &owner).0, 200);
    // Keeping the others is a choice the operator states.
    let owned = TestShop {
        api_key: owner,
        ..shop.clone()
    };
    let (_, integration) = new_key(app, &owned, "ERP", &[]);
    let (status, again) = rotate(br#"{"keep_other_keys": true}"#.to_vec());
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["revoked_keys"], json!([]));
    assert_eq!(app.get("/api/shop", &integration).0, 200);
    let owner = again["api_key"].as_str().unwrap();
    let (_, log) = app.get("/api/shop/audit", owner);
    let rotations: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "owner_key_rotated")
        .collect();
    assert_eq!(rotations.len(), 2, "{log}");
    assert_eq!(rotations[0]["by"], "operator");
}

// ------------------------------------------------------------------ found while there

/// "I loop `HEAD /q/{code}` without cookies: every request is a new scan and a new unique
/// scanner, and the channel's funnel is mine to inflate." (Link checkers and previews send
/// HEAD too.)
pub fn head_requests_look_at_a_code_without_counting(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let card = create_channel(
        app,
        &shop,
        json!({"name": "Card", "target_url": "https://tea.example.com/"}),
    );
    let code = card["code"].as_str().unwrap();
    for _ in 0..3 {
        let look = app.send(request(Method::HEAD, &format!("/q/{code}"), None, vec![]));
        assert_eq!((look.status, look.writes), (302, 0));
        assert!(look.headers.get("set-cookie").is_none());
    }
    assert_eq!(
        app.send(request(Method::GET, &format!("/q/{code}"), None, vec![]))
            .status,
        302
    );
    let (_, stats) = app.get(
        &format!("/api/channels/{}/stats", card["id"].as_str().unwrap()),
        &shop.api_key,
    );
    assert_eq!(
        (&stats["scans"], &stats["unique_scanners"]),
        (&json!(1), &json!(1))
    );
}

/// "I give the shop a one-character webhook secret, or send a form field the form never
/// asked for, or claim a WeCom id in a lead."
pub fn weak_secrets_and_unasked_fields_are_refused(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    for credentials in [
        json!({"shopify_secrets": ["x"]}),
        json!({"woocommerce_secret": "short"}),
        json!({"youzan": {"client_id": "c", "client_secret": "s"}}),
        json!({"shopify_shop_domain": "evil.example.com"}),
    ] {
        let (status, body) = patch_shop(app, &shop, &json!({ "credentials": credentials }));
        assert_eq!(status, 422, "{credentials}: {body}");
    }
    let card = create_channel(
        app,
        &shop,
        json!({"name": "Card", "target_url": "https://tea.example.com/",
            "page": {"fields": {"phone": "required", "email": "off"}}}),
    );
    let code = card["code"].as_str().unwrap();
    for body in [
        json!({"phone": PHONE, "email": "x@example.com", "consent": true}),
        json!({"phone": PHONE, "wecom_external_id": "wmFORGED", "consent": true}),
    ] {
        let refused = submit_lead(app, code, body.clone(), "10.25.0.1:1");
        assert_eq!(
            (refused.status, refused.writes),
            (422, 0),
            "{body}: {}",
            refused.json()
        );
    }
}
