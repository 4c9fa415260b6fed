//! The journal as a transparency log over HTTP: the operator's public key, signed checkpoints, receipts
//! of transactions and consistency proofs, each in the text formats of C2SP (`signed-note`,
//! `tlog-checkpoint`, `tlog-proof`) so that existing transparency tooling reads them, and anyone holding
//! the public key can check them offline (`hongbao receipt verify`, `hongbao journal
//! verify-consistency`).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hongbao_core::TxnNo;
use hongbao_service::Outcome;
use hongbao_store::transparency::{StoredCheckpoint, StoredLogKey};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Caller, IdempotencyKey, ListParams, Path, encode_seq_cursor};
use crate::routes::{Answer, write};

/// The routes of this module, for the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(log_key, list_log_keys, list_checkpoints, latest_checkpoint, make_checkpoint, receipt, consistency))]
pub struct JournalApiDoc;

/// A signed checkpoint (C2SP `tlog-checkpoint`) as stored and published.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointBody {
    /// The checkpoint's place among all checkpoints, from 1.
    pub seq: u64,
    /// The log's origin: the first line of the checkpoint, and the name of the key that signs it.
    pub origin: String,
    /// How many journal entries the tree holds: entries 1 to `size`.
    pub size: u64,
    /// `MTH(D[0:size])` of RFC 9162 §2.1.1, standard base64.
    pub root: String,
    /// The signing key's id, 8 hex digits.
    pub key_id: String,
    /// The signed note, byte for byte: what a verifier checks, and what a witness cosigns.
    pub checkpoint: String,
    pub created_at: String,
}

impl CheckpointBody {
    fn new(stored: &StoredCheckpoint) -> CheckpointBody {
        CheckpointBody {
            seq: stored.seq,
            // The checkpoint's first line is its origin (C2SP `tlog-checkpoint`).
            origin: stored.signed_note.lines().next().unwrap_or_default().to_owned(),
            size: stored.size,
            root: stored.root.to_base64(),
            key_id: stored.key_id.clone(),
            checkpoint: stored.signed_note.clone(),
            created_at: stored.created_at.to_rfc3339(),
        }
    }
}

/// Checkpoints, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointList {
    pub data: Vec<CheckpointBody>,
    pub next_cursor: Option<String>,
}

/// A key that signs, or once signed, the journal's checkpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogKeyBody {
    /// The verifier key's text form, `<name>+<hex key id>+<base64 key>` (C2SP `signed-note`).
    pub verifier_key: String,
    pub key_id: String,
    /// The key's name: the log's origin.
    pub name: String,
    /// Whether this server signs new checkpoints with it.
    pub current: bool,
    pub created_at: String,
}

/// The log's keys, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogKeyList {
    pub data: Vec<LogKeyBody>,
}

/// The two tree sizes of a consistency proof.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyParams {
    /// The smaller tree size, at least 1.
    #[param(minimum = 1)]
    pub from: u64,
    /// The larger tree size, at most the journal's size now.
    #[param(minimum = 1)]
    pub to: u64,
}

fn text_response(body: String, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The operator's public key, which verifies every receipt and checkpoint it signs: the verifier key's
/// text form (C2SP `signed-note`), one line. No authentication: anyone may hold it.
#[utoipa::path(get, path = "/.well-known/hongbao/log-key", tag = "journal", security(()),
    responses((status = 200, description = "the verifier key, `<name>+<hex key id>+<base64 key>` and a newline", content_type = "text/plain", body = String)))]
pub async fn log_key(State(state): State<AppState>) -> Response {
    text_response(format!("{}\n", state.service.log_verifier_key()), "text/plain; charset=utf-8")
}

/// Every key that signs or signed the journal's checkpoints, newest first: a checkpoint made before a
/// rotation verifies with the key that signed it.
#[utoipa::path(get, path = "/v1/journal/keys", tag = "journal", responses((status = 200, body = LogKeyList), (status = 401, body = Problem)))]
pub async fn list_log_keys(State(state): State<AppState>, _caller: Caller) -> ApiResult<Json<LogKeyList>> {
    let current = state.service.log_verifier_key().to_string();
    let keys: Vec<StoredLogKey> = state.service.log_keys().await?;
    let data = keys
        .into_iter()
        .map(|key| LogKeyBody {
            current: key.verifier_key == current,
            verifier_key: key.verifier_key,
            key_id: key.key_id,
            name: key.name,
            created_at: key.created_at.to_rfc3339(),
        })
        .collect();
    Ok(Json(LogKeyList { data }))
}

