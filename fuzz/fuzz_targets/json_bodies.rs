//! The JSON bodies of every route that takes one, as `JsonBody` reads them: the first byte picks the
//! route, the rest is the body. Each is deserialized into its request type (unknown fields refused),
//! checked for NUL characters (`field_with_nul`), and put through the same parsing the route's
//! handler does at the edge (ids, amounts, kinds, times, CIDRs, tags, the packet's spec).
//!
//! Properties: nothing panics; a refusal is a 400 with the `validation_failed` code and a
//! problem+json body that is JSON; a body `field_with_nul` passes holds no NUL in any text.
#![no_main]

use hongbao_core::cases::{CaseOutcome, ComplaintKind};
use hongbao_core::merchant::Scope;
use hongbao_core::staff::Role;
use hongbao_core::transfer::Arrival;
use hongbao_core::{ComplaintId, EvidenceId, FreezeId, TxnNo};
use hongbao_http::case_dto::{
    AddEvidenceRequest, CaseRefundRequest, CreateComplaintRequest, CreateDisclosureRequest, CreateFreezeRequest, CreateOperatorRequest, CreateReversalRequest,
    ReasonRequest, ResolveCaseRequest, parse_time, parse_txn_nos,
};
use hongbao_http::dto::{
    AddMemberRequest, CreateGroupRequest, CreatePacketRequest, CreateReturnRequest, CreateTransferRequest, CreateUserRequest, DeclineReturnRequest,
    TopUpRequest, WithdrawalRequest, parse_amount, parse_user_id,
};
use hongbao_http::error::ApiError;
use hongbao_http::extract::field_with_nul;
use hongbao_http::people_routes::UpdateMeRequest;
use hongbao_http::risk_routes::{CreateMerchantKeyRequest, TagRequest};
use hongbao_http::webhooks::CreateWebhookRequest;
use hongbao_service::merchant::Cidr;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;

type Checked = Result<(), ApiError>;

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::validation(detail)
}

fn optional_amount(field: &str, units: Option<i64>) -> Checked {
    units.map(|units| parse_amount(field, units)).transpose().map(drop)
}

fn id<T, E: std::fmt::Display>(field: &str, parse: impl Fn(&str) -> Result<T, E>, text: &str) -> Checked {
    parse(text).map(drop).map_err(|error| invalid(format!("{field}: {error}")))
}

/// Whether any text in `value`, a field's name or its value, holds a NUL character.
fn holds_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        serde_json::Value::Object(fields) => fields.iter().any(|(name, field)| name.contains('\0') || holds_nul(field)),
        _ => false,
    }
}

/// Reads `body` as `JsonBody<T>` does, then checks it as the route's handler does.
fn route<T: DeserializeOwned>(body: &[u8], check: impl FnOnce(T) -> Checked) -> Checked {
    let value: T = serde_json::from_slice(body).map_err(|error| invalid(format!("invalid JSON body: {error}")))?;
    if let Some(field) = field_with_nul(body) {
        return Err(invalid(format!("{field} must not contain the NUL character")));
    }
    let json: serde_json::Value = serde_json::from_slice(body).expect("a body its type reads is JSON");
    assert!(!holds_nul(&json), "field_with_nul passed a NUL in {json:?}");
    check(value)
}

