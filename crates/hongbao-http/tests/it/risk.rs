//! Risk control (风控) over HTTP: the policy's limits on every outgoing payment, the limits of tagged
//! audiences, the velocity freeze and its expiry, alerts on large payments and on new devices and
//! addresses, the confirmation of large payments with single-use tokens, and the policy file that
//! operators replace, whose errors name the line and the key.

use std::sync::Arc;

use hongbao_service::{Clock, Config, Service};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{ADMIN_TOKEN, Answer, START, TestServer, TestUser};

// ---- helpers ----

/// A server whose risk policy in force is `policy`.
async fn server_with_policy(policy: &str) -> TestServer {
    TestServer::start_with(Config { policy_text: Some(policy.to_owned()), ..Config::default() }).await
}

/// An operator created by the admin: its id and token.
struct TestOperator {
    id: String,
    token: String,
}

async fn operator(server: &TestServer, name: &str, role: &str) -> TestOperator {
    let created = server.post("/v1/ops/operators", ADMIN_TOKEN, json!({ "name": name, "role": role })).await.expect(StatusCode::CREATED);
    TestOperator { id: text(&created["id"]), token: text(&created["token"]) }
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_else(|| panic!("a string, not {value}")).to_owned()
}

/// An instant transfer with a memo, confirmed with `confirmation` when given.
async fn transfer(server: &TestServer, sender: &TestUser, recipient: &TestUser, amount: i64, confirmation: Option<&str>) -> Answer {
    transfer_with_memo(server, sender, recipient, amount, "房租", confirmation).await
}

async fn transfer_with_memo(server: &TestServer, sender: &TestUser, recipient: &TestUser, amount: i64, memo: &str, confirmation: Option<&str>) -> Answer {
    let body = json!({ "recipient_id": recipient.id, "amount": amount, "memo": memo, "arrival": "instant" });
    let headers: Vec<(&str, &str)> = confirmation.map(|token| ("confirmation-token", token)).into_iter().collect();
    server.call(Method::POST, "/v1/transfers", Some(&sender.token), Some(body), &headers).await
}

async fn packet(server: &TestServer, sender: &TestUser, body: Value, confirmation: Option<&str>) -> Answer {
    let headers: Vec<(&str, &str)> = confirmation.map(|token| ("confirmation-token", token)).into_iter().collect();
    server.call(Method::POST, "/v1/packets", Some(&sender.token), Some(body), &headers).await
}

/// A normal packet of one share to one user.
async fn packet_to(server: &TestServer, sender: &TestUser, recipient: &TestUser, amount: i64) -> Answer {
    packet(server, sender, json!({ "kind": "normal", "recipient_id": recipient.id, "amount_per_share": amount }), None).await
}

async fn withdraw(server: &TestServer, user: &TestUser, amount: i64) -> Answer {
    server.post("/v1/withdrawals", &user.token, json!({ "amount": amount })).await
}

/// Checks that an answer is a 409 `limit_exceeded` whose detail, naming the limit, is `detail`.
fn expect_limit(answer: &Answer, detail: &str) {
    answer.expect_error(StatusCode::CONFLICT, "limit_exceeded");
    assert_eq!(answer.body["detail"], detail, "the detail names the limit: {:?}", answer.body);
}

/// A user's events, oldest first.
async fn events(server: &TestServer, user: &TestUser) -> Vec<Value> {
    let mut events = server.get("/v1/events?limit=200", &user.token).await.expect(StatusCode::OK)["data"].as_array().expect("events").clone();
    events.reverse();
    events
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|event| event["type"] == kind).collect()
}

async fn alerts(server: &TestServer, user: &TestUser) -> Vec<Value> {
    of_type(&events(server, user).await, "alert.raised").into_iter().cloned().collect()
}

/// Sends `policy` as the body of `PUT /v1/ops/policy`, as TOML; the body of the answer is JSON for a
/// problem and the policy's text otherwise.
async fn put_policy(server: &TestServer, token: Option<&str>, policy: impl Into<Vec<u8>>) -> Answer {
    let mut request = server.client.put(format!("{}/v1/ops/policy", server.base)).header("content-type", "application/toml").body(policy.into());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer_of(request).await
}

async fn get_policy(server: &TestServer, token: &str) -> Answer {
    answer_of(server.client.get(format!("{}/v1/ops/policy", server.base)).bearer_auth(token)).await
}

async fn answer_of(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("a body");
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Answer { status, body, headers }
}

fn content_type(answer: &Answer) -> &str {
    answer.headers.get("content-type").and_then(|value| value.to_str().ok()).unwrap_or("")
}

/// The policy's text from an answer, checking it came as TOML.
fn policy_text(answer: Answer) -> String {
    assert!(content_type(&answer).starts_with("application/toml"), "the policy is TOML: {answer:?}");
    text(&answer.expect(StatusCode::OK))
}

async fn audit_actions(server: &TestServer, auditor: &TestOperator, action: &str) -> Vec<Value> {
    let audit = server.get("/v1/ops/audit?limit=200", &auditor.token).await.expect(StatusCode::OK);
    audit["data"].as_array().expect("entries").iter().filter(|entry| entry["action"] == action).cloned().collect()
}

/// Seconds from `START` (08:00 UTC) to the next UTC midnight, where the daily counters start again.
const TO_MIDNIGHT: i64 = 16 * 3_600;

async fn put_tag(server: &TestServer, owner: &TestUser, target_id: &str, tag: &str) -> Answer {
    server.call(Method::PUT, &format!("/v1/tags/{target_id}"), Some(&owner.token), Some(json!({ "tag": tag })), &[]).await
}

async fn tags(server: &TestServer, owner: &TestUser) -> Vec<(String, String)> {
    let listed = server.get("/v1/tags", &owner.token).await.expect(StatusCode::OK);
    let mut tags: Vec<(String, String)> = listed["data"].as_array().expect("tags").iter().map(|tag| (text(&tag["target_id"]), text(&tag["tag"]))).collect();
    tags.sort();
    tags
}

