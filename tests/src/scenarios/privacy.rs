//! Privacy: erasure by request and by platform webhook, and a shop's closing.

use http::Method;
use serde_json::{json, Value};

use crate::app::request;
use crate::client::Client;
use crate::platforms::*;

use super::*;

// ------------------------------------------------------------------ erasure

pub fn erasure_removes_personal_data_and_keeps_anonymous_aggregates(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let order = shopify_order(9001, &mei(), "paid", "59.90", &[TEA]);
    assert_eq!(
        send_shopify(app, &shop, "orders/create", &order, "1").0,
        200
    );
    let id = customer_by_phone(app, &shop, PHONE).1["id"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, erased) = app.call(request(
        Method::DELETE,
        &format!("/api/customers/{id}"),
        Some(&shop.api_key),
        vec![],
    ));
    assert_eq!(status, 200);
    assert!(erased["erased_at"].is_string());
    assert_eq!(erased["phone"], Value::Null);
    assert_eq!(erased["first_name"], Value::Null);
    assert_eq!(erased["orders"]["order_count"], 1, "aggregates are kept");
    assert_eq!(
        customer_by_phone(app, &shop, PHONE).0,
        404,
        "erased people are not found by phone"
    );
    for (key, value) in app.dump_shop(&shop.id) {
        let lower = value.to_lowercase();
        for pii in [
            "13812345678",
            "mei.lin@example.com",
            "\"mei\"",
            "\"lin\"",
            "\"5001\"",
        ] {
            assert!(!lower.contains(pii), "{pii} is still stored under {key}");
        }
    }
    // Repeating the erasure is harmless; a later late webhook adds no personal data back.
    assert_eq!(
        app.call(request(
            Method::DELETE,
            &format!("/api/customers/{id}"),
            Some(&shop.api_key),
            vec![]
        ))
        .0,
        200
    );
    let mut refunded = order.clone();
    refunded["financial_status"] = json!("refunded");
    refunded["updated_at"] = json!("2026-11-21T10:00:00+08:00");
    assert_eq!(
        send_shopify(app, &shop, "orders/updated", &refunded, "2").0,
        200
    );
    let after = app.get(&format!("/api/customers/{id}"), &shop.api_key).1;
    assert_eq!(
        after["orders"]["order_count"], 0,
        "the refund still adjusts the anonymous aggregates"
    );
    assert_eq!(after["phone"], Value::Null);
    assert_eq!(customer_by_phone(app, &shop, PHONE).0, 404);
}

pub fn shopify_privacy_webhooks_erase_record_and_close(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let order = shopify_order(9001, &mei(), "paid", "59.90", &[TEA]);
    assert_eq!(
        send_shopify(app, &shop, "orders/create", &order, "1").0,
        200
    );
    let id = customer_by_phone(app, &shop, PHONE).1["id"].clone();

    let request_body = json!({"shop_id": 1, "shop_domain": "tea-house.myshopify.com", "orders_requested": [9001],
        "customer": {"id": 5001, "email": "mei.lin@example.com", "phone": PHONE}, "data_request": {"id": 9999}});
    assert_eq!(
        send_shopify(app, &shop, "customers/data_request", &request_body, "d-1").0,
        200
    );
    assert_eq!(
        send_shopify(app, &shop, "customers/data_request", &request_body, "d-2").0,
        200
    );
    let (status, requests) = app.get("/api/data-requests", &shop.api_key);
    assert_eq!(status, 200);
    assert_eq!(
        requests["items"].as_array().unwrap().len(),
        1,
        "a redelivered request is listed once"
    );
    assert_eq!(requests["items"][0]["customer_id"], id);

    let redact = json!({"shop_id": 1, "shop_domain": "tea-house.myshopify.com", "customer": {"id": 5001, "email": null, "phone": null}, "orders_to_redact": [9001]});
    assert_eq!(
        send_shopify(app, &shop, "customers/redact", &redact, "x-1").0,
        200
    );
    assert_eq!(customer_by_phone(app, &shop, PHONE).0, 404);
    let erased = app
        .get(
            &format!("/api/customers/{}", id.as_str().unwrap()),
            &shop.api_key,
        )
        .1;
    assert!(erased["erased_at"].is_string());

    assert_eq!(
        send_shopify(
            app,
            &shop,
            "shop/redact",
            &json!({"shop_id": 1, "shop_domain": "tea-house.myshopify.com"}),
            "s-1"
        )
        .0,
        200
    );
    assert_eq!(
        app.get("/api/shop", &shop.api_key).0,
        401,
        "a redacted shop's key no longer works"
    );
    assert_eq!(
        send_shopify(app, &shop, "orders/create", &order, "9").0,
        404
    );
}
