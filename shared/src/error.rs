//! The one error type handlers return, and the one place it becomes an HTTP answer.

use schemars::JsonSchema;
use serde::Serialize;

use crate::coupons::Rejection;
use crate::store::StoreError;

/// An error a request ends with: status, a stable machine-readable code, a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: ErrorCode,
    pub message: String,
    /// For 405: the methods the route takes (the `Allow` header).
    pub allow: Option<String>,
}

/// Every error answer's body: `{"error": {"code": …, "message": …}}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// For people; may change between releases. Programs read `code`.
    pub message: String,
}

/// Defines `ErrorCode` and its text in one list, so the published contract (its JSON schema
/// lists every variant with its doc line) is the set of codes the code can return.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])+ $variant:ident = $text:literal,)+) => {
        /// The stable, machine-readable `error.code` of an error answer.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
        pub enum ErrorCode {
            $($(#[doc = $doc])+ #[serde(rename = $text)] $variant,)+
        }

        impl ErrorCode {
            /// Every code, in the order of the list.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }
    };
}

error_codes! {
    /// The body is not valid JSON.
    InvalidJson = "invalid_json",
    /// The body is not UTF-8.
    InvalidEncoding = "invalid_encoding",
    /// A CSV body has a malformed line.
    InvalidCsv = "invalid_csv",
    /// An XML body (WeCom) is malformed.
    InvalidXml = "invalid_xml",
    /// A query parameter is malformed or out of range.
    InvalidQuery = "invalid_query",
    /// A header is malformed (e.g. `Idempotency-Key`).
    InvalidHeader = "invalid_header",
    /// The request names no host to build links from.
    MissingHost = "missing_host",
    /// A field of the body is missing, of the wrong type or out of range.
    InvalidField = "invalid_field",
    /// A webhook's body does not have the shape its platform documents.
    InvalidPayload = "invalid_payload",
    /// No or an unknown key or token.
    Unauthorized = "unauthorized",
    /// The key is valid but lacks the scope or role this needs.
    Forbidden = "forbidden",
    /// The webhook signature does not match.
    InvalidSignature = "invalid_signature",
    /// A signed request's timestamp is too old or too far ahead (replay protection).
    StaleTimestamp = "stale_timestamp",
    /// The resource does not exist (or belongs to another shop).
    NotFound = "not_found",
    /// No route has this path.
    UnknownRoute = "unknown_route",
    /// The route does not take this method.
    MethodNotAllowed = "method_not_allowed",
    /// The body is larger than the limit.
    PayloadTooLarge = "payload_too_large",
    /// Too many requests from one address; retry later.
    RateLimited = "rate_limited",
    /// The channel no longer takes leads.
    Inactive = "inactive",
    /// A lead must grant marketing consent.
    ConsentRequired = "consent_required",
    /// The customer was erased.
    CustomerErased = "customer_erased",
    /// The customer already carries the most tags allowed.
    TooManyTags = "too_many_tags",
    /// The rule would read a tag that depends on its own.
    RuleCycle = "rule_cycle",
    /// A print batch of that name exists.
    BatchExists = "batch_exists",
    /// A pooled code belongs to another campaign.
    CodeTaken = "code_taken",
    /// The Idempotency-Key was used with a different request.
    IdempotencyKeyReused = "idempotency_key_reused",
    /// A request with this Idempotency-Key is still in progress.
    IdempotencyKeyInUse = "idempotency_key_in_use",
    /// Coupon refused: not valid yet.
    NotActiveYet = "not_active_yet",
    /// Coupon refused: expired.
    Expired = "expired",
    /// Coupon refused: its campaign is paused.
    CampaignPaused = "campaign_paused",
    /// Coupon refused: the campaign's quota is used up.
    QuotaReached = "quota_reached",
    /// Coupon refused: the customer holds the most this campaign allows.
    CustomerLimitReached = "customer_limit_reached",
    /// Coupon refused: the order is below the minimum spend.
    MinSpendNotMet = "min_spend_not_met",
    /// Coupon refused: issued to another customer.
    NotOwner = "not_owner",
    /// Coupon refused: already used.
    AlreadyRedeemed = "already_redeemed",
    /// Coupon refused: the customer is not in the campaign's audience.
    NotEligible = "not_eligible",
    /// Too many concurrent updates of one record; retry shortly (with `Retry-After`).
    Busy = "busy",
    /// Storage is unavailable; retry shortly (with `Retry-After`).
    StoreUnavailable = "store_unavailable",
    /// The deployment lacks a required variable.
    Misconfigured = "misconfigured",
    /// An internal error.
    Internal = "internal",
}

impl From<Rejection> for ErrorCode {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::NotFound => Self::NotFound,
            Rejection::NotActiveYet => Self::NotActiveYet,
            Rejection::Expired => Self::Expired,
            Rejection::CampaignPaused => Self::CampaignPaused,
            Rejection::QuotaReached => Self::QuotaReached,
            Rejection::CustomerLimitReached => Self::CustomerLimitReached,
            Rejection::MinSpendNotMet => Self::MinSpendNotMet,
            Rejection::NotOwner => Self::NotOwner,
            Rejection::AlreadyRedeemed => Self::AlreadyRedeemed,
            Rejection::NotEligible => Self::NotEligible,
        }
    }
}

impl ApiError {
    pub fn new(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            allow: None,
        }
    }

    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(422, ErrorCode::InvalidField, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, ErrorCode::Unauthorized, message)
    }

    pub fn bad_signature() -> Self {
        Self::new(
            401,
            ErrorCode::InvalidSignature,
            "the webhook signature does not match",
        )
    }

    /// Also used for resources of other shops, so ids cannot be probed.
    pub fn not_found(what: &str) -> Self {
        Self::new(404, ErrorCode::NotFound, format!("{what} not found"))
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

    pub fn misconfigured(what: &str) -> Self {
        Self::new(
            500,
            ErrorCode::Misconfigured,
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
                ErrorCode::Busy,
                "too many concurrent updates of one record; retry shortly",
            ),
            StoreError::Backend(_) => Self::new(
                503,
                ErrorCode::StoreUnavailable,
                "storage is unavailable; retry shortly",
            ),
            StoreError::Corrupt(_) | StoreError::TooLarge(_) => {
                Self::new(500, ErrorCode::Internal, "an internal error occurred")
            }
        }
    }
}
