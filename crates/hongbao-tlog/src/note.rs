//! Signed notes (C2SP `signed-note`, the format of Go's `golang.org/x/mod/sumdb/note`) with Ed25519
//! keys: key ids, the text forms of signer and verifier keys, signing, and opening a note against one
//! trusted verifier key.
//!
//! A note is a text ending in a newline, a blank line, and signature lines `— <key name>
//! <base64(key id || signature)>`. Signature lines of keys other than the trusted one are ignored, as
//! the spec requires, so a checkpoint can carry a witness's cosignature or a rotated key's signature.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The signature type byte of Ed25519 in C2SP `signed-note` (§Signature types).
const ED25519: u8 = 0x01;

/// What starts the text form of a signer key, as in Go's `note.NewSigner`.
const SIGNER_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// What starts a signature line: an em dash (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// How many signature lines a note may have. C2SP requires accepting at least 16; Go's `note.Open`
/// refuses more than 100, as this does.
const MAX_SIGNATURES: usize = 100;

/// A key's 32-bit id (C2SP `signed-note` §Signatures): for Ed25519, the first four bytes, big-endian, of
/// `SHA-256(key name || 0x0A || 0x01 || 32-byte public key)`. Written as 8 lowercase hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyId(u32);

impl KeyId {
    /// The id of the Ed25519 key `public_key` named `name`.
    pub fn ed25519(name: &str, public_key: &[u8; 32]) -> KeyId {
        let mut hasher = Sha256::new();
        hasher.update(name.as_bytes());
        hasher.update([b'\n', ED25519]);
        hasher.update(public_key);
        let digest = hasher.finalize();
        KeyId(u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]))
    }

    /// The id as a number, the big-endian reading of its four bytes.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// Whether `name` may name a key: non-empty, with no Unicode space and no `+` (C2SP `signed-note`
/// §Format). ASCII control characters are refused too, since no note may hold them.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || is_forbidden_control(c) || c == '+')
}

/// The characters C2SP `signed-note` forbids anywhere in a note: ASCII controls below U+0020 but the
/// newline.
fn is_forbidden_control(c: char) -> bool {
    c < '\u{20}' && c != '\n'
}

/// Why the text form of a key, or a name for one, is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text does not have the three parts separated by `+`.
    #[error("the key is not of the form <name>+<8 hex digits>+<base64 key>")]
    NotAKey,
    /// A signer key's text lacks its `PRIVATE+KEY+` prefix: perhaps a verifier key was given.
    #[error("a signer key starts with PRIVATE+KEY+")]
    NotASignerKey,
    /// The name is empty, or holds a space, a control character or `+`.
    #[error("{name:?} cannot name a key: a name is not empty and has no spaces, control characters or +")]
    BadName { name: String },
    /// The key id is not 8 lowercase hex digits.
    #[error("the key id {text:?} is not 8 lowercase hex digits")]
    BadKeyId { text: String },
    /// The key material is not canonical standard base64 (RFC 4648 §4).
    #[error("the key material is not standard base64")]
    BadBase64,
    /// The key's signature type byte is not Ed25519's.
    #[error("the key is of signature type {0:#04x}, not Ed25519 (0x01)")]
    NotEd25519(u8),
    /// The key material after the type byte is not 32 bytes.
    #[error("the Ed25519 key has {len} bytes, not 32")]
    WrongLength { len: usize },
    /// The 32 bytes do not encode a point of the Ed25519 curve (RFC 8032 §5.1.3).
    #[error("the public key is not a valid Ed25519 point")]
    BadPublicKey,
    /// The stated key id is not the one computed from the name and key: the text was altered.
    #[error("the key id {stated} does not match the key, whose id is {computed}")]
    KeyIdMismatch { stated: KeyId, computed: KeyId },
}

/// An Ed25519 signing key with its name and id: what a log signs its checkpoints with. Its `Debug`
/// shows the name and id only, never the secret.
#[derive(Clone)]
pub struct SignerKey {
    name: String,
    id: KeyId,
    signing: SigningKey,
}

impl SignerKey {
    /// A new key named `name` from `seed`, 32 bytes the caller drew from a cryptographically secure
    /// random source (RFC 8032 §5.1.5: the private key is 32 random bytes). hongbao names a log's key
    /// after the log's origin, as C2SP `tlog-checkpoint` recommends.
    pub fn generate(name: &str, seed: [u8; 32]) -> Result<SignerKey, KeyError> {
        if !is_valid_key_name(name) {
            return Err(KeyError::BadName { name: name.to_owned() });
        }
        let signing = SigningKey::from_bytes(&seed);
        let id = KeyId::ed25519(name, signing.verifying_key().as_bytes());
        Ok(SignerKey { name: name.to_owned(), id, signing })
    }

