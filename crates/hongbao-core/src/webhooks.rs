//! Webhook delivery to the platform: every event goes to every registered endpoint at least once,
//! retried with exponential backoff for 24 hours, each attempt logged.

use crate::{Timestamp, WebhookId, named_enum};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: WebhookId,
    pub url: String,
    /// The HMAC key of the signatures. Kept as given: signing needs it.
    pub secret: String,
    pub created_at: Timestamp,
    pub disabled_at: Option<Timestamp>,
    /// The last event sequence number queued for this endpoint.
    pub cursor: u64,
}

named_enum!(
    DeliveryStatus {
        Pending => "pending",
        Delivered => "delivered",
        /// Given up on after the retry period.
        Failed => "failed",
    }
);

/// How long and how often a failed delivery is tried again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first_delay_seconds: i64,
    pub max_delay_seconds: i64,
    pub give_up_after_seconds: i64,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy { first_delay_seconds: 10, max_delay_seconds: 3_600, give_up_after_seconds: 86_400 }
    }
}

impl RetryPolicy {
    /// The wait after the `attempts`-th failed attempt: 10 s, 20 s, 40 s, … up to an hour.
    pub fn delay_after(&self, attempts: u32) -> i64 {
        let doublings = attempts.saturating_sub(1).min(30);
        self.first_delay_seconds.saturating_mul(1i64 << doublings).min(self.max_delay_seconds)
    }
}

/// One event's delivery to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub endpoint_id: WebhookId,
    pub event_seq: u64,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub created_at: Timestamp,
    /// When to try next, while pending. A delivery being tried is leased by moving this forward.
    pub next_attempt_at: Option<Timestamp>,
    pub last_attempt_at: Option<Timestamp>,
    /// The HTTP status of the last attempt, if it got one.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
}

impl Delivery {
    pub fn new(endpoint_id: WebhookId, event_seq: u64, now: Timestamp) -> Delivery {
        Delivery {
            endpoint_id,
            event_seq,
            status: DeliveryStatus::Pending,
            attempts: 0,
            created_at: now,
            next_attempt_at: Some(now),
            last_attempt_at: None,
            last_status: None,
            last_error: None,
            delivered_at: None,
        }
    }

    pub fn is_due(&self, now: Timestamp) -> bool {
        self.status == DeliveryStatus::Pending && self.next_attempt_at.is_some_and(|at| at <= now)
    }

    /// Takes the delivery for an attempt until `until`, so no other dispatcher tries it meanwhile; if
    /// the one that took it dies, it falls due again then.
    pub fn lease(&mut self, until: Timestamp) {
        self.next_attempt_at = Some(until);
    }

    pub fn record_success(&mut self, status: u16, now: Timestamp) {
        self.attempts += 1;
        self.status = DeliveryStatus::Delivered;
        self.last_attempt_at = Some(now);
        self.last_status = Some(status);
        self.last_error = None;
        self.delivered_at = Some(now);
        self.next_attempt_at = None;
    }

    /// A failed attempt: tried again after the backoff, or given up once past the retry period.
    pub fn record_failure(&mut self, status: Option<u16>, error: String, retry: &RetryPolicy, now: Timestamp) {
        self.attempts += 1;
        self.last_attempt_at = Some(now);
        self.last_status = status;
        self.last_error = Some(error);
        let next = now.plus_seconds(retry.delay_after(self.attempts));
        if next > self.created_at.plus_seconds(retry.give_up_after_seconds) {
            self.status = DeliveryStatus::Failed;
            self.next_attempt_at = None;
        } else {
            self.next_attempt_at = Some(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_exponentially_and_give_up_after_a_day() {
        let retry = RetryPolicy::default();
        assert_eq!((1..=4).map(|attempt| retry.delay_after(attempt)).collect::<Vec<_>>(), [10, 20, 40, 80]);
        assert_eq!(retry.delay_after(20), 3_600);
        let start = Timestamp::from_millis(0);
        let mut delivery = Delivery::new(WebhookId::parse("whk_a").expect("id"), 7, start);
        assert!(delivery.is_due(start));
        let mut now = start;
        let mut attempts = 0;
        while delivery.status == DeliveryStatus::Pending {
            delivery.record_failure(Some(500), "server error".into(), &retry, now);
            attempts += 1;
            now = delivery.next_attempt_at.unwrap_or(now);
        }
        assert_eq!(delivery.status, DeliveryStatus::Failed);
        assert!(now <= start.plus_seconds(86_400), "never tried past a day");
        assert!((20..40).contains(&attempts), "{attempts} attempts in a day");
        let mut delivered = Delivery::new(WebhookId::parse("whk_a").expect("id"), 8, start);
        delivered.record_failure(None, "timed out".into(), &retry, start);
        delivered.record_success(204, start.plus_seconds(10));
        assert_eq!((delivered.status, delivered.attempts, delivered.next_attempt_at), (DeliveryStatus::Delivered, 2, None));
    }
}
