//! Shops (tenants): creation by the operator, settings, platform credentials and API keys.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::ids::new_secret;
use crate::domain::time::time_zone;
use crate::domain::{Currency, ShopId};
use crate::error::Error;
use crate::keys;
use crate::store::{create_json, get_json, update_json, Change, Store};
use crate::wecom::WecomCredentials;

const API_KEY_PREFIX: &str = "siyu";

/// A shop as stored. Secrets are kept because webhook signatures must be recomputed;
/// the API key is kept only as a hash.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Shop {
    pub id: ShopId,
    pub name: String,
    pub time_zone: String,
    pub currency: Currency,
    /// Calling code used for national phone numbers without one, e.g. "86".
    pub default_calling_code: String,
    pub credentials: Credentials,
    api_key_sha256: String,
    /// Further keys the owner made, e.g. one per integration, with their own scopes.
    #[serde(default)]
    api_keys: Vec<ApiKeyRecord>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Set by Shopify's `shop/redact`: the shop is closed and its customers erased.
    #[serde(default)]
    pub redacted_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Credentials {
    /// Up to two: during a rotation Shopify signs with the older secret for up to an hour.
    #[serde(default)]
    pub shopify_secrets: Vec<String>,
    #[serde(default)]
    pub woocommerce_secret: Option<String>,
    #[serde(default)]
    pub youzan: Option<YouzanCredentials>,
    /// Secret for the generic webhook format; generated when not supplied.
    #[serde(default)]
    pub generic_secret: Option<String>,
    #[serde(default)]
    pub wecom: Option<WecomCredentials>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct YouzanCredentials {
    pub client_id: String,
    pub client_secret: String,
}

/// Further keys a shop may hold besides the owner's.
const MAX_EXTRA_KEYS: usize = 20;

/// What a key may do beyond the shop's everyday API (which every key may use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyScope {
    /// Exports carry full phone numbers and emails instead of masked ones.
    ExportContacts,
}

/// An API key besides the owner's: only its hash is kept.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct ApiKeyRecord {
    id: String,
    name: String,
    sha256: String,
    scopes: Vec<KeyScope>,
    created_at: Timestamp,
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

/// `POST /api/shops` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShop {
    pub name: String,
    #[serde(default)]
    pub time_zone: Option<String>,
    pub currency: String,
    #[serde(default)]
    pub default_calling_code: Option<String>,
    #[serde(default)]
    pub credentials: CredentialsInput,
}

/// Credentials as a request supplies them; every field optional so updates can be partial.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsInput {
    #[serde(default)]
    pub shopify_secrets: Option<Vec<String>>,
    #[serde(default)]
    pub woocommerce_secret: Option<String>,
    #[serde(default)]
    pub youzan: Option<YouzanCredentials>,
    #[serde(default)]
    pub generic_secret: Option<String>,
    #[serde(default)]
    pub wecom: Option<WecomCredentials>,
}

/// `PATCH /api/shop` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopUpdate {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub default_calling_code: Option<String>,
    #[serde(default)]
    pub credentials: Option<CredentialsInput>,
}

/// What `POST /api/shops` answers: the only time the API key and generic secret are shown.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedShop {
    pub shop: ShopView,
    pub api_key: String,
    pub generic_webhook_secret: String,
}

