//! The schema, in `migrations/`, applied in order at start; each migration in a transaction of its
//! own, recorded in `schema_migrations`.

use hongbao_store::{StoreError, StoreResult};
use rusqlite::Connection;

use crate::Context;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_transfers.sql")),
    (3, include_str!("../migrations/0003_cases.sql")),
    (4, include_str!("../migrations/0004_risk.sql")),
    (5, include_str!("../migrations/0005_webhooks.sql")),
    (6, include_str!("../migrations/0006_merchant_keys.sql")),
    (7, include_str!("../migrations/0007_corrections.sql")),
    (8, include_str!("../migrations/0008_references.sql")),
    (9, include_str!("../migrations/0009_case_refunds.sql")),
    (20, include_str!("../migrations/0020_merkle.sql")),
    (30, include_str!("../migrations/0030_people.sql")),
    (40, include_str!("../migrations/0040_abuse.sql")),
    (50, include_str!("../migrations/0050_merkle_order.sql")),
];

/// Applies the migrations not applied yet.
pub(crate) fn migrate(conn: &Connection) -> StoreResult<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
        .ctx("creating the migrations table")?;
    for (version, sql) in MIGRATIONS {
        let applied: bool = conn
            .query_row("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)", [version], |row| row.get(0))
            .ctx("reading applied migrations")?;
        if applied {
            continue;
        }
        let batch = format!("BEGIN IMMEDIATE; {sql}; INSERT INTO schema_migrations (version, applied_at) VALUES ({version}, strftime('%s','now')); COMMIT;");
        if let Err(error) = conn.execute_batch(&batch) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(StoreError::Database { context: "applying a migration", source: Box::new(error) });
        }
    }
    Ok(())
}
