//! The children of a pull request, read for each pull request whose `updated_on` is inside
//! the child stream's window (see `pullrequests`, whose listing finds them):
//! `pullrequest_commits`, `pullrequest_diffstat`, `pullrequest_statuses` and
//! `pullrequest_tasks`. One request (plus pages) per changed pull request per stream, never
//! one per unchanged pull request. Each record carries `pullrequest_id` and
//! `pullrequest_updated_on` (its replication key: the parent's `updated_on` when it was read).
//!
//! A 404 on one pull request (its source fork deleted), or a 555 or timeout on its diffstat
//! (too large for Bitbucket to compute), skips that pull request with a warning; the run
//! goes on.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::activity::CommentRef;
use super::commits::Commit;
use super::paged::read_all;
use super::{
    Account, Borrowing, CommitRef, Links, PartitionRun, RenderedText, RepositoryInfo, Scope, StreamDef,
    StreamError, StreamRun, Text, Timestamp,
};
use super::{Flags, Int};
use crate::bitbucket::MAX_PAGELEN;
use crate::singer::record_schema;

/// The largest `pagelen` the diffstat endpoint accepts (its default too).
pub const MAX_DIFFSTAT_PAGELEN: u32 = 500;

/// Sets the keys a pull request's child carries.
pub trait PullRequestKeys {
    /// Fills the repository keys, `pullrequest_id` and `pullrequest_updated_on`.
    fn set_pullrequest_keys(&mut self, repo: &RepositoryInfo, pr: &Changed);
}

/// Implements [`PullRequestKeys`] for records with the repository keys, `pullrequest_id` and
/// `pullrequest_updated_on`.
macro_rules! pullrequest_keys {
    ($($record:ident),+ $(,)?) => {$(
        impl PullRequestKeys for $record<'_> {
            fn set_pullrequest_keys(&mut self, repo: &RepositoryInfo, pr: &Changed) {
                self.workspace_slug.clone_from(&repo.workspace);
                self.repository_slug.clone_from(&repo.slug);
                self.repository_uuid.clone_from(&repo.uuid);
                self.pullrequest_id = pr.id.0;
                self.pullrequest_updated_on.clone_from(&pr.updated_on);
            }
        }
    )+};
}

/// A pull request whose children are due: its id and `updated_on`, as listed.
#[derive(Debug, Clone)]
pub struct Changed {
    /// The pull request id.
    pub id: Int,
    /// Its `updated_on`, exactly as the API wrote it.
    pub updated_on: Option<String>,
}

/// A commit of a pull request (`GET …/pullrequests/{id}/commits`). Bitbucket empties the
/// list once the source branch is deleted, so earlier runs' records are the only trace then.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(from = "Commit<'a>")]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct PullRequestCommitRecord<'a> {
    /// The workspace of the repository it was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The repository it was read from.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// That repository's UUID (key).
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// The pull request id (key).
    #[serde(skip_deserializing)]
    pub pullrequest_id: i64,
    /// The pull request's `updated_on` when it was read (replication key).
    #[serde(skip_deserializing)]
    #[schemars(with = "Option<Timestamp>")]
    pub pullrequest_updated_on: Option<String>,
    /// The commit, as the API sends it (`hash` is the key).
    #[serde(flatten)]
    pub commit: Commit<'a>,
}

impl<'a> From<Commit<'a>> for PullRequestCommitRecord<'a> {
    fn from(commit: Commit<'a>) -> Self {
        PullRequestCommitRecord {
            workspace_slug: String::new(),
            repository_slug: String::new(),
            repository_uuid: String::new(),
            pullrequest_id: 0,
            pullrequest_updated_on: None,
            commit,
        }
    }
}

/// A file as a diffstat names it.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct CommitFile<'a> {
    /// `commit_file`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The path from the repository root.
    pub path: Option<Text<'a>>,
    /// The path, escaped.
    pub escaped_path: Option<Text<'a>>,
    /// Its attributes (`binary`, `lfs`, …): why a binary file counts no lines.
    pub attributes: Option<Flags<'a>>,
    /// The commit it is read at.
    pub commit: Option<CommitRef<'a>>,
    /// Links.
    pub links: Option<Links<'a>>,
}

/// One changed file of a pull request (`GET …/pullrequests/{id}/diffstat`, which redirects to
/// the repository's `diffstat/{spec}`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct DiffstatRecord<'a> {
    /// The workspace of the repository it was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The repository it was read from.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// That repository's UUID (key).
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// The pull request id (key).
    #[serde(skip_deserializing)]
    pub pullrequest_id: i64,
    /// The pull request's `updated_on` when it was read (replication key).
    #[serde(skip_deserializing)]
    #[schemars(with = "Option<Timestamp>")]
    pub pullrequest_updated_on: Option<String>,
    /// The file's path (key): `new.path`, else `old.path` (a removed file).
    #[serde(skip_deserializing)]
    pub file_path: String,
    /// `diffstat`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// `added`, `removed`, `modified`, `renamed` (or a merge conflict's status).
    pub status: Option<Text<'a>>,
    /// Lines added.
    pub lines_added: Option<Int>,
    /// Lines removed.
    pub lines_removed: Option<Int>,
    /// The file before (absent when added).
    pub old: Option<CommitFile<'a>>,
    /// The file after (absent when removed).
    pub new: Option<CommitFile<'a>>,
}

