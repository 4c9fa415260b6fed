//! The simulation's model: what it knows independently of the service (the money that came in and
//! went out, what was acknowledged, when the scheduler ran), a snapshot of the durable state read
//! through the service after every step, and the checks of one against the other.
//!
//! Checked after every step:
//! - money is conserved: wallets, escrows and holds together hold exactly what acknowledged top-ups
//!   brought in less what acknowledged withdrawals took out, the funding and payout accounts mirror
//!   them, and no wallet, escrow or hold is negative;
//! - every acknowledged transaction and record is durable, the journal and the outbox only grow (the
//!   previous step's are a prefix of this one's, hash for hash), and a finished packet, transfer or
//!   return request never changes again;
//! - every deadline fired once and on time: nothing is left open past its deadline once the scheduler
//!   has looked, nothing fired before its deadline, and each fired no later than the scheduler's first
//!   successful look at or after it (packet expiry, transfer arrival and acceptance deadline, return
//!   request deadline); no claim was accepted at or after its packet's `expires_at`;
//! - every event was written once: the outbox numbers events without gaps, and each packet, claim,
//!   transfer and return request has exactly the events its state implies, no more;
//! - no payment is given back beyond its amount, by returns, case refunds and reversals together;
//! - the service's own `verify` is clean;
//! - reads that depend on the time agree with the records: each wallet's frozen part with its
//!   freezes, the overdue cases with their deadlines.

use std::collections::{BTreeMap, BTreeSet};

use hongbao_core::cases::Complaint;
use hongbao_core::events::{Event, EventKind};
use hongbao_core::freeze::{Freeze, Restriction};
use hongbao_core::legal::{CaseRefund, Reversal};
use hongbao_core::packet::Packet;
use hongbao_core::returns::{ReturnRequest, ReturnRequestStatus};
use hongbao_core::transfer::{Transfer, TransferStatus};
use hongbao_core::{Account, Amount, PacketStatus, Timestamp, TxnKind, TxnNo, UserId};
use hongbao_service::reads::CaseFilter;
use hongbao_service::verify::VerifyReport;
use hongbao_service::{Clock, ManualClock, Outcome, Principal, Service};
use hongbao_store::records::{self, Query};
use hongbao_store::{Claim, JournalEntry};

type Checked<T> = Result<T, String>;

/// A settled payment that may be asked back, complained about or reversed.
#[derive(Clone, Debug)]
pub struct Payment {
    pub txn_no: TxnNo,
    pub payer: UserId,
    pub amount: Amount,
}

/// What the simulation knows on its own.
#[derive(Default)]
pub struct Model {
    money_in: i64,
    money_out: i64,
    /// Top-ups and withdrawals already counted, so that an answer given again is not counted twice.
    counted: BTreeSet<TxnNo>,
    /// Every transaction an answer acknowledged.
    acknowledged_txns: BTreeSet<TxnNo>,
    /// Every record an answer acknowledged, by id.
    acknowledged_records: BTreeSet<String>,
    /// When the scheduler looked and carried out everything due, in order.
    timer_runs: Vec<Timestamp>,
    /// The packets, transfers and return requests seen finished, with what they looked like.
    finished: BTreeMap<String, String>,
}

impl Model {
    pub fn acknowledge_entry(&mut self, entry: &JournalEntry) {
        let txn_no = entry.txn.txn_no().clone();
        if self.counted.insert(txn_no.clone()) {
            match entry.txn.kind() {
                TxnKind::TopUp => self.money_in += entry.txn.amount().minor_units(),
                TxnKind::Withdrawal => self.money_out += entry.txn.amount().minor_units(),
                _ => {}
            }
        }
        self.acknowledged_txns.insert(txn_no);
    }

