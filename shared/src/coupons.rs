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

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::applog;
use crate::campaigns::{self, CodeSource, CouponCampaign};
use crate::customers::{self, Customer};
use crate::domain::{Currency, CustomerId, ShopId};
use crate::error::ApiError;
use crate::keys;
use crate::store::{create_json, get_json, update_json, Change, Store, StoreError};

/// How long an unfinished issue keeps its idempotency key before a retry takes over.
const ISSUE_LEASE_SECONDS: i64 = 10;
/// How long a request waits for a concurrent one with the same idempotency key.
const WAIT_FOR_TWIN_MS: u64 = 3_000;
/// Pool codes one import request may add.
pub const MAX_IMPORT: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CouponState {
    /// An imported pool code not yet handed out.
    Available,
    Issued,
    Redeemed,
    /// A campaign's public code: redemptions are counted, not recorded on it.
    Shared,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redemption {
    /// `{platform}/{order id}`, or `api/{order id}` when redeemed through the API.
    pub order: String,
    pub customer: Option<CustomerId>,
    pub at: Timestamp,
    pub order_total_minor: Option<i64>,
    pub currency: Option<Currency>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    pub code: String,
    pub campaign: String,
    /// The customer it was issued to; None for printed and shared codes.
    pub customer: Option<CustomerId>,
    pub state: CouponState,
    pub issued_at: Option<Timestamp>,
    pub valid_from: Option<Timestamp>,
    pub valid_until: Option<Timestamp>,
    pub redemption: Option<Redemption>,
}

/// Why a code cannot be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

    /// As an API error: the campaign or code exists but refuses (409), or does not (404).
    pub fn error(self) -> ApiError {
        let status = match self {
            Rejection::NotFound => 404,
            Rejection::NotEligible | Rejection::MinSpendNotMet => 422,
            _ => 409,
        };
        ApiError::new(
            status,
            self.as_str(),
            format!("coupon refused: {}", self.as_str()),
        )
    }
}

// ------------------------------------------------------------------ issuing

/// Progress of one issue request, under its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct IssueRecord {
    /// Names this attempt in the customer's record, so a retry is not counted twice.
    token: String,
    customer: CustomerId,
    /// Set for generated codes when the record is made, so a retry makes the same code.
    code: Option<String>,
    quota_slot: Option<i64>,
    pool_slot: Option<i64>,
    leased_at: Timestamp,
    outcome: Option<Result<String, Rejection>>,
}

/// A customer's coupons of one campaign (tokens of the issues that gave them).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Holdings {
    tokens: Vec<String>,
}

/// Issues one coupon of a campaign to a customer. The same `idempotency_key` always answers
/// with the same coupon (or the same refusal), even when two requests race.
pub fn issue(
    store: &dyn Store,
    shop: &ShopId,
    campaign_id: &str,
    customer_id: &CustomerId,
    idempotency_key: Option<&str>,
    now: Timestamp,
) -> Result<Coupon, ApiError> {
    let campaign = campaigns::load(store, shop, campaign_id)?;
    let customer = customers::load(store, shop, customer_id)?;
    if let CodeSource::Shared { code } = &campaign.codes {
        // Everyone gets the one public code; its limits count redemptions.
        check_issuable(&campaign, &customer, now)?;
        return load_coupon(store, shop, code)?.ok_or_else(|| ApiError::not_found("coupon"));
    }
    let key = idempotency_key
        .map(String::from)
        .unwrap_or_else(|| crate::domain::ids::random_id(24));
    let idem = keys::issue_idempotency(shop, campaign_id, &hash_key(&key));
    let fresh = IssueRecord {
        token: crate::domain::ids::random_id(16),
        customer: customer_id.clone(),
        code: campaign.new_code(),
        quota_slot: None,
        pool_slot: None,
        leased_at: now,
        outcome: None,
    };
    let (mut record, created) = create_json(store, &idem, &fresh)?;
    if record.customer != *customer_id {
        return Err(ApiError::new(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used for another customer",
        ));
    }
    if !created {
        record = match wait_for_twin(store, &idem, record, now)? {
            Twin::Finished(outcome) => return finished(store, shop, outcome),
            Twin::TakenOver(record) => record,
        };
    }
    let outcome = match issue_steps(store, shop, &campaign, &customer, &idem, &mut record, now) {
        Ok(code) => Ok(code),
        Err(IssueError::Refused(r)) => Err(r),
        Err(IssueError::Store(e)) => {
            // Let a retry take over at once rather than wait out the lease; if the store
            // is down this fails too, and the lease runs out on its own.
            let _ = update_json(store, &idem, |current: Option<IssueRecord>| {
                let mut r = current.unwrap_or(record.clone());
                r.leased_at = Timestamp::UNIX_EPOCH;
                Ok::<_, StoreError>(Change::Write(r, ()))
            });
            return Err(e);
        }
    };
    update_json(store, &idem, |current: Option<IssueRecord>| {
        let mut r = current.unwrap_or(record.clone());
        r.outcome = Some(outcome.clone());
        Ok::<_, ApiError>(Change::Write(r, ()))
    })?;
    if outcome.is_ok() {
        store.increment(&keys::campaign_stat(shop, campaign_id, "issued"), 1)?;
    }
    finished(store, shop, outcome)
}

