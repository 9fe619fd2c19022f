//! Singer metrics and progress lines, on stderr through the logger (never stdout, which is
//! the protocol).
//!
//! A metric is one log event with target [`TARGET`] whose `metric` field holds the point as
//! JSON; [`crate::logging`] prints it as `INFO METRIC: {…}` in text mode (the form Singer
//! tooling greps for) and as a JSON object with the point nested under `metric` in JSON mode.
//! The points:
//! - `http_request_duration` (timer, seconds): one per HTTP attempt, tagged with `endpoint`
//!   (the path, never the query), `http_status_code` (when there was an answer), `status`
//!   (`succeeded` or `failed`), and `stream` and `context` when a partition made it;
//! - `http_request_count` (counter): per endpoint, when the partition (or the run, for the
//!   requests made outside partitions) ends;
//! - `record_count` (counter): per stream and partition, when the partition ends;
//! - `sync_duration` (timer, seconds): once, at the end of the sync, with its `status`.
//!
//! Which partition a request belongs to travels as a task-local [`Tally`], so the HTTP
//! client needs no stream or context parameter. [`Progress`] logs, per running stream, the
//! records emitted so far, at a fixed interval.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::singer::Output;

/// The log target of metric events, which the logger formats specially.
pub const TARGET: &str = "tap_bitbucket::metrics";

/// The name of the field holding a metric point's JSON.
pub const FIELD: &str = "metric";

/// One Singer metric point.
#[derive(Debug, Serialize)]
struct Point<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    metric: &'static str,
    value: Value,
    tags: Tags<'a>,
}

/// The tags of a point; absent ones are left out.
#[derive(Debug, Default, Serialize)]
struct Tags<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_status_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a Map<String, Value>>,
}

fn timer(metric: &'static str, elapsed: Duration, tags: Tags<'_>) {
    emit(&Point {
        kind: "timer",
        metric,
        value: Value::from(elapsed.as_secs_f64()),
        tags,
    });
}

fn counter(metric: &'static str, value: u64, tags: Tags<'_>) {
    emit(&Point {
        kind: "counter",
        metric,
        value: Value::from(value),
        tags,
    });
}

fn emit(point: &Point<'_>) {
    if let Ok(json) = serde_json::to_string(point) {
        tracing::info!(target: TARGET, metric = json.as_str(), "METRIC");
    }
}

tokio::task_local! {
    /// The tally of the partition (or listing) the current task works for.
    static CURRENT: Arc<Tally>;
}

/// What one partition (or the run's listing requests) did: requests per endpoint and
/// records emitted per stream. Set as the current task's tally with [`Tally::scope`].
///
/// A partition read for a family of streams (a listing shared by several streams) has one
/// tally for all of them: its requests are tagged with the family's first stream, its records
/// counted per stream.
#[derive(Debug)]
pub struct Tally {
    /// The streams read in this partition, with their records so far (empty outside
    /// partitions).
    streams: Vec<(Arc<StreamProgress>, AtomicU64)>,
    context: Option<Map<String, Value>>,
    requests: Mutex<BTreeMap<String, u64>>,
}

impl Tally {
    /// The tally of one partition of the `streams` read together, whose state context is
    /// `context`.
    pub fn partition(streams: &[Arc<StreamProgress>], context: Map<String, Value>) -> Arc<Tally> {
        Arc::new(Tally {
            streams: streams.iter().map(|s| (s.clone(), AtomicU64::new(0))).collect(),
            context: (!context.is_empty()).then_some(context),
            requests: Mutex::new(BTreeMap::new()),
        })
    }

    /// The tally of the requests made outside any partition (the workspace and repository
    /// listings).
    pub fn unpartitioned() -> Arc<Tally> {
        Arc::new(Tally {
            streams: Vec::new(),
            context: None,
            requests: Mutex::new(BTreeMap::new()),
        })
    }

