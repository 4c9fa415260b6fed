//! The PostgreSQL backend: several `hongbao serve` processes on one database.
//!
//! Each process has its own writer; every writer batch starts by locking the one row of `writer_lock`,
//! so batches of all processes apply one at a time, in a single order. That keeps the journal's hash
//! chain linear across processes, makes every check a batch does against the data it read still true
//! when it commits, and rules out deadlocks, because no batch takes any other lock before this one.
//! A batch writes each kind of row with one bulk statement (`UNNEST` of arrays), so the lock is held
//! for a few round trips per batch, not per operation. A batch commits without waiting for the disk,
//! which frees the lock, and then waits for the disk with a small commit of its own before anything is
//! answered (see [`WriteConn::commit`] here): the flush is outside the lock.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::Duration;

use hongbao_core::packet::{Audience, Packet, PacketKind, PacketStatus};
use hongbao_core::returns::{ReturnRequest, ReturnRequestStatus};
use hongbao_core::transfer::{Arrival, Transfer, TransferStatus};
use hongbao_core::{
    Account, Amount, GroupId, JournalHash, LedgerTxn, PacketId, Posting, Related, ReturnRequestId, Timestamp, TransferId, TxnKind, TxnNo, UserId,
};
use hongbao_store::{
    Changes, Claim, ClaimContext, EventWake, Group, Heads, IdempotencyRecord, JournalEntry, ListPosition, Prefetched, ReadConn, ReturnRole, Store, StoreError,
    StoreResult, TransferRole, User, WriteConn, corrupt, like_literal, records,
};
use hongbao_tlog::{Hash, LogId, NodeId};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, SimpleQueryMessage, Statement};

mod conn;
mod listen;
use conn::{Pg, Step};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_transfers.sql")),
    (3, include_str!("../migrations/0003_cases.sql")),
    (4, include_str!("../migrations/0004_risk.sql")),
    (5, include_str!("../migrations/0005_webhooks.sql")),
    (6, include_str!("../migrations/0006_merchant_keys.sql")),
    (7, include_str!("../migrations/0007_corrections.sql")),
    (8, include_str!("../migrations/0008_commit_flushes.sql")),
    (9, include_str!("../migrations/0009_references.sql")),
    (10, include_str!("../migrations/0010_case_refunds.sql")),
    (20, include_str!("../migrations/0020_merkle.sql")),
    (30, include_str!("../migrations/0030_people.sql")),
    (40, include_str!("../migrations/0040_abuse.sql")),
];

/// Makes everything committed so far durable: a commit that waits for the disk, of a write to this
/// connection's own row. PostgreSQL flushes its log in order, so when this returns every transaction
/// committed before it is on disk as well.
const FLUSH_SQL: &str = "BEGIN; SET LOCAL synchronous_commit = on; \
    INSERT INTO commit_flushes (backend_pid, flushes) VALUES (pg_backend_pid(), 1) \
    ON CONFLICT (backend_pid) DO UPDATE SET flushes = commit_flushes.flushes + 1; COMMIT";

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

trait Context<T> {
    fn ctx(self, context: &'static str) -> StoreResult<T>;
}

impl<T> Context<T> for Result<T, tokio_postgres::Error> {
    fn ctx(self, context: &'static str) -> StoreResult<T> {
        self.map_err(|source| StoreError::Database { context, source: Box::new(source) })
    }
}

impl PostgresStore {
    /// The store at `url`, with the default [`SessionLimits`].
    pub fn from_url(url: &str) -> StoreResult<PostgresStore> {
        PostgresStore::with_limits(url, &SessionLimits::default())
    }

    /// The store at `url`, whose every session keeps to `limits`.
    pub fn with_limits(url: &str, limits: &SessionLimits) -> StoreResult<PostgresStore> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|_| StoreError::UnsupportedUrl(url.to_owned()))?;
        let origin = format!("{:016x}", std::collections::hash_map::RandomState::new().hash_one((std::process::id(), std::time::SystemTime::now())));
        // Set at connection time, for every session of the store: no round trip of its own.
        let millis = |duration: Duration| duration.as_millis().max(1);
        let keepalive_seconds = limits.keepalive_idle.as_secs().max(1);
        let interval_seconds = (keepalive_seconds / 3).max(1);
        let session = format!(
            "-c lock_timeout={} -c statement_timeout={} -c idle_in_transaction_session_timeout={} \
             -c tcp_keepalives_idle={keepalive_seconds} -c tcp_keepalives_interval={interval_seconds} -c tcp_keepalives_count=3",
            millis(limits.lock_timeout),
            millis(limits.statement_timeout),
            millis(limits.idle_in_transaction),
        );
        let options = match config.get_options() {
            Some(existing) if !existing.trim().is_empty() => format!("{existing} {session}"),
            _ => session,
        };
        config
            .options(options)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(keepalive_seconds))
            .keepalives_interval(Duration::from_secs(interval_seconds))
            .keepalives_retries(3)
            .connect_timeout(limits.keepalive_idle);
        if config.get_application_name().is_none() {
            // Which process a session belongs to, in pg_stat_activity.
            config.application_name(format!("hongbao-{}", std::process::id()));
        }
        Ok(PostgresStore { config, origin })
    }

    fn connect(&self) -> StoreResult<PostgresConn> {
        let client = Pg::connect(&self.config).map_err(|source| StoreError::Database { context: "connecting to PostgreSQL", source })?;
        Ok(PostgresConn {
            client,
            statements: HashMap::new(),
            heads_at_begin: None,
            origin: self.origin.clone(),
            channel: String::new(),
            token_channel: String::new(),
        })
    }
}

