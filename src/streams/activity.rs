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

use super::newest_first::{emit_mask, judge_page, ChangeWatch, DatedRecord, Order, PageVerdict};
use super::paged::{first_record, follow_next, Followed};
use super::pullrequests::PullRequestEndpoint;
use super::Int;
use super::{
    Account, Links, PartitionRun, PullRequestRef, RenderedText, RepositoryInfo, RepositoryKeys, Scope,
    StreamDef, StreamError, Text, Timestamp,
};
use crate::bitbucket::Page;
use crate::bitbucket::MAX_PULLREQUEST_PAGELEN;
use crate::singer::record_schema;
use crate::window::format_bookmark;

/// Where an inline comment sits in the diff.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct CommentInline<'a> {
    /// The file path.
    pub path: Option<Text<'a>>,
    /// The line in the old version.
    pub from: Option<Int>,
    /// The line in the new version.
    pub to: Option<Int>,
    /// Whether the comment is outdated.
    pub outdated: Option<bool>,
    /// The first line of a multi-line comment, old side.
    pub start_from: Option<Int>,
    /// The first line of a multi-line comment, new side.
    pub start_to: Option<Int>,
}

/// A reference to a parent comment.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct CommentRef<'a> {
    /// The parent comment id.
    pub id: Option<Int>,
    /// Links.
    pub links: Option<Links<'a>>,
}

/// A comment's id: optional in the activity feed (an item is kept whatever it lacks),
/// required in `pullrequest_comments`, whose key it is.
pub trait CommentId {
    /// Whether there is no id (then it is left out of the record).
    fn is_absent(&self) -> bool;
}

impl CommentId for Option<Int> {
    fn is_absent(&self) -> bool {
        self.is_none()
    }
}

impl CommentId for Int {
    fn is_absent(&self) -> bool {
        false
    }
}

/// A pull request comment as the activity feed sends it.
pub type ActivityComment<'a> = Comment<'a, Option<Int>>;

/// A pull request comment, with an id of type `Id` (see [`CommentId`]).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a, Id: Deserialize<'de>"))]
pub struct Comment<'a, Id: CommentId> {
    /// `pullrequest_comment`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The comment id.
    #[serde(skip_serializing_if = "CommentId::is_absent")]
    pub id: Id,
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
    pub pullrequest: Option<PullRequestRef<'a>>,
    /// Resolution state, when resolved.
    pub resolution: Option<Map<String, Value>>,
    /// Links.
    pub links: Option<Links<'a>>,
}

impl<'a> ActivityComment<'a> {
    /// The comment with its id required, when it has one.
    pub fn keyed(self) -> Option<Comment<'a, Int>> {
        Some(Comment {
            kind: self.kind,
            id: self.id?,
            created_on: self.created_on,
            updated_on: self.updated_on,
            content: self.content,
            user: self.user,
            deleted: self.deleted,
            pending: self.pending,
            inline: self.inline,
            parent: self.parent,
            pullrequest: self.pullrequest,
            resolution: self.resolution,
            links: self.links,
        })
    }
}

/// A pull request comment (`pullrequest_comments`): a `comment` item of the activity feed,
/// with the keys of its repository and pull request. Built from the feed, never decoded on
/// its own.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PullRequestCommentRecord<'a> {
    /// The workspace of the repository it was read from.
    pub workspace_slug: String,
    /// The repository it was read from.
    pub repository_slug: String,
    /// That repository's UUID (key).
    pub repository_uuid: String,
    /// The pull request id (key).
    pub pullrequest_id: i64,
    /// The comment, as the feed sends it (`id` is the key, `updated_on` the replication key).
    #[serde(flatten)]
    pub comment: Comment<'a, Int>,
}

impl PullRequestCommentRecord<'_> {
    /// The replication key's value: when the comment was last edited (else written).
    fn updated(&self) -> Option<DateTime<Utc>> {
        self.comment
            .updated_on
            .or(self.comment.created_on)
            .as_ref()
            .and_then(Timestamp::parse)
    }
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
    pub pullrequest: Option<PullRequestRef<'a>>,
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
    pub pull_request: Option<PullRequestRef<'a>>,
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
/// repository; leads the family read with `pullrequest_comments`.
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

/// `pullrequest_comments`: the `comment` items of the activity feed, incremental on
/// `updated_on` as `pullrequest_activity` is on `event_time`; no request of its own.
pub const PULLREQUEST_COMMENTS: StreamDef = StreamDef {
    name: "pullrequest_comments",
    key_properties: &["repository_uuid", "pullrequest_id", "id"],
    replication_key: Some("updated_on"),
    selected_by_default: true,
    scope: Scope::Repository,
    schema: record_schema::<PullRequestCommentRecord>,
    read: |run| Box::pin(read(run)),
    family: Some("pullrequest_activity"),
};