    /// The stream this partition's requests are tagged with: the first of its family.
    fn stream(&self) -> Option<&'static str> {
        self.streams.first().map(|(s, _)| s.stream)
    }

    /// Runs `future` with this tally as the current one: the requests it makes are counted
    /// here and tagged with this partition.
    pub async fn scope<F: Future>(self: &Arc<Self>, future: F) -> F::Output {
        CURRENT.scope(self.clone(), future).await
    }

    /// Counts records of `stream` written for this partition.
    pub fn add_records(&self, stream: &str, count: u64) {
        if let Some((progress, records)) = self.streams.iter().find(|(s, _)| s.stream == stream) {
            records.fetch_add(count, Ordering::Relaxed);
            progress.records.fetch_add(count, Ordering::Relaxed);
        }
    }

    /// Emits this tally's counters (`http_request_count` per endpoint, and `record_count` for
    /// a partition) and marks the partition done.
    pub fn finish(&self) {
        let stream = self.stream();
        let requests = std::mem::take(&mut *self.requests.lock().unwrap_or_else(|e| e.into_inner()));
        for (endpoint, count) in &requests {
            counter(
                "http_request_count",
                *count,
                Tags {
                    endpoint: Some(endpoint),
                    stream,
                    context: self.context.as_ref(),
                    ..Tags::default()
                },
            );
        }
        for (progress, records) in &self.streams {
            counter(
                "record_count",
                records.load(Ordering::Relaxed),
                Tags {
                    stream: Some(progress.stream),
                    context: self.context.as_ref(),
                    ..Tags::default()
                },
            );
            progress.done.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn count_request(&self, endpoint: &str) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        match requests.get_mut(endpoint) {
            Some(n) => *n += 1,
            None => {
                requests.insert(endpoint.to_string(), 1);
            }
        }
    }
}

/// Runs a partition's reader with `tally` as the current tally and its output counted on
/// the way to the writer: `read` gets the sender to build its emitter on, and what it sends
/// goes on to `tx` in order (so a STATE still follows the records it covers). Emits the
/// tally's counters when the reader ends, however it ends.
pub async fn metered<R: Future>(
    tally: &Arc<Tally>,
    tx: &mpsc::Sender<Output>,
    read: impl FnOnce(mpsc::Sender<Output>) -> R,
) -> R::Output {
    let (partition_tx, mut partition_rx) = mpsc::channel::<Output>(1);
    let reader = tally.scope(read(partition_tx));
    let forward = async move {
        while let Some(output) = partition_rx.recv().await {
            if let Output::Records { stream, count, .. } = &output {
                tally.add_records(stream, *count);
            }
            if tx.send(output).await.is_err() {
                // The writer stopped; dropping the receiver makes the reader's next send fail.
                break;
            }
        }
    };
    let (result, ()) = tokio::join!(reader, forward);
    tally.finish();
    result
}

/// Records one HTTP attempt: its `http_request_duration` point, and a count in the current
/// tally. `endpoint` is the request path (no query); `status` is the HTTP status when the
/// server answered; `succeeded` is whether the attempt gave a usable answer.
pub fn http_request(endpoint: &str, status: Option<u16>, elapsed: Duration, succeeded: bool) {
    let outcome = Some(if succeeded { "succeeded" } else { "failed" });
    let scoped = CURRENT.try_with(|tally| {
        tally.count_request(endpoint);
        let tags = Tags {
            endpoint: Some(endpoint),
            http_status_code: status,
            status: outcome,
            stream: tally.stream(),
            context: tally.context.as_ref(),
        };
        timer("http_request_duration", elapsed, tags);
    });
    if scoped.is_err() {
        let tags = Tags {
            endpoint: Some(endpoint),
            http_status_code: status,
            status: outcome,
            ..Tags::default()
        };
        timer("http_request_duration", elapsed, tags);
    }
}

/// Emits `sync_duration` for the whole run.
pub fn sync_finished(elapsed: Duration, succeeded: bool) {
    timer(
        "sync_duration",
        elapsed,
        Tags {
            status: Some(if succeeded { "succeeded" } else { "failed" }),
            ..Tags::default()
        },
    );
}

/// One stream's running totals, for progress lines and its partitions' tallies.
#[derive(Debug)]
pub struct StreamProgress {
    stream: &'static str,
    partitions: usize,
    done: AtomicUsize,
    records: AtomicU64,
    started: Instant,
}

impl StreamProgress {
    fn line(&self) {
        let records = self.records.load(Ordering::Relaxed);
        let done = self.done.load(Ordering::Relaxed);
        tracing::info!(
            stream = self.stream,
            records,
            partitions_done = done,
            partitions = self.partitions,
            seconds = self.started.elapsed().as_secs(),
            "Progress: `{}` has {records} records so far, {done} of {} partitions done.",
            self.stream,
            self.partitions
        );
    }
}

/// The streams of a sync that are running, for progress lines.
#[derive(Debug, Default)]
pub struct Progress {
    running: Mutex<Vec<Arc<StreamProgress>>>,
}

