//! The OpenAPI document made exact. utoipa describes each handler from its annotation; this module
//! adds what the shared extractors and layers decide for every route alike, so that no operation can
//! forget a status it inherits: bearer auth (401, 403), JSON and multipart bodies (400, 408, 413,
//! 415), lists (`limit` 1 to 200 and a cursor of the list's own form), ids in the path (404), the
//! `Idempotency-Key` header of a POST (400, 409) and overload (503). Every error is
//! `application/problem+json` with the `Problem` schema. Request schemas are as strict as the parsers
//! behind them: unknown fields refused, ids by their prefix, amounts in range, enums from the core's
//! own lists. Every operation gets an example, built from its schemas.

use std::collections::BTreeSet;

use hongbao_core::cases::{CaseOutcome, ComplaintKind, EvidenceLabel};
use hongbao_core::events::EventKind;
use hongbao_core::freeze::FreezeStatus;
use hongbao_core::ledger::TxnKind;
use hongbao_core::legal::ApprovalStatus;
use hongbao_core::merchant::Scope;
use hongbao_core::money::MAX_AMOUNT;
use hongbao_core::packet::{PacketKind, PacketStatus};
use hongbao_core::returns::ReturnRequestStatus;
use hongbao_core::staff::{AuditAction, Role};
use hongbao_core::transfer::{Arrival, TransferStatus};
use hongbao_core::webhooks::DeliveryStatus;
use hongbao_core::{
    CaseRefundId, ComplaintId, DisclosureId, EvidenceId, FreezeId, GroupId, MerchantKeyId, OperatorId, PacketId, ReturnRequestId, ReversalId, TransferId,
    TxnNo, UserId, WebhookId,
};
use serde_json::{Map, Value, json};

/// The statuses every error answer may have, with what each means here; an operation lists those its
/// route can give.
const STATUS_MEANINGS: &[(u16, &str)] = &[
    (400, "`validation_failed`: the request is malformed or a value is out of range; nothing changed"),
    (401, "`unauthorized`: no bearer token, or one the server does not know"),
    (403, "`forbidden` (or `not_in_audience`): the caller may not do this"),
    (404, "`not_found`: no such resource, or one the caller may not see"),
    (408, "`request_timeout`: the body did not arrive in time after the headers; nothing changed"),
    (
        409,
        "a conflict with the state of the records, with its own code: `invalid_state`, `insufficient_funds`, `account_frozen`, `limit_exceeded`, \
         `already_claimed`, `packet_exhausted`, `idempotency_key_reused`, `confirmation_required`, `reference_reused` or `balance_limit_exceeded`",
    ),
    (410, "`packet_expired` or `packet_recalled`"),
    (413, "`limit_exceeded`: the body is larger than the route takes; nothing changed"),
    (415, "`validation_failed`: the body is not of the media type the route takes; nothing changed"),
    (429, "`too_many_streams`: the caller already holds as many live streams as the server allows"),
    (503, "`busy`, `unavailable` or `too_many_connections`: the server is overloaded or shutting down; retry later"),
];

/// The id type a path parameter or request field names, by its prefix.
fn id_pattern(prefix: &str) -> String {
    format!("^{prefix}[a-z0-9_]{{1,64}}$")
}

/// The schema of a path parameter, from its name and the route it is in: ids by their prefix.
fn path_parameter_schema(path: &str, name: &str) -> Option<Value> {
    let prefix = match name {
        "user_id" => UserId::PREFIX,
        "txn_no" => TxnNo::PREFIX,
        // A tag goes on a user or a group (`RiskOp::SetTag`); both prefixes are four characters.
        "target_id" => {
            let pattern = format!("^({}|{})[a-z0-9_]{{1,64}}$", UserId::PREFIX, GroupId::PREFIX);
            return Some(json!({ "type": "string", "pattern": pattern, "minLength": UserId::PREFIX.len() + 1, "maxLength": UserId::PREFIX.len() + 64 }));
        }
        "id" => match path.trim_start_matches("/v1/").trim_start_matches("ops/").split('/').next().unwrap_or("") {
            "users" => UserId::PREFIX,
            "groups" => GroupId::PREFIX,
            "packets" => PacketId::PREFIX,
            "transfers" => TransferId::PREFIX,
            "return-requests" => ReturnRequestId::PREFIX,
            "evidence" => EvidenceId::PREFIX,
            "complaints" | "cases" => ComplaintId::PREFIX,
            "operators" => OperatorId::PREFIX,
            "case-refunds" => CaseRefundId::PREFIX,
            "freezes" => FreezeId::PREFIX,
            "reversals" => ReversalId::PREFIX,
            "disclosures" => DisclosureId::PREFIX,
            "merchant-keys" => MerchantKeyId::PREFIX,
            "webhooks" => WebhookId::PREFIX,
            _ => return None,
        },
        _ => return None,
    };
    Some(id_schema(prefix))
}

