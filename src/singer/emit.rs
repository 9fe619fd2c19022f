//! Singer messages on stdout. Streams hand pages of records and bookmarks to an [`Emitter`];
//! one [`Writer`] (the only code that writes stdout) turns them into lines, in the order
//! received, and writes a STATE with the whole state after each bookmark. Because a
//! partition's bookmark travels the same channel after its records, a STATE never claims a
//! record not yet written.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use super::{Context, Deselected, State};

/// What streams send to the writer.
#[derive(Debug)]
pub enum Output {
    /// A ready SCHEMA (or other) line.
    Line(String),
    /// Ready RECORD lines of one page.
    Records {
        /// The stream.
        stream: &'static str,
        /// The lines, each ending in `\n` (UTF-8: serde_json writes nothing else).
        lines: Vec<u8>,
        /// How many records.
        count: u64,
    },
    /// A partition's new bookmark, covering every record sent before it.
    Bookmark {
        /// The stream.
        stream: &'static str,
        /// The partition.
        context: Context,
        /// The replication key.
        key: &'static str,
        /// The bookmark value.
        value: String,
        /// Fields kept beside the bookmark in the partition's state entry, replacing what it
        /// held (such as `open`, the objects to re-read next run); usually none.
        extra: Map<String, Value>,
    },
}

/// Stdout could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Writing failed (a closed pipe, a full disk).
    #[error("cannot write to stdout: {0}")]
    Io(#[from] std::io::Error),
    /// A record could not be serialized (a bug, not bad input).
    #[error("cannot serialize a record of `{stream}`: {reason}")]
    Serialize {
        /// The stream.
        stream: &'static str,
        /// What serde said.
        reason: String,
    },
    /// The writer stopped (after its own error), so nothing more can be sent.
    #[error("the stdout writer has stopped")]
    Closed,
    /// The connection test (`--test`) has the one page it needed: the reader stops here.
    #[error("one page read (connection test)")]
    PageLimit,
}

/// One page of RECORD lines from [`Emitter::render`], waiting to be sent.
#[derive(Debug, Default)]
pub struct RenderedPage {
    lines: Vec<u8>,
    count: u64,
}

impl RenderedPage {
    /// How many records it holds.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// A stream's handle for sending its output to the writer.
#[derive(Debug, Clone)]
pub struct Emitter {
    tx: mpsc::Sender<Output>,
    stream: &'static str,
    deselected: Arc<Deselected>,
    one_page: bool,
    version: Option<u64>,
}

#[derive(Serialize)]
struct RecordMessage<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    stream: &'a str,
    record: &'a T,
    time_extracted: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u64>,
}

impl Emitter {
    /// An emitter for one stream, leaving out the deselected fields.
    pub fn new(tx: mpsc::Sender<Output>, stream: &'static str, deselected: Deselected) -> Self {
        Emitter {
            tx,
            stream,
            deselected: Arc::new(deselected),
            one_page: false,
            version: None,
        }
    }

    /// The same emitter, stamping every RECORD with a table `version` (for FULL_TABLE streams
    /// whose targets drop rows of older versions on ACTIVATE_VERSION).
    pub fn with_version(mut self, version: Option<u64>) -> Self {
        self.version = version;
        self
    }

    /// Sends ACTIVATE_VERSION: the stream's rows of other versions may be dropped.
    pub async fn activate_version(&self, version: u64) -> Result<(), WriteError> {
        let line = json!({"type": "ACTIVATE_VERSION", "stream": self.stream, "version": version});
        self.send(Output::Line(line.to_string() + "\n")).await
    }

    /// The same emitter for the connection test: the first page sent (even an empty one)
    /// answers [`WriteError::PageLimit`], which stops the reader after one request.
    pub fn stop_after_one_page(mut self) -> Self {
        self.one_page = true;
        self
    }

