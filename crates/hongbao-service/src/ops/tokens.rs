//! Users' tokens after creation: a user replaces their own (rotation), the admin revokes one or issues
//! a new one. Only a token's hash is stored, so replacing the hash is all it takes for the old token
//! to stop working when the batch commits; the processes' token caches are told (see `Service`).

use hongbao_core::UserId;
use hongbao_core::staff::AuditAction;

use crate::context::actor::Actor;
use crate::context::{OpContext, new_token, reason, token_hash};
use crate::error::ServiceResult;
use crate::outcome::Outcome;

impl OpContext<'_, '_> {
    /// A new token for the user, shown once; the one they had stops working. `by` is the admin when
    /// the admin issues it (audited), none when the user rotates their own.
    pub(crate) fn issue_token(&mut self, user_id: &UserId, by: Option<&Actor>) -> ServiceResult<Outcome> {
        let user = self.require_user(user_id)?;
        let token = new_token(self.rng);
        if let Some(actor) = by {
            self.audit(actor, AuditAction::UserIssueToken, user_id.as_str(), "a new token for the user", &[])?;
        }
        self.batch.replace_token(user_id, token_hash(&token));
        Ok(Outcome::TokenIssued { user, token })
    }

    /// Revokes the user's token: it stops working and no token works until the admin issues one.
    pub(crate) fn revoke_token(&mut self, actor: &Actor, user_id: &UserId, why: &str) -> ServiceResult<Outcome> {
        let user = self.require_user(user_id)?;
        let reason = reason(why)?;
        self.audit(actor, AuditAction::UserRevokeToken, user_id.as_str(), &reason, &[])?;
        // A random value is the hash of no token anyone has: the user is locked out until a new one.
        let mut no_token = [0u8; 32];
        self.rng.fill_bytes(&mut no_token);
        self.batch.replace_token(user_id, no_token);
        Ok(Outcome::TokenRevoked(user))
    }
}
