//! The history streams: `commits` (graph order is not date order), `pullrequest_activity`
//! (cursor pages, synthetic ids) and `directory_contents` (a walk of the tree).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::harness::{assert_same_object, bookmark, config_for, simulator, ts, Run, Scratch};

const ADDED: &[&str] = &["workspace_slug", "repository_slug", "repository_uuid"];

fn run(scratch: &Scratch, streams: &[&str], config: &Value, state: Option<&Value>) -> Run {
    crate::harness::sync_ok(scratch, config, streams, state)
}

fn by_repo<'a>(run: &'a Run, stream: &str) -> BTreeMap<(String, String), Vec<&'a Value>> {
    let mut out: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    for r in run.records(stream) {
        let key = (
            r["workspace_slug"].as_str().unwrap().to_string(),
            r["repository_slug"].as_str().unwrap().to_string(),
        );
        out.entry(key).or_default().push(r);
    }
    out
}

fn repos(sim: &bitbucket_simulator::Simulator) -> Vec<(String, String)> {
    sim.workspace_slugs()
        .into_iter()
        .flat_map(|ws| {
            sim.repository_slugs(&ws)
                .into_iter()
                .map(move |r| (ws.clone(), r))
        })
        .collect()
}

#[test]
fn commits_arrive_exactly_and_reruns_miss_none() {
    let sim = simulator();
    let scratch = Scratch::new();
    let config = config_for(&sim);
    let first = run(&scratch, &["commits"], &config, None);
    let got = by_repo(&first, "commits");
    let mut total = 0;
    for (ws, repo) in repos(&sim) {
        let served = sim.commits(&ws, &repo);
        let emitted = got.get(&(ws.clone(), repo.clone())).cloned().unwrap_or_default();
        assert_eq!(emitted.len(), served.len(), "commits of {ws}/{repo}");
        for (record, object) in emitted.iter().zip(&served) {
            assert_eq!(record["hash"], object["hash"], "graph order is kept");
            assert_same_object(
                record,
                ADDED,
                object,
                &format!("commit {ws}/{repo}@{}", object["hash"]),
            );
        }
        total += served.len();
    }
    assert!(total > 100, "the dataset has commits");

    // Later on the server: new commits, some authored before their neighbours.
    let state = first.last_state();
    let seen: BTreeSet<String> = first
        .records("commits")
        .iter()
        .map(|r| format!("{}@{}", r["repository_uuid"], r["hash"]))
        .collect();
    sim.set_clock_offset_hours(24 * 30);
    let second = run(&scratch, &["commits"], &config, Some(&state));
    let again: BTreeSet<String> = second
        .records("commits")
        .iter()
        .map(|r| format!("{}@{}", r["repository_uuid"], r["hash"]))
        .collect();
    let mut new = 0;
    for (ws, repo) in repos(&sim) {
        let uuid = sim
            .repositories(&ws)
            .into_iter()
            .find(|r| r["slug"] == repo.as_str())
            .map(|r| r["uuid"].clone())
            .unwrap();
        for c in sim.commits(&ws, &repo) {
            let key = format!("{}@{}", uuid, c["hash"]);
            if !seen.contains(&key) {
                new += 1;
                assert!(
                    again.contains(&key),
                    "new commit {ws}/{repo}@{} was missed",
                    c["hash"]
                );
            }
        }
        if let Some(mark) = bookmark(&state, "commits", &ws, Some(&repo)) {
            // A rerun reads back at most the lookback below the bookmark (plus its last page).
            let floor = ts(mark) - chrono::Duration::days(7);
            let older = second
                .records("commits")
                .into_iter()
                .filter(|r| r["repository_slug"] == repo.as_str() && r["workspace_slug"] == ws.as_str())
                .filter(|r| ts(r["date"].as_str().unwrap()) < floor)
                .count();
            assert!(
                older <= 100,
                "{ws}/{repo}: {older} commits below the lookback were re-read"
            );
        }
    }
    assert!(new > 0, "the clock move adds commits");
}

