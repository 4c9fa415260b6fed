//! Webhooks: the admin's routes for endpoints and their delivery logs, and the dispatcher that sends
//! every event to every endpoint, signed with HMAC-SHA256 over the timestamp and the body, and retries
//! failures with exponential backoff for 24 hours. Deliveries live in the database, so a restart loses
//! none; each carries the event id (`Hongbao-Event-Id`) so the platform can drop duplicates.
//!
//! Requests go only to public addresses unless the deployment allows others (`outbound`), directly
//! (no proxy from the environment, which would be the address checked instead of the endpoint's), and
//! follow no redirect: a 3xx is a failed attempt, so a signed body never lands where the admin did not
//! point it.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use hongbao_core::events::Event;
use hongbao_core::signing::webhook_signature;
use hongbao_core::webhooks::{Delivery, WebhookEndpoint};
use hongbao_core::{Timestamp, WebhookId};
use hongbao_service::webhooks::{AttemptResult, Leased, WebhookOp};
use hongbao_service::{Op, Outcome, Service, ServiceError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::case_dto::ReasonRequest;
use crate::config::WebhookTargets;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Caller, IdempotencyKey, JsonBody, ListParams, Path, encode_position_cursor};
use crate::outbound;
use crate::routes::{Answer, write, write_shown_once};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where events are POSTed: an http:// or https:// URL.
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookBody {
    pub id: String,
    pub url: String,
    pub created_at: String,
    pub disabled_at: Option<String>,
    /// The HMAC-SHA256 key of the `Hongbao-Signature` header. Shown once, when the endpoint is made;
    /// it is stored encrypted under the deployment's secret key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Present (true) only in a replay of the creation under the same `Idempotency-Key`: the secret
    /// was shown in the first answer and is not kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_withheld: Option<bool>,
}

impl WebhookBody {
    fn new(endpoint: &WebhookEndpoint, with_secret: bool) -> WebhookBody {
        WebhookBody {
            id: endpoint.id.to_string(),
            url: endpoint.url.clone(),
            created_at: endpoint.created_at.to_rfc3339(),
            disabled_at: endpoint.disabled_at.map(Timestamp::to_rfc3339),
            secret: with_secret.then(|| endpoint.secret.clone()),
            secret_withheld: None,
        }
    }

