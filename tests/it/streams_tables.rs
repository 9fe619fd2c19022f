//! The FULL_TABLE streams of repositories, users and issue trackers, the removed
//! `public_repositories`, what the tap does when an endpoint says no, and sharding: each
//! stream returns exactly what the server holds, and every refusal is one warning, not a
//! failure.

use std::collections::{BTreeMap, BTreeSet};

use bitbucket_simulator::{IssueTrackers, Simulator};
use serde_json::{json, Value};

use crate::harness::{assert_protocol, assert_same_object, config_for, simulator, user_config, Run, Scratch};

/// The parent keys of a repository-level record.
const PARENT_KEYS: [&str; 3] = ["workspace_slug", "repository_slug", "repository_uuid"];

/// Syncs exactly `streams` with `config` (and `state`).
fn sync_streams(config: &Value, streams: &[&str], state: Option<&Value>) -> Run {
    crate::harness::sync_selected(&Scratch::new(), config, streams, state)
}

/// The warning lines of a run's stderr that mention `needle`.
fn warnings<'a>(run: &'a Run, needle: &str) -> Vec<&'a str> {
    run.stderr
        .lines()
        .filter(|l| l.contains("WARN") && l.contains(needle))
        .collect()
}

/// Every (workspace, repository) the simulator lists now.
fn repositories(sim: &Simulator) -> Vec<(String, String)> {
    sim.workspace_slugs()
        .into_iter()
        .flat_map(|ws| {
            sim.repository_slugs(&ws)
                .into_iter()
                .map(move |repo| (ws.clone(), repo))
        })
        .collect()
}

/// Asserts that the records of `stream` read from `ws/repo` are exactly `served`, matched by
/// `identity` and equal apart from the `added` keys.
fn assert_partition(
    run: &Run,
    stream: &str,
    (ws, repo): (&str, &str),
    served: &[Value],
    identity: fn(&Value) -> Value,
    added: &[&str],
) {
    let got: Vec<&Value> = run
        .records(stream)
        .into_iter()
        .filter(|r| r["workspace_slug"] == ws && r["repository_slug"] == repo)
        .collect();
    assert_eq!(got.len(), served.len(), "{stream} of {ws}/{repo}");
    for object in served {
        let record = got
            .iter()
            .find(|r| identity(r) == identity(object))
            .unwrap_or_else(|| panic!("{stream} of {ws}/{repo}: {} missing", identity(object)));
        assert_same_object(record, added, object, &format!("{stream} of {ws}/{repo}"));
    }
}

