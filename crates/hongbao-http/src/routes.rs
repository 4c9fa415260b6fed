//! The route handlers of `/v1`. Each parses its input at the edge, asks the service, and renders JSON.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hongbao_core::transfer::Arrival;
use hongbao_core::{PacketId, ReturnRequestId, TransferId, TxnNo, UserId};
use hongbao_service::{Idempotency, Op, Outcome, Principal, Rendered, Reply};
use hongbao_store::{ListPosition, ReturnRole};
use serde::Serialize;

use crate::AppState;
use crate::dto::*;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Caller, ConfirmationToken, IdempotencyKey, JsonBody, ListParams, Path, RawBody, encode_position_cursor, encode_seq_cursor, request_hash};
use crate::people_routes::{group_bodies, only, packet_bodies, return_request_bodies, transaction_bodies, transfer_bodies};

pub(crate) fn json_response(status: StatusCode, body: Vec<u8>, replayed: bool) -> Response {
    let mut response = (status, body).into_response();
    let content_type = if status.is_client_error() || status.is_server_error() { "application/problem+json" } else { "application/json" };
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// How a write answers: its success status and the body it makes from the outcome.
pub(crate) struct Answer<B> {
    pub(crate) status: StatusCode,
    pub(crate) body: fn(&Outcome) -> Option<B>,
}

// Both fields are plain values, whatever `B` is.
impl<B> Clone for Answer<B> {
    fn clone(&self) -> Answer<B> {
        *self
    }
}
impl<B> Copy for Answer<B> {}

/// Makes the copy of an answer that is kept for replays from one that shows a secret once: the secret
/// replaced by null and `secret_withheld: true`.
pub(crate) type Withhold<B> = fn(B) -> B;

fn render<B: Serialize>(answer: &Answer<B>, outcome: &Outcome, withhold: Option<Withhold<B>>) -> Rendered {
    if let Outcome::ConfirmationRequired { detail, summary } = outcome {
        let problem = ConfirmationProblem::new(detail, summary);
        return Rendered { status: StatusCode::CONFLICT.as_u16(), body: serde_json::to_vec(&problem).expect("a problem always serializes"), replay_body: None };
    }
    match (answer.body)(outcome) {
        Some(body) => {
            let replay_body = withhold
                .and_then(|withhold| (answer.body)(outcome).map(withhold))
                .map(|withheld| serde_json::to_vec(&withheld).expect("response bodies always serialize"));
            Rendered { status: answer.status.as_u16(), body: serde_json::to_vec(&body).expect("response bodies always serialize"), replay_body }
        }
        None => {
            // The outcome may carry a secret: only its kind is logged.
            tracing::error!(outcome = outcome_kind(outcome), "an operation produced an outcome its route does not render");
            Rendered {
                status: 500,
                body: br#"{"type":"/problems/internal","title":"Internal Server Error","status":500,"detail":"the server failed","code":"internal"}"#.to_vec(),
                replay_body: None,
            }
        }
    }
}

/// The name of an outcome's variant, for a log line that must not print what it holds.
fn outcome_kind(outcome: &Outcome) -> String {
    let text = format!("{outcome:?}");
    text.split(|char: char| !char.is_alphanumeric() && char != '_').next().unwrap_or("").to_owned()
}

/// Runs a write through the writer, honouring `Idempotency-Key`: the response is rendered and stored
/// in the same transaction as the change, and a repeat gets it back unchanged.
pub(crate) async fn write<B: Serialize + 'static>(
    state: &AppState,
    caller: &Caller,
    key: IdempotencyKey,
    uri: &Uri,
    raw: &[u8],
    op: Op,
    answer: Answer<B>,
) -> ApiResult<Response> {
    write_keeping(state, caller, key, uri, raw, op, answer, None).await
}

/// Like [`write`], for an answer that shows a secret once (a token, a signing key): a replay under
/// the same `Idempotency-Key` gets the answer with the secret withheld, since none is kept.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn write_shown_once<B: Serialize + 'static>(
    state: &AppState,
    caller: &Caller,
    key: IdempotencyKey,
    uri: &Uri,
    raw: &[u8],
    op: Op,
    answer: Answer<B>,
    withhold: Withhold<B>,
) -> ApiResult<Response> {
    write_keeping(state, caller, key, uri, raw, op, answer, Some(withhold)).await
}

