//! The embedded SQLite backend: one file, one process, no set-up.
//!
//! Durability: the database runs in WAL mode with `synchronous=FULL`, so a commit returns only after
//! the WAL is fsynced. The service commits a whole batch of operations at once (group commit), so many
//! requests share one fsync.
//!
//! `connection.rs` opens the file with its pragmas and runs the checkpointer, `migrations.rs` brings
//! the schema up to date, `reads.rs` answers [`ReadConn`] and `writes.rs` answers [`WriteConn`]: the
//! batch's transaction, its prefetch and its commit. Every row is mapped in `hongbao_store::records`;
//! this crate binds its values and reads its columns by their types.

mod connection;
mod migrations;
mod reads;
mod writes;

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use hongbao_store::records::{Cell, ColumnType, Row, Table, Value};
use hongbao_store::{StoreError, StoreResult};
use rusqlite::Connection;
use rusqlite::types::{ToSqlOutput, ValueRef};

/// A SQLite database file.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    /// Tells the background checkpointer, once started, to stop.
    checkpointer_stop: Arc<AtomicBool>,
    checkpointer_started: AtomicBool,
}

/// One SQLite connection.
pub struct SqliteConn {
    conn: Connection,
}

trait Context<T> {
    fn ctx(self, context: &'static str) -> StoreResult<T>;
}

impl<T> Context<T> for rusqlite::Result<T> {
    fn ctx(self, context: &'static str) -> StoreResult<T> {
        self.map_err(|source| StoreError::Database { context, source: Box::new(source) })
    }
}

fn placeholder(index: usize) -> String {
    format!("?{index}")
}

/// A cell as a parameter, keeping what it borrows borrowed: the rows of a batch go from its changes to
/// the statement without a copy of their text.
fn into_sql(cell: Cell<'_>) -> ToSqlOutput<'_> {
    match cell {
        Cell::Null => ToSqlOutput::Borrowed(ValueRef::Null),
        Cell::Int(int) => ToSqlOutput::Borrowed(ValueRef::Integer(int)),
        Cell::Text(Cow::Borrowed(text)) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
        Cell::Text(Cow::Owned(text)) => ToSqlOutput::Owned(rusqlite::types::Value::Text(text)),
        Cell::Bytes(bytes) => ToSqlOutput::Borrowed(ValueRef::Blob(bytes)),
    }
}

/// A cell as a parameter, its text and bytes borrowed.
fn bind<'c>(cell: &'c Cell<'_>) -> ToSqlOutput<'c> {
    ToSqlOutput::Borrowed(match cell {
        Cell::Null => ValueRef::Null,
        Cell::Int(int) => ValueRef::Integer(*int),
        Cell::Text(text) => ValueRef::Text(text.as_bytes()),
        Cell::Bytes(bytes) => ValueRef::Blob(bytes),
    })
}

/// A records value as a parameter, borrowed.
fn bind_value(value: &Value) -> ToSqlOutput<'_> {
    ToSqlOutput::Borrowed(match value {
        Value::Null => ValueRef::Null,
        Value::Int(int) => ValueRef::Integer(*int),
        Value::Text(text) => ValueRef::Text(text.as_bytes()),
        Value::Bytes(bytes) => ValueRef::Blob(bytes),
    })
}

/// The first `table.columns.len()` columns of a result row, as the table's mapping reads them.
fn read_row(row: &rusqlite::Row<'_>, table: &Table) -> rusqlite::Result<Row> {
    (0..table.columns.len())
        .map(|index| {
            Ok(match (row.get_ref(index)?, table.column_type(index)) {
                (ValueRef::Null, _) => Value::Null,
                (ValueRef::Integer(int), _) => Value::Int(int),
                (ValueRef::Real(real), _) => Value::Int(real as i64),
                (ValueRef::Text(bytes) | ValueRef::Blob(bytes), ColumnType::Bytes) => Value::Bytes(bytes.to_vec()),
                (ValueRef::Text(text), _) => Value::Text(std::str::from_utf8(text).map_err(rusqlite::Error::Utf8Error)?.to_owned()),
                (ValueRef::Blob(_), _) => Value::Null,
            })
        })
        .collect()
}
