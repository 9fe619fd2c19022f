//! Crash safety (spec §4): a run killed at any point and rerun with the last STATE it printed
//! loses no record. The real binary is spawned against a simulator with latency, its stdout
//! read line by line, and the process SIGKILLed after a deterministic pseudo-random number of
//! lines; the rerun starts from the last complete STATE line. SIGTERM is checked too: the tap
//! stops, ends stdout with a STATE, and exits non-zero.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use bitbucket_simulator::{Faults, Simulator};
use serde_json::{json, Value};

use crate::harness::{config_for, simulator, Scratch};

/// The streams killed runs read: both keyset streams and a newest-first one.
const STREAMS: &[&str] = &["repositories", "pullrequests", "commits"];

/// A record's identity per stream, for the union check.
fn key(stream: &str, record: &Value) -> Option<String> {
    let field = |k: &str| {
        record[k]
            .as_str()
            .map(str::to_string)
            .or_else(|| record[k].as_i64().map(|n| n.to_string()))
    };
    Some(match stream {
        "repositories" => field("uuid")?,
        "pullrequests" => format!(
            "{}/{}#{}",
            field("workspace_slug")?,
            field("repository_slug")?,
            field("id")?
        ),
        "commits" => format!(
            "{}/{}@{}",
            field("workspace_slug")?,
            field("repository_slug")?,
            field("hash")?
        ),
        _ => return None,
    })
}

/// What the server holds, as `(stream, key)`.
fn server_keys(sim: &Simulator) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for ws in sim.workspace_slugs() {
        for repo in sim.repositories(&ws) {
            out.insert(("repositories".into(), repo["uuid"].as_str().unwrap().to_string()));
        }
        for repo in sim.repository_slugs(&ws) {
            for pr in sim.pullrequests(&ws, &repo) {
                out.insert(("pullrequests".into(), format!("{ws}/{repo}#{}", pr["id"])));
            }
            for commit in sim.commits(&ws, &repo) {
                out.insert((
                    "commits".into(),
                    format!("{ws}/{repo}@{}", commit["hash"].as_str().unwrap()),
                ));
            }
        }
    }
    out
}

/// The `(stream, key)` of every record among `messages`.
fn emitted(messages: &[Value]) -> BTreeSet<(String, String)> {
    messages
        .iter()
        .filter(|m| m["type"] == "RECORD")
        .filter_map(|m| {
            let stream = m["stream"].as_str()?;
            Some((stream.to_string(), key(stream, &m["record"])?))
        })
        .collect()
}

fn last_state(messages: &[Value]) -> Option<Value> {
    messages
        .iter()
        .rev()
        .find(|m| m["type"] == "STATE")
        .map(|m| m["value"].clone())
}

fn spawn(config: &Path, catalog: &Path, state: Option<&Path>) -> Child {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("tap-bitbucket"));
    cmd.arg("--config").arg(config).arg("--catalog").arg(catalog);
    if let Some(state) = state {
        cmd.arg("--state").arg(state);
    }
    cmd.env_remove("RUST_LOG")
        .env("TAP_BITBUCKET_LOGLEVEL", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the tap")
}

/// How a watched run ended.
struct Watched {
    /// Every complete line it printed, parsed (a line cut by the kill is dropped, as a
    /// target would drop it).
    messages: Vec<Value>,
    /// Whether the signal reached a running process (rather than one that had finished).
    signalled: bool,
    exit_code: Option<i32>,
}

