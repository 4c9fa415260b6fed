//! `verify`: recomputes the journal's hash chain, checks that every transaction balances, rebuilds every
//! balance from the postings and compares it with the stored one, checks that all accounts sum to zero,
//! that no account that must stay non-negative is negative, that every packet's escrow holds exactly
//! what was neither claimed nor refunded, and that every transfer's hold holds its amount while the
//! transfer is open and nothing once it has settled or gone back. It also recomputes the audit log's
//! hash chain, so an edited operator action shows too. The journal's Merkle tree is recomputed from the
//! journal and every stored node compared (`journal_log::TreeCheck`), and every stored checkpoint's
//! signature and root are checked against the key that signed it and the tree at its size.

use std::collections::BTreeMap;
use std::fmt;

use hongbao_core::staff::{AuditEntry, audit_hash};
use hongbao_core::{Account, JournalHash};
use hongbao_store::records::{self, Query, Value};
use hongbao_store::transparency::{CHECKPOINTS, StoredCheckpoint, StoredLogKey, log_keys_newest_first};
use hongbao_store::{ReadConn, StoreResult};
use hongbao_tlog::{LogId, VerifierKey, open_checkpoint, root_at};

use crate::journal_log::{StoredNodes, TreeCheck, build_error};

/// What verify found. `discrepancies` is in the order found; the first is the one to look at.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub entries: u64,
    pub audit_entries: u64,
    pub accounts: usize,
    /// Nodes of the journal's Merkle tree recomputed and compared.
    pub tree_nodes: u64,
    /// Signed checkpoints whose signature and root were checked.
    pub checkpoints: u64,
    pub discrepancies: Vec<String>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.discrepancies.is_empty()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.discrepancies.first() {
            None => write!(
                f,
                "ok: {} journal entries, {} accounts, chain intact, balances match, all accounts sum to zero; {} audit log entries, chain intact; \
                 Merkle tree of {} nodes matches the journal; {} signed checkpoints verify",
                self.entries, self.accounts, self.audit_entries, self.tree_nodes, self.checkpoints
            ),
            Some(first) => write!(f, "FAILED: {first} ({} discrepancies in all)", self.discrepancies.len()),
        }
    }
}

const PAGE: u32 = 5_000;
const MAX_REPORTED: usize = 1_000;

/// Verifies the ledger as of one consistent snapshot, so it can run while servers keep writing.
pub fn verify(conn: &mut dyn ReadConn) -> StoreResult<VerifyReport> {
    conn.begin_snapshot()?;
    let report = verify_snapshot(conn);
    let ended = conn.end_snapshot();
    let report = report?;
    ended?;
    Ok(report)
}

fn verify_snapshot(conn: &mut dyn ReadConn) -> StoreResult<VerifyReport> {
    let mut report = VerifyReport::default();
    let found = |report: &mut VerifyReport, what: String| {
        if report.discrepancies.len() < MAX_REPORTED {
            report.discrepancies.push(what);
        }
    };
    let mut computed: BTreeMap<String, i128> = BTreeMap::new();
    // What the corrections (returns, case refunds, reversals) of each payment moved back in all.
    let mut corrections: BTreeMap<hongbao_core::TxnNo, i128> = BTreeMap::new();
    let mut expected_seq = 1u64;
    let mut prev_hash = JournalHash::GENESIS;
    let mut tree = TreeCheck::new();
    loop {
        let page = conn.journal_range(expected_seq, PAGE)?;
        if page.is_empty() {
            break;
        }
        tree.check_page(conn, &page, &mut |what| found(&mut report, what))?;
        for entry in page {
            let txn_no = entry.txn.txn_no().clone();
            if entry.seq != expected_seq {
                found(&mut report, format!("journal entry {} ({txn_no}): expected sequence number {expected_seq}, a gap in the journal", entry.seq));
            }
            if entry.prev_hash != prev_hash {
                found(
                    &mut report,
                    format!("journal entry {} ({txn_no}): its previous hash does not match entry {}'s hash", entry.seq, entry.seq.saturating_sub(1)),
                );
            }
            let recomputed = entry.prev_hash.chain(entry.seq, &entry.txn);
            if recomputed != entry.hash {
                found(&mut report, format!("journal entry {} ({txn_no}): its hash does not match its contents; the entry was altered", entry.seq));
            }
            if !entry.txn.is_balanced() {
                found(&mut report, format!("journal entry {} ({txn_no}): its postings do not sum to zero", entry.seq));
            }
            for posting in entry.txn.postings() {
                *computed.entry(posting.account.to_string()).or_default() += i128::from(posting.amount);
            }
            if let Some(corrected) = &entry.txn.related().corrects_txn_no {
                *corrections.entry(corrected.clone()).or_default() += i128::from(entry.txn.amount().minor_units());
            }
            prev_hash = entry.hash;
            expected_seq = entry.seq + 1;
            report.entries += 1;
        }
    }
    // A payment is given back at most once in all: returns, case refunds and reversals share its amount.
    for (txn_no, corrected) in &corrections {
        match conn.journal_entry(txn_no)? {
            None => found(&mut report, format!("transaction {txn_no}: corrected by {corrected} but it is not in the journal")),
            Some(original) if *corrected > i128::from(original.txn.amount().minor_units()) => found(
                &mut report,
                format!(
                    "transaction {txn_no}: its corrections gave back {corrected} of a payment of {}; a payment is given back at most once",
                    original.txn.amount().minor_units()
                ),
            ),
            Some(_) => {}
        }
    }
    let stored: BTreeMap<String, i64> = conn.balances()?.into_iter().collect();
    for (account, balance) in &computed {
        let stored_balance = stored.get(account).copied().unwrap_or(0);
        if i128::from(stored_balance) != *balance {
            found(&mut report, format!("account {account}: stored balance {stored_balance} but the postings sum to {balance}"));
        }
        let must_stay_non_negative = Account::parse(account).is_none_or(|account| account.must_stay_non_negative());
        if must_stay_non_negative && *balance < 0 {
            found(&mut report, format!("account {account}: negative balance {balance}"));
        }
    }
    for (account, balance) in &stored {
        if !computed.contains_key(account) && *balance != 0 {
            found(&mut report, format!("account {account}: stored balance {balance} but it has no postings"));
        }
    }
    let total: i128 = computed.values().sum();
    if total != 0 {
        found(&mut report, format!("all accounts sum to {total}, not zero"));
    }
    for (packet_id, total_amount, claimed, refunded) in conn.packet_totals()? {
        let escrow = computed.get(&Account::PacketEscrow(packet_id.clone()).to_string()).copied().unwrap_or(0);
        let outstanding = i128::from(total_amount.minor_units()) - i128::from(claimed.minor_units()) - i128::from(refunded.minor_units());
        if escrow != outstanding {
            found(&mut report, format!("packet {packet_id}: escrow holds {escrow} but total - claimed - refunded is {outstanding}"));
        }
    }
    let held: BTreeMap<String, i64> =
        conn.held_transfers()?.into_iter().map(|(id, amount)| (Account::TransferHold(id).to_string(), amount.minor_units())).collect();
    for (account, balance) in computed.iter().filter(|(account, _)| account.starts_with("hold:")) {
        let expected = held.get(account).copied().unwrap_or(0);
        if *balance != i128::from(expected) {
            found(&mut report, format!("transfer {}: its hold holds {balance} but {expected} should be held", &account["hold:".len()..]));
        }
    }
    for (account, expected) in &held {
        if !computed.contains_key(account) {
            found(&mut report, format!("transfer {}: {expected} should be held but the hold is empty", &account["hold:".len()..]));
        }
    }
    report.accounts = computed.len();
    tree.finish(conn, &mut |what| found(&mut report, what))?;
    report.tree_nodes = tree.nodes_checked;
    verify_checkpoints(conn, &mut report, &found)?;
    verify_audit_log(conn, &mut report, found)?;
    Ok(report)
}

