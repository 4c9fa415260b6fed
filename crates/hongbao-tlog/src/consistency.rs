//! Checking that a newer signed checkpoint extends a kept one: both signed by the operator's key, for the
//! same log, and a consistency proof between them (RFC 9162 §2.1.4.2). This is how a court or an auditor
//! who kept an old checkpoint learns that nothing logged before it was changed since.
//!
//! A consistency proof's text form is its hashes in standard base64, one per line, each ending in a
//! newline (as in the proof lines of C2SP `tlog-proof`); the proof between equal sizes is empty.

use crate::checkpoint::{CheckpointError, VerifiedCheckpoint, open_checkpoint};
use crate::note::VerifierKey;
use crate::{Hash, ProofError, verify_consistency_proof};

/// Why a newer checkpoint is not shown to extend a kept one. [`ConsistencyError::code`] gives a stable
/// code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsistencyError {
    /// The kept (older) checkpoint does not open.
    #[error("the kept checkpoint: {0}")]
    OldCheckpoint(CheckpointError),
    /// The checkpoint presented as newer does not open.
    #[error("the newer checkpoint: {0}")]
    NewCheckpoint(CheckpointError),
    /// A line of the proof's text is not a base64 hash. Lines count from 1.
    #[error("the consistency proof is malformed at line {line}: it is not the base64 of a 32-byte hash ending in a newline")]
    MalformedProof { line: usize },
    /// The checkpoint presented as newer is smaller than the kept one: an old checkpoint presented as
    /// newer.
    #[error("the checkpoint presented as newer holds {new_size} entries, fewer than the {old_size} of the kept one: it is older")]
    NewerIsSmaller { old_size: u64, new_size: u64 },
    /// Two checkpoints of the same size with different roots, both signed: the log showed two different
    /// histories of the same length, at most one of them the one kept.
    #[error("both checkpoints hold {size} entries but their root hashes differ: the log has signed two different histories")]
    SameSizeDifferentRoot { size: u64 },
    /// The kept checkpoint is of the empty tree, which every tree extends; a proof from it proves nothing.
    #[error("the kept checkpoint is of the empty log: there is nothing to be consistent with")]
    EmptyOldTree,
    /// The proof has fewer hashes than the two sizes call for.
    #[error("the consistency proof is truncated: it has {actual} hashes where {expected} are needed")]
    ProofTruncated { expected: usize, actual: usize },
    /// The proof has more hashes than the two sizes call for.
    #[error("the consistency proof is padded: it has {actual} hashes where {expected} are needed")]
    ProofPadded { expected: usize, actual: usize },
    /// The proof does not reproduce the kept checkpoint's root: the entries it covered are no longer what
    /// they were when it was signed (history was rewritten), or the proof is forged.
    #[error(
        "the consistency proof does not reproduce the kept checkpoint's root: the first {old_size} entries were rewritten since it was signed, or the proof is forged"
    )]
    HistoryRewritten { old_size: u64 },
    /// The proof reproduces the kept root but does not lead to the newer checkpoint's root.
    #[error("the consistency proof does not lead to the newer checkpoint's root hash")]
    NewRootMismatch,
}

impl ConsistencyError {
    /// A stable snake_case code for the failure, for programs and the HTTP edge.
    pub fn code(&self) -> &'static str {
        match self {
            ConsistencyError::OldCheckpoint(error) | ConsistencyError::NewCheckpoint(error) => error.code(),
            ConsistencyError::MalformedProof { .. } => "proof_malformed",
            ConsistencyError::NewerIsSmaller { .. } => "newer_is_smaller",
            ConsistencyError::SameSizeDifferentRoot { .. } => "same_size_different_root",
            ConsistencyError::EmptyOldTree => "empty_old_tree",
            ConsistencyError::ProofTruncated { .. } => "proof_truncated",
            ConsistencyError::ProofPadded { .. } => "proof_padded",
            ConsistencyError::HistoryRewritten { .. } => "history_rewritten",
            ConsistencyError::NewRootMismatch => "new_root_mismatch",
        }
    }
}

