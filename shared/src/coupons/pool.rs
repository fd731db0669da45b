//! Codes that come from elsewhere: imported pools, a shared public code, and campaigns that
//! issue when a customer gains a tag.

use super::*;
use schemars::JsonSchema;
/// Pool codes one import request may add.
pub const MAX_IMPORT: usize = 1_000;

/// What an import did.
#[derive(Debug, Serialize, JsonSchema)]
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
    campaign_id: &CampaignId,
    codes: &[String],
) -> Result<ImportReport, Error> {
    let campaign = campaigns::load(store, shop, campaign_id)?;
    if campaign.codes != (CodeSource::Pool {}) {
        return Err(Error::invalid("only pool campaigns take imported codes"));
    }
    if codes.len() > MAX_IMPORT {
        return Err(Error::invalid(format!(
            "at most {MAX_IMPORT} codes per import"
        )));
    }
    let mut normalized: Vec<CouponCode> = Vec::with_capacity(codes.len());
    for code in codes {
        let code =
            CouponCode::parse(code).map_err(|e| Error::invalid(format!("code {code:?}: {e}")))?;
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
            campaign: campaign_id.clone(),
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
    code: &CouponCode,
    now: Timestamp,
) -> Result<(), Error> {
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
    let (stored, _) = create_json(store, &keys::coupon(shop, code), &shared)?;
    if stored.campaign != campaign.id {
        return Err(Error::refused(
            ErrorCode::CodeTaken,
            "this code is already in use in the shop",
        ));
    }
    Ok(())
}

/// Campaigns that issue a coupon when a customer gains a tag: tag (folded) → campaign ids.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
struct TagTriggers {
    campaigns: BTreeMap<CampaignId, String>,
}

pub fn index_tag_trigger(
    store: &dyn Store,
    shop: &ShopId,
    campaign: &CouponCampaign,
) -> Result<(), Error> {
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
            Ok::<_, Error>(if t.campaigns == before {
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
) -> Result<(), Error> {
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
                Err(e) if !e.is_server_fault() => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}