enum Twin {
    Finished(Result<String, Rejection>),
    TakenOver(IssueRecord),
}

/// Another request holds this key: wait for it, or take over once its lease ran out (it
/// crashed), reusing what it recorded. A refusal is not final: the same key tries again (the
/// quota may have been raised, the customer may have become eligible).
fn wait_for_twin(
    store: &dyn Store,
    key: &str,
    mut record: IssueRecord,
    now: Timestamp,
) -> Result<Twin, ApiError> {
    let mut waited = 0;
    loop {
        if let Some(Ok(code)) = &record.outcome {
            return Ok(Twin::Finished(Ok(code.clone())));
        }
        let expired = record.outcome.is_some()
            || (now - record.leased_at).get_seconds() >= ISSUE_LEASE_SECONDS;
        if !expired && waited >= WAIT_FOR_TWIN_MS {
            // Taking over a live request could hand out a second pool code under one key.
            return Err(ApiError::new(
                409,
                "idempotency_key_in_use",
                "a request with this Idempotency-Key is still running; retry shortly",
            ));
        }
        if expired {
            let previous = record.clone();
            let taken = update_json(store, key, |current: Option<IssueRecord>| {
                let current = current.unwrap_or(previous.clone());
                if current != previous {
                    return Ok::<_, ApiError>(Change::Keep(None));
                }
                let mut ours = current;
                ours.leased_at = now;
                ours.outcome = None;
                Ok(Change::Write(ours.clone(), Some(ours)))
            })?;
            if let Some(ours) = taken {
                return Ok(Twin::TakenOver(ours));
            }
        } else {
            std::thread::sleep(std::time::Duration::from_millis(20));
            waited += 20;
        }
        record = get_json(store, key)?.ok_or_else(|| ApiError::new(503, "busy", "retry"))?;
    }
}

fn finished(
    store: &dyn Store,
    shop: &ShopId,
    outcome: Result<String, Rejection>,
) -> Result<Coupon, ApiError> {
    let code = outcome.map_err(Rejection::error)?;
    load_coupon(store, shop, &code)?.ok_or_else(|| ApiError::new(503, "busy", "retry"))
}

enum IssueError {
    Refused(Rejection),
    Store(ApiError),
}

impl<E: Into<ApiError>> From<E> for IssueError {
    fn from(e: E) -> Self {
        IssueError::Store(e.into())
    }
}

fn check_issuable(
    campaign: &CouponCampaign,
    customer: &Customer,
    now: Timestamp,
) -> Result<(), ApiError> {
    issuable(campaign, customer, now).map_err(Rejection::error)
}

fn issuable(
    campaign: &CouponCampaign,
    customer: &Customer,
    now: Timestamp,
) -> Result<(), Rejection> {
    if !campaign.active {
        return Err(Rejection::CampaignPaused);
    }
    if campaign.ends_at.is_some_and(|end| now >= end) {
        return Err(Rejection::Expired);
    }
    let eligible = customer.erased_at.is_none()
        && (campaign.eligibility.tags.is_empty()
            || campaign
                .eligibility
                .tags
                .iter()
                .any(|t| customer.tags.has(t)))
        && (campaign.eligibility.rfm_groups.is_empty()
            || customer
                .rfm
                .is_some_and(|r| campaign.eligibility.rfm_groups.contains(&r.group)));
    if eligible {
        Ok(())
    } else {
        Err(Rejection::NotEligible)
    }
}

