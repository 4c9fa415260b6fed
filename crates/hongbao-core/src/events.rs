//! Notices of state changes for the users they concern, written in the same transaction as the change
//! (an outbox), so none is lost and none is invented.

use crate::{Timestamp, UserId, named_enum};

named_enum!(
    EventKind {
        /// A case of the user's changed state.
        ComplaintUpdated => "complaint.updated",
        /// The user's wallet was frozen in whole or in part.
        FreezePlaced => "freeze.placed",
        FreezeLifted => "freeze.lifted",
        /// Money came back to the user through a case or a reversal, or left them through one.
        CaseRefunded => "case.refunded",
        TransactionReversed => "transaction.reversed",
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
