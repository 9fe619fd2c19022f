//! `pullrequests` (legacy "List Pullrequest"): every pull request of each repository, in
//! every configured state, incrementally by `updated_on`, with reviewers and participants
//! (which the list view omits unless asked for, so no request per pull request is needed).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::keyset::{Keyset, KeysetRecord};
use super::pullrequest_children::{Changed, Children, REPLICATION_KEY as CHILD_REPLICATION_KEY};
use super::Int;
use chrono::{DateTime, Utc};

use super::{
    Account, BranchRef, CommitRef, Links, PartitionRun, ReadFn, RenderedText, RepositoryKeys, RepositoryRef,
    Scope, StreamDef, StreamError, StreamRun, Text, Timestamp,
};
use crate::bitbucket::MAX_PULLREQUEST_PAGELEN;
use crate::singer::record_schema;

/// One side of a pull request: repository, branch and commit.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct PullRequestEndpoint<'a> {
    /// The repository.
    pub repository: Option<RepositoryRef<'a>>,
    /// The branch.
    pub branch: Option<BranchRef<'a>>,
    /// The commit.
    pub commit: Option<CommitRef<'a>>,
}

/// A participant: a user's role and review state on a pull request.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct Participant<'a> {
    /// `participant`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The user.
    pub user: Option<Account<'a>>,
    /// `PARTICIPANT` or `REVIEWER`.
    pub role: Option<Text<'a>>,
    /// Whether the user approved.
    pub approved: Option<bool>,
    /// `approved`, `changes_requested` or null.
    pub state: Option<Text<'a>>,
    /// When the user last participated.
    pub participated_on: Option<Timestamp<'a>>,
}

/// The rendered title, description and reason.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct PullRequestRendered<'a> {
    /// The title.
    pub title: Option<RenderedText<'a>>,
    /// The description.
    pub description: Option<RenderedText<'a>>,
    /// The decline reason.
    pub reason: Option<RenderedText<'a>>,
}

/// A pull request (`GET /repositories/{workspace}/{repo}/pullrequests`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct PullRequestRecord<'a> {
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
    pub kind: Option<Text<'a>>,
    /// The id, unique within the repository (key).
    pub id: Int,
    /// The title.
    pub title: Option<Text<'a>>,
    /// The description.
    pub description: Option<Text<'a>>,
    /// `OPEN`, `MERGED`, `DECLINED` or `SUPERSEDED`.
    pub state: Option<Text<'a>>,
    /// Whether it is a draft.
    pub draft: Option<bool>,
    /// Whether it is queued to merge.
    pub queued: Option<bool>,
    /// The description as rendered text.
    pub summary: Option<RenderedText<'a>>,
    /// Rendered title, description and reason.
    pub rendered: Option<PullRequestRendered<'a>>,
    /// The author.
    pub author: Option<Account<'a>>,
    /// Where the changes come from.
    pub source: Option<PullRequestEndpoint<'a>>,
    /// Where they go.
    pub destination: Option<PullRequestEndpoint<'a>>,
    /// The merge commit, once merged.
    pub merge_commit: Option<CommitRef<'a>>,
    /// Whether the source branch is closed on merge.
    pub close_source_branch: Option<bool>,
    /// Who merged or declined it.
    pub closed_by: Option<Account<'a>>,
    /// The decline reason ("" otherwise).
    pub reason: Option<Text<'a>>,
    /// Number of comments.
    pub comment_count: Option<Int>,
    /// Number of open tasks.
    pub task_count: Option<Int>,
    /// When it was created.
    pub created_on: Option<Timestamp<'a>>,
    /// When it was last updated (replication key).
    pub updated_on: Option<Timestamp<'a>>,
    /// The reviewers.
    pub reviewers: Option<Vec<Account<'a>>>,
    /// The participants and their review state.
    pub participants: Option<Vec<Participant<'a>>>,
    /// Whether Bitbucket can merge it as it stands (no conflicts), when it says.
    pub mergeable: Option<bool>,
    /// Links.
    pub links: Option<Links<'a>>,
}

impl KeysetRecord for PullRequestRecord<'_> {
    fn replication_value(&self) -> Option<&Timestamp<'_>> {
        self.updated_on.as_ref()
    }

    fn identity(&self) -> String {
        self.id.to_string()
    }
}

super::repository_keys!(PullRequestRecord);
super::borrowing!(PullRequests => PullRequestRecord);

/// `pullrequests`: incremental on `updated_on`, one partition per repository; leads the
/// family read with the pull-request children.
pub const PULLREQUESTS: StreamDef = StreamDef {
    name: "pullrequests",
    key_properties: &["repository_uuid", "id"],
    replication_key: Some("updated_on"),
    selected_by_default: true,
    scope: Scope::Repository,
    schema: record_schema::<PullRequestRecord>,
    read: READ_FAMILY,
    family: None,
};

/// The reader of `pullrequests` and its children.
pub const READ_FAMILY: ReadFn = |run| Box::pin(read(run));

/// Reads the keyset listing of pull requests once, from the lowest of the selected streams'
/// windows: `pullrequests` emits what is inside its own window; each selected child stream
/// reads the children of each listed pull request inside its window, one request (plus
/// pages) per pull request. After every page, each stream's bookmark moves to the listing's
/// cursor: the pages before it are complete for every stream.
async fn read(run: PartitionRun) -> Result<(), StreamError> {
    let repo = run.repository()?.clone();
    let parent = run.selected("pullrequests");
    let children: Vec<&StreamRun> = run.streams().filter(|s| s.name != "pullrequests").collect();
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
    let lower = run.streams().map(|s| s.window.lower).min().flatten();
    let mut keyset = Keyset::new(url, "updated_on", lower, run.first.window.end);
    let mut reader = Children::default();
    loop {
        let page = keyset
            .next_page::<PullRequests, _>(&run, |mut records| {
                let listed: Vec<(Changed, Option<DateTime<Utc>>)> = records
                    .iter()
                    .map(|pr| {
                        let changed = Changed {
                            id: pr.id,
                            updated_on: pr.updated_on.map(|t| t.to_string()),
                        };
                        (changed, pr.updated_on.as_ref().and_then(Timestamp::parse))
                    })
                    .collect();
                let rendered = parent.map(|out| {
                    records.retain_mut(|pr| {
                        pr.set_repository_keys(&repo);
                        out.window
                            .contains(pr.updated_on.as_ref().and_then(Timestamp::parse))
                    });
                    out.emitter.render(&records)
                });
                (rendered, listed)
            })
            .await?;
        let Some((rendered, listed)) = page else { break };
        if let (Some(out), Some(rendered)) = (parent, rendered) {
            out.emitter.send_page(rendered?).await?;
        }
        for out in &children {
            for (pr, updated) in &listed {
                if out.window.contains(*updated) {
                    reader.read(&run, out, &repo, pr).await?;
                }
            }
        }
        for out in run.streams() {
            let key = if out.name == "pullrequests" {
                "updated_on"
            } else {
                CHILD_REPLICATION_KEY
            };
            if let Some(value) = keyset.cursor().map(|c| out.window.bookmark_value(c)) {
                out.bookmark(&run.context, key, value).await?;
            }
        }
    }
    Ok(())
}
