//! Webhook endpoints and their deliveries as writer operations. Queuing an event for an endpoint,
//! leasing a delivery for an attempt and recording the attempt each run inside the writer's
//! transaction, so every event is queued once per endpoint, and an attempt interrupted by a crash is
//! simply tried again when its lease runs out: delivery is at least once, with the event id for the
//! receiver to drop duplicates. The HTTP sending itself lives in the HTTP crate.

use hongbao_core::events::Event;
use hongbao_core::staff::{AuditAction, Permission};
use hongbao_core::webhooks::{Delivery, WebhookEndpoint};
use hongbao_core::{Timestamp, WebhookId};
use hongbao_store::records::{self, Query, Value, delivery_key, text};

use crate::context::OpContext;
use crate::context::actor::Actor;
use crate::error::{Conflict, Invalid, Resource, ServiceError, ServiceResult};
pub use crate::outcome::Leased;
use crate::outcome::Outcome;

/// How one attempt went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    /// The endpoint answered 2xx.
    Delivered { status: u16 },
    /// Another status, a timeout or a connection error.
    Failed { status: Option<u16>, error: String },
}

#[derive(Clone, Debug)]
pub enum WebhookOp {
    Create {
        actor: Actor,
        url: String,
    },
    Disable {
        actor: Actor,
        endpoint_id: WebhookId,
        reason: String,
    },
    /// Queues the events each active endpoint has not had yet, at most `limit` per endpoint.
    Enqueue {
        limit: u32,
    },
    /// Takes a due delivery for an attempt until `until`.
    Lease {
        endpoint_id: WebhookId,
        event_seq: u64,
        until: Timestamp,
    },
    RecordAttempt {
        endpoint_id: WebhookId,
        event_seq: u64,
        result: AttemptResult,
    },
}

fn check_url(url: &str) -> ServiceResult<String> {
    let url = url.trim();
    let valid =
        (url.starts_with("http://") || url.starts_with("https://")) && url.len() <= 2_000 && !url.chars().any(|char| char.is_whitespace() || char.is_control());
    if !valid {
        return Err(Invalid::WebhookUrl.into());
    }
    Ok(url.to_owned())
}

impl OpContext<'_, '_> {
    pub(crate) fn run_webhook(&mut self, op: WebhookOp) -> ServiceResult<Outcome> {
        match op {
            WebhookOp::Create { actor, url } => self.create_endpoint(&actor, &url),
            WebhookOp::Disable { actor, endpoint_id, reason } => self.disable_endpoint(&actor, &endpoint_id, &reason),
            WebhookOp::Enqueue { limit } => self.enqueue_deliveries(limit),
            WebhookOp::Lease { endpoint_id, event_seq, until } => self.lease_delivery(&endpoint_id, event_seq, until),
            WebhookOp::RecordAttempt { endpoint_id, event_seq, result } => self.record_attempt(&endpoint_id, event_seq, result),
        }
    }

    pub(crate) fn create_endpoint(&mut self, actor: &Actor, url: &str) -> ServiceResult<Outcome> {
        actor.require(Permission::ManagePlatform)?;
        let url = check_url(url)?;
        let mut secret = [0u8; 24];
        self.rng.fill_bytes(&mut secret);
        // An endpoint hears of what happens from now on.
        let cursor = self.batch.event_head()?;
        let id = WebhookId::generate(self.now, self.rng);
        let secret = format!("whsec_{}", hex::encode(secret));
        // Stored sealed under the deployment's key; the answer shows it once in the clear.
        let sealed = self.config.secret_key.seal(&secret, id.as_str(), self.rng);
        let endpoint = WebhookEndpoint { id, url: url.clone(), secret: sealed, created_at: self.now, disabled_at: None, cursor };
        self.batch.put_record(&endpoint);
        self.audit(actor, AuditAction::WebhookCreate, endpoint.id.as_str(), "new webhook endpoint", &[("url", url)])?;
        Ok(Outcome::Webhook(WebhookEndpoint { secret, ..endpoint }))
    }

    pub(crate) fn disable_endpoint(&mut self, actor: &Actor, endpoint_id: &WebhookId, reason: &str) -> ServiceResult<Outcome> {
        actor.require(Permission::ManagePlatform)?;
        let mut endpoint: WebhookEndpoint = self.batch.record(text(endpoint_id))?.ok_or(ServiceError::NotFound(Resource::Webhook))?;
        if endpoint.disabled_at.is_some() {
            return Err(Conflict::WebhookDisabled.into());
        }
        endpoint.disabled_at = Some(self.now);
        self.batch.put_record(&endpoint);
        self.audit(actor, AuditAction::WebhookDisable, endpoint_id.as_str(), reason, &[])?;
        Ok(Outcome::Webhook(endpoint))
    }

    pub(crate) fn enqueue_deliveries(&mut self, limit: u32) -> ServiceResult<Outcome> {
        let endpoints: Vec<WebhookEndpoint> = self.batch.records(&Query::newest_first(&records::WEBHOOK_ENDPOINTS, 1_000))?;
        let mut queued = 0;
        for mut endpoint in endpoints.into_iter().filter(|endpoint| endpoint.disabled_at.is_none()) {
            let query = Query::newest_first(&records::EVENTS, limit).ascending().after(Some(vec![Value::Int(endpoint.cursor as i64)]));
            let events: Vec<Event> = self.batch.records(&query)?;
            let Some(last) = events.last().map(|event| event.seq) else { continue };
            for event in &events {
                self.batch.put_record(&Delivery::new(endpoint.id.clone(), event.seq, self.now));
            }
            queued += events.len();
            endpoint.cursor = last;
            self.batch.put_record(&endpoint);
        }
        Ok(Outcome::Queued(queued))
    }

    pub(crate) fn lease_delivery(&mut self, endpoint_id: &WebhookId, event_seq: u64, until: Timestamp) -> ServiceResult<Outcome> {
        let Some(mut delivery) = self.batch.record::<Delivery>(delivery_key(endpoint_id, event_seq))? else { return Ok(Outcome::Leased(None)) };
        if !delivery.is_due(self.now) {
            return Ok(Outcome::Leased(None));
        }
        let mut endpoint: WebhookEndpoint =
            self.batch.record(text(endpoint_id))?.ok_or_else(|| hongbao_store::corrupt(format!("missing webhook {endpoint_id}")))?;
        // The attempt signs with the secret, which is stored sealed.
        endpoint.secret = self
            .config
            .secret_key
            .open(&endpoint.secret, endpoint_id.as_str())
            .map_err(|error| hongbao_store::corrupt(format!("webhook {endpoint_id}: {error}")))?;
        let event: Event =
            self.batch.record(Value::Int(event_seq as i64))?.ok_or_else(|| hongbao_store::corrupt(format!("a delivery of missing event {event_seq}")))?;
        delivery.lease(until);
        self.batch.put_record(&delivery);
        Ok(Outcome::Leased(Some(Box::new(Leased { delivery, endpoint, event }))))
    }

    pub(crate) fn record_attempt(&mut self, endpoint_id: &WebhookId, event_seq: u64, result: AttemptResult) -> ServiceResult<Outcome> {
        let mut delivery: Delivery = self.batch.record(delivery_key(endpoint_id, event_seq))?.ok_or(ServiceError::NotFound(Resource::Delivery))?;
        match result {
            AttemptResult::Delivered { status } => delivery.record_success(status, self.now),
            AttemptResult::Failed { status, error } => delivery.record_failure(status, error, &self.config.webhook_retry, self.now),
        }
        self.batch.put_record(&delivery);
        Ok(Outcome::Delivery(delivery))
    }
}
