//! Phase 7: receipts and proofs on a journal of ten million entries.
//!
//! The tree is built in this process, through the store: ten million synthetic journal entries (top-ups
//! of distinct amounts to distinct users, the canonical bytes the server would log) are hashed and
//! appended with `Frontier::append`, and their nodes written to a real SQLite database's `merkle_nodes`
//! by `WriteConn::commit` in batches, as the writer does. The journal's own rows are not written: a
//! receipt only needs the entry (rebuilt here from its index) and the tree. Then, on a read connection
//! as the server uses: signed checkpoints, inclusion proofs and receipts of random entries, and
//! consistency proofs between random sizes, each built from stored nodes in one query, and verified as
//! `hongbao receipt verify` and `hongbao journal verify-consistency` do.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use hongbao_core::{Account, Amount, LedgerTxn, Related, Timestamp, TxnKind, TxnNo, UserId};
use hongbao_store::{Changes, ReadConn, Store, StoreError};
use hongbao_tlog::{
    Checkpoint, Frontier, Hash, LogId, NodeId, NodeSource, Receipt, SignerKey, consistency_proof, format_proof, inclusion_proof, leaf_hash, root_at,
    verify_consistency_proof, verify_receipt,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::server::TempDir;

/// What phase 7 measured.
pub struct ReceiptFigures {
    pub entries: u64,
    pub build: Duration,
    pub database_bytes: u64,
    pub checkpoint_micros: f64,
    pub receipt_micros: f64,
    pub receipt_verify_micros: f64,
    pub receipt_bytes: f64,
    pub consistency_micros: f64,
    pub consistency_verify_micros: f64,
    pub consistency_bytes: f64,
}

/// The synthetic entry at sequence number `seq`: a top-up of `seq` fen, deterministic so that a
/// receipt can be rebuilt for any leaf.
fn entry(seq: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seq);
    let at = Timestamp::from_millis(1_800_000_000_000 + seq as i64);
    let user = UserId::generate(at, &mut rng);
    let amount = Amount::new(1 + (seq % 1_000_000) as i64).expect("a small amount");
    let txn =
        LedgerTxn::transfer_between(TxnNo::generate(at, &mut rng), TxnKind::TopUp, at, amount, Account::Funding, Account::Wallet(user), Related::default());
    txn.canonical_bytes(seq)
}

struct StoredNodes<'a>(&'a mut dyn ReadConn);

impl NodeSource for StoredNodes<'_> {
    type Error = StoreError;

    fn nodes(&mut self, log: LogId, ids: &[NodeId]) -> Result<Vec<Hash>, StoreError> {
        let found = self.0.tree_nodes(log, ids)?;
        found.into_iter().zip(ids).map(|(hash, id)| hash.ok_or_else(|| hongbao_store::corrupt(format!("{id} is not stored")))).collect()
    }
}

fn average_micros(total: Duration, count: usize) -> f64 {
    total.as_secs_f64() * 1e6 / count as f64
}

