//! Customers: one record per person across platforms, found by keyed hashes of their
//! identifiers, with order aggregates that order events keep current, and erasure.

use schemars::JsonSchema;
use std::collections::{BTreeMap, VecDeque};

use jiff::civil::Date;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::applog;
use crate::domain::ids::ExternalId;
use crate::domain::ChannelKind;
use crate::domain::{Currency, CustomerId, EmailAddress, PhoneNumber, Platform, ShopId};
use crate::error::{Error, ErrorCode};
use crate::keys;
use crate::pii::Identity;
use crate::rfm::RfmScore;
use crate::store::{get_json, update_json, Change, Store, StoreError};
use crate::tags::{Segment, TagEvent, TagName, TagSet, TagSource, TagView};

/// How many applied order intents a customer remembers (see `orders::settle`).
const APPLIED_INTENTS_KEPT: usize = 256;
/// Distinct products kept per customer; the least recently bought fall off first.
const PRODUCTS_KEPT: usize = 500;
/// Days of order activity a customer keeps, back from their latest: the widest window a
/// rule may ask about.
pub const ACTIVITY_DAYS: i64 = 730;
const PLATFORM_IDS_KEPT: usize = 10;
/// Recent funnel changes kept per customer for retries.
const FUNNEL_KEPT: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Customer {
    pub id: CustomerId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default)]
    pub erased_at: Option<Timestamp>,
    /// Raw contact details, kept only because messages must be delivered to them.
    #[serde(default)]
    pub phone: Option<PhoneNumber>,
    #[serde(default)]
    pub email: Option<EmailAddress>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    /// When the contact fields were last set: older events do not overwrite newer ones.
    #[serde(default)]
    pub profile_observed_at: Option<Timestamp>,
    #[serde(default)]
    pub platform_ids: Vec<PlatformCustomerId>,
    #[serde(default)]
    pub consent: Consent,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Identity index entries that point here, so erasure can remove them.
    #[serde(default)]
    pub identity_hashes: Vec<String>,
    /// The channel that first captured this person as a lead (attribution).
    #[serde(default)]
    pub first_capture: Option<Capture>,
    #[serde(default)]
    pub tags: TagSet,
    /// Current RFM scores and group; None until first evaluated (and after erasure).
    #[serde(default)]
    pub rfm: Option<RfmScore>,
    #[serde(default)]
    pub super_user: bool,
    #[serde(default)]
    pub stats: OrderStats,
    /// Orders and net spend per day (shop zone) for look-back windows, kept
    /// `ACTIVITY_DAYS` back from the latest day.
    #[serde(default)]
    pub activity: BTreeMap<jiff::civil::Date, DayActivity>,
    /// Counts changes of the customer's segment memberships; orders writes to the index.
    #[serde(default)]
    pub segment_seq: u64,
    /// Memberships changed here but maybe not yet in the segment index (see `segments`).
    #[serde(default)]
    pub unsynced: Vec<Segment>,
    #[serde(default)]
    pub products: Vec<ProductPurchase>,
    #[serde(default)]
    applied_intents: VecDeque<u64>,
    /// Funnel changes of the capture channel made by the latest intents, kept so that a
    /// retried settlement can still pass them on (see `channels::record_funnel`).
    #[serde(default)]
    funnel_recent: VecDeque<FunnelDelta>,
}

/// How one applied intent moved the customer's capture channel's funnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FunnelDelta {
    /// The intent's id: the channel counts each id once.
    pub id: u64,
    pub channel: String,
    pub day: jiff::civil::Date,
    pub first_orders: i64,
    pub repurchases: i64,
    pub revenue: BTreeMap<Currency, i64>,
}

/// Where and when a person was captured as a lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Capture {
    pub channel: String,
    #[serde(default)]
    pub kind: Option<ChannelKind>,
    pub at: Timestamp,
}

