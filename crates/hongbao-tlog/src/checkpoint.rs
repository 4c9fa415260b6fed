//! Checkpoints (C2SP `tlog-checkpoint`): a log's origin, tree size and root hash, signed as a note.
//!
//! ```text
//! hongbao.example/journal
//! 5000
//! qmWbX1U6EdBHJmR/5ckGWq5jHKtrpJ2DKMoyCqNmC0o=
//!
//! — hongbao.example/journal <base64 of the 4-byte key id and the 64-byte Ed25519 signature>
//! ```

use crate::Hash;
use crate::note::{KeyId, NoteError, SignerKey, VerifierKey};
use crate::text::parse_decimal;

/// The signed statement of a log: "the tree of `size` leaves of the log `origin` has root `root`"
/// (C2SP `tlog-checkpoint` §Note text), with optional extension lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

/// Why a checkpoint is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The signed note around the checkpoint is malformed, not signed by the trusted key, or its
    /// signature does not verify.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The checkpoint's text lacks one of its three lines.
    #[error("the checkpoint has no {line} line")]
    MissingLine { line: &'static str },
    /// The origin is empty, or is not one line of text.
    #[error("the checkpoint's origin line is empty or holds a control character")]
    BadOrigin,
    /// The size is not a decimal without leading zeros that fits 64 bits.
    #[error("the checkpoint's tree size {text:?} is not a decimal number without leading zeros")]
    BadSize { text: String },
    /// The root hash is not the standard base64 of 32 bytes.
    #[error("the checkpoint's root hash {text:?} is not the base64 of 32 bytes")]
    BadRoot { text: String },
    /// An extension line is empty (which would end the note's text) or holds a control character.
    #[error("the checkpoint has an empty extension line")]
    EmptyExtensionLine,
    /// The checkpoint is well signed, but for another log: the signature is over a different origin
    /// than the one expected.
    #[error("the checkpoint is for the log {found:?}, not {expected:?}")]
    OriginMismatch { expected: String, found: String },
}

impl CheckpointError {
    /// A stable snake_case code for the failure, for programs and the HTTP edge.
    pub fn code(&self) -> &'static str {
        match self {
            CheckpointError::Note(NoteError::NotSignedByKey { .. }) => "signed_by_another_key",
            CheckpointError::Note(NoteError::BadSignature { .. }) => "bad_signature",
            CheckpointError::OriginMismatch { .. } => "origin_mismatch",
            CheckpointError::Note(NoteError::Malformed { .. })
            | CheckpointError::MissingLine { .. }
            | CheckpointError::BadOrigin
            | CheckpointError::BadSize { .. }
            | CheckpointError::BadRoot { .. }
            | CheckpointError::EmptyExtensionLine => "checkpoint_malformed",
        }
    }
}

impl Checkpoint {
    /// The checkpoint of the tree of `size` leaves of log `origin` with root `root`. The origin must be
    /// one non-empty line without control characters (C2SP `tlog-checkpoint` §Note text).
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Checkpoint, CheckpointError> {
        Checkpoint::with_extensions(origin, size, root, Vec::new())
    }

    /// A checkpoint with extension lines after the root, each non-empty and without control
    /// characters. C2SP does not recommend them, since monitors cannot audit them.
    pub fn with_extensions(origin: &str, size: u64, root: Hash, extensions: Vec<String>) -> Result<Checkpoint, CheckpointError> {
        if origin.is_empty() || origin.chars().any(char::is_control) {
            return Err(CheckpointError::BadOrigin);
        }
        if extensions.iter().any(|line| line.is_empty() || line.chars().any(char::is_control)) {
            return Err(CheckpointError::EmptyExtensionLine);
        }
        Ok(Checkpoint { origin: origin.to_owned(), size, root, extensions })
    }

    /// Reads a checkpoint's note text: origin, size and root lines, then extension lines, each ending in
    /// a newline (C2SP `tlog-checkpoint` §Note text).
    pub fn parse_text(text: &str) -> Result<Checkpoint, CheckpointError> {
        let Some(text) = text.strip_suffix('\n') else {
            return Err(CheckpointError::MissingLine { line: "origin" });
        };
        let mut lines = text.split('\n');
        let origin = lines.next().ok_or(CheckpointError::MissingLine { line: "origin" })?;
        if origin.is_empty() {
            return Err(CheckpointError::BadOrigin);
        }
        let size_text = lines.next().ok_or(CheckpointError::MissingLine { line: "tree size" })?;
        let size = parse_decimal(size_text).ok_or_else(|| CheckpointError::BadSize { text: size_text.to_owned() })?;
        let root_text = lines.next().ok_or(CheckpointError::MissingLine { line: "root hash" })?;
        let root = Hash::from_base64(root_text).ok_or_else(|| CheckpointError::BadRoot { text: root_text.to_owned() })?;
        let extensions = lines.map(str::to_owned).collect();
        Checkpoint::with_extensions(origin, size, root, extensions)
    }

