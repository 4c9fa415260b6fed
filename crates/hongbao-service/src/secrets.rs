//! Secrets the service has to keep readable (a webhook endpoint's signing key) are stored sealed:
//! encrypted and authenticated with ChaCha20-Poly1305 under the deployment's secret key, which lives
//! outside the database (`HONGBAO_SECRET_KEY` or a key file). A copy of the database alone then holds
//! no secret anyone can use. Tokens and merchant secrets, which are only ever compared, are kept as
//! hashes instead and never need this.
//!
//! A sealed value is text: `sealed:v1:<key id>:<base64 of nonce and ciphertext>`. The key id (the
//! first bytes of a hash of the key) says which key sealed it, so that a process started with another
//! key says so instead of failing to decrypt.

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "sealed:v1:";
const NONCE_BYTES: usize = 12;

/// Why a key could not be had, or a sealed value not opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("a secret key is 32 bytes written as 64 hex digits or in base64")]
    NotAKey,
    #[error("the secret key file {path} could not be read or written")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("a secret was sealed with the key {sealed_with}, but this process has the key {have}: start it with the same HONGBAO_SECRET_KEY or key file")]
    WrongKey { sealed_with: String, have: String },
    #[error("a sealed secret is damaged or was moved to another record")]
    Damaged,
}

/// The deployment's key for sealing secrets at rest. Its bytes are never printed.
#[derive(Clone)]
pub struct SecretKey {
    bytes: [u8; 32],
    id: String,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl SecretKey {
    pub fn from_bytes(bytes: [u8; 32]) -> SecretKey {
        let digest = Sha256::new().chain_update(b"hongbao secret key id\n").chain_update(bytes).finalize();
        SecretKey { bytes, id: hex::encode(&digest[..4]) }
    }

    /// A new random key.
    pub fn generate() -> SecretKey {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        SecretKey::from_bytes(bytes)
    }

    /// A key written as 64 hex digits or as base64 of 32 bytes (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<SecretKey, SecretError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            (0..32).map(|index| u8::from_str_radix(&text[2 * index..2 * index + 2], 16)).collect::<Result<Vec<u8>, _>>().map_err(|_| SecretError::NotAKey)?
        } else {
            BASE64.decode(text).map_err(|_| SecretError::NotAKey)?
        };
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| SecretError::NotAKey)?;
        Ok(SecretKey::from_bytes(bytes))
    }

    /// The key in `path`; when there is no such file, a new key written there first, readable by its
    /// owner only. Processes starting together agree: the file appears whole or not at all (it is
    /// written aside and linked into place), and whoever comes second reads the first one's key.
    /// Returns whether this call created the file.
    pub fn load_or_create(path: &Path) -> Result<(SecretKey, bool), SecretError> {
        let file_error = |source| SecretError::File { path: path.display().to_string(), source };
        match std::fs::read_to_string(path) {
            Ok(text) => return Ok((SecretKey::parse(&text)?, false)),
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(file_error(error)),
            Err(_) => {}
        }
        let key = SecretKey::generate();
        let mut random = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut random);
        let aside = path.with_extension(format!("part-{}", hex::encode(random)));
        let written = (|| {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&aside)?;
            writeln!(file, "{}", hex::encode(key.bytes))?;
            file.sync_all()?;
            std::fs::hard_link(&aside, path)
        })();
        let _ = std::fs::remove_file(&aside);
        match written {
            Ok(()) => Ok((key, true)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(path).map_err(file_error)?;
                Ok((SecretKey::parse(&text)?, false))
            }
            Err(error) => Err(file_error(error)),
        }
    }

    /// A short name of the key that reveals nothing of it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `secret` encrypted under this key, bound to `context` (the record it belongs to), so that a
    /// sealed value copied onto another record does not open.
    pub fn seal(&self, secret: &str, context: &str, rng: &mut dyn RngCore) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rng.fill_bytes(&mut nonce);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.bytes));
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: secret.as_bytes(), aad: context.as_bytes() })
            .expect("ChaCha20-Poly1305 encrypts any message of this size");
        let mut sealed = nonce.to_vec();
        sealed.extend(ciphertext);
        format!("{PREFIX}{}:{}", self.id, BASE64.encode(sealed))
    }

    /// The secret in a value sealed by [`SecretKey::seal`] with the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<String, SecretError> {
        let rest = sealed.strip_prefix(PREFIX).ok_or(SecretError::Damaged)?;
        let (key_id, encoded) = rest.split_once(':').ok_or(SecretError::Damaged)?;
        if key_id != self.id {
            return Err(SecretError::WrongKey { sealed_with: key_id.to_owned(), have: self.id.clone() });
        }
        let bytes = BASE64.decode(encoded).map_err(|_| SecretError::Damaged)?;
        if bytes.len() < NONCE_BYTES {
            return Err(SecretError::Damaged);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.bytes));
        let plain = cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: context.as_bytes() }).map_err(|_| SecretError::Damaged)?;
        String::from_utf8(plain).map_err(|_| SecretError::Damaged)
    }
}

/// Whether a stored value is sealed (rather than a secret stored in plaintext by an older version).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(PREFIX)
}

/// The id of the key that sealed a value, if it is sealed.
pub fn sealed_with(value: &str) -> Option<&str> {
    value.strip_prefix(PREFIX)?.split_once(':').map(|(key_id, _)| key_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_record() {
        let key = SecretKey::generate();
        let sealed = key.seal("whsec_0123", "whk_a", &mut rand::rngs::OsRng);
        assert!(is_sealed(&sealed) && !sealed.contains("whsec_0123"), "{sealed}");
        assert_eq!(sealed_with(&sealed), Some(key.id()));
        assert_eq!(key.open(&sealed, "whk_a").expect("opens"), "whsec_0123");
        assert!(matches!(key.open(&sealed, "whk_b"), Err(SecretError::Damaged)), "bound to its record");
        assert!(matches!(SecretKey::generate().open(&sealed, "whk_a"), Err(SecretError::WrongKey { .. })));
        let mut tampered = sealed.clone();
        tampered.replace_range(tampered.len() - 3.., "AAA");
        assert!(key.open(&tampered, "whk_a").is_err());
        assert!(!format!("{key:?}").contains(&hex::encode(key.bytes)), "the key is never printed");
    }

    #[test]
    fn keys_parse_from_hex_and_base64_and_a_file_is_made_once() {
        let key = SecretKey::generate();
        let hex = hex::encode(key.bytes);
        assert_eq!(SecretKey::parse(&format!(" {hex}\n")).expect("hex").id(), key.id());
        assert_eq!(SecretKey::parse(&BASE64.encode(key.bytes)).expect("base64").id(), key.id());
        assert!(matches!(SecretKey::parse("short"), Err(SecretError::NotAKey)));
        let dir = std::env::temp_dir().join(format!("hongbao-secret-test-{}", crate::random_u64()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("hongbao-secret.key");
        let (first, created) = SecretKey::load_or_create(&path).expect("created");
        assert!(created);
        let (second, created_again) = SecretKey::load_or_create(&path).expect("read");
        assert!(!created_again);
        assert_eq!(first.id(), second.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o077, 0, "only the owner may read the key file");
        }
        assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 1, "nothing is left aside");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
