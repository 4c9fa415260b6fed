//! Properties of proofs built from stored nodes: they equal RFC 9162's recursive definitions, verify,
//! cost one batched read of O(log n) nodes, and fail for any changed byte, any other leaf or index, and
//! any truncation or padding.

use std::sync::OnceLock;

use hongbao_tlog::{
    BuildError, Frontier, Hash, LogId, MemoryNodes, MissingNode, NodeId, ProofError, consistency_proof, inclusion_proof, leaf_hash, root_at,
    verify_consistency_proof, verify_inclusion_proof,
};
use proptest::prelude::*;

use crate::support::{entries, reference_consistency, reference_inclusion, reference_root, tree_of};

const MAX_SIZE: u64 = 1500;

/// One tree of `MAX_SIZE` leaves, built once; every size below it is a past state of that tree.
fn big_tree() -> &'static (MemoryNodes, Vec<Hash>) {
    static TREE: OnceLock<(MemoryNodes, Vec<Hash>)> = OnceLock::new();
    TREE.get_or_init(|| {
        let entries = entries(MAX_SIZE);
        let (store, _) = tree_of(&entries);
        (store, entries.iter().map(|entry| leaf_hash(entry)).collect())
    })
}

/// How many nodes a root or proof of a tree of `size` leaves may read: the RFC's ranges are at most
/// `bit_length(size)`, and the one incomplete range among them is at most `bit_length(size)` subtrees.
fn read_bound(size: u64) -> u64 {
    2 * u64::from(64 - size.leading_zeros())
}

#[test]
fn builders_equal_the_rfc_definitions_for_every_small_tree() {
    let (store, leaves) = big_tree();
    let mut store = store.clone();
    for size in 0..=70u64 {
        let past = &leaves[..size as usize];
        assert_eq!(root_at(&mut store, LogId::JOURNAL, size), Ok(reference_root(past)), "root of {size}");
        for index in 0..size {
            assert_eq!(
                inclusion_proof(&mut store, LogId::JOURNAL, index, size),
                Ok(reference_inclusion(index as usize, past)),
                "inclusion of {index} in {size}"
            );
        }
        for old_size in 1..=size {
            assert_eq!(
                consistency_proof(&mut store, LogId::JOURNAL, old_size, size),
                Ok(reference_consistency(old_size as usize, past)),
                "consistency from {old_size} to {size}"
            );
        }
    }
}

#[test]
fn builders_refuse_what_has_no_proof_and_report_missing_nodes() {
    let (store, _) = big_tree();
    let mut store = store.clone();
    assert_eq!(inclusion_proof(&mut store, LogId::JOURNAL, 5, 5), Err(BuildError::IndexOutOfRange { index: 5, size: 5 }));
    assert_eq!(consistency_proof(&mut store, LogId::JOURNAL, 6, 5), Err(BuildError::SizesOutOfOrder { old_size: 6, new_size: 5 }));
    assert_eq!(consistency_proof(&mut store, LogId::JOURNAL, 0, 5), Err(BuildError::EmptyOldTree));
    // The tree has MAX_SIZE leaves: a larger size needs a node that is not stored.
    assert!(matches!(root_at(&mut store, LogId::JOURNAL, MAX_SIZE + 1), Err(BuildError::Source(MissingNode { .. }))));
    // Another log's nodes are not this log's.
    assert!(matches!(root_at(&mut store, LogId::new(7), 3), Err(BuildError::Source(MissingNode { log, .. })) if log == LogId::new(7)));
}

#[test]
fn logs_are_kept_apart() {
    let mut store = MemoryNodes::new();
    let shard = LogId::new(1);
    let journal_leaves: Vec<Hash> = entries(10).iter().map(|entry| leaf_hash(entry)).collect();
    let shard_leaves: Vec<Hash> = entries(7).iter().rev().map(|entry| leaf_hash(entry)).collect();
    let journal = Frontier::empty().append(&journal_leaves);
    let sharded = Frontier::empty().append(&shard_leaves);
    store.insert(LogId::JOURNAL, &journal.nodes);
    store.insert(shard, &sharded.nodes);
    assert_eq!(root_at(&mut store, LogId::JOURNAL, 10), Ok(journal.frontier.root()));
    assert_eq!(root_at(&mut store, shard, 7), Ok(sharded.frontier.root()));
    assert_eq!(root_at(&mut store, shard, 7), Ok(reference_root(&shard_leaves)));
}

