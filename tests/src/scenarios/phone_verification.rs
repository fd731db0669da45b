//! Verified phone numbers on a channel's sign-up: codes delivered through the shop's
//! delivery URL (signed), right, wrong, expired, too many tries, the limits per number and
//! per address, a receiver that is down, and the hosted form's two steps without JavaScript.

use http::Method;
use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};

use crate::app::{request, TestShop};
use crate::client::{Client, Reply};
use crate::platforms::hmac_sha256;
use crate::receiver::{Received, Receiver};

use super::*;

/// A shop whose messages go to `receiver`, with its signing secret.
pub fn shop_delivering_to(app: &dyn Client, receiver: &Receiver) -> (TestShop, String) {
    let shop = app.shop_with_all_platforms();
    let (status, saved) = app.call(request(
        Method::PUT,
        "/api/reminders/settings",
        Some(&shop.api_key),
        json!({"delivery_url": receiver.url})
            .to_string()
            .into_bytes(),
    ));
    assert_eq!(status, 200, "{saved}");
    let (status, secret) = app.call(request(
        Method::POST,
        "/api/reminders/secret",
        Some(&shop.api_key),
        b"{}".to_vec(),
    ));
    assert_eq!(status, 200, "{secret}");
    let secret = secret["delivery_secret"].as_str().unwrap().to_string();
    (shop, secret)
}

/// A channel whose sign-up page verifies phone numbers; its public code.
pub fn verifying_channel(app: &dyn Client, shop: &TestShop) -> String {
    let channel = create_channel(
        app,
        shop,
        json!({"name": "包裹卡", "target_url": "https://tea.example.com/", "tags": ["verified-card"],
            "page": {"verify_phone": true, "fields": {"phone": "required", "email": "off"}}}),
    );
    channel["code"].as_str().unwrap().to_string()
}

/// Sends `req` from `client`, at `at` on runners whose clock tests set. Not `call`: a 503
/// (the shop cannot send codes) is an answer some scenarios expect.
fn send_from(
    app: &dyn Client,
    mut req: http::Request<Vec<u8>>,
    client: &str,
    at: Option<Timestamp>,
) -> Reply {
    req.headers_mut()
        .insert("spin-client-addr", client.parse().unwrap());
    if let Some(at) = at {
        req.headers_mut().insert(
            crate::host::TEST_CLOCK_HEADER,
            at.to_string().parse().unwrap(),
        );
    }
    app.send(req)
}

/// `POST /q/{code}/verify` for `phone`.
pub fn ask_code(
    app: &dyn Client,
    code: &str,
    phone: &str,
    client: &str,
    at: Option<Timestamp>,
) -> Reply {
    let req = json_request(&format!("/q/{code}/verify"), &json!({ "phone": phone }));
    send_from(app, req, client, at)
}

/// A JSON lead with the notice-free (integrator) consent and, maybe, a phone code.
fn lead_with_code(
    app: &dyn Client,
    code: &str,
    phone: &str,
    phone_code: Option<&str>,
    at: Option<Timestamp>,
) -> Reply {
    let mut body = json!({"phone": phone, "consent": true});
    if let Some(c) = phone_code {
        body["phone_code"] = json!(c);
    }
    let req = json_request(&format!("/q/{code}/lead"), &body);
    send_from(app, req, "10.7.0.1:1", at)
}

/// The codes the receiver got for `phone` (E.164), oldest first.
pub fn codes_sent_to(receiver: &Receiver, phone: &str) -> Vec<Received> {
    receiver
        .received()
        .into_iter()
        .filter(|r| r.json()["kind"] == "phone_verification" && r.json()["phone"] == phone)
        .collect()
}

/// The code of the last message to `phone`.
pub fn last_code(receiver: &Receiver, phone: &str) -> String {
    let sent = codes_sent_to(receiver, phone);
    let last = sent
        .last()
        .unwrap_or_else(|| panic!("no code sent to {phone}"));
    last.json()["code"].as_str().unwrap().to_string()
}

fn error_code(reply: &Reply) -> (u16, Value) {
    (reply.status, reply.json()["error"]["code"].clone())
}

/// Another code than `code`.
pub fn wrong(code: &str) -> &'static str {
    if code == "000000" {
        "111111"
    } else {
        "000000"
    }
}

