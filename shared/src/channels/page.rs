//! What a channel's sign-up page says and asks: its headline, the offer, the button, which
//! fields it asks for (and which it requires), and where the thank-you page sends people
//! next (the staff's WeCom, the shop, a mini-program). Unset texts read well by default.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::text::bounded;
use crate::domain::WebUrl;
use crate::error::Error;

/// Whether the form asks for a field, and whether it must be filled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldRule {
    Off,
    #[default]
    Optional,
    Required,
}

/// The form's fields. At least one of phone and email is asked; a lead gives at least one
/// contact whatever the rules say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FormFields {
    #[serde(default)]
    pub name: FieldRule,
    #[serde(default)]
    pub phone: FieldRule,
    #[serde(default)]
    pub email: FieldRule,
}

/// Where the thank-you page sends people next; every one optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NextStep {
    /// A WeCom "contact me" link (联系我) to add the staff member.
    #[serde(default)]
    pub wecom_url: Option<WebUrl>,
    /// An image of the staff's WeCom QR code, shown for scanning from another phone.
    #[serde(default)]
    pub wecom_qr_url: Option<WebUrl>,
    #[serde(default)]
    pub shop_url: Option<WebUrl>,
    /// A mini-program's URL link (e.g. `https://wxaurl.cn/…`).
    #[serde(default)]
    pub mini_program_url: Option<WebUrl>,
}

/// A channel's sign-up page (`page` on a channel; the whole object is replaced on change).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPage {
    /// The page's title, e.g. "扫码领 10 元券" (at most 60 characters); default: a welcome.
    #[serde(default)]
    pub headline: Option<String>,
    /// The offer in a sentence (at most 200 characters).
    #[serde(default)]
    pub benefit: Option<String>,
    /// The button's words (at most 20 characters); default "领取 · Sign up".
    #[serde(default)]
    pub button: Option<String>,
    #[serde(default)]
    pub fields: FormFields,
    #[serde(default)]
    pub next_step: NextStep,
    /// Whether a phone number must be proved with a code sent to it before the lead is
    /// recorded (through the shop's delivery URL; see README, "Verified phone numbers").
    #[serde(default)]
    pub verify_phone: bool,
}

impl ChannelPage {
    pub fn checked(mut self) -> Result<Self, Error> {
        for (field, value, max) in [
            ("page.headline", &mut self.headline, 60),
            ("page.benefit", &mut self.benefit, 200),
            ("page.button", &mut self.button, 20),
        ] {
            if let Some(text) = value {
                *value = Some(bounded(field, text, max).map_err(Error::invalid)?);
            }
        }
        let fields = &self.fields;
        if fields.phone == FieldRule::Off && fields.email == FieldRule::Off {
            return Err(Error::invalid(
                "page.fields asks for at least one of phone and email",
            ));
        }
        if self.verify_phone && fields.phone == FieldRule::Off {
            return Err(Error::invalid(
                "page.verify_phone needs the phone field (page.fields.phone)",
            ));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(json: serde_json::Value) -> Result<ChannelPage, Error> {
        serde_json::from_value::<ChannelPage>(json)
            .unwrap()
            .checked()
    }

    #[test]
    fn a_page_asks_for_a_contact_and_keeps_its_texts_short() {
        let ok = page(serde_json::json!({"headline": " 扫码领 10 元券 ",
            "fields": {"phone": "required", "email": "off"}}))
        .unwrap();
        assert_eq!(ok.headline.as_deref(), Some("扫码领 10 元券"));
        assert_eq!(ok.fields.name, FieldRule::Optional);
        assert!(page(serde_json::json!({"fields": {"phone": "off", "email": "off"}})).is_err());
        assert!(page(serde_json::json!({"button": "x".repeat(21)})).is_err());
        assert!(page(serde_json::json!({"headline": ""})).is_err());
        assert!(page(serde_json::json!({"verify_phone": true,
            "fields": {"phone": "off", "email": "required"}}))
        .is_err());
        assert!(
            page(serde_json::json!({"verify_phone": true}))
                .unwrap()
                .verify_phone
        );
    }
}
