//! The pages a shopper sees after a scan: the hosted sign-up form (`GET /q/{code}/form`) and
//! its submission (`POST /q/{code}/lead`, also taken as JSON from an integrator's own form).
//! What a lead is and how it is counted once is `channels::leads`'; its effects are
//! `flows::lead_captured`'s.

use jiff::Timestamp;

use super::phone_code;
use super::shopper_page::{escape, page};
use crate::channels::leads::{self, CouponPlace, LeadCaptured, LeadSubmission};
use crate::channels::notice::Notice;
use crate::channels::page::{FieldRule, NextStep};
use crate::channels::verification::{self, PhoneCheck};
use crate::channels::Channel;
use crate::coupons::{self, campaigns::Discount};
use crate::domain::money::format_minor;
use crate::domain::{Currency, WebUrl};
use crate::error::{Error, ErrorCode};
use crate::flows::lead_captured::{self, CouponDelivery};
use crate::shops::{self, Shop};
use crate::web::ApiError;
use crate::web::{
    header, json_body, json_response, public_origin, Env, Request, RequestLog, Response,
};

/// `POST /q/{code}/lead`, from the hosted form (answered with a page, errors too) or from
/// an integrator's own form (JSON).
pub(super) fn submit(
    req: &Request,
    env: &Env,
    log: &mut RequestLog,
    code: &str,
) -> Result<Response, ApiError> {
    let from_form = header(req, "content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    match submit_lead(req, env, log, code, from_form) {
        // People filling in the hosted form see a page, not JSON, whatever went wrong.
        Err(err) if from_form => Ok(not_sent(env, code, &err)),
        other => other,
    }
}

/// The live channel behind a public code and its shop.
pub(super) fn open_channel(
    env: &Env,
    log: &mut RequestLog,
    code: &str,
) -> Result<(Shop, Channel), ApiError> {
    let (target, channel) = leads::channel_for_code(env.store, code)?
        .ok_or_else(|| ApiError::from(Error::not_found("code")))?;
    if !target.active {
        return Err(ApiError::new(
            410,
            ErrorCode::Inactive,
            "this code is no longer active",
        ));
    }
    log.shop = Some(target.shop.to_string());
    Ok((shops::load_shop(env.store, &target.shop)?, channel))
}

/// Validate, rate-limit, check the phone code where the channel asks for one, record.
fn submit_lead(
    req: &Request,
    env: &Env,
    log: &mut RequestLog,
    code: &str,
    from_form: bool,
) -> Result<Response, ApiError> {
    let (shop, channel) = open_channel(env, log, code)?;
    let submission = if from_form {
        LeadSubmission::from_form(req.body())?
    } else {
        json_body(req)?
    };
    // The hosted form's second step carries what the first one said.
    let answers = submission.clone();
    let phone_code = submission
        .phone_code
        .clone()
        .filter(|_| !submission.send_code);
    let mut lead = submission.validate(&shop, &channel, env.now)?;
    let pepper = env.secrets.pepper()?;
    let client = env.client_bucket(req);
    if !leads::within_rate_limit(env.store, pepper, &shop.id, code, &client, env.now)? {
        return Err(ApiError::new(
            429,
            ErrorCode::RateLimited,
            "too many sign-ups from this address; try again in a minute",
        ));
    }
    let checked = verification::check_lead(
        env.store,
        pepper,
        &shop.id,
        &channel,
        &mut lead,
        phone_code.as_deref(),
        env.now,
    );
    match checked {
        Ok(PhoneCheck::CodeNeeded) if from_form => {
            let step = phone_code::CodeStep::new(&shop, &channel, code, &answers, &lead);
            return Ok(step.send_and_ask(env, pepper, &client));
        }
        Ok(PhoneCheck::CodeNeeded) => {
            return Err(ApiError::from(Error::invalid_as(
                ErrorCode::PhoneUnverified,
                "this channel verifies phone numbers: ask for a code \
                 (POST /q/{code}/verify) and send it as phone_code",
            )))
        }
        Err(err) if from_form && phone_code::is_about_the_code(&err) => {
            let step = phone_code::CodeStep::new(&shop, &channel, code, &answers, &lead);
            return Ok(step.ask_again(err));
        }
        checked => checked?,
    };
    let origin = public_origin(req).ok();
    let delivery = origin.as_deref().map(|origin| CouponDelivery {
        courier: env.courier(),
        pepper,
        origin,
    });
    let captured = lead_captured::capture(
        env.store,
        pepper,
        &shop,
        &channel,
        lead,
        delivery.as_ref(),
        env.now,
    )?;
    if from_form {
        return thank_you(env, &shop, &channel, &captured);
    }
    Ok(json_response(captured.status(), &captured.outcome()))
}

