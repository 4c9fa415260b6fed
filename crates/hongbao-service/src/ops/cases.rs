//! The platform side of getting money back, as writer operations: operators, evidence, complaints and
//! their cases, freezes, refunds from frozen funds, reversals and identity disclosures with a second
//! legal officer's approval. Every operator action appends to the hash-chained audit log, and every
//! change a user should hear of appends to the event outbox, in the same transaction as the change.

use hongbao_core::cases::{CaseOutcome, Complaint, ComplaintKind, Evidence, EvidenceLabel, NewComplaint};
use hongbao_core::events::EventKind;
use hongbao_core::freeze::{Freeze, FreezeCause, FreezeScope};
use hongbao_core::legal::{Approval, ApprovalStatus, CaseRefund, Disclosure, Reversal};
use hongbao_core::packet::PacketStatus;
use hongbao_core::risk::VelocityAction;
use hongbao_core::staff::{AuditAction, Operator, Permission, Role};
use hongbao_core::{
    Account, Amount, CaseRefundId, ComplaintId, DisclosureId, EvidenceId, FreezeId, LedgerTxn, OperatorId, Related, ReversalId, Timestamp, TxnKind, TxnNo,
    UserId,
};
use hongbao_store::JournalEntry;
use hongbao_store::records::{self, Query, StoredOperator, text};

use crate::context::actor::{Actor, Decision};
use crate::context::money::PaymentLeg;
use crate::context::{OpContext, distinct, new_token, reason, required_text, token_hash};
use crate::error::{Conflict, Invalid, OverLimit, Resource, ServiceError, ServiceResult};
use crate::outcome::Outcome;

/// The operations of complaints, cases and operators.
#[derive(Clone, Debug)]
pub enum CaseOp {
    CreateOperator {
        name: String,
        role: Role,
    },
    DisableOperator {
        actor: Actor,
        operator_id: OperatorId,
        reason: String,
    },
    SubmitComplaint {
        complainant_id: UserId,
        kind: ComplaintKind,
        txn_nos: Vec<TxnNo>,
        description: String,
        evidence_ids: Vec<EvidenceId>,
    },
    AddEvidence {
        complainant_id: UserId,
        complaint_id: ComplaintId,
        evidence_ids: Vec<EvidenceId>,
    },
    Assign {
        actor: Actor,
        complaint_id: ComplaintId,
        reason: String,
    },
    RequestEvidence {
        actor: Actor,
        complaint_id: ComplaintId,
        reason: String,
    },
    PlaceFreeze {
        actor: Actor,
        user_id: UserId,
        amount: Option<Amount>,
        until: Option<Timestamp>,
        cause: FreezeCause,
        reason: String,
    },
    LiftFreeze {
        actor: Actor,
        freeze_id: FreezeId,
        reason: String,
    },
    /// Refunds the complainant out of a freeze placed for the case, correcting one payment of the case:
    /// `txn_no` names it (the case's transaction, or the claim or settlement that brought the money to
    /// the frozen user), and may be left out when only one payment of the case went to that user.
    RefundFromFreeze {
        actor: Actor,
        complaint_id: ComplaintId,
        freeze_id: FreezeId,
        amount: Amount,
        reason: String,
        txn_no: Option<TxnNo>,
    },
    /// A second reviewer's decision on a case refund above the four-eyes amount.
    DecideCaseRefund {
        actor: Actor,
        refund_id: CaseRefundId,
        decision: Decision,
        reason: String,
    },
    Resolve {
        actor: Actor,
        complaint_id: ComplaintId,
        outcome: CaseOutcome,
        reason: String,
    },
    RequestReversal {
        actor: Actor,
        txn_no: TxnNo,
        amount: Option<Amount>,
        reason: String,
        reference: String,
    },
    DecideReversal {
        actor: Actor,
        reversal_id: ReversalId,
        decision: Decision,
        reason: String,
    },
    RequestDisclosure {
        actor: Actor,
        user_id: UserId,
        requester: String,
        reference: String,
        reason: String,
    },
    DecideDisclosure {
        actor: Actor,
        disclosure_id: DisclosureId,
        decision: Decision,
        reason: String,
    },
}

pub fn freeze_scope_name(scope: FreezeScope) -> &'static str {
    match scope {
        FreezeScope::Full => "full",
        FreezeScope::Hold(_) => "hold",
    }
}

