//! Spin's HTTP routing, read from spin.toml so tests never keep a second route table.

use std::path::{Path, PathBuf};

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone)]
pub struct Route {
    pub pattern: String,
    pub component: String,
}

impl Route {
    /// Whether Spin would consider this route for `path`: a trailing `/...` takes the
    /// prefix and anything under it; otherwise segment by segment, `:name` any one segment.
    pub fn matches(&self, path: &str) -> bool {
        match self.pattern.strip_suffix("/...") {
            Some(prefix) => {
                path == prefix || path.starts_with(&format!("{prefix}/")) || prefix.is_empty()
            }
            None => exact_match(&self.pattern, path),
        }
    }
}

/// A component's `[component.X]` settings the tests care about.
#[derive(Debug, Clone)]
pub struct Component {
    pub name: String,
    pub source: String,
    pub key_value_stores: Vec<String>,
    pub sqlite_databases: Vec<String>,
    pub allowed_outbound_hosts: Vec<String>,
    pub variables: Vec<String>,
    /// `[component.X.build] command`: one command or several, run in order.
    pub build_commands: Vec<String>,
}

pub struct Manifest {
    pub routes: Vec<Route>,
    pub components: Vec<Component>,
    pub variables: Vec<String>,
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

impl Manifest {
    pub fn load() -> Self {
        Self::load_file("spin.toml")
    }

    /// Another manifest of the app (spin.redis.toml, spin.cloud.toml).
    pub fn load_file(name: &str) -> Self {
        let text = std::fs::read_to_string(workspace_root().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Self {
        let doc: toml::Table = toml::from_str(text).expect("spin.toml is TOML");
        let strings = |v: Option<&toml::Value>| -> Vec<String> {
            v.and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let routes = doc
            .get("trigger")
            .and_then(|t| t.get("http"))
            .and_then(|h| h.as_array())
            .map(|triggers| {
                triggers
                    .iter()
                    .map(|t| Route {
                        pattern: t["route"].as_str().expect("route").to_string(),
                        component: t["component"].as_str().expect("component").to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let components = doc
            .get("component")
            .and_then(|c| c.as_table())
            .map(|table| {
                table
                    .iter()
                    .map(|(name, c)| Component {
                        name: name.clone(),
                        source: c
                            .get("source")
                            .and_then(|s| s.as_str())
                            .unwrap_or_default()
                            .to_string(),
                        key_value_stores: strings(c.get("key_value_stores")),
                        sqlite_databases: strings(c.get("sqlite_databases")),
                        allowed_outbound_hosts: strings(c.get("allowed_outbound_hosts")),
                        variables: c
                            .get("variables")
                            .and_then(|v| v.as_table())
                            .map(|v| v.keys().cloned().collect())
                            .unwrap_or_default(),
                        build_commands: match c.get("build").and_then(|b| b.get("command")) {
                            Some(toml::Value::String(one)) => vec![one.clone()],
                            several => strings(several),
                        },
                    })
                    .collect()
            })
            .unwrap_or_default();
        let variables = doc
            .get("variables")
            .and_then(|v| v.as_table())
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default();
        Self {
            routes,
            components,
            variables,
        }
    }

    /// The component Spin would send `path` to: an exact route beats a wildcard, and a longer
    /// wildcard prefix beats a shorter one.
    pub fn component_for(&self, path: &str) -> Option<&str> {
        let mut best: Option<(bool, usize, &str)> = None;
        for route in &self.routes {
            if !route.matches(path) {
                continue;
            }
            // Spin: an exact route (named segments included) beats every wildcard; among
            // wildcards the longest prefix wins.
            let rank = match route.pattern.strip_suffix("/...") {
                Some(prefix) => (false, prefix.len()),
                None => (true, path.len()),
            };
            if best.is_none_or(|(exact, len, _)| rank > (exact, len)) {
                best = Some((rank.0, rank.1, route.component.as_str()));
            }
        }
        best.map(|(_, _, c)| c)
    }
}

/// An exact route against a path, segment by segment; `:name` matches any one segment.
fn exact_match(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    pattern.len() == path.len()
        && pattern
            .iter()
            .zip(&path)
            .all(|(p, s)| p == s || (p.starts_with(':') && !s.is_empty()))
}
