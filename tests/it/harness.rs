//! Running the tap as a user would, and reading what it printed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use assert_cmd::Command;
use bitbucket_simulator::{SimConfig, Simulator};
use serde_json::{json, Value};
use tempfile::TempDir;

/// The simulator's default credentials.
pub const TOKEN: &str = "demo-token";

/// A scratch directory for one test's files.
pub struct Scratch {
    pub dir: TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Writes a JSON file and returns its path.
    pub fn json(&self, name: &str, value: &Value) -> PathBuf {
        self.text(name, &value.to_string())
    }

    /// Writes a text file and returns its path.
    pub fn text(&self, name: &str, text: &str) -> PathBuf {
        write_fresh(&self.dir.path().join(name), text.as_bytes())
    }
}

/// Writes a file as a new one, removing any old one first. Truncating and rewriting a file
/// makes ext4 flush it to disk when it is closed (`auto_da_alloc`): a test that rewrites a
/// scratch file hundreds of times then waits on the disk, not on the code it tests (the
/// catalog fuzz test spent 16 of its 18 s there).
pub fn write_fresh(path: &std::path::Path, bytes: &[u8]) -> PathBuf {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, bytes).expect("write scratch file");
    path.to_path_buf()
}

/// Starts the default simulator.
pub fn simulator() -> Simulator {
    Simulator::start(SimConfig::default()).expect("start simulator")
}

/// A config pointing at the simulator with its access token.
pub fn config_for(sim: &Simulator) -> Value {
    json!({"api_url": sim.api_url(), "access_token": TOKEN, "backoff_max_secs": 0})
}

/// A config pointing at the simulator with its user's API token (`email` + `api_token`, sent
/// as Basic): a user credential, which the permission and user streams need (the simulator,
/// like Bitbucket, refuses them to access tokens).
pub fn user_config(sim: &Simulator) -> Value {
    json!({
        "api_url": sim.api_url(), "email": "demo@example.com", "api_token": "demo-api-token",
        "backoff_max_secs": 0,
    })
}

/// What one run of the tap printed.
#[derive(Debug)]
pub struct Run {
    pub messages: Vec<Value>,
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Run {
    /// The records of one stream, in order.
    pub fn records(&self, stream: &str) -> Vec<&Value> {
        self.messages
            .iter()
            .filter(|m| m["type"] == "RECORD" && m["stream"] == stream)
            .map(|m| &m["record"])
            .collect()
    }

    /// The SCHEMA message of each stream.
    pub fn schemas(&self) -> BTreeMap<String, &Value> {
        self.messages
            .iter()
            .filter(|m| m["type"] == "SCHEMA")
            .map(|m| (m["stream"].as_str().unwrap_or_default().to_string(), m))
            .collect()
    }

    /// The value of the last STATE message.
    pub fn last_state(&self) -> Value {
        self.messages
            .iter()
            .rev()
            .find(|m| m["type"] == "STATE")
            .map(|m| m["value"].clone())
            .expect("the run printed a STATE")
    }

    /// Asserts the run succeeded, showing stderr otherwise.
    pub fn success(self) -> Self {
        assert_eq!(self.code, 0, "tap failed; stderr:\n{}", self.stderr);
        self
    }

    /// The last non-empty line of stderr.
    pub fn last_error_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }
}

/// Runs the tap with these arguments.
pub fn tap(args: &[&str]) -> Run {
    tap_with_env(args, &[])
}

