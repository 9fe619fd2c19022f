//! Branches and tags: the refs behind `GET …/refs/branches` and `GET …/refs/tags`, derived from
//! the repository's [`History`] (generated lazily, once per repository, like the history).
//!
//! # Branches at time `T`
//!
//! - the main branch, at its head at `T`;
//! - the source branch of every pull request, from the push of its first commit on (head: its
//!   newest commit pushed by `T`), until the pull request merges with `close_source_branch`.
//!   Declined and superseded pull requests keep their branches, as on Bitbucket;
//! - one merged pull request per repository lost its branch at its merge whatever
//!   `close_source_branch` says: [`RefFacts::deleted_branch_pr`], the pull request merged last
//!   before the anchor (the first one to merge for a repository created later). Bitbucket then
//!   empties its commit list;
//! - a `hotfix/<subject>` branch per late push (see [`crate::history`]), from its push on.
//!
//! Two pull requests with the same branch name (`renovate/…` bumps) share the branch: its head is
//! the newest of their heads. Branches are listed by name (byte order).
//!
//! # Tags at time `T`
//!
//! An annotated tag `v<x.y.z>` on every `Release x.y.z` commit of the main line, created 1–10
//! minutes after the commit was pushed (visible from then on), tagged by the commit's author (a
//! bot without a Bitbucket user) or, for about a third of them, by a member (with `user`).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::clock::{format_micros, Micros, MINUTE, SECOND};
use crate::data::{Repo, Workspace};
use crate::history::{CommitAuthor, History, EXTERNAL_AUTHORS};
use crate::names;
use crate::prng::SeedBuilder;
use crate::render::{href, PrTexts, Renderer, WEB};
use crate::urlenc::encode_component;

/// One tag.
#[derive(Debug, Clone)]
pub struct TagFact {
    /// `v1.2.3`.
    pub name: String,
    /// The tagged commit (index into [`History::commits`]).
    pub commit: u32,
    /// When the tag was created (its `date`; visible from then on).
    pub date: Micros,
    /// The member who tagged it, or `None` for the commit's own (bot) author.
    pub tagger: Option<u16>,
    /// The release, `1.2.3`.
    pub version: String,
}

/// The static facts behind a repository's refs.
#[derive(Debug, Clone, Default)]
pub struct RefFacts {
    /// Per pull request (index into the repository's `prs`): its source branch name.
    pr_branch_names: Vec<String>,
    /// Per pull request: `close_source_branch`.
    close_source_branch: Vec<bool>,
    /// Per late push: the branch name and the commit.
    hotfixes: Vec<(String, u32)>,
    /// Every tag ever, by name.
    pub tags: Vec<TagFact>,
    /// The pull request (index into `prs`) whose source branch was deleted at its merge, so
    /// that its commit list is empty once merged.
    pub deleted_branch_pr: Option<usize>,
}

/// Parses `Release 1.2.3` (the first line of a release commit's message).
fn release_version(message: &str) -> Option<&str> {
    message.lines().next()?.strip_prefix("Release ").map(str::trim)
}

/// The branch name of each late push, in [`History::hotfixes`] order: `hotfix/<subject>`, with
/// `-2`, `-3`, … when two share a subject.
pub fn hotfix_branch_names(h: &History) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(h.hotfixes.len());
    for &c in &h.hotfixes {
        let subject = h.commits[c as usize]
            .message
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("Hotfix: "))
            .unwrap_or("fix");
        let base = format!("hotfix/{}", names::branchify(subject));
        let mut name = base.clone();
        let mut n = 2;
        while out.contains(&name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        out.push(name);
    }
    out
}

impl RefFacts {
    /// Derives the refs of a repository from its history. `anchor` picks the pull request whose
    /// branch was deleted; `members` is the workspace's member count (for taggers).
    pub fn build(repo: &Repo, h: &History, anchor: Micros, members: usize) -> RefFacts {
        if h.commits.is_empty() {
            return RefFacts::default();
        }
        let texts: Vec<PrTexts> = repo.prs.iter().map(PrTexts::of).collect();
        let pushed = |c: u32| h.commits[c as usize].pushed;
        // The pull request merged last before the anchor, else the first one to merge.
        let merged: Vec<(Micros, usize)> = h
            .pr_merges
            .iter()
            .enumerate()
            .filter_map(|(pi, m)| m.map(|c| (pushed(c), pi)))
            .collect();
        let deleted_branch_pr = merged
            .iter()
            .filter(|(t, _)| *t <= anchor)
            .max()
            .or_else(|| merged.iter().min())
            .map(|&(_, pi)| pi);

        let hotfixes = hotfix_branch_names(h)
            .into_iter()
            .zip(h.hotfixes.iter().copied())
            .collect();

        let mut rng = SeedBuilder::new(0).str("tags").str(&repo.uuid).rng();
        let mut tags: Vec<TagFact> = Vec::new();
        for &c in h.main_line() {
            let commit = &h.commits[c as usize];
            let Some(version) = release_version(&commit.message) else {
                continue;
            };
            // Git dates have whole seconds.
            let date = (commit.pushed + rng.range_i64(MINUTE, 10 * MINUTE)) / SECOND * SECOND;
            let tagger = rng.chance(0.34).then(|| rng.below(members.max(1) as u64) as u16);
            tags.push(TagFact {
                name: format!("v{version}"),
                commit: c,
                date,
                tagger,
                version: version.to_string(),
            });
        }
        tags.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        tags.dedup_by(|a, b| a.name == b.name);

        RefFacts {
            pr_branch_names: texts.iter().map(|t| t.source_branch.clone()).collect(),
            close_source_branch: texts.iter().map(|t| t.close_source_branch).collect(),
            hotfixes,
            tags,
            deleted_branch_pr,
        }
    }

