//! Typed tables stored through one generic row interface: the ledger's own tables (users, groups,
//! packets, claims, transfers, return requests, the journal, idempotency records and settings) and
//! the platform's case work (operators, evidence, complaints, freezes, the audit log, the event outbox
//! and the rest).
//!
//! Each kind of record maps itself to a row of plain values here, once; a backend only builds the SQL
//! for a [`Table`] and a [`Query`], binds values and reads columns by their [`ColumnType`], so the two
//! backends share every mapping and neither holds a rule. The rows a hot batch writes many of (claims,
//! journal entries, postings, events, tree nodes) are [`Cell`]s borrowed from the batch's changes
//! rather than owned [`Row`]s, so that writing them copies no text.

mod cases;
mod ledger;
mod payments;
mod people;

pub use cases::*;
pub use ledger::*;
pub use payments::*;
pub use people::*;

use std::borrow::Cow;

use hongbao_core::{Amount, JournalHash, Timestamp};

use crate::{ReadConn, StoreResult, corrupt};

/// A column's SQL type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    Int,
    Text,
    /// `BLOB` on SQLite, `bytea` on PostgreSQL: hashes and stored answers.
    Bytes,
}

/// One value of a row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// One value of a row as it is written: text and bytes borrowed from the record where they can be, so
/// that binding the rows of a hot batch (a claim, its journal entry, postings, parties, event and tree
/// nodes) copies none of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    Text(Cow<'a, str>),
    Bytes(&'a [u8]),
}

impl<'a> Cell<'a> {
    pub fn text(text: &'a str) -> Cell<'a> {
        Cell::Text(Cow::Borrowed(text))
    }

    pub fn opt_text(text: Option<&'a str>) -> Cell<'a> {
        text.map_or(Cell::Null, Cell::text)
    }

    /// Text made for the row, such as an account's name.
    pub fn owned(text: String) -> Cell<'a> {
        Cell::Text(Cow::Owned(text))
    }

    pub fn time(at: Timestamp) -> Cell<'a> {
        Cell::Int(at.millis())
    }

    pub fn opt_time(at: Option<Timestamp>) -> Cell<'a> {
        at.map_or(Cell::Null, Cell::time)
    }

    pub fn amount(amount: Amount) -> Cell<'a> {
        Cell::Int(amount.minor_units())
    }

    /// The value, owned.
    pub fn to_value(&self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Int(int) => Value::Int(*int),
            Cell::Text(text) => Value::Text(text.to_string()),
            Cell::Bytes(bytes) => Value::Bytes(bytes.to_vec()),
        }
    }
}

impl<'a> From<&'a Value> for Cell<'a> {
    fn from(value: &'a Value) -> Cell<'a> {
        match value {
            Value::Null => Cell::Null,
            Value::Int(int) => Cell::Int(*int),
            Value::Text(text) => Cell::text(text),
            Value::Bytes(bytes) => Cell::Bytes(bytes),
        }
    }
}

/// The cells of a row, owned: what [`Record::to_row`] is for a record written from cells.
pub fn owned_row(cells: &[Cell<'_>]) -> Row {
    cells.iter().map(Cell::to_value).collect()
}

pub type Row = Vec<Value>;

/// A table: its name and its columns, the first of which is the key.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, ColumnType)],
    /// Rows are only ever inserted; the database refuses updates and deletes.
    pub append_only: bool,
}

impl Table {
    /// The names of the columns, comma-separated, in order: a select list whose row a mapping reads.
    pub fn column_list(&self) -> String {
        self.columns.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
    }

    pub fn position(&self, column: &str) -> usize {
        self.columns.iter().position(|(name, _)| *name == column).unwrap_or_else(|| panic!("table {} has no column {column}", self.name))
    }

    pub fn column_type(&self, position: usize) -> ColumnType {
        self.columns[position].1
    }
}

