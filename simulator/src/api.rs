//! Routing and request handling, independent of the HTTP library.
//!
//! [`State::handle`] takes an [`ApiRequest`] (method, raw path, raw query, `Host` and
//! `Authorization` headers) and returns an [`ApiResponse`]. The order of processing is:
//!
//! 1. record the request (after answering, with its status);
//! 2. `/_simulator/…` admin endpoints and the OAuth token endpoint (no faults, no
//!    authentication);
//! 3. for `/2.0`: fault injection ([`crate::faults`]: 429, 5xx), then status overrides;
//! 4. authentication of every `/2.0` request ([`crate::auth`], and OAuth-issued tokens), and
//!    the refusals of what an access token may not read ([`crate::auth::access_token_refusal`]);
//! 5. routing ([`Route::parse`]) and the endpoint handler ([`crate::endpoints`] for the
//!    repository-level endpoints);
//! 6. truncation of 200 bodies when a fault says so. Latency is added by the server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{json, Value};

use crate::activity::ActivityIndex;
use crate::auth::{AuthOutcome, Credentials};
use crate::bbql::{Field, Filter, Sort, SortKey, Subject};
use crate::clock::{format_micros, Micros};
use crate::config::{Quirks, SimConfig};
use crate::data::{Dataset, PrIndex, PrState, Repo, Workspace};
use crate::endpoints::CommitOrder;
use crate::error::ApiError;
use crate::extras::{IssueKind, IssueTrackers};
use crate::faults::{FaultState, Faults};
use crate::history::History;
use crate::oauth::{OAuth, TokenStatus, TOKEN_PATH};
use crate::paginate::{envelope, PageLinks, PageRequest, MAX_PAGELEN, MAX_PAGELEN_PULLREQUESTS};
use crate::pipelines::Ci;
use crate::refs::RefFacts;
use crate::render::{PrExtras, Renderer};
use crate::urlenc::{decode, Query};

/// One request as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Path and query exactly as received (still percent-encoded), e.g.
    /// `/2.0/repositories/acme/api/pullrequests?state=OPEN&page=2`.
    pub path_and_query: String,
    /// Whether an `Authorization` header was present (its value is never recorded).
    pub has_authorization: bool,
    /// The status answered.
    pub status: u16,
    /// The `Host` header as received (empty when absent), e.g. `127.0.0.1:4000` or
    /// `localhost:4000`.
    pub host: String,
}

impl RecordedRequest {
    /// The path part, still percent-encoded.
    pub fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query.as_str(), |(p, _)| p)
    }

    /// The decoded query parameters, in order (`+` decodes to a space, `%2B` to `+`).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.path_and_query
            .split_once('?')
            .map(|(_, q)| Query::parse(q).pairs)
            .unwrap_or_default()
    }

    /// The first decoded value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// A request, reduced to what the simulator looks at.
#[derive(Debug, Clone, Copy)]
pub struct ApiRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Raw (percent-encoded) path.
    pub path: &'a str,
    /// Raw query string, without `?` (empty when absent).
    pub query: &'a str,
    /// `Host` header.
    pub host: Option<&'a str>,
    /// Raw `Authorization` header.
    pub authorization: Option<&'a [u8]>,
    /// The request body (only the OAuth token endpoint reads it).
    pub body: &'a [u8],
}