/// Reads the repository's activity feed once, newest first, for `pullrequest_activity` and
/// `pullrequest_comments`, each within its own window; the read goes down to the lower of
/// their floors.
async fn read(run: PartitionRun) -> Result<(), StreamError> {
    let repo = run.repository()?.clone();
    let activity = run.selected("pullrequest_activity");
    let comments = run.selected("pullrequest_comments");
    let stop_below = run.streams().map(|s| s.window.lower).min().flatten();
    let mut url = run.client.url(&[
        "repositories",
        &repo.workspace,
        &repo.slug,
        "pullrequests",
        "activity",
    ]);
    url.query_pairs_mut()
        .append_pair("pagelen", &run.pagelen(MAX_PULLREQUEST_PAGELEN));
    let (mut newest_activity, mut newest_comment) = (None, None);
    let mut activity_watch = activity.map(|out| ChangeWatch::new(out.window.lower));
    let mut comment_watch = comments.map(|out| ChangeWatch::new(out.window.lower));
    let mut followed = Followed::default();
    loop {
        let step = run
            .client
            .get_with(&url, |text| {
                let page: Page<ActivityRecord<'_>> = run.client.page(&url, text)?;
                let first = first_record(&page.values);
                let mut items = page.values;
                // Items the tap cannot key are dropped for both streams.
                items.retain_mut(|a| prepare(a, &repo));
                let times: Vec<_> = items.iter().map(DatedRecord::event_time).collect();
                let last = match judge_page(&times, stop_below, Order::Time) {
                    PageVerdict::Stop => return Ok(None),
                    PageVerdict::Emit { last } => last,
                };
                // Nothing changed for either stream in this run, and the page reaches below
                // both bookmarks: no later page can hold a record inside either window
                // (spec §6: one request).
                let mut unchanged = match activity_watch.as_mut() {
                    Some(watch) => watch.read_may_end(&times, times.iter().copied()),
                    None => true,
                };
                let comment_page = match comments {
                    Some(out) => {
                        let mut records = comment_records(&items, &repo);
                        let own: Vec<_> = records.iter().map(PullRequestCommentRecord::updated).collect();
                        if let Some(watch) = comment_watch.as_mut() {
                            // Read alone, any item newer than the comments' bookmark may be
                            // new since the last run; beside `pullrequest_activity`, whose
                            // watch judges every item, only a newer comment is.
                            let seen = if activity.is_some() { &own } else { &times };
                            unchanged &= watch.read_may_end(&times, seen.iter().copied());
                        }
                        let mut keep = emit_mask(&own, &out.window, Order::Time).into_iter();
                        records.retain(|r| {
                            let kept = keep.next().unwrap_or(false);
                            if kept {
                                newest_comment = newest_comment.max(r.updated());
                            }
                            kept
                        });
                        Some(out.emitter.render(&records))
                    }
                    None => None,
                };
                let activity_page = match activity {
                    Some(out) => {
                        let mut keep = emit_mask(&times, &out.window, Order::Time).into_iter();
                        items.retain(|a| {
                            let kept = keep.next().unwrap_or(false);
                            if kept {
                                newest_activity = newest_activity.max(a.event_time());
                            }
                            kept
                        });
                        Some(out.emitter.render(&items))
                    }
                    None => None,
                };
                let next = page.next.filter(|_| !(last || unchanged));
                Ok(Some((activity_page, comment_page, next, first)))
            })
            .await?;
        let Some((activity_page, comment_page, next, first)) = step else {
            break;
        };
        for (out, page) in [(activity, activity_page), (comments, comment_page)] {
            if let (Some(out), Some(page)) = (out, page) {
                out.emitter.send_page(page?).await?;
            }
        }
        let Some(next) = next else { break };
        url = follow_next(&run, &url, &next, first, &mut followed)?;
    }
    // Newest first: only a complete read proves nothing older is missing.
    for (out, newest, key) in [
        (activity, newest_activity, "event_time"),
        (comments, newest_comment, "updated_on"),
    ] {
        let Some(out) = out else { continue };
        if let Some(value) = newest.map(|n| out.window.bookmark_value(n)) {
            out.bookmark(&run.context, key, value).await?;
        }
    }
    Ok(())
}

/// Gives an activity item its keys and synthetic id; `false` for an item the tap cannot key
/// (an unknown kind, no pull request id).
fn prepare(a: &mut ActivityRecord<'_>, repo: &RepositoryInfo) -> bool {
    let Some((kind, at, x, actor)) = a.identity() else {
        tracing::debug!(repository = %repo.slug, "Skipping an activity item of an unknown kind.");
        return false;
    };
    let Some(pr) = a.pull_request.as_ref().and_then(|p| p.id) else {
        tracing::debug!(repository = %repo.slug, "Skipping an activity item without a pull request id.");
        return false;
    };
    a.set_repository_keys(repo);
    a.pullrequest_id = pr.0;
    a.kind = kind.to_string();
    a.event_time = at;
    a.id = activity_id(&repo.uuid, pr.0, kind, &x, &actor);
    true
}

/// The `pullrequest_comments` records of a page's comment items (those with an id), in
/// listing order.
fn comment_records<'a>(
    items: &[ActivityRecord<'a>],
    repo: &RepositoryInfo,
) -> Vec<PullRequestCommentRecord<'a>> {
    items
        .iter()
        .filter_map(|a| {
            let comment = a.comment.clone()?.keyed()?;
            Some(PullRequestCommentRecord {
                workspace_slug: repo.workspace.clone(),
                repository_slug: repo.slug.clone(),
                repository_uuid: repo.uuid.clone(),
                pullrequest_id: a.pullrequest_id,
                comment,
            })
        })
        .collect()
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
