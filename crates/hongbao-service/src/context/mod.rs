//! The write context every operation runs in: the batch it reads and writes through, the time of the
//! operation and randomness, and what every feature shares — posting balanced transactions to the
//! journal, notices to users (the event outbox), the audit log, the spend restriction of freezes, and
//! the checks of text a client sends. Feature modules (`crate::ops`) use this module and never one
//! another; this module uses no feature.

pub mod actor;
pub mod money;
pub mod risk;

use std::collections::HashSet;

use hongbao_core::events::{Event, EventKind};
use hongbao_core::freeze::{Freeze, Restriction};
use hongbao_core::merchant::MerchantKey;
use hongbao_core::staff::{AuditAction, AuditRecord};
use hongbao_core::{Account, Amount, JournalHash, LedgerTxn, Timestamp, TxnNo, UserId};
use hongbao_store::records::{self};
use hongbao_store::{JournalEntry, User};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::batch::Batch;
use crate::config::Config;
use crate::context::actor::Actor;
use crate::error::{Invalid, Resource, ServiceError, ServiceResult};

/// Counts the writer adds to the metrics once the batch is durable.
#[derive(Clone, Copy, Debug, Default)]
pub struct Effects {
    pub packets_sent: u64,
    pub packets_claimed: u64,
    pub packets_refunded: u64,
}

/// What an operation may use: the batch it reads and writes through, the time of the operation and
/// randomness.
pub struct OpContext<'a, 'b> {
    pub batch: &'a mut Batch<'b>,
    pub now: Timestamp,
    pub rng: &'a mut dyn RngCore,
    pub config: &'a Config,
    pub effects: Effects,
    /// The merchant API key the operation comes through, whose limits apply too.
    pub key: Option<MerchantKey>,
}

/// A user's bearer token: 32 random bytes, hex, behind a recognisable prefix.
pub fn new_token(rng: &mut dyn RngCore) -> String {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    format!("hbt_{}", hex::encode(bytes))
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub(crate) fn check_name(name: &str, what: &'static str) -> ServiceResult<String> {
    let trimmed = name.trim();
    let chars = trimmed.chars().count();
    if chars == 0 || chars > 64 {
        return Err(Invalid::TextLength { field: what, max: 64 }.into());
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Invalid::ControlCharacters { field: what }.into());
    }
    Ok(trimmed.to_owned())
}

/// A reason, reference or other short text an operator must give: trimmed, 1 to `max` characters.
pub(crate) fn required_text(text: &str, what: &'static str, max: usize) -> ServiceResult<String> {
    let trimmed = text.trim();
    let chars = trimmed.chars().count();
    if chars == 0 || chars > max {
        return Err(Invalid::TextLength { field: what, max }.into());
    }
    if trimmed.chars().any(|char| char.is_control() && char != '\n') {
        return Err(Invalid::ControlCharacters { field: what }.into());
    }
    Ok(trimmed.to_owned())
}

pub(crate) fn reason(text: &str) -> ServiceResult<String> {
    required_text(text, "reason", 1_000)
}

/// The ids in `items` without repeats, in their first order.
pub(crate) fn distinct<T: Clone + Eq + std::hash::Hash>(items: Vec<T>) -> Vec<T> {
    let mut seen = HashSet::new();
    items.into_iter().filter(|item| seen.insert(item.clone())).collect()
}

impl OpContext<'_, '_> {
    pub(crate) fn new_txn_no(&mut self) -> TxnNo {
        TxnNo::generate(self.now, self.rng)
    }

    /// A wallet's balance.
    pub(crate) fn available(&mut self, user_id: &UserId) -> ServiceResult<Amount> {
        let balance = self.batch.balance(&Account::Wallet(user_id.clone()))?;
        Ok(Amount::new(balance).map_err(|_| hongbao_store::corrupt(format!("wallet of {user_id} holds {balance}")))?)
    }