/// Lists that continue below a journal position (`c` and hex) rather than after a creation time and id.
const SEQUENCE_LISTS: &[&str] = &["/v1/transactions", "/v1/events", "/v1/ops/audit", "/v1/journal/checkpoints"];

/// A cursor's form: what `extract::encode_seq_cursor` and `encode_position_cursor` write, and their
/// decoders take (a number that fits a signed 64-bit integer, so at most 15 hex digits after a 0 to 7).
fn cursor_pattern(path: &str) -> &'static str {
    match path {
        _ if SEQUENCE_LISTS.contains(&path) => "^c[0-7]?[0-9a-f]{1,15}$",
        // Contacts are listed by their place in the list, `o` and an offset.
        "/v1/contacts" => "^o[0-9]{1,18}$",
        _ => "^p[0-7]?[0-9a-f]{1,15}\\.[A-Za-z0-9_]{1,64}$",
    }
}

fn names<T: Copy>(values: &[T], as_str: fn(T) -> &'static str) -> Value {
    Value::Array(values.iter().map(|value| Value::String(as_str(*value).to_owned())).collect())
}

/// The allowed values of a query parameter, per route. The operators' filters take an empty value
/// as no filter, as the console sends it.
fn query_enum(path: &str, name: &str) -> Option<Value> {
    let or_empty = |values: Value| {
        let mut values = values.as_array().cloned().unwrap_or_default();
        values.push(json!(""));
        Value::Array(values)
    };
    Some(match (path, name) {
        ("/v1/return-requests" | "/v1/transfers", "role") => json!(["sent", "received"]),
        ("/v1/transfers", "status") => names(&TransferStatus::ALL, TransferStatus::as_str),
        ("/v1/ops/cases", "status") => or_empty(json!(["submitted", "needs_evidence", "under_review", "resolved"])),
        ("/v1/ops/cases", "kind") => or_empty(names(ComplaintKind::ALL, ComplaintKind::as_str)),
        ("/v1/ops/cases", "overdue") => json!(["true", "false", ""]),
        ("/v1/ops/case-refunds" | "/v1/ops/reversals" | "/v1/ops/disclosures", "status") => or_empty(names(ApprovalStatus::ALL, ApprovalStatus::as_str)),
        _ => return None,
    })
}

/// The form of other query parameters, per route, as their parsers take them.
fn query_schema(path: &str, name: &str) -> Option<Value> {
    Some(match (path, name) {
        ("/v1/ops/case-refunds", "case_id") => json!({ "type": "string", "pattern": id_pattern(ComplaintId::PREFIX) }),
        // Empty means every user's.
        ("/v1/ops/freezes", "user_id") => json!({ "type": "string", "pattern": format!("^({}[a-z0-9_]{{1,64}})?$", UserId::PREFIX) }),
        ("/v1/ops/users", "q") => json!({ "type": "string", "minLength": 1, "maxLength": 64, "pattern": "\\S" }),
        _ => return None,
    })
}

/// A text an operator or user must give: trimmed, at least one visible character, no control
/// characters (`check_name`, `required_text` in the service).
const TEXT_PATTERN: &str = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$";
/// Like `TEXT_PATTERN`, with line breaks allowed.
const LINES_PATTERN: &str = "^[^\\x00-\\x09\\x0b-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x09\\x0b-\\x1f\\x7f-\\x9f]*$";

/// A network in CIDR notation: IPv4, or IPv6 written out in full (the server takes the short forms of
/// IPv6 too, which a pattern of reasonable size cannot list).
const CIDR_PATTERN: &str = "^(((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])/(3[0-2]|[12]?[0-9])|[0-9a-f]{1,4}(:[0-9a-f]{1,4}){7}/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))$";

fn amount() -> Value {
    json!({ "minimum": 1, "maximum": MAX_AMOUNT })
}

/// An id's schema: its prefix and 1 to 64 letters, digits or underscores (`valid_suffix` in the core).
fn id_schema(prefix: &str) -> Value {
    json!({ "type": "string", "pattern": id_pattern(prefix), "minLength": prefix.len() + 1, "maxLength": prefix.len() + 64 })
}

