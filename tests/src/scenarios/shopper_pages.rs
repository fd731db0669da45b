//! The pages a shopper sees after a scan, in the shop's branding: the sign-up form with the
//! channel's texts and fields and the notice before collection, and the thank-you page with
//! the welcome coupon and the next step.

use http::Method;
use serde_json::{json, Value};

use crate::app::{request, TestShop};
use crate::client::Client;

use super::*;

fn send_json(
    app: &dyn Client,
    shop: &TestShop,
    method: Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    app.call(request(
        method,
        path,
        Some(&shop.api_key),
        body.to_string().into_bytes(),
    ))
}

fn form_post(app: &dyn Client, code: &str, form: &str) -> (u16, String) {
    let reply = submit_form(app, code, form, "10.1.2.3:4");
    (
        reply.status,
        String::from_utf8_lossy(&reply.body).into_owned(),
    )
}

pub fn shopper_pages_show_the_shops_branding_and_the_channels_page(app: &dyn Client) {
    let shop = app.shop_with_all_platforms();
    let (status, refused) = send_json(
        app,
        &shop,
        Method::PATCH,
        "/api/shop",
        json!({"branding": {"accent_color": "blue"}}),
    );
    assert_eq!(
        (status, refused["error"]["code"].clone()),
        (422, json!("invalid_field"))
    );
    let (status, updated) = send_json(
        app,
        &shop,
        Method::PATCH,
        "/api/shop",
        json!({"branding": {
        "display_name": "茶舍 Tea House", "logo_url": "https://cdn.example.com/logo.png",
        "accent_color": "#AA3300", "privacy_policy_url": "https://tea.example.com/privacy",
        "retention_months": 24}}),
    );
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["branding"]["accent_color"], "#aa3300");

    // (Requests without a test clock: this scenario runs under real Spin too.)
    let (status, welcome) = send_json(
        app,
        &shop,
        Method::POST,
        "/api/campaigns",
        json!({"name": "Welcome",
        "discount": {"type": "fixed_amount", "amount_minor": 1000}, "min_order_minor": 9900, "valid_days": 30}),
    );
    assert_eq!(status, 201, "{welcome}");
    let (status, channel) = send_json(
        app,
        &shop,
        Method::POST,
        "/api/channels",
        json!({
        "name": "包裹卡 internal name", "kind": "package_card", "target_url": "https://tea.example.com/",
        "welcome_campaign": welcome["id"],
        "page": {"headline": "扫码领 10 元券", "benefit": "新客专享 <首单>", "button": "立即领取",
                 "fields": {"name": "off", "phone": "required", "email": "off"},
                 "next_step": {"wecom_url": "https://work.weixin.qq.com/ca/cawcde",
                               "shop_url": "https://tea.example.com/shop"}}}),
    );
    assert_eq!(status, 201, "{channel}");
    let (status, bad) = send_json(
        app,
        &shop,
        Method::PATCH,
        &format!("/api/channels/{}", channel["id"].as_str().unwrap()),
        json!({"page": {"fields": {"phone": "off", "email": "off"}}}),
    );
    assert_eq!(status, 422, "{bad}");
    let code = channel["code"].as_str().unwrap();

    let page = form_page(app, code);
    assert_eq!(page.status, 200);
    let policy = page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        policy.contains("'sha256-") && !policy.contains("unsafe"),
        "{policy}"
    );
    let html = String::from_utf8_lossy(&page.body).into_owned();
    for shown in [
        "<h1>扫码领 10 元券</h1>",
        "新客专享 &lt;首单&gt;",
        ">立即领取</button>",
        "https://cdn.example.com/logo.png",
        "--accent:#aa3300",
        "https://tea.example.com/privacy",
        "茶舍 Tea House 收集您填写的手机号，",
        "24 个月",
        "lang=\"zh-CN\"",
    ] {
        assert!(html.contains(shown), "{shown} missing: {html}");
    }
    assert!(html.contains("id=\"phone\" name=\"phone\" type=\"tel\" autocomplete=\"tel\" required"));
    assert!(
        !html.contains("id=\"email\"") && !html.contains("id=\"name\""),
        "fields turned off"
    );
    assert!(
        !html.contains("包裹卡 internal name</h1>"),
        "the internal name is not the headline"
    );
    let version = hidden_value(&html, "notice_version");

    let (status, page) = form_post(
        app,
        code,
        &format!("email=a%40example.com&notice_version={version}&notice_accepted=on"),
    );
    assert_eq!(status, 422);
    assert!(
        page.contains("phone is required") && page.contains("--accent:#aa3300"),
        "{page}"
    );

    let signup =
        format!("phone=13812345678&notice_version={version}&notice_accepted=on&marketing=on");
    let (status, thanks) = form_post(app, code, &signup);
    assert_eq!(status, 200, "{thanks}");
    let coupon = thanks
        .split("Code</span>: <strong>")
        .nth(1)
        .expect("a coupon");
    let coupon = &coupon[..coupon.find('<').unwrap()];
    for shown in [
        "立减 ¥10.00，满 ¥99.00 可用",
        "¥10.00 off on orders of ¥99.00 or more",
        "有效期至 ",
        &format!("data-copy=\"{coupon}\""),
        "在 茶舍 Tea House 结账时输入此券码",
        "href=\"https://work.weixin.qq.com/ca/cawcde\"",
        "href=\"https://tea.example.com/shop\"",
    ] {
        assert!(thanks.contains(shown), "{shown} missing: {thanks}");
    }
    // Again: anyone may type that number, so the page shows no coupon and says where it
    // is (this shop delivers no messages: kept for the shop to hand over); never a second.
    let (status, again) = form_post(app, code, &signup);
    assert_eq!(status, 200);
    assert!(!again.contains(coupon), "{again}");
    assert!(
        again.contains("您之前已在本店登记过") && again.contains("is kept for you"),
        "{again}"
    );
    let path = format!("/api/campaigns/{}/stats", welcome["id"].as_str().unwrap());
    assert_eq!(app.get(&path, &shop.api_key).1["issued"], 1);

    // A channel without a welcome coupon thanks without one.
    let (_, plain) = send_json(
        app,
        &shop,
        Method::POST,
        "/api/channels",
        json!({"name": "Poster", "target_url": "https://tea.example.com/"}),
    );
    let plain_code = plain["code"].as_str().unwrap();
    let form = String::from_utf8_lossy(&form_page(app, plain_code).body).into_owned();
    let version = hidden_value(&form, "notice_version");
    let (status, thanks) = form_post(
        app,
        plain_code,
        &format!("email=b%40example.com&notice_version={version}&notice_accepted=on"),
    );
    assert_eq!(status, 200);
    assert!(
        thanks.contains("Thank you") && !thanks.contains("welcome coupon"),
        "{thanks}"
    );
}
