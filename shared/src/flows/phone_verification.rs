//! A phone verification code is sent: the channel's rules make the code
//! (`channels::verification::issue`, within its limits), and the shop's delivery URL — the
//! one reminders use (`reminders::delivery_target`) — carries it, signed like every message,
//! so the merchant's SMS gateway sends it. A code whose delivery failed is withdrawn, so it
//! neither works nor makes the person wait before asking again.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::Serialize;

use crate::channels::verification;
use crate::channels::Channel;
use crate::domain::{PhoneNumber, ShopId};
use crate::error::{Error, ErrorCode};
use crate::outbound::{post_signed, Courier};
use crate::reminders;
use crate::shops::Shop;
use crate::store::Store;

/// The message a shop's delivery URL receives to send a code (documented in the README).
#[derive(Debug, Serialize, JsonSchema)]
pub struct CodeMessage {
    message_id: String,
    /// Always `phone_verification` (reminder messages carry no `kind`).
    kind: &'static str,
    shop_id: ShopId,
    sent_at: Timestamp,
    /// The number to text, in E.164.
    phone: String,
    code: String,
    expires_at: Timestamp,
    /// A ready-made SMS text, for gateways that take one.
    text: String,
}

/// What the person is told after a code went out.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CodeSent {
    /// The number, masked as shown to the person.
    pub sent_to: String,
    pub expires_at: Timestamp,
    /// The earliest another code may be asked for.
    pub resend_after: Timestamp,
}

/// Sends a new code to `phone` for a sign-up through `channel`; `client` is the asking
/// client's bucket (`web::ClientAddress::bucket`).
#[allow(clippy::too_many_arguments)]
pub fn send_code(
    store: &dyn Store,
    courier: Courier,
    pepper: &[u8],
    shop: &Shop,
    channel: &Channel,
    phone: &PhoneNumber,
    client: &str,
    now: Timestamp,
) -> Result<CodeSent, Error> {
    if !channel.page.verify_phone {
        return Err(Error::invalid(
            "this channel does not verify phone numbers: submit the lead directly",
        ));
    }
    let Some(target) = reminders::delivery_target(store, &shop.id, courier.allow_private)? else {
        return Err(Error::refused(
            ErrorCode::DeliveryUnavailable,
            "this shop cannot send codes yet (no delivery URL); please try again later",
        ));
    };
    let limits = verification::CodeLimits {
        per_shop_per_hour: shop.limits.phone_codes_per_hour,
    };
    let code = verification::issue(store, pepper, &shop.id, &limits, phone, client, now)?;
    let display = shop.branding.display_name.as_deref().unwrap_or(&shop.name);
    let minutes = verification::CODE_VALID.as_mins();
    let message = CodeMessage {
        message_id: format!("{}.pv.{}", shop.id, code.challenge),
        kind: "phone_verification",
        shop_id: shop.id.clone(),
        sent_at: now,
        phone: phone.as_str().to_string(),
        text: format!(
            "【{display}】验证码 {}，{minutes} 分钟内有效，仅用于本次登记。如非本人操作，请忽略。",
            code.code
        ),
        code: code.code.clone(),
        expires_at: code.expires_at,
    };
    let body = serde_json::to_vec(&message).map_err(|e| Error::internal(format!("code: {e}")))?;
    let delivered = post_signed(courier.outbound, &target, &message.message_id, &body, now);
    if !matches!(delivered, Ok(status) if (200..300).contains(&status)) {
        verification::withdraw(store, pepper, &shop.id, phone, &code)?;
        return Err(Error::refused(
            ErrorCode::DeliveryUnavailable,
            "the code could not be sent; please try again shortly",
        ));
    }
    Ok(CodeSent {
        sent_to: phone.masked(),
        expires_at: code.expires_at,
        resend_after: code.resend_after,
    })
}
