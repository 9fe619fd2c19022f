//! Bitbucket Pipelines: `pipelines` (INCREMENTAL on `created_on`) and `pipeline_steps`
//! (INCREMENTAL on `pipeline_created_on`, the parent's `created_on`), read together in one
//! pass per repository.
//!
//! `/pipelines/` ignores `q`, so it is read newest first (`sort=-created_on`) and stops at the
//! floor like any time-ordered newest-first listing (see [`super::newest_first`]). Its pages
//! are requested by number from the tap's own parameters, since its `next` links drop
//! `sort`.
//!
//! A pipeline created before the bookmark can finish after it. Each stream's partition state
//! keeps an `open` list: the UUIDs of the pipelines it saw in a state other than COMPLETED
//! (at most [`MAX_OPEN`], the oldest dropped with a warning). Every run re-reads them: the
//! listing shows some (its last page, all below the window, included); while many remain
//! unseen, pages below the window show up to a hundred each (see [`Deeper`]); the rest
//! cost one `GET /pipelines/{uuid}` each. `pipelines` emits each again, `pipeline_steps`
//! reads a pipeline's steps once, when it sees it COMPLETED; one that completed or is gone
//! (404) leaves the list. A pipeline stuck open for weeks thus costs one request per run, not
//! a re-read of weeks of history.

use std::borrow::Cow;
use std::collections::HashSet;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

use super::deployments::{empty_without_pipelines, UuidRef, Variant};
use super::newest_first::{emit_mask, judge_page, Order, PageVerdict};
use super::paged::{read_all, Identified, NumberedPages};
use super::Int;
use super::{
    Account, CommitRef, Links, PartitionRun, PullRequestRef, RepositoryInfo, RepositoryKeys, RepositoryRef,
    Scope, StreamDef, StreamError, StreamRun, Text, Timestamp,
};
use crate::bitbucket::{decode_text, MAX_PAGELEN};
use crate::singer::{record_schema, WriteError};

/// The most pipelines a partition's `open` list keeps.
pub const MAX_OPEN: usize = 1000;

/// A pipeline's or step's state: `PENDING`, `IN_PROGRESS` (with a `stage`) or `COMPLETED`
/// (with a `result`: SUCCESSFUL, FAILED, STOPPED, ERROR, EXPIRED, NOT_RUN).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RunState<'a> {
    /// `pipeline_state_completed`, …
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// `PENDING`, `IN_PROGRESS`, `COMPLETED` (steps also `READY`).
    pub name: Option<Text<'a>>,
    /// While in progress: `RUNNING`, `PAUSED`, …
    pub stage: Option<Variant<'a>>,
    /// Once completed: `SUCCESSFUL`, `FAILED`, …
    pub result: Option<RunResult<'a>>,
}

/// How a completed pipeline or step ended, with the error behind an `ERROR` result.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RunResult<'a> {
    /// `pipeline_state_completed_successful`, …
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// `SUCCESSFUL`, `FAILED`, `ERROR`, `STOPPED`, `EXPIRED`, `NOT_RUN`.
    pub name: Option<Text<'a>>,
    /// Why it ended in `ERROR` (a bad `bitbucket-pipelines.yml`, build minutes used up, …).
    pub error: Option<RunError<'a>>,
}

/// The error behind a pipeline's or step's `ERROR` result.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RunError<'a> {
    /// `pipeline_error`, `pipeline_step_error`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The error key (`plan-service.parse.parse-error`, …).
    pub key: Option<Text<'a>>,
    /// What went wrong, in words.
    pub message: Option<Text<'a>>,
}

impl RunState<'_> {
    /// Whether the run has finished.
    fn is_completed(&self) -> bool {
        self.name.is_some_and(|n| n.to_str() == "COMPLETED")
    }
}

/// What a pipeline ran for.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct PipelineTarget<'a> {
    /// `pipeline_ref_target`, `pipeline_pullrequest_target` or `pipeline_commit_target`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// `branch`, `tag`, `named_branch` or `bookmark` (ref targets).
    pub ref_type: Option<Text<'a>>,
    /// The branch or tag (ref targets).
    pub ref_name: Option<Text<'a>>,
    /// The commit built.
    pub commit: Option<CommitRef<'a>>,
    /// Which pipeline definition ran (`{type, pattern}`).
    pub selector: Option<Map<String, Value>>,
    /// The source branch (pull-request targets).
    pub source: Option<Text<'a>>,
    /// The destination branch (pull-request targets).
    pub destination: Option<Text<'a>>,
    /// The destination's commit (pull-request targets).
    pub destination_commit: Option<CommitRef<'a>>,
    /// The pull request (pull-request targets): `pullrequest.id` joins to `pullrequests.id`.
    pub pullrequest: Option<PullRequestRef<'a>>,
}

