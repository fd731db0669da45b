//! The hosted lead form in a real browser: headless Chromium, driven over WebDriver by
//! chromedriver (Debian's `chromium` and `chromium-driver`, installed by `.ci/run`), against
//! the wasm components served on loopback. Screenshots go to `target/artifacts/`.

use std::time::{Duration, Instant};

use serde_json::json;
use siyu_tests::client::Client;
use siyu_tests::host::listen;
use siyu_tests::wasm::host;
use siyu_tests::webdriver::{chromedriver, Driver};

#[test]
fn a_person_signs_up_through_the_hosted_form_in_chromium() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let h = host();
    let address = h
        .runtime
        .block_on(listen(h.app.clone(), "127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let shop = h.shop_with_all_platforms();
    let (status, channel) = h.call(siyu_tests::app::request(
        http::Method::POST,
        "/api/channels",
        Some(&shop.api_key),
        json!({"name": "Tea House · 包裹卡", "kind": "package_card", "tags": ["browser"], "target_url": "https://tea.example.com/"})
            .to_string()
            .into_bytes(),
    ));
    assert_eq!(status, 201, "{channel}");
    let code = channel["code"].as_str().unwrap();

    let driver = Driver::start(&chromedriver, 420, 900);
    driver.open(&format!("http://{address}/q/{code}/form"));
    assert!(driver.page_source().contains("欢迎加入 Tea House"));
    driver.type_into("#name", "Mei");
    driver.type_into("#phone", "138 1234 5678");
    driver.click("#notice_accepted");
    driver.click("#marketing");
    driver.screenshot("consumer", "lead-form-filled");
    driver.click("button[type=submit]");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !driver.page_source().contains("Thank you") {
        assert!(
            Instant::now() < deadline,
            "no thank-you page: {}",
            driver.page_source()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    driver.screenshot("consumer", "lead-form-thank-you");

    let (status, customer) = h.get("/api/customers?phone=%2B8613812345678", &shop.api_key);
    assert_eq!(status, 200);
    let tags: Vec<_> = customer["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert!(tags.contains(&json!("browser")), "{customer}");
}
