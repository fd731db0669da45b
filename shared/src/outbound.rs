//! Outgoing HTTP, as a port: the Spin component provides it, tests provide their own.

/// Outgoing HTTP as Siyu needs it: POST a body with headers, learn the status.
pub trait Outbound {
    /// The response status, or why no response came (refused, unreachable, timed out).
    fn post(&self, url: &str, headers: &[(String, String)], body: &[u8]) -> Result<u16, String>;
}

/// For environments that send nothing (every component but the one that delivers).
pub struct NoOutbound;

impl Outbound for NoOutbound {
    fn post(&self, _: &str, _: &[(String, String)], _: &[u8]) -> Result<u16, String> {
        Err("this component makes no outbound requests".into())
    }
}
