//! The routes of risk control: users' tags on contacts and groups, and the risk policy that
//! operators read and replace.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hongbao_service::{Op, Outcome, RiskOp};
use hongbao_store::records::Tag;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Caller, JsonBody};

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
#[utoipa::path(put, path = "/v1/ops/policy", tag = "risk", request_body(content = String, content_type = "application/toml"),
    responses((status = 200, description = "the policy now in force", content_type = "application/toml"), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn put_policy(State(state): State<AppState>, caller: Caller, body: Bytes) -> ApiResult<Response> {
    let actor = caller.0.actor()?;
    let text = String::from_utf8(body.to_vec()).map_err(|_| ApiError::validation("the policy must be UTF-8 text"))?;
    match state.service.execute(Op::Risk(RiskOp::ReplacePolicy { actor, text })).await? {
        Outcome::Policy(policy) => Ok(toml_response(hongbao_service::policy::render_policy(&policy))),
        other => Err(ApiError::from(hongbao_service::ServiceError::Internal(format!("a policy replacement produced {other:?}")))),
    }
}
