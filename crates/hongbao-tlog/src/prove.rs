//! Roots of past tree sizes, inclusion proofs and consistency proofs, built from stored complete subtrees
//! with one batched read of O(log n) nodes each, never by recomputing the tree.
//!
//! Each hash of a proof is the hash of a range of leaves that RFC 9162 names (`PATH` in §2.1.3.1,
//! `SUBPROOF` in §2.1.4.1). Most ranges are complete subtrees, stored as they are; at most one per proof
//! lies on the right border of the requested tree and is not complete, so it is folded from the
//! complete subtrees that make it up (at most 64 of them, one per bit of its length).

use std::ops::Range;

use crate::ranges::{consistency_ranges, fold_from_right, inclusion_ranges, subtrees};
use crate::{Hash, LogId, NodeId, NodeSource, empty_root};

/// Why a root, a proof or a frontier could not be built from stored nodes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError<E> {
    /// The leaf asked about is not in a tree of the size asked.
    #[error("leaf index {index} is not in a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    /// A consistency proof from the empty tree proves nothing (RFC 9162 §2.1.4 requires `0 < old size`).
    #[error("there is no consistency proof from the empty tree: every tree extends it")]
    EmptyOldTree,
    /// A consistency proof's old size is larger than its new size.
    #[error("the old tree size {old_size} is larger than the new tree size {new_size}")]
    SizesOutOfOrder { old_size: u64, new_size: u64 },
    /// The node source broke its contract: it answered a different number of hashes than asked for.
    #[error("the node source answered {answered} hashes for {asked} nodes")]
    SourceMiscounted { asked: usize, answered: usize },
    /// The node source could not read the nodes: the database's error, or a node that is not stored
    /// (the log has not reached the size asked about, or its storage lost rows).
    #[error("could not read the tree's stored nodes")]
    Source(#[source] E),
}

/// The root hash of log `log` when it had `size` leaves, `MTH(D[0:size])` of RFC 9162 §2.1.1, from the
/// `popcount(size)` complete subtrees that make up that tree (at most 64 nodes, one read). The empty
/// tree's root needs no read.
pub fn root_at<S: NodeSource>(source: &mut S, log: LogId, size: u64) -> Result<Hash, BuildError<S::Error>> {
    if size == 0 {
        return Ok(empty_root());
    }
    let whole_tree = 0..size;
    Ok(read_ranges(source, log, std::slice::from_ref(&whole_tree))?.pop().expect("one range asked, one hash answered"))
}

/// The inclusion proof of leaf `index` in log `log` when it had `size` leaves: `PATH(index,
/// D[0:size])` of RFC 9162 §2.1.3.1, the leaf's sibling first and a child of the root last, about
/// `log2(size)` hashes. Reads at most about `2 · log2(size)` stored nodes in one call.
///
/// Errors: [`BuildError::IndexOutOfRange`] unless `index < size`; [`BuildError::Source`] when a node
/// cannot be read.
pub fn inclusion_proof<S: NodeSource>(source: &mut S, log: LogId, index: u64, size: u64) -> Result<Vec<Hash>, BuildError<S::Error>> {
    if index >= size {
        return Err(BuildError::IndexOutOfRange { index, size });
    }
    read_ranges(source, log, &inclusion_ranges(index, size))
}

/// The consistency proof that log `log` at `new_size` leaves extends itself at `old_size` leaves:
/// `PROOF(old_size, D[0:new_size])` of RFC 9162 §2.1.4.1, about `log2(new_size)` hashes, empty when
/// the sizes are equal. Reads at most about `2 · log2(new_size)` stored nodes in one call.
///
/// Errors: [`BuildError::SizesOutOfOrder`] when `old_size > new_size`; [`BuildError::EmptyOldTree`]
/// when `old_size` is 0; [`BuildError::Source`] when a node cannot be read.
pub fn consistency_proof<S: NodeSource>(source: &mut S, log: LogId, old_size: u64, new_size: u64) -> Result<Vec<Hash>, BuildError<S::Error>> {
    if old_size > new_size {
        return Err(BuildError::SizesOutOfOrder { old_size, new_size });
    }
    if old_size == 0 {
        return Err(BuildError::EmptyOldTree);
    }
    if old_size == new_size {
        return Ok(Vec::new());
    }
    read_ranges(source, log, &consistency_ranges(old_size, new_size))
}

/// The hashes of `ranges`, each read as the complete subtrees that make it up, all in one call.
fn read_ranges<S: NodeSource>(source: &mut S, log: LogId, ranges: &[Range<u64>]) -> Result<Vec<Hash>, BuildError<S::Error>> {
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<Vec<NodeId>> = ranges.iter().map(|range| subtrees(range.clone())).collect();
    let ids: Vec<NodeId> = parts.iter().flatten().copied().collect();
    let hashes = read_exactly(source, log, &ids)?;
    let mut rest = hashes.as_slice();
    let mut out = Vec::with_capacity(parts.len());
    for part in &parts {
        let (part_hashes, after) = rest.split_at(part.len());
        out.push(fold_from_right(part_hashes));
        rest = after;
    }
    Ok(out)
}

/// The hashes of `ids`, checking that the source answered one per node.
pub(crate) fn read_exactly<S: NodeSource>(source: &mut S, log: LogId, ids: &[NodeId]) -> Result<Vec<Hash>, BuildError<S::Error>> {
    let hashes = source.nodes(log, ids).map_err(BuildError::Source)?;
    if hashes.len() != ids.len() {
        return Err(BuildError::SourceMiscounted { asked: ids.len(), answered: hashes.len() });
    }
    Ok(hashes)
}
