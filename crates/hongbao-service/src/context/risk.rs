//! The risk checks every outgoing payment passes inside the writer: the policy's limits (and a merchant
//! key's own), large payments' confirmation with single-use tokens, the velocity rule (which freezes
//! through the ordinary freeze), alerts on large payments, and the tags that choose limits.

use hongbao_core::events::EventKind;
use hongbao_core::freeze::{Freeze, FreezeCause, FreezeScope};
use hongbao_core::risk::VelocityAction;
use hongbao_core::risk::{DailyUsage, Outgoing, VelocityWindow, day_of};
use hongbao_core::staff::AuditAction;
use hongbao_core::{Amount, FreezeId, GroupId, Timestamp, UserId};
use hongbao_store::records::{self, Confirmation, StoredUsage, StoredVelocity, Tag, text};
use sha2::{Digest, Sha256};

use crate::context::OpContext;
use crate::context::actor::Actor;
use crate::error::{OverLimit, Resource, ServiceError, ServiceResult};
pub use crate::outcome::ConfirmationSummary;
use crate::outcome::Outcome;

/// A digest of a request's terms, which a confirmation token is bound to.
pub fn fingerprint(terms: &str) -> String {
    hex::encode(Sha256::digest(terms.as_bytes()))
}

/// The stored form of a confirmation token: its SHA-256 in hex.
pub(crate) fn fingerprint_of_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl OpContext<'_, '_> {
    /// The tag the payer put on an audience, if any.
    pub(crate) fn tag_of(&mut self, owner_id: &UserId, target_id: &str) -> ServiceResult<Option<String>> {
        let tag: Option<Tag> = self.batch.record(Tag::key(owner_id, target_id))?;
        Ok(tag.map(|tag| tag.tag).filter(|tag| !tag.is_empty()))
    }

    pub(crate) fn usage_of(&mut self, owner_id: &str) -> ServiceResult<StoredUsage> {
        let day = day_of(self.now);
        let stored: Option<StoredUsage> = self.batch.record(StoredUsage::key(owner_id, day))?;
        Ok(stored.unwrap_or(StoredUsage { owner_id: owner_id.to_owned(), day, usage: DailyUsage::default() }))
    }

    /// Refuses an outgoing payment the policy does not allow, with the limit named.
    pub(crate) fn check_limits(&mut self, user_id: &UserId, kind: Outgoing, amount: Amount, tag: Option<&str>) -> ServiceResult<()> {
        let policy = self.batch.policy()?;
        let usage = self.usage_of(user_id.as_str())?;
        policy.check_outgoing(kind, amount, tag, &usage.usage).map_err(|error| ServiceError::OverLimit(OverLimit::Policy(error)))?;
        self.check_key_limits(amount)
    }

    /// Refuses a payment past the calling key's own limits.
    pub(crate) fn check_key_limits(&mut self, amount: Amount) -> ServiceResult<()> {
        let Some(key) = self.key.clone() else { return Ok(()) };
        let used = self.usage_of(key.id.as_str())?.usage.outgoing;
        key.check_amount(amount, used).map_err(|error| ServiceError::OverLimit(OverLimit::Key(error)))
    }

    /// Counts a payment that went out, and alerts on a large one.
    pub(crate) fn record_outgoing(&mut self, user_id: &UserId, kind: Outgoing, amount: Amount, tag: Option<&str>, subject_id: &str) -> ServiceResult<()> {
        let mut usage = self.usage_of(user_id.as_str())?;
        usage.usage.record(kind, amount, tag);
        self.batch.put_record(&usage);
        if let Some(key) = self.key.clone() {
            let mut key_usage = self.usage_of(key.id.as_str())?;
            key_usage.usage.record(kind, amount, None);
            self.batch.put_record(&key_usage);
        }
        if self.batch.policy()?.raises_alert(amount) {
            let data = vec![("reason", "large_transaction".to_owned()), ("amount", amount.minor_units().to_string()), ("kind", kind.as_str().to_owned())];
            self.notify(user_id, EventKind::AlertRaised, subject_id, data)?;
        }
        Ok(())
    }

    /// For a payment at or above the threshold: goes ahead when `token` is a valid, unused, unexpired
    /// token of this user for exactly these terms (and uses it up); otherwise answers with a new token.
    pub(crate) fn confirm(
        &mut self,
        user_id: &UserId,
        terms: &str,
        token: Option<&str>,
        summary: impl FnOnce(&mut Self) -> ServiceResult<ConfirmationSummary>,
        amount: Amount,
    ) -> ServiceResult<Option<Outcome>> {
        let policy = self.batch.policy()?;
        if !policy.needs_confirmation(amount) {
            return Ok(None);
        }
        let fingerprint = fingerprint(terms);
        let problem = match token {
            None => "this payment needs confirmation: repeat it with the Confirmation-Token header",
            Some(token) => {
                let stored: Option<Confirmation> = self.batch.record(text(fingerprint_of_token(token)))?;
                match stored {
                    Some(stored) if &stored.user_id != user_id || stored.fingerprint != fingerprint => {
                        "the confirmation token is for another payment; confirm this one with the new token"
                    }
                    None => "the confirmation token is not one this server gave out; confirm with the new token",
                    Some(stored) if stored.used_at.is_some() => "the confirmation token was already used; confirm with the new token",
                    Some(stored) if self.now >= stored.expires_at => "the confirmation token expired; confirm with the new token",
                    Some(mut stored) => {
                        stored.used_at = Some(self.now);
                        self.batch.put_record(&stored);
                        return Ok(None);
                    }
                }
            }
        };
        let mut summary = summary(self)?;
        let token = format!(
            "hbc_{}",
            hex::encode({
                let mut bytes = [0u8; 24];
                self.rng.fill_bytes(&mut bytes);
                bytes
            })
        );
        let expires_at = self.now.plus_seconds(policy.confirmation_ttl_seconds);
        let confirmation =
            Confirmation { token_hash: fingerprint_of_token(&token), user_id: user_id.clone(), fingerprint, created_at: self.now, expires_at, used_at: None };
        self.batch.put_record(&confirmation);
        summary.token = token;
        summary.expires_at = expires_at;
        Ok(Some(Outcome::ConfirmationRequired { detail: problem.to_owned(), summary }))
    }

    /// What the payer of a large payment sees before confirming it.
    pub(crate) fn summary_for(
        &mut self,
        recipient_id: Option<&UserId>,
        group_id: Option<&GroupId>,
        amount: Amount,
        memo: Option<String>,
    ) -> ServiceResult<ConfirmationSummary> {
        let (audience_kind, audience_id, audience_name, audience_size) = match (recipient_id, group_id) {
            (Some(recipient_id), _) => {
                let user = self.require_user(recipient_id)?;
                ("user", user.id.to_string(), user.name, None)
            }
            (None, Some(group_id)) => {
                let group = self.batch.group(group_id)?.ok_or(ServiceError::NotFound(Resource::Group))?;
                ("group", group.id.to_string(), group.name, Some(group.member_ids.len() as u32))
            }
            (None, None) => return Err(ServiceError::Internal("a payment without an audience".into())),
        };
        let expires_at = self.now;
        Ok(ConfirmationSummary { amount, audience_kind, audience_id, audience_name, audience_size, memo, token: String::new(), expires_at })
    }

    /// Counts a recall, cancel or return request; past the rule's count in its window, freezes the
    /// user's outgoing money for the rule's time and raises an alert.
    pub(crate) fn record_velocity(&mut self, user_id: &UserId, action: VelocityAction) -> ServiceResult<()> {
        let policy = self.batch.policy()?;
        let stored: Option<StoredVelocity> = self.batch.record(text(user_id))?;
        let mut stored = stored.unwrap_or(StoredVelocity { user_id: user_id.clone(), window: VelocityWindow::default() });
        let tripped = stored.window.record(&policy.velocity, self.now);
        self.batch.put_record(&stored);
        if !tripped {
            return Ok(());
        }
        let query = records::freezes_active_at(user_id, self.now);
        let already = self.batch.records::<Freeze>(&query)?.iter().any(|freeze| freeze.is_active(self.now) && freeze.cause == FreezeCause::Velocity);
        if already {
            return Ok(());
        }
        let rule = &policy.velocity;
        let reason = format!("more than {} recalls, cancels or return requests in {} seconds", rule.max_actions, rule.window_seconds);
        let freeze = Freeze {
            id: FreezeId::generate(self.now, self.rng),
            user_id: user_id.clone(),
            scope: FreezeScope::Full,
            refunded_amount: Amount::ZERO,
            cause: FreezeCause::Velocity,
            reason: reason.clone(),
            created_by: hongbao_core::staff::SYSTEM_ACTOR.to_owned(),
            created_at: self.now,
            until: Some(self.now.plus_seconds(rule.freeze_seconds)),
            lift: None,
        };
        self.batch.put_record(&freeze);
        let until = freeze.until.map(Timestamp::to_rfc3339).unwrap_or_default();
        self.notify(user_id, EventKind::FreezePlaced, freeze.id.as_str(), vec![("scope", "full".to_owned()), ("until", until.clone())])?;
        let data =
            vec![("reason", FreezeCause::VELOCITY.to_owned()), ("action", action.as_str().to_owned()), ("freeze_id", freeze.id.to_string()), ("until", until)];
        self.notify(user_id, EventKind::AlertRaised, freeze.id.as_str(), data)?;
        self.audit(
            &Actor::System,
            AuditAction::FreezeCreate,
            freeze.id.as_str(),
            &reason,
            &[("user", user_id.to_string()), ("rule", FreezeCause::VELOCITY.to_owned())],
        )
    }
}