fn id_of(prefix: &str) -> Value {
    let mut schema = id_schema(prefix);
    schema.as_object_mut().expect("an object").remove("type");
    schema
}

fn ids_of(prefix: &str) -> Value {
    json!({ "items": id_schema(prefix) })
}

fn one_of(values: Value) -> Value {
    json!({ "enum": values })
}

fn text(max: usize) -> Value {
    json!({ "pattern": TEXT_PATTERN, "minLength": 1, "maxLength": max })
}

fn lines(max: usize) -> Value {
    json!({ "pattern": LINES_PATTERN, "minLength": 1, "maxLength": max })
}

/// What each request field takes beyond its type, as the parsers behind it check.
fn request_field_constraints() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("CreateUserRequest", "name", text(64)),
        ("UpdateMeRequest", "name", text(64)),
        ("TopUpRequest", "user_id", id_of(UserId::PREFIX)),
        ("TopUpRequest", "amount", amount()),
        ("TopUpRequest", "reference", text(128)),
        ("WithdrawalRequest", "amount", amount()),
        ("CreateGroupRequest", "name", text(64)),
        ("CreateGroupRequest", "member_ids", ids_of(UserId::PREFIX)),
        ("AddMemberRequest", "user_id", id_of(UserId::PREFIX)),
        ("CreatePacketRequest", "kind", one_of(names(&PacketKind::ALL, PacketKind::as_str))),
        ("CreatePacketRequest", "group_id", id_of(GroupId::PREFIX)),
        ("CreatePacketRequest", "recipient_id", id_of(UserId::PREFIX)),
        ("CreatePacketRequest", "amount_per_share", amount()),
        ("CreatePacketRequest", "total_amount", amount()),
        ("CreatePacketRequest", "shares", json!({ "minimum": 1 })),
        ("CreateTransferRequest", "recipient_id", id_of(UserId::PREFIX)),
        ("CreateTransferRequest", "amount", amount()),
        ("CreateTransferRequest", "arrival", one_of(names(&Arrival::ALL, Arrival::as_str))),
        ("CreateReturnRequest", "txn_no", id_of(TxnNo::PREFIX)),
        ("CreateReturnRequest", "amount", amount()),
        ("CreateReturnRequest", "reason", lines(200)),
        ("CreateReturnRequest", "respond_within_seconds", json!({ "minimum": 1, "maximum": 604_800 })),
        ("ReasonRequest", "reason", lines(1_000)),
        ("CreateComplaintRequest", "kind", one_of(names(ComplaintKind::ALL, ComplaintKind::as_str))),
        ("CreateComplaintRequest", "txn_nos", ids_of(TxnNo::PREFIX)),
        ("CreateComplaintRequest", "evidence_ids", ids_of(EvidenceId::PREFIX)),
        ("AddEvidenceRequest", "evidence_ids", json!({ "minItems": 1, "items": id_schema(EvidenceId::PREFIX) })),
        ("CreateOperatorRequest", "name", text(64)),
        ("CreateOperatorRequest", "role", one_of(names(Role::ALL, Role::as_str))),
        ("CreateFreezeRequest", "user_id", id_of(UserId::PREFIX)),
        ("CreateFreezeRequest", "amount", amount()),
        ("CreateFreezeRequest", "until", json!({ "format": "date-time" })),
        ("CreateFreezeRequest", "case_id", id_of(ComplaintId::PREFIX)),
        ("CreateFreezeRequest", "reason", lines(1_000)),
        ("CaseRefundRequest", "freeze_id", id_of(FreezeId::PREFIX)),
        ("CaseRefundRequest", "amount", amount()),
        ("CaseRefundRequest", "reason", lines(1_000)),
        ("CaseRefundRequest", "txn_no", id_of(TxnNo::PREFIX)),
        ("ResolveCaseRequest", "outcome", one_of(names(CaseOutcome::ALL, CaseOutcome::as_str))),
        ("ResolveCaseRequest", "reason", lines(1_000)),
        ("CreateReversalRequest", "txn_no", id_of(TxnNo::PREFIX)),
        ("CreateReversalRequest", "amount", amount()),
        ("CreateReversalRequest", "reason", lines(1_000)),
        ("CreateDisclosureRequest", "user_id", id_of(UserId::PREFIX)),
        ("CreateDisclosureRequest", "reason", lines(1_000)),
        ("CreateMerchantKeyRequest", "user_id", id_of(UserId::PREFIX)),
        ("CreateMerchantKeyRequest", "name", text(64)),
        ("CreateMerchantKeyRequest", "scopes", json!({ "minItems": 1, "items": { "type": "string", "enum": names(Scope::ALL, Scope::as_str) } })),
        ("CreateMerchantKeyRequest", "allowed_cidrs", json!({ "minItems": 1, "items": { "type": "string", "pattern": CIDR_PATTERN } })),
        ("CreateMerchantKeyRequest", "max_transaction_amount", amount()),
        ("CreateMerchantKeyRequest", "daily_amount", amount()),
        ("TagRequest", "tag", json!({ "pattern": "^[a-z0-9_-]{1,32}$" })),
        // `check_url` in the service: http or https, no whitespace or control character.
        ("CreateWebhookRequest", "url", json!({ "pattern": "^https?://[^\\s\\x00-\\x1f\\x7f-\\x9f]*$", "maxLength": 2000 })),
    ]
}