/// Runs the tap and sends `signal` (`KILL` or `TERM`) after `after` lines of stdout; keeps
/// reading what it had already written until the pipe closes.
fn run_and_signal(
    config: &Path,
    catalog: &Path,
    state: Option<&Path>,
    after: usize,
    signal: &str,
) -> Watched {
    let mut child = spawn(config, catalog, state);
    let stdout = child.stdout.take().expect("piped stdout");
    let mut reader = BufReader::new(stdout);
    let mut messages = Vec::new();
    let mut sent = false;
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).expect("read the tap's stdout");
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        let message: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
        messages.push(message);
        if !sent && messages.len() >= after {
            sent = true;
            if signal == "KILL" {
                let _ = child.kill();
            } else {
                let status = Command::new("kill")
                    .arg(format!("-{signal}"))
                    .arg(child.id().to_string())
                    .status()
                    .expect("run kill");
                assert!(status.success());
            }
        }
    }
    let status = child.wait().expect("wait for the tap");
    Watched {
        messages,
        signalled: status.signal().is_some() || (signal == "TERM" && status.code() == Some(1)),
        exit_code: status.code(),
    }
}

/// A splitmix64 step: deterministic kill points.
fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn a_killed_run_resumed_from_its_last_state_loses_nothing() {
    let sim = simulator();
    let scratch = Scratch::new();
    let mut config = config_for(&sim);
    config["page_size"] = json!(25);
    let config = scratch.json("config.json", &config);
    let catalog = crate::harness::catalog_file(&scratch, STREAMS);
    let expected = server_keys(&sim);
    // A whole run prints a line per record and more (SCHEMA, STATE): a kill after at most
    // that many lines lands while the tap runs. (That an uninterrupted run emits exactly
    // these records is checked by the full-sync tests.)
    let total = expected.len();
    assert!(total > 100, "{total} records");

    // Latency keeps the tap busy between pages, so the kill lands mid-run.
    let mut kills = 0;
    for seed in 1..=4u64 {
        sim.set_faults(Faults {
            latency_ms: 15,
            ..Faults::default()
        });
        let after = 1 + (splitmix(seed) % (total as u64 - 1)) as usize;
        let first = run_and_signal(&config, &catalog, None, after, "KILL");
        kills += usize::from(first.signalled);
        sim.set_faults(Faults::default());

        let state = last_state(&first.messages);
        let state_path = state.as_ref().map(|s| scratch.json("state.json", s));
        let second = run_and_signal(&config, &catalog, state_path.as_deref(), usize::MAX, "KILL");
        assert_eq!(
            second.exit_code,
            Some(0),
            "the rerun after a kill at line {after} succeeds"
        );

        let union: BTreeSet<_> = emitted(&first.messages)
            .union(&emitted(&second.messages))
            .cloned()
            .collect();
        let missing: Vec<_> = expected.difference(&union).take(5).collect();
        assert!(
            missing.is_empty(),
            "killed after {after} lines of a run of {total} records ({} lines printed), rerun from {state:?}: missing {missing:?}",
            first.messages.len()
        );
    }
    assert!(
        kills >= 3,
        "only {kills} of 4 kills landed while the tap was running"
    );
}

#[test]
fn sigterm_ends_with_a_state_that_a_rerun_completes() {
    let sim = simulator();
    let scratch = Scratch::new();
    let mut config = config_for(&sim);
    config["page_size"] = json!(25);
    let config = scratch.json("config.json", &config);
    let catalog = crate::harness::catalog_file(&scratch, STREAMS);
    sim.set_faults(Faults {
        latency_ms: 15,
        ..Faults::default()
    });
    let first = run_and_signal(&config, &catalog, None, 40, "TERM");
    sim.set_faults(Faults::default());
    assert!(first.signalled, "the tap was still running");
    assert_eq!(first.exit_code, Some(1), "a terminated sync exits non-zero");
    assert_eq!(
        first.messages.last().map(|m| &m["type"]),
        Some(&json!("STATE")),
        "stdout ends with a STATE"
    );

    let state = scratch.json("state.json", &last_state(&first.messages).unwrap());
    let second = run_and_signal(&config, &catalog, Some(&state), usize::MAX, "KILL");
    assert_eq!(second.exit_code, Some(0));
    let union: BTreeSet<_> = emitted(&first.messages)
        .union(&emitted(&second.messages))
        .cloned()
        .collect();
    assert!(server_keys(&sim).is_subset(&union));
}
