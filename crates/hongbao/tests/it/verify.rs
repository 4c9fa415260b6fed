//! `hongbao verify` and `hongbao user add` as an operator runs them.

use hongbao_testkit::TestDatabase;
use serde_json::json;

use crate::process::{ADMIN_TOKEN, Client, ServerProcess, run, verify};

async fn populated_database() -> TestDatabase {
    let database = TestDatabase::new();
    let server = ServerProcess::start(&database.url, &[]);
    let client = Client::new(&server.base);
    let (alice, alice_token) = client.user("alice").await;
    let (bob, bob_token) = client.user("bob").await;
    for reference in ["one", "two"] {
        let (status, _) =
            client.post("/v1/top-ups", ADMIN_TOKEN, Some(json!({ "user_id": alice, "amount": 50_00, "reference": reference }))).await.expect("top up");
        assert_eq!(status, 201);
    }
    let (status, packet) =
        client.post("/v1/packets", &alice_token, Some(json!({ "kind": "normal", "recipient_id": bob, "amount_per_share": 20_00 }))).await.expect("packet");
    assert_eq!(status, 201);
    let (status, _) = client.post(&format!("/v1/packets/{}/claim", packet["id"].as_str().expect("id")), &bob_token, None).await.expect("claim");
    assert_eq!(status, 200);
    server.kill();
    database
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs SQL behind the server's back, as someone with direct access to the database would.
fn tamper(database: &TestDatabase, sqlite_sql: &str, postgres_sql: &str) {
    match database.sqlite_path() {
        Some(path) => rusqlite::Connection::open(path).expect("open the database file").execute_batch(sqlite_sql).expect("tamper"),
        None => database.postgres_execute(postgres_sql),
    }
}

/// The sequence number and transaction number of the newest journal entry of a kind, read through verify's
/// own view of the journal (the store's reader).
fn newest_entry(database: &TestDatabase, kind: &str) -> (u64, String) {
    let store = database.store();
    let mut conn = std::thread::scope(|scope| scope.spawn(|| store.open_reader().expect("reader")).join().expect("open"));
    let entries = std::thread::scope(|scope| scope.spawn(|| conn.journal_range(1, 100).expect("journal")).join().expect("read"));
    std::thread::scope(|scope| scope.spawn(move || drop(conn)).join().expect("close"));
    let entry = entries.iter().rev().find(|entry| entry.txn.kind().as_str() == kind).expect("an entry of that kind");
    (entry.seq, entry.txn.txn_no().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_on_an_intact_ledger() {
    let database = populated_database().await;
    let output = verify(&database.url);
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(stdout(&output).starts_with("ok: 4 journal entries"), "{}", stdout(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_an_edited_journal_row() {
    let database = populated_database().await;
    let (seq, txn_no) = newest_entry(&database, "top_up");
    // The append-only triggers stop honest mistakes; an attacker drops them first.
    tamper(
        &database,
        &format!("DROP TRIGGER journal_is_append_only_update; UPDATE journal SET amount = amount + 1 WHERE seq = {seq};"),
        &format!("DROP TRIGGER journal_is_append_only ON journal; UPDATE journal SET amount = amount + 1 WHERE seq = {seq};"),
    );
    let output = verify(&database.url);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let report = stdout(&output);
    assert!(report.contains("FAILED") && report.contains(&txn_no) && report.contains(&format!("journal entry {seq} ")), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_an_edited_posting() {
    let database = populated_database().await;
    let (seq, txn_no) = newest_entry(&database, "packet_claim");
    tamper(
        &database,
        &format!("DROP TRIGGER postings_are_append_only_update; UPDATE postings SET amount = amount * 2 WHERE seq = {seq} AND amount > 0;"),
        &format!("DROP TRIGGER postings_are_append_only ON postings; UPDATE postings SET amount = amount * 2 WHERE seq = {seq} AND amount > 0;"),
    );
    let output = verify(&database.url);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains(&txn_no), "{}", stdout(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_an_edited_balance() {
    let database = populated_database().await;
    let sql = "UPDATE balances SET balance = balance + 100 WHERE account LIKE 'wallet:%' AND balance > 0;";
    tamper(&database, sql, sql);
    let output = verify(&database.url);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("stored balance"), "{}", stdout(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_append_only_triggers_refuse_edits() {
    let database = populated_database().await;
    for (sqlite_sql, postgres_sql) in [
        ("UPDATE journal SET amount = 2", "UPDATE journal SET amount = 2"),
        ("DELETE FROM journal", "DELETE FROM journal"),
        ("UPDATE postings SET amount = 0", "UPDATE postings SET amount = 0"),
        ("DELETE FROM postings", "DELETE FROM postings"),
    ] {
        let refused = match database.sqlite_path() {
            Some(path) => rusqlite::Connection::open(path).expect("open").execute_batch(sqlite_sql).expect_err("refused").to_string(),
            None => {
                let url = database.url.clone();
                std::thread::scope(|scope| {
                    scope
                        .spawn(move || {
                            let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
                            let error = client.batch_execute(postgres_sql).expect_err("refused");
                            error.as_db_error().map_or_else(|| error.to_string(), |db_error| db_error.message().to_owned())
                        })
                        .join()
                        .expect("thread")
                })
            }
        };
        assert!(refused.contains("append-only"), "{sqlite_sql}: {refused}");
    }
    let output = verify(&database.url);
    assert!(output.status.success(), "{}", stdout(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_add_prints_a_working_token() {
    let database = TestDatabase::new();
    let output = run(&["user", "add", "Dana", "--database", &database.url]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = stdout(&output);
    let token = text.lines().find_map(|line| line.strip_prefix("token (shown once): ")).expect("a token line").to_owned();
    let server = ServerProcess::start(&database.url, &[]);
    let me = Client::new(&server.base).get("/v1/me", &token).await;
    assert_eq!(me["name"], "Dana");
}

#[test]
fn verify_refuses_a_missing_database() {
    let database = TestDatabase::sqlite();
    let output = verify(&database.url);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("error"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_a_payment_given_back_more_than_once() {
    let database = populated_database().await;
    let (_, claim_txn_no) = newest_entry(&database, "packet_claim");
    let (seq, _) = newest_entry(&database, "top_up");
    // Someone with the database makes the 50.00 top-up pass for a correction of the 20.00 claim, as if
    // 50.00 of it had been given back.
    tamper(
        &database,
        &format!("DROP TRIGGER journal_is_append_only_update; UPDATE journal SET corrects_txn_no = '{claim_txn_no}' WHERE seq = {seq};"),
        &format!("DROP TRIGGER journal_is_append_only ON journal; UPDATE journal SET corrects_txn_no = '{claim_txn_no}' WHERE seq = {seq};"),
    );
    let output = verify(&database.url);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let report = stdout(&output);
    assert!(report.contains(&format!("transaction {claim_txn_no}: its corrections gave back 5000 of a payment of 2000")), "{report}");
}
