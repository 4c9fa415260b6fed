//! The single writer and its group commit.
//!
//! Every change in a process goes through one thread that owns the write connection. It takes all the
//! jobs waiting in its queue (up to `max_batch`), opens one database transaction, runs each job in a
//! savepoint, commits once — one fsync for the whole batch — and only then answers the jobs. A job's
//! answer therefore always describes durable state, and a refused job leaves nothing behind. Under load
//! the batches grow by themselves: while one commit is in flight, the next batch queues up.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hongbao_core::JournalHash;
use hongbao_store::WriteConn;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::config::Config;
use crate::error::{ServiceError, ServiceResult};
use crate::metrics::ServiceMetrics;
use crate::ops::{Effects, Op, OpContext, Outcome};

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
    pub clock: Arc<dyn Clock>,
    pub config: Config,
    pub metrics: Arc<ServiceMetrics>,
    pub rng: StdRng,
}

impl Writer {
    pub fn new(conn: Box<dyn WriteConn>, clock: Arc<dyn Clock>, config: Config, metrics: Arc<ServiceMetrics>) -> Writer {
        Writer { conn, clock, config, metrics, rng: StdRng::from_entropy() }
    }

    /// Runs until every sender is gone. A panic means an invariant broke: the process stops rather
    /// than risk committing a corrupt ledger.
    pub fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            while let Some(first) = queue.blocking_recv() {
                let mut batch = Vec::with_capacity(64);
                batch.push(first);
                while batch.len() < self.config.max_batch {
                    match queue.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                self.process(batch);
            }
        }));
        if outcome.is_err() {
            tracing::error!("the writer panicked; stopping the process to protect the ledger");
            std::process::abort();
        }
    }

    fn process(&mut self, batch: Vec<Job>) {
        let size = batch.len();
        if let Err(error) = self.conn.begin() {
            tracing::error!(error = %error_chain(&error), "could not begin a batch");
            fail_all(batch.into_iter().map(|job| job.reply), "the database refused to begin a transaction");
            return;
        }
        let mut head: Option<(u64, JournalHash)> = None;
        let mut effects = Effects::default();
        let mut answers = Vec::with_capacity(size);
        let mut jobs = batch.into_iter();
        while let Some(job) = jobs.next() {
            let saved_head = head;
            let mut job_effects = Effects::default();
            let result =
                self.conn.savepoint().map_err(ServiceError::from).and_then(|()| self.run_job(job.op, job.idempotency, job.render, &mut head, &mut job_effects));
            let settled = match &result {
                Ok(_) => self.conn.release_savepoint(),
                Err(_) => {
                    head = saved_head;
                    self.conn.rollback_to_savepoint()
                }
            };
            if let Err(error) = settled {
                tracing::error!(error = %error_chain(&error), "a savepoint failed; abandoning the batch");
                let _ = self.conn.rollback();
                let pending = answers.into_iter().map(|(reply, _)| reply).chain(std::iter::once(job.reply)).chain(jobs.map(|job| job.reply));
                fail_all(pending, "the database failed during the batch");
                return;
            }
            if result.is_ok() {
                effects.packets_sent += job_effects.packets_sent;
                effects.packets_claimed += job_effects.packets_claimed;
                effects.packets_refunded += job_effects.packets_refunded;
            }
            if let Err(ServiceError::Store(error)) = &result {
                tracing::error!(error = %error_chain(error), "an operation failed in the database");
            }
            answers.push((job.reply, result));
        }
        if let Err(error) = self.conn.commit() {
            tracing::error!(error = %error_chain(&error), "a batch failed to commit");
            let _ = self.conn.rollback();
            fail_all(answers.into_iter().map(|(reply, _)| reply), "the database failed to commit");
            return;
        }
        self.metrics.batches.fetch_add(1, Ordering::Relaxed);
        self.metrics.batched_operations.fetch_add(size as u64, Ordering::Relaxed);
        self.metrics.packets_sent.fetch_add(effects.packets_sent, Ordering::Relaxed);
        self.metrics.packets_claimed.fetch_add(effects.packets_claimed, Ordering::Relaxed);
        self.metrics.packets_refunded.fetch_add(effects.packets_refunded, Ordering::Relaxed);
        for (reply, result) in answers {
            // The requester may have gone away; the change is durable either way.
            let _ = reply.send(result);
        }
    }

    fn run_job(
        &mut self,
        op: Op,
        idempotency: Option<Idempotency>,
        render: Option<Render>,
        head: &mut Option<(u64, JournalHash)>,
        effects: &mut Effects,
    ) -> ServiceResult<Reply> {
        let now = self.clock.now();
        if let Some(scope) = &idempotency
            && let Some(record) = self.conn.idempotency_record(&scope.caller, &scope.key)?
            && record.created_at.plus_seconds(self.config.idempotency_ttl_seconds) > now
        {
            if record.request_hash != scope.request_hash {
                return Err(ServiceError::IdempotencyKeyReused);
            }
            return Ok(Reply::Replayed(Rendered { status: record.status, body: record.body }));
        }
        let mut context = OpContext { conn: self.conn.as_mut(), now, rng: &mut self.rng, config: &self.config, head, effects: Effects::default() };
        let outcome = context.run(op)?;
        *effects = context.effects;
        let rendered = render.map(|render| render(&outcome));
        if let (Some(scope), Some(rendered)) = (&idempotency, &rendered) {
            let record =
                hongbao_store::IdempotencyRecord { request_hash: scope.request_hash, status: rendered.status, body: rendered.body.clone(), created_at: now };
            self.conn.put_idempotency_record(&scope.caller, &scope.key, &record)?;
        }
        Ok(Reply::Done { outcome, rendered })
    }
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
