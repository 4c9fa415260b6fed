//! The write operations. Each runs on the writer's connection inside one savepoint of a batch
//! transaction: it reads what it needs, applies the core's rules, and writes. An operation that
//! returns an error has its writes rolled back by the writer, so a refused request changes nothing.

use hongbao_core::events::EventKind;
use hongbao_core::packet::{self, AudienceFacts, Packet, PacketError, PacketSpec, PacketStatus, Refund};
use hongbao_core::returns::{self, NewRequest, ReturnRequest, ReturnRequestStatus};
use hongbao_core::transfer::{Arrival, HoldRelease, Transfer, TransferError, TransferStatus};
use hongbao_core::{Account, Amount, GroupId, LedgerTxn, PacketId, Related, ReturnRequestId, Timestamp, TransferId, TxnKind, TxnNo, UserId};
use hongbao_store::{Claim, Group, JournalEntry, User};
use rand::RngCore;
use sha2::{Digest, Sha256};

use hongbao_core::cases::{Complaint, Evidence};
use hongbao_core::freeze::Freeze;
use hongbao_core::legal::{Disclosure, Reversal};
use hongbao_core::staff::Operator;

use crate::batch::Batch;
use crate::cases::CaseOp;
use crate::config::Config;
use crate::error::{ServiceError, ServiceResult};
use crate::merchant::MerchantOp;
use crate::risk::{ConfirmationSummary, RiskOp};
use crate::webhooks::{Leased, WebhookOp};
use hongbao_core::merchant::MerchantKey;
use hongbao_core::risk::{Outgoing, RiskPolicy};
use hongbao_core::webhooks::{Delivery, WebhookEndpoint};
use hongbao_store::records::Tag;
use std::sync::Arc;

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
    /// Merchant API keys.
    Merchant(MerchantOp),
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

/// A packet with its claims, as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketView {
    pub packet: Packet,
    pub claims: Vec<Claim>,
}

/// What an operation produced.
#[derive(Clone, Debug)]
pub enum Outcome {
    UserCreated {
        user: User,
        token: String,
    },
    Posted(JournalEntry),
    Group(Group),
    Packet(PacketView),
    Claimed {
        packet_id: PacketId,
        claim: Claim,
    },
    Transfer(Transfer),
    ReturnRequest(ReturnRequest),
    /// A packet refunded at expiry.
    Expired(Packet),
    OperatorCreated {
        operator: Operator,
        token: String,
    },
    Operator(Operator),
    Evidence(Evidence),
    Complaint(Complaint),
    Freeze(Freeze),
    Reversal(Reversal),
    /// A case refund waiting for, or decided by, a second reviewer.
    CaseRefund(hongbao_core::legal::CaseRefund),
    Disclosure(Disclosure),
    Tag(Tag),
    /// A large payment that needs the payer's confirmation first; nothing moved.
    ConfirmationRequired {
        detail: String,
        summary: ConfirmationSummary,
    },
    Policy(Arc<RiskPolicy>),
    Webhook(WebhookEndpoint),
    /// How many deliveries were queued.
    Queued(usize),
    /// A delivery taken for an attempt; none when it was not due after all.
    Leased(Option<Box<Leased>>),
    Delivery(Delivery),
    MerchantKeyCreated {
        key: MerchantKey,
        secret: String,
    },
    MerchantKey(MerchantKey),
    /// An expiry that found nothing to do.
    Nothing,
}

/// One way the money of a payment reached a recipient: who paid whom how much, and the transaction
/// that brought it (a claim or a settlement), which every correction of it names. Returns, case
/// refunds and reversals together never move back more than `amount`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentLeg {
    pub payer: UserId,
    pub recipient: UserId,
    pub amount: Amount,
    pub txn_no: TxnNo,
}

/// Counts the writer adds to the metrics once the batch is durable.
#[derive(Clone, Copy, Debug, Default)]
pub struct Effects {
    pub packets_sent: u64,
    pub packets_claimed: u64,
    pub packets_refunded: u64,
}

/// What an operation may use: the batch it reads and writes through, the time of the operation and
/// randomness.
pub struct OpContext<'a, 'b> {
    pub batch: &'a mut Batch<'b>,
    pub now: Timestamp,
    pub rng: &'a mut dyn RngCore,
    pub config: &'a Config,
    pub effects: Effects,
    /// The merchant API key the operation comes through, whose limits apply too.
    pub key: Option<MerchantKey>,
}

/// A user's bearer token: 32 random bytes, hex, behind a recognisable prefix.
pub fn new_token(rng: &mut dyn RngCore) -> String {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    format!("hbt_{}", hex::encode(bytes))
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn check_name(name: &str, what: &str) -> ServiceResult<String> {
    let trimmed = name.trim();
    let chars = trimmed.chars().count();
    if chars == 0 || chars > 64 {
        return Err(ServiceError::Validation(format!("{what} must be 1 to 64 characters")));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ServiceError::Validation(format!("{what} must not contain control characters")));
    }
    Ok(trimmed.to_owned())
}

