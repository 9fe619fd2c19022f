//! Logs on stderr (never stdout, which is the protocol): human-readable by default, JSON
//! lines with `--log-format json`. The level comes from `TAP_BITBUCKET_LOGLEVEL`, else
//! `RUST_LOG`, else `info`.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global logger. Safe to call once per process.
pub fn init(format: LogFormat) {
    let filter = std::env::var("TAP_BITBUCKET_LOGLEVEL")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .map(|level| level.to_ascii_lowercase())
        .and_then(|level| EnvFilter::try_new(level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}
