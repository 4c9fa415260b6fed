//! Transfers over HTTP: every transition and refusal, the timers, and the races between the two
//! parties and the clock.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, TestUser, WAIT, eventually};

async fn send(server: &TestServer, sender: &TestUser, recipient: &TestUser, amount: i64, arrival: &str) -> Value {
    server
        .post("/v1/transfers", &sender.token, json!({ "recipient_id": recipient.id, "amount": amount, "memo": "房租", "arrival": arrival }))
        .await
        .expect(StatusCode::CREATED)
}

fn id(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

async fn wait_for_transfer(server: &TestServer, id: &str, viewer: &TestUser, status: &str) -> Value {
    server.wait_for(&format!("/v1/transfers/{id}"), &viewer.token, status).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_transfer_is_held_then_settles_on_acceptance() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let transfer = send(&server, &alice, &bob, 30_00, "instant").await;
    assert_eq!(transfer["status"], "pending");
    assert_eq!(transfer["memo"], "房租");
    assert_eq!(transfer["arrives_at"], transfer["created_at"]);
    assert_eq!(transfer["txn_nos"].as_array().map(Vec::len), Some(1));
    assert_eq!(server.balance(&alice).await, 70_00, "the sender is debited into the hold at once");
    assert_eq!(server.balance(&bob).await, 0);
    let path = format!("/v1/transfers/{}", id(&transfer));
    server.get(&path, &carol.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.post_empty(&format!("{path}/accept"), &carol.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    server.post_empty(&format!("{path}/accept"), &alice.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    server.post_empty(&format!("{path}/cancel"), &alice.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");

    let settled = server.post_empty(&format!("{path}/accept"), &bob.token).await.expect(StatusCode::OK);
    assert_eq!(settled["status"], "settled");
    assert!(settled["settled_at"].is_string() && settled["accepted_at"].is_string());
    let txn_nos = settled["txn_nos"].as_array().expect("txn_nos");
    assert_eq!(txn_nos.len(), 2);
    assert_eq!(server.balance(&bob).await, 30_00);
    let settlement = server.get(&format!("/v1/transactions/{}", txn_nos[1].as_str().expect("txn")), &bob.token).await.expect(StatusCode::OK);
    assert_eq!(settlement["kind"], "transfer_settle");
    assert_eq!(settlement["related"]["transfer_id"], id(&transfer).as_str());
    assert_eq!(settlement["memo"], "房租");
    let sent = server.get(&format!("/v1/transactions/{}", txn_nos[0].as_str().expect("txn")), &bob.token).await.expect(StatusCode::OK);
    assert_eq!(sent["kind"], "transfer_send", "the recipient sees the send too");
    server.post_empty(&format!("{path}/accept"), &bob.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    server.post_empty(&format!("{path}/return"), &bob.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    let history = server.get("/v1/transactions", &alice.token).await.expect(StatusCode::OK);
    assert_eq!(history["data"][0]["kind"], "transfer_send");
    assert_eq!(history["data"][0]["wallet_delta"], -30_00);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_transfer_settles_at_the_later_of_acceptance_and_arrival() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;

    let early = send(&server, &alice, &bob, 10_00, "delay_2h").await;
    let path = format!("/v1/transfers/{}", id(&early));
    let accepted = server.post_empty(&format!("{path}/accept"), &bob.token).await.expect(StatusCode::OK);
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(server.balance(&bob).await, 0, "no money before the arrival time");
    server.clock.advance_seconds(7_199);
    assert_eq!(server.get(&path, &bob.token).await.expect(StatusCode::OK)["status"], "accepted");
    server.clock.advance_seconds(1);
    let settled = wait_for_transfer(&server, &id(&early), &bob, "settled").await;
    assert_eq!(settled["settled_at"], settled["arrives_at"]);
    assert_eq!(server.balance(&bob).await, 10_00);

    let late = send(&server, &alice, &bob, 5_00, "delay_24h").await;
    server.clock.advance_seconds(86_399);
    let settled = server.post_empty(&format!("/v1/transfers/{}/accept", id(&late)), &bob.token).await.expect(StatusCode::OK);
    assert_eq!(settled["status"], "accepted", "arrival is still one second away");
    server.clock.advance_seconds(1);
    wait_for_transfer(&server, &id(&late), &bob, "settled").await;
    assert_eq!(server.balance(&bob).await, 15_00);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_cancel_and_expiry_send_the_money_back_once() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;

    let returned = send(&server, &alice, &bob, 10_00, "instant").await;
    let path = format!("/v1/transfers/{}", id(&returned));
    server.post_empty(&format!("{path}/return"), &alice.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    let answer = server.post_empty(&format!("{path}/return"), &bob.token).await.expect(StatusCode::OK);
    assert_eq!(answer["status"], "returned");
    assert_eq!(server.balance(&alice).await, 100_00);
    let refund = server.get(&format!("/v1/transactions/{}", answer["txn_nos"][1].as_str().expect("txn")), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(refund["kind"], "transfer_refund");

    let cancelled = send(&server, &alice, &bob, 20_00, "delay_2h").await;
    let path = format!("/v1/transfers/{}", id(&cancelled));
    server.post_empty(&format!("{path}/accept"), &bob.token).await.expect(StatusCode::OK);
    server.post_empty(&format!("{path}/cancel"), &bob.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    let answer = server.post_empty(&format!("{path}/cancel"), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(answer["status"], "cancelled");
    assert_eq!(server.balance(&alice).await, 100_00, "the money comes back at once");
    server.clock.advance_seconds(7_200);
    server.service.run_due_timers().await.expect("timers run");
    assert_eq!(server.balance(&bob).await, 0, "a cancelled transfer never arrives");
    server.post_empty(&format!("{path}/cancel"), &alice.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");

    let ignored = send(&server, &alice, &bob, 7_00, "instant").await;
    server.clock.advance_seconds(86_400);
    let expired = wait_for_transfer(&server, &id(&ignored), &alice, "expired").await;
    assert_eq!(expired["txn_nos"].as_array().map(Vec::len), Some(2));
    server.post_empty(&format!("/v1/transfers/{}/accept", id(&ignored)), &bob.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    assert_eq!(server.balance(&alice).await, 100_00);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_transfers_change_nothing() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 10_00).await;
    let bob = server.user("bob").await;
    let before = server.ledger_state();
    let post = |body: Value| server.post("/v1/transfers", &alice.token, body);
    post(json!({ "recipient_id": bob.id, "amount": 10_01, "arrival": "instant" })).await.expect_error(StatusCode::CONFLICT, "insufficient_funds");
    post(json!({ "recipient_id": alice.id, "amount": 1, "arrival": "instant" })).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    post(json!({ "recipient_id": bob.id, "amount": 1, "arrival": "later" })).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    post(json!({ "recipient_id": bob.id, "amount": 1, "arrival": "instant", "memo": "x".repeat(101) }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    post(json!({ "recipient_id": bob.id, "amount": 0, "arrival": "instant" })).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    post(json!({ "recipient_id": "usr_nobody", "amount": 1, "arrival": "instant" })).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    post(json!({ "recipient_id": bob.id, "amount": 1, "arrival": "instant", "extra": 1 })).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(server.ledger_state(), before);
    let memo = "转".repeat(100);
    let transfer = post(json!({ "recipient_id": bob.id, "amount": 1, "arrival": "instant", "memo": memo })).await.expect(StatusCode::CREATED);
    assert_eq!(transfer["memo"].as_str().map(|memo| memo.chars().count()), Some(100));
    server.get("/v1/transfers/trf_nosuch", &alice.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
}

/// Runs two requests at the same moment, many times, and checks that exactly one wins each time;
/// answers how many rounds ended in each state.
async fn race(server: &TestServer, rounds: usize, setup: impl AsyncFn(&TestServer) -> (String, TestUser, String, TestUser, String)) -> Vec<String> {
    let mut outcomes = Vec::new();
    for _ in 0..rounds {
        let (first_path, first_user, second_path, second_user, expected_winner_states) = setup(server).await;
        let (one, two) = (server.endpoint(), server.endpoint());
        let (first, second) = tokio::join!(one.post_empty(&first_path, &first_user.token), two.post_empty(&second_path, &second_user.token));
        let winners = [&first, &second].iter().filter(|answer| answer.status == StatusCode::OK).count();
        assert_eq!(winners, 1, "exactly one wins: {:?} / {:?}", first.body, second.body);
        let loser = if first.status == StatusCode::OK { &second } else { &first };
        loser.expect_error(StatusCode::CONFLICT, "invalid_state");
        let winner = if first.status == StatusCode::OK { &first } else { &second };
        assert!(expected_winner_states.split('|').any(|state| winner.body["status"] == state), "{:?}", winner.body);
        outcomes.push(winner.body["status"].as_str().expect("a status").to_owned());
    }
    server.assert_verified();
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_races_cancel_and_return_races_settlement() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 1_000_00).await;
    let bob = server.user("bob").await;
    // At the arrival time, acceptance settles at once, so accepting and cancelling exclude each other.
    let mut outcomes = race(&server, 25, async |server: &TestServer| {
        let transfer = send(server, &alice, &bob, 1_00, "delay_2h").await;
        server.clock.advance_seconds(7_200);
        let path = format!("/v1/transfers/{}", id(&transfer));
        (format!("{path}/accept"), bob.clone(), format!("{path}/cancel"), alice.clone(), "settled|cancelled".to_owned())
    })
    .await;
    outcomes.extend(
        race(&server, 25, async |server: &TestServer| {
            let transfer = send(server, &alice, &bob, 1_00, "instant").await;
            let path = format!("/v1/transfers/{}", id(&transfer));
            (format!("{path}/accept"), bob.clone(), format!("{path}/return"), bob.clone(), "settled|returned".to_owned())
        })
        .await,
    );
    // Every transfer ended exactly one way and its hold is empty: Bob has 1.00 for each one that
    // settled, and Alice the rest of her 1,000.00, to the fen.
    let settled = outcomes.iter().filter(|status| *status == "settled").count() as i64;
    assert_eq!(outcomes.len(), 50);
    assert_eq!(server.balance(&bob).await, settled * 1_00, "{outcomes:?}");
    assert_eq!(server.balance(&alice).await, 1_000_00 - settled * 1_00, "{outcomes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_and_accept_race_the_clock() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 1_000_00).await;
    let bob = server.user("bob").await;
    for round in 0..20 {
        // Return against settlement at the arrival time.
        let transfer = send(&server, &alice, &bob, 1_00, "delay_2h").await;
        let path = format!("/v1/transfers/{}", id(&transfer));
        server.post_empty(&format!("{path}/accept"), &bob.token).await.expect(StatusCode::OK);
        server.clock.advance_seconds(7_200);
        let returned = server.post_empty(&format!("{path}/return"), &bob.token).await;
        let settled = wait_for_transfer_end(&server, &id(&transfer), &bob).await;
        match returned.status {
            StatusCode::OK => assert_eq!(settled["status"], "returned", "round {round}"),
            _ => {
                returned.expect_error(StatusCode::CONFLICT, "invalid_state");
                assert_eq!(settled["status"], "settled", "round {round}");
            }
        }
        assert_eq!(settled["txn_nos"].as_array().map(Vec::len), Some(2), "the hold is released once");

        // Accept against expiry at the acceptance deadline.
        let transfer = send(&server, &alice, &bob, 1_00, "instant").await;
        server.clock.advance_seconds(86_399);
        let endpoint = server.endpoint();
        let accept_path = format!("/v1/transfers/{}/accept", id(&transfer));
        let (_, accepted) = tokio::join!(
            async {
                server.clock.advance_seconds(1);
                server.service.run_due_timers().await.expect("timers")
            },
            endpoint.post_empty(&accept_path, &bob.token)
        );
        let finished = wait_for_transfer_end(&server, &id(&transfer), &bob).await;
        match accepted.status {
            StatusCode::OK => assert_eq!(finished["status"], "settled"),
            _ => {
                accepted.expect_error(StatusCode::CONFLICT, "invalid_state");
                assert_eq!(finished["status"], "expired");
            }
        }
        assert_eq!(finished["txn_nos"].as_array().map(Vec::len), Some(2));
    }
    server.assert_verified();
}

async fn wait_for_transfer_end(server: &TestServer, id: &str, viewer: &TestUser) -> Value {
    eventually(&format!("transfer {id} finishing"), WAIT, || async {
        let transfer = server.get(&format!("/v1/transfers/{id}"), &viewer.token).await.expect(StatusCode::OK);
        if transfer["status"] != "pending" && transfer["status"] != "accepted" { Ok(transfer) } else { Err(transfer.to_string()) }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_that_pass_while_the_server_is_down_are_carried_out_once_at_start() {
    let mut server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let ignored = send(&server, &alice, &bob, 10_00, "instant").await;
    let arriving = send(&server, &alice, &bob, 20_00, "delay_24h").await;
    server.post_empty(&format!("/v1/transfers/{}/accept", id(&arriving)), &bob.token).await.expect(StatusCode::OK);
    let settled = send(&server, &alice, &bob, 5_00, "instant").await;
    let accepted = server.post_empty(&format!("/v1/transfers/{}/accept", id(&settled)), &bob.token).await.expect(StatusCode::OK);
    let request = server
        .post("/v1/return-requests", &alice.token, json!({ "txn_no": accepted["txn_nos"][1], "reason": "by mistake", "respond_within_seconds": 3_600 }))
        .await
        .expect(StatusCode::CREATED);

    // Down for a day and a second: the acceptance deadline, the arrival and the request's deadline pass.
    server.restart_after(86_401).await;
    let expired = wait_for_transfer_end(&server, &id(&ignored), &alice).await;
    assert_eq!(expired["status"], "expired");
    let arrived = wait_for_transfer_end(&server, &id(&arriving), &bob).await;
    assert_eq!(arrived["status"], "settled");
    let path = format!("/v1/return-requests/{}", request["id"].as_str().expect("id"));
    server.wait_for(&path, &alice.token, "expired").await;
    assert_eq!(server.balance(&alice).await, 100_00 - 20_00 - 5_00);
    assert_eq!(server.balance(&bob).await, 25_00);

    // Once: another restart changes nothing.
    let before = server.ledger_state();
    server.restart_after(86_400).await;
    assert_eq!(server.service.run_due_timers().await.expect("timers"), 0);
    assert_eq!(server.ledger_state(), before);
    assert_eq!(expired["txn_nos"].as_array().map(Vec::len), Some(2));
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_deadlines_set_through_configuration() {
    use hongbao_core::returns::ReturnRules;
    use hongbao_core::transfer::TransferTimings;
    use hongbao_service::Config;

    let config = Config {
        transfers: TransferTimings { accept_ttl_seconds: 5, delay_2h_seconds: 2, delay_24h_seconds: 3, ..TransferTimings::default() },
        returns: ReturnRules { default_respond_within_seconds: 4, ..ReturnRules::default() },
        ..Config::default()
    };
    let server = TestServer::start_with(config).await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let delayed = send(&server, &alice, &bob, 1_00, "delay_2h").await;
    let seconds = |from: &Value, to: &Value| {
        let parse = |value: &Value| hongbao_http::case_dto::parse_time("a time", value.as_str().expect("a time")).expect("RFC 3339").millis();
        (parse(to) - parse(from)) / 1000
    };
    assert_eq!(seconds(&delayed["created_at"], &delayed["arrives_at"]), 2);
    assert_eq!(seconds(&delayed["created_at"], &delayed["accept_by"]), 5);
    let longer = send(&server, &alice, &bob, 1_00, "delay_24h").await;
    assert_eq!(seconds(&longer["created_at"], &longer["arrives_at"]), 3);

    let settled = send(&server, &alice, &bob, 2_00, "instant").await;
    let accepted = server.post_empty(&format!("/v1/transfers/{}/accept", id(&settled)), &bob.token).await.expect(StatusCode::OK);
    let request =
        server.post("/v1/return-requests", &alice.token, json!({ "txn_no": accepted["txn_nos"][1], "reason": "test" })).await.expect(StatusCode::CREATED);
    assert_eq!(seconds(&request["created_at"], &request["respond_by"]), 4);

    server.clock.advance_seconds(5);
    assert_eq!(wait_for_transfer_end(&server, &id(&delayed), &alice).await["status"], "expired", "never accepted within the configured 5 s");
    let path = format!("/v1/return-requests/{}", request["id"].as_str().expect("id"));
    server.wait_for(&path, &alice.token, "expired").await;
    server.assert_verified();
}