impl OpContext<'_, '_> {
    pub(crate) fn run_case(&mut self, op: CaseOp) -> ServiceResult<Outcome> {
        match op {
            CaseOp::CreateOperator { name, role } => self.create_operator(&name, role),
            CaseOp::DisableOperator { actor, operator_id, reason } => self.disable_operator(&actor, &operator_id, &reason),
            CaseOp::SubmitComplaint { complainant_id, kind, txn_nos, description, evidence_ids } => {
                self.submit_complaint(complainant_id, kind, txn_nos, &description, evidence_ids)
            }
            CaseOp::AddEvidence { complainant_id, complaint_id, evidence_ids } => self.add_evidence(&complainant_id, &complaint_id, evidence_ids),
            CaseOp::Assign { actor, complaint_id, reason } => self.assign(&actor, &complaint_id, &reason),
            CaseOp::RequestEvidence { actor, complaint_id, reason } => self.request_evidence(&actor, &complaint_id, &reason),
            CaseOp::PlaceFreeze { actor, user_id, amount, until, cause, reason } => self.place_freeze(&actor, user_id, amount, until, cause, &reason),
            CaseOp::LiftFreeze { actor, freeze_id, reason } => self.lift_freeze(&actor, &freeze_id, &reason),
            CaseOp::RefundFromFreeze { actor, complaint_id, freeze_id, amount, reason, txn_no } => {
                self.refund_from_freeze(&actor, &complaint_id, &freeze_id, amount, &reason, txn_no.as_ref())
            }
            CaseOp::DecideCaseRefund { actor, refund_id, decision, reason } => self.decide_case_refund(&actor, &refund_id, decision, &reason),
            CaseOp::Resolve { actor, complaint_id, outcome, reason } => self.resolve(&actor, &complaint_id, outcome, &reason),
            CaseOp::RequestReversal { actor, txn_no, amount, reason, reference } => self.request_reversal(&actor, txn_no, amount, &reason, &reference),
            CaseOp::DecideReversal { actor, reversal_id, decision, reason } => self.decide_reversal(&actor, &reversal_id, decision, &reason),
            CaseOp::RequestDisclosure { actor, user_id, requester, reference, reason } => {
                self.request_disclosure(&actor, user_id, &requester, &reference, &reason)
            }
            CaseOp::DecideDisclosure { actor, disclosure_id, decision, reason } => self.decide_disclosure(&actor, &disclosure_id, decision, &reason),
        }
    }

    pub(crate) fn notify_complaint(&mut self, complaint: &Complaint) -> ServiceResult<()> {
        let mut data = vec![("status", complaint.status.as_str().to_owned()), ("refunded_amount", complaint.refunded_amount.minor_units().to_string())];
        if let Some(outcome) = complaint.status.outcome() {
            data.push(("outcome", outcome.as_str().to_owned()));
        }
        if let Some(note) = &complaint.note {
            data.push(("note", note.clone()));
        }
        self.notify(&complaint.complainant_id, EventKind::ComplaintUpdated, complaint.id.as_str(), data)
    }

    pub(crate) fn create_operator(&mut self, name: &str, role: Role) -> ServiceResult<Outcome> {
        let name = required_text(name, "name", 64)?;
        let operator = Operator { id: OperatorId::generate(self.now, self.rng), name, role, created_at: self.now, disabled_at: None };
        let token = new_token(self.rng);
        self.batch.put_record(&StoredOperator { operator: operator.clone(), token_hash: token_hash(&token) });
        self.audit(&Actor::Admin, AuditAction::OperatorCreate, operator.id.as_str(), "new operator", &[("role", role.as_str().to_owned())])?;
        Ok(Outcome::OperatorCreated { operator, token })
    }

    pub(crate) fn disable_operator(&mut self, actor: &Actor, operator_id: &OperatorId, why: &str) -> ServiceResult<Outcome> {
        actor.require(Permission::ManagePlatform)?;
        let why = reason(why)?;
        let mut stored: StoredOperator = self.batch.record(text(operator_id))?.ok_or(ServiceError::NotFound(Resource::Operator))?;
        if stored.operator.disabled_at.is_some() {
            return Err(Conflict::OperatorDisabled.into());
        }
        stored.operator.disabled_at = Some(self.now);
        self.batch.put_record(&stored);
        self.audit(actor, AuditAction::OperatorDisable, operator_id.as_str(), &why, &[])?;
        Ok(Outcome::Operator(stored.operator))
    }

    /// Evidence the complainant uploaded and has not attached to a case yet, checked against the
    /// case's limits together with what it already holds.
    pub(crate) fn attachable_evidence(
        &mut self,
        complainant_id: &UserId,
        evidence_ids: Vec<EvidenceId>,
        attached: &[EvidenceId],
    ) -> ServiceResult<Vec<Evidence>> {
        let rules = &self.config.complaints;
        let (max_files, max_bytes) = (rules.max_files_per_case, rules.max_case_bytes);
        let mut files = Vec::new();
        for evidence_id in distinct(evidence_ids) {
            let evidence: Evidence = self.batch.record(text(&evidence_id))?.ok_or(ServiceError::NotFound(Resource::Evidence))?;
            if evidence.uploaded_by != complainant_id.as_str() {
                return Err(ServiceError::NotFound(Resource::Evidence));
            }
            if let Some(case_id) = &evidence.case_id {
                return Err(Conflict::EvidenceAttached { evidence_id: evidence_id.clone(), case_id: case_id.clone() }.into());
            }
            files.push(evidence);
        }
        let mut total: u64 = files.iter().map(|file| file.size).sum();
        for evidence_id in attached {
            let evidence: Evidence = self.batch.record(text(evidence_id))?.ok_or_else(|| hongbao_store::corrupt(format!("missing evidence {evidence_id}")))?;
            total += evidence.size;
        }
        if attached.len() + files.len() > max_files {
            return Err(OverLimit::CaseFiles { max: max_files }.into());
        }
        if total > max_bytes {
            return Err(OverLimit::CaseBytes { max: max_bytes, total }.into());
        }
        Ok(files)
    }

