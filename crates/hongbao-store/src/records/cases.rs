//! The tables of the platform's case work (operators, evidence, complaints, freezes, reversals,
//! disclosures, the audit log and the event outbox) and of its prevention (tags, daily usage, velocity,
//! sightings, confirmations, webhooks, merchant keys): each record's row, mapped once here.

use hongbao_core::cases::{CaseStatus, Complaint, ComplaintKind, Evidence, EvidenceLabel, EvidenceRequirement};
use hongbao_core::events::{Event, EventKind};
use hongbao_core::freeze::{Freeze, FreezeCause, FreezeScope, Lift};
use hongbao_core::legal::{Approval, ApprovalStatus, CaseRefund, Disclosure, Reversal};
use hongbao_core::merchant::{MerchantKey, Scope};
use hongbao_core::risk::{DailyUsage, VelocityWindow};
use hongbao_core::staff::{AuditEntry, AuditRecord, Operator, Role};
use hongbao_core::webhooks::{Delivery, DeliveryStatus, WebhookEndpoint};
use hongbao_core::{
    Amount, CaseRefundId, ComplaintId, DisclosureId, EvidenceId, FreezeId, MerchantKeyId, OperatorId, ReversalId, Timestamp, TxnNo, UserId, WebhookId,
};

use super::{Cell, Fields, Query, Record, Row, Table, Value, amount, joined, ok, opt_text, opt_time, owned_row, text, time};
use crate::{StoreResult, corrupt};

use super::ColumnType::{Int, Text};

/// An operator with the hash of their token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredOperator {
    pub operator: Operator,
    pub token_hash: [u8; 32],
}

pub static OPERATORS: Table = Table {
    name: "operators",
    columns: &[("id", Text), ("name", Text), ("role", Text), ("token_hash", Text), ("created_at", Int), ("disabled_at", Int)],
    append_only: false,
};

impl Record for StoredOperator {
    const TABLE: &'static Table = &OPERATORS;

    fn to_row(&self) -> Row {
        let operator = &self.operator;
        vec![
            text(&operator.id),
            text(&operator.name),
            text(operator.role),
            text(hex::encode(self.token_hash)),
            time(operator.created_at),
            opt_time(operator.disabled_at),
        ]
    }

    fn from_row(row: Row) -> StoreResult<StoredOperator> {
        let mut fields = Fields::new(&OPERATORS, row)?;
        let id = fields.parsed(|text| ok(OperatorId::parse(text)))?;
        let name = fields.text()?;
        let role = fields.parsed(Role::parse)?;
        let token_hash = fields.hash()?.0;
        let operator = Operator { id, name, role, created_at: fields.time()?, disabled_at: fields.opt_time()? };
        Ok(StoredOperator { operator, token_hash })
    }
}

pub static EVIDENCE: Table = Table {
    name: "evidence",
    columns: &[
        ("id", Text),
        ("sha256", Text),
        ("size", Int),
        ("content_type", Text),
        ("label", Text),
        ("uploaded_by", Text),
        ("case_id", Text),
        ("created_at", Int),
        // When an upload never attached to a case was made, so that those past their time are one
        // indexed range; null once attached.
        ("unattached_at", Int),
    ],
    append_only: false,
};

/// Unattached uploads made at or before `made_by`, oldest first.
pub fn unattached_evidence_until(made_by: Timestamp, limit: u32) -> Query {
    Query { order: &["unattached_at", "id"], ..Query::newest_first(&EVIDENCE, limit) }.ascending().at_most("unattached_at", time(made_by))
}

impl Record for Evidence {
    const TABLE: &'static Table = &EVIDENCE;

    fn to_row(&self) -> Row {
        vec![
            text(&self.id),
            text(&self.sha256),
            Value::Int(self.size as i64),
            text(&self.content_type),
            opt_text(self.label),
            text(&self.uploaded_by),
            opt_text(self.case_id.as_ref()),
            time(self.created_at),
            if self.case_id.is_some() { Value::Null } else { time(self.created_at) },
        ]
    }

    fn from_row(row: Row) -> StoreResult<Evidence> {
        let mut fields = Fields::new(&EVIDENCE, row)?;
        Ok(Evidence {
            id: fields.parsed(|text| ok(EvidenceId::parse(text)))?,
            sha256: fields.text()?,
            size: fields.int()?.max(0) as u64,
            content_type: fields.text()?,
            label: fields.opt_parsed(EvidenceLabel::parse)?,
            uploaded_by: fields.text()?,
            case_id: fields.opt_parsed(|text| ok(ComplaintId::parse(text)))?,
            created_at: fields.time()?,
        })
    }
}

/// What one user's uploads of evidence take up, for the quota.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceUsage {
    pub user_id: UserId,
    /// The bytes charged: each file's size, at least the smallest charge.
    pub bytes: u64,
    pub files: u64,
}