/// The steps of an issue, each safe to repeat after a crash: the customer's limit (by
/// token), a quota slot and a pool slot (recorded before use), then the coupon itself.
fn issue_steps(
    store: &dyn Store,
    shop: &ShopId,
    campaign: &CouponCampaign,
    customer: &Customer,
    idem: &str,
    record: &mut IssueRecord,
    now: Timestamp,
) -> Result<String, IssueError> {
    issuable(campaign, customer, now).map_err(IssueError::Refused)?;
    let holdings = keys::campaign_holdings(shop, &campaign.id, &customer.id);
    let token = record.token.clone();
    let held = update_json(store, &holdings, |current: Option<Holdings>| {
        let mut h = current.unwrap_or_default();
        if h.tokens.contains(&token) {
            return Ok::<_, StoreError>(Change::Keep(true));
        }
        if h.tokens.len() as i64 >= campaign.per_customer_limit {
            return Ok(Change::Keep(false));
        }
        h.tokens.push(token.clone());
        Ok(Change::Write(h, true))
    })?;
    if !held {
        return Err(IssueError::Refused(Rejection::CustomerLimitReached));
    }
    let release = |store: &dyn Store| -> Result<(), StoreError> {
        update_json(store, &holdings, |current: Option<Holdings>| {
            let mut h = current.unwrap_or_default();
            h.tokens.retain(|t| t != &token);
            Ok::<_, StoreError>(Change::Write(h, ()))
        })
    };

    if let (Some(quota), None) = (campaign.quota, record.quota_slot) {
        let slot = store.increment(&keys::campaign_counter(shop, &campaign.id, "quota"), 1)?;
        if slot > quota {
            release(store)?;
            return Err(IssueError::Refused(Rejection::QuotaReached));
        }
        record.quota_slot = Some(slot);
        remember(store, idem, record)?;
    }

    let (valid_from, valid_until) = validity(campaign, now);
    let coupon = Coupon {
        code: String::new(),
        campaign: campaign.id.clone(),
        customer: Some(customer.id.clone()),
        state: CouponState::Issued,
        issued_at: Some(now),
        valid_from,
        valid_until,
        redemption: None,
    };
    let code = match &campaign.codes {
        CodeSource::Pool => match take_pool_code(store, shop, campaign, record, idem, &coupon)? {
            Some(code) => code,
            None => {
                release(store)?;
                return Err(IssueError::Refused(Rejection::QuotaReached));
            }
        },
        _ => create_generated(store, shop, campaign, record, idem, &coupon)?,
    };
    Ok(code)
}

fn remember(store: &dyn Store, idem: &str, record: &IssueRecord) -> Result<(), StoreError> {
    update_json(store, idem, |_: Option<IssueRecord>| {
        Ok::<_, StoreError>(Change::Write(record.clone(), ()))
    })
}

/// When an issued coupon may be used: the campaign window, shortened to `valid_days`.
fn validity(campaign: &CouponCampaign, now: Timestamp) -> (Option<Timestamp>, Option<Timestamp>) {
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

/// Creates the coupon under the code the issue record holds; a code someone else holds
/// (a collision, vanishingly rare) is replaced by a new one.
fn create_generated(
    store: &dyn Store,
    shop: &ShopId,
    campaign: &CouponCampaign,
    record: &mut IssueRecord,
    idem: &str,
    template: &Coupon,
) -> Result<String, IssueError> {
    for _ in 0..8 {
        let code = match &record.code {
            Some(code) => code.clone(),
            None => {
                record.code = campaign.new_code();
                remember(store, idem, record)?;
                record.code.clone().unwrap_or_default()
            }
        };
        let coupon = Coupon {
            code: code.clone(),
            ..template.clone()
        };
        let (stored, _) = create_json(store, &keys::coupon(shop, &code), &coupon)?;
        if stored.campaign == coupon.campaign && stored.customer == coupon.customer {
            return Ok(code);
        }
        record.code = None;
    }
    Err(IssueError::Store(ApiError::new(
        503,
        "busy",
        "could not find a free code; retry",
    )))
}

/// Hands out the next pool code: the slot is recorded before the code is claimed, so a
/// retry claims the same one. Codes another campaign or issue already holds are skipped.
fn take_pool_code(
    store: &dyn Store,
    shop: &ShopId,
    campaign: &CouponCampaign,
    record: &mut IssueRecord,
    idem: &str,
    template: &Coupon,
) -> Result<Option<String>, IssueError> {
    let list = keys::lists::pool(&campaign.id);
    loop {
        let slot = match record.pool_slot {
            Some(slot) => slot,
            None => {
                let slot =
                    store.increment(&keys::campaign_counter(shop, &campaign.id, "pool"), 1)?;
                record.pool_slot = Some(slot);
                remember(store, idem, record)?;
                slot
            }
        };
        let Some(code) = get_json::<String>(store, &keys::list_slot(shop, &list, slot))? else {
            if slot > applog::len(store, shop, &list)? {
                return Ok(None);
            }
            record.pool_slot = None;
            continue;
        };
        let ours = Coupon {
            code: code.clone(),
            ..template.clone()
        };
        let claimed = update_json(
            store,
            &keys::coupon(shop, &code),
            |current: Option<Coupon>| {
                Ok::<_, StoreError>(match current {
                    None => Change::Write(ours.clone(), true),
                    Some(c) if c.state == CouponState::Available && c.campaign == campaign.id => {
                        Change::Write(ours.clone(), true)
                    }
                    // Our slot's code claimed for this customer: an earlier try of this issue.
                    Some(c) => {
                        Change::Keep(c.campaign == ours.campaign && c.customer == ours.customer)
                    }
                })
            },
        )?;
        if claimed {
            return Ok(Some(code));
        }
        record.pool_slot = None;
    }
}

fn hash_key(key: &str) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..16])
}

pub fn load_coupon(
    store: &dyn Store,
    shop: &ShopId,
    code: &str,
) -> Result<Option<Coupon>, ApiError> {
    let Ok(code) = campaigns::normalize_code(code) else {
        return Ok(None);
    };
    Ok(get_json(store, &keys::coupon(shop, &code))?)
}

