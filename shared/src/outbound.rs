//! Outgoing HTTP, as a port: the Spin component provides it, tests provide their own. Every
//! message Siyu delivers to a shop (reminders, phone verification codes, a returning person's
//! coupon) is signed one way, by `post_signed`, so a receiver checks them all alike (README,
//! "Delivery"); and goes only where `DeliveryUrl` allows, within `DELIVERY_TIMEOUT`.
//!
//! A shop's key sets its delivery URL, so the URL is an attacker's input: a URL naming the
//! deployment's own network (loopback, private ranges, a cloud's metadata service) would let
//! a key reach what only the server can. Those are refused when the URL is saved and again
//! before every delivery. A name that resolves to such an address cannot be seen from
//! WebAssembly (no DNS); Spin's `allowed_outbound_hosts` (the `delivery_hosts` variable) is
//! the boundary for those, and production deployments narrow it to their receivers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use jiff::Timestamp;

/// How long Siyu waits on a receiver: to connect, for the first byte, and between bytes.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Outgoing HTTP as Siyu needs it: POST a body with headers, learn the status.
pub trait Outbound {
    /// The response status, or why no response came (refused, unreachable, timed out after
    /// `timeout` without a connection or a byte).
    fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<u16, String>;
}

/// For environments that send nothing (every component but the one that delivers).
pub struct NoOutbound;

impl Outbound for NoOutbound {
    fn post(&self, _: &str, _: &[(String, String)], _: &[u8], _: Duration) -> Result<u16, String> {
        Err("this component makes no outbound requests".into())
    }
}

/// A delivery URL that passed the deployment's rules (see the module's comment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryUrl(String);

impl DeliveryUrl {
    /// Checks `url`: http(s), a host that is a public name or address — or, where
    /// `allow_private` (a local SMS gateway, tests), a loopback or private one. Link-local
    /// addresses and cloud metadata services are refused always; plain `http` only to a
    /// private receiver. The error says why, for the person who typed it.
    pub fn parse(url: &str, allow_private: bool) -> Result<Self, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|_| "delivery_url is not a URL".to_string())?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("delivery_url must be an https URL".into()),
        };
        let host = uri
            .host()
            .ok_or_else(|| "delivery_url must name a host".to_string())?;
        if url.len() > 2000 {
            return Err("delivery_url is longer than 2000 characters".into());
        }
        let reach = reach_of_host(host)?;
        match reach {
            Reach::Public if https => Ok(Self(url.to_string())),
            Reach::Public => {
                Err("delivery_url must be https: messages carry phone numbers and emails".into())
            }
            Reach::Private if allow_private => Ok(Self(url.to_string())),
            Reach::Private => Err(format!(
                "delivery_url names {host}, a loopback or private address or name of this \
                 network; messages may go only to receivers on the internet (this deployment's \
                 allow_private_delivery is off)"
            )),
            Reach::Never(why) => Err(format!("delivery_url names {host}: {why}")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host, for records of where messages went.
    pub fn host(&self) -> String {
        host_of(&self.0)
    }
}

/// The host of a URL as text (empty when there is none), for records and logs.
pub fn host_of(url: &str) -> String {
    url.parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_string))
        .unwrap_or_default()
}

/// Where a host is.
#[derive(Debug, PartialEq, Eq)]
enum Reach {
    Public,
    /// This network's own: loopback, private ranges, local names.
    Private,
    /// Never a receiver, with why.
    Never(&'static str),
}

/// Names of cloud metadata services (the addresses behind them are refused too).
const METADATA_NAMES: &[&str] = &[
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "metadata.tencentyun.com",
    "instance-data",
    "instance-data.ec2.internal",
];

/// Suffixes of names that exist only inside a network.
const LOCAL_SUFFIXES: &[&str] = &[
    "localhost",
    "local",
    "internal",
    "localdomain",
    "lan",
    "home",
    "home.arpa",
    "intranet",
    "private",
    "corp",
    "svc",
];

fn reach_of_host(host: &str) -> Result<Reach, String> {
    let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    if let Some(v6) = bracketed {
        let ip: Ipv6Addr = v6
            .parse()
            .map_err(|_| format!("{host} is not an IPv6 address"))?;
        return Ok(reach_of_ip(IpAddr::V6(ip)));
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(reach_of_ip(IpAddr::V4(ip)));
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    let valid = labels.iter().all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
    });
    if !valid {
        return Err(format!("{host} is not a host name"));
    }
    // A real top-level domain has a letter; "127.1" or "0x7f.1" are addresses in disguise,
    // which resolvers read as loopback.
    let top = labels.last().copied().unwrap_or_default();
    if top.bytes().all(|b| b.is_ascii_digit()) || top.starts_with("0x") {
        return Ok(Reach::Never(
            "write addresses in full dotted form, or use a host name",
        ));
    }
    if METADATA_NAMES.contains(&name.as_str()) {
        return Ok(Reach::Never("a cloud metadata service is never a receiver"));
    }
    let local = labels.len() == 1
        || LOCAL_SUFFIXES
            .iter()
            .any(|s| name == *s || name.ends_with(&format!(".{s}")));
    Ok(if local { Reach::Private } else { Reach::Public })
}

