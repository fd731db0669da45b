//! Repurchase reminder scenarios (issue 7): settings and planning from orders, written once
//! against `Client`.

use std::collections::BTreeSet;

use http::Method;
use jiff::Timestamp;
use serde_json::{json, Value};

use crate::app::TestShop;
use crate::client::Client;
use crate::platforms::*;
use crate::receiver::{Received, Receiver};
use crate::scenarios::tagging::{buyer_order, get, now, order, post, refused, send_at};

pub fn reminder_settings_are_validated_and_the_secret_is_shown_once(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let (status, defaults) = get(app, &shop, "/api/reminders/settings");
    assert_eq!(status, 200, "{defaults}");
    assert_eq!(
        (
            defaults["quiet_start"].as_str(),
            defaults["quiet_end"].as_str(),
            defaults["frequency_cap_hours"].as_i64(),
            defaults["delivery_secret_set"].as_bool()
        ),
        (Some("21:00"), Some("08:00"), Some(24), Some(false))
    );
    let settings = json!({
        "default": {"days_per_unit": 60},
        "products": [{"sku": "TEA-250G", "profile": {"days_per_unit": 30, "lead_days": 5,
            "follow_up_days": 7, "follow_up_campaign": "cmp_x", "send_time": "19:30"}}],
        "delivery_url": "https://hooks.tea.example.com/siyu",
        "quiet_start": "22:00", "quiet_end": "09:00",
    });
    let (status, saved) = save_settings(app, &shop, settings);
    assert_eq!(status, 200, "{saved}");
    assert_eq!(
        saved["products"][0]["profile"]["reminders"], 2,
        "defaults filled in"
    );
    assert_eq!(saved["default"]["send_time"], "10:00");
    for wrong in [
        json!({"default": {"days_per_unit": 0}}),
        json!({"products": [{"profile": {"days_per_unit": 30}}]}),
        json!({"products": [{"sku": "X", "profile": {"days_per_unit": 30, "send_time": "7pm"}}]}),
        json!({"delivery_url": "ftp://tea.example.com/"}),
        json!({"quiet_start": "25:00"}),
        json!({"frequency_cap_hours": -1}),
        json!({"colour": "red"}),
    ] {
        refused(
            app,
            Method::PUT,
            "/api/reminders/settings",
            &shop,
            &wrong,
            422,
        );
    }
    let (status, secret) = post(app, &shop, "/api/reminders/secret", json!({}));
    assert_eq!(status, 200);
    assert_eq!(secret["delivery_secret"].as_str().unwrap().len(), 40);
    let (_, view) = get(app, &shop, "/api/reminders/settings");
    assert_eq!(view["delivery_secret_set"], true);
    assert!(!view
        .to_string()
        .contains(secret["delivery_secret"].as_str().unwrap()));
    assert_eq!(view["delivery_url"], "https://hooks.tea.example.com/siyu");
}

/// Replaces the shop's reminder settings.
fn save_settings(app: &dyn Client, shop: &TestShop, settings: Value) -> (u16, Value) {
    send_at(
        app,
        Method::PUT,
        "/api/reminders/settings",
        &shop.api_key,
        Some(settings),
        now(),
    )
}

fn schedules(app: &dyn Client, shop: &TestShop, customer: &str) -> Vec<Value> {
    let (status, list) = get(app, shop, &format!("/api/customers/{customer}/reminders"));
    assert_eq!(status, 200, "{list}");
    list["items"].as_array().unwrap().clone()
}

