//! What a case dossier holds, gathered for the HTTP layer to pack: the case, its evidence files, a
//! receipt of every transaction it involves (its payments, the refunds it made, the reversals of its
//! payments), the audit-log entries of the case with the entries that chain them, and the checkpoint
//! and key everything is proven against. This is what support hands to a court, the police or a
//! mediator; `hongbao dossier verify` checks it offline with the operator's public key.
//!
//! Who may have it: legal officers, auditors and the admin (who may read the audit log), and the
//! complainant for their own case. The complainant's dossier carries only the case's own audit entries,
//! not the entries of other matters between them, so the chain is shown entry by entry, and link by
//! link only where entries are adjacent; the operators' dossier carries the whole stretch of the audit
//! log from the case's first entry to its last, so every link is there.

use std::collections::BTreeSet;
use std::path::PathBuf;

use hongbao_core::cases::{Complaint, Evidence};
use hongbao_core::freeze::{Freeze, FreezeCause};
use hongbao_core::legal::Reversal;
use hongbao_core::staff::{AuditEntry, Permission};
use hongbao_core::{ComplaintId, Timestamp, TxnNo};
use hongbao_store::JournalEntry;
use hongbao_store::records::{self, Query, Value, text};
use hongbao_store::transparency::StoredCheckpoint;
use hongbao_tlog::VerifierKey;

use crate::{Principal, Service, ServiceResult};

/// Why a transaction is in a dossier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DossierRole {
    /// A payment the complaint is about.
    Payment,
    /// Money the case gave back: a refund from a freeze, or an automatic refund of a system fault.
    Refund,
    /// An approved reversal of one of the case's payments.
    Reversal,
}

impl DossierRole {
    pub fn as_str(self) -> &'static str {
        match self {
            DossierRole::Payment => "payment",
            DossierRole::Refund => "refund",
            DossierRole::Reversal => "reversal",
        }
    }
}

/// A transaction of the case with its receipt.
#[derive(Clone, Debug)]
pub struct DossierTransaction {
    pub role: DossierRole,
    pub entry: JournalEntry,
    /// The receipt, a C2SP `tlog-proof`, against [`Dossier::checkpoint`].
    pub receipt: String,
}

/// An audit-log entry, and whether it is about the case (or only chains entries that are).
#[derive(Clone, Debug)]
pub struct DossierAuditEntry {
    pub entry: AuditEntry,
    pub of_case: bool,
}

/// Everything a dossier holds.
#[derive(Clone, Debug)]
pub struct Dossier {
    pub complaint: Complaint,
    /// Each file of evidence with where its bytes are in the evidence store.
    pub evidence: Vec<(Evidence, PathBuf)>,
    pub freezes: Vec<Freeze>,
    pub reversals: Vec<Reversal>,
    pub transactions: Vec<DossierTransaction>,
    /// In sequence order.
    pub audit: Vec<DossierAuditEntry>,
    /// The checkpoint every receipt is proven against, made when the dossier was.
    pub checkpoint: StoredCheckpoint,
    pub verifier_key: VerifierKey,
    pub made_at: Timestamp,
}

