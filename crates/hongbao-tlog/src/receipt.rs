//! Receipts: a journal entry, its place in the log, and the proof that it is in a signed checkpoint, in
//! one text that anyone holding the operator's public key can verify offline.
//!
//! A receipt is a C2SP `tlog-proof` (`c2sp.org/tlog-proof@v1`), so existing transparency tooling can
//! read it. Its `extra` line carries the entry's canonical bytes, from which the verifier computes the
//! leaf hash (the step the spec leaves to the application):
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 of LedgerTxn::canonical_bytes(seq)>
//! index <seq - 1>
//! <base64 hash of the inclusion proof, the leaf's sibling first>
//! …
//!
//! <the signed checkpoint, verbatim>
//! ```
//!
//! A journal entry's sequence number counts from 1 within its log, so the entry with sequence number
//! `seq` is the leaf at index `seq - 1`; the verifier checks that the index the receipt states is that
//! of the entry it carries.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hongbao_core::{CanonicalError, LedgerTxn};

use crate::checkpoint::{CheckpointError, VerifiedCheckpoint, open_checkpoint};
use crate::note::VerifierKey;
use crate::text::parse_decimal;
use crate::{Hash, ProofError, leaf_hash, verify_inclusion_proof};

/// The first line of every receipt (C2SP `tlog-proof` §Format).
pub const RECEIPT_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// The file extension C2SP `tlog-proof` recommends for a receipt, without the dot.
pub const RECEIPT_FILE_EXTENSION: &str = "tlog-proof";

/// A receipt's parts, before verification: the entry's canonical bytes, its leaf index, the inclusion
/// proof, and the signed checkpoint the proof leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    entry: Vec<u8>,
    leaf_index: u64,
    proof: Vec<Hash>,
    signed_checkpoint: String,
}

/// Why a receipt does not verify. Each names what failed; [`ReceiptError::code`] gives a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The text is not a receipt (C2SP `tlog-proof` §Format). Lines count from 1.
    #[error("the receipt is malformed at line {line}: {problem}")]
    Malformed { line: usize, problem: &'static str },
    /// The checkpoint is malformed, signed by another key only, badly signed, or for another log.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The entry the receipt carries is not a journal entry's canonical bytes.
    #[error("the receipt's entry is not a journal entry: {0}")]
    EntryMalformed(CanonicalError),
    /// The receipt states another leaf index than that of the entry it carries.
    #[error("the receipt places the entry at leaf index {index}, but the entry is journal entry {seq}, whose leaf index is one less")]
    WrongLeafIndex { index: u64, seq: u64 },
    /// The leaf index is not in the checkpoint's tree.
    #[error("the receipt's leaf index {index} is beyond the checkpoint, which holds {size} entries")]
    IndexBeyondCheckpoint { index: u64, size: u64 },
    /// The proof has fewer hashes than the entry's position in a tree of the checkpoint's size calls for.
    #[error("the inclusion proof is truncated: it has {actual} hashes where {expected} are needed")]
    ProofTruncated { expected: usize, actual: usize },
    /// The proof has more hashes than called for.
    #[error("the inclusion proof is padded: it has {actual} hashes where {expected} are needed")]
    ProofPadded { expected: usize, actual: usize },
    /// The entry and the proof do not lead to the checkpoint's root: the entry was changed after it was
    /// logged (an amount, a party, anything in it), or the proof is from another tree.
    #[error(
        "entry {} and its inclusion proof do not lead to the root hash of the signed checkpoint of {size} entries: the entry was changed after it was logged, or the proof is from another tree",
        index + 1
    )]
    NotInCheckpoint { index: u64, size: u64 },
    /// The entry is in the log, but its postings do not sum to zero.
    #[error("the entry is in the log, but its postings do not balance: they sum to {sum}")]
    Unbalanced { sum: i128 },
}

