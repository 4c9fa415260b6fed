//! Complaints and cases (投诉与平台仲裁) over HTTP: each kind of complaint through to its outcome,
//! evidence uploads and their limits, freezes and what they stop, case refunds, operators and their
//! roles, reversals and disclosures with a second legal officer, the audit log, and users' events.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hongbao_core::Timestamp;
use hongbao_service::{Clock, Config, ManualClock, Service};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{ADMIN_TOKEN, Answer, Endpoint, START, TestServer, TestUser};

// ---- helpers ----

/// An operator created by the admin, with the token it acts with.
#[derive(Clone, Debug)]
pub(crate) struct TestOperator {
    pub(crate) id: String,
    pub(crate) token: String,
}

pub(crate) async fn operator(server: &TestServer, name: &str, role: &str) -> TestOperator {
    let created = server.post("/v1/ops/operators", ADMIN_TOKEN, json!({ "name": name, "role": role })).await.expect(StatusCode::CREATED);
    assert_eq!(created["role"], role);
    assert_eq!(created["name"], name);
    assert!(created["disabled_at"].is_null());
    TestOperator { id: id(&created), token: created["token"].as_str().expect("an operator token").to_owned() }
}

pub(crate) fn id(value: &Value) -> String {
    value["id"].as_str().unwrap_or_else(|| panic!("an id in {value}")).to_owned()
}

pub(crate) fn text(value: &Value) -> String {
    value.as_str().unwrap_or_else(|| panic!("a string, not {value}")).to_owned()
}

/// The boundary of every multipart body the tests build; no test file contains it.
const BOUNDARY: &str = "hongbao-test-boundary-7MA4YWxkTrZu0gW";

pub(crate) const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
pub(crate) const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n";

/// One part of a multipart/form-data body.
struct Part<'a> {
    name: &'a str,
    filename: Option<&'a str>,
    content_type: Option<&'a str>,
    bytes: &'a [u8],
}

fn file_part<'a>(content_type: &'a str, bytes: &'a [u8]) -> Part<'a> {
    Part { name: "file", filename: Some("evidence.bin"), content_type: Some(content_type), bytes }
}

fn label_part(label: &str) -> Part<'_> {
    Part { name: "label", filename: None, content_type: None, bytes: label.as_bytes() }
}