#[allow(clippy::too_many_arguments)]
async fn write_keeping<B: Serialize + 'static>(
    state: &AppState,
    caller: &Caller,
    key: IdempotencyKey,
    uri: &Uri,
    raw: &[u8],
    op: Op,
    answer: Answer<B>,
    withhold: Option<Withhold<B>>,
) -> ApiResult<Response> {
    // With a key, the response is rendered inside the writer's transaction and stored with it;
    // without one, it is rendered here.
    let idempotency = key.0.map(|key| Idempotency { caller: caller.0.idempotency_scope(), key, request_hash: request_hash("POST", uri.path(), raw) });
    let render_in_writer: Option<hongbao_service::Render> =
        idempotency.as_ref().map(|_| Box::new(move |outcome: &Outcome| render(&answer, outcome, withhold)) as _);
    let op = match &caller.2 {
        Some(observation) => Op::Observed { observation: observation.clone(), op: Box::new(op) },
        None => op,
    };
    let reply = state.service.submit(op, idempotency, render_in_writer).await?;
    if let (Some(observation), Reply::Done { .. }) = (&caller.2, &reply) {
        state.service.observed(observation);
    }
    let (rendered, replayed) = match reply {
        Reply::Done { rendered: Some(rendered), .. } => (rendered, false),
        Reply::Done { outcome, rendered: None } => (render(&answer, &outcome, None), false),
        Reply::Replayed(rendered) => (rendered, true),
    };
    Ok(json_response(StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::OK), rendered.body, replayed))
}

pub(crate) fn posted(outcome: &Outcome) -> Option<TransactionBody> {
    match outcome {
        Outcome::Posted(entry) => Some(TransactionBody::new(entry)),
        _ => None,
    }
}

fn group_body(outcome: &Outcome) -> Option<GroupBody> {
    match outcome {
        Outcome::Group(group) => Some(GroupBody::from(group)),
        _ => None,
    }
}

fn packet_body(outcome: &Outcome) -> Option<PacketBody> {
    match outcome {
        Outcome::Packet(view) => Some(PacketBody::from(view)),
        _ => None,
    }
}

fn transfer_body(outcome: &Outcome) -> Option<TransferBody> {
    match outcome {
        Outcome::Transfer(transfer) => Some(TransferBody::from(transfer)),
        _ => None,
    }
}

fn return_request_body(outcome: &Outcome) -> Option<ReturnRequestBody> {
    match outcome {
        Outcome::ReturnRequest(request) => Some(ReturnRequestBody::from(request)),
        _ => None,
    }
}

fn parse_packet_id(text: &str) -> ApiResult<PacketId> {
    PacketId::parse(text).map_err(|_| ApiError::not_found("packet"))
}

/// Create a user (admin only). The token in the answer is shown once.
#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = CreateUserRequest,
    responses((status = 201, body = CreatedUserBody), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    body: JsonBody<CreateUserRequest>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let op = Op::CreateUser { name: body.value.name };
    let body_of = |outcome: &Outcome| match outcome {
        Outcome::UserCreated { user, token } => Some(CreatedUserBody::new(user, token)),
        _ => None,
    };
    write_shown_once(&state, &caller, key, &uri, &body.raw, op, Answer { status: StatusCode::CREATED, body: body_of }, CreatedUserBody::withheld).await
}

fn token_body(outcome: &Outcome) -> Option<CreatedUserBody> {
    match outcome {
        Outcome::TokenIssued { user, token } => Some(CreatedUserBody::new(user, token)),
        _ => None,
    }
}

