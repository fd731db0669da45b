//! The one error type handlers return, and the one place it becomes an HTTP answer.

use crate::store::StoreError;

/// An error a request ends with: status, a stable machine-readable code, a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(422, "invalid_field", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", message)
    }

    pub fn bad_signature() -> Self {
        Self::new(
            401,
            "invalid_signature",
            "the webhook signature does not match",
        )
    }

    /// Also used for resources of other shops, so ids cannot be probed.
    pub fn not_found(what: &str) -> Self {
        Self::new(404, "not_found", format!("{what} not found"))
    }

    pub fn method_not_allowed(allowed: &str) -> Self {
        Self::new(
            405,
            "method_not_allowed",
            format!("this route accepts {allowed}"),
        )
    }

    pub fn unknown_route() -> Self {
        Self::new(404, "unknown_route", "no such route")
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            413,
            "payload_too_large",
            format!("request bodies are limited to {limit} bytes"),
        )
    }

    pub fn misconfigured(what: &str) -> Self {
        Self::new(
            500,
            "misconfigured",
            format!("the server is missing {what}"),
        )
    }

    /// Whether the platform should retry the same delivery later.
    pub fn is_retryable(&self) -> bool {
        self.status >= 500
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Contention(_) => Self::new(
                503,
                "busy",
                "too many concurrent updates of one record; retry shortly",
            ),
            StoreError::Backend(_) => Self::new(
                503,
                "store_unavailable",
                "storage is unavailable; retry shortly",
            ),
            StoreError::Corrupt(_) | StoreError::TooLarge(_) => {
                Self::new(500, "internal", "an internal error occurred")
            }
        }
    }
}