/// A response, before it becomes HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// A JSON response.
    pub fn json(status: u16, value: &Value) -> ApiResponse {
        ApiResponse {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    /// An error response with Bitbucket's error body.
    pub fn error(e: &ApiError) -> ApiResponse {
        ApiResponse::json(e.status, &e.body())
    }
}

/// The endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /2.0/user`
    User,
    /// `GET /2.0/user/workspaces`
    UserWorkspaces,
    /// `GET /2.0/workspaces/{ws}`
    Workspace(String),
    /// `GET /2.0/workspaces/{ws}/members`
    Members(String),
    /// `GET /2.0/repositories/{ws}`
    Repositories(String),
    /// `GET /2.0/repositories/{ws}/{repo}`
    Repository(String, String),
    /// `GET /2.0/repositories/{ws}/{repo}/pullrequests`
    PullRequests(String, String),
    /// `GET /2.0/repositories` (removed by CHANGE-2770 unless enabled)
    AllRepositories,
    /// `GET /2.0/repositories/{ws}/{repo}/commits`
    Commits(String, String),
    /// `GET /2.0/repositories/{ws}/{repo}/pullrequests/activity` and
    /// `…/pullrequests/{id}/activity`
    Activity(String, String, Option<u32>),
    /// `GET /2.0/repositories/{ws}/{repo}/src` (redirects to the main branch head)
    SrcRedirect(String, String),
    /// `GET /2.0/repositories/{ws}/{repo}/src/{ref}/{path}` (path without leading or trailing
    /// slash, empty for the root)
    Src(String, String, String, String),
    /// `GET /2.0/repositories/{ws}/{repo}/branch-restrictions`
    BranchRestrictions(String, String),
    /// `GET /2.0/repositories/{ws}/{repo}/forks`
    Forks(String, String),
    /// `GET /2.0/repositories/{ws}/{repo}/watchers`
    Watchers(String, String),
    /// `GET /2.0/workspaces/{ws}/permissions/repositories/{repo}`
    RepositoryPermissions(String, String),
    /// `GET /2.0/repositories/{ws}/{repo}/permissions-config/groups`
    GroupPermissions(String, String),
    /// `GET /2.0/repositories/{ws}/{repo}/permissions-config/groups/{group}`
    GroupPermission(String, String, String),
    /// `GET /2.0/users/{account}`
    UserByAccount(String),
    /// `GET /2.0/user/emails`
    UserEmails,
    /// `GET /2.0/repositories/{ws}/{repo}/components|versions|milestones`
    IssueObjects(String, String, IssueKind),
    /// `GET /2.0/repositories/{ws}/{repo}/refs/branches`
    Branches(String, String),
    /// `GET /2.0/repositories/{ws}/{repo}/refs/tags`
    Tags(String, String),
    /// `GET /2.0/repositories/{ws}/{repo}/environments/`
    Environments(String, String),
    /// `GET /2.0/repositories/{ws}/{repo}/pipelines/`
    Pipelines(String, String),
    /// `GET /2.0/repositories/{ws}/{repo}/pipelines/{uuid}`
    Pipeline(String, String, String),
    /// `GET /2.0/repositories/{ws}/{repo}/pipelines/{uuid}/steps/`
    PipelineSteps(String, String, String),
    /// `GET /2.0/repositories/{ws}/{repo}/deployments/`
    Deployments(String, String),
    /// `GET /2.0/repositories/{ws}/{repo}/pullrequests/{id}/commits|diffstat|statuses|tasks`
    PrChild(String, String, u32, PrChild),
    /// `GET /2.0/repositories/{ws}/{repo}/diffstat/{spec}` (the spec may contain slashes)
    Diffstat(String, String, String),
}

/// A child collection of a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrChild {
    /// `/commits`.
    Commits,
    /// `/diffstat` (a redirect).
    Diffstat,
    /// `/statuses`.
    Statuses,
    /// `/tasks`.
    Tasks,
}

impl PrChild {
    fn parse(s: &str) -> Option<PrChild> {
        match s {
            "commits" => Some(PrChild::Commits),
            "diffstat" => Some(PrChild::Diffstat),
            "statuses" => Some(PrChild::Statuses),
            "tasks" => Some(PrChild::Tasks),
            _ => None,
        }
    }
}

