//! Several `hongbao serve` processes on one PostgreSQL database: claims through all of them at once,
//! expiry refunds carried out exactly once while every process runs the scheduler, and SIGKILL of one
//! process under load. These need PostgreSQL and skip, saying why, without `HONGBAO_TEST_POSTGRES_URL`.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use hongbao_testkit::{TestDatabase, skip_without_postgres};
use serde_json::{Value, json};

use crate::process::{ADMIN_TOKEN, Client, ServerProcess, verify};

const SETTINGS: [(&str, &str); 3] = [("HONGBAO_MAX_GROUP_MEMBERS", "2000"), ("HONGBAO_TIMED_MIN_SECONDS", "1"), ("HONGBAO_MAX_SHARES", "400")];

struct Cluster {
    servers: Vec<ServerProcess>,
    database: TestDatabase,
}

impl Cluster {
    fn start(server_url: &str, processes: usize) -> Cluster {
        let database = TestDatabase::postgres(server_url);
        let servers = (0..processes).map(|_| ServerProcess::start(&database.url, &SETTINGS)).collect();
        Cluster { servers, database }
    }

    fn client(&self, index: usize) -> Client {
        Client::new(&self.servers[index % self.servers.len()].base)
    }
}

/// Creates `count` users, spread over the processes, `parallel` at a time.
async fn users(cluster: &Cluster, count: usize) -> Vec<(String, String)> {
    let mut tasks = tokio::task::JoinSet::new();
    for chunk_start in (0..count).step_by(count.div_ceil(8)) {
        let bases: Vec<String> = cluster.servers.iter().map(|server| server.base.clone()).collect();
        let chunk_end = (chunk_start + count.div_ceil(8)).min(count);
        tasks.spawn(async move {
            let mut created = Vec::new();
            for index in chunk_start..chunk_end {
                created.push((index, Client::new(&bases[index % bases.len()]).user(&format!("user{index}")).await));
            }
            created
        });
    }
    let mut all = Vec::new();
    while let Some(result) = tasks.join_next().await {
        all.extend(result.expect("user creation task"));
    }
    all.sort_by_key(|(index, _)| *index);
    all.into_iter().map(|(_, user)| user).collect()
}