fn step_times(schedule: &Value) -> Vec<(String, String)> {
    schedule["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["at"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn paid(
    app: &dyn Client,
    shop: &TestShop,
    n: u64,
    order_id: u64,
    at: &str,
    lines: &[Line],
) -> String {
    order(
        app,
        shop,
        n,
        order_id,
        "120.00",
        at.parse::<Timestamp>().unwrap(),
        lines,
    )
}

pub fn paid_orders_plan_reminders_and_cancellations_cancel_them(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let settings = json!({"products": [{"sku": "TEA-250G", "profile": {"days_per_unit": 30, "lead_days": 5}}]});
    let (status, _) = save_settings(app, &shop, settings);
    assert_eq!(status, 200);

    // 10:00 in Shanghai on 20 November: a 30-day supply runs out on 20 December.
    let mei = paid(app, &shop, 1, 7001, "2026-11-20T02:00:00Z", &[TEA, CUPS]);
    let planned = schedules(app, &shop, &mei);
    assert_eq!(
        planned.len(),
        1,
        "only the product with a profile: {planned:?}"
    );
    assert_eq!(planned[0]["product"]["sku"], "TEA-250G");
    assert_eq!(planned[0]["run_out"], "2026-12-20");
    assert_eq!(
        step_times(&planned[0]),
        [
            ("2026-12-15T02:00:00Z".into(), "pending".into()),
            ("2026-12-18T02:00:00Z".into(), "pending".into()),
            ("2026-12-27T02:00:00Z".into(), "pending".into()),
        ]
    );
    // Two units last twice as long.
    let hua = paid(
        app,
        &shop,
        2,
        7101,
        "2026-11-20T02:00:00Z",
        &[(7001, 8001, "TEA-250G", "Oolong", 2, "59.90")],
    );
    assert_eq!(schedules(app, &shop, &hua)[0]["run_out"], "2027-01-19");

    // A newer order of the same product plans from that order; a late copy of the older
    // order changes nothing, and an exact redelivery writes nothing.
    paid(app, &shop, 1, 7002, "2026-12-01T02:00:00Z", &[TEA]);
    let replanned = schedules(app, &shop, &mei);
    assert_eq!(replanned.len(), 1);
    assert_eq!(replanned[0]["run_out"], "2026-12-31");
    assert_eq!(replanned[0]["order"], "shopify/7002");
    let mut late = buyer_order(
        1,
        7001,
        "120.00",
        "2026-11-20T02:00:00Z".parse().unwrap(),
        &[TEA, CUPS],
    );
    late["updated_at"] = json!("2026-11-21T02:00:00Z");
    app.call_at(
        shopify_request(
            &shop.id,
            "orders/updated",
            &late,
            SHOPIFY_SECRET,
            "o-7001-late",
        ),
        now(),
    );
    assert_eq!(schedules(app, &shop, &mei)[0]["order"], "shopify/7002");
    let body = buyer_order(
        1,
        7002,
        "120.00",
        "2026-12-01T02:00:00Z".parse().unwrap(),
        &[TEA],
    );
    let again = app.send(shopify_request(
        &shop.id,
        "orders/create",
        &body,
        SHOPIFY_SECRET,
        "o-7002",
    ));
    assert_eq!((again.status, again.writes), (200, 0));

    // A whole refund of the order the plan counts from cancels it.
    let refund = shopify_refund(7002, 99, "120.00");
    let (status, _) = app.call_at(
        shopify_request(&shop.id, "refunds/create", &refund, SHOPIFY_SECRET, "r-99"),
        now(),
    );
    assert_eq!(status, 200);
    let cancelled = &schedules(app, &shop, &mei)[0];
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["reason"], "order_cancelled");
    assert!(step_times(cancelled).iter().all(|(_, s)| s == "cancelled"));

    // Consent withdrawn on Shopify cancels everything for that customer; so does erasure.
    let update = json!({"id": 2, "email": "c2@example.com", "updated_at": now().to_string(),
        "email_marketing_consent": {"state": "unsubscribed"}});
    app.call_at(
        shopify_request(&shop.id, "customers/update", &update, SHOPIFY_SECRET, "c-2"),
        now(),
    );
    assert_eq!(
        schedules(app, &shop, &hua)[0]["reason"],
        "consent_withdrawn"
    );
    let lan = paid(app, &shop, 3, 7201, "2026-11-20T02:00:00Z", &[TEA]);
    let (status, _) = send_at(
        app,
        Method::DELETE,
        &format!("/api/customers/{lan}"),
        &shop.api_key,
        None,
        now(),
    );
    assert_eq!(status, 200);
    assert_eq!(schedules(app, &shop, &lan)[0]["reason"], "erased");
    let (status, _) = get(app, &shop, "/api/customers/cus_aaaaaaaaaaaaaaaa/reminders");
    assert_eq!(status, 404);
}

