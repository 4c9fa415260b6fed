//! A real server on a free port of 127.0.0.1, backed by a fresh database, with a manual clock so
//! tests move time instead of sleeping.

use std::sync::Arc;

use hongbao_core::Timestamp;
use hongbao_http::HttpConfig;
use hongbao_service::verify::VerifyReport;
use hongbao_service::{Config, ManualClock, Service};
use hongbao_store::Store;
use hongbao_testkit::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// How long a test waits for what a timer or another task must do before it gives up: a bound on a
/// hang, never a figure a test checks.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

pub use hongbao_testkit::eventually;

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub store: Arc<dyn Store>,
    pub service: Service,
    pub config: Config,
    pub http: HttpConfig,
    shutdown: Option<oneshot::Sender<()>>,
    _database: TestDatabase,
}

/// A user created through the API.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: String,
    pub token: String,
}

/// An answer: status, body as JSON (Null when empty), and headers.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// The problem code of an error answer, after checking it is problem+json.
    pub fn code(&self) -> &str {
        let content_type = self.headers.get("content-type").and_then(|value| value.to_str().ok()).unwrap_or("");
        assert_eq!(content_type, "application/problem+json", "an error answer is problem+json: {self:?}");
        assert_eq!(self.body["status"].as_u64(), Some(u64::from(self.status.as_u16())), "problem status matches: {self:?}");
        assert!(self.body["type"].is_string() && self.body["title"].is_string() && self.body["detail"].is_string(), "problem fields: {self:?}");
        self.body["code"].as_str().unwrap_or("")
    }

    pub fn expect(self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "unexpected answer: {:?}", self.body);
        self.body
    }

    pub fn expect_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "unexpected answer: {:?}", self.body);
        assert_eq!(self.code(), code, "unexpected problem: {:?}", self.body);
    }
}

/// A configuration whose risk policy lets a user recall, cancel and ask back as often as a stress
/// test needs.
pub fn without_velocity_rule() -> Config {
    Config { policy_text: Some("[velocity]\nmax_actions = 10000\n".into()), ..Config::default() }
}

/// A configuration whose timers run only at start and when a test runs them
/// (`service.run_due_timers()`), so that a test can act on a record past its deadline before any timer
/// has.
pub fn without_timers(config: Config) -> Config {
    Config { scheduler_interval_millis: 3_600_000, ..config }
}

