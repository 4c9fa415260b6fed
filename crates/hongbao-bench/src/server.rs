//! Starting `hongbao serve` as a child process, talking to it over HTTP, and reading its peak memory
//! and process id.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

pub const ADMIN_TOKEN: &str = "bench-admin-token";

pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new() -> Result<TempDir> {
        let path = std::env::temp_dir().join(format!("hongbao-bench-{}-{}", std::process::id(), rand::random::<u64>()));
        std::fs::create_dir_all(&path).context("while creating a temporary directory")?;
        Ok(TempDir(path))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    pub fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.0.join("hongbao.db").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Limits far above anything the benchmark sends; velocity and alerts as by default.
const BENCH_POLICY: &str = "[limits]\nper_transaction_max = \"1000000000.00\"\ndaily_outgoing_max = \"10000000000.00\"\ndaily_packet_count = 1000000\n\n\
                            [confirmation]\nthreshold = \"10000000000.00\"\n";

pub struct Server {
    child: tokio::process::Child,
    pub base: String,
}

impl Server {
    pub async fn start(binary: &str, database_url: &str, settings: &[(&str, String)]) -> Result<Server> {
        let mut command = tokio::process::Command::new(binary);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--database", database_url])
            .env("HONGBAO_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("HONGBAO_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        // The benchmark measures the payment path, not the risk rules: its packets are larger and more
        // numerous than a person's, so it runs under a policy whose limits it never reaches.
        let policy = std::env::temp_dir().join(format!("hongbao-bench-policy-{}.toml", std::process::id()));
        std::fs::write(&policy, BENCH_POLICY).context("while writing the benchmark's risk policy")?;
        command.env("HONGBAO_POLICY", &policy);
        command.env("HONGBAO_EVIDENCE_DIR", std::env::temp_dir().join("hongbao-bench-evidence"));
        for (name, value) in settings {
            command.env(name, value);
        }
        let mut child = command.spawn().with_context(|| format!("while starting {binary} (build it with cargo build --release -p hongbao)"))?;
        let stdout = child.stdout.take().context("piped stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let Some(line) = tokio::time::timeout(Duration::from_secs(600), lines.next_line()).await.context("the server did not start")?? else {
                bail!("the server exited before listening");
            };
            if let Some(rest) = line.strip_prefix("hongbao listening on ") {
                break rest.split_whitespace().next().context("an address")?.to_owned();
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server { child, base })
    }

    /// The server's process id, for reading its CPU time.
    pub fn pid(&self) -> Result<u32> {
        self.child.id().context("the server has exited")
    }

    /// The server's peak resident set size so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let Some(pid) = self.child.id() else { return 0 };
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|status| status.lines().find(|line| line.starts_with("VmHWM:")).and_then(|line| line.split_whitespace().nth(1)?.parse().ok()))
            .unwrap_or(0)
    }

    /// One counter from `/metrics`.
    pub async fn metric(&self, name: &str) -> Result<u64> {
        let text = reqwest::get(format!("{}/metrics", self.base)).await?.text().await?;
        let line = text.lines().find(|line| line.starts_with(name) && line[name.len()..].starts_with(' ')).with_context(|| format!("no metric {name}"))?;
        line.split_whitespace().nth(1).context("a value")?.parse().context("a number")
    }

    /// Stops the server with SIGTERM (a graceful shutdown) and waits for it.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        }
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// Runs `hongbao verify` and fails unless the ledger is clean.
pub fn verify(binary: &str, database_url: &str) -> Result<()> {
    let output = std::process::Command::new(binary).args(["verify", "--database", database_url]).output().context("while running verify")?;
    let report = String::from_utf8_lossy(&output.stdout);
    ensure!(output.status.success(), "verify failed: {report}{}", String::from_utf8_lossy(&output.stderr));
    println!("   verify: {}", report.trim());
    Ok(())
}

/// A client of the API. Cheap to clone.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: Arc<str>,
}

impl Api {
    pub fn new(base: &str, connections: usize) -> Api {
        let client = reqwest::Client::builder().pool_max_idle_per_host(connections).timeout(Duration::from_secs(120)).build().expect("a client");
        Api { client, base: base.into() }
    }

    pub async fn post(&self, token: &str, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
        let mut request = self.client.post(format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| format!("POST {path}"))?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    pub async fn get(&self, token: &str, path: &str) -> Result<Value> {
        let response = self.client.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.with_context(|| format!("GET {path}"))?;
        response.json().await.with_context(|| format!("GET {path}: the answer is not JSON"))
    }

    pub async fn user(&self, name: &str) -> Result<(String, String)> {
        let (status, body) = self.post(ADMIN_TOKEN, "/v1/users", Some(json!({ "name": name }))).await?;
        ensure!(status == 201, "creating a user answered {status}: {body}");
        Ok((body["id"].as_str().context("id")?.to_owned(), body["token"].as_str().context("token")?.to_owned()))
    }

    /// `count` users, `clients` created at a time.
    pub async fn users(&self, count: usize, clients: usize) -> Result<Arc<Vec<(String, String)>>> {
        let api = self.clone();
        let (_, _, users) = crate::load::closed_loop(count, clients, move |index| {
            let api = api.clone();
            async move { api.user(&format!("user{index}")).await }
        })
        .await?;
        Ok(Arc::new(users))
    }

    pub async fn top_up(&self, user_id: &str, amount: i64) -> Result<()> {
        let (status, body) =
            self.post(ADMIN_TOKEN, "/v1/top-ups", Some(json!({ "user_id": user_id, "amount": amount, "reference": format!("bench-{user_id}") }))).await?;
        ensure!(status == 201, "top-up answered {status}: {body}");
        Ok(())
    }

    pub async fn create_group(&self, owner_token: &str, members: &[&str]) -> Result<String> {
        let (status, body) = self.post(owner_token, "/v1/groups", Some(json!({ "name": "bench", "member_ids": members }))).await?;
        ensure!(status == 201, "creating a group answered {status}: {body}");
        Ok(body["id"].as_str().context("group id")?.to_owned())
    }
}