/// A build status reported on a pull request's commits by any CI
/// (`GET …/pullrequests/{id}/statuses`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct StatusRecord<'a> {
    /// The workspace of the repository it was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The repository it was read from.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// That repository's UUID (key).
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// The pull request id (key).
    #[serde(skip_deserializing)]
    pub pullrequest_id: i64,
    /// The pull request's `updated_on` when it was read (replication key).
    #[serde(skip_deserializing)]
    #[schemars(with = "Option<Timestamp>")]
    pub pullrequest_updated_on: Option<String>,
    /// The commit the status is on (key), from `links.commit.href`.
    #[serde(skip_deserializing)]
    pub commit_hash: String,
    /// `build`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The reporter's key for the build (key).
    pub key: Text<'a>,
    /// The build's name.
    pub name: Option<Text<'a>>,
    /// The ref it built.
    pub refname: Option<Text<'a>>,
    /// Where the build is.
    pub url: Option<Text<'a>>,
    /// `SUCCESSFUL`, `FAILED`, `INPROGRESS` or `STOPPED`.
    pub state: Option<Text<'a>>,
    /// The description.
    pub description: Option<Text<'a>>,
    /// When it was reported.
    pub created_on: Option<Timestamp<'a>>,
    /// When it was last updated.
    pub updated_on: Option<Timestamp<'a>>,
    /// Links (`self`, `commit`).
    pub links: Option<Links<'a>>,
}

impl StatusRecord<'_> {
    /// The commit hash: the last segment of `links.commit.href`.
    fn commit_of_links(&self) -> String {
        #[derive(Deserialize)]
        struct Href {
            href: Option<String>,
        }
        #[derive(Deserialize)]
        struct StatusLinks {
            commit: Option<Href>,
        }
        self.links
            .as_ref()
            .and_then(|links| serde_json::from_str::<StatusLinks>(links.json()).ok())
            .and_then(|links| links.commit?.href)
            .and_then(|href| {
                let path = href.split(['?', '#']).next()?.trim_end_matches('/');
                path.rsplit('/').next().map(str::to_string)
            })
            .unwrap_or_default()
    }
}

/// A task of a pull request (`GET …/pullrequests/{id}/tasks`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct TaskRecord<'a> {
    /// The workspace of the repository it was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The repository it was read from.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// That repository's UUID (key).
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// The pull request id (key).
    #[serde(skip_deserializing)]
    pub pullrequest_id: i64,
    /// The pull request's `updated_on` when it was read (replication key).
    #[serde(skip_deserializing)]
    #[schemars(with = "Option<Timestamp>")]
    pub pullrequest_updated_on: Option<String>,
    /// The task id (key).
    pub id: Int,
    /// `RESOLVED` or `UNRESOLVED`.
    pub state: Option<Text<'a>>,
    /// The task's text.
    pub content: Option<RenderedText<'a>>,
    /// Who created it.
    pub creator: Option<Account<'a>>,
    /// When it was created.
    pub created_on: Option<Timestamp<'a>>,
    /// When it was last updated.
    pub updated_on: Option<Timestamp<'a>>,
    /// When it was resolved.
    pub resolved_on: Option<Timestamp<'a>>,
    /// Who resolved it.
    pub resolved_by: Option<Account<'a>>,
    /// Whether it is pending (part of an unsubmitted review).
    pub pending: Option<bool>,
    /// The comment it was created from, if any.
    pub comment: Option<CommentRef<'a>>,
    /// Links.
    pub links: Option<Links<'a>>,
}

pullrequest_keys!(PullRequestCommitRecord, DiffstatRecord, StatusRecord, TaskRecord);
super::borrowing!(
    PullRequestCommits => PullRequestCommitRecord,
    Diffstats => DiffstatRecord,
    Statuses => StatusRecord,
    Tasks => TaskRecord,
);

/// A child stream: its definition, and how to read it for one pull request.
const fn child(
    name: &'static str,
    key_properties: &'static [&'static str],
    schema: fn() -> serde_json::Value,
) -> StreamDef {
    StreamDef {
        name,
        key_properties,
        replication_key: Some(REPLICATION_KEY),
        selected_by_default: false,
        scope: Scope::Repository,
        schema,
        read: super::pullrequests::READ_FAMILY,
        family: Some("pullrequests"),
    }
}

/// The replication key of every child: the parent's `updated_on`.
pub const REPLICATION_KEY: &str = "pullrequest_updated_on";

/// `pullrequest_commits`: `…/pullrequests/{id}/commits` per changed pull request.
pub const PULLREQUEST_COMMITS: StreamDef = child(
    "pullrequest_commits",
    &["repository_uuid", "pullrequest_id", "hash"],
    record_schema::<PullRequestCommitRecord>,
);

