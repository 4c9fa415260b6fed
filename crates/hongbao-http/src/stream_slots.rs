//! The cap on live event streams per user: a stream holds a connection, a task and a waker for as long
//! as the client keeps it, so one user's token must not be able to hold the server's connections.
//! Counted per process; a stream gives its place back when it ends or its client goes away.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use hongbao_core::UserId;

use crate::error::ApiError;

pub struct StreamSlots {
    per_user: usize,
    open: Mutex<HashMap<UserId, usize>>,
}

/// One open stream's place, given back when dropped.
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    user_id: UserId,
}

impl StreamSlots {
    pub fn new(per_user: usize) -> StreamSlots {
        StreamSlots { per_user, open: Mutex::new(HashMap::new()) }
    }

    /// A place for one more stream of `user_id`, or 429 `too_many_streams` when they hold them all.
    pub fn take(self: &Arc<StreamSlots>, user_id: &UserId) -> Result<StreamSlot, ApiError> {
        let mut open = self.open.lock().expect("the stream slots lock is never poisoned");
        let count = open.entry(user_id.clone()).or_default();
        if *count >= self.per_user {
            let detail = format!("at most {} live event streams may be open at once for one user; close one first", self.per_user);
            return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_streams", detail));
        }
        *count += 1;
        Ok(StreamSlot { slots: self.clone(), user_id: user_id.clone() })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().expect("the stream slots lock is never poisoned");
        if let Some(count) = open.get_mut(&self.user_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.user_id);
            }
        }
    }
}
