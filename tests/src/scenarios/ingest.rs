//! Shop platform webhooks: each platform's signed orders and customers, counted exactly once
//! however they arrive.

use serde_json::{json, Value};

use crate::client::Client;
use crate::platforms::*;

use super::*;

// ------------------------------------------------------------------ each platform

pub fn a_signed_shopify_order_creates_the_customer(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let order = shopify_order(9001, &mei(), "paid", "109.90", &[TEA, CUPS]);
    let (status, ack) = send_shopify(app, &shop, "orders/create", &order, "wh-1");
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["result"]["status"], "paid");

    let (status, customer) = customer_by_phone(app, &shop, "138 1234 5678");
    assert_eq!(status, 200, "{customer}");
    assert_eq!(customer["orders"]["order_count"], 1);
    assert_eq!(customer["orders"]["spend"]["CNY"], 10990);
    assert_eq!(customer["phone"], "138****5678");
    assert_eq!(customer["email"], "m***@example.com");
    assert_eq!(customer["consent"]["marketing"], true);
    assert_eq!(customer["platform_ids"][0]["platform"], "shopify");
    let cups = customer["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["sku"] == "CUP-SET")
        .unwrap();
    assert_eq!(cups["quantity"], 2);
    assert_eq!(cups["last_purchased_at"], "2026-11-20T02:00:00Z");

    let by_email = app.get("/api/customers?email=MEI.LIN%40example.com", &shop.api_key);
    assert_eq!(by_email.1["id"], customer["id"]);
    let (status, same) = app.get(
        &format!("/api/customers/{}", customer["id"].as_str().unwrap()),
        &shop.api_key,
    );
    assert_eq!((status, &same["id"]), (200, &customer["id"]));
}

pub fn shopify_accepts_both_rotation_secrets_and_refuses_forgeries(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let order = shopify_order(9001, &mei(), "paid", "59.90", &[TEA]);
    let old = app.call(shopify_request(
        &shop.id,
        "orders/create",
        &order,
        SHOPIFY_OLD_SECRET,
        "a",
    ));
    assert_eq!(
        old.0, 200,
        "the previous secret must still verify during a rotation"
    );
    let second = shopify_order(9002, &mei(), "paid", "59.90", &[TEA]);
    assert_eq!(
        app.call(shopify_request(
            &shop.id,
            "orders/create",
            &second,
            SHOPIFY_SECRET,
            "b"
        ))
        .0,
        200
    );

    let forged = shopify_order(9003, &mei(), "paid", "59.90", &[TEA]);
    let refused = app.send(shopify_request(
        &shop.id,
        "orders/create",
        &forged,
        "attacker-secret",
        "c",
    ));
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["error"]["code"], "invalid_signature");
    assert_eq!(refused.writes, 0, "a refused webhook wrote something");
    // A valid signature over a different body: tampering in transit.
    let mut tampered = shopify_request(&shop.id, "orders/create", &forged, SHOPIFY_SECRET, "d");
    *tampered.body_mut() =
        serde_json::to_vec(&shopify_order(9003, &mei(), "paid", "0.01", &[TEA])).unwrap();
    let refused = app.send(tampered);
    assert_eq!((refused.status, refused.writes), (401, 0));
    let mut unsigned = shopify_request(&shop.id, "orders/create", &forged, SHOPIFY_SECRET, "e");
    unsigned.headers_mut().remove("x-shopify-hmac-sha256");
    let refused = app.send(unsigned);
    assert_eq!((refused.status, refused.writes), (401, 0));
    assert_eq!(order_count_of_mei(app, &shop), 2);
}

