//! Reading collections that list the newest records first and have no server-side date
//! filter (`commits` in graph order, the pull-request activity feed, `pipelines`), and when
//! such a read may stop (spec §4, "Newest-first streams").
//!
//! Three orders:
//! - [`Order::Graph`] (`commits`): dates are not monotonic (a commit authored earlier can be
//!   merged later and listed among newer ones), so every record of each page read is emitted,
//!   and the read stops after the first page whose records are all older than
//!   `lower − lookback`, that page not emitted.
//! - [`Order::Time`] (the activity feed): the listing follows time, but not always exactly
//!   the key (a comment's key is its last edit; a server may keep it where it was written).
//!   A record below the floor is not emitted unless a record inside the window follows it on
//!   the page, and the read goes on, as for commits, until the first page whose records are
//!   all older than the floor: an edited comment may follow a page that crosses the floor.
//!   But a page that shows nothing changed ([`shows_nothing_changed`]) ends the read: one
//!   in key order, newest first, that crosses the floor with nothing newer than it, only the
//!   bookmark's records and older ones. So a rerun where nothing changed costs one request
//!   (spec §6).
//! - [`Order::Key`] (`pipelines`, asked for `sort=-created_on`): the server sorts by the key
//!   itself, so the read stops after the page that crosses the floor, every later page being
//!   older still: a rerun where nothing changed costs one request.
//!
//! The bookmark (the newest value emitted, capped by the window) is written when the
//! partition completes, since a partial newest-first read proves nothing about older records.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use url::Url;

use super::paged::{first_record, follow_next, Followed};
use super::{Borrowing, PartitionRun, StreamError, StreamRun};
use crate::bitbucket::Page;
use crate::window::Window;

/// A record of a newest-first collection.
pub trait DatedRecord: Serialize {
    /// The replication key's value.
    fn event_time(&self) -> Option<DateTime<Utc>>;
}

/// How a newest-first listing relates to its replication key (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Newest first by graph, not by date (`commits`).
    Graph,
    /// Newest first by time, not exactly by the key (the activity feed).
    Time,
    /// Newest first, sorted by the key itself (`pipelines`).
    Key,
}

/// What to do with a page of a newest-first listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageVerdict {
    /// Emit what [`emit_mask`] keeps; `last` when no page after this one can hold a record
    /// inside the window.
    Emit {
        /// Whether the read ends after this page.
        last: bool,
    },
    /// The page is all older than the floor: the read ends before it, nothing emitted.
    Stop,
}

/// Judges a page from the key values of its records, in listing order, against the floor
/// below which the read may stop (`lower − lookback`; `None` reads everything).
pub fn judge_page(
    times: &[Option<DateTime<Utc>>],
    stop_below: Option<DateTime<Utc>>,
    order: Order,
) -> PageVerdict {
    let Some(stop) = stop_below else {
        return PageVerdict::Emit { last: false };
    };
    let older = |t: &Option<DateTime<Utc>>| t.is_some_and(|at| at < stop);
    if !times.is_empty() && times.iter().all(older) {
        return PageVerdict::Stop;
    }
    let last = order == Order::Key && times.iter().flatten().last().is_some_and(|at| *at < stop);
    PageVerdict::Emit { last }
}

/// Whether a page of a time-ordered listing ([`Order::Time`]) shows that nothing changed for
/// a stream whose window starts at `lower`, so that no later page can hold one of its records
/// inside the window: the page (`times`, all its key values in listing order) is in key order,
/// newest first, and ends below `lower`, and none of the stream's own records on it (`own`)
/// is newer than `lower` (only the bookmark's records, and older ones).
pub fn shows_nothing_changed(
    times: &[Option<DateTime<Utc>>],
    own: impl IntoIterator<Item = Option<DateTime<Utc>>>,
    lower: Option<DateTime<Utc>>,
) -> bool {
    let Some(lower) = lower else { return false };
    let timed = times.iter().flatten();
    timed.clone().last().is_some_and(|at| *at < lower)
        && timed.is_sorted_by(|newer, older| newer >= older)
        && own.into_iter().flatten().all(|at| at <= lower)
}