/// Checks every stored checkpoint: its signature by the key that signed it (kept in `log_keys`), that
/// the signed note says what its row says, and that its root is the root of the journal's tree at its
/// size, from the stored nodes (which the tree check compared with the journal).
fn verify_checkpoints(conn: &mut dyn ReadConn, report: &mut VerifyReport, found: &impl Fn(&mut VerifyReport, String)) -> StoreResult<()> {
    let keys: Vec<StoredLogKey> = records::list(conn, &log_keys_newest_first(10_000))?;
    let tree_size = conn.tree_size(LogId::JOURNAL)?;
    let mut after = None;
    loop {
        let query = Query::newest_first(&CHECKPOINTS, PAGE).ascending().after(after.clone());
        let page = records::list::<StoredCheckpoint>(conn, &query)?;
        let Some(last) = page.last() else { return Ok(()) };
        after = Some(vec![Value::Int(last.seq as i64)]);
        for stored in page {
            report.checkpoints += 1;
            let what = format!("checkpoint {} (tree size {})", stored.seq, stored.size);
            let Some(key) = keys.iter().find(|key| key.key_id == stored.key_id).and_then(|key| VerifierKey::parse(&key.verifier_key).ok()) else {
                found(report, format!("{what}: signed by key {}, which is not among the log's keys", stored.key_id));
                continue;
            };
            let opened = match open_checkpoint(&stored.signed_note, &key, None) {
                Ok(opened) => opened,
                Err(error) => {
                    found(report, format!("{what}: {error}"));
                    continue;
                }
            };
            if opened.checkpoint().size() != stored.size || opened.checkpoint().root() != stored.root {
                found(report, format!("{what}: the signed note does not say what its row says"));
            }
            if stored.log != LogId::JOURNAL || stored.size > tree_size {
                found(report, format!("{what}: beyond the journal's tree, which holds {tree_size} entries"));
                continue;
            }
            let root = root_at(&mut StoredNodes(conn), LogId::JOURNAL, stored.size).map_err(build_error)?;
            if root != opened.checkpoint().root() {
                found(report, format!("{what}: its signed root is not the root of the journal's tree at that size: history was rewritten since it was signed"));
            }
        }
    }
}

/// Recomputes the audit log's chain: the same checks as the journal's, on the operators' actions.
fn verify_audit_log(conn: &mut dyn ReadConn, report: &mut VerifyReport, found: impl Fn(&mut VerifyReport, String)) -> StoreResult<()> {
    let mut expected_seq = 1u64;
    let mut prev_hash = JournalHash::GENESIS;
    loop {
        let query = Query::newest_first(&records::AUDIT_LOG, PAGE).ascending().after(Some(vec![Value::Int(expected_seq as i64 - 1)]));
        let page = records::list::<AuditEntry>(conn, &query)?;
        if page.is_empty() {
            return Ok(());
        }
        for entry in page {
            if entry.seq != expected_seq {
                found(report, format!("audit log entry {}: expected sequence number {expected_seq}, a gap in the audit log", entry.seq));
            }
            if entry.prev_hash != prev_hash {
                found(report, format!("audit log entry {}: its previous hash does not match entry {}'s hash", entry.seq, entry.seq.saturating_sub(1)));
            }
            if audit_hash(&entry.prev_hash, entry.seq, &entry.record) != entry.hash {
                found(report, format!("audit log entry {}: its hash does not match its contents; the entry was altered", entry.seq));
            }
            prev_hash = entry.hash;
            expected_seq = entry.seq + 1;
            report.audit_entries += 1;
        }
    }
}
