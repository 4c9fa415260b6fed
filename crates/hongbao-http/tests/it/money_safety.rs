//! Regression tests of the ways outside testers lost money or failed other users' requests (issue
//! "Money safety"), each on both backends: text a backend cannot store, a wallet past the largest
//! amount, numbers that wrap, deadlines enforced only when a timer got to them, and an external
//! reference credited twice.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{ADMIN_TOKEN, START, TestServer, TestUser, without_timers, without_velocity_rule};

const MAX_AMOUNT: i64 = 1_000_000_000_000;

// ---- text a backend cannot store ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_with_a_nul_in_their_memo_are_refused_and_the_others_of_their_batches_go_through() {
    let server = TestServer::start().await;
    let recipient = server.user("recipient").await;
    let mut senders = Vec::new();
    for index in 0..25 {
        senders.push(server.funded_user(&format!("sender{index}"), 10_00).await);
    }
    let mut answers = Vec::new();
    for (index, sender) in senders.iter().enumerate() {
        let memo = if index % 5 == 0 { "x\u{0}y" } else { "lunch" };
        let body = json!({ "recipient_id": recipient.id, "amount": 1_00, "memo": memo, "arrival": "instant" });
        let (client, base, token) = (server.client.clone(), server.base.clone(), sender.token.clone());
        answers.push(tokio::spawn(async move {
            let response = client.post(format!("{base}/v1/transfers")).bearer_auth(token).json(&body).send().await.expect("an answer");
            let status = response.status();
            (status, response.json::<Value>().await.expect("a JSON answer"))
        }));
    }
    for (index, answer) in answers.into_iter().enumerate() {
        let (status, body) = answer.await.expect("the request task");
        if index % 5 == 0 {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["code"], "validation_failed");
            assert!(body["detail"].as_str().unwrap_or("").starts_with("memo "), "the field is named: {body}");
        } else {
            assert_eq!(status, StatusCode::CREATED, "an ordinary transfer beside the bad ones: {body}");
        }
    }
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_is_refused_in_every_text_field_with_the_field_named() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let group_id = server.group(&alice, &[&bob]).await;
    let nul = "a\u{0}b";
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (ADMIN_TOKEN, "/v1/users", json!({ "name": nul }), "name"),
        (ADMIN_TOKEN, "/v1/top-ups", json!({ "user_id": alice.id, "amount": 1_00, "reference": nul }), "reference"),
        (&alice.token, "/v1/withdrawals", json!({ "amount": 1_00, "reference": nul }), "reference"),
        (&alice.token, "/v1/groups", json!({ "name": nul, "member_ids": [bob.id] }), "name"),
        (&alice.token, "/v1/groups", json!({ "name": "g", "member_ids": [bob.id, nul] }), "member_ids[1]"),
        (&alice.token, "/v1/packets", json!({ "kind": "lucky", "group_id": group_id, "total_amount": 1_00, "shares": 1, "greeting": nul }), "greeting"),
        (&alice.token, "/v1/transfers", json!({ "recipient_id": bob.id, "amount": 1_00, "memo": nul, "arrival": "instant" }), "memo"),
        (&alice.token, "/v1/return-requests", json!({ "txn_no": "txn_x", "reason": nul }), "reason"),
        (&alice.token, "/v1/complaints", json!({ "kind": "other", "description": nul }), "description"),
        (ADMIN_TOKEN, "/v1/ops/operators", json!({ "name": nul, "role": "support" }), "name"),
        (ADMIN_TOKEN, "/v1/ops/webhooks", json!({ "url": format!("http://127.0.0.1:9/{nul}") }), "url"),
    ];
    for (token, path, body, field) in cases {
        let answer = server.post(path, token, body.clone()).await;
        answer.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
        let detail = answer.body["detail"].as_str().unwrap_or("");
        assert!(detail.starts_with(&format!("{field} ")), "{path} names {field}: {detail}");
    }
    let answer = server.call(reqwest::Method::PUT, &format!("/v1/tags/{}", bob.id), Some(&alice.token), Some(json!({ "tag": nul })), &[]).await;
    answer.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert!(answer.body["detail"].as_str().unwrap_or("").starts_with("tag "), "{:?}", answer.body);
    assert_eq!(server.balance(&alice).await, 100_00, "nothing changed");
    server.assert_verified();
}

