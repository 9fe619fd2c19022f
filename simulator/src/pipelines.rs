//! Bitbucket Pipelines and Deployments: the facts and time model behind `/pipelines/`,
//! `/pipelines/{uuid}/steps/`, `/deployments/` and `/environments/`.
//!
//! Generated lazily, once per repository (like [`History`], from which it is derived), as a pure
//! function of the repository's facts. Nothing for a repository without Pipelines.
//!
//! # Environments
//!
//! `Test`, `Staging` and `Production` (ranks 0, 1, 2), created 1 hour to 3 days before Pipelines
//! were enabled (but after the repository), so before their first deployment.
//!
//! # Pipelines
//!
//! Pipelines are enabled at `since`: 120 days before the anchor (fewer for repositories with
//! more than 100 pull requests: `12 000 / pull requests` days, at least 7, so that a large
//! dataset keeps a moderate count), or one hour after the repository's creation if later. From
//! then on (the future window included):
//!
//! - a **main-branch pipeline** (`pipeline_ref_target`, trigger `PUSH`) 5–40 s after each push
//!   to the main branch: every merge commit, and nine direct commits in ten. Steps: `Build and
//!   test`, `Deploy to Test`, `Deploy to Staging` (automatic), plus, for 85 % of the merge
//!   commits, `Deploy to Production`, a **manual** step promoted 10 minutes to 20 hours after
//!   Staging (the pipeline is `IN_PROGRESS`/`PAUSED` meanwhile);
//! - a **pull-request pipeline** (`pipeline_pullrequest_target`, trigger `PUSH`) 5–60 s after
//!   each push of a commit to a pull request's source branch: `Build and test`, and for half of
//!   them `Lint`;
//! - a **branch pipeline** on each hotfix branch (`hotfix/*`): `Build and test`.
//!
//! A pipeline is `PENDING` for 5–90 s, `IN_PROGRESS` while its steps run (`RUNNING`, or
//! `PAUSED` while a manual step waits), then `COMPLETED`. Build steps take 3–12 minutes and
//! succeed 87 % of the time (9 % `FAILED`, 3 % `STOPPED`, 1 % `ERROR`); deployment steps take
//! 1–4 minutes (93 % / 5 % / 2 % stopped); `Lint` 1–3 minutes (7 % failed). The first step that
//! does not succeed ends the pipeline with its result; the steps after it are `NOT_RUN`.
//! Build numbers count pipelines in creation order from 1.
//!
//! Guarantees, for every repository with Pipelines that existed 20 days before the anchor:
//!
//! - a **manual re-run** on the main branch (trigger `MANUAL`) created 485 s before the anchor,
//!   whose `Deploy to Test` step is running at the anchor (its deployment `IN_PROGRESS`), and
//!   which completes, successfully, ten minutes later;
//! - a manual **custom pipeline** (`selector: {type: custom, pattern: security-scan}`)
//!   created 40 s before the anchor, `PENDING` at the anchor, completed within ten minutes;
//! - a **stuck** merge-commit pipeline created 14–28 days before the anchor, `PAUSED` on its
//!   production step (that deployment `UNDEPLOYED`) until it is promoted three days after the
//!   anchor;
//! - a **failed production deployment** (of a merge commit, a few days before the anchor)
//!   followed by a successful one of the next merge commit promoted.
//!
//! # Deployments
//!
//! Each deployment step a pipeline reaches is a deployment of the pipeline's commit (the
//! release) to the step's environment: `UNDEPLOYED` from the moment the pipeline reaches the
//! step (a few seconds for automatic steps; until promotion for manual ones), `IN_PROGRESS`
//! while the step runs, then `COMPLETED` with the step's result (`ERROR` shows as `FAILED`).
//! Steps that are `NOT_RUN` have none. Deployments are numbered per environment in the order
//! they appear.

use std::collections::HashMap;

use crate::clock::{Micros, DAY, HOUR, MINUTE, SECOND};
use crate::data::Repo;
use crate::history::{CommitAuthor, History};
use crate::prng::{SeedBuilder, SplitMix64};

