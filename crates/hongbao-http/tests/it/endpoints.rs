//! Every endpoint of the contract's users, wallets, groups, packets, transactions and operational
//! sections, over real HTTP: the happy paths, the packet lifecycle (claims, recall, expiry) and every
//! error code these endpoints list, each with its status.

use std::collections::HashSet;

use hongbao_service::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{ADMIN_TOKEN, START, TestServer, TestUser};

fn integer(value: &Value, field: &str) -> i64 {
    value[field].as_i64().unwrap_or_else(|| panic!("{field} is an integer in {value}"))
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or_else(|| panic!("{field} is a string in {value}"))
}

fn postings_sum(transaction: &Value) -> i64 {
    transaction["postings"].as_array().expect("postings").iter().map(|posting| integer(posting, "amount")).sum()
}

/// The signed amount a transaction posts to `account`, or None when it does not touch it.
fn posting_to(transaction: &Value, account: &str) -> Option<i64> {
    transaction["postings"].as_array().expect("postings").iter().find(|posting| posting["account"] == account).map(|posting| integer(posting, "amount"))
}

fn claim_user_ids(packet: &Value) -> Vec<String> {
    packet["claims"].as_array().expect("claims").iter().map(|claim| text(claim, "user_id").to_owned()).collect()
}

async fn claim(server: &TestServer, packet_id: &str, user: &TestUser) -> crate::harness::Answer {
    server.post_empty(&format!("/v1/packets/{packet_id}/claim"), &user.token).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_wallets_top_ups_and_withdrawals() {
    let server = TestServer::start().await;
    let created = server.post("/v1/users", ADMIN_TOKEN, json!({ "name": "alice" })).await.expect(StatusCode::CREATED);
    assert!(text(&created, "id").starts_with("usr_"), "user ids carry their prefix: {created}");
    assert_eq!(created["name"], "alice");
    assert!(!text(&created, "token").is_empty());
    let alice = TestUser { id: text(&created, "id").to_owned(), token: text(&created, "token").to_owned() };

    let me = server.get("/v1/me", &alice.token).await.expect(StatusCode::OK);
    assert_eq!(me["id"], alice.id.as_str());
    assert_eq!(me["name"], "alice");

    let wallet = server.get("/v1/wallet", &alice.token).await.expect(StatusCode::OK);
    assert_eq!(wallet["user_id"], alice.id.as_str());
    assert_eq!(wallet["currency"], "CNY");
    assert_eq!((integer(&wallet, "balance"), integer(&wallet, "frozen"), integer(&wallet, "available")), (0, 0, 0));

    let top_up =
        server.post("/v1/top-ups", ADMIN_TOKEN, json!({ "user_id": alice.id, "amount": 150_00, "reference": "bank-ref-1" })).await.expect(StatusCode::CREATED);
    assert!(text(&top_up, "txn_no").len() > 4);
    assert_eq!(top_up["kind"], "top_up");
    assert_eq!(top_up["amount"], 150_00);
    assert_eq!(top_up["reference"], "bank-ref-1");
    assert_eq!(top_up["memo"], Value::Null);
    assert_eq!(top_up["created_at"], START.to_rfc3339());
    assert!(top_up["related"].is_object(), "related is an object: {top_up}");
    assert_eq!(postings_sum(&top_up), 0, "postings sum to zero: {top_up}");
    assert_eq!(posting_to(&top_up, &format!("wallet:{}", alice.id)), Some(150_00));
    assert_eq!(posting_to(&top_up, "platform:funding"), Some(-150_00));

    let wallet = server.get("/v1/wallet", &alice.token).await.expect(StatusCode::OK);
    assert_eq!((integer(&wallet, "balance"), integer(&wallet, "frozen"), integer(&wallet, "available")), (150_00, 0, 150_00));

    let withdrawal = server.post("/v1/withdrawals", &alice.token, json!({ "amount": 50_00, "reference": "payout-1" })).await.expect(StatusCode::CREATED);
    assert_eq!(withdrawal["kind"], "withdrawal");
    assert_eq!(withdrawal["amount"], 50_00);
    assert_eq!(withdrawal["reference"], "payout-1");
    assert_eq!(postings_sum(&withdrawal), 0);
    assert_eq!(posting_to(&withdrawal, &format!("wallet:{}", alice.id)), Some(-50_00));
    assert_eq!(posting_to(&withdrawal, "platform:payout"), Some(50_00));

    let without_reference = server.post("/v1/withdrawals", &alice.token, json!({ "amount": 10_00 })).await.expect(StatusCode::CREATED);
    assert_eq!(without_reference["reference"], Value::Null, "the reference of a withdrawal is optional");
    assert_ne!(without_reference["txn_no"], withdrawal["txn_no"], "transaction numbers are unique");

    assert_eq!(server.balance(&alice).await, 90_00);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_created_read_and_change_members() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let dave = server.user("dave").await;

    let group = server.post("/v1/groups", &alice.token, json!({ "name": "family", "member_ids": [bob.id, carol.id] })).await.expect(StatusCode::CREATED);
    let group_id = text(&group, "id").to_owned();
    assert!(group_id.starts_with("grp_"));
    assert_eq!(group["name"], "family");
    assert_eq!(group["owner_id"], alice.id.as_str());
    let members: HashSet<&str> = group["member_ids"].as_array().expect("member ids").iter().map(|id| id.as_str().expect("an id")).collect();
    assert_eq!(members, HashSet::from([alice.id.as_str(), bob.id.as_str(), carol.id.as_str()]), "the owner is a member");

    let seen_by_bob = server.get(&format!("/v1/groups/{group_id}"), &bob.token).await.expect(StatusCode::OK);
    assert_eq!(seen_by_bob["id"], group_id.as_str());
    assert_eq!(seen_by_bob["owner_id"], alice.id.as_str());
    assert_eq!(seen_by_bob["member_ids"].as_array().expect("member ids").len(), 3);

    let with_dave = server.post(&format!("/v1/groups/{group_id}/members"), &alice.token, json!({ "user_id": dave.id })).await.expect(StatusCode::OK);
    assert!(with_dave["member_ids"].as_array().expect("member ids").contains(&json!(dave.id)));
    assert_eq!(with_dave["member_ids"].as_array().expect("member ids").len(), 4);
    server.get(&format!("/v1/groups/{group_id}"), &dave.token).await.expect(StatusCode::OK);

    let without_bob = server.delete(&format!("/v1/groups/{group_id}/members/{}", bob.id), &alice.token).await.expect(StatusCode::OK);
    assert!(!without_bob["member_ids"].as_array().expect("member ids").contains(&json!(bob.id)));
    assert_eq!(without_bob["member_ids"].as_array().expect("member ids").len(), 3);
    server.get(&format!("/v1/groups/{group_id}"), &bob.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");

    // Removing someone who is not a member finds nothing to remove.
    server.delete(&format!("/v1/groups/{group_id}/members/{}", bob.id), &alice.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_packet_to_one_user() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;

    let packet = server
        .post("/v1/packets", &alice.token, json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 8_88, "greeting": "给你" }))
        .await
        .expect(StatusCode::CREATED);
    let packet_id = text(&packet, "id").to_owned();
    assert!(packet_id.starts_with("pkt_"));
    assert_eq!(packet["kind"], "normal");
    assert_eq!(packet["sender_id"], alice.id.as_str());
    assert_eq!(packet["group_id"], Value::Null);
    assert_eq!(packet["recipient_id"], bob.id.as_str());
    assert_eq!(packet["greeting"], "给你");
    assert_eq!((integer(&packet, "total_amount"), integer(&packet, "shares")), (8_88, 1));
    assert_eq!((integer(&packet, "claimed_count"), integer(&packet, "claimed_amount")), (0, 0));
    assert_eq!((integer(&packet, "remaining_count"), integer(&packet, "remaining_amount")), (1, 8_88));
    assert_eq!(packet["status"], "open");
    assert_eq!(packet["created_at"], START.to_rfc3339());
    assert_eq!(packet["expires_at"], START.plus_seconds(86_400).to_rfc3339(), "normal packets live 24 h");
    assert_eq!(packet["finished_at"], Value::Null);
    assert_eq!(packet["refunded_amount"], 0);
    assert_eq!(packet["refund_txn_no"], Value::Null);
    assert_eq!(packet["luckiest_user_id"], Value::Null);
    assert_eq!(packet["claims"], json!([]));
    assert_eq!(server.balance(&alice).await, 100_00 - 8_88, "sending debits the sender at once");

    claim(&server, &packet_id, &alice).await.expect_error(StatusCode::FORBIDDEN, "not_in_audience");
    assert_eq!(server.packet(&packet_id, &bob).await["status"], "open", "the recipient sees the packet");

    let claimed = claim(&server, &packet_id, &bob).await.expect(StatusCode::OK);
    assert_eq!(claimed["packet_id"], packet_id.as_str());
    assert_eq!(claimed["user_id"], bob.id.as_str());
    assert_eq!(claimed["amount"], 8_88);
    assert!(claimed["txn_no"].is_string() && claimed["claimed_at"].is_string());
    claim(&server, &packet_id, &bob).await.expect_error(StatusCode::CONFLICT, "already_claimed");

    let finished = server.packet(&packet_id, &alice).await;
    assert_eq!(finished["status"], "exhausted");
    assert_eq!((integer(&finished, "claimed_count"), integer(&finished, "claimed_amount")), (1, 8_88));
    assert_eq!((integer(&finished, "remaining_count"), integer(&finished, "remaining_amount")), (0, 0));
    assert!(finished["finished_at"].is_string());
    assert_eq!(finished["luckiest_user_id"], bob.id.as_str());
    let claims = finished["claims"].as_array().expect("claims");
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0]["user_id"], bob.id.as_str());
    assert_eq!(claims[0]["amount"], 8_88);
    assert_eq!(claims[0]["txn_no"], claimed["txn_no"]);
    assert_eq!(claims[0]["claimed_at"], claimed["claimed_at"]);
    assert_eq!(server.balance(&bob).await, 8_88);

    // A one-to-one packet cannot go to oneself, so its sender can never claim it.
    server
        .post("/v1/packets", &alice.token, json!({ "kind": "normal", "recipient_id": alice.id, "amount_per_share": 1_00 }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_packet_to_a_group_has_equal_shares_and_its_sender_may_claim() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let dave = server.user("dave").await;
    let group_id = server.group(&alice, &[&bob, &carol, &dave]).await;

    let packet = server
        .post("/v1/packets", &alice.token, json!({ "kind": "normal", "group_id": group_id, "amount_per_share": 2_00, "shares": 3 }))
        .await
        .expect(StatusCode::CREATED);
    let packet_id = text(&packet, "id").to_owned();
    assert_eq!(packet["group_id"], group_id.as_str());
    assert_eq!(packet["recipient_id"], Value::Null);
    assert_eq!((integer(&packet, "total_amount"), integer(&packet, "shares")), (6_00, 3));
    assert_eq!(packet["greeting"], "恭喜发财，大吉大利", "the default greeting");

    for user in [&alice, &bob, &carol] {
        let claimed = claim(&server, &packet_id, user).await.expect(StatusCode::OK);
        assert_eq!(claimed["amount"], 2_00, "every share of a normal packet is the amount per share");
    }
    claim(&server, &packet_id, &dave).await.expect_error(StatusCode::CONFLICT, "packet_exhausted");

    let finished = server.packet(&packet_id, &dave).await;
    assert_eq!(finished["status"], "exhausted");
    assert_eq!(claim_user_ids(&finished), vec![alice.id.clone(), bob.id.clone(), carol.id.clone()], "claims in claim order");
    assert!(finished["claims"].as_array().expect("claims").iter().all(|claim| claim["amount"] == 2_00));
    assert_eq!(finished["luckiest_user_id"], alice.id.as_str(), "on a tie the earlier claimer is the luckiest");
    assert_eq!(server.balance(&alice).await, 100_00 - 6_00 + 2_00);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lucky_packet_splits_its_total_among_the_claimers() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let members = [server.user("bob").await, server.user("carol").await, server.user("dave").await, server.user("erin").await];
    let group_id = server.group(&alice, &members.iter().collect::<Vec<_>>()).await;

    let packet = server
        .post("/v1/packets", &alice.token, json!({ "kind": "lucky", "group_id": group_id, "total_amount": 10_00, "shares": 4 }))
        .await
        .expect(StatusCode::CREATED);
    let packet_id = text(&packet, "id").to_owned();
    assert_eq!(packet["kind"], "lucky");
    assert_eq!(packet["expires_at"], START.plus_seconds(86_400).to_rfc3339(), "lucky packets live 24 h");
    let mut amounts = Vec::new();
    for member in &members {
        let claimed = claim(&server, &packet_id, member).await.expect(StatusCode::OK);
        amounts.push(integer(&claimed, "amount"));
    }
    assert_eq!(amounts.iter().sum::<i64>(), 10_00, "shares sum to the total");
    assert!(amounts.iter().all(|amount| (1..=200_00).contains(amount)), "shares within the limits: {amounts:?}");
    let finished = server.packet(&packet_id, &alice).await;
    assert_eq!(finished["status"], "exhausted");
    let largest = amounts.iter().copied().max().expect("claims");
    let first_largest = amounts.iter().position(|amount| *amount == largest).expect("a largest claim");
    assert_eq!(finished["luckiest_user_id"], members[first_largest].id.as_str());
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_packets_to_a_group_and_to_a_user() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let group_id = server.group(&alice, &[&bob, &carol]).await;

    let to_group = server
        .post("/v1/packets", &alice.token, json!({ "kind": "timed", "group_id": group_id, "total_amount": 3_00, "shares": 2 }))
        .await
        .expect(StatusCode::CREATED);
    let to_group_id = text(&to_group, "id").to_owned();
    assert_eq!(to_group["kind"], "timed");
    assert_eq!(to_group["shares"], 2);
    assert_eq!(to_group["expires_at"], START.plus_seconds(60).to_rfc3339(), "the default countdown is 60 s");
    let bob_share = integer(&claim(&server, &to_group_id, &bob).await.expect(StatusCode::OK), "amount");
    server.clock.advance_seconds(60);
    let expired = server.wait_for_status(&to_group_id, &alice, "expired").await;
    assert_eq!(integer(&expired, "refunded_amount"), 3_00 - bob_share, "only the unclaimed remainder is refunded");
    claim(&server, &to_group_id, &carol).await.expect_error(StatusCode::GONE, "packet_expired");
    assert_eq!(server.balance(&alice).await, 100_00 - bob_share);

    let now = server.clock.now();
    let to_user = server
        .post("/v1/packets", &alice.token, json!({ "kind": "timed", "recipient_id": bob.id, "total_amount": 1_00, "expires_in_seconds": 600 }))
        .await
        .expect(StatusCode::CREATED);
    let to_user_id = text(&to_user, "id").to_owned();
    assert_eq!(to_user["recipient_id"], bob.id.as_str());
    assert_eq!(to_user["group_id"], Value::Null);
    assert_eq!(to_user["shares"], 1);
    assert_eq!(to_user["expires_at"], now.plus_seconds(600).to_rfc3339());
    claim(&server, &to_user_id, &carol).await.expect_error(StatusCode::FORBIDDEN, "not_in_audience");
    assert_eq!(claim(&server, &to_user_id, &bob).await.expect(StatusCode::OK)["amount"], 1_00);
    assert_eq!(server.packet(&to_user_id, &bob).await["status"], "exhausted");
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_packet_goes_to_one_named_member() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let outsider = server.user("outsider").await;
    let group_id = server.group(&alice, &[&bob, &carol]).await;

    let packet = server
        .post(
            "/v1/packets",
            &alice.token,
            json!({ "kind": "exclusive", "group_id": group_id, "recipient_id": bob.id, "total_amount": 6_66, "greeting": "只给你" }),
        )
        .await
        .expect(StatusCode::CREATED);
    let packet_id = text(&packet, "id").to_owned();
    assert_eq!(packet["kind"], "exclusive");
    assert_eq!(packet["group_id"], group_id.as_str());
    assert_eq!(packet["recipient_id"], bob.id.as_str());
    assert_eq!((integer(&packet, "total_amount"), integer(&packet, "shares")), (6_66, 1));
    assert_eq!(packet["expires_at"], START.plus_seconds(86_400).to_rfc3339(), "exclusive packets live 24 h");

    claim(&server, &packet_id, &carol).await.expect_error(StatusCode::FORBIDDEN, "not_in_audience");
    // An exclusive packet has one named claimer; its sender is not that person.
    claim(&server, &packet_id, &alice).await.expect_error(StatusCode::FORBIDDEN, "not_in_audience");
    assert_eq!(claim(&server, &packet_id, &bob).await.expect(StatusCode::OK)["amount"], 6_66);
    assert_eq!(server.packet(&packet_id, &bob).await["status"], "exhausted");

    server
        .post("/v1/packets", &alice.token, json!({ "kind": "exclusive", "group_id": group_id, "recipient_id": outsider.id, "total_amount": 1_00 }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(server.balance(&alice).await, 100_00 - 6_66);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recall_keeps_claimed_shares_and_refunds_the_rest() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let group_id = server.group(&alice, &[&bob, &carol]).await;
    let packet_id = server.send_packet(&alice, json!({ "kind": "normal", "group_id": group_id, "amount_per_share": 3_00, "shares": 3 })).await;
    claim(&server, &packet_id, &bob).await.expect(StatusCode::OK);

    server.post_empty(&format!("/v1/packets/{packet_id}/recall"), &bob.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    let recalled = server.post_empty(&format!("/v1/packets/{packet_id}/recall"), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(recalled["id"], packet_id.as_str());
    assert_eq!(recalled["status"], "recalled");
    assert_eq!((integer(&recalled, "claimed_count"), integer(&recalled, "claimed_amount")), (1, 3_00));
    assert_eq!(integer(&recalled, "refunded_amount"), 6_00);
    assert_eq!((integer(&recalled, "remaining_count"), integer(&recalled, "remaining_amount")), (0, 0));
    assert!(recalled["finished_at"].is_string());
    assert_eq!(claim_user_ids(&recalled), vec![bob.id.clone()], "claimed shares stay");
    assert_eq!(recalled["luckiest_user_id"], Value::Null, "only a fully claimed packet has a luckiest claimer");
    let refund_txn_no = text(&recalled, "refund_txn_no").to_owned();

    assert_eq!(server.balance(&alice).await, 100_00 - 3_00);
    assert_eq!(server.balance(&bob).await, 3_00, "a claimed share is a gift and is not reversed");
    claim(&server, &packet_id, &carol).await.expect_error(StatusCode::GONE, "packet_recalled");
    server.post_empty(&format!("/v1/packets/{packet_id}/recall"), &alice.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");

    let refund = server.get(&format!("/v1/transactions/{refund_txn_no}"), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(refund["kind"], "packet_refund");
    assert_eq!(refund["amount"], 6_00);
    assert_eq!(refund["related"]["packet_id"], packet_id.as_str());
    assert_eq!(posting_to(&refund, &format!("escrow:{packet_id}")), Some(-6_00));
    assert_eq!(posting_to(&refund, &format!("wallet:{}", alice.id)), Some(6_00));

    // A packet that finished by being fully claimed cannot be recalled.
    let exhausted_id = server.send_packet(&alice, json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 1_00 })).await;
    claim(&server, &exhausted_id, &bob).await.expect(StatusCode::OK);
    server.post_empty(&format!("/v1/packets/{exhausted_id}/recall"), &alice.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_lucky_and_exclusive_packets_expire_after_the_packet_ttl() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let group_id = server.group(&alice, &[&bob, &carol]).await;
    let normal_to_user = server.send_packet(&alice, json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 1_00 })).await;
    let normal_to_group = server.send_packet(&alice, json!({ "kind": "normal", "group_id": group_id, "amount_per_share": 1_00, "shares": 2 })).await;
    let lucky = server.send_packet(&alice, json!({ "kind": "lucky", "group_id": group_id, "total_amount": 3_00, "shares": 2 })).await;
    let exclusive = server.send_packet(&alice, json!({ "kind": "exclusive", "group_id": group_id, "recipient_id": bob.id, "total_amount": 2_00 })).await;
    let bob_lucky_share = integer(&claim(&server, &lucky, &bob).await.expect(StatusCode::OK), "amount");
    claim(&server, &normal_to_group, &carol).await.expect(StatusCode::OK);

    server.clock.advance_seconds(86_399);
    for packet_id in [&normal_to_user, &normal_to_group, &lucky, &exclusive] {
        assert_eq!(server.packet(packet_id, &alice).await["status"], "open", "one second before expiry the packet is open");
    }
    server.clock.advance_seconds(1);
    let expected_refunds = [(&normal_to_user, 1_00), (&normal_to_group, 1_00), (&lucky, 3_00 - bob_lucky_share), (&exclusive, 2_00)];
    for (packet_id, refund) in expected_refunds {
        let expired = server.wait_for_status(packet_id, &alice, "expired").await;
        assert_eq!(integer(&expired, "refunded_amount"), refund, "refund of {packet_id}");
        assert_eq!(expired["luckiest_user_id"], Value::Null, "only a fully claimed packet has a luckiest claimer");
        assert!(expired["refund_txn_no"].is_string());
        assert!(expired["finished_at"].is_string());
    }
    assert_eq!(server.balance(&alice).await, 100_00 - bob_lucky_share - 1_00);
    claim(&server, &normal_to_user, &bob).await.expect_error(StatusCode::GONE, "packet_expired");
    claim(&server, &lucky, &carol).await.expect_error(StatusCode::GONE, "packet_expired");
    claim(&server, &exclusive, &bob).await.expect_error(StatusCode::GONE, "packet_expired");
    server.post_empty(&format!("/v1/packets/{lucky}/recall"), &alice.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_at_exactly_expires_at_is_refused() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let for_bob = server.send_packet(&alice, json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 1_00 })).await;
    let for_carol = server.send_packet(&alice, json!({ "kind": "normal", "recipient_id": carol.id, "amount_per_share": 1_00 })).await;
    assert_eq!(server.packet(&for_carol, &carol).await["expires_at"], START.plus_seconds(86_400).to_rfc3339());

    server.clock.advance_millis(86_400_000 - 1);
    claim(&server, &for_bob, &bob).await.expect(StatusCode::OK);
    server.clock.advance_millis(1);
    claim(&server, &for_carol, &carol).await.expect_error(StatusCode::GONE, "packet_expired");
    let expired = server.wait_for_status(&for_carol, &alice, "expired").await;
    assert_eq!(expired["claimed_count"], 0);
    assert_eq!(expired["refunded_amount"], 1_00);
    assert_eq!(server.balance(&carol).await, 0);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_are_listed_newest_first_with_their_wallet_delta_and_paged() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    for amount in [1_00, 2_00, 3_00, 4_00, 5_00] {
        server.top_up(&alice, amount).await;
    }
    let packet_id = server.send_packet(&alice, json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 1_50 })).await;
    claim(&server, &packet_id, &bob).await.expect(StatusCode::OK);
    server.post("/v1/withdrawals", &alice.token, json!({ "amount": 50 })).await.expect(StatusCode::CREATED);

    let everything = server.get("/v1/transactions", &alice.token).await.expect(StatusCode::OK);
    assert_eq!(everything["next_cursor"], Value::Null, "everything fits in the default page");
    let items = everything["data"].as_array().expect("data");
    let kinds: Vec<&str> = items.iter().map(|item| text(item, "kind")).collect();
    assert_eq!(kinds, ["withdrawal", "packet_send", "top_up", "top_up", "top_up", "top_up", "top_up"], "newest first, only the caller's wallet");
    let deltas: Vec<i64> = items.iter().map(|item| integer(item, "wallet_delta")).collect();
    assert_eq!(deltas, [-50, -1_50, 5_00, 4_00, 3_00, 2_00, 1_00]);
    assert_eq!(deltas.iter().sum::<i64>(), server.balance(&alice).await);
    assert!(items.iter().all(|item| postings_sum(item) == 0));
    let sequence: Vec<i64> = items.iter().map(|item| integer(item, "journal_seq")).collect();
    assert!(sequence.windows(2).all(|pair| pair[0] > pair[1]), "strictly newest first: {sequence:?}");
    let all_txn_nos: Vec<String> = items.iter().map(|item| text(item, "txn_no").to_owned()).collect();

    for limit in [1, 2, 3, 7, 200] {
        let mut paged = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(cursor) => format!("/v1/transactions?limit={limit}&cursor={cursor}"),
                None => format!("/v1/transactions?limit={limit}"),
            };
            let page = server.get(&path, &alice.token).await.expect(StatusCode::OK);
            let data = page["data"].as_array().expect("data");
            assert!(data.len() <= limit, "a page holds at most limit items");
            pages += 1;
            paged.extend(data.iter().map(|item| text(item, "txn_no").to_owned()));
            match page["next_cursor"].as_str() {
                Some(next) => {
                    assert_eq!(data.len(), limit, "only full pages have a next page");
                    cursor = Some(next.to_owned());
                }
                None => break,
            }
            assert!(pages <= 10, "paging ends");
        }
        assert_eq!(paged, all_txn_nos, "pages of {limit} have no duplicates or gaps");
        assert_eq!(pages, all_txn_nos.len().div_ceil(limit), "pages of {limit}, next_cursor null on the last");
    }

    let bobs = server.get("/v1/transactions", &bob.token).await.expect(StatusCode::OK);
    let bob_items = bobs["data"].as_array().expect("data");
    assert_eq!(bob_items.len(), 1);
    assert_eq!(bob_items[0]["kind"], "packet_claim");
    assert_eq!(bob_items[0]["wallet_delta"], 1_50);

    server.get("/v1/transactions?limit=0", &alice.token).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    server.get("/v1/transactions?limit=201", &alice.token).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    server.get("/v1/transactions?cursor=not-a-cursor", &alice.token).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_transaction_shows_its_postings_and_related_packet() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 10_00).await;
    let bob = server.user("bob").await;
    let packet = server
        .post("/v1/packets", &alice.token, json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 2_00 }))
        .await
        .expect(StatusCode::CREATED);
    let packet_id = text(&packet, "id").to_owned();
    let claimed = claim(&server, &packet_id, &bob).await.expect(StatusCode::OK);
    let claim_txn_no = text(&claimed, "txn_no").to_owned();

    let claim_txn = server.get(&format!("/v1/transactions/{claim_txn_no}"), &bob.token).await.expect(StatusCode::OK);
    assert_eq!(claim_txn["txn_no"], claim_txn_no.as_str());
    assert_eq!(claim_txn["kind"], "packet_claim");
    assert_eq!(claim_txn["amount"], 2_00);
    assert_eq!(claim_txn["related"]["packet_id"], packet_id.as_str());
    assert_eq!(postings_sum(&claim_txn), 0);
    assert_eq!(posting_to(&claim_txn, &format!("escrow:{packet_id}")), Some(-2_00));
    assert_eq!(posting_to(&claim_txn, &format!("wallet:{}", bob.id)), Some(2_00));

    let alices = server.get("/v1/transactions", &alice.token).await.expect(StatusCode::OK);
    let send_txn_no =
        alices["data"].as_array().expect("data").iter().find(|item| item["kind"] == "packet_send").map(|item| text(item, "txn_no").to_owned()).expect("a send");
    let send_txn = server.get(&format!("/v1/transactions/{send_txn_no}"), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(send_txn["kind"], "packet_send");
    assert_eq!(send_txn["related"]["packet_id"], packet_id.as_str());
    assert_eq!(postings_sum(&send_txn), 0);
    assert_eq!(posting_to(&send_txn, &format!("wallet:{}", alice.id)), Some(-2_00));
    assert_eq!(posting_to(&send_txn, &format!("escrow:{packet_id}")), Some(2_00));
    let same_again = server.get(&format!("/v1/transactions/{send_txn_no}"), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(same_again, send_txn, "a transaction is stable");
    assert_eq!(
        server.get(&format!("/v1/transactions/{send_txn_no}"), ADMIN_TOKEN).await.expect(StatusCode::OK)["txn_no"],
        send_txn_no.as_str(),
        "operators see every transaction"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_methods_and_paths_leave_the_metrics_small() {
    let server = TestServer::start().await;
    let random_word = || (0..16).map(|_| format!("{:016X}", hongbao_service::random_u64())).collect::<String>();
    let mut methods = Vec::new();
    for _ in 0..50 {
        // A 2 KB method of letters and digits, which HTTP allows in a method's name.
        let method = format!("M{}", (0..8).map(|_| random_word()).collect::<String>());
        let path = format!("/{}/{}", random_word(), random_word());
        let answer = server.call(Method::from_bytes(method.as_bytes()).expect("a method"), &path, None, None, &[]).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        methods.push(method);
    }
    server.call(Method::from_bytes(b"BREW").expect("a method"), "/healthz", None, None, &[]).await;
    let metrics = server.call(Method::GET, "/metrics", None, None, &[]).await.expect(StatusCode::OK);
    let metrics = metrics.as_str().expect("metrics are text");
    assert!(metrics.len() < 20_000, "{} bytes of metrics after 51 made-up requests:\n{metrics}", metrics.len());
    assert!(methods.iter().all(|method| !metrics.contains(&method[..40])), "no made-up method is a label");
    assert!(metrics.contains("hongbao_http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"} 50"), "{metrics}");
    assert!(metrics.contains("hongbao_http_requests_total{method=\"other\",route=\"/healthz\",status=\"405\"} 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_every_api_answer_carry_security_headers() {
    let server = TestServer::start().await;
    let page = server.client.get(format!("{}/", server.base)).send().await.expect("the page");
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    let html = page.text().await.expect("the page's text");
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
    assert!(header("content-type").starts_with("text/html"));
    let policy = header("content-security-policy");
    // Scripts and styles come from the page's own origin only; nothing inline runs, nothing is evaluated.
    for directive in
        ["script-src 'self';", "style-src 'self';", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'", "require-trusted-types-for 'script'"]
    {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval") && !policy.contains("sha256-"), "{policy}");
    // The page has no inline script or style block, and no style or event handler attribute.
    let lowered = html.to_ascii_lowercase();
    assert_eq!(lowered.matches("<script").count(), lowered.matches("<script type=\"module\" src=\"/assets/").count(), "every script is a module file: {html}");
    assert!(!lowered.contains("<style"), "no inline style sheet");
    assert!(!lowered.contains(" style="), "no style attribute");
    assert!(!lowered.split(|char: char| char.is_whitespace()).any(|word| word.starts_with("on") && word.contains('=')), "no event handler attribute");
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "no-referrer");

    let alice = server.user("alice").await;
    let answers = [
        server.call(Method::GET, "/healthz", None, None, &[]).await,
        server.get("/v1/wallet", &alice.token).await,
        server.call(Method::GET, "/v1/wallet", None, None, &[]).await,
        server.call(Method::GET, "/no/such/route", None, None, &[]).await,
        server.post("/v1/withdrawals", &alice.token, json!({ "amount": 1_00 })).await,
    ];
    for answer in answers {
        let header = |name: &str| answer.headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
        assert_eq!(header("cache-control"), "no-store", "{answer:?}");
        assert_eq!(header("x-frame-options"), "DENY", "{answer:?}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{answer:?}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{answer:?}");
        assert!(header("content-security-policy").contains("default-src 'none'"), "{answer:?}");
        assert!(header("content-security-policy").contains("frame-ancestors 'none'"), "{answer:?}");
    }
}

/// Every file of the page is served from the binary with its content type, revalidated by ETag; the
/// folder and the served list agree; the modules never hand a string to an HTML or script sink.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_modules_and_style_sheet_are_served_with_their_types_and_write_no_markup() {
    let server = TestServer::start().await;
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let mut on_disk = Vec::new();
    let mut stack = vec![folder.clone()];
    while let Some(directory) = stack.pop() {
        for entry in std::fs::read_dir(&directory).expect("the assets folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                on_disk.push(path.strip_prefix(&folder).expect("within").to_string_lossy().replace('\\', "/"));
            }
        }
    }
    on_disk.retain(|path| path != "index.html");
    on_disk.sort();
    let served: Vec<&str> = hongbao_http::assets::ASSETS.iter().map(|asset| asset.path).collect();
    assert_eq!(on_disk, served, "every file in assets/ is served, and only those");

    for asset in hongbao_http::assets::ASSETS {
        let answer = server.client.get(format!("{}/assets/{}", server.base, asset.path)).send().await.expect("an asset");
        assert_eq!(answer.status(), StatusCode::OK, "{}", asset.path);
        let header = |name: &str| answer.headers().get(name).and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
        let expected = if asset.path.ends_with(".js") {
            "text/javascript"
        } else if asset.path.ends_with(".css") {
            "text/css"
        } else {
            "image/svg+xml"
        };
        assert!(header("content-type").starts_with(expected), "{}: {}", asset.path, header("content-type"));
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(header("cache-control"), "no-cache");
        let etag = header("etag");
        let again = server.client.get(format!("{}/assets/{}", server.base, asset.path)).header("if-none-match", &etag).send().await.expect("revalidated");
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{}", asset.path);
        if asset.path.ends_with(".js") {
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
                "setAttribute('style'",
                "setAttribute(\"style\"",
                ".style.",
            ] {
                assert!(!asset.body.contains(sink), "{} uses {sink}", asset.path);
            }
            assert!(asset.body.starts_with("//"), "{} opens with a comment saying what it is for", asset.path);
        }
    }
    server.call(Method::GET, "/assets/js/nothing.js", None, None, &[]).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.call(Method::GET, "/assets/../Cargo.toml", None, None, &[]).await.expect_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_openapi_need_no_token() {
    let server = TestServer::start().await;
    let health = server.call(Method::GET, "/healthz", None, None, &[]).await.expect(StatusCode::OK);
    assert_eq!(health["status"], "ok");

    let alice = server.funded_user("alice", 10_00).await;
    let bob = server.user("bob").await;
    let packet_id = server.send_packet(&alice, json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 1_00 })).await;
    claim(&server, &packet_id, &bob).await.expect(StatusCode::OK);
    claim(&server, &packet_id, &bob).await.expect_error(StatusCode::CONFLICT, "already_claimed");

    let metrics = server.call(Method::GET, "/metrics", None, None, &[]).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let content_type = metrics.headers.get("content-type").and_then(|value| value.to_str().ok()).unwrap_or("");
    assert!(content_type.starts_with("text/plain"), "Prometheus text: {content_type}");
    let metrics_text = metrics.body.as_str().expect("metrics are text");
    let lines: Vec<&str> = metrics_text.lines().collect();
    assert!(lines.contains(&"hongbao_http_requests_total{method=\"POST\",route=\"/v1/packets/{id}/claim\",status=\"200\"} 1"), "{metrics_text}");
    assert!(lines.contains(&"hongbao_http_requests_total{method=\"POST\",route=\"/v1/packets/{id}/claim\",status=\"409\"} 1"), "{metrics_text}");
    assert!(lines.contains(&"hongbao_packets_claimed_total 1"), "{metrics_text}");
    let journal_line = format!("hongbao_journal_entries {}", server.journal_len());
    assert!(lines.contains(&journal_line.as_str()), "expected {journal_line:?} in {metrics_text}");

    let openapi = server.call(Method::GET, "/openapi.json", None, None, &[]).await.expect(StatusCode::OK);
    assert!(text(&openapi, "openapi").starts_with("3.1."), "OpenAPI 3.1: {}", openapi["openapi"]);
    for path in [
        "/v1/users",
        "/v1/me",
        "/v1/wallet",
        "/v1/top-ups",
        "/v1/withdrawals",
        "/v1/groups",
        "/v1/groups/{id}",
        "/v1/groups/{id}/members",
        "/v1/groups/{id}/members/{user_id}",
        "/v1/packets",
        "/v1/packets/{id}",
        "/v1/packets/{id}/claim",
        "/v1/packets/{id}/recall",
        "/v1/transactions",
        "/v1/transactions/{txn_no}",
        "/healthz",
    ] {
        assert!(openapi["paths"][path].is_object(), "the OpenAPI document describes {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_code_comes_with_its_status() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 10_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let outsider = server.user("outsider").await;
    let group_id = server.group(&alice, &[&bob, &carol]).await;

    // unauthorized: missing, unknown and malformed credentials, on reads and writes alike.
    server.call(Method::GET, "/v1/me", None, None, &[]).await.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    server.get("/v1/me", "hbt_not-a-real-token").await.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    for header in ["Basic YWxpY2U6c2VjcmV0", "Bearer", "Bearer ", alice.token.as_str(), "Token abc"] {
        let answer = server.call(Method::GET, "/v1/wallet", None, None, &[("authorization", header)]).await;
        answer.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    server
        .call(Method::POST, "/v1/packets", None, Some(json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 1_00 })), &[])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    server
        .call(Method::POST, "/v1/withdrawals", Some("unknown"), Some(json!({ "amount": 1_00 })), &[])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // forbidden: known callers without the right.
    server.post("/v1/users", &alice.token, json!({ "name": "mallory" })).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    server
        .post("/v1/top-ups", &alice.token, json!({ "user_id": alice.id, "amount": 1_00, "reference": "self-service" }))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    server
        .post(&format!("/v1/groups/{group_id}/members"), &bob.token, json!({ "user_id": outsider.id }))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    server.delete(&format!("/v1/groups/{group_id}/members/{}", carol.id), &bob.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    let lucky = server.send_packet(&alice, json!({ "kind": "lucky", "group_id": group_id, "total_amount": 2_00, "shares": 2 })).await;
    server.post_empty(&format!("/v1/packets/{lucky}/recall"), &bob.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");

    // not_found
    server.get("/v1/packets/pkt_doesnotexist", &alice.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.get("/v1/groups/grp_doesnotexist", &alice.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.get("/v1/transactions/txn_doesnotexist", &alice.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.post_empty("/v1/packets/pkt_doesnotexist/claim", &bob.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.post_empty("/v1/packets/pkt_doesnotexist/recall", &alice.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server
        .post("/v1/top-ups", ADMIN_TOKEN, json!({ "user_id": "usr_doesnotexist", "amount": 1_00, "reference": "r" }))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    server.get("/v1/no-such-route", &alice.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");

    // validation_failed
    server.post("/v1/users", ADMIN_TOKEN, json!({ "name": "" })).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");

    // insufficient_funds
    let before = server.ledger_state();
    server
        .post("/v1/packets", &alice.token, json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 20_000 }))
        .await
        .expect_error(StatusCode::CONFLICT, "insufficient_funds");
    server.post("/v1/withdrawals", &bob.token, json!({ "amount": 1 })).await.expect_error(StatusCode::CONFLICT, "insufficient_funds");
    assert_eq!(server.ledger_state(), before, "refused requests change nothing");

    // already_claimed, packet_exhausted
    claim(&server, &lucky, &bob).await.expect(StatusCode::OK);
    claim(&server, &lucky, &bob).await.expect_error(StatusCode::CONFLICT, "already_claimed");
    claim(&server, &lucky, &carol).await.expect(StatusCode::OK);
    claim(&server, &lucky, &alice).await.expect_error(StatusCode::CONFLICT, "packet_exhausted");

    // not_in_audience
    let for_bob = server.send_packet(&alice, json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 1_00 })).await;
    claim(&server, &for_bob, &carol).await.expect_error(StatusCode::FORBIDDEN, "not_in_audience");

    // packet_recalled, invalid_state
    server.post_empty(&format!("/v1/packets/{for_bob}/recall"), &alice.token).await.expect(StatusCode::OK);
    claim(&server, &for_bob, &bob).await.expect_error(StatusCode::GONE, "packet_recalled");
    server.post_empty(&format!("/v1/packets/{lucky}/recall"), &alice.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");

    // packet_expired
    let timed = server.send_packet(&alice, json!({ "kind": "timed", "recipient_id": bob.id, "total_amount": 1_00, "expires_in_seconds": 10 })).await;
    server.clock.advance_seconds(10);
    claim(&server, &timed, &bob).await.expect_error(StatusCode::GONE, "packet_expired");
    // Let the scheduler's refund land before the ledger is verified below.
    server.wait_for_status(&timed, &alice, "expired").await;

    // idempotency_key_reused
    let first = server.post_with_key("/v1/withdrawals", &alice.token, Some(&json!({ "amount": 1 })), b"withdraw-once").await;
    assert_eq!(first.status, StatusCode::CREATED);
    let reused = server.call(Method::POST, "/v1/withdrawals", Some(&alice.token), Some(json!({ "amount": 2 })), &[("idempotency-key", "withdraw-once")]).await;
    reused.expect_error(StatusCode::CONFLICT, "idempotency_key_reused");
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lucky_packets_at_the_share_limits_split_exactly() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 2_000_00).await;
    let members = [server.user("bob").await, server.user("carol").await, server.user("dave").await];
    let group_id = server.group(&alice, &members.iter().collect::<Vec<_>>()).await;
    // A total of exactly the largest share times the shares leaves one possible split, and so does the
    // smallest; one fen under the largest leaves shares that must all stay within the limit.
    for (total, expected_each) in [(600_00, Some(200_00)), (3, Some(1)), (599_99, None)] {
        let packet_id = server.send_packet(&alice, json!({ "kind": "lucky", "group_id": group_id, "total_amount": total, "shares": 3 })).await;
        let mut amounts = Vec::new();
        for member in &members {
            amounts.push(integer(&claim(&server, &packet_id, member).await.expect(StatusCode::OK), "amount"));
        }
        assert_eq!(amounts.iter().sum::<i64>(), total, "shares of {total} sum to it");
        assert!(amounts.iter().all(|amount| (1..=200_00).contains(amount)), "shares of {total} within the limits: {amounts:?}");
        if let Some(each) = expected_each {
            assert!(amounts.iter().all(|amount| *amount == each), "shares of {total} are all {each}: {amounts:?}");
        }
    }
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_packet_ttl_is_configurable() {
    let limits = hongbao_core::PacketLimits { ttl_seconds: 3_600, ..hongbao_core::PacketLimits::default() };
    let server = TestServer::start_with(hongbao_service::Config { limits, ..hongbao_service::Config::default() }).await;
    let alice = server.funded_user("alice", 10_00).await;
    let bob = server.user("bob").await;
    let packet = server
        .post("/v1/packets", &alice.token, json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 1_00 }))
        .await
        .expect(StatusCode::CREATED);
    let packet_id = text(&packet, "id").to_owned();
    assert_eq!(packet["expires_at"], START.plus_seconds(3_600).to_rfc3339());
    server.clock.advance_seconds(3_600);
    let expired = server.wait_for_status(&packet_id, &alice, "expired").await;
    assert_eq!(expired["refunded_amount"], 1_00);
    claim(&server, &packet_id, &bob).await.expect_error(StatusCode::GONE, "packet_expired");
    assert_eq!(server.balance(&alice).await, 10_00);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_holds_50_by_default() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    for _ in 0..51 {
        server.top_up(&alice, 1).await;
    }
    let first = server.get("/v1/transactions", &alice.token).await.expect(StatusCode::OK);
    assert_eq!(first["data"].as_array().expect("data").len(), 50);
    let cursor = text(&first, "next_cursor").to_owned();
    let rest = server.get(&format!("/v1/transactions?cursor={cursor}"), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(rest["data"].as_array().expect("data").len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);
    let everything = server.get("/v1/transactions?limit=200", &alice.token).await.expect(StatusCode::OK);
    assert_eq!(everything["data"].as_array().expect("data").len(), 51);
}
