//! The routes of complaints, evidence and events for users, and of the operators' console under
//! `/v1/ops`: operators, cases, freezes, case refunds, reversals, disclosures and the audit log.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hongbao_core::cases::{CaseOutcome, Complaint, ComplaintKind, EvidenceLabel};
use hongbao_core::freeze::FreezeCause;
use hongbao_core::legal::ApprovalStatus;
use hongbao_core::sniff::normalize_content_type;
use hongbao_core::staff::{Permission, Role};
use hongbao_core::{Amount, CaseRefundId, ComplaintId, DisclosureId, EvidenceId, FreezeId, OperatorId, ReversalId, TxnNo};
use hongbao_service::evidence::{Upload, UploadError};
use hongbao_service::reads::CaseFilter;
use hongbao_service::{CaseOp, Decision, EvidenceOp, Op, Outcome};
use hongbao_store::ListPosition;

use crate::AppState;
use crate::case_dto::*;
use crate::dto::{TransactionBody, WalletBody, parse_amount, parse_user_id};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Caller, IdempotencyKey, JsonBody, ListParams, Path, encode_position_cursor, encode_seq_cursor};
use crate::routes::{Answer, posted, write, write_shown_once};

/// Trims a list fetched with one extra item to `limit`, with the cursor of the last item kept.
fn page<T>(mut items: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    if items.len() > limit as usize {
        items.truncate(limit as usize);
        let cursor = items.last().map(cursor_of);
        return (items, cursor);
    }
    (items, None)
}

fn position_cursor(created_at: hongbao_core::Timestamp, id: &str) -> String {
    encode_position_cursor(&ListPosition { created_at, id: id.to_owned() })
}

fn parse_id<T>(parse: fn(&str) -> Result<T, hongbao_core::IdError>, text: &str, what: &'static str) -> ApiResult<T> {
    parse(text).map_err(|_| ApiError::not_found(what))
}

fn complaint_body(outcome: &Outcome) -> Option<ComplaintBody> {
    match outcome {
        // The operation has just changed the case, so its own time is the time to judge it by.
        Outcome::Complaint(complaint) => Some(ComplaintBody::new(complaint, complaint.updated_at)),
        _ => None,
    }
}

fn freeze_body(outcome: &Outcome) -> Option<FreezeBody> {
    match outcome {
        Outcome::Freeze(freeze) => Some(FreezeBody::new(freeze, freeze.lift.as_ref().map_or(freeze.created_at, |lift| lift.lifted_at))),
        _ => None,
    }
}

fn reversal_body(outcome: &Outcome) -> Option<ReversalBody> {
    match outcome {
        Outcome::Reversal(reversal) => Some(ReversalBody::from(reversal)),
        _ => None,
    }
}

fn evidence_body(outcome: &Outcome) -> Option<EvidenceBody> {
    match outcome {
        Outcome::Evidence(evidence) => Some(EvidenceBody::from(evidence)),
        _ => None,
    }
}

// ---- evidence ----

fn multipart_error(error: axum::extract::multipart::MultipartError) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "limit_exceeded", "the upload is larger than the evidence size limit");
    }
    ApiError::validation(format!("the upload was cut off or is not valid multipart/form-data: {}", error.body_text()))
}

fn upload_error(error: UploadError) -> ApiError {
    match error {
        UploadError::TooLarge { max } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "limit_exceeded", format!("a file of evidence is at most {max} bytes")),
        UploadError::Content(error) => ApiError::validation(error.to_string()),
        UploadError::Io(error) => {
            tracing::error!(%error, "the evidence store failed");
            ApiError::from(hongbao_service::ServiceError::Internal("the evidence store failed".into()))
        }
    }
}

/// Streams the `file` part into a temporary file of the evidence store: hashed, measured and
/// type-checked as it arrives. Nothing is kept unless the whole request succeeds.
async fn receive_file(state: &AppState, field: &mut axum::extract::multipart::Field<'_>) -> ApiResult<Upload> {
    let claimed = field.content_type().ok_or_else(|| ApiError::validation("the file part needs a Content-Type"))?;
    let content_type = normalize_content_type(claimed).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "validation_failed",
            format!("{claimed} is not accepted as evidence; send images, video, PDF or plain text"),
        )
    })?;
    let max_bytes = state.service.config().complaints.max_file_bytes;
    let mut upload = state.service.evidence_store().begin(content_type, max_bytes).map_err(|error| upload_error(UploadError::Io(error)))?;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        upload.write(&chunk).map_err(upload_error)?;
    }
    Ok(upload)
}

/// Upload one file of evidence (multipart/form-data: a `file` part with its Content-Type, and an
/// optional `label` part). Images, video, PDF and plain text up to 20 MiB; the type is checked from
/// the bytes. The file is kept by its SHA-256 and never changes.
#[utoipa::path(post, path = "/v1/evidence", tag = "complaints",
    request_body(content_type = "multipart/form-data", description = "`file` (required) and `label`: chat_record, guardian_identity, guardianship_document, operation_recording, log or other"),
    responses((status = 201, body = EvidenceBody), (status = 400, body = Problem), (status = 413, body = Problem),
        (status = 415, description = "`validation_failed`: the body is not multipart/form-data, or the file's type is not accepted", body = Problem)))]
