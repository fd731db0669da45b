//! Money as integer minor units, parsed exactly from the decimal strings platforms send.

use schemars::JsonSchema;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// An ISO 4217 code with the number of digits its minor unit has.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn parse(code: &str) -> Result<Self, String> {
        let upper = code.trim().to_ascii_uppercase();
        let bytes = upper.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(format!(
                "{code:?} is not a three-letter ISO 4217 currency code"
            ));
        }
        Ok(Self([bytes[0], bytes[1], bytes[2]]))
    }

    pub fn code(&self) -> &str {
        // Built only from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point (ISO 4217 minor unit).
    pub fn exponent(&self) -> u32 {
        match self.code() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }

    pub fn cny() -> Self {
        Self(*b"CNY")
    }
}

/// Minor units as a plain decimal in major units (e.g. 12345 CNY → "123.45"), for people and
/// spreadsheets.
pub fn format_minor(amount: i64, currency: Currency) -> String {
    let exponent = currency.exponent();
    let digits = amount.unsigned_abs().to_string();
    let sign = if amount < 0 { "-" } else { "" };
    if exponent == 0 {
        return format!("{sign}{digits}");
    }
    let width = exponent as usize + 1;
    let padded = format!("{digits:0>width$}");
    let (major, minor) = padded.split_at(padded.len() - exponent as usize);
    format!("{sign}{major}.{minor}")
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> String {
        value.code().to_string()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

pub type MinorUnits = i64;

/// Parses a decimal amount such as `"59.99"` or `"-5.00"` into minor units of a currency with
/// `exponent` digits, exactly: extra fractional digits must be zeros.
pub fn parse_minor(text: &str, exponent: u32) -> Result<MinorUnits, String> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let well_formed = !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && !(digits.contains('.') && fraction.is_empty());
    if !well_formed {
        return Err(format!("{text:?} is not a decimal amount"));
    }
    let exp = exponent as usize;
    let (kept, dropped) = fraction.split_at(fraction.len().min(exp));
    if dropped.bytes().any(|b| b != b'0') {
        return Err(format!(
            "{text:?} has more than {exponent} decimal places for this currency"
        ));
    }
    let overflow = || format!("{text:?} is too large");
    let mut value: i64 = 0;
    for b in whole.bytes().chain(kept.bytes()) {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
            .ok_or_else(overflow)?;
    }
    for _ in kept.len()..exp {
        value = value.checked_mul(10).ok_or_else(overflow)?;
    }
    Ok(if negative { -value } else { value })
}

/// A decimal amount as platforms send it: a string (`"59.99"`) or a JSON number (`59.99`).
/// Kept as text until the currency is known, so no float is ever involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecimalText(pub String);

impl DecimalText {
    pub fn minor(&self, currency: Currency) -> Result<MinorUnits, String> {
        parse_minor(&self.0, currency.exponent())
    }
}

impl JsonSchema for DecimalText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DecimalText".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A decimal amount in major units, as text (\"59.99\") or a JSON number.",
            "type": ["string", "number"],
        })
    }
}

impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize, JsonSchema)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(serde_json::Number),
        }
        Ok(match Raw::deserialize(deserializer)? {
            Raw::Text(s) => DecimalText(s),
            // serde_json prints the shortest text that reads back as the same number, which is
            // the amount as sent for any realistic price.
            Raw::Number(n) => DecimalText(n.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_format_as_major() {
        let cny = Currency::cny();
        assert_eq!(format_minor(12345, cny), "123.45");
        assert_eq!(format_minor(5, cny), "0.05");
        assert_eq!(format_minor(-250, cny), "-2.50");
        assert_eq!(format_minor(1200, Currency::parse("JPY").unwrap()), "1200");
        assert_eq!(format_minor(1, Currency::parse("KWD").unwrap()), "0.001");
    }

    #[test]
    fn decimal_strings_become_exact_minor_units() {
        assert_eq!(parse_minor("59.99", 2), Ok(5999));
        assert_eq!(parse_minor("0.1", 2), Ok(10));
        assert_eq!(parse_minor("100", 2), Ok(10000));
        assert_eq!(parse_minor("-5.00", 2), Ok(-500));
        assert_eq!(parse_minor("1500", 0), Ok(1500));
        assert_eq!(parse_minor("1.500", 3), Ok(1500));
        assert_eq!(parse_minor("19.990", 2), Ok(1999));
        // 0.1 + 0.2 style float drift cannot happen: 0.30 is 30.
        assert_eq!(parse_minor("0.30", 2), Ok(30));
    }

    #[test]
    fn malformed_or_inexact_amounts_are_refused() {
        for bad in [
            "", ".5", "5.", "1,00", "abc", "1.2.3", "1e3", "19.999", "--1",
        ] {
            assert!(parse_minor(bad, 2).is_err(), "{bad} accepted");
        }
        assert!(parse_minor("99999999999999999999", 2).is_err());
        assert!(parse_minor("1.5", 0).is_err());
    }

    #[test]
    fn currency_codes_are_normalised_and_checked() {
        assert_eq!(Currency::parse("cny").unwrap().code(), "CNY");
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert!(Currency::parse("RMB1").is_err());
        assert!(Currency::parse("Y€N").is_err());
    }

    #[test]
    fn json_numbers_keep_their_decimal_text() {
        let d: DecimalText = serde_json::from_str("12.3").unwrap();
        assert_eq!(d.minor(Currency::cny()), Ok(1230));
        let d: DecimalText = serde_json::from_str("\"7.05\"").unwrap();
        assert_eq!(d.minor(Currency::cny()), Ok(705));
    }
}
