//! The writes: [`WriteConn`] on the writer's connection. A batch begins with `BEGIN IMMEDIATE`, reads
//! what its claims check in a few set queries (`prefetch`), and writes its changes in multi-row
//! statements of the rows that `hongbao_store::records` maps, then commits once.

use hongbao_core::{Account, JournalHash, PacketId, Timestamp, UserId};
use hongbao_store::records::{self, Cell, Table};
use hongbao_store::{Changes, Heads, ReadConn, StoreError, StoreResult, WriteConn, corrupt};
use hongbao_tlog::{Frontier, LogId};
use rusqlite::{OptionalExtension, params};

use crate::{Context, SqliteConn, bind, bind_value, into_sql, placeholder};

/// The most rows one multi-row statement carries.
const MAX_ROWS_PER_STATEMENT: usize = 64;

/// How a batch's multi-row statements begin. `OR FAIL`: a statement that breaks a constraint stops
/// there and fails the whole batch's transaction, which the writer rolls back, so no statement needs
/// to undo its own earlier rows. Under the default (`ABORT`) SQLite keeps a statement journal for
/// that, a copy of every page a multi-row statement changes: 22,000 instructions a claim in process
/// when kept in memory (`bench/instructions`), and writes to `/var/tmp/etilqs_*` files on the hot
/// packet when spilled to disk.
const INSERT: &str = "INSERT OR FAIL INTO";

/// Writes `params.len() / width` rows with statements of many rows each (`head` is
/// `INSERT OR FAIL INTO t (a, b) VALUES`, `tail` what follows the rows). A batch's claims, journal entries,
/// postings, parties, events and tree nodes each go in a few statements instead of one per row; the
/// row counts are powers of two, so a handful of statements serve every batch from the cache.
fn insert_many(conn: &rusqlite::Connection, head: &str, tail: &str, width: usize, params: &[&dyn rusqlite::ToSql], context: &'static str) -> StoreResult<()> {
    debug_assert_eq!(params.len() % width, 0, "whole rows");
    let mut rest = params;
    while !rest.is_empty() {
        let rows = rest.len() / width;
        let chunk = if rows >= MAX_ROWS_PER_STATEMENT { MAX_ROWS_PER_STATEMENT } else { 1 << rows.ilog2() };
        let row = format!("({})", vec!["?"; width].join(", "));
        let sql = format!("{head} {}{tail}", vec![row.as_str(); chunk].join(", "));
        let (now, later) = rest.split_at(chunk * width);
        conn.prepare_cached(&sql).ctx(context)?.execute(now).ctx(context)?;
        rest = later;
    }
    Ok(())
}

/// Inserts rows of `table`, given as their cells one row after another, in multi-row statements
/// (`tail` follows the rows: a conflict clause or nothing).
fn insert_cells<'c>(
    conn: &rusqlite::Connection,
    table: &Table,
    cells: impl IntoIterator<Item = Cell<'c>>,
    tail: &str,
    context: &'static str,
) -> StoreResult<()> {
    insert_values(conn, table, cells.into_iter().map(into_sql).collect(), tail, context)
}

/// Inserts rows of `table`, given as their values one row after another, as `insert_cells` does.
fn insert_values(
    conn: &rusqlite::Connection,
    table: &Table,
    values: Vec<rusqlite::types::ToSqlOutput<'_>>,
    tail: &str,
    context: &'static str,
) -> StoreResult<()> {
    if values.is_empty() {
        return Ok(());
    }
    let params: Vec<&dyn rusqlite::ToSql> = values.iter().map(|value| value as &dyn rusqlite::ToSql).collect();
    let head = format!("{INSERT} {} ({}) VALUES", table.name, table.column_list());
    insert_many(conn, &head, tail, table.columns.len(), &params, context)
}

/// The most keys one `IN` list of a prefetch carries.
const MAX_KEYS_PER_LOOKUP: usize = 256;

