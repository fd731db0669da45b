//! Tagging scenarios: rules, RFM groups, manual tags, segments and export, written once
//! against `Client` and run in-process and through the wasm components.
//!
//! Every request carries the test clock (`Client::call_at`), so "days since" is exact and
//! the scheduled pass can be run on a later day without waiting.

use std::collections::{BTreeMap, BTreeSet};

use http::Method;
use jiff::{Timestamp, ToSpan};
use serde_json::{json, Value};

use crate::app::{request, TestShop};
use crate::client::Client;
use crate::platforms::*;

/// The instant the scenarios play "now" at.
pub fn now() -> Timestamp {
    "2026-11-22T04:00:00Z".parse().unwrap()
}

pub fn days_ago(days: i64) -> Timestamp {
    now() - (days * 24).hours()
}

/// Sends a JSON request with the shop's key as if it arrived at `at`.
pub fn send_at(
    app: &dyn Client,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
    at: Timestamp,
) -> (u16, Value) {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    app.call_at(request(method, path, Some(key), bytes), at)
}

pub fn post(app: &dyn Client, shop: &TestShop, path: &str, body: Value) -> (u16, Value) {
    send_at(app, Method::POST, path, &shop.api_key, Some(body), now())
}

pub fn get(app: &dyn Client, shop: &TestShop, path: &str) -> (u16, Value) {
    send_at(app, Method::GET, path, &shop.api_key, None, now())
}

pub fn create_rule(app: &dyn Client, shop: &TestShop, body: Value) -> Value {
    let (status, rule) = post(app, shop, "/api/rules", body);
    assert_eq!(status, 201, "{rule}");
    rule
}

/// Customer `n` of a scenario: Shopify customer id `n`, email `c{n}@example.com`.
pub fn buyer_order(n: u64, order_id: u64, total: &str, placed: Timestamp, lines: &[Line]) -> Value {
    let buyer = Buyer {
        platform_id: Some(n),
        email: None,
        phone: None,
    };
    let mut order = shopify_order(order_id, &buyer, "paid", total, lines);
    let email = format!("c{n}@example.com");
    order["email"] = json!(email);
    order["customer"]["email"] = json!(email);
    for field in ["created_at", "processed_at", "updated_at"] {
        order[field] = json!(placed.to_string());
    }
    order
}

/// Sends customer `n`'s paid order placed at `placed` (arriving now); returns the customer id.
pub fn order(
    app: &dyn Client,
    shop: &TestShop,
    n: u64,
    order_id: u64,
    total: &str,
    placed: Timestamp,
    lines: &[Line],
) -> String {
    let body = buyer_order(n, order_id, total, placed, lines);
    let (status, ack) = app.call_at(
        shopify_request(
            &shop.id,
            "orders/create",
            &body,
            SHOPIFY_SECRET,
            &format!("o-{order_id}"),
        ),
        now(),
    );
    assert_eq!(status, 200, "{ack}");
    ack["result"]["customer_id"].as_str().unwrap().to_string()
}

/// A customer known only from a Shopify customers/create (no orders).
pub fn profile(app: &dyn Client, shop: &TestShop, n: u64, first: &str, last: &str) -> String {
    let body = json!({
        "id": n,
        "email": format!("c{n}@example.com"),
        "phone": format!("+86139{n:08}"),
        "first_name": first,
        "last_name": last,
        "updated_at": now().to_string(),
        "email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in"},
    });
    let (status, ack) = app.call_at(
        shopify_request(
            &shop.id,
            "customers/create",
            &body,
            SHOPIFY_SECRET,
            &format!("p-{n}"),
        ),
        now(),
    );
    assert_eq!(status, 200, "{ack}");
    ack["result"]["customer_id"].as_str().unwrap().to_string()
}

pub fn customer(app: &dyn Client, shop: &TestShop, id: &str) -> Value {
    let (status, c) = get(app, shop, &format!("/api/customers/{id}"));
    assert_eq!(status, 200, "{c}");
    c
}

