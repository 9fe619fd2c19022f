//! The dataset and its time model.
//!
//! The dataset is generated once, at start, as a pure function of [`SimConfig`]: compact facts
//! per object (timestamps as [`Micros`], indexes into the user pool, a per-object seed for the
//! texts and hashes), never JSON. JSON is rendered per page on demand by [`crate::render`].
//!
//! # Time model
//!
//! Every object has a `created_on`; a pull request also has a sorted list of [`Event`]s
//! (comments, approvals, change requests, a title edit, and at most one closing event that
//! sets the final state), and a repository a sorted list of pushes. At simulated time `T`:
//!
//! - an object is visible iff `created_on <= T`;
//! - its fields reflect the events `<= T`: `updated_on` is the time of the latest one (or
//!   `created_on`), `state` comes from the closing event if it happened, the title loses its
//!   `WIP: ` prefix after the title edit, `comment_count` counts the comments so far, and
//!   participants appear as they comment, approve or request changes.
//!
//! Historical events lie in `[anchor − 365 days, anchor]`, future ones in
//! `(anchor, anchor + 30 days]` (the horizon); nothing happens after the horizon.
//!
//! Some events are deliberately simultaneous ("bulk" actions: a reminder bot commenting on every
//! open pull request, a clean-up declining stale ones), so pull requests share exactly the same
//! `updated_on`, as they do in real data.

use crate::clock::{simulated_now, to_micros, Micros, DAY, FUTURE, HISTORY, HOUR, MINUTE};
use crate::config::{RepositorySpec, SimConfig, WorkspaceSpec};
use crate::names;
use crate::prng::{SeedBuilder, SplitMix64};

/// The state of a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrState {
    /// Open (the only state listed when the request has no `state` parameter).
    Open,
    /// Merged.
    Merged,
    /// Declined.
    Declined,
    /// Superseded.
    Superseded,
}

impl PrState {
    /// All four states.
    pub const ALL: [PrState; 4] = [
        PrState::Open,
        PrState::Merged,
        PrState::Declined,
        PrState::Superseded,
    ];

    /// The API spelling (`OPEN`, `MERGED`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            PrState::Open => "OPEN",
            PrState::Merged => "MERGED",
            PrState::Declined => "DECLINED",
            PrState::Superseded => "SUPERSEDED",
        }
    }

    /// Parses the API spelling (case-insensitive).
    pub fn parse(s: &str) -> Option<PrState> {
        PrState::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
    }
}

/// What happened to a pull request at an [`Event`]'s time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A comment by the actor.
    Comment,
    /// An approval by the actor.
    Approve,
    /// A change request by the actor.
    RequestChanges,
    /// The title lost its `WIP: ` prefix.
    TitleEdit,
    /// Merged by the actor (closing event).
    Merge,
    /// Declined by the actor (closing event).
    Decline,
    /// Superseded (closing event; the actor is the author).
    Supersede,
}

/// One timed fact of a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// When.
    pub at: Micros,
    /// What.
    pub kind: EventKind,
    /// Who: an index into the workspace's `members`.
    pub actor: u16,
}

/// A user of the global pool.
#[derive(Debug, Clone)]
pub struct User {
    /// `{uuid}` with braces.
    pub uuid: String,
    /// Atlassian account id, `557058:<uuid>`.
    pub account_id: String,
    /// Display name, e.g. `Ada Okafor`.
    pub display_name: String,
    /// Nickname, e.g. `ada.okafor`.
    pub nickname: String,
    /// Initials for the avatar URL.
    pub initials: String,
    /// Account creation time (full account object only).
    pub created_on: Micros,
}

/// A project of a workspace.
#[derive(Debug, Clone)]
pub struct Project {
    /// Project key, e.g. `PLAT`.
    pub key: String,
    /// Name, e.g. `Platform`.
    pub name: String,
    /// `{uuid}`.
    pub uuid: String,
}

/// A workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// URL slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// `{uuid}`.
    pub uuid: String,
    /// `is_private`.
    pub is_private: bool,
    /// `forking_mode`.
    pub forking_mode: &'static str,
    /// `created_on`.
    pub created_on: Micros,
    /// `updated_on`.
    pub updated_on: Micros,
    /// Whether the demo user administers it.
    pub administrator: bool,
    /// Members as indexes into [`Dataset::users`]; the demo user (0) is always first.
    pub members: Vec<u32>,
    /// Projects.
    pub projects: Vec<Project>,
    /// Repositories, in configuration order.
    pub repos: Vec<Repo>,
}