/// The environments of a repository with Pipelines: `(name, slug)`, by rank.
pub const ENVIRONMENTS: [(&str, &str); 3] = [
    ("Test", "test"),
    ("Staging", "staging"),
    ("Production", "production"),
];

/// The result of a step or a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `SUCCESSFUL`.
    Successful,
    /// `FAILED`.
    Failed,
    /// `STOPPED`.
    Stopped,
    /// `ERROR`.
    Error,
    /// `NOT_RUN` (steps only: a step after one that did not succeed).
    NotRun,
}

impl Outcome {
    /// The API spelling (`SUCCESSFUL`, …).
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Successful => "SUCCESSFUL",
            Outcome::Failed => "FAILED",
            Outcome::Stopped => "STOPPED",
            Outcome::Error => "ERROR",
            Outcome::NotRun => "NOT_RUN",
        }
    }

    /// The lower-case suffix of the `type` (`successful`, …).
    pub fn type_suffix(self) -> &'static str {
        match self {
            Outcome::Successful => "successful",
            Outcome::Failed => "failed",
            Outcome::Stopped => "stopped",
            Outcome::Error => "error",
            Outcome::NotRun => "not_run",
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// `Build and test`.
    Build,
    /// `Lint`.
    Lint,
    /// `Dependency scan` (the custom pipeline).
    Scan,
    /// `Deploy to <environment>` (index into [`ENVIRONMENTS`]).
    Deploy(u8),
}

impl StepKind {
    /// The step's `name`.
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Build => "Build and test",
            StepKind::Lint => "Lint",
            StepKind::Scan => "Dependency scan",
            StepKind::Deploy(0) => "Deploy to Test",
            StepKind::Deploy(1) => "Deploy to Staging",
            StepKind::Deploy(_) => "Deploy to Production",
        }
    }
}

/// One step of a pipeline.
#[derive(Debug, Clone)]
pub struct Step {
    /// `{uuid}`.
    pub uuid: String,
    /// What it does.
    pub kind: StepKind,
    /// A manual step (`pipeline_step_trigger_manual`).
    pub manual: bool,
    /// When the pipeline reached it (the previous step completed; the creation for the first).
    pub ready: Micros,
    /// When it was triggered (automatic: about when it was reached; manual: the promotion).
    pub triggered: Micros,
    /// When it started running (`Micros::MAX` for a step that never runs).
    pub started: Micros,
    /// When it completed (for a step that never runs: when its pipeline completed).
    pub completed: Micros,
    /// Its result.
    pub outcome: Outcome,
}

/// What a pipeline runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The main branch (`selector: branches/<main>`).
    Main,
    /// A hotfix branch (index into [`History::hotfixes`]; `selector: branches/hotfix/*`).
    Hotfix(u32),
    /// A custom pipeline on the main branch (`selector: custom/<pattern>`).
    Custom(&'static str),
    /// A pull request (index into the repository's `prs`), `destination` the main branch's
    /// head when the pipeline was created.
    PullRequest {
        /// Index into `prs`.
        pr: u32,
        /// Main-line commit (index into the history's commits).
        destination: u32,
    },
}

/// One pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// `{uuid}`.
    pub uuid: String,
    /// `build_number` (1.. in creation order).
    pub build_number: u32,
    /// `created_on`.
    pub created: Micros,
    /// The commit it builds (index into the history's commits).
    pub commit: u32,
    /// What it runs on.
    pub target: Target,
    /// Triggered by hand (`pipeline_trigger_manual`) rather than by a push.
    pub manual: bool,
    /// Who created it (member index).
    pub creator: u16,
    /// Its steps: `steps[step_start .. step_start + step_len]` of [`Ci::steps`].
    pub step_start: u32,
    /// Number of steps.
    pub step_len: u32,
    /// Final result.
    pub outcome: Outcome,
    /// When it completed.
    pub completed: Micros,
    /// `{uuid}` of the release its deployments carry.
    pub release_uuid: String,
}

/// One deployment.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// `{uuid}`.
    pub uuid: String,
    /// Environment index (into [`ENVIRONMENTS`] and [`Ci::environments`]).
    pub env: u8,
    /// `number`: 1.. per environment, in order of appearance.
    pub number: u32,
    /// The pipeline (index into [`Ci::pipelines`]).
    pub pipeline: u32,
    /// The deployment step (index into [`Ci::steps`]).
    pub step: u32,
    /// Who deployed it (member index): the pipeline's creator, or who promoted a manual step.
    pub deployer: u16,
}