pub fn woocommerce_ping_orders_and_forgeries(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let (status, _) = app.call(woo_ping(&shop.id));
    assert_eq!(
        status, 200,
        "the activation ping must succeed or Woo disables the webhook"
    );

    let buyer = Buyer {
        platform_id: Some(42),
        email: Some("mei@example.com"),
        phone: Some("13812345678"),
    };
    let order = woo_order(311, &buyer, "processing", "59.90", &[TEA]);
    let (status, ack) = app.call(woo_request(&shop.id, "order.created", &order, WOO_SECRET));
    assert_eq!(status, 200, "{ack}");
    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(customer["orders"]["order_count"], 1);
    assert_eq!(customer["orders"]["spend"]["CNY"], 5990);
    assert_eq!(customer["platform_ids"][0]["platform"], "woocommerce");

    let (status, _) = app.call(woo_request(
        &shop.id,
        "order.created",
        &order,
        "wrong-secret",
    ));
    assert_eq!(status, 401);
    // A form-encoded body that is not the bare ping is not let through unsigned.
    let mut sneaky = woo_ping(&shop.id);
    *sneaky.body_mut() = b"webhook_id=12&status=completed".to_vec();
    assert_eq!(app.call(sneaky).0, 401);

    let mut refunded = order.clone();
    refunded["status"] = json!("refunded");
    refunded["date_modified_gmt"] = json!("2026-11-22T02:00:00");
    refunded["refunds"] = json!([{"id": 77, "reason": "", "total": "-59.90"}]);
    assert_eq!(
        app.call(woo_request(
            &shop.id,
            "order.updated",
            &refunded,
            WOO_SECRET
        ))
        .0,
        200
    );
    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(customer["orders"]["order_count"], 0);
    assert!(customer["orders"]["spend"].get("CNY").is_none());
}

pub fn youzan_messages_are_decoded_acknowledged_and_verified(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let msg = youzan_trade(
        "E20261120100000001",
        Some("13812345678"),
        Some("yz-open-1"),
        "119.80",
        &[(7001, 8001, "TEA-250G", "乌龙茶 250 克", 2, "59.90")],
    );
    let (status, ack) = app.call(youzan_request(
        &shop.id,
        "trade_TradePaid",
        "E20261120100000001",
        &msg,
        YOUZAN_SECRET,
    ));
    assert_eq!(status, 200);
    assert_eq!(ack, json!({"code": 0, "msg": "success"}));
    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(customer["orders"]["order_count"], 1);
    assert_eq!(customer["orders"]["spend"]["CNY"], 11980);
    assert_eq!(
        customer["products"][0]["title"], "乌龙茶 250 克",
        "msg must be URL-decoded as UTF-8"
    );
    assert_eq!(customer["first_name"], "林梅");
    // Youzan's times are China time: 10:00 there is 02:00 UTC.
    assert_eq!(customer["orders"]["first_order_at"], "2026-11-20T02:00:00Z");

    let refund = youzan_refund("E20261120100000001", "R1", "59.90");
    let (status, _) = app.call(youzan_request(
        &shop.id,
        "trade_refund_RefundSuccess",
        "R1",
        &refund,
        YOUZAN_SECRET,
    ));
    assert_eq!(status, 200);
    assert_eq!(
        customer_by_phone(app, &shop, PHONE).1["orders"]["spend"]["CNY"],
        5990
    );

    let (status, err) = app.call(youzan_request(
        &shop.id,
        "trade_TradePaid",
        "x",
        &msg,
        "wrong",
    ));
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (401, Some("invalid_signature"))
    );
}

pub fn youzan_older_scheme_signing_the_decoded_msg_is_accepted(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let msg = youzan_trade("E1", Some("13812345678"), None, "10.00", &[TEA]);
    let req = youzan_msg_signed_request(&shop.id, "trade_TradePaid", "E1", &msg, YOUZAN_SECRET);
    assert_eq!(app.call(req).0, 200);
    assert_eq!(order_count_of_mei(app, &shop), 1);
}

