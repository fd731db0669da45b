//! Identifiers: shop, customer, channel, campaign and rule ids (random, not sequential),
//! coupon codes, platforms, and the platform's own ids made safe to use inside store keys.

use schemars::JsonSchema;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Lower-case letters and digits without look-alikes, for ids people may read aloud.
const ID_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// `len` random characters from `ID_ALPHABET`, from the OS CSPRNG.
pub fn random_id(len: usize) -> String {
    random_from(ID_ALPHABET, len)
}

pub fn random_from(alphabet: &[u8], len: usize) -> String {
    // 256 is not a multiple of the alphabet size; rejection sampling keeps the choice uniform.
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut bytes = [0u8; 32];
        // getrandom fails only where there is no entropy source at all; such a host cannot
        // run Siyu safely, so it is treated like a missing system call.
        getrandom::fill(&mut bytes).expect("the host provides randomness");
        for b in bytes.iter().map(|b| *b as usize).filter(|b| *b < limit) {
            if out.len() < len {
                out.push(alphabet[b % alphabet.len()] as char);
            }
        }
    }
    out
}

/// A fixed-length name for text too long or too free for a store key: the hex of the first
/// `bytes` bytes of its SHA-256.
pub fn short_hash(text: &str, bytes: usize) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..bytes.min(32)])
}

/// A 40-character secret (shop API keys, webhook and delivery signing secrets).
pub fn new_secret() -> String {
    random_from(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        40,
    )
}

pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the host provides randomness");
    u64::from_le_bytes(bytes)
}

fn is_id_text(text: &str, prefix: &str, len: usize) -> bool {
    text.len() == prefix.len() + len
        && text.starts_with(prefix)
        && text[prefix.len()..]
            .bytes()
            .all(|b| ID_ALPHABET.contains(&b))
}

macro_rules! random_id_type {
    ($name:ident, $prefix:literal, $len:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let alphabet = std::str::from_utf8(ID_ALPHABET).unwrap_or_default();
                let pattern = format!("^{}[{}]{{{}}}$", $prefix, alphabet, $len);
                schemars::json_schema!({"type": "string", "pattern": pattern})
            }
        }

        impl $name {
            pub fn random() -> Self {
                Self(format!("{}{}", $prefix, random_id($len)))
            }

            pub fn parse(text: &str) -> Option<Self> {
                is_id_text(text, $prefix, $len).then(|| Self(text.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(value: String) -> Result<Self, String> {
                Self::parse(&value).ok_or_else(|| format!("{value:?} is not a valid id"))
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

random_id_type!(ShopId, "shp_", 12);
random_id_type!(CustomerId, "cus_", 16);
random_id_type!(ChannelId, "ch_", 12);
random_id_type!(CampaignId, "cmp_", 12);
random_id_type!(RuleId, "rul_", 12);

/// A coupon code as checkouts compare it: trimmed, upper case, 3 to 64 letters, digits, `-`
/// or `_`. Codes are unique in a shop and name its coupon record.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct CouponCode(String);

impl CouponCode {
    pub fn parse(text: &str) -> Result<Self, String> {
        let code = text.trim().to_ascii_uppercase();
        let ok = (3..=64).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if ok {
            Ok(Self(code))
        } else {
            Err("a code is 3 to 64 letters, digits, - or _".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CouponCode {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<CouponCode> for String {
    fn from(value: CouponCode) -> String {
        value.0
    }
}

impl fmt::Display for CouponCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A shop platform that sends Siyu webhooks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Shopify,
    WooCommerce,
    Youzan,
    Generic,
    /// WeCom (企业微信): a source of identities (external user ids), not of orders.
    Wecom,
}

impl Platform {
    pub fn as_str(&self) -> &'static str {
        match self {
            Platform::Shopify => "shopify",
            Platform::WooCommerce => "woocommerce",
            Platform::Youzan => "youzan",
            Platform::Generic => "generic",
            Platform::Wecom => "wecom",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Platform::Shopify,
            Platform::WooCommerce,
            Platform::Youzan,
            Platform::Generic,
            Platform::Wecom,
        ]
        .into_iter()
        .find(|p| p.as_str() == text)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An id issued by a platform (order, customer, refund): non-empty text, at most 128 bytes.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct ExternalId(String);

impl ExternalId {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() || text.len() > 128 || text.chars().any(char::is_control) {
            return Err(format!("{text:?} is not a usable id"));
        }
        Ok(Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A form safe inside a store key: the id itself when it is short and plain, else a hash.
    pub fn key_part(&self) -> String {
        let plain = self.0.len() <= 64
            && self
                .0
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if plain {
            self.0.clone()
        } else {
            format!("h{}", &hex::encode(Sha256::digest(self.0.as_bytes()))[..40])
        }
    }
}

impl TryFrom<String> for ExternalId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<ExternalId> for String {
    fn from(value: ExternalId) -> String {
        value.0
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_parse_back_and_differ() {
        let a = CustomerId::random();
        let b = CustomerId::random();
        assert_ne!(a, b);
        assert_eq!(CustomerId::parse(a.as_str()), Some(a));
        assert!(ShopId::parse("shp_../../x").is_none());
        assert!(CustomerId::parse("cus_0000000000000000").is_none()); // 0 is not in the alphabet
    }

    #[test]
    fn external_ids_are_key_safe() {
        assert_eq!(ExternalId::parse("4501").unwrap().key_part(), "4501");
        let odd = ExternalId::parse("a/b c").unwrap().key_part();
        assert!(odd.starts_with('h') && odd.len() == 41);
        assert!(ExternalId::parse("  ").is_err());
    }

    #[test]
    fn coupon_codes_compare_as_checkouts_do() {
        let code = CouponCode::parse("  summer-10 ").unwrap();
        assert_eq!(code.as_str(), "SUMMER-10");
        assert_eq!(CouponCode::parse("Summer-10"), Ok(code));
        for bad in ["ab", "two words", "a/../b", &"X".repeat(65), "券码123"] {
            assert!(CouponCode::parse(bad).is_err(), "{bad:?}");
        }
        // Stored codes read back through the same check, unchanged.
        let stored: CouponCode = serde_json::from_str("\"WELCOME_5\"").unwrap();
        assert_eq!(serde_json::to_string(&stored).unwrap(), "\"WELCOME_5\"");
    }
}
