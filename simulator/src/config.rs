//! Simulator configuration: the clock, the credentials and the shape of the dataset.
//!
//! [`SimConfig::default`] is the demo dataset (workspaces `acme` and `globex`);
//! [`SimConfig::scaled`] builds a large uniform dataset for benchmarks.

use chrono::{DateTime, Utc};

use crate::extras::IssueTrackers;
use crate::faults::Faults;

/// Switchable API quirks of the Pipelines and Deployments endpoints (realistic defaults).
///
/// Bitbucket's `next` links on these endpoints cannot be trusted; a client that builds
/// `page=N` itself is unaffected, one that follows `next` blindly gets the wrong records.
/// Changeable at runtime with [`crate::Simulator::set_quirks`] and the per-quirk setters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quirks {
    /// `GET …/pipelines/` `next` links drop the `sort` parameter, so page 2 of a
    /// `sort=-created_on` read is page 2 of the default (oldest-first) order. Default true.
    pub pipelines_next_drops_sort: bool,
    /// `GET …/deployments/` `next` links point two pages ahead (`page+2`), skipping a page.
    /// Default true.
    pub deployments_next_wrong_page: bool,
    /// The largest `pagelen` `/pipelines/` and `/deployments/` accept (`None`: 100, the
    /// documented maximum). When set, a larger `pagelen` answers `400 Invalid pagelen`; a
    /// request without `pagelen` gets the default 10. Default `None`.
    pub ci_max_pagelen: Option<usize>,
}

impl Default for Quirks {
    fn default() -> Self {
        Quirks {
            pipelines_next_drops_sort: true,
            deployments_next_wrong_page: true,
            ci_max_pagelen: None,
        }
    }
}

/// Everything the simulator needs to start. The dataset is a pure function of this value.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The reference instant of the dataset. History lies in `[anchor − 365 days, anchor]`,
    /// future events in `(anchor, anchor + 30 days]`. Default: now, truncated to whole seconds.
    pub anchor: DateTime<Utc>,
    /// The simulated clock starts at `anchor + clock_offset_hours` (default 0). It can be moved
    /// while running with [`crate::Simulator::set_clock_offset_hours`] or
    /// `POST /_simulator/clock?offset_hours=N`.
    pub clock_offset_hours: i64,
    /// The workspaces, their members and repositories.
    pub workspaces: Vec<WorkspaceSpec>,
    /// The accepted `Authorization: Bearer` token (default `demo-token`).
    pub access_token: String,
    /// The accepted Basic user name (default `demo@example.com`, an Atlassian account e-mail).
    pub basic_username: String,
    /// The accepted Basic password (default `demo-api-token`, an Atlassian API token).
    pub basic_password: String,
    /// Mixed into every generated fact; change it for a different dataset of the same shape
    /// (default 0).
    pub seed: u64,
    /// The base used for the API links inside objects (`links.self.href` and friends), without
    /// a trailing slash, e.g. `http://sim.local:8080/2.0`. Default (`None`): the server's own
    /// [`crate::Simulator::api_url`]. Pagination links are built from the request's `Host`
    /// header regardless.
    pub public_api_url: Option<String>,
    /// Print one line per request to stderr (default false).
    pub log_requests: bool,
    /// Fault injection for `/2.0` requests (default: none). Changeable at runtime with
    /// [`crate::Simulator::set_faults`].
    pub faults: Faults,
    /// Whether the issue-tracker endpoints exist (default [`IssueTrackers::Removed`]: 410).
    pub issue_trackers: IssueTrackers,
    /// Whether `GET /repositories` serves the public repositories (default false: 410 with
    /// the CHANGE-2770 body).
    pub public_repositories: bool,
    /// OAuth consumer key accepted by the token endpoint (default `demo-client`).
    pub oauth_client_id: String,
    /// OAuth consumer secret (default `demo-secret`).
    pub oauth_client_secret: String,
    /// A refresh token valid from the start (default `demo-refresh`).
    pub oauth_refresh_token: String,
    /// Lifetime of issued access tokens, in wall-clock seconds (default 3600).
    pub token_lifetime_secs: u64,
    /// Whether every refresh-token grant returns a new refresh token and invalidates the old
    /// one (default false).
    pub rotate_refresh_tokens: bool,
    /// Quirks of the Pipelines and Deployments endpoints (default: [`Quirks::default`]).
    pub quirks: Quirks,
}

/// One workspace of the dataset.
#[derive(Debug, Clone)]
pub struct WorkspaceSpec {
    /// URL slug, e.g. `acme`.
    pub slug: String,
    /// Display name, e.g. `Acme Corporation`.
    pub name: String,
    /// Number of members, the authenticated (demo) user included; at least 1.
    pub members: usize,
    /// Whether the authenticated user administers this workspace (`/user/workspaces`).
    pub administrator: bool,
    /// The repositories.
    pub repositories: Vec<RepositorySpec>,
}