    /// The note text: `<origin>\n<size>\n<base64 root>\n`, then each extension line and a newline.
    pub fn to_text(&self) -> String {
        let mut text = format!("{}\n{}\n{}\n", self.origin, self.size, self.root.to_base64());
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// The checkpoint signed by `key` as a C2SP signed note.
    pub fn sign(&self, key: &SignerKey) -> String {
        key.sign_note(&self.to_text()).expect("a checkpoint's text ends in a newline and holds no control character")
    }

    /// The log's origin, the first line: which log this is.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// How many leaves the tree has.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// `MTH(D[0:size])` of RFC 9162 §2.1.1.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// The extension lines after the root, without their newlines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }
}

/// A checkpoint whose signature by a trusted key verified, for the expected log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    checkpoint: Checkpoint,
    signer_name: String,
    signer_id: KeyId,
}

impl VerifiedCheckpoint {
    /// The checkpoint that was signed.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The name of the key whose signature verified.
    pub fn signer_name(&self) -> &str {
        &self.signer_name
    }

    /// The id of the key whose signature verified.
    pub fn signer_id(&self) -> KeyId {
        self.signer_id
    }
}

/// Opens a signed checkpoint: verifies the signature of `key` (other keys' lines are ignored), reads the
/// checkpoint, and checks that it is for the log `expected_origin`. With no expected origin given, the
/// key's name is expected: hongbao names a log's key after the log's origin, as C2SP `tlog-checkpoint`
/// recommends (§Signatures), so a checkpoint of another log signed with the same key is refused.
///
/// Errors: [`CheckpointError::Note`] (malformed, signed by other keys only, a bad signature), the
/// format errors of [`Checkpoint::parse_text`], [`CheckpointError::OriginMismatch`].
pub fn open_checkpoint(signed_note: &str, key: &VerifierKey, expected_origin: Option<&str>) -> Result<VerifiedCheckpoint, CheckpointError> {
    let text = key.open_note(signed_note)?;
    let checkpoint = Checkpoint::parse_text(text)?;
    let expected = expected_origin.unwrap_or(key.name());
    if checkpoint.origin != expected {
        return Err(CheckpointError::OriginMismatch { expected: expected.to_owned(), found: checkpoint.origin });
    }
    Ok(VerifiedCheckpoint { checkpoint, signer_name: key.name().to_owned(), signer_id: key.id() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_c2sp_example_reads_back_exactly() {
        // C2SP tlog-checkpoint.md's example text.
        let text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let checkpoint = Checkpoint::parse_text(text).expect("valid");
        assert_eq!((checkpoint.origin(), checkpoint.size()), ("example.com/behind-the-sofa", 20852163));
        assert_eq!(checkpoint.to_text(), text);
    }

    #[test]
    fn the_go_sumdb_tree_note_reads_back_exactly() {
        // golang/mod sumdb/tlog/note_test.go: a tree of 123456789012 records whose root is the record
        // hash of "hello world", SHA-256(0x00 || "hello world").
        let text = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n";
        let checkpoint = Checkpoint::parse_text(text).expect("valid");
        assert_eq!(checkpoint.size(), 123456789012);
        assert_eq!(checkpoint.root(), crate::leaf_hash(b"hello world"));
        assert_eq!(checkpoint.to_text(), text);
    }

    #[test]
    fn malformed_texts_are_refused_by_what_is_wrong() {
        let root = "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=";
        let check = |text: &str, want: CheckpointError| assert_eq!(Checkpoint::parse_text(text), Err(want), "{text:?}");
        check("log\n5\n", CheckpointError::MissingLine { line: "root hash" });
        check(&format!("log\n5\n{root}"), CheckpointError::MissingLine { line: "origin" });
        check(&format!("\n5\n{root}\n"), CheckpointError::BadOrigin);
        check(&format!("log\n05\n{root}\n"), CheckpointError::BadSize { text: "05".into() });
        check(&format!("log\n+5\n{root}\n"), CheckpointError::BadSize { text: "+5".into() });
        check(&format!("log\n18446744073709551616\n{root}\n"), CheckpointError::BadSize { text: "18446744073709551616".into() });
        check(
            "log\n5\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG=\n",
            CheckpointError::BadRoot { text: "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG=".into() },
        );
        check(&format!("log\n5\n{root}\n\n"), CheckpointError::EmptyExtensionLine);
        assert!(Checkpoint::parse_text(&format!("log\n0\n{root}\nextension\n")).is_ok());
    }
}
