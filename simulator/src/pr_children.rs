//! Pull request children: the facts and JSON behind `/pullrequests/{id}/commits`,
//! `/pullrequests/{id}/diffstat` (and `/diffstat/{spec}`), `/pullrequests/{id}/statuses` and
//! `/pullrequests/{id}/tasks`. Cheap, pure functions of the pull request (its seed and
//! timeline), the repository's [`History`] and its [`Ci`], computed per request.
//!
//! - **Commits**: the commits of the pull request's source branch pushed so far, newest first
//!   (a merged pull request's feature commits, an open one's branch commits). The pull request
//!   whose branch was deleted ([`crate::refs::RefFacts::deleted_branch_pr`]) has an empty list
//!   once merged, as Bitbucket empties it.
//! - **Diffstat**: 1–30 files per pull request (most have a few), taken from the repository's
//!   tree as it was when the pull request was created: `modified` (72 %), `added` (14 %, a new
//!   file beside a chosen one), `removed` (6 %) and `renamed` (8 %). Binary files count no
//!   lines. The same at every clock.
//! - **Statuses**: one build status per commit of the pull request: the commit's pull-request
//!   pipeline when it has one (state follows the pipeline: `INPROGRESS`, then `SUCCESSFUL`,
//!   `FAILED` or `STOPPED`), else a status from an external CI (`<repo>-ci`: repositories without
//!   Pipelines, and commits pushed before Pipelines were enabled), which runs 2–15 minutes.
//! - **Tasks**: `task_count` open tasks, created with the pull request (the author's
//!   checklist), plus, for about 40 % of the pull requests with comments, one or two tasks
//!   created on a reviewer's comment (`comment.id` is that comment's id) and resolved by the
//!   author at the pull request's next event. While such a task is open, the pull request's
//!   `task_count` counts it too, so `task_count` always equals the open tasks served; it changes
//!   only at events that also move `updated_on`.

use serde_json::{json, Value};

use crate::activity::comment_id;
use crate::clock::{format_micros, Micros, MINUTE, SECOND};
use crate::data::{EventKind, Pr, Repo, Workspace};
use crate::history::{escape_path, History};
use crate::pipelines::{Ci, Outcome, PipelineState};
use crate::prng::{SeedBuilder, SplitMix64};
use crate::render::{href, rendered_markdown, short_hash, PrTexts, Renderer, WEB};

/// The commits of a pull request (index `pi`) at `t`, newest first. `deleted`: its source branch
/// was deleted at its merge (the list is then empty once merged).
pub fn pr_commits(h: &History, pi: usize, t: Micros, deleted: bool) -> Vec<u32> {
    let pushed = |c: u32| h.commits[c as usize].pushed;
    if deleted
        && h.pr_merges
            .get(pi)
            .copied()
            .flatten()
            .is_some_and(|m| pushed(m) <= t)
    {
        return Vec::new();
    }
    h.pr_branches
        .get(pi)
        .map(|b| b.iter().rev().copied().filter(|&c| pushed(c) <= t).collect())
        .unwrap_or_default()
}

// ----- tasks ---------------------------------------------------------------------------------------

const TASKS: &[&str] = &[
    "Update the CHANGELOG",
    "Add a test for the empty case",
    "Rename the helper as discussed",
    "Remove the debug logging",
    "Document the new option in the README",
    "Check the migration on a copy of production",
    "Ask the security team for a review",
    "Bump the version number",
];

/// One task of a pull request.
#[derive(Debug, Clone)]
pub struct Task {
    /// `id` (unique within the repository).
    pub id: u64,
    /// `created_on`.
    pub created: Micros,
    /// Creator (member index).
    pub creator: u16,
    /// `(resolved_on, resolved_by)` for a task that gets resolved.
    pub resolved: Option<(Micros, u16)>,
    /// The comment it was created on (its id).
    pub comment: Option<u64>,
    /// The text.
    pub text: &'static str,
}

fn task_id(repo: &Repo, pr: &Pr, k: u64) -> u64 {
    let base = 10_000_000 + SeedBuilder::new(0).str("tasks").str(&repo.uuid).finish() % 40_000_000;
    base + u64::from(pr.id) * 16 + k
}

