//! Risk control's own operations: users' tags on contacts and groups, noting the devices and addresses
//! users call from (new ones raise alerts), and replacing the risk policy. The checks every payment
//! passes live in the write context (`crate::context::risk`).

use hongbao_core::events::EventKind;
use hongbao_core::risk::valid_tag;
use hongbao_core::staff::{AuditAction, Permission};
use hongbao_core::{GroupId, UserId};
use hongbao_store::records::{Sightings, Tag, text};

use crate::batch::POLICY_SETTING;
use crate::context::OpContext;
use crate::context::actor::Actor;
use crate::context::risk::fingerprint;
use crate::error::{Invalid, Resource, ServiceError, ServiceResult};
use crate::outcome::Outcome;

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

impl OpContext<'_, '_> {
    pub(crate) fn run_risk(&mut self, op: RiskOp) -> ServiceResult<Outcome> {
        match op {
            RiskOp::SetTag { owner_id, target_id, tag } => self.set_tag(owner_id, target_id, tag),
            RiskOp::RemoveTag { owner_id, target_id } => self.remove_tag(&owner_id, &target_id),
            RiskOp::ObserveClient { user_id, device, address } => self.observe_client(&user_id, device, address),
            RiskOp::ReplacePolicy { actor, text } => self.replace_policy(&actor, &text),
        }
    }

    pub(crate) fn set_tag(&mut self, owner_id: UserId, target_id: String, tag: String) -> ServiceResult<Outcome> {
        if !valid_tag(&tag) {
            return Err(Invalid::Tag.into());
        }
        self.check_tag_target(&owner_id, &target_id)?;
        let existing: Option<Tag> = self.batch.record(Tag::key(&owner_id, &target_id))?;
        let tag = Tag { owner_id, target_id, tag, created_at: existing.map_or(self.now, |existing| existing.created_at) };
        self.batch.put_record(&tag);
        Ok(Outcome::Tag(tag))
    }

    pub(crate) fn check_tag_target(&mut self, owner_id: &UserId, target_id: &str) -> ServiceResult<()> {
        if let Ok(user_id) = UserId::parse(target_id) {
            if &user_id == owner_id {
                return Err(Invalid::TagOnSelf.into());
            }
            self.require_user(&user_id)?;
            return Ok(());
        }
        if let Ok(group_id) = GroupId::parse(target_id) {
            if !self.batch.is_member(&group_id, owner_id)? {
                return Err(ServiceError::NotFound(Resource::Group));
            }
            return Ok(());
        }
        Err(Invalid::TagTarget.into())
    }

    pub(crate) fn remove_tag(&mut self, owner_id: &UserId, target_id: &str) -> ServiceResult<Outcome> {
        let tag = self.batch.record::<Tag>(Tag::key(owner_id, target_id))?.filter(|tag| !tag.tag.is_empty()).ok_or(ServiceError::NotFound(Resource::Tag))?;
        // A removed tag is kept as an empty one, so its row is simply replaced.
        let cleared = Tag { tag: String::new(), ..tag };
        self.batch.put_record(&cleared);
        Ok(Outcome::Tag(cleared))
    }

    pub(crate) fn observe_client(&mut self, user_id: &UserId, device: Option<String>, address: Option<String>) -> ServiceResult<Outcome> {
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

    pub(crate) fn replace_policy(&mut self, actor: &Actor, policy_text: &str) -> ServiceResult<Outcome> {
        actor.require(Permission::ReplacePolicy)?;
        let policy = crate::policy::parse_policy(policy_text).map_err(|error| ServiceError::Invalid(Invalid::Policy(error)))?;
        // A file that sets nothing is valid at start (every default), but sent to replace the policy
        // in force it is a mistake far more often than a wish: an empty body, a file that did not load.
        if crate::policy::sets_nothing(policy_text) {
            return Err(Invalid::EmptyPolicy.into());
        }
        self.batch.put_setting(POLICY_SETTING, policy_text.as_bytes());
        let digest = fingerprint(policy_text);
        self.audit(actor, AuditAction::PolicyReplace, "risk_policy", "policy replaced", &[("sha256", digest)])?;
        Ok(Outcome::Policy(std::sync::Arc::new(policy)))
    }
}
