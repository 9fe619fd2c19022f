//! `pullrequests` (legacy "List Pullrequest"): every pull request of each repository, in
//! every configured state, incrementally by `updated_on`, with reviewers and participants
//! (which the list view omits unless asked for, so no request per pull request is needed).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::keyset::{self, KeysetRecord};
use super::{
    Account, BranchRef, CommitRef, Links, PartitionRun, RenderedText, RepositoryKeys, RepositoryRef, Scope,
    StreamDef, StreamError, Timestamp,
};
use crate::bitbucket::MAX_PULLREQUEST_PAGELEN;
use crate::singer::record_schema;

/// One side of a pull request: repository, branch and commit.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct PullRequestEndpoint {
    /// The repository.
    pub repository: Option<RepositoryRef>,
    /// The branch.
    pub branch: Option<BranchRef>,
    /// The commit.
    pub commit: Option<CommitRef>,
}

/// A participant: a user's role and review state on a pull request.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Participant {
    /// `participant`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The user.
    pub user: Option<Account>,
    /// `PARTICIPANT` or `REVIEWER`.
    pub role: Option<String>,
    /// Whether the user approved.
    pub approved: Option<bool>,
    /// `approved`, `changes_requested` or null.
    pub state: Option<String>,
    /// When the user last participated.
    pub participated_on: Option<Timestamp>,
}

/// The rendered title, description and reason.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct PullRequestRendered {
    /// The title.
    pub title: Option<RenderedText>,
    /// The description.
    pub description: Option<RenderedText>,
    /// The decline reason.
    pub reason: Option<RenderedText>,
}

/// A pull request (`GET /repositories/{workspace}/{repo}/pullrequests`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct PullRequestRecord {
    /// The workspace of the repository it was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The repository it was read from.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// That repository's UUID (key).
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// `pullrequest`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The id, unique within the repository (key).
    pub id: i64,
    /// The title.
    pub title: Option<String>,
    /// The description.
    pub description: Option<String>,
    /// `OPEN`, `MERGED`, `DECLINED` or `SUPERSEDED`.
    pub state: Option<String>,
    /// Whether it is a draft.
    pub draft: Option<bool>,
    /// Whether it is queued to merge.
    pub queued: Option<bool>,
    /// The description as rendered text.
    pub summary: Option<RenderedText>,
    /// Rendered title, description and reason.
    pub rendered: Option<PullRequestRendered>,
    /// The author.
    pub author: Option<Account>,
    /// Where the changes come from.
    pub source: Option<PullRequestEndpoint>,
    /// Where they go.
    pub destination: Option<PullRequestEndpoint>,
    /// The merge commit, once merged.
    pub merge_commit: Option<CommitRef>,
    /// Whether the source branch is closed on merge.
    pub close_source_branch: Option<bool>,
    /// Who merged or declined it.
    pub closed_by: Option<Account>,
    /// The decline reason ("" otherwise).
    pub reason: Option<String>,
    /// Number of comments.
    pub comment_count: Option<i64>,
    /// Number of open tasks.
    pub task_count: Option<i64>,
    /// When it was created.
    pub created_on: Option<Timestamp>,
    /// When it was last updated (replication key).
    pub updated_on: Option<Timestamp>,
    /// The reviewers.
    pub reviewers: Option<Vec<Account>>,
    /// The participants and their review state.
    pub participants: Option<Vec<Participant>>,
    /// Links.
    pub links: Option<Links>,
}

impl KeysetRecord for PullRequestRecord {
    fn replication_value(&self) -> Option<&Timestamp> {
        self.updated_on.as_ref()
    }

    fn identity(&self) -> String {
        self.id.to_string()
    }
}

super::repository_keys!(PullRequestRecord);

/// `pullrequests`: incremental on `updated_on`, one partition per repository.
pub const PULLREQUESTS: StreamDef = StreamDef {
    name: "pullrequests",
    key_properties: &["repository_uuid", "id"],
    replication_key: Some("updated_on"),
    selected_by_default: true,
    scope: Scope::Repository,
    schema: record_schema::<PullRequestRecord>,
    read: |run| Box::pin(read(run)),
};

async fn read(run: PartitionRun) -> Result<(), StreamError> {
    let repo = run.repository()?.clone();
    let mut url = run
        .client
        .url(&["repositories", &repo.workspace, &repo.slug, "pullrequests"]);
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("pagelen", &run.pagelen(MAX_PULLREQUEST_PAGELEN));
        for state in &run.settings.pullrequest_states {
            query.append_pair("state", state.as_str());
        }
        query.append_pair("fields", "+values.reviewers,+values.participants");
    }
    keyset::read(&run, url, "updated_on", |pr: &mut PullRequestRecord| {
        pr.set_repository_keys(&repo);
        true
    })
    .await
}
