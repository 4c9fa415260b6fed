//! Webhooks against a local receiver that fails, times out and succeeds in turn: every event is
//! delivered, signatures verify, retries back off, and a restart in between loses no delivery. And
//! where webhooks may not go: private and local addresses, by literal or by name, unless the
//! deployment allows them, and never along a redirect.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use hongbao_core::signing::webhook_signature;
use hongbao_http::{HttpConfig, WebhookTargets};
use hongbao_service::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{ADMIN_TOKEN, TestServer, eventually};

/// How long a test waits for the dispatcher, which also waits for slow receivers.
const DELIVERY_WAIT: Duration = Duration::from_secs(20);

/// What the receiver does with the next request.
#[derive(Clone, Copy, Debug)]
enum Behaviour {
    Fail,
    Hang,
    Succeed,
}

/// A request as the receiver saw it: event id, signature, attempt number, body.
type Received = (String, String, String, Vec<u8>);

#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<VecDeque<Behaviour>>>,
    /// Every request received: the headers that matter and the body.
    received: Arc<Mutex<Vec<Received>>>,
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: axum::body::Bytes) -> AxumStatus {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
    receiver.received.lock().expect("lock").push((header("hongbao-event-id"), header("hongbao-signature"), header("hongbao-delivery-attempt"), body.to_vec()));
    let behaviour = receiver.script.lock().expect("lock").pop_front().unwrap_or(Behaviour::Succeed);
    match behaviour {
        Behaviour::Fail => AxumStatus::INTERNAL_SERVER_ERROR,
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(6)).await;
            AxumStatus::OK
        }
        Behaviour::Succeed => AxumStatus::NO_CONTENT,
    }
}