/// Rows of one table: those equal to `equal`, with `at_most`'s column at or below its value, ordered by
/// `order` (descending when asked), after the position `after` in that order.
#[derive(Clone, Debug)]
pub struct Query {
    pub table: &'static Table,
    pub equal: Vec<(&'static str, Value)>,
    pub at_most: Option<(&'static str, Value)>,
    pub at_least: Option<(&'static str, Value)>,
    /// The column is one of these values.
    pub any_of: Option<(&'static str, Vec<Value>)>,
    pub order: &'static [&'static str],
    pub descending: bool,
    pub after: Option<Vec<Value>>,
    pub limit: u32,
}

impl Query {
    /// Every row, newest first, for a list: by `created_at` then `id` for records keyed by id, by `seq`
    /// for the append-only logs keyed by their sequence number.
    pub fn newest_first(table: &'static Table, limit: u32) -> Query {
        let order: &'static [&'static str] = if table.columns[0].0 == "id" { &["created_at", "id"] } else { &["seq"] };
        Query { order, descending: true, ..Query::all(table, limit) }
    }

    /// The rows with any of these keys, in one query.
    pub fn by_keys(table: &'static Table, keys: Vec<Value>) -> Query {
        let limit = u32::try_from(keys.len()).unwrap_or(u32::MAX);
        Query { any_of: Some((table.columns[0].0, keys)), ..Query::all(table, limit) }
    }

    pub fn by_key(table: &'static Table, key: Value) -> Query {
        Query { equal: vec![(table.columns[0].0, key)], ..Query::all(table, 1) }
    }

    /// Up to `limit` rows of the table, unfiltered and in no particular order.
    pub fn all(table: &'static Table, limit: u32) -> Query {
        Query { table, equal: Vec::new(), at_most: None, at_least: None, any_of: None, order: &[], descending: false, after: None, limit }
    }

    pub fn equal(mut self, column: &'static str, value: Value) -> Query {
        self.equal.push((column, value));
        self
    }

    pub fn at_most(mut self, column: &'static str, value: Value) -> Query {
        self.at_most = Some((column, value));
        self
    }

    /// The column holds at least `value` (a null never does).
    pub fn at_least(mut self, column: &'static str, value: Value) -> Query {
        self.at_least = Some((column, value));
        self
    }

    pub fn after(mut self, position: Option<Vec<Value>>) -> Query {
        self.after = position;
        self
    }

    /// Ordered by these columns, ascending (then [`Query::descending`] when asked).
    pub fn ordered_by(mut self, order: &'static [&'static str]) -> Query {
        self.order = order;
        self
    }

    pub fn descending(mut self) -> Query {
        self.descending = true;
        self
    }

    pub fn ascending(mut self) -> Query {
        self.descending = false;
        self
    }

    /// Whether a row (of this query's table) passes the filters; the order and limit aside.
    pub fn matches(&self, row: &Row) -> bool {
        let value_of = |column: &str| &row[self.table.position(column)];
        self.equal.iter().all(|(column, value)| value_of(column) == value)
            && self.at_most.as_ref().is_none_or(|(column, limit)| !matches!(value_of(column), Value::Null) && value_of(column) <= limit)
            && self.at_least.as_ref().is_none_or(|(column, floor)| !matches!(value_of(column), Value::Null) && value_of(column) >= floor)
            && self.any_of.as_ref().is_none_or(|(column, values)| values.contains(value_of(column)))
            && self.after.as_ref().is_none_or(|after| {
                let position: Vec<&Value> = self.order.iter().map(|column| value_of(column)).collect();
                let after: Vec<&Value> = after.iter().collect();
                if self.descending { position < after } else { position > after }
            })
    }

    /// The values of `row` in this query's order, for a cursor.
    pub fn position_of(&self, row: &Row) -> Vec<Value> {
        self.order.iter().map(|column| row[self.table.position(column)].clone()).collect()
    }
}

/// The SQL both backends run for the records tables; `placeholder(n)` writes the n-th parameter
/// (`?n` for SQLite, `$n` for PostgreSQL).
pub mod sql {
    use std::fmt::Write;

    use super::{ColumnType, Query, Table, Value};

    /// A parameter with the type of the column it is compared with, which a backend needs for a null.
    pub type Param<'q> = (&'q Value, ColumnType);

