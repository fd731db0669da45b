//! WeCom (企业微信) callbacks: `msg_signature` = SHA-1 of the sorted token, timestamp, nonce
//! and encrypted message; the message is AES-256-CBC with the key from the 43-character
//! EncodingAESKey, IV = its first 16 bytes, PKCS#7 padding to 32 bytes, and the plaintext
//! 16 random bytes, a 4-byte big-endian length, the message, then the corp id.

use aes::Aes256;
use base64::Engine;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// A shop's WeCom callback settings (from the WeCom admin console).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WecomCredentials {
    pub corp_id: String,
    pub token: String,
    pub encoding_aes_key: String,
}

impl WecomCredentials {
    pub fn validate(&self) -> Result<(), ApiError> {
        if self.key().is_none() {
            return Err(ApiError::invalid(
                "wecom.encoding_aes_key must be the 43-character key from the WeCom console",
            ));
        }
        if self.token.is_empty() || self.corp_id.is_empty() {
            return Err(ApiError::invalid(
                "wecom.token and wecom.corp_id are required",
            ));
        }
        Ok(())
    }

    fn key(&self) -> Option<[u8; 32]> {
        if self.encoding_aes_key.len() != 43 {
            return None;
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(format!("{}=", self.encoding_aes_key))
            .ok()?;
        bytes.try_into().ok()
    }

    /// Checks `msg_signature` over (token, timestamp, nonce, encrypted), in constant time.
    pub fn verify(
        &self,
        signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypted: &str,
    ) -> Result<(), ApiError> {
        let mut parts = [self.token.as_str(), timestamp, nonce, encrypted];
        parts.sort_unstable();
        let expected = hex::encode(Sha1::digest(parts.concat().as_bytes()));
        if bool::from(
            expected
                .as_bytes()
                .ct_eq(signature.to_ascii_lowercase().as_bytes()),
        ) {
            Ok(())
        } else {
            Err(ApiError::bad_signature())
        }
    }

    /// Decrypts a message and checks it was meant for this corp.
    pub fn decrypt(&self, encrypted: &str) -> Result<String, ApiError> {
        let bad =
            || ApiError::bad_request("invalid_payload", "the encrypted message cannot be read");
        let key = self.key().ok_or_else(bad)?;
        let mut buffer = base64::engine::general_purpose::STANDARD
            .decode(encrypted.trim())
            .map_err(|_| bad())?;
        let plain = cbc::Decryptor::<Aes256>::new(&key.into(), key[..16].into())
            .decrypt_padded_mut::<NoPadding>(&mut buffer)
            .map_err(|_| bad())?;
        let pad = *plain.last().ok_or_else(bad)? as usize;
        if !(1..=32).contains(&pad) || pad > plain.len() {
            return Err(bad());
        }
        let plain = &plain[..plain.len() - pad];
        if plain.len() < 20 {
            return Err(bad());
        }
        let length = u32::from_be_bytes([plain[16], plain[17], plain[18], plain[19]]) as usize;
        // Untrusted length: checked, so a huge value cannot wrap on 32-bit wasm.
        let end = 20usize.checked_add(length).ok_or_else(bad)?;
        let message = plain.get(20..end).ok_or_else(bad)?;
        let receiver = plain.get(end..).ok_or_else(bad)?;
        if receiver != self.corp_id.as_bytes() {
            return Err(ApiError::bad_signature());
        }
        String::from_utf8(message.to_vec()).map_err(|_| bad())
    }
}

/// The `Encrypt` element of a callback's XML body.
pub fn encrypted_field(xml: &str) -> Result<String, ApiError> {
    field(xml, "Encrypt")?
        .ok_or_else(|| ApiError::bad_request("invalid_payload", "the body has no Encrypt element"))
}

/// A child element's text of the `<xml>` root.
pub fn field(xml: &str, name: &str) -> Result<Option<String>, ApiError> {
    let doc = roxmltree::Document::parse(xml)
        .map_err(|_| ApiError::bad_request("invalid_xml", "the body is not well-formed XML"))?;
    Ok(doc
        .root_element()
        .children()
        .find(|n| n.has_tag_name(name))
        .and_then(|n| n.text())
        .map(str::to_string))
}

/// A new external contact added to a staff member through a channel code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactAdded {
    pub staff_user_id: String,
    pub external_user_id: String,
    pub state: Option<String>,
}

/// Reads a decrypted event; `None` for events Siyu does not use.
pub fn contact_added(xml: &str) -> Result<Option<ContactAdded>, ApiError> {
    let is_add = field(xml, "Event")?.as_deref() == Some("change_external_contact")
        && field(xml, "ChangeType")?.as_deref() == Some("add_external_contact");
    if !is_add {
        return Ok(None);
    }
    let required = |name: &str| -> Result<String, ApiError> {
        field(xml, name)?.filter(|v| !v.is_empty()).ok_or_else(|| {
            ApiError::bad_request("invalid_payload", format!("the event has no {name}"))
        })
    };
    Ok(Some(ContactAdded {
        staff_user_id: required("UserID")?,
        external_user_id: required("ExternalUserID")?,
        state: field(xml, "State")?.filter(|s| !s.is_empty()),
    }))
}
