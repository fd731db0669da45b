//! The size of every component of each manifest, as built by `spin build`, against an
//! empty spin-sdk 5.2 component (`fixture-empty`) built the same way in the same run. Spin
//! compiles and instantiates a component per request, so size is start-up work.
//!
//! Run: `cargo bench -p siyu-tests --bench component_sizes`. Needs `spin`.

use std::process::Command;

use siyu_tests::routes::{workspace_root, Manifest};
use siyu_tests::spin_up::{build, Flavour};

const KIB: f64 = 1024.0;

fn main() {
    let root = workspace_root();
    let status = Command::new("cargo")
        .args([
            "build",
            "--target",
            "wasm32-wasip1",
            "--release",
            "-p",
            "fixture-empty",
        ])
        .current_dir(&root)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building fixture-empty");
    let empty = std::fs::metadata(root.join("target/wasm32-wasip1/release/fixture_empty.wasm"))
        .expect("fixture-empty was built")
        .len() as f64;
    println!("baseline: fixture-empty {:.0} KiB\n", empty / KIB);
    println!("| manifest | component | KiB | × empty |");
    println!("|---|---|---|---|");
    for flavour in Flavour::ALL {
        build(flavour);
        let manifest = Manifest::load_file(flavour.manifest());
        let mut sizes: Vec<(String, f64)> = manifest
            .components
            .iter()
            .map(|c| {
                let bytes = std::fs::metadata(root.join(&c.source))
                    .unwrap_or_else(|e| panic!("{}: {e}", c.source))
                    .len() as f64;
                (c.name.clone(), bytes)
            })
            .collect();
        sizes.sort_by(|a, b| a.1.total_cmp(&b.1));
        for (name, bytes) in sizes {
            println!(
                "| {} | {name} | {:.0} | {:.2} |",
                flavour.manifest(),
                bytes / KIB,
                bytes / empty
            );
        }
    }
}