pub async fn upload_evidence(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let user_id = caller.user()?.id.clone();
    // axum refuses any other content type, or one without its boundary, before a byte is read.
    let mut multipart = multipart.map_err(|_| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "validation_failed",
            "an upload is multipart/form-data, with its boundary: a `file` part and an optional `label` part",
        )
    })?;
    let mut label = None;
    let mut upload = None;
    // The whole body is read before anything is kept: a part refused after the file leaves no file.
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("label") => {
                let text = field.text().await.map_err(multipart_error)?;
                label =
                    Some(EvidenceLabel::parse(text.trim()).ok_or_else(|| ApiError::validation(format!("label {text:?} is not one of the evidence labels")))?);
            }
            Some("file") if upload.is_none() => upload = Some(receive_file(&state, &mut field).await?),
            Some("file") => return Err(ApiError::validation("one file per upload")),
            other => return Err(ApiError::validation(format!("unknown part {:?}; send file and label", other.unwrap_or("")))),
        }
    }
    let upload = upload.ok_or_else(|| ApiError::validation("the upload has no file part"))?;
    let file = tokio::task::spawn_blocking(move || upload.finish())
        .await
        .map_err(|error| ApiError::from(hongbao_service::ServiceError::Internal(format!("storing evidence failed: {error}"))))?
        .map_err(upload_error)?;
    // The writer puts the file in place if it records it; the staged copy is not needed afterwards,
    // whatever the answer, and even when the client goes away first. Nothing here deletes a file in
    // place: only the writer decides that (`EvidenceOp`).
    let staged = Staged { store: state.service.evidence_store().clone(), file: file.clone() };
    let fingerprint = format!("{}\n{}", file.sha256, label.map_or("", EvidenceLabel::as_str));
    let op = Op::Evidence(EvidenceOp::Record { uploaded_by: user_id, file, label });
    let answer = write(&state, &caller, key, &uri, fingerprint.as_bytes(), op, Answer { status: StatusCode::CREATED, body: evidence_body }).await;
    drop(staged);
    answer
}

/// An upload's staged copy, removed when the request is done with it.
struct Staged {
    store: hongbao_service::evidence::EvidenceStore,
    file: hongbao_service::evidence::StoredFile,
}

impl Drop for Staged {
    fn drop(&mut self) {
        self.store.release(&self.file);
    }
}

