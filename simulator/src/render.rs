//! JSON rendering of dataset facts in Bitbucket's exact shapes.
//!
//! Objects are rendered on demand, one page at a time, from the compact facts of
//! [`crate::data`] and the simulated time. API links (`links.self.href`, …) point at the
//! simulator; web links (`html`, avatars, clone URLs) point at bitbucket.org as they would in
//! real responses.

use serde_json::{json, Value};

use crate::clock::{format_micros, Micros};
use crate::data::{Dataset, EventKind, Pr, PrAt, Repo, User, Workspace};
use crate::names;
use crate::prng::SeedBuilder;

/// Which optional pull request fields a request asked for with `fields=`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrExtras {
    /// `+values.reviewers`.
    pub reviewers: bool,
    /// `+values.participants`.
    pub participants: bool,
}

impl PrExtras {
    /// Both lists.
    pub const ALL: PrExtras = PrExtras {
        reviewers: true,
        participants: true,
    };

    /// Reads a `fields` parameter. Only the additions `+values.reviewers` and
    /// `+values.participants` matter (a literal `+` that was decoded to a space is accepted
    /// too); other partial-response selectors are ignored.
    pub fn from_fields(fields: Option<&str>) -> PrExtras {
        let mut extras = PrExtras::default();
        for token in fields.unwrap_or("").split(',') {
            let t = token.trim_start_matches(' ');
            let Some(name) = t.strip_prefix('+').or_else(|| {
                // `+values.x` sent unencoded arrives as ` values.x`.
                (t.len() < token.len()).then_some(t)
            }) else {
                continue;
            };
            match name.trim() {
                "values.reviewers" => extras.reviewers = true,
                "values.participants" => extras.participants = true,
                _ => {}
            }
        }
        extras
    }
}

/// Renders objects for one request: the dataset, the API base URL and the simulated time.
#[derive(Debug, Clone, Copy)]
pub struct Renderer<'a> {
    /// The dataset.
    pub data: &'a Dataset,
    /// The API base, e.g. `http://127.0.0.1:4000/2.0` (no trailing slash).
    pub api: &'a str,
    /// The simulated time.
    pub now: Micros,
}

pub(crate) const WEB: &str = "https://bitbucket.org";
pub(crate) const AVATARS: &str = "https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net";

/// The `links` of a full repository object whose API URL is `api`.
pub(crate) fn repository_links(api: &str, full_name: &str, avatar: Value) -> Value {
    json!({
        "self": href(api),
        "html": href(format!("{WEB}/{full_name}")),
        "avatar": avatar,
        "pullrequests": href(format!("{api}/pullrequests")),
        "commits": href(format!("{api}/commits")),
        "forks": href(format!("{api}/forks")),
        "watchers": href(format!("{api}/watchers")),
        "branches": href(format!("{api}/refs/branches")),
        "tags": href(format!("{api}/refs/tags")),
        "downloads": href(format!("{api}/downloads")),
        "source": href(format!("{api}/src")),
        "hooks": href(format!("{api}/hooks")),
        "clone": [
            { "name": "https", "href": format!("{WEB}/{full_name}.git") },
            { "name": "ssh", "href": format!("git@bitbucket.org:{full_name}.git") },
        ],
    })
}

pub(crate) fn href(url: impl Into<String>) -> Value {
    json!({ "href": url.into() })
}

/// `{…}` → `%7B…%7D`, as Bitbucket writes uuids inside URLs.
pub(crate) fn uuid_in_url(uuid: &str) -> String {
    uuid.replace('{', "%7B").replace('}', "%7D")
}

pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// Markdown source and a plausible HTML rendering of it.
pub(crate) fn rendered_markdown(raw: &str) -> Value {
    let html = raw
        .split("\n\n")
        .filter(|p| !p.is_empty())
        .map(|p| format!("<p>{}</p>", escape_html(p)))
        .collect::<String>();
    json!({ "type": "rendered", "raw": raw, "markup": "markdown", "html": html })
}