/// Two checkpoints shown consistent: the newer one's tree extends the kept one's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedConsistency {
    pub(crate) old: VerifiedCheckpoint,
    pub(crate) new: VerifiedCheckpoint,
    pub(crate) proof_len: usize,
}

impl VerifiedConsistency {
    /// The kept checkpoint.
    pub fn old(&self) -> &VerifiedCheckpoint {
        &self.old
    }

    /// The newer checkpoint.
    pub fn new_checkpoint(&self) -> &VerifiedCheckpoint {
        &self.new
    }

    /// How many hashes the proof had.
    pub fn proof_len(&self) -> usize {
        self.proof_len
    }
}

/// Checks that `new_checkpoint` extends `old_checkpoint` (both signed notes) by `proof`: both are signed
/// by `key` for the log named like the key (see [`open_checkpoint`]), the newer is not smaller, equal
/// sizes have equal roots, and the proof verifies (RFC 9162 §2.1.4.2).
///
/// Errors: each failure has its [`ConsistencyError`] variant; an old checkpoint presented as newer is
/// [`ConsistencyError::NewerIsSmaller`] or [`ConsistencyError::SameSizeDifferentRoot`].
pub fn verify_consistency(old_checkpoint: &str, new_checkpoint: &str, proof: &[Hash], key: &VerifierKey) -> Result<VerifiedConsistency, ConsistencyError> {
    let old = open_checkpoint(old_checkpoint, key, None).map_err(ConsistencyError::OldCheckpoint)?;
    let new = open_checkpoint(new_checkpoint, key, None).map_err(ConsistencyError::NewCheckpoint)?;
    let (old_size, new_size) = (old.checkpoint().size(), new.checkpoint().size());
    verify_consistency_proof(old_size, new_size, &old.checkpoint().root(), &new.checkpoint().root(), proof).map_err(|error| match error {
        ProofError::SizesOutOfOrder { .. } => ConsistencyError::NewerIsSmaller { old_size, new_size },
        ProofError::DifferentRootsAtSameSize { size } => ConsistencyError::SameSizeDifferentRoot { size },
        ProofError::EmptyOldTree => ConsistencyError::EmptyOldTree,
        ProofError::TooShort { expected, actual } => ConsistencyError::ProofTruncated { expected, actual },
        ProofError::TooLong { expected, actual } => ConsistencyError::ProofPadded { expected, actual },
        ProofError::OldRootMismatch => ConsistencyError::HistoryRewritten { old_size },
        // NewRootMismatch; the verifier of consistency returns none of the inclusion errors.
        _ => ConsistencyError::NewRootMismatch,
    })?;
    Ok(VerifiedConsistency { old, new, proof_len: proof.len() })
}

/// A proof's text form: each hash in standard base64 on a line of its own.
pub fn format_proof(proof: &[Hash]) -> String {
    proof.iter().map(|hash| hash.to_base64() + "\n").collect()
}

/// Reads [`format_proof`]'s text form, strictly: every line a base64 hash ending in a newline.
pub fn parse_proof(text: &str) -> Result<Vec<Hash>, ConsistencyError> {
    text.split_inclusive('\n')
        .enumerate()
        .map(|(number, line)| line.strip_suffix('\n').and_then(Hash::from_base64).ok_or(ConsistencyError::MalformedProof { line: number + 1 }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{empty_root, leaf_hash};

    #[test]
    fn proofs_read_back_and_bad_lines_are_named() {
        let proof = vec![leaf_hash(b"a"), empty_root()];
        assert_eq!(parse_proof(&format_proof(&proof)), Ok(proof.clone()));
        assert_eq!(parse_proof(""), Ok(Vec::new()));
        let text = format_proof(&proof);
        assert_eq!(parse_proof(text.trim_end()), Err(ConsistencyError::MalformedProof { line: 2 }));
        assert_eq!(parse_proof(&format!("{text}\n")), Err(ConsistencyError::MalformedProof { line: 3 }));
        assert_eq!(parse_proof(&text.replacen('\n', "\r\n", 1)), Err(ConsistencyError::MalformedProof { line: 1 }));
    }
}
