//! Using a code: validation with a machine-readable reason, redemption once per order, and
//! rollback when the order is cancelled or refunded.

use super::*;
use schemars::JsonSchema;

/// What `GET /api/coupons/{code}` answers: usable or not, and why not.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Verdict {
    pub code: String,
    pub valid: bool,
    pub reason: Option<Rejection>,
    pub campaign: Option<CampaignId>,
    pub discount: Option<campaigns::Discount>,
    /// The discount on `order_total`, when given.
    pub discount_minor: Option<MinorUnits>,
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
) -> Result<Verdict, Error> {
    let parsed = CouponCode::parse(code);
    let mut verdict = Verdict {
        code: parsed.as_ref().map_or(code, CouponCode::as_str).to_string(),
        valid: false,
        reason: Some(Rejection::NotFound),
        campaign: None,
        discount: None,
        discount_minor: None,
        valid_until: None,
    };
    let Some(coupon) = parsed
        .ok()
        .map(|code| load_coupon(store, shop, &code))
        .transpose()?
        .flatten()
    else {
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
) -> Result<Result<(), Rejection>, Error> {
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

/// An order using a code.
#[derive(Debug, Clone)]
pub struct OrderUse {
    /// `{platform}/{order id}` or `api/{order id}`.
    pub order: String,
    pub customer: Option<CustomerId>,
    pub total_minor: Option<MinorUnits>,
    pub currency: Option<Currency>,
}

/// A shared code's use by one order; `counted` flips once, so counters move once.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct SharedUse {
    customer: Option<CustomerId>,
    total_minor: Option<MinorUnits>,
    currency: Option<Currency>,
    counted: bool,
}

/// Redeems a code for an order through the API: every check applies, the quota and limits
/// atomically. Redeeming the same code for the same order again answers the same.
pub fn redeem(
    store: &dyn Store,
    shop: &ShopId,
    code: &CouponCode,
    order: &OrderUse,
    now: Timestamp,
) -> Result<Coupon, Error> {
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
) -> Result<bool, Error> {
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
    code: &CouponCode,
    order: &OrderUse,
    now: Timestamp,
) -> Result<Result<Coupon, Rejection>, Error> {
    let (coupon, changed) = update_json(
        store,
        &keys::coupon(shop, code),
        |current: Option<Coupon>| {
            let Some(mut coupon) = current else {
                return Ok::<_, Error>(Change::Keep((Err(Rejection::NotFound), false)));
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
    campaign: &CampaignId,
    order: &OrderUse,
    sign: i64,
) -> Result<(), Error> {
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
) -> Result<(), Error> {
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
        let held = Holdings::take(store, key, &order_token, limit)?;
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
                Holdings::release(store, key, &order_token)?;
            }
            return Err(Rejection::QuotaReached.error());
        }
        count_redemption(store, shop, &campaign.id, order, 1)?;
    }
    Ok(())
}

fn flip_counted(store: &dyn Store, key: &str, to: bool) -> Result<bool, Error> {
    update_json(store, key, |current: Option<SharedUse>| {
        let Some(mut u) = current else {
            return Ok::<_, Error>(Change::Keep(false));
        };
        if u.counted == to {
            return Ok(Change::Keep(false));
        }
        u.counted = to;
        Ok(Change::Write(u, true))
    })
}

/// What an order's state means for the codes it used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
) -> Result<(), Error> {
    for code in codes {
        let Ok(code) = CouponCode::parse(code) else {
            continue;
        };
        let Some(coupon) = load_coupon(store, shop, &code)? else {
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
    code: &CouponCode,
    order: &OrderUse,
) -> Result<(), Error> {
    let undone = update_json(
        store,
        &keys::coupon(shop, code),
        |current: Option<Coupon>| {
            let Some(mut coupon) = current else {
                return Ok::<_, Error>(Change::Keep(None));
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
        if let Some(coupon) = load_coupon(store, shop, code)? {
            count_redemption(store, shop, &coupon.campaign, &used, -1)?;
        }
    }
    Ok(())
}

fn roll_back_shared(
    store: &dyn Store,
    shop: &ShopId,
    coupon: &Coupon,
    campaign: &CouponCampaign,
    order: &OrderUse,
) -> Result<(), Error> {
    let token = hash_key(&order.order);
    let use_key = keys::shared_use(shop, &coupon.code, &token);
    let Some(used) = get_json::<SharedUse>(store, &use_key)? else {
        return Ok(());
    };
    if flip_counted(store, &use_key, false)? {
        store.increment(&keys::campaign_counter(shop, &campaign.id, "redeemed"), -1)?;
        if let Some(customer) = &used.customer {
            Holdings::release(
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