    /// The branches at `t`: `(name, head commit)`, by name.
    pub fn branches_at(&self, repo: &Repo, h: &History, t: Micros) -> Vec<(String, u32)> {
        let Some(main) = h.main_tip(t) else {
            return Vec::new();
        };
        let pushed = |c: u32| h.commits[c as usize].pushed;
        let mut map: BTreeMap<&str, u32> = BTreeMap::new();
        map.insert(repo.mainbranch, main);
        for (pi, commits) in h.pr_branches.iter().enumerate() {
            let Some(&head) = commits.iter().rev().find(|&&c| pushed(c) <= t) else {
                continue;
            };
            let merged = h
                .pr_merges
                .get(pi)
                .copied()
                .flatten()
                .is_some_and(|m| pushed(m) <= t);
            let closes = self.close_source_branch.get(pi).copied().unwrap_or(false)
                || self.deleted_branch_pr == Some(pi);
            if merged && closes {
                continue;
            }
            let Some(name) = self.pr_branch_names.get(pi) else {
                continue;
            };
            let entry = map.entry(name.as_str()).or_insert(head);
            if pushed(head) > pushed(*entry) {
                *entry = head;
            }
        }
        for (name, c) in &self.hotfixes {
            if pushed(*c) <= t {
                map.entry(name.as_str()).or_insert(*c);
            }
        }
        map.into_iter().map(|(n, c)| (n.to_string(), c)).collect()
    }

    /// The tags at `t`, by name.
    pub fn tags_at(&self, t: Micros) -> impl Iterator<Item = &TagFact> {
        self.tags.iter().filter(move |tag| tag.date <= t)
    }
}

impl Renderer<'_> {
    fn ref_links(&self, repo: &Repo, kind: &str, name: &str, html: String) -> Value {
        let api = self.repo_api(repo);
        let esc = name
            .split('/')
            .map(encode_component)
            .collect::<Vec<_>>()
            .join("/");
        json!({
            "self": href(format!("{api}/refs/{kind}/{esc}")),
            "commits": href(format!("{api}/commits/{esc}")),
            "html": href(html),
        })
    }

    /// A `branch` object of `/refs/branches`.
    pub fn branch(&self, ws: &Workspace, repo: &Repo, h: &History, name: &str, head: u32) -> Value {
        json!({
            "type": "branch",
            "name": name,
            "target": self.commit(ws, repo, h, head),
            "merge_strategies": [
                "merge_commit",
                "squash",
                "fast_forward",
                "squash_fast_forward",
                "rebase_fast_forward",
                "rebase_merge",
            ],
            "default_merge_strategy": "merge_commit",
            "links": self.ref_links(repo, "branches", name, format!("{WEB}/{}/branch/{name}", repo.full_name)),
        })
    }

    /// A `tag` object of `/refs/tags`.
    pub fn tag(&self, ws: &Workspace, repo: &Repo, h: &History, tag: &TagFact) -> Value {
        let commit = &h.commits[tag.commit as usize];
        let tagger = match (tag.tagger, commit.author) {
            (Some(m), _) | (None, CommitAuthor::Member(m)) => {
                let u = self.data.member(ws, m);
                json!({
                    "type": "author",
                    "raw": format!("{} <{}@example.com>", u.display_name, u.nickname),
                    "user": self.account(u),
                })
            }
            (None, CommitAuthor::External(e)) => json!({
                "type": "author",
                "raw": EXTERNAL_AUTHORS.get(usize::from(e)).copied().unwrap_or("Unknown <unknown@example.com>"),
            }),
        };
        json!({
            "type": "tag",
            "name": tag.name,
            "target": self.commit(ws, repo, h, tag.commit),
            "message": format!("Release {}\n", tag.version),
            "date": format_micros(tag.date),
            "tagger": tagger,
            "links": self.ref_links(repo, "tags", &tag.name, format!("{WEB}/{}/commits/tag/{}", repo.full_name, tag.name)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_versions() {
        assert_eq!(release_version("Release 1.2.3\n"), Some("1.2.3"));
        assert_eq!(release_version("Update README\n"), None);
    }
}
