//! The journal as a stored Merkle tree (RFC 9162): how the writer appends a batch's entries to the tree
//! in the batch's own transaction, how a database from before the tree has its tree built, how proofs
//! read stored nodes, and how `verify` checks the stored tree against the journal.
//!
//! Architecture invariant: every committed journal entry is a leaf of its log's tree, written in the
//! same transaction as the entry. The leaf of the entry with sequence number `seq` is at index
//! `seq - 1` and hashes `LedgerTxn::canonical_bytes(seq)`; today every entry belongs to
//! [`LogId::JOURNAL`], and when the journal is split into shards each shard is a log of its own.

use hongbao_store::{Changes, JournalEntry, ReadConn, StoreError, StoreResult, WriteConn, corrupt};
use hongbao_tlog::{BuildError, Frontier, Hash, LogId, NodeId, NodeSource, StoredNode, leaf_hash};

/// How many journal entries one transaction of the start-up build covers, and how many a page of
/// `verify` reads: about twice as many nodes are held in memory at a time.
const ENTRIES_PER_CHUNK: u32 = 20_000;

/// The leaf hash of a journal entry: `SHA-256(0x00 || canonical bytes)` (RFC 9162 §2.1.1).
pub fn entry_leaf(entry: &JournalEntry) -> Hash {
    leaf_hash(&entry.txn.canonical_bytes(entry.seq))
}

/// Stored nodes read through a connection, one query per call: what every root and proof is built
/// from. A node that is not stored is corrupt storage, since callers only ask for sizes the tree has.
pub struct StoredNodes<'a>(pub &'a mut dyn ReadConn);

impl NodeSource for StoredNodes<'_> {
    type Error = StoreError;

    fn nodes(&mut self, log: LogId, ids: &[NodeId]) -> Result<Vec<Hash>, StoreError> {
        let found = self.0.tree_nodes(log, ids)?;
        found.into_iter().zip(ids).map(|(hash, id)| hash.ok_or_else(|| corrupt(format!("{id} of {log} is not stored")))).collect()
    }
}

/// A proof or root that could not be built: the store's error, or storage that broke the tree's shape.
pub fn build_error(error: BuildError<StoreError>) -> StoreError {
    match error {
        BuildError::Source(error) => error,
        other => corrupt(format!("the stored tree: {other}")),
    }
}

/// Where the journal's tree stood when a batch began: its size (the journal's) and the stored hashes
/// of its right edge, as `WriteConn::heads` read them under the writer lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeStart {
    pub size: u64,
    pub frontier: Vec<Hash>,
}

/// The tree nodes a batch writes with its new journal entries `journal` (in sequence order), appended
/// to the tree as it stood when the batch began. Normally that is pure computation over the edge read
/// with the heads; when the tree lags behind the journal (an entry was committed by a process from
/// before the tree), the missing leaves are added first, read under the same lock, so that the
/// batch's entries still land at their own leaf indexes.
///
/// Errors: a read that fails; entries that do not follow the journal's head, or a batch that appended
/// entries without reading the head (a broken invariant: nothing of the batch must commit).
pub fn append_to_tree(conn: &mut dyn WriteConn, start: Option<TreeStart>, journal: &[&JournalEntry]) -> StoreResult<Vec<(LogId, StoredNode)>> {
    let Some(first) = journal.first() else { return Ok(Vec::new()) };
    let Some(start) = start else {
        return Err(corrupt("a batch appended journal entries without reading the journal's head"));
    };
    if first.seq != start.size + 1 {
        return Err(corrupt(format!("a batch's first journal entry is {} but the journal ended at {}", first.seq, start.size)));
    }
    let (frontier, mut nodes) = match Frontier::from_hashes(start.size, start.frontier) {
        Ok(frontier) => (frontier, Vec::new()),
        Err(_) => {
            let (frontier, nodes) = catch_up(conn, start.size, u64::MAX)?;
            tracing::warn!(
                leaves = nodes.iter().filter(|node| node.id.level == 0).count(),
                "the journal's tree lagged behind the journal; caught up in this batch"
            );
            (frontier, nodes)
        }
    };
    let leaves: Vec<Hash> = journal.iter().map(|entry| entry_leaf(entry)).collect();
    nodes.extend(frontier.append(&leaves).nodes);
    Ok(nodes.into_iter().map(|node| (LogId::JOURNAL, node)).collect())
}