// ------------------------------------------------------------------ pool and shared codes

/// What an import did.
#[derive(Debug, Serialize)]
pub struct ImportReport {
    pub imported: usize,
    pub duplicates: usize,
    pub pool_size: i64,
}

/// Adds platform-made codes to a pool campaign. Codes already known to the shop (in this
/// import, an earlier one, or any campaign) are counted as duplicates and skipped.
pub fn import_pool(
    store: &dyn Store,
    shop: &ShopId,
    campaign_id: &str,
    codes: &[String],
) -> Result<ImportReport, ApiError> {
    let campaign = campaigns::load(store, shop, campaign_id)?;
    if campaign.codes != CodeSource::Pool {
        return Err(ApiError::invalid("only pool campaigns take imported codes"));
    }
    if codes.len() > MAX_IMPORT {
        return Err(ApiError::invalid(format!(
            "at most {MAX_IMPORT} codes per import"
        )));
    }
    let mut normalized: Vec<String> = Vec::with_capacity(codes.len());
    for code in codes {
        let code = campaigns::normalize_code(code)
            .map_err(|e| ApiError::invalid(format!("code {code:?}: {e}")))?;
        normalized.push(code);
    }
    let mut report = ImportReport {
        imported: 0,
        duplicates: 0,
        pool_size: 0,
    };
    let list = keys::lists::pool(campaign_id);
    let mut seen = std::collections::BTreeSet::new();
    for code in normalized {
        if !seen.insert(code.clone())
            || get_json::<Coupon>(store, &keys::coupon(shop, &code))?.is_some()
        {
            report.duplicates += 1;
            continue;
        }
        // Listed first, then reserved: a crash in between leaves a listed code without a
        // record, which the hand-out claims then (never a reserved code no one can hand out).
        applog::append(store, shop, &list, &code)?;
        let available = Coupon {
            code: code.clone(),
            campaign: campaign_id.to_string(),
            customer: None,
            state: CouponState::Available,
            issued_at: None,
            valid_from: None,
            valid_until: None,
            redemption: None,
        };
        let (_, created) = create_json(store, &keys::coupon(shop, &code), &available)?;
        if created {
            report.imported += 1;
        } else {
            report.duplicates += 1;
        }
    }
    report.pool_size = applog::len(store, shop, &list)?;
    Ok(report)
}

/// Reserves a shared campaign's public code.
pub fn claim_shared_code(
    store: &dyn Store,
    shop: &ShopId,
    campaign: &CouponCampaign,
    code: &str,
    now: Timestamp,
) -> Result<(), ApiError> {
    let code = campaigns::normalize_code(code).map_err(ApiError::invalid)?;
    let shared = Coupon {
        code: code.clone(),
        campaign: campaign.id.clone(),
        customer: None,
        state: CouponState::Shared,
        issued_at: Some(now),
        valid_from: campaign.starts_at,
        valid_until: campaign.ends_at,
        redemption: None,
    };
    let (stored, _) = create_json(store, &keys::coupon(shop, &code), &shared)?;
    if stored.campaign != campaign.id {
        return Err(ApiError::new(
            409,
            "code_taken",
            "this code is already in use in the shop",
        ));
    }
    Ok(())
}

/// Campaigns that issue a coupon when a customer gains a tag: tag (folded) → campaign ids.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TagTriggers {
    campaigns: BTreeMap<String, String>,
}

pub fn index_tag_trigger(
    store: &dyn Store,
    shop: &ShopId,
    campaign: &CouponCampaign,
) -> Result<(), ApiError> {
    update_json(
        store,
        &keys::coupon_triggers(shop),
        |current: Option<TagTriggers>| {
            let mut t = current.unwrap_or_default();
            let before = t.campaigns.clone();
            match &campaign.issue_on_tag {
                Some(tag) => {
                    t.campaigns
                        .insert(campaign.id.clone(), tag.folded().to_string());
                }
                None => {
                    t.campaigns.remove(&campaign.id);
                }
            }
            Ok::<_, ApiError>(if t.campaigns == before {
                Change::Keep(())
            } else {
                Change::Write(t, ())
            })
        },
    )
}

