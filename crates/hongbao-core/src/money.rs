//! Money: integer minor units (fen) only, with exact parsing of decimal strings such as `12.34`.

use std::fmt;

/// The largest amount the service accepts anywhere: 10^12 minor units. Sums of up to 10^6 such amounts
/// still fit in an `i64`, so totals never overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// A non-negative amount of money in minor units, at most [`MAX_AMOUNT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount must not be negative")]
    Negative,
    #[error("amount must be positive")]
    Zero,
    #[error("amount is larger than {MAX_AMOUNT} minor units")]
    TooLarge,
    #[error("amount {0:?} is not a decimal number with at most two fraction digits")]
    Malformed(String),
}

impl Amount {
    pub const ZERO: Amount = Amount(0);

    /// An amount of zero or more minor units.
    pub fn new(minor_units: i64) -> Result<Amount, MoneyError> {
        if minor_units < 0 {
            return Err(MoneyError::Negative);
        }
        if minor_units > MAX_AMOUNT {
            return Err(MoneyError::TooLarge);
        }
        Ok(Amount(minor_units))
    }

    /// An amount of at least one minor unit.
    pub fn positive(minor_units: i64) -> Result<Amount, MoneyError> {
        if minor_units == 0 {
            return Err(MoneyError::Zero);
        }
        Amount::new(minor_units)
    }

    /// Parses a decimal such as `12.34`, `12.3`, `12` or `0.01` exactly, without floats.
    pub fn parse_decimal(text: &str) -> Result<Amount, MoneyError> {
        let malformed = || MoneyError::Malformed(text.to_owned());
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (text, ""),
        };
        let digits_only = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
        if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) || fraction.len() > 2 {
            return Err(malformed());
        }
        if text.contains('.') && fraction.is_empty() {
            return Err(malformed());
        }
        // Leading zeros add nothing: only the significant digits can make the amount too large.
        if whole.trim_start_matches('0').len() > 13 {
            return Err(MoneyError::TooLarge);
        }
        let whole: i64 = whole.parse().map_err(|_| malformed())?;
        let mut fraction_units: i64 = if fraction.is_empty() { 0 } else { fraction.parse().map_err(|_| malformed())? };
        if fraction.len() == 1 {
            fraction_units *= 10;
        }
        let minor_units = whole.checked_mul(100).and_then(|v| v.checked_add(fraction_units)).ok_or(MoneyError::TooLarge)?;
        Amount::new(minor_units)
    }

    pub fn minor_units(self) -> i64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Sum of two amounts; `None` past [`MAX_AMOUNT`].
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        Amount::new(self.0.checked_add(other.0)?).ok()
    }

    /// Difference of two amounts; `None` when it would be negative.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        Amount::new(self.0.checked_sub(other.0)?).ok()
    }

    /// `self * factor`; `None` past [`MAX_AMOUNT`].
    pub fn checked_mul(self, factor: u32) -> Option<Amount> {
        Amount::new(self.0.checked_mul(i64::from(factor))?).ok()
    }
}

impl fmt::Display for Amount {
    /// Formats as a decimal with two fraction digits, for people: `1234` is `12.34`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimals_exactly() {
        let check = |text: &str, expected: Result<i64, MoneyError>| {
            assert_eq!(Amount::parse_decimal(text).map(Amount::minor_units), expected, "{text}");
        };
        check("12.34", Ok(1234));
        check("12.3", Ok(1230));
        check("12", Ok(1200));
        check("0.01", Ok(1));
        check("0.1", Ok(10));
        check("0", Ok(0));
        check("10000000000", Ok(MAX_AMOUNT));
        check("10000000000.01", Err(MoneyError::TooLarge));
        check("99999999999999999999", Err(MoneyError::TooLarge));
        // Found by fuzzing (fuzz/corpus/amount/leading-zeros): leading zeros counted toward the length
        // that is too large.
        check("000000611086895.00", Ok(61108689500));
        check("00000000000000000001.5", Ok(150));
        check("000010000000000", Ok(MAX_AMOUNT));
        check("000010000000000.01", Err(MoneyError::TooLarge));
        for bad in ["", ".5", "1.", "1.234", "-1", "+1", "1,00", "1e3", " 1", "1.0.0", "abc", "１"] {
            assert!(matches!(Amount::parse_decimal(bad), Err(MoneyError::Malformed(_))), "{bad:?}");
        }
    }

    #[test]
    fn formats_two_fraction_digits() {
        assert_eq!(Amount::new(1234).map(|a| a.to_string()), Ok("12.34".to_owned()));
        assert_eq!(Amount::new(5).map(|a| a.to_string()), Ok("0.05".to_owned()));
        assert_eq!(Amount::new(100).map(|a| a.to_string()), Ok("1.00".to_owned()));
    }

    #[test]
    fn constructors_reject_out_of_range() {
        assert_eq!(Amount::new(-1), Err(MoneyError::Negative));
        assert_eq!(Amount::positive(0), Err(MoneyError::Zero));
        assert_eq!(Amount::new(MAX_AMOUNT + 1), Err(MoneyError::TooLarge));
        assert_eq!(Amount::new(MAX_AMOUNT).and_then(|a| Ok(a.checked_add(Amount::new(1)?))), Ok(None));
    }
}
