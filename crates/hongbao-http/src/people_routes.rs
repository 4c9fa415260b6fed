//! People in the API: display names and their changes, who may see whose name, contacts to pick from
//! instead of pasting ids, one-to-one conversations, a user's transfers as a list, and the operators'
//! user search. It also puts names into the answers about groups, packets, transfers and return
//! requests: whoever may see such a thing may see the names of the people it names.
//!
//! The rule of who may see a name lives in the service (`hongbao_service::names`): a user sees their
//! own, their groups' members', and those of everyone they have dealt with; anyone else is 404.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use hongbao_core::UserId;
use hongbao_core::returns::ReturnRequest;
use hongbao_core::transfer::{Transfer, TransferStatus};
use hongbao_service::names::{ConversationItem, Names};
use hongbao_service::{Op, Outcome, PacketView, Principal, ProfileOp, Service};
use hongbao_store::{Group, ListPosition, TransferRole, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::case_dto::OperatorBody;
use crate::dto::{GroupBody, PacketBody, PersonBody, ReturnRequestBody, TransactionBody, TransferBody, TransferList, UserBody};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Caller, JsonBody, ListParams, Path, encode_position_cursor};
use crate::routes::json_response;

/// An answer about groups names at most this many members in all, so that a list of many groups (or
/// one live-stream room) stays cheap; the groups past it list their member ids only, and a client asks
/// for the names it needs.
pub const NAMED_MEMBERS_MAX: usize = 1_000;

// ---- shapes ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    /// The new display name: 1 to 64 characters, no control characters; spaces around it are dropped.
    pub name: String,
}

/// Someone the caller may pick: a member of one of their groups or someone they have dealt with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactBody {
    pub id: String,
    pub name: String,
    /// They are members of a group together.
    pub shares_group: bool,
    /// They have paid each other: a packet, a transfer, a return or a refund between them.
    pub dealt_with: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactList {
    /// By name, ignoring case, then id.
    pub data: Vec<ContactBody>,
    pub next_cursor: Option<String>,
}

/// A user as the platform's staff see them in a search.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserRecordBody {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserSearchList {
    /// The best `limit` matches, by name then id; narrow `q` to find others.
    pub data: Vec<UserRecordBody>,
    /// Always null: a search is one page.
    pub next_cursor: Option<String>,
}

/// One item of a one-to-one conversation: a transfer or a packet, whichever `kind` says.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationItemBody {
    /// `transfer` or `packet`.
    pub kind: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet: Option<PacketBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationBody {
    /// The other person.
    pub user: PersonBody,
    /// Transfers between the two and packets one sent the other by name, newest first.
    pub data: Vec<ConversationItemBody>,
    pub next_cursor: Option<String>,
}

/// Who a token belongs to, so that a client can choose its screens without a request that fails.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoamiBody {
    /// `user`, `operator` or `admin`.
    pub kind: String,
    /// For a user: their id and display name as they are now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserBody>,
    /// For an operator: who they are and their role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<OperatorBody>,
}

// ---- names in answers ----

/// The names of `ids`, as an answer's `names`.
fn names_of<'a>(names: &Names, ids: impl IntoIterator<Item = &'a UserId>) -> crate::dto::Names {
    ids.into_iter().filter_map(|id| names.get(id).map(|name| (id.to_string(), name.to_owned()))).collect()
}

fn packet_people(view: &PacketView) -> impl Iterator<Item = &UserId> {
    std::iter::once(&view.packet.sender_id).chain(view.packet.audience.recipient_id()).chain(view.claims.iter().map(|claim| &claim.user_id))
}

/// Packets as the API shows them, with the names of their sender, recipient and claimers.
pub(crate) async fn packet_bodies(service: &Service, views: &[PacketView]) -> ApiResult<Vec<PacketBody>> {
    let names = service.names(views.iter().flat_map(packet_people).cloned().collect()).await?;
    Ok(views.iter().map(|view| named_packet(view, &names)).collect())
}

fn named_packet(view: &PacketView, names: &Names) -> PacketBody {
    PacketBody { names: Some(names_of(names, packet_people(view))), ..PacketBody::from(view) }
}

/// Groups with their members' names, as long as the answer names at most [`NAMED_MEMBERS_MAX`] in all.
pub(crate) async fn group_bodies(service: &Service, groups: &[Group]) -> ApiResult<Vec<GroupBody>> {
    let mut budget = NAMED_MEMBERS_MAX;
    let named: Vec<bool> = groups
        .iter()
        .map(|group| {
            let fits = group.member_ids.len() <= budget;
            if fits {
                budget -= group.member_ids.len();
            }
            fits
        })
        .collect();
    let ids = groups.iter().zip(&named).filter(|(_, named)| **named).flat_map(|(group, _)| group.member_ids.iter().cloned()).collect();
    let names = service.names(ids).await?;
    Ok(groups
        .iter()
        .zip(named)
        .map(|(group, named)| GroupBody { names: named.then(|| names_of(&names, &group.member_ids)), ..GroupBody::from(group) })
        .collect())
}

