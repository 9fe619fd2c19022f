//! `branch_restrictions` (legacy "List Branch Restriction"): the branch permissions and merge
//! checks of each repository. Only repository admins may read them; for anyone else the
//! endpoint answers 403 and the partition is skipped with a warning (see `crate::sync`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::paged::read_repository_collection;
use super::Int;
use super::{Account, Group, Links, PartitionRun, Scope, StreamDef, StreamError, Text};
use crate::singer::record_schema;

/// A branch restriction (`GET /repositories/{workspace}/{repo}/branch-restrictions`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct BranchRestrictionRecord<'a> {
    /// The workspace of the repository it was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The repository it was read from.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// That repository's UUID (key).
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// `branchrestriction` (the API's `type`; named apart from `kind`, the restriction).
    #[serde(rename = "type")]
    pub object_type: Option<Text<'a>>,
    /// The id, unique within the repository (key).
    pub id: Int,
    /// What is restricted (`push`, `require_approvals_to_merge`, …; Bitbucket keeps adding
    /// kinds, so it is not a closed list).
    pub kind: Option<Text<'a>>,
    /// `glob` or `branching_model`.
    pub branch_match_kind: Option<Text<'a>>,
    /// The branch type (`feature`, `release`, …) when matched by branching model.
    pub branch_type: Option<Text<'a>>,
    /// The branch glob when matched by glob (empty otherwise).
    pub pattern: Option<Text<'a>>,
    /// The kind's number, e.g. the approvals required (null for most kinds).
    pub value: Option<Int>,
    /// The users exempted (`push`, `restrict_merges`).
    pub users: Option<Vec<Account<'a>>>,
    /// The groups exempted (`push`, `restrict_merges`).
    pub groups: Option<Vec<Group<'a>>>,
    /// Links.
    pub links: Option<Links<'a>>,
}

super::repository_keys!(BranchRestrictionRecord);
super::borrowing!(BranchRestrictions => BranchRestrictionRecord);

/// `branch_restrictions`: FULL_TABLE, one partition per repository; needs repository admin.
pub const BRANCH_RESTRICTIONS: StreamDef = StreamDef {
    name: "branch_restrictions",
    key_properties: &["repository_uuid", "id"],
    replication_key: None,
    selected_by_default: true,
    scope: Scope::Repository,
    schema: record_schema::<BranchRestrictionRecord>,
    read: |run| Box::pin(read(run)),
    family: None,
};

async fn read(run: PartitionRun) -> Result<(), StreamError> {
    read_repository_collection::<BranchRestrictions>(&run, &["branch-restrictions"]).await?;
    Ok(())
}