/// The texts of a pull request, derived from its seed.
#[derive(Debug, Clone)]
pub struct PrTexts {
    /// The final title (without `WIP: `).
    pub title: String,
    /// The description (markdown, may be empty).
    pub description: String,
    /// The source branch name.
    pub source_branch: String,
    /// The decline reason (used only when declined).
    pub decline_reason: String,
    /// `close_source_branch`.
    pub close_source_branch: bool,
}

impl PrTexts {
    /// Derives the texts of a pull request.
    pub fn of(pr: &Pr) -> PrTexts {
        let mut r = SeedBuilder::new(pr.seed).str("texts").rng();
        let verb = r.pick(names::VERBS).copied().unwrap_or("Update");
        let subject = r.pick(names::SUBJECTS).copied().unwrap_or("code");
        let roll = r.below(100);
        let (title, source_branch) = if roll < 15 {
            let dep = r.pick(names::DEPENDENCIES).copied().unwrap_or("serde");
            let (major, minor) = (r.range_i64(1, 9), r.range_i64(0, 30));
            (
                format!("Bump {dep} from {major}.{minor}.0 to {major}.{}.0", minor + 1),
                format!("renovate/{dep}-{major}.x"),
            )
        } else {
            let base = format!("{verb} {subject}");
            let prefix = r.pick(names::BRANCH_PREFIXES).copied().unwrap_or("feature");
            let branch = format!("{prefix}/{}-{}", names::branchify(&base), pr.id);
            if roll < 30 {
                let key = format!("PROJ-{}", r.range_i64(100, 2999));
                (format!("{key}: {base}"), format!("{prefix}/{key}-{}", pr.id))
            } else {
                (base, branch)
            }
        };
        let description = if r.chance(0.25) {
            String::new()
        } else {
            let n = r.range_i64(1, 3);
            let mut parts: Vec<String> = (0..n)
                .map(|_| r.pick(names::SENTENCES).copied().unwrap_or("").to_string())
                .collect();
            if r.chance(0.3) {
                parts.push(format!("* {}\n* {}", verb, subject));
            }
            parts.join("\n\n")
        };
        let decline_reason = if r.chance(0.6) {
            r.pick(names::DECLINE_REASONS).copied().unwrap_or("").to_string()
        } else {
            String::new()
        };
        PrTexts {
            title,
            description,
            source_branch,
            decline_reason,
            close_source_branch: r.chance(0.7),
        }
    }
}

pub(crate) fn short_hash(seed: u64, label: &str) -> String {
    SeedBuilder::new(seed).str(label).rng().hex(12)
}

impl<'a> Renderer<'a> {
    /// An embedded (condensed) account.
    pub fn account(&self, user: &User) -> Value {
        let avatar_n = (user.uuid.as_bytes().get(1).copied().unwrap_or(b'0') % 6) + 1;
        json!({
            "type": "user",
            "uuid": user.uuid,
            "account_id": user.account_id,
            "display_name": user.display_name,
            "nickname": user.nickname,
            "links": {
                "self": href(format!("{}/users/{}", self.api, uuid_in_url(&user.uuid))),
                "html": href(format!("{WEB}/{}/", uuid_in_url(&user.uuid))),
                "avatar": href(format!("{AVATARS}/initials/{}-{avatar_n}.png", user.initials)),
            },
        })
    }

    /// The full account object of `GET /user`.
    pub fn account_full(&self, user: &User) -> Value {
        let mut v = self.account(user);
        v["created_on"] = json!(format_micros(user.created_on));
        v["account_status"] = json!("active");
        v["has_2fa_enabled"] = Value::Null;
        v["is_staff"] = json!(false);
        v["location"] = Value::Null;
        v
    }

    pub(crate) fn workspace_links(&self, ws: &Workspace) -> Value {
        json!({
            "self": href(format!("{}/workspaces/{}", self.api, ws.slug)),
            "html": href(format!("{WEB}/{}/", ws.slug)),
            "avatar": href(format!("{WEB}/workspaces/{}/avatar/?ts={}", ws.slug, ws.created_on / 1_000_000)),
        })
    }

    /// The condensed workspace embedded in repositories and memberships.
    pub fn workspace_ref(&self, ws: &Workspace) -> Value {
        json!({
            "type": "workspace",
            "uuid": ws.uuid,
            "slug": ws.slug,
            "name": ws.name,
            "links": self.workspace_links(ws),
        })
    }

