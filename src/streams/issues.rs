//! The issue-tracker objects of each repository: `issue_components`, `issue_versions` and
//! `issue_milestones` (legacy "List Issue Component / Versions / Milestone").
//!
//! Bitbucket removed issue trackers and their API on 2026-08-20: the endpoints answer 410,
//! which `crate::sync` turns into one warning per stream and no records. The streams stay so
//! that the legacy reports keep a row and a clear answer; they are not selected by default.
//! A repository without a tracker answers 404 "Repository has no issue tracker." and is
//! skipped quietly.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::paged::read_repository_collection;
use super::Int;
use super::{Links, PartitionRun, Scope, StreamDef, StreamError, Text};
use crate::singer::record_schema;

/// A component, version or milestone of a repository's issue tracker (the three share one
/// shape: `{type, id, name, links}`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct IssueTrackerObjectRecord<'a> {
    /// The workspace of the repository it was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The repository it was read from.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// That repository's UUID (key).
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// `component`, `version` or `milestone`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The id, unique within the repository's tracker (key).
    pub id: Int,
    /// The name.
    pub name: Option<Text<'a>>,
    /// Links.
    pub links: Option<Links<'a>>,
}

super::repository_keys!(IssueTrackerObjectRecord);
super::borrowing!(IssueTrackerObjects => IssueTrackerObjectRecord);

/// `issue_components`: `GET /repositories/{workspace}/{repo}/components`.
pub const ISSUE_COMPONENTS: StreamDef =
    issue_stream("issue_components", |run| Box::pin(read(run, "components")));

/// `issue_versions`: `GET /repositories/{workspace}/{repo}/versions`.
pub const ISSUE_VERSIONS: StreamDef = issue_stream("issue_versions", |run| Box::pin(read(run, "versions")));

/// `issue_milestones`: `GET /repositories/{workspace}/{repo}/milestones`.
pub const ISSUE_MILESTONES: StreamDef =
    issue_stream("issue_milestones", |run| Box::pin(read(run, "milestones")));

/// The three streams differ only in name and endpoint.
const fn issue_stream(name: &'static str, read: super::ReadFn) -> StreamDef {
    StreamDef {
        name,
        key_properties: &["repository_uuid", "id"],
        replication_key: None,
        selected_by_default: false,
        scope: Scope::Repository,
        schema: record_schema::<IssueTrackerObjectRecord>,
        read,
        family: None,
    }
}

async fn read(run: PartitionRun, collection: &'static str) -> Result<(), StreamError> {
    read_repository_collection::<IssueTrackerObjects>(&run, &[collection]).await?;
    Ok(())
}