impl Store for PostgresStore {
    fn migrate(&self) -> StoreResult<()> {
        let mut conn = self.connect()?;
        let client = &mut conn.client;
        // A migration may take long on a large table, and the processes that start meanwhile wait for
        // it: the session limits are for batches, not for this.
        client
            .batch_execute("SET lock_timeout = 0; SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0")
            .ctx("lifting limits for migrations")?;
        // Several processes may start at once on a fresh database: one migrates, the others wait.
        client.execute("SELECT pg_advisory_lock(hashtext(current_schema()))", &[]).ctx("locking for migrations")?;
        let result = (|| {
            client
                .batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
                .ctx("creating the migrations table")?;
            for (version, sql) in MIGRATIONS {
                let applied: bool = client
                    .query_one("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", &[version])
                    .ctx("reading applied migrations")?
                    .get(0);
                if applied {
                    continue;
                }
                client.batch_execute("BEGIN").ctx("beginning a migration")?;
                let applied = client
                    .batch_execute(sql)
                    .ctx("applying a migration")
                    .and_then(|()| client.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[version]).ctx("recording a migration"));
                if let Err(error) = applied {
                    let _ = client.batch_execute("ROLLBACK");
                    return Err(error);
                }
                client.batch_execute("COMMIT").ctx("committing a migration")?;
            }
            Ok(())
        })();
        client.execute("SELECT pg_advisory_unlock(hashtext(current_schema()))", &[]).ctx("unlocking after migrations")?;
        result
    }

    fn open_writer(&self) -> StoreResult<Box<dyn WriteConn>> {
        let mut conn = self.connect()?;
        // Batches commit without waiting for the disk, and `commit` waits afterwards, outside the
        // writer lock (see `WriteConn::commit` below).
        //
        // Everything the writer reads or updates, it finds by key, a few hundred rows at most. Without
        // the planner's other choices, a table whose statistics are stale (a new deployment's tables
        // grow faster than autovacuum analyzes them) is still read through its index, not scanned
        // whole or hashed in every batch while the writer lock is held.
        conn.client
            .batch_execute("SET synchronous_commit = off; SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off")
            .ctx("configuring the writer's connection")?;
        let schema: String = conn.client.query_one("SELECT current_schema()", &[]).ctx("reading the schema")?.get(0);
        conn.channel = listen::channel(&schema);
        conn.token_channel = listen::Channel::Tokens.name(&schema);
        Ok(Box::new(conn))
    }

    fn open_reader(&self) -> StoreResult<Box<dyn ReadConn>> {
        Ok(Box::new(self.connect()?))
    }

    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    fn watch_events(&self, wake: EventWake) -> StoreResult<Option<std::sync::Arc<std::sync::atomic::AtomicBool>>> {
        let listening = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        listen::spawn(self.config.clone(), listen::Channel::Events, self.origin.clone(), wake, listening.clone())
            .map_err(|error| StoreError::Database { context: "starting the events listener", source: Box::new(error) })?;
        Ok(Some(listening))
    }

    /// On a connection of its own: a process whose token cache misses a notification while it
    /// reconnects still looks again within `token_recheck_seconds`.
    fn watch_token_changes(&self, evict: EventWake) -> StoreResult<()> {
        let listening = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        listen::spawn(self.config.clone(), listen::Channel::Tokens, self.origin.clone(), evict, listening)
            .map_err(|error| StoreError::Database { context: "starting the tokens listener", source: Box::new(error) })
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

fn hash(bytes: &[u8]) -> StoreResult<JournalHash> {
    JournalHash::from_slice(bytes).ok_or_else(|| corrupt("a journal hash is not 32 bytes"))
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, index: usize) -> StoreResult<T> {
    row.try_get(index).map_err(|source| StoreError::Database { context: "reading a column", source: Box::new(source) })
}

fn packet_from_row(row: &Row) -> StoreResult<Packet> {
    let id: String = get(row, 0)?;
    let kind: String = get(row, 1)?;
    let group_id: Option<String> = get(row, 3)?;
    let recipient_id: Option<String> = get(row, 4)?;
    let audience = match (group_id, recipient_id) {
        (Some(group_id), None) => Audience::Group(GroupId::parse(&group_id).map_err(corrupt)?),
        (None, Some(recipient_id)) => Audience::User(user_id(&recipient_id)?),
        (Some(group_id), Some(recipient_id)) => {
            Audience::GroupMember { group_id: GroupId::parse(&group_id).map_err(corrupt)?, recipient_id: user_id(&recipient_id)? }
        }
        (None, None) => return Err(corrupt(format!("packet {id} has no audience"))),
    };
    let status: String = get(row, 10)?;
    let count = |index: usize| -> StoreResult<u32> { u32::try_from(get::<i64>(row, index)?).map_err(corrupt) };
    Ok(Packet {
        id: PacketId::parse(&id).map_err(corrupt)?,
        kind: PacketKind::parse(&kind).ok_or_else(|| corrupt(format!("packet kind {kind:?}")))?,
        sender_id: user_id(&get::<String>(row, 2)?)?,
        audience,
        greeting: get(row, 5)?,
        total_amount: amount(get(row, 6)?)?,
        shares: count(7)?,
        claimed_count: count(8)?,
        claimed_amount: amount(get(row, 9)?)?,
        status: PacketStatus::parse(&status).ok_or_else(|| corrupt(format!("packet status {status:?}")))?,
        created_at: Timestamp::from_millis(get(row, 11)?),
        expires_at: Timestamp::from_millis(get(row, 12)?),
        finished_at: get::<Option<i64>>(row, 13)?.map(Timestamp::from_millis),
        refunded_amount: amount(get(row, 14)?)?,
        send_txn_no: TxnNo::parse(&get::<String>(row, 15)?).map_err(corrupt)?,
        refund_txn_no: get::<Option<String>>(row, 16)?.as_deref().map(TxnNo::parse).transpose().map_err(corrupt)?,
        luckiest_user_id: get::<Option<String>>(row, 17)?.as_deref().map(user_id).transpose()?,
    })
}

impl PostgresConn {
    fn statement(&mut self, sql: &str) -> StoreResult<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql).ctx("preparing a statement")?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    fn query(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)], context: &'static str) -> StoreResult<Vec<Row>> {
        let statement = self.statement(sql)?;
        self.client.query(&statement, params).ctx(context)
    }

    fn query_opt(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)], context: &'static str) -> StoreResult<Option<Row>> {
        let statement = self.statement(sql)?;
        self.client.query_opt(&statement, params).ctx(context)
    }

    fn execute(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)], context: &'static str) -> StoreResult<u64> {
        let statement = self.statement(sql)?;
        self.client.execute(&statement, params).ctx(context)
    }

    /// Journal entries for rows of `JOURNAL_COLUMNS`, with their postings loaded in one query.
    fn entries(&mut self, rows: Vec<Row>) -> StoreResult<Vec<JournalEntry>> {
        let seqs: Vec<i64> = rows.iter().map(|row| get(row, 0)).collect::<StoreResult<_>>()?;
        let mut postings: HashMap<i64, Vec<Posting>> = HashMap::new();
        for row in self.query("SELECT seq, account, amount FROM postings WHERE seq = ANY($1) ORDER BY seq, idx", &[&seqs], "reading postings")? {
            let account: String = get(&row, 1)?;
            let account = Account::parse(&account).ok_or_else(|| corrupt(format!("account {account:?}")))?;
            postings.entry(get(&row, 0)?).or_default().push(Posting { account, amount: get(&row, 2)? });
        }
        rows.iter()
            .map(|row| {
                let seq: i64 = get(row, 0)?;
                let kind: String = get(row, 2)?;
                let opt_id = |index: usize| -> StoreResult<Option<String>> { get(row, index) };
                let related = Related {
                    packet_id: opt_id(7)?.as_deref().map(PacketId::parse).transpose().map_err(corrupt)?,
                    transfer_id: opt_id(8)?.as_deref().map(TransferId::parse).transpose().map_err(corrupt)?,
                    corrects_txn_no: opt_id(9)?.as_deref().map(TxnNo::parse).transpose().map_err(corrupt)?,
                    return_request_id: opt_id(12)?.as_deref().map(ReturnRequestId::parse).transpose().map_err(corrupt)?,
                };
                let txn = LedgerTxn::stored(
                    TxnNo::parse(&get::<String>(row, 1)?).map_err(corrupt)?,
                    TxnKind::parse(&kind).ok_or_else(|| corrupt(format!("transaction kind {kind:?}")))?,
                    Timestamp::from_millis(get(row, 3)?),
                    Amount::new(get(row, 4)?).map_err(|error| corrupt(format!("journal entry {seq}: {error}")))?,
                    get(row, 5)?,
                    get(row, 6)?,
                    related,
                    postings.remove(&seq).unwrap_or_default(),
                );
                Ok(JournalEntry { seq: seq as u64, txn, prev_hash: hash(&get::<Vec<u8>>(row, 10)?)?, hash: hash(&get::<Vec<u8>>(row, 11)?)? })
            })
            .collect()
    }

    fn user_from_row(row: &Row) -> StoreResult<User> {
        Ok(User { id: user_id(&get::<String>(row, 0)?)?, name: get(row, 1)?, created_at: Timestamp::from_millis(get(row, 2)?) })
    }
}

