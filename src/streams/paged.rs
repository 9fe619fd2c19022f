//! The plain reader: follow `next` from the first page to the last, emitting each page as it
//! arrives. Used by FULL_TABLE collections.

use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use serde::Serialize;

use url::Url;

use super::{Borrowing, PartitionRun, RepositoryKeys, StreamError, StreamRun};
use crate::bitbucket::{ApiError, Client, Page, MAX_PAGELEN};

/// What [`read_all`] did.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadAll {
    /// Records emitted.
    pub records: u64,
    /// Whether the endpoint refused the `pagelen` asked for, and was read without it.
    pub pagelen_refused: bool,
}

/// Reads every page of the collection at `url` into `out`, calling `prepare` on each record.
/// A first page refused for its `pagelen` (400) is asked again without it.
pub async fn read_all<T, F>(
    run: &PartitionRun,
    out: &StreamRun,
    url: Url,
    mut prepare: F,
) -> Result<ReadAll, StreamError>
where
    T: Borrowing,
    F: for<'b> FnMut(&mut T::Of<'b>),
{
    let mut url = url;
    let mut followed = Followed::default();
    let mut done = ReadAll::default();
    loop {
        let fetched = run
            .client
            .get_with(&url, |text| {
                let page: Page<T::Of<'_>> = run.client.page(&url, text)?;
                let mut records = page.values;
                records.iter_mut().for_each(&mut prepare);
                let first = first_record(&records);
                Ok(out.emitter.render(&records).map(|r| (r, page.next, first)))
            })
            .await;
        let (rendered, next, first) = match fetched {
            Err(e) if !done.pagelen_refused && followed.links.is_empty() => match without_pagelen(&url, &e) {
                Some(retry) => {
                    warn_pagelen_refused(out.name, &url, &e);
                    url = retry;
                    done.pagelen_refused = true;
                    continue;
                }
                None => return Err(e.into()),
            },
            other => other??,
        };
        done.records += rendered.count();
        out.emitter.send_page(rendered).await?;
        let Some(next) = next else {
            return Ok(done);
        };
        url = follow_next(run, &url, &next, first, &mut followed)?;
    }
}

/// What a read that follows `next` links has followed: the links, and the first record of
/// the last page whose link was followed. A server that never ends a listing (a link that
/// comes back, or new links minted for the same page) would otherwise be read forever.
#[derive(Debug, Default)]
pub struct Followed {
    links: HashSet<String>,
    previous_first: Option<u64>,
}

