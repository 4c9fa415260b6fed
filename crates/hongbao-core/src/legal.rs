//! Actions for courts and police: the reversal of a settled transaction and the disclosure of a user's
//! identity. One legal officer asks; a second, different one approves before anything happens.

use crate::{Amount, CaseRefundId, ComplaintId, DisclosureId, FreezeId, OperatorId, ReversalId, Timestamp, TxnNo, UserId, named_enum};

named_enum!(
    ApprovalStatus {
        Pending => "pending",
        /// Approved and carried out.
        Approved => "approved",
        Rejected => "rejected",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("the request was already decided")]
    AlreadyDecided,
    #[error("the officer who asked cannot also approve; a second officer must")]
    SameOfficer,
}

/// The four-eyes part that reversals, disclosures and large case refunds share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    pub requested_by: OperatorId,
    pub requested_at: Timestamp,
    pub status: ApprovalStatus,
    pub decided_by: Option<OperatorId>,
    pub decided_at: Option<Timestamp>,
    pub decision_reason: Option<String>,
}

impl Approval {
    pub fn new(requested_by: OperatorId, now: Timestamp) -> Approval {
        Approval { requested_by, requested_at: now, status: ApprovalStatus::Pending, decided_by: None, decided_at: None, decision_reason: None }
    }

    /// Checks that `officer` may approve, without changing anything.
    pub fn check_approve(&self, officer: &OperatorId) -> Result<(), ApprovalError> {
        if self.status != ApprovalStatus::Pending {
            return Err(ApprovalError::AlreadyDecided);
        }
        if &self.requested_by == officer {
            return Err(ApprovalError::SameOfficer);
        }
        Ok(())
    }

    pub fn approve(&mut self, officer: OperatorId, reason: String, now: Timestamp) -> Result<(), ApprovalError> {
        self.check_approve(&officer)?;
        self.decide(ApprovalStatus::Approved, officer, reason, now);
        Ok(())
    }

    /// Rejecting needs no second officer: the one who asked may withdraw their own request.
    pub fn reject(&mut self, officer: OperatorId, reason: String, now: Timestamp) -> Result<(), ApprovalError> {
        if self.status != ApprovalStatus::Pending {
            return Err(ApprovalError::AlreadyDecided);
        }
        self.decide(ApprovalStatus::Rejected, officer, reason, now);
        Ok(())
    }

    fn decide(&mut self, status: ApprovalStatus, officer: OperatorId, reason: String, now: Timestamp) {
        self.status = status;
        self.decided_by = Some(officer);
        self.decided_at = Some(now);
        self.decision_reason = Some(reason);
    }
}

/// Moves money back from the recipient of a settled transaction to its payer, in a new transaction
/// that references the original.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reversal {
    pub id: ReversalId,
    pub txn_no: TxnNo,
    pub payer_id: UserId,
    pub recipient_id: UserId,
    pub amount: Amount,
    pub reason: String,
    /// The court order's or police request's reference.
    pub reference: String,
    pub approval: Approval,
    /// The compensating transaction, once carried out.
    pub reversal_txn_no: Option<TxnNo>,
}

/// A refund from a case's freeze above the policy's four-eyes amount (`RiskPolicy::case_refund_approval_above`):
/// one reviewer asks, and a second, different one approves before any money moves. Like every case
/// refund it corrects one payment of the case (`corrects_txn_no`, the claim or settlement that brought
/// the money to the frozen user) and never more than what is left of it, checked again at approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseRefund {
    pub id: CaseRefundId,
    pub complaint_id: ComplaintId,
    pub freeze_id: FreezeId,
    /// The frozen user the money comes from.
    pub payer_id: UserId,
    /// The complainant the money goes to.
    pub recipient_id: UserId,
    pub corrects_txn_no: TxnNo,
    pub amount: Amount,
    pub reason: String,
    pub approval: Approval,
    /// The refund's transaction, once carried out.
    pub refund_txn_no: Option<TxnNo>,
}

/// Tells an authorised requester who a user is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disclosure {
    pub id: DisclosureId,
    pub user_id: UserId,
    /// Who asked: the court or police unit.
    pub requester: String,
    pub reference: String,
    pub reason: String,
    pub approval: Approval,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_second_officer_approves_and_only_once() {
        let first = OperatorId::parse("op_a").expect("id");
        let second = OperatorId::parse("op_b").expect("id");
        let now = Timestamp::from_millis(1);
        let mut approval = Approval::new(first.clone(), now);
        assert_eq!(approval.approve(first.clone(), "mine".into(), now), Err(ApprovalError::SameOfficer));
        assert_eq!(approval.status, ApprovalStatus::Pending);
        approval.approve(second.clone(), "order checked".into(), now).expect("a second officer approves");
        assert_eq!(approval.status, ApprovalStatus::Approved);
        assert_eq!(approval.decided_by, Some(second.clone()));
        assert_eq!(approval.approve(second, "again".into(), now), Err(ApprovalError::AlreadyDecided));
        let mut withdrawn = Approval::new(first.clone(), now);
        withdrawn.reject(first, "filed in error".into(), now).expect("the asker may withdraw");
        assert_eq!(withdrawn.status, ApprovalStatus::Rejected);
    }
}
