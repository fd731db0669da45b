//! Coupon scenarios: campaigns, issuing under races, pools, validation reasons, redemption
//! from every platform's orders and rollback, written once against `Client`.

use std::collections::BTreeSet;

use http::Method;
use jiff::{Timestamp, ToSpan};
use serde_json::{json, Value};

use crate::app::{request, TestShop};
use crate::client::{Client, Reply};
use crate::platforms::*;
use crate::scenarios::tagging::{buyer_order, days_ago, get, now, post, profile, refused, send_at};

pub fn create_campaign(app: &dyn Client, shop: &TestShop, body: Value) -> Value {
    let (status, campaign) = post(app, shop, "/api/campaigns", body);
    assert_eq!(status, 201, "{campaign}");
    campaign
}

fn issue_request(
    shop: &TestShop,
    campaign: &str,
    customer: &str,
    key: Option<&str>,
    at: Timestamp,
) -> http::Request<Vec<u8>> {
    let mut req = request(
        Method::POST,
        &format!("/api/campaigns/{campaign}/issue"),
        Some(&shop.api_key),
        json!({"customer_id": customer}).to_string().into_bytes(),
    );
    if let Some(key) = key {
        req.headers_mut()
            .insert("idempotency-key", key.parse().unwrap());
    }
    req.headers_mut().insert(
        crate::host::TEST_CLOCK_HEADER,
        at.to_string().parse().unwrap(),
    );
    req
}

pub fn issue(
    app: &dyn Client,
    shop: &TestShop,
    campaign: &str,
    customer: &str,
    key: Option<&str>,
) -> Reply {
    issue_at(app, shop, campaign, customer, key, now())
}

/// Issues as if the request arrived at `at` (a client's retry some seconds later).
pub fn issue_at(
    app: &dyn Client,
    shop: &TestShop,
    campaign: &str,
    customer: &str,
    key: Option<&str>,
    at: Timestamp,
) -> Reply {
    app.send(issue_request(shop, campaign, customer, key, at))
}

fn validate(app: &dyn Client, shop: &TestShop, code: &str, query: &str, at: Timestamp) -> Value {
    let (status, verdict) = send_at(
        app,
        Method::GET,
        &format!("/api/coupons/{code}?{query}"),
        &shop.api_key,
        None,
        at,
    );
    assert_eq!(status, 200, "{verdict}");
    verdict
}

fn reason(verdict: &Value) -> &str {
    verdict["reason"].as_str().unwrap_or("valid")
}

