//! Red packets (红包): the four kinds, the limits a new packet must respect, and the state machine of
//! claims, recall and expiry. Storage and locking live elsewhere; every rule lives here.

use rand_core::RngCore;

use crate::split::{self, SplitError};
use crate::{Amount, GroupId, PacketId, Timestamp, TxnNo, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// 普通: equal shares.
    Normal,
    /// 拼手气: a random split of the total.
    Lucky,
    /// 限时: a countdown set by the sender.
    Timed,
    /// 专属: one named member of a group.
    Exclusive,
}

impl PacketKind {
    pub const ALL: [PacketKind; 4] = [PacketKind::Normal, PacketKind::Lucky, PacketKind::Timed, PacketKind::Exclusive];

    pub fn as_str(self) -> &'static str {
        match self {
            PacketKind::Normal => "normal",
            PacketKind::Lucky => "lucky",
            PacketKind::Timed => "timed",
            PacketKind::Exclusive => "exclusive",
        }
    }

    pub fn parse(text: &str) -> Option<PacketKind> {
        PacketKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// Who may claim a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// One user, one share. The sender may not claim it.
    User(UserId),
    /// The members of a group, the sender included.
    Group(GroupId),
    /// One named member inside a group (exclusive packets).
    GroupMember { group_id: GroupId, recipient_id: UserId },
}

impl Audience {
    pub fn group_id(&self) -> Option<&GroupId> {
        match self {
            Audience::User(_) => None,
            Audience::Group(group_id) | Audience::GroupMember { group_id, .. } => Some(group_id),
        }
    }

    pub fn recipient_id(&self) -> Option<&UserId> {
        match self {
            Audience::User(recipient_id) | Audience::GroupMember { recipient_id, .. } => Some(recipient_id),
            Audience::Group(_) => None,
        }
    }

    /// Whether `user` belongs to the audience. `is_group_member` answers membership of the audience's
    /// group, when it has one.
    pub fn includes(&self, user: &UserId, is_group_member: bool) -> bool {
        match self {
            Audience::User(recipient_id) => recipient_id == user,
            Audience::Group(_) => is_group_member,
            Audience::GroupMember { recipient_id, .. } => recipient_id == user && is_group_member,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketStatus {
    Open,
    Exhausted,
    Expired,
    Recalled,
}

impl PacketStatus {
    pub const ALL: [PacketStatus; 4] = [PacketStatus::Open, PacketStatus::Exhausted, PacketStatus::Expired, PacketStatus::Recalled];

    pub fn as_str(self) -> &'static str {
        match self {
            PacketStatus::Open => "open",
            PacketStatus::Exhausted => "exhausted",
            PacketStatus::Expired => "expired",
            PacketStatus::Recalled => "recalled",
        }
    }

    pub fn parse(text: &str) -> Option<PacketStatus> {
        PacketStatus::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// The limits a deployment sets on packets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketLimits {
    pub min_share: Amount,
    pub max_share: Amount,
    pub max_shares: u32,
    pub max_greeting_chars: usize,
    /// Lifetime of normal, lucky and exclusive packets.
    pub ttl_seconds: i64,
    pub timed_min_seconds: i64,
    pub timed_max_seconds: i64,
    pub timed_default_seconds: i64,
}

impl Default for PacketLimits {
    fn default() -> PacketLimits {
        PacketLimits {
            min_share: Amount::new(1).expect("0.01 is a valid amount"),
            max_share: Amount::new(20_000).expect("200.00 is a valid amount"),
            max_shares: 100,
            max_greeting_chars: 100,
            ttl_seconds: 86_400,
            timed_min_seconds: 10,
            timed_max_seconds: 86_400,
            timed_default_seconds: 60,
        }
    }
}

pub const DEFAULT_GREETING: &str = "恭喜发财，大吉大利";

/// What a sender asks for, already parsed. Each variant carries exactly the fields its kind needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PacketSpec {
    NormalToUser { recipient_id: UserId, amount_per_share: Amount },
    NormalToGroup { group_id: GroupId, amount_per_share: Amount, shares: u32 },
    Lucky { group_id: GroupId, total_amount: Amount, shares: u32 },
    TimedToUser { recipient_id: UserId, total_amount: Amount, expires_in_seconds: Option<i64> },
    TimedToGroup { group_id: GroupId, total_amount: Amount, shares: u32, expires_in_seconds: Option<i64> },
    Exclusive { group_id: GroupId, recipient_id: UserId, total_amount: Amount },
}

impl PacketSpec {
    pub fn kind(&self) -> PacketKind {
        match self {
            PacketSpec::NormalToUser { .. } | PacketSpec::NormalToGroup { .. } => PacketKind::Normal,
            PacketSpec::Lucky { .. } => PacketKind::Lucky,
            PacketSpec::TimedToUser { .. } | PacketSpec::TimedToGroup { .. } => PacketKind::Timed,
            PacketSpec::Exclusive { .. } => PacketKind::Exclusive,
        }
    }

    pub fn audience(&self) -> Audience {
        match self {
            PacketSpec::NormalToUser { recipient_id, .. } | PacketSpec::TimedToUser { recipient_id, .. } => Audience::User(recipient_id.clone()),
            PacketSpec::NormalToGroup { group_id, .. } | PacketSpec::Lucky { group_id, .. } | PacketSpec::TimedToGroup { group_id, .. } => {
                Audience::Group(group_id.clone())
            }
            PacketSpec::Exclusive { group_id, recipient_id, .. } => Audience::GroupMember { group_id: group_id.clone(), recipient_id: recipient_id.clone() },
        }
    }
}

/// What the service knows about the audience when a packet is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudienceFacts {
    /// Members of the audience's group, when it has one.
    pub group_member_count: Option<u32>,
    /// Whether the sender belongs to the audience's group.
    pub sender_is_member: bool,
    /// Whether the named recipient belongs to the audience's group (exclusive packets).
    pub recipient_is_member: bool,
}

/// A packet that passed every rule and is ready to be stored: its shares are already drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketPlan {
    pub kind: PacketKind,
    pub audience: Audience,
    pub greeting: String,
    pub total_amount: Amount,
    pub shares: Vec<Amount>,
    pub expires_at: Timestamp,
}

