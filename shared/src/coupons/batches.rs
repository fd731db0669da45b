//! Print batches: runs of codes for package cards and flyers, made as they are downloaded.

use super::*;
use schemars::JsonSchema;

/// A run of codes for print (package cards, flyers): made page by page as they are
/// downloaded, each page the same codes every time it is fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
    campaign_id: &CampaignId,
    name: &str,
    count: i64,
    now: Timestamp,
) -> Result<PrintBatch, Error> {
    let campaign = campaigns::load(store, shop, campaign_id)?;
    if !matches!(campaign.codes, CodeSource::Generated { .. }) {
        return Err(Error::invalid(
            "print batches need a campaign with generated codes",
        ));
    }
    if !valid_batch_name(name) {
        return Err(Error::invalid("name is 1 to 40 letters, digits, - or _"));
    }
    if !(1..=MAX_BATCH).contains(&count) {
        return Err(Error::invalid(format!("count must be 1 to {MAX_BATCH}")));
    }
    let batch = PrintBatch {
        name: name.to_string(),
        count,
        created_at: now,
    };
    let (stored, _) = create_json(store, &keys::print_batch(shop, campaign_id, name), &batch)?;
    if stored.count != count {
        return Err(Error::refused(
            ErrorCode::BatchExists,
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
    campaign_id: &CampaignId,
    name: &str,
    after: i64,
    limit: usize,
    now: Timestamp,
) -> Result<BatchPage, Error> {
    // The name comes from the path: one no batch could have is simply not found (and never
    // reaches a store key longer than the store takes).
    if !valid_batch_name(name) {
        return Err(Error::not_found("batch"));
    }
    let campaign = campaigns::load(store, shop, campaign_id)?;
    let batch: PrintBatch = get_json(store, &keys::print_batch(shop, campaign_id, name))?
        .ok_or_else(|| Error::not_found("batch"))?;
    let (valid_from, valid_until) = validity(&campaign, now);
    let mut rows: Vec<(CouponCode, Option<Timestamp>)> = Vec::new();
    let mut quota_reached = false;
    let last = (after.max(0) + limit as i64).min(batch.count);
    let mut index = after.max(0);
    while index < last {
        index += 1;
        let slot_key = keys::print_batch_slot(shop, campaign_id, name, index);
        let code = match get_json::<CouponCode>(store, &slot_key)? {
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
                let fresh = campaign.new_code().ok_or_else(|| {
                    Error::internal("printing codes of a campaign without generated codes")
                })?;
                create_json(store, &slot_key, &fresh)?.0
            }
        };
        let coupon = Coupon {
            code: code.clone(),
            campaign: campaign_id.clone(),
            customer: None,
            state: CouponState::Issued,
            issued_at: Some(now),
            valid_from,
            valid_until,
            redemption: None,
        };
        let (stored, created) = create_json(store, &keys::coupon(shop, &code), &coupon)?;
        if stored.campaign != *campaign_id {
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
    let csv = batch_csv(&rows)?;
    Ok(BatchPage {
        csv,
        next: (index < batch.count && !quota_reached).then_some(index),
        quota_reached,
    })
}

/// The printer's file: `code,valid_until` rows, CRLF as spreadsheets expect.
fn batch_csv(rows: &[(CouponCode, Option<Timestamp>)]) -> Result<Vec<u8>, Error> {
    let fail = |e: csv::Error| Error::internal(format!("csv: {e}"));
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    writer.write_record(["code", "valid_until"]).map_err(fail)?;
    for (code, until) in rows {
        let until = until.map(|u| u.to_string()).unwrap_or_default();
        writer
            .write_record([code.as_str(), until.as_str()])
            .map_err(fail)?;
    }
    writer
        .into_inner()
        .map_err(|e| Error::internal(format!("csv: {e}")))
}

fn valid_batch_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}
