//! JSON of environments, pipelines, pipeline steps and deployments, in the shapes Bitbucket
//! sends (see [`crate::pipelines`] for the facts and the time model). Rendered at the
//! renderer's time.

use serde_json::{json, Value};

use crate::clock::{format_micros, SECOND};
use crate::data::{Repo, Workspace};
use crate::history::History;
use crate::pipelines::{
    Ci, Deployment, DeploymentState, Outcome, Pipeline, PipelineState, Step, StepKind, StepState, Target,
    ENVIRONMENTS,
};
use crate::refs::hotfix_branch_names;
use crate::render::{href, uuid_in_url, PrTexts, Renderer, WEB};

fn build_image(language: &str) -> &'static str {
    match language {
        "python" => "python:3.12",
        "typescript" | "javascript" => "node:20",
        "go" => "golang:1.22",
        "java" => "maven:3.9-eclipse-temurin-21",
        "rust" => "rust:1.80",
        "hcl" => "hashicorp/terraform:1.9",
        _ => "atlassian/default-image:4",
    }
}

fn build_script(language: &str) -> &'static [&'static str] {
    match language {
        "python" => &["pip install -r requirements.txt", "pytest"],
        "typescript" | "javascript" => &["npm ci", "npm test"],
        "go" => &["go build ./...", "go test ./..."],
        "java" => &["mvn -B verify"],
        "rust" => &["cargo build", "cargo test"],
        "hcl" => &["terraform init -backend=false", "terraform validate"],
        _ => &["make test"],
    }
}

fn commands(list: &[String]) -> Value {
    Value::Array(list.iter().map(|c| json!({ "name": c, "command": c })).collect())
}

