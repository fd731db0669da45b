//! A customer is erased (a person's request, a platform's redaction, a shop closing): the
//! record loses its personal data and identities (`customers::erase_record`), they leave
//! every segment (`customer_changed::sync_segments`), and every reminder planned for them is
//! cancelled (`reminders::cancel_customer`). Each step is idempotent, so a retry finishes
//! what an interrupted erasure left.

use jiff::Timestamp;

use crate::applog;
use crate::customers::{self, Customer};
use crate::domain::{CustomerId, ShopId};
use crate::error::Error;
use crate::keys;
use crate::reminders;
use crate::store::Store;

use super::customer_changed::sync_segments;

pub fn erase(
    store: &dyn Store,
    shop: &ShopId,
    id: &CustomerId,
    now: Timestamp,
) -> Result<Customer, Error> {
    let erased = customers::erase_record(store, shop, id, now)?;
    // Erased customers leave every segment and hear nothing more.
    sync_segments(store, shop, &erased, now)?;
    reminders::cancel_customer(store, shop, id, "erased", now)?;
    Ok(erased)
}

/// Erases the customer an identity names, if any: a platform's redaction of someone Siyu
/// may never have seen.
pub fn erase_if_known(
    store: &dyn Store,
    shop: &ShopId,
    id: Option<&CustomerId>,
    now: Timestamp,
) -> Result<(), Error> {
    let Some(id) = id else {
        return Ok(());
    };
    match erase(store, shop, id, now) {
        // Claimed in the index but never written: nothing to erase.
        Err(Error::NotFound { .. }) => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Erases customers of a shop in creation order, at most `limit` per call; returns the
/// cursor to continue from, or None when every customer is done.
pub fn erase_batch(
    store: &dyn Store,
    shop: &ShopId,
    after: i64,
    limit: usize,
    now: Timestamp,
) -> Result<Option<i64>, Error> {
    let page = applog::page::<CustomerId>(store, shop, keys::lists::CUSTOMERS, after, limit)?;
    for (_, id) in page.entries {
        erase_if_known(store, shop, Some(&id), now)?;
    }
    Ok(page.next)
}
