//! The writes: [`WriteConn`] on the writer's connection. A batch begins by locking the writer row
//! and reading the heads in one round trip, prefetches what its claims check in one pipeline, and
//! commits with one more: the rows of the ledger in one statement of `UNNEST`ed arrays of the rows
//! that `hongbao_store::records` maps, the records, the notifications, `COMMIT` and the wait for the
//! disk.

use std::sync::LazyLock;

use hongbao_core::{JournalHash, PacketId, Timestamp, UserId};
use hongbao_store::records::{self, Cell, ColumnType, Record, Table};
use hongbao_store::{Changes, ClaimContext, Heads, Prefetched, StoreError, StoreResult, WriteConn, corrupt};
use hongbao_tlog::Hash;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, SimpleQueryMessage};

use crate::client::Step;
use crate::{Context, PostgresConn, cell_params, get, listen, placeholder, read_row, to_sql};

/// Makes everything committed so far durable: a commit that waits for the disk, of a write to this
/// connection's own row. PostgreSQL flushes its log in order, so when this returns every transaction
/// committed before it is on disk as well.
const FLUSH_SQL: &str = "BEGIN; SET LOCAL synchronous_commit = on; \
    INSERT INTO commit_flushes (backend_pid, flushes) VALUES (pg_backend_pid(), 1) \
    ON CONFLICT (backend_pid) DO UPDATE SET flushes = commit_flushes.flushes + 1; COMMIT";

/// The journal's last sequence number and hash (hex), the outbox's last sequence number, and the stored
/// hashes (hex, comma-separated, largest subtree first) of the journal tree's right edge at the
/// journal's size, as one row. The right edge of a tree of `n` leaves is, for each bit `b` set in `n`,
/// the complete subtree at level `b` and index `(n >> b) - 1` (`hongbao_tlog::Frontier::node_ids`).
const HEADS_SQL: &str = "SELECT j.seq, encode(j.hash, 'hex'), (SELECT coalesce(max(seq), 0) FROM events), \
     (SELECT string_agg(encode(n.hash, 'hex'), ',' ORDER BY b.level DESC) FROM generate_series(0, 62) AS b(level) \
      JOIN merkle_nodes n ON n.log_id = 0 AND n.complete_at = (j.seq >> b.level) << b.level AND n.level = b.level WHERE (j.seq >> b.level) & 1 = 1) \
     FROM (SELECT 1) AS one LEFT JOIN (SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1) AS j ON true";

/// The heads from the answer to [`HEADS_SQL`] (among others'), in the simple protocol's text form.
fn heads_from(messages: &[SimpleQueryMessage]) -> StoreResult<Heads> {
    let row = messages
        .iter()
        .filter_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        })
        .find(|row| row.columns().len() == 4)
        .ok_or_else(|| corrupt("the heads query returned no row"))?;
    let number = |index: usize| row.get(index).map(|text| text.parse::<i64>().map_err(|_| corrupt(format!("a head {text:?}")))).transpose();
    let journal = match number(0)? {
        None => (0, JournalHash::GENESIS),
        Some(seq) => {
            let hex = row.get(1).ok_or_else(|| corrupt("a journal head without its hash"))?;
            (seq as u64, JournalHash::from_hex(hex).ok_or_else(|| corrupt(format!("a journal head hash {hex:?}")))?)
        }
    };
    let tree_frontier = match row.get(3) {
        None => Vec::new(),
        Some(hexes) => hexes
            .split(',')
            .map(|hex| hongbao_core::JournalHash::from_hex(hex).map(|hash| Hash::new(hash.0)).ok_or_else(|| corrupt(format!("a tree node hash {hex:?}"))))
            .collect::<StoreResult<_>>()?,
    };
    Ok(Heads { journal, last_event_seq: number(2)?.unwrap_or(0) as u64, tree_frontier })
}

/// Rows of one table per statement; a statement takes at most 65,535 parameters.
const ROWS_PER_STATEMENT: usize = 256;

fn strings<T: ToString>(items: impl IntoIterator<Item = T>) -> Vec<String> {
    items.into_iter().map(|item| item.to_string()).collect()
}

