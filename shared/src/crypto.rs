//! Keyed hashes Siyu signs and checks with: webhook signatures, delivery signatures,
//! unsubscribe tokens, client-address hashes.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::Error;

type HmacSha256 = Hmac<Sha256>;

pub fn hmac_sha256(secret: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Constant-time check of a base64 HMAC-SHA256 of `body` against any of `secrets`.
pub fn verify_base64_hmac(
    secrets: &[&str],
    body: &[u8],
    signature: Option<&str>,
) -> Result<(), Error> {
    let presented = signature
        .and_then(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .ok()
        })
        .ok_or_else(Error::bad_signature)?;
    let mut any = subtle::Choice::from(0);
    for secret in secrets {
        any |= hmac_sha256(secret.as_bytes(), &[body]).ct_eq(presented.as_slice());
    }
    if secrets.is_empty() || !bool::from(any) {
        return Err(Error::bad_signature());
    }
    Ok(())
}
