//! Complaints handled as cases (投诉与平台仲裁): the four kinds, the evidence each needs, the lifecycle
//! `submitted` → `needs_evidence` → `under_review` → `resolved`, and deadlines in business days.

use crate::calendar::BusinessCalendar;
use crate::{Amount, ComplaintId, EvidenceId, OperatorId, Timestamp, TxnNo, UserId, named_enum};

named_enum!(
    /// What a complaint is about; it decides the evidence needed and the deadline.
    ComplaintKind {
        Fraud => "fraud",
        Minor => "minor",
        SystemFault => "system_fault",
        Other => "other",
    }
);

named_enum!(
    /// What a file of evidence shows, as its uploader labels it.
    EvidenceLabel {
        ChatRecord => "chat_record",
        GuardianIdentity => "guardian_identity",
        GuardianshipDocument => "guardianship_document",
        OperationRecording => "operation_recording",
        Log => "log",
        Other => "other",
    }
);

named_enum!(
    /// A piece of evidence a complaint of some kind must carry.
    EvidenceRequirement {
        ChatRecord => "chat_record",
        GuardianIdentity => "guardian_identity",
        GuardianshipDocument => "guardianship_document",
        OperationRecordingOrLog => "operation_recording_or_log",
    }
);

impl EvidenceRequirement {
    /// Whether a file with `label` meets the requirement. An unlabelled file may meet any one of them:
    /// the reviewer reads it, and the label only helps.
    fn accepts(self, label: Option<EvidenceLabel>) -> bool {
        match label {
            None => true,
            Some(label) => matches!(
                (self, label),
                (EvidenceRequirement::ChatRecord, EvidenceLabel::ChatRecord)
                    | (EvidenceRequirement::GuardianIdentity, EvidenceLabel::GuardianIdentity)
                    | (EvidenceRequirement::GuardianshipDocument, EvidenceLabel::GuardianshipDocument)
                    | (EvidenceRequirement::OperationRecordingOrLog, EvidenceLabel::OperationRecording | EvidenceLabel::Log)
            ),
        }
    }
}

impl ComplaintKind {
    /// The evidence files a complaint of this kind needs, one file for each.
    pub fn required_evidence(self) -> &'static [EvidenceRequirement] {
        match self {
            ComplaintKind::Fraud => &[EvidenceRequirement::ChatRecord],
            ComplaintKind::Minor => &[EvidenceRequirement::GuardianIdentity, EvidenceRequirement::GuardianshipDocument],
            ComplaintKind::SystemFault => &[EvidenceRequirement::OperationRecordingOrLog],
            ComplaintKind::Other => &[],
        }
    }

    /// Whether the complaint must name the transactions it is about.
    pub fn needs_transactions(self) -> bool {
        !matches!(self, ComplaintKind::Other)
    }
}

/// The requirements that the files with these labels leave unmet. Labelled files are matched first, so
/// that an unlabelled file is left for a requirement no labelled file meets.
pub fn missing_evidence(kind: ComplaintKind, labels: &[Option<EvidenceLabel>]) -> Vec<EvidenceRequirement> {
    let mut unmet: Vec<EvidenceRequirement> = kind.required_evidence().to_vec();
    let labelled = labels.iter().filter(|label| label.is_some());
    let unlabelled = labels.iter().filter(|label| label.is_none());
    for label in labelled.chain(unlabelled) {
        if let Some(position) = unmet.iter().position(|requirement| requirement.accepts(*label)) {
            unmet.remove(position);
        }
    }
    unmet
}

named_enum!(
    /// How a resolved case ended.
    CaseOutcome {
        Refunded => "refunded",
        PartiallyRefunded => "partially_refunded",
        Rejected => "rejected",
        Referred => "referred",
    }
);

/// Where a case is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseStatus {
    /// Complete, waiting for an operator.
    Submitted,
    /// Waiting for the complainant to add evidence.
    NeedsEvidence,
    /// An operator is on it.
    UnderReview,
    Resolved(CaseOutcome),
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Submitted => "submitted",
            CaseStatus::NeedsEvidence => "needs_evidence",
            CaseStatus::UnderReview => "under_review",
            CaseStatus::Resolved(_) => "resolved",
        }
    }

    /// The status from its stored name and outcome.
    pub fn parse(status: &str, outcome: Option<&str>) -> Option<CaseStatus> {
        match (status, outcome) {
            ("submitted", None) => Some(CaseStatus::Submitted),
            ("needs_evidence", None) => Some(CaseStatus::NeedsEvidence),
            ("under_review", None) => Some(CaseStatus::UnderReview),
            ("resolved", Some(outcome)) => CaseOutcome::parse(outcome).map(CaseStatus::Resolved),
            _ => None,
        }
    }

    pub fn outcome(self) -> Option<CaseOutcome> {
        match self {
            CaseStatus::Resolved(outcome) => Some(outcome),
            _ => None,
        }
    }

    pub fn is_resolved(self) -> bool {
        matches!(self, CaseStatus::Resolved(_))
    }
}