    /// The full workspace object of `GET /workspaces/{ws}`.
    pub fn workspace(&self, ws: &Workspace) -> Value {
        let mut links = self.workspace_links(ws);
        let base = format!("{}/workspaces/{}", self.api, ws.slug);
        links["members"] = href(format!("{base}/members"));
        links["owners"] = href(format!("{base}/members?q=permission%3D%22owner%22"));
        links["projects"] = href(format!("{base}/projects"));
        links["repositories"] = href(format!("{}/repositories/{}", self.api, ws.slug));
        links["snippets"] = href(format!("{}/snippets/{}", self.api, ws.slug));
        json!({
            "type": "workspace",
            "uuid": ws.uuid,
            "name": ws.name,
            "slug": ws.slug,
            "is_private": ws.is_private,
            "is_privacy_enforced": false,
            "forking_mode": ws.forking_mode,
            "created_on": format_micros(ws.created_on),
            "updated_on": format_micros(ws.updated_on),
            "links": links,
        })
    }

    /// A `workspace_access` item of `GET /user/workspaces`.
    pub fn workspace_access(&self, ws: &Workspace) -> Value {
        json!({
            "type": "workspace_access",
            "administrator": ws.administrator,
            "workspace": {
                "type": "workspace_base",
                "uuid": ws.uuid,
                "slug": ws.slug,
                "links": {
                    "self": href(format!("{}/workspaces/{}", self.api, ws.slug)),
                    "avatar": href(format!("{WEB}/workspaces/{}/avatar/", ws.slug)),
                },
            },
        })
    }

    /// A `workspace_membership` item of `GET /workspaces/{ws}/members`.
    pub fn membership(&self, ws: &Workspace, user: &User) -> Value {
        json!({
            "type": "workspace_membership",
            "user": self.account(user),
            "workspace": self.workspace_ref(ws),
            "links": {
                "self": href(format!(
                    "{}/workspaces/{}/members/{}",
                    self.api,
                    ws.slug,
                    uuid_in_url(&user.uuid)
                )),
            },
        })
    }

    pub(crate) fn repo_api(&self, repo: &Repo) -> String {
        format!("{}/repositories/{}", self.api, repo.full_name)
    }

    pub(crate) fn repo_avatar(&self, repo: &Repo) -> Value {
        href(format!(
            "https://bytebucket.org/ravatar/{}?ts={}",
            uuid_in_url(&repo.uuid),
            if repo.language.is_empty() {
                "default"
            } else {
                repo.language
            }
        ))
    }

    /// The condensed repository embedded in pull request endpoints.
    pub fn repository_ref(&self, repo: &Repo) -> Value {
        json!({
            "type": "repository",
            "full_name": repo.full_name,
            "name": repo.name,
            "uuid": repo.uuid,
            "links": {
                "self": href(self.repo_api(repo)),
                "html": href(format!("{WEB}/{}", repo.full_name)),
                "avatar": self.repo_avatar(repo),
            },
        })
    }

