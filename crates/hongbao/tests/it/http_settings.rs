//! The HTTP limits as an operator sets them: read from the environment by `hongbao serve`, in force in
//! the running server, and a value out of range stops the start with the variable named.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use hongbao_testkit::TestDatabase;

use crate::process::{ServerProcess, binary};

/// Reads until the server closes the connection; `None` if it is still open after ten seconds.
fn read_until_closed(stream: &mut TcpStream) -> Option<String> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("a read timeout");
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Some(String::from_utf8_lossy(&received).into_owned()),
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            Err(error) if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return None,
            Err(_) => return Some(String::from_utf8_lossy(&received).into_owned()),
        }
    }
}

#[test]
fn the_connection_limits_come_from_the_environment() {
    let database = TestDatabase::new();
    let server = ServerProcess::start(&database.url, &[("HONGBAO_HEADER_READ_TIMEOUT_SECONDS", "1"), ("HONGBAO_MAX_CONNECTIONS", "1")]);
    let address = server.base.trim_start_matches("http://");
    let mut stalled = TcpStream::connect(address).expect("connect");
    stalled.write_all(b"GET /healthz HTTP/1.1\r\nHost: hongbao\r\n").expect("send half a request");
    let mut one_more = TcpStream::connect(address).expect("connect");
    let refusal = read_until_closed(&mut one_more).expect("a second connection is refused at once");
    assert!(refusal.starts_with("HTTP/1.1 503 ") && refusal.contains("too_many_connections"), "{refusal}");
    assert!(read_until_closed(&mut stalled).is_some(), "the stalled connection is closed after a second, not held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_out_of_range_stops_the_start() {
    let database = TestDatabase::new();
    for (name, value) in [("HONGBAO_MAX_CONNECTIONS", "0"), ("HONGBAO_IDLE_TIMEOUT_SECONDS", "soon"), ("HONGBAO_WEBHOOK_ALLOW_PRIVATE", "maybe")] {
        let mut child = std::process::Command::new(binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--database", &database.url])
            .env(name, value)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run hongbao serve");
        // A server that started anyway is killed when the test fails: `ChildGuard` below.
        let status = {
            let guard = ChildGuard(&mut child);
            hongbao_testkit::eventually(&format!("hongbao serve stopping with {name}={value}"), Duration::from_secs(30), || {
                let status = guard.0.try_wait().expect("the child's status");
                async move { status.ok_or_else(|| "still running".to_owned()) }
            })
            .await
        };
        assert!(!status.success(), "{name}={value} is refused");
        let mut stderr = String::new();
        child.stderr.take().expect("piped stderr").read_to_string(&mut stderr).expect("stderr");
        assert!(stderr.contains(name), "the error names {name}: {stderr}");
    }
}

/// Kills a child process that is still running when the guard is dropped, as when a test panics.
struct ChildGuard<'a>(&'a mut std::process::Child);

impl Drop for ChildGuard<'_> {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn the_secret_key_file_is_made_owner_only_and_a_start_with_another_key_is_refused() {
    let database = TestDatabase::new();
    let directory = std::env::temp_dir().join(format!("hongbao-key-test-{}", hongbao_service::random_u64()));
    std::fs::create_dir_all(&directory).expect("a directory");
    let key_file = directory.join("hongbao-secret.key");
    let key_file_text = key_file.display().to_string();
    let server = ServerProcess::start(&database.url, &[("HONGBAO_SECRET_KEY_FILE", &key_file_text)]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).expect("the key file was made").permissions().mode();
        assert_eq!(mode & 0o077, 0, "only its owner may read the key file");
    }
    let created = reqwest::blocking::Client::new()
        .post(format!("{}/v1/ops/webhooks", server.base))
        .bearer_auth(crate::process::ADMIN_TOKEN)
        .json(&serde_json::json!({ "url": "https://hooks.example.com/h" }))
        .send()
        .expect("answered");
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    server.kill();

    // Another key cannot open the stored secret: the start is refused, naming the keys.
    let other_key = "11".repeat(32);
    let refused = std::process::Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &database.url])
        .env("HONGBAO_ADMIN_TOKEN", crate::process::ADMIN_TOKEN)
        .env("HONGBAO_SECRET_KEY", &other_key)
        .current_dir(&directory)
        .output()
        .expect("run hongbao serve");
    assert!(!refused.status.success(), "a start with another key is refused");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("sealed with the key"), "{stderr}");
    // The same key file starts again.
    ServerProcess::start(&database.url, &[("HONGBAO_SECRET_KEY_FILE", &key_file_text)]).kill();
    std::fs::remove_dir_all(&directory).expect("clean up");
}
