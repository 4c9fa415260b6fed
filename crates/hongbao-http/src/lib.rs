//! hongbao's HTTP JSON API (axum): routes, bearer auth, RFC 9457 errors, `Idempotency-Key`, cursor
//! lists, Prometheus metrics and the OpenAPI document generated from the handlers.
//!
//! Architecture invariant: this is the only crate that knows JSON or HTTP. It converts its request and
//! response types to and from core types in `dto`.

pub mod assets;
pub mod body_deadline;
pub mod case_dto;
pub mod case_routes;
pub mod client_address;
pub mod config;
mod connections;
pub mod contract;
pub mod dossier;
pub mod dossier_routes;
pub mod dto;
pub mod edge;
pub mod error;
pub mod extract;
pub mod journal_routes;
pub mod metrics;
pub mod outbound;
pub mod people_routes;
pub mod risk_routes;
pub mod routes;
pub mod security_headers;
pub mod stream_slots;
pub mod webhooks;

pub use config::{HttpConfig, HttpLimits, WebhookTargets};

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use hongbao_service::Service;
use tokio::net::TcpListener;
use utoipa::OpenApi;

use crate::error::ApiError;
use crate::metrics::HttpMetrics;
use crate::stream_slots::StreamSlots;

#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    pub http_metrics: Arc<HttpMetrics>,
    pub http: Arc<HttpConfig>,
    pub stream_slots: Arc<StreamSlots>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "hongbao", description = "Wallets, red packets and a hash-chained double-entry ledger. Amounts are integers in minor units. \
        A POST with an Idempotency-Key is answered again, with Idempotent-Replayed: true, for 24 hours (HONGBAO_IDEMPOTENCY_TTL_SECONDS); \
        an answer that shows a secret once (a user's or operator's token, a merchant key's or webhook's secret) is replayed with that field null \
        and secret_withheld: true, since no secret is kept.", version = "1"),
    paths(
        routes::create_user, routes::me, routes::rotate_token, routes::issue_token, routes::revoke_token, routes::wallet, routes::top_up, routes::withdraw,
        routes::create_group, routes::list_groups, routes::list_group_packets, routes::get_group, routes::add_member, routes::remove_member,
        routes::create_packet, routes::get_packet, routes::claim, routes::recall,
        routes::list_transactions, routes::get_transaction, routes::healthz,
        routes::create_transfer, routes::get_transfer, routes::accept_transfer, routes::return_transfer, routes::cancel_transfer,
        routes::create_return_request, routes::list_return_requests, routes::get_return_request, routes::accept_return_request,
        routes::decline_return_request,
        case_routes::upload_evidence, case_routes::get_evidence, case_routes::get_evidence_content,
        case_routes::create_complaint, case_routes::list_complaints, case_routes::get_complaint, case_routes::add_complaint_evidence,
        case_routes::list_events, case_routes::event_stream, case_routes::ops_me, case_routes::create_operator, case_routes::list_operators, case_routes::disable_operator,
        case_routes::list_cases, case_routes::get_case, case_routes::assign_case, case_routes::request_case_evidence, case_routes::case_refund,
        case_routes::resolve_case, case_routes::list_case_refunds, case_routes::get_case_refund, case_routes::approve_case_refund,
        case_routes::reject_case_refund, case_routes::create_freeze, case_routes::list_freezes, case_routes::get_freeze, case_routes::lift_freeze,
        case_routes::ops_wallet, case_routes::create_reversal, case_routes::list_reversals, case_routes::get_reversal, case_routes::approve_reversal,
        case_routes::reject_reversal, case_routes::create_disclosure, case_routes::list_disclosures, case_routes::get_disclosure,
        case_routes::approve_disclosure, case_routes::reject_disclosure, case_routes::audit_log,
        risk_routes::get_policy, risk_routes::put_policy, risk_routes::list_tags, risk_routes::put_tag, risk_routes::delete_tag,
        risk_routes::create_merchant_key, risk_routes::list_merchant_keys, risk_routes::revoke_merchant_key,
        webhooks::create_webhook, webhooks::list_webhooks, webhooks::disable_webhook, webhooks::list_deliveries,
        people_routes::whoami, people_routes::update_me, people_routes::get_user, people_routes::list_contacts, people_routes::search_users, people_routes::list_transfers,
        people_routes::get_conversation,
        assets::index, assets::asset, metrics_text, openapi,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// The OpenAPI document, as served at `/openapi.json`: generated from the handlers' annotations, then
/// completed with what every route inherits (`contract`).
pub fn openapi_document() -> serde_json::Value {
    let mut document = ApiDoc::openapi();
    document.merge(journal_routes::JournalApiDoc::openapi());
    document.merge(dossier_routes::DossierApiDoc::openapi());
    let mut document = serde_json::to_value(&document).expect("the OpenAPI document serializes");
    contract::complete(&mut document);
    document
}

/// The OpenAPI document as text.
pub fn openapi_json() -> String {
    serde_json::to_string_pretty(&openapi_document()).expect("the OpenAPI document serializes")
}

/// This document (OpenAPI 3.1).
#[utoipa::path(get, path = "/openapi.json", tag = "operational", security(()),
    responses((status = 200, description = "the OpenAPI document", content_type = "application/json", body = Object)))]
