//! Person-to-person transfers (转账): arrival modes, acceptance, settlement at the later of acceptance
//! and arrival, return by the recipient, cancel by the sender of a delayed transfer, and expiry of an
//! unaccepted one. Each finishing step moves the money out of the transfer's hold exactly once.

use crate::{Amount, Timestamp, TransferId, TxnNo, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arrival {
    Instant,
    /// 延时到账: not before `created_at` + the 2-hour delay.
    Delay2h,
    /// 延时到账: not before `created_at` + the 24-hour delay.
    Delay24h,
}

impl Arrival {
    pub const ALL: [Arrival; 3] = [Arrival::Instant, Arrival::Delay2h, Arrival::Delay24h];

    pub fn as_str(self) -> &'static str {
        match self {
            Arrival::Instant => "instant",
            Arrival::Delay2h => "delay_2h",
            Arrival::Delay24h => "delay_24h",
        }
    }

    pub fn parse(text: &str) -> Option<Arrival> {
        Arrival::ALL.into_iter().find(|arrival| arrival.as_str() == text)
    }

    pub fn is_delayed(self) -> bool {
        self != Arrival::Instant
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferStatus {
    /// Awaiting the recipient's acceptance.
    Pending,
    /// Accepted, waiting for `arrives_at`.
    Accepted,
    Settled,
    Returned,
    Cancelled,
    Expired,
}

impl TransferStatus {
    pub const ALL: [TransferStatus; 6] = [
        TransferStatus::Pending,
        TransferStatus::Accepted,
        TransferStatus::Settled,
        TransferStatus::Returned,
        TransferStatus::Cancelled,
        TransferStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TransferStatus::Pending => "pending",
            TransferStatus::Accepted => "accepted",
            TransferStatus::Settled => "settled",
            TransferStatus::Returned => "returned",
            TransferStatus::Cancelled => "cancelled",
            TransferStatus::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<TransferStatus> {
        TransferStatus::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// Whether the money is still in the hold.
    pub fn is_open(self) -> bool {
        matches!(self, TransferStatus::Pending | TransferStatus::Accepted)
    }
}

/// The deployment's transfer timings, in seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferTimings {
    pub accept_ttl_seconds: i64,
    pub delay_2h_seconds: i64,
    pub delay_24h_seconds: i64,
    pub max_memo_chars: usize,
}

impl Default for TransferTimings {
    fn default() -> TransferTimings {
        TransferTimings { accept_ttl_seconds: 86_400, delay_2h_seconds: 7_200, delay_24h_seconds: 86_400, max_memo_chars: 100 }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub id: TransferId,
    pub sender_id: UserId,
    pub recipient_id: UserId,
    pub amount: Amount,
    pub memo: Option<String>,
    pub arrival: Arrival,
    pub status: TransferStatus,
    pub created_at: Timestamp,
    pub arrives_at: Timestamp,
    pub accept_by: Timestamp,
    pub accepted_at: Option<Timestamp>,
    pub settled_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// The transactions of this transfer in order: the send, then the settlement or the refund.
    pub txn_nos: Vec<TxnNo>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("a transfer cannot be sent to oneself")]
    ToSelf,
    #[error("the memo has {chars} characters; at most {max} are allowed")]
    MemoTooLong { chars: usize, max: usize },
    #[error("the memo must not contain the NUL character")]
    MemoNotStorable,
    #[error("only the recipient can {action} a transfer")]
    NotRecipient { action: &'static str },
    #[error("only the sender can cancel a transfer")]
    NotSender,
    #[error("an instant transfer cannot be cancelled")]
    InstantNotCancellable,
    #[error("the transfer is {status}, not pending or accepted")]
    Finished { status: &'static str },
    #[error("the transfer was already accepted")]
    AlreadyAccepted,
    #[error("the time to accept this transfer ended at {accept_by}")]
    AcceptDeadlinePassed { accept_by: Timestamp },
}

/// What a step does with the money in the hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldRelease {
    /// Nothing moves yet.
    Keep,
    /// The hold goes to the recipient.
    Settle,
    /// The hold goes back to the sender.
    Refund,
}

impl Transfer {
    /// A new pending transfer, checked.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: TransferId,
        sender_id: UserId,
        recipient_id: UserId,
        amount: Amount,
        memo: Option<String>,
        arrival: Arrival,
        send_txn_no: TxnNo,
        timings: &TransferTimings,
        now: Timestamp,
    ) -> Result<Transfer, TransferError> {
        if sender_id == recipient_id {
            return Err(TransferError::ToSelf);
        }
        if let Some(memo) = &memo {
            let chars = memo.chars().count();
            if chars > timings.max_memo_chars {
                return Err(TransferError::MemoTooLong { chars, max: timings.max_memo_chars });
            }
            if !crate::text::is_storable(memo) {
                return Err(TransferError::MemoNotStorable);
            }
        }
        let delay = match arrival {
            Arrival::Instant => 0,
            Arrival::Delay2h => timings.delay_2h_seconds,
            Arrival::Delay24h => timings.delay_24h_seconds,
        };
        Ok(Transfer {
            id,
            sender_id,
            recipient_id,
            amount,
            memo,
            arrival,
            status: TransferStatus::Pending,
            created_at: now,
            arrives_at: now.plus_seconds(delay),
            accept_by: now.plus_seconds(timings.accept_ttl_seconds),
            accepted_at: None,
            settled_at: None,
            finished_at: None,
            txn_nos: vec![send_txn_no],
        })
    }

    /// The state the transfer is in at `now`, deadlines included: an accepted transfer whose arrival
    /// time has come is settled, and a pending one past its acceptance deadline expired, whether or
    /// not the timer has carried that out yet. Every step checks this, never the stored state alone,
    /// so that a deadline holds to the millisecond.
    pub fn status_at(&self, now: Timestamp) -> TransferStatus {
        match self.status {
            TransferStatus::Accepted if now >= self.arrives_at => TransferStatus::Settled,
            TransferStatus::Pending if now >= self.accept_by => TransferStatus::Expired,
            status => status,
        }
    }

    fn require_open(&self, now: Timestamp) -> Result<(), TransferError> {
        let status = self.status_at(now);
        if status.is_open() { Ok(()) } else { Err(TransferError::Finished { status: status.as_str() }) }
    }

    /// Acceptance by `user` at `now`: settles at once when the arrival time has come.
    pub fn accept(&mut self, user: &UserId, now: Timestamp) -> Result<HoldRelease, TransferError> {
        if user != &self.recipient_id {
            return Err(TransferError::NotRecipient { action: "accept" });
        }
        if self.status == TransferStatus::Pending && now >= self.accept_by {
            return Err(TransferError::AcceptDeadlinePassed { accept_by: self.accept_by });
        }
        self.require_open(now)?;
        if self.status == TransferStatus::Accepted {
            return Err(TransferError::AlreadyAccepted);
        }
        self.accepted_at = Some(now);
        if now >= self.arrives_at {
            self.finish(TransferStatus::Settled, now);
            Ok(HoldRelease::Settle)
        } else {
            self.status = TransferStatus::Accepted;
            Ok(HoldRelease::Keep)
        }
    }

    /// Return (退还) by the recipient before settlement.
    pub fn give_back(&mut self, user: &UserId, now: Timestamp) -> Result<HoldRelease, TransferError> {
        if user != &self.recipient_id {
            return Err(TransferError::NotRecipient { action: "return" });
        }
        self.require_open(now)?;
        self.finish(TransferStatus::Returned, now);
        Ok(HoldRelease::Refund)
    }

    /// Cancel by the sender of a delayed transfer before settlement.
    pub fn cancel(&mut self, user: &UserId, now: Timestamp) -> Result<HoldRelease, TransferError> {
        if user != &self.sender_id {
            return Err(TransferError::NotSender);
        }
        if !self.arrival.is_delayed() {
            return Err(TransferError::InstantNotCancellable);
        }
        self.require_open(now)?;
        self.finish(TransferStatus::Cancelled, now);
        Ok(HoldRelease::Refund)
    }

    /// The platform cancels an unsettled transfer because a system fault sent it: the money goes back
    /// to the sender whatever the arrival, as a cancel does.
    pub fn cancel_for_system_fault(&mut self, now: Timestamp) -> Result<HoldRelease, TransferError> {
        self.require_open(now)?;
        self.finish(TransferStatus::Cancelled, now);
        Ok(HoldRelease::Refund)
    }

    /// What the clock does at `now`: settle an accepted transfer whose arrival time has come, or
    /// expire a pending one past its acceptance deadline. `None` when nothing is due.
    pub fn on_timer(&mut self, now: Timestamp) -> Option<HoldRelease> {
        match self.status {
            TransferStatus::Accepted if now >= self.arrives_at => {
                self.finish(TransferStatus::Settled, now);
                Some(HoldRelease::Settle)
            }
            TransferStatus::Pending if now >= self.accept_by => {
                self.finish(TransferStatus::Expired, now);
                Some(HoldRelease::Refund)
            }
            _ => None,
        }
    }

    fn finish(&mut self, status: TransferStatus, now: Timestamp) {
        self.status = status;
        self.finished_at = Some(now);
        if status == TransferStatus::Settled {
            self.settled_at = Some(now);
        }
    }

    /// When the clock next has something to do for this transfer.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        match self.status {
            TransferStatus::Pending => Some(self.accept_by),
            TransferStatus::Accepted => Some(self.arrives_at),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> UserId {
        UserId::parse(&format!("usr_{name}")).expect("valid")
    }

    fn transfer(arrival: Arrival) -> Transfer {
        let timings = TransferTimings::default();
        Transfer::new(
            TransferId::parse("trf_t").expect("valid"),
            user("sender"),
            user("recipient"),
            Amount::new(100).expect("valid"),
            Some("rent".into()),
            arrival,
            TxnNo::parse("txn_send").expect("valid"),
            &timings,
            Timestamp::from_millis(0),
        )
        .expect("valid transfer")
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_millis(seconds * 1000)
    }

    #[test]
    fn instant_transfer_settles_on_acceptance_and_cannot_be_cancelled() {
        let mut instant = transfer(Arrival::Instant);
        assert_eq!(instant.cancel(&user("sender"), at(1)), Err(TransferError::InstantNotCancellable));
        assert_eq!(instant.accept(&user("sender"), at(1)), Err(TransferError::NotRecipient { action: "accept" }));
        assert_eq!(instant.accept(&user("recipient"), at(1)), Ok(HoldRelease::Settle));
        assert_eq!(instant.status, TransferStatus::Settled);
        assert_eq!(instant.give_back(&user("recipient"), at(2)), Err(TransferError::Finished { status: "settled" }));
        assert_eq!(instant.on_timer(at(100_000)), None);
    }

    #[test]
    fn delayed_transfer_settles_at_the_later_of_acceptance_and_arrival() {
        let mut early = transfer(Arrival::Delay2h);
        assert_eq!(early.accept(&user("recipient"), at(60)), Ok(HoldRelease::Keep));
        assert_eq!(early.status, TransferStatus::Accepted);
        assert_eq!(early.accept(&user("recipient"), at(61)), Err(TransferError::AlreadyAccepted));
        assert_eq!(early.on_timer(at(7_199)), None);
        assert_eq!(early.on_timer(at(7_200)), Some(HoldRelease::Settle));
        assert_eq!(early.settled_at, Some(at(7_200)));

        let mut late = transfer(Arrival::Delay2h);
        assert_eq!(late.accept(&user("recipient"), at(8_000)), Ok(HoldRelease::Settle));
        assert_eq!(late.settled_at, Some(at(8_000)));

        let mut cancelled = transfer(Arrival::Delay24h);
        assert_eq!(cancelled.accept(&user("recipient"), at(10)), Ok(HoldRelease::Keep));
        assert_eq!(cancelled.cancel(&user("recipient"), at(11)), Err(TransferError::NotSender));
        assert_eq!(cancelled.cancel(&user("sender"), at(11)), Ok(HoldRelease::Refund));
        assert_eq!(cancelled.on_timer(at(90_000)), None, "a cancelled transfer never settles");
    }

    #[test]
    fn unaccepted_transfer_expires_and_late_acceptance_is_refused() {
        let mut pending = transfer(Arrival::Instant);
        assert_eq!(pending.on_timer(at(86_399)), None);
        assert_eq!(pending.accept(&user("recipient"), at(86_400)), Err(TransferError::AcceptDeadlinePassed { accept_by: at(86_400) }));
        assert_eq!(pending.on_timer(at(86_400)), Some(HoldRelease::Refund));
        assert_eq!(pending.status, TransferStatus::Expired);
        assert_eq!(pending.on_timer(at(86_401)), None, "expiry happens once");
    }

    #[test]
    fn return_before_settlement_only() {
        let mut pending = transfer(Arrival::Delay2h);
        assert_eq!(pending.give_back(&user("sender"), at(1)), Err(TransferError::NotRecipient { action: "return" }));
        assert_eq!(pending.give_back(&user("recipient"), at(1)), Ok(HoldRelease::Refund));
        assert_eq!(pending.status, TransferStatus::Returned);
        assert_eq!(pending.cancel(&user("sender"), at(2)), Err(TransferError::Finished { status: "returned" }));
    }

    #[test]
    fn memo_and_self_transfer_rules() {
        let timings = TransferTimings::default();
        let make = |recipient: &str, memo: String| {
            Transfer::new(
                TransferId::parse("trf_t").expect("valid"),
                user("sender"),
                user(recipient),
                Amount::new(1).expect("valid"),
                Some(memo),
                Arrival::Instant,
                TxnNo::parse("txn_x").expect("valid"),
                &timings,
                at(0),
            )
        };
        assert_eq!(make("sender", String::new()).err(), Some(TransferError::ToSelf));
        assert_eq!(make("bob", "转".repeat(101)).err(), Some(TransferError::MemoTooLong { chars: 101, max: 100 }));
        assert!(make("bob", "转".repeat(100)).is_ok());
    }
}
