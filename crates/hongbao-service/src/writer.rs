//! The single writer and its group commit.
//!
//! Every change in a process goes through one thread that owns the write connection. It takes all the
//! jobs waiting in its queue (up to `max_batch`), opens one database transaction, runs each job in
//! turn against an in-memory [`Batch`], writes all their changes at once, commits — one fsync for the
//! whole batch — and only then answers the jobs. A job's answer therefore always describes durable
//! state, and a refused job leaves nothing behind. Under load the batches grow by themselves: while one
//! commit is in flight, the next batch queues up.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hongbao_core::{PacketId, Timestamp, UserId};
use hongbao_store::{StoreError, WriteConn};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::{mpsc, oneshot};

use crate::batch::{Batch, PolicyCache, ShareCache};
use crate::clock::Clock;
use crate::config::Config;
use crate::context::{Effects, OpContext};
use crate::error::{ServiceError, ServiceResult};
use crate::metrics::ServiceMetrics;
use crate::op::Op;
use crate::outcome::Outcome;
use hongbao_store::records::Sightings;

/// A response as the HTTP layer sends it, kept for idempotent replays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub status: u16,
    pub body: Vec<u8>,
    /// What is kept for replays instead of `body`, when the two must differ: an answer that shows a
    /// secret once (a token, a signing key) is kept without it, so that no secret rests in the
    /// idempotency table.
    pub replay_body: Option<Vec<u8>>,
}

/// Turns an outcome into the response to store with its `Idempotency-Key`. It runs on the writer,
/// inside the job's transaction, so the stored response and the change commit together; it may run
/// more than once when the job's batch runs again without another, failed, job.
pub type Render = Box<dyn Fn(&Outcome) -> Rendered + Send>;

/// The scope of an `Idempotency-Key`: the caller, the key, and a hash of the request it came with.
#[derive(Clone, Debug)]
pub struct Idempotency {
    pub caller: String,
    pub key: String,
    pub request_hash: [u8; 32],
}

// A reply is built once and moved once; boxing the common variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Reply {
    Done {
        outcome: Outcome,
        rendered: Option<Rendered>,
    },
    /// The same key and request were seen before: the first response, unchanged.
    Replayed(Rendered),
}

pub struct Job {
    pub op: Op,
    pub idempotency: Option<Idempotency>,
    pub render: Option<Render>,
    pub reply: oneshot::Sender<ServiceResult<Reply>>,
}

pub(crate) struct Writer {
    pub conn: Box<dyn WriteConn>,
    /// Where a new connection comes from when the current one is lost.
    pub store: Arc<dyn hongbao_store::Store>,
    pub clock: Arc<dyn Clock>,
    pub config: Config,
    pub metrics: Arc<ServiceMetrics>,
    pub rng: StdRng,
    pub share_cache: ShareCache,
    pub policy_cache: PolicyCache,
    /// The live event streams, woken after each commit that wrote events for their users.
    pub event_wakers: Arc<crate::live::EventWakers>,
    /// For tests: how long the next batch that writes anything sleeps holding the write lock.
    pub stall: Option<std::time::Duration>,
}

impl Writer {
    pub fn new(
        conn: Box<dyn WriteConn>,
        store: Arc<dyn hongbao_store::Store>,
        clock: Arc<dyn Clock>,
        config: Config,
        metrics: Arc<ServiceMetrics>,
        event_wakers: Arc<crate::live::EventWakers>,
    ) -> Writer {
        let stall = config.writer_stall_millis.map(std::time::Duration::from_millis);
        let rng = config.random_seed.map_or_else(StdRng::from_entropy, StdRng::seed_from_u64);
        Writer { conn, store, clock, config, metrics, rng, share_cache: ShareCache::default(), policy_cache: PolicyCache::default(), stall, event_wakers }
    }

