//! What the fuzz targets share: the log key their receipts and checkpoints are signed with, and a
//! way to cut one input into several.

use hongbao_tlog::{SignerKey, VerifierKey};

/// The origin of the log the seed receipts and checkpoints are of, and the name of its key.
pub const ORIGIN: &str = "hongbao.example/journal";

/// The key the seed receipts and checkpoints are signed with (the seed of the tlog crate's tests), so
/// that a target can verify them and a mutation of them gets as far as the proof.
pub fn log_key() -> SignerKey {
    SignerKey::generate(ORIGIN, [1; 32]).expect("the origin is a valid key name")
}

/// The public half of [`log_key`], read from its published text as a verifier would.
pub fn verifier() -> VerifierKey {
    VerifierKey::parse(&log_key().verifier().to_string()).expect("a key's own text form reads back")
}

/// Splits `data` at its first occurrence of `separator`: the part before, and the part after. Several
/// inputs (a header and a body, two checkpoints) come in one fuzz input this way, so the seed files
/// stay readable.
pub fn split_once<'a>(data: &'a [u8], separator: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let position = data.windows(separator.len()).position(|window| window == separator)?;
    Some((&data[..position], &data[position + separator.len()..]))
}

/// Cuts `data` into chunks whose lengths come from `lengths`, one byte each (0 counts as 1), the last
/// chunk taking what is left: how a body arrives over a network in pieces.
pub fn chunks<'a>(data: &'a [u8], lengths: &[u8]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut rest = data;
    for length in lengths {
        if rest.is_empty() {
            break;
        }
        let (piece, after) = rest.split_at(usize::from(*length).max(1).min(rest.len()));
        pieces.push(piece);
        rest = after;
    }
    if !rest.is_empty() {
        pieces.push(rest);
    }
    pieces
}
