//! Who may do what in each repository: `repository_permissions` (legacy "List Repository
//! Privileges": every user's effective permission) and `group_permissions` (legacy "List
//! Group Privileges on a Repository": the explicit group grants). Both need a repository
//! admin's user credential; access tokens cannot read permissions at all, and the partition is
//! then skipped with a warning (see `crate::sync`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::paged::read_all;
use super::{
    Account, Group, Links, PartitionRun, RepositoryKeys, RepositoryRef, Scope, StreamDef, StreamError, Text,
};
use crate::bitbucket::{decode_text, MAX_PAGELEN};
use crate::singer::record_schema;

/// A user's effective permission on a repository
/// (`GET /workspaces/{workspace}/permissions/repositories/{repo}`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RepositoryPermissionRecord<'a> {
    /// The workspace of the repository it was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The repository it was read from.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// That repository's UUID (key).
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// The user's UUID, copied from `user.uuid` (key).
    #[serde(skip_deserializing)]
    pub user_uuid: String,
    /// `repository_permission`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// `admin`, `write`, `read` or `none`.
    pub permission: Option<Text<'a>>,
    /// The user.
    pub user: Option<Account<'a>>,
    /// The repository.
    pub repository: Option<RepositoryRef<'a>>,
    /// Links.
    pub links: Option<Links<'a>>,
}

super::repository_keys!(RepositoryPermissionRecord);
super::borrowing!(RepositoryPermissions => RepositoryPermissionRecord);

/// A group's explicit permission on a repository
/// (`GET /repositories/{workspace}/{repo}/permissions-config/groups[/{group}]`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct GroupPermissionRecord<'a> {
    /// The workspace of the repository it was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The repository it was read from.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// That repository's UUID (key).
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// The group's slug, copied from `group.slug` (key).
    #[serde(skip_deserializing)]
    pub group_slug: String,
    /// `repository_group_permission`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// `admin`, `write`, `read` or `none`.
    pub permission: Option<Text<'a>>,
    /// The group.
    pub group: Option<Group<'a>>,
    /// The repository.
    pub repository: Option<RepositoryRef<'a>>,
    /// Links.
    pub links: Option<Links<'a>>,
}

super::repository_keys!(GroupPermissionRecord);
super::borrowing!(GroupPermissions => GroupPermissionRecord);

impl GroupPermissionRecord<'_> {
    /// The group's slug: `group.slug`, else the part of `group.full_slug` after the colon,
    /// else `fallback` (the slug the record was requested by).
    fn slug_of_group(&self, fallback: &str) -> String {
        let group = self.group.as_ref();
        group
            .and_then(|g| g.slug)
            .map(|slug| slug.to_string())
            .or_else(|| {
                let full_slug = group.and_then(|g| g.full_slug)?.to_str();
                full_slug.split_once(':').map(|(_, slug)| slug.to_string())
            })
            .unwrap_or_else(|| fallback.to_string())
    }
}

/// `repository_permissions`: FULL_TABLE, one partition per repository; needs repository admin
/// and a user credential.
pub const REPOSITORY_PERMISSIONS: StreamDef = StreamDef {
    name: "repository_permissions",
    key_properties: &["repository_uuid", "user_uuid"],
    replication_key: None,
    selected_by_default: true,
    scope: Scope::Repository,
    schema: record_schema::<RepositoryPermissionRecord>,
    read: |run| Box::pin(read_repository_permissions(run)),
    family: None,
};

/// `group_permissions`: FULL_TABLE, one partition per repository; needs repository admin and
/// a user credential.
pub const GROUP_PERMISSIONS: StreamDef = StreamDef {
    name: "group_permissions",
    key_properties: &["repository_uuid", "group_slug"],
    replication_key: None,
    selected_by_default: true,
    scope: Scope::Repository,
    schema: record_schema::<GroupPermissionRecord>,
    read: |run| Box::pin(read_group_permissions(run)),
    family: None,
};

async fn read_repository_permissions(run: PartitionRun) -> Result<(), StreamError> {
    let repo = run.repository()?.clone();
    let mut url = run.client.url(&[
        "workspaces",
        &repo.workspace,
        "permissions",
        "repositories",
        &repo.slug,
    ]);
    url.query_pairs_mut()
        .append_pair("pagelen", &run.pagelen(MAX_PAGELEN));
    read_all::<RepositoryPermissions, _>(&run, run.out(), url, |p| {
        p.set_repository_keys(&repo);
        p.user_uuid = p
            .user
            .as_ref()
            .and_then(|u| u.uuid.or(u.account_id))
            .map(|id| id.to_string())
            .unwrap_or_default();
    })
    .await?;
    Ok(())
}

/// Every group grant in one listing, or, with `group_slugs` configured, one request per
/// group, where a 404 means the group has no grant on this repository (nothing to emit).
async fn read_group_permissions(run: PartitionRun) -> Result<(), StreamError> {
    let repo = run.repository()?.clone();
    let base = [
        "repositories",
        &repo.workspace,
        &repo.slug,
        "permissions-config",
        "groups",
    ];
    if run.settings.group_slugs.is_empty() {
        let mut url = run.client.url(&base);
        url.query_pairs_mut()
            .append_pair("pagelen", &run.pagelen(MAX_PAGELEN));
        read_all::<GroupPermissions, _>(&run, run.out(), url, |p| {
            p.set_repository_keys(&repo);
            p.group_slug = p.slug_of_group("");
        })
        .await?;
        return Ok(());
    }
    for slug in &run.settings.group_slugs {
        let mut segments = base.to_vec();
        segments.push(slug);
        let url = run.client.url(&segments);
        let grant = run
            .client
            .get_with(&url, |text| {
                let mut record: GroupPermissionRecord<'_> = decode_text(url.path(), text)?;
                record.set_repository_keys(&repo);
                record.group_slug = record.slug_of_group(slug);
                Ok(run.out().emitter.render(&[record]))
            })
            .await;
        match grant {
            Ok(rendered) => run.out().emitter.send_page(rendered?).await?,
            Err(e) if e.status() == Some(404) => tracing::debug!(
                stream = "group_permissions",
                repository = %format!("{}/{}", repo.workspace, repo.slug),
                group = %slug,
                "Group `{slug}` has no grant on {}/{} ({e}).",
                repo.workspace,
                repo.slug
            ),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
