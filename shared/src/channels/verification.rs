//! Verified phone numbers on a channel's sign-up (`page.verify_phone`): a 6-digit code is
//! sent to the number and must come back with the lead. A code is valid 5 minutes and
//! survives 5 wrong tries; codes are limited per number (one a minute, 5 an hour) and per
//! client address (10 an hour), per shop.
//!
//! Storage, O(1) keys: the number's last code (`keys::phone_challenge`, by the number's keyed
//! hash and the hour it was sent) holds only a keyed hash of the code, its expiry and its
//! wrong tries, changed by compare-and-swap so that concurrent tries are each counted once.
//! The last code is this hour's record, or else the previous hour's (a code lives 5
//! minutes); older records are never written again and the scheduler's sweep deletes them
//! (`expiry`). The hourly counts per number and per address are `rate_limit` records
//! (`keys::phone_code_count`). Sending is `flows::phone_verification`'s.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::leads::ValidLead;
use super::Channel;
use crate::crypto::hmac_sha256;
use crate::domain::ids::{random_from, random_id};
use crate::domain::{PhoneNumber, ShopId};
use crate::error::{Error, ErrorCode};
use crate::expiry;
use crate::keys;
use crate::pii::Identity;
use crate::rate_limit::{admit, client_hash, is_full, Window};
use crate::store::{get_json, update_json, Change, Store};

/// How long a code works.
pub const CODE_VALID: SignedDuration = SignedDuration::from_mins(5);
/// Wrong codes allowed before the code stops working.
pub const MAX_WRONG_TRIES: u32 = 5;
/// The shortest wait before another code to the same number.
pub const RESEND_AFTER: SignedDuration = SignedDuration::from_secs(60);
/// Codes a number may receive from one shop in an hour.
pub const CODES_PER_NUMBER_PER_HOUR: i64 = 5;
/// Codes one client address may ask one shop for in an hour.
pub const CODES_PER_ADDRESS_PER_HOUR: i64 = 10;

/// The shop's own ceiling on codes (`Shop::limits`): every code is a text message the
/// merchant pays for, so many numbers asked for at once (SMS pumping) stop at it.
#[derive(Debug, Clone, Copy)]
pub struct CodeLimits {
    pub per_shop_per_hour: u32,
}

/// The last code sent to a number, as stored: the code itself only as a keyed hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PhoneChallenge {
    id: String,
    code_mac: String,
    sent_at: Timestamp,
    expires_at: Timestamp,
    #[serde(default)]
    wrong_tries: u32,
    #[serde(default)]
    verified_at: Option<Timestamp>,
    /// Its delivery failed: it counts for nothing, not even the wait before the next one.
    #[serde(default)]
    withdrawn: bool,
}

/// A code made for a number, to be delivered.
#[derive(Debug, Clone)]
pub struct CodeToSend {
    /// Names this code (the delivered message's id is made from it).
    pub challenge: String,
    /// The Unix hour it was sent in: where its record is.
    pub hour: i64,
    pub code: String,
    pub expires_at: Timestamp,
    pub resend_after: Timestamp,
}

/// What a lead's phone number needs before the lead is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneCheck {
    /// The channel does not verify numbers, or the lead gives none.
    NotAsked,
    /// The code given matched: the lead records the number as verified.
    Verified,
    /// No code was given: one must be sent first.
    CodeNeeded,
}

/// The number a lead through `channel` must prove, if any.
pub fn number_to_verify<'a>(channel: &Channel, lead: &'a ValidLead) -> Option<&'a PhoneNumber> {
    channel
        .page
        .verify_phone
        .then_some(lead.patch.phone.as_ref())
        .flatten()
}

/// Checks the code a lead brings for its number, when the channel asks for one; a matching
/// code marks the lead's number verified.
pub fn check_lead(
    store: &dyn Store,
    pepper: &[u8],
    shop: &ShopId,
    channel: &Channel,
    lead: &mut ValidLead,
    code: Option<&str>,
    now: Timestamp,
) -> Result<PhoneCheck, Error> {
    let Some(phone) = number_to_verify(channel, lead) else {
        return Ok(PhoneCheck::NotAsked);
    };
    let Some(code) = code else {
        return Ok(PhoneCheck::CodeNeeded);
    };
    confirm(store, pepper, shop, phone, code, now)?;
    lead.mark_phone_verified();
    Ok(PhoneCheck::Verified)
}

