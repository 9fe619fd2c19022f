//! API object shapes shared by several streams (accounts and users, groups, full and condensed
//! repositories, branches, commits, links), typed leniently: every field the API may omit or
//! null is optional, and fields we do not know are dropped.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

pub use crate::singer::Timestamp;

/// A `links` object: link names to `{href, name}` (or arrays of them, as `clone`), passed
/// through exactly as the API sent it. The tap never reads links, so they stay JSON text
/// instead of a tree of maps and strings (links are most of a pull request's bytes). Still
/// checked: anything but an object is an error naming its path; line breaks are removed
/// (a RECORD is one line).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Links(Box<serde_json::value::RawValue>);

impl<'de> Deserialize<'de> for Links {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        if !raw.get().starts_with('{') {
            return Err(D::Error::invalid_type(
                serde::de::Unexpected::Other("not an object"),
                &"an object of links",
            ));
        }
        if memchr::memchr2(b'\n', b'\r', raw.get().as_bytes()).is_some() {
            let value: Map<String, Value> = serde_json::from_str(raw.get()).map_err(D::Error::custom)?;
            return serde_json::value::to_raw_value(&value)
                .map(Links)
                .map_err(D::Error::custom);
        }
        Ok(Links(raw))
    }
}

impl JsonSchema for Links {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Links".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Map<String, Value>>::json_schema(generator)
    }
}

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

/// A user account as a resource of its own (`GET /user`, `GET /users/{account}`, the watcher
/// list): the fields of [`Account`], but with `uuid` required, because the records built from
/// it are keyed on it.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct User {
    /// `user`, `team` or `app_user`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The account UUID, in braces (key).
    pub uuid: String,
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
    /// The profile's location (omitted for private profiles).
    pub location: Option<String>,
    /// The profile's website (omitted for private profiles).
    pub website: Option<String>,
    /// Links (`self`, `html`, `avatar`).
    pub links: Option<Links>,
}

/// A user group of a workspace, as embedded in group permissions and branch restrictions.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Group {
    /// `group`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The group name.
    pub name: Option<String>,
    /// The group slug (ASCII form of the name, unique in its workspace).
    pub slug: Option<String>,
    /// `workspace:slug`.
    pub full_slug: Option<String>,
    /// The account owning the group (the workspace, for groups of current workspaces).
    pub owner: Option<Account>,
    /// The workspace of the group.
    pub workspace: Option<WorkspaceRef>,
    /// Links (`self`, `html`).
    pub links: Option<Links>,
}

/// A full repository object, as the fork list and the (removed) global repository list send
/// it.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Repository {
    /// `repository`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The repository UUID (survives renames).
    pub uuid: String,
    /// `workspace/slug`.
    pub full_name: Option<String>,
    /// The display name.
    pub name: Option<String>,
    /// The URL slug.
    pub slug: Option<String>,
    /// The description.
    pub description: Option<String>,
    /// Whether the repository is private.
    pub is_private: Option<bool>,
    /// `git`.
    pub scm: Option<String>,
    /// The owner (deprecated by Bitbucket in favour of `workspace`, still sent).
    pub owner: Option<Account>,
    /// The workspace.
    pub workspace: Option<WorkspaceRef>,
    /// The project.
    pub project: Option<ProjectRef>,
    /// The main branch.
    pub mainbranch: Option<BranchRef>,
    /// The repository this one was forked from.
    pub parent: Option<RepositoryRef>,
    /// The main language.
    pub language: Option<String>,
    /// Size in bytes.
    pub size: Option<i64>,
    /// Whether the (removed) issue tracker was enabled.
    pub has_issues: Option<bool>,
    /// Whether the (removed) wiki was enabled.
    pub has_wiki: Option<bool>,
    /// `allow_forks`, `no_public_forks` or `no_forks`.
    pub fork_policy: Option<String>,
    /// The website.
    pub website: Option<String>,
    /// When the repository was created.
    pub created_on: Option<Timestamp>,
    /// When the repository was last updated.
    pub updated_on: Option<Timestamp>,
    /// Links (`clone` is a list of `{name, href}`).
    pub links: Option<Links>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(json: &str) -> Result<Links, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn links_pass_through_as_sent() {
        let sent = r#"{"self": {"href": "https://api.example/x"},"clone":[{"name":"https","href":"h"}]}"#;
        assert_eq!(serde_json::to_string(&links(sent).unwrap()).unwrap(), sent);
    }

    #[test]
    fn links_that_are_not_objects_are_errors() {
        for bad in [r#"[]"#, r#""https://x""#, "null", "1"] {
            let err = links(bad).err().unwrap_or_else(|| panic!("{bad} was accepted"));
            assert!(err.to_string().contains("an object of links"), "{bad}: {err}");
        }
    }

    #[test]
    fn links_with_line_breaks_become_one_line() {
        let sent = "{\n  \"self\": {\r\n \"href\": \"a\\nb\"}\n}";
        let out = serde_json::to_string(&links(sent).unwrap()).unwrap();
        assert!(!out.contains('\n') && !out.contains('\r'), "{out}");
        let back: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(sent).unwrap());
    }

    #[test]
    fn links_schema_is_an_object_of_anything() {
        let schema = schemars::schema_for!(Links);
        assert_eq!(schema.get("type"), Some(&Value::from("object")));
    }
}
