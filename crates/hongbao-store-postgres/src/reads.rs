//! The reads: [`ReadConn`] on a PostgreSQL connection. Each read of records runs its SQL, reads the
//! columns of the table's row by their types and hands them to the table's mapping in
//! `hongbao_store::records`.

use std::collections::HashMap;

use hongbao_core::returns::ReturnRequest;
use hongbao_core::transfer::{Transfer, TransferStatus};
use hongbao_core::{Account, Amount, GroupId, PacketId, Posting, ReturnRequestId, Timestamp, TransferId, TxnKind, TxnNo, UserId};
use hongbao_store::records::{self, JOURNAL, POSTINGS, RETURN_REQUESTS, Record, StoredUser, TRANSFERS, USERS};
use hongbao_store::{Claim, JournalEntry, ListPosition, ReadConn, ReturnRole, StoreResult, TransferRole, User, corrupt, like_literal};
use hongbao_tlog::{Hash, LogId, NodeId};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::client::Step;
use crate::{Context, PostgresConn, get, placeholder, read_row, to_sql};

fn user_id(text: &str) -> StoreResult<UserId> {
    UserId::parse(text).map_err(corrupt)
}

/// The user id in a row's first column.
fn user_id_of_row(row: &Row) -> StoreResult<UserId> {
    user_id(&get::<String>(row, 0)?)
}

fn amount(units: i64) -> StoreResult<Amount> {
    Amount::new(units).map_err(corrupt)
}

impl PostgresConn {
    /// The records that `sql` (a select of their table's columns) returns.
    fn records<R: Record>(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)], context: &'static str) -> StoreResult<Vec<R>> {
        self.query(sql, params, context)?.iter().map(|row| R::from_row(read_row(row, R::TABLE)?)).collect()
    }

    /// The journal entries `sql` (a select of the journal's columns) returns, with their postings
    /// loaded in one query.
    fn journal(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<JournalEntry>> {
        let rows = self.query(sql, params, "reading the journal")?.iter().map(|row| read_row(row, &JOURNAL)).collect::<StoreResult<Vec<_>>>()?;
        let seqs: Vec<i64> = rows.iter().map(records::journal_seq).collect::<StoreResult<_>>()?;
        let mut postings: HashMap<i64, Vec<Posting>> = HashMap::new();
        for row in self.query(&records::sql::select_from(&POSTINGS, "WHERE seq = ANY($1) ORDER BY seq, idx"), &[&seqs], "reading postings")? {
            let (seq, posting) = records::posting_from_row(read_row(&row, &POSTINGS)?)?;
            postings.entry(seq).or_default().push(posting);
        }
        rows.into_iter()
            .map(|row| {
                let seq = records::journal_seq(&row)?;
                records::journal_entry(row, postings.remove(&seq).unwrap_or_default())
            })
            .collect()
    }

    pub(crate) fn select_step(&mut self, query: &records::Query) -> StoreResult<Step> {
        // A batch asks for the records of a different number of keys each time; each length is a
        // statement of its own to prepare, a round trip under the writer lock. Padding the list to a
        // power of two (repeating its last key, which selects nothing more) leaves a few lengths.
        let mut padded;
        let query = match &query.any_of {
            Some((_, values)) if !values.is_empty() && !values.len().is_power_of_two() => {
                padded = query.clone();
                let (_, values) = padded.any_of.as_mut().expect("the list just seen");
                let length = values.len();
                values.resize(length.next_power_of_two(), values[length - 1].clone());
                if padded.limit as usize == length {
                    padded.limit = u32::try_from(values.len()).unwrap_or(u32::MAX);
                }
                &padded
            }
            _ => query,
        };
        let (sql, params) = records::sql::select(query, placeholder);
        let params = params.into_iter().map(|(value, column_type)| to_sql(value, column_type)).collect();
        Ok(Step { statement: self.statement(&sql)?, params })
    }
}

impl ReadConn for PostgresConn {
    fn begin_snapshot(&mut self) -> StoreResult<()> {
        self.client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").ctx("beginning a snapshot")
    }

