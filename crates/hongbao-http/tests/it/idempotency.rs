//! `Idempotency-Key`: a repeat within 24 h replays the first answer byte for byte and does the work
//! once; a different body is refused; keys are scoped per caller, expire after 24 h, and must be
//! 1 to 255 visible ASCII characters.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{ADMIN_TOKEN, RawAnswer, TestServer};

/// Checks that `replay` is the byte-for-byte replay of `first`.
fn assert_replay_of(first: &RawAnswer, replay: &RawAnswer) {
    assert!(!first.is_replay(), "a first answer is not marked as a replay: {:?}", first.headers);
    assert_eq!(replay.status, first.status, "a replay keeps the first status");
    assert_eq!(replay.bytes, first.bytes, "a replay keeps the first body, byte for byte");
    assert!(replay.is_replay(), "a replay says so with Idempotent-Replayed: true: {:?}", replay.headers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_top_up_is_replayed_and_done_once() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let body = json!({ "user_id": alice.id, "amount": 25_00, "reference": "bank-7" });

    let first = server.post_with_key("/v1/top-ups", ADMIN_TOKEN, Some(&body), b"top-up-alice-1").await;
    assert_eq!(first.status, StatusCode::CREATED);
    let after_first = server.ledger_state();
    for _ in 0..2 {
        let replay = server.post_with_key("/v1/top-ups", ADMIN_TOKEN, Some(&body), b"top-up-alice-1").await;
        assert_replay_of(&first, &replay);
    }
    assert_eq!(server.ledger_state(), after_first, "a replay does no work");
    assert_eq!(server.balance(&alice).await, 25_00);

    let different_body = json!({ "user_id": alice.id, "amount": 26_00, "reference": "bank-7" });
    server
        .post_with_key("/v1/top-ups", ADMIN_TOKEN, Some(&different_body), b"top-up-alice-1")
        .await
        .into_answer()
        .expect_error(StatusCode::CONFLICT, "idempotency_key_reused");
    // The same key on another route is another request too.
    server
        .post_with_key("/v1/users", ADMIN_TOKEN, Some(&json!({ "name": "bob" })), b"top-up-alice-1")
        .await
        .into_answer()
        .expect_error(StatusCode::CONFLICT, "idempotency_key_reused");
    assert_eq!(server.ledger_state(), after_first, "a reused key changes nothing");
    assert_eq!(server.balance(&alice).await, 25_00);

    // The first request is still remembered after the refusals.
    assert_replay_of(&first, &server.post_with_key("/v1/top-ups", ADMIN_TOKEN, Some(&body), b"top-up-alice-1").await);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_packet_send_is_replayed_and_charges_once() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 50_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let group_id = server.group(&alice, &[&bob, &carol]).await;
    let body = json!({ "kind": "lucky", "group_id": group_id, "total_amount": 10_00, "shares": 2, "greeting": "once" });

    let first = server.post_with_key("/v1/packets", &alice.token, Some(&body), b"send-lucky-1").await;
    assert_eq!(first.status, StatusCode::CREATED);
    let packet_id = first.json()["id"].as_str().expect("packet id").to_owned();
    let after_first = server.ledger_state();

    let replay = server.post_with_key("/v1/packets", &alice.token, Some(&body), b"send-lucky-1").await;
    assert_replay_of(&first, &replay);
    assert_eq!(replay.json()["id"], packet_id.as_str(), "the replay names the same packet");
    assert_eq!(server.ledger_state(), after_first);
    assert_eq!(server.balance(&alice).await, 40_00, "the sender is charged once");

    let different_body = json!({ "kind": "lucky", "group_id": group_id, "total_amount": 10_00, "shares": 3, "greeting": "once" });
    server
        .post_with_key("/v1/packets", &alice.token, Some(&different_body), b"send-lucky-1")
        .await
        .into_answer()
        .expect_error(StatusCode::CONFLICT, "idempotency_key_reused");
    assert_eq!(server.ledger_state(), after_first);

    // Without a key, the same body is a second packet.
    let second = server.post("/v1/packets", &alice.token, body.clone()).await.expect(StatusCode::CREATED);
    assert_ne!(second["id"], packet_id.as_str());
    assert_eq!(server.balance(&alice).await, 30_00);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_claim_is_replayed_and_pays_once() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 50_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let group_id = server.group(&alice, &[&bob, &carol]).await;
    let packet_id = server.send_packet(&alice, json!({ "kind": "lucky", "group_id": group_id, "total_amount": 10_00, "shares": 2 })).await;
    let claim_path = format!("/v1/packets/{packet_id}/claim");

    let first = server.post_with_key(&claim_path, &bob.token, None, b"claim-1").await;
    assert_eq!(first.status, StatusCode::OK);
    let amount = first.json()["amount"].as_i64().expect("amount");
    let after_first = server.ledger_state();
    let replay = server.post_with_key(&claim_path, &bob.token, None, b"claim-1").await;
    assert_replay_of(&first, &replay);
    assert_eq!(server.ledger_state(), after_first, "a replayed claim pays nothing more");
    assert_eq!(server.balance(&bob).await, amount);
    let packet = server.packet(&packet_id, &bob).await;
    assert_eq!(packet["claimed_count"], 1);
    assert_eq!(packet["claims"].as_array().expect("claims").len(), 1);

    // Without the key a repeat is a new claim attempt, and it is refused.
    server.post_empty(&claim_path, &bob.token).await.expect_error(StatusCode::CONFLICT, "already_claimed");
    // Another claim finishes the packet; the replay still returns the first answer.
    server.post_empty(&claim_path, &carol.token).await.expect(StatusCode::OK);
    let after_exhausted = server.ledger_state();
    assert_replay_of(&first, &server.post_with_key(&claim_path, &bob.token, None, b"claim-1").await);
    assert_eq!(server.ledger_state(), after_exhausted);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_repeats_of_one_key_do_the_work_once() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let before = server.journal_len();
    let body = json!({ "user_id": alice.id, "amount": 3_00, "reference": "racing" });
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let endpoint = server.endpoint();
        let body = body.clone();
        requests.spawn(async move { endpoint.post_with_key("/v1/top-ups", ADMIN_TOKEN, Some(&body), b"racing-key").await });
    }
    let answers: Vec<RawAnswer> = requests.join_all().await;
    assert!(answers.iter().all(|answer| answer.status == StatusCode::CREATED), "every repeat gets the first status: {answers:?}");
    assert!(answers.iter().all(|answer| answer.bytes == answers[0].bytes), "every repeat gets the same body");
    assert_eq!(answers.iter().filter(|answer| !answer.is_replay()).count(), 1, "exactly one request did the work");
    assert_eq!(server.journal_len(), before + 1);
    assert_eq!(server.balance(&alice).await, 3_00);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_scoped_per_caller() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 10_00).await;
    let bob = server.funded_user("bob", 10_00).await;
    let alices = server.post_with_key("/v1/withdrawals", &alice.token, Some(&json!({ "amount": 1_00, "reference": "alice-1" })), b"shared-key").await;
    let bobs = server.post_with_key("/v1/withdrawals", &bob.token, Some(&json!({ "amount": 1_00, "reference": "bob-1" })), b"shared-key").await;
    assert_eq!((alices.status, bobs.status), (StatusCode::CREATED, StatusCode::CREATED));
    assert!(!bobs.is_replay(), "another caller's key is not a replay");
    assert_ne!(alices.json()["txn_no"], bobs.json()["txn_no"]);
    assert_eq!(server.balance(&alice).await, 9_00);
    assert_eq!(server.balance(&bob).await, 9_00);

    // The admin's keys are its own as well, even with a different body.
    let admins =
        server.post_with_key("/v1/top-ups", ADMIN_TOKEN, Some(&json!({ "user_id": alice.id, "amount": 5_00, "reference": "admin" })), b"shared-key").await;
    assert_eq!(admins.status, StatusCode::CREATED);
    assert!(!admins.is_replay());
    assert_eq!(server.balance(&alice).await, 14_00);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_remembered_for_24_hours() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let body = json!({ "user_id": alice.id, "amount": 7_00, "reference": "daily" });
    let first = server.post_with_key("/v1/top-ups", ADMIN_TOKEN, Some(&body), b"daily-key").await;
    assert_eq!(first.status, StatusCode::CREATED);

    server.clock.advance_seconds(86_399);
    assert_replay_of(&first, &server.post_with_key("/v1/top-ups", ADMIN_TOKEN, Some(&body), b"daily-key").await);
    assert_eq!(server.balance(&alice).await, 7_00, "within 24 h the key still replays");

    server.clock.advance_seconds(2);
    let before = server.journal_len();
    let again = server.post_with_key("/v1/top-ups", ADMIN_TOKEN, Some(&body), b"daily-key").await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert!(!again.is_replay(), "after 24 h the key is forgotten");
    // The bank reference still names one movement: the request is answered with the first top-up.
    assert_eq!(again.json()["txn_no"], first.json()["txn_no"], "a reference is never credited twice");
    assert_eq!(server.journal_len(), before);
    assert_eq!(server.balance(&alice).await, 7_00);
    // And the key now remembers the request anew.
    assert_replay_of(&again, &server.post_with_key("/v1/top-ups", ADMIN_TOKEN, Some(&body), b"daily-key").await);
    // Past 24 h once more, another top-up under the old key is done.
    server.clock.advance_seconds(86_401);
    let other = json!({ "user_id": alice.id, "amount": 7_00, "reference": "daily-2" });
    let done = server.post_with_key("/v1/top-ups", ADMIN_TOKEN, Some(&other), b"daily-key").await;
    assert_eq!(done.status, StatusCode::CREATED);
    assert!(!done.is_replay());
    assert_ne!(done.json()["txn_no"], first.json()["txn_no"], "the work is done again");
    assert_eq!(server.journal_len(), before + 1);
    assert_eq!(server.balance(&alice).await, 14_00);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_keys_are_refused() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let body = json!({ "user_id": alice.id, "amount": 1_00, "reference": "keyed" });
    let before = server.ledger_state();
    let too_long = "k".repeat(256);
    let invalid_keys: [(&str, &[u8]); 5] =
        [("empty", b""), ("256 characters", too_long.as_bytes()), ("a space", b"with space"), ("a tab", b"with\ttab"), ("non-ASCII bytes", "钥匙".as_bytes())];
    for (what, key) in invalid_keys {
        let answer = server.post_with_key("/v1/top-ups", ADMIN_TOKEN, Some(&body), key).await.into_answer();
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "a key with {what} is refused: {:?}", answer.body);
        answer.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
        assert_eq!(server.ledger_state(), before, "a refused key ({what}) changes nothing");
    }
    let claim_with_bad_key = server.post_with_key("/v1/packets/pkt_whatever/claim", &alice.token, None, b"").await.into_answer();
    claim_with_bad_key.expect_error(StatusCode::BAD_REQUEST, "validation_failed");

    let longest = "k".repeat(255);
    let visible = (0x21u8..=0x7e).collect::<Vec<u8>>();
    for (index, key) in [longest.as_bytes(), visible.as_slice(), b"x"].into_iter().enumerate() {
        let body = json!({ "user_id": alice.id, "amount": 1_00, "reference": format!("keyed-{index}") });
        let accepted = server.post_with_key("/v1/top-ups", ADMIN_TOKEN, Some(&body), key).await;
        assert_eq!(accepted.status, StatusCode::CREATED, "a key of {} visible characters is accepted", key.len());
    }
    assert_eq!(server.balance(&alice).await, 3_00);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_post_route_replays() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 50_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;

    let user_body = json!({ "name": "dave" });
    let created = server.post_with_key("/v1/users", ADMIN_TOKEN, Some(&user_body), b"k-user").await;
    assert_eq!(created.status, StatusCode::CREATED);
    // The token is shown once: the replay is the first answer with the token withheld (tests/it/secrets.rs).
    let replayed = server.post_with_key("/v1/users", ADMIN_TOKEN, Some(&user_body), b"k-user").await;
    assert!(replayed.is_replay() && replayed.status == created.status);
    assert_eq!(replayed.json()["id"], created.json()["id"]);

    let withdrawal_body = json!({ "amount": 1_00 });
    let withdrawal = server.post_with_key("/v1/withdrawals", &alice.token, Some(&withdrawal_body), b"k-withdrawal").await;
    assert_eq!(withdrawal.status, StatusCode::CREATED);
    assert_replay_of(&withdrawal, &server.post_with_key("/v1/withdrawals", &alice.token, Some(&withdrawal_body), b"k-withdrawal").await);
    assert_eq!(server.balance(&alice).await, 49_00, "withdrawn once");

    let group_body = json!({ "name": "friends", "member_ids": [bob.id] });
    let group = server.post_with_key("/v1/groups", &alice.token, Some(&group_body), b"k-group").await;
    assert_eq!(group.status, StatusCode::CREATED);
    assert_replay_of(&group, &server.post_with_key("/v1/groups", &alice.token, Some(&group_body), b"k-group").await);
    let group_id = group.json()["id"].as_str().expect("group id").to_owned();

    let members_path = format!("/v1/groups/{group_id}/members");
    let member_body = json!({ "user_id": carol.id });
    let added = server.post_with_key(&members_path, &alice.token, Some(&member_body), b"k-member").await;
    assert_eq!(added.status, StatusCode::OK);
    assert_replay_of(&added, &server.post_with_key(&members_path, &alice.token, Some(&member_body), b"k-member").await);

    let packet_id = server.send_packet(&alice, json!({ "kind": "normal", "group_id": group_id, "amount_per_share": 1_00, "shares": 3 })).await;
    let recall_path = format!("/v1/packets/{packet_id}/recall");
    let recalled = server.post_with_key(&recall_path, &alice.token, None, b"k-recall").await;
    assert_eq!(recalled.status, StatusCode::OK);
    let after_recall = server.ledger_state();
    assert_replay_of(&recalled, &server.post_with_key(&recall_path, &alice.token, None, b"k-recall").await);
    assert_eq!(server.ledger_state(), after_recall, "a replayed recall refunds nothing more");
    server.post_empty(&recall_path, &alice.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    server.assert_verified();
}