pub static EVIDENCE_USAGE: Table = Table { name: "evidence_usage", columns: &[("id", Text), ("bytes", Int), ("files", Int)], append_only: false };

impl Record for EvidenceUsage {
    const TABLE: &'static Table = &EVIDENCE_USAGE;

    fn to_row(&self) -> Row {
        vec![text(&self.user_id), Value::Int(i64::try_from(self.bytes).unwrap_or(i64::MAX)), Value::Int(i64::try_from(self.files).unwrap_or(i64::MAX))]
    }

    fn from_row(row: Row) -> StoreResult<EvidenceUsage> {
        let mut fields = Fields::new(&EVIDENCE_USAGE, row)?;
        Ok(EvidenceUsage { user_id: fields.parsed(|text| ok(UserId::parse(text)))?, bytes: fields.int()?.max(0) as u64, files: fields.int()?.max(0) as u64 })
    }
}

pub static COMPLAINTS: Table = Table {
    name: "complaints",
    columns: &[
        ("id", Text),
        ("kind", Text),
        ("complainant_id", Text),
        ("respondent_ids", Text),
        ("txn_nos", Text),
        ("description", Text),
        ("evidence_ids", Text),
        ("missing_evidence", Text),
        ("status", Text),
        ("outcome", Text),
        ("assignee_id", Text),
        ("refunded_amount", Int),
        ("note", Text),
        ("created_at", Int),
        ("updated_at", Int),
        ("due_at", Int),
        // The deadline while the case is open, so that overdue cases are one indexed range.
        ("open_due_at", Int),
        ("resolved_at", Int),
    ],
    append_only: false,
};

impl Record for Complaint {
    const TABLE: &'static Table = &COMPLAINTS;

    fn to_row(&self) -> Row {
        vec![
            text(&self.id),
            text(self.kind),
            text(&self.complainant_id),
            joined(&self.respondent_ids),
            joined(&self.txn_nos),
            text(&self.description),
            joined(&self.evidence_ids),
            joined(&self.missing_evidence),
            text(self.status.as_str()),
            opt_text(self.status.outcome()),
            opt_text(self.assignee_id.as_ref()),
            amount(self.refunded_amount),
            opt_text(self.note.as_ref()),
            time(self.created_at),
            time(self.updated_at),
            time(self.due_at),
            opt_time(self.open_due_at()),
            opt_time(self.resolved_at),
        ]
    }

    fn from_row(row: Row) -> StoreResult<Complaint> {
        let mut fields = Fields::new(&COMPLAINTS, row)?;
        let id = fields.parsed(|text| ok(ComplaintId::parse(text)))?;
        let kind = fields.parsed(ComplaintKind::parse)?;
        let complainant_id = fields.parsed(|text| ok(UserId::parse(text)))?;
        let respondent_ids = fields.list(|text| ok(UserId::parse(text)))?;
        let txn_nos = fields.list(|text| ok(TxnNo::parse(text)))?;
        let description = fields.text()?;
        let evidence_ids = fields.list(|text| ok(EvidenceId::parse(text)))?;
        let missing_evidence = fields.list(EvidenceRequirement::parse)?;
        let status = fields.text()?;
        let outcome = fields.opt_text()?;
        let status = CaseStatus::parse(&status, outcome.as_deref()).ok_or_else(|| corrupt(format!("complaint {id}: status {status:?} {outcome:?}")))?;
        let complaint = Complaint {
            id,
            kind,
            complainant_id,
            respondent_ids,
            txn_nos,
            description,
            evidence_ids,
            missing_evidence,
            status,
            assignee_id: fields.opt_parsed(|text| ok(OperatorId::parse(text)))?,
            refunded_amount: fields.amount()?,
            note: fields.opt_text()?,
            created_at: fields.time()?,
            updated_at: fields.time()?,
            due_at: fields.time()?,
            resolved_at: {
                fields.opt_time()?;
                fields.opt_time()?
            },
        };
        Ok(complaint)
    }
}

pub static FREEZES: Table = Table {
    name: "freezes",
    columns: &[
        ("id", Text),
        ("user_id", Text),
        ("scope", Text),
        ("amount", Int),
        ("refunded_amount", Int),
        ("case_id", Text),
        ("rule", Text),
        ("reason", Text),
        ("created_by", Text),
        ("created_at", Int),
        ("until", Int),
        ("lifted_at", Int),
        ("lifted_by", Text),
        ("lift_reason", Text),
        // Until when the freeze holds, for finding a wallet's active freezes in the index: its end, or
        // the far future for one until lifted; null once lifted.
        ("active_until", Int),
    ],
    append_only: false,
};

/// The `active_until` of freezes that hold at `now` or later.
pub fn freezes_active_at(user_id: &UserId, now: Timestamp) -> Query {
    Query::newest_first(&FREEZES, 10_000).equal("user_id", text(user_id)).at_least("active_until", Value::Int(now.millis() + 1))
}

