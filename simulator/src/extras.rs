//! Repository-level facts beyond pull requests: branch restrictions, forks, watchers, user and
//! group permissions, workspace groups, issue-tracker objects, and the e-mail addresses of the
//! authenticated user. Each is a cheap, pure function of the repository's facts (seeded by its
//! uuid), computed per request, and rendered by the [`Renderer`] methods below.
//!
//! Time: branch restrictions, forks and watchers carry the time they appeared (one of each in
//! the future window for most historical repositories); permissions and groups do not change.

use serde_json::{json, Value};

use crate::clock::{format_micros, Micros, DAY, HOUR};
use crate::data::{Dataset, Repo, User, Workspace};
use crate::prng::{SeedBuilder, SplitMix64};
use crate::render::{href, repository_links, uuid_in_url, Renderer, AVATARS, WEB};
use crate::urlenc::encode_component;

/// Whether the issue-tracker endpoints (`components`, `versions`, `milestones`) exist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum IssueTrackers {
    /// Today's reality: Bitbucket removed issue trackers and their API on 2026-08-20
    /// (CHANGE-3071); the endpoints answer 410 Gone.
    #[default]
    Removed,
    /// Before the sunset: repositories with `has_issues: true` serve their objects, the others
    /// answer 404 `Repository has no issue tracker.`
    Enabled,
}

/// The kind of issue-tracker object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IssueKind {
    /// `components` (`type: component`).
    Components,
    /// `versions` (`type: version`).
    Versions,
    /// `milestones` (`type: milestone`).
    Milestones,
}

impl IssueKind {
    /// From the URL segment (`components`, `versions`, `milestones`).
    pub fn parse(s: &str) -> Option<IssueKind> {
        match s {
            "components" => Some(IssueKind::Components),
            "versions" => Some(IssueKind::Versions),
            "milestones" => Some(IssueKind::Milestones),
            _ => None,
        }
    }

    /// The URL segment.
    pub fn segment(self) -> &'static str {
        match self {
            IssueKind::Components => "components",
            IssueKind::Versions => "versions",
            IssueKind::Milestones => "milestones",
        }
    }

    /// The object `type`.
    pub fn type_name(self) -> &'static str {
        match self {
            IssueKind::Components => "component",
            IssueKind::Versions => "version",
            IssueKind::Milestones => "milestone",
        }
    }
}

fn repo_rng(repo: &Repo, label: &str) -> SplitMix64 {
    SeedBuilder::new(0).str(label).str(&repo.uuid).rng()
}

/// A user group of a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    /// Display name.
    pub name: &'static str,
    /// Slug.
    pub slug: &'static str,
}

const GROUPS: &[Group] = &[
    Group {
        name: "Administrators",
        slug: "administrators",
    },
    Group {
        name: "Developers",
        slug: "developers",
    },
    Group {
        name: "Release Managers",
        slug: "release-managers",
    },
    Group {
        name: "Contractors",
        slug: "contractors",
    },
    Group {
        name: "QA Team",
        slug: "qa-team",
    },
];

/// The groups of a workspace: the first three always, the others depending on the workspace.
pub fn workspace_groups(ws: &Workspace) -> Vec<Group> {
    let mut r = SeedBuilder::new(0).str("groups").str(&ws.uuid).rng();
    GROUPS
        .iter()
        .enumerate()
        .filter(|(i, _)| *i < 3 || r.chance(0.6))
        .map(|(_, g)| *g)
        .collect()
}

/// The explicit group grants of a repository, in the workspace's group order.
pub fn group_grants(ws: &Workspace, repo: &Repo) -> Vec<(Group, &'static str)> {
    let mut r = repo_rng(repo, "group-grants");
    workspace_groups(ws)
        .into_iter()
        .filter_map(|g| {
            let roll = r.next_f64();
            let perm = match g.slug {
                "administrators" => Some("admin"),
                "developers" => (roll < 0.9).then_some("write"),
                "release-managers" => (roll < 0.6).then_some(if roll < 0.2 { "admin" } else { "write" }),
                "contractors" => (roll < 0.4).then_some("read"),
                _ => (roll < 0.5).then_some("read"),
            };
            perm.map(|p| (g, p))
        })
        .collect()
}