/// `GET /q/{code}/form`: the channel's sign-up page in the shop's colours, with the notice
/// before collection; works without JavaScript.
pub(super) fn form(env: &Env, code: &str) -> Result<Response, ApiError> {
    let Some((target, channel)) = leads::channel_for_code(env.store, code)? else {
        return Ok(super::scan::unknown_code_page());
    };
    if !target.active {
        return Ok(super::scan::retired_code_page());
    }
    let shop = shops::load_shop(env.store, &target.shop)?;
    // The channel's name is the merchant's own label ("包裹卡"): never shown to shoppers.
    let display = shop.branding.display_name.as_deref().unwrap_or(&shop.name);
    let title = channel
        .page
        .headline
        .clone()
        .unwrap_or_else(|| format!("欢迎加入 {display} · Join {display}"));
    Ok(page(200, &shop, &title, &form_body(&shop, &channel, code)))
}

fn form_body(shop: &Shop, channel: &Channel, code: &str) -> String {
    let display = shop.branding.display_name.as_deref().unwrap_or(&shop.name);
    let settings = &channel.page;
    let headline = match &settings.headline {
        Some(headline) => escape(headline),
        None => format!(
            "欢迎加入 {name}<span class=\"en\" lang=\"en\">Join {name}</span>",
            name = escape(display)
        ),
    };
    let benefit = settings
        .benefit
        .as_deref()
        .map(|b| format!("<p class=\"benefit\">{}</p>", escape(b)))
        .unwrap_or_default();
    let mut fields = String::new();
    for (name, rule, zh, en, kind, autocomplete) in [
        ("name", settings.fields.name, "称呼", "Name", "text", "name"),
        (
            "phone",
            settings.fields.phone,
            "手机号",
            "Mobile number",
            "tel",
            "tel",
        ),
        (
            "email",
            settings.fields.email,
            "邮箱",
            "Email",
            "email",
            "email",
        ),
    ] {
        if rule == FieldRule::Off {
            continue;
        }
        let (required, mark) = match rule {
            FieldRule::Required => (" required", " *"),
            _ => ("", ""),
        };
        fields.push_str(&format!(
            "<label for=\"{name}\">{zh} · <span lang=\"en\">{en}</span>{mark}</label>\
             <input id=\"{name}\" name=\"{name}\" type=\"{kind}\" autocomplete=\"{autocomplete}\"{required}>"
        ));
    }
    if settings.verify_phone {
        fields.push_str(&code_row(code));
    }
    let notice = Notice::for_form(shop, &settings.fields);
    let policy = notice
        .privacy_policy_url
        .as_deref()
        .map(|url| {
            format!(
                "<p><a href=\"{}\" rel=\"noopener\">隐私政策 · Privacy policy</a></p>",
                escape(url)
            )
        })
        .unwrap_or_default();
    let button = settings
        .button
        .as_deref()
        .map(escape)
        .unwrap_or_else(|| "领取 · Sign up".to_string());
    format!(
        "<h1>{headline}</h1>{benefit}\
         <form method=\"post\" action=\"/q/{code}/lead\">\
         <input type=\"hidden\" name=\"notice_version\" value=\"{version}\">{fields}\
         <section class=\"notice\" aria-labelledby=\"notice-title\">\
         <h2 id=\"notice-title\">个人信息处理说明 · <span lang=\"en\">How we use your details</span></h2>\
         <p>{zh}</p><p lang=\"en\">{en}</p>{policy}</section>\
         <div class=\"check\"><input id=\"notice_accepted\" name=\"notice_accepted\" type=\"checkbox\" required>\
         <label for=\"notice_accepted\">我已阅读并同意以上说明 · <span lang=\"en\">I have read and accept the above</span></label></div>\
         <div class=\"check\"><input id=\"marketing\" name=\"marketing\" type=\"checkbox\">\
         <label for=\"marketing\">{marketing_zh}<span class=\"en\" lang=\"en\">{marketing_en}</span></label></div>\
         <button type=\"submit\">{button}</button></form>",
        code = escape(code),
        version = escape(&notice.version),
        zh = escape(&notice.zh),
        en = escape(&notice.en),
        marketing_zh = escape(&notice.marketing_zh),
        marketing_en = escape(&notice.marketing_en),
    )
}

