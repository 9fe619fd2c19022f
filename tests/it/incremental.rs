//! Incremental state and the window (spec §4): first runs with each option, reruns with
//! state, new and updated objects after the server's clock moves, and the missed-run gap.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::harness::{assert_protocol, bookmark, config_for, simulator, sync_selected, ts, Run, Scratch};

/// Every pull request the simulator holds, as `(workspace, repo, id) -> updated_on`.
fn server_prs(sim: &bitbucket_simulator::Simulator) -> BTreeMap<(String, String, i64), String> {
    let mut out = BTreeMap::new();
    for ws in sim.workspace_slugs() {
        for repo in sim.repository_slugs(&ws) {
            for pr in sim.pullrequests(&ws, &repo) {
                out.insert(
                    (ws.clone(), repo.clone(), pr["id"].as_i64().unwrap()),
                    pr["updated_on"].as_str().unwrap().to_string(),
                );
            }
        }
    }
    out
}

fn emitted_prs(run: &Run) -> BTreeMap<(String, String, i64), String> {
    run.records("pullrequests")
        .into_iter()
        .map(|r| {
            (
                (
                    r["workspace_slug"].as_str().unwrap().to_string(),
                    r["repository_slug"].as_str().unwrap().to_string(),
                    r["id"].as_i64().unwrap(),
                ),
                r["updated_on"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn prs_only(sim: &bitbucket_simulator::Simulator, extra: Value) -> Value {
    let mut config = config_for(sim);
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config
}

fn sync_prs(scratch: &Scratch, config: &Value, state: Option<&Value>) -> Run {
    crate::harness::sync_ok(scratch, config, &["pullrequests"], state)
}

/// Every pull request at or after `lower` is emitted, and nothing before it.
fn assert_window(run: &Run, sim: &bitbucket_simulator::Simulator, lower: chrono::DateTime<Utc>) {
    let server = server_prs(sim);
    let emitted = emitted_prs(run);
    let expected: BTreeMap<_, _> = server.into_iter().filter(|(_, u)| ts(u) >= lower).collect();
    assert!(!expected.is_empty(), "the window should hold pull requests");
    assert_eq!(
        emitted, expected,
        "emitted pull requests = server's at or after {lower}"
    );
}

#[test]
fn first_run_with_start_date() {
    let sim = simulator();
    let scratch = Scratch::new();
    let start = Utc::now() - Duration::days(60);
    let run = sync_prs(
        &scratch,
        &prs_only(&sim, json!({"start_date": start.to_rfc3339()})),
        None,
    );
    assert_window(&run, &sim, start);
}

#[test]
fn first_run_with_days_back() {
    let sim = simulator();
    let scratch = Scratch::new();
    let before = Utc::now();
    let run = sync_prs(&scratch, &prs_only(&sim, json!({"days_back": 30})), None);
    let after = Utc::now();
    let emitted = emitted_prs(&run);
    assert!(!emitted.is_empty());
    for ((ws, repo, id), updated) in &emitted {
        assert!(
            ts(updated) >= before - Duration::days(30),
            "{ws}/{repo}#{id} at {updated} is older than 30 days"
        );
    }
    for (key, updated) in server_prs(&sim) {
        if ts(&updated) >= after - Duration::days(30) {
            assert!(emitted.contains_key(&key), "{key:?} updated {updated} is missing");
        }
    }
}

#[test]
fn rerun_with_state_returns_new_and_updated_only() {
    let sim = simulator();
    let scratch = Scratch::new();
    let config = prs_only(&sim, json!({}));
    let first = sync_prs(&scratch, &config, None);
    let state = first.last_state();
    let first_prs = emitted_prs(&first);
    assert_eq!(first_prs, server_prs(&sim));

    // Twenty days later on the server: new pull requests, updates, state changes.
    sim.set_clock_offset_hours(24 * 20);
    let second = sync_prs(&scratch, &config, Some(&state));
    let second_prs = emitted_prs(&second);
    let server = server_prs(&sim);
    let changed: Vec<_> = server
        .iter()
        .filter(|(k, u)| first_prs.get(*k) != Some(*u))
        .map(|(k, _)| k.clone())
        .collect();
    assert!(
        !changed.is_empty(),
        "the clock move should create or update pull requests"
    );
    for key in &changed {
        assert_eq!(
            second_prs.get(key),
            server.get(key),
            "{key:?} changed but was not re-emitted"
        );
    }
    for ((ws, repo, id), updated) in &second_prs {
        // A repository created since the first run has no bookmark: all of it is new.
        let Some(mark) = bookmark(&state, "pullrequests", ws, Some(repo)) else {
            continue;
        };
        assert!(
            ts(updated) >= ts(mark),
            "{ws}/{repo}#{id} at {updated} is below the bookmark {mark}"
        );
        let unchanged = first_prs.get(&(ws.clone(), repo.clone(), *id)) == Some(updated);
        assert!(
            !unchanged || ts(updated) == ts(mark),
            "{ws}/{repo}#{id} re-emitted though unchanged and not on the boundary"
        );
    }
    // Together, the two runs hold exactly what the server holds now.
    let mut union = first_prs.clone();
    union.extend(second_prs);
    assert_eq!(union, server);
    // Bookmarks never move backwards.
    let state2 = second.last_state();
    for (ws, repo, _) in server.keys() {
        if let Some(before) = bookmark(&state, "pullrequests", ws, Some(repo)) {
            let after = bookmark(&state2, "pullrequests", ws, Some(repo)).unwrap();
            assert!(ts(after) >= ts(before));
        }
    }
}

#[test]
fn missed_runs_with_days_back_leave_no_gap() {
    let sim = simulator();
    let scratch = Scratch::new();
    let config = prs_only(&sim, json!({}));
    let first = sync_prs(&scratch, &config, None);
    // Rewind every bookmark 90 days, as if the last run was long ago.
    let mut state = first.last_state();
    let old = Utc::now() - Duration::days(90);
    for p in state["bookmarks"]["pullrequests"]["partitions"]
        .as_array_mut()
        .unwrap()
    {
        p["replication_key_value"] = json!(old.to_rfc3339());
    }
    let run = sync_prs(&scratch, &prs_only(&sim, json!({"days_back": 7})), Some(&state));
    assert_window(&run, &sim, old);
}

#[test]
fn days_back_rereads_recent_days_despite_a_recent_bookmark() {
    let sim = simulator();
    let scratch = Scratch::new();
    let config = prs_only(&sim, json!({}));
    let state = sync_prs(&scratch, &config, None).last_state();
    let before = Utc::now();
    let run = sync_prs(&scratch, &prs_only(&sim, json!({"days_back": 10})), Some(&state));
    let after = Utc::now();
    let emitted = emitted_prs(&run);
    for (key, updated) in server_prs(&sim) {
        let at = ts(&updated);
        if at >= after - Duration::days(10) {
            assert!(emitted.contains_key(&key), "{key:?} at {updated} was not re-read");
        }
        if at < before - Duration::days(10) {
            assert!(
                !emitted.contains_key(&key),
                "{key:?} at {updated} is outside the window"
            );
        }
    }
}

#[test]
fn end_date_bounds_records_and_bookmarks() {
    let sim = simulator();
    let scratch = Scratch::new();
    let start = Utc::now() - Duration::days(200);
    let end = Utc::now() - Duration::days(100);
    let run = sync_prs(
        &scratch,
        &prs_only(
            &sim,
            json!({"start_date": start.to_rfc3339(), "end_date": end.to_rfc3339()}),
        ),
        None,
    );
    let expected: BTreeMap<_, _> = server_prs(&sim)
        .into_iter()
        .filter(|(_, u)| ts(u) >= start && ts(u) < end)
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(emitted_prs(&run), expected);
    for p in run.last_state()["bookmarks"]["pullrequests"]["partitions"]
        .as_array()
        .unwrap()
    {
        assert!(ts(p["replication_key_value"].as_str().unwrap()) <= end);
    }
}

#[test]
fn tiny_pages_with_tied_timestamps_lose_and_repeat_nothing() {
    let sim = simulator();
    let scratch = Scratch::new();
    let run = sync_prs(&scratch, &prs_only(&sim, json!({"page_size": 3})), None);
    assert_eq!(emitted_prs(&run), server_prs(&sim));
}

#[test]
fn every_state_message_covers_only_emitted_records() {
    let sim = simulator();
    let scratch = Scratch::new();
    let run = sync_prs(&scratch, &prs_only(&sim, json!({"page_size": 20})), None);
    let server = server_prs(&sim);
    let mut emitted = std::collections::HashSet::new();
    let mut states = 0;
    for m in &run.messages {
        match m["type"].as_str() {
            Some("RECORD") => {
                let r = &m["record"];
                emitted.insert((
                    r["workspace_slug"].as_str().unwrap().to_string(),
                    r["repository_slug"].as_str().unwrap().to_string(),
                    r["id"].as_i64().unwrap(),
                ));
            }
            Some("STATE") => {
                states += 1;
                // A rerun from this STATE would start at each bookmark: everything below it
                // must already be out.
                for (key, updated) in &server {
                    if let Some(mark) = bookmark(&m["value"], "pullrequests", &key.0, Some(&key.1)) {
                        if ts(updated) < ts(mark) {
                            assert!(
                                emitted.contains(key),
                                "STATE claims {key:?} before it was emitted"
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }
    assert!(states > 6, "a STATE after every page, got {states}");
}

#[test]
fn repositories_rerun_sees_new_and_updated_repositories() {
    let sim = simulator();
    let scratch = Scratch::new();
    let config = config_for(&sim);
    let first = sync_selected(&scratch, &config, &["repositories"], None).success();
    let state = first.last_state();
    sim.set_clock_offset_hours(24 * 30);
    let second = sync_selected(&scratch, &config, &["repositories"], Some(&state)).success();
    assert_protocol(&second);
    for ws in sim.workspace_slugs() {
        let mark = bookmark(&state, "repositories", &ws, None).expect("workspace bookmark");
        let expected: Vec<String> = sim
            .repositories(&ws)
            .into_iter()
            .filter(|r| ts(r["updated_on"].as_str().unwrap()) >= ts(mark))
            .map(|r| r["uuid"].as_str().unwrap().to_string())
            .collect();
        let mut got: Vec<String> = second
            .records("repositories")
            .into_iter()
            .filter(|r| r["workspace_slug"] == ws.as_str())
            .map(|r| r["uuid"].as_str().unwrap().to_string())
            .collect();
        let mut expected = expected;
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "repositories of {ws} updated since {mark}");
    }
}
