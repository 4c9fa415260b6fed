//! The operators' audit log as someone with direct database access would attack it: its append-only
//! triggers refuse edits, and `hongbao verify` names an entry edited behind them.

use hongbao_testkit::TestDatabase;
use serde_json::{Value, json};

use crate::process::{ADMIN_TOKEN, Client, ServerProcess, verify};

/// A database whose audit log holds, in order: the creation of a reviewer (1), a freeze (2) and its lift (3).
async fn audited_database() -> TestDatabase {
    let database = TestDatabase::new();
    let server = ServerProcess::start(&database.url, &[]);
    let client = Client::new(&server.base);
    let (bob, _) = client.user("bob").await;
    let (status, reviewer) = client.post("/v1/ops/operators", ADMIN_TOKEN, Some(json!({ "name": "rita", "role": "reviewer" }))).await.expect("an operator");
    assert_eq!(status, 201, "{reviewer}");
    let reviewer_token = reviewer["token"].as_str().expect("a token");
    let (status, freeze) = client
        .post("/v1/ops/freezes", reviewer_token, Some(json!({ "user_id": bob, "rule": "aml_review", "reason": "unusual inflows" })))
        .await
        .expect("a freeze");
    assert_eq!(status, 201, "{freeze}");
    let lift_path = format!("/v1/ops/freezes/{}/lift", freeze["id"].as_str().expect("an id"));
    let (status, lifted) = client.post(&lift_path, reviewer_token, Some(json!({ "reason": "cleared" }))).await.expect("a lift");
    assert_eq!(status, 200, "{lifted}");
    let log: Value = client.get("/v1/ops/audit", ADMIN_TOKEN).await;
    let actions: Vec<&str> = log["data"].as_array().expect("entries").iter().map(|entry| entry["action"].as_str().expect("an action")).collect();
    assert_eq!(actions, ["freeze.lift", "freeze.create", "operator.create"], "{log}");
    server.kill();
    database
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs SQL behind the server's back; `Err` carries the database's refusal.
fn run_sql(database: &TestDatabase, sqlite_sql: &str, postgres_sql: &str) -> Result<(), String> {
    match database.sqlite_path() {
        Some(path) => rusqlite::Connection::open(path).expect("open the database file").execute_batch(sqlite_sql).map_err(|error| error.to_string()),
        None => {
            let url = database.url.clone();
            std::thread::scope(|scope| {
                scope
                    .spawn(move || {
                        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
                        client
                            .batch_execute(postgres_sql)
                            .map_err(|error| error.as_db_error().map_or_else(|| error.to_string(), |db_error| db_error.message().to_owned()))
                    })
                    .join()
                    .expect("the SQL thread does not panic")
            })
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_refuses_edits_and_deletes() {
    let database = audited_database().await;
    for sql in ["UPDATE audit_log SET reason = 'nothing happened'", "DELETE FROM audit_log", "DELETE FROM audit_log WHERE seq = 3"] {
        let refused = run_sql(&database, sql, sql).expect_err("the audit log is append-only");
        assert!(refused.contains("append-only"), "{sql}: {refused}");
    }
    let output = verify(&database.url);
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(stdout(&output).contains("3 audit log entries, chain intact"), "{}", stdout(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_an_edited_audit_entry() {
    let database = audited_database().await;
    // The append-only triggers stop honest mistakes; an attacker drops them first and rewrites why the
    // freeze was placed.
    run_sql(
        &database,
        "DROP TRIGGER audit_log_is_append_only_update; UPDATE audit_log SET reason = 'routine check' WHERE seq = 2;",
        "DROP TRIGGER audit_log_is_append_only ON audit_log; UPDATE audit_log SET reason = 'routine check' WHERE seq = 2;",
    )
    .expect("tamper with the audit log");
    let output = verify(&database.url);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let report = stdout(&output);
    assert!(report.contains("FAILED") && report.contains("audit log entry 2:"), "{report}");
    assert!(!report.contains("audit log entry 3:"), "the entry after it still chains to its stored hash: {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_a_deleted_audit_entry() {
    let database = audited_database().await;
    run_sql(
        &database,
        "DROP TRIGGER audit_log_is_append_only_delete; DELETE FROM audit_log WHERE seq = 2;",
        "DROP TRIGGER audit_log_is_append_only ON audit_log; DELETE FROM audit_log WHERE seq = 2;",
    )
    .expect("tamper with the audit log");
    let output = verify(&database.url);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(stdout(&output).contains("audit log entry 3:"), "{}", stdout(&output));
}
