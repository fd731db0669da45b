//! What reading bodies as their published schema has it costs (`siyu::json::parse_json`:
//! JSON, the type's schema, the "no array where an object belongs" walk, then serde) against
//! serde alone, on the same bodies in the same run.
//!
//! Run: `cargo bench -p siyu-tests --bench body_parsing`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::json;
use siyu::coupons::campaigns::CampaignInput;
use siyu::webhooks::generic::GenericOrder;
use siyu_tests::platforms::generic_order;

fn per_call(iterations: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..iterations / 10 {
        f();
    }
    let started = Instant::now();
    for _ in 0..iterations {
        f();
    }
    started.elapsed() / iterations
}

fn case<T: serde::de::DeserializeOwned + schemars::JsonSchema>(name: &str, body: &[u8]) {
    let iterations = 20_000;
    let plain = per_call(iterations, || {
        black_box(serde_json::from_slice::<T>(black_box(body)).unwrap());
    });
    let checked = per_call(iterations, || {
        black_box(siyu::json::parse_json::<T>(black_box(body)).unwrap());
    });
    println!(
        "| {name} | {} | {:.1} | {:.1} | {:.2} |",
        body.len(),
        plain.as_secs_f64() * 1e6,
        checked.as_secs_f64() * 1e6,
        checked.as_secs_f64() / plain.as_secs_f64()
    );
}

fn main() {
    println!("| body | bytes | serde alone µs | parse_json µs | ratio |");
    println!("|---|---|---|---|---|");
    let order = generic_order(
        "A-1",
        "paid",
        Some("mei@example.com"),
        Some("+8613812345678"),
        "88.00",
    );
    case::<GenericOrder>("generic order", order.to_string().as_bytes());
    let campaign = json!({"name": "Welcome", "discount": {"type": "percent", "basis_points": 1000},
        "codes": {"type": "generated", "prefix": "tea-", "length": 8}, "quota": 1000,
        "eligibility": {"tags": ["vip"], "rfm_groups": ["champions"]}});
    case::<CampaignInput>("campaign with arrays", campaign.to_string().as_bytes());
    let plain = json!({"name": "Welcome", "discount": {"type": "percent", "basis_points": 1000},
        "quota": 1000, "per_customer_limit": 1});
    case::<CampaignInput>("campaign without arrays", plain.to_string().as_bytes());
}
