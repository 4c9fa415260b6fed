//! A store that fails on cue: it wraps a real backend and makes the writer's connection fail `begin`,
//! `prefetch`, a read or `commit` when a test asks, so that tests reach every failure branch of the
//! writer on both backends. Every cue is a count of failures still to come, or a predicate over what
//! the writer is about to do; nothing fails unless a test asked.
//!
//! It also stands in for a process that crashes at a commit ([`Crash`]): just before it, so the
//! database rolls the transaction back, or just after it, so the change is durable but never answered.
//! From then on every writer connection of that store fails, as a dead process does nothing more; the
//! test then drops the service and opens a new one over a new `FaultyStore` around the same database.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use hongbao_core::packet::Packet;
use hongbao_core::returns::ReturnRequest;
use hongbao_core::transfer::{Transfer, TransferStatus};
use hongbao_core::{Account, Amount, GroupId, PacketId, ReturnRequestId, Timestamp, TransferId, TxnNo, UserId};
use hongbao_store::records::{Query, Row};
use hongbao_store::{
    Changes, Claim, EventWake, Group, Heads, IdempotencyRecord, JournalEntry, ListPosition, Prefetched, ReadConn, ReturnRole, Store, StoreError, StoreResult,
    TransferRole, User, WriteConn,
};

/// Where a simulated crash of the process happens, at a commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crash {
    /// The process dies just before the commit: the database rolls the transaction back.
    BeforeCommit,
    /// The process dies just after the commit, before it can answer: the change is durable.
    AfterCommit,
}

/// Decides whether the database refuses a batch's changes.
pub type CommitPredicate = Box<dyn Fn(&Changes) -> bool + Send + Sync>;

/// The failures a test has asked for. Shared by the store and every writer connection it opens.
#[derive(Default)]
pub struct Faults {
    begins: AtomicU32,
    lock_timeouts: AtomicU32,
    prefetches: AtomicU32,
    refused_commits: AtomicU32,
    unknown_commits: AtomicU32,
    refuse_commit_when: Mutex<Option<CommitPredicate>>,
    fail_balance_read_of: Mutex<Option<Account>>,
    /// How many commits the database refused because of a cue, for tests to see the cue was hit.
    refused: AtomicU32,
    /// Held by a test to keep the writer waiting in `begin`, so that the jobs sent meanwhile queue up
    /// and form one batch.
    gate: Mutex<()>,
    /// A crash to come: how many commits to let through first, and where it happens.
    crash_at: Mutex<Option<(u32, Crash)>>,
    /// Set once the crash happened: the process is dead and its connections do nothing more.
    crashed: AtomicBool,
}

impl Faults {
    /// The next `count` calls of `begin` fail, on the writer's connection and on a new one alike.
    pub fn fail_begins(&self, count: u32) {
        self.begins.store(count, Ordering::SeqCst);
    }

    /// The next `count` calls of `begin` wait in vain for the write lock (the database's lock timeout).
    pub fn time_out_begins(&self, count: u32) {
        self.lock_timeouts.store(count, Ordering::SeqCst);
    }

    /// The next `count` prefetches fail.
    pub fn fail_prefetches(&self, count: u32) {
        self.prefetches.store(count, Ordering::SeqCst);
    }

    /// The next `count` commits are refused by the database: nothing is applied.
    pub fn refuse_commits(&self, count: u32) {
        self.refused_commits.store(count, Ordering::SeqCst);
    }

    /// The next `count` commits happen, but the connection fails before their outcome is known.
    pub fn lose_commit_outcomes(&self, count: u32) {
        self.unknown_commits.store(count, Ordering::SeqCst);
    }

    /// Every commit whose changes match is refused, as a database refuses a value it cannot store.
    pub fn refuse_commits_when(&self, predicate: impl Fn(&Changes) -> bool + Send + Sync + 'static) {
        *self.refuse_commit_when.lock().expect("the fault lock is never poisoned") = Some(Box::new(predicate));
    }

    /// Every read of this account's balance by the writer fails in the database.
    pub fn fail_balance_reads_of(&self, account: Account) {
        *self.fail_balance_read_of.lock().expect("the fault lock is never poisoned") = Some(account);
    }

