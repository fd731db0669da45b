//! Short texts people type into settings (names, headlines, labels): trimmed, non-empty,
//! within a length, and free of control characters (they end up in pages and notices).

/// `value` trimmed, or why `field` cannot take it.
pub fn bounded(field: &str, value: &str, max: usize) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(format!("{field} must be 1 to {max} characters"));
    }
    Ok(value.to_string())
}
