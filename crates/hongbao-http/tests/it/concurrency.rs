//! Races over real HTTP: a thousand members grabbing a hundred shares at once, and claims racing a
//! recall or the packet's expiry. Whatever the interleaving, every fen is counted exactly once.

use std::collections::{HashMap, HashSet};

use hongbao_service::{Clock, Config};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::harness::{Answer, TestServer, TestUser};

fn integer(value: &Value, field: &str) -> i64 {
    value[field].as_i64().unwrap_or_else(|| panic!("{field} is an integer in {value}"))
}

/// Spawns one claim per user; each task answers with the claimer's id and the answer.
fn spawn_claims(server: &TestServer, packet_id: &str, claimers: &[TestUser], claims: &mut JoinSet<(String, Answer)>) {
    for claimer in claimers {
        let endpoint = server.endpoint();
        let path = format!("/v1/packets/{packet_id}/claim");
        let claimer = claimer.clone();
        claims.spawn(async move {
            let answer = endpoint.post_empty(&path, &claimer.token).await;
            (claimer.id, answer)
        });
    }
}

/// What the claim answers say: the amount each successful claimer got. Every refusal must carry one
/// of `allowed_refusals` (status and code).
fn successful_claims(results: &[(String, Answer)], allowed_refusals: &[(StatusCode, &str)]) -> HashMap<String, Value> {
    let mut winners = HashMap::new();
    for (user_id, answer) in results {
        if answer.status == StatusCode::OK {
            assert_eq!(answer.body["user_id"], user_id.as_str());
            let previous = winners.insert(user_id.clone(), answer.body.clone());
            assert!(previous.is_none(), "{user_id} claimed twice");
        } else {
            let code = answer.code();
            assert!(allowed_refusals.contains(&(answer.status, code)), "unexpected refusal for {user_id}: {} {:?}", answer.status, answer.body);
        }
    }
    winners
}

