//! Configuration from the environment (`HONGBAO_*`, as API.md lists), logging, and shutdown signals.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hongbao_core::Amount;
use hongbao_core::calendar::BusinessCalendar;
use hongbao_http::{HttpConfig, WebhookTargets};
use hongbao_service::Config;

pub const DEFAULT_DATABASE: &str = "sqlite://hongbao.db";
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

pub struct Settings {
    pub listen: String,
    pub database: String,
    pub config: Config,
    pub http: HttpConfig,
    pub log_key: LogKeySettings,
}

/// Where the key that signs the journal's checkpoints is kept, and the log's origin.
pub struct LogKeySettings {
    /// `HONGBAO_LOG_KEY_FILE`, or beside the SQLite file, or in the working directory.
    pub file: PathBuf,
    /// `HONGBAO_LOG_ORIGIN`: the log's name, which a new key is given; an existing key file must agree.
    pub origin: Option<String>,
}

fn log_key_file(database: &str) -> PathBuf {
    var("HONGBAO_LOG_KEY_FILE").map_or_else(|| crate::log_key::default_path(database), PathBuf::from)
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

fn number<T: std::str::FromStr>(name: &str, default: T, valid: impl Fn(&T) -> bool) -> Result<T> {
    let Some(text) = var(name) else { return Ok(default) };
    let value: T = text.trim().parse().ok().with_context(|| format!("{name}={text:?} is not a number"))?;
    if !valid(&value) {
        bail!("{name}={text:?} is out of range");
    }
    Ok(value)
}

fn seconds(name: &str, default: Duration, most: u64) -> Result<Duration> {
    number(name, default.as_secs(), |seconds| (1..=most).contains(seconds)).map(Duration::from_secs)
}

fn flag(name: &str) -> Result<bool> {
    match var(name).as_deref().map(str::trim) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(text) => bail!("{name}={text:?} must be true or false"),
    }
}

fn millis(name: &str, default: Duration) -> Result<Duration> {
    number(name, default.as_millis() as u64, |millis| (1..=3_600_000).contains(millis)).map(Duration::from_millis)
}

/// The PostgreSQL sessions' time limits (README, "Running it in production"), from
/// `HONGBAO_PG_LOCK_TIMEOUT_MS`, `HONGBAO_PG_STATEMENT_TIMEOUT_MS`,
/// `HONGBAO_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS` and `HONGBAO_PG_KEEPALIVE_SECONDS`.
pub fn postgres_limits() -> Result<hongbao_store_postgres::SessionLimits> {
    let defaults = hongbao_store_postgres::SessionLimits::default();
    let limits = hongbao_store_postgres::SessionLimits {
        lock_timeout: millis("HONGBAO_PG_LOCK_TIMEOUT_MS", defaults.lock_timeout)?,
        statement_timeout: millis("HONGBAO_PG_STATEMENT_TIMEOUT_MS", defaults.statement_timeout)?,
        idle_in_transaction: millis("HONGBAO_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS", defaults.idle_in_transaction)?,
        keepalive_idle: seconds("HONGBAO_PG_KEEPALIVE_SECONDS", defaults.keepalive_idle, 3_600)?,
    };
    if limits.lock_timeout <= limits.idle_in_transaction {
        tracing::warn!(
            "HONGBAO_PG_LOCK_TIMEOUT_MS is not above HONGBAO_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS: a process stalled holding the writer lock makes the others answer busy before it is let go"
        );
    }
    Ok(limits)
}

/// The HTTP layer's limits and outbound rules (README, "Running it in production").
fn http_config() -> Result<HttpConfig> {
    let mut http = HttpConfig::default();
    let limits = &mut http.limits;
    limits.header_read_timeout = seconds("HONGBAO_HEADER_READ_TIMEOUT_SECONDS", limits.header_read_timeout, 3_600)?;
    limits.body_read_timeout = seconds("HONGBAO_BODY_READ_TIMEOUT_SECONDS", limits.body_read_timeout, 86_400)?;
    limits.idle_timeout = seconds("HONGBAO_IDLE_TIMEOUT_SECONDS", limits.idle_timeout, 86_400)?;
    limits.max_connections = number("HONGBAO_MAX_CONNECTIONS", limits.max_connections, |connections| (1..=1_000_000).contains(connections))?;
    limits.max_streams_per_user = number("HONGBAO_MAX_STREAMS_PER_USER", limits.max_streams_per_user, |streams| (1..=10_000).contains(streams))?;
    if flag("HONGBAO_WEBHOOK_ALLOW_PRIVATE")? {
        http.webhook_targets = WebhookTargets::AnyAddress;
    }
    Ok(http)
}

