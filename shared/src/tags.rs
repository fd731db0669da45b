//! Tags on customers, each held for one or more reasons (a rule, a channel, a person, the
//! platform) so the merchant can see why a customer carries it, and a short history of
//! what changed.

use schemars::JsonSchema;
use std::collections::VecDeque;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::{ChannelId, Platform, RuleId};
use crate::error::Error;

/// Longest tag name, in characters (Shopify's limit).
pub const MAX_TAG_CHARS: usize = 255;
/// Distinct tags one customer may carry (Shopify's limit).
pub const MAX_TAGS_PER_CUSTOMER: usize = 250;
/// Tag changes remembered per customer.
pub const HISTORY_KEPT: usize = 50;

/// A tag name: trimmed, 1–255 characters, no control characters. Two names are the same tag
/// when they match ignoring case; the first spelling seen is kept for display.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct TagName {
    text: String,
    /// Lower-cased once, since tags are compared far more often than made.
    folded: String,
}

impl TagName {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty()
            || text.chars().count() > MAX_TAG_CHARS
            || text.chars().any(char::is_control)
        {
            return Err(format!(
                "a tag is 1 to {MAX_TAG_CHARS} characters without control characters"
            ));
        }
        Ok(Self {
            text: text.to_string(),
            folded: text.to_lowercase(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The case-insensitive identity of the tag.
    pub fn folded(&self) -> &str {
        &self.folded
    }
}

impl PartialEq for TagName {
    fn eq(&self, other: &Self) -> bool {
        self.folded == other.folded
    }
}

impl Eq for TagName {}

impl PartialOrd for TagName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TagName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.folded.cmp(&other.folded)
    }
}

impl TryFrom<String> for TagName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<TagName> for String {
    fn from(value: TagName) -> String {
        value.text
    }
}

impl std::fmt::Display for TagName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses a list of tag names given by a client, naming the field in the error.
pub fn parse_tag_names(field: &str, names: &[String]) -> Result<Vec<TagName>, Error> {
    let mut out: Vec<TagName> = Vec::new();
    for name in names {
        let tag = TagName::parse(name).map_err(|e| Error::invalid(format!("{field}: {e}")))?;
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

/// One reason a customer carries a tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TagSource {
    /// Applied when the person was captured through a channel code.
    Channel { channel: ChannelId },
    /// Held while a tagging rule's condition is true.
    Rule { rule: RuleId },
    /// Added through the API; `key` is the API key that did it, `by` whoever the caller named.
    Manual {
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// The customer's tags on the shop platform.
    Platform { platform: Platform },
}

impl TagSource {
    pub fn is_rule(&self) -> bool {
        matches!(self, TagSource::Rule { .. })
    }

    /// The same reason: a key adding a tag it already added is no new reason, whoever it
    /// names as the person.
    fn same_reason(&self, other: &TagSource) -> bool {
        match (self, other) {
            (TagSource::Manual { key: a, .. }, TagSource::Manual { key: b, .. }) => a == b,
            (a, b) => a == b,
        }
    }
}

/// A tag on a customer for one reason. A tag held for two reasons is stored twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerTag {
    pub name: TagName,
    pub source: TagSource,
    pub added_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TagAction {
    Added,
    Removed,
    /// Not added: the customer already carries the most tags allowed.
    LimitReached,
}

/// One change of a customer's tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TagEvent {
    pub at: Timestamp,
    pub tag: TagName,
    pub action: TagAction,
    pub source: TagSource,
}

/// A customer's tags with their reasons, and the recent changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(from = "StoredTagSet")]
pub struct TagSet {
    #[serde(default)]
    held: Vec<CustomerTag>,
    #[serde(default)]
    history: VecDeque<TagEvent>,
}

/// How tag sets are stored, including the plain list of the first release (before rules,
/// when every tag came from a channel), so records written then still read.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum StoredTagSet {
    Current {
        #[serde(default)]
        held: Vec<CustomerTag>,
        #[serde(default)]
        history: VecDeque<TagEvent>,
    },
    FirstRelease(Vec<CustomerTag>),
}

impl From<StoredTagSet> for TagSet {
    fn from(stored: StoredTagSet) -> Self {
        match stored {
            StoredTagSet::Current { held, history } => TagSet { held, history },
            StoredTagSet::FirstRelease(held) => TagSet {
                held,
                history: VecDeque::new(),
            },
        }
    }
}

/// A tag as the API shows it: the name once, with every reason it is held.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TagView {
    pub name: TagName,
    pub added_at: Timestamp,
    pub sources: Vec<SourceView>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SourceView {
    #[serde(flatten)]
    pub source: TagSource,
    pub added_at: Timestamp,
}

impl TagSet {
    /// The distinct tags held, in the order first added.
    pub fn names(&self) -> Vec<TagName> {
        let mut names: Vec<TagName> = Vec::new();
        for tag in &self.held {
            if !names.contains(&tag.name) {
                names.push(tag.name.clone());
            }
        }
        names
    }