impl Record for Freeze {
    const TABLE: &'static Table = &FREEZES;

    fn to_row(&self) -> Row {
        let (scope, held) = match self.scope {
            FreezeScope::Full => ("full", Value::Null),
            FreezeScope::Hold(held) => ("hold", amount(held)),
        };
        let (case_id, rule) = match &self.cause {
            FreezeCause::Case(case_id) => (text(case_id), Value::Null),
            FreezeCause::Velocity | FreezeCause::Rule(_) => (Value::Null, opt_text(self.cause.rule_name())),
        };
        let lift = self.lift.as_ref();
        vec![
            text(&self.id),
            text(&self.user_id),
            text(scope),
            held,
            amount(self.refunded_amount),
            case_id,
            rule,
            text(&self.reason),
            text(&self.created_by),
            time(self.created_at),
            opt_time(self.until),
            opt_time(lift.map(|lift| lift.lifted_at)),
            opt_text(lift.map(|lift| &lift.lifted_by)),
            opt_text(lift.map(|lift| &lift.reason)),
            match (lift, self.until) {
                (Some(_), _) => Value::Null,
                (None, Some(until)) => time(until),
                (None, None) => Value::Int(i64::MAX),
            },
        ]
    }

    fn from_row(row: Row) -> StoreResult<Freeze> {
        let mut fields = Fields::new(&FREEZES, row)?;
        let id = fields.parsed(|text| ok(FreezeId::parse(text)))?;
        let user_id = fields.parsed(|text| ok(UserId::parse(text)))?;
        let scope = fields.text()?;
        let held = fields.opt_int()?;
        let scope = match (scope.as_str(), held) {
            ("full", None) => FreezeScope::Full,
            ("hold", Some(held)) => FreezeScope::Hold(Amount::new(held).map_err(|_| corrupt(format!("freeze {id}: hold {held}")))?),
            _ => return Err(corrupt(format!("freeze {id}: scope {scope:?} with {held:?}"))),
        };
        let refunded_amount = fields.amount()?;
        let case_id = fields.opt_parsed(|text| ok(ComplaintId::parse(text)))?;
        let rule = fields.opt_text()?;
        let cause = match (case_id, rule) {
            (Some(case_id), None) => FreezeCause::Case(case_id),
            (None, Some(rule)) => FreezeCause::of_rule(&rule),
            _ => return Err(corrupt(format!("freeze {id}: it must name a case or a rule"))),
        };
        let reason = fields.text()?;
        let created_by = fields.text()?;
        let created_at = fields.time()?;
        let until = fields.opt_time()?;
        let lift = match (fields.opt_time()?, fields.opt_text()?, fields.opt_text()?) {
            (Some(lifted_at), Some(lifted_by), Some(reason)) => Some(Lift { lifted_at, lifted_by, reason }),
            (None, None, None) => None,
            _ => return Err(corrupt(format!("freeze {id}: a partial lift"))),
        };
        fields.opt_int()?;
        Ok(Freeze { id, user_id, scope, refunded_amount, cause, reason, created_by, created_at, until, lift })
    }
}

/// The approval columns reversals and disclosures share, after their own.
const APPROVAL_COLUMNS: usize = 6;

fn approval_values(approval: &Approval) -> [Value; APPROVAL_COLUMNS] {
    [
        text(approval.status),
        text(&approval.requested_by),
        time(approval.requested_at),
        opt_text(approval.decided_by.as_ref()),
        opt_time(approval.decided_at),
        opt_text(approval.decision_reason.as_ref()),
    ]
}

fn read_approval(fields: &mut Fields) -> StoreResult<Approval> {
    Ok(Approval {
        status: fields.parsed(ApprovalStatus::parse)?,
        requested_by: fields.parsed(|text| ok(OperatorId::parse(text)))?,
        requested_at: fields.time()?,
        decided_by: fields.opt_parsed(|text| ok(OperatorId::parse(text)))?,
        decided_at: fields.opt_time()?,
        decision_reason: fields.opt_text()?,
    })
}

pub static REVERSALS: Table = Table {
    name: "reversals",
    columns: &[
        ("id", Text),
        ("txn_no", Text),
        ("payer_id", Text),
        ("recipient_id", Text),
        ("amount", Int),
        ("reason", Text),
        ("reference", Text),
        ("reversal_txn_no", Text),
        ("status", Text),
        ("requested_by", Text),
        ("created_at", Int),
        ("decided_by", Text),
        ("decided_at", Int),
        ("decision_reason", Text),
    ],
    append_only: false,
};

impl Record for Reversal {
    const TABLE: &'static Table = &REVERSALS;

