//! Appending leaves: from the tree's right edge (its frontier) and new leaf hashes, the complete
//! subtrees that become complete, to store, and the new right edge.

use crate::prove::{BuildError, read_exactly};
use crate::ranges::{fold_from_right, subtrees};
use crate::{Hash, LogId, NodeId, NodeSource, StoredNode, empty_root, node_hash};

/// The right edge of a tree of `size` leaves: the hashes of the complete subtrees on its right border,
/// one for each bit set in `size`, largest first. For 6 leaves (binary 110) they are the subtree of
/// leaves 0..4 and that of leaves 4..6.
///
/// That is at most 64 hashes, and all an appender needs: the tree's root, and every node that a new
/// leaf completes, follow from them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

/// What appending leaves produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Every complete subtree that the new leaves completed, the leaves themselves included (level 0),
    /// in the order they completed. Store them all under the log appended to.
    pub nodes: Vec<StoredNode>,
    /// The right edge after the new leaves.
    pub frontier: Frontier,
}

/// Frontier hashes that do not fit the tree size they were given for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tree of {size} leaves has {expected} frontier hashes, not {actual}")]
pub struct FrontierMismatch {
    /// The tree size given.
    pub size: u64,
    /// How many hashes that size has on its frontier: the bits set in it.
    pub expected: usize,
    /// How many were given.
    pub actual: usize,
}

impl Frontier {
    /// The right edge of the empty tree: no hashes.
    pub fn empty() -> Frontier {
        Frontier { size: 0, hashes: Vec::new() }
    }

    /// The complete subtrees on the right border of a tree of `size` leaves, largest first: the nodes
    /// whose hashes [`Frontier::from_hashes`] takes, in that order.
    pub fn node_ids(size: u64) -> Vec<NodeId> {
        subtrees(0..size)
    }

    /// The right edge of a tree of `size` leaves from the hashes of [`Frontier::node_ids`]`(size)`, in
    /// that order, as a caller kept them. Refused unless there is one hash per bit set in `size`.
    pub fn from_hashes(size: u64, hashes: Vec<Hash>) -> Result<Frontier, FrontierMismatch> {
        let expected = size.count_ones() as usize;
        if hashes.len() != expected {
            return Err(FrontierMismatch { size, expected, actual: hashes.len() });
        }
        Ok(Frontier { size, hashes })
    }

    /// The right edge of log `log` at `size` leaves, read from stored nodes in one call of
    /// [`NodeSource::nodes`] for at most 64 nodes.
    pub fn load<S: NodeSource>(source: &mut S, log: LogId, size: u64) -> Result<Frontier, BuildError<S::Error>> {
        let ids = Frontier::node_ids(size);
        let hashes = if ids.is_empty() { Vec::new() } else { read_exactly(source, log, &ids)? };
        Ok(Frontier { size, hashes })
    }

    /// How many leaves the tree has.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The hashes of [`Frontier::node_ids`]`(self.size())`, largest subtree first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The root hash of the tree of [`Frontier::size`] leaves, `MTH(D[0:size])` of RFC 9162 §2.1.1:
    /// the frontier folded from the right, or the empty tree's hash for no leaves.
    pub fn root(&self) -> Hash {
        if self.hashes.is_empty() { empty_root() } else { fold_from_right(&self.hashes) }
    }

    /// Appends leaves with hashes `leaf_hashes` (each [`crate::leaf_hash`] of an entry), in order, at
    /// leaf indexes `size`, `size + 1`, …. Returns the nodes to store, about two per leaf, and the new
    /// right edge; `self` is unchanged, so a caller whose write fails still holds the old edge.
    pub fn append(&self, leaf_hashes: &[Hash]) -> Appended {
        let mut size = self.size;
        let mut hashes = self.hashes.clone();
        let mut nodes = Vec::with_capacity(2 * leaf_hashes.len());
        for leaf in leaf_hashes {
            let mut id = NodeId::new(0, size);
            let mut hash = *leaf;
            nodes.push(StoredNode { id, hash });
            // A node with an odd index is a right child, and its left sibling is the smallest subtree of
            // the edge: together they complete their parent, as a carry does in binary addition.
            while id.index & 1 == 1 {
                let left = hashes.pop().expect("a right child's left sibling is on the frontier");
                hash = node_hash(&left, &hash);
                id = NodeId::new(id.level + 1, id.index >> 1);
                nodes.push(StoredNode { id, hash });
            }
            hashes.push(hash);
            size = size.checked_add(1).expect("a log cannot reach 2^64 entries");
        }
        Appended { nodes, frontier: Frontier { size, hashes } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryNodes, leaf_hash};

    #[test]
    fn appending_one_by_one_or_at_once_gives_the_same_nodes() {
        let leaves: Vec<Hash> = (0..37u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let at_once = Frontier::empty().append(&leaves);
        let mut frontier = Frontier::empty();
        let mut nodes = Vec::new();
        for leaf in &leaves {
            let appended = frontier.append(std::slice::from_ref(leaf));
            nodes.extend(appended.nodes);
            frontier = appended.frontier;
        }
        assert_eq!(at_once.nodes, nodes);
        assert_eq!(at_once.frontier, frontier);
        // 37 leaves complete 18 + 9 + 4 + 2 + 1 interior nodes.
        assert_eq!(nodes.len(), 37 + 34);
        assert_eq!(frontier.hashes().len(), 3, "37 is 100101 in binary");
    }

    #[test]
    fn a_frontier_loads_back_from_the_nodes_it_produced() {
        let leaves: Vec<Hash> = (0..100u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut store = MemoryNodes::new();
        let mut frontier = Frontier::empty();
        for chunk in leaves.chunks(7) {
            let appended = frontier.append(chunk);
            store.insert(LogId::JOURNAL, &appended.nodes);
            frontier = appended.frontier;
            assert_eq!(Frontier::load(&mut store, LogId::JOURNAL, frontier.size()), Ok(frontier.clone()));
        }
        assert_eq!(Frontier::from_hashes(6, vec![leaf_hash(b"")]), Err(FrontierMismatch { size: 6, expected: 2, actual: 1 }));
        assert_eq!(Frontier::empty().root(), empty_root());
    }
}
