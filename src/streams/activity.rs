//! `pullrequest_activity` (legacy "List Pullrequest Activity"): comments, approvals, change
//! requests and updates of every pull request of a repository, from the repository-wide
//! activity endpoint (cursor pages, newest first, no server filter).
//!
//! Activity items have no id, so each record gets a stable synthetic one: the lower-case hex
//! SHA-256 of `repository_uuid|pullrequest_id|kind|X|actor_uuid`, where X is the comment id
//! for comments and the event time (UTC, microseconds) otherwise.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;
use sha2::{Digest, Sha256};

use super::newest_first::{self, DatedRecord};
use super::pullrequests::PullRequestEndpoint;
use super::{
    Account, Links, PartitionRun, RenderedText, RepositoryKeys, Scope, StreamDef, StreamError, Text,
    Timestamp,
};
use crate::bitbucket::MAX_PULLREQUEST_PAGELEN;
use crate::singer::record_schema;
use crate::window::format_bookmark;

/// The pull request an activity item belongs to (condensed).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct ActivityPullRequest<'a> {
    /// `pullrequest`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The pull request id.
    pub id: Option<i64>,
    /// Its title.
    pub title: Option<Text<'a>>,
    /// Its draft flag.
    pub draft: Option<bool>,
    /// Links.
    pub links: Option<Links<'a>>,
}

/// Where an inline comment sits in the diff.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct CommentInline<'a> {
    /// The file path.
    pub path: Option<Text<'a>>,
    /// The line in the old version.
    pub from: Option<i64>,
    /// The line in the new version.
    pub to: Option<i64>,
    /// Whether the comment is outdated.
    pub outdated: Option<bool>,
    /// The first line of a multi-line comment, old side.
    pub start_from: Option<i64>,
    /// The first line of a multi-line comment, new side.
    pub start_to: Option<i64>,
}

/// A reference to a parent comment.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct CommentRef<'a> {
    /// The parent comment id.
    pub id: Option<i64>,
    /// Links.
    pub links: Option<Links<'a>>,
}

/// A pull request comment.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct ActivityComment<'a> {
    /// `pullrequest_comment`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The comment id.
    pub id: Option<i64>,
    /// When it was written.
    pub created_on: Option<Timestamp<'a>>,
    /// When it was last edited.
    pub updated_on: Option<Timestamp<'a>>,
    /// The text.
    pub content: Option<RenderedText<'a>>,
    /// The author.
    pub user: Option<Account<'a>>,
    /// Whether it was deleted.
    pub deleted: Option<bool>,
    /// Whether it is a pending (draft review) comment.
    pub pending: Option<bool>,
    /// Where an inline comment sits.
    pub inline: Option<CommentInline<'a>>,
    /// The comment it answers.
    pub parent: Option<CommentRef<'a>>,
    /// The pull request (condensed).
    pub pullrequest: Option<ActivityPullRequest<'a>>,
    /// Resolution state, when resolved.
    pub resolution: Option<Map<String, Value>>,
    /// Links.
    pub links: Option<Links<'a>>,
}

/// An approval or a change request.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct ActivityReview<'a> {
    /// When it happened.
    pub date: Option<Timestamp<'a>>,
    /// Who approved or requested changes.
    pub user: Option<Account<'a>>,
    /// The pull request (condensed).
    pub pullrequest: Option<ActivityPullRequest<'a>>,
}

/// An update: the pull request's state, title, description or branches as of that event.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct ActivityUpdate<'a> {
    /// When it happened.
    pub date: Option<Timestamp<'a>>,
    /// The state after the update.
    pub state: Option<Text<'a>>,
    /// The title after the update.
    pub title: Option<Text<'a>>,
    /// The description after the update.
    pub description: Option<Text<'a>>,
    /// The decline reason, if any.
    pub reason: Option<Text<'a>>,
    /// Who made the update.
    pub author: Option<Account<'a>>,
    /// The source side.
    pub source: Option<PullRequestEndpoint<'a>>,
    /// The destination side.
    pub destination: Option<PullRequestEndpoint<'a>>,
    /// The draft flag after the update.
    pub draft: Option<bool>,
    /// What changed (old and new values), when the API says.
    pub changes: Option<Map<String, Value>>,
}