impl WriteConn for PostgresConn {
    fn begin(&mut self) -> StoreResult<()> {
        // One round trip: the lock is taken as the transaction begins, and the heads every batch
        // chains after are read under it.
        let messages = self.client.simple_query(&format!("BEGIN; SELECT id FROM writer_lock WHERE id = 1 FOR UPDATE; {HEADS_SQL}")).map_err(|error| {
            if error.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
                StoreError::LockTimeout { source: Box::new(error) }
            } else {
                StoreError::Database { context: "beginning a transaction under the writer lock", source: Box::new(error) }
            }
        })?;
        self.heads_at_begin = Some(heads_from(&messages)?);
        Ok(())
    }

    /// Writes and commits a batch with one round trip for most batches: the rows of the ledger and
    /// the records go out in a pipeline with the `COMMIT` and the wait for the disk behind them.
    ///
    /// The batch's own commit does not wait for the disk (the writer's connection has
    /// `synchronous_commit` off), so it releases the writer lock as soon as PostgreSQL has applied it,
    /// and the next batch, of this process or another, can start while this one's log is still being
    /// written. The small commit after it does wait for the disk ([`FLUSH_SQL`]); PostgreSQL's log is
    /// flushed in order, so when that is done this batch is durable too, and only then does the
    /// writer answer. Held under the lock, the flush took most of a batch's turn; outside it, the
    /// flushes of several processes overlap and PostgreSQL writes them together.
    ///
    /// In that window a read through another connection (a `GET`) can see a batch that a crash of the
    /// database server would still lose. No write is answered on such data: whatever a batch read was
    /// committed before the batch's own flush, which covers it.
    fn commit(&mut self, changes: &Changes) -> StoreResult<()> {
        self.heads_at_begin = None;
        self.apply_one_by_one(changes)?;
        let mut steps = Vec::new();
        if let Some(step) = self.ledger_step(changes)? {
            steps.push(step);
        }
        self.record_steps(changes, &mut steps)?;
        // Other processes' streams of these users learn of the events when the batch commits.
        let mut users: Vec<&UserId> = changes.events.iter().map(|event| &event.user_id).collect();
        users.sort_unstable();
        users.dedup();
        let payloads = listen::payloads(&self.origin, users);
        if !payloads.is_empty() {
            let statement = self.statement("SELECT pg_notify($1, $2)")?;
            for payload in payloads {
                steps.push(Step { statement: statement.clone(), params: vec![Box::new(self.channel.clone()), Box::new(payload)] });
            }
        }
        // Other processes drop the replaced and revoked tokens from their caches when the batch commits.
        let token_payloads = listen::payloads(&self.origin, changes.user_tokens.iter().map(|(user_id, _)| user_id));
        if !token_payloads.is_empty() {
            let statement = self.statement("SELECT pg_notify($1, $2)")?;
            for payload in token_payloads {
                steps.push(Step { statement: statement.clone(), params: vec![Box::new(self.token_channel.clone()), Box::new(payload)] });
            }
        }
        let mut results = self.client.pipeline(&steps, &["COMMIT", FLUSH_SQL]).into_iter();
        let unknown = |context: &'static str, source: tokio_postgres::Error| StoreError::CommitUnknown {
            source: Box::new(StoreError::Database { context, source: Box::new(source) }),
        };
        for result in results.by_ref().take(steps.len()) {
            match result {
                Ok(_) => {}
                // The database refused a write: the transaction is aborted, and the `COMMIT` behind
                // it rolled it back.
                Err(error) if error.as_db_error().is_some() => return Err(StoreError::Database { context: "writing the batch", source: Box::new(error) }),
                // The connection failed: what reached the database is not known.
                Err(error) => return Err(unknown("writing the batch", error)),
            }
        }
        let (committed, flushed) = (results.next().expect("an answer to COMMIT"), results.next().expect("an answer to the flush"));
        committed.map_err(|error| unknown("committing", error))?;
        flushed.map_err(|error| unknown("waiting for the batch's commit to reach the disk", error))?;
        Ok(())
    }

    fn rollback(&mut self) -> StoreResult<()> {
        self.heads_at_begin = None;
        self.client.batch_execute("ROLLBACK").ctx("rolling back")
    }

    fn heads(&mut self) -> StoreResult<Heads> {
        if let Some(heads) = self.heads_at_begin.take() {
            return Ok(heads);
        }
        let messages = self.client.simple_query(HEADS_SQL).ctx("reading the journal and event heads")?;
        heads_from(&messages)
    }

    /// The claim contexts and the records in one round trip.
    fn prefetch(&mut self, packets: &[(PacketId, Vec<UserId>)], queries: &[records::Query]) -> StoreResult<Prefetched> {
        let mut steps = Vec::with_capacity(packets.len() + queries.len());
        for (packet_id, users) in packets {
            steps.push(self.claim_context_step(packet_id, users)?);
        }
        for query in queries {
            steps.push(self.select_step(query)?);
        }
        let mut results = self.client.pipeline(&steps, &[]).into_iter();
        let mut prefetched = Prefetched::default();
        for result in results.by_ref().take(packets.len()) {
            prefetched.contexts.push(result.ctx(CLAIM_CONTEXT_READ)?.first().map(claim_context_from).transpose()?);
        }
        for (query, result) in queries.iter().zip(results) {
            prefetched.rows.push(result.ctx("reading records")?.iter().map(|row| read_row(row, query.table)).collect::<StoreResult<_>>()?);
        }
        Ok(prefetched)
    }

    fn expired_idempotency(&mut self, created_before: Timestamp, limit: u32) -> StoreResult<Vec<(String, String)>> {
        self.query(
            "SELECT caller, key FROM idempotency WHERE created_at < $1 ORDER BY created_at LIMIT $2",
            &[&created_before.millis(), &i64::from(limit)],
            "reading expired idempotency records",
        )?
        .iter()
        .map(|row| Ok((get(row, 0)?, get(row, 1)?)))
        .collect()
    }
}

