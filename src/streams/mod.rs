//! The streams: one record type and one reader per legacy report, and [`REGISTRY`], the single
//! list that discovery, schema generation, selection and sync all read.
//!
//! Adding a stream means: a record type deriving `Serialize`, `Deserialize` and `JsonSchema`
//! (in the file of its resource family; its strings are [`Text`] borrowed from the page body,
//! declared to readers with [`borrowing!`]), one [`StreamDef`] entry below, and its generated
//! `schemas/<stream>.json` (`UPDATE_SCHEMAS=1 cargo test`).

mod activity;
mod commits;
mod common;
mod deployments;
mod issues;
mod keyset;
mod newest_first;
mod paged;
mod permissions;
mod pipelines;
mod public;
mod pullrequest_children;
mod pullrequests;
mod refs;
mod repositories;
mod restrictions;
mod social;
mod source;
mod users;
mod workspaces;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::bitbucket::{ApiError, Client};
use crate::config::Settings;
use crate::singer::{Context, Emitter, StreamDescription, WriteError};
use crate::window::Window;

pub use common::*;
/// The guard against listings that never end, for the listings of workspaces and
/// repositories too.
pub use paged::{hash_of, Followed};
/// The record types, reachable for tests that decode pages of them (`tests/it/fuzz.rs`).
pub use pullrequests::PullRequestRecord;
pub use repositories::RepositoryRecord;
pub use workspaces::{WorkspaceMemberRecord, WorkspaceRecord};

/// Every stream, in sync order: workspace-level streams first, then repository-level ones
/// (so the repository listing they share is made once, and a repository found closed to the
/// credential by an early stream is not requested by later ones), then the streams read once
/// per run (user-level ones and the global public list).
pub static REGISTRY: &[StreamDef] = &[
    workspaces::WORKSPACES,
    workspaces::WORKSPACE_MEMBERS,
    repositories::REPOSITORIES,
    pullrequests::PULLREQUESTS,
    pullrequest_children::PULLREQUEST_COMMITS,
    pullrequest_children::PULLREQUEST_DIFFSTAT,
    pullrequest_children::PULLREQUEST_STATUSES,
    pullrequest_children::PULLREQUEST_TASKS,
    activity::PULLREQUEST_ACTIVITY,
    activity::PULLREQUEST_COMMENTS,
    commits::COMMITS,
    refs::BRANCHES,
    refs::TAGS,
    source::DIRECTORY_CONTENTS,
    restrictions::BRANCH_RESTRICTIONS,
    social::FORKS,
    social::WATCHERS,
    permissions::REPOSITORY_PERMISSIONS,
    permissions::GROUP_PERMISSIONS,
    deployments::ENVIRONMENTS,
    pipelines::PIPELINES,
    pipelines::PIPELINE_STEPS,
    deployments::DEPLOYMENTS,
    issues::ISSUE_COMPONENTS,
    issues::ISSUE_VERSIONS,
    issues::ISSUE_MILESTONES,
    users::USERS,
    users::ACCOUNT_EMAILS,
    public::PUBLIC_REPOSITORIES,
];

/// What a stream's partitions are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One partition per workspace.
    Workspace,
    /// One partition per repository.
    Repository,
    /// One partition with an empty context, read once per run: streams that belong to no
    /// workspace (the authenticated user's `users` and `account_emails`, the global
    /// `public_repositories` list).
    Global,
}

/// How a stream's reader is called: once per partition.
pub type ReadFn = fn(PartitionRun) -> Pin<Box<dyn Future<Output = Result<(), StreamError>> + Send>>;

/// One stream: its protocol description and its reader.
#[derive(Debug)]
pub struct StreamDef {
    /// The stream name.
    pub name: &'static str,
    /// The primary key.
    pub key_properties: &'static [&'static str],
    /// The replication key (INCREMENTAL), or none (FULL_TABLE).
    pub replication_key: Option<&'static str>,
    /// Whether a sync without a catalog includes it.
    pub selected_by_default: bool,
    /// What the partitions are.
    pub scope: Scope,
    /// The record JSON Schema, generated from the record type.
    pub schema: fn() -> Value,
    /// Reads one partition, for this stream and every other selected stream of its family.
    pub read: ReadFn,
    /// The stream that leads this one's family, when it has one: streams of one family share
    /// their listing, so they are read together, in one pass per partition, by the lead's
    /// reader (pull-request children with `pullrequests`, `pullrequest_comments` with the
    /// activity feed, `pipeline_steps` with `pipelines`). `None`: the stream is its own family.
    pub family: Option<&'static str>,
}

impl StreamDef {
    /// The name of the stream leading this one's family (its own name when it leads, or reads
    /// alone).
    pub fn family(&self) -> &'static str {
        self.family.unwrap_or(self.name)
    }

    /// The stream as the Singer layer sees it.
    pub fn description(&self) -> StreamDescription {
        StreamDescription {
            name: self.name,
            key_properties: self.key_properties,
            replication_key: self.replication_key,
            selected_by_default: self.selected_by_default,
            schema: (self.schema)(),
        }
    }
}

/// The descriptions of every stream, in registry order.
pub fn descriptions() -> Vec<StreamDescription> {
    REGISTRY.iter().map(StreamDef::description).collect()
}

/// The names of every stream.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|s| s.name).collect()
}

/// A stream by name.
pub fn find(name: &str) -> Option<&'static StreamDef> {
    REGISTRY.iter().find(|s| s.name == name)
}

/// A workspace the run reads.
#[derive(Debug, Clone)]
pub struct WorkspaceInfo {
    /// The slug.
    pub slug: String,
    /// The workspace object, when the listing already fetched it.
    pub object: Option<Arc<Value>>,
}