    /// The stream this emitter writes.
    pub fn stream(&self) -> &'static str {
        self.stream
    }

    /// Sends the stream's SCHEMA message.
    pub async fn schema(
        &self,
        schema: &Value,
        key_properties: &[&str],
        replication_key: Option<&str>,
    ) -> Result<(), WriteError> {
        let mut message = json!({
            "type": "SCHEMA",
            "stream": self.stream,
            "schema": schema,
            "key_properties": key_properties,
        });
        if let Some(key) = replication_key {
            message["bookmark_properties"] = json!([key]);
        }
        self.send(Output::Line(message.to_string() + "\n")).await
    }

    /// Sends one page of records as RECORD messages stamped with the current time.
    pub async fn records<T: Serialize>(&self, records: &[T]) -> Result<(), WriteError> {
        self.send_page(self.render(records)?).await
    }

    /// Renders one page of records as RECORD lines stamped with the current time, without
    /// sending them: the lines own their text, so the page body the records borrow from can
    /// be dropped before they are sent.
    pub fn render<T: Serialize>(&self, records: &[T]) -> Result<RenderedPage, WriteError> {
        let time_extracted = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
        let mut lines = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let result = if self.deselected.is_empty() {
                serde_json::to_writer(&mut lines, &self.message(record, &time_extracted))
            } else {
                let mut value = serde_json::to_value(record).map_err(|e| self.serialize_error(e))?;
                self.deselected.prune_record(&mut value);
                serde_json::to_writer(&mut lines, &self.message(&value, &time_extracted))
            };
            result.map_err(|e| self.serialize_error(e))?;
            lines.push(b'\n');
            if i == 0 {
                // Size the page's buffer from its first line (plus an eighth for longer
                // records): one allocation instead of a doubling series of copies.
                lines.reserve((lines.len() + lines.len() / 8) * (records.len() - 1));
            }
        }
        Ok(RenderedPage {
            lines,
            count: records.len() as u64,
        })
    }

    /// Sends a page made by [`Emitter::render`].
    pub async fn send_page(&self, page: RenderedPage) -> Result<(), WriteError> {
        if page.count > 0 {
            self.send(Output::Records {
                stream: self.stream,
                lines: page.lines,
                count: page.count,
            })
            .await?;
        }
        if self.one_page {
            return Err(WriteError::PageLimit);
        }
        Ok(())
    }

    /// Sends a partition's bookmark: every record sent before it is covered.
    pub async fn bookmark(
        &self,
        context: &Context,
        key: &'static str,
        value: String,
    ) -> Result<(), WriteError> {
        self.bookmark_with(context, key, value, Map::new()).await
    }

    /// Sends a partition's bookmark with fields kept beside it in the state entry (each
    /// replacing the field of that name).
    pub async fn bookmark_with(
        &self,
        context: &Context,
        key: &'static str,
        value: String,
        extra: Map<String, Value>,
    ) -> Result<(), WriteError> {
        self.send(Output::Bookmark {
            stream: self.stream,
            context: context.clone(),
            key,
            value,
            extra,
        })
        .await
    }

    fn message<'a, T: Serialize>(&'a self, record: &'a T, time_extracted: &'a str) -> RecordMessage<'a, T> {
        RecordMessage {
            kind: "RECORD",
            stream: self.stream,
            record,
            time_extracted,
            version: self.version,
        }
    }

    fn serialize_error(&self, e: serde_json::Error) -> WriteError {
        WriteError::Serialize {
            stream: self.stream,
            reason: e.to_string(),
        }
    }

    async fn send(&self, output: Output) -> Result<(), WriteError> {
        self.tx.send(output).await.map_err(|_| WriteError::Closed)
    }
}

/// The one stdout writer: writes lines as they come and keeps the state.
pub struct Writer<W: Write> {
    out: W,
    state: State,
    counts: BTreeMap<&'static str, u64>,
}

impl<W: Write> Writer<W> {
    /// A writer over `out` (stdout, buffered) starting from `state`.
    pub fn new(out: W, state: State) -> Self {
        Writer {
            out,
            state,
            counts: BTreeMap::new(),
        }
    }

    /// Writes one output; a bookmark updates the state and writes a STATE message.
    pub fn handle(&mut self, output: Output) -> Result<(), WriteError> {
        match output {
            Output::Line(line) => self.out.write_all(line.as_bytes())?,
            Output::Records { stream, lines, count } => {
                self.out.write_all(&lines)?;
                *self.counts.entry(stream).or_default() += count;
            }
            Output::Bookmark {
                stream,
                context,
                key,
                value,
                extra,
            } => {
                self.state.set_bookmark(stream, &context, key, &value, extra);
                self.write_state()?;
            }
        }
        Ok(())
    }

    /// Writes a STATE message with the whole state, and flushes.
    pub fn write_state(&mut self) -> Result<(), WriteError> {
        #[derive(Serialize)]
        struct StateMessage<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            value: &'a serde_json::Map<String, Value>,
        }
        let message = StateMessage {
            kind: "STATE",
            value: self.state.as_map(),
        };
        // Straight into the buffered output: no copy of the state, no intermediate string.
        serde_json::to_writer(&mut self.out, &message).map_err(std::io::Error::from)?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        Ok(())
    }

    /// Drains the channel until every emitter is dropped. Runs on a blocking thread.
    pub fn run(&mut self, mut rx: mpsc::Receiver<Output>) -> Result<(), WriteError> {
        while let Some(output) = rx.blocking_recv() {
            self.handle(output)?;
        }
        Ok(())
    }

    /// Records written per stream so far.
    pub fn counts(&self) -> &BTreeMap<&'static str, u64> {
        &self.counts
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_then_state_in_order_with_deselection() {
        let (tx, rx) = mpsc::channel(8);
        let emitter = Emitter::new(tx, "things", Deselected::fields(["secret"]));
        let ctx = Context::new().with("workspace", "acme");
        let task = tokio::task::spawn_blocking(move || {
            let mut writer = Writer::new(Vec::new(), State::default());
            writer.run(rx).unwrap();
            writer.write_state().unwrap();
            (writer.out, writer.counts)
        });
        emitter
            .records(&[json!({"id": 1, "secret": "x"}), json!({"id": 2, "secret": "y"})])
            .await
            .unwrap();
        emitter
            .bookmark(&ctx, "updated_on", "2026-01-01T00:00:00+00:00".into())
            .await
            .unwrap();
        drop(emitter);
        let (out, counts) = task.await.unwrap();
        let lines: Vec<Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0]["type"], "RECORD");
        assert_eq!(lines[0]["record"], json!({"id": 1}));
        assert!(lines[0]["time_extracted"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[2]["type"], "STATE");
        assert_eq!(
            lines[2]["value"]["bookmarks"]["things"]["partitions"][0]["replication_key_value"],
            "2026-01-01T00:00:00+00:00"
        );
        assert_eq!(counts["things"], 2);
    }
}
