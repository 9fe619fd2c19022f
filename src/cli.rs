//! The command line, as the Singer spec and Meltano call it. Doc comments here are the
//! `--help` text.

use std::path::PathBuf;

use clap::{ArgGroup, Parser, ValueEnum};

use crate::about::AboutFormat;

/// Singer tap for Bitbucket Cloud: repositories, pull requests, workspaces and their members,
/// extracted incrementally as SCHEMA, RECORD and STATE messages on stdout.
#[derive(Debug, Parser)]
#[command(name = "tap-bitbucket", version, about, long_about = None)]
#[command(group(ArgGroup::new("catalog_source").args(["catalog", "properties"])))]
pub struct Cli {
    /// Config file (JSON). May be given more than once: keys of later files override earlier
    /// ones. `ENV` reads `TAP_BITBUCKET_<KEY>` environment variables as one more source.
    #[arg(long, value_name = "FILE")]
    pub config: Vec<PathBuf>,

    /// Print the catalog of every stream (no network or credentials needed) and exit.
    #[arg(long)]
    pub discover: bool,

    /// Catalog file selecting the streams and fields to sync.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,

    /// Legacy name for `--catalog`.
    #[arg(long, value_name = "FILE")]
    pub properties: Option<PathBuf>,

    /// State file from an earlier run (the value of its last STATE message).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Print what the tap is (name, version, capabilities, settings) and exit. No config
    /// needed.
    #[arg(long, conflicts_with_all = ["discover", "test"])]
    pub about: bool,

    /// The format of `--about`.
    #[arg(long, value_enum, value_name = "FORMAT", requires = "about")]
    pub format: Option<AboutFormat>,

    /// Check the credentials and read one page of each selected stream: nothing on stdout,
    /// a summary on stderr, a non-zero exit naming what failed.
    #[arg(long, conflicts_with = "discover")]
    pub test: bool,

    /// Log format on stderr; overrides the `log_format` config key.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormatArg>,
}

/// How log lines on stderr are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Cli {
    /// The catalog file, whichever of the two flags named it.
    pub fn catalog_path(&self) -> Option<&PathBuf> {
        self.catalog.as_ref().or(self.properties.as_ref())
    }
}
