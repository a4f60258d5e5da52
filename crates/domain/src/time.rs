//! Timestamps in the two forms the platform receives.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Timelike, Utc};

/// Why a timestamp is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("is not an ISO-8601 timestamp with offset nor `YYYY-MM-DD HH:MM:SS UTC`: {0:?}")]
    Unparsable(String),
    #[error("lies more than a day in the future: {0}")]
    Future(String),
}

/// Accepts RFC 3339 / ISO-8601 with an offset (`2025-07-07T01:03:41Z`, `...+02:00`, a space
/// instead of `T`) and the CSV form `2025-07-07 01:03:41 UTC`. A time without offset is refused:
/// guessing a zone would silently shift payments by hours.
pub fn parse_timestamp(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimestampError> {
    let parsed = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            let naive = text.strip_suffix(" UTC").ok_or(()).and_then(|rest| {
                NaiveDateTime::parse_from_str(rest, "%Y-%m-%d %H:%M:%S%.f").map_err(|_| ())
            })?;
            Ok::<_, ()>(naive.and_utc())
        })
        .ok()
        .and_then(fold_leap_second)
        .ok_or_else(|| TimestampError::Unparsable(crate::money::shorten(text)))?;
    if parsed > now + TimeDelta::days(1) {
        return Err(TimestampError::Future(text.to_owned()));
    }
    Ok(parsed)
}

/// chrono accepts second `60` in any minute and keeps it as a leap second, which prints back as
/// `:60` and is not the instant PostgreSQL stores (it reads `:60` as the next minute's first
/// second). Found by fuzzing; read it as PostgreSQL does so every layer agrees on the instant.
fn fold_leap_second(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let nanos = t.nanosecond();
    if nanos < 1_000_000_000 {
        return Some(t);
    }
    DateTime::from_timestamp(t.timestamp().checked_add(1)?, nanos - 1_000_000_000)
}

/// The CSV form, used by the sample files and the importer's reports.
pub fn format_csv_timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn accepts_both_forms() {
        let a = parse_timestamp("2025-07-07 01:03:41 UTC", now()).unwrap();
        let b = parse_timestamp("2025-07-07T01:03:41Z", now()).unwrap();
        let c = parse_timestamp("2025-07-07T03:03:41+02:00", now()).unwrap();
        let d = parse_timestamp("2025-07-07 01:03:41.000+00:00", now()).unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(c, d);
        assert_eq!(format_csv_timestamp(a), "2025-07-07 01:03:41 UTC");
    }

    #[test]
    fn a_leap_second_is_the_next_minutes_first_second() {
        // Regression (fuzz target `timestamp`): `:60` used to stay a leap second that printed
        // back as `:60` and differed from what PostgreSQL stores.
        let t = parse_timestamp("2025-07-07 01:03:60.1+20:00", now()).unwrap();
        assert_eq!(t, parse_timestamp("2025-07-06T05:04:00.1Z", now()).unwrap());
        let csv = parse_timestamp("2025-07-07 01:03:60 UTC", now()).unwrap();
        assert_eq!(format_csv_timestamp(csv), "2025-07-07 01:04:00 UTC");
        assert_eq!(parse_timestamp(&format_csv_timestamp(csv), now()), Ok(csv));
    }

    #[test]
    fn refuses_bad_timestamps() {
        for bad in [
            "",
            "yesterday",
            "2025-07-07T01:03:41",
            "2025-13-01T00:00:00Z",
            "2025-02-30 10:00:00 UTC",
            "2025-07-07 25:03:41 UTC",
            "1751850221",
        ] {
            assert!(
                matches!(
                    parse_timestamp(bad, now()),
                    Err(TimestampError::Unparsable(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_timestamp("2030-01-01T00:00:00Z", now()),
            Err(TimestampError::Future(_))
        ));
    }
}