/// What each answer's fields hold, where the type alone says less than the server writes.
fn response_field_constraints() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("PacketBody", "kind", one_of(names(&PacketKind::ALL, PacketKind::as_str))),
        ("PacketBody", "status", one_of(names(&PacketStatus::ALL, PacketStatus::as_str))),
        ("TransferBody", "arrival", one_of(names(&Arrival::ALL, Arrival::as_str))),
        ("TransferBody", "status", one_of(names(&TransferStatus::ALL, TransferStatus::as_str))),
        ("ReturnRequestBody", "status", one_of(names(&ReturnRequestStatus::ALL, ReturnRequestStatus::as_str))),
        ("TransactionBody", "kind", one_of(names(&TxnKind::ALL, TxnKind::as_str))),
        (
            "EvidenceBody",
            "label",
            json!({ "enum": names(EvidenceLabel::ALL, EvidenceLabel::as_str).as_array().expect("a list").iter().cloned().chain([Value::Null]).collect::<Vec<_>>() }),
        ),
        ("OperatorBody", "role", one_of(names(Role::ALL, Role::as_str))),
        ("ComplaintBody", "kind", one_of(names(ComplaintKind::ALL, ComplaintKind::as_str))),
        ("ComplaintBody", "status", one_of(json!(["submitted", "needs_evidence", "under_review", "resolved"]))),
        ("ComplaintBody", "outcome", one_of(names(CaseOutcome::ALL, CaseOutcome::as_str))),
        ("FreezeBody", "status", one_of(names(FreezeStatus::ALL, FreezeStatus::as_str))),
        ("ApprovalFields", "status", one_of(names(ApprovalStatus::ALL, ApprovalStatus::as_str))),
        ("AuditEntryBody", "action", one_of(names(AuditAction::ALL, AuditAction::as_str))),
        ("EventBody", "type", one_of(names(EventKind::ALL, EventKind::as_str))),
        ("DeliveryBody", "status", one_of(names(DeliveryStatus::ALL, DeliveryStatus::as_str))),
        ("MerchantKeyBody", "scopes", json!({ "items": { "type": "string", "enum": names(Scope::ALL, Scope::as_str) } })),
    ]
}

/// The multipart body of `POST /v1/evidence`, as `case_routes::upload_evidence` reads it.
fn evidence_upload_schema() -> Value {
    json!({
        "type": "object",
        "required": ["file"],
        "additionalProperties": false,
        "properties": {
            "file": { "type": "string", "format": "binary", "contentMediaType": "application/octet-stream",
                "description": "the file, with its own Content-Type: images, video, PDF or plain text (checked from the bytes)" },
            "label": { "type": "string", "enum": names(EvidenceLabel::ALL, EvidenceLabel::as_str) },
        },
    })
}

