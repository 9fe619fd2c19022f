//! A deterministic local simulator of the Bitbucket Cloud REST API 2.0.
//!
//! Used by tap-bitbucket's integration tests (in-process, through [`Simulator`]) and its demo
//! (the `bitbucket-simulator` binary). The dataset is a pure function of [`SimConfig`]; the
//! simulated clock (`anchor + offset`) decides what exists and what state it is in, and moving
//! it forward reveals new and updated objects.
//!
//! ```no_run
//! use bitbucket_simulator::{SimConfig, Simulator};
//!
//! let sim = Simulator::start(SimConfig::default()).unwrap();
//! let url = format!("{}/repositories/acme", sim.api_url());
//! // ... point a client at `url` with `Authorization: Bearer demo-token` ...
//! sim.set_clock_offset_hours(24); // one simulated day later
//! assert!(!sim.pullrequests("acme", "api").is_empty());
//! ```
//!
//! Modules: [`config`] (configuration), [`data`] (dataset and time model), [`prng`],
//! [`clock`], [`render`] (JSON shapes), [`paginate`] (page numbers, iterators, cursors),
//! [`bbql`] (`q` and `sort`), [`auth`], [`api`] (routing, `State`, request handling),
//! [`endpoints`] (repository-level handlers), [`history`] (commits and source trees),
//! [`activity`] (pull request activity), [`extras`] (restrictions, forks, watchers,
//! permissions, groups, issue objects), [`refs`] (branches, tags), [`pipelines`] (pipelines,
//! steps, deployments, environments: facts and time model) and [`pipelines_json`] (their JSON),
//! [`pr_children`] (pull request commits, diffstat, statuses, tasks), [`endpoints_metrics`]
//! (their handlers), [`faults`], [`oauth`], `server` (hyper plumbing).

pub mod activity;
pub mod api;
pub mod auth;
pub mod bbql;
pub mod clock;
pub mod config;
pub mod data;
pub mod endpoints;
pub mod endpoints_metrics;
pub mod error;
pub mod extras;
pub mod faults;
pub mod history;
mod names;
pub mod oauth;
pub mod paginate;
pub mod pipelines;
pub mod pipelines_json;
pub mod pr_children;
pub mod prng;
pub mod refs;
pub mod render;
mod server;
pub mod urlenc;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::sync::{Arc, PoisonError};

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use api::RecordedRequest;
pub use config::{Quirks, RepositorySpec, SimConfig, WorkspaceSpec};
pub use extras::IssueTrackers;
pub use faults::Faults;

use api::State;
use auth::Credentials;
use data::Dataset;
use render::PrExtras;
use urlenc::Query;

/// A running simulator. It serves on a background thread until dropped.
#[derive(Debug)]
pub struct Simulator {
    state: Arc<State>,
    addr: SocketAddr,
    api_url: String,
    // Declared last: dropped (server stopped) after nothing else needs it.
    _server: server::ServerHandle,
}

impl Simulator {
    /// Generates the dataset, binds `127.0.0.1:0` (a free port) and serves it on a background
    /// thread with its own tokio runtime. Returns once the socket is listening, so it can be
    /// used from plain `#[test]` functions.
    pub fn start(config: SimConfig) -> io::Result<Simulator> {
        Simulator::start_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }

    /// Like [`Simulator::start`], on a chosen address (port 0 picks a free port).
    pub fn start_on(config: SimConfig, addr: SocketAddr) -> io::Result<Simulator> {
        let listener = TcpListener::bind(addr)?;
        let mut local = listener.local_addr()?;
        if local.ip().is_unspecified() {
            local.set_ip(match local.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        let origin = format!("http://{local}");
        let api_url = format!("{origin}/2.0");
        let api_base = config
            .public_api_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| api_url.clone());
        let state = Arc::new(State::new(
            Dataset::generate(&config),
            Credentials {
                access_token: config.access_token.clone(),
                username: config.basic_username.clone(),
                password: config.basic_password.clone(),
            },
            api_base,
            origin,
            &config,
        ));
        let server = server::spawn(listener, Arc::clone(&state))?;
        Ok(Simulator {
            state,
            addr: local,
            api_url,
            _server: server,
        })
    }

    /// The API root, e.g. `http://127.0.0.1:PORT/2.0` (no trailing slash).
    pub fn api_url(&self) -> String {
        self.api_url.clone()
    }

    /// The socket address served (an unspecified bind address is reported as loopback).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Moves the simulated clock to `anchor + hours`. Later requests see the objects created
    /// and the events that happened up to then.
    pub fn set_clock_offset_hours(&self, hours: i64) {
        self.state.offset_hours.store(hours, Ordering::SeqCst);
    }

    /// The current clock offset in hours.
    pub fn clock_offset_hours(&self) -> i64 {
        self.state.offset_hours.load(Ordering::SeqCst)
    }

    /// The dataset's anchor.
    pub fn anchor(&self) -> DateTime<Utc> {
        clock::from_micros(self.state.data.anchor)
    }

    /// The simulated now (`anchor + offset`).
    pub fn now(&self) -> DateTime<Utc> {
        clock::from_micros(self.state.now())
    }

    /// Every request received so far, in arrival order (admin requests included).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.state
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Ground truth: the workspace slugs, in configuration order.
    pub fn workspace_slugs(&self) -> Vec<String> {
        self.state
            .data
            .workspaces
            .iter()
            .map(|w| w.slug.clone())
            .collect()
    }

    /// Ground truth: the slugs of the repositories visible now, in the API's default order
    /// (by `full_name`). Empty for an unknown workspace.
    pub fn repository_slugs(&self, workspace: &str) -> Vec<String> {
        let Some((_, w)) = self.state.data.workspace(workspace) else {
            return Vec::new();
        };
        self.state
            .repositories_list(w, &Query::default())
            .map(|list| list.into_iter().map(|r| r.slug.clone()).collect())
            .unwrap_or_default()
    }

    /// Ground truth: the repositories visible now, exactly as `GET /repositories/{ws}` serves
    /// them, in its default order (by `full_name`). Empty for an unknown workspace.
    pub fn repositories(&self, workspace: &str) -> Vec<Value> {
        let Some((_, w)) = self.state.data.workspace(workspace) else {
            return Vec::new();
        };
        let r = self.state.renderer();
        self.state
            .repositories_list(w, &Query::default())
            .map(|list| list.into_iter().map(|repo| r.repository(w, repo)).collect())
            .unwrap_or_default()
    }

    /// Ground truth: every pull request visible now, in all four states, exactly as the list
    /// endpoint serves them with `fields=+values.reviewers,+values.participants`, by id
    /// ascending. Empty for an unknown or not yet created repository.
    pub fn pullrequests(&self, workspace: &str, repo_slug: &str) -> Vec<Value> {
        let data = &self.state.data;
        let Some((_, w)) = data.workspace(workspace) else {
            return Vec::new();
        };
        let Some((_, repo)) = w.repo(repo_slug) else {
            return Vec::new();
        };
        let r = self.state.renderer();
        if !repo.visible_at(r.now) {
            return Vec::new();
        }
        repo.prs
            .iter()
            .filter_map(|pr| {
                let at = repo.pr_at(pr, r.now)?;
                Some(r.pullrequest(w, repo, pr, &at, PrExtras::ALL))
            })
            .collect()
    }

    /// Ground truth: the `workspace_membership` objects of `GET /workspaces/{ws}/members`, in
    /// the API's order. Empty for an unknown workspace.
    pub fn members(&self, workspace: &str) -> Vec<Value> {
        let data = &self.state.data;
        let Some((_, w)) = data.workspace(workspace) else {
            return Vec::new();
        };
        let r = self.state.renderer();
        w.members
            .iter()
            .filter_map(|&u| data.users.get(u as usize))
            .map(|u| r.membership(w, u))
            .collect()
    }

    /// Ground truth: the workspace object of `GET /workspaces/{ws}` (`Null` when unknown).
    pub fn workspace(&self, workspace: &str) -> Value {
        self.state
            .data
            .workspace(workspace)
            .map(|(_, w)| self.state.renderer().workspace(w))
            .unwrap_or(Value::Null)
    }

    /// Ground truth: the authenticated user, as `GET /user` serves it.
    pub fn current_user(&self) -> Value {
        self.state.renderer().account_full(&self.state.data.users[0])
    }

    // ----- phase 2: repository-level ground truth ---------------------------------------------

    /// Ground truth: every commit of `GET /repositories/{ws}/{repo}/commits` now, in served
    /// (graph) order. Empty for an unknown, not yet created or empty repository.
    pub fn commits(&self, workspace: &str, repo: &str) -> Vec<Value> {
        self.state.commits_list(workspace, repo).unwrap_or_default()
    }

    /// Ground truth: every item of `GET /repositories/{ws}/{repo}/pullrequests/activity` now,
    /// in served (newest-first) order.
    pub fn pullrequest_activity(&self, workspace: &str, repo: &str) -> Vec<Value> {
        self.state
            .activity_list(workspace, repo, None)
            .unwrap_or_default()
    }

    /// Ground truth: the items of `…/pullrequests/{id}/activity` now, newest first.
    pub fn pullrequest_activity_of(&self, workspace: &str, repo: &str, id: u32) -> Vec<Value> {
        self.state
            .activity_list(workspace, repo, Some(id))
            .unwrap_or_default()
    }

    /// Ground truth: the main branch name (`None` for an empty, unknown or not yet created
    /// repository).
    pub fn main_branch(&self, workspace: &str, repo: &str) -> Option<String> {
        self.state.main_branch_of(workspace, repo)
    }

    /// Ground truth: every entry (files and directories, recursively, breadth-first) of the
    /// main branch's tree now, as `GET …/src/{main}/?max_depth=…` lists them (each entry's
    /// `commit.hash` is the main branch's head).
    pub fn src_tree(&self, workspace: &str, repo: &str) -> Vec<Value> {
        self.state.src_tree_list(workspace, repo).unwrap_or_default()
    }

    /// Ground truth: the branch restrictions served now, by id (also where the endpoint
    /// answers 403 to the demo user).
    pub fn branch_restrictions(&self, workspace: &str, repo: &str) -> Vec<Value> {
        self.state
            .branch_restrictions_list(workspace, repo, &Query::default())
            .unwrap_or_default()
    }

    /// Ground truth: the forks served now (default order: `created_on`).
    pub fn forks(&self, workspace: &str, repo: &str) -> Vec<Value> {
        self.state
            .forks_list(workspace, repo, &Query::default())
            .unwrap_or_default()
    }

    /// Ground truth: the watchers (accounts) served now.
    pub fn watchers(&self, workspace: &str, repo: &str) -> Vec<Value> {
        self.state.watchers_list(workspace, repo).unwrap_or_default()
    }

    /// Ground truth: the `repository_permission` objects of
    /// `GET /workspaces/{ws}/permissions/repositories/{repo}` (also where it answers 403).
    pub fn repository_permissions(&self, workspace: &str, repo: &str) -> Vec<Value> {
        self.state
            .repository_permissions_list(workspace, repo)
            .unwrap_or_default()
    }

    /// Ground truth: the `repository_group_permission` objects of
    /// `GET /repositories/{ws}/{repo}/permissions-config/groups` (also where it answers 403).
    pub fn group_permissions(&self, workspace: &str, repo: &str) -> Vec<Value> {
        self.state
            .group_permissions_list(workspace, repo)
            .unwrap_or_default()
    }

    /// Ground truth: `GET /users/{account}` by `account_id` or `{uuid}` (`None` when unknown).
    pub fn user(&self, account: &str) -> Option<Value> {
        self.state.user_by_account(account)
    }

    /// A few valid account ids: the demo user's, then three other users'.
    pub fn user_account_ids(&self) -> Vec<String> {
        let data = &self.state.data;
        let mut ids = vec![data.users[0].account_id.clone()];
        let others = data
            .workspaces
            .first()
            .map(|w| w.members.clone())
            .unwrap_or_default();
        ids.extend(
            others
                .into_iter()
                .filter(|&u| u != 0)
                .filter_map(|u| data.users.get(u as usize))
                .take(3)
                .map(|u| u.account_id.clone()),
        );
        ids
    }

    /// Ground truth: the `email` objects of `GET /user/emails`.
    pub fn emails(&self) -> Vec<Value> {
        self.state.emails_list()
    }

    /// Ground truth: the issue-tracker objects (`kind`: `components`, `versions` or
    /// `milestones`) as served when issue trackers are enabled; empty for a repository
    /// without an issue tracker or an unknown kind.
    pub fn issue_objects(&self, workspace: &str, repo: &str, kind: &str) -> Vec<Value> {
        extras::IssueKind::parse(kind)
            .and_then(|k| self.state.issue_objects_list(workspace, repo, k).ok())
            .unwrap_or_default()
    }

    /// Ground truth: the public repositories `GET /repositories` serves when enabled, by
    /// `created_on`.
    pub fn public_repositories(&self) -> Vec<Value> {
        self.state.public_repositories_list(None).unwrap_or_default()
    }

    /// Switches the issue-tracker endpoints between 410 (removed, the default) and served.
    pub fn set_issue_trackers(&self, mode: IssueTrackers) {
        *lock(&self.state.issue_trackers) = mode;
    }

    /// Serves `GET /repositories` (true) or answers 410 CHANGE-2770 (false, the default).
    pub fn set_public_repositories_enabled(&self, enabled: bool) {
        self.state.public_repositories.store(enabled, Ordering::SeqCst);
    }

    /// Every `/2.0` request whose path starts with `path_prefix` at a segment boundary (e.g.
    /// `/2.0/repositories/acme/infra` covers that repository and everything under it) answers
    /// `status` with a Bitbucket JSON error body. The longest matching prefix wins; setting a
    /// prefix again replaces its status. Applied after faults, before authentication.
    pub fn set_status_override(&self, path_prefix: &str, status: u16) {
        let mut list = lock(&self.state.status_overrides);
        list.retain(|(p, _)| p != path_prefix);
        list.push((path_prefix.to_string(), status));
    }

    /// Removes every status override.
    pub fn clear_status_overrides(&self) {
        lock(&self.state.status_overrides).clear();
    }

    // ----- engineering metrics: refs, pipelines, deployments, pull request children -------------

    /// Ground truth: the branches of `GET …/refs/branches` now, by name.
    pub fn branches(&self, workspace: &str, repo: &str) -> Vec<Value> {
        self.state.branches_list(workspace, repo).unwrap_or_default()
    }

    /// Ground truth: the tags of `GET …/refs/tags` now, by name.
    pub fn tags(&self, workspace: &str, repo: &str) -> Vec<Value> {
        self.state.tags_list(workspace, repo).unwrap_or_default()
    }

    /// Ground truth: the environments of `GET …/environments/` now, by rank (empty without
    /// Pipelines).
    pub fn environments(&self, workspace: &str, repo: &str) -> Vec<Value> {
        self.state.environments_list(workspace, repo).unwrap_or_default()
    }

    /// Ground truth: every pipeline now, newest first (by `created_on`; the endpoint's default
    /// order is the reverse).
    pub fn pipelines(&self, workspace: &str, repo: &str) -> Vec<Value> {
        self.state.pipelines_list(workspace, repo).unwrap_or_default()
    }

    /// Ground truth: `GET …/pipelines/{uuid}` now (`None` when unknown or not created yet).
    pub fn pipeline(&self, workspace: &str, repo: &str, uuid: &str) -> Option<Value> {
        self.state.pipeline_one(workspace, repo, uuid).ok()
    }

    /// Ground truth: the steps of a pipeline now, in order.
    pub fn pipeline_steps(&self, workspace: &str, repo: &str, pipeline_uuid: &str) -> Vec<Value> {
        self.state
            .pipeline_steps_list(workspace, repo, pipeline_uuid)
            .unwrap_or_default()
    }

    /// Ground truth: every deployment now, in served order (environment, then number
    /// descending: not time order).
    pub fn deployments(&self, workspace: &str, repo: &str) -> Vec<Value> {
        self.state.deployments_list(workspace, repo).unwrap_or_default()
    }

    /// Ground truth: the commits of `GET …/pullrequests/{id}/commits` now, newest first.
    pub fn pullrequest_commits(&self, workspace: &str, repo: &str, id: u32) -> Vec<Value> {
        self.state
            .pr_commits_list(workspace, repo, id)
            .unwrap_or_default()
    }

    /// Ground truth: the diffstat entries a pull request's diffstat serves (by path).
    pub fn pullrequest_diffstat(&self, workspace: &str, repo: &str, id: u32) -> Vec<Value> {
        self.state
            .pr_diffstat_list(workspace, repo, id)
            .unwrap_or_default()
    }

    /// Ground truth: the build statuses of `GET …/pullrequests/{id}/statuses` now, newest first.
    pub fn pullrequest_statuses(&self, workspace: &str, repo: &str, id: u32) -> Vec<Value> {
        self.state
            .pr_statuses_list(workspace, repo, id)
            .unwrap_or_default()
    }

    /// Ground truth: the tasks of `GET …/pullrequests/{id}/tasks` now, by id.
    pub fn pullrequest_tasks(&self, workspace: &str, repo: &str, id: u32) -> Vec<Value> {
        self.state.pr_tasks_list(workspace, repo, id).unwrap_or_default()
    }

    /// The merged pull request whose source branch was deleted, so that its commit list is
    /// empty (one per repository with history: the one merged last before the anchor).
    /// `None` before it merged, and for unknown or empty repositories.
    pub fn pullrequest_with_deleted_source_branch(&self, workspace: &str, repo: &str) -> Option<u32> {
        self.state.deleted_branch_pr(workspace, repo)
    }

    /// Whether a repository has Pipelines (and Deployments) enabled (false when unknown).
    pub fn pipelines_enabled(&self, workspace: &str, repo: &str) -> bool {
        self.state
            .data
            .workspace(workspace)
            .and_then(|(_, w)| w.repo(repo))
            .is_some_and(|(_, r)| r.pipelines)
    }

    /// Replaces every quirk of the Pipelines and Deployments endpoints.
    pub fn set_quirks(&self, quirks: Quirks) {
        *lock(&self.state.quirks) = quirks;
    }

    /// `GET …/pipelines/` `next` links drop `sort` (true, the default) or keep it.
    pub fn set_pipelines_next_drops_sort(&self, on: bool) {
        lock(&self.state.quirks).pipelines_next_drops_sort = on;
    }

    /// `GET …/deployments/` `next` links point at `page+2` (true, the default) or the next page.
    pub fn set_deployments_next_wrong_page(&self, on: bool) {
        lock(&self.state.quirks).deployments_next_wrong_page = on;
    }

    /// The largest `pagelen` `/pipelines/` and `/deployments/` accept (`None`: 100, the default).
    pub fn set_ci_max_pagelen(&self, max: Option<usize>) {
        lock(&self.state.quirks).ci_max_pagelen = max;
    }

    // ----- phase 2: faults and OAuth ------------------------------------------------------------

    /// Replaces the faults and restarts their counters.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.state.faults) = faults::FaultState::new(faults);
    }

    /// The highest number of `/2.0` requests served at once since start or the last reset.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// Restarts [`Simulator::max_in_flight`] from the number in flight now.
    pub fn reset_max_in_flight(&self) {
        let now = self.state.in_flight.load(Ordering::SeqCst);
        self.state.max_in_flight.store(now, Ordering::SeqCst);
    }

    /// The OAuth token endpoint, `http://127.0.0.1:PORT/site/oauth2/access_token`.
    pub fn oauth_token_url(&self) -> String {
        format!("http://{}{}", self.addr, oauth::TOKEN_PATH)
    }

    /// How many OAuth grants were issued (successful token requests).
    pub fn token_requests(&self) -> usize {
        self.state.oauth.grants()
    }

    /// The lifetime (wall-clock seconds) of access tokens issued from now on.
    pub fn set_token_lifetime_secs(&self, secs: u64) {
        self.state.oauth.set_lifetime_secs(secs);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