async fn funded_sender_with_group(cluster: &Cluster, members: &[(String, String)], amount: i64) -> (String, String, String) {
    let client = cluster.client(0);
    let (sender_id, sender_token) = client.user("sender").await;
    let (status, body) = client
        .post("/v1/top-ups", ADMIN_TOKEN, Some(json!({ "user_id": sender_id, "amount": amount, "reference": format!("cluster-{sender_id}") })))
        .await
        .expect("top up");
    assert_eq!(status, 201, "{body}");
    let member_ids: Vec<&str> = members.iter().map(|(id, _)| id.as_str()).collect();
    let (status, group) = client.post("/v1/groups", &sender_token, Some(json!({ "name": "everyone", "member_ids": member_ids }))).await.expect("group");
    assert_eq!(status, 201, "{group}");
    (sender_id, sender_token, group["id"].as_str().expect("group id").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_one_packet_and_refund_expiries_once() {
    let Some(server_url) = skip_without_postgres("three_processes_share_one_packet_and_refund_expiries_once") else { return };
    let cluster = Cluster::start(&server_url, 3);
    let claimers = users(&cluster, 1_000).await;
    let (_, sender_token, group_id) = funded_sender_with_group(&cluster, &claimers, 2_000_00).await;
    let (status, packet) = cluster
        .client(1)
        .post("/v1/packets", &sender_token, Some(json!({ "kind": "lucky", "group_id": group_id, "total_amount": 500_00, "shares": 100 })))
        .await
        .expect("packet");
    assert_eq!(status, 201, "{packet}");
    let packet_id = packet["id"].as_str().expect("id").to_owned();

    // 1,000 users claim at once, each through one of the three processes.
    let mut tasks = tokio::task::JoinSet::new();
    for (index, (user_id, token)) in claimers.iter().cloned().enumerate() {
        let client = cluster.client(index);
        let path = format!("/v1/packets/{packet_id}/claim");
        tasks.spawn(async move { (user_id, client.post(&path, &token, None).await.expect("the server answers")) });
    }
    let mut won: HashMap<String, i64> = HashMap::new();
    let mut exhausted = 0;
    while let Some(result) = tasks.join_next().await {
        let (user_id, (status, body)) = result.expect("claim task");
        match status {
            200 => assert!(won.insert(user_id, body["amount"].as_i64().expect("amount")).is_none(), "a user won twice"),
            409 if body["code"] == "packet_exhausted" => exhausted += 1,
            other => panic!("unexpected claim answer {other}: {body}"),
        }
    }
    assert_eq!(won.len(), 100);
    assert_eq!(exhausted, 900);
    assert_eq!(won.values().sum::<i64>(), 500_00);
    let finished = cluster.client(2).get(&format!("/v1/packets/{packet_id}"), &sender_token).await;
    assert_eq!(finished["status"], "exhausted");
    let claims = finished["claims"].as_array().expect("claims");
    let claimers_listed: HashSet<&str> = claims.iter().map(|claim| claim["user_id"].as_str().expect("user")).collect();
    assert_eq!(claimers_listed.len(), 100, "nobody claims twice");
    for claim in claims {
        assert_eq!(won.get(claim["user_id"].as_str().expect("user")), Some(&claim["amount"].as_i64().expect("amount")));
    }

    // Timed packets expire while all three processes run their schedulers: each is refunded once.
    let mut timed = Vec::new();
    for index in 0..30 {
        let (status, packet) = cluster
            .client(index)
            .post(
                "/v1/packets",
                &sender_token,
                Some(json!({ "kind": "timed", "group_id": group_id, "total_amount": 1_00, "shares": 2, "expires_in_seconds": 1 })),
            )
            .await
            .expect("timed packet");
        assert_eq!(status, 201, "{packet}");
        timed.push(packet["id"].as_str().expect("id").to_owned());
    }
    for packet_id in &timed {
        let packet = hongbao_testkit::eventually(&format!("packet {packet_id} being refunded"), Duration::from_secs(20), || async {
            let packet = cluster.client(0).get(&format!("/v1/packets/{packet_id}"), &sender_token).await;
            if packet["status"] == "expired" { Ok(packet) } else { Err(packet.to_string()) }
        })
        .await;
        assert_eq!(packet["refunded_amount"], 1_00);
    }
    let history = cluster.client(1).get("/v1/transactions?limit=200", &sender_token).await;
    let mut refunds: HashMap<String, usize> = HashMap::new();
    for transaction in history["data"].as_array().expect("transactions") {
        if transaction["kind"] == "packet_refund" {
            *refunds.entry(transaction["related"]["packet_id"].as_str().expect("packet id").to_owned()).or_default() += 1;
        }
    }
    for packet_id in &timed {
        assert_eq!(refunds.get(packet_id), Some(&1), "packet {packet_id} refunded {:?} times", refunds.get(packet_id));
    }
    let wallet = cluster.client(2).get("/v1/wallet", &sender_token).await;
    assert_eq!(wallet["balance"], 2_000_00 - 500_00);
    drop(cluster.servers);
    let output = verify(&cluster.database.url);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_one_process_loses_no_acknowledged_claim() {
    let Some(server_url) = skip_without_postgres("sigkill_of_one_process_loses_no_acknowledged_claim") else { return };
    let mut cluster = Cluster::start(&server_url, 3);
    let claimers = users(&cluster, 300).await;
    let (_, sender_token, group_id) = funded_sender_with_group(&cluster, &claimers, 300_00).await;
    let (status, packet) = cluster
        .client(0)
        .post("/v1/packets", &sender_token, Some(json!({ "kind": "normal", "group_id": group_id, "amount_per_share": 100, "shares": 300 })))
        .await
        .expect("packet");
    assert_eq!(status, 201, "{packet}");
    let packet_id = packet["id"].as_str().expect("id").to_owned();

    let (acknowledged_sender, mut acknowledged) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    let mut tasks = tokio::task::JoinSet::new();
    for (chunk_index, chunk) in claimers.chunks(30).enumerate() {
        let chunk = chunk.to_vec();
        let client = cluster.client(chunk_index);
        let path = format!("/v1/packets/{packet_id}/claim");
        let acknowledged_sender = acknowledged_sender.clone();
        tasks.spawn(async move {
            for (user_id, token) in chunk {
                match client.post(&path, &token, None).await {
                    Ok((200, body)) => {
                        let _ = acknowledged_sender.send((user_id, body["txn_no"].as_str().expect("txn_no").to_owned()));
                    }
                    Ok((status, body)) => panic!("claim refused: {status} {body}"),
                    Err(_) => return, // this process was killed: the claim was not acknowledged
                }
            }
        });
    }
    drop(acknowledged_sender);
    let mut acknowledged_claims: Vec<(String, String)> = Vec::new();
    while acknowledged_claims.len() < 40 {
        acknowledged_claims.push(acknowledged.recv().await.expect("claims are acknowledged before the kill"));
    }
    cluster.servers.remove(0).kill();
    while let Some(result) = tasks.join_next().await {
        result.expect("claim task");
    }
    while let Ok(claim) = acknowledged.try_recv() {
        acknowledged_claims.push(claim);
    }
    assert!(acknowledged_claims.len() < 300, "the kill came too late to interrupt the stream");

    // The survivors see every acknowledged claim and nothing half applied.
    let packet: Value = cluster.client(0).get(&format!("/v1/packets/{packet_id}"), &sender_token).await;
    let stored: HashSet<(String, String)> = packet["claims"]
        .as_array()
        .expect("claims")
        .iter()
        .map(|claim| (claim["user_id"].as_str().expect("user").to_owned(), claim["txn_no"].as_str().expect("txn").to_owned()))
        .collect();
    for claim in &acknowledged_claims {
        assert!(stored.contains(claim), "acknowledged claim {claim:?} was lost");
    }
    assert_eq!(packet["claimed_amount"].as_i64(), Some(100 * stored.len() as i64));
    // They carry on: everyone not yet paid claims through the survivors.
    for (index, (user_id, token)) in claimers.iter().enumerate() {
        if stored.iter().any(|(user, _)| user == user_id) {
            continue;
        }
        let (status, body) = cluster.client(index).post(&format!("/v1/packets/{packet_id}/claim"), token, None).await.expect("the survivors answer");
        assert_eq!(status, 200, "{body}");
    }
    let packet = cluster.client(1).get(&format!("/v1/packets/{packet_id}"), &sender_token).await;
    assert_eq!(packet["status"], "exhausted");
    drop(cluster.servers);
    let output = verify(&cluster.database.url);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
}

/// Sends a signal to a child process with the system's `kill`.
fn signal(server: &ServerProcess, name: &str) {
    let status = std::process::Command::new("kill").args([name, &server.child.id().to_string()]).status().expect("run kill");
    assert!(status.success(), "kill {name} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_paused_holding_the_writer_lock_holds_up_the_others_for_seconds() {
    let Some(server_url) = skip_without_postgres("a_process_paused_holding_the_writer_lock_holds_up_the_others_for_seconds") else { return };
    let database = TestDatabase::postgres(&server_url);
    // Short limits so that the test takes seconds: a session idle in its transaction for 2 s is ended
    // by PostgreSQL, and a batch waits at most 4 s for the lock before it is answered busy.
    let limits = [("HONGBAO_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS", "2000"), ("HONGBAO_PG_LOCK_TIMEOUT_MS", "4000")];
    let steady = ServerProcess::start(&database.url, &limits);
    // The stalling process sleeps holding the lock in its first batch that writes, long enough to be
    // paused there for sure; then it is paused for real.
    let stalling = ServerProcess::start(&database.url, &[limits[0], limits[1], ("HONGBAO_TEST_WRITER_STALL_MILLIS", "6000")]);
    let (steady_client, stalling_client) = (Client::new(&steady.base), Client::new(&stalling.base));
    let (alice_id, _) = steady_client.user("alice").await;

    let stalled_write = tokio::spawn(async move { stalling_client.post("/v1/users", ADMIN_TOKEN, Some(json!({ "name": "stalled" }))).await });
    // Its batch holds the writer lock once its session sits in the transaction.
    let application = format!("hongbao-{}", stalling.child.id());
    let holding = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{application}' AND state = 'idle in transaction' \
         AND datname = current_database()"
    );
    hongbao_testkit::eventually("the stalling process holding the writer lock", Duration::from_secs(30), || async {
        if database.postgres_query_i64(&holding) > 0 { Ok(()) } else { Err("no session of it idle in a transaction".to_owned()) }
    })
    .await;
    signal(&stalling, "-STOP");

    // While it is paused, the other process's writes go on: PostgreSQL ends the paused session and
    // rolls its batch back. A write that waited past the lock timeout first is answered busy, which is
    // safe to repeat; none waits for the paused process.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let body = json!({ "user_id": alice_id, "amount": 1_00, "reference": format!("paused-{attempt}") });
        let answer = tokio::time::timeout(Duration::from_secs(20), steady_client.post("/v1/top-ups", ADMIN_TOKEN, Some(body))).await;
        match answer {
            Ok(Ok((201, _))) => break,
            Ok(Ok((503, problem))) if problem["code"] == "busy" => {}
            other => panic!("a write while the other process is paused: {other:?}"),
        }
        assert!(Instant::now() < deadline, "the steady process never wrote while the other was paused");
    }
    let (status, body) = steady_client.post("/v1/users", ADMIN_TOKEN, Some(json!({ "name": "bob" }))).await.expect("answered");
    assert_eq!(status, 201, "{body}");
    assert_eq!(database.postgres_query_i64(&holding), 0, "the paused process's session was ended");
    assert_eq!(database.postgres_query_i64("SELECT count(*) FROM users WHERE name = 'stalled'"), 0, "the paused batch was rolled back");

    // Resumed, the paused process answers its stalled request (its batch is gone) and writes again.
    signal(&stalling, "-CONT");
    let stalled = stalled_write.await.expect("the stalled request's task");
    assert!(!matches!(stalled, Ok((201, _))), "the stalled batch did not commit: {stalled:?}");
    let stalling_client = Client::new(&stalling.base);
    hongbao_testkit::eventually("the resumed process writing again", Duration::from_secs(30), || async {
        let (status, body) = stalling_client.post("/v1/users", ADMIN_TOKEN, Some(json!({ "name": "carol" }))).await.expect("answered");
        if status == 201 { Ok(()) } else { Err(format!("{status} {body}")) }
    })
    .await;
    drop((steady, stalling));
    let output = verify(&database.url);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
}

/// Polls `GET /v1/me` with `token` through `client` until it answers `status`, with a deadline.
async fn until_me_answers(client: &Client, token: &str, status: reqwest::StatusCode, what: &str) {
    hongbao_testkit::eventually(&format!("{what} answering {status}"), Duration::from_secs(20), || async {
        let answer = client.http.get(format!("{}/v1/me", client.base)).bearer_auth(token).send().await.expect("answered");
        if answer.status() == status { Ok(()) } else { Err(format!("still {}", answer.status())) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_rotated_or_revoked_through_one_process_stops_in_the_others() {
    let Some(server_url) = skip_without_postgres("a_token_rotated_or_revoked_through_one_process_stops_in_the_others") else { return };
    let cluster = Cluster::start(&server_url, 2);
    let (first, second) = (cluster.client(0), cluster.client(1));
    let (alice_id, old_token) = first.user("alice").await;
    // The second process has the token in its cache now.
    until_me_answers(&second, &old_token, reqwest::StatusCode::OK, "the token works").await;

    let (status, rotated) = first.post("/v1/me/token", &old_token, None).await.expect("rotated");
    assert_eq!(status, 201, "{rotated}");
    let new_token = rotated["token"].as_str().expect("a new token").to_owned();
    // Well within the cache's recheck (60 s): the other process hears of it when it commits.
    until_me_answers(&second, &old_token, reqwest::StatusCode::UNAUTHORIZED, "the rotated token in the other process").await;
    until_me_answers(&second, &new_token, reqwest::StatusCode::OK, "the new token in the other process").await;

    let (status, body) = first.post(&format!("/v1/users/{alice_id}/revoke-token"), ADMIN_TOKEN, Some(json!({ "reason": "stolen" }))).await.expect("revoked");
    assert_eq!(status, 200, "{body}");
    until_me_answers(&second, &new_token, reqwest::StatusCode::UNAUTHORIZED, "the revoked token in the other process").await;
    until_me_answers(&first, &new_token, reqwest::StatusCode::UNAUTHORIZED, "the revoked token in its own process").await;
}
