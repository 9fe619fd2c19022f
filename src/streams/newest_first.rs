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
//!   But in a run that shows nothing changed ([`ChangeWatch`]: every page so far in key
//!   order, no record newer than the stream's bookmark that may be new since the last run:
//!   for comments beside the activity stream, a comment; read alone, any), the first page that
//!   reaches below the bookmark ends the read, so a rerun where nothing changed costs one
//!   request (spec §6).
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
    let last = order == Order::Key && times.last().is_some_and(older);
    PageVerdict::Emit { last }
}

/// Watches the pages of one time-ordered read ([`Order::Time`]) for one stream whose window
/// starts at `lower`, to end the read early only when the run shows nothing changed.
#[derive(Debug, Clone, Copy)]
pub struct ChangeWatch {
    lower: Option<DateTime<Utc>>,
    changed: bool,
}

impl ChangeWatch {
    /// A watch for a stream whose window starts at `lower` (`None`: no window, the read
    /// never ends early).
    pub fn new(lower: Option<DateTime<Utc>>) -> Self {
        ChangeWatch {
            lower,
            changed: false,
        }
    }

    /// Looks at the next page: `times` are the key values of all its records in listing
    /// order, `own` those of the stream's own records. Returns whether no later page can hold
    /// one of the stream's records inside the window: no page so far showed a change (a page
    /// out of key order, or one of the stream's own records newer than `lower` or without a
    /// key value), and this page reaches below `lower`.
    pub fn read_may_end(
        &mut self,
        times: &[Option<DateTime<Utc>>],
        own: impl IntoIterator<Item = Option<DateTime<Utc>>>,
    ) -> bool {
        let Some(lower) = self.lower else { return false };
        let timed = times.iter().flatten();
        let reaches_below = timed.clone().last().is_some_and(|at| *at < lower);
        let in_key_order = timed.is_sorted_by(|newer, older| newer >= older);
        let newer_own = own.into_iter().any(|at| at.is_none_or(|at| at > lower));
        self.changed |= !in_key_order || newer_own;
        !self.changed && reaches_below
    }
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
    fn a_time_ordered_read_ends_early_only_while_nothing_changed() {
        let floor = Some(t("2026-06-10"));
        let watch = ChangeWatch::new(floor);
        let ends = |pages: &[&[Option<DateTime<Utc>>]]| {
            let mut w = watch;
            pages
                .iter()
                .map(|p| w.read_may_end(p, p.iter().copied()))
                .collect::<Vec<_>>()
        };
        // The bookmark's record, then older ones: the first page ends the read.
        let unchanged = [
            Some(t("2026-06-10")),
            Some(t("2026-06-09")),
            Some(t("2026-06-01")),
        ];
        assert_eq!(ends(&[&unchanged]), [true]);
        // Something newer than the bookmark: an edited comment may follow, on this page's
        // successor or any later one, so no page of the run ends it early.
        let changed = [Some(t("2026-06-12")), Some(t("2026-06-11"))];
        let older = [Some(t("2026-06-10")), Some(t("2026-06-05"))];
        assert_eq!(ends(&[&changed, &older]), [false, false]);
        let crossing = [
            Some(t("2026-06-12")),
            Some(t("2026-06-10")),
            Some(t("2026-06-01")),
        ];
        assert_eq!(ends(&[&crossing]), [false]);
        // Out of key order (an edited comment kept where it was written), below the bookmark
        // or not: the run reads on.
        let disordered = [
            Some(t("2026-06-10")),
            Some(t("2026-06-01")),
            Some(t("2026-06-09")),
        ];
        assert_eq!(ends(&[&disordered, &unchanged]), [false, false]);
        // A record that cannot be placed counts as a change.
        let unplaced = [Some(t("2026-06-10")), None, Some(t("2026-06-01"))];
        assert_eq!(ends(&[&unplaced]), [false]);
        // Still at the bookmark: the page does not reach below it, the next one may.
        let at_floor = [Some(t("2026-06-10")), Some(t("2026-06-10"))];
        assert_eq!(ends(&[&at_floor, &older]), [false, true]);
        // Newer records that are not the stream's own (approvals, for the comments) are no
        // change for it.
        let mut w = watch;
        assert!(w.read_may_end(&crossing, [crossing[2]]));
        // No window: nothing can be concluded.
        let mut w = ChangeWatch::new(None);
        assert!(!w.read_may_end(&unchanged, unchanged));
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