    pub fn acknowledge(&mut self, outcome: &Outcome) {
        let mut txns: Vec<TxnNo> = Vec::new();
        match outcome {
            Outcome::Posted(entry) => self.acknowledge_entry(entry),
            Outcome::Packet(view) => {
                self.acknowledged_records.insert(view.packet.id.to_string());
                txns.push(view.packet.send_txn_no.clone());
                txns.extend(view.packet.refund_txn_no.clone());
            }
            Outcome::Claimed { claim, .. } => txns.push(claim.txn_no.clone()),
            Outcome::Transfer(transfer) => {
                self.acknowledged_records.insert(transfer.id.to_string());
                txns.extend(transfer.txn_nos.iter().cloned());
            }
            Outcome::ReturnRequest(request) => {
                self.acknowledged_records.insert(request.id.to_string());
                txns.extend(request.return_txn_no.clone());
            }
            Outcome::Complaint(complaint) => {
                self.acknowledged_records.insert(complaint.id.to_string());
            }
            Outcome::Freeze(freeze) => {
                self.acknowledged_records.insert(freeze.id.to_string());
            }
            Outcome::Reversal(reversal) => {
                self.acknowledged_records.insert(reversal.id.to_string());
                txns.extend(reversal.reversal_txn_no.clone());
            }
            Outcome::CaseRefund(refund) => {
                self.acknowledged_records.insert(refund.id.to_string());
                txns.extend(refund.refund_txn_no.clone());
            }
            _ => {}
        }
        self.acknowledged_txns.extend(txns);
    }

    /// The scheduler looked at `at` and carried out everything due.
    pub fn timers_ran(&mut self, at: Timestamp) {
        self.timer_runs.push(at);
    }

    fn last_timer_run(&self) -> Option<Timestamp> {
        self.timer_runs.last().copied()
    }

    /// A deadline's step fired at `fired_at`: not before the deadline, and no later than the first
    /// successful look of the scheduler at or after it.
    fn on_time(&self, what: &str, deadline: Timestamp, fired_at: Timestamp) -> Checked<()> {
        if fired_at < deadline {
            return Err(format!("{what} fired at {} ms, before its deadline {} ms", fired_at.millis(), deadline.millis()));
        }
        if let Some(first_look) = self.timer_runs.iter().find(|run| **run >= deadline)
            && fired_at > *first_look
        {
            return Err(format!(
                "{what} fired at {} ms, later than the scheduler's look at {} ms after its deadline {} ms",
                fired_at.millis(),
                first_look.millis(),
                deadline.millis()
            ));
        }
        Ok(())
    }

    /// Checks a snapshot against the model and against the snapshot of the step before.
    pub fn check(&mut self, snapshot: &Snapshot, before: Option<&Snapshot>) -> Checked<()> {
        self.check_money(snapshot)?;
        self.check_durable(snapshot)?;
        if let Some(before) = before {
            check_prefix(before, snapshot, "from one step to the next")?;
        }
        self.check_packets(snapshot)?;
        self.check_transfers(snapshot)?;
        self.check_requests(snapshot)?;
        check_corrections(snapshot)?;
        check_events(snapshot)?;
        self.check_finished(snapshot)?;
        // The service's own check comes last, so that the model's checks are the ones that find what
        // both would.
        if let Some(first) = snapshot.report.discrepancies.first() {
            return Err(format!("verify: {first} ({} discrepancies)", snapshot.report.discrepancies.len()));
        }
        Ok(())
    }

    fn check_money(&self, snapshot: &Snapshot) -> Checked<()> {
        let mut held: i128 = 0;
        for (account, balance) in &snapshot.balances {
            let users_side = account.starts_with("wallet:") || account.starts_with("escrow:") || account.starts_with("hold:");
            if users_side {
                held += i128::from(*balance);
                if *balance < 0 {
                    return Err(format!("{account} is negative: {balance}"));
                }
            }
        }
        let expected = i128::from(self.money_in) - i128::from(self.money_out);
        if held != expected {
            return Err(format!(
                "money is not conserved: wallets, escrows and holds hold {held}, but {} came in and {} went out",
                self.money_in, self.money_out
            ));
        }
        let funding = snapshot.balances.get("platform:funding").copied().unwrap_or(0);
        let payout = snapshot.balances.get("platform:payout").copied().unwrap_or(0);
        if funding != -self.money_in || payout != self.money_out {
            return Err(format!("the platform's accounts are funding {funding} and payout {payout}, not -{} and {}", self.money_in, self.money_out));
        }
        Ok(())
    }

