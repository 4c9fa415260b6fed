//! The pure domain core of hongbao: money, ids, time, the ledger and its hash chain, red packets and the
//! lucky split.
//!
//! Architecture invariant: this crate does no IO. It never reads the clock or a global random source;
//! time arrives as [`Timestamp`] arguments and randomness as a [`rand_core::RngCore`] argument. Its only
//! dependencies are `sha2`, `rand_core` and `thiserror` (checked by a test in the `hongbao` crate).

pub mod ids;
pub mod ledger;
pub mod money;
pub mod packet;
pub mod returns;
pub mod split;
pub mod time;
pub mod transfer;

pub use ids::{GroupId, IdError, PacketId, ReturnRequestId, TransferId, TxnNo, UserId};
pub use ledger::{Account, JournalHash, LedgerTxn, Posting, Related, TxnKind, TxnParts};
pub use money::{Amount, MoneyError};
pub use packet::{Audience, Packet, PacketError, PacketKind, PacketLimits, PacketStatus};
pub use time::Timestamp;