impl SqliteConn {
    /// Which of `keys` the query `head` (ending in `IN`, with `?1` bound to `scope`) returns, its first
    /// column: a batch's claimers looked up a few statements at a time instead of one each. Key lists
    /// are padded to a power of two with their last key, so a handful of statements serve every batch.
    fn found_among(&mut self, head: &str, scope: &str, keys: &[&str], context: &'static str) -> StoreResult<Vec<String>> {
        let mut found = Vec::new();
        for chunk in keys.chunks(MAX_KEYS_PER_LOOKUP) {
            let padded = chunk.len().next_power_of_two();
            let placeholders: Vec<String> = (2..padded + 2).map(|index| format!("?{index}")).collect();
            let sql = format!("{head} ({})", placeholders.join(", "));
            let mut params: Vec<&dyn rusqlite::ToSql> = vec![&scope];
            params.extend(chunk.iter().map(|key| key as &dyn rusqlite::ToSql));
            let last = chunk.last().expect("chunks are not empty");
            params.extend(std::iter::repeat_n(last as &dyn rusqlite::ToSql, padded - chunk.len()));
            let mut statement = self.conn.prepare_cached(&sql).ctx(context)?;
            let rows = statement.query_map(params.as_slice(), |row| row.get::<_, String>(0)).ctx(context)?;
            for row in rows {
                found.push(row.ctx(context)?);
            }
        }
        found.sort();
        found.dedup();
        Ok(found)
    }
}

impl WriteConn for SqliteConn {
    /// The claim contexts of a batch's packets with a few set queries per packet, not three point
    /// queries per claimer.
    fn prefetch(&mut self, packets: &[(PacketId, Vec<UserId>)], queries: &[records::Query]) -> StoreResult<hongbao_store::Prefetched> {
        let mut contexts = Vec::with_capacity(packets.len());
        for (packet_id, users) in packets {
            let Some(packet) = self.packet(packet_id)? else {
                contexts.push(None);
                continue;
            };
            let ids: Vec<&str> = users.iter().map(UserId::as_str).collect();
            let claimed =
                self.found_among("SELECT user_id FROM packet_claims WHERE packet_id = ?1 AND user_id IN", packet_id.as_str(), &ids, "reading who claimed")?;
            let members = match packet.audience.group_id() {
                Some(group_id) if !ids.is_empty() => {
                    self.found_among("SELECT user_id FROM group_members WHERE group_id = ?1 AND user_id IN", group_id.as_str(), &ids, "reading members")?
                }
                _ => Vec::new(),
            };
            let accounts: Vec<String> = users.iter().map(|user| Account::Wallet(user.clone()).to_string()).collect();
            let account_refs: Vec<&str> = accounts.iter().map(String::as_str).collect();
            // The balances of the accounts that have one; `?1` is unused, the scope of the lookup.
            let mut balances = std::collections::HashMap::new();
            for chunk in account_refs.chunks(MAX_KEYS_PER_LOOKUP) {
                let padded = chunk.len().next_power_of_two();
                let placeholders: Vec<String> = (1..=padded).map(|index| format!("?{index}")).collect();
                let sql = format!("SELECT account, balance FROM balances WHERE account IN ({})", placeholders.join(", "));
                let mut params: Vec<&dyn rusqlite::ToSql> = chunk.iter().map(|key| key as &dyn rusqlite::ToSql).collect();
                let last = chunk.last().expect("chunks are not empty");
                params.extend(std::iter::repeat_n(last as &dyn rusqlite::ToSql, padded - chunk.len()));
                let mut statement = self.conn.prepare_cached(&sql).ctx("reading balances")?;
                let rows = statement.query_map(params.as_slice(), |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))).ctx("reading balances")?;
                for row in rows {
                    let (account, balance) = row.ctx("reading balances")?;
                    balances.insert(account, balance);
                }
            }
            let wallet_balances = accounts.iter().map(|account| balances.get(account).copied().unwrap_or(0)).collect();
            let sender_balance = self.balance(&Account::Wallet(packet.sender_id.clone()))?;
            let claimed = claimed.iter().map(|id| UserId::parse(id).map_err(|_| corrupt(format!("a claimer {id:?}")))).collect::<StoreResult<_>>()?;
            let members = members.iter().map(|id| UserId::parse(id).map_err(|_| corrupt(format!("a member {id:?}")))).collect::<StoreResult<_>>()?;
            contexts.push(Some(hongbao_store::ClaimContext { packet, claimed, members, wallet_balances, sender_balance }));
        }
        let rows = queries.iter().map(|query| self.select(query)).collect::<StoreResult<_>>()?;
        Ok(hongbao_store::Prefetched { contexts, rows })
    }

    fn begin(&mut self) -> StoreResult<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE").ctx("beginning a transaction")
    }

    fn commit(&mut self, changes: &Changes) -> StoreResult<()> {
        self.apply(changes)?;
        self.conn.execute_batch("COMMIT").ctx("committing").map_err(|error| StoreError::CommitUnknown { source: Box::new(error) })
    }

    fn rollback(&mut self) -> StoreResult<()> {
        self.conn.execute_batch("ROLLBACK").ctx("rolling back")
    }

    fn heads(&mut self) -> StoreResult<Heads> {
        let last_event_seq: i64 = self
            .conn
            .prepare_cached("SELECT coalesce(max(seq), 0) FROM events")
            .ctx("reading the event head")?
            .query_row([], |row| row.get(0))
            .ctx("reading the event head")?;
        let head: Option<(i64, Vec<u8>)> = self
            .conn
            .prepare_cached("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1")
            .ctx("reading the journal head")?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .ctx("reading the journal head")?;
        let journal = match head {
            None => (0, JournalHash::GENESIS),
            Some((seq, bytes)) => (seq as u64, hash(&bytes)?),
        };
        // The tree's right edge at the journal's size; a node not stored is left out, which tells the
        // writer that the tree lags behind the journal.
        let tree_frontier = self.tree_nodes(LogId::JOURNAL, &Frontier::node_ids(journal.0))?.into_iter().flatten().collect();
        Ok(Heads { journal, last_event_seq: last_event_seq as u64, tree_frontier })
    }

    fn expired_idempotency(&mut self, created_before: Timestamp, limit: u32) -> StoreResult<Vec<(String, String)>> {
        self.conn
            .prepare_cached("SELECT caller, key FROM idempotency WHERE created_at < ?1 ORDER BY created_at LIMIT ?2")
            .ctx("reading expired idempotency records")?
            .query_map(params![created_before.millis(), limit], |row| Ok((row.get(0)?, row.get(1)?)))
            .ctx("reading expired idempotency records")?
            .collect::<Result<_, _>>()
            .ctx("reading expired idempotency records")
    }
}

