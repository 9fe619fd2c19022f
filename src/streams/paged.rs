//! The plain reader: follow `next` from the first page to the last, emitting each page as it
//! arrives. Used by FULL_TABLE collections.

use std::collections::HashSet;

use url::Url;

use super::{Borrowing, PartitionRun, RepositoryKeys, StreamError};
use crate::bitbucket::{ApiError, Page, MAX_PAGELEN};

/// Reads every page of the collection at `url`, calling `prepare` on each record.
pub async fn read_all<T, F>(run: &PartitionRun, url: Url, mut prepare: F) -> Result<u64, StreamError>
where
    T: Borrowing,
    F: for<'b> FnMut(&mut T::Of<'b>),
{
    let mut url = url;
    let mut seen = HashSet::new();
    let mut count = 0u64;
    loop {
        let (rendered, next) = run
            .client
            .get_with(&url, |text| {
                let page: Page<T::Of<'_>> = run.client.page(&url, text)?;
                let mut records = page.values;
                records.iter_mut().for_each(&mut prepare);
                Ok(run.out().emitter.render(&records).map(|r| (r, page.next)))
            })
            .await??;
        count += rendered.count();
        run.out().emitter.send_page(rendered).await?;
        let Some(next) = next else {
            return Ok(count);
        };
        url = follow_next(run, &url, &next, &mut seen)?;
    }
}

/// The URL of the page after `url`, given its `next` link: checked to stay on the API origin
/// and never to repeat (`seen` holds the links already followed), which would loop forever.
pub fn follow_next(
    run: &PartitionRun,
    url: &Url,
    next: &str,
    seen: &mut HashSet<String>,
) -> Result<Url, StreamError> {
    let next = run.client.next_url(url, next)?;
    if !seen.insert(next.to_string()) {
        return Err(ApiError::PaginationLoop {
            endpoint: url.path().to_string(),
        }
        .into());
    }
    Ok(next)
}

/// Reads every page of a collection of the partition's repository,
/// `/repositories/{workspace}/{repo}/<tail…>`, with the largest page the endpoint accepts,
/// giving each record its parent keys. Used by the FULL_TABLE repository streams (forks,
/// watchers, branch restrictions, issue-tracker objects).
pub async fn read_repository_collection<T>(run: &PartitionRun, tail: &[&str]) -> Result<u64, StreamError>
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
    read_all::<T, _>(run, url, |record| record.set_repository_keys(&repo)).await
}