async fn openapi() -> Response {
    // Built once per process: the document is the code's, and an open route should cost a copy, not
    // utoipa's generation and the contract's completion on every request.
    static DOCUMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(openapi_json);
    let mut response = DOCUMENT.clone().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Prometheus metrics, as text.
#[utoipa::path(get, path = "/metrics", tag = "operational", security(()),
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)))]
async fn metrics_text(State(state): State<AppState>) -> Result<Response, ApiError> {
    let journal_len = state.service.journal_len().await?;
    let overdue_cases = state.service.overdue_cases().await?;
    let mut response = state.http_metrics.render(state.service.metrics(), journal_len, overdue_cases).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    Ok(response)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
}

/// Every route of the application and its handlers: the one table the router is built from, and that
/// the OpenAPI document is checked against (`route_paths`).
fn route_table(evidence_limit: usize) -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/", get(assets::index)),
        ("/assets/{*path}", get(assets::asset)),
        ("/v1/evidence", post(case_routes::upload_evidence).layer(DefaultBodyLimit::max(evidence_limit))),
        ("/v1/evidence/{id}", get(case_routes::get_evidence)),
        ("/v1/evidence/{id}/content", get(case_routes::get_evidence_content)),
        ("/v1/complaints", post(case_routes::create_complaint).get(case_routes::list_complaints)),
        ("/v1/complaints/{id}", get(case_routes::get_complaint)),
        ("/v1/complaints/{id}/evidence", post(case_routes::add_complaint_evidence)),
        ("/v1/events", get(case_routes::list_events)),
        ("/v1/events/stream", get(case_routes::event_stream)),
        ("/v1/ops/me", get(case_routes::ops_me)),
        ("/v1/ops/operators", post(case_routes::create_operator).get(case_routes::list_operators)),
        ("/v1/ops/operators/{id}/disable", post(case_routes::disable_operator)),
        ("/v1/ops/cases", get(case_routes::list_cases)),
        ("/v1/ops/cases/{id}", get(case_routes::get_case)),
        ("/v1/ops/cases/{id}/assign", post(case_routes::assign_case)),
        ("/v1/ops/cases/{id}/request-evidence", post(case_routes::request_case_evidence)),
        ("/v1/ops/cases/{id}/refunds", post(case_routes::case_refund)),
        ("/v1/ops/cases/{id}/resolve", post(case_routes::resolve_case)),
        ("/v1/ops/case-refunds", get(case_routes::list_case_refunds)),
        ("/v1/ops/case-refunds/{id}", get(case_routes::get_case_refund)),
        ("/v1/ops/case-refunds/{id}/approve", post(case_routes::approve_case_refund)),
        ("/v1/ops/case-refunds/{id}/reject", post(case_routes::reject_case_refund)),
        ("/v1/ops/freezes", post(case_routes::create_freeze).get(case_routes::list_freezes)),
        ("/v1/ops/freezes/{id}", get(case_routes::get_freeze)),
        ("/v1/ops/freezes/{id}/lift", post(case_routes::lift_freeze)),
        ("/v1/ops/users/{id}/wallet", get(case_routes::ops_wallet)),
        ("/v1/ops/reversals", post(case_routes::create_reversal).get(case_routes::list_reversals)),
        ("/v1/ops/reversals/{id}", get(case_routes::get_reversal)),
        ("/v1/ops/reversals/{id}/approve", post(case_routes::approve_reversal)),
        ("/v1/ops/reversals/{id}/reject", post(case_routes::reject_reversal)),
        ("/v1/ops/disclosures", post(case_routes::create_disclosure).get(case_routes::list_disclosures)),
        ("/v1/ops/disclosures/{id}", get(case_routes::get_disclosure)),
        ("/v1/ops/disclosures/{id}/approve", post(case_routes::approve_disclosure)),
        ("/v1/ops/disclosures/{id}/reject", post(case_routes::reject_disclosure)),
        ("/v1/ops/audit", get(case_routes::audit_log)),
        ("/v1/ops/webhooks", post(webhooks::create_webhook).get(webhooks::list_webhooks)),
        ("/v1/ops/webhooks/{id}/disable", post(webhooks::disable_webhook)),
        ("/v1/ops/webhooks/{id}/deliveries", get(webhooks::list_deliveries)),
        ("/v1/ops/merchant-keys", post(risk_routes::create_merchant_key).get(risk_routes::list_merchant_keys)),
        ("/v1/ops/merchant-keys/{id}/revoke", post(risk_routes::revoke_merchant_key)),
        ("/v1/ops/policy", get(risk_routes::get_policy).put(risk_routes::put_policy)),
        ("/v1/tags", get(risk_routes::list_tags)),
        ("/v1/tags/{target_id}", axum::routing::put(risk_routes::put_tag).delete(risk_routes::delete_tag)),
        ("/v1/users", post(routes::create_user)),
        ("/v1/me", get(routes::me).patch(people_routes::update_me)),
        ("/v1/users/{id}", get(people_routes::get_user)),
        ("/v1/whoami", get(people_routes::whoami)),
        ("/v1/contacts", get(people_routes::list_contacts)),
        ("/v1/conversations/{user_id}", get(people_routes::get_conversation)),
        ("/v1/ops/users", get(people_routes::search_users)),
        ("/v1/me/token", post(routes::rotate_token)),
        ("/v1/users/{id}/token", post(routes::issue_token)),
        ("/v1/users/{id}/revoke-token", post(routes::revoke_token)),
        ("/v1/wallet", get(routes::wallet)),
        ("/v1/top-ups", post(routes::top_up)),
        ("/v1/withdrawals", post(routes::withdraw)),
        ("/v1/groups", post(routes::create_group).get(routes::list_groups)),
        ("/v1/groups/{id}/packets", get(routes::list_group_packets)),
        ("/v1/groups/{id}", get(routes::get_group)),
        ("/v1/groups/{id}/members", post(routes::add_member)),
        ("/v1/groups/{id}/members/{user_id}", delete(routes::remove_member)),
        ("/v1/packets", post(routes::create_packet)),
        ("/v1/packets/{id}", get(routes::get_packet)),
        ("/v1/packets/{id}/claim", post(routes::claim)),
        ("/v1/packets/{id}/recall", post(routes::recall)),
        ("/v1/transactions", get(routes::list_transactions)),
        ("/v1/transactions/{txn_no}", get(routes::get_transaction)),
        ("/v1/transfers", post(routes::create_transfer).get(people_routes::list_transfers)),
        ("/v1/transfers/{id}", get(routes::get_transfer)),
        ("/v1/transfers/{id}/accept", post(routes::accept_transfer)),
        ("/v1/transfers/{id}/return", post(routes::return_transfer)),
        ("/v1/transfers/{id}/cancel", post(routes::cancel_transfer)),
        ("/v1/return-requests", post(routes::create_return_request).get(routes::list_return_requests)),
        ("/v1/return-requests/{id}", get(routes::get_return_request)),
        ("/v1/return-requests/{id}/accept", post(routes::accept_return_request)),
        ("/v1/return-requests/{id}/decline", post(routes::decline_return_request)),
        ("/.well-known/hongbao/log-key", get(journal_routes::log_key)),
        ("/v1/journal/keys", get(journal_routes::list_log_keys)),
        ("/v1/journal/checkpoints", get(journal_routes::list_checkpoints)),
        ("/v1/journal/checkpoints/latest", get(journal_routes::latest_checkpoint)),
        ("/v1/journal/consistency", get(journal_routes::consistency)),
        ("/v1/ops/checkpoints", post(journal_routes::make_checkpoint)),
        ("/v1/ops/cases/{id}/dossier", get(dossier_routes::case_dossier)),
        ("/v1/transactions/{txn_no}/receipt", get(journal_routes::receipt)),
        ("/healthz", get(routes::healthz)),
        ("/metrics", get(metrics_text)),
        ("/openapi.json", get(openapi)),
    ]
}

