//! Logs on stderr (never stdout, which is the protocol): human-readable by default, JSON
//! lines with `--log-format json`. The level comes from `TAP_BITBUCKET_LOGLEVEL`, else
//! `RUST_LOG`, else `info`.
//!
//! Metric events ([`crate::metrics`]) get their own shape in both formats: exactly
//! `INFO METRIC: {…}` in text mode, the form Singer tools look for, and
//! `{"timestamp":…,"level":"INFO","message":"METRIC","metric":{…}}` in JSON mode, so every
//! line stays one JSON object with the point as an object rather than a quoted string.

use std::fmt;

use chrono::{SecondsFormat, Utc};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::metrics;

/// Installs the global logger, with or without the Singer metric lines. Safe to call once
/// per process.
pub fn init(format: LogFormat, with_metrics: bool) {
    let mut filter = std::env::var("TAP_BITBUCKET_LOGLEVEL")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .map(|level| level.to_ascii_lowercase())
        .and_then(|level| EnvFilter::try_new(level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    if !with_metrics {
        if let Ok(off) = format!("{}=off", metrics::TARGET).parse() {
            filter = filter.add_directive(off);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| crate::redact::RedactingStderr);
    let _ = match format {
        LogFormat::Json => builder
            .fmt_fields(format::JsonFields::new())
            .event_format(WithMetrics {
                inner: event_format().json().flatten_event(true),
                json: true,
            })
            .try_init(),
        LogFormat::Text => builder
            .with_ansi(false)
            .event_format(WithMetrics {
                inner: event_format().with_ansi(false),
                json: false,
            })
            .try_init(),
    };
}

/// The failure line of a run in JSON mode: an `ERROR` event in the shape of every other log
/// line, with the process exit code. Written directly rather than through the logger, so
/// that no level filter (`TAP_BITBUCKET_LOGLEVEL=off`) can hide why the run failed.
pub fn json_error_line(message: &str, exit_code: u8) -> String {
    let timestamp = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    let message = serde_json::Value::from(message);
    format!(r#"{{"timestamp":"{timestamp}","level":"ERROR","message":{message},"exit_code":{exit_code}}}"#)
}

/// The event format of both modes, without the target (module paths mean nothing to users).
fn event_format() -> format::Format {
    format::Format::default().with_target(false)
}

/// An event format that writes metric events in the Singer shape and hands every other
/// event to `inner`.
struct WithMetrics<F> {
    inner: F,
    json: bool,
}

impl<S, N, F> FormatEvent<S, N> for WithMetrics<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if event.metadata().target() == metrics::TARGET {
            let mut point = MetricField(None);
            event.record(&mut point);
            if let Some(point) = point.0 {
                return if self.json {
                    let timestamp = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
                    writeln!(
                        writer,
                        r#"{{"timestamp":"{timestamp}","level":"INFO","message":"METRIC","metric":{point}}}"#
                    )
                } else {
                    writeln!(writer, "INFO METRIC: {point}")
                };
            }
        }
        self.inner.format_event(ctx, writer, event)
    }
}

/// Picks the metric point's JSON out of a metric event.
struct MetricField(Option<String>);

impl Visit for MetricField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == metrics::FIELD {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn fmt::Debug) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_error_line_is_one_json_object_with_the_text_and_code() {
        let line = json_error_line("tap-bitbucket: error: a \"quoted\" `key`\tand more", 2);
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["level"], "ERROR");
        assert_eq!(
            value["message"],
            "tap-bitbucket: error: a \"quoted\" `key`\tand more"
        );
        assert_eq!(value["exit_code"], 2);
        assert!(value["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
}