fn reach_of_ip(ip: IpAddr) -> Reach {
    match ip {
        IpAddr::V4(v4) => reach_of_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return reach_of_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return reach_of_v4(Ipv4Addr::new(a, b, c, d));
            }
            if v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
                return Reach::Never("a cloud metadata service is never a receiver");
            }
            if v6.is_unspecified() || v6.is_multicast() {
                Reach::Never("not an address a receiver can have")
            } else if s[0] & 0xffc0 == 0xfe80 {
                Reach::Never("link-local addresses are never receivers")
            } else if s[0] == 0x2001 && s[1] == 0x0db8 {
                Reach::Never("a documentation address")
            } else if v6.is_loopback() || s[0] & 0xfe00 == 0xfc00 {
                Reach::Private
            } else {
                Reach::Public
            }
        }
    }
}

fn reach_of_v4(ip: Ipv4Addr) -> Reach {
    let [a, b, c, _] = ip.octets();
    if ip == Ipv4Addr::new(100, 100, 100, 200) {
        // Alibaba Cloud's metadata service (inside 100.64/10).
        return Reach::Never("a cloud metadata service is never a receiver");
    }
    if ip.is_link_local() {
        // 169.254/16: AWS, GCP, Azure, Tencent and Huawei metadata services live here.
        return Reach::Never("link-local addresses (cloud metadata services) are never receivers");
    }
    if a == 0 || ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        return Reach::Never("not an address a receiver can have");
    }
    if (a, b, c) == (192, 0, 2) || (a, b, c) == (198, 51, 100) || (a, b, c) == (203, 0, 113) {
        return Reach::Never("a documentation address");
    }
    let shared = a == 100 && (64..128).contains(&b);
    let benchmark = a == 198 && (18..20).contains(&b);
    if ip.is_loopback() || ip.is_private() || shared || benchmark {
        Reach::Private
    } else {
        Reach::Public
    }
}

/// The way messages leave: outgoing HTTP, and whether this deployment lets delivery URLs
/// name its own network (`allow_private_delivery`).
#[derive(Clone, Copy)]
pub struct Courier<'a> {
    pub outbound: &'a dyn Outbound,
    pub allow_private: bool,
}

/// Where a shop's messages go and the secret they are signed with.
#[derive(Debug, Clone)]
pub struct DeliveryTarget {
    pub url: DeliveryUrl,
    pub secret: String,
}

/// Posts a JSON message to the shop's delivery URL, signed: `x-siyu-signature` is the hex
/// HMAC-SHA256, with the shop's secret, of `{x-siyu-timestamp}.{body}`; `x-siyu-message-id`
/// lets the receiver drop a message it already has.
pub fn post_signed(
    outbound: &dyn Outbound,
    target: &DeliveryTarget,
    message_id: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<u16, String> {
    let timestamp = now.as_second().to_string();
    let signature = hex::encode(crate::crypto::hmac_sha256(
        target.secret.as_bytes(),
        &[timestamp.as_bytes(), b".", body],
    ));
    let headers = [
        ("content-type".to_string(), "application/json".to_string()),
        ("x-siyu-message-id".to_string(), message_id.to_string()),
        ("x-siyu-timestamp".to_string(), timestamp),
        ("x-siyu-signature".to_string(), signature),
    ];
    outbound.post(target.url.as_str(), &headers, body, DELIVERY_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(url: &str, allow_private: bool) -> Result<(), String> {
        DeliveryUrl::parse(url, allow_private).map(|_| ())
    }

    #[test]
    fn public_https_receivers_are_allowed_everywhere() {
        for url in [
            "https://hooks.example.com/siyu",
            "https://sms.example.cn:8443/in?x=1",
            "https://8.8.8.8/",
            "https://[2606:4700::1111]/x",
        ] {
            assert_eq!(verdict(url, false), Ok(()), "{url}");
            assert_eq!(verdict(url, true), Ok(()), "{url}");
        }
        let plain = verdict("http://hooks.example.com/", true).unwrap_err();
        assert!(plain.contains("https"), "{plain}");
    }

    #[test]
    fn this_networks_own_addresses_only_where_the_deployment_allows() {
        for url in [
            "http://127.0.0.1:8080/",
            "http://localhost/",
            "http://api.localhost/",
            "https://10.1.2.3/",
            "https://172.20.0.1/",
            "https://192.168.1.10/",
            "https://100.64.0.1/",
            "http://[::1]:9000/",
            "https://[fd12::1]/",
            "https://[::ffff:10.0.0.1]/",
            "http://sms-gateway:8080/",
            "https://redis.default.svc.cluster.local/",
            "https://printer.local/",
            "https://vm-1.internal/",
        ] {
            assert!(verdict(url, false).is_err(), "{url}");
            assert_eq!(verdict(url, true), Ok(()), "{url}");
        }
    }

    #[test]
    fn metadata_services_and_odd_forms_are_refused_always() {
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://169.254.0.23/",
            "http://100.100.100.200/latest/meta-data/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://metadata.tencentyun.com/",
            "http://[fd00:ec2::254]/",
            "http://[fe80::1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://0.0.0.0/",
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://127.1/",
            "https://192.0.2.1/",
            "ftp://hooks.example.com/",
            "not a url",
            "https:///nohost",
        ] {
            assert!(verdict(url, true).is_err(), "{url}");
            assert!(verdict(url, false).is_err(), "{url}");
        }
    }
}
