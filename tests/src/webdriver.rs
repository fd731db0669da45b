//! Real browsers over WebDriver: Chromium through chromedriver (Debian's `chromium` and
//! `chromium-driver`) and Firefox through geckodriver (Debian's `firefox-esr`, geckodriver
//! from crates.io), both installed by `.ci/run`: open pages, type, click, wait for what a
//! person would wait for, and save screenshots under `target/artifacts/`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::routes::workspace_root;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser the tests drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    Chromium,
    Firefox,
}

impl Browser {
    pub fn name(self) -> &'static str {
        match self {
            Browser::Chromium => "chromium",
            Browser::Firefox => "firefox",
        }
    }
}

/// The WebDriver program for `browser`, or None (then the caller skips, except on CI,
/// which must have it).
pub fn webdriver(browser: Browser) -> Option<PathBuf> {
    let (candidates, install): (Vec<PathBuf>, &str) = match browser {
        Browser::Chromium => (
            vec![
                "/usr/bin/chromedriver".into(),
                "/usr/lib/chromium/chromedriver".into(),
            ],
            "apt-get install chromium chromium-driver",
        ),
        Browser::Firefox => (
            std::env::var_os("PATH")
                .map(|path| {
                    std::env::split_paths(&path)
                        .map(|d| d.join("geckodriver"))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
                .into_iter()
                .chain(
                    std::env::var_os("HOME")
                        .map(|h| PathBuf::from(h).join(".cargo/bin/geckodriver")),
                )
                .filter(|_| Path::new("/usr/bin/firefox-esr").exists())
                .collect(),
            "apt-get install firefox-esr; cargo install geckodriver",
        ),
    };
    let found = candidates.into_iter().find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install {} (see .ci/run)",
            browser.name()
        );
        eprintln!("skipped: {} is not installed ({install})", browser.name());
    }
    found
}

/// chromedriver's path, or None (see `webdriver`).
pub fn chromedriver() -> Option<PathBuf> {
    webdriver(Browser::Chromium)
}

pub struct Driver {
    pub browser: Browser,
    process: Child,
    base: String,
    session: String,
    /// Where the browser saves downloads.
    pub downloads: PathBuf,
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

fn send(request: Result<ureq::http::Response<ureq::Body>, ureq::Error>, what: &str) -> Value {
    let mut response = request.unwrap_or_else(|e| panic!("{what}: {e}"));
    response.body_mut().read_json::<Value>().unwrap()["value"].clone()
}

/// WebDriver answers "no such element" and the like with 4xx and a JSON body: read it.
fn agent() -> &'static ureq::Agent {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into()
    })
}

fn post(url: &str, body: Value) -> Value {
    send(agent().post(url).send_json(&body), url)
}

fn get(url: &str) -> Value {
    send(agent().get(url).call(), url)
}

impl Driver {
    /// A headless Chromium of `width`×`height` (see `start_browser`).
    pub fn start(chromedriver: &Path, width: u32, height: u32) -> Self {
        Self::start_browser(Browser::Chromium, chromedriver, width, height)
    }

