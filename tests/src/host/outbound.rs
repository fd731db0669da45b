//! Outbound HTTP as Spin allows it: only to the hosts a component lists in
//! `allowed_outbound_hosts` (`scheme://host[:port]`, `*` for any scheme, host or port,
//! `*.domain` for subdomains); anything else is refused before a connection is made.

use std::future::Future;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{default_send_request, Error, RequestOptions, WasiBody, WasiHttpHooks};

#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    scheme: String,
    host: String,
    port: Option<String>,
}

/// The outbound hosts one component may reach.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    allowed: Vec<AllowedHost>,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl OutboundPolicy {
    pub fn new(entries: Vec<String>) -> anyhow::Result<Self> {
        let allowed = entries
            .iter()
            .map(|entry| {
                let (scheme, rest) = entry
                    .split_once("://")
                    .ok_or_else(|| anyhow::anyhow!("{entry}: allowed hosts need a scheme"))?;
                let rest = rest.trim_end_matches('/');
                let (host, port) = match rest.rsplit_once(':') {
                    Some((host, port)) => (host, Some(port.to_string())),
                    None => (rest, None),
                };
                Ok(AllowedHost {
                    scheme: scheme.to_string(),
                    host: host.to_ascii_lowercase(),
                    port,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { allowed })
    }

    /// Whether `scheme://host:port` may be reached.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let host = host.to_ascii_lowercase();
        let port = port.or_else(|| default_port(scheme));
        self.allowed.iter().any(|a| {
            let scheme_ok = a.scheme == "*" || a.scheme == scheme;
            let host_ok = a.host == "*"
                || a.host == host
                || a.host
                    .strip_prefix("*.")
                    .is_some_and(|domain| host.ends_with(&format!(".{domain}")));
            let port_ok = match a.port.as_deref() {
                Some("*") => true,
                Some(p) => p.parse::<u16>().ok() == port,
                None => default_port(&a.scheme) == port,
            };
            scheme_ok && host_ok && port_ok
        })
    }
}

type SendResult = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), Error>> + Send>,
    ),
    Error,
>;

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let uri = request.uri();
        let allowed = self.allows(
            uri.scheme_str().unwrap_or("http"),
            uri.host().unwrap_or_default(),
            uri.port_u16(),
        );
        Box::new(async move {
            if !allowed {
                return Err(Error::HttpRequestDenied);
            }
            let (response, io) = default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_hosts_are_allowed() {
        let policy = OutboundPolicy::new(vec![
            "http://127.0.0.1:*".into(),
            "https://*.example.com".into(),
            "https://api.shop.test".into(),
        ])
        .unwrap();
        assert!(policy.allows("http", "127.0.0.1", Some(8080)));
        assert!(!policy.allows("https", "127.0.0.1", Some(8080)));
        assert!(!policy.allows("http", "localhost", Some(8080)));
        assert!(policy.allows("https", "hooks.example.com", None));
        assert!(!policy.allows("https", "example.com.evil.test", None));
        assert!(policy.allows("https", "api.shop.test", Some(443)));
        assert!(!policy.allows("https", "api.shop.test", Some(8443)));
        assert!(!OutboundPolicy::default().allows("http", "127.0.0.1", Some(80)));
    }
}