/// A multipart/form-data body built by hand, since the test client has no multipart support.
fn multipart(parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", part.name);
        if let Some(filename) = part.filename {
            disposition.push_str(&format!("; filename=\"{filename}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(content_type) = part.content_type {
            body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Sends a multipart body to `POST /v1/evidence` on a connection of its own: the server may answer a
/// refused upload before reading all of it and then drop the connection, which would fail the next
/// request on a shared pooled one.
async fn send_upload(server: &TestServer, token: &str, body: Vec<u8>) -> Answer {
    send_upload_with_key(server, token, body, None).await
}

/// Like `send_upload`, with an `Idempotency-Key` when one is given.
async fn send_upload_with_key(server: &TestServer, token: &str, body: Vec<u8>, key: Option<&str>) -> Answer {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("a client");
    let mut request = client
        .post(format!("{}/v1/evidence", server.base))
        .bearer_auth(token)
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("a body");
    Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null), headers }
}

pub(crate) async fn upload(server: &TestServer, token: &str, content_type: &str, bytes: &[u8], label: Option<&str>) -> Answer {
    let mut parts = Vec::new();
    if let Some(label) = label {
        parts.push(label_part(label));
    }
    parts.push(file_part(content_type, bytes));
    send_upload(server, token, multipart(&parts)).await
}

/// Uploads a text file of evidence and returns its id, checking what the server says it stored.
async fn upload_text(server: &TestServer, user: &TestUser, content: &str, label: Option<&str>) -> String {
    let evidence = upload(server, &user.token, "text/plain; charset=utf-8", content.as_bytes(), label).await.expect(StatusCode::CREATED);
    assert_eq!(evidence["content_type"], "text/plain");
    assert_eq!(evidence["size"], content.len());
    assert_eq!(evidence["sha256"], sha256_hex(content.as_bytes()));
    assert_eq!(evidence["label"], label.map_or(Value::Null, |label| json!(label)));
    assert!(evidence["case_id"].is_null(), "a fresh upload belongs to no case yet: {evidence}");
    id(&evidence)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A GET answered with the body's exact bytes, for downloads of evidence.
async fn download(server: &TestServer, path: &str, token: &str) -> (StatusCode, Vec<u8>, reqwest::header::HeaderMap) {
    let response = server.client.get(format!("{}{path}", server.base)).bearer_auth(token).send().await.expect("the server answers");
    let status = response.status();
    let headers = response.headers().clone();
    (status, response.bytes().await.expect("a body").to_vec(), headers)
}

/// A settled instant transfer from `payer` to `payee`; returns its settlement's transaction number.
pub(crate) async fn settled_transfer(server: &TestServer, payer: &TestUser, payee: &TestUser, amount: i64) -> String {
    let transfer = server
        .post("/v1/transfers", &payer.token, json!({ "recipient_id": payee.id, "amount": amount, "arrival": "instant" }))
        .await
        .expect(StatusCode::CREATED);
    let settled = server.post_empty(&format!("/v1/transfers/{}/accept", id(&transfer)), &payee.token).await.expect(StatusCode::OK);
    assert_eq!(settled["status"], "settled");
    text(&settled["txn_nos"][1])
}

pub(crate) async fn complain(server: &TestServer, complainant: &TestUser, body: Value) -> Answer {
    server.post("/v1/complaints", &complainant.token, body).await
}

pub(crate) async fn wallet(server: &TestServer, user: &TestUser) -> (i64, i64, i64) {
    let wallet = server.get("/v1/wallet", &user.token).await.expect(StatusCode::OK);
    let field = |name: &str| wallet[name].as_i64().unwrap_or_else(|| panic!("{name} in {wallet}"));
    (field("balance"), field("frozen"), field("available"))
}

pub(crate) async fn place_freeze(server: &TestServer, reviewer: &TestOperator, body: Value) -> Value {
    server.post("/v1/ops/freezes", &reviewer.token, body).await.expect(StatusCode::CREATED)
}

async fn place_freeze_refused(server: &TestServer, operator: &TestOperator, body: Value, status: StatusCode, code: &str) {
    server.post("/v1/ops/freezes", &operator.token, body).await.expect_error(status, code);
}

/// The caller's events, oldest first (the API lists them newest first).
async fn events_oldest_first(server: &TestServer, user: &TestUser) -> Vec<Value> {
    let list = server.get("/v1/events?limit=200", &user.token).await.expect(StatusCode::OK);
    let mut events = list["data"].as_array().expect("events").clone();
    events.reverse();
    events
}

/// Every file under `dir`, at any depth.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|error| panic!("read {}: {error}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// Where the evidence store keeps the file with these bytes: `<dir>/<first 2 hex>/<the rest>`.
fn stored_path(server: &TestServer, bytes: &[u8]) -> PathBuf {
    let hex = sha256_hex(bytes);
    server.config.evidence_dir.join(&hex[..2]).join(&hex[2..])
}

fn timestamp(field: &Value) -> Timestamp {
    let text = text(field);
    hongbao_http::case_dto::parse_time("time", &text).unwrap_or_else(|_| panic!("{text} is an RFC 3339 time"))
}

// ---- each kind of complaint through to its outcome ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fraud_case_freezes_the_recipient_refunds_part_and_lifts_the_freeze_on_resolving() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let support = operator(&server, "sam", "support").await;
    let reviewer = operator(&server, "rita", "reviewer").await;
    let txn_no = settled_transfer(&server, &alice, &bob, 50_00).await;

    let chat = "bob: send 500 and I ship the phone tomorrow\nalice: sent\n";
    let evidence_id = upload_text(&server, &alice, chat, Some("chat_record")).await;
    let complaint = complain(
        &server,
        &alice,
        json!({ "kind": "fraud", "txn_nos": [txn_no], "description": "paid for a phone that never came", "evidence_ids": [evidence_id] }),
    )
    .await
    .expect(StatusCode::CREATED);
    let case_id = id(&complaint);
    assert!(case_id.starts_with("cmp_"), "{case_id}");
    assert_eq!(complaint["kind"], "fraud");
    assert_eq!(complaint["status"], "submitted");
    assert!(complaint["outcome"].is_null());
    assert_eq!(complaint["complainant_id"], alice.id.as_str());
    assert_eq!(complaint["respondent_ids"], json!([bob.id]));
    assert_eq!(complaint["txn_nos"], json!([txn_no]));
    assert_eq!(complaint["evidence_ids"], json!([evidence_id]));
    assert_eq!(complaint["missing_evidence"], json!([]));
    assert_eq!(complaint["refunded_amount"], 0);
    assert_eq!(complaint["overdue"], false);
    let evidence = server.get(&format!("/v1/evidence/{evidence_id}"), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(evidence["case_id"], case_id.as_str(), "the file now belongs to the case");
    let listed = server.get("/v1/complaints", &alice.token).await.expect(StatusCode::OK);
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["data"][0]["id"], case_id.as_str());

    let case_path = format!("/v1/ops/cases/{case_id}");
    let assigned = server.post(&format!("{case_path}/assign"), &support.token, json!({ "reason": "taking it" })).await.expect(StatusCode::OK);
    assert_eq!(assigned["status"], "under_review");
    assert_eq!(assigned["assignee_id"], support.id.as_str());

    // Hold part of what bob received: the rest stays his to spend.
    let freeze = place_freeze(&server, &reviewer, json!({ "user_id": bob.id, "amount": 30_00, "case_id": case_id, "reason": "fraud report" })).await;
    assert_eq!(freeze["kind"], "hold");
    assert_eq!(freeze["amount"], 30_00);
    assert_eq!(freeze["status"], "active");
    assert_eq!(freeze["case_id"], case_id.as_str());
    assert_eq!(freeze["user_id"], bob.id.as_str());
    assert_eq!(freeze["created_by"], reviewer.id.as_str());
    assert_eq!(wallet(&server, &bob).await, (50_00, 30_00, 20_00));
    let freeze_id = id(&freeze);

    // More than the hold holds is refused, and moves nothing.
    let before = server.ledger_state();
    server
        .post(&format!("{case_path}/refunds"), &reviewer.token, json!({ "freeze_id": freeze_id, "amount": 30_01, "reason": "too much" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(server.ledger_state(), before);

    let refund = server
        .post(&format!("{case_path}/refunds"), &reviewer.token, json!({ "freeze_id": freeze_id, "amount": 20_00, "reason": "what could be recovered" }))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(refund["kind"], "case_refund");
    assert_eq!(refund["amount"], 20_00);
    let postings = refund["postings"].as_array().expect("postings");
    assert_eq!(postings.iter().map(|posting| posting["amount"].as_i64().expect("amount")).sum::<i64>(), 0, "postings balance: {refund}");
    assert_eq!(server.balance(&alice).await, 50_00 + 20_00);
    assert_eq!(wallet(&server, &bob).await, (30_00, 10_00, 20_00), "the refund came out of the hold, which shrank by it");
    let history = server.get("/v1/transactions", &alice.token).await.expect(StatusCode::OK);
    assert_eq!(history["data"][0]["kind"], "case_refund");
    assert_eq!(history["data"][0]["wallet_delta"], 20_00);
    assert_eq!(server.get(&case_path, &reviewer.token).await.expect(StatusCode::OK)["refunded_amount"], 20_00);

    let resolved = server
        .post(&format!("{case_path}/resolve"), &reviewer.token, json!({ "outcome": "partially_refunded", "reason": "20.00 of 50.00 recovered" }))
        .await
        .expect(StatusCode::OK);
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["outcome"], "partially_refunded");
    assert_eq!(resolved["refunded_amount"], 20_00);
    assert_eq!(resolved["note"], "20.00 of 50.00 recovered");
    assert!(resolved["resolved_at"].is_string());
    let lifted = server.get(&format!("/v1/ops/freezes/{freeze_id}"), &reviewer.token).await.expect(StatusCode::OK);
    assert_eq!(lifted["status"], "lifted", "resolving lifts the case's freezes");
    assert_eq!(lifted["refunded_amount"], 20_00);
    assert_eq!(lifted["lifted_by"], reviewer.id.as_str());
    assert_eq!(wallet(&server, &bob).await, (30_00, 0, 30_00));
    let seen_by_alice = server.get(&format!("/v1/complaints/{case_id}"), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(seen_by_alice["outcome"], "partially_refunded");

    // A resolved case is closed to every further step.
    server.post(&format!("{case_path}/assign"), &support.token, json!({ "reason": "again" })).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    server
        .post(&format!("{case_path}/refunds"), &reviewer.token, json!({ "freeze_id": freeze_id, "amount": 1, "reason": "more" }))
        .await
        .expect_error(StatusCode::CONFLICT, "invalid_state");
    server
        .post(&format!("{case_path}/resolve"), &reviewer.token, json!({ "outcome": "rejected", "reason": "again" }))
        .await
        .expect_error(StatusCode::CONFLICT, "invalid_state");
    place_freeze_refused(&server, &reviewer, json!({ "user_id": bob.id, "case_id": case_id, "reason": "late" }), StatusCode::CONFLICT, "invalid_state").await;
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_waits_for_missing_evidence_and_for_evidence_support_asks_for() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let support = operator(&server, "sam", "support").await;
    let txn_no = settled_transfer(&server, &alice, &bob, 10_00).await;

    let complaint = complain(&server, &alice, json!({ "kind": "fraud", "txn_nos": [txn_no], "description": "a scam" })).await.expect(StatusCode::CREATED);
    assert_eq!(complaint["status"], "needs_evidence");
    assert_eq!(complaint["missing_evidence"], json!(["chat_record"]));
    let case_id = id(&complaint);
    let add_path = format!("/v1/complaints/{case_id}/evidence");

    // A file labelled as something else does not meet the chat-record requirement.
    let log = upload_text(&server, &alice, "2027-01-15 08:00 payment screen froze", Some("log")).await;
    let still_missing = server.post(&add_path, &alice.token, json!({ "evidence_ids": [log] })).await.expect(StatusCode::OK);
    assert_eq!(still_missing["status"], "needs_evidence");
    assert_eq!(still_missing["missing_evidence"], json!(["chat_record"]));

    let chat = upload_text(&server, &alice, "bob: pay first, then I ship", Some("chat_record")).await;
    let complete = server.post(&add_path, &alice.token, json!({ "evidence_ids": [chat] })).await.expect(StatusCode::OK);
    assert_eq!(complete["status"], "submitted");
    assert_eq!(complete["missing_evidence"], json!([]));
    assert_eq!(complete["evidence_ids"], json!([log, chat]));
    server.post(&add_path, &alice.token, json!({ "evidence_ids": [chat] })).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    server.post(&add_path, &alice.token, json!({ "evidence_ids": [] })).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");

    let case_path = format!("/v1/ops/cases/{case_id}");
    server.post(&format!("{case_path}/assign"), &support.token, json!({ "reason": "mine" })).await.expect(StatusCode::OK);
    let asked = server
        .post(&format!("{case_path}/request-evidence"), &support.token, json!({ "reason": "please send the whole conversation, not one line" }))
        .await
        .expect(StatusCode::OK);
    assert_eq!(asked["status"], "needs_evidence");
    assert_eq!(asked["note"], "please send the whole conversation, not one line");
    let seen_by_alice = server.get(&format!("/v1/complaints/{case_id}"), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(seen_by_alice["status"], "needs_evidence");
    assert_eq!(seen_by_alice["note"], "please send the whole conversation, not one line");

    // Any further file answers the request; the case goes back to the operator who has it.
    let more = upload_text(&server, &alice, "the whole conversation, from the first message", None).await;
    let answered = server.post(&add_path, &alice.token, json!({ "evidence_ids": [more] })).await.expect(StatusCode::OK);
    assert_eq!(answered["status"], "under_review");
    assert_eq!(answered["assignee_id"], support.id.as_str());
    assert_eq!(answered["evidence_ids"].as_array().map(Vec::len), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minor_case_refunds_a_packet_claim_out_of_a_hold_that_never_overdraws() {
    let server = TestServer::start().await;
    let minor = server.funded_user("xiaoming", 100_00).await;
    let streamer = server.user("streamer").await;
    let reviewer = operator(&server, "rita", "reviewer").await;
    let packet = server.send_packet(&minor, json!({ "kind": "normal", "recipient_id": streamer.id, "amount_per_share": 40_00 })).await;
    let claim = server.post_empty(&format!("/v1/packets/{packet}/claim"), &streamer.token).await.expect(StatusCode::OK);
    let claim_txn_no = text(&claim["txn_no"]);

    let identity = upload(&server, &minor.token, "image/png", PNG, Some("guardian_identity")).await.expect(StatusCode::CREATED);
    assert_eq!(identity["content_type"], "image/png");
    let guardianship = upload(&server, &minor.token, "application/pdf", PDF, Some("guardianship_document")).await.expect(StatusCode::CREATED);
    assert_eq!(guardianship["content_type"], "application/pdf");
    let complaint = complain(
        &server,
        &minor,
        json!({
            "kind": "minor",
            "txn_nos": [claim_txn_no],
            "description": "my son (12) sent this during a live stream",
            "evidence_ids": [id(&identity), id(&guardianship)],
        }),
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(complaint["status"], "submitted");
    assert_eq!(complaint["missing_evidence"], json!([]));
    assert_eq!(complaint["respondent_ids"], json!([streamer.id]));
    let case_id = id(&complaint);
    let case_path = format!("/v1/ops/cases/{case_id}");
    server.post(&format!("{case_path}/assign"), &reviewer.token, json!({ "reason": "minor spending" })).await.expect(StatusCode::OK);

    // A hold larger than the wallet freezes what there is, and a refund never takes more than the
    // payment it corrects, whatever the hold.
    let freeze = place_freeze(&server, &reviewer, json!({ "user_id": streamer.id, "amount": 50_00, "case_id": case_id, "reason": "minor's spending" })).await;
    assert_eq!(wallet(&server, &streamer).await, (40_00, 40_00, 0));
    let before = server.ledger_state();
    server
        .post(&format!("{case_path}/refunds"), &reviewer.token, json!({ "freeze_id": id(&freeze), "amount": 50_00, "reason": "all of the hold" }))
        .await
        .expect_error(StatusCode::CONFLICT, "invalid_state");
    assert_eq!(server.ledger_state(), before);
    // Resolving as refunded needs a refund first.
    server
        .post(&format!("{case_path}/resolve"), &reviewer.token, json!({ "outcome": "refunded", "reason": "early" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_failed");

    // A retried refund with the same Idempotency-Key is answered again and moves the money once.
    let refund_body = json!({ "freeze_id": id(&freeze), "amount": 40_00, "reason": "the minor's spending" });
    let refund_path = format!("{case_path}/refunds");
    let refund = server.post_with_key(&refund_path, &reviewer.token, Some(&refund_body), b"refund-1").await;
    assert_eq!(refund.status, StatusCode::CREATED, "{:?}", refund.json());
    assert_eq!(refund.json()["kind"], "case_refund");
    let replayed = server.post_with_key(&refund_path, &reviewer.token, Some(&refund_body), b"refund-1").await;
    assert!(replayed.is_replay());
    assert_eq!(replayed.json(), refund.json());
    assert_eq!(server.balance(&minor).await, 100_00);
    assert_eq!(wallet(&server, &streamer).await, (0, 0, 0));
    let resolved = server
        .post(&format!("{case_path}/resolve"), &reviewer.token, json!({ "outcome": "refunded", "reason": "refunded in full" }))
        .await
        .expect(StatusCode::OK);
    assert_eq!(resolved["outcome"], "refunded");
    assert_eq!(resolved["refunded_amount"], 40_00);
    assert_eq!(server.get(&format!("/v1/ops/freezes/{}", id(&freeze)), &reviewer.token).await.expect(StatusCode::OK)["status"], "lifted");
    server.assert_verified();
}

/// The transaction number of the send of `packet_id`, from the sender's history.
pub(crate) async fn packet_send_txn_no(server: &TestServer, sender: &TestUser, packet_id: &str) -> String {
    let history = server.get("/v1/transactions", &sender.token).await.expect(StatusCode::OK);
    let send = history["data"]
        .as_array()
        .expect("transactions")
        .iter()
        .find(|txn| txn["kind"] == "packet_send" && txn["related"]["packet_id"] == packet_id)
        .unwrap_or_else(|| panic!("the send of {packet_id} in {history}"))
        .clone();
    text(&send["txn_no"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_fault_refunds_unclaimed_and_unsettled_money_at_once_but_not_settled_money() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let auditor = operator(&server, "ada", "auditor").await;
    let packet = server.send_packet(&alice, json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 15_00 })).await;
    let packet_txn_no = packet_send_txn_no(&server, &alice, &packet).await;
    let transfer =
        server.post("/v1/transfers", &alice.token, json!({ "recipient_id": bob.id, "amount": 25_00, "arrival": "instant" })).await.expect(StatusCode::CREATED);
    let transfer_txn_no = text(&transfer["txn_nos"][0]);
    assert_eq!(server.balance(&alice).await, 60_00);

    let complaint = complain(
        &server,
        &alice,
        json!({ "kind": "system_fault", "txn_nos": [packet_txn_no, transfer_txn_no], "description": "the app charged me twice and froze" }),
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(complaint["status"], "resolved", "{complaint}");
    assert_eq!(complaint["outcome"], "refunded");
    assert_eq!(complaint["refunded_amount"], 40_00);
    assert!(complaint["resolved_at"].is_string());
    assert_eq!(server.balance(&alice).await, 100_00);
    assert_eq!(server.packet(&packet, &alice).await["status"], "recalled");
    let transfer_path = format!("/v1/transfers/{}", id(&transfer));
    assert_eq!(server.get(&transfer_path, &alice.token).await.expect(StatusCode::OK)["status"], "cancelled");
    server.post_empty(&format!("/v1/packets/{packet}/claim"), &bob.token).await.expect_error(StatusCode::GONE, "packet_recalled");
    let late_log = upload_text(&server, &alice, "the log, too late", Some("log")).await;
    server
        .post(&format!("/v1/complaints/{}/evidence", id(&complaint)), &alice.token, json!({ "evidence_ids": [late_log] }))
        .await
        .expect_error(StatusCode::CONFLICT, "invalid_state");
    server.post_empty(&format!("{transfer_path}/accept"), &bob.token).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    assert_eq!(server.balance(&bob).await, 0);
    let audit = server.get("/v1/ops/audit", &auditor.token).await.expect(StatusCode::OK);
    let automatic =
        audit["data"].as_array().expect("entries").iter().find(|entry| entry["action"] == "case.auto_refund").expect("the automatic refund is audited").clone();
    assert_eq!(automatic["actor_id"], "system");
    assert_eq!(automatic["target"], id(&complaint).as_str());

    // Money that already settled is the recipient's: a fault about it goes to review.
    let settled_txn_no = settled_transfer(&server, &alice, &bob, 10_00).await;
    let reviewed = complain(&server, &alice, json!({ "kind": "system_fault", "txn_nos": [settled_txn_no], "description": "it sent twice" }))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(reviewed["status"], "needs_evidence");
    assert_eq!(reviewed["missing_evidence"], json!(["operation_recording_or_log"]));
    assert_eq!(reviewed["refunded_amount"], 0);
    assert!(reviewed["outcome"].is_null());
    assert_eq!(server.balance(&alice).await, 90_00);
    assert_eq!(server.balance(&bob).await, 10_00);
    let log = upload_text(&server, &alice, "12:00:01 POST /v1/transfers 201\n12:00:01 POST /v1/transfers 201\n", Some("log")).await;
    let with_log =
        server.post(&format!("/v1/complaints/{}/evidence", id(&reviewed)), &alice.token, json!({ "evidence_ids": [log] })).await.expect(StatusCode::OK);
    assert_eq!(with_log["status"], "submitted");
    server.assert_verified();
}

/// A server with no expiry scheduler: a timer that has fallen due stays undone until the test runs it,
/// which pins down the moment between a deadline and the scheduler's next pass.
struct ServerWithoutScheduler {
    endpoint: Endpoint,
    clock: ManualClock,
    service: Service,
    serving: tokio::task::JoinHandle<()>,
    database: hongbao_testkit::TestDatabase,
}

impl ServerWithoutScheduler {
    async fn start() -> ServerWithoutScheduler {
        let database = hongbao_testkit::TestDatabase::new();
        let config = Config { admin_token: Some(ADMIN_TOKEN.to_owned()), evidence_dir: database.evidence_dir(), ..Config::default() };
        let clock = ManualClock::new(START);
        let service = Service::start(database.store(), config, Arc::new(clock.clone())).expect("the service starts").service;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a free port");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        let router = hongbao_http::router(service.clone(), hongbao_http::HttpConfig::default());
        let serving = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        ServerWithoutScheduler { endpoint: Endpoint { base, client: reqwest::Client::new() }, clock, service, serving, database }
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.endpoint.call(reqwest::Method::POST, path, Some(token), Some(body)).await
    }

    fn assert_verified(&self) {
        let store = self.database.store();
        // The store's clients are synchronous, so they run off the async threads.
        let report = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let mut conn = store.open_reader().expect("a reader");
                    hongbao_service::verify::verify(conn.as_mut()).expect("verify reads the journal")
                })
                .join()
                .expect("verify does not panic")
        });
        assert!(report.is_clean(), "verify: {report}: {:?}", report.discrepancies);
    }
}

impl Drop for ServerWithoutScheduler {
    /// Stops serving, also when a test fails; the database is the last field, so it goes last.
    fn drop(&mut self) {
        self.serving.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_fault_about_a_packet_expired_but_not_yet_refunded_is_still_taken() {
    let server = ServerWithoutScheduler::start().await;
    let alice = server.endpoint.create_user("alice").await;
    let bob = server.endpoint.create_user("bob").await;
    server.post("/v1/top-ups", ADMIN_TOKEN, json!({ "user_id": alice.id, "amount": 100_00, "reference": "salary" })).await.expect(StatusCode::CREATED);
    let packet = server
        .post("/v1/packets", &alice.token, json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 30_00 }))
        .await
        .expect(StatusCode::CREATED);
    let history = server.endpoint.call(reqwest::Method::GET, "/v1/transactions", Some(&alice.token), None).await.expect(StatusCode::OK);
    let packet_txn_no = text(&history["data"][0]["txn_no"]);
    assert_eq!(history["data"][0]["related"]["packet_id"], packet["id"]);

    // The packet has expired, and the scheduler has not refunded it yet: it is still open, unclaimed.
    server.clock.set(timestamp(&packet["expires_at"]));
    let complaint = server
        .post(
            "/v1/complaints",
            &alice.token,
            json!({ "kind": "system_fault", "txn_nos": [packet_txn_no], "description": "the packet never showed up for bob" }),
        )
        .await;
    assert_eq!(
        complaint.status,
        StatusCode::CREATED,
        "a complaint about money never claimed is taken, whatever the scheduler has done yet: {:?}",
        complaint.body
    );

    // However the complaint dealt with it, the money comes back exactly once.
    server.service.run_due_timers().await.expect("the timers run");
    let wallet = server.endpoint.call(reqwest::Method::GET, "/v1/wallet", Some(&alice.token), None).await.expect(StatusCode::OK);
    assert_eq!(wallet["balance"], 100_00);
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_complaint_needs_only_a_description_and_can_be_rejected() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let reviewer = operator(&server, "rita", "reviewer").await;
    complain(&server, &alice, json!({ "kind": "other", "description": "   " })).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    complain(&server, &alice, json!({ "kind": "fraud", "description": "no transactions named" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    complain(&server, &alice, json!({ "kind": "theft", "description": "no such kind" })).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");

    let complaint = complain(&server, &alice, json!({ "kind": "other", "description": "the greeting text was cut off" })).await.expect(StatusCode::CREATED);
    assert_eq!(complaint["status"], "submitted");
    assert_eq!(complaint["respondent_ids"], json!([]));
    let case_path = format!("/v1/ops/cases/{}", id(&complaint));
    server
        .post(&format!("{case_path}/resolve"), &reviewer.token, json!({ "outcome": "partially_refunded", "reason": "nothing was refunded" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    server
        .post(&format!("{case_path}/resolve"), &reviewer.token, json!({ "outcome": "won", "reason": "x" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    server
        .post(&format!("{case_path}/resolve"), &reviewer.token, json!({ "outcome": "rejected", "reason": "" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    let resolved = server
        .post(&format!("{case_path}/resolve"), &reviewer.token, json!({ "outcome": "rejected", "reason": "not a money matter" }))
        .await
        .expect(StatusCode::OK);
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["outcome"], "rejected");
    assert_eq!(resolved["note"], "not a money matter");
    let resolved_list = server.get("/v1/ops/cases?status=resolved&kind=other", &reviewer.token).await.expect(StatusCode::OK);
    assert_eq!(resolved_list["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(server.get("/v1/ops/cases?status=submitted", &reviewer.token).await.expect(StatusCode::OK)["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referred_case_keeps_its_freeze_for_the_police() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let reviewer = operator(&server, "rita", "reviewer").await;
    let txn_no = settled_transfer(&server, &alice, &bob, 60_00).await;
    let chat = upload_text(&server, &alice, "bob: invest with me, 30% a week", Some("chat_record")).await;
    let complaint = complain(&server, &alice, json!({ "kind": "fraud", "txn_nos": [txn_no], "description": "an investment scam", "evidence_ids": [chat] }))
        .await
        .expect(StatusCode::CREATED);
    let case_path = format!("/v1/ops/cases/{}", id(&complaint));
    let freeze = place_freeze(&server, &reviewer, json!({ "user_id": bob.id, "case_id": id(&complaint), "reason": "organised fraud suspected" })).await;
    assert_eq!(freeze["kind"], "full");
    assert!(freeze["amount"].is_null());

    let referred = server
        .post(&format!("{case_path}/resolve"), &reviewer.token, json!({ "outcome": "referred", "reason": "handed to the police" }))
        .await
        .expect(StatusCode::OK);
    assert_eq!(referred["outcome"], "referred");
    assert_eq!(server.get(&format!("/v1/ops/freezes/{}", id(&freeze)), &reviewer.token).await.expect(StatusCode::OK)["status"], "active");
    assert_eq!(wallet(&server, &bob).await, (60_00, 60_00, 0));
    server.post("/v1/withdrawals", &bob.token, json!({ "amount": 1_00 })).await.expect_error(StatusCode::CONFLICT, "account_frozen");

    // Only an explicit lift, for the police's word, releases it.
    let lifted =
        server.post(&format!("/v1/ops/freezes/{}/lift", id(&freeze)), &reviewer.token, json!({ "reason": "police released it" })).await.expect(StatusCode::OK);
    assert_eq!(lifted["status"], "lifted");
    assert_eq!(lifted["lift_reason"], "police released it");
    server
        .post(&format!("/v1/ops/freezes/{}/lift", id(&freeze)), &reviewer.token, json!({ "reason": "again" }))
        .await
        .expect_error(StatusCode::CONFLICT, "invalid_state");
    server.post("/v1/withdrawals", &bob.token, json!({ "amount": 1_00 })).await.expect(StatusCode::CREATED);
    server.assert_verified();
}

/// The value of an unlabelled Prometheus sample that counts things, if the text has it.
fn metric(metrics: &str, name: &str) -> Option<u64> {
    metrics.lines().find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|value| value.trim().parse().ok()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_case_past_its_deadline_is_flagged_listed_and_counted() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let support = operator(&server, "sam", "support").await;
    let reviewer = operator(&server, "rita", "reviewer").await;
    let txn_no = settled_transfer(&server, &alice, &bob, 10_00).await;
    let chat = upload_text(&server, &alice, "bob: thanks, bye", Some("chat_record")).await;
    let fraud = complain(&server, &alice, json!({ "kind": "fraud", "txn_nos": [txn_no], "description": "gone", "evidence_ids": [chat] }))
        .await
        .expect(StatusCode::CREATED);
    // A case resolved in time is never overdue, however late it is now.
    let other = complain(&server, &alice, json!({ "kind": "other", "description": "a question" })).await.expect(StatusCode::CREATED);
    server
        .post(&format!("/v1/ops/cases/{}/resolve", id(&other)), &reviewer.token, json!({ "outcome": "rejected", "reason": "answered" }))
        .await
        .expect(StatusCode::OK);

    // Seven business days always span a weekend, and end at the end of a day.
    let created_at = timestamp(&fraud["created_at"]);
    let due_at = timestamp(&fraud["due_at"]);
    let millis = due_at.millis() - created_at.millis();
    assert!((9 * 86_400_000..=12 * 86_400_000).contains(&millis), "a fraud case is due in 7 business days, not {millis} ms later: {fraud}");

    server.clock.set(due_at);
    assert_eq!(server.get(&format!("/v1/ops/cases/{}", id(&fraud)), &support.token).await.expect(StatusCode::OK)["overdue"], false, "due, not yet overdue");
    assert_eq!(server.get("/v1/ops/cases?overdue=true", &support.token).await.expect(StatusCode::OK)["data"], json!([]));

    server.clock.advance_seconds(1);
    let overdue = server.get("/v1/ops/cases?overdue=true", &support.token).await.expect(StatusCode::OK);
    let listed = overdue["data"].as_array().expect("cases");
    assert_eq!(listed.len(), 1, "{overdue}");
    assert_eq!(listed[0]["id"], id(&fraud).as_str());
    assert_eq!(listed[0]["overdue"], true);
    assert_eq!(server.get(&format!("/v1/complaints/{}", id(&fraud)), &alice.token).await.expect(StatusCode::OK)["overdue"], true);
    assert_eq!(server.get(&format!("/v1/ops/cases/{}", id(&other)), &support.token).await.expect(StatusCode::OK)["overdue"], false);
    server.get("/v1/ops/cases?overdue=maybe", &support.token).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");

    let metrics = server.client.get(format!("{}/metrics", server.base)).send().await.expect("metrics").text().await.expect("text");
    assert_eq!(metric(&metrics, "hongbao_cases_overdue"), Some(1), "GET /metrics has a hongbao_cases_overdue gauge of 1:\n{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaint_about_someone_elses_transactions_is_refused_and_creates_nothing() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.funded_user("bob", 100_00).await;
    let carol = server.user("carol").await;
    let own_txn_no = settled_transfer(&server, &alice, &carol, 10_00).await;
    let others_txn_no = settled_transfer(&server, &bob, &carol, 10_00).await;
    let chat = upload_text(&server, &alice, "carol: thanks", Some("chat_record")).await;

    for txn_nos in [json!([others_txn_no]), json!([own_txn_no, others_txn_no]), json!(["txn_doesnotexist"])] {
        complain(&server, &alice, json!({ "kind": "fraud", "txn_nos": txn_nos, "description": "not mine", "evidence_ids": [chat] }))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    }
    assert_eq!(server.get("/v1/complaints", &alice.token).await.expect(StatusCode::OK)["data"], json!([]));
    assert!(server.get(&format!("/v1/evidence/{chat}"), &alice.token).await.expect(StatusCode::OK)["case_id"].is_null(), "the file was not attached");
    let case_news: Vec<Value> = events_oldest_first(&server, &alice).await.into_iter().filter(|event| event["type"] == "complaint.updated").collect();
    assert_eq!(case_news, Vec::<Value>::new(), "a refused complaint tells nobody anything");
    // Another user's evidence cannot be attached either.
    let bobs_chat = upload_text(&server, &bob, "bob's own chat", Some("chat_record")).await;
    complain(&server, &alice, json!({ "kind": "fraud", "txn_nos": [own_txn_no], "description": "x", "evidence_ids": [bobs_chat] }))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(server.get("/v1/complaints", &alice.token).await.expect(StatusCode::OK)["data"], json!([]));

    // The same complaint about her own transaction is taken.
    complain(&server, &alice, json!({ "kind": "fraud", "txn_nos": [own_txn_no], "description": "mine", "evidence_ids": [chat] }))
        .await
        .expect(StatusCode::CREATED);
}

// ---- freezes ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_stops_every_outgoing_path_while_incoming_money_arrives() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.funded_user("bob", 100_00).await;
    let carol = server.user("carol").await;
    let reviewer = operator(&server, "rita", "reviewer").await;
    // Alice pays bob and then asks for it back, so bob has a return request to accept.
    let txn_no = settled_transfer(&server, &alice, &bob, 10_00).await;
    let request = server.post("/v1/return-requests", &alice.token, json!({ "txn_no": txn_no, "reason": "wrong person" })).await.expect(StatusCode::CREATED);
    let accept_return = format!("/v1/return-requests/{}/accept", id(&request));

    let full = place_freeze(&server, &reviewer, json!({ "user_id": bob.id, "rule": "aml_review", "reason": "unusual inflows" })).await;
    assert_eq!(full["kind"], "full");
    assert_eq!(full["rule"], "aml_review");
    assert!(full["case_id"].is_null());
    assert_eq!(wallet(&server, &bob).await, (110_00, 110_00, 0));
    let before = server.ledger_state();
    server.post("/v1/withdrawals", &bob.token, json!({ "amount": 1_00 })).await.expect_error(StatusCode::CONFLICT, "account_frozen");
    server
        .post("/v1/packets", &bob.token, json!({ "kind": "normal", "recipient_id": carol.id, "amount_per_share": 1_00 }))
        .await
        .expect_error(StatusCode::CONFLICT, "account_frozen");
    server
        .post("/v1/transfers", &bob.token, json!({ "recipient_id": carol.id, "amount": 1_00, "arrival": "instant" }))
        .await
        .expect_error(StatusCode::CONFLICT, "account_frozen");
    server.post_empty(&accept_return, &bob.token).await.expect_error(StatusCode::CONFLICT, "account_frozen");
    assert_eq!(server.ledger_state(), before, "refused spending changes nothing");
    assert_eq!(server.get(&format!("/v1/return-requests/{}", id(&request)), &bob.token).await.expect(StatusCode::OK)["status"], "pending");

    // Incoming money still arrives, and is frozen with the rest.
    server.top_up(&bob, 5_00).await;
    settled_transfer(&server, &alice, &bob, 7_00).await;
    let packet = server.send_packet(&alice, json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 3_00 })).await;
    server.post_empty(&format!("/v1/packets/{packet}/claim"), &bob.token).await.expect(StatusCode::OK);
    assert_eq!(wallet(&server, &bob).await, (125_00, 125_00, 0));

    let lifted = server.post(&format!("/v1/ops/freezes/{}/lift", id(&full)), &reviewer.token, json!({ "reason": "cleared" })).await.expect(StatusCode::OK);
    assert_eq!(lifted["status"], "lifted");
    assert_eq!(wallet(&server, &bob).await, (125_00, 0, 125_00));
    server.post_empty(&accept_return, &bob.token).await.expect(StatusCode::OK);
    server.post("/v1/withdrawals", &bob.token, json!({ "amount": 4_00 })).await.expect(StatusCode::CREATED);
    assert_eq!(server.balance(&bob).await, 111_00);

    // A hold leaves the rest spendable, to the cent.
    let hold = place_freeze(&server, &reviewer, json!({ "user_id": bob.id, "amount": 100_00, "rule": "aml_review", "reason": "hold most of it" })).await;
    assert_eq!(wallet(&server, &bob).await, (111_00, 100_00, 11_00));
    let before = server.ledger_state();
    server.post("/v1/withdrawals", &bob.token, json!({ "amount": 11_01 })).await.expect_error(StatusCode::CONFLICT, "insufficient_funds");
    server
        .post("/v1/transfers", &bob.token, json!({ "recipient_id": carol.id, "amount": 11_01, "arrival": "instant" }))
        .await
        .expect_error(StatusCode::CONFLICT, "insufficient_funds");
    server
        .post("/v1/packets", &bob.token, json!({ "kind": "normal", "recipient_id": carol.id, "amount_per_share": 11_01 }))
        .await
        .expect_error(StatusCode::CONFLICT, "insufficient_funds");
    assert_eq!(server.ledger_state(), before);
    server.post("/v1/withdrawals", &bob.token, json!({ "amount": 6_00 })).await.expect(StatusCode::CREATED);
    server.post("/v1/transfers", &bob.token, json!({ "recipient_id": carol.id, "amount": 5_00, "arrival": "instant" })).await.expect(StatusCode::CREATED);
    assert_eq!(wallet(&server, &bob).await, (100_00, 100_00, 0));
    server.post(&format!("/v1/ops/freezes/{}/lift", id(&hold)), &reviewer.token, json!({ "reason": "cleared" })).await.expect(StatusCode::OK);
    assert_eq!(wallet(&server, &bob).await, (100_00, 0, 100_00));
    let bobs_freezes = server.get(&format!("/v1/ops/freezes?user_id={}", bob.id), &reviewer.token).await.expect(StatusCode::OK);
    assert_eq!(bobs_freezes["data"].as_array().map(Vec::len), Some(2));
    assert!(bobs_freezes["data"].as_array().expect("freezes").iter().all(|freeze| freeze["status"] == "lifted"));
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_with_an_end_expires_when_the_clock_passes_it() {
    let server = TestServer::start().await;
    let bob = server.funded_user("bob", 50_00).await;
    let reviewer = operator(&server, "rita", "reviewer").await;
    let until = server.clock.now().plus_seconds(3_600);
    place_freeze_refused(
        &server,
        &reviewer,
        json!({ "user_id": bob.id, "rule": "velocity", "until": server.clock.now().to_rfc3339(), "reason": "already over" }),
        StatusCode::BAD_REQUEST,
        "validation_failed",
    )
    .await;
    let freeze =
        place_freeze(&server, &reviewer, json!({ "user_id": bob.id, "rule": "velocity", "until": until.to_rfc3339(), "reason": "too many recalls" })).await;
    assert_eq!(freeze["until"], until.to_rfc3339());
    server.post("/v1/withdrawals", &bob.token, json!({ "amount": 1_00 })).await.expect_error(StatusCode::CONFLICT, "account_frozen");

    server.clock.advance_seconds(3_599);
    assert_eq!(wallet(&server, &bob).await, (50_00, 50_00, 0), "a second before its end it still holds");
    server.clock.advance_seconds(1);
    assert_eq!(server.get(&format!("/v1/ops/freezes/{}", id(&freeze)), &reviewer.token).await.expect(StatusCode::OK)["status"], "expired");
    assert_eq!(wallet(&server, &bob).await, (50_00, 0, 50_00));
    server.post("/v1/withdrawals", &bob.token, json!({ "amount": 1_00 })).await.expect(StatusCode::CREATED);
    server
        .post(&format!("/v1/ops/freezes/{}/lift", id(&freeze)), &reviewer.token, json!({ "reason": "late" }))
        .await
        .expect_error(StatusCode::CONFLICT, "invalid_state");
    server.assert_verified();
}

// ---- reversals and disclosures: the two-person rule ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reversal_needs_a_second_legal_officer_and_moves_the_money_once() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let first_officer = operator(&server, "lu", "legal").await;
    let second_officer = operator(&server, "li", "legal").await;
    let txn_no = settled_transfer(&server, &alice, &bob, 40_00).await;

    let reversal = server
        .post("/v1/ops/reversals", &first_officer.token, json!({ "txn_no": txn_no, "reason": "court order", "reference": "(2027)京0105民初123号" }))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(reversal["status"], "pending");
    assert_eq!(reversal["amount"], 40_00, "without an amount, all of it");
    assert_eq!(reversal["payer_id"], alice.id.as_str());
    assert_eq!(reversal["recipient_id"], bob.id.as_str());
    assert_eq!(reversal["requested_by"], first_officer.id.as_str());
    assert!(reversal["reversal_txn_no"].is_null());
    server
        .post("/v1/ops/reversals", &second_officer.token, json!({ "txn_no": txn_no, "reason": "again", "reference": "x" }))
        .await
        .expect_error(StatusCode::CONFLICT, "invalid_state");
    let path = format!("/v1/ops/reversals/{}", id(&reversal));

    let before = server.ledger_state();
    server.post(&format!("{path}/approve"), &first_officer.token, json!({ "reason": "my own" })).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(server.ledger_state(), before, "the asking officer's approval moves nothing");
    assert_eq!(server.get(&path, &second_officer.token).await.expect(StatusCode::OK)["status"], "pending");

    // The admin manages operators but takes no part in legal decisions.
    server.post(&format!("{path}/approve"), ADMIN_TOKEN, json!({ "reason": "admin" })).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(server.ledger_state(), before);

    let approved = server.post(&format!("{path}/approve"), &second_officer.token, json!({ "reason": "order checked" })).await.expect(StatusCode::OK);
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["decided_by"], second_officer.id.as_str());
    let reversal_txn_no = text(&approved["reversal_txn_no"]);
    assert_eq!(server.balance(&alice).await, 100_00);
    assert_eq!(server.balance(&bob).await, 0);
    let reversal_txn = server.get(&format!("/v1/transactions/{reversal_txn_no}"), &alice.token).await.expect(StatusCode::OK);
    assert_eq!(reversal_txn["kind"], "reversal");
    assert_eq!(reversal_txn["amount"], 40_00);
    assert_eq!(reversal_txn["related"]["corrects_txn_no"], txn_no.as_str());

    let after = server.ledger_state();
    server.post(&format!("{path}/approve"), &second_officer.token, json!({ "reason": "twice" })).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    server.post(&format!("{path}/reject"), &first_officer.token, json!({ "reason": "too late" })).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    server
        .post("/v1/ops/reversals", &first_officer.token, json!({ "txn_no": txn_no, "reason": "nothing is left", "reference": "x" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(server.ledger_state(), after);

    // A rejected reversal moves nothing, whoever rejects it.
    let second_txn_no = settled_transfer(&server, &alice, &bob, 10_00).await;
    for rejecter in [&second_officer, &first_officer] {
        let pending = server
            .post("/v1/ops/reversals", &first_officer.token, json!({ "txn_no": second_txn_no, "amount": 5_00, "reason": "police request", "reference": "P-1" }))
            .await
            .expect(StatusCode::CREATED);
        let pending_path = format!("/v1/ops/reversals/{}", id(&pending));
        let before = server.ledger_state();
        let rejected = server.post(&format!("{pending_path}/reject"), &rejecter.token, json!({ "reason": "no valid order" })).await.expect(StatusCode::OK);
        assert_eq!(rejected["status"], "rejected");
        assert!(rejected["reversal_txn_no"].is_null());
        server
            .post(&format!("{pending_path}/approve"), &second_officer.token, json!({ "reason": "after all" }))
            .await
            .expect_error(StatusCode::CONFLICT, "invalid_state");
        assert_eq!(server.ledger_state(), before);
    }
    assert_eq!(server.balance(&bob).await, 10_00);
    let rejected_list = server.get("/v1/ops/reversals?status=rejected", &second_officer.token).await.expect(StatusCode::OK);
    assert_eq!(rejected_list["data"].as_array().map(Vec::len), Some(2));

    // A reversal never overdraws: with the money spent, approval is refused and the request waits.
    let pending = server
        .post("/v1/ops/reversals", &first_officer.token, json!({ "txn_no": second_txn_no, "reason": "court order", "reference": "R-9" }))
        .await
        .expect(StatusCode::CREATED);
    server.post("/v1/withdrawals", &bob.token, json!({ "amount": 6_00 })).await.expect(StatusCode::CREATED);
    let before = server.ledger_state();
    let pending_path = format!("/v1/ops/reversals/{}", id(&pending));
    server
        .post(&format!("{pending_path}/approve"), &second_officer.token, json!({ "reason": "order" }))
        .await
        .expect_error(StatusCode::CONFLICT, "insufficient_funds");
    assert_eq!(server.ledger_state(), before);
    assert_eq!(server.get(&pending_path, &second_officer.token).await.expect(StatusCode::OK)["status"], "pending");
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disclosure_shows_the_identity_only_after_a_second_legal_officer_approves() {
    let server = TestServer::start().await;
    let bob = server.user("bob").await;
    let first_officer = operator(&server, "lu", "legal").await;
    let second_officer = operator(&server, "li", "legal").await;
    let auditor = operator(&server, "ada", "auditor").await;

    let disclosure = server
        .post(
            "/v1/ops/disclosures",
            &first_officer.token,
            json!({ "user_id": bob.id, "requester": "某市公安局经侦支队", "reference": "公(经)调字[2027]1号", "reason": "fraud investigation" }),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(disclosure["status"], "pending");
    assert!(disclosure["identity"].is_null());
    let path = format!("/v1/ops/disclosures/{}", id(&disclosure));
    assert!(server.get(&path, &second_officer.token).await.expect(StatusCode::OK)["identity"].is_null());

    server.post(&format!("{path}/approve"), &first_officer.token, json!({ "reason": "mine" })).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(server.get(&path, &first_officer.token).await.expect(StatusCode::OK)["identity"].is_null());
    assert_eq!(server.get(&path, &auditor.token).await.expect(StatusCode::OK)["status"], "pending");

    server.post(&format!("{path}/approve"), &second_officer.token, json!({ "reason": "warrant checked" })).await.expect(StatusCode::OK);
    let approved = server.get(&path, &first_officer.token).await.expect(StatusCode::OK);
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["identity"]["user_id"], bob.id.as_str());
    assert_eq!(approved["identity"]["name"], "bob");
    server.post(&format!("{path}/approve"), &second_officer.token, json!({ "reason": "twice" })).await.expect_error(StatusCode::CONFLICT, "invalid_state");
    let listed = server.get("/v1/ops/disclosures?status=approved", &auditor.token).await.expect(StatusCode::OK);
    assert_eq!(listed["data"][0]["identity"]["name"], "bob");
}

// ---- roles and visibility ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_may_do_exactly_its_part_and_users_none_of_it() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let support = operator(&server, "sam", "support").await;
    let reviewer = operator(&server, "rita", "reviewer").await;
    let legal = operator(&server, "lu", "legal").await;
    let auditor = operator(&server, "ada", "auditor").await;
    let txn_no = settled_transfer(&server, &alice, &bob, 50_00).await;
    let chat = upload_text(&server, &alice, "bob: it's a deal", Some("chat_record")).await;
    let complaint = complain(&server, &alice, json!({ "kind": "fraud", "txn_nos": [txn_no], "description": "no deal", "evidence_ids": [chat] }))
        .await
        .expect(StatusCode::CREATED);
    let case_id = id(&complaint);
    let case_path = format!("/v1/ops/cases/{case_id}");
    let freeze = place_freeze(&server, &reviewer, json!({ "user_id": bob.id, "amount": 10_00, "case_id": case_id, "reason": "hold" })).await;
    let freeze_id = id(&freeze);
    let reversal = server
        .post("/v1/ops/reversals", &legal.token, json!({ "txn_no": txn_no, "reason": "court order", "reference": "R-1" }))
        .await
        .expect(StatusCode::CREATED);
    let reversal_path = format!("/v1/ops/reversals/{}", id(&reversal));
    let before = server.ledger_state();

    let refund_body = json!({ "freeze_id": freeze_id, "amount": 1_00, "reason": "refund" });
    let reason = json!({ "reason": "because" });
    // Every operator write, by name, with a body that is valid apart from who sends it.
    let writes: Vec<(&str, String, Value)> = vec![
        ("assign", format!("{case_path}/assign"), reason.clone()),
        ("request-evidence", format!("{case_path}/request-evidence"), reason.clone()),
        ("freeze", "/v1/ops/freezes".to_owned(), json!({ "user_id": bob.id, "case_id": case_id, "reason": "more" })),
        ("lift", format!("/v1/ops/freezes/{freeze_id}/lift"), reason.clone()),
        ("refund", format!("{case_path}/refunds"), refund_body.clone()),
        ("resolve", format!("{case_path}/resolve"), json!({ "outcome": "rejected", "reason": "done" })),
        ("reversal", "/v1/ops/reversals".to_owned(), json!({ "txn_no": txn_no, "reason": "order", "reference": "R-2" })),
        ("approve reversal", format!("{reversal_path}/approve"), reason.clone()),
        ("disclosure", "/v1/ops/disclosures".to_owned(), json!({ "user_id": bob.id, "requester": "court", "reference": "D-1", "reason": "order" })),
        ("operator", "/v1/ops/operators".to_owned(), json!({ "name": "eve", "role": "reviewer" })),
    ];
    let refused_by_role: [(&str, &TestOperator, &[&str]); 4] = [
        ("support", &support, &["freeze", "lift", "refund", "resolve", "reversal", "approve reversal", "disclosure", "operator"]),
        ("reviewer", &reviewer, &["reversal", "approve reversal", "disclosure", "operator"]),
        ("legal", &legal, &["assign", "request-evidence", "freeze", "lift", "refund", "resolve", "operator"]),
        ("auditor", &auditor, &["assign", "request-evidence", "freeze", "lift", "refund", "resolve", "reversal", "approve reversal", "disclosure", "operator"]),
    ];
    for (role, operator, refused) in refused_by_role {
        for (name, path, body) in writes.iter().filter(|(name, _, _)| refused.contains(name)) {
            let answer = server.post(path, &operator.token, body.clone()).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{role} may not {name}: {:?}", answer.body);
            assert_eq!(answer.code(), "forbidden");
        }
        // A user's wallet routes are not an operator's.
        server.post("/v1/withdrawals", &operator.token, json!({ "amount": 1_00 })).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
        server.post("/v1/complaints", &operator.token, json!({ "kind": "other", "description": "x" })).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
        upload(&server, &operator.token, "text/plain", b"operator file", None).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    }
    // A user has no part in any operator route, reads included.
    for (name, path, body) in &writes {
        let answer = server.post(path, &alice.token, body.clone()).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "a user may not {name}: {:?}", answer.body);
    }
    for path in ["/v1/ops/me", "/v1/ops/cases", &case_path, "/v1/ops/freezes", "/v1/ops/reversals", "/v1/ops/disclosures", "/v1/ops/audit", "/v1/ops/operators"]
    {
        server.get(path, &alice.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    }
    server.get(&format!("/v1/ops/users/{}/wallet", bob.id), &alice.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(server.ledger_state(), before, "every refused write changed nothing");
    let case = server.get(&case_path, &auditor.token).await.expect(StatusCode::OK);
    assert_eq!(case["status"], "submitted");
    assert_eq!(server.get(&format!("/v1/ops/freezes/{freeze_id}"), &auditor.token).await.expect(StatusCode::OK)["status"], "active");
    assert_eq!(server.get(&reversal_path, &auditor.token).await.expect(StatusCode::OK)["status"], "pending");
    assert_eq!(server.get("/v1/ops/freezes", &auditor.token).await.expect(StatusCode::OK)["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(server.get("/v1/ops/disclosures", &auditor.token).await.expect(StatusCode::OK)["data"], json!([]));

    // The reads each role has.
    for operator in [&support, &reviewer, &legal, &auditor] {
        assert_eq!(server.get("/v1/ops/cases", &operator.token).await.expect(StatusCode::OK)["data"][0]["id"], case_id.as_str());
        server.get(&case_path, &operator.token).await.expect(StatusCode::OK);
        assert_eq!(server.get(&format!("/v1/ops/users/{}/wallet", bob.id), &operator.token).await.expect(StatusCode::OK)["frozen"], 10_00);
        assert_eq!(server.get("/v1/ops/me", &operator.token).await.expect(StatusCode::OK)["id"], operator.id.as_str());
    }
    for operator in [&legal, &auditor] {
        server.get("/v1/ops/audit", &operator.token).await.expect(StatusCode::OK);
        server.get(&reversal_path, &operator.token).await.expect(StatusCode::OK);
    }
    for operator in [&support, &reviewer] {
        server.get("/v1/ops/audit", &operator.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
        server.get(&reversal_path, &operator.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
        server.get("/v1/ops/reversals", &operator.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    }
    assert_eq!(server.get("/v1/ops/operators", &auditor.token).await.expect(StatusCode::OK)["data"].as_array().map(Vec::len), Some(4));

    // The roles' own writes go through: the refusals above were about the role, not the request.
    server.post(&format!("{case_path}/assign"), &support.token, json!({ "reason": "taking it" })).await.expect(StatusCode::OK);
    server.post(&format!("{case_path}/refunds"), &reviewer.token, refund_body.clone()).await.expect(StatusCode::CREATED);
    // A disabled operator's token stops working at once.
    server
        .post(&format!("/v1/ops/operators/{}/disable", support.id), &auditor.token, json!({ "reason": "left" }))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let disabled =
        server.post(&format!("/v1/ops/operators/{}/disable", support.id), ADMIN_TOKEN, json!({ "reason": "left the team" })).await.expect(StatusCode::OK);
    assert!(disabled["disabled_at"].is_string());
    server.get("/v1/ops/cases", &support.token).await.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    server.assert_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_and_complaints_are_hidden_from_other_users_but_not_from_operators() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.funded_user("bob", 100_00).await;
    let reviewer = operator(&server, "rita", "reviewer").await;
    let auditor = operator(&server, "ada", "auditor").await;
    let txn_no = settled_transfer(&server, &alice, &bob, 10_00).await;
    let chat = "bob: 你先付款, 我明天发货\nalice: 好的\n";
    let evidence_id = upload_text(&server, &alice, chat, Some("chat_record")).await;
    let unattached_id = upload_text(&server, &alice, "a draft alice has not filed", None).await;
    let complaint = complain(&server, &alice, json!({ "kind": "fraud", "txn_nos": [txn_no], "description": "no delivery", "evidence_ids": [evidence_id] }))
        .await
        .expect(StatusCode::CREATED);
    let case_id = id(&complaint);

    // Bob, the very user complained about, sees none of it.
    server.get(&format!("/v1/complaints/{case_id}"), &bob.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(server.get("/v1/complaints", &bob.token).await.expect(StatusCode::OK)["data"], json!([]));
    for evidence in [&evidence_id, &unattached_id] {
        server.get(&format!("/v1/evidence/{evidence}"), &bob.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
        server.get(&format!("/v1/evidence/{evidence}/content"), &bob.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    let bobs_chat = upload_text(&server, &bob, "bob's side", Some("chat_record")).await;
    server
        .post(&format!("/v1/complaints/{case_id}/evidence"), &bob.token, json!({ "evidence_ids": [bobs_chat] }))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    server.get("/v1/complaints/cmp_doesnotexist", &alice.token).await.expect_error(StatusCode::NOT_FOUND, "not_found");

    // The complainant and operators get the very bytes uploaded.
    for token in [&alice.token, &reviewer.token, &auditor.token, &ADMIN_TOKEN.to_owned()] {
        let (status, bytes, headers) = download(&server, &format!("/v1/evidence/{evidence_id}/content"), token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(bytes, chat.as_bytes());
        assert_eq!(headers.get("content-type").and_then(|value| value.to_str().ok()), Some("text/plain"));
        assert_eq!(headers.get("x-content-type-options").and_then(|value| value.to_str().ok()), Some("nosniff"));
        assert!(headers.get("content-disposition").and_then(|value| value.to_str().ok()).is_some_and(|value| value.starts_with("attachment")));
    }
    let as_reviewer = server.get(&format!("/v1/complaints/{case_id}"), &reviewer.token).await.expect(StatusCode::OK);
    assert_eq!(as_reviewer["id"], case_id.as_str());
    assert_eq!(std::fs::read(stored_path(&server, chat.as_bytes())).expect("the file is stored by its hash"), chat.as_bytes());
}

// ---- evidence limits ----

/// Sends a multipart upload over a raw connection that announces `body` in full but stops after
/// `sent` bytes and closes its sending side, as a client that loses its network would. Returns the
/// answer's status, or `None` when the server closed without one.
async fn cut_off_upload(server: &TestServer, token: &str, body: &[u8], sent: usize) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect to the server");
    let head = format!(
        "POST /v1/evidence HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("send the head");
    stream.write_all(&body[..sent]).await.expect("send part of the body");
    stream.flush().await.expect("flush");
    stream.shutdown().await.expect("close the sending side");
    let mut response = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("the server answers or closes within 10 s")
        .ok()?;
    let response = String::from_utf8_lossy(&response);
    response.strip_prefix("HTTP/1.1 ").and_then(|rest| rest.get(..3)).and_then(|status| status.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_cut_off_uploads_leave_nothing_in_the_evidence_store() {
    let mut config = Config::default();
    config.complaints.max_file_bytes = 1_024;
    let server = TestServer::start_with(config).await;
    let alice = server.user("alice").await;
    let evidence_dir = server.config.evidence_dir.clone();

    let kept = "k".repeat(1_024);
    let evidence = upload(&server, &alice.token, "text/plain", kept.as_bytes(), Some("chat_record")).await.expect(StatusCode::CREATED);
    assert_eq!(evidence["size"], 1_024, "exactly the limit is allowed");
    // The same bytes again are a new record of the one stored file.
    let again = upload(&server, &alice.token, "text/plain", kept.as_bytes(), None).await.expect(StatusCode::CREATED);
    assert_ne!(again["id"], evidence["id"]);
    assert_eq!(again["sha256"], evidence["sha256"]);

    let over = "o".repeat(1_025);
    upload(&server, &alice.token, "text/plain", over.as_bytes(), None).await.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "limit_exceeded");
    // Far past the limit the body itself is refused before it is read.
    let far_over = vec![b'f'; 256 * 1024];
    upload(&server, &alice.token, "text/plain", &far_over, None).await.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "limit_exceeded");
    let not_png = b"this is text pretending to be a picture";
    upload(&server, &alice.token, "image/png", not_png, None).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    upload(&server, &alice.token, "application/pdf", PNG, None).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    upload(&server, &alice.token, "text/plain", PNG, None).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    let zip = b"PK\x03\x04\x14\0\0\0\x08\0";
    let unsupported = upload(&server, &alice.token, "application/zip", zip, None).await;
    assert_eq!(unsupported.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{:?}", unsupported.body);
    // API.md's list of codes has none for a media type, so only the problem's shape is checked.
    assert!(!unsupported.code().is_empty());
    upload(&server, &alice.token, "text/plain", b"", None).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    upload(&server, &alice.token, "text/plain", b"labelled oddly", Some("selfie")).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    let no_content_type = multipart(&[Part { name: "file", filename: Some("x"), content_type: None, bytes: b"no type" }]);
    send_upload(&server, &alice.token, no_content_type).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    send_upload(&server, &alice.token, multipart(&[label_part("log")])).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");

    // A body that ends in the middle of the file part, without its closing boundary.
    let whole = multipart(&[file_part("text/plain", "c".repeat(800).as_bytes())]);
    let truncated = whole[..whole.len() / 2].to_vec();
    send_upload(&server, &alice.token, truncated).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    // A connection that announces the whole body and goes away halfway through it.
    let status = cut_off_upload(&server, &alice.token, &whole, whole.len() / 2).await;
    assert!(status.is_none_or(|status| (400..500).contains(&status)), "a cut-off upload is refused, not {status:?}");

    // Whatever the server did with the cut-off connection, its temporary file goes away.
    crate::harness::eventually("in-progress uploads going away", crate::harness::WAIT, || async {
        let left = files_under(&evidence_dir.join("tmp"));
        if left.is_empty() { Ok(()) } else { Err(format!("{left:?}")) }
    })
    .await;
    assert_eq!(files_under(&evidence_dir), [stored_path(&server, kept.as_bytes())], "only the accepted file is stored");
    assert!(evidence_dir.join("tmp").is_dir());
    // The server still serves uploads after all that.
    upload_text(&server, &alice, "still working", None).await;
}

/// A multipart body whose file part is complete but which then goes wrong, named for the failure message.
fn refused_after_the_file_part(name: &'static str, content: &'static [u8], after: Vec<u8>) -> (&'static str, &'static [u8], Vec<u8>) {
    let mut body = multipart(&[file_part("text/plain", content)]);
    // Drop the closing boundary, so `after` continues the body right after the file part's delimiter.
    body.truncate(body.len() - b"--\r\n".len());
    body.extend_from_slice(&after);
    (name, content, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_refused_after_its_file_part_leaves_no_file_behind() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    // The file part streams into the store as it arrives; whatever refuses the upload afterwards must
    // still take the file out again, or the store fills with files no record knows of.
    let then_a_part =
        |name: &str, content: &str| format!("\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{content}\r\n--{BOUNDARY}--\r\n").into_bytes();
    let second_file =
        format!("\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b\"\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--{BOUNDARY}--\r\n");
    let refusals = [
        refused_after_the_file_part("a second file part", b"the first of two files", second_file.into_bytes()),
        refused_after_the_file_part("a label that is not one", b"a file with a bad label after it", then_a_part("label", "selfie")),
        refused_after_the_file_part("an unknown part", b"a file with an unknown part after it", then_a_part("comment", "hello")),
        refused_after_the_file_part("a body that ends before its closing boundary", b"a file whose body was cut off after it", Vec::new()),
    ];
    let mut leaked = Vec::new();
    for (name, content, body) in refusals {
        let answer = send_upload(&server, &alice.token, body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{name}: {:?}", answer.body);
        assert_eq!(answer.code(), "validation_failed", "{name}");
        if stored_path(&server, content).exists() {
            leaked.push(name);
        }
    }
    // A connection lost right after the file part, with more of the body announced.
    let content: &[u8] = b"a file whose connection was lost after it";
    let whole = multipart(&[file_part("text/plain", content), label_part("log")]);
    // Cut inside the label part's headers, once the delimiter ending the file part has fully arrived.
    let second_boundary = whole.windows(BOUNDARY.len()).skip(1).position(|window| window == BOUNDARY.as_bytes()).expect("a second boundary") + 1;
    let status = cut_off_upload(&server, &alice.token, &whole, second_boundary + BOUNDARY.len() + "\r\nContent-Disp".len()).await;
    assert!(status.is_none_or(|status| (400..500).contains(&status)), "a cut-off upload is refused, not {status:?}");
    if stored_path(&server, content).exists() {
        leaked.push("a connection lost after the file part");
    }
    // The same Idempotency-Key again with another file is refused, after that file was streamed in.
    let replayed = b"the first upload under this key";
    let reused = b"another file under the same key";
    send_upload_with_key(&server, &alice.token, multipart(&[file_part("text/plain", replayed)]), Some("upload-1")).await.expect(StatusCode::CREATED);
    send_upload_with_key(&server, &alice.token, multipart(&[file_part("text/plain", reused)]), Some("upload-1"))
        .await
        .expect_error(StatusCode::CONFLICT, "idempotency_key_reused");
    if stored_path(&server, reused).exists() {
        leaked.push("an Idempotency-Key reused with another file");
    }
    assert!(files_under(&server.config.evidence_dir.join("tmp")).is_empty());
    assert_eq!(leaked, Vec::<&str>::new(), "uploads refused after their file part left the file in the evidence store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_holds_at_most_its_bytes_of_evidence() {
    let mut config = Config::default();
    config.complaints.max_file_bytes = 1_024;
    config.complaints.max_case_bytes = 1_500;
    let server = TestServer::start_with(config).await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let txn_no = settled_transfer(&server, &alice, &bob, 10_00).await;
    let files: Vec<String> = {
        let mut ids = Vec::new();
        for letter in ['a', 'b', 'c'] {
            ids.push(upload_text(&server, &alice, &letter.to_string().repeat(600), Some("chat_record")).await);
        }
        ids
    };

    complain(&server, &alice, json!({ "kind": "fraud", "txn_nos": [txn_no], "description": "too much", "evidence_ids": files }))
        .await
        .expect_error(StatusCode::CONFLICT, "limit_exceeded");
    assert_eq!(server.get("/v1/complaints", &alice.token).await.expect(StatusCode::OK)["data"], json!([]));
    let complaint = complain(&server, &alice, json!({ "kind": "fraud", "txn_nos": [txn_no], "description": "fits", "evidence_ids": files[..2] }))
        .await
        .expect(StatusCode::CREATED);
    let add_path = format!("/v1/complaints/{}/evidence", id(&complaint));
    server.post(&add_path, &alice.token, json!({ "evidence_ids": [files[2]] })).await.expect_error(StatusCode::CONFLICT, "limit_exceeded");
    assert_eq!(server.get(&format!("/v1/complaints/{}", id(&complaint)), &alice.token).await.expect(StatusCode::OK)["evidence_ids"], json!(files[..2]));
    assert!(server.get(&format!("/v1/evidence/{}", files[2]), &alice.token).await.expect(StatusCode::OK)["case_id"].is_null());
    // What fits in the room left is still taken.
    let small = upload_text(&server, &alice, &"d".repeat(300), None).await;
    server.post(&add_path, &alice.token, json!({ "evidence_ids": [small] })).await.expect(StatusCode::OK);
}

// ---- the audit log ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_lists_operator_actions_newest_first_in_one_chain() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let support = operator(&server, "sam", "support").await;
    let reviewer = operator(&server, "rita", "reviewer").await;
    let legal = operator(&server, "lu", "legal").await;
    let auditor = operator(&server, "ada", "auditor").await;
    let txn_no = settled_transfer(&server, &alice, &bob, 10_00).await;
    let chat = upload_text(&server, &alice, "chat", Some("chat_record")).await;
    let complaint = complain(&server, &alice, json!({ "kind": "fraud", "txn_nos": [txn_no], "description": "x", "evidence_ids": [chat] }))
        .await
        .expect(StatusCode::CREATED);
    let case_id = id(&complaint);
    server.post(&format!("/v1/ops/cases/{case_id}/assign"), &support.token, json!({ "reason": "first in the queue" })).await.expect(StatusCode::OK);
    let freeze = place_freeze(&server, &reviewer, json!({ "user_id": bob.id, "amount": 5_00, "case_id": case_id, "reason": "secure the funds" })).await;
    server.post(&format!("/v1/ops/freezes/{}/lift", id(&freeze)), &reviewer.token, json!({ "reason": "placed in error" })).await.expect(StatusCode::OK);
    let disclosure = server
        .post("/v1/ops/disclosures", &legal.token, json!({ "user_id": bob.id, "requester": "court", "reference": "D-7", "reason": "summons" }))
        .await
        .expect(StatusCode::CREATED);
    // Refused actions are not actions: they leave no entry.
    server
        .post("/v1/ops/freezes", &support.token, json!({ "user_id": bob.id, "rule": "x", "reason": "not mine to do" }))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");

    let log = server.get("/v1/ops/audit", &auditor.token).await.expect(StatusCode::OK);
    let entries = log["data"].as_array().expect("entries");
    let summary: Vec<(String, String, String, String)> =
        entries.iter().map(|entry| (text(&entry["actor_id"]), text(&entry["action"]), text(&entry["target"]), text(&entry["reason"]))).collect();
    let expected_newest: Vec<(String, String, String, String)> = vec![
        (legal.id.clone(), "disclosure.request".into(), id(&disclosure), "summons".into()),
        (reviewer.id.clone(), "freeze.lift".into(), id(&freeze), "placed in error".into()),
        (reviewer.id.clone(), "freeze.create".into(), id(&freeze), "secure the funds".into()),
        (support.id.clone(), "case.assign".into(), case_id.clone(), "first in the queue".into()),
    ];
    assert_eq!(summary[..4], expected_newest[..], "{log}");
    assert_eq!(entries[0]["actor_role"], "legal");
    assert_eq!(entries[2]["actor_role"], "reviewer");
    // The four operators' creation by the admin comes first in time, so last in the list.
    assert_eq!(entries.len(), 8, "{log}");
    assert!(entries[4..].iter().all(|entry| entry["action"] == "operator.create" && entry["actor_id"] == "admin"), "{log}");
    for pair in entries.windows(2) {
        assert_eq!(pair[0]["seq"].as_u64(), pair[1]["seq"].as_u64().map(|seq| seq + 1), "newest first, no gaps");
        assert_eq!(pair[0]["prev_hash"], pair[1]["hash"], "each entry chains to the one before it");
    }

    // Pages of two walk the same list.
    let mut paged = Vec::new();
    let mut path = "/v1/ops/audit?limit=2".to_owned();
    loop {
        let page = server.get(&path, &legal.token).await.expect(StatusCode::OK);
        paged.extend(page["data"].as_array().expect("entries").iter().map(|entry| entry["seq"].clone()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/ops/audit?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged, entries.iter().map(|entry| entry["seq"].clone()).collect::<Vec<_>>());
    server.assert_verified();
}

// ---- events ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_hear_of_their_own_cases_and_freezes_in_order_and_of_nothing_else() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let carol = server.funded_user("carol", 100_00).await;
    let support = operator(&server, "sam", "support").await;
    let reviewer = operator(&server, "rita", "reviewer").await;
    let txn_no = settled_transfer(&server, &alice, &bob, 30_00).await;
    // Carol has a case of her own, so there is someone else's news to leak.
    let carols_txn_no = settled_transfer(&server, &carol, &bob, 5_00).await;
    let carols_case =
        complain(&server, &carol, json!({ "kind": "fraud", "txn_nos": [carols_txn_no], "description": "carol's" })).await.expect(StatusCode::CREATED);
    let carols_case_id = id(&carols_case);

    let complaint = complain(&server, &alice, json!({ "kind": "fraud", "txn_nos": [txn_no], "description": "x" })).await.expect(StatusCode::CREATED);
    let case_id = id(&complaint);
    let case_path = format!("/v1/ops/cases/{case_id}");
    let chat = upload_text(&server, &alice, "chat", Some("chat_record")).await;
    server.post(&format!("/v1/complaints/{case_id}/evidence"), &alice.token, json!({ "evidence_ids": [chat] })).await.expect(StatusCode::OK);
    server.post(&format!("{case_path}/assign"), &support.token, json!({ "reason": "mine" })).await.expect(StatusCode::OK);
    server.post(&format!("{case_path}/request-evidence"), &support.token, json!({ "reason": "the payment screen too" })).await.expect(StatusCode::OK);
    let screen = upload(&server, &alice.token, "image/png", PNG, None).await.expect(StatusCode::CREATED);
    server.post(&format!("/v1/complaints/{case_id}/evidence"), &alice.token, json!({ "evidence_ids": [id(&screen)] })).await.expect(StatusCode::OK);
    let freeze = place_freeze(&server, &reviewer, json!({ "user_id": bob.id, "amount": 30_00, "case_id": case_id, "reason": "hold" })).await;
    let refund = server
        .post(&format!("{case_path}/refunds"), &reviewer.token, json!({ "freeze_id": id(&freeze), "amount": 30_00, "reason": "all of it" }))
        .await
        .expect(StatusCode::CREATED);
    server.post(&format!("{case_path}/resolve"), &reviewer.token, json!({ "outcome": "refunded", "reason": "refunded in full" })).await.expect(StatusCode::OK);

    let alices = events_oldest_first(&server, &alice).await;
    let ids: Vec<u64> = alices.iter().map(|event| text(&event["id"]).parse().expect("a numeric event id")).collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "events are in order: {ids:?}");
    let case_updates: Vec<&Value> = alices.iter().filter(|event| event["type"] == "complaint.updated").collect();
    assert!(case_updates.iter().all(|event| event["subject_id"] == case_id.as_str()), "alice hears only of her own case: {alices:?}");
    let statuses: Vec<&str> = case_updates.iter().map(|event| event["data"]["status"].as_str().expect("a status")).collect();
    assert_eq!(statuses, ["needs_evidence", "submitted", "under_review", "needs_evidence", "under_review", "under_review", "resolved"], "{alices:?}");
    assert_eq!(case_updates[3]["data"]["note"], "the payment screen too");
    let last = case_updates.last().expect("an update");
    assert_eq!(last["data"]["outcome"], "refunded");
    assert_eq!(last["data"]["refunded_amount"], "3000");
    let refunded: Vec<&Value> = alices.iter().filter(|event| event["type"] == "case.refunded").collect();
    assert_eq!(refunded.len(), 1, "{alices:?}");
    assert_eq!(refunded[0]["subject_id"], case_id.as_str());
    assert_eq!(refunded[0]["data"]["amount"], "3000");
    assert_eq!(refunded[0]["data"]["txn_no"], refund["txn_no"]);
    let freeze_id = id(&freeze);
    let concerns = |event: &Value, subject: &str| event["subject_id"] == subject;
    assert!(
        !alices.iter().any(|event| concerns(event, &freeze_id) || concerns(event, &carols_case_id)),
        "alice hears of no one else's case or freeze: {alices:?}"
    );

    // Bob hears of his wallet's freeze and refund, never of the case's inner workings.
    let bobs = events_oldest_first(&server, &bob).await;
    let about_cases: Vec<&Value> = bobs
        .iter()
        .filter(|event| ["freeze.", "case.", "complaint."].iter().any(|prefix| event["type"].as_str().is_some_and(|kind| kind.starts_with(prefix))))
        .collect();
    let kinds: Vec<&str> = about_cases.iter().map(|event| event["type"].as_str().expect("a type")).collect();
    assert_eq!(kinds, ["freeze.placed", "case.refunded", "freeze.lifted"], "{bobs:?}");
    assert_eq!(about_cases[0]["subject_id"], freeze_id.as_str());
    assert_eq!(about_cases[0]["data"]["scope"], "hold");
    assert_eq!(about_cases[0]["data"]["amount"], "3000");
    assert_eq!(about_cases[2]["subject_id"], freeze_id.as_str());

    // Carol hears of her own case only.
    let carols = events_oldest_first(&server, &carol).await;
    let carols_updates: Vec<&Value> = carols.iter().filter(|event| event["type"] == "complaint.updated").collect();
    assert!(!carols_updates.is_empty() && carols_updates.iter().all(|event| concerns(event, &carols_case_id)), "{carols:?}");
    assert!(!carols.iter().any(|event| concerns(event, &case_id) || concerns(event, &freeze_id)), "{carols:?}");
    server.get("/v1/events", &reviewer.token).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    server.get("/v1/events", ADMIN_TOKEN).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_a_case_refunded_cannot_be_reversed_or_asked_back_again() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.funded_user("bob", 50_00).await;
    let reviewer = operator(&server, "rita", "reviewer").await;
    let (first_officer, second_officer) = (operator(&server, "lee", "legal").await, operator(&server, "lin", "legal").await);
    let settle_txn = settled_transfer(&server, &alice, &bob, 30_00).await;
    let case = complain(&server, &alice, json!({ "kind": "other", "txn_nos": [settle_txn], "description": "sent to the wrong person" }))
        .await
        .expect(StatusCode::CREATED);
    let freeze = place_freeze(&server, &reviewer, json!({ "user_id": bob.id, "amount": 20_00, "case_id": id(&case), "reason": "hold" })).await;
    let refund = server
        .post(&format!("/v1/ops/cases/{}/refunds", id(&case)), &reviewer.token, json!({ "freeze_id": id(&freeze), "amount": 20_00, "reason": "back to alice" }))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(refund["related"]["corrects_txn_no"], settle_txn.as_str(), "the refund names the payment it corrects");

    // Only the 10.00 the case did not recover is left for a return request or a reversal.
    server
        .post("/v1/return-requests", &alice.token, json!({ "txn_no": settle_txn, "amount": 10_01, "reason": "the rest" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    let reversal = server
        .post("/v1/ops/reversals", &first_officer.token, json!({ "txn_no": settle_txn, "reason": "court order", "reference": "(2026) 7" }))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(reversal["amount"], 10_00, "a reversal of the rest takes only what the refund left");
    server
        .post("/v1/ops/reversals", &first_officer.token, json!({ "txn_no": settle_txn, "amount": 10_01, "reason": "too much", "reference": "(2026) 8" }))
        .await
        .expect_error(StatusCode::CONFLICT, "invalid_state");
    server.post(&format!("/v1/ops/reversals/{}/approve", id(&reversal)), &second_officer.token, json!({ "reason": "checked" })).await.expect(StatusCode::OK);
    server
        .post("/v1/return-requests", &alice.token, json!({ "txn_no": settle_txn, "reason": "anything?" }))
        .await
        .expect_error(StatusCode::CONFLICT, "invalid_state");
    assert_eq!(server.balance(&alice).await, 100_00, "alice got back exactly the 30.00 she paid, no more");
    assert_eq!(server.balance(&bob).await, 50_00);
    server.assert_verified();
}