fn stats(app: &dyn Client, shop: &TestShop, campaign: &str) -> Value {
    let (status, stats) = get(app, shop, &format!("/api/campaigns/{campaign}/stats"));
    assert_eq!(status, 200, "{stats}");
    stats
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

// ------------------------------------------------------------------ campaigns

pub fn campaigns_are_validated_and_each_discount_type_priced(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let wrong = [
        json!({"name": "x"}),
        json!({"name": "x", "discount": {"type": "fixed_amount", "amount_minor": 0}}),
        json!({"name": "x", "discount": {"type": "percent", "basis_points": 10001}}),
        json!({"name": "x", "discount": {"type": "percent", "basis_points": "10%"}}),
        json!({"name": "x", "discount": {"type": "bogus"}}),
        json!({"name": "x", "discount": {"type": "free_shipping"}, "starts_at": "2026-12-01T00:00:00Z", "ends_at": "2026-11-01T00:00:00Z"}),
        json!({"name": "x", "discount": {"type": "free_shipping"}, "per_customer_limit": 0}),
        json!({"name": "x", "discount": {"type": "free_shipping"}, "codes": {"type": "generated", "prefix": "NO SPACE"}}),
        json!({"name": "x", "discount": {"type": "free_shipping"}, "codes": {"type": "generated", "length": 3}}),
        json!({"name": "x", "discount": {"type": "free_shipping"}, "quota": -1}),
        json!({"name": "x", "discount": {"type": "free_shipping"}, "colour": "red"}),
        // Found by schemathesis: unknown fields in a field-less variant, and arrays where
        // objects belong, were let through.
        json!({"name": "x", "discount": {"type": "free_shipping", "colour": "red"}}),
        json!({"name": "x", "discount": {"type": "free_shipping"}, "codes": {"type": "pool", "size": 5}}),
        json!({"name": "x", "discount": ["fixed_amount", 100]}),
        json!(["x", {"type": "free_shipping"}]),
    ];
    for body in wrong {
        refused(app, Method::POST, "/api/campaigns", &shop, &body, 422);
    }
    let customer = profile(app, &shop, 1, "Mei", "Lin");
    let priced = [
        (
            json!({"type": "fixed_amount", "amount_minor": 2000}),
            2000,
            1500,
        ),
        (json!({"type": "percent", "basis_points": 1500}), 3000, 225),
        (
            json!({"type": "percent", "basis_points": 5000, "cap_minor": 2500}),
            2500,
            750,
        ),
        (json!({"type": "free_shipping"}), 0, 0),
    ];
    for (discount, off_20000, off_1500) in priced {
        let campaign = create_campaign(
            app,
            &shop,
            json!({"name": "Welcome", "discount": discount,
            "codes": {"type": "generated", "prefix": "tea-", "length": 8}}),
        );
        let coupon = issue(app, &shop, id(&campaign), &customer, None).json();
        let code = coupon["code"].as_str().unwrap();
        assert!(code.starts_with("TEA-") && code.len() == 12, "{code}");
        assert!(
            code[4..].bytes().all(|b| !b"01OIL".contains(&b)),
            "look-alikes in {code}"
        );
        let verdict = validate(app, &shop, &code.to_lowercase(), "order_total=20000", now());
        assert_eq!(
            (
                verdict["valid"].as_bool(),
                verdict["discount_minor"].as_i64()
            ),
            (Some(true), Some(off_20000)),
            "{verdict}"
        );
        let verdict = validate(app, &shop, code, "order_total=1500", now());
        assert_eq!(verdict["discount_minor"], off_1500);
    }
    let (_, list) = get(app, &shop, "/api/campaigns");
    assert_eq!(list["items"].as_array().unwrap().len(), 4);
    let other = app.create_shop(shop_body("Other"));
    let (status, _) = get(
        app,
        &other,
        &format!("/api/campaigns/{}", id(&list["items"][0])),
    );
    assert_eq!(status, 404);
}

pub fn every_rejection_reason_is_reported(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let mei = profile(app, &shop, 1, "Mei", "Lin");
    let hua = profile(app, &shop, 2, "Hua", "Wang");
    let week = create_campaign(
        app,
        &shop,
        json!({"name": "Week", "discount": {"type": "fixed_amount", "amount_minor": 1000},
        "valid_days": 7, "min_order_minor": 5000, "per_customer_limit": 2}),
    );
    let code = issue(app, &shop, id(&week), &mei, None).json()["code"]
        .as_str()
        .unwrap()
        .to_string();
    let check =
        |query: &str, at: Timestamp| reason(&validate(app, &shop, &code, query, at)).to_string();
    assert_eq!(
        check(&format!("customer={mei}&order_total=6000"), now()),
        "valid"
    );
    assert_eq!(check("order_total=4999", now()), "min_spend_not_met");
    assert_eq!(check(&format!("customer={hua}"), now()), "not_owner");
    assert_eq!(check("", now() + (8 * 24).hours()), "expired");
    assert_eq!(
        reason(&validate(app, &shop, "NOSUCHCODE", "", now())),
        "not_found"
    );
    assert_eq!(
        reason(&validate(app, &shop, "bad%20code%21", "", now())),
        "not_found"
    );

    let later = create_campaign(
        app,
        &shop,
        json!({"name": "Later", "discount": {"type": "free_shipping"},
        "starts_at": (now() + 48.hours()).to_string(), "ends_at": (now() + 72.hours()).to_string()}),
    );
    let later_code = issue(app, &shop, id(&later), &mei, None).json()["code"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        reason(&validate(app, &shop, &later_code, "", now())),
        "not_active_yet"
    );
    assert_eq!(
        reason(&validate(app, &shop, &later_code, "", now() + 49.hours())),
        "valid"
    );
    assert_eq!(
        reason(&validate(app, &shop, &later_code, "", now() + 72.hours())),
        "expired",
        "the campaign window closes"
    );

    let (status, _) = send_at(
        app,
        Method::PATCH,
        &format!("/api/campaigns/{}", id(&week)),
        &shop.api_key,
        Some(json!({"active": false})),
        now(),
    );
    assert_eq!(status, 200);
    assert_eq!(check("", now()), "campaign_paused");
    let reply = issue(app, &shop, id(&week), &mei, None);
    assert_eq!(
        (reply.status, reply.json()["error"]["code"].as_str()),
        (409, Some("campaign_paused"))
    );
    send_at(
        app,
        Method::PATCH,
        &format!("/api/campaigns/{}", id(&week)),
        &shop.api_key,
        Some(json!({"active": true})),
        now(),
    );

    // Redeemed through the API once; again for the same order is the same answer; another
    // order is refused.
    let redeem = |order: &str| {
        post(
            app,
            &shop,
            &format!("/api/coupons/{code}/redeem"),
            json!({"order_id": order, "customer_id": mei, "order_total_minor": 6000}),
        )
    };
    assert_eq!(redeem("A-1").0, 200);
    assert_eq!(redeem("A-1").0, 200);
    let (status, error) = redeem("A-2");
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("already_redeemed"))
    );
    assert_eq!(check("", now()), "already_redeemed");
    assert_eq!(stats(app, &shop, id(&week))["redeemed"], 1);

    // A shared code: the quota and the per-customer limit count redemptions.
    let poster = create_campaign(
        app,
        &shop,
        json!({"name": "Poster", "discount": {"type": "percent", "basis_points": 1000},
        "codes": {"type": "shared", "code": "teatime"}, "quota": 2, "per_customer_limit": 1}),
    );
    assert_eq!(
        issue(app, &shop, id(&poster), &mei, None).json()["code"],
        "TEATIME"
    );
    let use_shared = |order: &str, customer: &str| {
        post(
            app,
            &shop,
            "/api/coupons/TEATIME/redeem",
            json!({"order_id": order, "customer_id": customer, "order_total_minor": 1000}),
        )
    };
    assert_eq!(use_shared("P-1", &mei).0, 200);
    assert_eq!(
        reason(&validate(
            app,
            &shop,
            "TEATIME",
            &format!("customer={mei}"),
            now()
        )),
        "customer_limit_reached"
    );
    let (status, error) = use_shared("P-2", &mei);
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("customer_limit_reached"))
    );
    assert_eq!(use_shared("P-3", &hua).0, 200);
    assert_eq!(
        reason(&validate(app, &shop, "TEATIME", "", now())),
        "quota_reached"
    );
    let third = profile(app, &shop, 3, "Lan", "Li");
    let (status, error) = use_shared("P-4", &third);
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("quota_reached"))
    );
    // The same code cannot be claimed by another campaign.
    let (status, _) = post(
        app,
        &shop,
        "/api/campaigns",
        json!({"name": "Copy", "discount": {"type": "free_shipping"}, "codes": {"type": "shared", "code": "TeaTime"}}),
    );
    assert_eq!(status, 409);
}

