//! `repositories` (legacy "List Team Repositories" and "List All Repositories for Owner"):
//! every repository of each workspace, incrementally by `updated_on`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::keyset::{self, KeysetRecord};
use super::{
    Account, BranchRef, Links, PartitionRun, ProjectRef, RepositoryRef, Scope, StreamDef, StreamError,
    Timestamp, WorkspaceRef,
};
use crate::bitbucket::MAX_PAGELEN;
use crate::singer::record_schema;

/// A repository (`GET /repositories/{workspace}`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct RepositoryRecord {
    /// The workspace this record was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// `repository`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The repository UUID (key; survives renames).
    pub uuid: String,
    /// `workspace/slug`.
    pub full_name: Option<String>,
    /// The display name.
    pub name: Option<String>,
    /// The URL slug.
    pub slug: Option<String>,
    /// The description.
    pub description: Option<String>,
    /// Whether the repository is private.
    pub is_private: Option<bool>,
    /// `git`.
    pub scm: Option<String>,
    /// The owner (deprecated by Bitbucket in favour of `workspace`, still sent).
    pub owner: Option<Account>,
    /// The workspace.
    pub workspace: Option<WorkspaceRef>,
    /// The project.
    pub project: Option<ProjectRef>,
    /// The main branch.
    pub mainbranch: Option<BranchRef>,
    /// The repository this one was forked from.
    pub parent: Option<RepositoryRef>,
    /// The main language.
    pub language: Option<String>,
    /// Size in bytes.
    pub size: Option<i64>,
    /// Whether the (removed) issue tracker was enabled.
    pub has_issues: Option<bool>,
    /// Whether the (removed) wiki was enabled.
    pub has_wiki: Option<bool>,
    /// `allow_forks`, `no_public_forks` or `no_forks`.
    pub fork_policy: Option<String>,
    /// The website.
    pub website: Option<String>,
    /// When the repository was created.
    pub created_on: Option<Timestamp>,
    /// When the repository was last updated (replication key).
    pub updated_on: Option<Timestamp>,
    /// Links (`clone` is a list of `{name, href}`).
    pub links: Option<Links>,
}

impl KeysetRecord for RepositoryRecord {
    fn replication_value(&self) -> Option<&Timestamp> {
        self.updated_on.as_ref()
    }

    fn identity(&self) -> String {
        self.uuid.clone()
    }
}

/// `repositories`: incremental on `updated_on`, one partition per workspace.
pub const REPOSITORIES: StreamDef = StreamDef {
    name: "repositories",
    key_properties: &["uuid"],
    replication_key: Some("updated_on"),
    selected_by_default: true,
    scope: Scope::Workspace,
    schema: record_schema::<RepositoryRecord>,
    read: |run| Box::pin(read(run)),
};

async fn read(run: PartitionRun) -> Result<(), StreamError> {
    let slug = run.workspace().to_string();
    let mut url = run.client.url(&["repositories", &slug]);
    url.query_pairs_mut()
        .append_pair("pagelen", &run.pagelen(MAX_PAGELEN));
    // The configured repository patterns apply here too: the stream lists what the run reads.
    let filter = crate::sync::RepositoryFilter::new(&run.settings)
        .map_err(|e| StreamError::Internal(e.to_string()))?;
    keyset::read(&run, url, "updated_on", |r: &mut RepositoryRecord| {
        r.workspace_slug = slug.clone();
        let repo_slug = r.slug.clone().or_else(|| {
            r.full_name
                .as_ref()
                .and_then(|f| f.split('/').nth(1).map(str::to_string))
        });
        repo_slug.is_none_or(|s| filter.matches(&slug, &s))
    })
    .await
}
