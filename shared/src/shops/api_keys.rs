//! A shop's API keys: the owner's (`siyu_{shop id}_{secret}`, rotated by the operator) and up
//! to 20 further keys with their own scopes. Only SHA-256 hashes are stored, inside the shop
//! record, so a key changes with the shop by the same compare-and-swap.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{live, load_shop, validate_name, Shop};
use crate::domain::ids::new_secret;
use crate::domain::ShopId;
use crate::error::Error;
use crate::keys;
use crate::store::{update_json, Change, Store};

const API_KEY_PREFIX: &str = "siyu";

/// Further keys a shop may hold besides the owner's.
const MAX_EXTRA_KEYS: usize = 20;

/// What a key may do beyond the shop's everyday API (which every key may use). The owner key
/// holds every scope. Each scope guards a way personal data could leave, or the shop's
/// webhooks could be forged: a key without it sees contacts masked and cannot redirect them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyScope {
    /// Exports and look-ups carry full phone numbers, emails and WeCom ids.
    ExportContacts,
    /// Changes where messages (with phone numbers and emails) are delivered, and the secret
    /// that signs them.
    ManageDelivery,
    /// Changes the platform credentials that webhooks are verified with.
    ManageCredentials,
}

impl KeyScope {
    pub const ALL: [KeyScope; 3] = [
        KeyScope::ExportContacts,
        KeyScope::ManageDelivery,
        KeyScope::ManageCredentials,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::ExportContacts => "export_contacts",
            KeyScope::ManageDelivery => "manage_delivery",
            KeyScope::ManageCredentials => "manage_credentials",
        }
    }
}

/// An API key besides the owner's: only its hash is kept.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub(super) struct ApiKeyRecord {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) sha256: String,
    pub(super) scopes: Vec<KeyScope>,
    pub(super) created_at: Timestamp,
}

/// The owner key's id in provenance and listings.
pub const OWNER_KEY: &str = "owner";

/// Who is calling: the shop, which of its keys, and what that key may do.
#[derive(Debug, Clone)]
pub struct Caller {
    pub shop: Shop,
    pub key_id: String,
    pub scopes: Vec<KeyScope>,
}

impl Caller {
    pub fn may(&self, scope: KeyScope) -> bool {
        self.scopes.contains(&scope)
    }

    /// The key holds `scope` (the owner key holds them all).
    pub fn require(&self, scope: KeyScope) -> Result<(), Error> {
        if self.may(scope) {
            Ok(())
        } else {
            Err(Error::forbidden(format!(
                "this needs the shop's owner key or a key with the `{}` scope",
                scope.as_str()
            )))
        }
    }

    pub fn require_owner(&self) -> Result<(), Error> {
        if self.key_id == OWNER_KEY {
            Ok(())
        } else {
            Err(Error::forbidden(
                "only the shop's owner key manages API keys",
            ))
        }
    }
}

/// `POST /api/shop/keys` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<KeyScope>,
}

/// A key as listed (no secret), or as just created (with the key, shown this once).
#[derive(Debug, Serialize, JsonSchema)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub scopes: Vec<KeyScope>,
    pub created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

impl Shop {
    /// The key a secret belongs to, compared in constant time.
    fn key_for(&self, secret: &str) -> Option<(String, Vec<KeyScope>)> {
        let presented = hex::encode(Sha256::digest(secret.as_bytes()));
        let same = |hash: &str| bool::from(presented.as_bytes().ct_eq(hash.as_bytes()));
        if !self.api_key_sha256.is_empty() && same(&self.api_key_sha256) {
            return Some((OWNER_KEY.to_string(), KeyScope::ALL.to_vec()));
        }
        self.api_keys
            .iter()
            .find(|k| same(&k.sha256))
            .map(|k| (k.id.clone(), k.scopes.clone()))
    }

    pub fn keys(&self) -> Vec<KeyView> {
        self.api_keys
            .iter()
            .map(|k| KeyView {
                id: k.id.clone(),
                name: k.name.clone(),
                scopes: k.scopes.clone(),
                created_at: k.created_at,
                api_key: None,
            })
            .collect()
    }
}

