//! Case refunds are bounded by what was lost (issue "Money safety", items 1 and 2), on both backends:
//! a refund corrects one payment of its case and never gives back more than returns, other refunds
//! and reversals left of it; a case over several payments names the one each refund corrects; a
//! large refund waits for a second reviewer; and a guardian's complaint about a minor's group packet
//! makes everyone who claimed it a respondent, whom a reviewer may hold and refund from.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cases::{PDF, PNG, TestOperator, complain, id, operator, packet_send_txn_no, place_freeze, settled_transfer, text, upload};
use crate::harness::{TestServer, TestUser, without_velocity_rule};

async fn fraud_case(server: &TestServer, complainant: &TestUser, txn_nos: &[&str]) -> String {
    let chat = upload(server, &complainant.token, "text/plain", b"pay first, the goods come tomorrow", Some("chat_record")).await.expect(StatusCode::CREATED);
    let body = json!({ "kind": "fraud", "txn_nos": txn_nos, "description": "paid, nothing came", "evidence_ids": [id(&chat)] });
    id(&complain(server, complainant, body).await.expect(StatusCode::CREATED))
}

async fn refund(server: &TestServer, reviewer: &TestOperator, case_id: &str, body: Value) -> crate::harness::Answer {
    server.post(&format!("/v1/ops/cases/{case_id}/refunds"), &reviewer.token, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_refund_never_gives_back_more_than_the_payment() {
    let server = TestServer::start_with(without_velocity_rule()).await;
    let bob = server.funded_user("bob", 100_00).await;
    // Carol has plenty of her own money: only the bound on the payment stops a drain.
    let carol = server.funded_user("carol", 500_00).await;
    let reviewer = operator(&server, "rita", "reviewer").await;
    let paid = settled_transfer(&server, &bob, &carol, 10_00).await;
    let case_id = fraud_case(&server, &bob, &[&paid]).await;
    let freeze = place_freeze(&server, &reviewer, json!({ "user_id": carol.id, "case_id": case_id, "reason": "fraud report" })).await;
    let before = server.ledger_state();
    // A full freeze and an amount far above the disputed payment: refused, nothing moves.
    refund(&server, &reviewer, &case_id, json!({ "freeze_id": id(&freeze), "amount": 400_00, "reason": "drain" }))
        .await
        .expect_error(StatusCode::CONFLICT, "invalid_state");
    assert_eq!(server.ledger_state(), before);
    // Up to the payment, in parts.
    refund(&server, &reviewer, &case_id, json!({ "freeze_id": id(&freeze), "amount": 6_00, "reason": "part" })).await.expect(StatusCode::CREATED);
    refund(&server, &reviewer, &case_id, json!({ "freeze_id": id(&freeze), "amount": 4_01, "reason": "one fen too many" }))
        .await
        .expect_error(StatusCode::CONFLICT, "invalid_state");
    let last =
        refund(&server, &reviewer, &case_id, json!({ "freeze_id": id(&freeze), "amount": 4_00, "reason": "the rest" })).await.expect(StatusCode::CREATED);
    assert_eq!(last["related"]["corrects_txn_no"], paid.as_str(), "the refund names the payment it corrects");
    assert_eq!((server.balance(&bob).await, server.balance(&carol).await), (100_00, 500_00));
    // Nothing is left for a reversal or a return request either.
    let legal = operator(&server, "lee", "legal").await;
    server
        .post("/v1/ops/reversals", &legal.token, json!({ "txn_no": paid, "reason": "court order", "reference": "R-1" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    server.post("/v1/return-requests", &bob.token, json!({ "txn_no": paid, "reason": "again" })).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_returned_in_full_cannot_be_refunded_again_by_a_case() {
    let server = TestServer::start_with(without_velocity_rule()).await;
    let bob = server.funded_user("bob", 100_00).await;
    let carol = server.funded_user("carol", 100_00).await;
    let reviewer = operator(&server, "rita", "reviewer").await;
    let paid = settled_transfer(&server, &bob, &carol, 10_00).await;
    let request = server.post("/v1/return-requests", &bob.token, json!({ "txn_no": paid, "reason": "paid twice" })).await.expect(StatusCode::CREATED);
    server.post_empty(&format!("/v1/return-requests/{}/accept", id(&request)), &carol.token).await.expect(StatusCode::OK);
    let case_id = fraud_case(&server, &bob, &[&paid]).await;
    let freeze = place_freeze(&server, &reviewer, json!({ "user_id": carol.id, "case_id": case_id, "reason": "fraud report" })).await;
    let before = server.ledger_state();
    for amount in [5_00, 10_00, 1] {
        refund(&server, &reviewer, &case_id, json!({ "freeze_id": id(&freeze), "amount": amount, "reason": "again" }))
            .await
            .expect_error(StatusCode::CONFLICT, "invalid_state");
    }
    assert_eq!(server.ledger_state(), before);
    assert_eq!((server.balance(&bob).await, server.balance(&carol).await), (100_00, 100_00), "10.00 paid, 10.00 back, no more");
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_over_several_payments_is_refunded_per_named_payment() {
    let server = TestServer::start_with(without_velocity_rule()).await;
    let bob = server.funded_user("bob", 100_00).await;
    let carol = server.funded_user("carol", 100_00).await;
    let reviewer = operator(&server, "rita", "reviewer").await;
    let first = settled_transfer(&server, &bob, &carol, 10_00).await;
    let second = settled_transfer(&server, &bob, &carol, 3_00).await;
    let case_id = fraud_case(&server, &bob, &[&first, &second]).await;
    let freeze = place_freeze(&server, &reviewer, json!({ "user_id": carol.id, "case_id": case_id, "reason": "fraud report" })).await;
    // Two payments reached carol: a refund must say which one it corrects.
    let unnamed = refund(&server, &reviewer, &case_id, json!({ "freeze_id": id(&freeze), "amount": 1_00, "reason": "which?" })).await;
    unnamed.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert!(unnamed.body["detail"].as_str().unwrap_or("").contains("txn_no"), "{:?}", unnamed.body);
    // Each is bounded by its own payment: 13.00 in all, but not 12.00 of the 3.00 one.
    refund(&server, &reviewer, &case_id, json!({ "freeze_id": id(&freeze), "amount": 12_00, "reason": "too much", "txn_no": second }))
        .await
        .expect_error(StatusCode::CONFLICT, "invalid_state");
    refund(&server, &reviewer, &case_id, json!({ "freeze_id": id(&freeze), "amount": 3_00, "reason": "second", "txn_no": second }))
        .await
        .expect(StatusCode::CREATED);
    refund(&server, &reviewer, &case_id, json!({ "freeze_id": id(&freeze), "amount": 10_00, "reason": "first", "txn_no": first }))
        .await
        .expect(StatusCode::CREATED);
    // A payment the case does not name is refused.
    let other = settled_transfer(&server, &bob, &carol, 1_00).await;
    refund(&server, &reviewer, &case_id, json!({ "freeze_id": id(&freeze), "amount": 1_00, "reason": "not this case's", "txn_no": other }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(server.balance(&bob).await, 100_00 - 1_00);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_case_refund_needs_a_second_reviewer() {
    let policy = "[case_refunds]\napproval_above = \"50.00\"\n[velocity]\nmax_actions = 10000\n";
    let server = TestServer::start_with(hongbao_service::Config { policy_text: Some(policy.into()), ..Default::default() }).await;
    let bob = server.funded_user("bob", 1_000_00).await;
    let carol = server.user("carol").await;
    let (rita, ray) = (operator(&server, "rita", "reviewer").await, operator(&server, "ray", "reviewer").await);
    let paid = settled_transfer(&server, &bob, &carol, 200_00).await;
    let case_id = fraud_case(&server, &bob, &[&paid]).await;
    let freeze = place_freeze(&server, &rita, json!({ "user_id": carol.id, "case_id": case_id, "reason": "fraud report" })).await;
    // At the four-eyes amount the refund goes through at once; above it, it waits.
    refund(&server, &rita, &case_id, json!({ "freeze_id": id(&freeze), "amount": 50_00, "reason": "small part" })).await.expect(StatusCode::CREATED);
    let asked = refund(&server, &rita, &case_id, json!({ "freeze_id": id(&freeze), "amount": 150_00, "reason": "the rest" })).await.expect(StatusCode::CREATED);
    assert_eq!(asked["status"], "pending", "{asked}");
    assert_eq!(server.balance(&carol).await, 150_00, "nothing moved yet");
    let path = format!("/v1/ops/case-refunds/{}", id(&asked));
    server.post(&format!("{path}/approve"), &rita.token, json!({ "reason": "mine" })).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    let support = operator(&server, "sam", "support").await;
    server.post(&format!("{path}/approve"), &support.token, json!({ "reason": "not mine to" })).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    let listed = server.get("/v1/ops/case-refunds?status=pending", &ray.token).await.expect(StatusCode::OK);
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));
    let approved = server.post(&format!("{path}/approve"), &ray.token, json!({ "reason": "checked the chat" })).await.expect(StatusCode::OK);
    assert_eq!(approved["status"], "approved");
    assert!(approved["refund_txn_no"].is_string());
    assert_eq!((server.balance(&bob).await, server.balance(&carol).await), (1_000_00, 0));
    server.post(&format!("{path}/approve"), &ray.token, json!({ "reason": "again" })).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    server.post(&format!("/v1/ops/cases/{case_id}/resolve"), &ray.token, json!({ "outcome": "refunded", "reason": "all back" })).await.expect(StatusCode::OK);

    // Approval checks the remainder again: a refund asked while the money was still there, approved
    // after a return took it, is refused.
    let paid = settled_transfer(&server, &bob, &carol, 100_00).await;
    let case_id = fraud_case(&server, &bob, &[&paid]).await;
    let freeze = place_freeze(&server, &rita, json!({ "user_id": carol.id, "amount": 100_00, "case_id": case_id, "reason": "fraud report" })).await;
    let asked = refund(&server, &rita, &case_id, json!({ "freeze_id": id(&freeze), "amount": 100_00, "reason": "all" })).await.expect(StatusCode::CREATED);
    // Carol gets money of her own, outside the hold, and gives 60.00 of the payment back herself.
    server.top_up(&carol, 60_00).await;
    let request =
        server.post("/v1/return-requests", &bob.token, json!({ "txn_no": paid, "amount": 60_00, "reason": "part back" })).await.expect(StatusCode::CREATED);
    server.post_empty(&format!("/v1/return-requests/{}/accept", id(&request)), &carol.token).await.expect(StatusCode::OK);
    server
        .post(&format!("/v1/ops/case-refunds/{}/approve", id(&asked)), &ray.token, json!({ "reason": "late" }))
        .await
        .expect_error(StatusCode::CONFLICT, "invalid_state");
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minors_group_packet_is_recovered_from_everyone_who_claimed_it() {
    let server = TestServer::start_with(without_velocity_rule()).await;
    let minor = server.funded_user("xiaoming", 100_00).await;
    let (first, second) = (server.funded_user("classmate one", 5_00).await, server.funded_user("classmate two", 5_00).await);
    let bystander = server.user("bystander").await;
    let reviewer = operator(&server, "rita", "reviewer").await;
    let group = server.group(&minor, &[&first, &second, &bystander]).await;
    let packet = server.send_packet(&minor, json!({ "kind": "lucky", "group_id": group, "total_amount": 30_00, "shares": 2 })).await;
    let claimed: Vec<i64> = {
        let mut amounts = Vec::new();
        for classmate in [&first, &second] {
            let claim = server.post_empty(&format!("/v1/packets/{packet}/claim"), &classmate.token).await.expect(StatusCode::OK);
            amounts.push(claim["amount"].as_i64().expect("an amount"));
        }
        amounts
    };
    let send_txn_no = packet_send_txn_no(&server, &minor, &packet).await;
    let identity = upload(&server, &minor.token, "image/png", PNG, Some("guardian_identity")).await.expect(StatusCode::CREATED);
    let guardianship = upload(&server, &minor.token, "application/pdf", PDF, Some("guardianship_document")).await.expect(StatusCode::CREATED);
    let body = json!({
        "kind": "minor",
        "txn_nos": [send_txn_no],
        "description": "my son (12) sent this to his class",
        "evidence_ids": [id(&identity), id(&guardianship)],
    });
    let complaint = complain(&server, &minor, body).await.expect(StatusCode::CREATED);
    let mut respondents: Vec<String> = complaint["respondent_ids"].as_array().expect("respondents").iter().map(text).collect();
    respondents.sort();
    let mut expected = vec![first.id.clone(), second.id.clone()];
    expected.sort();
    assert_eq!(respondents, expected, "everyone who claimed the packet, and nobody else");
    let case_id = id(&complaint);
    // The bystander claimed nothing: no hold on them for this case.
    server
        .post("/v1/ops/freezes", &reviewer.token, json!({ "user_id": bystander.id, "amount": 1_00, "case_id": case_id, "reason": "no" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    for (classmate, amount) in [&first, &second].into_iter().zip(&claimed) {
        let hold =
            place_freeze(&server, &reviewer, json!({ "user_id": classmate.id, "amount": 30_00, "case_id": case_id, "reason": "minor's spending" })).await;
        // Bounded by what this classmate claimed, not by the hold or the packet.
        refund(&server, &reviewer, &case_id, json!({ "freeze_id": id(&hold), "amount": amount + 1, "reason": "too much", "txn_no": send_txn_no }))
            .await
            .expect_error(StatusCode::CONFLICT, "invalid_state");
        refund(&server, &reviewer, &case_id, json!({ "freeze_id": id(&hold), "amount": amount, "reason": "minor's spending", "txn_no": send_txn_no }))
            .await
            .expect(StatusCode::CREATED);
    }
    assert_eq!(server.balance(&minor).await, 100_00);
    assert_eq!((server.balance(&first).await, server.balance(&second).await), (5_00, 5_00));
    server
        .post(&format!("/v1/ops/cases/{case_id}/resolve"), &reviewer.token, json!({ "outcome": "refunded", "reason": "all back" }))
        .await
        .expect(StatusCode::OK);
    server.assert_verified();
}
