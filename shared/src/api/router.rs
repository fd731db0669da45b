//! Each component's operations as one table: the router serves a request only through an
//! entry of it, and the OpenAPI document (`api::openapi`) is written from the same entries, so
//! a route cannot be served without being documented.

use http::Method;

#[cfg(feature = "openapi")]
use super::openapi::OperationDoc;

use crate::web::ApiError;
use crate::web::{segments, Request, RequestLog};

/// One method on one path.
pub struct Operation {
    pub method: Method,
    /// The OpenAPI path template, e.g. `/api/campaigns/{id}/issue`; also the access log's
    /// route.
    pub path: &'static str,
    /// One line for the document and the console.
    pub summary: &'static str,
    pub access: Access,
    /// The rest of the contract: parameters, body, answers.
    #[cfg(feature = "openapi")]
    pub describe: fn(&mut OperationDoc),
}

/// Who may call an operation (the document's security requirement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: people scanning codes, platform probes.
    Public,
    /// Any API key of the shop.
    ShopKey,
    /// The shop's owner key only.
    OwnerKey,
    /// A key of the shop holding this scope (the owner key holds them all).
    Scoped(crate::shops::KeyScope),
    /// The deployment's operator token.
    Operator,
    /// The deployment's scheduler token.
    Scheduler,
    /// A platform's signed delivery; the name is the document's security scheme.
    Signed(&'static str),
}

/// The operation a request reached, with its path parameters (as sent, not decoded).
pub struct Route<'r> {
    pub operation: &'static Operation,
    params: Vec<(&'static str, &'r str)>,
}

impl<'r> Route<'r> {
    /// The named path parameter; the template guarantees it is there.
    pub fn param(&self, name: &str) -> &'r str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .unwrap_or_default()
    }

    /// The operation's path, to match on in the component's handler.
    pub fn path(&self) -> &'static str {
        self.operation.path
    }
}

/// Finds the operation of `req` in `operations`: 404 `unknown_route` when no path matches,
/// 405 with the allowed methods when the path does and the method does not. Of the templates
/// matching a path, the one with literal segments earliest wins (`/api/channels/stats`
/// before `/api/channels/{id}`).
pub fn route<'r>(
    req: &'r Request,
    operations: &'static [Operation],
    log: &mut RequestLog,
) -> Result<Route<'r>, ApiError> {
    let path = segments(req);
    let mut best: Option<(Vec<bool>, &'static str)> = None;
    for op in operations {
        if let Some(literals) = literal_pattern(op.path, &path) {
            if best.as_ref().is_none_or(|(b, _)| literals > *b) {
                best = Some((literals, op.path));
            }
        }
    }
    let Some((_, template)) = best else {
        return Err(ApiError::unknown_route());
    };
    log.route = template;
    let same_path = || operations.iter().filter(move |op| op.path == template);
    let Some(operation) = same_path().find(|op| op.method == req.method()) else {
        let allowed: Vec<&str> = same_path().map(|op| op.method.as_str()).collect();
        return Err(ApiError::method_not_allowed(&allowed.join(", ")));
    };
    let params = template_segments(template)
        .zip(path)
        .filter_map(|(t, p)| param_name(t).map(|name| (name, p)))
        .collect();
    Ok(Route { operation, params })
}

fn template_segments(template: &'static str) -> impl Iterator<Item = &'static str> {
    template.split('/').filter(|s| !s.is_empty())
}

fn param_name(segment: &'static str) -> Option<&'static str> {
    segment.strip_prefix('{')?.strip_suffix('}')
}

/// Whether `path` fits `template`, and if so which of its segments were literal.
fn literal_pattern(template: &'static str, path: &[&str]) -> Option<Vec<bool>> {
    let mut literals = Vec::with_capacity(path.len());
    let mut parts = template_segments(template);
    for segment in path {
        let t = parts.next()?;
        match param_name(t) {
            Some(_) => literals.push(false),
            None if t == *segment => literals.push(true),
            None => return None,
        }
    }
    parts.next().is_none().then_some(literals)
}

/// The path parameters of a template, in order.
pub fn path_params(template: &'static str) -> impl Iterator<Item = &'static str> {
    template_segments(template).filter_map(param_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    static OPS: &[Operation] = &[
        Operation {
            method: Method::GET,
            path: "/api/channels/{id}",
            summary: "one",
            access: Access::ShopKey,
            #[cfg(feature = "openapi")]
            describe: |_| {},
        },
        Operation {
            method: Method::DELETE,
            path: "/api/channels/{id}",
            summary: "delete",
            access: Access::ShopKey,
            #[cfg(feature = "openapi")]
            describe: |_| {},
        },
        Operation {
            method: Method::GET,
            path: "/api/channels/stats",
            summary: "stats",
            access: Access::ShopKey,
            #[cfg(feature = "openapi")]
            describe: |_| {},
        },
    ];

    fn get(method: Method, path: &str) -> Result<(&'static str, String), ApiError> {
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .body(Vec::new())
            .unwrap();
        let mut log = RequestLog::default();
        let route = route(&req, OPS, &mut log)?;
        Ok((route.path(), route.param("id").to_string()))
    }

    #[test]
    fn literal_segments_win_and_params_are_bound() {
        assert_eq!(
            get(Method::GET, "/api/channels/stats").unwrap(),
            ("/api/channels/stats", String::new())
        );
        assert_eq!(
            get(Method::GET, "/api/channels/ch_1").unwrap(),
            ("/api/channels/{id}", "ch_1".into())
        );
        assert_eq!(
            get(Method::DELETE, "/api/channels/ch_1/").unwrap().0,
            "/api/channels/{id}"
        );
    }

    #[test]
    fn wrong_methods_and_unknown_paths_are_refused() {
        let err = get(Method::POST, "/api/channels/ch_1").unwrap_err();
        assert_eq!((err.status, err.code), (405, ErrorCode::MethodNotAllowed));
        assert_eq!(err.allow.as_deref(), Some("GET, DELETE"));
        for path in ["/api/channels", "/api/channels/a/b", "/api/other/x"] {
            let err = get(Method::GET, path).unwrap_err();
            assert_eq!(
                (err.status, err.code),
                (404, ErrorCode::UnknownRoute),
                "{path}"
            );
        }
    }
}