// ---- no wallet past the largest amount ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_wallet_is_carried_past_the_largest_amount_and_nothing_else_is_affected() {
    let server = TestServer::start_with(without_velocity_rule()).await;
    let rich = server.user("rich").await;
    let other = server.user("other").await;
    let top_up = |user: &TestUser, amount: i64, reference: &str| json!({ "user_id": user.id, "amount": amount, "reference": reference });
    server.post("/v1/top-ups", ADMIN_TOKEN, top_up(&rich, MAX_AMOUNT, "bank-1")).await.expect(StatusCode::CREATED);
    // The second top-up would take the wallet past the most a wallet may hold; other users' top-ups
    // at the same moment go through.
    let (refused, beside) = tokio::join!(
        server.post("/v1/top-ups", ADMIN_TOKEN, top_up(&rich, MAX_AMOUNT, "bank-2")),
        server.post("/v1/top-ups", ADMIN_TOKEN, top_up(&other, 5_00, "bank-3")),
    );
    refused.expect_error(StatusCode::CONFLICT, "balance_limit_exceeded");
    beside.expect(StatusCode::CREATED);
    let wallet = server.get("/v1/wallet", &rich.token).await.expect(StatusCode::OK);
    assert_eq!(wallet["balance"], MAX_AMOUNT);

    // Money from other users cannot take it past the limit either: a transfer's acceptance and a claim
    // are refused, and the money stays where it was.
    let transfer = server.post("/v1/transfers", &other.token, json!({ "recipient_id": rich.id, "amount": 1_00, "arrival": "instant" })).await;
    let transfer_id = transfer.expect(StatusCode::CREATED)["id"].as_str().expect("an id").to_owned();
    server.post_empty(&format!("/v1/transfers/{transfer_id}/accept"), &rich.token).await.expect_error(StatusCode::CONFLICT, "balance_limit_exceeded");
    let packet = server.send_packet(&other, json!({ "kind": "normal", "recipient_id": rich.id, "amount_per_share": 1_00 })).await;
    server.post_empty(&format!("/v1/packets/{packet}/claim"), &rich.token).await.expect_error(StatusCode::CONFLICT, "balance_limit_exceeded");
    assert_eq!(server.balance(&rich).await, MAX_AMOUNT);
    // Once the wallet has room again, the money arrives.
    server.post("/v1/withdrawals", &rich.token, json!({ "amount": 10_00 })).await.expect(StatusCode::CREATED);
    server.post_empty(&format!("/v1/transfers/{transfer_id}/accept"), &rich.token).await.expect(StatusCode::OK);
    server.post_empty(&format!("/v1/packets/{packet}/claim"), &rich.token).await.expect(StatusCode::OK);
    assert_eq!(server.balance(&rich).await, MAX_AMOUNT - 10_00 + 2_00);
    server.assert_verified();
}

// ---- numbers that wrap ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_from_clients_out_of_range_are_refused_not_wrapped() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 10_00).await;
    for last_event_id in ["9223372036854775808", "18446744073709551615", "-1", "+5", "1e3", ""] {
        let answer = server.call(reqwest::Method::GET, "/v1/events/stream", Some(&alice.token), None, &[("Last-Event-ID", last_event_id)]).await;
        answer.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    }
    for query in ["cursor=c8000000000000000", "cursor=cffffffffffffffff", "cursor=c-1", "cursor=c+1", "limit=4294967297", "limit=0", "limit=201"] {
        server.get(&format!("/v1/transactions?{query}"), &alice.token).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
        server.get(&format!("/v1/events?{query}"), &alice.token).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    }
    for query in ["cursor=p-1.usr_x", "cursor=p%2B1.usr_x", "cursor=p8000000000000000.usr_x"] {
        server.get(&format!("/v1/return-requests?{query}"), &alice.token).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    }
    // The largest stored sequence number is accepted: nothing comes after it.
    let answer = server.get("/v1/events?cursor=c7fffffffffffffff", &alice.token).await.expect(StatusCode::OK);
    assert!(answer["data"].as_array().is_some_and(|events| !events.is_empty()), "events before the largest sequence number: {answer}");
    for amount in [json!(9_223_372_036_854_775_807_i64), json!(-1), json!(MAX_AMOUNT + 1), json!(1.5), json!("100")] {
        let body = json!({ "recipient_id": alice.id, "amount": amount, "arrival": "instant" });
        server.post("/v1/transfers", &alice.token, body).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    }
}

// ---- deadlines hold to the millisecond ----

