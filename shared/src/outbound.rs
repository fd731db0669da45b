//! Outgoing HTTP, as a port: the Spin component provides it, tests provide their own. Every
//! message Siyu delivers to a shop (reminders, phone verification codes) is signed one way,
//! by `post_signed`, so a receiver checks them all alike (README, "Delivery").

use jiff::Timestamp;

/// Outgoing HTTP as Siyu needs it: POST a body with headers, learn the status.
pub trait Outbound {
    /// The response status, or why no response came (refused, unreachable, timed out).
    fn post(&self, url: &str, headers: &[(String, String)], body: &[u8]) -> Result<u16, String>;
}

/// For environments that send nothing (every component but the one that delivers).
pub struct NoOutbound;

impl Outbound for NoOutbound {
    fn post(&self, _: &str, _: &[(String, String)], _: &[u8]) -> Result<u16, String> {
        Err("this component makes no outbound requests".into())
    }
}

/// Where a shop's messages go and the secret they are signed with.
#[derive(Debug, Clone)]
pub struct DeliveryTarget {
    pub url: String,
    pub secret: String,
}

/// Posts a JSON message to the shop's delivery URL, signed: `x-siyu-signature` is the hex
/// HMAC-SHA256, with the shop's secret, of `{x-siyu-timestamp}.{body}`; `x-siyu-message-id`
/// lets the receiver drop a message it already has.
pub fn post_signed(
    outbound: &dyn Outbound,
    target: &DeliveryTarget,
    message_id: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<u16, String> {
    let timestamp = now.as_second().to_string();
    let signature = hex::encode(crate::crypto::hmac_sha256(
        target.secret.as_bytes(),
        &[timestamp.as_bytes(), b".", body],
    ));
    let headers = [
        ("content-type".to_string(), "application/json".to_string()),
        ("x-siyu-message-id".to_string(), message_id.to_string()),
        ("x-siyu-timestamp".to_string(), timestamp),
        ("x-siyu-signature".to_string(), signature),
    ];
    outbound.post(&target.url, &headers, body)
}