impl ReadConn for PostgresConn {
    fn begin_snapshot(&mut self) -> StoreResult<()> {
        self.client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").ctx("beginning a snapshot")
    }

    fn end_snapshot(&mut self) -> StoreResult<()> {
        self.client.batch_execute("COMMIT").ctx("ending a snapshot")
    }

    fn setting(&mut self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.query_opt("SELECT value FROM settings WHERE key = $1", &[&key], "reading a setting")?.map(|row| get(&row, 0)).transpose()
    }

    fn user(&mut self, id: &UserId) -> StoreResult<Option<User>> {
        self.query_opt("SELECT id, name, created_at FROM users WHERE id = $1", &[&id.as_str()], "reading a user")?
            .map(|row| Self::user_from_row(&row))
            .transpose()
    }

    fn user_by_token_hash(&mut self, token_hash: &[u8; 32]) -> StoreResult<Option<User>> {
        self.query_opt("SELECT id, name, created_at FROM users WHERE token_hash = $1", &[&&token_hash[..]], "authenticating")?
            .map(|row| Self::user_from_row(&row))
            .transpose()
    }

    /// One index probe per hash, whatever the statistics of a fast-growing `users` table say.
    fn users_by_token_hashes(&mut self, token_hashes: &[[u8; 32]]) -> StoreResult<Vec<([u8; 32], User)>> {
        let hashes: Vec<&[u8]> = token_hashes.iter().map(|hash| &hash[..]).collect();
        self.query(
            "SELECT u.id, u.name, u.created_at, t.hash FROM UNNEST($1::bytea[]) AS t(hash), \
             LATERAL (SELECT id, name, created_at FROM users WHERE token_hash = t.hash LIMIT 1) AS u",
            &[&hashes],
            "authenticating",
        )?
        .iter()
        .map(|row| {
            let hash: Vec<u8> = get(row, 3)?;
            Ok((hash.try_into().map_err(|_| corrupt("a token hash is not 32 bytes"))?, Self::user_from_row(row)?))
        })
        .collect()
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

    fn group(&mut self, id: &GroupId) -> StoreResult<Option<Group>> {
        let Some(row) = self.query_opt("SELECT name, owner_id, created_at FROM groups WHERE id = $1", &[&id.as_str()], "reading a group")? else {
            return Ok(None);
        };
        let members = self.query("SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY joined_seq", &[&id.as_str()], "reading group members")?;
        Ok(Some(Group {
            id: id.clone(),
            name: get(&row, 0)?,
            owner_id: user_id(&get::<String>(&row, 1)?)?,
            member_ids: members.iter().map(|member| user_id(&get::<String>(member, 0)?)).collect::<StoreResult<_>>()?,
            created_at: Timestamp::from_millis(get(&row, 2)?),
        }))
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

    fn packet(&mut self, id: &PacketId) -> StoreResult<Option<Packet>> {
        const SQL: &str = "SELECT id, kind, sender_id, group_id, recipient_id, greeting, total_amount, shares, claimed_count, claimed_amount, \
             status, created_at, expires_at, finished_at, refunded_amount, send_txn_no, refund_txn_no, luckiest_user_id FROM packets WHERE id = $1";
        self.query_opt(SQL, &[&id.as_str()], "reading a packet")?.map(|row| packet_from_row(&row)).transpose()
    }

    fn claims(&mut self, packet_id: &PacketId) -> StoreResult<Vec<Claim>> {
        self.query("SELECT user_id, amount, claimed_at, txn_no FROM packet_claims WHERE packet_id = $1 ORDER BY idx", &[&packet_id.as_str()], "reading claims")?
            .iter()
            .map(|row| {
                Ok(Claim {
                    user_id: user_id(&get::<String>(row, 0)?)?,
                    amount: amount(get(row, 1)?)?,
                    claimed_at: Timestamp::from_millis(get(row, 2)?),
                    txn_no: TxnNo::parse(&get::<String>(row, 3)?).map_err(corrupt)?,
                })
            })
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
        const SQL: &str = "SELECT seq, txn_no, kind, created_at, amount, memo, reference, packet_id, transfer_id, corrects_txn_no, prev_hash, hash, return_request_id FROM journal WHERE txn_no = $1";
        let rows = self.query(SQL, &[&txn_no.as_str()], "reading the journal")?;
        Ok(self.entries(rows)?.pop())
    }

    fn journal_entry_by_reference(&mut self, kind: TxnKind, reference: &str) -> StoreResult<Option<JournalEntry>> {
        const SQL: &str = "SELECT seq, txn_no, kind, created_at, amount, memo, reference, packet_id, transfer_id, corrects_txn_no, prev_hash, hash, return_request_id \
             FROM journal WHERE kind = $1 AND reference = $2 ORDER BY seq LIMIT 1";
        let rows = self.query(SQL, &[&kind.as_str(), &reference], "reading the journal by reference")?;
        Ok(self.entries(rows)?.pop())
    }

    fn txn_parties(&mut self, seq: u64) -> StoreResult<Vec<UserId>> {
        self.query("SELECT user_id FROM txn_parties WHERE seq = $1", &[&(seq as i64)], "reading parties")?
            .iter()
            .map(|row| user_id(&get::<String>(row, 0)?))
            .collect()
    }

    fn journal_for_account(&mut self, account: &Account, before_seq: Option<u64>, limit: u32) -> StoreResult<Vec<JournalEntry>> {
        const SQL: &str = "SELECT seq, txn_no, kind, created_at, amount, memo, reference, packet_id, transfer_id, corrects_txn_no, prev_hash, hash, return_request_id FROM journal \
             WHERE seq IN (SELECT DISTINCT seq FROM postings WHERE account = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3) ORDER BY seq DESC";
        let before = before_seq.map_or(i64::MAX, |seq| i64::try_from(seq).unwrap_or(i64::MAX));
        let rows = self.query(SQL, &[&account.to_string(), &before, &i64::from(limit)], "reading the journal")?;
        self.entries(rows)
    }

    fn journal_range(&mut self, from_seq: u64, limit: u32) -> StoreResult<Vec<JournalEntry>> {
        const SQL: &str = "SELECT seq, txn_no, kind, created_at, amount, memo, reference, packet_id, transfer_id, corrects_txn_no, prev_hash, hash, return_request_id FROM journal WHERE seq >= $1 ORDER BY seq LIMIT $2";
        let rows = self.query(SQL, &[&(from_seq as i64), &i64::from(limit)], "reading the journal")?;
        self.entries(rows)
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

    fn transfer(&mut self, id: &TransferId) -> StoreResult<Option<Transfer>> {
        const SQL: &str = "SELECT id, sender_id, recipient_id, amount, memo, arrival, status, created_at, arrives_at, accept_by, accepted_at, settled_at, finished_at, txn_nos \
             FROM transfers WHERE id = $1";
        self.query_opt(SQL, &[&id.as_str()], "reading a transfer")?.map(|row| transfer_from_row(&row)).transpose()
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

    fn return_request(&mut self, id: &ReturnRequestId) -> StoreResult<Option<ReturnRequest>> {
        const SQL: &str = "SELECT id, txn_no, requester_id, recipient_id, amount, reason, status, created_at, respond_by, responded_at, decline_reason, return_txn_no \
             FROM return_requests WHERE id = $1";
        self.query_opt(SQL, &[&id.as_str()], "reading a return request")?.map(|row| return_request_from_row(&row)).transpose()
    }

    fn corrected_amount(&mut self, txn_no: &TxnNo) -> StoreResult<i64> {
        let row =
            self.query_opt("SELECT coalesce(sum(amount), 0)::bigint FROM journal WHERE corrects_txn_no = $1", &[&txn_no.as_str()], "reading corrections")?;
        row.map_or(Ok(0), |row| get::<i64>(&row, 0))
    }

    fn return_requests_for_txn(&mut self, txn_no: &TxnNo) -> StoreResult<Vec<ReturnRequest>> {
        const SQL: &str = "SELECT id, txn_no, requester_id, recipient_id, amount, reason, status, created_at, respond_by, responded_at, decline_reason, return_txn_no \
             FROM return_requests WHERE txn_no = $1 ORDER BY created_at, id";
        self.query(SQL, &[&txn_no.as_str()], "reading return requests")?.iter().map(return_request_from_row).collect()
    }

    fn return_requests_of(&mut self, user_id: &UserId, role: Option<ReturnRole>, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<ReturnRequest>> {
        const SQL: &str = "SELECT id, txn_no, requester_id, recipient_id, amount, reason, status, created_at, respond_by, responded_at, decline_reason, return_txn_no \
             FROM return_requests WHERE ((requester_id = $1 AND $2) OR (recipient_id = $1 AND $3)) \
             AND ($4 OR created_at < $5 OR (created_at = $5 AND id < $6)) ORDER BY created_at DESC, id DESC LIMIT $7";
        let sent = role != Some(ReturnRole::Received);
        let received = role != Some(ReturnRole::Sent);
        let (after_time, after_id) = after.map_or((i64::MAX, String::new()), |position| (position.created_at.millis(), position.id.clone()));
        self.query(SQL, &[&user_id.as_str(), &sent, &received, &after.is_none(), &after_time, &after_id, &i64::from(limit)], "listing return requests")?
            .iter()
            .map(return_request_from_row)
            .collect()
    }

    fn users(&mut self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        let ids: Vec<&str> = ids.iter().map(UserId::as_str).collect();
        self.query("SELECT id, name, created_at FROM users WHERE id = ANY($1::text[])", &[&ids], "reading users")?.iter().map(Self::user_from_row).collect()
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
        const SQL: &str = "SELECT id, sender_id, recipient_id, amount, memo, arrival, status, created_at, arrives_at, accept_by, accepted_at, settled_at, finished_at, txn_nos \
             FROM transfers WHERE ((sender_id = $1 AND $2) OR (recipient_id = $1 AND $3)) AND ($4::text IS NULL OR status = $4) \
             AND ($5 OR created_at < $6 OR (created_at = $6 AND id < $7)) ORDER BY created_at DESC, id DESC LIMIT $8";
        let sent = role != Some(TransferRole::Received);
        let received = role != Some(TransferRole::Sent);
        let status = status.map(|status| status.as_str());
        let (after_time, after_id) = after.map_or((i64::MAX, String::new()), |position| (position.created_at.millis(), position.id.clone()));
        self.query(SQL, &[&user_id.as_str(), &sent, &received, &status, &after.is_none(), &after_time, &after_id, &i64::from(limit)], "listing transfers")?
            .iter()
            .map(transfer_from_row)
            .collect()
    }

    fn transfers_between(&mut self, a: &UserId, b: &UserId, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<Transfer>> {
        const SQL: &str = "SELECT id, sender_id, recipient_id, amount, memo, arrival, status, created_at, arrives_at, accept_by, accepted_at, settled_at, finished_at, txn_nos \
             FROM transfers WHERE ((sender_id = $1 AND recipient_id = $2) OR (sender_id = $2 AND recipient_id = $1)) \
             AND ($3 OR created_at < $4 OR (created_at = $4 AND id < $5)) ORDER BY created_at DESC, id DESC LIMIT $6";
        let (after_time, after_id) = after.map_or((i64::MAX, String::new()), |position| (position.created_at.millis(), position.id.clone()));
        self.query(SQL, &[&a.as_str(), &b.as_str(), &after.is_none(), &after_time, &after_id, &i64::from(limit)], "listing transfers between users")?
            .iter()
            .map(transfer_from_row)
            .collect()
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
        const SQL: &str = "SELECT id, name, created_at FROM users WHERE id LIKE $1 ESCAPE '\\' OR lower(name) LIKE $2 ESCAPE '\\' \
             ORDER BY lower(name), id LIMIT $3";
        let literal = like_literal(&text.to_lowercase());
        self.query(SQL, &[&format!("{literal}%"), &format!("%{literal}%"), &i64::from(limit)], "searching users")?.iter().map(Self::user_from_row).collect()
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
        records_from(query, &rows)
    }

    fn tree_nodes(&mut self, log: LogId, ids: &[NodeId]) -> StoreResult<Vec<Option<Hash>>> {
        const SQL: &str = "SELECT n.level, n.idx, n.hash FROM UNNEST($2::smallint[], $3::bigint[]) AS w(level, idx) \
             JOIN merkle_nodes n ON n.log_id = $1 AND n.level = w.level AND n.idx = w.idx";
        let levels: Vec<i16> = ids.iter().map(|id| i16::from(id.level)).collect();
        let indexes: Vec<i64> = ids.iter().map(|id| id.index as i64).collect();
        let rows = self.query(SQL, &[&(log.get() as i32), &levels, &indexes], "reading tree nodes")?;
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
            "SELECT coalesce(max(idx) + 1, 0) FROM merkle_nodes WHERE log_id = $1 AND level = 0",
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

fn placeholder(index: usize) -> String {
    format!("${index}")
}

/// The journal's last sequence number and hash (hex), the outbox's last sequence number, and the stored
/// hashes (hex, comma-separated, largest subtree first) of the journal tree's right edge at the
/// journal's size, as one row. The right edge of a tree of `n` leaves is, for each bit `b` set in `n`,
/// the complete subtree at level `b` and index `(n >> b) - 1` (`hongbao_tlog::Frontier::node_ids`).
const HEADS_SQL: &str = "SELECT j.seq, encode(j.hash, 'hex'), (SELECT coalesce(max(seq), 0) FROM events), \
     (SELECT string_agg(encode(n.hash, 'hex'), ',' ORDER BY b.level DESC) FROM generate_series(0, 62) AS b(level) \
      JOIN merkle_nodes n ON n.log_id = 0 AND n.level = b.level AND n.idx = (j.seq >> b.level) - 1 WHERE (j.seq >> b.level) & 1 = 1) \
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

/// A records value as a parameter; a null takes the type of its column.
fn to_sql(value: &records::Value, column_type: records::ColumnType) -> Box<dyn ToSql + Sync> {
    match (value, column_type) {
        (records::Value::Int(int), _) => Box::new(*int),
        (records::Value::Text(text), _) => Box::new(text.clone()),
        (records::Value::Null, records::ColumnType::Int) => Box::new(None::<i64>),
        (records::Value::Null, records::ColumnType::Text) => Box::new(None::<String>),
    }
}

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

    fn shares(&mut self, packet_id: &PacketId) -> StoreResult<Vec<Amount>> {
        self.query("SELECT amount FROM packet_shares WHERE packet_id = $1 ORDER BY idx", &[&packet_id.as_str()], "reading shares")?
            .iter()
            .map(|row| amount(get(row, 0)?))
            .collect()
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
            prefetched.rows.push(records_from(query, &result.ctx("reading records")?)?);
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

    fn idempotency_record(&mut self, caller: &str, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        let Some(row) = self.query_opt(
            "SELECT request_hash, status, body, created_at FROM idempotency WHERE caller = $1 AND key = $2",
            &[&caller, &key],
            "reading an idempotency record",
        )?
        else {
            return Ok(None);
        };
        Ok(Some(IdempotencyRecord {
            request_hash: get::<Vec<u8>>(&row, 0)?.try_into().map_err(|_| corrupt("an idempotency hash is not 32 bytes"))?,
            status: u16::try_from(get::<i64>(&row, 1)?).map_err(corrupt)?,
            body: get(&row, 2)?,
            created_at: Timestamp::from_millis(get(&row, 3)?),
        }))
    }
}

const CLAIM_CONTEXT_READ: &str = "reading a packet with its claimers and members";

/// The rows of a records query, as values of the table's column types.
fn records_from(query: &records::Query, rows: &[Row]) -> StoreResult<Vec<records::Row>> {
    rows.iter()
        .map(|row| {
            (0..query.table.columns.len())
                .map(|index| match query.table.column_type(index) {
                    records::ColumnType::Int => Ok(get::<Option<i64>>(row, index)?.map_or(records::Value::Null, records::Value::Int)),
                    records::ColumnType::Text => Ok(get::<Option<String>>(row, index)?.map_or(records::Value::Null, records::Value::Text)),
                })
                .collect()
        })
        .collect()
}

fn claim_context_from(row: &Row) -> StoreResult<ClaimContext> {
    let ids = |index: usize| -> StoreResult<Vec<UserId>> { get::<Vec<String>>(row, index)?.iter().map(|id| user_id(id)).collect() };
    Ok(ClaimContext {
        packet: packet_from_row(row)?,
        claimed: ids(18)?,
        members: ids(19)?,
        wallet_balances: get::<Vec<i64>>(row, 20)?,
        sender_balance: get(row, 21)?,
    })
}

impl PostgresConn {
    fn select_step(&mut self, query: &records::Query) -> StoreResult<Step> {
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

    /// The packet's row, with arrays of the users who claimed it and of those in its group. Each user
    /// is one index lookup whatever the table's statistics say (with `user_id = ANY($2)`, a plan
    /// made while the packet had few claims scans all of them, and a hot packet's claims grow by
    /// thousands a second).
    fn claim_context_step(&mut self, packet_id: &PacketId, users: &[UserId]) -> StoreResult<Step> {
        const SQL: &str = "SELECT id, kind, sender_id, group_id, recipient_id, greeting, total_amount, shares, claimed_count, claimed_amount, \
             status, created_at, expires_at, finished_at, refunded_amount, send_txn_no, refund_txn_no, luckiest_user_id, \
             ARRAY(SELECT u.user_id FROM UNNEST($2::text[]) AS u(user_id), \
                   LATERAL (SELECT 1 FROM packet_claims c WHERE c.packet_id = p.id AND c.user_id = u.user_id LIMIT 1) AS hit), \
             ARRAY(SELECT u.user_id FROM UNNEST($2::text[]) AS u(user_id), \
                   LATERAL (SELECT 1 FROM group_members m WHERE m.group_id = p.group_id AND m.user_id = u.user_id LIMIT 1) AS hit), \
             ARRAY(SELECT coalesce((SELECT b.balance FROM balances b WHERE b.account = 'wallet:' || u.user_id), 0) \
                   FROM UNNEST($2::text[]) WITH ORDINALITY AS u(user_id, position) ORDER BY u.position), \
             coalesce((SELECT b.balance FROM balances b WHERE b.account = 'wallet:' || p.sender_id), 0) \
             FROM packets p WHERE id = $1";
        Ok(Step { statement: self.statement(SQL)?, params: vec![Box::new(packet_id.to_string()), Box::new(strings(users))] })
    }

    /// Writes the changes that are rare in a batch, a statement each: everything but the ledger's
    /// rows and the records, which [`WriteConn::commit`] sends in a pipeline.
    fn apply_one_by_one(&mut self, changes: &Changes) -> StoreResult<()> {
        for (key, value) in &changes.settings {
            self.execute(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[key, value],
                "writing a setting",
            )?;
        }
        if !changes.users.is_empty() {
            let ids = strings(changes.users.iter().map(|(user, _)| &user.id));
            let names: Vec<&str> = changes.users.iter().map(|(user, _)| user.name.as_str()).collect();
            let hashes: Vec<&[u8]> = changes.users.iter().map(|(_, hash)| &hash[..]).collect();
            let created: Vec<i64> = changes.users.iter().map(|(user, _)| user.created_at.millis()).collect();
            self.execute(
                "INSERT INTO users (id, name, token_hash, created_at) SELECT * FROM UNNEST($1::text[], $2::text[], $3::bytea[], $4::bigint[])",
                &[&ids, &names, &hashes, &created],
                "inserting users",
            )?;
        }
        for (user_id, token_hash) in &changes.user_tokens {
            self.execute("UPDATE users SET token_hash = $2 WHERE id = $1", &[&user_id.as_str(), &&token_hash[..]], "replacing a token")?;
        }
        for (user_id, name) in &changes.user_names {
            self.execute("UPDATE users SET name = $2 WHERE id = $1", &[&user_id.as_str(), name], "renaming a user")?;
        }
        for group in &changes.groups {
            self.execute(
                "INSERT INTO groups (id, name, owner_id, created_at) VALUES ($1, $2, $3, $4)",
                &[&group.id.as_str(), &group.name, &group.owner_id.as_str(), &group.created_at.millis()],
                "inserting a group",
            )?;
            let members = strings(&group.member_ids);
            self.execute(
                "INSERT INTO group_members (group_id, user_id, joined_seq) SELECT $1, member, position FROM UNNEST($2::text[]) WITH ORDINALITY AS m(member, position)",
                &[&group.id.as_str(), &members],
                "inserting members",
            )?;
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
        let new_packets: Vec<&Packet> = changes.new_packets.iter().map(|(packet, _)| packet).collect();
        if !new_packets.is_empty() {
            self.insert_packets(&new_packets)?;
            let mut share_packets = Vec::new();
            let mut share_indexes = Vec::new();
            let mut share_amounts = Vec::new();
            for (packet, shares) in &changes.new_packets {
                for (index, share) in shares.iter().enumerate() {
                    share_packets.push(packet.id.as_str());
                    share_indexes.push(index as i64);
                    share_amounts.push(share.minor_units());
                }
            }
            self.execute(
                "INSERT INTO packet_shares (packet_id, idx, amount) SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[])",
                &[&share_packets, &share_indexes, &share_amounts],
                "inserting shares",
            )?;
        }

        for transfer in changes.new_transfers.iter().chain(&changes.updated_transfers) {
            let txn_nos: Vec<&str> = transfer.txn_nos.iter().map(TxnNo::as_str).collect();
            self.execute(
                "INSERT INTO transfers (id, sender_id, recipient_id, amount, memo, arrival, status, created_at, arrives_at, accept_by, accepted_at, settled_at, \
                 finished_at, txn_nos, due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, accepted_at = excluded.accepted_at, settled_at = excluded.settled_at, \
                 finished_at = excluded.finished_at, txn_nos = excluded.txn_nos, due_at = excluded.due_at",
                &[
                    &transfer.id.as_str(),
                    &transfer.sender_id.as_str(),
                    &transfer.recipient_id.as_str(),
                    &transfer.amount.minor_units(),
                    &transfer.memo,
                    &transfer.arrival.as_str(),
                    &transfer.status.as_str(),
                    &transfer.created_at.millis(),
                    &transfer.arrives_at.millis(),
                    &transfer.accept_by.millis(),
                    &transfer.accepted_at.map(Timestamp::millis),
                    &transfer.settled_at.map(Timestamp::millis),
                    &transfer.finished_at.map(Timestamp::millis),
                    &txn_nos.join(","),
                    &transfer.next_deadline().map(Timestamp::millis),
                ],
                "writing a transfer",
            )?;
        }
        for request in changes.new_return_requests.iter().chain(&changes.updated_return_requests) {
            self.execute(
                "INSERT INTO return_requests (id, txn_no, requester_id, recipient_id, amount, reason, status, created_at, respond_by, responded_at, \
                 decline_reason, return_txn_no) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, responded_at = excluded.responded_at, decline_reason = excluded.decline_reason, \
                 return_txn_no = excluded.return_txn_no",
                &[
                    &request.id.as_str(),
                    &request.txn_no.as_str(),
                    &request.requester_id.as_str(),
                    &request.recipient_id.as_str(),
                    &request.amount.minor_units(),
                    &request.reason,
                    &request.status.as_str(),
                    &request.created_at.millis(),
                    &request.respond_by.millis(),
                    &request.responded_at.map(Timestamp::millis),
                    &request.decline_reason,
                    &request.return_txn_no.as_ref().map(TxnNo::as_str),
                ],
                "writing a return request",
            )?;
        }
        if !changes.deleted_idempotency.is_empty() {
            let callers = strings(changes.deleted_idempotency.iter().map(|(caller, _)| caller));
            let keys = strings(changes.deleted_idempotency.iter().map(|(_, key)| key));
            self.execute(
                "DELETE FROM idempotency i USING UNNEST($1::text[], $2::text[]) AS d(caller, key) WHERE i.caller = d.caller AND i.key = d.key",
                &[&callers, &keys],
                "deleting expired idempotency records",
            )?;
        }
        for (caller, key, record) in &changes.idempotency {
            self.execute(
                "INSERT INTO idempotency (caller, key, request_hash, status, body, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (caller, key) DO UPDATE SET request_hash = excluded.request_hash, status = excluded.status, body = excluded.body, created_at = excluded.created_at",
                &[caller, key, &&record.request_hash[..], &i64::from(record.status), &record.body, &record.created_at.millis()],
                "recording an idempotent response",
            )?;
        }
        Ok(())
    }

    /// One statement per table of records (a few hundred rows at most each), not one per row.
    fn record_steps(&mut self, changes: &Changes, steps: &mut Vec<Step>) -> StoreResult<()> {
        let mut tables: Vec<(&'static records::Table, Vec<&records::Row>)> = Vec::new();
        for (table, row) in &changes.rows {
            match tables.iter_mut().find(|(known, _)| std::ptr::eq(*known, *table)) {
                Some((_, rows)) => rows.push(row),
                None => tables.push((table, vec![row])),
            }
        }
        for (table, rows) in tables {
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

    fn part(&mut self, sql: String) {
        self.parts.push(sql);
    }

    fn sql(&self) -> String {
        let parts: Vec<String> = self.parts.iter().enumerate().map(|(index, part)| format!("part{index} AS ({part})")).collect();
        format!("WITH {} SELECT 1", parts.join(", "))
    }
}

impl PostgresConn {
    /// Claims, packet counters, journal entries with their postings and parties, events and balances:
    /// the rows every claim, refund and transfer step writes, in one statement.
    fn ledger_step(&mut self, changes: &Changes) -> StoreResult<Option<Step>> {
        let mut bulk = Bulk::default();
        if !changes.claims.is_empty() {
            let packets = bulk.param(changes.claims.iter().map(|(packet_id, _, _)| packet_id.to_string()).collect::<Vec<_>>(), "text[]");
            let users = bulk.param(changes.claims.iter().map(|(_, _, claim)| claim.user_id.to_string()).collect::<Vec<_>>(), "text[]");
            let indexes = bulk.param(changes.claims.iter().map(|(_, index, _)| i64::from(*index)).collect::<Vec<_>>(), "bigint[]");
            let amounts = bulk.param(changes.claims.iter().map(|(_, _, claim)| claim.amount.minor_units()).collect::<Vec<_>>(), "bigint[]");
            let txn_nos = bulk.param(changes.claims.iter().map(|(_, _, claim)| claim.txn_no.to_string()).collect::<Vec<_>>(), "text[]");
            let claimed_at = bulk.param(changes.claims.iter().map(|(_, _, claim)| claim.claimed_at.millis()).collect::<Vec<_>>(), "bigint[]");
            bulk.part(format!(
                "INSERT INTO packet_claims (packet_id, user_id, idx, amount, txn_no, claimed_at) SELECT * FROM UNNEST({packets}, {users}, {indexes}, {amounts}, {txn_nos}, {claimed_at})"
            ));
        }
        if !changes.updated_packets.is_empty() {
            let packets = &changes.updated_packets;
            let ids = bulk.param(packets.iter().map(|packet| packet.id.to_string()).collect::<Vec<_>>(), "text[]");
            let counts = bulk.param(packets.iter().map(|packet| i64::from(packet.claimed_count)).collect::<Vec<_>>(), "bigint[]");
            let claimed = bulk.param(packets.iter().map(|packet| packet.claimed_amount.minor_units()).collect::<Vec<_>>(), "bigint[]");
            let statuses = bulk.param(packets.iter().map(|packet| packet.status.as_str().to_owned()).collect::<Vec<_>>(), "text[]");
            let finished = bulk.param(packets.iter().map(|packet| packet.finished_at.map(Timestamp::millis)).collect::<Vec<_>>(), "bigint[]");
            let refunded = bulk.param(packets.iter().map(|packet| packet.refunded_amount.minor_units()).collect::<Vec<_>>(), "bigint[]");
            let refund_txn_nos = bulk.param(packets.iter().map(|packet| packet.refund_txn_no.as_ref().map(TxnNo::to_string)).collect::<Vec<_>>(), "text[]");
            let luckiest = bulk.param(packets.iter().map(|packet| packet.luckiest_user_id.as_ref().map(UserId::to_string)).collect::<Vec<_>>(), "text[]");
            bulk.part(format!(
                "UPDATE packets SET claimed_count = u.claimed_count, claimed_amount = u.claimed_amount, status = u.status, finished_at = u.finished_at, \
                 refunded_amount = u.refunded_amount, refund_txn_no = u.refund_txn_no, luckiest_user_id = u.luckiest_user_id \
                 FROM UNNEST({ids}, {counts}, {claimed}, {statuses}, {finished}, {refunded}, {refund_txn_nos}, {luckiest}) \
                 AS u(id, claimed_count, claimed_amount, status, finished_at, refunded_amount, refund_txn_no, luckiest_user_id) WHERE packets.id = u.id"
            ));
        }
        if !changes.journal.is_empty() {
            let entries: Vec<&JournalEntry> = changes.journal.iter().map(|(entry, _)| entry).collect();
            let seqs = bulk.param(entries.iter().map(|entry| entry.seq as i64).collect::<Vec<_>>(), "bigint[]");
            let txn_nos = bulk.param(entries.iter().map(|entry| entry.txn.txn_no().to_string()).collect::<Vec<_>>(), "text[]");
            let kinds = bulk.param(entries.iter().map(|entry| entry.txn.kind().as_str().to_owned()).collect::<Vec<_>>(), "text[]");
            let created = bulk.param(entries.iter().map(|entry| entry.txn.created_at().millis()).collect::<Vec<_>>(), "bigint[]");
            let amounts = bulk.param(entries.iter().map(|entry| entry.txn.amount().minor_units()).collect::<Vec<_>>(), "bigint[]");
            let memos = bulk.param(entries.iter().map(|entry| entry.txn.memo().map(str::to_owned)).collect::<Vec<_>>(), "text[]");
            let references = bulk.param(entries.iter().map(|entry| entry.txn.reference().map(str::to_owned)).collect::<Vec<_>>(), "text[]");
            let packet_ids =
                bulk.param(entries.iter().map(|entry| entry.txn.related().packet_id.as_ref().map(PacketId::to_string)).collect::<Vec<_>>(), "text[]");
            let transfer_ids =
                bulk.param(entries.iter().map(|entry| entry.txn.related().transfer_id.as_ref().map(TransferId::to_string)).collect::<Vec<_>>(), "text[]");
            let corrects =
                bulk.param(entries.iter().map(|entry| entry.txn.related().corrects_txn_no.as_ref().map(TxnNo::to_string)).collect::<Vec<_>>(), "text[]");
            let prev_hashes = bulk.param(entries.iter().map(|entry| entry.prev_hash.0.to_vec()).collect::<Vec<_>>(), "bytea[]");
            let hashes = bulk.param(entries.iter().map(|entry| entry.hash.0.to_vec()).collect::<Vec<_>>(), "bytea[]");
            let requests = bulk.param(
                entries.iter().map(|entry| entry.txn.related().return_request_id.as_ref().map(ReturnRequestId::to_string)).collect::<Vec<_>>(),
                "text[]",
            );
            bulk.part(format!(
                "INSERT INTO journal (seq, txn_no, kind, created_at, amount, memo, reference, packet_id, transfer_id, corrects_txn_no, prev_hash, hash, return_request_id) \
                 SELECT * FROM UNNEST({seqs}, {txn_nos}, {kinds}, {created}, {amounts}, {memos}, {references}, {packet_ids}, {transfer_ids}, {corrects}, {prev_hashes}, {hashes}, {requests})"
            ));
            let (mut posting_seqs, mut posting_indexes, mut posting_accounts, mut posting_amounts) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let (mut party_seqs, mut party_users) = (Vec::new(), Vec::new());
            for (entry, parties) in &changes.journal {
                for (index, posting) in entry.txn.postings().iter().enumerate() {
                    posting_seqs.push(entry.seq as i64);
                    posting_indexes.push(index as i64);
                    posting_accounts.push(posting.account.to_string());
                    posting_amounts.push(posting.amount);
                }
                let mut seen = Vec::new();
                for party in parties {
                    if !seen.contains(&party) {
                        seen.push(party);
                        party_seqs.push(entry.seq as i64);
                        party_users.push(party.to_string());
                    }
                }
            }
            let (seqs, indexes, accounts, amounts) = (
                bulk.param(posting_seqs, "bigint[]"),
                bulk.param(posting_indexes, "bigint[]"),
                bulk.param(posting_accounts, "text[]"),
                bulk.param(posting_amounts, "bigint[]"),
            );
            bulk.part(format!("INSERT INTO postings (seq, idx, account, amount) SELECT * FROM UNNEST({seqs}, {indexes}, {accounts}, {amounts})"));
            let (seqs, users) = (bulk.param(party_seqs, "bigint[]"), bulk.param(party_users, "text[]"));
            bulk.part(format!("INSERT INTO txn_parties (seq, user_id) SELECT * FROM UNNEST({seqs}, {users})"));
        }
        if !changes.tree_nodes.is_empty() {
            // The tree's new nodes go in the journal's statement: every committed entry is a leaf.
            let nodes = &changes.tree_nodes;
            let logs = bulk.param(nodes.iter().map(|(log, _)| log.get() as i32).collect::<Vec<_>>(), "integer[]");
            let levels = bulk.param(nodes.iter().map(|(_, node)| i16::from(node.id.level)).collect::<Vec<_>>(), "smallint[]");
            let indexes = bulk.param(nodes.iter().map(|(_, node)| node.id.index as i64).collect::<Vec<_>>(), "bigint[]");
            let hashes = bulk.param(nodes.iter().map(|(_, node)| node.hash.as_bytes().to_vec()).collect::<Vec<_>>(), "bytea[]");
            bulk.part(format!("INSERT INTO merkle_nodes (log_id, level, idx, hash) SELECT * FROM UNNEST({logs}, {levels}, {indexes}, {hashes})"));
        }
        if !changes.events.is_empty() {
            let events = &changes.events;
            let seqs = bulk.param(events.iter().map(|event| event.seq as i64).collect::<Vec<_>>(), "bigint[]");
            let users = bulk.param(events.iter().map(|event| event.user_id.to_string()).collect::<Vec<_>>(), "text[]");
            let kinds = bulk.param(events.iter().map(|event| event.kind.as_str().to_owned()).collect::<Vec<_>>(), "text[]");
            let subjects = bulk.param(events.iter().map(|event| event.subject_id.clone()).collect::<Vec<_>>(), "text[]");
            let created = bulk.param(events.iter().map(|event| event.created_at.millis()).collect::<Vec<_>>(), "bigint[]");
            let data = bulk.param(events.iter().map(records::event_data).collect::<Vec<_>>(), "text[]");
            bulk.part(format!(
                "INSERT INTO events (seq, user_id, kind, subject_id, created_at, data) SELECT * FROM UNNEST({seqs}, {users}, {kinds}, {subjects}, {created}, {data})"
            ));
        }
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

    /// Inserts new packets, in their state at the end of the batch, with one statement.
    fn insert_packets(&mut self, packets: &[&Packet]) -> StoreResult<()> {
        let ids: Vec<&str> = packets.iter().map(|packet| packet.id.as_str()).collect();
        let claimed_counts: Vec<i64> = packets.iter().map(|packet| i64::from(packet.claimed_count)).collect();
        let claimed_amounts: Vec<i64> = packets.iter().map(|packet| packet.claimed_amount.minor_units()).collect();
        let statuses: Vec<&str> = packets.iter().map(|packet| packet.status.as_str()).collect();
        let finished: Vec<Option<i64>> = packets.iter().map(|packet| packet.finished_at.map(Timestamp::millis)).collect();
        let refunded: Vec<i64> = packets.iter().map(|packet| packet.refunded_amount.minor_units()).collect();
        let refund_txn_nos: Vec<Option<&str>> = packets.iter().map(|packet| packet.refund_txn_no.as_ref().map(TxnNo::as_str)).collect();
        let luckiest: Vec<Option<&str>> = packets.iter().map(|packet| packet.luckiest_user_id.as_ref().map(UserId::as_str)).collect();
        let kinds: Vec<&str> = packets.iter().map(|packet| packet.kind.as_str()).collect();
        let senders: Vec<&str> = packets.iter().map(|packet| packet.sender_id.as_str()).collect();
        let groups: Vec<Option<&str>> = packets.iter().map(|packet| packet.audience.group_id().map(GroupId::as_str)).collect();
        let recipients: Vec<Option<&str>> = packets.iter().map(|packet| packet.audience.recipient_id().map(UserId::as_str)).collect();
        let greetings: Vec<&str> = packets.iter().map(|packet| packet.greeting.as_str()).collect();
        let totals: Vec<i64> = packets.iter().map(|packet| packet.total_amount.minor_units()).collect();
        let shares: Vec<i64> = packets.iter().map(|packet| i64::from(packet.shares)).collect();
        let created: Vec<i64> = packets.iter().map(|packet| packet.created_at.millis()).collect();
        let expires: Vec<i64> = packets.iter().map(|packet| packet.expires_at.millis()).collect();
        let send_txn_nos: Vec<&str> = packets.iter().map(|packet| packet.send_txn_no.as_str()).collect();
        self.execute(
            "INSERT INTO packets (id, kind, sender_id, group_id, recipient_id, greeting, total_amount, shares, claimed_count, claimed_amount, \
             status, created_at, expires_at, finished_at, refunded_amount, send_txn_no, refund_txn_no, luckiest_user_id) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], \
             $10::bigint[], $11::text[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], $16::text[], $17::text[], $18::text[])",
            &[
                &ids,
                &kinds,
                &senders,
                &groups,
                &recipients,
                &greetings,
                &totals,
                &shares,
                &claimed_counts,
                &claimed_amounts,
                &statuses,
                &created,
                &expires,
                &finished,
                &refunded,
                &send_txn_nos,
                &refund_txn_nos,
                &luckiest,
            ],
            "inserting packets",
        )?;
        Ok(())
    }
}

fn transfer_from_row(row: &Row) -> StoreResult<Transfer> {
    let arrival: String = get(row, 5)?;
    let status: String = get(row, 6)?;
    let txn_nos: String = get(row, 13)?;
    Ok(Transfer {
        id: TransferId::parse(&get::<String>(row, 0)?).map_err(corrupt)?,
        sender_id: user_id(&get::<String>(row, 1)?)?,
        recipient_id: user_id(&get::<String>(row, 2)?)?,
        amount: amount(get(row, 3)?)?,
        memo: get(row, 4)?,
        arrival: Arrival::parse(&arrival).ok_or_else(|| corrupt(format!("arrival {arrival:?}")))?,
        status: TransferStatus::parse(&status).ok_or_else(|| corrupt(format!("transfer status {status:?}")))?,
        created_at: Timestamp::from_millis(get(row, 7)?),
        arrives_at: Timestamp::from_millis(get(row, 8)?),
        accept_by: Timestamp::from_millis(get(row, 9)?),
        accepted_at: get::<Option<i64>>(row, 10)?.map(Timestamp::from_millis),
        settled_at: get::<Option<i64>>(row, 11)?.map(Timestamp::from_millis),
        finished_at: get::<Option<i64>>(row, 12)?.map(Timestamp::from_millis),
        txn_nos: txn_nos.split(',').filter(|text| !text.is_empty()).map(|text| TxnNo::parse(text).map_err(corrupt)).collect::<StoreResult<_>>()?,
    })
}

fn return_request_from_row(row: &Row) -> StoreResult<ReturnRequest> {
    let status: String = get(row, 6)?;
    Ok(ReturnRequest {
        id: ReturnRequestId::parse(&get::<String>(row, 0)?).map_err(corrupt)?,
        txn_no: TxnNo::parse(&get::<String>(row, 1)?).map_err(corrupt)?,
        requester_id: user_id(&get::<String>(row, 2)?)?,
        recipient_id: user_id(&get::<String>(row, 3)?)?,
        amount: amount(get(row, 4)?)?,
        reason: get(row, 5)?,
        status: ReturnRequestStatus::parse(&status).ok_or_else(|| corrupt(format!("return request status {status:?}")))?,
        created_at: Timestamp::from_millis(get(row, 7)?),
        respond_by: Timestamp::from_millis(get(row, 8)?),
        responded_at: get::<Option<i64>>(row, 9)?.map(Timestamp::from_millis),
        decline_reason: get(row, 10)?,
        return_txn_no: get::<Option<String>>(row, 11)?.as_deref().map(TxnNo::parse).transpose().map_err(corrupt)?,
    })
}
