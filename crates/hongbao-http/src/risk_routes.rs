//! The routes of risk control: users' tags on contacts and groups, the risk policy that operators
//! read and replace, and merchant API keys.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hongbao_core::merchant::{MerchantKey, Scope};
use hongbao_core::{Amount, MerchantKeyId};
use hongbao_service::ops::merchant_keys::MerchantOp;
use hongbao_service::{Op, Outcome, RiskOp};
use hongbao_store::records::Tag;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::case_dto::ReasonRequest;
use crate::dto::{parse_amount, parse_user_id};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Caller, IdempotencyKey, JsonBody, Path, RawBody};
use crate::routes::{Answer, write, write_shown_once};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRequest {
    /// `family`, `friends`, `work`, `strangers`, or one's own: 1 to 32 lowercase letters, digits, - and _.
    pub tag: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagBody {
    /// The user or group tagged.
    pub target_id: String,
    pub tag: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagList {
    pub data: Vec<TagBody>,
}

impl From<&Tag> for TagBody {
    fn from(tag: &Tag) -> TagBody {
        TagBody { target_id: tag.target_id.clone(), tag: tag.tag.clone(), created_at: tag.created_at.to_rfc3339() }
    }
}

fn tag_of(outcome: Outcome) -> ApiResult<Tag> {
    match outcome {
        Outcome::Tag(tag) => Ok(tag),
        other => Err(ApiError::from(hongbao_service::ServiceError::Internal(format!("a tag operation produced {other:?}")))),
    }
}

/// Tag a contact or a group. Packets and transfers to a tagged audience obey that tag's limits in
/// the risk policy.
#[utoipa::path(put, path = "/v1/tags/{target_id}", tag = "risk", request_body = TagRequest,
    responses((status = 200, body = TagBody), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn put_tag(State(state): State<AppState>, caller: Caller, Path(target_id): Path<String>, body: JsonBody<TagRequest>) -> ApiResult<Json<TagBody>> {
    let owner_id = caller.user()?.id.clone();
    let outcome = state.service.execute(Op::Risk(RiskOp::SetTag { owner_id, target_id, tag: body.value.tag })).await?;
    Ok(Json(TagBody::from(&tag_of(outcome)?)))
}

/// Remove a tag.
#[utoipa::path(delete, path = "/v1/tags/{target_id}", tag = "risk", responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_tag(State(state): State<AppState>, caller: Caller, Path(target_id): Path<String>) -> ApiResult<StatusCode> {
    let owner_id = caller.user()?.id.clone();
    state.service.execute(Op::Risk(RiskOp::RemoveTag { owner_id, target_id })).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's tags, newest first.
#[utoipa::path(get, path = "/v1/tags", tag = "risk", responses((status = 200, body = TagList)))]
pub async fn list_tags(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<TagList>> {
    let owner_id = caller.user()?.id.clone();
    let tags = state.service.tags_of(&owner_id).await?;
    Ok(Json(TagList { data: tags.iter().filter(|tag| !tag.tag.is_empty()).map(TagBody::from).collect() }))
}

fn toml_response(text: String) -> Response {
    let mut response = text.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/toml; charset=utf-8"));
    response
}

/// The risk policy in force, as TOML (operators and the admin).
#[utoipa::path(get, path = "/v1/ops/policy", tag = "risk", responses((status = 200, description = "the policy file", content_type = "application/toml"), (status = 403, body = Problem)))]
pub async fn get_policy(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    Ok(toml_response(state.service.policy_text(&caller.0).await?))
}

/// Replace the risk policy (reviewers and the admin) with a TOML file. An invalid one is refused
/// with the line and key at fault, and the policy in force stays.
#[utoipa::path(put, path = "/v1/ops/policy", tag = "risk",
    request_body(description = "the whole policy, or the tables to change; a file that sets nothing is refused. The media type is not checked: TOML text",
        content((String = "application/toml", example = json!("[limits]\nper_transaction_max = \"50000.00\"\n")))),
    responses((status = 200, description = "the policy now in force", content_type = "application/toml"), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn put_policy(State(state): State<AppState>, caller: Caller, RawBody(body): RawBody) -> ApiResult<Response> {
    let actor = caller.0.actor()?;
    let text = String::from_utf8(body.to_vec()).map_err(|_| ApiError::validation("the policy must be UTF-8 text"))?;
    match state.service.execute(Op::Risk(RiskOp::ReplacePolicy { actor, text })).await? {
        Outcome::Policy(policy) => Ok(toml_response(hongbao_service::policy::render_policy(&policy))),
        other => Err(ApiError::from(hongbao_service::ServiceError::Internal(format!("a policy replacement produced {other:?}")))),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMerchantKeyRequest {
    /// The wallet the key acts for.
    pub user_id: String,
    pub name: String,
    /// Any of `wallet:read`, `transactions:read`, `transfers:write`, `packets:write`, `withdrawals:write`, `events:read`.
    pub scopes: Vec<String>,
    /// Networks the key may be used from, in CIDR notation (`203.0.113.0/24`, `2001:db8::/32`).
    pub allowed_cidrs: Vec<String>,
    /// Minor units; absent for none beyond the policy's.
    pub max_transaction_amount: Option<i64>,
    /// Minor units per UTC day; absent for none beyond the policy's.
    pub daily_amount: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MerchantKeyBody {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub allowed_cidrs: Vec<String>,
    pub max_transaction_amount: Option<i64>,
    pub daily_amount: Option<i64>,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// The bearer secret (`hbk_…`). Shown once, in the answer that creates the key; only its hash is
    /// kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Present (true) only in a replay of the creation under the same `Idempotency-Key`: the secret
    /// was shown in the first answer and is not kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_withheld: Option<bool>,
}

impl MerchantKeyBody {
    fn new(key: &MerchantKey, secret: Option<&str>) -> MerchantKeyBody {
        MerchantKeyBody {
            id: key.id.to_string(),
            user_id: key.user_id.to_string(),
            name: key.name.clone(),
            scopes: key.scopes.iter().map(|scope| scope.as_str().to_owned()).collect(),
            allowed_cidrs: key.allowed_cidrs.clone(),
            max_transaction_amount: key.max_transaction.map(Amount::minor_units),
            daily_amount: key.daily_max.map(Amount::minor_units),
            created_at: key.created_at.to_rfc3339(),
            revoked_at: key.revoked_at.map(hongbao_core::Timestamp::to_rfc3339),
            secret: secret.map(str::to_owned),
            secret_withheld: None,
        }
    }

    /// The answer as a replay gets it: the secret withheld.
    fn withheld(self) -> MerchantKeyBody {
        MerchantKeyBody { secret: None, secret_withheld: Some(true), ..self }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MerchantKeyList {
    pub data: Vec<MerchantKeyBody>,
}

fn created_key_body(outcome: &Outcome) -> Option<MerchantKeyBody> {
    match outcome {
        Outcome::MerchantKeyCreated { key, secret } => Some(MerchantKeyBody::new(key, Some(secret))),
        _ => None,
    }
}

fn key_body(outcome: &Outcome) -> Option<MerchantKeyBody> {
    match outcome {
        Outcome::MerchantKey(key) => Some(MerchantKeyBody::new(key, None)),
        _ => None,
    }
}

/// Create an API key for a merchant's own wallet (admin). The secret is shown once.
#[utoipa::path(post, path = "/v1/ops/merchant-keys", tag = "risk", request_body = CreateMerchantKeyRequest,
    responses((status = 201, body = MerchantKeyBody), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn create_merchant_key(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    body: JsonBody<CreateMerchantKeyRequest>,
) -> ApiResult<Response> {
    let request = &body.value;
    let scopes = request
        .scopes
        .iter()
        .map(|scope| Scope::parse(scope).ok_or_else(|| ApiError::validation(format!("scope {scope:?} is not one of {}", scope_names()))))
        .collect::<ApiResult<Vec<_>>>()?;
    let op = Op::Merchant(MerchantOp::Create {
        actor: caller.0.actor()?,
        user_id: parse_user_id("user_id", &request.user_id)?,
        name: request.name.clone(),
        scopes,
        allowed_cidrs: request.allowed_cidrs.clone(),
        max_transaction: request.max_transaction_amount.map(|units| parse_amount("max_transaction_amount", units)).transpose()?,
        daily_max: request.daily_amount.map(|units| parse_amount("daily_amount", units)).transpose()?,
    });
    let answer = Answer { status: StatusCode::CREATED, body: created_key_body };
    write_shown_once(&state, &caller, key, &uri, &body.raw, op, answer, MerchantKeyBody::withheld).await
}

fn scope_names() -> String {
    Scope::ALL.iter().map(|scope| scope.as_str()).collect::<Vec<_>>().join(", ")
}

/// API keys, newest first (admin, auditors).
#[utoipa::path(get, path = "/v1/ops/merchant-keys", tag = "risk", responses((status = 200, body = MerchantKeyList), (status = 403, body = Problem)))]
pub async fn list_merchant_keys(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<MerchantKeyList>> {
    let keys = state.service.merchant_keys(&caller.0).await?;
    Ok(Json(MerchantKeyList { data: keys.iter().map(|key| MerchantKeyBody::new(key, None)).collect() }))
}

/// Revoke an API key (admin): it stops working at once.
#[utoipa::path(post, path = "/v1/ops/merchant-keys/{id}/revoke", tag = "risk", request_body = ReasonRequest,
    responses((status = 200, body = MerchantKeyBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_merchant_key(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    Path(id): Path<String>,
    body: JsonBody<ReasonRequest>,
) -> ApiResult<Response> {
    let key_id = MerchantKeyId::parse(&id).map_err(|_| ApiError::not_found("merchant key"))?;
    let op = Op::Merchant(MerchantOp::Revoke { actor: caller.0.actor()?, key_id, reason: body.value.reason.clone() });
    write(&state, &caller, key, &uri, &body.raw, op, Answer { status: StatusCode::OK, body: key_body }).await
}
