//! The platform's staff: operators with roles, what each role may do, and the append-only audit log of
//! their actions, hash-chained like the journal so that an edited row shows.

use sha2::{Digest, Sha256};

use crate::{JournalHash, OperatorId, Timestamp, named_enum};

named_enum!(
    Role {
        /// Views cases, takes them, asks for evidence.
        Support => "support",
        /// Also freezes, refunds from freezes, and resolves cases.
        Reviewer => "reviewer",
        /// Requests and approves reversals and identity disclosures.
        Legal => "legal",
        /// Reads everything, changes nothing.
        Auditor => "auditor",
    }
);

/// Something an operator route does, checked against the caller's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Cases, their evidence, freezes and wallets.
    ViewCases,
    TakeCase,
    RequestEvidence,
    Freeze,
    RefundFromFreeze,
    ResolveCase,
    /// Reversals and disclosures, including who they disclose once approved.
    ViewLegal,
    RequestLegal,
    DecideLegal,
    ReadAuditLog,
    /// Replace the risk policy.
    ReplacePolicy,
    /// Operators, webhooks and merchant API keys: the bootstrap admin's alone.
    ManagePlatform,
}

impl Role {
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Support => matches!(permission, ViewCases | TakeCase | RequestEvidence),
            Role::Reviewer => matches!(permission, ViewCases | TakeCase | RequestEvidence | Freeze | RefundFromFreeze | ResolveCase | ReplacePolicy),
            Role::Legal => matches!(permission, ViewCases | ViewLegal | RequestLegal | DecideLegal | ReadAuditLog),
            Role::Auditor => matches!(permission, ViewCases | ViewLegal | ReadAuditLog),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    pub id: OperatorId,
    pub name: String,
    pub role: Role,
    pub created_at: Timestamp,
    /// Once set, the operator's token no longer works.
    pub disabled_at: Option<Timestamp>,
}

/// The actor of the bootstrap admin's actions in the audit log.
pub const ADMIN_ACTOR: &str = "admin";
/// The actor of actions the service takes by itself, such as the automatic system-fault refund.
pub const SYSTEM_ACTOR: &str = "system";

named_enum!(
    /// What an operator (or the service, or the admin) did, as the audit log names it. The names are
    /// part of each record's hashed bytes: never rename one.
    AuditAction {
        OperatorCreate => "operator.create",
        OperatorDisable => "operator.disable",
        CaseAssign => "case.assign",
        CaseRequestEvidence => "case.request_evidence",
        CaseResolve => "case.resolve",
        CaseAutoRefund => "case.auto_refund",
        CaseRefund => "case.refund",
        CaseRefundRequest => "case.refund_request",
        CaseRefundApprove => "case.refund_approve",
        CaseRefundReject => "case.refund_reject",
        FreezeCreate => "freeze.create",
        FreezeLift => "freeze.lift",
        ReversalRequest => "reversal.request",
        ReversalApprove => "reversal.approve",
        ReversalReject => "reversal.reject",
        DisclosureRequest => "disclosure.request",
        DisclosureApprove => "disclosure.approve",
        DisclosureReject => "disclosure.reject",
        PolicyReplace => "policy.replace",
        WebhookCreate => "webhook.create",
        WebhookDisable => "webhook.disable",
        MerchantKeyCreate => "merchant_key.create",
        MerchantKeyRevoke => "merchant_key.revoke",
        UserIssueToken => "user.issue_token",
        UserRevokeToken => "user.revoke_token",
    }
);

/// One operator action, as the audit log keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: Timestamp,
    /// An operator id, [`ADMIN_ACTOR`] or [`SYSTEM_ACTOR`].
    pub actor_id: String,
    /// The actor's role when it acted (`admin` and `system` for those two).
    pub actor_role: String,
    /// What was done, such as `freeze.create` or `reversal.approve`.
    pub action: AuditAction,
    /// The id of what it was done to.
    pub target: String,
    /// Why, in the actor's words.
    pub reason: String,
    /// What else matters: amounts, outcomes, transaction numbers, as `key=value` pairs.
    pub detail: String,
}

/// An audit record in its place in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: u64,
    pub record: AuditRecord,
    pub prev_hash: JournalHash,
    pub hash: JournalHash,
}

impl AuditRecord {
    /// The bytes the chain hashes: every field, length-prefixed, so no two records share them.
    pub fn canonical_bytes(&self, seq: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(b"hongbao-audit-v1\0");
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&self.at.millis().to_be_bytes());
        for field in [self.actor_id.as_str(), self.actor_role.as_str(), self.action.as_str(), self.target.as_str(), self.reason.as_str(), self.detail.as_str()]
        {
            out.extend_from_slice(&(field.len() as u32).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out
    }

    /// The entry that follows the one whose sequence number and hash are given.
    pub fn chain_after(self, prev_seq: u64, prev_hash: JournalHash) -> AuditEntry {
        let seq = prev_seq + 1;
        let hash = audit_hash(&prev_hash, seq, &self);
        AuditEntry { seq, record: self, prev_hash, hash }
    }
}

/// The hash of audit entry `seq` holding `record`, after the entry whose hash is `prev_hash`.
pub fn audit_hash(prev_hash: &JournalHash, seq: u64, record: &AuditRecord) -> JournalHash {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.0);
    hasher.update(record.canonical_bytes(seq));
    JournalHash(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_has_exactly_its_rights() {
        use Permission::*;
        let all = [
            ViewCases,
            TakeCase,
            RequestEvidence,
            Freeze,
            RefundFromFreeze,
            ResolveCase,
            ViewLegal,
            RequestLegal,
            DecideLegal,
            ReadAuditLog,
            ReplacePolicy,
            ManagePlatform,
        ];
        let allowed = |role: Role| all.iter().copied().filter(|permission| role.allows(*permission)).collect::<Vec<_>>();
        assert_eq!(allowed(Role::Support), [ViewCases, TakeCase, RequestEvidence]);
        assert_eq!(allowed(Role::Reviewer), [ViewCases, TakeCase, RequestEvidence, Freeze, RefundFromFreeze, ResolveCase, ReplacePolicy]);
        assert_eq!(allowed(Role::Legal), [ViewCases, ViewLegal, RequestLegal, DecideLegal, ReadAuditLog]);
        assert_eq!(allowed(Role::Auditor), [ViewCases, ViewLegal, ReadAuditLog]);
    }

    #[test]
    fn the_audit_chain_changes_with_any_field() {
        let record = AuditRecord {
            at: Timestamp::from_millis(1),
            actor_id: "op_a".into(),
            actor_role: "reviewer".into(),
            action: AuditAction::FreezeCreate,
            target: "frz_a".into(),
            reason: "fraud report".into(),
            detail: "amount=100".into(),
        };
        let entry = record.clone().chain_after(0, JournalHash::GENESIS);
        assert_eq!(entry.seq, 1);
        assert_eq!(entry.hash, audit_hash(&JournalHash::GENESIS, 1, &record));
        let mut edited = record.clone();
        edited.reason = "fraud report!".into();
        assert_ne!(audit_hash(&JournalHash::GENESIS, 1, &edited), entry.hash);
        assert_ne!(audit_hash(&JournalHash::GENESIS, 2, &record), entry.hash);
        assert_ne!(audit_hash(&entry.hash, 1, &record), entry.hash);
    }
}