    /// Appends the query's filters to `sql` as a `WHERE` clause (nothing when it has none) and returns
    /// their parameters. It writes into one string: every read of a record by key builds its SQL here.
    fn filters<'q>(query: &'q Query, placeholder: fn(usize) -> String, with_position: bool, sql: &mut String) -> Vec<Param<'q>> {
        let table = query.table;
        let type_of = |column: &str| table.column_type(table.position(column));
        let mut params: Vec<Param<'q>> = Vec::new();
        let mut clauses = 0;
        let mut next_clause = |sql: &mut String| {
            sql.push_str(if clauses == 0 { " WHERE " } else { " AND " });
            clauses += 1;
        };
        for (column, value) in &query.equal {
            params.push((value, type_of(column)));
            next_clause(sql);
            let _ = write!(sql, "{column} = {}", placeholder(params.len()));
        }
        if let Some((column, value)) = &query.at_most {
            params.push((value, type_of(column)));
            next_clause(sql);
            let _ = write!(sql, "{column} <= {}", placeholder(params.len()));
        }
        if let Some((column, value)) = &query.at_least {
            params.push((value, type_of(column)));
            next_clause(sql);
            let _ = write!(sql, "{column} >= {}", placeholder(params.len()));
        }
        if let Some((column, values)) = &query.any_of {
            next_clause(sql);
            let _ = write!(sql, "{column} IN (");
            // `IN ()` is not SQL; an empty list selects nothing.
            if values.is_empty() {
                sql.push_str("NULL");
            }
            for (index, value) in values.iter().enumerate() {
                params.push((value, type_of(column)));
                if index > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&placeholder(params.len()));
            }
            sql.push(')');
        }
        if with_position && let Some(after) = &query.after {
            next_clause(sql);
            let _ = write!(sql, "({}) {} (", query.order.join(", "), if query.descending { "<" } else { ">" });
            for (index, (value, column)) in after.iter().zip(query.order).enumerate() {
                params.push((value, type_of(column)));
                if index > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&placeholder(params.len()));
            }
            sql.push(')');
        }
        params
    }

    pub fn select(query: &Query, placeholder: fn(usize) -> String) -> (String, Vec<Param<'_>>) {
        let mut sql = String::with_capacity(256);
        sql.push_str("SELECT ");
        push_column_list(&mut sql, query.table);
        let _ = write!(sql, " FROM {}", query.table.name);
        let params = filters(query, placeholder, true, &mut sql);
        let direction = if query.descending { " DESC" } else { "" };
        for (index, column) in query.order.iter().enumerate() {
            sql.push_str(if index == 0 { " ORDER BY " } else { ", " });
            sql.push_str(column);
            sql.push_str(direction);
        }
        let _ = write!(sql, " LIMIT {}", query.limit);
        (sql, params)
    }

    pub fn count(query: &Query, placeholder: fn(usize) -> String) -> (String, Vec<Param<'_>>) {
        let mut sql = format!("SELECT COUNT(*) FROM {}", query.table.name);
        let params = filters(query, placeholder, false, &mut sql);
        (sql, params)
    }

    fn push_column_list(sql: &mut String, table: &Table) {
        for (index, (name, _)) in table.columns.iter().enumerate() {
            if index > 0 {
                sql.push_str(", ");
            }
            sql.push_str(name);
        }
    }

    /// Deletes the row with a key (the first parameter).
    pub fn delete(table: &Table, placeholder: fn(usize) -> String) -> String {
        assert!(!table.append_only, "rows of {} are never deleted", table.name);
        format!("DELETE FROM {} WHERE {} = {}", table.name, table.columns[0].0, placeholder(1))
    }

    /// Inserts a row, or for a table that is not append-only replaces the row with the same key.
    pub fn upsert(table: &Table, placeholder: fn(usize) -> String) -> String {
        upsert_many(table, 1, placeholder)
    }

    /// Inserts (or replaces) `rows` rows in one statement; their keys must differ.
    pub fn upsert_many(table: &Table, rows: usize, placeholder: fn(usize) -> String) -> String {
        upsert_keyed(table, 1, rows, placeholder)
    }

    /// Inserts (or replaces) `rows` rows of a table whose key is its first `key_columns` columns.
    pub fn upsert_keyed(table: &Table, key_columns: usize, rows: usize, placeholder: fn(usize) -> String) -> String {
        format!("{}{}", insert_many(table, rows, placeholder), upsert_clause(table, key_columns))
    }

    /// What follows an upsert's rows: ` ON CONFLICT (key) DO UPDATE SET` every other column, or
    /// nothing for an append-only table (whose rows are never replaced).
    pub fn upsert_clause(table: &Table, key_columns: usize) -> String {
        if table.append_only {
            return String::new();
        }
        let columns: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
        let updates: Vec<String> = columns[key_columns..].iter().map(|column| format!("{column} = excluded.{column}")).collect();
        format!(" ON CONFLICT ({}) DO UPDATE SET {}", columns[..key_columns].join(", "), updates.join(", "))
    }

    /// Inserts `rows` rows in one statement; a row whose key is taken is refused.
    pub fn insert_many(table: &Table, rows: usize, placeholder: fn(usize) -> String) -> String {
        let width = table.columns.len();
        let tuples: Vec<String> =
            (0..rows).map(|row| format!("({})", (1..=width).map(|column| placeholder(row * width + column)).collect::<Vec<_>>().join(", "))).collect();
        format!("INSERT INTO {} ({}) VALUES {}", table.name, table.column_list(), tuples.join(", "))
    }

    /// Sets every column but the key (the first parameter) of the row with that key.
    pub fn update_by_key(table: &Table, placeholder: fn(usize) -> String) -> String {
        let columns = &table.columns;
        let updates: Vec<String> = columns.iter().enumerate().skip(1).map(|(index, (name, _))| format!("{name} = {}", placeholder(index + 1))).collect();
        format!("UPDATE {} SET {} WHERE {} = {}", table.name, updates.join(", "), columns[0].0, placeholder(1))
    }

    /// `SELECT` of a table's columns (the row its mapping reads) followed by `rest`: the backend's own
    /// joins, filters and order.
    pub fn select_from(table: &Table, rest: &str) -> String {
        format!("SELECT {} FROM {} {rest}", table.column_list(), table.name)
    }
}