pub(super) fn new_api_key(shop: &ShopId) -> (String, String) {
    let secret = new_secret();
    let hash = hex::encode(Sha256::digest(secret.as_bytes()));
    (format!("{API_KEY_PREFIX}_{shop}_{secret}"), hash)
}

/// Resolves a shop's API key (`siyu_{shop id}_{secret}`) to its shop.
pub fn authenticate(store: &dyn Store, api_key: &str) -> Result<Shop, Error> {
    authenticate_caller(store, api_key).map(|c| c.shop)
}

/// Resolves an API key to its shop and to which key it is.
pub fn authenticate_caller(store: &dyn Store, api_key: &str) -> Result<Caller, Error> {
    let invalid = || Error::unauthorized("the API key is not valid");
    let rest = api_key
        .strip_prefix(API_KEY_PREFIX)
        .and_then(|r| r.strip_prefix('_'))
        .ok_or_else(invalid)?;
    let (id, secret) = rest.rsplit_once('_').ok_or_else(invalid)?;
    let id = ShopId::parse(id).ok_or_else(invalid)?;
    let shop = load_shop(store, &id).map_err(|_| invalid())?;
    let (key_id, scopes) = shop.key_for(secret).ok_or_else(invalid)?;
    Ok(Caller {
        shop,
        key_id,
        scopes,
    })
}

/// Makes a further API key; returns it with the key, shown this once.
pub fn create_key(
    store: &dyn Store,
    id: &ShopId,
    input: NewKey,
    now: Timestamp,
) -> Result<KeyView, Error> {
    let name = validate_name(&input.name)?;
    let (api_key, sha256) = new_api_key(id);
    let record = ApiKeyRecord {
        id: format!("key_{}", crate::domain::ids::random_id(10)),
        name,
        sha256,
        scopes: input.scopes,
        created_at: now,
    };
    update_json(store, &keys::shop(id), |current: Option<Shop>| {
        let mut shop = live(current)?;
        if shop.api_keys.len() >= MAX_EXTRA_KEYS {
            return Err(Error::invalid(format!(
                "a shop holds at most {MAX_EXTRA_KEYS} keys besides the owner's"
            )));
        }
        shop.api_keys.push(record.clone());
        shop.updated_at = now;
        Ok(Change::Write(shop, ()))
    })?;
    Ok(KeyView {
        id: record.id,
        name: record.name,
        scopes: record.scopes,
        created_at: now,
        api_key: Some(api_key),
    })
}

/// Revokes a further API key at once.
pub fn revoke_key(
    store: &dyn Store,
    id: &ShopId,
    key_id: &str,
    now: Timestamp,
) -> Result<(), Error> {
    update_json(store, &keys::shop(id), |current: Option<Shop>| {
        let mut shop = live(current)?;
        let before = shop.api_keys.len();
        shop.api_keys.retain(|k| k.id != key_id);
        if shop.api_keys.len() == before {
            return Err(Error::not_found("key"));
        }
        shop.updated_at = now;
        Ok(Change::Write(shop, ()))
    })
}

/// Issues a new owner key for a shop; the old one stops working at once. Unless
/// `keep_other_keys`, every further key is revoked too: an owner key is rotated because it
/// leaked, and whoever held it could have made further keys for themself. Returns the new
/// key and the ids of the keys revoked.
pub fn rotate_api_key(
    store: &dyn Store,
    id: &ShopId,
    keep_other_keys: bool,
    now: Timestamp,
) -> Result<(String, Vec<String>), Error> {
    let (api_key, hash) = new_api_key(id);
    let revoked = update_json(store, &keys::shop(id), |current: Option<Shop>| {
        let mut shop = live(current)?;
        shop.api_key_sha256 = hash.clone();
        let revoked: Vec<String> = if keep_other_keys {
            Vec::new()
        } else {
            shop.api_keys.drain(..).map(|k| k.id).collect()
        };
        shop.updated_at = now;
        Ok::<_, Error>(Change::Write(shop, revoked))
    })?;
    Ok((api_key, revoked))
}