    pub(crate) fn labels_of(&mut self, evidence_ids: &[EvidenceId]) -> ServiceResult<Vec<Option<EvidenceLabel>>> {
        let mut labels = Vec::new();
        for evidence_id in evidence_ids {
            let evidence: Evidence = self.batch.record(text(evidence_id))?.ok_or_else(|| hongbao_store::corrupt(format!("missing evidence {evidence_id}")))?;
            labels.push(evidence.label);
        }
        Ok(labels)
    }

    pub(crate) fn attach(&mut self, files: Vec<Evidence>, case_id: &ComplaintId) {
        for mut file in files {
            file.case_id = Some(case_id.clone());
            self.batch.put_record(&file);
        }
    }

    pub(crate) fn submit_complaint(
        &mut self,
        complainant_id: UserId,
        kind: ComplaintKind,
        txn_nos: Vec<TxnNo>,
        description: &str,
        evidence_ids: Vec<EvidenceId>,
    ) -> ServiceResult<Outcome> {
        let description = required_text(description, "description", self.config.complaints.max_description_chars)?;
        let txn_nos = distinct(txn_nos);
        if kind.needs_transactions() && txn_nos.is_empty() {
            return Err(Invalid::ComplaintWithoutTransactions { kind }.into());
        }
        if txn_nos.len() > self.config.complaints.max_transactions {
            return Err(Invalid::TooManyTransactions { max: self.config.complaints.max_transactions }.into());
        }
        let mut entries = Vec::new();
        let mut respondents = Vec::new();
        for txn_no in &txn_nos {
            let not_yours = || ServiceError::Invalid(Invalid::NotYourTransaction { txn_no: txn_no.clone() });
            let entry = self.batch.journal_entry(txn_no)?.ok_or_else(not_yours)?;
            let parties = self.batch.txn_parties(&entry)?;
            if !parties.contains(&complainant_id) {
                return Err(not_yours());
            }
            respondents.extend(parties.into_iter().filter(|party| party != &complainant_id));
            // The recipients of the complainant's payment are the case's respondents: for a packet,
            // everyone who claimed it.
            let legs = self.payment_legs(&entry)?;
            respondents.extend(legs.into_iter().filter(|leg| leg.payer == complainant_id).map(|leg| leg.recipient));
            entries.push(entry);
        }
        let files = self.attachable_evidence(&complainant_id, evidence_ids, &[])?;
        let id = ComplaintId::generate(self.now, self.rng);
        let new = NewComplaint {
            id: id.clone(),
            kind,
            complainant_id,
            respondent_ids: distinct(respondents),
            txn_nos,
            description,
            evidence: files.iter().map(|file| (file.id.clone(), file.label)).collect(),
        };
        let mut complaint = Complaint::submit(new, &self.config.complaints, self.now);
        self.attach(files, &id);
        if kind == ComplaintKind::SystemFault {
            self.refund_system_fault(&mut complaint, &entries)?;
        }
        self.batch.put_record(&complaint);
        self.notify_complaint(&complaint)?;
        Ok(Outcome::Complaint(complaint))
    }

    /// Gives back at once whatever money of a system-fault complaint was never claimed or settled: the
    /// complainant's open packets are recalled and their unsettled transfers cancelled. When that is
    /// all of it, the case is resolved as refunded; otherwise it goes to review with what was refunded.
    pub(crate) fn refund_system_fault(&mut self, complaint: &mut Complaint, entries: &[JournalEntry]) -> ServiceResult<()> {
        let complainant = complaint.complainant_id.clone();
        let mut refunded = Amount::ZERO;
        let mut everything = !entries.is_empty();
        let mut steps = Vec::new();
        for entry in entries {
            let related = entry.txn.related();
            match (entry.txn.kind(), &related.packet_id, &related.transfer_id) {
                (TxnKind::PacketSend, Some(packet_id), _) => {
                    let packet = self.batch.packet(packet_id)?.ok_or_else(|| hongbao_store::corrupt(format!("missing packet {packet_id}")))?;
                    if packet.sender_id != complainant || packet.status != PacketStatus::Open {
                        everything = false;
                        continue;
                    }
                    everything &= packet.claimed_count == 0;
                    // A packet past its time that the scheduler has not refunded yet is refunded as expired.
                    let refund = match packet.recall(&complainant, self.now) {
                        Err(hongbao_core::PacketError::Expired { .. }) => packet.expire(self.now),
                        other => other,
                    }
                    .map_err(ServiceError::Packet)?;
                    let packet = self.refund(packet, refund)?;
                    refunded = refunded.checked_add(packet.refunded_amount).unwrap_or(refunded);
                    steps.push(format!("{}:{}", packet.id, packet.refunded_amount.minor_units()));
                }
                (TxnKind::TransferSend, _, Some(transfer_id)) => {
                    let mut transfer = self.batch.transfer(transfer_id)?.ok_or_else(|| hongbao_store::corrupt(format!("missing transfer {transfer_id}")))?;
                    if transfer.sender_id != complainant || !transfer.status_at(self.now).is_open() {
                        everything = false;
                        continue;
                    }
                    let release = transfer.cancel_for_system_fault(self.now)?;
                    self.release_hold(&mut transfer, release)?;
                    self.batch.update_transfer(transfer.clone());
                    self.notify_transfer(&transfer)?;
                    refunded = refunded.checked_add(transfer.amount).unwrap_or(refunded);
                    steps.push(format!("{}:{}", transfer.id, transfer.amount.minor_units()));
                }
                _ => everything = false,
            }
        }
        if refunded.is_zero() {
            return Ok(());
        }
        // Every way of getting money back counts toward the velocity rule, the platform's own refund of
        // a system fault included: complaints must not be a side door around it.
        for _ in 0..steps.len() {
            self.record_velocity(&complainant, VelocityAction::SystemFaultRefund)?;
        }
        complaint.record_refund(refunded, self.now)?;
        if everything {
            complaint.resolve(CaseOutcome::Refunded, "refunded automatically: the money was never claimed or settled".into(), self.now)?;
        }
        let detail = [("refunded", refunded.minor_units().to_string()), ("steps", steps.join(",")), ("resolved", everything.to_string())];
        self.audit(&Actor::System, AuditAction::CaseAutoRefund, complaint.id.as_str(), "system fault: money never claimed or settled", &detail)
    }