/// The effective permission of every workspace member on a repository (member index, level).
pub fn user_permissions(ws: &Workspace, repo: &Repo) -> Vec<(u16, &'static str)> {
    let mut r = repo_rng(repo, "user-permissions");
    (0..ws.members.len().min(u16::MAX as usize) as u16)
        .map(|m| {
            let roll = r.next_f64();
            let perm = if m == 0 {
                if ws.administrator {
                    "admin"
                } else {
                    "write"
                }
            } else if roll < 0.15 {
                "admin"
            } else if roll < 0.7 {
                "write"
            } else {
                "read"
            };
            (m, perm)
        })
        .collect()
}

/// One branch restriction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction {
    /// `id`.
    pub id: u64,
    /// `kind`.
    pub kind: &'static str,
    /// `branch_match_kind`: `glob` or `branching_model`.
    pub match_kind: &'static str,
    /// `pattern` (empty for `branching_model`).
    pub pattern: String,
    /// `branch_type` (only for `branching_model`).
    pub branch_type: Option<&'static str>,
    /// `value`.
    pub value: Option<u32>,
    /// `users` (member indexes; only `push` and `restrict_merges`).
    pub users: Vec<u16>,
    /// `groups` (only `push` and `restrict_merges`).
    pub groups: Vec<Group>,
    /// When it was created.
    pub since: Micros,
}

/// The branch restrictions of a repository (all of them, also future ones), by id.
pub fn restrictions(data: &Dataset, ws: &Workspace, repo: &Repo) -> Vec<Restriction> {
    if repo.empty {
        return Vec::new();
    }
    let mut r = repo_rng(repo, "branch-restrictions");
    let main = repo.mainbranch.to_string();
    // (kind, match kind, pattern, branch type, value, with users and groups)
    type Template = (
        &'static str,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Option<u32>,
        bool,
    );
    let templates: [Template; 10] = [
        ("push", "glob", None, None, None, true),
        ("force", "glob", None, None, None, false),
        ("delete", "glob", None, None, None, false),
        ("require_approvals_to_merge", "glob", None, None, Some(2), false),
        (
            "require_passing_builds_to_merge",
            "glob",
            None,
            None,
            Some(1),
            false,
        ),
        ("require_no_changes_requested", "glob", None, None, None, false),
        (
            "restrict_merges",
            "branching_model",
            None,
            Some("production"),
            None,
            true,
        ),
        (
            "require_default_reviewer_approvals_to_merge",
            "branching_model",
            None,
            Some("release"),
            Some(1),
            false,
        ),
        ("delete", "glob", Some("release/*"), None, None, false),
        (
            "require_tasks_to_be_completed",
            "glob",
            Some("*"),
            None,
            None,
            false,
        ),
    ];
    let n = 3 + r.below(5) as usize;
    let mut picks: Vec<usize> = (1..templates.len()).collect();
    r.shuffle(&mut picks);
    let mut chosen = vec![0usize];
    chosen.extend(picks.into_iter().take(n - 1));
    chosen.sort_unstable();
    let groups = workspace_groups(ws);
    let base_id = 1_000 + r.below(90_000);
    let historical = repo.created_on < data.anchor - 30 * DAY;
    let last = chosen.len() - 1;
    chosen
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let (kind, match_kind, pattern, branch_type, value, principals) = templates[t];
            let since = if historical && i == last && last > 0 {
                data.anchor + r.range_i64(HOUR, 20 * DAY)
            } else {
                repo.created_on + r.range_i64(HOUR, 20 * DAY)
            };
            let (users, grps) = if principals {
                let k = 1 + r.below(2) as usize;
                let users = (0..k)
                    .map(|_| r.below(ws.members.len().max(1) as u64) as u16)
                    .fold(Vec::new(), |mut v, u| {
                        if !v.contains(&u) {
                            v.push(u);
                        }
                        v
                    });
                (
                    users,
                    groups.iter().take(1 + r.below(2) as usize).copied().collect(),
                )
            } else {
                (Vec::new(), Vec::new())
            };
            Restriction {
                id: base_id + i as u64 * 7 + r.below(7),
                kind,
                match_kind,
                pattern: if match_kind == "glob" {
                    pattern.map_or(main.clone(), str::to_string)
                } else {
                    String::new()
                },
                branch_type,
                value,
                users,
                groups: grps,
                since,
            }
        })
        .collect()
}

