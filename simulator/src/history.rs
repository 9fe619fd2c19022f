//! Git history and source trees: the facts behind `/commits` and `/src`.
//!
//! Generated lazily, once per repository (see [`crate::api::State::history`]), from the
//! repository's facts and its pull requests, as a pure function of them.
//!
//! # Commit graph
//!
//! - The **main line** starts with an `Initial commit` at the repository's `created_on`, then
//!   has direct commits (around each repository push, plus a few more) and one **merge
//!   commit** per merged pull request, at its merge time, in time order. Each main-line
//!   commit's first parent is the previous one.
//! - A merged pull request has 1–3 **feature commits** authored by its author, dated within
//!   the four days before the merge (and after the pull request was created); the first one
//!   forks from the main-line commit current at its date, the last one is the merge commit's
//!   second parent. Its hash starts with the pull request's `source.commit.hash`, and the
//!   merge commit's with its `merge_commit.hash`.
//! - A pull request that never closes has 1–3 commits on its branch, never merged.
//! - A declined or superseded pull request has 1–3 commits on its branch, within two days of
//!   its creation and before it closed (drawn last, from a generator of their own, so that they
//!   change nothing above). Its branch stays, so they stay in `/commits`.
//! - [`History::pr_branches`], [`History::pr_merges`] and [`History::hotfixes`] tell which
//!   commits belong to which pull request or late push (for refs, pipelines and pull request
//!   commits).
//! - Two **late pushes** per repository with history: a single commit on a hotfix branch,
//!   authored about ten days before it was pushed; one pushed shortly before the anchor (so
//!   it sits at the top of the list at the anchor), one in the future window.
//!
//! A commit is visible once pushed (`pushed <= now`); feature commits are pushed when authored,
//! so they are visible before their merge.
//!
//! # Order (what `/commits` serves)
//!
//! Commits form groups: a main-line commit alone, a merged branch (the merge commit followed by
//! its feature commits, newest first), an unmerged branch, a late push. Groups are sorted by
//! their time, newest first: the merge time for a merged branch, else the newest push in the
//! group. Before its merge, a branch's commits form a group of their own. This is a topological
//! order (every commit precedes its parents), newest first, but author dates are not monotonic:
//! feature commits follow their merge commit although they are days older than the main-line
//! commits after them, and late pushes are ten days older than their neighbours.
//!
//! # Source tree
//!
//! One tree per repository whose files carry the time they were added: the tree at a commit
//! holds the files added at or before the commit's date. Most files exist from the start; a
//! large directory (`db/migrations`, `public/icons` or `policies`, over 100 entries) grows over
//! time, some of it in the future window. Directories nest at least three levels deep.

use std::collections::HashMap;

use crate::clock::{Micros, DAY, HOUR, MINUTE};
use crate::data::{EventKind, Repo};
use crate::names;
use crate::prng::{SeedBuilder, SplitMix64};
use crate::render::PrTexts;
use crate::urlenc::encode_component;

/// Commit authors that are not Bitbucket users (`author.user` absent).
pub const EXTERNAL_AUTHORS: &[&str] = &[
    "Renovate Bot <bot@renovateapp.com>",
    "Release Bot <release-bot@example.com>",
    "Bitbucket Pipelines <commits-noreply@bitbucket.org>",
];

/// Who authored a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitAuthor {
    /// A workspace member (index into the workspace's `members`).
    Member(u16),
    /// An entry of [`EXTERNAL_AUTHORS`].
    External(u8),
}

/// One commit.
#[derive(Debug, Clone)]
pub struct Commit {
    /// 40 lowercase hex digits.
    pub hash: String,
    /// Author date (`date`).
    pub date: Micros,
    /// When it was pushed: visible from then on.
    pub pushed: Micros,
    /// The author.
    pub author: CommitAuthor,
    /// Parents, as indexes into [`History::commits`] (first parent first).
    pub parents: Vec<u32>,
    /// The full message.
    pub message: String,
}

#[derive(Debug, Clone)]
enum Group {
    /// A main-line commit, the initial commit or a late push.
    Single(u32),
    /// A merged branch: the merge commit and the branch's commits (oldest first).
    Merge {
        merge: u32,
        branch: Vec<u32>,
        at: Micros,
    },
    /// An unmerged branch (oldest first).
    Branch(Vec<u32>),
}

/// One file of a source tree.
#[derive(Debug, Clone)]
pub struct TreeFile {
    /// Path from the root, e.g. `src/app/api/users.py`.
    pub path: String,
    /// Size in bytes (see [`History::file_size`] for files that grow).
    pub size: u64,
    /// `attributes` (`executable`, `binary`, `link`, `subrepository`, `lfs`).
    pub attributes: &'static [&'static str],
    /// `mimetype`.
    pub mimetype: Option<&'static str>,
    /// When the file was added.
    pub added: Micros,
    /// The file grows with every main-line commit (a changelog).
    pub grows: bool,
}