/// Transfers with the names of their two parties.
pub(crate) async fn transfer_bodies(service: &Service, transfers: &[Transfer]) -> ApiResult<Vec<TransferBody>> {
    let names = service.names(transfers.iter().flat_map(|transfer| [transfer.sender_id.clone(), transfer.recipient_id.clone()]).collect()).await?;
    Ok(transfers.iter().map(|transfer| named_transfer(transfer, &names)).collect())
}

fn named_transfer(transfer: &Transfer, names: &Names) -> TransferBody {
    TransferBody { names: Some(names_of(names, [&transfer.sender_id, &transfer.recipient_id])), ..TransferBody::from(transfer) }
}

/// Return requests with the names of their two parties.
pub(crate) async fn return_request_bodies(service: &Service, requests: &[ReturnRequest]) -> ApiResult<Vec<ReturnRequestBody>> {
    let names = service.names(requests.iter().flat_map(|request| [request.requester_id.clone(), request.recipient_id.clone()]).collect()).await?;
    Ok(requests
        .iter()
        .map(|request| ReturnRequestBody { names: Some(names_of(&names, [&request.requester_id, &request.recipient_id])), ..ReturnRequestBody::from(request) })
        .collect())
}

/// A user's transactions as their list shows them: each with its change to the wallet and the names of
/// the users it concerns (the user is one of them, so may see the others).
pub(crate) async fn transaction_bodies(service: &Service, user_id: &UserId, entries: &[hongbao_store::JournalEntry]) -> ApiResult<Vec<TransactionBody>> {
    let parties = service.parties_of(entries.iter().map(|entry| entry.seq).collect()).await?;
    let names = service.names(parties.iter().flatten().cloned().collect()).await?;
    let wallet = hongbao_core::Account::Wallet(user_id.clone());
    Ok(entries
        .iter()
        .zip(&parties)
        .map(|(entry, parties)| TransactionBody {
            wallet_delta: Some(entry.txn.delta_for(&wallet)),
            names: Some(names_of(&names, parties)),
            ..TransactionBody::new(entry)
        })
        .collect())
}

/// The one element of a list of one.
pub(crate) fn only<T>(items: Vec<T>) -> ApiResult<T> {
    items.into_iter().next().ok_or_else(|| ApiError::from(hongbao_service::ServiceError::Internal("a list of one came back empty".into())))
}

// ---- routes ----