/// One day's counted orders and net spend.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DayActivity {
    pub orders: i64,
    pub spend: BTreeMap<Currency, i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlatformCustomerId {
    pub platform: Platform,
    pub id: ExternalId,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Consent {
    /// None: never stated.
    pub marketing: Option<bool>,
    pub source: Option<String>,
    pub updated_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderStats {
    pub order_count: i64,
    pub first_order_at: Option<Timestamp>,
    pub last_order_at: Option<Timestamp>,
    /// Net of refunds, in minor units, per currency code.
    pub spend: BTreeMap<Currency, i64>,
}

/// What identifies a product across a shop's orders.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct ProductRef {
    pub product_id: Option<String>,
    pub variant_id: Option<String>,
    pub sku: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProductPurchase {
    #[serde(flatten)]
    pub product: ProductRef,
    pub title: Option<String>,
    pub quantity: i64,
    pub last_purchased_at: Option<Timestamp>,
}

/// What one order adds to its customer's aggregates in its current state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Contribution {
    pub counted: bool,
    pub currency: Option<Currency>,
    pub net_minor: i64,
    pub items: Vec<ContributedItem>,
    pub ordered_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ContributedItem {
    pub product: ProductRef,
    pub title: Option<String>,
    pub quantity: i64,
}

/// A change of one order's contribution, applied to the customer exactly once by its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Intent {
    pub id: u64,
    pub from: Contribution,
    pub to: Contribution,
}

/// Facts about a person that an event carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfilePatch {
    pub platform_customer: Option<PlatformCustomerId>,
    pub phone: Option<PhoneNumber>,
    pub email: Option<EmailAddress>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub accepts_marketing: Option<bool>,
    /// When the platform observed these facts (the payload's updated_at), if known.
    pub observed_at: Option<Timestamp>,
    /// The customer's complete tag list on the platform, when the event carries it.
    pub platform_tags: Option<Vec<TagName>>,
}

impl ProfilePatch {
    pub fn identities(&self) -> Vec<Identity> {
        let mut ids = Vec::new();
        if let Some(p) = &self.platform_customer {
            ids.push(Identity::PlatformCustomer(p.platform, p.id.clone()));
        }
        if let Some(phone) = &self.phone {
            ids.push(Identity::Phone(phone.clone()));
        }
        if let Some(email) = &self.email {
            ids.push(Identity::Email(email.clone()));
        }
        ids
    }

    pub fn is_empty(&self) -> bool {
        *self == ProfilePatch::default()
    }
}

impl Customer {
    /// Records that they no longer want marketing messages; false if that was known.
    pub fn withdraw_consent(&mut self, source: &str, now: Timestamp) -> bool {
        if self.consent.marketing == Some(false) {
            return false;
        }
        self.consent = Consent {
            marketing: Some(false),
            source: Some(source.into()),
            updated_at: Some(now),
        };
        true
    }

    pub fn new(id: CustomerId, now: Timestamp) -> Self {
        Self {
            id,
            created_at: now,
            updated_at: now,
            erased_at: None,
            phone: None,
            email: None,
            first_name: None,
            last_name: None,
            profile_observed_at: None,
            platform_ids: Vec::new(),
            consent: Consent::default(),
            attributes: BTreeMap::new(),
            identity_hashes: Vec::new(),
            first_capture: None,
            tags: TagSet::default(),
            rfm: None,
            super_user: false,
            stats: OrderStats::default(),
            activity: BTreeMap::new(),
            segment_seq: 0,
            unsynced: Vec::new(),
            products: Vec::new(),
            applied_intents: VecDeque::new(),
            funnel_recent: VecDeque::new(),
        }
    }

    pub fn has_applied(&self, intent: u64) -> bool {
        self.applied_intents.contains(&intent)
    }

    /// Applies an order's change of contribution unless this intent was applied before.
    /// `zone` is the shop's, for the day a captured customer's funnel change is counted on.
    pub fn apply_intent(&mut self, intent: &Intent, zone: &jiff::tz::TimeZone) -> bool {
        if self.has_applied(intent.id) {
            return false;
        }
        let orders_before = self.stats.order_count;
        self.remove_contribution(&intent.from);
        self.add_contribution(&intent.to);
        self.record_activity(&intent.from, -1, zone);
        self.record_activity(&intent.to, 1, zone);
        self.applied_intents.push_back(intent.id);
        while self.applied_intents.len() > APPLIED_INTENTS_KEPT {
            self.applied_intents.pop_front();
        }
        self.note_funnel(intent, orders_before, zone);
        true
    }

