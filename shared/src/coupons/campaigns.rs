//! Coupon campaigns: what a coupon is worth, when and to whom it may be issued, where its
//! codes come from, and what happens to a redemption when the order is cancelled or refunded.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::applog;
use crate::domain::MinorUnits;
use crate::domain::{CampaignId, CouponCode, Currency, ShopId};
use crate::error::Error;
use crate::keys;
use crate::rfm::RfmGroup;
use crate::store::{create_json, get_json, update_json, Change, Store};
use crate::tags::TagName;

/// Characters of generated codes: upper-case letters and digits without 0/O, 1/I/L.
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const MAX_PREFIX_CHARS: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Discount {
    /// Money off, minor units of `currency` (default: the shop's).
    FixedAmount {
        amount_minor: MinorUnits,
        #[serde(default)]
        currency: Option<Currency>,
    },
    /// Basis points off the order (1000 = 10 %), optionally at most `cap_minor`.
    Percent {
        basis_points: i64,
        #[serde(default)]
        cap_minor: Option<MinorUnits>,
    },
    // A struct variant, not a unit one: serde lets unknown fields through on unit variants
    // of internally tagged enums even with deny_unknown_fields.
    FreeShipping {},
}

impl Discount {
    /// The discount on an order of `total` minor units (0 for free shipping, which the
    /// platform applies to the shipping line).
    pub fn amount_off(&self, total: i64) -> i64 {
        match self {
            Discount::FixedAmount { amount_minor, .. } => (*amount_minor).min(total),
            Discount::Percent {
                basis_points,
                cap_minor,
            } => {
                let off = (i128::from(total) * i128::from(*basis_points) / 10_000) as i64;
                cap_minor.map_or(off, |cap| off.min(cap))
            }
            Discount::FreeShipping {} => 0,
        }
    }
}

/// Where a campaign's codes come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CodeSource {
    /// A new random code per coupon: `prefix` then `length` characters of `CODE_ALPHABET`.
    Generated {
        #[serde(default)]
        prefix: String,
        #[serde(default = "default_code_length")]
        length: usize,
    },
    /// Codes the merchant made on the platform (e.g. Shopify bulk discount codes) and
    /// imported, each handed out once, so they work at that checkout. (A struct variant so
    /// that unknown fields are refused, as for `Discount::FreeShipping`.)
    Pool {},
    /// One public code for everyone (e.g. printed on a poster); the quota and the
    /// per-customer limit count redemptions.
    Shared { code: String },
}

fn default_code_length() -> usize {
    8
}

/// Whether a cancellation or refund takes the redemption back (the coupon can be used again
/// and stops counting in the campaign's stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    #[serde(default = "yes")]
    pub on_cancel: bool,
    /// Only a whole refund rolls back; a partial one keeps the redemption.
    #[serde(default = "yes")]
    pub on_full_refund: bool,
}

fn yes() -> bool {
    true
}

impl Default for Rollback {
    fn default() -> Self {
        Self {
            on_cancel: true,
            on_full_refund: true,
        }
    }
}

/// Who may be issued a coupon: customers carrying one of `tags` (if any given) and in one of
/// `rfm_groups` (if any given).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Eligibility {
    #[serde(default)]
    pub tags: Vec<TagName>,
    #[serde(default)]
    pub rfm_groups: Vec<RfmGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CouponCampaign {
    pub id: CampaignId,
    pub name: String,
    pub discount: Discount,
    pub min_order_minor: Option<MinorUnits>,
    /// The window coupons can be used in; either end optional.
    pub starts_at: Option<Timestamp>,
    pub ends_at: Option<Timestamp>,
    /// Each coupon is valid this many days after it is issued (within the window).
    pub valid_days: Option<i64>,
    /// Coupons that may exist (redemptions, for a shared code); None: unlimited.
    pub quota: Option<i64>,
    /// Coupons one customer may hold (redemptions, for a shared code).
    pub per_customer_limit: i64,
    pub eligibility: Eligibility,
    pub active: bool,
    pub codes: CodeSource,
    pub rollback: Rollback,
    /// Issue one coupon to each customer who gains this tag.
    pub issue_on_tag: Option<TagName>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// `POST /api/campaigns` body; `PATCH` takes the same fields, all optional (the code source
/// cannot change once coupons exist, so `codes` is accepted only on creation).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub discount: Option<Discount>,
    #[serde(default)]
    pub min_order_minor: Option<Option<i64>>,
    #[serde(default)]
    pub starts_at: Option<Option<Timestamp>>,
    #[serde(default)]
    pub ends_at: Option<Option<Timestamp>>,
    #[serde(default)]
    pub valid_days: Option<Option<i64>>,
    #[serde(default)]
    pub quota: Option<Option<i64>>,
    #[serde(default)]
    pub per_customer_limit: Option<i64>,
    #[serde(default)]
    pub eligibility: Option<Eligibility>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub codes: Option<CodeSource>,
    #[serde(default)]
    pub rollback: Option<Rollback>,
    #[serde(default)]
    pub issue_on_tag: Option<Option<TagName>>,
}

