//! Repurchase reminder scenarios (issue 7): settings and planning from orders, written once
//! against `Client`.

use http::Method;
use jiff::Timestamp;
use serde_json::{json, Value};

use crate::app::TestShop;
use crate::client::Client;
use crate::platforms::*;
use crate::tagging_scenarios::{buyer_order, get, now, post, refused, send_at};

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
    let (status, saved) = send_at(
        app,
        Method::PUT,
        "/api/reminders/settings",
        &shop.api_key,
        Some(settings),
        now(),
    );
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

fn paid(app: &dyn Client, shop: &TestShop, n: u64, order: u64, at: &str, lines: &[Line]) -> String {
    let body = buyer_order(n, order, "120.00", at.parse::<Timestamp>().unwrap(), lines);
    let (status, ack) = app.call_at(
        shopify_request(
            &shop.id,
            "orders/create",
            &body,
            SHOPIFY_SECRET,
            &format!("o-{order}"),
        ),
        now(),
    );
    assert_eq!(status, 200, "{ack}");
    ack["result"]["customer_id"].as_str().unwrap().to_string()
}

pub fn paid_orders_plan_reminders_and_cancellations_cancel_them(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let settings = json!({"products": [{"sku": "TEA-250G", "profile": {"days_per_unit": 30, "lead_days": 5}}]});
    let (status, _) = send_at(
        app,
        Method::PUT,
        "/api/reminders/settings",
        &shop.api_key,
        Some(settings),
        now(),
    );
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
    send_at(
        app,
        Method::PUT,
        "/api/reminders/settings",
        &shop.api_key,
        Some(settings),
        now(),
    );
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
    let (status, page, _) = public(Method::POST, &link);
    assert_eq!(status, 200, "{page}");
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
