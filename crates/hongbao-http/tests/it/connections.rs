//! Slow and stalled clients over raw connections, against a server whose limits are small enough to
//! reach: headers that never end, bodies that trickle in, idle kept-alive connections and more
//! connections than the server takes. Every wait is bounded: a read with a deadline far above the
//! configured timeout, so nothing here measures how fast the server is.

use std::time::Duration;

use hongbao_http::{HttpConfig, HttpLimits};
use hongbao_service::Config;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{ADMIN_TOKEN, TestServer};

/// How long a test waits for what a timeout of a few hundred milliseconds should bring about.
const DEADLINE: Duration = Duration::from_secs(10);

async fn server_with(limits: HttpLimits) -> TestServer {
    TestServer::start_with_http(Config::default(), HttpConfig { limits, ..HttpConfig::default() }).await
}

fn limits(header_read_millis: u64, body_read_millis: u64, idle_millis: u64, max_connections: usize) -> HttpLimits {
    HttpLimits {
        header_read_timeout: Duration::from_millis(header_read_millis),
        body_read_timeout: Duration::from_millis(body_read_millis),
        idle_timeout: Duration::from_millis(idle_millis),
        max_connections,
        ..HttpLimits::default()
    }
}

async fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://")).await.expect("connect")
}

/// Reads until the server closes the connection, and returns what it sent; fails the test if it is
/// still open at the deadline.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let outcome = tokio::time::timeout(DEADLINE, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => received.extend_from_slice(&buffer[..read]),
            }
        }
    })
    .await;
    assert!(outcome.is_ok(), "the server kept the connection open for {DEADLINE:?}; it sent {:?}", String::from_utf8_lossy(&received));
    String::from_utf8_lossy(&received).into_owned()
}

