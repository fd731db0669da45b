//! The API contract (`GET /api/openapi.json`): valid OpenAPI 3.1, covering every route Spin
//! sends to a component and every operation the handlers serve, and — read by schemathesis
//! against the app under a real `spin up` — kept by every answer.

use std::sync::Arc;

use http::Method;
use serde_json::Value;

use siyu::api::router::Access;
use siyu::api::COMPONENTS;
use siyu_tests::app::{request, TestApp, OPERATOR_TOKEN, SCHEDULER_TOKEN};
use siyu_tests::client::Client;
use siyu_tests::contract::{schemathesis, schemathesis_config, seed, tool, work_dir};
use siyu_tests::redis_server::{self, RedisServer};
use siyu_tests::routes::Manifest;
use siyu_tests::spin_up::{Flavour, SpinUp};

const MANIFESTS: [&str; 3] = ["spin.toml", "spin.redis.toml", "spin.cloud.toml"];

/// A path of the template with every parameter filled in.
fn sample_path(template: &str) -> String {
    template
        .split('/')
        .map(|s| if s.starts_with('{') { "x1" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let document = siyu::api::openapi::document(Some("http://localhost:3000"));
    assert_eq!(document["openapi"], "3.1.0");
    let Some(validator) = tool("openapi-spec-validator") else {
        return;
    };
    let path = work_dir("document").join("openapi.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&document).unwrap()).unwrap();
    let output = std::process::Command::new(validator)
        .arg(&path)
        .output()
        .expect("openapi-spec-validator runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_route_spin_serves_is_documented_under_its_component() {
    let document = siyu::api::openapi::document(None);
    let paths = document["paths"].as_object().unwrap();
    for name in MANIFESTS {
        let manifest = Manifest::load_file(name);
        // Each documented operation is sent by Spin to the component that documents it.
        for component in COMPONENTS {
            for operation in component.operations {
                let path = sample_path(operation.path);
                assert_eq!(
                    manifest.component_for(&path),
                    Some(component.name),
                    "{name} sends {path} elsewhere than {}",
                    component.name
                );
            }
        }
        // Each route of the manifest leads to at least one documented path.
        for route in &manifest.routes {
            let covered = paths.keys().any(|template| {
                let path = sample_path(template);
                route.matches(&path)
                    && manifest.component_for(&path) == Some(route.component.as_str())
            });
            assert!(covered, "{name}: route {} is not documented", route.pattern);
        }
    }
}

#[test]
fn every_documented_operation_reaches_its_handler_and_others_are_refused() {
    let app = TestApp::new();
    let shop = app.shop_with_all_platforms();
    for component in COMPONENTS {
        for operation in component.operations {
            let bearer = match operation.access {
                Access::ShopKey | Access::OwnerKey | Access::Scoped(_) => {
                    Some(shop.api_key.as_str())
                }
                Access::Operator => Some(OPERATOR_TOKEN),
                Access::Scheduler => Some(SCHEDULER_TOKEN),
                Access::Public | Access::Signed(_) => None,
            };
            let path = sample_path(operation.path).replace("x1", &shop.id);
            let reply = app.send(request(
                operation.method.clone(),
                &path,
                bearer,
                b"{}".to_vec(),
            ));
            let code = reply.json()["error"]["code"].clone();
            assert!(
                code != "unknown_route" && code != "method_not_allowed",
                "{} {}: the handler has no arm for it ({code})",
                operation.method,
                operation.path
            );
        }
    }
    // A method the document does not list for a path: 405 naming the ones it does.
    let reply = app.send(request(
        Method::DELETE,
        "/api/campaigns",
        Some(&shop.api_key),
        Vec::new(),
    ));
    assert_eq!(reply.status, 405);
    assert_eq!(
        reply.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, POST")
    );
    let reply = app.send(request(Method::GET, "/api/nothing-here", None, Vec::new()));
    assert_eq!(
        (reply.status, reply.json()["error"]["code"].clone()),
        (404, Value::from("unknown_route"))
    );
}

/// Fuzzes every operation of `flavour` under its own `spin up`, `examples` cases per operation
/// and phase; the operator routes that close a shop or replace its key run last, on a shop of
/// their own (they would end the seeded shop's key).
fn fuzz(flavour: Flavour, examples: u32, phases: &str) {
    let Some(program) = tool("schemathesis") else {
        return;
    };
    if flavour == Flavour::Redis && !redis_server::available() {
        return;
    }
    let redis = (flavour == Flavour::Redis).then(|| Arc::new(RedisServer::start()));
    let app = SpinUp::start(flavour, redis);
    let seeded = seed(&app);
    let config = schemathesis_config(&seeded);
    let name = flavour
        .manifest()
        .trim_end_matches(".toml")
        .replace('.', "-");
    let destructive = "^/api/shops/\\{id\\}/(redact|api-key)$";
    let run = schemathesis(
        &program,
        &app.base,
        &config,
        examples,
        &[
            "--exclude-path-regex",
            destructive,
            "--phases",
            phases,
            "--report",
            "har",
        ],
        &name,
    );
    eprintln!("{name}: {}; {}", run.operations(), run.cases());
    assert!(run.passed, "{}", run.output);

    let doomed = app.create_shop(siyu_tests::platforms::shop_body("Doomed"));
    let config = format!(
        "{config}\n[[operations]]\ninclude-path-regex = \"^/api/shops/\"\n\
         parameters = {{ \"path.id\" = \"{}\" }}\n",
        doomed.id
    );
    let run = schemathesis(
        &program,
        &app.base,
        &config,
        examples.min(10),
        &["--include-path-regex", destructive, "--phases", phases],
        &format!("{name}-operator"),
    );
    eprintln!("{name} (operator): {}; {}", run.operations(), run.cases());
    assert!(run.passed, "{}", run.output);
}

const EVERY_PHASE: &str = "examples,coverage,fuzzing,stateful";

/// The default store, in depth.
#[test]
fn schemathesis_finds_nothing_wrong_under_real_spin() {
    fuzz(Flavour::KeyValue, 25, EVERY_PHASE);
}

/// The same contract on the other stores, in a shorter pass: what differs there is storage,
/// not the handlers, so random and stateful cases (without the coverage phase's sweep of
/// every boundary value, which the default store has had) look for what a store changes.
#[test]
fn schemathesis_finds_nothing_wrong_on_redis_and_the_sqlite_database() {
    fuzz(Flavour::Redis, 25, "examples,fuzzing,stateful");
    fuzz(Flavour::Sqlite, 25, "examples,fuzzing,stateful");
}
