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
        out.extend_from_slice(CANONICAL_VERSION);
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

    /// Reads back the bytes [`LedgerTxn::canonical_bytes`] wrote, returning the journal sequence number
    /// and the transaction.
    ///
    /// The decoding is strict, so that one transaction has exactly one encoding: the version prefix must
    /// be `hongbao-journal-v1\0`, every length must fit in what is left, every option tag must be 0 or 1,
    /// every text must be UTF-8 and parse as its type (ids, kind, accounts, a non-negative amount of at
    /// most [`crate::money::MAX_AMOUNT`]), and nothing may follow the last posting.
    ///
    /// Like [`LedgerTxn::stored`], it does not check that the postings balance: a verifier that reads an
    /// entry proven to be in the journal should be able to say that it is unbalanced, not fail to read
    /// it. Ask [`LedgerTxn::is_balanced`].
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<(u64, LedgerTxn), CanonicalError> {
        let mut reader = CanonicalReader { rest: bytes };
        let version = reader.take(CANONICAL_VERSION.len(), "version")?;
        if version != CANONICAL_VERSION {
            return Err(CanonicalError::UnknownVersion);
        }
        let seq = reader.u64("sequence number")?;
        let txn_no = reader.parsed("transaction number", |text| TxnNo::parse(text).ok())?;
        let kind = reader.parsed("kind", TxnKind::parse)?;
        let created_at = Timestamp::from_millis(reader.i64("time")?);
        let amount_units = reader.i64("amount")?;
        let amount = Amount::new(amount_units).map_err(|_| CanonicalError::Invalid { field: "amount", text: amount_units.to_string() })?;
        let memo = reader.optional_text("memo")?.map(str::to_owned);
        let reference = reader.optional_text("reference")?.map(str::to_owned);
        let related = Related {
            packet_id: reader.optional_parsed("packet id", |text| PacketId::parse(text).ok())?,
            transfer_id: reader.optional_parsed("transfer id", |text| TransferId::parse(text).ok())?,
            corrects_txn_no: reader.optional_parsed("corrected transaction number", |text| TxnNo::parse(text).ok())?,
            return_request_id: reader.optional_parsed("return request id", |text| ReturnRequestId::parse(text).ok())?,
        };
        let n_postings = reader.u32("number of postings")? as usize;
        // A posting takes at least 12 bytes (an empty account name and an amount), so a count the rest
        // cannot hold is refused before anything is allocated for it.
        if n_postings > reader.rest.len() / 12 {
            return Err(CanonicalError::Truncated { field: "postings" });
        }
        let mut postings = Vec::with_capacity(n_postings);
        for _ in 0..n_postings {
            let account = reader.parsed("account", Account::parse)?;
            let amount = reader.i64("posting amount")?;
            postings.push(Posting { account, amount });
        }
        if !reader.rest.is_empty() {
            return Err(CanonicalError::TrailingBytes { count: reader.rest.len() });
        }
        let txn = LedgerTxn { txn_no, kind, created_at, amount, memo, reference, related, postings };
        debug_assert_eq!(txn.canonical_bytes(seq), bytes, "a strict decoding re-encodes to the same bytes");
        Ok((seq, txn))
    }
}

/// The prefix of every canonical encoding: its name and version, and a NUL so that no text field of a
/// later version can be mistaken for it.
const CANONICAL_VERSION: &[u8] = b"hongbao-journal-v1\0";