/// Which records of a page to emit for a stream with this window, by their key values in
/// listing order: never one at or past `end_date`; in [`Order::Time`] and [`Order::Key`],
/// not one below the window's lower bound unless a record inside the window follows it. A record without a
/// key value cannot be placed and is emitted.
pub fn emit_mask(times: &[Option<DateTime<Utc>>], window: &Window, order: Order) -> Vec<bool> {
    let mut keep = vec![false; times.len()];
    let mut inside_follows = false;
    for (i, time) in times.iter().enumerate().rev() {
        let before_end = time.is_none_or(|at| window.end.is_none_or(|end| at < end));
        let inside = match (order, time, window.lower) {
            (Order::Graph, _, _) | (_, None, _) | (_, _, None) => true,
            (Order::Time | Order::Key, Some(at), Some(lower)) => *at >= lower,
        };
        keep[i] = before_end && (inside || inside_follows);
        inside_follows |= inside && time.is_some();
    }
    keep
}

/// Reads the graph-ordered collection at `url` newest first into `out` (one stream), as
/// described in the module doc. `prepare` fills the record's added keys and returns `false`
/// for a record that must not be emitted (one the tap cannot key).
pub async fn read_graph<T, F>(
    run: &PartitionRun,
    out: &StreamRun,
    url: Url,
    field: &'static str,
    lookback: Duration,
    mut prepare: F,
) -> Result<(), StreamError>
where
    T: Borrowing,
    for<'b> T::Of<'b>: DatedRecord,
    F: for<'b> FnMut(&mut T::Of<'b>) -> bool,
{
    let window = &out.window;
    let order = Order::Graph;
    let stop_below = window.lower.map(|lower| lower - lookback);
    let mut newest: Option<DateTime<Utc>> = None;
    let mut url = url;
    let mut followed = Followed::default();
    loop {
        let step = run
            .client
            .get_with(&url, |text| {
                let page: Page<T::Of<'_>> = run.client.page(&url, text)?;
                let first = first_record(&page.values);
                let times: Vec<_> = page.values.iter().map(DatedRecord::event_time).collect();
                let last = match judge_page(&times, stop_below, order) {
                    PageVerdict::Stop => return Ok(Ok(None)),
                    PageVerdict::Emit { last } => last,
                };
                let mut keep = emit_mask(&times, window, order).into_iter();
                let mut records = page.values;
                records.retain_mut(|record| {
                    let at = record.event_time();
                    let kept = keep.next().unwrap_or(false) && prepare(record);
                    if kept {
                        newest = newest.max(at);
                    }
                    kept
                });
                let next = page.next.filter(|_| !last);
                Ok(out
                    .emitter
                    .render(&records)
                    .map(|rendered| Some((rendered, next, first))))
            })
            .await??;
        let Some((rendered, next, first)) = step else {
            break;
        };
        out.emitter.send_page(rendered).await?;
        let Some(next) = next else { break };
        url = follow_next(run, &url, &next, first, &mut followed)?;
    }
    if let Some(value) = newest.map(|n| window.bookmark_value(n)) {
        out.bookmark(&run.context, field, value).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        crate::config::parse_date_or_datetime(s).unwrap()
    }

    fn window(lower: &str) -> Window {
        Window {
            lower: Some(t(lower)),
            end: None,
            now: t("2027-01-01"),
            previous: Some(t(lower)),
        }
    }

    #[test]
    fn key_order_stops_after_the_page_that_crosses_the_floor() {
        let floor = Some(t("2026-06-10"));
        let crossing = [
            Some(t("2026-06-12")),
            Some(t("2026-06-10")),
            Some(t("2026-06-01")),
        ];
        assert_eq!(
            judge_page(&crossing, floor, Order::Key),
            PageVerdict::Emit { last: true }
        );
        // Graph and time order cannot conclude from a page that crosses the floor: a newer
        // commit, an edited comment may follow.
        for order in [Order::Graph, Order::Time] {
            assert_eq!(
                judge_page(&crossing, floor, order),
                PageVerdict::Emit { last: false }
            );
        }
        let older = [Some(t("2026-06-02")), Some(t("2026-06-01"))];
        assert_eq!(judge_page(&older, floor, Order::Time), PageVerdict::Stop);
        assert_eq!(judge_page(&older, floor, Order::Key), PageVerdict::Stop);
        assert_eq!(judge_page(&older, floor, Order::Graph), PageVerdict::Stop);
        let inside = [Some(t("2026-06-12")), Some(t("2026-06-11"))];
        assert_eq!(
            judge_page(&inside, floor, Order::Time),
            PageVerdict::Emit { last: false }
        );
        assert_eq!(
            judge_page(&[], floor, Order::Time),
            PageVerdict::Emit { last: false }
        );
        assert_eq!(
            judge_page(&older, None, Order::Time),
            PageVerdict::Emit { last: false }
        );
    }

    #[test]
    fn a_time_ordered_page_shows_nothing_changed_only_in_key_order_below_the_bookmark() {
        let floor = Some(t("2026-06-10"));
        // The bookmark's record, one that cannot be placed, then older ones.
        let unchanged = [
            Some(t("2026-06-10")),
            None,
            Some(t("2026-06-09")),
            Some(t("2026-06-01")),
        ];
        assert!(shows_nothing_changed(&unchanged, unchanged, floor));
        // Something newer than the bookmark: an edited comment may follow.
        let changed = [
            Some(t("2026-06-12")),
            Some(t("2026-06-10")),
            Some(t("2026-06-01")),
        ];
        assert!(!shows_nothing_changed(&changed, changed, floor));
        // ... unless it is not the stream's own (the comments of a feed whose newest items
        // are approvals): the page then shows nothing changed for that stream.
        assert!(shows_nothing_changed(&changed, [changed[2]], floor));
        // Out of key order (an edited comment kept where it was written).
        let disordered = [
            Some(t("2026-06-10")),
            Some(t("2026-06-01")),
            Some(t("2026-06-09")),
        ];
        assert!(!shows_nothing_changed(&disordered, disordered, floor));
        // Still at the bookmark: the page does not reach below it.
        let at_floor = [Some(t("2026-06-10")), Some(t("2026-06-10"))];
        assert!(!shows_nothing_changed(&at_floor, at_floor, floor));
        // No window: nothing can be concluded.
        assert!(!shows_nothing_changed(&unchanged, unchanged, None));
    }

    #[test]
    fn time_order_emits_below_the_floor_only_before_a_record_inside() {
        let w = window("2026-06-10");
        let times = [
            Some(t("2026-06-12")),
            Some(t("2026-06-01")), // below, but an edited item inside the window follows it
            Some(t("2026-06-11")),
            Some(t("2026-06-03")), // below, nothing inside follows
            None,                  // cannot be placed: emitted
            Some(t("2026-06-02")),
        ];
        assert_eq!(
            emit_mask(&times, &w, Order::Time),
            [true, true, true, false, true, false]
        );
        assert_eq!(emit_mask(&times, &w, Order::Graph), [true; 6]);
    }

    #[test]
    fn nothing_at_or_past_the_end_date() {
        let mut w = window("2026-06-10");
        w.end = Some(t("2026-06-12"));
        let times = [Some(t("2026-06-12")), Some(t("2026-06-11"))];
        assert_eq!(emit_mask(&times, &w, Order::Time), [false, true]);
        assert_eq!(emit_mask(&times, &w, Order::Graph), [false, true]);
    }
}
