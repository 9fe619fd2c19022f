//! The keyset reader for ascending incremental streams (`repositories`, `pullrequests`).
//!
//! It asks for `q=updated_on>=<lower>&sort=updated_on` and, while there are more pages,
//! asks again from the last `updated_on` seen instead of following the page-number `next`
//! link: page numbers shift when a record is updated mid-sync, which would skip another one
//! forever. Records already emitted at that same timestamp are not emitted twice. Only when a
//! whole page shares one timestamp (the query could not move forward) is `next` followed.
//! A STATE follows every page, so a killed sync resumes where it stopped.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use url::Url;

use super::paged::follow_next;
use super::{Borrowing, PartitionRun, StreamError, Timestamp};
use crate::bitbucket::Page;
use crate::singer::RenderedPage;
use crate::window::bbql_datetime;

/// A record the keyset reader can page through.
pub trait KeysetRecord: Serialize {
    /// The replication key's value.
    fn replication_value(&self) -> Option<&Timestamp<'_>>;
    /// What tells two records of the partition apart.
    fn identity(&self) -> String;
}

/// Reads a partition in ascending `field` order from `base` (the endpoint with its fixed
/// query parameters), calling `prepare` on each record before it is emitted; a record for
/// which it returns `false` is not emitted (but still moves the cursor).
pub async fn read<T, F>(
    run: &PartitionRun,
    base: Url,
    field: &'static str,
    mut prepare: F,
) -> Result<(), StreamError>
where
    T: Borrowing,
    for<'b> T::Of<'b>: KeysetRecord,
    F: for<'b> FnMut(&mut T::Of<'b>) -> bool,
{
    let window = &run.out().window;
    let mut cursor: Option<DateTime<Utc>> = window.lower;
    let mut emitted = Emitted::default();
    let mut follow: Option<Url> = None;
    let mut followed: HashSet<String> = HashSet::new();
    loop {
        let url = match follow.take() {
            Some(url) => url,
            None => query_url(&base, field, cursor, window.end),
        };
        let step = run
            .client
            .get_with(&url, |text| {
                let page: Page<T::Of<'_>> = run.client.page(&url, text)?;
                Ok(select(run, page, &mut emitted, &mut prepare))
            })
            .await??;
        run.out().emitter.send_page(step.rendered).await?;
        let advanced = emitted.newest.is_some() && emitted.newest > cursor;
        if advanced {
            cursor = emitted.newest;
        }
        if let Some(value) = cursor.and_then(|c| window.bookmark_value(c)) {
            run.out().emitter.bookmark(&run.context, field, value).await?;
        }
        let Some(next) = step.next else { break };
        if step.reached_end {
            break;
        }
        if !advanced {
            // The whole page sat at the cursor's timestamp: only the page link moves on.
            follow = Some(follow_next(run, &url, &next, &mut followed)?);
        }
    }
    Ok(())
}

/// The newest timestamp emitted and the identities emitted at it, so that re-reading
/// `>= cursor` does not emit them twice.
#[derive(Default)]
struct Emitted {
    newest: Option<DateTime<Utc>>,
    at_newest: HashSet<String>,
}

/// What one page gave: its records to emit, rendered, and where to go next.
struct Step {
    rendered: RenderedPage,
    next: Option<String>,
    /// A record at or past the window's end was seen: the read is over.
    reached_end: bool,
}

/// Picks the records of `page` to emit (inside the window, not emitted before, kept by
/// `prepare`) and renders them.
fn select<R, F>(
    run: &PartitionRun,
    page: Page<R>,
    emitted: &mut Emitted,
    prepare: &mut F,
) -> Result<Step, StreamError>
where
    R: KeysetRecord,
    F: FnMut(&mut R) -> bool,
{
    let window = &run.out().window;
    let mut records = page.values;
    let mut reached_end = false;
    records.retain_mut(|record| {
        if let Some(at) = record.replication_value().and_then(Timestamp::parse) {
            if window.end.is_some_and(|end| at >= end) {
                reached_end = true;
                return false;
            }
            if window.lower.is_some_and(|lower| at < lower) {
                return false;
            }
            let id = record.identity();
            match emitted.newest {
                Some(n) if at < n => {}
                Some(n) if at == n => {
                    if !emitted.at_newest.insert(id) {
                        return false;
                    }
                }
                _ => {
                    emitted.newest = Some(at);
                    emitted.at_newest.clear();
                    emitted.at_newest.insert(id);
                }
            }
        }
        prepare(record)
    });
    Ok(Step {
        rendered: run.out().emitter.render(&records)?,
        next: page.next,
        reached_end,
    })
}

/// The endpoint with `q` and `sort` for a read from `lower` (inclusive) to `end` (exclusive).
fn query_url(base: &Url, field: &str, lower: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Url {
    let mut url = base.clone();
    let mut clauses = Vec::new();
    if let Some(lower) = lower {
        clauses.push(format!("{field}>={}", bbql_datetime(lower)));
    }
    if let Some(end) = end {
        clauses.push(format!("{field}<{}", bbql_datetime(end)));
    }
    {
        let mut pairs = url.query_pairs_mut();
        if !clauses.is_empty() {
            pairs.append_pair("q", &clauses.join(" AND "));
        }
        pairs.append_pair("sort", field);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encodes_plus_and_spaces() {
        let base = Url::parse("http://h/2.0/repositories/acme?pagelen=100").unwrap();
        let lower = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456+00:00")
            .unwrap()
            .with_timezone(&Utc);
        let url = query_url(
            &base,
            "updated_on",
            Some(lower),
            Some(lower + chrono::Duration::days(1)),
        );
        assert_eq!(
            url.query().unwrap(),
            "pagelen=100&q=updated_on%3E%3D2026-01-02T03%3A04%3A05.123456%2B00%3A00+AND+updated_on%3C2026-01-03T03%3A04%3A05.123456%2B00%3A00&sort=updated_on"
        );
    }
}