/// Replace the caller's token (rotation): the answer shows the new token once, and the old one stops
/// working at once, in every process. Not through a merchant API key.
#[utoipa::path(post, path = "/v1/me/token", tag = "users",
    responses((status = 201, body = CreatedUserBody), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn rotate_token(State(state): State<AppState>, caller: Caller, key: IdempotencyKey, uri: Uri) -> ApiResult<Response> {
    let user_id = caller.user()?.id.clone();
    if caller.1.is_some() {
        return Err(ApiError::forbidden("a merchant API key cannot replace its user's token"));
    }
    let op = Op::IssueToken { user_id, by: None };
    write_shown_once(&state, &caller, key, &uri, b"", op, Answer { status: StatusCode::CREATED, body: token_body }, CreatedUserBody::withheld).await
}

/// Issue a new token for a user (admin only), shown once: whatever token the user had stops working
/// at once, in every process. For a user who lost theirs, or after a revocation.
#[utoipa::path(post, path = "/v1/users/{id}/token", tag = "users", params(("id" = String, Path)),
    responses((status = 201, body = CreatedUserBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn issue_token(State(state): State<AppState>, caller: Caller, key: IdempotencyKey, uri: Uri, Path(id): Path<String>) -> ApiResult<Response> {
    caller.require_admin()?;
    let user_id = UserId::parse(&id).map_err(|_| ApiError::not_found("user"))?;
    let op = Op::IssueToken { user_id, by: Some(caller.0.actor()?) };
    write_shown_once(&state, &caller, key, &uri, b"", op, Answer { status: StatusCode::CREATED, body: token_body }, CreatedUserBody::withheld).await
}

/// Revoke a user's token (admin only), with a reason for the audit log: it stops working at once, in
/// every process, and no token works for the user until the admin issues a new one.
#[utoipa::path(post, path = "/v1/users/{id}/revoke-token", tag = "users", params(("id" = String, Path)), request_body = crate::case_dto::ReasonRequest,
    responses((status = 200, body = UserBody), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    Path(id): Path<String>,
    body: JsonBody<crate::case_dto::ReasonRequest>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let user_id = UserId::parse(&id).map_err(|_| ApiError::not_found("user"))?;
    let op = Op::RevokeToken { actor: caller.0.actor()?, user_id, reason: body.value.reason.clone() };
    let body_of = |outcome: &Outcome| match outcome {
        Outcome::TokenRevoked(user) => Some(UserBody::from(user)),
        _ => None,
    };
    write(&state, &caller, key, &uri, &body.raw, op, Answer { status: StatusCode::OK, body: body_of }).await
}

/// The caller's groups, newest first.
#[utoipa::path(get, path = "/v1/groups", tag = "groups", params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = GroupList), (status = 401, body = Problem)))]
pub async fn list_groups(State(state): State<AppState>, caller: Caller, list: ListParams) -> ApiResult<Json<GroupList>> {
    let user_id = caller.user()?.id.clone();
    let mut groups = state.service.groups_of(&user_id, list.after_position()?, list.limit + 1).await?;
    let next_cursor = if groups.len() > list.limit as usize {
        groups.truncate(list.limit as usize);
        groups.last().map(|group| encode_position_cursor(&ListPosition { created_at: group.created_at, id: group.id.to_string() }))
    } else {
        None
    };
    Ok(Json(GroupList { data: group_bodies(&state.service, &groups).await?, next_cursor }))
}

/// The packets sent to a group, newest first, with their claims: the chat view of a group.
#[utoipa::path(get, path = "/v1/groups/{id}/packets", tag = "groups", params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = PacketList), (status = 404, body = Problem)))]
pub async fn list_group_packets(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, list: ListParams) -> ApiResult<Json<PacketList>> {
    let group_id = hongbao_core::GroupId::parse(&id).map_err(|_| ApiError::not_found("group"))?;
    let mut views = state.service.group_packets(&caller.0, &group_id, list.after_position()?, list.limit + 1).await?;
    let next_cursor = if views.len() > list.limit as usize {
        views.truncate(list.limit as usize);
        views.last().map(|view| encode_position_cursor(&ListPosition { created_at: view.packet.created_at, id: view.packet.id.to_string() }))
    } else {
        None
    };
    Ok(Json(PacketList { data: packet_bodies(&state.service, &views).await?, next_cursor }))
}

/// The caller, with their display name as it is now.
#[utoipa::path(get, path = "/v1/me", tag = "users", responses((status = 200, body = UserBody), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<UserBody>> {
    match &caller.0 {
        Principal::User(user) => Ok(Json(UserBody::from(&state.service.current_user(&user.id).await?))),
        Principal::Admin => Ok(Json(UserBody { id: "admin".into(), name: "admin".into() })),
        Principal::Operator(_) => Err(ApiError::forbidden("operators are not users; see GET /v1/ops/me")),
    }
}

/// The caller's wallet.
#[utoipa::path(get, path = "/v1/wallet", tag = "wallets", responses((status = 200, body = WalletBody), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn wallet(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<WalletBody>> {
    let user = caller.user()?;
    let wallet = state.service.wallet(&user.id).await?;
    Ok(Json(WalletBody::new(&user.id, &state.service.config().currency, wallet)))
}

/// Credit a user's wallet from the platform's funding account (admin only).
#[utoipa::path(post, path = "/v1/top-ups", tag = "wallets", request_body = TopUpRequest,
    responses((status = 201, body = TransactionBody), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn top_up(State(state): State<AppState>, caller: Caller, key: IdempotencyKey, uri: Uri, body: JsonBody<TopUpRequest>) -> ApiResult<Response> {
    caller.require_admin()?;
    let request = &body.value;
    let user_id = parse_user_id("user_id", &request.user_id)?;
    let op = Op::TopUp { user_id, amount: parse_amount("amount", request.amount)?, reference: request.reference.clone() };
    write(&state, &caller, key, &uri, &body.raw, op, Answer { status: StatusCode::CREATED, body: posted }).await
}

/// Move money out of the caller's wallet to the platform's payout account.
#[utoipa::path(post, path = "/v1/withdrawals", tag = "wallets", request_body = WithdrawalRequest,
    responses((status = 201, body = TransactionBody), (status = 400, body = Problem), (status = 409, body = Problem)))]
