//! `commits` (legacy "List Commits on a Repository"): every commit of every ref, read newest
//! first in graph order with a lookback below the bookmark (`commits_lookback_days`),
//! because graph order is not date order. State stays one bookmark per repository.

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::newest_first::{self, DatedRecord};
use super::pullrequests::Participant;
use super::{
    Account, CommitRef, Links, PartitionRun, RenderedText, RepositoryKeys, RepositoryRef, Scope, StreamDef,
    StreamError, Text, Timestamp,
};
use crate::bitbucket::MAX_PAGELEN;
use crate::singer::record_schema;

/// A commit's author or committer: the raw git identity and the Bitbucket user, when mapped.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct CommitIdentity<'a> {
    /// `author` or `committer`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// `Name <email>` as written in git.
    pub raw: Option<Text<'a>>,
    /// The Bitbucket account, when the email maps to one.
    pub user: Option<Account<'a>>,
}

/// A commit's texts rendered as HTML.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct CommitRendered<'a> {
    /// The message: raw, markup and HTML.
    pub message: Option<RenderedText<'a>>,
}

/// A commit as the API sends it (`GET /repositories/{workspace}/{repo}/commits`, a branch's
/// or tag's `target`, a pull request's commits).
#[skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct Commit<'a> {
    /// `commit`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The full hash (key).
    pub hash: Text<'a>,
    /// The author date (replication key of `commits`).
    pub date: Option<Timestamp<'a>>,
    /// The author.
    pub author: Option<CommitIdentity<'a>>,
    /// The committer (often absent).
    pub committer: Option<CommitIdentity<'a>>,
    /// The message.
    pub message: Option<Text<'a>>,
    /// The message as rendered text.
    pub summary: Option<RenderedText<'a>>,
    /// The message rendered as HTML, as the commit pages show it.
    pub rendered: Option<CommitRendered<'a>>,
    /// The parent commits.
    pub parents: Option<Vec<CommitRef<'a>>>,
    /// The repository.
    pub repository: Option<RepositoryRef<'a>>,
    /// Participants (approvals on the commit).
    pub participants: Option<Vec<Participant<'a>>>,
    /// Links.
    pub links: Option<Links<'a>>,
}

/// A commit of a repository (`GET /repositories/{workspace}/{repo}/commits`): the API
/// object with the keys of the repository it was read from.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(from = "Commit<'a>")]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct CommitRecord<'a> {
    /// The workspace of the repository it was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The repository it was read from.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// That repository's UUID (key).
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// The commit, as the API sends it (`hash` is the key, `date` the replication key).
    #[serde(flatten)]
    pub commit: Commit<'a>,
}

impl<'a> From<Commit<'a>> for CommitRecord<'a> {
    fn from(commit: Commit<'a>) -> Self {
        CommitRecord {
            workspace_slug: String::new(),
            repository_slug: String::new(),
            repository_uuid: String::new(),
            commit,
        }
    }
}

impl DatedRecord for CommitRecord<'_> {
    fn event_time(&self) -> Option<DateTime<Utc>> {
        self.commit.date.as_ref().and_then(Timestamp::parse)
    }
}

super::repository_keys!(CommitRecord);
super::borrowing!(Commits => CommitRecord);

/// `commits`: incremental on `date`, newest first with a lookback, one partition per
/// repository.
pub const COMMITS: StreamDef = StreamDef {
    name: "commits",
    key_properties: &["repository_uuid", "hash"],
    replication_key: Some("date"),
    selected_by_default: true,
    scope: Scope::Repository,
    schema: record_schema::<CommitRecord>,
    read: |run| Box::pin(read(run)),
    family: None,
};

async fn read(run: PartitionRun) -> Result<(), StreamError> {
    let repo = run.repository()?.clone();
    let mut url = run
        .client
        .url(&["repositories", &repo.workspace, &repo.slug, "commits"]);
    url.query_pairs_mut()
        .append_pair("pagelen", &run.pagelen(MAX_PAGELEN));
    let lookback = Duration::days(i64::from(run.settings.commits_lookback_days));
    newest_first::read_graph::<Commits, _>(&run, run.out(), url, "date", lookback, |c| {
        c.set_repository_keys(&repo);
        true
    })
    .await
}