#[test]
fn a_rewritten_entry_breaks_consistency_with_a_kept_root() {
    let (store, leaves) = big_tree();
    let mut store = store.clone();
    let kept_size = 600;
    let kept_root = root_at(&mut store, LogId::JOURNAL, kept_size).expect("stored");
    // Rewrite entry 100 and every stored node above it, as an operator editing history would have to.
    let mut rewritten = leaves.clone();
    rewritten[100] = leaf_hash(b"an edited entry");
    let appended = Frontier::empty().append(&rewritten);
    let mut edited = MemoryNodes::new();
    edited.insert(LogId::JOURNAL, &appended.nodes);
    let new_root = appended.frontier.root();
    let proof = consistency_proof(&mut edited, LogId::JOURNAL, kept_size, MAX_SIZE).expect("stored");
    assert_eq!(verify_consistency_proof(kept_size, MAX_SIZE, &kept_root, &new_root, &proof), Err(ProofError::OldRootMismatch));
    // The honest tree passes.
    let honest_proof = consistency_proof(&mut store, LogId::JOURNAL, kept_size, MAX_SIZE).expect("stored");
    let honest_root = root_at(&mut store, LogId::JOURNAL, MAX_SIZE).expect("stored");
    assert_eq!(verify_consistency_proof(kept_size, MAX_SIZE, &kept_root, &honest_root, &honest_proof), Ok(()));
    // A tampered stored node makes every proof that reads it fail against an honest root: node (3, 12),
    // leaves 96..104, is the level-3 sibling on the path of leaf 104.
    store.overwrite(LogId::JOURNAL, NodeId::new(3, 12), leaf_hash(b"tampered"));
    let proof = inclusion_proof(&mut store, LogId::JOURNAL, 104, MAX_SIZE).expect("stored");
    assert_eq!(verify_inclusion_proof(&leaves[104], 104, MAX_SIZE, &proof, &honest_root), Err(ProofError::RootMismatch));
}

