//! How a tree is stored: the hashes of its complete subtrees, keyed by log and by `(level, index)`, read
//! through [`NodeSource`].
//!
//! A complete subtree never changes once its last leaf is appended, so these rows are written once and
//! never updated, like the journal itself. Every past tree's root and every proof is built from them
//! (module `prove`), which is why nothing else about the tree needs storing.

use std::collections::BTreeMap;
use std::fmt;

use crate::Hash;

/// Which tree a node belongs to. Today the journal is one log, [`LogId::JOURNAL`]; when the journal is
/// split into shards, each shard is a tree of its own under its own id, and every stored node is
/// already keyed by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogId(u32);

impl LogId {
    /// The journal's single log.
    pub const JOURNAL: LogId = LogId(0);

    /// The log with this number, as storage keys it.
    pub const fn new(id: u32) -> LogId {
        LogId(id)
    }

    /// The log's number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "log {}", self.0)
    }
}

/// A complete subtree of `2^level` leaves: the one covering leaves `index * 2^level ..
/// (index + 1) * 2^level`. Level 0 is the leaves themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    /// The subtree's height: it covers `2^level` leaves. At most 63.
    pub level: u8,
    /// Its position among the subtrees of its level, from 0 at the left.
    pub index: u64,
}

impl NodeId {
    /// The subtree of `2^level` leaves at position `index` among those of its level.
    pub const fn new(level: u8, index: u64) -> NodeId {
        NodeId { level, index }
    }

    /// The size of the tree at which this subtree becomes complete: `(index + 1) * 2^level`, the
    /// number of leaves up to and including its last. Appending leaves completes subtrees in this
    /// order, so a store keyed by it (then by level) keeps the nodes one append writes side by side.
    /// A subtree that no tree of fewer than 2^63 leaves has gives `i64::MAX`, which no stored node has.
    pub fn complete_at(&self) -> u64 {
        let size = (u128::from(self.index) + 1) << self.level.min(63);
        u64::try_from(size).unwrap_or(u64::MAX).min(i64::MAX as u64)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node ({}, {})", self.level, self.index)
    }
}

/// A node to store: the hash of one complete subtree. The log it belongs to is the caller's, who asked
/// to append to that log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredNode {
    /// Which subtree.
    pub id: NodeId,
    /// Its hash, `MTH` of its leaves (RFC 9162 §2.1.1).
    pub hash: Hash,
}

/// Where the hashes of complete subtrees are read from: a database table keyed by `(log,`
/// [`NodeId::complete_at`]`, level)` in the service, [`MemoryNodes`] in tests.
///
/// Every root and proof is built with one call of [`NodeSource::nodes`] asking for at most about
/// `2 · log2(size)` nodes, so a database answers it in one round trip.
pub trait NodeSource {
    /// Why a read failed: the database's error, or a node that is not stored.
    type Error;

    /// The hashes of `ids` of log `log`, in the order asked. A node that is not stored is an error:
    /// every node asked for belongs to a tree size the caller said the log had reached.
    fn nodes(&mut self, log: LogId, ids: &[NodeId]) -> Result<Vec<Hash>, Self::Error>;
}

/// The nodes of any number of logs, in memory: for tests, and for trees small enough to hold.
#[derive(Clone, Debug, Default)]
pub struct MemoryNodes {
    nodes: BTreeMap<(LogId, NodeId), Hash>,
    n_batches: u64,
    n_reads: u64,
}

/// A node asked of [`MemoryNodes`] that it does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{id} of {log} is not stored")]
pub struct MissingNode {
    /// The log asked about.
    pub log: LogId,
    /// The node it does not hold.
    pub id: NodeId,
}

impl MemoryNodes {
    /// No nodes.
    pub fn new() -> MemoryNodes {
        MemoryNodes::default()
    }

    /// Stores nodes of `log`, as an appender returned them. A node stored again keeps its first hash:
    /// complete subtrees never change.
    pub fn insert(&mut self, log: LogId, nodes: &[StoredNode]) {
        for node in nodes {
            self.nodes.entry((log, node.id)).or_insert(node.hash);
        }
    }

    /// Replaces one stored hash, to test what a tampered store does to roots and proofs.
    pub fn overwrite(&mut self, log: LogId, id: NodeId, hash: Hash) {
        self.nodes.insert((log, id), hash);
    }

    /// How many nodes are stored, over all logs.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node is stored.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// How many calls of [`NodeSource::nodes`] were answered: round trips, for a database.
    pub fn n_batches(&self) -> u64 {
        self.n_batches
    }

    /// How many nodes were read, over all calls.
    pub fn n_reads(&self) -> u64 {
        self.n_reads
    }
}

impl NodeSource for MemoryNodes {
    type Error = MissingNode;

    fn nodes(&mut self, log: LogId, ids: &[NodeId]) -> Result<Vec<Hash>, MissingNode> {
        self.n_batches += 1;
        self.n_reads += ids.len() as u64;
        ids.iter().map(|&id| self.nodes.get(&(log, id)).copied().ok_or(MissingNode { log, id })).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::append::Frontier;
    use crate::hash::leaf_hash;

    #[test]
    fn a_subtree_is_complete_at_the_size_that_adds_its_last_leaf() {
        assert_eq!(NodeId::new(0, 0).complete_at(), 1);
        assert_eq!(NodeId::new(0, 6).complete_at(), 7);
        assert_eq!(NodeId::new(2, 1).complete_at(), 8);
        assert_eq!(NodeId::new(62, 1).complete_at(), i64::MAX as u64, "beyond any tree: the largest key");
        assert_eq!(NodeId::new(63, u64::MAX).complete_at(), i64::MAX as u64);
    }

    /// The order a store keyed by `complete_at` then level keeps: the order appends produce the nodes.
    #[test]
    fn appending_produces_nodes_in_the_order_of_their_key() {
        let mut frontier = Frontier::empty();
        let mut produced = Vec::new();
        // In batches of 7, as a writer appends a batch's entries.
        for batch in (0..100u32).collect::<Vec<_>>().chunks(7) {
            let leaves: Vec<Hash> = batch.iter().map(|leaf| leaf_hash(&leaf.to_be_bytes())).collect();
            let appended = frontier.append(&leaves);
            frontier = appended.frontier;
            produced.extend(appended.nodes.into_iter().map(|node| (node.id.complete_at(), node.id.level)));
        }
        let mut sorted = produced.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(produced, sorted, "each node's key is past every key before it");
        assert_eq!(produced.len(), 2 * 100 - 100u32.count_ones() as usize);
    }
}
