//! Test support: a fresh database for each test, dropped afterwards.
//!
//! The backend is chosen by the environment, not the compiler: when `HONGBAO_TEST_POSTGRES_URL` is set
//! (for example `postgres://root@127.0.0.1:5432/test`), every test gets its own schema in that
//! PostgreSQL database; otherwise every test gets its own SQLite file. The same test code runs on both.

pub mod faults;

use std::path::PathBuf;
use std::sync::Arc;

use hongbao_store::Store;
use rand::RngCore;

pub const POSTGRES_URL_VARIABLE: &str = "HONGBAO_TEST_POSTGRES_URL";

/// Set to `1` where PostgreSQL is expected (CI's PostgreSQL run): a test that needs it then fails
/// without [`POSTGRES_URL_VARIABLE`] instead of skipping, so a lost variable cannot turn into passes.
pub const REQUIRE_POSTGRES_VARIABLE: &str = "HONGBAO_TEST_REQUIRE_POSTGRES";

/// The PostgreSQL server tests should use, if any.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VARIABLE).ok().filter(|url| !url.is_empty())
}

/// The PostgreSQL server for a test that needs one. Without one it says, once per test, that the test
/// skipped and why, and the test returns early on `None`; but with [`REQUIRE_POSTGRES_VARIABLE`] set to
/// `1` it panics, failing the test. Every test that needs PostgreSQL starts with
/// `let Some(server_url) = skip_without_postgres("its name") else { return };`.
pub fn skip_without_postgres(test: &str) -> Option<String> {
    let url = postgres_url();
    if url.is_none() {
        assert!(
            std::env::var(REQUIRE_POSTGRES_VARIABLE).as_deref() != Ok("1"),
            "{test} needs PostgreSQL: {REQUIRE_POSTGRES_VARIABLE}=1 but {POSTGRES_URL_VARIABLE} is unset"
        );
        // Written to the real stderr, past the test harness's capture, so the skip is seen in every run.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "skipped: {test} needs PostgreSQL ({POSTGRES_URL_VARIABLE} unset)");
    }
    url
}

pub const SEED_VARIABLE: &str = "HONGBAO_TEST_SEED";

/// The seed of a test's random choices: `HONGBAO_TEST_SEED` when set, so that a failure replays and
/// `.ci/catch-rate` can run a test over many seeds, else `default`, so that CI is deterministic.
pub fn test_seed(default: u64) -> u64 {
    match std::env::var(SEED_VARIABLE) {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| panic!("{SEED_VARIABLE}={text} is not a u64")),
        Err(_) => default,
    }
}

/// Runs blocking PostgreSQL client work on a thread of its own: the synchronous client cannot run
/// inside an async runtime, and tests call this from async tests.
fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(work).join().expect("blocking database work does not panic"))
}

fn random_suffix() -> String {
    format!("{:016x}", rand::rngs::OsRng.next_u64())
}

enum Cleanup {
    Directory(PathBuf),
    Schema { server_url: String, schema: String },
}

/// A database that exists for one test.
pub struct TestDatabase {
    /// The URL `hongbao serve --database` and `hongbao verify --database` take.
    pub url: String,
    cleanup: Cleanup,
    /// A temporary directory of the test's own, removed with it.
    directory: PathBuf,
}

impl TestDatabase {
    /// A fresh database on the backend the environment selects.
    pub fn new() -> TestDatabase {
        match postgres_url() {
            Some(server_url) => TestDatabase::postgres(&server_url),
            None => TestDatabase::sqlite(),
        }
    }

    pub fn sqlite() -> TestDatabase {
        let directory = temporary_directory();
        TestDatabase { url: format!("sqlite://{}", directory.join("hongbao.db").display()), cleanup: Cleanup::Directory(directory.clone()), directory }
    }

    /// The evidence store's directory for this test.
    pub fn evidence_dir(&self) -> PathBuf {
        self.directory.join("evidence")
    }

