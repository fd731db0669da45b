//! The merchant console in real Chromium against the app under real `spin up` (spin.toml):
//! a merchant signs in, makes a channel and downloads its QR code, a shopper scans it and
//! leaves a lead, two signed orders arrive, and the funnel, segments, coupons and exports
//! show it; a wrong key, an expired session and an API error each say so. Screenshots of
//! every page, desktop and phone width, go to `target/artifacts/console/`.

use http::Method;
use serde_json::{json, Value};
use siyu_tests::app::request;
use siyu_tests::client::Client;
use siyu_tests::platforms::{generic_order, generic_request};
use siyu_tests::qr_decode::decode_png;
use siyu_tests::receiver::Receiver;
use siyu_tests::scenarios;
use siyu_tests::spin_up::{Flavour, Launch, SpinUp};
use siyu_tests::webdriver::{chromedriver, webdriver, Browser, Driver};

const PHONE: &str = "13812345678";

/// A paid generic-webhook order from the shopper, placed now.
fn paid_order(app: &SpinUp, shop: &siyu_tests::app::TestShop, id: &str, total: &str) {
    let now = jiff::Timestamp::now();
    let mut order = generic_order(id, "paid", None, Some(PHONE), total);
    order["placed_at"] = json!(now.to_string());
    order["updated_at"] = json!(now.to_string());
    let body = order.to_string().into_bytes();
    let (status, answer) = app.call(generic_request(
        &shop.id,
        &shop.generic_secret,
        &body,
        now.as_second(),
    ));
    assert!(status < 300, "{status} {answer}");
}

/// Makes a channel through the console's form; its scan URL as the channel page shows it.
fn new_channel(driver: &Driver, console: &str, name: &str, target: &str, tags: &str) -> String {
    driver.open(&format!("{console}#/channels/new"));
    driver.type_into("#channel-form input[name=name]", name);
    driver.type_into("#channel-form input[name=target_url]", target);
    driver.type_into("#channel-form input[name=tags]", tags);
    driver.click("#save-channel");
    driver.find("#channel-urls input");
    driver
        .script(
            "return document.querySelector('#channel-urls input').value",
            json!([]),
        )
        .as_str()
        .unwrap()
        .to_string()
}

/// Signs in through the form; the overview's funnel then shows.
fn sign_in(driver: &Driver, key: &str) {
    driver.type_into("#api-key", key);
    driver.click("#signin");
    driver.find("#funnel");
}

/// Every page of the console, as (screenshot name, hash, what its heading says in Chinese).
fn pages(
    channel: &str,
    customer: &str,
    campaign: &str,
) -> Vec<(&'static str, String, &'static str)> {
    vec![
        ("overview", "#/overview".into(), "概览"),
        ("channels", "#/channels".into(), "渠道码"),
        ("channel-new", "#/channels/new".into(), "新建渠道码"),
        ("channel", format!("#/channels/{channel}"), "包裹卡"),
        ("channel-print", "#/channels/print".into(), "A4"),
        ("customer-lookup", "#/customers".into(), "查找客户"),
        ("customer", format!("#/customers/{customer}"), "Mei"),
        ("segments", "#/segments".into(), "分群与规则"),
        ("segment-members", "#/segments/tag/VIP".into(), "VIP"),
        ("rules", "#/segments/rules".into(), "打标签规则"),
        ("rule-new", "#/segments/rules/new/edit".into(), "新建规则"),
        ("campaigns", "#/campaigns".into(), "优惠券活动"),
        ("campaign-new", "#/campaigns/new".into(), "新建活动"),
        ("campaign", format!("#/campaigns/{campaign}"), "回购券"),
        ("reminders", "#/reminders".into(), "复购提醒"),
        ("settings", "#/settings".into(), "设置"),
    ]
}

