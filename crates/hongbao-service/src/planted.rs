//! Bugs planted on purpose, so that a test can show the simulation finds each one
//! (`tests/it/simulation`). This module and the three lines that call it exist only with the
//! `planted-bugs` feature, and each bug runs only when `Config::planted_bugs` switches it on; every
//! call site is marked `PLANTED BUG`.

use hongbao_core::packet::Packet;
use hongbao_core::{Amount, LedgerTxn, Posting, Timestamp, TxnKind};

/// One planted bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// What returns, case refunds and reversals gave back of a payment is forgotten, so the payment
    /// can be given back twice.
    DoubleRefund,
    /// A claim is checked against the packet's state but not against its expiry time, so a claim after
    /// `expires_at` and before the timer's refund is accepted.
    ClaimAfterExpiry,
    /// A claim credits the claimer one fen more than it takes out of the escrow: a transaction whose
    /// postings do not sum to zero, built past `LedgerTxn::new`'s check.
    UnbalancedPosting,
}

/// Whether `bug` is among those switched on (`Config::planted_bugs`).
fn on(switched_on: &[PlantedBug], bug: PlantedBug) -> bool {
    switched_on.contains(&bug)
}

/// What is left of a payment to give back: the whole of it, when [`PlantedBug::DoubleRefund`] is on.
pub(crate) fn uncorrected(switched_on: &[PlantedBug], paid: Amount, left: Amount) -> Amount {
    if on(switched_on, PlantedBug::DoubleRefund) { paid } else { left }
}

/// The time a claim is checked at: just before the packet's expiry, when [`PlantedBug::ClaimAfterExpiry`]
/// is on and the claim comes later.
pub(crate) fn claim_checked_at(switched_on: &[PlantedBug], packet: &Packet, now: Timestamp) -> Timestamp {
    if on(switched_on, PlantedBug::ClaimAfterExpiry) { now.min(Timestamp::from_millis(packet.expires_at.millis() - 1)) } else { now }
}

/// A claim whose credit is one fen larger than its debit, when [`PlantedBug::UnbalancedPosting`] is on.
pub(crate) fn unbalance(switched_on: &[PlantedBug], txn: LedgerTxn) -> LedgerTxn {
    if !on(switched_on, PlantedBug::UnbalancedPosting) || txn.kind() != TxnKind::PacketClaim {
        return txn;
    }
    let postings = txn
        .postings()
        .iter()
        .map(|posting| Posting { account: posting.account.clone(), amount: if posting.amount > 0 { posting.amount + 1 } else { posting.amount } })
        .collect();
    LedgerTxn::stored(
        txn.txn_no().clone(),
        txn.kind(),
        txn.created_at(),
        txn.amount(),
        txn.memo().map(str::to_owned),
        txn.reference().map(str::to_owned),
        txn.related().clone(),
        postings,
    )
}