/// Issues the coupons of campaigns triggered by tags a customer just gained; once per
/// customer and campaign. Refusals (quota reached, not eligible) are not errors here.
pub fn issue_for_new_tags(
    store: &dyn Store,
    shop: &ShopId,
    customer: &CustomerId,
    gained: &[crate::tags::TagName],
    now: Timestamp,
) -> Result<(), ApiError> {
    if gained.is_empty() {
        return Ok(());
    }
    let Some(triggers) = get_json::<TagTriggers>(store, &keys::coupon_triggers(shop))? else {
        return Ok(());
    };
    for (campaign, tag) in &triggers.campaigns {
        if gained.iter().any(|g| g.folded() == tag) {
            let key = format!("tag:{campaign}:{customer}");
            match issue(store, shop, campaign, customer, Some(&key), now) {
                Ok(_) => {}
                Err(e) if e.status < 500 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ validating

/// What `GET /api/coupons/{code}` answers: usable or not, and why not.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub code: String,
    pub valid: bool,
    pub reason: Option<Rejection>,
    pub campaign: Option<String>,
    pub discount: Option<campaigns::Discount>,
    /// The discount on `order_total`, when given.
    pub discount_minor: Option<i64>,
    pub valid_until: Option<Timestamp>,
}

/// Checks a code for a customer and order total without changing anything.
pub fn validate(
    store: &dyn Store,
    shop: &ShopId,
    code: &str,
    customer: Option<&CustomerId>,
    order_total: Option<i64>,
    now: Timestamp,
) -> Result<Verdict, ApiError> {
    let normalized = campaigns::normalize_code(code).unwrap_or_else(|_| code.to_string());
    let mut verdict = Verdict {
        code: normalized,
        valid: false,
        reason: Some(Rejection::NotFound),
        campaign: None,
        discount: None,
        discount_minor: None,
        valid_until: None,
    };
    let Some(coupon) = load_coupon(store, shop, code)? else {
        return Ok(verdict);
    };
    let campaign = campaigns::load(store, shop, &coupon.campaign)?;
    verdict.campaign = Some(campaign.id.clone());
    verdict.discount = Some(campaign.discount.clone());
    verdict.valid_until = coupon.valid_until;
    verdict.discount_minor = order_total.map(|t| campaign.discount.amount_off(t));
    verdict.reason = usable(store, shop, &coupon, &campaign, customer, order_total, now)?.err();
    verdict.valid = verdict.reason.is_none();
    Ok(verdict)
}

/// The checks every use of a code passes, in the order a shopper would want to hear them.
fn usable(
    store: &dyn Store,
    shop: &ShopId,
    coupon: &Coupon,
    campaign: &CouponCampaign,
    customer: Option<&CustomerId>,
    order_total: Option<i64>,
    now: Timestamp,
) -> Result<Result<(), Rejection>, ApiError> {
    if coupon.state == CouponState::Available {
        return Ok(Err(Rejection::NotFound));
    }
    if !campaign.active {
        return Ok(Err(Rejection::CampaignPaused));
    }
    if coupon.valid_from.is_some_and(|from| now < from) {
        return Ok(Err(Rejection::NotActiveYet));
    }
    if coupon.valid_until.is_some_and(|until| now >= until) {
        return Ok(Err(Rejection::Expired));
    }
    if coupon.state == CouponState::Redeemed {
        return Ok(Err(Rejection::AlreadyRedeemed));
    }
    if let (Some(owner), Some(customer)) = (&coupon.customer, customer) {
        if owner != customer {
            return Ok(Err(Rejection::NotOwner));
        }
    }
    if coupon.state == CouponState::Shared {
        if let Some(quota) = campaign.quota {
            let used = store.counter(&keys::campaign_counter(shop, &campaign.id, "redeemed"))?;
            if used >= quota {
                return Ok(Err(Rejection::QuotaReached));
            }
        }
        if let Some(customer) = customer {
            let key = keys::campaign_holdings(shop, &campaign.id, customer);
            let used = get_json::<Holdings>(store, &key)?.map_or(0, |h| h.tokens.len());
            if used as i64 >= campaign.per_customer_limit {
                return Ok(Err(Rejection::CustomerLimitReached));
            }
        }
    }
    if let (Some(min), Some(total)) = (campaign.min_order_minor, order_total) {
        if total < min {
            return Ok(Err(Rejection::MinSpendNotMet));
        }
    }
    Ok(Ok(()))
}

// ------------------------------------------------------------------ redeeming

/// An order using a code.
#[derive(Debug, Clone)]
pub struct OrderUse {
    /// `{platform}/{order id}` or `api/{order id}`.
    pub order: String,
    pub customer: Option<CustomerId>,
    pub total_minor: Option<i64>,
    pub currency: Option<Currency>,
}

/// A shared code's use by one order; `counted` flips once, so counters move once.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SharedUse {
    customer: Option<CustomerId>,
    total_minor: Option<i64>,
    currency: Option<Currency>,
    counted: bool,
}

/// Redeems a code for an order through the API: every check applies, the quota and limits
/// atomically. Redeeming the same code for the same order again answers the same.
pub fn redeem(
    store: &dyn Store,
    shop: &ShopId,
    code: &str,
    order: &OrderUse,
    now: Timestamp,
) -> Result<Coupon, ApiError> {
    let coupon = load_coupon(store, shop, code)?.ok_or_else(|| Rejection::NotFound.error())?;
    let campaign = campaigns::load(store, shop, &coupon.campaign)?;
    if redeemed_by(store, shop, &coupon, &order.order)? {
        return Ok(coupon);
    }
    usable(
        store,
        shop,
        &coupon,
        &campaign,
        order.customer.as_ref(),
        order.total_minor,
        now,
    )?
    .map_err(Rejection::error)?;
    if coupon.state == CouponState::Shared {
        redeem_shared(store, shop, &coupon, &campaign, order, true)?;
        return Ok(coupon);
    }
    mark_redeemed(store, shop, &coupon.code, order, now)?.map_err(Rejection::error)
}

/// Whether this order already holds the code (a repeated call).
fn redeemed_by(
    store: &dyn Store,
    shop: &ShopId,
    coupon: &Coupon,
    order: &str,
) -> Result<bool, ApiError> {
    if coupon.state == CouponState::Shared {
        let key = keys::shared_use(shop, &coupon.code, &hash_key(order));
        return Ok(get_json::<SharedUse>(store, &key)?.is_some_and(|u| u.counted));
    }
    Ok(coupon.redemption.as_ref().is_some_and(|r| r.order == order))
}

/// Sets a unique coupon's redemption to this order, unless another order holds it.
fn mark_redeemed(
    store: &dyn Store,
    shop: &ShopId,
    code: &str,
    order: &OrderUse,
    now: Timestamp,
) -> Result<Result<Coupon, Rejection>, ApiError> {
    let (coupon, changed) = update_json(
        store,
        &keys::coupon(shop, code),
        |current: Option<Coupon>| {
            let Some(mut coupon) = current else {
                return Ok::<_, ApiError>(Change::Keep((Err(Rejection::NotFound), false)));
            };
            match &coupon.redemption {
                Some(r) if r.order == order.order => Ok(Change::Keep((Ok(coupon), false))),
                Some(_) => Ok(Change::Keep((Err(Rejection::AlreadyRedeemed), false))),
                None => {
                    coupon.state = CouponState::Redeemed;
                    coupon.redemption = Some(Redemption {
                        order: order.order.clone(),
                        customer: order.customer.clone(),
                        at: now,
                        order_total_minor: order.total_minor,
                        currency: order.currency,
                    });
                    Ok(Change::Write(coupon.clone(), (Ok(coupon), true)))
                }
            }
        },
    )?;
    if changed {
        if let Ok(c) = &coupon {
            count_redemption(store, shop, &c.campaign, order, 1)?;
        }
    }
    Ok(coupon)
}

fn count_redemption(
    store: &dyn Store,
    shop: &ShopId,
    campaign: &str,
    order: &OrderUse,
    sign: i64,
) -> Result<(), ApiError> {
    store.increment(&keys::campaign_stat(shop, campaign, "redeemed"), sign)?;
    if let (Some(total), Some(currency)) = (order.total_minor, order.currency) {
        let stat = format!("revenue-{currency}");
        store.increment(&keys::campaign_stat(shop, campaign, &stat), sign * total)?;
    }
    Ok(())
}

/// A shared code's use: recorded once per order; with `gate`, refused past the quota or the
/// customer's limit (each taken atomically, given back on refusal).
fn redeem_shared(
    store: &dyn Store,
    shop: &ShopId,
    coupon: &Coupon,
    campaign: &CouponCampaign,
    order: &OrderUse,
    gate: bool,
) -> Result<(), ApiError> {
    let order_token = hash_key(&order.order);
    let holdings = order
        .customer
        .as_ref()
        .map(|c| keys::campaign_holdings(shop, &campaign.id, c));
    if let Some(key) = &holdings {
        let limit = if gate {
            campaign.per_customer_limit
        } else {
            i64::MAX
        };
        let held = update_json(store, key, |current: Option<Holdings>| {
            let mut h = current.unwrap_or_default();
            if h.tokens.contains(&order_token) {
                return Ok::<_, StoreError>(Change::Keep(true));
            }
            if h.tokens.len() as i64 >= limit {
                return Ok(Change::Keep(false));
            }
            h.tokens.push(order_token.clone());
            Ok(Change::Write(h, true))
        })?;
        if !held {
            return Err(Rejection::CustomerLimitReached.error());
        }
    }
    let counter = keys::campaign_counter(shop, &campaign.id, "redeemed");
    let use_key = keys::shared_use(shop, &coupon.code, &order_token);
    let fresh = SharedUse {
        customer: order.customer.clone(),
        total_minor: order.total_minor,
        currency: order.currency,
        counted: false,
    };
    create_json(store, &use_key, &fresh)?;
    let flipped = flip_counted(store, &use_key, true)?;
    if flipped {
        let used = store.increment(&counter, 1)?;
        if gate && campaign.quota.is_some_and(|q| used > q) {
            store.increment(&counter, -1)?;
            flip_counted(store, &use_key, false)?;
            if let Some(key) = &holdings {
                release_token(store, key, &order_token)?;
            }
            return Err(Rejection::QuotaReached.error());
        }
        count_redemption(store, shop, &campaign.id, order, 1)?;
    }
    Ok(())
}

fn flip_counted(store: &dyn Store, key: &str, to: bool) -> Result<bool, ApiError> {
    update_json(store, key, |current: Option<SharedUse>| {
        let Some(mut u) = current else {
            return Ok::<_, ApiError>(Change::Keep(false));
        };
        if u.counted == to {
            return Ok(Change::Keep(false));
        }
        u.counted = to;
        Ok(Change::Write(u, true))
    })
}

fn release_token(store: &dyn Store, key: &str, token: &str) -> Result<(), ApiError> {
    update_json(store, key, |current: Option<Holdings>| {
        let mut h = current.unwrap_or_default();
        h.tokens.retain(|t| t != token);
        Ok::<_, ApiError>(Change::Write(h, ()))
    })
}

/// What an order's state means for the codes it used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeUse {
    Redeemed,
    Cancelled,
    Refunded,
}

/// Brings the codes an order used in line with its state: redeemed while it stands, taken
/// back when it is cancelled or wholly refunded (if the campaign says so). Codes Siyu does not
/// know (the platform's own) are ignored. Safe to repeat.
pub fn apply_order_codes(
    store: &dyn Store,
    shop: &ShopId,
    codes: &[String],
    order: &OrderUse,
    state: CodeUse,
    now: Timestamp,
) -> Result<(), ApiError> {
    for code in codes {
        let Some(coupon) = load_coupon(store, shop, code)? else {
            continue;
        };
        if coupon.state == CouponState::Available {
            continue;
        }
        let campaign = campaigns::load(store, shop, &coupon.campaign)?;
        let roll_back = match state {
            CodeUse::Redeemed => false,
            CodeUse::Cancelled => campaign.rollback.on_cancel,
            CodeUse::Refunded => campaign.rollback.on_full_refund,
        };
        match (coupon.state, state, roll_back) {
            (CouponState::Shared, CodeUse::Redeemed, _) => {
                redeem_shared(store, shop, &coupon, &campaign, order, false)?
            }
            (CouponState::Shared, _, true) => {
                roll_back_shared(store, shop, &coupon, &campaign, order)?
            }
            (_, CodeUse::Redeemed, _) => {
                // Another order holding it already is a fact of the platform, not ours to undo.
                let _ = mark_redeemed(store, shop, &coupon.code, order, now)?;
            }
            (_, _, true) => roll_back_unique(store, shop, &coupon.code, order)?,
            _ => {}
        }
    }
    Ok(())
}

fn roll_back_unique(
    store: &dyn Store,
    shop: &ShopId,
    code: &str,
    order: &OrderUse,
) -> Result<(), ApiError> {
    let undone = update_json(
        store,
        &keys::coupon(shop, code),
        |current: Option<Coupon>| {
            let Some(mut coupon) = current else {
                return Ok::<_, ApiError>(Change::Keep(None));
            };
            match coupon.redemption.take() {
                Some(r) if r.order == order.order => {
                    coupon.state = CouponState::Issued;
                    Ok(Change::Write(coupon.clone(), Some(r)))
                }
                _ => Ok(Change::Keep(None)),
            }
        },
    )?;
    if let Some(r) = undone {
        let used = OrderUse {
            order: r.order,
            customer: r.customer,
            total_minor: r.order_total_minor,
            currency: r.currency,
        };
        let campaign = load_coupon(store, shop, code)?
            .map(|c| c.campaign)
            .unwrap_or_default();
        count_redemption(store, shop, &campaign, &used, -1)?;
    }
    Ok(())
}

fn roll_back_shared(
    store: &dyn Store,
    shop: &ShopId,
    coupon: &Coupon,
    campaign: &CouponCampaign,
    order: &OrderUse,
) -> Result<(), ApiError> {
    let token = hash_key(&order.order);
    let use_key = keys::shared_use(shop, &coupon.code, &token);
    let Some(used) = get_json::<SharedUse>(store, &use_key)? else {
        return Ok(());
    };
    if flip_counted(store, &use_key, false)? {
        store.increment(&keys::campaign_counter(shop, &campaign.id, "redeemed"), -1)?;
        if let Some(customer) = &used.customer {
            release_token(
                store,
                &keys::campaign_holdings(shop, &campaign.id, customer),
                &token,
            )?;
        }
        let counted = OrderUse {
            order: order.order.clone(),
            customer: used.customer,
            total_minor: used.total_minor,
            currency: used.currency,
        };
        count_redemption(store, shop, &campaign.id, &counted, -1)?;
    }
    Ok(())
}

// ------------------------------------------------------------------ stats

#[derive(Debug, Serialize)]
pub struct CampaignStats {
    pub issued: i64,
    pub redeemed: i64,
    /// Redeemed per issued, 0 to 1 (shared codes: None, nothing is issued).
    pub redemption_rate: Option<f64>,
    /// Orders that used a coupon of the campaign (one per redemption).
    pub orders: i64,
    /// Those orders' totals when redeemed, in the shop's currency, minor units.
    pub revenue_minor: i64,
    pub currency: Currency,
}

pub fn stats(
    store: &dyn Store,
    shop: &ShopId,
    campaign: &CouponCampaign,
    currency: Currency,
) -> Result<CampaignStats, ApiError> {
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

// ------------------------------------------------------------------ print batches

/// A run of codes for print (package cards, flyers): made page by page as they are
/// downloaded, each page the same codes every time it is fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrintBatch {
    pub name: String,
    pub count: i64,
    pub created_at: Timestamp,
}

/// Most codes one batch may hold.
pub const MAX_BATCH: i64 = 1_000_000;

/// Declares a batch; declaring the same name and count again answers the same batch.
pub fn create_batch(
    store: &dyn Store,
    shop: &ShopId,
    campaign_id: &str,
    name: &str,
    count: i64,
    now: Timestamp,
) -> Result<PrintBatch, ApiError> {
    let campaign = campaigns::load(store, shop, campaign_id)?;
    if !matches!(campaign.codes, CodeSource::Generated { .. }) {
        return Err(ApiError::invalid(
            "print batches need a campaign with generated codes",
        ));
    }
    let valid_name = (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if !valid_name {
        return Err(ApiError::invalid("name is 1 to 40 letters, digits, - or _"));
    }
    if !(1..=MAX_BATCH).contains(&count) {
        return Err(ApiError::invalid(format!("count must be 1 to {MAX_BATCH}")));
    }
    let batch = PrintBatch {
        name: name.to_string(),
        count,
        created_at: now,
    };
    let (stored, _) = create_json(store, &keys::print_batch(shop, campaign_id, name), &batch)?;
    if stored.count != count {
        return Err(ApiError::new(
            409,
            "batch_exists",
            "a batch of that name has another count",
        ));
    }
    Ok(stored)
}

/// One page of a batch as CSV (`code,valid_until`), and where the next page starts.
pub struct BatchPage {
    pub csv: Vec<u8>,
    pub next: Option<i64>,
    /// The campaign's quota ran out before the batch was complete.
    pub quota_reached: bool,
}

/// Codes `after+1 ..= after+limit` of a batch, made if not yet made. Each code is fixed in
/// the batch's slot before its coupon is written, so two downloads of one page agree.
pub fn batch_codes(
    store: &dyn Store,
    shop: &ShopId,
    campaign_id: &str,
    name: &str,
    after: i64,
    limit: i64,
    now: Timestamp,
) -> Result<BatchPage, ApiError> {
    let campaign = campaigns::load(store, shop, campaign_id)?;
    let batch: PrintBatch = get_json(store, &keys::print_batch(shop, campaign_id, name))?
        .ok_or_else(|| ApiError::not_found("batch"))?;
    let (valid_from, valid_until) = validity(&campaign, now);
    let mut rows: Vec<(String, Option<Timestamp>)> = Vec::new();
    let mut quota_reached = false;
    let last = (after.max(0) + limit).min(batch.count);
    let mut index = after.max(0);
    while index < last {
        index += 1;
        let slot_key = keys::print_batch_slot(shop, campaign_id, name, index);
        let code = match get_json::<String>(store, &slot_key)? {
            Some(code) => code,
            None => {
                if let Some(quota) = campaign.quota {
                    let slot =
                        store.increment(&keys::campaign_counter(shop, campaign_id, "quota"), 1)?;
                    if slot > quota {
                        quota_reached = true;
                        index -= 1;
                        break;
                    }
                }
                let fresh = campaign.new_code().unwrap_or_default();
                create_json(store, &slot_key, &fresh)?.0
            }
        };
        let coupon = Coupon {
            code: code.clone(),
            campaign: campaign_id.to_string(),
            customer: None,
            state: CouponState::Issued,
            issued_at: Some(now),
            valid_from,
            valid_until,
            redemption: None,
        };
        let (stored, created) = create_json(store, &keys::coupon(shop, &code), &coupon)?;
        if stored.campaign != campaign_id {
            // Another coupon of the shop has this code (1 in 31^8): give the slot a new one.
            store.delete(&slot_key)?;
            index -= 1;
            continue;
        }
        if created {
            store.increment(&keys::campaign_stat(shop, campaign_id, "issued"), 1)?;
        }
        rows.push((code, stored.valid_until));
    }
    let mut csv = Vec::new();
    {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut csv);
        let fail = |e: csv::Error| ApiError::new(500, "internal", format!("csv: {e}"));
        writer.write_record(["code", "valid_until"]).map_err(fail)?;
        for (code, until) in &rows {
            let until = until.map(|u| u.to_string()).unwrap_or_default();
            writer
                .write_record([code.as_str(), until.as_str()])
                .map_err(fail)?;
        }
        writer
            .flush()
            .map_err(|e| ApiError::new(500, "internal", format!("csv: {e}")))?;
    }
    Ok(BatchPage {
        csv,
        next: (index < batch.count && !quota_reached).then_some(index),
        quota_reached,
    })
}
