//! The double-entry ledger: accounts, postings, balanced transactions, and the hash chain of the journal.
//!
//! Every movement of money is one [`LedgerTxn`] whose postings sum to zero. Transactions are appended to
//! a journal in sequence; each entry's hash is SHA-256 over the previous entry's hash followed by the
//! entry's canonical bytes, so editing any entry breaks every hash after it.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::{Amount, PacketId, ReturnRequestId, Timestamp, TransferId, TxnNo, UserId};

/// An account of the ledger. Its string form (`wallet:usr_…`, `escrow:pkt_…`, `hold:trf_…`,
/// `platform:funding`, `platform:payout`) is how storage and the API name it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Account {
    /// A user's wallet (零钱). Never negative.
    Wallet(UserId),
    /// The escrow of one packet: what was sent and is not yet claimed or refunded. Never negative.
    PacketEscrow(PacketId),
    /// The hold of one transfer until it settles or goes back. Never negative.
    TransferHold(TransferId),
    /// The platform's funding account: top-ups come from here, so it is negative by what was put in.
    Funding,
    /// The platform's payout account: withdrawals go here.
    Payout,
}

impl Account {
    pub fn parse(text: &str) -> Option<Account> {
        match text.split_once(':')? {
            ("wallet", id) => UserId::parse(id).ok().map(Account::Wallet),
            ("escrow", id) => PacketId::parse(id).ok().map(Account::PacketEscrow),
            ("hold", id) => TransferId::parse(id).ok().map(Account::TransferHold),
            ("platform", "funding") => Some(Account::Funding),
            ("platform", "payout") => Some(Account::Payout),
            _ => None,
        }
    }

    /// Whether the ledger forbids this account's balance from going below zero.
    pub fn must_stay_non_negative(&self) -> bool {
        !matches!(self, Account::Funding)
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Account::Wallet(id) => write!(f, "wallet:{id}"),
            Account::PacketEscrow(id) => write!(f, "escrow:{id}"),
            Account::TransferHold(id) => write!(f, "hold:{id}"),
            Account::Funding => f.write_str("platform:funding"),
            Account::Payout => f.write_str("platform:payout"),
        }
    }
}

/// One leg of a transaction: a signed change to one account's balance, in minor units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posting {
    pub account: Account,
    pub amount: i64,
}

/// What a ledger transaction is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxnKind {
    TopUp,
    Withdrawal,
    PacketSend,
    PacketClaim,
    PacketRefund,
    TransferSend,
    TransferSettle,
    TransferRefund,
    Return,
    CaseRefund,
    Reversal,
}

impl TxnKind {
    pub const ALL: [TxnKind; 11] = [
        TxnKind::TopUp,
        TxnKind::Withdrawal,
        TxnKind::PacketSend,
        TxnKind::PacketClaim,
        TxnKind::PacketRefund,
        TxnKind::TransferSend,
        TxnKind::TransferSettle,
        TxnKind::TransferRefund,
        TxnKind::Return,
        TxnKind::CaseRefund,
        TxnKind::Reversal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TxnKind::TopUp => "top_up",
            TxnKind::Withdrawal => "withdrawal",
            TxnKind::PacketSend => "packet_send",
            TxnKind::PacketClaim => "packet_claim",
            TxnKind::PacketRefund => "packet_refund",
            TxnKind::TransferSend => "transfer_send",
            TxnKind::TransferSettle => "transfer_settle",
            TxnKind::TransferRefund => "transfer_refund",
            TxnKind::Return => "return",
            TxnKind::CaseRefund => "case_refund",
            TxnKind::Reversal => "reversal",
        }
    }

    pub fn parse(text: &str) -> Option<TxnKind> {
        TxnKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// The ids a transaction concerns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Related {
    pub packet_id: Option<PacketId>,
    pub transfer_id: Option<TransferId>,
    /// The transaction this one corrects or returns, for returns, refunds of cases and reversals.
    pub corrects_txn_no: Option<TxnNo>,
    pub return_request_id: Option<ReturnRequestId>,
}

/// Everything needed to record a transaction, before it is checked.
#[derive(Clone, Debug)]
pub struct TxnParts {
    pub txn_no: TxnNo,
    pub kind: TxnKind,
    pub created_at: Timestamp,
    pub amount: Amount,
    pub memo: Option<String>,
    pub reference: Option<String>,
    pub related: Related,
    pub postings: Vec<Posting>,
}

