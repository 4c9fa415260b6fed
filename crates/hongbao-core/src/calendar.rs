//! Calendar dates and business-day arithmetic in UTC, used to compute complaint deadlines.

use std::collections::BTreeSet;
use std::fmt;

use time::macros::{date, format_description};

use crate::Timestamp;

const MILLIS_PER_DAY: i64 = 86_400_000;

/// The Julian day number of 1970-01-01, which turns the `time` crate's day numbers into days since the
/// epoch.
const EPOCH_JULIAN_DAY: i64 = date!(1970 - 01 - 01).to_julian_day() as i64;

/// The first and last days a [`Date`] can represent: the years -9999 to 9999 of the `time` crate.
/// Clamping to this range keeps the date conversions total for any input.
const FIRST_DAY: i64 = time::Date::MIN.to_julian_day() as i64 - EPOCH_JULIAN_DAY;
const LAST_DAY: i64 = time::Date::MAX.to_julian_day() as i64 - EPOCH_JULIAN_DAY;

/// How many consecutive non-business days [`BusinessCalendar::add_business_days`] walks through before it
/// gives up: about ten years. Only a misconfigured calendar (holidays covering years) gets near it.
const MAX_NON_BUSINESS_RUN_DAYS: u32 = 3660;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("date {0:?} is not in YYYY-MM-DD form")]
    Malformed(String),
    #[error("date {0:?} does not exist")]
    NoSuchDay(String),
}

/// A day of the week.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    pub fn is_weekend(self) -> bool {
        matches!(self, Weekday::Saturday | Weekday::Sunday)
    }
}

/// A day in the proleptic Gregorian calendar, in UTC, from the year -9999 to 9999. Ordered
/// chronologically. The calendar arithmetic (month lengths, leap years, weekdays, day numbers) is the
/// `time` crate's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(time::Date);

impl Date {
    /// The date with these parts, if it exists.
    pub fn new(year: i32, month: u8, day: u8) -> Result<Date, CalendarError> {
        time::Month::try_from(month)
            .and_then(|month| time::Date::from_calendar_date(year, month, day))
            .map(Date)
            .map_err(|_| CalendarError::NoSuchDay(format!("{year:04}-{month:02}-{day:02}")))
    }

    /// Parses exactly `YYYY-MM-DD` (four-digit year, two-digit month and day) and checks that the day
    /// exists, so `2025-02-29` is refused and `2024-02-29` accepted.
    pub fn parse(text: &str) -> Result<Date, CalendarError> {
        // The shape is checked here, so that a malformed date and a well-formed one that does not exist
        // are told apart; the crate then only has the day's existence left to refuse.
        let bytes = text.as_bytes();
        let well_formed =
            bytes.len() == 10 && bytes.iter().enumerate().all(|(index, byte)| if index == 4 || index == 7 { *byte == b'-' } else { byte.is_ascii_digit() });
        if !well_formed {
            return Err(CalendarError::Malformed(text.to_owned()));
        }
        time::Date::parse(text, format_description!("[year]-[month]-[day]")).map(Date).map_err(|_| CalendarError::NoSuchDay(text.to_owned()))
    }

    /// The UTC date on which `timestamp` falls.
    pub fn of(timestamp: Timestamp) -> Date {
        Date::from_days_since_epoch(timestamp.millis().div_euclid(MILLIS_PER_DAY))
    }

    /// The date `days` days after 1970-01-01 (negative for earlier dates). Saturates at the first and
    /// last days a [`Date`] can represent rather than failing.
    pub fn from_days_since_epoch(days: i64) -> Date {
        let julian_day = days.clamp(FIRST_DAY, LAST_DAY) + EPOCH_JULIAN_DAY;
        // The clamp keeps the day number inside the crate's range, which fits an `i32`.
        let julian_day = i32::try_from(julian_day).expect("the time crate's day numbers fit an i32");
        Date(time::Date::from_julian_day(julian_day).expect("the day is clamped to the time crate's range"))
    }

