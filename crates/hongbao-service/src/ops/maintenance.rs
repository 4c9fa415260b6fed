//! Deleting what has expired so that it does not pile up: idempotency records past their time
//! (`Config::idempotency_ttl_seconds`). The maintenance task asks for a few at a time, so a backlog
//! never makes one batch long.

use crate::context::OpContext;
use crate::error::ServiceResult;
use crate::outcome::Outcome;

impl OpContext<'_, '_> {
    /// Deletes at most `limit` idempotency records older than their time; says how many.
    pub(crate) fn prune_idempotency(&mut self, limit: u32) -> ServiceResult<Outcome> {
        let created_before = self.now.plus_seconds(-self.config.idempotency_ttl_seconds);
        let expired = self.batch.expired_idempotency(created_before, limit)?;
        for (caller, key) in &expired {
            self.batch.delete_idempotency_record(caller, key);
        }
        Ok(Outcome::Removed(expired.len()))
    }
}