    fn to_row(&self) -> Row {
        let mut row = vec![
            text(&self.id),
            text(&self.txn_no),
            text(&self.payer_id),
            text(&self.recipient_id),
            amount(self.amount),
            text(&self.reason),
            text(&self.reference),
            opt_text(self.reversal_txn_no.as_ref()),
        ];
        row.extend(approval_values(&self.approval));
        row
    }

    fn from_row(row: Row) -> StoreResult<Reversal> {
        let mut fields = Fields::new(&REVERSALS, row)?;
        Ok(Reversal {
            id: fields.parsed(|text| ok(ReversalId::parse(text)))?,
            txn_no: fields.parsed(|text| ok(TxnNo::parse(text)))?,
            payer_id: fields.parsed(|text| ok(UserId::parse(text)))?,
            recipient_id: fields.parsed(|text| ok(UserId::parse(text)))?,
            amount: fields.amount()?,
            reason: fields.text()?,
            reference: fields.text()?,
            reversal_txn_no: fields.opt_parsed(|text| ok(TxnNo::parse(text)))?,
            approval: read_approval(&mut fields)?,
        })
    }
}

pub static CASE_REFUNDS: Table = Table {
    name: "case_refunds",
    columns: &[
        ("id", Text),
        ("complaint_id", Text),
        ("freeze_id", Text),
        ("payer_id", Text),
        ("recipient_id", Text),
        ("corrects_txn_no", Text),
        ("amount", Int),
        ("reason", Text),
        ("refund_txn_no", Text),
        ("status", Text),
        ("requested_by", Text),
        ("created_at", Int),
        ("decided_by", Text),
        ("decided_at", Int),
        ("decision_reason", Text),
    ],
    append_only: false,
};

impl Record for CaseRefund {
    const TABLE: &'static Table = &CASE_REFUNDS;

    fn to_row(&self) -> Row {
        let mut row = vec![
            text(&self.id),
            text(&self.complaint_id),
            text(&self.freeze_id),
            text(&self.payer_id),
            text(&self.recipient_id),
            text(&self.corrects_txn_no),
            amount(self.amount),
            text(&self.reason),
            opt_text(self.refund_txn_no.as_ref()),
        ];
        row.extend(approval_values(&self.approval));
        row
    }

    fn from_row(row: Row) -> StoreResult<CaseRefund> {
        let mut fields = Fields::new(&CASE_REFUNDS, row)?;
        Ok(CaseRefund {
            id: fields.parsed(|text| ok(CaseRefundId::parse(text)))?,
            complaint_id: fields.parsed(|text| ok(ComplaintId::parse(text)))?,
            freeze_id: fields.parsed(|text| ok(FreezeId::parse(text)))?,
            payer_id: fields.parsed(|text| ok(UserId::parse(text)))?,
            recipient_id: fields.parsed(|text| ok(UserId::parse(text)))?,
            corrects_txn_no: fields.parsed(|text| ok(TxnNo::parse(text)))?,
            amount: fields.amount()?,
            reason: fields.text()?,
            refund_txn_no: fields.opt_parsed(|text| ok(TxnNo::parse(text)))?,
            approval: read_approval(&mut fields)?,
        })
    }
}

pub static DISCLOSURES: Table = Table {
    name: "disclosures",
    columns: &[
        ("id", Text),
        ("user_id", Text),
        ("requester", Text),
        ("reference", Text),
        ("reason", Text),
        ("status", Text),
        ("requested_by", Text),
        ("created_at", Int),
        ("decided_by", Text),
        ("decided_at", Int),
        ("decision_reason", Text),
    ],
    append_only: false,
};

impl Record for Disclosure {
    const TABLE: &'static Table = &DISCLOSURES;

    fn to_row(&self) -> Row {
        let mut row = vec![text(&self.id), text(&self.user_id), text(&self.requester), text(&self.reference), text(&self.reason)];
        row.extend(approval_values(&self.approval));
        row
    }

    fn from_row(row: Row) -> StoreResult<Disclosure> {
        let mut fields = Fields::new(&DISCLOSURES, row)?;
        Ok(Disclosure {
            id: fields.parsed(|text| ok(DisclosureId::parse(text)))?,
            user_id: fields.parsed(|text| ok(UserId::parse(text)))?,
            requester: fields.text()?,
            reference: fields.text()?,
            reason: fields.text()?,
            approval: read_approval(&mut fields)?,
        })
    }
}

pub static AUDIT_LOG: Table = Table {
    name: "audit_log",
    columns: &[
        ("seq", Int),
        ("at", Int),
        ("actor_id", Text),
        ("actor_role", Text),
        ("action", Text),
        ("target", Text),
        ("reason", Text),
        ("detail", Text),
        ("prev_hash", Text),
        ("hash", Text),
    ],
    append_only: true,
};

impl Record for AuditEntry {
    const TABLE: &'static Table = &AUDIT_LOG;