    fn check_durable(&self, snapshot: &Snapshot) -> Checked<()> {
        let journal: BTreeSet<&TxnNo> = snapshot.journal.iter().map(|entry| entry.txn.txn_no()).collect();
        if let Some(missing) = self.acknowledged_txns.iter().find(|txn_no| !journal.contains(txn_no)) {
            return Err(format!("acknowledged transaction {missing} is not in the journal"));
        }
        let records = snapshot.record_ids();
        if let Some(missing) = self.acknowledged_records.iter().find(|id| !records.contains(id.as_str())) {
            return Err(format!("acknowledged record {missing} is gone"));
        }
        Ok(())
    }

    fn check_packets(&self, snapshot: &Snapshot) -> Checked<()> {
        let refunds = count_entries(snapshot, TxnKind::PacketRefund, |entry| entry.txn.related().packet_id.as_ref().map(ToString::to_string));
        for (packet, claims) in &snapshot.packets {
            let id = packet.id.to_string();
            let escrow = snapshot.balances.get(&Account::PacketEscrow(packet.id.clone()).to_string()).copied().unwrap_or(0);
            let claimed: i64 = claims.iter().map(|claim| claim.amount.minor_units()).sum();
            if claimed != packet.claimed_amount.minor_units() || claims.len() != packet.claimed_count as usize {
                return Err(format!("packet {id}: its claims sum to {claimed} in {} claims, the packet says {:?}", claims.len(), packet));
            }
            if claimed + packet.refunded_amount.minor_units() + escrow != packet.total_amount.minor_units() {
                return Err(format!(
                    "packet {id}: claimed {claimed} + refunded {} + escrow {escrow} is not its total {}",
                    packet.refunded_amount, packet.total_amount
                ));
            }
            let claimers: BTreeSet<&UserId> = claims.iter().map(|claim| &claim.user_id).collect();
            if claimers.len() != claims.len() {
                return Err(format!("packet {id}: someone claimed twice"));
            }
            for claim in claims {
                if claim.claimed_at >= packet.expires_at {
                    return Err(format!(
                        "packet {id}: a claim by {} was accepted at {} ms, at or after the packet expired at {} ms",
                        claim.user_id,
                        claim.claimed_at.millis(),
                        packet.expires_at.millis()
                    ));
                }
            }
            let refund_entries = refunds.get(&id).copied().unwrap_or(0);
            if refund_entries > 1 || (refund_entries == 1) == packet.refunded_amount.is_zero() {
                return Err(format!("packet {id}: {refund_entries} refund transactions for a refund of {}", packet.refunded_amount));
            }
            match packet.status {
                PacketStatus::Open => {
                    if escrow == 0 {
                        return Err(format!("packet {id} is open with an empty escrow"));
                    }
                    if let Some(looked) = self.last_timer_run()
                        && packet.expires_at <= looked
                    {
                        return Err(format!(
                            "packet {id} is still open past its expiry at {} ms; the scheduler looked at {} ms",
                            packet.expires_at.millis(),
                            looked.millis()
                        ));
                    }
                }
                PacketStatus::Expired => {
                    let fired_at = packet.finished_at.ok_or_else(|| format!("packet {id} expired without a time"))?;
                    self.on_time(&format!("the expiry of packet {id}"), packet.expires_at, fired_at)?;
                }
                _ if escrow != 0 => return Err(format!("packet {id} is {} with {escrow} left in its escrow", packet.status.as_str())),
                _ => {}
            }
        }
        Ok(())
    }

