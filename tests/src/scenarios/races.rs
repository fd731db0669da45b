//! The races: many requests at once on one record, each exact. Listed once (`each_race!`) and
//! run by every runner on every store.

use crate::client::Client;
use crate::platforms::*;

use super::*;

/// Every race, each a scenario of its own at the size every runner plays it.
#[macro_export]
macro_rules! each_race {
    ($runner:ident) => {
        $runner!(
            two_hundred_concurrent_orders_for_one_new_customer_are_all_counted,
            five_hundred_concurrent_issues_on_a_quota_of_a_hundred_issue_a_hundred,
            fifty_concurrent_issues_for_one_customer_with_limit_one_issue_one,
            two_hundred_concurrent_scans_are_all_counted,
            a_hundred_concurrent_tag_changes_on_one_customer_are_all_kept,
            six_concurrent_wrong_phone_codes_are_each_counted_once,
        );
    };
}

pub fn two_hundred_concurrent_orders_for_one_new_customer_are_all_counted(app: &dyn Client) {
    concurrent_orders_for_one_customer_are_all_counted(app, 200);
}

pub fn five_hundred_concurrent_issues_on_a_quota_of_a_hundred_issue_a_hundred(app: &dyn Client) {
    concurrent_issues_never_pass_the_quota(app, 500, 100);
}

/// Also races one Idempotency-Key twenty times.
pub fn fifty_concurrent_issues_for_one_customer_with_limit_one_issue_one(app: &dyn Client) {
    concurrent_issues_for_one_customer_keep_the_limit(app, 50);
}

pub fn two_hundred_concurrent_scans_are_all_counted(app: &dyn Client) {
    concurrent_scans_are_all_counted(app, 200);
}

pub fn a_hundred_concurrent_tag_changes_on_one_customer_are_all_kept(app: &dyn Client) {
    concurrent_tag_changes_on_one_customer_are_all_kept(app, 100);
}

/// Six wrong codes at once against a limit of five: five are told "wrong", one "too many"
/// (a lost count would let six through; a doubled one would lock the code early). Six, not
/// more: sign-ups are limited to ten a minute per address and code, retries included.
pub fn six_concurrent_wrong_phone_codes_are_each_counted_once(app: &dyn Client) {
    let receiver = crate::receiver::Receiver::start();
    let (shop, _) = shop_delivering_to(app, &receiver);
    let code = verifying_channel(app, &shop);
    assert_eq!(ask_code(app, &code, PHONE, "10.5.0.1:1", None).status, 200);
    let wrong = wrong(&last_code(&receiver, PHONE));
    let answers: Vec<String> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let code = &code;
                s.spawn(move || {
                    for _ in 0..3 {
                        let reply = submit_lead(
                            app,
                            code,
                            serde_json::json!({"phone": PHONE, "consent": true, "phone_code": wrong}),
                            "10.5.0.1:1",
                        );
                        if reply.status != 503 {
                            return reply.json()["error"]["code"].as_str().unwrap_or("").to_string();
                        }
                    }
                    "busy three times".to_string()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let wrong_answers = answers.iter().filter(|a| *a == "wrong_code").count();
    let locked = answers.iter().filter(|a| *a == "too_many_tries").count();
    assert_eq!((wrong_answers, locked), (5, 1), "{answers:?}");
}

// ------------------------------------------------------------------ the races, any size

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