    /// A case its complainant may act on; others cannot see it.
    pub(crate) fn own_complaint(&mut self, complainant_id: &UserId, complaint_id: &ComplaintId) -> ServiceResult<Complaint> {
        let complaint: Complaint = self.batch.record(text(complaint_id))?.ok_or(ServiceError::NotFound(Resource::Complaint))?;
        if &complaint.complainant_id != complainant_id {
            return Err(ServiceError::NotFound(Resource::Complaint));
        }
        Ok(complaint)
    }

    pub(crate) fn add_evidence(&mut self, complainant_id: &UserId, complaint_id: &ComplaintId, evidence_ids: Vec<EvidenceId>) -> ServiceResult<Outcome> {
        let mut complaint = self.own_complaint(complainant_id, complaint_id)?;
        if evidence_ids.is_empty() {
            return Err(Invalid::NoEvidenceNamed.into());
        }
        if complaint.status.is_resolved() {
            return Err(Conflict::CaseResolved { case_id: complaint_id.clone() }.into());
        }
        let files = self.attachable_evidence(complainant_id, evidence_ids, &complaint.evidence_ids.clone())?;
        let mut all_ids = complaint.evidence_ids.clone();
        all_ids.extend(files.iter().map(|file| file.id.clone()));
        let mut labels = self.labels_of(&complaint.evidence_ids.clone())?;
        labels.extend(files.iter().map(|file| file.label));
        complaint.add_evidence(files.iter().map(|file| file.id.clone()).collect(), &labels, self.now)?;
        self.attach(files, complaint_id);
        self.batch.put_record(&complaint);
        self.notify_complaint(&complaint)?;
        Ok(Outcome::Complaint(complaint))
    }

    pub(crate) fn case(&mut self, complaint_id: &ComplaintId) -> ServiceResult<Complaint> {
        self.batch.record(text(complaint_id))?.ok_or(ServiceError::NotFound(Resource::Case))
    }

    pub(crate) fn assign(&mut self, actor: &Actor, complaint_id: &ComplaintId, why: &str) -> ServiceResult<Outcome> {
        actor.require(Permission::TakeCase)?;
        let why = reason(why)?;
        let mut complaint = self.case(complaint_id)?;
        complaint.assign(actor.operator_id()?, self.now)?;
        self.batch.put_record(&complaint);
        self.audit(actor, AuditAction::CaseAssign, complaint_id.as_str(), &why, &[])?;
        self.notify_complaint(&complaint)?;
        Ok(Outcome::Complaint(complaint))
    }

    pub(crate) fn request_evidence(&mut self, actor: &Actor, complaint_id: &ComplaintId, why: &str) -> ServiceResult<Outcome> {
        actor.require(Permission::RequestEvidence)?;
        let why = reason(why)?;
        let mut complaint = self.case(complaint_id)?;
        complaint.request_evidence(why.clone(), self.now)?;
        self.batch.put_record(&complaint);
        self.audit(actor, AuditAction::CaseRequestEvidence, complaint_id.as_str(), &why, &[])?;
        self.notify_complaint(&complaint)?;
        Ok(Outcome::Complaint(complaint))
    }

