//! Return requests (协商退还) over HTTP: who may ask, accept, decline and expiry, the limits, and two
//! accepts racing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, TestUser};

/// A settled instant transfer from `payer` to `payee`; returns its settlement's transaction number.
async fn settled_transfer(server: &TestServer, payer: &TestUser, payee: &TestUser, amount: i64) -> String {
    let transfer = server
        .post("/v1/transfers", &payer.token, json!({ "recipient_id": payee.id, "amount": amount, "arrival": "instant" }))
        .await
        .expect(StatusCode::CREATED);
    let settled = server.post_empty(&format!("/v1/transfers/{}/accept", transfer["id"].as_str().expect("id")), &payee.token).await.expect(StatusCode::OK);
    settled["txn_nos"][1].as_str().expect("settlement").to_owned()
}

async fn ask(server: &TestServer, requester: &TestUser, body: Value) -> crate::harness::Answer {
    server.post("/v1/return-requests", &requester.token, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_return_accepted_moves_money_back_with_a_reference() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let txn_no = settled_transfer(&server, &alice, &bob, 50_00).await;

    let request = ask(&server, &alice, json!({ "txn_no": txn_no, "amount": 20_00, "reason": "转错了", "respond_within_seconds": 3_600 }))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(request["status"], "pending");
    assert_eq!(request["requester_id"], alice.id.as_str());
    assert_eq!(request["recipient_id"], bob.id.as_str());
    assert_eq!(request["amount"], 20_00);
    let path = format!("/v1/return-requests/{}", request["id"].as_str().expect("id"));
    assert_eq!(server.get(&path, &bob.token).await.expect(StatusCode::OK)["reason"], "转错了");
    let sent = server.get("/v1/return-requests?role=sent", &alice.token).await.expect(StatusCode::OK);
    assert_eq!(sent["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(server.get("/v1/return-requests?role=received", &alice.token).await.expect(StatusCode::OK)["data"].as_array().map(Vec::len), Some(0));
    assert_eq!(server.get("/v1/return-requests?role=received", &bob.token).await.expect(StatusCode::OK)["data"].as_array().map(Vec::len), Some(1));
    server.get("/v1/return-requests?role=other", &bob.token).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");

    server.post_empty(&format!("{path}/accept"), &alice.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    let accepted = server.post_empty(&format!("{path}/accept"), &bob.token).await.expect(StatusCode::OK);
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(server.balance(&alice).await, 70_00);
    assert_eq!(server.balance(&bob).await, 30_00);
    let returned =
        server.get(&format!("/v1/transactions/{}", accepted["return_txn_no"].as_str().expect("return txn")), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(returned["kind"], "return");
    assert_eq!(returned["related"]["corrects_txn_no"], txn_no.as_str());
    assert_eq!(returned["related"]["return_request_id"], accepted["id"]);
    server.post_empty(&format!("{path}/accept"), &bob.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");

    // What is left may be asked for; more than is left may not.
    ask(&server, &alice, json!({ "txn_no": txn_no, "amount": 30_01, "reason": "all" })).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    let rest = ask(&server, &alice, json!({ "txn_no": txn_no, "reason": "the rest" })).await.expect(StatusCode::CREATED);
    assert_eq!(rest["amount"], 30_00);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decline_expiry_and_the_limits() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let txn_no = settled_transfer(&server, &alice, &bob, 10_00).await;

    let first = ask(&server, &alice, json!({ "txn_no": txn_no, "reason": "mistake" })).await.expect(StatusCode::CREATED);
    ask(&server, &alice, json!({ "txn_no": txn_no, "reason": "again" })).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    let declined = server
        .post(&format!("/v1/return-requests/{}/decline", first["id"].as_str().expect("id")), &bob.token, json!({ "reason": "it was rent" }))
        .await
        .expect(StatusCode::OK);
    assert_eq!(declined["status"], "declined");
    assert_eq!(declined["decline_reason"], "it was rent");

    let second = ask(&server, &alice, json!({ "txn_no": txn_no, "reason": "please", "respond_within_seconds": 60 })).await.expect(StatusCode::CREATED);
    assert_eq!(second["respond_by"].as_str().map(str::len), Some(24));
    server.clock.advance_seconds(60);
    let path = format!("/v1/return-requests/{}", second["id"].as_str().expect("id"));
    server.post_empty(&format!("{path}/accept"), &bob.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    server.wait_for(&path, &alice.token, "expired").await;

    let third = ask(&server, &alice, json!({ "txn_no": txn_no, "reason": "last time" })).await.expect(StatusCode::CREATED);
    server.post_empty(&format!("/v1/return-requests/{}/decline", third["id"].as_str().expect("id")), &bob.token).await.expect(StatusCode::OK);
    ask(&server, &alice, json!({ "txn_no": txn_no, "reason": "fourth" })).await.expect_error(StatusCode::CONFLICT, "limit_exceeded");

    for (body, code) in [
        (json!({ "txn_no": txn_no, "reason": "" }), "validation_failed"),
        (json!({ "txn_no": txn_no, "reason": "x", "respond_within_seconds": 604_801 }), "validation_failed"),
        (json!({ "txn_no": "not-a-txn", "reason": "x" }), "validation_failed"),
    ] {
        ask(&server, &alice, body).await.expect_error(StatusCode::BAD_REQUEST, code);
    }
    assert_eq!(server.balance(&bob).await, 10_00, "declines and expiries move nothing");
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_payer_of_a_claim_or_settlement_may_ask() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let group = server.group(&alice, &[&bob, &carol]).await;
    let packet = server.send_packet(&alice, json!({ "kind": "normal", "group_id": group, "amount_per_share": 5_00, "shares": 3 })).await;
    let bob_claim = server.post_empty(&format!("/v1/packets/{packet}/claim"), &bob.token).await.expect(StatusCode::OK);
    let carol_claim = server.post_empty(&format!("/v1/packets/{packet}/claim"), &carol.token).await.expect(StatusCode::OK);
    let alice_claim = server.post_empty(&format!("/v1/packets/{packet}/claim"), &alice.token).await.expect(StatusCode::OK);
    let bob_txn = bob_claim["txn_no"].as_str().expect("txn");

    ask(&server, &bob, json!({ "txn_no": bob_txn, "reason": "mine" })).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    ask(&server, &carol, json!({ "txn_no": bob_txn, "reason": "not mine" })).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    ask(&server, &alice, json!({ "txn_no": alice_claim["txn_no"], "reason": "myself" })).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    let top_up = server.top_up(&alice, 1_00).await;
    ask(&server, &alice, json!({ "txn_no": top_up["txn_no"], "reason": "top-up" })).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    ask(&server, &alice, json!({ "txn_no": "txn_doesnotexist", "reason": "x" })).await.expect_error(StatusCode::NOT_FOUND, "not_found");

    // A group packet is negotiated claimer by claimer.
    let from_bob = ask(&server, &alice, json!({ "txn_no": bob_txn, "reason": "wrong group" })).await.expect(StatusCode::CREATED);
    let from_carol = ask(&server, &alice, json!({ "txn_no": carol_claim["txn_no"], "reason": "wrong group" })).await.expect(StatusCode::CREATED);
    assert_eq!(from_bob["recipient_id"], bob.id.as_str());
    assert_eq!(from_carol["recipient_id"], carol.id.as_str());
    server.get(&format!("/v1/return-requests/{}", from_bob["id"].as_str().expect("id")), &carol.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");

    // Bob spent his share: accepting is refused cleanly and the request stays pending.
    server.post("/v1/withdrawals", &bob.token, json!({ "amount": 4_00 })).await.expect(StatusCode::CREATED);
    let before = server.ledger_state();
    let path = format!("/v1/return-requests/{}", from_bob["id"].as_str().expect("id"));
    server.post_empty(&format!("{path}/accept"), &bob.token).await.expect_error(StatusCode::CONFLICT, "insufficient_funds");
    assert_eq!(server.ledger_state(), before);
    assert_eq!(server.get(&path, &bob.token).await.expect(StatusCode::OK)["status"], "pending");
    server.post_empty(&format!("/v1/return-requests/{}/accept", from_carol["id"].as_str().expect("id")), &carol.token).await.expect(StatusCode::OK);
    assert_eq!(server.balance(&alice).await, 100_00 - 15_00 + 5_00 + 1_00 + 5_00);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accepts_of_one_request_move_the_money_once() {
    // Many recalls and requests in a moment by design: the velocity rule is not what this tests.
    let server = TestServer::start_with(crate::harness::without_velocity_rule()).await;
    let alice = server.funded_user("alice", 1_000_00).await;
    let bob = server.user("bob").await;
    for _ in 0..25 {
        let txn_no = settled_transfer(&server, &alice, &bob, 2_00).await;
        let request = ask(&server, &alice, json!({ "txn_no": txn_no, "reason": "race" })).await.expect(StatusCode::CREATED);
        let path = format!("/v1/return-requests/{}/accept", request["id"].as_str().expect("id"));
        let (one, two) = (server.endpoint(), server.endpoint());
        let (first, second) = tokio::join!(one.post_empty(&path, &bob.token), two.post_empty(&path, &bob.token));
        assert_eq!([&first, &second].iter().filter(|answer| answer.status == StatusCode::OK).count(), 1);
        let loser = if first.status == StatusCode::OK { &second } else { &first };
        loser.expect_error(StatusCode::CONFLICT, "invalid_state");
    }
    assert_eq!(server.balance(&bob).await, 0, "each accepted request returned exactly its amount once");
    assert_eq!(server.balance(&alice).await, 1_000_00);
    server.assert_verified();
}