    fn to_row(&self) -> Row {
        let record = &self.record;
        vec![
            Value::Int(self.seq as i64),
            time(record.at),
            text(&record.actor_id),
            text(&record.actor_role),
            text(record.action.as_str()),
            text(&record.target),
            text(&record.reason),
            text(&record.detail),
            text(self.prev_hash.to_hex()),
            text(self.hash.to_hex()),
        ]
    }

    fn from_row(row: Row) -> StoreResult<AuditEntry> {
        let mut fields = Fields::new(&AUDIT_LOG, row)?;
        let seq = fields.int()? as u64;
        let record = AuditRecord {
            at: fields.time()?,
            actor_id: fields.text()?,
            actor_role: fields.text()?,
            action: fields.parsed(hongbao_core::staff::AuditAction::parse)?,
            target: fields.text()?,
            reason: fields.text()?,
            detail: fields.text()?,
        };
        Ok(AuditEntry { seq, record, prev_hash: fields.hash()?, hash: fields.hash()? })
    }
}

pub static EVENTS: Table = Table {
    name: "events",
    columns: &[("seq", Int), ("user_id", Text), ("kind", Text), ("subject_id", Text), ("created_at", Int), ("data", Text)],
    append_only: true,
};

/// Named values as lines of `name=value`, with `\`, newlines escaped.
fn encode_data(data: &[(String, String)]) -> String {
    // One pass into one string: every claim writes an event, so this runs on the hot path.
    fn escape_into(out: &mut String, text: &str) {
        for char in text.chars() {
            match char {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                char => out.push(char),
            }
        }
    }
    let mut out = String::with_capacity(data.iter().map(|(name, value)| name.len() + value.len() + 2).sum());
    for (index, (name, value)) in data.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        escape_into(&mut out, name);
        out.push('=');
        escape_into(&mut out, value);
    }
    out
}

fn decode_data(text: &str) -> Option<Vec<(String, String)>> {
    fn unescape(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(char) = chars.next() {
            if char == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => {}
                }
            } else {
                out.push(char);
            }
        }
        out
    }
    text.lines().filter(|line| !line.is_empty()).map(|line| line.split_once('=').map(|(name, value)| (unescape(name), unescape(value)))).collect()
}

/// An event's row: every claim writes one, so it is bound from the event's own text.
pub fn event_cells(event: &Event) -> [Cell<'_>; 6] {
    [
        Cell::Int(event.seq as i64),
        Cell::text(event.user_id.as_str()),
        Cell::text(event.kind.as_str()),
        Cell::text(&event.subject_id),
        Cell::time(event.created_at),
        Cell::owned(encode_data(&event.data)),
    ]
}

impl Record for Event {
    const TABLE: &'static Table = &EVENTS;

    fn to_row(&self) -> Row {
        owned_row(&event_cells(self))
    }

    fn from_row(row: Row) -> StoreResult<Event> {
        let mut fields = Fields::new(&EVENTS, row)?;
        Ok(Event {
            seq: fields.int()? as u64,
            user_id: fields.parsed(|text| ok(UserId::parse(text)))?,
            kind: fields.parsed(EventKind::parse)?,
            subject_id: fields.text()?,
            created_at: fields.time()?,
            data: fields.parsed(decode_data)?,
        })
    }
}

/// A tag a user put on a contact or a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    pub owner_id: UserId,
    /// A user id or a group id.
    pub target_id: String,
    pub tag: String,
    pub created_at: Timestamp,
}

impl Tag {
    pub fn key(owner_id: &UserId, target_id: &str) -> Value {
        text(format!("{owner_id}|{target_id}"))
    }
}

pub static TAGS: Table =
    Table { name: "tags", columns: &[("id", Text), ("owner_id", Text), ("target_id", Text), ("tag", Text), ("created_at", Int)], append_only: false };

impl Record for Tag {
    const TABLE: &'static Table = &TAGS;

    fn to_row(&self) -> Row {
        vec![Tag::key(&self.owner_id, &self.target_id), text(&self.owner_id), text(&self.target_id), text(&self.tag), time(self.created_at)]
    }

    fn from_row(row: Row) -> StoreResult<Tag> {
        let mut fields = Fields::new(&TAGS, row)?;
        fields.text()?;
        Ok(Tag { owner_id: fields.parsed(|text| ok(UserId::parse(text)))?, target_id: fields.text()?, tag: fields.text()?, created_at: fields.time()? })
    }
}

/// What a user (or a merchant key) sent out on one UTC day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredUsage {
    /// A user id, or a merchant key's id.
    pub owner_id: String,
    pub day: i64,
    pub usage: DailyUsage,
}

impl StoredUsage {
    pub fn key(owner_id: &str, day: i64) -> Value {
        text(format!("{owner_id}|{day}"))
    }
}

