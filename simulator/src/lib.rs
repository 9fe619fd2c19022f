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
//! [`clock`], [`render`] (JSON shapes), [`paginate`], [`bbql`] (`q` and `sort`), [`auth`],
//! [`api`] (routing and handlers), `server` (hyper plumbing).

pub mod api;
pub mod auth;
pub mod bbql;
pub mod clock;
pub mod config;
pub mod data;
pub mod error;
mod names;
pub mod paginate;
pub mod prng;
pub mod render;
mod server;
pub mod urlenc;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use api::RecordedRequest;
pub use config::{RepositorySpec, SimConfig, WorkspaceSpec};

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
            config.clock_offset_hours,
            config.log_requests,
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
}
