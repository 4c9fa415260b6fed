//! Return requests (协商退还): the payer of a settled claim or transfer asks the recipient for the money
//! back, within what returns, case refunds and reversals left of the payment.

use hongbao_core::events::EventKind;
use hongbao_core::returns::{self, NewRequest, ReturnRequest, ReturnRequestStatus};
use hongbao_core::risk::VelocityAction;
use hongbao_core::{Account, Amount, LedgerTxn, Related, ReturnRequestId, TxnKind, TxnNo, UserId};

use crate::context::OpContext;
use crate::error::{Conflict, Denied, Invalid, Resource, ServiceError, ServiceResult};
use crate::outcome::Outcome;

impl OpContext<'_, '_> {
    pub(crate) fn create_return_request(
        &mut self,
        requester_id: UserId,
        txn_no: TxnNo,
        amount: Option<Amount>,
        reason: String,
        respond_within_seconds: Option<i64>,
    ) -> ServiceResult<Outcome> {
        let entry = self.batch.journal_entry(&txn_no)?.ok_or(ServiceError::NotFound(Resource::Transaction))?;
        let is_party = entry.txn.postings().iter().any(|posting| posting.account == Account::Wallet(requester_id.clone()));
        let Some((payer, recipient)) = self.payer_and_recipient(&entry)? else {
            if is_party {
                return Err(Invalid::NotAPayment { action: "asked back" }.into());
            }
            return Err(ServiceError::NotFound(Resource::Transaction));
        };
        if payer != requester_id {
            if recipient == requester_id {
                return Err(Denied::NotPayer.into());
            }
            return Err(ServiceError::NotFound(Resource::Transaction));
        }
        if payer == recipient {
            return Err(Invalid::PaidToSelf.into());
        }
        let earlier = self.batch.return_requests_for_txn(&txn_no)?;
        // What returns, case refunds and reversals already gave back cannot be asked back again.
        let left = self.uncorrected(&entry)?;
        let new = NewRequest { left, earlier_requests: &earlier, amount, reason: &reason, respond_within_seconds };
        let (amount, respond_by) = returns::check_new_request(&new, &self.config.returns, self.now)?;
        let request = ReturnRequest {
            id: ReturnRequestId::generate(self.now, self.rng),
            txn_no,
            requester_id,
            recipient_id: recipient,
            amount,
            reason: reason.trim().to_owned(),
            status: ReturnRequestStatus::Pending,
            created_at: self.now,
            respond_by,
            responded_at: None,
            decline_reason: None,
            return_txn_no: None,
        };
        self.batch.insert_return_request(request.clone());
        self.notify_return_request(&request)?;
        self.record_velocity(&request.requester_id, VelocityAction::ReturnRequest)?;
        Ok(Outcome::ReturnRequest(request))
    }

    pub(crate) fn visible_return_request(&mut self, request_id: &ReturnRequestId, user_id: &UserId) -> ServiceResult<ReturnRequest> {
        let request = self.batch.return_request(request_id)?.ok_or(ServiceError::NotFound(Resource::ReturnRequest))?;
        if &request.requester_id != user_id && &request.recipient_id != user_id {
            return Err(ServiceError::NotFound(Resource::ReturnRequest));
        }
        Ok(request)
    }

    pub(crate) fn accept_return_request(&mut self, request_id: &ReturnRequestId, user_id: &UserId) -> ServiceResult<Outcome> {
        let mut request = self.visible_return_request(request_id, user_id)?;
        request.check_accept(user_id, self.now)?;
        // A case refund or a reversal while the request waited may have moved some of the money back.
        let original =
            self.batch.journal_entry(&request.txn_no)?.ok_or_else(|| hongbao_store::corrupt(format!("a request about missing {}", request.txn_no)))?;
        let left = self.uncorrected(&original)?;
        if request.amount > left {
            return Err(Conflict::NothingLeft { txn_no: request.txn_no.clone(), paid: original.txn.amount(), left }.into());
        }
        self.require_available(user_id, request.amount)?;
        let txn_no = self.new_txn_no();
        let related = Related { corrects_txn_no: Some(request.txn_no.clone()), return_request_id: Some(request.id.clone()), ..Related::default() };
        let txn = LedgerTxn::transfer_between(
            txn_no.clone(),
            TxnKind::Return,
            self.now,
            request.amount,
            Account::Wallet(request.recipient_id.clone()),
            Account::Wallet(request.requester_id.clone()),
            related,
        )
        .with_memo(Some(request.reason.clone()));
        let (requester_id, recipient_id) = (request.requester_id.clone(), request.recipient_id.clone());
        self.post(txn, &[&requester_id, &recipient_id])?;
        request.record_accept(txn_no, self.now);
        self.batch.update_return_request(request.clone());
        self.notify_return_request(&request)?;
        Ok(Outcome::ReturnRequest(request))
    }

    pub(crate) fn decline_return_request(&mut self, request_id: &ReturnRequestId, user_id: &UserId, reason: Option<String>) -> ServiceResult<Outcome> {
        if reason.as_ref().is_some_and(|reason| reason.chars().count() > self.config.returns.max_reason_chars || !hongbao_core::text::is_storable(reason)) {
            return Err(Invalid::DeclineReason { max: self.config.returns.max_reason_chars }.into());
        }
        let mut request = self.visible_return_request(request_id, user_id)?;
        request.decline(user_id, reason, self.now)?;
        self.batch.update_return_request(request.clone());
        self.notify_return_request(&request)?;
        Ok(Outcome::ReturnRequest(request))
    }

    pub(crate) fn return_request_timer(&mut self, request_id: &ReturnRequestId) -> ServiceResult<Outcome> {
        let Some(mut request) = self.batch.return_request(request_id)? else { return Ok(Outcome::Nothing) };
        if !request.on_timer(self.now) {
            return Ok(Outcome::Nothing);
        }
        self.batch.update_return_request(request.clone());
        self.notify_return_request(&request)?;
        Ok(Outcome::ReturnRequest(request))
    }

    /// Tells both parties of a return request's new state.
    pub(crate) fn notify_return_request(&mut self, request: &ReturnRequest) -> ServiceResult<()> {
        let kind = match request.status {
            ReturnRequestStatus::Pending => EventKind::ReturnRequestCreated,
            ReturnRequestStatus::Accepted => EventKind::ReturnRequestAccepted,
            ReturnRequestStatus::Declined => EventKind::ReturnRequestDeclined,
            ReturnRequestStatus::Expired => EventKind::ReturnRequestExpired,
        };
        let data = vec![("amount", request.amount.minor_units().to_string()), ("txn_no", request.txn_no.to_string())];
        self.notify(&request.requester_id, kind, request.id.as_str(), data.clone())?;
        self.notify(&request.recipient_id, kind, request.id.as_str(), data)
    }
}
