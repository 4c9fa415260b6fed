//! SHA-256 hashes and the Merkle tree hashing of RFC 9162 §2.1.1: leaves and interior nodes are hashed
//! with different one-byte prefixes, so that no leaf can pass for a node.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// A SHA-256 hash: of a leaf, of an interior node, or the root of a tree. Any 32 bytes are one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash([u8; 32]);

impl Hash {
    /// The hash with these 32 bytes.
    pub const fn new(bytes: [u8; 32]) -> Hash {
        Hash(bytes)
    }

    /// The hash of exactly 32 bytes; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<Hash> {
        Some(Hash(bytes.try_into().ok()?))
    }

    /// The standard base64 (RFC 4648 §4, padded) of 44 characters that C2SP formats use for hashes;
    /// `None` unless it decodes to exactly 32 bytes. Non-canonical encodings (stray bits in the last
    /// character) are refused, so a hash has exactly one text form.
    pub fn from_base64(text: &str) -> Option<Hash> {
        Hash::from_slice(&STANDARD.decode(text).ok()?)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The standard padded base64 of the 32 bytes, as C2SP checkpoints and proofs write hashes.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// The 32 bytes as 64 lowercase hex digits, as `sha256sum` prints them.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl From<[u8; 32]> for Hash {
    fn from(bytes: [u8; 32]) -> Hash {
        Hash(bytes)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

/// The hash of an empty tree, `SHA-256()` of no bytes (RFC 9162 §2.1.1: `MTH({}) = HASH()`).
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// The hash of a leaf holding `entry`, `SHA-256(0x00 || entry)` (RFC 9162 §2.1.1).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(entry);
    Hash(hasher.finalize().into())
}

/// The hash of an interior node over its two children, `SHA-256(0x01 || left || right)` (RFC 9162
/// §2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left.0);
    hasher.update(right.0);
    Hash(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_strict() {
        let hash = leaf_hash(b"");
        assert_eq!(Hash::from_base64(&hash.to_base64()), Some(hash));
        assert_eq!(hash.to_base64(), "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=");
        assert_eq!(Hash::from_base64("bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0"), None, "padding is required");
        assert_eq!(Hash::from_base64("bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB1="), None, "stray bits are refused");
        assert_eq!(Hash::from_base64("bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=\n"), None);
        assert_eq!(Hash::from_base64("ZG9uJ3QgY2FyZSAy"), None, "12 bytes are not a hash");
    }
}