/// Completes the document utoipa generated: see the module's description.
pub fn complete(document: &mut Value) {
    let components = document["components"]["schemas"].as_object_mut().expect("the document has schemas");
    for (schema, field, constraint) in request_field_constraints().into_iter().chain(response_field_constraints()) {
        let Some(property) = components.get_mut(schema).and_then(|schema| schema["properties"].get_mut(field)).and_then(Value::as_object_mut) else {
            panic!("the OpenAPI document has no {schema}.{field}");
        };
        constrain(property, constraint);
    }
    for schema in components.values_mut() {
        let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else { continue };
        for (name, property) in properties.iter_mut() {
            // Every time the server writes is RFC 3339 (`Timestamp::to_rfc3339`).
            if (name.ends_with("_at") || name == "respond_by" || name == "accept_by") && is_string(property) {
                property.as_object_mut().expect("a property is an object").insert("format".into(), json!("date-time"));
            }
        }
    }
    if let Some(problem) = components.get_mut("Problem") {
        problem["properties"]["code"]["pattern"] = json!("^[a-z][a-z_]*$");
        problem["properties"]["status"]["minimum"] = json!(400);
        problem["properties"]["status"]["maximum"] = json!(599);
    }
    let schemas = components.clone();
    let mut request_schemas = BTreeSet::new();
    let paths = document["paths"].as_object_mut().expect("the document has paths");
    for (path, item) in paths.iter_mut() {
        for method in ["get", "put", "post", "delete", "patch"] {
            let Some(operation) = item.get_mut(method).and_then(Value::as_object_mut) else { continue };
            complete_operation(path, method, operation, &schemas, &mut request_schemas);
        }
    }
    add_links(document);
    let components = document["components"]["schemas"].as_object_mut().expect("the document has schemas");
    for name in &request_schemas {
        if let Some(schema) = components.get_mut(name).and_then(Value::as_object_mut) {
            // Request types are `deny_unknown_fields`.
            schema.insert("additionalProperties".into(), Value::Bool(false));
            // No text of a JSON body may hold NUL (`extract::field_with_nul`).
            for property in schema.get_mut("properties").and_then(Value::as_object_mut).into_iter().flat_map(|properties| properties.values_mut()) {
                let text = if is_array(property) { &mut property["items"] } else { property };
                if is_string(text) && text.get("pattern").is_none() && text.get("enum").is_none() {
                    text["pattern"] = json!("^[^\\x00]*$");
                }
            }
        }
    }
}

/// OpenAPI links from each operation that creates a resource (a POST to a collection, answered 201
/// with the new resource's `id`) to every operation on that resource (`{collection}/{id}...`), so a
/// client, and a stateful tester, can follow a creation to what may be done with it.
fn add_links(document: &mut Value) {
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    let mut targets: Vec<(String, String)> = Vec::new();
    for (path, item) in &paths {
        for method in ["get", "put", "post", "delete", "patch"] {
            if let Some(operation_id) = item[method]["operationId"].as_str() {
                targets.push((path.clone(), operation_id.to_owned()));
            }
        }
    }
    for (collection, item) in &paths {
        let created = &item["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"];
        let Some(schema) = created.as_str().and_then(|reference| reference.strip_prefix("#/components/schemas/")) else { continue };
        if document["components"]["schemas"][schema]["properties"]["id"].is_null() {
            continue;
        }
        let resource = format!("{collection}/{{id}}");
        let mut links = Map::new();
        for (path, operation_id) in &targets {
            if path == &resource || path.starts_with(&format!("{resource}/")) {
                links.insert(operation_id.clone(), json!({ "operationId": operation_id, "parameters": { "id": "$response.body#/id" } }));
            }
        }
        if !links.is_empty() {
            document["paths"][collection]["post"]["responses"]["201"]["links"] = Value::Object(links);
        }
    }
}

/// Whether a property holds a list (perhaps null).
fn is_array(property: &Value) -> bool {
    match &property["type"] {
        Value::String(kind) => kind == "array",
        Value::Array(kinds) => kinds.iter().any(|kind| kind == "array"),
        _ => false,
    }
}

/// Whether a property holds a string (perhaps null).
fn is_string(property: &Value) -> bool {
    match &property["type"] {
        Value::String(kind) => kind == "string",
        Value::Array(kinds) => kinds.iter().any(|kind| kind == "string"),
        _ => false,
    }
}

/// Adds `constraint` to a property, onto its non-null branch when it is nullable.
fn constrain(property: &mut Map<String, Value>, constraint: Value) {
    let Value::Object(constraint) = constraint else { return };
    let nullable = matches!(&property.get("type"), Some(Value::Array(kinds)) if kinds.iter().any(|kind| kind == "null"));
    for (key, value) in constraint {
        if key == "enum" && nullable {
            let mut values = value.as_array().cloned().unwrap_or_default();
            if !values.contains(&Value::Null) {
                values.push(Value::Null);
            }
            property.insert(key, Value::Array(values));
        } else if key == "items" {
            let items = property.entry("items").or_insert_with(|| json!({}));
            if let (Some(items), Value::Object(extra)) = (items.as_object_mut(), value) {
                items.extend(extra);
            }
        } else {
            property.insert(key, value);
        }
    }
}