/// One repository of the dataset.
#[derive(Debug, Clone)]
pub struct RepositorySpec {
    /// URL slug, e.g. `web-app`. The display name is derived from it (`Web App`).
    pub slug: String,
    /// `is_private` of the repository.
    pub is_private: bool,
    /// How many pull requests the repository ever gets, including the ones created in the
    /// future window (roughly 7 % of them for a historical repository).
    pub pullrequests: u32,
    /// `None`: a historical repository, created about a year before the anchor. `Some(h)`: the
    /// repository is created at `anchor + h` hours (use a positive `h` up to 720 for a
    /// repository that appears when the clock moves forward); its pull requests all come later.
    /// Clamped to ±87 600 hours (10 years).
    pub created_offset_hours: Option<i64>,
    /// An empty repository (never pushed to): no commits, no source tree, no pull requests
    /// (`pullrequests` is ignored), `mainbranch` null.
    pub empty: bool,
    /// Whether Bitbucket Pipelines (and Deployments) are enabled (default true). Without them
    /// `/pipelines/`, `/deployments/` and `/environments/` answer an empty page, and pull
    /// request statuses come from an external CI. An empty repository never has pipelines.
    pub pipelines: bool,
}

impl RepositorySpec {
    /// A historical private repository with `pullrequests` pull requests.
    pub fn new(slug: &str, pullrequests: u32) -> Self {
        RepositorySpec {
            slug: slug.to_string(),
            is_private: true,
            pullrequests,
            created_offset_hours: None,
            empty: false,
            pipelines: true,
        }
    }

    /// The same repository, without Bitbucket Pipelines (see
    /// [`RepositorySpec::pipelines`](RepositorySpec#structfield.pipelines)).
    pub fn without_pipelines(mut self) -> Self {
        self.pipelines = false;
        self
    }

    /// The same repository, empty (see [`RepositorySpec::empty`](RepositorySpec#structfield.empty)).
    pub fn empty(mut self) -> Self {
        self.empty = true;
        self.pullrequests = 0;
        self.pipelines = false;
        self
    }

    /// The same repository, public.
    pub fn public(mut self) -> Self {
        self.is_private = false;
        self
    }

    /// The same repository, created at `anchor + hours`.
    pub fn created_at_offset_hours(mut self, hours: i64) -> Self {
        self.created_offset_hours = Some(hours);
        self
    }
}

/// Now, truncated to whole seconds.
pub fn now_truncated() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
}

impl Default for SimConfig {
    /// The demo dataset:
    ///
    /// - `acme` (9 members, administered by the demo user): `api` (150 PRs), `web-app` (110,
    ///   public), `data-pipeline` (70), `infra` (45), plus `mobile-app` (16 PRs), created at
    ///   anchor + 200 h so it only appears when the clock moves forward, and `sandbox`, an
    ///   empty repository (no commits, no main branch, no pull requests);
    /// - `globex` (6 members): `core-service` (90), `docs-site` (40, public).
    ///
    /// Pipelines are enabled everywhere but in `sandbox` (empty) and `docs-site`.
    fn default() -> Self {
        SimConfig {
            anchor: now_truncated(),
            clock_offset_hours: 0,
            workspaces: vec![
                WorkspaceSpec {
                    slug: "acme".into(),
                    name: "Acme Corporation".into(),
                    members: 9,
                    administrator: true,
                    repositories: vec![
                        RepositorySpec::new("api", 150),
                        RepositorySpec::new("web-app", 110).public(),
                        RepositorySpec::new("data-pipeline", 70),
                        RepositorySpec::new("infra", 45),
                        RepositorySpec::new("mobile-app", 16).created_at_offset_hours(200),
                        RepositorySpec::new("sandbox", 0).empty(),
                    ],
                },
                WorkspaceSpec {
                    slug: "globex".into(),
                    name: "Globex".into(),
                    members: 6,
                    administrator: false,
                    repositories: vec![
                        RepositorySpec::new("core-service", 90),
                        RepositorySpec::new("docs-site", 40).public().without_pipelines(),
                    ],
                },
            ],
            access_token: "demo-token".into(),
            basic_username: "demo@example.com".into(),
            basic_password: "demo-api-token".into(),
            seed: 0,
            public_api_url: None,
            log_requests: false,
            faults: Faults::default(),
            issue_trackers: IssueTrackers::Removed,
            public_repositories: false,
            oauth_client_id: "demo-client".into(),
            oauth_client_secret: "demo-secret".into(),
            oauth_refresh_token: "demo-refresh".into(),
            token_lifetime_secs: 3600,
            rotate_refresh_tokens: false,
            quirks: Quirks::default(),
        }
    }
}

impl SimConfig {
    /// A uniform dataset for benchmarks: `workspaces` workspaces (`ws-001`, …) of
    /// `repos_per_workspace` historical repositories (`repo-0001`, …; every fourth one public)
    /// with `prs_per_repo` pull requests each and 8 members, Pipelines enabled everywhere.
    /// Other fields are the defaults.
    pub fn scaled(workspaces: usize, repos_per_workspace: usize, prs_per_repo: u32) -> Self {
        let workspaces = (1..=workspaces)
            .map(|w| WorkspaceSpec {
                slug: format!("ws-{w:03}"),
                name: format!("Workspace {w}"),
                members: 8,
                administrator: w % 2 == 1,
                repositories: (1..=repos_per_workspace)
                    .map(|r| RepositorySpec {
                        slug: format!("repo-{r:04}"),
                        is_private: r % 4 != 0,
                        pullrequests: prs_per_repo,
                        created_offset_hours: None,
                        empty: false,
                        pipelines: true,
                    })
                    .collect(),
            })
            .collect();
        SimConfig {
            workspaces,
            ..SimConfig::default()
        }
    }

    /// The same configuration with another anchor.
    pub fn with_anchor(mut self, anchor: DateTime<Utc>) -> Self {
        self.anchor = anchor;
        self
    }
}
