//! Coupons: issuing exactly within quotas and per-customer limits however many requests
//! race, validating a code with a machine-readable reason, and redeeming it once per order
//! (from order webhooks or the API), rolled back by a cancellation or refund when the
//! campaign says so.
//!
//! Exactness without transactions: a quota is an atomic counter handing out slots (a slot
//! past the quota is refused, so concurrent issues never exceed it); a customer's coupons of
//! a campaign are one record changed by compare-and-swap; a pool code is handed out by its
//! own slot of the pool list; a coupon's redemption is set by compare-and-swap naming the
//! order. An issue request's progress is kept under its idempotency key, so a retry finishes
//! it with the same coupon. A crash after a slot is taken can leave that slot unused: never
//! one coupon too many, at worst one too few.

use schemars::JsonSchema;
use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::applog;
use crate::customers::{self, Customer};
use crate::domain::MinorUnits;
use crate::domain::{CampaignId, CouponCode, Currency, CustomerId, ShopId};
use crate::error::{Error, ErrorCode};
use crate::keys;
use crate::store::{create_json, get_json, update_json, Change, Store, StoreError};
use campaigns::{CodeSource, CouponCampaign};

mod batches;
pub mod campaigns;
mod issue;
mod pool;
mod redeem;

pub use batches::{batch_codes, create_batch, BatchPage, PrintBatch, MAX_BATCH};
pub use issue::issue;
pub use pool::{
    claim_shared_code, import_pool, index_tag_trigger, issue_for_new_tags, ImportReport, MAX_IMPORT,
};
pub use redeem::{apply_order_codes, redeem, validate, CodeUse, OrderUse, Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CouponState {
    /// An imported pool code not yet handed out.
    Available,
    Issued,
    Redeemed,
    /// A campaign's public code: redemptions are counted, not recorded on it.
    Shared,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Redemption {
    /// `{platform}/{order id}`, or `api/{order id}` when redeemed through the API.
    pub order: String,
    pub customer: Option<CustomerId>,
    pub at: Timestamp,
    pub order_total_minor: Option<MinorUnits>,
    pub currency: Option<Currency>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Coupon {
    pub code: CouponCode,
    pub campaign: CampaignId,
    /// The customer it was issued to; None for printed and shared codes.
    pub customer: Option<CustomerId>,
    pub state: CouponState,
    pub issued_at: Option<Timestamp>,
    pub valid_from: Option<Timestamp>,
    pub valid_until: Option<Timestamp>,
    pub redemption: Option<Redemption>,
}

/// Why a code cannot be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    NotFound,
    NotActiveYet,
    Expired,
    CampaignPaused,
    QuotaReached,
    CustomerLimitReached,
    MinSpendNotMet,
    NotOwner,
    AlreadyRedeemed,
    NotEligible,
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::NotFound => "not_found",
            Rejection::NotActiveYet => "not_active_yet",
            Rejection::Expired => "expired",
            Rejection::CampaignPaused => "campaign_paused",
            Rejection::QuotaReached => "quota_reached",
            Rejection::CustomerLimitReached => "customer_limit_reached",
            Rejection::MinSpendNotMet => "min_spend_not_met",
            Rejection::NotOwner => "not_owner",
            Rejection::AlreadyRedeemed => "already_redeemed",
            Rejection::NotEligible => "not_eligible",
        }
    }

    /// As an error: the campaign or code exists but refuses, or does not exist.
    pub fn error(self) -> Error {
        let message = format!("coupon refused: {}", self.as_str());
        match self {
            Rejection::NotFound => Error::NotFound { message },
            Rejection::NotEligible | Rejection::MinSpendNotMet => {
                Error::invalid_as(self.into(), message)
            }
            _ => Error::refused(self.into(), message),
        }
    }
}

impl From<Rejection> for ErrorCode {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::NotFound => Self::NotFound,
            Rejection::NotActiveYet => Self::NotActiveYet,
            Rejection::Expired => Self::Expired,
            Rejection::CampaignPaused => Self::CampaignPaused,
            Rejection::QuotaReached => Self::QuotaReached,
            Rejection::CustomerLimitReached => Self::CustomerLimitReached,
            Rejection::MinSpendNotMet => Self::MinSpendNotMet,
            Rejection::NotOwner => Self::NotOwner,
            Rejection::AlreadyRedeemed => Self::AlreadyRedeemed,
            Rejection::NotEligible => Self::NotEligible,
        }
    }
}

