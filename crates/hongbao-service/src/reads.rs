//! The reads of cases and their records, each with its visibility rule: a user sees their own
//! complaints, evidence and events; operators see what their role allows; others get "not found".

use hongbao_core::cases::{Complaint, ComplaintKind, Evidence};
use hongbao_core::events::Event;
use hongbao_core::freeze::Freeze;
use hongbao_core::legal::{ApprovalStatus, Disclosure, Reversal};
use hongbao_core::staff::{AuditEntry, Operator, Permission};
use hongbao_core::{ComplaintId, DisclosureId, EvidenceId, FreezeId, ReversalId, UserId};
use hongbao_store::records::{self, Query, Record, StoredOperator, Value, text};
use hongbao_store::{ReadConn, User};

use crate::Resource;
use crate::{Principal, Service, ServiceError, ServiceResult};

/// Which cases an operator's list shows.
#[derive(Clone, Debug, Default)]
pub struct CaseFilter {
    /// `submitted`, `needs_evidence`, `under_review` or `resolved`.
    pub status: Option<String>,
    pub kind: Option<ComplaintKind>,
    /// Only open cases past their deadline.
    pub overdue: bool,
}

/// A disclosure, with the identity it discloses once approved.
#[derive(Clone, Debug)]
pub struct DisclosureView {
    pub disclosure: Disclosure,
    pub identity: Option<User>,
}

/// A position in a list of records: the values of its order's columns.
pub type RecordCursor = Option<Vec<Value>>;

impl Service {
    fn require(&self, viewer: &Principal, permission: Permission) -> ServiceResult<()> {
        viewer.actor()?.require(permission)
    }

