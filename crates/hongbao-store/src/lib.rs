//! The storage trait of hongbao. Each backend (SQLite, PostgreSQL) implements [`Store`], [`ReadConn`]
//! and [`WriteConn`]; it only stores and locks. Every rule lives in `hongbao-core` and the service layer,
//! so no business logic is repeated between backends.
//!
//! The write path is built for group commit: the service's single writer per process opens one
//! database transaction ([`WriteConn::begin`]), runs many operations inside it, each within a savepoint
//! so that a refused one leaves no trace, and commits once. The connections are synchronous; the service
//! runs them on threads of its own.

pub mod records;
pub mod transparency;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use hongbao_core::packet::Packet;
use hongbao_core::returns::ReturnRequest;
use hongbao_core::transfer::{Transfer, TransferStatus};
use hongbao_core::{Account, Amount, GroupId, JournalHash, LedgerTxn, PacketId, ReturnRequestId, Timestamp, TransferId, TxnKind, TxnNo, UserId};
use hongbao_tlog::{Hash, LogId, NodeId, StoredNode};
use records::Record;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed an operation.
    #[error("database error while {context}")]
    Database {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored value does not parse: the database holds something the service never writes.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The commit was asked for but its outcome is not known: the connection failed on the way, or
    /// the commit happened and the wait for the disk failed.
    #[error("the outcome of a commit is unknown")]
    CommitUnknown {
        #[source]
        source: Box<StoreError>,
    },
    /// The write lock was not granted within the database's lock timeout: other processes' batches
    /// held it all that time (or one that stalled holding it had not been stopped yet). Nothing was
    /// done; trying again later is safe.
    #[error("the write lock was not granted in time")]
    LockTimeout {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database URL names no backend this build has.
    #[error("unsupported database url {0:?}")]
    UnsupportedUrl(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Told the users of events that other processes committed; returns whether it still wants to be.
pub type EventWake = Box<dyn Fn(&[UserId]) -> bool + Send>;

/// A storage backend. It hands out connections; the service decides what runs on them.
pub trait Store: Send + Sync + 'static {
    /// Creates the schema or brings it up to date. Safe to call at every start.
    fn migrate(&self) -> StoreResult<()>;
    /// A connection for the writer.
    fn open_writer(&self) -> StoreResult<Box<dyn WriteConn>>;
    /// A connection for reads, which sees every committed change.
    fn open_reader(&self) -> StoreResult<Box<dyn ReadConn>>;
    /// A short name for logs: `sqlite` or `postgres`.
    fn backend_name(&self) -> &'static str;
    /// For a store that several processes share: starts calling `wake` with the users of the events
    /// that other processes commit, as they commit them, until it returns false (it is also called
    /// with no users now and then, to ask). Returns a flag that is true while the store is listening
    /// (it is not while it reconnects), or none: an embedded store, which one process has to itself,
    /// has nothing to watch.
    fn watch_events(&self, wake: EventWake) -> StoreResult<Option<Arc<AtomicBool>>> {
        let _ = wake;
        Ok(None)
    }
    /// For a store that several processes share: starts calling `evict` with the users whose token
    /// another process replaced or revoked, as those changes commit, until it returns false (it is
    /// also called with no users now and then, to ask). An embedded store has no other process.
    fn watch_token_changes(&self, evict: EventWake) -> StoreResult<()> {
        let _ = evict;
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    pub owner_id: UserId,
    /// In the order they joined.
    pub member_ids: Vec<UserId>,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub user_id: UserId,
    pub amount: Amount,
    pub claimed_at: Timestamp,
    pub txn_no: TxnNo,
}

/// A journal entry as stored: the transaction, its place in the chain and the users it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    pub seq: u64,
    pub txn: LedgerTxn,
    pub prev_hash: JournalHash,
    pub hash: JournalHash,
}

/// The answer recorded for an `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub request_hash: [u8; 32],
    pub status: u16,
    pub body: Vec<u8>,
    pub created_at: Timestamp,
}

/// Which return requests of a user a list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnRole {
    /// Those the user made, as the payer.
    Sent,
    /// Those the user was asked to answer.
    Received,
}