/// An entry of a directory listing at some commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeEntry {
    /// A directory (its path).
    Dir(String),
    /// A file (index into [`History::files`]).
    File(usize),
}

/// The generated history and source tree of one repository.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Every commit ever (also the future ones), in generation order.
    pub commits: Vec<Commit>,
    groups: Vec<Group>,
    /// The main line, as indexes into `commits`, oldest first (pushed times non-decreasing).
    main: Vec<u32>,
    by_hash: HashMap<String, u32>,
    /// Every file ever, sorted by path.
    pub files: Vec<TreeFile>,
    /// Per pull request (index into the repository's `prs`): the commits of its source
    /// branch, oldest first (empty when it has none).
    pub pr_branches: Vec<Vec<u32>>,
    /// Per pull request: its merge commit, if it ever merges.
    pub pr_merges: Vec<Option<u32>>,
    /// The late pushes (one commit each on a hotfix branch), in push order.
    pub hotfixes: Vec<u32>,
}

/// Whether `s` is non-empty lower-case hexadecimal.
fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl History {
    /// Generates the history of a repository (empty for an empty repository).
    /// `member_names` are the display names of the workspace's members (for `Approved-by:`).
    pub fn generate(repo: &Repo, member_names: &[String], anchor: Micros, horizon: Micros) -> History {
        if repo.empty {
            return History::default();
        }
        let mut g = Gen {
            repo,
            member_names,
            members: member_names.len().clamp(1, u16::MAX as usize),
            rng: SeedBuilder::new(0).str("history").str(&repo.uuid).rng(),
            commits: Vec::new(),
        };
        let mut history = g.build(anchor, horizon);
        history.files = gen_tree(repo, horizon);
        history.by_hash = history
            .commits
            .iter()
            .enumerate()
            .map(|(i, c)| (c.hash.clone(), i as u32))
            .collect();
        history
    }

    /// The visible commits at `t`, in served order (newest first, topological).
    pub fn order_at(&self, t: Micros) -> Vec<u32> {
        let visible = |i: &u32| self.commits[*i as usize].pushed <= t;
        let mut groups: Vec<(Micros, usize, Vec<u32>)> = Vec::new();
        for (gi, g) in self.groups.iter().enumerate() {
            let members: Vec<u32> = match g {
                Group::Single(c) => vec![*c],
                Group::Branch(b) => b.iter().rev().copied().collect(),
                Group::Merge { merge, branch, at } => {
                    let mut v = Vec::with_capacity(branch.len() + 1);
                    if *at <= t {
                        v.push(*merge);
                    }
                    v.extend(branch.iter().rev().copied());
                    v
                }
            };
            let members: Vec<u32> = members.into_iter().filter(visible).collect();
            if members.is_empty() {
                continue;
            }
            let key = match g {
                Group::Merge { at, .. } if *at <= t => *at,
                _ => members
                    .iter()
                    .map(|&i| self.commits[i as usize].pushed)
                    .max()
                    .unwrap_or(0),
            };
            groups.push((key, gi, members));
        }
        groups.sort_by_key(|g| std::cmp::Reverse((g.0, g.1)));
        groups.into_iter().flat_map(|(_, _, m)| m).collect()
    }

    /// The main line (indexes into `commits`), oldest first; pushed times are non-decreasing.
    pub fn main_line(&self) -> &[u32] {
        &self.main
    }

    /// The main branch's head at `t` (`None` before the first commit).
    pub fn main_tip(&self, t: Micros) -> Option<u32> {
        let n = self
            .main
            .partition_point(|&i| self.commits[i as usize].pushed <= t);
        n.checked_sub(1).map(|k| self.main[k])
    }

    /// A commit by its full hash.
    pub fn by_hash(&self, hash: &str) -> Option<u32> {
        self.by_hash.get(hash).copied()
    }

    /// A visible commit by a hash or a unique prefix of at least 7 hex digits.
    pub fn resolve_hash(&self, prefix: &str, t: Micros) -> Option<u32> {
        if prefix.len() < 7 || prefix.len() > 40 || !is_hex(prefix) {
            return None;
        }
        if let Some(i) = self.by_hash(prefix) {
            return (self.commits[i as usize].pushed <= t).then_some(i);
        }
        let mut found = None;
        for (i, c) in self.commits.iter().enumerate() {
            if c.pushed <= t && c.hash.starts_with(prefix) {
                if found.is_some() {
                    return None;
                }
                found = Some(i as u32);
            }
        }
        found
    }

    /// The number of main-line commits at or before `t`.
    pub fn main_len_at(&self, t: Micros) -> usize {
        self.main
            .partition_point(|&i| self.commits[i as usize].pushed <= t)
    }

    /// A file's size in the tree at time `t`.
    pub fn file_size(&self, file: &TreeFile, t: Micros) -> u64 {
        if file.grows {
            file.size + 61 * self.main_len_at(t) as u64
        } else {
            file.size
        }
    }

    fn files_at(&self, t: Micros) -> impl Iterator<Item = (usize, &TreeFile)> {
        self.files.iter().enumerate().filter(move |(_, f)| f.added <= t)
    }

    /// What `path` (no leading or trailing slash; empty for the root) is in the tree at `t`.
    pub fn lookup(&self, path: &str, t: Micros) -> Option<TreeEntry> {
        if path.is_empty() {
            return self.files_at(t).next().map(|_| TreeEntry::Dir(String::new()));
        }
        let prefix = format!("{path}/");
        let mut is_dir = false;
        for (i, f) in self.files_at(t) {
            if f.path == path {
                return Some(TreeEntry::File(i));
            }
            if f.path.starts_with(&prefix) {
                is_dir = true;
            }
        }
        is_dir.then(|| TreeEntry::Dir(path.to_string()))
    }

    /// The direct children of a directory at `t`, in git's tree order.
    pub fn children(&self, dir: &str, t: Micros) -> Vec<TreeEntry> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut out: Vec<(String, TreeEntry)> = Vec::new();
        let mut seen_dirs: Vec<String> = Vec::new();
        for (i, f) in self.files_at(t) {
            let Some(rest) = f.path.strip_prefix(&prefix) else {
                continue;
            };
            match rest.split_once('/') {
                None => out.push((rest.to_string(), TreeEntry::File(i))),
                Some((name, _)) => {
                    if !seen_dirs.iter().any(|d| d == name) {
                        seen_dirs.push(name.to_string());
                        out.push((format!("{name}/"), TreeEntry::Dir(format!("{prefix}{name}"))));
                    }
                }
            }
        }
        // git orders tree entries by name, a directory as if its name ended with '/'.
        out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        out.into_iter().map(|(_, e)| e).collect()
    }

    /// Breadth-first listing of a directory down to `max_depth` levels (1 = its children).
    pub fn listing(&self, dir: &str, t: Micros, max_depth: usize) -> Vec<TreeEntry> {
        let mut out = Vec::new();
        let mut level = vec![dir.to_string()];
        for _ in 0..max_depth.max(1) {
            let mut next = Vec::new();
            for d in &level {
                for e in self.children(d, t) {
                    if let TreeEntry::Dir(p) = &e {
                        next.push(p.clone());
                    }
                    out.push(e);
                }
            }
            if next.is_empty() {
                break;
            }
            level = next;
        }
        out
    }
}

