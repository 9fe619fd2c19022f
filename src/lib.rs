//! tap-bitbucket: a Singer tap for Bitbucket Cloud.
//!
//! Data flow, top to bottom:
//! - [`cli`] parses the command line; [`config`] merges and validates the config files into
//!   [`config::Settings`] before any request is made.
//! - [`app`] picks the mode: discovery prints the catalog built from [`streams::REGISTRY`];
//!   a sync hands the selected streams to [`sync`]; `--test` runs the same readers for one
//!   page each ([`sync::check`]); `--about` prints [`about`], generated from the config type.
//! - [`sync`] lists the partitions (workspaces, repositories), runs each stream's reader
//!   (in [`streams`]) against the HTTP client in [`bitbucket`], and sends pages of records and
//!   bookmarks to the one stdout writer in [`singer`], which writes SCHEMA, RECORD and STATE
//!   messages in an order that never lets a STATE claim a record not yet written.
//!
//! [`window`] (what an incremental partition may read and emit) and [`filter`] (which
//! repositories a run reads) are shared by [`sync`] and [`streams`], so neither imports the
//! other for them.
//!
//! [`singer`] knows nothing of Bitbucket and [`bitbucket`] nothing of Singer; [`streams`] is
//! where they meet.

pub mod about;
pub mod app;
pub mod bitbucket;
pub mod cli;
pub mod config;
pub mod error;
pub mod filter;
pub mod logging;
pub mod metrics;
pub mod redact;
pub mod singer;
pub mod streams;
pub mod sync;
pub mod window;

pub use app::main_with_args;
