//! The journal's Merkle tree in storage: every committed entry is a leaf, written with it; a database
//! from before the tree gets its tree at start; a tree that lags behind the journal (entries committed
//! by a process from before the tree) catches up in the next batch; checkpoints are stored once per
//! size and key.

use std::sync::Arc;

use hongbao_core::{Amount, Timestamp, UserId};
use hongbao_service::{Config, ManualClock, Op, Outcome, Service};
use hongbao_testkit::TestDatabase;

fn start(database: &TestDatabase) -> Service {
    let config = Config { admin_token: Some("admin".into()), evidence_dir: database.evidence_dir(), ..Config::default() };
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_800_000_000_000)));
    Service::start(database.store(), config, clock).expect("start").service
}

async fn user(service: &Service) -> UserId {
    let Outcome::UserCreated { user, .. } = service.execute(Op::CreateUser { name: "alice".into() }).await.expect("create") else { panic!("not a user") };
    user.id
}

/// `count` top-ups, all at once, so that batches carry several entries each.
async fn top_ups(service: &Service, user_id: &UserId, first: usize, count: usize) {
    let mut answers = Vec::new();
    for index in first..first + count {
        let (service, user_id) = (service.clone(), user_id.clone());
        answers.push(tokio::spawn(async move {
            let op = Op::TopUp { user_id, amount: Amount::new(100).expect("an amount"), reference: format!("top-up-{index}") };
            service.execute(op).await.expect("top up");
        }));
    }
    for answer in answers {
        answer.await.expect("the request task");
    }
}

fn verify_report(database: &TestDatabase) -> hongbao_service::verify::VerifyReport {
    let store = database.store();
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let mut conn = store.open_reader().expect("reader");
                let report = hongbao_service::verify::verify(conn.as_mut()).expect("verify");
                drop(conn);
                report
            })
            .join()
            .expect("verify")
    })
}

fn verify_clean(database: &TestDatabase, entries: u64) {
    let report = verify_report(database);
    assert!(report.is_clean(), "{:?}", report.discrepancies);
    assert_eq!(report.entries, entries);
    assert_eq!(report.tree_nodes, 2 * entries - u64::from(entries.count_ones()), "every complete subtree of the journal is stored");
}

fn tamper(database: &TestDatabase, sql: &str) {
    match database.sqlite_path() {
        Some(path) => rusqlite::Connection::open(path).expect("open").execute_batch(sql).expect("tamper"),
        None => database.postgres_execute(sql),
    }
}