    /// Reads the text form `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || 32-byte seed)>`, as Go's
    /// `note.NewSigner` does; the key id must be the one the key has.
    pub fn parse(text: &str) -> Result<SignerKey, KeyError> {
        let rest = text.strip_prefix(SIGNER_KEY_PREFIX).ok_or(KeyError::NotASignerKey)?;
        let (name, id, seed) = parse_key_parts(rest)?;
        let key = SignerKey::generate(name, seed)?;
        if key.id != id {
            return Err(KeyError::KeyIdMismatch { stated: id, computed: key.id });
        }
        Ok(key)
    }

    /// The text form [`SignerKey::parse`] reads. It holds the secret: keep it out of logs, and in a file
    /// only its owner can read.
    pub fn to_secret_text(&self) -> String {
        let mut material = [0u8; 33];
        material[0] = ED25519;
        material[1..].copy_from_slice(self.signing.as_bytes());
        format!("{SIGNER_KEY_PREFIX}{}+{}+{}", self.name, self.id, STANDARD.encode(material))
    }

    /// The key's name, as its signature lines carry it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key's id, [`KeyId::ed25519`] of its name and public key.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The public half, which anyone may hold to verify this key's signatures.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey { name: self.name.clone(), id: self.id, key: self.signing.verifying_key() }
    }

    /// Signs `text` as a note (C2SP `signed-note` §Format): the text, a blank line, and this key's
    /// signature line. The text must end in a newline and hold no control character but newlines.
    pub fn sign_note(&self, text: &str) -> Result<String, NoteError> {
        check_note_characters(text)?;
        if !text.ends_with('\n') {
            return Err(NoteError::Malformed { problem: "the text does not end in a newline" });
        }
        let signature = self.signing.sign(text.as_bytes());
        let mut signed = Vec::with_capacity(68);
        signed.extend_from_slice(&self.id.0.to_be_bytes());
        signed.extend_from_slice(&signature.to_bytes());
        Ok(format!("{text}\n{SIGNATURE_PREFIX}{} {}\n", self.name, STANDARD.encode(signed)))
    }
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerKey").field("name", &self.name).field("id", &self.id).finish_non_exhaustive()
    }
}

/// An Ed25519 public key with its name and id: what a verifier trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: KeyId,
    key: VerifyingKey,
}

impl VerifierKey {
    /// Reads the text form `<name>+<hex key id>+<base64(0x01 || 32-byte public key)>` (C2SP `signed-note`
    /// §Verifier keys, Go's `note.NewVerifier`); the key id must be the one the key has.
    pub fn parse(text: &str) -> Result<VerifierKey, KeyError> {
        let (name, id, public_key) = parse_key_parts(text)?;
        let key = VerifyingKey::from_bytes(&public_key).map_err(|_| KeyError::BadPublicKey)?;
        let computed = KeyId::ed25519(name, &public_key);
        if computed != id {
            return Err(KeyError::KeyIdMismatch { stated: id, computed });
        }
        Ok(VerifierKey { name: name.to_owned(), id, key })
    }

    /// The key's name, as its signature lines carry it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key's id, [`KeyId::ed25519`] of its name and public key.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The key's name and id, `<name>+<hex key id>`: how notes and reports name it.
    pub fn label(&self) -> String {
        format!("{}+{}", self.name, self.id)
    }

