//! Small pieces of the text formats shared by checkpoints, receipts and reports: strict decimals and
//! numbers grouped for people.

/// A decimal of ASCII digits with no sign and no leading zero (unless it is `0`), as C2SP writes tree
/// sizes and indexes; `None` for anything else or past `u64::MAX`.
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

/// `n` with its thousands grouped by commas, for people: `1234567` is `1,234,567`.
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_strict() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
        for bad in ["", "00", "01", "+1", "-1", " 1", "1 ", "1e3", "18446744073709551616", "١"] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(
            [0, 999, 1000, 1234, 5000, 1234567, u64::MAX].map(grouped),
            ["0", "999", "1,000", "1,234", "5,000", "1,234,567", "18,446,744,073,709,551,615"]
        );
    }
}
