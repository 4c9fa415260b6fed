//! The README's walk-through, as a test: users, top-up, group, lucky packet, claims, timed refund.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lucky_packet_from_send_to_luckiest() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let group = server.group(&alice, &[&bob, &carol]).await;

    let packet = server
        .post("/v1/packets", &alice.token, json!({ "kind": "lucky", "group_id": group, "total_amount": 10_00, "shares": 3, "greeting": "新年快乐" }))
        .await
        .expect(StatusCode::CREATED);
    let id = packet["id"].as_str().expect("packet id");
    assert_eq!(packet["status"], "open");
    assert_eq!(packet["remaining_count"], 3);
    assert_eq!(server.balance(&alice).await, 90_00);

    let mut total = 0;
    for user in [&bob, &carol, &alice] {
        let claim = server.post_empty(&format!("/v1/packets/{id}/claim"), &user.token).await.expect(StatusCode::OK);
        assert_eq!(claim["user_id"], user.id.as_str());
        total += claim["amount"].as_i64().expect("amount");
    }
    assert_eq!(total, 10_00);
    let finished = server.packet(id, &bob).await;
    assert_eq!(finished["status"], "exhausted");
    let claims = finished["claims"].as_array().expect("claims");
    let largest = claims.iter().map(|claim| claim["amount"].as_i64().expect("amount")).max().expect("claims");
    let luckiest = claims.iter().find(|claim| claim["amount"] == largest).expect("a largest claim");
    assert_eq!(finished["luckiest_user_id"], luckiest["user_id"]);
    assert_eq!(server.balance(&bob).await + server.balance(&carol).await + server.balance(&alice).await, 100_00);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_packet_refunds_when_its_countdown_ends() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 10_00).await;
    let bob = server.user("bob").await;
    let packet = server
        .post("/v1/packets", &alice.token, json!({ "kind": "timed", "recipient_id": bob.id, "total_amount": 5_00, "expires_in_seconds": 30 }))
        .await
        .expect(StatusCode::CREATED);
    let id = packet["id"].as_str().expect("packet id");
    server.clock.advance_seconds(29);
    assert_eq!(server.packet(id, &alice).await["status"], "open");
    server.clock.advance_seconds(1);
    let refunded = server.wait_for_status(id, &alice, "expired").await;
    assert_eq!(refunded["refunded_amount"], 5_00);
    assert!(refunded["refund_txn_no"].is_string());
    assert_eq!(server.balance(&alice).await, 10_00);
    server.post_empty(&format!("/v1/packets/{id}/claim"), &bob.token).await.expect_error(StatusCode::GONE, "packet_expired");
    server.assert_verified();
}