pub fn tags_of(app: &dyn Client, shop: &TestShop, id: &str) -> BTreeSet<String> {
    customer(app, shop, id)["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Runs the scheduled pass at `at` until it reports idle; returns how many calls it took.
pub fn run_pass(app: &dyn Client, shop: &TestShop, at: Timestamp, limit: u32) -> usize {
    for call in 1..=10_000 {
        let (status, report) = send_at(
            app,
            Method::POST,
            &format!("/api/tagging/run?limit={limit}"),
            &shop.api_key,
            None,
            at,
        );
        assert_eq!(status, 200, "{report}");
        if report["idle"] == true {
            return call;
        }
    }
    panic!("the pass never finished");
}

/// Every member of a segment, walking all pages.
pub fn members(app: &dyn Client, shop: &TestShop, path: &str, limit: u32) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = 0;
    loop {
        let (status, page) = get(app, shop, &format!("{path}?cursor={cursor}&limit={limit}"));
        assert_eq!(status, 200, "{page}");
        out.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_i64() {
            Some(next) => cursor = next,
            None => return out,
        }
    }
}

/// Sends a request that must be refused with `status` without writing anything.
pub fn refused(
    app: &dyn Client,
    method: Method,
    path: &str,
    shop: &TestShop,
    body: &Value,
    status: u16,
) -> Value {
    let reply = app.send(request(
        method,
        path,
        Some(&shop.api_key),
        body.to_string().into_bytes(),
    ));
    let answer = reply.json();
    assert_eq!(
        (reply.status, reply.writes),
        (status, 0),
        "{body}: {answer}"
    );
    answer
}

fn encoded(tag: &str) -> String {
    percent_encoding::utf8_percent_encode(tag, percent_encoding::NON_ALPHANUMERIC).to_string()
}

// ------------------------------------------------------------------ rules

pub fn each_condition_type_tags_the_right_customers(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let card = {
        let (status, channel) = post(
            app,
            &shop,
            "/api/channels",
            json!({"name": "Card", "kind": "package_card", "target_url": "https://tea.example.com/"}),
        );
        assert_eq!(status, 201, "{channel}");
        channel
    };
    let card_id = card["id"].as_str().unwrap();
    // A rule reading another rule's tag, created first: evaluation order follows dependencies.
    create_rule(
        app,
        &shop,
        json!({"tag": "chain", "condition": {"tag": "count2"}}),
    );
    let rules = [
        ("count2", json!({"order_count": {"gte": 2}})),
        (
            "count_recent",
            json!({"order_count": {"gte": 1, "within_days": 30}}),
        ),
        ("spend400", json!({"net_spend": {"gte": 40000}})),
        (
            "spend_year",
            json!({"net_spend": {"gte": 510000, "within_days": 365}}),
        ),
        (
            "spend_100d",
            json!({"net_spend": {"gte": 510000, "within_days": 100}}),
        ),
        (
            "spend_usd",
            json!({"net_spend": {"gte": 1, "currency": "USD"}}),
        ),
        ("lapsed", json!({"days_since_last_order": {"gte": 30}})),
        (
            "old_friend",
            json!({"days_since_first_order": {"gte": 180}}),
        ),
        ("tea", json!({"bought": {"sku": "TEA-250G"}})),
        (
            "tea_recent",
            json!({"bought": {"product_id": "7001", "within_days": 30}}),
        ),
        ("cups_variant", json!({"bought": {"variant_id": "8002"}})),
        ("via_card", json!({"channel": card_id})),
        ("card_kind", json!({"channel_kind": "package_card"})),
        ("consented", json!({"consent": "granted"})),
        ("withdrawn", json!({"consent": "withdrawn"})),
        ("women", json!({"gender": "female"})),
        ("bday_now", json!({"birthday_month": "current"})),
        ("bday_nov", json!({"birthday_month": 11})),
        ("shanghai", json!({"city": "上海"})),
        (
            "dry",
            json!({"attribute": {"key": "skin_type", "eq": "DRY"}}),
        ),
        (
            "skin_any",
            json!({"attribute": {"key": "skin_type", "in": ["oily", "dry"]}}),
        ),
        (
            "has_skin",
            json!({"attribute": {"key": "skin_type", "exists": true}}),
        ),
        ("champ", json!({"rfm_group": "champions"})),
        ("prospect", json!({"rfm_group": "prospects"})),
        ("super", json!({"super_user": true})),
        (
            "not_lapsed",
            json!({"not": {"days_since_last_order": {"gte": 30}}}),
        ),
        (
            "either",
            json!({"any": [{"tag": "lapsed"}, {"tag": "prospect"}]}),
        ),
        ("both", json!({"all": [{"tag": "tea"}, {"tag": "women"}]})),
    ];
    for (tag, condition) in &rules {
        create_rule(app, &shop, json!({"tag": tag, "condition": condition}));
    }

    // A: a tea order 200 days ago and a 5,000 order 10 days ago, then attributes.
    let a = order(app, &shop, 1, 101, "300.00", days_ago(200), &[TEA]);
    order(app, &shop, 1, 102, "5000.00", days_ago(10), &[CUPS]);
    let (status, patched) = send_at(
        app,
        Method::PATCH,
        &format!("/api/customers/{a}"),
        &shop.api_key,
        Some(
            json!({"attributes": {"gender": "female", "birthday": "1990-11-05",
            "city": " 上海 ", "skin_type": "dry"}}),
        ),
        now(),
    );
    assert_eq!(status, 200, "{patched}");
    // B: a lead through the package card, no orders.
    let mut lead = request(
        Method::POST,
        &format!("/q/{}/lead", card["code"].as_str().unwrap()),
        None,
        json!({"phone": "+8613700000002", "consent": true})
            .to_string()
            .into_bytes(),
    );
    lead.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    let (status, lead) = app.call_at(lead, now());
    assert_eq!(status, 201, "{lead}");
    let b = lead["customer_id"].as_str().unwrap().to_string();
    // C: one small order 60 days ago, marketing declined.
    let mut c_order = buyer_order(3, 301, "20.00", days_ago(60), &[CUPS]);
    c_order["buyer_accepts_marketing"] = json!(false);
    let (status, ack) = app.call_at(
        shopify_request(&shop.id, "orders/create", &c_order, SHOPIFY_SECRET, "o-301"),
        now(),
    );
    assert_eq!(status, 200, "{ack}");
    let c = ack["result"]["customer_id"].as_str().unwrap().to_string();

    assert_eq!(
        tags_of(app, &shop, &a),
        set(&[
            "chain",
            "count2",
            "count_recent",
            "spend400",
            "spend_year",
            "old_friend",
            "tea",
            "cups_variant",
            "consented",
            "women",
            "bday_now",
            "bday_nov",
            "shanghai",
            "dry",
            "skin_any",
            "has_skin",
            "champ",
            "super",
            "not_lapsed",
            "both",
        ])
    );
    assert_eq!(
        tags_of(app, &shop, &b),
        set(&[
            "via_card",
            "card_kind",
            "consented",
            "prospect",
            "not_lapsed",
            "either"
        ])
    );
    assert_eq!(
        tags_of(app, &shop, &c),
        set(&["lapsed", "cups_variant", "withdrawn", "either"])
    );
    let a_view = customer(app, &shop, &a);
    assert_eq!(a_view["rfm"]["group"], "champions");
    assert_eq!(a_view["super_user"], true);
}

pub fn rules_are_validated_on_save_and_write_nothing_when_wrong(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let wrong = [
        (
            json!({"tag": "x", "condition": {"order_cnt": {"gte": 1}}}),
            "order_cnt",
        ),
        (
            json!({"tag": "x", "condition": {"order_count": {"gte": "two"}}}),
            "invalid type",
        ),
        (
            json!({"tag": "x", "condition": {"order_count": {}}}),
            "at least one",
        ),
        (
            json!({"tag": "x", "condition": {"order_count": {"gte": 1, "currency": "CNY"}}}),
            "currency",
        ),
        (
            json!({"tag": "x", "condition": {"net_spend": {"gte": 1, "within_days": 9999}}}),
            "within_days",
        ),
        (
            json!({"tag": "x", "condition": {"days_since_last_order": {"gte": 1, "within_days": 5}}}),
            "within_days",
        ),
        (
            json!({"tag": "x", "condition": {"all": []}}),
            "at least one",
        ),
        (
            json!({"tag": "x", "condition": {"birthday_month": 13}}),
            "birthday_month",
        ),
        (
            json!({"tag": "x", "condition": {"rfm_group": "vips"}}),
            "vips",
        ),
        (json!({"tag": "x", "condition": {"bought": {}}}), "bought"),
        (
            json!({"tag": "x", "condition": {"attribute": {"key": "Skin Type", "eq": "dry"}}}),
            "attribute key",
        ),
        (
            json!({"tag": "", "condition": {"order_count": {"gte": 1}}}),
            "tag",
        ),
        (json!({"tag": "x"}), "condition"),
        (
            json!({"tag": "x", "condition": {"order_count": {"gte": 1}}, "colour": "red"}),
            "colour",
        ),
        (
            json!({"tag": "self", "condition": {"tag": "self"}}),
            "cycle",
        ),
    ];
    for (body, mentions) in wrong {
        let reply = app.send(request(
            Method::POST,
            "/api/rules",
            Some(&shop.api_key),
            body.to_string().into_bytes(),
        ));
        let error = reply.json();
        assert_eq!(reply.status, 422, "{body} → {error}");
        assert_eq!(reply.writes, 0, "{body} wrote something");
        let message = error["error"]["message"].as_str().unwrap().to_lowercase();
        assert!(
            message.contains(mentions) || error["error"]["code"] == "rule_cycle",
            "{body}: {message} does not mention {mentions}"
        );
    }
    // A cycle across rules, made by an update: refused, the rule keeps its old condition.
    create_rule(app, &shop, json!({"tag": "a", "condition": {"tag": "b"}}));
    let b = create_rule(
        app,
        &shop,
        json!({"tag": "b", "condition": {"order_count": {"gte": 1}}}),
    );
    let (status, error) = send_at(
        app,
        Method::PATCH,
        &format!("/api/rules/{}", b["id"].as_str().unwrap()),
        &shop.api_key,
        Some(json!({"condition": {"not": {"tag": "a"}}})),
        now(),
    );
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("rule_cycle")),
        "{error}"
    );
    let (_, same) = get(
        app,
        &shop,
        &format!("/api/rules/{}", b["id"].as_str().unwrap()),
    );
    assert_eq!(same["condition"], json!({"order_count": {"gte": 1}}));
    let (_, list) = get(app, &shop, "/api/rules");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    // Another shop cannot see or change them.
    let other = app.create_shop(shop_body("Other"));
    let (status, _) = get(
        app,
        &other,
        &format!("/api/rules/{}", b["id"].as_str().unwrap()),
    );
    assert_eq!(status, 404);
    let (status, _) = send_at(
        app,
        Method::DELETE,
        &format!("/api/rules/{}", b["id"].as_str().unwrap()),
        &other.api_key,
        None,
        now(),
    );
    assert_eq!(status, 404);
}