const CLAIM_CONTEXT_READ: &str = "reading a packet with its claimers and members";

/// The packet's row, with arrays of the users who claimed it and of those in its group, their wallets'
/// balances and the sender's. Each user is one index lookup whatever the table's statistics say (with
/// `user_id = ANY($2)`, a plan made while the packet had few claims scans all of them, and a hot
/// packet's claims grow by thousands a second).
static CLAIM_CONTEXT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {}, \
         ARRAY(SELECT u.user_id FROM UNNEST($2::text[]) AS u(user_id), \
               LATERAL (SELECT 1 FROM packet_claims c WHERE c.packet_id = p.id AND c.user_id = u.user_id LIMIT 1) AS hit), \
         ARRAY(SELECT u.user_id FROM UNNEST($2::text[]) AS u(user_id), \
               LATERAL (SELECT 1 FROM group_members m WHERE m.group_id = p.group_id AND m.user_id = u.user_id LIMIT 1) AS hit), \
         ARRAY(SELECT coalesce((SELECT b.balance FROM balances b WHERE b.account = 'wallet:' || u.user_id), 0) \
               FROM UNNEST($2::text[]) WITH ORDINALITY AS u(user_id, position) ORDER BY u.position), \
         coalesce((SELECT b.balance FROM balances b WHERE b.account = 'wallet:' || p.sender_id), 0) \
         FROM packets p WHERE id = $1",
        records::PACKETS.column_list()
    )
});

/// A claim context from the answer to [`CLAIM_CONTEXT_SQL`]: the packet's columns, then the arrays.
fn claim_context_from(row: &Row) -> StoreResult<ClaimContext> {
    let width = records::PACKETS.columns.len();
    let ids = |index: usize| -> StoreResult<Vec<UserId>> { get::<Vec<String>>(row, index)?.iter().map(|id| UserId::parse(id).map_err(corrupt)).collect() };
    Ok(ClaimContext {
        packet: hongbao_core::packet::Packet::from_row(read_row(row, &records::PACKETS)?)?,
        claimed: ids(width)?,
        members: ids(width + 1)?,
        wallet_balances: get::<Vec<i64>>(row, width + 2)?,
        sender_balance: get(row, width + 3)?,
    })
}

impl PostgresConn {
    fn claim_context_step(&mut self, packet_id: &PacketId, users: &[UserId]) -> StoreResult<Step> {
        Ok(Step { statement: self.statement(&CLAIM_CONTEXT_SQL)?, params: vec![Box::new(packet_id.to_string()), Box::new(strings(users))] })
    }

