//! The unit of work of one batch: a read-through overlay on the write connection that holds every
//! change in memory until the writer applies them all at once.
//!
//! Operations read through it and see their own and earlier operations' changes; they write only to
//! it. The batch's transaction holds the database's write lock from the start, so anything read from
//! the database can be cached for the rest of the batch.
//!
//! Each operation runs in a write scope of its own ([`Batch::open_scope`], TigerBeetle's
//! `scope_open`/`scope_close`): every staged write is logged, and an operation that fails has its
//! writes, journal entries and events undone by [`Batch::discard_scope`], so a refusal costs that
//! operation alone and the rest of the batch commits. Reads stay cached across a discard: they
//! describe the database, which nothing in the batch has changed yet.

use std::collections::BTreeMap;

// foldhash rather than std's SipHash: a batch hashes ids and keys a few dozen times per claim, and
// SipHash cost about 5% of a claim's instructions in the server (BENCHMARKS.md). Like std's, its
// seed is drawn at random for each process.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::sync::Arc;

use hongbao_core::packet::Packet;
use hongbao_core::returns::ReturnRequest;
use hongbao_core::risk::RiskPolicy;
use hongbao_core::transfer::Transfer;
use hongbao_core::{Account, Amount, GroupId, JournalHash, PacketId, ReturnRequestId, Timestamp, TransferId, TxnNo, UserId};
use hongbao_store::records::{self, Query, Record, Row, Table, Value};
use hongbao_store::{Changes, Claim, Group, IdempotencyRecord, JournalEntry, StoreResult, User, WriteConn};

/// Pre-drawn shares, which never change once a packet exists, kept across batches.
#[derive(Default)]
pub struct ShareCache {
    shares: HashMap<PacketId, Arc<Vec<Amount>>>,
    cached_shares: usize,
}

/// The most shares and packets kept in memory; past either the cache starts over. Only packets of
/// more than one share are cached: a one-share packet is claimed at most once.
const MAX_CACHED_SHARES: usize = 2_000_000;
const MAX_CACHED_PACKETS: usize = 10_000;

impl ShareCache {
    fn get(&mut self, conn: &mut dyn WriteConn, packet_id: &PacketId) -> StoreResult<Arc<Vec<Amount>>> {
        if let Some(shares) = self.shares.get(packet_id) {
            return Ok(shares.clone());
        }
        let shares = Arc::new(conn.shares(packet_id)?);
        self.insert(packet_id.clone(), shares.clone());
        Ok(shares)
    }

    fn insert(&mut self, packet_id: PacketId, shares: Arc<Vec<Amount>>) {
        if shares.len() < 2 {
            return;
        }
        if self.cached_shares + shares.len() > MAX_CACHED_SHARES || self.shares.len() >= MAX_CACHED_PACKETS {
            self.shares.clear();
            self.cached_shares = 0;
        }
        self.cached_shares += shares.len();
        self.shares.insert(packet_id, shares);
    }
}

/// The setting that holds the risk policy, as TOML text.
pub const POLICY_SETTING: &str = "risk_policy";

/// The parsed risk policy, kept across batches while its stored text stays the same.
#[derive(Default)]
pub struct PolicyCache {
    text: Option<Vec<u8>>,
    policy: Arc<RiskPolicy>,
}

/// A record read or created in the batch, with whether the batch must write it.
struct Slot<T> {
    value: T,
    is_new: bool,
    changed: bool,
}

/// Records of one kind that the batch has read or written, in first-touched order.
struct Records<K, T> {
    slots: HashMap<K, Slot<T>>,
    order: Vec<K>,
}

impl<K: std::hash::Hash + Eq + Clone, T: Clone> Records<K, T> {
    fn new() -> Records<K, T> {
        Records { slots: HashMap::new(), order: Vec::new() }
    }

    fn get(&self, key: &K) -> Option<&T> {
        self.slots.get(key).map(|slot| &slot.value)
    }

    fn remember(&mut self, key: K, value: T) {
        if !self.slots.contains_key(&key) {
            self.order.push(key.clone());
            self.slots.insert(key, Slot { value, is_new: false, changed: false });
        }
    }

    /// Stages a new record; returns what undoes it.
    fn insert(&mut self, key: K, value: T) -> SlotUndo<K, T> {
        self.order.push(key.clone());
        let previous = self.slots.insert(key.clone(), Slot { value, is_new: true, changed: true });
        SlotUndo { key, previous, ordered: true }
    }

    /// Stages the new state of a record read or written before; returns what undoes it.
    fn update(&mut self, key: &K, value: T) -> SlotUndo<K, T> {
        let slot = self.slots.get_mut(key).expect("a record is read before it is updated");
        let previous = Slot { value: std::mem::replace(&mut slot.value, value), is_new: slot.is_new, changed: slot.changed };
        slot.changed = true;
        SlotUndo { key: key.clone(), previous: Some(previous), ordered: false }
    }

    /// Puts back what a staged write replaced.
    fn undo(&mut self, undo: SlotUndo<K, T>) {
        if undo.ordered
            && let Some(position) = self.order.iter().rposition(|key| key == &undo.key)
        {
            self.order.remove(position);
        }
        match undo.previous {
            Some(previous) => {
                self.slots.insert(undo.key, previous);
            }
            None => {
                self.slots.remove(&undo.key);
            }
        }
    }

    fn entries(&self) -> impl Iterator<Item = (&K, &T)> {
        self.order.iter().filter_map(|key| self.slots.get_key_value(key)).map(|(key, slot)| (key, &slot.value))
    }

    fn values(&self) -> impl Iterator<Item = &T> {
        self.order.iter().filter_map(|key| self.slots.get(key)).map(|slot| &slot.value)
    }