#[test]
fn a_merchant_runs_the_private_domain_loop_in_the_console() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let app = siyu_tests::spin_up::shared(Flavour::KeyValue).expect("spin.toml runs");
    let shop = app.shop_with_all_platforms();
    let console = format!("{}/console/", app.base);
    let driver = Driver::start(&chromedriver, 1280, 800);

    // A wrong key is refused with a message, not a blank page.
    driver.open(&console);
    driver.screenshot("console", "signin-desktop");
    driver.type_into("#api-key", "siyu_shp_aaaaaaaaaaaa_wrong");
    driver.click("#signin");
    driver.wait_for_text("#signin-message", "密钥无效");
    driver.screenshot("console", "signin-wrong-key-desktop");
    sign_in(&driver, &shop.api_key);

    // A channel, made in the console.
    let scan_url = new_channel(
        &driver,
        &console,
        "包裹卡 · 秋季",
        "https://tea.example.com/autumn",
        "包裹卡客户",
    );
    assert!(
        scan_url.starts_with(&format!("{}/q/", app.base)),
        "{scan_url}"
    );
    let channel_id = driver
        .script("return location.hash.split('/')[2]", json!([]))
        .as_str()
        .unwrap()
        .to_string();

    // Its QR code, downloaded as PNG, scans to the channel's URL.
    driver.click("#download-png");
    assert_eq!(decode_png(&driver.downloaded(".png")), scan_url);

    // What shoppers will see: the shop's name for them and the channel's headline.
    driver.open(&format!("{console}#/settings"));
    driver.type_into("#branding-form input[name=display_name]", "茶舍 Tea House");
    driver.click("#save-branding");
    driver.wait_for_text("#notice", "已保存");
    driver.open(&format!("{console}#/channels/{channel_id}/edit"));
    driver.type_into("#page-settings input[name=page_headline]", "扫码领 10 元券");
    driver.click("#page-settings input[name=page_verify_phone]");
    driver.click("#save-channel");
    driver.find("#channel-urls input");
    let verifies = || {
        app.get(&format!("/api/channels/{channel_id}"), &shop.api_key)
            .1["page"]["verify_phone"]
            .clone()
    };
    assert_eq!(
        verifies(),
        json!(true),
        "the console turns phone verification on"
    );
    // And off again: this shop has no delivery URL to send codes through.
    driver.open(&format!("{console}#/channels/{channel_id}/edit"));
    driver.click("#page-settings input[name=page_verify_phone]");
    driver.click("#save-channel");
    driver.find("#channel-urls input");
    assert_eq!(verifies(), json!(false));

    // A shopper scans it and leaves a lead on the hosted form.
    let scan = app.call(request(
        Method::GET,
        &scan_url.replace(&app.base, ""),
        None,
        Vec::new(),
    ));
    assert_eq!(scan.0, 302, "{}", scan.1);
    driver.open(&format!("{scan_url}/form"));
    driver.wait_for_text("h1", "扫码领 10 元券");
    assert!(driver.text(".brand").contains("茶舍 Tea House"));
    driver.type_into("#name", "Mei");
    driver.type_into("#phone", PHONE);
    driver.click("#notice_accepted");
    driver.click("#marketing");
    driver.click("button[type=submit]");
    driver.wait_for_text("body", "Thank you");

    // Two signed orders from the shop platform: a first order and a repurchase.
    paid_order(app, &shop, "autumn-1", "128.00");
    paid_order(app, &shop, "autumn-2", "64.00");

    // The funnel moved.
    driver.open(&console);
    driver.find("#funnel");
    let funnel = driver.wait_for_text("#funnel", "扫码次数");
    let number = |step: &str| {
        driver
            .text(&format!("#funnel [data-step={step}] strong"))
            .replace(',', "")
    };
    assert_eq!(
        [
            number("scans"),
            number("leads"),
            number("first_orders"),
            number("repurchases")
        ],
        ["1", "1", "1", "1"],
        "{funnel}"
    );
    assert!(number("revenue").contains("192"), "{funnel}");
    let chart_drawn = driver.script(
        "const img = document.querySelector('#funnel-chart'); \
         await img.decode(); return img.naturalWidth;",
        json!([]),
    );
    assert_eq!(chart_drawn, json!(720), "the funnel chart is drawn");

    // A rule, and the segment it makes.
    driver.open(&format!("{console}#/segments/rules/new/edit"));
    driver.type_into("#rule-form input[name=name]", "Big spenders");
    driver.type_into("#rule-tag", "VIP");
    driver.type_into("#conditions input[name=value]", "100");
    driver.click("#save-rule");
    driver.wait_for_text("main", "Big spenders");
    // The scheduler's re-evaluation pass applies a new rule to customers already known.
    let (status, pass) = app.call(request(
        Method::POST,
        "/api/tagging/run",
        Some(&shop.api_key),
        Vec::new(),
    ));
    assert_eq!(status, 200, "{pass}");
    driver.open(&format!("{console}#/segments"));
    driver.wait_for_text("main", "VIP");
    driver.open(&format!("{console}#/segments/tag/VIP"));
    let members = driver.wait_for_text("#members", "Mei");
    assert!(members.contains("138****5678"), "masked: {members}");
    driver.click("#export-csv");
    let csv = String::from_utf8(driver.downloaded(".csv")).unwrap();
    assert_eq!(csv.trim().lines().count(), 2, "{csv}");
    assert!(csv.contains("138****5678") && !csv.contains(PHONE), "{csv}");

    // A campaign, and a coupon issued from it.
    driver.open(&format!("{console}#/campaigns/new"));
    driver.type_into("#campaign-name", "回购券");
    driver.type_into("#discount-amount", "10");
    driver.type_into("#campaign-form input[name=min_order]", "99");
    driver.click("#save-campaign");
    driver.find("#issue-customer");
    let campaign_id = driver
        .script("return location.hash.split('/')[2]", json!([]))
        .as_str()
        .unwrap()
        .to_string();
    driver.type_into("#issue-customer", PHONE);
    driver.click("#issue button[type=submit]");
    driver.wait_for_text("#notice", "已发放优惠券");
    // A print run of three codes, downloaded as CSV.
    driver.type_into("#batch input[name=name]", "autumn-cards");
    driver.type_into("#batch input[name=count]", "3");
    driver.click("#batch button[type=submit]");
    let batch = String::from_utf8(driver.downloaded("autumn-cards.csv")).unwrap();
    assert_eq!(batch.trim().lines().count(), 4, "{batch}");

    // A campaign of the platform's own codes, imported from a CSV file.
    driver.open(&format!("{console}#/campaigns/new"));
    driver.type_into("#campaign-name", "平台券");
    driver.type_into("#discount-amount", "5");
    driver.script(
        "const kind = document.querySelector('#code-kind'); kind.value = 'pool'; \
         kind.dispatchEvent(new Event('change'));",
        json!([]),
    );
    driver.click("#save-campaign");
    let file = driver.downloads.join("platform-codes.csv");
    std::fs::write(
        &file,
        "code\nTMALL-0001\nTMALL-0002\ntmall-0002\nTMALL-0003\n",
    )
    .unwrap();
    driver.type_into("#pool-import input[type=file]", file.to_str().unwrap());
    driver.click("#pool-import button[type=submit]");
    driver.wait_for_text("#notice", "导入 3 个，重复 1 个，券池共 3 个");

    // The customer's profile shows where the tags came from.
    driver.open(&format!("{console}#/customers"));
    driver.type_into("#lookup-value", PHONE);
    driver.click("#lookup button[type=submit]");
    let profile = driver.wait_for_text("main", "包裹卡客户");
    assert!(
        profile.contains("VIP") && profile.contains("138****5678"),
        "{profile}"
    );
    assert_eq!(driver.text("#order-count"), "2");
    assert!(profile.contains("回购券"), "the coupon issued: {profile}");
    let customer_id = driver
        .script("return location.hash.split('/')[2]", json!([]))
        .as_str()
        .unwrap()
        .to_string();

    // Reminder settings: a 30-day cycle for everything.
    driver.open(&format!("{console}#/reminders"));
    driver.type_into("#reminder-settings input[name=d_days_per_unit]", "30");
    driver.click("#save-reminders");
    driver.wait_for_text("#notice", "已保存");
    let (_, settings) = app.get("/api/reminders/settings", &shop.api_key);
    assert_eq!(settings["default"]["days_per_unit"], 30, "{settings}");

    // Names are shown as text, never run as markup; the page allows no inline script.
    let (status, _) = app.call(request(
        Method::POST,
        "/api/channels",
        Some(&shop.api_key),
        json!({"name": "<img src=x id=pwned onerror=alert(1)>", "kind": "poster",
               "target_url": "https://tea.example.com/"})
        .to_string()
        .into_bytes(),
    ));
    assert_eq!(status, 201);
    driver.open(&format!("{console}#/channels"));
    driver.wait_for_text("main", "<img src=x id=pwned");
    assert_eq!(
        driver.script(
            "return document.getElementById('pwned') === null",
            json!([])
        ),
        json!(true)
    );
    // (A plain request: the console reports no store operations, having none.)
    let page = app.agent().get(&console).call().unwrap();
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("script-src 'self'") && !policy.contains("unsafe"),
        "{policy}"
    );

    // An API error says what went wrong.
    driver.open(&format!("{console}#/channels/new"));
    driver.type_into("#channel-form input[name=name]", "Broken");
    driver.type_into(
        "#channel-form input[name=target_url]",
        "ftp://tea.example.com/",
    );
    driver.click("#save-channel");
    driver.wait_for_text("#notice", "invalid_field");
    driver.screenshot("console", "api-error-desktop");

    // Every page, desktop and phone width, in Chinese.
    let pages = pages(&channel_id, &customer_id, &campaign_id);
    for (width, height, device) in [(1280, 800, "desktop"), (390, 844, "phone")] {
        driver.resize(width, height);
        for (name, hash, heading) in &pages {
            driver.open(&format!("{console}{hash}"));
            driver.wait_for_text("main h1", heading);
            driver.screenshot("console", &format!("{name}-{device}"));
        }
    }

    // The language switch.
    driver.resize(1280, 800);
    driver.open(&format!("{console}#/overview"));
    driver.find("#funnel");
    driver.click("#language");
    driver.wait_for_text("nav", "Overview");
    driver.wait_for_text("#funnel", "Unique scanners");
    driver.screenshot("console", "overview-english-desktop");
    driver.click("#language");
    driver.wait_for_text("nav", "概览");
    // Settled: the last API call of the page is answered (each call renews the session).
    driver.wait_for_text("#funnel", "扫码次数");

    // An idle session expires: the console asks for the key again and says why.
    driver.script("sessionStorage.setItem('siyu.active', '0')", json!([]));
    driver.open(&format!("{console}#/channels"));
    driver.wait_for_text("#signin-message", "会话已过期");
    driver.screenshot("console", "session-expired-desktop");

    // Erasure, after the merchant types the confirmation word.
    sign_in(&driver, &shop.api_key);
    driver.open(&format!("{console}#/customers/{customer_id}"));
    driver.click("#erase");
    driver.answer_prompt("删除");
    driver.wait_for_text("#notice", "个人信息已删除");
    assert_eq!(driver.text("#masked-phone"), "—");

    // Signing out forgets the key.
    driver.click("#signout");
    driver.wait_for_text("#signin-message", "已退出登录");
    let kept: Value = driver.script("return sessionStorage.getItem('siyu.key')", json!([]));
    assert_eq!(kept, Value::Null);

    // An operator's key: no key management; revoked by the owner, it is asked for again.
    let (status, made) = app.call(request(
        Method::POST,
        "/api/shop/keys",
        Some(&shop.api_key),
        json!({"name": "运营 ops"}).to_string().into_bytes(),
    ));
    assert_eq!(status, 201, "{made}");
    sign_in(&driver, made["api_key"].as_str().unwrap());
    driver.open(&format!("{console}#/settings"));
    driver.wait_for_text("main", "只有店主密钥可以管理 API 密钥");
    let (status, _) = app.call(request(
        Method::DELETE,
        &format!("/api/shop/keys/{}", made["id"].as_str().unwrap()),
        Some(&shop.api_key),
        Vec::new(),
    ));
    assert_eq!(status, 200);
    driver.open(&format!("{console}#/channels"));
    driver.wait_for_text("#signin-message", "密钥已失效");
    driver.screenshot("console", "key-revoked-desktop");

    // The keys never reached a URL or a log line.
    let logs = app.component_stderr();
    assert!(logs.contains("/api/channels"), "access logs are kept");
    for key in [shop.api_key.as_str(), made["api_key"].as_str().unwrap()] {
        assert!(!logs.contains(key), "a key in the logs");
    }
}