pub fn remove_rules_win_and_a_refund_below_the_threshold_drops_the_tag(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let vip = create_rule(
        app,
        &shop,
        json!({"name": "Big spenders", "tag": "VIP", "condition": {"net_spend": {"gte": 100000}}}),
    );
    let blocked = create_rule(
        app,
        &shop,
        json!({"tag": "vip", "action": "remove", "condition": {"tag": "blocked"}}),
    );
    let big = order(app, &shop, 1, 9101, "1200.00", days_ago(1), &[TEA]);
    let small = order(app, &shop, 2, 9201, "50.00", days_ago(1), &[TEA]);
    assert!(tags_of(app, &shop, &big).contains("VIP"));
    assert!(!tags_of(app, &shop, &small).contains("VIP"));
    let (_, listed) = get(app, &shop, "/api/tags/VIP/customers");
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);

    // A refund takes the big spender under 1,000: the tag goes, the segment follows.
    let refund = shopify_refund(9101, 77, "300.00");
    let (status, _) = app.call_at(
        shopify_request(&shop.id, "refunds/create", &refund, SHOPIFY_SECRET, "r-77"),
        now(),
    );
    assert_eq!(status, 200);
    let after = customer(app, &shop, &big);
    assert_eq!(after["orders"]["spend"]["CNY"], 90000);
    assert!(after["tags"].as_array().unwrap().is_empty(), "{after}");
    let last = after["tag_history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["action"], "removed");
    assert_eq!(last["tag"], "VIP");
    assert_eq!(last["source"], json!({"kind": "rule", "rule": vip["id"]}));
    let (_, listed) = get(app, &shop, "/api/tags/vip/customers");
    assert!(listed["items"].as_array().unwrap().is_empty(), "{listed}");
    // The same refund delivered again changes nothing.
    let reply = app.send(shopify_request(
        &shop.id,
        "refunds/create",
        &refund,
        SHOPIFY_SECRET,
        "r-77",
    ));
    assert_eq!((reply.status, reply.writes), (200, 0));

    // A remove rule takes a tag off whoever put it there, a person included.
    let (status, _) = post(
        app,
        &shop,
        &format!("/api/customers/{small}/tags"),
        json!({"add": ["vip"]}),
    );
    assert_eq!(status, 200);
    assert!(tags_of(app, &shop, &small).contains("vip"));
    let (status, view) = post(
        app,
        &shop,
        &format!("/api/customers/{small}/tags"),
        json!({"add": ["blocked"]}),
    );
    assert_eq!(status, 200, "{view}");
    assert_eq!(tags_of(app, &shop, &small), set(&["blocked"]));
    let removed = view["tag_history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "removed")
        .unwrap()
        .clone();
    assert_eq!(
        removed["source"],
        json!({"kind": "rule", "rule": blocked["id"]})
    );
}

pub fn time_based_rules_flip_after_the_scheduled_pass(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    create_rule(
        app,
        &shop,
        json!({"tag": "lapsed", "condition": {"days_since_last_order": {"gte": 90}}}),
    );
    create_rule(
        app,
        &shop,
        json!({"tag": "year spender", "condition": {"net_spend": {"gte": 50000, "within_days": 365}}}),
    );
    let quiet = order(app, &shop, 1, 7101, "600.00", days_ago(85), &[TEA]);
    // 24 more customers so the pass takes several batches.
    for n in 2..=25 {
        order(app, &shop, n, 7100 + n, "10.00", days_ago(1), &[TEA]);
    }
    assert_eq!(tags_of(app, &shop, &quiet), set(&["year spender"]));
    let before = customer(app, &shop, &quiet)["rfm"]["group"].clone();
    assert_eq!(before, "promising");

    // Nothing happens to this customer; six days later the scheduled pass runs.
    let later = now() + (6 * 24).hours();
    let calls = run_pass(app, &shop, later, 10);
    assert_eq!(calls, 4, "25 customers in batches of 10, then idle");
    assert_eq!(
        tags_of(app, &shop, &quiet),
        set(&["lapsed", "year spender"])
    );
    // Run again the same day: nothing to do.
    let (_, report) = send_at(
        app,
        Method::POST,
        "/api/tagging/run",
        &shop.api_key,
        None,
        later,
    );
    assert_eq!(report["idle"], true, "{report}");

    // 300 days later the year's spend has aged out and the customer is at risk of loss.
    let much_later = now() + (300 * 24).hours();
    // Two schedulers calling at once: both finish, nobody is listed twice.
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (app, shop) = (app, &shop);
            s.spawn(move || run_pass(app, shop, much_later, 7));
        }
    });
    assert_eq!(tags_of(app, &shop, &quiet), set(&["lapsed"]));
    let lapsed = members(app, &shop, "/api/tags/lapsed/customers", 50);
    assert_eq!(lapsed.len(), 25);
    assert_eq!(lapsed.iter().collect::<BTreeSet<_>>().len(), 25);
    let (_, tags) = get(app, &shop, "/api/tags");
    let counts: BTreeMap<String, i64> = tags["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["customers"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts["lapsed"], 25);
    assert_eq!(counts["year spender"], 0);
    assert_eq!(customer(app, &shop, &quiet)["rfm"]["group"], "dormant");
}