fn check_reference(reference: &str) -> ServiceResult<()> {
    let chars = reference.chars().count();
    if chars == 0 || chars > 128 || reference.chars().any(char::is_control) {
        return Err(ServiceError::Validation("reference must be 1 to 128 printable characters".into()));
    }
    Ok(())
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
            Op::CancelTransfer { transfer_id, user_id } => {
                let outcome = self.change_transfer(&transfer_id, &user_id, Transfer::cancel)?;
                self.record_velocity(&user_id, "cancel")?;
                Ok(outcome)
            }
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
            Op::Merchant(op) => self.run_merchant(op),
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

    pub(crate) fn new_txn_no(&mut self) -> TxnNo {
        TxnNo::generate(self.now, self.rng)
    }

    /// A wallet's balance.
    fn available(&mut self, user_id: &UserId) -> ServiceResult<Amount> {
        let balance = self.batch.balance(&Account::Wallet(user_id.clone()))?;
        Ok(Amount::new(balance).map_err(|_| hongbao_store::corrupt(format!("wallet of {user_id} holds {balance}")))?)
    }

    /// Refuses money leaving a wallet beyond its balance, or held by a freeze.
    fn require_available(&mut self, user_id: &UserId, needed: Amount) -> ServiceResult<()> {
        let balance = self.available(user_id)?;
        self.restriction(user_id)?.check_spend(balance, needed)?;
        Ok(())
    }

    pub(crate) fn require_user(&mut self, user_id: &UserId) -> ServiceResult<User> {
        self.batch.user(user_id)?.ok_or(ServiceError::NotFound("user"))
    }

    /// Appends a balanced transaction to the journal, chained to the head, and applies it to the
    /// balances. Accounts that must stay non-negative are checked first; the database's own check
    /// constraint is the second line of defence.
    pub(crate) fn post(&mut self, txn: LedgerTxn, parties: &[&UserId]) -> ServiceResult<JournalEntry> {
        for posting in txn.postings() {
            // No wallet holds more than the largest amount: every amount the service shows or moves
            // stays within it, so a wallet at the limit takes no more money in.
            if posting.amount > 0 && matches!(posting.account, Account::Wallet(_)) {
                let balance = self.batch.balance(&posting.account)?;
                if balance.checked_add(posting.amount).is_none_or(|after| after > hongbao_core::money::MAX_AMOUNT) {
                    return Err(ServiceError::BalanceLimit { account: posting.account.to_string() });
                }
            }
            if posting.amount < 0 && posting.account.must_stay_non_negative() {
                let balance = self.batch.balance(&posting.account)?;
                if balance + posting.amount < 0 {
                    return match &posting.account {
                        Account::Wallet(_) => Err(ServiceError::InsufficientFunds {
                            needed: Amount::new(-posting.amount).unwrap_or_default(),
                            available: Amount::new(balance).unwrap_or_default(),
                        }),
                        other => Err(hongbao_store::corrupt(format!("posting would take {other} below zero")).into()),
                    };
                }
            }
        }
        let (seq, prev_hash) = self.batch.journal_head()?;
        let seq = seq + 1;
        let hash = prev_hash.chain(seq, &txn);
        let entry = JournalEntry { seq, txn, prev_hash, hash };
        let parties: Vec<UserId> = parties.iter().map(|party| (*party).clone()).collect();
        self.batch.append_journal(entry.clone(), parties)?;
        Ok(entry)
    }

    fn create_user(&mut self, name: &str) -> ServiceResult<Outcome> {
        let name = check_name(name, "name")?;
        let user = User { id: UserId::generate(self.now, self.rng), name, created_at: self.now };
        let token = new_token(self.rng);
        self.batch.insert_user(user.clone(), token_hash(&token));
        Ok(Outcome::UserCreated { user, token })
    }

    /// The top-up or withdrawal an external reference already made (PRODUCT.md: an external reference
    /// names one movement of money). The same movement asked again, as a retried bank callback does,
    /// is answered with that first transaction; a different one under the same reference is refused.
    fn earlier_movement(&mut self, kind: TxnKind, reference: &str, user_id: &UserId, amount: Amount) -> ServiceResult<Option<JournalEntry>> {
        let Some(entry) = self.batch.journal_entry_by_reference(kind, reference)? else { return Ok(None) };
        if entry.txn.amount() == amount && entry.txn.delta_for(&Account::Wallet(user_id.clone())) != 0 {
            return Ok(Some(entry));
        }
        Err(ServiceError::ReferenceReused { kind: kind.as_str(), reference: reference.to_owned(), txn_no: entry.txn.txn_no().clone() })
    }

    fn top_up(&mut self, user_id: &UserId, amount: Amount, reference: String) -> ServiceResult<Outcome> {
        check_reference(&reference)?;
        self.require_user(user_id)?;
        if let Some(first) = self.earlier_movement(TxnKind::TopUp, &reference, user_id, amount)? {
            return Ok(Outcome::Posted(first));
        }
        let txn_no = self.new_txn_no();
        let txn = LedgerTxn::transfer_between(txn_no, TxnKind::TopUp, self.now, amount, Account::Funding, Account::Wallet(user_id.clone()), Related::default())
            .with_reference(Some(reference));
        let entry = self.post(txn, &[user_id])?;
        self.notify(user_id, EventKind::WalletToppedUp, entry.txn.txn_no().as_str(), vec![("amount", amount.minor_units().to_string())])?;
        Ok(Outcome::Posted(entry))
    }

    fn withdraw(&mut self, user_id: &UserId, amount: Amount, reference: Option<String>) -> ServiceResult<Outcome> {
        if let Some(reference) = &reference {
            check_reference(reference)?;
            if let Some(first) = self.earlier_movement(TxnKind::Withdrawal, reference, user_id, amount)? {
                return Ok(Outcome::Posted(first));
            }
        }
        self.require_available(user_id, amount)?;
        self.check_limits(user_id, Outgoing::Withdrawal, amount, None)?;
        let txn_no = self.new_txn_no();
        let txn =
            LedgerTxn::transfer_between(txn_no, TxnKind::Withdrawal, self.now, amount, Account::Wallet(user_id.clone()), Account::Payout, Related::default())
                .with_reference(reference);
        let entry = self.post(txn, &[user_id])?;
        self.record_outgoing(user_id, Outgoing::Withdrawal, amount, None, entry.txn.txn_no().as_str())?;
        self.notify(user_id, EventKind::WalletWithdrawn, entry.txn.txn_no().as_str(), vec![("amount", amount.minor_units().to_string())])?;
        Ok(Outcome::Posted(entry))
    }

    fn create_group(&mut self, owner_id: UserId, name: &str, member_ids: Vec<UserId>) -> ServiceResult<Outcome> {
        let name = check_name(name, "group name")?;
        let mut members = vec![owner_id.clone()];
        for member in member_ids {
            if !members.contains(&member) {
                members.push(member);
            }
        }
        if members.len() > self.config.max_group_members as usize {
            return Err(ServiceError::Validation(format!("a group has at most {} members", self.config.max_group_members)));
        }
        for member in &members {
            self.require_user(member)?;
        }
        let group = Group { id: GroupId::generate(self.now, self.rng), name, owner_id, member_ids: members, created_at: self.now };
        self.batch.insert_group(group.clone());
        Ok(Outcome::Group(group))
    }

    /// The group, if `by` may manage it: members see it, only the owner changes it.
    fn owned_group(&mut self, group_id: &GroupId, by: &UserId) -> ServiceResult<Group> {
        let group = self.batch.group(group_id)?.ok_or(ServiceError::NotFound("group"))?;
        if !group.member_ids.contains(by) {
            return Err(ServiceError::NotFound("group"));
        }
        if &group.owner_id != by {
            return Err(ServiceError::Forbidden("only the group's owner can change its members".into()));
        }
        Ok(group)
    }

    fn add_member(&mut self, group_id: &GroupId, by: &UserId, user_id: &UserId) -> ServiceResult<Outcome> {
        let group = self.owned_group(group_id, by)?;
        self.require_user(user_id)?;
        if !group.member_ids.contains(user_id) {
            if group.member_ids.len() >= self.config.max_group_members as usize {
                return Err(ServiceError::Validation(format!("a group has at most {} members", self.config.max_group_members)));
            }
            self.batch.set_membership(group_id, user_id, true);
        }
        Ok(Outcome::Group(self.batch.group(group_id)?.ok_or(ServiceError::NotFound("group"))?))
    }

    fn remove_member(&mut self, group_id: &GroupId, by: &UserId, user_id: &UserId) -> ServiceResult<Outcome> {
        let group = self.owned_group(group_id, by)?;
        if user_id == &group.owner_id {
            return Err(ServiceError::Validation("the owner cannot be removed from their group".into()));
        }
        if !group.member_ids.contains(user_id) {
            return Err(ServiceError::NotFound("member"));
        }
        self.batch.set_membership(group_id, user_id, false);
        Ok(Outcome::Group(self.batch.group(group_id)?.ok_or(ServiceError::NotFound("group"))?))
    }

    fn send_packet(&mut self, sender_id: &UserId, spec: &PacketSpec, greeting: Option<&str>, confirmation: Option<&str>) -> ServiceResult<Outcome> {
        let audience = spec.audience();
        let mut facts = AudienceFacts { group_member_count: None, sender_is_member: false, recipient_is_member: false };
        if let Some(group_id) = audience.group_id() {
            // A group the sender is not in is one they cannot see.
            if !self.batch.is_member(group_id, sender_id)? {
                return Err(ServiceError::NotFound("group"));
            }
            facts.sender_is_member = true;
            facts.group_member_count = Some(self.batch.member_count(group_id)?);
        }
        if let Some(recipient_id) = audience.recipient_id() {
            self.require_user(recipient_id)?;
            if let Some(group_id) = audience.group_id() {
                facts.recipient_is_member = self.batch.is_member(group_id, recipient_id)?;
            }
        }
        let plan = packet::plan_packet(spec, sender_id, greeting, facts, &self.config.limits, self.now, self.rng)?;
        self.require_available(sender_id, plan.total_amount)?;
        // A packet to one person carries the tag of that person; a group packet the group's.
        let tag_target = match (audience.recipient_id(), audience.group_id()) {
            (Some(recipient_id), _) if self.tag_of(sender_id, recipient_id.as_str())?.is_some() => Some(recipient_id.to_string()),
            (_, Some(group_id)) => Some(group_id.to_string()),
            (Some(recipient_id), None) => Some(recipient_id.to_string()),
            (None, None) => None,
        };
        let tag = match &tag_target {
            Some(target) => self.tag_of(sender_id, target)?,
            None => None,
        };
        self.check_limits(sender_id, Outgoing::Packet, plan.total_amount, tag.as_deref())?;
        let terms = format!("packet|{spec:?}|{greeting:?}");
        let total_amount = plan.total_amount;
        let greeting_shown = plan.greeting.clone();
        let summary = |context: &mut Self| context.summary_for(audience.recipient_id(), audience.group_id(), total_amount, Some(greeting_shown));
        if let Some(outcome) = self.confirm(sender_id, &terms, confirmation, summary, total_amount)? {
            return Ok(outcome);
        }
        let packet_id = PacketId::generate(self.now, self.rng);
        let txn_no = self.new_txn_no();
        let related = Related { packet_id: Some(packet_id.clone()), ..Related::default() };
        let txn = LedgerTxn::transfer_between(
            txn_no.clone(),
            TxnKind::PacketSend,
            self.now,
            plan.total_amount,
            Account::Wallet(sender_id.clone()),
            Account::PacketEscrow(packet_id.clone()),
            related,
        );
        self.post(txn, &[sender_id])?;
        let packet = Packet {
            id: packet_id,
            kind: plan.kind,
            sender_id: sender_id.clone(),
            audience: plan.audience,
            greeting: plan.greeting,
            total_amount: plan.total_amount,
            shares: plan.shares.len() as u32,
            claimed_count: 0,
            claimed_amount: Amount::ZERO,
            status: PacketStatus::Open,
            created_at: self.now,
            expires_at: plan.expires_at,
            finished_at: None,
            refunded_amount: Amount::ZERO,
            send_txn_no: txn_no,
            refund_txn_no: None,
            luckiest_user_id: None,
        };
        self.batch.insert_packet(packet.clone(), plan.shares);
        self.effects.packets_sent += 1;
        self.record_outgoing(sender_id, Outgoing::Packet, packet.total_amount, tag.as_deref(), packet.id.as_str())?;
        let data = vec![("kind", packet.kind.as_str().to_owned()), ("total_amount", packet.total_amount.minor_units().to_string())];
        self.notify(sender_id, EventKind::PacketSent, packet.id.as_str(), data.clone())?;
        if let Some(recipient_id) = packet.audience.recipient_id() {
            let mut data = data;
            data.push(("sender_id", sender_id.to_string()));
            self.notify(&recipient_id.clone(), EventKind::PacketReceived, packet.id.as_str(), data)?;
        }
        Ok(Outcome::Packet(PacketView { packet, claims: Vec::new() }))
    }

    fn is_audience_member(&mut self, packet: &Packet, user_id: &UserId) -> ServiceResult<bool> {
        match packet.audience.group_id() {
            Some(group_id) => Ok(self.batch.is_member(group_id, user_id)?),
            None => Ok(false),
        }
    }

    fn claim(&mut self, packet_id: &PacketId, user_id: &UserId) -> ServiceResult<Outcome> {
        let mut packet = self.batch.packet(packet_id)?.ok_or(ServiceError::NotFound("packet"))?;
        let is_member = self.is_audience_member(&packet, user_id)?;
        let already_claimed = self.batch.has_claimed(packet_id, user_id)?;
        packet.check_claim(user_id, is_member, already_claimed, self.now).map_err(ServiceError::Packet)?;
        let index = packet.claimed_count;
        let amount = self.batch.share(packet_id, index)?;
        let txn_no = self.new_txn_no();
        let related = Related { packet_id: Some(packet_id.clone()), ..Related::default() };
        let txn = LedgerTxn::transfer_between(
            txn_no.clone(),
            TxnKind::PacketClaim,
            self.now,
            amount,
            Account::PacketEscrow(packet_id.clone()),
            Account::Wallet(user_id.clone()),
            related,
        );
        let sender_id = packet.sender_id.clone();
        self.post(txn, &[user_id, &sender_id])?;
        let claim = Claim { user_id: user_id.clone(), amount, claimed_at: self.now, txn_no };
        self.batch.insert_claim(packet_id, index, claim.clone());
        let data = vec![("amount", amount.minor_units().to_string()), ("txn_no", claim.txn_no.to_string())];
        self.notify(user_id, EventKind::PacketClaimed, packet_id.as_str(), data)?;
        if packet.record_claim(amount, self.now) {
            let claims = self.batch.claims(packet_id)?;
            packet.luckiest_user_id = packet::luckiest(claims.iter().map(|claim| (&claim.user_id, claim.amount))).cloned();
            let mut data = vec![("claimed_amount", packet.claimed_amount.minor_units().to_string())];
            if let Some(luckiest) = &packet.luckiest_user_id {
                data.push(("luckiest_user_id", luckiest.to_string()));
            }
            self.notify(&sender_id, EventKind::PacketExhausted, packet_id.as_str(), data)?;
        }
        self.batch.update_packet(packet);
        self.effects.packets_claimed += 1;
        Ok(Outcome::Claimed { packet_id: packet_id.clone(), claim })
    }

    /// Moves a finishing packet's remainder back to its sender and records it.
    pub(crate) fn refund(&mut self, mut packet: Packet, refund: Refund) -> ServiceResult<Packet> {
        let refund_txn_no = if refund.amount.is_zero() {
            None
        } else {
            let txn_no = self.new_txn_no();
            let related = Related { packet_id: Some(packet.id.clone()), ..Related::default() };
            let txn = LedgerTxn::transfer_between(
                txn_no.clone(),
                TxnKind::PacketRefund,
                self.now,
                refund.amount,
                Account::PacketEscrow(packet.id.clone()),
                Account::Wallet(packet.sender_id.clone()),
                related,
            );
            let sender_id = packet.sender_id.clone();
            self.post(txn, &[&sender_id])?;
            Some(txn_no)
        };
        packet.record_refund(&refund, refund_txn_no, self.now);
        self.batch.update_packet(packet.clone());
        self.effects.packets_refunded += 1;
        let data = vec![("status", packet.status.as_str().to_owned()), ("refunded_amount", packet.refunded_amount.minor_units().to_string())];
        self.notify(&packet.sender_id.clone(), EventKind::PacketRefunded, packet.id.as_str(), data)?;
        Ok(packet)
    }

    fn recall(&mut self, packet_id: &PacketId, user_id: &UserId) -> ServiceResult<Outcome> {
        let packet = self.batch.packet(packet_id)?.ok_or(ServiceError::NotFound("packet"))?;
        let is_member = self.is_audience_member(&packet, user_id)?;
        if !packet.visible_to(user_id, is_member) {
            return Err(ServiceError::NotFound("packet"));
        }
        let refund = match packet.recall(user_id, self.now) {
            Ok(refund) => refund,
            Err(PacketError::NotSender) => return Err(ServiceError::Forbidden("only the sender can recall a packet".into())),
            Err(error) => return Err(ServiceError::InvalidState(format!("the packet cannot be recalled: {error}"))),
        };
        let packet = self.refund(packet, refund)?;
        self.record_velocity(user_id, "recall")?;
        let claims = self.batch.claims(&packet.id)?;
        Ok(Outcome::Packet(PacketView { packet, claims }))
    }

    fn expire(&mut self, packet_id: &PacketId) -> ServiceResult<Outcome> {
        let Some(packet) = self.batch.packet(packet_id)? else { return Ok(Outcome::Nothing) };
        match packet.expire(self.now) {
            Ok(refund) => Ok(Outcome::Expired(self.refund(packet, refund)?)),
            Err(_) => Ok(Outcome::Nothing),
        }
    }
}