/// A balanced ledger transaction. It can only be built through [`LedgerTxn::new`], which checks that
/// its postings sum to zero.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerTxn {
    txn_no: TxnNo,
    kind: TxnKind,
    created_at: Timestamp,
    amount: Amount,
    memo: Option<String>,
    reference: Option<String>,
    related: Related,
    postings: Vec<Posting>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("transaction {txn_no} has no postings")]
    NoPostings { txn_no: TxnNo },
    #[error("transaction {txn_no} has a zero posting to {account}")]
    ZeroPosting { txn_no: TxnNo, account: Account },
    #[error("transaction {txn_no} is unbalanced: its postings sum to {sum}")]
    Unbalanced { txn_no: TxnNo, sum: i128 },
}

impl LedgerTxn {
    pub fn new(parts: TxnParts) -> Result<LedgerTxn, LedgerError> {
        let TxnParts { txn_no, kind, created_at, amount, memo, reference, related, postings } = parts;
        if postings.is_empty() {
            return Err(LedgerError::NoPostings { txn_no });
        }
        if let Some(zero) = postings.iter().find(|posting| posting.amount == 0) {
            return Err(LedgerError::ZeroPosting { txn_no, account: zero.account.clone() });
        }
        let sum: i128 = postings.iter().map(|posting| i128::from(posting.amount)).sum();
        if sum != 0 {
            return Err(LedgerError::Unbalanced { txn_no, sum });
        }
        Ok(LedgerTxn { txn_no, kind, created_at, amount, memo, reference, related, postings })
    }

    /// A transaction exactly as it was stored, without the balance check, so that `verify` can read a
    /// damaged journal and report what is wrong with it.
    #[allow(clippy::too_many_arguments)]
    pub fn stored(
        txn_no: TxnNo,
        kind: TxnKind,
        created_at: Timestamp,
        amount: Amount,
        memo: Option<String>,
        reference: Option<String>,
        related: Related,
        postings: Vec<Posting>,
    ) -> LedgerTxn {
        LedgerTxn { txn_no, kind, created_at, amount, memo, reference, related, postings }
    }

    /// Whether the postings sum to zero.
    pub fn is_balanced(&self) -> bool {
        self.postings.iter().map(|posting| i128::from(posting.amount)).sum::<i128>() == 0
    }

    /// A transaction moving `amount` from one account to another.
    pub fn transfer_between(txn_no: TxnNo, kind: TxnKind, created_at: Timestamp, amount: Amount, from: Account, to: Account, related: Related) -> LedgerTxn {
        let postings = vec![Posting { account: from, amount: -amount.minor_units() }, Posting { account: to, amount: amount.minor_units() }];
        let parts = TxnParts { txn_no, kind, created_at, amount, memo: None, reference: None, related, postings };
        LedgerTxn::new(parts).expect("two opposite postings of a positive amount balance")
    }

    pub fn with_reference(mut self, reference: Option<String>) -> LedgerTxn {
        self.reference = reference;
        self
    }

    pub fn with_memo(mut self, memo: Option<String>) -> LedgerTxn {
        self.memo = memo;
        self
    }

