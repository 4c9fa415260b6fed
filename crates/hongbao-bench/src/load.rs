//! Load generation: a closed loop (a fixed number of clients, each sending its next request as soon as
//! the last is answered) and an open loop (requests started at a fixed rate whatever the answers do,
//! with latency measured from each request's planned start, so slow answers are not hidden).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Latencies of answered requests, in microseconds.
#[derive(Default)]
pub struct Latencies(Vec<u64>);

impl Latencies {
    pub fn percentile_ms(&self, percentile: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = ((percentile / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
    }
}

/// Runs `count` requests from `clients` concurrent clients. Returns the elapsed time, the latencies and
/// the results in request order.
pub async fn closed_loop<T, F, Fut>(count: usize, clients: usize, request: F) -> Result<(Duration, Latencies, Vec<T>)>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T>> + Send + 'static,
{
    let request = Arc::new(request);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..clients.min(count).max(1) {
        let request = request.clone();
        let next = next.clone();
        workers.spawn(async move {
            let mut done = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    return Ok::<_, anyhow::Error>(done);
                }
                let sent = Instant::now();
                let result = request(index).await.with_context(|| format!("request {index}"))?;
                done.push((index, sent.elapsed().as_micros() as u64, result));
            }
        });
    }
    let mut all = Vec::with_capacity(count);
    while let Some(worker) = workers.join_next().await {
        all.extend(worker.context("a load worker panicked")??);
    }
    let elapsed = started.elapsed();
    all.sort_by_key(|(index, _, _)| *index);
    let latencies = Latencies(all.iter().map(|(_, micros, _)| *micros).collect());
    Ok((elapsed, latencies, all.into_iter().map(|(_, _, result)| result).collect()))
}

/// Most requests in flight at once in an open loop: past it a request waits for a free slot, and
/// the wait counts in its latency, which is measured from its planned start.
const MAX_IN_FLIGHT: usize = 512;

/// Starts `count` requests at `rate` per second and waits for all of them.
pub async fn open_loop<F, Fut>(count: usize, rate: f64, request: F) -> Result<Latencies>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let request = Arc::new(request);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let started = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for index in 0..count {
        let planned = started + Duration::from_secs_f64(index as f64 / rate);
        tokio::time::sleep_until(planned.into()).await;
        let request = request.clone();
        let slots = slots.clone();
        running.spawn(async move {
            let _slot = slots.acquire().await.context("the slots are never closed")?;
            request(index).await?;
            Ok::<_, anyhow::Error>(planned.elapsed().as_micros() as u64)
        });
    }
    let mut latencies = Vec::with_capacity(count);
    while let Some(done) = running.join_next().await {
        latencies.push(done.context("a request task panicked")??);
    }
    Ok(Latencies(latencies))
}