    fn end_snapshot(&mut self) -> StoreResult<()> {
        self.client.batch_execute("COMMIT").ctx("ending a snapshot")
    }

    /// One index probe per hash, whatever the statistics of a fast-growing `users` table say.
    fn users_by_token_hashes(&mut self, token_hashes: &[[u8; 32]]) -> StoreResult<Vec<([u8; 32], User)>> {
        let hashes: Vec<&[u8]> = token_hashes.iter().map(|hash| &hash[..]).collect();
        let one = records::sql::select_from(&USERS, "WHERE token_hash = t.hash LIMIT 1");
        let sql = format!("SELECT u.* FROM UNNEST($1::bytea[]) AS t(hash), LATERAL ({one}) AS u");
        let users: Vec<StoredUser> = self.records(&sql, &[&hashes], "authenticating")?;
        Ok(users.into_iter().map(|stored| (stored.token_hash, stored.user)).collect())
    }

    fn balance(&mut self, account: &Account) -> StoreResult<i64> {
        let row = self.query_opt("SELECT balance FROM balances WHERE account = $1", &[&account.to_string()], "reading a balance")?;
        Ok(row.map(|row| get(&row, 0)).transpose()?.unwrap_or(0))
    }

    fn balances(&mut self) -> StoreResult<Vec<(String, i64)>> {
        self.query("SELECT account, balance FROM balances ORDER BY account", &[], "reading balances")?
            .iter()
            .map(|row| Ok((get(row, 0)?, get(row, 1)?)))
            .collect()
    }

    fn is_member(&mut self, group_id: &GroupId, user_id: &UserId) -> StoreResult<bool> {
        let row = self.query_opt(
            "SELECT 1 FROM group_members WHERE group_id = $1 AND user_id = $2",
            &[&group_id.as_str(), &user_id.as_str()],
            "checking membership",
        )?;
        Ok(row.is_some())
    }

    fn member_count(&mut self, group_id: &GroupId) -> StoreResult<u32> {
        let rows = self.query("SELECT count(*) FROM group_members WHERE group_id = $1", &[&group_id.as_str()], "counting members")?;
        let count: i64 = rows.first().map(|row| get(row, 0)).transpose()?.unwrap_or(0);
        u32::try_from(count).map_err(corrupt)
    }

