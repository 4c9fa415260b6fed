//! The service's settings. The binary fills them from the environment; tests build them directly.

use std::path::PathBuf;

use hongbao_core::PacketLimits;
use hongbao_core::cases::ComplaintRules;
use hongbao_core::returns::ReturnRules;
use hongbao_core::transfer::TransferTimings;
use hongbao_core::webhooks::RetryPolicy;

#[derive(Clone, Debug)]
pub struct Config {
    /// The deployment's one currency (ISO 4217), with two minor digits.
    pub currency: String,
    pub limits: PacketLimits,
    pub transfers: TransferTimings,
    pub returns: ReturnRules,
    /// Deadlines, sizes and the holiday calendar of complaints.
    pub complaints: ComplaintRules,
    /// A risk policy (TOML) to put in force at start, from the deployment's policy file.
    pub policy_text: Option<String>,
    /// How failed webhook deliveries are retried.
    pub webhook_retry: RetryPolicy,
    /// How long a webhook endpoint has to answer, in milliseconds.
    pub webhook_timeout_millis: u64,
    /// The load balancers and proxies in front of the server: from a request that comes through one,
    /// the client's address is taken from `X-Forwarded-For`.
    pub trusted_proxies: Vec<crate::merchant::Cidr>,
    /// The directory of the content-addressed evidence store.
    pub evidence_dir: PathBuf,
    pub max_group_members: u32,
    /// The most operations one durable commit carries.
    pub max_batch: usize,
    /// How long an `Idempotency-Key` is remembered; older records are deleted by the maintenance task.
    pub idempotency_ttl_seconds: i64,
    /// How often the maintenance task deletes what has expired (idempotency records, unattached
    /// evidence), in milliseconds.
    pub maintenance_interval_millis: u64,
    /// The most bytes of evidence one user may keep uploaded, attached or not; each file counts as at
    /// least [`EVIDENCE_MIN_CHARGE`] bytes, so that many tiny files cannot fill the disk either.
    pub evidence_quota_bytes: u64,
    /// How long an upload that was never attached to a case is kept.
    pub evidence_unattached_ttl_seconds: i64,
    /// The key that seals the secrets the service keeps readable (webhook signing keys). The binary
    /// reads it from `HONGBAO_SECRET_KEY` or a key file; the default is a new random key, which suits
    /// a test but not a deployment, whose sealed secrets must open again after a restart.
    pub secret_key: crate::secrets::SecretKey,
    /// How long this process trusts a token it has cached before it looks at the database again: the
    /// bound on how long a token rotated or revoked through another process still works here when that
    /// process's notification is not heard.
    pub token_recheck_seconds: u64,
    /// For tests only: the writer sleeps this long while holding the write lock, in its first batch
    /// that writes anything, as a process paused at the worst moment would.
    pub writer_stall_millis: Option<u64>,
    /// The bootstrap admin's token, when the deployment sets one.
    pub admin_token: Option<String>,
    /// How often the expiry scheduler looks for due packets, in milliseconds.
    pub scheduler_interval_millis: u64,
    /// How often a live event stream looks for events that other processes wrote, in milliseconds.
    /// This process's own commits wake the streams of their users at once. On PostgreSQL the other
    /// processes' commits do too (LISTEN/NOTIFY), so there the look is only a safety net and comes
    /// `WATCHED_POLL_FACTOR` times less often, while the notifications are heard.
    pub event_poll_millis: u64,
    /// The key that signs the journal's checkpoints; its name is the log's origin. None draws one that
    /// lives only as long as the process (tests and tools).
    pub log_key: Option<hongbao_tlog::SignerKey>,
    /// How often a checkpoint of the journal's tree is made while it grows, in seconds.
    pub checkpoint_interval_seconds: u64,
    /// The seed of the writer's random source (ids, transaction numbers, tokens, lucky splits). None,
    /// the default, draws from the operating system; a seed makes a run replay exactly, which the
    /// simulation needs. A process that restarts must be given a new seed, or it draws the same ids again.
    pub random_seed: Option<u64>,
    /// The bugs planted on purpose that are switched on (`planted.rs`), for the simulation's test
    /// that shows it finds each one.
    #[cfg(feature = "planted-bugs")]
    pub planted_bugs: Vec<crate::planted::PlantedBug>,
}

/// The least a file of evidence counts toward its uploader's quota: about a disk block and a record.
pub const EVIDENCE_MIN_CHARGE: u64 = 4_096;

/// How much less often streams look for other processes' events where the store tells of them.
pub const WATCHED_POLL_FACTOR: u64 = 30;

impl Default for Config {
    fn default() -> Config {
        Config {
            currency: "CNY".to_owned(),
            limits: PacketLimits::default(),
            transfers: TransferTimings::default(),
            returns: ReturnRules::default(),
            complaints: ComplaintRules::default(),
            evidence_dir: PathBuf::from("hongbao-evidence"),
            policy_text: None,
            trusted_proxies: Vec::new(),
            webhook_retry: RetryPolicy::default(),
            webhook_timeout_millis: 10_000,
            max_group_members: 500,
            max_batch: 512,
            idempotency_ttl_seconds: 86_400,
            maintenance_interval_millis: 60_000,
            evidence_quota_bytes: 200 * 1024 * 1024,
            evidence_unattached_ttl_seconds: 7 * 86_400,
            secret_key: crate::secrets::SecretKey::generate(),
            token_recheck_seconds: 60,
            writer_stall_millis: None,
            admin_token: None,
            scheduler_interval_millis: 200,
            event_poll_millis: 1_000,
            log_key: None,
            checkpoint_interval_seconds: 10,
            random_seed: None,
            #[cfg(feature = "planted-bugs")]
            planted_bugs: Vec::new(),
        }
    }
}
