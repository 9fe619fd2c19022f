//! Deployments and where they go: `environments` (FULL_TABLE) and `deployments`
//! (INCREMENTAL on `last_update_time`): with `pipelines`, what deployment frequency, lead
//! time, change failure rate and time to restore are computed from.
//!
//! `/deployments/` has no documented filter or sort, so every page is read on every run and
//! a record is emitted when its `last_update_time` is inside the window. A deployment waiting
//! to start (UNDEPLOYED) has no `last_update_time` yet; it is emitted on every run while it
//! waits, so the target always has it. Pages are requested by number (`page=N`) from the
//! tap's own parameters, because the endpoint's `next` links can carry a wrong page.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

use super::paged::{read_repository_collection, Identified, NumberedPages};
use super::Int;
use super::{
    Account, CommitRef, Links, PartitionRun, RepositoryKeys, Scope, StreamDef, StreamError, Text, Timestamp,
};
use crate::bitbucket::{ApiError, MAX_PAGELEN};
use crate::singer::record_schema;

/// A `{type, name}` pair: how the API spells the variant of a polymorphic object (a state, a
/// result, a stage, a trigger, an environment lock).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct Variant<'a> {
    /// The variant's type (`pipeline_state_completed_successful`, …).
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// Its name (`SUCCESSFUL`, …).
    pub name: Option<Text<'a>>,
}

/// A reference to another object by UUID (`{type, uuid}`): a deployment's environment, step
/// and pipeline.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct UuidRef<'a> {
    /// The object's type (`deployment_environment`, `pipeline_step`, `pipeline`).
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// Its UUID, in braces.
    pub uuid: Option<Text<'a>>,
    /// Its name, when the API includes it.
    pub name: Option<Text<'a>>,
}

/// The kind of an environment.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct EnvironmentType<'a> {
    /// `deployment_environment_type`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// `Test`, `Staging` or `Production`.
    pub name: Option<Text<'a>>,
    /// Its order among the kinds (0 = Test).
    pub rank: Option<Int>,
}

/// A deployment environment (`GET /repositories/{workspace}/{repo}/environments/`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct EnvironmentRecord<'a> {
    /// The workspace of the repository it was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The repository it was read from.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// That repository's UUID (key).
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// `deployment_environment`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The environment UUID (key).
    pub uuid: Text<'a>,
    /// Its name.
    pub name: Option<Text<'a>>,
    /// Its slug.
    pub slug: Option<Text<'a>>,
    /// Its position in the repository's deployment order.
    pub rank: Option<Int>,
    /// Whether it is hidden in the deployments dashboard.
    pub hidden: Option<bool>,
    /// Its kind (`environment_type.name`: `Test`, `Staging`, `Production`), which DORA metrics
    /// group deployments by.
    pub environment_type: Option<EnvironmentType<'a>>,
    /// Its lock (`OPEN`, …).
    pub lock: Option<Variant<'a>>,
    /// Who may deploy to it.
    pub restrictions: Option<Map<String, Value>>,
    /// Its category (`{name}`).
    pub category: Option<Map<String, Value>>,
    /// Whether deployment gates are on.
    pub deployment_gate_enabled: Option<bool>,
    /// Whether concurrent deployments are locked out.
    pub environment_lock_enabled: Option<bool>,
    /// Links.
    pub links: Option<Links<'a>>,
}

/// What a deployment released: a commit built by a pipeline.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct Release<'a> {
    /// `deployment_release`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The release UUID.
    pub uuid: Option<Text<'a>>,
    /// Its name (the build number).
    pub name: Option<Text<'a>>,
    /// Its web URL.
    pub url: Option<Text<'a>>,
    /// When it was created.
    pub created_on: Option<Timestamp<'a>>,
    /// The commit released (`commit.hash`, full: a merged pull request's short
    /// `merge_commit.hash` is a prefix of it).
    pub commit: Option<CommitRef<'a>>,
    /// The pipeline that built it.
    pub pipeline: Option<UuidRef<'a>>,
}

/// Where a deployment stands: UNDEPLOYED (waiting), IN_PROGRESS or COMPLETED (with
/// `status.name` SUCCESSFUL, FAILED or STOPPED).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct DeploymentState<'a> {
    /// `deployment_state_undeployed`, `…_in_progress` or `…_completed`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// `UNDEPLOYED`, `IN_PROGRESS` or `COMPLETED`.
    pub name: Option<Text<'a>>,
    /// The outcome of a completed deployment (`status.name`).
    pub status: Option<Variant<'a>>,
    /// When it started.
    pub started_on: Option<Timestamp<'a>>,
    /// When it completed.
    pub completed_on: Option<Timestamp<'a>>,
    /// When it started (the spelling of the API description).
    pub start_date: Option<Timestamp<'a>>,
    /// When it completed (the spelling of the API description).
    pub completion_date: Option<Timestamp<'a>>,
    /// Who deployed.
    pub deployer: Option<Account<'a>>,
    /// Its web URL.
    pub url: Option<Text<'a>>,
    /// Where to start a waiting deployment.
    pub trigger_url: Option<Text<'a>>,
}

