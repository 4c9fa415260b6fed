//! The one error type of the HTTP layer: RFC 9457 problem details with a stable `code`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hongbao_core::cases::CaseError;
use hongbao_core::freeze::FreezeError;
use hongbao_core::legal::ApprovalError;
use hongbao_core::packet::PacketError;
use hongbao_core::returns::ReturnError;
use hongbao_core::transfer::TransferError;
use hongbao_service::ServiceError;
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 9457 problem. A 4xx carries a stable `code` and a human `detail` and is not logged as an
/// error; a 5xx has an opaque body and its full cause is logged once, where it is made.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
}

/// The body of every error response (`application/problem+json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type: `/problems/{code}`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable snake_case code, e.g. `insufficient_funds`.
    pub code: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError { status, code, detail: detail.into() }
    }
    pub fn validation(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "validation_failed", detail)
    }
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }
    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }
    fn internal() -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server failed; the request may be retried with the same Idempotency-Key")
    }
}

/// Every refusal of the service, mapped to its status and stable code: the one place that decides what
/// a client sees of a typed error. A 5xx carries no internals; its cause is logged once, here.
impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> ApiError {
        let (status, code) = match &error {
            ServiceError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ServiceError::Denied(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ServiceError::Invalid(_) | ServiceError::Send(_) | ServiceError::Money(_) => (StatusCode::BAD_REQUEST, "validation_failed"),
            ServiceError::Conflict(_) | ServiceError::Case(CaseError::AlreadyResolved) | ServiceError::Approval(ApprovalError::AlreadyDecided) => {
                (StatusCode::CONFLICT, "invalid_state")
            }
            ServiceError::Case(CaseError::OutcomeNeedsRefund(_) | CaseError::RejectedAfterRefund) => (StatusCode::BAD_REQUEST, "validation_failed"),
            ServiceError::Approval(ApprovalError::SameOfficer) => (StatusCode::FORBIDDEN, "forbidden"),
            ServiceError::Freeze(FreezeError::NotActive) => (StatusCode::CONFLICT, "invalid_state"),
            ServiceError::Freeze(FreezeError::BeyondHold { .. }) => (StatusCode::BAD_REQUEST, "validation_failed"),
            ServiceError::OverLimit(_) => (StatusCode::CONFLICT, "limit_exceeded"),
            ServiceError::AccountFrozen => (StatusCode::CONFLICT, "account_frozen"),
            ServiceError::InsufficientFunds { .. } => (StatusCode::CONFLICT, "insufficient_funds"),
            ServiceError::Packet(error) => match error {
                PacketError::NotInAudience => (StatusCode::FORBIDDEN, "not_in_audience"),
                PacketError::AlreadyClaimed => (StatusCode::CONFLICT, "already_claimed"),
                PacketError::Exhausted => (StatusCode::CONFLICT, "packet_exhausted"),
                PacketError::Expired { .. } => (StatusCode::GONE, "packet_expired"),
                PacketError::Recalled => (StatusCode::GONE, "packet_recalled"),
                PacketError::NotSender => (StatusCode::FORBIDDEN, "forbidden"),
                PacketError::NotOpen { .. } | PacketError::NotYetExpired => (StatusCode::CONFLICT, "invalid_state"),
            },
            ServiceError::Transfer(error) => match error {
                TransferError::ToSelf | TransferError::MemoTooLong { .. } | TransferError::MemoNotStorable => (StatusCode::BAD_REQUEST, "validation_failed"),
                TransferError::NotRecipient { .. } | TransferError::NotSender => (StatusCode::FORBIDDEN, "forbidden"),
                TransferError::InstantNotCancellable
                | TransferError::Finished { .. }
                | TransferError::AlreadyAccepted
                | TransferError::AcceptDeadlinePassed { .. } => (StatusCode::CONFLICT, "invalid_state"),
            },
            ServiceError::Return(error) => match error {
                ReturnError::BadReason { .. } | ReturnError::DeadlineOutOfRange { .. } | ReturnError::AmountTooLarge { .. } => {
                    (StatusCode::BAD_REQUEST, "validation_failed")
                }
                ReturnError::TooManyRequests { .. } => (StatusCode::CONFLICT, "limit_exceeded"),
                ReturnError::NotRecipient => (StatusCode::FORBIDDEN, "forbidden"),
                ReturnError::NothingLeft | ReturnError::AlreadyPending | ReturnError::NotPending { .. } | ReturnError::DeadlinePassed { .. } => {
                    (StatusCode::CONFLICT, "invalid_state")
                }
            },
            ServiceError::ReferenceReused { .. } => (StatusCode::CONFLICT, "reference_reused"),
            ServiceError::BalanceLimit { .. } => (StatusCode::CONFLICT, "balance_limit_exceeded"),
            ServiceError::IdempotencyKeyReused => (StatusCode::CONFLICT, "idempotency_key_reused"),
            ServiceError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ServiceError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ServiceError::Store(_) | ServiceError::Internal(_) => {
                tracing::error!(error = %hongbao_service::writer::error_chain(&error), "request failed");
                return ApiError::internal();
            }
        };
        ApiError::new(status, code, error.to_string())
    }
}

fn title(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("Error").to_owned()
}

impl ApiError {
    /// The problem+json body of this error.
    pub fn problem_body(&self) -> Vec<u8> {
        let problem = Problem {
            problem_type: format!("/problems/{}", self.code),
            title: title(self.status),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
        };
        serde_json::to_vec(&problem).expect("a problem always serializes")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.problem_body();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