pub static DAILY_USAGE: Table = Table {
    name: "daily_usage",
    columns: &[("id", Text), ("owner_id", Text), ("day", Int), ("outgoing", Int), ("packets", Int), ("by_tag", Text)],
    append_only: false,
};

impl Record for StoredUsage {
    const TABLE: &'static Table = &DAILY_USAGE;

    fn to_row(&self) -> Row {
        let by_tag: Vec<String> = self.usage.by_tag.iter().map(|(tag, amount)| format!("{tag}={}", amount.minor_units())).collect();
        vec![
            StoredUsage::key(&self.owner_id, self.day),
            text(&self.owner_id),
            Value::Int(self.day),
            amount(self.usage.outgoing),
            Value::Int(i64::from(self.usage.packets)),
            text(by_tag.join(",")),
        ]
    }

    fn from_row(row: Row) -> StoreResult<StoredUsage> {
        let mut fields = Fields::new(&DAILY_USAGE, row)?;
        fields.text()?;
        let owner_id = fields.text()?;
        let day = fields.int()?;
        let outgoing = fields.amount()?;
        let packets = fields.int()?.max(0) as u32;
        let by_tag = fields.list(|item| {
            let (tag, units) = item.split_once('=')?;
            Some((tag.to_owned(), Amount::new(units.parse().ok()?).ok()?))
        })?;
        Ok(StoredUsage { owner_id, day, usage: DailyUsage { outgoing, packets, by_tag: by_tag.into_iter().collect() } })
    }
}

/// A user's recent recalls, cancels and return requests, for the velocity rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredVelocity {
    pub user_id: UserId,
    pub window: VelocityWindow,
}

pub static VELOCITY: Table = Table { name: "velocity", columns: &[("id", Text), ("action_times", Text)], append_only: false };

impl Record for StoredVelocity {
    const TABLE: &'static Table = &VELOCITY;

    fn to_row(&self) -> Row {
        let times: Vec<String> = self.window.action_times.iter().map(|at| at.millis().to_string()).collect();
        vec![text(&self.user_id), text(times.join(","))]
    }

    fn from_row(row: Row) -> StoreResult<StoredVelocity> {
        let mut fields = Fields::new(&VELOCITY, row)?;
        let user_id = fields.parsed(|text| ok(UserId::parse(text)))?;
        let action_times = fields.list(|item| item.parse().ok().map(Timestamp::from_millis))?;
        Ok(StoredVelocity { user_id, window: VelocityWindow { action_times } })
    }
}

/// The devices and addresses a user was seen calling from, newest last, at most
/// [`Sightings::MAX_KEPT`] of each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sightings {
    pub user_id: UserId,
    /// Device ids from `X-Device-Id`: letters, digits and `.:_-` only, so a comma never occurs.
    pub devices: Vec<String>,
    pub addresses: Vec<String>,
    pub updated_at: Timestamp,
}

impl Sightings {
    pub const MAX_KEPT: usize = 50;
}

pub static SIGHTINGS: Table =
    Table { name: "sightings", columns: &[("id", Text), ("devices", Text), ("addresses", Text), ("created_at", Int)], append_only: false };

impl Record for Sightings {
    const TABLE: &'static Table = &SIGHTINGS;

    fn to_row(&self) -> Row {
        vec![text(&self.user_id), joined(&self.devices), joined(&self.addresses), time(self.updated_at)]
    }

    fn from_row(row: Row) -> StoreResult<Sightings> {
        let mut fields = Fields::new(&SIGHTINGS, row)?;
        Ok(Sightings {
            user_id: fields.parsed(|text| ok(UserId::parse(text)))?,
            devices: fields.list(|item| Some(item.to_owned()))?,
            addresses: fields.list(|item| Some(item.to_owned()))?,
            updated_at: fields.time()?,
        })
    }
}

/// A single-use token that confirms one large packet or transfer, stored by its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confirmation {
    /// The token's SHA-256, lowercase hex.
    pub token_hash: String,
    pub user_id: UserId,
    /// What the token confirms: a digest of the request's terms.
    pub fingerprint: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

pub static CONFIRMATIONS: Table = Table {
    name: "confirmations",
    columns: &[("id", Text), ("user_id", Text), ("fingerprint", Text), ("created_at", Int), ("expires_at", Int), ("used_at", Int)],
    append_only: false,
};

impl Record for Confirmation {
    const TABLE: &'static Table = &CONFIRMATIONS;

    fn to_row(&self) -> Row {
        vec![text(&self.token_hash), text(&self.user_id), text(&self.fingerprint), time(self.created_at), time(self.expires_at), opt_time(self.used_at)]
    }

    fn from_row(row: Row) -> StoreResult<Confirmation> {
        let mut fields = Fields::new(&CONFIRMATIONS, row)?;
        Ok(Confirmation {
            token_hash: fields.text()?,
            user_id: fields.parsed(|text| ok(UserId::parse(text)))?,
            fingerprint: fields.text()?,
            created_at: fields.time()?,
            expires_at: fields.time()?,
            used_at: fields.opt_time()?,
        })
    }
}