/// Transfers and return requests.
impl OpContext<'_, '_> {
    fn send_transfer(
        &mut self,
        sender_id: UserId,
        recipient_id: UserId,
        amount: Amount,
        memo: Option<String>,
        arrival: Arrival,
        confirmation: Option<&str>,
    ) -> ServiceResult<Outcome> {
        self.require_user(&recipient_id)?;
        let transfer_id = TransferId::generate(self.now, self.rng);
        let txn_no = self.new_txn_no();
        let transfer = Transfer::new(
            transfer_id.clone(),
            sender_id.clone(),
            recipient_id.clone(),
            amount,
            memo,
            arrival,
            txn_no.clone(),
            &self.config.transfers,
            self.now,
        )?;
        self.require_available(&sender_id, amount)?;
        let tag = self.tag_of(&sender_id, recipient_id.as_str())?;
        self.check_limits(&sender_id, Outgoing::Transfer, amount, tag.as_deref())?;
        let terms = format!("transfer|{recipient_id}|{amount}|{:?}|{}", transfer.memo, transfer.arrival.as_str());
        let memo_shown = transfer.memo.clone();
        let summary = |context: &mut Self| context.summary_for(Some(&recipient_id), None, amount, memo_shown);
        if let Some(outcome) = self.confirm(&sender_id, &terms, confirmation, summary, amount)? {
            return Ok(outcome);
        }
        let related = Related { transfer_id: Some(transfer_id.clone()), ..Related::default() };
        let txn = LedgerTxn::transfer_between(
            txn_no,
            TxnKind::TransferSend,
            self.now,
            amount,
            Account::Wallet(sender_id.clone()),
            Account::TransferHold(transfer_id),
            related,
        )
        .with_memo(transfer.memo.clone());
        self.post(txn, &[&sender_id, &recipient_id])?;
        self.batch.insert_transfer(transfer.clone());
        self.notify_transfer(&transfer)?;
        self.record_outgoing(&sender_id, Outgoing::Transfer, amount, tag.as_deref(), transfer.id.as_str())?;
        Ok(Outcome::Transfer(transfer))
    }