    /// Records how the intent moves the capture channel's funnel: first orders, repurchases
    /// (a second order) and revenue, on the day the order was placed.
    fn note_funnel(&mut self, intent: &Intent, orders_before: i64, zone: &jiff::tz::TimeZone) {
        let Some(capture) = &self.first_capture else {
            return;
        };
        let after = self.stats.order_count;
        let mut revenue = BTreeMap::new();
        if let Some(currency) = intent.from.currency {
            *revenue.entry(currency).or_insert(0) -= intent.from.net_minor;
        }
        if let Some(currency) = intent.to.currency {
            *revenue.entry(currency).or_insert(0) += intent.to.net_minor;
        }
        revenue.retain(|_, v| *v != 0);
        let delta = FunnelDelta {
            id: intent.id,
            channel: capture.channel.clone(),
            day: intent
                .to
                .ordered_at
                .or(intent.from.ordered_at)
                .unwrap_or(capture.at)
                .to_zoned(zone.clone())
                .date(),
            first_orders: i64::from(after >= 1) - i64::from(orders_before >= 1),
            repurchases: i64::from(after >= 2) - i64::from(orders_before >= 2),
            revenue,
        };
        if delta.first_orders != 0 || delta.repurchases != 0 || !delta.revenue.is_empty() {
            self.funnel_recent.push_back(delta);
            while self.funnel_recent.len() > FUNNEL_KEPT {
                self.funnel_recent.pop_front();
            }
        }
    }

    /// Moves a contribution into (`sign` 1) or out of (-1) the per-day history.
    fn record_activity(&mut self, c: &Contribution, sign: i64, zone: &jiff::tz::TimeZone) {
        let Some(at) = c.ordered_at else {
            return;
        };
        let day_key = at.to_zoned(zone.clone()).date();
        let day = self.activity.entry(day_key).or_default();
        if c.counted {
            day.orders += sign;
        }
        if let Some(currency) = c.currency {
            let spend = day.spend.entry(currency).or_insert(0);
            *spend += sign * c.net_minor;
            if *spend == 0 {
                day.spend.remove(&currency);
            }
        }
        if day.orders == 0 && day.spend.is_empty() {
            self.activity.remove(&day_key);
        }
        if let Some(latest) = self.activity.keys().next_back().copied() {
            let horizon = latest
                .checked_sub(jiff::Span::new().days(ACTIVITY_DAYS))
                .unwrap_or(jiff::civil::Date::MIN);
            self.activity = self.activity.split_off(&horizon);
        }
    }

    /// Per-day history from `from` on.
    pub fn activity_since(
        &self,
        from: jiff::civil::Date,
    ) -> impl Iterator<Item = (&jiff::civil::Date, &DayActivity)> {
        self.activity.range(from..)
    }

    /// The segments (tags, RFM group, super users) this customer belongs to now.
    pub fn segments(&self) -> std::collections::BTreeSet<Segment> {
        let mut out = std::collections::BTreeSet::new();
        if self.erased_at.is_some() {
            return out;
        }
        out.extend(self.tags.names().into_iter().map(Segment::Tag));
        if let Some(rfm) = &self.rfm {
            out.insert(Segment::Rfm(rfm.group));
        }
        if self.super_user {
            out.insert(Segment::SuperUsers);
        }
        out
    }

    /// Notes which memberships differ from `before`, for the segment index to catch up.
    pub fn note_segment_changes(&mut self, before: &std::collections::BTreeSet<Segment>) {
        let after = self.segments();
        let changed: Vec<Segment> = before.symmetric_difference(&after).cloned().collect();
        if changed.is_empty() {
            return;
        }
        self.segment_seq += 1;
        for segment in changed {
            if !self.unsynced.contains(&segment) {
                self.unsynced.push(segment);
            }
        }
    }

    /// Whether the customer belongs to a segment now.
    pub fn in_segment(&self, segment: &Segment) -> bool {
        if self.erased_at.is_some() {
            return false;
        }
        match segment {
            Segment::Tag(name) => self.tags.has(name),
            Segment::Rfm(group) => self.rfm.is_some_and(|r| r.group == *group),
            Segment::SuperUsers => self.super_user,
        }
    }