/// A path as Bitbucket escapes it in URLs and `escaped_path`: every segment percent-encoded.
pub fn escape_path(path: &str) -> String {
    path.split('/')
        .map(encode_component)
        .collect::<Vec<_>>()
        .join("/")
}

struct Gen<'a> {
    repo: &'a Repo,
    member_names: &'a [String],
    members: usize,
    rng: SplitMix64,
    commits: Vec<Commit>,
}

enum MainEvent {
    Direct,
    Merge(usize),
}

const DIRECT_MESSAGES: &[&str] = &[
    "Update README",
    "Bump version",
    "Fix typo in docs",
    "Update CI configuration",
    "Tidy up imports",
    "Regenerate lock file",
    "Add missing license header",
    "Adjust logging levels",
    "Update CHANGELOG",
    "Revert accidental change",
];

const FEATURE_MESSAGES: &[&str] = &[
    "Address review comments",
    "Fix failing tests",
    "Add tests",
    "WIP",
    "Rename per review",
    "Handle the empty case",
    "Update docs",
];

impl Gen<'_> {
    fn push(&mut self, c: Commit) -> u32 {
        self.commits.push(c);
        (self.commits.len() - 1) as u32
    }

    fn member(&mut self) -> CommitAuthor {
        CommitAuthor::Member(self.rng.below(self.members as u64) as u16)
    }

    fn build(&mut self, anchor: Micros, horizon: Micros) -> History {
        let repo = self.repo;
        let created = repo.created_on;
        let mut groups = Vec::new();

        // The main line's events, in time order.
        let mut events: Vec<(Micros, MainEvent)> = Vec::new();
        for &p in &repo.pushes {
            let k = 1 + self.rng.below(2);
            for j in 0..k {
                let back = if j == 0 {
                    0
                } else {
                    self.rng.range_i64(5 * MINUTE, 3 * HOUR) * j as i64
                };
                events.push(((p - back).max(created + 1), MainEvent::Direct));
            }
        }
        if created < horizon {
            for _ in 0..(4 + repo.prs.len() / 5) {
                events.push((self.rng.range_i64(created + 1, horizon), MainEvent::Direct));
            }
        }
        // Recent activity, so that the late push below lands among much newer commits.
        if created < anchor - 20 * DAY {
            for _ in 0..3 {
                events.push((anchor - self.rng.range_i64(HOUR, 40 * HOUR), MainEvent::Direct));
            }
        }
        let mut merges: Vec<(usize, Micros, u16)> = Vec::new();
        for (pi, pr) in repo.prs.iter().enumerate() {
            if let Some(ev) = repo.events_of(pr).iter().find(|e| e.kind == EventKind::Merge) {
                events.push((ev.at, MainEvent::Merge(merges.len())));
                merges.push((pi, ev.at, ev.actor));
            }
        }
        events.sort_by_key(|(t, e)| (*t, matches!(e, MainEvent::Merge(_))));

        // The initial commit, then the main line (merge commits get their second parent later).
        let author = self.member();
        let hash = self.rng.hex(40);
        let root = self.push(Commit {
            hash,
            date: created,
            pushed: created,
            author,
            parents: Vec::new(),
            message: "Initial commit\n".into(),
        });
        groups.push(Group::Single(root));
        let mut main = vec![root];
        let mut merge_commit = vec![0u32; merges.len()];
        let mut merge_group = vec![0usize; merges.len()];
        for (t, ev) in &events {
            let prev = *main.last().unwrap_or(&root);
            match ev {
                MainEvent::Direct => {
                    let (author, message) = if self.rng.chance(0.1) {
                        (
                            CommitAuthor::External(1 + self.rng.below(2) as u8),
                            format!(
                                "Release {}.{}.{}\n",
                                1 + main.len() / 60,
                                main.len() % 60 / 6,
                                main.len() % 6
                            ),
                        )
                    } else {
                        let m = self.rng.pick(DIRECT_MESSAGES).copied().unwrap_or("Update");
                        (self.member(), format!("{m}\n"))
                    };
                    let hash = self.rng.hex(40);
                    let c = self.push(Commit {
                        hash,
                        date: *t,
                        pushed: *t,
                        author,
                        parents: vec![prev],
                        message,
                    });
                    groups.push(Group::Single(c));
                    main.push(c);
                }
                MainEvent::Merge(k) => {
                    let (pi, at, actor) = merges[*k];
                    let pr = &repo.prs[pi];
                    let texts = PrTexts::of(pr);
                    let approvers: Vec<u16> = repo
                        .events_of(pr)
                        .iter()
                        .filter(|e| e.kind == EventKind::Approve && e.at <= at)
                        .map(|e| e.actor)
                        .collect();
                    let mut message = format!(
                        "Merged in {} (pull request #{})\n\n{}\n",
                        texts.source_branch, pr.id, texts.title
                    );
                    if !approvers.is_empty() {
                        message.push('\n');
                        for a in approvers {
                            let name = self
                                .member_names
                                .get(usize::from(a))
                                .map_or("Unknown", String::as_str);
                            message.push_str(&format!("Approved-by: {name}\n"));
                        }
                    }
                    let c = self.push(Commit {
                        hash: SeedBuilder::new(pr.seed).str("merge").rng().hex(40),
                        date: at,
                        pushed: at,
                        author: CommitAuthor::Member(actor),
                        parents: vec![prev],
                        message,
                    });
                    merge_commit[*k] = c;
                    merge_group[*k] = groups.len();
                    main.push(c);
                    groups.push(Group::Merge {
                        merge: c,
                        branch: Vec::new(),
                        at,
                    });
                }
            }
        }

        // Feature branches of merged pull requests.
        let main_times: Vec<Micros> = main.iter().map(|&i| self.commits[i as usize].pushed).collect();
        // The main-line commit current just before `t`.
        let tip_before = |t: Micros| -> u32 {
            let n = main_times.partition_point(|&m| m < t);
            main[n.saturating_sub(1)]
        };
        let mut pr_branches: Vec<Vec<u32>> = vec![Vec::new(); repo.prs.len()];
        let mut pr_merges: Vec<Option<u32>> = vec![None; repo.prs.len()];
        for (k, &(pi, at, _)) in merges.iter().enumerate() {
            let pr = &repo.prs[pi];
            let lo = (pr.created_on + MINUTE).max(at - 4 * DAY);
            let hi = at - MINUTE;
            let branch = self.branch_commits(pi, lo, hi, &tip_before);
            if let Some(&tip) = branch.last() {
                self.commits[merge_commit[k] as usize].parents.push(tip);
            }
            pr_merges[pi] = Some(merge_commit[k]);
            pr_branches[pi].clone_from(&branch);
            if let Some(Group::Merge { branch: b, .. }) = groups.get_mut(merge_group[k]) {
                *b = branch;
            }
        }
        // Branches of pull requests that never close.
        for (pi, pr) in repo.prs.iter().enumerate() {
            let closes = repo.events_of(pr).iter().any(|e| {
                matches!(
                    e.kind,
                    EventKind::Merge | EventKind::Decline | EventKind::Supersede
                )
            });
            if closes {
                continue;
            }
            let lo = pr.created_on + MINUTE;
            let hi = (pr.created_on + 12 * HOUR).min(horizon);
            let branch = self.branch_commits(pi, lo, hi, &tip_before);
            if !branch.is_empty() {
                pr_branches[pi].clone_from(&branch);
                groups.push(Group::Branch(branch));
            }
        }
        // Late pushes: authored about ten days before they were pushed.
        let mut hotfixes = Vec::new();
        if created < anchor - 20 * DAY {
            let last_before = self
                .commits
                .iter()
                .map(|c| c.pushed)
                .filter(|&p| p <= anchor)
                .max()
                .unwrap_or(created);
            let p1 = (anchor - 30 * MINUTE).max(last_before + MINUTE).min(anchor);
            let p2 = anchor + self.rng.range_i64(DAY, 12 * DAY).min(horizon - anchor);
            for pushed in [p1, p2] {
                let date = pushed - 10 * DAY + self.rng.range_i64(-6 * HOUR, 6 * HOUR);
                let parent = tip_before(date);
                let author = self.member();
                let subject = self.rng.pick(names::SUBJECTS).copied().unwrap_or("config");
                let hash = self.rng.hex(40);
                let c = self.push(Commit {
                    hash,
                    date,
                    pushed,
                    author,
                    parents: vec![parent],
                    message: format!("Hotfix: {subject}\n\nCherry-picked from a local branch.\n"),
                });
                groups.push(Group::Single(c));
                hotfixes.push(c);
            }
        }
        // Branches of declined and superseded pull requests: 1–3 commits within two days of
        // the pull request's creation, before it closed. Drawn from a generator of their own,
        // after everything else, so that the commits above keep their hashes and dates.
        self.rng = SeedBuilder::new(0).str("closed-branches").str(&repo.uuid).rng();
        for (pi, pr) in repo.prs.iter().enumerate() {
            let Some(close) = repo
                .events_of(pr)
                .iter()
                .find(|e| matches!(e.kind, EventKind::Decline | EventKind::Supersede))
            else {
                continue;
            };
            let lo = pr.created_on + MINUTE;
            let hi = (pr.created_on + 2 * DAY).min(close.at - MINUTE);
            let branch = self.branch_commits(pi, lo, hi, &tip_before);
            if !branch.is_empty() {
                pr_branches[pi].clone_from(&branch);
                groups.push(Group::Branch(branch));
            }
        }
        History {
            commits: std::mem::take(&mut self.commits),
            groups,
            main,
            by_hash: HashMap::new(),
            files: Vec::new(),
            pr_branches,
            pr_merges,
            hotfixes,
        }
    }

    /// The commits of a pull request's branch, dated in `[lo, hi]`, oldest first; the last one
    /// carries the pull request's `source.commit.hash`.
    fn branch_commits(
        &mut self,
        pi: usize,
        lo: Micros,
        hi: Micros,
        tip_before: &dyn Fn(Micros) -> u32,
    ) -> Vec<u32> {
        let pr = &self.repo.prs[pi];
        let texts = PrTexts::of(pr);
        let bot = texts.title.starts_with("Bump ");
        let n = if bot {
            1
        } else {
            match self.rng.below(10) {
                0..=4 => 1,
                5..=7 => 2,
                _ => 3,
            }
        };
        let (lo, hi) = (lo, hi.max(lo));
        let mut dates: Vec<Micros> = (0..n).map(|_| self.rng.range_i64(lo, hi)).collect();
        dates.sort_unstable();
        for i in 1..dates.len() {
            if dates[i] <= dates[i - 1] {
                dates[i] = dates[i - 1] + 1;
            }
        }
        let author = if bot {
            CommitAuthor::External(0)
        } else {
            CommitAuthor::Member(pr.author)
        };
        let mut out: Vec<u32> = Vec::with_capacity(n);
        for (j, &date) in dates.iter().enumerate() {
            let parent = match out.last() {
                Some(&p) => p,
                None => tip_before(date),
            };
            let last = j + 1 == dates.len();
            let hash = if last {
                SeedBuilder::new(pr.seed).str("source").rng().hex(40)
            } else {
                self.rng.hex(40)
            };
            let message = if j == 0 {
                format!("{}\n", texts.title)
            } else {
                let m = self.rng.pick(FEATURE_MESSAGES).copied().unwrap_or("WIP");
                format!("{m}\n")
            };
            let c = self.push(Commit {
                hash,
                date,
                pushed: date,
                author,
                parents: vec![parent],
                message,
            });
            out.push(c);
        }
        out
    }
}