pub async fn withdraw(State(state): State<AppState>, caller: Caller, key: IdempotencyKey, uri: Uri, body: JsonBody<WithdrawalRequest>) -> ApiResult<Response> {
    let user_id = caller.user()?.id.clone();
    let op = caller.via_key(Op::Withdraw { user_id, amount: parse_amount("amount", body.value.amount)?, reference: body.value.reference.clone() });
    write(&state, &caller, key, &uri, &body.raw, op, Answer { status: StatusCode::CREATED, body: posted }).await
}

/// Create a group; the caller is its owner and a member.
#[utoipa::path(post, path = "/v1/groups", tag = "groups", request_body = CreateGroupRequest,
    responses((status = 201, body = GroupBody), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    body: JsonBody<CreateGroupRequest>,
) -> ApiResult<Response> {
    let owner_id = caller.user()?.id.clone();
    let member_ids = body.value.member_ids.iter().map(|id| parse_user_id("member_ids", id)).collect::<ApiResult<Vec<_>>>()?;
    let op = Op::CreateGroup { owner_id, name: body.value.name.clone(), member_ids };
    write(&state, &caller, key, &uri, &body.raw, op, Answer { status: StatusCode::CREATED, body: group_body }).await
}

/// A group, for its members.
#[utoipa::path(get, path = "/v1/groups/{id}", tag = "groups", params(("id" = String, Path)), responses((status = 200, body = GroupBody), (status = 404, body = Problem)))]
pub async fn get_group(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<GroupBody>> {
    let group_id = hongbao_core::GroupId::parse(&id).map_err(|_| ApiError::not_found("group"))?;
    let group = state.service.group(&caller.0, &group_id).await?;
    Ok(Json(only(group_bodies(&state.service, std::slice::from_ref(&group)).await?)?))
}

/// Add a member (owner only).
#[utoipa::path(post, path = "/v1/groups/{id}/members", tag = "groups", params(("id" = String, Path)), request_body = AddMemberRequest,
    responses((status = 200, body = GroupBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    Path(id): Path<String>,
    body: JsonBody<AddMemberRequest>,
) -> ApiResult<Response> {
    let by = caller.user()?.id.clone();
    let group_id = hongbao_core::GroupId::parse(&id).map_err(|_| ApiError::not_found("group"))?;
    let user_id = parse_user_id("user_id", &body.value.user_id)?;
    write(&state, &caller, key, &uri, &body.raw, Op::AddMember { group_id, by, user_id }, Answer { status: StatusCode::OK, body: group_body }).await
}

/// Remove a member (owner only).
#[utoipa::path(delete, path = "/v1/groups/{id}/members/{user_id}", tag = "groups", params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 200, body = GroupBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn remove_member(State(state): State<AppState>, caller: Caller, Path((id, user_id)): Path<(String, String)>) -> ApiResult<Response> {
    let by = caller.user()?.id.clone();
    let group_id = hongbao_core::GroupId::parse(&id).map_err(|_| ApiError::not_found("group"))?;
    let user_id = hongbao_core::UserId::parse(&user_id).map_err(|_| ApiError::not_found("member"))?;
    let outcome = state.service.execute(Op::RemoveMember { group_id, by, user_id }).await?;
    let body = group_body(&outcome).ok_or_else(|| ApiError::from(hongbao_service::ServiceError::Internal("unexpected outcome".into())))?;
    Ok(json_response(StatusCode::OK, serde_json::to_vec(&body).expect("serializes"), false))
}

/// Send a red packet. The total moves from the sender's wallet into the packet's escrow.
#[utoipa::path(post, path = "/v1/packets", tag = "packets", request_body = CreatePacketRequest,
    responses((status = 201, body = PacketBody), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn create_packet(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    confirmation: ConfirmationToken,
    uri: Uri,
    body: JsonBody<CreatePacketRequest>,
) -> ApiResult<Response> {
    let sender_id = caller.user()?.id.clone();
    let JsonBody { value, raw } = body;
    let (spec, greeting) = value.into_spec()?;
    let op = caller.via_key(Op::SendPacket { sender_id, spec, greeting, confirmation: confirmation.0 });
    write(&state, &caller, key, &uri, &raw, op, Answer { status: StatusCode::CREATED, body: packet_body }).await
}

/// A packet with its claims, for its sender and audience.
#[utoipa::path(get, path = "/v1/packets/{id}", tag = "packets", params(("id" = String, Path)), responses((status = 200, body = PacketBody), (status = 404, body = Problem)))]
pub async fn get_packet(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<PacketBody>> {
    let view = state.service.packet(&caller.0, &parse_packet_id(&id)?).await?;
    Ok(Json(only(packet_bodies(&state.service, std::slice::from_ref(&view)).await?)?))
}

/// Claim (抢) one share. At most once per user; the share reaches the wallet in the same transaction.
#[utoipa::path(post, path = "/v1/packets/{id}/claim", tag = "packets", params(("id" = String, Path)),
    responses((status = 200, body = ClaimResultBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 410, body = Problem)))]
pub async fn claim(State(state): State<AppState>, caller: Caller, key: IdempotencyKey, uri: Uri, Path(id): Path<String>) -> ApiResult<Response> {
    let user_id = caller.user()?.id.clone();
    let packet_id = parse_packet_id(&id)?;
    let body_of = |outcome: &Outcome| match outcome {
        Outcome::Claimed { packet_id, claim } => Some(ClaimResultBody::new(packet_id, claim)),
        _ => None,
    };
    write(&state, &caller, key, &uri, b"", Op::Claim { packet_id, user_id }, Answer { status: StatusCode::OK, body: body_of }).await
}

/// Recall (撤回) an open packet: unclaimed shares return to the sender at once.
#[utoipa::path(post, path = "/v1/packets/{id}/recall", tag = "packets", params(("id" = String, Path)),
    responses((status = 200, body = PacketBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn recall(State(state): State<AppState>, caller: Caller, key: IdempotencyKey, uri: Uri, Path(id): Path<String>) -> ApiResult<Response> {
    let user_id = caller.user()?.id.clone();
    let packet_id = parse_packet_id(&id)?;
    write(&state, &caller, key, &uri, b"", Op::Recall { packet_id, user_id }, Answer { status: StatusCode::OK, body: packet_body }).await
}

/// The caller's transactions, newest first, each with its change to the caller's wallet.
#[utoipa::path(get, path = "/v1/transactions", tag = "transactions",
    params(("limit" = Option<u32>, Query, description = "1 to 200, default 50"), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = TransactionList), (status = 400, body = Problem)))]
