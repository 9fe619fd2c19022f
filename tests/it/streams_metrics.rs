//! The engineering-metrics streams (spec §3b): refs, environments, deployments, pipelines and
//! their steps, pull-request comments and children. Every object the simulator holds arrives
//! exactly, reruns bring what changed (running pipelines that finished, with their steps), the
//! API's quirks do not matter, the request cost stays at the spec's limit, and the DORA joins
//! hold on what was emitted.

use std::collections::{BTreeMap, BTreeSet};

use bitbucket_simulator::{SimConfig, Simulator};
use serde_json::{json, Value};

use crate::harness::{assert_same_object, config_for, simulator, Run, Scratch};

const ADDED: &[&str] = &["workspace_slug", "repository_slug", "repository_uuid"];
const PR_ADDED: &[&str] = &[
    "workspace_slug",
    "repository_slug",
    "repository_uuid",
    "pullrequest_id",
    "pullrequest_updated_on",
];

/// Every stream this file is about.
const METRICS: &[&str] = &[
    "branches",
    "tags",
    "environments",
    "pipelines",
    "pipeline_steps",
    "deployments",
    "pullrequest_comments",
    "pullrequest_commits",
    "pullrequest_diffstat",
    "pullrequest_statuses",
    "pullrequest_tasks",
];

/// The simulator's config, without the client-side request budget: a first sync of every
/// pull request's children takes thousands of requests, which the default budget (1000 an
/// hour, Bitbucket's limit) would pace over hours.
fn config(sim: &Simulator) -> Value {
    let mut config = config_for(sim);
    config["requests_per_hour"] = json!(0);
    config
}

fn run(scratch: &Scratch, streams: &[&str], config: &Value, state: Option<&Value>) -> Run {
    crate::harness::sync_ok(scratch, config, streams, state)
}

/// Every visible repository, as `(workspace, slug)`.
fn repos(sim: &Simulator) -> Vec<(String, String)> {
    sim.workspace_slugs()
        .into_iter()
        .flat_map(|ws| {
            sim.repository_slugs(&ws)
                .into_iter()
                .map(move |r| (ws.clone(), r))
        })
        .collect()
}

/// The records of a stream, grouped by repository.
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

/// Asserts `emitted` holds exactly the `served` objects, matched by `key`, each equal.
fn assert_exactly(emitted: &[&Value], served: &[Value], key: &str, added: &[&str], what: &str) {
    assert_matching(
        emitted,
        served,
        &|r| r[key].to_string(),
        &|o| o[key].to_string(),
        added,
        what,
    );
}

/// Asserts `emitted` holds exactly the `served` objects, a record matched to the object with
/// the same key (`record_key` of the record, `served_key` of the object), each equal but for
/// the `added` fields.
fn assert_matching(
    emitted: &[&Value],
    served: &[Value],
    record_key: &dyn Fn(&Value) -> String,
    served_key: &dyn Fn(&Value) -> String,
    added: &[&str],
    what: &str,
) {
    let served_by_key: BTreeMap<String, &Value> = served.iter().map(|o| (served_key(o), o)).collect();
    let emitted_keys: BTreeSet<String> = emitted.iter().map(|r| record_key(r)).collect();
    assert_eq!(
        emitted_keys,
        served_by_key.keys().cloned().collect::<BTreeSet<_>>(),
        "{what}: the emitted keys are the served ones"
    );
    assert_eq!(emitted.len(), served.len(), "{what}: each once");
    for record in emitted {
        let object = served_by_key[&record_key(record)];
        assert_same_object(record, added, object, &format!("{what} {}", record_key(record)));
    }
}