pub fn unsubscribe_links_withdraw_consent_and_cancel_reminders(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let settings = json!({"default": {"days_per_unit": 30}});
    save_settings(app, &shop, settings);
    let mei = paid(app, &shop, 1, 9001, "2026-11-20T02:00:00Z", &[TEA]);
    let (_, list) = get(app, &shop, &format!("/api/customers/{mei}/reminders"));
    let link = list["unsubscribe_path"].as_str().unwrap().to_string();
    let public = |method: Method, path: &str| {
        let reply = app.send(crate::app::request(method, path, None, vec![]));
        (
            reply.status,
            String::from_utf8(reply.body).unwrap(),
            reply.writes,
        )
    };
    // Opening the link (a preview, a scanner) changes nothing; the button does.
    let (status, page, writes) = public(Method::GET, &link);
    assert_eq!((status, writes), (200, 0));
    assert!(page.contains("<form method=\"post\">"), "{page}");
    // In the shop's branding, saying what stops and from whom.
    assert!(page.contains("退订 Tea House 的营销消息"), "{page}");
    assert!(page.contains("offers and repurchase reminders"), "{page}");
    let (status, page, _) = public(Method::POST, &link);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Tea House will send you no more offers"),
        "{page}"
    );
    let (_, customer) = get(app, &shop, &format!("/api/customers/{mei}"));
    assert_eq!(customer["consent"]["marketing"], false);
    assert_eq!(customer["consent"]["source"], "unsubscribe");
    let (_, list) = get(app, &shop, &format!("/api/customers/{mei}/reminders"));
    assert_eq!(list["items"][0]["reason"], "consent_withdrawn");
    // Again: nothing more to do. A forged or altered link is refused and writes nothing.
    let (status, _, writes) = public(Method::POST, &link);
    assert_eq!((status, writes), (200, 0));
    let last = if link.ends_with('0') { "1" } else { "0" };
    let forged = format!("{}{last}", &link[..link.len() - 1]);
    for path in [
        forged.as_str(),
        "/r/u/garbage",
        "/r/u/shp_aaaaaaaaaaaa.cus_aaaaaaaaaaaaaaaa.00",
    ] {
        let (status, _, writes) = public(Method::POST, path);
        assert_eq!((status, writes), (404, 0), "{path}");
    }
}

// ------------------------------------------------------------------ dispatch and delivery

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// The scheduler's dispatch of one shop, as if called at `when`.
pub fn dispatch(app: &dyn Client, shop: &TestShop, when: Timestamp) -> Value {
    let mut req = crate::app::request(
        Method::POST,
        &format!("/api/reminders/dispatch?shop={}", shop.id),
        Some(crate::app::SCHEDULER_TOKEN),
        vec![],
    );
    // Links in messages are built from the address the scheduler called.
    req.headers_mut()
        .insert("host", "siyu.example.com".parse().unwrap());
    let (status, report) = app.call_at(req, when);
    assert_eq!(status, 200, "{report}");
    report
}

/// A shop delivering to `receiver`, with its signing secret.
fn delivering_shop(app: &dyn Client, receiver: &Receiver, extra: Value) -> (TestShop, String) {
    let shop = app.shop_with_all_platforms();
    let mut settings = json!({
        "products": [
            {"sku": "TEA-250G", "profile": {"days_per_unit": 30, "lead_days": 5,
                "follow_up_days": 7, "follow_up_campaign": null}},
            {"sku": "CUP-SET", "profile": {"days_per_unit": 15, "lead_days": 5,
                "reminders": 1, "follow_up_days": null}},
        ],
        "delivery_url": receiver.url,
    });
    for (k, v) in extra.as_object().unwrap() {
        settings[k] = v.clone();
    }
    let (status, saved) = save_settings(app, &shop, settings);
    assert_eq!(status, 200, "{saved}");
    let (_, secret) = post(app, &shop, "/api/reminders/secret", json!({}));
    (
        shop,
        secret["delivery_secret"].as_str().unwrap().to_string(),
    )
}

fn messages_for(receiver: &Receiver, customer: &str) -> Vec<Received> {
    receiver
        .received()
        .into_iter()
        .filter(|r| r.json()["customer"]["id"] == customer)
        .collect()
}

