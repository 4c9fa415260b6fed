//! The JSON shapes of the API and their conversions to and from core types. Only this crate knows JSON.

use hongbao_core::packet::{Audience, PacketSpec};
use hongbao_core::returns::ReturnRequest;
use hongbao_core::transfer::Transfer;
use hongbao_core::{Amount, GroupId, PacketId, TxnNo, UserId};
use hongbao_service::{PacketView, Wallet};
use hongbao_store::{Claim, Group, JournalEntry, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

// ---- requests ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUpRequest {
    pub user_id: String,
    /// Minor units.
    pub amount: i64,
    /// The platform's external reference for this top-up.
    pub reference: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalRequest {
    /// Minor units.
    pub amount: i64,
    pub reference: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    pub name: String,
    #[serde(default)]
    pub member_ids: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    pub user_id: String,
}

/// A new packet. Which fields apply depends on `kind` and the audience; see the API description.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePacketRequest {
    /// `normal`, `lucky`, `timed` or `exclusive`.
    pub kind: String,
    pub group_id: Option<String>,
    pub recipient_id: Option<String>,
    /// Normal packets: minor units per share.
    pub amount_per_share: Option<i64>,
    /// Lucky, timed and exclusive packets: minor units in all.
    pub total_amount: Option<i64>,
    pub shares: Option<i64>,
    /// Timed packets: the countdown, default 60.
    pub expires_in_seconds: Option<i64>,
    pub greeting: Option<String>,
}

pub fn parse_amount(field: &str, units: i64) -> Result<Amount, ApiError> {
    Amount::positive(units).map_err(|error| ApiError::validation(format!("{field}: {error}")))
}

pub fn parse_user_id(field: &str, text: &str) -> Result<UserId, ApiError> {
    UserId::parse(text).map_err(|error| ApiError::validation(format!("{field}: {error}")))
}

pub fn parse_group_id(field: &str, text: &str) -> Result<GroupId, ApiError> {
    GroupId::parse(text).map_err(|error| ApiError::validation(format!("{field}: {error}")))
}

