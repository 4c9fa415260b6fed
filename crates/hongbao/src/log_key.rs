//! The key that signs the journal's checkpoints: read from its file, or generated at first start and
//! written with owner-only permissions (0600).
//!
//! The file holds the signer key's text form (`PRIVATE+KEY+<name>+<id>+<base64>`, Go's
//! `note.NewSigner`); the key's name is the log's origin. Several processes on one PostgreSQL database
//! must share one key file. A rotation is a new key file: new checkpoints are signed with it, and the
//! old key stays in the database's `log_keys`, so checkpoints it signed stay verifiable.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hongbao_tlog::{SignerKey, is_valid_key_name};
use rand::RngCore;

/// `HONGBAO_LOG_KEY_FILE`, or `<database file>.log-key` beside a SQLite file, or `hongbao-log.key` in
/// the working directory.
pub fn default_path(database: &str) -> PathBuf {
    match database.strip_prefix("sqlite://") {
        Some(path) if !path.is_empty() => PathBuf::from(format!("{path}.log-key")),
        _ => PathBuf::from("hongbao-log.key"),
    }
}

/// `hongbao/<host name>/journal`, with characters a key name may not hold replaced by `-`.
pub fn default_origin() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let host: String = host.chars().map(|c| if c.is_whitespace() || c.is_control() || c == '+' { '-' } else { c }).collect();
    format!("hongbao/{host}/journal")
}

/// Reads the key in `path`, or generates one named `origin` (the default origin when none is given)
/// and writes it there, readable by its owner only. A key file whose name is not the configured
/// origin is refused: the origin names the log, and a log does not change its name.
pub fn load_or_create(path: &Path, origin: Option<&str>) -> Result<SignerKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let key = SignerKey::parse(text.trim()).map_err(|error| anyhow::anyhow!("the log key file {} is not a signer key: {error}", path.display()))?;
            if let Some(origin) = origin
                && origin != key.name()
            {
                bail!("the log key file {} names the log {:?}, but HONGBAO_LOG_ORIGIN is {origin:?}", path.display(), key.name());
            }
            warn_if_readable_by_others(path);
            Ok(key)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => create(path, origin.map(str::to_owned).unwrap_or_else(default_origin).as_str()),
        Err(error) => Err(error).with_context(|| format!("while reading the log key file {}", path.display())),
    }
}

/// Generates a key named `origin` and writes it to `path` with mode 0600, unless another process wrote
/// one there first: then that one is read. The key is written to a file of its own and linked into
/// place, so no process ever reads half a key, and two processes starting together end with one key.
pub fn create(path: &Path, origin: &str) -> Result<SignerKey> {
    if !is_valid_key_name(origin) {
        bail!("{origin:?} cannot name a log: it must be non-empty, without spaces or '+'");
    }
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let key = SignerKey::generate(origin, seed).map_err(|error| anyhow::anyhow!("generating the log key: {error}"))?;
    let staging = PathBuf::from(format!("{}.{}-{:016x}.tmp", path.display(), std::process::id(), rand::rngs::OsRng.next_u64()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = (|| -> std::io::Result<()> {
        let mut file = options.open(&staging)?;
        file.write_all(format!("{}\n", key.to_secret_text()).as_bytes())?;
        file.sync_all()
    })();
    written.with_context(|| format!("while writing a new log key beside {}", path.display()))?;
    let linked = std::fs::hard_link(&staging, path);
    let _ = std::fs::remove_file(&staging);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), key = %key.verifier(), "generated the key that signs the journal's checkpoints");
            Ok(key)
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(path, Some(origin)),
        Err(error) => Err(error).with_context(|| format!("while creating the log key file {}", path.display())),
    }
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(path)
            && metadata.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "the log key file is readable by others than its owner; make it mode 0600");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Prints the key a running server publishes at `/.well-known/hongbao/log-key`, or every key it lists
/// at `/v1/journal/keys` (which needs a token).
pub fn print_from_server(connection: &crate::client::Connection, all: bool) -> Result<std::process::ExitCode> {
    let http = reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(30)).build().context("while creating the HTTP client")?;
    let base = connection.server.trim_end_matches('/');
    if !all {
        let response = http.get(format!("{base}/.well-known/hongbao/log-key")).send().with_context(|| format!("while asking {base} for its key"))?;
        let status = response.status();
        let text = response.text().context("while reading the server's key")?;
        if !status.is_success() {
            bail!("the server answered {status}: {text}");
        }
        print!("{text}");
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let Some(token) = &connection.token else { bail!("listing every key needs a token: pass --token or set HONGBAO_TOKEN") };
    let response = http.get(format!("{base}/v1/journal/keys")).bearer_auth(token).send().with_context(|| format!("while asking {base} for its keys"))?;
    let status = response.status();
    let body: serde_json::Value = response.json().context("while reading the server's keys")?;
    if !status.is_success() {
        bail!("the server answered {status}: {body}");
    }
    for key in body["data"].as_array().into_iter().flatten() {
        println!("{}", key["verifier_key"].as_str().unwrap_or_default());
    }
    Ok(std::process::ExitCode::SUCCESS)
}