/// The shapes the platforms document, each as sent: Shopify ids above 2^53 (beyond what a
/// float carries) and refund line subtotals as JSON numbers; WooCommerce line prices as
/// numbers beside string totals; Youzan's `msg` form-encoded with `+` for spaces and `%2B`
/// for a real plus.
pub fn platform_payloads_are_read_as_the_platforms_send_them(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    // 2^53 and 2^53 + 1 are one number to a float: two orders only if ids stay exact.
    let (big, bigger) = (9_007_199_254_740_992_u64, 9_007_199_254_740_993_u64);
    let mut buyer = mei();
    buyer.platform_id = Some(bigger + 7);
    for (id, hook) in [(big, "big-1"), (bigger, "big-2")] {
        let mut order = shopify_order(id, &buyer, "paid", "59.90", &[TEA]);
        order["line_items"][0]["id"] = json!(bigger + 100);
        order["line_items"][0]["product_id"] = json!(bigger + 200);
        order["line_items"][0]["variant_id"] = json!(bigger + 300);
        order["total_tax"] = json!("0.00");
        order["total_price_set"] =
            json!({"shop_money": {"amount": "59.90", "currency_code": "CNY"}});
        assert_eq!(send_shopify(app, &shop, "orders/paid", &order, hook).0, 200);
    }
    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(customer["orders"]["order_count"], 2, "{customer}");
    assert_eq!(customer["platform_ids"][0]["id"], (bigger + 7).to_string());
    assert_eq!(
        customer["products"][0]["product_id"],
        (bigger + 200).to_string()
    );
    assert_eq!(
        customer["products"][0]["variant_id"],
        (bigger + 300).to_string()
    );

    // Shopify's refund: line subtotals and taxes are JSON numbers, the money moved is the
    // transaction's string amount.
    let mut refund = shopify_refund(bigger, bigger + 400, "19.90");
    refund["refund_line_items"] = json!([{
        "id": bigger + 500,
        "line_item_id": bigger + 100,
        "quantity": 1,
        "restock_type": "no_restock",
        "subtotal": 19.9,
        "total_tax": 0.0,
        "subtotal_set": {"shop_money": {"amount": "19.90", "currency_code": "CNY"}},
    }]);
    refund["transactions"][0]["parent_id"] = json!(bigger + 600);
    let (status, ack) = send_shopify(app, &shop, "refunds/create", &refund, "big-r");
    assert_eq!(status, 200, "{ack}");
    assert_eq!(
        customer_by_phone(app, &shop, PHONE).1["orders"]["spend"]["CNY"],
        2 * 5990 - 1990
    );

    // WooCommerce: `price` is a number (and may carry float noise), every total a string.
    let woo_buyer = Buyer {
        platform_id: Some(43),
        email: None,
        phone: Some("+86 139 0000 1111"),
    };
    let mut order = woo_order(312, &woo_buyer, "processing", "39.80", &[]);
    order["line_items"] = json!([{
        "id": 901, "name": "Jasmine", "product_id": 7003, "variation_id": 0, "quantity": 2,
        "sku": "JAS-100G", "price": 19.9, "subtotal": "39.80", "subtotal_tax": "0.00",
        "total": "39.80", "total_tax": "0.00", "taxes": [], "meta_data": [],
    }]);
    order["shipping_total"] = json!("0.00");
    order["total_tax"] = json!("0.00");
    let (status, ack) = app.call(woo_request(&shop.id, "order.created", &order, WOO_SECRET));
    assert_eq!(status, 200, "{ack}");
    let woo = customer_by_phone(app, &shop, "+8613900001111").1;
    assert_eq!(woo["orders"]["spend"]["CNY"], 3980, "{woo}");
    assert_eq!(woo["products"][0]["quantity"], 2);
    assert_eq!(woo["products"][0]["sku"], "JAS-100G");

    // Youzan: `msg` is form-encoded, so a space arrives as `+` and a plus sign as `%2B`.
    let msg = youzan_trade(
        "E20261120100000777",
        Some("+86 137 0000 2222"),
        None,
        "25.50",
        &[(7004, 8004, "PU-ER 357G", "普洱 357 克 + 礼盒", 1, "25.50")],
    );
    let request = youzan_request(&shop.id, "trade_TradePaid", "E777", &msg, YOUZAN_SECRET);
    let envelope: Value = serde_json::from_slice(request.body()).unwrap();
    let sent = envelope["msg"].as_str().unwrap();
    assert!(sent.contains('+') && sent.contains("%2B"), "{sent}");
    assert_eq!(app.call(request).0, 200);
    let yz = customer_by_phone(app, &shop, "+8613700002222").1;
    assert_eq!(yz["orders"]["spend"]["CNY"], 2550, "{yz}");
    assert_eq!(yz["products"][0]["title"], "普洱 357 克 + 礼盒");
    assert_eq!(yz["products"][0]["sku"], "PU-ER 357G");
}