/// A file's metadata: for its uploader, the complainant of its case and operators.
#[utoipa::path(get, path = "/v1/evidence/{id}", tag = "complaints", responses((status = 200, body = EvidenceBody), (status = 404, body = Problem)))]
pub async fn get_evidence(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<EvidenceBody>> {
    let evidence_id = parse_id(EvidenceId::parse, &id, "evidence")?;
    Ok(Json(EvidenceBody::from(&state.service.evidence(&caller.0, &evidence_id).await?)))
}

/// A file's bytes, as an attachment, for those who may see it.
#[utoipa::path(get, path = "/v1/evidence/{id}/content", tag = "complaints", responses((status = 200, description = "the file's bytes"), (status = 404, body = Problem)))]
pub async fn get_evidence_content(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let evidence_id = parse_id(EvidenceId::parse, &id, "evidence")?;
    let evidence = state.service.evidence(&caller.0, &evidence_id).await?;
    let path = state.service.evidence_store().path_of(&evidence.sha256);
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(|error| ApiError::from(hongbao_service::ServiceError::Internal(format!("reading evidence failed: {error}"))))?
        .map_err(|error| ApiError::from(hongbao_service::ServiceError::Internal(format!("evidence {evidence_id} is missing from the store: {error}"))))?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(&evidence.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{evidence_id}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}

// ---- complaints ----

fn parse_evidence_ids(texts: &[String]) -> ApiResult<Vec<EvidenceId>> {
    texts.iter().map(|text| EvidenceId::parse(text).map_err(|error| ApiError::validation(format!("evidence_ids: {error}")))).collect()
}

/// File a complaint. It becomes a case: `submitted` when its evidence is complete, else
/// `needs_evidence`; a `system_fault` about money never claimed or settled is refunded at once.
#[utoipa::path(post, path = "/v1/complaints", tag = "complaints", request_body = CreateComplaintRequest,
    responses((status = 201, body = ComplaintBody), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn create_complaint(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    body: JsonBody<CreateComplaintRequest>,
) -> ApiResult<Response> {
    let complainant_id = caller.user()?.id.clone();
    let request = &body.value;
    let kind = ComplaintKind::parse(&request.kind).ok_or_else(|| ApiError::validation("kind must be fraud, minor, system_fault or other"))?;
    let op = Op::Case(CaseOp::SubmitComplaint {
        complainant_id,
        kind,
        txn_nos: parse_txn_nos(&request.txn_nos)?,
        description: request.description.clone(),
        evidence_ids: parse_evidence_ids(&request.evidence_ids)?,
    });
    write(&state, &caller, key, &uri, &body.raw, op, Answer { status: StatusCode::CREATED, body: complaint_body }).await
}

/// The caller's complaints, newest first.
#[utoipa::path(get, path = "/v1/complaints", tag = "complaints", params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ComplaintList)))]
pub async fn list_complaints(State(state): State<AppState>, caller: Caller, list: ListParams) -> ApiResult<Json<ComplaintList>> {
    let user_id = caller.user()?.id.clone();
    let complaints = state.service.complaints_of(&user_id, list.after_record()?, list.limit + 1).await?;
    Ok(Json(complaint_list(&state, complaints, list.limit)))
}

fn complaint_list(state: &AppState, complaints: Vec<Complaint>, limit: u32) -> ComplaintList {
    let now = state.service.clock().now();
    let (complaints, next_cursor) = page(complaints, limit, |complaint| position_cursor(complaint.created_at, complaint.id.as_str()));
    ComplaintList { data: complaints.iter().map(|complaint| ComplaintBody::new(complaint, now)).collect(), next_cursor }
}

/// One complaint: for its complainant and operators.
#[utoipa::path(get, path = "/v1/complaints/{id}", tag = "complaints", responses((status = 200, body = ComplaintBody), (status = 404, body = Problem)))]
pub async fn get_complaint(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<ComplaintBody>> {
    let complaint_id = parse_id(ComplaintId::parse, &id, "complaint")?;
    let complaint = state.service.complaint(&caller.0, &complaint_id).await?;
    Ok(Json(ComplaintBody::new(&complaint, state.service.clock().now())))
}

/// Attach more evidence to one's own open complaint.
#[utoipa::path(post, path = "/v1/complaints/{id}/evidence", tag = "complaints", request_body = AddEvidenceRequest,
    responses((status = 200, body = ComplaintBody), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn add_complaint_evidence(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    Path(id): Path<String>,
    body: JsonBody<AddEvidenceRequest>,
) -> ApiResult<Response> {
    let complainant_id = caller.user()?.id.clone();
    let complaint_id = parse_id(ComplaintId::parse, &id, "complaint")?;
    let op = Op::Case(CaseOp::AddEvidence { complainant_id, complaint_id, evidence_ids: parse_evidence_ids(&body.value.evidence_ids)? });
    write(&state, &caller, key, &uri, &body.raw, op, Answer { status: StatusCode::OK, body: complaint_body }).await
}

/// The caller's events (notices of changes to their cases, freezes and money), newest first.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = EventList)))]
pub async fn list_events(State(state): State<AppState>, caller: Caller, list: ListParams) -> ApiResult<Json<EventList>> {
    let user_id = caller.user()?.id.clone();
    let events = state.service.events(&user_id, list.before_seq()?, list.limit + 1).await?;
    let (events, next_cursor) = page(events, list.limit, |event| encode_seq_cursor(event.seq));
    Ok(Json(EventList { data: events.iter().map(EventBody::from).collect(), next_cursor }))
}

/// The caller's events as they happen (server-sent events). Each event's `id` is its sequence
/// number: reconnecting with `Last-Event-ID` resumes right after it, losing nothing; without it the
/// stream starts with the events that come next.
#[utoipa::path(get, path = "/v1/events/stream", tag = "events",
    params(("Last-Event-ID" = Option<String>, Header, description = "the id of the last event received")),
    responses((status = 200, description = "text/event-stream of events; each `data` is an event object", content_type = "text/event-stream"),
        (status = 429, description = "`too_many_streams`: the user already holds as many live streams as HONGBAO_MAX_STREAMS_PER_USER allows", body = Problem)))]
pub async fn event_stream(State(state): State<AppState>, caller: Caller, headers: axum::http::HeaderMap) -> ApiResult<Response> {
    use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
    let user_id = caller.user()?.id.clone();
    // Held by the stream's state, so the place is given back when the stream ends or is dropped.
    let slot = state.stream_slots.take(&user_id)?;
    let after = match headers.get("last-event-id") {
        Some(value) => value.to_str().ok().and_then(crate::extract::parse_sequence).ok_or_else(|| ApiError::validation("Last-Event-ID must be an event id"))?,
        None => state.service.last_event_seq().await?,
    };
    let service = state.service.clone();
    let closing = service.closing();
    // Commits of the user's events wake the stream at once: this process's, and on PostgreSQL other
    // processes' too; it also looks again now and then, more often while PostgreSQL's notifications
    // are not heard.
    let waker = service.event_waker(&user_id);
    let start = (service, user_id, after, std::collections::VecDeque::new(), closing, slot);
    let stream = futures_util::stream::unfold(start, move |(service, user_id, mut after, mut pending, mut closing, slot)| {
        let waker = waker.clone();
        async move {
            loop {
                if *closing.borrow() {
                    return None;
                }
                if let Some(event) = pending.pop_front() {
                    let event: hongbao_core::events::Event = event;
                    after = event.seq;
                    let body = serde_json::to_string(&EventBody::from(&event)).expect("an event always serializes");
                    let item = SseEvent::default().id(event.seq.to_string()).event(event.kind.as_str()).data(body);
                    return Some((Ok::<_, std::convert::Infallible>(item), (service, user_id, after, pending, closing, slot)));
                }
                // Registered before looking, so a commit between the look and the wait still wakes it.
                let committed = waker.notified();
                tokio::pin!(committed);
                committed.as_mut().enable();
                match service.events_after(&user_id, after, 100).await {
                    Ok(events) if !events.is_empty() => pending.extend(events),
                    Ok(_) => {
                        tokio::select! {
                            _ = committed => {}
                            _ = closing.changed() => {}
                            _ = tokio::time::sleep(service.event_poll()) => {}
                        }
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "an event stream could not read; ending it so the client reconnects");
                        return None;
                    }
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

// ---- operators ----

/// The calling operator.
#[utoipa::path(get, path = "/v1/ops/me", tag = "ops", responses((status = 200, body = OperatorBody), (status = 403, body = Problem)))]
pub async fn ops_me(caller: Caller) -> ApiResult<Json<OperatorBody>> {
    match &caller.0 {
        hongbao_service::Principal::Operator(operator) => Ok(Json(OperatorBody::from(operator))),
        _ => Err(ApiError::forbidden("this is for the platform's operators")),
    }
}

/// Create an operator with a role (admin only). The token in the answer is shown once.
#[utoipa::path(post, path = "/v1/ops/operators", tag = "ops", request_body = CreateOperatorRequest,
    responses((status = 201, body = CreatedOperatorBody), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn create_operator(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    body: JsonBody<CreateOperatorRequest>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let role = Role::parse(&body.value.role).ok_or_else(|| ApiError::validation("role must be support, reviewer, legal or auditor"))?;
    let op = Op::Case(CaseOp::CreateOperator { name: body.value.name.clone(), role });
    let body_of = |outcome: &Outcome| match outcome {
        Outcome::OperatorCreated { operator, token } => {
            Some(CreatedOperatorBody { operator: OperatorBody::from(operator), token: Some(token.clone()), secret_withheld: None })
        }
        _ => None,
    };
    let answer = Answer { status: StatusCode::CREATED, body: body_of };
    write_shown_once(&state, &caller, key, &uri, &body.raw, op, answer, CreatedOperatorBody::withheld).await
}

/// Operators, newest first: for the admin and auditors.
#[utoipa::path(get, path = "/v1/ops/operators", tag = "ops", responses((status = 200, body = OperatorList), (status = 403, body = Problem)))]
pub async fn list_operators(State(state): State<AppState>, caller: Caller, list: ListParams) -> ApiResult<Json<OperatorList>> {
    let operators = state.service.operators(&caller.0, list.after_record()?, list.limit + 1).await?;
    let (operators, next_cursor) = page(operators, list.limit, |operator| position_cursor(operator.created_at, operator.id.as_str()));
    Ok(Json(OperatorList { data: operators.iter().map(OperatorBody::from).collect(), next_cursor }))
}

/// Disable an operator (admin only): their token stops working at once.
#[utoipa::path(post, path = "/v1/ops/operators/{id}/disable", tag = "ops", request_body = ReasonRequest,
    responses((status = 200, body = OperatorBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn disable_operator(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    Path(id): Path<String>,
    body: JsonBody<ReasonRequest>,
) -> ApiResult<Response> {
    let operator_id = parse_id(OperatorId::parse, &id, "operator")?;
    let op = Op::Case(CaseOp::DisableOperator { actor: caller.0.actor()?, operator_id, reason: body.value.reason.clone() });
    let body_of = |outcome: &Outcome| match outcome {
        Outcome::Operator(operator) => Some(OperatorBody::from(operator)),
        _ => None,
    };
    write(&state, &caller, key, &uri, &body.raw, op, Answer { status: StatusCode::OK, body: body_of }).await
}

// ---- cases ----

/// Cases, newest first, filtered by `status`, `kind` and `overdue=true` (open past their deadline).
#[utoipa::path(get, path = "/v1/ops/cases", tag = "ops",
    params(("status" = Option<String>, Query), ("kind" = Option<String>, Query), ("overdue" = Option<bool>, Query), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ComplaintList), (status = 403, body = Problem)))]
pub async fn list_cases(State(state): State<AppState>, caller: Caller, list: ListParams) -> ApiResult<Json<ComplaintList>> {
    let status = match list.filter("status") {
        None | Some("") => None,
        Some(status @ ("submitted" | "needs_evidence" | "under_review" | "resolved")) => Some(status.to_owned()),
        Some(_) => return Err(ApiError::validation("status must be submitted, needs_evidence, under_review or resolved")),
    };
    let kind = match list.filter("kind") {
        None | Some("") => None,
        Some(kind) => Some(ComplaintKind::parse(kind).ok_or_else(|| ApiError::validation("kind must be fraud, minor, system_fault or other"))?),
    };
    let overdue = match list.filter("overdue") {
        None | Some("" | "false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::validation("overdue must be true or false")),
    };
    let cases = state.service.cases(&caller.0, CaseFilter { status, kind, overdue }, list.after_record()?, list.limit + 1).await?;
    Ok(Json(complaint_list(&state, cases, list.limit)))
}

/// One case, for operators.
#[utoipa::path(get, path = "/v1/ops/cases/{id}", tag = "ops", responses((status = 200, body = ComplaintBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_case(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<ComplaintBody>> {
    caller.0.actor()?.require(Permission::ViewCases)?;
    get_complaint(State(state), caller, Path(id)).await
}

/// The request, the id it names, and what the answer renders: the parts every "act on one record
/// with a reason" route shares.
struct Step<'a, I, B> {
    id: &'a str,
    parse: fn(&str) -> Result<I, hongbao_core::IdError>,
    what: &'static str,
    body: fn(&Outcome) -> Option<B>,
}

/// An operator action on one record, with a reason: parses the id (404 when it names nothing), builds
/// the operation as the calling operator, and answers 200 with the record.
async fn step<I, B: serde::Serialize + 'static>(
    state: &AppState,
    caller: &Caller,
    key: IdempotencyKey,
    uri: &Uri,
    request: &JsonBody<ReasonRequest>,
    step: Step<'_, I, B>,
    make: impl FnOnce(hongbao_service::Actor, I, String) -> CaseOp,
) -> ApiResult<Response> {
    let id = parse_id(step.parse, step.id, step.what)?;
    let op = Op::Case(make(caller.0.actor()?, id, request.value.reason.clone()));
    write(state, caller, key, uri, &request.raw, op, Answer { status: StatusCode::OK, body: step.body }).await
}

fn case_step(id: &str) -> Step<'_, ComplaintId, ComplaintBody> {
    Step { id, parse: ComplaintId::parse, what: "case", body: complaint_body }
}

fn reversal_step(id: &str) -> Step<'_, ReversalId, ReversalBody> {
    Step { id, parse: ReversalId::parse, what: "reversal", body: reversal_body }
}

fn disclosure_step(id: &str) -> Step<'_, DisclosureId, DisclosureBody> {
    Step { id, parse: DisclosureId::parse, what: "disclosure", body: disclosure_body }
}

/// The decision of the second legal officer on a reversal, as an operation.
fn decide_reversal(decision: Decision) -> impl FnOnce(hongbao_service::Actor, ReversalId, String) -> CaseOp {
    move |actor, reversal_id, reason| CaseOp::DecideReversal { actor, reversal_id, decision, reason }
}

/// The decision of the second legal officer on a disclosure, as an operation.
fn decide_disclosure(decision: Decision) -> impl FnOnce(hongbao_service::Actor, DisclosureId, String) -> CaseOp {
    move |actor, disclosure_id, reason| CaseOp::DecideDisclosure { actor, disclosure_id, decision, reason }
}

/// Take a case (support, reviewer): it moves to `under_review` with the caller as assignee.
#[utoipa::path(post, path = "/v1/ops/cases/{id}/assign", tag = "ops", request_body = ReasonRequest,
    responses((status = 200, body = ComplaintBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn assign_case(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    Path(id): Path<String>,
    body: JsonBody<ReasonRequest>,
) -> ApiResult<Response> {
    step(&state, &caller, key, &uri, &body, case_step(&id), |actor, complaint_id, reason| CaseOp::Assign { actor, complaint_id, reason }).await
}

/// Ask the complainant for more evidence (support, reviewer); the reason tells them what.
#[utoipa::path(post, path = "/v1/ops/cases/{id}/request-evidence", tag = "ops", request_body = ReasonRequest,
    responses((status = 200, body = ComplaintBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn request_case_evidence(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    Path(id): Path<String>,
    body: JsonBody<ReasonRequest>,
) -> ApiResult<Response> {
    step(&state, &caller, key, &uri, &body, case_step(&id), |actor, complaint_id, reason| CaseOp::RequestEvidence { actor, complaint_id, reason }).await
}

/// Refund the complainant out of a freeze placed for the case (reviewer). Never overdraws.
#[utoipa::path(post, path = "/v1/ops/cases/{id}/refunds", tag = "ops", request_body = CaseRefundRequest,
    responses((status = 201, body = TransactionBody), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn case_refund(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    Path(id): Path<String>,
    body: JsonBody<CaseRefundRequest>,
) -> ApiResult<Response> {
    let complaint_id = parse_id(ComplaintId::parse, &id, "case")?;
    let request = &body.value;
    let freeze_id = FreezeId::parse(&request.freeze_id).map_err(|error| ApiError::validation(format!("freeze_id: {error}")))?;
    let amount = parse_amount("amount", request.amount)?;
    let txn_no = request.txn_no.as_deref().map(|text| TxnNo::parse(text).map_err(|error| ApiError::validation(format!("txn_no: {error}")))).transpose()?;
    let op = Op::Case(CaseOp::RefundFromFreeze { actor: caller.0.actor()?, complaint_id, freeze_id, amount, reason: request.reason.clone(), txn_no });
    write(&state, &caller, key, &uri, &body.raw, op, Answer { status: StatusCode::CREATED, body: refund_or_request }).await
}

/// A case refund's answer: the refund's transaction (201), or, above the four-eyes amount, the refund
/// waiting for a second reviewer (also 201: a record was created; its `status` is `pending`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum CaseRefundAnswer {
    Posted(TransactionBody),
    Pending(CaseRefundBody),
}

fn refund_or_request(outcome: &Outcome) -> Option<CaseRefundAnswer> {
    match outcome {
        Outcome::CaseRefund(refund) => Some(CaseRefundAnswer::Pending(CaseRefundBody::from(refund))),
        other => posted(other).map(CaseRefundAnswer::Posted),
    }
}

fn case_refund_body(outcome: &Outcome) -> Option<CaseRefundBody> {
    match outcome {
        Outcome::CaseRefund(refund) => Some(CaseRefundBody::from(refund)),
        _ => None,
    }
}

fn case_refund_step(id: &str) -> Step<'_, CaseRefundId, CaseRefundBody> {
    Step { id, parse: CaseRefundId::parse, what: "case refund", body: case_refund_body }
}

/// The decision of the second reviewer on a case refund, as an operation.
fn decide_case_refund(decision: Decision) -> impl FnOnce(hongbao_service::Actor, CaseRefundId, String) -> CaseOp {
    move |actor, refund_id, reason| CaseOp::DecideCaseRefund { actor, refund_id, decision, reason }
}

/// Case refunds above the four-eyes amount (operators), newest first; `?status=pending` for those
/// waiting for a second reviewer, `?case_id=` for one case's.
#[utoipa::path(get, path = "/v1/ops/case-refunds", tag = "ops",
    params(("status" = Option<String>, Query), ("case_id" = Option<String>, Query), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = CaseRefundList), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn list_case_refunds(State(state): State<AppState>, caller: Caller, list: ListParams) -> ApiResult<Json<CaseRefundList>> {
    let case_id = list.filter("case_id").map(|id| ComplaintId::parse(id).map_err(|error| ApiError::validation(format!("case_id: {error}")))).transpose()?;
    let refunds = state.service.case_refunds(&caller.0, approval_status(&list)?, case_id.as_ref(), list.after_record()?, list.limit + 1).await?;
    let (refunds, next_cursor) = page(refunds, list.limit, |refund| position_cursor(refund.approval.requested_at, refund.id.as_str()));
    Ok(Json(CaseRefundList { data: refunds.iter().map(CaseRefundBody::from).collect(), next_cursor }))
}

#[utoipa::path(get, path = "/v1/ops/case-refunds/{id}", tag = "ops", responses((status = 200, body = CaseRefundBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_case_refund(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<CaseRefundBody>> {
    let refund_id = parse_id(CaseRefundId::parse, &id, "case refund")?;
    Ok(Json(CaseRefundBody::from(&state.service.case_refund(&caller.0, &refund_id).await?)))
}

/// Approve a case refund (a reviewer other than the one who asked): the money moves now, if the
/// payment still has that much left to give back and the freeze still holds it.
#[utoipa::path(post, path = "/v1/ops/case-refunds/{id}/approve", tag = "ops", request_body = ReasonRequest,
    responses((status = 200, body = CaseRefundBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn approve_case_refund(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    Path(id): Path<String>,
    body: JsonBody<ReasonRequest>,
) -> ApiResult<Response> {
    step(&state, &caller, key, &uri, &body, case_refund_step(&id), decide_case_refund(Decision::Approve)).await
}

/// Reject a case refund (a reviewer; the one who asked may withdraw it).
#[utoipa::path(post, path = "/v1/ops/case-refunds/{id}/reject", tag = "ops", request_body = ReasonRequest,
    responses((status = 200, body = CaseRefundBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn reject_case_refund(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    Path(id): Path<String>,
    body: JsonBody<ReasonRequest>,
) -> ApiResult<Response> {
    step(&state, &caller, key, &uri, &body, case_refund_step(&id), decide_case_refund(Decision::Reject)).await
}

/// Resolve a case (reviewer). Any outcome but `referred` lifts the case's freezes.
#[utoipa::path(post, path = "/v1/ops/cases/{id}/resolve", tag = "ops", request_body = ResolveCaseRequest,
    responses((status = 200, body = ComplaintBody), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn resolve_case(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    Path(id): Path<String>,
    body: JsonBody<ResolveCaseRequest>,
) -> ApiResult<Response> {
    let complaint_id = parse_id(ComplaintId::parse, &id, "case")?;
    let outcome =
        CaseOutcome::parse(&body.value.outcome).ok_or_else(|| ApiError::validation("outcome must be refunded, partially_refunded, rejected or referred"))?;
    let op = Op::Case(CaseOp::Resolve { actor: caller.0.actor()?, complaint_id, outcome, reason: body.value.reason.clone() });
    write(&state, &caller, key, &uri, &body.raw, op, Answer { status: StatusCode::OK, body: complaint_body }).await
}

// ---- freezes ----

/// Freeze a wallet (reviewer): in full (no outgoing money) or an amount (a hold), for a case or a rule.
#[utoipa::path(post, path = "/v1/ops/freezes", tag = "ops", request_body = CreateFreezeRequest,
    responses((status = 201, body = FreezeBody), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn create_freeze(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    body: JsonBody<CreateFreezeRequest>,
) -> ApiResult<Response> {
    let request = &body.value;
    let user_id = parse_user_id("user_id", &request.user_id)?;
    let amount = request.amount.map(|units| parse_amount("amount", units)).transpose()?;
    let until = request.until.as_deref().map(|text| parse_time("until", text)).transpose()?;
    let cause = match (&request.case_id, &request.rule) {
        (Some(case_id), None) => FreezeCause::Case(ComplaintId::parse(case_id).map_err(|error| ApiError::validation(format!("case_id: {error}")))?),
        (None, Some(rule)) => FreezeCause::of_rule(rule),
        _ => return Err(ApiError::validation("a freeze names exactly one of case_id and rule")),
    };
    let op = Op::Case(CaseOp::PlaceFreeze { actor: caller.0.actor()?, user_id, amount, until, cause, reason: request.reason.clone() });
    write(&state, &caller, key, &uri, &body.raw, op, Answer { status: StatusCode::CREATED, body: freeze_body }).await
}

/// Freezes, newest first; `user_id` narrows to one user's.
#[utoipa::path(get, path = "/v1/ops/freezes", tag = "ops", params(("user_id" = Option<String>, Query), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = FreezeList), (status = 403, body = Problem)))]
pub async fn list_freezes(State(state): State<AppState>, caller: Caller, list: ListParams) -> ApiResult<Json<FreezeList>> {
    let user_id = list.filter("user_id").filter(|text| !text.is_empty()).map(|text| parse_user_id("user_id", text)).transpose()?;
    let freezes = state.service.freezes(&caller.0, user_id.as_ref(), list.after_record()?, list.limit + 1).await?;
    let now = state.service.clock().now();
    let (freezes, next_cursor) = page(freezes, list.limit, |freeze| position_cursor(freeze.created_at, freeze.id.as_str()));
    Ok(Json(FreezeList { data: freezes.iter().map(|freeze| FreezeBody::new(freeze, now)).collect(), next_cursor }))
}

#[utoipa::path(get, path = "/v1/ops/freezes/{id}", tag = "ops", responses((status = 200, body = FreezeBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_freeze(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<FreezeBody>> {
    let freeze_id = parse_id(FreezeId::parse, &id, "freeze")?;
    let freeze = state.service.freeze(&caller.0, &freeze_id).await?;
    Ok(Json(FreezeBody::new(&freeze, state.service.clock().now())))
}

/// Lift a freeze (reviewer).
#[utoipa::path(post, path = "/v1/ops/freezes/{id}/lift", tag = "ops", request_body = ReasonRequest,
    responses((status = 200, body = FreezeBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn lift_freeze(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    Path(id): Path<String>,
    body: JsonBody<ReasonRequest>,
) -> ApiResult<Response> {
    let freeze_id = parse_id(FreezeId::parse, &id, "freeze")?;
    let op = Op::Case(CaseOp::LiftFreeze { actor: caller.0.actor()?, freeze_id, reason: body.value.reason.clone() });
    write(&state, &caller, key, &uri, &body.raw, op, Answer { status: StatusCode::OK, body: freeze_body }).await
}

/// A user's wallet as operators see it, with what is frozen.
#[utoipa::path(get, path = "/v1/ops/users/{id}/wallet", tag = "ops", responses((status = 200, body = WalletBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn ops_wallet(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<WalletBody>> {
    caller.0.actor()?.require(Permission::ViewCases)?;
    let user_id = hongbao_core::UserId::parse(&id).map_err(|_| ApiError::not_found("user"))?;
    let wallet = state.service.wallet(&user_id).await?;
    Ok(Json(WalletBody::new(&user_id, &state.service.config().currency, wallet)))
}

// ---- reversals and disclosures ----

fn approval_status(list: &ListParams) -> ApiResult<Option<ApprovalStatus>> {
    match list.filter("status") {
        None | Some("") => Ok(None),
        Some(status) => ApprovalStatus::parse(status).map(Some).ok_or_else(|| ApiError::validation("status must be pending, approved or rejected")),
    }
}

/// Ask for a reversal of a settled transaction (legal); a second legal officer must approve it.
#[utoipa::path(post, path = "/v1/ops/reversals", tag = "ops", request_body = CreateReversalRequest,
    responses((status = 201, body = ReversalBody), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn create_reversal(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    body: JsonBody<CreateReversalRequest>,
) -> ApiResult<Response> {
    let request = &body.value;
    let txn_no = parse_txn_nos(std::slice::from_ref(&request.txn_no))?.remove(0);
    let amount: Option<Amount> = request.amount.map(|units| parse_amount("amount", units)).transpose()?;
    let op =
        Op::Case(CaseOp::RequestReversal { actor: caller.0.actor()?, txn_no, amount, reason: request.reason.clone(), reference: request.reference.clone() });
    write(&state, &caller, key, &uri, &body.raw, op, Answer { status: StatusCode::CREATED, body: reversal_body }).await
}

/// Reversals, newest first, by `status` when given (legal, auditor).
#[utoipa::path(get, path = "/v1/ops/reversals", tag = "ops", params(("status" = Option<String>, Query), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ReversalList), (status = 403, body = Problem)))]
pub async fn list_reversals(State(state): State<AppState>, caller: Caller, list: ListParams) -> ApiResult<Json<ReversalList>> {
    let reversals = state.service.reversals(&caller.0, approval_status(&list)?, list.after_record()?, list.limit + 1).await?;
    let (reversals, next_cursor) = page(reversals, list.limit, |reversal| position_cursor(reversal.approval.requested_at, reversal.id.as_str()));
    Ok(Json(ReversalList { data: reversals.iter().map(ReversalBody::from).collect(), next_cursor }))
}

#[utoipa::path(get, path = "/v1/ops/reversals/{id}", tag = "ops", responses((status = 200, body = ReversalBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_reversal(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<ReversalBody>> {
    let reversal_id = parse_id(ReversalId::parse, &id, "reversal")?;
    Ok(Json(ReversalBody::from(&state.service.reversal(&caller.0, &reversal_id).await?)))
}

/// Approve a reversal (a legal officer other than the one who asked): the money moves back now.
#[utoipa::path(post, path = "/v1/ops/reversals/{id}/approve", tag = "ops", request_body = ReasonRequest,
    responses((status = 200, body = ReversalBody), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn approve_reversal(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    Path(id): Path<String>,
    body: JsonBody<ReasonRequest>,
) -> ApiResult<Response> {
    step(&state, &caller, key, &uri, &body, reversal_step(&id), decide_reversal(Decision::Approve)).await
}

/// Reject a reversal (legal; the one who asked may withdraw it).
#[utoipa::path(post, path = "/v1/ops/reversals/{id}/reject", tag = "ops", request_body = ReasonRequest,
    responses((status = 200, body = ReversalBody), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn reject_reversal(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    Path(id): Path<String>,
    body: JsonBody<ReasonRequest>,
) -> ApiResult<Response> {
    step(&state, &caller, key, &uri, &body, reversal_step(&id), decide_reversal(Decision::Reject)).await
}

fn disclosure_body(outcome: &Outcome) -> Option<DisclosureBody> {
    match outcome {
        // The identity is read, never rendered from a write: it shows on GET once approved.
        Outcome::Disclosure(disclosure) => {
            Some(DisclosureBody::from(&hongbao_service::reads::DisclosureView { disclosure: disclosure.clone(), identity: None }))
        }
        _ => None,
    }
}

/// Ask for the disclosure of a user's identity to an authorised requester (legal).
#[utoipa::path(post, path = "/v1/ops/disclosures", tag = "ops", request_body = CreateDisclosureRequest,
    responses((status = 201, body = DisclosureBody), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn create_disclosure(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    body: JsonBody<CreateDisclosureRequest>,
) -> ApiResult<Response> {
    let request = &body.value;
    let op = Op::Case(CaseOp::RequestDisclosure {
        actor: caller.0.actor()?,
        user_id: parse_user_id("user_id", &request.user_id)?,
        requester: request.requester.clone(),
        reference: request.reference.clone(),
        reason: request.reason.clone(),
    });
    write(&state, &caller, key, &uri, &body.raw, op, Answer { status: StatusCode::CREATED, body: disclosure_body }).await
}

/// Disclosures, newest first, by `status` when given (legal, auditor).
#[utoipa::path(get, path = "/v1/ops/disclosures", tag = "ops", params(("status" = Option<String>, Query), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = DisclosureList), (status = 403, body = Problem)))]
pub async fn list_disclosures(State(state): State<AppState>, caller: Caller, list: ListParams) -> ApiResult<Json<DisclosureList>> {
    let views = state.service.disclosures(&caller.0, approval_status(&list)?, list.after_record()?, list.limit + 1).await?;
    let (views, next_cursor) = page(views, list.limit, |view| position_cursor(view.disclosure.approval.requested_at, view.disclosure.id.as_str()));
    Ok(Json(DisclosureList { data: views.iter().map(DisclosureBody::from).collect(), next_cursor }))
}

/// One disclosure; `identity` is filled in only once a second legal officer approved it.
#[utoipa::path(get, path = "/v1/ops/disclosures/{id}", tag = "ops", responses((status = 200, body = DisclosureBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_disclosure(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<DisclosureBody>> {
    let disclosure_id = parse_id(DisclosureId::parse, &id, "disclosure")?;
    Ok(Json(DisclosureBody::from(&state.service.disclosure(&caller.0, &disclosure_id).await?)))
}

/// Approve a disclosure (a legal officer other than the one who asked).
#[utoipa::path(post, path = "/v1/ops/disclosures/{id}/approve", tag = "ops", request_body = ReasonRequest,
    responses((status = 200, body = DisclosureBody), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn approve_disclosure(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    Path(id): Path<String>,
    body: JsonBody<ReasonRequest>,
) -> ApiResult<Response> {
    step(&state, &caller, key, &uri, &body, disclosure_step(&id), decide_disclosure(Decision::Approve)).await
}

/// Reject a disclosure (legal; the one who asked may withdraw it).
#[utoipa::path(post, path = "/v1/ops/disclosures/{id}/reject", tag = "ops", request_body = ReasonRequest,
    responses((status = 200, body = DisclosureBody), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn reject_disclosure(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    Path(id): Path<String>,
    body: JsonBody<ReasonRequest>,
) -> ApiResult<Response> {
    step(&state, &caller, key, &uri, &body, disclosure_step(&id), decide_disclosure(Decision::Reject)).await
}

/// The audit log of operator actions, newest first (legal, auditor, admin).
#[utoipa::path(get, path = "/v1/ops/audit", tag = "ops", params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = AuditList), (status = 403, body = Problem)))]
pub async fn audit_log(State(state): State<AppState>, caller: Caller, list: ListParams) -> ApiResult<Json<AuditList>> {
    let entries = state.service.audit_log(&caller.0, list.before_seq()?, list.limit + 1).await?;
    let (entries, next_cursor) = page(entries, list.limit, |entry| encode_seq_cursor(entry.seq));
    Ok(Json(AuditList { data: entries.iter().map(AuditEntryBody::from).collect(), next_cursor }))
}
