//! The registry of write operations: the [`Op`] enum, one variant per operation (or per feature, for
//! the features with many), and its dispatch to the feature modules in `crate::ops`. This is the
//! only module that knows every feature.

use hongbao_core::merchant::MerchantKey;
use hongbao_core::packet::PacketSpec;
use hongbao_core::transfer::{Arrival, Transfer};
use hongbao_core::{Amount, GroupId, PacketId, ReturnRequestId, TransferId, TxnNo, UserId};

use crate::context::OpContext;
use crate::context::actor::Actor;
use crate::error::ServiceResult;
use crate::ops::cases::CaseOp;
use crate::ops::evidence::EvidenceOp;
use crate::ops::merchant_keys::MerchantOp;
use crate::ops::profiles::ProfileOp;
use crate::ops::risk::RiskOp;
use crate::ops::webhooks::WebhookOp;
use crate::outcome::Outcome;

/// A change the writer carries out.
#[derive(Clone, Debug)]
pub enum Op {
    CreateUser {
        name: String,
    },
    TopUp {
        user_id: UserId,
        amount: Amount,
        reference: String,
    },
    Withdraw {
        user_id: UserId,
        amount: Amount,
        reference: Option<String>,
    },
    CreateGroup {
        owner_id: UserId,
        name: String,
        member_ids: Vec<UserId>,
    },
    AddMember {
        group_id: GroupId,
        by: UserId,
        user_id: UserId,
    },
    RemoveMember {
        group_id: GroupId,
        by: UserId,
        user_id: UserId,
    },
    SendPacket {
        sender_id: UserId,
        spec: PacketSpec,
        greeting: Option<String>,
        /// The token that confirms a packet at or above the confirmation threshold.
        confirmation: Option<String>,
    },
    Claim {
        packet_id: PacketId,
        user_id: UserId,
    },
    Recall {
        packet_id: PacketId,
        user_id: UserId,
    },
    /// Refunds a packet whose time is up; does nothing for one that is not open or not yet due.
    Expire {
        packet_id: PacketId,
    },
    /// Stores the bootstrap admin token's hash.
    SetAdminTokenHash {
        token_hash: [u8; 32],
    },
    SendTransfer {
        sender_id: UserId,
        recipient_id: UserId,
        amount: Amount,
        memo: Option<String>,
        arrival: Arrival,
        /// The token that confirms a transfer at or above the confirmation threshold.
        confirmation: Option<String>,
    },
    AcceptTransfer {
        transfer_id: TransferId,
        user_id: UserId,
    },
    ReturnTransfer {
        transfer_id: TransferId,
        user_id: UserId,
    },
    CancelTransfer {
        transfer_id: TransferId,
        user_id: UserId,
    },
    /// Settles or expires a transfer whose deadline has come; does nothing otherwise.
    TransferTimer {
        transfer_id: TransferId,
    },
    CreateReturnRequest {
        requester_id: UserId,
        txn_no: TxnNo,
        amount: Option<Amount>,
        reason: String,
        respond_within_seconds: Option<i64>,
    },
    AcceptReturnRequest {
        request_id: ReturnRequestId,
        user_id: UserId,
    },
    DeclineReturnRequest {
        request_id: ReturnRequestId,
        user_id: UserId,
        reason: Option<String>,
    },
    /// Expires a pending return request past its deadline; does nothing otherwise.
    ReturnRequestTimer {
        request_id: ReturnRequestId,
    },
    /// Complaints, cases, freezes, operators and their approvals.
    Case(CaseOp),
    /// Tags, sightings and the risk policy.
    Risk(RiskOp),
    /// Webhook endpoints and deliveries.
    Webhook(WebhookOp),
    /// Uploads of evidence and their removal.
    Evidence(EvidenceOp),
    /// A new token for a user, shown once: by the user (rotation, `by` none) or the admin (`by`).
    IssueToken {
        user_id: UserId,
        by: Option<Actor>,
    },
    /// The admin revokes a user's token.
    RevokeToken {
        actor: Actor,
        user_id: UserId,
        reason: String,
    },
    /// Deletes at most `limit` expired idempotency records.
    PruneIdempotency {
        limit: u32,
    },
    /// Merchant API keys.
    Merchant(MerchantOp),
    /// Signed checkpoints of the journal's Merkle tree.
    Log(crate::ops::checkpoints::LogOp),
    /// A user's own profile: their display name.
    Profile(ProfileOp),
    /// An operation that also notes the client the request came from (a new device or address raises
    /// an alert), after the operation succeeds, in the same transaction.
    Observed {
        observation: RiskOp,
        op: Box<Op>,
    },
    /// A payment made through a merchant API key: the key's own limits apply on top of the policy's.
    ViaKey {
        key: MerchantKey,
        op: Box<Op>,
    },
}

