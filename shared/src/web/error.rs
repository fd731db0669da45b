//! The one place an error becomes an HTTP answer: each domain `Error` kind has its status
//! here, and nowhere below the edge.

use schemars::JsonSchema;
use serde::Serialize;

use crate::error::{Error, ErrorCode};
use crate::store::StoreError;

/// An error a request ends with: status, a stable machine-readable code, a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: ErrorCode,
    pub message: String,
    /// For 405: the methods the route takes (the `Allow` header).
    pub allow: Option<String>,
    /// What went wrong inside, for the operator's log only: the answer says no more than
    /// "an internal error occurred".
    pub detail: Option<String>,
}

/// Every error answer's body: `{"error": {"code": …, "message": …, "request_id": …}}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// For people; may change between releases. Programs read `code`.
    pub message: String,
    /// The request's id, also in the `x-request-id` header and the access log: quote it
    /// when asking the operator about this answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        let status = match &err {
            Error::Malformed { .. } => 400,
            Error::Unauthenticated { .. } => 401,
            Error::Forbidden { .. } => 403,
            Error::NotFound { .. } => 404,
            Error::Refused { reason, .. } => match reason {
                ErrorCode::Inactive => 410,
                ErrorCode::RateLimited | ErrorCode::TooManyTries => 429,
                ErrorCode::DeliveryUnavailable => 503,
                _ => 409,
            },
            Error::Invalid { .. } => 422,
            Error::Busy { .. }
            | Error::Store(StoreError::Contention(_) | StoreError::Backend(_)) => 503,
            Error::Store(_) | Error::Misconfigured { .. } | Error::Internal { .. } => 500,
        };
        let detail = match &err {
            Error::Internal { message } => Some(message.clone()),
            // Store keys hold ids and keyed hashes, no personal data; backend errors may
            // name the server (and its credentials), so they stay out.
            Error::Store(StoreError::Corrupt(key) | StoreError::TooLarge(key)) => {
                Some(format!("{}: {key}", err.code().as_str()))
            }
            _ => None,
        };
        Self {
            detail,
            ..Self::new(status, err.code(), err.message())
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        Error::from(err).into()
    }
}

/// Errors only the edge makes: the route, the method, the body's size.
impl ApiError {
    pub fn new(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            allow: None,
            detail: None,
        }
    }

    pub fn method_not_allowed(allowed: &str) -> Self {
        Self {
            allow: Some(allowed.to_string()),
            ..Self::new(
                405,
                ErrorCode::MethodNotAllowed,
                format!("this route accepts {allowed}"),
            )
        }
    }

    pub fn unknown_route() -> Self {
        Self::new(404, ErrorCode::UnknownRoute, "no such route")
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            413,
            ErrorCode::PayloadTooLarge,
            format!("request bodies are limited to {limit} bytes"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_error_has_its_status() {
        let status = |err: Error| ApiError::from(err).status;
        assert_eq!(status(Error::malformed(ErrorCode::InvalidJson, "x")), 400);
        assert_eq!(status(Error::bad_signature()), 401);
        assert_eq!(status(Error::forbidden("x")), 403);
        assert_eq!(status(Error::not_found("channel")), 404);
        assert_eq!(status(Error::refused(ErrorCode::BatchExists, "x")), 409);
        assert_eq!(status(Error::refused(ErrorCode::Inactive, "x")), 410);
        assert_eq!(status(Error::refused(ErrorCode::RateLimited, "x")), 429);
        assert_eq!(status(Error::refused(ErrorCode::TooManyTries, "x")), 429);
        assert_eq!(
            status(Error::refused(ErrorCode::DeliveryUnavailable, "x")),
            503
        );
        assert_eq!(status(Error::invalid("x")), 422);
        assert_eq!(status(Error::busy("retry")), 503);
        assert_eq!(status(StoreError::Backend("down".into()).into()), 503);
        assert_eq!(status(StoreError::Corrupt("k".into()).into()), 500);
        assert_eq!(status(Error::misconfigured("the pepper")), 500);
    }

    #[test]
    fn internal_details_reach_the_log_never_the_answer() {
        let err = ApiError::from(StoreError::Corrupt("s/shp_1/c/cus_1".into()));
        assert_eq!(
            (err.code, err.message.as_str()),
            (ErrorCode::Internal, "an internal error occurred")
        );
        assert_eq!(err.detail.as_deref(), Some("internal: s/shp_1/c/cus_1"));
        let err = ApiError::from(Error::internal("csv: record 3 has 2 fields"));
        assert_eq!(err.message, "an internal error occurred");
        assert_eq!(err.detail.as_deref(), Some("csv: record 3 has 2 fields"));
        let err = ApiError::from(StoreError::Backend("redis://user:pw@host refused".into()));
        assert_eq!(err.detail, None, "backend errors may name credentials");
    }
}
