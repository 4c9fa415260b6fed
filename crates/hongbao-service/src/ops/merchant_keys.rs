//! Merchant API keys as writer operations: created by the admin for one wallet, shown once and kept
//! hashed, and revoked at once.

use hongbao_core::merchant::MerchantKey;
use hongbao_core::staff::{AuditAction, Permission};
use hongbao_core::{Amount, MerchantKeyId, UserId};
use hongbao_store::records::StoredMerchantKey;

use crate::context::actor::Actor;
use crate::context::{OpContext, new_token, token_hash};
use crate::error::{Conflict, Invalid, Resource, ServiceError, ServiceResult};
use crate::merchant::Cidr;
use crate::outcome::Outcome;
use hongbao_core::merchant::Scope;

#[derive(Clone, Debug)]
pub enum MerchantOp {
    Create {
        actor: Actor,
        user_id: UserId,
        name: String,
        scopes: Vec<Scope>,
        allowed_cidrs: Vec<String>,
        max_transaction: Option<Amount>,
        daily_max: Option<Amount>,
    },
    Revoke {
        actor: Actor,
        key_id: MerchantKeyId,
        reason: String,
    },
}

impl OpContext<'_, '_> {
    pub(crate) fn run_merchant(&mut self, op: MerchantOp) -> ServiceResult<Outcome> {
        match op {
            MerchantOp::Create { actor, user_id, name, scopes, allowed_cidrs, max_transaction, daily_max } => {
                actor.require(Permission::ManagePlatform)?;
                let name = name.trim().to_owned();
                if name.is_empty() || name.chars().count() > 64 {
                    return Err(Invalid::TextLength { field: "name", max: 64 }.into());
                }
                if scopes.is_empty() {
                    return Err(Invalid::KeyWithoutScopes.into());
                }
                if allowed_cidrs.is_empty() {
                    return Err(Invalid::KeyWithoutNetworks.into());
                }
                if let Some(bad) = allowed_cidrs.iter().find(|cidr| Cidr::parse(cidr).is_none()) {
                    return Err(Invalid::Network { text: bad.clone() }.into());
                }
                self.require_user(&user_id)?;
                let secret = new_token(self.rng).replacen("hbt_", "hbk_", 1);
                let key = MerchantKey {
                    id: MerchantKeyId::generate(self.now, self.rng),
                    user_id,
                    name,
                    scopes,
                    allowed_cidrs,
                    max_transaction,
                    daily_max,
                    created_at: self.now,
                    revoked_at: None,
                };
                self.batch.put_record(&StoredMerchantKey { key: key.clone(), secret_hash: token_hash(&secret) });
                let scopes: Vec<&str> = key.scopes.iter().map(|scope| scope.as_str()).collect();
                let detail = [("user", key.user_id.to_string()), ("scopes", scopes.join(",")), ("networks", key.allowed_cidrs.join(","))];
                self.audit(&actor, AuditAction::MerchantKeyCreate, key.id.as_str(), "new API key", &detail)?;
                Ok(Outcome::MerchantKeyCreated { key, secret })
            }
            MerchantOp::Revoke { actor, key_id, reason } => {
                actor.require(Permission::ManagePlatform)?;
                let mut stored: StoredMerchantKey =
                    self.batch.record(hongbao_store::records::text(&key_id))?.ok_or(ServiceError::NotFound(Resource::MerchantKey))?;
                if stored.key.revoked_at.is_some() {
                    return Err(Conflict::KeyRevoked.into());
                }
                stored.key.revoked_at = Some(self.now);
                self.batch.put_record(&stored);
                self.audit(&actor, AuditAction::MerchantKeyRevoke, key_id.as_str(), &reason, &[])?;
                Ok(Outcome::MerchantKey(stored.key))
            }
        }
    }
}
