//! The modes of the binary (about, discovery, connection test, sync) and the one place
//! errors become an exit code and one line on stderr.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, LogFormatArg};
use crate::config::{LogFormat, Settings};
use crate::error::Error;
use crate::singer::{discover, Selection, State};
use crate::{about, logging, streams, sync};

/// Runs the tap with these arguments and returns the process exit code.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are "errors" that print to stdout and exit 0.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let message = e.one_line();
            tracing::error!("{message}");
            // The last line on stderr is always the plain reason, whatever the log format.
            let _ = writeln!(std::io::stderr(), "tap-bitbucket: error: {message}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    if cli.about {
        // Needs no config: it describes the settings rather than reading them.
        return about::print(cli.format.unwrap_or_default());
    }
    let (settings, unknown_keys) = Settings::load(&cli.config)?;
    let format = match cli.log_format {
        Some(LogFormatArg::Json) => LogFormat::Json,
        Some(LogFormatArg::Text) => LogFormat::Text,
        None => match std::env::var("TAP_BITBUCKET_LOG_FORMAT").as_deref() {
            Ok("json") => LogFormat::Json,
            Ok("text") => LogFormat::Text,
            _ => settings.log_format,
        },
    };
    logging::init(format);
    for key in unknown_keys {
        tracing::warn!("Unknown config key `{key}` is ignored (a typo?).");
    }

    let descriptions = streams::descriptions();
    if cli.discover {
        // Indented: Meltano reads discovery output line by line, 64 KiB at most per line.
        let catalog = serde_json::to_string_pretty(&discover(&descriptions))
            .map_err(|e| Error::Internal(format!("cannot serialize the catalog: {e}")))?
            + "\n";
        let mut out = std::io::stdout().lock();
        out.write_all(catalog.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Error::Write(e.into()))?;
        return Ok(());
    }

    let selection = match cli.catalog_path() {
        Some(path) => Selection::from_catalog_file(path, &descriptions)?,
        None => Selection::by_default(&descriptions),
    };
    let state = match &cli.state {
        Some(path) => State::load(path, &streams::names())?,
        None => State::default(),
    };
    settings.require_credentials()?;
    // A bad repository pattern is a config error, found before any request.
    crate::filter::RepositoryFilter::new(&settings)?;

    // One thread runs every reader: the work is waiting on the API, and decoding a page is
    // cheap next to fetching it, so a second core would mostly buy cross-thread wake-ups
    // (the multi-thread scheduler measured 4% more CPU per record). Stdout has its own
    // thread (the writer), so output still overlaps reading.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))?;
    if cli.test {
        // The connection test: the sync's own readers, one page each, nothing on stdout.
        return runtime.block_on(sync::check(settings, selection));
    }
    runtime.block_on(sync::run(settings, selection, state))
}