    pub(crate) fn resolve(&mut self, actor: &Actor, complaint_id: &ComplaintId, outcome: CaseOutcome, why: &str) -> ServiceResult<Outcome> {
        actor.require(Permission::ResolveCase)?;
        let why = reason(why)?;
        let mut complaint = self.case(complaint_id)?;
        complaint.check_resolve(outcome)?;
        // A case sent to the police or a court keeps its freezes for them; any other ending lifts them.
        if outcome != CaseOutcome::Referred {
            let query = Query::newest_first(&records::FREEZES, 1_000).equal("case_id", text(complaint_id));
            for mut freeze in self.batch.records::<Freeze>(&query)? {
                if freeze.is_active(self.now) {
                    freeze.lift(actor.id(), format!("case {complaint_id} resolved as {outcome}"), self.now)?;
                    self.batch.put_record(&freeze);
                    self.notify(&freeze.user_id.clone(), EventKind::FreezeLifted, freeze.id.as_str(), vec![("reason", "case resolved".to_owned())])?;
                }
            }
        }
        complaint.resolve(outcome, why.clone(), self.now)?;
        self.batch.put_record(&complaint);
        let detail = [("outcome", outcome.as_str().to_owned()), ("refunded", complaint.refunded_amount.minor_units().to_string())];
        self.audit(actor, AuditAction::CaseResolve, complaint_id.as_str(), &why, &detail)?;
        self.notify_complaint(&complaint)?;
        Ok(Outcome::Complaint(complaint))
    }

    pub(crate) fn place_freeze(
        &mut self,
        actor: &Actor,
        user_id: UserId,
        amount: Option<Amount>,
        until: Option<Timestamp>,
        cause: FreezeCause,
        why: &str,
    ) -> ServiceResult<Outcome> {
        actor.require(Permission::Freeze)?;
        let why = reason(why)?;
        self.require_user(&user_id)?;
        let scope = match amount {
            None => FreezeScope::Full,
            Some(amount) if amount.is_zero() => return Err(Invalid::EmptyHold.into()),
            Some(amount) => FreezeScope::Hold(amount),
        };
        if until.is_some_and(|until| until <= self.now) {
            return Err(Invalid::UntilPassed.into());
        }
        let case_id = match &cause {
            FreezeCause::Case(case_id) => {
                let complaint = self.case(case_id)?;
                if complaint.status.is_resolved() {
                    return Err(Conflict::CaseResolved { case_id: case_id.clone() }.into());
                }
                if !complaint.respondent_ids.contains(&user_id) && !self.case_legs(&complaint)?.iter().any(|(_, leg)| leg.recipient == user_id) {
                    return Err(Invalid::NotAParty { user_id: user_id.clone(), case_id: case_id.clone() }.into());
                }
                Some(case_id.clone())
            }
            FreezeCause::Rule(rule) => {
                required_text(rule, "rule", 64)?;
                None
            }
            FreezeCause::Velocity => None,
        };
        let freeze = Freeze {
            id: FreezeId::generate(self.now, self.rng),
            user_id,
            scope,
            refunded_amount: Amount::ZERO,
            cause,
            reason: why.clone(),
            created_by: actor.id(),
            created_at: self.now,
            until,
            lift: None,
        };
        self.batch.put_record(&freeze);
        let mut data = vec![("scope", freeze_scope_name(freeze.scope).to_owned())];
        if let FreezeScope::Hold(amount) = freeze.scope {
            data.push(("amount", amount.minor_units().to_string()));
        }
        if let Some(until) = freeze.until {
            data.push(("until", until.to_rfc3339()));
        }
        let mut detail = data.clone();
        detail.push(("user", freeze.user_id.to_string()));
        if let Some(case_id) = case_id {
            detail.push(("case", case_id.to_string()));
        }
        self.notify(&freeze.user_id, EventKind::FreezePlaced, freeze.id.as_str(), data)?;
        self.audit(actor, AuditAction::FreezeCreate, freeze.id.as_str(), &why, &detail)?;
        Ok(Outcome::Freeze(freeze))
    }

    pub(crate) fn lift_freeze(&mut self, actor: &Actor, freeze_id: &FreezeId, why: &str) -> ServiceResult<Outcome> {
        actor.require(Permission::Freeze)?;
        let why = reason(why)?;
        let mut freeze: Freeze = self.batch.record(text(freeze_id))?.ok_or(ServiceError::NotFound(Resource::Freeze))?;
        freeze.lift(actor.id(), why.clone(), self.now)?;
        self.batch.put_record(&freeze);
        self.notify(&freeze.user_id, EventKind::FreezeLifted, freeze_id.as_str(), vec![("reason", why.clone())])?;
        self.audit(actor, AuditAction::FreezeLift, freeze_id.as_str(), &why, &[("user", freeze.user_id.to_string())])?;
        Ok(Outcome::Freeze(freeze))
    }

    /// The ways the complainant's payments named by a case reached their recipients, as they stand
    /// now (a packet's later claims included).
    pub(crate) fn case_legs(&mut self, complaint: &Complaint) -> ServiceResult<Vec<(TxnNo, PaymentLeg)>> {
        let mut legs = Vec::new();
        for txn_no in &complaint.txn_nos {
            let Some(entry) = self.batch.journal_entry(txn_no)? else { continue };
            for leg in self.payment_legs(&entry)? {
                if leg.payer == complaint.complainant_id {
                    legs.push((txn_no.clone(), leg));
                }
            }
        }
        Ok(legs)
    }