/// A moment far from any real clock, so tests never depend on today's date.
pub const START: Timestamp = Timestamp::from_millis(1_800_000_000_000);

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(Config::default()).await
    }

    /// A server on a fresh database of the backend the environment selects (see `hongbao-testkit`).
    pub async fn start_with(config: Config) -> TestServer {
        TestServer::start_with_http(config, HttpConfig::default()).await
    }

    /// A server with HTTP settings of its own: limits small enough to reach in a test, or webhooks
    /// allowed to reach the test's own receivers on 127.0.0.1.
    pub async fn start_with_http(mut config: Config, http: HttpConfig) -> TestServer {
        config.admin_token = Some(ADMIN_TOKEN.to_owned());
        // Timers run often so that tests need not wait, unless the test stops them (`without_timers`).
        if config.scheduler_interval_millis == Config::default().scheduler_interval_millis {
            config.scheduler_interval_millis = 20;
        }
        let database = TestDatabase::new();
        config.evidence_dir = database.evidence_dir();
        let clock = ManualClock::new(START);
        let store = database.store();
        let (service, base, shutdown) = serve(store.clone(), config.clone(), http.clone(), clock.clone()).await;
        TestServer { base, client: reqwest::Client::new(), clock, store, service, config, http, shutdown: Some(shutdown), _database: database }
    }

    /// Stops the server, lets `seconds` pass while it is down, and starts a new one on the same
    /// database, as after a crash or a deploy. Timers that fell due meanwhile are carried out at start.
    pub async fn restart_after(&mut self, seconds: i64) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.clock.advance_seconds(seconds);
        let (service, base, shutdown) = serve(self.store.clone(), self.config.clone(), self.http.clone(), self.clock.clone()).await;
        self.service = service;
        self.base = base;
        self.shutdown = Some(shutdown);
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>, headers: &[(&str, &str)]) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer { status, body, headers }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None, &[]).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(token), Some(body), &[]).await
    }

    pub async fn post_empty(&self, path: &str, token: &str) -> Answer {
        self.call(Method::POST, path, Some(token), None, &[]).await
    }

    pub async fn user(&self, name: &str) -> TestUser {
        let body = self.post("/v1/users", ADMIN_TOKEN, json!({ "name": name })).await.expect(StatusCode::CREATED);
        TestUser { id: body["id"].as_str().expect("id").to_owned(), token: body["token"].as_str().expect("token").to_owned() }
    }

    pub async fn funded_user(&self, name: &str, amount: i64) -> TestUser {
        let user = self.user(name).await;
        self.top_up(&user, amount).await;
        user
    }

    pub async fn top_up(&self, user: &TestUser, amount: i64) -> Value {
        self.post("/v1/top-ups", ADMIN_TOKEN, json!({ "user_id": user.id, "amount": amount, "reference": format!("test-{}", hongbao_service::random_u64()) }))
            .await
            .expect(StatusCode::CREATED)
    }

    pub async fn group(&self, owner: &TestUser, members: &[&TestUser]) -> String {
        let member_ids: Vec<&str> = members.iter().map(|member| member.id.as_str()).collect();
        let body = self.post("/v1/groups", &owner.token, json!({ "name": "test group", "member_ids": member_ids })).await.expect(StatusCode::CREATED);
        body["id"].as_str().expect("group id").to_owned()
    }

    pub async fn balance(&self, user: &TestUser) -> i64 {
        self.get("/v1/wallet", &user.token).await.expect(StatusCode::OK)["balance"].as_i64().expect("balance")
    }

    pub async fn packet(&self, id: &str, viewer: &TestUser) -> Value {
        self.get(&format!("/v1/packets/{id}"), &viewer.token).await.expect(StatusCode::OK)
    }

    /// Waits, with a deadline, until the packet's status is `status` (the scheduler runs every 20 ms).
    pub async fn wait_for_status(&self, id: &str, viewer: &TestUser, status: &str) -> Value {
        eventually(&format!("packet {id} becoming {status}"), WAIT, || async {
            let packet = self.packet(id, viewer).await;
            if packet["status"] == status { Ok(packet) } else { Err(packet.to_string()) }
        })
        .await
    }

    /// Waits, with a deadline, until the resource at `path` has `status`, and returns it.
    pub async fn wait_for(&self, path: &str, viewer: &str, status: &str) -> Value {
        eventually(&format!("{path} becoming {status}"), WAIT, || async {
            let resource = self.get(path, viewer).await.expect(StatusCode::OK);
            if resource["status"] == status { Ok(resource) } else { Err(resource.to_string()) }
        })
        .await
    }

    /// Reads through the store, off the async threads.
    pub fn read<T: Send>(&self, read: impl FnOnce(&mut dyn hongbao_store::ReadConn) -> hongbao_store::StoreResult<T> + Send) -> T {
        blocking(|| {
            let mut conn = self.store.open_reader().expect("a reader");
            read(conn.as_mut()).expect("the read succeeds")
        })
    }

    /// The test's database, to look at behind the server's back.
    pub fn database(&self) -> &TestDatabase {
        &self._database
    }

    pub fn verify(&self) -> VerifyReport {
        blocking(|| {
            let mut conn = self.store.open_reader().expect("a reader");
            hongbao_service::verify::verify(conn.as_mut()).expect("verify reads the journal")
        })
    }

    pub fn assert_verified(&self) {
        let report = self.verify();
        assert!(report.is_clean(), "verify: {report}: {:?}", report.discrepancies);
    }

    /// Everything a failed request must leave untouched: all balances and the journal length.
    pub fn ledger_state(&self) -> (Vec<(String, i64)>, u64) {
        blocking(|| {
            let mut conn = self.store.open_reader().expect("a reader");
            conn.begin_snapshot().expect("a snapshot");
            let state = (conn.balances().expect("balances"), conn.journal_len().expect("journal length"));
            conn.end_snapshot().expect("end the snapshot");
            state
        })
    }
}

/// Starts a service and serves it on a free port until the returned sender fires.
async fn serve(store: Arc<dyn Store>, config: Config, http: HttpConfig, clock: ManualClock) -> (Service, String, oneshot::Sender<()>) {
    let service = Service::start(store, config, Arc::new(clock)).expect("service starts").service;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a free port");
    let base = format!("http://{}", listener.local_addr().expect("local address"));
    let (shutdown, stopped) = oneshot::channel::<()>();
    let serving = service.clone();
    tokio::spawn(async move {
        let _ = hongbao_http::serve(listener, serving, http, async move {
            let _ = stopped.await;
        })
        .await;
    });
    (service, base, shutdown)
}

/// Runs blocking store work off the async threads (PostgreSQL's synchronous client requires it).
fn blocking<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(work).join().expect("store work does not panic"))
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// An answer with the body's exact bytes, for byte-for-byte comparisons of idempotent replays.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: StatusCode,
    pub bytes: Vec<u8>,
    pub headers: reqwest::header::HeaderMap,
}

impl RawAnswer {
    /// Whether the answer carries `Idempotent-Replayed: true`.
    pub fn is_replay(&self) -> bool {
        self.headers.get("idempotent-replayed").is_some_and(|value| value.as_bytes() == b"true")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).expect("the answer is JSON")
    }

    /// The same answer with its body parsed, for `expect` and `expect_error`.
    pub fn into_answer(self) -> Answer {
        Answer { status: self.status, body: serde_json::from_slice(&self.bytes).unwrap_or(Value::Null), headers: self.headers }
    }
}

