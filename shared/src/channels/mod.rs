//! Channel codes: the QR codes and links printed on package cards, posters and SMS. Each has
//! a short public code; a scan is counted and redirected to the channel's target with
//! attribution added.
//!
//! The scan is the hottest path, so it touches as little as possible: one read of the code's
//! scan target (kept beside the channel, under a global key since the public URL names no
//! shop), and one atomic increment per scan into a per-day counter, plus one more for a
//! first-time scanner. Totals are rolled up from the day counters at read time (`funnel`,
//! which also counts what captured customers order); leads are `leads`.

mod funnel;
pub mod leads;
pub mod notice;
pub mod page;
pub mod verification;

pub use funnel::{record_funnel, stats, ChannelNumbers, ChannelStats, DayStats};
pub use page::ChannelPage;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::applog;
use crate::domain::ids::random_id;
use crate::domain::time::time_zone;
use crate::domain::ShopId;
use crate::domain::{ChannelId, ChannelKind, WebUrl};
use crate::error::Error;
use crate::keys;
use crate::shops::Shop;
use crate::store::{create_json, get_json, update_json, Change, Store};

const MAX_TAGS: usize = 20;

/// A shop's channel as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Channel {
    pub id: ChannelId,
    /// The public code in `/q/{code}`: 8 random characters, not sequential.
    pub code: String,
    pub name: String,
    pub kind: ChannelKind,
    pub campaign: Option<String>,
    pub staff: Option<String>,
    pub tags: Vec<String>,
    pub welcome_campaign: Option<String>,
    pub target_url: String,
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Deleted channels keep their counters and code (retired: scans answer 410) but are
    /// no longer listed or readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Timestamp>,
    /// What its sign-up page says and asks.
    #[serde(default)]
    pub page: ChannelPage,
}

/// What a scan needs, under the public code: one read serves the redirect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScanTarget {
    pub shop: ShopId,
    pub channel: ChannelId,
    pub target_url: String,
    pub kind: ChannelKind,
    pub campaign: Option<String>,
    pub active: bool,
    /// Shown on the hosted lead form.
    #[serde(default)]
    pub name: String,
    /// The shop's zone when the channel was last saved: days are counted in it.
    pub time_zone: String,
    /// The channel's `updated_at` this target was built from: an older one never replaces it.
    #[serde(default)]
    pub version: Option<Timestamp>,
}

/// `POST /api/channels` body; `PATCH` takes the same fields, all optional.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelInput {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub kind: Option<ChannelKind>,
    #[serde(default)]
    pub campaign: Option<String>,
    #[serde(default)]
    pub staff: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub welcome_campaign: Option<String>,
    #[serde(default)]
    pub target_url: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
    /// Replaces the sign-up page's settings (`{}` restores the defaults).
    #[serde(default)]
    pub page: Option<ChannelPage>,
}

fn text(field: &str, value: &str, max: usize) -> Result<String, Error> {
    crate::domain::text::bounded(field, value, max).map_err(Error::invalid)
}

/// Only absolute http(s) URLs: a channel can never redirect to `javascript:` or a relative
/// path, and nothing but the configured URL is ever redirected to.
fn target_url(value: &str) -> Result<String, Error> {
    WebUrl::parse(value)
        .map(String::from)
        .map_err(|e| Error::invalid(format!("target_url {e}")))
}

fn tags(values: &[String]) -> Result<Vec<String>, Error> {
    if values.len() > MAX_TAGS {
        return Err(Error::invalid(format!(
            "a channel applies at most {MAX_TAGS} tags"
        )));
    }
    let mut out: Vec<String> = Vec::new();
    for tag in values {
        let tag = text("tags", tag, 255)?;
        if !out.iter().any(|t| t.to_lowercase() == tag.to_lowercase()) {
            out.push(tag);
        }
    }
    Ok(out)
}

impl Channel {
    fn scan_target(&self, shop: &Shop) -> ScanTarget {
        ScanTarget {
            shop: shop.id.clone(),
            channel: self.id.clone(),
            target_url: self.target_url.clone(),
            kind: self.kind,
            campaign: self.campaign.clone(),
            active: self.active,
            name: self.name.clone(),
            time_zone: shop.time_zone.clone(),
            version: Some(self.updated_at),
        }
    }

