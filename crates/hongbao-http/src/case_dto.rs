//! Request and response bodies of complaints, evidence, events and the operator routes under
//! `/v1/ops`, with their conversions from the core's types.

use hongbao_core::cases::{Complaint, Evidence};
use hongbao_core::events::Event;
use hongbao_core::freeze::{Freeze, FreezeCause, FreezeScope};
use hongbao_core::legal::{Approval, Reversal};
use hongbao_core::staff::{AuditEntry, Operator};
use hongbao_core::{Timestamp, TxnNo};
use hongbao_service::reads::DisclosureView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

fn time(at: Timestamp) -> String {
    at.to_rfc3339()
}

fn opt_time(at: Option<Timestamp>) -> Option<String> {
    at.map(Timestamp::to_rfc3339)
}

fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

pub fn parse_txn_nos(texts: &[String]) -> Result<Vec<TxnNo>, ApiError> {
    texts.iter().map(|text| TxnNo::parse(text).map_err(|error| ApiError::validation(format!("txn_nos: {error}")))).collect()
}

/// Parses an RFC 3339 UTC time such as `2026-12-01T00:00:00Z` (fractions of a second allowed).
pub fn parse_time(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    Timestamp::parse_rfc3339(text).ok_or_else(|| ApiError::validation(format!("{field} must be an RFC 3339 UTC time such as 2026-12-01T00:00:00Z")))
}

// ---- requests ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateComplaintRequest {
    /// `fraud`, `minor`, `system_fault` or `other`.
    pub kind: String,
    /// Transactions of the caller's that the complaint is about; required except for `other`.
    #[serde(default)]
    pub txn_nos: Vec<String>,
    pub description: String,
    /// Files uploaded with `POST /v1/evidence` and not yet attached to a case.
    #[serde(default)]
    pub evidence_ids: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddEvidenceRequest {
    pub evidence_ids: Vec<String>,
}

