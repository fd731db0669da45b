//! Leads: a person leaving a phone, email or WeCom id (with marketing consent) through a
//! channel code becomes — or joins — a customer, tagged by the channel, attributed to the
//! first channel that captured them, and counted once per channel however often they submit.
//! What a lead is and how it is counted lives here; the whole capture, with the customer
//! write and the welcome coupon, is `flows::lead_captured`.

use schemars::JsonSchema;
use std::collections::VecDeque;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::channels::notice::Notice;
use crate::channels::page::{ChannelPage, FieldRule};
use crate::channels::{Channel, ScanTarget};
use crate::customers::{
    Capture, Claim, Consent, Customer, NoticeAccepted, PlatformCustomerId, ProfilePatch, Standing,
};
use crate::domain::ids::ExternalId;
use crate::domain::{
    ChannelId, CouponCode, CustomerId, EmailAddress, PhoneNumber, Platform, ShopId,
};
use crate::error::{Error, ErrorCode};
use crate::keys;
use crate::pii::Identity;
use crate::rate_limit;
use crate::shops::Shop;
use crate::store::{create_json, get_json, update_json, Change, Store};
use crate::tags::{TagName, TagSource};
use crate::wecom::ContactAdded;

/// Lead submissions per client address and code per minute before 429.
pub const RATE_LIMIT_PER_MINUTE: i64 = 10;
/// Lead ids a channel-day counter remembers to count a retried submission once.
const COUNTED_KEPT: usize = 256;

/// A lead as submitted (JSON or an HTML form), before validation.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadSubmission {
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// Without `notice_version`: marketing consent, required (integrators' own forms).
    /// Forms send "on"/"yes"/"true".
    #[serde(default, deserialize_with = "consent_flag")]
    pub consent: bool,
    /// The version of the notice the person was shown (the hosted form sends it). With it,
    /// `notice_accepted` is required and `marketing` is a separate, optional consent.
    #[serde(default)]
    pub notice_version: Option<String>,
    #[serde(default, deserialize_with = "consent_flag")]
    pub notice_accepted: bool,
    #[serde(default, deserialize_with = "consent_flag")]
    pub marketing: bool,
    /// The 6-digit code sent to `phone`, on channels that verify numbers
    /// (`POST /q/{code}/verify`).
    #[serde(default)]
    pub phone_code: Option<String>,
    /// The hosted form's "send the code (again)" button.
    #[serde(skip)]
    pub send_code: bool,
}

/// A ticked box as forms send it.
fn ticked(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "on" | "yes" | "true" | "1"
    )
}

fn consent_flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize, JsonSchema)]
    #[serde(untagged)]
    enum Raw {
        Flag(bool),
        Text(String),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::Flag(flag) => flag,
        Raw::Text(text) => ticked(&text),
    })
}

impl LeadSubmission {
    /// From `application/x-www-form-urlencoded`; unknown fields are refused as in JSON.
    pub fn from_form(body: &[u8]) -> Result<Self, Error> {
        let mut lead = LeadSubmission::default();
        for (key, value) in form_urlencoded::parse(body) {
            let value = value.into_owned();
            let filled = Some(value.clone()).filter(|v| !v.trim().is_empty());
            match key.as_ref() {
                "phone" => lead.phone = filled,
                "email" => lead.email = filled,
                "name" => lead.name = filled,
                "consent" => lead.consent = ticked(&value),
                "notice_version" => lead.notice_version = filled,
                "notice_accepted" => lead.notice_accepted = ticked(&value),
                "marketing" => lead.marketing = ticked(&value),
                "phone_code" => lead.phone_code = filled,
                "send_code" => lead.send_code = ticked(&value),
                other => return Err(Error::invalid(format!("unknown field `{other}`"))),
            }
        }
        Ok(lead)
    }

    /// Validates into the profile facts a lead through `channel` contributes (no store
    /// access).
    pub fn validate(
        self,
        shop: &Shop,
        channel: &Channel,
        now: Timestamp,
    ) -> Result<ValidLead, Error> {
        let (marketing, notice) = self.agreement(shop, channel, now)?;
        self.check_fields(&channel.page)?;
        self.into_patch(shop, marketing, now)
            .map(|patch| ValidLead {
                patch,
                attributes: Vec::new(),
                notice,
                phone_verified: false,
                platform_signed: false,
            })
    }