pub fn phone_codes_prove_the_number_before_the_lead_is_recorded(app: &dyn Client) {
    let receiver = Receiver::start();
    let (shop, secret) = shop_delivering_to(app, &receiver);
    let (status, refused) = app.call(request(
        Method::POST,
        "/api/channels",
        Some(&shop.api_key),
        json!({"name": "x", "target_url": "https://tea.example.com/",
            "page": {"verify_phone": true, "fields": {"phone": "off", "email": "required"}}})
        .to_string()
        .into_bytes(),
    ));
    assert_eq!(status, 422, "verification needs the phone field: {refused}");
    let code = verifying_channel(app, &shop);

    // Without a code, a lead through this channel is not recorded.
    let unproved = lead_with_code(app, &code, PHONE, None, None);
    assert_eq!(error_code(&unproved), (422, json!("phone_unverified")));
    assert_eq!(customer_by_phone(app, &shop, PHONE).0, 404);

    // A code goes to the shop's delivery URL, signed with the shop's secret.
    let asked = ask_code(app, &code, "13812345678", "10.7.0.1:1", None);
    assert_eq!(asked.status, 200, "{}", asked.json());
    assert_eq!(asked.json()["sent_to"], "138****5678");
    let sent = codes_sent_to(&receiver, PHONE);
    assert_eq!(sent.len(), 1);
    let message = sent[0].json();
    let six = message["code"].as_str().unwrap().to_string();
    assert!(
        six.len() == 6 && six.bytes().all(|b| b.is_ascii_digit()),
        "{message}"
    );
    assert_eq!(message["shop_id"], shop.id.as_str());
    assert!(message["text"].as_str().unwrap().contains(&six));
    assert!(message["text"].as_str().unwrap().contains("Tea House"));
    let expires = message["expires_at"]
        .as_str()
        .unwrap()
        .parse::<Timestamp>()
        .unwrap();
    let sent_at = message["sent_at"]
        .as_str()
        .unwrap()
        .parse::<Timestamp>()
        .unwrap();
    assert_eq!(
        expires.duration_since(sent_at),
        SignedDuration::from_mins(5)
    );
    let ts = sent[0].header("x-siyu-timestamp").unwrap();
    let signature = hex::encode(hmac_sha256(&secret, &[ts.as_bytes(), b".", &sent[0].body]));
    assert_eq!(sent[0].header("x-siyu-signature"), Some(signature.as_str()));
    assert!(sent[0].header("x-siyu-message-id").is_some());

    // At once again: the number waits a minute.
    let again = ask_code(app, &code, PHONE, "10.7.0.1:1", None);
    assert_eq!(error_code(&again), (429, json!("rate_limited")));
    assert_eq!(codes_sent_to(&receiver, PHONE).len(), 1);

    // A wrong code is refused and counted; the right one records the lead, verified.
    let wrong_try = lead_with_code(app, &code, PHONE, Some(wrong(&six)), None);
    assert_eq!(error_code(&wrong_try), (422, json!("wrong_code")));
    assert!(wrong_try.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("4 tries left"));
    assert_eq!(customer_by_phone(app, &shop, PHONE).0, 404);
    let right = lead_with_code(app, &code, PHONE, Some(&six), None);
    assert_eq!(right.status, 201, "{}", right.json());
    assert_eq!(right.json()["phone_verified"], true);
    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert!(customer["phone_verified_at"].is_string(), "{customer}");
    assert_eq!(customer["tags"][0]["name"], "verified-card");
    // A retried submission with the same code is the same lead, not a second one.
    let retried = lead_with_code(app, &code, PHONE, Some(&six), None);
    assert_eq!(
        (retried.status, retried.json()["new_lead"].clone()),
        (200, json!(false))
    );

    // Five wrong codes end a code: even the right one no longer works. (Another channel of
    // the shop, so that the sign-ups above do not reach the limit per address and code.)
    let code = verifying_channel(app, &shop);
    let other = "+8613900000001";
    assert_eq!(ask_code(app, &code, other, "10.7.0.1:1", None).status, 200);
    let its_code = last_code(&receiver, other);
    for left in ["4 tries", "3 tries", "2 tries", "1 tries", "last try"] {
        let reply = lead_with_code(app, &code, other, Some(wrong(&its_code)), None);
        assert_eq!(error_code(&reply), (422, json!("wrong_code")));
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(message.contains(left), "{message}");
    }
    let locked = lead_with_code(app, &code, other, Some(&its_code), None);
    assert_eq!(error_code(&locked), (429, json!("too_many_tries")));
    assert_eq!(customer_by_phone(app, &shop, other).0, 404);

    // A receiver that fails: the person is told, and may ask again at once.
    let third = "+8613900000002";
    receiver.answer_with(&[500]);
    let failed = ask_code(app, &code, third, "10.7.0.1:1", None);
    assert_eq!(error_code(&failed), (503, json!("delivery_unavailable")));
    let retry = ask_code(app, &code, third, "10.7.0.1:1", None);
    assert_eq!(retry.status, 200, "{}", retry.json());
    // The code of the failed delivery does not work.
    let failed_code = codes_sent_to(&receiver, third)[0].json()["code"]
        .as_str()
        .unwrap()
        .to_string();
    let now_code = last_code(&receiver, third);
    if failed_code != now_code {
        let stale = lead_with_code(app, &code, third, Some(&failed_code), None);
        assert_eq!(error_code(&stale), (422, json!("wrong_code")));
    }

    // A shop with no delivery URL cannot send codes; a channel that does not verify takes none.
    let plain_shop = app.create_shop(crate::platforms::shop_body("Plain"));
    let plain = verifying_channel(app, &plain_shop);
    let unavailable = ask_code(app, &plain, PHONE, "10.7.0.1:1", None);
    assert_eq!(
        error_code(&unavailable),
        (503, json!("delivery_unavailable"))
    );
    let ordinary = create_channel(
        app,
        &shop,
        json!({"name": "poster", "target_url": "https://tea.example.com/"}),
    );
    let not_asked = ask_code(
        app,
        ordinary["code"].as_str().unwrap(),
        PHONE,
        "10.7.0.1:1",
        None,
    );
    assert_eq!(error_code(&not_asked), (422, json!("invalid_field")));
    let bad_number = ask_code(app, &code, "12", "10.7.0.1:1", None);
    assert_eq!(error_code(&bad_number), (422, json!("invalid_field")));
}