fn complete_operation(path: &str, method: &str, operation: &mut Map<String, Value>, schemas: &Map<String, Value>, request_schemas: &mut BTreeSet<String>) {
    let open =
        operation.get("security").and_then(Value::as_array).is_some_and(|security| security.is_empty() || security.iter().all(|item| item == &json!({})));
    if open {
        operation.insert("security".into(), json!([]));
    }
    let mut statuses = BTreeSet::from([503]);
    if !open {
        // Any token may be unknown; merchant keys are refused outside their scopes and networks, and
        // a malformed `X-Device-Id` is refused on every route.
        statuses.extend([400, 401, 403]);
    }

    // Path parameters: every `{name}` of the route, with the id form its parser takes.
    let mut parameters: Vec<Value> = operation.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
    for name in path.split('/').filter_map(|segment| segment.strip_prefix('{').and_then(|rest| rest.strip_suffix('}'))) {
        let position = parameters.iter().position(|parameter| parameter["in"] == "path" && parameter["name"] == name);
        let schema = path_parameter_schema(path, name).unwrap_or_else(|| json!({ "type": "string", "minLength": 1 }));
        let parameter = json!({ "name": name, "in": "path", "required": true, "schema": schema });
        match position {
            Some(index) => {
                let description = parameters[index].get("description").cloned();
                parameters[index] = parameter;
                if let Some(description) = description {
                    parameters[index]["description"] = description;
                }
            }
            None => parameters.push(parameter),
        }
        statuses.insert(404);
    }
    for parameter in parameters.iter_mut().filter(|parameter| parameter["in"] == "header" && parameter["name"] == "Last-Event-ID") {
        // An event id: decimal digits (`extract::parse_sequence`).
        parameter["schema"] = json!({ "type": "string", "pattern": "^[0-9]{1,18}$" });
        statuses.insert(400);
    }
    for parameter in parameters.iter_mut().filter(|parameter| parameter["in"] == "query") {
        statuses.insert(400);
        let name = parameter["name"].as_str().unwrap_or("").to_owned();
        match name.as_str() {
            "limit" => parameter["schema"] = json!({ "type": "integer", "minimum": 1, "maximum": 200, "default": 50 }),
            "cursor" => parameter["schema"] = json!({ "type": "string", "pattern": cursor_pattern(path) }),
            _ => {
                if let Some(values) = query_enum(path, &name) {
                    parameter["schema"] = json!({ "type": "string", "enum": values });
                } else if let Some(schema) = query_schema(path, &name) {
                    parameter["schema"] = schema;
                }
            }
        }
    }
    if method == "post" {
        // Every POST takes an `Idempotency-Key` (`extract::IdempotencyKey`).
        if !parameters.iter().any(|parameter| parameter["in"] == "header" && parameter["name"] == "Idempotency-Key") {
            parameters.push(json!({
                "name": "Idempotency-Key", "in": "header", "required": false,
                "description": "1 to 255 visible ASCII characters, scoped to the caller: a repeat within 24 h is answered as the first time, with Idempotent-Replayed: true",
                "schema": { "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$" },
            }));
        }
        statuses.extend([400, 409]);
    }
    if method == "post" && ["/v1/packets", "/v1/transfers"].contains(&path) {
        // A large payment is confirmed by sending it again with the token its 409 gave
        // (`extract::ConfirmationToken`).
        parameters.push(json!({
            "name": "Confirmation-Token", "in": "header", "required": false,
            "description": "the single-use token of a 409 `confirmation_required` answer, sent with the same request to confirm it",
            "schema": { "type": "string", "maxLength": 128, "pattern": "^[\\x20-\\x7e]*[\\x21-\\x7e][\\x20-\\x7e]*$" },
        }));
    }
    if method != "get" && !open {
        // Every write goes through the writer, where the records' state may refuse it (409).
        statuses.insert(409);
    }
    if !parameters.is_empty() {
        operation.insert("parameters".into(), Value::Array(parameters));
    }

    // Bodies: JSON (`extract::JsonBody`), multipart, or text.
    if let Some(body) = operation.get_mut("requestBody").and_then(Value::as_object_mut) {
        statuses.extend([400, 408, 413, 415]);
        let content = body.entry("content").or_insert_with(|| json!({}));
        if let Some(json_body) = content.get("application/json") {
            let schema = &json_body["schema"];
            let options = schema["oneOf"].as_array().map_or_else(|| vec![schema], |options| options.iter().collect());
            for option in options {
                if let Some(name) = option["$ref"].as_str().and_then(|reference| reference.strip_prefix("#/components/schemas/")) {
                    request_schemas.insert(name.to_owned());
                }
            }
        }
        if let Some(multipart) = content.get_mut("multipart/form-data") {
            multipart["schema"] = evidence_upload_schema();
            multipart["encoding"] = json!({ "file": { "contentType": "image/png, image/jpeg, image/gif, image/webp, video/mp4, video/quicktime, video/webm, application/pdf, text/plain" } });
        }
        if let Some(content) = content.as_object_mut() {
            for media in content.values_mut() {
                if media.get("example").is_none() {
                    let example = example_of(&media["schema"], schemas, "", 0);
                    if !example.is_null() {
                        media["example"] = example;
                    }
                }
            }
        }
    }

    // Answers: the declared ones, and every status the route inherits, errors as problem+json.
    let responses = operation.entry("responses").or_insert_with(|| json!({})).as_object_mut().expect("responses are an object");
    for status in responses.keys().filter_map(|status| status.parse::<u16>().ok()).filter(|status| *status >= 400).collect::<Vec<_>>() {
        statuses.insert(status);
    }
    for status in statuses {
        let meaning = STATUS_MEANINGS.iter().find(|(known, _)| *known == status).map_or("an error", |(_, meaning)| meaning);
        let response = responses.entry(status.to_string()).or_insert_with(|| json!({ "description": meaning }));
        let schema = match response["content"]["application/json"]["schema"].clone() {
            Value::Null => json!({ "$ref": "#/components/schemas/Problem" }),
            declared => declared,
        };
        let example = json!({
            "type": format!("/problems/{}", example_code(status)), "title": title(status), "status": status,
            "detail": meaning.split('`').nth(1).map_or("the request failed", |_| "what was wrong, for a person"), "code": example_code(status),
        });
        response["content"] = json!({ "application/problem+json": { "schema": schema, "example": example } });
    }
    for (status, response) in responses.iter_mut() {
        if !status.starts_with('2') {
            continue;
        }
        let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else { continue };
        for (media_type, media) in content.iter_mut() {
            if !media_type.contains("json") && !media_type.starts_with("text/") && !media_type.contains("toml") {
                // Files and archives: bytes, whatever type utoipa gave the Rust value.
                media["schema"] = json!({ "type": "string", "format": "binary" });
                continue;
            }
            if let Some(example) = text_example(path, media_type) {
                media["example"] = json!(example);
            }
            if media.get("example").is_none() {
                let example = example_of(&media["schema"], schemas, "", 0);
                if !example.is_null() {
                    media["example"] = example;
                }
            }
        }
    }
}

