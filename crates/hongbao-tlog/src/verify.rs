//! Verifying inclusion and consistency proofs with the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2,
//! needing nothing but the hashes: no storage, no tree.
//!
//! Before hashing, the proof's length is compared with the one RFC 9162's algorithm consumes for the
//! sizes given, so that a truncated proof and a padded one are each named as such rather than as a
//! wrong root.

use crate::{Hash, node_hash};

/// Why a proof does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not below the tree size (RFC 9162 §2.1.3.2 step 1).
    #[error("leaf index {index} is not in a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    /// The proof has fewer hashes than the sizes call for: it was cut short.
    #[error("the proof has {actual} hashes where the tree sizes call for {expected}: it is truncated")]
    TooShort { expected: usize, actual: usize },
    /// The proof has more hashes than the sizes call for: it was padded.
    #[error("the proof has {actual} hashes where the tree sizes call for {expected}: it is padded")]
    TooLong { expected: usize, actual: usize },
    /// The inclusion proof leads from the leaf to another root: the leaf is not the one logged at that
    /// index, or the proof is from another tree.
    #[error("the inclusion proof does not lead from the leaf to the root hash")]
    RootMismatch,
    /// A consistency proof from the empty tree proves nothing (RFC 9162 §2.1.4.2 requires
    /// `0 < first`).
    #[error("a consistency proof from the empty tree proves nothing")]
    EmptyOldTree,
    /// The old tree is larger than the new one.
    #[error("the old tree size {old_size} is larger than the new tree size {new_size}")]
    SizesOutOfOrder { old_size: u64, new_size: u64 },
    /// Two different roots for the same size: two different trees, at most one of them the log's.
    #[error("two different root hashes for the same tree size {size}")]
    DifferentRootsAtSameSize { size: u64 },
    /// The consistency proof does not reproduce the old root: the old tree is not a prefix of the
    /// tree the proof is for (history before the old size was rewritten), or the proof is forged.
    #[error("the consistency proof does not reproduce the old root hash")]
    OldRootMismatch,
    /// The consistency proof reproduces the old root but leads to another new root.
    #[error("the consistency proof does not lead to the new root hash")]
    NewRootMismatch,
}

/// How many hashes the inclusion proof of leaf `index` in a tree of `size` leaves has, as RFC 9162
/// §2.1.3.2's loop consumes them; `None` unless `index < size`.
pub fn inclusion_proof_len(index: u64, size: u64) -> Option<usize> {
    if index >= size {
        return None;
    }
    let (mut first, mut second) = (index, size - 1);
    let mut len = 0;
    while second != 0 {
        if first & 1 == 1 || first == second {
            while first & 1 == 0 && first != 0 {
                first >>= 1;
                second >>= 1;
            }
        }
        first >>= 1;
        second >>= 1;
        len += 1;
    }
    Some(len)
}

/// How many hashes the consistency proof from `old_size` to `new_size` leaves has, as RFC 9162
/// §2.1.4.2's algorithm consumes them; `None` unless `0 < old_size <= new_size`.
pub fn consistency_proof_len(old_size: u64, new_size: u64) -> Option<usize> {
    if old_size == 0 || old_size > new_size {
        return None;
    }
    if old_size == new_size {
        return Some(0);
    }
    let (mut first, mut second) = (old_size - 1, new_size - 1);
    while first & 1 == 1 {
        first >>= 1;
        second >>= 1;
    }
    // The first hash seeds both roots; for an old size that is a power of two the verifier seeds them
    // with the old root itself, which the proof therefore leaves out.
    let mut len = usize::from(!old_size.is_power_of_two());
    while second != 0 {
        if first & 1 == 1 || first == second {
            while first & 1 == 0 && first != 0 {
                first >>= 1;
                second >>= 1;
            }
        }
        first >>= 1;
        second >>= 1;
        len += 1;
    }
    Some(len)
}

