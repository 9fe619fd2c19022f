//! The people and copies around a repository: `forks` (legacy "List Forks on a Repository")
//! and `watchers` (legacy "List Watchers on a Repository", which also stands in for the removed
//! follower reports).
//!
//! Both records are an API object (a repository, a user) with the parent keys beside it. They
//! are read as that object (`serde(from)`), so a bad value is reported at its JSON path, and
//! written flat.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::paged::read_repository_collection;
use super::{PartitionRun, Repository, Scope, StreamDef, StreamError, User};
use crate::singer::record_schema;

/// A fork (`GET /repositories/{workspace}/{repo}/forks`): the fork's repository object, with
/// the parent keys naming the repository it was forked from.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(from = "Repository<'a>")]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct ForkRecord<'a> {
    /// The workspace of the parent repository (the one the fork list was read from).
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The parent repository's slug.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// The parent repository's UUID.
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// The fork, as the API sends it (its `uuid` is the key).
    #[serde(flatten)]
    pub fork: Repository<'a>,
}

impl<'a> From<Repository<'a>> for ForkRecord<'a> {
    fn from(fork: Repository<'a>) -> Self {
        ForkRecord {
            workspace_slug: String::new(),
            repository_slug: String::new(),
            repository_uuid: String::new(),
            fork,
        }
    }
}

super::repository_keys!(ForkRecord);
super::borrowing!(Forks => ForkRecord);

/// A watcher (`GET /repositories/{workspace}/{repo}/watchers`): the account, with the keys of
/// the repository it watches.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(from = "User<'a>")]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct WatcherRecord<'a> {
    /// The workspace of the watched repository.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The watched repository's slug.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// The watched repository's UUID (key, with the watcher's `uuid`).
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// The watcher, as the API sends it.
    #[serde(flatten)]
    pub watcher: User<'a>,
}

impl<'a> From<User<'a>> for WatcherRecord<'a> {
    fn from(watcher: User<'a>) -> Self {
        WatcherRecord {
            workspace_slug: String::new(),
            repository_slug: String::new(),
            repository_uuid: String::new(),
            watcher,
        }
    }
}

super::repository_keys!(WatcherRecord);
super::borrowing!(Watchers => WatcherRecord);

/// `forks`: FULL_TABLE, one partition per (parent) repository.
pub const FORKS: StreamDef = StreamDef {
    name: "forks",
    key_properties: &["uuid"],
    replication_key: None,
    selected_by_default: true,
    scope: Scope::Repository,
    schema: record_schema::<ForkRecord>,
    read: |run| Box::pin(read_forks(run)),
    family: None,
};

/// `watchers`: FULL_TABLE, one partition per repository.
pub const WATCHERS: StreamDef = StreamDef {
    name: "watchers",
    key_properties: &["repository_uuid", "uuid"],
    replication_key: None,
    selected_by_default: true,
    scope: Scope::Repository,
    schema: record_schema::<WatcherRecord>,
    read: |run| Box::pin(read_watchers(run)),
    family: None,
};

async fn read_forks(run: PartitionRun) -> Result<(), StreamError> {
    read_repository_collection::<Forks>(&run, &["forks"]).await?;
    Ok(())
}

async fn read_watchers(run: PartitionRun) -> Result<(), StreamError> {
    read_repository_collection::<Watchers>(&run, &["watchers"]).await?;
    Ok(())
}