/// Signed checkpoints of the journal, newest first (`?limit=`, `?cursor=`). Any authenticated caller.
#[utoipa::path(get, path = "/v1/journal/checkpoints", tag = "journal", params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = CheckpointList), (status = 401, body = Problem)))]
pub async fn list_checkpoints(State(state): State<AppState>, _caller: Caller, list: ListParams) -> ApiResult<Json<CheckpointList>> {
    let mut checkpoints = state.service.checkpoints(list.before_seq()?, list.limit + 1).await?;
    let next_cursor = if checkpoints.len() > list.limit as usize {
        checkpoints.truncate(list.limit as usize);
        checkpoints.last().map(|checkpoint| encode_seq_cursor(checkpoint.seq))
    } else {
        None
    };
    Ok(Json(CheckpointList { data: checkpoints.iter().map(CheckpointBody::new).collect(), next_cursor }))
}

/// The newest signed checkpoint; 404 while none is made.
#[utoipa::path(get, path = "/v1/journal/checkpoints/latest", tag = "journal",
    responses((status = 200, body = CheckpointBody), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn latest_checkpoint(State(state): State<AppState>, _caller: Caller) -> ApiResult<Json<CheckpointBody>> {
    let checkpoint = state.service.latest_checkpoint().await?.ok_or_else(|| ApiError::not_found("checkpoint"))?;
    Ok(Json(CheckpointBody::new(&checkpoint)))
}

/// Make a checkpoint of the journal now (the admin and auditors): 201 with it, or with the one already
/// stored for the same tree size and key. 409 `invalid_state` while the journal is empty.
#[utoipa::path(post, path = "/v1/ops/checkpoints", tag = "journal",
    responses((status = 201, body = CheckpointBody), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn make_checkpoint(State(state): State<AppState>, caller: Caller, key: IdempotencyKey, uri: Uri) -> ApiResult<Response> {
    state.service.require_checkpointer(&caller.0)?;
    let op = state.service.checkpoint_op().await?;
    fn body(outcome: &Outcome) -> Option<CheckpointBody> {
        match outcome {
            Outcome::Checkpoint(checkpoint) => Some(CheckpointBody::new(checkpoint)),
            _ => None,
        }
    }
    write(&state, &caller, key, &uri, b"", op, Answer { status: StatusCode::CREATED, body }).await
}

/// The receipt of a transaction, for those who may see it (its parties, operators, the admin; others
/// 404): a C2SP `tlog-proof` (`c2sp.org/tlog-proof@v1`) whose `extra` line is the entry's canonical
/// bytes, with the entry's leaf index, its inclusion proof, and the signed checkpoint it leads to: the
/// largest checkpoint of the current key, made on demand when none covers the entry yet. Verify it
/// offline with `hongbao receipt verify FILE --public-key KEY`.
#[utoipa::path(get, path = "/v1/transactions/{txn_no}/receipt", tag = "journal", params(("txn_no" = String, Path)),
    responses((status = 200, description = "the receipt", content_type = "text/plain", body = String), (status = 404, body = Problem)))]
pub async fn receipt(State(state): State<AppState>, caller: Caller, Path(txn_no): Path<String>) -> ApiResult<Response> {
    let txn_no = TxnNo::parse(&txn_no).map_err(|_| ApiError::not_found("transaction"))?;
    let text = state.service.receipt(&caller.0, &txn_no).await?;
    let mut response = text_response(text, "text/plain; charset=utf-8");
    let disposition = format!("attachment; filename=\"{txn_no}.{}\"", hongbao_tlog::RECEIPT_FILE_EXTENSION);
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The consistency proof between two sizes of the journal's tree (RFC 9162 §2.1.4): its hashes in
/// standard base64, one per line (empty when the sizes are equal). Any sizes `1 <= from <= to <=` the
/// journal's size now, typically those of two signed checkpoints; other sizes are 400
/// `validation_failed`. Verify it offline with `hongbao journal verify-consistency OLD NEW PROOF`.
#[utoipa::path(get, path = "/v1/journal/consistency", tag = "journal", params(ConsistencyParams),
    responses((status = 200, description = "the proof", content_type = "text/plain", body = String), (status = 400, body = Problem)))]
pub async fn consistency(
    State(state): State<AppState>,
    _caller: Caller,
    params: Result<Query<ConsistencyParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(params) = params.map_err(|_| ApiError::validation("from and to must be tree sizes, whole numbers"))?;
    let proof = state.service.consistency_proof(params.from, params.to).await?;
    Ok(text_response(hongbao_tlog::format_proof(&proof), "text/plain; charset=utf-8"))
}
