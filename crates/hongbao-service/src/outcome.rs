//! What an operation produced, as the writer hands it back: the vocabulary shared by the operations,
//! the writer and the HTTP layer.

use std::sync::Arc;

use hongbao_core::cases::{Complaint, Evidence};
use hongbao_core::events::Event;
use hongbao_core::freeze::Freeze;
use hongbao_core::legal::{Disclosure, Reversal};
use hongbao_core::merchant::MerchantKey;
use hongbao_core::packet::Packet;
use hongbao_core::returns::ReturnRequest;
use hongbao_core::risk::RiskPolicy;
use hongbao_core::staff::Operator;
use hongbao_core::transfer::Transfer;
use hongbao_core::webhooks::{Delivery, WebhookEndpoint};
use hongbao_core::{Amount, PacketId, Timestamp};
use hongbao_store::records::Tag;
use hongbao_store::{Claim, Group, JournalEntry, User};

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
    /// A user as they are now, after a change to their profile.
    User(User),
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
    /// A signed checkpoint of the journal, as stored.
    Checkpoint(hongbao_store::transparency::StoredCheckpoint),
    /// A user's new token, shown once; the old one no longer works.
    TokenIssued {
        user: User,
        token: String,
    },
    /// A user whose token was revoked: none works until a new one is issued.
    TokenRevoked(User),
    /// How many expired records were deleted.
    Removed(usize),
    /// An expiry that found nothing to do.
    Nothing,
}

/// What a confirmation shows the payer before a large payment goes ahead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfirmationSummary {
    pub amount: Amount,
    /// `user` or `group`.
    pub audience_kind: &'static str,
    pub audience_id: String,
    /// The recipient's name, or the group's.
    pub audience_name: String,
    /// The members of a group audience.
    pub audience_size: Option<u32>,
    /// The transfer's memo or the packet's greeting.
    pub memo: Option<String>,
    pub token: String,
    pub expires_at: Timestamp,
}

/// A delivery taken for an attempt, with what the attempt needs.
#[derive(Clone, Debug)]
pub struct Leased {
    pub delivery: Delivery,
    pub endpoint: WebhookEndpoint,
    pub event: Event,
}
