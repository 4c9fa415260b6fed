//! The embedded SQLite backend: one file, one process, no set-up.
//!
//! Durability: the database runs in WAL mode with `synchronous=FULL`, so a commit returns only after
//! the WAL is fsynced. The service commits a whole batch of operations at once (group commit), so many
//! requests share one fsync.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hongbao_core::packet::{Audience, Packet, PacketKind, PacketStatus};
use hongbao_core::returns::{ReturnRequest, ReturnRequestStatus};
use hongbao_core::transfer::{Arrival, Transfer, TransferStatus};
use hongbao_core::{
    Account, Amount, GroupId, JournalHash, LedgerTxn, PacketId, Posting, Related, ReturnRequestId, Timestamp, TransferId, TxnKind, TxnNo, UserId,
};
use hongbao_store::{
    Changes, Claim, Group, Heads, IdempotencyRecord, JournalEntry, ListPosition, ReadConn, ReturnRole, Store, StoreError, StoreResult, TransferRole, User,
    WriteConn, corrupt, like_literal, records,
};
use hongbao_tlog::{Frontier, Hash, LogId, NodeId, StoredNode};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_transfers.sql")),
    (3, include_str!("../migrations/0003_cases.sql")),
    (4, include_str!("../migrations/0004_risk.sql")),
    (5, include_str!("../migrations/0005_webhooks.sql")),
    (6, include_str!("../migrations/0006_merchant_keys.sql")),
    (7, include_str!("../migrations/0007_corrections.sql")),
    (8, include_str!("../migrations/0008_references.sql")),
    (9, include_str!("../migrations/0009_case_refunds.sql")),
    (20, include_str!("../migrations/0020_merkle.sql")),
    (30, include_str!("../migrations/0030_people.sql")),
    (40, include_str!("../migrations/0040_abuse.sql")),
];

/// A SQLite database file.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    /// Tells the background checkpointer, once started, to stop.
    checkpointer_stop: Arc<AtomicBool>,
    checkpointer_started: AtomicBool,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.checkpointer_stop.store(true, Ordering::Relaxed);
    }
}

/// How often the background checkpointer copies the WAL into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(200);

impl SqliteStore {
    /// The store for `sqlite://PATH` (or a bare path).
    pub fn from_url(url: &str) -> StoreResult<SqliteStore> {
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        if path.is_empty() {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        }
        Ok(SqliteStore { path: PathBuf::from(path), checkpointer_stop: Arc::new(AtomicBool::new(false)), checkpointer_started: AtomicBool::new(false) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn connect(&self, read_only: bool) -> StoreResult<SqliteConn> {
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let conn = Connection::open_with_flags(&self.path, flags).ctx("opening the database")?;
        conn.busy_timeout(Duration::from_secs(10)).ctx("setting the busy timeout")?;
        if !read_only {
            let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).ctx("enabling WAL")?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(corrupt(format!("the database refused WAL mode (it is in {mode} mode)")));
            }
        }
        // The writer keeps a large page cache; the many readers small ones.
        let cache_kib = if read_only { 8_192 } else { 16_384 };
        conn.execute_batch(&format!("PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF; PRAGMA cache_size = -{cache_kib};")).ctx("setting pragmas")?;
        conn.set_prepared_statement_cache_capacity(128);
        Ok(SqliteConn { conn })
    }
}

impl Store for SqliteStore {
    fn migrate(&self) -> StoreResult<()> {
        let conn = self.connect(false)?.conn;
        conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
            .ctx("creating the migrations table")?;
        for (version, sql) in MIGRATIONS {
            let applied: bool = conn
                .query_row("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)", [version], |row| row.get(0))
                .ctx("reading applied migrations")?;
            if applied {
                continue;
            }
            let batch =
                format!("BEGIN IMMEDIATE; {sql}; INSERT INTO schema_migrations (version, applied_at) VALUES ({version}, strftime('%s','now')); COMMIT;");
            if let Err(error) = conn.execute_batch(&batch) {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(StoreError::Database { context: "applying a migration", source: Box::new(error) });
            }
        }
        Ok(())
    }

    /// The writer leaves checkpoints to a thread of their own, so that copying the WAL into the
    /// database file never stalls a durable commit.
    fn open_writer(&self) -> StoreResult<Box<dyn WriteConn>> {
        let writer = self.connect(false)?;
        writer.conn.execute_batch("PRAGMA wal_autocheckpoint = 0").ctx("handing checkpoints to the checkpointer")?;
        if !self.checkpointer_started.swap(true, Ordering::Relaxed) {
            let checkpointer = self.connect(false)?;
            let stop = self.checkpointer_stop.clone();
            let spawned = std::thread::Builder::new().name("hongbao-checkpoint".into()).spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(CHECKPOINT_INTERVAL);
                    // PASSIVE never waits for the writer or readers; what it cannot copy now it copies next time.
                    let _ = checkpointer.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            });
            spawned.map_err(|source| StoreError::Database { context: "starting the checkpointer", source: Box::new(source) })?;
        }
        Ok(Box::new(writer))
    }

    fn open_reader(&self) -> StoreResult<Box<dyn ReadConn>> {
        Ok(Box::new(self.connect(true)?))
    }

    fn backend_name(&self) -> &'static str {
        "sqlite"
    }
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

fn parse_or_corrupt<T, E: std::fmt::Display>(parsed: Result<T, E>) -> StoreResult<T> {
    parsed.map_err(corrupt)
}

fn user_id(text: &str) -> StoreResult<UserId> {
    parse_or_corrupt(UserId::parse(text))
}

fn amount(units: i64) -> StoreResult<Amount> {
    parse_or_corrupt(Amount::new(units))
}

fn hash(bytes: &[u8]) -> StoreResult<JournalHash> {
    JournalHash::from_slice(bytes).ok_or_else(|| corrupt("a journal hash is not 32 bytes"))
}