fn check_len(expected: usize, actual: usize) -> Result<(), ProofError> {
    match actual.cmp(&expected) {
        std::cmp::Ordering::Less => Err(ProofError::TooShort { expected, actual }),
        std::cmp::Ordering::Greater => Err(ProofError::TooLong { expected, actual }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

/// The root hash that an inclusion proof leads to from leaf `index` with hash `leaf_hash` in a tree of
/// `size` leaves, by RFC 9162 §2.1.3.2. Compare it with a trusted root, or call
/// [`verify_inclusion_proof`].
///
/// Errors: [`ProofError::IndexOutOfRange`], [`ProofError::TooShort`], [`ProofError::TooLong`].
pub fn root_from_inclusion_proof(leaf_hash: &Hash, index: u64, size: u64, proof: &[Hash]) -> Result<Hash, ProofError> {
    let expected = inclusion_proof_len(index, size).ok_or(ProofError::IndexOutOfRange { index, size })?;
    check_len(expected, proof.len())?;
    let (mut first, mut second) = (index, size - 1);
    let mut root = *leaf_hash;
    for sibling in proof {
        if first & 1 == 1 || first == second {
            root = node_hash(sibling, &root);
            while first & 1 == 0 && first != 0 {
                first >>= 1;
                second >>= 1;
            }
        } else {
            root = node_hash(&root, sibling);
        }
        first >>= 1;
        second >>= 1;
    }
    debug_assert_eq!(second, 0, "the length check leaves no hash over and none missing");
    Ok(root)
}

/// Checks that `proof` proves leaf `index`, with hash `leaf_hash`, in the tree of `size` leaves whose
/// root is `root` (RFC 9162 §2.1.3.2).
///
/// Errors: [`ProofError::IndexOutOfRange`], [`ProofError::TooShort`], [`ProofError::TooLong`],
/// [`ProofError::RootMismatch`].
pub fn verify_inclusion_proof(leaf_hash: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<(), ProofError> {
    if root_from_inclusion_proof(leaf_hash, index, size, proof)? != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that `proof` proves the tree of `new_size` leaves with root `new_root` extends the tree of
/// `old_size` leaves with root `old_root`: everything logged before `old_size` is still there,
/// unchanged and in order (RFC 9162 §2.1.4.2). Equal sizes need an empty proof and equal roots.
///
/// Errors: [`ProofError::SizesOutOfOrder`], [`ProofError::EmptyOldTree`],
/// [`ProofError::DifferentRootsAtSameSize`], [`ProofError::TooShort`], [`ProofError::TooLong`],
/// [`ProofError::OldRootMismatch`], [`ProofError::NewRootMismatch`].
pub fn verify_consistency_proof(old_size: u64, new_size: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizesOutOfOrder { old_size, new_size });
    }
    if old_size == 0 {
        return Err(ProofError::EmptyOldTree);
    }
    let expected = consistency_proof_len(old_size, new_size).expect("0 < old_size <= new_size was checked");
    check_len(expected, proof.len())?;
    if old_size == new_size {
        if old_root != new_root {
            return Err(ProofError::DifferentRootsAtSameSize { size: old_size });
        }
        return Ok(());
    }
    // Steps 2 to 5: seed both roots, with the old root itself when the old size is a power of two.
    let mut path = proof.iter();
    let seed = if old_size.is_power_of_two() { *old_root } else { *path.next().expect("the length check leaves a first hash") };
    let (mut first, mut second) = (old_size - 1, new_size - 1);
    while first & 1 == 1 {
        first >>= 1;
        second >>= 1;
    }
    let (mut old_computed, mut new_computed) = (seed, seed);
    // Step 6.
    for hash in path {
        if first & 1 == 1 || first == second {
            old_computed = node_hash(hash, &old_computed);
            new_computed = node_hash(hash, &new_computed);
            while first & 1 == 0 && first != 0 {
                first >>= 1;
                second >>= 1;
            }
        } else {
            new_computed = node_hash(&new_computed, hash);
        }
        first >>= 1;
        second >>= 1;
    }
    debug_assert_eq!(second, 0, "the length check leaves no hash over and none missing");
    // Step 7.
    if old_computed != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if new_computed != *new_root {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranges::{consistency_ranges, inclusion_ranges};

    #[test]
    fn proof_lengths_match_the_rfc_recursion() {
        for size in 1..200 {
            for index in 0..size {
                assert_eq!(inclusion_proof_len(index, size), Some(inclusion_ranges(index, size).len()), "{index} of {size}");
            }
            for old_size in 1..size {
                assert_eq!(consistency_proof_len(old_size, size), Some(consistency_ranges(old_size, size).len()), "{old_size} to {size}");
            }
        }
        assert_eq!(inclusion_proof_len(0, 0), None);
        assert_eq!(consistency_proof_len(0, 5), None);
        assert_eq!(consistency_proof_len(6, 5), None);
        assert_eq!(inclusion_proof_len(u64::MAX - 1, u64::MAX), Some(63), "the last leaf's siblings are the 63 larger complete subtrees");
        assert_eq!(inclusion_proof_len(0, u64::MAX), Some(64));
    }
}
