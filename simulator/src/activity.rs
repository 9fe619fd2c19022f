//! Pull request activity: the items of `GET /repositories/{ws}/{repo}/pullrequests/activity`.
//!
//! Every visible pull request contributes, at simulated time `T`:
//!
//! - an `update` at its creation (state `OPEN`, the title as it was then);
//! - one item per event `<= T` of its timeline ([`crate::data::Event`]): a `comment`, an
//!   `approval`, a `changes_requested`, an `update` for the title edit (state `OPEN`, with
//!   `changes.title`) and an `update` for the closing event (`MERGED`, `DECLINED` or
//!   `SUPERSEDED`).
//!
//! So every item lies between the pull request's `created_on` and its `updated_on` at `T`.
//! About one comment in five that is followed by another event of its pull request has been
//! edited: its `updated_on` lies between its `created_on` and that next event, and shows once
//! the next event has happened.
//!
//! Order: newest first by event time (a comment's `updated_on`, else the `date`), ties broken
//! by pull request id, then position in its timeline, both descending.

use serde_json::{json, Value};

use crate::clock::{format_micros, Micros};
use crate::data::{EventKind, Pr, Repo, Workspace};
use crate::history::History;
use crate::prng::SeedBuilder;
use crate::render::{href, rendered_markdown, short_hash, PrTexts, Renderer, WEB};

/// One activity item, before rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityItem {
    /// Its event time (the sort key).
    pub time: Micros,
    /// Pull request id.
    pub pr_id: u32,
    /// 0 for the creation update, `k + 1` for the pull request's event `k`.
    pub seq: u32,
}

impl ActivityItem {
    /// The total order key (larger = newer = served first).
    pub fn key(&self) -> (Micros, u32, u32) {
        (self.time, self.pr_id, self.seq)
    }
}

/// The activity of a repository at one simulated time, newest first.
#[derive(Debug, Clone)]
pub struct ActivityIndex {
    /// The simulated time it describes.
    pub at: Micros,
    /// Items, newest first.
    pub items: Vec<ActivityItem>,
}

/// When a comment (event `ev` of `pr`) shows as edited at `t`, if it does.
pub fn comment_edit(repo: &Repo, pr: &Pr, ev: usize, t: Micros) -> Option<Micros> {
    let events = repo.events_of(pr);
    let this = events.get(ev)?;
    let next = events.get(ev + 1)?;
    if this.kind != EventKind::Comment || next.at > t || next.at - this.at < 2 {
        return None;
    }
    let mut r = SeedBuilder::new(pr.seed).str("comment").num(ev as u64).rng();
    if !r.chance(0.2) {
        return None;
    }
    Some(this.at + 1 + r.below((next.at - this.at - 1) as u64) as Micros)
}

impl ActivityIndex {
    /// Builds the activity of a repository at `t`.
    pub fn build(repo: &Repo, t: Micros) -> ActivityIndex {
        let mut items = Vec::new();
        for pr in &repo.prs[..repo.visible_prs(t)] {
            items.push(ActivityItem {
                time: pr.created_on,
                pr_id: pr.id,
                seq: 0,
            });
            for (k, ev) in repo.events_of(pr).iter().enumerate() {
                if ev.at > t {
                    break;
                }
                let time = comment_edit(repo, pr, k, t).unwrap_or(ev.at);
                items.push(ActivityItem {
                    time,
                    pr_id: pr.id,
                    seq: k as u32 + 1,
                });
            }
        }
        items.sort_by_key(|b| std::cmp::Reverse(b.key()));
        ActivityIndex { at: t, items }
    }
}

const COMMENTS: &[&str] = &[
    "Looks good to me.",
    "Could we add a test for the empty case?",
    "Nit: this name is a bit misleading.",
    "Why not reuse the existing helper here?",
    "This will need a migration on deploy.",
    "Can you split this into two commits?",
    "I think this breaks the retry path, see the comment above.",
    "Thanks, much clearer now.",
    "Let's keep the old behaviour behind a flag.",
    "Rebased on the latest main, please have another look.",
    "Reminder: this pull request has had no activity for a while. Please review or close it.",
];

/// A repository-wide base for comment ids (ids are unique within the repository).
pub(crate) fn comment_id(repo: &Repo, pr: &Pr, ordinal: u64) -> u64 {
    let base = 100_000_000 + SeedBuilder::new(0).str("comments").str(&repo.uuid).finish() % 400_000_000;
    base + u64::from(pr.id) * 64 + ordinal
}

