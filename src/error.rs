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
    /// A request of a stream's reader that failed for good, with the stream and partition it
    /// was reading (a wrong-typed field is found by the stream's JSON path and endpoint).
    #[error("stream `{stream}`{}: {source}", if partition.is_empty() { String::new() } else { format!(" ({partition})") })]
    Stream {
        /// The stream (or the streams of a family read together).
        stream: String,
        /// The partition's context (`workspace=acme,repository=api`), empty for the streams
        /// that are not partitioned (`users`, `public_repositories`).
        partition: String,
        /// What failed.
        source: Box<ApiError>,
    },
    /// Stdout could not be written (a full disk, a serialization bug).
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Stdout was closed while the sync still had output: the target (or whatever read the
    /// tap's output) exited or the pipe broke. The cause is on the other side of the pipe, so
    /// the message points there.
    #[error("{}", closed_stdout(.0))]
    StdoutClosed(&'static str),
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

/// What a closed stdout means for what was being written (`sync` or `discovery`).
fn closed_stdout(what: &str) -> String {
    if what == "sync" {
        "stdout was closed before the sync finished: the target reading the tap's output exited or the pipe broke, and the target's own log has the reason (the last STATE written covers only the records written before it)".into()
    } else {
        format!("stdout was closed before the {what} was written whole: the program reading the tap's output exited or the pipe broke")
    }
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

    /// A failure of the stdout writer as the error that ends the run (`what`: `sync`,
    /// `discovery`): a closed pipe (`EPIPE`; Rust ignores `SIGPIPE`, so the write fails
    /// rather than killing the process) is [`Error::StdoutClosed`], anything else
    /// [`Error::Write`].
    pub fn from_stdout(error: WriteError, what: &'static str) -> Error {
        use std::io::ErrorKind::{BrokenPipe, ConnectionReset};
        match &error {
            WriteError::Io(e) if matches!(e.kind(), BrokenPipe | ConnectionReset) => {
                Error::StdoutClosed(what)
            }
            _ => Error::Write(error),
        }
    }

    /// The message as one readable line for stderr: control characters (a line break in a
    /// quoted value) escaped, and the middle of an overlong message (a 10 MB value quoted
    /// back) left out, so the line still shows what was wrong and where.
    pub fn one_line(&self) -> String {
        one_line(&self.to_string(), MAX_LINE_CHARS)
    }
}

/// The longest error line, in characters: room for a path, a key, a value and the expected
/// shape, not for a megabyte quoted back.
const MAX_LINE_CHARS: usize = 1500;

fn one_line(text: &str, max: usize) -> String {
    let escape = |c: char, out: &mut String| {
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    };
    let count = text.chars().count();
    let mut out = String::new();
    if count <= max {
        text.chars().for_each(|c| escape(c, &mut out));
    } else {
        let keep = max / 2;
        text.chars().take(keep).for_each(|c| escape(c, &mut out));
        out.push_str(&format!(" […{} characters left out…] ", count - 2 * keep));
        text.chars().skip(count - keep).for_each(|c| escape(c, &mut out));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_escapes_breaks_and_elides_the_middle() {
        assert_eq!(one_line("a `x\ny`\r\t b", 100), "a `x\\ny`\\r\\t b");
        let long = format!("key `k`: `{}` is bad", "9".repeat(10_000));
        let line = one_line(&long, 40);
        assert!(line.starts_with("key `k`: `999"), "{line}");
        assert!(line.ends_with("999` is bad"), "{line}");
        assert!(line.contains("characters left out"), "{line}");
        assert!(line.chars().count() < 100, "{line}");
    }
}
