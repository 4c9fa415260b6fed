//! Risk control as writer operations and checks: the policy's limits on every outgoing payment, tags,
//! the velocity rule (which freezes through the freeze mechanism), alerts, and the confirmation of
//! large payments with single-use tokens.

use hongbao_core::events::EventKind;
use hongbao_core::freeze::{Freeze, FreezeCause, FreezeScope};
use hongbao_core::risk::{DailyUsage, Outgoing, VelocityWindow, day_of, valid_tag};
use hongbao_core::staff::Permission;
use hongbao_core::{Amount, FreezeId, GroupId, Timestamp, UserId};
use hongbao_store::records::{self, Confirmation, Sightings, StoredUsage, StoredVelocity, Tag, text};
use sha2::{Digest, Sha256};

use crate::batch::POLICY_SETTING;
use crate::cases::Actor;
use crate::error::{ServiceError, ServiceResult};
use crate::ops::{OpContext, Outcome};

/// What a confirmation shows the payer before a large payment goes ahead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfirmationSummary {
    pub amount: Amount,
    /// `user` or `group`.
    pub audience_kind: &'static str,
    pub audience_id: String,
    /// The recipient's name, or the group's.
    pub audience_name: String,
    /// The members of a group audience.
    pub audience_size: Option<u32>,
    /// The transfer's memo or the packet's greeting.
    pub memo: Option<String>,
    pub token: String,
    pub expires_at: Timestamp,
}

/// The operations of risk control.
#[derive(Clone, Debug)]
pub enum RiskOp {
    SetTag {
        owner_id: UserId,
        target_id: String,
        tag: String,
    },
    RemoveTag {
        owner_id: UserId,
        target_id: String,
    },
    /// A user was seen calling from a device and an address; new ones raise alerts.
    ObserveClient {
        user_id: UserId,
        device: Option<String>,
        address: Option<String>,
    },
    ReplacePolicy {
        actor: Actor,
        text: String,
    },
}

/// A digest of a request's terms, which a confirmation token is bound to.
pub fn fingerprint(terms: &str) -> String {
    hex::encode(Sha256::digest(terms.as_bytes()))
}

impl OpContext<'_, '_> {
    pub(crate) fn run_risk(&mut self, op: RiskOp) -> ServiceResult<Outcome> {
        match op {
            RiskOp::SetTag { owner_id, target_id, tag } => self.set_tag(owner_id, target_id, tag),
            RiskOp::RemoveTag { owner_id, target_id } => self.remove_tag(&owner_id, &target_id),
            RiskOp::ObserveClient { user_id, device, address } => self.observe_client(&user_id, device, address),
            RiskOp::ReplacePolicy { actor, text } => self.replace_policy(&actor, &text),
        }
    }

    // ---- tags ----

    fn set_tag(&mut self, owner_id: UserId, target_id: String, tag: String) -> ServiceResult<Outcome> {
        if !valid_tag(&tag) {
            return Err(ServiceError::Validation("a tag is 1 to 32 lowercase letters, digits, - and _ (family, friends, work, strangers, or your own)".into()));
        }
        self.check_tag_target(&owner_id, &target_id)?;
        let existing: Option<Tag> = self.batch.record(Tag::key(&owner_id, &target_id))?;
        let tag = Tag { owner_id, target_id, tag, created_at: existing.map_or(self.now, |existing| existing.created_at) };
        self.batch.put_record(&tag);
        Ok(Outcome::Tag(tag))
    }

    fn check_tag_target(&mut self, owner_id: &UserId, target_id: &str) -> ServiceResult<()> {
        if let Ok(user_id) = UserId::parse(target_id) {
            if &user_id == owner_id {
                return Err(ServiceError::Validation("you cannot tag yourself".into()));
            }
            self.require_user(&user_id)?;
            return Ok(());
        }
        if let Ok(group_id) = GroupId::parse(target_id) {
            if !self.batch.is_member(&group_id, owner_id)? {
                return Err(ServiceError::NotFound("group"));
            }
            return Ok(());
        }
        Err(ServiceError::Validation("a tag goes on a user id or a group id".into()))
    }

    fn remove_tag(&mut self, owner_id: &UserId, target_id: &str) -> ServiceResult<Outcome> {
        let tag = self.batch.record::<Tag>(Tag::key(owner_id, target_id))?.filter(|tag| !tag.tag.is_empty()).ok_or(ServiceError::NotFound("tag"))?;
        // A removed tag is kept as an empty one, so its row is simply replaced.
        let cleared = Tag { tag: String::new(), ..tag };
        self.batch.put_record(&cleared);
        Ok(Outcome::Tag(cleared))
    }

    /// The tag the payer put on an audience, if any.
    pub(crate) fn tag_of(&mut self, owner_id: &UserId, target_id: &str) -> ServiceResult<Option<String>> {
        let tag: Option<Tag> = self.batch.record(Tag::key(owner_id, target_id))?;
        Ok(tag.map(|tag| tag.tag).filter(|tag| !tag.is_empty()))
    }

