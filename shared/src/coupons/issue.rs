//! Issuing a coupon: exactly within the quota and the customer's limit, once per
//! idempotency key.

use super::*;
use schemars::JsonSchema;
/// How long an unfinished issue keeps its idempotency key before a retry takes over.
const ISSUE_LEASE_SECONDS: i64 = 10;
/// How long a request waits for a concurrent one with the same idempotency key.
const WAIT_FOR_TWIN_MS: u64 = 3_000;

/// Progress of one issue request, under its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
struct IssueRecord {
    /// Names this attempt in the customer's record, so a retry is not counted twice.
    token: String,
    customer: CustomerId,
    /// Set for generated codes when the record is made, so a retry makes the same code.
    code: Option<CouponCode>,
    quota_slot: Option<i64>,
    pool_slot: Option<i64>,
    /// The slot of the customer's coupon list this coupon takes (recorded before written).
    #[serde(default)]
    list_slot: Option<i64>,
    leased_at: Timestamp,
    outcome: Option<Result<CouponCode, Rejection>>,
}

/// Issues one coupon of a campaign to a customer. The same `idempotency_key` always answers
/// with the same coupon (or the same refusal), even when two requests race.
pub fn issue(
    store: &dyn Store,
    shop: &ShopId,
    campaign_id: &CampaignId,
    customer_id: &CustomerId,
    idempotency_key: Option<&str>,
    now: Timestamp,
) -> Result<Coupon, Error> {
    let campaign = campaigns::load(store, shop, campaign_id)?;
    let customer = customers::load(store, shop, customer_id)?;
    if let Some(code) = campaign.shared_code() {
        // Everyone gets the one public code; its limits count redemptions.
        check_issuable(&campaign, &customer, now)?;
        return load_coupon(store, shop, &code)?.ok_or_else(|| Error::not_found("coupon"));
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
        list_slot: None,
        leased_at: now,
        outcome: None,
    };
    let (mut record, created) = create_json(store, &idem, &fresh)?;
    if record.customer != *customer_id {
        return Err(Error::invalid_as(
            ErrorCode::IdempotencyKeyReused,
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
    // This request holds the lease, so its copy of the record is the latest.
    record.outcome = Some(outcome.clone());
    remember(store, &idem, &record)?;
    if outcome.is_ok() {
        store.increment(&keys::campaign_stat(shop, campaign_id, "issued"), 1)?;
    }
    finished(store, shop, outcome)
}

enum Twin {
    Finished(Result<CouponCode, Rejection>),
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
) -> Result<Twin, Error> {
    let mut waited = 0;
    loop {
        if let Some(Ok(code)) = &record.outcome {
            return Ok(Twin::Finished(Ok(code.clone())));
        }
        let expired = record.outcome.is_some()
            || (now - record.leased_at).get_seconds() >= ISSUE_LEASE_SECONDS;
        if !expired && waited >= WAIT_FOR_TWIN_MS {
            // Taking over a live request could hand out a second pool code under one key.
            return Err(Error::refused(
                ErrorCode::IdempotencyKeyInUse,
                "a request with this Idempotency-Key is still running; retry shortly",
            ));
        }
        if expired {
            let previous = record.clone();
            let taken = update_json(store, key, |current: Option<IssueRecord>| {
                let current = current.unwrap_or(previous.clone());
                if current != previous {
                    return Ok::<_, Error>(Change::Keep(None));
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
        record = get_json(store, key)?.ok_or_else(|| Error::busy("retry"))?;
    }
}

fn finished(
    store: &dyn Store,
    shop: &ShopId,
    outcome: Result<CouponCode, Rejection>,
) -> Result<Coupon, Error> {
    let code = outcome.map_err(Rejection::error)?;
    load_coupon(store, shop, &code)?.ok_or_else(|| Error::busy("retry"))
}

enum IssueError {
    Refused(Rejection),
    Store(Error),
}

impl<E: Into<Error>> From<E> for IssueError {
    fn from(e: E) -> Self {
        IssueError::Store(e.into())
    }
}

fn check_issuable(
    campaign: &CouponCampaign,
    customer: &Customer,
    now: Timestamp,
) -> Result<(), Error> {
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
) -> Result<CouponCode, IssueError> {
    issuable(campaign, customer, now).map_err(IssueError::Refused)?;
    let holdings = keys::campaign_holdings(shop, &campaign.id, &customer.id);
    let token = record.token.clone();
    if !Holdings::take(store, &holdings, &token, campaign.per_customer_limit)? {
        return Err(IssueError::Refused(Rejection::CustomerLimitReached));
    }
    let release = |store: &dyn Store| Holdings::release(store, &holdings, &token);

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
    let coupon = |code: CouponCode| Coupon {
        code,
        campaign: campaign.id.clone(),
        customer: Some(customer.id.clone()),
        state: CouponState::Issued,
        issued_at: Some(now),
        valid_from,
        valid_until,
        redemption: None,
    };
    let code = match &campaign.codes {
        CodeSource::Pool {} => {
            match take_pool_code(store, shop, campaign, record, idem, &coupon)? {
                Some(code) => code,
                None => {
                    release(store)?;
                    return Err(IssueError::Refused(Rejection::QuotaReached));
                }
            }
        }
        _ => create_generated(store, shop, campaign, record, idem, &coupon)?,
    };
    list_for_customer(store, shop, &customer.id, record, idem, &code)?;
    Ok(code)
}

/// Lists the coupon among the customer's (`GET /api/customers/{id}/coupons`): its slot is
/// recorded before it is written and written once, so a retry fills the same slot and the
/// list holds the coupon once (a crash before the record only leaves an empty slot).
fn list_for_customer(
    store: &dyn Store,
    shop: &ShopId,
    customer: &CustomerId,
    record: &mut IssueRecord,
    idem: &str,
    code: &CouponCode,
) -> Result<(), IssueError> {
    let list = keys::lists::customer_coupons(customer);
    let slot = match record.list_slot {
        Some(slot) => slot,
        None => {
            let slot = store.increment(&keys::list_counter(shop, &list), 1)?;
            record.list_slot = Some(slot);
            remember(store, idem, record)?;
            slot
        }
    };
    create_json(store, &keys::list_slot(shop, &list, slot), code)?;
    Ok(())
}

fn remember(store: &dyn Store, idem: &str, record: &IssueRecord) -> Result<(), StoreError> {
    update_json(store, idem, |_: Option<IssueRecord>| {
        Ok::<_, StoreError>(Change::Write(record.clone(), ()))
    })
}

/// Creates the coupon under the code the issue record holds; a code someone else holds
/// (a collision, vanishingly rare) is replaced by a new one.
fn create_generated(
    store: &dyn Store,
    shop: &ShopId,
    campaign: &CouponCampaign,
    record: &mut IssueRecord,
    idem: &str,
    issued: &dyn Fn(CouponCode) -> Coupon,
) -> Result<CouponCode, IssueError> {
    for _ in 0..8 {
        let code = match &record.code {
            Some(code) => code.clone(),
            None => {
                let code = campaign.new_code().ok_or_else(|| {
                    Error::internal("issuing a code from a campaign without them")
                })?;
                record.code = Some(code.clone());
                remember(store, idem, record)?;
                code
            }
        };
        let coupon = issued(code.clone());
        let (stored, _) = create_json(store, &keys::coupon(shop, &code), &coupon)?;
        if stored.campaign == coupon.campaign && stored.customer == coupon.customer {
            return Ok(code);
        }
        record.code = None;
    }
    Err(IssueError::Store(Error::busy(
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
    issued: &dyn Fn(CouponCode) -> Coupon,
) -> Result<Option<CouponCode>, IssueError> {
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
        let Some(code) = get_json::<CouponCode>(store, &keys::list_slot(shop, &list, slot))? else {
            if slot > applog::len(store, shop, &list)? {
                // Exhausted: the slot goes back, so codes imported later are reached (the
                // claim below keeps any code from going out twice), and a retry under this
                // key takes a fresh one.
                store.increment(&keys::campaign_counter(shop, &campaign.id, "pool"), -1)?;
                record.pool_slot = None;
                return Ok(None);
            }
            record.pool_slot = None;
            continue;
        };
        let ours = issued(code.clone());
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