fn flip_byte(hash: &Hash, position: usize, flip: u8) -> Hash {
    let mut bytes = *hash.as_bytes();
    bytes[position % 32] ^= flip;
    Hash::new(bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn inclusion_proofs_verify_and_any_change_fails(
        (size, index) in (1..=MAX_SIZE).prop_flat_map(|size| (Just(size), 0..size)),
        victim in any::<prop::sample::Index>(),
        position in 0..32usize,
        flip in 1..=255u8,
        other_index in any::<prop::sample::Index>(),
    ) {
        let (store, leaves) = big_tree();
        let mut store = store.clone();
        let root = root_at(&mut store, LogId::JOURNAL, size).expect("stored");
        prop_assert_eq!(root, reference_root(&leaves[..size as usize]));
        let before = (store.n_batches(), store.n_reads());
        let proof = inclusion_proof(&mut store, LogId::JOURNAL, index, size).expect("stored");
        prop_assert!(store.n_batches() - before.0 <= 1, "one round trip");
        prop_assert!(store.n_reads() - before.1 <= read_bound(size), "{} reads for size {}", store.n_reads() - before.1, size);
        let leaf = leaves[index as usize];
        prop_assert_eq!(verify_inclusion_proof(&leaf, index, size, &proof, &root), Ok(()));

        // A changed byte anywhere: in a proof hash, in the leaf, in the root.
        if !proof.is_empty() {
            let mut changed = proof.clone();
            let at = victim.index(changed.len());
            changed[at] = flip_byte(&changed[at], position, flip);
            prop_assert_eq!(verify_inclusion_proof(&leaf, index, size, &changed, &root), Err(ProofError::RootMismatch));
        }
        prop_assert_eq!(verify_inclusion_proof(&flip_byte(&leaf, position, flip), index, size, &proof, &root), Err(ProofError::RootMismatch));
        prop_assert_eq!(verify_inclusion_proof(&leaf, index, size, &proof, &flip_byte(&root, position, flip)), Err(ProofError::RootMismatch));

        // Another index of the same tree.
        let other = other_index.index(size as usize) as u64;
        if other != index {
            prop_assert!(verify_inclusion_proof(&leaf, other, size, &proof, &root).is_err());
        }
        prop_assert_eq!(verify_inclusion_proof(&leaf, size, size, &proof, &root), Err(ProofError::IndexOutOfRange { index: size, size }));

        // Truncated, padded at the end, padded in the middle.
        if !proof.is_empty() {
            let at = victim.index(proof.len());
            let mut cut = proof.clone();
            cut.remove(at);
            prop_assert_eq!(verify_inclusion_proof(&leaf, index, size, &cut, &root), Err(ProofError::TooShort { expected: proof.len(), actual: proof.len() - 1 }));
        }
        let mut padded = proof.clone();
        padded.push(root);
        prop_assert_eq!(verify_inclusion_proof(&leaf, index, size, &padded, &root), Err(ProofError::TooLong { expected: proof.len(), actual: proof.len() + 1 }));
        let mut inserted = proof.clone();
        inserted.insert(victim.index(proof.len() + 1), leaf);
        prop_assert_eq!(verify_inclusion_proof(&leaf, index, size, &inserted, &root), Err(ProofError::TooLong { expected: proof.len(), actual: proof.len() + 1 }));
    }

    #[test]
    fn consistency_proofs_verify_and_any_change_fails(
        (new_size, old_size) in (1..=MAX_SIZE).prop_flat_map(|new_size| (Just(new_size), 1..=new_size)),
        victim in any::<prop::sample::Index>(),
        position in 0..32usize,
        flip in 1..=255u8,
    ) {
        let (store, _) = big_tree();
        let mut store = store.clone();
        let old_root = root_at(&mut store, LogId::JOURNAL, old_size).expect("stored");
        let new_root = root_at(&mut store, LogId::JOURNAL, new_size).expect("stored");
        let before = (store.n_batches(), store.n_reads());
        let proof = consistency_proof(&mut store, LogId::JOURNAL, old_size, new_size).expect("stored");
        prop_assert!(store.n_batches() - before.0 <= 1, "one round trip");
        prop_assert!(store.n_reads() - before.1 <= read_bound(new_size), "{} reads for size {}", store.n_reads() - before.1, new_size);
        prop_assert_eq!(verify_consistency_proof(old_size, new_size, &old_root, &new_root, &proof), Ok(()));

        if !proof.is_empty() {
            let mut changed = proof.clone();
            let at = victim.index(changed.len());
            changed[at] = flip_byte(&changed[at], position, flip);
            prop_assert!(matches!(
                verify_consistency_proof(old_size, new_size, &old_root, &new_root, &changed),
                Err(ProofError::OldRootMismatch | ProofError::NewRootMismatch)
            ));
            let mut cut = proof.clone();
            cut.remove(at);
            prop_assert_eq!(
                verify_consistency_proof(old_size, new_size, &old_root, &new_root, &cut),
                Err(ProofError::TooShort { expected: proof.len(), actual: proof.len() - 1 })
            );
        }
        let mut padded = proof.clone();
        padded.push(new_root);
        prop_assert_eq!(
            verify_consistency_proof(old_size, new_size, &old_root, &new_root, &padded),
            Err(ProofError::TooLong { expected: proof.len(), actual: proof.len() + 1 })
        );
        let changed_new_root = flip_byte(&new_root, position, flip);
        let changed_old_root = flip_byte(&old_root, position, flip);
        if old_size == new_size {
            prop_assert_eq!(
                verify_consistency_proof(old_size, new_size, &old_root, &changed_new_root, &proof),
                Err(ProofError::DifferentRootsAtSameSize { size: old_size })
            );
        } else {
            prop_assert_eq!(verify_consistency_proof(old_size, new_size, &old_root, &changed_new_root, &proof), Err(ProofError::NewRootMismatch));
            prop_assert!(verify_consistency_proof(old_size, new_size, &changed_old_root, &new_root, &proof).is_err());
            // Presented the other way round: the newer tree as the old one.
            prop_assert_eq!(
                verify_consistency_proof(new_size, old_size, &new_root, &old_root, &proof),
                Err(ProofError::SizesOutOfOrder { old_size: new_size, new_size: old_size })
            );
        }
    }
}
