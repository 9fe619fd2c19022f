//! `bitbucket-simulator`: serve the simulated Bitbucket Cloud API until killed.
//!
//! Prints exactly one line on stdout once listening:
//! `bitbucket-simulator listening on http://127.0.0.1:PORT/2.0`.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use bitbucket_simulator::{Faults, IssueTrackers, Quirks, SimConfig, Simulator};
use chrono::{DateTime, Utc};
use clap::{ArgAction, Parser};

/// A deterministic local simulator of the Bitbucket Cloud REST API 2.0.
///
/// Move the clock of a running process with
/// `curl -X POST 'http://127.0.0.1:PORT/_simulator/clock?offset_hours=24'`.
#[derive(Debug, Parser)]
#[command(name = "bitbucket-simulator", version)]
struct Cli {
    /// TCP port (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Dataset anchor, RFC 3339 (default: now, truncated to whole seconds).
    #[arg(long, value_parser = parse_anchor)]
    anchor: Option<DateTime<Utc>>,
    /// Initial clock offset in hours (simulated now = anchor + offset).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    clock_offset_hours: i64,
    /// Accepted Bearer token.
    #[arg(long, default_value = "demo-token")]
    access_token: String,
    /// Accepted Basic user name (Atlassian account e-mail).
    #[arg(long, default_value = "demo@example.com")]
    basic_username: String,
    /// Accepted Basic password (API token).
    #[arg(long, default_value = "demo-api-token")]
    basic_password: String,
    /// Dataset seed (same shape, different facts).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Base of the API links inside objects (default: the served URL).
    #[arg(long)]
    public_api_url: Option<String>,
    /// Scaled dataset: number of workspaces (replaces the demo dataset; see --repos-per-workspace, --prs-per-repo).
    #[arg(long)]
    workspaces: Option<usize>,
    /// Scaled dataset: repositories per workspace (default 10).
    #[arg(long)]
    repos_per_workspace: Option<usize>,
    /// Scaled dataset: pull requests per repository (default 100).
    #[arg(long)]
    prs_per_repo: Option<u32>,
    /// Log every request to stderr.
    #[arg(long)]
    verbose: bool,
    /// Issue-tracker endpoints (components, versions, milestones): `removed` answers 410 Gone
    /// (Bitbucket removed them on 2026-08-20), `enabled` serves them.
    #[arg(long, value_parser = parse_issue_trackers, default_value = "removed")]
    issue_trackers: IssueTrackers,
    /// Serve `GET /2.0/repositories` (public repositories) instead of 410 CHANGE-2770.
    #[arg(long)]
    public_repositories: bool,
    /// Fault: milliseconds added to every /2.0 response.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Fault: every Nth /2.0 request answers 429 (0 = off).
    #[arg(long, default_value_t = 0)]
    rate_limit_every: u32,
    /// Fault: those 429s carry `Retry-After: N`.
    #[arg(long)]
    rate_limit_retry_after_secs: Option<u64>,
    /// Fault: every Nth /2.0 request answers 500, 502 or 503 (0 = off).
    #[arg(long, default_value_t = 0)]
    server_error_every: u32,
    /// Fault: every Nth 200 response body is cut in half (0 = off).
    #[arg(long, default_value_t = 0)]
    truncate_every: u32,
    /// Fault: `next` links point at http://localhost:PORT (another origin).
    #[arg(long)]
    cross_origin_next: bool,
    /// Fault: redirects (`src`, pull-request `diffstat`) point at http://localhost:PORT.
    #[arg(long)]
    cross_origin_redirect: bool,
    /// OAuth consumer key accepted by POST /site/oauth2/access_token.
    #[arg(long, default_value = "demo-client")]
    oauth_client_id: String,
    /// OAuth consumer secret.
    #[arg(long, default_value = "demo-secret")]
    oauth_client_secret: String,
    /// A refresh token valid from the start.
    #[arg(long, default_value = "demo-refresh")]
    oauth_refresh_token: String,
    /// Lifetime of issued access tokens, in seconds.
    #[arg(long, default_value_t = 3600)]
    token_lifetime_secs: u64,
    /// Every refresh-token grant returns a new refresh token and invalidates the old one.
    #[arg(long)]
    rotate_refresh_tokens: bool,
    /// Quirk: `next` links of /pipelines/ drop the `sort` parameter (`true` or `false`).
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    pipelines_next_drops_sort: bool,
    /// Quirk: `next` links of /deployments/ point two pages ahead (`true` or `false`).
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    deployments_next_wrong_page: bool,
    /// Quirk: the largest `pagelen` /pipelines/ and /deployments/ accept (default 100); a larger
    /// one answers 400 Invalid pagelen.
    #[arg(long)]
    ci_max_pagelen: Option<usize>,
}

fn parse_issue_trackers(s: &str) -> Result<IssueTrackers, String> {
    match s {
        "removed" => Ok(IssueTrackers::Removed),
        "enabled" => Ok(IssueTrackers::Enabled),
        _ => Err("expected `removed` or `enabled`".into()),
    }
}

fn parse_anchor(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("expected an RFC 3339 timestamp like 2026-06-01T12:00:00Z: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let scaled = cli.workspaces.is_some() || cli.repos_per_workspace.is_some() || cli.prs_per_repo.is_some();
    let mut config = if scaled {
        SimConfig::scaled(
            cli.workspaces.unwrap_or(1),
            cli.repos_per_workspace.unwrap_or(10),
            cli.prs_per_repo.unwrap_or(100),
        )
    } else {
        SimConfig::default()
    };
    if let Some(anchor) = cli.anchor {
        config.anchor = anchor;
    }
    config.clock_offset_hours = cli.clock_offset_hours;
    config.access_token = cli.access_token;
    config.basic_username = cli.basic_username;
    config.basic_password = cli.basic_password;
    config.seed = cli.seed;
    config.public_api_url = cli.public_api_url;
    config.log_requests = cli.verbose;
    config.issue_trackers = cli.issue_trackers;
    config.public_repositories = cli.public_repositories;
    config.faults = Faults {
        latency_ms: cli.latency_ms,
        rate_limit_every: cli.rate_limit_every,
        rate_limit_retry_after_secs: cli.rate_limit_retry_after_secs,
        server_error_every: cli.server_error_every,
        truncate_every: cli.truncate_every,
        cross_origin_next: cli.cross_origin_next,
        cross_origin_redirect: cli.cross_origin_redirect,
    };
    config.oauth_client_id = cli.oauth_client_id;
    config.oauth_client_secret = cli.oauth_client_secret;
    config.oauth_refresh_token = cli.oauth_refresh_token;
    config.token_lifetime_secs = cli.token_lifetime_secs;
    config.rotate_refresh_tokens = cli.rotate_refresh_tokens;
    config.quirks = Quirks {
        pipelines_next_drops_sort: cli.pipelines_next_drops_sort,
        deployments_next_wrong_page: cli.deployments_next_wrong_page,
        ci_max_pagelen: cli.ci_max_pagelen,
    };

    let sim = match Simulator::start_on(config, SocketAddr::new(cli.bind, cli.port)) {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!(
                "bitbucket-simulator: cannot listen on {}:{}: {e}",
                cli.bind, cli.port
            );
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "bitbucket-simulator listening on {}", sim.api_url())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(out);
    loop {
        std::thread::park();
    }
}
