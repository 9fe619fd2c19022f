//! `bitbucket-simulator`: serve the simulated Bitbucket Cloud API until killed.
//!
//! Prints exactly one line on stdout once listening:
//! `bitbucket-simulator listening on http://127.0.0.1:PORT/2.0`.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use bitbucket_simulator::{SimConfig, Simulator};
use chrono::{DateTime, Utc};
use clap::Parser;

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
