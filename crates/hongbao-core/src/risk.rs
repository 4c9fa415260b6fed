//! Risk control (风控): the policy of limits, tags on contacts and groups, the velocity rule, and the
//! thresholds of alerts and confirmations. The rules are pure; the service keeps the counters.

use std::collections::BTreeMap;

use crate::{Amount, Timestamp, named_enum};

/// The limits of one tag's audience. Absent limits do not apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagLimits {
    pub per_transaction_max: Option<Amount>,
    pub daily_max: Option<Amount>,
}

/// Too many recalls, cancels or return requests in a window freeze outgoing money for a while.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VelocityRule {
    /// More than this many actions in the window trips the rule.
    pub max_actions: u32,
    pub window_seconds: i64,
    pub freeze_seconds: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiskPolicy {
    pub per_transaction_max: Amount,
    /// Money a user may send out in one UTC day: packets, transfers and withdrawals.
    pub daily_outgoing_max: Amount,
    /// Packets a user may send in one UTC day.
    pub daily_packet_count: u32,
    /// Limits by tag name.
    pub tags: BTreeMap<String, TagLimits>,
    pub velocity: VelocityRule,
    /// A transaction at or above this raises an alert for its sender.
    pub alert_threshold: Amount,
    /// A packet or transfer at or above this needs an explicit confirmation.
    pub confirmation_threshold: Amount,
    pub confirmation_ttl_seconds: i64,
    /// A case refund above this needs a second reviewer's approval (four eyes on large movements of
    /// money by staff).
    pub case_refund_approval_above: Amount,
}

fn yuan(units: i64) -> Amount {
    Amount::new(units * 100).expect("a default limit is in range")
}

impl Default for RiskPolicy {
    fn default() -> RiskPolicy {
        let mut tags = BTreeMap::new();
        tags.insert("strangers".to_owned(), TagLimits { per_transaction_max: Some(yuan(2_000)), daily_max: Some(yuan(5_000)) });
        RiskPolicy {
            per_transaction_max: yuan(50_000),
            daily_outgoing_max: yuan(200_000),
            daily_packet_count: 1_000,
            tags,
            velocity: VelocityRule { max_actions: 5, window_seconds: 600, freeze_seconds: 1_800 },
            alert_threshold: yuan(1_000),
            confirmation_threshold: yuan(5_000),
            confirmation_ttl_seconds: 600,
            case_refund_approval_above: yuan(1_000),
        }
    }
}

named_enum!(
    /// A way of getting money back that counts toward the velocity rule: every one does.
    VelocityAction {
        Recall => "recall",
        Cancel => "cancel",
        ReturnRequest => "return_request",
        SystemFaultRefund => "system_fault_refund",
    }
);

named_enum!(
    /// What kind of outgoing payment a check is for.
    Outgoing {
        Packet => "packet",
        Transfer => "transfer",
        Withdrawal => "withdrawal",
    }
);

/// What a user has sent out so far today.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DailyUsage {
    pub outgoing: Amount,
    pub packets: u32,
    /// Money sent to each tag's audiences.
    pub by_tag: BTreeMap<String, Amount>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("{amount} is over the per-transaction limit of {limit}")]
    PerTransaction { amount: Amount, limit: Amount },
    #[error("{amount} more would pass the daily outgoing limit of {limit} ({used} sent today)")]
    DailyOutgoing { amount: Amount, limit: Amount, used: Amount },
    #[error("the daily limit of {limit} packets is reached")]
    DailyPackets { limit: u32 },
    #[error("{amount} is over the per-transaction limit of {limit} for audiences tagged {tag}")]
    TagPerTransaction { tag: String, amount: Amount, limit: Amount },
    #[error("{amount} more would pass the daily limit of {limit} for audiences tagged {tag} ({used} sent today)")]
    TagDaily { tag: String, amount: Amount, limit: Amount, used: Amount },
}

impl RiskPolicy {
    /// Checks an outgoing payment of `amount` to an audience tagged `tag` against the limits, given what
    /// the user sent today.
    pub fn check_outgoing(&self, kind: Outgoing, amount: Amount, tag: Option<&str>, usage: &DailyUsage) -> Result<(), LimitError> {
        if amount > self.per_transaction_max {
            return Err(LimitError::PerTransaction { amount, limit: self.per_transaction_max });
        }
        if usage.outgoing.checked_add(amount).is_none_or(|total| total > self.daily_outgoing_max) {
            return Err(LimitError::DailyOutgoing { amount, limit: self.daily_outgoing_max, used: usage.outgoing });
        }
        if kind == Outgoing::Packet && usage.packets >= self.daily_packet_count {
            return Err(LimitError::DailyPackets { limit: self.daily_packet_count });
        }
        let Some(tag) = tag else { return Ok(()) };
        let Some(limits) = self.tags.get(tag) else { return Ok(()) };
        if let Some(limit) = limits.per_transaction_max
            && amount > limit
        {
            return Err(LimitError::TagPerTransaction { tag: tag.to_owned(), amount, limit });
        }
        if let Some(limit) = limits.daily_max {
            let used = usage.by_tag.get(tag).copied().unwrap_or(Amount::ZERO);
            if used.checked_add(amount).is_none_or(|total| total > limit) {
                return Err(LimitError::TagDaily { tag: tag.to_owned(), amount, limit, used });
            }
        }
        Ok(())
    }