/// The deployment's rules for complaints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComplaintRules {
    pub fraud_business_days: u32,
    pub minor_business_days: u32,
    /// A system fault is refunded at once where it can be; the rest is reviewed within this.
    pub system_fault_business_days: u32,
    pub other_business_days: u32,
    pub max_description_chars: usize,
    pub max_transactions: usize,
    pub max_files_per_case: usize,
    pub max_file_bytes: u64,
    pub max_case_bytes: u64,
    pub holidays: BusinessCalendar,
}

impl Default for ComplaintRules {
    fn default() -> ComplaintRules {
        ComplaintRules {
            fraud_business_days: 7,
            minor_business_days: 15,
            system_fault_business_days: 1,
            other_business_days: 7,
            max_description_chars: 4_000,
            max_transactions: 20,
            max_files_per_case: 50,
            max_file_bytes: 20 * 1024 * 1024,
            max_case_bytes: 100 * 1024 * 1024,
            holidays: BusinessCalendar::default(),
        }
    }
}

impl ComplaintRules {
    pub fn business_days(&self, kind: ComplaintKind) -> u32 {
        match kind {
            ComplaintKind::Fraud => self.fraud_business_days,
            ComplaintKind::Minor => self.minor_business_days,
            ComplaintKind::SystemFault => self.system_fault_business_days,
            ComplaintKind::Other => self.other_business_days,
        }
    }

    /// When a case of `kind` submitted at `submitted_at` must be resolved.
    pub fn deadline(&self, kind: ComplaintKind, submitted_at: Timestamp) -> Timestamp {
        self.holidays.add_business_days(submitted_at, self.business_days(kind))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    #[error("the case is already resolved")]
    AlreadyResolved,
    #[error("a case resolved as {0} needs a refund first")]
    OutcomeNeedsRefund(CaseOutcome),
    #[error("a case with refunds cannot be rejected; resolve it as refunded or partially_refunded")]
    RejectedAfterRefund,
}

/// A complaint and the case it became.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Complaint {
    pub id: ComplaintId,
    pub kind: ComplaintKind,
    pub complainant_id: UserId,
    /// The other parties of the complaint's transactions.
    pub respondent_ids: Vec<UserId>,
    pub txn_nos: Vec<TxnNo>,
    pub description: String,
    pub evidence_ids: Vec<EvidenceId>,
    pub missing_evidence: Vec<EvidenceRequirement>,
    pub status: CaseStatus,
    pub assignee_id: Option<OperatorId>,
    /// Money refunded to the complainant through the case so far.
    pub refunded_amount: Amount,
    /// The latest word from the platform to the complainant: what evidence is asked for, why the case
    /// ended as it did.
    pub note: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub due_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
}

/// What a new complaint says, checked by the service before it becomes a [`Complaint`].
#[derive(Clone, Debug)]
pub struct NewComplaint {
    pub id: ComplaintId,
    pub kind: ComplaintKind,
    pub complainant_id: UserId,
    pub respondent_ids: Vec<UserId>,
    pub txn_nos: Vec<TxnNo>,
    pub description: String,
    pub evidence: Vec<(EvidenceId, Option<EvidenceLabel>)>,
}

impl Complaint {
    pub fn submit(new: NewComplaint, rules: &ComplaintRules, now: Timestamp) -> Complaint {
        let labels: Vec<Option<EvidenceLabel>> = new.evidence.iter().map(|(_, label)| *label).collect();
        let missing = missing_evidence(new.kind, &labels);
        let status = if missing.is_empty() { CaseStatus::Submitted } else { CaseStatus::NeedsEvidence };
        Complaint {
            id: new.id,
            kind: new.kind,
            complainant_id: new.complainant_id,
            respondent_ids: new.respondent_ids,
            txn_nos: new.txn_nos,
            description: new.description,
            evidence_ids: new.evidence.into_iter().map(|(id, _)| id).collect(),
            missing_evidence: missing,
            status,
            assignee_id: None,
            refunded_amount: Amount::ZERO,
            note: None,
            created_at: now,
            updated_at: now,
            due_at: rules.deadline(new.kind, now),
            resolved_at: None,
        }
    }