pub fn a_changed_rule_reaches_existing_customers_through_the_pass(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let small = order(app, &shop, 1, 6101, "100.00", days_ago(3), &[TEA]);
    let big = order(app, &shop, 2, 6201, "900.00", days_ago(3), &[TEA]);
    let rule = create_rule(
        app,
        &shop,
        json!({"tag": "gold", "condition": {"net_spend": {"gte": 50000}}}),
    );
    let id = rule["id"].as_str().unwrap();
    // Creating a rule evaluates no one; the pass brings everyone up to date.
    assert!(tags_of(app, &shop, &big).is_empty());
    run_pass(app, &shop, now(), 100);
    assert_eq!(tags_of(app, &shop, &big), set(&["gold"]));
    assert!(tags_of(app, &shop, &small).is_empty());

    // Lower the threshold: the next pass starts over, the same day.
    let (status, _) = send_at(
        app,
        Method::PATCH,
        &format!("/api/rules/{id}"),
        &shop.api_key,
        Some(json!({"condition": {"net_spend": {"gte": 10000}}})),
        now(),
    );
    assert_eq!(status, 200);
    run_pass(app, &shop, now(), 100);
    assert_eq!(tags_of(app, &shop, &small), set(&["gold"]));
    // Rename the tag: the old one goes, the new one comes.
    send_at(
        app,
        Method::PATCH,
        &format!("/api/rules/{id}"),
        &shop.api_key,
        Some(json!({"tag": "Gold member"})),
        now(),
    );
    run_pass(app, &shop, now(), 100);
    assert_eq!(tags_of(app, &shop, &big), set(&["Gold member"]));
    // Pause it, then delete it: gone from everyone.
    send_at(
        app,
        Method::PATCH,
        &format!("/api/rules/{id}"),
        &shop.api_key,
        Some(json!({"active": false})),
        now(),
    );
    run_pass(app, &shop, now(), 100);
    assert!(tags_of(app, &shop, &big).is_empty());
    let (status, _) = send_at(
        app,
        Method::DELETE,
        &format!("/api/rules/{id}"),
        &shop.api_key,
        None,
        now(),
    );
    assert_eq!(status, 200);
    let (status, _) = get(app, &shop, &format!("/api/rules/{id}"));
    assert_eq!(status, 404);
}