    /// Applies the given fields, validated; fields not given stay.
    fn apply(&mut self, input: &ChannelInput) -> Result<(), Error> {
        if let Some(name) = &input.name {
            self.name = text("name", name, 100)?;
        }
        if let Some(kind) = input.kind {
            self.kind = kind;
        }
        if let Some(campaign) = &input.campaign {
            self.campaign = Some(text("campaign", campaign, 64)?);
        }
        if let Some(staff) = &input.staff {
            self.staff = Some(text("staff", staff, 64)?);
        }
        if let Some(values) = &input.tags {
            self.tags = tags(values)?;
        }
        if let Some(campaign) = &input.welcome_campaign {
            self.welcome_campaign = Some(text("welcome_campaign", campaign, 64)?);
        }
        if let Some(url) = &input.target_url {
            self.target_url = target_url(url)?;
        }
        if let Some(active) = input.active {
            self.active = active;
        }
        if let Some(page) = &input.page {
            self.page = page.clone().checked()?;
        }
        Ok(())
    }
}

pub fn create(
    store: &dyn Store,
    shop: &Shop,
    input: ChannelInput,
    now: Timestamp,
) -> Result<Channel, Error> {
    let name = input
        .name
        .as_deref()
        .ok_or_else(|| Error::invalid("name is required"))?;
    let url = input
        .target_url
        .as_deref()
        .ok_or_else(|| Error::invalid("target_url is required"))?;
    let mut channel = Channel {
        id: ChannelId::random(),
        code: random_id(8),
        name: text("name", name, 100)?,
        kind: input.kind.unwrap_or(ChannelKind::Other),
        campaign: None,
        staff: None,
        tags: Vec::new(),
        welcome_campaign: None,
        target_url: target_url(url)?,
        active: true,
        created_at: now,
        updated_at: now,
        deleted_at: None,
        page: ChannelPage::default(),
    };
    channel.apply(&input)?;
    // Listed first (a list entry without a channel is skipped), then the global public code
    // (a collision must not half-create a channel), then the channel itself.
    applog::append(store, &shop.id, keys::lists::CHANNELS, &channel.id)?;
    let (_, claimed) = create_json(
        store,
        &keys::scan_target(&channel.code),
        &channel.scan_target(shop),
    )?;
    if !claimed {
        return Err(Error::busy("please retry"));
    }
    create_json(store, &keys::channel(&shop.id, &channel.id), &channel)?;
    Ok(channel)
}

pub fn load(store: &dyn Store, shop: &ShopId, id: &ChannelId) -> Result<Channel, Error> {
    get_json::<Channel>(store, &keys::channel(shop, id))?
        .filter(|c| c.deleted_at.is_none())
        .ok_or_else(|| Error::not_found("channel"))
}

/// Rewrites a channel's scan target from the stored channel and the shop's settings.
/// Rebuilt from what is stored, so concurrent updates cannot leave it behind.
fn sync_scan_target(store: &dyn Store, shop: &Shop, id: &ChannelId) -> Result<(), Error> {
    let Some(stored) = get_json::<Channel>(store, &keys::channel(&shop.id, id))? else {
        return Ok(());
    };
    let target = stored.scan_target(shop);
    update_json(
        store,
        &keys::scan_target(&stored.code),
        |current: Option<ScanTarget>| {
            // A request that read the channel before a later update must not undo it.
            if current.is_some_and(|c| c.version > target.version) {
                return Ok::<_, Error>(Change::Keep(()));
            }
            Ok(Change::Write(target.clone(), ()))
        },
    )
}

/// Retires and hides a channel; its code answers 410 from then on.
pub fn delete(store: &dyn Store, shop: &Shop, id: &ChannelId, now: Timestamp) -> Result<(), Error> {
    load(store, &shop.id, id)?;
    update_json(
        store,
        &keys::channel(&shop.id, id),
        |current: Option<Channel>| {
            let mut channel = current.ok_or_else(|| Error::not_found("channel"))?;
            channel.active = false;
            channel.deleted_at.get_or_insert(now);
            channel.updated_at = now;
            Ok::<_, Error>(Change::Write(channel, ()))
        },
    )?;
    sync_scan_target(store, shop, id)
}

/// After a shop's time zone changes: every channel counts its days in the new zone.
/// Work ∝ the shop's channels, on a settings change only.
pub fn refresh_scan_targets(store: &dyn Store, shop: &Shop) -> Result<(), Error> {
    let mut after = 0;
    loop {
        let page = applog::page::<ChannelId>(store, &shop.id, keys::lists::CHANNELS, after, 200)?;
        for (_, id) in &page.entries {
            sync_scan_target(store, shop, id)?;
        }
        match page.next {
            Some(next) => after = next,
            None => return Ok(()),
        }
    }
}

