//! The scenarios, written once against `Client` and run in-process (tests/foundation.rs),
//! through the `.wasm` components in the wasm host (tests/wasm.rs) and under a real
//! `spin up` with each store (tests/real_spin.rs). `$runner!(scenario, …)` gets the lists.

use http::Method;
use serde_json::{json, Value};

use crate::app::{request, TestShop, OPERATOR_TOKEN};
use crate::client::Client;
pub use crate::coupon_scenarios::*;
use crate::platforms::*;
pub use crate::reminder_scenarios::*;
pub use crate::tagging_scenarios::*;

/// Every scenario that runs on the real clock: run by every runner, real `spin up` included.
/// Each takes only a `&dyn Client`.
#[macro_export]
macro_rules! each_scenario {
    ($runner:ident) => {
        $runner!(
            only_the_operator_creates_shops_and_keys_are_shown_once,
            shop_settings_are_validated_and_updated,
            a_signed_shopify_order_creates_the_customer,
            shopify_accepts_both_rotation_secrets_and_refuses_forgeries,
            woocommerce_ping_orders_and_forgeries,
            youzan_messages_are_decoded_acknowledged_and_verified,
            youzan_older_scheme_signing_the_decoded_msg_is_accepted,
            platform_payloads_are_read_as_the_platforms_send_them,
            generic_format_is_signed_and_replay_protected,
            duplicate_deliveries_change_nothing_the_second_time,
            a_refund_arriving_before_its_paid_event_ends_with_the_right_totals,
            older_retries_do_not_undo_newer_state,
            an_unpaid_order_counts_once_it_is_paid,
            the_same_person_on_shopify_and_youzan_is_one_customer,
            orders_without_identity_are_recorded_without_a_customer,
            erasure_removes_personal_data_and_keeps_anonymous_aggregates,
            shopify_privacy_webhooks_erase_record_and_close,
            one_shop_never_sees_or_changes_another_shops_data,
            bad_input_gets_a_clear_json_error_and_writes_nothing,
            the_api_contract_is_served_and_what_fuzzing_found_stays_fixed,
            customer_webhooks_create_profiles_that_orders_join,
            closed_and_deleted_orders_stop_counting,
            channels_are_created_validated_listed_and_isolated,
            a_scan_is_counted_and_redirected_with_attribution,
            unknown_and_retired_codes_get_a_friendly_page,
            a_lead_becomes_a_tagged_customer_once,
            leads_without_consent_or_identity_are_refused,
            the_hosted_form_signs_people_up_without_javascript,
            lead_bursts_from_one_address_are_rate_limited,
            qr_images_scan_back_to_the_channel_url,
            wecom_contacts_added_through_a_channel_become_its_leads,
            wecoms_official_sample_is_verified_and_acknowledged,
            a_channels_funnel_follows_its_leads_orders,
            deleted_channels_disappear_and_their_codes_retire,
            scans_count_on_the_shops_day_after_a_time_zone_change,
        );
    };
}

/// Scenarios that carry the test clock (`Client::call_at`) out of habit: their outcome does
/// not depend on the day they play, so real Spin runs them on the real clock
/// (`spin_up::RealClock`).
#[macro_export]
macro_rules! each_clock_tolerant_scenario {
    ($runner:ident) => {
        $runner!(
            attributes_are_validated,
            campaigns_are_validated_and_each_discount_type_priced,
            csv_export_opens_in_a_spreadsheet,
            issuing_keeps_idempotency_keys_limits_and_eligibility,
            manual_tags_merge_ignore_case_and_keep_their_limits,
            pool_codes_are_imported_once_and_handed_out_once,
            print_batches_are_resumable_and_stable,
            reminder_settings_are_validated_and_the_secret_is_shown_once,
            rules_are_validated_on_save_and_write_nothing_when_wrong,
            unsubscribe_links_withdraw_consent_and_cancel_reminders,
        );
    };
}

/// Scenarios that play other days through the test clock (`Client::call_at`): run
/// in-process and in the wasm host, whose clocks tests may set; real Spin serves the real one.
#[macro_export]
macro_rules! each_clocked_scenario {
    ($runner:ident) => {
        $runner!(
            each_condition_type_tags_the_right_customers,
            remove_rules_win_and_a_refund_below_the_threshold_drops_the_tag,
            time_based_rules_flip_after_the_scheduled_pass,
            a_changed_rule_reaches_existing_customers_through_the_pass,
            rfm_groups_follow_recency_frequency_and_spend,
            shopify_customer_tags_are_imported_with_their_source,
            every_rejection_reason_is_reported,
            orders_redeem_coupons_on_every_platform_and_refunds_roll_back,
            welcome_and_tag_coupons_are_issued_once,
            paid_orders_plan_reminders_and_cancellations_cancel_them,
            due_reminders_are_delivered_once_signed_and_merged,
            quiet_hours_and_the_frequency_cap_defer_then_send,
            a_receiver_that_is_down_gets_retries_then_the_message_fails,
            a_follow_up_carries_the_campaigns_coupon,
        );
    };
}

pub const PHONE: &str = "+8613812345678";

pub fn mei() -> Buyer {
    Buyer {
        platform_id: Some(5001),
        email: Some("Mei.Lin@Example.com"),
        phone: Some(PHONE),
    }
}

/// `PATCH /api/shop` with the shop's own key: (status, answer).
pub fn patch_shop(app: &dyn Client, shop: &TestShop, patch: &Value) -> (u16, Value) {
    app.call(request(
        Method::PATCH,
        "/api/shop",
        Some(&shop.api_key),
        patch.to_string().into_bytes(),
    ))
}

pub fn customer_by_phone(app: &dyn Client, shop: &TestShop, phone: &str) -> (u16, Value) {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("phone", phone)
        .finish();
    app.get(&format!("/api/customers?{query}"), &shop.api_key)
}

pub fn send_shopify(
    app: &dyn Client,
    shop: &TestShop,
    topic: &str,
    body: &Value,
    webhook_id: &str,
) -> (u16, Value) {
    app.call(shopify_request(
        &shop.id,
        topic,
        body,
        SHOPIFY_SECRET,
        webhook_id,
    ))
}

// ------------------------------------------------------------------ shops

