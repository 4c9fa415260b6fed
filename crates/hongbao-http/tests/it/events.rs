//! The event outbox as users read it: the list and the live stream (server-sent events) hold exactly
//! the events of the user's own changes, in order, and a stream resumed with `Last-Event-ID` loses
//! nothing.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::harness::{TestServer, TestUser};

/// A live event stream read over a raw connection, one server-sent event at a time.
struct EventStream {
    reader: BufReader<TcpStream>,
}

impl EventStream {
    async fn open(server: &TestServer, user: &TestUser, last_event_id: Option<&str>) -> EventStream {
        let address = server.base.trim_start_matches("http://").to_owned();
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        let resume = last_event_id.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
        let request = format!("GET /v1/events/stream HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n{resume}\r\n", user.token);
        stream.write_all(request.as_bytes()).await.expect("send the request");
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).await.expect("status line");
        assert!(status.contains(" 200 "), "the stream opens: {status}");
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).await.expect("a header");
            if header.trim().is_empty() {
                break;
            }
            if header.to_ascii_lowercase().starts_with("content-type") {
                assert!(header.contains("text/event-stream"), "{header}");
            }
        }
        EventStream { reader }
    }

    /// The next event's id and body, skipping keep-alive comments and chunk framing.
    async fn next(&mut self) -> (String, Value) {
        let (mut id, mut data) = (None, None);
        loop {
            let mut line = String::new();
            let read = tokio::time::timeout(Duration::from_secs(10), self.reader.read_line(&mut line)).await.expect("an event within 10 s");
            assert!(read.expect("readable") > 0, "the stream ended");
            let line = line.trim_end();
            if let Some(value) = line.strip_prefix("id:") {
                id = Some(value.trim().to_owned());
            } else if let Some(value) = line.strip_prefix("data:") {
                data = Some(serde_json::from_str::<Value>(value.trim()).expect("event data is JSON"));
            } else if line.is_empty()
                && let (Some(id), Some(data)) = (id.take(), data.take())
            {
                return (id, data);
            }
        }
    }

    async fn take(&mut self, count: usize) -> Vec<Value> {
        let mut events = Vec::new();
        for _ in 0..count {
            let (id, data) = self.next().await;
            assert_eq!(data["id"], id.as_str(), "the SSE id is the event's id");
            events.push(data);
        }
        events
    }
}

