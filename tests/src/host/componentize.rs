//! From a `wasm32-wasip1` core module to a component, as Spin does at load time, and the
//! checks on what a component imports.

use anyhow::Context;
use wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER;

/// Wraps a core module with the WASI preview1 reactor adapter. A module that is already a
/// component is returned as it is.
pub fn componentize(module: &[u8]) -> anyhow::Result<Vec<u8>> {
    if wasmparser::Parser::is_component(module) {
        return Ok(module.to_vec());
    }
    wit_component::ComponentEncoder::default()
        .module(module)
        .context("reading the core module's component type")?
        .adapter(
            "wasi_snapshot_preview1",
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )
        .context("adding the WASI preview1 adapter")?
        .validate(true)
        .encode()
        .context("encoding the component")
}

/// The component's top-level import names, e.g. `wasi:keyvalue/atomics@0.2.0-draft2`.
pub fn imports(component: &[u8]) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        match payload? {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    names.push(import?.name.0.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

/// Interfaces every Spin 3.x host provides to HTTP components (WASI 0.2 by semver-compatible
/// match, Spin's own at their exact versions).
const SPIN3_INTERFACES: &[&str] = &[
    "wasi:cli/environment@0.2",
    "wasi:cli/exit@0.2",
    "wasi:cli/stdin@0.2",
    "wasi:cli/stdout@0.2",
    "wasi:cli/stderr@0.2",
    "wasi:cli/terminal-input@0.2",
    "wasi:cli/terminal-output@0.2",
    "wasi:cli/terminal-stdin@0.2",
    "wasi:cli/terminal-stdout@0.2",
    "wasi:cli/terminal-stderr@0.2",
    "wasi:clocks/monotonic-clock@0.2",
    "wasi:clocks/wall-clock@0.2",
    "wasi:filesystem/types@0.2",
    "wasi:filesystem/preopens@0.2",
    "wasi:io/error@0.2",
    "wasi:io/poll@0.2",
    "wasi:io/streams@0.2",
    "wasi:random/random@0.2",
    "wasi:random/insecure@0.2",
    "wasi:random/insecure-seed@0.2",
    "wasi:sockets/network@0.2",
    "wasi:sockets/instance-network@0.2",
    "wasi:sockets/tcp@0.2",
    "wasi:sockets/tcp-create-socket@0.2",
    "wasi:sockets/udp@0.2",
    "wasi:sockets/udp-create-socket@0.2",
    "wasi:sockets/ip-name-lookup@0.2",
    "wasi:http/types@0.2",
    "wasi:http/outgoing-handler@0.2",
    "fermyon:spin/key-value@2.0.0",
    "fermyon:spin/variables@2.0.0",
    "fermyon:spin/llm@2.0.0",
    "fermyon:spin/redis@2.0.0",
    "fermyon:spin/mqtt@2.0.0",
    "fermyon:spin/postgres@2.0.0",
    "fermyon:spin/mysql@2.0.0",
    "fermyon:spin/sqlite@2.0.0",
    "wasi:keyvalue/store@0.2.0-draft2",
    "wasi:keyvalue/atomics@0.2.0-draft2",
    "wasi:keyvalue/batch@0.2.0-draft2",
    "wasi:config/store@0.2.0-draft-2024-09-27",
    "spin:postgres/postgres@3.0.0",
];

/// `wasi:cli/stdout@0.2.6` → `wasi:cli/stdout@0.2`; other versions stay exact.
fn compatible_name(import: &str) -> String {
    match import.split_once('@') {
        Some((name, version)) if version.starts_with("0.2.") && !version.contains('-') => {
            format!("{name}@0.2")
        }
        _ => import.to_string(),
    }
}

/// Imports a Spin 3.x host would not satisfy.
pub fn beyond_spin3(imports: &[String]) -> Vec<String> {
    imports
        .iter()
        .filter(|i| !SPIN3_INTERFACES.contains(&compatible_name(i).as_str()))
        .cloned()
        .collect()
}

pub const ATOMICS: &str = "wasi:keyvalue/atomics@0.2.0-draft2";

/// Imports the hosted platforms lack (see ../shared/reference/spin-hosts.md): Fermyon Cloud
/// has no key-value atomics or batch (and its key-value store holds 1,024 keys, so Siyu keeps
/// nothing there); Akamai Functions has no atomics and no SQLite.
pub const LACKING_ON_FERMYON_CLOUD: &[&str] = &["wasi:keyvalue/atomics", "wasi:keyvalue/batch"];
pub const LACKING_ON_AKAMAI_FUNCTIONS: &[&str] = &["wasi:keyvalue/atomics", "fermyon:spin/sqlite"];

/// The imports a host lacking `lacking` (interface name prefixes) would not satisfy, beyond
/// what Spin 3.x has.
pub fn missing_on(imports: &[String], lacking: &[&str]) -> Vec<String> {
    let mut missing = beyond_spin3(imports);
    missing.extend(
        imports
            .iter()
            .filter(|i| lacking.iter().any(|prefix| i.starts_with(prefix)))
            .cloned(),
    );
    missing
}

/// Imports of Spin's key-value store in any form.
pub fn key_value_imports(imports: &[String]) -> Vec<String> {
    imports
        .iter()
        .filter(|i| i.starts_with("wasi:keyvalue/") || i.starts_with("fermyon:spin/key-value"))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasi_patch_versions_match_and_others_do_not() {
        let imports = vec![
            "wasi:cli/stdout@0.2.6".to_string(),
            "wasi:keyvalue/atomics@0.2.0-draft2".to_string(),
            "wasi:keyvalue/atomics@0.2.0-draft3".to_string(),
            "fermyon:spin/key-value@3.0.0".to_string(),
            "wasi:http/types@0.3.0-rc-2026-01-06".to_string(),
        ];
        assert_eq!(
            beyond_spin3(&imports),
            [
                "wasi:keyvalue/atomics@0.2.0-draft3",
                "fermyon:spin/key-value@3.0.0",
                "wasi:http/types@0.3.0-rc-2026-01-06"
            ]
        );
    }
}
