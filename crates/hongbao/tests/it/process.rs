//! Starting and stopping `hongbao serve` as a child process on a free port.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

pub const ADMIN_TOKEN: &str = "process-test-admin";

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_hongbao")
}

/// A running `hongbao serve`, killed when dropped.
pub struct ServerProcess {
    pub child: Child,
    pub base: String,
}

impl ServerProcess {
    pub fn start(database_url: &str, extra_env: &[(&str, &str)]) -> ServerProcess {
        let mut command = Command::new(binary());
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--database", database_url])
            .env("HONGBAO_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("HONGBAO_LOG", "warn")
            // A PostgreSQL server keeps its evidence store in its working directory.
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in extra_env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start hongbao serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines.next().expect("the server prints its address").expect("readable stdout");
            if let Some(rest) = line.strip_prefix("hongbao listening on ") {
                break rest.split_whitespace().next().expect("an address").to_owned();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        ServerProcess { child, base }
    }

    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn run(args: &[&str]) -> Output {
    Command::new(binary()).args(args).env_remove("HONGBAO_DATABASE").output().expect("run hongbao")
}

pub fn verify(database_url: &str) -> Output {
    run(&["verify", "--database", database_url])
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client { http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client"), base: base.to_owned() }
    }

    pub async fn post(&self, path: &str, token: &str, body: Option<Value>) -> Result<(u16, Value), reqwest::Error> {
        let mut request = self.http.post(format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    pub async fn get(&self, path: &str, token: &str) -> Value {
        self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.expect("request").json().await.expect("json")
    }

    pub async fn user(&self, name: &str) -> (String, String) {
        let (status, body) = self.post("/v1/users", ADMIN_TOKEN, Some(json!({ "name": name }))).await.expect("create user");
        assert_eq!(status, 201, "{body}");
        (body["id"].as_str().expect("id").to_owned(), body["token"].as_str().expect("token").to_owned())
    }
}
