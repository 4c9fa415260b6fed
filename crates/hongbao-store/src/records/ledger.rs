//! The tables of the ledger itself: the journal with its postings and parties, the Merkle tree's
//! nodes over it, the idempotency records of the answers given and the settings.
//!
//! Balances are not mapped here: a batch writes them as deltas, which each backend applies in the
//! statement its database checks best (see the backends' commits).

use hongbao_core::{Account, Amount, JournalHash, LedgerTxn, PacketId, Posting, Related, ReturnRequestId, TransferId, TxnKind, TxnNo, UserId};
use hongbao_tlog::{LogId, StoredNode};

use super::ColumnType::{Bytes, Int, Text};
use super::{Cell, Fields, Query, Row, Table, Value, ok, text};
use crate::{IdempotencyRecord, JournalEntry, StoreResult, corrupt};

pub static JOURNAL: Table = Table {
    name: "journal",
    columns: &[
        ("seq", Int),
        ("txn_no", Text),
        ("kind", Text),
        ("created_at", Int),
        ("amount", Int),
        ("memo", Text),
        ("reference", Text),
        ("packet_id", Text),
        ("transfer_id", Text),
        ("corrects_txn_no", Text),
        ("prev_hash", Bytes),
        ("hash", Bytes),
        ("return_request_id", Text),
    ],
    append_only: true,
};

/// A journal entry's own row; its postings are rows of [`POSTINGS`], its parties of [`TXN_PARTIES`].
pub fn journal_cells(entry: &JournalEntry) -> [Cell<'_>; 13] {
    let (txn, related) = (&entry.txn, entry.txn.related());
    [
        Cell::Int(entry.seq as i64),
        Cell::text(txn.txn_no().as_str()),
        Cell::text(txn.kind().as_str()),
        Cell::time(txn.created_at()),
        Cell::amount(txn.amount()),
        Cell::opt_text(txn.memo()),
        Cell::opt_text(txn.reference()),
        Cell::opt_text(related.packet_id.as_ref().map(PacketId::as_str)),
        Cell::opt_text(related.transfer_id.as_ref().map(TransferId::as_str)),
        Cell::opt_text(related.corrects_txn_no.as_ref().map(TxnNo::as_str)),
        Cell::Bytes(&entry.prev_hash.0),
        Cell::Bytes(&entry.hash.0),
        Cell::opt_text(related.return_request_id.as_ref().map(ReturnRequestId::as_str)),
    ]
}

/// The sequence number in a journal row (its first column), by which its postings are found.
pub fn journal_seq(row: &Row) -> StoreResult<i64> {
    match row.first() {
        Some(Value::Int(seq)) => Ok(*seq),
        _ => Err(corrupt("a journal row without its sequence number")),
    }
}

/// An entry from its row and its postings in order. The transaction is rebuilt as stored, even when it
/// no longer balances, so that verify can report the damage instead of failing to read it.
pub fn journal_entry(row: Row, postings: Vec<Posting>) -> StoreResult<JournalEntry> {
    let mut fields = Fields::new(&JOURNAL, row)?;
    let seq = fields.int()?;
    let txn_no = fields.parsed(|text| ok(TxnNo::parse(text)))?;
    let kind = fields.parsed(TxnKind::parse)?;
    let created_at = fields.time()?;
    let units = fields.int()?;
    let amount = Amount::new(units).map_err(|error| corrupt(format!("journal entry {seq}: {error}")))?;
    let (memo, reference) = (fields.opt_text()?, fields.opt_text()?);
    let packet_id = fields.opt_parsed(|text| ok(PacketId::parse(text)))?;
    let transfer_id = fields.opt_parsed(|text| ok(TransferId::parse(text)))?;
    let corrects_txn_no = fields.opt_parsed(|text| ok(TxnNo::parse(text)))?;
    let prev_hash = JournalHash(fields.hash_bytes()?);
    let hash = JournalHash(fields.hash_bytes()?);
    let return_request_id = fields.opt_parsed(|text| ok(ReturnRequestId::parse(text)))?;
    let related = Related { packet_id, transfer_id, corrects_txn_no, return_request_id };
    let txn = LedgerTxn::stored(txn_no, kind, created_at, amount, memo, reference, related, postings);
    Ok(JournalEntry { seq: seq as u64, txn, prev_hash, hash })
}

pub static POSTINGS: Table = Table { name: "postings", columns: &[("seq", Int), ("idx", Int), ("account", Text), ("amount", Int)], append_only: true };

