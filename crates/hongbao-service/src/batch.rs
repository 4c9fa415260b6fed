//! The unit of work of one batch: a read-through overlay on the write connection that holds every
//! change in memory until the writer applies them all at once.
//!
//! Operations read through it and see their own and earlier operations' changes; they write only to
//! it. The batch's transaction holds the database's write lock from the start, so anything read from
//! the database can be cached for the rest of the batch. An operation must make every check that can
//! refuse it before its first write; the writer treats a refusal after a write as a bug and abandons
//! the batch rather than commit half an operation.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use hongbao_core::packet::Packet;
use hongbao_core::returns::ReturnRequest;
use hongbao_core::risk::RiskPolicy;
use hongbao_core::transfer::Transfer;
use hongbao_core::{Account, Amount, GroupId, JournalHash, PacketId, ReturnRequestId, TransferId, TxnNo, UserId};
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

    fn insert(&mut self, key: K, value: T) {
        self.order.push(key.clone());
        self.slots.insert(key, Slot { value, is_new: true, changed: true });
    }

    fn update(&mut self, key: &K, value: T) {
        let slot = self.slots.get_mut(key).expect("a record is read before it is updated");
        slot.value = value;
        slot.changed = true;
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
    /// Writes made by the operation running now.
    pub(crate) writes_in_operation: usize,
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
            idempotency: HashMap::new(),
            idempotency_order: Vec::new(),
            transfers: Records::new(),
            return_requests: Records::new(),
            rows: Records::new(),
            absent: HashSet::new(),
            audit_head: None,
            event_head: None,
            events: Vec::new(),
            writes_in_operation: 0,
        }
    }

    // ---- reads ----

    pub fn user(&mut self, id: &UserId) -> StoreResult<Option<User>> {
        if let Some((user, _)) = self.users.iter().find(|(user, _)| &user.id == id) {
            return Ok(Some(user.clone()));
        }
        self.conn.user(id)
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

    /// Reads where the journal and the outbox end, once per batch, in one read.
    fn load_heads(&mut self) -> StoreResult<()> {
        let heads = self.conn.heads()?;
        self.head.get_or_insert(heads.journal);
        self.event_head.get_or_insert(heads.last_event_seq);
        Ok(())
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
            self.remember_packet(context.packet);
            let claimed: HashSet<UserId> = context.claimed.into_iter().collect();
            let members: HashSet<UserId> = context.members.into_iter().collect();
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

    fn wrote(&mut self) {
        self.writes_in_operation += 1;
    }

    pub fn put_setting(&mut self, key: &str, value: &[u8]) {
        self.wrote();
        if key == POLICY_SETTING {
            self.policy = None;
        }
        self.settings.push((key.to_owned(), value.to_vec()));
    }

    pub fn insert_user(&mut self, user: User, token_hash: [u8; 32]) {
        self.wrote();
        self.users.push((user, token_hash));
    }

    pub fn insert_group(&mut self, group: Group) {
        self.wrote();
        self.new_groups.push(group);
    }

    pub fn set_membership(&mut self, group_id: &GroupId, user_id: &UserId, member: bool) {
        self.wrote();
        self.membership.insert((group_id.clone(), user_id.clone()), member);
        if let Some(group) = self.new_groups.iter_mut().find(|group| &group.id == group_id) {
            group.member_ids.retain(|existing| existing != user_id);
            if member {
                group.member_ids.push(user_id.clone());
            }
            return;
        }
        if let Some(count) = self.member_counts.get_mut(group_id) {
            if member {
                *count += 1;
            } else {
                *count -= 1;
            }
        }
        self.membership_log.push((group_id.clone(), user_id.clone(), member));
    }

    pub fn insert_packet(&mut self, packet: Packet, shares: Vec<Amount>) {
        self.wrote();
        let shares = Arc::new(shares);
        self.share_cache.insert(packet.id.clone(), shares.clone());
        self.packet_order.push(packet.id.clone());
        self.packets.insert(packet.id.clone(), PacketSlot { packet, new_shares: Some(shares), changed: true });
    }

    pub fn update_packet(&mut self, packet: Packet) {
        self.wrote();
        let slot = self.packets.get_mut(&packet.id).expect("a packet is read before it is updated");
        slot.packet = packet;
        slot.changed = true;
    }

    pub fn insert_claim(&mut self, packet_id: &PacketId, index: u32, claim: Claim) {
        self.wrote();
        self.claimed.insert((packet_id.clone(), claim.user_id.clone()));
        self.new_claims.push((packet_id.clone(), index, claim));
    }

    /// Appends an entry whose postings the caller checked, and applies them to the balances.
    pub fn append_journal(&mut self, entry: JournalEntry, parties: Vec<UserId>) -> StoreResult<()> {
        for posting in entry.txn.postings() {
            *self.deltas.entry(posting.account.clone()).or_default() += posting.amount;
        }
        self.wrote();
        self.head = Some((entry.seq, entry.hash));
        self.journal.push((entry, parties));
        Ok(())
    }

    pub fn insert_transfer(&mut self, transfer: Transfer) {
        self.wrote();
        self.transfers.insert(transfer.id.clone(), transfer);
    }

    pub fn update_transfer(&mut self, transfer: Transfer) {
        self.wrote();
        self.transfers.update(&transfer.id.clone(), transfer);
    }

    pub fn insert_return_request(&mut self, request: ReturnRequest) {
        self.wrote();
        self.return_requests.insert(request.id.clone(), request);
    }

    pub fn update_return_request(&mut self, request: ReturnRequest) {
        self.wrote();
        self.return_requests.update(&request.id.clone(), request);
    }

    /// Writes a record: a new one, or the new state of one read earlier in the batch.
    pub fn put_record<R: Record>(&mut self, record: &R) {
        self.wrote();
        let row = record.to_row();
        let key = (R::TABLE.name, row[0].clone());
        self.absent.remove(&key);
        if self.rows.get(&key).is_some() {
            self.rows.update(&key, (R::TABLE, row));
        } else {
            self.rows.insert(key, (R::TABLE, row));
        }
    }

    /// Appends an audit entry and moves the head past it.
    pub fn append_audit(&mut self, entry: hongbao_core::staff::AuditEntry) {
        self.audit_head = Some((entry.seq, entry.hash));
        self.put_record(&entry);
    }

    /// Appends an event and moves the head past it.
    pub fn append_event(&mut self, event: hongbao_core::events::Event) {
        self.wrote();
        self.event_head = Some(event.seq);
        self.events.push(event);
    }

    pub fn put_idempotency_record(&mut self, caller: &str, key: &str, record: IdempotencyRecord) {
        self.wrote();
        let id = (caller.to_owned(), key.to_owned());
        if self.idempotency.insert(id.clone(), record).is_none() {
            self.idempotency_order.push(id);
        }
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
        };
        (changes, self.conn)
    }
}
