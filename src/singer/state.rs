//! The state file and its bookmarks, in the Meltano SDK's shape:
//! `{"bookmarks": {"<stream>": {"partitions": [{"context": {…}, "replication_key": "…",
//! "replication_key_value": "…"}]}}}`, with `replication_key`/`replication_key_value` directly
//! under the stream for unpartitioned streams.
//!
//! The whole document is kept, so bookmarks a run does not touch (and keys other tools add)
//! are carried forward unchanged: Meltano keeps only the last STATE. Size stays bounded: one
//! entry per stream per partition.

use std::path::Path;

use chrono::DateTime;
use serde_json::{json, Map, Value};

/// A partition's identity inside a stream's bookmarks (`{"workspace": "acme", "repository":
/// "api"}`): the SDK's `context`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context(Map<String, Value>);

impl Context {
    /// An empty context (an unpartitioned stream).
    pub fn new() -> Self {
        Context(Map::new())
    }

    /// The context with one more key.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.0.insert(key.to_string(), Value::String(value.to_string()));
        self
    }

    /// The context as JSON.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// A compact `key=value` rendering for logs.
    pub fn label(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A state file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file could not be read.
    #[error("cannot read state file `{path}`: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The file is not in the expected shape.
    #[error("state file `{path}`: {reason}; expected {{\"bookmarks\": {{\"<stream>\": {{\"partitions\": [{{\"context\": {{\"workspace\": \"…\", \"repository\": \"…\"}}, \"replication_key\": \"updated_on\", \"replication_key_value\": \"2026-11-20T09:15:02.123456+00:00\"}}]}}}}}}")]
    Shape {
        /// The file.
        path: String,
        /// What is wrong and where.
        reason: String,
    },
}

/// The state: bookmarks per stream and partition, plus anything else the file held.
#[derive(Debug, Clone, Default)]
pub struct State {
    doc: Map<String, Value>,
}