/// A deployment (`GET /repositories/{workspace}/{repo}/deployments/`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct DeploymentRecord<'a> {
    /// The workspace of the repository it was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The repository it was read from.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// That repository's UUID (key).
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// `deployment`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The deployment UUID (key).
    pub uuid: Text<'a>,
    /// Its number in the repository.
    pub number: Option<Int>,
    /// Its key.
    pub key: Option<Text<'a>>,
    /// Its version (changes with every state change).
    pub version: Option<Int>,
    /// Where it deploys to (`environment.uuid`, joined to `environments.uuid`).
    pub environment: Option<UuidRef<'a>>,
    /// The pipeline step that deploys it (`step.uuid`, joined to `pipeline_steps.uuid`).
    pub step: Option<UuidRef<'a>>,
    /// What it deploys.
    pub release: Option<Release<'a>>,
    /// Where it stands.
    pub state: Option<DeploymentState<'a>>,
    /// When its state last changed (replication key); absent while it waits (UNDEPLOYED).
    pub last_update_time: Option<Timestamp<'a>>,
    /// What was deployed, as the API describes it.
    pub deployable: Option<Map<String, Value>>,
    /// The commit deployed, when the API names it here too.
    pub commit: Option<CommitRef<'a>>,
    /// Links.
    pub links: Option<Links<'a>>,
}

impl Identified for DeploymentRecord<'_> {
    fn identity(&self) -> Cow<'_, str> {
        self.uuid.to_str()
    }
}

super::repository_keys!(EnvironmentRecord, DeploymentRecord);
super::borrowing!(Environments => EnvironmentRecord, Deployments => DeploymentRecord);

/// `environments`: FULL_TABLE, one partition per repository.
pub const ENVIRONMENTS: StreamDef = StreamDef {
    name: "environments",
    key_properties: &["repository_uuid", "uuid"],
    replication_key: None,
    selected_by_default: true,
    scope: Scope::Repository,
    schema: record_schema::<EnvironmentRecord>,
    read: |run| Box::pin(read_environments(run)),
    family: None,
};

/// `deployments`: INCREMENTAL on `last_update_time`, every page read, one partition per
/// repository.
pub const DEPLOYMENTS: StreamDef = StreamDef {
    name: "deployments",
    key_properties: &["repository_uuid", "uuid"],
    replication_key: Some(REPLICATION_KEY),
    selected_by_default: true,
    scope: Scope::Repository,
    schema: record_schema::<DeploymentRecord>,
    read: |run| Box::pin(read_deployments(run)),
    family: None,
};

const REPLICATION_KEY: &str = "last_update_time";

/// Whether a 404 from a Pipelines endpoint says the repository has no Pipelines (an empty
/// stream), rather than that the repository is gone.
pub fn pipelines_not_enabled(error: &ApiError) -> bool {
    match error {
        ApiError::Status {
            status: 404, message, ..
        } => message.to_ascii_lowercase().contains("pipeline"),
        ApiError::Exhausted { last, .. } => pipelines_not_enabled(last),
        _ => false,
    }
}

/// Ends a read of a Pipelines endpoint quietly when the repository has no Pipelines.
pub fn empty_without_pipelines(
    run: &PartitionRun,
    result: Result<(), StreamError>,
) -> Result<(), StreamError> {
    match result {
        Err(StreamError::Api(e)) if pipelines_not_enabled(&e) => {
            tracing::debug!(
                stream = run.first.name,
                partition = %run.context.label(),
                "The repository has no Pipelines ({e}): nothing to read."
            );
            Ok(())
        }
        other => other,
    }
}

async fn read_environments(run: PartitionRun) -> Result<(), StreamError> {
    let result = read_repository_collection::<Environments>(&run, &["environments", ""]).await;
    empty_without_pipelines(&run, result.map(drop))
}

async fn read_deployments(run: PartitionRun) -> Result<(), StreamError> {
    let result = read_deployment_pages(&run).await;
    empty_without_pipelines(&run, result)
}

async fn read_deployment_pages(run: &PartitionRun) -> Result<(), StreamError> {
    let repo = run.repository()?.clone();
    let out = run.out();
    let window = &out.window;
    let mut base = run
        .client
        .url(&["repositories", &repo.workspace, &repo.slug, "deployments", ""]);
    base.query_pairs_mut()
        .append_pair("pagelen", &run.pagelen(MAX_PAGELEN));
    let mut pages = NumberedPages::new(base);
    let mut newest: Option<DateTime<Utc>> = None;
    while let Some(rendered) = pages
        .next_page::<Deployments, _>(run, out.name, |mut records| {
            records.retain_mut(|d| {
                let updated = d.last_update_time.as_ref().and_then(Timestamp::parse);
                // Waiting (UNDEPLOYED): no time yet, emitted every run while it waits.
                let inside = window.contains(updated);
                if inside {
                    d.set_repository_keys(&repo);
                    newest = newest.max(updated);
                }
                inside
            });
            out.emitter.render(&records)
        })
        .await?
    {
        out.emitter.send_page(rendered?).await?;
    }
    // The listing has no order: only a complete read proves nothing newer was missed.
    if let Some(value) = newest.map(|at| window.bookmark_value(at)) {
        out.bookmark(&run.context, REPLICATION_KEY, value).await?;
    }
    Ok(())
}
