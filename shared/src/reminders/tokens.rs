//! Unsubscribe links: a token naming shop and customer, keyed with the pepper so that no one
//! can make one for somebody else.

use crate::domain::{CustomerId, ShopId};

/// The token of a customer's unsubscribe link: shop, customer and a keyed MAC, so a link
/// works without a login and cannot be made for someone else.
pub fn unsubscribe_token(pepper: &[u8], shop: &ShopId, customer: &CustomerId) -> String {
    format!(
        "{shop}.{customer}.{}",
        unsubscribe_mac(pepper, shop, customer)
    )
}

fn unsubscribe_mac(pepper: &[u8], shop: &ShopId, customer: &CustomerId) -> String {
    let mac = crate::crypto::hmac_sha256(
        pepper,
        &[
            b"unsubscribe:",
            shop.as_str().as_bytes(),
            b":",
            customer.as_str().as_bytes(),
        ],
    );
    hex::encode(&mac[..16])
}

/// The shop and customer a token names, if its MAC is right.
pub fn parse_unsubscribe_token(pepper: &[u8], token: &str) -> Option<(ShopId, CustomerId)> {
    let mut parts = token.split('.');
    let (shop, customer, mac) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (shop, customer) = (ShopId::parse(shop)?, CustomerId::parse(customer)?);
    let expected = unsubscribe_mac(pepper, &shop, &customer);
    let same: bool = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), mac.as_bytes()).into();
    same.then_some((shop, customer))
}