/// The tasks created on comments: `(event index of the comment, its ordinal among the
/// comments, when the task is resolved)`. Cheap: `task_count` is computed from it for every
/// pull request rendered.
fn comment_tasks(repo: &Repo, pr: &Pr) -> Vec<(usize, u64, Micros)> {
    let mut r = SeedBuilder::new(pr.seed).str("tasks").rng();
    if !r.chance(0.4) {
        return Vec::new();
    }
    let wanted = 1 + r.below(2) as usize;
    let events = repo.events_of(pr);
    let mut out = Vec::new();
    let mut ordinal = 0;
    for (k, e) in events.iter().enumerate() {
        if e.kind != EventKind::Comment {
            continue;
        }
        ordinal += 1;
        if e.actor == pr.author || out.len() == wanted {
            continue;
        }
        // Resolved at the next event that happens later (an open pull request may have none).
        if let Some(next) = events[k + 1..].iter().find(|x| x.at > e.at) {
            out.push((k, ordinal - 1, next.at));
        }
    }
    out
}

/// Every task a pull request ever has, by id.
pub fn tasks_of(repo: &Repo, pr: &Pr) -> Vec<Task> {
    let text = |k: u64| {
        let mut r = SeedBuilder::new(pr.seed).str("task-text").num(k).rng();
        TASKS[r.below(TASKS.len() as u64) as usize]
    };
    let mut out: Vec<Task> = (0..u64::from(pr.task_count))
        .map(|k| Task {
            id: task_id(repo, pr, k),
            created: pr.created_on,
            creator: pr.author,
            resolved: None,
            comment: None,
            text: text(k),
        })
        .collect();
    let events = repo.events_of(pr);
    for (j, (ev, ordinal, resolved)) in comment_tasks(repo, pr).into_iter().enumerate() {
        let k = 8 + j as u64;
        out.push(Task {
            id: task_id(repo, pr, k),
            created: events[ev].at,
            creator: events[ev].actor,
            resolved: Some((resolved, pr.author)),
            comment: Some(comment_id(repo, pr, ordinal)),
            text: text(k),
        });
    }
    out
}

/// `task_count` at `t`: the tasks created and not resolved by then.
pub fn open_tasks_at(repo: &Repo, pr: &Pr, t: Micros) -> u32 {
    let events = repo.events_of(pr);
    let extra = comment_tasks(repo, pr)
        .iter()
        .filter(|&&(ev, _, resolved)| events[ev].at <= t && t < resolved)
        .count() as u32;
    u32::from(pr.task_count) + extra
}

// ----- diffstat ------------------------------------------------------------------------------------

/// What happened to a file in a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// `modified`.
    Modified,
    /// `added`.
    Added,
    /// `removed`.
    Removed,
    /// `renamed`.
    Renamed,
}

/// One diffstat entry.
#[derive(Debug, Clone)]
pub struct DiffEntry {
    /// `status`.
    pub status: FileStatus,
    /// `old.path` (none for an added file).
    pub old: Option<String>,
    /// `new.path` (none for a removed file).
    pub new: Option<String>,
    /// `lines_added`.
    pub added: u64,
    /// `lines_removed`.
    pub removed: u64,
}

fn log_uniform(r: &mut SplitMix64, lo: u64, hi: u64) -> u64 {
    let (a, b) = ((lo.max(1) as f64).ln(), (hi.max(2) as f64).ln());
    (a + (b - a) * r.next_f64()).exp() as u64
}

/// `dir/stem.ext` → `dir/stem<suffix>.ext`.
fn with_suffix(path: &str, suffix: &str) -> String {
    let (dir, file) = path.rsplit_once('/').map_or(("", path), |(d, f)| (d, f));
    let (stem, ext) = match file.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s, format!(".{e}")),
        _ => (file, String::new()),
    };
    if dir.is_empty() {
        format!("{stem}{suffix}{ext}")
    } else {
        format!("{dir}/{stem}{suffix}{ext}")
    }
}

