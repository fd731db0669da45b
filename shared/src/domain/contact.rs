//! Phone numbers (E.164) and email addresses: normalised so one person matches across
//! platforms, and masked for display.

use schemars::JsonSchema;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A phone number in E.164 form: `+` and 8 to 15 digits, the first not 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Accepts E.164 (`+8613812345678`), `00`-prefixed international numbers, mainland China
    /// mobile numbers (`138 1234 5678`) and national numbers of the shop's calling code.
    pub fn parse(raw: &str, default_calling_code: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let international = trimmed.starts_with('+');
        let mut digits: String = String::with_capacity(trimmed.len());
        for c in trimmed.chars() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if digits.is_empty() => {}
                ' ' | '-' | '(' | ')' | '.' => {}
                _ => return Err(format!("{raw:?} is not a phone number")),
            }
        }
        let e164_digits = if international {
            digits
        } else if let Some(rest) = digits.strip_prefix("00") {
            rest.to_string()
        } else if digits.len() == 11 && digits.starts_with('1') && is_cn_mobile(&digits) {
            format!("86{digits}")
        } else if let Some(national) = digits.strip_prefix('0') {
            format!("{default_calling_code}{national}")
        } else {
            format!("{default_calling_code}{digits}")
        };
        let valid = (8..=15).contains(&e164_digits.len()) && !e164_digits.starts_with('0');
        if !valid {
            return Err(format!("{raw:?} is not a valid phone number"));
        }
        Ok(Self(format!("+{e164_digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The middle four digits hidden, as Chinese apps show numbers: `138****5678` for a
    /// mainland mobile, `+4477****0123` (country code and first digits, the last four) for
    /// others.
    pub fn masked(&self) -> String {
        let digits = &self.0[1..];
        if let Some(national) = digits.strip_prefix("86").filter(|n| n.len() == 11) {
            return format!("{}****{}", &national[..3], &national[7..]);
        }
        let keep_head = digits.len().saturating_sub(8).min(5);
        let head = &digits[..keep_head];
        let tail = &digits[digits.len() - 4..];
        format!("+{head}****{tail}")
    }
}

fn is_cn_mobile(digits: &str) -> bool {
    matches!(digits.as_bytes().get(1), Some(b'3'..=b'9'))
}

impl TryFrom<String> for PhoneNumber {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        // Stored values are already E.164.
        Self::parse(&value, "86")
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> String {
        value.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, trimmed and lower-cased so that one person matches across platforms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && matches!(email.split_once('@'), Some((local, domain))
                if !local.is_empty() && domain.contains('.') && !domain.contains('@')
                    && !domain.starts_with('.') && !domain.ends_with('.'));
        if valid {
            Ok(Self(email))
        } else {
            Err(format!("{raw:?} is not an email address"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `j***@example.com`.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((&self.0, ""));
        let first: String = local.chars().take(1).collect();
        format!("{first}***@{domain}")
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> String {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_normalise_to_e164() {
        let expect = "+8613812345678";
        for raw in [
            "13812345678",
            "+86 138 1234 5678",
            "+86-138-1234-5678",
            "008613812345678",
            " 138-1234-5678 ",
        ] {
            assert_eq!(
                PhoneNumber::parse(raw, "86").unwrap().as_str(),
                expect,
                "{raw}"
            );
        }
        assert_eq!(
            PhoneNumber::parse("(415) 555-0100", "1").unwrap().as_str(),
            "+14155550100"
        );
        assert_eq!(
            PhoneNumber::parse("020 7946 0018", "44").unwrap().as_str(),
            "+442079460018"
        );
    }

    #[test]
    fn non_numbers_are_refused() {
        for raw in [
            "",
            "abc",
            "12",
            "+0123456789",
            "1381234567x",
            "+1234567890123456",
        ] {
            assert!(PhoneNumber::parse(raw, "86").is_err(), "{raw}");
        }
    }

    #[test]
    fn masks_hide_the_middle() {
        let phone = PhoneNumber::parse("13812345678", "86").unwrap();
        assert_eq!(phone.masked(), "138****5678");
        let uk = PhoneNumber::parse("+447700900123", "86").unwrap();
        assert_eq!(uk.masked(), "+4477****0123");
        let email = EmailAddress::parse("  Jane.Doe@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "jane.doe@example.com");
        assert_eq!(email.masked(), "j***@example.com");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for raw in ["", "a", "a@", "@b.c", "a@b", "a b@c.d", "a@b@c.d", "a@.com"] {
            assert!(EmailAddress::parse(raw).is_err(), "{raw}");
        }
    }
}