/// One environment.
#[derive(Debug, Clone)]
pub struct Environment {
    /// `{uuid}`.
    pub uuid: String,
    /// When it was created (visible from then on).
    pub created: Micros,
}

/// The pipelines, steps, deployments and environments of one repository.
#[derive(Debug, Clone, Default)]
pub struct Ci {
    /// When Pipelines were enabled.
    pub since: Micros,
    /// The environments, by rank (empty without Pipelines).
    pub environments: Vec<Environment>,
    /// Every pipeline ever, by `created_on` (= build number).
    pub pipelines: Vec<Pipeline>,
    /// Step arena.
    pub steps: Vec<Step>,
    /// Every deployment ever, in served order (environment by uuid, then number descending).
    pub deployments: Vec<Deployment>,
    /// Pipeline by `{uuid}` (lower case).
    by_uuid: HashMap<String, u32>,
    /// Pipelines of each pull request (index into `prs` → pipeline indexes).
    pub pr_pipelines: HashMap<u32, Vec<u32>>,
    /// The successful pipeline that completed first.
    pub first_successful: Option<u32>,
}

/// The state of a pipeline at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipelineState {
    /// Waiting for a runner.
    Pending,
    /// Running a step.
    Running,
    /// Waiting for a manual step to be triggered.
    Paused,
    /// Done.
    Completed(Outcome),
}

/// The state of a step at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    /// Not reached, or a manual step not triggered yet.
    Pending,
    /// Triggered, about to start.
    Ready,
    /// Running.
    InProgress,
    /// Done.
    Completed(Outcome),
}

/// The state of a deployment at some time (`None` from [`Ci::deployment_state`]: not visible).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentState {
    /// Waiting (no `last_update_time`).
    Undeployed,
    /// Running since `started`.
    InProgress,
    /// Done (`SUCCESSFUL`, `FAILED` or `STOPPED`).
    Completed(Outcome),
}

/// What the generator was told to do with one pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Force {
    None,
    /// Every step succeeds.
    Success,
    /// Every step succeeds but the production deployment, which fails.
    ProductionFails,
    /// Every step succeeds; the production step is promoted at this time.
    Stuck(Micros),
    /// Fixed durations so that `Deploy to Test` runs at the anchor.
    RunningAtAnchor,
    /// Pending for four minutes from 40 s before the anchor.
    PendingAtAnchor,
}

/// A pipeline before its timeline is drawn.
#[derive(Debug, Clone)]
struct Spec {
    created: Micros,
    commit: u32,
    target: Target,
    manual: bool,
    creator: u16,
    steps: Vec<(StepKind, bool)>,
    force: Force,
}

/// Seconds of the fixed timeline of the pipeline running at the anchor.
const RUNNING_PENDING: i64 = 20;
const RUNNING_BUILD: i64 = 360;
const RUNNING_GAP: i64 = 5;
const RUNNING_INTO_DEPLOY: i64 = 100;
const RUNNING_DEPLOY: i64 = 240;

/// How long before the anchor the pipeline running at the anchor was created.
pub const RUNNING_CREATED_BEFORE_ANCHOR: i64 =
    (RUNNING_PENDING + RUNNING_BUILD + RUNNING_GAP + RUNNING_INTO_DEPLOY) * SECOND;

fn draw(r: &mut SplitMix64, table: &[(f64, Outcome)]) -> Outcome {
    let x = r.next_f64();
    let mut acc = 0.0;
    for &(p, o) in table {
        acc += p;
        if x < acc {
            return o;
        }
    }
    Outcome::Successful
}

fn log_uniform(r: &mut SplitMix64, lo: Micros, hi: Micros) -> Micros {
    let (a, b) = ((lo.max(1) as f64).ln(), (hi.max(2) as f64).ln());
    (a + (b - a) * r.next_f64()).exp() as Micros
}

