//! Customers: one record per person across platforms, found by keyed hashes of their
//! identifiers (`records`), with what platforms and leads say about them (`profile`,
//! `attributes`) and the order aggregates that order events keep current (`aggregates`).
//!
//! Exactly once: every change is a compare-and-swap of the one customer record; an order's
//! contribution is applied only under an intent id the record has not seen (it remembers the
//! last ones), and segment changes are listed in `unsynced` in the same write.

mod aggregates;
mod attributes;
mod profile;
mod records;

pub use attributes::{birthday_month, valid_attribute_key, AttributePatch};
pub use records::{
    erase_record, find, load, load_live, record_data_request, resolve, resolve_claims, update,
    update_existing, Claim, ClaimResolution, Resolution, Standing,
};

use schemars::JsonSchema;
use std::collections::{BTreeMap, VecDeque};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::ids::ExternalId;
use crate::domain::MinorUnits;
use crate::domain::{ChannelId, ChannelKind};
use crate::domain::{Currency, CustomerId, EmailAddress, PhoneNumber, Platform};
use crate::pii::Identity;
use crate::rfm::RfmScore;
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
    /// Platform accounts that joined only by naming this person's phone or email: their
    /// orders count here, but what they say about the person only fills gaps (anyone can
    /// type someone else's number at checkout).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unvouched_platform_ids: Vec<PlatformCustomerId>,
    #[serde(default)]
    pub consent: Consent,
    /// The notice the person last accepted on a sign-up form, word for word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<NoticeAccepted>,
    /// When the person proved `phone` is theirs with a code sent to it; cleared when the
    /// number changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_verified_at: Option<Timestamp>,
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
    pub channel: ChannelId,
    pub day: jiff::civil::Date,
    pub first_orders: i64,
    pub repurchases: i64,
    pub revenue: BTreeMap<Currency, i64>,
}

/// Where and when a person was captured as a lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Capture {
    pub channel: ChannelId,
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

/// What a person was told before their details were collected (PIPL Art. 17), as they saw
/// it, and the marketing consent they gave beside it, if they did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NoticeAccepted {
    /// Names the wording: the notice's edition and a digest of the text shown.
    pub version: String,
    /// The notice as shown (Chinese, then English).
    pub notice: String,
    /// The marketing consent sentence the person ticked; None if they did not tick it.
    pub marketing_consent: Option<String>,
    pub channel: ChannelId,
    pub at: Timestamp,
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
    pub net_minor: MinorUnits,
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
            unvouched_platform_ids: Vec::new(),
            consent: Consent::default(),
            notice: None,
            phone_verified_at: None,
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

    /// Removes personal data; aggregates stay, no longer tied to a person.
    fn erase(&mut self, now: Timestamp) {
        let before = self.segments();
        self.erased_at.get_or_insert(now);
        self.phone = None;
        self.phone_verified_at = None;
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
            notice: self.notice.clone(),
            phone_verified_at: self.phone_verified_at,
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

impl CustomerView {
    /// For a key that sees contacts only masked: WeCom ids (a way to message the person) are
    /// masked too.
    pub fn with_wecom_ids_masked(mut self) -> Self {
        for pid in &mut self.platform_ids {
            if pid.platform == Platform::Wecom {
                let text: Vec<char> = pid.id.as_str().chars().collect();
                let keep = (text.len() / 4).min(4);
                let head: String = text[..keep].iter().collect();
                let tail: String = text[text.len() - keep..].iter().collect();
                if let Ok(masked) = ExternalId::parse(&format!("{head}****{tail}")) {
                    pid.id = masked;
                }
            }
        }
        self
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
    /// The notice accepted on a sign-up form, word for word.
    pub notice: Option<NoticeAccepted>,
    /// When the phone number was proved with a code sent to it.
    pub phone_verified_at: Option<Timestamp>,
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