// ------------------------------------------------------------------ RFM

/// An order placed so many days ago, for so much.
type OrderPlan = (i64, &'static str);

pub fn rfm_groups_follow_recency_frequency_and_spend(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    // (customer, [(days ago, total)]) built to land in one group each with the defaults.
    let plans: [(u64, &str, &[OrderPlan]); 6] = [
        (
            1,
            "champions",
            &[(40, "2000.00"), (20, "2000.00"), (3, "2000.00")],
        ),
        (
            2,
            "loyal",
            &[(120, "1000.00"), (90, "1000.00"), (60, "1000.00")],
        ),
        (3, "new", &[(2, "50.00")]),
        (
            4,
            "at_risk",
            &[(400, "300.00"), (350, "300.00"), (300, "400.00")],
        ),
        (5, "dormant", &[(500, "50.00")]),
        (
            6,
            "previously_loyal",
            &[
                (600, "600.00"),
                (550, "600.00"),
                (500, "600.00"),
                (450, "600.00"),
                (400, "600.00"),
            ],
        ),
    ];
    let mut ids = BTreeMap::new();
    for (n, group, orders) in plans {
        for (i, (days, total)) in orders.iter().enumerate() {
            let id = order(
                app,
                &shop,
                n,
                n * 100 + i as u64,
                total,
                days_ago(*days),
                &[TEA],
            );
            ids.insert(group, id);
        }
    }
    let prospect = profile(app, &shop, 7, "Hua", "Wang");
    for (group, id) in &ids {
        assert_eq!(customer(app, &shop, id)["rfm"]["group"], *group, "{group}");
    }
    assert_eq!(customer(app, &shop, &prospect)["rfm"]["group"], "prospects");
    let (_, rfm) = get(app, &shop, "/api/rfm");
    for entry in rfm["groups"].as_array().unwrap() {
        let expected = if ["active", "promising", "needs_attention", "almost_lost"]
            .contains(&entry["group"].as_str().unwrap())
        {
            0
        } else {
            1
        };
        assert_eq!(entry["customers"], expected, "{entry}");
    }
    assert_eq!(
        rfm["super_users"], 1,
        "only the champion spent 5,000 within a year: {rfm}"
    );
    assert_eq!(
        members(app, &shop, "/api/rfm/champions/customers", 10),
        [ids["champions"].clone()]
    );

    // Frequency counts for more: three orders score 1 now; the pass moves the champion.
    let mut settings = rfm["settings"].clone();
    settings["frequency_orders"] = json!([4, 6, 8, 10]);
    let (status, saved) = send_at(
        app,
        Method::PUT,
        "/api/rfm",
        &shop.api_key,
        Some(settings),
        now(),
    );
    assert_eq!(status, 200, "{saved}");
    run_pass(app, &shop, now(), 100);
    assert_eq!(
        customer(app, &shop, &ids["champions"])["rfm"]["group"],
        "active"
    );
    // Bad thresholds are refused.
    let mut wrong = saved["settings"].clone();
    wrong["recency_days"] = json!([30, 20, 10, 5]);
    let reply = app.send(request(
        Method::PUT,
        "/api/rfm",
        Some(&shop.api_key),
        wrong.to_string().into_bytes(),
    ));
    assert_eq!((reply.status, reply.writes), (422, 0));
    let (status, _) = get(app, &shop, "/api/rfm/vips/customers");
    assert_eq!(status, 404);
}

// ------------------------------------------------------------------ manual tags

pub fn manual_tags_merge_ignore_case_and_keep_their_limits(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let id = profile(app, &shop, 1, "Mei", "Lin");
    let path = format!("/api/customers/{id}/tags");
    let (status, view) = post(
        app,
        &shop,
        &path,
        json!({"add": ["VIP", " vip ", "Tea Lover"], "by": "mei@shop"}),
    );
    assert_eq!(status, 200, "{view}");
    assert_eq!(tags_of(app, &shop, &id), set(&["VIP", "Tea Lover"]));
    let vip = &view["tags"][0];
    assert_eq!(vip["sources"][0]["kind"], "manual");
    assert_eq!(vip["sources"][0]["key"], "owner");
    assert_eq!(vip["sources"][0]["by"], "mei@shop");
    // The same tag in another case changes nothing.
    let reply = app.send(request(
        Method::POST,
        &path,
        Some(&shop.api_key),
        json!({"add": ["vip"]}).to_string().into_bytes(),
    ));
    assert_eq!((reply.status, reply.writes), (200, 0));

    // A second key, made for an integration, is named in what it adds.
    let (status, key) = post(app, &shop, "/api/shop/keys", json!({"name": "wecom sync"}));
    assert_eq!(status, 201, "{key}");
    let (status, view) = send_at(
        app,
        Method::POST,
        &path,
        key["api_key"].as_str().unwrap(),
        Some(json!({"add": ["wholesale"]})),
        now(),
    );
    assert_eq!(status, 200, "{view}");
    let wholesale = view["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "wholesale")
        .unwrap()
        .clone();
    assert_eq!(wholesale["sources"][0]["key"], key["id"]);
    // Only the owner manages keys.
    let (status, _) = send_at(
        app,
        Method::GET,
        "/api/shop/keys",
        key["api_key"].as_str().unwrap(),
        None,
        now(),
    );
    assert_eq!(status, 403);

    // Remove ignoring case; history remembers.
    let (status, view) = post(app, &shop, &path, json!({"remove": ["TEA LOVER"]}));
    assert_eq!(status, 200);
    assert_eq!(tags_of(app, &shop, &id), set(&["VIP", "wholesale"]));
    let history: Vec<(String, String)> = view["tag_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().into(),
                e["tag"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            ("added".into(), "VIP".into()),
            ("added".into(), "Tea Lover".into()),
            ("added".into(), "wholesale".into()),
            ("removed".into(), "Tea Lover".into()),
        ]
    );

    // A tag a rule holds stays when removed by hand: the rule is the authority.
    create_rule(
        app,
        &shop,
        json!({"tag": "subscriber", "condition": {"consent": "granted"}}),
    );
    run_pass(app, &shop, now(), 100);
    let (_, view) = post(
        app,
        &shop,
        &path,
        json!({"remove": ["subscriber", "wholesale"]}),
    );
    let names: BTreeSet<String> = view["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, set(&["VIP", "subscriber"]));

    // Limits: names of 1–255 characters, 250 tags per customer, nothing written when refused.
    let long = "长".repeat(256);
    for body in [
        json!({"add": [long]}),
        json!({"add": ["  "]}),
        json!({}),
        json!({"add": ["a"], "remove": ["A"]}),
        json!({"add": "VIP"}),
    ] {
        refused(app, Method::POST, &path, &shop, &body, 422);
    }
    let many: Vec<String> = (0..248).map(|i| format!("t{i}")).collect();
    let (status, view) = post(app, &shop, &path, json!({"add": many}));
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["tags"].as_array().unwrap().len(), 250);
    let reply = app.send(request(
        Method::POST,
        &path,
        Some(&shop.api_key),
        json!({"add": ["one too many"]}).to_string().into_bytes(),
    ));
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json()["error"]["code"], "too_many_tags");
    assert_eq!(reply.writes, 0);
    let view = customer(app, &shop, &id);
    assert!(
        view["tag_history"].as_array().unwrap().len() <= 50,
        "history is bounded"
    );

    // Leave and come back: listed once. Unknown and erased customers are refused.
    post(app, &shop, &path, json!({"remove": ["VIP"]}));
    post(app, &shop, &path, json!({"add": ["vip"]}));
    post(app, &shop, &path, json!({"remove": ["VIP"]}));
    post(app, &shop, &path, json!({"add": ["Vip"]}));
    assert_eq!(
        members(app, &shop, "/api/tags/VIP/customers", 1),
        std::slice::from_ref(&id)
    );
    let (status, _) = post(
        app,
        &shop,
        "/api/customers/cus_aaaaaaaaaaaaaaaa/tags",
        json!({"add": ["x"]}),
    );
    assert_eq!(status, 404);
    let (status, _) = send_at(
        app,
        Method::DELETE,
        &format!("/api/customers/{id}"),
        &shop.api_key,
        None,
        now(),
    );
    assert_eq!(status, 200);
    let (status, error) = post(app, &shop, &path, json!({"add": ["x"]}));
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("customer_erased"))
    );
    assert!(
        members(app, &shop, "/api/tags/VIP/customers", 10).is_empty(),
        "erased customers leave every segment"
    );
    // Another shop's key cannot touch this customer.
    let other = app.create_shop(shop_body("Other"));
    let (status, _) = post(app, &other, &path, json!({"add": ["x"]}));
    assert_eq!(status, 404);
}

