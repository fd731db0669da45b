//! A shop's reminder settings: product profiles, quiet hours, the frequency cap, where and
//! how messages are delivered (the signing secret is written once and only rotated).

use jiff::civil::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::profile::ConsumptionProfile;
use crate::customers::ProductRef;
use crate::domain::ShopId;
use crate::error::Error;
use crate::keys;
use crate::outbound::{DeliveryTarget, DeliveryUrl};
use crate::store::{get_json, update_json, Change, Store};

/// Which products a profile is for: a variant, a SKU or a whole product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductProfile {
    #[serde(default)]
    pub product_id: Option<String>,
    #[serde(default)]
    pub variant_id: Option<String>,
    #[serde(default)]
    pub sku: Option<String>,
    pub profile: ConsumptionProfile,
}

/// A shop's reminder settings: profiles, where messages are delivered, and the rules of
/// sending (quiet hours, frequency cap, conversion window, delivery attempts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderSettings {
    /// The profile of products without one of their own.
    #[serde(default)]
    pub default: Option<ConsumptionProfile>,
    #[serde(default)]
    pub products: Vec<ProductProfile>,
    /// Where messages are POSTed (the merchant's WeCom, SMS or own system).
    #[serde(default)]
    pub delivery_url: Option<String>,
    /// No message is sent from `quiet_start` to `quiet_end`, shop time (`HH:MM`).
    #[serde(default = "default_quiet_start")]
    pub quiet_start: String,
    #[serde(default = "default_quiet_end")]
    pub quiet_end: String,
    /// At most one message per customer in this many hours.
    #[serde(default = "default_cap_hours")]
    pub frequency_cap_hours: i64,
    /// A reorder within this many days of a reminder counts as its conversion.
    #[serde(default = "default_conversion_days")]
    pub conversion_days: i64,
    /// Delivery attempts before a message is marked failed.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: i64,
}

fn default_quiet_start() -> String {
    "21:00".into()
}

fn default_quiet_end() -> String {
    "08:00".into()
}

fn default_cap_hours() -> i64 {
    24
}

fn default_conversion_days() -> i64 {
    14
}

fn default_max_attempts() -> i64 {
    5
}

impl Default for ReminderSettings {
    fn default() -> Self {
        Self {
            default: None,
            products: Vec::new(),
            delivery_url: None,
            quiet_start: default_quiet_start(),
            quiet_end: default_quiet_end(),
            frequency_cap_hours: default_cap_hours(),
            conversion_days: default_conversion_days(),
            max_attempts: default_max_attempts(),
        }
    }
}

impl ReminderSettings {
    /// Checks every field; `allow_private` is the deployment's `allow_private_delivery`.
    pub fn validate(&self, allow_private: bool) -> Result<(), Error> {
        self.validate_profiles()?;
        if let Some(url) = &self.delivery_url {
            DeliveryUrl::parse(url, allow_private).map_err(Error::invalid)?;
        }
        for (field, value) in [
            ("quiet_start", &self.quiet_start),
            ("quiet_end", &self.quiet_end),
        ] {
            local_time(value).map_err(|_| {
                Error::invalid(format!("{field} is a local time HH:MM, e.g. \"21:00\""))
            })?;
        }
        if !(0..=168).contains(&self.frequency_cap_hours) {
            return Err(Error::invalid("frequency_cap_hours must be 0 to 168"));
        }
        if !(1..=90).contains(&self.conversion_days) {
            return Err(Error::invalid("conversion_days must be 1 to 90"));
        }
        if !(1..=20).contains(&self.max_attempts) {
            return Err(Error::invalid("max_attempts must be 1 to 20"));
        }
        Ok(())
    }
}

/// Settings as stored: with the secret that signs deliveries (never shown after it is made).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub(crate) struct StoredSettings {
    pub(crate) settings: ReminderSettings,
    #[serde(default)]
    pub(crate) delivery_secret: Option<String>,
}

/// What the API shows: the settings, and whether a signing secret exists.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SettingsView {
    #[serde(flatten)]
    pub settings: ReminderSettings,
    pub delivery_secret_set: bool,
}

pub fn load_settings(store: &dyn Store, shop: &ShopId) -> Result<SettingsView, Error> {
    let stored: StoredSettings =
        get_json(store, &keys::reminder_settings(shop))?.unwrap_or_default();
    Ok(SettingsView {
        settings: stored.settings,
        delivery_secret_set: stored.delivery_secret.is_some(),
    })
}