    /// Keeps the writer waiting at its next `begin` until the guard is dropped: the jobs submitted
    /// meanwhile all join the batch that begins then.
    pub fn hold_begins(&self) -> std::sync::MutexGuard<'_, ()> {
        self.gate.lock().expect("the gate is never poisoned")
    }

    /// The process crashes at a commit, after letting `commits_first` commits through.
    pub fn crash_at_commit(&self, commits_first: u32, crash: Crash) {
        *self.crash_at.lock().expect("the fault lock is never poisoned") = Some((commits_first, crash));
    }

    /// Whether the crash asked for has happened.
    pub fn crashed(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }

    /// Withdraws every cue not yet used (a crash that happened stays): for a test that asks for
    /// failures step by step and does not want one asked for earlier to hit a later step.
    pub fn clear(&self) {
        for counter in [&self.begins, &self.lock_timeouts, &self.prefetches, &self.refused_commits, &self.unknown_commits] {
            counter.store(0, Ordering::SeqCst);
        }
        *self.refuse_commit_when.lock().expect("the fault lock is never poisoned") = None;
        *self.fail_balance_read_of.lock().expect("the fault lock is never poisoned") = None;
        *self.crash_at.lock().expect("the fault lock is never poisoned") = None;
    }

    /// The crash that happens at this commit, if one is due now; counts the commit otherwise.
    fn take_crash(&self) -> Option<Crash> {
        let mut armed = self.crash_at.lock().expect("the fault lock is never poisoned");
        match armed.as_mut() {
            Some((0, crash)) => {
                let crash = *crash;
                *armed = None;
                self.crashed.store(true, Ordering::SeqCst);
                Some(crash)
            }
            Some((commits_first, _)) => {
                *commits_first -= 1;
                None
            }
            None => None,
        }
    }

    /// How many commits were refused because of a cue.
    pub fn refused(&self) -> u32 {
        self.refused.load(Ordering::SeqCst)
    }

    fn take(counter: &AtomicU32) -> bool {
        counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1)).is_ok()
    }
}

fn injected(context: &'static str) -> StoreError {
    StoreError::Database { context, source: "a failure injected by the test".into() }
}

fn dead() -> StoreError {
    StoreError::Database { context: "using the writer's connection", source: "the process crashed (injected by the test)".into() }
}

/// A backend whose writer connections fail on cue.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    faults: Arc<Faults>,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn Store>) -> (Arc<FaultyStore>, Arc<Faults>) {
        let faults = Arc::new(Faults::default());
        (Arc::new(FaultyStore { inner, faults: faults.clone() }), faults)
    }
}

impl Store for FaultyStore {
    fn migrate(&self) -> StoreResult<()> {
        self.inner.migrate()
    }

    fn open_writer(&self) -> StoreResult<Box<dyn WriteConn>> {
        Ok(Box::new(FaultyWriter { inner: self.inner.open_writer()?, faults: self.faults.clone() }))
    }

    fn open_reader(&self) -> StoreResult<Box<dyn ReadConn>> {
        self.inner.open_reader()
    }

    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    fn watch_events(&self, wake: EventWake) -> StoreResult<Option<Arc<AtomicBool>>> {
        self.inner.watch_events(wake)
    }
}

struct FaultyWriter {
    inner: Box<dyn WriteConn>,
    faults: Arc<Faults>,
}

