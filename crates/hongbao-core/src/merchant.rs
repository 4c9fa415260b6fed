//! Merchant and enterprise API keys: a key acts for one wallet, only within its scopes, from its
//! allowed addresses, and under its own single-transaction and daily limits.

use crate::{Amount, MerchantKeyId, Timestamp, UserId, named_enum};

named_enum!(
    /// What a key may do.
    Scope {
        WalletRead => "wallet:read",
        TransactionsRead => "transactions:read",
        TransfersWrite => "transfers:write",
        PacketsWrite => "packets:write",
        WithdrawalsWrite => "withdrawals:write",
        EventsRead => "events:read",
    }
);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerchantKey {
    pub id: MerchantKeyId,
    /// The wallet the key acts for.
    pub user_id: UserId,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The networks requests may come from, in CIDR notation (`203.0.113.0/24`, `2001:db8::/32`).
    pub allowed_cidrs: Vec<String>,
    pub max_transaction: Option<Amount>,
    pub daily_max: Option<Amount>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyLimitError {
    #[error("{amount} is over this API key's single-transaction limit of {limit}")]
    PerTransaction { amount: Amount, limit: Amount },
    #[error("{amount} more would pass this API key's daily limit of {limit} ({used} used today)")]
    Daily { amount: Amount, limit: Amount, used: Amount },
}

impl MerchantKey {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Checks a payment of `amount` by the key, which has sent `used` today.
    pub fn check_amount(&self, amount: Amount, used: Amount) -> Result<(), KeyLimitError> {
        if let Some(limit) = self.max_transaction
            && amount > limit
        {
            return Err(KeyLimitError::PerTransaction { amount, limit });
        }
        if let Some(limit) = self.daily_max
            && used.checked_add(amount).is_none_or(|total| total > limit)
        {
            return Err(KeyLimitError::Daily { amount, limit, used });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_held_to_its_scopes_and_limits() {
        let amount = |units| Amount::new(units).expect("amount");
        let key = MerchantKey {
            id: MerchantKeyId::parse("mk_a").expect("id"),
            user_id: UserId::parse("usr_a").expect("id"),
            name: "shop".into(),
            scopes: vec![Scope::TransfersWrite],
            allowed_cidrs: vec!["127.0.0.1/32".into()],
            max_transaction: Some(amount(100_00)),
            daily_max: Some(amount(150_00)),
            created_at: Timestamp::from_millis(0),
            revoked_at: None,
        };
        assert!(key.allows(Scope::TransfersWrite) && !key.allows(Scope::WithdrawalsWrite));
        assert_eq!(key.check_amount(amount(100_00), Amount::ZERO), Ok(()));
        assert!(matches!(key.check_amount(amount(100_01), Amount::ZERO), Err(KeyLimitError::PerTransaction { .. })));
        assert!(matches!(key.check_amount(amount(60_00), amount(100_00)), Err(KeyLimitError::Daily { .. })));
        assert_eq!(key.check_amount(amount(50_00), amount(100_00)), Ok(()));
    }
}
