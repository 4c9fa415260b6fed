//! Groups: created by their owner, who alone changes their members.

use hongbao_core::{GroupId, UserId};
use hongbao_store::Group;

use crate::context::{OpContext, check_name};
use crate::error::{Conflict, Denied, Invalid, Resource, ServiceError, ServiceResult};
use crate::outcome::Outcome;

impl OpContext<'_, '_> {
    pub(crate) fn create_group(&mut self, owner_id: UserId, name: &str, member_ids: Vec<UserId>) -> ServiceResult<Outcome> {
        let name = check_name(name, "group name")?;
        // Without repeats, in their first order: by hash, since a group may have a hundred thousand.
        let members = crate::context::distinct(std::iter::once(owner_id.clone()).chain(member_ids).collect());
        if members.len() > self.config.max_group_members as usize {
            return Err(Invalid::GroupTooLarge { max: self.config.max_group_members }.into());
        }
        for member in &members {
            self.require_user(member)?;
        }
        let group = Group { id: GroupId::generate(self.now, self.rng), name, owner_id, member_ids: members, created_at: self.now };
        self.batch.insert_group(group.clone());
        Ok(Outcome::Group(group))
    }

    /// The group, if `by` may manage it: members see it, only the owner changes it.
    pub(crate) fn owned_group(&mut self, group_id: &GroupId, by: &UserId) -> ServiceResult<Group> {
        let group = self.batch.group(group_id)?.ok_or(ServiceError::NotFound(Resource::Group))?;
        if !group.member_ids.contains(by) {
            return Err(ServiceError::NotFound(Resource::Group));
        }
        if &group.owner_id != by {
            return Err(Denied::NotGroupOwner.into());
        }
        Ok(group)
    }

    pub(crate) fn add_member(&mut self, group_id: &GroupId, by: &UserId, user_id: &UserId) -> ServiceResult<Outcome> {
        let group = self.owned_group(group_id, by)?;
        self.require_user(user_id)?;
        if !group.member_ids.contains(user_id) {
            if group.member_ids.len() >= self.config.max_group_members as usize {
                return Err(Invalid::GroupTooLarge { max: self.config.max_group_members }.into());
            }
            self.batch.set_membership(group_id, user_id, true);
        }
        Ok(Outcome::Group(self.batch.group(group_id)?.ok_or(ServiceError::NotFound(Resource::Group))?))
    }

    pub(crate) fn remove_member(&mut self, group_id: &GroupId, by: &UserId, user_id: &UserId) -> ServiceResult<Outcome> {
        let group = self.owned_group(group_id, by)?;
        if user_id == &group.owner_id {
            return Err(Conflict::OwnerLeaving.into());
        }
        if !group.member_ids.contains(user_id) {
            return Err(ServiceError::NotFound(Resource::Member));
        }
        self.batch.set_membership(group_id, user_id, false);
        Ok(Outcome::Group(self.batch.group(group_id)?.ok_or(ServiceError::NotFound(Resource::Group))?))
    }
}