/// A customer's coupons of one campaign (tokens of the issues that gave them).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Holdings {
    pub(crate) tokens: Vec<String>,
}

impl Holdings {
    /// Adds `token` unless the customer already holds `limit`; true if it is held (also
    /// when it already was: a retry of the same issue or order).
    pub(crate) fn take(
        store: &dyn Store,
        key: &str,
        token: &str,
        limit: i64,
    ) -> Result<bool, StoreError> {
        update_json(store, key, |current: Option<Holdings>| {
            let mut h = current.unwrap_or_default();
            if h.tokens.iter().any(|t| t == token) {
                return Ok(Change::Keep(true));
            }
            if h.tokens.len() as i64 >= limit {
                return Ok(Change::Keep(false));
            }
            h.tokens.push(token.to_string());
            Ok(Change::Write(h, true))
        })
    }

    /// Gives a token back (the issue or redemption it stood for was refused or undone).
    pub(crate) fn release(store: &dyn Store, key: &str, token: &str) -> Result<(), StoreError> {
        update_json(store, key, |current: Option<Holdings>| {
            let Some(mut h) = current else {
                return Ok(Change::Keep(()));
            };
            let before = h.tokens.len();
            h.tokens.retain(|t| t != token);
            Ok(if h.tokens.len() == before {
                Change::Keep(())
            } else {
                Change::Write(h, ())
            })
        })
    }
}

/// When an issued coupon may be used: the campaign window, shortened to `valid_days`.
pub(crate) fn validity(
    campaign: &CouponCampaign,
    now: Timestamp,
) -> (Option<Timestamp>, Option<Timestamp>) {
    let after_issue = campaign.valid_days.and_then(|d| {
        now.checked_add(jiff::SignedDuration::from_hours(d * 24))
            .ok()
    });
    let until = match (campaign.ends_at, after_issue) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    (campaign.starts_at, until)
}

pub(crate) fn hash_key(key: &str) -> String {
    crate::domain::ids::short_hash(key, 16)
}

/// The code a client names: text that cannot be a code names no coupon (404, as an unknown
/// code).
pub fn code_named(text: &str) -> Result<CouponCode, Error> {
    CouponCode::parse(text).map_err(|_| Rejection::NotFound.error())
}

pub fn load_coupon(
    store: &dyn Store,
    shop: &ShopId,
    code: &CouponCode,
) -> Result<Option<Coupon>, Error> {
    Ok(get_json(store, &keys::coupon(shop, code))?)
}

/// A page of the coupons issued to a customer, oldest first (those issued since the list
/// was kept: December 2026), each as it stands now (issued, redeemed, …).
pub fn customer_coupons(
    store: &dyn Store,
    shop: &ShopId,
    customer: &CustomerId,
    after: i64,
    limit: usize,
) -> Result<(Vec<Coupon>, Option<i64>), Error> {
    customers::load(store, shop, customer)?;
    let list = keys::lists::customer_coupons(customer);
    let page = applog::page::<CouponCode>(store, shop, &list, after, limit)?;
    let mut coupons = Vec::with_capacity(page.entries.len());
    for (_, code) in page.entries {
        if let Some(coupon) = load_coupon(store, shop, &code)? {
            coupons.push(coupon);
        }
    }
    Ok((coupons, page.next))
}

// ------------------------------------------------------------------ stats

#[derive(Debug, Serialize, JsonSchema)]
pub struct CampaignStats {
    pub issued: i64,
    pub redeemed: i64,
    /// Redeemed per issued, 0 to 1 (shared codes: None, nothing is issued).
    pub redemption_rate: Option<f64>,
    /// Orders that used a coupon of the campaign (one per redemption).
    pub orders: i64,
    /// Those orders' totals when redeemed, in the shop's currency, minor units.
    pub revenue_minor: MinorUnits,
    pub currency: Currency,
}

pub fn stats(
    store: &dyn Store,
    shop: &ShopId,
    campaign: &CouponCampaign,
    currency: Currency,
) -> Result<CampaignStats, Error> {
    let stat = |name: &str| store.counter(&keys::campaign_stat(shop, &campaign.id, name));
    let issued = stat("issued")?;
    let redeemed = stat("redeemed")?.max(0);
    Ok(CampaignStats {
        issued,
        redeemed,
        redemption_rate: (issued > 0).then(|| redeemed as f64 / issued as f64),
        orders: redeemed,
        revenue_minor: stat(&format!("revenue-{currency}"))?,
        currency,
    })
}