    /// Days since 1970-01-01 (negative for earlier dates).
    pub fn days_since_epoch(self) -> i64 {
        i64::from(self.0.to_julian_day()) - EPOCH_JULIAN_DAY
    }

    pub fn weekday(self) -> Weekday {
        match self.0.weekday() {
            time::Weekday::Monday => Weekday::Monday,
            time::Weekday::Tuesday => Weekday::Tuesday,
            time::Weekday::Wednesday => Weekday::Wednesday,
            time::Weekday::Thursday => Weekday::Thursday,
            time::Weekday::Friday => Weekday::Friday,
            time::Weekday::Saturday => Weekday::Saturday,
            time::Weekday::Sunday => Weekday::Sunday,
        }
    }

    pub fn year(self) -> i32 {
        self.0.year()
    }

    pub fn month(self) -> u8 {
        u8::from(self.0.month())
    }

    pub fn day(self) -> u8 {
        self.0.day()
    }

    /// Midnight UTC at the start of this date.
    pub fn start_of_day(self) -> Timestamp {
        start_of_day(self.days_since_epoch())
    }

    /// Midnight UTC at the end of this date, which is the start of the next date.
    pub fn end_of_day(self) -> Timestamp {
        start_of_day(self.days_since_epoch() + 1)
    }
}

impl fmt::Display for Date {
    /// Writes `YYYY-MM-DD`. Years before 0 get a sign and do not parse back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year(), self.month(), self.day())
    }
}

fn start_of_day(days_since_epoch: i64) -> Timestamp {
    // The range of dates lies well inside the range of timestamps; saturating keeps it total anyway.
    Timestamp::from_millis(days_since_epoch.saturating_mul(MILLIS_PER_DAY))
}

/// Which days count as business days: Monday to Friday, except the listed holidays.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BusinessCalendar {
    holidays: BTreeSet<Date>,
}

impl BusinessCalendar {
    pub fn new(holidays: impl IntoIterator<Item = Date>) -> BusinessCalendar {
        BusinessCalendar { holidays: holidays.into_iter().collect() }
    }

    /// Parses a holiday list such as `2026-12-25,2027-01-01`, with entries separated by commas and/or
    /// whitespace. An empty or blank list means no holidays. The error names the first bad entry.
    pub fn parse_list(text: &str) -> Result<BusinessCalendar, CalendarError> {
        let holidays = text
            .split(|character: char| character == ',' || character.is_whitespace())
            .filter(|entry| !entry.is_empty())
            .map(Date::parse)
            .collect::<Result<BTreeSet<Date>, CalendarError>>()?;
        Ok(BusinessCalendar { holidays })
    }

    /// Monday to Friday and not a holiday.
    pub fn is_business_day(&self, date: Date) -> bool {
        !date.weekday().is_weekend() && !self.holidays.contains(&date)
    }

