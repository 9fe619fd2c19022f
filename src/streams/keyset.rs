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

use super::paged::{first_record, follow_next, Followed};
use super::{Borrowing, PartitionRun, StreamError, StreamRun, Timestamp};
use crate::bitbucket::Page;
use crate::window::bbql_datetime;

/// A record the keyset reader can page through.
pub trait KeysetRecord: Serialize {
    /// The replication key's value.
    fn replication_value(&self) -> Option<&Timestamp<'_>>;
    /// What tells two records of the partition apart.
    fn identity(&self) -> String;
}

/// Reads a partition in ascending `field` order from `base` (the endpoint with its fixed
/// query parameters) into `out`, calling `prepare` on each record before it is emitted; a
/// record for which it returns `false` is not emitted (but still moves the cursor). A STATE
/// follows every page.
pub async fn read<T, F>(
    run: &PartitionRun,
    out: &StreamRun,
    base: Url,
    field: &'static str,
    mut prepare: F,
) -> Result<(), StreamError>
where
    T: Borrowing,
    for<'b> T::Of<'b>: KeysetRecord,
    F: for<'b> FnMut(&mut T::Of<'b>) -> bool,
{
    let window = &out.window;
    let mut keyset = Keyset::new(base, field, window.lower, window.end);
    loop {
        let page = keyset
            .next_page::<T, _>(run, |mut records| {
                records.retain_mut(&mut prepare);
                out.emitter.render(&records)
            })
            .await?;
        let Some(rendered) = page else { return Ok(()) };
        out.emitter.send_page(rendered?).await?;
        if let Some(value) = keyset.cursor().map(|c| window.bookmark_value(c)) {
            out.bookmark(&run.context, field, value).await?;
        }
    }
}

/// A keyset read in progress: where the next page starts, and what was already handed out
/// at the cursor's timestamp. Readers of several streams sharing one listing (pull requests
/// and their children) drive it page by page.
#[derive(Debug)]
pub struct Keyset {
    base: Url,
    field: &'static str,
    lower: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    cursor: Option<DateTime<Utc>>,
    emitted: Emitted,
    follow: Option<Url>,
    followed: Followed,
    done: bool,
}

impl Keyset {
    /// A read of `base` in ascending `field` order from `lower` (inclusive) to `end`
    /// (exclusive).
    pub fn new(
        base: Url,
        field: &'static str,
        lower: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Self {
        Keyset {
            base,
            field,
            lower,
            end,
            cursor: lower,
            emitted: Emitted::default(),
            follow: None,
            followed: Followed::default(),
            done: false,
        }
    }

    /// How far the read has come: every record below it (and those at it so far) was handed
    /// out. Starts at the lower bound.
    pub fn cursor(&self) -> Option<DateTime<Utc>> {
        self.cursor
    }

    /// Fetches the next page and hands `take` its records that are new to this read (inside
    /// the bounds, not handed out before), in ascending order; `take`'s result must not
    /// borrow the page. `None` once the read is over.
    pub async fn next_page<T, R>(
        &mut self,
        run: &PartitionRun,
        mut take: impl for<'b> FnMut(Vec<T::Of<'b>>) -> R,
    ) -> Result<Option<R>, StreamError>
    where
        T: Borrowing,
        for<'b> T::Of<'b>: KeysetRecord,
    {
        if self.done {
            return Ok(None);
        }
        let url = match self.follow.take() {
            Some(url) => url,
            None => query_url(&self.base, self.field, self.cursor, self.end),
        };
        let (taken, next, reached_end, first) = run
            .client
            .get_with(&url, |text| {
                let page: Page<T::Of<'_>> = run.client.page(&url, text)?;
                let first = first_record(&page.values);
                let (records, reached_end) = select(self.lower, self.end, page.values, &mut self.emitted);
                Ok((take(records), page.next, reached_end, first))
            })
            .await?;
        let advanced = self.emitted.newest.is_some() && self.emitted.newest > self.cursor;
        if advanced {
            self.cursor = self.emitted.newest;
        }
        match next {
            Some(next) if !reached_end => {
                if !advanced {
                    // The whole page sat at the cursor's timestamp: only the page link moves on.
                    self.follow = Some(follow_next(run, &url, &next, first, &mut self.followed)?);
                }
            }
            _ => self.done = true,
        }
        Ok(Some(taken))
    }
}

/// The newest timestamp emitted and the identities emitted at it, so that re-reading
/// `>= cursor` does not emit them twice.
#[derive(Debug, Default)]
struct Emitted {
    newest: Option<DateTime<Utc>>,
    at_newest: HashSet<String>,
}

/// The records of a page that are new to the read: inside `[lower, end)` and not handed out
/// before; and whether a record at or past `end` was seen (the read is then over).
fn select<R: KeysetRecord>(
    lower: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    mut records: Vec<R>,
    emitted: &mut Emitted,
) -> (Vec<R>, bool) {
    let mut reached_end = false;
    records.retain(|record| {
        let Some(at) = record.replication_value().and_then(Timestamp::parse) else {
            return true;
        };
        if end.is_some_and(|end| at >= end) {
            reached_end = true;
            return false;
        }
        if lower.is_some_and(|lower| at < lower) {
            return false;
        }
        let id = record.identity();
        match emitted.newest {
            Some(n) if at < n => true,
            Some(n) if at == n => emitted.at_newest.insert(id),
            _ => {
                emitted.newest = Some(at);
                emitted.at_newest.clear();
                emitted.at_newest.insert(id);
                true
            }
        }
    });
    (records, reached_end)
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
