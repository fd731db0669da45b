//! The pages a shopper sees, in real Chromium against the app under real `spin up`
//! (spin.toml), at phone (390×844) and desktop (1280×800) width: the branded sign-up form
//! with its notice, an error, the thank-you page with the welcome coupon (its copy button
//! works under the page's strict CSP), and a returning person who gets the same coupon.
//! A channel that verifies phone numbers is signed up to at both widths, with JavaScript
//! (the code sent inline) and without (the two-step form), the code read from a real
//! receiver behind the shop's delivery URL. Each page's accessibility tree is checked for
//! level-A basics; screenshots go to `target/artifacts/consumer/`.

use http::Method;
use serde_json::{json, Value};
use siyu_tests::app::{request, TestShop};
use siyu_tests::client::Client;
use siyu_tests::receiver::Receiver;
use siyu_tests::scenarios::{last_code, shop_delivering_to, wrong};
use siyu_tests::spin_up::{Flavour, SpinUp};
use siyu_tests::webdriver::{chromedriver, Driver};

fn send(app: &SpinUp, shop: &TestShop, method: Method, path: &str, body: Value) -> Value {
    let (status, answer) = app.call(request(
        method,
        path,
        Some(&shop.api_key),
        body.to_string().into_bytes(),
    ));
    assert!(status < 300, "{path}: {status} {answer}");
    answer
}

/// Level-A basics from Chromium's accessibility tree: the page states its language, and
/// every control, link and image has a name a screen reader can say (WCAG 1.1.1, 1.3.1,
/// 3.1.1, 4.1.2).
fn assert_accessible(driver: &Driver, page: &str) {
    let source = driver.page_source();
    assert!(source.contains("<html lang=\"zh-CN\">"), "{page}: {source}");
    let tree = driver.cdp("Accessibility.getFullAXTree", json!({}));
    let mut checked = 0;
    for node in tree["nodes"].as_array().expect("an accessibility tree") {
        let role = node["role"]["value"].as_str().unwrap_or_default();
        if node["ignored"] == json!(true)
            || !["textbox", "checkbox", "button", "link", "image", "combobox"].contains(&role)
        {
            continue;
        }
        let name = node["name"]["value"].as_str().unwrap_or_default().trim();
        assert!(!name.is_empty(), "{page}: a {role} without a name: {node}");
        checked += 1;
    }
    assert!(checked > 0, "{page}: nothing checked");
}

#[test]
fn a_shopper_signs_up_on_the_branded_pages_in_chromium() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let app = SpinUp::start(Flavour::KeyValue, None);
    let shop = app.shop_with_all_platforms();
    send(
        &app,
        &shop,
        Method::PATCH,
        "/api/shop",
        json!({"branding": {
        "display_name": "茶舍 Tea House", "accent_color": "#8a3b12",
        "privacy_policy_url": "https://tea.example.com/privacy"}}),
    );
    let welcome = send(
        &app,
        &shop,
        Method::POST,
        "/api/campaigns",
        json!({"name": "Welcome",
        "discount": {"type": "fixed_amount", "amount_minor": 1000}, "min_order_minor": 9900,
        "valid_days": 30}),
    );
    let card = send(
        &app,
        &shop,
        Method::POST,
        "/api/channels",
        json!({
        "name": "包裹卡", "kind": "package_card", "tags": ["browser"],
        "target_url": "https://tea.example.com/", "welcome_campaign": welcome["id"],
        "page": {"headline": "扫码领 10 元券", "benefit": "新客首单满 99 元可用",
                 "fields": {"name": "optional", "phone": "required", "email": "off"},
                 "next_step": {"wecom_url": "https://work.weixin.qq.com/ca/cawcde",
                               "shop_url": "https://tea.example.com/shop"}}}),
    );
    let form = format!("{}/q/{}/form", app.base, card["code"].as_str().unwrap());
    let driver = Driver::start(&chromedriver, 390, 844);

    // The form on a phone: the notice before collection, marketing unticked.
    driver.open(&form);
    driver.wait_for_text("h1", "扫码领 10 元券");
    assert!(driver
        .text("main")
        .contains("茶舍 Tea House 收集您填写的称呼、手机号"));
    assert_eq!(
        driver.script(
            "return document.getElementById('marketing').checked",
            json!([])
        ),
        json!(false)
    );
    assert_accessible(&driver, "form");
    driver.screenshot("consumer", "form-phone");

    // A mistake is explained on a page in the shop's colours, with a way back.
    driver.type_into("#phone", "12345");
    driver.click("#notice_accepted");
    driver.click("button[type=submit]");
    driver.wait_for_text("h1", "提交未成功");
    assert_accessible(&driver, "error");
    driver.screenshot("consumer", "error-phone");

    // Signed up: the coupon, what it is worth, until when, and the next step.
    driver.open(&form);
    driver.type_into("#name", "Mei");
    driver.type_into("#phone", "138 1234 5678");
    driver.click("#notice_accepted");
    driver.click("#marketing");
    driver.screenshot("consumer", "form-filled-phone");
    driver.click("button[type=submit]");
    let thanks = driver.wait_for_text("main", "Thank you");
    assert!(thanks.contains("立减 ¥10.00，满 ¥99.00 可用"), "{thanks}");
    assert!(thanks.contains("添加专属顾问企业微信"), "{thanks}");
    let code = driver.text(".coupon strong");
    assert_eq!(code.len(), 8, "{thanks}");
    // The copy button is the page's one script: shown only because the CSP let it run.
    let copy_shown = driver.script(
        "return !document.querySelector('[data-copy]').hidden",
        json!([]),
    );
    assert_eq!(
        copy_shown,
        json!(true),
        "the inline script ran under the CSP"
    );
    assert_accessible(&driver, "thank-you");
    driver.screenshot("consumer", "thank-you-phone");

    // The same number again, unproven (anyone may know it): told they are registered, and
    // neither that coupon nor a second one is shown.
    driver.open(&form);
    driver.type_into("#phone", "13812345678");
    driver.click("#notice_accepted");
    driver.click("button[type=submit]");
    let again = driver.wait_for_text("main", "Thank you");
    assert!(again.contains("您之前已在本店登记过"), "{again}");
    assert!(!driver.page_source().contains(&code), "{again}");
    driver.screenshot("consumer", "returning-phone");
    let stats = app
        .get(
            &format!("/api/campaigns/{}/stats", welcome["id"].as_str().unwrap()),
            &shop.api_key,
        )
        .1;
    assert_eq!(stats["issued"], 1, "{stats}");

    // What was recorded: the channel's tag, marketing consent, the notice word for word.
    let (status, customer) = app.get("/api/customers?phone=%2B8613812345678", &shop.api_key);
    assert_eq!(status, 200, "{customer}");
    assert_eq!(customer["tags"][0]["name"], "browser");
    assert_eq!(customer["consent"]["marketing"], true);
    assert!(customer["notice"]["notice"]
        .as_str()
        .unwrap()
        .contains("https://tea.example.com/privacy"));

    // The desktop width.
    driver.resize(1280, 800);
    driver.open(&form);
    driver.wait_for_text("h1", "扫码领 10 元券");
    driver.screenshot("consumer", "form-desktop");
    driver.type_into("#phone", "13900001111");
    driver.click("#notice_accepted");
    driver.click("button[type=submit]");
    driver.wait_for_text("main", "Thank you");
    driver.screenshot("consumer", "thank-you-desktop");
}