/// Why an operator acts; every operator action needs one, and the audit log keeps it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOperatorRequest {
    pub name: String,
    /// `support`, `reviewer`, `legal` or `auditor`.
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFreezeRequest {
    pub user_id: String,
    /// Minor units to hold; absent for a full freeze, which stops all outgoing money.
    pub amount: Option<i64>,
    /// When the freeze ends by itself (RFC 3339); absent: until lifted.
    pub until: Option<String>,
    /// The case it is for. Exactly one of `case_id` and `rule`.
    pub case_id: Option<String>,
    /// The risk rule it is for, such as `aml_review`.
    pub rule: Option<String>,
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseRefundRequest {
    /// A freeze placed for this case, out of which the money comes.
    pub freeze_id: String,
    /// Minor units; at most what is left of the corrected payment (returns, case refunds and
    /// reversals share one remainder per payment).
    pub amount: i64,
    pub reason: String,
    /// The payment of the case this refund corrects: one of the case's `txn_nos`, or the claim or
    /// settlement of it that brought the money to the frozen user. Needed only when several payments
    /// of the case reached that user.
    pub txn_no: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveCaseRequest {
    /// `refunded`, `partially_refunded`, `rejected` or `referred`. Any but `referred` lifts the case's
    /// freezes; a referred case keeps them for the police or the court.
    pub outcome: String,
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReversalRequest {
    /// A packet claim or a transfer settlement.
    pub txn_no: String,
    /// Minor units; absent: all that is left of the transaction.
    pub amount: Option<i64>,
    pub reason: String,
    /// The court order's or police request's reference.
    pub reference: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDisclosureRequest {
    pub user_id: String,
    /// The court or police unit that asks.
    pub requester: String,
    pub reference: String,
    pub reason: String,
}

// ---- responses ----

#[derive(Debug, Serialize, ToSchema)]
pub struct EvidenceBody {
    pub id: String,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    pub size: u64,
    /// Confirmed from the bytes.
    pub content_type: String,
    pub label: Option<String>,
    pub case_id: Option<String>,
    pub uploaded_at: String,
}

impl From<&Evidence> for EvidenceBody {
    fn from(evidence: &Evidence) -> EvidenceBody {
        EvidenceBody {
            id: evidence.id.to_string(),
            sha256: evidence.sha256.clone(),
            size: evidence.size,
            content_type: evidence.content_type.clone(),
            label: evidence.label.map(|label| label.as_str().to_owned()),
            case_id: evidence.case_id.as_ref().map(ToString::to_string),
            uploaded_at: time(evidence.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComplaintBody {
    pub id: String,
    pub kind: String,
    /// `submitted`, `needs_evidence`, `under_review` or `resolved`.
    pub status: String,
    /// Once resolved: `refunded`, `partially_refunded`, `rejected` or `referred`.
    pub outcome: Option<String>,
    pub complainant_id: String,
    pub respondent_ids: Vec<String>,
    pub txn_nos: Vec<String>,
    pub description: String,
    pub evidence_ids: Vec<String>,
    /// What the case still needs, such as `chat_record` or `operation_recording_or_log`.
    pub missing_evidence: Vec<String>,
    /// Minor units refunded to the complainant through the case.
    pub refunded_amount: i64,
    pub assignee_id: Option<String>,
    /// The platform's latest word to the complainant.
    pub note: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The deadline, in business days from submission.
    pub due_at: String,
    pub overdue: bool,
    pub resolved_at: Option<String>,
}

impl ComplaintBody {
    pub fn new(complaint: &Complaint, now: Timestamp) -> ComplaintBody {
        ComplaintBody {
            id: complaint.id.to_string(),
            kind: complaint.kind.as_str().to_owned(),
            status: complaint.status.as_str().to_owned(),
            outcome: complaint.status.outcome().map(|outcome| outcome.as_str().to_owned()),
            complainant_id: complaint.complainant_id.to_string(),
            respondent_ids: strings(&complaint.respondent_ids),
            txn_nos: strings(&complaint.txn_nos),
            description: complaint.description.clone(),
            evidence_ids: strings(&complaint.evidence_ids),
            missing_evidence: strings(&complaint.missing_evidence),
            refunded_amount: complaint.refunded_amount.minor_units(),
            assignee_id: complaint.assignee_id.as_ref().map(ToString::to_string),
            note: complaint.note.clone(),
            created_at: time(complaint.created_at),
            updated_at: time(complaint.updated_at),
            due_at: time(complaint.due_at),
            overdue: complaint.is_overdue(now),
            resolved_at: opt_time(complaint.resolved_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComplaintList {
    pub data: Vec<ComplaintBody>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorBody {
    pub id: String,
    pub name: String,
    pub role: String,
    pub created_at: String,
    pub disabled_at: Option<String>,
}

impl From<&Operator> for OperatorBody {
    fn from(operator: &Operator) -> OperatorBody {
        OperatorBody {
            id: operator.id.to_string(),
            name: operator.name.clone(),
            role: operator.role.as_str().to_owned(),
            created_at: time(operator.created_at),
            disabled_at: opt_time(operator.disabled_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedOperatorBody {
    #[serde(flatten)]
    pub operator: OperatorBody,
    /// The operator's bearer token. Shown once: null in a replay under the same `Idempotency-Key`.
    pub token: Option<String>,
    /// Present (true) only in a replay: the token was shown in the first answer and is not kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_withheld: Option<bool>,
}

impl CreatedOperatorBody {
    /// The answer as a replay gets it: the token withheld.
    pub fn withheld(self) -> CreatedOperatorBody {
        CreatedOperatorBody { token: None, secret_withheld: Some(true), ..self }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorList {
    pub data: Vec<OperatorBody>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FreezeBody {
    pub id: String,
    pub user_id: String,
    /// `full` or `hold`.
    pub kind: String,
    /// A hold's amount in minor units; null for a full freeze.
    pub amount: Option<i64>,
    /// Minor units refunded out of the freeze to a complainant.
    pub refunded_amount: i64,
    pub case_id: Option<String>,
    pub rule: Option<String>,
    pub reason: String,
    /// `active`, `lifted` or `expired`.
    pub status: String,
    pub created_by: String,
    pub created_at: String,
    pub until: Option<String>,
    pub lifted_at: Option<String>,
    pub lifted_by: Option<String>,
    pub lift_reason: Option<String>,
}

impl FreezeBody {
    pub fn new(freeze: &Freeze, now: Timestamp) -> FreezeBody {
        let (case_id, rule) = match &freeze.cause {
            FreezeCause::Case(case_id) => (Some(case_id.to_string()), None),
            FreezeCause::Velocity | FreezeCause::Rule(_) => (None, freeze.cause.rule_name().map(str::to_owned)),
        };
        FreezeBody {
            id: freeze.id.to_string(),
            user_id: freeze.user_id.to_string(),
            kind: hongbao_service::cases::freeze_scope_name(freeze.scope).to_owned(),
            amount: match freeze.scope {
                FreezeScope::Full => None,
                FreezeScope::Hold(amount) => Some(amount.minor_units()),
            },
            refunded_amount: freeze.refunded_amount.minor_units(),
            case_id,
            rule,
            reason: freeze.reason.clone(),
            status: freeze.status(now).as_str().to_owned(),
            created_by: freeze.created_by.clone(),
            created_at: time(freeze.created_at),
            until: opt_time(freeze.until),
            lifted_at: opt_time(freeze.lift.as_ref().map(|lift| lift.lifted_at)),
            lifted_by: freeze.lift.as_ref().map(|lift| lift.lifted_by.clone()),
            lift_reason: freeze.lift.as_ref().map(|lift| lift.reason.clone()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FreezeList {
    pub data: Vec<FreezeBody>,
    pub next_cursor: Option<String>,
}

/// The four-eyes fields of a reversal or a disclosure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalFields {
    /// `pending`, `approved` (and carried out) or `rejected`.
    pub status: String,
    pub requested_by: String,
    pub requested_at: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub decision_reason: Option<String>,
}

impl From<&Approval> for ApprovalFields {
    fn from(approval: &Approval) -> ApprovalFields {
        ApprovalFields {
            status: approval.status.as_str().to_owned(),
            requested_by: approval.requested_by.to_string(),
            requested_at: time(approval.requested_at),
            decided_by: approval.decided_by.as_ref().map(ToString::to_string),
            decided_at: opt_time(approval.decided_at),
            decision_reason: approval.decision_reason.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReversalBody {
    pub id: String,
    pub txn_no: String,
    pub payer_id: String,
    pub recipient_id: String,
    pub amount: i64,
    pub reason: String,
    pub reference: String,
    #[serde(flatten)]
    pub approval: ApprovalFields,
    /// The compensating transaction, once approved.
    pub reversal_txn_no: Option<String>,
}

impl From<&Reversal> for ReversalBody {
    fn from(reversal: &Reversal) -> ReversalBody {
        ReversalBody {
            id: reversal.id.to_string(),
            txn_no: reversal.txn_no.to_string(),
            payer_id: reversal.payer_id.to_string(),
            recipient_id: reversal.recipient_id.to_string(),
            amount: reversal.amount.minor_units(),
            reason: reversal.reason.clone(),
            reference: reversal.reference.clone(),
            approval: ApprovalFields::from(&reversal.approval),
            reversal_txn_no: reversal.reversal_txn_no.as_ref().map(ToString::to_string),
        }
    }
}

/// A case refund above the policy's four-eyes amount (`[case_refunds] approval_above`), which a second
/// reviewer approves (carrying it out) or rejects.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseRefundBody {
    pub id: String,
    pub case_id: String,
    pub freeze_id: String,
    /// The frozen user the money comes from.
    pub payer_id: String,
    /// The complainant the money goes to.
    pub recipient_id: String,
    /// The claim or settlement this refund corrects.
    pub corrects_txn_no: String,
    pub amount: i64,
    pub reason: String,
    #[serde(flatten)]
    pub approval: ApprovalFields,
    /// The refund's transaction, once approved.
    pub refund_txn_no: Option<String>,
}

impl From<&hongbao_core::legal::CaseRefund> for CaseRefundBody {
    fn from(refund: &hongbao_core::legal::CaseRefund) -> CaseRefundBody {
        CaseRefundBody {
            id: refund.id.to_string(),
            case_id: refund.complaint_id.to_string(),
            freeze_id: refund.freeze_id.to_string(),
            payer_id: refund.payer_id.to_string(),
            recipient_id: refund.recipient_id.to_string(),
            corrects_txn_no: refund.corrects_txn_no.to_string(),
            amount: refund.amount.minor_units(),
            reason: refund.reason.clone(),
            approval: ApprovalFields::from(&refund.approval),
            refund_txn_no: refund.refund_txn_no.as_ref().map(ToString::to_string),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseRefundList {
    pub data: Vec<CaseRefundBody>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReversalList {
    pub data: Vec<ReversalBody>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityBody {
    pub user_id: String,
    pub name: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DisclosureBody {
    pub id: String,
    pub user_id: String,
    pub requester: String,
    pub reference: String,
    pub reason: String,
    #[serde(flatten)]
    pub approval: ApprovalFields,
    /// Who the user is; null until a second legal officer approves.
    pub identity: Option<IdentityBody>,
}

impl From<&DisclosureView> for DisclosureBody {
    fn from(view: &DisclosureView) -> DisclosureBody {
        let disclosure = &view.disclosure;
        DisclosureBody {
            id: disclosure.id.to_string(),
            user_id: disclosure.user_id.to_string(),
            requester: disclosure.requester.clone(),
            reference: disclosure.reference.clone(),
            reason: disclosure.reason.clone(),
            approval: ApprovalFields::from(&disclosure.approval),
            identity: view.identity.as_ref().map(|user| IdentityBody {
                user_id: user.id.to_string(),
                name: user.name.clone(),
                created_at: time(user.created_at),
            }),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DisclosureList {
    pub data: Vec<DisclosureBody>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryBody {
    pub seq: u64,
    pub at: String,
    /// An operator id, `admin` or `system`.
    pub actor_id: String,
    pub actor_role: String,
    pub action: String,
    pub target: String,
    pub reason: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl From<&AuditEntry> for AuditEntryBody {
    fn from(entry: &AuditEntry) -> AuditEntryBody {
        let record = &entry.record;
        AuditEntryBody {
            seq: entry.seq,
            at: time(record.at),
            actor_id: record.actor_id.clone(),
            actor_role: record.actor_role.clone(),
            action: record.action.as_str().to_owned(),
            target: record.target.clone(),
            reason: record.reason.clone(),
            detail: record.detail.clone(),
            prev_hash: entry.prev_hash.to_hex(),
            hash: entry.hash.to_hex(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    pub data: Vec<AuditEntryBody>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventBody {
    /// Increasing across all events; a user's events are in this order.
    pub id: String,
    /// Such as `complaint.updated`, `freeze.placed`, `case.refunded`.
    #[serde(rename = "type")]
    pub kind: String,
    pub subject_id: String,
    pub created_at: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

impl From<&Event> for EventBody {
    fn from(event: &Event) -> EventBody {
        EventBody {
            id: event.seq.to_string(),
            kind: event.kind.as_str().to_owned(),
            subject_id: event.subject_id.clone(),
            created_at: time(event.created_at),
            data: event.data.iter().map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone()))).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    pub data: Vec<EventBody>,
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_parse_to_the_millisecond() {
        let parse = |text: &str| parse_time("until", text).ok();
        assert_eq!(parse("1970-01-02T00:00:01Z"), Some(Timestamp::from_millis(86_401_000)));
        assert_eq!(parse("1970-01-01T00:00:00.25Z"), Some(Timestamp::from_millis(250)));
        assert_eq!(parse("2026-11-26T23:42:32.123Z").map(Timestamp::to_rfc3339).as_deref(), Some("2026-11-26T23:42:32.123Z"));
        for bad in ["2026-11-26", "2026-11-26T24:00:00Z", "2026-11-26T10:00:00+08:00", "2026-02-30T00:00:00Z", "x"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