pub fn generic_format_is_signed_and_replay_protected(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let now = app.now().as_second();
    let body = generic_order("A-1", "paid", Some("mei@example.com"), Some(PHONE), "88.00")
        .to_string()
        .into_bytes();
    let (status, ack) = app.call(generic_request(&shop.id, &shop.generic_secret, &body, now));
    assert_eq!(status, 200, "{ack}");
    assert_eq!(
        customer_by_phone(app, &shop, PHONE).1["orders"]["spend"]["CNY"],
        8800
    );

    // The window is 5 minutes either way. Each timestamp is taken afresh and kept well clear
    // of the edge: on a real clock, time passes between the test and the server.
    let fresh = || app.now().as_second();
    let (status, err) = app.call(generic_request(
        &shop.id,
        &shop.generic_secret,
        &body,
        fresh() - 330,
    ));
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (401, Some("stale_timestamp"))
    );
    let (status, _) = app.call(generic_request(
        &shop.id,
        &shop.generic_secret,
        &body,
        fresh() + 330,
    ));
    assert_eq!(status, 401, "timestamps from the future are refused too");
    assert_eq!(
        app.call(generic_request(
            &shop.id,
            &shop.generic_secret,
            &body,
            fresh() - 270
        ))
        .0,
        200
    );
    let (status, _) = app.call(generic_request(
        &shop.id,
        "not-the-secret-at-all",
        &body,
        now,
    ));
    assert_eq!(status, 401);

    let wrong = json!({"order_id": "A-2", "status": "shipped", "total": "1.00"})
        .to_string()
        .into_bytes();
    let (status, err) = app.call(generic_request(&shop.id, &shop.generic_secret, &wrong, now));
    assert_eq!(status, 422, "{err}");
    let typo = json!({"order_id": "A-2", "status": "paid", "totl": "1.00"})
        .to_string()
        .into_bytes();
    let (status, err) = app.call(generic_request(&shop.id, &shop.generic_secret, &typo, now));
    assert_eq!(status, 422);
    assert!(err["error"]["message"].as_str().unwrap().contains("totl"));
    assert_eq!(order_count_of_mei(app, &shop), 1);
}

// ------------------------------------------------------------------ exactly once

pub fn duplicate_deliveries_change_nothing_the_second_time(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let order = shopify_order(9001, &mei(), "paid", "59.90", &[TEA]);
    assert_eq!(
        send_shopify(app, &shop, "orders/create", &order, "wh-1").0,
        200
    );
    let dump_before = app.dump_shop(&shop.id);
    // Shopify's retry (same webhook id), a copy under another id, and orders/paid for the same state.
    let retry = app.send(shopify_request(
        &shop.id,
        "orders/create",
        &order,
        SHOPIFY_SECRET,
        "wh-1",
    ));
    assert_eq!(
        (retry.status, retry.writes),
        (200, 0),
        "an exact redelivery wrote"
    );
    assert_eq!(
        send_shopify(app, &shop, "orders/paid", &order, "wh-2").0,
        200
    );
    assert_eq!(
        send_shopify(app, &shop, "orders/updated", &order, "wh-3").0,
        200
    );
    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(customer["orders"]["order_count"], 1);
    assert_eq!(customer["orders"]["spend"]["CNY"], 5990);
    assert_eq!(customer["products"][0]["quantity"], 1);
    let mut before: Vec<_> = dump_before
        .into_iter()
        .filter(|(k, _)| k.contains("/c/"))
        .collect();
    let mut after: Vec<_> = app
        .dump_shop(&shop.id)
        .into_iter()
        .filter(|(k, _)| k.contains("/c/"))
        .collect();
    before.sort();
    after.sort();
    assert_eq!(before, after, "the customer record changed on a duplicate");
}