    /// A transfer its sender or recipient may act on; others cannot see it.
    fn visible_transfer(&mut self, transfer_id: &TransferId, user_id: &UserId) -> ServiceResult<Transfer> {
        let transfer = self.batch.transfer(transfer_id)?.ok_or(ServiceError::NotFound("transfer"))?;
        if &transfer.sender_id != user_id && &transfer.recipient_id != user_id {
            return Err(ServiceError::NotFound("transfer"));
        }
        Ok(transfer)
    }

    fn change_transfer(
        &mut self,
        transfer_id: &TransferId,
        user_id: &UserId,
        step: fn(&mut Transfer, &UserId, Timestamp) -> Result<HoldRelease, TransferError>,
    ) -> ServiceResult<Outcome> {
        let mut transfer = self.visible_transfer(transfer_id, user_id)?;
        let release = step(&mut transfer, user_id, self.now)?;
        self.release_hold(&mut transfer, release)?;
        self.batch.update_transfer(transfer.clone());
        self.notify_transfer(&transfer)?;
        Ok(Outcome::Transfer(transfer))
    }

    fn transfer_timer(&mut self, transfer_id: &TransferId) -> ServiceResult<Outcome> {
        let Some(mut transfer) = self.batch.transfer(transfer_id)? else { return Ok(Outcome::Nothing) };
        let Some(release) = transfer.on_timer(self.now) else { return Ok(Outcome::Nothing) };
        self.release_hold(&mut transfer, release)?;
        self.batch.update_transfer(transfer.clone());
        self.notify_transfer(&transfer)?;
        Ok(Outcome::Transfer(transfer))
    }