/// The raw columns of a packet row, converted to a [`Packet`] outside rusqlite's row closure so that
/// parse failures surface as [`StoreError::Corrupt`].
struct PacketRow {
    id: String,
    kind: String,
    sender_id: String,
    group_id: Option<String>,
    recipient_id: Option<String>,
    greeting: String,
    total_amount: i64,
    shares: u32,
    claimed_count: u32,
    claimed_amount: i64,
    status: String,
    created_at: i64,
    expires_at: i64,
    finished_at: Option<i64>,
    refunded_amount: i64,
    send_txn_no: String,
    refund_txn_no: Option<String>,
    luckiest_user_id: Option<String>,
}

const PACKET_COLUMNS: &str = "id, kind, sender_id, group_id, recipient_id, greeting, total_amount, shares, claimed_count, claimed_amount, \
     status, created_at, expires_at, finished_at, refunded_amount, send_txn_no, refund_txn_no, luckiest_user_id";

impl PacketRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<PacketRow> {
        Ok(PacketRow {
            id: row.get(0)?,
            kind: row.get(1)?,
            sender_id: row.get(2)?,
            group_id: row.get(3)?,
            recipient_id: row.get(4)?,
            greeting: row.get(5)?,
            total_amount: row.get(6)?,
            shares: row.get(7)?,
            claimed_count: row.get(8)?,
            claimed_amount: row.get(9)?,
            status: row.get(10)?,
            created_at: row.get(11)?,
            expires_at: row.get(12)?,
            finished_at: row.get(13)?,
            refunded_amount: row.get(14)?,
            send_txn_no: row.get(15)?,
            refund_txn_no: row.get(16)?,
            luckiest_user_id: row.get(17)?,
        })
    }

    fn into_packet(self) -> StoreResult<Packet> {
        let audience = match (self.group_id, self.recipient_id) {
            (Some(group_id), None) => Audience::Group(parse_or_corrupt(GroupId::parse(&group_id))?),
            (None, Some(recipient_id)) => Audience::User(user_id(&recipient_id)?),
            (Some(group_id), Some(recipient_id)) => {
                Audience::GroupMember { group_id: parse_or_corrupt(GroupId::parse(&group_id))?, recipient_id: user_id(&recipient_id)? }
            }
            (None, None) => return Err(corrupt(format!("packet {} has no audience", self.id))),
        };
        Ok(Packet {
            id: parse_or_corrupt(PacketId::parse(&self.id))?,
            kind: PacketKind::parse(&self.kind).ok_or_else(|| corrupt(format!("packet kind {:?}", self.kind)))?,
            sender_id: user_id(&self.sender_id)?,
            audience,
            greeting: self.greeting,
            total_amount: amount(self.total_amount)?,
            shares: self.shares,
            claimed_count: self.claimed_count,
            claimed_amount: amount(self.claimed_amount)?,
            status: PacketStatus::parse(&self.status).ok_or_else(|| corrupt(format!("packet status {:?}", self.status)))?,
            created_at: Timestamp::from_millis(self.created_at),
            expires_at: Timestamp::from_millis(self.expires_at),
            finished_at: self.finished_at.map(Timestamp::from_millis),
            refunded_amount: amount(self.refunded_amount)?,
            send_txn_no: parse_or_corrupt(TxnNo::parse(&self.send_txn_no))?,
            refund_txn_no: self.refund_txn_no.as_deref().map(TxnNo::parse).transpose().map_err(corrupt)?,
            luckiest_user_id: self.luckiest_user_id.as_deref().map(user_id).transpose()?,
        })
    }
}

struct JournalRow {
    seq: i64,
    txn_no: String,
    kind: String,
    created_at: i64,
    amount: i64,
    memo: Option<String>,
    reference: Option<String>,
    packet_id: Option<String>,
    transfer_id: Option<String>,
    corrects_txn_no: Option<String>,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
    return_request_id: Option<String>,
}

const JOURNAL_COLUMNS: &str =
    "seq, txn_no, kind, created_at, amount, memo, reference, packet_id, transfer_id, corrects_txn_no, prev_hash, hash, return_request_id";

impl JournalRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<JournalRow> {
        Ok(JournalRow {
            seq: row.get(0)?,
            txn_no: row.get(1)?,
            kind: row.get(2)?,
            created_at: row.get(3)?,
            amount: row.get(4)?,
            memo: row.get(5)?,
            reference: row.get(6)?,
            packet_id: row.get(7)?,
            transfer_id: row.get(8)?,
            corrects_txn_no: row.get(9)?,
            prev_hash: row.get(10)?,
            hash: row.get(11)?,
            return_request_id: row.get(12)?,
        })
    }
}

impl SqliteConn {
    fn entries_from_rows(&mut self, rows: Vec<JournalRow>) -> StoreResult<Vec<JournalEntry>> {
        rows.into_iter().map(|row| self.entry_from_row(row)).collect()
    }