/// One activity item (`GET /repositories/{workspace}/{repo}/pullrequests/activity`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct ActivityRecord<'a> {
    /// The workspace of the repository it was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The repository it was read from.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// That repository's UUID.
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// The synthetic key: hex SHA-256 of `repository_uuid|pullrequest_id|kind|X|actor_uuid`.
    #[serde(skip_deserializing)]
    pub id: String,
    /// The pull request id.
    #[serde(skip_deserializing)]
    pub pullrequest_id: i64,
    /// `comment`, `approval`, `changes_requested` or `update`.
    #[serde(skip_deserializing)]
    pub kind: String,
    /// When the event happened: a comment's `updated_on` (else `created_on`), the `date` of
    /// the other kinds (replication key).
    #[serde(skip_deserializing)]
    pub event_time: Option<Timestamp<'a>>,
    /// The pull request (condensed).
    pub pull_request: Option<ActivityPullRequest<'a>>,
    /// A comment.
    pub comment: Option<ActivityComment<'a>>,
    /// An approval.
    pub approval: Option<ActivityReview<'a>>,
    /// A change request.
    pub changes_requested: Option<ActivityReview<'a>>,
    /// An update.
    pub update: Option<ActivityUpdate<'a>>,
}

impl<'a> ActivityRecord<'a> {
    /// The kind, event time, X (comment id or event time) and actor of the item, or `None`
    /// for an item of a kind the tap does not know.
    fn identity(&self) -> Option<(&'static str, Option<Timestamp<'a>>, String, String)> {
        let uuid = |a: &Option<Account>| {
            a.as_ref()
                .and_then(|a| a.uuid)
                .map(|u| u.to_string())
                .unwrap_or_default()
        };
        let micros = |t: &Option<Timestamp<'a>>| {
            t.as_ref()
                .and_then(Timestamp::parse)
                .map(format_bookmark)
                .unwrap_or_default()
        };
        if let Some(c) = &self.comment {
            let at = c.updated_on.or(c.created_on);
            let x = c.id.map(|id| id.to_string()).unwrap_or_else(|| micros(&at));
            return Some(("comment", at, x, uuid(&c.user)));
        }
        if let Some(a) = &self.approval {
            return Some(("approval", a.date, micros(&a.date), uuid(&a.user)));
        }
        if let Some(r) = &self.changes_requested {
            return Some(("changes_requested", r.date, micros(&r.date), uuid(&r.user)));
        }
        if let Some(u) = &self.update {
            return Some(("update", u.date, micros(&u.date), uuid(&u.author)));
        }
        None
    }
}

impl DatedRecord for ActivityRecord<'_> {
    fn event_time(&self) -> Option<DateTime<Utc>> {
        self.identity()
            .and_then(|(_, at, _, _)| at)
            .as_ref()
            .and_then(Timestamp::parse)
    }
}

super::repository_keys!(ActivityRecord);
super::borrowing!(Activities => ActivityRecord);

/// The synthetic id of an activity item.
pub fn activity_id(
    repository_uuid: &str,
    pullrequest_id: i64,
    kind: &str,
    x: &str,
    actor_uuid: &str,
) -> String {
    let digest = Sha256::digest(format!(
        "{repository_uuid}|{pullrequest_id}|{kind}|{x}|{actor_uuid}"
    ));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `pullrequest_activity`: incremental on `event_time`, newest first, one partition per
/// repository.
pub const PULLREQUEST_ACTIVITY: StreamDef = StreamDef {
    name: "pullrequest_activity",
    key_properties: &["id"],
    replication_key: Some("event_time"),
    selected_by_default: true,
    scope: Scope::Repository,
    schema: record_schema::<ActivityRecord>,
    read: |run| Box::pin(read(run)),
    family: None,
};

async fn read(run: PartitionRun) -> Result<(), StreamError> {
    let repo = run.repository()?.clone();
    let mut url = run.client.url(&[
        "repositories",
        &repo.workspace,
        &repo.slug,
        "pullrequests",
        "activity",
    ]);
    url.query_pairs_mut()
        .append_pair("pagelen", &run.pagelen(MAX_PULLREQUEST_PAGELEN));
    newest_first::read::<Activities, _>(&run, url, "event_time", chrono::Duration::zero(), |a| {
        let Some((kind, at, x, actor)) = a.identity() else {
            tracing::debug!(repository = %repo.slug, "Skipping an activity item of an unknown kind.");
            return false;
        };
        let Some(pr) = a.pull_request.as_ref().and_then(|p| p.id) else {
            tracing::debug!(repository = %repo.slug, "Skipping an activity item without a pull request id.");
            return false;
        };
        a.set_repository_keys(&repo);
        a.pullrequest_id = pr;
        a.kind = kind.to_string();
        a.event_time = at;
        a.id = activity_id(&repo.uuid, pr, kind, &x, &actor);
        true
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_ids_are_stable_hex_sha256() {
        let id = activity_id("{r}", 7, "comment", "42", "{u}");
        assert_eq!(id.len(), 64);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(id, activity_id("{r}", 7, "comment", "42", "{u}"));
        assert_ne!(id, activity_id("{r}", 7, "comment", "43", "{u}"));
    }
}
