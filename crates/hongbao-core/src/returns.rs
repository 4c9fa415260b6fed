//! Return requests (协商退还): the payer of a settled claim or transfer asks the recipient to give back
//! all or part of it, with a reason and a deadline. The recipient accepts or declines; silence expires
//! the request. One request may be open per original transaction, at most three in all.

use crate::{Amount, ReturnRequestId, Timestamp, TxnNo, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReturnRequestStatus {
    Pending,
    Accepted,
    Declined,
    Expired,
}

impl ReturnRequestStatus {
    pub const ALL: [ReturnRequestStatus; 4] =
        [ReturnRequestStatus::Pending, ReturnRequestStatus::Accepted, ReturnRequestStatus::Declined, ReturnRequestStatus::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            ReturnRequestStatus::Pending => "pending",
            ReturnRequestStatus::Accepted => "accepted",
            ReturnRequestStatus::Declined => "declined",
            ReturnRequestStatus::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<ReturnRequestStatus> {
        ReturnRequestStatus::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// The deployment's rules for return requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnRules {
    pub default_respond_within_seconds: i64,
    pub max_respond_within_seconds: i64,
    pub max_requests_per_transaction: usize,
    pub max_reason_chars: usize,
}

impl Default for ReturnRules {
    fn default() -> ReturnRules {
        ReturnRules { default_respond_within_seconds: 259_200, max_respond_within_seconds: 604_800, max_requests_per_transaction: 3, max_reason_chars: 200 }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnRequest {
    pub id: ReturnRequestId,
    /// The settled transaction whose money is asked back.
    pub txn_no: TxnNo,
    /// The payer of that transaction.
    pub requester_id: UserId,
    /// Who received the money and is asked to give it back.
    pub recipient_id: UserId,
    pub amount: Amount,
    pub reason: String,
    pub status: ReturnRequestStatus,
    pub created_at: Timestamp,
    pub respond_by: Timestamp,
    pub responded_at: Option<Timestamp>,
    pub decline_reason: Option<String>,
    pub return_txn_no: Option<TxnNo>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReturnError {
    #[error("a reason of 1 to {max} characters, without the NUL character, is required")]
    BadReason { max: usize },
    #[error("respond_within_seconds must be between 1 and {max}")]
    DeadlineOutOfRange { max: i64 },
    #[error("at most {max} can still be asked back from this transaction")]
    AmountTooLarge { max: Amount },
    #[error("everything paid in this transaction was already returned")]
    NothingLeft,
    #[error("a return request for this transaction is already pending")]
    AlreadyPending,
    #[error("at most {max} return requests may be made for one transaction")]
    TooManyRequests { max: usize },
    #[error("only the recipient of the money can answer this request")]
    NotRecipient,
    #[error("the request is {status}, not pending")]
    NotPending { status: &'static str },
    #[error("the time to answer this request ended at {respond_by}")]
    DeadlinePassed { respond_by: Timestamp },
}

/// What a new request may ask, given what is still in the recipient's hands and the requests made so
/// far.
pub struct NewRequest<'a> {
    /// The payment less everything that gave it back already: accepted returns, case refunds and
    /// reversals (the journal's corrections of it).
    pub left: Amount,
    pub earlier_requests: &'a [ReturnRequest],
    pub amount: Option<Amount>,
    pub reason: &'a str,
    pub respond_within_seconds: Option<i64>,
}

/// Checks a new request; returns the amount asked and the deadline.
pub fn check_new_request(request: &NewRequest<'_>, rules: &ReturnRules, now: Timestamp) -> Result<(Amount, Timestamp), ReturnError> {
    let reason_chars = request.reason.trim().chars().count();
    if reason_chars == 0 || reason_chars > rules.max_reason_chars || !crate::text::is_storable(request.reason) {
        return Err(ReturnError::BadReason { max: rules.max_reason_chars });
    }
    let seconds = request.respond_within_seconds.unwrap_or(rules.default_respond_within_seconds);
    if seconds < 1 || seconds > rules.max_respond_within_seconds {
        return Err(ReturnError::DeadlineOutOfRange { max: rules.max_respond_within_seconds });
    }
    if request.earlier_requests.iter().any(|earlier| earlier.status == ReturnRequestStatus::Pending) {
        return Err(ReturnError::AlreadyPending);
    }
    if request.earlier_requests.len() >= rules.max_requests_per_transaction {
        return Err(ReturnError::TooManyRequests { max: rules.max_requests_per_transaction });
    }
    let left = request.left;
    if left.is_zero() {
        return Err(ReturnError::NothingLeft);
    }
    let amount = request.amount.unwrap_or(left);
    if amount > left {
        return Err(ReturnError::AmountTooLarge { max: left });
    }
    Ok((amount, now.plus_seconds(seconds)))
}

impl ReturnRequest {
    fn require_answerable(&self, user: &UserId, now: Timestamp) -> Result<(), ReturnError> {
        if user != &self.recipient_id {
            return Err(ReturnError::NotRecipient);
        }
        if self.status != ReturnRequestStatus::Pending {
            return Err(ReturnError::NotPending { status: self.status.as_str() });
        }
        if now >= self.respond_by {
            return Err(ReturnError::DeadlinePassed { respond_by: self.respond_by });
        }
        Ok(())
    }

    /// Checks that `user` may accept now; the caller then moves the money and records it.
    pub fn check_accept(&self, user: &UserId, now: Timestamp) -> Result<(), ReturnError> {
        self.require_answerable(user, now)
    }

    pub fn record_accept(&mut self, return_txn_no: TxnNo, now: Timestamp) {
        self.status = ReturnRequestStatus::Accepted;
        self.responded_at = Some(now);
        self.return_txn_no = Some(return_txn_no);
    }

    pub fn decline(&mut self, user: &UserId, reason: Option<String>, now: Timestamp) -> Result<(), ReturnError> {
        self.require_answerable(user, now)?;
        self.status = ReturnRequestStatus::Declined;
        self.responded_at = Some(now);
        self.decline_reason = reason;
        Ok(())
    }

    /// Expires a pending request whose deadline has passed; returns whether it did.
    pub fn on_timer(&mut self, now: Timestamp) -> bool {
        if self.status == ReturnRequestStatus::Pending && now >= self.respond_by {
            self.status = ReturnRequestStatus::Expired;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(units: i64) -> Amount {
        Amount::new(units).expect("valid")
    }

    fn request(status: ReturnRequestStatus, units: i64) -> ReturnRequest {
        ReturnRequest {
            id: ReturnRequestId::parse("rrq_r").expect("valid"),
            txn_no: TxnNo::parse("txn_t").expect("valid"),
            requester_id: UserId::parse("usr_payer").expect("valid"),
            recipient_id: UserId::parse("usr_payee").expect("valid"),
            amount: amount(units),
            reason: "sent by mistake".into(),
            status,
            created_at: Timestamp::from_millis(0),
            respond_by: Timestamp::from_millis(10_000),
            responded_at: None,
            decline_reason: None,
            return_txn_no: None,
        }
    }

    /// A check of a payment of 10.00, of which what accepted returns in `earlier` took is gone.
    fn check(earlier: &[ReturnRequest], amount_asked: Option<i64>, reason: &str, within: Option<i64>) -> Result<(i64, i64), ReturnError> {
        let returned: i64 = earlier.iter().filter(|request| request.status == ReturnRequestStatus::Accepted).map(|request| request.amount.minor_units()).sum();
        let left = amount(1_000 - returned);
        let new = NewRequest { left, earlier_requests: earlier, amount: amount_asked.map(amount), reason, respond_within_seconds: within };
        check_new_request(&new, &ReturnRules::default(), Timestamp::from_millis(0)).map(|(asked, by)| (asked.minor_units(), by.millis() / 1000))
    }

    #[test]
    fn new_request_rules() {
        assert_eq!(check(&[], None, "mistake", None), Ok((1_000, 259_200)));
        assert_eq!(check(&[], Some(400), "mistake", Some(60)), Ok((400, 60)));
        assert_eq!(check(&[], Some(1_001), "mistake", None), Err(ReturnError::AmountTooLarge { max: amount(1_000) }));
        assert_eq!(check(&[], None, "  ", None), Err(ReturnError::BadReason { max: 200 }));
        assert_eq!(check(&[], None, &"x".repeat(201), None), Err(ReturnError::BadReason { max: 200 }));
        assert_eq!(check(&[], None, "mistake", Some(604_801)), Err(ReturnError::DeadlineOutOfRange { max: 604_800 }));
        assert_eq!(check(&[request(ReturnRequestStatus::Pending, 10)], None, "again", None), Err(ReturnError::AlreadyPending));
        let partly_returned = [request(ReturnRequestStatus::Accepted, 300), request(ReturnRequestStatus::Declined, 700)];
        assert_eq!(check(&partly_returned, None, "the rest", None), Ok((700, 259_200)));
        assert_eq!(check(&partly_returned, Some(701), "the rest", None), Err(ReturnError::AmountTooLarge { max: amount(700) }));
        let three = [request(ReturnRequestStatus::Declined, 1), request(ReturnRequestStatus::Expired, 1), request(ReturnRequestStatus::Declined, 1)];
        assert_eq!(check(&three, None, "fourth", None), Err(ReturnError::TooManyRequests { max: 3 }));
        assert_eq!(check(&[request(ReturnRequestStatus::Accepted, 1_000)], None, "more", None), Err(ReturnError::NothingLeft));
        // A case refund or a reversal may have taken the rest without any return.
        let new = NewRequest { left: Amount::ZERO, earlier_requests: &[], amount: None, reason: "more", respond_within_seconds: None };
        assert_eq!(check_new_request(&new, &ReturnRules::default(), Timestamp::from_millis(0)), Err(ReturnError::NothingLeft));
    }

    #[test]
    fn answers_and_expiry() {
        let payee = UserId::parse("usr_payee").expect("valid");
        let payer = UserId::parse("usr_payer").expect("valid");
        let mut pending = request(ReturnRequestStatus::Pending, 10);
        assert_eq!(pending.check_accept(&payer, Timestamp::from_millis(1)), Err(ReturnError::NotRecipient));
        assert_eq!(
            pending.check_accept(&payee, Timestamp::from_millis(10_000)),
            Err(ReturnError::DeadlinePassed { respond_by: Timestamp::from_millis(10_000) })
        );
        assert_eq!(pending.check_accept(&payee, Timestamp::from_millis(9_999)), Ok(()));
        assert!(!pending.on_timer(Timestamp::from_millis(9_999)));
        assert!(pending.on_timer(Timestamp::from_millis(10_000)));
        assert_eq!(pending.decline(&payee, None, Timestamp::from_millis(10_001)), Err(ReturnError::NotPending { status: "expired" }));
        let mut declinable = request(ReturnRequestStatus::Pending, 10);
        assert_eq!(declinable.decline(&payee, Some("no".into()), Timestamp::from_millis(5)), Ok(()));
        assert_eq!(declinable.status, ReturnRequestStatus::Declined);
        assert!(!declinable.on_timer(Timestamp::from_millis(20_000)));
    }
}