pub fn attributes_are_validated(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let id = profile(app, &shop, 1, "Mei", "Lin");
    let path = format!("/api/customers/{id}");
    for body in [
        json!({"attributes": {"gender": "f"}}),
        json!({"attributes": {"birthday": "1990-02-30"}}),
        json!({"attributes": {"Skin Type": "dry"}}),
        json!({"attributes": {"city": ""}}),
        json!({"attributes": {"age": 30}}),
        json!({"colour": "red"}),
    ] {
        refused(app, Method::PATCH, &path, &shop, &body, 422);
    }
    let (status, view) = send_at(
        app,
        Method::PATCH,
        &path,
        &shop.api_key,
        Some(json!({"attributes": {"city": "杭州", "birthday": "02-29"}})),
        now(),
    );
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        view["attributes"],
        json!({"birthday": "02-29", "city": "杭州"})
    );
    let (_, view) = send_at(
        app,
        Method::PATCH,
        &path,
        &shop.api_key,
        Some(json!({"attributes": {"city": null}})),
        now(),
    );
    assert_eq!(view["attributes"], json!({"birthday": "02-29"}));
}

pub fn concurrent_tag_changes_on_one_customer_are_all_kept(app: &dyn Client, changes: usize) {
    let shop = app.shop_with_all_platforms();
    let id = profile(app, &shop, 1, "Mei", "Lin");
    std::thread::scope(|s| {
        for i in 0..changes {
            let (app, shop, id) = (app, &shop, &id);
            s.spawn(move || {
                let (status, body) = post(
                    app,
                    shop,
                    &format!("/api/customers/{id}/tags"),
                    json!({"add": [format!("tag {i}")]}),
                );
                assert_eq!(status, 200, "{body}");
            });
        }
    });
    let tags = tags_of(app, &shop, &id);
    assert_eq!(tags.len(), changes, "a concurrent change was lost");
    // Racing first holders of a tag may each append it to the directory; a walk of the
    // directory still lists every tag exactly once.
    let mut listed = Vec::new();
    let mut cursor = 0;
    loop {
        let (_, page) = get(app, &shop, &format!("/api/tags?limit=200&cursor={cursor}"));
        listed.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_i64() {
            Some(next) => cursor = next,
            None => break,
        }
    }
    let names: BTreeSet<&str> = listed.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!((listed.len(), names.len()), (changes, changes));
    assert!(listed.iter().all(|t| t["customers"] == 1));
}

