//! The client commands as people type them, against a running server: a large transfer asks before it
//! is sent, a complaint uploads its evidence first, and events list what happened.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use hongbao_testkit::TestDatabase;
use serde_json::json;

use crate::process::{ADMIN_TOKEN, Client, ServerProcess, binary};

/// Runs a client command as the user with `token`, feeding `input` to its standard input.
fn hongbao(base: &str, token: &str, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(binary())
        .args(args)
        .env("HONGBAO_SERVER", base)
        .env("HONGBAO_TOKEN", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hongbao");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("hongbao finishes")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "hongbao failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_confirm_large_payments_complain_with_evidence_and_read_their_events() {
    let database = TestDatabase::new();
    let server = ServerProcess::start(&database.url, &[]);
    let client = Client::new(&server.base);
    let (alice_id, alice) = client.user("alice").await;
    let (bob_id, _) = client.user("bob").await;
    let base = server.base.clone();
    let (status, _) =
        client.post("/v1/top-ups", ADMIN_TOKEN, Some(json!({ "user_id": alice_id, "amount": 10_000_00, "reference": "salary" }))).await.expect("top up");
    assert_eq!(status, 201);

    let tagged = tokio::task::spawn_blocking({
        let (base, alice, bob_id) = (base.clone(), alice.clone(), bob_id.clone());
        move || {
            let tag = stdout(&hongbao(&base, &alice, &["tag", &bob_id, "friends"], ""));
            // 6000.00 is over the default confirmation threshold: answering anything but "yes" sends nothing.
            let refused = hongbao(&base, &alice, &["transfer", "--to", &bob_id, "--amount", "6000.00", "--memo", "rent"], "no\n");
            assert!(!refused.status.success());
            let asked = String::from_utf8_lossy(&refused.stderr).into_owned();
            assert!(asked.contains("confirm: 6000.00 to bob") && asked.contains("\"rent\"") && asked.contains("nothing was sent"), "{asked}");
            let sent = stdout(&hongbao(&base, &alice, &["transfer", "--to", &bob_id, "--amount", "6000.00", "--memo", "rent"], "yes\n"));
            assert!(sent.contains("6000.00 from"), "{sent}");
            let small = stdout(&hongbao(&base, &alice, &["transfer", "--to", &bob_id, "--amount", "12.34", "--json"], ""));
            let transfer: serde_json::Value = serde_json::from_str(&small).expect("JSON");
            (tag, transfer["txn_nos"][0].as_str().expect("txn").to_owned())
        }
    })
    .await
    .expect("the commands run");
    assert!(tagged.0.contains("tagged friends"), "{}", tagged.0);
    let send_txn = tagged.1;
    let wallet = client.get("/v1/wallet", &alice).await;
    assert_eq!(wallet["balance"], 10_000_00 - 6_000_00 - 12_34, "exactly one large transfer went out");

    let evidence = database.evidence_dir().with_file_name("chat.txt");
    std::fs::write(&evidence, "bob: pay first, the goods come tomorrow\n").expect("write the evidence");
    let (complained, listed, events) = tokio::task::spawn_blocking(move || {
        let evidence = evidence.to_str().expect("a UTF-8 path").to_owned();
        let complained = hongbao(
            &base,
            &alice,
            &["complain", "--kind", "fraud", "--txn", &send_txn, "--description", "nothing came", "--evidence", &evidence, "--label", "chat_record"],
            "",
        );
        let listed = stdout(&hongbao(&base, &alice, &["complaints"], ""));
        let events = stdout(&hongbao(&base, &alice, &["events", "--limit", "50"], ""));
        (complained, listed, events)
    })
    .await
    .expect("the commands run");
    let uploaded = String::from_utf8_lossy(&complained.stderr).into_owned();
    assert!(uploaded.contains("(text/plain, sha256 "), "the file was uploaded first: {uploaded}");
    let complaint = stdout(&complained);
    assert!(complaint.contains("(fraud): submitted"), "{complaint}");
    assert!(listed.contains("(fraud): submitted"), "{listed}");
    for kind in ["complaint.updated", "alert.raised", "transfer.created", "wallet.topped_up"] {
        assert!(events.contains(kind), "the events list {kind}: {events}");
    }
}