/// A fork of a repository, in its owner's personal workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fork {
    /// The owner: index into [`Dataset::users`].
    pub owner: u32,
    /// `{uuid}` of the fork.
    pub uuid: String,
    /// `is_private`.
    pub is_private: bool,
    /// `created_on`.
    pub created_on: Micros,
    /// A later push (bumps `updated_on` once it happened).
    pub pushed: Micros,
}

/// The personal workspace slug of a user (`ada.okafor` → `ada-okafor`).
pub fn personal_slug(user: &User) -> String {
    user.nickname.replace('.', "-")
}

/// Every fork of a repository ever (also future ones), by `created_on`.
pub fn forks(data: &Dataset, ws: &Workspace, repo: &Repo) -> Vec<Fork> {
    if repo.empty || repo.fork_policy == "no_forks" || repo.created_on >= data.horizon {
        return Vec::new();
    }
    let mut r = repo_rng(repo, "forks");
    let n = if repo.is_private {
        r.below(3) as usize
    } else {
        3 + r.below(4) as usize
    };
    // Private repositories are forked by members, public ones by anybody.
    let mut candidates: Vec<u32> = if repo.is_private {
        ws.members.iter().copied().filter(|&u| u != 0).collect()
    } else {
        (1..data.users.len() as u32).collect()
    };
    r.shuffle(&mut candidates);
    let historical = repo.created_on < data.anchor - 30 * DAY;
    let mut out: Vec<Fork> = candidates
        .into_iter()
        .take(n)
        .enumerate()
        .map(|(i, owner)| {
            let created_on = if historical && i == 0 && n >= 2 {
                data.anchor + r.range_i64(HOUR, 25 * DAY)
            } else {
                r.range_i64(repo.created_on + DAY, data.horizon)
            };
            Fork {
                owner,
                uuid: r.uuid_braced(),
                is_private: repo.is_private || r.chance(0.3),
                created_on,
                pushed: created_on + r.range_i64(HOUR, 20 * DAY),
            }
        })
        .collect();
    out.sort_by(|a, b| (a.created_on, &a.uuid).cmp(&(b.created_on, &b.uuid)));
    out
}

/// Every watcher of a repository ever: (index into [`Dataset::users`], since), by since.
pub fn watchers(data: &Dataset, ws: &Workspace, repo: &Repo) -> Vec<(u32, Micros)> {
    let mut r = repo_rng(repo, "watchers");
    let mut members: Vec<u32> = ws.members.clone();
    r.shuffle(&mut members);
    let n_members = (2 + r.below(5) as usize).min(members.len());
    let mut users: Vec<u32> = members.into_iter().take(n_members).collect();
    if !repo.is_private {
        let mut outsiders: Vec<u32> = (1..data.users.len() as u32)
            .filter(|u| !ws.members.contains(u))
            .collect();
        r.shuffle(&mut outsiders);
        users.extend(outsiders.into_iter().take(1 + r.below(4) as usize));
    }
    let historical = repo.created_on < data.anchor - 30 * DAY;
    let mut out: Vec<(u32, Micros)> = users
        .into_iter()
        .enumerate()
        .map(|(i, u)| {
            let since = if historical && i == 1 {
                data.anchor + r.range_i64(HOUR, 25 * DAY)
            } else {
                r.range_i64(repo.created_on, repo.created_on.max(data.anchor))
            };
            (u, since)
        })
        .collect();
    out.sort_by_key(|&(u, s)| (s, u));
    out
}