#[test]
fn a_shopper_proves_their_number_with_and_without_javascript_in_chromium() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let app = SpinUp::start(Flavour::KeyValue, None);
    let receiver = Receiver::start();
    let (shop, _) = shop_delivering_to(&app, &receiver);
    send(
        &app,
        &shop,
        Method::PATCH,
        "/api/shop",
        json!({"branding": {"display_name": "茶舍 Tea House", "accent_color": "#1f6f43"}}),
    );
    let card = send(
        &app,
        &shop,
        Method::POST,
        "/api/channels",
        json!({"name": "海报", "kind": "poster", "target_url": "https://tea.example.com/",
        "page": {"headline": "登记会员", "verify_phone": true,
                 "fields": {"name": "off", "phone": "required", "email": "off"},
                 "next_step": {"shop_url": "https://tea.example.com/shop"}}}),
    );
    let form = format!("{}/q/{}/form", app.base, card["code"].as_str().unwrap());
    let driver = Driver::start(&chromedriver, 390, 844);
    for (width, height, name, national) in [
        (390, 844, "phone", "13800000001"),
        (1280, 800, "desktop", "13800000002"),
    ] {
        driver.resize(width, height);
        let e164 = format!("+86{national}");

        // With JavaScript: the code is sent inline and the form goes through at once.
        driver.open(&form);
        driver.wait_for_text("h1", "登记会员");
        let shown = driver.script(
            "return [document.getElementById('code-row').hidden, document.getElementById('verify-note').hidden]",
            json!([]),
        );
        assert_eq!(
            shown,
            json!([false, true]),
            "the script shows the inline code field"
        );
        driver.type_into("#phone", national);
        driver.click("#send-code");
        driver.wait_for_text(
            "#code-status",
            &format!("{}****{}", &national[..3], &national[7..]),
        );
        let code = last_code(&receiver, &e164);
        driver.type_into("#phone_code", &code);
        driver.click("#notice_accepted");
        assert_accessible(&driver, "verify form");
        driver.screenshot("consumer", &format!("verify-inline-{name}"));
        driver.click("form button[type=submit]");
        let thanks = driver.wait_for_text("main", "Thank you");
        assert!(thanks.contains("手机号已验证"), "{thanks}");
        assert!(
            !thanks.contains("券码"),
            "no welcome campaign, no coupon: {thanks}"
        );
        driver.screenshot("consumer", &format!("verify-thank-you-{name}"));
        let (_, customer) = app.get(
            &format!("/api/customers?phone=%2B86{national}"),
            &shop.api_key,
        );
        assert!(customer["phone_verified_at"].is_string(), "{customer}");

        // Without JavaScript: the first submission sends the code, a second page asks for it.
        driver.cdp(
            "Emulation.setScriptExecutionDisabled",
            json!({"value": true}),
        );
        let other = format!("139{}", &national[3..]);
        let other_e164 = format!("+86{other}");
        driver.open(&form);
        driver.wait_for_text("h1", "登记会员");
        assert!(driver
            .text("main")
            .contains("提交后我们会向您的手机发送验证码"));
        driver.type_into("#phone", &other);
        driver.click("#notice_accepted");
        driver.click("form button[type=submit]");
        driver.wait_for_text("h1", "验证手机号");
        assert_accessible(&driver, "code step");
        driver.screenshot("consumer", &format!("verify-step-{name}"));
        let code = last_code(&receiver, &other_e164);
        driver.type_into("#phone_code", wrong(&code));
        driver.click("form button[type=submit]");
        let again = driver.wait_for_text("[role=alert]", "tries left");
        assert!(again.contains('4'), "{again}");
        assert_accessible(&driver, "wrong code");
        driver.screenshot("consumer", &format!("verify-wrong-code-{name}"));
        driver.type_into("#phone_code", &code);
        driver.click("form button[type=submit]");
        let thanks = driver.wait_for_text("main", "Thank you");
        assert!(thanks.contains("手机号已验证"), "{thanks}");
        driver.cdp(
            "Emulation.setScriptExecutionDisabled",
            json!({"value": false}),
        );
    }
}
