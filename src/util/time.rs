//! Timestamps as text, in UTC: RFC 3339 (`2025-03-01T12:00:00Z`, for files
//! we write) and HTTP's IMF-fixdate (`Sat, 01 Mar 2025 12:00:00 GMT`, for
//! `Last-Modified` / `If-Modified-Since`). Whole seconds only; times before
//! 1970 are clamped to the epoch.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use ggen_marketplace::util::time::{http_date, parse_http_date, rfc3339_utc};
//! let t = UNIX_EPOCH + Duration::from_secs(1_740_830_400);
//! assert_eq!(rfc3339_utc(t), "2025-03-01T12:00:00Z");
//! assert_eq!(http_date(t), "Sat, 01 Mar 2025 12:00:00 GMT");
//! assert_eq!(parse_http_date("Sat, 01 Mar 2025 12:00:00 GMT"), Some(t));
//! assert_eq!(parse_http_date("yesterday"), None);
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECONDS_PER_DAY: u64 = 86_400;
const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // 1970-01-01 was a Thursday
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A UTC calendar date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: u64,
    month: u64,
    day: u64,
    hour: u64,
    minute: u64,
    second: u64,
    /// Days since 1970-01-01.
    days: u64,
}

impl Civil {
    fn of(time: SystemTime) -> Civil {
        let secs = time.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let days = secs / SECONDS_PER_DAY;
        let rest = secs % SECONDS_PER_DAY;
        let (year, month, day) = date_of_day(days);
        Civil {
            year,
            month,
            day,
            hour: rest / 3600,
            minute: rest % 3600 / 60,
            second: rest % 60,
            days,
        }
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01, computed
/// over 400-year eras (146,097 days each) counted from 0000-03-01, so leap
/// days fall at the end of each era-relative year.
fn date_of_day(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`date_of_day`]; `None` before 1970 or for an invalid date.
fn day_of_date(year: u64, month: u64, day: u64) -> Option<u64> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) || year < 1970 {
        return None;
    }
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year % 400;
    let shifted_month = (month + 9) % 12; // 0 = March
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * 146_097 + day_of_era).checked_sub(719_468)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `time` as RFC 3339 in UTC, whole seconds: `2025-03-01T12:00:00Z`.
pub fn rfc3339_utc(time: SystemTime) -> String {
    let c = Civil::of(time);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// `time` as an HTTP date (IMF-fixdate): `Sat, 01 Mar 2025 12:00:00 GMT`.
pub fn http_date(time: SystemTime) -> String {
    let c = Civil::of(time);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(c.days % 7) as usize],
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

/// Parses an IMF-fixdate, the only form HTTP/1.1 clients send today;
/// `None` for anything else (a server then ignores the header, as RFC 9110
/// says it must for an invalid date). The weekday is not checked.
pub fn parse_http_date(text: &str) -> Option<SystemTime> {
    let (_weekday, rest) = text.trim().split_once(", ")?;
    let mut parts = rest.split(' ');
    let day: u64 = number(parts.next()?, 2)?;
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as u64 + 1;
    let year: u64 = number(parts.next()?, 4)?;
    let mut clock = parts.next()?.split(':');
    let hour = number(clock.next()?, 2).filter(|h| *h < 24)?;
    let minute = number(clock.next()?, 2).filter(|m| *m < 60)?;
    let second = number(clock.next()?, 2).filter(|s| *s < 61)?;
    if clock.next().is_some() || parts.next() != Some("GMT") || parts.next().is_some() {
        return None;
    }
    let days = day_of_date(year, month, day)?;
    let secs = days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

fn number(text: &str, digits: usize) -> Option<u64> {
    if text.len() != digits || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339_utc(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(http_date(at(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
        // RFC 9110's own example.
        assert_eq!(http_date(at(784_111_777)), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(rfc3339_utc(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(at(4_107_542_399)), "2100-02-28T23:59:59Z");
        assert_eq!(rfc3339_utc(UNIX_EPOCH - Duration::from_secs(5)), "1970-01-01T00:00:00Z");
    }

    /// Oracle: walking day by day with `days_in_month` from 1970 must give
    /// the same dates as the era arithmetic, and parsing inverts formatting.
    #[test]
    fn every_day_for_three_centuries_round_trips() {
        let (mut year, mut month, mut day) = (1970, 1, 1);
        for days in 0..(300 * 366) {
            assert_eq!(date_of_day(days), (year, month, day), "day {days}");
            assert_eq!(day_of_date(year, month, day), Some(days));
            let t = at(days * SECONDS_PER_DAY + 45_296);
            assert_eq!(parse_http_date(&http_date(t)), Some(t));
            day += 1;
            if day > days_in_month(year, month) {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
        }
    }

    #[test]
    fn refuses_other_forms() {
        for bad in [
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }
}