pub fn a_refund_arriving_before_its_paid_event_ends_with_the_right_totals(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let refund = shopify_refund(9001, 6001, "20.00");
    assert_eq!(
        send_shopify(app, &shop, "refunds/create", &refund, "r-1").0,
        200
    );
    let order = shopify_order(9001, &mei(), "paid", "109.90", &[TEA, CUPS]);
    assert_eq!(
        send_shopify(app, &shop, "orders/paid", &order, "p-1").0,
        200
    );
    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(customer["orders"]["order_count"], 1);
    assert_eq!(customer["orders"]["spend"]["CNY"], 8990);

    // The same refund again inside orders/updated, and as a redelivery: still counted once.
    let mut updated = shopify_order(9001, &mei(), "partially_refunded", "109.90", &[TEA, CUPS]);
    updated["updated_at"] = json!("2026-11-21T09:00:01+08:00");
    updated["refunds"] = json!([shopify_refund(9001, 6001, "20.00")]);
    assert_eq!(
        send_shopify(app, &shop, "orders/updated", &updated, "u-1").0,
        200
    );
    assert_eq!(
        send_shopify(app, &shop, "refunds/create", &refund, "r-2").0,
        200
    );
    assert_eq!(
        customer_by_phone(app, &shop, PHONE).1["orders"]["spend"]["CNY"],
        8990
    );

    // A second, different refund.
    assert_eq!(
        send_shopify(
            app,
            &shop,
            "refunds/create",
            &shopify_refund(9001, 6002, "9.90"),
            "r-3"
        )
        .0,
        200
    );
    assert_eq!(
        customer_by_phone(app, &shop, PHONE).1["orders"]["spend"]["CNY"],
        8000
    );
}

pub fn older_retries_do_not_undo_newer_state(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let paid = shopify_order(9001, &mei(), "paid", "59.90", &[TEA]);
    let mut cancelled = paid.clone();
    cancelled["cancelled_at"] = json!("2026-11-20T12:00:00+08:00");
    cancelled["updated_at"] = json!("2026-11-20T12:00:00+08:00");
    assert_eq!(
        send_shopify(app, &shop, "orders/cancelled", &cancelled, "c-1").0,
        200
    );
    // The original paid event, delayed by Shopify's retry schedule, arrives last.
    assert_eq!(send_shopify(app, &shop, "orders/paid", &paid, "p-1").0, 200);
    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(customer["orders"]["order_count"], 0);
    assert!(customer["orders"]["spend"].as_object().unwrap().is_empty());
    assert!(customer["products"].as_array().unwrap().is_empty());

    // In order: paid then cancelled takes the order back out.
    let second = shopify_order(9002, &mei(), "paid", "10.00", &[TEA]);
    assert_eq!(
        send_shopify(app, &shop, "orders/paid", &second, "p-2").0,
        200
    );
    assert_eq!(order_count_of_mei(app, &shop), 1);
    let mut second_cancelled = second.clone();
    second_cancelled["cancelled_at"] = json!("2026-11-20T13:00:00+08:00");
    assert_eq!(
        send_shopify(app, &shop, "orders/cancelled", &second_cancelled, "c-2").0,
        200
    );
    assert_eq!(order_count_of_mei(app, &shop), 0);
}

pub fn an_unpaid_order_counts_once_it_is_paid(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let pending = shopify_order(9001, &mei(), "pending", "59.90", &[TEA]);
    assert_eq!(
        send_shopify(app, &shop, "orders/create", &pending, "1").0,
        200
    );
    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(
        customer["orders"]["order_count"], 0,
        "a pending order is not a purchase yet"
    );
    let mut paid = pending.clone();
    paid["financial_status"] = json!("paid");
    paid["updated_at"] = json!("2026-11-20T10:30:00+08:00");
    assert_eq!(send_shopify(app, &shop, "orders/paid", &paid, "2").0, 200);
    assert_eq!(order_count_of_mei(app, &shop), 1);
}

