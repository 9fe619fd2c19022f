//! Full syncs against the simulator: every object arrives exactly as the server holds it.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::harness::{
    assert_protocol, assert_same_object, config_for, simulator, sync, user_config, Scratch,
};

#[test]
fn full_sync_returns_every_object_exactly() {
    let sim = simulator();
    let scratch = Scratch::new();
    let run = sync(&scratch, &config_for(&sim), None).success();
    assert_protocol(&run);

    let workspaces = sim.workspace_slugs();
    assert!(workspaces.len() >= 2);
    let mut states = BTreeSet::new();
    let mut total_prs = 0;
    for ws in &workspaces {
        // Repositories: the same set, each object exactly as served.
        let expected = sim.repositories(ws);
        let got: Vec<&Value> = run
            .records("repositories")
            .into_iter()
            .filter(|r| r["workspace_slug"] == ws.as_str())
            .collect();
        assert_eq!(got.len(), expected.len(), "repositories of {ws}");
        for object in &expected {
            let record = got
                .iter()
                .find(|r| r["uuid"] == object["uuid"])
                .unwrap_or_else(|| panic!("repository {} missing", object["full_name"]));
            assert_same_object(record, &["workspace_slug"], object, "repository");
        }

        for repo in sim.repository_slugs(ws) {
            let expected = sim.pullrequests(ws, &repo);
            let got: Vec<&Value> = run
                .records("pullrequests")
                .into_iter()
                .filter(|r| r["workspace_slug"] == ws.as_str() && r["repository_slug"] == repo.as_str())
                .collect();
            assert_eq!(got.len(), expected.len(), "pull requests of {ws}/{repo}");
            let uuid = got.first().map(|r| r["repository_uuid"].clone());
            for object in &expected {
                states.insert(object["state"].as_str().unwrap().to_string());
                let record = got
                    .iter()
                    .find(|r| r["id"] == object["id"])
                    .unwrap_or_else(|| panic!("pull request {ws}/{repo}#{} missing", object["id"]));
                assert_eq!(Some(&record["repository_uuid"]), uuid.as_ref());
                assert!(
                    record["participants"].is_array(),
                    "participants requested with `fields`"
                );
                assert_same_object(
                    record,
                    &["workspace_slug", "repository_slug", "repository_uuid"],
                    object,
                    &format!("pull request {ws}/{repo}#{}", object["id"]),
                );
            }
            total_prs += expected.len();
        }

        let members = sim.members(ws);
        let got: Vec<&Value> = run
            .records("workspace_members")
            .into_iter()
            .filter(|r| r["workspace_slug"] == ws.as_str())
            .collect();
        assert_eq!(got.len(), members.len(), "members of {ws}");
        for m in got {
            assert_eq!(m["user_uuid"], m["user"]["uuid"]);
            let served = members
                .iter()
                .find(|s| s["user"]["uuid"] == m["user"]["uuid"])
                .expect("member served");
            assert_same_object(m, &["workspace_slug", "user_uuid"], served, "workspace member");
        }
    }
    assert_eq!(run.records("pullrequests").len(), total_prs);
    assert!(
        total_prs >= 200,
        "the default dataset has hundreds of pull requests"
    );
    assert_eq!(states.len(), 4, "all four states present: {states:?}");
    assert_eq!(run.records("workspaces").len(), workspaces.len());
    for record in run.records("workspaces") {
        let ws = record["workspace_slug"].as_str().unwrap();
        assert_same_object(record, &["workspace_slug"], &sim.workspace(ws), "workspace");
    }

    // Fields real responses carry beyond the API description arrive too (the objects above
    // are compared whole; these say the simulator still sends them).
    assert!(run
        .records("repositories")
        .iter()
        .all(|r| r["override_settings"].is_object()));
    let commits = run.records("commits");
    assert!(!commits.is_empty());
    assert!(commits
        .iter()
        .all(|c| c["rendered"]["message"]["html"].is_string()));
    let groups: Vec<&Value> = run
        .records("branch_restrictions")
        .into_iter()
        .flat_map(|b| b["groups"].as_array().into_iter().flatten())
        .collect();
    assert!(!groups.is_empty());
    assert!(groups.iter().all(|g| g["account_privilege"].is_string()));
}

