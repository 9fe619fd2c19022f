//! The integration tests: one binary, each module a family of scenarios that drive the real
//! `tap-bitbucket` binary against the bundled Bitbucket simulator on 127.0.0.1.

/// Shared helpers: running the tap, parsing its messages, validating records.
mod harness;

/// Discovery and the catalog.
mod discover;
/// Bad input of every kind: one clear line, the right exit code, no secret.
mod errors;
/// Incremental state, the window options, and reruns.
mod incremental;
/// `schemas/*.json` match the record types.
mod schemas;
/// Full syncs: every object arrives exactly as the server holds it.
mod sync_full;