/// On channels that verify numbers: without JavaScript a note (the code comes after the
/// first submission, on a second page); with it, a button that sends the code at once and
/// the field for it (shown by the page's script).
fn code_row(code: &str) -> String {
    format!(
        "<p id=\"verify-note\" class=\"hint\">提交后我们会向您的手机发送验证码。\
         <span class=\"en\" lang=\"en\">We will text you a code after you submit.</span></p>\
         <div id=\"code-row\" hidden>\
         <button type=\"button\" id=\"send-code\" class=\"button secondary\" data-url=\"/q/{code}/verify\" \
         data-again=\"重新发送 · Send again\" data-failed=\"发送失败，请稍后再试 · Could not send the code; try again later\" \
         data-limited=\"请求过于频繁，请稍后再试 · Too many codes asked for; try again later\" \
         data-sent=\"验证码已发送至 · Code sent to\">发送验证码 · Send code</button>\
         <p id=\"code-status\" role=\"status\" aria-live=\"polite\"></p>\
         <label for=\"phone_code\">验证码 · <span lang=\"en\">Code</span></label>\
         <input id=\"phone_code\" name=\"phone_code\" type=\"text\" inputmode=\"numeric\" \
         autocomplete=\"one-time-code\" pattern=\"[0-9]{{6}}\" maxlength=\"6\"></div>",
        code = escape(code)
    )
}

/// The thank-you page: the welcome coupon (code, value, validity, how to use it) and where
/// to go next. A returning person who proved nothing is told where their coupon went, never
/// shown it: they could be anyone who knows the number or email.
fn thank_you(
    env: &Env,
    shop: &Shop,
    channel: &Channel,
    captured: &LeadCaptured,
) -> Result<Response, ApiError> {
    let outcome = captured.outcome();
    let display = shop.branding.display_name.as_deref().unwrap_or(&shop.name);
    let mut body = String::from(
        "<h1>谢谢！<span class=\"en\" lang=\"en\">Thank you!</span></h1>\
         <p>我们已收到您的信息。<span class=\"en\" lang=\"en\">We have received your details.</span></p>",
    );
    if outcome.phone_verified {
        body.push_str(
            "<p class=\"verified\">✓ 手机号已验证<span class=\"en\" lang=\"en\">Your number is verified</span></p>",
        );
    }
    body.push_str(&returning_note(outcome.returning, outcome.coupon));
    if let Some(code) = &outcome.welcome_coupon {
        let coupon = coupons::load_coupon(env.store, &shop.id, code)?;
        let campaign = match &coupon {
            Some(c) => Some(coupons::campaigns::load(env.store, &shop.id, &c.campaign)?),
            None => None,
        };
        let value = campaign
            .as_ref()
            .map(|c| offer_text(&c.discount, c.min_order_minor, shop.currency))
            .unwrap_or_default();
        let until = coupon
            .and_then(|c| c.valid_until)
            .map(|at| valid_until_text(at, shop))
            .unwrap_or_default();
        // Coupon codes are letters, digits, - and _: safe in HTML and attributes as they are.
        body.push_str(&format!(
            "<section class=\"coupon\" aria-labelledby=\"coupon-title\">\
             <h2 id=\"coupon-title\">您的欢迎优惠券 · <span lang=\"en\">Your welcome coupon</span></h2>\
             <p>券码 · <span lang=\"en\">Code</span>: <strong>{code}</strong></p>{value}{until}\
             <button type=\"button\" data-copy=\"{code}\" data-done=\"已复制 · Copied\" hidden>复制券码 · Copy code</button>\
             <p>在 {name} 结账时输入此券码即可使用。<span class=\"en\" lang=\"en\">Enter the code at checkout in {name}'s shop.</span></p>\
             </section>",
            name = escape(display),
        ));
    }
    body.push_str(&next_step_html(&channel.page.next_step));
    Ok(page(200, shop, "谢谢 · Thank you", &body))
}

/// For a returning submitter: that their details were already known, and where the coupon
/// went.
fn returning_note(returning: bool, coupon: Option<CouponPlace>) -> String {
    if !returning {
        return String::new();
    }
    let coupon = match coupon {
        Some(CouponPlace::Sent) => {
            "<p>您的欢迎优惠券已发送至您登记的联系方式。\
             <span class=\"en\" lang=\"en\">Your welcome coupon was sent to the contact details on record.</span></p>"
        }
        Some(CouponPlace::Kept) => {
            "<p>您的欢迎优惠券已为您保留；为保护您的信息，不在此页面显示，店铺会通过您登记的联系方式发给您。\
             <span class=\"en\" lang=\"en\">Your welcome coupon is kept for you. To protect your details it is not \
             shown here: the shop sends it to the contact details on record.</span></p>"
        }
        _ => "",
    };
    format!(
        "<p class=\"returning\">您之前已在本店登记过。\
         <span class=\"en\" lang=\"en\">You have signed up with us before.</span></p>{coupon}"
    )
}