    /// What the payer of a large payment sees before confirming it.
    fn summary_for(
        &mut self,
        recipient_id: Option<&UserId>,
        group_id: Option<&GroupId>,
        amount: Amount,
        memo: Option<String>,
    ) -> ServiceResult<ConfirmationSummary> {
        let (audience_kind, audience_id, audience_name, audience_size) = match (recipient_id, group_id) {
            (Some(recipient_id), _) => {
                let user = self.require_user(recipient_id)?;
                ("user", user.id.to_string(), user.name, None)
            }
            (None, Some(group_id)) => {
                let group = self.batch.group(group_id)?.ok_or(ServiceError::NotFound("group"))?;
                ("group", group.id.to_string(), group.name, Some(group.member_ids.len() as u32))
            }
            (None, None) => return Err(ServiceError::Internal("a payment without an audience".into())),
        };
        let expires_at = self.now;
        Ok(ConfirmationSummary { amount, audience_kind, audience_id, audience_name, audience_size, memo, token: String::new(), expires_at })
    }

    /// Tells both parties of a transfer's new state.
    pub(crate) fn notify_transfer(&mut self, transfer: &Transfer) -> ServiceResult<()> {
        let kind = match transfer.status {
            TransferStatus::Pending => EventKind::TransferCreated,
            TransferStatus::Accepted => EventKind::TransferAccepted,
            TransferStatus::Settled => EventKind::TransferSettled,
            TransferStatus::Returned => EventKind::TransferReturned,
            TransferStatus::Cancelled => EventKind::TransferCancelled,
            TransferStatus::Expired => EventKind::TransferExpired,
        };
        let data = vec![
            ("amount", transfer.amount.minor_units().to_string()),
            ("sender_id", transfer.sender_id.to_string()),
            ("recipient_id", transfer.recipient_id.to_string()),
            ("status", transfer.status.as_str().to_owned()),
        ];
        self.notify(&transfer.sender_id, kind, transfer.id.as_str(), data.clone())?;
        self.notify(&transfer.recipient_id, kind, transfer.id.as_str(), data)
    }