/// The number's last code and the key it is under: this hour's, or else the previous hour's.
fn last_challenge(
    store: &dyn Store,
    shop: &ShopId,
    number: &str,
    now: Timestamp,
) -> Result<Option<(String, PhoneChallenge)>, Error> {
    let hour = now.as_second().div_euclid(3600);
    for h in [hour, hour - 1] {
        let key = keys::phone_challenge(shop, number, h);
        if let Some(challenge) = get_json::<PhoneChallenge>(store, &key)? {
            return Ok(Some((key, challenge)));
        }
    }
    Ok(None)
}

fn number_hash(pepper: &[u8], phone: &PhoneNumber) -> String {
    Identity::Phone(phone.clone()).hash(pepper)
}

fn code_mac(pepper: &[u8], shop: &ShopId, challenge: &str, code: &str) -> String {
    let parts: [&[u8]; 6] = [
        b"phone-code:",
        shop.as_str().as_bytes(),
        b":",
        challenge.as_bytes(),
        b":",
        code.as_bytes(),
    ];
    hex::encode(hmac_sha256(pepper, &parts))
}

/// Makes a new code for `phone`, within the limits; the number's earlier code stops working.
/// `client` is the asking client's bucket.
pub fn issue(
    store: &dyn Store,
    pepper: &[u8],
    shop: &ShopId,
    shop_limits: &CodeLimits,
    phone: &PhoneNumber,
    client: &str,
    now: Timestamp,
) -> Result<CodeToSend, Error> {
    let number = number_hash(pepper, phone);
    let hour = now.as_second().div_euclid(3600);
    let key = keys::phone_challenge(shop, &number, hour);
    // The wait is checked before the counters so that a too-early press costs nothing; the
    // write below checks it again against a concurrent request.
    if let Some((_, current)) = last_challenge(store, shop, &number, now)? {
        wait_before_resend(&current, now)?;
    }
    // Every limit is read before any counts, so a refused request counts nowhere.
    let window = Window::hour(now);
    let limits = [
        (
            keys::phone_code_count(shop, "shop"),
            i64::from(shop_limits.per_shop_per_hour),
            "this shop has sent as many codes as it allows in an hour; try again later",
        ),
        (
            keys::phone_code_count(shop, &format!("a{}", client_hash(pepper, client))),
            CODES_PER_ADDRESS_PER_HOUR,
            "too many codes asked for from this address; try again in an hour",
        ),
        (
            keys::phone_code_count(shop, &number),
            CODES_PER_NUMBER_PER_HOUR,
            "too many codes sent to this number; try again in an hour",
        ),
    ];
    for (counter, limit, refusal) in &limits {
        if is_full(store, counter, window, *limit)? {
            return Err(Error::refused(ErrorCode::RateLimited, *refusal));
        }
    }
    for (counter, limit, refusal) in &limits {
        if !admit(store, shop, counter, window, *limit)? {
            return Err(Error::refused(ErrorCode::RateLimited, *refusal));
        }
    }
    let code = random_from(b"0123456789", 6);
    let id = random_id(16);
    let challenge = PhoneChallenge {
        code_mac: code_mac(pepper, shop, &id, &code),
        id,
        sent_at: now,
        expires_at: now + CODE_VALID,
        wrong_tries: 0,
        verified_at: None,
        withdrawn: false,
    };
    let created = update_json(store, &key, |current: Option<PhoneChallenge>| {
        if let Some(current) = &current {
            wait_before_resend(current, now)?;
        }
        Ok::<_, Error>(Change::Write(challenge.clone(), current.is_none()))
    })?;
    if created {
        // Past its hour, the next one and the code's life, nobody reads or writes it again.
        let unused_after = (hour + 2) * 3600 + CODE_VALID.as_secs() + expiry::GRACE_SECONDS;
        expiry::enlist(store, shop, &key, unused_after)?;
    }
    Ok(CodeToSend {
        hour,
        code,
        expires_at: challenge.expires_at,
        resend_after: now + RESEND_AFTER,
        challenge: challenge.id,
    })
}