impl Receiver {
    async fn start(script: &[Behaviour]) -> (Receiver, String) {
        let receiver = Receiver { script: Arc::new(Mutex::new(script.iter().copied().collect())), ..Receiver::default() };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hooks", listener.local_addr().expect("address"));
        let app = axum::Router::new().route("/hooks", axum::routing::post(receive)).with_state(receiver.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (receiver, url)
    }

    fn count(&self) -> usize {
        self.received.lock().expect("lock").len()
    }

    async fn wait_for(&self, count: usize) {
        eventually(&format!("{count} requests reaching the receiver"), DELIVERY_WAIT, || async {
            if self.count() >= count { Ok(()) } else { Err(format!("{} requests", self.count())) }
        })
        .await
    }
}

async fn deliveries(server: &TestServer, webhook_id: &str) -> Vec<Value> {
    server.get(&format!("/v1/ops/webhooks/{webhook_id}/deliveries"), ADMIN_TOKEN).await.expect(StatusCode::OK)["data"].as_array().expect("deliveries").clone()
}

/// Waits until the delivery of `event_id` has been attempted `attempts` times.
async fn wait_for_attempts(server: &TestServer, webhook_id: &str, event_id: &str, attempts: u64) -> Value {
    eventually(&format!("a delivery of {event_id} with {attempts} attempts"), DELIVERY_WAIT, || async {
        let log = deliveries(server, webhook_id).await;
        let found = log.iter().find(|delivery| delivery["event_id"] == event_id && delivery["attempts"].as_u64() == Some(attempts));
        found.cloned().ok_or_else(|| format!("{log:?}"))
    })
    .await
}

/// The settings of a deployment whose webhook receivers live on its own network, as these tests' do.
fn any_address() -> HttpConfig {
    HttpConfig { webhook_targets: WebhookTargets::AnyAddress, ..HttpConfig::default() }
}

/// A receiver that answers every request with a redirect to `target`.
async fn redirector(target: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hooks", listener.local_addr().expect("address"));
    let target = target.to_owned();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move || {
            let target = target.clone();
            async move { (AxumStatus::TEMPORARY_REDIRECT, [("location", target)]) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

fn seconds_between(earlier: &Value, later: &Value) -> i64 {
    let parse = |value: &Value| hongbao_http::case_dto::parse_time("t", value.as_str().expect("a time")).expect("RFC 3339").millis();
    (parse(later) - parse(earlier)) / 1000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_the_platform_signed_despite_failures_timeouts_and_a_restart() {
    let (receiver, url) = Receiver::start(&[Behaviour::Fail, Behaviour::Hang]).await;
    let mut server = TestServer::start_with_http(Config { webhook_timeout_millis: 2_000, ..Config::default() }, any_address()).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let webhook = server.post("/v1/ops/webhooks", ADMIN_TOKEN, json!({ "url": url })).await.expect(StatusCode::CREATED);
    let webhook_id = webhook["id"].as_str().expect("id").to_owned();
    let secret = webhook["secret"].as_str().expect("the secret, shown once").to_owned();
    let listed = server.get("/v1/ops/webhooks", ADMIN_TOKEN).await.expect(StatusCode::OK);
    assert!(listed["data"][0]["secret"].is_null(), "the secret is not shown again");

    // The first event: its first attempt fails with a 500.
    server.top_up(&alice, 10_00).await;
    receiver.wait_for(1).await;
    let event_id = receiver.received.lock().expect("lock")[0].0.clone();
    let first = wait_for_attempts(&server, &webhook_id, &event_id, 1).await;
    assert_eq!(first["status"], "pending");
    assert_eq!(first["last_status"], 500);
    assert_eq!(seconds_between(&first["last_attempt_at"], &first["next_attempt_at"]), 10, "the first retry waits 10 s");

    // Not before its time: nothing is due for the dispatcher until the backoff has passed (the clock
    // is the test's); then the second attempt times out.
    assert!(server.service.due_deliveries(200).await.expect("the due deliveries").is_empty(), "a retry is due before its backoff");
    assert_eq!(receiver.count(), 1, "no retry before the backoff has passed");
    server.clock.advance_seconds(10);
    receiver.wait_for(2).await;
    let second = wait_for_attempts(&server, &webhook_id, &event_id, 2).await;
    assert!(second["last_error"].as_str().expect("an error").contains("in time"), "{second}");
    assert_eq!(seconds_between(&second["last_attempt_at"], &second["next_attempt_at"]), 20, "the backoff doubles");

    // More events while the first waits, then a restart once its retry is due: nothing is lost.
    server.post("/v1/transfers", &alice.token, json!({ "recipient_id": bob.id, "amount": 3_00, "arrival": "instant" })).await.expect(StatusCode::CREATED);
    server.restart_after(20).await;
    let expected: Vec<String> = {
        let mut ids = Vec::new();
        for user in [&alice, &bob] {
            let events = server.get("/v1/events?limit=200", &user.token).await.expect(StatusCode::OK);
            ids.extend(events["data"].as_array().expect("events").iter().map(|event| event["id"].as_str().expect("id").to_owned()));
        }
        ids.sort_by_key(|id| id.parse::<u64>().expect("numeric"));
        ids.dedup();
        ids
    };
    assert_eq!(expected.len(), 3, "a top-up and a transfer created for both parties");
    eventually("every event being delivered", DELIVERY_WAIT, || async {
        let log = deliveries(&server, &webhook_id).await;
        if log.len() == expected.len() && log.iter().all(|delivery| delivery["status"] == "delivered") { Ok(()) } else { Err(format!("{log:?}")) }
    })
    .await;

    let received = receiver.received.lock().expect("lock").clone();
    let mut delivered_ids: Vec<String> = received.iter().map(|(id, ..)| id.clone()).collect();
    delivered_ids.sort_by_key(|id| id.parse::<u64>().expect("numeric"));
    delivered_ids.dedup();
    assert_eq!(delivered_ids, expected, "every event, and no other, reached the platform");
    for (id, signature, attempt, body) in &received {
        let timestamp: i64 = signature.strip_prefix("t=").and_then(|rest| rest.split(',').next()).and_then(|t| t.parse().ok()).expect("t=");
        assert_eq!(signature, &webhook_signature(&secret, timestamp, body), "the signature of event {id} verifies");
        assert_ne!(signature, &webhook_signature("another secret", timestamp, body));
        let payload: Value = serde_json::from_slice(body).expect("JSON");
        assert_eq!(&payload["id"], id.as_str(), "the body carries the event id for deduplication");
        assert!(attempt.parse::<u32>().is_ok());
    }
    let attempts_of_first: Vec<&str> = received.iter().filter(|(id, ..)| id == &event_id).map(|(_, _, attempt, _)| attempt.as_str()).collect();
    assert_eq!(attempts_of_first, ["1", "2", "3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_admin_manages_webhooks_and_urls_are_checked() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.post("/v1/ops/webhooks", &alice.token, json!({ "url": "http://127.0.0.1:9/hooks" })).await.expect_error(StatusCode::FORBIDDEN, "forbidden");
    server.post("/v1/ops/webhooks", ADMIN_TOKEN, json!({ "url": "ftp://example.com/" })).await.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    let webhook = server.post("/v1/ops/webhooks", ADMIN_TOKEN, json!({ "url": "http://203.0.113.9:9/hooks" })).await.expect(StatusCode::CREATED);
    let id = webhook["id"].as_str().expect("id");
    let disabled = server.post(&format!("/v1/ops/webhooks/{id}/disable"), ADMIN_TOKEN, json!({ "reason": "moved" })).await.expect(StatusCode::OK);
    assert!(disabled["disabled_at"].is_string());
    server.post(&format!("/v1/ops/webhooks/{id}/disable"), ADMIN_TOKEN, json!({ "reason": "again" })).await.expect_error(StatusCode::CONFLICT, "invalid_state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_or_local_address_is_refused_at_registration_unless_allowed() {
    let server = TestServer::start().await;
    let urls = [
        "http://127.0.0.1:9/hooks",
        "http://2130706433/hooks",
        "http://0x7f.1/hooks",
        "http://10.1.2.3/hooks",
        "http://172.16.0.1/hooks",
        "http://192.168.1.1/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/hooks",
        "http://0.0.0.0/hooks",
        "http://224.0.0.1/hooks",
        "http://[::1]/hooks",
        "http://[::]/hooks",
        "http://[fd00::1]/hooks",
        "http://[fe80::1]/hooks",
        "http://[ff02::1]/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "https://[::ffff:169.254.169.254]/hooks",
    ];
    for url in urls {
        let answer = server.post("/v1/ops/webhooks", ADMIN_TOKEN, json!({ "url": url })).await;
        answer.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
        let detail = answer.body["detail"].as_str().expect("a detail");
        assert!(detail.starts_with("url: "), "the refusal names the field: {detail}");
        assert!(detail.contains("HONGBAO_WEBHOOK_ALLOW_PRIVATE"), "and the setting that allows it: {detail}");
    }
    assert!(server.get("/v1/ops/webhooks", ADMIN_TOKEN).await.expect(StatusCode::OK)["data"].as_array().expect("endpoints").is_empty());

    let allowing = TestServer::start_with_http(Config::default(), any_address()).await;
    for url in urls {
        allowing.post("/v1/ops/webhooks", ADMIN_TOKEN, json!({ "url": url })).await.expect(StatusCode::CREATED);
    }
}

/// Waits until the delivery of the first event to `webhook_id` has been attempted once, and returns it.
async fn first_attempt(server: &TestServer, webhook_id: &str) -> Value {
    eventually("a first attempt", DELIVERY_WAIT, || async {
        let log = deliveries(server, webhook_id).await;
        log.iter().find(|delivery| delivery["attempts"].as_u64() >= Some(1)).cloned().ok_or_else(|| format!("{log:?}"))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_is_checked_again_when_sending_whatever_the_url_names() {
    let (receiver, url) = Receiver::start(&[]).await;
    let port = url.trim_start_matches("http://127.0.0.1:").trim_end_matches("/hooks").to_owned();
    let mut server = TestServer::start().await;
    let alice = server.user("alice").await;

    // A name is not refused when it is registered; it leads to 127.0.0.1, so nothing is sent to it.
    let by_name = server.post("/v1/ops/webhooks", ADMIN_TOKEN, json!({ "url": format!("http://localhost:{port}/hooks") })).await.expect(StatusCode::CREATED);
    server.top_up(&alice, 1_00).await;
    let attempt = first_attempt(&server, by_name["id"].as_str().expect("id")).await;
    assert_eq!(attempt["status"], "pending", "a refused attempt is a failed one: {attempt}");
    let error = attempt["last_error"].as_str().expect("an error");
    assert!(error.contains("refused") && error.contains("loopback"), "the log says why: {error}");
    assert_eq!(receiver.count(), 0, "nothing reached the local receiver");
    server
        .post(&format!("/v1/ops/webhooks/{}/disable", by_name["id"].as_str().expect("id")), ADMIN_TOKEN, json!({ "reason": "refused" }))
        .await
        .expect(StatusCode::OK);

    // A literal address registered while the deployment allowed it is refused once it no longer does.
    server.http = any_address();
    server.restart_after(0).await;
    let literal = server.post("/v1/ops/webhooks", ADMIN_TOKEN, json!({ "url": url })).await.expect(StatusCode::CREATED);
    server.http = HttpConfig::default();
    server.restart_after(0).await;
    server.top_up(&alice, 1_00).await;
    let attempt = first_attempt(&server, literal["id"].as_str().expect("id")).await;
    let error = attempt["last_error"].as_str().expect("an error");
    assert!(error.contains("refused") && error.contains("127.0.0.1"), "the log says why: {error}");
    assert_eq!(receiver.count(), 0, "nothing reached the local receiver");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_a_failed_attempt_and_is_not_followed() {
    let (elsewhere, elsewhere_url) = Receiver::start(&[]).await;
    let url = redirector(&elsewhere_url).await;
    let server = TestServer::start_with_http(Config::default(), any_address()).await;
    let alice = server.user("alice").await;
    let webhook = server.post("/v1/ops/webhooks", ADMIN_TOKEN, json!({ "url": url })).await.expect(StatusCode::CREATED);
    server.top_up(&alice, 1_00).await;
    let attempt = first_attempt(&server, webhook["id"].as_str().expect("id")).await;
    assert_eq!((attempt["status"].as_str(), attempt["last_status"].as_u64()), (Some("pending"), Some(307)), "{attempt}");
    assert!(attempt["last_error"].as_str().expect("an error").contains("redirects are not followed"), "{attempt}");
    // The attempt is recorded only after its request is over, redirect and all.
    assert_eq!(elsewhere.count(), 0, "the signed body went nowhere else");
}