impl CouponCampaign {
    fn create(input: CampaignInput, currency: Currency, now: Timestamp) -> Result<Self, Error> {
        let codes = input.codes.clone().unwrap_or(CodeSource::Generated {
            prefix: String::new(),
            length: default_code_length(),
        });
        let Some(discount) = input.discount.clone() else {
            return Err(Error::invalid("a campaign needs a discount"));
        };
        let mut campaign = CouponCampaign {
            id: CampaignId::random(),
            name: String::new(),
            discount,
            min_order_minor: None,
            starts_at: None,
            ends_at: None,
            valid_days: None,
            quota: None,
            per_customer_limit: 1,
            eligibility: Eligibility::default(),
            active: true,
            codes,
            rollback: Rollback::default(),
            issue_on_tag: None,
            created_at: now,
            updated_at: now,
        };
        if input.name.is_none() {
            return Err(Error::invalid("a campaign needs a name"));
        }
        campaign.apply(input, currency, now)?;
        Ok(campaign)
    }

    fn apply(
        &mut self,
        input: CampaignInput,
        currency: Currency,
        now: Timestamp,
    ) -> Result<(), Error> {
        if let Some(name) = input.name {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 200 {
                return Err(Error::invalid("name must be 1 to 200 characters"));
            }
            self.name = name.to_string();
        }
        if let Some(discount) = input.discount {
            self.discount = discount;
        }
        if let Discount::FixedAmount { currency: c, .. } = &mut self.discount {
            c.get_or_insert(currency);
        }
        if let Some(v) = input.min_order_minor {
            self.min_order_minor = v;
        }
        if let Some(v) = input.starts_at {
            self.starts_at = v;
        }
        if let Some(v) = input.ends_at {
            self.ends_at = v;
        }
        if let Some(v) = input.valid_days {
            self.valid_days = v;
        }
        if let Some(v) = input.quota {
            self.quota = v;
        }
        if let Some(v) = input.per_customer_limit {
            self.per_customer_limit = v;
        }
        if let Some(v) = input.eligibility {
            self.eligibility = v;
        }
        if let Some(v) = input.active {
            self.active = v;
        }
        if let Some(v) = input.rollback {
            self.rollback = v;
        }
        if let Some(v) = input.issue_on_tag {
            self.issue_on_tag = v;
        }
        self.updated_at = now;
        self.validate()
    }

    fn validate(&self) -> Result<(), Error> {
        let invalid = |m: &str| Err(Error::invalid(m.to_string()));
        match &self.discount {
            Discount::FixedAmount { amount_minor, .. } if *amount_minor <= 0 => {
                return invalid("discount.amount_minor must be positive")
            }
            Discount::Percent {
                basis_points,
                cap_minor,
            } => {
                if !(1..=10_000).contains(basis_points) {
                    return invalid("discount.basis_points must be 1 to 10000 (100 %)");
                }
                if cap_minor.is_some_and(|c| c <= 0) {
                    return invalid("discount.cap_minor must be positive");
                }
            }
            _ => {}
        }
        if self.min_order_minor.is_some_and(|m| m < 0) {
            return invalid("min_order_minor cannot be negative");
        }
        if let (Some(start), Some(end)) = (self.starts_at, self.ends_at) {
            if end <= start {
                return invalid("ends_at must be after starts_at");
            }
        }
        if self.valid_days.is_some_and(|d| !(1..=3650).contains(&d)) {
            return invalid("valid_days must be 1 to 3650");
        }
        if self.quota.is_some_and(|q| q < 0) {
            return invalid("quota cannot be negative");
        }
        if !(1..=1000).contains(&self.per_customer_limit) {
            return invalid("per_customer_limit must be 1 to 1000");
        }
        match &self.codes {
            CodeSource::Generated { prefix, length } => {
                if prefix.chars().count() > MAX_PREFIX_CHARS
                    || !prefix
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                {
                    return invalid("codes.prefix is at most 12 letters, digits or -");
                }
                if !(6..=24).contains(length) {
                    return invalid(
                        "codes.length must be 6 to 24 (8 gives 31^8 ≈ 850 billion codes)",
                    );
                }
            }
            CodeSource::Shared { code } => {
                CouponCode::parse(code).map_err(Error::invalid)?;
            }
            CodeSource::Pool {} => {}
        }
        Ok(())
    }