impl Route {
    /// Parses the part of a raw path after `/2.0`; `None` for an unknown endpoint.
    /// Segments are percent-decoded (`%7B…%7D` uuids work); one trailing slash is ignored.
    pub fn parse(rest: &str) -> Option<Route> {
        let rest = rest.strip_prefix('/')?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let segs: Vec<String> = rest.split('/').map(|s| decode(s, false)).collect();
        if segs.iter().any(String::is_empty) {
            return None;
        }
        let s: Vec<&str> = segs.iter().map(String::as_str).collect();
        Some(match s.as_slice() {
            ["user"] => Route::User,
            ["user", "workspaces"] => Route::UserWorkspaces,
            ["workspaces", ws] => Route::Workspace(ws.to_string()),
            ["workspaces", ws, "members"] => Route::Members(ws.to_string()),
            ["repositories", ws] => Route::Repositories(ws.to_string()),
            ["repositories", ws, repo] => Route::Repository(ws.to_string(), repo.to_string()),
            ["repositories", ws, repo, "pullrequests"] => {
                Route::PullRequests(ws.to_string(), repo.to_string())
            }
            ["repositories"] => Route::AllRepositories,
            ["repositories", ws, repo, "commits"] => Route::Commits(ws.to_string(), repo.to_string()),
            ["repositories", ws, repo, "pullrequests", "activity"] => {
                Route::Activity(ws.to_string(), repo.to_string(), None)
            }
            ["repositories", ws, repo, "pullrequests", id, "activity"] => {
                Route::Activity(ws.to_string(), repo.to_string(), Some(id.parse().ok()?))
            }
            ["repositories", ws, repo, "src"] => Route::SrcRedirect(ws.to_string(), repo.to_string()),
            ["repositories", ws, repo, "src", rf, path @ ..] => {
                Route::Src(ws.to_string(), repo.to_string(), rf.to_string(), path.join("/"))
            }
            ["repositories", ws, repo, "branch-restrictions"] => {
                Route::BranchRestrictions(ws.to_string(), repo.to_string())
            }
            ["repositories", ws, repo, "forks"] => Route::Forks(ws.to_string(), repo.to_string()),
            ["repositories", ws, repo, "watchers"] => Route::Watchers(ws.to_string(), repo.to_string()),
            ["workspaces", ws, "permissions", "repositories", repo] => {
                Route::RepositoryPermissions(ws.to_string(), repo.to_string())
            }
            ["repositories", ws, repo, "permissions-config", "groups"] => {
                Route::GroupPermissions(ws.to_string(), repo.to_string())
            }
            ["repositories", ws, repo, "permissions-config", "groups", group] => {
                Route::GroupPermission(ws.to_string(), repo.to_string(), group.to_string())
            }
            ["repositories", ws, repo, "refs", "branches"] => {
                Route::Branches(ws.to_string(), repo.to_string())
            }
            ["repositories", ws, repo, "refs", "tags"] => Route::Tags(ws.to_string(), repo.to_string()),
            ["repositories", ws, repo, "environments"] => {
                Route::Environments(ws.to_string(), repo.to_string())
            }
            ["repositories", ws, repo, "pipelines"] => Route::Pipelines(ws.to_string(), repo.to_string()),
            ["repositories", ws, repo, "pipelines", uuid] => {
                Route::Pipeline(ws.to_string(), repo.to_string(), uuid.to_string())
            }
            ["repositories", ws, repo, "pipelines", uuid, "steps"] => {
                Route::PipelineSteps(ws.to_string(), repo.to_string(), uuid.to_string())
            }
            ["repositories", ws, repo, "deployments"] => Route::Deployments(ws.to_string(), repo.to_string()),
            ["repositories", ws, repo, "pullrequests", id, child] => Route::PrChild(
                ws.to_string(),
                repo.to_string(),
                id.parse().ok()?,
                PrChild::parse(child)?,
            ),
            ["repositories", ws, repo, "diffstat", spec @ ..] if !spec.is_empty() => {
                Route::Diffstat(ws.to_string(), repo.to_string(), spec.join("/"))
            }
            ["users", account] => Route::UserByAccount(account.to_string()),
            ["user", "emails"] => Route::UserEmails,
            ["repositories", ws, repo, kind] => {
                Route::IssueObjects(ws.to_string(), repo.to_string(), IssueKind::parse(kind)?)
            }
            _ => return None,
        })
    }
}

/// The running simulator's shared state.
#[derive(Debug)]
pub struct State {
    /// The dataset.
    pub data: Dataset,
    /// Accepted credentials.
    pub creds: Credentials,
    /// Base of API links inside objects, e.g. `http://127.0.0.1:4000/2.0`.
    pub api_base: String,
    /// `http://127.0.0.1:4000`: used for pagination links when `Host` is missing or odd.
    pub origin: String,
    /// Clock offset in hours.
    pub offset_hours: AtomicI64,
    /// Every request received.
    pub requests: Mutex<Vec<RecordedRequest>>,
    /// Pull request indexes per (workspace, repository), valid for the time they carry.
    pr_cache: Mutex<HashMap<(usize, usize), Arc<PrIndex>>>,
    /// Print a line per request to stderr.
    pub log_requests: bool,
    /// Generated histories per (workspace, repository).
    pub(crate) history_cache: Mutex<HashMap<(usize, usize), Arc<History>>>,
    /// Commit orders per (workspace, repository), valid for the time they carry.
    pub(crate) commit_cache: Mutex<HashMap<(usize, usize), Arc<CommitOrder>>>,
    /// Activity indexes per (workspace, repository), valid for the time they carry.
    pub(crate) activity_cache: Mutex<HashMap<(usize, usize), Arc<ActivityIndex>>>,
    /// Refs (branches, tags) per (workspace, repository).
    pub(crate) refs_cache: Mutex<HashMap<(usize, usize), Arc<RefFacts>>>,
    /// Pipelines, deployments and environments per (workspace, repository).
    pub(crate) ci_cache: Mutex<HashMap<(usize, usize), Arc<Ci>>>,
    /// Quirks of the Pipelines and Deployments endpoints.
    pub(crate) quirks: Mutex<Quirks>,
    /// Issue-tracker mode.
    pub(crate) issue_trackers: Mutex<IssueTrackers>,
    /// Whether `GET /repositories` is served (else 410 CHANGE-2770).
    pub(crate) public_repositories: AtomicBool,
    /// `(path prefix, status)` overrides.
    pub(crate) status_overrides: Mutex<Vec<(String, u16)>>,
    /// Fault injection.
    pub(crate) faults: Mutex<FaultState>,
    /// `/2.0` requests being served now, and the most at once.
    pub(crate) in_flight: AtomicUsize,
    pub(crate) max_in_flight: AtomicUsize,
    /// The OAuth consumer and issued tokens.
    pub(crate) oauth: OAuth,
}