impl Ci {
    /// Generates the CI facts of a repository (empty without Pipelines or commits).
    /// `members` is the workspace's member count.
    pub fn generate(repo: &Repo, h: &History, anchor: Micros, horizon: Micros, members: usize) -> Ci {
        if !repo.pipelines || h.commits.is_empty() {
            return Ci::default();
        }
        let base = SeedBuilder::new(0).str("pipelines").str(&repo.uuid);
        let mut rng = base.rng();
        let members = members.max(1);
        let window_days = (12_000 / repo.prs.len().max(1)).clamp(7, 120) as i64;
        let since = (anchor - window_days * DAY).max(repo.created_on + HOUR);
        if since >= horizon {
            return Ci::default();
        }
        let environments = ENVIRONMENTS
            .iter()
            .map(|_| Environment {
                uuid: rng.uuid_braced(),
                // Never before the repository itself.
                created: (since - rng.range_i64(HOUR, 3 * DAY)).max(repo.created_on + MINUTE),
            })
            .collect();

        let specs = specs(repo, h, since, anchor, members, &mut rng);
        let mut ci = Ci {
            since,
            environments,
            ..Ci::default()
        };
        for (i, spec) in specs.iter().enumerate() {
            let build = i as u32 + 1;
            let mut r = base.str("pipeline").num(u64::from(build)).rng();
            ci.push_pipeline(spec, build, &mut r, members);
        }
        ci.number_deployments();
        ci.first_successful = ci
            .pipelines
            .iter()
            .enumerate()
            .filter(|(_, p)| p.outcome == Outcome::Successful)
            .min_by_key(|(i, p)| (p.completed, *i))
            .map(|(i, _)| i as u32);
        ci
    }

    fn push_pipeline(&mut self, spec: &Spec, build: u32, r: &mut SplitMix64, members: usize) {
        let index = self.pipelines.len() as u32;
        let uuid = r.uuid_braced();
        let release_uuid = r.uuid_braced();
        let step_start = self.steps.len() as u32;
        let c = spec.created;
        let pending = match spec.force {
            Force::RunningAtAnchor => RUNNING_PENDING * SECOND,
            Force::PendingAtAnchor => 4 * MINUTE,
            _ => r.range_i64(5 * SECOND, 90 * SECOND),
        };
        let mut prev_completed = c;
        let mut ended: Option<Outcome> = None;
        for (i, &(kind, manual)) in spec.steps.iter().enumerate() {
            let step_uuid = r.uuid_braced();
            let ready = prev_completed;
            if ended.is_some() {
                self.steps.push(Step {
                    uuid: step_uuid,
                    kind,
                    manual,
                    ready,
                    triggered: Micros::MAX,
                    started: Micros::MAX,
                    completed: Micros::MAX,
                    outcome: Outcome::NotRun,
                });
                continue;
            }
            let (triggered, started) = if i == 0 {
                (c + pending - 2 * SECOND, c + pending)
            } else if manual {
                let at = match spec.force {
                    Force::Stuck(at) => at,
                    _ => ready + log_uniform(r, 10 * MINUTE, 20 * HOUR),
                };
                (at, at + r.range_i64(5 * SECOND, 20 * SECOND))
            } else {
                let gap = match spec.force {
                    Force::RunningAtAnchor => RUNNING_GAP * SECOND,
                    _ => r.range_i64(3 * SECOND, 15 * SECOND),
                };
                (ready, ready + gap)
            };
            let duration = match (spec.force, kind) {
                (Force::RunningAtAnchor, StepKind::Build) => RUNNING_BUILD * SECOND,
                (Force::RunningAtAnchor, _) => RUNNING_DEPLOY * SECOND,
                (_, StepKind::Build) => r.range_i64(3 * MINUTE, 12 * MINUTE),
                (_, StepKind::Lint) => r.range_i64(MINUTE, 3 * MINUTE),
                (_, StepKind::Scan) => r.range_i64(2 * MINUTE, 5 * MINUTE),
                (_, StepKind::Deploy(_)) => r.range_i64(MINUTE, 4 * MINUTE),
            };
            let drawn = match kind {
                StepKind::Build => draw(
                    r,
                    &[
                        (0.09, Outcome::Failed),
                        (0.03, Outcome::Stopped),
                        (0.01, Outcome::Error),
                    ],
                ),
                StepKind::Lint => draw(r, &[(0.07, Outcome::Failed)]),
                StepKind::Scan => draw(r, &[(0.1, Outcome::Failed)]),
                StepKind::Deploy(_) => draw(r, &[(0.05, Outcome::Failed), (0.02, Outcome::Stopped)]),
            };
            let outcome = match (spec.force, kind) {
                (Force::None, _) => drawn,
                (Force::ProductionFails, StepKind::Deploy(2)) => Outcome::Failed,
                _ => Outcome::Successful,
            };
            let completed = started + duration;
            if let StepKind::Deploy(env) = kind {
                let deployer = if manual {
                    r.below(members as u64) as u16
                } else {
                    spec.creator
                };
                self.deployments.push(Deployment {
                    uuid: r.uuid_braced(),
                    env,
                    number: 0,
                    pipeline: index,
                    step: self.steps.len() as u32,
                    deployer,
                });
            }
            self.steps.push(Step {
                uuid: step_uuid,
                kind,
                manual,
                ready,
                triggered,
                started,
                completed,
                outcome,
            });
            prev_completed = completed;
            if outcome != Outcome::Successful {
                ended = Some(outcome);
            }
        }
        let completed = prev_completed;
        for s in &mut self.steps[step_start as usize..] {
            if s.outcome == Outcome::NotRun {
                s.completed = completed;
            }
        }
        let outcome = ended.unwrap_or(Outcome::Successful);
        if let Target::PullRequest { pr, .. } = spec.target {
            self.pr_pipelines.entry(pr).or_default().push(index);
        }
        self.by_uuid.insert(uuid.to_ascii_lowercase(), index);
        self.pipelines.push(Pipeline {
            uuid,
            build_number: build,
            created: c,
            commit: spec.commit,
            target: spec.target,
            manual: spec.manual,
            creator: spec.creator,
            step_start,
            step_len: self.steps.len() as u32 - step_start,
            outcome,
            completed,
            release_uuid,
        });
    }