/// Why a packet may not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("a packet needs at least 1 share")]
    NoShares,
    #[error("{shares} shares is more than the limit of {max}")]
    TooManyShares { shares: u32, max: u32 },
    #[error("{shares} shares is more than the group's {members} members")]
    MoreSharesThanMembers { shares: u32, members: u32 },
    #[error("each share must be at least {min}")]
    ShareTooSmall { min: Amount },
    #[error("each share must be at most {max}")]
    ShareTooLarge { max: Amount },
    #[error("the total is larger than any amount the service accepts")]
    TotalTooLarge,
    #[error("the greeting has {chars} characters; at most {max} are allowed")]
    GreetingTooLong { chars: usize, max: usize },
    #[error("the greeting must not contain the NUL character")]
    GreetingNotStorable,
    #[error("the countdown must be between {min} and {max} seconds")]
    CountdownOutOfRange { min: i64, max: i64 },
    #[error("a one-to-one packet cannot be sent to oneself")]
    RecipientIsSender,
    #[error("the sender is not a member of the group")]
    SenderNotMember,
    #[error("the recipient is not a member of the group")]
    RecipientNotMember,
}

/// Checks a new packet against the limits and draws its shares.
pub fn plan_packet(
    spec: &PacketSpec,
    sender_id: &UserId,
    greeting: Option<&str>,
    facts: AudienceFacts,
    limits: &PacketLimits,
    now: Timestamp,
    rng: &mut dyn RngCore,
) -> Result<PacketPlan, SendError> {
    let greeting = greeting.unwrap_or(DEFAULT_GREETING);
    let greeting_chars = greeting.chars().count();
    if greeting_chars > limits.max_greeting_chars {
        return Err(SendError::GreetingTooLong { chars: greeting_chars, max: limits.max_greeting_chars });
    }
    if !crate::text::is_storable(greeting) {
        return Err(SendError::GreetingNotStorable);
    }
    let audience = spec.audience();
    if audience.recipient_id() == Some(sender_id) {
        return Err(SendError::RecipientIsSender);
    }
    if audience.group_id().is_some() {
        if !facts.sender_is_member {
            return Err(SendError::SenderNotMember);
        }
        if matches!(audience, Audience::GroupMember { .. }) && !facts.recipient_is_member {
            return Err(SendError::RecipientNotMember);
        }
    }
    let check_shares = |shares: u32| -> Result<(), SendError> {
        if shares == 0 {
            return Err(SendError::NoShares);
        }
        if shares > limits.max_shares {
            return Err(SendError::TooManyShares { shares, max: limits.max_shares });
        }
        if let Some(members) = facts.group_member_count
            && shares > members
        {
            return Err(SendError::MoreSharesThanMembers { shares, members });
        }
        Ok(())
    };
    let check_share = |share: Amount| -> Result<(), SendError> {
        if share < limits.min_share {
            return Err(SendError::ShareTooSmall { min: limits.min_share });
        }
        if share > limits.max_share {
            return Err(SendError::ShareTooLarge { max: limits.max_share });
        }
        Ok(())
    };
    let random_split = |total: Amount, shares: u32, rng: &mut dyn RngCore| -> Result<Vec<Amount>, SendError> {
        check_shares(shares)?;
        split::lucky_split(total, shares, limits.min_share, limits.max_share, rng).map_err(|error| match error {
            SplitError::NoShares => SendError::NoShares,
            SplitError::OutOfBounds { .. } if total < limits.min_share.checked_mul(shares).unwrap_or(total) => {
                SendError::ShareTooSmall { min: limits.min_share }
            }
            SplitError::OutOfBounds { .. } => SendError::ShareTooLarge { max: limits.max_share },
        })
    };
    let countdown = |requested: Option<i64>| -> Result<i64, SendError> {
        let seconds = requested.unwrap_or(limits.timed_default_seconds);
        if seconds < limits.timed_min_seconds || seconds > limits.timed_max_seconds {
            return Err(SendError::CountdownOutOfRange { min: limits.timed_min_seconds, max: limits.timed_max_seconds });
        }
        Ok(seconds)
    };
    let (shares, lifetime_seconds) = match spec {
        PacketSpec::NormalToUser { amount_per_share, .. } => {
            check_share(*amount_per_share)?;
            (split::equal_split(*amount_per_share, 1), limits.ttl_seconds)
        }
        PacketSpec::NormalToGroup { amount_per_share, shares, .. } => {
            check_shares(*shares)?;
            check_share(*amount_per_share)?;
            (split::equal_split(*amount_per_share, *shares), limits.ttl_seconds)
        }
        PacketSpec::Lucky { total_amount, shares, .. } => (random_split(*total_amount, *shares, rng)?, limits.ttl_seconds),
        PacketSpec::TimedToUser { total_amount, expires_in_seconds, .. } => {
            let seconds = countdown(*expires_in_seconds)?;
            check_share(*total_amount)?;
            (vec![*total_amount], seconds)
        }
        PacketSpec::TimedToGroup { total_amount, shares, expires_in_seconds, .. } => {
            let seconds = countdown(*expires_in_seconds)?;
            (random_split(*total_amount, *shares, rng)?, seconds)
        }
        PacketSpec::Exclusive { total_amount, .. } => {
            check_share(*total_amount)?;
            (vec![*total_amount], limits.ttl_seconds)
        }
    };
    let total_amount = shares.iter().try_fold(Amount::ZERO, |sum, share| sum.checked_add(*share)).ok_or(SendError::TotalTooLarge)?;
    Ok(PacketPlan { kind: spec.kind(), audience, greeting: greeting.to_owned(), total_amount, shares, expires_at: now.plus_seconds(lifetime_seconds) })
}