    /// Builds an entry from its row and postings. The transaction is rebuilt as stored, even when it
    /// no longer balances, so that verify can report the damage instead of failing to read it.
    fn entry_from_row(&mut self, row: JournalRow) -> StoreResult<JournalEntry> {
        let mut statement = self.conn.prepare_cached("SELECT account, amount FROM postings WHERE seq = ?1 ORDER BY idx").ctx("reading postings")?;
        let raw: Vec<(String, i64)> =
            statement.query_map([row.seq], |r| Ok((r.get(0)?, r.get(1)?))).ctx("reading postings")?.collect::<Result<_, _>>().ctx("reading postings")?;
        let postings = raw
            .into_iter()
            .map(|(account, amount)| {
                let account = Account::parse(&account).ok_or_else(|| corrupt(format!("account {account:?} in journal entry {}", row.seq)))?;
                Ok(Posting { account, amount })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let related = Related {
            packet_id: row.packet_id.as_deref().map(PacketId::parse).transpose().map_err(corrupt)?,
            transfer_id: row.transfer_id.as_deref().map(TransferId::parse).transpose().map_err(corrupt)?,
            corrects_txn_no: row.corrects_txn_no.as_deref().map(TxnNo::parse).transpose().map_err(corrupt)?,
            return_request_id: row.return_request_id.as_deref().map(ReturnRequestId::parse).transpose().map_err(corrupt)?,
        };
        let txn = LedgerTxn::stored(
            parse_or_corrupt(TxnNo::parse(&row.txn_no))?,
            TxnKind::parse(&row.kind).ok_or_else(|| corrupt(format!("transaction kind {:?}", row.kind)))?,
            Timestamp::from_millis(row.created_at),
            Amount::new(row.amount).map_err(|error| corrupt(format!("journal entry {}: {error}", row.seq)))?,
            row.memo,
            row.reference,
            related,
            postings,
        );
        Ok(JournalEntry { seq: row.seq as u64, txn, prev_hash: hash(&row.prev_hash)?, hash: hash(&row.hash)? })
    }

    fn query_journal(&mut self, sql: &str, params: impl rusqlite::Params) -> StoreResult<Vec<JournalEntry>> {
        let rows: Vec<JournalRow> = {
            let mut statement = self.conn.prepare_cached(sql).ctx("reading the journal")?;
            statement.query_map(params, JournalRow::read).ctx("reading the journal")?.collect::<Result<_, _>>().ctx("reading the journal")?
        };
        self.entries_from_rows(rows)
    }

    fn query_packet(&mut self, sql: &str, id: &PacketId) -> StoreResult<Option<Packet>> {
        let row = self.conn.prepare_cached(sql).ctx("reading a packet")?.query_row([id.as_str()], PacketRow::read).optional().ctx("reading a packet")?;
        row.map(PacketRow::into_packet).transpose()
    }

    fn exec(&mut self, sql: &str, params: impl rusqlite::Params, context: &'static str) -> StoreResult<usize> {
        self.conn.prepare_cached(sql).ctx(context)?.execute(params).ctx(context)
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

    fn setting(&mut self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.conn
            .prepare_cached("SELECT value FROM settings WHERE key = ?1")
            .ctx("reading a setting")?
            .query_row([key], |row| row.get(0))
            .optional()
            .ctx("reading a setting")
    }

    fn user(&mut self, id: &UserId) -> StoreResult<Option<User>> {
        let row: Option<(String, String, i64)> = self
            .conn
            .prepare_cached("SELECT id, name, created_at FROM users WHERE id = ?1")
            .ctx("reading a user")?
            .query_row([id.as_str()], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .optional()
            .ctx("reading a user")?;
        row.map(|(id, name, created_at)| Ok(User { id: user_id(&id)?, name, created_at: Timestamp::from_millis(created_at) })).transpose()
    }

    fn user_by_token_hash(&mut self, token_hash: &[u8; 32]) -> StoreResult<Option<User>> {
        let row: Option<(String, String, i64)> = self
            .conn
            .prepare_cached("SELECT id, name, created_at FROM users WHERE token_hash = ?1")
            .ctx("authenticating")?
            .query_row([&token_hash[..]], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .optional()
            .ctx("authenticating")?;
        row.map(|(id, name, created_at)| Ok(User { id: user_id(&id)?, name, created_at: Timestamp::from_millis(created_at) })).transpose()
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

    fn group(&mut self, id: &GroupId) -> StoreResult<Option<Group>> {
        let row: Option<(String, String, i64)> = self
            .conn
            .prepare_cached("SELECT name, owner_id, created_at FROM groups WHERE id = ?1")
            .ctx("reading a group")?
            .query_row([id.as_str()], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .optional()
            .ctx("reading a group")?;
        let Some((name, owner_id, created_at)) = row else { return Ok(None) };
        let members: Vec<String> = self
            .conn
            .prepare_cached("SELECT user_id FROM group_members WHERE group_id = ?1 ORDER BY joined_seq")
            .ctx("reading group members")?
            .query_map([id.as_str()], |row| row.get(0))
            .ctx("reading group members")?
            .collect::<Result<_, _>>()
            .ctx("reading group members")?;
        Ok(Some(Group {
            id: id.clone(),
            name,
            owner_id: user_id(&owner_id)?,
            member_ids: members.iter().map(|member| user_id(member)).collect::<StoreResult<_>>()?,
            created_at: Timestamp::from_millis(created_at),
        }))
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

    fn packet(&mut self, id: &PacketId) -> StoreResult<Option<Packet>> {
        self.query_packet(&format!("SELECT {PACKET_COLUMNS} FROM packets WHERE id = ?1"), id)
    }

    fn claims(&mut self, packet_id: &PacketId) -> StoreResult<Vec<Claim>> {
        let rows: Vec<(String, i64, i64, String)> = self
            .conn
            .prepare_cached("SELECT user_id, amount, claimed_at, txn_no FROM packet_claims WHERE packet_id = ?1 ORDER BY idx")
            .ctx("reading claims")?
            .query_map([packet_id.as_str()], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
            .ctx("reading claims")?
            .collect::<Result<_, _>>()
            .ctx("reading claims")?;
        rows.into_iter()
            .map(|(user, amount_units, claimed_at, txn_no)| {
                Ok(Claim {
                    user_id: user_id(&user)?,
                    amount: amount(amount_units)?,
                    claimed_at: Timestamp::from_millis(claimed_at),
                    txn_no: parse_or_corrupt(TxnNo::parse(&txn_no))?,
                })
            })
            .collect()
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
        Ok(self.query_journal(&format!("SELECT {JOURNAL_COLUMNS} FROM journal WHERE txn_no = ?1"), [txn_no.as_str()])?.pop())
    }

    fn journal_entry_by_reference(&mut self, kind: TxnKind, reference: &str) -> StoreResult<Option<JournalEntry>> {
        let sql = format!("SELECT {JOURNAL_COLUMNS} FROM journal WHERE kind = ?1 AND reference = ?2 ORDER BY seq LIMIT 1");
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
        self.query_journal(
            &format!(
                "SELECT {JOURNAL_COLUMNS} FROM journal WHERE seq IN \
                 (SELECT DISTINCT seq FROM postings WHERE account = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3) ORDER BY seq DESC"
            ),
            params![account.to_string(), before, limit],
        )
    }

    fn journal_range(&mut self, from_seq: u64, limit: u32) -> StoreResult<Vec<JournalEntry>> {
        self.query_journal(&format!("SELECT {JOURNAL_COLUMNS} FROM journal WHERE seq >= ?1 ORDER BY seq LIMIT ?2"), params![from_seq as i64, limit])
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

    fn transfer(&mut self, id: &TransferId) -> StoreResult<Option<Transfer>> {
        let row = self
            .conn
            .prepare_cached(&format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ?1"))
            .ctx("reading a transfer")?
            .query_row([id.as_str()], TransferRow::read)
            .optional()
            .ctx("reading a transfer")?;
        row.map(TransferRow::into_transfer).transpose()
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

    fn return_request(&mut self, id: &ReturnRequestId) -> StoreResult<Option<ReturnRequest>> {
        let row = self
            .conn
            .prepare_cached(&format!("SELECT {RETURN_COLUMNS} FROM return_requests WHERE id = ?1"))
            .ctx("reading a return request")?
            .query_row([id.as_str()], ReturnRow::read)
            .optional()
            .ctx("reading a return request")?;
        row.map(ReturnRow::into_request).transpose()
    }

    fn corrected_amount(&mut self, txn_no: &TxnNo) -> StoreResult<i64> {
        self.conn
            .prepare_cached("SELECT coalesce(sum(amount), 0) FROM journal WHERE corrects_txn_no = ?1")
            .ctx("reading corrections")?
            .query_row([txn_no.as_str()], |row| row.get(0))
            .ctx("reading corrections")
    }

    fn return_requests_for_txn(&mut self, txn_no: &TxnNo) -> StoreResult<Vec<ReturnRequest>> {
        let rows: Vec<ReturnRow> = self
            .conn
            .prepare_cached(&format!("SELECT {RETURN_COLUMNS} FROM return_requests WHERE txn_no = ?1 ORDER BY created_at, id"))
            .ctx("reading return requests")?
            .query_map([txn_no.as_str()], ReturnRow::read)
            .ctx("reading return requests")?
            .collect::<Result<_, _>>()
            .ctx("reading return requests")?;
        rows.into_iter().map(ReturnRow::into_request).collect()
    }

    fn return_requests_of(&mut self, user_id: &UserId, role: Option<ReturnRole>, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<ReturnRequest>> {
        let (after_time, after_id) = after.map_or((i64::MAX, String::new()), |position| (position.created_at.millis(), position.id.clone()));
        let who = match role {
            Some(ReturnRole::Sent) => "requester_id = ?1",
            Some(ReturnRole::Received) => "recipient_id = ?1",
            None => "(requester_id = ?1 OR recipient_id = ?1)",
        };
        let sql = format!(
            "SELECT {RETURN_COLUMNS} FROM return_requests WHERE {who} AND (created_at < ?2 OR (created_at = ?2 AND id < ?3) OR ?4)              ORDER BY created_at DESC, id DESC LIMIT ?5"
        );
        let rows: Vec<ReturnRow> = self
            .conn
            .prepare_cached(&sql)
            .ctx("listing return requests")?
            .query_map(params![user_id.as_str(), after_time, after_id, after.is_none(), limit], ReturnRow::read)
            .ctx("listing return requests")?
            .collect::<Result<_, _>>()
            .ctx("listing return requests")?;
        rows.into_iter().map(ReturnRow::into_request).collect()
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
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE {who} AND (?2 IS NULL OR status = ?2) \
             AND (?3 OR created_at < ?4 OR (created_at = ?4 AND id < ?5)) ORDER BY created_at DESC, id DESC LIMIT ?6"
        );
        let rows: Vec<TransferRow> = self
            .conn
            .prepare_cached(&sql)
            .ctx("listing transfers")?
            .query_map(params![user_id.as_str(), status.map(|status| status.as_str()), after.is_none(), after_time, after_id, limit], TransferRow::read)
            .ctx("listing transfers")?
            .collect::<Result<_, _>>()
            .ctx("listing transfers")?;
        rows.into_iter().map(TransferRow::into_transfer).collect()
    }

    fn transfers_between(&mut self, a: &UserId, b: &UserId, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<Transfer>> {
        let (after_time, after_id) = after.map_or((i64::MAX, String::new()), |position| (position.created_at.millis(), position.id.clone()));
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE ((sender_id = ?1 AND recipient_id = ?2) OR (sender_id = ?2 AND recipient_id = ?1)) \
             AND (?3 OR created_at < ?4 OR (created_at = ?4 AND id < ?5)) ORDER BY created_at DESC, id DESC LIMIT ?6"
        );
        let rows: Vec<TransferRow> = self
            .conn
            .prepare_cached(&sql)
            .ctx("listing transfers between users")?
            .query_map(params![a.as_str(), b.as_str(), after.is_none(), after_time, after_id, limit], TransferRow::read)
            .ctx("listing transfers between users")?
            .collect::<Result<_, _>>()
            .ctx("listing transfers between users")?;
        rows.into_iter().map(TransferRow::into_transfer).collect()
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
        let rows: Vec<(String, String, i64)> = self
            .conn
            .prepare_cached(
                "SELECT id, name, created_at FROM users WHERE id LIKE ?1 ESCAPE '\\' OR lower(name) LIKE ?2 ESCAPE '\\' \
                 ORDER BY lower(name), id LIMIT ?3",
            )
            .ctx("searching users")?
            .query_map(params![format!("{literal}%"), format!("%{literal}%"), limit], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .ctx("searching users")?
            .collect::<Result<_, _>>()
            .ctx("searching users")?;
        rows.into_iter().map(|(id, name, created_at)| Ok(User { id: user_id(&id)?, name, created_at: Timestamp::from_millis(created_at) })).collect()
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
        let width = query.table.columns.len();
        let rows = statement
            .query_map(rusqlite::params_from_iter(params.into_iter().map(|(value, _)| to_sql(value))), |row| {
                (0..width).map(|index| row.get(index).map(from_sql)).collect()
            })
            .ctx("reading records")?;
        rows.collect::<rusqlite::Result<Vec<records::Row>>>().ctx("reading records")
    }

    fn tree_nodes(&mut self, log: LogId, ids: &[NodeId]) -> StoreResult<Vec<Option<Hash>>> {
        let mut found = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(NODES_PER_QUERY) {
            // Padded to a power of two with the last node again, so that a few cached statements serve
            // every length.
            let padded = chunk.len().next_power_of_two();
            let pairs: Vec<String> = (0..padded).map(|index| format!("(?{}, ?{})", 2 * index + 2, 2 * index + 3)).collect();
            let sql = format!("SELECT level, idx, hash FROM merkle_nodes WHERE log_id = ?1 AND (level, idx) IN (VALUES {})", pairs.join(", "));
            let mut values: Vec<rusqlite::types::Value> = vec![rusqlite::types::Value::Integer(i64::from(log.get()))];
            for index in 0..padded {
                let id = chunk[index.min(chunk.len() - 1)];
                values.push(rusqlite::types::Value::Integer(i64::from(id.level)));
                values.push(rusqlite::types::Value::Integer(id.index as i64));
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
            .prepare_cached("SELECT coalesce(max(idx) + 1, 0) FROM merkle_nodes WHERE log_id = ?1 AND level = 0")
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
            .query_row(rusqlite::params_from_iter(params.into_iter().map(|(value, _)| to_sql(value))), |row| row.get(0))
            .ctx("counting records")?;
        Ok(count as u64)
    }
}

/// The most nodes one query of `tree_nodes` asks for: two parameters each, well within SQLite's limit.
const NODES_PER_QUERY: usize = 4_096;

impl SqliteConn {
    /// Inserts Merkle tree nodes; rows are never replaced (a node stored twice is refused).
    fn insert_tree_nodes(&mut self, nodes: &[(LogId, StoredNode)]) -> StoreResult<()> {
        if nodes.is_empty() {
            return Ok(());
        }
        let rows: Vec<(i64, i64, i64, &[u8])> =
            nodes.iter().map(|(log, node)| (i64::from(log.get()), i64::from(node.id.level), node.id.index as i64, &node.hash.as_bytes()[..])).collect();
        let params: Vec<&dyn rusqlite::ToSql> = rows
            .iter()
            .flat_map(|(log, level, index, hash)| {
                [log as &dyn rusqlite::ToSql, level as &dyn rusqlite::ToSql, index as &dyn rusqlite::ToSql, hash as &dyn rusqlite::ToSql]
            })
            .collect();
        insert_many(&self.conn, "INSERT INTO merkle_nodes (log_id, level, idx, hash) VALUES", "", 4, &params, "inserting tree nodes")
    }
}

fn placeholder(index: usize) -> String {
    format!("?{index}")
}

/// The most rows one multi-row statement carries.
const MAX_ROWS_PER_STATEMENT: usize = 64;

/// Writes `params.len() / width` rows with statements of many rows each (`head` is
/// `INSERT INTO t (a, b) VALUES`, `tail` what follows the rows). A batch's claims, journal entries,
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

fn to_sql(value: &records::Value) -> rusqlite::types::Value {
    match value {
        records::Value::Null => rusqlite::types::Value::Null,
        records::Value::Int(int) => rusqlite::types::Value::Integer(*int),
        records::Value::Text(text) => rusqlite::types::Value::Text(text.clone()),
    }
}

fn from_sql(value: rusqlite::types::Value) -> records::Value {
    match value {
        rusqlite::types::Value::Integer(int) => records::Value::Int(int),
        rusqlite::types::Value::Text(text) => records::Value::Text(text),
        rusqlite::types::Value::Real(real) => records::Value::Int(real as i64),
        rusqlite::types::Value::Null | rusqlite::types::Value::Blob(_) => records::Value::Null,
    }
}

impl SqliteConn {
    fn put_setting(&mut self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.exec(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
            "writing a setting",
        )
        .map(drop)
    }

    fn insert_user(&mut self, user: &User, token_hash: &[u8; 32]) -> StoreResult<()> {
        self.exec(
            "INSERT INTO users (id, name, token_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![user.id.as_str(), user.name, &token_hash[..], user.created_at.millis()],
            "inserting a user",
        )
        .map(drop)
    }

    fn insert_group(&mut self, group: &Group) -> StoreResult<()> {
        self.exec(
            "INSERT INTO groups (id, name, owner_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![group.id.as_str(), group.name, group.owner_id.as_str(), group.created_at.millis()],
            "inserting a group",
        )?;
        for member in &group.member_ids {
            self.add_member(&group.id, member)?;
        }
        Ok(())
    }

    fn add_member(&mut self, group_id: &GroupId, user_id: &UserId) -> StoreResult<()> {
        self.exec(
            "INSERT INTO group_members (group_id, user_id, joined_seq) \
             VALUES (?1, ?2, (SELECT coalesce(max(joined_seq), 0) + 1 FROM group_members WHERE group_id = ?1)) ON CONFLICT DO NOTHING",
            params![group_id.as_str(), user_id.as_str()],
            "adding a member",
        )
        .map(drop)
    }

    fn remove_member(&mut self, group_id: &GroupId, user_id: &UserId) -> StoreResult<()> {
        self.exec("DELETE FROM group_members WHERE group_id = ?1 AND user_id = ?2", params![group_id.as_str(), user_id.as_str()], "removing a member").map(drop)
    }

    fn insert_packet(&mut self, packet: &Packet, shares: &[Amount]) -> StoreResult<()> {
        self.exec(
            &format!("INSERT INTO packets ({PACKET_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"),
            params![
                packet.id.as_str(),
                packet.kind.as_str(),
                packet.sender_id.as_str(),
                packet.audience.group_id().map(GroupId::as_str),
                packet.audience.recipient_id().map(UserId::as_str),
                packet.greeting,
                packet.total_amount.minor_units(),
                packet.shares,
                packet.claimed_count,
                packet.claimed_amount.minor_units(),
                packet.status.as_str(),
                packet.created_at.millis(),
                packet.expires_at.millis(),
                packet.finished_at.map(Timestamp::millis),
                packet.refunded_amount.minor_units(),
                packet.send_txn_no.as_str(),
                packet.refund_txn_no.as_ref().map(TxnNo::as_str),
                packet.luckiest_user_id.as_ref().map(UserId::as_str),
            ],
            "inserting a packet",
        )?;
        let mut statement = self.conn.prepare_cached("INSERT INTO packet_shares (packet_id, idx, amount) VALUES (?1, ?2, ?3)").ctx("inserting shares")?;
        for (index, share) in shares.iter().enumerate() {
            statement.execute(params![packet.id.as_str(), index as i64, share.minor_units()]).ctx("inserting shares")?;
        }
        Ok(())
    }

    fn update_packet(&mut self, packet: &Packet) -> StoreResult<()> {
        let changed = self.exec(
            "UPDATE packets SET claimed_count = ?2, claimed_amount = ?3, status = ?4, finished_at = ?5, refunded_amount = ?6, \
             refund_txn_no = ?7, luckiest_user_id = ?8 WHERE id = ?1",
            params![
                packet.id.as_str(),
                packet.claimed_count,
                packet.claimed_amount.minor_units(),
                packet.status.as_str(),
                packet.finished_at.map(Timestamp::millis),
                packet.refunded_amount.minor_units(),
                packet.refund_txn_no.as_ref().map(TxnNo::as_str),
                packet.luckiest_user_id.as_ref().map(UserId::as_str),
            ],
            "updating a packet",
        )?;
        if changed != 1 {
            return Err(corrupt(format!("packet {} vanished while it was updated", packet.id)));
        }
        Ok(())
    }

    fn insert_claims(&mut self, claims: &[(PacketId, u32, Claim)]) -> StoreResult<()> {
        let rows: Vec<(&str, &str, i64, i64, &str, i64)> = claims
            .iter()
            .map(|(packet_id, index, claim)| {
                (packet_id.as_str(), claim.user_id.as_str(), i64::from(*index), claim.amount.minor_units(), claim.txn_no.as_str(), claim.claimed_at.millis())
            })
            .collect();
        let params: Vec<&dyn rusqlite::ToSql> = rows
            .iter()
            .flat_map(|(packet_id, user_id, index, amount, txn_no, claimed_at)| {
                [packet_id as &dyn rusqlite::ToSql, user_id as &dyn rusqlite::ToSql, index, amount, txn_no as &dyn rusqlite::ToSql, claimed_at]
            })
            .collect();
        insert_many(&self.conn, "INSERT INTO packet_claims (packet_id, user_id, idx, amount, txn_no, claimed_at) VALUES", "", 6, &params, "inserting claims")
    }

    fn append_journal(&mut self, journal: &[(JournalEntry, Vec<UserId>)]) -> StoreResult<()> {
        /// A journal row's values, borrowed from its entry.
        struct Row<'a> {
            seq: i64,
            txn_no: &'a str,
            kind: &'static str,
            created_at: i64,
            amount: i64,
            memo: Option<&'a str>,
            reference: Option<&'a str>,
            packet_id: Option<&'a str>,
            transfer_id: Option<&'a str>,
            corrects_txn_no: Option<&'a str>,
            prev_hash: &'a [u8],
            hash: &'a [u8],
            return_request_id: Option<&'a str>,
        }
        let rows: Vec<Row<'_>> = journal
            .iter()
            .map(|(entry, _)| {
                let (txn, related) = (&entry.txn, entry.txn.related());
                Row {
                    seq: entry.seq as i64,
                    txn_no: txn.txn_no().as_str(),
                    kind: txn.kind().as_str(),
                    created_at: txn.created_at().millis(),
                    amount: txn.amount().minor_units(),
                    memo: txn.memo(),
                    reference: txn.reference(),
                    packet_id: related.packet_id.as_ref().map(PacketId::as_str),
                    transfer_id: related.transfer_id.as_ref().map(TransferId::as_str),
                    corrects_txn_no: related.corrects_txn_no.as_ref().map(TxnNo::as_str),
                    prev_hash: &entry.prev_hash.0[..],
                    hash: &entry.hash.0[..],
                    return_request_id: related.return_request_id.as_ref().map(ReturnRequestId::as_str),
                }
            })
            .collect();
        let params: Vec<&dyn rusqlite::ToSql> = rows
            .iter()
            .flat_map(|row| {
                [
                    &row.seq as &dyn rusqlite::ToSql,
                    &row.txn_no,
                    &row.kind,
                    &row.created_at,
                    &row.amount,
                    &row.memo,
                    &row.reference,
                    &row.packet_id,
                    &row.transfer_id,
                    &row.corrects_txn_no,
                    &row.prev_hash,
                    &row.hash,
                    &row.return_request_id,
                ]
            })
            .collect();
        insert_many(&self.conn, &format!("INSERT INTO journal ({JOURNAL_COLUMNS}) VALUES"), "", 13, &params, "appending to the journal")?;
        // Postings and parties, a row each.
        let postings: Vec<(i64, i64, String, i64)> = journal
            .iter()
            .flat_map(|(entry, _)| {
                entry.txn.postings().iter().enumerate().map(|(index, posting)| (entry.seq as i64, index as i64, posting.account.to_string(), posting.amount))
            })
            .collect();
        let params: Vec<&dyn rusqlite::ToSql> = postings
            .iter()
            .flat_map(|(seq, index, account, amount)| {
                [seq as &dyn rusqlite::ToSql, index as &dyn rusqlite::ToSql, account as &dyn rusqlite::ToSql, amount as &dyn rusqlite::ToSql]
            })
            .collect();
        insert_many(&self.conn, "INSERT INTO postings (seq, idx, account, amount) VALUES", "", 4, &params, "inserting postings")?;
        let parties: Vec<(i64, &str)> = journal.iter().flat_map(|(entry, parties)| parties.iter().map(|party| (entry.seq as i64, party.as_str()))).collect();
        let params: Vec<&dyn rusqlite::ToSql> = parties.iter().flat_map(|(seq, party)| [seq as &dyn rusqlite::ToSql, party as &dyn rusqlite::ToSql]).collect();
        insert_many(&self.conn, "INSERT INTO txn_parties (seq, user_id) VALUES", " ON CONFLICT DO NOTHING", 2, &params, "recording parties")
    }

    fn insert_events(&mut self, events: &[hongbao_core::events::Event]) -> StoreResult<()> {
        let rows: Vec<Vec<rusqlite::types::Value>> = events.iter().map(|event| records::Record::to_row(event).iter().map(to_sql).collect()).collect();
        let params: Vec<&dyn rusqlite::ToSql> = rows.iter().flat_map(|row| row.iter().map(|value| value as &dyn rusqlite::ToSql)).collect();
        let columns: Vec<&str> = records::EVENTS.columns.iter().map(|(name, _)| *name).collect();
        let head = format!("INSERT INTO events ({}) VALUES", columns.join(", "));
        insert_many(&self.conn, &head, "", columns.len(), &params, "writing events")
    }

    fn put_idempotency_record(&mut self, caller: &str, key: &str, record: &IdempotencyRecord) -> StoreResult<()> {
        self.exec(
            "INSERT INTO idempotency (caller, key, request_hash, status, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (caller, key) DO UPDATE SET request_hash = excluded.request_hash, status = excluded.status, body = excluded.body, created_at = excluded.created_at",
            params![caller, key, &record.request_hash[..], record.status, record.body, record.created_at.millis()],
            "recording an idempotent response",
        )
        .map(drop)
    }
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

    fn shares(&mut self, packet_id: &PacketId) -> StoreResult<Vec<Amount>> {
        let units: Vec<i64> = self
            .conn
            .prepare_cached("SELECT amount FROM packet_shares WHERE packet_id = ?1 ORDER BY idx")
            .ctx("reading shares")?
            .query_map([packet_id.as_str()], |row| row.get(0))
            .ctx("reading shares")?
            .collect::<Result<_, _>>()
            .ctx("reading shares")?;
        units.into_iter().map(amount).collect()
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

    fn idempotency_record(&mut self, caller: &str, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        let row: Option<(Vec<u8>, u16, Vec<u8>, i64)> = self
            .conn
            .prepare_cached("SELECT request_hash, status, body, created_at FROM idempotency WHERE caller = ?1 AND key = ?2")
            .ctx("reading an idempotency record")?
            .query_row([caller, key], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
            .optional()
            .ctx("reading an idempotency record")?;
        row.map(|(request_hash, status, body, created_at)| {
            Ok(IdempotencyRecord {
                request_hash: request_hash.try_into().map_err(|_| corrupt("an idempotency hash is not 32 bytes"))?,
                status,
                body,
                created_at: Timestamp::from_millis(created_at),
            })
        })
        .transpose()
    }
}

impl SqliteConn {
    /// Writes a batch's changes inside its transaction.
    fn apply(&mut self, changes: &Changes) -> StoreResult<()> {
        for (key, value) in &changes.settings {
            self.put_setting(key, value)?;
        }
        for (user, token_hash) in &changes.users {
            self.insert_user(user, token_hash)?;
        }
        for (user_id, token_hash) in &changes.user_tokens {
            self.exec("UPDATE users SET token_hash = ?2 WHERE id = ?1", params![user_id.as_str(), &token_hash[..]], "replacing a token")?;
        }
        for (user_id, name) in &changes.user_names {
            self.exec("UPDATE users SET name = ?2 WHERE id = ?1", params![user_id.as_str(), name], "renaming a user")?;
        }
        for group in &changes.groups {
            self.insert_group(group)?;
        }
        for (group_id, user_id, added) in &changes.memberships {
            if *added {
                self.add_member(group_id, user_id)?;
            } else {
                self.remove_member(group_id, user_id)?;
            }
        }
        for (packet, shares) in &changes.new_packets {
            self.insert_packet(packet, shares)?;
        }
        for packet in &changes.updated_packets {
            self.update_packet(packet)?;
        }
        self.insert_claims(&changes.claims)?;
        self.append_journal(&changes.journal)?;
        self.insert_tree_nodes(&changes.tree_nodes)?;
        // Credits in bulk, as upserts; debits one by one, updating first: SQLite checks an upsert's CHECK
        // constraint on the row it would insert, which for a debit is negative even when the existing
        // balance covers it.
        let accounts: Vec<(String, i64)> = changes.balance_deltas.iter().map(|(account, delta)| (account.to_string(), *delta)).collect();
        let credits: Vec<&dyn rusqlite::ToSql> = accounts
            .iter()
            .filter(|(_, delta)| *delta > 0)
            .flat_map(|(account, delta)| [account as &dyn rusqlite::ToSql, delta as &dyn rusqlite::ToSql])
            .collect();
        insert_many(
            &self.conn,
            "INSERT INTO balances (account, balance) VALUES",
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
        for (caller, key) in &changes.deleted_idempotency {
            self.exec("DELETE FROM idempotency WHERE caller = ?1 AND key = ?2", params![caller, key], "deleting an expired idempotency record")?;
        }
        for (caller, key, record) in &changes.idempotency {
            self.put_idempotency_record(caller, key, record)?;
        }
        for transfer in changes.new_transfers.iter().chain(&changes.updated_transfers) {
            self.upsert_transfer(transfer)?;
        }
        for request in changes.new_return_requests.iter().chain(&changes.updated_return_requests) {
            self.upsert_return_request(request)?;
        }
        self.insert_events(&changes.events)?;
        for (table, row) in &changes.rows {
            let sql = records::sql::upsert(table, placeholder);
            self.exec(&sql, rusqlite::params_from_iter(row.iter().map(to_sql)), "writing a record")?;
        }
        for (table, key) in &changes.deleted_rows {
            let sql = records::sql::delete(table, placeholder);
            self.exec(&sql, [to_sql(key)], "deleting a record")?;
        }
        Ok(())
    }
}

const TRANSFER_COLUMNS: &str =
    "id, sender_id, recipient_id, amount, memo, arrival, status, created_at, arrives_at, accept_by, accepted_at, settled_at, finished_at, txn_nos";

struct TransferRow {
    id: String,
    sender_id: String,
    recipient_id: String,
    amount: i64,
    memo: Option<String>,
    arrival: String,
    status: String,
    created_at: i64,
    arrives_at: i64,
    accept_by: i64,
    accepted_at: Option<i64>,
    settled_at: Option<i64>,
    finished_at: Option<i64>,
    txn_nos: String,
}

impl TransferRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<TransferRow> {
        Ok(TransferRow {
            id: row.get(0)?,
            sender_id: row.get(1)?,
            recipient_id: row.get(2)?,
            amount: row.get(3)?,
            memo: row.get(4)?,
            arrival: row.get(5)?,
            status: row.get(6)?,
            created_at: row.get(7)?,
            arrives_at: row.get(8)?,
            accept_by: row.get(9)?,
            accepted_at: row.get(10)?,
            settled_at: row.get(11)?,
            finished_at: row.get(12)?,
            txn_nos: row.get(13)?,
        })
    }

    fn into_transfer(self) -> StoreResult<Transfer> {
        Ok(Transfer {
            id: parse_or_corrupt(TransferId::parse(&self.id))?,
            sender_id: user_id(&self.sender_id)?,
            recipient_id: user_id(&self.recipient_id)?,
            amount: amount(self.amount)?,
            memo: self.memo,
            arrival: Arrival::parse(&self.arrival).ok_or_else(|| corrupt(format!("arrival {:?}", self.arrival)))?,
            status: TransferStatus::parse(&self.status).ok_or_else(|| corrupt(format!("transfer status {:?}", self.status)))?,
            created_at: Timestamp::from_millis(self.created_at),
            arrives_at: Timestamp::from_millis(self.arrives_at),
            accept_by: Timestamp::from_millis(self.accept_by),
            accepted_at: self.accepted_at.map(Timestamp::from_millis),
            settled_at: self.settled_at.map(Timestamp::from_millis),
            finished_at: self.finished_at.map(Timestamp::from_millis),
            txn_nos: self.txn_nos.split(',').filter(|text| !text.is_empty()).map(|text| parse_or_corrupt(TxnNo::parse(text))).collect::<StoreResult<_>>()?,
        })
    }
}

const RETURN_COLUMNS: &str =
    "id, txn_no, requester_id, recipient_id, amount, reason, status, created_at, respond_by, responded_at, decline_reason, return_txn_no";

struct ReturnRow {
    id: String,
    txn_no: String,
    requester_id: String,
    recipient_id: String,
    amount: i64,
    reason: String,
    status: String,
    created_at: i64,
    respond_by: i64,
    responded_at: Option<i64>,
    decline_reason: Option<String>,
    return_txn_no: Option<String>,
}

impl ReturnRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<ReturnRow> {
        Ok(ReturnRow {
            id: row.get(0)?,
            txn_no: row.get(1)?,
            requester_id: row.get(2)?,
            recipient_id: row.get(3)?,
            amount: row.get(4)?,
            reason: row.get(5)?,
            status: row.get(6)?,
            created_at: row.get(7)?,
            respond_by: row.get(8)?,
            responded_at: row.get(9)?,
            decline_reason: row.get(10)?,
            return_txn_no: row.get(11)?,
        })
    }

    fn into_request(self) -> StoreResult<ReturnRequest> {
        Ok(ReturnRequest {
            id: parse_or_corrupt(ReturnRequestId::parse(&self.id))?,
            txn_no: parse_or_corrupt(TxnNo::parse(&self.txn_no))?,
            requester_id: user_id(&self.requester_id)?,
            recipient_id: user_id(&self.recipient_id)?,
            amount: amount(self.amount)?,
            reason: self.reason,
            status: ReturnRequestStatus::parse(&self.status).ok_or_else(|| corrupt(format!("return request status {:?}", self.status)))?,
            created_at: Timestamp::from_millis(self.created_at),
            respond_by: Timestamp::from_millis(self.respond_by),
            responded_at: self.responded_at.map(Timestamp::from_millis),
            decline_reason: self.decline_reason,
            return_txn_no: self.return_txn_no.as_deref().map(TxnNo::parse).transpose().map_err(corrupt)?,
        })
    }
}

impl SqliteConn {
    fn upsert_transfer(&mut self, transfer: &Transfer) -> StoreResult<()> {
        let txn_nos: Vec<&str> = transfer.txn_nos.iter().map(TxnNo::as_str).collect();
        self.exec(
            &format!(
                "INSERT INTO transfers ({TRANSFER_COLUMNS}, due_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)                  ON CONFLICT (id) DO UPDATE SET status = excluded.status, accepted_at = excluded.accepted_at, settled_at = excluded.settled_at,                  finished_at = excluded.finished_at, txn_nos = excluded.txn_nos, due_at = excluded.due_at"
            ),
            params![
                transfer.id.as_str(),
                transfer.sender_id.as_str(),
                transfer.recipient_id.as_str(),
                transfer.amount.minor_units(),
                transfer.memo,
                transfer.arrival.as_str(),
                transfer.status.as_str(),
                transfer.created_at.millis(),
                transfer.arrives_at.millis(),
                transfer.accept_by.millis(),
                transfer.accepted_at.map(Timestamp::millis),
                transfer.settled_at.map(Timestamp::millis),
                transfer.finished_at.map(Timestamp::millis),
                txn_nos.join(","),
                transfer.next_deadline().map(Timestamp::millis),
            ],
            "writing a transfer",
        )
        .map(drop)
    }

    fn upsert_return_request(&mut self, request: &ReturnRequest) -> StoreResult<()> {
        self.exec(
            &format!(
                "INSERT INTO return_requests ({RETURN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)                  ON CONFLICT (id) DO UPDATE SET status = excluded.status, responded_at = excluded.responded_at, decline_reason = excluded.decline_reason,                  return_txn_no = excluded.return_txn_no"
            ),
            params![
                request.id.as_str(),
                request.txn_no.as_str(),
                request.requester_id.as_str(),
                request.recipient_id.as_str(),
                request.amount.minor_units(),
                request.reason,
                request.status.as_str(),
                request.created_at.millis(),
                request.respond_by.millis(),
                request.responded_at.map(Timestamp::millis),
                request.decline_reason,
                request.return_txn_no.as_ref().map(TxnNo::as_str),
            ],
            "writing a return request",
        )
        .map(drop)
    }
}
