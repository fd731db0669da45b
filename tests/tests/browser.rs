//! The hosted lead form in a real browser: headless Chromium, driven over WebDriver by
//! chromedriver (Debian's `chromium` and `chromium-driver`, installed by `.ci/run`), against
//! the wasm components served on loopback. Screenshots go to `target/artifacts/`.

use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use siyu_tests::client::Client;
use siyu_tests::host::listen;
use siyu_tests::routes::workspace_root;
use siyu_tests::wasm::host;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    process: Child,
    base: String,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        let _ = self.process.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn post(url: &str, body: Value) -> Value {
    let mut response = ureq::post(url)
        .send_json(&body)
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    response.body_mut().read_json::<Value>().unwrap()["value"].clone()
}

fn get(url: &str) -> Value {
    let mut response = ureq::get(url)
        .call()
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    response.body_mut().read_json::<Value>().unwrap()["value"].clone()
}

impl Driver {
    fn start(chromedriver: &str) -> Self {
        let port = free_port();
        let process = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while ureq::get(&format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = std::env::temp_dir().join(format!("siyu-chromium-{port}"));
        let session = post(
            &format!("{base}/session"),
            json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-quic", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--window-size=420,900",
                         format!("--user-data-dir={}", profile.display())]
            }}}}),
        );
        Self {
            process,
            base,
            session: session["sessionId"]
                .as_str()
                .expect("a session")
                .to_string(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    fn open(&self, page: &str) {
        post(&self.url("/url"), json!({"url": page}));
    }

    fn find(&self, css: &str) -> String {
        let found = post(
            &self.url("/element"),
            json!({"using": "css selector", "value": css}),
        );
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no {css}: {found}"))
            .to_string()
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        post(
            &self.url(&format!("/element/{element}/value")),
            json!({"text": text}),
        );
    }

    fn click(&self, css: &str) {
        let element = self.find(css);
        post(&self.url(&format!("/element/{element}/click")), json!({}));
    }

    fn page_source(&self) -> String {
        get(&self.url("/source"))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn screenshot(&self, name: &str) -> std::path::PathBuf {
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD
            .decode(get(&self.url("/screenshot")).as_str().unwrap())
            .unwrap();
        let dir = workspace_root().join("target/artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, png).unwrap();
        path
    }
}

#[test]
fn a_person_signs_up_through_the_hosted_form_in_chromium() {
    let Some(chromedriver) = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium-driver (see .ci/run)"
        );
        eprintln!(
            "skipped: chromedriver is not installed (apt-get install chromium chromium-driver)"
        );
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

    let driver = Driver::start(chromedriver);
    driver.open(&format!("http://{address}/q/{code}/form"));
    assert!(driver.page_source().contains("Tea House · 包裹卡"));
    driver.type_into("#name", "Mei");
    driver.type_into("#phone", "138 1234 5678");
    driver.click("#consent");
    driver.screenshot("lead-form-filled.png");
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
    let shot = driver.screenshot("lead-form-thank-you.png");
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 1000,
        "an empty screenshot"
    );

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
