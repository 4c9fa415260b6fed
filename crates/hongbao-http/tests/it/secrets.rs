//! No secret rests in the database in plaintext: answers that show a token or a signing key once are
//! kept for replays without it, webhook signing keys are sealed under the deployment's key (also those
//! an older version stored in plaintext), and idempotency records are deleted once expired. Tokens can
//! be rotated by their user and revoked or reissued by the admin, at once.

use reqwest::StatusCode;
use serde_json::{Value, json};

use hongbao_store::records::{self, Query};

use crate::harness::{ADMIN_TOKEN, TestServer};

/// Creates something with a key, replays it, and returns the secret from the first answer after
/// checking that the replay withholds it.
async fn created_then_replayed(server: &TestServer, path: &str, token: &str, body: Option<Value>, field: &str) -> String {
    let key = format!("key-{path}").into_bytes();
    let first = server.post_with_key(path, token, body.as_ref(), &key).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&first.bytes));
    let secret = first.json()[field].as_str().unwrap_or_else(|| panic!("{path} shows its {field} in the first answer")).to_owned();
    let replay = server.post_with_key(path, token, body.as_ref(), &key).await;
    assert!(replay.is_replay(), "{path}: a replay");
    assert_eq!(replay.status, first.status, "{path}: a replay keeps the status");
    let replayed = replay.json();
    assert!(replayed[field].is_null(), "{path}: a replay withholds the {field}: {replayed}");
    assert_eq!(replayed["secret_withheld"], true, "{path}: a replay says the secret was withheld: {replayed}");
    assert_eq!(replayed["id"], first.json()["id"], "{path}: a replay names the same record");
    assert!(!String::from_utf8_lossy(&replay.bytes).contains(&secret), "{path}: the replay holds no secret");
    secret
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_reveal_no_secret_and_the_database_holds_none() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let user_token = created_then_replayed(&server, "/v1/users", ADMIN_TOKEN, Some(json!({ "name": "bob" })), "token").await;
    let operator_token = created_then_replayed(&server, "/v1/ops/operators", ADMIN_TOKEN, Some(json!({ "name": "sam", "role": "support" })), "token").await;
    let merchant_body = json!({ "user_id": alice.id, "name": "shop", "scopes": ["wallet:read"], "allowed_cidrs": ["10.0.0.0/8"] });
    let merchant_secret = created_then_replayed(&server, "/v1/ops/merchant-keys", ADMIN_TOKEN, Some(merchant_body), "secret").await;
    let webhook_secret = created_then_replayed(&server, "/v1/ops/webhooks", ADMIN_TOKEN, Some(json!({ "url": "https://hooks.example.com/h" })), "secret").await;
    // A rotation cannot be replayed by its caller: the token it was made with no longer works.
    let rotation = server.post_with_key("/v1/me/token", &alice.token, None, b"rotate").await;
    assert_eq!(rotation.status, StatusCode::CREATED);
    let rotated_token = rotation.json()["token"].as_str().expect("the new token").to_owned();
    let again = server.post_with_key("/v1/me/token", &alice.token, None, b"rotate").await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "the old token is gone, replay or not");
    let reissued_token = created_then_replayed(&server, &format!("/v1/users/{}/token", alice.id), ADMIN_TOKEN, None, "token").await;

    // The secrets shown once still work.
    assert_eq!(server.get("/v1/me", &user_token).await.status, StatusCode::OK);
    assert_eq!(server.get("/v1/ops/me", &operator_token).await.status, StatusCode::OK);
    assert_eq!(server.get("/v1/me", &reissued_token).await.status, StatusCode::OK);
    let database = server.database();
    for secret in [&user_token, &operator_token, &merchant_secret, &webhook_secret, &rotated_token, &reissued_token, &alice.token] {
        assert_eq!(database.places_holding(secret), Vec::<String>::new(), "no table holds the secret {secret} in plaintext");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_secrets_are_sealed_and_those_stored_in_plaintext_are_sealed_at_start() {
    let mut server = TestServer::start().await;
    let webhook = server.post("/v1/ops/webhooks", ADMIN_TOKEN, json!({ "url": "https://hooks.example.com/h" })).await.expect(StatusCode::CREATED);
    let (id, secret) = (webhook["id"].as_str().expect("id").to_owned(), webhook["secret"].as_str().expect("secret").to_owned());
    let stored = |server: &TestServer| {
        let query = Query::by_key(&records::WEBHOOK_ENDPOINTS, records::text(&id));
        let endpoints: Vec<hongbao_core::webhooks::WebhookEndpoint> = server.read(move |conn| records::list(conn, &query));
        endpoints.into_iter().next().expect("the endpoint").secret
    };
    let sealed = stored(&server);
    assert!(hongbao_service::secrets::is_sealed(&sealed) && !sealed.contains(&secret), "stored sealed: {sealed}");
    assert_eq!(server.config.secret_key.open(&sealed, &id).expect("opens with the deployment's key"), secret);

    // An endpoint as an older version stored it: the secret in plaintext.
    let plaintext = "whsec_00112233445566778899aabbccddeeff0011223344556677";
    let update = format!("UPDATE webhook_endpoints SET secret = '{plaintext}' WHERE id = '{id}'");
    server.database().execute(&update);
    assert!(!server.database().places_holding(plaintext).is_empty(), "the old version's plaintext is there");
    server.restart_after(0).await;
    let resealed = stored(&server);
    assert!(hongbao_service::secrets::is_sealed(&resealed), "sealed at start: {resealed}");
    assert_eq!(server.config.secret_key.open(&resealed, &id).expect("opens"), plaintext, "the same secret, so receivers need no change");
    let rows: Vec<String> =
        server.database().places_holding(plaintext).into_iter().filter(|place| !place.ends_with("hongbao.db") && !place.ends_with("-wal")).collect();
    assert_eq!(rows, Vec::<String>::new(), "no table holds the plaintext any more");

    // A process with another key refuses to start rather than send unsigned or wrongly signed webhooks.
    let store = server.store.clone();
    let config = hongbao_service::Config { secret_key: hongbao_service::secrets::SecretKey::generate(), ..server.config.clone() };
    let error = hongbao_service::Service::start(store, config, std::sync::Arc::new(server.clock.clone())).expect_err("another key is refused");
    assert!(error.to_string().contains("sealed with the key"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_idempotency_records_are_pruned() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 10_00).await;
    for index in 0..3 {
        let body = json!({ "amount": 1_00 });
        let answer = server.post_with_key("/v1/withdrawals", &alice.token, Some(&body), format!("old-{index}").as_bytes()).await;
        assert_eq!(answer.status, StatusCode::CREATED);
    }
    let count = |server: &TestServer| server.database().query_i64("SELECT count(*) FROM idempotency");
    assert_eq!(count(&server), 3);
    server.clock.advance_seconds(server.config.idempotency_ttl_seconds - 10);
    let young = server.post_with_key("/v1/withdrawals", &alice.token, Some(&json!({ "amount": 1_00 })), b"young").await;
    assert_eq!(young.status, StatusCode::CREATED);
    assert_eq!(server.service.run_maintenance().await.expect("maintenance"), 0, "nothing has expired yet");
    assert_eq!(count(&server), 4);
    server.clock.advance_seconds(11);
    assert_eq!(server.service.run_maintenance().await.expect("maintenance"), 3, "the three old records expired");
    assert_eq!(count(&server), 1, "only the young record is left");
    // An expired key is a new request again.
    let again = server.post_with_key("/v1/withdrawals", &alice.token, Some(&json!({ "amount": 1_00 })), b"old-0").await;
    assert!(!again.is_replay() && again.status == StatusCode::CREATED);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_rotated_and_revoked_at_once() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    assert_eq!(server.get("/v1/me", &alice.token).await.status, StatusCode::OK, "cached now");
    let rotated = server.post_empty("/v1/me/token", &alice.token).await.expect(StatusCode::CREATED);
    let new_token = rotated["token"].as_str().expect("a new token").to_owned();
    assert_eq!(rotated["id"], alice.id.as_str());
    server.get("/v1/me", &alice.token).await.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(server.get("/v1/me", &new_token).await.expect(StatusCode::OK)["id"], alice.id.as_str());

    // The admin revokes it: it stops at once, and no token works until the admin issues one.
    let revoke_path = format!("/v1/users/{}/revoke-token", alice.id);
    server.post(&revoke_path, &new_token, json!({ "reason": "lost phone" })).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    server.post(&revoke_path, ADMIN_TOKEN, json!({ "reason": "lost phone" })).await.expect(StatusCode::OK);
    server.get("/v1/me", &new_token).await.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    server.post_empty("/v1/me/token", &new_token).await.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let issued = server.post_empty(&format!("/v1/users/{}/token", alice.id), ADMIN_TOKEN).await.expect(StatusCode::CREATED);
    let issued_token = issued["token"].as_str().expect("a token").to_owned();
    assert_eq!(server.get("/v1/me", &issued_token).await.expect(StatusCode::OK)["id"], alice.id.as_str());
    server.get("/v1/me", &new_token).await.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    server.post_empty("/v1/users/usr_aaaaaaaaaaaaaaaaaaaa/token", ADMIN_TOKEN).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    let audit = server.get("/v1/ops/audit?limit=10", ADMIN_TOKEN).await.expect(StatusCode::OK);
    let actions: Vec<&str> = audit["data"].as_array().expect("entries").iter().filter_map(|entry| entry["action"].as_str()).collect();
    assert!(actions.contains(&"user.revoke_token") && actions.contains(&"user.issue_token"), "{actions:?}");
}