/// A repository and its pull requests.
#[derive(Debug, Clone)]
pub struct Repo {
    /// URL slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// `ws/slug`.
    pub full_name: String,
    /// `{uuid}`.
    pub uuid: String,
    /// `is_private`.
    pub is_private: bool,
    /// `description` (may be empty).
    pub description: String,
    /// `language` (may be empty).
    pub language: &'static str,
    /// `website` (`None` renders as null).
    pub website: Option<String>,
    /// `has_issues`.
    pub has_issues: bool,
    /// `has_wiki`.
    pub has_wiki: bool,
    /// `fork_policy`.
    pub fork_policy: &'static str,
    /// `mainbranch.name` (rendered as a null `mainbranch` when the repository is empty).
    pub mainbranch: &'static str,
    /// An empty repository: no commits, no source tree, no pull requests, `mainbranch` null.
    pub empty: bool,
    /// Index into the workspace's projects.
    pub project: usize,
    /// Whether pull requests carry a `queued` flag (merge queue enabled).
    pub merge_queue: bool,
    /// Whether Bitbucket Pipelines and Deployments are enabled (never for an empty repository).
    pub pipelines: bool,
    /// `created_on`.
    pub created_on: Micros,
    /// Push times (sorted); each bumps `updated_on` and `size`.
    pub pushes: Vec<Micros>,
    /// `size` at creation, in bytes.
    pub base_size: u64,
    /// Pull requests, ordered by id (= creation order).
    pub prs: Vec<Pr>,
    /// Event arena: pull request `p` owns `events[p.ev_start .. p.ev_start + p.ev_len]`.
    pub events: Vec<Event>,
}

/// A pull request's static facts.
#[derive(Debug, Clone)]
pub struct Pr {
    /// Per-repository id, 1..n in creation order.
    pub id: u32,
    /// `created_on`.
    pub created_on: Micros,
    /// Author: index into the workspace's members.
    pub author: u16,
    /// Reviewers: indexes into the workspace's members (`reviewers_len` of them).
    pub reviewers: [u16; 3],
    /// How many of `reviewers` are used.
    pub reviewers_len: u8,
    /// `draft`.
    pub draft: bool,
    /// `task_count`.
    pub task_count: u8,
    /// Seed of the texts and commit hashes.
    pub seed: u64,
    /// First event in the repository's arena.
    pub ev_start: u32,
    /// Number of events.
    pub ev_len: u32,
}

impl Pr {
    /// The reviewers (member indexes).
    pub fn reviewers(&self) -> &[u16] {
        &self.reviewers[..usize::from(self.reviewers_len).min(3)]
    }
}

/// The derived, time-dependent fields of a pull request at some simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrAt {
    /// `updated_on`.
    pub updated_on: Micros,
    /// `state`.
    pub state: PrState,
    /// Whether the title edit already happened.
    pub title_edited: bool,
    /// `comment_count`.
    pub comment_count: u32,
    /// The closing event, if any happened.
    pub closed: Option<Event>,
}

impl Repo {
    /// The events of a pull request.
    pub fn events_of(&self, pr: &Pr) -> &[Event] {
        let start = pr.ev_start as usize;
        let end = start.saturating_add(pr.ev_len as usize);
        self.events.get(start..end).unwrap_or(&[])
    }

    /// A pull request by id.
    pub fn pr(&self, id: u32) -> Option<&Pr> {
        let idx = usize::try_from(id).ok()?.checked_sub(1)?;
        self.prs.get(idx).filter(|p| p.id == id)
    }

    /// Whether the repository exists at `t`.
    pub fn visible_at(&self, t: Micros) -> bool {
        self.created_on <= t
    }

    /// `updated_on` at `t`: the latest push `<= t`, else `created_on`.
    pub fn updated_at(&self, t: Micros) -> Micros {
        let n = self.pushes.partition_point(|&p| p <= t);
        if n == 0 {
            self.created_on
        } else {
            self.pushes[n - 1].max(self.created_on)
        }
    }

    /// `size` at `t`: grows with every push.
    pub fn size_at(&self, t: Micros) -> u64 {
        let n = self.pushes.partition_point(|&p| p <= t) as u64;
        self.base_size
            .saturating_add(n.saturating_mul(7_919 + self.base_size % 4_096))
    }

    /// The number of pull requests visible at `t` (they form a prefix: ids follow creation).
    pub fn visible_prs(&self, t: Micros) -> usize {
        self.prs.partition_point(|p| p.created_on <= t)
    }

