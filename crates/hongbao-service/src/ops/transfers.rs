//! Transfers: sending into a hold, and each later step — acceptance, return, cancel, and the timer's
//! settlement or expiry — moving the hold's money once.

use hongbao_core::risk::Outgoing;
use hongbao_core::risk::VelocityAction;
use hongbao_core::transfer::{Arrival, HoldRelease, Transfer, TransferError};
use hongbao_core::{Account, Amount, LedgerTxn, Related, Timestamp, TransferId, TxnKind, UserId};

use crate::context::OpContext;
use crate::error::{Resource, ServiceError, ServiceResult};
use crate::outcome::Outcome;

impl OpContext<'_, '_> {
    pub(crate) fn send_transfer(
        &mut self,
        sender_id: UserId,
        recipient_id: UserId,
        amount: Amount,
        memo: Option<String>,
        arrival: Arrival,
        confirmation: Option<&str>,
    ) -> ServiceResult<Outcome> {
        self.require_user(&recipient_id)?;
        let transfer_id = TransferId::generate(self.now, self.rng);
        let txn_no = self.new_txn_no();
        let transfer = Transfer::new(
            transfer_id.clone(),
            sender_id.clone(),
            recipient_id.clone(),
            amount,
            memo,
            arrival,
            txn_no.clone(),
            &self.config.transfers,
            self.now,
        )?;
        self.require_available(&sender_id, amount)?;
        let tag = self.tag_of(&sender_id, recipient_id.as_str())?;
        self.check_limits(&sender_id, Outgoing::Transfer, amount, tag.as_deref())?;
        let terms = format!("transfer|{recipient_id}|{amount}|{:?}|{}", transfer.memo, transfer.arrival.as_str());
        let memo_shown = transfer.memo.clone();
        let summary = |context: &mut Self| context.summary_for(Some(&recipient_id), None, amount, memo_shown);
        if let Some(outcome) = self.confirm(&sender_id, &terms, confirmation, summary, amount)? {
            return Ok(outcome);
        }
        let related = Related { transfer_id: Some(transfer_id.clone()), ..Related::default() };
        let txn = LedgerTxn::transfer_between(
            txn_no,
            TxnKind::TransferSend,
            self.now,
            amount,
            Account::Wallet(sender_id.clone()),
            Account::TransferHold(transfer_id),
            related,
        )
        .with_memo(transfer.memo.clone());
        self.post(txn, &[&sender_id, &recipient_id])?;
        self.batch.insert_transfer(transfer.clone());
        self.notify_transfer(&transfer)?;
        self.record_outgoing(&sender_id, Outgoing::Transfer, amount, tag.as_deref(), transfer.id.as_str())?;
        Ok(Outcome::Transfer(transfer))
    }

    /// A transfer its sender or recipient may act on; others cannot see it.
    pub(crate) fn visible_transfer(&mut self, transfer_id: &TransferId, user_id: &UserId) -> ServiceResult<Transfer> {
        let transfer = self.batch.transfer(transfer_id)?.ok_or(ServiceError::NotFound(Resource::Transfer))?;
        if &transfer.sender_id != user_id && &transfer.recipient_id != user_id {
            return Err(ServiceError::NotFound(Resource::Transfer));
        }
        Ok(transfer)
    }

    pub(crate) fn change_transfer(
        &mut self,
        transfer_id: &TransferId,
        user_id: &UserId,
        step: fn(&mut Transfer, &UserId, Timestamp) -> Result<HoldRelease, TransferError>,
    ) -> ServiceResult<Outcome> {
        let mut transfer = self.visible_transfer(transfer_id, user_id)?;
        let release = step(&mut transfer, user_id, self.now)?;
        self.release_hold(&mut transfer, release)?;
        self.batch.update_transfer(transfer.clone());
        self.notify_transfer(&transfer)?;
        Ok(Outcome::Transfer(transfer))
    }

    pub(crate) fn transfer_timer(&mut self, transfer_id: &TransferId) -> ServiceResult<Outcome> {
        let Some(mut transfer) = self.batch.transfer(transfer_id)? else { return Ok(Outcome::Nothing) };
        let Some(release) = transfer.on_timer(self.now) else { return Ok(Outcome::Nothing) };
        self.release_hold(&mut transfer, release)?;
        self.batch.update_transfer(transfer.clone());
        self.notify_transfer(&transfer)?;
        Ok(Outcome::Transfer(transfer))
    }

    /// Cancel by the sender of a delayed transfer; it counts toward the velocity rule.
    pub(crate) fn cancel_transfer(&mut self, transfer_id: &TransferId, user_id: &UserId) -> ServiceResult<Outcome> {
        let outcome = self.change_transfer(transfer_id, user_id, Transfer::cancel)?;
        self.record_velocity(user_id, VelocityAction::Cancel)?;
        Ok(outcome)
    }
}
