//! The plain reader: follow `next` from the first page to the last, emitting each page as it
//! arrives. Used by FULL_TABLE collections.

use std::collections::HashSet;

use serde::de::DeserializeOwned;
use serde::Serialize;
use url::Url;

use super::{PartitionRun, StreamError};
use crate::bitbucket::{ApiError, Page};

/// Reads every page of the collection at `url`, calling `prepare` on each record.
pub async fn read_all<T, F>(run: &PartitionRun, url: Url, mut prepare: F) -> Result<u64, StreamError>
where
    T: DeserializeOwned + Serialize + Send,
    F: FnMut(&mut T),
{
    let mut url = url;
    let mut seen = HashSet::new();
    let mut count = 0u64;
    loop {
        let page: Page<T> = run.client.get_page(&url).await?;
        let mut records = page.values;
        records.iter_mut().for_each(&mut prepare);
        count += records.len() as u64;
        run.emitter.records(&records).await?;
        let Some(next) = page.next else {
            return Ok(count);
        };
        let next = run.client.next_url(&url, &next)?;
        if !seen.insert(next.to_string()) {
            return Err(ApiError::PaginationLoop {
                endpoint: url.path().to_string(),
            }
            .into());
        }
        url = next;
    }
}