#[test]
fn repository_tables_return_exactly_what_the_server_holds() {
    let sim = simulator();
    let streams = [
        "branch_restrictions",
        "forks",
        "watchers",
        "repository_permissions",
        "group_permissions",
    ];
    let run = sync_streams(&user_config(&sim), &streams, None).success();
    assert_protocol(&run);

    let with_user_uuid = [&PARENT_KEYS[..], &["user_uuid"]].concat();
    let with_group_slug = [&PARENT_KEYS[..], &["group_slug"]].concat();
    let mut counts = BTreeMap::new();
    for (ws, repo) in repositories(&sim) {
        let at = (ws.as_str(), repo.as_str());
        assert_partition(
            &run,
            "forks",
            at,
            &sim.forks(&ws, &repo),
            |v| v["uuid"].clone(),
            &PARENT_KEYS,
        );
        assert_partition(
            &run,
            "watchers",
            at,
            &sim.watchers(&ws, &repo),
            |v| v["uuid"].clone(),
            &PARENT_KEYS,
        );
        *counts.entry("forks").or_insert(0) += sim.forks(&ws, &repo).len();
        *counts.entry("watchers").or_insert(0) += sim.watchers(&ws, &repo).len();
        if ws == "globex" {
            // Not administered by the demo user: 403, covered by the next test.
            continue;
        }
        assert_partition(
            &run,
            "branch_restrictions",
            at,
            &sim.branch_restrictions(&ws, &repo),
            |v| v["id"].clone(),
            &PARENT_KEYS,
        );
        assert_partition(
            &run,
            "repository_permissions",
            at,
            &sim.repository_permissions(&ws, &repo),
            |v| v["user"]["uuid"].clone(),
            &with_user_uuid,
        );
        assert_partition(
            &run,
            "group_permissions",
            at,
            &sim.group_permissions(&ws, &repo),
            |v| v["group"]["slug"].clone(),
            &with_group_slug,
        );
        *counts.entry("branch_restrictions").or_insert(0) += sim.branch_restrictions(&ws, &repo).len();
        *counts.entry("repository_permissions").or_insert(0) += sim.repository_permissions(&ws, &repo).len();
        *counts.entry("group_permissions").or_insert(0) += sim.group_permissions(&ws, &repo).len();
    }
    for stream in streams {
        assert!(counts[stream] > 0, "the dataset has {stream}");
        assert_eq!(run.records(stream).len(), counts[stream], "{stream}");
    }
    for record in run.records("forks") {
        // Parent keys name the repository forked from, not the fork.
        assert_ne!(record["repository_uuid"], record["uuid"]);
        assert_eq!(record["parent"]["uuid"], record["repository_uuid"]);
    }
    for record in run.records("repository_permissions") {
        assert_eq!(record["user_uuid"], record["user"]["uuid"]);
    }
    for record in run.records("group_permissions") {
        assert_eq!(record["group_slug"], record["group"]["slug"]);
    }
    assert!(sim
        .requests()
        .iter()
        .filter(|r| r.path().contains("/forks") || r.path().contains("/watchers"))
        .all(|r| r.query_param("pagelen").as_deref() == Some("100")));
}

#[test]
fn configured_group_slugs_are_read_one_by_one_and_missing_grants_skipped_quietly() {
    let sim = simulator();
    let slugs = ["developers", "contractors", "no-such-group"];
    let mut config = user_config(&sim);
    config["workspaces"] = json!(["acme"]);
    config["group_slugs"] = json!(slugs);
    let run = sync_streams(&config, &["group_permissions"], None).success();
    assert_protocol(&run);
    let with_group_slug = [&PARENT_KEYS[..], &["group_slug"]].concat();
    for repo in sim.repository_slugs("acme") {
        let served: Vec<Value> = sim
            .group_permissions("acme", &repo)
            .into_iter()
            .filter(|g| slugs.contains(&g["group"]["slug"].as_str().unwrap_or_default()))
            .collect();
        assert_partition(
            &run,
            "group_permissions",
            ("acme", &repo),
            &served,
            |v| v["group"]["slug"].clone(),
            &with_group_slug,
        );
        for slug in slugs {
            let path = format!("/2.0/repositories/acme/{repo}/permissions-config/groups/{slug}");
            assert_eq!(
                sim.requests().iter().filter(|r| r.path() == path).count(),
                1,
                "{path}"
            );
        }
    }
    assert!(!run.records("group_permissions").is_empty());
    assert!(
        !run.stderr.contains("WARN"),
        "a group without a grant is no warning:\n{}",
        run.stderr
    );
}

#[test]
fn admin_streams_of_a_workspace_not_administered_warn_once_per_repository() {
    let sim = simulator();
    let streams = [
        "branch_restrictions",
        "repository_permissions",
        "group_permissions",
        "forks",
    ];
    let run = sync_streams(&user_config(&sim), &streams, None).success();
    assert_protocol(&run);
    let globex = sim.repository_slugs("globex");
    assert!(!globex.is_empty());
    for stream in &streams[..3] {
        assert!(
            run.records(stream)
                .iter()
                .all(|r| r["workspace_slug"] != "globex"),
            "{stream}"
        );
        for repo in &globex {
            let lines = warnings(&run, &format!("`{stream}` for repository `globex/{repo}`"));
            assert_eq!(
                lines.len(),
                1,
                "one warning for {stream} of globex/{repo}:\n{}",
                run.stderr
            );
            assert!(
                lines[0].contains("admin permission on the repository"),
                "{}",
                lines[0]
            );
            assert!(lines[0].contains("403"), "{}", lines[0]);
        }
    }
    // A permission-limited stream's 403 does not close the repository for the others.
    for repo in &globex {
        assert_eq!(
            run.records("forks")
                .iter()
                .filter(|r| r["workspace_slug"] == "globex" && r["repository_slug"] == repo.as_str())
                .count(),
            sim.forks("globex", repo).len()
        );
    }
    assert!(warnings(&run, "every stream").is_empty(), "{}", run.stderr);
}