/// The task that writes progress lines; it stops when dropped.
#[derive(Debug)]
pub struct Ticker(tokio::task::JoinHandle<()>);

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Progress {
    /// No stream running yet.
    pub fn new() -> Arc<Progress> {
        Arc::new(Progress::default())
    }

    /// Writes a progress line per running stream every `interval` (the first after one
    /// interval, so short syncs stay quiet), until the returned [`Ticker`] is dropped.
    pub fn every(self: &Arc<Self>, interval: Duration) -> Ticker {
        let progress = self.clone();
        Ticker(tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                progress.report();
            }
        }))
    }

    /// A stream starts, over `partitions` partitions.
    pub fn start(&self, stream: &'static str, partitions: usize) -> Arc<StreamProgress> {
        let entry = Arc::new(StreamProgress {
            stream,
            partitions,
            done: AtomicUsize::new(0),
            records: AtomicU64::new(0),
            started: Instant::now(),
        });
        self.lock().push(entry.clone());
        entry
    }

    /// A stream has ended (finished or failed): no more progress lines for it.
    pub fn end(&self, stream: &Arc<StreamProgress>) {
        self.lock().retain(|s| !Arc::ptr_eq(s, stream));
    }

    /// Writes one progress line per running stream.
    pub fn report(&self) {
        for stream in self.lock().iter() {
            stream.line();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<StreamProgress>>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_serialize_in_singer_order_without_empty_tags() {
        let context: Map<String, Value> = serde_json::from_str(r#"{"workspace":"acme"}"#).unwrap();
        let point = Point {
            kind: "timer",
            metric: "http_request_duration",
            value: Value::from(0.25),
            tags: Tags {
                endpoint: Some("/2.0/workspaces/acme"),
                http_status_code: Some(200),
                status: Some("succeeded"),
                stream: Some("workspaces"),
                context: Some(&context),
            },
        };
        assert_eq!(
            serde_json::to_string(&point).unwrap(),
            r#"{"type":"timer","metric":"http_request_duration","value":0.25,"tags":{"endpoint":"/2.0/workspaces/acme","http_status_code":200,"status":"succeeded","stream":"workspaces","context":{"workspace":"acme"}}}"#
        );
        let point = Point {
            kind: "counter",
            metric: "record_count",
            value: Value::from(3u64),
            tags: Tags::default(),
        };
        assert_eq!(
            serde_json::to_string(&point).unwrap(),
            r#"{"type":"counter","metric":"record_count","value":3,"tags":{}}"#
        );
    }

    #[tokio::test]
    async fn metered_output_keeps_its_order_and_is_counted() {
        let progress = Progress::new();
        let stream = progress.start("things", 1);
        let tally = Tally::partition(std::slice::from_ref(&stream), Map::new());
        let (tx, mut rx) = mpsc::channel(1);
        let collect = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(output) = rx.recv().await {
                seen.push(match output {
                    Output::Records { count, .. } => format!("records {count}"),
                    Output::Line(line) => line,
                    other => format!("{other:?}"),
                });
            }
            seen
        });
        let result = metered(&tally, &tx, |partition_tx| async move {
            for count in [2, 3] {
                let records = Output::Records {
                    stream: "things",
                    lines: Vec::new(),
                    count,
                };
                partition_tx.send(records).await.map_err(|_| ())?;
                partition_tx
                    .send(Output::Line(format!("after {count}")))
                    .await
                    .map_err(|_| ())?;
            }
            Ok::<_, ()>(7)
        })
        .await;
        drop(tx);
        assert_eq!(result, Ok(7));
        assert_eq!(
            collect.await.unwrap(),
            ["records 2", "after 2", "records 3", "after 3"]
        );
        assert_eq!(tally.streams[0].1.load(Ordering::Relaxed), 5);
        assert_eq!(stream.done.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn requests_count_in_the_current_tally_and_records_in_the_stream() {
        let progress = Progress::new();
        let stream = progress.start("pullrequests", 2);
        let child = progress.start("pullrequest_tasks", 2);
        let tally = Tally::partition(&[stream.clone(), child.clone()], Map::new());
        tally
            .scope(async {
                http_request("/2.0/a", Some(200), Duration::ZERO, true);
                http_request("/2.0/a", Some(500), Duration::ZERO, false);
                http_request("/2.0/b", None, Duration::ZERO, false);
            })
            .await;
        http_request("/2.0/outside", Some(200), Duration::ZERO, true);
        tally.add_records("pullrequests", 5);
        tally.add_records("pullrequest_tasks", 2);
        tally.add_records("not_in_this_partition", 9);
        assert_eq!(
            *tally.requests.lock().unwrap(),
            BTreeMap::from([("/2.0/a".to_string(), 2), ("/2.0/b".to_string(), 1)])
        );
        tally.finish();
        assert_eq!(stream.records.load(Ordering::Relaxed), 5);
        assert_eq!(child.records.load(Ordering::Relaxed), 2);
        assert_eq!(stream.done.load(Ordering::Relaxed), 1);
        assert_eq!(child.done.load(Ordering::Relaxed), 1);
        assert_eq!(progress.lock().len(), 2);
        progress.end(&child);
        progress.end(&stream);
        assert!(progress.lock().is_empty());
    }
}