    /// Tells both parties of a return request's new state.
    fn notify_return_request(&mut self, request: &ReturnRequest) -> ServiceResult<()> {
        let kind = match request.status {
            ReturnRequestStatus::Pending => EventKind::ReturnRequestCreated,
            ReturnRequestStatus::Accepted => EventKind::ReturnRequestAccepted,
            ReturnRequestStatus::Declined => EventKind::ReturnRequestDeclined,
            ReturnRequestStatus::Expired => EventKind::ReturnRequestExpired,
        };
        let data = vec![("amount", request.amount.minor_units().to_string()), ("txn_no", request.txn_no.to_string())];
        self.notify(&request.requester_id, kind, request.id.as_str(), data.clone())?;
        self.notify(&request.recipient_id, kind, request.id.as_str(), data)
    }

    /// Moves the hold's money where the transfer's step sent it, recording the transaction number.
    pub(crate) fn release_hold(&mut self, transfer: &mut Transfer, release: HoldRelease) -> ServiceResult<()> {
        let (kind, to) = match release {
            HoldRelease::Keep => return Ok(()),
            HoldRelease::Settle => (TxnKind::TransferSettle, transfer.recipient_id.clone()),
            HoldRelease::Refund => (TxnKind::TransferRefund, transfer.sender_id.clone()),
        };
        let txn_no = self.new_txn_no();
        let related = Related { transfer_id: Some(transfer.id.clone()), ..Related::default() };
        let txn = LedgerTxn::transfer_between(
            txn_no.clone(),
            kind,
            self.now,
            transfer.amount,
            Account::TransferHold(transfer.id.clone()),
            Account::Wallet(to),
            related,
        )
        .with_memo(transfer.memo.clone());
        let (sender_id, recipient_id) = (transfer.sender_id.clone(), transfer.recipient_id.clone());
        self.post(txn, &[&sender_id, &recipient_id])?;
        transfer.txn_nos.push(txn_no);
        Ok(())
    }