/// Which transfers of a user a list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferRole {
    /// Those the user sent.
    Sent,
    /// Those sent to the user.
    Received,
}

/// A position in a list ordered newest first by creation time, then id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPosition {
    pub created_at: Timestamp,
    pub id: String,
}

/// `text` escaped for a SQL `LIKE … ESCAPE '\'` that matches it literally: `%`, `_` and `\` lose their
/// meaning. Both backends search users with it.
pub fn like_literal(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for char in text.chars() {
        if matches!(char, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(char);
    }
    escaped
}

/// A stored value that failed to parse.
pub fn corrupt(what: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// Reads. A [`WriteConn`] reads too, and then sees its own uncommitted writes.
///
/// The reads of single records by key have a default here, through [`ReadConn::select`] and the row
/// mappings of [`records`]; a backend implements the reads that need its own SQL (joins, lists with
/// alternatives, aggregates) and reads their rows through the same mappings.
pub trait ReadConn: Send {
    /// Starts a read-only transaction whose reads all see one consistent snapshot, so a reader that
    /// makes several queries (verify) is never torn by a commit landing between them.
    fn begin_snapshot(&mut self) -> StoreResult<()>;
    /// Ends the snapshot started by [`ReadConn::begin_snapshot`].
    fn end_snapshot(&mut self) -> StoreResult<()>;
    fn setting(&mut self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.select(&records::Query::by_key(&records::SETTINGS, records::text(key)))?.into_iter().next().map(records::setting_from_row).transpose()
    }
    fn user(&mut self, id: &UserId) -> StoreResult<Option<User>> {
        let row = self.select(&records::Query::by_key(&records::USERS, records::text(id)))?.into_iter().next();
        Ok(row.map(records::StoredUser::from_row).transpose()?.map(|stored| stored.user))
    }
    fn user_by_token_hash(&mut self, token_hash: &[u8; 32]) -> StoreResult<Option<User>> {
        let row = self.select(&records::user_by_token_hash(token_hash))?.into_iter().next();
        Ok(row.map(records::StoredUser::from_row).transpose()?.map(|stored| stored.user))
    }
    /// The users of several token hashes, each with its hash; unknown hashes are left out. The default
    /// asks one at a time; a server database answers in one round trip.
    fn users_by_token_hashes(&mut self, token_hashes: &[[u8; 32]]) -> StoreResult<Vec<([u8; 32], User)>> {
        let mut users = Vec::new();
        for hash in token_hashes {
            if let Some(user) = self.user_by_token_hash(hash)? {
                users.push((*hash, user));
            }
        }
        Ok(users)
    }
    /// The balance of an account; zero for one that never had a posting.
    fn balance(&mut self, account: &Account) -> StoreResult<i64>;
    /// Every account with its stored balance.
    fn balances(&mut self) -> StoreResult<Vec<(String, i64)>>;
    /// A group with its members in the order they joined.
    fn group(&mut self, id: &GroupId) -> StoreResult<Option<Group>> {
        let Some(row) = self.select(&records::Query::by_key(&records::GROUPS, records::text(id)))?.into_iter().next() else {
            return Ok(None);
        };
        let members = self.select(&records::members_of(id))?;
        records::group_from_rows(row, members).map(Some)
    }
    fn is_member(&mut self, group_id: &GroupId, user_id: &UserId) -> StoreResult<bool>;
    fn member_count(&mut self, group_id: &GroupId) -> StoreResult<u32>;
    /// The groups a user belongs to, newest first, after `after` when given.
    fn group_ids_of(&mut self, user_id: &UserId, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<GroupId>>;
    /// The packets sent to a group, newest first, after `after` when given.
    fn packet_ids_of_group(&mut self, group_id: &GroupId, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<PacketId>>;
    fn packet(&mut self, id: &PacketId) -> StoreResult<Option<Packet>> {
        self.select(&records::Query::by_key(&records::PACKETS, records::text(id)))?.into_iter().next().map(Packet::from_row).transpose()
    }
    /// A packet's claims in claim order.
    fn claims(&mut self, packet_id: &PacketId) -> StoreResult<Vec<Claim>> {
        self.select(&records::claims_of(packet_id))?.into_iter().map(records::claim_from_row).collect()
    }
    fn has_claimed(&mut self, packet_id: &PacketId, user_id: &UserId) -> StoreResult<bool>;
    /// Open packets whose `expires_at` is at or before `now`, soonest first.
    fn due_packets(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<PacketId>>;
    fn journal_entry(&mut self, txn_no: &TxnNo) -> StoreResult<Option<JournalEntry>>;
    /// The first entry of `kind` that carries the external `reference`, if any.
    fn journal_entry_by_reference(&mut self, kind: TxnKind, reference: &str) -> StoreResult<Option<JournalEntry>>;
    /// The users a transaction concerns, who may look it up.
    fn txn_parties(&mut self, seq: u64) -> StoreResult<Vec<UserId>>;
    /// Entries with a posting to `account`, newest first, with `seq` below `before_seq` when given.
    fn journal_for_account(&mut self, account: &Account, before_seq: Option<u64>, limit: u32) -> StoreResult<Vec<JournalEntry>>;
    /// Entries in sequence order starting at `from_seq`, at most `limit` of them.
    fn journal_range(&mut self, from_seq: u64, limit: u32) -> StoreResult<Vec<JournalEntry>>;
    /// Number of journal entries: the last sequence number, read from the index (sequence numbers
    /// have no gaps; verify checks that).
    fn journal_len(&mut self) -> StoreResult<u64>;
    /// Every packet's id with its escrow-relevant totals, for verify.
    fn packet_totals(&mut self) -> StoreResult<Vec<(PacketId, Amount, Amount, Amount)>>;
    fn transfer(&mut self, id: &TransferId) -> StoreResult<Option<Transfer>> {
        self.select(&records::Query::by_key(&records::TRANSFERS, records::text(id)))?.into_iter().next().map(Transfer::from_row).transpose()
    }
    /// Transfers whose next deadline (acceptance, or arrival once accepted) is at or before `now`.
    fn due_transfers(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<TransferId>>;
    /// Every transfer whose money is still held, for verify.
    fn held_transfers(&mut self) -> StoreResult<Vec<(TransferId, Amount)>>;
    fn return_request(&mut self, id: &ReturnRequestId) -> StoreResult<Option<ReturnRequest>> {
        let query = records::Query::by_key(&records::RETURN_REQUESTS, records::text(id));
        self.select(&query)?.into_iter().next().map(ReturnRequest::from_row).transpose()
    }
    /// Every request made about one original transaction, oldest first.
    fn return_requests_for_txn(&mut self, txn_no: &TxnNo) -> StoreResult<Vec<ReturnRequest>> {
        self.select(&records::return_requests_for_txn(txn_no))?.into_iter().map(ReturnRequest::from_row).collect()
    }
    /// What the journal's corrections of a transaction (returns, case refunds, reversals: the entries
    /// whose `corrects_txn_no` names it) have moved back in all.
    fn corrected_amount(&mut self, txn_no: &TxnNo) -> StoreResult<i64>;
    /// A user's requests, newest first, after `after` when given.
    fn return_requests_of(&mut self, user_id: &UserId, role: Option<ReturnRole>, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<ReturnRequest>>;
    /// Pending requests whose deadline is at or before `now`.
    fn due_return_requests(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<ReturnRequestId>>;
    /// The users of these ids that exist, in no particular order. The default reads one at a time.
    fn users(&mut self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        let mut users = Vec::with_capacity(ids.len());
        for id in ids {
            users.extend(self.user(id)?);
        }
        Ok(users)
    }
    /// Whether two users are members of one group.
    fn share_a_group(&mut self, a: &UserId, b: &UserId) -> StoreResult<bool>;
    /// Whether two users have dealt with each other: a ledger transaction that touched the wallet of one
    /// concerns the other (a claim, a transfer and its settlement, a return, a case refund, a reversal),
    /// a transfer went from one to the other, or one sent the other a packet by name.
    fn dealt_with(&mut self, a: &UserId, b: &UserId) -> StoreResult<bool>;
    /// The users `user_id` has dealt with in the sense of [`ReadConn::dealt_with`], seen from their own
    /// wallet's transactions, their transfers, their packets by name and the claimers of the packets
    /// they sent: the most recent first, at most `limit`.
    fn counterparties(&mut self, user_id: &UserId, limit: u32) -> StoreResult<Vec<UserId>>;
    /// A user's transfers, newest first: those they sent or received (both without `role`), in one
    /// status when given, after `after` when given.
    fn transfers_of(
        &mut self,
        user_id: &UserId,
        role: Option<TransferRole>,
        status: Option<TransferStatus>,
        after: Option<&ListPosition>,
        limit: u32,
    ) -> StoreResult<Vec<Transfer>>;
    /// The transfers between two users, either way, newest first, after `after` when given.
    fn transfers_between(&mut self, a: &UserId, b: &UserId, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<Transfer>>;
    /// The packets one of two users sent the other by name (one-to-one and exclusive), newest first,
    /// after `after` when given.
    fn packet_ids_between(&mut self, a: &UserId, b: &UserId, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<PacketId>>;
    /// Users whose id starts with `text` or whose name contains it, ignoring ASCII case: by name, then
    /// id, at most `limit`.
    fn search_users(&mut self, text: &str, limit: u32) -> StoreResult<Vec<User>>;
    /// The rows of one of the [`records`] tables that a query selects.
    fn select(&mut self, query: &records::Query) -> StoreResult<Vec<records::Row>>;
    /// How many rows pass a query's filters, its order, position and limit aside.
    fn count(&mut self, query: &records::Query) -> StoreResult<u64>;
    /// The stored hashes of the complete subtrees `ids` of the Merkle tree of log `log`, in the order
    /// asked, with none where a node is not stored: one query, whatever the number of nodes.
    fn tree_nodes(&mut self, log: LogId, ids: &[NodeId]) -> StoreResult<Vec<Option<Hash>>>;
    /// How many leaves the tree of log `log` has stored: one more than the highest stored leaf index
    /// (read from the primary key's index), 0 for an empty tree.
    fn tree_size(&mut self, log: LogId) -> StoreResult<u64>;
    /// How many nodes of every level the tree of log `log` has stored (`verify` compares it with the
    /// `2n - popcount(n)` complete subtrees of a tree of `n` leaves).
    fn tree_node_count(&mut self, log: LogId) -> StoreResult<u64>;
}

/// Everything one batch changes, applied at once by [`WriteConn::apply`] just before the commit.
/// The service builds it in memory while it runs the batch's operations, so an operation that is
/// refused leaves nothing here, and a backend can write each kind of row with one bulk statement.
#[derive(Debug, Default)]
pub struct Changes {
    pub settings: Vec<(String, Vec<u8>)>,
    pub users: Vec<(User, [u8; 32])>,
    /// Users whose token is replaced, in order (after `users`): the new token's hash. The old token
    /// stops working when the batch commits.
    pub user_tokens: Vec<(UserId, [u8; 32])>,
    /// Users' new display names, in order, after the new users: the last one of a user wins.
    pub user_names: Vec<(UserId, String)>,
    /// New groups with their members in joining order.
    pub groups: Vec<Group>,
    /// Membership changes of existing groups, in order: `true` adds, `false` removes.
    pub memberships: Vec<(GroupId, UserId, bool)>,
    /// New packets in their state at the end of the batch, with their pre-drawn shares.
    pub new_packets: Vec<(Packet, Vec<Amount>)>,
    /// Existing packets in their state at the end of the batch.
    pub updated_packets: Vec<Packet>,
    /// New claims with the index of the share each took.
    pub claims: Vec<(PacketId, u32, Claim)>,
    /// New journal entries in sequence order, each with the users it concerns.
    pub journal: Vec<(JournalEntry, Vec<UserId>)>,
    /// The net change of each account's balance; the sum of the journal's postings.
    pub balance_deltas: Vec<(Account, i64)>,
    pub idempotency: Vec<(String, String, IdempotencyRecord)>,
    /// Idempotency records to delete (caller, key), before `idempotency` is written: expired ones.
    pub deleted_idempotency: Vec<(String, String)>,
    /// New transfers in their state at the end of the batch.
    pub new_transfers: Vec<Transfer>,
    pub updated_transfers: Vec<Transfer>,
    pub new_return_requests: Vec<ReturnRequest>,
    pub updated_return_requests: Vec<ReturnRequest>,
    /// New events of the outbox, in sequence order.
    pub events: Vec<hongbao_core::events::Event>,
    /// Rows of the [`records`] tables, in order: each inserted, or replacing the row with its key.
    pub rows: Vec<(&'static records::Table, records::Row)>,
    /// New nodes of the Merkle trees over the journal (RFC 9162 complete subtrees), each under its
    /// log: the leaves of this batch's journal entries and the subtrees they complete, written in the
    /// same transaction as the entries. Rows are only ever inserted.
    pub tree_nodes: Vec<(LogId, StoredNode)>,
    /// Rows of the [`records`] tables to delete, by key, after `rows` is written. Only for tables
    /// that are not append-only.
    pub deleted_rows: Vec<(&'static records::Table, records::Value)>,
}

impl Changes {
    /// Every record the batch inserts or replaces, by table: its transfers, its return requests, then
    /// [`Changes::rows`] in the order each table first appears, each table's rows in their order.
    /// What a backend writes with one multi-row upsert per table rather than a statement per row
    /// (their keys differ: the batch keeps one row per table and key, and a transfer or return request
    /// is either new or updated).
    pub fn upserts_by_table(&self) -> Vec<(&'static records::Table, Vec<std::borrow::Cow<'_, records::Row>>)> {
        use std::borrow::Cow;
        let transfers = self.new_transfers.iter().chain(&self.updated_transfers).map(|transfer| Cow::Owned(transfer.to_row()));
        let requests = self.new_return_requests.iter().chain(&self.updated_return_requests).map(|request| Cow::Owned(request.to_row()));
        let mut tables: Vec<(&'static records::Table, Vec<Cow<'_, records::Row>>)> =
            vec![(&records::TRANSFERS, transfers.collect()), (&records::RETURN_REQUESTS, requests.collect())];
        for (table, row) in &self.rows {
            match tables.iter_mut().find(|(known, _)| std::ptr::eq(*known, *table)) {
                Some((_, rows)) => rows.push(Cow::Borrowed(row)),
                None => tables.push((table, vec![Cow::Borrowed(row)])),
            }
        }
        tables.retain(|(_, rows)| !rows.is_empty());
        tables
    }
}

/// Where the journal and the event outbox end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heads {
    pub journal: (u64, JournalHash),
    pub last_event_seq: u64,
    /// The stored hashes of the journal tree's right edge at the journal's size
    /// (`hongbao_tlog::Frontier::node_ids(journal.0)` of [`LogId::JOURNAL`], in that order): what the
    /// writer appends the batch's entries to. Fewer hashes than that edge has means that the tree
    /// lags behind the journal (a database from before the tree, being built).
    pub tree_frontier: Vec<Hash>,
}

/// A packet, with which of some users have claimed it, which belong to its group, and what their
/// wallets hold: what a batch of claims on the packet checks, read at once.
#[derive(Clone, Debug)]
pub struct ClaimContext {
    pub packet: Packet,
    pub claimed: Vec<UserId>,
    /// Empty for a packet that is not for a group.
    pub members: Vec<UserId>,
    /// The balance of each claimer's wallet, in the order the claimers were asked for (a claim checks
    /// that the wallet stays within the largest amount).
    pub wallet_balances: Vec<i64>,
    /// The balance of the sender's wallet, which a refund credits.
    pub sender_balance: i64,
}

/// Writes, inside one transaction opened by [`WriteConn::begin`].
///
/// `begin` takes the database's write lock for the whole batch (SQLite's `BEGIN IMMEDIATE`; the row
/// of `writer_lock` on PostgreSQL), so everything the batch reads stays as read until
/// it commits, and batches of several processes never interleave: the journal's chain stays linear and
/// locks are never taken in conflicting orders.
pub trait WriteConn: ReadConn {
    fn begin(&mut self) -> StoreResult<()>;
    /// Writes the batch's changes and commits them: when this returns `Ok`, they are durable. Any
    /// error but [`StoreError::CommitUnknown`] means that nothing was committed.
    fn commit(&mut self, changes: &Changes) -> StoreResult<()>;
    fn rollback(&mut self) -> StoreResult<()>;
    /// The last journal entry's sequence number and hash (0 and the genesis hash when empty), and the
    /// last event's sequence number (0 when none): what a batch chains and numbers after, in one read.
    fn heads(&mut self) -> StoreResult<Heads>;
    /// All pre-drawn shares of a packet, in claim order.
    fn shares(&mut self, packet_id: &PacketId) -> StoreResult<Vec<Amount>> {
        self.select(&records::shares_of(packet_id))?.into_iter().map(records::share_from_row).collect()
    }
    /// What a batch reads before its operations run: for each packet with the users who claim it,
    /// its [`ClaimContext`]; and the rows of each query. The default reads one after another; a
    /// server database sends them all before waiting for the first answer.
    fn prefetch(&mut self, packets: &[(PacketId, Vec<UserId>)], queries: &[records::Query]) -> StoreResult<Prefetched> {
        let mut contexts = Vec::with_capacity(packets.len());
        for (packet_id, users) in packets {
            let Some(packet) = self.packet(packet_id)? else {
                contexts.push(None);
                continue;
            };
            let (mut claimed, mut members, mut wallet_balances) = (Vec::new(), Vec::new(), Vec::new());
            for user in users {
                wallet_balances.push(self.balance(&Account::Wallet(user.clone()))?);
                if self.has_claimed(packet_id, user)? {
                    claimed.push(user.clone());
                }
                if let Some(group_id) = packet.audience.group_id()
                    && self.is_member(group_id, user)?
                {
                    members.push(user.clone());
                }
            }
            let sender_balance = self.balance(&Account::Wallet(packet.sender_id.clone()))?;
            contexts.push(Some(ClaimContext { packet, claimed, members, wallet_balances, sender_balance }));
        }
        let rows = queries.iter().map(|query| self.select(query)).collect::<StoreResult<_>>()?;
        Ok(Prefetched { contexts, rows })
    }
    fn idempotency_record(&mut self, caller: &str, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        self.select(&records::idempotency_record(caller, key))?.into_iter().next().map(records::idempotency_from_row).transpose()
    }
    /// The keys (caller, key) of at most `limit` idempotency records made before `created_before`,
    /// oldest first: those a batch may delete.
    fn expired_idempotency(&mut self, created_before: Timestamp, limit: u32) -> StoreResult<Vec<(String, String)>>;
}

/// The answers of [`WriteConn::prefetch`], in the order asked.
#[derive(Clone, Debug, Default)]
pub struct Prefetched {
    pub contexts: Vec<Option<ClaimContext>>,
    pub rows: Vec<Vec<records::Row>>,
}
