//! The API contract's outside checkers: `openapi-spec-validator` and `schemathesis`, the
//! Python tools pinned in tests/contract/requirements.txt, and the data schemathesis needs to
//! get past "not found" into the app's logic.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use http::Method;
use serde_json::{json, Value};

use crate::app::{request, TestShop, OPERATOR_TOKEN, SCHEDULER_TOKEN};
use crate::client::Client;
use crate::platforms::{shopify_order, CUPS, TEA};
use crate::scenarios::{customer_by_phone, mei, send_shopify, PHONE};

/// A contract tool on PATH. Without it the test says it skipped — except in CI (`CI` set),
/// where its absence fails: .ci/run installs the pinned versions.
pub fn tool(name: &str) -> Option<PathBuf> {
    if let Some(path) = crate::processes::on_path(name) {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must install {name} (see .ci/run and tests/contract/requirements.txt)"
    );
    eprintln!(
        "skipped: {name} is not installed (python3 -m venv .venv && \
         .venv/bin/pip install -r tests/contract/requirements.txt, then put .venv/bin on PATH)"
    );
    None
}

/// Where the contract tests write what they hand the tools and what the tools answer.
pub fn work_dir(name: &str) -> PathBuf {
    let dir = crate::routes::workspace_root()
        .join("target")
        .join("contract")
        .join(name);
    std::fs::create_dir_all(&dir).expect("target/contract is writable");
    dir
}

/// One of each resource the path parameters name, so fuzzed requests reach real records.
pub struct Seeded {
    pub shop: TestShop,
    pub customer: String,
    pub channel: String,
    pub channel_code: String,
    pub campaign: String,
    pub coupon: String,
    pub batch: String,
    pub rule: String,
    pub tag: String,
    pub unsubscribe_token: String,
    pub other_key: String,
}

fn created(app: &dyn Client, shop: &TestShop, path: &str, body: Value) -> Value {
    let (status, answer) = app.call(request(
        Method::POST,
        path,
        Some(&shop.api_key),
        body.to_string().into_bytes(),
    ));
    assert!(
        (200..300).contains(&status),
        "seeding {path}: {status} {answer}"
    );
    answer
}

fn text(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {value}"))
        .to_string()
}

/// A shop with every platform connected, a customer with an order, a tag, a channel, a
/// campaign with an issued coupon and a print batch, a rule and a second key.
pub fn seed(app: &dyn Client) -> Seeded {
    let shop = app.shop_with_all_platforms();
    let order = shopify_order(9001, &mei(), "paid", "109.90", &[TEA, CUPS]);
    assert_eq!(
        send_shopify(app, &shop, "orders/paid", &order, "seed").0,
        200
    );
    let customer = text(&customer_by_phone(app, &shop, PHONE).1, "id");
    created(
        app,
        &shop,
        &format!("/api/customers/{customer}/tags"),
        json!({"add": ["vip"]}),
    );
    let channel = created(
        app,
        &shop,
        "/api/channels",
        json!({"name": "Package card", "target_url": "https://tea.example.com/"}),
    );
    let campaign = created(
        app,
        &shop,
        "/api/campaigns",
        json!({"name": "Welcome", "discount": {"type": "fixed_amount", "amount_minor": 1000},
               "quota": 1000, "per_customer_limit": 1000}),
    );
    let campaign_id = text(&campaign, "id");
    let coupon = created(
        app,
        &shop,
        &format!("/api/campaigns/{campaign_id}/issue"),
        json!({"customer_id": customer}),
    );
    created(
        app,
        &shop,
        &format!("/api/campaigns/{campaign_id}/batches"),
        json!({"name": "print-1", "count": 20}),
    );
    let rule = created(
        app,
        &shop,
        "/api/rules",
        json!({"tag": "repeat", "condition": {"order_count": {"gte": 2}}}),
    );
    let reminders = app.get(
        &format!("/api/customers/{customer}/reminders"),
        &shop.api_key,
    );
    let unsubscribe_path = text(&reminders.1, "unsubscribe_path");
    let other_key = created(
        app,
        &shop,
        "/api/shop/keys",
        json!({"name": "ERP", "scopes": []}),
    );
    Seeded {
        customer,
        channel: text(&channel, "id"),
        channel_code: text(&channel, "code"),
        campaign: campaign_id,
        coupon: text(&coupon, "code"),
        batch: "print-1".into(),
        rule: text(&rule, "id"),
        tag: "vip".into(),
        unsubscribe_token: unsubscribe_path.trim_start_matches("/r/u/").to_string(),
        other_key: text(&other_key, "id"),
        shop,
    }
}