/// What a spawned task needs to talk to the server: its address and a client. Cheap to clone.
#[derive(Clone)]
pub struct Endpoint {
    pub base: String,
    pub client: reqwest::Client,
}

impl Endpoint {
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer { status, body, headers }
    }

    pub async fn post_empty(&self, path: &str, token: &str) -> Answer {
        self.call(Method::POST, path, Some(token), None).await
    }

    /// A POST with an `Idempotency-Key` (sent as raw header bytes, so invalid keys can be sent too),
    /// answered with the body's exact bytes. A `None` body sends no body at all.
    pub async fn post_with_key(&self, path: &str, token: &str, body: Option<&Value>, key: &[u8]) -> RawAnswer {
        let key = reqwest::header::HeaderValue::from_bytes(key).expect("the key is a value a header can carry");
        let mut request = self.client.post(format!("{}{path}", self.base)).bearer_auth(token).header("idempotency-key", key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body").to_vec();
        RawAnswer { status, bytes, headers }
    }

    pub async fn create_user(&self, name: &str) -> TestUser {
        let body = self.call(Method::POST, "/v1/users", Some(ADMIN_TOKEN), Some(json!({ "name": name }))).await.expect(StatusCode::CREATED);
        TestUser { id: body["id"].as_str().expect("id").to_owned(), token: body["token"].as_str().expect("token").to_owned() }
    }
}

impl TestServer {
    /// A handle that spawned tasks can own.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint { base: self.base.clone(), client: self.client.clone() }
    }

    /// Creates `count` users through the API, `parallel` requests at a time, in name order.
    pub async fn users_concurrently(&self, name_prefix: &str, count: usize, parallel: usize) -> Vec<TestUser> {
        let mut users: Vec<Option<TestUser>> = vec![None; count];
        let mut next_index = 0;
        let mut running = tokio::task::JoinSet::new();
        while next_index < count || !running.is_empty() {
            while next_index < count && running.len() < parallel {
                let endpoint = self.endpoint();
                let name = format!("{name_prefix}-{next_index}");
                let index = next_index;
                running.spawn(async move { (index, endpoint.create_user(&name).await) });
                next_index += 1;
            }
            let (index, user) = running.join_next().await.expect("a task is running").expect("a user creation task does not panic");
            users[index] = Some(user);
        }
        users.into_iter().map(|user| user.expect("every user was created")).collect()
    }

    /// A POST with an `Idempotency-Key` (sent as raw header bytes, so invalid keys can be sent too),
    /// answered with the body's exact bytes. A `None` body sends no body at all.
    pub async fn post_with_key(&self, path: &str, token: &str, body: Option<&Value>, key: &[u8]) -> RawAnswer {
        self.endpoint().post_with_key(path, token, body, key).await
    }

    /// Sends raw bytes, with the given content type or with none at all.
    pub async fn post_bytes(&self, path: &str, token: &str, content_type: Option<&str>, body: Vec<u8>) -> Answer {
        let mut request = self.client.post(format!("{}{path}", self.base)).bearer_auth(token).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null), headers }
    }

    /// Like `post_bytes`, on a connection of its own: for requests the server answers before reading
    /// the whole body (too large), after which it drops the connection; a shared pooled connection
    /// would then fail the next request.
    ///
    /// A server that refuses a body before reading it answers and closes the connection; the client,
    /// still sending, may then see the connection reset before it reads the answer (TCP discards what
    /// was unread). That is a refusal too: it comes back as `None`.
    pub async fn post_bytes_alone(&self, path: &str, token: &str, content_type: &str, body: Vec<u8>) -> Option<Answer> {
        let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("a client");
        let response = client.post(format!("{}{path}", self.base)).bearer_auth(token).header("content-type", content_type).body(body).send().await.ok()?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.ok()?;
        Some(Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null), headers })
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.call(Method::DELETE, path, Some(token), None, &[]).await
    }

    /// Sends a packet and returns its id, checking the answer is 201.
    pub async fn send_packet(&self, sender: &TestUser, body: Value) -> String {
        let packet = self.post("/v1/packets", &sender.token, body).await.expect(StatusCode::CREATED);
        packet["id"].as_str().expect("packet id").to_owned()
    }

    /// Waits, with a deadline, until the packet is no longer open, and returns it.
    pub async fn wait_until_finished(&self, id: &str, viewer: &TestUser) -> Value {
        eventually(&format!("packet {id} finishing"), WAIT, || async {
            let packet = self.packet(id, viewer).await;
            if packet["status"] != "open" { Ok(packet) } else { Err(packet.to_string()) }
        })
        .await
    }

    /// The journal's length, as `ledger_state` counts it.
    pub fn journal_len(&self) -> u64 {
        self.ledger_state().1
    }
}
