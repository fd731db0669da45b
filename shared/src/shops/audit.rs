//! A shop's security log: every change to where personal data goes (the delivery URL and
//! its signing secret), to how the shop's webhooks are verified (platform credentials) and to
//! who may call the API (keys) is recorded with who made it and when, and the owner key can
//! read it (`GET /api/shop/audit`, newest first). A change of delivery or credentials is
//! recorded before it is made, once it is allowed and valid, so a crash between the two leaves
//! a record of an attempt, never such a change without a record; a key is recorded right
//! after it is made or revoked (a made key's id does not exist before).

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::KeyScope;
use crate::applog;
use crate::domain::ShopId;
use crate::error::Error;
use crate::keys;
use crate::store::{get_json, Store};

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

/// A page of the log, newest first: the entries in slots before `before` (0: from the
/// newest), and the cursor of the next, older page (None at the oldest). Newest first because
/// the owner reads it to see what changed lately.
pub fn page(
    store: &dyn Store,
    shop: &ShopId,
    before: i64,
    limit: usize,
) -> Result<(Vec<AuditEntry>, Option<i64>), Error> {
    let total = applog::len(store, shop, keys::lists::AUDIT)?;
    let mut slot = if before <= 0 {
        total + 1
    } else {
        before.min(total + 1)
    };
    let mut entries = Vec::new();
    while slot > 1 && entries.len() < limit {
        slot -= 1;
        // A slot whose write never happened (a crash after the increment) is skipped.
        if let Some(entry) = get_json(store, &keys::list_slot(shop, keys::lists::AUDIT, slot))? {
            entries.push(entry);
        }
    }
    Ok((entries, (slot > 1).then_some(slot)))
}
