//! The reads: [`ReadConn`] on a SQLite connection. Each read of records runs its SQL, reads the
//! columns of the table's row by their types and hands them to the table's mapping in
//! `hongbao_store::records`.

use hongbao_core::returns::ReturnRequest;
use hongbao_core::transfer::{Transfer, TransferStatus};
use hongbao_core::{Account, Amount, GroupId, PacketId, Posting, ReturnRequestId, Timestamp, TransferId, TxnKind, TxnNo, UserId};
use hongbao_store::records::{self, JOURNAL, POSTINGS, RETURN_REQUESTS, Record, StoredUser, TRANSFERS, Table, USERS};
use hongbao_store::{Claim, JournalEntry, ListPosition, ReadConn, ReturnRole, StoreResult, TransferRole, User, corrupt, like_literal};
use hongbao_tlog::{Hash, LogId, NodeId};
use rusqlite::{OptionalExtension, params};

use crate::{Context, SqliteConn, bind_value, placeholder, read_row};

fn parse_or_corrupt<T, E: std::fmt::Display>(parsed: Result<T, E>) -> StoreResult<T> {
    parsed.map_err(corrupt)
}

fn user_id(text: &str) -> StoreResult<UserId> {
    parse_or_corrupt(UserId::parse(text))
}

fn amount(units: i64) -> StoreResult<Amount> {
    parse_or_corrupt(Amount::new(units))
}

impl SqliteConn {
    /// The rows of `table` that `sql` (a select of the table's columns) returns.
    pub(crate) fn rows(&mut self, sql: &str, params: impl rusqlite::Params, table: &Table, context: &'static str) -> StoreResult<Vec<records::Row>> {
        let mut statement = self.conn.prepare_cached(sql).ctx(context)?;
        let rows = statement.query_map(params, |row| read_row(row, table)).ctx(context)?;
        rows.collect::<Result<_, _>>().ctx(context)
    }

    /// The records that `sql` (a select of their table's columns) returns.
    fn records<R: Record>(&mut self, sql: &str, params: impl rusqlite::Params, context: &'static str) -> StoreResult<Vec<R>> {
        self.rows(sql, params, R::TABLE, context)?.into_iter().map(R::from_row).collect()
    }

    /// Entries for the journal rows `sql` returns, each with its postings.
    fn query_journal(&mut self, sql: &str, params: impl rusqlite::Params) -> StoreResult<Vec<JournalEntry>> {
        let rows = self.rows(sql, params, &JOURNAL, "reading the journal")?;
        let postings_sql = records::sql::select_from(&POSTINGS, "WHERE seq = ?1 ORDER BY idx");
        rows.into_iter()
            .map(|row| {
                let seq = records::journal_seq(&row)?;
                let postings: Vec<Posting> = self
                    .rows(&postings_sql, [seq], &POSTINGS, "reading postings")?
                    .into_iter()
                    .map(|posting| Ok(records::posting_from_row(posting)?.1))
                    .collect::<StoreResult<_>>()?;
                records::journal_entry(row, postings)
            })
            .collect()
    }
}

impl ReadConn for SqliteConn {
    fn begin_snapshot(&mut self) -> StoreResult<()> {
        // A deferred transaction in WAL mode reads from the snapshot its first read takes.
        self.conn.execute_batch("BEGIN DEFERRED").ctx("beginning a snapshot")
    }

    fn end_snapshot(&mut self) -> StoreResult<()> {
        self.conn.execute_batch("COMMIT").ctx("ending a snapshot")
    }

    fn balance(&mut self, account: &Account) -> StoreResult<i64> {
        let balance: Option<i64> = self
            .conn
            .prepare_cached("SELECT balance FROM balances WHERE account = ?1")
            .ctx("reading a balance")?
            .query_row([account.to_string()], |row| row.get(0))
            .optional()
            .ctx("reading a balance")?;
        Ok(balance.unwrap_or(0))
    }