/// The money-counted-once checks on a finished packet against the claim answers: the claims list holds
/// exactly the successful claimers, once each, with the amounts they were told; claimed and refunded
/// add up to the total; and the packet's escrow is empty.
fn assert_counted_once(server: &TestServer, packet: &Value, winners: &HashMap<String, Value>) {
    let claims = packet["claims"].as_array().expect("claims");
    let claimers: Vec<&str> = claims.iter().map(|claim| claim["user_id"].as_str().expect("user id")).collect();
    let distinct: HashSet<&str> = claimers.iter().copied().collect();
    assert_eq!(distinct.len(), claimers.len(), "nobody appears twice in the claims: {claimers:?}");
    let winner_ids: HashSet<&str> = winners.keys().map(String::as_str).collect();
    assert_eq!(distinct, winner_ids, "the claims list holds exactly the claims that were answered 200");
    for claim in claims {
        let answered = &winners[claim["user_id"].as_str().expect("user id")];
        assert_eq!(claim["amount"], answered["amount"], "the listed amount is the answered amount");
        assert_eq!(claim["txn_no"], answered["txn_no"]);
    }
    let claimed_sum: i64 = claims.iter().map(|claim| integer(claim, "amount")).sum();
    assert_eq!(integer(packet, "claimed_amount"), claimed_sum);
    assert_eq!(integer(packet, "claimed_count"), claims.len() as i64);
    assert_eq!(
        integer(packet, "claimed_amount") + integer(packet, "refunded_amount"),
        integer(packet, "total_amount"),
        "claimed + refunded == total: {packet}"
    );
    let escrow = format!("escrow:{}", packet["id"].as_str().expect("packet id"));
    let (balances, _) = server.ledger_state();
    let in_escrow = balances.iter().find(|(account, _)| *account == escrow).map_or(0, |(_, balance)| *balance);
    assert_eq!(in_escrow, 0, "a finished packet's escrow is empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_members_race_for_a_hundred_shares() {
    // A thousand claims at once open a thousand connections, more than the default limit takes.
    let http = hongbao_http::HttpConfig {
        limits: hongbao_http::HttpLimits { max_connections: 2_000, ..hongbao_http::HttpLimits::default() },
        ..hongbao_http::HttpConfig::default()
    };
    let server = TestServer::start_with_http(Config { max_group_members: 2_000, ..Config::default() }, http).await;
    assert_eq!(server.service.config().max_group_members, 2_000, "groups over 500 need a raised limit");
    let sender = server.funded_user("sender", 100_00).await;
    let claimers = server.users_concurrently("claimer", 1_000, 64).await;
    let group_id = server.group(&sender, &claimers.iter().collect::<Vec<_>>()).await;
    let group = server.get(&format!("/v1/groups/{group_id}"), &sender.token).await.expect(StatusCode::OK);
    assert_eq!(group["member_ids"].as_array().expect("member ids").len(), 1_001);
    let packet_id = server.send_packet(&sender, json!({ "kind": "lucky", "group_id": group_id, "total_amount": 100_00, "shares": 100 })).await;

    let mut claims = JoinSet::new();
    spawn_claims(&server, &packet_id, &claimers, &mut claims);
    let results = claims.join_all().await;
    assert_eq!(results.len(), 1_000);
    let winners = successful_claims(&results, &[(StatusCode::CONFLICT, "packet_exhausted")]);
    assert_eq!(winners.len(), 100, "exactly as many claims succeed as there are shares");
    assert_eq!(results.iter().filter(|(_, answer)| answer.status == StatusCode::CONFLICT).count(), 900, "everyone else hears packet_exhausted");
    assert_eq!(winners.values().map(|claim| integer(claim, "amount")).sum::<i64>(), 100_00, "the claimed amounts sum to the total");

    let packet = server.packet(&packet_id, &sender).await;
    assert_eq!(packet["status"], "exhausted");
    assert_eq!(packet["refunded_amount"], 0);
    assert_counted_once(&server, &packet, &winners);
    assert!(winners.contains_key(packet["luckiest_user_id"].as_str().expect("a luckiest claimer")));
    let (balances, _) = server.ledger_state();
    let claimer_wallets: i64 = claimers
        .iter()
        .map(|claimer| balances.iter().find(|(account, _)| *account == format!("wallet:{}", claimer.id)).map_or(0, |(_, balance)| *balance))
        .sum();
    assert_eq!(claimer_wallets, 100_00, "the claimers' wallets hold the total between them");
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_racing_a_recall_count_every_fen_once() {
    // Many recalls and requests in a moment by design: the velocity rule is not what this tests.
    let server = TestServer::start_with(crate::harness::without_velocity_rule()).await;
    let sender = server.funded_user("sender", 1_000_00).await;
    let claimers = server.users_concurrently("claimer", 12, 12).await;
    let group_id = server.group(&sender, &claimers.iter().collect::<Vec<_>>()).await;
    let shares = 8;
    let total = 8_00;
    let mut total_claimed = 0;
    let mut recalled_rounds = 0;
    for round in 0..24 {
        let packet_id = server.send_packet(&sender, json!({ "kind": "lucky", "group_id": group_id, "total_amount": total, "shares": shares })).await;
        // The recall is sent after a different number of claims each round, so it lands in different places.
        let recall_after = round % (claimers.len() + 1);
        let mut claims = JoinSet::new();
        spawn_claims(&server, &packet_id, &claimers[..recall_after], &mut claims);
        let endpoint = server.endpoint();
        let recall_path = format!("/v1/packets/{packet_id}/recall");
        let sender_token = sender.token.clone();
        let recall = tokio::spawn(async move { endpoint.post_empty(&recall_path, &sender_token).await });
        spawn_claims(&server, &packet_id, &claimers[recall_after..], &mut claims);
        let results = claims.join_all().await;
        let recall = recall.await.expect("the recall task does not panic");

        let winners = successful_claims(&results, &[(StatusCode::CONFLICT, "packet_exhausted"), (StatusCode::GONE, "packet_recalled")]);
        let packet = server.packet(&packet_id, &sender).await;
        assert_counted_once(&server, &packet, &winners);
        if recall.status == StatusCode::OK {
            recalled_rounds += 1;
            assert_eq!(packet["status"], "recalled");
            assert_eq!(recall.body["status"], "recalled");
            assert_eq!(recall.body["claims"], packet["claims"], "no claim lands after a recall");
            assert_eq!(recall.body["refunded_amount"], packet["refunded_amount"]);
        } else {
            recall.expect_error(StatusCode::CONFLICT, "invalid_state");
            assert_eq!(packet["status"], "exhausted", "a recall is refused only once every share is claimed");
            assert_eq!(winners.len(), shares);
            assert!(results.iter().all(|(_, answer)| answer.status != StatusCode::GONE), "nobody hears packet_recalled when the recall failed");
        }
        total_claimed += integer(&packet, "claimed_amount");
    }
    assert!(recalled_rounds > 0, "at least one recall won its race");
    assert_eq!(server.balance(&sender).await, 1_000_00 - total_claimed, "the sender lost exactly what was claimed");
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_racing_expiry_count_every_fen_once() {
    let server = TestServer::start().await;
    let sender = server.funded_user("sender", 1_000_00).await;
    let claimers = server.users_concurrently("claimer", 12, 12).await;
    let group_id = server.group(&sender, &claimers.iter().collect::<Vec<_>>()).await;
    let shares = 8;
    let total = 8_00;
    let mut total_claimed = 0;
    let mut expired_rounds = 0;
    for round in 0..16 {
        let sent_at = server.clock.now();
        let packet_id = server.send_packet(&sender, json!({ "kind": "lucky", "group_id": group_id, "total_amount": total, "shares": shares })).await;
        let expires_at = sent_at.plus_seconds(86_400);
        assert_eq!(server.packet(&packet_id, &sender).await["expires_at"], expires_at.to_rfc3339());

        let mut claims = JoinSet::new();
        spawn_claims(&server, &packet_id, &claimers, &mut claims);
        // Move the clock to expires_at after a different number of answers each round, claims still in flight.
        let mut results = Vec::new();
        for _ in 0..(round % 6) {
            results.push(claims.join_next().await.expect("a claim is running").expect("a claim task does not panic"));
        }
        server.clock.set(expires_at);
        results.extend(claims.join_all().await);

        let winners = successful_claims(&results, &[(StatusCode::CONFLICT, "packet_exhausted"), (StatusCode::GONE, "packet_expired")]);
        for claim in winners.values() {
            assert!(claim["claimed_at"].as_str().expect("claimed_at") < expires_at.to_rfc3339().as_str(), "a claim succeeded at or after expires_at: {claim}");
        }
        let packet = server.wait_until_finished(&packet_id, &sender).await;
        assert_counted_once(&server, &packet, &winners);
        match packet["status"].as_str() {
            Some("expired") => {
                expired_rounds += 1;
                let refunded = integer(&packet, "refunded_amount");
                assert!(refunded > 0, "an expired packet had something left to refund");
                assert!(packet["refund_txn_no"].is_string());
            }
            Some("exhausted") => assert_eq!(winners.len(), shares),
            other => panic!("a raced packet ends expired or exhausted, not {other:?}"),
        }
        total_claimed += integer(&packet, "claimed_amount");
    }
    assert!(expired_rounds > 0, "at least one expiry won its race");
    assert_eq!(server.balance(&sender).await, 1_000_00 - total_claimed, "the sender lost exactly what was claimed");
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_claiming_many_times_at_once_claims_once() {
    let server = TestServer::start().await;
    let sender = server.funded_user("sender", 10_00).await;
    let claimer = server.user("claimer").await;
    let other = server.user("other").await;
    let group_id = server.group(&sender, &[&claimer, &other]).await;
    let packet_id = server.send_packet(&sender, json!({ "kind": "lucky", "group_id": group_id, "total_amount": 2_00, "shares": 2 })).await;
    let mut claims = JoinSet::new();
    spawn_claims(&server, &packet_id, &vec![claimer.clone(); 20], &mut claims);
    let results = claims.join_all().await;
    let successes = results.iter().filter(|(_, answer)| answer.status == StatusCode::OK).count();
    assert_eq!(successes, 1, "one user claims once however many requests race");
    for (_, answer) in results.iter().filter(|(_, answer)| answer.status != StatusCode::OK) {
        answer.expect_error(StatusCode::CONFLICT, "already_claimed");
    }
    let packet = server.packet(&packet_id, &sender).await;
    assert_eq!(packet["claimed_count"], 1);
    assert_eq!(packet["status"], "open", "the other share is still there");
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_recalls_refund_once() {
    let server = TestServer::start().await;
    let sender = server.funded_user("sender", 10_00).await;
    let recipient = server.user("recipient").await;
    let packet_id = server.send_packet(&sender, json!({ "kind": "normal", "recipient_id": recipient.id, "amount_per_share": 4_00 })).await;
    let mut recalls = JoinSet::new();
    for _ in 0..10 {
        let endpoint = server.endpoint();
        let path = format!("/v1/packets/{packet_id}/recall");
        let token = sender.token.clone();
        recalls.spawn(async move { endpoint.post_empty(&path, &token).await });
    }
    let answers = recalls.join_all().await;
    assert_eq!(answers.iter().filter(|answer| answer.status == StatusCode::OK).count(), 1, "one recall wins");
    for answer in answers.iter().filter(|answer| answer.status != StatusCode::OK) {
        answer.expect_error(StatusCode::CONFLICT, "invalid_state");
    }
    assert_eq!(server.balance(&sender).await, 10_00, "the packet is refunded once");
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_sends_and_withdrawals_never_overdraw_a_wallet() {
    let server = TestServer::start().await;
    let sender = server.funded_user("sender", 10_00).await;
    let recipient = server.user("recipient").await;
    let mut requests = JoinSet::new();
    for index in 0..30 {
        let endpoint = server.endpoint();
        let token = sender.token.clone();
        let recipient_id = recipient.id.clone();
        requests.spawn(async move {
            if index % 2 == 0 {
                endpoint
                    .call(
                        reqwest::Method::POST,
                        "/v1/packets",
                        Some(&token),
                        Some(json!({ "kind": "normal", "recipient_id": recipient_id, "amount_per_share": 1_00 })),
                    )
                    .await
            } else {
                endpoint.call(reqwest::Method::POST, "/v1/withdrawals", Some(&token), Some(json!({ "amount": 1_00 }))).await
            }
        });
    }
    let answers = requests.join_all().await;
    let created = answers.iter().filter(|answer| answer.status == StatusCode::CREATED).count();
    assert_eq!(created, 10, "exactly the balance is spent");
    for answer in answers.iter().filter(|answer| answer.status != StatusCode::CREATED) {
        answer.expect_error(StatusCode::CONFLICT, "insufficient_funds");
    }
    assert_eq!(server.balance(&sender).await, 0);
    let (balances, _) = server.ledger_state();
    assert!(balances.iter().filter(|(account, _)| account.starts_with("wallet:")).all(|(_, balance)| *balance >= 0), "no wallet is negative: {balances:?}");
    assert_eq!(balances.iter().map(|(_, balance)| balance).sum::<i64>(), 0, "all accounts sum to zero");
    server.assert_verified();
}

/// `verify` is what an auditor runs to trust the ledger, and with several servers on one database there
/// is no quiet moment to run it in: it must see one consistent state, never half of a commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_is_clean_while_packets_are_claimed_and_refunded() {
    // Many recalls and requests in a moment by design: the velocity rule is not what this tests.
    let server = TestServer::start_with(crate::harness::without_velocity_rule()).await;
    let sender = server.funded_user("sender", 1_000_00).await;
    let claimer = server.user("claimer").await;
    let group_id = server.group(&sender, &[&claimer]).await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let store = server.store.clone();
    let verifier_stop = stop.clone();
    let verifier = tokio::task::spawn_blocking(move || {
        let mut runs = 0;
        let mut torn = Vec::new();
        while !verifier_stop.load(std::sync::atomic::Ordering::SeqCst) || runs == 0 {
            let mut reader = store.open_reader().expect("a reader");
            let report = hongbao_service::verify::verify(reader.as_mut()).expect("verify reads the journal");
            if !report.is_clean() {
                torn.push(report.to_string());
            }
            runs += 1;
        }
        (runs, torn)
    });

    for _ in 0..60 {
        let packet_id = server.send_packet(&sender, json!({ "kind": "normal", "group_id": group_id, "amount_per_share": 1_00, "shares": 2 })).await;
        server.post_empty(&format!("/v1/packets/{packet_id}/claim"), &claimer.token).await.expect(StatusCode::OK);
        server.post_empty(&format!("/v1/packets/{packet_id}/recall"), &sender.token).await.expect(StatusCode::OK);
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (runs, torn) = verifier.await.expect("the verifier does not panic");
    assert!(runs > 0);
    assert!(torn.is_empty(), "verify reported {} discrepancies in {runs} runs on a live database, first: {:?}", torn.len(), torn.first());
    server.assert_verified();
}
