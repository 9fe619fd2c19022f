//! The reader for newest-first streams (`commits` in graph order, `pullrequest_activity`):
//! collections with no server-side date filter that list the newest records first.
//!
//! Every record of each page read is emitted; the read stops after the first page whose
//! records are all older than `lower − lookback`, and that last page is not emitted. No
//! record is dropped by its date alone before the stop: a commit authored earlier can be
//! pushed later, so graph order is not date order. The bookmark (the newest value seen,
//! capped by the window) is written when the partition completes, since a partial newest-
//! first read proves nothing about older records.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use url::Url;

use super::paged::follow_next;
use super::{Borrowing, PartitionRun, StreamError};
use crate::bitbucket::Page;
use crate::singer::RenderedPage;

/// A record of a newest-first collection.
pub trait DatedRecord: Serialize {
    /// The replication key's value.
    fn event_time(&self) -> Option<DateTime<Utc>>;
}

/// Reads the collection at `url` newest first, as described in the module doc. `prepare`
/// fills the record's added keys and returns `false` for a record that must not be emitted
/// (one the tap cannot key).
pub async fn read<T, F>(
    run: &PartitionRun,
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
    let window = &run.out().window;
    let stop_before = window.lower.map(|lower| lower - lookback);
    let mut newest: Option<DateTime<Utc>> = None;
    let mut url = url;
    let mut followed = HashSet::new();
    loop {
        let step = run
            .client
            .get_with(&url, |text| {
                let page: Page<T::Of<'_>> = run.client.page(&url, text)?;
                Ok(select(run, page, stop_before, &mut newest, &mut prepare))
            })
            .await??;
        let Some((rendered, next)) = step else { break };
        run.out().emitter.send_page(rendered).await?;
        let Some(next) = next else { break };
        url = follow_next(run, &url, &next, &mut followed)?;
    }
    if let Some(value) = newest.and_then(|n| window.bookmark_value(n)) {
        run.out().emitter.bookmark(&run.context, field, value).await?;
    }
    Ok(())
}

/// The records of `page` to emit, rendered, and its `next` link; `None` once a page is all
/// older than `stop_before` (the read ends there, that page not emitted).
fn select<R, F>(
    run: &PartitionRun,
    page: Page<R>,
    stop_before: Option<DateTime<Utc>>,
    newest: &mut Option<DateTime<Utc>>,
    prepare: &mut F,
) -> Result<Option<(RenderedPage, Option<String>)>, StreamError>
where
    R: DatedRecord,
    F: FnMut(&mut R) -> bool,
{
    let all_older = stop_before.is_some_and(|stop| {
        !page.values.is_empty()
            && page
                .values
                .iter()
                .all(|r| r.event_time().is_some_and(|at| at < stop))
    });
    if all_older {
        return Ok(None);
    }
    let end = run.out().window.end;
    let mut records = page.values;
    records.retain_mut(|record| {
        let at = record.event_time();
        if let (Some(at), Some(end)) = (at, end) {
            if at >= end {
                return false;
            }
        }
        if !prepare(record) {
            return false;
        }
        if let Some(at) = at {
            *newest = (*newest).max(Some(at));
        }
        true
    });
    Ok(Some((run.out().emitter.render(&records)?, page.next)))
}