/// Builds the tree of `entries` leaves and measures `samples` receipts and consistency proofs.
pub fn run(entries: u64, samples: usize) -> Result<ReceiptFigures> {
    let dir = TempDir::new()?;
    let url = dir.sqlite_url();
    let store: Arc<dyn Store> = Arc::new(hongbao_store_sqlite::SqliteStore::from_url(&url).map_err(|error| anyhow!("{error}"))?);
    store.migrate().map_err(|error| anyhow!("migrating: {error}"))?;
    let mut writer = store.open_writer().map_err(|error| anyhow!("{error}"))?;
    println!("7. receipts: building a tree of {entries} entries through the store");
    let started = Instant::now();
    let mut frontier = Frontier::empty();
    const CHUNK: u64 = 100_000;
    while frontier.size() < entries {
        let end = (frontier.size() + CHUNK).min(entries);
        let leaves: Vec<Hash> = (frontier.size() + 1..=end).map(|seq| leaf_hash(&entry(seq))).collect();
        let appended = frontier.append(&leaves);
        writer.begin().map_err(|error| anyhow!("{error}"))?;
        let changes = Changes { tree_nodes: appended.nodes.into_iter().map(|node| (LogId::JOURNAL, node)).collect(), ..Changes::default() };
        writer.commit(&changes).map_err(|error| anyhow!("writing nodes: {error}"))?;
        frontier = appended.frontier;
        if frontier.size().is_multiple_of(1_000_000) {
            println!("   {} entries, {:.0} s", frontier.size(), started.elapsed().as_secs_f64());
        }
    }
    let build = started.elapsed();
    drop(writer);
    let database_bytes = std::fs::metadata(dir.path().join("hongbao.db")).map(|metadata| metadata.len()).unwrap_or(0)
        + std::fs::metadata(dir.path().join("hongbao.db-wal")).map(|metadata| metadata.len()).unwrap_or(0);

    let mut reader = store.open_reader().map_err(|error| anyhow!("{error}"))?;
    let key = SignerKey::generate("bench.hongbao/journal", [42; 32]).map_err(|error| anyhow!("{error}"))?;
    let verifier = key.verifier();
    let mut rng = StdRng::seed_from_u64(7);

    // A signed checkpoint of the whole tree: its root from stored nodes, and the signature.
    let started = Instant::now();
    let mut note = String::new();
    for _ in 0..samples {
        let root = root_at(&mut StoredNodes(reader.as_mut()), LogId::JOURNAL, entries).map_err(|error| anyhow!("{error}"))?;
        note = Checkpoint::new(key.name(), entries, root).map_err(|error| anyhow!("{error}"))?.sign(&key);
    }
    let checkpoint_micros = average_micros(started.elapsed(), samples);
    anyhow::ensure!(frontier.root() == hongbao_tlog::open_checkpoint(&note, &verifier, None).map_err(|error| anyhow!("{error}"))?.checkpoint().root());

    // Receipts of random entries: the proof from stored nodes, and the text.
    let indexes: Vec<u64> = (0..samples).map(|_| rng.gen_range(0..entries)).collect();
    let bytes: Vec<Vec<u8>> = indexes.iter().map(|index| entry(index + 1)).collect();
    let started = Instant::now();
    let mut receipts = Vec::with_capacity(samples);
    for (index, entry) in indexes.iter().zip(&bytes) {
        let proof = inclusion_proof(&mut StoredNodes(reader.as_mut()), LogId::JOURNAL, *index, entries).map_err(|error| anyhow!("{error}"))?;
        receipts.push(Receipt::new(entry.clone(), *index, proof, note.clone()).to_text());
    }
    let receipt_micros = average_micros(started.elapsed(), samples);
    let receipt_bytes = receipts.iter().map(String::len).sum::<usize>() as f64 / samples as f64;
    let started = Instant::now();
    for receipt in &receipts {
        verify_receipt(receipt, &verifier, None).map_err(|error| anyhow!("a receipt does not verify: {error}"))?;
    }
    let receipt_verify_micros = average_micros(started.elapsed(), samples);

    // Consistency proofs between random sizes and the whole tree's.
    let sizes: Vec<u64> = (0..samples).map(|_| rng.gen_range(1..entries)).collect();
    let started = Instant::now();
    let mut proofs = Vec::with_capacity(samples);
    for size in &sizes {
        proofs.push(consistency_proof(&mut StoredNodes(reader.as_mut()), LogId::JOURNAL, *size, entries).map_err(|error| anyhow!("{error}"))?);
    }
    let consistency_micros = average_micros(started.elapsed(), samples);
    let consistency_bytes = proofs.iter().map(|proof| format_proof(proof).len()).sum::<usize>() as f64 / samples as f64;
    let old_roots: Vec<Hash> = sizes
        .iter()
        .map(|size| root_at(&mut StoredNodes(reader.as_mut()), LogId::JOURNAL, *size).map_err(|error| anyhow!("{error}")))
        .collect::<Result<_>>()
        .context("while reading old roots")?;
    let new_root = frontier.root();
    let started = Instant::now();
    for ((size, proof), old_root) in sizes.iter().zip(&proofs).zip(&old_roots) {
        verify_consistency_proof(*size, entries, old_root, &new_root, proof).map_err(|error| anyhow!("a consistency proof does not verify: {error}"))?;
    }
    let consistency_verify_micros = average_micros(started.elapsed(), samples);
    drop(reader);
    Ok(ReceiptFigures {
        entries,
        build,
        database_bytes,
        checkpoint_micros,
        receipt_micros,
        receipt_verify_micros,
        receipt_bytes,
        consistency_micros,
        consistency_verify_micros,
        consistency_bytes,
    })
}
