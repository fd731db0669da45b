//! Shops: the operator creates them, owners set them up, and no shop reaches another's data.

use http::Method;
use serde_json::json;

use crate::app::{request, OPERATOR_TOKEN};
use crate::client::Client;
use crate::platforms::*;

use super::*;

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

// ------------------------------------------------------------------ isolation

pub fn one_shop_never_sees_or_changes_another_shops_data(app: &dyn Client) {
    let a = app.shop_with_all_platforms();
    let b = app.create_shop(json!({"name": "Other", "currency": "CNY", "credentials": {"shopify_secrets": ["b-secret-0001-0123456789"]}}));
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
    // Shop B holds its settings and its key's look-up count (listed for expiry), nothing
    // of shop A's.
    assert!(
        app.dump_shop(&b.id)
            .iter()
            .all(|(k, _)| k.ends_with("/shop") || k.contains("/lk/") || k.contains("/ex/")),
        "shop B holds data it never received"
    );
}
