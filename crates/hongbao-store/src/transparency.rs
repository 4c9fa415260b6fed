//! The records of the journal as a transparency log: the signed checkpoints made of its Merkle trees,
//! and every verifier key that ever signed one. The trees' nodes themselves are not records: they are
//! written with the journal entries, in bulk (`Changes::tree_nodes`), and read through
//! `ReadConn::tree_nodes`.
//!
//! Both tables are append-only: a checkpoint is a statement the operator signed and published, and a
//! past key must stay available to verify the checkpoints it signed after the key was rotated.

use hongbao_core::Timestamp;
use hongbao_tlog::{Hash, LogId};

use crate::StoreResult;
use crate::records::{ColumnType, Fields, Query, Record, Row, Table, Value, text, time};

/// A signed checkpoint (C2SP `tlog-checkpoint`) as stored: which log, how many leaves, which root,
/// which key signed it, the signed note exactly as it was published, and when it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The checkpoint's place among all checkpoints, from 1, in the order they were stored.
    pub seq: u64,
    pub log: LogId,
    /// The tree size: the checkpoint covers journal entries 1 to `size`.
    pub size: u64,
    /// `MTH(D[0:size])` of RFC 9162 §2.1.1.
    pub root: Hash,
    /// The signing key's id, 8 lowercase hex digits (C2SP `signed-note`).
    pub key_id: String,
    /// The signed note, byte for byte as published.
    pub signed_note: String,
    pub created_at: Timestamp,
}

pub static CHECKPOINTS: Table = Table {
    name: "checkpoints",
    columns: &[
        ("seq", ColumnType::Int),
        ("log_id", ColumnType::Int),
        ("size", ColumnType::Int),
        ("root", ColumnType::Text),
        ("key_id", ColumnType::Text),
        ("signed_note", ColumnType::Text),
        ("created_at", ColumnType::Int),
    ],
    append_only: true,
};

impl Record for StoredCheckpoint {
    const TABLE: &'static Table = &CHECKPOINTS;

    fn to_row(&self) -> Row {
        vec![
            Value::Int(self.seq as i64),
            Value::Int(i64::from(self.log.get())),
            Value::Int(self.size as i64),
            text(self.root.to_base64()),
            text(&self.key_id),
            text(&self.signed_note),
            time(self.created_at),
        ]
    }

    fn from_row(row: Row) -> StoreResult<StoredCheckpoint> {
        let mut fields = Fields::new(&CHECKPOINTS, row)?;
        let seq = non_negative(fields.int()?, "checkpoint seq")?;
        let log = u32::try_from(fields.int()?).map_err(|_| crate::corrupt("checkpoints: a log id out of range"))?;
        let size = non_negative(fields.int()?, "checkpoint size")?;
        let root_text = fields.text()?;
        let root = Hash::from_base64(&root_text).ok_or_else(|| crate::corrupt(format!("checkpoints: root {root_text:?}")))?;
        Ok(StoredCheckpoint { seq, log: LogId::new(log), size, root, key_id: fields.text()?, signed_note: fields.text()?, created_at: fields.time()? })
    }
}

/// A verifier key that signs, or once signed, the log's checkpoints (C2SP `signed-note` text form),
/// kept so that checkpoints signed before a rotation stay verifiable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLogKey {
    /// `<name>+<hex key id>+<base64 key>`, as `hongbao_tlog::VerifierKey` prints it.
    pub verifier_key: String,
    /// The key's id, 8 lowercase hex digits.
    pub key_id: String,
    /// The key's name, which is the log's origin.
    pub name: String,
    /// When a process first started with the key.
    pub created_at: Timestamp,
}

pub static LOG_KEYS: Table = Table {
    name: "log_keys",
    columns: &[("verifier_key", ColumnType::Text), ("key_id", ColumnType::Text), ("name", ColumnType::Text), ("created_at", ColumnType::Int)],
    append_only: true,
};

impl Record for StoredLogKey {
    const TABLE: &'static Table = &LOG_KEYS;

    fn to_row(&self) -> Row {
        vec![text(&self.verifier_key), text(&self.key_id), text(&self.name), time(self.created_at)]
    }

    fn from_row(row: Row) -> StoreResult<StoredLogKey> {
        let mut fields = Fields::new(&LOG_KEYS, row)?;
        Ok(StoredLogKey { verifier_key: fields.text()?, key_id: fields.text()?, name: fields.text()?, created_at: fields.time()? })
    }
}

/// The log's keys, newest first.
pub fn log_keys_newest_first(limit: u32) -> Query {
    let mut query = Query::newest_first(&LOG_KEYS, limit);
    query.order = &["created_at", "verifier_key"];
    query
}

fn non_negative(value: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(value).map_err(|_| crate::corrupt(format!("a negative {what}: {value}")))
}
