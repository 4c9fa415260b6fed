//! Crash safety: SIGKILL in the middle of a stream of claims loses no acknowledged claim and leaves
//! nothing half applied.

use std::collections::HashSet;

use hongbao_testkit::TestDatabase;
use serde_json::json;

use crate::process::{ADMIN_TOKEN, Client, ServerProcess, verify};

const LIMITS: [(&str, &str); 2] = [("HONGBAO_MAX_SHARES", "400"), ("HONGBAO_MAX_GROUP_MEMBERS", "1000")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_claims_loses_no_acknowledged_claim() {
    let database = TestDatabase::new();
    let url = database.url.clone();
    let server = ServerProcess::start(&url, &LIMITS);
    let client = Client::new(&server.base);
    let (sender_id, sender_token) = client.user("sender").await;
    let (status, _) = client
        .post("/v1/top-ups", ADMIN_TOKEN, Some(json!({ "user_id": sender_id, "amount": 400_00, "reference": format!("crash-{sender_id}") })))
        .await
        .expect("top up");
    assert_eq!(status, 201);
    let mut claimers = Vec::new();
    for index in 0..400 {
        claimers.push(client.user(&format!("claimer{index}")).await);
    }
    let member_ids: Vec<&str> = claimers.iter().map(|(id, _)| id.as_str()).collect();
    let (status, group) = client.post("/v1/groups", &sender_token, Some(json!({ "name": "crash", "member_ids": member_ids }))).await.expect("group");
    assert_eq!(status, 201, "{group}");
    let (status, packet) = client
        .post("/v1/packets", &sender_token, Some(json!({ "kind": "normal", "group_id": group["id"], "amount_per_share": 100, "shares": 400 })))
        .await
        .expect("packet");
    assert_eq!(status, 201, "{packet}");
    let packet_id = packet["id"].as_str().expect("id").to_owned();

    // Claim in a steady stream from several tasks; kill the server once some claims are acknowledged.
    let (acknowledged_sender, mut acknowledged) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in claimers.chunks(50) {
        let chunk = chunk.to_vec();
        let base = server.base.clone();
        let packet_id = packet_id.clone();
        let acknowledged_sender = acknowledged_sender.clone();
        tasks.spawn(async move {
            let client = Client::new(&base);
            for (user_id, token) in chunk {
                match client.post(&format!("/v1/packets/{packet_id}/claim"), &token, None).await {
                    Ok((200, body)) => {
                        assert_eq!(body["user_id"], user_id.as_str());
                        let _ = acknowledged_sender.send((user_id, body["txn_no"].as_str().expect("txn_no").to_owned()));
                    }
                    Ok((status, body)) => panic!("claim refused before the crash: {status} {body}"),
                    Err(_) => return, // the server died under us: this claim was not acknowledged
                }
            }
        });
    }
    drop(acknowledged_sender);
    let mut acknowledged_claims = Vec::new();
    while acknowledged_claims.len() < 60 {
        acknowledged_claims.push(acknowledged.recv().await.expect("claims are acknowledged before the kill"));
    }
    server.kill();
    while let Some(result) = tasks.join_next().await {
        result.expect("claim task");
    }
    while let Ok(claim) = acknowledged.try_recv() {
        acknowledged_claims.push(claim);
    }
    assert!(acknowledged_claims.len() < 400, "the kill came too late to interrupt the stream");

    // Nothing half applied: the journal, balances and escrow agree.
    let output = verify(&url);
    assert!(output.status.success(), "verify after the crash: {}", String::from_utf8_lossy(&output.stdout));

    // Every acknowledged claim survived the crash, with its transaction.
    let restarted = ServerProcess::start(&url, &LIMITS);
    let client = Client::new(&restarted.base);
    let packet = client.get(&format!("/v1/packets/{packet_id}"), &sender_token).await;
    let stored: HashSet<(String, String)> = packet["claims"]
        .as_array()
        .expect("claims")
        .iter()
        .map(|claim| (claim["user_id"].as_str().expect("user").to_owned(), claim["txn_no"].as_str().expect("txn").to_owned()))
        .collect();
    for claim in &acknowledged_claims {
        assert!(stored.contains(claim), "acknowledged claim {claim:?} was lost");
    }
    assert_eq!(packet["claimed_count"].as_u64(), Some(stored.len() as u64));
    assert_eq!(packet["claimed_amount"].as_i64(), Some(100 * stored.len() as i64));
    for (_, txn_no) in stored.iter().take(20) {
        let transaction = client.get(&format!("/v1/transactions/{txn_no}"), &sender_token).await;
        assert_eq!(transaction["kind"], "packet_claim", "{transaction}");
    }
    // The service carries on where it stopped.
    let (next_id, next_token) = claimers.iter().find(|(id, _)| !stored.iter().any(|(user, _)| user == id)).expect("an unclaimed member").clone();
    let (status, body) = client.post(&format!("/v1/packets/{packet_id}/claim"), &next_token, None).await.expect("claim after restart");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], next_id.as_str());
    drop(restarted);
    let output = verify(&url);
    assert!(output.status.success(), "verify at the end: {}", String::from_utf8_lossy(&output.stdout));
}
