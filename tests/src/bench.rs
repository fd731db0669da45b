//! What the real-`spin up` benchmarks share: `wrk` at concurrency 32 and its figures, repeat
//! customers to order again, and pre-signed Shopify orders for `wrk` to send.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::client::Client;
use crate::platforms::{bench_order, sign_shopify, SHOPIFY_SECRET};
use crate::spin_up::SpinUp;

pub const CONCURRENCY: u32 = 32;
/// Repeat customers the ingest case cycles through.
pub const CUSTOMERS: u64 = 1_000;

/// `wrk` on PATH, or the process ends saying how to install it.
pub fn wrk_or_exit() -> PathBuf {
    crate::processes::on_path("wrk").unwrap_or_else(|| {
        eprintln!("wrk is not installed (Debian/Ubuntu: apt-get install wrk)");
        std::process::exit(2);
    })
}

/// Where the benchmarks keep their scripts and orders.
pub fn out_dir() -> PathBuf {
    let dir = crate::routes::workspace_root().join("target/spin-up/bench");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub struct Measured {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
}

/// `CUSTOMERS` customers of the shop, each with one order already.
pub fn seed_repeat_customers(app: &SpinUp, shop_id: &str) {
    std::thread::scope(|s| {
        for worker in 0..16 {
            s.spawn(move || {
                for customer in (worker..CUSTOMERS).step_by(16) {
                    let body = bench_order(customer, customer);
                    let reply = app.send(signed(shop_id, &body, &format!("seed-{customer}")));
                    assert_eq!(reply.status, 200);
                }
            });
        }
    });
}

/// A wrk script sending new orders of the repeat customers, pre-signed (wrk cannot sign),
/// enough for `seconds` at the fastest store's rate.
pub fn ingest_script(out_dir: &Path, name: &str, shop_id: &str, seconds: u32) -> PathBuf {
    let orders = out_dir.join(format!("{name}-orders.tsv"));
    let expected = 6_000 * u64::from(seconds);
    let mut lines = String::new();
    for n in 0..expected {
        let order = 1_000_000 + n;
        let body = bench_order(order, n % CUSTOMERS).to_string();
        let signature = sign_shopify(body.as_bytes(), SHOPIFY_SECRET);
        writeln!(lines, "b{order}\t{signature}\t{body}").unwrap();
    }
    std::fs::write(&orders, lines).unwrap();
    let script = out_dir.join(format!("{name}-ingest.lua"));
    std::fs::write(
        &script,
        INGEST_LUA
            .replace("ORDERS_FILE", &orders.display().to_string())
            .replace("WEBHOOK_PATH", &format!("/webhooks/shopify/{shop_id}"))
            .replace("SHOP_DOMAIN", crate::platforms::SHOPIFY_DOMAIN),
    )
    .unwrap();
    script
}

/// Each wrk thread sends its own share of the pre-signed orders, in turn, once each.
const INGEST_LUA: &str = r#"
local counter = 0
local threads = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  threads = counter
end
local requests = {}
local next_request = 1
function init(args)
  local n = 0
  local total = tonumber(args[1]) or 2
  for line in io.lines("ORDERS_FILE") do
    if n % total == id then
      local delivery, signature, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      requests[#requests + 1] = wrk.format("POST", "WEBHOOK_PATH", {
        ["Content-Type"] = "application/json",
        ["X-Shopify-Topic"] = "orders/create",
        ["X-Shopify-Hmac-Sha256"] = signature,
        ["X-Shopify-Webhook-Id"] = delivery,
        ["X-Shopify-Shop-Domain"] = "SHOP_DOMAIN",
      }, body)
    end
    n = n + 1
  end
end
function request()
  local r = requests[next_request]
  next_request = next_request % #requests + 1
  return r
end
"#;

pub fn signed(shop_id: &str, body: &Value, delivery: &str) -> http::Request<Vec<u8>> {
    crate::platforms::shopify_request(shop_id, "orders/create", body, SHOPIFY_SECRET, delivery)
}

/// `wrk -t2 -c32 -d{seconds}s --latency`; parses requests/s and the 50 %/99 % latencies.
pub fn run_wrk(
    wrk: &Path,
    base: &str,
    path: &str,
    script: Option<&Path>,
    seconds: u32,
) -> Result<Measured, String> {
    let mut command = Command::new(wrk);
    command.args([
        "-t2",
        &format!("-c{CONCURRENCY}"),
        &format!("-d{seconds}s"),
        "--latency",
    ]);
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    command.arg(format!("{base}{path}"));
    if script.is_some() {
        command.args(["--", "2"]);
    }
    let output = command.output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(format!("{text}{}", String::from_utf8_lossy(&output.stderr)));
    }
    if text.contains("Non-2xx or 3xx responses") {
        return Err(format!("errors during the run:\n{text}"));
    }
    let number_after = |label: &str| -> Option<&str> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label).map(str::trim))
    };
    let millis = |v: &str| -> f64 {
        let (n, unit) = v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap_or(v.len()));
        let n: f64 = n.parse().unwrap_or(f64::NAN);
        match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            "m" => n * 60_000.0,
            _ => f64::NAN,
        }
    };
    let rps = number_after("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no Requests/sec in:\n{text}"))?;
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Ok(Measured {
        rps,
        p50_ms: number_after("50%").map(millis).unwrap_or(f64::NAN),
        p99_ms: number_after("99%").map(millis).unwrap_or(f64::NAN),
        requests,
    })
}
