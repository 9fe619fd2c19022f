//! Crash safety (spec §4): a run killed at any point and rerun with the last STATE it printed
//! loses no record. The real binary is spawned against a simulator with latency, its stdout
//! read line by line, and the process SIGKILLed after a deterministic pseudo-random number of
//! lines; the rerun starts from the last complete STATE line. SIGTERM is checked too: the tap
//! stops, ends stdout with a STATE, and exits non-zero. And a chain: ten runs in a row, each
//! resumed from the last STATE of the one before and SIGKILLed, under rate limits, 5xx,
//! truncated bodies and `max_concurrency` 8, then a run to the end: nothing lost, and every
//! STATE printed on the way holds one entry per stream per partition.

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

/// Asserts a STATE value has one bookmark entry per stream per partition: no context twice
/// in a stream's `partitions`, each one a partition of that stream on the server (a workspace
/// for `repositories`, a repository for the others), and only the streams that were read.
fn assert_one_entry_per_partition(state: &Value, repositories: &BTreeSet<(String, String)>, when: &str) {
    let Some(bookmarks) = state["bookmarks"].as_object() else {
        return;
    };
    for (stream, bookmark) in bookmarks {
        assert!(
            STREAMS.contains(&stream.as_str()),
            "{when}: a bookmark of `{stream}`"
        );
        let Some(partitions) = bookmark["partitions"].as_array() else {
            continue;
        };
        let mut seen = BTreeSet::new();
        for entry in partitions {
            let context = &entry["context"];
            let place = (
                context["workspace"].as_str().unwrap_or_default().to_string(),
                context["repository"].as_str().unwrap_or_default().to_string(),
            );
            // `repositories` is read per workspace, the other streams per repository.
            let known = if stream == "repositories" {
                place.1.is_empty() && repositories.iter().any(|(ws, _)| *ws == place.0)
            } else {
                repositories.contains(&place)
            };
            assert!(
                known,
                "{when}: `{stream}` has a bookmark for {context}, not one of its partitions"
            );
            assert!(
                seen.insert(place),
                "{when}: `{stream}` has two entries for {context}"
            );
            assert!(entry["replication_key_value"].is_string(), "{when}: {entry}");
        }
    }
}

#[test]
fn ten_kills_in_a_row_under_faults_lose_nothing_and_keep_state_bounded() {
    let sim = simulator();
    let scratch = Scratch::new();
    let mut config = config_for(&sim);
    config["page_size"] = json!(50);
    config["max_concurrency"] = json!(8);
    config["max_retries"] = json!(30);
    let config = scratch.json("config.json", &config);
    let catalog = crate::harness::catalog_file(&scratch, STREAMS);
    let expected = server_keys(&sim);
    let repositories: BTreeSet<(String, String)> = sim
        .workspace_slugs()
        .into_iter()
        .flat_map(|ws| {
            sim.repository_slugs(&ws)
                .into_iter()
                .map(move |r| (ws.clone(), r))
        })
        .collect();
    // Rate limits, 5xx and truncated bodies for every run of the chain (backoff_max_secs is
    // 0, so retries cost no waiting). The kills land mid-run whatever the speed: the tap
    // cannot get more than a pipe's worth ahead of this reader, and a whole run prints
    // ~1,500 lines.
    sim.set_faults(Faults {
        latency_ms: 2,
        rate_limit_every: 7,
        server_error_every: 5,
        truncate_every: 4,
        ..Faults::default()
    });

    let mut all = BTreeSet::new();
    let mut state: Option<Value> = None;
    let mut kills = 0;
    for (run, seed) in (101..=110u64).enumerate() {
        let state_path = state.as_ref().map(|s| scratch.json("state.json", s));
        // Early enough that the run is still going, late enough that the chain gets through
        // every stream (each run first re-reads what its state does not cover).
        let after = 40 + (splitmix(seed) % 200) as usize;
        let watched = run_and_signal(&config, &catalog, state_path.as_deref(), after, "KILL");
        kills += usize::from(watched.signalled);
        for message in watched.messages.iter().filter(|m| m["type"] == "STATE") {
            assert_one_entry_per_partition(&message["value"], &repositories, &format!("run {run}"));
        }
        all.extend(emitted(&watched.messages));
        // Each run resumes from the last STATE of the one before (or the same state, when it
        // was killed before printing one).
        state = last_state(&watched.messages).or(state);
    }
    assert_eq!(kills, 10, "every kill landed while the tap was running");

    let state_path = state.as_ref().map(|s| scratch.json("state.json", s));
    let last = run_and_signal(&config, &catalog, state_path.as_deref(), usize::MAX, "KILL");
    sim.set_faults(Faults::default());
    assert_eq!(last.exit_code, Some(0), "the run after ten kills completes");
    for message in last.messages.iter().filter(|m| m["type"] == "STATE") {
        assert_one_entry_per_partition(&message["value"], &repositories, "the last run");
    }
    all.extend(emitted(&last.messages));
    let missing: Vec<_> = expected.difference(&all).take(5).collect();
    assert!(missing.is_empty(), "lost across ten kills: {missing:?}");
}