/// A stored packet's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub id: PacketId,
    pub kind: PacketKind,
    pub sender_id: UserId,
    pub audience: Audience,
    pub greeting: String,
    pub total_amount: Amount,
    pub shares: u32,
    pub claimed_count: u32,
    pub claimed_amount: Amount,
    pub status: PacketStatus,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub refunded_amount: Amount,
    pub send_txn_no: TxnNo,
    pub refund_txn_no: Option<TxnNo>,
    pub luckiest_user_id: Option<UserId>,
}

/// Why a claim, recall or expiry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("you are not in this packet's audience")]
    NotInAudience,
    #[error("you have already claimed this packet")]
    AlreadyClaimed,
    #[error("every share of this packet has been claimed")]
    Exhausted,
    #[error("this packet expired at {expires_at}")]
    Expired { expires_at: Timestamp },
    #[error("this packet was recalled by its sender")]
    Recalled,
    #[error("only the sender can recall a packet")]
    NotSender,
    #[error("the packet is {status:?}, not open")]
    NotOpen { status: PacketStatus },
    #[error("the packet has not expired yet")]
    NotYetExpired,
}

/// What finishing a packet with a refund must record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    pub amount: Amount,
    pub status: PacketStatus,
}

impl Packet {
    pub fn remaining_count(&self) -> u32 {
        self.shares - self.claimed_count
    }

