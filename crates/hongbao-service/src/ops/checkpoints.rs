//! Signed checkpoints as writer operations: storing a checkpoint signed outside the writer, once per
//! log, size and key. Making and reading checkpoints, receipts and proofs is `crate::checkpoints`.

use hongbao_store::records::{Query, Value, text};
use hongbao_store::transparency::{CHECKPOINTS, StoredCheckpoint};

use crate::context::OpContext;
use crate::error::ServiceResult;
use crate::outcome::Outcome;

/// The writer's operations on the log's records.
#[derive(Clone, Debug)]
pub enum LogOp {
    /// Stores a signed checkpoint, unless one of the same log, size and key is stored already (then
    /// that one is the outcome). Its `seq` is assigned here.
    StoreCheckpoint(StoredCheckpoint),
}

impl OpContext<'_, '_> {
    pub(crate) fn run_log(&mut self, op: LogOp) -> ServiceResult<Outcome> {
        match op {
            LogOp::StoreCheckpoint(checkpoint) => self.store_checkpoint(checkpoint),
        }
    }

    pub(crate) fn store_checkpoint(&mut self, mut checkpoint: StoredCheckpoint) -> ServiceResult<Outcome> {
        let same = Query::newest_first(&CHECKPOINTS, 1)
            .equal("log_id", Value::Int(i64::from(checkpoint.log.get())))
            .equal("size", Value::Int(checkpoint.size as i64))
            .equal("key_id", text(&checkpoint.key_id));
        if let Some(stored) = self.batch.records::<StoredCheckpoint>(&same)?.into_iter().next() {
            return Ok(Outcome::Checkpoint(stored));
        }
        // The stored newest and any staged earlier in this batch.
        let last = self.batch.records::<StoredCheckpoint>(&Query::newest_first(&CHECKPOINTS, 1))?;
        checkpoint.seq = last.iter().map(|stored| stored.seq).max().unwrap_or(0) + 1;
        self.batch.put_record(&checkpoint);
        Ok(Outcome::Checkpoint(checkpoint))
    }
}