// ---- limits ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_transaction_maximum_refuses_larger_packets_transfers_and_withdrawals_and_moves_nothing() {
    let server = server_with_policy("[limits]\nper_transaction_max = \"100.00\"\n").await;
    let alice = server.funded_user("alice", 1_000_00).await;
    let bob = server.user("bob").await;
    let group = server.group(&alice, &[&bob]).await;
    let before = server.ledger_state();

    expect_limit(&transfer(&server, &alice, &bob, 100_01, None).await, "100.01 is over the per-transaction limit of 100.00");
    expect_limit(&withdraw(&server, &alice, 100_01).await, "100.01 is over the per-transaction limit of 100.00");
    // A packet's total counts, not its shares.
    let answer = packet(&server, &alice, json!({ "kind": "normal", "group_id": group, "amount_per_share": 50_01, "shares": 2 }), None).await;
    expect_limit(&answer, "100.02 is over the per-transaction limit of 100.00");
    assert_eq!(server.ledger_state(), before, "a refused payment moves nothing");
    assert!(of_type(&events(&server, &alice).await, "transfer.created").is_empty());

    transfer(&server, &alice, &bob, 100_00, None).await.expect(StatusCode::CREATED);
    withdraw(&server, &alice, 100_00).await.expect(StatusCode::CREATED);
    packet(&server, &alice, json!({ "kind": "lucky", "group_id": group, "total_amount": 100_00, "shares": 2 }), None).await.expect(StatusCode::CREATED);
    assert_eq!(server.balance(&alice).await, 700_00);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_outgoing_maximum_adds_up_packets_transfers_and_withdrawals_until_utc_midnight() {
    let server = server_with_policy("[limits]\ndaily_outgoing_max = \"100.00\"\n").await;
    let alice = server.funded_user("alice", 1_000_00).await;
    let bob = server.funded_user("bob", 1_000_00).await;

    transfer(&server, &alice, &bob, 40_00, None).await.expect(StatusCode::CREATED);
    packet_to(&server, &alice, &bob, 30_00).await.expect(StatusCode::CREATED);
    expect_limit(&withdraw(&server, &alice, 30_01).await, "30.01 more would pass the daily outgoing limit of 100.00 (70.00 sent today)");
    withdraw(&server, &alice, 30_00).await.expect(StatusCode::CREATED);

    let before = server.ledger_state();
    let full = "0.01 more would pass the daily outgoing limit of 100.00 (100.00 sent today)";
    expect_limit(&transfer(&server, &alice, &bob, 1, None).await, full);
    expect_limit(&packet_to(&server, &alice, &bob, 1).await, full);
    expect_limit(&withdraw(&server, &alice, 1).await, full);
    assert_eq!(server.ledger_state(), before, "a refused payment moves nothing");
    // The limit is each user's own.
    withdraw(&server, &bob, 100_00).await.expect(StatusCode::CREATED);

    // A new UTC day starts a new count.
    assert_eq!((START.millis() + TO_MIDNIGHT * 1_000) % 86_400_000, 0, "TO_MIDNIGHT leads to a UTC midnight");
    server.clock.advance_seconds(TO_MIDNIGHT - 1);
    expect_limit(&transfer(&server, &alice, &bob, 1, None).await, full);
    server.clock.advance_seconds(1);
    transfer(&server, &alice, &bob, 100_00, None).await.expect(StatusCode::CREATED);
    expect_limit(&withdraw(&server, &alice, 1).await, full);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_packet_count_limits_packets_only() {
    let server = server_with_policy("[limits]\ndaily_packet_count = 2\n").await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let group = server.group(&alice, &[&bob]).await;

    packet_to(&server, &alice, &bob, 1_00).await.expect(StatusCode::CREATED);
    packet(&server, &alice, json!({ "kind": "lucky", "group_id": group, "total_amount": 2_00, "shares": 2 }), None).await.expect(StatusCode::CREATED);
    let before = server.ledger_state();
    expect_limit(&packet_to(&server, &alice, &bob, 1_00).await, "the daily limit of 2 packets is reached");
    let answer = packet(&server, &alice, json!({ "kind": "lucky", "group_id": group, "total_amount": 2_00, "shares": 2 }), None).await;
    expect_limit(&answer, "the daily limit of 2 packets is reached");
    assert_eq!(server.ledger_state(), before);
    transfer(&server, &alice, &bob, 1_00, None).await.expect(StatusCode::CREATED);
    withdraw(&server, &alice, 1_00).await.expect(StatusCode::CREATED);

    server.clock.advance_seconds(TO_MIDNIGHT);
    packet_to(&server, &alice, &bob, 1_00).await.expect(StatusCode::CREATED);
    server.assert_verified();
}

// ---- tags ----

const TAG_POLICY: &str = "[tags.strangers]\nper_transaction_max = \"20.00\"\ndaily_max = \"50.00\"\n\n[tags.book-club]\nper_transaction_max = \"10.00\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_to_users_tagged_with_limits_obey_the_tags_per_transaction_and_daily_maximums() {
    let server = server_with_policy(TAG_POLICY).await;
    let alice = server.funded_user("alice", 1_000_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let dave = server.user("dave").await;

    let tagged = put_tag(&server, &alice, &bob.id, "strangers").await.expect(StatusCode::OK);
    assert_eq!(tagged["target_id"], bob.id.as_str());
    assert_eq!(tagged["tag"], "strangers");
    assert!(tagged["created_at"].is_string());

    let before = server.ledger_state();
    let over = "20.01 is over the per-transaction limit of 20.00 for audiences tagged strangers";
    expect_limit(&transfer(&server, &alice, &bob, 20_01, None).await, over);
    expect_limit(&packet_to(&server, &alice, &bob, 20_01).await, over);
    assert_eq!(server.ledger_state(), before);

    // Untagged audiences, and tags the policy gives no limits, have no tag limits.
    transfer(&server, &alice, &carol, 60_00, None).await.expect(StatusCode::CREATED);
    put_tag(&server, &alice, &carol.id, "family").await.expect(StatusCode::OK);
    transfer(&server, &alice, &carol, 60_00, None).await.expect(StatusCode::CREATED);
    // Another user's tag is not the payer's.
    put_tag(&server, &carol, &dave.id, "strangers").await.expect(StatusCode::OK);
    transfer(&server, &alice, &dave, 30_00, None).await.expect(StatusCode::CREATED);

    // The daily maximum adds up everything sent to audiences with the tag, packets and transfers.
    transfer(&server, &alice, &bob, 20_00, None).await.expect(StatusCode::CREATED);
    put_tag(&server, &alice, &dave.id, "strangers").await.expect(StatusCode::OK);
    transfer(&server, &alice, &dave, 20_00, None).await.expect(StatusCode::CREATED);
    expect_limit(
        &packet_to(&server, &alice, &bob, 10_01).await,
        "10.01 more would pass the daily limit of 50.00 for audiences tagged strangers (40.00 sent today)",
    );
    packet_to(&server, &alice, &bob, 10_00).await.expect(StatusCode::CREATED);
    let before = server.ledger_state();
    let full = "0.01 more would pass the daily limit of 50.00 for audiences tagged strangers (50.00 sent today)";
    expect_limit(&transfer(&server, &alice, &dave, 1, None).await, full);
    expect_limit(&transfer(&server, &alice, &bob, 1, None).await, full);
    assert_eq!(server.ledger_state(), before);
    transfer(&server, &alice, &carol, 20_00, None).await.expect(StatusCode::CREATED);

    server.clock.advance_seconds(TO_MIDNIGHT);
    transfer(&server, &alice, &dave, 20_00, None).await.expect(StatusCode::CREATED);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packets_to_a_tagged_group_obey_the_groups_tag() {
    let server = server_with_policy(TAG_POLICY).await;
    let alice = server.funded_user("alice", 1_000_00).await;
    let bob = server.user("bob").await;
    let erin = server.user("erin").await;
    let club = server.group(&alice, &[&bob, &erin]).await;
    let other = server.group(&alice, &[&bob, &erin]).await;

    put_tag(&server, &alice, &club, "book-club").await.expect(StatusCode::OK);
    let before = server.ledger_state();
    let over = |amount: &str| format!("{amount} is over the per-transaction limit of 10.00 for audiences tagged book-club");
    let answer = packet(&server, &alice, json!({ "kind": "lucky", "group_id": club, "total_amount": 10_01, "shares": 2 }), None).await;
    expect_limit(&answer, &over("10.01"));
    let answer = packet(&server, &alice, json!({ "kind": "normal", "group_id": club, "amount_per_share": 6_00, "shares": 2 }), None).await;
    expect_limit(&answer, &over("12.00"));
    let answer = packet(&server, &alice, json!({ "kind": "exclusive", "group_id": club, "recipient_id": erin.id, "total_amount": 12_00 }), None).await;
    expect_limit(&answer, &over("12.00"));
    assert_eq!(server.ledger_state(), before);

    packet(&server, &alice, json!({ "kind": "lucky", "group_id": club, "total_amount": 10_00, "shares": 2 }), None).await.expect(StatusCode::CREATED);
    // The same packets to an untagged group, and transfers to the members, are not limited by the tag.
    packet(&server, &alice, json!({ "kind": "lucky", "group_id": other, "total_amount": 30_00, "shares": 2 }), None).await.expect(StatusCode::CREATED);
    packet(&server, &alice, json!({ "kind": "normal", "group_id": other, "amount_per_share": 6_00, "shares": 2 }), None).await.expect(StatusCode::CREATED);
    transfer(&server, &alice, &erin, 30_00, None).await.expect(StatusCode::CREATED);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_validated_listed_replaced_and_removed() {
    let server = server_with_policy(TAG_POLICY).await;
    let alice = server.funded_user("alice", 1_000_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let stranger = server.user("stranger").await;
    let group = server.group(&alice, &[&bob]).await;
    let not_alices_group = server.group(&stranger, &[&bob]).await;

    for bad in ["Family", "", "a b", "家人", &"a".repeat(33)] {
        put_tag(&server, &alice, &bob.id, bad).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    }
    put_tag(&server, &alice, &bob.id, &"a".repeat(32)).await.expect(StatusCode::OK);
    put_tag(&server, &alice, "usr_nobody00000000000000", "friends").await.expect_error(StatusCode::NOT_FOUND, "not_found");
    put_tag(&server, &alice, "grp_nobody00000000000000", "friends").await.expect_error(StatusCode::NOT_FOUND, "not_found");
    put_tag(&server, &alice, &not_alices_group, "friends").await.expect_error(StatusCode::NOT_FOUND, "not_found");
    put_tag(&server, &alice, &alice.id, "friends").await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    put_tag(&server, &alice, "someone", "friends").await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    let answer = server.call(Method::PUT, &format!("/v1/tags/{}", bob.id), Some(&alice.token), Some(json!({ "tag": "work", "colour": "red" })), &[]).await;
    answer.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    let answer = server.call(Method::PUT, &format!("/v1/tags/{}", bob.id), Some(ADMIN_TOKEN), Some(json!({ "tag": "work" })), &[]).await;
    answer.expect_error(StatusCode::FORBIDDEN, "forbidden");

    let first = put_tag(&server, &alice, &bob.id, "strangers").await.expect(StatusCode::OK);
    put_tag(&server, &alice, &group, "book-club").await.expect(StatusCode::OK);
    put_tag(&server, &alice, &carol.id, "work").await.expect(StatusCode::OK);
    assert_eq!(tags(&server, &alice).await, {
        let mut expected = vec![(bob.id.clone(), "strangers".to_owned()), (group.clone(), "book-club".to_owned()), (carol.id.clone(), "work".to_owned())];
        expected.sort();
        expected
    });
    assert_eq!(tags(&server, &bob).await, Vec::<(String, String)>::new(), "tags are their owner's alone");
    expect_limit(&transfer(&server, &alice, &bob, 25_00, None).await, "25.00 is over the per-transaction limit of 20.00 for audiences tagged strangers");

    // A new tag replaces the old one; the tag keeps its creation time.
    server.clock.advance_seconds(60);
    let replaced = put_tag(&server, &alice, &bob.id, "friends").await.expect(StatusCode::OK);
    assert_eq!(replaced["tag"], "friends");
    assert_eq!(replaced["created_at"], first["created_at"]);
    assert!(tags(&server, &alice).await.contains(&(bob.id.clone(), "friends".to_owned())));
    transfer(&server, &alice, &bob, 25_00, None).await.expect(StatusCode::CREATED);

    put_tag(&server, &alice, &bob.id, "strangers").await.expect(StatusCode::OK);
    expect_limit(&transfer(&server, &alice, &bob, 25_00, None).await, "25.00 is over the per-transaction limit of 20.00 for audiences tagged strangers");
    let deleted = server.delete(&format!("/v1/tags/{}", bob.id), &alice.token).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{deleted:?}");
    assert!(tags(&server, &alice).await.iter().all(|(target, _)| target != &bob.id), "a removed tag is not listed");
    transfer(&server, &alice, &bob, 25_00, None).await.expect(StatusCode::CREATED);
    server.delete(&format!("/v1/tags/{}", stranger.id), &alice.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.delete(&format!("/v1/tags/{}", carol.id), &bob.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(tags(&server, &alice).await.len(), 2, "another user cannot remove alice's tags");
    server.get("/v1/tags", ADMIN_TOKEN).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_tag_is_gone_so_removing_it_again_is_not_found() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    put_tag(&server, &alice, &bob.id, "friends").await.expect(StatusCode::OK);
    let deleted = server.delete(&format!("/v1/tags/{}", bob.id), &alice.token).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{deleted:?}");
    assert_eq!(tags(&server, &alice).await, Vec::<(String, String)>::new());
    // Like a tag never set: there is no tag on bob any more.
    server.delete(&format!("/v1/tags/{}", bob.id), &alice.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
}

// ---- velocity ----

const VELOCITY_POLICY: &str = "[velocity]\nmax_actions = 2\nwindow_seconds = 60\nfreeze_seconds = 300\n";

async fn delayed_transfer(server: &TestServer, sender: &TestUser, recipient: &TestUser, amount: i64) -> String {
    let body = json!({ "recipient_id": recipient.id, "amount": amount, "arrival": "delay_2h" });
    text(&server.post("/v1/transfers", &sender.token, body).await.expect(StatusCode::CREATED)["id"])
}

/// A settled instant transfer; returns its settlement's transaction number.
async fn settled_transfer(server: &TestServer, payer: &TestUser, payee: &TestUser, amount: i64) -> String {
    let sent = transfer(server, payer, payee, amount, None).await.expect(StatusCode::CREATED);
    let settled = server.post_empty(&format!("/v1/transfers/{}/accept", text(&sent["id"])), &payee.token).await.expect(StatusCode::OK);
    text(&settled["txn_nos"][1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_recalls_cancels_and_return_requests_than_allowed_freeze_outgoing_money_until_the_freeze_expires() {
    let server = server_with_policy(VELOCITY_POLICY).await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.funded_user("bob", 10_00).await;
    let reviewer = operator(&server, "rita", "reviewer").await;
    let auditor = operator(&server, "ada", "auditor").await;
    let group = server.group(&alice, &[&bob]).await;

    let recalled = text(&packet_to(&server, &alice, &bob, 1_00).await.expect(StatusCode::CREATED)["id"]);
    let cancelled = delayed_transfer(&server, &alice, &bob, 2_00).await;
    let cancelled_later = delayed_transfer(&server, &alice, &bob, 2_00).await;
    let settlement = settled_transfer(&server, &alice, &bob, 3_00).await;

    server.post_empty(&format!("/v1/packets/{recalled}/recall"), &alice.token).await.expect(StatusCode::OK);
    server.post_empty(&format!("/v1/transfers/{cancelled}/cancel"), &alice.token).await.expect(StatusCode::OK);
    // Two in the window are allowed: outgoing money still moves.
    withdraw(&server, &alice, 1_00).await.expect(StatusCode::CREATED);
    assert!(of_type(&events(&server, &alice).await, "freeze.placed").is_empty());

    // The third trips the rule; the request itself goes through.
    let request = server.post("/v1/return-requests", &alice.token, json!({ "txn_no": settlement, "reason": "转错了" })).await.expect(StatusCode::CREATED);
    assert_eq!(request["status"], "pending");
    let frozen_at = server.clock.now();

    let alice_events = events(&server, &alice).await;
    let placed = of_type(&alice_events, "freeze.placed");
    assert_eq!(placed.len(), 1, "{alice_events:?}");
    let freeze_id = text(&placed[0]["subject_id"]);
    assert_eq!(placed[0]["data"]["scope"], "full");
    let velocity_alerts: Vec<&Value> = of_type(&alice_events, "alert.raised").into_iter().filter(|event| event["data"]["reason"] == "velocity").collect();
    assert_eq!(velocity_alerts.len(), 1, "{alice_events:?}");
    assert_eq!(velocity_alerts[0]["data"]["freeze_id"], freeze_id.as_str());
    assert_eq!(velocity_alerts[0]["data"]["action"], "return_request");

    let freeze = server.get(&format!("/v1/ops/freezes/{freeze_id}"), &reviewer.token).await.expect(StatusCode::OK);
    assert_eq!(freeze["user_id"], alice.id.as_str());
    assert_eq!(freeze["kind"], "full");
    assert_eq!(freeze["rule"], "velocity");
    assert_eq!(freeze["status"], "active");
    assert_eq!(freeze["until"], frozen_at.plus_seconds(300).to_rfc3339().as_str());
    let audited = audit_actions(&server, &auditor, "freeze.create").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0]["actor_id"], "system");

    // Every outgoing payment is refused while the freeze lasts, and nothing moves.
    let before = server.ledger_state();
    transfer(&server, &alice, &bob, 1_00, None).await.expect_error(StatusCode::CONFLICT, "account_frozen");
    packet_to(&server, &alice, &bob, 1_00).await.expect_error(StatusCode::CONFLICT, "account_frozen");
    packet(&server, &alice, json!({ "kind": "lucky", "group_id": group, "total_amount": 2_00, "shares": 2 }), None)
        .await
        .expect_error(StatusCode::CONFLICT, "account_frozen");
    withdraw(&server, &alice, 1_00).await.expect_error(StatusCode::CONFLICT, "account_frozen");
    assert_eq!(server.ledger_state(), before);
    let wallet = server.get("/v1/wallet", &alice.token).await.expect(StatusCode::OK);
    assert_eq!(wallet["available"], 0);
    assert_eq!(wallet["frozen"], wallet["balance"]);
    // The freeze is alice's alone.
    withdraw(&server, &bob, 1_00).await.expect(StatusCode::CREATED);
    // Another action while frozen does not freeze twice.
    server.post_empty(&format!("/v1/transfers/{cancelled_later}/cancel"), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(of_type(&events(&server, &alice).await, "freeze.placed").len(), 1);

    server.clock.advance_seconds(299);
    transfer(&server, &alice, &bob, 1_00, None).await.expect_error(StatusCode::CONFLICT, "account_frozen");
    server.clock.advance_seconds(1);
    transfer(&server, &alice, &bob, 1_00, None).await.expect(StatusCode::CREATED);
    packet_to(&server, &alice, &bob, 1_00).await.expect(StatusCode::CREATED);
    withdraw(&server, &alice, 1_00).await.expect(StatusCode::CREATED);
    assert_eq!(server.get(&format!("/v1/ops/freezes/{freeze_id}"), &reviewer.token).await.expect(StatusCode::OK)["status"], "expired");
    server.assert_verified();
}

async fn cancel(server: &TestServer, sender: &TestUser, transfer_id: &str) -> Answer {
    server.post_empty(&format!("/v1/transfers/{transfer_id}/cancel"), &sender.token).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn velocity_counts_only_the_actions_inside_its_window() {
    let server = server_with_policy(VELOCITY_POLICY).await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let mut transfers = Vec::new();
    for _ in 0..4 {
        transfers.push(delayed_transfer(&server, &alice, &bob, 1_00).await);
    }

    cancel(&server, &alice, &transfers[0]).await.expect(StatusCode::OK);
    server.clock.advance_seconds(30);
    cancel(&server, &alice, &transfers[1]).await.expect(StatusCode::OK);
    // The first has left the 60-second window: two in it, which is allowed.
    server.clock.advance_seconds(31);
    cancel(&server, &alice, &transfers[2]).await.expect(StatusCode::OK);
    withdraw(&server, &alice, 1_00).await.expect(StatusCode::CREATED);
    assert!(of_type(&events(&server, &alice).await, "freeze.placed").is_empty());
    // A third inside one window trips the rule.
    server.clock.advance_seconds(1);
    cancel(&server, &alice, &transfers[3]).await.expect(StatusCode::OK);
    withdraw(&server, &alice, 1_00).await.expect_error(StatusCode::CONFLICT, "account_frozen");
    let alice_events = events(&server, &alice).await;
    assert_eq!(of_type(&alice_events, "freeze.placed").len(), 1);
    let alerts = of_type(&alice_events, "alert.raised");
    assert_eq!(alerts.len(), 1, "{alice_events:?}");
    assert_eq!(alerts[0]["data"]["reason"], "velocity");
    assert_eq!(alerts[0]["data"]["action"], "cancel");
}

// ---- alerts ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_at_or_above_the_alert_threshold_alert_their_sender_only() {
    let server = server_with_policy("[alerts]\nlarge_transaction = \"50.00\"\n").await;
    let alice = server.funded_user("alice", 1_000_00).await;
    let bob = server.user("bob").await;

    transfer(&server, &alice, &bob, 49_99, None).await.expect(StatusCode::CREATED);
    packet_to(&server, &alice, &bob, 49_99).await.expect(StatusCode::CREATED);
    withdraw(&server, &alice, 49_99).await.expect(StatusCode::CREATED);
    assert_eq!(alerts(&server, &alice).await, Vec::<Value>::new(), "below the threshold nothing alerts");

    let sent = transfer(&server, &alice, &bob, 50_00, None).await.expect(StatusCode::CREATED);
    let sent_packet = packet_to(&server, &alice, &bob, 60_00).await.expect(StatusCode::CREATED);
    withdraw(&server, &alice, 70_00).await.expect(StatusCode::CREATED);
    let raised = alerts(&server, &alice).await;
    let summary: Vec<(String, String, String)> =
        raised.iter().map(|alert| (text(&alert["data"]["reason"]), text(&alert["data"]["kind"]), text(&alert["data"]["amount"]))).collect();
    assert_eq!(
        summary,
        [
            ("large_transaction".to_owned(), "transfer".to_owned(), "5000".to_owned()),
            ("large_transaction".to_owned(), "packet".to_owned(), "6000".to_owned()),
            ("large_transaction".to_owned(), "withdrawal".to_owned(), "7000".to_owned()),
        ]
    );
    assert_eq!(raised[0]["subject_id"], sent["id"]);
    assert_eq!(raised[1]["subject_id"], sent_packet["id"]);
    assert_eq!(alerts(&server, &bob).await, Vec::<Value>::new(), "the recipient gets no alert");
}

/// `GET /v1/me` from the device `device`.
async fn me(server: &TestServer, user: &TestUser, device: &str) {
    server.call(Method::GET, "/v1/me", Some(&user.token), None, &[("x-device-id", device)]).await.expect(StatusCode::OK);
}

/// A client whose connections come from another loopback address.
fn client_from(address: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder().local_address(std::net::IpAddr::from(address)).build().expect("a client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_device_or_address_alerts_after_the_first_one_seen() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;

    // The first device and address set the baseline.
    me(&server, &alice, "phone-1").await;
    me(&server, &alice, "phone-1").await;
    assert_eq!(alerts(&server, &alice).await, Vec::<Value>::new());

    me(&server, &alice, "phone-2").await;
    let raised = alerts(&server, &alice).await;
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0]["data"]["reason"], "new_device");
    assert_eq!(raised[0]["data"]["device"], "phone-2");
    assert_eq!(raised[0]["subject_id"], alice.id.as_str());

    // Known devices raise nothing more; a third one does.
    me(&server, &alice, "phone-2").await;
    me(&server, &alice, "phone-1").await;
    server.get("/v1/wallet", &alice.token).await.expect(StatusCode::OK);
    assert_eq!(alerts(&server, &alice).await.len(), 1);
    me(&server, &alice, "tablet").await;
    let raised = alerts(&server, &alice).await;
    assert_eq!(raised.len(), 2);
    assert_eq!(raised[1]["data"]["device"], "tablet");

    // Devices are each user's own: bob's first is his baseline, even one alice used.
    me(&server, &bob, "phone-2").await;
    assert_eq!(alerts(&server, &bob).await, Vec::<Value>::new());

    // A call from another address (another loopback address) alerts once.
    let elsewhere = client_from([127, 0, 0, 2]);
    for _ in 0..2 {
        let answer = answer_of(elsewhere.get(format!("{}/v1/me", server.base)).bearer_auth(&alice.token).header("x-device-id", "phone-1")).await;
        answer.expect(StatusCode::OK);
    }
    let raised = alerts(&server, &alice).await;
    assert_eq!(raised.len(), 3, "{raised:?}");
    assert_eq!(raised[2]["data"]["reason"], "new_address");
    assert_eq!(raised[2]["data"]["address"], "127.0.0.2");
    assert_eq!(alerts(&server, &bob).await, Vec::<Value>::new());
}

// ---- confirmation ----

const CONFIRMATION_POLICY: &str = "[confirmation]\nthreshold = \"100.00\"\nttl_seconds = 60\n";

/// Checks an answer is 409 `confirmation_required` and returns its `confirmation`.
fn expect_confirmation(answer: &Answer) -> Value {
    answer.expect_error(StatusCode::CONFLICT, "confirmation_required");
    let confirmation = answer.body["confirmation"].clone();
    assert!(confirmation["token"].as_str().is_some_and(|token| !token.is_empty()), "a token: {:?}", answer.body);
    confirmation
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_transfer_needs_a_confirmation_that_shows_its_terms_and_moves_nothing_until_confirmed() {
    let server = server_with_policy(CONFIRMATION_POLICY).await;
    let alice = server.funded_user("alice", 1_000_00).await;
    let bob = server.user("bob").await;

    transfer(&server, &alice, &bob, 99_99, None).await.expect(StatusCode::CREATED);
    let events_before = events(&server, &alice).await;
    let before = server.ledger_state();
    let answer = transfer(&server, &alice, &bob, 100_00, None).await;
    let confirmation = expect_confirmation(&answer);
    assert_eq!(confirmation["amount"], 100_00);
    assert_eq!(confirmation["audience_kind"], "user");
    assert_eq!(confirmation["audience_id"], bob.id.as_str());
    assert_eq!(confirmation["audience_name"], "bob");
    assert_eq!(confirmation["audience_size"], Value::Null);
    assert_eq!(confirmation["memo"], "房租");
    assert_eq!(confirmation["expires_at"], START.plus_seconds(60).to_rfc3339().as_str());
    assert_eq!(server.ledger_state(), before, "nothing moves before the confirmation");
    assert_eq!(server.balance(&alice).await, 900_01);
    assert_eq!(events(&server, &alice).await, events_before, "no transfer was made");
    assert_eq!(of_type(&events(&server, &bob).await, "transfer.created").len(), 1);

    let token = text(&confirmation["token"]);
    let confirmed = transfer(&server, &alice, &bob, 100_00, Some(&token)).await.expect(StatusCode::CREATED);
    assert_eq!(confirmed["amount"], 100_00);
    assert_eq!(confirmed["recipient_id"], bob.id.as_str());
    assert_eq!(server.balance(&alice).await, 800_01);

    // A token is good once.
    let before = server.ledger_state();
    let again = expect_confirmation(&transfer(&server, &alice, &bob, 100_00, Some(&token)).await);
    assert_ne!(again["token"], token.as_str(), "a new token comes with the refusal");
    assert_eq!(server.ledger_state(), before);
    transfer(&server, &alice, &bob, 100_00, Some(&text(&again["token"]))).await.expect(StatusCode::CREATED);
    assert_eq!(server.balance(&alice).await, 700_01);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmation_token_is_refused_when_garbage_for_other_terms_of_another_user_or_expired() {
    let server = server_with_policy(CONFIRMATION_POLICY).await;
    let alice = server.funded_user("alice", 1_000_00).await;
    let bob = server.user("bob").await;
    let carol = server.funded_user("carol", 1_000_00).await;
    let before = server.ledger_state();

    for garbage in ["garbage", "hbc_00000000000000000000000000000000000000000000000000"] {
        expect_confirmation(&transfer(&server, &alice, &bob, 150_00, Some(garbage)).await);
    }
    transfer(&server, &alice, &bob, 150_00, Some("")).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");

    let token = text(&expect_confirmation(&transfer(&server, &alice, &bob, 150_00, None).await)["token"]);
    // Another amount, recipient or memo, or another payer: the token is not for that payment.
    expect_confirmation(&transfer(&server, &alice, &bob, 150_01, Some(&token)).await);
    expect_confirmation(&transfer(&server, &alice, &carol, 150_00, Some(&token)).await);
    expect_confirmation(&transfer_with_memo(&server, &alice, &bob, 150_00, "gift", Some(&token)).await);
    expect_confirmation(&transfer(&server, &carol, &bob, 150_00, Some(&token)).await);
    expect_confirmation(&packet_to(&server, &alice, &bob, 150_00).await);
    assert_eq!(server.ledger_state(), before, "no refused confirmation moves money");

    // A token lasts ttl_seconds.
    server.clock.advance_seconds(60);
    let expired = transfer(&server, &alice, &bob, 150_00, Some(&token)).await;
    let renewed = expect_confirmation(&expired);
    assert_eq!(server.ledger_state(), before);
    server.clock.advance_seconds(59);
    transfer(&server, &alice, &bob, 150_00, Some(&text(&renewed["token"]))).await.expect(StatusCode::CREATED);
    assert_eq!(server.balance(&alice).await, 850_00);
    assert_eq!(server.balance(&carol).await, 1_000_00);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_packet_needs_a_confirmation_that_shows_its_audience() {
    let server = server_with_policy(CONFIRMATION_POLICY).await;
    let alice = server.funded_user("alice", 1_000_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let group = server.group(&alice, &[&bob, &carol]).await;
    let body = json!({ "kind": "lucky", "group_id": group, "total_amount": 150_00, "shares": 3, "greeting": "新年快乐" });

    let before = server.ledger_state();
    let confirmation = expect_confirmation(&packet(&server, &alice, body.clone(), None).await);
    assert_eq!(confirmation["amount"], 150_00);
    assert_eq!(confirmation["audience_kind"], "group");
    assert_eq!(confirmation["audience_id"], group.as_str());
    assert_eq!(confirmation["audience_name"], "test group");
    assert_eq!(confirmation["audience_size"], 3);
    assert_eq!(confirmation["memo"], "新年快乐");
    assert_eq!(server.ledger_state(), before);
    assert!(server.get(&format!("/v1/groups/{group}/packets"), &bob.token).await.expect(StatusCode::OK)["data"].as_array().expect("packets").is_empty());

    let token = text(&confirmation["token"]);
    // Not for another greeting or total.
    let other_greeting = json!({ "kind": "lucky", "group_id": group, "total_amount": 150_00, "shares": 3, "greeting": "恭喜" });
    expect_confirmation(&packet(&server, &alice, other_greeting, Some(&token)).await);
    let other_total = json!({ "kind": "lucky", "group_id": group, "total_amount": 150_01, "shares": 3, "greeting": "新年快乐" });
    expect_confirmation(&packet(&server, &alice, other_total, Some(&token)).await);
    assert_eq!(server.ledger_state(), before);

    let sent = packet(&server, &alice, body.clone(), Some(&token)).await.expect(StatusCode::CREATED);
    assert_eq!(sent["total_amount"], 150_00);
    assert_eq!(server.balance(&alice).await, 850_00);
    expect_confirmation(&packet(&server, &alice, body, Some(&token)).await);

    // A packet to one user shows that user.
    let single = expect_confirmation(&packet_to(&server, &alice, &bob, 100_00).await);
    assert_eq!(single["audience_kind"], "user");
    assert_eq!(single["audience_id"], bob.id.as_str());
    assert_eq!(single["audience_name"], "bob");
    packet_to(&server, &alice, &bob, 99_99).await.expect(StatusCode::CREATED);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_asked_for_confirmation_can_be_confirmed_under_the_same_idempotency_key() {
    let server = server_with_policy(CONFIRMATION_POLICY).await;
    let alice = server.funded_user("alice", 1_000_00).await;
    let bob = server.user("bob").await;
    let body = json!({ "recipient_id": bob.id, "amount": 150_00, "memo": "房租", "arrival": "instant" });
    let key = [("idempotency-key", "rent-2027-01")];

    let asked = server.call(Method::POST, "/v1/transfers", Some(&alice.token), Some(body.clone()), &key).await;
    let token = text(&expect_confirmation(&asked)["token"]);
    assert_eq!(server.balance(&alice).await, 1_000_00);
    // The client repeats the same request, under the same key, now confirmed. The refusal changed
    // nothing, so there is no first response to replay: the confirmed payment goes through.
    let confirmed = server.call(Method::POST, "/v1/transfers", Some(&alice.token), Some(body.clone()), &[key[0], ("confirmation-token", token.as_str())]).await;
    let transfer = confirmed.expect(StatusCode::CREATED);
    assert_eq!(transfer["amount"], 150_00);
    assert_eq!(server.balance(&alice).await, 850_00);
    // From then on the key replays the payment, once.
    let replayed = server.call(Method::POST, "/v1/transfers", Some(&alice.token), Some(body), &[key[0], ("confirmation-token", token.as_str())]).await;
    assert_eq!(replayed.headers.get("idempotent-replayed").map(|value| value.as_bytes()), Some(&b"true"[..]));
    assert_eq!(replayed.expect(StatusCode::CREATED)["id"], transfer["id"]);
    assert_eq!(server.balance(&alice).await, 850_00);
}

// ---- the policy ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_replace_the_policy_and_an_invalid_one_is_refused_naming_line_and_key_while_the_old_one_stays() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 1_000_00).await;
    let bob = server.user("bob").await;
    let reviewer = operator(&server, "rita", "reviewer").await;
    let support = operator(&server, "sam", "support").await;
    let auditor = operator(&server, "ada", "auditor").await;
    let legal = operator(&server, "lee", "legal").await;

    let default = policy_text(get_policy(&server, ADMIN_TOKEN).await);
    assert!(default.contains("per_transaction_max = \"50000.00\""), "{default}");
    transfer(&server, &alice, &bob, 30_01, None).await.expect(StatusCode::CREATED);

    let valid = "# the test policy\n[limits]\nper_transaction_max = \"30.00\"\n";
    for token in [&support.token, &auditor.token, &legal.token, &alice.token] {
        put_policy(&server, Some(token), valid).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    }
    put_policy(&server, None, valid).await.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    get_policy(&server, &alice.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    transfer(&server, &alice, &bob, 30_01, None).await.expect(StatusCode::CREATED);

    let replaced = put_policy(&server, Some(&reviewer.token), valid).await;
    let rendered = policy_text(replaced);
    assert!(rendered.contains("per_transaction_max = \"30.00\""), "{rendered}");
    for token in [&reviewer.token, &support.token, &auditor.token, ADMIN_TOKEN] {
        assert_eq!(policy_text(get_policy(&server, token).await), valid);
    }
    expect_limit(&transfer(&server, &alice, &bob, 30_01, None).await, "30.01 is over the per-transaction limit of 30.00");
    transfer(&server, &alice, &bob, 30_00, None).await.expect(StatusCode::CREATED);
    let audited = audit_actions(&server, &auditor, "policy.replace").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0]["actor_id"], reviewer.id.as_str());
    assert_eq!(audited[0]["target"], "risk_policy");

    let invalid = [
        ("[limits]\nper_transaction_max = 5000\n", "line 2, key `limits.per_transaction_max`"),
        ("[limits]\nper_transaction_max = \"10.00\"\nper_transaction_maxx = \"1.00\"\n", "line 3, key `limits.per_transaction_maxx`"),
        ("[limit]\nper_transaction_max = \"10.00\"\n", "line 1, key `limit`"),
        ("# risk\n[velocity]\nmax_actions = 0\n", "line 3, key `velocity.max_actions`"),
        ("[limits]\nper_transaction_max = \"10.00\"\n\n[tags.Family]\ndaily_max = \"1.00\"\n", "line 4, key `tags.Family`"),
        ("[limits]\nper_transaction_max = \"10.00\"\ndaily_packet_count = \"3\"\n", "line 3, key `limits.daily_packet_count`"),
        ("[limits]\nper_transaction_max = \"10.00\"\n[confirmation]\nthreshold = \"0.00\"\n", "line 4, key `confirmation.threshold`"),
    ];
    for (policy, named) in invalid {
        for token in [reviewer.token.as_str(), ADMIN_TOKEN] {
            let answer = put_policy(&server, Some(token), policy).await;
            answer.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
            let detail = text(&answer.body["detail"]);
            assert!(detail.contains(named), "the refusal of {policy:?} names {named}: {detail}");
        }
    }
    // A syntax error names its line.
    let answer = put_policy(&server, Some(&reviewer.token), "[limits]\nper_transaction_max = \"10.00\ndaily_packet_count = 3\n").await;
    answer.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert!(text(&answer.body["detail"]).contains("line 2"), "{:?}", answer.body);
    put_policy(&server, Some(&reviewer.token), vec![0xff, 0xfe, b'\n']).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");

    // The valid policy is still in force, and still the one shown.
    assert_eq!(policy_text(get_policy(&server, &reviewer.token).await), valid);
    expect_limit(&transfer(&server, &alice, &bob, 30_01, None).await, "30.01 is over the per-transaction limit of 30.00");
    transfer(&server, &alice, &bob, 30_00, None).await.expect(StatusCode::CREATED);
    assert_eq!(audit_actions(&server, &auditor, "policy.replace").await.len(), 1, "refused policies are not audited as replacements");

    // The admin may replace it too.
    let next = "[limits]\nper_transaction_max = \"40.00\"\n";
    put_policy(&server, Some(ADMIN_TOKEN), next).await.expect(StatusCode::OK);
    assert_eq!(policy_text(get_policy(&server, &support.token).await), next);
    transfer(&server, &alice, &bob, 40_00, None).await.expect(StatusCode::CREATED);
    expect_limit(&transfer(&server, &alice, &bob, 40_01, None).await, "40.01 is over the per-transaction limit of 40.00");
    let audited = audit_actions(&server, &auditor, "policy.replace").await;
    assert_eq!(audited.len(), 2);
    assert_eq!(audited[0]["actor_id"], "admin", "newest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syntax_error_names_the_line_it_is_on() {
    let server = TestServer::start().await;
    let cases = [
        // Mid-line errors.
        ("[limits]\nper_transaction_max = \"10.00\ndaily_packet_count = 3\n", "line 2, "),
        ("[limits]\ndaily_packet_count = = 3\n", "line 2, "),
        // Errors at the start of a line: a key set twice, a table opened twice, a stray `=`.
        ("[limits]\ndaily_packet_count = 1\ndaily_packet_count = 2\n", "line 3, "),
        ("[limits]\ndaily_packet_count = 1\n\n[limits]\n", "line 4, "),
        ("[limits]\n= 3\n", "line 2, "),
    ];
    let mut wrong = Vec::new();
    for (policy, line) in cases {
        let answer = put_policy(&server, Some(ADMIN_TOKEN), policy).await;
        answer.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
        let detail = text(&answer.body["detail"]);
        if !detail.contains(line) {
            wrong.push(format!("{policy:?} should name {line:?}: {detail}"));
        }
    }
    assert!(wrong.is_empty(), "syntax errors name the wrong line:\n{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_line_of_a_bad_key_is_found_in_every_way_toml_can_set_it() {
    let server = TestServer::start().await;
    let cases = [
        ("# risk\n[limits]\n\"per_transaction_max\" = 5000\n", "line 3, key `limits.per_transaction_max`"),
        ("# risk\nlimits.per_transaction_max = 5000\n", "line 2, key `limits.per_transaction_max`"),
        ("# risk\n[ tags.strangers ]\ndaily_max = 5\n", "line 3, key `tags.strangers.daily_max`"),
        ("# risk\n[tags]\nstrangers.daily_max = 5\n", "line 3, key `tags.strangers.daily_max`"),
        ("# risk\nlimits = { per_transaction_max = 5000 }\n", "line 2, key `limits.per_transaction_max`"),
        ("# risk\n[tags]\nstrangers = { daily_max = 5 }\n", "line 3, key `tags.strangers.daily_max`"),
    ];
    let mut wrong = Vec::new();
    for (policy, named) in cases {
        let answer = put_policy(&server, Some(ADMIN_TOKEN), policy).await;
        answer.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
        let detail = text(&answer.body["detail"]);
        if !detail.contains(named) {
            wrong.push(format!("{policy:?} should name {named:?}: {detail}"));
        }
    }
    assert!(wrong.is_empty(), "refusals name the wrong line or key:\n{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_refuses_to_start_with_an_invalid_policy_naming_line_and_key() {
    let server = server_with_policy("[limits]\nper_transaction_max = \"30.00\"\n").await;
    let invalid = Config { policy_text: Some("# deployment\n[limits]\nper_transaction_max = 5000\n".into()), ..server.config.clone() };
    let error = Service::start(server.store.clone(), invalid, Arc::new(server.clock.clone())).map(|_| ()).expect_err("an invalid policy is refused at start");
    let message = error.to_string();
    assert!(message.contains("line 3, key `limits.per_transaction_max`"), "{message}");

    // The policy in force stays.
    assert_eq!(policy_text(get_policy(&server, ADMIN_TOKEN).await), "[limits]\nper_transaction_max = \"30.00\"\n");
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    expect_limit(&transfer(&server, &alice, &bob, 30_01, None).await, "30.01 is over the per-transaction limit of 30.00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_device_id_is_refused_and_changes_nothing() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    for device in ["phone 1", "a,b", &"x".repeat(129)] {
        server
            .call(Method::GET, "/v1/me", Some(&alice.token), None, &[("x-device-id", device)])
            .await
            .expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    }
    me(&server, &alice, "phone-1").await;
    me(&server, &alice, "phone-2").await;
    let events = server.get("/v1/events", &alice.token).await.expect(StatusCode::OK);
    assert_eq!(events["data"].as_array().expect("events").len(), 1, "only phone-2 is new; the refused ones were never recorded: {events}");
}
