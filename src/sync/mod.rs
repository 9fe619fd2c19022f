//! A sync: list the partitions, run each selected stream's reader over them (concurrently,
//! up to `max_concurrency`), and let the one writer put SCHEMA, RECORD and STATE on stdout.
//!
//! Order guarantees: streams run one after the other in registry order, SCHEMA first; within
//! a stream, each partition's pages keep their order and its bookmark follows its records
//! through the same channel, so every STATE covers exactly what was written before it. On a
//! fatal error or a signal the readers stop, the writer drains what was sent, and a last
//! STATE is written.

mod check;
mod closed_stdout;
mod partitions;
mod refusal;
mod shard;

use std::collections::HashSet;
use std::io::BufWriter;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use crate::bitbucket::{Client, ClientOptions};
use crate::config::Settings;
use crate::error::Error;
use crate::metrics;
use crate::singer::{Context, Deselected, Emitter, Output, Selection, State, WriteError, Writer};
use crate::streams::{
    self, Partition, PartitionRun, RepositoryInfo, Scope, StreamDef, StreamError, StreamRun,
};
use crate::window::{Window, WindowRules};
use refusal::Verdict;

pub use check::{check, Outcome};
pub use partitions::{list_repositories, list_workspaces};
pub use shard::{repository_shard, Shard};

/// How often a long sync logs its progress (records so far per running stream).
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Pages buffered between the readers and the writer, whatever `max_concurrency` is. Writing
/// a page is much cheaper than fetching it, so a few absorb the bursts; a reader that finds
/// the buffer full waits holding its one page. Memory is thus bounded by
/// (`max_concurrency` + this) pages.
const CHANNEL_PAGES: usize = 8;

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
    let (tx, rx) = mpsc::channel::<Output>(CHANNEL_PAGES);
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
        closed_repositories: Mutex::default(),
        progress: metrics::Progress::new(),
    };
    let ticker = plan.progress.every(PROGRESS_EVERY);
    // Requests made outside partitions (the listings) are counted here.
    let listing = metrics::Tally::unpartitioned();
    let result = tokio::select! {
        result = listing.scope(plan.execute()) => result,
        signal = shutdown_signal() => Err(Error::Interrupted(signal)),
        () = closed_stdout::closed() => Err(Error::StdoutClosed("sync")),
    };
    drop(ticker);
    listing.finish();
    // Dropping the plan drops the last sender, so the writer drains and closes.
    drop(plan);
    let written = writer
        .await
        .map_err(|e| Error::Internal(format!("the stdout writer crashed: {e}")))?;
    metrics::sync_finished(started.elapsed(), result.is_ok() && written.is_ok());
    let counts = match (result, written) {
        (Ok(()), Ok(counts)) => counts,
        // When the writer failed, readers only saw its channel close: the writer's error is
        // the cause (a closed stdout, a full disk).
        (Ok(()) | Err(Error::Write(WriteError::Closed)), Err(e)) => {
            return Err(Error::from_stdout(e, "sync"))
        }
        (Err(e), _) => return Err(e),
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
        oauth_token_url: settings.oauth_token_url.clone(),
        user_agent: settings.user_agent.clone(),
        timeout: settings.request_timeout,
        max_retries: settings.max_retries,
        backoff_max: settings.backoff_max,
        max_concurrency: settings.max_concurrency,
        requests_per_hour: settings.requests_per_hour,
        max_response_bytes: settings.max_response_bytes,
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
    /// UUIDs of the repositories a stream found closed to the credential (403): no later
    /// stream of the run requests them.
    closed_repositories: Mutex<HashSet<String>>,
    /// The running streams, for progress lines.
    progress: Arc<metrics::Progress>,
}

/// One selected stream of a family, as the plan runs it.
struct Member {
    def: &'static StreamDef,
    deselected: Deselected,
    /// The table version stamped on its RECORDs (FULL_TABLE streams with `activate_version`).
    version: Option<u64>,
}

/// One stream's start in one partition, before its emitter exists.
struct StreamStart {
    name: &'static str,
    window: Window,
    stored: serde_json::Map<String, serde_json::Value>,
    deselected: Deselected,
    version: Option<u64>,
}

