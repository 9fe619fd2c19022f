//! Workspace-level streams: `workspaces` (legacy "List Team Details") and
//! `workspace_members` (legacy "List Team Members" and "List Users").

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::paged::read_all;
use super::{
    Account, Links, Partition, PartitionRun, Scope, StreamDef, StreamError, Text, Timestamp, WorkspaceRef,
};
use crate::bitbucket::{decode_text, MAX_PAGELEN};
use crate::singer::record_schema;

/// A workspace (`GET /workspaces/{workspace}`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct WorkspaceRecord<'a> {
    /// The workspace this record was read for.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// `workspace`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The workspace UUID (key).
    pub uuid: Text<'a>,
    /// The workspace name.
    pub name: Option<Text<'a>>,
    /// The workspace slug.
    pub slug: Option<Text<'a>>,
    /// Whether the workspace is private.
    pub is_private: Option<bool>,
    /// Whether privacy is enforced on its repositories.
    pub is_privacy_enforced: Option<bool>,
    /// `allow_forks` or `internal_only`.
    pub forking_mode: Option<Text<'a>>,
    /// When the workspace was created.
    pub created_on: Option<Timestamp<'a>>,
    /// When the workspace was last updated.
    pub updated_on: Option<Timestamp<'a>>,
    /// Links.
    pub links: Option<Links<'a>>,
}

/// A workspace member (`GET /workspaces/{workspace}/members`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct WorkspaceMemberRecord<'a> {
    /// The workspace this record was read for.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The member's UUID, copied from `user.uuid` (key).
    #[serde(skip_deserializing)]
    pub user_uuid: String,
    /// `workspace_membership`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The member.
    pub user: Option<Account<'a>>,
    /// The workspace.
    pub workspace: Option<WorkspaceRef<'a>>,
    /// `owner`, `collaborator` or `member` (workspaces administered at admin.atlassian.com
    /// omit it).
    pub permission: Option<Text<'a>>,
    /// When the member was added.
    pub added_on: Option<Timestamp<'a>>,
    /// When the member last accessed the workspace.
    pub last_accessed: Option<Timestamp<'a>>,
    /// Links.
    pub links: Option<Links<'a>>,
}

super::borrowing!(WorkspaceMembers => WorkspaceMemberRecord);

/// `workspaces`: one record per workspace.
pub const WORKSPACES: StreamDef = StreamDef {
    name: "workspaces",
    key_properties: &["uuid"],
    replication_key: None,
    selected_by_default: true,
    scope: Scope::Workspace,
    schema: record_schema::<WorkspaceRecord>,
    read: |run| Box::pin(read_workspace(run)),
    family: None,
};

/// `workspace_members`: every member of each workspace.
pub const WORKSPACE_MEMBERS: StreamDef = StreamDef {
    name: "workspace_members",
    key_properties: &["workspace_slug", "user_uuid"],
    replication_key: None,
    selected_by_default: true,
    scope: Scope::Workspace,
    schema: record_schema::<WorkspaceMemberRecord>,
    read: |run| Box::pin(read_members(run)),
    family: None,
};

async fn read_workspace(run: PartitionRun) -> Result<(), StreamError> {
    let Partition::Workspace(ws) = &run.partition else {
        return Err(StreamError::Internal(
            "`workspaces` needs a workspace partition".into(),
        ));
    };
    let render = |endpoint: &str, text: &str| {
        let mut record: WorkspaceRecord<'_> = decode_text(endpoint, text)?;
        record.workspace_slug = ws.slug.clone();
        Ok(run.out().emitter.render(&[record]))
    };
    let rendered = match &ws.object {
        // The listing already fetched this object: no second request.
        Some(object) => render(&format!("/workspaces/{}", ws.slug), &object.to_string())?,
        None => {
            let url = run.client.url(&["workspaces", &ws.slug]);
            run.client.get_with(&url, |text| render(url.path(), text)).await?
        }
    }?;
    run.out().emitter.send_page(rendered).await?;
    Ok(())
}

async fn read_members(run: PartitionRun) -> Result<(), StreamError> {
    let slug = run.workspace().to_string();
    let mut url = run.client.url(&["workspaces", &slug, "members"]);
    url.query_pairs_mut()
        .append_pair("pagelen", &run.pagelen(MAX_PAGELEN));
    read_all::<WorkspaceMembers, _>(&run, run.out(), url, |m| {
        m.workspace_slug = slug.clone();
        m.user_uuid = m
            .user
            .as_ref()
            .and_then(|u| u.uuid.or(u.account_id))
            .map(|id| id.to_string())
            .unwrap_or_default();
    })
    .await?;
    Ok(())
}
