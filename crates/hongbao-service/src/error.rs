//! The errors of the service layer, typed end to end: every refusal is a variant with the facts of
//! the case — the core's own errors carried as they are, and the service's in [`Invalid`],
//! [`Conflict`], [`Denied`] and [`OverLimit`] — so that callers and tests match on a cause, never on
//! text. The HTTP crate maps each to its status and stable code in one place
//! (`hongbao_http::error`); only failures of the service itself (`Internal`, `Store`) carry text.

use hongbao_core::cases::{CaseError, ComplaintKind};
use hongbao_core::freeze::{FreezeError, SpendError};
use hongbao_core::legal::ApprovalError;
use hongbao_core::merchant::KeyLimitError;
use hongbao_core::packet::{PacketError, SendError};
use hongbao_core::returns::ReturnError;
use hongbao_core::risk::LimitError;
use hongbao_core::staff::Permission;
use hongbao_core::transfer::TransferError;
use hongbao_core::{Amount, ComplaintId, EvidenceId, FreezeId, MoneyError, TxnNo, UserId, named_enum};
use hongbao_store::StoreError;

named_enum!(
    /// What a caller asked for that does not exist, or that they may not see (both are 404).
    Resource {
        User => "user",
        Group => "group",
        Member => "member",
        Packet => "packet",
        Transfer => "transfer",
        Transaction => "transaction",
        ReturnRequest => "return request",
        Evidence => "evidence",
        Complaint => "complaint",
        Case => "case",
        Freeze => "freeze",
        CaseRefund => "case refund",
        Reversal => "reversal",
        Disclosure => "disclosure",
        Operator => "operator",
        Webhook => "webhook",
        Delivery => "delivery",
        MerchantKey => "merchant key",
        Tag => "tag",
    }
);

/// Input that no state of the records could make acceptable (400 `validation_failed`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("{field} must be 1 to {max} characters")]
    TextLength { field: &'static str, max: usize },
    #[error("{field} must not contain control characters")]
    ControlCharacters { field: &'static str },
    #[error("reference must be 1 to 128 printable characters")]
    Reference,
    #[error("a reason has at most {max} characters, and no NUL character")]
    DeclineReason { max: usize },
    #[error("a group has at most {max} members")]
    GroupTooLarge { max: u32 },
    #[error("a {kind} complaint must name the transactions it is about")]
    ComplaintWithoutTransactions { kind: ComplaintKind },
    #[error("a complaint names at most {max} transactions")]
    TooManyTransactions { max: usize },
    #[error("transaction {txn_no} is not one of yours")]
    NotYourTransaction { txn_no: TxnNo },
    #[error("evidence_ids must name at least one file")]
    NoEvidenceNamed,
    #[error("a hold must be of a positive amount")]
    EmptyHold,
    #[error("until must be in the future")]
    UntilPassed,
    #[error("{user_id} is not a party that case {case_id} complains about")]
    NotAParty { user_id: UserId, case_id: ComplaintId },
    #[error("amount must be positive")]
    ZeroAmount,
    #[error("freeze {freeze_id} was not placed for case {case_id}")]
    FreezeOfAnotherCase { freeze_id: FreezeId, case_id: ComplaintId },
    #[error("{txn_no} is not a payment of case {case_id} that reached {user_id} from the complainant")]
    NotAPaymentOfCase { txn_no: TxnNo, case_id: ComplaintId, user_id: UserId },
    #[error("none of case {case_id}'s payments reached {user_id} from the complainant: a case refund gives back what a payment of the case moved")]
    NoPaymentReached { case_id: ComplaintId, user_id: UserId },
    #[error("several payments of the case reached {user_id}: name the one to correct in txn_no ({})", txn_nos.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    SeveralPayments { user_id: UserId, txn_nos: Vec<TxnNo> },
    #[error("only a packet claim or a settled transfer can be {action}")]
    NotAPayment { action: &'static str },
    #[error("a reversal of {txn_no} may move 0.01 to {left}; it was asked for {amount}")]
    ReversalAmount { txn_no: TxnNo, left: Amount, amount: Amount },
    #[error("this money went to yourself; there is nobody to ask")]
    PaidToSelf,
    #[error("a key needs at least one scope")]
    KeyWithoutScopes,
    #[error("a key needs at least one allowed network (CIDR)")]
    KeyWithoutNetworks,
    #[error("{text:?} is not a network in CIDR notation, such as 203.0.113.0/24 or 2001:db8::/32")]
    Network { text: String },
    #[error("url must be an http:// or https:// URL of at most 2000 characters")]
    WebhookUrl,
    #[error("a tag is 1 to 32 lowercase letters, digits, - and _ (family, friends, work, strangers, or your own)")]
    Tag,
    #[error("you cannot tag yourself")]
    TagOnSelf,
    #[error("a tag goes on a user id or a group id")]
    TagTarget,
    #[error("the policy is refused: {0}")]
    Policy(crate::policy::PolicyError),
    #[error(
        "the policy is refused: it sets nothing, and would put every built-in default in force; send the whole policy (GET /v1/ops/policy gives the one in force) or the tables to change"
    )]
    EmptyPolicy,
    #[error("from must be at least 1 and at most to: a consistency proof goes from a smaller non-empty tree to a larger one (from={old_size}, to={new_size})")]
    ProofSizes { old_size: u64, new_size: u64 },
    #[error("to={new_size} is beyond the journal's tree, which holds {size} entries")]
    BeyondTree { new_size: u64, size: u64 },
}

