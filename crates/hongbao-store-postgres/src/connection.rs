//! Opening sessions: the URL, the session limits set as connection options, the writer's session
//! settings, the [`Store`] that hands out connections and listeners, and each connection's cache of
//! prepared statements.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::Duration;

use hongbao_store::{EventWake, ReadConn, Store, StoreError, StoreResult, WriteConn};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

use crate::client::Pg;
use crate::{Context, PostgresConn, PostgresStore, SessionLimits, listen, migrations};

impl PostgresStore {
    /// The store at `url`, with the default [`SessionLimits`].
    pub fn from_url(url: &str) -> StoreResult<PostgresStore> {
        PostgresStore::with_limits(url, &SessionLimits::default())
    }

    /// The store at `url`, whose every session keeps to `limits`.
    pub fn with_limits(url: &str, limits: &SessionLimits) -> StoreResult<PostgresStore> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|_| StoreError::UnsupportedUrl(url.to_owned()))?;
        let origin = format!("{:016x}", std::collections::hash_map::RandomState::new().hash_one((std::process::id(), std::time::SystemTime::now())));
        // Set at connection time, for every session of the store: no round trip of its own.
        let millis = |duration: Duration| duration.as_millis().max(1);
        let keepalive_seconds = limits.keepalive_idle.as_secs().max(1);
        let interval_seconds = (keepalive_seconds / 3).max(1);
        let session = format!(
            "-c lock_timeout={} -c statement_timeout={} -c idle_in_transaction_session_timeout={} \
             -c tcp_keepalives_idle={keepalive_seconds} -c tcp_keepalives_interval={interval_seconds} -c tcp_keepalives_count=3",
            millis(limits.lock_timeout),
            millis(limits.statement_timeout),
            millis(limits.idle_in_transaction),
        );
        let options = match config.get_options() {
            Some(existing) if !existing.trim().is_empty() => format!("{existing} {session}"),
            _ => session,
        };
        config
            .options(options)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(keepalive_seconds))
            .keepalives_interval(Duration::from_secs(interval_seconds))
            .keepalives_retries(3)
            .connect_timeout(limits.keepalive_idle);
        if config.get_application_name().is_none() {
            // Which process a session belongs to, in pg_stat_activity.
            config.application_name(format!("hongbao-{}", std::process::id()));
        }
        Ok(PostgresStore { config, origin })
    }

    fn connect(&self) -> StoreResult<PostgresConn> {
        let client = Pg::connect(&self.config).map_err(|source| StoreError::Database { context: "connecting to PostgreSQL", source })?;
        Ok(PostgresConn {
            client,
            statements: HashMap::new(),
            heads_at_begin: None,
            origin: self.origin.clone(),
            channel: String::new(),
            token_channel: String::new(),
        })
    }
}

impl Store for PostgresStore {
    fn migrate(&self) -> StoreResult<()> {
        migrations::migrate(&mut self.connect()?.client)
    }

    fn open_writer(&self) -> StoreResult<Box<dyn WriteConn>> {
        let mut conn = self.connect()?;
        // Batches commit without waiting for the disk, and `commit` waits afterwards, outside the
        // writer lock (see `WriteConn::commit` below).
        //
        // Everything the writer reads or updates, it finds by key, a few hundred rows at most. Without
        // the planner's other choices, a table whose statistics are stale (a new deployment's tables
        // grow faster than autovacuum analyzes them) is still read through its index, not scanned
        // whole or hashed in every batch while the writer lock is held.
        conn.client
            .batch_execute("SET synchronous_commit = off; SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off")
            .ctx("configuring the writer's connection")?;
        let schema: String = conn.client.query_one("SELECT current_schema()", &[]).ctx("reading the schema")?.get(0);
        conn.channel = listen::channel(&schema);
        conn.token_channel = listen::Channel::Tokens.name(&schema);
        Ok(Box::new(conn))
    }

    fn open_reader(&self) -> StoreResult<Box<dyn ReadConn>> {
        Ok(Box::new(self.connect()?))
    }

    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    fn watch_events(&self, wake: EventWake) -> StoreResult<Option<std::sync::Arc<std::sync::atomic::AtomicBool>>> {
        let listening = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        listen::spawn(self.config.clone(), listen::Channel::Events, self.origin.clone(), wake, listening.clone())
            .map_err(|error| StoreError::Database { context: "starting the events listener", source: Box::new(error) })?;
        Ok(Some(listening))
    }

    /// On a connection of its own: a process whose token cache misses a notification while it
    /// reconnects still looks again within `token_recheck_seconds`.
    fn watch_token_changes(&self, evict: EventWake) -> StoreResult<()> {
        let listening = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        listen::spawn(self.config.clone(), listen::Channel::Tokens, self.origin.clone(), evict, listening)
            .map_err(|error| StoreError::Database { context: "starting the tokens listener", source: Box::new(error) })
    }
}

impl PostgresConn {
    pub(crate) fn statement(&mut self, sql: &str) -> StoreResult<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql).ctx("preparing a statement")?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    pub(crate) fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)], context: &'static str) -> StoreResult<Vec<Row>> {
        let statement = self.statement(sql)?;
        self.client.query(&statement, params).ctx(context)
    }

    pub(crate) fn query_opt(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)], context: &'static str) -> StoreResult<Option<Row>> {
        let statement = self.statement(sql)?;
        self.client.query_opt(&statement, params).ctx(context)
    }

    pub(crate) fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)], context: &'static str) -> StoreResult<u64> {
        let statement = self.statement(sql)?;
        self.client.execute(&statement, params).ctx(context)
    }
}
