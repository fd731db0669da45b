//! The API contract: the published document, and clear JSON errors for bad input.

use http::Method;
use serde_json::{json, Value};

use crate::app::{request, OPERATOR_TOKEN};
use crate::client::Client;
use crate::platforms::*;

use super::*;

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
            signed(br#"{"id": 1, "financial_status": "paid", "line_items": [{"title": "x"}]}"#),
            422,
            "invalid_field",
        ),
        (
            "not an order",
            signed(b"{\"name\": \"#1\"}"),
            422,
            "topic_mismatch",
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