pub fn codes_are_limited_per_client_address(app: &dyn Client) {
    let receiver = Receiver::start();
    let (shop, _) = shop_delivering_to(app, &receiver);
    let code = verifying_channel(app, &shop);
    for n in 0..10 {
        let phone = format!("+86139000001{n:02}");
        let reply = ask_code(app, &code, &phone, "10.8.0.1:1", None);
        assert_eq!(reply.status, 200, "code {n}: {}", reply.json());
    }
    let eleventh = ask_code(app, &code, "+8613900000199", "10.8.0.1:1", None);
    assert_eq!(error_code(&eleventh), (429, json!("rate_limited")));
    assert!(codes_sent_to(&receiver, "+8613900000199").is_empty());
    // Where tests may pose as another address (not real Spin), that address may still ask.
    if !app.client_address_is_real() {
        let elsewhere = ask_code(app, &code, "+8613900000199", "10.8.0.2:1", None);
        assert_eq!(elsewhere.status, 200);
    }
}

/// The hosted form's two steps, as a browser without JavaScript goes through them.
pub fn the_hosted_form_verifies_numbers_without_javascript(app: &dyn Client) {
    let receiver = Receiver::start();
    let (shop, _) = shop_delivering_to(app, &receiver);
    let code = verifying_channel(app, &shop);
    let page = form_page(app, &code);
    let html = String::from_utf8_lossy(&page.body).into_owned();
    // Without scripts: a note that the code comes next; the inline button is for scripts.
    assert!(html.contains("id=\"verify-note\""), "{html}");
    assert!(html.contains("<div id=\"code-row\" hidden>"), "{html}");
    let version = hidden_value(&html, "notice_version");

    let first =
        format!("phone=13812345678&notice_version={version}&notice_accepted=on&marketing=on");
    let step = submit_form(app, &code, &first, "10.9.0.1:1");
    let step_html = String::from_utf8_lossy(&step.body).into_owned();
    assert_eq!(step.status, 200, "{step_html}");
    assert!(
        step_html.contains("验证码已发送至 138****5678"),
        "{step_html}"
    );
    assert!(step_html.contains("name=\"phone_code\""));
    // The second step carries the first one's answers.
    assert_eq!(hidden_value(&step_html, "phone"), "13812345678");
    assert_eq!(hidden_value(&step_html, "notice_version"), version);
    assert_eq!(hidden_value(&step_html, "marketing"), "on");
    assert_eq!(customer_by_phone(app, &shop, PHONE).0, 404, "nothing yet");
    let six = last_code(&receiver, PHONE);

    let carried = format!("{first}&phone_code=");
    let wrong_step = submit_form(
        app,
        &code,
        &format!("{carried}{}", wrong(&six)),
        "10.9.0.1:1",
    );
    let wrong_html = String::from_utf8_lossy(&wrong_step.body).into_owned();
    assert_eq!(wrong_step.status, 422);
    assert!(wrong_html.contains("role=\"alert\""), "{wrong_html}");
    assert!(wrong_html.contains("4 tries left"), "{wrong_html}");
    assert!(
        wrong_html.contains("name=\"phone_code\""),
        "asked again: {wrong_html}"
    );

    // "Send a new code" at once: the page says to wait, and keeps the code field.
    let resend = submit_form(app, &code, &format!("{first}&send_code=1"), "10.9.0.1:1");
    let resend_html = String::from_utf8_lossy(&resend.body).into_owned();
    assert_eq!(resend.status, 429, "{resend_html}");
    assert!(resend_html.contains("name=\"phone_code\""));
    assert_eq!(codes_sent_to(&receiver, PHONE).len(), 1);

    let done = submit_form(app, &code, &format!("{carried}{six}"), "10.9.0.1:1");
    let done_html = String::from_utf8_lossy(&done.body).into_owned();
    assert_eq!(done.status, 200, "{done_html}");
    // No welcome campaign on this channel: thanks without a coupon section.
    assert!(!done_html.contains("券码"), "{done_html}");
    assert!(
        done_html.contains("Thank you") && done_html.contains("手机号已验证"),
        "{done_html}"
    );
    let customer = customer_by_phone(app, &shop, PHONE).1;
    assert!(customer["phone_verified_at"].is_string(), "{customer}");
    assert_eq!(customer["consent"]["marketing"], true);
    assert_eq!(customer["notice"]["version"], version.as_str());
}