fn money(minor: i64, currency: Currency) -> String {
    let symbol = match currency.code() {
        "CNY" | "JPY" => "¥",
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        other => return format!("{other} {}", format_minor(minor, currency)),
    };
    format!("{symbol}{}", format_minor(minor, currency))
}

/// What the coupon is worth, in both languages.
fn offer_text(discount: &Discount, min_order: Option<i64>, shop_currency: Currency) -> String {
    let (zh, en) = match discount {
        Discount::FixedAmount {
            amount_minor,
            currency,
        } => {
            let amount = money(*amount_minor, currency.unwrap_or(shop_currency));
            (format!("立减 {amount}"), format!("{amount} off"))
        }
        Discount::Percent {
            basis_points,
            cap_minor,
        } => {
            let percent = format!("{}", *basis_points as f64 / 100.0);
            let cap = cap_minor.map(|c| money(c, shop_currency));
            (
                format!(
                    "{}% 折扣{}",
                    percent,
                    cap.as_ref()
                        .map(|c| format!("（最多减 {c}）"))
                        .unwrap_or_default()
                ),
                format!(
                    "{percent}% off{}",
                    cap.map(|c| format!(" (up to {c})")).unwrap_or_default()
                ),
            )
        }
        Discount::FreeShipping {} => ("包邮".to_string(), "Free shipping".to_string()),
    };
    let (min_zh, min_en) = min_order
        .map(|m| {
            let m = money(m, shop_currency);
            (
                format!("，满 {m} 可用"),
                format!(" on orders of {m} or more"),
            )
        })
        .unwrap_or_default();
    format!(
        "<p>{}{}<span class=\"en\" lang=\"en\">{}{}</span></p>",
        escape(&zh),
        escape(&min_zh),
        escape(&en),
        escape(&min_en)
    )
}

fn valid_until_text(at: Timestamp, shop: &Shop) -> String {
    let local = at.to_zoned(shop.zone());
    let when = local.strftime("%Y-%m-%d %H:%M").to_string();
    format!(
        "<p>有效期至 {when}<span class=\"en\" lang=\"en\">Valid until {when} ({zone})</span></p>",
        zone = escape(&shop.time_zone)
    )
}

/// Where the channel sends people after signing up.
fn next_step_html(next: &NextStep) -> String {
    let link = |class: &str, zh: &str, en: &str, url: &WebUrl| {
        format!(
            "<a class=\"{class}\" href=\"{}\">{zh} · <span lang=\"en\">{en}</span></a>",
            escape(url.as_str())
        )
    };
    // Most wanted first: the adviser's WeCom is the private domain's point; on a phone the
    // link works where the QR image (for scanning from another phone) cannot.
    let parts = [
        next.wecom_url.as_ref().map(|url| {
            link(
                "button",
                "添加专属顾问企业微信",
                "Add our adviser on WeCom",
                url,
            )
        }),
        next.wecom_qr_url.as_ref().map(|url| {
            format!(
                "<p>长按或扫码添加企业微信 · <span lang=\"en\">Scan to add us on WeCom</span></p>\
                 <img class=\"qr\" src=\"{}\" alt=\"企业微信二维码 · WeCom QR code\">",
                escape(url.as_str())
            )
        }),
        next.mini_program_url.as_ref().map(|url| {
            link(
                "button secondary",
                "打开小程序",
                "Open the mini-program",
                url,
            )
        }),
        next.shop_url
            .as_ref()
            .map(|url| link("button secondary", "去店铺逛逛", "Visit the shop", url)),
    ];
    parts.into_iter().flatten().collect()
}

/// A form submission that was not recorded: what went wrong and a way back, in the shop's
/// colours when the shop is known.
fn not_sent(env: &Env, code: &str, err: &ApiError) -> Response {
    let body = format!(
        "<h1>提交未成功<span class=\"en\" lang=\"en\">Not sent</span></h1>\
         <p class=\"error\" role=\"alert\">{}</p>\
         <a class=\"button secondary\" href=\"/q/{}/form\">返回重新填写 · <span lang=\"en\">Back to the form</span></a>",
        escape(&err.message),
        escape(code)
    );
    let shop = leads::channel_for_code(env.store, code)
        .ok()
        .flatten()
        .and_then(|(target, _)| shops::load_shop(env.store, &target.shop).ok());
    match shop {
        Some(shop) => page(err.status, &shop, "提交未成功 · Not sent", &body),
        None => {
            crate::web::message_page(err.status, "提交未成功 · Not sent", &escape(&err.message))
        }
    }
}
