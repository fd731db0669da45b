//! Shops (tenants): creation by the operator, settings, platform credentials; API keys in
//! `api_keys`. A shop is one record changed by compare-and-swap, so concurrent changes to
//! different fields are all kept.

mod api_keys;
pub mod audit;
mod branding;
pub mod redaction;

pub use api_keys::{
    authenticate, authenticate_caller, create_key, revoke_key, rotate_api_key, Caller, KeyScope,
    KeyView, NewKey, OWNER_KEY,
};
use api_keys::{new_api_key, ApiKeyRecord};
pub use branding::{Branding, DEFAULT_RETENTION_MONTHS};

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::ids::new_secret;
use crate::domain::time::time_zone;
use crate::domain::{Currency, ShopId};
use crate::error::Error;
use crate::keys;
use crate::store::{create_json, get_json, put_json, update_json, Change, Store};
use crate::wecom::WecomCredentials;

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
    /// How the shop appears on the pages shoppers see.
    #[serde(default)]
    pub branding: Branding,
    #[serde(default)]
    pub limits: ShopLimits,
    /// In the scheduler's list of shops (`keys::SHOPS_COUNTER`). False only for a shop made
    /// before the list existed: it is listed the first time it is loaded.
    #[serde(default)]
    scheduled: bool,
}

/// Ceilings a shop sets on what anonymous visitors can make it spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopLimits {
    /// Phone verification codes the shop sends in an hour, all numbers together (each is a
    /// text message the shop pays for): 1 to 100,000, default 200.
    #[serde(default = "default_codes_per_hour")]
    pub phone_codes_per_hour: u32,
}

fn default_codes_per_hour() -> u32 {
    200
}

impl Default for ShopLimits {
    fn default() -> Self {
        Self {
            phone_codes_per_hour: default_codes_per_hour(),
        }
    }
}