#[test]
fn forbidden_repository_is_skipped_by_every_later_stream() {
    let sim = simulator();
    sim.set_status_override("/2.0/repositories/acme/infra/forks", 403);
    let run = sync_streams(&config_for(&sim), &["forks", "watchers"], None).success();
    assert_protocol(&run);
    let lines = warnings(&run, "every stream of repository `acme/infra`");
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].contains("from `forks` on") && lines[0].contains("read:repository:bitbucket"));
    for stream in ["forks", "watchers"] {
        assert!(run
            .records(stream)
            .iter()
            .all(|r| r["repository_slug"] != "infra"));
    }
    assert!(
        !sim.requests()
            .iter()
            .any(|r| r.path() == "/2.0/repositories/acme/infra/watchers"),
        "a closed repository is not requested again"
    );
    // The other repositories are read as usual.
    assert_eq!(
        run.records("watchers")
            .iter()
            .filter(|r| r["repository_slug"] == "api")
            .count(),
        sim.watchers("acme", "api").len()
    );
}

#[test]
fn removed_issue_trackers_give_one_warning_per_stream() {
    let sim = simulator();
    let streams = ["issue_components", "issue_versions", "issue_milestones"];
    let mut config = config_for(&sim);
    config["max_concurrency"] = json!(1);
    let run = sync_streams(&config, &streams, None).success();
    assert_protocol(&run);
    for stream in streams {
        assert!(run.records(stream).is_empty());
        let lines = warnings(&run, &format!("`{stream}` returns no records"));
        assert_eq!(lines.len(), 1, "{}", run.stderr);
        assert!(
            lines[0].contains("2026-08-20") && lines[0].contains("Jira"),
            "{}",
            lines[0]
        );
    }
    // After the first 410, the stream's other repositories are not requested.
    for segment in ["/components", "/versions", "/milestones"] {
        let requests = sim
            .requests()
            .iter()
            .filter(|r| r.path().ends_with(segment))
            .count();
        assert_eq!(requests, 1, "{segment}");
    }
}

#[test]
fn enabled_issue_trackers_serve_objects_and_skip_repositories_without_one_quietly() {
    let sim = simulator();
    sim.set_issue_trackers(IssueTrackers::Enabled);
    let streams = [
        ("issue_components", "components"),
        ("issue_versions", "versions"),
        ("issue_milestones", "milestones"),
    ];
    let names: Vec<&str> = streams.iter().map(|(s, _)| *s).collect();
    let run = sync_streams(&config_for(&sim), &names, None).success();
    assert_protocol(&run);
    let mut without_tracker = 0;
    for (stream, kind) in streams {
        let mut total = 0;
        for (ws, repo) in repositories(&sim) {
            let served = sim.issue_objects(&ws, &repo, kind);
            without_tracker += usize::from(served.is_empty());
            total += served.len();
            assert_partition(
                &run,
                stream,
                (&ws, &repo),
                &served,
                |v| v["id"].clone(),
                &PARENT_KEYS,
            );
        }
        assert!(total > 0, "the dataset has {stream}");
    }
    assert!(without_tracker > 0, "some repository has no issue tracker");
    assert!(
        !run.stderr.contains("WARN"),
        "no warning for a repository without tracker:\n{}",
        run.stderr
    );
}