/// `pullrequest_diffstat`: `…/pullrequests/{id}/diffstat` per changed pull request.
pub const PULLREQUEST_DIFFSTAT: StreamDef = child(
    "pullrequest_diffstat",
    &["repository_uuid", "pullrequest_id", "file_path"],
    record_schema::<DiffstatRecord>,
);

/// `pullrequest_statuses`: `…/pullrequests/{id}/statuses` per changed pull request.
pub const PULLREQUEST_STATUSES: StreamDef = child(
    "pullrequest_statuses",
    &["repository_uuid", "pullrequest_id", "commit_hash", "key"],
    record_schema::<StatusRecord>,
);

/// `pullrequest_tasks`: `…/pullrequests/{id}/tasks` per changed pull request.
pub const PULLREQUEST_TASKS: StreamDef = child(
    "pullrequest_tasks",
    &["repository_uuid", "pullrequest_id", "id"],
    record_schema::<TaskRecord>,
);

/// Reads the children of a partition's pull requests, remembering what it learnt about
/// their endpoints.
#[derive(Debug, Default)]
pub struct Children {
    /// Child streams whose endpoint refused the `pagelen` asked for: asked without it since.
    pagelen_refused: Vec<&'static str>,
}

impl Children {
    /// Reads the children of `pr` for the selected child stream `out`.
    pub async fn read(
        &mut self,
        run: &PartitionRun,
        out: &StreamRun,
        repo: &RepositoryInfo,
        pr: &Changed,
    ) -> Result<(), StreamError> {
        let read = match out.name {
            "pullrequest_commits" => {
                self.read_one::<PullRequestCommits, _>(run, out, repo, pr, "commits", MAX_PAGELEN, |_| {})
                    .await
            }
            "pullrequest_diffstat" => {
                self.read_one::<Diffstats, _>(run, out, repo, pr, "diffstat", MAX_DIFFSTAT_PAGELEN, |d| {
                    d.file_path = d
                        .new
                        .as_ref()
                        .and_then(|f| f.path)
                        .or(d.old.as_ref().and_then(|f| f.path))
                        .map(|p| p.to_string())
                        .unwrap_or_default();
                })
                .await
            }
            "pullrequest_statuses" => {
                self.read_one::<Statuses, _>(run, out, repo, pr, "statuses", MAX_PAGELEN, |s| {
                    s.commit_hash = s.commit_of_links();
                })
                .await
            }
            "pullrequest_tasks" => {
                self.read_one::<Tasks, _>(run, out, repo, pr, "tasks", MAX_PAGELEN, |_| {})
                    .await
            }
            other => {
                return Err(StreamError::Internal(format!(
                    "`{other}` is not a pull-request child stream"
                )))
            }
        };
        // A diffstat too large to compute (555, or no answer in time) will not come on a
        // retry either; any other child's failure stops the partition, so that its bookmark
        // does not pass a pull request whose children were not read.
        let too_large = |e: &crate::bitbucket::ApiError| {
            out.name == "pullrequest_diffstat" && (e.status() == Some(555) || e.is_timeout())
        };
        match read {
            Err(StreamError::Api(e)) if e.status() == Some(404) || too_large(&e) => {
                tracing::warn!(
                    stream = out.name,
                    partition = %run.context.label(),
                    pullrequest = pr.id.0,
                    "Skipping `{}` of pull request #{} of {}/{}: {} ({e}).",
                    out.name,
                    pr.id,
                    repo.workspace,
                    repo.slug,
                    if e.status() == Some(404) {
                        "Bitbucket no longer finds it (its source fork or branch may be deleted)"
                    } else {
                        "Bitbucket could not compute it in time (too large)"
                    }
                );
                Ok(())
            }
            other => other,
        }
    }

    /// Reads `…/pullrequests/{id}/<tail>` into `out`, keying each record.
    #[allow(clippy::too_many_arguments)]
    async fn read_one<T, F>(
        &mut self,
        run: &PartitionRun,
        out: &StreamRun,
        repo: &RepositoryInfo,
        pr: &Changed,
        tail: &str,
        max_pagelen: u32,
        mut prepare: F,
    ) -> Result<(), StreamError>
    where
        T: Borrowing,
        for<'b> T::Of<'b>: PullRequestKeys,
        F: for<'b> FnMut(&mut T::Of<'b>),
    {
        let id = pr.id.to_string();
        let mut url = run.client.url(&[
            "repositories",
            &repo.workspace,
            &repo.slug,
            "pullrequests",
            &id,
            tail,
        ]);
        if !self.pagelen_refused.contains(&out.name) {
            url.query_pairs_mut()
                .append_pair("pagelen", &run.pagelen(max_pagelen));
        }
        let done = read_all::<T, _>(run, out, url, |record| {
            record.set_pullrequest_keys(repo, pr);
            prepare(record);
        })
        .await?;
        if done.pagelen_refused {
            self.pagelen_refused.push(out.name);
        }
        Ok(())
    }
}
