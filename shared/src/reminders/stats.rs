//! Reminder statistics: counters per shop and per product, moved as steps are scheduled,
//! sent, suppressed, failed and converted.

use schemars::JsonSchema;
use serde::Serialize;

use crate::domain::MinorUnits;
use crate::domain::ShopId;
use crate::error::Error;
use crate::keys;
use crate::store::Store;

pub(crate) fn count(
    store: &dyn Store,
    shop: &ShopId,
    product: &str,
    stat: &str,
    by: i64,
) -> Result<(), Error> {
    store.increment(&keys::reminder_stat(shop, None, stat), by)?;
    store.increment(&keys::reminder_stat(shop, Some(product), stat), by)?;
    Ok(())
}

/// The numbers a shop sees, overall and per product.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ReminderStats {
    pub scheduled: i64,
    pub sent: i64,
    pub suppressed_reordered: i64,
    pub suppressed: i64,
    pub failed: i64,
    pub converted: i64,
    /// Revenue of the reordered items that converted, shop currency, minor units.
    pub revenue_minor: MinorUnits,
}

pub fn stats(
    store: &dyn Store,
    shop: &ShopId,
    product: Option<&str>,
) -> Result<ReminderStats, Error> {
    let get = |stat: &str| store.counter(&keys::reminder_stat(shop, product, stat));
    Ok(ReminderStats {
        scheduled: get("scheduled")?,
        sent: get("sent")?,
        suppressed_reordered: get("suppressed_reordered")?,
        suppressed: get("suppressed")?,
        failed: get("failed")?,
        converted: get("converted")?,
        revenue_minor: get("revenue")?,
    })
}