    /// Money still in escrow.
    pub fn remaining_amount(&self) -> Amount {
        self.total_amount
            .checked_sub(self.claimed_amount)
            .and_then(|rest| rest.checked_sub(self.refunded_amount))
            .expect("claimed and refunded never exceed the total")
    }

    /// Whether `user` may see the packet: its sender or its audience.
    pub fn visible_to(&self, user: &UserId, is_group_member: bool) -> bool {
        &self.sender_id == user || self.audience.includes(user, is_group_member)
    }

    /// Checks that `user` may claim now. The claim order of the checks decides which error a user sees
    /// when several apply: audience first, then their own earlier claim, then the packet's state.
    pub fn check_claim(&self, user: &UserId, is_group_member: bool, already_claimed: bool, now: Timestamp) -> Result<(), PacketError> {
        if !self.audience.includes(user, is_group_member) {
            return Err(PacketError::NotInAudience);
        }
        if already_claimed {
            return Err(PacketError::AlreadyClaimed);
        }
        match self.status {
            PacketStatus::Recalled => Err(PacketError::Recalled),
            PacketStatus::Expired => Err(PacketError::Expired { expires_at: self.expires_at }),
            PacketStatus::Exhausted => Err(PacketError::Exhausted),
            PacketStatus::Open if now >= self.expires_at => Err(PacketError::Expired { expires_at: self.expires_at }),
            PacketStatus::Open => Ok(()),
        }
    }

    /// Records a claim of `amount`, the next share. Returns whether the packet is now exhausted.
    pub fn record_claim(&mut self, amount: Amount, now: Timestamp) -> bool {
        assert_eq!(self.status, PacketStatus::Open, "claims are only recorded on open packets");
        self.claimed_count += 1;
        self.claimed_amount = self.claimed_amount.checked_add(amount).expect("claims never exceed the total");
        assert!(self.claimed_count <= self.shares, "more claims than shares");
        let exhausted = self.claimed_count == self.shares;
        if exhausted {
            assert_eq!(self.claimed_amount, self.total_amount, "an exhausted packet's claims sum to its total");
            self.status = PacketStatus::Exhausted;
            self.finished_at = Some(now);
        }
        exhausted
    }

    /// The refund a recall by `user` at `now` makes.
    pub fn recall(&self, user: &UserId, now: Timestamp) -> Result<Refund, PacketError> {
        if &self.sender_id != user {
            return Err(PacketError::NotSender);
        }
        if self.status != PacketStatus::Open {
            return Err(PacketError::NotOpen { status: self.status });
        }
        if now >= self.expires_at {
            return Err(PacketError::Expired { expires_at: self.expires_at });
        }
        Ok(Refund { amount: self.remaining_amount(), status: PacketStatus::Recalled })
    }

    /// The refund expiry makes at `now`.
    pub fn expire(&self, now: Timestamp) -> Result<Refund, PacketError> {
        if self.status != PacketStatus::Open {
            return Err(PacketError::NotOpen { status: self.status });
        }
        if now < self.expires_at {
            return Err(PacketError::NotYetExpired);
        }
        Ok(Refund { amount: self.remaining_amount(), status: PacketStatus::Expired })
    }

    /// Records a refund computed by [`Packet::recall`] or [`Packet::expire`].
    pub fn record_refund(&mut self, refund: &Refund, refund_txn_no: Option<TxnNo>, now: Timestamp) {
        self.refunded_amount = refund.amount;
        self.refund_txn_no = refund_txn_no;
        self.status = refund.status;
        self.finished_at = Some(now);
    }
}