pub fn only_the_operator_creates_shops_and_keys_are_shown_once(app: &dyn Client) {
    let body = shop_body("Tea House").to_string().into_bytes();
    let refused = app.send(request(Method::POST, "/api/shops", None, body.clone()));
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["error"]["code"], "unauthorized");
    assert_eq!(refused.writes, 0, "a refused request wrote something");
    let refused = app.send(request(Method::POST, "/api/shops", Some("guess"), body));
    assert_eq!((refused.status, refused.writes), (401, 0));

    let shop = app.shop_with_all_platforms();
    let (status, settings) = app.get("/api/shop", &shop.api_key);
    assert_eq!(status, 200);
    assert_eq!(settings["time_zone"], "Asia/Shanghai");
    assert_eq!(settings["currency"], "CNY");
    assert_eq!(settings["credentials"]["shopify_secrets"], 2);
    let text = settings.to_string();
    for secret in [
        SHOPIFY_SECRET,
        WOO_SECRET,
        YOUZAN_SECRET,
        &shop.generic_secret,
        &shop.api_key,
    ] {
        assert!(!text.contains(secret), "settings echo a secret");
    }
    let stored = app
        .dump_shop(&shop.id)
        .into_iter()
        .map(|(_, v)| v)
        .collect::<String>();
    assert!(
        !stored.contains(&shop.api_key),
        "the API key is stored in clear"
    );
}

pub fn shop_settings_are_validated_and_updated(app: &dyn Client) {
    let mut body = shop_body("Tea");
    body["time_zone"] = json!("Mars/Olympus");
    let refused = app.send(request(
        Method::POST,
        "/api/shops",
        Some(OPERATOR_TOKEN),
        body.to_string().into_bytes(),
    ));
    let err = refused.json();
    assert_eq!(refused.status, 422, "{err}");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Mars/Olympus"));
    assert_eq!(refused.writes, 0);

    let shop = app.shop_with_all_platforms();
    let patch = json!({"name": "Tea House Berlin", "time_zone": "Europe/Berlin", "credentials": {"shopify_secrets": ["rotated-secret-0001"]}});
    let (status, updated) = patch_shop(app, &shop, &patch);
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["time_zone"], "Europe/Berlin");
    assert_eq!(updated["credentials"]["shopify_secrets"], 1);
    assert_eq!(
        updated["credentials"]["woocommerce_secret"], true,
        "untouched credentials stay"
    );

    let bad = json!({"currency": "EURO"});
    let (status, _) = patch_shop(app, &shop, &bad);
    assert_eq!(status, 422);
    let (_, after) = app.get("/api/shop", &shop.api_key);
    assert_eq!(
        after["currency"], "CNY",
        "a refused update changed something"
    );

    let (status, rotated) = app.call(request(
        Method::POST,
        &format!("/api/shops/{}/api-key", shop.id),
        Some(OPERATOR_TOKEN),
        vec![],
    ));
    assert_eq!(status, 200);
    assert_eq!(
        app.get("/api/shop", &shop.api_key).0,
        401,
        "the old key still works"
    );
    assert_eq!(
        app.get("/api/shop", rotated["api_key"].as_str().unwrap()).0,
        200
    );
}

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
    assert_eq!(customer["phone"], "+86138****5678");
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
    assert_eq!(
        customer_by_phone(app, &shop, PHONE).1["orders"]["order_count"],
        2
    );
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
    let mut req = youzan_request(&shop.id, "trade_TradePaid", "E1", &msg, YOUZAN_SECRET);
    use md5::{Digest, Md5};
    let mut md5 = Md5::new();
    md5.update(YOUZAN_CLIENT_ID.as_bytes());
    md5.update(msg.to_string().as_bytes());
    md5.update(YOUZAN_SECRET.as_bytes());
    req.headers_mut()
        .insert("event-sign", hex::encode(md5.finalize()).parse().unwrap());
    assert_eq!(app.call(req).0, 200);
    assert_eq!(
        customer_by_phone(app, &shop, PHONE).1["orders"]["order_count"],
        1
    );
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
    assert_eq!(
        customer_by_phone(app, &shop, PHONE).1["orders"]["order_count"],
        1
    );
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
    assert_eq!(
        customer_by_phone(app, &shop, PHONE).1["orders"]["order_count"],
        1
    );
    let mut second_cancelled = second.clone();
    second_cancelled["cancelled_at"] = json!("2026-11-20T13:00:00+08:00");
    assert_eq!(
        send_shopify(app, &shop, "orders/cancelled", &second_cancelled, "c-2").0,
        200
    );
    assert_eq!(
        customer_by_phone(app, &shop, PHONE).1["orders"]["order_count"],
        0
    );
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
    assert_eq!(
        customer_by_phone(app, &shop, PHONE).1["orders"]["order_count"],
        1
    );
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

// ------------------------------------------------------------------ isolation

pub fn one_shop_never_sees_or_changes_another_shops_data(app: &dyn Client) {
    let a = app.shop_with_all_platforms();
    let b = app.create_shop(json!({"name": "Other", "currency": "CNY", "credentials": {"shopify_secrets": ["b-secret-0001"]}}));
    let order = shopify_order(9001, &mei(), "paid", "59.90", &[TEA]);
    assert_eq!(send_shopify(app, &a, "orders/create", &order, "1").0, 200);
    let id = customer_by_phone(app, &a, PHONE).1["id"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, err) = app.get(&format!("/api/customers/{id}"), &b.api_key);
    assert_eq!(status, 404, "{err}");
    assert_eq!(customer_by_phone(app, &b, PHONE).0, 404);
    let (status, _) = app.call(request(
        Method::DELETE,
        &format!("/api/customers/{id}"),
        Some(&b.api_key),
        vec![],
    ));
    assert_eq!(status, 404);
    assert!(app.get(&format!("/api/customers/{id}"), &a.api_key).1["erased_at"].is_null());
    // Shop A's Shopify secret does not sign for shop B.
    assert_eq!(
        app.call(shopify_request(
            &b.id,
            "orders/create",
            &order,
            SHOPIFY_SECRET,
            "2"
        ))
        .0,
        401
    );
    // A key whose shop part is B's but whose secret is A's.
    let forged = format!("siyu_{}_{}", b.id, a.api_key.rsplit('_').next().unwrap());
    assert_eq!(app.get("/api/shop", &forged).0, 401);
    assert!(
        app.dump_shop(&b.id)
            .iter()
            .all(|(k, _)| k.ends_with("/shop")),
        "shop B holds data it never received"
    );
}