impl State {
    /// Builds the state; `config` supplies the clock offset, logging, switches, faults and the
    /// OAuth consumer.
    pub fn new(
        data: Dataset,
        creds: Credentials,
        api_base: String,
        origin: String,
        config: &SimConfig,
    ) -> State {
        State {
            data,
            creds,
            api_base,
            origin,
            offset_hours: AtomicI64::new(config.clock_offset_hours),
            requests: Mutex::new(Vec::new()),
            pr_cache: Mutex::new(HashMap::new()),
            log_requests: config.log_requests,
            history_cache: Mutex::new(HashMap::new()),
            commit_cache: Mutex::new(HashMap::new()),
            activity_cache: Mutex::new(HashMap::new()),
            refs_cache: Mutex::new(HashMap::new()),
            ci_cache: Mutex::new(HashMap::new()),
            quirks: Mutex::new(config.quirks),
            issue_trackers: Mutex::new(config.issue_trackers),
            public_repositories: AtomicBool::new(config.public_repositories),
            status_overrides: Mutex::new(Vec::new()),
            faults: Mutex::new(FaultState::new(config.faults.clone())),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            oauth: OAuth::new(
                &config.oauth_client_id,
                &config.oauth_client_secret,
                &config.oauth_refresh_token,
                config.token_lifetime_secs,
                config.rotate_refresh_tokens,
            ),
        }
    }