    /// Runs until every sender is gone. A panic means an invariant broke: the process stops rather
    /// than risk committing a corrupt ledger.
    pub fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            while let Some(first) = queue.blocking_recv() {
                self.process(first, &mut queue);
            }
        }));
        if outcome.is_err() {
            tracing::error!("the writer panicked; stopping the process to protect the ledger");
            std::process::abort();
        }
    }

    /// Runs one batch: `first` and whatever else is queued once the write lock is held. Taking the
    /// jobs after the lock, not before, matters when several processes share a database: the time
    /// spent waiting for the others' batches fills this one, instead of leaving the requests that
    /// arrived meanwhile for a batch of their own.
    fn process(&mut self, first: Job, queue: &mut mpsc::Receiver<Job>) {
        if let Err(failure) = self.begin() {
            failure.answer(std::iter::once(first.reply));
            return;
        }
        let mut jobs = Vec::with_capacity(64);
        jobs.push(first);
        while jobs.len() < self.config.max_batch {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        self.run_batch(jobs);
    }

    /// Begins a batch's transaction. The connection may be gone (the database restarted, or failed
    /// over to a standby): nothing of the batch has happened yet, so a new connection can simply
    /// begin it again. The error is what the jobs are answered when that fails too.
    ///
    /// A lock not granted within the database's lock timeout is not a lost connection: the jobs are
    /// answered at once that the database is busy (a retry is safe, nothing was done), rather than
    /// left waiting behind a process that holds the lock, and the next batch tries again.
    fn begin(&mut self) -> Result<(), BeginFailure> {
        let error = match self.conn.begin() {
            Ok(()) => return Ok(()),
            Err(StoreError::LockTimeout { source }) => {
                tracing::warn!(error = %source, "the write lock was not granted in time; answering the batch that the database is busy");
                let _ = self.conn.rollback();
                return Err(BeginFailure::Busy);
            }
            Err(error) => error,
        };
        tracing::warn!(error = %error_chain(&error), "could not begin a batch; connecting again");
        match self.store.open_writer().and_then(|mut conn| conn.begin().map(|()| conn)) {
            Ok(conn) => {
                self.conn = conn;
                Ok(())
            }
            Err(StoreError::LockTimeout { source }) => {
                tracing::warn!(error = %source, "the write lock was not granted in time on a new connection");
                Err(BeginFailure::Busy)
            }
            Err(error) => {
                tracing::error!(error = %error_chain(&error), "could not begin a batch on a new connection either");
                Err(BeginFailure::Failed("the database refused to begin a transaction"))
            }
        }
    }

    /// Runs `jobs` in the transaction just begun, commits them, and answers each. One job cannot fail
    /// the others:
    /// - a refusal undoes that job's own writes (its write scope) and the rest go on;
    /// - a job whose read fails in the database (which may leave the transaction unusable, as
    ///   PostgreSQL does) is answered with an error, and the batch runs again without it;
    /// - a commit that the database refuses, nothing applied, runs each half of the batch again in a
    ///   transaction of its own, down to the one job whose writes the database refuses.
    fn run_batch(&mut self, mut jobs: Vec<Job>) {
        loop {
            match self.attempt(&jobs) {
                Attempt::Committed { results, effects } => {
                    self.metrics.batches.fetch_add(1, Ordering::Relaxed);
                    self.metrics.batched_operations.fetch_add(jobs.len() as u64, Ordering::Relaxed);
                    self.metrics.packets_sent.fetch_add(effects.packets_sent, Ordering::Relaxed);
                    self.metrics.packets_claimed.fetch_add(effects.packets_claimed, Ordering::Relaxed);
                    self.metrics.packets_refunded.fetch_add(effects.packets_refunded, Ordering::Relaxed);
                    for (job, result) in jobs.into_iter().zip(results) {
                        // The requester may have gone away; the change is durable either way.
                        let _ = job.reply.send(result);
                    }
                    return;
                }
                Attempt::ReadFailed { index, reason } => {
                    tracing::error!(reason, operations = jobs.len(), "a request's read failed in the database; running its batch again without it");
                    let _ = self.conn.rollback();
                    let culprit = jobs.remove(index);
                    fail_all(std::iter::once(culprit.reply), NOTHING_APPLIED);
                    if jobs.is_empty() {
                        return;
                    }
                    if let Err(failure) = self.begin() {
                        failure.answer(jobs.into_iter().map(|job| job.reply));
                        return;
                    }
                }
                Attempt::PrefetchFailed(reason) => {
                    tracing::error!(reason, operations = jobs.len(), "abandoning a batch: its reads failed");
                    let _ = self.conn.rollback();
                    fail_all(jobs.into_iter().map(|job| job.reply), NOTHING_APPLIED);
                    return;
                }
                Attempt::CommitUnknown(reason) => {
                    tracing::error!(reason, operations = jobs.len(), "the outcome of a batch's commit is unknown");
                    let _ = self.conn.rollback();
                    fail_all(jobs.into_iter().map(|job| job.reply), OUTCOME_UNKNOWN);
                    return;
                }
                Attempt::CommitRefused(reason) => {
                    let _ = self.conn.rollback();
                    if jobs.len() == 1 {
                        tracing::error!(reason, "the database refused a request's writes; nothing of it was applied");
                        fail_all(jobs.into_iter().map(|job| job.reply), NOTHING_APPLIED);
                        return;
                    }
                    tracing::warn!(reason, operations = jobs.len(), "the database refused a batch's writes; running each half on its own");
                    let second = jobs.split_off(jobs.len() / 2);
                    for half in [jobs, second] {
                        match self.begin() {
                            Ok(()) => self.run_batch(half),
                            Err(failure) => failure.answer(half.into_iter().map(|job| job.reply)),
                        }
                    }
                    return;
                }
            }
        }
    }

    /// Runs every job against a fresh [`Batch`] in the open transaction and commits; answers nothing.
    fn attempt(&mut self, jobs: &[Job]) -> Attempt {
        // The packets the batch's claims and expiries will read, with the claimers.
        let packets: Vec<(PacketId, Option<UserId>)> = jobs
            .iter()
            .filter_map(|job| match job.op.inner() {
                Op::Claim { packet_id, user_id } => Some((packet_id.clone(), Some(user_id.clone()))),
                Op::Expire { packet_id } => Some((packet_id.clone(), None)),
                _ => None,
            })
            .collect();
        // A crowd's first requests each note the client; their records come in one query too.
        let observed: Vec<hongbao_store::records::Value> = jobs.iter().filter_map(|job| job.op.observed_user()).map(hongbao_store::records::text).collect();
        let mut batch = Batch::new(self.conn.as_mut(), &mut self.share_cache, &mut self.policy_cache);
        if let Err(error) = batch.prefetch::<Sightings>(&packets, observed) {
            return Attempt::PrefetchFailed(error_chain(&error));
        }
        let mut effects = Effects::default();
        let mut results = Vec::with_capacity(jobs.len());
        for (index, job) in jobs.iter().enumerate() {
            let scope = batch.open_scope();
            let mut job_effects = Effects::default();
            let now = self.clock.now();
            let result = run_job(&mut batch, &mut self.rng, &self.config, now, job, &mut job_effects);
            match &result {
                Ok(_) => {
                    batch.close_scope(scope);
                    effects.packets_sent += job_effects.packets_sent;
                    effects.packets_claimed += job_effects.packets_claimed;
                    effects.packets_refunded += job_effects.packets_refunded;
                }
                Err(ServiceError::Store(error)) => return Attempt::ReadFailed { index, reason: error_chain(error) },
                Err(_) => batch.discard_scope(scope),
            }
            results.push(result);
        }
        let tree_start = batch.tree_start();
        let (mut changes, conn) = batch.into_changes();
        // Every new journal entry becomes a leaf of the journal's Merkle tree in this same transaction.
        let entries: Vec<&hongbao_store::JournalEntry> = changes.journal.iter().map(|(entry, _)| entry).collect();
        match crate::journal_log::append_to_tree(conn, tree_start, &entries) {
            Ok(nodes) => changes.tree_nodes = nodes,
            Err(error) => return Attempt::PrefetchFailed(error_chain(&error)),
        }
        if let Some(stall) = self.stall.filter(|_| !changes_are_empty(&changes)) {
            // A test's stand-in for a process paused while it holds the lock (see `Config`).
            self.stall = None;
            tracing::warn!(millis = stall.as_millis() as u64, "stalling while holding the write lock, as a test asked");
            std::thread::sleep(stall);
        }
        match conn.commit(&changes) {
            Ok(()) => {
                self.event_wakers.wake(changes.events.iter().map(|event| &event.user_id));
                Attempt::Committed { results, effects }
            }
            Err(error @ StoreError::CommitUnknown { .. }) => Attempt::CommitUnknown(error_chain(&error)),
            Err(error) => Attempt::CommitRefused(error_chain(&error)),
        }
    }
}