/// A pipeline (`GET /repositories/{workspace}/{repo}/pipelines/`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct PipelineRecord<'a> {
    /// The workspace of the repository it was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The repository it was read from.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// That repository's UUID (key).
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// `pipeline`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The pipeline UUID (key).
    pub uuid: Text<'a>,
    /// Its build number in the repository.
    pub build_number: Option<Int>,
    /// How many times it ran (re-runs count up).
    pub run_number: Option<Int>,
    /// Who started it.
    pub creator: Option<Account<'a>>,
    /// The repository.
    pub repository: Option<RepositoryRef<'a>>,
    /// What it ran for (a branch, a tag, a pull request, a commit).
    pub target: Option<PipelineTarget<'a>>,
    /// What started it (`PUSH`, `MANUAL`, `SCHEDULE`, …).
    pub trigger: Option<Variant<'a>>,
    /// Where it stands.
    pub state: Option<RunState<'a>>,
    /// When it was created (replication key).
    pub created_on: Option<Timestamp<'a>>,
    /// When it completed.
    pub completed_on: Option<Timestamp<'a>>,
    /// How long it ran, in seconds.
    pub duration_in_seconds: Option<Int>,
    /// Build minutes it used, in seconds.
    pub build_seconds_used: Option<Int>,
    /// Whether it was the first successful run after failures.
    pub first_successful: Option<bool>,
    /// Whether it expired before it ran.
    pub expired: Option<bool>,
    /// Whether it ran with custom variables.
    pub has_variables: Option<bool>,
    /// The custom variables it ran with (secured values are not sent).
    pub variables: Option<Vec<Map<String, Value>>>,
    /// Where its configuration came from.
    pub configuration_sources: Option<Vec<Map<String, Value>>>,
    /// Links (`self`, `steps`).
    pub links: Option<Links<'a>>,
}

impl Identified for PipelineRecord<'_> {
    fn identity(&self) -> Cow<'_, str> {
        self.uuid.to_str()
    }
}

impl PipelineRecord<'_> {
    fn is_completed(&self) -> bool {
        self.state.as_ref().is_some_and(RunState::is_completed)
    }

    fn created(&self) -> Option<DateTime<Utc>> {
        self.created_on.as_ref().and_then(Timestamp::parse)
    }
}

/// A command of a step.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct StepCommand<'a> {
    /// Its name.
    pub name: Option<Text<'a>>,
    /// The command line.
    pub command: Option<Text<'a>>,
    /// What it does, for built-in commands.
    pub action: Option<Text<'a>>,
}

/// A step of a pipeline (`GET /repositories/{workspace}/{repo}/pipelines/{uuid}/steps/`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct PipelineStepRecord<'a> {
    /// The workspace of the repository it was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The repository it was read from.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// That repository's UUID (key).
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// The pipeline's UUID (key).
    #[serde(skip_deserializing)]
    pub pipeline_uuid: String,
    /// The pipeline's `created_on` (replication key).
    #[serde(skip_deserializing)]
    #[schemars(with = "Option<Timestamp>")]
    pub pipeline_created_on: Option<String>,
    /// `pipeline_step`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The step UUID (key; a deployment's `step.uuid`).
    pub uuid: Text<'a>,
    /// Its name.
    pub name: Option<Text<'a>>,
    /// When it started.
    pub started_on: Option<Timestamp<'a>>,
    /// When it completed.
    pub completed_on: Option<Timestamp<'a>>,
    /// Where it stands.
    pub state: Option<RunState<'a>>,
    /// The build image (`{name}`; credentials are not sent).
    pub image: Option<Map<String, Value>>,
    /// Its setup commands.
    pub setup_commands: Option<Vec<StepCommand<'a>>>,
    /// Its script commands.
    pub script_commands: Option<Vec<StepCommand<'a>>>,
    /// Its teardown commands.
    pub teardown_commands: Option<Vec<StepCommand<'a>>>,
    /// How many times it ran.
    pub run_number: Option<Int>,
    /// Whether it runs automatically or manually.
    pub trigger: Option<Variant<'a>>,
    /// How long it ran, in seconds.
    pub duration_in_seconds: Option<Int>,
    /// Build minutes it used, in seconds.
    pub build_seconds_used: Option<Int>,
    /// Its time limit, in minutes.
    pub max_time: Option<Int>,
    /// The environment a deployment step deploys to.
    pub environment: Option<UuidRef<'a>>,
    /// The pipeline (as the API sends it).
    pub pipeline: Option<UuidRef<'a>>,
    /// Links.
    pub links: Option<Links<'a>>,
}