/// Why bytes are not the canonical encoding of a ledger transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    #[error("the bytes do not start with the version prefix hongbao-journal-v1")]
    UnknownVersion,
    #[error("the bytes end inside the {field}")]
    Truncated { field: &'static str },
    #[error("the {field} has an option tag of {tag}, not 0 or 1")]
    BadOptionTag { field: &'static str, tag: u8 },
    #[error("the {field} is not UTF-8")]
    NotUtf8 { field: &'static str },
    #[error("the {field} {text:?} is not valid")]
    Invalid { field: &'static str, text: String },
    #[error("{count} bytes follow the last posting")]
    TrailingBytes { count: usize },
}

/// A cursor over canonical bytes; each read names the field it reads, for the error.
struct CanonicalReader<'a> {
    rest: &'a [u8],
}

impl<'a> CanonicalReader<'a> {
    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], CanonicalError> {
        let Some((taken, rest)) = self.rest.split_at_checked(len) else {
            return Err(CanonicalError::Truncated { field });
        };
        self.rest = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], CanonicalError> {
        Ok(self.take(N, field)?.try_into().expect("take returns exactly N bytes"))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, CanonicalError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, CanonicalError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, CanonicalError> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }

    fn text(&mut self, field: &'static str) -> Result<&'a str, CanonicalError> {
        let len = self.u32(field)? as usize;
        std::str::from_utf8(self.take(len, field)?).map_err(|_| CanonicalError::NotUtf8 { field })
    }

    fn parsed<T>(&mut self, field: &'static str, parse: impl FnOnce(&str) -> Option<T>) -> Result<T, CanonicalError> {
        let text = self.text(field)?;
        parse(text).ok_or_else(|| CanonicalError::Invalid { field, text: text.to_owned() })
    }

    fn optional_text(&mut self, field: &'static str) -> Result<Option<&'a str>, CanonicalError> {
        match self.array::<1>(field)?[0] {
            0 => Ok(None),
            1 => Ok(Some(self.text(field)?)),
            tag => Err(CanonicalError::BadOptionTag { field, tag }),
        }
    }

    fn optional_parsed<T>(&mut self, field: &'static str, parse: impl FnOnce(&str) -> Option<T>) -> Result<Option<T>, CanonicalError> {
        match self.optional_text(field)? {
            None => Ok(None),
            Some(text) => parse(text).map(Some).ok_or_else(|| CanonicalError::Invalid { field, text: text.to_owned() }),
        }
    }
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

    /// The hash as 64 lowercase hex digits, the form in which rows and answers carry it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A hash from its 64 hex digits, in either case.
    pub fn from_hex(text: &str) -> Option<JournalHash> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(JournalHash(bytes))
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
    fn hashes_read_back_from_their_hex() {
        let hash = JournalHash(std::array::from_fn(|index| (index * 37) as u8));
        let text = hash.to_hex();
        assert_eq!(text, "00254a6f94b9de03284d7297bce1062b50759abfe4092e53789dc2e70c31567b");
        assert_eq!(JournalHash::from_hex(&text), Some(hash));
        assert_eq!(JournalHash::from_hex(&text.to_uppercase()), Some(hash), "stored hashes may be written in either case");
        assert_eq!(JournalHash::GENESIS.to_hex(), "0".repeat(64));
        for bad in ["", "00", &text[..62], &format!("{text}00"), &format!("+0{}", &text[2..]), &format!("g0{}", &text[2..]), &format!("é{}", &text[2..])] {
            assert_eq!(JournalHash::from_hex(bad), None, "{bad:?}");
        }
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

    fn full_txn() -> LedgerTxn {
        let related = Related {
            packet_id: Some(PacketId::parse("pkt_p1").expect("valid")),
            transfer_id: Some(TransferId::parse("trf_t1").expect("valid")),
            corrects_txn_no: Some(TxnNo::parse("txn_earlier").expect("valid")),
            return_request_id: Some(ReturnRequestId::parse("rrq_r1").expect("valid")),
        };
        LedgerTxn::new(TxnParts {
            txn_no: TxnNo::parse("txn_full").expect("valid"),
            kind: TxnKind::Reversal,
            created_at: Timestamp::from_millis(1_764_200_552_123),
            amount: Amount::new(12_34).expect("valid"),
            memo: Some("恭喜发财".into()),
            reference: Some("".into()),
            related,
            postings: vec![
                Posting { account: Account::PacketEscrow(PacketId::parse("pkt_p1").expect("valid")), amount: -12_34 },
                Posting { account: alice(), amount: 10_00 },
                Posting { account: Account::TransferHold(TransferId::parse("trf_t1").expect("valid")), amount: 2_34 },
            ],
        })
        .expect("balanced")
    }

    #[test]
    fn canonical_bytes_round_trip() {
        let minimal = txn(5, vec![(Account::Funding, -5), (alice(), 5)]).expect("balanced").with_reference(None);
        for (seq, original) in [(1, minimal), (u64::MAX, full_txn())] {
            let bytes = original.canonical_bytes(seq);
            assert_eq!(LedgerTxn::from_canonical_bytes(&bytes), Ok((seq, original)));
        }
        for kind in TxnKind::ALL {
            let mut original = full_txn();
            original.kind = kind;
            assert_eq!(LedgerTxn::from_canonical_bytes(&original.canonical_bytes(7)), Ok((7, original)));
        }
    }

    #[test]
    fn decoding_is_strict() {
        let bytes = full_txn().canonical_bytes(3);
        for len in 0..bytes.len() {
            assert!(
                matches!(LedgerTxn::from_canonical_bytes(&bytes[..len]), Err(CanonicalError::Truncated { .. } | CanonicalError::UnknownVersion)),
                "cut at {len}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(LedgerTxn::from_canonical_bytes(&longer), Err(CanonicalError::TrailingBytes { count: 1 }));

        let mut other_version = bytes.clone();
        other_version[17] = b'2';
        assert_eq!(LedgerTxn::from_canonical_bytes(&other_version), Err(CanonicalError::UnknownVersion));

        // The transaction number's length prefix follows the 19-byte version and the 8-byte sequence number.
        let mut too_long = bytes.clone();
        too_long[27..31].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(LedgerTxn::from_canonical_bytes(&too_long), Err(CanonicalError::Truncated { field: "transaction number" }));

        let mut bad_id = bytes.clone();
        bad_id[31..35].copy_from_slice(b"usr_");
        assert!(matches!(LedgerTxn::from_canonical_bytes(&bad_id), Err(CanonicalError::Invalid { field: "transaction number", .. })));

        let minimal = txn(5, vec![(Account::Funding, -5), (alice(), 5)]).expect("balanced").with_reference(None);
        let minimal_bytes = minimal.canonical_bytes(1);
        // The memo's tag follows the version, sequence number, "txn_test", "top_up", time and amount.
        let memo_tag = 19 + 8 + 4 + 8 + 4 + 6 + 8 + 8;
        assert_eq!(minimal_bytes[memo_tag], 0);
        let mut bad_tag = minimal_bytes.clone();
        bad_tag[memo_tag] = 2;
        assert_eq!(LedgerTxn::from_canonical_bytes(&bad_tag), Err(CanonicalError::BadOptionTag { field: "memo", tag: 2 }));

        let count_at = minimal_bytes.len() - 2 * (4 + 8) - "platform:funding".len() - "wallet:usr_alice".len() - 4;
        let mut many_postings = minimal_bytes.clone();
        many_postings[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(LedgerTxn::from_canonical_bytes(&many_postings), Err(CanonicalError::Truncated { field: "postings" }));

        let mut negative_amount = minimal_bytes.clone();
        negative_amount[memo_tag - 8..memo_tag].copy_from_slice(&(-5i64).to_be_bytes());
        assert!(matches!(LedgerTxn::from_canonical_bytes(&negative_amount), Err(CanonicalError::Invalid { field: "amount", .. })));
    }

    #[test]
    fn decoding_keeps_an_unbalanced_transaction_for_the_verifier_to_report() {
        let unbalanced = LedgerTxn::stored(
            TxnNo::parse("txn_bad").expect("valid"),
            TxnKind::TopUp,
            Timestamp::from_millis(0),
            Amount::new(5).expect("valid"),
            None,
            None,
            Related::default(),
            vec![Posting { account: alice(), amount: 5 }],
        );
        let (_, decoded) = LedgerTxn::from_canonical_bytes(&unbalanced.canonical_bytes(1)).expect("well formed");
        assert!(!decoded.is_balanced());
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        fn id_suffix() -> impl Strategy<Value = String> {
            "[a-z0-9_]{1,20}"
        }

        fn account() -> impl Strategy<Value = Account> {
            prop_oneof![
                id_suffix().prop_map(|suffix| Account::Wallet(UserId::parse(&format!("usr_{suffix}")).expect("valid"))),
                id_suffix().prop_map(|suffix| Account::PacketEscrow(PacketId::parse(&format!("pkt_{suffix}")).expect("valid"))),
                id_suffix().prop_map(|suffix| Account::TransferHold(TransferId::parse(&format!("trf_{suffix}")).expect("valid"))),
                Just(Account::Funding),
                Just(Account::Payout),
            ]
        }

        prop_compose! {
            fn any_txn()(
                txn_no in id_suffix(),
                kind in prop::sample::select(TxnKind::ALL.to_vec()),
                created_at in any::<i64>(),
                amount in 0..=crate::money::MAX_AMOUNT,
                memo in prop::option::of(any::<String>()),
                reference in prop::option::of(any::<String>()),
                packet in prop::option::of(id_suffix()),
                corrects in prop::option::of(id_suffix()),
                postings in prop::collection::vec((account(), any::<i64>()), 0..5),
            ) -> LedgerTxn {
                LedgerTxn::stored(
                    TxnNo::parse(&format!("txn_{txn_no}")).expect("valid"),
                    kind,
                    Timestamp::from_millis(created_at),
                    Amount::new(amount).expect("in range"),
                    memo,
                    reference,
                    Related {
                        packet_id: packet.map(|suffix| PacketId::parse(&format!("pkt_{suffix}")).expect("valid")),
                        transfer_id: None,
                        corrects_txn_no: corrects.map(|suffix| TxnNo::parse(&format!("txn_{suffix}")).expect("valid")),
                        return_request_id: None,
                    },
                    postings.into_iter().map(|(account, amount)| Posting { account, amount }).collect(),
                )
            }
        }

        proptest! {
            #[test]
            fn every_transaction_round_trips(txn in any_txn(), seq in any::<u64>()) {
                prop_assert_eq!(LedgerTxn::from_canonical_bytes(&txn.canonical_bytes(seq)), Ok((seq, txn)));
            }

            /// A changed byte either is refused or decodes to a transaction that encodes to exactly the
            /// changed bytes: no two byte strings decode to the same transaction.
            #[test]
            fn a_changed_byte_is_refused_or_is_another_transaction(txn in any_txn(), position in any::<prop::sample::Index>(), flip in 1..=255u8) {
                let mut bytes = txn.canonical_bytes(1);
                let position = position.index(bytes.len());
                bytes[position] ^= flip;
                if let Ok((seq, decoded)) = LedgerTxn::from_canonical_bytes(&bytes) {
                    prop_assert_eq!(decoded.canonical_bytes(seq), bytes);
                }
            }
        }
    }

    #[test]
    fn accounts_round_trip_through_text() {
        for account in [alice(), Account::Funding, Account::Payout, Account::PacketEscrow(PacketId::parse("pkt_x").expect("valid"))] {
            assert_eq!(Account::parse(&account.to_string()), Some(account));
        }
        assert_eq!(Account::parse("wallet:grp_x"), None);
    }
}