pub fn phone_codes_expire_and_numbers_get_five_an_hour(app: &dyn Client) {
    let receiver = Receiver::start();
    let (shop, _) = shop_delivering_to(app, &receiver);
    let code = verifying_channel(app, &shop);
    let t0: Timestamp = "2026-12-02T02:00:00Z".parse().unwrap();
    let at = |seconds: i64| Some(t0 + SignedDuration::from_secs(seconds));

    assert_eq!(ask_code(app, &code, PHONE, "10.6.0.1:1", at(0)).status, 200);
    let six = last_code(&receiver, PHONE);
    let late = lead_with_code(app, &code, PHONE, Some(&six), at(300));
    assert_eq!(error_code(&late), (422, json!("code_expired")));
    assert_eq!(customer_by_phone(app, &shop, PHONE).0, 404);

    // A minute apart, four more codes this hour; a sixth waits for the next hour.
    for n in 1..5 {
        let reply = ask_code(app, &code, PHONE, "10.6.0.1:1", at(61 * n + 300));
        assert_eq!(reply.status, 200, "code {n}: {}", reply.json());
    }
    let sixth = ask_code(app, &code, PHONE, "10.6.0.1:1", at(61 * 5 + 300));
    assert_eq!(error_code(&sixth), (429, json!("rate_limited")));
    assert_eq!(codes_sent_to(&receiver, PHONE).len(), 5);
    let next_hour = ask_code(app, &code, PHONE, "10.6.0.1:1", at(3600));
    assert_eq!(next_hour.status, 200, "{}", next_hour.json());
    let fresh = last_code(&receiver, PHONE);
    let done = lead_with_code(app, &code, PHONE, Some(&fresh), at(3600 + 299));
    assert_eq!(done.status, 201, "{}", done.json());
    assert_eq!(done.json()["phone_verified"], true);
}