impl Settings {
    pub fn from_env() -> Result<Settings> {
        let mut config = Config::default();
        let limits = &mut config.limits;
        limits.ttl_seconds = number("HONGBAO_PACKET_TTL_SECONDS", limits.ttl_seconds, |seconds| (1..=30 * 86_400).contains(seconds))?;
        limits.timed_min_seconds = number("HONGBAO_TIMED_MIN_SECONDS", limits.timed_min_seconds, |seconds| (1..=86_400).contains(seconds))?;
        limits.timed_default_seconds = limits.timed_default_seconds.max(limits.timed_min_seconds);
        limits.max_shares = number("HONGBAO_MAX_SHARES", limits.max_shares, |shares| (1..=1_000_000).contains(shares))?;
        let max_share = number("HONGBAO_MAX_SHARE_AMOUNT", limits.max_share.minor_units(), |units| *units >= 1)?;
        limits.max_share = Amount::new(max_share).context("HONGBAO_MAX_SHARE_AMOUNT is too large")?;
        let transfers = &mut config.transfers;
        transfers.accept_ttl_seconds =
            number("HONGBAO_TRANSFER_ACCEPT_TTL_SECONDS", transfers.accept_ttl_seconds, |seconds| (1..=30 * 86_400).contains(seconds))?;
        transfers.delay_2h_seconds = number("HONGBAO_DELAY_2H_SECONDS", transfers.delay_2h_seconds, |seconds| (1..=30 * 86_400).contains(seconds))?;
        transfers.delay_24h_seconds = number("HONGBAO_DELAY_24H_SECONDS", transfers.delay_24h_seconds, |seconds| (1..=30 * 86_400).contains(seconds))?;
        let returns = &mut config.returns;
        returns.default_respond_within_seconds = number("HONGBAO_RETURN_REQUEST_TTL_SECONDS", returns.default_respond_within_seconds, |seconds| {
            (1..=returns.max_respond_within_seconds).contains(seconds)
        })?;
        config.idempotency_ttl_seconds =
            number("HONGBAO_IDEMPOTENCY_TTL_SECONDS", config.idempotency_ttl_seconds, |seconds| (60..=30 * 86_400).contains(seconds))?;
        config.evidence_quota_bytes = number("HONGBAO_EVIDENCE_QUOTA_BYTES", config.evidence_quota_bytes, |bytes| *bytes >= 1)?;
        config.evidence_unattached_ttl_seconds =
            number("HONGBAO_EVIDENCE_UNATTACHED_TTL_SECONDS", config.evidence_unattached_ttl_seconds, |seconds| (60..=365 * 86_400).contains(seconds))?;
        config.token_recheck_seconds = number("HONGBAO_TOKEN_RECHECK_SECONDS", config.token_recheck_seconds, |seconds| (1..=86_400).contains(seconds))?;
        config.writer_stall_millis = var("HONGBAO_TEST_WRITER_STALL_MILLIS").map(|_| number("HONGBAO_TEST_WRITER_STALL_MILLIS", 0, |_| true)).transpose()?;
        config.max_group_members = number("HONGBAO_MAX_GROUP_MEMBERS", config.max_group_members, |members| (1..=10_000_000).contains(members))?;
        config.admin_token = var("HONGBAO_ADMIN_TOKEN");
        if let Some(currency) = var("HONGBAO_CURRENCY") {
            config.currency = currency;
        }
        if let Some(proxies) = var("HONGBAO_TRUSTED_PROXIES") {
            config.trusted_proxies = proxies
                .split(',')
                .map(str::trim)
                .filter(|cidr| !cidr.is_empty())
                .map(|cidr| {
                    hongbao_service::merchant::Cidr::parse(cidr)
                        .with_context(|| format!("HONGBAO_TRUSTED_PROXIES: {cidr:?} is not a network in CIDR notation, such as 10.0.0.0/8"))
                })
                .collect::<Result<_>>()?;
        }
        if let Some(holidays) = var("HONGBAO_HOLIDAYS") {
            config.complaints.holidays = BusinessCalendar::parse_list(&holidays).context("HONGBAO_HOLIDAYS must list dates as YYYY-MM-DD, comma-separated")?;
        }
        if let Some(path) = var("HONGBAO_POLICY") {
            let text = std::fs::read_to_string(&path).with_context(|| format!("while reading the risk policy HONGBAO_POLICY={path}"))?;
            hongbao_service::policy::parse_policy(&text).map_err(|error| anyhow::anyhow!("the risk policy {path} is refused: {error}"))?;
            config.policy_text = Some(text);
        }
        config.checkpoint_interval_seconds =
            number("HONGBAO_CHECKPOINT_INTERVAL_SECONDS", config.checkpoint_interval_seconds, |seconds| (1..=86_400).contains(seconds))?;
        let database = var("HONGBAO_DATABASE").unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        config.evidence_dir = evidence_dir(&database);
        let log_key = LogKeySettings { file: log_key_file(&database), origin: var("HONGBAO_LOG_ORIGIN") };
        Ok(Settings { listen: var("HONGBAO_LISTEN").unwrap_or_else(|| DEFAULT_LISTEN.to_owned()), database, config, http: http_config()?, log_key })
    }

