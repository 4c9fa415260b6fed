//! The errors of the service layer, one variant per cause the API reports differently.

use hongbao_core::cases::CaseError;
use hongbao_core::freeze::{FreezeError, SpendError};
use hongbao_core::legal::ApprovalError;
use hongbao_core::packet::{PacketError, SendError};
use hongbao_core::returns::ReturnError;
use hongbao_core::transfer::TransferError;
use hongbao_core::{Amount, MoneyError};
use hongbao_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Validation(String),
    #[error("the wallet is frozen: no money may leave it")]
    AccountFrozen,
    #[error("available balance {available} is less than the {needed} needed")]
    InsufficientFunds { needed: Amount, available: Amount },
    #[error(transparent)]
    Packet(PacketError),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    LimitExceeded(String),
    /// An external reference already names another top-up or withdrawal.
    #[error("the reference {reference:?} was already used by {kind} {txn_no} for another user or amount")]
    ReferenceReused { kind: &'static str, reference: String, txn_no: hongbao_core::TxnNo },
    /// A wallet would hold more than the largest amount ([`hongbao_core::money::MAX_AMOUNT`]).
    #[error("{account} would hold more than {} minor units, the most a wallet may hold", hongbao_core::money::MAX_AMOUNT)]
    BalanceLimit { account: String },
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    #[error("internal error: {0}")]
    Internal(String),
    #[error("the service is shutting down")]
    Unavailable,
    /// The database's write lock was not granted in time; nothing was done and a retry is safe.
    #[error("the database is busy: nothing was done; try again")]
    Busy,
    #[error("storage failed")]
    Store(#[from] StoreError),
}

impl ServiceError {
    /// Whether this is a refusal by the rules (a 4xx), as opposed to a failure of the service.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, ServiceError::Internal(_) | ServiceError::Unavailable | ServiceError::Busy | ServiceError::Store(_))
    }
}

impl From<SendError> for ServiceError {
    fn from(error: SendError) -> ServiceError {
        ServiceError::Validation(error.to_string())
    }
}

impl From<TransferError> for ServiceError {
    fn from(error: TransferError) -> ServiceError {
        match error {
            TransferError::ToSelf | TransferError::MemoTooLong { .. } | TransferError::MemoNotStorable => ServiceError::Validation(error.to_string()),
            TransferError::NotRecipient { .. } | TransferError::NotSender => ServiceError::Forbidden(error.to_string()),
            TransferError::InstantNotCancellable
            | TransferError::Finished { .. }
            | TransferError::AlreadyAccepted
            | TransferError::AcceptDeadlinePassed { .. } => ServiceError::InvalidState(error.to_string()),
        }
    }
}

impl From<ReturnError> for ServiceError {
    fn from(error: ReturnError) -> ServiceError {
        match error {
            ReturnError::BadReason { .. } | ReturnError::DeadlineOutOfRange { .. } | ReturnError::AmountTooLarge { .. } => {
                ServiceError::Validation(error.to_string())
            }
            ReturnError::TooManyRequests { .. } => ServiceError::LimitExceeded(error.to_string()),
            ReturnError::NotRecipient => ServiceError::Forbidden(error.to_string()),
            ReturnError::NothingLeft | ReturnError::AlreadyPending | ReturnError::NotPending { .. } | ReturnError::DeadlinePassed { .. } => {
                ServiceError::InvalidState(error.to_string())
            }
        }
    }
}

impl From<SpendError> for ServiceError {
    fn from(error: SpendError) -> ServiceError {
        match error {
            SpendError::Frozen => ServiceError::AccountFrozen,
            SpendError::Insufficient { needed, available } => ServiceError::InsufficientFunds { needed, available },
        }
    }
}

impl From<CaseError> for ServiceError {
    fn from(error: CaseError) -> ServiceError {
        match error {
            CaseError::OutcomeNeedsRefund(_) | CaseError::RejectedAfterRefund => ServiceError::Validation(error.to_string()),
            CaseError::AlreadyResolved => ServiceError::InvalidState(error.to_string()),
        }
    }
}

impl From<FreezeError> for ServiceError {
    fn from(error: FreezeError) -> ServiceError {
        match error {
            FreezeError::NotActive => ServiceError::InvalidState(error.to_string()),
            FreezeError::BeyondHold { .. } => ServiceError::Validation(error.to_string()),
        }
    }
}

impl From<ApprovalError> for ServiceError {
    fn from(error: ApprovalError) -> ServiceError {
        match error {
            ApprovalError::AlreadyDecided => ServiceError::InvalidState(error.to_string()),
            ApprovalError::SameOfficer => ServiceError::Forbidden(error.to_string()),
        }
    }
}

impl From<MoneyError> for ServiceError {
    fn from(error: MoneyError) -> ServiceError {
        ServiceError::Validation(error.to_string())
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;