/// The diffstat of a pull request, by path.
pub fn diffstat_of(h: &History, pr: &Pr) -> Vec<DiffEntry> {
    let mut r = SeedBuilder::new(pr.seed).str("diffstat").rng();
    let files: Vec<usize> = (0..h.files.len())
        .filter(|&i| {
            let f = &h.files[i];
            f.added <= pr.created_on && !f.attributes.iter().any(|a| *a == "link" || *a == "subrepository")
        })
        .collect();
    if files.is_empty() {
        return Vec::new();
    }
    let n = (log_uniform(&mut r, 1, 31) as usize)
        .clamp(1, 30)
        .min(files.len());
    let mut picked = files;
    // A partial Fisher–Yates: the first `n` are a uniform sample.
    for i in 0..n {
        let j = i + r.below((picked.len() - i) as u64) as usize;
        picked.swap(i, j);
    }
    let mut out: Vec<DiffEntry> = picked[..n]
        .iter()
        .map(|&i| {
            let f = &h.files[i];
            let binary = f.attributes.iter().any(|a| *a == "binary" || *a == "lfs");
            let roll = r.next_f64();
            let mut lines = |lo: u64, hi: u64| if binary { 0 } else { log_uniform(&mut r, lo, hi) };
            if roll < 0.72 {
                DiffEntry {
                    status: FileStatus::Modified,
                    old: Some(f.path.clone()),
                    new: Some(f.path.clone()),
                    added: lines(1, 300),
                    removed: lines(1, 150).saturating_sub(1),
                }
            } else if roll < 0.86 {
                DiffEntry {
                    status: FileStatus::Added,
                    old: None,
                    new: Some(with_suffix(&f.path, &format!("_{}", pr.id))),
                    added: lines(5, 600),
                    removed: 0,
                }
            } else if roll < 0.92 {
                DiffEntry {
                    status: FileStatus::Removed,
                    old: Some(f.path.clone()),
                    new: None,
                    added: 0,
                    removed: lines(5, 500),
                }
            } else {
                DiffEntry {
                    status: FileStatus::Renamed,
                    old: Some(f.path.clone()),
                    new: Some(with_suffix(&f.path, "_v2")),
                    added: lines(1, 20).saturating_sub(1),
                    removed: lines(1, 20).saturating_sub(1),
                }
            }
        })
        .collect();
    out.sort_by(|a, b| {
        let key = |e: &DiffEntry| e.new.clone().or_else(|| e.old.clone()).unwrap_or_default();
        key(a).cmp(&key(b))
    });
    out
}

// ----- statuses ------------------------------------------------------------------------------------

/// The state of a build status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildState {
    /// `INPROGRESS`.
    InProgress,
    /// `SUCCESSFUL`.
    Successful,
    /// `FAILED`.
    Failed,
    /// `STOPPED`.
    Stopped,
}

impl BuildState {
    fn name(self) -> &'static str {
        match self {
            BuildState::InProgress => "INPROGRESS",
            BuildState::Successful => "SUCCESSFUL",
            BuildState::Failed => "FAILED",
            BuildState::Stopped => "STOPPED",
        }
    }
}

/// One build status, as of some time.
#[derive(Debug, Clone)]
pub struct Status {
    /// The commit (index into the history's commits).
    pub commit: u32,
    /// `key`.
    pub key: String,
    /// `name`.
    pub name: String,
    /// `url`.
    pub url: String,
    /// `state`.
    pub state: BuildState,
    /// `description`.
    pub description: String,
    /// `created_on`.
    pub created: Micros,
    /// `updated_on`.
    pub updated: Micros,
}

/// The build statuses of a pull request's commits at `t`, newest first.
pub fn statuses_of(repo: &Repo, h: &History, ci: &Ci, pi: usize, t: Micros) -> Vec<Status> {
    let Some(pr) = repo.prs.get(pi) else {
        return Vec::new();
    };
    let branch = PrTexts::of(pr).source_branch;
    let pipelines = ci.pr_pipelines.get(&(pi as u32));
    let mut out = Vec::new();
    for c in pr_commits(h, pi, t, false) {
        let commit = &h.commits[c as usize];
        let pipeline = pipelines
            .into_iter()
            .flatten()
            .filter_map(|&i| ci.pipelines.get(i as usize))
            .find(|p| p.commit == c && p.created <= t);
        if let Some(p) = pipeline {
            let (state, updated) = match ci.pipeline_state(p, t) {
                PipelineState::Pending => (BuildState::InProgress, p.created),
                PipelineState::Running | PipelineState::Paused => (
                    BuildState::InProgress,
                    ci.steps_of(p).first().map_or(p.created, |s| s.started),
                ),
                PipelineState::Completed(o) => (
                    match o {
                        Outcome::Successful => BuildState::Successful,
                        Outcome::Stopped => BuildState::Stopped,
                        _ => BuildState::Failed,
                    },
                    p.completed,
                ),
            };
            let verb = match state {
                BuildState::InProgress => "is in progress",
                BuildState::Successful => "succeeded",
                BuildState::Failed => "failed",
                BuildState::Stopped => "was stopped",
            };
            out.push(Status {
                commit: c,
                key: p.uuid.trim_matches(|ch| ch == '{' || ch == '}').to_string(),
                name: format!("Pipeline #{} for {branch}", p.build_number),
                url: format!("{WEB}/{}/pipelines/results/{}", repo.full_name, p.build_number),
                state,
                description: format!("Pipeline #{} {verb}", p.build_number),
                created: p.created,
                updated,
            });
            continue;
        }
        // An external CI (no pipeline for this commit).
        let mut r = SeedBuilder::new(0).str("ci-status").str(&commit.hash).rng();
        let created = commit.pushed + r.range_i64(10 * SECOND, 60 * SECOND);
        if created > t {
            continue;
        }
        let done = created + r.range_i64(2 * MINUTE, 15 * MINUTE);
        let roll = r.next_f64();
        let number = 100 + r.below(9_900);
        let (state, updated) = if t < done {
            (BuildState::InProgress, created)
        } else if roll < 0.88 {
            (BuildState::Successful, done)
        } else if roll < 0.98 {
            (BuildState::Failed, done)
        } else {
            (BuildState::Stopped, done)
        };
        let description = match state {
            BuildState::InProgress => "Build in progress",
            BuildState::Successful => "Build passed",
            BuildState::Failed => "Build failed: 2 tests failed",
            BuildState::Stopped => "Build aborted",
        };
        out.push(Status {
            commit: c,
            key: format!("{}-ci", repo.slug),
            name: format!("{} » {branch} #{number}", repo.slug),
            url: format!("https://ci.example.com/job/{}/{number}/", repo.slug),
            state,
            description: description.to_string(),
            created,
            updated,
        });
    }
    out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.key.cmp(&b.key)));
    out
}