impl State {
    /// Reads and checks a state file. `streams` are the stream names this tap has.
    pub fn load(path: &Path, streams: &[&str]) -> Result<State, StateError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| StateError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        Self::parse(&shown, &text, streams)
    }

    /// Checks a state document; `path` is only for messages. An empty file or `{}` is an
    /// empty state.
    pub fn parse(path: &str, text: &str, streams: &[&str]) -> Result<State, StateError> {
        let shape = |reason: String| StateError::Shape {
            path: path.to_string(),
            reason,
        };
        if text.trim().is_empty() {
            return Ok(State::default());
        }
        let value: Value = serde_json::from_str(text).map_err(|e| shape(format!("not JSON: {e}")))?;
        let Value::Object(mut doc) = value else {
            return Err(shape("the top level is not an object".into()));
        };
        // Some runners store the STATE message itself rather than its value.
        if doc.get("type").and_then(Value::as_str) == Some("STATE") {
            if let Some(Value::Object(inner)) = doc.remove("value") {
                doc = inner;
            }
        }
        match doc.get("bookmarks") {
            None => {}
            Some(Value::Object(bookmarks)) => {
                for (stream, entry) in bookmarks {
                    let stream_like = stream.starts_with(|c: char| c.is_ascii_lowercase())
                        && stream
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                    if !streams.contains(&stream.as_str()) && !stream_like {
                        return Err(shape(format!("`bookmarks.{stream}` is not a stream of this tap")));
                    }
                    if !streams.contains(&stream.as_str()) {
                        // A stream of another version of the tap: kept as it is and written
                        // back with every STATE (Meltano keeps only the last one), unread.
                        tracing::warn!(
                            "State file `{path}` has bookmarks for `{stream}`, which is not a stream of this tap; they are kept unchanged and not used."
                        );
                        continue;
                    }
                    check_stream_entry(stream, entry).map_err(shape)?;
                }
            }
            Some(_) => return Err(shape("`bookmarks` is not an object".into())),
        }
        Ok(State { doc })
    }

    /// The bookmark of one partition of a stream.
    pub fn bookmark(&self, stream: &str, context: &Context) -> Option<&str> {
        self.partition_entry(stream, context)?
            .get("replication_key_value")?
            .as_str()
    }

    /// The state entry of one partition of a stream: its bookmark and any field kept beside
    /// it (such as `open`).
    pub fn partition_entry(&self, stream: &str, context: &Context) -> Option<&Map<String, Value>> {
        self.stream_entry(stream)?
            .get("partitions")?
            .as_array()?
            .iter()
            .find(|p| p.get("context").and_then(Value::as_object) == Some(context.as_map()))?
            .as_object()
    }

    /// The bookmark of an unpartitioned stream.
    pub fn stream_bookmark(&self, stream: &str) -> Option<&str> {
        self.stream_entry(stream)?.get("replication_key_value")?.as_str()
    }

    /// Sets the bookmark of one partition (an empty context sets the unpartitioned one), and
    /// the `extra` fields beside it.
    pub fn set_bookmark(
        &mut self,
        stream: &str,
        context: &Context,
        key: &str,
        value: &str,
        extra: Map<String, Value>,
    ) {
        let bookmarks = self
            .doc
            .entry("bookmarks")
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(bookmarks) = bookmarks else {
            return;
        };
        let entry = bookmarks
            .entry(stream.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(entry) = entry else {
            return;
        };
        if context.as_map().is_empty() {
            entry.insert("replication_key".into(), json!(key));
            entry.insert("replication_key_value".into(), json!(value));
            entry.extend(extra);
            return;
        }
        let partitions = entry
            .entry("partitions")
            .or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(partitions) = partitions else {
            return;
        };
        let existing = partitions
            .iter_mut()
            .find(|p| p.get("context").and_then(Value::as_object) == Some(context.as_map()));
        match existing {
            Some(Value::Object(p)) => {
                p.insert("replication_key".into(), json!(key));
                p.insert("replication_key_value".into(), json!(value));
                p.extend(extra);
            }
            _ => {
                let mut p = Map::new();
                p.insert("context".into(), Value::Object(context.as_map().clone()));
                p.insert("replication_key".into(), json!(key));
                p.insert("replication_key_value".into(), json!(value));
                p.extend(extra);
                partitions.push(Value::Object(p));
            }
        }
    }

    /// The whole state document, as a STATE message's `value`.
    pub fn to_value(&self) -> Value {
        Value::Object(self.doc.clone())
    }

    /// The whole state document, for serializing without a copy (a STATE after every page
    /// would otherwise clone every partition's bookmark each time).
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.doc
    }

    /// The state entry of a stream: for an unpartitioned stream, its bookmark.
    pub fn stream_entry(&self, stream: &str) -> Option<&Map<String, Value>> {
        self.doc.get("bookmarks")?.get(stream)?.as_object()
    }
}

fn check_stream_entry(stream: &str, entry: &Value) -> Result<(), String> {
    let Value::Object(entry) = entry else {
        return Err(format!("`bookmarks.{stream}` is not an object"));
    };
    check_bookmark(&format!("bookmarks.{stream}"), entry)?;
    match entry.get("partitions") {
        None => Ok(()),
        Some(Value::Array(partitions)) => {
            for (i, p) in partitions.iter().enumerate() {
                let at = format!("bookmarks.{stream}.partitions[{i}]");
                let Value::Object(p) = p else {
                    return Err(format!("`{at}` is not an object"));
                };
                if !p.get("context").is_some_and(Value::is_object) {
                    return Err(format!("`{at}.context` is missing or not an object"));
                }
                check_bookmark(&at, p)?;
            }
            Ok(())
        }
        Some(_) => Err(format!("`bookmarks.{stream}.partitions` is not a list")),
    }
}