pub static WEBHOOK_ENDPOINTS: Table = Table {
    name: "webhook_endpoints",
    columns: &[("id", Text), ("url", Text), ("secret", Text), ("created_at", Int), ("disabled_at", Int), ("cursor", Int)],
    append_only: false,
};

impl Record for WebhookEndpoint {
    const TABLE: &'static Table = &WEBHOOK_ENDPOINTS;

    fn to_row(&self) -> Row {
        vec![text(&self.id), text(&self.url), text(&self.secret), time(self.created_at), opt_time(self.disabled_at), Value::Int(self.cursor as i64)]
    }

    fn from_row(row: Row) -> StoreResult<WebhookEndpoint> {
        let mut fields = Fields::new(&WEBHOOK_ENDPOINTS, row)?;
        Ok(WebhookEndpoint {
            id: fields.parsed(|text| ok(WebhookId::parse(text)))?,
            url: fields.text()?,
            secret: fields.text()?,
            created_at: fields.time()?,
            disabled_at: fields.opt_time()?,
            cursor: fields.int()?.max(0) as u64,
        })
    }
}

pub static DELIVERIES: Table = Table {
    name: "webhook_deliveries",
    columns: &[
        ("id", Text),
        ("endpoint_id", Text),
        ("event_seq", Int),
        ("status", Text),
        ("attempts", Int),
        ("created_at", Int),
        ("next_attempt_at", Int),
        ("last_attempt_at", Int),
        ("last_status", Int),
        ("last_error", Text),
        ("delivered_at", Int),
    ],
    append_only: false,
};

/// The key of one event's delivery to one endpoint; zero-padded so keys sort in event order.
pub fn delivery_key(endpoint_id: &WebhookId, event_seq: u64) -> Value {
    text(format!("{endpoint_id}|{event_seq:020}"))
}

impl Record for Delivery {
    const TABLE: &'static Table = &DELIVERIES;

    fn to_row(&self) -> Row {
        vec![
            delivery_key(&self.endpoint_id, self.event_seq),
            text(&self.endpoint_id),
            Value::Int(self.event_seq as i64),
            text(self.status),
            Value::Int(i64::from(self.attempts)),
            time(self.created_at),
            opt_time(self.next_attempt_at),
            opt_time(self.last_attempt_at),
            self.last_status.map_or(Value::Null, |status| Value::Int(i64::from(status))),
            opt_text(self.last_error.as_ref()),
            opt_time(self.delivered_at),
        ]
    }

    fn from_row(row: Row) -> StoreResult<Delivery> {
        let mut fields = Fields::new(&DELIVERIES, row)?;
        fields.text()?;
        Ok(Delivery {
            endpoint_id: fields.parsed(|text| ok(WebhookId::parse(text)))?,
            event_seq: fields.int()?.max(0) as u64,
            status: fields.parsed(DeliveryStatus::parse)?,
            attempts: fields.int()?.max(0) as u32,
            created_at: fields.time()?,
            next_attempt_at: fields.opt_time()?,
            last_attempt_at: fields.opt_time()?,
            last_status: fields.opt_int()?.map(|status| status.clamp(0, 999) as u16),
            last_error: fields.opt_text()?,
            delivered_at: fields.opt_time()?,
        })
    }
}

/// A merchant key with the hash of its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMerchantKey {
    pub key: MerchantKey,
    pub secret_hash: [u8; 32],
}

pub static MERCHANT_KEYS: Table = Table {
    name: "merchant_keys",
    columns: &[
        ("id", Text),
        ("user_id", Text),
        ("name", Text),
        ("secret_hash", Text),
        ("scopes", Text),
        ("allowed_cidrs", Text),
        ("max_transaction", Int),
        ("daily_max", Int),
        ("created_at", Int),
        ("revoked_at", Int),
    ],
    append_only: false,
};

impl Record for StoredMerchantKey {
    const TABLE: &'static Table = &MERCHANT_KEYS;

    fn to_row(&self) -> Row {
        let key = &self.key;
        vec![
            text(&key.id),
            text(&key.user_id),
            text(&key.name),
            text(hex::encode(self.secret_hash)),
            joined(&key.scopes),
            // CIDRs never hold a comma.
            joined(&key.allowed_cidrs),
            key.max_transaction.map_or(Value::Null, amount),
            key.daily_max.map_or(Value::Null, amount),
            time(key.created_at),
            opt_time(key.revoked_at),
        ]
    }

