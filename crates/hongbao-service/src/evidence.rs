//! The content-addressed evidence store: a directory in which each file is named by the SHA-256 of its
//! bytes. An upload streams into a temporary file while it is hashed, measured and its type checked
//! from its bytes; only a complete, valid upload is moved into place, so a refused or cut-off one leaves
//! nothing behind. A stored file is never written again: the same bytes always have the same name.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use hongbao_core::sniff::{SniffError, Sniffer};
use sha2::{Digest, Sha256};

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the file is larger than {max} bytes")]
    TooLarge { max: u64 },
    #[error(transparent)]
    Content(#[from] SniffError),
    #[error("the evidence store failed")]
    Io(#[from] io::Error),
}

/// A file the store now holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFile {
    pub sha256: String,
    pub size: u64,
    pub content_type: &'static str,
    /// Whether this upload put the bytes there (rather than finding them already stored), so that a
    /// request refused afterwards knows whether it may take them away again.
    pub created: bool,
}

#[derive(Clone, Debug)]
pub struct EvidenceStore {
    dir: PathBuf,
}

impl EvidenceStore {
    /// The store in `dir`, created if it does not exist.
    pub fn open(dir: &Path) -> io::Result<EvidenceStore> {
        fs::create_dir_all(dir.join("tmp"))?;
        Ok(EvidenceStore { dir: dir.to_path_buf() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the file with this SHA-256 (lowercase hex) lives.
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        let (fan_out, rest) = sha256.split_at(2.min(sha256.len()));
        self.dir.join(fan_out).join(rest)
    }

    /// Takes away a file this request stored when the request was refused after all and no record
    /// names its bytes (`referenced` is asked only then).
    pub fn discard(&self, file: &StoredFile, referenced: bool) {
        if file.created && !referenced {
            let _ = fs::remove_file(self.path_of(&file.sha256));
        }
    }

    /// Starts an upload claimed to be of `content_type` (already normalised), refused past `max_bytes`.
    pub fn begin(&self, content_type: &'static str, max_bytes: u64) -> io::Result<Upload> {
        let mut random = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
        let name = hex::encode(random);
        let temp_path = self.dir.join("tmp").join(format!("{name}.part"));
        let file = File::options().write(true).create_new(true).open(&temp_path)?;
        Ok(Upload { store: self.clone(), file: Some(file), temp_path, hasher: Sha256::new(), size: 0, max_bytes, sniffer: Some(Sniffer::new(content_type)) })
    }
}

/// An upload in progress. Dropping it before [`Upload::finish`] removes what it wrote.
pub struct Upload {
    store: EvidenceStore,
    file: Option<File>,
    temp_path: PathBuf,
    hasher: Sha256,
    size: u64,
    max_bytes: u64,
    sniffer: Option<Sniffer>,
}

impl Upload {
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), UploadError> {
        self.size += chunk.len() as u64;
        if self.size > self.max_bytes {
            return Err(UploadError::TooLarge { max: self.max_bytes });
        }
        self.hasher.update(chunk);
        if let Some(sniffer) = &mut self.sniffer {
            sniffer.feed(chunk);
        }
        let file = self.file.as_mut().ok_or_else(|| io::Error::other("the upload is already finished"))?;
        file.write_all(chunk)?;
        Ok(())
    }

    /// Checks the content type against the bytes, makes the file durable and moves it into place.
    pub fn finish(mut self) -> Result<StoredFile, UploadError> {
        let sniffer = self.sniffer.take().ok_or_else(|| io::Error::other("the upload is already finished"))?;
        let content_type = sniffer.finish()?;
        let file = self.file.take().ok_or_else(|| io::Error::other("the upload is already finished"))?;
        file.sync_all()?;
        drop(file);
        let sha256 = hex::encode(self.hasher.clone().finalize());
        let path = self.store.path_of(&sha256);
        let created = !path.exists();
        if !created {
            // The same bytes are already stored; the copy is not needed.
            fs::remove_file(&self.temp_path)?;
        } else {
            let parent = path.parent().ok_or_else(|| io::Error::other("an evidence path has no directory"))?;
            fs::create_dir_all(parent)?;
            fs::rename(&self.temp_path, &path)?;
            File::open(parent)?.sync_all()?;
        }
        self.temp_path = PathBuf::new();
        Ok(StoredFile { sha256, size: self.size, content_type, created })
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.temp_path.as_os_str().is_empty() {
            drop(self.file.take());
            let _ = fs::remove_file(&self.temp_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_in(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for entry in fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                found.extend(files_in(&path));
            } else {
                found.push(path);
            }
        }
        found
    }

    #[test]
    fn a_complete_upload_lands_under_its_hash_and_a_refused_one_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("hongbao-evidence-test-{}", crate::random_u64()));
        let store = EvidenceStore::open(&dir).expect("open");
        let mut upload = store.begin("text/plain", 100).expect("begin");
        upload.write(b"hello ").expect("write");
        upload.write(b"world").expect("write");
        let stored = upload.finish().expect("finish");
        assert_eq!(stored.sha256, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
        assert_eq!(fs::read(store.path_of(&stored.sha256)).expect("stored"), b"hello world");

        let mut too_large = store.begin("text/plain", 4).expect("begin");
        assert!(matches!(too_large.write(b"hello"), Err(UploadError::TooLarge { max: 4 })));
        drop(too_large);
        let mut mismatched = store.begin("application/pdf", 100).expect("begin");
        mismatched.write(b"not a pdf").expect("write");
        assert!(matches!(mismatched.finish(), Err(UploadError::Content(_))));
        let mut cut_off = store.begin("text/plain", 100).expect("begin");
        cut_off.write(b"half").expect("write");
        drop(cut_off);
        assert_eq!(files_in(&dir), [store.path_of(&stored.sha256)]);
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