/// Replaces the settings (the secret stays). Unless `may_redirect`, the delivery URL must
/// stay as stored: checked in the same compare-and-swap, so a concurrent change cannot slip
/// a new URL past a caller who may not set one.
pub fn save_settings(
    store: &dyn Store,
    shop: &ShopId,
    settings: ReminderSettings,
    allow_private: bool,
    may_redirect: impl Fn() -> Result<(), Error>,
) -> Result<SettingsView, Error> {
    settings.validate(allow_private)?;
    let stored = update_json(
        store,
        &keys::reminder_settings(shop),
        |current: Option<StoredSettings>| {
            let mut stored = current.unwrap_or_default();
            if stored.settings.delivery_url != settings.delivery_url {
                may_redirect()?;
            }
            stored.settings = settings.clone();
            Ok::<_, Error>(Change::Write(stored.clone(), stored))
        },
    )?;
    Ok(SettingsView {
        settings: stored.settings,
        delivery_secret_set: stored.delivery_secret.is_some(),
    })
}

/// Makes a new secret for signing deliveries and returns it, shown this once.
pub fn rotate_secret(store: &dyn Store, shop: &ShopId) -> Result<String, Error> {
    let secret = crate::domain::ids::new_secret();
    update_json(
        store,
        &keys::reminder_settings(shop),
        |current: Option<StoredSettings>| {
            let mut stored = current.unwrap_or_default();
            stored.delivery_secret = Some(secret.clone());
            Ok::<_, Error>(Change::Write(stored, ()))
        },
    )?;
    Ok(secret)
}

pub(crate) fn local_time(text: &str) -> Result<Time, ()> {
    let (h, m) = text.split_once(':').ok_or(())?;
    let (h, m): (i8, i8) = (h.parse().map_err(|_| ())?, m.parse().map_err(|_| ())?);
    Time::new(h, m, 0, 0).map_err(|_| ())
}

/// Profiles one shop may keep.
pub const MAX_PROFILES: usize = 500;

impl ReminderSettings {
    fn validate_profiles(&self) -> Result<(), Error> {
        if self.products.len() > MAX_PROFILES {
            return Err(Error::invalid(format!(
                "at most {MAX_PROFILES} product profiles"
            )));
        }
        if let Some(default) = &self.default {
            default.validate()?;
        }
        for p in &self.products {
            if p.product_id.is_none() && p.variant_id.is_none() && p.sku.is_none() {
                return Err(Error::invalid(
                    "a product profile names a product_id, variant_id or sku",
                ));
            }
            p.profile.validate()?;
        }
        Ok(())
    }

    /// The profile for a bought item: its variant's, else its SKU's, else its product's,
    /// else the shop default.
    pub fn for_item(&self, item: &ProductRef) -> Option<&ConsumptionProfile> {
        let by = |pick: fn(&ProductProfile) -> &Option<String>, value: &Option<String>| {
            value.as_ref().and_then(|v| {
                self.products
                    .iter()
                    .find(|p| pick(p).as_ref() == Some(v))
                    .map(|p| &p.profile)
            })
        };
        by(|p| &p.variant_id, &item.variant_id)
            .or_else(|| by(|p| &p.sku, &item.sku))
            .or_else(|| by(|p| &p.product_id, &item.product_id))
            .or(self.default.as_ref())
    }
}

/// Where the shop's messages are delivered and the secret that signs them, once both are set.
/// Reminders, phone verification codes and returning people's coupons go the same way. A URL
/// the deployment no longer allows (saved before its rules changed) is refused here too.
pub fn delivery_target(
    store: &dyn Store,
    shop: &ShopId,
    allow_private: bool,
) -> Result<Option<DeliveryTarget>, Error> {
    let stored = get_json::<StoredSettings>(store, &keys::reminder_settings(shop))?;
    stored
        .map(|s| s.target(allow_private))
        .transpose()
        .map(Option::flatten)
        .map_err(|why| Error::refused(crate::error::ErrorCode::DeliveryUnavailable, why))
}

impl StoredSettings {
    /// The target once URL and secret are both set; Err when the URL is not allowed.
    pub(crate) fn target(&self, allow_private: bool) -> Result<Option<DeliveryTarget>, String> {
        let (Some(url), Some(secret)) = (&self.settings.delivery_url, &self.delivery_secret) else {
            return Ok(None);
        };
        Ok(Some(DeliveryTarget {
            url: DeliveryUrl::parse(url, allow_private)?,
            secret: secret.clone(),
        }))
    }
}

/// The shop's settings with the profiles (no secret), for planning.
pub fn settings(store: &dyn Store, shop: &ShopId) -> Result<ReminderSettings, Error> {
    Ok(
        get_json::<StoredSettings>(store, &keys::reminder_settings(shop))?
            .map(|s| s.settings)
            .unwrap_or_default(),
    )
}

impl ReminderSettings {
    /// Whether any product would be reminded about.
    pub fn has_profiles(&self) -> bool {
        self.default.is_some() || !self.products.is_empty()
    }
}
