//! Phone verification on the shopper's side: `POST /q/{code}/verify` (JSON, for the form's
//! inline button and integrators' own forms) and the hosted form's second step, which works
//! without JavaScript: the first submission sends the code and answers a page that carries
//! the answers given so far and asks for the code.

use serde::Deserialize;

use super::lead_form::open_channel;
use super::shopper_page::{escape, page};
use crate::channels::leads::{LeadSubmission, ValidLead};
use crate::channels::verification::{self, number_to_verify};
use crate::channels::Channel;
use crate::domain::PhoneNumber;
use crate::error::{Error, ErrorCode};
use crate::flows::phone_verification::{self, CodeSent};
use crate::shops::Shop;
use crate::web::ApiError;
use crate::web::{json_body, json_response, Env, Request, RequestLog, Response};

/// `POST /q/{code}/verify`'s body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// The number to send the code to (national numbers take the shop's calling code).
    pub phone: String,
}

/// `POST /q/{code}/verify`: sends a code to the number.
pub(super) fn send(
    req: &Request,
    env: &Env,
    log: &mut RequestLog,
    code: &str,
) -> Result<Response, ApiError> {
    let (shop, channel) = open_channel(env, log, code)?;
    let asked: CodeRequest = json_body(req)?;
    let phone = PhoneNumber::parse(&asked.phone, &shop.default_calling_code)
        .map_err(|e| Error::invalid(format!("phone: {e}")))?;
    let sent = phone_verification::send_code(
        env.store,
        env.courier(),
        env.secrets.pepper()?,
        &shop,
        &channel,
        &phone,
        &env.client_bucket(req),
        env.now,
    )?;
    Ok(json_response(200, &sent))
}

/// Whether a failed lead is about its phone code (the form asks for it again).
pub(super) fn is_about_the_code(err: &Error) -> bool {
    matches!(
        err.code(),
        ErrorCode::WrongCode
            | ErrorCode::CodeExpired
            | ErrorCode::TooManyTries
            | ErrorCode::PhoneUnverified
    )
}

/// The hosted form's second step for one submission.
pub(super) struct CodeStep<'a> {
    shop: &'a Shop,
    channel: &'a Channel,
    code: &'a str,
    answers: &'a LeadSubmission,
    phone: Option<&'a PhoneNumber>,
}

impl<'a> CodeStep<'a> {
    pub(super) fn new(
        shop: &'a Shop,
        channel: &'a Channel,
        code: &'a str,
        answers: &'a LeadSubmission,
        lead: &'a ValidLead,
    ) -> Self {
        Self {
            shop,
            channel,
            code,
            answers,
            phone: number_to_verify(channel, lead),
        }
    }

    /// Sends a code and asks for it; if none could be sent, says why (an earlier code may
    /// still work, so the code field stays).
    pub(super) fn send_and_ask(&self, env: &Env, pepper: &[u8], client: &str) -> Response {
        let sent = match self.phone {
            Some(phone) => phone_verification::send_code(
                env.store,
                env.courier(),
                pepper,
                self.shop,
                self.channel,
                phone,
                client,
                env.now,
            ),
            None => Err(Error::internal("no number to verify")),
        };
        match sent {
            Ok(sent) => self.render(200, Some(&sent), None),
            Err(err) => self.ask_again(err),
        }
    }

    /// The code given did not do (or none could be sent): ask again, saying why.
    pub(super) fn ask_again(&self, err: Error) -> Response {
        let err = ApiError::from(err);
        self.render(err.status, None, Some(&err))
    }

    fn render(&self, status: u16, sent: Option<&CodeSent>, problem: Option<&ApiError>) -> Response {
        let masked = self.phone.map(|p| p.masked()).unwrap_or_default();
        let minutes = verification::CODE_VALID.as_mins();
        let intro = match sent {
            Some(sent) => format!(
                "<p role=\"status\">验证码已发送至 {to}，{minutes} 分钟内有效。\
                 <span class=\"en\" lang=\"en\">We sent a code to {to}; it works for {minutes} minutes.</span></p>",
                to = escape(&sent.sent_to)
            ),
            None => format!(
                "<p>请输入发送至 {to} 的 6 位验证码。\
                 <span class=\"en\" lang=\"en\">Enter the 6-digit code sent to {to}.</span></p>",
                to = escape(&masked)
            ),
        };
        let problem = problem
            .map(|err| {
                format!(
                    "<p class=\"error\" role=\"alert\">{}<span class=\"en\" lang=\"en\">{}</span></p>",
                    in_chinese(err.code),
                    escape(&err.message)
                )
            })
            .unwrap_or_default();
        let body = format!(
            "<h1>验证手机号<span class=\"en\" lang=\"en\">Verify your number</span></h1>{intro}{problem}\
             <form method=\"post\" action=\"/q/{code}/lead\">{carried}\
             <label for=\"phone_code\">验证码 · <span lang=\"en\">Code</span></label>\
             <input id=\"phone_code\" name=\"phone_code\" type=\"text\" inputmode=\"numeric\" \
             autocomplete=\"one-time-code\" pattern=\"[0-9]{{6}}\" maxlength=\"6\" required>\
             <button type=\"submit\">验证并提交 · Verify and sign up</button>\
             <button type=\"submit\" name=\"send_code\" value=\"1\" formnovalidate class=\"button secondary\">\
             重新发送验证码 · <span lang=\"en\">Send a new code</span></button></form>\
             <p><a href=\"/q/{code}/form\">返回修改 · <span lang=\"en\">Back to the form</span></a></p>",
            code = escape(self.code),
            carried = self.carried_answers(),
        );
        page(status, self.shop, "验证手机号 · Verify your number", &body)
    }

    /// The first step's answers, as hidden fields.
    fn carried_answers(&self) -> String {
        let a = self.answers;
        let ticked = |on: bool| on.then(|| "on".to_string());
        [
            ("name", a.name.clone()),
            ("phone", a.phone.clone()),
            ("email", a.email.clone()),
            ("notice_version", a.notice_version.clone()),
            ("notice_accepted", ticked(a.notice_accepted)),
            ("marketing", ticked(a.marketing)),
            ("consent", ticked(a.consent)),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            value.map(|v| {
                format!(
                    "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                    escape(&v)
                )
            })
        })
        .collect()
    }
}

/// What went wrong with a code, for the shopper in Chinese (the English beneath is the API's).
fn in_chinese(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::WrongCode => "验证码不正确，请核对后重试（错误 5 次后需重新获取）。",
        ErrorCode::CodeExpired => "验证码已过期，请重新获取。",
        ErrorCode::TooManyTries => "错误次数过多，请重新获取验证码。",
        ErrorCode::PhoneUnverified => "请先获取验证码。",
        ErrorCode::RateLimited => "获取验证码过于频繁，请稍后再试。",
        ErrorCode::DeliveryUnavailable => "验证码暂时无法发送，请稍后再试。",
        _ => "提交未成功，请稍后再试。",
    }
}
