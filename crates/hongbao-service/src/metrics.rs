//! Counters of the service layer, read by the HTTP layer's `/metrics`.

use std::sync::atomic::AtomicU64;

#[derive(Debug, Default)]
pub struct ServiceMetrics {
    pub packets_sent: AtomicU64,
    pub packets_claimed: AtomicU64,
    pub packets_refunded: AtomicU64,
    /// Durable commits of the writer.
    pub batches: AtomicU64,
    /// Operations carried by those commits.
    pub batched_operations: AtomicU64,
}