impl SqliteConn {
    fn exec(&mut self, sql: &str, params: impl rusqlite::Params, context: &'static str) -> StoreResult<usize> {
        self.conn.prepare_cached(sql).ctx(context)?.execute(params).ctx(context)
    }

    /// Writes one row of cells with `sql`, whose parameters are the row's values in order.
    fn exec_cells(&mut self, sql: &str, cells: &[Cell<'_>], context: &'static str) -> StoreResult<usize> {
        self.exec(sql, rusqlite::params_from_iter(cells.iter().map(bind)), context)
    }

    fn add_member(&mut self, group_id: &str, user_id: &str) -> StoreResult<()> {
        self.exec(
            "INSERT INTO group_members (group_id, user_id, joined_seq) \
             VALUES (?1, ?2, (SELECT coalesce(max(joined_seq), 0) + 1 FROM group_members WHERE group_id = ?1)) ON CONFLICT DO NOTHING",
            params![group_id, user_id],
            "adding a member",
        )
        .map(drop)
    }

    /// Writes a batch's changes inside its transaction.
    fn apply(&mut self, changes: &Changes) -> StoreResult<()> {
        for (key, value) in &changes.settings {
            self.exec_cells(&records::sql::upsert(&records::SETTINGS, placeholder), &records::setting_cells(key, value), "writing a setting")?;
        }
        let users = changes.users.iter().flat_map(|(user, token_hash)| records::user_cells(user, token_hash));
        insert_cells(&self.conn, &records::USERS, users, "", "inserting users")?;
        for (user_id, token_hash) in &changes.user_tokens {
            self.exec("UPDATE users SET token_hash = ?2 WHERE id = ?1", params![user_id.as_str(), &token_hash[..]], "replacing a token")?;
        }
        for (user_id, name) in &changes.user_names {
            self.exec("UPDATE users SET name = ?2 WHERE id = ?1", params![user_id.as_str(), name], "renaming a user")?;
        }
        for group in &changes.groups {
            insert_cells(&self.conn, &records::GROUPS, records::group_cells(group), "", "inserting a group")?;
            let members = group.member_ids.iter().zip(1..).flat_map(|(member, joined_seq)| records::member_cells(&group.id, member, joined_seq));
            insert_cells(&self.conn, &records::GROUP_MEMBERS, members, " ON CONFLICT DO NOTHING", "inserting members")?;
        }
        for (group_id, user_id, added) in &changes.memberships {
            if *added {
                self.add_member(group_id.as_str(), user_id.as_str())?;
            } else {
                self.exec("DELETE FROM group_members WHERE group_id = ?1 AND user_id = ?2", params![group_id.as_str(), user_id.as_str()], "removing a member")?;
            }
        }
        let packets = changes.new_packets.iter().flat_map(|(packet, _)| records::packet_cells(packet));
        insert_cells(&self.conn, &records::PACKETS, packets, "", "inserting packets")?;
        let shares = changes
            .new_packets
            .iter()
            .flat_map(|(packet, shares)| shares.iter().enumerate().flat_map(|(index, share)| records::share_cells(&packet.id, index, *share)));
        insert_cells(&self.conn, &records::PACKET_SHARES, shares, "", "inserting shares")?;
        if !changes.updated_packets.is_empty() {
            let sql = records::sql::update_by_key(&records::PACKET_PROGRESS, placeholder);
            for packet in &changes.updated_packets {
                if self.exec_cells(&sql, &records::packet_progress_cells(packet), "updating a packet")? != 1 {
                    return Err(corrupt(format!("packet {} vanished while it was updated", packet.id)));
                }
            }
        }
        let claims = changes.claims.iter().flat_map(|(packet_id, index, claim)| records::claim_cells(packet_id, *index, claim));
        insert_cells(&self.conn, &records::PACKET_CLAIMS, claims, "", "inserting claims")?;
        let journal = changes.journal.iter().flat_map(|(entry, _)| records::journal_cells(entry));
        insert_cells(&self.conn, &records::JOURNAL, journal, "", "appending to the journal")?;
        let postings = changes.journal.iter().flat_map(|(entry, _)| records::posting_cells(entry)).flatten();
        insert_cells(&self.conn, &records::POSTINGS, postings, "", "inserting postings")?;
        let parties = changes.journal.iter().flat_map(|(entry, parties)| records::party_cells(entry, parties)).flatten();
        insert_cells(&self.conn, &records::TXN_PARTIES, parties, " ON CONFLICT DO NOTHING", "recording parties")?;
        // Tree nodes are never replaced: a node stored twice is refused.
        let nodes = changes.tree_nodes.iter().flat_map(|(log, node)| records::tree_node_cells(*log, node));
        insert_cells(&self.conn, &records::MERKLE_NODES, nodes, "", "inserting tree nodes")?;
        self.apply_balances(changes)?;
        for (caller, key) in &changes.deleted_idempotency {
            self.exec("DELETE FROM idempotency WHERE caller = ?1 AND key = ?2", params![caller, key], "deleting an expired idempotency record")?;
        }
        if !changes.idempotency.is_empty() {
            let sql = records::sql::upsert_keyed(&records::IDEMPOTENCY, records::IDEMPOTENCY_KEY_COLUMNS, 1, placeholder);
            for (caller, key, record) in &changes.idempotency {
                self.exec_cells(&sql, &records::idempotency_cells(caller, key, record), "recording an idempotent response")?;
            }
        }
        insert_cells(&self.conn, &records::EVENTS, changes.events.iter().flat_map(records::event_cells), "", "writing events")?;
        for (table, rows) in changes.upserts_by_table() {
            let values = rows.iter().flat_map(|row| row.iter().map(bind_value)).collect();
            insert_values(&self.conn, table, values, &records::sql::upsert_clause(table, 1), "writing records")?;
        }
        for (table, key) in &changes.deleted_rows {
            let sql = records::sql::delete(table, placeholder);
            self.exec(&sql, [bind_value(key)], "deleting a record")?;
        }
        Ok(())
    }

    /// Credits in bulk, as upserts; debits one by one, updating first: SQLite checks an upsert's CHECK
    /// constraint on the row it would insert, which for a debit is negative even when the existing
    /// balance covers it.
    fn apply_balances(&mut self, changes: &Changes) -> StoreResult<()> {
        let accounts: Vec<(String, i64)> = changes.balance_deltas.iter().map(|(account, delta)| (account.to_string(), *delta)).collect();
        let credits: Vec<&dyn rusqlite::ToSql> = accounts
            .iter()
            .filter(|(_, delta)| *delta > 0)
            .flat_map(|(account, delta)| [account as &dyn rusqlite::ToSql, delta as &dyn rusqlite::ToSql])
            .collect();
        insert_many(
            &self.conn,
            &format!("{INSERT} balances (account, balance) VALUES"),
            " ON CONFLICT (account) DO UPDATE SET balance = balance + excluded.balance",
            2,
            &credits,
            "crediting balances",
        )?;
        for (account, delta) in accounts.iter().filter(|(_, delta)| *delta < 0) {
            let updated = self.exec("UPDATE balances SET balance = balance + ?2 WHERE account = ?1", params![account, delta], "updating a balance")?;
            if updated == 0 {
                self.exec("INSERT INTO balances (account, balance) VALUES (?1, ?2)", params![account, delta], "creating a balance")?;
            }
        }
        Ok(())
    }
}

fn hash(bytes: &[u8]) -> StoreResult<JournalHash> {
    JournalHash::from_slice(bytes).ok_or_else(|| corrupt("a journal hash is not 32 bytes"))
}
