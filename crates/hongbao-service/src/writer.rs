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
use crate::error::{ServiceError, ServiceResult};
use crate::metrics::ServiceMetrics;
use crate::ops::{Effects, Op, OpContext, Outcome};
use hongbao_store::records::Sightings;

/// A response as the HTTP layer sends it, kept for idempotent replays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Turns an outcome into the response to store with its `Idempotency-Key`. It runs on the writer,
/// inside the job's transaction, so the stored response and the change commit together.
pub type Render = Box<dyn FnOnce(&Outcome) -> Rendered + Send>;

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
        Writer {
            conn,
            store,
            clock,
            config,
            metrics,
            rng: StdRng::from_entropy(),
            share_cache: ShareCache::default(),
            policy_cache: PolicyCache::default(),
            event_wakers,
        }
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
        if let Err(error) = self.conn.begin() {
            // The connection may be gone (the database restarted, or failed over to a standby):
            // nothing of the batch has happened yet, so a new connection can simply begin it again.
            tracing::warn!(error = %error_chain(&error), "could not begin a batch; connecting again");
            match self.store.open_writer().and_then(|mut conn| conn.begin().map(|()| conn)) {
                Ok(conn) => self.conn = conn,
                Err(error) => {
                    tracing::error!(error = %error_chain(&error), "could not begin a batch on a new connection either");
                    fail_all(std::iter::once(first.reply), "the database refused to begin a transaction");
                    return;
                }
            }
        }
        let mut jobs = Vec::with_capacity(64);
        jobs.push(first);
        while jobs.len() < self.config.max_batch {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let size = jobs.len();
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
        let prefetched = batch.prefetch::<Sightings>(&packets, observed);
        let mut abandoned = prefetched.err().map(|error| error_chain(&error));
        let mut effects = Effects::default();
        let mut answers = Vec::with_capacity(size);
        for job in jobs {
            if abandoned.is_some() {
                answers.push((job.reply, None));
                continue;
            }
            batch.writes_in_operation = 0;
            let mut job_effects = Effects::default();
            let now = self.clock.now();
            let result = run_job(&mut batch, &mut self.rng, &self.config, now, job.op, job.idempotency, job.render, &mut job_effects);
            match &result {
                Ok(_) => {
                    effects.packets_sent += job_effects.packets_sent;
                    effects.packets_claimed += job_effects.packets_claimed;
                    effects.packets_refunded += job_effects.packets_refunded;
                }
                Err(ServiceError::Store(error)) => abandoned = Some(error_chain(error)),
                Err(error) if batch.writes_in_operation > 0 => {
                    abandoned = Some(format!("an operation was refused after it had written ({error}); this is a bug"));
                }
                Err(_) => {}
            }
            answers.push((job.reply, Some(result)));
        }
        let (changes, conn) = batch.into_changes();
        const NOTHING_APPLIED: &str = "the database failed; nothing in this request was applied";
        // A commit may fail after it happened (the connection can drop after the database committed,
        // and on PostgreSQL the wait for the disk comes after the commit): the caller can only learn
        // the outcome by repeating the request with its key.
        const OUTCOME_UNKNOWN: &str =
            "the database failed while committing; the request may have been applied: repeat it with the same Idempotency-Key to learn its outcome";
        let failure = match abandoned {
            Some(reason) => Some((reason, NOTHING_APPLIED)),
            None => match conn.commit(&changes) {
                Ok(()) => None,
                Err(error @ StoreError::CommitUnknown { .. }) => Some((error_chain(&error), OUTCOME_UNKNOWN)),
                Err(error) => Some((error_chain(&error), NOTHING_APPLIED)),
            },
        };
        if let Some((reason, answer)) = failure {
            tracing::error!(reason, operations = size, "abandoning a batch");
            let _ = conn.rollback();
            fail_all(answers.into_iter().map(|(reply, _)| reply), answer);
            return;
        }
        self.event_wakers.wake(changes.events.iter().map(|event| &event.user_id));
        self.metrics.batches.fetch_add(1, Ordering::Relaxed);
        self.metrics.batched_operations.fetch_add(size as u64, Ordering::Relaxed);
        self.metrics.packets_sent.fetch_add(effects.packets_sent, Ordering::Relaxed);
        self.metrics.packets_claimed.fetch_add(effects.packets_claimed, Ordering::Relaxed);
        self.metrics.packets_refunded.fetch_add(effects.packets_refunded, Ordering::Relaxed);
        for (reply, result) in answers {
            // The requester may have gone away; the change is durable either way.
            if let Some(result) = result {
                let _ = reply.send(result);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run_job(
    batch: &mut Batch<'_>,
    rng: &mut StdRng,
    config: &Config,
    now: Timestamp,
    op: Op,
    idempotency: Option<Idempotency>,
    render: Option<Render>,
    effects: &mut Effects,
) -> ServiceResult<Reply> {
    if let Some(scope) = &idempotency
        && let Some(record) = batch.idempotency_record(&scope.caller, &scope.key)?
        && record.created_at.plus_seconds(config.idempotency_ttl_seconds) > now
    {
        if record.request_hash != scope.request_hash {
            return Err(ServiceError::IdempotencyKeyReused);
        }
        return Ok(Reply::Replayed(Rendered { status: record.status, body: record.body }));
    }
    let mut context = OpContext { batch, now, rng, config, effects: Effects::default(), key: None };
    let outcome = context.run(op)?;
    *effects = context.effects;
    let rendered = render.map(|render| render(&outcome));
    // A payment waiting for its confirmation did not happen: like a refusal it is not remembered under
    // the key, so the confirmed repeat with the same key goes through.
    let completed = !matches!(outcome, Outcome::ConfirmationRequired { .. });
    if let (Some(scope), Some(rendered), true) = (&idempotency, &rendered, completed) {
        let record =
            hongbao_store::IdempotencyRecord { request_hash: scope.request_hash, status: rendered.status, body: rendered.body.clone(), created_at: now };
        batch.put_idempotency_record(&scope.caller, &scope.key, record);
    }
    Ok(Reply::Done { outcome, rendered })
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