/// A record kept in a [`Table`].
pub trait Record: Sized {
    const TABLE: &'static Table;
    fn to_row(&self) -> Row;
    fn from_row(row: Row) -> StoreResult<Self>;

    fn key(&self) -> Value {
        self.to_row().swap_remove(0)
    }
}

/// One record by its key.
pub fn find<R: Record>(conn: &mut dyn ReadConn, key: Value) -> StoreResult<Option<R>> {
    conn.select(&Query::by_key(R::TABLE, key))?.into_iter().next().map(R::from_row).transpose()
}

/// The records a query selects.
pub fn list<R: Record>(conn: &mut dyn ReadConn, query: &Query) -> StoreResult<Vec<R>> {
    debug_assert!(std::ptr::eq(query.table, R::TABLE), "a query of {} read as {}", query.table.name, R::TABLE.name);
    conn.select(query)?.into_iter().map(R::from_row).collect()
}

// ---- values in and out ----

pub fn text(value: impl ToString) -> Value {
    Value::Text(value.to_string())
}

pub fn opt_text(value: Option<impl ToString>) -> Value {
    value.map_or(Value::Null, text)
}

pub fn time(at: Timestamp) -> Value {
    Value::Int(at.millis())
}

pub fn opt_time(at: Option<Timestamp>) -> Value {
    at.map_or(Value::Null, time)
}

pub fn amount(amount: Amount) -> Value {
    Value::Int(amount.minor_units())
}

/// A list of ids, comma-separated.
fn joined<T: ToString>(items: &[T]) -> Value {
    Value::Text(items.iter().map(ToString::to_string).collect::<Vec<_>>().join(","))
}

/// Reads a row's values in order.
pub(crate) struct Fields {
    table: &'static str,
    values: std::vec::IntoIter<Value>,
}