    /// The funnel change an intent made, if any.
    pub fn funnel_delta(&self, intent: u64) -> Option<&FunnelDelta> {
        self.funnel_recent.iter().find(|d| d.id == intent)
    }

    fn remove_contribution(&mut self, c: &Contribution) {
        if c.counted {
            self.stats.order_count -= 1;
        }
        if let Some(currency) = c.currency {
            self.adjust_spend(currency, -c.net_minor);
        }
        for item in &c.items {
            if let Some(pos) = self.products.iter().position(|p| p.product == item.product) {
                self.products[pos].quantity -= item.quantity;
                if self.products[pos].quantity <= 0 {
                    self.products.remove(pos);
                }
            }
        }
    }

    fn add_contribution(&mut self, c: &Contribution) {
        if c.counted {
            self.stats.order_count += 1;
            if let Some(at) = c.ordered_at {
                self.stats.first_order_at =
                    Some(self.stats.first_order_at.map_or(at, |f| f.min(at)));
                self.stats.last_order_at = Some(self.stats.last_order_at.map_or(at, |l| l.max(at)));
            }
        }
        if let Some(currency) = c.currency {
            self.adjust_spend(currency, c.net_minor);
        }
        for item in &c.items {
            match self.products.iter_mut().find(|p| p.product == item.product) {
                Some(p) => {
                    p.quantity += item.quantity;
                    if item.title.is_some() {
                        p.title = item.title.clone();
                    }
                    p.last_purchased_at = max_opt(p.last_purchased_at, c.ordered_at);
                }
                None => self.products.push(ProductPurchase {
                    product: item.product.clone(),
                    title: item.title.clone(),
                    quantity: item.quantity,
                    last_purchased_at: c.ordered_at,
                }),
            }
        }
        if self.products.len() > PRODUCTS_KEPT {
            self.products
                .sort_by_key(|p| std::cmp::Reverse(p.last_purchased_at));
            self.products.truncate(PRODUCTS_KEPT);
        }
    }

    fn adjust_spend(&mut self, currency: Currency, delta: i64) {
        let entry = self.stats.spend.entry(currency).or_insert(0);
        *entry += delta;
        if *entry == 0 {
            self.stats.spend.remove(&currency);
        }
    }

    /// Merges what an event says about the person. Erased customers take no personal data.
    pub fn apply_profile(&mut self, patch: &ProfilePatch, source: &str, hashes: &[String]) -> bool {
        if self.erased_at.is_some() {
            return false;
        }
        let before = self.clone();
        let newer = match (patch.observed_at, self.profile_observed_at) {
            (Some(new), Some(old)) => new >= old,
            _ => true,
        };
        if newer {
            if patch.phone.is_some() {
                self.phone = patch.phone.clone();
            }
            if patch.email.is_some() {
                self.email = patch.email.clone();
            }
            if patch.first_name.is_some() {
                self.first_name = patch.first_name.clone();
            }
            if patch.last_name.is_some() {
                self.last_name = patch.last_name.clone();
            }
            if let Some(at) = patch.observed_at {
                self.profile_observed_at = Some(at);
            }
            if let Some(marketing) = patch.accepts_marketing {
                self.consent = Consent {
                    marketing: Some(marketing),
                    source: Some(source.to_string()),
                    updated_at: patch.observed_at.or(self.consent.updated_at),
                };
            }
            if let (Some(tags), Some(pid)) = (&patch.platform_tags, &patch.platform_customer) {
                self.import_platform_tags(pid.platform, tags, patch.observed_at);
            }
        } else if self.phone.is_none() || self.email.is_none() {
            // An older event may still fill a gap.
            if self.phone.is_none() {
                self.phone = patch.phone.clone();
            }
            if self.email.is_none() {
                self.email = patch.email.clone();
            }
        }
        if let Some(pid) = &patch.platform_customer {
            if !self.platform_ids.contains(pid) {
                self.platform_ids.push(pid.clone());
                if self.platform_ids.len() > PLATFORM_IDS_KEPT {
                    self.platform_ids.remove(0);
                }
            }
        }
        for hash in hashes {
            if !self.identity_hashes.contains(hash) {
                self.identity_hashes.push(hash.clone());
            }
        }
        *self != before
    }