    fn check_open(&self) -> Result<(), CaseError> {
        if self.status.is_resolved() {
            return Err(CaseError::AlreadyResolved);
        }
        Ok(())
    }

    /// Whether the case has passed its deadline unresolved.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        !self.status.is_resolved() && now > self.due_at
    }

    /// The deadline while the case is open; none once it is resolved.
    pub fn open_due_at(&self) -> Option<Timestamp> {
        (!self.status.is_resolved()).then_some(self.due_at)
    }

    /// The status a case goes back to once nothing is missing.
    fn ready_status(&self) -> CaseStatus {
        if self.assignee_id.is_some() { CaseStatus::UnderReview } else { CaseStatus::Submitted }
    }

    /// Attaches more evidence; `labels` are those of every file now attached.
    pub fn add_evidence(&mut self, evidence_ids: Vec<EvidenceId>, labels: &[Option<EvidenceLabel>], now: Timestamp) -> Result<(), CaseError> {
        self.check_open()?;
        self.evidence_ids.extend(evidence_ids);
        self.missing_evidence = missing_evidence(self.kind, labels);
        if self.status == CaseStatus::NeedsEvidence && self.missing_evidence.is_empty() {
            self.status = self.ready_status();
        }
        self.updated_at = now;
        Ok(())
    }

    /// An operator takes the case.
    pub fn assign(&mut self, operator_id: OperatorId, now: Timestamp) -> Result<(), CaseError> {
        self.check_open()?;
        self.assignee_id = Some(operator_id);
        if self.status == CaseStatus::Submitted {
            self.status = CaseStatus::UnderReview;
        }
        self.updated_at = now;
        Ok(())
    }

    /// An operator asks the complainant for more evidence, saying what.
    pub fn request_evidence(&mut self, note: String, now: Timestamp) -> Result<(), CaseError> {
        self.check_open()?;
        self.status = CaseStatus::NeedsEvidence;
        self.note = Some(note);
        self.updated_at = now;
        Ok(())
    }

    pub fn record_refund(&mut self, amount: Amount, now: Timestamp) -> Result<(), CaseError> {
        self.check_open()?;
        self.refunded_amount = self.refunded_amount.checked_add(amount).unwrap_or(self.refunded_amount);
        self.updated_at = now;
        Ok(())
    }

    /// Checks that the case may end as `outcome`, without changing it.
    pub fn check_resolve(&self, outcome: CaseOutcome) -> Result<(), CaseError> {
        self.check_open()?;
        match outcome {
            CaseOutcome::Refunded | CaseOutcome::PartiallyRefunded if self.refunded_amount.is_zero() => Err(CaseError::OutcomeNeedsRefund(outcome)),
            CaseOutcome::Rejected if !self.refunded_amount.is_zero() => Err(CaseError::RejectedAfterRefund),
            _ => Ok(()),
        }
    }

    pub fn resolve(&mut self, outcome: CaseOutcome, note: String, now: Timestamp) -> Result<(), CaseError> {
        self.check_resolve(outcome)?;
        self.status = CaseStatus::Resolved(outcome);
        self.note = Some(note);
        self.resolved_at = Some(now);
        self.updated_at = now;
        Ok(())
    }
}