// ----- JSON ----------------------------------------------------------------------------------------

impl Renderer<'_> {
    fn commit_file(&self, repo: &Repo, hash: &str, path: &str) -> Value {
        let esc = escape_path(path);
        json!({
            "type": "commit_file",
            "path": path,
            "escaped_path": esc,
            "links": { "self": href(format!("{}/src/{hash}/{esc}", self.repo_api(repo))) },
        })
    }

    /// A `diffstat` entry of a pull request.
    pub fn diffstat(&self, repo: &Repo, pr: &Pr, e: &DiffEntry) -> Value {
        let status = match e.status {
            FileStatus::Modified => "modified",
            FileStatus::Added => "added",
            FileStatus::Removed => "removed",
            FileStatus::Renamed => "renamed",
        };
        let old = e.old.as_deref().map_or(Value::Null, |p| {
            self.commit_file(repo, &short_hash(pr.seed, "destination"), p)
        });
        let new = e.new.as_deref().map_or(Value::Null, |p| {
            self.commit_file(repo, &short_hash(pr.seed, "source"), p)
        });
        json!({
            "type": "diffstat",
            "status": status,
            "lines_added": e.added,
            "lines_removed": e.removed,
            "old": old,
            "new": new,
        })
    }

    /// A `build` status.
    pub fn build_status(&self, repo: &Repo, h: &History, s: &Status, refname: &str) -> Value {
        let hash = &h.commits[s.commit as usize].hash;
        let api = self.repo_api(repo);
        json!({
            "type": "build",
            "key": s.key,
            "name": s.name,
            "refname": refname,
            "url": s.url,
            "state": s.state.name(),
            "description": s.description,
            "created_on": format_micros(s.created),
            "updated_on": format_micros(s.updated),
            "links": {
                "self": href(format!("{api}/commit/{hash}/statuses/build/{}", s.key)),
                "commit": href(format!("{api}/commit/{hash}")),
            },
        })
    }

    /// A task of a pull request, as of the renderer's time.
    pub fn task(&self, ws: &Workspace, repo: &Repo, pr: &Pr, task: &Task) -> Value {
        let api = format!("{}/pullrequests/{}", self.repo_api(repo), pr.id);
        let resolved = task.resolved.filter(|(at, _)| *at <= self.now);
        let mut v = json!({
            "id": task.id,
            "state": if resolved.is_some() { "RESOLVED" } else { "UNRESOLVED" },
            "content": rendered_markdown(task.text),
            "creator": self.account(self.data.member(ws, task.creator)),
            "created_on": format_micros(task.created),
            "updated_on": format_micros(resolved.map_or(task.created, |(at, _)| at)),
            "pending": false,
            "links": {
                "self": href(format!("{api}/tasks/{}", task.id)),
                "html": href(format!("{WEB}/{}/pull-requests/{}", repo.full_name, pr.id)),
            },
        });
        if let Some((at, by)) = resolved {
            v["resolved_on"] = json!(format_micros(at));
            v["resolved_by"] = self.account(self.data.member(ws, by));
        }
        if let Some(id) = task.comment {
            v["comment"] = json!({
                "id": id,
                "links": {
                    "self": href(format!("{api}/comments/{id}")),
                    "html": href(format!("{WEB}/{}/pull-requests/{}/_/diff#comment-{id}", repo.full_name, pr.id)),
                },
            });
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes() {
        assert_eq!(with_suffix("src/a/users.py", "_7"), "src/a/users_7.py");
        assert_eq!(with_suffix("Makefile", "_v2"), "Makefile_v2");
        assert_eq!(with_suffix(".gitignore", "_v2"), ".gitignore_v2");
    }
}