/// A repository the run reads.
#[derive(Debug, Clone)]
pub struct RepositoryInfo {
    /// The workspace slug.
    pub workspace: String,
    /// The repository slug.
    pub slug: String,
    /// The repository UUID, in braces.
    pub uuid: String,
    /// The main branch, when the repository has one.
    pub mainbranch: Option<String>,
}

/// What a partition is about.
#[derive(Debug, Clone)]
pub enum Partition {
    /// A workspace.
    Workspace(WorkspaceInfo),
    /// A repository.
    Repository(RepositoryInfo),
    /// The one partition of a [`Scope::Global`] stream.
    Global,
}

impl Partition {
    /// The state context: `{"workspace": …}`, `{"workspace": …, "repository": …}`, or empty
    /// (a global stream, whose bookmark is unpartitioned).
    pub fn context(&self) -> Context {
        match self {
            Partition::Workspace(ws) => Context::new().with("workspace", &ws.slug),
            Partition::Repository(repo) => Context::new()
                .with("workspace", &repo.workspace)
                .with("repository", &repo.slug),
            Partition::Global => Context::new(),
        }
    }
}

/// Everything a reader needs for one partition: the partition, and each selected stream of
/// the family being read.
#[derive(Clone)]
pub struct PartitionRun {
    /// The shared API client.
    pub client: Arc<Client>,
    /// The settings.
    pub settings: Arc<Settings>,
    /// The partition.
    pub partition: Partition,
    /// Its state context.
    pub context: Context,
    /// The first selected stream of the family (in registry order).
    pub first: StreamRun,
    /// The other selected streams of the family, in registry order.
    pub rest: Vec<StreamRun>,
}

/// One selected stream within a partition's read: where its records go and what it may emit.
#[derive(Debug, Clone)]
pub struct StreamRun {
    /// The stream name.
    pub name: &'static str,
    /// Its window in this partition (ignored by FULL_TABLE streams).
    pub window: Window,
    /// Where its records and bookmarks go.
    pub emitter: Emitter,
    /// Its partition's state entry as the run started (bookmark, and kept fields such as
    /// `open`), empty when there was none.
    pub stored: Map<String, Value>,
}

impl StreamRun {
    /// Sends this stream's bookmark for the partition.
    pub async fn bookmark(
        &self,
        context: &Context,
        key: &'static str,
        value: String,
    ) -> Result<(), WriteError> {
        self.emitter.bookmark(context, key, value).await
    }
}

impl PartitionRun {
    /// The stream of a family of one (every reader but the family readers): the one selected.
    pub fn out(&self) -> &StreamRun {
        &self.first
    }

    /// The selected stream named `name`, if it is selected in this read.
    pub fn selected(&self, name: &str) -> Option<&StreamRun> {
        self.streams().find(|s| s.name == name)
    }

    /// Every selected stream of the family, in registry order.
    pub fn streams(&self) -> impl Iterator<Item = &StreamRun> {
        std::iter::once(&self.first).chain(&self.rest)
    }

    /// The page size for an endpoint whose maximum is `max`, capped by `page_size`.
    pub fn pagelen(&self, max: u32) -> String {
        self.settings.pagelen(max)
    }

    /// The workspace of this partition (empty for a global stream).
    pub fn workspace(&self) -> &str {
        match &self.partition {
            Partition::Workspace(ws) => &ws.slug,
            Partition::Repository(repo) => &repo.workspace,
            Partition::Global => "",
        }
    }

    /// The repository of this partition (repository-scoped streams only).
    pub fn repository(&self) -> Result<&RepositoryInfo, StreamError> {
        match &self.partition {
            Partition::Repository(repo) => Ok(repo),
            Partition::Workspace(_) | Partition::Global => Err(StreamError::Internal(format!(
                "stream `{}` needs a repository partition",
                self.first.name
            ))),
        }
    }
}

/// Why a partition's read stopped.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// A request failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Stdout could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A bug in the tap.
    #[error("{0}")]
    Internal(String),
}

/// Sets the parent keys of a repository-level record.
pub trait RepositoryKeys {
    /// Fills `workspace_slug`, `repository_slug` and `repository_uuid`.
    fn set_repository_keys(&mut self, repo: &RepositoryInfo);
}

/// Implements [`RepositoryKeys`] for record types with the three parent-key fields.
macro_rules! repository_keys {
    ($($record:ident),+ $(,)?) => {$(
        impl $crate::streams::RepositoryKeys for $record<'_> {
            fn set_repository_keys(&mut self, repo: &$crate::streams::RepositoryInfo) {
                self.workspace_slug.clone_from(&repo.workspace);
                self.repository_slug.clone_from(&repo.slug);
                self.repository_uuid.clone_from(&repo.uuid);
            }
        }
    )+};
}
pub(crate) use repository_keys;

/// A record type that borrows from the page body it is decoded from: `Self::Of<'b>` is the
/// record read from a body that lives for `'b`. Implemented by a marker type per record
/// type (see [`borrowing`]), so readers are generic over record types without naming a
/// lifetime, and a page's records are written out before its body is dropped.
pub trait Borrowing: 'static {
    /// The record type, borrowing from a body that lives for `'b`.
    type Of<'b>: serde::Deserialize<'b> + serde::Serialize;
}

/// Declares a marker type implementing [`Borrowing`] for a record type with one lifetime
/// parameter: `borrowing!(Forks => ForkRecord)`.
macro_rules! borrowing {
    ($($marker:ident => $record:ident),+ $(,)?) => {$(
        #[doc = concat!("[`", stringify!($record), "`], for the generic readers.")]
        pub struct $marker;

        impl $crate::streams::Borrowing for $marker {
            type Of<'b> = $record<'b>;
        }
    )+};
}
pub(crate) use borrowing;