    /// Inserts rows of `table` with one statement of `UNNEST`ed arrays, one per column.
    fn insert_rows<'c, const N: usize>(&mut self, table: &Table, rows: impl IntoIterator<Item = [Cell<'c>; N]>, context: &'static str) -> StoreResult<()> {
        let mut bulk = Bulk::default();
        let rows = bulk.unnest(table, rows);
        if bulk.params.is_empty() || rows.is_empty() {
            return Ok(());
        }
        let sql = format!("INSERT INTO {} ({}) SELECT * FROM {rows}", table.name, table.column_list());
        let statement = self.statement(&sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = bulk.params.iter().map(|param| param.as_ref()).collect();
        self.client.execute(&statement, &params).ctx(context).map(drop)
    }

    /// Writes one row with `sql`, whose parameters are the row's values in order.
    fn execute_row(&mut self, sql: &str, table: &Table, cells: &[Cell<'_>], context: &'static str) -> StoreResult<()> {
        let params = cell_params(table, cells);
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|param| param.as_ref()).collect();
        self.execute(sql, &params, context).map(drop)
    }

    /// Writes the changes that are rare in a batch, a statement each, in order: everything but the
    /// ledger's rows and the records, which [`WriteConn::commit`] sends in a pipeline.
    fn apply_one_by_one(&mut self, changes: &Changes) -> StoreResult<()> {
        for (key, value) in &changes.settings {
            let sql = records::sql::upsert(&records::SETTINGS, placeholder);
            self.execute_row(&sql, &records::SETTINGS, &records::setting_cells(key, value), "writing a setting")?;
        }
        self.insert_rows(&records::USERS, changes.users.iter().map(|(user, token_hash)| records::user_cells(user, token_hash)), "inserting users")?;
        for (user_id, token_hash) in &changes.user_tokens {
            self.execute("UPDATE users SET token_hash = $2 WHERE id = $1", &[&user_id.as_str(), &&token_hash[..]], "replacing a token")?;
        }
        for (user_id, name) in &changes.user_names {
            self.execute("UPDATE users SET name = $2 WHERE id = $1", &[&user_id.as_str(), name], "renaming a user")?;
        }
        for group in &changes.groups {
            self.insert_rows(&records::GROUPS, [records::group_cells(group)], "inserting a group")?;
            let members = group.member_ids.iter().zip(1..).map(|(member, joined_seq)| records::member_cells(&group.id, member, joined_seq));
            self.insert_rows(&records::GROUP_MEMBERS, members, "inserting members")?;
        }
        for (group_id, user_id, added) in &changes.memberships {
            if *added {
                self.execute(
                    "INSERT INTO group_members (group_id, user_id, joined_seq) \
                     VALUES ($1, $2, (SELECT coalesce(max(joined_seq), 0) + 1 FROM group_members WHERE group_id = $1)) ON CONFLICT DO NOTHING",
                    &[&group_id.as_str(), &user_id.as_str()],
                    "adding a member",
                )?;
            } else {
                self.execute("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2", &[&group_id.as_str(), &user_id.as_str()], "removing a member")?;
            }
        }
        self.insert_rows(&records::PACKETS, changes.new_packets.iter().map(|(packet, _)| records::packet_cells(packet)), "inserting packets")?;
        let shares = changes
            .new_packets
            .iter()
            .flat_map(|(packet, shares)| shares.iter().enumerate().map(|(index, share)| records::share_cells(&packet.id, index, *share)));
        self.insert_rows(&records::PACKET_SHARES, shares, "inserting shares")?;
        if !changes.deleted_idempotency.is_empty() {
            let callers = strings(changes.deleted_idempotency.iter().map(|(caller, _)| caller));
            let keys = strings(changes.deleted_idempotency.iter().map(|(_, key)| key));
            self.execute(
                "DELETE FROM idempotency i USING UNNEST($1::text[], $2::text[]) AS d(caller, key) WHERE i.caller = d.caller AND i.key = d.key",
                &[&callers, &keys],
                "deleting expired idempotency records",
            )?;
        }
        if !changes.idempotency.is_empty() {
            let sql = records::sql::upsert_keyed(&records::IDEMPOTENCY, records::IDEMPOTENCY_KEY_COLUMNS, 1, placeholder);
            for (caller, key, record) in &changes.idempotency {
                self.execute_row(&sql, &records::IDEMPOTENCY, &records::idempotency_cells(caller, key, record), "recording an idempotent response")?;
            }
        }
        Ok(())
    }

    /// One statement per table of records (a few hundred rows at most each), not one per row.
    fn record_steps(&mut self, changes: &Changes, steps: &mut Vec<Step>) -> StoreResult<()> {
        for (table, rows) in changes.upserts_by_table() {
            // Chunks of a power of two rows, so that a few statements are prepared, not one for
            // every number of rows a batch has; they all go in the same pipeline.
            let mut rest = &rows[..];
            while !rest.is_empty() {
                let length = ROWS_PER_STATEMENT.min(1 << rest.len().ilog2());
                let (chunk, after) = rest.split_at(length);
                rest = after;
                let sql = records::sql::upsert_many(table, chunk.len(), placeholder);
                let params = chunk.iter().flat_map(|row| row.iter().enumerate().map(|(index, value)| to_sql(value, table.column_type(index)))).collect();
                steps.push(Step { statement: self.statement(&sql)?, params });
            }
        }
        for (table, key) in &changes.deleted_rows {
            let sql = records::sql::delete(table, placeholder);
            steps.push(Step { statement: self.statement(&sql)?, params: vec![to_sql(key, table.column_type(0))] });
        }
        Ok(())
    }
}