/// A file of evidence: its bytes live in the content-addressed store under `sha256`; this is what the
/// service knows of it. Once attached to a case it never changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    pub id: EvidenceId,
    /// The SHA-256 of the bytes, in lowercase hex.
    pub sha256: String,
    pub size: u64,
    /// The content type, confirmed from the bytes.
    pub content_type: String,
    pub label: Option<EvidenceLabel>,
    /// The user or operator who uploaded it.
    pub uploaded_by: String,
    pub case_id: Option<ComplaintId>,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(list: &[Option<EvidenceLabel>]) -> Vec<EvidenceRequirement> {
        missing_evidence(ComplaintKind::Minor, list)
    }

    #[test]
    fn evidence_requirements_match_labels_first_then_unlabelled_files() {
        use EvidenceLabel::*;
        assert_eq!(labels(&[]), [EvidenceRequirement::GuardianIdentity, EvidenceRequirement::GuardianshipDocument]);
        assert_eq!(labels(&[Some(GuardianshipDocument)]), [EvidenceRequirement::GuardianIdentity]);
        assert_eq!(labels(&[None, Some(GuardianIdentity)]), []);
        assert_eq!(labels(&[Some(ChatRecord), Some(Other)]), [EvidenceRequirement::GuardianIdentity, EvidenceRequirement::GuardianshipDocument]);
        assert_eq!(missing_evidence(ComplaintKind::SystemFault, &[Some(Log)]), []);
        assert_eq!(missing_evidence(ComplaintKind::SystemFault, &[Some(ChatRecord)]), [EvidenceRequirement::OperationRecordingOrLog]);
        assert_eq!(missing_evidence(ComplaintKind::Fraud, &[None]), []);
        assert_eq!(missing_evidence(ComplaintKind::Other, &[]), []);
    }

    fn complaint(kind: ComplaintKind, evidence: Vec<(EvidenceId, Option<EvidenceLabel>)>) -> Complaint {
        let new = NewComplaint {
            id: ComplaintId::parse("cmp_a").expect("id"),
            kind,
            complainant_id: UserId::parse("usr_a").expect("id"),
            respondent_ids: vec![UserId::parse("usr_b").expect("id")],
            txn_nos: vec![TxnNo::parse("txn_a").expect("txn")],
            description: "they never sent the goods".into(),
            evidence,
        };
        Complaint::submit(new, &ComplaintRules::default(), Timestamp::from_millis(0))
    }

    #[test]
    fn a_case_waits_for_missing_evidence_then_goes_to_review_and_resolves_once() {
        let mut case = complaint(ComplaintKind::Fraud, Vec::new());
        assert_eq!(case.status, CaseStatus::NeedsEvidence);
        assert_eq!(case.missing_evidence, [EvidenceRequirement::ChatRecord]);
        let now = Timestamp::from_millis(5);
        case.add_evidence(vec![EvidenceId::parse("evd_a").expect("id")], &[Some(EvidenceLabel::ChatRecord)], now).expect("open");
        assert_eq!(case.status, CaseStatus::Submitted);
        case.assign(OperatorId::parse("op_a").expect("id"), now).expect("open");
        assert_eq!(case.status, CaseStatus::UnderReview);
        case.request_evidence("the full chat, please".into(), now).expect("open");
        assert_eq!(case.status, CaseStatus::NeedsEvidence);
        let labels = [Some(EvidenceLabel::ChatRecord), None];
        case.add_evidence(vec![EvidenceId::parse("evd_b").expect("id")], &labels, now).expect("open");
        assert_eq!(case.status, CaseStatus::UnderReview, "an assigned case goes back to its reviewer");
        assert_eq!(case.resolve(CaseOutcome::Refunded, "ok".into(), now), Err(CaseError::OutcomeNeedsRefund(CaseOutcome::Refunded)));
        case.record_refund(Amount::new(500).expect("amount"), now).expect("open");
        assert_eq!(case.resolve(CaseOutcome::Rejected, "no".into(), now), Err(CaseError::RejectedAfterRefund));
        case.resolve(CaseOutcome::PartiallyRefunded, "part of it was frozen".into(), now).expect("resolves");
        assert_eq!(case.status.outcome(), Some(CaseOutcome::PartiallyRefunded));
        assert_eq!(case.open_due_at(), None);
        assert_eq!(case.assign(OperatorId::parse("op_b").expect("id"), now), Err(CaseError::AlreadyResolved));
        assert_eq!(case.record_refund(Amount::new(1).expect("amount"), now), Err(CaseError::AlreadyResolved));
    }

    #[test]
    fn deadlines_follow_the_kind_and_overdue_is_only_for_open_cases() {
        let case = complaint(ComplaintKind::Minor, vec![(EvidenceId::parse("evd_a").expect("id"), None), (EvidenceId::parse("evd_b").expect("id"), None)]);
        assert_eq!(case.status, CaseStatus::Submitted);
        // 1970-01-01 was a Thursday: 15 business days later is Thursday 22 January, ending at midnight.
        assert_eq!(case.due_at, Timestamp::from_millis(22 * 86_400_000));
        assert!(!case.is_overdue(case.due_at));
        assert!(case.is_overdue(case.due_at.plus_seconds(1)));
        for status in [CaseStatus::Submitted, CaseStatus::NeedsEvidence, CaseStatus::UnderReview, CaseStatus::Resolved(CaseOutcome::Referred)] {
            assert_eq!(CaseStatus::parse(status.as_str(), status.outcome().map(CaseOutcome::as_str)), Some(status));
        }
    }
}
