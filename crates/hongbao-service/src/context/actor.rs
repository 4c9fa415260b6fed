//! Who carries out an operator action, and what each role may do.

use hongbao_core::OperatorId;
use hongbao_core::staff::{ADMIN_ACTOR, Operator, Permission, SYSTEM_ACTOR};

use crate::error::{Denied, ServiceResult};

/// Who carries out an operator action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The bootstrap admin: manages operators and may look at everything, but acts on no case.
    Admin,
    Operator(Operator),
    /// The service itself, such as the automatic refund of a system fault.
    System,
}

impl Actor {
    pub fn id(&self) -> String {
        match self {
            Actor::Admin => ADMIN_ACTOR.to_owned(),
            Actor::Operator(operator) => operator.id.to_string(),
            Actor::System => SYSTEM_ACTOR.to_owned(),
        }
    }

    pub(crate) fn role_name(&self) -> &'static str {
        match self {
            Actor::Admin => ADMIN_ACTOR,
            Actor::Operator(operator) => operator.role.as_str(),
            Actor::System => SYSTEM_ACTOR,
        }
    }

    /// Refuses with 403 unless the actor may do `permission`.
    pub fn require(&self, permission: Permission) -> ServiceResult<()> {
        let allowed = match self {
            Actor::Admin => matches!(
                permission,
                Permission::ViewCases | Permission::ViewLegal | Permission::ReadAuditLog | Permission::ReplacePolicy | Permission::ManagePlatform
            ),
            Actor::Operator(operator) => operator.role.allows(permission),
            Actor::System => true,
        };
        if allowed {
            return Ok(());
        }
        Err(Denied::Role { role: self.role_name(), permission }.into())
    }

    /// The operator behind an action that only a named operator may take.
    pub(crate) fn operator_id(&self) -> ServiceResult<OperatorId> {
        match self {
            Actor::Operator(operator) => Ok(operator.id.clone()),
            _ => Err(Denied::NotAnOperator.into()),
        }
    }
}

/// What a legal officer decides about a pending reversal or disclosure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}
