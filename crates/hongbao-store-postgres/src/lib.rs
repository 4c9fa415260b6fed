//! The PostgreSQL backend: several `hongbao serve` processes on one database.
//!
//! Each process has its own writer; every writer batch starts by locking the one row of `writer_lock`,
//! so batches of all processes apply one at a time, in a single order. That keeps the journal's hash
//! chain linear across processes, makes every check a batch does against the data it read still true
//! when it commits, and rules out deadlocks, because no batch takes any other lock before this one.
//! A batch writes each kind of row with one bulk statement (`UNNEST` of arrays), so the lock is held
//! for a few round trips per batch, not per operation. A batch commits without waiting for the disk,
//! which frees the lock, and then waits for the disk with a small commit of its own before anything is
//! answered (see `commit` in `writes.rs`): the flush is outside the lock.

//!
//! `connection.rs` opens sessions with their limits and caches their prepared statements,
//! `migrations.rs` brings the schema up to date under an advisory lock, `reads.rs` answers
//! [`ReadConn`](hongbao_store::ReadConn) and `writes.rs` the writer's batches; `client.rs` is the
//! synchronous client that pipelines, `listen.rs` the notifications between processes. Every row is
//! mapped in `hongbao_store::records`; this crate binds its values and reads its columns by their types.

mod client;
mod connection;
mod listen;
mod migrations;
mod reads;
mod writes;

use std::collections::HashMap;
use std::time::Duration;

use hongbao_store::records::{Cell, ColumnType, Table, Value};
use hongbao_store::{Heads, StoreError, StoreResult};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

use client::Pg;

/// How long the store's sessions may wait or stall, so that one process that stops while it holds the
/// writer lock (paused, swapped out, cut off) holds up the others for seconds, not for as long as it
/// is stopped. README, "Running it in production", has the settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// The longest a statement waits for a lock (`lock_timeout`): a batch waits this long for the
    /// writer lock, then its requests are answered that the database is busy. Longer than
    /// `idle_in_transaction`, so that a stalled holder is let go before a waiter gives up.
    pub lock_timeout: Duration,
    /// The longest one statement runs (`statement_timeout`); a batch's take milliseconds.
    pub statement_timeout: Duration,
    /// The longest a session may sit in an open transaction without sending anything
    /// (`idle_in_transaction_session_timeout`): PostgreSQL then ends the session and rolls its
    /// transaction back, which frees the writer lock of a process that stopped while holding it.
    pub idle_in_transaction: Duration,
    /// TCP keepalives on both ends: the first probe after this long without traffic, then every third
    /// of it, three at most, so that a peer that vanished is noticed within twice this.
    pub keepalive_idle: Duration,
}

impl Default for SessionLimits {
    fn default() -> SessionLimits {
        SessionLimits {
            lock_timeout: Duration::from_secs(8),
            statement_timeout: Duration::from_secs(30),
            idle_in_transaction: Duration::from_secs(5),
            keepalive_idle: Duration::from_secs(10),
        }
    }
}

/// A PostgreSQL database (or one schema of it, with `options=-c search_path=...` in the URL).
pub struct PostgresStore {
    config: tokio_postgres::Config,
    /// Names this process in its notifications, so that it does not wake its own streams twice.
    origin: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("dbname", &self.config.get_dbname()).finish_non_exhaustive()
    }
}

/// One PostgreSQL connection with its prepared statements.
pub struct PostgresConn {
    client: Pg,
    statements: HashMap<String, Statement>,
    /// The heads read with the lock at the start of the batch, until the batch asks for them.
    heads_at_begin: Option<Heads>,
    /// The store's name for this process in the notifications of its batches.
    origin: String,
    /// Where the writer's batches notify of their events (see `listen::channel`).
    channel: String,
    /// Where the writer's batches notify of replaced and revoked tokens.
    token_channel: String,
}

trait Context<T> {
    fn ctx(self, context: &'static str) -> StoreResult<T>;
}

impl<T> Context<T> for Result<T, tokio_postgres::Error> {
    fn ctx(self, context: &'static str) -> StoreResult<T> {
        self.map_err(|source| StoreError::Database { context, source: Box::new(source) })
    }
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, index: usize) -> StoreResult<T> {
    row.try_get(index).map_err(|source| StoreError::Database { context: "reading a column", source: Box::new(source) })
}

fn placeholder(index: usize) -> String {
    format!("${index}")
}

/// A records value as a parameter; a null takes the type of its column.
fn to_sql(value: &Value, column_type: ColumnType) -> Box<dyn ToSql + Sync> {
    match (value, column_type) {
        (Value::Int(int), _) => Box::new(*int),
        (Value::Text(text), _) => Box::new(text.clone()),
        (Value::Bytes(bytes), _) => Box::new(bytes.clone()),
        (Value::Null, ColumnType::Int) => Box::new(None::<i64>),
        (Value::Null, ColumnType::Text) => Box::new(None::<String>),
        (Value::Null, ColumnType::Bytes) => Box::new(None::<Vec<u8>>),
    }
}

/// A row of cells as parameters, typed by the table's columns.
fn cell_params(table: &Table, cells: &[Cell<'_>]) -> Vec<Box<dyn ToSql + Sync>> {
    cells.iter().enumerate().map(|(index, cell)| to_sql(&cell.to_value(), table.column_type(index))).collect()
}

/// The first `table.columns.len()` columns of a result row, as the table's mapping reads them.
fn read_row(row: &Row, table: &Table) -> StoreResult<hongbao_store::records::Row> {
    (0..table.columns.len())
        .map(|index| {
            Ok(match table.column_type(index) {
                ColumnType::Int => get::<Option<i64>>(row, index)?.map_or(Value::Null, Value::Int),
                ColumnType::Text => get::<Option<String>>(row, index)?.map_or(Value::Null, Value::Text),
                ColumnType::Bytes => get::<Option<Vec<u8>>>(row, index)?.map_or(Value::Null, Value::Bytes),
            })
        })
        .collect()
}
