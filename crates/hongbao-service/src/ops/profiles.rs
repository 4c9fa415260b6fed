//! Profiles: a user changes their own display name, checked like every other name (1 to 64
//! characters, no control characters).

use hongbao_core::UserId;
use hongbao_store::User;

use crate::context::{OpContext, check_name};
use crate::error::ServiceResult;
use crate::outcome::Outcome;

/// A change a user makes to their own profile.
#[derive(Clone, Debug)]
pub enum ProfileOp {
    Rename { user_id: UserId, name: String },
}

impl OpContext<'_, '_> {
    pub(crate) fn run_profile(&mut self, op: ProfileOp) -> ServiceResult<Outcome> {
        match op {
            ProfileOp::Rename { user_id, name } => self.rename(&user_id, &name),
        }
    }

    fn rename(&mut self, user_id: &UserId, name: &str) -> ServiceResult<Outcome> {
        let name = check_name(name, "name")?;
        let user = self.require_user(user_id)?;
        // After this point, the operation must succeed.
        self.batch.rename_user(user_id, name.clone());
        Ok(Outcome::User(User { name, ..user }))
    }
}