    /// The full repository object, as of the renderer's time.
    pub fn repository(&self, ws: &Workspace, repo: &Repo) -> Value {
        let api = self.repo_api(repo);
        let project = ws.projects.get(repo.project).map(|p| {
            json!({
                "type": "project",
                "key": p.key,
                "uuid": p.uuid,
                "name": p.name,
                "links": {
                    "self": href(format!("{}/workspaces/{}/projects/{}", self.api, ws.slug, p.key)),
                    "html": href(format!("{WEB}/{}/workspace/projects/{}", ws.slug, p.key)),
                    "avatar": href(format!("{WEB}/{}/workspace/projects/{}/avatar/32", ws.slug, p.key)),
                },
            })
        });
        json!({
            "type": "repository",
            "uuid": repo.uuid,
            "full_name": repo.full_name,
            "name": repo.name,
            "slug": repo.slug,
            "description": repo.description,
            "is_private": repo.is_private,
            "scm": "git",
            "owner": {
                "type": "team",
                "uuid": ws.uuid,
                "username": ws.slug,
                "display_name": ws.name,
                "links": {
                    "self": href(format!("{}/workspaces/{}", self.api, uuid_in_url(&ws.uuid))),
                    "html": href(format!("{WEB}/{}/", uuid_in_url(&ws.uuid))),
                    "avatar": href(format!("{WEB}/account/{}/avatar/", ws.slug)),
                },
            },
            "workspace": self.workspace_ref(ws),
            "project": project,
            "mainbranch": if repo.empty { Value::Null } else { json!({ "type": "branch", "name": repo.mainbranch }) },
            "language": repo.language,
            "size": repo.size_at(self.now),
            "has_issues": repo.has_issues,
            "has_wiki": repo.has_wiki,
            "fork_policy": repo.fork_policy,
            "created_on": format_micros(repo.created_on),
            "updated_on": format_micros(repo.updated_at(self.now)),
            "website": repo.website,
            "override_settings": override_settings(),
            "links": repository_links(&api, &repo.full_name, self.repo_avatar(repo)),
        })
    }

    pub(crate) fn commit_ref(&self, repo: &Repo, hash: &str) -> Value {
        json!({
            "type": "commit",
            "hash": hash,
            "links": {
                "self": href(format!("{}/commit/{hash}", self.repo_api(repo))),
                "html": href(format!("{WEB}/{}/commits/{hash}", repo.full_name)),
            },
        })
    }

    /// A pull request as of `at` (its derived fields at the renderer's time), in the list
    /// view's shape, plus `reviewers` / `participants` when asked for.
    pub fn pullrequest(&self, ws: &Workspace, repo: &Repo, pr: &Pr, at: &PrAt, extras: PrExtras) -> Value {
        let texts = PrTexts::of(pr);
        let title = if repo.has_title_edit(pr) && !at.title_edited {
            format!("WIP: {}", texts.title)
        } else {
            texts.title.clone()
        };
        let api = format!("{}/pullrequests/{}", self.repo_api(repo), pr.id);
        let src_hash = short_hash(pr.seed, "source");
        let dst_hash = short_hash(pr.seed, "destination");
        let state = at.state;
        let merge_commit = match at.closed {
            Some(ev) if ev.kind == EventKind::Merge => self.commit_ref(repo, &short_hash(pr.seed, "merge")),
            _ => Value::Null,
        };
        let closed_by = match at.closed {
            Some(ev) => self.account(self.data.member(ws, ev.actor)),
            None => Value::Null,
        };
        let reason = match at.closed {
            Some(ev) if ev.kind == EventKind::Decline => texts.decline_reason.clone(),
            _ => String::new(),
        };
        let diff_spec = format!("{}:{src_hash}%0D{dst_hash}", repo.full_name);
        let mut v = json!({
            "type": "pullrequest",
            "id": pr.id,
            "title": title,
            "description": texts.description,
            "summary": rendered_markdown(&texts.description),
            "state": state.as_str(),
            "draft": pr.draft,
            "author": self.account(self.data.member(ws, pr.author)),
            "source": {
                "branch": { "name": texts.source_branch },
                "commit": self.commit_ref(repo, &src_hash),
                "repository": self.repository_ref(repo),
            },
            "destination": {
                "branch": { "name": repo.mainbranch },
                "commit": self.commit_ref(repo, &dst_hash),
                "repository": self.repository_ref(repo),
            },
            "merge_commit": merge_commit,
            "close_source_branch": texts.close_source_branch,
            "closed_by": closed_by,
            "reason": reason,
            "comment_count": at.comment_count,
            "task_count": crate::pr_children::open_tasks_at(repo, pr, self.now),
            "created_on": format_micros(pr.created_on),
            "updated_on": format_micros(at.updated_on),
            "links": {
                "self": href(api.clone()),
                "html": href(format!("{WEB}/{}/pull-requests/{}", repo.full_name, pr.id)),
                "commits": href(format!("{api}/commits")),
                "approve": href(format!("{api}/approve")),
                "request-changes": href(format!("{api}/request-changes")),
                "diff": href(format!("{}/diff/{diff_spec}?from_pullrequest_id={}&topic=true", self.repo_api(repo), pr.id)),
                "diffstat": href(format!("{}/diffstat/{diff_spec}?from_pullrequest_id={}&topic=true", self.repo_api(repo), pr.id)),
                "comments": href(format!("{api}/comments")),
                "activity": href(format!("{api}/activity")),
                "merge": href(format!("{api}/merge")),
                "decline": href(format!("{api}/decline")),
                "statuses": href(format!("{api}/statuses")),
            },
        });
        if repo.merge_queue {
            v["queued"] = json!(false);
        }
        if extras.reviewers {
            v["reviewers"] = Value::Array(
                pr.reviewers()
                    .iter()
                    .map(|&m| self.account(self.data.member(ws, m)))
                    .collect(),
            );
        }
        if extras.participants {
            v["participants"] = Value::Array(self.participants(ws, repo, pr));
        }
        v
    }