    /// Makes the tags held for `platform` exactly `tags`: the platform's list is the truth
    /// for what it put there; other reasons are left alone.
    fn import_platform_tags(
        &mut self,
        platform: Platform,
        tags: &[TagName],
        at: Option<Timestamp>,
    ) {
        let now = at.unwrap_or(self.updated_at);
        let source = TagSource::Platform { platform };
        let before = self.segments();
        for held in self.tags.names() {
            if !tags.contains(&held) {
                self.tags
                    .remove_where(&held, now, &source, |s| s == &source);
            }
        }
        for tag in tags {
            self.tags.add(tag, &source, now);
        }
        self.note_segment_changes(&before);
    }

    /// Removes personal data; aggregates stay, no longer tied to a person.
    fn erase(&mut self, now: Timestamp) {
        let before = self.segments();
        self.erased_at.get_or_insert(now);
        self.phone = None;
        self.email = None;
        self.first_name = None;
        self.last_name = None;
        self.profile_observed_at = None;
        self.platform_ids.clear();
        self.attributes.clear();
        self.identity_hashes.clear();
        self.tags.clear();
        self.rfm = None;
        self.super_user = false;
        self.note_segment_changes(&before);
        self.consent = Consent {
            marketing: Some(false),
            source: Some("erasure".to_string()),
            updated_at: Some(now),
        };
    }

    /// Holds each tag for `source` (names compare case-insensitively). Erased customers
    /// take no tags.
    pub fn add_tags(&mut self, names: &[TagName], source: &TagSource, now: Timestamp) -> bool {
        if self.erased_at.is_some() {
            return false;
        }
        let before = self.segments();
        let mut changed = false;
        for name in names {
            changed |= self.tags.add(name, source, now) != crate::tags::AddOutcome::Unchanged;
        }
        self.note_segment_changes(&before);
        changed
    }

    pub fn view(&self) -> CustomerView {
        CustomerView {
            id: self.id.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            erased_at: self.erased_at,
            phone: self.phone.as_ref().map(PhoneNumber::masked),
            email: self.email.as_ref().map(EmailAddress::masked),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            platform_ids: self.platform_ids.clone(),
            consent: self.consent.clone(),
            attributes: self.attributes.clone(),
            first_capture: self.first_capture.clone(),
            tags: self.tags.view(),
            tag_history: self.tags.history().cloned().collect(),
            rfm: self.rfm,
            super_user: self.super_user,
            orders: self.stats.clone(),
            products: self.products.clone(),
        }
    }
}

fn max_opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// A customer as the API shows it: contact details masked, internals left out.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CustomerView {
    pub id: CustomerId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub erased_at: Option<Timestamp>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub platform_ids: Vec<PlatformCustomerId>,
    pub consent: Consent,
    pub attributes: BTreeMap<String, String>,
    pub first_capture: Option<Capture>,
    pub tags: Vec<TagView>,
    /// Recent tag changes, oldest first.
    pub tag_history: Vec<TagEvent>,
    pub rfm: Option<RfmScore>,
    pub super_user: bool,
    pub orders: OrderStats,
    pub products: Vec<ProductPurchase>,
}

/// Attributes one customer may hold.
const MAX_ATTRIBUTES: usize = 50;
const MAX_ATTRIBUTE_CHARS: usize = 500;