    /// What the person agreed to. With the hosted form's notice: the notice (required) and
    /// marketing (a separate, optional box). Without (integrators' own forms, as before):
    /// marketing consent, required.
    fn agreement(
        &self,
        shop: &Shop,
        channel: &Channel,
        now: Timestamp,
    ) -> Result<(bool, Option<NoticeAccepted>), Error> {
        let Some(version) = &self.notice_version else {
            if !self.consent {
                return Err(Error::invalid_as(
                    ErrorCode::ConsentRequired,
                    "marketing consent is required to sign up",
                ));
            }
            return Ok((true, None));
        };
        let notice = Notice::for_form(shop, &channel.page.fields);
        if *version != notice.version {
            return Err(Error::invalid_as(
                ErrorCode::NoticeChanged,
                "the notice changed after this form was opened; please reload the form",
            ));
        }
        if !self.notice_accepted {
            return Err(Error::invalid_as(
                ErrorCode::ConsentRequired,
                "please read and accept the notice to sign up",
            ));
        }
        let marketing = self.marketing || self.consent;
        Ok((
            marketing,
            Some(NoticeAccepted {
                version: notice.version.clone(),
                notice: notice.text(),
                marketing_consent: marketing.then(|| notice.marketing_text()),
                channel: channel.id.clone(),
                at: now,
            }),
        ))
    }

