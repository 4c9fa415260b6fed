//! The journal's transparency routes: the public key without a token, checkpoints made on demand by
//! the admin and auditors only and each interval by the scheduler, receipts made on demand for the
//! parties of a transaction only, consistency proofs, and the OpenAPI document that lists them.

use hongbao_tlog::{VerifierKey, open_checkpoint, parse_proof, verify_consistency_proof, verify_receipt};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{ADMIN_TOKEN, TestServer, WAIT, eventually};

async fn operator_token(server: &TestServer, name: &str, role: &str) -> String {
    let created = server.post("/v1/ops/operators", ADMIN_TOKEN, json!({ "name": name, "role": role })).await.expect(StatusCode::CREATED);
    created["token"].as_str().expect("a token").to_owned()
}

async fn public_key(server: &TestServer) -> VerifierKey {
    let answer = server.call(Method::GET, "/.well-known/hongbao/log-key", None, None, &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "text/plain; charset=utf-8");
    VerifierKey::parse(answer.body.as_str().expect("text").trim()).expect("a verifier key")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_key_needs_no_token_and_the_journal_routes_need_one() {
    let server = TestServer::start().await;
    let key = public_key(&server).await;
    assert_eq!(key, server.service.log_verifier_key());
    for path in ["/v1/journal/keys", "/v1/journal/checkpoints", "/v1/journal/checkpoints/latest", "/v1/journal/consistency?from=1&to=1"] {
        server.call(Method::GET, path, None, None, &[]).await.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let keys = server.get("/v1/journal/keys", ADMIN_TOKEN).await.expect(StatusCode::OK);
    assert_eq!(keys["data"][0]["verifier_key"], key.to_string());
    assert_eq!(keys["data"][0]["current"], true);
    server.get("/v1/journal/checkpoints/latest", ADMIN_TOKEN).await.expect_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_on_demand_are_for_the_admin_and_auditors() {
    let server = TestServer::start().await;
    server.post_empty("/v1/ops/checkpoints", ADMIN_TOKEN).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    let alice = server.funded_user("alice", 10_00).await;
    let auditor = operator_token(&server, "ada", "auditor").await;
    let reviewer = operator_token(&server, "rita", "reviewer").await;
    let made = server.post_empty("/v1/ops/checkpoints", ADMIN_TOKEN).await.expect(StatusCode::CREATED);
    assert_eq!(made["size"], 1);
    assert_eq!(made["origin"], server.service.log_signer().name());
    let again = server.post_empty("/v1/ops/checkpoints", &auditor).await.expect(StatusCode::CREATED);
    assert_eq!(again["seq"], made["seq"], "the same tree is checkpointed once");
    server.post_empty("/v1/ops/checkpoints", &reviewer).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    server.post_empty("/v1/ops/checkpoints", &alice.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    let opened = open_checkpoint(made["checkpoint"].as_str().expect("text"), &public_key(&server).await, None).expect("signed by the published key");
    assert_eq!(opened.checkpoint().root().to_base64(), made["root"].as_str().expect("text"));
    // An Idempotency-Key replays the first answer.
    server.top_up(&alice, 1_00).await;
    let first = server.call(Method::POST, "/v1/ops/checkpoints", Some(ADMIN_TOKEN), None, &[("idempotency-key", "checkpoint-1")]).await;
    server.top_up(&alice, 1_00).await;
    let replay = server.call(Method::POST, "/v1/ops/checkpoints", Some(ADMIN_TOKEN), None, &[("idempotency-key", "checkpoint-1")]).await;
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.body, first.body);
    assert_eq!(first.body["size"], 2);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_is_for_the_transactions_parties_and_made_on_demand() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 50_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let support = operator_token(&server, "sam", "support").await;
    let transfer = server.post("/v1/transfers", &alice.token, json!({ "recipient_id": bob.id, "amount": 12_34, "arrival": "instant" })).await;
    let transfer = transfer.expect(StatusCode::CREATED);
    let txn_no = transfer["txn_nos"][0].as_str().expect("the send").to_owned();
    let key = public_key(&server).await;
    for token in [alice.token.as_str(), bob.token.as_str(), ADMIN_TOKEN, support.as_str()] {
        let answer = server.get(&format!("/v1/transactions/{txn_no}/receipt"), token).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        assert_eq!(answer.headers["content-type"], "text/plain; charset=utf-8");
        assert_eq!(answer.headers["content-disposition"], format!("attachment; filename=\"{txn_no}.tlog-proof\""));
        let verified = verify_receipt(answer.body.as_str().expect("text"), &key, None).expect("the receipt verifies with the published key");
        assert_eq!(verified.txn().txn_no().as_str(), txn_no);
        assert_eq!(verified.txn().amount().minor_units(), 12_34);
    }
    let latest = server.get("/v1/journal/checkpoints/latest", ADMIN_TOKEN).await.expect(StatusCode::OK);
    assert_eq!(latest["size"], 2, "the receipt made the checkpoint it needed");
    // Carol is no party of it: as far as she can tell, it does not exist.
    server.get(&format!("/v1/transactions/{txn_no}/receipt"), &carol.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.get("/v1/transactions/txn_nonsense/receipt", &alice.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_checkpoints_a_grown_tree_once_per_interval_and_proofs_join_them() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 10_00).await;
    let wait_for_size = async |size: u64| {
        eventually(&format!("a checkpoint of {size} entries"), WAIT, || async {
            let latest = server.get("/v1/journal/checkpoints/latest", ADMIN_TOKEN).await;
            if latest.status == StatusCode::OK && latest.body["size"] == size { Ok(latest.body) } else { Err(format!("{:?}", latest.body)) }
        })
        .await
    };
    let first = wait_for_size(1).await;
    server.top_up(&alice, 1_00).await;
    server.top_up(&alice, 1_00).await;
    // Not before the interval has passed on the service's clock: the scheduler's own step, asked
    // directly, makes none, rather than a wait for a checkpoint that must not come.
    assert!(server.service.checkpoint_if_due().await.expect("a look at the checkpoints").is_none(), "a checkpoint before the interval");
    assert_eq!(server.get("/v1/journal/checkpoints/latest", ADMIN_TOKEN).await.body["size"], 1);
    server.clock.advance_seconds(i64::try_from(server.config.checkpoint_interval_seconds).expect("seconds"));
    let second = wait_for_size(3).await;
    let list = server.get("/v1/journal/checkpoints", ADMIN_TOKEN).await.expect(StatusCode::OK);
    assert_eq!(list["data"].as_array().expect("a list").len(), 2);
    let proof = server.get("/v1/journal/consistency?from=1&to=3", &alice.token).await;
    let proof = parse_proof(proof.body.as_str().expect("text")).expect("a proof");
    let root = |checkpoint: &serde_json::Value| hongbao_tlog::Hash::from_base64(checkpoint["root"].as_str().expect("text")).expect("a root");
    verify_consistency_proof(1, 3, &root(&first), &root(&second), &proof).expect("the later checkpoint extends the first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_the_journal_routes() {
    let server = TestServer::start().await;
    let document = server.call(Method::GET, "/openapi.json", None, None, &[]).await.expect(StatusCode::OK);
    for path in [
        "/.well-known/hongbao/log-key",
        "/v1/journal/keys",
        "/v1/journal/checkpoints",
        "/v1/journal/checkpoints/latest",
        "/v1/journal/consistency",
        "/v1/ops/checkpoints",
        "/v1/transactions/{txn_no}/receipt",
        "/v1/ops/cases/{id}/dossier",
    ] {
        assert!(document["paths"][path].is_object(), "{path} is documented");
    }
}
