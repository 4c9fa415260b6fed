//! The pure domain core of hongbao: money, ids, time, the ledger and its hash chain, red packets and the
//! lucky split, transfers, return requests, cases, freezes, operators and their audit log.
//!
//! Architecture invariant: this crate does no IO. It never reads the clock or a global random source;
//! time arrives as [`Timestamp`] arguments and randomness as a [`rand_core::RngCore`] argument. Its only
//! dependencies are `sha2`, `rand_core` and `thiserror` (checked by a test in the `hongbao` crate).

pub mod calendar;
pub mod cases;
pub mod events;
pub mod freeze;
pub mod ids;
pub mod ledger;
pub mod legal;
pub mod merchant;
pub mod money;
pub mod names;
pub mod packet;
pub mod returns;
pub mod risk;
pub mod signing;
pub mod sniff;
pub mod split;
pub mod staff;
pub mod text;
pub mod time;
pub mod transfer;
pub mod webhooks;

pub use ids::{
    CaseRefundId, ComplaintId, DisclosureId, EvidenceId, FreezeId, GroupId, IdError, MerchantKeyId, OperatorId, PacketId, ReturnRequestId, ReversalId,
    TransferId, TxnNo, UserId, WebhookId,
};
pub use ledger::{Account, CanonicalError, JournalHash, LedgerTxn, Posting, Related, TxnKind, TxnParts};
pub use money::{Amount, MoneyError};
pub use packet::{Audience, Packet, PacketError, PacketKind, PacketLimits, PacketStatus};
pub use time::Timestamp;
