//! `public_repositories` (legacy "List All Public Repositories"): Bitbucket's global list of
//! public repositories, `GET /repositories?after=…`, in creation order.
//!
//! Bitbucket removed that list (CHANGE-2770): it answers 410, which `crate::sync` turns into
//! one warning naming the replacement (`repositories` per workspace). The reader stays, not
//! selected by default, for the legacy report's sake and for servers that still answer.
//!
//! It is incremental on `created_on` with one unpartitioned bookmark
//! (`bookmarks.public_repositories.replication_key_value`). `after` is exclusive, so the
//! request asks for the window's lower bound minus one second and records below the bound are
//! dropped here; a STATE follows every page, since pages come in creation order.

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use super::paged::{first_record, follow_next, Followed};
use super::{PartitionRun, Repository, Scope, StreamDef, StreamError, Timestamp};
use crate::bitbucket::{Page, MAX_PAGELEN};
use crate::singer::record_schema;

/// A `public_repositories` record: the repository object exactly as the API sends it (keyed
/// on `uuid`; no parent keys, since the list spans every workspace).
pub type PublicRepositoryRecord<'a> = Repository<'a>;

/// The replication key.
const REPLICATION_KEY: &str = "created_on";

/// `public_repositories`: INCREMENTAL on `created_on`, one unpartitioned bookmark.
pub const PUBLIC_REPOSITORIES: StreamDef = StreamDef {
    name: "public_repositories",
    key_properties: &["uuid"],
    replication_key: Some(REPLICATION_KEY),
    selected_by_default: false,
    scope: Scope::Global,
    schema: record_schema::<PublicRepositoryRecord>,
    read: |run| Box::pin(read(run)),
    family: None,
};

/// The `after` value for a window starting at `lower`: one second earlier (the parameter is
/// exclusive), in the form the API documents (`YYYY-MM-DDTHH:mm:ss.sssZ`).
fn after_parameter(lower: DateTime<Utc>) -> String {
    (lower - Duration::seconds(1)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn read(run: PartitionRun) -> Result<(), StreamError> {
    let window = run.out().window;
    let mut url = run.client.url(&["repositories"]);
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("pagelen", &run.pagelen(MAX_PAGELEN));
        if let Some(lower) = window.lower {
            query.append_pair("after", &after_parameter(lower));
        }
    }
    let mut followed = Followed::default();
    let mut newest: Option<DateTime<Utc>> = None;
    loop {
        let mut reached_end = false;
        let (rendered, next, first) = run
            .client
            .get_with(&url, |text| {
                let page: Page<PublicRepositoryRecord<'_>> = run.client.page(&url, text)?;
                let first = first_record(&page.values);
                let mut records = page.values;
                records.retain(|record| {
                    // A record without a parseable creation time cannot be placed: emit it.
                    let Some(at) = record.created_on.as_ref().and_then(Timestamp::parse) else {
                        return true;
                    };
                    if window.end.is_some_and(|end| at >= end) {
                        reached_end = true;
                        return false;
                    }
                    if window.lower.is_some_and(|lower| at < lower) {
                        return false;
                    }
                    newest = newest.max(Some(at));
                    true
                });
                Ok(run.out().emitter.render(&records).map(|r| (r, page.next, first)))
            })
            .await??;
        run.out().emitter.send_page(rendered).await?;
        if let Some(value) = newest.map(|at| window.bookmark_value(at)) {
            run.out()
                .emitter
                .bookmark(&run.context, REPLICATION_KEY, value)
                .await?;
        }
        // Creation order: once past `end_date`, every later page is too.
        let Some(next) = next.filter(|_| !reached_end) else {
            return Ok(());
        };
        url = follow_next(&run, &url, &next, first, &mut followed)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_is_one_second_below_the_lower_bound() {
        let lower = DateTime::parse_from_rfc3339("2026-03-01T00:00:00.250+00:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(after_parameter(lower), "2026-02-28T23:59:59.250Z");
    }
}