const MODULES: &[&str] = &[
    "api",
    "auth",
    "billing",
    "core",
    "events",
    "jobs",
    "reports",
    "search",
    "storage",
    "users",
    "webhooks",
    "notifications",
];
const FILE_STEMS: &[&str] = &[
    "client",
    "config",
    "errors",
    "handlers",
    "helpers",
    "models",
    "routes",
    "schema",
    "service",
    "types",
    "validators",
    "views",
    "cache",
    "metrics",
];
const SUBMODULES: &[&str] = &["v1", "internal", "adapters", "legacy"];
const ADR_TITLES: &[&str] = &[
    "record-architecture-decisions",
    "use-postgres-for-persistence",
    "adopt-feature-flags",
    "split-the-monolith",
    "retry-policy-for-webhooks",
    "structured-logging",
    "deprecate-v1-endpoints",
];

struct TreeBuilder {
    files: Vec<TreeFile>,
    rng: SplitMix64,
    created: Micros,
}

impl TreeBuilder {
    fn add(
        &mut self,
        path: String,
        lo: u64,
        hi: u64,
        attributes: &'static [&'static str],
        mimetype: Option<&'static str>,
    ) {
        let size = self.rng.range_i64(lo as i64, hi as i64) as u64;
        self.files.push(TreeFile {
            path,
            size,
            attributes,
            mimetype,
            added: self.created,
            grows: false,
        });
    }
}