/// Custom attribute keys: what `attributes` accepts and conditions may name.
pub fn valid_attribute_key(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The month of a stored birthday, `YYYY-MM-DD` or `MM-DD`.
pub fn birthday_month(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split('-').collect();
    let (month, day) = match parts.as_slice() {
        [_, m, d] | [m, d] => (m.parse::<i8>().ok()?, d.parse::<i8>().ok()?),
        _ => return None,
    };
    // 2000 is a leap year, so 02-29 is accepted.
    Date::new(2000, month, day).ok()?;
    Some(i64::from(month))
}

/// A checked change of attributes: a value sets, None removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributePatch(BTreeMap<String, Option<String>>);

impl AttributePatch {
    /// Known keys are checked (`gender`: female, male or other; `birthday`: YYYY-MM-DD or
    /// MM-DD; `city`), custom keys are lower-case words of at most 64 characters.
    pub fn parse(input: BTreeMap<String, Option<String>>) -> Result<Self, Error> {
        let mut out = BTreeMap::new();
        for (key, value) in input {
            if !valid_attribute_key(&key) {
                return Err(Error::invalid(format!(
                    "attribute {key:?}: keys are 1 to 64 lower-case letters, digits or _"
                )));
            }
            let value = match value {
                None => None,
                Some(v) => Some(Self::value(&key, v.trim())?),
            };
            out.insert(key, value);
        }
        Ok(Self(out))
    }

    fn value(key: &str, value: &str) -> Result<String, Error> {
        let invalid = |m: &str| Err(Error::invalid(format!("attribute {key}: {m}")));
        if value.is_empty()
            || value.chars().count() > MAX_ATTRIBUTE_CHARS
            || value.chars().any(char::is_control)
        {
            return invalid("values are 1 to 500 characters (null removes it)");
        }
        match key {
            "gender" if !matches!(value, "female" | "male" | "other") => {
                invalid("gender is female, male or other")
            }
            "birthday" if birthday_month(value).is_none() => {
                invalid("birthday is YYYY-MM-DD or MM-DD")
            }
            _ => Ok(value.to_string()),
        }
    }

    /// Applies the change; fails without changing anything past the attribute limit.
    pub fn apply(&self, customer: &mut Customer) -> Result<bool, Error> {
        let mut next = customer.attributes.clone();
        for (key, value) in &self.0 {
            match value {
                Some(v) => next.insert(key.clone(), v.clone()),
                None => next.remove(key),
            };
        }
        if next.len() > MAX_ATTRIBUTES {
            return Err(Error::invalid(format!(
                "a customer holds at most {MAX_ATTRIBUTES} attributes"
            )));
        }
        let changed = next != customer.attributes;
        customer.attributes = next;
        Ok(changed)
    }
}

/// The outcome of matching an event's identities to a customer.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    pub customer: Option<CustomerId>,
    /// Index entries that point to that customer (found or just claimed).
    pub owned_hashes: Vec<String>,
}

/// Finds the customer an event's identities belong to, creating one if none matches, and
/// claims the identities no one holds yet. `known` is a customer already tied to the order.
/// Two requests racing for a new person agree on one customer: the index entry is claimed
/// with compare-and-swap, and the loser adopts the winner's id.
pub fn resolve(
    store: &dyn Store,
    shop: &ShopId,
    pepper: &[u8],
    identities: &[Identity],
    known: Option<CustomerId>,
) -> Result<Resolution, StoreError> {
    let hashes: Vec<String> = identities.iter().map(|i| i.hash(pepper)).collect();
    let mut holders: Vec<Option<CustomerId>> = Vec::with_capacity(hashes.len());
    for hash in &hashes {
        holders.push(get_json(store, &keys::identity(shop, hash))?);
    }
    let customer = match known.or_else(|| holders.iter().flatten().next().cloned()) {
        Some(customer) => customer,
        None => {
            let Some(first) = hashes.first() else {
                return Ok(Resolution::default());
            };
            // Listed before it is claimed: a crash in between leaves a list entry with no
            // customer (skipped by every walk), never a customer missing from the list.
            let fresh = CustomerId::random();
            applog::append(store, shop, keys::lists::CUSTOMERS, &fresh)?;
            let key = keys::identity(shop, first);
            let (holder, _) = crate::store::create_json(store, &key, &fresh)?;
            holders[0] = Some(holder.clone());
            holder
        }
    };
    let mut owned = Vec::new();
    for (hash, holder) in hashes.iter().zip(holders) {
        let holder = match holder {
            Some(h) => h,
            None => crate::store::create_json(store, &keys::identity(shop, hash), &customer)?.0,
        };
        if holder == customer {
            owned.push(hash.clone());
        }
    }
    Ok(Resolution {
        customer: Some(customer),
        owned_hashes: owned,
    })
}