    /// The derived fields of a pull request at `t`, or `None` when it does not exist yet.
    pub fn pr_at(&self, pr: &Pr, t: Micros) -> Option<PrAt> {
        if pr.created_on > t {
            return None;
        }
        let mut at = PrAt {
            updated_on: pr.created_on,
            state: PrState::Open,
            title_edited: false,
            comment_count: 0,
            closed: None,
        };
        for ev in self.events_of(pr) {
            if ev.at > t {
                break;
            }
            at.updated_on = at.updated_on.max(ev.at);
            match ev.kind {
                EventKind::Comment => at.comment_count += 1,
                EventKind::TitleEdit => at.title_edited = true,
                EventKind::Approve | EventKind::RequestChanges => {}
                EventKind::Merge => {
                    at.state = PrState::Merged;
                    at.closed = Some(*ev);
                }
                EventKind::Decline => {
                    at.state = PrState::Declined;
                    at.closed = Some(*ev);
                }
                EventKind::Supersede => {
                    at.state = PrState::Superseded;
                    at.closed = Some(*ev);
                }
            }
        }
        Some(at)
    }

    /// Whether the pull request ever gets a title edit (then its title starts with `WIP: `
    /// until the edit).
    pub fn has_title_edit(&self, pr: &Pr) -> bool {
        self.events_of(pr).iter().any(|e| e.kind == EventKind::TitleEdit)
    }

    /// The filterable, sortable snapshot of every visible pull request at `t`.
    pub fn pr_index(&self, t: Micros) -> PrIndex {
        let visible = self.visible_prs(t);
        let mut rows = Vec::with_capacity(visible);
        for pr in &self.prs[..visible] {
            if let Some(at) = self.pr_at(pr, t) {
                rows.push(PrRow {
                    id: pr.id,
                    created_on: pr.created_on,
                    updated_on: at.updated_on,
                    state: at.state,
                });
            }
        }
        let mut by_updated: Vec<u32> = (0..rows.len() as u32).collect();
        by_updated.sort_by_key(|&i| {
            let r = &rows[i as usize];
            (r.updated_on, r.id)
        });
        PrIndex {
            at: t,
            rows,
            by_updated,
        }
    }
}

/// One pull request in a [`PrIndex`].
#[derive(Debug, Clone, Copy)]
pub struct PrRow {
    /// Pull request id.
    pub id: u32,
    /// `created_on`.
    pub created_on: Micros,
    /// `updated_on` at the index's time.
    pub updated_on: Micros,
    /// `state` at the index's time.
    pub state: PrState,
}

/// The visible pull requests of a repository at one simulated time, with the orders the API
/// needs precomputed, so a page costs a scan and not a sort. Cached per repository and clock.
#[derive(Debug, Clone)]
pub struct PrIndex {
    /// The simulated time it describes.
    pub at: Micros,
    /// Rows in id order (= `created_on` order).
    pub rows: Vec<PrRow>,
    /// Indexes into `rows` ordered by (`updated_on`, `id`).
    pub by_updated: Vec<u32>,
}

/// The whole generated dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The anchor.
    pub anchor: Micros,
    /// `anchor + 30 days`: nothing happens later.
    pub horizon: Micros,
    /// The user pool; index 0 is the authenticated demo user.
    pub users: Vec<User>,
    /// Workspaces in configuration order.
    pub workspaces: Vec<Workspace>,
}

impl Dataset {
    /// Generates the dataset of a configuration.
    pub fn generate(config: &SimConfig) -> Dataset {
        let anchor = to_micros(config.anchor);
        let horizon = anchor.saturating_add(FUTURE);
        let max_members = config.workspaces.iter().map(|w| w.members).max().unwrap_or(1);
        let pool = max_members.clamp(48, u16::MAX as usize);
        let users = (0..pool).map(|i| gen_user(config.seed, anchor, i)).collect();
        let workspaces = config
            .workspaces
            .iter()
            .map(|w| gen_workspace(config.seed, anchor, horizon, pool, w))
            .collect();
        Dataset {
            anchor,
            horizon,
            users,
            workspaces,
        }
    }

    /// The simulated time for a clock offset in hours.
    pub fn now(&self, offset_hours: i64) -> Micros {
        simulated_now(self.anchor, offset_hours)
    }