/// One statement of several data-modifying parts (`WITH a AS (INSERT …), b AS (UPDATE …) SELECT 1`),
/// with its parameters numbered as they are added.
#[derive(Default)]
struct Bulk {
    parts: Vec<String>,
    params: Vec<Box<dyn ToSql + Sync>>,
}

impl Bulk {
    /// Adds a parameter; returns its placeholder with the given cast, e.g. `$3::text[]`.
    fn param<T: ToSql + Sync + 'static>(&mut self, value: T, cast: &str) -> String {
        self.params.push(Box::new(value));
        format!("${}::{cast}", self.params.len())
    }

    /// Adds the rows of `table` as one array parameter per column, typed by the column; returns their
    /// `UNNEST(…)`, whose columns are the table's in order (empty for no rows).
    fn unnest<'c, const N: usize>(&mut self, table: &Table, rows: impl IntoIterator<Item = [Cell<'c>; N]>) -> String {
        debug_assert_eq!(N, table.columns.len(), "a row of {} has every column", table.name);
        let mut columns: Vec<Column> = table.columns.iter().map(|(_, column_type)| Column::new(*column_type)).collect();
        let mut empty = true;
        for row in rows {
            empty = false;
            for (column, cell) in columns.iter_mut().zip(row) {
                column.push(cell, table);
            }
        }
        if empty {
            return String::new();
        }
        let arrays: Vec<String> = columns.into_iter().map(|column| column.into_param(self)).collect();
        format!("UNNEST({})", arrays.join(", "))
    }

    /// Adds an `INSERT` of the rows of `table` (`tail` after it: a conflict clause or nothing).
    fn insert<'c, const N: usize>(&mut self, table: &Table, rows: impl IntoIterator<Item = [Cell<'c>; N]>, tail: &str) {
        let rows = self.unnest(table, rows);
        if !rows.is_empty() {
            self.part(format!("INSERT INTO {} ({}) SELECT * FROM {rows}{tail}", table.name, table.column_list()));
        }
    }

    /// Adds an `UPDATE` that sets every column of `table` but its key (the first) in the row with that key.
    fn update<'c, const N: usize>(&mut self, table: &Table, rows: impl IntoIterator<Item = [Cell<'c>; N]>) {
        let rows = self.unnest(table, rows);
        if rows.is_empty() {
            return;
        }
        let (name, key) = (table.name, table.columns[0].0);
        let updates: Vec<String> = table.columns[1..].iter().map(|(column, _)| format!("{column} = u.{column}")).collect();
        self.part(format!("UPDATE {name} SET {} FROM {rows} AS u({}) WHERE {name}.{key} = u.{key}", updates.join(", "), table.column_list()));
    }

    fn part(&mut self, sql: String) {
        self.parts.push(sql);
    }

    fn sql(&self) -> String {
        let parts: Vec<String> = self.parts.iter().enumerate().map(|(index, part)| format!("part{index} AS ({part})")).collect();
        format!("WITH {} SELECT 1", parts.join(", "))
    }
}

