//! The integration tests: one binary, each module a family of scenarios that drive the real
//! `tap-bitbucket` binary against the bundled Bitbucket simulator on 127.0.0.1.

/// Shared helpers: running the tap, parsing its messages, validating records.
mod harness;

/// `--about`, `--test`, `--config ENV`, and meltano.yml / README kept equal to `--about`.
mod about;
/// Bounded under any server: an endless or oversized body, an HTML 200, a closed stdout.
#[cfg(unix)]
mod bounded;
/// SIGKILL and SIGTERM mid-sync, then a rerun from the last STATE: nothing is lost; ten
/// kills chained under faults at concurrency 8.
#[cfg(unix)]
mod crash;
/// Discovery and the catalog.
mod discover;
/// Bad input of every kind: one clear line, the right exit code, no secret.
mod errors;
/// Property tests and hostile files: no input crashes the tap.
mod fuzz;
/// HTTP: concurrency limit, retries, cross-origin links, OAuth, secrets, metric lines.
mod http;
/// Incremental state, the window options, and reruns.
mod incremental;
/// A sync of 100 000 pull requests: exact, once each, monotonic bookmarks.
mod large;
/// `schemas/*.json` match the record types.
mod schemas;
/// The history streams: commits, pull request activity, directory contents.
mod streams_history;
/// The engineering-metrics streams: refs, environments, deployments, pipelines and steps,
/// pull-request comments and children; reruns, cost, quirks and the DORA joins.
mod streams_metrics;
/// The FULL_TABLE streams, the removed endpoints, refusals ("endpoint says no") and sharding.
mod streams_tables;
/// Full syncs: every object arrives exactly as the server holds it.
mod sync_full;
