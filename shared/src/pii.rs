//! Keyed hashes of personal identifiers. A plain hash of a phone number can be reversed by
//! trying every number; an HMAC with a secret pepper cannot without the pepper.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::ids::ExternalId;
use crate::domain::{EmailAddress, PhoneNumber, Platform};

type HmacSha256 = Hmac<Sha256>;

/// One way of recognising a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    PlatformCustomer(Platform, ExternalId),
    Phone(PhoneNumber),
    Email(EmailAddress),
}

impl Identity {
    /// The index key part: a kind prefix and 128 bits of HMAC-SHA256 in hex.
    pub fn hash(&self, pepper: &[u8]) -> String {
        let (kind, material) = match self {
            Identity::PlatformCustomer(platform, id) => {
                ("u", format!("{}:{}", platform.as_str(), id.as_str()))
            }
            Identity::Phone(phone) => ("p", phone.as_str().to_string()),
            Identity::Email(email) => ("e", email.as_str().to_string()),
        };
        let mut mac = HmacSha256::new_from_slice(pepper).expect("HMAC takes keys of any length");
        mac.update(kind.as_bytes());
        mac.update(b":");
        mac.update(material.as_bytes());
        let digest = mac.finalize().into_bytes();
        format!("{kind}{}", hex::encode(&digest[..16]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_depend_on_the_pepper_and_the_kind() {
        let phone = Identity::Phone(PhoneNumber::parse("13812345678", "86").unwrap());
        let a = phone.hash(b"pepper-one-0123456789");
        let b = phone.hash(b"pepper-two-0123456789");
        assert_ne!(a, b);
        assert!(a.starts_with('p') && a.len() == 33);
        assert!(!a.contains("13812345678"));
    }
}
