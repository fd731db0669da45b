//! A shop's security log: every change to where personal data goes (the delivery URL and
//! its signing secret), to how the shop's webhooks are verified (platform credentials) and to
//! who may call the API (keys) is recorded with who made it and when, and the owner key can
//! read it (`GET /api/shop/audit`). An entry is written before the change it records, once
//! the change is allowed and valid, so a crash between the two leaves a record of an attempt,
//! never a change without a record.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::KeyScope;
use crate::applog;
use crate::domain::ShopId;
use crate::error::Error;
use crate::keys;
use crate::store::Store;

/// One change, as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditEntry {
    pub at: Timestamp,
    /// Who made it: `owner`, the id of another key, or `operator`.
    pub by: String,
    #[serde(flatten)]
    pub change: AuditedChange,
}

/// What changed. Hosts only, never a path or query (which may carry a token), and never a
/// secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum AuditedChange {
    /// Messages go elsewhere: the host they went to and the host they go to now.
    DeliveryUrlChanged {
        from_host: Option<String>,
        to_host: Option<String>,
    },
    /// A new secret signs messages.
    DeliverySecretRotated,
    /// The shop's ceiling on verification codes sent changed.
    LimitsChanged {
        phone_codes_per_hour: u32,
    },
    /// Platform credentials were set or replaced (which ones).
    CredentialsChanged {
        fields: Vec<String>,
    },
    /// The owner key was replaced, and these further keys revoked with it.
    OwnerKeyRotated {
        revoked_keys: Vec<String>,
    },
    KeyCreated {
        key: String,
        scopes: Vec<KeyScope>,
    },
    KeyRevoked {
        key: String,
    },
}

/// Appends an entry to the shop's log.
pub fn record(
    store: &dyn Store,
    shop: &ShopId,
    by: &str,
    change: AuditedChange,
    now: Timestamp,
) -> Result<(), Error> {
    let entry = AuditEntry {
        at: now,
        by: by.to_string(),
        change,
    };
    applog::append(store, shop, keys::lists::AUDIT, &entry)?;
    Ok(())
}

/// A page of the log, oldest first, and where the next starts.
pub fn page(
    store: &dyn Store,
    shop: &ShopId,
    after: i64,
    limit: usize,
) -> Result<(Vec<AuditEntry>, Option<i64>), Error> {
    let page = applog::page::<AuditEntry>(store, shop, keys::lists::AUDIT, after, limit)?;
    Ok((
        page.entries.into_iter().map(|(_, e)| e).collect(),
        page.next,
    ))
}