// ------------------------------------------------------------------ bad input

/// `GET /api/openapi.json` is public and describes this deployment; and what schemathesis
/// found (tests/tests/contract.rs) stays fixed.
pub fn the_api_contract_is_served_and_what_fuzzing_found_stays_fixed(app: &dyn Client) {
    let mut get = request(Method::GET, "/api/openapi.json", None, Vec::new());
    get.headers_mut()
        .insert("host", "siyu.example.com".parse().unwrap());
    let reply = app.send(get);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["access-control-allow-origin"], "*");
    let document = reply.json();
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["paths"]["/api/campaigns/{id}/issue"]["post"].is_object());
    // Where this deployment is reached (Spin's own URL under Spin, else the Host header).
    let server = document["servers"][0]["url"].as_str().unwrap();
    assert!(server.starts_with("http"), "{server}");

    let shop = app.shop_with_all_platforms();
    let send = |method: Method, path: &str, bearer: Option<&str>, body: &str| {
        app.send(request(method, path, bearer, body.as_bytes().to_vec()))
    };
    // Redacting a shop that does not exist was answered {"closed": true}.
    let refused = send(
        Method::POST,
        "/api/shops/shp_aaaaaaaaaaaa/redact",
        Some(OPERATOR_TOKEN),
        "",
    );
    assert_eq!((refused.status, refused.writes), (404, 0));
    // serde fills a struct from an array by position: `[null, null]` was a valid update.
    for body in [r#"[null, null]"#, r#"{"credentials": ["x", "y"]}"#] {
        let refused = send(Method::PATCH, "/api/shop", Some(&shop.api_key), body);
        assert_eq!((refused.status, refused.writes), (422, 0), "{body}");
        assert!(refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("must not be an array"));
    }
    // Reading the body for that check must not loosen serde's: a field given twice is still
    // refused (the `[` sends the body through the array check).
    let refused = send(
        Method::PATCH,
        "/api/shop",
        Some(&shop.api_key),
        r#"{"name": "Tea [1]", "name": "Tea [2]"}"#,
    );
    assert_eq!((refused.status, refused.writes), (422, 0));
    assert!(refused.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("duplicate field"));
    // A method a path does not take: 405 with the ones it does in `Allow`.
    let refused = send(Method::PUT, "/api/channels", Some(&shop.api_key), "{}");
    assert_eq!(refused.status, 405);
    assert_eq!(refused.headers["allow"], "GET, POST");
}

pub fn bad_input_gets_a_clear_json_error_and_writes_nothing(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let signed = |body: &[u8]| {
        let mut req = shopify_request(&shop.id, "orders/create", &json!({}), SHOPIFY_SECRET, "z");
        let sig = {
            use base64::Engine;
            use hmac::{Hmac, Mac};
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SHOPIFY_SECRET.as_bytes()).unwrap();
            mac.update(body);
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        };
        req.headers_mut()
            .insert("x-shopify-hmac-sha256", sig.parse().unwrap());
        *req.body_mut() = body.to_vec();
        req
    };
    let mut order_with_text_quantity = shopify_order(1, &mei(), "paid", "1.00", &[TEA]);
    order_with_text_quantity["line_items"][0]["quantity"] = json!("two");
    let mut order_with_bad_money = shopify_order(2, &mei(), "paid", "1.00", &[TEA]);
    order_with_bad_money["total_price"] = json!("12,50");
    let cases: Vec<(&str, siyu::web::Request, u16, &str)> = vec![
        (
            "malformed JSON",
            signed(b"{\"id\": 1,"),
            400,
            "invalid_json",
        ),
        (
            "non-UTF-8",
            signed(&[0x7b, 0xff, 0xfe, 0x7d]),
            400,
            "invalid_encoding",
        ),
        (
            "wrong type",
            signed(order_with_text_quantity.to_string().as_bytes()),
            422,
            "invalid_field",
        ),
        (
            "missing field",
            signed(b"{\"name\": \"#1\"}"),
            422,
            "invalid_field",
        ),
        (
            "inexact money",
            signed(order_with_bad_money.to_string().as_bytes()),
            422,
            "invalid_payload",
        ),
        (
            "body over 1 MB",
            signed(&vec![b' '; 1024 * 1024 + 1]),
            413,
            "payload_too_large",
        ),
        (
            "unknown shop",
            shopify_request(
                "shp_aaaaaaaaaaaa",
                "orders/create",
                &json!({}),
                SHOPIFY_SECRET,
                "z",
            ),
            404,
            "not_found",
        ),
        (
            "malformed shop id",
            shopify_request("..%2f", "orders/create", &json!({}), SHOPIFY_SECRET, "z"),
            404,
            "not_found",
        ),
        (
            "wrong method",
            request(
                Method::GET,
                &format!("/webhooks/shopify/{}", shop.id),
                None,
                vec![],
            ),
            405,
            "method_not_allowed",
        ),
        (
            "unknown platform",
            request(
                Method::POST,
                &format!("/webhooks/magento/{}", shop.id),
                None,
                vec![],
            ),
            404,
            "unknown_route",
        ),
        (
            "unknown route",
            request(Method::GET, "/nothing/here", None, vec![]),
            404,
            "unknown_route",
        ),
        (
            "unknown API route",
            request(
                Method::GET,
                "/api/customers/x/y/z",
                Some(&shop.api_key),
                vec![],
            ),
            404,
            "unknown_route",
        ),
        (
            "no API key",
            request(
                Method::GET,
                "/api/customers/cus_aaaaaaaaaaaaaaaa",
                None,
                vec![],
            ),
            401,
            "unauthorized",
        ),
        (
            "garbage API key",
            request(Method::GET, "/api/shop", Some("siyu_x"), vec![]),
            401,
            "unauthorized",
        ),
        (
            "lookup without query",
            request(Method::GET, "/api/customers", Some(&shop.api_key), vec![]),
            400,
            "invalid_query",
        ),
        (
            "lookup by bad phone",
            request(
                Method::GET,
                "/api/customers?phone=abc",
                Some(&shop.api_key),
                vec![],
            ),
            400,
            "invalid_query",
        ),
        (
            "shop body not JSON",
            request(
                Method::POST,
                "/api/shops",
                Some(OPERATOR_TOKEN),
                b"name=x".to_vec(),
            ),
            400,
            "invalid_json",
        ),
        (
            "shop body unknown field",
            request(
                Method::POST,
                "/api/shops",
                Some(OPERATOR_TOKEN),
                br#"{"name":"x","currency":"CNY","colour":"red"}"#.to_vec(),
            ),
            422,
            "invalid_field",
        ),
        (
            "three Shopify secrets",
            request(
                Method::POST,
                "/api/shops",
                Some(OPERATOR_TOKEN),
                br#"{"name":"x","currency":"CNY","credentials":{"shopify_secrets":["a","b","c"]}}"#
                    .to_vec(),
            ),
            422,
            "invalid_field",
        ),
    ];
    for (what, req, status, code) in cases {
        let response = app.send(req);
        let body: Value =
            serde_json::from_slice(&response.body).unwrap_or_else(|_| panic!("{what}: not JSON"));
        assert_eq!(response.status, status, "{what}: {body}");
        assert_eq!(response.writes, 0, "{what}: bad input wrote something");
        assert_eq!(body["error"]["code"], code, "{what}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}"
        );
        assert_eq!(
            response.headers["content-type"], "application/json",
            "{what}"
        );
    }
}