super::repository_keys!(PipelineRecord, PipelineStepRecord);
super::borrowing!(Pipelines => PipelineRecord, PipelineSteps => PipelineStepRecord);

/// `pipelines`: INCREMENTAL on `created_on`, newest first, plus the open set; leads the
/// family read with `pipeline_steps`.
pub const PIPELINES: StreamDef = StreamDef {
    name: "pipelines",
    key_properties: &["repository_uuid", "uuid"],
    replication_key: Some("created_on"),
    selected_by_default: true,
    scope: Scope::Repository,
    schema: record_schema::<PipelineRecord>,
    read: |run| Box::pin(read(run)),
    family: None,
};

/// `pipeline_steps`: INCREMENTAL on `pipeline_created_on`; one request (plus pages) per
/// pipeline, when the run sees it completed.
pub const PIPELINE_STEPS: StreamDef = StreamDef {
    name: "pipeline_steps",
    key_properties: &["repository_uuid", "pipeline_uuid", "uuid"],
    replication_key: Some("pipeline_created_on"),
    selected_by_default: false,
    scope: Scope::Repository,
    schema: record_schema::<PipelineStepRecord>,
    read: |run| Box::pin(read(run)),
    family: Some("pipelines"),
};

/// One stream's progress through the pipelines of a partition.
struct Tracker<'r> {
    out: &'r StreamRun,
    /// The `open` list the run started from, in its order.
    previous_open: Vec<String>,
    /// Fast membership for `previous_open`.
    was_open: HashSet<String>,
    /// The pipelines still open after this run, newest first (at most [`MAX_OPEN`]).
    open: Vec<String>,
    /// Fast membership for `open`.
    is_open: HashSet<String>,
    /// Pipelines still open that did not fit in `open` (the oldest).
    dropped: usize,
    /// The newest `created_on` inside the window.
    newest: Option<DateTime<Utc>>,
}

