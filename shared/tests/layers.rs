//! The shared crate's layers, enforced: every `crate::…` path a module names (outside its
//! unit tests) must lead to a lower floor of this table, or stay inside the module itself.
//! Features share a floor, so no feature reaches into another: where one feature's change
//! causes another's, `flows` says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module of `shared/src` and its floor; a module may name only lower floors.
const LAYERS: &[(&str, u32)] = &[
    // Base: value types, storage, errors, keys, primitives. Ordered among themselves.
    ("domain", 0),
    ("store", 1),
    ("error", 2),
    ("keys", 3),
    ("crypto", 4),
    ("pii", 4),
    ("json", 4),
    ("qr", 4),
    ("wecom", 4),
    ("applog", 5),
    // Signed deliveries and limits by keyed hash need crypto.
    ("outbound", 5),
    ("rate_limit", 6),
    // Records deleted once unneeded, and who does periodic work now.
    ("expiry", 5),
    ("lease", 5),
    // Records: what is stored about shops and people, and the pure rules over it.
    ("shops", 10),
    ("rfm", 11),
    ("tags", 12),
    ("customers", 13),
    ("orders", 14),
    // Features: peers, none names another.
    ("tagging", 20),
    ("coupons", 20),
    ("channels", 20),
    ("reminders", 20),
    // The one place a feature's change sets off another's.
    ("flows", 30),
    // Periodic work of every shop: what the scheduler's call and the background slice run.
    ("jobs", 35),
    // Adapters: shop platforms' payloads into domain events.
    ("webhooks", 40),
    // Edge: HTTP.
    ("web", 50),
    ("api", 51),
];

fn source_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("shared/src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            source_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The module a file belongs to: `src/coupons/issue.rs` → `coupons`, `src/keys.rs` → `keys`.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib").then(|| name.to_string())
}

/// A file's text without its `#[cfg(test)]` items: each is cut from the attribute to the
/// brace that closes it, reading past braces inside string and character literals.
fn without_tests(text: &str) -> String {
    let mut kept = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        kept.push_str(&rest[..at]);
        rest = &rest[at..];
        rest = &rest[item_end(rest)..];
    }
    kept.push_str(rest);
    kept
}

/// Where the item starting `text` ends: after the brace matching its first `{`.
fn item_end(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            b'r' if matches!(bytes.get(i + 1), Some(b'"' | b'#')) && !ident_before(bytes, i) => {
                let hashes = bytes[i + 1..].iter().take_while(|b| **b == b'#').count();
                let close = format!("\"{}", "#".repeat(hashes));
                let body = i + 2 + hashes;
                i = text[body..]
                    .find(&close)
                    .map_or(bytes.len(), |e| body + e + close.len());
                continue;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') => i += 2,
            b'\'' if bytes.get(i + 1) == Some(&b'\\') => {
                i += text[i + 2..].find('\'').map_or(bytes.len(), |e| e + 2);
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

fn ident_before(bytes: &[u8], i: usize) -> bool {
    i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')
}

/// Every module a file's code (not its unit tests) names through `crate::`, grouped
/// imports (`use crate::{a, b::c}`, over several lines too) included.
fn named_modules(text: &str) -> Vec<String> {
    let code: String = without_tests(text)
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut named = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                // The group's top-level items, up to its closing brace.
                let (mut depth, mut start) = (0usize, 0usize);
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => {
                            named.push(ident(&group[start..i]));
                            break;
                        }
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            named.push(ident(&group[start..i]));
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
            }
            None => named.push(ident(rest)),
        }
    }
    named.retain(|n| !n.is_empty());
    named
}

#[test]
fn every_import_goes_down_the_layer_table() {
    let floors: BTreeMap<&str, u32> = LAYERS.iter().copied().collect();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    let mut unlisted = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let Some(&floor) = floors.get(module.as_str()) else {
            unlisted.push(module);
            continue;
        };
        let text = std::fs::read_to_string(file).expect("a source file is readable");
        for named in named_modules(&text) {
            if named == module {
                continue;
            }
            match floors.get(named.as_str()) {
                Some(&target) if target < floor => {}
                _ => wrong.push(format!(
                    "{}: {module} (floor {floor}) names crate::{named}",
                    file.strip_prefix(&src).unwrap_or(file).display()
                )),
            }
        }
    }
    unlisted.dedup();
    assert!(
        unlisted.is_empty(),
        "modules missing from LAYERS: {unlisted:?}"
    );
    assert!(
        wrong.is_empty(),
        "{} imports against the layer table:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn the_reader_sees_through_comments_and_tests() {
    let text = r##"use crate::keys;
// crate::api is only mentioned
#[cfg(test)]
mod tests { use crate::api; fn f() { let _ = ("{", '{', r#"}"#, '\'', "\"}"); } }
fn f() { crate::store::x(); }
use crate::{
    flows::order_settled,
    web::{self, Request},
};
"##;
    assert_eq!(named_modules(text), ["keys", "store", "flows", "web"]);
}