pub fn update(
    store: &dyn Store,
    shop: &Shop,
    id: &ChannelId,
    input: ChannelInput,
    now: Timestamp,
) -> Result<Channel, Error> {
    load(store, &shop.id, id)?;
    let channel = update_json(
        store,
        &keys::channel(&shop.id, id),
        |current: Option<Channel>| {
            let mut channel = current.ok_or_else(|| Error::not_found("channel"))?;
            channel.apply(&input)?;
            channel.updated_at = now;
            Ok::<_, Error>(Change::Write(channel.clone(), channel))
        },
    )?;
    sync_scan_target(store, shop, id)?;
    Ok(channel)
}

/// A page of the shop's channels in creation order.
pub fn list(
    store: &dyn Store,
    shop: &ShopId,
    after: i64,
    limit: usize,
) -> Result<(Vec<Channel>, Option<i64>), Error> {
    let page = applog::page::<ChannelId>(store, shop, keys::lists::CHANNELS, after, limit)?;
    let mut channels = Vec::with_capacity(page.entries.len());
    for (_, id) in page.entries {
        if let Some(channel) = get_json::<Channel>(store, &keys::channel(shop, &id))? {
            if channel.deleted_at.is_none() {
                channels.push(channel);
            }
        }
    }
    Ok((channels, page.next))
}

/// What a scan resolved to.
#[derive(Debug)]
pub enum ScanOutcome {
    Redirect { location: String, first_scan: bool },
    Unknown,
    Inactive,
}

fn is_code(code: &str) -> bool {
    (4..=10).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The scan target behind a public code (None for malformed or unknown codes).
pub fn scan_target(store: &dyn Store, code: &str) -> Result<Option<ScanTarget>, Error> {
    if !is_code(code) {
        return Ok(None);
    }
    Ok(get_json(store, &keys::scan_target(code))?)
}

/// Counts a scan and says where to send the scanner. `seen_before` comes from the scanner's
/// cookie for this code (no personal data): only a first-time scanner costs a second write.
/// A `look` (a HEAD request: link checkers, previews, anyone's loop) counts nothing.
pub fn scan(
    store: &dyn Store,
    code: &str,
    seen_before: bool,
    look: bool,
    now: Timestamp,
) -> Result<ScanOutcome, Error> {
    let Some(target) = scan_target(store, code)? else {
        return Ok(ScanOutcome::Unknown);
    };
    if !target.active {
        return Ok(ScanOutcome::Inactive);
    }
    if look {
        return Ok(ScanOutcome::Redirect {
            location: with_attribution(&target, code),
            first_scan: false,
        });
    }
    let zone = time_zone(&target.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let day = now.to_zoned(zone).date();
    store.increment(
        &keys::channel_day(&target.shop, &target.channel, "scans", day),
        1,
    )?;
    if !seen_before {
        store.increment(
            &keys::channel_day(&target.shop, &target.channel, "uniques", day),
            1,
        )?;
    }
    Ok(ScanOutcome::Redirect {
        location: with_attribution(&target, code),
        first_scan: !seen_before,
    })
}

/// The target URL with attribution added: `utm_*` for shop pages and analytics, and
/// `customer_channel` for WeCom customer-acquisition links, which report it back.
fn with_attribution(target: &ScanTarget, code: &str) -> String {
    let mut params = form_urlencoded::Serializer::new(String::new());
    params.append_pair("utm_source", "siyu");
    params.append_pair("utm_medium", target.kind.as_str());
    if let Some(campaign) = &target.campaign {
        params.append_pair("utm_campaign", campaign);
    }
    params.append_pair("utm_content", code);
    let wecom = target
        .target_url
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(|h| h.ends_with("work.weixin.qq.com")))
        .unwrap_or(false);
    if wecom {
        params.append_pair("customer_channel", &format!("siyu_{code}"));
    }
    let (base, fragment) = match target.target_url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (target.target_url.as_str(), None),
    };
    let joiner = if base.contains('?') { '&' } else { '?' };
    let mut url = format!("{base}{joiner}{}", params.finish());
    if let Some(fragment) = fragment {
        url.push('#');
        url.push_str(fragment);
    }
    url
}