async fn listed(server: &TestServer, user: &TestUser) -> Vec<Value> {
    let mut events = server.get("/v1/events?limit=200", &user.token).await.expect(StatusCode::OK)["data"].as_array().expect("events").clone();
    events.reverse();
    events
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|event| event["type"].as_str().expect("type")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_and_streams_hold_exactly_a_users_own_events_in_order_and_resume_without_loss() {
    let server = TestServer::start().await;
    let alice = server.funded_user("alice", 100_00).await;
    let bob = server.user("bob").await;
    let carol = server.funded_user("carol", 10_00).await;
    let mut alices_stream = EventStream::open(&server, &alice, None).await;

    // A scripted mix: a transfer accepted and settled, a packet to bob claimed, a withdrawal.
    let transfer =
        server.post("/v1/transfers", &alice.token, json!({ "recipient_id": bob.id, "amount": 5_00, "arrival": "instant" })).await.expect(StatusCode::CREATED);
    let transfer_id = transfer["id"].as_str().expect("id");
    server.post_empty(&format!("/v1/transfers/{transfer_id}/accept"), &bob.token).await.expect(StatusCode::OK);
    let packet = server.send_packet(&alice, json!({ "kind": "normal", "recipient_id": bob.id, "amount_per_share": 2_00 })).await;
    server.post_empty(&format!("/v1/packets/{packet}/claim"), &bob.token).await.expect(StatusCode::OK);
    server.post("/v1/withdrawals", &alice.token, json!({ "amount": 1_00 })).await.expect(StatusCode::CREATED);
    // Carol's activity is hers alone.
    server.post("/v1/withdrawals", &carol.token, json!({ "amount": 1_00 })).await.expect(StatusCode::CREATED);

    let expected_alice = ["transfer.created", "transfer.settled", "packet.sent", "packet.exhausted", "wallet.withdrawn"];
    let streamed = alices_stream.take(expected_alice.len()).await;
    assert_eq!(types(&streamed), expected_alice);
    let alices_list = listed(&server, &alice).await;
    assert_eq!(types(&alices_list), ["wallet.topped_up", "transfer.created", "transfer.settled", "packet.sent", "packet.exhausted", "wallet.withdrawn"]);
    assert_eq!(streamed[..], alices_list[1..], "the stream carries the same events as the list");
    assert_eq!(streamed[1]["subject_id"], transfer_id);

    let bobs = listed(&server, &bob).await;
    assert_eq!(types(&bobs), ["transfer.created", "transfer.settled", "packet.received", "packet.claimed"]);
    let carols = listed(&server, &carol).await;
    assert_eq!(types(&carols), ["wallet.topped_up", "wallet.withdrawn"]);
    for event in bobs.iter().chain(&carols) {
        assert!(!alices_list.contains(event), "nobody sees another user's events");
    }

    // Drop the stream, change things meanwhile, and resume from the last event seen.
    let last_seen = streamed.last().expect("events")["id"].as_str().expect("id").to_owned();
    drop(alices_stream);
    let missed =
        server.post("/v1/transfers", &alice.token, json!({ "recipient_id": bob.id, "amount": 1_00, "arrival": "delay_2h" })).await.expect(StatusCode::CREATED);
    let missed_id = missed["id"].as_str().expect("id");
    server.post_empty(&format!("/v1/transfers/{missed_id}/cancel"), &alice.token).await.expect(StatusCode::OK);
    let mut resumed = EventStream::open(&server, &alice, Some(&last_seen)).await;
    let caught_up = resumed.take(2).await;
    assert_eq!(types(&caught_up), ["transfer.created", "transfer.cancelled"]);
    assert!(caught_up.iter().all(|event| event["subject_id"] == missed_id));
    // And it stays live.
    server.top_up(&alice, 3_00).await;
    let live = resumed.take(1).await;
    assert_eq!(types(&live), ["wallet.topped_up"]);
    assert_eq!(live[0]["data"]["amount"], "300");
    let all = listed(&server, &alice).await;
    assert_eq!(all[all.len() - 3..], [caught_up, live].concat()[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_refuses_a_bad_last_event_id_and_needs_a_user() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let answer = server.call(reqwest::Method::GET, "/v1/events/stream", Some(&alice.token), None, &[("last-event-id", "soon")]).await;
    answer.expect_error(StatusCode::BAD_REQUEST, "validation_failed");
    let answer = server.call(reqwest::Method::GET, "/v1/events/stream", None, None, &[]).await;
    answer.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

/// With the look for other processes' events an hour apart, a stream can only learn of its user's new
/// events from this process's commit waking it: each user's stream is woken by the user's own events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_wakes_the_streams_of_the_users_it_wrote_events_for() {
    let config = hongbao_service::Config { event_poll_millis: 3_600_000, ..crate::harness::without_velocity_rule() };
    let server = TestServer::start_with(config).await;
    let alice = server.funded_user("alice", 10_00).await;
    let bob = server.funded_user("bob", 10_00).await;
    let mut alices_stream = EventStream::open(&server, &alice, None).await;
    let mut bobs_stream = EventStream::open(&server, &bob, None).await;

    server.post("/v1/withdrawals", &alice.token, json!({ "amount": 1_00 })).await.expect(StatusCode::CREATED);
    assert_eq!(types(&alices_stream.take(1).await), ["wallet.withdrawn"]);
    server.post("/v1/transfers", &bob.token, json!({ "recipient_id": alice.id, "amount": 2_00, "arrival": "instant" })).await.expect(StatusCode::CREATED);
    assert_eq!(types(&bobs_stream.take(1).await), ["transfer.created"]);
    assert_eq!(types(&alices_stream.take(1).await), ["transfer.created"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_holds_at_most_the_allowed_number_of_live_streams() {
    let http = hongbao_http::HttpConfig {
        limits: hongbao_http::HttpLimits { max_streams_per_user: 2, ..hongbao_http::HttpLimits::default() },
        ..hongbao_http::HttpConfig::default()
    };
    let server = TestServer::start_with_http(hongbao_service::Config::default(), http).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let first = EventStream::open(&server, &alice, None).await;
    let _second = EventStream::open(&server, &alice, None).await;
    let third = server.call(reqwest::Method::GET, "/v1/events/stream", Some(&alice.token), None, &[]).await;
    third.expect_error(StatusCode::TOO_MANY_REQUESTS, "too_many_streams");
    let _bobs = EventStream::open(&server, &bob, None).await;

    // A stream whose client goes away gives its place back.
    drop(first);
    let _reopened = crate::harness::eventually("the closed stream's place being given back", crate::harness::WAIT, || async {
        let response = server.client.get(format!("{}/v1/events/stream", server.base)).bearer_auth(&alice.token).send().await.expect("the server answers");
        assert!(matches!(response.status(), StatusCode::OK | StatusCode::TOO_MANY_REQUESTS), "{}", response.status());
        if response.status() == StatusCode::OK { Ok(response) } else { Err(response.status().to_string()) }
    })
    .await;
}
