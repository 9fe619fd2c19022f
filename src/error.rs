//! The tap's top-level error: every failure that ends a run, with the exit code it maps to.
//!
//! Modules keep their own error types ([`crate::config::ConfigError`],
//! [`crate::bitbucket::ApiError`], …); this enum only gathers them so `main` can print one
//! line and choose the exit code the spec fixes: 2 for problems found in the inputs before any
//! request, 1 for everything else.

use crate::bitbucket::ApiError;
use crate::config::ConfigError;
use crate::singer::{CatalogError, StateError, WriteError};

/// Anything that ends a run with a non-zero exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command-line usage problem that clap did not catch.
    #[error("{0}")]
    Usage(String),
    /// A bad or missing config file or key.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A catalog file that cannot be used.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A state file that cannot be used.
    #[error(transparent)]
    State(#[from] StateError),
    /// A request to Bitbucket that failed for good.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Stdout could not be written (a closed pipe, a full disk).
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A problem found while running that makes going on pointless (a configured workspace
    /// that does not exist, refused credentials).
    #[error("{0}")]
    Fatal(String),
    /// The run was interrupted by a signal.
    #[error("interrupted by {0}: stopped after writing a STATE that covers every record emitted")]
    Interrupted(&'static str),
    /// A failure inside the tap that is not the user's input nor the server's answer.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The process exit code for this error: 2 for input errors found before any request,
    /// 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Config(_) | Error::Catalog(_) | Error::State(_) => 2,
            _ => 1,
        }
    }
}