    /// The payment of a case that a refund out of `frozen_user`'s freeze corrects: the one `txn_no`
    /// names (the case's transaction, or the claim or settlement of it), or the only one that reached
    /// that user. Refused when the user received nothing of the case's payments, or when several
    /// payments reached them and none is named.
    pub(crate) fn refunded_leg(&mut self, complaint: &Complaint, frozen_user: &UserId, txn_no: Option<&TxnNo>) -> ServiceResult<PaymentLeg> {
        let mut legs: Vec<PaymentLeg> = self
            .case_legs(complaint)?
            .into_iter()
            .filter(|(case_txn_no, leg)| &leg.recipient == frozen_user && txn_no.is_none_or(|named| named == case_txn_no || named == &leg.txn_no))
            .map(|(_, leg)| leg)
            .collect();
        legs.dedup_by(|a, b| a.txn_no == b.txn_no);
        match (legs.len(), txn_no) {
            (1, _) => Ok(legs.remove(0)),
            (0, Some(named)) => Err(Invalid::NotAPaymentOfCase { txn_no: named.clone(), case_id: complaint.id.clone(), user_id: frozen_user.clone() }.into()),
            (0, None) => Err(Invalid::NoPaymentReached { case_id: complaint.id.clone(), user_id: frozen_user.clone() }.into()),
            _ => Err(Invalid::SeveralPayments { user_id: frozen_user.clone(), txn_nos: legs.into_iter().map(|leg| leg.txn_no).collect() }.into()),
        }
    }

    /// Everything a refund out of a case's freeze must pass, at the moment it is asked and again when
    /// a second reviewer approves it: the case is open, the freeze was placed for it and holds enough,
    /// and the payment it corrects has at least `amount` left to give back (returns, case refunds and
    /// reversals share one remainder per payment).
    pub(crate) fn check_case_refund(
        &mut self,
        complaint_id: &ComplaintId,
        freeze_id: &FreezeId,
        amount: Amount,
        txn_no: Option<&TxnNo>,
    ) -> ServiceResult<(Complaint, Freeze, PaymentLeg)> {
        if amount.is_zero() {
            return Err(Invalid::ZeroAmount.into());
        }
        let complaint = self.case(complaint_id)?;
        if complaint.status.is_resolved() {
            return Err(Conflict::CaseResolved { case_id: complaint_id.clone() }.into());
        }
        let freeze: Freeze = self.batch.record(text(freeze_id))?.ok_or(ServiceError::NotFound(Resource::Freeze))?;
        if freeze.cause != FreezeCause::Case(complaint_id.clone()) {
            return Err(Invalid::FreezeOfAnotherCase { freeze_id: freeze_id.clone(), case_id: complaint_id.clone() }.into());
        }
        freeze.check_refund(amount, self.now)?;
        let leg = self.refunded_leg(&complaint, &freeze.user_id, txn_no)?;
        let corrected = self.batch.corrected_amount(&leg.txn_no)?;
        let left = Amount::new((leg.amount.minor_units() - corrected).max(0)).unwrap_or(Amount::ZERO);
        if amount > left {
            return Err(Conflict::NothingLeft { txn_no: leg.txn_no, paid: leg.amount, left }.into());
        }
        Ok((complaint, freeze, leg))
    }

    /// Moves money out of a freeze placed for the case to its complainant, correcting one payment of
    /// the case and never more than is left of it. The frozen wallet's balance bounds it as well as the
    /// freeze: a refund never overdraws. Above the policy's four-eyes amount it only asks: a second
    /// reviewer's approval carries it out ([`CaseOp::DecideCaseRefund`]).
    pub(crate) fn refund_from_freeze(
        &mut self,
        actor: &Actor,
        complaint_id: &ComplaintId,
        freeze_id: &FreezeId,
        amount: Amount,
        why: &str,
        txn_no: Option<&TxnNo>,
    ) -> ServiceResult<Outcome> {
        actor.require(Permission::RefundFromFreeze)?;
        let why = reason(why)?;
        let (complaint, freeze, leg) = self.check_case_refund(complaint_id, freeze_id, amount, txn_no)?;
        if amount > self.batch.policy()?.case_refund_approval_above {
            let refund = CaseRefund {
                id: CaseRefundId::generate(self.now, self.rng),
                complaint_id: complaint_id.clone(),
                freeze_id: freeze_id.clone(),
                payer_id: freeze.user_id.clone(),
                recipient_id: complaint.complainant_id.clone(),
                corrects_txn_no: leg.txn_no.clone(),
                amount,
                reason: why.clone(),
                approval: Approval::new(actor.operator_id()?, self.now),
                refund_txn_no: None,
            };
            // Checks end here; what follows only writes.
            self.batch.put_record(&refund);
            let detail = [("amount", amount.minor_units().to_string()), ("freeze", freeze_id.to_string()), ("corrects", leg.txn_no.to_string())];
            self.audit(actor, AuditAction::CaseRefundRequest, refund.id.as_str(), &why, &detail)?;
            return Ok(Outcome::CaseRefund(refund));
        }
        let entry = self.carry_out_case_refund(complaint, freeze, &leg, amount, &why)?;
        let detail = [("amount", amount.minor_units().to_string()), ("freeze", freeze_id.to_string()), ("txn_no", entry.txn.txn_no().to_string())];
        self.audit(actor, AuditAction::CaseRefund, complaint_id.as_str(), &why, &detail)?;
        Ok(Outcome::Posted(entry))
    }

