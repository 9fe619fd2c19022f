//! API object shapes shared by several streams (accounts, condensed repositories, branches,
//! commits, links), typed leniently: every field the API may omit or null is optional, and
//! fields we do not know are dropped.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

pub use crate::singer::Timestamp;

/// A `links` object: link names to `{href, name}` (or arrays of them, as `clone`).
pub type Links = Map<String, Value>;

/// A user, team or app user, as embedded in other objects.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Account {
    /// `user`, `team` or `app_user`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The account UUID, in braces.
    pub uuid: Option<String>,
    /// The Atlassian account id (absent for some non-human actors).
    pub account_id: Option<String>,
    /// The display name.
    pub display_name: Option<String>,
    /// The nickname.
    pub nickname: Option<String>,
    /// The user name (teams and workspaces still carry one; users no longer do).
    pub username: Option<String>,
    /// Account status (`active`), on full objects.
    pub account_status: Option<String>,
    /// When the account was created (omitted for private profiles).
    pub created_on: Option<Timestamp>,
    /// Whether two-factor authentication is on (often null).
    pub has_2fa_enabled: Option<bool>,
    /// Whether the account is Atlassian staff.
    pub is_staff: Option<bool>,
    /// The profile's location.
    pub location: Option<String>,
    /// The profile's website.
    pub website: Option<String>,
    /// Links (`self`, `html`, `avatar`).
    pub links: Option<Links>,
}

/// A condensed workspace, as embedded in repositories and memberships.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct WorkspaceRef {
    /// `workspace` (or `workspace_base`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The workspace UUID.
    pub uuid: Option<String>,
    /// The workspace slug.
    pub slug: Option<String>,
    /// The workspace name.
    pub name: Option<String>,
    /// Links.
    pub links: Option<Links>,
}

/// A condensed project.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ProjectRef {
    /// `project`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The project key.
    pub key: Option<String>,
    /// The project UUID.
    pub uuid: Option<String>,
    /// The project name.
    pub name: Option<String>,
    /// Links.
    pub links: Option<Links>,
}

/// A condensed repository, as embedded in pull requests, forks and commits.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct RepositoryRef {
    /// `repository`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The repository UUID.
    pub uuid: Option<String>,
    /// `workspace/slug`.
    pub full_name: Option<String>,
    /// The repository name.
    pub name: Option<String>,
    /// Links.
    pub links: Option<Links>,
}

/// A branch reference.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct BranchRef {
    /// `branch`, when present.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The branch name.
    pub name: Option<String>,
    /// Merge strategies allowed (pull request endpoints).
    pub merge_strategies: Option<Vec<String>>,
    /// The default merge strategy (pull request endpoints).
    pub default_merge_strategy: Option<String>,
}

/// A commit reference (hash and links).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct CommitRef {
    /// `commit`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The hash (12 characters in list views, 40 elsewhere).
    pub hash: Option<String>,
    /// Links.
    pub links: Option<Links>,
}

/// Rendered text: the raw markup and its HTML.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct RenderedText {
    /// `rendered`, when present.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The raw text.
    pub raw: Option<String>,
    /// The markup language (`markdown`, `creole`, `plaintext`).
    pub markup: Option<String>,
    /// The rendered HTML.
    pub html: Option<String>,
}
