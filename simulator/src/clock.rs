//! Simulated time: timestamps as microseconds since the Unix epoch, and Bitbucket's format.
//!
//! Every fact of the dataset is stored as [`Micros`]. Bitbucket prints timestamps as RFC 3339
//! with microseconds and a `+00:00` offset (`2026-03-04T10:11:12.123456+00:00`), which
//! [`format_micros`] reproduces exactly.

use chrono::{DateTime, TimeZone, Utc};

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;

/// One second in [`Micros`].
pub const SECOND: Micros = 1_000_000;
/// One minute in [`Micros`].
pub const MINUTE: Micros = 60 * SECOND;
/// One hour in [`Micros`].
pub const HOUR: Micros = 60 * MINUTE;
/// One day in [`Micros`].
pub const DAY: Micros = 24 * HOUR;

/// How far before the anchor historical events go.
pub const HISTORY: Micros = 365 * DAY;
/// How far after the anchor future events go: nothing happens after `anchor + FUTURE`.
pub const FUTURE: Micros = 30 * DAY;

/// Converts a chrono timestamp to [`Micros`] (sub-microsecond digits are dropped).
pub fn to_micros(t: DateTime<Utc>) -> Micros {
    t.timestamp_micros()
}

/// Converts [`Micros`] back to a chrono timestamp; out-of-range values saturate to the epoch.
pub fn from_micros(m: Micros) -> DateTime<Utc> {
    Utc.timestamp_micros(m)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Formats like Bitbucket: `2026-03-04T10:11:12.123456+00:00`.
pub fn format_micros(m: Micros) -> String {
    from_micros(m).format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

/// The simulated "now" for an anchor and an offset in hours (saturating).
pub fn simulated_now(anchor: Micros, offset_hours: i64) -> Micros {
    anchor.saturating_add(offset_hours.saturating_mul(HOUR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitbucket_format() {
        let t = DateTime::parse_from_rfc3339("2026-03-04T10:11:12.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_micros(to_micros(t)), "2026-03-04T10:11:12.123456+00:00");
        assert_eq!(format_micros(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(simulated_now(0, 2), 2 * HOUR);
        assert_eq!(simulated_now(i64::MAX, 1), i64::MAX);
    }
}
