//! What users can make the server keep of evidence is bounded: a quota per user, uploads never
//! attached to a case removed after their time (their files too, unless another record still names
//! the same bytes), and a refused upload never takes away a file that another upload of the same bytes
//! needs.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use hongbao_service::Config;

use crate::cases::{complain, settled_transfer, upload};
use crate::harness::{TestServer, without_timers};

const DAY: i64 = 86_400;

fn limited(quota: u64) -> Config {
    without_timers(Config { evidence_quota_bytes: quota, evidence_unattached_ttl_seconds: 7 * DAY, ..Config::default() })
}

fn stored_path(server: &TestServer, bytes: &[u8]) -> PathBuf {
    let sha = hex::encode(Sha256::digest(bytes));
    server.config.evidence_dir.join(&sha[..2]).join(&sha[2..])
}

async fn upload_text(server: &TestServer, token: &str, text: &str) -> Value {
    upload(server, token, "text/plain", text.as_bytes(), None).await.expect(StatusCode::CREATED)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evidence_quota_refuses_an_upload_past_it_and_removal_frees_it() {
    // Every small file counts as 4096 bytes: two fit in 10,000, a third does not.
    let server = TestServer::start_with(limited(10_000)).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    upload_text(&server, &alice.token, "one").await;
    upload_text(&server, &alice.token, "two").await;
    let refused = upload(&server, &alice.token, "text/plain", b"three", None).await;
    refused.expect_error(StatusCode::CONFLICT, "limit_exceeded");
    assert!(refused.body["detail"].as_str().is_some_and(|detail| detail.contains("quota is 10000 bytes")), "{}", refused.body);
    assert!(!stored_path(&server, b"three").exists(), "a refused upload leaves no file");
    // The quota is each user's own.
    upload_text(&server, &bob.token, "three").await;

    // Unattached uploads go after their time, and with them what they took of the quota.
    server.clock.advance_seconds(7 * DAY + 1);
    assert_eq!(server.service.run_maintenance().await.expect("maintenance"), 3);
    upload_text(&server, &alice.token, "three").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unattached_uploads_are_removed_after_their_time_with_their_files_unless_still_named() {
    let server = TestServer::start_with(limited(200 * 1024 * 1024)).await;
    let alice = server.funded_user("alice", 10_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let lonely = upload_text(&server, &alice.token, "nobody else has these bytes").await;
    let shared_by_alice = upload_text(&server, &alice.token, "the same bytes twice").await;
    let attached = upload_text(&server, &alice.token, "bob: pay first").await;
    let txn_no = settled_transfer(&server, &alice, &bob, 1_00).await;
    complain(&server, &alice, json!({ "kind": "fraud", "txn_nos": [txn_no], "description": "never came", "evidence_ids": [attached["id"]] }))
        .await
        .expect(StatusCode::CREATED);
    // Three days later carol uploads the same bytes as one of alice's.
    server.clock.advance_seconds(3 * DAY);
    let shared_by_carol = upload_text(&server, &carol.token, "the same bytes twice").await;

    server.clock.advance_seconds(4 * DAY + 1);
    assert_eq!(server.service.run_maintenance().await.expect("maintenance"), 2, "alice's two unattached uploads are past their time");
    let get = |id: &Value| format!("/v1/evidence/{}", id.as_str().expect("id"));
    server.get(&get(&lonely["id"]), &alice.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.get(&get(&shared_by_alice["id"]), &alice.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    assert!(!stored_path(&server, b"nobody else has these bytes").exists(), "a file no record names is deleted");
    assert!(stored_path(&server, b"the same bytes twice").exists(), "carol's record still names the shared file");
    let content = server.client.get(format!("{}{}/content", server.base, get(&shared_by_carol["id"]))).bearer_auth(&carol.token).send().await.expect("sent");
    assert_eq!(content.status(), StatusCode::OK);
    assert_eq!(content.bytes().await.expect("bytes").as_ref(), b"the same bytes twice");
    server.get(&get(&attached["id"]), &alice.token).await.expect(StatusCode::OK);
    assert!(stored_path(&server, b"bob: pay first").exists(), "attached evidence stays");

    // Carol's goes in its turn, and the file with it.
    server.clock.advance_seconds(3 * DAY);
    assert_eq!(server.service.run_maintenance().await.expect("maintenance"), 1);
    assert!(!stored_path(&server, b"the same bytes twice").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_never_removes_the_file_a_concurrent_identical_upload_needs() {
    // Alice is at her quota: every upload of hers is refused. Bob uploads the same bytes at the same
    // moment; whatever the order, his file must be there and whole.
    let server = TestServer::start_with(limited(8_192)).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    for round in 0..20 {
        upload_text(&server, &alice.token, &format!("alice one, round {round}")).await;
        upload_text(&server, &alice.token, &format!("alice two, round {round}")).await;
        let bytes = format!("the same screenshot, round {round}");
        let (refused, accepted) = tokio::join!(
            upload(&server, &alice.token, "text/plain", bytes.as_bytes(), None),
            upload(&server, &bob.token, "text/plain", bytes.as_bytes(), None)
        );
        refused.expect_error(StatusCode::CONFLICT, "limit_exceeded");
        let evidence = accepted.expect(StatusCode::CREATED);
        let path = format!("{}/v1/evidence/{}/content", server.base, evidence["id"].as_str().expect("id"));
        let content = server.client.get(path).bearer_auth(&bob.token).send().await.expect("sent");
        assert_eq!(content.status(), StatusCode::OK, "round {round}: bob's file is there");
        assert_eq!(content.bytes().await.expect("bytes").as_ref(), bytes.as_bytes(), "round {round}");
        // Bob's quota is bounded too, so let each round's record go before the next.
        server.clock.advance_seconds(8 * DAY);
        server.service.run_maintenance().await.expect("maintenance");
        assert!(!stored_path(&server, bytes.as_bytes()).exists(), "round {round}: removed once no record names it");
    }
}