#[test]
fn requests_use_largest_pages_all_states_and_participants() {
    let sim = simulator();
    let scratch = Scratch::new();
    // The user credential, which may read every default stream where it is an admin.
    sync(&scratch, &user_config(&sim), None).success();
    let requests = sim.requests();
    let mut pr_requests_per_repo: std::collections::BTreeMap<String, usize> = Default::default();
    for r in &requests {
        let path = r.path();
        let query = r.path_and_query.as_str();
        if path.ends_with("/pullrequests") {
            assert!(query.contains("pagelen=50"), "{query}");
            for state in ["OPEN", "MERGED", "DECLINED", "SUPERSEDED"] {
                assert!(query.contains(&format!("state={state}")), "{query}");
            }
            assert!(
                query.contains("sort=updated_on") && query.contains("fields="),
                "{query}"
            );
            *pr_requests_per_repo.entry(path.to_string()).or_default() += 1;
        } else if path.ends_with("/pullrequests/activity") {
            assert!(query.contains("pagelen=50"), "{query}");
        } else if path.starts_with("/2.0/repositories/") || path.ends_with("/members") {
            assert!(query.contains("pagelen=100"), "{query}");
        }
        // The only refusals: admin endpoints of the workspace the demo user does not administer.
        if r.status >= 400 {
            let admin = path.contains("/branch-restrictions") || path.contains("/permissions");
            assert!(
                r.status == 403 && admin && path.contains("/globex/"),
                "unexpected failure: {r:?}"
            );
        }
    }
    // No request per pull request: about one request per 50 of them, per repository.
    for ws in sim.workspace_slugs() {
        for repo in sim.repository_slugs(&ws) {
            let n = sim.pullrequests(&ws, &repo).len();
            let made = pr_requests_per_repo
                .get(&format!("/2.0/repositories/{ws}/{repo}/pullrequests"))
                .copied()
                .unwrap_or(0);
            assert!(
                made <= n.div_ceil(50).max(1) + 1,
                "{ws}/{repo}: {made} requests for {n} pull requests"
            );
        }
    }
}

#[test]
fn catalog_selects_streams_and_fields() {
    let sim = simulator();
    let scratch = Scratch::new();
    // Discover, then select only pull requests, without their `description` and `title`,
    // nor their author's and reviewers' `links` (nested fields), trying (and failing) to
    // deselect the key `id`.
    let catalog_run = crate::harness::tap(&["--discover"]).success();
    let mut catalog = catalog_run.messages[0].clone();
    for stream in catalog["streams"].as_array_mut().unwrap() {
        let selected = stream["tap_stream_id"] == "pullrequests";
        for m in stream["metadata"].as_array_mut().unwrap() {
            let field = m["breadcrumb"].get(1).and_then(Value::as_str).map(str::to_string);
            match field.as_deref() {
                None => m["metadata"]["selected"] = json!(selected),
                Some("description" | "title" | "id") => m["metadata"]["selected"] = json!(false),
                Some(_) => {}
            }
        }
        if selected {
            let metadata = stream["metadata"].as_array_mut().unwrap();
            for crumb in [
                json!(["properties", "author", "properties", "links"]),
                json!(["properties", "reviewers", "items", "properties", "links"]),
            ] {
                metadata.push(json!({"breadcrumb": crumb, "metadata": {"selected": false}}));
            }
        }
    }
    let config = scratch.json("config.json", &config_for(&sim));
    let catalog_path = scratch.json("catalog.json", &catalog);
    let run = crate::harness::tap(&[
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog_path.to_str().unwrap(),
    ])
    .success();
    assert_protocol(&run);
    assert_eq!(run.schemas().keys().collect::<Vec<_>>(), ["pullrequests"]);
    let schema = &run.schemas()["pullrequests"]["schema"]["properties"];
    assert!(schema.get("description").is_none() && schema.get("title").is_none());
    assert!(schema.get("id").is_some());
    assert!(schema["author"]["properties"].get("links").is_none());
    assert!(schema["author"]["properties"].get("uuid").is_some());
    assert!(schema["reviewers"]["items"]["properties"].get("links").is_none());
    let records = run.records("pullrequests");
    assert!(!records.is_empty());
    let mut reviewers = 0;
    for r in records {
        assert!(r.get("description").is_none() && r.get("title").is_none());
        assert!(r["id"].is_i64());
        assert!(
            r["author"].get("links").is_none() && r["author"]["uuid"].is_string(),
            "{r}"
        );
        for reviewer in r["reviewers"].as_array().into_iter().flatten() {
            assert!(
                reviewer.get("links").is_none() && reviewer["uuid"].is_string(),
                "{reviewer}"
            );
            reviewers += 1;
        }
    }
    assert!(reviewers > 0, "the simulator's pull requests have reviewers");
    assert!(run.records("repositories").is_empty());
}