pub fn issuing_keeps_idempotency_keys_limits_and_eligibility(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let mei = profile(app, &shop, 1, "Mei", "Lin");
    let hua = profile(app, &shop, 2, "Hua", "Wang");
    let campaign = create_campaign(
        app,
        &shop,
        json!({"name": "Two each", "discount": {"type": "fixed_amount", "amount_minor": 500},
        "per_customer_limit": 2, "quota": 3}),
    );
    let cid = id(&campaign);
    let first = issue(app, &shop, cid, &mei, Some("order-1-thanks"));
    assert_eq!(first.status, 201, "{}", first.json());
    let again = issue(app, &shop, cid, &mei, Some("order-1-thanks"));
    assert_eq!(
        again.json()["code"],
        first.json()["code"],
        "same key, same coupon"
    );
    assert_eq!(again.writes, 0, "a repeated key writes nothing");
    let reused = issue(app, &shop, cid, &hua, Some("order-1-thanks"));
    assert_eq!(
        (reused.status, reused.json()["error"]["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    assert_eq!(issue(app, &shop, cid, &mei, None).status, 201);
    let third = issue(app, &shop, cid, &mei, None);
    assert_eq!(
        (third.status, third.json()["error"]["code"].as_str()),
        (409, Some("customer_limit_reached"))
    );
    assert_eq!(issue(app, &shop, cid, &hua, None).status, 201);
    let over = issue(app, &shop, cid, &hua, Some("late"));
    assert_eq!(
        (over.status, over.json()["error"]["code"].as_str()),
        (409, Some("quota_reached"))
    );
    // A refused key is tried afresh: still over the quota.
    assert_eq!(
        issue(app, &shop, cid, &hua, Some("late")).json()["error"]["code"],
        "quota_reached"
    );
    assert_eq!(stats(app, &shop, cid)["issued"], 3);

    // Eligibility by tag and RFM group.
    let vip_only = create_campaign(
        app,
        &shop,
        json!({"name": "VIP", "discount": {"type": "free_shipping"},
        "eligibility": {"tags": ["vip"], "rfm_groups": ["prospects"]}}),
    );
    let refused = issue(app, &shop, id(&vip_only), &mei, None);
    assert_eq!(
        (refused.status, refused.json()["error"]["code"].as_str()),
        (422, Some("not_eligible"))
    );
    post(
        app,
        &shop,
        &format!("/api/customers/{mei}/tags"),
        json!({"add": ["VIP"]}),
    );
    assert_eq!(issue(app, &shop, id(&vip_only), &mei, None).status, 201);
    // Bad requests.
    for (body, status) in [
        (json!({}), 422),
        (json!({"customer_id": "cus_aaaaaaaaaaaaaaaa"}), 404),
    ] {
        let reply = app.send(request(
            Method::POST,
            &format!("/api/campaigns/{cid}/issue"),
            Some(&shop.api_key),
            body.to_string().into_bytes(),
        ));
        assert_eq!((reply.status, reply.writes), (status, 0), "{body}");
    }
    let reply = app.send(request(
        Method::POST,
        "/api/campaigns/cmp_nope/issue",
        Some(&shop.api_key),
        json!({"customer_id": mei}).to_string().into_bytes(),
    ));
    assert_eq!((reply.status, reply.writes), (404, 0));
}

/// `issues` concurrent issue requests, each for its own customer, against quota `quota`.
pub fn concurrent_issues_never_pass_the_quota(app: &dyn Client, issues: u64, quota: u64) {
    let shop = app.shop_with_all_platforms();
    let campaign = create_campaign(
        app,
        &shop,
        json!({"name": "Flash", "discount": {"type": "fixed_amount", "amount_minor": 100}, "quota": quota}),
    );
    let customers: Vec<String> = (0..issues)
        .map(|n| profile(app, &shop, 100 + n, "客", "户"))
        .collect();
    let codes: Vec<Option<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = customers
            .iter()
            .map(|c| {
                let (app, shop, cid) = (app, &shop, id(&campaign));
                s.spawn(move || {
                    let reply = issue(app, shop, cid, c, None);
                    match reply.status {
                        201 => Some(reply.json()["code"].as_str().unwrap().to_string()),
                        409 => {
                            assert_eq!(reply.json()["error"]["code"], "quota_reached");
                            None
                        }
                        other => panic!("unexpected {other}: {}", reply.json()),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let issued: BTreeSet<String> = codes.into_iter().flatten().collect();
    assert_eq!(
        issued.len() as u64,
        issues.min(quota),
        "coupons issued past the quota"
    );
    assert_eq!(
        stats(app, &shop, id(&campaign))["issued"],
        issues.min(quota)
    );
}

pub fn concurrent_issues_for_one_customer_keep_the_limit(app: &dyn Client, issues: usize) {
    let shop = app.shop_with_all_platforms();
    let mei = profile(app, &shop, 1, "Mei", "Lin");
    let campaign = create_campaign(
        app,
        &shop,
        json!({"name": "Once", "discount": {"type": "free_shipping"}}),
    );
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..issues)
            .map(|_| {
                let (app, shop, cid, mei) = (app, &shop, id(&campaign), &mei);
                s.spawn(move || issue(app, shop, cid, mei, None).status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409));
    // The same Idempotency-Key raced: one coupon, every answer naming it.
    let twice = create_campaign(
        app,
        &shop,
        json!({"name": "Raced", "discount": {"type": "free_shipping"}, "per_customer_limit": 5}),
    );
    let codes: BTreeSet<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                let (app, shop, cid, mei) = (app, &shop, id(&twice), &mei);
                s.spawn(move || {
                    let reply = issue(app, shop, cid, mei, Some("same-key"));
                    assert_eq!(reply.status, 201, "{}", reply.json());
                    reply.json()["code"].as_str().unwrap().to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(codes.len(), 1, "{codes:?}");
    assert_eq!(stats(app, &shop, id(&twice))["issued"], 1);
    // The customer's coupons: each one issued listed once, however the issues raced.
    let (status, listed) = app.get(&format!("/api/customers/{mei}/coupons"), &shop.api_key);
    assert_eq!(status, 200, "{listed}");
    let listed: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        codes.iter().all(|c| listed.contains(&c.as_str())),
        "{listed:?}"
    );
}

pub fn pool_codes_are_imported_once_and_handed_out_once(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let pool = create_campaign(
        app,
        &shop,
        json!({"name": "Shopify codes", "discount": {"type": "percent", "basis_points": 1000},
        "codes": {"type": "pool"}, "per_customer_limit": 5}),
    );
    let path = format!("/api/campaigns/{}/pool", id(&pool));
    let (status, report) = post(
        app,
        &shop,
        &path,
        json!({"codes": ["SPRING-001", "spring-002", " SPRING-001 ", "SPRING-003"]}),
    );
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (
            report["imported"].as_i64(),
            report["duplicates"].as_i64(),
            report["pool_size"].as_i64()
        ),
        (Some(3), Some(1), Some(3))
    );
    let mut csv = request(
        Method::POST,
        &path,
        Some(&shop.api_key),
        b"\xef\xbb\xbfcode\r\nSPRING-003\r\nSPRING-004\r\n\r\nspring-005\r\n".to_vec(),
    );
    csv.headers_mut()
        .insert("content-type", "text/csv".parse().unwrap());
    let (status, report) = app.call(csv);
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (
            report["imported"].as_i64(),
            report["duplicates"].as_i64(),
            report["pool_size"].as_i64()
        ),
        (Some(2), Some(1), Some(5))
    );
    let (status, _) = post(app, &shop, &path, json!({"codes": ["bad code"]}));
    assert_eq!(status, 422);

    let customers: Vec<String> = (0..6)
        .map(|n| profile(app, &shop, 10 + n, "客", "户"))
        .collect();
    let handed: Vec<Reply> = std::thread::scope(|s| {
        let handles: Vec<_> = customers
            .iter()
            .map(|c| {
                let (app, shop, cid) = (app, &shop, id(&pool));
                s.spawn(move || issue(app, shop, cid, c, None))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let codes: BTreeSet<String> = handed
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| r.json()["code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        codes,
        [
            "SPRING-001",
            "SPRING-002",
            "SPRING-003",
            "SPRING-004",
            "SPRING-005"
        ]
        .map(String::from)
        .into()
    );
    let refused: Vec<_> = handed.iter().filter(|r| r.status != 201).collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].json()["error"]["code"], "quota_reached");
    // A key refused for an empty pool is served once more codes arrive.
    let late = profile(app, &shop, 30, "Wen", "Zhao");
    let reply = issue(app, &shop, id(&pool), &late, Some("late-key"));
    assert_eq!(reply.json()["error"]["code"], "quota_reached");
    post(app, &shop, &path, json!({"codes": ["SPRING-006"]}));
    let reply = issue(app, &shop, id(&pool), &late, Some("late-key"));
    assert_eq!(reply.status, 201, "{}", reply.json());
    assert_eq!(reply.json()["code"], "SPRING-006");
    // Not-yet-handed-out codes of a pool are not valid coupons.
    let fresh = create_campaign(
        app,
        &shop,
        json!({"name": "More", "discount": {"type": "free_shipping"}, "codes": {"type": "pool"}}),
    );
    post(
        app,
        &shop,
        &format!("/api/campaigns/{}/pool", id(&fresh)),
        json!({"codes": ["LATER-1"]}),
    );
    assert_eq!(
        reason(&validate(app, &shop, "LATER-1", "", now())),
        "not_found"
    );
}

pub fn print_batches_are_resumable_and_stable(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let campaign = create_campaign(
        app,
        &shop,
        json!({"name": "Package cards", "discount": {"type": "fixed_amount", "amount_minor": 1000},
        "quota": 20, "codes": {"type": "generated", "prefix": "CARD", "length": 8}}),
    );
    let (status, _) = post(
        app,
        &shop,
        &format!("/api/campaigns/{}/batches", id(&campaign)),
        json!({"name": "nov-cards", "count": 25}),
    );
    assert_eq!(status, 201);
    let page = |cursor: i64| {
        let reply = app.send(request(
            Method::GET,
            &format!(
                "/api/campaigns/{}/batches/nov-cards/codes?cursor={cursor}&limit=10",
                id(&campaign)
            ),
            Some(&shop.api_key),
            vec![],
        ));
        assert_eq!(reply.status, 200);
        let mut reader = csv::Reader::from_reader(reply.body.as_slice());
        let codes: Vec<String> = reader
            .records()
            .map(|r| r.unwrap()[0].to_string())
            .collect();
        (
            codes,
            reply
                .headers
                .get("x-next-cursor")
                .map(|v| v.to_str().unwrap().parse::<i64>().unwrap()),
            reply.headers.contains_key("x-quota-reached"),
        )
    };
    let (first, next, _) = page(0);
    assert_eq!((first.len(), next), (10, Some(10)));
    assert_eq!(page(0).0, first, "the same page gives the same codes");
    let (second, next, _) = page(10);
    let (third, next_after, quota) = page(next.unwrap());
    assert_eq!(
        (second.len(), third.len(), next_after, quota),
        (10, 0, None, true),
        "the quota of 20 stops the batch"
    );
    let all: BTreeSet<&String> = first.iter().chain(&second).collect();
    assert_eq!(all.len(), 20);
    assert!(all.iter().all(|c| c.starts_with("CARD")));
    // A batch name no batch could have (too long for any key) is not found, not a 500.
    let long = "x".repeat(300);
    let reply = app.send(request(
        Method::GET,
        &format!("/api/campaigns/{}/batches/{long}/codes", id(&campaign)),
        Some(&shop.api_key),
        vec![],
    ));
    assert_eq!((reply.status, reply.writes), (404, 0));
    // A printed code is anyone's: the first order using it redeems it.
    assert_eq!(
        reason(&validate(app, &shop, &first[0], "order_total=5000", now())),
        "valid"
    );
}

// ------------------------------------------------------------------ redemption from orders

pub fn orders_redeem_coupons_on_every_platform_and_refunds_roll_back(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let mei = profile(app, &shop, 1, "Mei", "Lin");
    let campaign = create_campaign(
        app,
        &shop,
        json!({"name": "Thanks", "discount": {"type": "fixed_amount", "amount_minor": 1000}, "per_customer_limit": 10}),
    );
    let cid = id(&campaign).to_string();
    let code = |n: &str| {
        issue(app, &shop, &cid, &mei, Some(n)).json()["code"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let redeemed =
        |code: &str| validate(app, &shop, code, "", now())["reason"] == "already_redeemed";

    // Shopify: discount_codes; delivered twice, redeemed once.
    let shopify_code = code("shopify");
    let mut order = buyer_order(1, 5001, "100.00", days_ago(1), &[TEA]);
    order["discount_codes"] =
        json!([{"code": shopify_code.to_lowercase(), "amount": "10.00", "type": "fixed_amount"}]);
    for delivery in ["s-1", "s-1", "s-2"] {
        let (status, _) = app.call_at(
            shopify_request(&shop.id, "orders/create", &order, SHOPIFY_SECRET, delivery),
            now(),
        );
        assert_eq!(status, 200);
    }
    assert!(redeemed(&shopify_code));
    assert_eq!(stats(app, &shop, &cid)["redeemed"], 1);

    // WooCommerce: coupon_lines.
    let woo_code = code("woo");
    let mut woo = woo_order(
        6001,
        &Buyer {
            platform_id: Some(77),
            email: Some("c1@example.com"),
            phone: None,
        },
        "processing",
        "80.00",
        &[TEA],
    );
    woo["coupon_lines"] = json!([{"code": woo_code, "discount": "10.00"}]);
    assert_eq!(
        app.call(woo_request(&shop.id, "order.created", &woo, WOO_SECRET))
            .0,
        200
    );
    assert!(redeemed(&woo_code));

    // Youzan: order_promotion with a coupon.
    let yz_code = code("youzan");
    let mut trade = youzan_trade(
        "E2026112200001",
        Some("13900000001"),
        Some("yz-1"),
        "70.00",
        &[TEA],
    );
    trade["order_promotion"] = json!({"order": [{"promotion_type": "coupon", "coupon_id": yz_code, "discount_fee": 1000}]});
    assert_eq!(
        app.call(youzan_request(
            &shop.id,
            "trade_TradePaid",
            "E2026112200001",
            &trade,
            YOUZAN_SECRET
        ))
        .0,
        200
    );
    assert!(redeemed(&yz_code));

    // The generic format: discount_codes.
    let generic_code = code("generic");
    let mut body = generic_order("G-1", "paid", Some("c1@example.com"), None, "60.00");
    body["discount_codes"] = json!([generic_code]);
    let bytes = body.to_string().into_bytes();
    assert_eq!(
        app.call(generic_request(
            &shop.id,
            &shop.generic_secret,
            &bytes,
            app.now().as_second()
        ))
        .0,
        200
    );
    assert!(redeemed(&generic_code));
    let s = stats(app, &shop, &cid);
    assert_eq!(
        (
            s["issued"].as_i64(),
            s["redeemed"].as_i64(),
            s["orders"].as_i64()
        ),
        (Some(4), Some(4), Some(4))
    );
    assert_eq!(s["revenue_minor"], 10000 + 8000 + 7000 + 6000);
    assert_eq!(s["redemption_rate"], 1.0);

    // A whole refund of the Shopify order takes the redemption back; a partial one would not.
    let refund = shopify_refund(5001, 90, "100.00");
    assert_eq!(
        app.call_at(
            shopify_request(&shop.id, "refunds/create", &refund, SHOPIFY_SECRET, "r-90"),
            now()
        )
        .0,
        200
    );
    assert!(
        !redeemed(&shopify_code),
        "the refund did not give the coupon back"
    );
    let s = stats(app, &shop, &cid);
    assert_eq!(
        (s["redeemed"].as_i64(), s["revenue_minor"].as_i64()),
        (Some(3), Some(21000))
    );
    // The same refund again changes nothing.
    let reply = app.send(shopify_request(
        &shop.id,
        "refunds/create",
        &refund,
        SHOPIFY_SECRET,
        "r-90",
    ));
    assert_eq!((reply.status, reply.writes), (200, 0));
    assert_eq!(stats(app, &shop, &cid)["redeemed"], 3);
    // A cancelled WooCommerce order too, unless the campaign keeps redemptions.
    let (status, _) = send_at(
        app,
        Method::PATCH,
        &format!("/api/campaigns/{cid}"),
        &shop.api_key,
        Some(json!({"rollback": {"on_cancel": false, "on_full_refund": true}})),
        now(),
    );
    assert_eq!(status, 200);
    woo["status"] = json!("cancelled");
    woo["date_modified_gmt"] = json!("2026-11-21T02:00:00");
    assert_eq!(
        app.call(woo_request(&shop.id, "order.updated", &woo, WOO_SECRET))
            .0,
        200
    );
    assert!(
        redeemed(&woo_code),
        "the campaign keeps redemptions of cancelled orders"
    );
}

pub fn welcome_and_tag_coupons_are_issued_once(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let welcome = create_campaign(
        app,
        &shop,
        json!({"name": "Welcome", "discount": {"type": "fixed_amount", "amount_minor": 1000}, "valid_days": 30}),
    );
    let (status, channel) = post(
        app,
        &shop,
        "/api/channels",
        json!({"name": "Card", "kind": "package_card",
        "welcome_campaign": id(&welcome), "target_url": "https://tea.example.com/"}),
    );
    assert_eq!(status, 201, "{channel}");
    let lead = |phone: &str| {
        let mut req = request(
            Method::POST,
            &format!("/q/{}/lead", channel["code"].as_str().unwrap()),
            None,
            json!({"phone": phone, "consent": true})
                .to_string()
                .into_bytes(),
        );
        req.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        app.call_at(req, now()).1
    };
    let first = lead("+8613700000001");
    let code = first["welcome_coupon"]
        .as_str()
        .expect("a welcome coupon")
        .to_string();
    // The same number again: no second coupon, and it is not shown to whoever typed it.
    let again = lead("+8613700000001");
    assert_eq!(again["returning"], true, "{again}");
    assert_eq!(again["welcome_coupon"], Value::Null, "{again}");
    assert_eq!(again["coupon"], "kept", "{again}");
    assert_ne!(lead("+8613700000002")["welcome_coupon"], code);
    // The hosted form's thank-you page shows the coupon to the person who signed up.
    let mut form = request(
        Method::POST,
        &format!("/q/{}/lead", channel["code"].as_str().unwrap()),
        None,
        b"phone=13700000003&consent=on".to_vec(),
    );
    form.headers_mut().insert(
        "content-type",
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    form.headers_mut().insert(
        crate::host::TEST_CLOCK_HEADER,
        now().to_string().parse().unwrap(),
    );
    let page = String::from_utf8(app.send(form).body).unwrap();
    assert!(page.contains("Code</span>: <strong>"), "{page}");
    assert_eq!(stats(app, &shop, id(&welcome))["issued"], 3);
    let first_id = first["customer_id"].as_str().unwrap();
    let (status, listed) = app.get(&format!("/api/customers/{first_id}/coupons"), &shop.api_key);
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["items"][0]["code"], code.as_str());
    assert_eq!(listed["items"][0]["state"], "issued");
    let unknown = app.get("/api/customers/cus_aaaaaaaaaaaaaaaa/coupons", &shop.api_key);
    assert_eq!(unknown.0, 404, "{}", unknown.1);
    let verdict = validate(
        app,
        &shop,
        &code,
        &format!("customer={}", first["customer_id"].as_str().unwrap()),
        now(),
    );
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(
        verdict["valid_until"],
        (now() + (30 * 24).hours()).to_string()
    );

    // A campaign that rewards customers who become VIP: once, however often they do.
    let vip = create_campaign(
        app,
        &shop,
        json!({"name": "VIP gift", "discount": {"type": "free_shipping"}, "issue_on_tag": "vip"}),
    );
    let mei = profile(app, &shop, 9, "Mei", "Lin");
    for change in [
        json!({"add": ["VIP"]}),
        json!({"remove": ["VIP"]}),
        json!({"add": ["Vip"]}),
    ] {
        let (status, _) = post(app, &shop, &format!("/api/customers/{mei}/tags"), change);
        assert_eq!(status, 200);
    }
    assert_eq!(stats(app, &shop, id(&vip))["issued"], 1);
}
