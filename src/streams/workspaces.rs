//! Workspace-level streams: `workspaces` (legacy "List Team Details") and
//! `workspace_members` (legacy "List Team Members" and "List Users").

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::paged::read_all;
use super::{
    Account, Links, Partition, PartitionRun, Scope, StreamDef, StreamError, Timestamp, WorkspaceRef,
};
use crate::bitbucket::MAX_PAGELEN;
use crate::singer::record_schema;

/// A workspace (`GET /workspaces/{workspace}`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct WorkspaceRecord {
    /// The workspace this record was read for.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// `workspace`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The workspace UUID (key).
    pub uuid: String,
    /// The workspace name.
    pub name: Option<String>,
    /// The workspace slug.
    pub slug: Option<String>,
    /// Whether the workspace is private.
    pub is_private: Option<bool>,
    /// Whether privacy is enforced on its repositories.
    pub is_privacy_enforced: Option<bool>,
    /// `allow_forks` or `internal_only`.
    pub forking_mode: Option<String>,
    /// When the workspace was created.
    pub created_on: Option<Timestamp>,
    /// When the workspace was last updated.
    pub updated_on: Option<Timestamp>,
    /// Links.
    pub links: Option<Links>,
}

/// A workspace member (`GET /workspaces/{workspace}/members`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct WorkspaceMemberRecord {
    /// The workspace this record was read for.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The member's UUID, copied from `user.uuid` (key).
    #[serde(skip_deserializing)]
    pub user_uuid: String,
    /// `workspace_membership`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The member.
    pub user: Option<Account>,
    /// The workspace.
    pub workspace: Option<WorkspaceRef>,
    /// `owner`, `collaborator` or `member` (workspaces administered at admin.atlassian.com
    /// omit it).
    pub permission: Option<String>,
    /// When the member was added.
    pub added_on: Option<Timestamp>,
    /// When the member last accessed the workspace.
    pub last_accessed: Option<Timestamp>,
    /// Links.
    pub links: Option<Links>,
}

/// `workspaces`: one record per workspace.
pub const WORKSPACES: StreamDef = StreamDef {
    name: "workspaces",
    key_properties: &["uuid"],
    replication_key: None,
    selected_by_default: true,
    scope: Scope::Workspace,
    schema: record_schema::<WorkspaceRecord>,
    read: |run| Box::pin(read_workspace(run)),
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
};

async fn read_workspace(run: PartitionRun) -> Result<(), StreamError> {
    let Partition::Workspace(ws) = &run.partition else {
        return Err(StreamError::Internal(
            "`workspaces` needs a workspace partition".into(),
        ));
    };
    let mut record: WorkspaceRecord = match &ws.object {
        // The listing already fetched this object: no second request.
        Some(object) => {
            WorkspaceRecord::deserialize(object.as_ref()).map_err(|e| crate::bitbucket::ApiError::Data {
                endpoint: format!("/workspaces/{}", ws.slug),
                path: String::new(),
                reason: e.to_string(),
            })?
        }
        None => {
            let url = run.client.url(&["workspaces", &ws.slug]);
            run.client.get_json(&url).await?
        }
    };
    record.workspace_slug = ws.slug.clone();
    run.emitter.records(&[record]).await?;
    Ok(())
}

async fn read_members(run: PartitionRun) -> Result<(), StreamError> {
    let slug = run.workspace().to_string();
    let mut url = run.client.url(&["workspaces", &slug, "members"]);
    url.query_pairs_mut()
        .append_pair("pagelen", &run.pagelen(MAX_PAGELEN));
    read_all(&run, url, |m: &mut WorkspaceMemberRecord| {
        m.workspace_slug = slug.clone();
        m.user_uuid = m
            .user
            .as_ref()
            .and_then(|u| u.uuid.clone().or_else(|| u.account_id.clone()))
            .unwrap_or_default();
    })
    .await?;
    Ok(())
}