/// Who the caller is: a user, an operator or the admin. Any valid token may ask.
#[utoipa::path(get, path = "/v1/whoami", tag = "users", responses((status = 200, body = WhoamiBody), (status = 401, body = Problem)))]
pub async fn whoami(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<WhoamiBody>> {
    Ok(Json(match &caller.0 {
        Principal::User(user) => WhoamiBody { kind: "user".into(), user: Some(UserBody::from(&state.service.current_user(&user.id).await?)), operator: None },
        Principal::Operator(operator) => WhoamiBody { kind: "operator".into(), user: None, operator: Some(OperatorBody::from(operator)) },
        Principal::Admin => WhoamiBody { kind: "admin".into(), user: None, operator: None },
    }))
}

/// Change the caller's display name. Everyone who may see the caller sees the new name at once.
#[utoipa::path(patch, path = "/v1/me", tag = "users", request_body = UpdateMeRequest,
    responses((status = 200, body = UserBody), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn update_me(State(state): State<AppState>, caller: Caller, body: JsonBody<UpdateMeRequest>) -> ApiResult<Response> {
    let user_id = caller.user()?.id.clone();
    let outcome = state.service.execute(Op::Profile(ProfileOp::Rename { user_id, name: body.value.name })).await?;
    let Outcome::User(user) = outcome else {
        return Err(hongbao_service::ServiceError::Internal("a rename produced no user".into()).into());
    };
    Ok(json_response(StatusCode::OK, serde_json::to_vec(&UserBody::from(&user)).expect("a user always serializes"), false))
}

/// A user's id and name, for someone who may see it: the user, members of a group with them, people
/// who have dealt with them (a packet, a transfer, a return, a case refund), and the platform's staff.
/// Anyone else gets 404, as for an id that names nobody.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", params(("id" = String, Path)),
    responses((status = 200, body = PersonBody), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_user(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<PersonBody>> {
    let user_id = UserId::parse(&id).map_err(|_| ApiError::not_found("user"))?;
    let user = state.service.person(&caller.0, &user_id).await?;
    Ok(Json(PersonBody { id: user.id.to_string(), name: user.name }))
}

/// The caller's contacts: everyone they share a group with or have dealt with, by name, to pick from
/// instead of pasting ids. At most 2,000 people: the most recent counterparties, then the members of
/// the newest groups.
#[utoipa::path(get, path = "/v1/contacts", tag = "users", params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ContactList), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_contacts(State(state): State<AppState>, caller: Caller, list: ListParams) -> ApiResult<Json<ContactList>> {
    let user_id = caller.user()?.id.clone();
    let start = match list.cursor.as_deref() {
        None => 0,
        Some(cursor) => cursor
            .strip_prefix('o')
            .and_then(|offset| offset.parse::<usize>().ok())
            .ok_or_else(|| ApiError::validation("cursor is not one this server gave out"))?,
    };
    let contacts = state.service.contacts(&user_id).await?;
    let end = start.saturating_add(list.limit as usize).min(contacts.len());
    let next_cursor = (end < contacts.len()).then(|| format!("o{end}"));
    let data = contacts
        .get(start.min(end)..end)
        .unwrap_or_default()
        .iter()
        .map(|contact| ContactBody {
            id: contact.user.id.to_string(),
            name: contact.user.name.clone(),
            shares_group: contact.shares_group,
            dealt_with: contact.dealt_with,
        })
        .collect();
    Ok(Json(ContactList { data, next_cursor }))
}

/// Find users by name or id (operators and the admin): `q` is matched against the start of ids and
/// anywhere in names, ignoring ASCII case.
#[utoipa::path(get, path = "/v1/ops/users", tag = "ops",
    params(("q" = String, Query, description = "1 to 64 characters"), ("limit" = Option<u32>, Query, description = "1 to 200, default 50")),
    responses((status = 200, body = UserSearchList), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn search_users(
    State(state): State<AppState>,
    caller: Caller,
    list: ListParams,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<UserSearchList>> {
    let text = query.get("q").map(String::as_str).unwrap_or_default();
    let users: Vec<User> = state.service.search_users(&caller.0, text, list.limit).await?;
    let data = users.into_iter().map(|user| UserRecordBody { id: user.id.to_string(), name: user.name, created_at: user.created_at.to_rfc3339() }).collect();
    Ok(Json(UserSearchList { data, next_cursor: None }))
}

/// The caller's transfers, newest first, with names: `?role=received&status=pending` are those
/// waiting for the caller to accept them.
#[utoipa::path(get, path = "/v1/transfers", tag = "transfers",
    params(("role" = Option<String>, Query, description = "sent or received; both when absent"),
        ("status" = Option<String>, Query, description = "pending, accepted, settled, returned, cancelled or expired"),
        ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = TransferList), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_transfers(State(state): State<AppState>, caller: Caller, list: ListParams) -> ApiResult<Json<TransferList>> {
    let user_id = caller.user()?.id.clone();
    let role = match list.role.as_deref() {
        None => None,
        Some("sent") => Some(TransferRole::Sent),
        Some("received") => Some(TransferRole::Received),
        Some(_) => return Err(ApiError::validation("role must be sent or received")),
    };
    let status = match list.filter("status") {
        None => None,
        Some(text) => {
            Some(TransferStatus::parse(text).ok_or_else(|| ApiError::validation("status must be pending, accepted, settled, returned, cancelled or expired"))?)
        }
    };
    let mut transfers = state.service.transfers_of(&user_id, role, status, list.after_position()?, list.limit + 1).await?;
    let next_cursor = if transfers.len() > list.limit as usize {
        transfers.truncate(list.limit as usize);
        transfers.last().map(|transfer| encode_position_cursor(&ListPosition { created_at: transfer.created_at, id: transfer.id.to_string() }))
    } else {
        None
    };
    Ok(Json(TransferList { data: transfer_bodies(&state.service, &transfers).await?, next_cursor }))
}

/// The caller's one-to-one conversation with someone they may see: the transfers between them and the
/// packets one sent the other by name (one-to-one and exclusive), newest first, with names. 404 for
/// someone the caller may not see, and for the caller themselves.
#[utoipa::path(get, path = "/v1/conversations/{user_id}", tag = "users", params(("user_id" = String, Path), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ConversationBody), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_conversation(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    list: ListParams,
) -> ApiResult<Json<ConversationBody>> {
    let viewer_id = caller.user()?.id.clone();
    let other_id = UserId::parse(&user_id).map_err(|_| ApiError::not_found("user"))?;
    let (other, mut items) = state.service.conversation(&viewer_id, &other_id, list.after_position()?, list.limit + 1).await?;
    let next_cursor = if items.len() > list.limit as usize {
        items.truncate(list.limit as usize);
        items.last().map(|item| encode_position_cursor(&item.position()))
    } else {
        None
    };
    let mut ids = vec![viewer_id, other_id];
    for item in &items {
        if let ConversationItem::Packet(view) = item {
            ids.extend(packet_people(view).cloned());
        }
    }
    let names = state.service.names(ids).await?;
    let data = items
        .iter()
        .map(|item| match item {
            ConversationItem::Transfer(transfer) => ConversationItemBody {
                kind: "transfer".into(),
                created_at: transfer.created_at.to_rfc3339(),
                transfer: Some(named_transfer(transfer, &names)),
                packet: None,
            },
            ConversationItem::Packet(view) => ConversationItemBody {
                kind: "packet".into(),
                created_at: view.packet.created_at.to_rfc3339(),
                transfer: None,
                packet: Some(named_packet(view, &names)),
            },
        })
        .collect();
    Ok(Json(ConversationBody { user: PersonBody { id: other.id.to_string(), name: other.name }, data, next_cursor }))
}