impl CreatePacketRequest {
    /// The typed spec, refusing fields that do not apply to the kind and audience.
    pub fn into_spec(self) -> Result<(PacketSpec, Option<String>), ApiError> {
        let CreatePacketRequest { kind, group_id, recipient_id, amount_per_share, total_amount, shares, expires_in_seconds, greeting } = self;
        let group_id = group_id.as_deref().map(|id| parse_group_id("group_id", id)).transpose()?;
        let recipient_id = recipient_id.as_deref().map(|id| parse_user_id("recipient_id", id)).transpose()?;
        let shares = shares.map(|shares| u32::try_from(shares).map_err(|_| ApiError::validation("shares must be a positive integer"))).transpose()?;
        let absent = |present: bool, field: &str| {
            if present { Err(ApiError::validation(format!("{field} does not apply to a {kind} packet with this audience"))) } else { Ok(()) }
        };
        let required = |field: &str| ApiError::validation(format!("{field} is required for a {kind} packet with this audience"));
        let per_share = amount_per_share.map(|units| parse_amount("amount_per_share", units)).transpose()?;
        let total = total_amount.map(|units| parse_amount("total_amount", units)).transpose()?;
        let spec = match (kind.as_str(), group_id, recipient_id) {
            ("normal", None, Some(recipient_id)) => {
                absent(total.is_some(), "total_amount")?;
                absent(expires_in_seconds.is_some(), "expires_in_seconds")?;
                absent(shares.is_some_and(|shares| shares != 1), "shares other than 1")?;
                PacketSpec::NormalToUser { recipient_id, amount_per_share: per_share.ok_or_else(|| required("amount_per_share"))? }
            }
            ("normal", Some(group_id), None) => {
                absent(total.is_some(), "total_amount")?;
                absent(expires_in_seconds.is_some(), "expires_in_seconds")?;
                PacketSpec::NormalToGroup {
                    group_id,
                    amount_per_share: per_share.ok_or_else(|| required("amount_per_share"))?,
                    shares: shares.ok_or_else(|| required("shares"))?,
                }
            }
            ("lucky", Some(group_id), None) => {
                absent(per_share.is_some(), "amount_per_share")?;
                absent(expires_in_seconds.is_some(), "expires_in_seconds")?;
                PacketSpec::Lucky { group_id, total_amount: total.ok_or_else(|| required("total_amount"))?, shares: shares.ok_or_else(|| required("shares"))? }
            }
            ("timed", Some(group_id), None) => {
                absent(per_share.is_some(), "amount_per_share")?;
                PacketSpec::TimedToGroup {
                    group_id,
                    total_amount: total.ok_or_else(|| required("total_amount"))?,
                    shares: shares.ok_or_else(|| required("shares"))?,
                    expires_in_seconds,
                }
            }
            ("timed", None, Some(recipient_id)) => {
                absent(per_share.is_some(), "amount_per_share")?;
                absent(shares.is_some_and(|shares| shares != 1), "shares other than 1")?;
                PacketSpec::TimedToUser { recipient_id, total_amount: total.ok_or_else(|| required("total_amount"))?, expires_in_seconds }
            }
            ("exclusive", Some(group_id), Some(recipient_id)) => {
                absent(per_share.is_some(), "amount_per_share")?;
                absent(expires_in_seconds.is_some(), "expires_in_seconds")?;
                absent(shares.is_some_and(|shares| shares != 1), "shares other than 1")?;
                PacketSpec::Exclusive { group_id, recipient_id, total_amount: total.ok_or_else(|| required("total_amount"))? }
            }
            ("normal" | "timed", Some(_), Some(_)) => {
                return Err(ApiError::validation(format!("a {kind} packet goes to a group_id or a recipient_id, not both")));
            }
            ("normal" | "timed", None, None) => return Err(ApiError::validation(format!("a {kind} packet needs a group_id or a recipient_id"))),
            ("lucky", _, _) => return Err(ApiError::validation("a lucky packet needs a group_id and no recipient_id")),
            ("exclusive", _, _) => return Err(ApiError::validation("an exclusive packet needs a group_id and a recipient_id")),
            _ => return Err(ApiError::validation(format!("kind must be normal, lucky, timed or exclusive, not {kind:?}"))),
        };
        Ok((spec, greeting))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTransferRequest {
    pub recipient_id: String,
    /// Minor units.
    pub amount: i64,
    /// At most 100 characters.
    pub memo: Option<String>,
    /// `instant`, `delay_2h` or `delay_24h`.
    pub arrival: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReturnRequest {
    /// The settled packet claim or transfer settlement to ask back.
    pub txn_no: String,
    /// Minor units; all that is left of the original when absent.
    pub amount: Option<i64>,
    pub reason: String,
    /// Default 259200 (72 h), at most 604800 (7 days).
    pub respond_within_seconds: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineReturnRequest {
    pub reason: Option<String>,
}

// ---- responses ----

#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    pub id: String,
    pub name: String,
}

impl From<&User> for UserBody {
    fn from(user: &User) -> UserBody {
        UserBody { id: user.id.to_string(), name: user.name.clone() }
    }
}

/// Display names by user id, of the people an answer names: put into the answers of reads (the
/// object as a write returns it has none), for a caller who may see the object and so its people.
pub type Names = std::collections::BTreeMap<String, String>;

/// Someone the caller may see: their id and display name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonBody {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUserBody {
    pub id: String,
    pub name: String,
    /// The user's bearer token. Shown once: null in a replay under the same `Idempotency-Key`.
    pub token: Option<String>,
    /// Present (true) only in a replay: the token was shown in the first answer and is not kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_withheld: Option<bool>,
}

impl CreatedUserBody {
    pub fn new(user: &User, token: &str) -> CreatedUserBody {
        CreatedUserBody { id: user.id.to_string(), name: user.name.clone(), token: Some(token.to_owned()), secret_withheld: None }
    }

    /// The answer as a replay gets it: the token withheld.
    pub fn withheld(self) -> CreatedUserBody {
        CreatedUserBody { token: None, secret_withheld: Some(true), ..self }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WalletBody {
    pub user_id: String,
    pub currency: String,
    pub balance: i64,
    pub frozen: i64,
    pub available: i64,
}

impl WalletBody {
    pub fn new(user_id: &UserId, currency: &str, wallet: Wallet) -> WalletBody {
        WalletBody {
            user_id: user_id.to_string(),
            currency: currency.to_owned(),
            balance: wallet.balance.minor_units(),
            frozen: wallet.frozen.minor_units(),
            available: wallet.available.minor_units(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupBody {
    pub id: String,
    pub name: String,
    pub owner_id: String,
    pub member_ids: Vec<String>,
    pub created_at: String,
    /// On reads: its members' display names, by id (an answer names at most 1,000 members in all;
    /// groups past that have none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub names: Option<Names>,
}

impl From<&Group> for GroupBody {
    fn from(group: &Group) -> GroupBody {
        GroupBody {
            id: group.id.to_string(),
            name: group.name.clone(),
            owner_id: group.owner_id.to_string(),
            member_ids: group.member_ids.iter().map(UserId::to_string).collect(),
            created_at: group.created_at.to_rfc3339(),
            names: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimBody {
    pub user_id: String,
    pub amount: i64,
    pub claimed_at: String,
    pub txn_no: String,
}

impl From<&Claim> for ClaimBody {
    fn from(claim: &Claim) -> ClaimBody {
        ClaimBody {
            user_id: claim.user_id.to_string(),
            amount: claim.amount.minor_units(),
            claimed_at: claim.claimed_at.to_rfc3339(),
            txn_no: claim.txn_no.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimResultBody {
    pub packet_id: String,
    pub user_id: String,
    pub amount: i64,
    pub txn_no: String,
    pub claimed_at: String,
}

impl ClaimResultBody {
    pub fn new(packet_id: &PacketId, claim: &Claim) -> ClaimResultBody {
        ClaimResultBody {
            packet_id: packet_id.to_string(),
            user_id: claim.user_id.to_string(),
            amount: claim.amount.minor_units(),
            txn_no: claim.txn_no.to_string(),
            claimed_at: claim.claimed_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PacketBody {
    pub id: String,
    /// `normal`, `lucky`, `timed` or `exclusive`.
    pub kind: String,
    pub sender_id: String,
    pub group_id: Option<String>,
    pub recipient_id: Option<String>,
    pub greeting: String,
    pub total_amount: i64,
    pub shares: u32,
    pub claimed_count: u32,
    pub claimed_amount: i64,
    pub remaining_count: u32,
    pub remaining_amount: i64,
    /// `open`, `exhausted`, `expired` or `recalled`.
    pub status: String,
    pub created_at: String,
    pub expires_at: String,
    pub finished_at: Option<String>,
    pub refunded_amount: i64,
    pub send_txn_no: String,
    pub refund_txn_no: Option<String>,
    pub luckiest_user_id: Option<String>,
    /// In claim order.
    pub claims: Vec<ClaimBody>,
    /// On reads: the display names of the people the packet names (its sender, its recipient, its
    /// claimers), by id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub names: Option<Names>,
}

impl From<&PacketView> for PacketBody {
    fn from(view: &PacketView) -> PacketBody {
        let packet = &view.packet;
        let (remaining_count, remaining_amount) = match packet.status {
            hongbao_core::PacketStatus::Open => (packet.remaining_count(), packet.remaining_amount().minor_units()),
            _ => (0, 0),
        };
        PacketBody {
            id: packet.id.to_string(),
            kind: packet.kind.as_str().to_owned(),
            sender_id: packet.sender_id.to_string(),
            group_id: packet.audience.group_id().map(GroupId::to_string),
            recipient_id: match &packet.audience {
                Audience::Group(_) => None,
                other => other.recipient_id().map(UserId::to_string),
            },
            greeting: packet.greeting.clone(),
            total_amount: packet.total_amount.minor_units(),
            shares: packet.shares,
            claimed_count: packet.claimed_count,
            claimed_amount: packet.claimed_amount.minor_units(),
            remaining_count,
            remaining_amount,
            status: packet.status.as_str().to_owned(),
            created_at: packet.created_at.to_rfc3339(),
            expires_at: packet.expires_at.to_rfc3339(),
            finished_at: packet.finished_at.map(|at| at.to_rfc3339()),
            refunded_amount: packet.refunded_amount.minor_units(),
            send_txn_no: packet.send_txn_no.to_string(),
            refund_txn_no: packet.refund_txn_no.as_ref().map(TxnNo::to_string),
            luckiest_user_id: packet.luckiest_user_id.as_ref().map(UserId::to_string),
            claims: view.claims.iter().map(ClaimBody::from).collect(),
            names: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostingBody {
    /// `wallet:usr_…`, `escrow:pkt_…`, `hold:trf_…`, `platform:funding` or `platform:payout`.
    pub account: String,
    /// Signed minor units; a transaction's postings sum to zero.
    pub amount: i64,
}

/// The ids a transaction concerns; only those that apply are present.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct RelatedBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrects_txn_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_request_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionBody {
    pub txn_no: String,
    pub kind: String,
    pub created_at: String,
    pub amount: i64,
    pub memo: Option<String>,
    pub reference: Option<String>,
    pub related: RelatedBody,
    pub postings: Vec<PostingBody>,
    /// Position in the hash-chained journal.
    pub journal_seq: u64,
    /// This entry's SHA-256 chain hash, hex.
    pub journal_hash: String,
    /// In lists only: the signed change to the caller's wallet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet_delta: Option<i64>,
    /// In lists only: the display names of the users the transaction concerns, by id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub names: Option<Names>,
}

impl TransactionBody {
    pub fn new(entry: &JournalEntry) -> TransactionBody {
        let txn = &entry.txn;
        let related = txn.related();
        TransactionBody {
            txn_no: txn.txn_no().to_string(),
            kind: txn.kind().as_str().to_owned(),
            created_at: txn.created_at().to_rfc3339(),
            amount: txn.amount().minor_units(),
            memo: txn.memo().map(str::to_owned),
            reference: txn.reference().map(str::to_owned),
            related: RelatedBody {
                packet_id: related.packet_id.as_ref().map(PacketId::to_string),
                transfer_id: related.transfer_id.as_ref().map(ToString::to_string),
                corrects_txn_no: related.corrects_txn_no.as_ref().map(TxnNo::to_string),
                return_request_id: related.return_request_id.as_ref().map(ToString::to_string),
            },
            postings: txn.postings().iter().map(|posting| PostingBody { account: posting.account.to_string(), amount: posting.amount }).collect(),
            journal_seq: entry.seq,
            journal_hash: entry.hash.to_hex(),
            wallet_delta: None,
            names: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionList {
    pub data: Vec<TransactionBody>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransferBody {
    pub id: String,
    pub sender_id: String,
    pub recipient_id: String,
    pub amount: i64,
    pub memo: Option<String>,
    /// `instant`, `delay_2h` or `delay_24h`.
    pub arrival: String,
    /// `pending`, `accepted`, `settled`, `returned`, `cancelled` or `expired`.
    pub status: String,
    pub created_at: String,
    pub arrives_at: String,
    pub accept_by: String,
    pub accepted_at: Option<String>,
    pub settled_at: Option<String>,
    pub finished_at: Option<String>,
    /// The send, then the settlement or the refund.
    pub txn_nos: Vec<String>,
    /// On reads: the display names of its sender and recipient, by id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub names: Option<Names>,
}

impl From<&Transfer> for TransferBody {
    fn from(transfer: &Transfer) -> TransferBody {
        TransferBody {
            id: transfer.id.to_string(),
            sender_id: transfer.sender_id.to_string(),
            recipient_id: transfer.recipient_id.to_string(),
            amount: transfer.amount.minor_units(),
            memo: transfer.memo.clone(),
            arrival: transfer.arrival.as_str().to_owned(),
            status: transfer.status.as_str().to_owned(),
            created_at: transfer.created_at.to_rfc3339(),
            arrives_at: transfer.arrives_at.to_rfc3339(),
            accept_by: transfer.accept_by.to_rfc3339(),
            accepted_at: transfer.accepted_at.map(|at| at.to_rfc3339()),
            settled_at: transfer.settled_at.map(|at| at.to_rfc3339()),
            finished_at: transfer.finished_at.map(|at| at.to_rfc3339()),
            txn_nos: transfer.txn_nos.iter().map(TxnNo::to_string).collect(),
            names: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnRequestBody {
    pub id: String,
    pub txn_no: String,
    pub requester_id: String,
    pub recipient_id: String,
    pub amount: i64,
    pub reason: String,
    /// `pending`, `accepted`, `declined` or `expired`.
    pub status: String,
    pub created_at: String,
    pub respond_by: String,
    pub responded_at: Option<String>,
    pub decline_reason: Option<String>,
    pub return_txn_no: Option<String>,
    /// On reads: the display names of the requester and the recipient, by id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub names: Option<Names>,
}

impl From<&ReturnRequest> for ReturnRequestBody {
    fn from(request: &ReturnRequest) -> ReturnRequestBody {
        ReturnRequestBody {
            id: request.id.to_string(),
            txn_no: request.txn_no.to_string(),
            requester_id: request.requester_id.to_string(),
            recipient_id: request.recipient_id.to_string(),
            amount: request.amount.minor_units(),
            reason: request.reason.clone(),
            status: request.status.as_str().to_owned(),
            created_at: request.created_at.to_rfc3339(),
            respond_by: request.respond_by.to_rfc3339(),
            responded_at: request.responded_at.map(|at| at.to_rfc3339()),
            decline_reason: request.decline_reason.clone(),
            return_txn_no: request.return_txn_no.as_ref().map(TxnNo::to_string),
            names: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransferList {
    pub data: Vec<TransferBody>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnRequestList {
    pub data: Vec<ReturnRequestBody>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupList {
    pub data: Vec<GroupBody>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PacketList {
    pub data: Vec<PacketBody>,
    pub next_cursor: Option<String>,
}

/// What a payer sees before confirming a large payment.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfirmationBody {
    /// Send it back in the `Confirmation-Token` header with the same request. Single use.
    pub token: String,
    pub expires_at: String,
    pub amount: i64,
    /// `user` or `group`.
    pub audience_kind: String,
    pub audience_id: String,
    /// The recipient's or the group's name.
    pub audience_name: String,
    pub audience_size: Option<u32>,
    /// The transfer's memo or the packet's greeting.
    pub memo: Option<String>,
}

/// The 409 `confirmation_required` problem, with what to confirm.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfirmationProblem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    pub confirmation: ConfirmationBody,
}

impl ConfirmationProblem {
    pub fn new(detail: &str, summary: &hongbao_service::outcome::ConfirmationSummary) -> ConfirmationProblem {
        ConfirmationProblem {
            problem_type: "/problems/confirmation_required".into(),
            title: "Conflict".into(),
            status: 409,
            detail: detail.to_owned(),
            code: "confirmation_required".into(),
            confirmation: ConfirmationBody {
                token: summary.token.clone(),
                expires_at: summary.expires_at.to_rfc3339(),
                amount: summary.amount.minor_units(),
                audience_kind: summary.audience_kind.to_owned(),
                audience_id: summary.audience_id.clone(),
                audience_name: summary.audience_name.clone(),
                audience_size: summary.audience_size,
                memo: summary.memo.clone(),
            },
        }
    }
}