fn drop_tree_triggers(database: &TestDatabase) {
    match database.sqlite_path() {
        Some(_) => tamper(database, "DROP TRIGGER merkle_nodes_are_append_only_delete"),
        None => tamper(database, "DROP TRIGGER merkle_nodes_are_append_only ON merkle_nodes"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_committed_entry_is_a_leaf_written_with_it() {
    let database = TestDatabase::new();
    let service = start(&database);
    let alice = user(&service).await;
    top_ups(&service, &alice, 0, 37).await;
    verify_clean(&database, 37);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_without_its_tree_gets_it_at_start_and_a_lagging_tree_catches_up_in_the_next_batch() {
    let database = TestDatabase::new();
    let service = start(&database);
    let alice = user(&service).await;
    top_ups(&service, &alice, 0, 25).await;
    drop(service);

    // A database from before the tree: the journal without a node.
    drop_tree_triggers(&database);
    tamper(&database, "DELETE FROM merkle_nodes");
    let service = start(&database);
    verify_clean(&database, 25);

    // Entries committed without their leaves (by a process from before the tree): the last three.
    tamper(&database, "DELETE FROM merkle_nodes WHERE ((idx + 1) << level) > 22");
    let lagging = verify_report(&database);
    assert!(lagging.discrepancies.iter().any(|found| found.contains("(entries 23)") && found.contains("is not stored")), "{:?}", lagging.discrepancies);
    top_ups(&service, &alice, 25, 5).await;
    verify_clean(&database, 30);
    drop(service);
}

/// `merkle_nodes` as migration 20 made it, keyed by level first, with the same nodes, and migration
/// 50 (which keys them by the size at which each is complete) not applied yet.
fn back_to_the_level_first_layout(database: &TestDatabase) {
    let (table, triggers) = match database.sqlite_path() {
        Some(_) => (
            "CREATE TABLE merkle_old (log_id INTEGER NOT NULL CHECK (log_id >= 0), level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63), \
             idx INTEGER NOT NULL CHECK (idx >= 0), hash BLOB NOT NULL CHECK (length(hash) = 32), PRIMARY KEY (log_id, level, idx)) WITHOUT ROWID;",
            "CREATE TRIGGER merkle_nodes_are_append_only_update BEFORE UPDATE ON merkle_nodes BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END; \
             CREATE TRIGGER merkle_nodes_are_append_only_delete BEFORE DELETE ON merkle_nodes BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END;",
        ),
        None => (
            "CREATE TABLE merkle_old (log_id INTEGER NOT NULL CHECK (log_id >= 0), level SMALLINT NOT NULL CHECK (level BETWEEN 0 AND 63), \
             idx BIGINT NOT NULL CHECK (idx >= 0), hash BYTEA NOT NULL CHECK (length(hash) = 32), PRIMARY KEY (log_id, level, idx));",
            "CREATE TRIGGER merkle_nodes_are_append_only BEFORE UPDATE OR DELETE ON merkle_nodes FOR EACH ROW EXECUTE FUNCTION hongbao_append_only();",
        ),
    };
    tamper(
        database,
        &format!(
            "{table} INSERT INTO merkle_old SELECT log_id, level, idx, hash FROM merkle_nodes; DROP TABLE merkle_nodes; \
             ALTER TABLE merkle_old RENAME TO merkle_nodes; {triggers} DELETE FROM schema_migrations WHERE version = 50;"
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_stored_level_first_keeps_every_node_when_migrated_and_grows_after() {
    let database = TestDatabase::new();
    let service = start(&database);
    let alice = user(&service).await;
    top_ups(&service, &alice, 0, 21).await;
    drop(service);

    back_to_the_level_first_layout(&database);
    // Migrated alone, before a service could rebuild a lost tree: every node is still there.
    // (On a thread of its own: the PostgreSQL store blocks on a runtime of its own.)
    let store = database.store();
    std::thread::scope(|scope| scope.spawn(move || store.migrate().expect("migrate")).join().expect("the migration's thread"));
    verify_clean(&database, 21);
    let service = start(&database);
    // Appending reads the tree's right edge by the new key, and writes the new nodes under it.
    top_ups(&service, &alice, 21, 6).await;
    verify_clean(&database, 27);
    drop(service);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_is_stored_once_per_size_and_key_and_signs_the_trees_root() {
    let database = TestDatabase::new();
    let service = start(&database);
    let alice = user(&service).await;
    assert!(service.checkpoint_op().await.is_err(), "an empty journal has nothing to checkpoint");
    top_ups(&service, &alice, 0, 5).await;
    let (first, again) = (service.make_checkpoint().await.expect("a checkpoint"), service.make_checkpoint().await.expect("a checkpoint"));
    assert_eq!(first, again, "the same tree and key make the same checkpoint, stored once");
    assert_eq!(first.size, 5);
    let opened = hongbao_tlog::open_checkpoint(&first.signed_note, &service.log_verifier_key(), None).expect("signed by the service's key");
    assert_eq!(opened.checkpoint().root(), first.root);
    top_ups(&service, &alice, 5, 1).await;
    let second = service.make_checkpoint().await.expect("a checkpoint");
    assert_eq!((second.seq, second.size), (first.seq + 1, 6));
    assert_eq!(service.checkpoints(None, 10).await.expect("a list").iter().map(|checkpoint| checkpoint.seq).collect::<Vec<_>>(), [second.seq, first.seq]);
    let proof = service.consistency_proof(5, 6).await.expect("a proof");
    hongbao_tlog::verify_consistency_proof(5, 6, &first.root, &second.root, &proof).expect("the proof verifies");
    verify_clean(&database, 6);
}