    pub fn has(&self, name: &TagName) -> bool {
        self.held.iter().any(|t| &t.name == name)
    }

    pub fn has_source(&self, name: &TagName, source: &TagSource) -> bool {
        self.held
            .iter()
            .any(|t| &t.name == name && t.source.same_reason(source))
    }

    pub fn sources(&self) -> impl Iterator<Item = &CustomerTag> {
        self.held.iter()
    }

    /// Holds `name` for `source`. A tag new to the customer counts against the limit; when
    /// full, nothing is added and the refusal is remembered. Returns whether anything changed.
    pub fn add(&mut self, name: &TagName, source: &TagSource, now: Timestamp) -> AddOutcome {
        if self.has_source(name, source) {
            return AddOutcome::Unchanged;
        }
        let new_tag = !self.has(name);
        if new_tag && self.names().len() >= MAX_TAGS_PER_CUSTOMER {
            let already_noted = self.history.back().is_some_and(|e| {
                e.action == TagAction::LimitReached && &e.tag == name && &e.source == source
            });
            if !already_noted {
                self.note(now, name, TagAction::LimitReached, source);
            }
            return AddOutcome::LimitReached;
        }
        // Keep the display spelling of a tag the customer already has.
        let name = self
            .held
            .iter()
            .find(|t| &t.name == name)
            .map_or_else(|| name.clone(), |t| t.name.clone());
        self.held.push(CustomerTag {
            name: name.clone(),
            source: source.clone(),
            added_at: now,
        });
        if new_tag {
            self.note(now, &name, TagAction::Added, source);
        }
        AddOutcome::Added { new_tag }
    }

    /// Drops the reasons `which` selects for `name`; the tag goes when no reason is left.
    /// Returns whether the tag itself went away.
    pub fn remove_where(
        &mut self,
        name: &TagName,
        now: Timestamp,
        by: &TagSource,
        which: impl Fn(&TagSource) -> bool,
    ) -> bool {
        // History shows the spelling the customer had, not the caller's.
        let Some(held) = self
            .held
            .iter()
            .find(|t| &t.name == name)
            .map(|t| t.name.clone())
        else {
            return false;
        };
        let before = self.held.len();
        self.held.retain(|t| !(&t.name == name && which(&t.source)));
        if self.held.len() == before {
            return false;
        }
        let gone = !self.has(name);
        if gone {
            self.note(now, &held, TagAction::Removed, by);
        }
        gone
    }

    /// Drops every reason held by a rule that `keep` rejects. Returns the tags that went.
    pub fn retain_rule_sources(
        &mut self,
        now: Timestamp,
        keep: impl Fn(&TagName, &RuleId) -> bool,
    ) -> Vec<TagName> {
        let stale: Vec<(TagName, TagSource)> = self
            .held
            .iter()
            .filter(|t| match &t.source {
                TagSource::Rule { rule } => !keep(&t.name, rule),
                _ => false,
            })
            .map(|t| (t.name.clone(), t.source.clone()))
            .collect();
        let mut gone = Vec::new();
        for (name, source) in stale {
            if self.remove_where(&name, now, &source, |s| s == &source) {
                gone.push(name);
            }
        }
        gone
    }