// ------------------------------------------------------------------ concurrency

/// `orders` concurrent first-time order webhooks for one new customer: every one counted,
/// spend exact, one customer.
pub fn concurrent_orders_for_one_customer_are_all_counted(app: &dyn Client, orders: u64) {
    let shop = app.shop_with_all_platforms();
    std::thread::scope(|s| {
        for i in 0..orders {
            let (app, shop) = (app, &shop);
            s.spawn(move || {
                let order = shopify_order(10_000 + i, &mei(), "paid", "12.34", &[TEA]);
                // Like Shopify, retry until the delivery is acknowledged.
                for _ in 0..20 {
                    let response = app.send(shopify_request(
                        &shop.id,
                        "orders/create",
                        &order,
                        SHOPIFY_SECRET,
                        &format!("w{i}"),
                    ));
                    if response.status == 200 {
                        return;
                    }
                    assert_eq!(
                        response.status, 503,
                        "only a retryable busy answer is acceptable"
                    );
                }
                panic!("order {i} was never accepted");
            });
        }
    });
    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(customer["orders"]["order_count"], orders);
    assert_eq!(customer["orders"]["spend"]["CNY"], 1234 * orders);
    assert_eq!(customer["products"][0]["quantity"], orders);
    let customers = app
        .dump_shop(&shop.id)
        .into_iter()
        .filter(|(k, _)| k.contains("/c/"))
        .count();
    assert_eq!(
        customers, 1,
        "racing first orders created more than one customer"
    );
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
    assert_eq!(
        customer_by_phone(app, &shop, PHONE).1["orders"]["order_count"],
        2
    );

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

// ------------------------------------------------------------------ channel codes

fn create_channel(app: &dyn Client, shop: &TestShop, body: Value) -> Value {
    let (status, channel) = app.call(request(
        Method::POST,
        "/api/channels",
        Some(&shop.api_key),
        body.to_string().into_bytes(),
    ));
    assert_eq!(status, 201, "{channel}");
    channel
}

fn scan(app: &dyn Client, code: &str, cookie: Option<&str>) -> crate::client::Reply {
    let mut req = request(Method::GET, &format!("/q/{code}"), None, vec![]);
    if let Some(cookie) = cookie {
        req.headers_mut().insert("cookie", cookie.parse().unwrap());
    }
    app.send(req)
}

fn today_stats(app: &dyn Client, shop: &TestShop, channel: &Value) -> Value {
    let (status, stats) = app.get(
        &format!("/api/channels/{}/stats", channel["id"].as_str().unwrap()),
        &shop.api_key,
    );
    assert_eq!(status, 200, "{stats}");
    stats
}

pub fn channels_are_created_validated_listed_and_isolated(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let other = app.create_shop(shop_body("Other"));
    let card = create_channel(
        app,
        &shop,
        json!({"name": "Package card Nov", "kind": "package_card", "campaign": "nov-restock",
               "tags": ["card", "Card", "tea lover"], "target_url": "https://tea.example.com/welcome"}),
    );
    let code = card["code"].as_str().unwrap();
    assert!(
        code.len() <= 10 && code.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{code}"
    );
    assert_eq!(
        card["tags"],
        json!(["card", "tea lover"]),
        "tags compare case-insensitively"
    );
    let poster = create_channel(
        app,
        &shop,
        json!({"name": "Poster", "kind": "poster", "target_url": "https://tea.example.com/"}),
    );
    assert_ne!(poster["code"], card["code"]);

    for (body, what) in [
        (
            json!({"name": "x", "target_url": "javascript:alert(1)"}),
            "javascript URL",
        ),
        (
            json!({"name": "x", "target_url": "/relative"}),
            "relative URL",
        ),
        (
            json!({"target_url": "https://tea.example.com/"}),
            "missing name",
        ),
        (
            json!({"name": "x", "kind": "billboard", "target_url": "https://a.example/"}),
            "unknown kind",
        ),
        (
            json!({"name": "x", "target_url": "https://a.example/", "colour": "red"}),
            "unknown field",
        ),
    ] {
        let refused = app.send(request(
            Method::POST,
            "/api/channels",
            Some(&shop.api_key),
            body.to_string().into_bytes(),
        ));
        assert_eq!(
            (refused.status, refused.writes),
            (422, 0),
            "{what}: {}",
            String::from_utf8_lossy(&refused.body)
        );
    }

    let (status, page) = app.get("/api/channels?limit=1", &shop.api_key);
    assert_eq!(status, 200);
    assert_eq!(page["items"][0]["id"], card["id"]);
    let (_, rest) = app.get(
        &format!("/api/channels?limit=1&cursor={}", page["next_cursor"]),
        &shop.api_key,
    );
    assert_eq!(rest["items"][0]["id"], poster["id"]);
    assert_eq!(rest["next_cursor"], Value::Null);

    let path = format!("/api/channels/{}", card["id"].as_str().unwrap());
    assert_eq!(
        app.get(&path, &other.api_key).0,
        404,
        "another shop's channel must look absent"
    );
    let (status, patched) = app.call(request(
        Method::PATCH,
        &path,
        Some(&other.api_key),
        br#"{"active":false}"#.to_vec(),
    ));
    assert_eq!(status, 404, "{patched}");
    assert_eq!(
        app.get("/api/channels", &other.api_key).1["items"],
        json!([])
    );
}

pub fn a_scan_is_counted_and_redirected_with_attribution(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let card = create_channel(
        app,
        &shop,
        json!({"name": "Card", "kind": "package_card", "campaign": "nov", "target_url": "https://tea.example.com/welcome?lang=zh#top"}),
    );
    let code = card["code"].as_str().unwrap();

    let first = scan(app, code, None);
    assert_eq!(first.status, 302);
    assert_eq!(
        first.writes, 2,
        "a first-time scan counts the scan and the scanner"
    );
    let location = first.headers["location"].to_str().unwrap();
    assert_eq!(
        location,
        format!("https://tea.example.com/welcome?lang=zh&utm_source=siyu&utm_medium=package_card&utm_campaign=nov&utm_content={code}#top")
    );
    let cookie = first.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with(&format!("sq_{code}=1;")), "{cookie}");
    let again = scan(app, code, Some(&format!("other=1; sq_{code}=1")));
    assert_eq!(
        (again.status, again.writes),
        (302, 1),
        "a repeat scan is one write"
    );
    assert!(again.headers.get("set-cookie").is_none());

    let stats = today_stats(app, &shop, &card);
    assert_eq!(stats["scans"], 2);
    assert_eq!(stats["unique_scanners"], 1);
    assert_eq!(stats["days"].as_array().unwrap().len(), 30);

    // WeCom acquisition links carry the channel back in `customer_channel`.
    let wecom = create_channel(
        app,
        &shop,
        json!({"name": "Staff Li", "kind": "staff", "target_url": "https://work.weixin.qq.com/ca/cawcde1234"}),
    );
    let code = wecom["code"].as_str().unwrap();
    let location = scan(app, code, None).headers["location"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        location.ends_with(&format!("&customer_channel=siyu_{code}")),
        "{location}"
    );
}