    /// The answer as a replay gets it: the secret withheld.
    fn withheld(self) -> WebhookBody {
        WebhookBody { secret: None, secret_withheld: Some(true), ..self }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub data: Vec<WebhookBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryBody {
    pub event_id: String,
    /// `pending`, `delivered` or `failed` (given up after 24 hours).
    pub status: String,
    pub attempts: u32,
    pub created_at: String,
    pub next_attempt_at: Option<String>,
    pub last_attempt_at: Option<String>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
}

impl From<&Delivery> for DeliveryBody {
    fn from(delivery: &Delivery) -> DeliveryBody {
        DeliveryBody {
            event_id: delivery.event_seq.to_string(),
            status: delivery.status.as_str().to_owned(),
            attempts: delivery.attempts,
            created_at: delivery.created_at.to_rfc3339(),
            next_attempt_at: delivery.next_attempt_at.map(Timestamp::to_rfc3339),
            last_attempt_at: delivery.last_attempt_at.map(Timestamp::to_rfc3339),
            last_status: delivery.last_status,
            last_error: delivery.last_error.clone(),
            delivered_at: delivery.delivered_at.map(Timestamp::to_rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub data: Vec<DeliveryBody>,
    pub next_cursor: Option<String>,
}

/// The body of a webhook: one event, with the user it concerns.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookPayload {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub user_id: String,
    pub subject_id: String,
    pub created_at: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

impl From<&Event> for WebhookPayload {
    fn from(event: &Event) -> WebhookPayload {
        WebhookPayload {
            id: event.seq.to_string(),
            kind: event.kind.as_str().to_owned(),
            user_id: event.user_id.to_string(),
            subject_id: event.subject_id.clone(),
            created_at: event.created_at.to_rfc3339(),
            data: event.data.iter().map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone()))).collect(),
        }
    }
}

fn webhook_body_with_secret(outcome: &Outcome) -> Option<WebhookBody> {
    match outcome {
        Outcome::Webhook(endpoint) => Some(WebhookBody::new(endpoint, true)),
        _ => None,
    }
}

fn webhook_body(outcome: &Outcome) -> Option<WebhookBody> {
    match outcome {
        Outcome::Webhook(endpoint) => Some(WebhookBody::new(endpoint, false)),
        _ => None,
    }
}

/// Register a webhook endpoint (admin). It receives every event from now on; the secret is shown once.
#[utoipa::path(post, path = "/v1/ops/webhooks", tag = "webhooks", request_body = CreateWebhookRequest,
    responses((status = 201, body = WebhookBody), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    body: JsonBody<CreateWebhookRequest>,
) -> ApiResult<Response> {
    let actor = caller.0.actor()?;
    // Who may register comes first; the service checks it again with the rest.
    actor.require(hongbao_core::staff::Permission::ManagePlatform)?;
    if state.http.webhook_targets == WebhookTargets::PublicOnly
        && let Ok(url) = reqwest::Url::parse(&body.value.url)
        && let Err(refused) = outbound::check_literal(&url)
    {
        return Err(ApiError::validation(format!("url: {refused}")));
    }
    let op = Op::Webhook(WebhookOp::Create { actor, url: body.value.url.clone() });
    let answer = Answer { status: StatusCode::CREATED, body: webhook_body_with_secret };
    write_shown_once(&state, &caller, key, &uri, &body.raw, op, answer, WebhookBody::withheld).await
}

/// Webhook endpoints (admin, auditors).
#[utoipa::path(get, path = "/v1/ops/webhooks", tag = "webhooks", responses((status = 200, body = WebhookList), (status = 403, body = Problem)))]
pub async fn list_webhooks(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<WebhookList>> {
    let endpoints = state.service.webhooks(&caller.0).await?;
    Ok(Json(WebhookList { data: endpoints.iter().map(|endpoint| WebhookBody::new(endpoint, false)).collect() }))
}

/// Stop sending to an endpoint (admin).
#[utoipa::path(post, path = "/v1/ops/webhooks/{id}/disable", tag = "webhooks", request_body = ReasonRequest,
    responses((status = 200, body = WebhookBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn disable_webhook(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    Path(id): Path<String>,
    body: JsonBody<ReasonRequest>,
) -> ApiResult<Response> {
    let endpoint_id = WebhookId::parse(&id).map_err(|_| ApiError::not_found("webhook"))?;
    let op = Op::Webhook(WebhookOp::Disable { actor: caller.0.actor()?, endpoint_id, reason: body.value.reason.clone() });
    write(&state, &caller, key, &uri, &body.raw, op, Answer { status: StatusCode::OK, body: webhook_body }).await
}

/// An endpoint's delivery log, newest first (admin, auditors).
#[utoipa::path(get, path = "/v1/ops/webhooks/{id}/deliveries", tag = "webhooks", params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = DeliveryList), (status = 403, body = Problem)))]
pub async fn list_deliveries(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, list: ListParams) -> ApiResult<Json<DeliveryList>> {
    let endpoint_id = WebhookId::parse(&id).map_err(|_| ApiError::not_found("webhook"))?;
    let mut deliveries = state.service.deliveries(&caller.0, &endpoint_id, list.after_record()?, list.limit + 1).await?;
    let next_cursor = if deliveries.len() > list.limit as usize {
        deliveries.truncate(list.limit as usize);
        deliveries.last().map(|delivery| {
            let id = format!("{}|{:020}", delivery.endpoint_id, delivery.event_seq);
            encode_position_cursor(&hongbao_store::ListPosition { created_at: delivery.created_at, id })
        })
    } else {
        None
    };
    Ok(Json(DeliveryList { data: deliveries.iter().map(DeliveryBody::from).collect(), next_cursor }))
}

// ---- the dispatcher ----

/// How often the dispatcher looks for events to queue and deliveries that are due.
const DISPATCH_INTERVAL: Duration = Duration::from_millis(200);
/// The most attempts in flight at once.
const PARALLEL_ATTEMPTS: usize = 16;

/// The client that sends webhooks, and where it may send them.
#[derive(Clone)]
pub struct WebhookClient {
    client: reqwest::Client,
    targets: WebhookTargets,
    timeout: Duration,
}

impl WebhookClient {
    pub fn new(timeout: Duration, targets: WebhookTargets) -> reqwest::Result<WebhookClient> {
        let builder = reqwest::Client::builder().timeout(timeout).user_agent("hongbao-webhooks/1").redirect(reqwest::redirect::Policy::none()).no_proxy();
        let builder = match targets {
            WebhookTargets::PublicOnly => builder.dns_resolver(std::sync::Arc::new(outbound::PublicOnlyResolver)),
            WebhookTargets::AnyAddress => builder,
        };
        Ok(WebhookClient { client: builder.build()?, targets, timeout })
    }

    /// One attempt at sending `body` to `url`, checked against the allowed targets first.
    async fn send(&self, url: &str, headers: [(&'static str, String); 5], body: Vec<u8>) -> AttemptResult {
        let url = match reqwest::Url::parse(url) {
            Ok(url) => url,
            Err(error) => return AttemptResult::Failed { status: None, error: format!("the endpoint's URL does not parse: {error}") },
        };
        if self.targets == WebhookTargets::PublicOnly
            && let Err(refused) = outbound::check_literal(&url)
        {
            return AttemptResult::Failed { status: None, error: refused.to_string() };
        }
        let mut request = self.client.post(url).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => AttemptResult::Delivered { status: response.status().as_u16() },
            Ok(response) if response.status().is_redirection() => AttemptResult::Failed {
                status: Some(response.status().as_u16()),
                error: format!("the endpoint answered {}; redirects are not followed", response.status()),
            },
            Ok(response) => AttemptResult::Failed { status: Some(response.status().as_u16()), error: format!("the endpoint answered {}", response.status()) },
            Err(error) if error.is_timeout() => AttemptResult::Failed { status: None, error: "the endpoint did not answer in time".into() },
            Err(error) => match refusal_in(&error) {
                Some(refused) => AttemptResult::Failed { status: None, error: refused.to_string() },
                None => AttemptResult::Failed { status: None, error: format!("could not reach the endpoint: {error}") },
            },
        }
    }
}

/// The resolver's refusal, somewhere in the chain of a failed request.
fn refusal_in<'error>(error: &'error (dyn std::error::Error + 'static)) -> Option<&'error outbound::TargetRefused> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(refused) = error.downcast_ref::<outbound::TargetRefused>() {
            return Some(refused);
        }
        cause = error.source();
    }
    None
}

/// Starts the dispatcher; it stops when the service begins to shut down.
pub fn spawn_dispatcher(service: Service, targets: WebhookTargets) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let timeout = Duration::from_millis(service.config().webhook_timeout_millis);
        let client = match WebhookClient::new(timeout, targets) {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "could not build the webhook client; webhooks are not sent");
                return;
            }
        };
        let mut closing = service.closing();
        loop {
            match dispatch_once(&service, &client).await {
                Ok(()) => {}
                Err(ServiceError::Unavailable) => return,
                Err(error) => tracing::warn!(error = %hongbao_service::writer::error_chain(&error), "the webhook dispatcher failed; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(DISPATCH_INTERVAL) => {}
                _ = closing.changed() => return,
            }
        }
    })
}

/// Queues new events for the endpoints that have not had them, then makes one attempt at every due
/// delivery.
pub async fn dispatch_once(service: &Service, client: &WebhookClient) -> Result<(), ServiceError> {
    let endpoints = service.webhooks(&hongbao_service::Principal::Admin).await?;
    if endpoints.iter().all(|endpoint| endpoint.disabled_at.is_some()) {
        return Ok(());
    }
    let last_event = service.last_event_seq().await?;
    if endpoints.iter().any(|endpoint| endpoint.disabled_at.is_none() && endpoint.cursor < last_event) {
        while let Outcome::Queued(queued) = service.execute(Op::Webhook(WebhookOp::Enqueue { limit: 500 })).await?
            && queued > 0
        {}
    }
    let lease_seconds = i64::try_from(client.timeout.as_secs()).unwrap_or(60) + 30;
    let mut attempts = tokio::task::JoinSet::new();
    for delivery in service.due_deliveries(200).await? {
        let until = service.clock().now().plus_seconds(lease_seconds);
        let op = Op::Webhook(WebhookOp::Lease { endpoint_id: delivery.endpoint_id.clone(), event_seq: delivery.event_seq, until });
        let Outcome::Leased(Some(leased)) = service.execute(op).await? else { continue };
        if attempts.len() >= PARALLEL_ATTEMPTS {
            attempts.join_next().await;
        }
        let (service, client) = (service.clone(), client.clone());
        attempts.spawn(async move { attempt(&service, &client, *leased).await });
    }
    while let Some(result) = attempts.join_next().await {
        if let Ok(Err(error)) = result {
            tracing::warn!(error = %hongbao_service::writer::error_chain(&error), "a webhook attempt could not be recorded; it will be tried again");
        }
    }
    Ok(())
}

async fn attempt(service: &Service, client: &WebhookClient, leased: Leased) -> Result<(), ServiceError> {
    let Leased { delivery, endpoint, event } = leased;
    let body = serde_json::to_vec(&WebhookPayload::from(&event)).expect("a payload always serializes");
    let unix_seconds = service.clock().now().millis().div_euclid(1000);
    let headers = [
        ("content-type", "application/json".to_owned()),
        ("hongbao-event-id", event.seq.to_string()),
        ("hongbao-event-type", event.kind.as_str().to_owned()),
        ("hongbao-delivery-attempt", (delivery.attempts + 1).to_string()),
        ("hongbao-signature", webhook_signature(&endpoint.secret, unix_seconds, &body)),
    ];
    let result = client.send(&endpoint.url, headers, body).await;
    if let AttemptResult::Failed { error, .. } = &result {
        tracing::info!(endpoint = %endpoint.id, event = event.seq, attempt = delivery.attempts + 1, error, "a webhook delivery failed; it will be retried");
    }
    let op = Op::Webhook(WebhookOp::RecordAttempt { endpoint_id: endpoint.id.clone(), event_seq: event.seq, result });
    service.execute(op).await.map(|_| ())
}