pub fn paging_through_ten_thousand_members_returns_each_once(app: &dyn Client, customers: u64) {
    let shop = app.shop_with_all_platforms();
    create_rule(
        app,
        &shop,
        json!({"tag": "everyone", "condition": {"order_count": {"gte": 0}}}),
    );
    let threads = 8;
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (app, shop) = (app, &shop);
                s.spawn(move || {
                    (0..customers)
                        .filter(|n| n % threads == t)
                        .map(|n| profile(app, shop, 10_000 + n, "客", "户"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let expected: BTreeSet<String> = ids.into_iter().collect();
    assert_eq!(expected.len() as u64, customers);
    let listed = members(app, &shop, "/api/tags/everyone/customers", 200);
    assert_eq!(
        listed.len() as u64,
        customers,
        "someone listed twice or missing"
    );
    assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), expected);
    let prospects = members(app, &shop, "/api/rfm/prospects/customers", 200);
    assert_eq!(prospects.len() as u64, customers);
}

// ------------------------------------------------------------------ export

pub fn csv_export_opens_in_a_spreadsheet(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    create_rule(
        app,
        &shop,
        json!({"tag": "茶友", "condition": {"order_count": {"gte": 0}}}),
    );
    let names = [
        ("美", "林"),
        ("Anne, \"the\" tea", "O'Neil\nJr"),
        ("=HYPERLINK(1)", "x"),
    ];
    let mut ids = Vec::new();
    for (i, (first, last)) in names.iter().enumerate() {
        ids.push(profile(app, &shop, 1 + i as u64, first, last));
    }
    let path = format!("/api/tags/{}/export", encoded("茶友"));
    let export = |key: &str, query: &str| {
        let reply = app.send(request(
            Method::GET,
            &format!("{path}{query}"),
            Some(key),
            vec![],
        ));
        (reply.status, reply.headers.clone(), reply.body)
    };
    let (status, headers, body) = export(&shop.api_key, "");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        body.starts_with("\u{feff}".as_bytes()),
        "a BOM tells spreadsheets it is UTF-8"
    );
    let text = std::str::from_utf8(&body).expect("UTF-8");
    assert!(text.contains("\r\n"), "RFC 4180 lines end in CRLF");
    let rows = read_csv(&body[3..]);
    assert_eq!(rows.len(), 3);
    let by_id: BTreeMap<&str, &BTreeMap<String, String>> = rows
        .iter()
        .map(|r| (r["customer_id"].as_str(), r))
        .collect();
    assert_eq!(by_id[ids[0].as_str()]["first_name"], "美");
    assert_eq!(by_id[ids[0].as_str()]["last_name"], "林");
    assert_eq!(by_id[ids[1].as_str()]["first_name"], "Anne, \"the\" tea");
    assert_eq!(by_id[ids[1].as_str()]["last_name"], "O'Neil\nJr");
    assert_eq!(
        by_id[ids[2].as_str()]["first_name"],
        "'=HYPERLINK(1)",
        "formulas are defused"
    );
    assert_eq!(by_id[ids[0].as_str()]["phone"], "139****0001");
    assert_eq!(by_id[ids[0].as_str()]["tags"], "茶友");
    assert_eq!(by_id[ids[0].as_str()]["marketing_consent"], "granted");

    // Full contacts: the owner key may; a key without the scope may not; one with it may.
    let (_, _, full) = export(&shop.api_key, "?contacts=full");
    let rows = read_csv(&full[3..]);
    assert!(rows
        .iter()
        .any(|r| r["phone"] == "+8613900000001" && r["email"] == "c1@example.com"));
    let (_, plain) = post(app, &shop, "/api/shop/keys", json!({"name": "sms tool"}));
    let (status, _, _) = export(plain["api_key"].as_str().unwrap(), "?contacts=full");
    assert_eq!(status, 403);
    let (_, scoped) = post(
        app,
        &shop,
        "/api/shop/keys",
        json!({"name": "crm", "scopes": ["export_contacts"]}),
    );
    let (status, _, _) = export(scoped["api_key"].as_str().unwrap(), "?contacts=full");
    assert_eq!(status, 200);
    // Revoked keys stop working at once.
    let (status, _) = send_at(
        app,
        Method::DELETE,
        &format!("/api/shop/keys/{}", scoped["id"].as_str().unwrap()),
        &shop.api_key,
        None,
        now(),
    );
    assert_eq!(status, 200);
    let (status, _, _) = export(scoped["api_key"].as_str().unwrap(), "");
    assert_eq!(status, 401);

    // Paged: each page is a whole CSV, the next cursor in a header.
    let (_, headers, first) = export(&shop.api_key, "?limit=2");
    assert_eq!(read_csv(&first[3..]).len(), 2);
    let next = headers["x-next-cursor"].to_str().unwrap().to_string();
    let (_, headers, second) = export(&shop.api_key, &format!("?limit=2&cursor={next}"));
    assert_eq!(read_csv(&second[3..]).len(), 1);
    assert!(!headers.contains_key("x-next-cursor"));
    // RFM groups export the same way; unknown tags are 404.
    let reply = app.send(request(
        Method::GET,
        "/api/rfm/prospects/export",
        Some(&shop.api_key),
        vec![],
    ));
    assert_eq!(read_csv(&reply.body[3..]).len(), 3);
    let (status, _) = get(
        app,
        &shop,
        &format!("/api/tags/{}/customers", encoded("无此标签")),
    );
    assert_eq!(status, 404);
}

fn read_csv(bytes: &[u8]) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_reader(bytes);
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    reader
        .records()
        .map(|r| {
            let r = r.expect("a valid CSV record");
            header
                .iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect()
}

pub fn shopify_customer_tags_are_imported_with_their_source(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let deliver = |tags: &str, updated: Timestamp, id: &str| {
        let body = json!({"id": 42, "email": "c42@example.com", "first_name": "Mei",
            "updated_at": updated.to_string(), "tags": tags});
        let (status, ack) = app.call_at(
            shopify_request(&shop.id, "customers/update", &body, SHOPIFY_SECRET, id),
            now(),
        );
        assert_eq!(status, 200, "{ack}");
        ack["result"]["customer_id"].as_str().unwrap().to_string()
    };
    let id = deliver("VIP, wholesale, ", days_ago(2), "c-1");
    let view = customer(app, &shop, &id);
    assert_eq!(
        view["tags"][0]["sources"][0],
        json!({"kind": "platform", "platform": "shopify", "added_at": days_ago(2).to_string()})
    );
    assert_eq!(tags_of(app, &shop, &id), set(&["VIP", "wholesale"]));
    // The merchant also tags them by hand in Siyu; then Shopify drops both.
    post(
        app,
        &shop,
        &format!("/api/customers/{id}/tags"),
        json!({"add": ["wholesale"]}),
    );
    deliver("VIP", days_ago(1), "c-2");
    assert_eq!(tags_of(app, &shop, &id), set(&["VIP", "wholesale"]));
    deliver("", now(), "c-3");
    assert_eq!(tags_of(app, &shop, &id), set(&["wholesale"]));
    // A late copy of an older update does not bring Shopify's old tags back.
    deliver("VIP, wholesale", days_ago(2), "c-1-late");
    assert_eq!(tags_of(app, &shop, &id), set(&["wholesale"]));
}