/// An example of a text answer, which its schema (a string) cannot give.
fn text_example(path: &str, media_type: &str) -> Option<String> {
    Some(match (path, media_type) {
        (_, "application/toml") => hongbao_service::policy::render_policy(&hongbao_core::risk::RiskPolicy::default()),
        (_, "text/event-stream") => {
            "id: 42\nevent: packet.claimed\ndata: {\"id\":42,\"type\":\"packet.claimed\",\"packet_id\":\"pkt_2mvg6k3q7d4x8b9cn5tr\"}\n\n".to_owned()
        }
        ("/metrics", _) => "# TYPE hongbao_packets_claimed_total counter\nhongbao_packets_claimed_total 1\n".to_owned(),
        ("/.well-known/hongbao/log-key", _) => "hongbao/example/journal+1a2b3c4d+AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/AbCdEfG=\n".to_owned(),
        ("/v1/journal/consistency", _) => "3q2+7w==\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n".to_owned(),
        ("/v1/transactions/{txn_no}/receipt", _) => {
            "c2sp.org/tlog-proof@v1\nextra eyJ0eG5fbm8iOiJ0eG5fMm12ZzZrM3E3ZDR4OGI5Y241dHIifQ==\nindex 41\n3q2+7w==\n\n\
            hongbao/example/journal\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n— hongbao/example/journal GhoSFA==\n"
                .to_owned()
        }
        _ => return None,
    })
}

fn example_code(status: u16) -> &'static str {
    match status {
        400 | 415 => "validation_failed",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        408 => "request_timeout",
        409 => "invalid_state",
        410 => "packet_expired",
        413 => "limit_exceeded",
        429 => "too_many_streams",
        503 => "busy",
        _ => "error",
    }
}

