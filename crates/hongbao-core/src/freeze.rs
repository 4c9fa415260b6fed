//! Freezes of a wallet's outgoing money: whole (nothing may leave) or of an amount (a hold). A freeze
//! lasts until a time or until it is lifted, and always names the case or the risk rule behind it.
//! Incoming money still arrives; frozen money cannot be spent, withdrawn or paid back, except by the
//! case refund the freeze exists for and by a reversal that two legal officers approved (a court's
//! order comes before a platform's hold).

use crate::{Amount, ComplaintId, FreezeId, Timestamp, UserId, named_enum};

/// How much of the wallet a freeze holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreezeScope {
    /// No money may leave the wallet.
    Full,
    /// This much of the balance may not leave it.
    Hold(Amount),
}

/// Why the wallet is frozen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FreezeCause {
    Case(ComplaintId),
    /// The velocity rule: too many recalls, cancels and requests for money back in its window. Its
    /// rule name is `velocity`, whoever placed it.
    Velocity,
    /// Another risk rule, named by the operator who placed the freeze.
    Rule(String),
}

impl FreezeCause {
    /// The velocity rule's name, as stored and shown.
    pub const VELOCITY: &'static str = "velocity";

    /// The cause of a freeze placed for the rule named `rule`.
    pub fn of_rule(rule: &str) -> FreezeCause {
        if rule == FreezeCause::VELOCITY { FreezeCause::Velocity } else { FreezeCause::Rule(rule.to_owned()) }
    }

    /// The name of the rule behind the freeze; none for a case's.
    pub fn rule_name(&self) -> Option<&str> {
        match self {
            FreezeCause::Case(_) => None,
            FreezeCause::Velocity => Some(FreezeCause::VELOCITY),
            FreezeCause::Rule(rule) => Some(rule),
        }
    }
}

named_enum!(
    FreezeStatus {
        Active => "active",
        Lifted => "lifted",
        Expired => "expired",
    }
);

/// Who lifted a freeze, when and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lift {
    pub lifted_at: Timestamp,
    pub lifted_by: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Freeze {
    pub id: FreezeId,
    pub user_id: UserId,
    pub scope: FreezeScope,
    /// Money refunded out of the freeze to a complainant; it shrinks a hold.
    pub refunded_amount: Amount,
    pub cause: FreezeCause,
    pub reason: String,
    /// The operator (or `system` for a risk rule) who placed it.
    pub created_by: String,
    pub created_at: Timestamp,
    /// When it ends by itself; never when absent.
    pub until: Option<Timestamp>,
    pub lift: Option<Lift>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FreezeError {
    #[error("the freeze is no longer active")]
    NotActive,
    #[error("the freeze holds only {remaining}")]
    BeyondHold { remaining: Amount },
}

impl Freeze {
    pub fn status(&self, now: Timestamp) -> FreezeStatus {
        if self.lift.is_some() {
            FreezeStatus::Lifted
        } else if self.until.is_some_and(|until| now >= until) {
            FreezeStatus::Expired
        } else {
            FreezeStatus::Active
        }
    }

    pub fn is_active(&self, now: Timestamp) -> bool {
        self.status(now) == FreezeStatus::Active
    }

    /// What a hold still holds; `None` for a full freeze, which holds everything.
    pub fn remaining_hold(&self) -> Option<Amount> {
        match self.scope {
            FreezeScope::Full => None,
            FreezeScope::Hold(amount) => Some(amount.checked_sub(self.refunded_amount).unwrap_or(Amount::ZERO)),
        }
    }

    pub fn lift(&mut self, lifted_by: String, reason: String, now: Timestamp) -> Result<(), FreezeError> {
        if !self.is_active(now) {
            return Err(FreezeError::NotActive);
        }
        self.lift = Some(Lift { lifted_at: now, lifted_by, reason });
        Ok(())
    }

    /// Checks that `amount` may be refunded out of this freeze now, without changing it.
    pub fn check_refund(&self, amount: Amount, now: Timestamp) -> Result<(), FreezeError> {
        if !self.is_active(now) {
            return Err(FreezeError::NotActive);
        }
        match self.remaining_hold() {
            Some(remaining) if amount > remaining => Err(FreezeError::BeyondHold { remaining }),
            _ => Ok(()),
        }
    }

    pub fn record_refund(&mut self, amount: Amount, now: Timestamp) -> Result<(), FreezeError> {
        self.check_refund(amount, now)?;
        self.refunded_amount = self.refunded_amount.checked_add(amount).unwrap_or(self.refunded_amount);
        Ok(())
    }
}

/// What a wallet's active freezes allow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Restriction {
    pub full: bool,
    /// The sum of the active holds.
    pub held: Amount,
}