    pub fn txn_no(&self) -> &TxnNo {
        &self.txn_no
    }
    pub fn kind(&self) -> TxnKind {
        self.kind
    }
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }
    pub fn amount(&self) -> Amount {
        self.amount
    }
    pub fn memo(&self) -> Option<&str> {
        self.memo.as_deref()
    }
    pub fn reference(&self) -> Option<&str> {
        self.reference.as_deref()
    }
    pub fn related(&self) -> &Related {
        &self.related
    }
    pub fn postings(&self) -> &[Posting] {
        &self.postings
    }

    /// The signed change this transaction makes to one account.
    pub fn delta_for(&self, account: &Account) -> i64 {
        self.postings.iter().filter(|posting| &posting.account == account).map(|posting| posting.amount).sum()
    }

    /// The bytes the journal hashes: a versioned, length-prefixed encoding of every field and posting in
    /// order, so two different transactions never encode alike.
    pub fn canonical_bytes(&self, seq: u64) -> Vec<u8> {
        fn put_str(out: &mut Vec<u8>, text: &str) {
            out.extend_from_slice(&(text.len() as u32).to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        fn put_opt(out: &mut Vec<u8>, text: Option<&str>) {
            match text {
                None => out.push(0),
                Some(text) => {
                    out.push(1);
                    put_str(out, text);
                }
            }
        }
        let mut out = Vec::with_capacity(128 + 64 * self.postings.len());
        out.extend_from_slice(b"hongbao-journal-v1\0");
        out.extend_from_slice(&seq.to_be_bytes());
        put_str(&mut out, self.txn_no.as_str());
        put_str(&mut out, self.kind.as_str());
        out.extend_from_slice(&self.created_at.millis().to_be_bytes());
        out.extend_from_slice(&self.amount.minor_units().to_be_bytes());
        put_opt(&mut out, self.memo.as_deref());
        put_opt(&mut out, self.reference.as_deref());
        put_opt(&mut out, self.related.packet_id.as_ref().map(PacketId::as_str));
        put_opt(&mut out, self.related.transfer_id.as_ref().map(TransferId::as_str));
        put_opt(&mut out, self.related.corrects_txn_no.as_ref().map(TxnNo::as_str));
        put_opt(&mut out, self.related.return_request_id.as_ref().map(ReturnRequestId::as_str));
        out.extend_from_slice(&(self.postings.len() as u32).to_be_bytes());
        for posting in &self.postings {
            put_str(&mut out, &posting.account.to_string());
            out.extend_from_slice(&posting.amount.to_be_bytes());
        }
        out
    }
}

/// Bytes as lowercase hex: hashes, tokens, signatures.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The SHA-256 hash of one journal entry, chained to the one before.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct JournalHash(pub [u8; 32]);

impl JournalHash {
    /// The "previous hash" of the first entry.
    pub const GENESIS: JournalHash = JournalHash([0; 32]);

    /// The hash of entry `seq` holding `txn`, after the entry whose hash is `self`.
    pub fn chain(&self, seq: u64, txn: &LedgerTxn) -> JournalHash {
        let mut hasher = Sha256::new();
        hasher.update(self.0);
        hasher.update(txn.canonical_bytes(seq));
        JournalHash(hasher.finalize().into())
    }

    pub fn from_slice(bytes: &[u8]) -> Option<JournalHash> {
        Some(JournalHash(bytes.try_into().ok()?))
    }

    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for JournalHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JournalHash({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(amount: i64, postings: Vec<(Account, i64)>) -> Result<LedgerTxn, LedgerError> {
        LedgerTxn::new(TxnParts {
            txn_no: TxnNo::parse("txn_test").expect("valid"),
            kind: TxnKind::TopUp,
            created_at: Timestamp::from_millis(1),
            amount: Amount::new(amount).expect("valid"),
            memo: None,
            reference: Some("ref".into()),
            related: Related::default(),
            postings: postings.into_iter().map(|(account, amount)| Posting { account, amount }).collect(),
        })
    }

    fn alice() -> Account {
        Account::Wallet(UserId::parse("usr_alice").expect("valid"))
    }

    #[test]
    fn refuses_unbalanced_and_empty_transactions() {
        assert!(txn(5, vec![(Account::Funding, -5), (alice(), 5)]).is_ok());
        assert!(matches!(txn(5, vec![(Account::Funding, -5), (alice(), 4)]), Err(LedgerError::Unbalanced { sum: -1, .. })));
        assert!(matches!(txn(5, vec![]), Err(LedgerError::NoPostings { .. })));
        assert!(matches!(txn(5, vec![(Account::Funding, 0), (alice(), 0)]), Err(LedgerError::ZeroPosting { .. })));
    }

    #[test]
    fn hash_chain_depends_on_every_field_and_the_previous_hash() {
        let base = txn(5, vec![(Account::Funding, -5), (alice(), 5)]).expect("balanced");
        let first = JournalHash::GENESIS.chain(1, &base);
        assert_eq!(first, JournalHash::GENESIS.chain(1, &base), "hashing is deterministic");
        assert_ne!(first, JournalHash::GENESIS.chain(2, &base), "the sequence number is hashed");
        assert_ne!(first, first.chain(1, &base), "the previous hash is hashed");
        let other_amount = txn(6, vec![(Account::Funding, -5), (alice(), 5)]).expect("balanced");
        assert_ne!(first, JournalHash::GENESIS.chain(1, &other_amount));
        let other_reference = base.clone().with_reference(Some("ref2".into()));
        assert_ne!(first, JournalHash::GENESIS.chain(1, &other_reference));
        let moved = txn(5, vec![(Account::Payout, -5), (alice(), 5)]).expect("balanced");
        assert_ne!(first, JournalHash::GENESIS.chain(1, &moved));
    }

    #[test]
    fn accounts_round_trip_through_text() {
        for account in [alice(), Account::Funding, Account::Payout, Account::PacketEscrow(PacketId::parse("pkt_x").expect("valid"))] {
            assert_eq!(Account::parse(&account.to_string()), Some(account));
        }
        assert_eq!(Account::parse("wallet:grp_x"), None);
    }
}