    /// The ways the money of a payment reached its recipients: for a claim or a settlement, itself; for
    /// a packet sent, each claim of it; for a transfer sent, its settlement once settled. Money still
    /// in an escrow or a hold reached nobody yet, and other transactions are no payment.
    pub(crate) fn payment_legs(&mut self, entry: &JournalEntry) -> ServiceResult<Vec<PaymentLeg>> {
        let related = entry.txn.related();
        match entry.txn.kind() {
            TxnKind::PacketClaim | TxnKind::TransferSettle => {
                let Some((payer, recipient)) = self.payer_and_recipient(entry)? else { return Ok(Vec::new()) };
                Ok(vec![PaymentLeg { payer, recipient, amount: entry.txn.amount(), txn_no: entry.txn.txn_no().clone() }])
            }
            TxnKind::PacketSend => {
                let packet_id = related.packet_id.as_ref().ok_or_else(|| hongbao_store::corrupt("a packet send without its packet"))?;
                let packet = self.batch.packet(packet_id)?.ok_or_else(|| hongbao_store::corrupt(format!("a send of missing packet {packet_id}")))?;
                let claims = self.batch.claims(packet_id)?;
                Ok(claims
                    .into_iter()
                    .map(|claim| PaymentLeg { payer: packet.sender_id.clone(), recipient: claim.user_id, amount: claim.amount, txn_no: claim.txn_no })
                    .collect())
            }
            TxnKind::TransferSend => {
                let transfer_id = related.transfer_id.as_ref().ok_or_else(|| hongbao_store::corrupt("a transfer send without its transfer"))?;
                let transfer = self.batch.transfer(transfer_id)?.ok_or_else(|| hongbao_store::corrupt(format!("a send of missing transfer {transfer_id}")))?;
                match (transfer.status, transfer.txn_nos.get(1)) {
                    (TransferStatus::Settled, Some(settlement)) => Ok(vec![PaymentLeg {
                        payer: transfer.sender_id,
                        recipient: transfer.recipient_id,
                        amount: transfer.amount,
                        txn_no: settlement.clone(),
                    }]),
                    _ => Ok(Vec::new()),
                }
            }
            _ => Ok(Vec::new()),
        }
    }

    /// The payer and the recipient of a settled claim or transfer; `None` for other transactions.
    pub(crate) fn payer_and_recipient(&mut self, entry: &JournalEntry) -> ServiceResult<Option<(UserId, UserId)>> {
        let related = entry.txn.related();
        match entry.txn.kind() {
            TxnKind::PacketClaim => {
                let packet_id = related.packet_id.as_ref().ok_or_else(|| hongbao_store::corrupt("a claim without its packet"))?;
                let packet = self.batch.packet(packet_id)?.ok_or_else(|| hongbao_store::corrupt(format!("claim of missing packet {packet_id}")))?;
                let claimer = entry
                    .txn
                    .postings()
                    .iter()
                    .find_map(|posting| match &posting.account {
                        Account::Wallet(user) if posting.amount > 0 => Some(user.clone()),
                        _ => None,
                    })
                    .ok_or_else(|| hongbao_store::corrupt("a claim that credits no wallet"))?;
                Ok(Some((packet.sender_id, claimer)))
            }
            TxnKind::TransferSettle => {
                let transfer_id = related.transfer_id.as_ref().ok_or_else(|| hongbao_store::corrupt("a settlement without its transfer"))?;
                let transfer =
                    self.batch.transfer(transfer_id)?.ok_or_else(|| hongbao_store::corrupt(format!("settlement of missing transfer {transfer_id}")))?;
                Ok(Some((transfer.sender_id, transfer.recipient_id)))
            }
            _ => Ok(None),
        }
    }