impl Renderer<'_> {
    fn pr_endpoint(&self, repo: &Repo, branch: &str, hash: &str) -> Value {
        json!({
            "branch": { "name": branch },
            "commit": self.commit_ref(repo, hash),
            "repository": self.repository_ref(repo),
        })
    }

    /// The condensed pull request embedded in activity items.
    pub fn pullrequest_ref(&self, repo: &Repo, pr: &Pr, title: &str) -> Value {
        json!({
            "type": "pullrequest",
            "id": pr.id,
            "title": title,
            "links": {
                "self": href(format!("{}/pullrequests/{}", self.repo_api(repo), pr.id)),
                "html": href(format!("{WEB}/{}/pull-requests/{}", repo.full_name, pr.id)),
            },
        })
    }

    /// One activity item as served at the renderer's time.
    pub fn activity_item(
        &self,
        ws: &Workspace,
        repo: &Repo,
        history: Option<&History>,
        item: &ActivityItem,
    ) -> Option<Value> {
        let pr = repo.pr(item.pr_id)?;
        let at = repo.pr_at(pr, self.now)?;
        let texts = PrTexts::of(pr);
        let edited_title = repo.has_title_edit(pr);
        let wip = format!("WIP: {}", texts.title);
        let current_title = if edited_title && !at.title_edited {
            wip.as_str()
        } else {
            texts.title.as_str()
        };
        let pr_ref = self.pullrequest_ref(repo, pr, current_title);
        let events = repo.events_of(pr);
        let update = |date: Micros, state: &str, title: &str, reason: &str, actor: u16| {
            json!({
                "date": format_micros(date),
                "state": state,
                "title": title,
                "description": texts.description,
                "reason": reason,
                "author": self.account(self.data.member(ws, actor)),
                "source": self.pr_endpoint(repo, &texts.source_branch, &short_hash(pr.seed, "source")),
                "destination": self.pr_endpoint(repo, repo.mainbranch, &short_hash(pr.seed, "destination")),
            })
        };
        let initial_title = if edited_title {
            wip.as_str()
        } else {
            texts.title.as_str()
        };
        let body = if item.seq == 0 {
            json!({ "update": update(pr.created_on, "OPEN", initial_title, "", pr.author) })
        } else {
            let k = (item.seq - 1) as usize;
            let ev = events.get(k)?;
            let title_then = if edited_title && !events[..k].iter().any(|e| e.kind == EventKind::TitleEdit) {
                wip.as_str()
            } else {
                texts.title.as_str()
            };
            let user = || self.account(self.data.member(ws, ev.actor));
            match ev.kind {
                EventKind::Comment => {
                    let ordinal = events[..k]
                        .iter()
                        .filter(|e| e.kind == EventKind::Comment)
                        .count() as u64;
                    let id = comment_id(repo, pr, ordinal);
                    let mut r = SeedBuilder::new(pr.seed).str("comment-text").num(k as u64).rng();
                    let raw = r.pick(COMMENTS).copied().unwrap_or("LGTM");
                    let updated = comment_edit(repo, pr, k, self.now).unwrap_or(ev.at);
                    let raw = if updated > ev.at {
                        format!("{raw}\n\n(edited: typo)")
                    } else {
                        raw.to_string()
                    };
                    let api = format!("{}/pullrequests/{}", self.repo_api(repo), pr.id);
                    let mut comment = json!({
                        "id": id,
                        "created_on": format_micros(ev.at),
                        "updated_on": format_micros(updated),
                        "content": rendered_markdown(&raw),
                        "user": user(),
                        "deleted": false,
                        "pending": false,
                        "type": "pullrequest_comment",
                        "pullrequest": pr_ref.clone(),
                        "links": {
                            "self": href(format!("{api}/comments/{id}")),
                            "html": href(format!("{WEB}/{}/pull-requests/{}/_/diff#comment-{id}", repo.full_name, pr.id)),
                        },
                    });
                    let files: Vec<&str> = history
                        .map(|h| {
                            h.files
                                .iter()
                                .filter(|f| f.added <= ev.at)
                                .map(|f| f.path.as_str())
                                .collect()
                        })
                        .unwrap_or_default();
                    if !files.is_empty() && r.chance(0.35) {
                        let path = files[r.below(files.len() as u64) as usize];
                        let line = 1 + r.below(300);
                        let (from, to) = if r.chance(0.5) {
                            (Value::Null, json!(line))
                        } else {
                            (json!(line), Value::Null)
                        };
                        comment["inline"] =
                            json!({ "path": path, "from": from, "to": to, "outdated": false });
                    }
                    json!({ "comment": comment })
                }
                EventKind::Approve => json!({
                    "approval": { "date": format_micros(ev.at), "user": user(), "pullrequest": pr_ref.clone() }
                }),
                EventKind::RequestChanges => json!({
                    "changes_requested": { "date": format_micros(ev.at), "user": user(), "pullrequest": pr_ref.clone() }
                }),
                EventKind::TitleEdit => {
                    let mut u = update(ev.at, "OPEN", &texts.title, "", ev.actor);
                    u["changes"] = json!({ "title": { "old": wip, "new": texts.title } });
                    json!({ "update": u })
                }
                EventKind::Merge => json!({ "update": update(ev.at, "MERGED", title_then, "", ev.actor) }),
                EventKind::Decline => {
                    json!({ "update": update(ev.at, "DECLINED", title_then, &texts.decline_reason, ev.actor) })
                }
                EventKind::Supersede => {
                    json!({ "update": update(ev.at, "SUPERSEDED", title_then, "", ev.actor) })
                }
            }
        };
        let mut v = body;
        v["pull_request"] = pr_ref;
        Some(v)
    }
}