fn gen_tree(repo: &Repo, horizon: Micros) -> Vec<TreeFile> {
    let rng = SeedBuilder::new(0).str("tree").str(&repo.uuid).rng();
    let mut b = TreeBuilder {
        files: Vec::new(),
        rng,
        created: repo.created_on,
    };
    let pkg = repo.slug.replace('-', "_");
    let (code_root, ext, mime, manifest): (String, &str, Option<&'static str>, &str) = match repo.language {
        "python" => (
            format!("src/{pkg}"),
            "py",
            Some("text/x-python"),
            "pyproject.toml",
        ),
        "typescript" => ("src".into(), "ts", Some("application/typescript"), "package.json"),
        "javascript" => ("src".into(), "js", Some("application/javascript"), "package.json"),
        "go" => ("internal".into(), "go", None, "go.mod"),
        "java" => (
            format!("src/main/java/com/example/{pkg}"),
            "java",
            Some("text/x-java"),
            "pom.xml",
        ),
        "rust" => ("src".into(), "rs", None, "Cargo.toml"),
        "hcl" => ("modules".into(), "tf", None, "versions.tf"),
        _ => ("lib".into(), "sh", Some("application/x-sh"), "Makefile.inc"),
    };

    // Root files.
    b.add(".gitignore".into(), 40, 900, &[], None);
    b.add("README.md".into(), 800, 9_000, &[], Some("text/markdown"));
    b.add("LICENSE".into(), 1_060, 11_357, &[], None);
    b.add("Makefile".into(), 200, 3_000, &[], None);
    b.add(
        "bitbucket-pipelines.yml".into(),
        300,
        4_000,
        &[],
        Some("application/x-yaml"),
    );
    b.add(manifest.into(), 150, 2_500, &[], None);
    if repo.language != "hcl" {
        b.add("Dockerfile".into(), 200, 1_800, &[], None);
    }
    b.files.push(TreeFile {
        path: "CHANGELOG.md".into(),
        size: 120,
        attributes: &[],
        mimetype: Some("text/markdown"),
        added: repo.created_on,
        grows: true,
    });

    // Code: code_root/module/file and code_root/module/submodule/file.
    let mut modules: Vec<&str> = MODULES.to_vec();
    b.rng.shuffle(&mut modules);
    let n_modules = 4 + b.rng.below(4) as usize;
    for module in modules.iter().take(n_modules) {
        let dir = format!("{code_root}/{module}");
        if ext == "py" {
            b.add(format!("{dir}/__init__.py"), 0, 0, &[], mime);
        }
        let mut stems: Vec<&str> = FILE_STEMS.to_vec();
        b.rng.shuffle(&mut stems);
        let n = 3 + b.rng.below(6) as usize;
        for stem in stems.iter().take(n) {
            b.add(format!("{dir}/{stem}.{ext}"), 300, 24_000, &[], mime);
        }
        if b.rng.chance(0.6) {
            let sub = b.rng.pick(SUBMODULES).copied().unwrap_or("v1");
            let subdir = format!("{dir}/{sub}");
            if ext == "py" {
                b.add(format!("{subdir}/__init__.py"), 0, 0, &[], mime);
            }
            for stem in stems.iter().rev().take(2 + b.rng.below(3) as usize) {
                b.add(format!("{subdir}/{stem}.{ext}"), 300, 16_000, &[], mime);
            }
        }
        if b.rng.chance(0.7) {
            for stem in stems.iter().take(2) {
                b.add(
                    format!("tests/{module}/test_{stem}.{ext}"),
                    400,
                    12_000,
                    &[],
                    mime,
                );
            }
        }
    }
    if ext == "py" {
        b.add(format!("{code_root}/__init__.py"), 0, 120, &[], mime);
    }

    // Docs, scripts and odd entries.
    b.add("docs/index.md".into(), 400, 6_000, &[], Some("text/markdown"));
    b.add(
        "docs/Design Notes.md".into(),
        900,
        7_000,
        &[],
        Some("text/markdown"),
    );
    b.add(
        "docs/images/architecture.png".into(),
        20_000,
        240_000,
        &["binary"],
        Some("image/png"),
    );
    let n_adr = 3 + b.rng.below(5) as usize;
    for (i, title) in ADR_TITLES.iter().take(n_adr).enumerate() {
        b.add(
            format!("docs/adr/{:04}-{title}.md", i + 1),
            700,
            5_000,
            &[],
            Some("text/markdown"),
        );
    }
    b.add(
        "scripts/bootstrap.sh".into(),
        200,
        3_000,
        &["executable"],
        Some("application/x-sh"),
    );
    b.add(
        "scripts/deploy.sh".into(),
        200,
        5_000,
        &["executable"],
        Some("application/x-sh"),
    );
    b.add("scripts/current".into(), 10, 30, &["link"], None);
    if b.rng.chance(0.4) {
        b.add("vendor/shared-config".into(), 40, 40, &["subrepository"], None);
    }
    if b.rng.chance(0.4) {
        b.add(
            "assets/demo.mp4".into(),
            1_000_000,
            30_000_000,
            &["lfs"],
            Some("video/mp4"),
        );
    }

    // A large directory that grows over time (some of it in the future window).
    let count = 100 + repo.prs.len() / 2;
    let mut times: Vec<Micros> = (0..count)
        .map(|_| b.rng.range_i64(repo.created_on, horizon.max(repo.created_on)))
        .collect();
    times.sort_unstable();
    // The first twenty exist from the start, so the directory is large at once.
    for t in times.iter_mut().take(20) {
        *t = repo.created_on;
    }
    for (k, added) in times.into_iter().enumerate() {
        let subject = names::SUBJECTS[k % names::SUBJECTS.len()];
        let slug = names::branchify(subject).replace('-', "_");
        let (path, mimetype, attrs): (String, Option<&'static str>, &'static [&'static str]) = match ext {
            "ts" | "js" => (
                format!("public/icons/{}-{k:03}.svg", names::branchify(subject)),
                Some("image/svg+xml"),
                &[],
            ),
            "tf" => (
                format!("policies/{:03}-{}.json", k + 1, names::branchify(subject)),
                Some("application/json"),
                &[],
            ),
            _ => (
                format!("db/migrations/V{:03}__{slug}.sql", k + 1),
                Some("application/sql"),
                &[],
            ),
        };
        let size = b.rng.range_i64(180, 6_000) as u64;
        b.files.push(TreeFile {
            path,
            size,
            attributes: attrs,
            mimetype,
            added,
            grows: false,
        });
    }

    b.files.sort_by(|x, y| x.path.cmp(&y.path));
    b.files.dedup_by(|x, y| x.path == y.path);
    b.files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;
    use crate::data::Dataset;
    use chrono::DateTime;
    use std::collections::HashSet;

    fn names_of(d: &Dataset, ws: &crate::data::Workspace) -> Vec<String> {
        ws.members
            .iter()
            .map(|&u| d.users[u as usize].display_name.clone())
            .collect()
    }

    fn dataset() -> Dataset {
        Dataset::generate(
            &SimConfig::default().with_anchor(
                DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
                    .unwrap()
                    .into(),
            ),
        )
    }

    #[test]
    fn topological_newest_first_not_date_ordered() {
        let d = dataset();
        for ws in &d.workspaces {
            for repo in &ws.repos {
                let h = History::generate(repo, &names_of(&d, ws), d.anchor, d.horizon);
                if repo.empty {
                    assert!(h.commits.is_empty() && h.order_at(d.horizon).is_empty());
                    continue;
                }
                let hashes: HashSet<&str> = h.commits.iter().map(|c| c.hash.as_str()).collect();
                assert_eq!(hashes.len(), h.commits.len(), "unique hashes");
                for offset in [-2_000, 0, 100, 720] {
                    let t = d.now(offset);
                    let order = h.order_at(t);
                    let pos: HashMap<u32, usize> = order.iter().enumerate().map(|(p, &i)| (i, p)).collect();
                    assert_eq!(pos.len(), order.len());
                    for (p, &i) in order.iter().enumerate() {
                        let c = &h.commits[i as usize];
                        assert!(c.pushed <= t);
                        for parent in &c.parents {
                            let pp = pos.get(parent).copied();
                            assert!(
                                pp.is_some_and(|pp| pp > p),
                                "{}: parent after child",
                                repo.full_name
                            );
                        }
                    }
                    // Every visible commit is served.
                    let visible = h.commits.iter().filter(|c| c.pushed <= t).count();
                    assert_eq!(visible, order.len());
                }
                if repo.visible_at(d.anchor) {
                    let order = h.order_at(d.anchor);
                    let dates: Vec<Micros> = order.iter().map(|&i| h.commits[i as usize].date).collect();
                    assert!(order.len() >= 30, "{}: {} commits", repo.full_name, order.len());
                    assert!(dates.windows(2).any(|w| w[0] < w[1]), "not date ordered");
                    // The late push is on the first page, ~10 days older than the top commit.
                    let top = dates[0].max(dates[1]);
                    assert!(
                        dates[..10].iter().any(|&x| top - x > 8 * DAY),
                        "{}: late push at the top",
                        repo.full_name
                    );
                    assert!(h.order_at(d.now(720)).len() > order.len());
                }
            }
        }
    }

    #[test]
    fn pull_request_hashes_match() {
        let d = dataset();
        let ws = &d.workspaces[0];
        let repo = &ws.repos[0];
        let h = History::generate(repo, &names_of(&d, ws), d.anchor, d.horizon);
        let mut checked = 0;
        for pr in &repo.prs {
            if repo.events_of(pr).iter().any(|e| e.kind == EventKind::Merge) {
                let m = crate::render::short_hash(pr.seed, "merge");
                let s = crate::render::short_hash(pr.seed, "source");
                let mi = h.commits.iter().position(|c| c.hash.starts_with(&m)).unwrap();
                let si = h.commits.iter().position(|c| c.hash.starts_with(&s)).unwrap();
                assert_eq!(h.commits[mi].parents[1], si as u32);
                checked += 1;
            }
        }
        assert!(checked > 50);
    }

    #[test]
    fn tree_is_deep_and_has_large_directories() {
        let d = dataset();
        for ws in &d.workspaces {
            for repo in &ws.repos {
                let h = History::generate(repo, &names_of(&d, ws), d.anchor, d.horizon);
                if repo.empty {
                    assert!(h.lookup("", d.horizon).is_none());
                    continue;
                }
                let t = d.horizon;
                let all = h.listing("", t, usize::MAX);
                let depth = all
                    .iter()
                    .map(|e| match e {
                        TreeEntry::Dir(p) => p.split('/').count(),
                        TreeEntry::File(i) => h.files[*i].path.split('/').count(),
                    })
                    .max()
                    .unwrap();
                assert!(depth >= 4, "{}: depth {depth}", repo.full_name);
                let at = if repo.visible_at(d.anchor) {
                    d.anchor
                } else {
                    d.horizon
                };
                let big = all.iter().any(|e| match e {
                    TreeEntry::Dir(p) => h.children(p, at).len() > 100,
                    TreeEntry::File(_) => false,
                });
                assert!(big, "{}: a directory with more than 100 entries", repo.full_name);
                assert_eq!(
                    all.iter().filter(|e| matches!(e, TreeEntry::File(_))).count(),
                    h.files.len()
                );
                assert_eq!(h.listing("", t, 1), h.children("", t));
                assert!(matches!(h.lookup("README.md", t), Some(TreeEntry::File(_))));
                assert!(matches!(h.lookup("docs/adr", t), Some(TreeEntry::Dir(_))));
                assert!(h.lookup("docs/ad", t).is_none());
            }
        }
        assert_eq!(escape_path("docs/Design Notes.md"), "docs/Design%20Notes.md");
    }
}