    /// Removes everything (erasure); history keeps only that it happened.
    pub fn clear(&mut self) -> Vec<TagName> {
        let names = self.names();
        self.held.clear();
        self.history.clear();
        names
    }

    pub fn history(&self) -> impl Iterator<Item = &TagEvent> {
        self.history.iter()
    }

    fn note(&mut self, at: Timestamp, tag: &TagName, action: TagAction, source: &TagSource) {
        self.history.push_back(TagEvent {
            at,
            tag: tag.clone(),
            action,
            source: source.clone(),
        });
        while self.history.len() > HISTORY_KEPT {
            self.history.pop_front();
        }
    }

    pub fn view(&self) -> Vec<TagView> {
        self.names()
            .into_iter()
            .map(|name| {
                let sources: Vec<SourceView> = self
                    .held
                    .iter()
                    .filter(|t| t.name == name)
                    .map(|t| SourceView {
                        source: t.source.clone(),
                        added_at: t.added_at,
                    })
                    .collect();
                TagView {
                    added_at: sources.iter().map(|s| s.added_at).min().unwrap_or_default(),
                    name,
                    sources,
                }
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    Unchanged,
    Added { new_tag: bool },
    LimitReached,
}

/// A list of customers the merchant can page and export: a tag, an RFM group, or the super
/// users.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    Tag(TagName),
    Rfm(crate::rfm::RfmGroup),
    SuperUsers,
}

impl Segment {
    /// A fixed-length id for store keys: tag names can be longer than a key may be.
    pub fn key_id(&self) -> String {
        let text = match self {
            Segment::Tag(name) => format!("tag:{}", name.folded()),
            Segment::Rfm(group) => format!("rfm:{}", group.as_str()),
            Segment::SuperUsers => "super_users".to_string(),
        };
        crate::domain::ids::short_hash(&text, 12)
    }

    pub fn label(&self) -> String {
        match self {
            Segment::Tag(name) => name.to_string(),
            Segment::Rfm(group) => group.as_str().to_string(),
            Segment::SuperUsers => "super_users".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(name: &str) -> TagName {
        TagName::parse(name).unwrap()
    }

    #[test]
    fn names_are_trimmed_and_compared_ignoring_case() {
        assert_eq!(tag("  VIP "), tag("vip"));
        assert_eq!(tag("  VIP ").as_str(), "VIP");
        assert!(TagName::parse("  ").is_err());
        assert!(TagName::parse(&"x".repeat(256)).is_err());
        assert!(TagName::parse(&"茶".repeat(255)).is_ok());
    }

    #[test]
    fn tag_lists_stored_by_the_first_release_still_read() {
        let stored = r#"[{"name":"card","source":{"kind":"channel","channel":"ch_abcdefghjkmn"},
            "added_at":"2026-11-20T00:00:00Z"}]"#;
        let set: TagSet = serde_json::from_str(stored).unwrap();
        assert!(set.has(&tag("Card")));
    }

    #[test]
    fn a_tag_held_for_two_reasons_stays_until_both_go() {
        let now = Timestamp::UNIX_EPOCH;
        let manual = TagSource::Manual {
            key: "owner".into(),
            by: None,
        };
        let rule = TagSource::Rule {
            rule: RuleId::random(),
        };
        let mut set = TagSet::default();
        set.add(&tag("VIP"), &manual, now);
        set.add(&tag("vip"), &rule, now);
        assert_eq!(set.names().len(), 1);
        assert!(!set.remove_where(&tag("VIP"), now, &manual, |s| !s.is_rule()));
        assert!(set.has(&tag("VIP")));
        assert!(set.remove_where(&tag("VIP"), now, &rule, |_| true));
        assert!(!set.has(&tag("VIP")));
    }
}