    /// A new random code for a generated campaign.
    pub fn new_code(&self) -> Option<CouponCode> {
        match &self.codes {
            // The prefix and length were checked at creation, so the text is a code.
            CodeSource::Generated { prefix, length } => CouponCode::parse(&format!(
                "{prefix}{}",
                crate::domain::ids::random_from(CODE_ALPHABET, *length)
            ))
            .ok(),
            _ => None,
        }
    }

    /// The public code of a shared campaign (stored as the merchant typed it).
    pub fn shared_code(&self) -> Option<CouponCode> {
        match &self.codes {
            CodeSource::Shared { code } => CouponCode::parse(code).ok(),
            _ => None,
        }
    }
}

pub fn create(
    store: &dyn Store,
    shop: &ShopId,
    currency: Currency,
    input: CampaignInput,
    now: Timestamp,
) -> Result<CouponCampaign, Error> {
    let campaign = CouponCampaign::create(input, currency, now)?;
    // Listed before it exists: a crash in between leaves a list entry without a campaign
    // (skipped), never an unlisted campaign.
    applog::append(store, shop, keys::lists::CAMPAIGNS, &campaign.id)?;
    if let Some(code) = campaign.shared_code() {
        crate::coupons::claim_shared_code(store, shop, &campaign, &code, now)?;
    }
    create_json(store, &keys::campaign(shop, &campaign.id), &campaign)?;
    if campaign.issue_on_tag.is_some() {
        crate::coupons::index_tag_trigger(store, shop, &campaign)?;
    }
    Ok(campaign)
}

pub fn load(store: &dyn Store, shop: &ShopId, id: &CampaignId) -> Result<CouponCampaign, Error> {
    get_json(store, &keys::campaign(shop, id))?.ok_or_else(|| Error::not_found("campaign"))
}

pub fn update(
    store: &dyn Store,
    shop: &ShopId,
    currency: Currency,
    id: &CampaignId,
    input: CampaignInput,
    now: Timestamp,
) -> Result<CouponCampaign, Error> {
    if input.codes.is_some() {
        return Err(Error::invalid(
            "codes cannot change after creation; make a new campaign",
        ));
    }
    let campaign = update_json(
        store,
        &keys::campaign(shop, id),
        |current: Option<CouponCampaign>| {
            let mut campaign = current.ok_or_else(|| Error::not_found("campaign"))?;
            campaign.apply(input.clone(), currency, now)?;
            Ok::<_, Error>(Change::Write(campaign.clone(), campaign))
        },
    )?;
    // Always: a trigger tag removed or changed must leave the index too.
    crate::coupons::index_tag_trigger(store, shop, &campaign)?;
    Ok(campaign)
}

/// The shop's campaigns in creation order, one page.
pub fn list(
    store: &dyn Store,
    shop: &ShopId,
    after: i64,
    limit: usize,
) -> Result<(Vec<CouponCampaign>, Option<i64>), Error> {
    let page = applog::page::<CampaignId>(store, shop, keys::lists::CAMPAIGNS, after, limit)?;
    let mut out = Vec::new();
    for (_, id) in page.entries {
        if let Some(c) = get_json(store, &keys::campaign(shop, &id))? {
            out.push(c);
        }
    }
    Ok((out, page.next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discounts_price_in_whole_minor_units_and_never_exceed_the_order() {
        let fixed = Discount::FixedAmount {
            amount_minor: 2000,
            currency: None,
        };
        assert_eq!(
            (fixed.amount_off(5990), fixed.amount_off(1500)),
            (2000, 1500)
        );
        let tenth = Discount::Percent {
            basis_points: 1000,
            cap_minor: None,
        };
        // 10 % of 59.99 is 5.999: rounded down, the shop never gives more than it said.
        assert_eq!(tenth.amount_off(5999), 599);
        let capped = Discount::Percent {
            basis_points: 1000,
            cap_minor: Some(1500),
        };
        assert_eq!(
            (capped.amount_off(10000), capped.amount_off(50000)),
            (1000, 1500)
        );
        // No overflow on the largest totals.
        assert_eq!(tenth.amount_off(i64::MAX), i64::MAX / 10);
        assert_eq!(Discount::FreeShipping {}.amount_off(5990), 0);
    }
}
