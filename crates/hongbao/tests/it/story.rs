//! A ledger with a transaction of every kind, and a case with evidence, a refund and a reversal, made
//! through the API of a real `hongbao serve`: what the receipt and dossier tests check.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hongbao_testkit::TestDatabase;
use serde_json::{Value, json};

use crate::process::{ADMIN_TOKEN, Client, ServerProcess};

/// A folder of its own for a test's files (the key file, receipts, dossiers), removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("hongbao-{name}-{:016x}", hongbao_service::random_u64()));
        std::fs::create_dir_all(&path).expect("create a scratch folder");
        Scratch(path)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.file(name);
        std::fs::write(&path, contents).expect("write a scratch file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts a server whose key file and evidence store are in `scratch`.
pub fn start_server(database: &TestDatabase, scratch: &Scratch) -> ServerProcess {
    let key_file = scratch.file("log.key");
    let evidence = scratch.file("evidence");
    ServerProcess::start(
        &database.url,
        &[("HONGBAO_LOG_KEY_FILE", key_file.to_str().expect("utf-8 path")), ("HONGBAO_EVIDENCE_DIR", evidence.to_str().expect("utf-8 path"))],
    )
}

pub async fn post_ok(client: &Client, path: &str, token: &str, body: Option<Value>) -> Value {
    let (status, answer) = client.post(path, token, body).await.expect("the server answers");
    assert!((200..300).contains(&status), "POST {path}: {status} {answer}");
    answer
}

fn text(value: &Value, name: &str) -> String {
    value[name].as_str().unwrap_or_else(|| panic!("no {name} in {value}")).to_owned()
}

pub async fn operator(client: &Client, name: &str, role: &str) -> String {
    text(&post_ok(client, "/v1/ops/operators", ADMIN_TOKEN, Some(json!({ "name": name, "role": role }))).await, "token")
}

/// Uploads a text file of evidence; returns its id.
pub async fn upload_evidence(client: &Client, token: &str, content: &str, label: &str) -> String {
    let part = reqwest::multipart::Part::bytes(content.as_bytes().to_vec()).file_name("chat.txt").mime_str("text/plain").expect("a mime type");
    let form = reqwest::multipart::Form::new().text("label", label.to_owned()).part("file", part);
    let response = client.http.post(format!("{}/v1/evidence", client.base)).bearer_auth(token).multipart(form).send().await.expect("upload");
    assert_eq!(response.status().as_u16(), 201);
    text(&response.json::<Value>().await.expect("json"), "id")
}

/// What the story made.
pub struct Story {
    pub alice: (String, String),
    pub bob: (String, String),
    pub carol: (String, String),
    /// One transaction number of each kind.
    pub by_kind: BTreeMap<String, String>,
    pub case_id: String,
    pub legal: String,
    pub auditor: String,
    pub support: String,
    /// The evidence file's bytes.
    pub evidence: String,
}

/// Alice is topped up, withdraws, sends bob packets (one claimed, one recalled), transfers to him (one
/// settled, one returned) and asks part of the settled one back; then complains of fraud about the
/// packet bob claimed, with a chat record: a reviewer freezes part of bob's wallet and refunds her
/// from it, and two legal officers reverse part of the settled transfer.
pub async fn every_kind(client: &Client) -> Story {
    let alice = client.user("alice").await;
    let bob = client.user("bob").await;
    let carol = client.user("carol").await;
    post_ok(client, "/v1/top-ups", ADMIN_TOKEN, Some(json!({ "user_id": alice.0, "amount": 1_000_00, "reference": "bank-1" }))).await;
    post_ok(client, "/v1/withdrawals", &alice.1, Some(json!({ "amount": 1_00 }))).await;
    let packet = post_ok(client, "/v1/packets", &alice.1, Some(json!({ "kind": "normal", "recipient_id": bob.0, "amount_per_share": 10_00 }))).await;
    let claim = post_ok(client, &format!("/v1/packets/{}/claim", text(&packet, "id")), &bob.1, None).await;
    let recalled = post_ok(client, "/v1/packets", &alice.1, Some(json!({ "kind": "normal", "recipient_id": bob.0, "amount_per_share": 3_00 }))).await;
    post_ok(client, &format!("/v1/packets/{}/recall", text(&recalled, "id")), &alice.1, None).await;
    let transfer = post_ok(client, "/v1/transfers", &alice.1, Some(json!({ "recipient_id": bob.0, "amount": 20_00, "arrival": "instant" }))).await;
    let settled = post_ok(client, &format!("/v1/transfers/{}/accept", text(&transfer, "id")), &bob.1, None).await;
    let settle_txn = settled["txn_nos"].as_array().and_then(|txn_nos| txn_nos.last()).and_then(Value::as_str).expect("a settlement").to_owned();
    let returned = post_ok(client, "/v1/transfers", &alice.1, Some(json!({ "recipient_id": bob.0, "amount": 5_00, "arrival": "instant" }))).await;
    post_ok(client, &format!("/v1/transfers/{}/return", text(&returned, "id")), &bob.1, None).await;
    let request =
        post_ok(client, "/v1/return-requests", &alice.1, Some(json!({ "txn_no": settle_txn, "amount": 2_00, "reason": "paid twice by mistake" }))).await;
    post_ok(client, &format!("/v1/return-requests/{}/accept", text(&request, "id")), &bob.1, None).await;

    let evidence = "bob: pay first, the goods come tomorrow\n".to_owned();
    let evidence_id = upload_evidence(client, &alice.1, &evidence, "chat_record").await;
    let complaint = post_ok(
        client,
        "/v1/complaints",
        &alice.1,
        Some(json!({ "kind": "fraud", "txn_nos": [text(&claim, "txn_no")], "description": "paid, nothing came", "evidence_ids": [evidence_id] })),
    )
    .await;
    let case_id = text(&complaint, "id");
    let (support, reviewer, legal, second_legal, auditor) = (
        operator(client, "sam", "support").await,
        operator(client, "rita", "reviewer").await,
        operator(client, "lee", "legal").await,
        operator(client, "lin", "legal").await,
        operator(client, "ada", "auditor").await,
    );
    post_ok(client, &format!("/v1/ops/cases/{case_id}/assign"), &support, Some(json!({ "reason": "mine" }))).await;
    let freeze =
        post_ok(client, "/v1/ops/freezes", &reviewer, Some(json!({ "user_id": bob.0, "amount": 3_00, "case_id": case_id, "reason": "fraud report" }))).await;
    post_ok(
        client,
        &format!("/v1/ops/cases/{case_id}/refunds"),
        &reviewer,
        Some(json!({ "freeze_id": text(&freeze, "id"), "amount": 3_00, "reason": "refund what is frozen" })),
    )
    .await;
    let reversal = post_ok(
        client,
        "/v1/ops/reversals",
        &legal,
        Some(json!({ "txn_no": text(&claim, "txn_no"), "amount": 1_00, "reason": "court order", "reference": "(2026) 0101 No. 42" })),
    )
    .await;
    post_ok(client, &format!("/v1/ops/reversals/{}/approve", text(&reversal, "id")), &second_legal, Some(json!({ "reason": "order checked" }))).await;
    post_ok(client, &format!("/v1/ops/cases/{case_id}/resolve"), &reviewer, Some(json!({ "outcome": "partially_refunded", "reason": "3.00 of 10.00" }))).await;

    let mut by_kind = BTreeMap::new();
    for (_, token) in [&alice, &bob] {
        let list = client.get("/v1/transactions?limit=200", token).await;
        for item in list["data"].as_array().expect("a list") {
            by_kind.entry(text(item, "kind")).or_insert_with(|| text(item, "txn_no"));
        }
    }
    Story { alice, bob, carol, by_kind, case_id, legal, auditor, support, evidence }
}

/// The public key the server publishes, written to a file.
pub async fn public_key(client: &Client, scratch: &Scratch) -> (String, PathBuf) {
    let key = client.http.get(format!("{}/.well-known/hongbao/log-key", client.base)).send().await.expect("key").text().await.expect("text");
    let path = scratch.write("public.key", &key);
    (key.trim().to_owned(), path)
}

/// A GET's body as text, with its status.
pub async fn get_text(client: &Client, path: &str, token: &str) -> (u16, String) {
    let response = client.http.get(format!("{}{path}", client.base)).bearer_auth(token).send().await.expect("the server answers");
    (response.status().as_u16(), response.text().await.expect("text"))
}

pub fn output_text(output: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

pub fn path_text(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}
