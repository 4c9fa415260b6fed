//! The content-addressed evidence store: a directory in which each file is named by the SHA-256 of its
//! bytes. An upload streams into a staging file while it is hashed, measured and its type checked from
//! its bytes. Only the writer puts a complete, valid upload in place, when it records it, and only the
//! writer removes a file, when no record names it any more (`ops::evidence`): both happen under the
//! write lock, so a refused or cut-off upload leaves nothing behind and never takes away a file that
//! another upload of the same bytes needs. A stored file is never written again: the same bytes always
//! have the same name.

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

/// A complete, checked upload, waiting in the staging area for the writer to record it and put it in
/// place; [`EvidenceStore::release`] removes the staged copy afterwards, whatever the outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFile {
    pub sha256: String,
    pub size: u64,
    pub content_type: &'static str,
    pub staged: PathBuf,
}

/// Staged files older than this are left over from a process that stopped mid-upload.
const STALE_STAGED: std::time::Duration = std::time::Duration::from_secs(86_400);

#[derive(Clone, Debug)]
pub struct EvidenceStore {
    dir: PathBuf,
}

impl EvidenceStore {
    /// The store in `dir`, created if it does not exist.
    pub fn open(dir: &Path) -> io::Result<EvidenceStore> {
        fs::create_dir_all(dir.join("tmp"))?;
        // Uploads a stopped process left behind; those of processes still running are younger.
        for entry in fs::read_dir(dir.join("tmp"))?.flatten() {
            let stale = entry.metadata().and_then(|metadata| metadata.modified()).is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age > STALE_STAGED));
            if stale {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(EvidenceStore { dir: dir.to_path_buf() })
    }

    /// The store in `dir`, which exists already: for the writer, which only places and removes files.
    pub fn at(dir: &Path) -> EvidenceStore {
        EvidenceStore { dir: dir.to_path_buf() }
    }

    /// Puts a staged upload in place under its hash, unless the same bytes are there already. Done by
    /// the writer when it records the upload, under the write lock.
    pub fn place(&self, file: &StoredFile) -> io::Result<()> {
        let path = self.path_of(&file.sha256);
        if path.exists() {
            return Ok(());
        }
        let parent = path.parent().ok_or_else(|| io::Error::other("an evidence path has no directory"))?;
        fs::create_dir_all(parent)?;
        // A link, not a move: the staged copy stays for `release`, and a file in place is whole.
        match fs::hard_link(&file.staged, &path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
            Err(error) => return Err(error),
        }
        File::open(parent)?.sync_all()
    }

    /// Deletes the file of these bytes. Done by the writer, under the write lock, once no record names
    /// it.
    pub fn remove(&self, sha256: &str) -> io::Result<()> {
        match fs::remove_file(self.path_of(sha256)) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// Removes an upload's staged copy once the writer has answered: the file is in place by then if
    /// it was recorded.
    pub fn release(&self, file: &StoredFile) {
        if file.staged.starts_with(self.dir.join("tmp")) {
            let _ = fs::remove_file(&file.staged);
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the file with this SHA-256 (lowercase hex) lives.
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        let (fan_out, rest) = sha256.split_at(2.min(sha256.len()));
        self.dir.join(fan_out).join(rest)
    }

    /// Starts an upload claimed to be of `content_type` (already normalised), refused past `max_bytes`.
    pub fn begin(&self, content_type: &'static str, max_bytes: u64) -> io::Result<Upload> {
        let mut random = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
        let name = hex::encode(random);
        let temp_path = self.dir.join("tmp").join(format!("{name}.part"));
        let file = File::options().write(true).create_new(true).open(&temp_path)?;
        Ok(Upload { file: Some(file), temp_path, hasher: Sha256::new(), size: 0, max_bytes, sniffer: Some(Sniffer::new(content_type)) })
    }
}

/// An upload in progress. Dropping it before [`Upload::finish`] removes what it wrote.
pub struct Upload {
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

    /// Checks the content type against the bytes and makes the staged file durable; the writer puts
    /// it in place when it records it.
    pub fn finish(mut self) -> Result<StoredFile, UploadError> {
        let sniffer = self.sniffer.take().ok_or_else(|| io::Error::other("the upload is already finished"))?;
        let content_type = sniffer.finish()?;
        let file = self.file.take().ok_or_else(|| io::Error::other("the upload is already finished"))?;
        file.sync_all()?;
        drop(file);
        let sha256 = hex::encode(self.hasher.clone().finalize());
        // From here the staged copy belongs to the returned file, which `release` removes.
        let staged = std::mem::take(&mut self.temp_path);
        Ok(StoredFile { sha256, size: self.size, content_type, staged })
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
        assert!(!store.path_of(&stored.sha256).exists(), "only the writer puts a file in place");
        store.place(&stored).expect("place");
        store.place(&stored).expect("placing the same bytes again changes nothing");
        store.release(&stored);
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