/// The nodes that bring the stored tree from the size it has up to `journal_size` leaves, at most
/// `max_leaves` of them, with the edge they end at; read on `conn`, written by the caller.
fn catch_up(conn: &mut dyn WriteConn, journal_size: u64, max_leaves: u64) -> StoreResult<(Frontier, Vec<StoredNode>)> {
    let tree_size = conn.tree_size(LogId::JOURNAL)?;
    if tree_size > journal_size {
        return Err(corrupt(format!("the journal's tree has {tree_size} leaves but the journal only {journal_size} entries")));
    }
    let mut frontier = Frontier::load(&mut StoredNodes(&mut *conn), LogId::JOURNAL, tree_size).map_err(build_error)?;
    let target = journal_size.min(tree_size.saturating_add(max_leaves));
    let mut nodes = Vec::new();
    while frontier.size() < target {
        let want = u32::try_from(target - frontier.size()).unwrap_or(u32::MAX).min(ENTRIES_PER_CHUNK);
        let page = conn.journal_range(frontier.size() + 1, want)?;
        if page.is_empty() {
            return Err(corrupt(format!("journal entry {} is missing", frontier.size() + 1)));
        }
        for (offset, entry) in page.iter().enumerate() {
            if entry.seq != frontier.size() + 1 + offset as u64 {
                return Err(corrupt(format!("a gap in the journal before entry {}", entry.seq)));
            }
        }
        let leaves: Vec<Hash> = page.iter().map(entry_leaf).collect();
        let appended = frontier.append(&leaves);
        nodes.extend(appended.nodes);
        frontier = appended.frontier;
    }
    Ok((frontier, nodes))
}

/// Builds the tree of the entries already in the journal, for a database from before the tree: a chunk
/// of entries per transaction under the writer lock, so that a journal of millions of entries is never
/// held in memory at once, and several processes starting together share the work. Returns how many
/// leaves were added; none when the tree is complete.
pub fn build_tree(conn: &mut dyn WriteConn) -> StoreResult<u64> {
    let mut added = 0;
    loop {
        conn.begin()?;
        let result = (|| {
            let heads = conn.heads()?;
            if Frontier::from_hashes(heads.journal.0, heads.tree_frontier).is_ok() {
                return Ok(None);
            }
            let (_, nodes) = catch_up(conn, heads.journal.0, u64::from(ENTRIES_PER_CHUNK))?;
            Ok(Some((heads.journal.0, nodes)))
        })();
        match result {
            Ok(None) => {
                conn.rollback()?;
                return Ok(added);
            }
            Ok(Some((journal_size, nodes))) => {
                let leaves = nodes.iter().filter(|node| node.id.level == 0).count() as u64;
                conn.commit(&Changes { tree_nodes: nodes.into_iter().map(|node| (LogId::JOURNAL, node)).collect(), ..Changes::default() })?;
                added += leaves;
                tracing::info!(added, journal_size, "building the journal's Merkle tree");
            }
            Err(error) => {
                let _ = conn.rollback();
                return Err(error);
            }
        }
    }
}

/// What `verify` found of the tree: how many leaves and nodes it checked, and the first mismatches.
#[derive(Debug, Default)]
pub struct TreeCheck {
    frontier: Option<Frontier>,
    pub nodes_checked: u64,
}

impl TreeCheck {
    pub fn new() -> TreeCheck {
        TreeCheck { frontier: Some(Frontier::empty()), nodes_checked: 0 }
    }

    /// Recomputes the nodes that a page of journal entries (in order, following the previous page)
    /// completes, and compares each with the stored one; `found` is told of each mismatch.
    pub fn check_page(&mut self, conn: &mut dyn ReadConn, page: &[JournalEntry], found: &mut dyn FnMut(String)) -> StoreResult<()> {
        let Some(frontier) = self.frontier.take() else { return Ok(()) };
        let leaves: Vec<Hash> = page.iter().map(entry_leaf).collect();
        let appended = frontier.append(&leaves);
        let ids: Vec<NodeId> = appended.nodes.iter().map(|node| node.id).collect();
        let stored = conn.tree_nodes(LogId::JOURNAL, &ids)?;
        for (node, stored) in appended.nodes.iter().zip(stored) {
            let entries = entry_range(node.id);
            match stored {
                None => found(format!("tree node {} (entries {entries}) is not stored: the entries are not all in the Merkle tree", node.id)),
                Some(hash) if hash != node.hash => {
                    found(format!("tree node {} (entries {entries}) does not match the journal: an entry or the tree was altered", node.id))
                }
                Some(_) => {}
            }
        }
        self.nodes_checked += ids.len() as u64;
        self.frontier = Some(appended.frontier);
        Ok(())
    }

    /// After the last page: the tree must hold no more than the journal's nodes.
    pub fn finish(&self, conn: &mut dyn ReadConn, found: &mut dyn FnMut(String)) -> StoreResult<()> {
        let Some(frontier) = &self.frontier else { return Ok(()) };
        let size = frontier.size();
        let expected = (2 * size).saturating_sub(u64::from(size.count_ones()));
        let stored = conn.tree_node_count(LogId::JOURNAL)?;
        if stored != expected {
            found(format!("the Merkle tree holds {stored} nodes but a tree of the journal's {size} entries has {expected}"));
        }
        Ok(())
    }

    /// The tree's root over the journal as recomputed.
    pub fn root(&self) -> Option<Hash> {
        self.frontier.as_ref().map(Frontier::root)
    }
}

/// The journal entries a node covers, `first-last` by sequence number.
fn entry_range(id: NodeId) -> String {
    let width = 1u64 << id.level;
    let first = id.index * width + 1;
    if width == 1 { format!("{first}") } else { format!("{first}-{}", first + width - 1) }
}