const NOTHING_APPLIED: &str = "the database failed; nothing in this request was applied";
/// A commit may fail after it happened (the connection can drop after the database committed, and on
/// PostgreSQL the wait for the disk comes after the commit): the caller can only learn the outcome by
/// repeating the request with its key.
const OUTCOME_UNKNOWN: &str =
    "the database failed while committing; the request may have been applied: repeat it with the same Idempotency-Key to learn its outcome";

/// How one run of a batch's jobs ended.
enum Attempt {
    /// Durable: each job's answer, in order, and the counts for the metrics.
    Committed { results: Vec<ServiceResult<Reply>>, effects: Effects },
    /// The database failed the reads made before any job ran.
    PrefetchFailed(String),
    /// The database failed a read of the job at `index`.
    ReadFailed { index: usize, reason: String },
    /// The database refused the batch's writes; nothing was applied.
    CommitRefused(String),
    /// The commit may or may not have happened.
    CommitUnknown(String),
}

/// Runs one job's operation against the batch, and renders and stages its answer under its key. A
/// job may run more than once (when its batch runs again without a failed job), so it is borrowed.
fn run_job(batch: &mut Batch<'_>, rng: &mut StdRng, config: &Config, now: Timestamp, job: &Job, effects: &mut Effects) -> ServiceResult<Reply> {
    let idempotency = &job.idempotency;
    if let Some(scope) = idempotency
        && let Some(record) = batch.idempotency_record(&scope.caller, &scope.key)?
        && record.created_at.plus_seconds(config.idempotency_ttl_seconds) > now
    {
        if record.request_hash != scope.request_hash {
            return Err(ServiceError::IdempotencyKeyReused);
        }
        return Ok(Reply::Replayed(Rendered { status: record.status, body: record.body, replay_body: None }));
    }
    let mut context = OpContext { batch, now, rng, config, effects: Effects::default(), key: None };
    let outcome = context.run(job.op.clone())?;
    *effects = context.effects;
    let rendered = job.render.as_ref().map(|render| render(&outcome));
    // A payment waiting for its confirmation did not happen: like a refusal it is not remembered under
    // the key, so the confirmed repeat with the same key goes through.
    let completed = !matches!(outcome, Outcome::ConfirmationRequired { .. });
    if let (Some(scope), Some(rendered), true) = (idempotency, &rendered, completed) {
        let body = rendered.replay_body.as_ref().unwrap_or(&rendered.body).clone();
        let record = hongbao_store::IdempotencyRecord { request_hash: scope.request_hash, status: rendered.status, body, created_at: now };
        batch.put_idempotency_record(&scope.caller, &scope.key, record);
    }
    Ok(Reply::Done { outcome, rendered })
}

/// Why a batch's transaction could not begin.
enum BeginFailure {
    /// The write lock was not granted in time.
    Busy,
    /// The database refused, on a new connection too.
    Failed(&'static str),
}

impl BeginFailure {
    fn answer(&self, replies: impl Iterator<Item = oneshot::Sender<ServiceResult<Reply>>>) {
        match self {
            BeginFailure::Busy => {
                for reply in replies {
                    let _ = reply.send(Err(ServiceError::Busy));
                }
            }
            BeginFailure::Failed(why) => fail_all(replies, why),
        }
    }
}

/// Whether a batch writes nothing at all (a look for webhook deliveries that found none, say).
fn changes_are_empty(changes: &hongbao_store::Changes) -> bool {
    changes.journal.is_empty() && changes.rows.is_empty() && changes.users.is_empty() && changes.events.is_empty() && changes.idempotency.is_empty()
}

fn fail_all(replies: impl Iterator<Item = oneshot::Sender<ServiceResult<Reply>>>, why: &str) {
    for reply in replies {
        let _ = reply.send(Err(ServiceError::Internal(why.to_owned())));
    }
}

/// An error with its sources, for the one log line a 5xx gets.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