    /// The 32-byte Ed25519 public key (RFC 8032 §5.1.5).
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Opens a signed note: checks its form, finds the signature lines of this key (same name and same
    /// id) and verifies them over the note's text, ignoring the lines of any other key (C2SP
    /// `signed-note` §Signatures). Returns the text, the part before the blank line, newline included.
    ///
    /// Errors: [`NoteError::Malformed`] for a note not in the format; [`NoteError::NotSignedByKey`]
    /// when no line is this key's; [`NoteError::BadSignature`] when one of its lines does not verify,
    /// which rejects the whole note, as the spec recommends.
    pub fn open_note<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        check_note_characters(note)?;
        let Some(split) = note.rfind("\n\n") else {
            return Err(NoteError::Malformed { problem: "there is no blank line before the signatures" });
        };
        let (text, signatures) = (&note[..split + 1], &note[split + 2..]);
        if signatures.is_empty() {
            return Err(NoteError::Malformed { problem: "there are no signature lines" });
        }
        let Some(signatures) = signatures.strip_suffix('\n') else {
            return Err(NoteError::Malformed { problem: "the last signature line does not end in a newline" });
        };
        let mut others = Vec::new();
        let mut verified = false;
        for (count, line) in signatures.split('\n').enumerate() {
            if count == MAX_SIGNATURES {
                return Err(NoteError::Malformed { problem: "there are more than 100 signature lines" });
            }
            let Some((name, encoded)) = line.strip_prefix(SIGNATURE_PREFIX).and_then(|line| line.split_once(' ')) else {
                return Err(NoteError::Malformed { problem: "a line after the blank line is not a signature line" });
            };
            let signed = STANDARD.decode(encoded).map_err(|_| NoteError::Malformed { problem: "a signature is not standard base64" })?;
            if !is_valid_key_name(name) || signed.len() < 5 {
                return Err(NoteError::Malformed { problem: "a signature line has a bad key name or a signature too short" });
            }
            let id = KeyId(u32::from_be_bytes([signed[0], signed[1], signed[2], signed[3]]));
            if name != self.name || id != self.id {
                others.push(format!("{name}+{id}"));
                continue;
            }
            let signature = Signature::from_slice(&signed[4..]).map_err(|_| NoteError::BadSignature { key: self.label() })?;
            self.key.verify_strict(text.as_bytes(), &signature).map_err(|_| NoteError::BadSignature { key: self.label() })?;
            verified = true;
        }
        if !verified {
            return Err(NoteError::NotSignedByKey { key: self.label(), others });
        }
        Ok(text)
    }
}

/// The text form [`VerifierKey::parse`] reads: what an operator publishes, and a verifier is given.
impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut material = [0u8; 33];
        material[0] = ED25519;
        material[1..].copy_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, self.id, STANDARD.encode(material))
    }
}

/// Splits `<name>+<hex key id>+<base64(0x01 || 32 bytes)>` into its checked parts.
fn parse_key_parts(text: &str) -> Result<(&str, KeyId, [u8; 32]), KeyError> {
    // The base64 of the key material may itself hold a `+`: the name and the id end at the first two.
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id_text), Some(material)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(KeyError::NotAKey);
    };
    if !is_valid_key_name(name) {
        return Err(KeyError::BadName { name: name.to_owned() });
    }
    if id_text.len() != 8 || !id_text.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(KeyError::BadKeyId { text: id_text.to_owned() });
    }
    let id = KeyId(u32::from_str_radix(id_text, 16).map_err(|_| KeyError::BadKeyId { text: id_text.to_owned() })?);
    let material = STANDARD.decode(material).map_err(|_| KeyError::BadBase64)?;
    let Some((&kind, key)) = material.split_first() else {
        return Err(KeyError::WrongLength { len: 0 });
    };
    if kind != ED25519 {
        return Err(KeyError::NotEd25519(kind));
    }
    let key: [u8; 32] = key.try_into().map_err(|_| KeyError::WrongLength { len: key.len() })?;
    Ok((name, id, key))
}

/// Refuses control characters other than newline anywhere in a note (C2SP `signed-note` §Format).
fn check_note_characters(text: &str) -> Result<(), NoteError> {
    if text.chars().any(is_forbidden_control) {
        return Err(NoteError::Malformed { problem: "it holds a control character other than newline" });
    }
    Ok(())
}

/// Why a note does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The text is not a signed note (C2SP `signed-note` §Format).
    #[error("the signed note is malformed: {problem}")]
    Malformed { problem: &'static str },
    /// No signature line is the trusted key's: the note was signed by other keys only.
    #[error("the note is not signed by the key {key}{}", signed_by(others))]
    NotSignedByKey { key: String, others: Vec<String> },
    /// A signature line of the trusted key does not verify over the note's text: the text was changed
    /// after it was signed, or the signature is forged.
    #[error("the signature of the key {key} does not verify: the signed text was changed, or the signature is forged")]
    BadSignature { key: String },
}

fn signed_by(others: &[String]) -> String {
    if others.is_empty() { String::new() } else { format!("; it is signed only by {}", others.join(", ")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_valid_key_name("hongbao.example/journal"));
        for bad in ["", "a b", "a+b", "a\tb", "a\u{1}b", "a\u{a0}b", "a\u{2003}b"] {
            assert!(!is_valid_key_name(bad), "{bad:?}");
        }
        assert!(is_valid_key_name("a\u{7f}b"), "C2SP forbids only the controls below U+0020");
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = SignerKey::generate("k", [7; 32]).expect("valid name");
        let debug = format!("{key:?}");
        assert!(debug.contains("\"k\"") && !debug.contains("0707") && !debug.contains("[7, 7"), "{debug}");
    }
}