impl Renderer<'_> {
    fn results_url(&self, repo: &Repo, build: u32) -> String {
        format!("{WEB}/{}/pipelines/results/{build}", repo.full_name)
    }

    /// An environment of `/environments/` (`rank` = index into [`ENVIRONMENTS`]).
    pub fn environment(&self, ci: &Ci, rank: usize) -> Value {
        let (name, slug) = ENVIRONMENTS[rank.min(ENVIRONMENTS.len() - 1)];
        let uuid = ci
            .environments
            .get(rank)
            .map(|e| e.uuid.as_str())
            .unwrap_or_default();
        json!({
            "type": "deployment_environment",
            "uuid": uuid,
            "name": name,
            "slug": slug,
            "rank": rank,
            "hidden": false,
            "environment_type": {
                "type": "deployment_environment_type",
                "name": name,
                "rank": rank,
            },
            "lock": { "type": "deployment_environment_lock_open", "name": "OPEN" },
            "restrictions": {
                "type": "deployment_restrictions_configuration",
                "admin_only": false,
            },
            "category": { "name": name },
            "deployment_gate_enabled": false,
            "environment_lock_enabled": true,
        })
    }

    fn pipeline_target(&self, repo: &Repo, h: &History, p: &Pipeline) -> Value {
        let hash = &h.commits[p.commit as usize].hash;
        let commit = self.commit_ref(repo, hash);
        let ref_target = |ref_name: &str, selector: Value| {
            json!({
                "type": "pipeline_ref_target",
                "ref_type": "branch",
                "ref_name": ref_name,
                "commit": commit,
                "selector": selector,
            })
        };
        match p.target {
            Target::Main => ref_target(
                repo.mainbranch,
                json!({ "type": "branches", "pattern": repo.mainbranch }),
            ),
            Target::Custom(pattern) => {
                ref_target(repo.mainbranch, json!({ "type": "custom", "pattern": pattern }))
            }
            Target::Hotfix(k) => {
                let names = hotfix_branch_names(h);
                let name = names.get(k as usize).map_or("hotfix", String::as_str);
                ref_target(name, json!({ "type": "branches", "pattern": "hotfix/*" }))
            }
            Target::PullRequest { pr, destination } => {
                let Some(pr) = repo.prs.get(pr as usize) else {
                    return Value::Null;
                };
                let texts = PrTexts::of(pr);
                let edited = repo.pr_at(pr, self.now).is_some_and(|a| a.title_edited);
                let title = if repo.has_title_edit(pr) && !edited {
                    format!("WIP: {}", texts.title)
                } else {
                    texts.title.clone()
                };
                let dest = &h.commits[destination as usize].hash;
                json!({
                    "type": "pipeline_pullrequest_target",
                    "source": texts.source_branch,
                    "destination": repo.mainbranch,
                    "destination_commit": { "type": "commit", "hash": &dest[..12] },
                    "commit": commit,
                    "pullrequest": {
                        "type": "pullrequest",
                        "id": pr.id,
                        "title": title,
                        "draft": pr.draft,
                        "links": {
                            "self": href(format!("{}/pullrequests/{}", self.repo_api(repo), pr.id)),
                            "html": href(format!("{WEB}/{}/pull-requests/{}", repo.full_name, pr.id)),
                        },
                    },
                    "selector": { "type": "pull-requests", "pattern": "**" },
                })
            }
        }
    }

    /// A pipeline as `/pipelines/` and `/pipelines/{uuid}` serve it. `index` is its position in
    /// [`Ci::pipelines`].
    pub fn pipeline(&self, ws: &Workspace, repo: &Repo, h: &History, ci: &Ci, index: u32) -> Value {
        let Some(p) = ci.pipelines.get(index as usize) else {
            return Value::Null;
        };
        let api = self.repo_api(repo);
        let url_uuid = uuid_in_url(&p.uuid);
        let hash = &h.commits[p.commit as usize].hash;
        let state = ci.pipeline_state(p, self.now);
        let state_json = match state {
            PipelineState::Pending => json!({ "type": "pipeline_state_pending", "name": "PENDING" }),
            PipelineState::Running | PipelineState::Paused => {
                let (t, n) = if state == PipelineState::Paused {
                    ("pipeline_state_in_progress_paused", "PAUSED")
                } else {
                    ("pipeline_state_in_progress_running", "RUNNING")
                };
                json!({
                    "type": "pipeline_state_in_progress",
                    "name": "IN_PROGRESS",
                    "stage": { "type": t, "name": n },
                })
            }
            PipelineState::Completed(o) => json!({
                "type": "pipeline_state_completed",
                "name": "COMPLETED",
                "result": {
                    "type": format!("pipeline_state_completed_{}", o.type_suffix()),
                    "name": o.name(),
                },
            }),
        };
        let trigger = if p.manual {
            json!({ "type": "pipeline_trigger_manual", "name": "MANUAL" })
        } else {
            json!({ "type": "pipeline_trigger_push", "name": "PUSH" })
        };
        let completed = matches!(state, PipelineState::Completed(_));
        let mut v = json!({
            "type": "pipeline",
            "uuid": p.uuid,
            "build_number": p.build_number,
            "run_number": 1,
            "creator": self.account(self.data.member(ws, p.creator)),
            "repository": self.repository_ref(repo),
            "target": self.pipeline_target(repo, h, p),
            "trigger": trigger,
            "state": state_json,
            "created_on": format_micros(p.created),
            "build_seconds_used": if completed { ci.run_seconds(p) } else { 0 },
            "expired": false,
            "has_variables": false,
            "configuration_sources": [{
                "source": "bitbucket-pipelines.yml",
                "uri": format!("{api}/src/{hash}/bitbucket-pipelines.yml"),
            }],
            "links": {
                "self": href(format!("{api}/pipelines/{url_uuid}")),
                "steps": href(format!("{api}/pipelines/{url_uuid}/steps/")),
                "html": href(self.results_url(repo, p.build_number)),
            },
        });
        if completed {
            let started = ci.steps_of(p).first().map_or(p.created, |s| s.started);
            v["completed_on"] = json!(format_micros(p.completed));
            v["duration_in_seconds"] = json!((p.completed - started) / SECOND);
            if ci.first_successful == Some(index) {
                v["first_successful"] = json!(true);
            }
        }
        v
    }

    /// A step of `/pipelines/{uuid}/steps/`.
    pub fn pipeline_step(&self, repo: &Repo, h: &History, ci: &Ci, p: &Pipeline, s: &Step) -> Value {
        let state = ci.step_state(s, self.now);
        let state_json = match state {
            StepState::Pending => json!({ "type": "pipeline_step_state_pending", "name": "PENDING" }),
            StepState::Ready => json!({ "type": "pipeline_step_state_ready", "name": "READY" }),
            StepState::InProgress => {
                json!({ "type": "pipeline_step_state_in_progress", "name": "IN_PROGRESS" })
            }
            StepState::Completed(o) => json!({
                "type": "pipeline_step_state_completed",
                "name": "COMPLETED",
                "result": {
                    "type": format!("pipeline_step_state_completed_{}", o.type_suffix()),
                    "name": o.name(),
                },
            }),
        };
        let commit = &h.commits[p.commit as usize].hash;
        let ref_name = match p.target {
            Target::PullRequest { pr, .. } => repo
                .prs
                .get(pr as usize)
                .map(|pr| PrTexts::of(pr).source_branch)
                .unwrap_or_default(),
            Target::Hotfix(k) => hotfix_branch_names(h)
                .get(k as usize)
                .cloned()
                .unwrap_or_default(),
            Target::Main | Target::Custom(_) => repo.mainbranch.to_string(),
        };
        let setup = [
            format!(
                "git clone --branch=\"{ref_name}\" --depth 50 https://bitbucket.org/{}.git $BUILD_DIR",
                repo.full_name
            ),
            format!("git reset --hard {commit}"),
        ];
        let (image, script): (&str, Vec<String>) = match s.kind {
            StepKind::Build => (
                build_image(repo.language),
                build_script(repo.language)
                    .iter()
                    .map(|c| c.to_string())
                    .collect(),
            ),
            StepKind::Lint => (build_image(repo.language), vec!["make lint".into()]),
            StepKind::Scan => (
                "atlassian/default-image:4",
                vec!["pipe: snyk/snyk-scan:1.0.0".into()],
            ),
            StepKind::Deploy(env) => {
                let (_, slug) = ENVIRONMENTS[usize::from(env).min(ENVIRONMENTS.len() - 1)];
                (
                    "atlassian/default-image:4",
                    vec![format!("./scripts/deploy.sh {slug}")],
                )
            }
        };
        let trigger = if s.manual {
            "pipeline_step_trigger_manual"
        } else {
            "pipeline_step_trigger_automatic"
        };
        let mut v = json!({
            "type": "pipeline_step",
            "uuid": s.uuid,
            "name": s.kind.name(),
            "pipeline": { "type": "pipeline", "uuid": p.uuid },
            "run_number": 1,
            "trigger": { "type": trigger },
            "state": state_json,
            "image": { "name": image },
            "setup_commands": commands(&setup),
            "script_commands": commands(&script),
            "max_time": 120,
            "build_seconds_used": 0,
        });
        if let StepKind::Deploy(env) = s.kind {
            if let Some(e) = ci.environments.get(usize::from(env)) {
                v["environment"] = json!({ "type": "deployment_environment", "uuid": e.uuid });
            }
        }
        if s.outcome != Outcome::NotRun && self.now >= s.started {
            v["started_on"] = json!(format_micros(s.started));
        }
        match state {
            StepState::Completed(Outcome::NotRun) => {
                v["duration_in_seconds"] = json!(0);
            }
            StepState::Completed(_) => {
                let secs = (s.completed - s.started) / SECOND;
                v["completed_on"] = json!(format_micros(s.completed));
                v["duration_in_seconds"] = json!(secs);
                v["build_seconds_used"] = json!(secs);
            }
            _ => {}
        }
        v
    }

    /// A deployment of `/deployments/`, `None` when it does not exist yet.
    pub fn deployment(
        &self,
        ws: &Workspace,
        repo: &Repo,
        h: &History,
        ci: &Ci,
        d: &Deployment,
    ) -> Option<Value> {
        let state = ci.deployment_state(d, self.now)?;
        let p = ci.pipelines.get(d.pipeline as usize)?;
        let s = ci.steps.get(d.step as usize)?;
        let env = ci.environments.get(usize::from(d.env))?;
        let hash = &h.commits[p.commit as usize].hash;
        let results = self.results_url(repo, p.build_number);
        let step_url = format!("{results}/steps/{}", uuid_in_url(&s.uuid));
        let deployer = || self.account(self.data.member(ws, d.deployer));
        let (state_json, version, last_update) = match state {
            DeploymentState::Undeployed => (
                json!({
                    "type": "deployment_state_undeployed",
                    "name": "UNDEPLOYED",
                    "trigger_url": format!("{step_url}/trigger"),
                }),
                1,
                None,
            ),
            DeploymentState::InProgress => (
                json!({
                    "type": "deployment_state_in_progress",
                    "name": "IN_PROGRESS",
                    "started_on": format_micros(s.started),
                    "deployer": deployer(),
                    "url": step_url,
                }),
                2,
                Some(s.started),
            ),
            DeploymentState::Completed(o) => (
                json!({
                    "type": "deployment_state_completed",
                    "name": "COMPLETED",
                    "status": {
                        "type": format!("deployment_state_completed_status_{}", o.type_suffix()),
                        "name": o.name(),
                    },
                    "started_on": format_micros(s.started),
                    "completed_on": format_micros(s.completed),
                    "deployer": deployer(),
                    "url": step_url,
                }),
                3,
                Some(s.completed),
            ),
        };
        let mut v = json!({
            "type": "deployment",
            "uuid": d.uuid,
            "number": d.number,
            "version": version,
            "environment": { "type": "deployment_environment", "uuid": env.uuid },
            "step": { "type": "pipeline_step", "uuid": s.uuid },
            "release": {
                "type": "deployment_release",
                "uuid": p.release_uuid,
                "name": format!("#{}", p.build_number),
                "url": results,
                "created_on": format_micros(p.created),
                "commit": self.commit_ref(repo, hash),
                "pipeline": { "type": "pipeline", "uuid": p.uuid },
            },
            "state": state_json,
        });
        if let Some(t) = last_update {
            v["last_update_time"] = json!(format_micros(t));
        }
        Some(v)
    }
}
