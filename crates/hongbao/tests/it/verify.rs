//! `hongbao verify` and `hongbao user add` as an operator runs them.

use serde_json::json;

use crate::process::{ADMIN_TOKEN, Client, ServerProcess, TempDir, run, verify};

async fn populated_database(dir: &TempDir) -> String {
    let url = dir.database_url();
    let server = ServerProcess::start(&url, &[]);
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
    url
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_on_an_intact_ledger() {
    let dir = TempDir::new();
    let url = populated_database(&dir).await;
    let output = verify(&url);
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(stdout(&output).starts_with("ok: 4 journal entries"), "{}", stdout(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_an_edited_journal_row() {
    let dir = TempDir::new();
    let url = populated_database(&dir).await;
    let path = dir.0.join("hongbao.db");
    let connection = rusqlite::Connection::open(&path).expect("open the database behind the server's back");
    let (seq, txn_no): (i64, String) = connection
        .query_row("SELECT seq, txn_no FROM journal WHERE kind = 'top_up' ORDER BY seq DESC LIMIT 1", [], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("a top-up");
    // The append-only triggers stop honest mistakes; an attacker drops them first.
    connection.execute_batch("DROP TRIGGER journal_is_append_only_update").expect("drop the trigger");
    connection.execute("UPDATE journal SET amount = amount + 1 WHERE seq = ?1", [seq]).expect("edit the row");
    drop(connection);
    let output = verify(&url);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let report = stdout(&output);
    assert!(report.contains("FAILED") && report.contains(&txn_no) && report.contains(&format!("journal entry {seq} ")), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_an_edited_posting_and_balance() {
    let dir = TempDir::new();
    let url = populated_database(&dir).await;
    let connection = rusqlite::Connection::open(dir.0.join("hongbao.db")).expect("open");
    let (seq, txn_no): (i64, String) =
        connection.query_row("SELECT seq, txn_no FROM journal WHERE kind = 'packet_claim'", [], |row| Ok((row.get(0)?, row.get(1)?))).expect("a claim");
    connection.execute_batch("DROP TRIGGER postings_are_append_only_update").expect("drop the trigger");
    connection.execute("UPDATE postings SET amount = amount * 2 WHERE seq = ?1 AND amount > 0", [seq]).expect("edit a posting");
    drop(connection);
    let output = verify(&url);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains(&txn_no), "{}", stdout(&output));

    let dir = TempDir::new();
    let url = populated_database(&dir).await;
    let connection = rusqlite::Connection::open(dir.0.join("hongbao.db")).expect("open");
    connection.execute("UPDATE balances SET balance = balance + 100 WHERE account LIKE 'wallet:%' AND balance > 0", []).expect("edit a balance");
    drop(connection);
    let output = verify(&url);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("stored balance"), "{}", stdout(&output));
}

#[test]
fn the_append_only_triggers_refuse_edits() {
    let dir = TempDir::new();
    let url = dir.database_url();
    let output = run(&["user", "add", "alice", "--database", &url]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let connection = rusqlite::Connection::open(dir.0.join("hongbao.db")).expect("open");
    connection
        .execute("INSERT INTO journal (seq, txn_no, kind, created_at, amount, prev_hash, hash) VALUES (1, 'txn_x', 'top_up', 0, 1, x'00', x'00')", [])
        .expect("insert");
    let error = connection.execute("UPDATE journal SET amount = 2", []).expect_err("updates are refused");
    assert!(error.to_string().contains("append-only"), "{error}");
    let error = connection.execute("DELETE FROM journal", []).expect_err("deletes are refused");
    assert!(error.to_string().contains("append-only"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_add_prints_a_working_token() {
    let dir = TempDir::new();
    let url = dir.database_url();
    let output = run(&["user", "add", "Dana", "--database", &url]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = stdout(&output);
    let token = text.lines().find_map(|line| line.strip_prefix("token (shown once): ")).expect("a token line").to_owned();
    let server = ServerProcess::start(&url, &[]);
    let me = Client::new(&server.base).get("/v1/me", &token).await;
    assert_eq!(me["name"], "Dana");
}

#[test]
fn verify_refuses_a_missing_database() {
    let dir = TempDir::new();
    let output = verify(&format!("sqlite://{}", dir.0.join("absent.db").display()));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("error"));
}
