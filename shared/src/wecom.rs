//! WeCom (企业微信) callbacks: `msg_signature` = SHA-1 of the sorted token, timestamp, nonce
//! and encrypted message; the message is AES-256-CBC with the key from the 43-character
//! EncodingAESKey, IV = its first 16 bytes, PKCS#7 padding to 32 bytes, and the plaintext
//! 16 random bytes, a 4-byte big-endian length, the message, then the corp id.

use aes::Aes256;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use crate::error::{Error, ErrorCode};

/// Base64 as WeCom's own libraries read an EncodingAESKey: the 43 characters carry 258 bits,
/// and the 2 bits past the 32-byte key may be anything (about three in four keys the console
/// issues have them set, which strict decoding refuses).
const KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A shop's WeCom callback settings (from the WeCom admin console).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WecomCredentials {
    pub corp_id: String,
    pub token: String,
    pub encoding_aes_key: String,
}

impl WecomCredentials {
    pub fn validate(&self) -> Result<(), Error> {
        if self.key().is_none() {
            return Err(Error::invalid(
                "wecom.encoding_aes_key must be the 43-character EncodingAESKey from the WeCom console (letters and digits)",
            ));
        }
        if self.token.is_empty() || self.corp_id.is_empty() {
            return Err(Error::invalid("wecom.token and wecom.corp_id are required"));
        }
        Ok(())
    }

    fn key(&self) -> Option<[u8; 32]> {
        if self.encoding_aes_key.len() != 43 {
            return None;
        }
        KEY_BASE64
            .decode(&self.encoding_aes_key)
            .ok()?
            .try_into()
            .ok()
    }

    /// Checks `msg_signature` over (token, timestamp, nonce, encrypted), in constant time.
    pub fn verify(
        &self,
        signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypted: &str,
    ) -> Result<(), Error> {
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
            Err(Error::bad_signature())
        }
    }
}

/// How far a callback's (signed) timestamp may be from the server's clock: a captured
/// callback cannot be replayed, or read back through URL verification, after that.
pub const MAX_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_secs(300);

/// Refuses a callback whose signed timestamp is more than `MAX_SKEW` from `now`.
pub fn check_fresh(timestamp: &str, now: jiff::Timestamp) -> Result<(), Error> {
    let sent =
        crate::domain::time::parse_unix_seconds(timestamp).ok_or_else(Error::bad_signature)?;
    if now.duration_since(sent).abs() > MAX_SKEW {
        return Err(Error::Unauthenticated {
            code: crate::error::ErrorCode::StaleTimestamp,
            message: "the callback's timestamp is more than 5 minutes from the server's clock"
                .into(),
        });
    }
    Ok(())
}

impl WecomCredentials {
    /// Decrypts a message and checks it was meant for this corp. (An `echostr` whose `+` a
    /// proxy turned into spaces is read as WeCom sent it: see `restore_plus`.)
    pub fn decrypt(&self, encrypted: &str) -> Result<String, Error> {
        let bad = || {
            Error::malformed(
                ErrorCode::InvalidPayload,
                "the encrypted message cannot be read",
            )
        };
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
            return Err(Error::bad_signature());
        }
        String::from_utf8(message.to_vec()).map_err(|_| bad())
    }
}

/// An encrypted query parameter as WeCom sent it: base64 never holds spaces, so a space is a
/// `+` that a proxy or a form decoder read as one (WeCom's own samples undo it the same way).
pub fn restore_plus(encrypted: &str) -> String {
    encrypted.replace(' ', "+")
}

/// The `Encrypt` element of a callback's XML body.
pub fn encrypted_field(xml: &str) -> Result<String, Error> {
    field(xml, "Encrypt")?.ok_or_else(|| {
        Error::malformed(ErrorCode::InvalidPayload, "the body has no Encrypt element")
    })
}

/// A child element's text of the `<xml>` root.
pub fn field(xml: &str, name: &str) -> Result<Option<String>, Error> {
    let doc = roxmltree::Document::parse(xml)
        .map_err(|_| Error::malformed(ErrorCode::InvalidXml, "the body is not well-formed XML"))?;
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
pub fn contact_added(xml: &str) -> Result<Option<ContactAdded>, Error> {
    let is_add = field(xml, "Event")?.as_deref() == Some("change_external_contact")
        && field(xml, "ChangeType")?.as_deref() == Some("add_external_contact");
    if !is_add {
        return Ok(None);
    }
    let required = |name: &str| -> Result<String, Error> {
        field(xml, name)?.filter(|v| !v.is_empty()).ok_or_else(|| {
            Error::malformed(
                ErrorCode::InvalidPayload,
                format!("the event has no {name}"),
            )
        })
    };
    Ok(Some(ContactAdded {
        staff_user_id: required("UserID")?,
        external_user_id: required("ExternalUserID")?,
        state: field(xml, "State")?.filter(|s| !s.is_empty()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WeCom's own sample (`WXBizMsgCrypt` Sample.py): its EncodingAESKey ends in `t`, whose
    /// low bits strict base64 refuses.
    fn official() -> WecomCredentials {
        WecomCredentials {
            corp_id: "ww1436e0e65a779aee".into(),
            token: "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo".into(),
            encoding_aes_key: "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt".into(),
        }
    }

    const ECHOSTR: &str =
        "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==";

    #[test]
    fn the_console_keys_decode_as_wecom_decodes_them() {
        let key = official().key().expect("the official sample key");
        assert_eq!(
            hex::encode(key),
            "eaa91d32babaf274ca76ece72583b5037ed6da8120a64314be4b6d453a2a854b"
        );
        assert!(official().validate().is_ok());
        for wrong in [
            "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhU",   // 42
            "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUtt", // 44
            "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqh-t",  // not base64
        ] {
            let credentials = WecomCredentials {
                encoding_aes_key: wrong.into(),
                ..official()
            };
            assert!(credentials.validate().is_err(), "{wrong}");
        }
    }

    #[test]
    fn the_official_url_verification_vector_verifies_and_decrypts() {
        let c = official();
        c.verify(
            "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
            "1476416373",
            "47744683",
            ECHOSTR,
        )
        .unwrap();
        assert_eq!(c.decrypt(ECHOSTR).unwrap(), "1288432023552776189");
        // A forged signature or another corp's key is refused.
        assert!(c
            .verify("0".repeat(40).as_str(), "1476416373", "47744683", ECHOSTR)
            .is_err());
        let other = WecomCredentials {
            corp_id: "ww0000000000000000".into(),
            ..official()
        };
        assert!(other.decrypt(ECHOSTR).is_err());
        // A proxy that turned `+` into spaces does not break it.
        assert_eq!(restore_plus(&ECHOSTR.replace('+', " ")), ECHOSTR);
    }
}