    fn group_ids_of(&mut self, user_id: &UserId, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<GroupId>> {
        const SQL: &str = "SELECT g.id FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = $1 \
             AND ($2 OR g.created_at < $3 OR (g.created_at = $3 AND g.id < $4)) ORDER BY g.created_at DESC, g.id DESC LIMIT $5";
        let (after_time, after_id) = after.map_or((i64::MAX, String::new()), |position| (position.created_at.millis(), position.id.clone()));
        self.query(SQL, &[&user_id.as_str(), &after.is_none(), &after_time, &after_id, &i64::from(limit)], "listing groups")?
            .iter()
            .map(|row| GroupId::parse(&get::<String>(row, 0)?).map_err(corrupt))
            .collect()
    }

    fn packet_ids_of_group(&mut self, group_id: &GroupId, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<PacketId>> {
        const SQL: &str = "SELECT id FROM packets WHERE group_id = $1 AND ($2 OR created_at < $3 OR (created_at = $3 AND id < $4)) \
             ORDER BY created_at DESC, id DESC LIMIT $5";
        let (after_time, after_id) = after.map_or((i64::MAX, String::new()), |position| (position.created_at.millis(), position.id.clone()));
        self.query(SQL, &[&group_id.as_str(), &after.is_none(), &after_time, &after_id, &i64::from(limit)], "listing a group's packets")?
            .iter()
            .map(|row| PacketId::parse(&get::<String>(row, 0)?).map_err(corrupt))
            .collect()
    }

    /// Read in place, with the columns of `records::claim_from_columns`, whose comment says why.
    fn claims(&mut self, packet_id: &PacketId) -> StoreResult<Vec<Claim>> {
        let sql = format!("SELECT {} FROM packet_claims WHERE packet_id = $1 ORDER BY idx", records::CLAIM_COLUMNS);
        self.query(&sql, &[&packet_id.as_str()], "reading claims")?
            .iter()
            .map(|row| records::claim_from_columns(get(row, 0)?, get(row, 1)?, get(row, 2)?, get(row, 3)?))
            .collect()
    }

    fn has_claimed(&mut self, packet_id: &PacketId, user_id: &UserId) -> StoreResult<bool> {
        let row =
            self.query_opt("SELECT 1 FROM packet_claims WHERE packet_id = $1 AND user_id = $2", &[&packet_id.as_str(), &user_id.as_str()], "checking claims")?;
        Ok(row.is_some())
    }

    fn due_packets(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<PacketId>> {
        self.query(
            "SELECT id FROM packets WHERE status = 'open' AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
            &[&now.millis(), &i64::from(limit)],
            "finding due packets",
        )?
        .iter()
        .map(|row| PacketId::parse(&get::<String>(row, 0)?).map_err(corrupt))
        .collect()
    }

    fn journal_entry(&mut self, txn_no: &TxnNo) -> StoreResult<Option<JournalEntry>> {
        Ok(self.journal(&records::sql::select_from(&JOURNAL, "WHERE txn_no = $1"), &[&txn_no.as_str()])?.pop())
    }

    fn journal_entry_by_reference(&mut self, kind: TxnKind, reference: &str) -> StoreResult<Option<JournalEntry>> {
        let sql = records::sql::select_from(&JOURNAL, "WHERE kind = $1 AND reference = $2 ORDER BY seq LIMIT 1");
        Ok(self.journal(&sql, &[&kind.as_str(), &reference])?.pop())
    }

    fn txn_parties(&mut self, seq: u64) -> StoreResult<Vec<UserId>> {
        self.query("SELECT user_id FROM txn_parties WHERE seq = $1", &[&(seq as i64)], "reading parties")?
            .iter()
            .map(|row| user_id(&get::<String>(row, 0)?))
            .collect()
    }

    fn journal_for_account(&mut self, account: &Account, before_seq: Option<u64>, limit: u32) -> StoreResult<Vec<JournalEntry>> {
        let sql = records::sql::select_from(
            &JOURNAL,
            "WHERE seq IN (SELECT DISTINCT seq FROM postings WHERE account = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3) ORDER BY seq DESC",
        );
        let before = before_seq.map_or(i64::MAX, |seq| i64::try_from(seq).unwrap_or(i64::MAX));
        self.journal(&sql, &[&account.to_string(), &before, &i64::from(limit)])
    }

    fn journal_range(&mut self, from_seq: u64, limit: u32) -> StoreResult<Vec<JournalEntry>> {
        self.journal(&records::sql::select_from(&JOURNAL, "WHERE seq >= $1 ORDER BY seq LIMIT $2"), &[&(from_seq as i64), &i64::from(limit)])
    }

    fn journal_len(&mut self) -> StoreResult<u64> {
        let rows = self.query("SELECT coalesce(max(seq), 0) FROM journal", &[], "counting the journal")?;
        Ok(rows.first().map(|row| get::<i64>(row, 0)).transpose()?.unwrap_or(0) as u64)
    }

    fn packet_totals(&mut self) -> StoreResult<Vec<(PacketId, Amount, Amount, Amount)>> {
        self.query("SELECT id, total_amount, claimed_amount, refunded_amount FROM packets ORDER BY id", &[], "reading packet totals")?
            .iter()
            .map(|row| Ok((PacketId::parse(&get::<String>(row, 0)?).map_err(corrupt)?, amount(get(row, 1)?)?, amount(get(row, 2)?)?, amount(get(row, 3)?)?)))
            .collect()
    }

    fn due_transfers(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<TransferId>> {
        self.query(
            "SELECT id FROM transfers WHERE due_at IS NOT NULL AND due_at <= $1 ORDER BY due_at LIMIT $2",
            &[&now.millis(), &i64::from(limit)],
            "finding due transfers",
        )?
        .iter()
        .map(|row| TransferId::parse(&get::<String>(row, 0)?).map_err(corrupt))
        .collect()
    }

    fn held_transfers(&mut self) -> StoreResult<Vec<(TransferId, Amount)>> {
        self.query("SELECT id, amount FROM transfers WHERE status IN ('pending', 'accepted') ORDER BY id", &[], "reading held transfers")?
            .iter()
            .map(|row| Ok((TransferId::parse(&get::<String>(row, 0)?).map_err(corrupt)?, amount(get(row, 1)?)?)))
            .collect()
    }

    fn corrected_amount(&mut self, txn_no: &TxnNo) -> StoreResult<i64> {
        let row =
            self.query_opt("SELECT coalesce(sum(amount), 0)::bigint FROM journal WHERE corrects_txn_no = $1", &[&txn_no.as_str()], "reading corrections")?;
        row.map_or(Ok(0), |row| get::<i64>(&row, 0))
    }

    fn return_requests_of(&mut self, user_id: &UserId, role: Option<ReturnRole>, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<ReturnRequest>> {
        let sql = records::sql::select_from(
            &RETURN_REQUESTS,
            "WHERE ((requester_id = $1 AND $2) OR (recipient_id = $1 AND $3)) \
             AND ($4 OR created_at < $5 OR (created_at = $5 AND id < $6)) ORDER BY created_at DESC, id DESC LIMIT $7",
        );
        let sent = role != Some(ReturnRole::Received);
        let received = role != Some(ReturnRole::Sent);
        let (after_time, after_id) = after.map_or((i64::MAX, String::new()), |position| (position.created_at.millis(), position.id.clone()));
        let params: [&(dyn ToSql + Sync); 7] = [&user_id.as_str(), &sent, &received, &after.is_none(), &after_time, &after_id, &i64::from(limit)];
        self.records(&sql, &params, "listing return requests")
    }

    fn users(&mut self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        let ids: Vec<&str> = ids.iter().map(UserId::as_str).collect();
        let users: Vec<StoredUser> = self.records(&records::sql::select_from(&USERS, "WHERE id = ANY($1::text[])"), &[&ids], "reading users")?;
        Ok(users.into_iter().map(|stored| stored.user).collect())
    }

    fn share_a_group(&mut self, a: &UserId, b: &UserId) -> StoreResult<bool> {
        const SQL: &str = "SELECT EXISTS (SELECT 1 FROM group_members mine JOIN group_members theirs ON theirs.group_id = mine.group_id \
             WHERE mine.user_id = $1 AND theirs.user_id = $2)";
        let rows = self.query(SQL, &[&a.as_str(), &b.as_str()], "looking for a shared group")?;
        rows.first().map(|row| get(row, 0)).transpose().map(|shared| shared.unwrap_or(false))
    }

    fn dealt_with(&mut self, a: &UserId, b: &UserId) -> StoreResult<bool> {
        const SQL: &str = "SELECT EXISTS (SELECT 1 FROM postings p JOIN txn_parties t ON t.seq = p.seq WHERE p.account = $1 AND t.user_id = $4) \
             OR EXISTS (SELECT 1 FROM postings p JOIN txn_parties t ON t.seq = p.seq WHERE p.account = $2 AND t.user_id = $3) \
             OR EXISTS (SELECT 1 FROM transfers WHERE (sender_id = $3 AND recipient_id = $4) OR (sender_id = $4 AND recipient_id = $3)) \
             OR EXISTS (SELECT 1 FROM packets WHERE (sender_id = $3 AND recipient_id = $4) OR (sender_id = $4 AND recipient_id = $3))";
        let (wallet_a, wallet_b) = (Account::Wallet(a.clone()).to_string(), Account::Wallet(b.clone()).to_string());
        let rows = self.query(SQL, &[&wallet_a, &wallet_b, &a.as_str(), &b.as_str()], "looking for dealings between users")?;
        rows.first().map(|row| get(row, 0)).transpose().map(|dealt| dealt.unwrap_or(false))
    }

    fn counterparties(&mut self, user_id: &UserId, limit: u32) -> StoreResult<Vec<UserId>> {
        const SQL: &str = "SELECT other FROM ( \
               SELECT t.user_id AS other, j.created_at AS at FROM postings p JOIN txn_parties t ON t.seq = p.seq JOIN journal j ON j.seq = p.seq \
                 WHERE p.account = $1 AND t.user_id <> $2 \
               UNION ALL SELECT recipient_id, created_at FROM transfers WHERE sender_id = $2 \
               UNION ALL SELECT sender_id, created_at FROM transfers WHERE recipient_id = $2 \
               UNION ALL SELECT recipient_id, created_at FROM packets WHERE sender_id = $2 AND recipient_id IS NOT NULL \
               UNION ALL SELECT sender_id, created_at FROM packets WHERE recipient_id = $2 \
               UNION ALL SELECT c.user_id, c.claimed_at FROM packets k JOIN packet_claims c ON c.packet_id = k.id WHERE k.sender_id = $2 \
             ) AS dealings WHERE other <> $2 GROUP BY other ORDER BY max(at) DESC, other LIMIT $3";
        let wallet = Account::Wallet(user_id.clone()).to_string();
        self.query(SQL, &[&wallet, &user_id.as_str(), &i64::from(limit)], "listing counterparties")?.iter().map(user_id_of_row).collect()
    }

    fn transfers_of(
        &mut self,
        user_id: &UserId,
        role: Option<TransferRole>,
        status: Option<TransferStatus>,
        after: Option<&ListPosition>,
        limit: u32,
    ) -> StoreResult<Vec<Transfer>> {
        let sql = records::sql::select_from(
            &TRANSFERS,
            "WHERE ((sender_id = $1 AND $2) OR (recipient_id = $1 AND $3)) AND ($4::text IS NULL OR status = $4) \
             AND ($5 OR created_at < $6 OR (created_at = $6 AND id < $7)) ORDER BY created_at DESC, id DESC LIMIT $8",
        );
        let sent = role != Some(TransferRole::Received);
        let received = role != Some(TransferRole::Sent);
        let status = status.map(|status| status.as_str());
        let (after_time, after_id) = after.map_or((i64::MAX, String::new()), |position| (position.created_at.millis(), position.id.clone()));
        let params: [&(dyn ToSql + Sync); 8] = [&user_id.as_str(), &sent, &received, &status, &after.is_none(), &after_time, &after_id, &i64::from(limit)];
        self.records(&sql, &params, "listing transfers")
    }

    fn transfers_between(&mut self, a: &UserId, b: &UserId, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<Transfer>> {
        let sql = records::sql::select_from(
            &TRANSFERS,
            "WHERE ((sender_id = $1 AND recipient_id = $2) OR (sender_id = $2 AND recipient_id = $1)) \
             AND ($3 OR created_at < $4 OR (created_at = $4 AND id < $5)) ORDER BY created_at DESC, id DESC LIMIT $6",
        );
        let (after_time, after_id) = after.map_or((i64::MAX, String::new()), |position| (position.created_at.millis(), position.id.clone()));
        self.records(&sql, &[&a.as_str(), &b.as_str(), &after.is_none(), &after_time, &after_id, &i64::from(limit)], "listing transfers between users")
    }

    fn packet_ids_between(&mut self, a: &UserId, b: &UserId, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<PacketId>> {
        const SQL: &str = "SELECT id FROM packets WHERE ((sender_id = $1 AND recipient_id = $2) OR (sender_id = $2 AND recipient_id = $1)) \
             AND ($3 OR created_at < $4 OR (created_at = $4 AND id < $5)) ORDER BY created_at DESC, id DESC LIMIT $6";
        let (after_time, after_id) = after.map_or((i64::MAX, String::new()), |position| (position.created_at.millis(), position.id.clone()));
        self.query(SQL, &[&a.as_str(), &b.as_str(), &after.is_none(), &after_time, &after_id, &i64::from(limit)], "listing packets between users")?
            .iter()
            .map(|row| PacketId::parse(&get::<String>(row, 0)?).map_err(corrupt))
            .collect()
    }

    fn search_users(&mut self, text: &str, limit: u32) -> StoreResult<Vec<User>> {
        let sql = records::sql::select_from(&USERS, "WHERE id LIKE $1 ESCAPE '\\' OR lower(name) LIKE $2 ESCAPE '\\' ORDER BY lower(name), id LIMIT $3");
        let literal = like_literal(&text.to_lowercase());
        let users: Vec<StoredUser> = self.records(&sql, &[&format!("{literal}%"), &format!("%{literal}%"), &i64::from(limit)], "searching users")?;
        Ok(users.into_iter().map(|stored| stored.user).collect())
    }

    fn due_return_requests(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<ReturnRequestId>> {
        self.query(
            "SELECT id FROM return_requests WHERE status = 'pending' AND respond_by <= $1 ORDER BY respond_by LIMIT $2",
            &[&now.millis(), &i64::from(limit)],
            "finding due return requests",
        )?
        .iter()
        .map(|row| ReturnRequestId::parse(&get::<String>(row, 0)?).map_err(corrupt))
        .collect()
    }

    fn select(&mut self, query: &records::Query) -> StoreResult<Vec<records::Row>> {
        let step = self.select_step(query)?;
        let rows = self.client.query(&step.statement, &step.params()).ctx("reading records")?;
        rows.iter().map(|row| read_row(row, query.table)).collect()
    }

    fn tree_nodes(&mut self, log: LogId, ids: &[NodeId]) -> StoreResult<Vec<Option<Hash>>> {
        const SQL: &str = "SELECT n.level, n.idx, n.hash FROM UNNEST($2::smallint[], $3::bigint[]) AS w(level, complete_at) \
             JOIN merkle_nodes n ON n.log_id = $1 AND n.complete_at = w.complete_at AND n.level = w.level";
        let levels: Vec<i16> = ids.iter().map(|id| i16::from(id.level)).collect();
        let sizes: Vec<i64> = ids.iter().map(|id| id.complete_at() as i64).collect();
        let rows = self.query(SQL, &[&(log.get() as i32), &levels, &sizes], "reading tree nodes")?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in &rows {
            let (level, index, bytes) = (get::<i16>(row, 0)?, get::<i64>(row, 1)?, get::<Vec<u8>>(row, 2)?);
            let hash = Hash::from_slice(&bytes).ok_or_else(|| corrupt(format!("tree node ({level}, {index}) holds {} bytes", bytes.len())))?;
            found.insert((level, index), hash);
        }
        Ok(ids.iter().map(|id| found.get(&(i16::from(id.level), id.index as i64)).copied()).collect())
    }

    fn tree_size(&mut self, log: LogId) -> StoreResult<u64> {
        let row = self.query_opt(
            // Every node is complete at a size no larger than its tree's, and the last leaf at exactly it.
            "SELECT coalesce(max(complete_at), 0) FROM merkle_nodes WHERE log_id = $1",
            &[&(log.get() as i32)],
            "reading the tree size",
        )?;
        Ok(row.map(|row| get::<i64>(&row, 0)).transpose()?.unwrap_or(0) as u64)
    }

    fn tree_node_count(&mut self, log: LogId) -> StoreResult<u64> {
        let row = self.query_opt("SELECT count(*) FROM merkle_nodes WHERE log_id = $1", &[&(log.get() as i32)], "counting tree nodes")?;
        Ok(row.map(|row| get::<i64>(&row, 0)).transpose()?.unwrap_or(0) as u64)
    }

    fn count(&mut self, query: &records::Query) -> StoreResult<u64> {
        let (sql, params) = records::sql::count(query, placeholder);
        let params: Vec<Box<dyn ToSql + Sync>> = params.into_iter().map(|(value, column_type)| to_sql(value, column_type)).collect();
        let statement = self.statement(&sql)?;
        let row = self.client.query_one(&statement, &params.iter().map(|param| param.as_ref()).collect::<Vec<_>>()).ctx("counting records")?;
        Ok(get::<i64>(&row, 0)? as u64)
    }
}
