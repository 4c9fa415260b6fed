//! The OpenAPI document against the server: every route the router serves is described, with the
//! methods it takes, and nothing else; every error it lists is problem+json; open routes say they
//! need no token. And the refusals of the shared extractors (path, body, multipart, content type,
//! size), each answered as problem+json with a stable code, changing nothing.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{ADMIN_TOKEN, Answer, TestServer};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The routes that answer without a token.
const OPEN_ROUTES: [&str; 6] = ["/", "/assets/{path}", "/healthz", "/metrics", "/openapi.json", "/.well-known/hongbao/log-key"];

async fn document(server: &TestServer) -> Value {
    server.call(Method::GET, "/openapi.json", None, None, &[]).await.expect(StatusCode::OK)
}

/// A route's path as OpenAPI writes it: axum's `{*rest}` is a plain parameter there.
fn as_documented(route: &str) -> String {
    route.replace("{*", "{")
}

/// The route with every parameter filled in with a value the router takes.
fn concrete(route: &str) -> String {
    route.split('/').map(|segment| if segment.starts_with('{') { "x" } else { segment }).collect::<Vec<_>>().join("/")
}

fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                operations.push((path.clone(), method.to_owned(), operation.clone()));
            }
        }
    }
    operations
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_describes_every_route_and_method_the_router_serves_and_no_other() {
    let server = TestServer::start().await;
    let document = document(&server).await;
    let routed: BTreeSet<String> = hongbao_http::route_paths().into_iter().map(as_documented).collect();
    let documented: BTreeSet<String> = document["paths"].as_object().expect("paths").keys().cloned().collect();
    assert_eq!(routed.difference(&documented).collect::<Vec<_>>(), Vec::<&String>::new(), "routes the document does not describe");
    assert_eq!(documented.difference(&routed).collect::<Vec<_>>(), Vec::<&String>::new(), "paths the server does not route");
    // Which methods a route takes, from the server itself: without a token, a method it does not
    // take is 405, and one it takes is anything else (401 for the routes that need a token).
    for route in hongbao_http::route_paths() {
        let path = as_documented(route);
        for method in METHODS {
            let answer = server.call(Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method"), &concrete(route), None, None, &[]).await;
            let served = answer.status != StatusCode::METHOD_NOT_ALLOWED;
            let described = document["paths"][&path].get(method).is_some();
            assert_eq!(
                served,
                described,
                "{method} {path}: the server answers {} and the document {}",
                answer.status,
                if described { "describes it" } else { "does not" }
            );
            if served && !OPEN_ROUTES.contains(&path.as_str()) {
                answer.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_in_the_document_is_problem_json_and_every_operation_lists_what_it_inherits() {
    let server = TestServer::start().await;
    let document = document(&server).await;
    assert!(document["components"]["schemas"]["Problem"]["properties"]["code"].is_object(), "the Problem schema has its code");
    let operations = operations(&document);
    assert!(operations.len() > 100, "{} operations", operations.len());
    for (path, method, operation) in &operations {
        let what = format!("{method} {path}");
        let responses = operation["responses"].as_object().expect("responses");
        for (status, response) in responses {
            let code: u16 = status.parse().unwrap_or_else(|_| panic!("{what}: status {status} is a number"));
            if code < 400 {
                continue;
            }
            let content: Vec<&String> = response["content"].as_object().map(|content| content.keys().collect()).unwrap_or_default();
            assert_eq!(content, vec!["application/problem+json"], "{what} {status}: errors are problem+json");
            let schema = &response["content"]["application/problem+json"]["schema"];
            let reference = schema["$ref"].as_str().unwrap_or_default();
            assert!(reference.ends_with("Problem"), "{what} {status}: the Problem schema, not {schema}");
        }
        let has = |status: &str| responses.contains_key(status);
        let open = OPEN_ROUTES.contains(&path.as_str());
        if open {
            assert_eq!(operation["security"], json!([]), "{what} needs no token, and says so");
        } else {
            assert!(operation.get("security").is_none(), "{what} needs the bearer token: {}", operation["security"]);
            for status in ["400", "401", "403", "503"] {
                assert!(has(status), "{what} lists {status}, which every route with a token can give");
            }
        }
        if path.contains('{') {
            assert!(has("404"), "{what} lists 404 for an unknown id");
        }
        if operation.get("requestBody").is_some() {
            for status in ["400", "408", "413", "415"] {
                assert!(has(status), "{what} takes a body, and lists {status}");
            }
        }
        if method != "get" {
            assert!(has("409"), "{what}: a write the records' state refuses is 409");
        }
        if method == "post" {
            let parameters = operation["parameters"].as_array().map(Vec::as_slice).unwrap_or_default();
            assert!(parameters.iter().any(|parameter| parameter["name"] == "Idempotency-Key"), "{what} takes an Idempotency-Key");
        }
        for parameter in operation["parameters"].as_array().map(Vec::as_slice).unwrap_or_default() {
            if parameter["name"] == "limit" {
                assert_eq!((&parameter["schema"]["minimum"], &parameter["schema"]["maximum"]), (&json!(1), &json!(200)), "{what}: limit is 1 to 200");
            }
            if parameter["in"] == "path" {
                assert_eq!(parameter["required"], json!(true), "{what}: path parameters are required");
            }
        }
        // An example of what it answers, and of what it takes, in every media type a person reads.
        let readable = |media: &str| media.contains("json") || media.starts_with("text/") || media.contains("toml") || media.starts_with("multipart/");
        let success = responses.iter().find(|(status, _)| status.starts_with('2')).map(|(_, response)| response).expect("a success answer");
        for (media, body) in success["content"].as_object().into_iter().flatten().filter(|(media, _)| readable(media)) {
            assert!(body.get("example").is_some(), "{what}: an example of its {media} answer");
        }
        for (media, body) in operation["requestBody"]["content"].as_object().into_iter().flatten().filter(|(media, _)| readable(media)) {
            assert!(body.get("example").is_some(), "{what}: an example of its {media} body");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_as_strict_as_the_parsers() {
    let server = TestServer::start().await;
    let document = document(&server).await;
    let schemas = &document["components"]["schemas"];
    assert_eq!(schemas["CreateTransferRequest"]["properties"]["arrival"]["enum"], json!(["instant", "delay_2h", "delay_24h"]));
    assert_eq!(schemas["CreatePacketRequest"]["properties"]["kind"]["enum"], json!(["normal", "lucky", "timed", "exclusive"]));
    assert_eq!(schemas["CreateTransferRequest"]["properties"]["amount"]["minimum"], json!(1));
    assert_eq!(schemas["CreateTransferRequest"]["additionalProperties"], json!(false), "unknown fields are refused");
    assert_eq!(schemas["CreateUserRequest"]["properties"]["name"]["minLength"], json!(1));
    assert_eq!(schemas["TransferBody"]["properties"]["created_at"]["format"], json!("date-time"));
    assert_eq!(schemas["ComplaintBody"]["properties"]["status"]["enum"], json!(["submitted", "needs_evidence", "under_review", "resolved"]));
    assert!(schemas["AuditEntryBody"]["properties"]["action"]["enum"].as_array().is_some_and(|actions| actions.contains(&json!("policy.replace"))));
    let roles = document["paths"]["/v1/return-requests"]["get"]["parameters"].as_array().expect("parameters");
    let role = roles.iter().find(|parameter| parameter["name"] == "role").expect("a role parameter");
    assert_eq!(role["schema"]["enum"], json!(["sent", "received"]));
    let packet = document["paths"]["/v1/packets/{id}"]["get"]["parameters"][0].clone();
    assert_eq!(packet["schema"]["pattern"], json!("^pkt_[a-z0-9_]{1,64}$"), "{packet}");
    // The upload's multipart body, so that a client can generate it.
    let upload = &document["paths"]["/v1/evidence"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"];
    assert_eq!(upload["required"], json!(["file"]), "{upload}");
    assert_eq!(upload["properties"]["file"]["format"], json!("binary"), "{upload}");
    assert!(upload["properties"]["label"]["enum"].as_array().is_some_and(|labels| labels.contains(&json!("chat_record"))), "{upload}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_is_not_multipart_is_refused_as_problem_json_415() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 10_00).await;
    let before = server.ledger_state();
    for (content_type, body) in [
        (Some("application/json"), br#"{"file": "aGVsbG8="}"#.to_vec()),
        (Some("multipart/form-data"), b"no boundary".to_vec()),
        (Some("text/plain"), b"hello".to_vec()),
        (None, b"hello".to_vec()),
    ] {
        let answer = server.post_bytes("/v1/evidence", &alice.token, content_type, body).await;
        answer.expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "validation_failed");
    }
    assert_eq!(server.ledger_state(), before);
}

/// `PUT /v1/ops/policy` with `body`, as TOML.
async fn put_policy(server: &TestServer, body: &str) -> Answer {
    let response = server
        .client
        .put(format!("{}/v1/ops/policy", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/toml")
        .body(body.to_owned())
        .send()
        .await
        .expect("the server answers");
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.bytes().await.expect("a body");
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Answer { status, body, headers }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_that_sets_nothing_is_refused_and_the_policy_in_force_stays() {
    let server = TestServer::start().await;
    let chosen = "[limits]\ndaily_packet_count = 7\n";
    put_policy(&server, chosen).await.expect(StatusCode::OK);
    let in_force = server.call(Method::GET, "/v1/ops/policy", Some(ADMIN_TOKEN), None, &[]).await.expect(StatusCode::OK);
    assert!(in_force.as_str().is_some_and(|text| text.contains("daily_packet_count = 7")), "{in_force}");
    for empty in ["", "   \n\n", "# nothing but a comment\n", "{}"] {
        put_policy(&server, empty).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
        let after = server.call(Method::GET, "/v1/ops/policy", Some(ADMIN_TOKEN), None, &[]).await.expect(StatusCode::OK);
        assert_eq!(after, in_force, "{empty:?} left the policy in force as it was");
    }
    let audit = server.get("/v1/ops/audit?limit=200", ADMIN_TOKEN).await.expect(StatusCode::OK);
    let replaced = audit["data"].as_array().expect("entries").iter().filter(|entry| entry["action"] == "policy.replace").count();
    assert_eq!(replaced, 1, "only the one replacement is in the audit log: {audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_parameter_that_is_not_utf8_is_refused_as_problem_json() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 10_00).await;
    let before = server.ledger_state();
    server.get("/v1/packets/%FF%FE", &alice.token).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    server.post_empty("/v1/transfers/%C3%28/accept", &alice.token).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    server.get("/assets/%FF", &alice.token).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(server.ledger_state(), before);
}

/// The body limit of every route but the evidence upload (`DefaultBodyLimit` in `hongbao_http::router`).
const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// Sends a request whose body is one byte past the limit, all of it, so that the server reads every
/// byte before it refuses, and its close loses nothing of the answer; returns the answer as text.
async fn oversized_request(server: &TestServer, method: &str, path: &str, token: &str, content_type: &str) -> String {
    let stream = tokio::net::TcpStream::connect(server.base.trim_start_matches("http://")).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {token}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
        BODY_LIMIT + 1
    );
    let sending = tokio::spawn(async move {
        // The server may answer and close before the last byte; what is not sent then does not matter.
        let _ = writer.write_all(head.as_bytes()).await;
        let _ = writer.write_all(&vec![b' '; BODY_LIMIT + 1]).await;
        writer
    });
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => {
                    received.extend_from_slice(&buffer[..read]);
                    if String::from_utf8_lossy(&received).contains("\"code\"") {
                        return;
                    }
                }
            }
        }
    })
    .await;
    sending.abort();
    assert!(read.is_ok(), "{method} {path}: no answer in time; the server sent {:?}", String::from_utf8_lossy(&received));
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_bodies_over_the_size_limit_are_refused_as_problem_json() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 10_00).await;
    let before = server.ledger_state();
    let policy_before = server.call(Method::GET, "/v1/ops/policy", Some(ADMIN_TOKEN), None, &[]).await.expect(StatusCode::OK);
    for (method, path, token, content_type) in [
        ("PUT", "/v1/ops/policy", ADMIN_TOKEN, "application/toml"),
        ("POST", "/v1/return-requests/rrq_2mvg6k3q7d4x8b9cn5tr/decline", alice.token.as_str(), "application/json"),
        ("POST", "/v1/withdrawals", alice.token.as_str(), "application/json"),
    ] {
        let answer = oversized_request(&server, method, path, token, content_type).await;
        assert!(answer.starts_with("HTTP/1.1 413 "), "{method} {path}: {answer}");
        assert!(answer.to_ascii_lowercase().contains("content-type: application/problem+json"), "{method} {path}: {answer}");
        assert!(answer.contains("\"code\":\"validation_failed\""), "{method} {path}: {answer}");
    }
    assert_eq!(server.ledger_state(), before);
    let policy_after = server.call(Method::GET, "/v1/ops/policy", Some(ADMIN_TOKEN), None, &[]).await.expect(StatusCode::OK);
    assert_eq!(policy_after, policy_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_owner_from_their_group_is_a_conflict_not_bad_input() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let group_id = server.group(&alice, &[&bob]).await;
    let group_before = server.get(&format!("/v1/groups/{group_id}"), &alice.token).await.expect(StatusCode::OK);
    // The request is well formed; the group's state refuses it.
    server.delete(&format!("/v1/groups/{group_id}/members/{}", alice.id), &alice.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    assert_eq!(server.get(&format!("/v1/groups/{group_id}"), &alice.token).await.expect(StatusCode::OK), group_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decline_takes_no_body_a_null_body_or_a_reason() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let mut declined = Vec::new();
    for body in [None, Some("null"), Some(r#"{"reason": "I already paid it back in cash"}"#), Some("{}")] {
        let transfer = server
            .post("/v1/transfers", &alice.token, json!({ "recipient_id": bob.id, "amount": 1_00, "arrival": "instant" }))
            .await
            .expect(StatusCode::CREATED);
        let transfer_id = transfer["id"].as_str().expect("an id");
        let settled = server.post_empty(&format!("/v1/transfers/{transfer_id}/accept"), &bob.token).await.expect(StatusCode::OK);
        let txn_no = settled["txn_nos"].as_array().and_then(|txn_nos| txn_nos.last()).and_then(Value::as_str).expect("the settlement").to_owned();
        let request =
            server.post("/v1/return-requests", &alice.token, json!({ "txn_no": txn_no, "reason": "sent by mistake" })).await.expect(StatusCode::CREATED);
        let path = format!("/v1/return-requests/{}/decline", request["id"].as_str().expect("an id"));
        let answer = match body {
            None => server.post_empty(&path, &bob.token).await,
            Some(body) => server.post_bytes(&path, &bob.token, Some("application/json"), body.as_bytes().to_vec()).await,
        };
        declined.push(answer.expect(StatusCode::OK)["decline_reason"].clone());
    }
    assert_eq!(declined, vec![Value::Null, Value::Null, json!("I already paid it back in cash"), Value::Null]);
}