impl ReceiptError {
    /// A stable snake_case code for the failure, for programs and the HTTP edge.
    pub fn code(&self) -> &'static str {
        match self {
            ReceiptError::Malformed { .. } => "receipt_malformed",
            ReceiptError::Checkpoint(error) => error.code(),
            ReceiptError::EntryMalformed(_) => "entry_malformed",
            ReceiptError::WrongLeafIndex { .. } => "wrong_leaf_index",
            ReceiptError::IndexBeyondCheckpoint { .. } => "index_beyond_checkpoint",
            ReceiptError::ProofTruncated { .. } => "proof_truncated",
            ReceiptError::ProofPadded { .. } => "proof_padded",
            ReceiptError::NotInCheckpoint { .. } => "not_in_checkpoint",
            ReceiptError::Unbalanced { .. } => "entry_unbalanced",
        }
    }
}

impl Receipt {
    /// The receipt of `entry` (the canonical bytes of a journal entry) at `leaf_index`, with `proof`, its
    /// inclusion proof in the tree of `signed_checkpoint`, a checkpoint signed as a note. It is not
    /// checked here: [`verify_receipt`] is how anyone checks it.
    pub fn new(entry: Vec<u8>, leaf_index: u64, proof: Vec<Hash>, signed_checkpoint: String) -> Receipt {
        Receipt { entry, leaf_index, proof, signed_checkpoint }
    }

    /// Reads the text form (see the module's documentation), checking its form only.
    pub fn parse(text: &str) -> Result<Receipt, ReceiptError> {
        // A text that ends too soon is malformed at the line after its last.
        let end_line = text.split_inclusive('\n').count() + 1;
        let mut lines = text.split_inclusive('\n').enumerate().map(|(number, line)| (number + 1, line));
        let mut next_line = |problem: &'static str| -> Result<(usize, &str), ReceiptError> {
            let (number, line) = lines.next().ok_or(ReceiptError::Malformed { line: end_line, problem })?;
            let content = line.strip_suffix('\n').ok_or(ReceiptError::Malformed { line: number, problem: "the line does not end in a newline" })?;
            Ok((number, content))
        };
        let (number, header) = next_line("the receipt is empty")?;
        if header != RECEIPT_HEADER {
            return Err(ReceiptError::Malformed { line: number, problem: "the first line is not c2sp.org/tlog-proof@v1" });
        }
        let (number, extra) = next_line("the receipt ends before its entry")?;
        let entry = extra
            .strip_prefix("extra ")
            .and_then(|encoded| STANDARD.decode(encoded).ok())
            .ok_or(ReceiptError::Malformed { line: number, problem: "the second line is not \"extra\" and the entry in standard base64" })?;
        let (number, index_line) = next_line("the receipt ends before its leaf index")?;
        let leaf_index = index_line
            .strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or(ReceiptError::Malformed { line: number, problem: "the third line is not \"index\" and a decimal without leading zeros" })?;
        let mut proof = Vec::new();
        let blank_line = loop {
            let (number, line) = next_line("the receipt ends before the blank line and the checkpoint")?;
            if line.is_empty() {
                break number;
            }
            proof.push(Hash::from_base64(line).ok_or(ReceiptError::Malformed { line: number, problem: "a proof line is not the base64 of a 32-byte hash" })?);
        };
        let signed_checkpoint: String = lines.map(|(_, line)| line).collect();
        if signed_checkpoint.is_empty() {
            return Err(ReceiptError::Malformed { line: blank_line + 1, problem: "there is no checkpoint after the blank line" });
        }
        Ok(Receipt { entry, leaf_index, proof, signed_checkpoint })
    }

    /// The text form: a C2SP `tlog-proof` whose `extra` line is the entry (see the module's
    /// documentation).
    pub fn to_text(&self) -> String {
        let mut text = format!("{RECEIPT_HEADER}\nextra {}\nindex {}\n", STANDARD.encode(&self.entry), self.leaf_index);
        for hash in &self.proof {
            text.push_str(&hash.to_base64());
            text.push('\n');
        }
        text.push('\n');
        text.push_str(&self.signed_checkpoint);
        text
    }

    /// The entry's canonical bytes, [`LedgerTxn::canonical_bytes`].
    pub fn entry(&self) -> &[u8] {
        &self.entry
    }

    /// The leaf index the receipt states, counted from 0.
    pub fn leaf_index(&self) -> u64 {
        self.leaf_index
    }

    /// The inclusion proof, the leaf's sibling first.
    pub fn proof(&self) -> &[Hash] {
        &self.proof
    }

    /// The signed checkpoint, as a C2SP signed note.
    pub fn signed_checkpoint(&self) -> &str {
        &self.signed_checkpoint
    }
}