    /// A fresh schema in the PostgreSQL database at `server_url`.
    pub fn postgres(server_url: &str) -> TestDatabase {
        let schema = format!("hongbao_test_{}", random_suffix());
        off_runtime(|| {
            let mut client = postgres::Client::connect(server_url, postgres::NoTls).expect("connect to the test PostgreSQL server");
            client.batch_execute(&format!("CREATE SCHEMA {schema}")).expect("create a test schema");
        });
        let separator = if server_url.contains('?') { '&' } else { '?' };
        let url = format!("{server_url}{separator}options=-c%20search_path%3D{schema}");
        TestDatabase { url, cleanup: Cleanup::Schema { server_url: server_url.to_owned(), schema }, directory: temporary_directory() }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.cleanup, Cleanup::Schema { .. })
    }

    /// The SQLite file, for tests that edit it behind the server's back.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match &self.cleanup {
            Cleanup::Directory(directory) => Some(directory.join("hongbao.db")),
            Cleanup::Schema { .. } => None,
        }
    }

    /// Runs SQL on the test's schema directly, behind the server's back.
    pub fn postgres_execute(&self, sql: &str) {
        let url = self.url.clone();
        off_runtime(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect to the test schema");
            client.batch_execute(sql).expect("run SQL on the test schema");
        });
    }

    /// Runs a query that returns one `bigint` on the test's schema, behind the server's back.
    pub fn postgres_query_i64(&self, sql: &str) -> i64 {
        let url = self.url.clone();
        off_runtime(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect to the test schema");
            client.query_one(sql, &[]).expect("run a query on the test schema").get(0)
        })
    }

    /// Runs SQL on either backend, behind the server's back.
    pub fn execute(&self, sql: &str) {
        match self.sqlite_path() {
            Some(path) => {
                let conn = rusqlite::Connection::open(&path).expect("open the test database");
                conn.busy_timeout(std::time::Duration::from_secs(10)).expect("a busy timeout");
                conn.execute_batch(sql).expect("run SQL on the test database");
            }
            None => self.postgres_execute(sql),
        }
    }

    /// A query that returns one integer, on either backend, behind the server's back.
    pub fn query_i64(&self, sql: &str) -> i64 {
        match self.sqlite_path() {
            Some(path) => {
                let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open the test database");
                conn.query_row(sql, [], |row| row.get(0)).expect("run a query on the test database")
            }
            None => self.postgres_query_i64(sql),
        }
    }

    /// The tables with a row holding `needle` anywhere, as text or inside a blob (and, on SQLite, the
    /// database's files themselves, whose pages may keep what no row shows): for tests that no
    /// secret is stored in plaintext.
    pub fn places_holding(&self, needle: &str) -> Vec<String> {
        let mut places = Vec::new();
        match self.sqlite_path() {
            Some(path) => {
                let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open the test database");
                let tables: Vec<String> = conn
                    .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
                    .expect("list tables")
                    .query_map([], |row| row.get(0))
                    .expect("list tables")
                    .collect::<Result<_, _>>()
                    .expect("list tables");
                for table in tables {
                    let mut statement = conn.prepare(&format!("SELECT * FROM \"{table}\"")).expect("read a table");
                    let columns = statement.column_count();
                    let mut rows = statement.query([]).expect("read a table");
                    while let Some(row) = rows.next().expect("a row") {
                        let holds = (0..columns).any(|index| match row.get_ref(index).expect("a value") {
                            rusqlite::types::ValueRef::Text(bytes) | rusqlite::types::ValueRef::Blob(bytes) => contains(bytes, needle.as_bytes()),
                            _ => false,
                        });
                        if holds {
                            places.push(table.clone());
                            break;
                        }
                    }
                }
                for suffix in ["", "-wal"] {
                    let file = PathBuf::from(format!("{}{suffix}", path.display()));
                    if std::fs::read(&file).is_ok_and(|bytes| contains(&bytes, needle.as_bytes())) {
                        places.push(file.display().to_string());
                    }
                }
            }
            None => {
                let url = self.url.clone();
                let needle = needle.to_owned();
                places = off_runtime(move || {
                    let mut places = Vec::new();
                    let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect to the test schema");
                    let tables: Vec<String> = client
                        .query(
                            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
                            &[],
                        )
                        .expect("list tables")
                        .iter()
                        .map(|row| row.get(0))
                        .collect();
                    // A row as text shows a bytea column as hex.
                    let hex: String = needle.bytes().map(|byte| format!("{byte:02x}")).collect();
                    for table in tables {
                        let sql = format!("SELECT count(*) FROM \"{table}\" AS r WHERE strpos(r::text, $1) > 0 OR strpos(r::text, $2) > 0");
                        let count: i64 = client.query_one(&sql, &[&needle, &hex]).expect("search a table").get(0);
                        if count > 0 {
                            places.push(table);
                        }
                    }
                    places
                });
            }
        }
        places
    }

    pub fn store(&self) -> Arc<dyn Store> {
        if self.is_postgres() {
            Arc::new(hongbao_store_postgres::PostgresStore::from_url(&self.url).expect("a PostgreSQL url"))
        } else {
            Arc::new(hongbao_store_sqlite::SqliteStore::from_url(&self.url).expect("a SQLite url"))
        }
    }
}

impl Default for TestDatabase {
    fn default() -> TestDatabase {
        TestDatabase::new()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
}

fn temporary_directory() -> PathBuf {
    let directory = std::env::temp_dir().join(format!("hongbao-test-{}", random_suffix()));
    std::fs::create_dir_all(&directory).expect("create a temporary directory");
    directory
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.directory);
        match &self.cleanup {
            Cleanup::Directory(directory) => {
                let _ = std::fs::remove_dir_all(directory);
            }
            Cleanup::Schema { server_url, schema } => off_runtime(|| {
                if let Ok(mut client) = postgres::Client::connect(server_url, postgres::NoTls) {
                    // Connections of a server that is still shutting down may hold the schema for a moment.
                    let _ = client.batch_execute(&format!("SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {schema} CASCADE"));
                }
            }),
        }
    }
}

/// How often [`eventually`] looks again.
const POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// Waits for what a test cannot drive itself — a timer task, another process, a socket closing — by
/// asking `probe` again every few milliseconds until it answers `Ok`, and returns that answer. Once
/// `within` has passed it panics with `what` and the probe's last `Err`, which should say what it saw.
/// Nothing is timed: `within` is a bound on a hang, not a figure the test checks.
pub async fn eventually<T, F, Fut>(what: &str, within: std::time::Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match probe().await {
            Ok(answer) => return answer,
            Err(seen) if tokio::time::Instant::now() >= deadline => panic!("{what} did not happen within {within:?}; last seen: {seen}"),
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}