/// Looks a customer up by identities without creating anything.
pub fn find(
    store: &dyn Store,
    shop: &ShopId,
    pepper: &[u8],
    identities: &[Identity],
) -> Result<Option<CustomerId>, StoreError> {
    for identity in identities {
        if let Some(id) = get_json(store, &keys::identity(shop, &identity.hash(pepper)))? {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

pub fn load(store: &dyn Store, shop: &ShopId, id: &CustomerId) -> Result<Customer, Error> {
    get_json(store, &keys::customer(shop, id))?.ok_or_else(|| Error::not_found("customer"))
}

/// Read-modify-write of a customer (created empty if absent). `change` returns whether it
/// changed anything; nothing is written otherwise.
pub fn update(
    store: &dyn Store,
    shop: &ShopId,
    id: &CustomerId,
    now: Timestamp,
    mut change: impl FnMut(&mut Customer) -> bool,
) -> Result<Customer, StoreError> {
    update_json(
        store,
        &keys::customer(shop, id),
        |current: Option<Customer>| {
            let mut customer = current.unwrap_or_else(|| Customer::new(id.clone(), now));
            if change(&mut customer) {
                customer.updated_at = now;
                Ok::<_, StoreError>(Change::Write(customer.clone(), customer))
            } else {
                Ok(Change::Keep(customer))
            }
        },
    )
}

/// Like `update`, but leaves an absent customer absent (returns None).
pub fn update_existing(
    store: &dyn Store,
    shop: &ShopId,
    id: &CustomerId,
    now: Timestamp,
    mut change: impl FnMut(&mut Customer) -> bool,
) -> Result<Option<Customer>, StoreError> {
    update_json(
        store,
        &keys::customer(shop, id),
        |current: Option<Customer>| {
            let Some(mut customer) = current else {
                return Ok::<_, StoreError>(Change::Keep(None));
            };
            if change(&mut customer) {
                customer.updated_at = now;
                Ok(Change::Write(customer.clone(), Some(customer)))
            } else {
                Ok(Change::Keep(Some(customer)))
            }
        },
    )
}

/// A customer that exists and is not erased: what a person may still change by hand.
pub fn load_live(store: &dyn Store, shop: &ShopId, id: &CustomerId) -> Result<Customer, Error> {
    let customer = load(store, shop, id)?;
    if customer.erased_at.is_some() {
        return Err(Error::refused(
            ErrorCode::CustomerErased,
            "this customer was erased; their data cannot be changed",
        ));
    }
    Ok(customer)
}

/// Erasure of the record: personal data and the identity index entries go, aggregates stay
/// anonymous. Safe to repeat; a retry finishes what an interrupted one left. What follows
/// (segments, reminders) is `flows::erasure`'s.
pub fn erase_record(
    store: &dyn Store,
    shop: &ShopId,
    id: &CustomerId,
    now: Timestamp,
) -> Result<Customer, Error> {
    let customer = load(store, shop, id)?;
    for hash in &customer.identity_hashes {
        let key = keys::identity(shop, hash);
        if get_json::<CustomerId>(store, &key)?.as_ref() == Some(id) {
            store.delete(&key)?;
        }
    }
    let erased = update(store, shop, id, now, |c| {
        let before = c.clone();
        c.erase(now);
        *c != before
    })?;
    Ok(erased)
}

/// A privacy data request as listed for the merchant.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct DataRequestMarker {
    entry: serde_json::Value,
    listed: bool,
}

/// Records a platform's data request once per request id. The marker is written first and
/// flagged once listed, so a crash in between is finished by the redelivery (at worst the
/// request is listed twice, never lost).
pub fn record_data_request(
    store: &dyn Store,
    shop: &ShopId,
    platform: Platform,
    request_id: &ExternalId,
    customer: Option<&CustomerId>,
    now: Timestamp,
) -> Result<(), Error> {
    let key = keys::data_request(shop, request_id);
    let fresh = DataRequestMarker {
        entry: serde_json::json!({
            "request_id": request_id,
            "platform": platform,
            "customer_id": customer,
            "received_at": now,
        }),
        listed: false,
    };
    let (marker, _) = crate::store::create_json(store, &key, &fresh)?;
    if !marker.listed {
        applog::append(store, shop, keys::lists::DATA_REQUESTS, &marker.entry)?;
        update_json(store, &key, |current: Option<DataRequestMarker>| {
            let mut marker = current.unwrap_or(fresh.clone());
            marker.listed = true;
            Ok::<_, StoreError>(Change::Write(marker, ()))
        })?;
    }
    Ok(())
}