fn check_bookmark(at: &str, entry: &Map<String, Value>) -> Result<(), String> {
    if let Some(key) = entry.get("replication_key") {
        if !key.is_string() {
            return Err(format!("`{at}.replication_key` is not a string"));
        }
    }
    // Ids of objects a stream re-reads next run (pipelines still running).
    match entry.get("open") {
        None | Some(Value::Null) => {}
        Some(Value::Array(ids)) if ids.iter().all(Value::is_string) => {}
        Some(_) => return Err(format!("`{at}.open` is not a list of strings")),
    }
    match entry.get("replication_key_value") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if DateTime::parse_from_rfc3339(s).is_ok() => Ok(()),
        Some(other) => Err(format!(
            "`{at}.replication_key_value` is {other}, not an RFC 3339 date-time"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAMS: &[&str] = &["pullrequests", "repositories"];

    #[test]
    fn round_trip_and_carry_forward() {
        let text = r#"{"bookmarks":{"repositories":{"partitions":[{"context":{"workspace":"acme"},"replication_key":"updated_on","replication_key_value":"2026-01-01T00:00:00+00:00"}]}},"other":1}"#;
        let mut state = State::parse("s.json", text, STREAMS).unwrap();
        let acme = Context::new().with("workspace", "acme");
        assert_eq!(
            state.bookmark("repositories", &acme),
            Some("2026-01-01T00:00:00+00:00")
        );
        let api = Context::new().with("workspace", "acme").with("repository", "api");
        state.set_bookmark(
            "pullrequests",
            &api,
            "updated_on",
            "2026-02-01T00:00:00+00:00",
            Map::new(),
        );
        let open = Map::from_iter([("open".to_string(), json!(["{p1}"]))]);
        state.set_bookmark(
            "pullrequests",
            &api,
            "updated_on",
            "2026-03-01T00:00:00+00:00",
            open,
        );
        let value = state.to_value();
        assert_eq!(value["other"], 1);
        assert_eq!(
            value["bookmarks"]["pullrequests"]["partitions"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            state.bookmark("pullrequests", &api),
            Some("2026-03-01T00:00:00+00:00")
        );
        assert_eq!(
            state.partition_entry("pullrequests", &api).unwrap()["open"],
            json!(["{p1}"])
        );
        assert_eq!(
            state.bookmark("repositories", &acme),
            Some("2026-01-01T00:00:00+00:00")
        );
    }

    #[test]
    fn bad_shapes_are_named() {
        for (text, needle) in [
            ("[]", "top level"),
            (r#"{"bookmarks": []}"#, "`bookmarks`"),
            (r#"{"bookmarks": {"acme/api": {}}}"#, "`bookmarks.acme/api`"),
            (
                r#"{"bookmarks": {"pullrequests": {"partitions": {}}}}"#,
                "partitions",
            ),
            (
                r#"{"bookmarks": {"pullrequests": {"partitions": [{"replication_key_value": "x"}]}}}"#,
                "context",
            ),
            (
                r#"{"bookmarks": {"pullrequests": {"partitions": [{"context": {}, "replication_key_value": "yesterday"}]}}}"#,
                "RFC 3339",
            ),
            (
                r#"{"bookmarks": {"pullrequests": {"partitions": [{"context": {}, "open": [1]}]}}}"#,
                "`bookmarks.pullrequests.partitions[0].open` is not a list of strings",
            ),
        ] {
            let err = State::parse("s.json", text, STREAMS).unwrap_err().to_string();
            assert!(err.contains(needle) && err.contains("expected"), "{text}: {err}");
        }
    }

    #[test]
    fn bookmarks_of_a_stream_this_tap_does_not_have_are_kept_unread() {
        let text = r#"{"bookmarks": {"old_stream": {"anything": [1, 2]}, "repositories": {"replication_key": "updated_on", "replication_key_value": "2026-01-01T00:00:00Z"}}}"#;
        let state = State::parse("s.json", text, STREAMS).unwrap();
        assert_eq!(
            state.to_value()["bookmarks"]["old_stream"],
            serde_json::json!({"anything": [1, 2]})
        );
    }

    #[test]
    fn empty_and_message_wrapped_states_load() {
        assert!(State::parse("s", "", STREAMS)
            .unwrap()
            .to_value()
            .as_object()
            .unwrap()
            .is_empty());
        let wrapped = r#"{"type":"STATE","value":{"bookmarks":{"repositories":{"replication_key":"updated_on","replication_key_value":"2026-01-01T00:00:00Z"}}}}"#;
        let state = State::parse("s", wrapped, STREAMS).unwrap();
        assert_eq!(
            state.stream_bookmark("repositories"),
            Some("2026-01-01T00:00:00Z")
        );
    }
}