    /// The participants of a pull request at the renderer's time: its reviewers, then
    /// everybody else who commented, approved or requested changes, in order of first action.
    pub fn participants(&self, ws: &Workspace, repo: &Repo, pr: &Pr) -> Vec<Value> {
        struct P {
            member: u16,
            reviewer: bool,
            approved: bool,
            state: Option<&'static str>,
            participated_on: Option<Micros>,
        }
        let mut list: Vec<P> = pr
            .reviewers()
            .iter()
            .map(|&m| P {
                member: m,
                reviewer: true,
                approved: false,
                state: None,
                participated_on: None,
            })
            .collect();
        for ev in repo.events_of(pr) {
            if ev.at > self.now {
                break;
            }
            if !matches!(
                ev.kind,
                EventKind::Comment | EventKind::Approve | EventKind::RequestChanges
            ) {
                continue;
            }
            let idx = match list.iter().position(|p| p.member == ev.actor) {
                Some(i) => i,
                None => {
                    list.push(P {
                        member: ev.actor,
                        reviewer: false,
                        approved: false,
                        state: None,
                        participated_on: None,
                    });
                    list.len() - 1
                }
            };
            let p = &mut list[idx];
            p.participated_on = Some(ev.at);
            match ev.kind {
                EventKind::Approve => {
                    p.approved = true;
                    p.state = Some("approved");
                }
                EventKind::RequestChanges => {
                    p.approved = false;
                    p.state = Some("changes_requested");
                }
                _ => {}
            }
        }
        list.iter()
            .map(|p| {
                json!({
                    "type": "participant",
                    "user": self.account(self.data.member(ws, p.member)),
                    "role": if p.reviewer { "REVIEWER" } else { "PARTICIPANT" },
                    "approved": p.approved,
                    "state": p.state,
                    "participated_on": p.participated_on.map(format_micros),
                })
            })
            .collect()
    }
}

/// A repository's `override_settings`, as real responses carry it: which workspace or project
/// defaults the repository overrides (here: its own merge strategy and branching model).
pub(crate) fn override_settings() -> Value {
    json!({"default_merge_strategy": true, "branching_model": true})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_parameter() {
        assert_eq!(PrExtras::from_fields(None), PrExtras::default());
        assert_eq!(
            PrExtras::from_fields(Some("+values.reviewers,+values.participants")),
            PrExtras::ALL
        );
        // a literal '+' decoded to a space
        assert_eq!(
            PrExtras::from_fields(Some(" values.reviewers, values.participants")),
            PrExtras::ALL
        );
        assert_eq!(
            PrExtras::from_fields(Some("+values.reviewers")),
            PrExtras {
                reviewers: true,
                participants: false
            }
        );
        assert_eq!(
            PrExtras::from_fields(Some("values.id,+values.participants")),
            PrExtras {
                reviewers: false,
                participants: true
            }
        );
        assert_eq!(
            PrExtras::from_fields(Some("values.reviewers")),
            PrExtras::default()
        );
    }

    #[test]
    fn html_rendering() {
        let v = rendered_markdown("a < b\n\nc & d");
        assert_eq!(v["html"], "<p>a &lt; b</p><p>c &amp; d</p>");
        assert_eq!(rendered_markdown("")["html"], "");
    }
}