    /// The new records and the changed existing ones, in order.
    fn into_changes(mut self) -> (Vec<T>, Vec<T>) {
        let (mut new, mut changed) = (Vec::new(), Vec::new());
        for key in self.order {
            let slot = self.slots.remove(&key).expect("every ordered key has a slot");
            if slot.is_new {
                new.push(slot.value);
            } else if slot.changed {
                changed.push(slot.value);
            }
        }
        (new, changed)
    }
}

/// What undoes one staged write of a [`Records`] slot: the slot it replaced, if any, and whether the
/// write added the key to the order.
struct SlotUndo<K, T> {
    key: K,
    previous: Option<Slot<T>>,
    ordered: bool,
}

/// One staged write of the batch that is not simply appended to a list, logged so that a discarded
/// scope can put back what it replaced.
enum Undo {
    Membership { key: (GroupId, UserId), previous: Option<bool> },
    MemberCount { group_id: GroupId, previous: u32 },
    NewGroupMembers { group_id: GroupId, previous: Vec<UserId> },
    PacketInserted(PacketId),
    PacketUpdated { previous: Packet, previous_changed: bool },
    Claimed((PacketId, UserId)),
    Transfer(SlotUndo<TransferId, Transfer>),
    ReturnRequest(SlotUndo<ReturnRequestId, ReturnRequest>),
    Row { undo: SlotUndo<(&'static str, Value), (&'static Table, Row)>, was_absent: bool },
    Idempotency { key: (String, String), previous: Option<IdempotencyRecord> },
    RowDeleted(RowDeleted),
}

