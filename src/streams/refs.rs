//! The refs of a repository: `branches` (`/refs/branches`) and `tags` (`/refs/tags`), each with
//! the commit it points at. Snapshots: FULL_TABLE. With `commits`, they tell which commits
//! are on which branch head and release.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::commits::{Commit, CommitIdentity};
use super::paged::read_repository_collection;
use super::{Links, PartitionRun, Scope, StreamDef, StreamError, Text, Timestamp};
use crate::singer::record_schema;

/// A branch (`GET /repositories/{workspace}/{repo}/refs/branches`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct BranchRecord<'a> {
    /// The workspace of the repository it was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The repository it was read from.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// That repository's UUID (key).
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// `branch`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The branch name (key).
    pub name: Text<'a>,
    /// The commit at the branch's head.
    pub target: Option<Commit<'a>>,
    /// The merge strategies allowed into it.
    pub merge_strategies: Option<Vec<Text<'a>>>,
    /// The default merge strategy.
    pub default_merge_strategy: Option<Text<'a>>,
    /// Links (`self`, `commits`, `html`).
    pub links: Option<Links<'a>>,
}

/// A tag (`GET /repositories/{workspace}/{repo}/refs/tags`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct TagRecord<'a> {
    /// The workspace of the repository it was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The repository it was read from.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// That repository's UUID (key).
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// `tag`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The tag name (key).
    pub name: Text<'a>,
    /// The tagged commit.
    pub target: Option<Commit<'a>>,
    /// The annotation's message (annotated tags).
    pub message: Option<Text<'a>>,
    /// When it was tagged (annotated tags).
    pub date: Option<Timestamp<'a>>,
    /// Who tagged it (annotated tags).
    pub tagger: Option<CommitIdentity<'a>>,
    /// Links (`self`, `commits`, `html`).
    pub links: Option<Links<'a>>,
}

super::repository_keys!(BranchRecord, TagRecord);
super::borrowing!(Branches => BranchRecord, Tags => TagRecord);

/// `branches`: FULL_TABLE, one partition per repository.
pub const BRANCHES: StreamDef = StreamDef {
    name: "branches",
    key_properties: &["repository_uuid", "name"],
    replication_key: None,
    selected_by_default: true,
    scope: Scope::Repository,
    schema: record_schema::<BranchRecord>,
    read: |run| Box::pin(read_branches(run)),
    family: None,
};

/// `tags`: FULL_TABLE, one partition per repository.
pub const TAGS: StreamDef = StreamDef {
    name: "tags",
    key_properties: &["repository_uuid", "name"],
    replication_key: None,
    selected_by_default: true,
    scope: Scope::Repository,
    schema: record_schema::<TagRecord>,
    read: |run| Box::pin(read_tags(run)),
    family: None,
};

async fn read_branches(run: PartitionRun) -> Result<(), StreamError> {
    read_repository_collection::<Branches>(&run, &["refs", "branches"]).await?;
    Ok(())
}

async fn read_tags(run: PartitionRun) -> Result<(), StreamError> {
    read_repository_collection::<Tags>(&run, &["refs", "tags"]).await?;
    Ok(())
}