    /// A headless `browser` of `width`×`height` through its WebDriver `program`, saving
    /// downloads to a fresh folder.
    pub fn start_browser(browser: Browser, program: &Path, width: u32, height: u32) -> Self {
        let port = free_port();
        let process = Command::new(program)
            .arg(format!("--port={port}"))
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", program.display()));
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while ureq::get(&format!("{base}/status")).call().is_err() {
            assert!(
                Instant::now() < deadline,
                "{} did not come up",
                program.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = std::env::temp_dir().join(format!("siyu-{}-{port}", browser.name()));
        let downloads = std::env::temp_dir().join(format!("siyu-downloads-{port}"));
        let _ = std::fs::remove_dir_all(&downloads);
        std::fs::create_dir_all(&downloads).unwrap();
        let folder = downloads.display().to_string();
        let capabilities = match browser {
            Browser::Chromium => json!({"goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-quic", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         format!("--window-size={width},{height}"),
                         format!("--user-data-dir={}", profile.display())],
                "prefs": {"download.default_directory": folder, "download.prompt_for_download": false}
            }}),
            Browser::Firefox => json!({"moz:firefoxOptions": {
                "binary": "/usr/bin/firefox-esr",
                "args": ["-headless", format!("--width={width}"), format!("--height={height}")],
                "prefs": {"browser.download.folderList": 2, "browser.download.dir": folder,
                          "browser.download.useDownloadDir": true,
                          "browser.download.always_ask_before_handling_new_types": false,
                          "browser.helperApps.neverAsk.saveToDisk": "image/png,image/svg+xml,text/csv"}
            }}),
        };
        let session = post(
            &format!("{base}/session"),
            json!({"capabilities": {"alwaysMatch": capabilities}}),
        );
        let driver = Self {
            browser,
            process,
            base,
            session: session["sessionId"]
                .as_str()
                .unwrap_or_else(|| panic!("a {} session: {session}", browser.name()))
                .to_string(),
            downloads,
        };
        driver.resize(width, height);
        driver
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    pub fn open(&self, page: &str) {
        post(&self.url("/url"), json!({"url": page}));
    }

    /// The page's viewport size, e.g. a phone's 390×844.
    pub fn resize(&self, width: u32, height: u32) {
        post(
            &self.url("/window/rect"),
            json!({"width": width, "height": height}),
        );
    }

    /// The first element matching `css`, waiting up to 10 s for it to appear.
    pub fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = post(
                &self.url("/element"),
                json!({"using": "css selector", "value": css}),
            );
            if let Some(id) = found[ELEMENT].as_str() {
                return id.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no {css} on {}: {}",
                self.script("return location.href", json!([])),
                self.text("body")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        post(&self.url(&format!("/element/{element}/clear")), json!({}));
        post(
            &self.url(&format!("/element/{element}/value")),
            json!({"text": text}),
        );
    }

    pub fn click(&self, css: &str) {
        let element = self.find(css);
        post(&self.url(&format!("/element/{element}/click")), json!({}));
    }

    /// Types `text` into the open prompt dialog and accepts it.
    pub fn answer_prompt(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while post(&self.url("/alert/text"), json!({"text": text}))["error"].is_string() {
            assert!(Instant::now() < deadline, "no prompt opened");
            std::thread::sleep(Duration::from_millis(100));
        }
        post(&self.url("/alert/accept"), json!({}));
    }

    /// The visible text of the first element matching `css`.
    pub fn text(&self, css: &str) -> String {
        self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
            json!([css]),
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Runs `body` (a function body) in the page with `args`, returning what it returns.
    pub fn script(&self, body: &str, args: Value) -> Value {
        post(
            &self.url("/execute/async"),
            json!({"script": format!("const done = arguments[arguments.length - 1]; \
                Promise.resolve((async (...args) => {{ {body} }})(...Array.from(arguments).slice(0, -1))) \
                .then(done, (e) => done('error: ' + e));"), "args": args}),
        )
    }

    /// Waits up to 15 s until `css`'s text contains `wanted`.
    pub fn wait_for_text(&self, css: &str, wanted: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = self.text(css);
            if text.contains(wanted) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never showed {wanted:?}; it shows {text:?}; the page: {}",
                self.text("body")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn page_source(&self) -> String {
        get(&self.url("/source"))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// A Chrome DevTools Protocol command (Chromium only).
    pub fn cdp(&self, cmd: &str, params: Value) -> Value {
        assert_eq!(
            self.browser,
            Browser::Chromium,
            "DevTools commands are Chromium's"
        );
        post(
            &self.url("/goog/cdp/execute"),
            json!({"cmd": cmd, "params": params}),
        )
    }

    /// Saves a screenshot of the whole page (not only the window) as
    /// `target/artifacts/{folder}/{name}.png`.
    pub fn screenshot(&self, folder: &str, name: &str) -> PathBuf {
        use base64::Engine;
        let data = match self.browser {
            Browser::Chromium => {
                let size = &self.cdp("Page.getLayoutMetrics", json!({}))["cssContentSize"];
                self.cdp(
                    "Page.captureScreenshot",
                    json!({"captureBeyondViewport": true, "clip": {"x": 0, "y": 0,
                        "width": size["width"], "height": size["height"], "scale": 1}}),
                )["data"]
                    .clone()
            }
            Browser::Firefox => get(&self.url("/moz/screenshot/full")),
        };
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("a screenshot"))
            .unwrap();
        let dir = workspace_root().join("target/artifacts").join(folder);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        assert!(
            std::fs::metadata(&path).unwrap().len() > 1000,
            "an empty screenshot"
        );
        path
    }

    /// Waits up to 15 s for a finished download whose name ends with `suffix`.
    pub fn downloaded(&self, suffix: &str) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let done = std::fs::read_dir(&self.downloads)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().ends_with(suffix));
            if let Some(path) = done {
                return std::fs::read(path).unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "no download ending {suffix} in {}",
                self.downloads.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
