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

/// What running without arguments (or a sync without `--config`) says: the tap cannot guess
/// a config, and "no credentials" would name a symptom, not the missing flag.
const NO_CONFIG: &str = "no `--config` given: pass `--config FILE` (settings as JSON, like \
    sample_config.json) or `--config ENV` (the TAP_BITBUCKET_* variables) to sync or `--test`; \
    `--about` shows the settings and `--discover` the streams without one; `--help` lists every option";

/// Runs the tap with these arguments and returns the process exit code.
///
/// Every failure prints exactly one line on stderr: `tap-bitbucket: error: …` with text logs,
/// or, with `--log-format json`, one JSON log event (`"level":"ERROR"`, the same text as
/// `message`, and `exit_code`): whoever asked for JSON logs parses every stderr line as JSON,
/// and the line that says why the run failed is the one that must not be lost to a parser.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let env_format = log_format_from_env();
    if args.len() <= 1 {
        return fail(&Error::Usage(NO_CONFIG.into()), env_format);
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        // --help and --version are "errors" that print to stdout and exit 0.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            return fail(
                &Error::Usage(clap_one_line(&e)),
                log_format_from_args(&args).or(env_format),
            )
        }
    };
    let mut format = cli.log_format.map(LogFormat::from).or(env_format);
    match run(cli, &mut format) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, format),
    }
}

/// Prints the one line of a failure in the chosen log format and returns its exit code.
fn fail(error: &Error, format: Option<LogFormat>) -> ExitCode {
    let message = error.one_line();
    let code = error.exit_code();
    let line = format!("tap-bitbucket: error: {message}");
    let line = if format == Some(LogFormat::Json) {
        logging::json_error_line(&line, code)
    } else {
        line
    };
    crate::redact::write_stderr(&format!("{line}\n"));
    ExitCode::from(code)
}

/// The `--log-format` of a command line clap could not parse, when it names a format: the
/// one line of the failure is then written in it.
fn log_format_from_args(args: &[OsString]) -> Option<LogFormat> {
    let args: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    args.iter().enumerate().rev().find_map(|(i, arg)| {
        let value = match arg.strip_prefix("--log-format") {
            Some("") => args.get(i + 1).copied(),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        match value {
            Some("json") => Some(LogFormat::Json),
            Some("text") => Some(LogFormat::Text),
            _ => None,
        }
    })
}

/// `TAP_BITBUCKET_LOG_FORMAT`, when it names a format.
fn log_format_from_env() -> Option<LogFormat> {
    match std::env::var("TAP_BITBUCKET_LOG_FORMAT").as_deref() {
        Ok("json") => Some(LogFormat::Json),
        Ok("text") => Some(LogFormat::Text),
        _ => None,
    }
}

impl From<LogFormatArg> for LogFormat {
    fn from(arg: LogFormatArg) -> LogFormat {
        match arg {
            LogFormatArg::Json => LogFormat::Json,
            LogFormatArg::Text => LogFormat::Text,
        }
    }
}

/// A clap error as one line: its message and tips, then where to look, without the usage
/// block (`--help` prints it).
fn clap_one_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let mut parts: Vec<String> = Vec::new();
    for line in rendered.lines().map(str::trim) {
        if line.is_empty() || line.starts_with("Usage:") || line.starts_with("For more information") {
            continue;
        }
        let line = line.strip_prefix("error:").unwrap_or(line).trim();
        if !line.is_empty() {
            parts.push(line.to_string());
        }
    }
    // A line ending in a colon introduces the lines after it (clap's list of missing
    // arguments): those join with a space, the rest with a semicolon.
    let mut text = String::new();
    for part in &parts {
        if !text.is_empty() {
            text.push_str(if text.ends_with(':') { " " } else { "; " });
        }
        text.push_str(part);
    }
    if text.is_empty() {
        text = "the command line cannot be read".into();
    }
    text.push_str("; `tap-bitbucket --help` lists every option");
    text
}

/// The run itself; `format` is the log format once known (the command line or environment
/// first, else the config's `log_format`), so that a failure is reported in it.
fn run(cli: Cli, format: &mut Option<LogFormat>) -> Result<(), Error> {
    if cli.about {
        // Needs no config: it describes the settings rather than reading them.
        return about::print(cli.format.unwrap_or_default());
    }
    if cli.config.is_empty() && !cli.discover {
        return Err(Error::Usage(NO_CONFIG.into()));
    }
    let (settings, unknown_keys) = Settings::load(&cli.config)?;
    for secret in settings.credentials.iter().flat_map(|c| c.secrets()) {
        crate::redact::register(&secret);
    }
    let chosen = *format.get_or_insert(settings.log_format);
    // The connection test prints a summary, not a sync's metric points.
    logging::init(chosen, !cli.test);
    for key in unknown_keys {
        tracing::warn!("Unknown config key {key} is ignored (a typo?); `--about` lists the settings.");
    }

    let descriptions = streams::descriptions();
    if cli.discover {
        if let Some(path) = cli.catalog_path() {
            tracing::warn!(
                "`--discover` prints the catalog and ignores `{}`; pass it to a sync instead.",
                path.display()
            );
        }
        // Indented: Meltano reads discovery output line by line, 64 KiB at most per line.
        let catalog = serde_json::to_string_pretty(&discover(&descriptions))
            .map_err(|e| Error::Internal(format!("cannot serialize the catalog: {e}")))?
            + "\n";
        let mut out = std::io::stdout().lock();
        out.write_all(catalog.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Error::from_stdout(e.into(), "discovery"))?;
        return Ok(());
    }

    let selection = match cli.catalog_path() {
        Some(path) => {
            let selection = Selection::from_catalog_file(path, &descriptions)?;
            if selection.is_empty() {
                tracing::warn!(
                    "The catalog `{}` selects no stream, so there is nothing to sync. Select a stream with \
                     `\"selected\": true` in its stream-level metadata (the entry whose `breadcrumb` is `[]`), \
                     or leave `selected` out where `selected-by-default` is true (the catalog `--discover` \
                     prints selects the default streams as it is); with Meltano, `select:` in meltano.yml. \
                     Without `--catalog`, the streams selected by default are synced.",
                    path.display()
                );
            }
            selection
        }
        None => Selection::by_default(&descriptions),
    };
    let state = match &cli.state {
        Some(path) => State::load(path, &streams::names())?,
        None => State::default(),
    };
    settings.require_credentials()?;

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
