//! Users and their wallets: creating a user with a token shown once, top-ups and withdrawals through
//! the platform's funding and payout accounts, each external reference naming one movement.

use hongbao_core::events::EventKind;
use hongbao_core::risk::Outgoing;
use hongbao_core::{Account, Amount, LedgerTxn, Related, TxnKind, UserId};
use hongbao_store::{JournalEntry, User};

use crate::context::{OpContext, check_name, new_token, token_hash};
use crate::error::{Invalid, ServiceError, ServiceResult};
use crate::outcome::Outcome;

fn check_reference(reference: &str) -> ServiceResult<()> {
    let chars = reference.chars().count();
    if chars == 0 || chars > 128 || reference.chars().any(char::is_control) {
        return Err(Invalid::Reference.into());
    }
    Ok(())
}

impl OpContext<'_, '_> {
    pub(crate) fn create_user(&mut self, name: &str) -> ServiceResult<Outcome> {
        let name = check_name(name, "name")?;
        let user = User { id: UserId::generate(self.now, self.rng), name, created_at: self.now };
        let token = new_token(self.rng);
        self.batch.insert_user(user.clone(), token_hash(&token));
        Ok(Outcome::UserCreated { user, token })
    }

    /// The top-up or withdrawal an external reference already made (PRODUCT.md: an external reference
    /// names one movement of money). The same movement asked again, as a retried bank callback does,
    /// is answered with that first transaction; a different one under the same reference is refused.
    pub(crate) fn earlier_movement(&mut self, kind: TxnKind, reference: &str, user_id: &UserId, amount: Amount) -> ServiceResult<Option<JournalEntry>> {
        let Some(entry) = self.batch.journal_entry_by_reference(kind, reference)? else { return Ok(None) };
        if entry.txn.amount() == amount && entry.txn.delta_for(&Account::Wallet(user_id.clone())) != 0 {
            return Ok(Some(entry));
        }
        Err(ServiceError::ReferenceReused { kind: kind.as_str(), reference: reference.to_owned(), txn_no: entry.txn.txn_no().clone() })
    }

    pub(crate) fn top_up(&mut self, user_id: &UserId, amount: Amount, reference: String) -> ServiceResult<Outcome> {
        check_reference(&reference)?;
        self.require_user(user_id)?;
        if let Some(first) = self.earlier_movement(TxnKind::TopUp, &reference, user_id, amount)? {
            return Ok(Outcome::Posted(first));
        }
        let txn_no = self.new_txn_no();
        let txn = LedgerTxn::transfer_between(txn_no, TxnKind::TopUp, self.now, amount, Account::Funding, Account::Wallet(user_id.clone()), Related::default())
            .with_reference(Some(reference));
        let entry = self.post(txn, &[user_id])?;
        self.notify(user_id, EventKind::WalletToppedUp, entry.txn.txn_no().as_str(), vec![("amount", amount.minor_units().to_string())])?;
        Ok(Outcome::Posted(entry))
    }

    pub(crate) fn withdraw(&mut self, user_id: &UserId, amount: Amount, reference: Option<String>) -> ServiceResult<Outcome> {
        if let Some(reference) = &reference {
            check_reference(reference)?;
            if let Some(first) = self.earlier_movement(TxnKind::Withdrawal, reference, user_id, amount)? {
                return Ok(Outcome::Posted(first));
            }
        }
        self.require_available(user_id, amount)?;
        self.check_limits(user_id, Outgoing::Withdrawal, amount, None)?;
        let txn_no = self.new_txn_no();
        let txn =
            LedgerTxn::transfer_between(txn_no, TxnKind::Withdrawal, self.now, amount, Account::Wallet(user_id.clone()), Account::Payout, Related::default())
                .with_reference(reference);
        let entry = self.post(txn, &[user_id])?;
        self.record_outgoing(user_id, Outgoing::Withdrawal, amount, None, entry.txn.txn_no().as_str())?;
        self.notify(user_id, EventKind::WalletWithdrawn, entry.txn.txn_no().as_str(), vec![("amount", amount.minor_units().to_string())])?;
        Ok(Outcome::Posted(entry))
    }
}
