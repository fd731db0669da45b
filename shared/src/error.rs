//! What can go wrong, in the domain's terms. Code below `web`/`api` returns `Error`; the
//! edge (`web::error`) alone decides the HTTP status each kind becomes.

use schemars::JsonSchema;
use serde::Serialize;

use crate::store::StoreError;

/// Why an operation did not happen. The kind says how the caller can react; `code` is the
/// stable machine-readable reason every answer carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The thing asked for does not exist (or belongs to another shop: ids cannot be probed).
    NotFound { message: String },
    /// The input cannot be read at all: syntax, encoding, a malformed query or header.
    Malformed { code: ErrorCode, message: String },
    /// The input was read, but a value in it is refused; the message names the field.
    Invalid { code: ErrorCode, message: String },
    /// Who is calling is not established: no or an unknown key, a bad signature.
    Unauthenticated { code: ErrorCode, message: String },
    /// The caller is known but may not do this.
    Forbidden { message: String },
    /// A sound request the current state refuses; `reason` says why.
    Refused { reason: ErrorCode, message: String },
    /// Too many concurrent updates of one record: retrying shortly will do.
    Busy { message: String },
    /// The store failed or holds what it should not.
    Store(StoreError),
    /// The deployment lacks a variable it needs.
    Misconfigured { what: String },
    /// An invariant of Siyu's own broke.
    Internal { message: String },
}

impl Error {
    /// Also used for resources of other shops, so ids cannot be probed.
    pub fn not_found(what: &str) -> Self {
        Self::NotFound {
            message: format!("{what} not found"),
        }
    }

    pub fn malformed(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Malformed {
            code,
            message: message.into(),
        }
    }

    /// A field's value is refused (`invalid_field`).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::invalid_as(ErrorCode::InvalidField, message)
    }

    /// Input refused for a reason more specific than a field's value.
    pub fn invalid_as(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthenticated {
            code: ErrorCode::Unauthorized,
            message: message.into(),
        }
    }

    pub fn bad_signature() -> Self {
        Self::Unauthenticated {
            code: ErrorCode::InvalidSignature,
            message: "the webhook signature does not match".into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden {
            message: message.into(),
        }
    }

    pub fn refused(reason: ErrorCode, message: impl Into<String>) -> Self {
        Self::Refused {
            reason,
            message: message.into(),
        }
    }

    pub fn busy(message: impl Into<String>) -> Self {
        Self::Busy {
            message: message.into(),
        }
    }

    pub fn misconfigured(what: &str) -> Self {
        Self::Misconfigured { what: what.into() }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal {
            message: message.into(),
        }
    }

    /// The machine-readable reason.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Malformed { code, .. }
            | Self::Invalid { code, .. }
            | Self::Unauthenticated { code, .. } => *code,
            Self::Refused { reason, .. } => *reason,
            Self::Forbidden { .. } => ErrorCode::Forbidden,
            Self::Busy { .. } | Self::Store(StoreError::Contention(_)) => ErrorCode::Busy,
            Self::Store(StoreError::Backend(_)) => ErrorCode::StoreUnavailable,
            Self::Store(StoreError::Corrupt(_) | StoreError::TooLarge(_))
            | Self::Internal { .. } => ErrorCode::Internal,
            Self::Misconfigured { .. } => ErrorCode::Misconfigured,
        }
    }

    /// For people; never holds a store key or an internal detail.
    pub fn message(&self) -> String {
        match self {
            Self::NotFound { message }
            | Self::Malformed { message, .. }
            | Self::Invalid { message, .. }
            | Self::Unauthenticated { message, .. }
            | Self::Forbidden { message }
            | Self::Refused { message, .. }
            | Self::Busy { message } => message.clone(),
            Self::Store(StoreError::Contention(_)) => {
                "too many concurrent updates of one record; retry shortly".into()
            }
            Self::Store(StoreError::Backend(_)) => "storage is unavailable; retry shortly".into(),
            Self::Store(_) | Self::Internal { .. } => "an internal error occurred".into(),
            Self::Misconfigured { what } => format!("the server is missing {what}"),
        }
    }

    /// Whether the failure is Siyu's or its store's rather than the request's: the
    /// sender should retry it unchanged.
    pub fn is_server_fault(&self) -> bool {
        matches!(
            self,
            Self::Busy { .. } | Self::Store(_) | Self::Misconfigured { .. } | Self::Internal { .. }
        )
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code().as_str(), self.message())
    }
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
    /// A webhook's signed body is not what the (unsigned) topic header says it is: a
    /// delivery re-posted under another topic.
    TopicMismatch = "topic_mismatch",
    /// The delivery names another shop than the one its URL names.
    WrongShop = "wrong_shop",
    /// The shop's platform identity (e.g. `credentials.shopify_shop_domain`) must be set
    /// before deliveries that erase or close can be matched to it.
    ShopIdentityRequired = "shop_identity_required",
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
    /// A lead must accept the form's notice (or, without one, grant marketing consent).
    ConsentRequired = "consent_required",
    /// The sign-up form's notice changed after the form was opened: reload it.
    NoticeChanged = "notice_changed",
    /// The channel verifies phone numbers: ask for a code (`POST /q/{code}/verify`) and
    /// send it as `phone_code`.
    PhoneUnverified = "phone_unverified",
    /// The phone code is not the one sent (the message says how many tries are left).
    WrongCode = "wrong_code",
    /// The phone code is older than 5 minutes: ask for a new one.
    CodeExpired = "code_expired",
    /// Five wrong codes: this code no longer works; ask for a new one.
    TooManyTries = "too_many_tries",
    /// The shop cannot send codes now (no delivery URL, or its receiver failed).
    DeliveryUnavailable = "delivery_unavailable",
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