/// The path a diffstat entry is keyed on: the new path, else the old one.
fn diffstat_path(entry: &Value) -> String {
    entry["new"]["path"]
        .as_str()
        .or(entry["old"]["path"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn is_completed(pipeline: &Value) -> bool {
    pipeline["state"]["name"] == "COMPLETED"
}

#[test]
fn a_full_sync_returns_exactly_what_the_server_holds() {
    let sim = simulator();
    let scratch = Scratch::new();
    let first = run(&scratch, METRICS, &config(&sim), None);
    let mut seen = BTreeMap::<&str, usize>::new();
    let grouped: BTreeMap<&str, _> = METRICS.iter().map(|s| (*s, by_repo(&first, s))).collect();
    for (ws, repo) in repos(&sim) {
        let place = format!("{ws}/{repo}");
        let key = (ws.clone(), repo.clone());
        let of = |stream: &str| grouped[stream].get(&key).cloned().unwrap_or_default();

        assert_exactly(
            &of("branches"),
            &sim.branches(&ws, &repo),
            "name",
            ADDED,
            &format!("branch of {place}"),
        );
        assert_exactly(
            &of("tags"),
            &sim.tags(&ws, &repo),
            "name",
            ADDED,
            &format!("tag of {place}"),
        );
        assert_exactly(
            &of("environments"),
            &sim.environments(&ws, &repo),
            "uuid",
            ADDED,
            &format!("environment of {place}"),
        );
        assert_exactly(
            &of("deployments"),
            &sim.deployments(&ws, &repo),
            "uuid",
            ADDED,
            &format!("deployment of {place}"),
        );
        let pipelines = sim.pipelines(&ws, &repo);
        let emitted: Vec<&Value> = of("pipelines");
        assert_exactly(
            &emitted,
            &pipelines,
            "uuid",
            ADDED,
            &format!("pipeline of {place}"),
        );
        let order: Vec<&Value> = emitted.iter().map(|p| &p["uuid"]).collect();
        let served_order: Vec<&Value> = pipelines.iter().map(|p| &p["uuid"]).collect();
        assert_eq!(order, served_order, "pipelines of {place} arrive newest first");

        // Steps: those of every pipeline seen completed, and of no other.
        let steps = of("pipeline_steps");
        let mut expected_steps = Vec::new();
        for pipeline in pipelines.iter().filter(|p| is_completed(p)) {
            let uuid = pipeline["uuid"].as_str().unwrap();
            for step in sim.pipeline_steps(&ws, &repo, uuid) {
                expected_steps.push((uuid.to_string(), pipeline["created_on"].clone(), step));
            }
        }
        assert_eq!(steps.len(), expected_steps.len(), "steps of {place}");
        for (pipeline, created_on, step) in &expected_steps {
            let record = steps
                .iter()
                .find(|s| s["pipeline_uuid"] == pipeline.as_str() && s["uuid"] == step["uuid"])
                .unwrap_or_else(|| panic!("step {} of pipeline {pipeline} of {place}", step["uuid"]));
            assert_eq!(record["pipeline_created_on"], *created_on);
            let mut added = ADDED.to_vec();
            added.extend(["pipeline_uuid", "pipeline_created_on"]);
            assert_same_object(record, &added, step, &format!("step of {place}"));
        }

        // Pull-request children: every pull request's, at a first sync.
        for stream in [
            "pullrequest_commits",
            "pullrequest_diffstat",
            "pullrequest_statuses",
            "pullrequest_tasks",
        ] {
            let records = of(stream);
            let mut total = 0;
            for pr in sim.pullrequests(&ws, &repo) {
                let id = pr["id"].as_u64().unwrap() as u32;
                let mine: Vec<&Value> = records
                    .iter()
                    .copied()
                    .filter(|r| r["pullrequest_id"] == id)
                    .collect();
                for r in &mine {
                    assert_eq!(r["pullrequest_updated_on"], pr["updated_on"], "{stream} of #{id}");
                }
                let what = format!("{stream} of {place}#{id}");
                let mut added = PR_ADDED.to_vec();
                match stream {
                    "pullrequest_commits" => assert_exactly(
                        &mine,
                        &sim.pullrequest_commits(&ws, &repo, id),
                        "hash",
                        &added,
                        &what,
                    ),
                    "pullrequest_diffstat" => {
                        added.push("file_path");
                        let served = sim.pullrequest_diffstat(&ws, &repo, id);
                        let key = |r: &Value| r["file_path"].as_str().unwrap_or_default().to_string();
                        assert_matching(&mine, &served, &key, &diffstat_path, &added, &what);
                    }
                    "pullrequest_statuses" => {
                        added.push("commit_hash");
                        for r in &mine {
                            let href = r["links"]["commit"]["href"].as_str().unwrap();
                            let hash = r["commit_hash"].as_str().unwrap();
                            assert!(hash.len() >= 12 && href.ends_with(hash), "{r}");
                        }
                        let key = |r: &Value| {
                            format!("{}|{}", r["commit_hash"].as_str().unwrap_or_default(), r["key"])
                        };
                        let served_key = |o: &Value| {
                            let href = o["links"]["commit"]["href"].as_str().unwrap_or_default();
                            format!("{}|{}", href.rsplit('/').next().unwrap_or_default(), o["key"])
                        };
                        let served = sim.pullrequest_statuses(&ws, &repo, id);
                        assert_matching(&mine, &served, &key, &served_key, &added, &what);
                    }
                    _ => assert_exactly(&mine, &sim.pullrequest_tasks(&ws, &repo, id), "id", &added, &what),
                }
                total += mine.len();
            }
            assert_eq!(records.len(), total, "{stream} of {place}: nothing else");
            *seen.entry(stream).or_default() += total;
        }

        // Comments: the comment items of the activity feed.
        let served: Vec<Value> = sim
            .pullrequest_activity(&ws, &repo)
            .into_iter()
            .filter_map(|item| item.get("comment").cloned())
            .collect();
        let comments = of("pullrequest_comments");
        let mut added = ADDED.to_vec();
        added.push("pullrequest_id");
        assert_exactly(&comments, &served, "id", &added, &format!("comment of {place}"));
        for c in &comments {
            assert_eq!(c["pullrequest_id"], c["pullrequest"]["id"], "{c}");
        }
        for stream in [
            "branches",
            "tags",
            "environments",
            "pipelines",
            "pipeline_steps",
            "deployments",
            "pullrequest_comments",
        ] {
            *seen.entry(stream).or_default() += of(stream).len();
        }
    }
    for stream in METRICS {
        assert!(
            seen.get(stream).is_some_and(|n| *n > 0),
            "the dataset has {stream}: {seen:?}"
        );
    }
}

/// The latest record of each key across runs (a later run's record replaces an earlier one),
/// as a target upserting on the key would hold them.
fn upserted<'a>(
    runs: &[&'a Run],
    stream: &str,
    key: &dyn Fn(&Value) -> String,
) -> BTreeMap<String, &'a Value> {
    let mut out = BTreeMap::new();
    for run in runs {
        for record in run.records(stream) {
            out.insert(key(record), record);
        }
    }
    out
}

/// The `open` list of a stream's partition in a state value.
fn open_list(state: &Value, stream: &str, ws: &str, repo: &str) -> BTreeSet<String> {
    state["bookmarks"][stream]["partitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["context"] == json!({"workspace": ws, "repository": repo}))
        .flat_map(|p| p["open"].as_array().cloned().unwrap_or_default())
        .map(|u| u.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn running_pipelines_arrive_completed_later_with_their_steps_and_state_stays_bounded() {
    let sim = simulator();
    let scratch = Scratch::new();
    let config = config(&sim);
    let streams = ["pipelines", "pipeline_steps", "deployments"];
    let first = run(&scratch, &streams, &config, None);
    let state = first.last_state();
    let mut running = 0;
    for (ws, repo) in repos(&sim) {
        let open: BTreeSet<String> = sim
            .pipelines(&ws, &repo)
            .iter()
            .filter(|p| !is_completed(p))
            .map(|p| p["uuid"].as_str().unwrap().to_string())
            .collect();
        running += open.len();
        for stream in ["pipelines", "pipeline_steps"] {
            assert_eq!(
                open_list(&state, stream, &ws, &repo),
                open,
                "{stream} follows the running pipelines of {ws}/{repo}"
            );
        }
    }
    assert!(running > 0, "pipelines are running at the first run");

    // Five days later: every pipeline running then has finished (the stuck one on day 3).
    sim.set_clock_offset_hours(5 * 24);
    let second = run(&scratch, &streams, &config, Some(&state));
    let later = second.last_state();
    let uuid = |r: &Value| r["uuid"].to_string();
    let pipelines = upserted(&[&first, &second], "pipelines", &uuid);
    let steps = upserted(&[&first, &second], "pipeline_steps", &|r| {
        format!("{}|{}", r["pipeline_uuid"], r["uuid"])
    });
    let deployments = upserted(&[&first, &second], "deployments", &uuid);
    let (mut served_steps, mut completed_later) = (0, 0);
    for (ws, repo) in repos(&sim) {
        let served = sim.pipelines(&ws, &repo);
        for pipeline in &served {
            let record = pipelines
                .get(&pipeline["uuid"].to_string())
                .unwrap_or_else(|| panic!("pipeline {} of {ws}/{repo} arrived", pipeline["uuid"]));
            // A pipeline embeds its pull request's title as it is when read: a title edited
            // since is in `pullrequests`, not a change of the pipeline.
            let (mut record, mut pipeline) = ((*record).clone(), pipeline.clone());
            for value in [&mut record, &mut pipeline] {
                if let Some(pr) = value["target"]["pullrequest"].as_object_mut() {
                    pr.remove("title");
                }
            }
            assert_same_object(&record, ADDED, &pipeline, &format!("pipeline of {ws}/{repo}"));
            let pipeline = &pipeline;
            let was_open =
                open_list(&state, "pipelines", &ws, &repo).contains(pipeline["uuid"].as_str().unwrap());
            if was_open && is_completed(pipeline) {
                completed_later += 1;
            }
            if is_completed(pipeline) {
                for step in sim.pipeline_steps(&ws, &repo, pipeline["uuid"].as_str().unwrap()) {
                    let key = format!("{}|{}", pipeline["uuid"], step["uuid"]);
                    let record = steps
                        .get(&key)
                        .unwrap_or_else(|| panic!("step {key} of a completed pipeline arrived"));
                    assert_same_object(
                        record,
                        &[ADDED, &["pipeline_uuid", "pipeline_created_on"]].concat(),
                        &step,
                        "step",
                    );
                    served_steps += 1;
                }
            }
        }
        for deployment in sim.deployments(&ws, &repo) {
            let record = deployments
                .get(&deployment["uuid"].to_string())
                .unwrap_or_else(|| panic!("deployment {} of {ws}/{repo} arrived", deployment["uuid"]));
            assert_same_object(record, ADDED, &deployment, &format!("deployment of {ws}/{repo}"));
        }
        let still_open: BTreeSet<String> = served
            .iter()
            .filter(|p| !is_completed(p))
            .map(|p| p["uuid"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            open_list(&later, "pipelines", &ws, &repo),
            still_open,
            "{ws}/{repo}"
        );
    }
    assert_eq!(steps.len(), served_steps, "no step of a pipeline still running");
    assert!(
        completed_later > 0,
        "some pipelines were running at the first run and finished since"
    );
    // Bounded: one entry per stream per partition, whatever was followed.
    for stream in streams {
        let partitions = later["bookmarks"][stream]["partitions"].as_array().unwrap();
        let contexts: BTreeSet<String> = partitions.iter().map(|p| p["context"].to_string()).collect();
        assert_eq!(
            contexts.len(),
            partitions.len(),
            "{stream}: one entry per partition"
        );
        assert!(partitions.len() <= repos(&sim).len());
    }
}

#[test]
fn many_pipelines_still_open_are_found_by_reading_the_listing_deeper() {
    let sim = simulator();
    let scratch = Scratch::new();
    // Pages of ten, so that the pipelines of one repository span several.
    let mut config = config(&sim);
    config["page_size"] = json!(10);
    let streams = ["pipelines", "pipeline_steps"];
    let first = run(&scratch, &streams, &config, None);
    let mut state = first.last_state();

    // The completed ones of the 10th to 49th newest pipelines of the busiest repository,
    // followed as if they had been running at the last run.
    let (ws, slug) = repos(&sim)
        .into_iter()
        .max_by_key(|(ws, slug)| sim.pipelines(ws, slug).len())
        .unwrap();
    let mut listed = sim.pipelines(&ws, &slug);
    assert!(listed.len() >= 50, "{ws}/{slug} has {} pipelines", listed.len());
    listed.sort_by(|a, b| b["created_on"].as_str().cmp(&a["created_on"].as_str()));
    let followed: Vec<Value> = listed[10..50]
        .iter()
        .filter(|p| is_completed(p))
        .cloned()
        .collect();
    assert!(followed.len() >= 35, "{}", followed.len());
    let uuids: BTreeSet<String> = followed
        .iter()
        .map(|p| p["uuid"].as_str().unwrap().to_string())
        .collect();
    for stream in streams {
        for partition in state["bookmarks"][stream]["partitions"].as_array_mut().unwrap() {
            if partition["context"] == json!({"workspace": ws, "repository": slug}) {
                partition["open"] = json!(uuids);
            }
        }
    }

    sim.clear_requests();
    let again = run(&scratch, &streams, &config, Some(&state));
    let repo = format!("{ws}/{slug}");
    let made = requests_by_kind(&sim);
    let count = |kind: &str| made.get(&(repo.clone(), kind)).copied().unwrap_or(0);
    // Every followed pipeline arrives, completed, with its steps, and leaves the open list.
    let emitted: BTreeSet<String> = again
        .records("pipelines")
        .iter()
        .filter(|r| uuids.contains(r["uuid"].as_str().unwrap()))
        .filter(|r| is_completed(r))
        .map(|r| r["uuid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(emitted, uuids);
    let steps: BTreeSet<String> = again
        .records("pipeline_steps")
        .iter()
        .map(|r| r["pipeline_uuid"].as_str().unwrap().to_string())
        .collect();
    assert!(uuids.is_subset(&steps), "the steps of each followed pipeline");
    assert_eq!(count("steps"), uuids.len(), "one steps read per pipeline");
    let later = again.last_state();
    for stream in streams {
        assert!(
            open_list(&later, stream, &ws, &slug).is_disjoint(&uuids),
            "{stream}"
        );
    }
    // The listing was read deeper (pages of ten hold them, from the 2nd) instead of one
    // read each: at least to the 3rd page, and in all at most half the single reads.
    assert!(count("pipelines") >= 3, "{made:?}");
    assert!(
        count("pipelines") + count("pipeline") <= uuids.len() / 2,
        "{} listing pages and {} single reads for {} pipelines",
        count("pipelines"),
        count("pipeline"),
        uuids.len()
    );
}

/// The requests a run made, per repository and endpoint kind.
fn requests_by_kind(sim: &Simulator) -> BTreeMap<(String, &'static str), usize> {
    let mut out = BTreeMap::new();
    for r in sim.requests() {
        let path = r.path().to_string();
        let Some(rest) = path.strip_prefix("/2.0/repositories/") else {
            continue;
        };
        let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        if parts.len() < 3 {
            continue;
        }
        let repo = format!("{}/{}", parts[0], parts[1]);
        let kind = match &parts[2..] {
            ["pullrequests"] => "pullrequests",
            ["pullrequests", "activity"] => "activity",
            ["pullrequests", _, "commits"] => "pr commits",
            ["pullrequests", _, "diffstat"] | ["diffstat", ..] => "pr diffstat",
            ["pullrequests", _, "statuses"] => "pr statuses",
            ["pullrequests", _, "tasks"] => "pr tasks",
            ["pipelines"] => "pipelines",
            ["pipelines", _] => "pipeline",
            ["pipelines", _, "steps"] => "steps",
            ["deployments"] => "deployments",
            ["environments"] => "environments",
            ["refs", "branches"] => "branches",
            ["refs", "tags"] => "tags",
            _ => "other",
        };
        *out.entry((repo, kind)).or_default() += 1;
    }
    out
}

#[test]
fn a_rerun_where_nothing_changed_costs_what_the_spec_allows() {
    let sim = simulator();
    let scratch = Scratch::new();
    let config = config(&sim);
    let mut streams = METRICS.to_vec();
    streams.extend(["pullrequests", "pullrequest_activity"]);
    let first = run(&scratch, &streams, &config, None);
    let state = first.last_state();
    sim.clear_requests();
    let again = run(&scratch, &streams, &config, Some(&state));
    let made = requests_by_kind(&sim);
    let count = |repo: &str, kind: &str| made.get(&(repo.to_string(), kind)).copied().unwrap_or(0);
    let pages = |n: usize| n.div_ceil(100).max(1);
    let mut multi_page_feeds = 0;
    for (ws, slug) in repos(&sim) {
        let repo = format!("{ws}/{slug}");
        // One request for each keyset or newest-first listing: the page that shows nothing changed.
        assert_eq!(count(&repo, "pullrequests"), 1, "{repo}");
        // The activity feed's first page shows that nothing changed (the bookmark's record,
        // then older ones): no second page, even where the feed has one.
        multi_page_feeds += usize::from(sim.pullrequest_activity(&ws, &slug).len() > 50);
        assert_eq!(count(&repo, "activity"), 1, "{repo}");
        assert_eq!(count(&repo, "pipelines"), 1, "{repo}");
        // The pages of the full-table streams and of deployments (read whole by design).
        assert_eq!(
            count(&repo, "branches"),
            pages(sim.branches(&ws, &slug).len()),
            "{repo}"
        );
        assert_eq!(count(&repo, "tags"), pages(sim.tags(&ws, &slug).len()), "{repo}");
        assert_eq!(
            count(&repo, "environments"),
            pages(sim.environments(&ws, &slug).len()),
            "{repo}"
        );
        assert_eq!(
            count(&repo, "deployments"),
            pages(sim.deployments(&ws, &slug).len()),
            "{repo}"
        );
        // One request per open pipeline the first page did not show.
        let open = open_list(&state, "pipelines", &ws, &slug);
        assert!(
            count(&repo, "pipeline") <= open.len(),
            "{repo}: {} pipeline reads, {} open",
            count(&repo, "pipeline"),
            open.len()
        );
        // Steps are read once per pipeline: none again for the pipeline at the bookmark.
        assert_eq!(count(&repo, "steps"), 0, "{repo}: steps read again");
        // The children of the pull requests at the inclusive boundary, and no other.
        let prs = sim.pullrequests(&ws, &slug);
        let newest = prs
            .iter()
            .filter_map(|p| p["updated_on"].as_str())
            .max()
            .map(crate::harness::ts);
        let at_boundary = prs
            .iter()
            .filter(|p| p["updated_on"].as_str().map(crate::harness::ts) == newest)
            .count();
        for kind in ["pr commits", "pr statuses", "pr tasks"] {
            assert_eq!(count(&repo, kind), at_boundary, "{repo}: {kind}");
        }
        // The diffstat redirect costs a second request per pull request.
        assert_eq!(count(&repo, "pr diffstat"), 2 * at_boundary, "{repo}: diffstat");
        assert_eq!(count(&repo, "other"), 0, "{repo}");
    }
    assert!(
        multi_page_feeds > 0,
        "no activity feed of more than one page: the test shows nothing"
    );
    // Of the keyset and newest-first streams, only the records at the inclusive boundary
    // come again.
    for (stream, key) in [
        ("pullrequests", "updated_on"),
        ("pullrequest_comments", "updated_on"),
        ("pullrequest_activity", "event_time"),
    ] {
        for record in again.records(stream) {
            let (ws, slug) = (
                record["workspace_slug"].as_str().unwrap(),
                record["repository_slug"].as_str().unwrap(),
            );
            let mark = crate::harness::bookmark(&state, stream, ws, Some(slug)).expect("a bookmark");
            assert_eq!(
                crate::harness::ts(record[key].as_str().unwrap()),
                crate::harness::ts(mark),
                "{stream} re-sent a record below its boundary: {record}"
            );
        }
    }
    for record in again.records("pipelines") {
        let (ws, slug) = (
            record["workspace_slug"].as_str().unwrap(),
            record["repository_slug"].as_str().unwrap(),
        );
        let mark = crate::harness::bookmark(&state, "pipelines", ws, Some(slug)).expect("a bookmark");
        let followed = open_list(&state, "pipelines", ws, slug).contains(record["uuid"].as_str().unwrap());
        let at_boundary =
            crate::harness::ts(record["created_on"].as_str().unwrap()) == crate::harness::ts(mark);
        assert!(
            followed || at_boundary,
            "pipelines re-sent one neither running nor at the boundary: {record}"
        );
    }
}

#[test]
fn quirks_and_refusals_of_the_metrics_endpoints_lose_nothing() {
    let sim = simulator();
    let scratch = Scratch::new();
    // Pipelines and deployments refuse a pagelen of 100; their next links are wrong (default).
    sim.set_ci_max_pagelen(Some(50));
    // One pull request's diffstat is too large to compute; another's fork is gone.
    sim.set_status_override("/2.0/repositories/acme/api/pullrequests/7/diffstat", 555);
    sim.set_status_override("/2.0/repositories/acme/api/pullrequests/9/commits", 404);
    let streams = [
        "pipelines",
        "deployments",
        "pullrequest_diffstat",
        "pullrequest_commits",
    ];
    let got = run(&scratch, &streams, &config(&sim), None);
    let (mut all_pipelines, mut all_deployments) = (by_repo(&got, "pipelines"), by_repo(&got, "deployments"));
    for (ws, repo) in repos(&sim) {
        let key = (ws.clone(), repo.clone());
        let pipelines = all_pipelines.remove(&key).unwrap_or_default();
        assert_exactly(
            &pipelines,
            &sim.pipelines(&ws, &repo),
            "uuid",
            ADDED,
            &format!("pipeline of {ws}/{repo}"),
        );
        let deployments = all_deployments.remove(&key).unwrap_or_default();
        assert_exactly(
            &deployments,
            &sim.deployments(&ws, &repo),
            "uuid",
            ADDED,
            &format!("deployment of {ws}/{repo}"),
        );
    }
    let warnings: Vec<&str> = got.stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert!(
        warnings.iter().any(|l| l.contains("pagelen")),
        "the refused pagelen is warned about:\n{}",
        got.stderr
    );
    let skipped = |stream: &str, id: u64| {
        warnings
            .iter()
            .any(|l| l.contains(stream) && l.contains(&format!("#{id} of acme/api")))
    };
    assert!(skipped("pullrequest_diffstat", 7), "{}", got.stderr);
    assert!(skipped("pullrequest_commits", 9), "{}", got.stderr);
    let of_pr = |stream: &str, id: u64| {
        got.records(stream)
            .into_iter()
            .filter(|r| {
                r["repository_slug"] == "api" && r["workspace_slug"] == "acme" && r["pullrequest_id"] == id
            })
            .count()
    };
    assert_eq!(of_pr("pullrequest_diffstat", 7), 0);
    assert_eq!(of_pr("pullrequest_commits", 9), 0);
    assert_eq!(
        of_pr("pullrequest_diffstat", 9),
        sim.pullrequest_diffstat("acme", "api", 9).len()
    );
    assert_eq!(
        of_pr("pullrequest_commits", 7),
        sim.pullrequest_commits("acme", "api", 7).len()
    );
    // A 555 is the same answer again: asked once.
    let asked = sim
        .requests()
        .iter()
        .filter(|r| r.path() == "/2.0/repositories/acme/api/pullrequests/7/diffstat")
        .count();
    assert_eq!(asked, 1);
    // Pages of the CI endpoints are asked by number, in the sort the tap chose.
    for r in sim
        .requests()
        .iter()
        .filter(|r| r.path().ends_with("/pipelines/") && r.status == 200)
    {
        assert_eq!(r.query_param("sort").as_deref(), Some("-created_on"), "{r:?}");
        assert!(r.query_param("page").is_some(), "{r:?}");
    }
    // Repositories without Pipelines are empty streams, not skipped partitions.
    for (ws, repo) in repos(&sim).iter().filter(|(w, r)| !sim.pipelines_enabled(w, r)) {
        let skipped = |l: &&&str| l.contains("Skipping") && l.contains(&format!("{ws}/{repo}"));
        assert!(
            !warnings.iter().any(|l| skipped(&l)),
            "{ws}/{repo}: {}",
            got.stderr
        );
    }
    assert!(repos(&sim).iter().any(|(w, r)| !sim.pipelines_enabled(w, r)));
}

#[test]
fn the_dora_joins_hold_on_what_was_emitted() {
    let sim = Simulator::start(SimConfig::default()).expect("start simulator");
    sim.set_clock_offset_hours(720);
    let scratch = Scratch::new();
    let streams = [
        "pullrequests",
        "commits",
        "environments",
        "pipelines",
        "pipeline_steps",
        "deployments",
        "pullrequest_comments",
        "pullrequest_activity",
    ];
    let got = run(&scratch, &streams, &config(&sim), None);
    let set = |stream: &str, key: &dyn Fn(&Value) -> String| -> BTreeSet<String> {
        got.records(stream).into_iter().map(key).collect()
    };
    let pipelines = set("pipelines", &|r| r["uuid"].to_string());
    let environments = set("environments", &|r| r["uuid"].to_string());
    let commits = set("commits", &|r| r["hash"].as_str().unwrap().to_string());
    for step in got.records("pipeline_steps") {
        assert!(
            pipelines.contains(&step["pipeline_uuid"].to_string()),
            "step of an unknown pipeline: {step}"
        );
    }
    let merged: Vec<&Value> = got
        .records("pullrequests")
        .into_iter()
        .filter(|p| p["state"] == "MERGED")
        .collect();
    let merge_hashes: Vec<String> = merged
        .iter()
        .filter_map(|p| p["merge_commit"]["hash"].as_str().map(str::to_string))
        .collect();
    let mut lead_time_rows = 0;
    for deployment in got.records("deployments") {
        let hash = deployment["release"]["commit"]["hash"]
            .as_str()
            .expect("release.commit.hash");
        assert!(
            commits.contains(hash) || merge_hashes.iter().any(|m| hash.starts_with(m.as_str())),
            "deployment of an unknown commit: {deployment}"
        );
        assert!(
            environments.contains(&deployment["environment"]["uuid"].to_string()),
            "{deployment}"
        );
        assert!(
            pipelines.contains(&deployment["release"]["pipeline"]["uuid"].to_string()),
            "{deployment}"
        );
        let production = got.records("environments").into_iter().any(|e| {
            e["uuid"] == deployment["environment"]["uuid"] && e["environment_type"]["name"] == "Production"
        });
        if production
            && deployment["state"]["status"]["name"] == "SUCCESSFUL"
            && merge_hashes.iter().any(|m| hash.starts_with(m.as_str()))
        {
            lead_time_rows += 1;
        }
    }
    assert!(lead_time_rows > 0, "merged pull requests reach production");
    // Review: comments are the comment items of the activity feed.
    let activity_comments: BTreeSet<String> = got
        .records("pullrequest_activity")
        .into_iter()
        .filter(|a| a["kind"] == "comment")
        .map(|a| a["comment"]["id"].to_string())
        .collect();
    let comments = set("pullrequest_comments", &|c| c["id"].to_string());
    assert_eq!(comments, activity_comments);
}