    /// A workspace by slug or `{uuid}` (case-insensitive).
    pub fn workspace(&self, key: &str) -> Option<(usize, &Workspace)> {
        self.workspaces
            .iter()
            .enumerate()
            .find(|(_, w)| w.slug.eq_ignore_ascii_case(key) || w.uuid.eq_ignore_ascii_case(key))
    }

    /// A user of a workspace by member index (falls back to the demo user).
    pub fn member(&self, ws: &Workspace, idx: u16) -> &User {
        ws.members
            .get(usize::from(idx))
            .and_then(|&u| self.users.get(u as usize))
            .unwrap_or(&self.users[0])
    }
}

impl Workspace {
    /// A repository by slug or `{uuid}` (case-insensitive), whether visible or not.
    pub fn repo(&self, key: &str) -> Option<(usize, &Repo)> {
        self.repos
            .iter()
            .enumerate()
            .find(|(_, r)| r.slug.eq_ignore_ascii_case(key) || r.uuid.eq_ignore_ascii_case(key))
    }
}

fn gen_user(seed: u64, anchor: Micros, i: usize) -> User {
    let mut rng = SeedBuilder::new(seed).str("user").num(i as u64).rng();
    let uuid = rng.uuid_braced();
    let account_id = format!("557058:{}", &uuid[1..uuid.len() - 1]);
    let (first, last) = if i == 0 {
        ("Demo", "User")
    } else {
        let f = names::FIRST_NAMES.len();
        let l = names::LAST_NAMES.len();
        (names::FIRST_NAMES[i % f], names::LAST_NAMES[(i / f + i * 7) % l])
    };
    let nickname = if i == 0 {
        "demo".to_string()
    } else if i.is_multiple_of(3) {
        first.to_ascii_lowercase()
    } else {
        format!("{}.{}", first, last).to_ascii_lowercase()
    };
    let initials: String = [first, last].iter().filter_map(|w| w.chars().next()).collect();
    User {
        uuid,
        account_id,
        display_name: format!("{first} {last}"),
        nickname,
        initials,
        created_on: anchor - HISTORY + rng.range_i64(0, 2 * DAY),
    }
}

const PROJECT_NAMES: &[&str] = &["Platform", "Data", "Operations", "Web", "Mobile", "Tools"];

fn gen_workspace(seed: u64, anchor: Micros, horizon: Micros, pool: usize, spec: &WorkspaceSpec) -> Workspace {
    let mut rng = SeedBuilder::new(seed).str("workspace").str(&spec.slug).rng();
    let uuid = rng.uuid_braced();
    let created_on = anchor - HISTORY + rng.range_i64(2 * DAY, 3 * DAY);
    let updated_on = created_on + rng.range_i64(DAY, 100 * DAY);
    let mut others: Vec<u32> = (1..pool as u32).collect();
    rng.shuffle(&mut others);
    let mut members = vec![0u32];
    members.extend(others.into_iter().take(spec.members.max(1) - 1));
    // Empty repositories do not count, so that adding one leaves the other facts unchanged.
    let n_repos = spec.repositories.iter().filter(|r| !r.empty).count();
    let n_projects = (1 + n_repos / 3).min(PROJECT_NAMES.len());
    let mut project_names: Vec<&str> = PROJECT_NAMES.to_vec();
    rng.shuffle(&mut project_names);
    let projects = project_names[..n_projects]
        .iter()
        .map(|name| Project {
            key: name.to_ascii_uppercase().chars().take(4).collect(),
            name: (*name).to_string(),
            uuid: rng.uuid_braced(),
        })
        .collect();
    let ctx = WsCtx {
        seed,
        anchor,
        horizon,
        slug: &spec.slug,
        created_on,
        members: members.len(),
        projects: n_projects,
    };
    let repos = spec.repositories.iter().map(|r| gen_repo(&ctx, r)).collect();
    Workspace {
        slug: spec.slug.clone(),
        name: spec.name.clone(),
        uuid,
        is_private: rng.chance(0.8),
        forking_mode: if rng.chance(0.5) {
            "allow_forks"
        } else {
            "internal_only"
        },
        created_on,
        updated_on,
        administrator: spec.administrator,
        members,
        projects,
        repos,
    }
}

struct WsCtx<'a> {
    seed: u64,
    anchor: Micros,
    horizon: Micros,
    slug: &'a str,
    created_on: Micros,
    members: usize,
    projects: usize,
}

/// How a pull request ends (decided before its events are drawn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Open,
    Merge,
    Decline,
    Supersede,
}