    /// Marks a `/2.0` request as in flight until the guard is dropped.
    pub fn enter(&self) -> InFlight<'_> {
        let n = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(n, Ordering::SeqCst);
        InFlight(self)
    }

    /// The configured latency of `/2.0` responses, in milliseconds.
    pub fn latency_ms(&self) -> u64 {
        self.faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .faults
            .latency_ms
    }

    /// The simulated time.
    pub fn now(&self) -> Micros {
        self.data.now(self.offset_hours.load(Ordering::SeqCst))
    }

    /// A renderer at the current simulated time.
    pub fn renderer(&self) -> Renderer<'_> {
        Renderer {
            data: &self.data,
            api: &self.api_base,
            now: self.now(),
        }
    }

    /// The pull request index of a repository at `now` (cached).
    pub fn pr_index(&self, wi: usize, ri: usize, repo: &Repo, now: Micros) -> Arc<PrIndex> {
        let mut cache = self.pr_cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(idx) = cache.get(&(wi, ri)) {
            if idx.at == now {
                return Arc::clone(idx);
            }
        }
        let idx = Arc::new(repo.pr_index(now));
        cache.insert((wi, ri), Arc::clone(&idx));
        idx
    }

    /// Handles one request and records it.
    pub fn handle(&self, req: &ApiRequest<'_>) -> ApiResponse {
        let api = is_api_path(req.path);
        let injected = if api {
            self.faults
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .before()
        } else {
            None
        };
        let mut response = match injected {
            Some(r) => r,
            None => match self.status_override(req.path) {
                Some(r) if api => r,
                _ => self.dispatch(req),
            },
        };
        if api {
            self.faults
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .after(&mut response);
        }
        let target = if req.query.is_empty() {
            req.path.to_string()
        } else {
            format!("{}?{}", req.path, req.query)
        };
        if self.log_requests {
            eprintln!("{} {} -> {}", req.method, target, response.status);
        }
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(RecordedRequest {
                method: req.method.to_string(),
                path_and_query: target,
                has_authorization: req.authorization.is_some(),
                status: response.status,
                host: req.host.unwrap_or_default().to_string(),
            });
        response
    }

    fn status_override(&self, path: &str) -> Option<ApiResponse> {
        let overrides = self
            .status_overrides
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (prefix, status) = overrides
            .iter()
            .filter(|(p, _)| prefix_matches(p, path))
            .max_by_key(|(p, _)| p.len())?;
        let message = match status {
            400 => "Bad request",
            401 => "Access denied",
            403 => "You do not have access to this resource.",
            404 => "Resource not found",
            409 => "Conflict",
            410 => "This resource is no longer available.",
            429 => crate::faults::RATE_LIMIT_BODY,
            500 => "Internal Server Error",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Gateway Timeout",
            _ => "Simulated error",
        };
        Some(ApiResponse::error(
            &ApiError::new(*status, message)
                .with_detail(format!("Status override for {prefix} (simulator).")),
        ))
    }

    fn dispatch(&self, req: &ApiRequest<'_>) -> ApiResponse {
        if req.path == "/_simulator/clock" {
            return self.admin_clock(req);
        }
        if req.path == TOKEN_PATH {
            return self.oauth.handle(req);
        }
        let Some(rest) = req.path.strip_prefix("/2.0") else {
            return ApiResponse::error(&not_found_path(req.path));
        };
        if !rest.is_empty() && !rest.starts_with('/') {
            return ApiResponse::error(&not_found_path(req.path));
        }
        match self.creds.check(req.authorization) {
            AuthOutcome::Ok => {}
            AuthOutcome::Missing | AuthOutcome::Invalid => {
                match bearer_token(req.authorization).map(|t| self.oauth.check(t)) {
                    Some(TokenStatus::Valid) => {}
                    Some(TokenStatus::Expired) => {
                        return ApiResponse::error(&ApiError::new(
                            401,
                            "Access token expired. Use your refresh token to obtain a new access token.",
                        ));
                    }
                    Some(TokenStatus::Unknown) | None => {
                        return ApiResponse::error(&ApiError::new(401, "Access denied").with_detail(
                            "Authentication required: send a valid Bearer token or Basic credentials.",
                        ));
                    }
                }
            }
        }
        let Some(route) = Route::parse(rest) else {
            return ApiResponse::error(&not_found_path(req.path));
        };
        if self.creds.is_access_token(req.authorization) {
            if let Some(refusal) = crate::auth::access_token_refusal(&route) {
                return ApiResponse::error(&refusal);
            }
        }
        if req.method != "GET" {
            return ApiResponse::error(
                &ApiError::new(405, "Method not allowed")
                    .with_detail(format!("{} is not supported on {}", req.method, req.path)),
            );
        }
        let query = Query::parse(req.query);
        let links = PageLinks {
            base: format!("{}{}", self.link_origin(req.host), req.path),
            query: query.clone(),
        };
        let result = match &route {
            Route::SrcRedirect(ws, slug) => {
                return self
                    .src_redirect(ws, slug, req)
                    .unwrap_or_else(|e| ApiResponse::error(&e))
            }
            Route::Src(ws, slug, rf, path) => {
                return self
                    .src(ws, slug, rf, path, &query, &links)
                    .unwrap_or_else(|e| ApiResponse::error(&e))
            }
            Route::PrChild(ws, slug, id, PrChild::Diffstat) => {
                return self
                    .pr_diffstat_redirect(ws, slug, *id, req)
                    .unwrap_or_else(|e| ApiResponse::error(&e))
            }
            Route::PrChild(ws, slug, id, PrChild::Commits) => {
                self.pr_commits_page(ws, slug, *id, &query, &links)
            }
            Route::PrChild(ws, slug, id, PrChild::Statuses) => {
                self.default_page(self.pr_statuses_list(ws, slug, *id), &query, &links)
            }
            Route::PrChild(ws, slug, id, PrChild::Tasks) => {
                self.default_page(self.pr_tasks_list(ws, slug, *id), &query, &links)
            }
            Route::Diffstat(ws, slug, spec) => self.diffstat_page(ws, slug, spec, &query, &links),
            Route::Branches(ws, slug) => self.branches_page(ws, slug, &query, &links),
            Route::Tags(ws, slug) => self.tags_page(ws, slug, &query, &links),
            Route::Environments(ws, slug) => {
                self.default_page(self.environments_list(ws, slug), &query, &links)
            }
            Route::Pipelines(ws, slug) => self.pipelines_page(ws, slug, &query, &links),
            Route::Pipeline(ws, slug, uuid) => self.pipeline_one(ws, slug, uuid),
            Route::PipelineSteps(ws, slug, uuid) => self.steps_page(ws, slug, uuid, &query, &links),
            Route::Deployments(ws, slug) => self.deployments_page(ws, slug, &query, &links),
            Route::AllRepositories => self.all_repositories_page(&query, &links),
            Route::Commits(ws, slug) => self.commits_page(ws, slug, &query, &links),
            Route::Activity(ws, slug, pr) => self.activity_page(ws, slug, *pr, &query, &links),
            Route::BranchRestrictions(ws, slug) => self.branch_restrictions_page(ws, slug, &query, &links),
            Route::Forks(ws, slug) => self.list_page(self.forks_list(ws, slug, &query), &query, &links),
            Route::Watchers(ws, slug) => self.list_page(self.watchers_list(ws, slug), &query, &links),
            Route::RepositoryPermissions(ws, slug) => {
                self.admin_list_page(ws, slug, State::repository_permissions_list, &query, &links)
            }
            Route::GroupPermissions(ws, slug) => {
                self.admin_list_page(ws, slug, State::group_permissions_list, &query, &links)
            }
            Route::GroupPermission(ws, slug, group) => self.group_permission(ws, slug, group),
            Route::UserByAccount(account) => self.user_page(account),
            Route::UserEmails => self.user_emails_page(&query, &links),
            Route::IssueObjects(ws, slug, kind) => self.issue_objects_page(ws, slug, *kind, &query, &links),
            Route::User => Ok(self.renderer().account_full(&self.data.users[0])),
            Route::UserWorkspaces => self.user_workspaces(&query, &links),
            Route::Workspace(ws) => self.workspace(ws).map(|(_, w)| self.renderer().workspace(w)),
            Route::Members(ws) => self.members(ws, &query, &links),
            Route::Repositories(ws) => self.repositories_page(ws, &query, &links),
            Route::Repository(ws, slug) => self.repository(ws, slug),
            Route::PullRequests(ws, slug) => self.pullrequests_page(ws, slug, &query, &links),
        };
        match result {
            Ok(v) => ApiResponse::json(200, &v),
            Err(e) => ApiResponse::error(&e),
        }
    }

    /// `http://host` for pagination links: the request's `Host` when it looks like a host,
    /// else the server's own origin; `http://localhost:PORT` when the cross-origin fault is on.
    fn link_origin(&self, host: Option<&str>) -> String {
        self.origin_unless(|f| f.cross_origin_next, host)
    }

    /// `http://host` for a redirect: [`Self::same_origin`], or `http://localhost:PORT` when the
    /// cross-origin redirect fault is on.
    pub(crate) fn redirect_origin(&self, host: Option<&str>) -> String {
        self.origin_unless(|f| f.cross_origin_redirect, host)
    }

    /// [`Self::same_origin`], or `http://localhost:PORT` (another origin for a client, the
    /// same server in fact) when the fault `cross` picks is on.
    fn origin_unless(&self, cross: impl Fn(&Faults) -> bool, host: Option<&str>) -> String {
        let faults = &self.faults.lock().unwrap_or_else(PoisonError::into_inner).faults;
        if cross(faults) {
            let port = self.origin.rsplit(':').next().unwrap_or("80");
            return format!("http://localhost:{port}");
        }
        self.same_origin(host)
    }

    /// `http://host` from the request's `Host` when it looks like a host, else the server's own
    /// origin.
    pub(crate) fn same_origin(&self, host: Option<&str>) -> String {
        match host {
            Some(h)
                if !h.is_empty()
                    && h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-:[]_".contains(c)) =>
            {
                format!("http://{h}")
            }
            _ => self.origin.clone(),
        }
    }

    fn admin_clock(&self, req: &ApiRequest<'_>) -> ApiResponse {
        match req.method {
            "GET" => {}
            "POST" | "PUT" => {
                let query = Query::parse(req.query);
                match query.get("offset_hours").map(|v| v.trim().parse::<i64>()) {
                    Some(Ok(h)) => self.offset_hours.store(h, Ordering::SeqCst),
                    _ => {
                        return ApiResponse::error(&ApiError::bad_request(
                            "offset_hours must be an integer, e.g. POST /_simulator/clock?offset_hours=24",
                        ))
                    }
                }
            }
            _ => return ApiResponse::error(&ApiError::new(405, "Method not allowed")),
        }
        ApiResponse::json(200, &self.clock_json())
    }

    /// `{"now", "offset_hours", "anchor"}`.
    pub fn clock_json(&self) -> Value {
        json!({
            "now": format_micros(self.now()),
            "offset_hours": self.offset_hours.load(Ordering::SeqCst),
            "anchor": format_micros(self.data.anchor),
        })
    }

    fn workspace(&self, key: &str) -> Result<(usize, &Workspace), ApiError> {
        self.data
            .workspace(key)
            .ok_or_else(|| ApiError::not_found(format!("No workspace with identifier '{key}'.")))
    }

    pub(crate) fn visible_repo(
        &self,
        ws: &str,
        slug: &str,
    ) -> Result<(usize, &Workspace, usize, &Repo), ApiError> {
        let now = self.now();
        let not_found = || ApiError::not_found(format!("Repository {ws}/{slug} not found"));
        let (wi, w) = self.data.workspace(ws).ok_or_else(not_found)?;
        let (ri, r) = w.repo(slug).ok_or_else(not_found)?;
        if !r.visible_at(now) {
            return Err(not_found());
        }
        Ok((wi, w, ri, r))
    }

    fn user_workspaces(&self, query: &Query, links: &PageLinks) -> Result<Value, ApiError> {
        let page = PageRequest::from_query(query, MAX_PAGELEN)?;
        let admin = match query.get("administrator") {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => return Err(ApiError::bad_request("Invalid administrator value")),
        };
        let mut list: Vec<&Workspace> = self
            .data
            .workspaces
            .iter()
            .filter(|w| admin.is_none_or(|a| w.administrator == a))
            .collect();
        if let Some(s) = query.get("sort") {
            let sort = Sort::parse(s, &[SortKey::Slug]).map_err(ApiError::bad_request)?;
            list.sort_by(|a, b| a.slug.cmp(&b.slug));
            if sort.descending {
                list.reverse();
            }
        }
        let r = self.renderer();
        let range = page.range(list.len());
        let values = list[range].iter().map(|w| r.workspace_access(w)).collect();
        Ok(envelope(values, list.len(), &page, links))
    }

    fn members(&self, ws: &str, query: &Query, links: &PageLinks) -> Result<Value, ApiError> {
        let (_, w) = self.workspace(ws)?;
        let page = PageRequest::from_query(query, MAX_PAGELEN)?;
        let r = self.renderer();
        let range = page.range(w.members.len());
        let values = w.members[range]
            .iter()
            .filter_map(|&u| self.data.users.get(u as usize))
            .map(|u| r.membership(w, u))
            .collect();
        Ok(envelope(values, w.members.len(), &page, links))
    }

    /// The visible repositories of a workspace matching `q`, in `sort` order.
    pub fn repositories_list<'s>(
        &'s self,
        w: &'s Workspace,
        query: &Query,
    ) -> Result<Vec<&'s Repo>, ApiError> {
        let now = self.now();
        let (filter, sort) = repository_query(query)?;
        let mut list: Vec<(&Repo, Micros)> = w
            .repos
            .iter()
            .filter(|r| r.visible_at(now))
            .map(|r| (r, r.updated_at(now)))
            .filter(|(r, updated)| {
                filter.matches(&Subject {
                    updated_on: *updated,
                    created_on: r.created_on,
                    is_private: Some(r.is_private),
                })
            })
            .collect();
        let key = sort.map_or(SortKey::FullName, |s| s.key);
        list.sort_by(|(a, au), (b, bu)| {
            let primary = match key {
                SortKey::UpdatedOn => au.cmp(bu),
                SortKey::CreatedOn => a.created_on.cmp(&b.created_on),
                SortKey::Name => a.name.cmp(&b.name),
                SortKey::Slug => a.slug.cmp(&b.slug),
                SortKey::FullName | SortKey::Id => a.full_name.cmp(&b.full_name),
            };
            primary.then_with(|| a.uuid.cmp(&b.uuid))
        });
        if sort.is_some_and(|s| s.descending) {
            list.reverse();
        }
        Ok(list.into_iter().map(|(r, _)| r).collect())
    }

    fn repositories_page(&self, ws: &str, query: &Query, links: &PageLinks) -> Result<Value, ApiError> {
        let (_, w) = self.workspace(ws)?;
        let page = PageRequest::from_query(query, MAX_PAGELEN)?;
        let list = self.repositories_list(w, query)?;
        let r = self.renderer();
        let values = list[page.range(list.len())]
            .iter()
            .map(|repo| r.repository(w, repo))
            .collect();
        Ok(envelope(values, list.len(), &page, links))
    }

    fn repository(&self, ws: &str, slug: &str) -> Result<Value, ApiError> {
        let (_, w, _, repo) = self.visible_repo(ws, slug)?;
        Ok(self.renderer().repository(w, repo))
    }

    fn pullrequests_page(
        &self,
        ws: &str,
        slug: &str,
        query: &Query,
        links: &PageLinks,
    ) -> Result<Value, ApiError> {
        let (wi, w, ri, repo) = self.visible_repo(ws, slug)?;
        let page = PageRequest::from_query(query, MAX_PAGELEN_PULLREQUESTS)?;
        let mut states = Vec::new();
        for s in query.get_all("state") {
            let st = PrState::parse(s.trim())
                .ok_or_else(|| ApiError::bad_request(format!("Invalid state: '{s}'")))?;
            states.push(st);
        }
        if states.is_empty() {
            states.push(PrState::Open);
        }
        let filter = match query.get("q") {
            Some(q) => Filter::parse(q, &[Field::UpdatedOn, Field::CreatedOn])
                .map_err(|e| ApiError::bad_request(format!("Invalid query: {e}")))?,
            None => Filter::default(),
        };
        let sort = query
            .get("sort")
            .map(|s| {
                Sort::parse(s, &[SortKey::UpdatedOn, SortKey::CreatedOn, SortKey::Id])
                    .map_err(ApiError::bad_request)
            })
            .transpose()?;
        let extras = PrExtras::from_fields(query.get("fields"));

        let now = self.now();
        let index = self.pr_index(wi, ri, repo, now);
        // Default order: newest first (id descending). created_on order is id order.
        let (by_updated, descending) = match sort {
            None => (false, true),
            Some(s) => (s.key == SortKey::UpdatedOn, s.descending),
        };
        let order: Box<dyn Iterator<Item = usize> + '_> = match (by_updated, descending) {
            (false, false) => Box::new(0..index.rows.len()),
            (false, true) => Box::new((0..index.rows.len()).rev()),
            (true, false) => Box::new(index.by_updated.iter().map(|&i| i as usize)),
            (true, true) => Box::new(index.by_updated.iter().rev().map(|&i| i as usize)),
        };
        let matching: Vec<usize> = order
            .filter(|&i| {
                let row = &index.rows[i];
                states.contains(&row.state)
                    && filter.matches(&Subject {
                        updated_on: row.updated_on,
                        created_on: row.created_on,
                        is_private: None,
                    })
            })
            .collect();
        let r = self.renderer();
        let values = matching[page.range(matching.len())]
            .iter()
            .filter_map(|&i| {
                let pr = repo.pr(index.rows[i].id)?;
                let at = repo.pr_at(pr, now)?;
                Some(r.pullrequest(w, repo, pr, &at, extras))
            })
            .collect();
        Ok(envelope(values, matching.len(), &page, links))
    }
}