fn wait_before_resend(current: &PhoneChallenge, now: Timestamp) -> Result<(), Error> {
    let next = current.sent_at + RESEND_AFTER;
    if current.withdrawn || now >= next {
        return Ok(());
    }
    let seconds = next.duration_since(now).as_secs().max(1);
    Err(Error::refused(
        ErrorCode::RateLimited,
        format!("a code was just sent to this number; ask again in {seconds} s"),
    ))
}

/// After a failed delivery: the code stops working and the number may ask again at once.
pub fn withdraw(
    store: &dyn Store,
    pepper: &[u8],
    shop: &ShopId,
    phone: &PhoneNumber,
    sent: &CodeToSend,
) -> Result<(), Error> {
    let key = keys::phone_challenge(shop, &number_hash(pepper, phone), sent.hour);
    update_json(store, &key, |current: Option<PhoneChallenge>| {
        Ok::<_, Error>(match current {
            Some(mut c) if c.id == sent.challenge && !c.withdrawn => {
                c.withdrawn = true;
                Change::Write(c, ())
            }
            _ => Change::Keep(()),
        })
    })
}

/// What a try did to the stored code.
enum Try {
    Right,
    Wrong { left: u32 },
}

/// Checks `code` against the last code sent to `phone`. A right code may be given again
/// until it expires (a retried submission); each wrong one is counted once.
pub fn confirm(
    store: &dyn Store,
    pepper: &[u8],
    shop: &ShopId,
    phone: &PhoneNumber,
    code: &str,
    now: Timestamp,
) -> Result<(), Error> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid_as(
            ErrorCode::WrongCode,
            "the code is the 6 digits sent to your phone",
        ));
    }
    let number = number_hash(pepper, phone);
    let key = match last_challenge(store, shop, &number, now)? {
        Some((key, _)) => key,
        None => keys::phone_challenge(shop, &number, now.as_second().div_euclid(3600)),
    };
    let outcome = update_json(store, &key, |current: Option<PhoneChallenge>| {
        let Some(mut challenge) = current.filter(|c| !c.withdrawn) else {
            return Err(Error::invalid_as(
                ErrorCode::PhoneUnverified,
                "no code was sent to this number; ask for one first",
            ));
        };
        if now >= challenge.expires_at {
            return Err(Error::invalid_as(
                ErrorCode::CodeExpired,
                "the code has expired; ask for a new one",
            ));
        }
        if challenge.wrong_tries >= MAX_WRONG_TRIES {
            return Err(Error::refused(
                ErrorCode::TooManyTries,
                "too many wrong codes; ask for a new one",
            ));
        }
        let presented = code_mac(pepper, shop, &challenge.id, &code);
        if bool::from(presented.as_bytes().ct_eq(challenge.code_mac.as_bytes())) {
            if challenge.verified_at.is_some() {
                return Ok(Change::Keep(Try::Right));
            }
            challenge.verified_at = Some(now);
            return Ok(Change::Write(challenge, Try::Right));
        }
        challenge.wrong_tries += 1;
        let left = MAX_WRONG_TRIES - challenge.wrong_tries;
        Ok(Change::Write(challenge, Try::Wrong { left }))
    })?;
    match outcome {
        Try::Right => Ok(()),
        Try::Wrong { left: 0 } => Err(Error::invalid_as(
            ErrorCode::WrongCode,
            "the code is not right, and that was the last try; ask for a new one",
        )),
        Try::Wrong { left } => Err(Error::invalid_as(
            ErrorCode::WrongCode,
            format!("the code is not right; {left} tries left"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    const PEPPER: &[u8] = b"pepper";
    const LIMITS: CodeLimits = CodeLimits {
        per_shop_per_hour: 1_000,
    };

    fn shop() -> ShopId {
        ShopId::parse("shp_aaaaaaaaaaaa").unwrap()
    }

    fn phone(n: u32) -> PhoneNumber {
        PhoneNumber::parse(&format!("+86138{n:08}"), "86").unwrap()
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_790_000_000 + seconds).unwrap()
    }

    fn code_of(err: Error) -> ErrorCode {
        err.code()
    }

    #[test]
    fn a_code_is_six_digits_right_once_and_again_until_it_expires() {
        let store = MemoryStore::default();
        let sent = issue(
            &store,
            PEPPER,
            &shop(),
            &LIMITS,
            &phone(1),
            "1.2.3.4",
            at(0),
        )
        .unwrap();
        assert_eq!(sent.code.len(), 6);
        assert!(sent.code.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(sent.expires_at, at(300));
        confirm(&store, PEPPER, &shop(), &phone(1), &sent.code, at(10)).unwrap();
        // A retried submission with the same code still passes, until the code expires.
        confirm(&store, PEPPER, &shop(), &phone(1), &sent.code, at(299)).unwrap();
        let late = confirm(&store, PEPPER, &shop(), &phone(1), &sent.code, at(300));
        assert_eq!(code_of(late.unwrap_err()), ErrorCode::CodeExpired);
        // Another number, or another shop, has no code.
        let other = confirm(&store, PEPPER, &shop(), &phone(2), &sent.code, at(10));
        assert_eq!(code_of(other.unwrap_err()), ErrorCode::PhoneUnverified);
        let other_shop = ShopId::parse("shp_bbbbbbbbbbbb").unwrap();
        let other = confirm(&store, PEPPER, &other_shop, &phone(1), &sent.code, at(10));
        assert_eq!(code_of(other.unwrap_err()), ErrorCode::PhoneUnverified);
    }

    #[test]
    fn a_code_sent_before_the_hour_turns_works_after_it_and_old_codes_are_swept() {
        let store = MemoryStore::default();
        // at(2800) is a whole Unix hour.
        let sent = issue(&store, PEPPER, &shop(), &LIMITS, &phone(1), "a", at(2700)).unwrap();
        confirm(&store, PEPPER, &shop(), &phone(1), &sent.code, at(2900)).unwrap();
        // Too early for another code in the new hour: the last one is still the last one.
        let early = issue(&store, PEPPER, &shop(), &LIMITS, &phone(1), "a", at(2720));
        assert_eq!(code_of(early.unwrap_err()), ErrorCode::RateLimited);
        let next = issue(&store, PEPPER, &shop(), &LIMITS, &phone(1), "a", at(2900)).unwrap();
        if next.code != sent.code {
            let old = confirm(&store, PEPPER, &shop(), &phone(1), &sent.code, at(2910));
            assert_eq!(
                code_of(old.unwrap_err()),
                ErrorCode::WrongCode,
                "the newer code counts"
            );
        }
        confirm(&store, PEPPER, &shop(), &phone(1), &next.code, at(2910)).unwrap();
        let records = |store: &MemoryStore| {
            store
                .keys()
                .into_iter()
                .filter(|k| k.contains("/pv/") || k.contains("/pvc/"))
                .count()
        };
        assert_eq!(
            records(&store),
            2 + 2 * 3,
            "two codes, three limits in two hours"
        );
        let far = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let swept =
            crate::expiry::sweep(&store, &shop(), at(2800 + 6 * 3600).as_second(), 100, far);
        assert_eq!(swept.unwrap().deleted, 8);
        assert_eq!(records(&store), 0);
    }

    #[test]
    fn five_wrong_tries_end_the_code() {
        let store = MemoryStore::default();
        let sent = issue(&store, PEPPER, &shop(), &LIMITS, &phone(1), "a", at(0)).unwrap();
        let wrong = if sent.code == "000000" {
            "111111"
        } else {
            "000000"
        };
        for left in (0..MAX_WRONG_TRIES).rev() {
            let err = confirm(&store, PEPPER, &shop(), &phone(1), wrong, at(1)).unwrap_err();
            assert_eq!(err.code(), ErrorCode::WrongCode);
            let says = match left {
                0 => "the last try".to_string(),
                left => format!("{left} tries left"),
            };
            assert!(err.message().contains(&says), "{}", err.message());
        }
        let err = confirm(&store, PEPPER, &shop(), &phone(1), &sent.code, at(2)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::TooManyTries);
        // Text that is not 6 digits is no try at all.
        let err = confirm(&store, PEPPER, &shop(), &phone(1), "12a456", at(2)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::WrongCode);
    }

    #[test]
    fn codes_wait_a_minute_and_are_limited_per_number_and_address() {
        let store = MemoryStore::default();
        issue(&store, PEPPER, &shop(), &LIMITS, &phone(1), "a", at(0)).unwrap();
        let early = issue(&store, PEPPER, &shop(), &LIMITS, &phone(1), "a", at(59)).unwrap_err();
        assert_eq!(early.code(), ErrorCode::RateLimited);
        for n in 1..CODES_PER_NUMBER_PER_HOUR {
            issue(&store, PEPPER, &shop(), &LIMITS, &phone(1), "a", at(60 * n)).unwrap();
        }
        let sixth = issue(&store, PEPPER, &shop(), &LIMITS, &phone(1), "b", at(400)).unwrap_err();
        assert_eq!(sixth.code(), ErrorCode::RateLimited);
        // That refusal counted nowhere: address "b" still has all ten codes of its hour.
        for n in 0..CODES_PER_ADDRESS_PER_HOUR {
            issue(
                &store,
                PEPPER,
                &shop(),
                &LIMITS,
                &phone(50 + n as u32),
                "b",
                at(400),
            )
            .unwrap();
        }
        // Address "c" asks for ten numbers; the eleventh is refused, other addresses are not.
        for n in 0..CODES_PER_ADDRESS_PER_HOUR {
            issue(
                &store,
                PEPPER,
                &shop(),
                &LIMITS,
                &phone(10 + n as u32),
                "c",
                at(0),
            )
            .unwrap();
        }
        let over = issue(&store, PEPPER, &shop(), &LIMITS, &phone(30), "c", at(1)).unwrap_err();
        assert_eq!(over.code(), ErrorCode::RateLimited);
        issue(&store, PEPPER, &shop(), &LIMITS, &phone(30), "d", at(1)).unwrap();
    }

    #[test]
    fn a_shop_sends_no_more_codes_an_hour_than_it_allows() {
        let store = MemoryStore::default();
        let three = CodeLimits {
            per_shop_per_hour: 3,
        };
        // Many numbers from many addresses (SMS pumping): the shop's ceiling stops them.
        for n in 0..3 {
            let client = format!("c{n}");
            issue(&store, PEPPER, &shop(), &three, &phone(n), &client, at(0)).unwrap();
        }
        let over = issue(&store, PEPPER, &shop(), &three, &phone(9), "c9", at(1)).unwrap_err();
        assert_eq!(over.code(), ErrorCode::RateLimited);
        assert!(over.message().contains("this shop"), "{}", over.message());
        // Another shop is not affected, and the next hour starts again.
        let other = ShopId::parse("shp_bbbbbbbbbbbb").unwrap();
        issue(&store, PEPPER, &other, &three, &phone(9), "c9", at(1)).unwrap();
        issue(&store, PEPPER, &shop(), &three, &phone(9), "c9", at(3600)).unwrap();
    }

    #[test]
    fn a_withdrawn_code_neither_works_nor_makes_the_number_wait() {
        let store = MemoryStore::default();
        let sent = issue(&store, PEPPER, &shop(), &LIMITS, &phone(1), "a", at(0)).unwrap();
        withdraw(&store, PEPPER, &shop(), &phone(1), &sent).unwrap();
        let err = confirm(&store, PEPPER, &shop(), &phone(1), &sent.code, at(1)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::PhoneUnverified);
        let again = issue(&store, PEPPER, &shop(), &LIMITS, &phone(1), "a", at(2)).unwrap();
        assert_ne!(again.challenge, sent.challenge);
    }
}