pub fn the_same_person_on_shopify_and_youzan_is_one_customer(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let order = shopify_order(9001, &mei(), "paid", "59.90", &[TEA]);
    assert_eq!(
        send_shopify(app, &shop, "orders/create", &order, "1").0,
        200
    );
    // On Youzan the same phone, written the national way, and another platform id.
    let msg = youzan_trade(
        "E1",
        Some("13812345678"),
        Some("yz-open-9"),
        "25.00",
        &[CUPS],
    );
    assert_eq!(
        app.call(youzan_request(
            &shop.id,
            "trade_TradePaid",
            "E1",
            &msg,
            YOUZAN_SECRET
        ))
        .0,
        200
    );

    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(customer["orders"]["order_count"], 2);
    assert_eq!(customer["orders"]["spend"]["CNY"], 8490);
    let platforms: Vec<_> = customer["platform_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["platform"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["shopify", "youzan"]);
    assert_eq!(
        app.get("/api/customers?email=mei.lin@example.com", &shop.api_key)
            .1["id"],
        customer["id"]
    );
}

pub fn orders_without_identity_are_recorded_without_a_customer(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let order = shopify_order(9001, &Buyer::default(), "paid", "59.90", &[TEA]);
    let (status, ack) = send_shopify(app, &shop, "orders/create", &order, "1");
    assert_eq!(status, 200);
    assert_eq!(ack["result"]["customer_id"], Value::Null);
}

// ------------------------------------------------------------------ customer webhooks and closes

pub fn customer_webhooks_create_profiles_that_orders_join(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let created = json!({
        "id": 5001, "email": "Mei.Lin@Example.com", "phone": PHONE,
        "first_name": "Mei", "last_name": "Lin", "updated_at": "2026-11-19T10:00:00+08:00",
        "email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in"},
    });
    assert_eq!(
        send_shopify(app, &shop, "customers/create", &created, "c-1").0,
        200
    );
    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(customer["first_name"], "Mei");
    assert_eq!(customer["consent"]["marketing"], true);
    assert_eq!(customer["orders"]["order_count"], 0);

    // The consent is withdrawn on Shopify; an older copy of the create arrives late.
    let mut updated = created.clone();
    updated["updated_at"] = json!("2026-11-21T10:00:00+08:00");
    updated["email_marketing_consent"] = json!({"state": "unsubscribed"});
    assert_eq!(
        send_shopify(app, &shop, "customers/update", &updated, "c-2").0,
        200
    );
    assert_eq!(
        send_shopify(app, &shop, "customers/create", &created, "c-3").0,
        200
    );
    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(
        customer["consent"]["marketing"], false,
        "an older event revived consent"
    );

    // A Woo customer with the same email joins the same person.
    let woo_customer = json!({"id": 42, "email": "mei.lin@example.com", "first_name": "Mei",
        "last_name": "Lin", "date_modified_gmt": "2026-11-22T02:00:00", "billing": {"phone": ""}});
    assert_eq!(
        app.call(woo_request(
            &shop.id,
            "customer.created",
            &woo_customer,
            WOO_SECRET
        ))
        .0,
        200
    );
    let order = shopify_order(9001, &mei(), "paid", "59.90", &[TEA]);
    assert_eq!(
        send_shopify(app, &shop, "orders/create", &order, "o-1").0,
        200
    );
    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(customer["orders"]["order_count"], 1);
    let platforms: Vec<_> = customer["platform_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["platform"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["shopify", "woocommerce"]);
}

pub fn closed_and_deleted_orders_stop_counting(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let msg = youzan_trade("E77", Some("13812345678"), None, "30.00", &[TEA]);
    assert_eq!(
        app.call(youzan_request(
            &shop.id,
            "trade_TradePaid",
            "E77",
            &msg,
            YOUZAN_SECRET
        ))
        .0,
        200
    );
    let woo = woo_order(
        312,
        &Buyer {
            platform_id: None,
            email: None,
            phone: Some(PHONE),
        },
        "completed",
        "20.00",
        &[CUPS],
    );
    assert_eq!(
        app.call(woo_request(&shop.id, "order.created", &woo, WOO_SECRET))
            .0,
        200
    );
    assert_eq!(order_count_of_mei(app, &shop), 2);

    assert_eq!(
        app.call(youzan_request(
            &shop.id,
            "trade_TradeClose",
            "E77",
            &msg,
            YOUZAN_SECRET
        ))
        .0,
        200
    );
    assert_eq!(
        app.call(woo_request(
            &shop.id,
            "order.deleted",
            &json!({"id": 312}),
            WOO_SECRET
        ))
        .0,
        200
    );
    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(customer["orders"]["order_count"], 0);
    assert!(customer["orders"]["spend"].as_object().unwrap().is_empty());
}