/// schemathesis.toml: the credentials of each security scheme, the seeded records as the
/// path parameters of the operations that name them, and the statuses a schema-valid
/// request may get beyond 2xx (422 for business rules JSON Schema cannot state: a time
/// zone that exists, thresholds that rise). An operation takes the first entry it matches.
pub fn schemathesis_config(seeded: &Seeded) -> String {
    // Rules across query parameters, which OpenAPI cannot state (exactly one of ?phone=,
    // ?email=, ?wecom_external_id=; a stats window of at most 366 days): each parameter
    // valid alone, together they may get a 400.
    const ACROSS_PARAMETERS: bool = true;
    let entries: [(&str, Value, bool); 13] = [
        ("^/api/customers$", json!({}), ACROSS_PARAMETERS),
        ("^/api/channels/stats$", json!({}), ACROSS_PARAMETERS),
        (
            "^/api/channels/\\{id\\}/stats$",
            json!({"path.id": seeded.channel}),
            ACROSS_PARAMETERS,
        ),
        (
            "^/api/customers/\\{id\\}",
            json!({"path.id": seeded.customer}),
            false,
        ),
        (
            "^/api/channels/\\{id\\}",
            json!({"path.id": seeded.channel}),
            false,
        ),
        (
            "^/q/\\{code\\}",
            json!({"path.code": seeded.channel_code}),
            false,
        ),
        (
            "^/api/campaigns/\\{id\\}/batches/\\{name\\}",
            json!({"path.id": seeded.campaign, "path.name": seeded.batch}),
            false,
        ),
        (
            "^/api/campaigns/\\{id\\}",
            json!({"path.id": seeded.campaign}),
            false,
        ),
        (
            "^/api/coupons/\\{code\\}",
            json!({"path.code": seeded.coupon}),
            false,
        ),
        (
            "^/api/rules/\\{id\\}",
            json!({"path.id": seeded.rule}),
            false,
        ),
        (
            "^/api/tags/\\{tag\\}",
            json!({"path.tag": seeded.tag}),
            false,
        ),
        (
            "^/api/shop/keys/\\{id\\}",
            json!({"path.id": seeded.other_key}),
            false,
        ),
        (
            "^/r/u/\\{token\\}",
            json!({"path.token": seeded.unsubscribe_token}),
            false,
        ),
    ];
    let mut config = format!(
        "[auth.openapi.shopKey]\nbearer = \"{}\"\n\
         [auth.openapi.operatorToken]\nbearer = \"{OPERATOR_TOKEN}\"\n\
         [auth.openapi.schedulerToken]\nbearer = \"{SCHEDULER_TOKEN}\"\n\
         [checks.positive_data_acceptance]\n\
         expected-statuses = [\"2xx\", \"3xx\", \"401\", \"403\", \"404\", \"409\", \"410\", \"422\", \"429\"]\n",
        seeded.shop.api_key
    );
    let webhooks = json!({"path.shop": seeded.shop.id});
    for (regex, parameters, across) in
        entries
            .into_iter()
            .chain([("^/(webhooks/[a-z]+|wecom)/\\{shop\\}", webhooks, false)])
    {
        // Not for DELETE: pinned, the first fuzzed delete would take the seeded record from
        // every later case (and the stateful phase's deletes of what it just created would
        // be sent to the pinned id instead).
        config.push_str(&format!(
            "\n[[operations]]\ninclude-path-regex = {}\nexclude-method = \"DELETE\"\n\
             parameters = {}\n",
            toml_string(regex),
            toml_inline_table(&parameters)
        ));
        if across {
            config.push_str(
                "checks.positive_data_acceptance.expected-statuses = \
                 [\"2xx\", \"400\", \"401\", \"404\", \"422\"]\n",
            );
        }
        // Nor may the stateful phase delete a pinned record: it finds the seeded ones
        // through list answers, and every later case pinned to it would answer 404. Its
        // deletes are still fuzzed, on ids of their own.
        config.push_str(&format!(
            "\n[[operations]]\ninclude-path-regex = {}\ninclude-method = \"DELETE\"\n\
             phases.stateful.enabled = false\n",
            toml_string(regex),
        ));
    }
    config
}

fn toml_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

fn toml_inline_table(object: &Value) -> String {
    let pairs: Vec<String> = object
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            format!(
                "{} = {}",
                toml_string(k),
                toml_string(v.as_str().unwrap_or(""))
            )
        })
        .collect();
    format!("{{ {} }}", pairs.join(", "))
}

/// What a schemathesis run printed, and whether it passed.
pub struct FuzzRun {
    pub passed: bool,
    pub output: String,
}

impl FuzzRun {
    /// The summary's "N generated, …" line.
    pub fn cases(&self) -> &str {
        self.output
            .lines()
            .find(|l| l.contains(" generated, "))
            .unwrap_or("no summary")
            .trim()
    }

    /// The summary's "Tested: N" line.
    pub fn operations(&self) -> &str {
        self.output
            .lines()
            .find(|l| l.trim_start().starts_with("Tested:"))
            .unwrap_or("no summary")
            .trim()
    }
}

/// Runs `schemathesis run` on the document at `base` with `config`, every check, a fixed seed
/// (the same cases each run), `examples` cases per operation and phase, and `args`.
pub fn schemathesis(
    program: &std::path::Path,
    base: &str,
    config: &str,
    examples: u32,
    args: &[&str],
    name: &str,
) -> FuzzRun {
    let dir = work_dir(name);
    std::fs::write(dir.join("schemathesis.toml"), config).expect("config written");
    let output_path = dir.join("output.txt");
    let output_file = std::fs::File::create(&output_path).expect("output file");
    let mut child = Command::new(program)
        .current_dir(&dir)
        .arg("run")
        .arg(format!("{base}/api/openapi.json"))
        .args(["--checks", "all", "--seed", "1", "--no-color"])
        // One worker: hypothesis parses with `ast`, which CPython 3.11 does not guard for
        // threads ("AST constructor recursion depth mismatch").
        .args(["--workers", "1"])
        .args(["--max-examples", &examples.to_string()])
        .args(args)
        .stdout(output_file.try_clone().expect("output file"))
        .stderr(output_file)
        .spawn()
        .expect("schemathesis starts");
    // Bounded: a run that hangs fails rather than holding CI.
    let deadline = std::time::Instant::now() + Duration::from_secs(900);
    let status = loop {
        if let Some(status) = child.try_wait().expect("schemathesis runs") {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    FuzzRun {
        passed: status.is_some_and(|s| s.success()),
        output: std::fs::read_to_string(&output_path).unwrap_or_default(),
    }
}