    /// Numbers the deployments per environment in order of appearance and puts them in served
    /// order: environment by uuid, then number descending (not time order overall).
    fn number_deployments(&mut self) {
        let steps = &self.steps;
        self.deployments
            .sort_by_key(|d| (d.env, steps[d.step as usize].ready, d.pipeline));
        let mut next = [0u32; ENVIRONMENTS.len()];
        for d in &mut self.deployments {
            let n = &mut next[usize::from(d.env).min(ENVIRONMENTS.len() - 1)];
            *n += 1;
            d.number = *n;
        }
        let envs = &self.environments;
        let env_uuid = |e: u8| {
            envs.get(usize::from(e))
                .map(|x| x.uuid.clone())
                .unwrap_or_default()
        };
        self.deployments.sort_by(|a, b| {
            env_uuid(a.env)
                .cmp(&env_uuid(b.env))
                .then(b.number.cmp(&a.number))
        });
    }

    /// A pipeline by `{uuid}` (braces optional, any case).
    pub fn pipeline_by_uuid(&self, uuid: &str) -> Option<u32> {
        let key = uuid.trim().to_ascii_lowercase();
        let key = if key.starts_with('{') {
            key
        } else {
            format!("{{{key}}}")
        };
        self.by_uuid.get(&key).copied()
    }

    /// The number of pipelines created at or before `t` (they form a prefix).
    pub fn visible_pipelines(&self, t: Micros) -> usize {
        self.pipelines.partition_point(|p| p.created <= t)
    }

    /// The steps of a pipeline.
    pub fn steps_of(&self, p: &Pipeline) -> &[Step] {
        let start = p.step_start as usize;
        self.steps.get(start..start + p.step_len as usize).unwrap_or(&[])
    }

    /// The state of a pipeline at `t` (it must exist at `t`).
    pub fn pipeline_state(&self, p: &Pipeline, t: Micros) -> PipelineState {
        let steps = self.steps_of(p);
        let started = steps.first().map_or(p.created, |s| s.started);
        if t >= p.completed {
            PipelineState::Completed(p.outcome)
        } else if t < started {
            PipelineState::Pending
        } else if steps
            .iter()
            .any(|s| s.manual && s.outcome != Outcome::NotRun && s.ready <= t && t < s.triggered)
        {
            PipelineState::Paused
        } else {
            PipelineState::Running
        }
    }

