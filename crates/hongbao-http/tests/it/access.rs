//! Who may see and touch what: a user reaching for another user's wallet, packet, group or
//! transaction gets 403 or 404 and changes nothing; the admin has no wallet.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{ADMIN_TOKEN, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallet_route_only_ever_shows_the_callers_wallet() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 12_34).await;
    let bob = server.funded_user("bob", 56_78).await;

    let alices = server.get("/v1/wallet", &alice.token).await.expect(StatusCode::OK);
    assert_eq!(alices["user_id"], alice.id.as_str());
    assert_eq!(alices["balance"], 12_34);
    // There is no way to name someone else's wallet: a query naming bob is ignored, a path is no route.
    let with_query = server.get(&format!("/v1/wallet?user_id={}", bob.id), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(with_query["user_id"], alice.id.as_str());
    assert_eq!(with_query["balance"], 12_34);
    server.get(&format!("/v1/wallet/{}", bob.id), &alice.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.get(&format!("/v1/wallets/{}", bob.id), &alice.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    let bobs = server.get("/v1/wallet", &bob.token).await.expect(StatusCode::OK);
    assert_eq!(bobs["user_id"], bob.id.as_str());
    assert_eq!(bobs["balance"], 56_78);

    // A withdrawal always comes out of the caller's own wallet.
    let before = server.ledger_state();
    server.post("/v1/withdrawals", &alice.token, json!({ "amount": 1_00, "user_id": bob.id })).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(server.ledger_state(), before);
    server.post("/v1/withdrawals", &alice.token, json!({ "amount": 1_00 })).await.expect(StatusCode::CREATED);
    assert_eq!(server.balance(&bob).await, 56_78);
    assert_eq!(server.balance(&alice).await, 11_34);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_has_no_wallet_and_users_have_no_admin_rights() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 10_00).await;
    let bob = server.user("bob").await;

    server.get("/v1/wallet", ADMIN_TOKEN).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    server.get("/v1/transactions", ADMIN_TOKEN).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    let before = server.ledger_state();
    server.post("/v1/withdrawals", ADMIN_TOKEN, json!({ "amount": 1_00 })).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    server
        .post("/v1/packets", ADMIN_TOKEN, json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 1_00 }))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    server.post("/v1/groups", ADMIN_TOKEN, json!({ "name": "admins", "member_ids": [alice.id] })).await.expect_error(StatusCode::FORBIDDEN, "forbidden");

    server.post("/v1/users", &alice.token, json!({ "name": "mallory" })).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    server
        .post("/v1/top-ups", &alice.token, json!({ "user_id": alice.id, "amount": 1_00, "reference": "free money" }))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    server
        .post("/v1/top-ups", &bob.token, json!({ "user_id": bob.id, "amount": 1_00, "reference": "free money" }))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(server.ledger_state(), before, "refused requests change nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_packet_is_hidden_from_outside_its_audience() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let outsider = server.user("outsider").await;
    let group_id = server.group(&alice, &[&bob, &carol]).await;
    let lucky = server.send_packet(&alice, json!({ "kind": "lucky", "group_id": group_id, "total_amount": 3_00, "shares": 3 })).await;
    let for_bob = server.send_packet(&alice, json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 1_00 })).await;
    let exclusive = server.send_packet(&alice, json!({ "kind": "exclusive", "group_id": group_id, "recipient_id": bob.id, "total_amount": 1_00 })).await;
    let before = server.ledger_state();

    for packet_id in [&lucky, &for_bob, &exclusive] {
        server.get(&format!("/v1/packets/{packet_id}"), &outsider.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
        server.post_empty(&format!("/v1/packets/{packet_id}/claim"), &outsider.token).await.expect_error(StatusCode::FORBIDDEN, "not_in_audience");
        server.post_empty(&format!("/v1/packets/{packet_id}/recall"), &outsider.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    // Carol is in the group but is not the named recipient of bob's packets.
    server.get(&format!("/v1/packets/{for_bob}"), &carol.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.get(&format!("/v1/packets/{exclusive}"), &carol.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.post_empty(&format!("/v1/packets/{exclusive}/claim"), &carol.token).await.expect_error(StatusCode::FORBIDDEN, "not_in_audience");
    // Bob sees them but may not recall them.
    server.get(&format!("/v1/packets/{exclusive}"), &bob.token).await.expect(StatusCode::OK);
    server.post_empty(&format!("/v1/packets/{lucky}/recall"), &bob.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    server.post_empty(&format!("/v1/packets/{for_bob}/recall"), &bob.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(server.ledger_state(), before, "refused requests change nothing");
    for packet_id in [&lucky, &for_bob, &exclusive] {
        let packet = server.packet(packet_id, &alice).await;
        assert_eq!(packet["status"], "open");
        assert_eq!(packet["claimed_count"], 0);
    }

    // A member removed from the group loses sight of its packets and cannot claim them.
    server.delete(&format!("/v1/groups/{group_id}/members/{}", carol.id), &alice.token).await.expect(StatusCode::OK);
    server.get(&format!("/v1/packets/{lucky}"), &carol.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.post_empty(&format!("/v1/packets/{lucky}/claim"), &carol.token).await.expect_error(StatusCode::FORBIDDEN, "not_in_audience");
    assert_eq!(server.ledger_state(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_is_seen_by_its_members_and_changed_by_its_owner() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 10_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let outsider = server.funded_user("outsider", 10_00).await;
    let group_id = server.group(&alice, &[&bob]).await;
    let group_path = format!("/v1/groups/{group_id}");
    let original = server.get(&group_path, &alice.token).await.expect(StatusCode::OK);

    server.get(&group_path, &outsider.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.post(&format!("{group_path}/members"), &outsider.token, json!({ "user_id": carol.id })).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.post(&format!("{group_path}/members"), &outsider.token, json!({ "user_id": outsider.id })).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.delete(&format!("{group_path}/members/{}", bob.id), &outsider.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.post(&format!("{group_path}/members"), &bob.token, json!({ "user_id": carol.id })).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    server.delete(&format!("{group_path}/members/{}", alice.id), &bob.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    server.delete(&format!("{group_path}/members/{}", bob.id), &bob.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(server.get(&group_path, &alice.token).await.expect(StatusCode::OK), original, "refused changes leave the group as it was");

    // An outsider cannot send a packet to a group they cannot see.
    let before = server.ledger_state();
    server
        .post("/v1/packets", &outsider.token, json!({ "kind": "lucky", "group_id": group_id, "total_amount": 2_00, "shares": 2 }))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(server.ledger_state(), before);

    // The admin, as an operator, may look at any group.
    assert_eq!(server.get(&group_path, ADMIN_TOKEN).await.expect(StatusCode::OK)["id"], group_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_is_seen_by_its_participants_only() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 10_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let outsider = server.user("outsider").await;
    let group_id = server.group(&alice, &[&bob, &carol]).await;
    let packet_id = server.send_packet(&alice, json!({ "kind": "normal", "group_id": group_id, "amount_per_share": 1_00, "shares": 3 })).await;
    let bob_claim = server.post_empty(&format!("/v1/packets/{packet_id}/claim"), &bob.token).await.expect(StatusCode::OK);
    let bob_claim_txn_no = bob_claim["txn_no"].as_str().expect("txn_no").to_owned();
    let alice_top_up = server.top_up(&alice, 5_00).await;
    let alice_top_up_txn_no = alice_top_up["txn_no"].as_str().expect("txn_no").to_owned();

    let claim_path = format!("/v1/transactions/{bob_claim_txn_no}");
    assert_eq!(server.get(&claim_path, &bob.token).await.expect(StatusCode::OK)["kind"], "packet_claim");
    let seen_by_sender = server.get(&claim_path, &alice.token).await.expect(StatusCode::OK);
    assert_eq!(seen_by_sender["txn_no"], bob_claim_txn_no.as_str(), "the packet's sender sees a claim of their packet");
    assert_eq!(seen_by_sender["related"]["packet_id"], packet_id.as_str());
    server.get(&claim_path, &carol.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.get(&claim_path, &outsider.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");

    let top_up_path = format!("/v1/transactions/{alice_top_up_txn_no}");
    server.get(&top_up_path, &bob.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.get(&top_up_path, &alice.token).await.expect(StatusCode::OK);
    server.get(&top_up_path, ADMIN_TOKEN).await.expect(StatusCode::OK);

    // A well-formed number nobody has, and a malformed one, are both simply not found.
    server.get("/v1/transactions/txn_aaaaaaaaaaaaaaaaaaaa", &alice.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.get("/v1/transactions/not-a-txn-no", &alice.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");

    // Each caller's list holds only their own transactions.
    let outsiders = server.get("/v1/transactions", &outsider.token).await.expect(StatusCode::OK);
    assert_eq!(outsiders["data"].as_array().expect("data").len(), 0);
    let carols = server.get("/v1/transactions", &carol.token).await.expect(StatusCode::OK);
    assert_eq!(carols["data"].as_array().expect("data").len(), 0);
    let bobs = server.get("/v1/transactions", &bob.token).await.expect(StatusCode::OK);
    let bob_txn_nos: Vec<&str> = bobs["data"].as_array().expect("data").iter().map(|item| item["txn_no"].as_str().expect("txn_no")).collect();
    assert_eq!(bob_txn_nos, [bob_claim_txn_no.as_str()]);
}