    pub fn needs_confirmation(&self, amount: Amount) -> bool {
        amount >= self.confirmation_threshold
    }

    pub fn raises_alert(&self, amount: Amount) -> bool {
        amount >= self.alert_threshold
    }
}

impl DailyUsage {
    pub fn record(&mut self, kind: Outgoing, amount: Amount, tag: Option<&str>) {
        self.outgoing = self.outgoing.checked_add(amount).unwrap_or(self.outgoing);
        if kind == Outgoing::Packet {
            self.packets += 1;
        }
        if let Some(tag) = tag {
            let used = self.by_tag.entry(tag.to_owned()).or_default();
            *used = used.checked_add(amount).unwrap_or(*used);
        }
    }
}

/// The built-in tags; users may also make their own.
pub const BUILT_IN_TAGS: [&str; 4] = ["family", "friends", "work", "strangers"];

/// Whether `name` may be a tag: a built-in one, or 1 to 32 lowercase letters, digits, `-` and `_`.
pub fn valid_tag(name: &str) -> bool {
    (1..=32).contains(&name.len()) && name.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' || byte == b'_')
}

/// The times of a user's recent recalls, cancels and return requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VelocityWindow {
    pub action_times: Vec<Timestamp>,
}

impl VelocityWindow {
    /// Records an action at `now`, forgetting those outside the window; true when the rule trips.
    pub fn record(&mut self, rule: &VelocityRule, now: Timestamp) -> bool {
        let window_start = now.plus_seconds(-rule.window_seconds);
        self.action_times.retain(|at| *at > window_start);
        self.action_times.push(now);
        self.action_times.len() > rule.max_actions as usize
    }
}

/// The UTC day of a time, as days since the epoch: the key of the daily counters.
pub fn day_of(at: Timestamp) -> i64 {
    at.millis().div_euclid(86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(units: i64) -> Amount {
        Amount::new(units).expect("amount")
    }

    #[test]
    fn limits_apply_in_order_and_name_the_limit() {
        let policy = RiskPolicy::default();
        let mut usage = DailyUsage::default();
        assert_eq!(policy.check_outgoing(Outgoing::Transfer, yuan(50_000), None, &usage), Ok(()));
        assert!(matches!(policy.check_outgoing(Outgoing::Transfer, amount(50_000_01), None, &usage), Err(LimitError::PerTransaction { .. })));
        usage.outgoing = yuan(190_000);
        assert!(matches!(policy.check_outgoing(Outgoing::Transfer, amount(10_000_01), None, &usage), Err(LimitError::DailyOutgoing { .. })));
        let usage = DailyUsage { packets: 1_000, ..DailyUsage::default() };
        assert_eq!(policy.check_outgoing(Outgoing::Packet, amount(1), None, &usage), Err(LimitError::DailyPackets { limit: 1_000 }));
        assert_eq!(policy.check_outgoing(Outgoing::Transfer, amount(1), None, &usage), Ok(()), "the packet count limits packets only");
        let mut usage = DailyUsage::default();
        let error = policy.check_outgoing(Outgoing::Transfer, amount(2_000_01), Some("strangers"), &usage).expect_err("over the tag's limit");
        assert_eq!(error.to_string(), "2000.01 is over the per-transaction limit of 2000.00 for audiences tagged strangers");
        usage.record(Outgoing::Transfer, yuan(4_000), Some("strangers"));
        assert!(matches!(policy.check_outgoing(Outgoing::Transfer, amount(1_000_01), Some("strangers"), &usage), Err(LimitError::TagDaily { .. })));
        assert_eq!(policy.check_outgoing(Outgoing::Transfer, yuan(1_000), Some("strangers"), &usage), Ok(()));
        assert_eq!(policy.check_outgoing(Outgoing::Transfer, yuan(3_000), Some("family"), &usage), Ok(()), "a tag without limits has none");
    }

    #[test]
    fn velocity_trips_past_the_count_within_the_window_only() {
        let rule = VelocityRule { max_actions: 2, window_seconds: 60, freeze_seconds: 60 };
        let mut window = VelocityWindow::default();
        let start = Timestamp::from_millis(1_000_000);
        assert!(!window.record(&rule, start));
        assert!(!window.record(&rule, start.plus_seconds(10)));
        assert!(window.record(&rule, start.plus_seconds(20)), "a third within a minute");
        let mut spaced = VelocityWindow::default();
        for step in 0..5 {
            assert!(!spaced.record(&rule, start.plus_seconds(40 * step)), "two per minute at most is fine");
        }
    }

    #[test]
    fn tags_are_short_lowercase_names() {
        assert!(BUILT_IN_TAGS.iter().all(|tag| valid_tag(tag)));
        assert!(valid_tag("book-club_2"));
        assert!(!valid_tag("Family") && !valid_tag("") && !valid_tag(&"a".repeat(33)) && !valid_tag("a b"));
    }
}