    /// The fields the channel's page requires are there, and none it does not ask for. A
    /// channel that verifies numbers requires the phone: every lead there proves one.
    fn check_fields(&self, page: &ChannelPage) -> Result<(), Error> {
        let fields = &page.fields;
        let phone = if page.verify_phone {
            FieldRule::Required
        } else {
            fields.phone
        };
        for (name, rule, value) in [
            ("name", fields.name, &self.name),
            ("phone", phone, &self.phone),
            ("email", fields.email, &self.email),
        ] {
            let given = value.as_deref().is_some_and(|v| !v.trim().is_empty());
            match rule {
                FieldRule::Required if !given => {
                    return Err(Error::invalid(format!("{name} is required")))
                }
                FieldRule::Off if given => {
                    return Err(Error::invalid(format!("this form does not ask for {name}")))
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn into_patch(
        self,
        shop: &Shop,
        marketing: bool,
        now: Timestamp,
    ) -> Result<ProfilePatch, Error> {
        let phone = self
            .phone
            .map(|p| PhoneNumber::parse(&p, &shop.default_calling_code).map_err(Error::invalid))
            .transpose()?;
        let email = self
            .email
            .map(|e| EmailAddress::parse(&e).map_err(Error::invalid))
            .transpose()?;
        if phone.is_none() && email.is_none() {
            return Err(Error::invalid("give at least one of phone or email"));
        }
        let name = self
            .name
            .map(|n| n.trim().chars().take(100).collect::<String>())
            .filter(|n| !n.is_empty());
        Ok(ProfilePatch {
            platform_customer: None,
            phone,
            email,
            first_name: name,
            last_name: None,
            // An unticked box states nothing: consent given before stays until withdrawn.
            accepts_marketing: marketing.then_some(true),
            observed_at: Some(now),
            platform_tags: None,
        })
    }
}

/// A lead that passed validation.
pub struct ValidLead {
    pub patch: ProfilePatch,
    attributes: Vec<(String, String)>,
    notice: Option<NoticeAccepted>,
    phone_verified: bool,
    /// The platform identity came from the platform's own signed callback (WeCom).
    platform_signed: bool,
}

impl ValidLead {
    /// The person proved the lead's phone number with a code sent to it.
    pub fn mark_phone_verified(&mut self) {
        self.phone_verified = self.patch.phone.is_some();
    }

    pub fn phone_verified(&self) -> bool {
        self.phone_verified
    }

    /// The identifiers the lead claims, and which of them the person proved.
    pub fn claims(&self) -> Vec<Claim> {
        let mut claims = Vec::new();
        if let Some(p) = &self.patch.platform_customer {
            claims.push(Claim {
                identity: Identity::PlatformCustomer(p.platform, p.id.clone()),
                proven: self.platform_signed,
            });
        }
        if let Some(phone) = &self.patch.phone {
            claims.push(Claim {
                identity: Identity::Phone(phone.clone()),
                proven: self.phone_verified,
            });
        }
        if let Some(email) = &self.patch.email {
            claims.push(Claim {
                identity: Identity::Email(email.clone()),
                proven: false,
            });
        }
        claims
    }

    /// Folds what the lead says into the customer, as far as `standing` allows; `source` is
    /// recorded as the consent source. Whether anything changed.
    ///
    /// New or proven: the person's details, consent, notice and verified number. Unproven
    /// (someone who may only know the number or email): the notice they accepted, and
    /// marketing consent only where none was ever stated — never contact details, name,
    /// verified marks, or a withdrawn consent. Identifiers that belong to another customer
    /// (`foreign`) are never written.
    pub fn apply(
        &self,
        customer: &mut Customer,
        standing: Standing,
        foreign: &[Identity],
        source: &str,
        owned_hashes: &[String],
    ) -> bool {
        if customer.erased_at.is_some() {
            return false;
        }
        if standing == Standing::Unproven {
            return self.apply_unproven(customer, source);
        }
        let mut patch = self.patch.clone();
        for identity in foreign {
            match identity {
                Identity::Phone(_) => patch.phone = None,
                Identity::Email(_) => patch.email = None,
                Identity::PlatformCustomer(..) => patch.platform_customer = None,
            }
        }
        // New or proven: the lead speaks for the person.
        let mut changed = customer.apply_profile(&patch, source, owned_hashes, true);
        for (key, value) in &self.attributes {
            if customer.attributes.get(key) != Some(value) {
                customer.attributes.insert(key.clone(), value.clone());
                changed = true;
            }
        }
        if let Some(notice) = &self.notice {
            customer.notice = Some(notice.clone());
            changed = true;
        }
        // Only while the record holds the number that was proved (a newer one may have won).
        if self.phone_verified && patch.phone.is_some() && customer.phone == patch.phone {
            customer.phone_verified_at = patch.observed_at;
            changed = true;
        }
        changed
    }

    fn apply_unproven(&self, customer: &mut Customer, source: &str) -> bool {
        let mut changed = false;
        let consents = self.patch.accepts_marketing == Some(true);
        if consents && customer.consent.marketing.is_none() {
            customer.consent = Consent {
                marketing: Some(true),
                source: Some(source.to_string()),
                updated_at: self.patch.observed_at,
            };
            changed = true;
        }
        if let Some(notice) = &self.notice {
            let mut notice = notice.clone();
            if customer.consent.marketing != Some(true) {
                // The box was ticked, but a withdrawal stands: no consent sentence recorded.
                notice.marketing_consent = None;
            }
            customer.notice = Some(notice);
            changed = true;
        }
        changed
    }

    /// A person who added a staff member on WeCom: identified by their external user id,
    /// which WeCom's signed callback proves. Adding a contact is not consent to marketing, so
    /// consent is left as it was.
    pub fn wecom_contact(added: &ContactAdded, now: Timestamp) -> Result<Self, Error> {
        let id = ExternalId::parse(&added.external_user_id).map_err(Error::invalid)?;
        Ok(Self {
            patch: ProfilePatch {
                platform_customer: Some(PlatformCustomerId {
                    platform: Platform::Wecom,
                    id,
                }),
                observed_at: Some(now),
                ..ProfilePatch::default()
            },
            attributes: vec![("wecom_staff".to_string(), added.staff_user_id.clone())],
            notice: None,
            phone_verified: false,
            platform_signed: true,
        })
    }
}

/// Where a lead's welcome coupon went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CouponPlace {
    /// In this answer (`welcome_coupon`): the person is new, or proved who they are.
    Shown,
    /// Sent through the shop's delivery to the contact details on record.
    Sent,
    /// Issued and kept on the customer's record; not shown to an unproven claimant. The shop
    /// gives it to them (their console shows it on the customer's profile).
    Kept,
}

/// What recording a lead did, inside Siyu.
#[derive(Debug, Clone)]
pub struct LeadCaptured {
    pub customer: CustomerId,
    pub standing: Standing,
    pub new_lead: bool,
    pub coupon: Option<(CouponCode, CouponPlace)>,
    pub phone_verified: bool,
}

/// What a lead's answer says: everything about the person only when they are new or proved
/// who they are; to an unproven claimant that matched someone, only that the lead was
/// recorded and where the coupon went.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LeadOutcome {
    /// Always true: the lead was recorded.
    pub recorded: bool,
    /// The details matched someone already known, and nothing proved the submitter is them:
    /// nothing of that customer is shown or changed.
    pub returning: bool,
    /// The customer (left out for a returning submitter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<CustomerId>,
    /// Whether this was their first sign-up through this channel (left out for a returning
    /// submitter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_lead: Option<bool>,
    /// The channel's welcome coupon, when it is shown (`coupon` = `shown`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub welcome_coupon: Option<CouponCode>,
    /// Where the welcome coupon went, if the channel gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coupon: Option<CouponPlace>,
    /// The phone number was proved with a code (channels with `page.verify_phone`).
    pub phone_verified: bool,
}

impl LeadCaptured {
    /// The answer a submitter may see.
    pub fn outcome(&self) -> LeadOutcome {
        let trusted = self.standing != Standing::Unproven;
        LeadOutcome {
            recorded: true,
            returning: !trusted,
            customer_id: trusted.then(|| self.customer.clone()),
            new_lead: trusted.then_some(self.new_lead),
            welcome_coupon: self
                .coupon
                .as_ref()
                .filter(|(_, place)| *place == CouponPlace::Shown)
                .map(|(code, _)| code.clone()),
            coupon: self.coupon.as_ref().map(|(_, place)| *place),
            phone_verified: self.phone_verified,
        }
    }

    /// 201 for a new lead of a person new or proven; 200 otherwise (a returning submitter
    /// learns nothing from the status either).
    pub fn status(&self) -> u16 {
        if self.new_lead && self.standing != Standing::Unproven {
            201
        } else {
            200
        }
    }
}

/// A channel's leads on one day: a count, and the recent lead ids so that a retried
/// submission is counted once.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
struct LeadDay {
    count: i64,
    counted: VecDeque<CustomerId>,
}

/// Counts submissions per client address (kept only as a keyed hash) and code per clock
/// minute; whether this one is within the limit.
pub fn within_rate_limit(
    store: &dyn Store,
    pepper: &[u8],
    shop: &ShopId,
    code: &str,
    client: &str,
    now: Timestamp,
) -> Result<bool, Error> {
    let key = keys::rate_limit(shop, code, &rate_limit::client_hash(pepper, client));
    rate_limit::admit(
        store,
        shop,
        &key,
        rate_limit::Window::minute(now),
        RATE_LIMIT_PER_MINUTE,
    )
}

/// Marks what capturing them through `channel` means for the customer: the first channel
/// that captured them is kept, the channel's tags are applied. Whether anything changed.
pub fn apply_capture(customer: &mut Customer, channel: &Channel, now: Timestamp) -> bool {
    let source = TagSource::Channel {
        channel: channel.id.clone(),
    };
    // Channel tags were checked when the channel was saved.
    let tags: Vec<TagName> = channel
        .tags
        .iter()
        .filter_map(|t| TagName::parse(t).ok())
        .collect();
    let mut changed = false;
    if customer.first_capture.is_none() {
        customer.first_capture = Some(Capture {
            channel: channel.id.clone(),
            kind: Some(channel.kind),
            at: now,
        });
        changed = true;
    }
    changed | customer.add_tags(&tags, &source, now)
}

/// Counts the customer as a lead of the channel, once per person and channel however often
/// they submit; returns whether they were new to it. The day is counted first (deduplicated
/// by id inside the day record), then the person marked: a crash between the two is
/// finished by the retry without counting twice.
pub fn count_lead(
    store: &dyn Store,
    shop: &Shop,
    channel: &Channel,
    customer_id: &CustomerId,
    now: Timestamp,
) -> Result<bool, Error> {
    let marker = keys::channel_lead(&shop.id, &channel.id, customer_id);
    if get_json::<Timestamp>(store, &marker)?.is_some() {
        return Ok(false);
    }
    let day = now.to_zoned(shop.zone()).date();
    update_json(
        store,
        &keys::channel_leads_day(&shop.id, &channel.id, day),
        |current: Option<LeadDay>| {
            let mut record = current.unwrap_or_default();
            if record.counted.contains(customer_id) {
                return Ok::<_, Error>(Change::Keep(()));
            }
            record.count += 1;
            record.counted.push_back(customer_id.clone());
            while record.counted.len() > COUNTED_KEPT {
                record.counted.pop_front();
            }
            Ok(Change::Write(record, ()))
        },
    )?;
    let (_, new_lead) = create_json(store, &marker, &now)?;
    Ok(new_lead)
}

/// Leads counted for a channel on one day.
pub fn leads_on(
    store: &dyn Store,
    shop: &crate::domain::ShopId,
    channel: &ChannelId,
    day: jiff::civil::Date,
) -> Result<i64, Error> {
    Ok(
        get_json::<LeadDay>(store, &keys::channel_leads_day(shop, channel, day))?
            .map_or(0, |d| d.count),
    )
}

/// The channel a WeCom `State` names: the channel's code, optionally prefixed `siyu_`.
pub fn channel_for_state(
    store: &dyn Store,
    shop: &Shop,
    state: Option<&str>,
) -> Result<Option<Channel>, Error> {
    let Some(state) = state else {
        return Ok(None);
    };
    let code = state.strip_prefix("siyu_").unwrap_or(state);
    Ok(channel_for_code(store, code)?
        .filter(|(target, _)| target.shop == shop.id && target.active)
        .map(|(_, channel)| channel))
}

/// Looks up the live channel behind a public code.
pub fn channel_for_code(
    store: &dyn Store,
    code: &str,
) -> Result<Option<(ScanTarget, Channel)>, Error> {
    let Some(target) = crate::channels::scan_target(store, code)? else {
        return Ok(None);
    };
    let channel = crate::channels::load(store, &target.shop, &target.channel)?;
    Ok(Some((target, channel)))
}