#[test]
fn users_are_the_authenticated_user_or_the_configured_accounts() {
    let sim = simulator();
    let run = sync_streams(&user_config(&sim), &["users", "account_emails"], None).success();
    assert_protocol(&run);
    let users = run.records("users");
    assert_eq!(users.len(), 1);
    assert_same_object(users[0], &[], &sim.current_user(), "the authenticated user");
    let emails = sim.emails();
    assert!(!emails.is_empty());
    assert_eq!(run.records("account_emails").len(), emails.len());
    for served in &emails {
        let record = run
            .records("account_emails")
            .into_iter()
            .find(|r| r["email"] == served["email"])
            .expect("email emitted");
        assert_same_object(record, &[], served, "email");
    }

    let mut accounts = sim.user_account_ids();
    assert!(accounts.len() >= 2);
    // The second account again, by UUID: emitted once.
    let second = sim.user(&accounts[1]).expect("known account");
    accounts.push(second["uuid"].as_str().expect("uuid").to_string());
    accounts.push("557058:00000000-0000-0000-0000-000000000000".into());
    let mut config = user_config(&sim);
    config["accounts"] = json!(accounts);
    let run = sync_streams(&config, &["users"], None).success();
    assert_protocol(&run);
    let known = sim.user_account_ids();
    assert_eq!(run.records("users").len(), known.len());
    for id in &known {
        let served = sim.user(id).expect("known account");
        let record = run
            .records("users")
            .into_iter()
            .find(|r| r["account_id"] == id.as_str())
            .unwrap_or_else(|| panic!("user {id} missing"));
        assert_same_object(record, &[], &served, "user");
    }
    let lines = warnings(&run, "557058:00000000-0000-0000-0000-000000000000");
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].contains("`accounts`"), "{}", lines[0]);
}

#[test]
fn streams_refused_to_an_access_token_warn_naming_the_credential_kind() {
    // The simulator refuses what Bitbucket refuses an access token: permissions, and the
    // current user (it is not one). Nothing is overridden here.
    let sim = simulator();
    let mut config = config_for(&sim);
    config["workspaces"] = json!(["acme"]);
    let streams = [
        "users",
        "account_emails",
        "repository_permissions",
        "group_permissions",
        "workspaces",
        "forks",
    ];
    let run = sync_streams(&config, &streams, None).success();
    for stream in ["users", "account_emails"] {
        assert!(run.records(stream).is_empty());
        let lines = warnings(&run, &format!("Skipping `{stream}`:"));
        assert_eq!(lines.len(), 1, "{}", run.stderr);
        assert!(
            lines[0].contains("user credential")
                && lines[0].contains("access token used")
                && lines[0].contains("HTTP 403"),
            "{}",
            lines[0]
        );
    }
    let repositories = sim.repository_slugs("acme");
    for stream in ["repository_permissions", "group_permissions"] {
        assert!(run.records(stream).is_empty());
        // One warning per repository, each naming it and what would let the tap read it.
        let lines = warnings(&run, &format!("Skipping `{stream}` for repository `acme/"));
        assert_eq!(lines.len(), repositories.len(), "{}", run.stderr);
        assert!(
            lines
                .iter()
                .all(|l| l.contains("access tokens cannot read permissions")
                    && l.contains("Access tokens cannot query")),
            "{lines:?}"
        );
    }
    // Everything else an access token may read.
    assert_eq!(run.records("workspaces").len(), 1);
    assert!(!run.records("forks").is_empty());

    // The same streams with the user's API token: records, no warning.
    let mut config = user_config(&sim);
    config["workspaces"] = json!(["acme"]);
    let run = sync_streams(&config, &streams[..4], None).success();
    for stream in &streams[..4] {
        assert!(!run.records(stream).is_empty(), "{stream}");
    }
    assert!(!run.stderr.contains("WARN"), "{}", run.stderr);
}

