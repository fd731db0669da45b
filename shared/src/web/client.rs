//! Who is on the other end of a request: the shopper's address, as the limits on public doors
//! and the development-secrets check need it.
//!
//! Spin names the connection's peer in `spin-client-addr`, and overwrites any such header a
//! client sends. Behind a load balancer or CDN that peer is the proxy, so every shopper would
//! share one bucket; a deployment there names the header its proxy sets (`trusted_client_header`,
//! e.g. `x-forwarded-for`) and how many proxies append to it (`trusted_proxy_hops`). Only the
//! entry the last trusted proxy wrote is believed: anything further left is the client's own
//! claim. IPv6 shoppers are bucketed by their /64, the smallest block a provider hands out.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use super::{header, Request};

/// The header Spin sets from the connection.
pub const SPIN_CLIENT_ADDR: &str = "spin-client-addr";

/// How this deployment learns the client's address (the variables `trusted_client_header`
/// and `trusted_proxy_hops`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientAddressing {
    /// A header a trusted proxy sets, lower case; None: the connection's peer is the client.
    pub header: Option<String>,
    /// How many trusted proxies append to `header` (at least 1 when a header is named).
    pub hops: usize,
}

impl ClientAddressing {
    /// From the variables' text; a header name that is not a valid header name is ignored
    /// rather than trusted, and hops default to 1.
    pub fn from_variables(header: Option<&str>, hops: Option<&str>) -> Self {
        let header = header
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| http::HeaderName::from_bytes(h.as_bytes()).is_ok());
        let hops = hops
            .and_then(|h| h.trim().parse::<usize>().ok())
            .unwrap_or(1)
            .clamp(1, 10);
        Self { header, hops }
    }

    /// The client's address, or None when neither the proxy's header nor Spin names one.
    pub fn client(&self, req: &Request) -> Option<ClientAddress> {
        self.proxys_word(req)
            .or_else(|| header(req, SPIN_CLIENT_ADDR).and_then(parse_address))
            .map(ClientAddress)
    }

    fn proxys_word(&self, req: &Request) -> Option<IpAddr> {
        let name = self.header.as_deref()?;
        let values: Vec<&str> = req
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let entries: Vec<&str> = values
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        // The n-th entry from the right is the one the outermost trusted proxy wrote.
        let index = entries.len().checked_sub(self.hops)?;
        parse_address(entries[index])
    }
}

/// One client's address as the limits see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddress {
    pub fn is_loopback(self) -> bool {
        match self.0 {
            IpAddr::V4(v4) => v4.is_loopback(),
            IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        }
    }

    /// What limits count by: an IPv4 address as it is, an IPv6 one by its /64.
    pub fn bucket(self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                    format!("{prefix}/64")
                }
            },
        }
    }
}

/// An address as proxies and Spin write it: `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]:5678`,
/// possibly quoted.
fn parse_address(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    text.strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .and_then(|t| t.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut builder = http::Request::builder().uri("/q/abc/lead");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Vec::new()).unwrap()
    }

    fn client_of(addressing: &ClientAddressing, headers: &[(&str, &str)]) -> Option<String> {
        addressing
            .client(&request(headers))
            .map(|c| c.0.to_string())
    }

    #[test]
    fn without_a_trusted_header_the_connection_is_the_client() {
        let direct = ClientAddressing::default();
        let headers = [
            ("spin-client-addr", "203.0.113.9:51000"),
            ("x-forwarded-for", "198.51.100.1"),
        ];
        assert_eq!(
            client_of(&direct, &headers).as_deref(),
            Some("203.0.113.9"),
            "a header the client wrote is not believed"
        );
        assert_eq!(
            client_of(&direct, &[("spin-client-addr", "[2001:db8::5]:443")]).as_deref(),
            Some("2001:db8::5")
        );
        assert_eq!(client_of(&direct, &[]), None);
    }

    #[test]
    fn behind_proxies_only_the_entry_the_last_trusted_one_wrote_counts() {
        let one = ClientAddressing::from_variables(Some("X-Forwarded-For"), None);
        assert_eq!(one.hops, 1);
        // The shopper forged the first entry; the proxy appended the real peer.
        let headers = [
            ("spin-client-addr", "10.0.0.2:40000"),
            ("x-forwarded-for", "1.1.1.1, 198.51.100.7"),
        ];
        assert_eq!(client_of(&one, &headers).as_deref(), Some("198.51.100.7"));
        let two = ClientAddressing::from_variables(Some("x-forwarded-for"), Some("2"));
        assert_eq!(client_of(&two, &headers).as_deref(), Some("1.1.1.1"));
        // Split over two header lines, as some proxies do.
        let split = [
            ("x-forwarded-for", "192.0.2.1"),
            ("x-forwarded-for", "198.51.100.7:1234"),
        ];
        assert_eq!(client_of(&one, &split).as_deref(), Some("198.51.100.7"));
        // No header, or too few entries, or garbage: the connection's peer.
        let short = [("spin-client-addr", "10.0.0.2:40000")];
        assert_eq!(client_of(&two, &short).as_deref(), Some("10.0.0.2"));
        let garbage = [
            ("spin-client-addr", "10.0.0.2:40000"),
            ("x-forwarded-for", "not-an-address"),
        ];
        assert_eq!(client_of(&one, &garbage).as_deref(), Some("10.0.0.2"));
        assert_eq!(
            ClientAddressing::from_variables(Some("bad header\n"), None).header,
            None
        );
    }

    #[test]
    fn ipv6_clients_share_their_64_and_loopback_is_recognised() {
        let a = ClientAddress("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = ClientAddress("2001:db8:1:2:bbbb::9".parse().unwrap());
        let c = ClientAddress("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a.bucket(), "2001:db8:1:2::/64");
        assert_eq!(a.bucket(), b.bucket());
        assert_ne!(a.bucket(), c.bucket());
        let mapped = ClientAddress("::ffff:198.51.100.7".parse().unwrap());
        assert_eq!(mapped.bucket(), "198.51.100.7");
        for loopback in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert!(
                ClientAddress(loopback.parse().unwrap()).is_loopback(),
                "{loopback}"
            );
        }
        for other in ["10.0.0.1", "192.0.2.2", "fd00::2", "0.0.0.0"] {
            assert!(
                !ClientAddress(other.parse().unwrap()).is_loopback(),
                "{other}"
            );
        }
    }
}
