//! `--test`, the connection test: the sync's own partition listing and readers, each selected
//! stream reading one page of one partition, with every message discarded.
//!
//! The first request checks the credentials (it lists the workspaces, as a sync does). Each
//! stream then reads partitions in order until one answers: its emitter is built with
//! [`Emitter::stop_after_one_page`], so the reader stops after its first page, whatever its
//! kind (keyset, newest-first, plain pages). A partition the sync would skip (403, 404, 409,
//! 410) is tried on the next one, up to [`PARTITIONS_TRIED`]; when none answers, the stream
//! is reported skipped with the reason. Nothing is written on stdout; the summary goes to
//! stderr, and any failure makes the run end with an error naming the streams that failed.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::refusal::{judge, Verdict};
use super::{client_options, list_repositories, list_workspaces};
use crate::bitbucket::{Client, Credentials};
use crate::config::Settings;
use crate::error::Error;
use crate::singer::{Deselected, Emitter, Output, Selection, State, WriteError, Writer};
use crate::streams::{
    self, Partition, PartitionRun, RepositoryInfo, Scope, StreamDef, StreamError, StreamRun,
};
use crate::window::WindowRules;

/// How many partitions of one stream are tried before it is reported skipped.
pub const PARTITIONS_TRIED: usize = 3;

/// What the connection test found for one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A page was read.
    Ok {
        /// The partition it was read from (`None` for a stream without partitions).
        partition: Option<String>,
        /// Records on that page.
        records: u64,
    },
    /// No partition could be read, for a reason a sync would skip too.
    Skipped {
        /// The partitions tried, all refused.
        partition: Option<String>,
        /// Why.
        reason: String,
    },
    /// The stream cannot be read: a sync would stop here.
    Failed {
        /// The partition that failed.
        partition: Option<String>,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |p: &Option<String>| p.as_ref().map(|p| format!(" ({p})")).unwrap_or_default();
        match self {
            Outcome::Ok { partition, records } => {
                let s = if *records == 1 { "" } else { "s" };
                let of = partition.as_ref().map(|p| format!(" of {p}")).unwrap_or_default();
                write!(f, "ok: {records} record{s} on the first page{of}")
            }
            Outcome::Skipped { partition, reason } => write!(f, "skipped{}: {reason}", at(partition)),
            // The reason is on the run's last line (once).
            Outcome::Failed { partition, .. } => {
                write!(f, "failed{} (the last line says why)", at(partition))
            }
        }
    }
}