/// One column of rows on their way to an array parameter.
enum Column {
    Int(Vec<Option<i64>>),
    Text(Vec<Option<String>>),
    Bytes(Vec<Option<Vec<u8>>>),
}

impl Column {
    fn new(column_type: ColumnType) -> Column {
        match column_type {
            ColumnType::Int => Column::Int(Vec::new()),
            ColumnType::Text => Column::Text(Vec::new()),
            ColumnType::Bytes => Column::Bytes(Vec::new()),
        }
    }

    fn push(&mut self, cell: Cell<'_>, table: &Table) {
        match (self, cell) {
            (Column::Int(values), Cell::Int(int)) => values.push(Some(int)),
            (Column::Int(values), Cell::Null) => values.push(None),
            (Column::Text(values), Cell::Text(text)) => values.push(Some(text.into_owned())),
            (Column::Text(values), Cell::Null) => values.push(None),
            (Column::Bytes(values), Cell::Bytes(bytes)) => values.push(Some(bytes.to_vec())),
            (Column::Bytes(values), Cell::Null) => values.push(None),
            (_, cell) => panic!("{}: a cell {cell:?} of another type than its column", table.name),
        }
    }

    fn into_param(self, bulk: &mut Bulk) -> String {
        match self {
            Column::Int(values) => bulk.param(values, "bigint[]"),
            Column::Text(values) => bulk.param(values, "text[]"),
            Column::Bytes(values) => bulk.param(values, "bytea[]"),
        }
    }
}

impl PostgresConn {
    /// Claims, packet counters, journal entries with their postings and parties, tree nodes, events and
    /// balances: the rows every claim, refund and transfer step writes, in one statement.
    fn ledger_step(&mut self, changes: &Changes) -> StoreResult<Option<Step>> {
        let mut bulk = Bulk::default();
        bulk.insert(&records::PACKET_CLAIMS, changes.claims.iter().map(|(packet_id, index, claim)| records::claim_cells(packet_id, *index, claim)), "");
        bulk.update(&records::PACKET_PROGRESS, changes.updated_packets.iter().map(records::packet_progress_cells));
        bulk.insert(&records::JOURNAL, changes.journal.iter().map(|(entry, _)| records::journal_cells(entry)), "");
        bulk.insert(&records::POSTINGS, changes.journal.iter().flat_map(|(entry, _)| records::posting_cells(entry)), "");
        bulk.insert(&records::TXN_PARTIES, changes.journal.iter().flat_map(|(entry, parties)| records::party_cells(entry, parties)), "");
        // The tree's new nodes go in the journal's statement: every committed entry is a leaf.
        bulk.insert(&records::MERKLE_NODES, changes.tree_nodes.iter().map(|(log, node)| records::tree_node_cells(*log, node)), "");
        bulk.insert(&records::EVENTS, changes.events.iter().map(records::event_cells), "");
        if !changes.balance_deltas.is_empty() {
            let accounts = bulk.param(changes.balance_deltas.iter().map(|(account, _)| account.to_string()).collect::<Vec<_>>(), "text[]");
            let deltas = bulk.param(changes.balance_deltas.iter().map(|(_, delta)| *delta).collect::<Vec<_>>(), "bigint[]");
            // Update the balances that exist and create the rest; the two parts touch different rows.
            // The writer lock makes this safe; the CHECK constraint refuses any that would go negative.
            let updated = format!("part{}", bulk.parts.len());
            bulk.part(format!(
                "UPDATE balances SET balance = balances.balance + d.delta FROM UNNEST({accounts}, {deltas}) AS d(account, delta) \
                 WHERE balances.account = d.account RETURNING balances.account"
            ));
            bulk.part(format!(
                "INSERT INTO balances (account, balance) SELECT d.account, d.delta FROM UNNEST({accounts}, {deltas}) AS d(account, delta) \
                 WHERE d.account NOT IN (SELECT account FROM {updated})"
            ));
        }
        if bulk.parts.is_empty() {
            return Ok(None);
        }
        let statement = self.statement(&bulk.sql())?;
        Ok(Some(Step { statement, params: bulk.params }))
    }
}
