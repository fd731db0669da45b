//! The notice a sign-up form shows before it collects anything (PIPL Art. 17: who collects,
//! for what, how long it is kept, how to withdraw, the privacy policy), and the separate
//! marketing consent beside it. The wording is made from the shop's branding and the
//! channel's fields, so the form and the record of what was accepted never differ: the form
//! carries the version (edition and digest of the text), and a submission naming another
//! version is refused rather than recorded against words the person never saw.

use crate::channels::page::{FieldRule, FormFields};
use crate::domain::ids::short_hash;
use crate::shops::Shop;

/// The notice's edition: changes when its wording is rewritten.
const EDITION: &str = "2026-12-01";

/// The notice and the marketing consent sentence for one shop and form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub version: String,
    /// Chinese, then English.
    pub zh: String,
    pub en: String,
    pub marketing_zh: String,
    pub marketing_en: String,
    pub privacy_policy_url: Option<String>,
}

impl Notice {
    pub fn for_form(shop: &Shop, fields: &FormFields) -> Self {
        let who = shop.branding.display_name.as_deref().unwrap_or(&shop.name);
        let months = shop.branding.retention_months();
        let asked = |rule: FieldRule| rule != FieldRule::Off;
        let (mut zh_fields, mut en_fields) = (Vec::new(), Vec::new());
        for (rule, zh, en) in [
            (fields.name, "称呼", "name"),
            (fields.phone, "手机号", "phone number"),
            (fields.email, "邮箱", "email address"),
        ] {
            if asked(rule) {
                zh_fields.push(zh);
                en_fields.push(en);
            }
        }
        let zh = format!(
            "{who} 收集您填写的{}，用于向您提供本次优惠、识别您的订单，并在您同意时发送优惠和复购提醒。\
             信息保存至您最后一次与我们互动后 {months} 个月，之后删除。\
             您可随时通过每条消息中的退订链接撤回同意，或联系我们删除您的信息。",
            zh_fields.join("、")
        );
        let en = format!(
            "{who} collects the {} you enter to give you this offer, recognise your orders and, \
             if you agree, send you offers and repurchase reminders. We keep them for {months} \
             months after your last contact with us, then delete them. You can withdraw at any \
             time with the unsubscribe link in every message, or ask us to delete your details.",
            en_fields.join(", ")
        );
        let marketing_zh =
            format!("我同意 {who} 通过短信或消息向我发送优惠和复购提醒（可随时退订）。");
        let marketing_en = format!(
            "I agree that {who} may send me offers and repurchase reminders by SMS or message (unsubscribe any time)."
        );
        let privacy_policy_url = shop
            .branding
            .privacy_policy_url
            .as_ref()
            .map(|u| u.as_str().to_string());
        let shown = [&zh, &en, &marketing_zh, &marketing_en]
            .map(|s| s.as_str())
            .join("\n");
        let digest = short_hash(
            &format!(
                "{shown}\n{}",
                privacy_policy_url.as_deref().unwrap_or_default()
            ),
            6,
        );
        Self {
            version: format!("{EDITION}.{digest}"),
            zh,
            en,
            marketing_zh,
            marketing_en,
            privacy_policy_url,
        }
    }

    /// The notice as recorded: Chinese, then English, then the privacy policy's address.
    pub fn text(&self) -> String {
        let policy = self
            .privacy_policy_url
            .as_deref()
            .map(|url| format!("\n隐私政策 · Privacy policy: {url}"))
            .unwrap_or_default();
        format!("{}\n{}{policy}", self.zh, self.en)
    }

    pub fn marketing_text(&self) -> String {
        format!("{}\n{}", self.marketing_zh, self.marketing_en)
    }
}