    /// The state of a step at `t`.
    pub fn step_state(&self, s: &Step, t: Micros) -> StepState {
        if s.outcome == Outcome::NotRun {
            if t >= s.completed {
                StepState::Completed(Outcome::NotRun)
            } else {
                StepState::Pending
            }
        } else if t < s.triggered || t < s.ready {
            StepState::Pending
        } else if t < s.started {
            StepState::Ready
        } else if t < s.completed {
            StepState::InProgress
        } else {
            StepState::Completed(s.outcome)
        }
    }

    /// The state of a deployment at `t`, `None` when it does not exist yet.
    pub fn deployment_state(&self, d: &Deployment, t: Micros) -> Option<DeploymentState> {
        let s = self.steps.get(d.step as usize)?;
        if t < s.ready {
            None
        } else if t < s.started {
            Some(DeploymentState::Undeployed)
        } else if t < s.completed {
            Some(DeploymentState::InProgress)
        } else {
            Some(DeploymentState::Completed(match s.outcome {
                Outcome::Error | Outcome::NotRun => Outcome::Failed,
                o => o,
            }))
        }
    }

    /// Seconds of build time used by the completed steps of a pipeline.
    pub fn run_seconds(&self, p: &Pipeline) -> i64 {
        self.steps_of(p)
            .iter()
            .filter(|s| s.outcome != Outcome::NotRun)
            .map(|s| (s.completed - s.started) / SECOND)
            .sum()
    }
}

/// The pipelines of a repository from `since` on, before their timelines are drawn, by
/// creation time.
fn specs(
    repo: &Repo,
    h: &History,
    since: Micros,
    anchor: Micros,
    members: usize,
    rng: &mut SplitMix64,
) -> Vec<Spec> {
    let pushed = |c: u32| h.commits[c as usize].pushed;
    let author_or = |c: u32, rng: &mut SplitMix64| match h.commits[c as usize].author {
        CommitAuthor::Member(m) => m,
        CommitAuthor::External(_) => rng.below(members as u64) as u16,
    };
    let merge_of: HashMap<u32, usize> = h
        .pr_merges
        .iter()
        .enumerate()
        .filter_map(|(pi, m)| m.map(|c| (c, pi)))
        .collect();
    let main_steps = || {
        vec![
            (StepKind::Build, false),
            (StepKind::Deploy(0), false),
            (StepKind::Deploy(1), false),
        ]
    };
    let mut specs: Vec<Spec> = Vec::new();
    let main = h.main_line();
    for &c in main.iter().skip(1) {
        if pushed(c) < since {
            continue;
        }
        let is_merge = merge_of.contains_key(&c);
        let mut steps = main_steps();
        if is_merge {
            if rng.chance(0.85) {
                steps.push((StepKind::Deploy(2), true));
            }
        } else if rng.chance(0.1) {
            continue;
        }
        let creator = author_or(c, rng);
        specs.push(Spec {
            created: pushed(c) + rng.range_i64(5 * SECOND, 40 * SECOND),
            commit: c,
            target: Target::Main,
            manual: false,
            creator,
            steps,
            force: Force::None,
        });
    }
    for (k, &c) in h.hotfixes.iter().enumerate() {
        if pushed(c) < since {
            continue;
        }
        let creator = author_or(c, rng);
        specs.push(Spec {
            created: pushed(c) + rng.range_i64(5 * SECOND, 40 * SECOND),
            commit: c,
            target: Target::Hotfix(k as u32),
            manual: false,
            creator,
            steps: vec![(StepKind::Build, false)],
            force: Force::None,
        });
    }
    for (pi, commits) in h.pr_branches.iter().enumerate() {
        for &c in commits {
            if pushed(c) < since {
                continue;
            }
            let created = pushed(c) + rng.range_i64(5 * SECOND, 60 * SECOND);
            let Some(destination) = h.main_tip(created) else {
                continue;
            };
            let mut steps = vec![(StepKind::Build, false)];
            if rng.chance(0.5) {
                steps.push((StepKind::Lint, false));
            }
            specs.push(Spec {
                created,
                commit: c,
                target: Target::PullRequest {
                    pr: pi as u32,
                    destination,
                },
                manual: false,
                creator: repo.prs[pi].author,
                steps,
                force: Force::None,
            });
        }
    }
    if repo.created_on < anchor - 20 * DAY && since < anchor - DAY {
        guarantees(&mut specs, h, anchor, members, rng);
    }
    specs.sort_by_key(|s| s.created);
    specs
}