async fn transfer(server: &TestServer, from: &TestUser, to: &TestUser, amount: i64, arrival: &str) -> String {
    let body = json!({ "recipient_id": to.id, "amount": amount, "arrival": arrival });
    server.post("/v1/transfers", &from.token, body).await.expect(StatusCode::CREATED)["id"].as_str().expect("an id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_transfer_past_its_arrival_can_no_longer_be_cancelled_or_returned() {
    let server = TestServer::start_with(without_timers(without_velocity_rule())).await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let id = transfer(&server, &alice, &bob, 10_00, "delay_2h").await;
    server.post_empty(&format!("/v1/transfers/{id}/accept"), &bob.token).await.expect(StatusCode::OK);
    // One millisecond after arrival, before any timer has settled it.
    server.clock.advance_millis(2 * 3_600_000 + 1);
    server.post_empty(&format!("/v1/transfers/{id}/cancel"), &alice.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    server.post_empty(&format!("/v1/transfers/{id}/return"), &bob.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    server.service.run_due_timers().await.expect("the timers");
    let settled = server.get(&format!("/v1/transfers/{id}"), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(settled["status"], "settled");
    assert_eq!((server.balance(&alice).await, server.balance(&bob).await), (90_00, 10_00));

    // One millisecond before arrival, cancelling still works.
    let id = transfer(&server, &alice, &bob, 10_00, "delay_2h").await;
    server.post_empty(&format!("/v1/transfers/{id}/accept"), &bob.token).await.expect(StatusCode::OK);
    server.clock.advance_millis(2 * 3_600_000 - 1);
    server.post_empty(&format!("/v1/transfers/{id}/cancel"), &alice.token).await.expect(StatusCode::OK);
    assert_eq!((server.balance(&alice).await, server.balance(&bob).await), (90_00, 10_00));
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_past_its_acceptance_deadline_can_no_longer_be_accepted_returned_or_cancelled() {
    let server = TestServer::start_with(without_timers(without_velocity_rule())).await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let id = transfer(&server, &alice, &bob, 10_00, "delay_24h").await;
    server.clock.advance_millis(86_400_000 + 1);
    server.post_empty(&format!("/v1/transfers/{id}/accept"), &bob.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    server.post_empty(&format!("/v1/transfers/{id}/return"), &bob.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    server.post_empty(&format!("/v1/transfers/{id}/cancel"), &alice.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    server.service.run_due_timers().await.expect("the timers");
    assert_eq!(server.get(&format!("/v1/transfers/{id}"), &alice.token).await.expect(StatusCode::OK)["status"], "expired");
    assert_eq!(server.balance(&alice).await, 100_00);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_request_past_its_deadline_can_no_longer_be_answered() {
    let server = TestServer::start_with(without_timers(without_velocity_rule())).await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.funded_user("bob", 100_00).await;
    let id = transfer(&server, &alice, &bob, 10_00, "instant").await;
    let settled = server.post_empty(&format!("/v1/transfers/{id}/accept"), &bob.token).await.expect(StatusCode::OK);
    let txn_no = settled["txn_nos"][1].as_str().expect("the settlement").to_owned();
    for answer in ["accept", "decline"] {
        let body = json!({ "txn_no": txn_no, "reason": "paid twice", "respond_within_seconds": 60 });
        let request = server.post("/v1/return-requests", &alice.token, body).await.expect(StatusCode::CREATED);
        let request_id = request["id"].as_str().expect("an id");
        server.clock.advance_millis(60_000 + 1);
        server.post_empty(&format!("/v1/return-requests/{request_id}/{answer}"), &bob.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");
        server.service.run_due_timers().await.expect("the timers");
    }
    assert_eq!(server.balance(&bob).await, 110_00);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmation_token_one_millisecond_past_its_expiry_confirms_nothing() {
    let policy = "[confirmation]\nthreshold = \"50.00\"\nttl_seconds = 60\n[velocity]\nmax_actions = 10000\n";
    let server = TestServer::start_with(without_timers(hongbao_service::Config { policy_text: Some(policy.into()), ..Default::default() })).await;
    let alice = server.funded_user("alice", 1_000_00).await;
    let bob = server.user("bob").await;
    let body = json!({ "recipient_id": bob.id, "amount": 60_00, "arrival": "instant" });
    let asked = server.post("/v1/transfers", &alice.token, body.clone()).await;
    asked.expect_error(StatusCode::CONFLICT, "confirmation_required");
    let token = asked.body["confirmation"]["token"].as_str().or_else(|| asked.body["token"].as_str()).expect("a token").to_owned();
    server.clock.advance_millis(60_000);
    let late = server.call(reqwest::Method::POST, "/v1/transfers", Some(&alice.token), Some(body.clone()), &[("Confirmation-Token", &token)]).await;
    late.expect_error(StatusCode::CONFLICT, "confirmation_required");
    assert_eq!(server.balance(&alice).await, 1_000_00);
    let fresh = late.body["confirmation"]["token"].as_str().or_else(|| late.body["token"].as_str()).expect("a new token").to_owned();
    server.clock.advance_millis(60_000 - 1);
    server.call(reqwest::Method::POST, "/v1/transfers", Some(&alice.token), Some(body), &[("Confirmation-Token", &fresh)]).await.expect(StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_ends_at_its_time_to_the_millisecond() {
    let server = TestServer::start_with(without_timers(without_velocity_rule())).await;
    let alice = server.funded_user("alice", 100_00).await;
    let reviewer = server.post("/v1/ops/operators", ADMIN_TOKEN, json!({ "name": "rita", "role": "reviewer" })).await.expect(StatusCode::CREATED);
    let reviewer = reviewer["token"].as_str().expect("a token").to_owned();
    let until = hongbao_core::Timestamp::from_millis(START.millis() + 60_000).to_rfc3339();
    let body = json!({ "user_id": alice.id, "until": until, "rule": "manual_review", "reason": "suspicious" });
    server.post("/v1/ops/freezes", &reviewer, body).await.expect(StatusCode::CREATED);
    server.clock.advance_millis(60_000 - 1);
    server.post("/v1/withdrawals", &alice.token, json!({ "amount": 1_00 })).await.expect_error(StatusCode::CONFLICT, "account_frozen");
    server.clock.advance_millis(1);
    server.post("/v1/withdrawals", &alice.token, json!({ "amount": 1_00 })).await.expect(StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_velocity_window_ends_to_the_millisecond() {
    let policy = "[velocity]\nmax_actions = 2\nwindow_seconds = 60\nfreeze_seconds = 600\n";
    let server = TestServer::start_with(without_timers(hongbao_service::Config { policy_text: Some(policy.into()), ..Default::default() })).await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let cancel = |id: String| {
        let server = &server;
        let token = alice.token.clone();
        async move { server.post_empty(&format!("/v1/transfers/{id}/cancel"), &token).await.expect(StatusCode::OK) }
    };
    let first = transfer(&server, &alice, &bob, 1_00, "delay_2h").await;
    cancel(first).await;
    server.clock.advance_millis(30_000);
    let second = transfer(&server, &alice, &bob, 1_00, "delay_2h").await;
    cancel(second).await;
    // The first cancel leaves the window exactly 60 s after it: a third cancel 1 ms later is the
    // second in the window, not the third, and freezes nothing.
    server.clock.advance_millis(30_000);
    let third = transfer(&server, &alice, &bob, 1_00, "delay_2h").await;
    server.clock.advance_millis(1);
    cancel(third).await;
    server.post("/v1/withdrawals", &alice.token, json!({ "amount": 1_00 })).await.expect(StatusCode::CREATED);
    // A fourth right away is the third in 60 s, and trips the rule.
    let fourth = transfer(&server, &alice, &bob, 1_00, "delay_2h").await;
    cancel(fourth).await;
    server.post("/v1/withdrawals", &alice.token, json!({ "amount": 1_00 })).await.expect_error(StatusCode::CONFLICT, "account_frozen");
}

// ---- an external reference names one movement ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_top_up_or_withdrawal_is_answered_as_the_first_and_never_credited_twice() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let body = json!({ "user_id": alice.id, "amount": 100_00, "reference": "bank-ref-1" });
    // The bank's callback retried many times at once.
    let mut answers = Vec::new();
    for _ in 0..8 {
        let (client, base, body) = (server.client.clone(), server.base.clone(), body.clone());
        answers.push(tokio::spawn(async move {
            let response = client.post(format!("{base}/v1/top-ups")).bearer_auth(ADMIN_TOKEN).json(&body).send().await.expect("an answer");
            (response.status(), response.json::<Value>().await.expect("JSON"))
        }));
    }
    let mut txn_nos = std::collections::BTreeSet::new();
    for answer in answers {
        let (status, body) = answer.await.expect("the request task");
        assert_eq!(status, StatusCode::CREATED, "{body}");
        txn_nos.insert(body["txn_no"].as_str().expect("a txn_no").to_owned());
    }
    assert_eq!(txn_nos.len(), 1, "every retry is answered with the first transaction");
    assert_eq!(server.balance(&alice).await, 100_00);
    // The same reference for another user or amount is refused.
    server
        .post("/v1/top-ups", ADMIN_TOKEN, json!({ "user_id": bob.id, "amount": 100_00, "reference": "bank-ref-1" }))
        .await
        .expect_error(StatusCode::CONFLICT, "reference_reused");
    server
        .post("/v1/top-ups", ADMIN_TOKEN, json!({ "user_id": alice.id, "amount": 99_00, "reference": "bank-ref-1" }))
        .await
        .expect_error(StatusCode::CONFLICT, "reference_reused");
    // Withdrawals alike, and a withdrawal's reference is its own: it may equal a top-up's.
    let first = server.post("/v1/withdrawals", &alice.token, json!({ "amount": 10_00, "reference": "bank-ref-1" })).await.expect(StatusCode::CREATED);
    let again = server.post("/v1/withdrawals", &alice.token, json!({ "amount": 10_00, "reference": "bank-ref-1" })).await.expect(StatusCode::CREATED);
    assert_eq!(first["txn_no"], again["txn_no"]);
    server
        .post("/v1/withdrawals", &alice.token, json!({ "amount": 20_00, "reference": "bank-ref-1" }))
        .await
        .expect_error(StatusCode::CONFLICT, "reference_reused");
    assert_eq!(server.balance(&alice).await, 90_00);
    server.assert_verified();
}
