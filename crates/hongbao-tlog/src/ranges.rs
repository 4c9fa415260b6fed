//! The ranges of leaves that RFC 9162's recursive definitions split a tree into, and the stored complete
//! subtrees each range is made of.
//!
//! RFC 9162 §2.1.1 splits `D[a:b]` at `a + k`, where `k` is the largest power of two below `b - a`. Every
//! range this produces, starting from `D[0:n]`, begins at a multiple of the largest power of two in its
//! length; so it is a run of complete subtrees, one for each bit set in its length, largest first, and
//! its hash is theirs folded from the right: `MTH(D[a:b]) = node(s1, node(s2, … node(s(k-1), sk)))`.
//! That is what lets every root and proof be read from stored complete subtrees.

use std::ops::Range;

use crate::{Hash, NodeId, node_hash};

/// The largest power of two strictly below `n`, the `k` of RFC 9162 §2.1.1. `n` must be at least 2.
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2, "only a range of two or more leaves is split");
    1 << (63 - (n - 1).leading_zeros())
}

/// The complete subtrees that make up `range`, largest first. The range must be one RFC 9162 splits a
/// tree into (see the module's documentation), or a tree `0..n`.
pub(crate) fn subtrees(range: Range<u64>) -> Vec<NodeId> {
    let mut start = range.start;
    let len = range.end - range.start;
    let mut out = Vec::with_capacity(len.count_ones() as usize);
    for level in (0..64u8).rev() {
        if len & (1 << level) != 0 {
            debug_assert_eq!(start % (1 << level), 0, "range {range:?} is not made of aligned complete subtrees");
            out.push(NodeId::new(level, start >> level));
            start += 1 << level;
        }
    }
    out
}

/// The hash of a range from the hashes of its complete subtrees, largest first (RFC 9162 §2.1.1).
/// There must be at least one.
pub(crate) fn fold_from_right(hashes: &[Hash]) -> Hash {
    let (last, rest) = hashes.split_last().expect("a non-empty range has at least one complete subtree");
    rest.iter().rev().fold(*last, |right, left| node_hash(left, &right))
}

/// The ranges whose hashes make the inclusion proof of leaf `index` in a tree of `size` leaves,
/// `PATH(index, D[0:size])` of RFC 9162 §2.1.3.1, in the proof's order (the leaf's sibling first).
/// `index` must be below `size`.
pub(crate) fn inclusion_ranges(index: u64, size: u64) -> Vec<Range<u64>> {
    debug_assert!(index < size);
    let (mut start, mut end) = (0, size);
    let mut top_down = Vec::new();
    while end - start > 1 {
        let middle = start + split_point(end - start);
        if index < middle {
            top_down.push(middle..end);
            end = middle;
        } else {
            top_down.push(start..middle);
            start = middle;
        }
    }
    top_down.reverse();
    top_down
}

/// The ranges whose hashes make the consistency proof from `old_size` to `new_size`,
/// `PROOF(old_size, D[0:new_size])` of RFC 9162 §2.1.4.1, in the proof's order. Requires
/// `0 < old_size < new_size`.
pub(crate) fn consistency_ranges(old_size: u64, new_size: u64) -> Vec<Range<u64>> {
    debug_assert!(0 < old_size && old_size < new_size);
    // SUBPROOF(m, D[start:end], b), unrolled: `whole_old_tree` is b, true while the old tree's root is a
    // node of the range being split, so the verifier already knows its hash.
    let (mut start, mut end, mut whole_old_tree) = (0, new_size, true);
    let mut top_down = Vec::new();
    loop {
        if old_size == end {
            if !whole_old_tree {
                top_down.push(start..end);
            }
            break;
        }
        let middle = start + split_point(end - start);
        if old_size <= middle {
            top_down.push(middle..end);
            end = middle;
        } else {
            top_down.push(start..middle);
            start = middle;
            whole_old_tree = false;
        }
    }
    top_down.reverse();
    top_down
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_points() {
        assert_eq!([2, 3, 4, 5, 8, 9].map(split_point), [1, 2, 2, 4, 4, 8]);
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }

    #[test]
    fn ranges_are_made_of_aligned_subtrees() {
        assert_eq!(subtrees(0..7), [NodeId::new(2, 0), NodeId::new(1, 2), NodeId::new(0, 6)]);
        assert_eq!(subtrees(4..7), [NodeId::new(1, 2), NodeId::new(0, 6)]);
        assert_eq!(subtrees(8..16), [NodeId::new(3, 1)]);
        assert_eq!(subtrees(0..u64::MAX).len(), 64);
    }

    #[test]
    fn proof_ranges_follow_the_rfc_recursion() {
        // RFC 9162 §2.1.5's example tree of seven leaves: the path of d0 is b, h, l, and of d6 is i, k.
        assert_eq!(inclusion_ranges(0, 7), [1..2, 2..4, 4..7]);
        assert_eq!(inclusion_ranges(6, 7), [4..6, 0..4]);
        // Its consistency proofs: from 3 leaves c, d, g, l; from 4 leaves l; from 6 leaves i, j, k.
        assert_eq!(consistency_ranges(3, 7), [2..3, 3..4, 0..2, 4..7]);
        assert_eq!(consistency_ranges(4, 7), vec![4..7]);
        assert_eq!(consistency_ranges(6, 7), [4..6, 6..7, 0..4]);
    }
}
