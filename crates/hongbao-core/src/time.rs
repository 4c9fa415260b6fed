//! Timestamps as milliseconds since the Unix epoch, written and read as RFC 3339 in UTC through the
//! `time` crate. The core never reads the clock: every timestamp is passed in.

use std::fmt;

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{PrimitiveDateTime, UtcDateTime};

/// The one form timestamps are written in: UTC, always three digits of milliseconds, then `Z`.
const RFC3339_MILLIS: &[BorrowedFormatItem<'_>] = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// The forms timestamps are read in: RFC 3339 with an upper-case `T`, seconds up to 59, any fraction of
/// a second, and UTC written as `Z` or `+00:00`. The literals match exactly, so the leniencies of the
/// crate's general RFC 3339 parser (any separator, lower-case `z`, other offsets, leap seconds) are not
/// accepted.
const RFC3339_UTC: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]][first [Z] [+00:00]]");

/// The first and last instants RFC 3339 can write, 0000-01-01T00:00:00.000Z and
/// 9999-12-31T23:59:59.999Z: its years have exactly four digits.
const FIRST_WRITABLE_MILLIS: i64 = -62_167_219_200_000;
const LAST_WRITABLE_MILLIS: i64 = 253_402_300_799_999;

/// An instant, in milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Timestamp {
        Timestamp(millis)
    }

    pub const fn millis(self) -> i64 {
        self.0
    }

    pub fn plus_seconds(self, seconds: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(seconds.saturating_mul(1000)))
    }

    /// Formats as RFC 3339 UTC with millisecond precision, e.g. `2026-11-26T23:42:32.123Z`.
    ///
    /// An instant outside the years 0000 to 9999, which RFC 3339 cannot write, is written as the nearest
    /// one it can. Only saturating arithmetic gets there: every duration the service adds to a clock
    /// reading is bounded by its settings, and every time it reads is in this form.
    pub fn to_rfc3339(self) -> String {
        let millis = self.0.clamp(FIRST_WRITABLE_MILLIS, LAST_WRITABLE_MILLIS);
        let at = UtcDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).expect("the years 0000 to 9999 are within the time crate's range");
        at.format(RFC3339_MILLIS).expect("a date and time in UTC has every component the format names")
    }

    /// Parses an RFC 3339 time in UTC, such as `2026-12-01T00:00:00Z` or `2026-12-01T00:00:00.250+00:00`.
    /// A fraction of a second finer than a millisecond is cut off, as [`Timestamp`] keeps milliseconds.
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        // The crate's year also takes a leading sign (`+2026`), ISO 8601's expanded form, which RFC 3339
        // does not have.
        if !text.starts_with(|character: char| character.is_ascii_digit()) {
            return None;
        }
        let at = PrimitiveDateTime::parse(text, RFC3339_UTC).ok()?.as_utc();
        Some(Timestamp(at.unix_timestamp() * 1000 + i64::from(at.millisecond())))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Option<i64> {
        Timestamp::parse_rfc3339(text).map(Timestamp::millis)
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(Timestamp::from_millis(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp::from_millis(1_795_736_552_123).to_rfc3339(), "2026-11-26T23:42:32.123Z");
        assert_eq!(Timestamp::from_millis(951_782_400_000).to_rfc3339(), "2000-02-29T00:00:00.000Z");
        assert_eq!(Timestamp::from_millis(-1).to_rfc3339(), "1969-12-31T23:59:59.999Z");
        assert_eq!(Timestamp::from_millis(1_795_736_552_123).to_string(), "2026-11-26T23:42:32.123Z");
    }

    #[test]
    fn formats_leap_days_and_the_ends_of_the_four_digit_years() {
        assert_eq!(Timestamp::from_millis(1_709_164_800_000).to_rfc3339(), "2024-02-29T00:00:00.000Z");
        assert_eq!(Timestamp::from_millis(4_107_542_400_000).to_rfc3339(), "2100-03-01T00:00:00.000Z", "2100 is not a leap year");
        assert_eq!(Timestamp::from_millis(-2_203_891_200_000).to_rfc3339(), "1900-03-01T00:00:00.000Z", "nor was 1900");
        assert_eq!(Timestamp::from_millis(FIRST_WRITABLE_MILLIS).to_rfc3339(), "0000-01-01T00:00:00.000Z");
        assert_eq!(Timestamp::from_millis(LAST_WRITABLE_MILLIS).to_rfc3339(), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn instants_rfc3339_cannot_write_are_written_as_the_nearest_it_can() {
        assert_eq!(Timestamp::from_millis(i64::MAX).to_rfc3339(), "9999-12-31T23:59:59.999Z");
        assert_eq!(Timestamp::from_millis(LAST_WRITABLE_MILLIS + 1).to_rfc3339(), "9999-12-31T23:59:59.999Z");
        assert_eq!(Timestamp::from_millis(i64::MIN).to_rfc3339(), "0000-01-01T00:00:00.000Z");
        assert_eq!(Timestamp::from_millis(FIRST_WRITABLE_MILLIS - 1).to_rfc3339(), "0000-01-01T00:00:00.000Z");
    }

    #[test]
    fn parses_to_the_millisecond() {
        assert_eq!(parse("1970-01-02T00:00:01Z"), Some(86_401_000));
        assert_eq!(parse("1970-01-01T00:00:00.25Z"), Some(250));
        assert_eq!(parse("1970-01-01T00:00:00.250+00:00"), Some(250));
        assert_eq!(parse("2026-11-26T23:42:32.1239Z"), Some(1_795_736_552_123), "finer digits are cut off, not rounded");
        assert_eq!(parse("2026-11-26T23:42:32.123456789Z"), Some(1_795_736_552_123));
        // RFC 3339 allows any number of digits; the nanoseconds the crate keeps are more than enough.
        assert_eq!(parse("2026-11-26T23:42:32.1234567891234Z"), Some(1_795_736_552_123));
        assert_eq!(parse("1969-12-31T23:59:59.9999Z"), Some(-1), "before the epoch the fraction still counts forward");
        assert_eq!(parse("0000-01-01T00:00:00Z"), Some(FIRST_WRITABLE_MILLIS));
        assert_eq!(parse("9999-12-31T23:59:59.999Z"), Some(LAST_WRITABLE_MILLIS));
        assert_eq!(parse("2024-02-29T12:00:00Z"), Some(1_709_208_000_000));
    }

    #[test]
    fn refuses_what_is_not_an_rfc_3339_time_in_utc() {
        for bad in [
            "",
            "x",
            "2026-11-26",
            "2026-11-26T24:00:00Z",
            "2026-11-26T23:60:00Z",
            "2026-12-31T23:59:60Z",
            "2026-11-26T10:00:00+08:00",
            "2026-11-26T10:00:00-00:00",
            "2026-02-30T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2026-11-26t10:00:00Z",
            "2026-11-26T10:00:00z",
            "2026-11-26 10:00:00Z",
            "2026-11-26T10:00:00",
            "2026-11-26T10:00Z",
            "2026-11-26T10:00:00.Z",
            "2026-11-26T1:00:00Z",
            "+2026-11-26T10:00:00Z",
            "-0001-11-26T10:00:00Z",
            "20261-11-26T10:00:00Z",
            " 2026-11-26T10:00:00Z",
            "2026-11-26T10:00:00Z ",
            "2026-11-26T10:00:00ZZ",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_written_time_reads_back_to_the_same_millisecond() {
        let samples = (-62_167_219_200_000_i64..=LAST_WRITABLE_MILLIS).step_by(9_876_543_210_987);
        for millis in samples.chain([-1, 0, 1, 999, 1_000, 951_868_799_999, 951_868_800_000, FIRST_WRITABLE_MILLIS, LAST_WRITABLE_MILLIS]) {
            let text = Timestamp::from_millis(millis).to_rfc3339();
            assert_eq!(parse(&text), Some(millis), "{text}");
        }
    }
}
