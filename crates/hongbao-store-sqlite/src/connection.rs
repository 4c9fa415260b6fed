//! Opening the database file: WAL mode, `synchronous=FULL`, the page caches, the background
//! checkpointer, and the [`Store`] that hands out the writer's and the readers' connections.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hongbao_store::{ReadConn, Store, StoreError, StoreResult, WriteConn, corrupt};
use rusqlite::{Connection, OpenFlags};

use crate::{Context, SqliteConn, SqliteStore, migrations};

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.checkpointer_stop.store(true, Ordering::Relaxed);
    }
}

/// How often the background checkpointer copies the WAL into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(200);

impl SqliteStore {
    /// The store for `sqlite://PATH` (or a bare path).
    pub fn from_url(url: &str) -> StoreResult<SqliteStore> {
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        if path.is_empty() {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        }
        Ok(SqliteStore { path: PathBuf::from(path), checkpointer_stop: Arc::new(AtomicBool::new(false)), checkpointer_started: AtomicBool::new(false) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn connect(&self, read_only: bool) -> StoreResult<SqliteConn> {
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let conn = Connection::open_with_flags(&self.path, flags).ctx("opening the database")?;
        conn.busy_timeout(Duration::from_secs(10)).ctx("setting the busy timeout")?;
        if !read_only {
            let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).ctx("enabling WAL")?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(corrupt(format!("the database refused WAL mode (it is in {mode} mode)")));
            }
        }
        // The writer keeps a large page cache; the many readers small ones.
        let cache_kib = if read_only { 8_192 } else { 16_384 };
        conn.execute_batch(&format!("PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF; PRAGMA cache_size = -{cache_kib};")).ctx("setting pragmas")?;
        conn.set_prepared_statement_cache_capacity(128);
        Ok(SqliteConn { conn })
    }
}

impl Store for SqliteStore {
    fn migrate(&self) -> StoreResult<()> {
        migrations::migrate(&self.connect(false)?.conn)
    }

    /// The writer leaves checkpoints to a thread of their own, so that copying the WAL into the
    /// database file never stalls a durable commit.
    fn open_writer(&self) -> StoreResult<Box<dyn WriteConn>> {
        let writer = self.connect(false)?;
        writer.conn.execute_batch("PRAGMA wal_autocheckpoint = 0").ctx("handing checkpoints to the checkpointer")?;
        if !self.checkpointer_started.swap(true, Ordering::Relaxed) {
            let checkpointer = self.connect(false)?;
            let stop = self.checkpointer_stop.clone();
            let spawned = std::thread::Builder::new().name("hongbao-checkpoint".into()).spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(CHECKPOINT_INTERVAL);
                    // PASSIVE never waits for the writer or readers; what it cannot copy now it copies next time.
                    let _ = checkpointer.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            });
            spawned.map_err(|source| StoreError::Database { context: "starting the checkpointer", source: Box::new(source) })?;
        }
        Ok(Box::new(writer))
    }

    fn open_reader(&self) -> StoreResult<Box<dyn ReadConn>> {
        Ok(Box::new(self.connect(true)?))
    }

    fn backend_name(&self) -> &'static str {
        "sqlite"
    }
}
