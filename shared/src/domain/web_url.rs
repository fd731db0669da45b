//! Web addresses shown to shoppers or followed by them: absolute http(s) URLs only, so a
//! setting can never become a `javascript:` link or a path on Siyu itself.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Longest URL kept (browsers and QR codes handle far less than their limits comfortably).
pub const MAX_URL_CHARS: usize = 2000;

/// An absolute http(s) URL of at most 2,000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct WebUrl(String);

impl WebUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let uri: Option<http::Uri> = text.parse().ok();
        let fits = uri.is_some_and(|uri| {
            matches!(uri.scheme_str(), Some("https" | "http")) && uri.host().is_some()
        });
        if fits && text.chars().count() <= MAX_URL_CHARS {
            Ok(Self(text.to_string()))
        } else {
            Err(format!(
                "must be an absolute http(s) URL of at most {MAX_URL_CHARS} characters"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WebUrl {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<WebUrl> for String {
    fn from(value: WebUrl) -> String {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_web_addresses() {
        assert_eq!(
            WebUrl::parse(" https://tea.example.com/a?b=c ")
                .unwrap()
                .as_str(),
            "https://tea.example.com/a?b=c"
        );
        for bad in [
            "javascript:alert(1)",
            "/q/abc",
            "ftp://x.example/",
            "https://",
            "tea.example.com",
        ] {
            assert!(WebUrl::parse(bad).is_err(), "{bad}");
        }
        let long = format!("https://x.example/{}", "a".repeat(MAX_URL_CHARS));
        assert!(WebUrl::parse(&long).is_err());
    }
}