fn body_route(selector: u8, body: &[u8]) -> Checked {
    match selector % 21 {
        0 => route(body, |_: CreateUserRequest| Ok(())),
        1 => route(body, |request: TopUpRequest| {
            parse_user_id("user_id", &request.user_id)?;
            parse_amount("amount", request.amount).map(drop)
        }),
        2 => route(body, |request: WithdrawalRequest| parse_amount("amount", request.amount).map(drop)),
        3 => route(body, |request: CreateGroupRequest| request.member_ids.iter().try_for_each(|id| parse_user_id("member_ids", id).map(drop))),
        4 => route(body, |request: AddMemberRequest| parse_user_id("user_id", &request.user_id).map(drop)),
        5 => route(body, |request: CreatePacketRequest| request.into_spec().map(drop)),
        6 => route(body, |request: CreateTransferRequest| {
            Arrival::parse(&request.arrival).ok_or_else(|| invalid("arrival must be instant, delay_2h or delay_24h"))?;
            parse_user_id("recipient_id", &request.recipient_id)?;
            parse_amount("amount", request.amount).map(drop)
        }),
        7 => route(body, |request: CreateReturnRequest| {
            id("txn_no", TxnNo::parse, &request.txn_no)?;
            optional_amount("amount", request.amount)
        }),
        8 => route(body, |request: CreateComplaintRequest| {
            ComplaintKind::parse(&request.kind).ok_or_else(|| invalid("kind must be fraud, minor, system_fault or other"))?;
            parse_txn_nos(&request.txn_nos)?;
            request.evidence_ids.iter().try_for_each(|text| id("evidence_ids", EvidenceId::parse, text))
        }),
        9 => route(body, |request: AddEvidenceRequest| request.evidence_ids.iter().try_for_each(|text| id("evidence_ids", EvidenceId::parse, text))),
        10 => route(body, |_: ReasonRequest| Ok(())),
        11 => route(body, |request: CreateOperatorRequest| {
            Role::parse(&request.role).map(drop).ok_or_else(|| invalid("role must be support, reviewer, legal or auditor"))
        }),
        12 => route(body, |request: CreateFreezeRequest| {
            parse_user_id("user_id", &request.user_id)?;
            optional_amount("amount", request.amount)?;
            request.until.as_deref().map(|text| parse_time("until", text)).transpose()?;
            match (&request.case_id, &request.rule) {
                (Some(case_id), None) => id("case_id", ComplaintId::parse, case_id),
                (None, Some(rule)) => {
                    let _ = hongbao_core::freeze::FreezeCause::of_rule(rule);
                    Ok(())
                }
                _ => Err(invalid("a freeze names exactly one of case_id and rule")),
            }
        }),
        13 => route(body, |request: CaseRefundRequest| {
            id("freeze_id", FreezeId::parse, &request.freeze_id)?;
            parse_amount("amount", request.amount)?;
            request.txn_no.as_deref().map(|text| id("txn_no", TxnNo::parse, text)).transpose().map(drop)
        }),
        14 => route(body, |request: ResolveCaseRequest| {
            CaseOutcome::parse(&request.outcome).map(drop).ok_or_else(|| invalid("outcome must be refunded, partially_refunded, rejected or referred"))
        }),
        15 => route(body, |request: CreateReversalRequest| {
            parse_txn_nos(std::slice::from_ref(&request.txn_no))?;
            optional_amount("amount", request.amount)
        }),
        16 => route(body, |request: CreateDisclosureRequest| parse_user_id("user_id", &request.user_id).map(drop)),
        17 => route(body, |request: TagRequest| {
            hongbao_core::risk::valid_tag(&request.tag).then_some(()).ok_or_else(|| invalid("a tag is 1 to 32 lowercase letters, digits, - and _"))
        }),
        18 => route(body, |request: CreateMerchantKeyRequest| {
            request.scopes.iter().try_for_each(|scope| Scope::parse(scope).map(drop).ok_or_else(|| invalid(format!("scope {scope:?}"))))?;
            parse_user_id("user_id", &request.user_id)?;
            optional_amount("max_transaction_amount", request.max_transaction_amount)?;
            optional_amount("daily_amount", request.daily_amount)?;
            request.allowed_cidrs.iter().try_for_each(|cidr| Cidr::parse(cidr).map(drop).ok_or_else(|| invalid(format!("{cidr:?} is not a network"))))
        }),
        19 => route(body, |request: CreateWebhookRequest| {
            if let Ok(url) = reqwest::Url::parse(&request.url)
                && let Err(refused) = hongbao_http::outbound::check_literal(&url)
            {
                return Err(invalid(format!("url: {refused}")));
            }
            Ok(())
        }),
        20 => route(body, |_: UpdateMeRequest| Ok(())),
        // The decline of a return request may have no body at all; with one, it is read alike.
        // The decline of a return request may come without a body.
        _ => {
            if body.is_empty() {
                Ok(())
            } else {
                route(body, |_: DeclineReturnRequest| Ok(()))
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    if let Err(error) = body_route(selector, body) {
        assert_eq!(error.status.as_u16(), 400, "{error:?}");
        assert_eq!(error.code, "validation_failed", "{error:?}");
        let problem: serde_json::Value = serde_json::from_slice(&error.problem_body()).expect("a problem is JSON");
        assert_eq!(problem["status"], 400);
    }
});