#[test]
fn public_repositories_removed_warns_once_and_enabled_keeps_one_bookmark() {
    let sim = simulator();
    let run = sync_streams(&config_for(&sim), &["public_repositories"], None).success();
    assert!(run.records("public_repositories").is_empty());
    let lines = warnings(&run, "`public_repositories` returns no records");
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].contains("CHANGE-2770") && lines[0].contains("`repositories`"));
    assert!(run.last_state()["bookmarks"].get("public_repositories").is_none());

    sim.set_public_repositories_enabled(true);
    let served = sim.public_repositories();
    assert!(!served.is_empty());
    let run = sync_streams(&config_for(&sim), &["public_repositories"], None).success();
    assert_protocol(&run);
    let got = run.records("public_repositories");
    assert_eq!(got.len(), served.len());
    for object in &served {
        let record = got
            .iter()
            .find(|r| r["uuid"] == object["uuid"])
            .expect("public repository emitted");
        assert_same_object(record, &[], object, "public repository");
    }
    let state = run.last_state();
    let entry = &state["bookmarks"]["public_repositories"];
    assert!(entry.get("partitions").is_none(), "unpartitioned: {entry}");
    assert_eq!(entry["replication_key"], "created_on");
    let newest = served
        .iter()
        .filter_map(|r| r["created_on"].as_str())
        .map(crate::harness::ts)
        .max()
        .expect("created_on");
    let bookmark = crate::harness::ts(entry["replication_key_value"].as_str().expect("bookmark"));
    assert_eq!(bookmark, newest);

    // The rerun asks for what came after the bookmark (`after` is exclusive: one second less,
    // in the documented millisecond form) and emits only what was created at or after it.
    sim.clear_requests();
    let rerun = sync_streams(&config_for(&sim), &["public_repositories"], Some(&state)).success();
    let after = sim
        .requests()
        .iter()
        .find(|r| r.path() == "/2.0/repositories")
        .and_then(|r| r.query_param("after"))
        .expect("after parameter");
    let expected = bookmark - chrono::Duration::seconds(1);
    let after = crate::harness::ts(&after);
    assert!(
        after <= expected && expected - after < chrono::Duration::milliseconds(1),
        "after={after}, bookmark={bookmark}"
    );
    assert_eq!(
        rerun.records("public_repositories").len(),
        1,
        "the newest one again"
    );
    assert!(rerun
        .records("public_repositories")
        .iter()
        .all(|r| crate::harness::ts(r["created_on"].as_str().unwrap()) >= bookmark));
}

#[test]
fn three_shards_together_equal_one_unsharded_run() {
    let sim = simulator();
    let streams = ["workspaces", "workspace_members", "forks", "watchers", "users"];
    let records = |run: &Run| -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for m in run.messages.iter().filter(|m| m["type"] == "RECORD") {
            out.entry(m["stream"].as_str().unwrap().to_string())
                .or_default()
                .insert(m["record"].to_string());
        }
        out
    };
    let whole = records(&sync_streams(&user_config(&sim), &streams, None).success());
    sim.clear_requests();
    let mut union: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut repositories_seen = BTreeSet::new();
    for index in 0..3 {
        let mut config = user_config(&sim);
        config["shard_index"] = json!(index);
        config["shard_count"] = json!(3);
        let run = sync_streams(&config, &streams, None).success();
        assert_protocol(&run);
        for stream in ["workspaces", "workspace_members", "users"] {
            assert_eq!(
                run.records(stream).is_empty(),
                index != 0,
                "{stream} runs in shard 0 only"
            );
        }
        let repository_requests: BTreeSet<String> = sim
            .requests()
            .iter()
            .filter(|r| r.path().ends_with("/watchers"))
            .map(|r| r.path().to_string())
            .collect();
        sim.clear_requests();
        for path in repository_requests {
            assert!(
                repositories_seen.insert(path.clone()),
                "{path} read by two shards"
            );
        }
        for (stream, set) in records(&run) {
            union.entry(stream).or_default().extend(set);
        }
    }
    assert_eq!(union, whole);
    assert_eq!(repositories_seen.len(), repositories(&sim).len());
}