    /// Posts a checked case refund and records it on the freeze and the case, with notices to both
    /// parties.
    pub(crate) fn carry_out_case_refund(
        &mut self,
        mut complaint: Complaint,
        mut freeze: Freeze,
        leg: &PaymentLeg,
        amount: Amount,
        why: &str,
    ) -> ServiceResult<JournalEntry> {
        let txn_no = self.new_txn_no();
        let txn = LedgerTxn::transfer_between(
            txn_no,
            TxnKind::CaseRefund,
            self.now,
            amount,
            Account::Wallet(freeze.user_id.clone()),
            Account::Wallet(complaint.complainant_id.clone()),
            Related { corrects_txn_no: Some(leg.txn_no.clone()), ..Related::default() },
        )
        .with_memo(Some(why.to_owned()))
        .with_reference(Some(complaint.id.to_string()));
        let (payer, complainant) = (freeze.user_id.clone(), complaint.complainant_id.clone());
        let entry = self.post(txn, &[&payer, &complainant])?;
        freeze.record_refund(amount, self.now)?;
        complaint.record_refund(amount, self.now)?;
        self.batch.put_record(&freeze);
        self.batch.put_record(&complaint);
        let txn_no = entry.txn.txn_no().to_string();
        for user in [&complainant, &payer] {
            self.notify(user, EventKind::CaseRefunded, complaint.id.as_str(), vec![("amount", amount.minor_units().to_string()), ("txn_no", txn_no.clone())])?;
        }
        self.notify_complaint(&complaint)?;
        Ok(entry)
    }

    /// A second reviewer approves (and so carries out) or rejects a case refund that waited for it.
    /// Everything is checked again at approval: the payment's remainder and the freeze may have
    /// changed meanwhile.
    pub(crate) fn decide_case_refund(&mut self, actor: &Actor, refund_id: &CaseRefundId, decision: Decision, why: &str) -> ServiceResult<Outcome> {
        actor.require(Permission::RefundFromFreeze)?;
        let officer = actor.operator_id()?;
        let why = reason(why)?;
        let mut refund: CaseRefund = self.batch.record(text(refund_id))?.ok_or(ServiceError::NotFound(Resource::CaseRefund))?;
        if decision == Decision::Reject {
            refund.approval.reject(officer, why.clone(), self.now)?;
            self.batch.put_record(&refund);
            self.audit(actor, AuditAction::CaseRefundReject, refund_id.as_str(), &why, &[("case", refund.complaint_id.to_string())])?;
            return Ok(Outcome::CaseRefund(refund));
        }
        refund.approval.check_approve(&officer)?;
        let (complaint, freeze, leg) = self.check_case_refund(&refund.complaint_id, &refund.freeze_id, refund.amount, Some(&refund.corrects_txn_no))?;
        let entry = self.carry_out_case_refund(complaint, freeze, &leg, refund.amount, &refund.reason)?;
        refund.approval.approve(officer, why.clone(), self.now)?;
        refund.refund_txn_no = Some(entry.txn.txn_no().clone());
        self.batch.put_record(&refund);
        let detail =
            [("amount", refund.amount.minor_units().to_string()), ("case", refund.complaint_id.to_string()), ("txn_no", entry.txn.txn_no().to_string())];
        self.audit(actor, AuditAction::CaseRefundApprove, refund_id.as_str(), &why, &detail)?;
        Ok(Outcome::CaseRefund(refund))
    }

    pub(crate) fn request_reversal(&mut self, actor: &Actor, txn_no: TxnNo, amount: Option<Amount>, why: &str, reference: &str) -> ServiceResult<Outcome> {
        actor.require(Permission::RequestLegal)?;
        let requested_by = actor.operator_id()?;
        let why = reason(why)?;
        let reference = required_text(reference, "reference", 200)?;
        let entry = self.batch.journal_entry(&txn_no)?.ok_or(ServiceError::NotFound(Resource::Transaction))?;
        let Some((payer_id, recipient_id)) = self.payer_and_recipient(&entry)? else {
            return Err(Invalid::NotAPayment { action: "reversed" }.into());
        };
        let query = Query::newest_first(&records::REVERSALS, 1_000).equal("txn_no", text(&txn_no));
        if self.batch.records::<Reversal>(&query)?.iter().any(|reversal| reversal.approval.status == ApprovalStatus::Pending) {
            return Err(Conflict::ReversalPending { txn_no }.into());
        }
        let left = self.uncorrected(&entry)?;
        let amount = amount.unwrap_or(left);
        if amount.is_zero() || amount > left {
            return Err(Invalid::ReversalAmount { txn_no, left, amount }.into());
        }
        let reversal = Reversal {
            id: ReversalId::generate(self.now, self.rng),
            txn_no,
            payer_id,
            recipient_id,
            amount,
            reason: why.clone(),
            reference: reference.clone(),
            approval: Approval::new(requested_by, self.now),
            reversal_txn_no: None,
        };
        self.batch.put_record(&reversal);
        let detail = [("txn_no", reversal.txn_no.to_string()), ("amount", amount.minor_units().to_string()), ("reference", reference)];
        self.audit(actor, AuditAction::ReversalRequest, reversal.id.as_str(), &why, &detail)?;
        Ok(Outcome::Reversal(reversal))
    }