/// A record deleted: its slot as it was, if the batch had one, and whether it was known absent.
struct RowDeleted {
    key: (&'static str, Value),
    previous: Option<Slot<(&'static Table, Row)>>,
    was_absent: bool,
}

/// Where a write scope began: the lengths of the append-only lists and the heads. Returned by
/// [`Batch::open_scope`]; scopes do not nest, so the undo log belongs to the open scope.
#[must_use = "a scope is closed or discarded"]
pub struct Scope {
    settings: usize,
    users: usize,
    user_tokens: usize,
    deleted_idempotency: usize,
    deleted_rows: usize,
    user_names: usize,
    new_groups: usize,
    membership_log: usize,
    new_claims: usize,
    journal: usize,
    events: usize,
    head: Option<(u64, JournalHash)>,
    audit_head: Option<(u64, JournalHash)>,
    event_head: Option<u64>,
}

struct PacketSlot {
    packet: Packet,
    /// The shares of a packet sent in this batch, which the batch writes with it.
    new_shares: Option<Arc<Vec<Amount>>>,
    changed: bool,
}

pub struct Batch<'a> {
    conn: &'a mut dyn WriteConn,
    share_cache: &'a mut ShareCache,
    policy_cache: &'a mut PolicyCache,
    /// The policy in force for this batch, once read.
    policy: Option<Arc<RiskPolicy>>,
    settings: Vec<(String, Vec<u8>)>,
    users: Vec<(User, [u8; 32])>,
    user_tokens: Vec<(UserId, [u8; 32])>,
    deleted_idempotency: Vec<(String, String)>,
    deleted_rows: Vec<(&'static Table, Value)>,
    /// Display names changed in this batch, in order: the last one of a user wins.
    user_names: Vec<(UserId, String)>,
    new_groups: Vec<Group>,
    membership_log: Vec<(GroupId, UserId, bool)>,
    membership: HashMap<(GroupId, UserId), bool>,
    member_counts: HashMap<GroupId, u32>,
    packets: HashMap<PacketId, PacketSlot>,
    packet_order: Vec<PacketId>,
    claimed: HashSet<(PacketId, UserId)>,
    checked_unclaimed: HashSet<(PacketId, UserId)>,
    new_claims: Vec<(PacketId, u32, Claim)>,
    /// Balances as stored before the batch, for the accounts read so far.
    balances: HashMap<Account, i64>,
    deltas: BTreeMap<Account, i64>,
    journal: Vec<(JournalEntry, Vec<UserId>)>,
    head: Option<(u64, JournalHash)>,
    /// The journal's tree as it stood when the batch read the heads: what its entries are appended to.
    tree_start: Option<crate::journal_log::TreeStart>,
    idempotency: HashMap<(String, String), IdempotencyRecord>,
    idempotency_order: Vec<(String, String)>,
    transfers: Records<TransferId, Transfer>,
    return_requests: Records<ReturnRequestId, ReturnRequest>,
    /// Rows of the records tables read or written, by table and key.
    rows: Records<(&'static str, Value), (&'static Table, Row)>,
    /// Records known not to exist, from a prefetch, so that asking for them reads nothing.
    absent: HashSet<(&'static str, Value)>,
    /// The last sequence number of the audit log and of the event outbox, with the audit log's hash.
    audit_head: Option<(u64, JournalHash)>,
    event_head: Option<u64>,
    events: Vec<hongbao_core::events::Event>,
    /// The staged writes of the open scope that appending to a list does not undo.
    undo: Vec<Undo>,
}

impl<'a> Batch<'a> {
    pub fn new(conn: &'a mut dyn WriteConn, share_cache: &'a mut ShareCache, policy_cache: &'a mut PolicyCache) -> Batch<'a> {
        Batch {
            conn,
            share_cache,
            policy_cache,
            policy: None,
            settings: Vec::new(),
            users: Vec::new(),
            user_tokens: Vec::new(),
            deleted_idempotency: Vec::new(),
            deleted_rows: Vec::new(),
            user_names: Vec::new(),
            new_groups: Vec::new(),
            membership_log: Vec::new(),
            membership: HashMap::new(),
            member_counts: HashMap::new(),
            packets: HashMap::new(),
            packet_order: Vec::new(),
            claimed: HashSet::new(),
            checked_unclaimed: HashSet::new(),
            new_claims: Vec::new(),
            balances: HashMap::new(),
            deltas: BTreeMap::new(),
            journal: Vec::new(),
            head: None,
            tree_start: None,
            idempotency: HashMap::new(),
            idempotency_order: Vec::new(),
            transfers: Records::new(),
            return_requests: Records::new(),
            rows: Records::new(),
            absent: HashSet::new(),
            audit_head: None,
            event_head: None,
            events: Vec::new(),
            undo: Vec::new(),
        }
    }

    // ---- write scopes ----

    /// Opens the write scope of one operation: what it stages from here on can be undone as a whole.
    pub fn open_scope(&mut self) -> Scope {
        self.undo.clear();
        Scope {
            settings: self.settings.len(),
            users: self.users.len(),
            user_tokens: self.user_tokens.len(),
            deleted_idempotency: self.deleted_idempotency.len(),
            deleted_rows: self.deleted_rows.len(),
            user_names: self.user_names.len(),
            new_groups: self.new_groups.len(),
            membership_log: self.membership_log.len(),
            new_claims: self.new_claims.len(),
            journal: self.journal.len(),
            events: self.events.len(),
            head: self.head,
            audit_head: self.audit_head,
            event_head: self.event_head,
        }
    }

    /// Whether the operation of this scope has staged any write.
    pub fn scope_wrote(&self, scope: &Scope) -> bool {
        !self.undo.is_empty()
            || self.settings.len() > scope.settings
            || self.users.len() > scope.users
            || self.user_tokens.len() > scope.user_tokens
            || self.deleted_idempotency.len() > scope.deleted_idempotency
            || self.deleted_rows.len() > scope.deleted_rows
            || self.user_names.len() > scope.user_names
            || self.new_groups.len() > scope.new_groups
            || self.membership_log.len() > scope.membership_log
            || self.new_claims.len() > scope.new_claims
            || self.journal.len() > scope.journal
            || self.events.len() > scope.events
    }

    /// Keeps what the scope's operation staged: it is part of the batch now.
    pub fn close_scope(&mut self, scope: Scope) {
        let _ = scope;
        self.undo.clear();
    }

    /// Undoes everything the scope's operation staged, newest first, as if it had never run.
    pub fn discard_scope(&mut self, scope: Scope) {
        while let Some(undo) = self.undo.pop() {
            self.apply_undo(undo);
        }
        for (entry, _) in self.journal.drain(scope.journal..) {
            for posting in entry.txn.postings() {
                *self.deltas.entry(posting.account.clone()).or_default() -= posting.amount;
            }
        }
        if self.settings.len() > scope.settings {
            self.settings.truncate(scope.settings);
            self.policy = None;
        }
        self.users.truncate(scope.users);
        self.user_tokens.truncate(scope.user_tokens);
        self.deleted_idempotency.truncate(scope.deleted_idempotency);
        self.deleted_rows.truncate(scope.deleted_rows);
        self.user_names.truncate(scope.user_names);
        self.new_groups.truncate(scope.new_groups);
        self.membership_log.truncate(scope.membership_log);
        self.new_claims.truncate(scope.new_claims);
        self.events.truncate(scope.events);
        self.head = scope.head;
        self.audit_head = scope.audit_head;
        self.event_head = scope.event_head;
    }

    fn apply_undo(&mut self, undo: Undo) {
        match undo {
            Undo::Membership { key, previous: Some(previous) } => {
                self.membership.insert(key, previous);
            }
            Undo::Membership { key, previous: None } => {
                self.membership.remove(&key);
            }
            Undo::MemberCount { group_id, previous } => {
                self.member_counts.insert(group_id, previous);
            }
            Undo::NewGroupMembers { group_id, previous } => {
                if let Some(group) = self.new_groups.iter_mut().find(|group| group.id == group_id) {
                    group.member_ids = previous;
                }
            }
            Undo::PacketInserted(packet_id) => {
                self.packets.remove(&packet_id);
                if let Some(position) = self.packet_order.iter().rposition(|id| id == &packet_id) {
                    self.packet_order.remove(position);
                }
            }
            Undo::PacketUpdated { previous, previous_changed } => {
                let slot = self.packets.get_mut(&previous.id).expect("an updated packet keeps its slot");
                slot.packet = previous;
                slot.changed = previous_changed;
            }
            Undo::Claimed(key) => {
                self.claimed.remove(&key);
            }
            Undo::Transfer(undo) => self.transfers.undo(undo),
            Undo::ReturnRequest(undo) => self.return_requests.undo(undo),
            Undo::Row { undo, was_absent } => {
                if was_absent {
                    self.absent.insert(undo.key.clone());
                }
                self.rows.undo(undo);
            }
            Undo::RowDeleted(RowDeleted { key, previous, was_absent }) => {
                if !was_absent {
                    self.absent.remove(&key);
                }
                if let Some(previous) = previous {
                    self.rows.order.push(key.clone());
                    self.rows.slots.insert(key, previous);
                }
            }
            Undo::Idempotency { key, previous } => match previous {
                Some(previous) => {
                    self.idempotency.insert(key, previous);
                }
                None => {
                    self.idempotency.remove(&key);
                    if let Some(position) = self.idempotency_order.iter().rposition(|ordered| ordered == &key) {
                        self.idempotency_order.remove(position);
                    }
                }
            },
        }
    }

    // ---- reads ----

    pub fn user(&mut self, id: &UserId) -> StoreResult<Option<User>> {
        let user = match self.users.iter().find(|(user, _)| &user.id == id) {
            Some((user, _)) => Some(user.clone()),
            None => self.conn.user(id)?,
        };
        let renamed = self.user_names.iter().rev().find(|(user_id, _)| user_id == id).map(|(_, name)| name.clone());
        Ok(user.map(|user| match renamed {
            Some(name) => User { name, ..user },
            None => user,
        }))
    }

    pub fn group(&mut self, id: &GroupId) -> StoreResult<Option<Group>> {
        if let Some(group) = self.new_groups.iter().find(|group| &group.id == id) {
            return Ok(Some(group.clone()));
        }
        let Some(mut group) = self.conn.group(id)? else { return Ok(None) };
        for (group_id, user_id, added) in &self.membership_log {
            if group_id == id {
                group.member_ids.retain(|member| member != user_id);
                if *added {
                    group.member_ids.push(user_id.clone());
                }
            }
        }
        Ok(Some(group))
    }

    pub fn is_member(&mut self, group_id: &GroupId, user_id: &UserId) -> StoreResult<bool> {
        let key = (group_id.clone(), user_id.clone());
        if let Some(known) = self.membership.get(&key) {
            return Ok(*known);
        }
        let is_member = match self.new_groups.iter().find(|group| &group.id == group_id) {
            Some(group) => group.member_ids.contains(user_id),
            None => self.conn.is_member(group_id, user_id)?,
        };
        self.membership.insert(key, is_member);
        Ok(is_member)
    }

    pub fn member_count(&mut self, group_id: &GroupId) -> StoreResult<u32> {
        if let Some(group) = self.new_groups.iter().find(|group| &group.id == group_id) {
            return Ok(group.member_ids.len() as u32);
        }
        if let Some(count) = self.member_counts.get(group_id) {
            return Ok(*count);
        }
        let count = self.conn.member_count(group_id)?;
        self.member_counts.insert(group_id.clone(), count);
        Ok(count)
    }

    /// A packet in its current state within the batch.
    pub fn packet(&mut self, id: &PacketId) -> StoreResult<Option<Packet>> {
        if let Some(slot) = self.packets.get(id) {
            return Ok(Some(slot.packet.clone()));
        }
        let Some(packet) = self.conn.packet(id)? else { return Ok(None) };
        self.remember_packet(packet.clone());
        Ok(Some(packet))
    }

    /// A stored packet, read for the first time in this batch.
    fn remember_packet(&mut self, packet: Packet) {
        // The escrow holds what was neither claimed nor refunded: the packet row and the escrow's
        // balance change in the same transactions (verify checks that they agree), so the balance
        // need not be read. The database's own check still refuses a negative balance.
        let held = packet.total_amount.minor_units() - packet.claimed_amount.minor_units() - packet.refunded_amount.minor_units();
        self.balances.entry(Account::PacketEscrow(packet.id.clone())).or_insert(held);
        self.packet_order.push(packet.id.clone());
        self.packets.insert(packet.id.clone(), PacketSlot { packet, new_shares: None, changed: false });
    }

    pub fn has_claimed(&mut self, packet_id: &PacketId, user_id: &UserId) -> StoreResult<bool> {
        let key = (packet_id.clone(), user_id.clone());
        if self.claimed.contains(&key) {
            return Ok(true);
        }
        if self.checked_unclaimed.contains(&key) || self.packets.get(packet_id).is_some_and(|slot| slot.new_shares.is_some()) {
            return Ok(false);
        }
        let claimed = self.conn.has_claimed(packet_id, user_id)?;
        if claimed {
            self.claimed.insert(key);
        } else {
            self.checked_unclaimed.insert(key);
        }
        Ok(claimed)
    }

    /// A packet's claims in claim order, stored and new.
    pub fn claims(&mut self, packet_id: &PacketId) -> StoreResult<Vec<Claim>> {
        let mut claims = if self.packets.get(packet_id).is_some_and(|slot| slot.new_shares.is_some()) { Vec::new() } else { self.conn.claims(packet_id)? };
        claims.extend(self.new_claims.iter().filter(|(id, _, _)| id == packet_id).map(|(_, _, claim)| claim.clone()));
        Ok(claims)
    }

    pub fn share(&mut self, packet_id: &PacketId, index: u32) -> StoreResult<Amount> {
        let shares = match self.packets.get(packet_id).and_then(|slot| slot.new_shares.clone()) {
            Some(shares) => shares,
            None => self.share_cache.get(self.conn, packet_id)?,
        };
        shares.get(index as usize).copied().ok_or_else(|| hongbao_store::corrupt(format!("packet {packet_id} has no share {index}")))
    }

    /// An account's balance within the batch: as stored, plus the batch's postings so far.
    pub fn balance(&mut self, account: &Account) -> StoreResult<i64> {
        let stored = match self.balances.get(account) {
            Some(stored) => *stored,
            None => {
                let stored = self.conn.balance(account)?;
                self.balances.insert(account.clone(), stored);
                stored
            }
        };
        Ok(stored + self.deltas.get(account).copied().unwrap_or(0))
    }

    pub fn journal_head(&mut self) -> StoreResult<(u64, JournalHash)> {
        if let Some(head) = self.head {
            return Ok(head);
        }
        self.load_heads()?;
        Ok(self.head.expect("the heads were just loaded"))
    }

    /// The journal's tree as it stood when the batch began, once the batch has read the heads (it has,
    /// if it appended to the journal).
    pub fn tree_start(&self) -> Option<crate::journal_log::TreeStart> {
        self.tree_start.clone()
    }

    /// Reads where the journal and the outbox end, once per batch, in one read.
    fn load_heads(&mut self) -> StoreResult<()> {
        let heads = self.conn.heads()?;
        self.tree_start.get_or_insert(crate::journal_log::TreeStart { size: heads.journal.0, frontier: heads.tree_frontier });
        self.head.get_or_insert(heads.journal);
        self.event_head.get_or_insert(heads.last_event_seq);
        Ok(())
    }

    /// Idempotency records made before `created_before`, oldest first.
    pub fn expired_idempotency(&mut self, created_before: Timestamp, limit: u32) -> StoreResult<Vec<(String, String)>> {
        self.conn.expired_idempotency(created_before, limit)
    }

    pub fn idempotency_record(&mut self, caller: &str, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        if let Some(record) = self.idempotency.get(&(caller.to_owned(), key.to_owned())) {
            return Ok(Some(record.clone()));
        }
        self.conn.idempotency_record(caller, key)
    }

    pub fn transfer(&mut self, id: &TransferId) -> StoreResult<Option<Transfer>> {
        if let Some(transfer) = self.transfers.get(id) {
            return Ok(Some(transfer.clone()));
        }
        let Some(transfer) = self.conn.transfer(id)? else { return Ok(None) };
        self.transfers.remember(id.clone(), transfer.clone());
        Ok(Some(transfer))
    }

    pub fn return_request(&mut self, id: &ReturnRequestId) -> StoreResult<Option<ReturnRequest>> {
        if let Some(request) = self.return_requests.get(id) {
            return Ok(Some(request.clone()));
        }
        let Some(request) = self.conn.return_request(id)? else { return Ok(None) };
        self.return_requests.remember(id.clone(), request.clone());
        Ok(Some(request))
    }

    /// Every request about one original transaction, in their state within the batch, oldest first.
    pub fn return_requests_for_txn(&mut self, txn_no: &TxnNo) -> StoreResult<Vec<ReturnRequest>> {
        let mut requests = self.conn.return_requests_for_txn(txn_no)?;
        for request in &mut requests {
            if let Some(current) = self.return_requests.get(&request.id) {
                *request = current.clone();
            }
        }
        for request in self.return_requests.values() {
            if &request.txn_no == txn_no && !requests.iter().any(|existing| existing.id == request.id) {
                requests.push(request.clone());
            }
        }
        Ok(requests)
    }

    /// What the corrections of a transaction have moved back, including those appended earlier in
    /// the batch.
    pub fn corrected_amount(&mut self, txn_no: &TxnNo) -> StoreResult<i64> {
        let in_batch: i64 = self
            .journal
            .iter()
            .filter(|(entry, _)| entry.txn.related().corrects_txn_no.as_ref() == Some(txn_no))
            .map(|(entry, _)| entry.txn.amount().minor_units())
            .sum();
        Ok(self.conn.corrected_amount(txn_no)? + in_batch)
    }

    /// The first entry of `kind` with an external `reference`, including those appended earlier in
    /// the batch.
    pub fn journal_entry_by_reference(&mut self, kind: hongbao_core::TxnKind, reference: &str) -> StoreResult<Option<JournalEntry>> {
        if let Some(stored) = self.conn.journal_entry_by_reference(kind, reference)? {
            return Ok(Some(stored));
        }
        let in_batch = self.journal.iter().find(|(entry, _)| entry.txn.kind() == kind && entry.txn.reference() == Some(reference));
        Ok(in_batch.map(|(entry, _)| entry.clone()))
    }

    /// A journal entry, including those appended earlier in the batch.
    pub fn journal_entry(&mut self, txn_no: &TxnNo) -> StoreResult<Option<JournalEntry>> {
        if let Some((entry, _)) = self.journal.iter().find(|(entry, _)| entry.txn.txn_no() == txn_no) {
            return Ok(Some(entry.clone()));
        }
        self.conn.journal_entry(txn_no)
    }

    /// A record by its key, in its state within the batch.
    pub fn record<R: Record>(&mut self, key: Value) -> StoreResult<Option<R>> {
        let slot_key = (R::TABLE.name, key.clone());
        if let Some((_, row)) = self.rows.get(&slot_key) {
            return R::from_row(row.clone()).map(Some);
        }
        if self.absent.contains(&slot_key) {
            return Ok(None);
        }
        let Some(row) = self.conn.select(&Query::by_key(R::TABLE, key))?.into_iter().next() else { return Ok(None) };
        self.rows.remember(slot_key, (R::TABLE, row.clone()));
        R::from_row(row).map(Some)
    }

    /// The records a query selects, in their state within the batch; those the batch created or
    /// changed so that they now match come after the stored ones.
    pub fn records<R: Record>(&mut self, query: &Query) -> StoreResult<Vec<R>> {
        let mut selected = Vec::new();
        let mut seen = HashSet::new();
        for row in self.conn.select(query)? {
            let key = (R::TABLE.name, row[0].clone());
            // Deleted earlier in the batch (or known not to exist).
            if self.absent.contains(&key) {
                continue;
            }
            let row = match self.rows.get(&key) {
                Some((_, current)) => current.clone(),
                None => row,
            };
            seen.insert(key);
            if query.matches(&row) {
                selected.push(row);
            }
        }
        for (key, (table, row)) in self.rows.entries() {
            if std::ptr::eq(*table, R::TABLE) && !seen.contains(key) && query.matches(row) {
                selected.push(row.clone());
            }
        }
        selected.into_iter().map(R::from_row).collect()
    }

    /// The next sequence number and the previous hash of the audit log.
    pub fn audit_head(&mut self) -> StoreResult<(u64, JournalHash)> {
        if let Some(head) = self.audit_head {
            return Ok(head);
        }
        let last = self.conn.select(&Query::newest_first(&records::AUDIT_LOG, 1))?.into_iter().next();
        let head = match last {
            Some(row) => {
                let entry = hongbao_core::staff::AuditEntry::from_row(row)?;
                (entry.seq, entry.hash)
            }
            None => (0, JournalHash::GENESIS),
        };
        self.audit_head = Some(head);
        Ok(head)
    }

    /// The last sequence number of the event outbox.
    pub fn event_head(&mut self) -> StoreResult<u64> {
        if let Some(head) = self.event_head {
            return Ok(head);
        }
        self.load_heads()?;
        Ok(self.event_head.expect("the heads were just loaded"))
    }

    /// A setting, including one written earlier in the batch.
    pub fn setting(&mut self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        if let Some((_, value)) = self.settings.iter().rev().find(|(name, _)| name == key) {
            return Ok(Some(value.clone()));
        }
        self.conn.setting(key)
    }

    /// The risk policy in force: the stored one, or the defaults when none is stored. A stored policy
    /// that no longer parses (it was valid when stored) keeps the defaults and says so in the log.
    pub fn policy(&mut self) -> StoreResult<Arc<RiskPolicy>> {
        if let Some(policy) = &self.policy {
            return Ok(policy.clone());
        }
        let text = self.setting(POLICY_SETTING)?;
        if text != self.policy_cache.text {
            let parsed = match &text {
                None => RiskPolicy::default(),
                Some(bytes) => crate::policy::parse_policy(&String::from_utf8_lossy(bytes)).unwrap_or_else(|error| {
                    tracing::error!(%error, "the stored risk policy does not parse; the defaults apply");
                    RiskPolicy::default()
                }),
            };
            self.policy_cache.policy = Arc::new(parsed);
            self.policy_cache.text = text;
        }
        let policy = self.policy_cache.policy.clone();
        self.policy = Some(policy.clone());
        Ok(policy)
    }

    /// The users a journal entry concerns, including one appended earlier in the batch.
    pub fn txn_parties(&mut self, entry: &JournalEntry) -> StoreResult<Vec<UserId>> {
        if let Some((_, parties)) = self.journal.iter().find(|(appended, _)| appended.seq == entry.seq) {
            return Ok(parties.clone());
        }
        self.conn.txn_parties(entry.seq)
    }

    /// Loads at once what the batch's operations will ask, in one round trip on a server database:
    /// each packet named, with who among its claimers (when it is claimed) already claimed it and who
    /// belongs to its group; and the records of type `R` with these keys.
    pub fn prefetch<R: Record>(&mut self, named: &[(PacketId, Option<UserId>)], keys: Vec<Value>) -> StoreResult<()> {
        let mut packets: Vec<(PacketId, Vec<UserId>)> = Vec::new();
        let mut positions: HashMap<&PacketId, usize> = HashMap::new();
        for (packet_id, user_id) in named {
            if self.packets.contains_key(packet_id) {
                continue;
            }
            let position = *positions.entry(packet_id).or_insert_with(|| {
                packets.push((packet_id.clone(), Vec::new()));
                packets.len() - 1
            });
            packets[position].1.extend(user_id.iter().cloned());
        }
        let keys: Vec<Value> = keys.into_iter().filter(|key| self.rows.get(&(R::TABLE.name, key.clone())).is_none()).collect();
        let queries = if keys.is_empty() { Vec::new() } else { vec![Query::by_keys(R::TABLE, keys.clone())] };
        if packets.is_empty() && queries.is_empty() {
            return Ok(());
        }
        let prefetched = self.conn.prefetch(&packets, &queries)?;
        for ((packet_id, users), context) in packets.into_iter().zip(prefetched.contexts) {
            let Some(context) = context else { continue };
            let group_id = context.packet.audience.group_id().cloned();
            self.balances.entry(Account::Wallet(context.packet.sender_id.clone())).or_insert(context.sender_balance);
            self.remember_packet(context.packet);
            let claimed: HashSet<UserId> = context.claimed.into_iter().collect();
            let members: HashSet<UserId> = context.members.into_iter().collect();
            for (user, balance) in users.iter().zip(context.wallet_balances) {
                self.balances.entry(Account::Wallet(user.clone())).or_insert(balance);
            }
            for user in users {
                let key = (packet_id.clone(), user.clone());
                if claimed.contains(&user) {
                    self.claimed.insert(key);
                } else {
                    self.checked_unclaimed.insert(key);
                }
                if let Some(group_id) = &group_id {
                    let is_member = members.contains(&user);
                    self.membership.entry((group_id.clone(), user)).or_insert(is_member);
                }
            }
        }
        if let Some(rows) = prefetched.rows.into_iter().next() {
            let mut missing: HashSet<Value> = keys.into_iter().collect();
            for row in rows {
                missing.remove(&row[0]);
                self.rows.remember((R::TABLE.name, row[0].clone()), (R::TABLE, row));
            }
            self.absent.extend(missing.into_iter().map(|key| (R::TABLE.name, key)));
        }
        Ok(())
    }

    // ---- writes ----

    pub fn put_setting(&mut self, key: &str, value: &[u8]) {
        if key == POLICY_SETTING {
            self.policy = None;
        }
        self.settings.push((key.to_owned(), value.to_vec()));
    }

    pub fn insert_user(&mut self, user: User, token_hash: [u8; 32]) {
        self.users.push((user, token_hash));
    }

    /// Replaces a user's token: from the commit on, only the token with this hash is theirs.
    pub fn replace_token(&mut self, user_id: &UserId, token_hash: [u8; 32]) {
        self.user_tokens.push((user_id.clone(), token_hash));
    }

    /// Deletes an idempotency record (an expired one).
    pub fn delete_idempotency_record(&mut self, caller: &str, key: &str) {
        self.deleted_idempotency.push((caller.to_owned(), key.to_owned()));
    }

    /// Deletes a record; reads later in the batch no longer find it.
    pub fn delete_record<R: Record>(&mut self, key: Value) {
        let slot_key = (R::TABLE.name, key.clone());
        let previous = self.rows.slots.remove(&slot_key);
        if previous.is_some()
            && let Some(position) = self.rows.order.iter().rposition(|known| known == &slot_key)
        {
            self.rows.order.remove(position);
        }
        let was_absent = !self.absent.insert(slot_key.clone());
        self.undo.push(Undo::RowDeleted(RowDeleted { key: slot_key, previous, was_absent }));
        self.deleted_rows.push((R::TABLE, key));
    }

    /// Gives an existing user (or one created earlier in the batch) a new display name.
    pub fn rename_user(&mut self, user_id: &UserId, name: String) {
        self.user_names.push((user_id.clone(), name));
    }

    pub fn insert_group(&mut self, group: Group) {
        self.new_groups.push(group);
    }

    pub fn set_membership(&mut self, group_id: &GroupId, user_id: &UserId, member: bool) {
        let key = (group_id.clone(), user_id.clone());
        let previous = self.membership.insert(key.clone(), member);
        self.undo.push(Undo::Membership { key, previous });
        if let Some(group) = self.new_groups.iter_mut().find(|group| &group.id == group_id) {
            self.undo.push(Undo::NewGroupMembers { group_id: group_id.clone(), previous: group.member_ids.clone() });
            group.member_ids.retain(|existing| existing != user_id);
            if member {
                group.member_ids.push(user_id.clone());
            }
            return;
        }
        if let Some(count) = self.member_counts.get_mut(group_id) {
            self.undo.push(Undo::MemberCount { group_id: group_id.clone(), previous: *count });
            if member {
                *count += 1;
            } else {
                *count -= 1;
            }
        }
        self.membership_log.push((group_id.clone(), user_id.clone(), member));
    }

    pub fn insert_packet(&mut self, packet: Packet, shares: Vec<Amount>) {
        self.undo.push(Undo::PacketInserted(packet.id.clone()));
        let shares = Arc::new(shares);
        self.share_cache.insert(packet.id.clone(), shares.clone());
        self.packet_order.push(packet.id.clone());
        self.packets.insert(packet.id.clone(), PacketSlot { packet, new_shares: Some(shares), changed: true });
    }

    pub fn update_packet(&mut self, packet: Packet) {
        let slot = self.packets.get_mut(&packet.id).expect("a packet is read before it is updated");
        let previous = std::mem::replace(&mut slot.packet, packet);
        let previous_changed = std::mem::replace(&mut slot.changed, true);
        self.undo.push(Undo::PacketUpdated { previous, previous_changed });
    }

    pub fn insert_claim(&mut self, packet_id: &PacketId, index: u32, claim: Claim) {
        let key = (packet_id.clone(), claim.user_id.clone());
        if self.claimed.insert(key.clone()) {
            self.undo.push(Undo::Claimed(key));
        }
        self.new_claims.push((packet_id.clone(), index, claim));
    }

    /// Appends an entry whose postings the caller checked, and applies them to the balances.
    pub fn append_journal(&mut self, entry: JournalEntry, parties: Vec<UserId>) -> StoreResult<()> {
        for posting in entry.txn.postings() {
            *self.deltas.entry(posting.account.clone()).or_default() += posting.amount;
        }
        self.head = Some((entry.seq, entry.hash));
        self.journal.push((entry, parties));
        Ok(())
    }

    pub fn insert_transfer(&mut self, transfer: Transfer) {
        let undo = self.transfers.insert(transfer.id.clone(), transfer);
        self.undo.push(Undo::Transfer(undo));
    }

    pub fn update_transfer(&mut self, transfer: Transfer) {
        let undo = self.transfers.update(&transfer.id.clone(), transfer);
        self.undo.push(Undo::Transfer(undo));
    }

    pub fn insert_return_request(&mut self, request: ReturnRequest) {
        let undo = self.return_requests.insert(request.id.clone(), request);
        self.undo.push(Undo::ReturnRequest(undo));
    }

    pub fn update_return_request(&mut self, request: ReturnRequest) {
        let undo = self.return_requests.update(&request.id.clone(), request);
        self.undo.push(Undo::ReturnRequest(undo));
    }

    /// Writes a record: a new one, or the new state of one read earlier in the batch.
    pub fn put_record<R: Record>(&mut self, record: &R) {
        let row = record.to_row();
        let key = (R::TABLE.name, row[0].clone());
        let was_absent = self.absent.remove(&key);
        let undo = if self.rows.get(&key).is_some() { self.rows.update(&key, (R::TABLE, row)) } else { self.rows.insert(key, (R::TABLE, row)) };
        self.undo.push(Undo::Row { undo, was_absent });
    }

    /// Appends an audit entry and moves the head past it.
    pub fn append_audit(&mut self, entry: hongbao_core::staff::AuditEntry) {
        self.audit_head = Some((entry.seq, entry.hash));
        self.put_record(&entry);
    }

    /// Appends an event and moves the head past it.
    pub fn append_event(&mut self, event: hongbao_core::events::Event) {
        self.event_head = Some(event.seq);
        self.events.push(event);
    }

    pub fn put_idempotency_record(&mut self, caller: &str, key: &str, record: IdempotencyRecord) {
        let id = (caller.to_owned(), key.to_owned());
        let previous = self.idempotency.insert(id.clone(), record);
        if previous.is_none() {
            self.idempotency_order.push(id.clone());
        }
        self.undo.push(Undo::Idempotency { key: id, previous });
    }

    /// The batch's changes, for the backend to apply.
    pub fn into_changes(mut self) -> (Changes, &'a mut dyn WriteConn) {
        let mut new_packets = Vec::new();
        let mut updated_packets = Vec::new();
        for id in &self.packet_order {
            let slot = self.packets.remove(id).expect("every ordered packet has a slot");
            if let Some(shares) = slot.new_shares {
                new_packets.push((slot.packet, Arc::unwrap_or_clone(shares)));
            } else if slot.changed {
                updated_packets.push(slot.packet);
            }
        }
        let idempotency = self
            .idempotency_order
            .into_iter()
            .map(|(caller, key)| {
                let record = self.idempotency.remove(&(caller.clone(), key.clone())).expect("every ordered key has a record");
                (caller, key, record)
            })
            .collect();
        let (new_transfers, updated_transfers) = self.transfers.into_changes();
        let (new_return_requests, updated_return_requests) = self.return_requests.into_changes();
        let (new_rows, changed_rows) = self.rows.into_changes();
        let changes = Changes {
            settings: self.settings,
            users: self.users,
            user_tokens: self.user_tokens,
            deleted_idempotency: self.deleted_idempotency,
            deleted_rows: self.deleted_rows,
            user_names: self.user_names,
            groups: self.new_groups,
            memberships: self.membership_log,
            new_packets,
            updated_packets,
            claims: self.new_claims,
            journal: self.journal,
            balance_deltas: self.deltas.into_iter().filter(|(_, delta)| *delta != 0).collect(),
            idempotency,
            new_transfers,
            updated_transfers,
            new_return_requests,
            updated_return_requests,
            events: self.events,
            rows: new_rows.into_iter().chain(changed_rows).collect(),
            // The writer appends the journal's new entries to the tree (`journal_log::append_to_tree`).
            tree_nodes: Vec::new(),
        };
        (changes, self.conn)
    }
}

#[cfg(test)]
mod tests {
    //! A discarded scope leaves the batch exactly as it was before the scope opened: the changes of a
    //! batch whose middle operations were discarded equal those of a batch that never ran them.

    use hongbao_core::packet::PacketSpec;
    use hongbao_core::transfer::Arrival;
    use hongbao_core::{Amount, GroupId, PacketId, Timestamp, UserId};
    use hongbao_testkit::TestDatabase;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::{Batch, PolicyCache, ShareCache};
    use crate::config::Config;
    use crate::context::{Effects, OpContext};
    use crate::op::Op;
    use crate::ops::risk::RiskOp;
    use crate::outcome::Outcome;

    fn run(batch: &mut Batch<'_>, seed: u64, ops: Vec<Op>) -> Vec<Outcome> {
        let config = Config::default();
        let mut rng = StdRng::seed_from_u64(seed);
        let now = Timestamp::from_millis(1_800_000_000_000);
        let mut context = OpContext { batch, now, rng: &mut rng, config: &config, effects: Effects::default(), key: None };
        ops.into_iter().map(|op| context.run(op).expect("the operation succeeds")).collect()
    }

    fn user(outcome: &Outcome) -> UserId {
        let Outcome::UserCreated { user, .. } = outcome else { panic!("not a user: {outcome:?}") };
        user.id.clone()
    }

    /// Runs a batch: users, a group, a lucky packet and a claim kept; then, when `discard` is set, a
    /// scope with writes of every kind that is thrown away; then one more claim kept. Returns the
    /// batch's changes, as text.
    fn changes(discard: bool) -> String {
        let database = TestDatabase::sqlite();
        let store = database.store();
        store.migrate().expect("migrate");
        let mut conn = store.open_writer().expect("a writer");
        conn.begin().expect("begin");
        let (mut shares, mut policy) = (ShareCache::default(), PolicyCache::default());
        let mut batch = Batch::new(conn.as_mut(), &mut shares, &mut policy);

        let scope = batch.open_scope();
        let names = ["alice", "bob", "carol"].map(|name| Op::CreateUser { name: name.into() });
        let users: Vec<UserId> = run(&mut batch, 1, names.into()).iter().map(user).collect();
        let (alice, bob, carol) = (users[0].clone(), users[1].clone(), users[2].clone());
        let ops = vec![
            Op::TopUp { user_id: alice.clone(), amount: Amount::new(100_00).expect("an amount"), reference: "bank-1".into() },
            Op::CreateGroup { owner_id: alice.clone(), name: "family".into(), member_ids: vec![bob.clone(), carol.clone()] },
        ];
        let Outcome::Group(group) = &run(&mut batch, 2, ops)[1] else { panic!("not a group") };
        let group_id: GroupId = group.id.clone();
        let spec = PacketSpec::Lucky { group_id: group_id.clone(), total_amount: Amount::new(10_00).expect("an amount"), shares: 3 };
        let sent = run(&mut batch, 3, vec![Op::SendPacket { sender_id: alice.clone(), spec, greeting: None, confirmation: None }]);
        let Outcome::Packet(view) = &sent[0] else { panic!("not a packet") };
        let packet_id: PacketId = view.packet.id.clone();
        run(&mut batch, 4, vec![Op::Claim { packet_id: packet_id.clone(), user_id: bob.clone() }]);
        assert!(batch.scope_wrote(&scope));
        batch.close_scope(scope);

        if discard {
            let scope = batch.open_scope();
            let ops = vec![
                Op::CreateUser { name: "dave".into() },
                Op::Claim { packet_id: packet_id.clone(), user_id: carol.clone() },
                Op::SendTransfer {
                    sender_id: alice.clone(),
                    recipient_id: bob.clone(),
                    amount: Amount::new(5_00).expect("an amount"),
                    memo: Some("lunch".into()),
                    arrival: Arrival::Instant,
                    confirmation: None,
                },
                Op::RemoveMember { group_id: group_id.clone(), by: alice.clone(), user_id: carol.clone() },
                Op::Risk(RiskOp::SetTag { owner_id: alice.clone(), target_id: bob.to_string(), tag: "family".into() }),
                Op::Recall { packet_id: packet_id.clone(), user_id: alice.clone() },
                Op::SetAdminTokenHash { token_hash: [7; 32] },
            ];
            run(&mut batch, 5, ops);
            assert!(batch.scope_wrote(&scope));
            batch.discard_scope(scope);
        }

        let scope = batch.open_scope();
        run(&mut batch, 6, vec![Op::Claim { packet_id, user_id: carol }]);
        batch.close_scope(scope);
        let (changes, _) = batch.into_changes();
        format!("{changes:?}")
    }

    #[test]
    fn a_discarded_scope_leaves_nothing_behind() {
        assert_eq!(changes(true), changes(false));
    }
}