impl ReadConn for FaultyWriter {
    fn begin_snapshot(&mut self) -> StoreResult<()> {
        self.inner.begin_snapshot()
    }
    fn end_snapshot(&mut self) -> StoreResult<()> {
        self.inner.end_snapshot()
    }
    fn setting(&mut self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.inner.setting(key)
    }
    fn user(&mut self, id: &UserId) -> StoreResult<Option<User>> {
        self.inner.user(id)
    }
    fn user_by_token_hash(&mut self, token_hash: &[u8; 32]) -> StoreResult<Option<User>> {
        self.inner.user_by_token_hash(token_hash)
    }
    fn users_by_token_hashes(&mut self, token_hashes: &[[u8; 32]]) -> StoreResult<Vec<([u8; 32], User)>> {
        self.inner.users_by_token_hashes(token_hashes)
    }
    fn balance(&mut self, account: &Account) -> StoreResult<i64> {
        if self.faults.fail_balance_read_of.lock().expect("the fault lock is never poisoned").as_ref() == Some(account) {
            return Err(injected("reading a balance"));
        }
        self.inner.balance(account)
    }
    fn balances(&mut self) -> StoreResult<Vec<(String, i64)>> {
        self.inner.balances()
    }
    fn group(&mut self, id: &GroupId) -> StoreResult<Option<Group>> {
        self.inner.group(id)
    }
    fn is_member(&mut self, group_id: &GroupId, user_id: &UserId) -> StoreResult<bool> {
        self.inner.is_member(group_id, user_id)
    }
    fn member_count(&mut self, group_id: &GroupId) -> StoreResult<u32> {
        self.inner.member_count(group_id)
    }
    fn group_ids_of(&mut self, user_id: &UserId, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<GroupId>> {
        self.inner.group_ids_of(user_id, after, limit)
    }
    fn packet_ids_of_group(&mut self, group_id: &GroupId, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<PacketId>> {
        self.inner.packet_ids_of_group(group_id, after, limit)
    }
    fn packet(&mut self, id: &PacketId) -> StoreResult<Option<Packet>> {
        self.inner.packet(id)
    }
    fn claims(&mut self, packet_id: &PacketId) -> StoreResult<Vec<Claim>> {
        self.inner.claims(packet_id)
    }
    fn has_claimed(&mut self, packet_id: &PacketId, user_id: &UserId) -> StoreResult<bool> {
        self.inner.has_claimed(packet_id, user_id)
    }
    fn due_packets(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<PacketId>> {
        self.inner.due_packets(now, limit)
    }
    fn journal_entry(&mut self, txn_no: &TxnNo) -> StoreResult<Option<JournalEntry>> {
        self.inner.journal_entry(txn_no)
    }
    fn journal_entry_by_reference(&mut self, kind: hongbao_core::TxnKind, reference: &str) -> StoreResult<Option<JournalEntry>> {
        self.inner.journal_entry_by_reference(kind, reference)
    }
    fn txn_parties(&mut self, seq: u64) -> StoreResult<Vec<UserId>> {
        self.inner.txn_parties(seq)
    }
    fn journal_for_account(&mut self, account: &Account, before_seq: Option<u64>, limit: u32) -> StoreResult<Vec<JournalEntry>> {
        self.inner.journal_for_account(account, before_seq, limit)
    }
    fn journal_range(&mut self, from_seq: u64, limit: u32) -> StoreResult<Vec<JournalEntry>> {
        self.inner.journal_range(from_seq, limit)
    }
    fn journal_len(&mut self) -> StoreResult<u64> {
        self.inner.journal_len()
    }
    fn packet_totals(&mut self) -> StoreResult<Vec<(PacketId, Amount, Amount, Amount)>> {
        self.inner.packet_totals()
    }
    fn transfer(&mut self, id: &TransferId) -> StoreResult<Option<Transfer>> {
        self.inner.transfer(id)
    }
    fn due_transfers(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<TransferId>> {
        self.inner.due_transfers(now, limit)
    }
    fn held_transfers(&mut self) -> StoreResult<Vec<(TransferId, Amount)>> {
        self.inner.held_transfers()
    }
    fn return_request(&mut self, id: &ReturnRequestId) -> StoreResult<Option<ReturnRequest>> {
        self.inner.return_request(id)
    }
    fn return_requests_for_txn(&mut self, txn_no: &TxnNo) -> StoreResult<Vec<ReturnRequest>> {
        self.inner.return_requests_for_txn(txn_no)
    }
    fn corrected_amount(&mut self, txn_no: &TxnNo) -> StoreResult<i64> {
        self.inner.corrected_amount(txn_no)
    }
    fn return_requests_of(&mut self, user_id: &UserId, role: Option<ReturnRole>, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<ReturnRequest>> {
        self.inner.return_requests_of(user_id, role, after, limit)
    }
    fn due_return_requests(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<ReturnRequestId>> {
        self.inner.due_return_requests(now, limit)
    }
    fn users(&mut self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        self.inner.users(ids)
    }
    fn share_a_group(&mut self, a: &UserId, b: &UserId) -> StoreResult<bool> {
        self.inner.share_a_group(a, b)
    }
    fn dealt_with(&mut self, a: &UserId, b: &UserId) -> StoreResult<bool> {
        self.inner.dealt_with(a, b)
    }
    fn counterparties(&mut self, user_id: &UserId, limit: u32) -> StoreResult<Vec<UserId>> {
        self.inner.counterparties(user_id, limit)
    }
    fn transfers_of(
        &mut self,
        user_id: &UserId,
        role: Option<TransferRole>,
        status: Option<TransferStatus>,
        after: Option<&ListPosition>,
        limit: u32,
    ) -> StoreResult<Vec<Transfer>> {
        self.inner.transfers_of(user_id, role, status, after, limit)
    }
    fn transfers_between(&mut self, a: &UserId, b: &UserId, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<Transfer>> {
        self.inner.transfers_between(a, b, after, limit)
    }
    fn packet_ids_between(&mut self, a: &UserId, b: &UserId, after: Option<&ListPosition>, limit: u32) -> StoreResult<Vec<PacketId>> {
        self.inner.packet_ids_between(a, b, after, limit)
    }
    fn search_users(&mut self, text: &str, limit: u32) -> StoreResult<Vec<User>> {
        self.inner.search_users(text, limit)
    }
    fn select(&mut self, query: &Query) -> StoreResult<Vec<Row>> {
        self.inner.select(query)
    }
    fn count(&mut self, query: &Query) -> StoreResult<u64> {
        self.inner.count(query)
    }
    fn tree_nodes(&mut self, log: hongbao_tlog::LogId, ids: &[hongbao_tlog::NodeId]) -> StoreResult<Vec<Option<hongbao_tlog::Hash>>> {
        self.inner.tree_nodes(log, ids)
    }
    fn tree_size(&mut self, log: hongbao_tlog::LogId) -> StoreResult<u64> {
        self.inner.tree_size(log)
    }
    fn tree_node_count(&mut self, log: hongbao_tlog::LogId) -> StoreResult<u64> {
        self.inner.tree_node_count(log)
    }
}

impl WriteConn for FaultyWriter {
    fn begin(&mut self) -> StoreResult<()> {
        drop(self.faults.gate.lock().expect("the gate is never poisoned"));
        if self.faults.crashed() {
            return Err(dead());
        }
        if Faults::take(&self.faults.begins) {
            return Err(injected("beginning a batch"));
        }
        if Faults::take(&self.faults.lock_timeouts) {
            return Err(StoreError::LockTimeout { source: "the test kit's lock timeout".into() });
        }
        self.inner.begin()
    }

    fn commit(&mut self, changes: &Changes) -> StoreResult<()> {
        if self.faults.crashed() {
            return Err(dead());
        }
        match self.faults.take_crash() {
            Some(Crash::BeforeCommit) => {
                self.inner.rollback()?;
                return Err(dead());
            }
            Some(Crash::AfterCommit) => {
                self.inner.commit(changes)?;
                return Err(StoreError::CommitUnknown { source: Box::new(dead()) });
            }
            None => {}
        }
        let poisoned = self.faults.refuse_commit_when.lock().expect("the fault lock is never poisoned").as_ref().is_some_and(|refuse| refuse(changes));
        if poisoned || Faults::take(&self.faults.refused_commits) {
            self.faults.refused.fetch_add(1, Ordering::SeqCst);
            return Err(injected("writing a batch"));
        }
        if Faults::take(&self.faults.unknown_commits) {
            self.inner.commit(changes)?;
            return Err(StoreError::CommitUnknown { source: Box::new(injected("waiting for the commit's outcome")) });
        }
        self.inner.commit(changes)
    }

    fn rollback(&mut self) -> StoreResult<()> {
        self.inner.rollback()
    }

    fn heads(&mut self) -> StoreResult<Heads> {
        self.inner.heads()
    }

    fn shares(&mut self, packet_id: &PacketId) -> StoreResult<Vec<Amount>> {
        self.inner.shares(packet_id)
    }

    fn prefetch(&mut self, packets: &[(PacketId, Vec<UserId>)], queries: &[Query]) -> StoreResult<Prefetched> {
        if self.faults.crashed() {
            return Err(dead());
        }
        if Faults::take(&self.faults.prefetches) {
            return Err(injected("prefetching a batch's reads"));
        }
        self.inner.prefetch(packets, queries)
    }

    fn idempotency_record(&mut self, caller: &str, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        self.inner.idempotency_record(caller, key)
    }

    fn expired_idempotency(&mut self, created_before: Timestamp, limit: u32) -> StoreResult<Vec<(String, String)>> {
        self.inner.expired_idempotency(created_before, limit)
    }
}
