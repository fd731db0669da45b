//! The `console` component: the merchant console at `/console/`, a browser app that works
//! through Siyu's JSON API with the shop's API key, which it keeps in the tab's session
//! storage only. The component serves the app's files and draws its charts; it holds no
//! secret, opens no store and sees no key, so the console can do nothing the key could not
//! do through the API.

pub mod chart;

use http::Method;

use super::router::{route, Access, Operation};
use crate::web::ApiError;
use crate::web::{body_response, json_body, with_header, Env, Request, RequestLog, Response};
use chart::ChartRequest;

/// Scripts and styles only from the console itself, no inline code, API calls to this
/// origin, images from here or made in the page (QR codes and charts as blobs).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// The app's files: name under `/console/`, content type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/api.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/dom.js"),
    ),
    (
        "i18n.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/i18n.js"),
    ),
    (
        "overview.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/overview.js"),
    ),
    (
        "channels.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/channels.js"),
    ),
    (
        "customers.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/customers.js"),
    ),
    (
        "segments.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/segments.js"),
    ),
    (
        "campaigns.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/campaigns.js"),
    ),
    (
        "reminders.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/reminders.js"),
    ),
    (
        "settings.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/settings.js"),
    ),
];

const INDEX: &str = include_str!("assets/index.html");

pub static OPERATIONS: &[Operation] = &[
    Operation {
        method: Method::GET,
        path: "/console/",
        summary: "The merchant console (a browser app; sign in with the shop's API key)",
        access: Access::Public,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.text("`/console` redirects here. The app keeps the key in the tab's session storage and calls this API with it.");
            d.page(200, "The console's page.");
            d.redirect(308, "From `/console` to `/console/`.");
        },
    },
    Operation {
        method: Method::GET,
        path: "/console/{file}",
        summary: "One of the console's scripts or styles",
        access: Access::Public,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.reply_file(200, "The file (JavaScript or CSS).", "text/javascript");
            d.errors(&[404]);
        },
    },
    Operation {
        method: Method::POST,
        path: "/console/chart.svg",
        summary: "Draw a chart of the numbers given (line or bar), as SVG",
        access: Access::Public,
        #[cfg(feature = "openapi")]
        describe: |d| {
            d.text("Draws only what it is sent; reads nothing. At most 400 labels and 8 series.");
            d.json_body::<ChartRequest>();
            d.reply_file(200, "The chart.", "image/svg+xml");
            d.errors(&[400, 413, 422]);
        },
    },
];

/// Public routes only: this component never opens the store.
pub fn handle(req: &Request, _env: &Env, log: &mut RequestLog) -> Result<Response, ApiError> {
    let route = route(req, OPERATIONS, log)?;
    let response = match (route.operation.method.as_str(), route.path()) {
        ("GET", "/console/") if !req.uri().path().ends_with('/') => {
            let moved = body_response(308, "text/plain; charset=utf-8", Vec::new());
            with_header(moved, "location", "/console/")
        }
        ("GET", "/console/") => page(INDEX, "text/html; charset=utf-8"),
        ("GET", "/console/{file}") => {
            let name = route.param("file");
            let (_, content_type, content) = ASSETS
                .iter()
                .find(|(file, _, _)| *file == name)
                .ok_or_else(|| ApiError::from(crate::error::Error::not_found("file")))?;
            page(content, content_type)
        }
        ("POST", "/console/chart.svg") => {
            let chart: ChartRequest = json_body(req)?;
            let svg = chart::render(&chart)?;
            with_header(
                body_response(200, "image/svg+xml", svg.into_bytes()),
                "cache-control",
                "no-store",
            )
        }
        _ => return Err(ApiError::unknown_route()),
    };
    Ok(response)
}

/// A console file, with the headers that keep it to itself: revalidated on every load (a
/// new version of Siyu is seen at once), never framed, never sniffed as something else.
fn page(content: &str, content_type: &str) -> Response {
    let response = body_response(200, content_type, content.as_bytes().to_vec());
    [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-cache"),
    ]
    .into_iter()
    .fold(response, |r, (name, value)| with_header(r, name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_the_page_and_modules_import_is_served() {
        let mut wanted: Vec<String> = Vec::new();
        for text in std::iter::once(INDEX).chain(ASSETS.iter().map(|(_, _, c)| *c)) {
            for marker in [
                "src=\"/console/",
                "href=\"/console/",
                "from './",
                "import('./",
            ] {
                for part in text.split(marker).skip(1) {
                    let end = part.find(['"', '\'']).unwrap_or(part.len());
                    wanted.push(part[..end].to_string());
                }
            }
        }
        assert!(wanted.len() > 5, "{wanted:?}");
        for name in wanted {
            assert!(
                ASSETS.iter().any(|(file, _, _)| *file == name),
                "{name} is imported but not served"
            );
        }
    }
}
