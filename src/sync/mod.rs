//! A sync: list the partitions, run each selected stream's reader over them (concurrently,
//! up to `max_concurrency`), and let the one writer put SCHEMA, RECORD and STATE on stdout.
//!
//! Order guarantees: streams run one after the other in registry order, SCHEMA first; within
//! a stream, each partition's pages keep their order and its bookmark follows its records
//! through the same channel, so every STATE covers exactly what was written before it. On a
//! fatal error or a signal the readers stop, the writer drains what was sent, and a last
//! STATE is written.

mod partitions;
mod window;

use std::io::BufWriter;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use crate::bitbucket::{ApiError, Client, ClientOptions};
use crate::config::Settings;
use crate::error::Error;
use crate::singer::{Emitter, Output, Selection, State, Writer};
use crate::streams::{self, Partition, PartitionRun, RepositoryInfo, Scope, StreamDef, StreamError};

pub use partitions::{list_repositories, list_workspaces, RepositoryFilter};
pub use window::{bbql_datetime, format_bookmark, Window, WindowRules};

/// Pages buffered between the readers and the writer: enough to keep both busy, small
/// enough that memory stays bounded by page size × concurrency.
const CHANNEL_PAGES: usize = 16;

/// Runs a sync of the selection, starting from `state`.
pub async fn run(settings: Settings, selection: Selection, state: State) -> Result<(), Error> {
    let started = Instant::now();
    let now = Utc::now();
    let settings = Arc::new(settings);
    let credentials = settings.require_credentials()?;
    if let crate::bitbucket::Credentials::Basic {
        legacy_app_password: true,
        ..
    } = credentials
    {
        tracing::warn!(
            "`username` + `app_password` is deprecated: Bitbucket removed app passwords on 2026-07-28. Use `email` + `api_token`."
        );
    }
    let client = Arc::new(Client::new(client_options(&settings)?)?);

    // Readers compute their windows from the state as it was at the start; the writer owns
    // the live copy.
    let initial = state.clone();
    let (tx, rx) = mpsc::channel::<Output>(CHANNEL_PAGES.max(settings.max_concurrency * 2));
    let writer = tokio::task::spawn_blocking(move || {
        let stdout = std::io::stdout();
        let mut writer = Writer::new(BufWriter::with_capacity(1 << 16, stdout.lock()), state);
        let drained = writer.run(rx);
        // Whatever happened upstream, end with a STATE covering exactly what was written.
        let last = writer.write_state();
        drained.and(last).map(|()| writer.counts().clone())
    });

    let plan = Plan {
        settings: settings.clone(),
        client,
        selection,
        initial,
        now,
        tx,
    };
    let result = tokio::select! {
        result = plan.execute() => result,
        signal = shutdown_signal() => Err(Error::Interrupted(signal)),
    };
    // Dropping the plan drops the last sender, so the writer drains and closes.
    drop(plan);
    let written = writer
        .await
        .map_err(|e| Error::Internal(format!("the stdout writer crashed: {e}")))?;
    let counts = match (result, written) {
        (Err(e), _) => return Err(e),
        (Ok(()), Err(e)) => return Err(Error::Write(e)),
        (Ok(()), Ok(counts)) => counts,
    };
    let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{s}={n}")).collect();
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        "Sync finished: {}.",
        if summary.is_empty() {
            "no records".to_string()
        } else {
            summary.join(", ")
        }
    );
    Ok(())
}

fn client_options(settings: &Settings) -> Result<ClientOptions, Error> {
    let credentials = settings.require_credentials()?;
    Ok(ClientOptions {
        api_url: settings.api_url.clone(),
        credentials: clone_credentials(credentials),
        user_agent: settings.user_agent.clone(),
        timeout: settings.request_timeout,
        max_retries: settings.max_retries,
        backoff_max: settings.backoff_max,
        max_concurrency: settings.max_concurrency,
        requests_per_hour: settings.requests_per_hour,
    })
}

fn clone_credentials(c: &crate::bitbucket::Credentials) -> crate::bitbucket::Credentials {
    use crate::bitbucket::Credentials;
    match c {
        Credentials::Bearer(t) => Credentials::Bearer(t.clone()),
        Credentials::Basic {
            username,
            password,
            legacy_app_password,
        } => Credentials::Basic {
            username: username.clone(),
            password: password.clone(),
            legacy_app_password: *legacy_app_password,
        },
        Credentials::OAuth {
            client_id,
            client_secret,
            refresh_token,
        } => Credentials::OAuth {
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            refresh_token: refresh_token.clone(),
        },
    }
}

async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
        else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