impl ShopLimits {
    fn checked(self) -> Result<Self, Error> {
        if !(1..=100_000).contains(&self.phone_codes_per_hour) {
            return Err(Error::invalid(
                "limits.phone_codes_per_hour must be 1 to 100000",
            ));
        }
        Ok(self)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Credentials {
    /// Up to two: during a rotation Shopify signs with the older secret for up to an hour.
    #[serde(default)]
    pub shopify_secrets: Vec<String>,
    /// The shop's `*.myshopify.com` domain. Set, every Shopify delivery must name it, and the
    /// privacy topics (which carry it in their signed body) can be matched to this shop.
    #[serde(default)]
    pub shopify_shop_domain: Option<String>,
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
    /// `name.myshopify.com`, as Shopify's `X-Shopify-Shop-Domain` names the shop.
    #[serde(default)]
    pub shopify_shop_domain: Option<String>,
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
    /// Replaces the whole branding (`{}` clears it).
    #[serde(default)]
    pub branding: Option<Branding>,
    /// Replaces the limits (a field left out takes its default).
    #[serde(default)]
    pub limits: Option<ShopLimits>,
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
    pub branding: Branding,
    pub limits: ShopLimits,
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
                "shopify_shop_domain": c.shopify_shop_domain,
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
            branding: self.branding.clone(),
            limits: self.limits,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    pub fn zone(&self) -> jiff::tz::TimeZone {
        time_zone(&self.time_zone).unwrap_or(jiff::tz::TimeZone::UTC)
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

/// Shortest webhook secret taken: shorter ones can be guessed, and a guessed secret forges
/// every webhook of the shop.
const MIN_SECRET_CHARS: usize = 16;

fn validate_secret(field: &str, secret: &str) -> Result<String, Error> {
    if secret.len() < MIN_SECRET_CHARS || secret.len() > 512 {
        return Err(Error::invalid(format!(
            "{field} must be {MIN_SECRET_CHARS} to 512 characters"
        )));
    }
    Ok(secret.to_string())
}

/// A shop's `*.myshopify.com` domain, lower case.
fn validate_shop_domain(domain: &str) -> Result<String, Error> {
    let domain = domain.trim().to_ascii_lowercase();
    let handle = domain.strip_suffix(".myshopify.com").unwrap_or_default();
    let valid = !handle.is_empty()
        && handle.len() <= 100
        && handle
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !handle.starts_with('-');
    if !valid {
        return Err(Error::invalid(
            "shopify_shop_domain is the shop's myshopify.com domain, e.g. tea-house.myshopify.com",
        ));
    }
    Ok(domain)
}

impl CredentialsInput {
    /// The credentials this input sets, by name (for the security log).
    pub fn fields(&self) -> Vec<String> {
        [
            ("shopify_secrets", self.shopify_secrets.is_some()),
            ("shopify_shop_domain", self.shopify_shop_domain.is_some()),
            ("woocommerce_secret", self.woocommerce_secret.is_some()),
            ("youzan", self.youzan.is_some()),
            ("generic_secret", self.generic_secret.is_some()),
            ("wecom", self.wecom.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| name.to_string())
        .collect()
    }
}

/// Credentials a request sets, each checked; None leaves one as it is.
#[derive(Debug, Clone, Default)]
struct CheckedCredentials {
    shopify_secrets: Option<Vec<String>>,
    shopify_shop_domain: Option<String>,
    woocommerce_secret: Option<String>,
    youzan: Option<YouzanCredentials>,
    generic_secret: Option<String>,
    wecom: Option<WecomCredentials>,
}

fn check_credentials(input: CredentialsInput) -> Result<CheckedCredentials, Error> {
    let mut checked = CheckedCredentials::default();
    if let Some(secrets) = input.shopify_secrets {
        if secrets.len() > 2 {
            return Err(Error::invalid(
                "shopify_secrets holds at most two secrets (current and previous)",
            ));
        }
        checked.shopify_secrets = Some(
            secrets
                .iter()
                .map(|s| validate_secret("shopify_secrets", s))
                .collect::<Result<_, _>>()?,
        );
    }
    if let Some(domain) = input.shopify_shop_domain {
        checked.shopify_shop_domain = Some(validate_shop_domain(&domain)?);
    }
    if let Some(secret) = input.woocommerce_secret {
        checked.woocommerce_secret = Some(validate_secret("woocommerce_secret", &secret)?);
    }
    if let Some(youzan) = input.youzan {
        if youzan.client_id.trim().is_empty() || youzan.client_id.len() > 512 {
            return Err(Error::invalid(
                "youzan.client_id must be 1 to 512 characters",
            ));
        }
        validate_secret("youzan.client_secret", &youzan.client_secret)?;
        checked.youzan = Some(youzan);
    }
    if let Some(secret) = input.generic_secret {
        checked.generic_secret = Some(validate_secret("generic_secret", &secret)?);
    }
    if let Some(wecom) = input.wecom {
        wecom.validate()?;
        checked.wecom = Some(wecom);
    }
    Ok(checked)
}

impl CheckedCredentials {
    fn apply_to(&self, c: &mut Credentials) {
        if let Some(secrets) = &self.shopify_secrets {
            c.shopify_secrets = secrets.clone();
        }
        if let Some(domain) = &self.shopify_shop_domain {
            c.shopify_shop_domain = Some(domain.clone());
        }
        if let Some(secret) = &self.woocommerce_secret {
            c.woocommerce_secret = Some(secret.clone());
        }
        if let Some(youzan) = &self.youzan {
            c.youzan = Some(youzan.clone());
        }
        if let Some(secret) = &self.generic_secret {
            c.generic_secret = Some(secret.clone());
        }
        if let Some(wecom) = &self.wecom {
            c.wecom = Some(wecom.clone());
        }
    }
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
    check_credentials(input.credentials)?.apply_to(&mut credentials);
    let generic_secret = credentials
        .generic_secret
        .get_or_insert_with(new_secret)
        .clone();

    let id = ShopId::random();
    // Listed for the scheduler first: a crash before the shop is written lists an id with no
    // shop (skipped), never a shop the scheduler does not know.
    let slot = store.increment(keys::SHOPS_COUNTER, 1)?;
    put_json(store, &keys::shops_slot(slot), &id)?;
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
        branding: Branding::default(),
        limits: ShopLimits::default(),
        scheduled: true,
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

/// A stored shop that is still open; a closed one is as absent as an unknown id.
fn live(stored: Option<Shop>) -> Result<Shop, Error> {
    match stored {
        Some(shop) if shop.redacted_at.is_none() => Ok(shop),
        _ => Err(Error::not_found("shop")),
    }
}

/// Loads a live shop (not redacted).
pub fn load_shop(store: &dyn Store, id: &ShopId) -> Result<Shop, Error> {
    let shop = live(get_json(store, &keys::shop(id))?)?;
    if !shop.scheduled {
        list_for_scheduler(store, id)?;
    }
    Ok(shop)
}

/// Lists a shop made before the scheduler's list existed, once: listed first, then marked,
/// so a crash or a concurrent first load lists it twice at worst (visited twice, harmless).
fn list_for_scheduler(store: &dyn Store, id: &ShopId) -> Result<(), Error> {
    let slot = store.increment(keys::SHOPS_COUNTER, 1)?;
    put_json(store, &keys::shops_slot(slot), id)?;
    update_json(store, &keys::shop(id), |current: Option<Shop>| {
        Ok::<_, Error>(match current {
            Some(mut shop) if !shop.scheduled => {
                shop.scheduled = true;
                Change::Write(shop, ())
            }
            _ => Change::Keep(()),
        })
    })
}

/// A settings change that passed every check: applying it cannot fail on its input.
#[derive(Debug, Clone)]
pub struct CheckedUpdate {
    name: Option<String>,
    zone: Option<String>,
    currency: Option<Currency>,
    calling_code: Option<String>,
    branding: Option<Branding>,
    limits: Option<ShopLimits>,
    credentials: Option<CheckedCredentials>,
}

/// Checks a settings change without touching the store, so a bad request writes nothing.
pub fn check_update(update: ShopUpdate) -> Result<CheckedUpdate, Error> {
    Ok(CheckedUpdate {
        name: update.name.as_deref().map(validate_name).transpose()?,
        zone: update.time_zone.as_deref().map(validate_zone).transpose()?,
        currency: update
            .currency
            .as_deref()
            .map(|c| Currency::parse(c).map_err(Error::invalid))
            .transpose()?,
        calling_code: update
            .default_calling_code
            .as_deref()
            .map(validate_calling_code)
            .transpose()?,
        branding: update.branding.map(Branding::checked).transpose()?,
        limits: update.limits.map(ShopLimits::checked).transpose()?,
        credentials: update.credentials.map(check_credentials).transpose()?,
    })
}

/// Applies a checked settings change; concurrent changes to other fields are kept.
pub fn update_shop(
    store: &dyn Store,
    id: &ShopId,
    update: &CheckedUpdate,
    now: Timestamp,
) -> Result<Shop, Error> {
    update_json(store, &keys::shop(id), |current: Option<Shop>| {
        let mut shop = live(current)?;
        if let Some(name) = &update.name {
            shop.name = name.clone();
        }
        if let Some(zone) = &update.zone {
            shop.time_zone = zone.clone();
        }
        if let Some(currency) = update.currency {
            shop.currency = currency;
        }
        if let Some(branding) = &update.branding {
            shop.branding = branding.clone();
        }
        if let Some(limits) = update.limits {
            shop.limits = limits;
        }
        if let Some(code) = &update.calling_code {
            shop.default_calling_code = code.clone();
        }
        if let Some(credentials) = &update.credentials {
            credentials.apply_to(&mut shop.credentials);
        }
        shop.updated_at = now;
        Ok(Change::Write(shop.clone(), shop))
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn a_shop_made_before_the_scheduler_list_is_listed_once_when_first_loaded() {
        let store = MemoryStore::new();
        let input: NewShop = serde_json::from_value(serde_json::json!({
            "name": "Old Tea", "currency": "CNY"
        }))
        .unwrap();
        let now: Timestamp = "2026-12-08T00:00:00Z".parse().unwrap();
        let created = create_shop(&store, input, now).unwrap();
        assert_eq!(
            store.counter(keys::SHOPS_COUNTER).unwrap(),
            1,
            "a new shop is listed"
        );
        // As an earlier release stored it: no list entry, no mark.
        let key = keys::shop(&created.shop.id);
        let mut old: serde_json::Value = get_json(&store, &key).unwrap().unwrap();
        old.as_object_mut().unwrap().remove("scheduled");
        store.set(&key, old.to_string().as_bytes()).unwrap();
        store.delete(&keys::shops_slot(1)).unwrap();
        for _ in 0..3 {
            load_shop(&store, &created.shop.id).unwrap();
        }
        assert_eq!(store.counter(keys::SHOPS_COUNTER).unwrap(), 2);
        assert_eq!(
            get_json::<ShopId>(&store, &keys::shops_slot(2)).unwrap(),
            Some(created.shop.id.clone())
        );
    }
}