    /// Refuses money leaving a wallet beyond its balance, or held by a freeze.
    pub(crate) fn require_available(&mut self, user_id: &UserId, needed: Amount) -> ServiceResult<()> {
        let balance = self.available(user_id)?;
        self.restriction(user_id)?.check_spend(balance, needed)?;
        Ok(())
    }

    pub(crate) fn require_user(&mut self, user_id: &UserId) -> ServiceResult<User> {
        self.batch.user(user_id)?.ok_or(ServiceError::NotFound(Resource::User))
    }

    /// Appends a balanced transaction to the journal, chained to the head, and applies it to the
    /// balances. Accounts that must stay non-negative are checked first; the database's own check
    /// constraint is the second line of defence.
    pub(crate) fn post(&mut self, txn: LedgerTxn, parties: &[&UserId]) -> ServiceResult<JournalEntry> {
        // PLANTED BUG (c), with the `planted-bugs` feature only: a claim that does not balance.
        #[cfg(feature = "planted-bugs")]
        let txn = crate::planted::unbalance(&self.config.planted_bugs, txn);
        for posting in txn.postings() {
            // No wallet holds more than the largest amount: every amount the service shows or moves
            // stays within it, so a wallet at the limit takes no more money in.
            if posting.amount > 0 && matches!(posting.account, Account::Wallet(_)) {
                let balance = self.batch.balance(&posting.account)?;
                if balance.checked_add(posting.amount).is_none_or(|after| after > hongbao_core::money::MAX_AMOUNT) {
                    return Err(ServiceError::BalanceLimit { account: posting.account.to_string() });
                }
            }
            if posting.amount < 0 && posting.account.must_stay_non_negative() {
                let balance = self.batch.balance(&posting.account)?;
                if balance + posting.amount < 0 {
                    return match &posting.account {
                        Account::Wallet(_) => Err(ServiceError::InsufficientFunds {
                            needed: Amount::new(-posting.amount).unwrap_or_default(),
                            available: Amount::new(balance).unwrap_or_default(),
                        }),
                        other => Err(hongbao_store::corrupt(format!("posting would take {other} below zero")).into()),
                    };
                }
            }
        }
        let (seq, prev_hash) = self.batch.journal_head()?;
        let seq = seq + 1;
        let hash = prev_hash.chain(seq, &txn);
        let entry = JournalEntry { seq, txn, prev_hash, hash };
        let parties: Vec<UserId> = parties.iter().map(|party| (*party).clone()).collect();
        self.batch.append_journal(entry.clone(), parties)?;
        Ok(entry)
    }

    pub(crate) fn audit(&mut self, actor: &Actor, action: AuditAction, target: &str, reason: &str, detail: &[(&str, String)]) -> ServiceResult<()> {
        let (seq, prev_hash): (u64, JournalHash) = self.batch.audit_head()?;
        let detail = detail.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join(" ");
        let record = AuditRecord {
            at: self.now,
            actor_id: actor.id(),
            actor_role: actor.role_name().to_owned(),
            action,
            target: target.to_owned(),
            reason: reason.to_owned(),
            detail,
        };
        self.batch.append_audit(record.chain_after(seq, prev_hash));
        Ok(())
    }

    pub(crate) fn notify(&mut self, user_id: &UserId, kind: EventKind, subject_id: &str, data: Vec<(&str, String)>) -> ServiceResult<()> {
        let seq = self.batch.event_head()? + 1;
        let data = data.into_iter().map(|(name, value)| (name.to_owned(), value)).collect();
        self.batch.append_event(Event { seq, user_id: user_id.clone(), kind, subject_id: subject_id.to_owned(), created_at: self.now, data });
        Ok(())
    }

    /// What the active freezes of a user allow now.
    pub(crate) fn restriction(&mut self, user_id: &UserId) -> ServiceResult<Restriction> {
        let query = records::freezes_active_at(user_id, self.now);
        let freezes: Vec<Freeze> = self.batch.records(&query)?;
        Ok(Restriction::of(&freezes, self.now))
    }
}