/// Sends one whole request and reads its whole answer (every answer here has a `content-length`).
async fn exchange(stream: &mut TcpStream, request: &str) -> String {
    stream.write_all(request.as_bytes()).await.expect("send the request");
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    tokio::time::timeout(DEADLINE, async {
        loop {
            let read = stream.read(&mut buffer).await.expect("read the answer");
            assert!(read > 0, "the connection closed before the answer was complete");
            received.extend_from_slice(&buffer[..read]);
            let text = String::from_utf8_lossy(&received);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|value| value.trim().parse::<usize>().expect("a length")))
                    .expect("a content-length");
                if body.len() >= length {
                    return;
                }
            }
        }
    })
    .await
    .expect("an answer within the deadline");
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_headers_are_cut_off_and_connections_past_the_limit_are_refused() {
    // Two seconds of headers: far more than the test takes to open its five connections, so the
    // fifth always finds the four still holding their places.
    let server = server_with(limits(2_000, 60_000, 60_000, 4)).await;
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut stream = connect(&server).await;
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: hongbao\r\n").await.expect("send half a request");
        stalled.push(stream);
    }
    // The stalled connections hold every place until their headers time out; one more is refused at
    // once, with a problem rather than silence.
    let mut one_more = connect(&server).await;
    let refusal = read_until_closed(&mut one_more).await;
    assert!(
        refusal.starts_with("HTTP/1.1 503 ") && refusal.contains("application/problem+json") && refusal.contains("\"code\":\"too_many_connections\""),
        "{refusal}"
    );
    for stream in &mut stalled {
        let answer = read_until_closed(stream).await;
        assert!(!answer.contains(" 200 "), "a request without the end of its headers is never served: {answer}");
    }
    crate::harness::eventually("/healthz answering once the stalled connections were closed", DEADLINE, || async {
        match server.client.get(format!("{}/healthz", server.base)).send().await {
            Ok(response) if response.status() == StatusCode::OK => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let metrics = server.client.get(format!("{}/metrics", server.base)).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("hongbao_http_connections_refused_total 1\n"), "the refusal is counted: {metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    // Headers may take a minute here, so what closes the connection is the idle timeout.
    let server = server_with(limits(60_000, 60_000, 300, 16)).await;
    let mut stream = connect(&server).await;
    let answer = exchange(&mut stream, "GET /healthz HTTP/1.1\r\nHost: hongbao\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    let answer = exchange(&mut stream, "GET /healthz HTTP/1.1\r\nHost: hongbao\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "the connection is kept alive between requests: {answer}");
    assert_eq!(read_until_closed(&mut stream).await, "", "closed without another word");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_begun_on_a_kept_alive_connection_has_the_header_timeout_not_the_idle_one() {
    let server = server_with(limits(300, 60_000, 60_000, 16)).await;
    let mut stream = connect(&server).await;
    let answer = exchange(&mut stream, "GET /healthz HTTP/1.1\r\nHost: hongbao\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: hon").await.expect("send half a request");
    assert_eq!(read_until_closed(&mut stream).await, "", "cut off within the header timeout, long before the idle one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_trickles_in_is_cut_off_at_its_deadline() {
    let server = server_with(limits(60_000, 500, 60_000, 16)).await;
    let stream = connect(&server).await;
    let (mut reading, mut writing) = stream.into_split();
    let head = format!(
        "POST /v1/users HTTP/1.1\r\nHost: hongbao\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n"
    );
    writing.write_all(head.as_bytes()).await.expect("send the head");
    // A byte every 20 ms: the body never stalls long, but would take 200 s to arrive.
    let trickle = tokio::spawn(async move {
        for _ in 0..10_000 {
            if writing.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let outcome = tokio::time::timeout(DEADLINE, async {
        loop {
            match reading.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => received.extend_from_slice(&buffer[..read]),
            }
        }
    })
    .await;
    trickle.abort();
    let answer = String::from_utf8_lossy(&received);
    assert!(outcome.is_ok(), "the trickling body was not cut off within {DEADLINE:?}: {answer}");
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\"") && answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    server.call(reqwest::Method::GET, "/healthz", None, None, &[]).await.expect(StatusCode::OK);
}

/// A live event stream is a request being served: it outlives the header and idle timeouts of its
/// connection. It used to be cut off when the connection's first header deadline came, whatever it was
/// doing by then. Events are made one after another until well past both timeouts, and each must come
/// down the same stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_event_stream_outlives_the_header_and_idle_timeouts() {
    let server = server_with(limits(300, 5_000, 300, 64)).await;
    let user = server.user("listener").await;
    let mut stream = connect(&server).await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let request = format!("GET /v1/events/stream HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\r\n", user.token);
    stream.write_all(request.as_bytes()).await.expect("send the request");
    let opened = std::time::Instant::now();
    let mut received = String::new();
    let mut buffer = [0u8; 4096];
    // The stream takes the events after its headers; wait for them before making any.
    let headers = tokio::time::timeout(DEADLINE, async {
        while !received.contains("\r\n\r\n") {
            let read = stream.read(&mut buffer).await.expect("the stream's headers");
            assert!(read > 0, "the server closed the stream before its headers");
            received.push_str(&String::from_utf8_lossy(&buffer[..read]));
        }
    })
    .await;
    assert!(headers.is_ok() && received.starts_with("HTTP/1.1 200"), "the stream opens: {received}");
    let mut events = 0;
    while opened.elapsed() < Duration::from_millis(1_500) {
        server.top_up(&user, 1).await;
        events += 1;
        let read = tokio::time::timeout(DEADLINE, async {
            loop {
                let read = stream.read(&mut buffer).await.expect("the stream stays readable");
                assert!(read > 0, "the server closed the stream {:?} after it opened: {received}", opened.elapsed());
                received.push_str(&String::from_utf8_lossy(&buffer[..read]));
                if received.matches("event: wallet.topped_up").count() >= events {
                    return;
                }
            }
        })
        .await;
        assert!(read.is_ok(), "event {events} came down the stream");
    }
    assert!(events >= 2, "several events over {:?}", opened.elapsed());
}