fn title(status: u16) -> &'static str {
    axum::http::StatusCode::from_u16(status).ok().and_then(|status| status.canonical_reason()).unwrap_or("Error")
}

/// An example value of `schema`, by its type and the name of the field that holds it.
fn example_of(schema: &Value, schemas: &Map<String, Value>, field: &str, depth: usize) -> Value {
    if depth > 8 {
        return Value::Null;
    }
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return schemas.get(name).map_or(Value::Null, |schema| example_of(schema, schemas, field, depth + 1));
    }
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    if let Some(parts) = schema["allOf"].as_array() {
        // The fields of every part, as `#[serde(flatten)]` writes them.
        let mut object = Map::new();
        for part in parts {
            if let Value::Object(fields) = example_of(part, schemas, field, depth + 1) {
                object.extend(fields);
            }
        }
        return Value::Object(object);
    }
    for combinator in ["oneOf", "anyOf"] {
        if let Some(first) = schema[combinator].as_array().and_then(|options| options.iter().find(|option| option["type"] != "null")) {
            return example_of(first, schemas, field, depth + 1);
        }
    }
    if let Some(values) = schema["enum"].as_array() {
        return values.first().cloned().unwrap_or(Value::Null);
    }
    let kind = match &schema["type"] {
        Value::String(kind) => kind.clone(),
        Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).find(|kind| *kind != "null").unwrap_or("null").to_owned(),
        _ if schema.get("properties").is_some() => "object".to_owned(),
        _ => return Value::Null,
    };
    match kind.as_str() {
        "object" => {
            let mut object = Map::new();
            if let Some(properties) = schema["properties"].as_object() {
                for (name, property) in properties {
                    object.insert(name.clone(), example_of(property, schemas, name, depth + 1));
                }
            }
            Value::Object(object)
        }
        "array" => {
            let item = example_of(&schema["items"], schemas, field.trim_end_matches('s'), depth + 1);
            if item.is_null() { json!([]) } else { json!([item]) }
        }
        "integer" => json!(example_integer(field, schema)),
        "number" => json!(1.5),
        "boolean" => json!(false),
        "string" => json!(example_string(field, schema)),
        _ => Value::Null,
    }
}

fn example_integer(field: &str, schema: &Value) -> i64 {
    let value = match field {
        "shares" | "claimed_count" | "remaining_count" => 3,
        "status" => 200,
        _ if field.ends_with("seconds") => 600,
        _ if field.contains("amount") || field == "balance" || field == "available" => 1_000,
        _ => 1,
    };
    let minimum = schema["minimum"].as_i64().unwrap_or(i64::MIN);
    let maximum = schema["maximum"].as_i64().unwrap_or(i64::MAX);
    value.clamp(minimum, maximum)
}

fn example_string(field: &str, schema: &Value) -> String {
    if schema["format"] == "date-time" {
        return "2027-01-15T08:00:00Z".into();
    }
    if schema["format"] == "binary" {
        return "(the file's bytes)".into();
    }
    let prefix = schema["pattern"].as_str().and_then(|pattern| pattern.strip_prefix('^')).and_then(|rest| rest.split_once('[')).map(|(prefix, _)| prefix);
    if let Some(prefix) = prefix.filter(|prefix| prefix.ends_with('_')) {
        return format!("{prefix}2mvg6k3q7d4x8b9cn5tr");
    }
    let by_name = match field {
        "name" => "Alice",
        "currency" => "CNY",
        "greeting" => "恭喜发财，大吉大利",
        "memo" => "dinner",
        "reason" | "decline_reason" => "the customer asked for it back",
        "description" => "I paid a seller who never sent the goods",
        "reference" => "ref-2027-0001",
        "url" => "https://platform.example/hooks/hongbao",
        "tag" => "friends",
        "account" => "wallet:usr_2mvg6k3q7d4x8b9cn5tr",
        "token" | "secret" => "hbt_2mvg6k3q7d4x8b9cn5tr2mvg6k3q7d4x8b9cn5tr",
        "sha256" | "journal_hash" => "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "content_type" => "image/png",
        "allowed_cidr" | "allowed_cidrs" => "203.0.113.0/24",
        "next_cursor" => "p18c3a4b5d6e.grp_2mvg6k3q7d4x8b9cn5tr",
        _ => "text",
    };
    by_name.to_owned()
}