/// The paths the application routes, as written to axum (`{id}`, `{*path}` for the rest of a path).
pub fn route_paths() -> Vec<&'static str> {
    route_table(0).into_iter().map(|(path, _)| path).collect()
}

/// The whole application.
pub fn router(service: Service, config: HttpConfig) -> Router {
    app(service, config, Arc::new(HttpMetrics::default()))
}

fn app(service: Service, config: HttpConfig, http_metrics: Arc<HttpMetrics>) -> Router {
    // An upload may carry one file of the largest evidence size, plus its multipart framing.
    let evidence_limit = usize::try_from(service.config().complaints.max_file_bytes).unwrap_or(usize::MAX).saturating_add(64 * 1024);
    let stream_slots = Arc::new(StreamSlots::new(config.limits.max_streams_per_user));
    let state = AppState { service, http_metrics, http: Arc::new(config), stream_slots };
    let mut routes = Router::new();
    for (path, handlers) in route_table(evidence_limit) {
        routes = routes.route(path, handlers);
    }
    let routes = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // One layer: each layer of a router is cloned and boxed again by every request (see `edge`).
        .layer(
            tower::ServiceBuilder::new().layer(DefaultBodyLimit::max(8 * 1024 * 1024)).layer(axum::middleware::from_fn_with_state(state.clone(), edge::edge)),
        );
    routes.with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes, with the expiry scheduler and the webhook
/// dispatcher running, within the connection limits of `config`.
pub async fn serve(listener: TcpListener, service: Service, config: HttpConfig, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let scheduler = service.spawn_scheduler();
    let dispatcher = webhooks::spawn_dispatcher(service.clone(), config.webhook_targets);
    let streams = service.clone();
    let shutdown = async move {
        shutdown.await;
        // Event streams never end by themselves; a graceful shutdown waits for every response.
        streams.begin_shutdown();
    };
    let http_metrics = Arc::new(HttpMetrics::default());
    let upkeep = metrics::spawn_upkeep(http_metrics.clone());
    let limits = config.limits.clone();
    let app = app(service, config, http_metrics.clone());
    let result = connections::serve_connections(listener, app, limits, http_metrics, shutdown).await;
    scheduler.abort();
    dispatcher.abort();
    upkeep.abort();
    result
}