/// Refused by the state of the records as they are now (409 `invalid_state`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("the owner cannot be removed from their group")]
    OwnerLeaving,
    #[error("the operator is already disabled")]
    OperatorDisabled,
    #[error("evidence {evidence_id} is already attached to {case_id}")]
    EvidenceAttached { evidence_id: EvidenceId, case_id: ComplaintId },
    #[error("case {case_id} is already resolved")]
    CaseResolved { case_id: ComplaintId },
    #[error("only {left} of the {paid} that {txn_no} brought is left to give back; returns, case refunds and reversals took the rest")]
    NothingLeft { txn_no: TxnNo, paid: Amount, left: Amount },
    #[error("a reversal of {txn_no} is already waiting for approval")]
    ReversalPending { txn_no: TxnNo },
    #[error("the packet cannot be recalled: {0}")]
    NotRecallable(PacketError),
    #[error("the key is already revoked")]
    KeyRevoked,
    #[error("the webhook is already disabled")]
    WebhookDisabled,
    #[error("the journal is empty: there is nothing to checkpoint yet")]
    EmptyJournal,
}

/// A known caller without the right (403 `forbidden`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("the {role} role may not {}", describe(*permission))]
    Role { role: &'static str, permission: Permission },
    #[error("this is for the platform's operators")]
    OperatorsOnly,
    #[error("only an operator can do this")]
    NotAnOperator,
    #[error("the {role} role may not make checkpoints")]
    Checkpointer { role: &'static str },
    #[error("only the group's owner can change its members")]
    NotGroupOwner,
    #[error("only the payer of a transaction can ask for it back")]
    NotPayer,
    #[error("only the sender can recall a packet")]
    NotSender,
}

/// What each permission lets an operator do, in words.
pub fn describe(permission: Permission) -> &'static str {
    match permission {
        Permission::ViewCases => "view cases",
        Permission::TakeCase => "take cases",
        Permission::RequestEvidence => "ask for evidence",
        Permission::Freeze => "freeze or lift",
        Permission::RefundFromFreeze => "refund from frozen funds",
        Permission::ResolveCase => "resolve cases",
        Permission::ViewLegal => "view reversals and disclosures",
        Permission::RequestLegal => "request reversals or disclosures",
        Permission::DecideLegal => "approve or reject reversals and disclosures",
        Permission::ReadAuditLog => "read the audit log",
        Permission::ReplacePolicy => "replace the risk policy",
        Permission::ManagePlatform => "manage operators, webhooks and API keys",
    }
}