pub async fn list_transactions(State(state): State<AppState>, caller: Caller, list: ListParams) -> ApiResult<Json<TransactionList>> {
    let user_id = caller.user()?.id.clone();
    let mut entries = state.service.transactions(&user_id, list.before_seq()?, list.limit + 1).await?;
    let next_cursor = if entries.len() > list.limit as usize {
        entries.truncate(list.limit as usize);
        entries.last().map(|entry| encode_seq_cursor(entry.seq))
    } else {
        None
    };
    Ok(Json(TransactionList { data: transaction_bodies(&state.service, &user_id, &entries).await?, next_cursor }))
}

/// One transaction, for the users it concerns and operators.
#[utoipa::path(get, path = "/v1/transactions/{txn_no}", tag = "transactions", params(("txn_no" = String, Path)),
    responses((status = 200, body = TransactionBody), (status = 404, body = Problem)))]
pub async fn get_transaction(State(state): State<AppState>, caller: Caller, Path(txn_no): Path<String>) -> ApiResult<Json<TransactionBody>> {
    let txn_no = TxnNo::parse(&txn_no).map_err(|_| ApiError::not_found("transaction"))?;
    let entry = state.service.transaction(&caller.0, &txn_no).await?;
    Ok(Json(TransactionBody::new(&entry)))
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "operational", security(()), responses((status = 200, body = HealthBody)))]
pub async fn healthz() -> Json<HealthBody> {
    Json(HealthBody { status: "ok".into() })
}