/// A receipt that verified: the entry is in the log at the stated place, exactly as it reads, in a tree
/// whose root the operator's key signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedReceipt {
    pub(crate) checkpoint: VerifiedCheckpoint,
    pub(crate) leaf_index: u64,
    pub(crate) seq: u64,
    pub(crate) txn: LedgerTxn,
    pub(crate) leaf_hash: Hash,
    pub(crate) proof_len: usize,
}

impl VerifiedReceipt {
    /// The checkpoint the entry was proven in, and the key that signed it.
    pub fn checkpoint(&self) -> &VerifiedCheckpoint {
        &self.checkpoint
    }

    /// The entry's leaf index, counted from 0.
    pub fn leaf_index(&self) -> u64 {
        self.leaf_index
    }

    /// The entry's journal sequence number, counted from 1: its position in the log.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The ledger transaction the entry records.
    pub fn txn(&self) -> &LedgerTxn {
        &self.txn
    }

    /// `SHA-256(0x00 || entry)`, the entry's leaf hash (RFC 9162 §2.1.1).
    pub fn leaf_hash(&self) -> Hash {
        self.leaf_hash
    }

    /// How many hashes the inclusion proof had.
    pub fn proof_len(&self) -> usize {
        self.proof_len
    }
}

/// Verifies a receipt with nothing but the operator's public key: the checkpoint is signed by `key` and
/// is for the log `expected_origin` (by default the key's name, see [`open_checkpoint`]); the entry is a
/// journal entry whose position is the stated leaf index; the inclusion proof leads from the entry's
/// leaf hash to the checkpoint's root (RFC 9162 §2.1.3.2); and the entry's postings balance.
///
/// Errors: each failure has its [`ReceiptError`] variant.
pub fn verify_receipt(text: &str, key: &VerifierKey, expected_origin: Option<&str>) -> Result<VerifiedReceipt, ReceiptError> {
    let receipt = Receipt::parse(text)?;
    let checkpoint = open_checkpoint(&receipt.signed_checkpoint, key, expected_origin)?;
    let (seq, txn) = LedgerTxn::from_canonical_bytes(&receipt.entry).map_err(ReceiptError::EntryMalformed)?;
    let index = receipt.leaf_index;
    if index.checked_add(1) != Some(seq) {
        return Err(ReceiptError::WrongLeafIndex { index, seq });
    }
    let size = checkpoint.checkpoint().size();
    let leaf = leaf_hash(&receipt.entry);
    verify_inclusion_proof(&leaf, index, size, &receipt.proof, &checkpoint.checkpoint().root()).map_err(|error| match error {
        ProofError::TooShort { expected, actual } => ReceiptError::ProofTruncated { expected, actual },
        ProofError::TooLong { expected, actual } => ReceiptError::ProofPadded { expected, actual },
        ProofError::IndexOutOfRange { .. } => ReceiptError::IndexBeyondCheckpoint { index, size },
        // RootMismatch; the verifier of inclusion returns none of the consistency errors.
        _ => ReceiptError::NotInCheckpoint { index, size },
    })?;
    if !txn.is_balanced() {
        let sum = txn.postings().iter().map(|posting| i128::from(posting.amount)).sum();
        return Err(ReceiptError::Unbalanced { sum });
    }
    Ok(VerifiedReceipt { checkpoint, leaf_index: index, seq, txn, leaf_hash: leaf, proof_len: receipt.proof.len() })
}
