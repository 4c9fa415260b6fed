//! Amounts as clients and operators write them: decimal strings (`"5000.00"` in the policy file) read
//! by `Amount::parse_decimal`, and minor units (JSON integers) taken by `Amount::new` and
//! `Amount::positive`.
//!
//! Properties: a decimal is read as exactly the value it denotes, or refused as too large exactly when
//! that value is past `MAX_AMOUNT`, or refused as malformed exactly when it is not digits with at most
//! two after a point; an amount's written form reads back to the same amount; the arithmetic never
//! leaves `0..=MAX_AMOUNT`.
#![no_main]

use hongbao_core::money::MAX_AMOUNT;
use hongbao_core::{Amount, MoneyError};
use libfuzzer_sys::fuzz_target;

/// What the decimal `text` should read as, computed another way: by digits into a wide integer.
fn expected(text: &str) -> Result<i64, MoneyError> {
    let malformed = Err(MoneyError::Malformed(text.to_owned()));
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || fraction.len() > 2 || (text.contains('.') && fraction.is_empty()) {
        return malformed;
    }
    let mut value: u128 = 0;
    for digit in whole.bytes().chain(fraction.bytes()).chain(std::iter::repeat_n(b'0', 2 - fraction.len())) {
        value = value * 10 + u128::from(digit - b'0');
        if value > MAX_AMOUNT as u128 {
            return Err(MoneyError::TooLarge);
        }
    }
    Ok(value as i64)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let parsed = Amount::parse_decimal(text);
        assert_eq!(parsed.clone().map(Amount::minor_units), expected(text), "{text:?}");
        if let Ok(amount) = parsed {
            let written = amount.to_string();
            assert_eq!(Amount::parse_decimal(&written), Ok(amount), "{written:?} reads back");
        }
    }
    if let Some((units, rest)) = data.split_first_chunk::<8>() {
        let units = i64::from_le_bytes(*units);
        match Amount::new(units) {
            Ok(amount) => {
                assert!((0..=MAX_AMOUNT).contains(&units));
                assert_eq!(Amount::parse_decimal(&amount.to_string()), Ok(amount), "{units} minor units");
                assert_eq!(Amount::positive(units).is_ok(), units > 0);
                if let Some(other) = rest.first_chunk::<8>().map(|other| i64::from_le_bytes(*other)).and_then(|other| Amount::new(other).ok()) {
                    let (a, b) = (i128::from(units), i128::from(other.minor_units()));
                    let in_range = |value: i128| (0..=i128::from(MAX_AMOUNT)).contains(&value);
                    assert_eq!(amount.checked_add(other).map(|sum| i128::from(sum.minor_units())), Some(a + b).filter(|sum| in_range(*sum)));
                    assert_eq!(amount.checked_sub(other).map(|difference| i128::from(difference.minor_units())), Some(a - b).filter(|d| in_range(*d)));
                    let factor = other.minor_units() as u32;
                    let product = a * i128::from(factor);
                    assert_eq!(amount.checked_mul(factor).map(|product| i128::from(product.minor_units())), Some(product).filter(|p| in_range(*p)));
                }
            }
            Err(MoneyError::Negative) => assert!(units < 0),
            Err(MoneyError::TooLarge) => assert!(units > MAX_AMOUNT),
            Err(other) => panic!("Amount::new({units}) refused with {other:?}"),
        }
    }
});