fn parse_transfer_id(text: &str) -> ApiResult<TransferId> {
    TransferId::parse(text).map_err(|_| ApiError::not_found("transfer"))
}

fn parse_return_request_id(text: &str) -> ApiResult<ReturnRequestId> {
    ReturnRequestId::parse(text).map_err(|_| ApiError::not_found("return request"))
}

/// Send a transfer (转账). The amount moves into the transfer's hold at once.
#[utoipa::path(post, path = "/v1/transfers", tag = "transfers", request_body = CreateTransferRequest,
    responses((status = 201, body = TransferBody), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn create_transfer(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    confirmation: ConfirmationToken,
    uri: Uri,
    body: JsonBody<CreateTransferRequest>,
) -> ApiResult<Response> {
    let sender_id = caller.user()?.id.clone();
    let request = &body.value;
    let arrival = Arrival::parse(&request.arrival).ok_or_else(|| ApiError::validation("arrival must be instant, delay_2h or delay_24h"))?;
    let op = caller.via_key(Op::SendTransfer {
        sender_id,
        recipient_id: parse_user_id("recipient_id", &request.recipient_id)?,
        amount: parse_amount("amount", request.amount)?,
        memo: request.memo.clone(),
        arrival,
        confirmation: confirmation.0,
    });
    write(&state, &caller, key, &uri, &body.raw, op, Answer { status: StatusCode::CREATED, body: transfer_body }).await
}

/// A transfer, for its sender and recipient.
#[utoipa::path(get, path = "/v1/transfers/{id}", tag = "transfers", params(("id" = String, Path)), responses((status = 200, body = TransferBody), (status = 404, body = Problem)))]
pub async fn get_transfer(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<TransferBody>> {
    let transfer = state.service.transfer(&caller.0, &parse_transfer_id(&id)?).await?;
    Ok(Json(only(transfer_bodies(&state.service, std::slice::from_ref(&transfer)).await?)?))
}

async fn transfer_step(state: AppState, caller: Caller, key: IdempotencyKey, uri: Uri, id: String, step: fn(TransferId, UserId) -> Op) -> ApiResult<Response> {
    let user_id = caller.user()?.id.clone();
    let op = step(parse_transfer_id(&id)?, user_id);
    write(&state, &caller, key, &uri, b"", op, Answer { status: StatusCode::OK, body: transfer_body }).await
}

/// Accept a transfer (recipient). It settles at once, or at its arrival time if that is later.
#[utoipa::path(post, path = "/v1/transfers/{id}/accept", tag = "transfers", params(("id" = String, Path)),
    responses((status = 200, body = TransferBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn accept_transfer(State(state): State<AppState>, caller: Caller, key: IdempotencyKey, uri: Uri, Path(id): Path<String>) -> ApiResult<Response> {
    transfer_step(state, caller, key, uri, id, |transfer_id, user_id| Op::AcceptTransfer { transfer_id, user_id }).await
}

/// Return a transfer before it settles (recipient, 退还). The money goes back to the sender at once.
#[utoipa::path(post, path = "/v1/transfers/{id}/return", tag = "transfers", params(("id" = String, Path)),
    responses((status = 200, body = TransferBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn return_transfer(State(state): State<AppState>, caller: Caller, key: IdempotencyKey, uri: Uri, Path(id): Path<String>) -> ApiResult<Response> {
    transfer_step(state, caller, key, uri, id, |transfer_id, user_id| Op::ReturnTransfer { transfer_id, user_id }).await
}

/// Cancel a delayed transfer before it settles (sender). The money comes back at once.
#[utoipa::path(post, path = "/v1/transfers/{id}/cancel", tag = "transfers", params(("id" = String, Path)),
    responses((status = 200, body = TransferBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn cancel_transfer(State(state): State<AppState>, caller: Caller, key: IdempotencyKey, uri: Uri, Path(id): Path<String>) -> ApiResult<Response> {
    transfer_step(state, caller, key, uri, id, |transfer_id, user_id| Op::CancelTransfer { transfer_id, user_id }).await
}

/// Ask the recipient of a settled claim or transfer to give back all or part of it (协商退还).
#[utoipa::path(post, path = "/v1/return-requests", tag = "return requests", request_body = CreateReturnRequest,
    responses((status = 201, body = ReturnRequestBody), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn create_return_request(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    body: JsonBody<CreateReturnRequest>,
) -> ApiResult<Response> {
    let requester_id = caller.user()?.id.clone();
    let request = &body.value;
    let op = Op::CreateReturnRequest {
        requester_id,
        txn_no: TxnNo::parse(&request.txn_no).map_err(|error| ApiError::validation(format!("txn_no: {error}")))?,
        amount: request.amount.map(|units| parse_amount("amount", units)).transpose()?,
        reason: request.reason.clone(),
        respond_within_seconds: request.respond_within_seconds,
    };
    write(&state, &caller, key, &uri, &body.raw, op, Answer { status: StatusCode::CREATED, body: return_request_body }).await
}

/// The caller's return requests, newest first: `?role=sent` those they made, `?role=received` those
/// they were asked; both without `role`.
#[utoipa::path(get, path = "/v1/return-requests", tag = "return requests",
    params(("role" = Option<String>, Query, description = "sent or received"), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ReturnRequestList), (status = 400, body = Problem)))]
pub async fn list_return_requests(State(state): State<AppState>, caller: Caller, list: ListParams) -> ApiResult<Json<ReturnRequestList>> {
    let user_id = caller.user()?.id.clone();
    let role = match list.role.as_deref() {
        None => None,
        Some("sent") => Some(ReturnRole::Sent),
        Some("received") => Some(ReturnRole::Received),
        Some(_) => return Err(ApiError::validation("role must be sent or received")),
    };
    let mut requests = state.service.return_requests(&user_id, role, list.after_position()?, list.limit + 1).await?;
    let next_cursor = if requests.len() > list.limit as usize {
        requests.truncate(list.limit as usize);
        requests.last().map(|request| encode_position_cursor(&ListPosition { created_at: request.created_at, id: request.id.to_string() }))
    } else {
        None
    };
    Ok(Json(ReturnRequestList { data: return_request_bodies(&state.service, &requests).await?, next_cursor }))
}

/// A return request, for its two parties.
#[utoipa::path(get, path = "/v1/return-requests/{id}", tag = "return requests", params(("id" = String, Path)),
    responses((status = 200, body = ReturnRequestBody), (status = 404, body = Problem)))]
pub async fn get_return_request(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<ReturnRequestBody>> {
    let request = state.service.return_request(&caller.0, &parse_return_request_id(&id)?).await?;
    Ok(Json(only(return_request_bodies(&state.service, std::slice::from_ref(&request)).await?)?))
}

/// Accept a return request (recipient): the amount goes back in a new `return` transaction that
/// references the original; refused with `insufficient_funds` when the available balance is short.
#[utoipa::path(post, path = "/v1/return-requests/{id}/accept", tag = "return requests", params(("id" = String, Path)),
    responses((status = 200, body = ReturnRequestBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn accept_return_request(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let user_id = caller.user()?.id.clone();
    let op = Op::AcceptReturnRequest { request_id: parse_return_request_id(&id)?, user_id };
    write(&state, &caller, key, &uri, b"", op, Answer { status: StatusCode::OK, body: return_request_body }).await
}

/// Decline a return request (recipient), with an optional reason.
#[utoipa::path(post, path = "/v1/return-requests/{id}/decline", tag = "return requests", params(("id" = String, Path)), request_body = Option<DeclineReturnRequest>,
    responses((status = 200, body = ReturnRequestBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn decline_return_request(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    uri: Uri,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    let user_id = caller.user()?.id.clone();
    // The body is optional: none, `null`, or an object with an optional reason.
    let reason = if body.is_empty() {
        None
    } else {
        serde_json::from_slice::<Option<DeclineReturnRequest>>(&body)
            .map_err(|error| ApiError::validation(format!("invalid JSON body: {error}")))?
            .and_then(|request| request.reason)
    };
    let op = Op::DeclineReturnRequest { request_id: parse_return_request_id(&id)?, user_id, reason };
    write(&state, &caller, key, &uri, &body, op, Answer { status: StatusCode::OK, body: return_request_body }).await
}