/// A shop as the API shows it: secrets reduced to whether they are set.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ShopView {
    pub id: ShopId,
    pub name: String,
    pub time_zone: String,
    pub currency: Currency,
    pub default_calling_code: String,
    pub credentials: serde_json::Value,
    pub webhook_paths: serde_json::Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Shop {
    pub fn view(&self) -> ShopView {
        let c = &self.credentials;
        ShopView {
            id: self.id.clone(),
            name: self.name.clone(),
            time_zone: self.time_zone.clone(),
            currency: self.currency,
            default_calling_code: self.default_calling_code.clone(),
            credentials: serde_json::json!({
                "shopify_secrets": c.shopify_secrets.len(),
                "woocommerce_secret": c.woocommerce_secret.is_some(),
                "youzan": c.youzan.as_ref().map(|y| serde_json::json!({"client_id": y.client_id})),
                "generic_secret": c.generic_secret.is_some(),
                "wecom": c.wecom.as_ref().map(|w| serde_json::json!({"corp_id": w.corp_id})),
            }),
            webhook_paths: serde_json::json!({
                "shopify": format!("/webhooks/shopify/{}", self.id),
                "woocommerce": format!("/webhooks/woocommerce/{}", self.id),
                "youzan": format!("/webhooks/youzan/{}", self.id),
                "generic": format!("/webhooks/generic/{}", self.id),
                "wecom_callback": format!("/wecom/{}", self.id),
            }),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    pub fn zone(&self) -> jiff::tz::TimeZone {
        time_zone(&self.time_zone).unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// The key a secret belongs to, compared in constant time.
    fn key_for(&self, secret: &str) -> Option<(String, Vec<KeyScope>)> {
        let presented = hex::encode(Sha256::digest(secret.as_bytes()));
        let same = |hash: &str| bool::from(presented.as_bytes().ct_eq(hash.as_bytes()));
        if !self.api_key_sha256.is_empty() && same(&self.api_key_sha256) {
            return Some((OWNER_KEY.to_string(), vec![KeyScope::ExportContacts]));
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

fn validate_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::invalid("name must be 1 to 200 characters"));
    }
    Ok(name.to_string())
}

fn validate_zone(zone: &str) -> Result<String, Error> {
    time_zone(zone).map_err(Error::invalid)?;
    Ok(zone.to_string())
}

fn validate_calling_code(code: &str) -> Result<String, Error> {
    let code = code.trim().trim_start_matches('+');
    let valid = (1..=3).contains(&code.len())
        && code.bytes().all(|b| b.is_ascii_digit())
        && !code.starts_with('0');
    if !valid {
        return Err(Error::invalid(
            "default_calling_code must be a country calling code such as \"86\"",
        ));
    }
    Ok(code.to_string())
}

fn validate_secret(field: &str, secret: &str) -> Result<String, Error> {
    if secret.is_empty() || secret.len() > 512 {
        return Err(Error::invalid(format!(
            "{field} must be 1 to 512 characters"
        )));
    }
    Ok(secret.to_string())
}

fn apply_credentials(target: &mut Credentials, input: CredentialsInput) -> Result<(), Error> {
    if let Some(secrets) = input.shopify_secrets {
        if secrets.len() > 2 {
            return Err(Error::invalid(
                "shopify_secrets holds at most two secrets (current and previous)",
            ));
        }
        target.shopify_secrets = secrets
            .iter()
            .map(|s| validate_secret("shopify_secrets", s))
            .collect::<Result<_, _>>()?;
    }
    if let Some(secret) = input.woocommerce_secret {
        target.woocommerce_secret = Some(validate_secret("woocommerce_secret", &secret)?);
    }
    if let Some(youzan) = input.youzan {
        validate_secret("youzan.client_id", &youzan.client_id)?;
        validate_secret("youzan.client_secret", &youzan.client_secret)?;
        target.youzan = Some(youzan);
    }
    if let Some(secret) = input.generic_secret {
        if secret.len() < 16 {
            return Err(Error::invalid(
                "generic_secret must be at least 16 characters",
            ));
        }
        target.generic_secret = Some(validate_secret("generic_secret", &secret)?);
    }
    if let Some(wecom) = input.wecom {
        wecom.validate()?;
        target.wecom = Some(wecom);
    }
    Ok(())
}

fn new_api_key(shop: &ShopId) -> (String, String) {
    let secret = new_secret();
    let hash = hex::encode(Sha256::digest(secret.as_bytes()));
    (format!("{API_KEY_PREFIX}_{shop}_{secret}"), hash)
}

/// Creates a shop and returns it with its API key, shown this once.
pub fn create_shop(
    store: &dyn Store,
    input: NewShop,
    now: Timestamp,
) -> Result<CreatedShop, Error> {
    let name = validate_name(&input.name)?;
    let zone = validate_zone(input.time_zone.as_deref().unwrap_or("Asia/Shanghai"))?;
    let currency = Currency::parse(&input.currency).map_err(Error::invalid)?;
    let calling_code =
        validate_calling_code(input.default_calling_code.as_deref().unwrap_or("86"))?;
    let mut credentials = Credentials::default();
    apply_credentials(&mut credentials, input.credentials)?;
    let generic_secret = credentials
        .generic_secret
        .get_or_insert_with(new_secret)
        .clone();

    let id = ShopId::random();
    let (api_key, api_key_sha256) = new_api_key(&id);
    let shop = Shop {
        id: id.clone(),
        name,
        time_zone: zone,
        currency,
        default_calling_code: calling_code,
        credentials,
        api_key_sha256,
        api_keys: Vec::new(),
        created_at: now,
        updated_at: now,
        redacted_at: None,
    };
    let (_, created) = create_json(store, &keys::shop(&id), &shop)?;
    if !created {
        // 60 random bits collided: vanishingly rare, and safe to report as retryable.
        return Err(Error::busy("please retry"));
    }
    Ok(CreatedShop {
        shop: shop.view(),
        api_key,
        generic_webhook_secret: generic_secret,
    })
}

/// Loads a live shop (not redacted).
pub fn load_shop(store: &dyn Store, id: &ShopId) -> Result<Shop, Error> {
    match get_json::<Shop>(store, &keys::shop(id))? {
        Some(shop) if shop.redacted_at.is_none() => Ok(shop),
        _ => Err(Error::not_found("shop")),
    }
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
        let mut shop = match current {
            Some(shop) if shop.redacted_at.is_none() => shop,
            _ => return Err(Error::not_found("shop")),
        };
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
        let mut shop = match current {
            Some(shop) if shop.redacted_at.is_none() => shop,
            _ => return Err(Error::not_found("shop")),
        };
        let before = shop.api_keys.len();
        shop.api_keys.retain(|k| k.id != key_id);
        if shop.api_keys.len() == before {
            return Err(Error::not_found("key"));
        }
        shop.updated_at = now;
        Ok(Change::Write(shop, ()))
    })
}

/// Applies a settings change; concurrent changes to other fields are kept.
pub fn update_shop(
    store: &dyn Store,
    id: &ShopId,
    update: ShopUpdate,
    now: Timestamp,
) -> Result<Shop, Error> {
    // Validate once, outside the retry loop, so a bad request writes nothing.
    let name = update.name.as_deref().map(validate_name).transpose()?;
    let zone = update.time_zone.as_deref().map(validate_zone).transpose()?;
    let currency = update
        .currency
        .as_deref()
        .map(|c| Currency::parse(c).map_err(Error::invalid))
        .transpose()?;
    let calling_code = update
        .default_calling_code
        .as_deref()
        .map(validate_calling_code)
        .transpose()?;
    let mut new_credentials = Credentials::default();
    let credentials_input = update.credentials;
    let touches = credentials_input.as_ref().map(|c| {
        (
            c.shopify_secrets.is_some(),
            c.woocommerce_secret.is_some(),
            c.youzan.is_some(),
            c.generic_secret.is_some(),
            c.wecom.is_some(),
        )
    });
    if let Some(input) = credentials_input {
        apply_credentials(&mut new_credentials, input)?;
    }

    update_json(store, &keys::shop(id), |current: Option<Shop>| {
        let mut shop = match current {
            Some(shop) if shop.redacted_at.is_none() => shop,
            _ => return Err(Error::not_found("shop")),
        };
        if let Some(name) = &name {
            shop.name = name.clone();
        }
        if let Some(zone) = &zone {
            shop.time_zone = zone.clone();
        }
        if let Some(currency) = currency {
            shop.currency = currency;
        }
        if let Some(code) = &calling_code {
            shop.default_calling_code = code.clone();
        }
        if let Some((shopify, woo, youzan, generic, wecom)) = touches {
            let c = &mut shop.credentials;
            if shopify {
                c.shopify_secrets = new_credentials.shopify_secrets.clone();
            }
            if woo {
                c.woocommerce_secret = new_credentials.woocommerce_secret.clone();
            }
            if youzan {
                c.youzan = new_credentials.youzan.clone();
            }
            if generic {
                c.generic_secret = new_credentials.generic_secret.clone();
            }
            if wecom {
                c.wecom = new_credentials.wecom.clone();
            }
        }
        shop.updated_at = now;
        Ok(Change::Write(shop.clone(), shop))
    })
}

/// Issues a new API key for a shop; the old one stops working at once.
pub fn rotate_api_key(store: &dyn Store, id: &ShopId, now: Timestamp) -> Result<String, Error> {
    let (api_key, hash) = new_api_key(id);
    update_json(store, &keys::shop(id), |current: Option<Shop>| {
        let mut shop = match current {
            Some(shop) if shop.redacted_at.is_none() => shop,
            _ => return Err(Error::not_found("shop")),
        };
        shop.api_key_sha256 = hash.clone();
        shop.updated_at = now;
        Ok(Change::Write(shop, ()))
    })?;
    Ok(api_key)
}

/// Closes a shop for good: credentials and key removed so no request reaches it again.
pub fn close_shop(store: &dyn Store, id: &ShopId, now: Timestamp) -> Result<(), Error> {
    update_json(store, &keys::shop(id), |current: Option<Shop>| {
        // An unknown id is the caller's mistake, not a shop to report closed.
        let Some(mut shop) = current else {
            return Err(Error::not_found("shop"));
        };
        if shop.redacted_at.is_some() {
            return Ok(Change::Keep(()));
        }
        shop.credentials = Credentials::default();
        shop.api_key_sha256 = String::new();
        shop.api_keys.clear();
        shop.redacted_at = Some(now);
        shop.updated_at = now;
        Ok(Change::Write(shop, ()))
    })
}