#[test]
fn activity_has_stable_ids_and_every_item() {
    let sim = simulator();
    let scratch = Scratch::new();
    let config = config_for(&sim);
    let first = run(&scratch, &["pullrequest_activity"], &config, None);
    let got = by_repo(&first, "pullrequest_activity");
    for (ws, repo) in repos(&sim) {
        let served = sim.pullrequest_activity(&ws, &repo);
        let emitted = got.get(&(ws.clone(), repo.clone())).cloned().unwrap_or_default();
        assert_eq!(emitted.len(), served.len(), "activity of {ws}/{repo}");
        for (record, item) in emitted.iter().zip(&served) {
            let kind = record["kind"].as_str().unwrap();
            assert!(item.get(kind).is_some(), "kind `{kind}` matches the item");
            assert_eq!(record["pullrequest_id"], item["pull_request"]["id"]);
            let id = record["id"].as_str().unwrap();
            assert_eq!(id.len(), 64);
            let expected_time = match kind {
                "comment" => item["comment"]["updated_on"]
                    .as_str()
                    .or(item["comment"]["created_on"].as_str()),
                other => item[other]["date"].as_str(),
            };
            assert_eq!(record["event_time"].as_str(), expected_time);
            assert_same_object(
                record,
                &[ADDED, &["id", "pullrequest_id", "kind", "event_time"]].concat(),
                item,
                &format!("activity of {ws}/{repo}"),
            );
        }
    }
    let ids = |r: &Run| -> BTreeSet<String> {
        r.records("pullrequest_activity")
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };

    // After the clock moves, a rerun from state returns every new item.
    let state = first.last_state();
    sim.set_clock_offset_hours(24 * 30);
    let later = run(&scratch, &["pullrequest_activity"], &config, Some(&state));
    let full = run(&scratch, &["pullrequest_activity"], &config, None);
    // The same items get the same ids in another run, even a month later (items are never
    // removed, and a comment's id does not change when it is edited).
    let (before, after) = (ids(&first), ids(&full));
    assert_eq!(
        before.len(),
        first.records("pullrequest_activity").len(),
        "ids are unique"
    );
    assert!(before.is_subset(&after), "an item changed id between runs");
    let new: BTreeSet<String> = ids(&full).difference(&ids(&first)).cloned().collect();
    assert!(!new.is_empty(), "the clock move adds activity");
    assert!(
        new.is_subset(&ids(&later)),
        "a rerun from state misses new activity"
    );
    assert!(
        ids(&later).len() < ids(&full).len(),
        "a rerun from state does not re-read everything"
    );
}

#[test]
fn directory_contents_walks_the_whole_tree_or_one_level() {
    let sim = simulator();
    let scratch = Scratch::new();
    let mut config = config_for(&sim);
    config["src_max_depth"] = json!(0);
    let whole = run(&scratch, &["directory_contents"], &config, None);
    let got = by_repo(&whole, "directory_contents");
    let mut checked = 0;
    for (ws, repo) in repos(&sim) {
        let served = sim.src_tree(&ws, &repo);
        let emitted = got.get(&(ws.clone(), repo.clone())).cloned().unwrap_or_default();
        if sim.main_branch(&ws, &repo).is_none() {
            assert!(emitted.is_empty());
            assert!(
                whole.stderr.contains(&format!("{ws}/{repo}")),
                "an empty repository is named in a warning"
            );
            continue;
        }
        let paths = |v: Vec<&Value>| {
            v.iter()
                .map(|e| e["path"].as_str().unwrap().to_string())
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(
            paths(emitted.clone()),
            paths(served.iter().collect()),
            "tree of {ws}/{repo}"
        );
        for record in &emitted {
            assert_eq!(record["commit_hash"], record["commit"]["hash"]);
            let object = served.iter().find(|s| s["path"] == record["path"]).unwrap();
            assert_same_object(record, &[ADDED, &["commit_hash"]].concat(), object, "tree entry");
        }
        checked += 1;
    }
    assert!(checked > 0);

    config["src_max_depth"] = json!(1);
    let top = run(&scratch, &["directory_contents"], &config, None);
    for r in top.records("directory_contents") {
        assert!(
            !r["path"].as_str().unwrap().contains('/'),
            "depth 1 lists the root only: {}",
            r["path"]
        );
    }
    assert!(!top.records("directory_contents").is_empty());
}