    /// Reads the key that seals stored secrets: `HONGBAO_SECRET_KEY`, or the file
    /// `HONGBAO_SECRET_KEY_FILE`, or `hongbao-secret.key` beside a SQLite database (else in the working
    /// directory). A key file that does not exist yet is created with a new key, readable by its owner
    /// only, as the admin token is generated at first start. Called once the database is known.
    pub fn load_secret_key(&mut self) -> Result<()> {
        if let Some(text) = var("HONGBAO_SECRET_KEY") {
            self.config.secret_key = hongbao_service::secrets::SecretKey::parse(&text).context("HONGBAO_SECRET_KEY")?;
            return Ok(());
        }
        let path = match var("HONGBAO_SECRET_KEY_FILE") {
            Some(path) => PathBuf::from(path),
            None => beside_database(&self.database, "hongbao-secret.key"),
        };
        let (key, created) = hongbao_service::secrets::SecretKey::load_or_create(&path)?;
        if created {
            tracing::warn!(path = %path.display(), key_id = key.id(), "generated the secret key that seals stored secrets; back it up apart from the database");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if std::fs::metadata(&path).is_ok_and(|metadata| metadata.permissions().mode() & 0o077 != 0) {
                tracing::warn!(path = %path.display(), "the secret key file can be read by others than its owner; chmod 600 it");
            }
        }
        self.config.secret_key = key;
        Ok(())
    }

    /// Points the evidence store next to a SQLite database given on the command line, unless
    /// `HONGBAO_EVIDENCE_DIR` says where it is.
    pub fn set_database(&mut self, database: String) {
        self.config.evidence_dir = evidence_dir(&database);
        self.log_key.file = log_key_file(&database);
        self.database = database;
    }
}

/// `HONGBAO_EVIDENCE_DIR`, or `hongbao-evidence` beside a SQLite file, or in the working directory.
fn evidence_dir(database: &str) -> PathBuf {
    if let Some(dir) = var("HONGBAO_EVIDENCE_DIR") {
        return PathBuf::from(dir);
    }
    beside_database(database, "hongbao-evidence")
}

/// `name` beside a SQLite file, or in the working directory.
fn beside_database(database: &str, name: &str) -> PathBuf {
    match database.strip_prefix("sqlite://").map(Path::new).and_then(Path::parent) {
        Some(parent) if !parent.as_os_str().is_empty() => parent.join(name),
        _ => PathBuf::from(name),
    }
}

/// Logs go to stderr: human-readable by default, JSON with `HONGBAO_LOG_FORMAT=json`; the level comes
/// from `HONGBAO_LOG` (error, warn, info, debug, trace; default info).
pub fn init_logging() {
    let level = var("HONGBAO_LOG").and_then(|level| level.parse().ok()).unwrap_or(tracing::Level::INFO);
    let builder = tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr);
    if var("HONGBAO_LOG_FORMAT").as_deref() == Some("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