    fn balances(&mut self) -> StoreResult<Vec<(String, i64)>> {
        let mut statement = self.conn.prepare_cached("SELECT account, balance FROM balances ORDER BY account").ctx("reading balances")?;
        statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).ctx("reading balances")?.collect::<Result<_, _>>().ctx("reading balances")
    }

    fn is_member(&mut self, group_id: &GroupId, user_id: &UserId) -> StoreResult<bool> {
        self.conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM group_members WHERE group_id = ?1 AND user_id = ?2)")
            .ctx("checking membership")?
            .query_row([group_id.as_str(), user_id.as_str()], |row| row.get(0))
            .ctx("checking membership")
    }

    fn member_count(&mut self, group_id: &GroupId) -> StoreResult<u32> {
        self.conn
            .prepare_cached("SELECT count(*) FROM group_members WHERE group_id = ?1")
            .ctx("counting members")?
            .query_row([group_id.as_str()], |row| row.get(0))
            .ctx("counting members")
    }

    fn group_ids_of(&mut self, user_id: &UserId, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<GroupId>> {
        let (after_time, after_id) = after.map_or((i64::MAX, String::new()), |position| (position.created_at.millis(), position.id.clone()));
        let ids: Vec<String> = self
            .conn
            .prepare_cached(
                "SELECT g.id FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = ?1 \
                 AND (?2 OR g.created_at < ?3 OR (g.created_at = ?3 AND g.id < ?4)) ORDER BY g.created_at DESC, g.id DESC LIMIT ?5",
            )
            .ctx("listing groups")?
            .query_map(params![user_id.as_str(), after.is_none(), after_time, after_id, limit], |row| row.get(0))
            .ctx("listing groups")?
            .collect::<Result<_, _>>()
            .ctx("listing groups")?;
        ids.iter().map(|id| parse_or_corrupt(GroupId::parse(id))).collect()
    }

    fn packet_ids_of_group(&mut self, group_id: &GroupId, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<PacketId>> {
        let (after_time, after_id) = after.map_or((i64::MAX, String::new()), |position| (position.created_at.millis(), position.id.clone()));
        let ids: Vec<String> = self
            .conn
            .prepare_cached(
                "SELECT id FROM packets WHERE group_id = ?1 AND (?2 OR created_at < ?3 OR (created_at = ?3 AND id < ?4)) \
                 ORDER BY created_at DESC, id DESC LIMIT ?5",
            )
            .ctx("listing a group's packets")?
            .query_map(params![group_id.as_str(), after.is_none(), after_time, after_id, limit], |row| row.get(0))
            .ctx("listing a group's packets")?
            .collect::<Result<_, _>>()
            .ctx("listing a group's packets")?;
        ids.iter().map(|id| parse_or_corrupt(PacketId::parse(id))).collect()
    }

    /// Read in place, with the columns of `records::claim_from_columns`, whose comment says why.
    fn claims(&mut self, packet_id: &PacketId) -> StoreResult<Vec<Claim>> {
        const CONTEXT: &str = "reading claims";
        let sql = format!("SELECT {} FROM packet_claims WHERE packet_id = ?1 ORDER BY idx", records::CLAIM_COLUMNS);
        let mut statement = self.conn.prepare_cached(&sql).ctx(CONTEXT)?;
        let mut rows = statement.query([packet_id.as_str()]).ctx(CONTEXT)?;
        let mut claims = Vec::new();
        while let Some(row) = rows.next().ctx(CONTEXT)? {
            let text = |index: usize| row.get_ref(index).ctx(CONTEXT)?.as_str().map_err(corrupt);
            claims.push(records::claim_from_columns(text(0)?, row.get(1).ctx(CONTEXT)?, row.get(2).ctx(CONTEXT)?, text(3)?)?);
        }
        Ok(claims)
    }

    fn has_claimed(&mut self, packet_id: &PacketId, user_id: &UserId) -> StoreResult<bool> {
        self.conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM packet_claims WHERE packet_id = ?1 AND user_id = ?2)")
            .ctx("checking claims")?
            .query_row([packet_id.as_str(), user_id.as_str()], |row| row.get(0))
            .ctx("checking claims")
    }

    fn due_packets(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<PacketId>> {
        let ids: Vec<String> = self
            .conn
            .prepare_cached("SELECT id FROM packets WHERE status = 'open' AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2")
            .ctx("finding due packets")?
            .query_map(params![now.millis(), limit], |row| row.get(0))
            .ctx("finding due packets")?
            .collect::<Result<_, _>>()
            .ctx("finding due packets")?;
        ids.iter().map(|id| parse_or_corrupt(PacketId::parse(id))).collect()
    }

    fn journal_entry(&mut self, txn_no: &TxnNo) -> StoreResult<Option<JournalEntry>> {
        Ok(self.query_journal(&records::sql::select_from(&JOURNAL, "WHERE txn_no = ?1"), [txn_no.as_str()])?.pop())
    }

    fn journal_entry_by_reference(&mut self, kind: TxnKind, reference: &str) -> StoreResult<Option<JournalEntry>> {
        let sql = records::sql::select_from(&JOURNAL, "WHERE kind = ?1 AND reference = ?2 ORDER BY seq LIMIT 1");
        Ok(self.query_journal(&sql, [kind.as_str(), reference])?.pop())
    }

    fn txn_parties(&mut self, seq: u64) -> StoreResult<Vec<UserId>> {
        let users: Vec<String> = self
            .conn
            .prepare_cached("SELECT user_id FROM txn_parties WHERE seq = ?1")
            .ctx("reading parties")?
            .query_map([seq as i64], |row| row.get(0))
            .ctx("reading parties")?
            .collect::<Result<_, _>>()
            .ctx("reading parties")?;
        users.iter().map(|user| user_id(user)).collect()
    }

    fn journal_for_account(&mut self, account: &Account, before_seq: Option<u64>, limit: u32) -> StoreResult<Vec<JournalEntry>> {
        let before = before_seq.map_or(i64::MAX, |seq| i64::try_from(seq).unwrap_or(i64::MAX));
        let sql = records::sql::select_from(
            &JOURNAL,
            "WHERE seq IN (SELECT DISTINCT seq FROM postings WHERE account = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3) ORDER BY seq DESC",
        );
        self.query_journal(&sql, params![account.to_string(), before, limit])
    }

    fn journal_range(&mut self, from_seq: u64, limit: u32) -> StoreResult<Vec<JournalEntry>> {
        self.query_journal(&records::sql::select_from(&JOURNAL, "WHERE seq >= ?1 ORDER BY seq LIMIT ?2"), params![from_seq as i64, limit])
    }

    fn journal_len(&mut self) -> StoreResult<u64> {
        let len: i64 = self
            .conn
            .prepare_cached("SELECT coalesce(max(seq), 0) FROM journal")
            .ctx("counting the journal")?
            .query_row([], |row| row.get(0))
            .ctx("counting the journal")?;
        Ok(len as u64)
    }

    fn packet_totals(&mut self) -> StoreResult<Vec<(PacketId, Amount, Amount, Amount)>> {
        let rows: Vec<(String, i64, i64, i64)> = self
            .conn
            .prepare_cached("SELECT id, total_amount, claimed_amount, refunded_amount FROM packets ORDER BY id")
            .ctx("reading packet totals")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
            .ctx("reading packet totals")?
            .collect::<Result<_, _>>()
            .ctx("reading packet totals")?;
        rows.into_iter()
            .map(|(id, total, claimed, refunded)| Ok((parse_or_corrupt(PacketId::parse(&id))?, amount(total)?, amount(claimed)?, amount(refunded)?)))
            .collect()
    }

    fn due_transfers(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<TransferId>> {
        let ids: Vec<String> = self
            .conn
            .prepare_cached("SELECT id FROM transfers WHERE due_at IS NOT NULL AND due_at <= ?1 ORDER BY due_at LIMIT ?2")
            .ctx("finding due transfers")?
            .query_map(params![now.millis(), limit], |row| row.get(0))
            .ctx("finding due transfers")?
            .collect::<Result<_, _>>()
            .ctx("finding due transfers")?;
        ids.iter().map(|id| parse_or_corrupt(TransferId::parse(id))).collect()
    }

    fn held_transfers(&mut self) -> StoreResult<Vec<(TransferId, Amount)>> {
        let rows: Vec<(String, i64)> = self
            .conn
            .prepare_cached("SELECT id, amount FROM transfers WHERE status IN ('pending', 'accepted') ORDER BY id")
            .ctx("reading held transfers")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .ctx("reading held transfers")?
            .collect::<Result<_, _>>()
            .ctx("reading held transfers")?;
        rows.into_iter().map(|(id, units)| Ok((parse_or_corrupt(TransferId::parse(&id))?, amount(units)?))).collect()
    }

    fn corrected_amount(&mut self, txn_no: &TxnNo) -> StoreResult<i64> {
        self.conn
            .prepare_cached("SELECT coalesce(sum(amount), 0) FROM journal WHERE corrects_txn_no = ?1")
            .ctx("reading corrections")?
            .query_row([txn_no.as_str()], |row| row.get(0))
            .ctx("reading corrections")
    }

    fn return_requests_of(&mut self, user_id: &UserId, role: Option<ReturnRole>, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<ReturnRequest>> {
        let (after_time, after_id) = after.map_or((i64::MAX, String::new()), |position| (position.created_at.millis(), position.id.clone()));
        let who = match role {
            Some(ReturnRole::Sent) => "requester_id = ?1",
            Some(ReturnRole::Received) => "recipient_id = ?1",
            None => "(requester_id = ?1 OR recipient_id = ?1)",
        };
        let sql = records::sql::select_from(
            &RETURN_REQUESTS,
            &format!("WHERE {who} AND (created_at < ?2 OR (created_at = ?2 AND id < ?3) OR ?4) ORDER BY created_at DESC, id DESC LIMIT ?5"),
        );
        self.records(&sql, params![user_id.as_str(), after_time, after_id, after.is_none(), limit], "listing return requests")
    }

    fn share_a_group(&mut self, a: &UserId, b: &UserId) -> StoreResult<bool> {
        self.conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM group_members mine JOIN group_members theirs ON theirs.group_id = mine.group_id \
                 WHERE mine.user_id = ?1 AND theirs.user_id = ?2)",
            )
            .ctx("looking for a shared group")?
            .query_row(params![a.as_str(), b.as_str()], |row| row.get(0))
            .ctx("looking for a shared group")
    }

    fn dealt_with(&mut self, a: &UserId, b: &UserId) -> StoreResult<bool> {
        let (wallet_a, wallet_b) = (Account::Wallet(a.clone()).to_string(), Account::Wallet(b.clone()).to_string());
        self.conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM postings p JOIN txn_parties t ON t.seq = p.seq WHERE p.account = ?1 AND t.user_id = ?4) \
                 OR EXISTS (SELECT 1 FROM postings p JOIN txn_parties t ON t.seq = p.seq WHERE p.account = ?2 AND t.user_id = ?3) \
                 OR EXISTS (SELECT 1 FROM transfers WHERE (sender_id = ?3 AND recipient_id = ?4) OR (sender_id = ?4 AND recipient_id = ?3)) \
                 OR EXISTS (SELECT 1 FROM packets WHERE (sender_id = ?3 AND recipient_id = ?4) OR (sender_id = ?4 AND recipient_id = ?3))",
            )
            .ctx("looking for dealings between users")?
            .query_row(params![wallet_a, wallet_b, a.as_str(), b.as_str()], |row| row.get(0))
            .ctx("looking for dealings between users")
    }

    fn counterparties(&mut self, user_id: &UserId, limit: u32) -> StoreResult<Vec<UserId>> {
        let wallet = Account::Wallet(user_id.clone()).to_string();
        let ids: Vec<String> = self
            .conn
            .prepare_cached(
                "SELECT other FROM ( \
                   SELECT t.user_id AS other, j.created_at AS at FROM postings p JOIN txn_parties t ON t.seq = p.seq JOIN journal j ON j.seq = p.seq \
                     WHERE p.account = ?1 AND t.user_id <> ?2 \
                   UNION ALL SELECT recipient_id, created_at FROM transfers WHERE sender_id = ?2 \
                   UNION ALL SELECT sender_id, created_at FROM transfers WHERE recipient_id = ?2 \
                   UNION ALL SELECT recipient_id, created_at FROM packets WHERE sender_id = ?2 AND recipient_id IS NOT NULL \
                   UNION ALL SELECT sender_id, created_at FROM packets WHERE recipient_id = ?2 \
                   UNION ALL SELECT c.user_id, c.claimed_at FROM packets k JOIN packet_claims c ON c.packet_id = k.id WHERE k.sender_id = ?2 \
                 ) WHERE other <> ?2 GROUP BY other ORDER BY max(at) DESC, other LIMIT ?3",
            )
            .ctx("listing counterparties")?
            .query_map(params![wallet, user_id.as_str(), limit], |row| row.get(0))
            .ctx("listing counterparties")?
            .collect::<Result<_, _>>()
            .ctx("listing counterparties")?;
        ids.iter().map(|id| parse_or_corrupt(UserId::parse(id))).collect()
    }

    fn transfers_of(
        &mut self,
        user_id: &UserId,
        role: Option<TransferRole>,
        status: Option<TransferStatus>,
        after: Option<&ListPosition>,
        limit: u32,
    ) -> StoreResult<Vec<Transfer>> {
        let (after_time, after_id) = after.map_or((i64::MAX, String::new()), |position| (position.created_at.millis(), position.id.clone()));
        let who = match role {
            Some(TransferRole::Sent) => "sender_id = ?1",
            Some(TransferRole::Received) => "recipient_id = ?1",
            None => "(sender_id = ?1 OR recipient_id = ?1)",
        };
        let sql = records::sql::select_from(
            &TRANSFERS,
            &format!(
                "WHERE {who} AND (?2 IS NULL OR status = ?2) AND (?3 OR created_at < ?4 OR (created_at = ?4 AND id < ?5)) \
                 ORDER BY created_at DESC, id DESC LIMIT ?6"
            ),
        );
        let status = status.map(|status| status.as_str());
        self.records(&sql, params![user_id.as_str(), status, after.is_none(), after_time, after_id, limit], "listing transfers")
    }

    fn transfers_between(&mut self, a: &UserId, b: &UserId, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<Transfer>> {
        let (after_time, after_id) = after.map_or((i64::MAX, String::new()), |position| (position.created_at.millis(), position.id.clone()));
        let sql = records::sql::select_from(
            &TRANSFERS,
            "WHERE ((sender_id = ?1 AND recipient_id = ?2) OR (sender_id = ?2 AND recipient_id = ?1)) \
             AND (?3 OR created_at < ?4 OR (created_at = ?4 AND id < ?5)) ORDER BY created_at DESC, id DESC LIMIT ?6",
        );
        self.records(&sql, params![a.as_str(), b.as_str(), after.is_none(), after_time, after_id, limit], "listing transfers between users")
    }

    fn packet_ids_between(&mut self, a: &UserId, b: &UserId, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<PacketId>> {
        let (after_time, after_id) = after.map_or((i64::MAX, String::new()), |position| (position.created_at.millis(), position.id.clone()));
        let ids: Vec<String> = self
            .conn
            .prepare_cached(
                "SELECT id FROM packets WHERE ((sender_id = ?1 AND recipient_id = ?2) OR (sender_id = ?2 AND recipient_id = ?1)) \
                 AND (?3 OR created_at < ?4 OR (created_at = ?4 AND id < ?5)) ORDER BY created_at DESC, id DESC LIMIT ?6",
            )
            .ctx("listing packets between users")?
            .query_map(params![a.as_str(), b.as_str(), after.is_none(), after_time, after_id, limit], |row| row.get(0))
            .ctx("listing packets between users")?
            .collect::<Result<_, _>>()
            .ctx("listing packets between users")?;
        ids.iter().map(|id| parse_or_corrupt(PacketId::parse(id))).collect()
    }

    fn search_users(&mut self, text: &str, limit: u32) -> StoreResult<Vec<User>> {
        let literal = like_literal(&text.to_ascii_lowercase());
        let sql = records::sql::select_from(&USERS, "WHERE id LIKE ?1 ESCAPE '\\' OR lower(name) LIKE ?2 ESCAPE '\\' ORDER BY lower(name), id LIMIT ?3");
        let users: Vec<StoredUser> = self.records(&sql, params![format!("{literal}%"), format!("%{literal}%"), limit], "searching users")?;
        Ok(users.into_iter().map(|stored| stored.user).collect())
    }

    fn due_return_requests(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<ReturnRequestId>> {
        let ids: Vec<String> = self
            .conn
            .prepare_cached("SELECT id FROM return_requests WHERE status = 'pending' AND respond_by <= ?1 ORDER BY respond_by LIMIT ?2")
            .ctx("finding due return requests")?
            .query_map(params![now.millis(), limit], |row| row.get(0))
            .ctx("finding due return requests")?
            .collect::<Result<_, _>>()
            .ctx("finding due return requests")?;
        ids.iter().map(|id| parse_or_corrupt(ReturnRequestId::parse(id))).collect()
    }

    fn select(&mut self, query: &records::Query) -> StoreResult<Vec<records::Row>> {
        let (sql, params) = records::sql::select(query, placeholder);
        let mut statement = self.conn.prepare_cached(&sql).ctx("preparing a records query")?;
        let rows = statement.query_map(rusqlite::params_from_iter(params.iter().map(|(value, _)| bind_value(value))), |row| read_row(row, query.table));
        rows.ctx("reading records")?.collect::<rusqlite::Result<Vec<records::Row>>>().ctx("reading records")
    }

    fn tree_nodes(&mut self, log: LogId, ids: &[NodeId]) -> StoreResult<Vec<Option<Hash>>> {
        let mut found = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(NODES_PER_QUERY) {
            // Padded to a power of two with the last node again, so that a few cached statements serve
            // every length.
            let padded = chunk.len().next_power_of_two();
            let pairs: Vec<String> = (0..padded).map(|index| format!("(?{}, ?{})", 2 * index + 2, 2 * index + 3)).collect();
            let sql = format!("SELECT level, idx, hash FROM merkle_nodes WHERE log_id = ?1 AND (complete_at, level) IN (VALUES {})", pairs.join(", "));
            let mut values: Vec<rusqlite::types::Value> = vec![rusqlite::types::Value::Integer(i64::from(log.get()))];
            for index in 0..padded {
                let id = chunk[index.min(chunk.len() - 1)];
                values.push(rusqlite::types::Value::Integer(id.complete_at() as i64));
                values.push(rusqlite::types::Value::Integer(i64::from(id.level)));
            }
            let mut statement = self.conn.prepare_cached(&sql).ctx("reading tree nodes")?;
            let rows = statement
                .query_map(rusqlite::params_from_iter(values), |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, Vec<u8>>(2)?)))
                .ctx("reading tree nodes")?;
            for row in rows {
                let (level, index, bytes) = row.ctx("reading tree nodes")?;
                let hash = Hash::from_slice(&bytes).ok_or_else(|| corrupt(format!("tree node ({level}, {index}) holds {} bytes", bytes.len())))?;
                found.insert((level, index), hash);
            }
        }
        Ok(ids.iter().map(|id| found.get(&(i64::from(id.level), id.index as i64)).copied()).collect())
    }

    fn tree_size(&mut self, log: LogId) -> StoreResult<u64> {
        let size: i64 = self
            .conn
            // Every node is complete at a size no larger than its tree's, and the last leaf at exactly it.
            .prepare_cached("SELECT coalesce(max(complete_at), 0) FROM merkle_nodes WHERE log_id = ?1")
            .ctx("reading the tree size")?
            .query_row([i64::from(log.get())], |row| row.get(0))
            .ctx("reading the tree size")?;
        Ok(size as u64)
    }

    fn tree_node_count(&mut self, log: LogId) -> StoreResult<u64> {
        let count: i64 =
            self.conn.query_row("SELECT count(*) FROM merkle_nodes WHERE log_id = ?1", [i64::from(log.get())], |row| row.get(0)).ctx("counting tree nodes")?;
        Ok(count as u64)
    }

    fn count(&mut self, query: &records::Query) -> StoreResult<u64> {
        let (sql, params) = records::sql::count(query, placeholder);
        let count: i64 = self
            .conn
            .prepare_cached(&sql)
            .ctx("preparing a count")?
            .query_row(rusqlite::params_from_iter(params.iter().map(|(value, _)| bind_value(value))), |row| row.get(0))
            .ctx("counting records")?;
        Ok(count as u64)
    }
}

/// The most nodes one query of `tree_nodes` asks for: two parameters each, well within SQLite's limit.
const NODES_PER_QUERY: usize = 4_096;