impl<'r> Tracker<'r> {
    fn new(out: &'r StreamRun) -> Self {
        let previous_open: Vec<String> = out
            .stored
            .get("open")
            .and_then(Value::as_array)
            .map(|ids| ids.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        // A state written by hand may hold more: the newest are kept, as a run keeps them.
        let mut previous_open = previous_open;
        previous_open.truncate(MAX_OPEN);
        Tracker {
            out,
            was_open: previous_open.iter().cloned().collect(),
            previous_open,
            open: Vec::new(),
            is_open: HashSet::new(),
            dropped: 0,
            newest: None,
        }
    }

    /// Notes that `uuid` is still open, once. Pipelines come newest first (the listing, then
    /// the older ones re-read), so past [`MAX_OPEN`] the oldest are the ones dropped.
    fn still_open(&mut self, uuid: &str) {
        if self.is_open.contains(uuid) {
            return;
        }
        if self.open.len() < MAX_OPEN {
            self.is_open.insert(uuid.to_string());
            self.open.push(uuid.to_string());
        } else {
            self.dropped += 1;
        }
    }

    /// Writes the bookmark and the `open` list.
    async fn finish(self, run: &PartitionRun, key: &'static str) -> Result<(), StreamError> {
        let window = &self.out.window;
        let dropped = self.dropped;
        if dropped > 0 {
            tracing::warn!(
                stream = self.out.name,
                partition = %run.context.label(),
                "{dropped} pipelines still running are no longer followed by `{}`: a partition follows at most {MAX_OPEN}, the newest.",
                self.out.name
            );
        }
        // Nothing inside the window and no bookmark yet: nothing was emitted to follow.
        let Some(at) = self.newest.or(window.previous) else {
            return Ok(());
        };
        let value = window.bookmark_value(at);
        let extra = Map::from_iter([(
            "open".to_string(),
            Value::Array(self.open.into_iter().map(Value::String).collect()),
        )]);
        self.out
            .emitter
            .bookmark_with(&run.context, key, value, extra)
            .await?;
        Ok(())
    }
}

async fn read(run: PartitionRun) -> Result<(), StreamError> {
    let result = read_family(&run).await;
    empty_without_pipelines(&run, result)
}

/// A completed pipeline whose steps are due.
struct StepsDue {
    uuid: String,
    created_on: Option<String>,
}

async fn read_family(run: &PartitionRun) -> Result<(), StreamError> {
    let repo = run.repository()?.clone();
    let mut pipes = run.selected("pipelines").map(Tracker::new);
    let mut steps = run.selected("pipeline_steps").map(Tracker::new);
    // One listing serves both streams: it reads down to the lower of their floors.
    let lowers: Vec<_> = run.streams().map(|s| s.window.lower).collect();
    let stop_below = lowers.iter().copied().min().flatten();
    let mut base = pipelines_url(run, &repo, &[]);
    base.query_pairs_mut()
        .append_pair("sort", "-created_on")
        .append_pair("pagelen", &run.pagelen(MAX_PAGELEN));
    let mut pages = NumberedPages::new(base);
    // The open pipelines followed from the last run, and those of them the listing showed
    // (no other is kept: state and memory stay bounded).
    let followed: HashSet<String> = pipes
        .iter()
        .chain(steps.iter())
        .flat_map(|t| t.previous_open.iter().cloned())
        .collect();
    let mut seen: HashSet<String> = HashSet::new();
    // Pages read below the window for them, and how many they showed (beyond those shown
    // above it).
    let (mut deeper_pages, mut found_deeper, mut found_above) = (0, 0, 0);
    let mut steps_reader = StepsReader::default();
    loop {
        let page = pages
            .next_page::<Pipelines, _>(run, run.first.name, |records| {
                let times: Vec<_> = records.iter().map(PipelineRecord::created).collect();
                // A page all below the floor ends the read; it was fetched anyway, so the
                // followed pipelines on it are taken from it (nothing else is emitted: every
                // record is below every window).
                let last = match judge_page(&times, stop_below, Order::Key) {
                    PageVerdict::Stop => true,
                    PageVerdict::Emit { last } => last,
                };
                let mask =
                    |t: &Option<Tracker>| t.as_ref().map(|t| emit_mask(&times, &t.out.window, Order::Key));
                let (pipes_mask, steps_mask) = (mask(&pipes), mask(&steps));
                let mut due = Vec::new();
                let mut emitted = Vec::new();
                for (i, mut pipeline) in records.into_iter().enumerate() {
                    let uuid = pipeline.uuid.to_string();
                    let followed =
                        |t: &Option<Tracker>| t.as_ref().is_some_and(|t| t.was_open.contains(&uuid));
                    if followed(&pipes) || followed(&steps) {
                        seen.insert(uuid.clone());
                    }
                    let completed = pipeline.is_completed();
                    if let (Some(t), Some(mask)) = (steps.as_mut(), &steps_mask) {
                        let was_open = t.was_open.contains(&uuid);
                        if mask[i] || was_open {
                            if mask[i] {
                                t.newest = t.newest.max(times[i]);
                            }
                            // Steps are read once, when a run first sees the pipeline
                            // completed: a pipeline at or below the bookmark that was not
                            // followed as open was seen completed by an earlier run.
                            let seen_before = t
                                .out
                                .window
                                .previous
                                .is_some_and(|previous| times[i].is_some_and(|at| at <= previous));
                            if completed && (was_open || !seen_before) {
                                due.push(StepsDue {
                                    uuid: uuid.clone(),
                                    created_on: pipeline.created_on.map(|c| c.to_string()),
                                });
                            } else if !completed {
                                t.still_open(&uuid);
                            }
                        }
                    }
                    if let (Some(t), Some(mask)) = (pipes.as_mut(), &pipes_mask) {
                        // A pipeline followed as open is emitted again wherever the listing
                        // shows it: it may have finished.
                        if mask[i] || t.was_open.contains(&uuid) {
                            if mask[i] {
                                t.newest = t.newest.max(times[i]);
                            }
                            if !completed {
                                t.still_open(&uuid);
                            }
                            pipeline.set_repository_keys(&repo);
                            emitted.push(pipeline);
                        }
                    }
                }
                let rendered = pipes
                    .as_ref()
                    .map(|t| t.out.emitter.render(&emitted))
                    .transpose()?;
                Ok::<_, WriteError>((rendered, due, last))
            })
            .await?;
        let Some((rendered, due, last)) = page.transpose()? else {
            break;
        };
        if let (Some(t), Some(rendered)) = (&pipes, rendered) {
            t.out.emitter.send_page(rendered).await?;
        }
        if let Some(t) = &steps {
            for pipeline in &due {
                steps_reader.read(run, t.out, &repo, pipeline).await?;
            }
        }
        let unseen = followed.iter().filter(|u| !seen.contains(*u)).count();
        if deeper_pages > 0 {
            found_deeper = followed.len() - unseen - found_above;
        } else {
            found_above = followed.len() - unseen;
        }
        if last {
            let deeper = Deeper {
                followed: followed.len(),
                unseen,
                pages: deeper_pages,
                found: found_deeper,
            };
            if !deeper.worth_one_more_page() {
                break;
            }
            deeper_pages += 1;
        }
    }
    if deeper_pages > 0 {
        tracing::debug!(
            stream = run.first.name,
            partition = %run.context.label(),
            "Read {deeper_pages} pages below the window for the pipelines still running."
        );
    }
    reread_open(
        run,
        &repo,
        &seen,
        pipes.as_mut(),
        steps.as_mut(),
        &mut steps_reader,
    )
    .await?;
    if let Some(t) = pipes {
        t.finish(run, "created_on").await?;
    }
    if let Some(t) = steps {
        t.finish(run, "pipeline_created_on").await?;
    }
    Ok(())
}

/// Where a read below the window for the followed open pipelines stands.
#[derive(Debug, Clone, Copy)]
struct Deeper {
    /// Pipelines followed from the last run.
    followed: usize,
    /// Of those, the ones no page has shown yet.
    unseen: usize,
    /// Pages read below the window so far.
    pages: usize,
    /// Followed pipelines those pages showed.
    found: usize,
}

impl Deeper {
    /// Whether to read one more listing page below the window (up to 100 pipelines for one
    /// request) rather than re-read the unseen ones one by one. Two conditions:
    /// - enough remain unseen to be worth a page: at least four per page read so far, so
    ///   that a few left deep in history (or deleted) are not chased page after page;
    /// - the pages that showed nothing so far, plus this one, stay within 5 % of the
    ///   one-by-one cost: whatever the listing holds, the deeper read costs at most that
    ///   much more, and where many wait (hundreds paused on a manual step) a page per
    ///   hundred instead of a request each.
    ///
    /// Fewer than twenty followed pipelines are thus always re-read one by one.
    fn worth_one_more_page(self) -> bool {
        self.unseen >= 4 * (self.pages + 1)
            && (self.pages + 1).saturating_sub(self.found) <= self.followed / 20
    }
}

/// Re-reads, one request each, the open pipelines the listing did not show.
async fn reread_open<'r>(
    run: &PartitionRun,
    repo: &RepositoryInfo,
    seen: &HashSet<String>,
    mut pipes: Option<&mut Tracker<'r>>,
    mut steps: Option<&mut Tracker<'r>>,
    steps_reader: &mut StepsReader,
) -> Result<(), StreamError> {
    let mut due: Vec<String> = Vec::new();
    for t in pipes.iter().chain(steps.iter()) {
        for uuid in &t.previous_open {
            if !seen.contains(uuid) && !due.contains(uuid) {
                due.push(uuid.clone());
            }
        }
    }
    for uuid in due {
        let url = pipelines_url(run, repo, &[&uuid]);
        let fetched = run
            .client
            .get_with(&url, |text| {
                let mut pipeline: PipelineRecord<'_> = decode_text(url.path(), text)?;
                pipeline.set_repository_keys(repo);
                let completed = pipeline.is_completed();
                let created_on = pipeline.created_on.map(|c| c.to_string());
                let rendered = pipes
                    .as_deref()
                    .filter(|t| t.was_open.contains(&uuid))
                    .map(|t| t.out.emitter.render(&[pipeline]));
                Ok((rendered, completed, created_on))
            })
            .await;
        let (rendered, completed, created_on) = match fetched {
            Ok(found) => found,
            Err(e) if e.status() == Some(404) => {
                // Deleted (or the repository's Pipelines were reset): nothing left to follow.
                tracing::debug!(stream = run.first.name, pipeline = %uuid, "An open pipeline is gone ({e}).");
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(t) = pipes.as_deref_mut().filter(|t| t.was_open.contains(&uuid)) {
            if let Some(rendered) = rendered {
                t.out.emitter.send_page(rendered?).await?;
            }
            if !completed {
                t.still_open(&uuid);
            }
        }
        if let Some(t) = steps.as_deref_mut().filter(|t| t.was_open.contains(&uuid)) {
            if completed {
                steps_reader
                    .read(run, t.out, repo, &StepsDue { uuid, created_on })
                    .await?;
            } else {
                t.still_open(&uuid);
            }
        }
    }
    Ok(())
}

/// Reads the steps of completed pipelines, remembering for the partition whether the steps
/// endpoint refused the `pagelen` asked for.
#[derive(Debug, Default)]
struct StepsReader {
    pagelen_refused: bool,
}

impl StepsReader {
    /// Reads every step of a completed pipeline into `out`. A pipeline gone since it was
    /// listed (404) is skipped with a warning.
    async fn read(
        &mut self,
        run: &PartitionRun,
        out: &StreamRun,
        repo: &RepositoryInfo,
        pipeline: &StepsDue,
    ) -> Result<(), StreamError> {
        let mut url = pipelines_url(run, repo, &[&pipeline.uuid, "steps", ""]);
        if !self.pagelen_refused {
            url.query_pairs_mut()
                .append_pair("pagelen", &run.pagelen(MAX_PAGELEN));
        }
        let read = read_all::<PipelineSteps, _>(run, out, url, |step| {
            step.set_repository_keys(repo);
            step.pipeline_uuid.clone_from(&pipeline.uuid);
            step.pipeline_created_on.clone_from(&pipeline.created_on);
        })
        .await;
        match read {
            Ok(done) => {
                self.pagelen_refused |= done.pagelen_refused;
                Ok(())
            }
            Err(StreamError::Api(e)) if e.status() == Some(404) => {
                tracing::warn!(
                    stream = out.name,
                    partition = %run.context.label(),
                    pipeline = %pipeline.uuid,
                    "Skipping the steps of pipeline {} of {}/{}: Bitbucket no longer finds it ({e}).",
                    pipeline.uuid,
                    repo.workspace,
                    repo.slug
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

/// `/repositories/{workspace}/{repo}/pipelines/…` (a trailing empty segment lists).
fn pipelines_url(run: &PartitionRun, repo: &RepositoryInfo, tail: &[&str]) -> url::Url {
    let mut segments = vec![
        "repositories",
        repo.workspace.as_str(),
        repo.slug.as_str(),
        "pipelines",
    ];
    if tail.is_empty() {
        segments.push("");
    }
    segments.extend_from_slice(tail);
    run.client.url(&segments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::singer::Emitter;
    use crate::window::Window;

    #[test]
    fn the_listing_is_read_deeper_only_while_it_costs_at_most_five_percent_more() {
        let deeper = |followed, unseen, pages, found| {
            Deeper {
                followed,
                unseen,
                pages,
                found,
            }
            .worth_one_more_page()
        };
        // A few stuck pipelines: one request each, no page more.
        assert!(!deeper(3, 3, 0, 0));
        assert!(!deeper(19, 19, 0, 0));
        // Forty: two pages may be risked (5 % of forty requests); a third that would show
        // none more is not.
        assert!(deeper(40, 40, 0, 0));
        assert!(deeper(40, 40, 1, 0));
        assert!(!deeper(40, 40, 2, 0));
        assert!(deeper(40, 30, 1, 10));
        // A thousand: pages while they pay for themselves, up to fifty that do not.
        assert!(deeper(1000, 900, 1, 100));
        assert!(deeper(1000, 1000, 49, 0));
        assert!(!deeper(1000, 1000, 50, 0));
        // Ten left deep in history after 990 were found: re-read one by one.
        assert!(!deeper(1000, 10, 10, 990));
    }

    #[test]
    fn the_open_list_keeps_the_newest_and_counts_the_rest() {
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let now = Utc::now();
        let out = StreamRun {
            name: "pipelines",
            window: Window {
                lower: None,
                end: None,
                now,
                previous: None,
            },
            emitter: Emitter::new(tx, "pipelines", Default::default()),
            stored: Map::from_iter([(
                "open".to_string(),
                Value::Array(
                    (0..MAX_OPEN + 5)
                        .map(|i| Value::String(format!("{{{i}}}")))
                        .collect(),
                ),
            )]),
        };
        let mut tracker = Tracker::new(&out);
        assert_eq!(
            tracker.previous_open.len(),
            MAX_OPEN,
            "a longer list from a file is capped"
        );
        for i in 0..MAX_OPEN + 3 {
            tracker.still_open(&format!("new-{i}"));
        }
        // Seen again (the listing, then a re-read): kept once.
        tracker.still_open("new-0");
        assert_eq!(tracker.open.len(), MAX_OPEN);
        assert_eq!(tracker.open[0], "new-0", "the newest first");
        assert_eq!(tracker.dropped, 3, "the three oldest are dropped");
    }
}