/// A fingerprint of a page's first record (`None` for an empty page): two pages in a row
/// that start with the same record are the same page again, since a listing shows a record
/// once.
pub fn first_record<T: Serialize>(values: &[T]) -> Option<u64> {
    struct Hashing(DefaultHasher);
    impl std::io::Write for Hashing {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.write(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hashing = Hashing(DefaultHasher::new());
    serde_json::to_writer(&mut hashing, values.first()?).ok()?;
    Some(hashing.0.finish())
}

/// The URL of the page after `url`, given its `next` link and the [`first_record`] of the
/// page that carried it: checked to stay on the API origin, never to repeat a link, and not
/// to follow a page that repeats the one before, any of which would loop forever.
pub fn follow_next(
    run: &PartitionRun,
    url: &Url,
    next: &str,
    first: Option<u64>,
    followed: &mut Followed,
) -> Result<Url, StreamError> {
    Ok(followed.next_url(&run.client, url, next, first)?)
}

impl Followed {
    /// [`follow_next`] for a read outside a partition (the listings of workspaces and
    /// repositories).
    pub fn next_url(
        &mut self,
        client: &Client,
        url: &Url,
        next: &str,
        first: Option<u64>,
    ) -> Result<Url, ApiError> {
        let next = client.next_url(url, next)?;
        let repeated = first.is_some() && first == self.previous_first;
        if repeated || !self.links.insert(next.to_string()) {
            return Err(ApiError::PaginationLoop {
                endpoint: url.path().to_string(),
            });
        }
        self.previous_first = first;
        Ok(next)
    }
}

/// A fingerprint of a value (the first record's identity, where the record is not
/// serializable), for [`Followed`].
pub fn hash_of(value: &impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// Reads every page of a collection of the partition's repository,
/// `/repositories/{workspace}/{repo}/<tail…>`, with the largest page the endpoint accepts,
/// giving each record its parent keys. Used by the FULL_TABLE repository streams (forks,
/// watchers, branch restrictions, issue-tracker objects).
pub async fn read_repository_collection<T>(run: &PartitionRun, tail: &[&str]) -> Result<ReadAll, StreamError>
where
    T: Borrowing,
    for<'b> T::Of<'b>: RepositoryKeys,
{
    let repo = run.repository()?.clone();
    let mut segments = vec!["repositories", repo.workspace.as_str(), repo.slug.as_str()];
    segments.extend_from_slice(tail);
    let mut url = run.client.url(&segments);
    url.query_pairs_mut()
        .append_pair("pagelen", &run.pagelen(MAX_PAGELEN));
    read_all::<T, _>(run, run.out(), url, |record| record.set_repository_keys(&repo)).await
}

/// A page request that the API refused because of the `pagelen` the tap sent (400): the same
/// request without `pagelen`, which the endpoint then sizes itself; `None` when the request
/// had none, or the failure was something else.
pub fn without_pagelen(url: &Url, error: &ApiError) -> Option<Url> {
    if error.status() != Some(400) || !url.query_pairs().any(|(k, _)| k == "pagelen") {
        return None;
    }
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "pagelen")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut retry = url.clone();
    retry.query_pairs_mut().clear().extend_pairs(kept);
    if retry.query() == Some("") {
        retry.set_query(None);
    }
    Some(retry)
}

/// Warns that an endpoint refused the tap's `pagelen` and is read without it.
pub fn warn_pagelen_refused(stream: &str, url: &Url, error: &ApiError) {
    tracing::warn!(
        stream,
        endpoint = url.path(),
        "The API refused the page size the tap asked for ({error}); reading {} again without `pagelen`, in pages of the endpoint's own default size.",
        url.path()
    );
}

/// Pages of a collection requested by number (`page=1`, `2`, …) from the tap's own
/// parameters, rather than by following `next`: some endpoints' `next` links drop `sort`
/// (`pipelines`) or carry a wrong page (`deployments`). The read ends on an empty page, on a
/// page shorter than its `pagelen`, or (with a warning) on a page that repeats the previous
/// one, which a server ignoring `page` would send forever; and, when the envelope says how
/// many records the collection holds (`size`), on the page that reaches that count, rather
/// than asking for an empty page after it.
#[derive(Debug)]
pub struct NumberedPages {
    base: Url,
    page: u64,
    previous: Option<u64>,
    done: bool,
}

/// What a numbered page held, for deciding whether another follows.
#[derive(Debug, Clone, Copy)]
pub struct PageShape {
    /// How many records it held.
    pub len: usize,
    /// The page size the server says it used (`pagelen` of the envelope).
    pub pagelen: Option<u64>,
    /// How many records the whole collection holds, when the server says (`size`).
    pub size: Option<u64>,
    /// A fingerprint of its records (see [`fingerprint`]), to notice a repeated page.
    pub fingerprint: u64,
}

impl NumberedPages {
    /// Pages of `base` (the endpoint with its fixed query parameters, `pagelen` included).
    pub fn new(base: Url) -> Self {
        NumberedPages {
            base,
            page: 1,
            previous: None,
            done: false,
        }
    }

    /// The URL of the next page, or `None` once the read is over.
    pub fn next_url(&self) -> Option<Url> {
        if self.done {
            return None;
        }
        let mut url = self.base.clone();
        url.query_pairs_mut().append_pair("page", &self.page.to_string());
        Some(url)
    }

    /// Whether a page with this fingerprint repeats the previous one (then it is not emitted,
    /// and the read is over).
    pub fn repeats(&self, fingerprint: u64) -> bool {
        self.previous == Some(fingerprint)
    }

    /// Moves on after a page was read; `false` when it was the last.
    pub fn advance(&mut self, stream: &str, page: PageShape) -> bool {
        let requested = self
            .base
            .query_pairs()
            .find(|(k, _)| k == "pagelen")
            .and_then(|(_, v)| v.parse::<u64>().ok());
        if self.repeats(page.fingerprint) && page.len > 0 {
            tracing::warn!(
                stream,
                endpoint = self.base.path(),
                page = self.page,
                "Page {} of {} repeats the page before it; the server seems to ignore `page`, so the read stops here.",
                self.page,
                self.base.path()
            );
            self.done = true;
        } else {
            let pagelen = page.pagelen.or(requested);
            let short = pagelen.is_some_and(|n| (page.len as u64) < n);
            let all_read = match (pagelen, page.size) {
                (Some(n), Some(size)) => self.page.saturating_mul(n) >= size,
                _ => false,
            };
            self.done = page.len == 0 || short || all_read;
        }
        self.previous = Some(page.fingerprint);
        self.page += 1;
        !self.done
    }

    /// Reads on without `pagelen` after the endpoint refused it (from the same page).
    pub fn drop_pagelen(&mut self, stream: &str, error: &ApiError) -> bool {
        match without_pagelen(&self.base, error) {
            Some(base) => {
                warn_pagelen_refused(stream, &self.base, error);
                self.base = base;
                true
            }
            None => false,
        }
    }
}

/// A record with an identity of its own (its `uuid`), by which a repeated page is noticed.
pub trait Identified {
    /// The record's identity.
    fn identity(&self) -> Cow<'_, str>;
}

/// A fingerprint of a page's records, from their identities in order.
pub fn fingerprint<R: Identified>(records: &[R]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for record in records {
        record.identity().hash(&mut hasher);
    }
    hasher.finish()
}

impl NumberedPages {
    /// Fetches the next page and hands its records to `take` (whose result must not borrow
    /// the page). `None` once the read is over: after the last page, or at a page that
    /// repeats the one before (not handed out). A first page refused for its `pagelen` (400)
    /// is asked again without it, with a warning.
    pub async fn next_page<T, R>(
        &mut self,
        run: &PartitionRun,
        stream: &str,
        mut take: impl for<'b> FnMut(Vec<T::Of<'b>>) -> R,
    ) -> Result<Option<R>, StreamError>
    where
        T: Borrowing,
        for<'b> T::Of<'b>: Identified,
    {
        loop {
            let Some(url) = self.next_url() else {
                return Ok(None);
            };
            let fetched = run
                .client
                .get_with(&url, |text| {
                    let page: Page<T::Of<'_>> = run.client.page(&url, text)?;
                    let shape = PageShape {
                        len: page.values.len(),
                        pagelen: page.pagelen,
                        size: page.size,
                        fingerprint: fingerprint(&page.values),
                    };
                    let repeated = shape.len > 0 && self.repeats(shape.fingerprint);
                    Ok((shape, (!repeated).then(|| take(page.values))))
                })
                .await;
            match fetched {
                Err(e) if self.page == 1 && self.drop_pagelen(stream, &e) => continue,
                Err(e) => return Err(e.into()),
                Ok((shape, taken)) => {
                    self.advance(stream, shape);
                    return Ok(taken);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages() -> NumberedPages {
        NumberedPages::new(Url::parse("http://h/2.0/repositories/a/b/deployments/?pagelen=100").unwrap())
    }

    fn shape(len: usize, size: Option<u64>, fingerprint: u64) -> PageShape {
        PageShape {
            len,
            pagelen: Some(100),
            size,
            fingerprint,
        }
    }

    #[test]
    fn numbered_pages_stop_on_short_empty_repeated_or_complete_pages() {
        let mut p = pages();
        assert_eq!(p.next_url().unwrap().query(), Some("pagelen=100&page=1"));
        assert!(p.advance("deployments", shape(100, None, 1)));
        assert_eq!(p.next_url().unwrap().query(), Some("pagelen=100&page=2"));
        assert!(
            !p.advance("deployments", shape(40, None, 2)),
            "a short page is the last"
        );
        assert!(p.next_url().is_none());

        let mut p = pages();
        assert!(p.advance("deployments", shape(100, None, 1)));
        assert!(
            !p.advance("deployments", shape(0, None, 0)),
            "an empty page is the last"
        );

        let mut p = pages();
        assert!(p.advance("deployments", shape(100, None, 7)));
        assert!(p.repeats(7));
        assert!(
            !p.advance("deployments", shape(100, None, 7)),
            "a repeated page ends the read"
        );

        // 200 records in pages of 100: the second page is the last, no empty third asked for.
        let mut p = pages();
        assert!(p.advance("deployments", shape(100, Some(200), 1)));
        assert!(!p.advance("deployments", shape(100, Some(200), 2)));
    }

    #[test]
    fn a_refused_pagelen_is_dropped_from_the_request() {
        let refused = ApiError::Status {
            status: 400,
            endpoint: "/x".into(),
            message: "Invalid pagelen".into(),
            retry_after: None,
        };
        let url = Url::parse("http://h/x/?sort=-created_on&pagelen=100").unwrap();
        assert_eq!(
            without_pagelen(&url, &refused).unwrap().query(),
            Some("sort=-created_on")
        );
        let bare = Url::parse("http://h/x/?pagelen=100").unwrap();
        assert_eq!(without_pagelen(&bare, &refused).unwrap().query(), None);
        let other = ApiError::Status {
            status: 404,
            endpoint: "/x".into(),
            message: "gone".into(),
            retry_after: None,
        };
        assert!(without_pagelen(&url, &other).is_none());
    }
}