/// Decrements the in-flight count when dropped.
#[derive(Debug)]
pub struct InFlight<'a>(&'a State);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether a path is under `/2.0`.
pub fn is_api_path(path: &str) -> bool {
    path == "/2.0" || path.starts_with("/2.0/")
}

/// Whether a status-override prefix covers a path: the path starts with it at a segment
/// boundary (`/2.0/repositories/acme/api` covers `…/api` and `…/api/commits`, not `…/api-v2`).
pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

fn bearer_token(header: Option<&[u8]>) -> Option<&str> {
    let value = std::str::from_utf8(header?).ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

fn not_found_path(path: &str) -> ApiError {
    ApiError::not_found("Resource not found")
        .with_detail(format!("There is no API hosted at this URL: {path}"))
}

/// The `q` filter and `sort` order of a repository listing (`/repositories/{workspace}`, a
/// repository's forks): the fields Bitbucket accepts there; anything else is a 400.
pub(crate) fn repository_query(query: &Query) -> Result<(Filter, Option<Sort>), ApiError> {
    let filter = match query.get("q") {
        Some(q) => Filter::parse(q, &[Field::UpdatedOn, Field::CreatedOn, Field::IsPrivate])
            .map_err(|e| ApiError::bad_request(format!("Invalid query: {e}")))?,
        None => Filter::default(),
    };
    let sort_keys = [
        SortKey::UpdatedOn,
        SortKey::CreatedOn,
        SortKey::FullName,
        SortKey::Name,
        SortKey::Slug,
    ];
    let sort = query
        .get("sort")
        .map(|s| Sort::parse(s, &sort_keys).map_err(ApiError::bad_request))
        .transpose()?;
    Ok((filter, sort))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(Route::parse("/user"), Some(Route::User));
        assert_eq!(Route::parse("/user/"), Some(Route::User));
        assert_eq!(
            Route::parse("/repositories/acme/%7Babc%7D/pullrequests"),
            Some(Route::PullRequests("acme".into(), "{abc}".into()))
        );
        assert_eq!(Route::parse("/repositories/acme//pullrequests"), None);
        assert_eq!(Route::parse("/repositories"), Some(Route::AllRepositories));
        assert_eq!(Route::parse(""), None);
        assert_eq!(
            Route::parse("/repositories/acme/api/commits"),
            Some(Route::Commits("acme".into(), "api".into()))
        );
        assert_eq!(
            Route::parse("/repositories/acme/api/src/main/docs/Design%20Notes.md"),
            Some(Route::Src(
                "acme".into(),
                "api".into(),
                "main".into(),
                "docs/Design Notes.md".into()
            ))
        );
        assert_eq!(
            Route::parse("/repositories/acme/api/src/main/"),
            Some(Route::Src(
                "acme".into(),
                "api".into(),
                "main".into(),
                String::new()
            ))
        );
        assert_eq!(Route::parse("/repositories/acme/api/issues"), None);
        assert_eq!(
            Route::parse("/repositories/acme/api/pullrequests/x/activity"),
            None
        );
        assert!(prefix_matches(
            "/2.0/repositories/acme/api",
            "/2.0/repositories/acme/api/commits"
        ));
        assert!(prefix_matches(
            "/2.0/repositories/acme/api",
            "/2.0/repositories/acme/api"
        ));
        assert!(!prefix_matches(
            "/2.0/repositories/acme/api",
            "/2.0/repositories/acme/api-v2"
        ));
        assert!(prefix_matches("/2.0/", "/2.0/user"));
        assert_eq!(
            Route::parse("/workspaces/%ff/members"),
            Some(Route::Members("\u{fffd}".into()))
        );
    }
}