    fn from_row(row: Row) -> StoreResult<StoredMerchantKey> {
        let mut fields = Fields::new(&MERCHANT_KEYS, row)?;
        let id = fields.parsed(|text| ok(MerchantKeyId::parse(text)))?;
        let user_id = fields.parsed(|text| ok(UserId::parse(text)))?;
        let name = fields.text()?;
        let secret_hash = fields.hash()?.0;
        let scopes = fields.list(Scope::parse)?;
        let allowed_cidrs = fields.list(|item| Some(item.to_owned()))?;
        let optional_amount = |units: Option<i64>| units.map(Amount::new).transpose().map_err(|_| corrupt(format!("merchant key {id}: a limit out of range")));
        let max_transaction = optional_amount(fields.opt_int()?)?;
        let daily_max = optional_amount(fields.opt_int()?)?;
        let key = MerchantKey {
            id: id.clone(),
            user_id,
            name,
            scopes,
            allowed_cidrs,
            max_transaction,
            daily_max,
            created_at: fields.time()?,
            revoked_at: fields.opt_time()?,
        };
        Ok(StoredMerchantKey { key, secret_hash })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_data_survives_escaping() {
        let data = vec![("reason".to_owned(), "line one\nline = two \\ three".to_owned()), ("status".to_owned(), String::new())];
        assert_eq!(decode_data(&encode_data(&data)), Some(data));
    }

    #[test]
    fn select_and_count_write_the_filters_order_and_cursor() {
        let placeholder = |index: usize| format!("?{index}");
        let query = Query::newest_first(&EVENTS, 10).equal("user_id", text("usr_a")).after(Some(vec![Value::Int(5)]));
        let (sql, params) = crate::records::sql::select(&query, placeholder);
        assert_eq!(sql, "SELECT seq, user_id, kind, subject_id, created_at, data FROM events WHERE user_id = ?1 AND (seq) < (?2) ORDER BY seq DESC LIMIT 10");
        assert_eq!(params.len(), 2);
        let (sql, params) = crate::records::sql::count(&query, placeholder);
        assert_eq!((sql.as_str(), params.len()), ("SELECT COUNT(*) FROM events WHERE user_id = ?1", 1));
        let keys = Query::by_keys(&VELOCITY, vec![text("usr_a"), text("usr_b")]);
        assert_eq!(crate::records::sql::select(&keys, placeholder).0, "SELECT id, action_times FROM velocity WHERE id IN (?1, ?2) LIMIT 2");
        let none = Query::by_keys(&VELOCITY, Vec::new());
        assert_eq!(crate::records::sql::select(&none, placeholder).0, "SELECT id, action_times FROM velocity WHERE id IN (NULL) LIMIT 0");
    }

    #[test]
    fn filters_match_rows_like_the_database() {
        let query = Query::newest_first(&EVENTS, 10).equal("user_id", text("usr_a")).after(Some(vec![Value::Int(5)]));
        let row = |seq: i64, user: &str| vec![Value::Int(seq), text(user), text("freeze.placed"), text("frz_a"), Value::Int(0), text("")];
        assert!(query.matches(&row(4, "usr_a")));
        assert!(!query.matches(&row(5, "usr_a")));
        assert!(!query.matches(&row(4, "usr_b")));
        let due = Query::newest_first(&COMPLAINTS, 10).at_most("open_due_at", Value::Int(10));
        let mut complaint = vec![Value::Null; COMPLAINTS.columns.len()];
        assert!(!due.matches(&complaint), "a resolved case (no open deadline) is never overdue");
        complaint[COMPLAINTS.position("open_due_at")] = Value::Int(9);
        assert!(due.matches(&complaint));
        let active = freezes_active_at(&UserId::parse("usr_a").expect("id"), Timestamp::from_millis(100));
        let mut freeze = vec![Value::Null; FREEZES.columns.len()];
        freeze[FREEZES.position("user_id")] = text("usr_a");
        assert!(!active.matches(&freeze), "a lifted freeze (no active_until) is not active");
        freeze[FREEZES.position("active_until")] = Value::Int(100);
        assert!(!active.matches(&freeze), "one that ends now is over");
        freeze[FREEZES.position("active_until")] = Value::Int(i64::MAX);
        assert!(active.matches(&freeze), "one until lifted holds");
    }
}

#[cfg(test)]
mod event_data_tests {
    use super::{decode_data, encode_data};

    #[test]
    fn event_data_round_trips_whatever_its_text() {
        let data: Vec<(String, String)> = vec![
            ("amount".into(), "1000".into()),
            ("note".into(), "two\nlines and a back\\slash".into()),
            // Names are the service's own keys, which hold no `=`; values may.
            ("formula".into(), "c=d".into()),
            ("empty".into(), String::new()),
            ("中文".into(), "红包 🧧".into()),
        ];
        assert_eq!(decode_data(&encode_data(&data)), Some(data));
        assert_eq!(encode_data(&[("a".into(), "x\\ny".into())]), "a=x\\\\ny");
    }
}