/// The issue-tracker objects of a repository: (id, name).
pub fn issue_objects(repo: &Repo, kind: IssueKind) -> Vec<(u64, String)> {
    let mut r = repo_rng(repo, kind.segment());
    let names: Vec<String> = match kind {
        IssueKind::Components => {
            let mut v = vec![
                "backend",
                "frontend",
                "infrastructure",
                "documentation",
                "api",
                "mobile",
            ];
            r.shuffle(&mut v);
            v.into_iter()
                .take(3 + r.below(3) as usize)
                .map(str::to_string)
                .collect()
        }
        IssueKind::Versions => {
            let n = 2 + r.below(4);
            (0..n).map(|i| format!("{}.{}", 1 + i / 2, i % 2)).collect()
        }
        IssueKind::Milestones => ["M1", "M2", "Beta", "GA", "Q3 release"]
            .iter()
            .take(2 + r.below(4) as usize)
            .map(|s| s.to_string())
            .collect(),
    };
    let base = 100 + r.below(5_000);
    names
        .into_iter()
        .enumerate()
        .map(|(i, n)| (base + i as u64, n))
        .collect()
}

impl Renderer<'_> {
    /// A `group` object.
    pub fn group(&self, ws: &Workspace, g: &Group) -> Value {
        json!({
            "type": "group",
            "name": g.name,
            "slug": g.slug,
            "full_slug": format!("{}:{}", ws.slug, g.slug),
            "workspace": self.workspace_ref(ws),
            "links": {
                "self": href(format!("{}/workspaces/{}/groups/{}", self.api, ws.slug, g.slug)),
                "html": href(format!("{WEB}/{}/workspace/settings/groups/{}", ws.slug, g.slug)),
            },
        })
    }

    /// A group as branch restrictions embed it: with `account_privilege`, the workspace
    /// privilege its members get (`admin` for the administrators, else `collaborator`).
    fn restriction_group(&self, ws: &Workspace, g: &Group) -> Value {
        let mut v = self.group(ws, g);
        let privilege = if g.slug == "administrators" {
            "admin"
        } else {
            "collaborator"
        };
        v["account_privilege"] = json!(privilege);
        v
    }

    /// A `repository_group_permission` object.
    pub fn group_permission(&self, ws: &Workspace, repo: &Repo, g: &Group, perm: &str) -> Value {
        json!({
            "type": "repository_group_permission",
            "permission": perm,
            "group": self.group(ws, g),
            "repository": self.repository_ref(repo),
            "links": {
                "self": href(format!("{}/permissions-config/groups/{}", self.repo_api(repo), g.slug)),
            },
        })
    }

    /// A `repository_permission` object.
    pub fn repository_permission(&self, ws: &Workspace, repo: &Repo, member: u16, perm: &str) -> Value {
        json!({
            "type": "repository_permission",
            "permission": perm,
            "user": self.account(self.data.member(ws, member)),
            "repository": self.repository_ref(repo),
        })
    }

    /// A `branchrestriction` object.
    pub fn branch_restriction(&self, ws: &Workspace, repo: &Repo, b: &Restriction) -> Value {
        let mut v = json!({
            "type": "branchrestriction",
            "id": b.id,
            "kind": b.kind,
            "branch_match_kind": b.match_kind,
            "pattern": b.pattern,
            "value": b.value,
            "users": b.users.iter().map(|&m| self.account(self.data.member(ws, m))).collect::<Vec<_>>(),
            "groups": b.groups.iter().map(|g| self.restriction_group(ws, g)).collect::<Vec<_>>(),
            "links": {
                "self": href(format!("{}/branch-restrictions/{}", self.repo_api(repo), b.id)),
            },
        });
        if let Some(t) = b.branch_type {
            v["branch_type"] = json!(t);
        }
        v
    }

    /// A fork (a full `repository` object with `parent`) as of the renderer's time.
    pub fn fork(&self, repo: &Repo, f: &Fork) -> Value {
        let user = &self.data.users[f.owner as usize];
        let ws_slug = personal_slug(user);
        let full_name = format!("{ws_slug}/{}", repo.slug);
        let api = format!("{}/repositories/{full_name}", self.api);
        let updated = if f.pushed <= self.now {
            f.pushed
        } else {
            f.created_on
        };
        let avatar = href(format!(
            "https://bytebucket.org/ravatar/{}?ts=default",
            uuid_in_url(&f.uuid)
        ));
        json!({
            "type": "repository",
            "uuid": f.uuid,
            "full_name": full_name,
            "name": repo.name,
            "slug": repo.slug,
            "description": repo.description,
            "is_private": f.is_private,
            "scm": "git",
            "owner": self.account(user),
            "workspace": {
                "type": "workspace",
                "uuid": user.uuid,
                "slug": ws_slug,
                "name": user.display_name,
                "links": {
                    "self": href(format!("{}/workspaces/{ws_slug}", self.api)),
                    "html": href(format!("{WEB}/{ws_slug}/")),
                    "avatar": href(format!("{AVATARS}/initials/{}-1.png", user.initials)),
                },
            },
            "project": {
                "type": "project",
                "key": "PROJ",
                "uuid": SeedBuilder::new(0).str("personal-project").str(&user.uuid).rng().uuid_braced(),
                "name": "Untitled project",
                "links": {
                    "self": href(format!("{}/workspaces/{ws_slug}/projects/PROJ", self.api)),
                    "html": href(format!("{WEB}/{ws_slug}/workspace/projects/PROJ")),
                    "avatar": href(format!("{WEB}/{ws_slug}/workspace/projects/PROJ/avatar/32")),
                },
            },
            "mainbranch": { "type": "branch", "name": repo.mainbranch },
            "language": repo.language,
            "size": repo.size_at(f.created_on.min(self.now)),
            "has_issues": false,
            "has_wiki": false,
            "fork_policy": if f.is_private { "no_public_forks" } else { "allow_forks" },
            "created_on": format_micros(f.created_on),
            "updated_on": format_micros(updated),
            "website": Value::Null,
            "override_settings": crate::render::override_settings(),
            "parent": self.repository_ref(repo),
            "links": repository_links(&api, &full_name, avatar),
        })
    }

    /// An issue-tracker object.
    pub fn issue_object(&self, repo: &Repo, kind: IssueKind, id: u64, name: &str) -> Value {
        json!({
            "type": kind.type_name(),
            "id": id,
            "name": name,
            "links": {
                "self": href(format!("{}/{}/{id}", self.repo_api(repo), kind.segment())),
            },
        })
    }

    /// An `email` object of `/user/emails`.
    pub fn email(&self, email: &str, is_primary: bool, is_confirmed: bool) -> Value {
        json!({
            "type": "email",
            "email": email,
            "is_primary": is_primary,
            "is_confirmed": is_confirmed,
            "links": {
                "self": href(format!("{}/user/emails/{}", self.api, encode_component(email))),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;

    #[test]
    fn facts_are_plausible() {
        let d = Dataset::generate(&SimConfig::default());
        let acme = &d.workspaces[0];
        let web = acme.repo("web-app").unwrap().1;
        assert!(forks(&d, acme, web).len() >= 3);
        let core = d.workspaces[1].repo("core-service").unwrap().1;
        assert!(forks(&d, &d.workspaces[1], core).is_empty(), "no_forks");
        for repo in &acme.repos {
            let rs = restrictions(&d, acme, repo);
            if repo.empty {
                assert!(rs.is_empty());
                continue;
            }
            assert!(rs.len() >= 3);
            let mut ids: Vec<u64> = rs.iter().map(|r| r.id).collect();
            ids.dedup();
            assert_eq!(ids.len(), rs.len());
            assert!(!group_grants(acme, repo).is_empty());
            assert_eq!(user_permissions(acme, repo)[0], (0, "admin"));
            assert!(watchers(&d, acme, repo).len() >= 2);
        }
        assert!(issue_objects(web, IssueKind::Milestones).len() >= 2);
    }
}
