//! Customer attributes: known keys (gender, birthday, city) checked, custom keys named
//! the way rule conditions can name them.

use std::collections::BTreeMap;

use jiff::civil::Date;

use crate::error::Error;

use super::Customer;

/// Attributes one customer may hold.
const MAX_ATTRIBUTES: usize = 50;
const MAX_ATTRIBUTE_CHARS: usize = 500;

/// Custom attribute keys: what `attributes` accepts and conditions may name.
pub fn valid_attribute_key(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The month of a stored birthday, `YYYY-MM-DD` or `MM-DD`.
pub fn birthday_month(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split('-').collect();
    let (month, day) = match parts.as_slice() {
        [_, m, d] | [m, d] => (m.parse::<i8>().ok()?, d.parse::<i8>().ok()?),
        _ => return None,
    };
    // 2000 is a leap year, so 02-29 is accepted.
    Date::new(2000, month, day).ok()?;
    Some(i64::from(month))
}

/// A checked change of attributes: a value sets, None removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributePatch(BTreeMap<String, Option<String>>);

impl AttributePatch {
    /// Known keys are checked (`gender`: female, male or other; `birthday`: YYYY-MM-DD or
    /// MM-DD; `city`), custom keys are lower-case words of at most 64 characters.
    pub fn parse(input: BTreeMap<String, Option<String>>) -> Result<Self, Error> {
        let mut out = BTreeMap::new();
        for (key, value) in input {
            if !valid_attribute_key(&key) {
                return Err(Error::invalid(format!(
                    "attribute {key:?}: keys are 1 to 64 lower-case letters, digits or _"
                )));
            }
            let value = match value {
                None => None,
                Some(v) => Some(Self::value(&key, v.trim())?),
            };
            out.insert(key, value);
        }
        Ok(Self(out))
    }

    fn value(key: &str, value: &str) -> Result<String, Error> {
        let invalid = |m: &str| Err(Error::invalid(format!("attribute {key}: {m}")));
        if value.is_empty()
            || value.chars().count() > MAX_ATTRIBUTE_CHARS
            || value.chars().any(char::is_control)
        {
            return invalid("values are 1 to 500 characters (null removes it)");
        }
        match key {
            "gender" if !matches!(value, "female" | "male" | "other") => {
                invalid("gender is female, male or other")
            }
            "birthday" if birthday_month(value).is_none() => {
                invalid("birthday is YYYY-MM-DD or MM-DD")
            }
            _ => Ok(value.to_string()),
        }
    }

    /// Applies the change; fails without changing anything past the attribute limit.
    pub fn apply(&self, customer: &mut Customer) -> Result<bool, Error> {
        let mut next = customer.attributes.clone();
        for (key, value) in &self.0 {
            match value {
                Some(v) => next.insert(key.clone(), v.clone()),
                None => next.remove(key),
            };
        }
        if next.len() > MAX_ATTRIBUTES {
            return Err(Error::invalid(format!(
                "a customer holds at most {MAX_ATTRIBUTES} attributes"
            )));
        }
        let changed = next != customer.attributes;
        customer.attributes = next;
        Ok(changed)
    }
}