#[derive(Debug, Clone, Copy)]
struct Skeleton {
    created: Micros,
    fate: Fate,
    close_at: Micros,
    /// Chosen by the "ensure" pass; not to be changed again.
    locked: bool,
    /// A title edit forced at this time (to guarantee a visible future edit).
    forced_title_edit: Option<Micros>,
}

/// A log-uniform duration in `[lo, hi]`: many short lifetimes, a long tail.
fn log_uniform(rng: &mut SplitMix64, lo: Micros, hi: Micros) -> Micros {
    let (a, b) = ((lo.max(1) as f64).ln(), (hi.max(2) as f64).ln());
    (a + (b - a) * rng.next_f64()).exp() as Micros
}

fn gen_repo(ws: &WsCtx<'_>, spec: &RepositorySpec) -> Repo {
    let base = SeedBuilder::new(ws.seed).str("repo").str(ws.slug).str(&spec.slug);
    let mut rng = base.rng();
    let uuid = rng.uuid_braced();
    let created_on = match spec.created_offset_hours {
        None => (ws.anchor - HISTORY + rng.range_i64(5 * DAY, 45 * DAY)).max(ws.created_on + HOUR),
        // Clamped to ±10 years so that the arithmetic below cannot overflow.
        Some(h) => ws.anchor + h.clamp(-87_600, 87_600) * HOUR + rng.range_i64(0, 59 * MINUTE),
    };
    let horizon = ws.horizon;
    let name = if rng.chance(0.5) {
        names::title_case_slug(&spec.slug)
    } else {
        spec.slug.clone()
    };
    let description = if rng.chance(0.8) {
        rng.pick(names::REPO_PURPOSES)
            .copied()
            .unwrap_or_default()
            .to_string()
    } else {
        String::new()
    };
    let language = rng.pick(names::LANGUAGES).copied().unwrap_or_default();
    let website = rng
        .chance(0.25)
        .then(|| format!("https://{}.{}.example.com", spec.slug, ws.slug));
    let fork_policy = if !spec.is_private {
        "allow_forks"
    } else if rng.chance(0.6) {
        "no_public_forks"
    } else {
        "no_forks"
    };
    let mainbranch = match rng.below(10) {
        0..=6 => "main",
        7 | 8 => "master",
        _ => "develop",
    };
    let has_issues = rng.chance(0.2);
    let has_wiki = rng.chance(0.15);
    let project = rng.below(ws.projects.max(1) as u64) as usize;
    let merge_queue = rng.chance(0.3);
    let base_size = if spec.empty {
        0
    } else {
        40_000 + rng.below(30_000_000)
    };

    // Pushes: bump updated_on and size, some of them in the future window.
    let n_pushes = rng.range_i64(6, 24);
    let mut pushes: Vec<Micros> = if created_on < horizon && !spec.empty {
        (0..n_pushes)
            .map(|_| rng.range_i64(created_on + 1, horizon))
            .collect()
    } else {
        Vec::new()
    };
    pushes.sort_unstable();

    // Bulk times: shared instants (reminder bot, stale clean-up) that create updated_on ties.
    let n = if spec.empty { 0 } else { spec.pullrequests as usize };
    let mut bulk: Vec<Micros> = Vec::new();
    if created_on + DAY < horizon {
        for _ in 0..(6 + n / 40) {
            bulk.push(rng.range_i64(created_on + DAY, horizon));
        }
        bulk.sort_unstable();
    }
    // A clean-up shortly before the anchor that declines several pull requests at once.
    let tie_time =
        (created_on < ws.anchor - 60 * DAY).then(|| rng.range_i64(ws.anchor - 45 * DAY, ws.anchor - 2 * DAY));

    // Creation times, strictly increasing: ids follow creation order.
    let start = created_on + rng.range_i64(HOUR, 3 * DAY);
    let mut created: Vec<Micros> = if start < horizon {
        (0..n).map(|_| rng.range_i64(start, horizon)).collect()
    } else {
        (0..n).map(|i| start + i as Micros * MINUTE).collect()
    };
    created.sort_unstable();
    for i in 1..created.len() {
        if created[i] <= created[i - 1] {
            created[i] = created[i - 1] + 1;
        }
    }

    let mut skel: Vec<Skeleton> = created
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let mut r = base.str("fate").num(i as u64).rng();
            let roll = r.next_f64();
            let (fate, close_at) = if roll < 0.64 {
                (Fate::Merge, c + log_uniform(&mut r, 20 * MINUTE, 21 * DAY))
            } else if roll < 0.78 {
                let mut close = c + log_uniform(&mut r, HOUR, 60 * DAY);
                if r.chance(0.35) {
                    // A bulk clean-up declines it, at the same instant as others.
                    if let Some(&b) = bulk.iter().find(|&&b| b > c + DAY && b < c + 200 * DAY) {
                        close = b;
                    }
                }
                (Fate::Decline, close)
            } else if roll < 0.84 {
                (Fate::Supersede, c + log_uniform(&mut r, HOUR, 14 * DAY))
            } else {
                (Fate::Open, Micros::MAX)
            };
            Skeleton {
                created: c,
                fate,
                close_at,
                locked: false,
                forced_title_edit: None,
            }
        })
        .collect();
    ensure_variety(&mut skel, ws.anchor, horizon, tie_time, &mut rng);

    let mut prs = Vec::with_capacity(n);
    let mut events = Vec::with_capacity(n * 6);
    for (i, sk) in skel.iter().enumerate() {
        let pr_seed = base.str("pr").num(i as u64 + 1).finish();
        let ev_start = events.len() as u32;
        let mut r = SplitMix64::new(pr_seed);
        let pr = gen_pr(
            &mut r,
            i as u32 + 1,
            pr_seed,
            sk,
            ws.members,
            &bulk,
            horizon,
            &mut events,
        );
        let ev_len = events.len() as u32 - ev_start;
        prs.push(Pr {
            ev_start,
            ev_len,
            ..pr
        });
    }

    Repo {
        full_name: format!("{}/{}", ws.slug, spec.slug),
        slug: spec.slug.clone(),
        name,
        uuid,
        is_private: spec.is_private,
        description,
        language,
        website,
        has_issues,
        has_wiki,
        fork_policy,
        mainbranch,
        empty: spec.empty,
        project,
        merge_queue,
        pipelines: spec.pipelines && !spec.empty,
        created_on,
        pushes,
        base_size,
        prs,
        events,
    }
}