/// Why outgoing money was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpendError {
    #[error("the wallet is frozen")]
    Frozen,
    #[error("insufficient funds: {needed} needed, {available} available")]
    Insufficient { needed: Amount, available: Amount },
}

impl Restriction {
    /// The restriction of the freezes that are active at `now`.
    pub fn of<'a>(freezes: impl IntoIterator<Item = &'a Freeze>, now: Timestamp) -> Restriction {
        let mut restriction = Restriction::default();
        for freeze in freezes.into_iter().filter(|freeze| freeze.is_active(now)) {
            match freeze.remaining_hold() {
                None => restriction.full = true,
                Some(remaining) => restriction.held = restriction.held.checked_add(remaining).unwrap_or(restriction.held),
            }
        }
        restriction
    }

    /// How much of `balance` is frozen.
    pub fn frozen(&self, balance: Amount) -> Amount {
        if self.full { balance } else { self.held.min(balance) }
    }

    pub fn available(&self, balance: Amount) -> Amount {
        balance.checked_sub(self.frozen(balance)).unwrap_or(Amount::ZERO)
    }

    /// Whether `needed` may leave a wallet holding `balance`.
    pub fn check_spend(&self, balance: Amount, needed: Amount) -> Result<(), SpendError> {
        if self.full {
            return Err(SpendError::Frozen);
        }
        let available = self.available(balance);
        if needed > available {
            return Err(SpendError::Insufficient { needed, available });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(units: i64) -> Amount {
        Amount::new(units).expect("amount")
    }

    fn freeze(scope: FreezeScope, until: Option<i64>) -> Freeze {
        Freeze {
            id: FreezeId::parse("frz_a").expect("id"),
            user_id: UserId::parse("usr_a").expect("id"),
            scope,
            refunded_amount: Amount::ZERO,
            cause: FreezeCause::Case(ComplaintId::parse("cmp_a").expect("id")),
            reason: "fraud report".into(),
            created_by: "op_a".into(),
            created_at: Timestamp::from_millis(0),
            until: until.map(Timestamp::from_millis),
            lift: None,
        }
    }

    #[test]
    fn a_hold_keeps_its_amount_and_the_rest_stays_spendable() {
        let now = Timestamp::from_millis(10);
        let hold = freeze(FreezeScope::Hold(amount(300)), None);
        let restriction = Restriction::of([&hold], now);
        assert_eq!(restriction.frozen(amount(1_000)), amount(300));
        assert_eq!(restriction.available(amount(1_000)), amount(700));
        assert_eq!(restriction.frozen(amount(100)), amount(100), "a hold beyond the balance freezes what there is");
        assert_eq!(restriction.check_spend(amount(1_000), amount(700)), Ok(()));
        assert_eq!(restriction.check_spend(amount(1_000), amount(701)), Err(SpendError::Insufficient { needed: amount(701), available: amount(700) }));
    }

    #[test]
    fn a_full_freeze_refuses_everything_until_lifted_or_expired() {
        let now = Timestamp::from_millis(10);
        let mut full = freeze(FreezeScope::Full, Some(20));
        assert_eq!(Restriction::of([&full], now).check_spend(amount(1_000), amount(1)), Err(SpendError::Frozen));
        assert_eq!(Restriction::of([&full], Timestamp::from_millis(20)), Restriction::default(), "expired at its time");
        full.lift("op_b".into(), "cleared".into(), now).expect("active");
        assert_eq!(full.status(now), FreezeStatus::Lifted);
        assert_eq!(full.lift("op_b".into(), "again".into(), now), Err(FreezeError::NotActive));
        assert_eq!(Restriction::of([&full], now), Restriction::default());
    }

    #[test]
    fn refunds_shrink_a_hold_and_never_exceed_it() {
        let now = Timestamp::from_millis(10);
        let mut hold = freeze(FreezeScope::Hold(amount(300)), None);
        hold.record_refund(amount(200), now).expect("within the hold");
        assert_eq!(hold.remaining_hold(), Some(amount(100)));
        assert_eq!(hold.record_refund(amount(101), now), Err(FreezeError::BeyondHold { remaining: amount(100) }));
        assert_eq!(Restriction::of([&hold], now).held, amount(100));
    }
}
