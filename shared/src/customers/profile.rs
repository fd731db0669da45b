//! What platforms and leads say about a person, folded into their customer record.

use jiff::Timestamp;

use crate::domain::Platform;
use crate::tags::{TagName, TagSource};

use super::{Consent, Customer, ProfilePatch, PLATFORM_IDS_KEPT};

impl Customer {
    /// Merges what an event says about the person. Erased customers take no personal data.
    ///
    /// `vouched`: the caller established that the patch speaks for this person (a lead that
    /// proved the matched identifier); otherwise the patch's own platform account must be one
    /// the customer already has, or the record must know nothing yet.
    pub fn apply_profile(
        &mut self,
        patch: &ProfilePatch,
        source: &str,
        hashes: &[String],
        vouched: bool,
    ) -> bool {
        if self.erased_at.is_some() {
            return false;
        }
        let before = self.clone();
        let newer = match (patch.observed_at, self.profile_observed_at) {
            (Some(new), Some(old)) => new >= old,
            _ => true,
        };
        // Who may replace what is known: the platform account the customer already has (the
        // platform vouches for its owner), or anyone while nothing is known yet. A guest
        // checkout or a new account that merely matched a phone or email fills gaps only:
        // anyone can type someone else's number at checkout.
        let knows_nothing =
            before.platform_ids.is_empty() && before.phone.is_none() && before.email.is_none();
        let own_account = patch.platform_customer.as_ref().is_some_and(|pid| {
            before.platform_ids.contains(pid) && !before.unvouched_platform_ids.contains(pid)
        });
        let speaks_for_them = vouched || own_account || knows_nothing;
        if newer && speaks_for_them {
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
            // A withdrawal recorded after this event was observed stands: a re-posted older
            // body does not undo an unsubscribe.
            let withdrawn_since = self.consent.marketing == Some(false)
                && match (self.consent.updated_at, patch.observed_at) {
                    (Some(withdrawn), Some(observed)) => withdrawn > observed,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
            if let Some(marketing) = patch.accepts_marketing {
                if !(marketing && withdrawn_since) {
                    self.consent = Consent {
                        marketing: Some(marketing),
                        source: Some(source.to_string()),
                        updated_at: patch.observed_at.or(self.consent.updated_at),
                    };
                }
            }
            if let (Some(tags), Some(pid)) = (&patch.platform_tags, &patch.platform_customer) {
                self.import_platform_tags(pid.platform, tags, patch.observed_at);
            }
        } else {
            // An older event, or one that does not speak for this person, may still fill a gap.
            if self.phone.is_none() {
                self.phone = patch.phone.clone();
            }
            if self.email.is_none() {
                self.email = patch.email.clone();
            }
            // Names and consent only from the newest word.
            if newer {
                if self.first_name.is_none() {
                    self.first_name = patch.first_name.clone();
                }
                if self.last_name.is_none() {
                    self.last_name = patch.last_name.clone();
                }
                if self.consent.marketing.is_none() {
                    if let Some(marketing) = patch.accepts_marketing {
                        self.consent = Consent {
                            marketing: Some(marketing),
                            source: Some(source.to_string()),
                            updated_at: patch.observed_at,
                        };
                    }
                }
            }
        }
        if let Some(pid) = &patch.platform_customer {
            if !self.platform_ids.contains(pid) {
                self.platform_ids.push(pid.clone());
                if self.platform_ids.len() > PLATFORM_IDS_KEPT {
                    self.platform_ids.remove(0);
                }
                if !speaks_for_them {
                    self.unvouched_platform_ids.push(pid.clone());
                }
                let kept = &self.platform_ids;
                self.unvouched_platform_ids.retain(|p| kept.contains(p));
            }
        }
        if self.phone != before.phone {
            // The proof was of the old number.
            self.phone_verified_at = None;
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
}