/// The same console in Firefox: sign in, make a channel and download its QR code, read the
/// overview and its chart, switch language; screenshots at desktop and phone width.
#[test]
fn the_console_works_in_firefox() {
    let Some(geckodriver) = webdriver(Browser::Firefox) else {
        return;
    };
    let app = siyu_tests::spin_up::shared(Flavour::KeyValue).expect("spin.toml runs");
    let shop = app.shop_with_all_platforms();
    let console = format!("{}/console/", app.base);
    let driver = Driver::start_browser(Browser::Firefox, &geckodriver, 1280, 800);
    driver.open(&console);
    driver.type_into("#api-key", "not-a-key");
    driver.click("#signin");
    driver.wait_for_text("#signin-message", "密钥无效");
    sign_in(&driver, &shop.api_key);

    let scan_url = new_channel(
        &driver,
        &console,
        "海报 · Firefox",
        "https://tea.example.com/",
        "",
    );
    driver.click("#download-png");
    assert_eq!(decode_png(&driver.downloaded(".png")), scan_url);
    driver.screenshot("console/firefox", "channel-desktop");

    driver.open(&format!("{console}#/overview"));
    driver.wait_for_text("#funnel", "扫码次数");
    let chart_drawn = driver.script(
        "const img = document.querySelector('#funnel-chart'); \
         if (!img) return 'no chart (no days)'; await img.decode(); return img.naturalWidth;",
        json!([]),
    );
    assert_eq!(chart_drawn, json!(720), "the funnel chart is drawn");
    driver.screenshot("console/firefox", "overview-desktop");
    driver.resize(390, 844);
    driver.screenshot("console/firefox", "overview-phone");
    driver.click("#language");
    driver.wait_for_text("#funnel", "Unique scanners");
    driver.screenshot("console/firefox", "overview-english-phone");
}