    fn create_return_request(
        &mut self,
        requester_id: UserId,
        txn_no: TxnNo,
        amount: Option<Amount>,
        reason: String,
        respond_within_seconds: Option<i64>,
    ) -> ServiceResult<Outcome> {
        let entry = self.batch.journal_entry(&txn_no)?.ok_or(ServiceError::NotFound("transaction"))?;
        let is_party = entry.txn.postings().iter().any(|posting| posting.account == Account::Wallet(requester_id.clone()));
        let Some((payer, recipient)) = self.payer_and_recipient(&entry)? else {
            if is_party {
                return Err(ServiceError::Validation("only a packet claim or a settled transfer can be asked back".into()));
            }
            return Err(ServiceError::NotFound("transaction"));
        };
        if payer != requester_id {
            if recipient == requester_id {
                return Err(ServiceError::Forbidden("only the payer of a transaction can ask for it back".into()));
            }
            return Err(ServiceError::NotFound("transaction"));
        }
        if payer == recipient {
            return Err(ServiceError::Validation("this money went to yourself; there is nobody to ask".into()));
        }
        let earlier = self.batch.return_requests_for_txn(&txn_no)?;
        // What returns, case refunds and reversals already gave back cannot be asked back again.
        let left = self.uncorrected(&entry)?;
        let new = NewRequest { left, earlier_requests: &earlier, amount, reason: &reason, respond_within_seconds };
        let (amount, respond_by) = returns::check_new_request(&new, &self.config.returns, self.now)?;
        let request = ReturnRequest {
            id: ReturnRequestId::generate(self.now, self.rng),
            txn_no,
            requester_id,
            recipient_id: recipient,
            amount,
            reason: reason.trim().to_owned(),
            status: ReturnRequestStatus::Pending,
            created_at: self.now,
            respond_by,
            responded_at: None,
            decline_reason: None,
            return_txn_no: None,
        };
        self.batch.insert_return_request(request.clone());
        self.notify_return_request(&request)?;
        self.record_velocity(&request.requester_id, "return_request")?;
        Ok(Outcome::ReturnRequest(request))
    }

    fn visible_return_request(&mut self, request_id: &ReturnRequestId, user_id: &UserId) -> ServiceResult<ReturnRequest> {
        let request = self.batch.return_request(request_id)?.ok_or(ServiceError::NotFound("return request"))?;
        if &request.requester_id != user_id && &request.recipient_id != user_id {
            return Err(ServiceError::NotFound("return request"));
        }
        Ok(request)
    }

    fn accept_return_request(&mut self, request_id: &ReturnRequestId, user_id: &UserId) -> ServiceResult<Outcome> {
        let mut request = self.visible_return_request(request_id, user_id)?;
        request.check_accept(user_id, self.now)?;
        // A case refund or a reversal while the request waited may have moved some of the money back.
        let original =
            self.batch.journal_entry(&request.txn_no)?.ok_or_else(|| hongbao_store::corrupt(format!("a request about missing {}", request.txn_no)))?;
        let left = self.uncorrected(&original)?;
        if request.amount > left {
            return Err(ServiceError::InvalidState(format!("only {left} of {} is left to give back; a refund or a reversal took the rest", request.txn_no)));
        }
        self.require_available(user_id, request.amount)?;
        let txn_no = self.new_txn_no();
        let related = Related { corrects_txn_no: Some(request.txn_no.clone()), return_request_id: Some(request.id.clone()), ..Related::default() };
        let txn = LedgerTxn::transfer_between(
            txn_no.clone(),
            TxnKind::Return,
            self.now,
            request.amount,
            Account::Wallet(request.recipient_id.clone()),
            Account::Wallet(request.requester_id.clone()),
            related,
        )
        .with_memo(Some(request.reason.clone()));
        let (requester_id, recipient_id) = (request.requester_id.clone(), request.recipient_id.clone());
        self.post(txn, &[&requester_id, &recipient_id])?;
        request.record_accept(txn_no, self.now);
        self.batch.update_return_request(request.clone());
        self.notify_return_request(&request)?;
        Ok(Outcome::ReturnRequest(request))
    }

    fn decline_return_request(&mut self, request_id: &ReturnRequestId, user_id: &UserId, reason: Option<String>) -> ServiceResult<Outcome> {
        if reason.as_ref().is_some_and(|reason| reason.chars().count() > self.config.returns.max_reason_chars || !hongbao_core::text::is_storable(reason)) {
            return Err(ServiceError::Validation(format!("a reason has at most {} characters, and no NUL character", self.config.returns.max_reason_chars)));
        }
        let mut request = self.visible_return_request(request_id, user_id)?;
        request.decline(user_id, reason, self.now)?;
        self.batch.update_return_request(request.clone());
        self.notify_return_request(&request)?;
        Ok(Outcome::ReturnRequest(request))
    }

    fn return_request_timer(&mut self, request_id: &ReturnRequestId) -> ServiceResult<Outcome> {
        let Some(mut request) = self.batch.return_request(request_id)? else { return Ok(Outcome::Nothing) };
        if !request.on_timer(self.now) {
            return Ok(Outcome::Nothing);
        }
        self.batch.update_return_request(request.clone());
        self.notify_return_request(&request)?;
        Ok(Outcome::ReturnRequest(request))
    }
}