#[test]
fn a_discovered_catalog_passed_back_unchanged_syncs_the_default_streams() {
    let sim = simulator();
    let scratch = Scratch::new();
    let config = scratch.json("config.json", &user_config(&sim));
    let config = config.to_str().unwrap();
    // What a user does first: discover to a file, then sync with that file as it is.
    let discovered = crate::harness::tap(&["--config", config, "--discover"]).success();
    let catalog = scratch.text("catalog.json", &discovered.stdout);
    let run = crate::harness::tap(&["--config", config, "--catalog", catalog.to_str().unwrap()]).success();
    assert_protocol(&run);

    let by_default: BTreeSet<String> = discovered.messages[0]["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["metadata"][0]["metadata"]["selected-by-default"] == true)
        .map(|s| s["tap_stream_id"].as_str().unwrap().to_string())
        .collect();
    assert!(by_default.contains("pullrequests") && !by_default.contains("issue_components"));
    let synced: BTreeSet<String> = run.schemas().keys().cloned().collect();
    assert_eq!(synced, by_default);
    for stream in &by_default {
        assert!(!run.records(stream).is_empty(), "no records of {stream}");
    }
    assert!(!run.stderr.contains("selects no stream"), "{}", run.stderr);
}

#[test]
fn a_catalog_selecting_nothing_warns_once_how_to_select() {
    let sim = simulator();
    let scratch = Scratch::new();
    let config = scratch.json("config.json", &config_for(&sim));
    let catalog = crate::harness::catalog_file(&scratch, &[]);
    let run = crate::harness::tap(&[
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
    ])
    .success();
    assert!(run.records("pullrequests").is_empty() && run.schemas().is_empty());
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("selects no stream"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    for needle in ["WARN", "catalog.json", "\"selected\": true", "breadcrumb"] {
        assert!(warnings[0].contains(needle), "`{needle}` not in {}", warnings[0]);
    }
}

#[test]
fn legacy_properties_flag_and_schema_selected() {
    let sim = simulator();
    let scratch = Scratch::new();
    let properties = json!({"streams": [
        {"tap_stream_id": "workspaces", "stream": "workspaces", "schema": {"selected": true, "properties": {}}}
    ]});
    let config = scratch.json("config.json", &config_for(&sim));
    let path = scratch.json("properties.json", &properties);
    let run = crate::harness::tap(&[
        "--config",
        config.to_str().unwrap(),
        "--properties",
        path.to_str().unwrap(),
    ])
    .success();
    assert_eq!(run.schemas().keys().collect::<Vec<_>>(), ["workspaces"]);
    assert_eq!(run.records("workspaces").len(), sim.workspace_slugs().len());
}

#[test]
fn activate_version_follows_complete_full_table_streams_only() {
    let sim = simulator();
    let scratch = Scratch::new();
    let mut config = config_for(&sim);
    config["activate_version"] = json!(true);
    // The full-table streams checked below and two incremental ones (not the large
    // activity and commit histories, which add nothing here).
    let streams = [
        "workspaces",
        "workspace_members",
        "repositories",
        "pullrequests",
        "directory_contents",
        "branch_restrictions",
        "forks",
        "watchers",
    ];
    let run = crate::harness::sync_selected(&scratch, &config, &streams, None).success();
    assert_protocol(&run);
    let activated: Vec<&str> = run
        .messages
        .iter()
        .filter(|m| m["type"] == "ACTIVATE_VERSION")
        .map(|m| m["stream"].as_str().unwrap())
        .collect();
    for stream in [
        "workspaces",
        "workspace_members",
        "watchers",
        "forks",
        "directory_contents",
    ] {
        assert!(
            activated.contains(&stream),
            "{stream} not activated: {activated:?}"
        );
        let version = run
            .messages
            .iter()
            .find(|m| m["type"] == "ACTIVATE_VERSION" && m["stream"] == stream)
            .unwrap()["version"]
            .clone();
        // Every record of the stream carries that version, and comes before the activation.
        let records: Vec<&Value> = run
            .messages
            .iter()
            .filter(|m| m["type"] == "RECORD" && m["stream"] == stream)
            .collect();
        assert!(!records.is_empty());
        assert!(records.iter().all(|m| m["version"] == version));
        let last_record = run
            .messages
            .iter()
            .rposition(|m| m["type"] == "RECORD" && m["stream"] == stream)
            .unwrap();
        let activation = run
            .messages
            .iter()
            .position(|m| m["type"] == "ACTIVATE_VERSION" && m["stream"] == stream)
            .unwrap();
        assert!(activation > last_record);
    }
    // Incremental streams carry no version; a stream with skipped partitions (globex refuses
    // branch restrictions) is not activated, or the target would drop globex's rows.
    assert!(!activated.contains(&"pullrequests") && !activated.contains(&"repositories"));
    assert!(
        run.records("pullrequests").len()
            == run
                .messages
                .iter()
                .filter(|m| m["stream"] == "pullrequests"
                    && m["type"] == "RECORD"
                    && m.get("version").is_none())
                .count()
    );
    assert!(!activated.contains(&"branch_restrictions"));
    assert!(
        run.stderr
            .contains("Not sending ACTIVATE_VERSION for `branch_restrictions`"),
        "{}",
        run.stderr
    );
}

#[test]
fn activate_version_is_withheld_when_repositories_were_not_all_read() {
    let sim = simulator();
    let scratch = Scratch::new();
    let mut config = config_for(&sim);
    config["activate_version"] = json!(true);
    let activated = |run: &crate::harness::Run| -> Vec<String> {
        run.messages
            .iter()
            .filter(|m| m["type"] == "ACTIVATE_VERSION")
            .map(|m| m["stream"].as_str().unwrap().to_string())
            .collect()
    };
    // A repository closed to the credential by an earlier stream: the later full-table
    // streams never read it, so activating their version would drop its rows.
    sim.set_status_override("/2.0/repositories/acme/infra/pullrequests", 403);
    let streams = ["workspaces", "pullrequests", "watchers"];
    let run = crate::harness::sync_selected(&scratch, &config, &streams, None).success();
    assert_protocol(&run);
    assert!(run
        .records("watchers")
        .iter()
        .all(|w| w["repository_slug"] != "infra"));
    assert_eq!(activated(&run), ["workspaces"], "{}", run.stderr);
    sim.clear_status_overrides();

    // In shards, a repository stream's version would drop the other shards' rows; the
    // workspace-level streams, read whole by shard 0, are still activated.
    config["shard_count"] = json!(2);
    config["shard_index"] = json!(0);
    let run = crate::harness::sync_selected(&scratch, &config, &["workspaces", "watchers"], None).success();
    assert!(!run.records("watchers").is_empty());
    assert_eq!(activated(&run), ["workspaces"], "{}", run.stderr);
    assert!(run.stderr.contains("shard_count"), "{}", run.stderr);
}