pub fn due_reminders_are_delivered_once_signed_and_merged(app: &dyn Client) {
    let receiver = Receiver::start();
    let (shop, secret) = delivering_shop(app, &receiver, json!({}));
    // Tea (30 days) and cups (15 days × 2 = 30) bought together: both due on 15 December.
    let mei = paid(app, &shop, 1, 8001, "2026-11-20T02:00:00Z", &[TEA, CUPS]);
    let before = dispatch(app, &shop, at("2026-12-15T01:59:00Z"));
    assert_eq!(before["messages"], 0, "{before}");
    assert!(messages_for(&receiver, &mei).is_empty());

    let report = dispatch(app, &shop, at("2026-12-15T02:05:00Z"));
    assert_eq!(
        (report["messages"].as_i64(), report["steps_sent"].as_i64()),
        (Some(1), Some(2)),
        "{report}"
    );
    let sent = messages_for(&receiver, &mei);
    assert_eq!(
        sent.len(),
        1,
        "two products due together go out as one message"
    );
    let message = sent[0].json();
    let skus: BTreeSet<&str> = message["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, BTreeSet::from(["TEA-250G", "CUP-SET"]));
    assert_eq!(
        message["customer"]["email"], "c1@example.com",
        "the receiver gets the contact to reach"
    );
    assert!(message["unsubscribe_url"]
        .as_str()
        .unwrap()
        .contains("/r/u/shp_"));
    // The receiver can verify the signature with the shop's secret.
    let ts = sent[0].header("x-siyu-timestamp").unwrap();
    let expected = hex::encode(hmac_sha256(&secret, &[ts.as_bytes(), b".", &sent[0].body]));
    assert_eq!(sent[0].header("x-siyu-signature"), Some(expected.as_str()));
    assert_eq!(
        sent[0].header("x-siyu-message-id"),
        message["message_id"].as_str()
    );

    // The same call again, and two calls at once later on: nothing is sent twice.
    dispatch(app, &shop, at("2026-12-15T02:06:00Z"));
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (app, shop) = (app, &shop);
            s.spawn(move || dispatch(app, shop, at("2026-12-18T02:01:00Z")));
        }
    });
    let sent = messages_for(&receiver, &mei);
    assert_eq!(
        sent.len(),
        2,
        "reminder 2 of the tea once, nothing else: {:?}",
        sent.iter().map(|r| r.json()).collect::<Vec<_>>()
    );
    let (_, list) = get(app, &shop, &format!("/api/customers/{mei}/reminders"));
    let tea = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["product"]["sku"] == "TEA-250G")
        .unwrap()
        .clone();
    let states: Vec<&str> = tea["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["sent", "sent", "pending"]);

    // She reorders tea two days after the reminder: the old plan stops, the reorder is
    // its conversion, and the new plan counts from the new order.
    paid(app, &shop, 1, 8002, "2026-12-20T02:00:00Z", &[TEA]);
    dispatch(app, &shop, at("2026-12-27T02:05:00Z"));
    assert_eq!(
        messages_for(&receiver, &mei).len(),
        2,
        "no follow-up after the reorder"
    );
    let (_, stats) = get(app, &shop, "/api/reminders/stats");
    assert_eq!(stats["overall"]["converted"], 1, "{stats}");
    assert_eq!(stats["overall"]["revenue_minor"], 5990);
    assert_eq!(stats["overall"]["sent"], 3);
    let tea_stats = stats["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product"]["sku"] == "TEA-250G")
        .unwrap()
        .clone();
    assert_eq!(tea_stats["stats"]["converted"], 1);
}

pub fn quiet_hours_and_the_frequency_cap_defer_then_send(app: &dyn Client) {
    let receiver = Receiver::start();
    let (shop, _) = delivering_shop(app, &receiver, json!({}));
    let hua = paid(app, &shop, 2, 8101, "2026-11-20T02:00:00Z", &[TEA]);
    // The scheduler is down all day; it runs at 22:30 Shanghai time, inside quiet hours.
    let late = dispatch(app, &shop, at("2026-12-15T14:30:00Z"));
    assert_eq!(
        (late["messages"].as_i64(), late["deferred"].as_i64()),
        (Some(0), Some(1)),
        "{late}"
    );
    assert!(messages_for(&receiver, &hua).is_empty());
    dispatch(app, &shop, at("2026-12-15T23:59:00Z"));
    assert!(
        messages_for(&receiver, &hua).is_empty(),
        "still quiet at 07:59"
    );
    dispatch(app, &shop, at("2026-12-16T00:01:00Z"));
    assert_eq!(
        messages_for(&receiver, &hua).len(),
        1,
        "sent at the end of quiet hours"
    );

    // A second product comes due 2 hours later: the 24-hour cap moves it to the next day.
    paid(app, &shop, 2, 8102, "2026-11-21T04:00:00Z", &[CUPS]); // due 16 Dec 10:00 local
    let capped = dispatch(app, &shop, at("2026-12-16T02:05:00Z"));
    assert_eq!(capped["deferred"], 1, "{capped}");
    dispatch(app, &shop, at("2026-12-16T23:59:00Z"));
    assert_eq!(messages_for(&receiver, &hua).len(), 1);
    dispatch(app, &shop, at("2026-12-17T00:02:00Z"));
    assert_eq!(messages_for(&receiver, &hua).len(), 2);
}

