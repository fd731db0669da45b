//! The `scan` component: `/q/{code}`, the hottest path — a person's phone camera on the
//! other end. Kept apart from the rest of lead capture so its component links only what a
//! scan needs: the scan target, two counters and a redirect.

use http::Method;

use super::router::{Access, Operation};
use crate::channels::{self, ScanOutcome};
use crate::web::ApiError;
use crate::web::{
    body_response, header, message_page, with_header, Env, Request, RequestLog, Response,
};

/// `GET` and `HEAD` of a scan: the same contract.
macro_rules! scan {
    ($method:expr) => {
        Operation {
            method: $method,
            path: "/q/{code}",
            summary: "Scan a channel code: counted (GET only) once per browser, then redirected",
            access: Access::Public,
            #[cfg(feature = "openapi")]
            describe: |d| {
                d.redirect(302, "To the channel's landing URL with its UTM parameters.");
                code_pages(d);
            },
        }
    };
}

pub static OPERATIONS: &[Operation] = &[scan!(Method::GET), scan!(Method::HEAD)];

pub fn handle(req: &Request, env: &Env, log: &mut RequestLog) -> Result<Response, ApiError> {
    let call = super::accept(req, env, log, OPERATIONS)?;
    scan(req, env, call.param("code"))
}

/// The scan: a redirect, or a small page for people whose code no longer works. No JSON
/// here: a person with a phone camera is on the other end.
fn scan(req: &Request, env: &Env, code: &str) -> Result<Response, ApiError> {
    let cookie_name = format!("sq_{code}");
    let seen_before = header(req, "cookie").is_some_and(|cookies| {
        cookies.split(';').any(|c| {
            c.trim()
                .split_once('=')
                .is_some_and(|(k, _)| k == cookie_name)
        })
    });
    let look = req.method() == Method::HEAD;
    let response = match channels::scan(env.store, code, seen_before, look, env.now)? {
        ScanOutcome::Redirect {
            location,
            first_scan,
        } => {
            let mut redirect = body_response(302, "text/plain; charset=utf-8", Vec::new());
            for (name, value) in [
                ("location", location.as_str()),
                ("cache-control", "no-store"),
                ("referrer-policy", "no-referrer"),
            ] {
                redirect = with_header(redirect, name, value);
            }
            if first_scan {
                // Only marks "this browser scanned this code": no identifier, no PII.
                let cookie = format!(
                    "{cookie_name}=1; Path=/q/{code}; Max-Age=31536000; HttpOnly; SameSite=Lax"
                );
                redirect = with_header(redirect, "set-cookie", &cookie);
            }
            redirect
        }
        ScanOutcome::Unknown => unknown_code_page(),
        ScanOutcome::Inactive => retired_code_page(),
    };
    Ok(response)
}

/// What a scan or the form of a code that does not exist shows.
pub(super) fn unknown_code_page() -> Response {
    message_page(
        404,
        "这个二维码不存在 · This code does not exist",
        "请检查链接是否完整。Please check that the link is complete.",
    )
}

/// What a scan or the form of a retired code shows.
pub(super) fn retired_code_page() -> Response {
    message_page(
        410,
        "活动已结束 · This code is no longer active",
        "感谢关注，这个渠道码已停用。Thank you — this code has been retired.",
    )
}

/// The pages a scan and the form answer for codes that do not work.
#[cfg(feature = "openapi")]
pub(super) fn code_pages(d: &mut super::openapi::OperationDoc) {
    d.page(404, "No such code (a page for people).");
    d.page(410, "The code was retired (a page for people).");
}
