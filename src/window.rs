//! The window of an incremental partition (spec §4): where a run starts reading, what it
//! may emit, and how far its bookmark may move; and the two ways a datetime is written (a
//! bookmark, a BBQL literal). The sync computes windows from the state; the streams read
//! within them. Neither needs the other for it.

use chrono::{DateTime, Duration, SecondsFormat, Utc};

/// The bounds of one partition's read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Inclusive lower bound: records at or after it are read. `None` reads everything.
    pub lower: Option<DateTime<Utc>>,
    /// Exclusive upper bound (`end_date`): records at or after it are not emitted.
    pub end: Option<DateTime<Utc>>,
    /// When the sync started: no bookmark moves past it.
    pub now: DateTime<Utc>,
    /// The bookmark the partition had, which a new bookmark never moves below.
    pub previous: Option<DateTime<Utc>>,
}

/// What sets a window, from the config.
#[derive(Debug, Clone, Copy, Default)]
pub struct WindowRules {
    /// `start_date`: the floor.
    pub start_date: Option<DateTime<Utc>>,
    /// `days_back`: always re-read the last N days.
    pub days_back: Option<u32>,
    /// `end_date`: the exclusive ceiling.
    pub end_date: Option<DateTime<Utc>>,
}

impl WindowRules {
    /// The window for a partition whose bookmark is `bookmark`, in a sync started at `now`:
    /// `lower = bookmark`, else `start_date`; with `days_back`, no later than `now − N days`;
    /// never below `start_date`.
    pub fn window(&self, bookmark: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Window {
        let mut lower = bookmark.or(self.start_date);
        if let Some(days) = self.days_back {
            let back = now - Duration::days(i64::from(days));
            lower = Some(lower.map_or(back, |l| l.min(back)));
        }
        if let (Some(l), Some(start)) = (lower, self.start_date) {
            lower = Some(l.max(start));
        }
        Window {
            lower,
            end: self.end_date,
            now,
            previous: bookmark,
        }
    }
}

impl Window {
    /// Whether a record whose replication value is `at` is inside the window: at or after
    /// the lower bound, before `end_date`. A record without a value cannot be placed: it is.
    pub fn contains(&self, at: Option<DateTime<Utc>>) -> bool {
        at.is_none_or(|at| self.lower.is_none_or(|l| at >= l) && self.end.is_none_or(|e| at < e))
    }

    /// The bookmark to store after reading up to `seen`: capped at the sync's start and at
    /// `end_date`, and never below the previous bookmark.
    pub fn bookmark_value(&self, seen: DateTime<Utc>) -> String {
        let mut value = seen.min(self.now);
        if let Some(end) = self.end {
            value = value.min(end);
        }
        if let Some(previous) = self.previous {
            value = value.max(previous);
        }
        format_bookmark(value)
    }
}

/// A bookmark as written in STATE: UTC, microseconds, `+00:00` (Bitbucket's own form).
pub fn format_bookmark(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// A datetime as a BBQL literal (unquoted ISO 8601 with offset).
pub fn bbql_datetime(at: DateTime<Utc>) -> String {
    format_bookmark(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        crate::config::parse_date_or_datetime(s).unwrap()
    }

    #[test]
    fn first_run_uses_start_date_or_nothing() {
        let now = t("2026-11-25T00:00:00Z");
        let none = WindowRules::default().window(None, now);
        assert_eq!(none.lower, None);
        let start = WindowRules {
            start_date: Some(t("2026-01-01")),
            ..Default::default()
        };
        assert_eq!(start.window(None, now).lower, Some(t("2026-01-01")));
    }

    #[test]
    fn bookmark_wins_over_start_date_but_not_below_it() {
        let now = t("2026-11-25T00:00:00Z");
        let rules = WindowRules {
            start_date: Some(t("2026-01-01")),
            ..Default::default()
        };
        assert_eq!(
            rules.window(Some(t("2026-06-01")), now).lower,
            Some(t("2026-06-01"))
        );
        assert_eq!(
            rules.window(Some(t("2025-06-01")), now).lower,
            Some(t("2026-01-01"))
        );
    }

    #[test]
    fn days_back_rereads_but_never_skips_an_older_bookmark() {
        let now = t("2026-11-25T00:00:00Z");
        let rules = WindowRules {
            days_back: Some(3),
            ..Default::default()
        };
        // First run: the last 3 days.
        assert_eq!(rules.window(None, now).lower, Some(t("2026-11-22T00:00:00Z")));
        // A recent bookmark: re-read 3 days anyway.
        assert_eq!(
            rules.window(Some(t("2026-11-24T00:00:00Z")), now).lower,
            Some(t("2026-11-22T00:00:00Z"))
        );
        // Runs were missed: the older bookmark wins, no gap.
        assert_eq!(
            rules.window(Some(t("2026-11-01T00:00:00Z")), now).lower,
            Some(t("2026-11-01T00:00:00Z"))
        );
        // start_date is still the floor.
        let floored = WindowRules {
            days_back: Some(30),
            start_date: Some(t("2026-11-20")),
            ..Default::default()
        };
        assert_eq!(floored.window(None, now).lower, Some(t("2026-11-20")));
    }

    #[test]
    fn bookmarks_are_capped_and_monotonic() {
        let now = t("2026-11-25T00:00:00Z");
        let w = Window {
            lower: None,
            end: Some(t("2026-11-01")),
            now,
            previous: Some(t("2026-10-01")),
        };
        assert_eq!(
            w.bookmark_value(t("2027-01-01")),
            "2026-11-01T00:00:00.000000+00:00"
        );
        assert_eq!(
            w.bookmark_value(t("2026-09-01")),
            "2026-10-01T00:00:00.000000+00:00"
        );
        assert_eq!(
            w.bookmark_value(t("2026-10-15T01:02:03.5Z")),
            "2026-10-15T01:02:03.500000+00:00"
        );
        // Inside: from the lower bound (inclusive) to the end (exclusive).
        let w = Window {
            lower: Some(t("2026-10-01")),
            ..w
        };
        assert!(w.contains(Some(t("2026-10-01"))) && w.contains(None));
        assert!(!w.contains(Some(t("2026-09-30T23:59:59Z"))) && !w.contains(Some(t("2026-11-01"))));
    }
}