/// Adds the pipelines and outcomes every repository with Pipelines and history must have.
fn guarantees(specs: &mut Vec<Spec>, h: &History, anchor: Micros, members: usize, rng: &mut SplitMix64) {
    let promoter = |rng: &mut SplitMix64| rng.below(members as u64) as u16;
    if let Some(tip) = h.main_tip(anchor - RUNNING_CREATED_BEFORE_ANCHOR) {
        let creator = promoter(rng);
        specs.push(Spec {
            created: anchor - RUNNING_CREATED_BEFORE_ANCHOR,
            commit: tip,
            target: Target::Main,
            manual: true,
            creator,
            steps: vec![
                (StepKind::Build, false),
                (StepKind::Deploy(0), false),
                (StepKind::Deploy(1), false),
            ],
            force: Force::RunningAtAnchor,
        });
    }
    if let Some(tip) = h.main_tip(anchor - 40 * SECOND) {
        let creator = promoter(rng);
        specs.push(Spec {
            created: anchor - 40 * SECOND,
            commit: tip,
            target: Target::Custom("security-scan"),
            manual: true,
            creator,
            steps: vec![(StepKind::Scan, false)],
            force: Force::PendingAtAnchor,
        });
    }
    specs.sort_by_key(|s| s.created);
    let production: Vec<usize> = (0..specs.len())
        .filter(|&i| specs[i].steps.iter().any(|&(k, _)| k == StepKind::Deploy(2)))
        .collect();
    // The stuck one: created 14–28 days before the anchor, else the latest before that.
    let stuck = production
        .iter()
        .copied()
        .find(|&i| specs[i].created >= anchor - 28 * DAY && specs[i].created <= anchor - 14 * DAY)
        .or_else(|| {
            production
                .iter()
                .copied()
                .rfind(|&i| specs[i].created < anchor - 2 * DAY)
        });
    if let Some(i) = stuck {
        specs[i].force = Force::Stuck(anchor + 3 * DAY + rng.range_i64(0, 6 * HOUR));
    }
    // A failed production deployment a few days before the anchor, restored by the next one.
    let before: Vec<usize> = production
        .iter()
        .copied()
        .filter(|&i| Some(i) != stuck && specs[i].created < anchor - 3 * DAY)
        .collect();
    if before.len() >= 3 {
        let failed = before[before.len() - 3];
        specs[failed].force = Force::ProductionFails;
        specs[before[before.len() - 2]].force = Force::Success;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;
    use crate::data::Dataset;
    use chrono::DateTime;

    fn generate(seed: u64) -> Vec<(String, Micros, Ci)> {
        let mut config = SimConfig::default().with_anchor(
            DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
                .unwrap()
                .into(),
        );
        config.seed = seed;
        let d = Dataset::generate(&config);
        let mut out = Vec::new();
        for ws in &d.workspaces {
            let names: Vec<String> = ws
                .members
                .iter()
                .map(|&u| d.users[u as usize].display_name.clone())
                .collect();
            for repo in &ws.repos {
                let h = History::generate(repo, &names, d.anchor, d.horizon);
                let ci = Ci::generate(repo, &h, d.anchor, d.horizon, ws.members.len());
                assert_eq!(ci.pipelines.is_empty(), !repo.pipelines, "{}", repo.full_name);
                if repo.created_on < d.anchor - 20 * DAY && repo.pipelines {
                    out.push((repo.full_name.clone(), d.anchor, ci));
                }
            }
        }
        out
    }

    /// Pins the default dataset's pipeline and deployment counts documented in the README
    /// (update both together).
    #[test]
    fn default_dataset_counts() {
        let config = SimConfig::default().with_anchor(
            DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
                .unwrap()
                .into(),
        );
        let d = Dataset::generate(&config);
        let mut counts = [[0usize; 2]; 2];
        for ws in &d.workspaces {
            let names: Vec<String> = ws
                .members
                .iter()
                .map(|&u| d.users[u as usize].display_name.clone())
                .collect();
            for repo in &ws.repos {
                let h = History::generate(repo, &names, d.anchor, d.horizon);
                let ci = Ci::generate(repo, &h, d.anchor, d.horizon, ws.members.len());
                for (k, t) in [d.now(0), d.now(720)].into_iter().enumerate() {
                    if repo.visible_at(t) {
                        counts[k][0] += ci.visible_pipelines(t);
                        counts[k][1] += ci
                            .deployments
                            .iter()
                            .filter(|x| ci.deployment_state(x, t).is_some())
                            .count();
                    }
                }
            }
        }
        assert_eq!(counts, [[348, 311], [526, 485]]);
    }

    /// The guarantees of the module documentation hold for every repository, whatever the seed.
    #[test]
    fn guarantees_hold_for_every_repository_and_seed() {
        for seed in 0..4 {
            for (name, anchor, ci) in generate(seed) {
                let at = |t: Micros| -> Vec<PipelineState> {
                    ci.pipelines[..ci.visible_pipelines(t)]
                        .iter()
                        .map(|p| ci.pipeline_state(p, t))
                        .collect()
                };
                let now = at(anchor);
                for want in [
                    PipelineState::Pending,
                    PipelineState::Running,
                    PipelineState::Paused,
                ] {
                    assert!(now.contains(&want), "{name} seed {seed}: {want:?}");
                }
                // What is under way at the anchor completes: within the hour, the stuck one
                // within four days.
                let open: Vec<usize> = (0..now.len())
                    .filter(|&i| !matches!(now[i], PipelineState::Completed(_)))
                    .collect();
                let later = at(anchor + HOUR);
                for &i in &open {
                    let done = matches!(later[i], PipelineState::Completed(_));
                    assert!(
                        done || later[i] == PipelineState::Paused,
                        "{name}: {:?}",
                        later[i]
                    );
                    assert!(
                        matches!(at(anchor + 4 * DAY)[i], PipelineState::Completed(_)),
                        "{name}"
                    );
                }
                let deployments: Vec<DeploymentState> = ci
                    .deployments
                    .iter()
                    .filter_map(|d| ci.deployment_state(d, anchor))
                    .collect();
                assert!(
                    deployments.contains(&DeploymentState::Undeployed),
                    "{name} seed {seed}"
                );
                assert!(
                    deployments.contains(&DeploymentState::InProgress),
                    "{name} seed {seed}"
                );
                // A failed production deployment restored by a later successful one.
                let production: Vec<(Micros, Outcome)> = ci
                    .deployments
                    .iter()
                    .filter(|d| d.env == 2)
                    .map(|d| &ci.steps[d.step as usize])
                    .filter(|s| s.completed <= anchor)
                    .map(|s| (s.completed, s.outcome))
                    .collect();
                let restored = production.iter().any(|&(f, o)| {
                    o == Outcome::Failed
                        && production
                            .iter()
                            .any(|&(t, o2)| o2 == Outcome::Successful && t > f)
                });
                assert!(restored, "{name} seed {seed}");
                // Build numbers follow creation; steps chain in time.
                for (i, p) in ci.pipelines.iter().enumerate() {
                    assert_eq!(p.build_number as usize, i + 1);
                    let mut prev = p.created;
                    for s in ci.steps_of(p).iter().filter(|s| s.outcome != Outcome::NotRun) {
                        assert!(
                            s.ready >= prev && s.started >= s.ready && s.completed > s.started,
                            "{name}"
                        );
                        prev = s.completed;
                    }
                    assert_eq!(prev, p.completed);
                }
            }
        }
    }

    #[test]
    fn outcome_spelling() {
        assert_eq!(Outcome::NotRun.name(), "NOT_RUN");
        assert_eq!(Outcome::Successful.type_suffix(), "successful");
        assert_eq!(StepKind::Deploy(2).name(), "Deploy to Production");
    }
}
