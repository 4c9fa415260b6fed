//! Uploads of evidence as writer operations: recording a file within its uploader's quota, and
//! removing the uploads never attached to a case once their time is up.
//!
//! Files live in the content-addressed store, where users who upload the same bytes share one file.
//! Whether a file is needed is decided only here, inside the writer's transaction and so under the
//! write lock that every process takes: a file is put in place by the operation that records it, and
//! deleted only by the removal, and only when no evidence record names it any more. An upload that is
//! refused puts nothing in place and deletes nothing, so it can never take away a file that another
//! upload of the same bytes, in this process or another, still needs.

use std::collections::BTreeMap;

use hongbao_core::cases::{Evidence, EvidenceLabel};
use hongbao_core::{EvidenceId, UserId};
use hongbao_store::records::{self, EvidenceUsage, Query, text};

use crate::config::EVIDENCE_MIN_CHARGE;
use crate::context::OpContext;
use crate::error::{ServiceError, ServiceResult};
use crate::evidence::{EvidenceStore, StoredFile};
use crate::outcome::Outcome;

#[derive(Clone, Debug)]
pub enum EvidenceOp {
    /// Records a file a user has uploaded (it waits in the store's staging area) and puts it in place.
    Record { uploaded_by: UserId, file: StoredFile, label: Option<EvidenceLabel> },
    /// Removes at most `limit` uploads never attached to a case, made more than
    /// `Config::evidence_unattached_ttl_seconds` ago, and their files when no other record names them.
    RemoveUnattached { limit: u32 },
}

/// What a file counts toward its uploader's quota.
fn charge_of(size: u64) -> u64 {
    size.max(EVIDENCE_MIN_CHARGE)
}

impl OpContext<'_, '_> {
    pub(crate) fn run_evidence(&mut self, op: EvidenceOp) -> ServiceResult<Outcome> {
        match op {
            EvidenceOp::Record { uploaded_by, file, label } => self.record_evidence(&uploaded_by, &file, label),
            EvidenceOp::RemoveUnattached { limit } => self.remove_unattached_evidence(limit),
        }
    }

    fn evidence_usage_of(&mut self, user_id: &UserId) -> ServiceResult<EvidenceUsage> {
        Ok(self.batch.record(text(user_id))?.unwrap_or(EvidenceUsage { user_id: user_id.clone(), bytes: 0, files: 0 }))
    }

    pub(crate) fn record_evidence(&mut self, uploaded_by: &UserId, file: &StoredFile, label: Option<EvidenceLabel>) -> ServiceResult<Outcome> {
        let mut usage = self.evidence_usage_of(uploaded_by)?;
        let charge = charge_of(file.size);
        let quota = self.config.evidence_quota_bytes;
        if usage.bytes.saturating_add(charge) > quota {
            return Err(crate::error::OverLimit::EvidenceQuota {
                quota,
                used: usage.bytes,
                needed: charge,
                unattached_ttl_seconds: self.config.evidence_unattached_ttl_seconds,
            }
            .into());
        }
        // Under the write lock: a removal that deletes these bytes' file runs wholly before or after.
        EvidenceStore::at(&self.config.evidence_dir)
            .place(file)
            .map_err(|error| ServiceError::Internal(format!("putting evidence {} in place failed: {error}", file.sha256)))?;
        // After this point, the operation must succeed.
        usage.bytes += charge;
        usage.files += 1;
        self.batch.put_record(&usage);
        let evidence = Evidence {
            id: EvidenceId::generate(self.now, self.rng),
            sha256: file.sha256.clone(),
            size: file.size,
            content_type: file.content_type.to_owned(),
            label,
            uploaded_by: uploaded_by.to_string(),
            case_id: None,
            created_at: self.now,
        };
        self.batch.put_record(&evidence);
        Ok(Outcome::Evidence(evidence))
    }

    pub(crate) fn remove_unattached_evidence(&mut self, limit: u32) -> ServiceResult<Outcome> {
        let made_by = self.now.plus_seconds(-self.config.evidence_unattached_ttl_seconds);
        let expired: Vec<Evidence> = self.batch.records(&records::unattached_evidence_until(made_by, limit))?;
        let mut removed_per_file: BTreeMap<String, u32> = BTreeMap::new();
        for evidence in &expired {
            let user_id = UserId::parse(&evidence.uploaded_by).map_err(|error| hongbao_store::corrupt(format!("evidence {}: {error}", evidence.id)))?;
            let mut usage = self.evidence_usage_of(&user_id)?;
            usage.bytes = usage.bytes.saturating_sub(charge_of(evidence.size));
            usage.files = usage.files.saturating_sub(1);
            self.batch.put_record(&usage);
            self.batch.delete_record::<Evidence>(text(&evidence.id));
            *removed_per_file.entry(evidence.sha256.clone()).or_default() += 1;
        }
        let store = EvidenceStore::at(&self.config.evidence_dir);
        for (sha256, removed) in removed_per_file {
            // The records removed here may still come back from the database; one more than those
            // tells whether any other record names the file.
            let query = Query::newest_first(&records::EVIDENCE, removed + 1).equal("sha256", text(&sha256));
            let still_named = !self.batch.records::<Evidence>(&query)?.is_empty();
            if !still_named {
                store.remove(&sha256).map_err(|error| ServiceError::Internal(format!("removing evidence {sha256} failed: {error}")))?;
            }
        }
        Ok(Outcome::Removed(expired.len()))
    }
}