pub fn a_receiver_that_is_down_gets_retries_then_the_message_fails(app: &dyn Client) {
    let receiver = Receiver::start();
    let (shop, _) = delivering_shop(app, &receiver, json!({"max_attempts": 3}));
    let lan = paid(app, &shop, 3, 8201, "2026-11-20T02:00:00Z", &[CUPS]);
    receiver.answer_with(&[503, 503, 503]);
    let first = dispatch(app, &shop, at("2026-12-15T02:05:00Z"));
    assert_eq!(first["retrying"], 1, "{first}");
    let second = dispatch(app, &shop, at("2026-12-15T02:07:00Z"));
    assert_eq!(second["retrying"], 1, "{second}");
    let third = dispatch(app, &shop, at("2026-12-15T02:13:00Z"));
    assert_eq!(third["failed"], 1, "{third}");
    assert_eq!(messages_for(&receiver, &lan).len(), 3);
    let (_, list) = get(app, &shop, &format!("/api/customers/{lan}/reminders"));
    let step = &list["items"][0]["steps"][0];
    assert_eq!(
        (
            step["state"].as_str(),
            step["attempts"].as_i64(),
            step["error"].as_str()
        ),
        (Some("failed"), Some(3), Some("HTTP 503"))
    );
    dispatch(app, &shop, at("2026-12-16T02:13:00Z"));
    assert_eq!(
        messages_for(&receiver, &lan).len(),
        3,
        "a failed message is not sent again"
    );
    // Only the scheduler may dispatch.
    let req = crate::app::request(
        Method::POST,
        &format!("/api/reminders/dispatch?shop={}", shop.id),
        Some(&shop.api_key),
        vec![],
    );
    assert_eq!(app.send(req).status, 401);
}

pub fn a_follow_up_carries_the_campaigns_coupon(app: &dyn Client) {
    let receiver = Receiver::start();
    let shop = app.shop_with_all_platforms();
    let (_, campaign) = post(
        app,
        &shop,
        "/api/campaigns",
        json!({"name": "Come back", "discount": {"type": "percent", "basis_points": 1500}, "valid_days": 14}),
    );
    let settings = json!({
        "products": [{"sku": "TEA-250G", "profile": {"days_per_unit": 30, "lead_days": 5,
            "follow_up_days": 7, "follow_up_campaign": campaign["id"]}}],
        "delivery_url": receiver.url,
    });
    save_settings(app, &shop, settings);
    post(app, &shop, "/api/reminders/secret", json!({}));
    let mei = paid(app, &shop, 1, 8301, "2026-11-20T02:00:00Z", &[TEA]);
    // The scheduler was away: both reminders and the follow-up are due; only the latest,
    // the follow-up, goes out, the reminders are superseded.
    dispatch(app, &shop, at("2026-12-27T02:05:00Z"));
    let sent = messages_for(&receiver, &mei);
    assert_eq!(sent.len(), 1);
    let message = sent[0].json();
    let kinds: Vec<&str> = message["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["follow_up"]);
    let (_, list) = get(app, &shop, &format!("/api/customers/{mei}/reminders"));
    let reasons: Vec<&str> = list["items"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"].as_str().unwrap_or(s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(reasons, ["superseded", "superseded", "sent"]);
    let code = message["coupon"]["code"]
        .as_str()
        .expect("the follow-up's coupon");
    let (_, verdict) = get(app, &shop, &format!("/api/coupons/{code}?customer={mei}"));
    assert_eq!(verdict["valid"], true, "{verdict}");
}