    async fn find<R: Record + Send + 'static>(&self, key: Value) -> ServiceResult<Option<R>> {
        self.read(move |conn| Ok(records::find::<R>(conn, key)?)).await
    }

    async fn list<R: Record + Send + 'static>(&self, query: Query) -> ServiceResult<Vec<R>> {
        self.read(move |conn| Ok(records::list::<R>(conn, &query)?)).await
    }

    /// A complaint, for its complainant and operators; others get "not found".
    pub async fn complaint(&self, viewer: &Principal, complaint_id: &ComplaintId) -> ServiceResult<Complaint> {
        let complaint: Complaint = self.find(text(complaint_id)).await?.ok_or(ServiceError::NotFound(Resource::Complaint))?;
        match viewer {
            Principal::User(user) if user.id != complaint.complainant_id => Err(ServiceError::NotFound(Resource::Complaint)),
            Principal::User(_) => Ok(complaint),
            _ => {
                self.require(viewer, Permission::ViewCases)?;
                Ok(complaint)
            }
        }
    }

    /// A user's own complaints, newest first.
    pub async fn complaints_of(&self, user_id: &UserId, after: RecordCursor, limit: u32) -> ServiceResult<Vec<Complaint>> {
        self.list(Query::newest_first(&records::COMPLAINTS, limit).equal("complainant_id", text(user_id)).after(after)).await
    }

    /// Cases for operators, newest first.
    pub async fn cases(&self, viewer: &Principal, filter: CaseFilter, after: RecordCursor, limit: u32) -> ServiceResult<Vec<Complaint>> {
        self.require(viewer, Permission::ViewCases)?;
        self.list(case_query(filter, self.clock().now(), limit).after(after)).await
    }

    /// How many open cases are past their deadline, for the metrics.
    pub async fn overdue_cases(&self) -> ServiceResult<u64> {
        let query = case_query(CaseFilter { overdue: true, ..CaseFilter::default() }, self.clock().now(), 1);
        self.read(move |conn| Ok(conn.count(&query)?)).await
    }

    /// A file of evidence, for its uploader, the complainant of its case and operators.
    pub async fn evidence(&self, viewer: &Principal, evidence_id: &EvidenceId) -> ServiceResult<Evidence> {
        let evidence: Evidence = self.find(text(evidence_id)).await?.ok_or(ServiceError::NotFound(Resource::Evidence))?;
        let Principal::User(user) = viewer else {
            self.require(viewer, Permission::ViewCases)?;
            return Ok(evidence);
        };
        if evidence.uploaded_by == user.id.as_str() {
            return Ok(evidence);
        }
        if let Some(case_id) = &evidence.case_id {
            let complaint: Option<Complaint> = self.find(text(case_id)).await?;
            if complaint.is_some_and(|complaint| complaint.complainant_id == user.id) {
                return Ok(evidence);
            }
        }
        Err(ServiceError::NotFound(Resource::Evidence))
    }

    pub async fn freeze(&self, viewer: &Principal, freeze_id: &FreezeId) -> ServiceResult<Freeze> {
        self.require(viewer, Permission::ViewCases)?;
        self.find(text(freeze_id)).await?.ok_or(ServiceError::NotFound(Resource::Freeze))
    }

    /// Freezes, newest first: of one user when given.
    pub async fn freezes(&self, viewer: &Principal, user_id: Option<&UserId>, after: RecordCursor, limit: u32) -> ServiceResult<Vec<Freeze>> {
        self.require(viewer, Permission::ViewCases)?;
        let mut query = Query::newest_first(&records::FREEZES, limit).after(after);
        if let Some(user_id) = user_id {
            query = query.equal("user_id", text(user_id));
        }
        self.list(query).await
    }

    pub async fn reversal(&self, viewer: &Principal, reversal_id: &ReversalId) -> ServiceResult<Reversal> {
        self.require(viewer, Permission::ViewLegal)?;
        self.find(text(reversal_id)).await?.ok_or(ServiceError::NotFound(Resource::Reversal))
    }

    pub async fn reversals(&self, viewer: &Principal, status: Option<ApprovalStatus>, after: RecordCursor, limit: u32) -> ServiceResult<Vec<Reversal>> {
        self.require(viewer, Permission::ViewLegal)?;
        let mut query = Query::newest_first(&records::REVERSALS, limit).after(after);
        if let Some(status) = status {
            query = query.equal("status", text(status));
        }
        self.list(query).await
    }

    /// A case refund that waited for, or was decided by, a second reviewer.
    pub async fn case_refund(&self, viewer: &Principal, refund_id: &hongbao_core::CaseRefundId) -> ServiceResult<hongbao_core::legal::CaseRefund> {
        self.require(viewer, Permission::ViewCases)?;
        self.find(text(refund_id)).await?.ok_or(ServiceError::NotFound(Resource::CaseRefund))
    }

    /// Case refunds above the four-eyes amount, newest first, by approval status and case.
    pub async fn case_refunds(
        &self,
        viewer: &Principal,
        status: Option<ApprovalStatus>,
        complaint_id: Option<&hongbao_core::ComplaintId>,
        after: RecordCursor,
        limit: u32,
    ) -> ServiceResult<Vec<hongbao_core::legal::CaseRefund>> {
        self.require(viewer, Permission::ViewCases)?;
        let mut query = Query::newest_first(&records::CASE_REFUNDS, limit).after(after);
        if let Some(status) = status {
            query = query.equal("status", text(status));
        }
        if let Some(complaint_id) = complaint_id {
            query = query.equal("complaint_id", text(complaint_id));
        }
        self.list(query).await
    }

    /// A disclosure; the identity only once a second legal officer approved it.
    pub async fn disclosure(&self, viewer: &Principal, disclosure_id: &DisclosureId) -> ServiceResult<DisclosureView> {
        self.require(viewer, Permission::ViewLegal)?;
        let disclosure: Disclosure = self.find(text(disclosure_id)).await?.ok_or(ServiceError::NotFound(Resource::Disclosure))?;
        self.disclosure_view(disclosure).await
    }

    async fn disclosure_view(&self, disclosure: Disclosure) -> ServiceResult<DisclosureView> {
        if disclosure.approval.status != ApprovalStatus::Approved {
            return Ok(DisclosureView { disclosure, identity: None });
        }
        let user_id = disclosure.user_id.clone();
        let identity = self.read(move |conn: &mut dyn ReadConn| Ok(conn.user(&user_id)?)).await?;
        Ok(DisclosureView { disclosure, identity })
    }

    pub async fn disclosures(&self, viewer: &Principal, status: Option<ApprovalStatus>, after: RecordCursor, limit: u32) -> ServiceResult<Vec<DisclosureView>> {
        self.require(viewer, Permission::ViewLegal)?;
        let mut query = Query::newest_first(&records::DISCLOSURES, limit).after(after);
        if let Some(status) = status {
            query = query.equal("status", text(status));
        }
        let mut views = Vec::new();
        for disclosure in self.list::<Disclosure>(query).await? {
            views.push(self.disclosure_view(disclosure).await?);
        }
        Ok(views)
    }

    /// The audit log, newest first, before sequence number `before_seq` when given.
    pub async fn audit_log(&self, viewer: &Principal, before_seq: Option<u64>, limit: u32) -> ServiceResult<Vec<AuditEntry>> {
        self.require(viewer, Permission::ReadAuditLog)?;
        let after = before_seq.map(|seq| vec![Value::Int(i64::try_from(seq).unwrap_or(i64::MAX))]);
        self.list(Query::newest_first(&records::AUDIT_LOG, limit).after(after)).await
    }

    /// Operators, newest first: for the admin and auditors.
    pub async fn operators(&self, viewer: &Principal, after: RecordCursor, limit: u32) -> ServiceResult<Vec<Operator>> {
        self.require(viewer, Permission::ReadAuditLog)?;
        let stored: Vec<StoredOperator> = self.list(Query::newest_first(&records::OPERATORS, limit).after(after)).await?;
        Ok(stored.into_iter().map(|stored| stored.operator).collect())
    }

    /// A user's own events, newest first, before sequence number `before_seq` when given.
    pub async fn events(&self, user_id: &UserId, before_seq: Option<u64>, limit: u32) -> ServiceResult<Vec<Event>> {
        let after = before_seq.map(|seq| vec![Value::Int(i64::try_from(seq).unwrap_or(i64::MAX))]);
        self.list(Query::newest_first(&records::EVENTS, limit).equal("user_id", text(user_id)).after(after)).await
    }
}