    fn check_transfers(&self, snapshot: &Snapshot) -> Checked<()> {
        let releases = count_entries(snapshot, TxnKind::TransferSettle, |entry| entry.txn.related().transfer_id.as_ref().map(ToString::to_string));
        let refunds = count_entries(snapshot, TxnKind::TransferRefund, |entry| entry.txn.related().transfer_id.as_ref().map(ToString::to_string));
        for transfer in &snapshot.transfers {
            let id = transfer.id.to_string();
            let hold = snapshot.balances.get(&Account::TransferHold(transfer.id.clone()).to_string()).copied().unwrap_or(0);
            let moved = releases.get(&id).copied().unwrap_or(0) + refunds.get(&id).copied().unwrap_or(0);
            let looked = self.last_timer_run();
            match transfer.status {
                TransferStatus::Pending | TransferStatus::Accepted => {
                    if hold != transfer.amount.minor_units() || moved != 0 {
                        return Err(format!("open transfer {id}: its hold holds {hold} of {} and its money moved {moved} times", transfer.amount));
                    }
                    let deadline = if transfer.status == TransferStatus::Pending { transfer.accept_by } else { transfer.arrives_at };
                    if let Some(looked) = looked
                        && deadline <= looked
                    {
                        return Err(format!(
                            "transfer {id} is still {} past its deadline at {} ms; the scheduler looked at {} ms",
                            transfer.status.as_str(),
                            deadline.millis(),
                            looked.millis()
                        ));
                    }
                }
                status => {
                    if hold != 0 || moved != 1 || transfer.txn_nos.len() != 2 {
                        return Err(format!("finished transfer {id} ({}): its hold holds {hold} and its money moved {moved} times", status.as_str()));
                    }
                    let finished_at = transfer.finished_at.ok_or_else(|| format!("transfer {id} finished without a time"))?;
                    match status {
                        TransferStatus::Settled => {
                            let settled_at = transfer.settled_at.ok_or_else(|| format!("transfer {id} settled without a time"))?;
                            let accepted_at = transfer.accepted_at.ok_or_else(|| format!("transfer {id} settled without being accepted"))?;
                            if settled_at < transfer.arrives_at {
                                return Err(format!(
                                    "transfer {id} settled at {} ms, before it may arrive at {} ms",
                                    settled_at.millis(),
                                    transfer.arrives_at.millis()
                                ));
                            }
                            // Accepted after its arrival time, it settles at once; before it, the timer settles it.
                            if settled_at != accepted_at {
                                self.on_time(&format!("the arrival of transfer {id}"), transfer.arrives_at, settled_at)?;
                            }
                        }
                        TransferStatus::Expired => self.on_time(&format!("the acceptance deadline of transfer {id}"), transfer.accept_by, finished_at)?,
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }

    fn check_requests(&self, snapshot: &Snapshot) -> Checked<()> {
        for request in &snapshot.requests {
            let id = request.id.to_string();
            match request.status {
                ReturnRequestStatus::Pending => {
                    if let Some(looked) = self.last_timer_run()
                        && request.respond_by <= looked
                    {
                        return Err(format!(
                            "return request {id} is still pending past {} ms; the scheduler looked at {} ms",
                            request.respond_by.millis(),
                            looked.millis()
                        ));
                    }
                }
                ReturnRequestStatus::Expired => {
                    let fired_at = snapshot
                        .events
                        .iter()
                        .find(|event| event.kind == EventKind::ReturnRequestExpired && event.subject_id == id)
                        .map(|event| event.created_at)
                        .ok_or_else(|| format!("return request {id} expired without telling anyone"))?;
                    self.on_time(&format!("the deadline of return request {id}"), request.respond_by, fired_at)?;
                }
                ReturnRequestStatus::Accepted | ReturnRequestStatus::Declined => {
                    let responded_at = request.responded_at.ok_or_else(|| format!("return request {id} answered without a time"))?;
                    if responded_at >= request.respond_by {
                        return Err(format!(
                            "return request {id} was answered at {} ms, at or after its deadline {} ms",
                            responded_at.millis(),
                            request.respond_by.millis()
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// A finished packet, transfer or return request never changes again.
    fn check_finished(&mut self, snapshot: &Snapshot) -> Checked<()> {
        let mut now_finished = Vec::new();
        for (packet, claims) in &snapshot.packets {
            if packet.status != PacketStatus::Open {
                now_finished.push((packet.id.to_string(), format!("{packet:?} {claims:?}")));
            }
        }
        for transfer in snapshot.transfers.iter().filter(|transfer| !transfer.status.is_open()) {
            now_finished.push((transfer.id.to_string(), format!("{transfer:?}")));
        }
        for request in snapshot.requests.iter().filter(|request| request.status != ReturnRequestStatus::Pending) {
            now_finished.push((request.id.to_string(), format!("{request:?}")));
        }
        for (id, state) in now_finished {
            match self.finished.get(&id) {
                Some(earlier) if *earlier != state => return Err(format!("{id} changed after it finished: was {earlier}, is {state}")),
                Some(_) => {}
                None => {
                    self.finished.insert(id, state);
                }
            }
        }
        let present = snapshot.record_ids();
        if let Some(gone) = self.finished.keys().find(|id| !present.contains(id.as_str())) {
            return Err(format!("{gone} finished earlier and is gone"));
        }
        Ok(())
    }
}

/// How many journal entries of a kind each subject has.
fn count_entries(snapshot: &Snapshot, kind: TxnKind, subject: impl Fn(&JournalEntry) -> Option<String>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for entry in snapshot.journal.iter().filter(|entry| entry.txn.kind() == kind) {
        if let Some(subject) = subject(entry) {
            *counts.entry(subject).or_default() += 1;
        }
    }
    counts
}

/// No payment is given back beyond its amount: the journal's corrections of each one (returns, case
/// refunds, reversals) together stay within it.
fn check_corrections(snapshot: &Snapshot) -> Checked<()> {
    let mut given_back: BTreeMap<&TxnNo, i64> = BTreeMap::new();
    for entry in &snapshot.journal {
        if let Some(corrected) = &entry.txn.related().corrects_txn_no {
            *given_back.entry(corrected).or_default() += entry.txn.amount().minor_units();
        }
    }
    for (txn_no, back) in given_back {
        let Some(original) = snapshot.journal.iter().find(|entry| entry.txn.txn_no() == txn_no) else {
            return Err(format!("{txn_no} was corrected but is not in the journal"));
        };
        if back > original.txn.amount().minor_units() {
            return Err(format!("payment {txn_no} of {} was given back {back} in all: more than once", original.txn.amount()));
        }
    }
    Ok(())
}

/// The outbox numbers its events without gaps, and every packet, claim, transfer and return request
/// has exactly the events its state says happened.
fn check_events(snapshot: &Snapshot) -> Checked<()> {
    for (index, event) in snapshot.events.iter().enumerate() {
        if event.seq != index as u64 + 1 {
            return Err(format!("the outbox has event {} where {} belongs", event.seq, index + 1));
        }
    }
    let mut counts: BTreeMap<(&UserId, EventKind, &str), usize> = BTreeMap::new();
    for event in &snapshot.events {
        *counts.entry((&event.user_id, event.kind, event.subject_id.as_str())).or_default() += 1;
    }
    let count = |user: &UserId, kind: EventKind, subject: &str| counts.get(&(user, kind, subject)).copied().unwrap_or(0);
    let expect = |user: &UserId, kind: EventKind, subject: &str, expected: usize| -> Checked<()> {
        let found = count(user, kind, subject);
        if found != expected { Err(format!("{subject}: {found} {} events for {user}, expected {expected}", kind.as_str())) } else { Ok(()) }
    };
    for (packet, claims) in &snapshot.packets {
        let id = packet.id.as_str();
        expect(&packet.sender_id, EventKind::PacketSent, id, 1)?;
        let refunded = matches!(packet.status, PacketStatus::Expired | PacketStatus::Recalled);
        expect(&packet.sender_id, EventKind::PacketRefunded, id, usize::from(refunded))?;
        let exhausted = usize::from(packet.status == PacketStatus::Exhausted);
        expect(&packet.sender_id, EventKind::PacketExhausted, id, exhausted)?;
        for claim in claims {
            expect(&claim.user_id, EventKind::PacketClaimed, id, 1)?;
            // Everyone who opened a group's packet hears who was luckiest when it runs out.
            if claim.user_id != packet.sender_id && packet.audience.group_id().is_some() {
                expect(&claim.user_id, EventKind::PacketExhausted, id, exhausted)?;
            }
        }
    }
    for transfer in &snapshot.transfers {
        let id = transfer.id.as_str();
        let accepted_before_arrival = transfer.accepted_at.is_some_and(|accepted_at| accepted_at < transfer.arrives_at);
        let last = match transfer.status {
            TransferStatus::Pending | TransferStatus::Accepted => None,
            TransferStatus::Settled => Some(EventKind::TransferSettled),
            TransferStatus::Returned => Some(EventKind::TransferReturned),
            TransferStatus::Cancelled => Some(EventKind::TransferCancelled),
            TransferStatus::Expired => Some(EventKind::TransferExpired),
        };
        for party in [&transfer.sender_id, &transfer.recipient_id] {
            expect(party, EventKind::TransferCreated, id, 1)?;
            expect(party, EventKind::TransferAccepted, id, usize::from(accepted_before_arrival))?;
            for kind in [EventKind::TransferSettled, EventKind::TransferReturned, EventKind::TransferCancelled, EventKind::TransferExpired] {
                expect(party, kind, id, usize::from(last == Some(kind)))?;
            }
        }
    }
    for request in &snapshot.requests {
        let id = request.id.as_str();
        let last = match request.status {
            ReturnRequestStatus::Pending => None,
            ReturnRequestStatus::Accepted => Some(EventKind::ReturnRequestAccepted),
            ReturnRequestStatus::Declined => Some(EventKind::ReturnRequestDeclined),
            ReturnRequestStatus::Expired => Some(EventKind::ReturnRequestExpired),
        };
        for party in [&request.requester_id, &request.recipient_id] {
            expect(party, EventKind::ReturnRequestCreated, id, 1)?;
            for kind in [EventKind::ReturnRequestAccepted, EventKind::ReturnRequestDeclined, EventKind::ReturnRequestExpired] {
                expect(party, kind, id, usize::from(last == Some(kind)))?;
            }
        }
    }
    Ok(())
}

/// What was durable before is still there, unchanged: the journal and the outbox of `before` are a
/// prefix of those of `after`, entry for entry.
pub fn check_prefix(before: &Snapshot, after: &Snapshot, when: &str) -> Checked<()> {
    if after.journal.len() < before.journal.len() {
        return Err(format!("{when}: the journal shrank from {} to {} entries", before.journal.len(), after.journal.len()));
    }
    if let Some(index) = before.journal.iter().zip(&after.journal).position(|(old, new)| old != new) {
        return Err(format!("{when}: journal entry {} changed", index + 1));
    }
    if after.events.len() < before.events.len() || before.events.iter().zip(&after.events).any(|(old, new)| old != new) {
        return Err(format!("{when}: the outbox lost or changed events ({} before, {} after)", before.events.len(), after.events.len()));
    }
    if after.report.audit_entries < before.report.audit_entries {
        return Err(format!("{when}: the audit log shrank"));
    }
    Ok(())
}

/// A restart that is no crash changes nothing at all before its timers run.
pub fn check_restart(before: &Snapshot, after: &Snapshot) -> Checked<()> {
    check_prefix(before, after, "after a restart")?;
    if after.journal.len() != before.journal.len() || after.events.len() != before.events.len() || after.balances != before.balances {
        return Err(format!(
            "a restart changed the ledger before any timer ran: {} -> {} entries, {} -> {} events",
            before.journal.len(),
            after.journal.len(),
            before.events.len(),
            after.events.len()
        ));
    }
    if before.record_ids() != after.record_ids() || format!("{:?}", before.packets) != format!("{:?}", after.packets) {
        return Err("a restart lost or changed records".into());
    }
    Ok(())
}

/// Reads that depend on the time agree with the records: each wallet's frozen part with the freezes
/// active now, and the list of overdue cases with the open cases past their deadline.
pub async fn check_reads(service: &Service, users: &[UserId], snapshot: &Snapshot) -> Checked<()> {
    for user_id in users {
        let wallet = service.wallet(user_id).await.map_err(|error| format!("reading {user_id}'s wallet: {error}"))?;
        let balance = snapshot.balances.get(&Account::Wallet(user_id.clone()).to_string()).copied().unwrap_or(0);
        if wallet.balance.minor_units() != balance {
            return Err(format!("{user_id}'s wallet shows {} but the ledger holds {balance}", wallet.balance));
        }
        let freezes: Vec<&Freeze> = snapshot.freezes.iter().filter(|freeze| &freeze.user_id == user_id).collect();
        let frozen = Restriction::of(freezes, snapshot.now).frozen(wallet.balance);
        if wallet.frozen != frozen || wallet.available.checked_add(wallet.frozen) != Some(wallet.balance) {
            return Err(format!("{user_id}'s wallet shows {:?}, but its freezes at {} ms hold {frozen}", wallet, snapshot.now.millis()));
        }
    }
    let overdue = service
        .cases(&Principal::Admin, CaseFilter { overdue: true, ..CaseFilter::default() }, None, 10_000)
        .await
        .map_err(|error| format!("reading the overdue cases: {error}"))?;
    let listed: BTreeSet<String> = overdue.iter().map(|complaint| complaint.id.to_string()).collect();
    let expected: BTreeSet<String> =
        snapshot.complaints.iter().filter(|complaint| complaint.is_overdue(snapshot.now)).map(|complaint| complaint.id.to_string()).collect();
    if listed != expected {
        return Err(format!("the overdue cases listed at {} ms are {listed:?}, but past their deadline are {expected:?}", snapshot.now.millis()));
    }
    Ok(())
}

/// The durable state as the service's reads see it after a step.
pub struct Snapshot {
    pub now: Timestamp,
    pub report: VerifyReport,
    pub balances: BTreeMap<String, i64>,
    pub journal: Vec<JournalEntry>,
    pub events: Vec<Event>,
    pub packets: Vec<(Packet, Vec<Claim>)>,
    pub transfers: Vec<Transfer>,
    pub requests: Vec<ReturnRequest>,
    pub complaints: Vec<Complaint>,
    pub freezes: Vec<Freeze>,
    pub reversals: Vec<Reversal>,
    pub case_refunds: Vec<CaseRefund>,
}

impl Snapshot {
    /// Reads everything in one go on the service's read pool. Packets and transfers are found from
    /// the journal's sends, return requests from the payments they ask back, so that what no answer
    /// told of is seen too.
    pub async fn read(service: &Service, _model: &Model, clock: ManualClock) -> Checked<Snapshot> {
        let now = clock.now();
        service
            .read(move |conn| {
                let report = hongbao_service::verify::verify(conn)?;
                let mut journal = Vec::new();
                loop {
                    let page = conn.journal_range(journal.len() as u64 + 1, 5_000)?;
                    if page.is_empty() {
                        break;
                    }
                    journal.extend(page);
                }
                let balances = conn.balances()?.into_iter().collect();
                let mut events: Vec<Event> = records::list(conn, &Query::newest_first(&records::EVENTS, 1_000_000))?;
                events.sort_by_key(|event| event.seq);
                let mut packets = Vec::new();
                let mut transfers = Vec::new();
                let mut requests = Vec::new();
                for entry in &journal {
                    let related = entry.txn.related();
                    match entry.txn.kind() {
                        TxnKind::PacketSend => {
                            let packet_id = related.packet_id.clone().expect("a send names its packet");
                            let packet = conn.packet(&packet_id)?.expect("a sent packet exists");
                            packets.push((packet, conn.claims(&packet_id)?));
                        }
                        TxnKind::TransferSend => {
                            let transfer_id = related.transfer_id.clone().expect("a send names its transfer");
                            transfers.push(conn.transfer(&transfer_id)?.expect("a sent transfer exists"));
                        }
                        TxnKind::PacketClaim | TxnKind::TransferSettle => requests.extend(conn.return_requests_for_txn(entry.txn.txn_no())?),
                        _ => {}
                    }
                }
                let complaints = records::list(conn, &Query::newest_first(&records::COMPLAINTS, 100_000))?;
                let freezes = records::list(conn, &Query::newest_first(&records::FREEZES, 100_000))?;
                let reversals = records::list(conn, &Query::newest_first(&records::REVERSALS, 100_000))?;
                let case_refunds = records::list(conn, &Query::newest_first(&records::CASE_REFUNDS, 100_000))?;
                Ok(Snapshot { now, report, balances, journal, events, packets, transfers, requests, complaints, freezes, reversals, case_refunds })
            })
            .await
            .map_err(|error| format!("reading the state: {error}"))
    }

    pub fn record_ids(&self) -> BTreeSet<String> {
        let mut ids = BTreeSet::new();
        ids.extend(self.packets.iter().map(|(packet, _)| packet.id.to_string()));
        ids.extend(self.transfers.iter().map(|transfer| transfer.id.to_string()));
        ids.extend(self.requests.iter().map(|request| request.id.to_string()));
        ids.extend(self.complaints.iter().map(|complaint| complaint.id.to_string()));
        ids.extend(self.freezes.iter().map(|freeze| freeze.id.to_string()));
        ids.extend(self.reversals.iter().map(|reversal| reversal.id.to_string()));
        ids.extend(self.case_refunds.iter().map(|refund| refund.id.to_string()));
        ids
    }

    pub fn open_packets(&self) -> Vec<Packet> {
        self.packets.iter().filter(|(packet, _)| packet.status == PacketStatus::Open).map(|(packet, _)| packet.clone()).collect()
    }

    /// Settled payments: claims and transfer settlements, with their payers.
    pub fn payments(&self) -> Vec<Payment> {
        let mut payments = Vec::new();
        for (packet, claims) in &self.packets {
            payments.extend(claims.iter().map(|claim| Payment { txn_no: claim.txn_no.clone(), payer: packet.sender_id.clone(), amount: claim.amount }));
        }
        for transfer in self.transfers.iter().filter(|transfer| transfer.status == TransferStatus::Settled) {
            if let Some(settlement) = transfer.txn_nos.get(1) {
                payments.push(Payment { txn_no: settlement.clone(), payer: transfer.sender_id.clone(), amount: transfer.amount });
            }
        }
        payments
    }

    /// Whether a payment was already asked back, corrected or named by a reversal.
    pub fn touched(&self, txn_no: &TxnNo) -> bool {
        self.requests.iter().any(|request| &request.txn_no == txn_no)
            || self.reversals.iter().any(|reversal| &reversal.txn_no == txn_no)
            || self.journal.iter().any(|entry| entry.txn.related().corrects_txn_no.as_ref() == Some(txn_no))
    }

    /// The expiry times of open packets still to come after `now`, earliest first.
    pub fn expiries_after(&self, now: Timestamp) -> Vec<Timestamp> {
        let mut expiries: Vec<Timestamp> = self
            .packets
            .iter()
            .filter(|(packet, _)| packet.status == PacketStatus::Open && packet.expires_at > now)
            .map(|(packet, _)| packet.expires_at)
            .collect();
        expiries.sort();
        expiries
    }

    /// The deadlines still to come after `now`: open packets' expiry, open transfers' arrival and
    /// acceptance deadline, pending return requests', open cases' and temporary freezes'.
    pub fn deadlines_after(&self, now: Timestamp) -> Vec<Timestamp> {
        let mut deadlines: Vec<Timestamp> = Vec::new();
        deadlines.extend(self.packets.iter().filter(|(packet, _)| packet.status == PacketStatus::Open).map(|(packet, _)| packet.expires_at));
        for transfer in &self.transfers {
            match transfer.status {
                TransferStatus::Pending => deadlines.extend([transfer.accept_by, transfer.arrives_at]),
                TransferStatus::Accepted => deadlines.push(transfer.arrives_at),
                _ => {}
            }
        }
        deadlines.extend(self.requests.iter().filter(|request| request.status == ReturnRequestStatus::Pending).map(|request| request.respond_by));
        deadlines.extend(self.complaints.iter().filter(|complaint| !complaint.status.is_resolved()).map(|complaint| complaint.due_at));
        deadlines.extend(self.freezes.iter().filter_map(|freeze| freeze.until));
        deadlines.retain(|deadline| *deadline > now);
        deadlines.sort();
        deadlines
    }
}