/// A limit the request would pass (409 `limit_exceeded`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverLimit {
    #[error(transparent)]
    Policy(LimitError),
    #[error(transparent)]
    Key(KeyLimitError),
    #[error("a case holds at most {max} files")]
    CaseFiles { max: usize },
    #[error("a case holds at most {max} bytes of evidence; this would make {total}")]
    CaseBytes { max: u64, total: u64 },
    #[error(transparent)]
    Requests(ReturnError),
    #[error(
        "the evidence quota is {quota} bytes per user: {used} are in use and this file needs {needed}; uploads never attached to a case are removed after {unattached_ttl_seconds} seconds"
    )]
    EvidenceQuota { quota: u64, used: u64, needed: u64, unattached_ttl_seconds: i64 },
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0} not found")]
    NotFound(Resource),
    #[error(transparent)]
    Denied(Denied),
    #[error(transparent)]
    Invalid(Invalid),
    #[error(transparent)]
    Conflict(Conflict),
    #[error(transparent)]
    OverLimit(OverLimit),
    #[error("the wallet is frozen: no money may leave it")]
    AccountFrozen,
    #[error("available balance {available} is less than the {needed} needed")]
    InsufficientFunds { needed: Amount, available: Amount },
    #[error(transparent)]
    Packet(PacketError),
    #[error(transparent)]
    Send(SendError),
    #[error(transparent)]
    Transfer(TransferError),
    #[error(transparent)]
    Return(ReturnError),
    #[error(transparent)]
    Case(CaseError),
    #[error(transparent)]
    Freeze(FreezeError),
    #[error(transparent)]
    Approval(ApprovalError),
    #[error(transparent)]
    Money(MoneyError),
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    /// An external reference already names another top-up or withdrawal.
    #[error("the reference {reference:?} was already used by {kind} {txn_no} for another user or amount")]
    ReferenceReused { kind: &'static str, reference: String, txn_no: TxnNo },
    /// A wallet would hold more than the largest amount ([`hongbao_core::money::MAX_AMOUNT`]).
    #[error("{account} would hold more than {} minor units, the most a wallet may hold", hongbao_core::money::MAX_AMOUNT)]
    BalanceLimit { account: String },
    /// A failure of the service itself, never a refusal: its text goes to the log, not to the caller.
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

impl From<Invalid> for ServiceError {
    fn from(invalid: Invalid) -> ServiceError {
        ServiceError::Invalid(invalid)
    }
}

impl From<Conflict> for ServiceError {
    fn from(conflict: Conflict) -> ServiceError {
        ServiceError::Conflict(conflict)
    }
}

impl From<Denied> for ServiceError {
    fn from(denied: Denied) -> ServiceError {
        ServiceError::Denied(denied)
    }
}

impl From<OverLimit> for ServiceError {
    fn from(over: OverLimit) -> ServiceError {
        ServiceError::OverLimit(over)
    }
}

impl From<SendError> for ServiceError {
    fn from(error: SendError) -> ServiceError {
        ServiceError::Send(error)
    }
}

impl From<TransferError> for ServiceError {
    fn from(error: TransferError) -> ServiceError {
        ServiceError::Transfer(error)
    }
}

impl From<ReturnError> for ServiceError {
    fn from(error: ReturnError) -> ServiceError {
        match error {
            error @ ReturnError::TooManyRequests { .. } => ServiceError::OverLimit(OverLimit::Requests(error)),
            error => ServiceError::Return(error),
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
        ServiceError::Case(error)
    }
}

impl From<FreezeError> for ServiceError {
    fn from(error: FreezeError) -> ServiceError {
        ServiceError::Freeze(error)
    }
}

impl From<ApprovalError> for ServiceError {
    fn from(error: ApprovalError) -> ServiceError {
        ServiceError::Approval(error)
    }
}

impl From<MoneyError> for ServiceError {
    fn from(error: MoneyError) -> ServiceError {
        ServiceError::Money(error)
    }
}

impl From<PacketError> for ServiceError {
    fn from(error: PacketError) -> ServiceError {
        ServiceError::Packet(error)
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;