/// Guarantees, for every repository with history, that every state is visible at the anchor,
/// that some pull requests share an `updated_on`, and that moving the clock forward changes
/// something (a state transition and a title edit).
fn ensure_variety(
    skel: &mut [Skeleton],
    anchor: Micros,
    horizon: Micros,
    tie_time: Option<Micros>,
    rng: &mut SplitMix64,
) {
    let before: Vec<usize> = (0..skel.len()).filter(|&i| skel[i].created <= anchor).collect();
    if before.is_empty() {
        return;
    }
    // (a) The newest pull request is open at the anchor, gets a title edit, then merges, both
    //     in the future window.
    if let Some(&i) = before.iter().rev().find(|&&i| !skel[i].locked) {
        let s = &mut skel[i];
        let transitions = s.fate != Fate::Open && s.close_at > anchor && s.close_at <= horizon;
        if !transitions {
            s.fate = Fate::Merge;
            s.close_at = anchor + rng.range_i64(2 * HOUR, 10 * DAY).min(horizon - anchor);
        }
        s.forced_title_edit = Some(anchor + (s.close_at - anchor) / 2);
        s.locked = true;
    }
    // (b) A pull request that stays open.
    if !before.iter().any(|&i| skel[i].fate == Fate::Open) {
        if let Some(&i) = before.iter().rev().find(|&&i| !skel[i].locked) {
            skel[i].fate = Fate::Open;
            skel[i].close_at = Micros::MAX;
            skel[i].locked = true;
        }
    }
    // (c) Ties: up to three pull requests declined by the same clean-up, at the same instant.
    if let Some(b) = tie_time {
        let picked: Vec<usize> = before
            .iter()
            .copied()
            .filter(|&i| !skel[i].locked && skel[i].created < b - DAY && skel[i].created > b - 90 * DAY)
            .take(3)
            .collect();
        if picked.len() >= 2 {
            for i in picked {
                skel[i].fate = Fate::Decline;
                skel[i].close_at = b;
                skel[i].locked = true;
            }
        }
    }
    // (d) Every closed state, closed before the anchor.
    for fate in [Fate::Merge, Fate::Decline, Fate::Supersede] {
        let present = before
            .iter()
            .any(|&i| skel[i].fate == fate && skel[i].close_at <= anchor);
        if present {
            continue;
        }
        if let Some(&i) = before
            .iter()
            .find(|&&i| !skel[i].locked && skel[i].created + HOUR < anchor)
        {
            let s = &mut skel[i];
            let room = (anchor - s.created).min(10 * DAY);
            s.fate = fate;
            s.close_at = s.created + rng.range_i64(HOUR.min(room), room);
            s.locked = true;
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn gen_pr(
    r: &mut SplitMix64,
    id: u32,
    seed: u64,
    sk: &Skeleton,
    members: usize,
    bulk: &[Micros],
    horizon: Micros,
    events: &mut Vec<Event>,
) -> Pr {
    let c = sk.created;
    let closed = sk.fate != Fate::Open;
    let end = if closed {
        sk.close_at
    } else {
        c.saturating_add(45 * DAY).min(horizon)
    };
    let members = members.clamp(1, u16::MAX as usize);
    let author = r.below(members as u64) as u16;

    let mut reviewers = [0u16; 3];
    let mut reviewers_len = 0u8;
    let wanted = [0, 1, 1, 2, 2, 3][r.below(6) as usize];
    let mut candidates: Vec<u16> = (0..members as u16).filter(|&m| m != author).collect();
    r.shuffle(&mut candidates);
    for &m in candidates.iter().take(wanted) {
        reviewers[usize::from(reviewers_len)] = m;
        reviewers_len += 1;
    }
    let revs = &reviewers[..usize::from(reviewers_len)];

    let start = events.len();
    let mut push = |at: Micros, kind: EventKind, actor: u16| {
        if at > c && at <= horizon {
            events.push(Event { at, kind, actor });
        }
    };
    // Strictly inside (c, end): activity happens before the closing event.
    let inside = |r: &mut SplitMix64| -> Option<Micros> {
        if end.saturating_sub(c) > 2 {
            Some(r.range_i64(c + 1, end - 1))
        } else {
            None
        }
    };

    let n_comments = r.below(6);
    for _ in 0..n_comments {
        let actor = if !revs.is_empty() && r.chance(0.6) {
            *r.pick(revs).unwrap_or(&author)
        } else {
            r.below(members as u64) as u16
        };
        if let Some(at) = inside(r) {
            push(at, EventKind::Comment, actor);
        }
    }
    let approve_p = if sk.fate == Fate::Merge { 0.8 } else { 0.25 };
    let mut approvers = Vec::new();
    for &rev in revs {
        let asked_changes = r.chance(0.15);
        let approves = r.chance(approve_p);
        match (asked_changes, inside(r), inside(r)) {
            (true, Some(a), Some(b)) => {
                push(a.min(b), EventKind::RequestChanges, rev);
                if approves {
                    push(a.max(b), EventKind::Approve, rev);
                    approvers.push(rev);
                }
            }
            (false, Some(a), _) if approves => {
                push(a, EventKind::Approve, rev);
                approvers.push(rev);
            }
            _ => {}
        }
    }
    match sk.forced_title_edit {
        Some(at) if at > c && at < end => push(at, EventKind::TitleEdit, author),
        _ => {
            if r.chance(0.2) {
                if let Some(at) = inside(r) {
                    push(at, EventKind::TitleEdit, author);
                }
            }
        }
    }
    // The reminder bot (member 1, or the only member) comments on open pull requests.
    let bot = if members > 1 { 1 } else { 0 };
    for &b in bulk {
        if b > c && b < end && r.chance(0.5) {
            push(b, EventKind::Comment, bot);
        }
    }
    if closed {
        let (kind, actor) = match sk.fate {
            Fate::Merge => (
                EventKind::Merge,
                *r.pick(&approvers).unwrap_or(&(r.below(members as u64) as u16)),
            ),
            Fate::Decline => (
                EventKind::Decline,
                if revs.is_empty() || r.chance(0.4) {
                    author
                } else {
                    *r.pick(revs).unwrap_or(&author)
                },
            ),
            _ => (EventKind::Supersede, author),
        };
        push(sk.close_at, kind, actor);
    }
    events[start..].sort_by_key(|e| {
        (
            e.at,
            matches!(
                e.kind,
                EventKind::Merge | EventKind::Decline | EventKind::Supersede
            ),
        )
    });

    Pr {
        id,
        created_on: c,
        author,
        reviewers,
        reviewers_len,
        draft: sk.fate == Fate::Open && r.chance(0.3),
        task_count: if r.chance(0.2) { r.range_i64(1, 4) as u8 } else { 0 },
        seed,
        ev_start: 0,
        ev_len: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn config() -> SimConfig {
        SimConfig::default().with_anchor(
            DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
                .unwrap()
                .into(),
        )
    }

    #[test]
    fn deterministic() {
        let a = Dataset::generate(&config());
        let b = Dataset::generate(&config());
        let ra = &a.workspaces[0].repos[0];
        let rb = &b.workspaces[0].repos[0];
        assert_eq!(ra.uuid, rb.uuid);
        assert_eq!(ra.prs.len(), rb.prs.len());
        for (x, y) in ra.prs.iter().zip(&rb.prs) {
            assert_eq!(x.created_on, y.created_on);
            assert_eq!(ra.pr_at(x, a.horizon), rb.pr_at(y, b.horizon));
        }
    }

    #[test]
    fn visibility_and_states_at_the_clock() {
        let d = Dataset::generate(&config());
        let t0 = d.now(0);
        let t30 = d.now(720);
        for ws in &d.workspaces {
            for repo in &ws.repos {
                if !repo.visible_at(t0) {
                    assert!(repo.visible_at(t30), "{} appears later", repo.full_name);
                    continue;
                }
                if repo.empty {
                    assert!(repo.prs.is_empty() && repo.pushes.is_empty());
                    continue;
                }
                let idx = repo.pr_index(t0);
                assert!(idx.rows.iter().all(|r| r.created_on <= t0 && r.updated_on <= t0));
                for st in PrState::ALL {
                    assert!(
                        idx.rows.iter().any(|r| r.state == st),
                        "{} lacks {st:?}",
                        repo.full_name
                    );
                }
                let later = repo.pr_index(t30);
                assert!(later.rows.len() > idx.rows.len(), "new PRs in {}", repo.full_name);
                let changed = idx.rows.iter().any(|r| {
                    let l = later.rows[(r.id - 1) as usize];
                    l.state != r.state && l.updated_on > t0
                });
                assert!(changed, "a state transition in {}", repo.full_name);
                // ids follow creation, updated_on never precedes created_on
                for w in idx.rows.windows(2) {
                    assert!(w[0].id < w[1].id && w[0].created_on < w[1].created_on);
                }
            }
        }
    }

    /// Pins the default dataset documented in the README (update both together).
    #[test]
    fn default_dataset_counts() {
        let d = Dataset::generate(&config());
        let counts = |offset: i64| -> Vec<String> {
            let t = d.now(offset);
            d.workspaces
                .iter()
                .flat_map(|w| &w.repos)
                .filter(|r| r.visible_at(t))
                .map(|r| {
                    let idx = r.pr_index(t);
                    let n = |st| idx.rows.iter().filter(|x| x.state == st).count();
                    format!(
                        "{} {} {}/{}/{}/{}",
                        r.full_name,
                        idx.rows.len(),
                        n(PrState::Open),
                        n(PrState::Merged),
                        n(PrState::Declined),
                        n(PrState::Superseded)
                    )
                })
                .collect()
        };
        assert_eq!(
            counts(0),
            [
                "acme/api 134 28/76/26/4",
                "acme/web-app 106 14/68/15/9",
                "acme/data-pipeline 65 8/37/17/3",
                "acme/infra 41 12/22/5/2",
                "acme/sandbox 0 0/0/0/0",
                "globex/core-service 82 12/49/16/5",
                "globex/docs-site 35 6/15/8/6",
            ]
        );
        assert_eq!(
            counts(720),
            [
                "acme/api 150 30/88/28/4",
                "acme/web-app 110 12/71/17/10",
                "acme/data-pipeline 70 11/39/17/3",
                "acme/infra 45 11/26/6/2",
                "acme/mobile-app 16 7/8/1/0",
                "acme/sandbox 0 0/0/0/0",
                "globex/core-service 90 14/54/16/6",
                "globex/docs-site 40 7/18/9/6",
            ]
        );
        assert_eq!(
            d.workspaces.iter().map(|w| w.members.len()).collect::<Vec<_>>(),
            [9, 6]
        );
    }

    #[test]
    fn updated_on_ties_exist() {
        let d = Dataset::generate(&config());
        let t0 = d.now(0);
        for repo in d.workspaces.iter().flat_map(|w| &w.repos) {
            if !repo.visible_at(t0) || repo.empty {
                continue;
            }
            let idx = repo.pr_index(t0);
            let mut times: Vec<Micros> = idx.rows.iter().map(|r| r.updated_on).collect();
            let n = times.len();
            times.sort_unstable();
            times.dedup();
            assert!(times.len() < n, "shared updated_on values in {}", repo.full_name);
        }
    }
}
