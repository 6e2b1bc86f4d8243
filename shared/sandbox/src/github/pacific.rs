//! Milestone due dates the way GitHub keeps them: a *date*, stored as midnight Pacific time
//! (`…T07:00:00Z` in summer, `…T08:00:00Z` in winter). A timestamp is first brought to its
//! date in Pacific time, so `2020-09-24T06:59:00Z` is due on the 23rd; a bare date
//! (`2031-01-02`, which PyGithub sends for a `date`) is that day. Recorded from github.com:
//! `"due_on": "2012-06-16"` answered `"2012-06-16T07:00:00Z"`, and a date sent as
//! `2022-11-14T07:00:00Z` came back `2022-11-13T08:00:00Z`.
//!
//! Written out rather than pulling a time-zone database for one zone: the US rules are two
//! lines (second Sunday of March to first Sunday of November since 2007, first Sunday of
//! April to last Sunday of October before), and the changes happen at 2 a.m., never at
//! midnight.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Weekday};

use super::state::Ts;

const HOUR: Ts = 3600;

/// The `n`th (from 1) `weekday` of a month, or the last one for `n = 0`.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<NaiveDate> {
    if n == 0 {
        let next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)
        }?;
        let mut d = next.pred_opt()?;
        while d.weekday() != weekday {
            d = d.pred_opt()?;
        }
        return Some(d);
    }
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
}

/// The local dates daylight saving time starts and ends in `year`.
fn dst_dates(year: i32) -> Option<(NaiveDate, NaiveDate)> {
    if year >= 2007 {
        Some((
            nth_weekday(year, 3, Weekday::Sun, 2)?,
            nth_weekday(year, 11, Weekday::Sun, 1)?,
        ))
    } else {
        Some((
            nth_weekday(year, 4, Weekday::Sun, 1)?,
            nth_weekday(year, 10, Weekday::Sun, 0)?,
        ))
    }
}

/// Hours Pacific time is behind UTC at local midnight of `date`: on the day DST starts,
/// midnight is still standard time; on the day it ends, midnight is still daylight time.
fn offset_at_midnight(date: NaiveDate) -> Ts {
    match dst_dates(date.year()) {
        Some((start, end)) if date > start && date <= end => 7,
        _ => 8,
    }
}

/// Hours Pacific time is behind UTC at the instant `t`.
fn offset_at(t: Ts) -> Ts {
    let Some(utc) = DateTime::from_timestamp(t, 0) else {
        return 8;
    };
    match dst_dates(utc.year()) {
        Some((start, end)) => {
            // 2 a.m. local: 10:00 UTC when DST starts, 09:00 UTC when it ends.
            let from = start.and_hms_opt(10, 0, 0).map(|d| d.and_utc().timestamp());
            let to = end.and_hms_opt(9, 0, 0).map(|d| d.and_utc().timestamp());
            match (from, to) {
                (Some(from), Some(to)) if (from..to).contains(&t) => 7,
                _ => 8,
            }
        }
        None => 8,
    }
}

/// Midnight Pacific time on `date`, as unix seconds.
fn midnight(date: NaiveDate) -> Option<Ts> {
    let utc_midnight = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
    Some(utc_midnight + offset_at_midnight(date) * HOUR)
}

/// The due date GitHub stores for `t`: midnight Pacific time of the Pacific date `t` falls on.
pub(crate) fn due_from_instant(t: Ts) -> Option<Ts> {
    let local = DateTime::from_timestamp(t - offset_at(t) * HOUR, 0)?;
    midnight(local.date_naive())
}

/// Midnight Pacific time on the UTC date of `t` (for seeding due dates days from now).
pub(crate) fn due_on_day_of(t: Ts) -> Option<Ts> {
    midnight(DateTime::from_timestamp(t, 0)?.date_naive())
}

/// Parses a `due_on` GitHub accepts: an ISO 8601 timestamp (with an offset, or without one
/// taken as UTC) or a bare date. `None` if it is neither.
pub(crate) fn parse_due_on(s: &str) -> Option<Ts> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return due_from_instant(t.timestamp());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S") {
        return due_from_instant(t.and_utc().timestamp());
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    // A date is a day, not an instant: no time zone moves it.
    midnight(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(t: Option<Ts>) -> String {
        t.and_then(|t| DateTime::from_timestamp(t, 0))
            .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default()
    }

    #[test]
    fn dates_are_midnight_pacific() {
        // Recorded from github.com (PyGithub's replay data).
        assert_eq!(shown(parse_due_on("2012-06-16")), "2012-06-16T07:00:00Z");
        // Winter: standard time.
        assert_eq!(shown(parse_due_on("2031-01-02")), "2031-01-02T08:00:00Z");
        // The days DST starts and ends keep midnight in the old offset.
        assert_eq!(shown(parse_due_on("2024-03-10")), "2024-03-10T08:00:00Z");
        assert_eq!(shown(parse_due_on("2024-03-11")), "2024-03-11T07:00:00Z");
        assert_eq!(shown(parse_due_on("2024-11-03")), "2024-11-03T07:00:00Z");
        assert_eq!(shown(parse_due_on("2024-11-04")), "2024-11-04T08:00:00Z");
        // Before 2007: first Sunday of April to last Sunday of October.
        assert_eq!(shown(parse_due_on("2006-04-01")), "2006-04-01T08:00:00Z");
        assert_eq!(shown(parse_due_on("2006-04-03")), "2006-04-03T07:00:00Z");
        assert_eq!(parse_due_on("next week"), None);
        assert_eq!(parse_due_on("2031-02-30"), None);
    }

    #[test]
    fn timestamps_fall_on_their_pacific_date() {
        // Reported against github.com: 06:59Z is still the previous day in Pacific time.
        assert_eq!(
            shown(parse_due_on("2020-09-24T06:59:00Z")),
            "2020-09-23T07:00:00Z"
        );
        assert_eq!(
            shown(parse_due_on("2020-09-24T07:01:00Z")),
            "2020-09-24T07:00:00Z"
        );
        assert_eq!(
            shown(parse_due_on("2022-11-14T07:00:00Z")),
            "2022-11-13T08:00:00Z"
        );
        // What GitHub answers, sent back, stays put (a rollback restores due dates this way).
        for stored in [
            "2024-05-03T07:00:00Z",
            "2024-12-24T08:00:00Z",
            "2024-11-03T07:00:00Z",
        ] {
            assert_eq!(shown(parse_due_on(stored)), stored);
        }
        assert_eq!(
            shown(parse_due_on("2024-07-01T12:00:00+02:00")),
            "2024-07-01T07:00:00Z"
        );
        assert_eq!(
            shown(parse_due_on("2024-07-01T12:00:00")),
            "2024-07-01T07:00:00Z"
        );
    }
}