/// Runs the tap with these arguments and environment variables.
pub fn tap_with_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::cargo_bin("tap-bitbucket").expect("the tap binary is built");
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("TAP_BITBUCKET_LOGLEVEL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .expect("run the tap");
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let messages = if args.contains(&"--discover") && !stdout.trim().is_empty() {
        // The catalog: one JSON document, indented over many lines (Meltano reads it line by
        // line with a 64 KiB limit per line).
        let catalog = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("the catalog is not one JSON document ({e}): {stdout}"));
        vec![catalog]
    } else {
        stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}")))
            .collect()
    };
    Run {
        messages,
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// The tap's own catalog (its `--discover` output, run once per test binary) with exactly
/// `streams` selected at the stream level.
pub fn catalog_selecting(streams: &[&str]) -> Value {
    static DISCOVERED: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let mut catalog = DISCOVERED
        .get_or_init(|| tap(&["--discover"]).success().messages[0].clone())
        .clone();
    for stream in catalog["streams"].as_array_mut().expect("streams") {
        let selected = streams.contains(&stream["tap_stream_id"].as_str().expect("tap_stream_id"));
        for entry in stream["metadata"].as_array_mut().expect("metadata") {
            if entry["breadcrumb"] == json!([]) {
                entry["metadata"]["selected"] = json!(selected);
            }
        }
    }
    catalog
}

/// [`catalog_selecting`] written to `catalog.json` in `scratch`.
pub fn catalog_file(scratch: &Scratch, streams: &[&str]) -> PathBuf {
    scratch.json("catalog.json", &catalog_selecting(streams))
}

/// Runs a sync with this config (and optional catalog/state), returning the run.
pub fn sync(scratch: &Scratch, config: &Value, state: Option<&Value>) -> Run {
    let config = scratch.json("config.json", config);
    let mut args = vec!["--config".to_string(), config.display().to_string()];
    if let Some(state) = state {
        let path = scratch.json("state.json", state);
        args.push("--state".into());
        args.push(path.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tap(&args)
}

/// Runs a sync of exactly `streams` (a catalog selecting them) with this config (and
/// optional state): tests that look at a few streams need not wait for all of them.
pub fn sync_selected(scratch: &Scratch, config: &Value, streams: &[&str], state: Option<&Value>) -> Run {
    let catalog = catalog_file(scratch, streams);
    let config = scratch.json("config.json", config);
    let mut args = vec![
        "--config".to_string(),
        config.display().to_string(),
        "--catalog".to_string(),
        catalog.display().to_string(),
    ];
    if let Some(state) = state {
        args.push("--state".into());
        args.push(scratch.json("state.json", state).display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tap(&args)
}

/// [`sync_selected`] that must succeed, with the protocol invariants checked
/// ([`assert_protocol`]).
pub fn sync_ok(scratch: &Scratch, config: &Value, streams: &[&str], state: Option<&Value>) -> Run {
    let run = sync_selected(scratch, config, streams, state).success();
    assert_protocol(&run);
    run
}

/// Checks the protocol invariants of a run: SCHEMA before a stream's first RECORD, every
/// RECORD valid against its stream's SCHEMA (formats included), keys present and unique.
pub fn assert_protocol(run: &Run) {
    let mut validators: BTreeMap<String, (jsonschema::Validator, Vec<String>)> = BTreeMap::new();
    let mut keys_seen: BTreeMap<String, std::collections::HashSet<String>> = BTreeMap::new();
    for message in &run.messages {
        let stream = message["stream"].as_str().unwrap_or_default().to_string();
        match message["type"].as_str() {
            Some("SCHEMA") => {
                let validator = jsonschema::options()
                    .should_validate_formats(true)
                    .build(&message["schema"])
                    .unwrap_or_else(|e| panic!("SCHEMA of {stream} is not a valid JSON Schema: {e}"));
                let keys = message["key_properties"]
                    .as_array()
                    .expect("key_properties")
                    .iter()
                    .map(|k| k.as_str().unwrap().to_string())
                    .collect();
                validators.insert(stream, (validator, keys));
            }
            Some("RECORD") => {
                let (validator, keys) = validators
                    .get(&stream)
                    .unwrap_or_else(|| panic!("RECORD of {stream} before its SCHEMA"));
                let record = &message["record"];
                if let Err(e) = validator.validate(record) {
                    panic!("RECORD of {stream} does not match its SCHEMA: {e}\n{record}");
                }
                assert!(message["time_extracted"]
                    .as_str()
                    .is_some_and(|t| t.ends_with('Z')));
                let key: Vec<String> = keys
                    .iter()
                    .map(|k| {
                        let v = &record[k];
                        assert!(
                            !v.is_null() && v != "",
                            "{stream} record lacks key `{k}`: {record}"
                        );
                        v.to_string()
                    })
                    .collect();
                let key = key.join("|");
                assert!(
                    keys_seen.entry(stream.clone()).or_default().insert(key.clone()),
                    "{stream} emitted key {key} twice in one run"
                );
            }
            Some("STATE") => assert!(message["value"].is_object()),
            Some("ACTIVATE_VERSION") => {
                assert!(
                    validators.contains_key(&stream),
                    "ACTIVATE_VERSION of {stream} before its SCHEMA"
                );
                assert!(message["version"].is_u64());
            }
            other => panic!("unexpected message type {other:?}"),
        }
    }
}

/// Removes null-valued keys, recursively: the tap omits what the API sent as null.
pub fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// A record without the keys the tap adds.
pub fn api_part(record: &Value, added: &[&str]) -> Value {
    let mut value = record.clone();
    if let Some(map) = value.as_object_mut() {
        for key in added {
            map.remove(*key);
        }
    }
    without_nulls(&value)
}

/// The bookmark of one partition in a state value.
pub fn bookmark<'a>(
    state: &'a Value,
    stream: &str,
    workspace: &str,
    repository: Option<&str>,
) -> Option<&'a str> {
    state["bookmarks"][stream]["partitions"]
        .as_array()?
        .iter()
        .find(|p| {
            p["context"]["workspace"] == workspace
                && repository.is_none_or(|r| p["context"]["repository"] == r)
        })?["replication_key_value"]
        .as_str()
}

/// Parses an RFC 3339 timestamp.
pub fn ts(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("`{text}` is not RFC 3339: {e}"))
        .with_timezone(&chrono::Utc)
}

/// The paths at which two JSON values differ, for readable failures.
pub fn json_diff(got: &Value, want: &Value) -> Vec<String> {
    fn walk(path: String, got: &Value, want: &Value, out: &mut Vec<String>) {
        match (got, want) {
            (Value::Object(a), Value::Object(b)) => {
                for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                    let p = format!("{path}.{key}");
                    match (a.get(key), b.get(key)) {
                        (Some(x), Some(y)) => walk(p, x, y, out),
                        (Some(_), None) => out.push(format!("{p}: emitted but not served")),
                        (None, Some(_)) => out.push(format!("{p}: served but not emitted")),
                        (None, None) => {}
                    }
                }
            }
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    walk(format!("{path}[{i}]"), x, y, out);
                }
            }
            _ if got != want => out.push(format!("{path}: emitted {got}, served {want}")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(String::new(), got, want, &mut out);
    out
}

/// Asserts a record (without the keys the tap adds) equals the served object.
pub fn assert_same_object(record: &Value, added: &[&str], served: &Value, what: &str) {
    let diff = json_diff(&api_part(record, added), &without_nulls(served));
    assert!(
        diff.is_empty(),
        "{what} differs from the server's object:\n{}",
        diff.join("\n")
    );
}
