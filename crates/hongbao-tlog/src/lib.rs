//! The journal as a transparency log: RFC 9162 Merkle trees kept as stored complete subtrees, proofs built
//! from them, C2SP signed checkpoints, and receipts that anyone holding the operator's public key can
//! verify offline.
//!
//! Architecture invariant: this crate does no IO. It reads no file, socket, clock, environment or global
//! random source; stored nodes come through [`NodeSource`], key material as bytes the caller drew, and
//! time is not needed at all. (Checked by a test in the `hongbao` crate.)
//!
//! # Why the proof arithmetic is written here
//!
//! The issue asks for a well-kept crate where one fits. `ct-merkle` (0.3) was the candidate. Its
//! out-of-memory helpers (`indices_for_inclusion_proof`, `indices_for_consistency_proof`) return
//! positions in an array-based tree (the layout of RFC 9420 §4.1) at the *current* size, and in that
//! layout the nodes on the right border stand for incomplete subtrees whose hash changes with every
//! append; so they cannot serve a proof for a past tree size from rows written once, which is what a
//! receipt needs (its checkpoint is older than the tree). Its verifiers take no tree size and report
//! one `MalformedProof` for a truncated or a padded proof alike, where receipts must name which, and it
//! builds on `digest` 0.11 while the workspace is on `sha2` 0.10. What is written here instead is small:
//! the two verification loops of RFC 9162 §2.1.3.2 and §2.1.4.2 as the RFC states them, and the
//! `PATH`/`PROOF` recursions of §2.1.3.1 and §2.1.4.1 mapped to stored complete subtrees. Both are
//! checked against the published test vectors of transparency-dev/merkle (`tests/vectors/`).

mod append;
mod checkpoint;
mod consistency;
mod hash;
mod note;
mod prove;
mod ranges;
mod receipt;
mod report;
mod storage;
mod text;
mod verify;

pub use append::{Appended, Frontier, FrontierMismatch};
pub use checkpoint::{Checkpoint, CheckpointError, VerifiedCheckpoint, open_checkpoint};
pub use consistency::{ConsistencyError, VerifiedConsistency, format_proof, parse_proof, verify_consistency};
pub use hash::{Hash, empty_root, leaf_hash, node_hash};
pub use note::{KeyError, KeyId, NoteError, SignerKey, VerifierKey, is_valid_key_name};
pub use prove::{BuildError, consistency_proof, inclusion_proof, root_at};
pub use receipt::{RECEIPT_FILE_EXTENSION, RECEIPT_HEADER, Receipt, ReceiptError, VerifiedReceipt, verify_receipt};
pub use report::{describe_account, describe_kind};
pub use storage::{LogId, MemoryNodes, MissingNode, NodeId, NodeSource, StoredNode};
pub use verify::{ProofError, consistency_proof_len, inclusion_proof_len, root_from_inclusion_proof, verify_consistency_proof, verify_inclusion_proof};
