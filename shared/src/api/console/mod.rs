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
    use std::collections::BTreeSet;

    fn asset(name: &str) -> &'static str {
        ASSETS.iter().find(|(file, _, _)| *file == name).unwrap().2
    }

    /// The keys of one language's dictionary in i18n.js.
    fn words(language: &str) -> BTreeSet<String> {
        let i18n = asset("i18n.js");
        let opening = format!("\n  {language}: {{");
        let start = i18n.find(&opening).expect(language) + opening.len();
        let block = &i18n[start..];
        let block = &block[..block.find("\n  },").expect("the block's end")];
        block
            .split('\'')
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|pair| pair[1].starts_with(':'))
            .map(|pair| pair[0].to_string())
            .collect()
    }

    /// The values of a Rust enum as the API writes them.
    fn variants<T: schemars::JsonSchema>() -> Vec<String> {
        let schema = schemars::schema_for!(T);
        let values = schema.get("enum").or_else(|| schema.get("oneOf"));
        serde_json::to_value(values)
            .unwrap()
            .as_array()
            .expect("an enum")
            .iter()
            .flat_map(|v| match v {
                // A documented variant is its own `oneOf` entry: `const`, or `enum` of several.
                serde_json::Value::Object(entry) => entry
                    .get("const")
                    .map(|c| vec![c.clone()])
                    .or_else(|| entry.get("enum").and_then(|e| e.as_array().cloned()))
                    .unwrap_or_default(),
                other => vec![other.clone()],
            })
            .map(|v| v.as_str().expect("a string value").to_string())
            .collect()
    }

    #[test]
    fn every_word_the_console_shows_is_in_chinese_and_english() {
        let chinese = words("'zh-CN'");
        let english = words("en");
        assert!(chinese.len() > 200, "{}", chinese.len());
        assert_eq!(
            chinese.symmetric_difference(&english).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "in one language only"
        );
        let mut used: Vec<String> = Vec::new();
        for (_, _, content) in ASSETS {
            for (at, _) in content.match_indices("t('") {
                // `t(` the function, not the end of another name (`split('`).
                let before = content[..at].chars().next_back().unwrap_or(' ');
                if before.is_alphanumeric() || before == '_' || before == '.' {
                    continue;
                }
                let rest = &content[at + 3..];
                used.push(rest[..rest.find('\'').unwrap()].to_string());
            }
        }
        // Keys made from what the API answers: every value it can give has its words.
        let families: [(&str, Vec<String>); 11] = [
            ("page.rule", variants::<crate::channels::page::FieldRule>()),
            (
                "page.field",
                vec!["name".into(), "phone".into(), "email".into()],
            ),
            (
                "page.next",
                ["wecom_url", "wecom_qr_url", "shop_url", "mini_program_url"]
                    .map(String::from)
                    .to_vec(),
            ),
            ("kind", variants::<crate::domain::ChannelKind>()),
            ("rfm", variants::<crate::rfm::RfmGroup>()),
            ("coupon", variants::<crate::coupons::CouponState>()),
            ("history", variants::<crate::tags::TagAction>()),
            ("segments", variants::<crate::tagging::rules::RuleAction>()),
            (
                "campaigns",
                vec!["generated".into(), "pool".into(), "shared".into()],
            ),
            ("scope", variants::<crate::shops::KeyScope>()),
            (
                "audit",
                [
                    "delivery_url_changed",
                    "delivery_secret_rotated",
                    "limits_changed",
                    "credentials_changed",
                    "owner_key_rotated",
                    "key_created",
                    "key_revoked",
                ]
                .map(String::from)
                .to_vec(),
            ),
        ];
        for (prefix, values) in families {
            assert!(!values.is_empty(), "{prefix}");
            used.extend(values.iter().map(|v| format!("{prefix}.{v}")));
        }
        for key in used {
            assert!(chinese.contains(&key), "{key} has no words");
        }
    }

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
