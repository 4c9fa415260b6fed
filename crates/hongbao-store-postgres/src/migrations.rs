//! The schema, in `migrations/`, applied in order at start under an advisory lock, so that processes
//! starting together on a fresh database do not race; each migration in a transaction of its own,
//! recorded in `schema_migrations`.

use hongbao_store::StoreResult;

use crate::Context;
use crate::client::Pg;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_transfers.sql")),
    (3, include_str!("../migrations/0003_cases.sql")),
    (4, include_str!("../migrations/0004_risk.sql")),
    (5, include_str!("../migrations/0005_webhooks.sql")),
    (6, include_str!("../migrations/0006_merchant_keys.sql")),
    (7, include_str!("../migrations/0007_corrections.sql")),
    (8, include_str!("../migrations/0008_commit_flushes.sql")),
    (9, include_str!("../migrations/0009_references.sql")),
    (10, include_str!("../migrations/0010_case_refunds.sql")),
    (20, include_str!("../migrations/0020_merkle.sql")),
    (30, include_str!("../migrations/0030_people.sql")),
    (40, include_str!("../migrations/0040_abuse.sql")),
    (50, include_str!("../migrations/0050_merkle_order.sql")),
];

/// Applies the migrations not applied yet.
pub(crate) fn migrate(client: &mut Pg) -> StoreResult<()> {
    // A migration may take long on a large table, and the processes that start meanwhile wait for
    // it: the session limits are for batches, not for this.
    client
        .batch_execute("SET lock_timeout = 0; SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0")
        .ctx("lifting limits for migrations")?;
    // Several processes may start at once on a fresh database: one migrates, the others wait.
    client.execute("SELECT pg_advisory_lock(hashtext(current_schema()))", &[]).ctx("locking for migrations")?;
    let result = (|| {
        client
            .batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            .ctx("creating the migrations table")?;
        for (version, sql) in MIGRATIONS {
            let applied: bool =
                client.query_one("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", &[version]).ctx("reading applied migrations")?.get(0);
            if applied {
                continue;
            }
            client.batch_execute("BEGIN").ctx("beginning a migration")?;
            let applied = client
                .batch_execute(sql)
                .ctx("applying a migration")
                .and_then(|()| client.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[version]).ctx("recording a migration"));
            if let Err(error) = applied {
                let _ = client.batch_execute("ROLLBACK");
                return Err(error);
            }
            client.batch_execute("COMMIT").ctx("committing a migration")?;
        }
        Ok(())
    })();
    client.execute("SELECT pg_advisory_unlock(hashtext(current_schema()))", &[]).ctx("unlocking after migrations")?;
    result
}