impl Fields {
    pub(crate) fn new(table: &'static Table, row: Row) -> StoreResult<Fields> {
        if row.len() != table.columns.len() {
            return Err(corrupt(format!("a row of {} has {} values", table.name, row.len())));
        }
        Ok(Fields { table: table.name, values: row.into_iter() })
    }

    fn next(&mut self) -> Value {
        self.values.next().unwrap_or(Value::Null)
    }

    fn opt_text(&mut self) -> StoreResult<Option<String>> {
        match self.next() {
            Value::Null => Ok(None),
            Value::Text(text) => Ok(Some(text)),
            Value::Int(int) => Err(corrupt(format!("{}: a number {int} where text belongs", self.table))),
            Value::Bytes(_) => Err(corrupt(format!("{}: bytes where text belongs", self.table))),
        }
    }

    /// Skips a column the record does not hold (a key made of its other columns, an index helper).
    fn skip(&mut self) {
        self.next();
    }

    fn bytes(&mut self) -> StoreResult<Vec<u8>> {
        match self.next() {
            Value::Bytes(bytes) => Ok(bytes),
            _ => Err(corrupt(format!("{}: a missing bytes value", self.table))),
        }
    }

    /// A hash stored as its 32 bytes.
    fn hash_bytes(&mut self) -> StoreResult<[u8; 32]> {
        let bytes = self.bytes()?;
        bytes.try_into().map_err(|bytes: Vec<u8>| corrupt(format!("{}: a hash of {} bytes", self.table, bytes.len())))
    }

    pub(crate) fn text(&mut self) -> StoreResult<String> {
        self.opt_text()?.ok_or_else(|| corrupt(format!("{}: a missing text value", self.table)))
    }

    fn opt_int(&mut self) -> StoreResult<Option<i64>> {
        match self.next() {
            Value::Null => Ok(None),
            Value::Int(int) => Ok(Some(int)),
            Value::Text(text) => Err(corrupt(format!("{}: text {text:?} where a number belongs", self.table))),
            Value::Bytes(_) => Err(corrupt(format!("{}: bytes where a number belongs", self.table))),
        }
    }

    pub(crate) fn int(&mut self) -> StoreResult<i64> {
        self.opt_int()?.ok_or_else(|| corrupt(format!("{}: a missing number", self.table)))
    }

    pub(crate) fn time(&mut self) -> StoreResult<Timestamp> {
        Ok(Timestamp::from_millis(self.int()?))
    }

    fn opt_time(&mut self) -> StoreResult<Option<Timestamp>> {
        Ok(self.opt_int()?.map(Timestamp::from_millis))
    }

    fn amount(&mut self) -> StoreResult<Amount> {
        let units = self.int()?;
        Amount::new(units).map_err(|_| corrupt(format!("{}: amount {units}", self.table)))
    }

    fn parsed<T>(&mut self, parse: impl FnOnce(&str) -> Option<T>) -> StoreResult<T> {
        let text = self.text()?;
        parse(&text).ok_or_else(|| corrupt(format!("{}: unparsable value {text:?}", self.table)))
    }

    fn opt_parsed<T>(&mut self, parse: impl FnOnce(&str) -> Option<T>) -> StoreResult<Option<T>> {
        match self.opt_text()? {
            None => Ok(None),
            Some(text) => parse(&text).map(Some).ok_or_else(|| corrupt(format!("{}: unparsable value {text:?}", self.table))),
        }
    }

    fn list<T>(&mut self, parse: impl Fn(&str) -> Option<T>) -> StoreResult<Vec<T>> {
        let text = self.text()?;
        text.split(',')
            .filter(|item| !item.is_empty())
            .map(|item| parse(item).ok_or_else(|| corrupt(format!("{}: unparsable item {item:?}", self.table))))
            .collect()
    }

    fn hash(&mut self) -> StoreResult<JournalHash> {
        let hex = self.text()?;
        JournalHash::from_hex(&hex).ok_or_else(|| corrupt(format!("{}: hash {hex:?}", self.table)))
    }
}

fn ok<T, E>(result: Result<T, E>) -> Option<T> {
    result.ok()
}