    pub(crate) fn decide_reversal(&mut self, actor: &Actor, reversal_id: &ReversalId, decision: Decision, why: &str) -> ServiceResult<Outcome> {
        actor.require(Permission::DecideLegal)?;
        let officer = actor.operator_id()?;
        let why = reason(why)?;
        let mut reversal: Reversal = self.batch.record(text(reversal_id))?.ok_or(ServiceError::NotFound(Resource::Reversal))?;
        if decision == Decision::Reject {
            reversal.approval.reject(officer, why.clone(), self.now)?;
            self.batch.put_record(&reversal);
            self.audit(actor, AuditAction::ReversalReject, reversal_id.as_str(), &why, &[])?;
            return Ok(Outcome::Reversal(reversal));
        }
        reversal.approval.check_approve(&officer)?;
        let entry = self
            .batch
            .journal_entry(&reversal.txn_no)?
            .ok_or_else(|| hongbao_store::corrupt(format!("reversal of missing transaction {}", reversal.txn_no)))?;
        let left = self.uncorrected(&entry)?;
        if reversal.amount > left {
            return Err(Conflict::NothingLeft { txn_no: reversal.txn_no.clone(), paid: entry.txn.amount(), left }.into());
        }
        let related = Related { corrects_txn_no: Some(reversal.txn_no.clone()), ..Related::default() };
        let txn = LedgerTxn::transfer_between(
            self.new_txn_no(),
            TxnKind::Reversal,
            self.now,
            reversal.amount,
            Account::Wallet(reversal.recipient_id.clone()),
            Account::Wallet(reversal.payer_id.clone()),
            related,
        )
        .with_memo(Some(reversal.reference.clone()))
        .with_reference(Some(reversal_id.to_string()));
        let (payer, recipient) = (reversal.payer_id.clone(), reversal.recipient_id.clone());
        let posted = self.post(txn, &[&payer, &recipient])?;
        reversal.approval.approve(officer, why.clone(), self.now)?;
        reversal.reversal_txn_no = Some(posted.txn.txn_no().clone());
        self.batch.put_record(&reversal);
        let data = vec![
            ("txn_no", reversal.txn_no.to_string()),
            ("amount", reversal.amount.minor_units().to_string()),
            ("reversal_txn_no", posted.txn.txn_no().to_string()),
        ];
        for user in [&payer, &recipient] {
            self.notify(user, EventKind::TransactionReversed, reversal.txn_no.as_str(), data.clone())?;
        }
        self.audit(actor, AuditAction::ReversalApprove, reversal_id.as_str(), &why, &[("reversal_txn_no", posted.txn.txn_no().to_string())])?;
        Ok(Outcome::Reversal(reversal))
    }

    pub(crate) fn request_disclosure(&mut self, actor: &Actor, user_id: UserId, requester: &str, reference: &str, why: &str) -> ServiceResult<Outcome> {
        actor.require(Permission::RequestLegal)?;
        let requested_by = actor.operator_id()?;
        let why = reason(why)?;
        let requester = required_text(requester, "requester", 200)?;
        let reference = required_text(reference, "reference", 200)?;
        self.require_user(&user_id)?;
        let disclosure = Disclosure {
            id: DisclosureId::generate(self.now, self.rng),
            user_id,
            requester: requester.clone(),
            reference: reference.clone(),
            reason: why.clone(),
            approval: Approval::new(requested_by, self.now),
        };
        self.batch.put_record(&disclosure);
        let detail = [("user", disclosure.user_id.to_string()), ("requester", requester), ("reference", reference)];
        self.audit(actor, AuditAction::DisclosureRequest, disclosure.id.as_str(), &why, &detail)?;
        Ok(Outcome::Disclosure(disclosure))
    }

    pub(crate) fn decide_disclosure(&mut self, actor: &Actor, disclosure_id: &DisclosureId, decision: Decision, why: &str) -> ServiceResult<Outcome> {
        actor.require(Permission::DecideLegal)?;
        let officer = actor.operator_id()?;
        let why = reason(why)?;
        let mut disclosure: Disclosure = self.batch.record(text(disclosure_id))?.ok_or(ServiceError::NotFound(Resource::Disclosure))?;
        let action = match decision {
            Decision::Approve => {
                disclosure.approval.approve(officer, why.clone(), self.now)?;
                AuditAction::DisclosureApprove
            }
            Decision::Reject => {
                disclosure.approval.reject(officer, why.clone(), self.now)?;
                AuditAction::DisclosureReject
            }
        };
        self.batch.put_record(&disclosure);
        self.audit(actor, action, disclosure_id.as_str(), &why, &[("user", disclosure.user_id.to_string())])?;
        Ok(Outcome::Disclosure(disclosure))
    }
}