impl StreamStart {
    /// The stream's run, writing to `tx`.
    fn run(self, tx: &mpsc::Sender<Output>) -> StreamRun {
        StreamRun {
            name: self.name,
            window: self.window,
            emitter: Emitter::new(tx.clone(), self.name, self.deselected).with_version(self.version),
            stored: self.stored,
        }
    }
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
        for family in self.families()? {
            let lead = family[0].def;
            for member in &family {
                let def = member.def;
                let emitter = Emitter::new(self.tx.clone(), def.name, member.deselected.clone());
                let schema = crate::singer::StreamSelection {
                    name: def.name,
                    deselected: member.deselected.clone(),
                }
                .schema(&(def.schema)());
                emitter
                    .schema(&schema, def.key_properties, def.replication_key)
                    .await
                    .map_err(Error::Write)?;
            }
            // Streams that are not per repository run in shard 0 only.
            let shard = Shard::of(&self.settings);
            // Repositories an earlier stream found closed are not requested; for a table
            // version they count as skipped partitions (activating would drop their rows).
            let mut closed = 0;
            let partitions: Vec<Partition> = match lead.scope {
                Scope::Workspace | Scope::Global if !shard.owns_unsharded() => Vec::new(),
                Scope::Workspace => workspaces.iter().cloned().map(Partition::Workspace).collect(),
                Scope::Global => vec![Partition::Global],
                Scope::Repository => {
                    if repositories.is_none() {
                        repositories =
                            Some(list_repositories(&self.client, &self.settings, &workspaces).await?);
                    }
                    let listed = repositories.iter().flatten();
                    closed = listed.clone().filter(|repo| self.is_closed(repo)).count();
                    listed
                        .filter(|repo| !self.is_closed(repo))
                        .cloned()
                        .map(Partition::Repository)
                        .collect()
                }
            };
            self.run_family(&family, partitions, closed, &rules).await?;
        }
        Ok(())
    }

    /// The selected streams grouped by family, in registry order (a family where its first
    /// selected member is), each family led by the reader of its lead stream.
    fn families(&self) -> Result<Vec<Vec<Member>>, Error> {
        let mut families: Vec<Vec<Member>> = Vec::new();
        for selected in &self.selection.streams {
            let Some(def) = streams::find(selected.name) else {
                return Err(Error::Internal(format!(
                    "stream `{}` is not in the registry",
                    selected.name
                )));
            };
            // FULL_TABLE streams may carry a table version, activated once every partition
            // was read whole: activating after a skipped partition would drop its rows. Not
            // for a repository stream read in shards: each shard's version would drop the
            // rows of the others.
            let sharded = Shard::of(&self.settings).is_sharded() && def.scope == Scope::Repository;
            let version = (self.settings.activate_version && def.replication_key.is_none() && !sharded)
                .then(|| self.now.timestamp_millis().max(0) as u64);
            if self.settings.activate_version && def.replication_key.is_none() && sharded {
                tracing::warn!(
                    stream = def.name,
                    "Not sending ACTIVATE_VERSION for `{}`: with `shard_count`, each shard reads only some repositories, and activating its version would drop the rows of the others.",
                    def.name
                );
            }
            let member = Member {
                def,
                deselected: selected.deselected.clone(),
                version,
            };
            match families.iter_mut().find(|f| f[0].def.family() == def.family()) {
                Some(family) => family.push(member),
                None => families.push(vec![member]),
            }
        }
        Ok(families)
    }

    /// What one stream of a family starts from in one partition: its window and stored state
    /// entry.
    fn stream_start(&self, member: &Member, context: &Context, rules: &WindowRules) -> StreamStart {
        let def = member.def;
        let stored = if context.as_map().is_empty() {
            self.initial.stream_entry(def.name)
        } else {
            self.initial.partition_entry(def.name, context)
        }
        .cloned()
        .unwrap_or_default();
        let bookmark = def.replication_key.and_then(|_| {
            stored
                .get("replication_key_value")
                .and_then(serde_json::Value::as_str)
                .and_then(crate::config::parse_date_or_datetime)
        });
        StreamStart {
            name: def.name,
            window: rules.window(bookmark, self.now),
            stored,
            deselected: member.deselected.clone(),
            version: member.version,
        }
    }

    /// Runs one family over its partitions, up to `max_concurrency` at once, every selected
    /// stream of the family read in one pass per partition by the lead's reader. A partition
    /// the credential may not read is skipped with a warning; anything else stops the run.
    /// `closed` counts the repositories left out because an earlier stream found them closed.
    async fn run_family(
        &self,
        family: &[Member],
        partitions: Vec<Partition>,
        closed: usize,
        rules: &WindowRules,
    ) -> Result<(), Error> {
        let lead = family[0].def;
        // The streams being read, as warnings name them.
        let shown = family.iter().map(|m| m.def.name).collect::<Vec<_>>().join("`, `");
        let read = streams::find(lead.family()).map_or(lead.read, |def| def.read);
        let started = Instant::now();
        let progress: Vec<Arc<metrics::StreamProgress>> = family
            .iter()
            .map(|m| self.progress.start(m.def.name, partitions.len()))
            .collect();
        let limit = Arc::new(Semaphore::new(self.settings.max_concurrency));
        let mut tasks: JoinSet<(Partition, Result<(), StreamError>)> = JoinSet::new();
        // Set by the first partition whose endpoint answered 410, before it frees its permit:
        // the family's other partitions are not requested.
        let gone = Arc::new(AtomicBool::new(false));
        // Whether that removal was warned about (once per family).
        let mut removal_warned = false;
        let mut skipped = closed;
        for partition in partitions {
            let context = partition.context();
            let settled = partition.clone();
            let permit = limit
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| Error::Internal(e.to_string()))?;
            if gone.load(Ordering::SeqCst) {
                break;
            }
            // Each partition's requests and records are counted on their own (metrics).
            let tally = metrics::Tally::partition(&progress, context.as_map().clone());
            let tx = self.tx.clone();
            let task_gone = gone.clone();
            let starts: Vec<StreamStart> = family
                .iter()
                .map(|m| self.stream_start(m, &context, rules))
                .collect();
            let base = (self.client.clone(), self.settings.clone(), partition, context);
            tracing::debug!(stream = lead.name, partition = %base.3.label(), "Reading partition.");
            tasks.spawn(async move {
                let result = metrics::metered(&tally, &tx, |partition_tx| {
                    // Each stream writes through the partition's own (counted) channel.
                    let mut members = starts.into_iter().map(|start| start.run(&partition_tx));
                    let (client, settings, partition, context) = base;
                    match members.next() {
                        Some(first) => read(PartitionRun {
                            client,
                            settings,
                            partition,
                            context,
                            first,
                            rest: members.collect(),
                        }),
                        None => Box::pin(async { Ok(()) }),
                    }
                })
                .await;
                if matches!(&result, Err(StreamError::Api(e)) if e.status() == Some(410)) {
                    task_gone.store(true, Ordering::SeqCst);
                }
                drop(permit);
                (settled, result)
            });
            while let Some(done) = tasks.try_join_next() {
                skipped += usize::from(!self.settle(lead, &shown, done, &mut removal_warned)?);
            }
        }
        while let Some(done) = tasks.join_next().await {
            skipped += usize::from(!self.settle(lead, &shown, done, &mut removal_warned)?);
        }
        for member in family {
            let Some(version) = member.version else { continue };
            if skipped == 0 && !gone.load(Ordering::SeqCst) {
                Emitter::new(self.tx.clone(), member.def.name, Deselected::default())
                    .activate_version(version)
                    .await
                    .map_err(Error::Write)?;
            } else {
                tracing::warn!(
                    stream = member.def.name,
                    "Not sending ACTIVATE_VERSION for `{}`: {skipped} partition(s) were skipped, and activating would drop their rows.",
                    member.def.name
                );
            }
        }
        for (member, progress) in family.iter().zip(&progress) {
            self.progress.end(progress);
            tracing::info!(
                stream = member.def.name,
                seconds = started.elapsed().as_secs_f64(),
                "Stream finished."
            );
        }
        Ok(())
    }

    /// Turns a finished partition into nothing (read: `true`), a skip with a warning
    /// (`false`), or a fatal error, by the policy of [`refusal`] (spec §3, "When an endpoint
    /// says no").
    /// `removal_warned` is set once the stream's 410 was warned about, so that it is warned
    /// about once.
    fn settle(
        &self,
        def: &StreamDef,
        shown: &str,
        done: Result<(Partition, Result<(), StreamError>), tokio::task::JoinError>,
        removal_warned: &mut bool,
    ) -> Result<bool, Error> {
        let (partition, result) =
            done.map_err(|e| Error::Internal(format!("a reader of `{}` crashed: {e}", def.name)))?;
        let error = match result {
            Ok(()) => return Ok(true),
            Err(StreamError::Api(e)) => e,
            Err(StreamError::Write(e)) => return Err(Error::Write(e)),
            Err(StreamError::Internal(e)) => return Err(Error::Internal(e)),
        };
        let credential = self
            .settings
            .credentials
            .as_ref()
            .map_or("credential", |c| c.kind());
        let label = partition.context().label();
        // Refusals are judged by the family's endpoint, which its lead stream names.
        match refusal::judge(def.family(), shown, &partition, &error, credential) {
            Verdict::Fatal => {
                return Err(Error::Stream {
                    stream: shown.to_string(),
                    partition: if label.is_empty() {
                        "the user".into()
                    } else {
                        label
                    },
                    source: Box::new(error),
                })
            }
            Verdict::SkipQuietly(note) => tracing::debug!(stream = def.name, partition = %label, "{note}"),
            Verdict::Skip(warning) => tracing::warn!(stream = def.name, partition = %label, "{warning}"),
            Verdict::CloseRepository(warning) => {
                if let Partition::Repository(repo) = &partition {
                    self.closed_repositories
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(repo.uuid.clone());
                }
                tracing::warn!(stream = def.name, partition = %label, "{warning}");
            }
            Verdict::Removed(warning) if !*removal_warned => {
                *removal_warned = true;
                tracing::warn!(stream = def.name, "{warning}");
            }
            Verdict::Removed(_) => {}
        }
        Ok(false)
    }

    /// Whether an earlier stream found this repository closed to the credential.
    fn is_closed(&self, repo: &RepositoryInfo) -> bool {
        self.closed_repositories
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&repo.uuid)
    }
}
