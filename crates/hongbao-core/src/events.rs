//! Notices of state changes for the users they concern, written in the same transaction as the change
//! (an outbox), so none is lost and none is invented.

use crate::{Timestamp, UserId, named_enum};

named_enum!(
    EventKind {
        WalletToppedUp => "wallet.topped_up",
        WalletWithdrawn => "wallet.withdrawn",
        /// To the sender.
        PacketSent => "packet.sent",
        /// To the one named recipient of a packet, and to every member (the sender aside) of the group a
        /// packet is sent to.
        PacketReceived => "packet.received",
        /// To the claimer.
        PacketClaimed => "packet.claimed",
        /// To the sender, and for a group's packet to everyone who claimed it, when the last share is
        /// claimed.
        PacketExhausted => "packet.exhausted",
        /// To the sender, when the remainder comes back by recall or expiry.
        PacketRefunded => "packet.refunded",
        /// Transfers: to the sender and the recipient at each step.
        TransferCreated => "transfer.created",
        TransferAccepted => "transfer.accepted",
        TransferSettled => "transfer.settled",
        TransferReturned => "transfer.returned",
        TransferCancelled => "transfer.cancelled",
        TransferExpired => "transfer.expired",
        /// Return requests: to the payer who asks and the recipient asked.
        ReturnRequestCreated => "return_request.created",
        ReturnRequestAccepted => "return_request.accepted",
        ReturnRequestDeclined => "return_request.declined",
        ReturnRequestExpired => "return_request.expired",
        /// A case of the user's changed state.
        ComplaintUpdated => "complaint.updated",
        /// The user's wallet was frozen in whole or in part.
        FreezePlaced => "freeze.placed",
        FreezeLifted => "freeze.lifted",
        /// Money came back to the user through a case or a reversal, or left them through one.
        CaseRefunded => "case.refunded",
        TransactionReversed => "transaction.reversed",
        /// Something the user should look at: a new device or address, a large transaction, a
        /// velocity freeze.
        AlertRaised => "alert.raised",
    }
);

/// One notice for one user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The event's place in the outbox, which orders every user's events.
    pub seq: u64,
    pub user_id: UserId,
    pub kind: EventKind,
    /// The id of what changed.
    pub subject_id: String,
    pub created_at: Timestamp,
    /// What changed, as named values.
    pub data: Vec<(String, String)>,
}