impl Op {
    /// The operation itself, looking through the wrappers that only add checks or notes to it.
    pub fn inner(&self) -> &Op {
        match self {
            Op::Observed { op, .. } | Op::ViaKey { op, .. } => op.inner(),
            op => op,
        }
    }

    /// The user whose client this operation notes, looking through the same wrappers.
    pub fn observed_user(&self) -> Option<&UserId> {
        match self {
            Op::Risk(RiskOp::ObserveClient { user_id, .. }) | Op::Observed { observation: RiskOp::ObserveClient { user_id, .. }, .. } => Some(user_id),
            Op::ViaKey { op, .. } => op.observed_user(),
            _ => None,
        }
    }
}

impl OpContext<'_, '_> {
    pub fn run(&mut self, op: Op) -> ServiceResult<Outcome> {
        match op {
            Op::CreateUser { name } => self.create_user(&name),
            Op::TopUp { user_id, amount, reference } => self.top_up(&user_id, amount, reference),
            Op::Withdraw { user_id, amount, reference } => self.withdraw(&user_id, amount, reference),
            Op::CreateGroup { owner_id, name, member_ids } => self.create_group(owner_id, &name, member_ids),
            Op::AddMember { group_id, by, user_id } => self.add_member(&group_id, &by, &user_id),
            Op::RemoveMember { group_id, by, user_id } => self.remove_member(&group_id, &by, &user_id),
            Op::SendPacket { sender_id, spec, greeting, confirmation } => self.send_packet(&sender_id, &spec, greeting.as_deref(), confirmation.as_deref()),
            Op::Claim { packet_id, user_id } => self.claim(&packet_id, &user_id),
            Op::Recall { packet_id, user_id } => self.recall(&packet_id, &user_id),
            Op::Expire { packet_id } => self.expire(&packet_id),
            Op::SendTransfer { sender_id, recipient_id, amount, memo, arrival, confirmation } => {
                self.send_transfer(sender_id, recipient_id, amount, memo, arrival, confirmation.as_deref())
            }
            Op::AcceptTransfer { transfer_id, user_id } => self.change_transfer(&transfer_id, &user_id, Transfer::accept),
            Op::ReturnTransfer { transfer_id, user_id } => self.change_transfer(&transfer_id, &user_id, Transfer::give_back),
            Op::CancelTransfer { transfer_id, user_id } => self.cancel_transfer(&transfer_id, &user_id),
            Op::TransferTimer { transfer_id } => self.transfer_timer(&transfer_id),
            Op::CreateReturnRequest { requester_id, txn_no, amount, reason, respond_within_seconds } => {
                self.create_return_request(requester_id, txn_no, amount, reason, respond_within_seconds)
            }
            Op::AcceptReturnRequest { request_id, user_id } => self.accept_return_request(&request_id, &user_id),
            Op::DeclineReturnRequest { request_id, user_id, reason } => self.decline_return_request(&request_id, &user_id, reason),
            Op::ReturnRequestTimer { request_id } => self.return_request_timer(&request_id),
            Op::Case(op) => self.run_case(op),
            Op::Risk(op) => self.run_risk(op),
            Op::Webhook(op) => self.run_webhook(op),
            Op::Evidence(op) => self.run_evidence(op),
            Op::IssueToken { user_id, by } => self.issue_token(&user_id, by.as_ref()),
            Op::RevokeToken { actor, user_id, reason } => self.revoke_token(&actor, &user_id, &reason),
            Op::PruneIdempotency { limit } => self.prune_idempotency(limit),
            Op::Merchant(op) => self.run_merchant(op),
            Op::Log(op) => self.run_log(op),
            Op::Profile(op) => self.run_profile(op),
            Op::Observed { observation, op } => {
                let outcome = self.run(*op)?;
                self.run_risk(observation)?;
                Ok(outcome)
            }
            Op::ViaKey { key, op } => {
                self.key = Some(key);
                let outcome = self.run(*op);
                self.key = None;
                outcome
            }
            Op::SetAdminTokenHash { token_hash } => {
                self.batch.put_setting("admin_token_sha256", &token_hash);
                Ok(Outcome::Nothing)
            }
        }
    }
}