/// The luckiest claimer (手气最佳): the largest share, the earlier claimer on a tie. `claims` is in claim
/// order.
pub fn luckiest<'a>(claims: impl IntoIterator<Item = (&'a UserId, Amount)>) -> Option<&'a UserId> {
    let mut best: Option<(&UserId, Amount)> = None;
    for (user, amount) in claims {
        if best.is_none_or(|(_, best_amount)| amount > best_amount) {
            best = Some((user, amount));
        }
    }
    best.map(|(user, _)| user)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn user(name: &str) -> UserId {
        UserId::parse(&format!("usr_{name}")).expect("valid id")
    }
    fn amount(units: i64) -> Amount {
        Amount::new(units).expect("valid amount")
    }
    fn group_facts(members: u32) -> AudienceFacts {
        AudienceFacts { group_member_count: Some(members), sender_is_member: true, recipient_is_member: true }
    }

    fn check(spec: PacketSpec, facts: AudienceFacts, greeting: Option<&str>) -> Result<(i64, usize, i64), SendError> {
        let mut rng = StdRng::seed_from_u64(3);
        let now = Timestamp::from_millis(1_000_000);
        plan_packet(&spec, &user("sender"), greeting, facts, &PacketLimits::default(), now, &mut rng)
            .map(|plan| (plan.total_amount.minor_units(), plan.shares.len(), (plan.expires_at.millis() - now.millis()) / 1000))
    }

    #[test]
    fn send_rules() {
        let group = GroupId::parse("grp_g").expect("valid id");
        let lucky = |total: i64, shares: u32| PacketSpec::Lucky { group_id: group.clone(), total_amount: amount(total), shares };
        assert_eq!(check(lucky(1000, 10), group_facts(10), None), Ok((1000, 10, 86_400)));
        assert_eq!(check(lucky(1000, 11), group_facts(10), None), Err(SendError::MoreSharesThanMembers { shares: 11, members: 10 }));
        assert_eq!(check(lucky(1000, 101), group_facts(500), None), Err(SendError::TooManyShares { shares: 101, max: 100 }));
        assert_eq!(check(lucky(9, 10), group_facts(10), None), Err(SendError::ShareTooSmall { min: amount(1) }));
        assert_eq!(check(lucky(200_001, 10), group_facts(10), None), Err(SendError::ShareTooLarge { max: amount(20_000) }));
        assert_eq!(check(lucky(0, 0), group_facts(10), None), Err(SendError::NoShares));
        let long = "红".repeat(101);
        assert_eq!(check(lucky(1000, 10), group_facts(10), Some(&long)), Err(SendError::GreetingTooLong { chars: 101, max: 100 }));
        assert_eq!(check(lucky(1000, 10), group_facts(10), Some(&long[3..])), Ok((1000, 10, 86_400)));
        let outsider = AudienceFacts { sender_is_member: false, ..group_facts(10) };
        assert_eq!(check(lucky(1000, 10), outsider, None), Err(SendError::SenderNotMember));

        let to_self = PacketSpec::NormalToUser { recipient_id: user("sender"), amount_per_share: amount(5) };
        assert_eq!(check(to_self, group_facts(0), None), Err(SendError::RecipientIsSender));
        let normal = PacketSpec::NormalToGroup { group_id: group.clone(), amount_per_share: amount(20_000), shares: 3 };
        assert_eq!(check(normal, group_facts(3), None), Ok((60_000, 3, 86_400)));

        let timed = |seconds: Option<i64>| PacketSpec::TimedToUser { recipient_id: user("bob"), total_amount: amount(100), expires_in_seconds: seconds };
        assert_eq!(check(timed(None), group_facts(0), None), Ok((100, 1, 60)));
        assert_eq!(check(timed(Some(10)), group_facts(0), None), Ok((100, 1, 10)));
        assert_eq!(check(timed(Some(9)), group_facts(0), None), Err(SendError::CountdownOutOfRange { min: 10, max: 86_400 }));
        assert_eq!(check(timed(Some(86_401)), group_facts(0), None), Err(SendError::CountdownOutOfRange { min: 10, max: 86_400 }));

        let exclusive = PacketSpec::Exclusive { group_id: group, recipient_id: user("bob"), total_amount: amount(100) };
        let not_member = AudienceFacts { recipient_is_member: false, ..group_facts(3) };
        assert_eq!(check(exclusive.clone(), not_member, None), Err(SendError::RecipientNotMember));
        assert_eq!(check(exclusive, group_facts(3), None), Ok((100, 1, 86_400)));
    }

    fn open_packet(audience: Audience, shares: u32) -> Packet {
        Packet {
            id: PacketId::parse("pkt_p").expect("valid id"),
            kind: PacketKind::Lucky,
            sender_id: user("sender"),
            audience,
            greeting: String::new(),
            total_amount: amount(300),
            shares,
            claimed_count: 0,
            claimed_amount: Amount::ZERO,
            status: PacketStatus::Open,
            created_at: Timestamp::from_millis(0),
            expires_at: Timestamp::from_millis(10_000),
            finished_at: None,
            refunded_amount: Amount::ZERO,
            send_txn_no: TxnNo::parse("txn_send").expect("valid"),
            refund_txn_no: None,
            luckiest_user_id: None,
        }
    }

    #[test]
    fn claim_rules_and_lifecycle() {
        let before = Timestamp::from_millis(9_999);
        let at_expiry = Timestamp::from_millis(10_000);
        let one_to_one = open_packet(Audience::User(user("bob")), 1);
        assert_eq!(one_to_one.check_claim(&user("sender"), false, false, before), Err(PacketError::NotInAudience));
        assert_eq!(one_to_one.check_claim(&user("carol"), false, false, before), Err(PacketError::NotInAudience));
        assert_eq!(one_to_one.check_claim(&user("bob"), false, false, before), Ok(()));
        assert_eq!(one_to_one.check_claim(&user("bob"), false, false, at_expiry), Err(PacketError::Expired { expires_at: at_expiry }));

        let mut group = open_packet(Audience::Group(GroupId::parse("grp_g").expect("valid")), 3);
        assert_eq!(group.check_claim(&user("sender"), true, false, before), Ok(()), "the sender may claim their own group packet");
        assert_eq!(group.check_claim(&user("carol"), false, false, before), Err(PacketError::NotInAudience));
        assert_eq!(group.check_claim(&user("bob"), true, true, before), Err(PacketError::AlreadyClaimed));
        assert!(!group.record_claim(amount(100), before));
        assert_eq!(group.recall(&user("bob"), before), Err(PacketError::NotSender));
        assert_eq!(group.expire(before), Err(PacketError::NotYetExpired));
        assert_eq!(group.recall(&user("sender"), at_expiry), Err(PacketError::Expired { expires_at: at_expiry }));
        let refund = group.recall(&user("sender"), before).expect("open and in time");
        assert_eq!(refund, Refund { amount: amount(200), status: PacketStatus::Recalled });
        group.record_refund(&refund, None, before);
        assert_eq!(group.remaining_amount(), Amount::ZERO);
        assert_eq!(group.check_claim(&user("bob"), true, false, before), Err(PacketError::Recalled));
        assert_eq!(group.expire(at_expiry), Err(PacketError::NotOpen { status: PacketStatus::Recalled }));

        let mut exhausting = open_packet(Audience::Group(GroupId::parse("grp_g").expect("valid")), 2);
        assert!(!exhausting.record_claim(amount(100), before));
        assert!(exhausting.record_claim(amount(200), before));
        assert_eq!(exhausting.status, PacketStatus::Exhausted);
        assert_eq!(exhausting.check_claim(&user("carol"), true, false, before), Err(PacketError::Exhausted));
    }

    #[test]
    fn luckiest_prefers_the_largest_then_the_earliest() {
        let (a, b, c) = (user("a"), user("b"), user("c"));
        assert_eq!(luckiest([(&a, amount(5)), (&b, amount(9)), (&c, amount(9))]), Some(&b));
        assert_eq!(luckiest([(&a, amount(5)), (&b, amount(5))]), Some(&a));
        assert_eq!(luckiest(std::iter::empty()), None);
    }
}