pub fn unknown_and_retired_codes_get_a_friendly_page(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let unknown = scan(app, "zzzzzzzz", None);
    assert_eq!((unknown.status, unknown.writes), (404, 0));
    assert!(unknown.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(
        unknown.headers.get("location").is_none(),
        "never a redirect for an unknown code"
    );
    let odd = scan(app, "..%2F..%2Fx", None);
    assert_eq!((odd.status, odd.writes), (404, 0));

    let card = create_channel(
        app,
        &shop,
        json!({"name": "Old card", "target_url": "https://tea.example.com/"}),
    );
    let path = format!("/api/channels/{}", card["id"].as_str().unwrap());
    let (status, retired) = app.call(request(
        Method::PATCH,
        &path,
        Some(&shop.api_key),
        br#"{"active":false}"#.to_vec(),
    ));
    assert_eq!((status, &retired["active"]), (200, &json!(false)));
    let gone = scan(app, card["code"].as_str().unwrap(), None);
    assert_eq!((gone.status, gone.writes), (410, 0));
    assert!(String::from_utf8_lossy(&gone.body).contains("no longer active"));
    assert_eq!(today_stats(app, &shop, &card)["scans"], 0);

    let (status, _) = app.call(request(
        Method::PATCH,
        &path,
        Some(&shop.api_key),
        br#"{"active":true,"target_url":"https://tea.example.com/new"}"#.to_vec(),
    ));
    assert_eq!(status, 200);
    let back = scan(app, card["code"].as_str().unwrap(), None);
    assert_eq!(back.status, 302);
    assert!(back.headers["location"]
        .to_str()
        .unwrap()
        .starts_with("https://tea.example.com/new?"));
}

/// `scans` concurrent first-time scans of one code: every one counted.
pub fn concurrent_scans_are_all_counted(app: &dyn Client, scans: u64) {
    let shop = app.shop_with_all_platforms();
    let card = create_channel(
        app,
        &shop,
        json!({"name": "Card", "target_url": "https://tea.example.com/"}),
    );
    let code = card["code"].as_str().unwrap();
    std::thread::scope(|s| {
        for _ in 0..scans {
            s.spawn(|| assert_eq!(scan(app, code, None).status, 302));
        }
    });
    let stats = today_stats(app, &shop, &card);
    assert_eq!(stats["scans"], scans);
    assert_eq!(stats["unique_scanners"], scans);
}

// ------------------------------------------------------------------ leads

fn submit_lead(app: &dyn Client, code: &str, body: Value, client: &str) -> crate::client::Reply {
    let mut req = request(
        Method::POST,
        &format!("/q/{code}/lead"),
        None,
        body.to_string().into_bytes(),
    );
    req.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    req.headers_mut()
        .insert("spin-client-addr", client.parse().unwrap());
    app.send(req)
}

fn submit_form(app: &dyn Client, code: &str, form: &str, client: &str) -> crate::client::Reply {
    let mut req = request(
        Method::POST,
        &format!("/q/{code}/lead"),
        None,
        form.as_bytes().to_vec(),
    );
    req.headers_mut().insert(
        "content-type",
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    req.headers_mut()
        .insert("spin-client-addr", client.parse().unwrap());
    app.send(req)
}

pub fn a_lead_becomes_a_tagged_customer_once(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let card = create_channel(
        app,
        &shop,
        json!({"name": "Package card", "kind": "package_card", "tags": ["card-lead", "Nov"], "target_url": "https://tea.example.com/"}),
    );
    let code = card["code"].as_str().unwrap();
    let first = submit_lead(
        app,
        code,
        json!({"phone": "138 1234 5678", "name": "Mei", "consent": true}),
        "10.0.0.1:5000",
    );
    assert_eq!(
        first.status,
        201,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    assert_eq!(first.json()["new_lead"], true);

    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(customer["id"], first.json()["customer_id"]);
    assert_eq!(customer["consent"]["marketing"], true);
    assert_eq!(customer["consent"]["source"], "lead");
    assert_eq!(customer["first_capture"]["channel"], card["id"]);
    let tags: Vec<_> = customer["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["card-lead", "Nov"]);
    assert_eq!(customer["tags"][0]["sources"][0]["kind"], "channel");
    assert_eq!(customer["tags"][0]["sources"][0]["channel"], card["id"]);

    // The same person again (same phone, now with an email): one lead, one customer.
    let again = submit_lead(
        app,
        code,
        json!({"phone": PHONE, "email": "mei@example.com", "consent": true}),
        "10.0.0.1:5001",
    );
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["new_lead"], false);
    assert_eq!(again.json()["customer_id"], first.json()["customer_id"]);
    assert_eq!(today_stats(app, &shop, &card)["leads"], 1);

    // Their first order joins the same customer.
    let order = shopify_order(9001, &mei(), "paid", "59.90", &[TEA]);
    assert_eq!(
        send_shopify(app, &shop, "orders/create", &order, "o-1").0,
        200
    );
    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(customer["id"], first.json()["customer_id"]);
    assert_eq!(customer["orders"]["order_count"], 1);
}

pub fn leads_without_consent_or_identity_are_refused(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let card = create_channel(
        app,
        &shop,
        json!({"name": "Poster", "target_url": "https://tea.example.com/"}),
    );
    let code = card["code"].as_str().unwrap();
    for (body, status, code_text) in [
        (json!({"phone": PHONE}), 422, "consent_required"),
        (
            json!({"phone": PHONE, "consent": false}),
            422,
            "consent_required",
        ),
        (
            json!({"name": "Mei", "consent": true}),
            422,
            "invalid_field",
        ),
        (
            json!({"phone": "not a phone", "consent": true}),
            422,
            "invalid_field",
        ),
        (
            json!({"phone": PHONE, "consent": true, "birthday": "x"}),
            422,
            "invalid_field",
        ),
    ] {
        let refused = submit_lead(app, code, body.clone(), "10.0.0.2:1");
        assert_eq!((refused.status, refused.writes), (status, 0), "{body}");
        assert_eq!(refused.json()["error"]["code"], code_text, "{body}");
    }
    let form = submit_form(app, code, "phone=13812345678&name=Mei", "10.0.0.2:1");
    assert_eq!((form.status, form.writes), (422, 0));
    assert!(form.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(
        submit_lead(
            app,
            "zzzzzzzz",
            json!({"phone": PHONE, "consent": true}),
            "10.0.0.2:1"
        )
        .status,
        404
    );
    assert_eq!(customer_by_phone(app, &shop, PHONE).0, 404);
}

pub fn the_hosted_form_signs_people_up_without_javascript(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let card = create_channel(
        app,
        &shop,
        json!({"name": "Tea <House> card", "tags": ["form"], "target_url": "https://tea.example.com/"}),
    );
    let code = card["code"].as_str().unwrap();
    let page = app.send(request(
        Method::GET,
        &format!("/q/{code}/form"),
        None,
        vec![],
    ));
    assert_eq!(page.status, 200);
    let html = String::from_utf8_lossy(&page.body);
    assert!(
        html.contains(&format!("action=\"/q/{code}/lead\"")),
        "{html}"
    );
    assert!(
        html.contains("Tea &lt;House&gt; card"),
        "the channel name is escaped"
    );
    assert!(html.contains("name=\"consent\""));

    let done = submit_form(
        app,
        code,
        "name=Mei&phone=%2B8613812345678&email=&consent=on",
        "10.0.0.3:1",
    );
    assert_eq!(done.status, 200);
    assert!(String::from_utf8_lossy(&done.body).contains("Thank you"));
    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert_eq!(customer["tags"][0]["name"], "form");
    assert_eq!(customer["first_name"], "Mei");
}

pub fn lead_bursts_from_one_address_are_rate_limited(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let card = create_channel(
        app,
        &shop,
        json!({"name": "Poster", "target_url": "https://tea.example.com/"}),
    );
    let code = card["code"].as_str().unwrap();
    // The limit counts per clock minute: on a real clock, start the burst well inside one.
    let second = app.now().as_second().rem_euclid(60);
    if second >= 50 && app.clock_is_real() {
        std::thread::sleep(std::time::Duration::from_secs((61 - second) as u64));
    }
    for i in 0..siyu::channels::leads::RATE_LIMIT_PER_MINUTE {
        let reply = submit_lead(
            app,
            code,
            json!({"email": format!("p{i}@example.com"), "consent": true}),
            "10.9.9.9:1234",
        );
        assert_eq!(reply.status, 201, "submission {i}");
    }
    let limited = submit_lead(
        app,
        code,
        json!({"email": "one.more@example.com", "consent": true}),
        "10.9.9.9:4321",
    );
    assert_eq!(limited.status, 429);
    assert_eq!(limited.json()["error"]["code"], "rate_limited");
    if app.client_address_is_real() {
        // Spin names the connection's address: a header claiming another does not help.
        return;
    }
    // Another address is not affected.
    assert_eq!(
        submit_lead(
            app,
            code,
            json!({"email": "other@example.com", "consent": true}),
            "10.9.9.10:1"
        )
        .status,
        201
    );
}

// ------------------------------------------------------------------ QR images

pub fn qr_images_scan_back_to_the_channel_url(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let card = create_channel(
        app,
        &shop,
        json!({"name": "Card", "target_url": "https://tea.example.com/"}),
    );
    let code = card["code"].as_str().unwrap();
    let path = format!("/api/channels/{}", card["id"].as_str().unwrap());
    let get = |query: &str| {
        let mut req = request(
            Method::GET,
            &format!("{path}/{query}"),
            Some(&shop.api_key),
            vec![],
        );
        req.headers_mut()
            .insert("host", "siyu.example.com".parse().unwrap());
        app.send(req)
    };

    let svg = get("qr.svg");
    assert_eq!(svg.status, 200, "{}", String::from_utf8_lossy(&svg.body));
    assert_eq!(svg.headers["content-type"], "image/svg+xml");
    let url = svg.headers["x-scan-url"].to_str().unwrap().to_string();
    assert!(url.ends_with(&format!("/q/{code}")), "{url}");
    assert_eq!(
        crate::qr_decode::decode_svg(&String::from_utf8_lossy(&svg.body)),
        url
    );

    let png = get("qr.png?ec=H&module=6");
    assert_eq!(png.status, 200);
    assert_eq!(png.headers["content-type"], "image/png");
    assert_eq!(crate::qr_decode::decode_png(&png.body), url);
    // Version 2 (25 modules) plus a 4-module quiet zone each side, 6 px a module.
    let size = image::load_from_memory(&png.body).unwrap();
    assert_eq!(size.width() % 6, 0);
    assert!(size.width() >= (21 + 8) * 6, "{}", size.width());

    for bad in ["qr.png?ec=X", "qr.png?module=0", "qr.svg?module=41"] {
        let refused = get(bad);
        assert_eq!(refused.status, 400, "{bad}");
        assert_eq!(refused.json()["error"]["code"], "invalid_query");
    }
    let other = app.create_shop(shop_body("Other"));
    assert_eq!(app.get(&format!("{path}/qr.svg"), &other.api_key).0, 404);
}

// ------------------------------------------------------------------ WeCom

pub fn wecom_contacts_added_through_a_channel_become_its_leads(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let patch = json!({"credentials": {"wecom": wecom_credentials()}});
    let (status, settings) = patch_shop(app, &shop, &patch);
    assert_eq!(status, 200, "{settings}");
    assert!(
        !settings.to_string().contains(WECOM_AES_KEY),
        "the AES key is echoed"
    );
    let staff = create_channel(
        app,
        &shop,
        json!({"name": "Staff Li", "kind": "staff", "tags": ["wecom"], "target_url": "https://work.weixin.qq.com/ca/cawcde"}),
    );
    let code = staff["code"].as_str().unwrap();

    // URL verification: the decrypted echostr comes back as plain text.
    let echo = wecom_encrypt("echo-4711", WECOM_CORP_ID);
    let query = wecom_query("1763780000", "n1", &echo);
    let echo_query: String = form_urlencoded::Serializer::new(query)
        .append_pair("echostr", &echo)
        .finish();
    let verified = app.send(request(
        Method::GET,
        &format!("/wecom/{}?{echo_query}", shop.id),
        None,
        vec![],
    ));
    assert_eq!(verified.status, 200);
    assert_eq!(verified.body, b"echo-4711");

    let event = wecom_add_contact_event("li.staff", "wmEXTERNAL0001", &format!("siyu_{code}"));
    let encrypted = wecom_encrypt(&event, WECOM_CORP_ID);
    let added = app.send(wecom_callback(&shop.id, &encrypted, &encrypted));
    assert_eq!(
        (added.status, added.body.as_slice()),
        (200, &b"success"[..])
    );
    let (status, customer) = app.get(
        "/api/customers?wecom_external_id=wmEXTERNAL0001",
        &shop.api_key,
    );
    assert_eq!(status, 200, "{customer}");
    assert_eq!(customer["first_capture"]["channel"], staff["id"]);
    assert_eq!(customer["attributes"]["wecom_staff"], "li.staff");
    assert_eq!(customer["tags"][0]["name"], "wecom");
    assert_eq!(
        customer["consent"]["marketing"],
        Value::Null,
        "adding a contact is not consent"
    );
    // WeCom redelivers: still one lead.
    assert_eq!(
        app.send(wecom_callback(&shop.id, &encrypted, &encrypted))
            .status,
        200
    );
    assert_eq!(today_stats(app, &shop, &staff)["leads"], 1);

    // Forged signature, tampered message, another corp's message: refused, nothing written.
    let forged = app.send(wecom_callback(&shop.id, &encrypted, "something-else"));
    assert_eq!((forged.status, forged.writes), (401, 0));
    let other_corp = wecom_encrypt(
        &wecom_add_contact_event("x", "wmEXTERNAL0002", code),
        "wwSOMEONEELSE",
    );
    let refused = app.send(wecom_callback(&shop.id, &other_corp, &other_corp));
    assert_eq!((refused.status, refused.writes), (401, 0));
    let garbage = app.send(wecom_callback(
        &shop.id,
        "bm90IGVuY3J5cHRlZA==",
        "bm90IGVuY3J5cHRlZA==",
    ));
    assert_eq!((garbage.status, garbage.writes), (400, 0));
    assert_eq!(
        app.get(
            "/api/customers?wecom_external_id=wmEXTERNAL0002",
            &shop.api_key
        )
        .0,
        404
    );
}

// ------------------------------------------------------------------ channel funnel

/// The channel's numbers for November 2026 (the sample orders' month).
/// WeCom's own sample vector, end to end: its console-issued key (trailing bits set) is
/// accepted in the shop's settings, the URL verification answers the decrypted `echostr`
/// (also when a proxy turned its `+` into spaces), and the encrypted text message is
/// acknowledged without becoming a lead.
pub fn wecoms_official_sample_is_verified_and_acknowledged(app: &dyn Client) {
    use crate::platforms::wecom_official as v;
    let shop = app.shop_with_all_platforms();
    let patch = json!({"credentials": {"wecom": {"corp_id": v::CORP_ID, "token": v::TOKEN,
        "encoding_aes_key": v::ENCODING_AES_KEY}}});
    let (status, settings) = patch_shop(app, &shop, &patch);
    assert_eq!(status, 200, "{settings}");
    for echostr in [v::ECHOSTR.to_string(), v::ECHOSTR.replace('+', " ")] {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("msg_signature", v::VERIFY_SIGNATURE)
            .append_pair("timestamp", v::VERIFY_TIMESTAMP)
            .append_pair("nonce", v::VERIFY_NONCE)
            .append_pair("echostr", &echostr)
            .finish();
        let verified = app.send(request(
            Method::GET,
            &format!("/wecom/{}?{query}", shop.id),
            None,
            vec![],
        ));
        assert_eq!(
            (verified.status, verified.body.as_slice()),
            (200, v::ECHO_PLAIN.as_bytes())
        );
    }
    let query = format!(
        "msg_signature={}&timestamp={}&nonce={}",
        v::MESSAGE_SIGNATURE,
        v::MESSAGE_TIMESTAMP,
        v::MESSAGE_NONCE
    );
    let mut message = request(
        Method::POST,
        &format!("/wecom/{}?{query}", shop.id),
        None,
        v::MESSAGE_BODY.as_bytes().to_vec(),
    );
    message
        .headers_mut()
        .insert("content-type", "text/xml".parse().unwrap());
    let acknowledged = app.send(message);
    assert_eq!(
        (acknowledged.status, acknowledged.body.as_slice()),
        (200, &b"success"[..])
    );
    assert_eq!(acknowledged.writes, 0, "a text message is not a lead");
    // The same message with a forged signature is refused.
    let forged = request(
        Method::POST,
        &format!(
            "/wecom/{}?msg_signature={}&timestamp={}&nonce={}",
            shop.id,
            "0".repeat(40),
            v::MESSAGE_TIMESTAMP,
            v::MESSAGE_NONCE
        ),
        None,
        v::MESSAGE_BODY.as_bytes().to_vec(),
    );
    assert_eq!(app.send(forged).status, 401);
}

pub fn november_stats(app: &dyn Client, shop: &TestShop, channel: &Value) -> Value {
    let (status, stats) = app.get(
        &format!(
            "/api/channels/{}/stats?from=2026-11-01&to=2026-11-30",
            channel["id"].as_str().unwrap()
        ),
        &shop.api_key,
    );
    assert_eq!(status, 200, "{stats}");
    stats
}

/// A channel with one lead: Mei, by phone.
pub fn channel_with_lead(app: &dyn Client, shop: &TestShop) -> Value {
    let card = create_channel(
        app,
        shop,
        json!({"name": "Card", "target_url": "https://tea.example.com/"}),
    );
    let lead = submit_lead(
        app,
        card["code"].as_str().unwrap(),
        json!({"phone": PHONE, "consent": true}),
        "10.1.1.1:1",
    );
    assert_eq!(lead.status, 201);
    card
}

pub fn a_channels_funnel_follows_its_leads_orders(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let card = channel_with_lead(app, &shop);
    // Someone who never came through the channel buys too: not the channel's revenue.
    let stranger = Buyer {
        platform_id: Some(777),
        email: Some("s@example.com"),
        phone: Some("+8613900000000"),
    };
    assert_eq!(
        send_shopify(
            app,
            &shop,
            "orders/create",
            &shopify_order(8001, &stranger, "paid", "500.00", &[TEA]),
            "s1"
        )
        .0,
        200
    );

    assert_eq!(
        send_shopify(
            app,
            &shop,
            "orders/create",
            &shopify_order(9001, &mei(), "paid", "59.90", &[TEA]),
            "a"
        )
        .0,
        200
    );
    let stats = november_stats(app, &shop, &card);
    // (The lead itself is counted today, which may fall outside November.)
    assert_eq!(
        (
            stats["first_orders"].as_i64(),
            stats["repurchases"].as_i64()
        ),
        (Some(1), Some(0)),
        "{stats}"
    );
    assert_eq!(stats["revenue"]["CNY"], 5990);
    let day = stats["days"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["date"] == "2026-11-20")
        .unwrap()
        .clone();
    assert_eq!(
        day["first_orders"], 1,
        "counted on the day the order was placed, shop time"
    );

    let second = shopify_order(9002, &mei(), "paid", "25.00", &[CUPS]);
    assert_eq!(
        send_shopify(app, &shop, "orders/create", &second, "b").0,
        200
    );
    assert_eq!(
        send_shopify(app, &shop, "orders/paid", &second, "b2").0,
        200
    );
    assert_eq!(
        send_shopify(
            app,
            &shop,
            "refunds/create",
            &shopify_refund(9002, 6001, "10.00"),
            "r"
        )
        .0,
        200
    );
    let stats = november_stats(app, &shop, &card);
    assert_eq!(stats["first_orders"], 1);
    assert_eq!(stats["repurchases"], 1);
    assert_eq!(
        stats["revenue"]["CNY"], 7490,
        "net of the refund, once despite the duplicate"
    );

    // The first order is cancelled: the channel's lead has one order left.
    let mut cancelled = shopify_order(9001, &mei(), "paid", "59.90", &[TEA]);
    cancelled["cancelled_at"] = json!("2026-11-21T10:00:00+08:00");
    cancelled["updated_at"] = json!("2026-11-21T10:00:00+08:00");
    assert_eq!(
        send_shopify(app, &shop, "orders/cancelled", &cancelled, "c").0,
        200
    );
    let stats = november_stats(app, &shop, &card);
    assert_eq!(
        (
            stats["first_orders"].as_i64(),
            stats["repurchases"].as_i64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(stats["revenue"]["CNY"], 1500);

    // All channels at once, totals only.
    let other = create_channel(
        app,
        &shop,
        json!({"name": "Poster", "kind": "poster", "target_url": "https://tea.example.com/"}),
    );
    let (status, all) = app.get(
        "/api/channels/stats?from=2026-11-01&to=2026-11-30",
        &shop.api_key,
    );
    assert_eq!(status, 200, "{all}");
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["stats"]["channel"], card["id"]);
    assert_eq!(items[0]["stats"]["revenue"]["CNY"], 1500);
    assert_eq!(items[1]["stats"]["channel"], other["id"]);
    assert_eq!(items[1]["stats"]["first_orders"], 0);
    assert_eq!(
        items[0]["stats"]["days"].as_array().unwrap().len(),
        30,
        "by day too"
    );
}

pub fn deleted_channels_disappear_and_their_codes_retire(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let card = create_channel(
        app,
        &shop,
        json!({"name": "Old", "target_url": "https://tea.example.com/"}),
    );
    let keep = create_channel(
        app,
        &shop,
        json!({"name": "Keep", "target_url": "https://tea.example.com/"}),
    );
    let path = format!("/api/channels/{}", card["id"].as_str().unwrap());
    let other = app.create_shop(shop_body("Other"));
    let refused = app.send(request(Method::DELETE, &path, Some(&other.api_key), vec![]));
    assert_eq!((refused.status, refused.writes), (404, 0));

    let (status, _) = app.call(request(Method::DELETE, &path, Some(&shop.api_key), vec![]));
    assert_eq!(status, 200);
    assert_eq!(app.get(&path, &shop.api_key).0, 404);
    assert_eq!(app.get(&format!("{path}/stats"), &shop.api_key).0, 404);
    let listed = app.get("/api/channels", &shop.api_key).1;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["id"], keep["id"]);
    assert_eq!(scan(app, card["code"].as_str().unwrap(), None).status, 410);
    assert_eq!(scan(app, keep["code"].as_str().unwrap(), None).status, 302);
}

pub fn scans_count_on_the_shops_day_after_a_time_zone_change(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let card = create_channel(
        app,
        &shop,
        json!({"name": "Card", "target_url": "https://tea.example.com/"}),
    );
    let patch = json!({"time_zone": "America/Los_Angeles"});
    let (status, _) = patch_shop(app, &shop, &patch);
    assert_eq!(status, 200);
    assert_eq!(scan(app, card["code"].as_str().unwrap(), None).status, 302);
    // The default window ends today in the shop's (new) zone; the scan is on that day.
    let stats = today_stats(app, &shop, &card);
    let days = stats["days"].as_array().unwrap();
    assert_eq!(days.last().unwrap()["scans"], 1, "{stats}");
}