/// The postings of a journal entry, each with the entry's sequence number and its index in it.
pub fn posting_cells(entry: &JournalEntry) -> impl Iterator<Item = [Cell<'_>; 4]> {
    entry
        .txn
        .postings()
        .iter()
        .enumerate()
        .map(|(index, posting)| [Cell::Int(entry.seq as i64), Cell::Int(index as i64), Cell::owned(posting.account.to_string()), Cell::Int(posting.amount)])
}

/// A posting with the sequence number of its entry.
pub fn posting_from_row(row: Row) -> StoreResult<(i64, Posting)> {
    let mut fields = Fields::new(&POSTINGS, row)?;
    let seq = fields.int()?;
    fields.skip();
    let account = fields.parsed(Account::parse)?;
    Ok((seq, Posting { account, amount: fields.int()? }))
}

/// The users a journal entry concerns, who may look it up.
pub static TXN_PARTIES: Table = Table { name: "txn_parties", columns: &[("seq", Int), ("user_id", Text)], append_only: false };

/// The parties of a journal entry, each once.
pub fn party_cells<'a>(entry: &'a JournalEntry, parties: &'a [UserId]) -> impl Iterator<Item = [Cell<'a>; 2]> {
    parties
        .iter()
        .enumerate()
        .filter(|(index, party)| !parties[..*index].contains(party))
        .map(|(_, party)| [Cell::Int(entry.seq as i64), Cell::text(party.as_str())])
}

/// The Merkle trees' nodes over the journal: complete subtrees by log, level and index, keyed by log,
/// the tree size at which each is complete (`NodeId::complete_at`) and level, so that the nodes one
/// batch completes lie side by side.
pub static MERKLE_NODES: Table =
    Table { name: "merkle_nodes", columns: &[("log_id", Int), ("complete_at", Int), ("level", Int), ("idx", Int), ("hash", Bytes)], append_only: true };

pub fn tree_node_cells(log: LogId, node: &StoredNode) -> [Cell<'_>; 5] {
    [
        Cell::Int(i64::from(log.get())),
        Cell::Int(node.id.complete_at() as i64),
        Cell::Int(i64::from(node.id.level)),
        Cell::Int(node.id.index as i64),
        Cell::Bytes(node.hash.as_bytes()),
    ]
}

/// The answers recorded for `Idempotency-Key`s, keyed by caller and key (the first two columns).
pub static IDEMPOTENCY: Table = Table {
    name: "idempotency",
    columns: &[("caller", Text), ("key", Text), ("request_hash", Bytes), ("status", Int), ("body", Bytes), ("created_at", Int)],
    append_only: false,
};

/// How many of [`IDEMPOTENCY`]'s first columns make its key.
pub const IDEMPOTENCY_KEY_COLUMNS: usize = 2;

pub fn idempotency_cells<'a>(caller: &'a str, key: &'a str, record: &'a IdempotencyRecord) -> [Cell<'a>; 6] {
    [
        Cell::text(caller),
        Cell::text(key),
        Cell::Bytes(&record.request_hash),
        Cell::Int(i64::from(record.status)),
        Cell::Bytes(&record.body),
        Cell::time(record.created_at),
    ]
}

/// The record of one caller's key.
pub fn idempotency_record(caller: &str, key: &str) -> Query {
    Query::all(&IDEMPOTENCY, 1).equal("caller", text(caller)).equal("key", text(key))
}

pub fn idempotency_from_row(row: Row) -> StoreResult<IdempotencyRecord> {
    let mut fields = Fields::new(&IDEMPOTENCY, row)?;
    fields.skip();
    fields.skip();
    let request_hash = fields.hash_bytes()?;
    let status = fields.int()?;
    let status = u16::try_from(status).map_err(|_| corrupt(format!("idempotency: status {status}")))?;
    Ok(IdempotencyRecord { request_hash, status, body: fields.bytes()?, created_at: fields.time()? })
}

/// Settings of the deployment, kept as bytes by name.
pub static SETTINGS: Table = Table { name: "settings", columns: &[("key", Text), ("value", Bytes)], append_only: false };

pub fn setting_cells<'a>(key: &'a str, value: &'a [u8]) -> [Cell<'a>; 2] {
    [Cell::text(key), Cell::Bytes(value)]
}

pub fn setting_from_row(row: Row) -> StoreResult<Vec<u8>> {
    let mut fields = Fields::new(&SETTINGS, row)?;
    fields.skip();
    fields.bytes()
}