/// A merchant whose reminders are not going out is told, in the console, why and what to do:
/// first because nothing has dispatched them for a long time (the scheduler is not running),
/// then, once it runs, because their receiver refuses every delivery. On an instance of its
/// own: the scheduler's call reaches every shop of the store.
#[test]
fn the_console_warns_when_reminders_are_late_or_deliveries_fail() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let app =
        SpinUp::start_as(Flavour::KeyValue, None, &Launch::default()).expect("spin.toml runs");
    let receiver = Receiver::start();
    receiver.answer_with(&[503; 50]);
    let shop = scenarios::shop_due_now(&app, &receiver);
    scenarios::buyers(&app, &shop, 0, 3);
    let console = format!("{}/console/", app.base);
    let driver = Driver::start(&chromedriver, 1280, 800);
    driver.open(&console);
    sign_in(&driver, &shop.api_key);
    let late = driver.wait_for_text("#health-reminders_late", "复购提醒已延迟");
    assert!(late.contains("POST /api/jobs/run"), "{late}");
    driver.screenshot("console", "banner-reminders-late-desktop");

    scenarios::run_jobs(&app);
    driver.open(&format!("{console}#/reminders"));
    driver.wait_for_text("#health-delivery_failing", "投递一直失败");
    assert_eq!(
        driver.script(
            "return document.querySelectorAll('#health-reminders_late').length",
            json!([])
        ),
        json!(0),
        "the scheduler ran: nothing is late any more"
    );
    driver.resize(390, 844);
    driver.screenshot("console", "banner-delivery-failing-phone");
    driver.click("#language");
    driver.wait_for_text("#health-delivery_failing", "Check the delivery URL");
}