impl Service {
    /// A user's events after sequence number `after_seq`, oldest first, for the live stream.
    pub async fn events_after(&self, user_id: &UserId, after_seq: u64, limit: u32) -> ServiceResult<Vec<Event>> {
        let after = Some(vec![Value::Int(i64::try_from(after_seq).unwrap_or(i64::MAX))]);
        self.list(Query::newest_first(&records::EVENTS, limit).ascending().equal("user_id", text(user_id)).after(after)).await
    }

    /// A user's tags, newest first.
    pub async fn tags_of(&self, owner_id: &UserId) -> ServiceResult<Vec<hongbao_store::records::Tag>> {
        self.list(Query::newest_first(&records::TAGS, 1_000).equal("owner_id", text(owner_id))).await
    }

    /// Merchant API keys, newest first: for the admin and auditors.
    pub async fn merchant_keys(&self, viewer: &Principal) -> ServiceResult<Vec<hongbao_core::merchant::MerchantKey>> {
        self.require(viewer, Permission::ReadAuditLog)?;
        let stored: Vec<records::StoredMerchantKey> = self.list(Query::newest_first(&records::MERCHANT_KEYS, 1_000)).await?;
        Ok(stored.into_iter().map(|stored| stored.key).collect())
    }

    /// Webhook endpoints, newest first: for the admin and auditors.
    pub async fn webhooks(&self, viewer: &Principal) -> ServiceResult<Vec<hongbao_core::webhooks::WebhookEndpoint>> {
        self.require(viewer, Permission::ReadAuditLog)?;
        self.list(Query::newest_first(&records::WEBHOOK_ENDPOINTS, 1_000)).await
    }

    /// The delivery log of one endpoint, newest first.
    pub async fn deliveries(
        &self,
        viewer: &Principal,
        endpoint_id: &hongbao_core::WebhookId,
        after: RecordCursor,
        limit: u32,
    ) -> ServiceResult<Vec<hongbao_core::webhooks::Delivery>> {
        self.require(viewer, Permission::ReadAuditLog)?;
        self.list(Query::newest_first(&records::DELIVERIES, limit).equal("endpoint_id", text(endpoint_id)).after(after)).await
    }

    /// Deliveries due for an attempt at `now`, oldest first.
    pub async fn due_deliveries(&self, limit: u32) -> ServiceResult<Vec<hongbao_core::webhooks::Delivery>> {
        let now = self.clock().now();
        let query =
            Query::newest_first(&records::DELIVERIES, limit).ascending().equal("status", text("pending")).at_most("next_attempt_at", Value::Int(now.millis()));
        self.list(query).await
    }

    /// The last sequence number of the event outbox: where a stream without `Last-Event-ID` starts.
    pub async fn last_event_seq(&self) -> ServiceResult<u64> {
        let last: Vec<Event> = self.list(Query::newest_first(&records::EVENTS, 1)).await?;
        Ok(last.first().map_or(0, |event| event.seq))
    }
}

fn case_query(filter: CaseFilter, now: hongbao_core::Timestamp, limit: u32) -> Query {
    let mut query = Query::newest_first(&records::COMPLAINTS, limit);
    if let Some(status) = filter.status {
        query = query.equal("status", Value::Text(status));
    }
    if let Some(kind) = filter.kind {
        query = query.equal("kind", text(kind));
    }
    if filter.overdue {
        // Past the deadline: strictly before now, as `Complaint::is_overdue` says.
        query = query.at_most("open_due_at", Value::Int(now.millis() - 1));
    }
    query
}
