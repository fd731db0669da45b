//! How a shop presents itself on the pages shoppers see (the lead form, the thank-you and
//! unsubscribe pages): the name people know it by, its logo and colour, its privacy policy,
//! and how long it keeps what a lead leaves — the facts the notice before collection states.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::text::bounded;
use crate::domain::WebUrl;
use crate::error::Error;

const MAX_DISPLAY_NAME_CHARS: usize = 60;
/// How long a lead's details are kept when the shop does not say (months after the last
/// contact), as the notice states it.
pub const DEFAULT_RETENTION_MONTHS: u16 = 36;

/// `PATCH /api/shop` `branding` (the whole object; a field left out is unset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    /// The name shoppers know the shop by (at most 60 characters); the shop's name if unset.
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub logo_url: Option<WebUrl>,
    /// `#rrggbb`: buttons and links on the shopper's pages.
    #[serde(default)]
    pub accent_color: Option<String>,
    #[serde(default)]
    pub privacy_policy_url: Option<WebUrl>,
    /// Months a lead's details are kept after the last contact (1–120; 36 if unset).
    #[serde(default)]
    pub retention_months: Option<u16>,
}

impl Branding {
    /// Checked and trimmed, or the field that is wrong.
    pub fn checked(mut self) -> Result<Self, Error> {
        if let Some(name) = &self.display_name {
            let name = bounded("branding.display_name", name, MAX_DISPLAY_NAME_CHARS)
                .map_err(Error::invalid)?;
            self.display_name = Some(name);
        }
        if let Some(color) = &self.accent_color {
            let hex = color.trim().strip_prefix('#').unwrap_or_default();
            if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::invalid(
                    "branding.accent_color is a colour like #0b6bcb",
                ));
            }
            self.accent_color = Some(format!("#{}", hex.to_ascii_lowercase()));
        }
        if self
            .retention_months
            .is_some_and(|m| !(1..=120).contains(&m))
        {
            return Err(Error::invalid("branding.retention_months is 1 to 120"));
        }
        Ok(self)
    }

    pub fn retention_months(&self) -> u16 {
        self.retention_months.unwrap_or(DEFAULT_RETENTION_MONTHS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branding(json: serde_json::Value) -> Result<Branding, Error> {
        serde_json::from_value::<Branding>(json).unwrap().checked()
    }

    #[test]
    fn branding_is_checked_and_tidied() {
        let ok = branding(serde_json::json!({"display_name": " 茶舍 Tea House ",
            "accent_color": "#0B6BCB", "retention_months": 24}))
        .unwrap();
        assert_eq!(ok.display_name.as_deref(), Some("茶舍 Tea House"));
        assert_eq!(ok.accent_color.as_deref(), Some("#0b6bcb"));
        assert_eq!(ok.retention_months(), 24);
        assert_eq!(
            Branding::default().retention_months(),
            DEFAULT_RETENTION_MONTHS
        );
        for bad in [
            serde_json::json!({"display_name": " "}),
            serde_json::json!({"display_name": "Tea\u{7}House"}),
            serde_json::json!({"accent_color": "blue"}),
            serde_json::json!({"accent_color": "#12345"}),
            serde_json::json!({"retention_months": 0}),
        ] {
            assert!(branding(bad.clone()).is_err(), "{bad}");
        }
        assert!(serde_json::from_value::<Branding>(
            serde_json::json!({"logo_url": "javascript:alert(1)"})
        )
        .is_err());
    }
}
