//! Times as clients send them (a freeze's `until`, RFC 3339 in UTC, `Timestamp::parse_rfc3339`), dates
//! and the holiday list of the configuration (`Date::parse`, `BusinessCalendar::parse_list`), and the
//! business-day deadlines computed from them (`BusinessCalendar::add_business_days`).
//!
//! Properties: a time that parses is written back in the one form (`Timestamp::to_rfc3339`), which
//! reads back to the same millisecond; every instant's written form reads back to it (clamped to the
//! years 0000 to 9999); a date that parses is written back as the same text; a deadline equals the one
//! a plain day-by-day walk finds.
#![no_main]

use hongbao_core::Timestamp;
use hongbao_core::calendar::{BusinessCalendar, Date};
use libfuzzer_sys::fuzz_target;

/// The deadline `days` business days after `start`, walking one day at a time: the rule as the
/// documentation of `add_business_days` states it, without its shortcuts.
fn walked_deadline(calendar: &BusinessCalendar, start: Timestamp, days: u32) -> Timestamp {
    let last_day = Date::from_days_since_epoch(i64::MAX).days_since_epoch();
    if start >= Date::from_days_since_epoch(last_day).end_of_day() {
        // Every deadline from there is past the last day.
        return Timestamp::from_millis(i64::MAX);
    }
    let start_day = Date::of(start).days_since_epoch();
    let (mut cursor, mut remaining) = if days == 0 { (start_day - 1, 1) } else { (start_day, days) };
    while remaining > 0 {
        cursor += 1;
        if cursor > last_day {
            return Timestamp::from_millis(i64::MAX);
        }
        if calendar.is_business_day(Date::from_days_since_epoch(cursor)) {
            remaining -= 1;
        }
    }
    Date::from_days_since_epoch(cursor).end_of_day()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    match selector % 3 {
        0 => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            if let Some(at) = Timestamp::parse_rfc3339(text) {
                let written = at.to_rfc3339();
                assert_eq!(Timestamp::parse_rfc3339(&written), Some(at), "{text:?} written as {written:?}");
                assert_eq!(written[..19], text[..19], "the date and time of day are kept");
            }
        }
        1 => {
            let Some(millis) = rest.first_chunk::<8>() else { return };
            let at = Timestamp::from_millis(i64::from_le_bytes(*millis));
            let written = at.to_rfc3339();
            let first = Timestamp::parse_rfc3339("0000-01-01T00:00:00.000Z").expect("the first instant");
            let last = Timestamp::parse_rfc3339("9999-12-31T23:59:59.999Z").expect("the last instant");
            assert_eq!(Timestamp::parse_rfc3339(&written), Some(at.clamp(first, last)), "{at:?} written as {written:?}");
        }
        _ => {
            // The start and the number of days, then the holiday list.
            let Some((numbers, list)) = rest.split_first_chunk::<10>() else { return };
            let Ok(list) = std::str::from_utf8(list) else { return };
            for entry in list.split([',', ' ']).filter(|entry| !entry.is_empty()) {
                if let Ok(date) = Date::parse(entry) {
                    assert_eq!(date.to_string(), entry);
                }
            }
            let Ok(calendar) = BusinessCalendar::parse_list(list) else { return };
            let (start, days) = numbers.split_at(8);
            let start = Timestamp::from_millis(i64::from_le_bytes(start.try_into().expect("8 bytes")));
            // Up to 10,000 business days (some forty years), so the walk stays quick.
            let days = u32::from(u16::from_le_bytes(days.try_into().expect("2 bytes")) % 10_000);
            assert_eq!(calendar.add_business_days(start, days), walked_deadline(&calendar, start, days), "{days} business days after {start:?}");
        }
    }
});