    // ---- limits ----

    pub(crate) fn usage_of(&mut self, owner_id: &str) -> ServiceResult<StoredUsage> {
        let day = day_of(self.now);
        let stored: Option<StoredUsage> = self.batch.record(StoredUsage::key(owner_id, day))?;
        Ok(stored.unwrap_or(StoredUsage { owner_id: owner_id.to_owned(), day, usage: DailyUsage::default() }))
    }

    /// Refuses an outgoing payment the policy does not allow, with the limit named.
    pub(crate) fn check_limits(&mut self, user_id: &UserId, kind: Outgoing, amount: Amount, tag: Option<&str>) -> ServiceResult<()> {
        let policy = self.batch.policy()?;
        let usage = self.usage_of(user_id.as_str())?;
        policy.check_outgoing(kind, amount, tag, &usage.usage).map_err(|error| ServiceError::LimitExceeded(error.to_string()))?;
        self.check_key_limits(amount)
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

    // ---- confirmation ----

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

    // ---- velocity ----

    /// Counts a recall, cancel or return request; past the rule's count in its window, freezes the
    /// user's outgoing money for the rule's time and raises an alert.
    pub(crate) fn record_velocity(&mut self, user_id: &UserId, action: &str) -> ServiceResult<()> {
        let policy = self.batch.policy()?;
        let stored: Option<StoredVelocity> = self.batch.record(text(user_id))?;
        let mut stored = stored.unwrap_or(StoredVelocity { user_id: user_id.clone(), window: VelocityWindow::default() });
        let tripped = stored.window.record(&policy.velocity, self.now);
        self.batch.put_record(&stored);
        if !tripped {
            return Ok(());
        }
        let query = records::freezes_active_at(user_id, self.now);
        let already =
            self.batch.records::<Freeze>(&query)?.iter().any(|freeze| freeze.is_active(self.now) && freeze.cause == FreezeCause::Rule("velocity".into()));
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
            cause: FreezeCause::Rule("velocity".into()),
            reason: reason.clone(),
            created_by: hongbao_core::staff::SYSTEM_ACTOR.to_owned(),
            created_at: self.now,
            until: Some(self.now.plus_seconds(rule.freeze_seconds)),
            lift: None,
        };
        self.batch.put_record(&freeze);
        let until = freeze.until.map(Timestamp::to_rfc3339).unwrap_or_default();
        self.notify(user_id, EventKind::FreezePlaced, freeze.id.as_str(), vec![("scope", "full".to_owned()), ("until", until.clone())])?;
        let data = vec![("reason", "velocity".to_owned()), ("action", action.to_owned()), ("freeze_id", freeze.id.to_string()), ("until", until)];
        self.notify(user_id, EventKind::AlertRaised, freeze.id.as_str(), data)?;
        self.audit(&Actor::System, "freeze.create", freeze.id.as_str(), &reason, &[("user", user_id.to_string()), ("rule", "velocity".to_owned())])
    }

    // ---- devices and addresses ----

    fn observe_client(&mut self, user_id: &UserId, device: Option<String>, address: Option<String>) -> ServiceResult<Outcome> {
        let stored: Option<Sightings> = self.batch.record(text(user_id))?;
        let mut sightings = stored.unwrap_or(Sightings { user_id: user_id.clone(), devices: Vec::new(), addresses: Vec::new(), updated_at: self.now });
        let mut changed = false;
        for (kind, value, known) in [("device", device, &mut sightings.devices), ("address", address, &mut sightings.addresses)] {
            let Some(value) = value else { continue };
            if known.contains(&value) {
                continue;
            }
            // The first device or address a user is seen from sets the baseline; later new ones alert.
            if !known.is_empty() {
                let reason = if kind == "device" { "new_device" } else { "new_address" };
                self.notify(user_id, EventKind::AlertRaised, user_id.as_str(), vec![("reason", reason.to_owned()), (kind, value.clone())])?;
            }
            known.push(value);
            if known.len() > Sightings::MAX_KEPT {
                known.remove(0);
            }
            changed = true;
        }
        if changed {
            sightings.updated_at = self.now;
            self.batch.put_record(&sightings);
        }
        Ok(Outcome::Nothing)
    }

    // ---- the policy ----

    fn replace_policy(&mut self, actor: &Actor, policy_text: &str) -> ServiceResult<Outcome> {
        actor.require(Permission::ReplacePolicy)?;
        let policy = crate::policy::parse_policy(policy_text).map_err(|error| ServiceError::Validation(format!("the policy is refused: {error}")))?;
        self.batch.put_setting(POLICY_SETTING, policy_text.as_bytes());
        let digest = fingerprint(policy_text);
        self.audit(actor, "policy.replace", "risk_policy", "policy replaced", &[("sha256", digest)])?;
        Ok(Outcome::Policy(std::sync::Arc::new(policy)))
    }
}

/// The stored form of a confirmation token: its SHA-256 in hex.
fn fingerprint_of_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