impl Service {
    /// The dossier of a case: for legal officers, auditors and the admin, and for the complainant of
    /// their own case (others get "not found" or "forbidden", as for the case itself).
    pub async fn dossier(&self, viewer: &Principal, case_id: &ComplaintId) -> ServiceResult<Dossier> {
        let complete_chain = match viewer {
            Principal::User(_) => false,
            _ => {
                viewer.actor()?.require(Permission::ReadAuditLog)?;
                true
            }
        };
        // The complainant's own case, or for operators any case; others are told it does not exist.
        let complaint = self.complaint(viewer, case_id).await?;
        let case_key = text(&complaint.id);
        let payments = complaint.txn_nos.clone();
        let payment_keys: Vec<Value> = payments.iter().map(text).collect();
        let evidence_keys: Vec<Value> = complaint.evidence_ids.iter().map(text).collect();
        let (evidence, freezes, reversals, case_audit) = self
            .read(move |conn| {
                let evidence: Vec<Evidence> = records::list(conn, &Query::by_keys(&records::EVIDENCE, evidence_keys))?;
                let freezes: Vec<Freeze> = records::list(conn, &Query::newest_first(&records::FREEZES, 1_000).equal("case_id", case_key.clone()).ascending())?;
                let mut reversals: Vec<Reversal> = Vec::new();
                for key in &payment_keys {
                    reversals
                        .extend(records::list::<Reversal>(conn, &Query::newest_first(&records::REVERSALS, 1_000).equal("txn_no", key.clone()).ascending())?);
                }
                let mut targets: Vec<Value> = vec![case_key];
                targets.extend(freezes.iter().map(|freeze| text(&freeze.id)));
                targets.extend(reversals.iter().map(|reversal| text(&reversal.id)));
                let mut query = Query::newest_first(&records::AUDIT_LOG, 10_000).ascending();
                query.any_of = Some(("target", targets));
                let audit: Vec<AuditEntry> = records::list(conn, &query)?;
                Ok((evidence, freezes, reversals, audit))
            })
            .await?;
        let freezes: Vec<Freeze> = freezes.into_iter().filter(|freeze| freeze.cause == FreezeCause::Case(complaint.id.clone())).collect();

        // The case's transactions: its payments, what it refunded (named in its audit entries), and
        // the approved reversals of its payments.
        let mut wanted: Vec<(DossierRole, TxnNo)> = payments.iter().map(|txn_no| (DossierRole::Payment, txn_no.clone())).collect();
        wanted.extend(case_audit.iter().filter_map(refunds_named).map(|txn_no| (DossierRole::Refund, txn_no)));
        let auto_refunded = self.auto_refund_txn_nos(&case_audit).await?;
        wanted.extend(auto_refunded.into_iter().map(|txn_no| (DossierRole::Refund, txn_no)));
        wanted.extend(reversals.iter().filter_map(|reversal| reversal.reversal_txn_no.clone()).map(|txn_no| (DossierRole::Reversal, txn_no)));
        let mut seen = BTreeSet::new();
        wanted.retain(|(_, txn_no)| seen.insert(txn_no.clone()));

        let (checkpoint, receipts) = self.receipts_for(wanted.iter().map(|(_, txn_no)| txn_no.clone()).collect()).await?;
        let entries = {
            let txn_nos: Vec<TxnNo> = receipts.iter().map(|(txn_no, _)| txn_no.clone()).collect();
            self.read(move |conn| {
                let mut entries = Vec::new();
                for txn_no in &txn_nos {
                    entries.push(conn.journal_entry(txn_no)?.ok_or_else(|| hongbao_store::corrupt(format!("transaction {txn_no} vanished")))?);
                }
                Ok(entries)
            })
            .await?
        };
        let transactions = receipts
            .into_iter()
            .zip(entries)
            .map(|((txn_no, receipt), entry)| {
                let role = wanted.iter().find(|(_, wanted)| *wanted == txn_no).map_or(DossierRole::Payment, |(role, _)| *role);
                DossierTransaction { role, entry, receipt }
            })
            .collect();

        let case_seqs: BTreeSet<u64> = case_audit.iter().map(|entry| entry.seq).collect();
        let audit = match (complete_chain, case_seqs.first(), case_seqs.last()) {
            (true, Some(&first), Some(&last)) => {
                let query = Query::newest_first(&records::AUDIT_LOG, 10_000)
                    .ascending()
                    .at_least("seq", Value::Int(first as i64))
                    .at_most("seq", Value::Int(last as i64));
                let stretch: Vec<AuditEntry> = self.read(move |conn| Ok(records::list(conn, &query)?)).await?;
                stretch.into_iter().map(|entry| DossierAuditEntry { of_case: case_seqs.contains(&entry.seq), entry }).collect()
            }
            _ => case_audit.into_iter().map(|entry| DossierAuditEntry { entry, of_case: true }).collect(),
        };

        let evidence = evidence.into_iter().map(|file| (file.clone(), self.evidence_store().path_of(&file.sha256))).collect();
        Ok(Dossier {
            complaint,
            evidence,
            freezes,
            reversals,
            transactions,
            audit,
            checkpoint,
            verifier_key: self.log_verifier_key(),
            made_at: self.clock().now(),
        })
    }

    /// The refunds an automatic system-fault refund made: its audit entry names the packets and
    /// transfers it refunded (`steps=pkt_…:amount,trf_…:amount`), whose refund transactions these are.
    async fn auto_refund_txn_nos(&self, case_audit: &[AuditEntry]) -> ServiceResult<Vec<TxnNo>> {
        let steps: Vec<String> = case_audit
            .iter()
            .filter(|entry| entry.record.action == hongbao_core::staff::AuditAction::CaseAutoRefund)
            .flat_map(|entry| detail_value(&entry.record.detail, "steps").unwrap_or_default().split(',').map(str::to_owned).collect::<Vec<_>>())
            .filter_map(|step| step.split_once(':').map(|(id, _)| id.to_owned()))
            .collect();
        if steps.is_empty() {
            return Ok(Vec::new());
        }
        self.read(move |conn| {
            let mut txn_nos = Vec::new();
            for id in steps {
                if let Ok(packet_id) = hongbao_core::PacketId::parse(&id)
                    && let Some(packet) = conn.packet(&packet_id)?
                {
                    txn_nos.extend(packet.refund_txn_no);
                } else if let Ok(transfer_id) = hongbao_core::TransferId::parse(&id)
                    && let Some(transfer) = conn.transfer(&transfer_id)?
                    && let Some(last) = transfer.txn_nos.last()
                    && transfer.txn_nos.len() > 1
                {
                    txn_nos.push(last.clone());
                }
            }
            Ok(txn_nos)
        })
        .await
    }
}

/// The refund a `case.refund` audit entry names (`txn_no=…`).
fn refunds_named(entry: &AuditEntry) -> Option<TxnNo> {
    if entry.record.action != hongbao_core::staff::AuditAction::CaseRefund {
        return None;
    }
    detail_value(&entry.record.detail, "txn_no").and_then(|text| TxnNo::parse(text).ok())
}

/// The value of `name` in an audit entry's `key=value` detail.
fn detail_value<'a>(detail: &'a str, name: &str) -> Option<&'a str> {
    detail.split(' ').find_map(|pair| pair.split_once('=').filter(|(key, _)| *key == name).map(|(_, value)| value))
}