struct Plan {
    settings: Arc<Settings>,
    client: Arc<Client>,
    selection: Selection,
    initial: State,
    now: DateTime<Utc>,
    tx: mpsc::Sender<Output>,
}

impl Plan {
    async fn execute(&self) -> Result<(), Error> {
        let workspaces = list_workspaces(&self.client, &self.settings).await?;
        let mut repositories: Option<Vec<RepositoryInfo>> = None;
        let rules = WindowRules {
            start_date: self.settings.start_date,
            days_back: self.settings.days_back,
            end_date: self.settings.end_date,
        };
        for selected in &self.selection.streams {
            let Some(def) = streams::find(selected.name) else {
                return Err(Error::Internal(format!(
                    "stream `{}` is not in the registry",
                    selected.name
                )));
            };
            let emitter = Emitter::new(self.tx.clone(), def.name, selected.deselected.clone());
            let schema = selected.schema(&(def.schema)());
            emitter
                .schema(&schema, def.key_properties, def.replication_key)
                .await
                .map_err(Error::Write)?;
            let partitions: Vec<Partition> = match def.scope {
                Scope::Workspace => workspaces.iter().cloned().map(Partition::Workspace).collect(),
                Scope::Repository => {
                    if repositories.is_none() {
                        repositories =
                            Some(list_repositories(&self.client, &self.settings, &workspaces).await?);
                    }
                    repositories
                        .iter()
                        .flatten()
                        .cloned()
                        .map(Partition::Repository)
                        .collect()
                }
            };
            self.run_stream(def, &emitter, partitions, &rules).await?;
        }
        Ok(())
    }

    /// Runs one stream over its partitions, up to `max_concurrency` at once. A partition the
    /// credential may not read is skipped with a warning; anything else stops the run.
    async fn run_stream(
        &self,
        def: &'static StreamDef,
        emitter: &Emitter,
        partitions: Vec<Partition>,
        rules: &WindowRules,
    ) -> Result<(), Error> {
        let started = Instant::now();
        let limit = Arc::new(Semaphore::new(self.settings.max_concurrency));
        let mut tasks: JoinSet<(String, Result<(), StreamError>)> = JoinSet::new();
        for partition in partitions {
            let context = partition.context();
            let bookmark = def.replication_key.and_then(|_| {
                self.initial
                    .bookmark(def.name, &context)
                    .and_then(crate::config::parse_date_or_datetime)
            });
            let run = PartitionRun {
                client: self.client.clone(),
                settings: self.settings.clone(),
                window: rules.window(bookmark, self.now),
                partition,
                context,
                emitter: emitter.clone(),
            };
            let permit = limit
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| Error::Internal(e.to_string()))?;
            let label = run.context.label();
            tracing::debug!(stream = def.name, partition = %label, window = ?run.window.lower, "Reading partition.");
            tasks.spawn(async move {
                let result = (def.read)(run).await;
                drop(permit);
                (label, result)
            });
            while let Some(done) = tasks.try_join_next() {
                settle(def, done)?;
            }
        }
        while let Some(done) = tasks.join_next().await {
            settle(def, done)?;
        }
        tracing::info!(
            stream = def.name,
            seconds = started.elapsed().as_secs_f64(),
            "Stream finished."
        );
        Ok(())
    }
}

/// Turns a finished partition into a warning (skipped) or a fatal error.
fn settle(
    def: &StreamDef,
    done: Result<(String, Result<(), StreamError>), tokio::task::JoinError>,
) -> Result<(), Error> {
    let (label, result) =
        done.map_err(|e| Error::Internal(format!("a reader of `{}` crashed: {e}", def.name)))?;
    match result {
        Ok(()) => Ok(()),
        Err(StreamError::Api(e)) => match skip_reason(&e) {
            Some(reason) => {
                tracing::warn!(stream = def.name, partition = %label, "Skipping `{}` for {label}: {reason} ({e}).", def.name);
                Ok(())
            }
            None => Err(Error::Api(e)),
        },
        Err(StreamError::Write(e)) => Err(Error::Write(e)),
        Err(StreamError::Internal(e)) => Err(Error::Internal(e)),
    }
}

/// Why a failed partition may be skipped rather than stop the run (spec §3, "When an
/// endpoint says no"), or `None` when it must stop the run.
fn skip_reason(e: &ApiError) -> Option<&'static str> {
    match e.status()? {
        403 => Some("this credential may not read it"),
        404 | 409 => Some("it does not exist (any more) or is empty"),
        410 => Some("Bitbucket removed this endpoint"),
        _ => None,
    }
}