/// Runs the connection test of the selection: nothing on stdout, a summary on stderr, and
/// an error naming every stream that failed (or the credentials).
pub async fn check(settings: Settings, selection: Selection) -> Result<(), Error> {
    let settings = Arc::new(settings);
    let credentials = settings.require_credentials()?;
    let kind = credentials.kind();
    let credential = describe(credentials);
    let client = Arc::new(Client::new(client_options(&settings)?)?);

    let workspaces = match list_workspaces(&client, &settings).await {
        Ok(list) => list,
        Err(e) => {
            eprint_line(&format!(
                "tap-bitbucket --test: connection test against {}",
                settings.api_url
            ));
            eprint_line(&format!(
                "  {:<24} failed (the last line says why)",
                "credentials"
            ));
            eprint_line("tap-bitbucket --test: no stream was tried");
            // The sync's own error (and exit code): it names the credential or workspace, once,
            // as the run's last line.
            return Err(e);
        }
    };
    let slugs: Vec<&str> = workspaces.iter().map(|w| w.slug.as_str()).collect();
    // The summary is printed as one block at the end, after the readers' log lines.
    let credentials_line = format!(
        "  {:<24} ok: {credential}; workspaces: {}",
        "credentials",
        slugs.join(", ")
    );

    // Every message goes through the sync's writer, into nothing.
    let (tx, rx) = mpsc::channel::<Output>(16);
    let writer = tokio::task::spawn_blocking(move || {
        let mut writer = Writer::new(std::io::sink(), State::default());
        let _ = writer.run(rx);
        writer.counts().clone()
    });

    let probe = Probe {
        client: client.clone(),
        settings: settings.clone(),
        rules: WindowRules {
            start_date: settings.start_date,
            days_back: settings.days_back,
            end_date: settings.end_date,
        },
        now: Utc::now(),
        tx,
        kind,
    };
    let mut repositories: Option<Result<Vec<RepositoryInfo>, String>> = None;
    let mut results: Vec<(&'static str, Outcome)> = Vec::new();
    for selected in &selection.streams {
        let Some(def) = streams::find(selected.name) else {
            continue;
        };
        let partitions: Result<Vec<Partition>, String> = match def.scope {
            Scope::Workspace => Ok(workspaces.iter().cloned().map(Partition::Workspace).collect()),
            Scope::Global => Ok(vec![Partition::Global]),
            Scope::Repository => {
                let listed = match &repositories {
                    Some(listed) => listed.clone(),
                    None => {
                        let listed = list_repositories(&client, &settings, &workspaces)
                            .await
                            .map_err(|e| format!("cannot list the repositories: {e}"));
                        repositories = Some(listed.clone());
                        listed
                    }
                };
                listed.map(|list| list.into_iter().map(Partition::Repository).collect())
            }
        };
        let outcome = match partitions {
            Err(reason) => Outcome::Failed {
                partition: None,
                reason,
            },
            Ok(partitions) => probe.stream(def, selected.deselected.clone(), partitions).await,
        };
        results.push((def.name, outcome));
    }
    drop(probe);
    let counts = writer
        .await
        .map_err(|e| Error::Internal(format!("the connection test's writer crashed: {e}")))?;

    eprint_line(&format!(
        "tap-bitbucket --test: connection test against {}",
        settings.api_url
    ));
    eprint_line(&credentials_line);
    let mut failed = Vec::new();
    let (mut ok, mut skipped) = (0, 0);
    for (name, outcome) in &mut results {
        match outcome {
            Outcome::Ok { records, .. } => {
                *records = counts.get(name).copied().unwrap_or(0);
                ok += 1;
            }
            Outcome::Skipped { .. } => skipped += 1,
            Outcome::Failed { partition, reason } => {
                let at = partition.as_ref().map(|p| format!("{p}: ")).unwrap_or_default();
                failed.push(format!("`{name}` ({at}{reason})"));
            }
        }
        eprint_line(&format!("  {name:<24} {outcome}"));
    }
    eprint_line(&format!(
        "tap-bitbucket --test: {ok} ok, {skipped} skipped, {} failed",
        failed.len()
    ));
    if failed.is_empty() {
        Ok(())
    } else {
        // The rows above say which failed; the last line says why, once each, with the
        // status and endpoint.
        Err(Error::Fatal(format!(
            "connection test failed: {}",
            failed.join("; ")
        )))
    }
}

/// What each stream's test shares.
struct Probe {
    client: Arc<Client>,
    settings: Arc<Settings>,
    rules: WindowRules,
    now: DateTime<Utc>,
    tx: mpsc::Sender<Output>,
    kind: &'static str,
}

impl Probe {
    /// Reads one page of the first partition that answers, trying up to
    /// [`PARTITIONS_TRIED`] of them.
    async fn stream(
        &self,
        def: &'static StreamDef,
        deselected: Deselected,
        partitions: Vec<Partition>,
    ) -> Outcome {
        let mut outcome = Outcome::Skipped {
            partition: None,
            reason: match def.scope {
                Scope::Workspace => "no workspace to read".into(),
                Scope::Repository => "no repository matches the config".into(),
                Scope::Global => "nothing to read".into(),
            },
        };
        let mut places: Vec<String> = Vec::new();
        for partition in partitions.into_iter().take(PARTITIONS_TRIED) {
            let place = place(&partition);
            places.extend(place.clone());
            let tried = partition.clone();
            let run = PartitionRun {
                client: self.client.clone(),
                settings: self.settings.clone(),
                context: partition.context(),
                partition,
                first: StreamRun {
                    name: def.name,
                    window: self.rules.window(None, self.now),
                    emitter: Emitter::new(self.tx.clone(), def.name, deselected.clone())
                        .stop_after_one_page(),
                    stored: Default::default(),
                },
                rest: Vec::new(),
            };
            // A stream of a family is read by its family's reader, alone.
            let read = streams::find(def.family()).map_or(def.read, |lead| lead.read);
            outcome = match read(run).await {
                Ok(()) | Err(StreamError::Write(WriteError::PageLimit)) => {
                    return Outcome::Ok {
                        partition: place,
                        records: 0,
                    }
                }
                Err(StreamError::Api(e)) => match judge(def.family(), def.name, &tried, &e, self.kind) {
                    Verdict::Fatal => Outcome::Failed {
                        partition: place,
                        reason: e.to_string(),
                    },
                    // Gone for every partition: no point trying another.
                    Verdict::Removed(warning) => {
                        return Outcome::Skipped {
                            partition: None,
                            reason: warning,
                        }
                    }
                    Verdict::Skip(warning)
                    | Verdict::SkipQuietly(warning)
                    | Verdict::CloseRepository(warning) => Outcome::Skipped {
                        // Every partition tried so far was refused: name them all, so one
                        // name does not read as the only one affected.
                        partition: (!places.is_empty()).then(|| places.join(", ")),
                        reason: short_reason(def.name, &warning),
                    },
                },
                Err(e) => Outcome::Failed {
                    partition: place,
                    reason: e.to_string(),
                },
            };
            if matches!(outcome, Outcome::Failed { .. }) {
                return outcome;
            }
        }
        outcome
    }
}

/// The partition as the summary names it: `acme`, `acme/api`, or nothing.
fn place(partition: &Partition) -> Option<String> {
    match partition {
        Partition::Workspace(ws) => Some(ws.slug.clone()),
        Partition::Repository(repo) => Some(format!("{}/{}", repo.workspace, repo.slug)),
        Partition::Global => None,
    }
}

/// A sync's skip warning without its "Skipping `stream` for …:" lead, which the summary
/// line already says.
fn short_reason(stream: &str, warning: &str) -> String {
    warning
        .strip_prefix(&format!("Skipping `{stream}`"))
        .and_then(|rest| rest.split_once(": "))
        .map_or_else(|| warning.to_string(), |(_, reason)| reason.to_string())
}

/// A secret-free description of the credential.
fn describe(credentials: &Credentials) -> String {
    match credentials {
        Credentials::Basic { username, .. } => {
            format!("{} of {username} accepted", credentials.kind())
        }
        other => format!("{} accepted", other.kind()),
    }
}

fn eprint_line(text: &str) {
    crate::redact::write_stderr(&format!("{text}\n"));
}