    /// The deadline `days` business days after `start`, as the end of that business day (the following
    /// midnight UTC, which is 00:00 of the next calendar day).
    ///
    /// The rule: starting from `start`'s UTC date, step forward one whole day at a time, counting only
    /// business days, until `days` of them have been counted; the deadline is the end of the last one. So
    /// Friday + 1 is the end of Monday, and Saturday + 1 is also the end of Monday. `days == 0` means the
    /// end of `start`'s own date when that is a business day, otherwise the end of the next business day.
    ///
    /// A calendar whose holidays cover more than 3660 consecutive days (about ten years) would otherwise
    /// make the walk run through all of them: after that many non-business days in a row the walk gives
    /// up and returns the end of the date it has reached.
    ///
    /// A deadline past the last day a [`Date`] can represent (9999-12-31) saturates at the last
    /// [`Timestamp`].
    pub fn add_business_days(&self, start: Timestamp, days: u32) -> Timestamp {
        let end_of_time = Timestamp::from_millis(i64::MAX);
        if start >= start_of_day(LAST_DAY + 1) {
            return end_of_time;
        }
        let start_day = Date::of(start).days_since_epoch();
        // `cursor` is the last day already examined and `remaining` the business days still to find after
        // it. Zero days is the same walk as one business day starting from the day before `start`.
        let (mut cursor, mut remaining) = if days == 0 { (start_day - 1, 1) } else { (start_day, days) };
        let mut non_business_run = 0_u32;
        while remaining > 0 {
            // Any seven consecutive days hold exactly five weekdays, so whole weeks free of holidays can be
            // skipped arithmetically; without this a large `days` would walk billions of days. At least
            // one business day is left for the day-by-day walk, so the deadline lands on a business day.
            let whole_weeks = (remaining - 1) / 5;
            if whole_weeks > 0 {
                let weeks_before_next_holiday = match self.holidays.range(Date::from_days_since_epoch(cursor + 1)..).next() {
                    Some(holiday) => u32::try_from((holiday.days_since_epoch() - cursor - 1) / 7).unwrap_or(u32::MAX),
                    None => whole_weeks,
                };
                let weeks = whole_weeks.min(weeks_before_next_holiday);
                if weeks > 0 {
                    cursor += 7 * i64::from(weeks);
                    // `weeks` is at most `(remaining - 1) / 5`, so this neither overflows nor reaches zero.
                    remaining -= 5 * weeks;
                    non_business_run = 0;
                }
            }
            cursor += 1;
            if cursor > LAST_DAY {
                return end_of_time;
            }
            if self.is_business_day(Date::from_days_since_epoch(cursor)) {
                remaining -= 1;
                non_business_run = 0;
            } else {
                non_business_run += 1;
                if non_business_run >= MAX_NON_BUSINESS_RUN_DAYS {
                    break;
                }
            }
        }
        start_of_day(cursor + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> Date {
        Date::parse(text).expect("valid date")
    }

    fn at(text: &str, hour: i64) -> Timestamp {
        date(text).start_of_day().plus_seconds(hour * 3600)
    }

    fn calendar(holidays: &str) -> BusinessCalendar {
        BusinessCalendar::parse_list(holidays).expect("valid holiday list")
    }

    /// The rule from the doc comment, walked one day at a time, to check the week-skipping version against.
    fn reference_deadline(calendar: &BusinessCalendar, start: Timestamp, days: u32) -> Timestamp {
        let mut cursor = Date::of(start).days_since_epoch();
        if days == 0 {
            while !calendar.is_business_day(Date::from_days_since_epoch(cursor)) {
                cursor += 1;
            }
            return Date::from_days_since_epoch(cursor).end_of_day();
        }
        let mut counted = 0;
        while counted < days {
            cursor += 1;
            if calendar.is_business_day(Date::from_days_since_epoch(cursor)) {
                counted += 1;
            }
        }
        Date::from_days_since_epoch(cursor).end_of_day()
    }

    #[test]
    fn parses_and_displays() {
        let christmas = date("2026-12-25");
        assert_eq!((christmas.year(), christmas.month(), christmas.day()), (2026, 12, 25));
        assert_eq!(christmas.to_string(), "2026-12-25");
        assert_eq!(date("0001-01-01").to_string(), "0001-01-01");
        assert_eq!(date("9999-12-31").to_string(), "9999-12-31");
        assert_eq!(Date::new(2026, 12, 25), Ok(christmas));
    }

    #[test]
    fn parse_checks_leap_years() {
        assert!(Date::parse("2024-02-29").is_ok());
        assert!(Date::parse("2000-02-29").is_ok());
        assert_eq!(Date::parse("2025-02-29"), Err(CalendarError::NoSuchDay("2025-02-29".to_owned())));
        assert_eq!(Date::parse("1900-02-29"), Err(CalendarError::NoSuchDay("1900-02-29".to_owned())));
    }

    #[test]
    fn parse_refuses_bad_dates() {
        for text in ["2026-02-30", "2026-04-31", "2026-13-01", "2026-00-10", "2026-01-00", "2026-01-32", "2026-99-99"] {
            assert_eq!(Date::parse(text), Err(CalendarError::NoSuchDay(text.to_owned())), "{text}");
        }
        for text in [
            "",
            "2026-1-05",
            "2026-01-5",
            "26-01-05",
            " 2026-01-05",
            "2026-01-05 ",
            "2026/01/05",
            "2026-01-05T00:00",
            "+026-01-05",
            "2026-0a-05",
            "２０２６-01-05",
        ] {
            assert_eq!(Date::parse(text), Err(CalendarError::Malformed(text.to_owned())), "{text}");
        }
        assert_eq!(Date::parse("2026-02-30").map_err(|error| error.to_string()), Err("date \"2026-02-30\" does not exist".to_owned()));
        assert_eq!(Date::parse("2026/02/03").map_err(|error| error.to_string()), Err("date \"2026/02/03\" is not in YYYY-MM-DD form".to_owned()));
        assert!(Date::new(2026, 2, 29).is_err());
    }

    #[test]
    fn converts_timestamps_and_day_numbers() {
        assert_eq!(Date::of(Timestamp::from_millis(0)), date("1970-01-01"));
        assert_eq!(Date::of(Timestamp::from_millis(-1)), date("1969-12-31"));
        assert_eq!(Date::of(Timestamp::from_millis(1_795_736_552_123)), date("2026-11-26"));
        assert_eq!(date("2026-12-25").days_since_epoch(), 20_812);
        assert_eq!(Date::from_days_since_epoch(20_812), date("2026-12-25"));
        assert_eq!(date("2026-12-25").start_of_day(), Timestamp::from_millis(20_812 * MILLIS_PER_DAY));
        assert_eq!(date("2026-12-25").end_of_day(), date("2026-12-26").start_of_day());
        for days in (-1_000_000..1_000_000).step_by(7919) {
            assert_eq!(Date::from_days_since_epoch(days).days_since_epoch(), days);
        }
    }

    #[test]
    fn extreme_inputs_saturate_instead_of_overflowing() {
        // A date covers the years -9999 to 9999, the `time` crate's range, and saturates at its ends.
        assert_eq!(Date::from_days_since_epoch(i64::MAX), date("9999-12-31"));
        assert_eq!(Date::from_days_since_epoch(i64::MIN), Date::new(-9999, 1, 1).expect("the first day"));
        assert_eq!(Date::of(Timestamp::from_millis(i64::MAX)), date("9999-12-31"));
        assert_eq!(Date::of(Timestamp::from_millis(i64::MIN)).year(), -9999);
        assert_eq!(Date::from_days_since_epoch(i64::MAX).end_of_day(), Timestamp::from_millis(253_402_300_800_000));
        assert_eq!(Date::new(10_000, 1, 1), Err(CalendarError::NoSuchDay("10000-01-01".to_owned())));
        let calendar = BusinessCalendar::default();
        let far_future = Timestamp::from_millis(i64::MAX);
        assert_eq!(calendar.add_business_days(far_future, 10), far_future);
        assert_eq!(calendar.add_business_days(far_future, 0), far_future);
        // 9999-12-31 is a Friday: zero days from it is its end; one more is past the last date.
        let last_day = date("9999-12-31");
        assert_eq!(last_day.weekday(), Weekday::Friday);
        assert_eq!(calendar.add_business_days(last_day.start_of_day(), 0), last_day.end_of_day());
        assert_eq!(calendar.add_business_days(last_day.start_of_day(), 1), far_future);
        assert_eq!(calendar.add_business_days(date("9999-12-01").start_of_day(), 1_000), far_future);
        let far_past = Timestamp::from_millis(i64::MIN);
        assert_eq!(calendar.add_business_days(far_past, 1), reference_deadline(&calendar, far_past, 1), "the walk starts from the first date");
    }

    #[test]
    fn dates_order_chronologically() {
        assert!(date("2026-12-31") < date("2027-01-01"));
        assert!(date("2026-02-28") < date("2026-10-01"));
        assert!(date("2026-10-09") < date("2026-10-10"));
    }

    #[test]
    fn knows_weekdays() {
        assert_eq!(date("1970-01-01").weekday(), Weekday::Thursday);
        assert_eq!(date("1969-12-29").weekday(), Weekday::Monday);
        assert_eq!(date("2026-12-25").weekday(), Weekday::Friday);
        assert_eq!(date("2028-02-29").weekday(), Weekday::Tuesday);
        assert_eq!(date("2026-12-26").weekday(), Weekday::Saturday);
        assert_eq!(date("2026-12-27").weekday(), Weekday::Sunday);
    }

    #[test]
    fn parses_holiday_lists() {
        assert_eq!(calendar(""), BusinessCalendar::default());
        assert_eq!(calendar("  \n"), BusinessCalendar::default());
        let expected = BusinessCalendar::new([date("2026-12-25"), date("2027-01-01")]);
        assert_eq!(calendar("2026-12-25,2027-01-01"), expected);
        assert_eq!(calendar("2026-12-25, 2027-01-01,"), expected);
        assert_eq!(calendar("2027-01-01\n2026-12-25 2026-12-25"), expected);
        assert_eq!(BusinessCalendar::parse_list("2026-12-25,2026-13-01"), Err(CalendarError::NoSuchDay("2026-13-01".to_owned())));
        assert_eq!(BusinessCalendar::parse_list("2026-12-25;2027-01-01"), Err(CalendarError::Malformed("2026-12-25;2027-01-01".to_owned())));
    }

    #[test]
    fn business_days_are_weekdays_that_are_not_holidays() {
        let calendar = calendar("2026-12-25");
        assert!(calendar.is_business_day(date("2026-12-24")));
        assert!(!calendar.is_business_day(date("2026-12-25")));
        assert!(!calendar.is_business_day(date("2026-12-26")));
        assert!(!calendar.is_business_day(date("2026-12-27")));
        assert!(calendar.is_business_day(date("2026-12-28")));
    }

    #[test]
    fn friday_plus_one_is_the_end_of_monday() {
        let calendar = BusinessCalendar::default();
        let end_of_monday = date("2026-11-30").end_of_day();
        assert_eq!(end_of_monday, at("2026-12-01", 0));
        assert_eq!(calendar.add_business_days(at("2026-11-27", 0), 1), end_of_monday);
        assert_eq!(calendar.add_business_days(at("2026-11-27", 23), 1), end_of_monday);
        assert_eq!(calendar.add_business_days(at("2026-11-27", 23).plus_seconds(3599), 1), end_of_monday);
    }

    #[test]
    fn zero_days_is_the_end_of_the_first_business_day() {
        let calendar = BusinessCalendar::default();
        assert_eq!(calendar.add_business_days(at("2026-11-27", 15), 0), date("2026-11-27").end_of_day());
        assert_eq!(calendar.add_business_days(at("2026-11-28", 15), 0), date("2026-11-30").end_of_day());
        assert_eq!(calendar.add_business_days(at("2026-11-29", 15), 0), date("2026-11-30").end_of_day());
    }

    #[test]
    fn weekends_are_skipped() {
        let calendar = BusinessCalendar::default();
        // Saturday and Sunday + 1 are both the end of Monday.
        assert_eq!(calendar.add_business_days(at("2026-11-28", 10), 1), date("2026-11-30").end_of_day());
        assert_eq!(calendar.add_business_days(at("2026-11-29", 10), 1), date("2026-11-30").end_of_day());
        // Wednesday + 3 is Monday; Monday + 5 is the next Monday; Monday + 10 two Mondays on.
        assert_eq!(calendar.add_business_days(at("2026-11-25", 10), 3), date("2026-11-30").end_of_day());
        assert_eq!(calendar.add_business_days(at("2026-11-30", 10), 5), date("2026-12-07").end_of_day());
        assert_eq!(calendar.add_business_days(at("2026-11-30", 10), 10), date("2026-12-14").end_of_day());
    }

    #[test]
    fn holidays_are_skipped() {
        let calendar = calendar("2026-12-25");
        // Thursday before a Friday holiday + 1 is Monday.
        assert_eq!(calendar.add_business_days(at("2026-12-24", 9), 1), date("2026-12-28").end_of_day());
        // Starting on the holiday itself.
        assert_eq!(calendar.add_business_days(at("2026-12-25", 9), 0), date("2026-12-28").end_of_day());
        assert_eq!(calendar.add_business_days(at("2026-12-25", 9), 1), date("2026-12-28").end_of_day());
        // A week spanning the holiday needs one more day.
        assert_eq!(calendar.add_business_days(at("2026-12-21", 9), 5), date("2026-12-29").end_of_day());
        // A holiday on a weekend changes nothing.
        let weekend_holiday = BusinessCalendar::parse_list("2026-12-26").expect("valid");
        assert_eq!(weekend_holiday.add_business_days(at("2026-12-25", 9), 1), date("2026-12-28").end_of_day());
    }

    #[test]
    fn crosses_the_year_boundary() {
        let calendar = calendar("2026-12-25,2027-01-01");
        assert_eq!(calendar.add_business_days(at("2026-12-31", 12), 1), date("2027-01-04").end_of_day());
        // Thursday 24 December + 5: the 28th to the 31st count, New Year's Day does not, Monday 4 January does.
        assert_eq!(calendar.add_business_days(at("2026-12-24", 12), 5), date("2027-01-04").end_of_day());
        let new_year = BusinessCalendar::parse_list("2025-01-01").expect("valid");
        assert_eq!(new_year.add_business_days(at("2024-12-31", 12), 1), date("2025-01-02").end_of_day());
    }

    #[test]
    fn counts_the_leap_day() {
        let calendar = BusinessCalendar::default();
        assert_eq!(calendar.add_business_days(at("2028-02-25", 12), 2), date("2028-02-29").end_of_day());
        assert_eq!(calendar.add_business_days(at("2028-02-25", 12), 3), date("2028-03-01").end_of_day());
        assert_eq!(date("2028-02-29").end_of_day(), at("2028-03-01", 0));
    }

    #[test]
    fn gives_up_on_a_calendar_made_of_holidays() {
        let start = date("2026-01-01");
        let holidays = (0..5000).map(|offset| Date::from_days_since_epoch(start.days_since_epoch() + offset));
        let calendar = BusinessCalendar::new(holidays);
        let reached = Date::from_days_since_epoch(start.days_since_epoch() + i64::from(MAX_NON_BUSINESS_RUN_DAYS));
        assert_eq!(calendar.add_business_days(start.start_of_day(), 1), reached.end_of_day());
        assert_eq!(calendar.add_business_days(start.start_of_day(), 0), Date::from_days_since_epoch(reached.days_since_epoch() - 1).end_of_day());
    }

    #[test]
    fn week_skipping_agrees_with_the_day_by_day_walk() {
        let calendar = calendar("2026-12-25,2027-01-01,2027-01-02,2027-02-10,2027-02-11,2027-02-12,2027-02-15,2027-05-01,2027-10-01,2028-02-29");
        let first = date("2026-11-20").days_since_epoch();
        for start_day in first..first + 40 {
            let start = Date::from_days_since_epoch(start_day).start_of_day().plus_seconds(12 * 3600);
            for days in (0..80).chain([150, 260, 400]) {
                assert_eq!(calendar.add_business_days(start, days), reference_deadline(&calendar, start, days), "{start} + {days}");
            }
        }
    }

    #[test]
    fn huge_day_counts_finish_quickly() {
        let calendar = calendar("2026-12-25");
        let monday = at("2026-11-30", 0);
        // 5 × 1000 business days from a Monday would end on the Monday 1000 weeks later; the weekday holiday
        // on the way pushes it to the Tuesday.
        let expected = Date::from_days_since_epoch(date("2026-11-30").days_since_epoch() + 7001).end_of_day();
        assert_eq!(calendar.add_business_days(monday, 5000), expected);
        assert_eq!(calendar.add_business_days(monday, 5000), reference_deadline(&calendar, monday, 5000));
        assert!(calendar.add_business_days(monday, u32::MAX) > expected);
    }
}
