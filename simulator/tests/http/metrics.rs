//! The engineering-metrics endpoints over HTTP: refs, environments, pipelines and steps,
//! deployments, and the pull request children.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{get, get_reply, pages, sim, values_of};

const API: &str = "/2.0/repositories/acme/api";

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// Every page of a list-paginated endpoint, built as `page=N` (never following `next`).
fn by_page_number(sim: &bitbucket_simulator::Simulator, target: &str) -> Vec<Value> {
    let sep = if target.contains('?') { '&' } else { '?' };
    let mut out = Vec::new();
    for page in 1.. {
        let (status, body) = get(sim, &format!("{target}{sep}page={page}"));
        assert_eq!(status, 200, "{target}: {body}");
        let values = body["values"].as_array().unwrap();
        if values.is_empty() {
            break;
        }
        out.extend(values.iter().cloned());
        if values.len() < body["pagelen"].as_u64().unwrap() as usize {
            break;
        }
    }
    out
}

#[test]
fn branches_and_tags_follow_the_history() {
    let sim = sim();
    let branches = sim.branches("acme", "api");
    let served = values_of(&pages(&sim, &format!("{API}/refs/branches?pagelen=7")));
    assert_eq!(served, branches);
    assert_eq!(
        values_of(&pages(&sim, &format!("{API}/refs/branches/"))),
        branches
    );
    let names: Vec<&str> = branches.iter().map(|b| s(&b["name"])).collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "by name");
    let main = sim.main_branch("acme", "api").unwrap();
    let head = branches.iter().find(|b| b["name"] == main.as_str()).unwrap();
    let commits = sim.commits("acme", "api");
    let hashes: HashSet<&str> = commits.iter().map(|c| s(&c["hash"])).collect();
    for b in &branches {
        assert_eq!(b["type"], "branch");
        assert!(hashes.contains(s(&b["target"]["hash"])), "{b}");
        assert_eq!(b["target"]["type"], "commit");
        assert_eq!(b["default_merge_strategy"], "merge_commit");
        assert!(b["merge_strategies"].as_array().unwrap().len() >= 3);
        assert!(s(&b["links"]["self"]["href"]).contains("/refs/branches/"));
    }
    // The main branch's head is the newest main-line commit: a parent of nothing served later.
    assert!(commits
        .iter()
        .any(|c| c["hash"] == head["target"]["hash"] && c["date"] == head["target"]["date"]));
    assert!(names.iter().any(|n| n.starts_with("hotfix/")), "{names:?}");

    // Open pull requests have their branches; the deleted one is gone.
    let prs = sim.pullrequests("acme", "api");
    let open = prs
        .iter()
        .filter(|p| p["state"] == "OPEN")
        .filter(|p| {
            !sim.pullrequest_commits("acme", "api", p["id"].as_u64().unwrap() as u32)
                .is_empty()
        })
        .collect::<Vec<_>>();
    assert!(!open.is_empty());
    for p in open {
        assert!(names.contains(&s(&p["source"]["branch"]["name"])), "{}", p["id"]);
    }
    let deleted = sim.pullrequest_with_deleted_source_branch("acme", "api").unwrap();
    let pr = prs.iter().find(|p| p["id"] == deleted).unwrap();
    assert_eq!(pr["state"], "MERGED");
    let merged_closing = prs
        .iter()
        .filter(|p| p["state"] == "MERGED" && p["close_source_branch"] == true)
        .count();
    assert!(merged_closing > 10);
    for p in prs
        .iter()
        .filter(|p| p["state"] == "MERGED" && p["close_source_branch"] == true)
    {
        let name = s(&p["source"]["branch"]["name"]);
        // Renovate branches are shared by several pull requests.
        if !name.starts_with("renovate/") {
            assert!(!names.contains(&name), "{name} was deleted at the merge");
        }
    }

    let tags = sim.tags("acme", "api");
    assert!(!tags.is_empty());
    assert_eq!(
        values_of(&pages(&sim, &format!("{API}/refs/tags?pagelen=2"))),
        tags
    );
    for t in &tags {
        assert_eq!(t["type"], "tag");
        let version = s(&t["name"]).strip_prefix('v').unwrap();
        assert_eq!(s(&t["target"]["message"]).trim(), format!("Release {version}"));
        assert_eq!(s(&t["message"]).trim(), format!("Release {version}"));
        assert!(hashes.contains(s(&t["target"]["hash"])));
        assert_eq!(t["tagger"]["type"], "author");
        assert!(t["date"].as_str().unwrap() >= t["target"]["date"].as_str().unwrap());
    }
    let (status, body) = get(&sim, &format!("{API}/refs/tags?sort=-name"));
    assert_eq!(status, 200);
    assert_eq!(body["values"][0], tags[tags.len() - 1]);
    assert_eq!(get(&sim, &format!("{API}/refs/tags?sort=size")).0, 400);

    // An empty repository has none; the future brings more.
    assert!(sim.branches("acme", "sandbox").is_empty());
    assert_eq!(
        get(&sim, "/2.0/repositories/acme/sandbox/refs/branches").1["values"],
        Value::Array(vec![])
    );
    sim.set_clock_offset_hours(720);
    assert!(sim.tags("acme", "api").len() >= tags.len());
    assert!(sim.branches("acme", "api").len() > branches.len());
}

#[test]
fn pipelines_order_sort_quirks_and_pagelen() {
    let sim = sim();
    let truth = sim.pipelines("acme", "api");
    assert!(truth.len() > 30, "{}", truth.len());
    let created = |v: &[Value]| {
        v.iter()
            .map(|p| s(&p["created_on"]).to_string())
            .collect::<Vec<_>>()
    };
    let t = created(&truth);
    assert!(t.windows(2).all(|w| w[0] >= w[1]), "ground truth newest first");

    // Default order: oldest first; `q` is ignored; the trailing slash is optional.
    let oldest_first = by_page_number(&sim, &format!("{API}/pipelines/?pagelen=25"));
    let mut expected = truth.clone();
    expected.reverse();
    assert_eq!(oldest_first, expected);
    let with_q = by_page_number(
        &sim,
        &format!("{API}/pipelines?pagelen=25&q=state.name%3D%22COMPLETED%22"),
    );
    assert_eq!(with_q, expected);
    let newest_first = by_page_number(&sim, &format!("{API}/pipelines/?sort=-created_on&pagelen=25"));
    assert_eq!(newest_first, truth);
    assert_eq!(
        by_page_number(&sim, &format!("{API}/pipelines/?sort=created_on&pagelen=100")),
        expected
    );
    assert_eq!(get(&sim, &format!("{API}/pipelines/?sort=build_number")).0, 400);
    let numbers: Vec<u64> = expected
        .iter()
        .map(|p| p["build_number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, (1..=truth.len() as u64).collect::<Vec<_>>());

    // The `next` quirk: the link drops `sort`, so following it goes back to oldest first.
    let (_, first) = get(&sim, &format!("{API}/pipelines/?sort=-created_on&pagelen=10"));
    let next = s(&first["next"]);
    assert!(!next.contains("sort="), "{next}");
    assert!(next.contains("page=2"));
    let followed = pages(&sim, &format!("{API}/pipelines/?sort=-created_on&pagelen=10"));
    assert_ne!(
        values_of(&followed),
        truth,
        "a blind client gets the wrong records"
    );
    sim.set_pipelines_next_drops_sort(false);
    let (_, first) = get(&sim, &format!("{API}/pipelines/?sort=-created_on&pagelen=10"));
    assert!(s(&first["next"]).contains("sort=-created_on"));
    assert_eq!(
        values_of(&pages(
            &sim,
            &format!("{API}/pipelines/?sort=-created_on&pagelen=10")
        )),
        truth
    );

    // pagelen: 100 at most; the optional cap.
    assert_eq!(get(&sim, &format!("{API}/pipelines/?pagelen=100")).0, 200);
    let (status, body) = get(&sim, &format!("{API}/pipelines/?pagelen=101"));
    assert_eq!((status, s(&body["error"]["message"])), (400, "Invalid pagelen"));
    sim.set_ci_max_pagelen(Some(50));
    for path in ["pipelines/", "deployments/"] {
        let (status, body) = get(&sim, &format!("{API}/{path}?pagelen=100"));
        assert_eq!(
            (status, s(&body["error"]["message"])),
            (400, "Invalid pagelen"),
            "{path}"
        );
        assert_eq!(body["type"], "error");
        let (status, body) = get(&sim, &format!("{API}/{path}"));
        assert_eq!((status, body["pagelen"].as_u64()), (200, Some(10)), "{path}");
        assert_eq!(get(&sim, &format!("{API}/{path}?pagelen=50")).0, 200);
    }
    sim.set_ci_max_pagelen(None);

    // The repository by its {uuid}.
    let repo_uuid = sim
        .repositories("acme")
        .into_iter()
        .find(|r| r["slug"] == "api")
        .unwrap()["uuid"]
        .clone();
    let by_uuid = format!(
        "/2.0/repositories/acme/{}/pipelines/?pagelen=5",
        s(&repo_uuid).replace('{', "%7B").replace('}', "%7D")
    );
    assert_eq!(
        get(&sim, &by_uuid).1["values"],
        Value::Array(expected[..5].to_vec())
    );

    // One pipeline by uuid (braces URL-encoded, or bare); unknown → 404 JSON.
    let one = &truth[3];
    let uuid = s(&one["uuid"]);
    let encoded = uuid.replace('{', "%7B").replace('}', "%7D");
    assert_eq!(get(&sim, &format!("{API}/pipelines/{encoded}")).1, *one);
    assert_eq!(
        get(
            &sim,
            &format!("{API}/pipelines/{}", uuid.trim_matches(['{', '}']))
        )
        .1,
        *one
    );
    assert_eq!(sim.pipeline("acme", "api", uuid).as_ref(), Some(one));
    let (status, body) = get(
        &sim,
        &format!("{API}/pipelines/%7B00000000-0000-4000-8000-000000000000%7D"),
    );
    assert_eq!((status, body["type"].as_str()), (404, Some("error")));
    assert_eq!(sim.pipeline("acme", "api", "{nope}"), None);
    assert_eq!(
        get(&sim, &format!("{API}/pipelines/%7Bnope%7D/steps/")).0,
        404,
        "steps of an unknown pipeline"
    );

    // Shapes.
    let mut targets = HashSet::new();
    for p in &truth {
        assert_eq!(p["type"], "pipeline");
        assert_eq!(p["repository"]["full_name"], "acme/api");
        assert_eq!(p["creator"]["type"], "user");
        assert_eq!(p["expired"], false);
        assert_eq!(p["configuration_sources"][0]["source"], "bitbucket-pipelines.yml");
        assert!(s(&p["links"]["steps"]["href"]).ends_with("/steps/"));
        assert_eq!(s(&p["target"]["commit"]["hash"]).len(), 40);
        targets.insert(s(&p["target"]["type"]).to_string());
        let state = &p["state"];
        match s(&state["name"]) {
            "COMPLETED" => {
                assert!(s(&state["result"]["type"]).starts_with("pipeline_state_completed_"));
                assert!(p["completed_on"].is_string() && p["duration_in_seconds"].is_u64());
                assert!(p["build_seconds_used"].as_u64().unwrap() > 0);
            }
            "IN_PROGRESS" => {
                assert!(["RUNNING", "PAUSED"].contains(&s(&state["stage"]["name"])));
                assert!(p.get("completed_on").is_none());
            }
            "PENDING" => assert_eq!(state["type"], "pipeline_state_pending"),
            other => panic!("state {other}"),
        }
        if p["target"]["type"] == "pipeline_pullrequest_target" {
            assert!(p["target"]["pullrequest"]["id"].is_u64());
            assert_eq!(p["target"]["selector"]["type"], "pull-requests");
        } else {
            assert_eq!(p["target"]["ref_type"], "branch");
        }
    }
    assert_eq!(targets.len(), 2, "{targets:?}");
    assert!(truth.iter().any(|p| p["trigger"]["name"] == "MANUAL"));
    assert_eq!(truth.iter().filter(|p| p["first_successful"] == true).count(), 1);

    // Without Pipelines: empty pages.
    for path in ["pipelines/", "deployments/", "environments/"] {
        for repo in ["globex/docs-site", "acme/sandbox"] {
            let (status, body) = get(&sim, &format!("/2.0/repositories/{repo}/{path}"));
            assert_eq!((status, body["size"].as_u64()), (200, Some(0)), "{repo}/{path}");
        }
    }
    assert!(!sim.pipelines_enabled("globex", "docs-site") && sim.pipelines_enabled("acme", "api"));
}

#[test]
fn running_pipelines_complete_when_the_clock_moves() {
    let sim = sim();
    let at_anchor = sim.pipelines("acme", "api");
    let open: Vec<&Value> = at_anchor
        .iter()
        .filter(|p| p["state"]["name"] != "COMPLETED")
        .collect();
    let name = |p: &Value| s(&p["state"]["name"]).to_string();
    assert!(open.iter().any(|p| name(p) == "PENDING"), "a pending pipeline");
    assert!(open.iter().any(|p| p["state"]["stage"]["name"] == "RUNNING"));
    let paused = open
        .iter()
        .find(|p| p["state"]["stage"]["name"] == "PAUSED")
        .expect("a paused pipeline");
    assert!(
        s(&paused["created_on"]) < "2026-05-19",
        "stuck for weeks: {}",
        paused["created_on"]
    );

    // A running pipeline has completed, running and pending steps.
    let running = open
        .iter()
        .find(|p| p["state"]["stage"]["name"] == "RUNNING")
        .unwrap();
    let steps = values_of(&pages(
        &sim,
        &format!(
            "{API}/pipelines/{}/steps/",
            s(&running["uuid"]).replace('{', "%7B").replace('}', "%7D")
        ),
    ));
    assert_eq!(steps, sim.pipeline_steps("acme", "api", s(&running["uuid"])));
    let step_states: Vec<&str> = steps.iter().map(|x| s(&x["state"]["name"])).collect();
    assert_eq!(step_states, ["COMPLETED", "IN_PROGRESS", "PENDING"]);
    for x in &steps {
        assert_eq!(x["type"], "pipeline_step");
        assert_eq!(x["pipeline"]["uuid"], running["uuid"]);
        assert!(x["image"]["name"].is_string() && x["script_commands"].is_array());
    }
    assert!(steps[0]["completed_on"].is_string() && steps[1]["completed_on"].is_null());
    assert_eq!(steps[1]["environment"]["type"], "deployment_environment");

    sim.set_clock_offset_hours(1);
    for p in open.iter().filter(|p| p["state"]["stage"]["name"] != "PAUSED") {
        let later = sim.pipeline("acme", "api", s(&p["uuid"])).unwrap();
        assert_eq!(later["state"]["name"], "COMPLETED", "{}", p["uuid"]);
        assert!(later["completed_on"].is_string());
        for x in sim.pipeline_steps("acme", "api", s(&p["uuid"])) {
            assert_eq!(x["state"]["name"], "COMPLETED");
        }
    }
    assert_eq!(
        sim.pipeline("acme", "api", s(&paused["uuid"])).unwrap()["state"]["stage"]["name"],
        "PAUSED"
    );
    sim.set_clock_offset_hours(96);
    let done = sim.pipeline("acme", "api", s(&paused["uuid"])).unwrap();
    assert_eq!(done["state"]["name"], "COMPLETED");
    let steps = sim.pipeline_steps("acme", "api", s(&paused["uuid"]));
    let last = steps.last().unwrap();
    assert_eq!(last["trigger"]["type"], "pipeline_step_trigger_manual");
    assert!(s(&last["started_on"]) > "2026-06-04");
    sim.set_clock_offset_hours(720);
    assert!(
        sim.pipelines("acme", "api").len() > at_anchor.len(),
        "new pipelines later"
    );
}

#[test]
fn deployments_join_pipelines_commits_and_environments() {
    let sim = sim();
    let truth = sim.deployments("acme", "api");
    assert!(truth.len() > 20);
    assert_eq!(
        by_page_number(&sim, &format!("{API}/deployments/?pagelen=10")),
        truth
    );
    assert_eq!(
        by_page_number(&sim, &format!("{API}/deployments?pagelen=100")),
        truth
    );
    // The `next` quirk: page + 2.
    let (_, first) = get(&sim, &format!("{API}/deployments/?pagelen=10"));
    assert!(s(&first["next"]).ends_with("page=3"), "{}", first["next"]);
    sim.set_deployments_next_wrong_page(false);
    assert_eq!(
        values_of(&pages(&sim, &format!("{API}/deployments/?pagelen=10"))),
        truth
    );
    sim.set_deployments_next_wrong_page(true);

    let environments = sim.environments("acme", "api");
    assert_eq!(
        values_of(&pages(&sim, &format!("{API}/environments/"))),
        environments
    );
    let env_type: HashMap<&str, &str> = environments
        .iter()
        .map(|e| (s(&e["uuid"]), s(&e["environment_type"]["name"])))
        .collect();
    let names: Vec<&str> = environments.iter().map(|e| s(&e["name"])).collect();
    assert_eq!(names, ["Test", "Staging", "Production"]);
    for (rank, e) in environments.iter().enumerate() {
        assert_eq!(e["type"], "deployment_environment");
        assert_eq!(e["environment_type"]["rank"], rank);
        assert_eq!(e["lock"]["name"], "OPEN");
    }
    let hashes: HashSet<String> = sim
        .commits("acme", "api")
        .iter()
        .map(|c| s(&c["hash"]).to_string())
        .collect();
    let pipelines: HashMap<String, Value> = sim
        .pipelines("acme", "api")
        .into_iter()
        .map(|p| (s(&p["uuid"]).to_string(), p))
        .collect();
    for d in &truth {
        assert_eq!(d["type"], "deployment");
        let hash = s(&d["release"]["commit"]["hash"]);
        assert!(hash.len() == 40 && hashes.contains(hash), "{hash}");
        let pipeline = &pipelines[s(&d["release"]["pipeline"]["uuid"])];
        assert_eq!(pipeline["target"]["commit"]["hash"], hash);
        let steps = sim.pipeline_steps("acme", "api", s(&pipeline["uuid"]));
        let step = steps
            .iter()
            .find(|x| x["uuid"] == d["step"]["uuid"])
            .expect("a step of it");
        assert_eq!(step["environment"]["uuid"], d["environment"]["uuid"]);
        assert!(env_type.contains_key(s(&d["environment"]["uuid"])));
        match s(&d["state"]["name"]) {
            "UNDEPLOYED" => {
                assert!(d.get("last_update_time").is_none() && d["state"]["trigger_url"].is_string())
            }
            "IN_PROGRESS" => assert_eq!(d["last_update_time"], d["state"]["started_on"]),
            "COMPLETED" => {
                assert_eq!(d["last_update_time"], d["state"]["completed_on"]);
                assert!(s(&d["state"]["status"]["type"]).starts_with("deployment_state_completed_status_"));
            }
            other => panic!("{other}"),
        }
    }
    let state = |d: &Value| s(&d["state"]["name"]).to_string();
    assert!(truth.iter().any(|d| state(d) == "UNDEPLOYED"));
    assert!(truth.iter().any(|d| state(d) == "IN_PROGRESS"));
    // Served order is not time order.
    let times: Vec<&str> = truth
        .iter()
        .filter_map(|d| d["last_update_time"].as_str())
        .collect();
    assert!(times.windows(2).any(|w| w[0] < w[1]) && times.windows(2).any(|w| w[0] > w[1]));

    // A failed deployment restored later on the same environment.
    let completed = |status: &str| -> Vec<(&str, &str)> {
        truth
            .iter()
            .filter(|d| d["state"]["status"]["name"] == status)
            .map(|d| (s(&d["environment"]["uuid"]), s(&d["state"]["completed_on"])))
            .collect()
    };
    let (failed, ok) = (completed("FAILED"), completed("SUCCESSFUL"));
    assert!(failed
        .iter()
        .any(|(e, f)| ok.iter().any(|(e2, t)| e == e2 && t > f)));
    // Lead time: a merged pull request's merge commit reached production.
    let merges: Vec<String> = sim
        .pullrequests("acme", "api")
        .iter()
        .filter(|p| p["state"] == "MERGED")
        .map(|p| s(&p["merge_commit"]["hash"]).to_string())
        .collect();
    let production = truth
        .iter()
        .filter(|d| env_type[s(&d["environment"]["uuid"])] == "Production")
        .filter(|d| d["state"]["status"]["name"] == "SUCCESSFUL")
        .filter(|d| {
            merges
                .iter()
                .any(|m| s(&d["release"]["commit"]["hash"]).starts_with(m.as_str()))
        })
        .count();
    assert!(production > 5, "{production}");

    // Waiting and running deployments progress with the clock.
    let waiting: Vec<&Value> = truth.iter().filter(|d| state(d) != "COMPLETED").collect();
    sim.set_clock_offset_hours(96);
    let later = sim.deployments("acme", "api");
    for d in waiting {
        let now = later.iter().find(|x| x["uuid"] == d["uuid"]).unwrap();
        assert_eq!(now["state"]["name"], "COMPLETED", "{}", d["uuid"]);
    }
    assert!(later.len() > truth.len());
}

#[test]
fn pullrequest_commits_and_the_deleted_branch() {
    let sim = sim();
    let prs = sim.pullrequests("acme", "api");
    let hashes: HashSet<String> = sim
        .commits("acme", "api")
        .iter()
        .map(|c| s(&c["hash"]).to_string())
        .collect();
    let mut non_empty = 0;
    for p in &prs {
        let id = p["id"].as_u64().unwrap() as u32;
        let list = sim.pullrequest_commits("acme", "api", id);
        for c in &list {
            assert!(hashes.contains(s(&c["hash"])), "#{id}");
        }
        if let Some(first) = list.first() {
            non_empty += 1;
            if p["state"] != "OPEN" {
                assert!(
                    s(&first["hash"]).starts_with(s(&p["source"]["commit"]["hash"])),
                    "#{id}"
                );
            }
        }
    }
    assert!(non_empty > prs.len() * 9 / 10);
    let merged = prs.iter().find(|p| p["state"] == "MERGED").unwrap();
    let id = merged["id"].as_u64().unwrap() as u32;
    let served = values_of(&pages(
        &sim,
        &format!("{API}/pullrequests/{id}/commits?pagelen=1"),
    ));
    assert_eq!(served, sim.pullrequest_commits("acme", "api", id));

    let deleted = sim.pullrequest_with_deleted_source_branch("acme", "api").unwrap();
    let (status, body) = get(&sim, &format!("{API}/pullrequests/{deleted}/commits"));
    assert_eq!(status, 200);
    assert_eq!(body["values"], Value::Array(vec![]));
    let pr = prs.iter().find(|p| p["id"] == deleted).unwrap();
    let merge = s(&pr["merge_commit"]["hash"]);
    assert!(
        hashes.iter().any(|h| h.starts_with(merge)),
        "its merge commit exists"
    );
    sim.set_clock_offset_hours(-24 * 120);
    assert_eq!(sim.pullrequest_with_deleted_source_branch("acme", "api"), None);
    sim.set_clock_offset_hours(0);

    let unknown = prs.len() + 1;
    for child in ["commits", "diffstat", "statuses", "tasks"] {
        let (status, body) = get(&sim, &format!("{API}/pullrequests/{unknown}/{child}"));
        assert_eq!((status, body["type"].as_str()), (404, Some("error")), "{child}");
    }
    assert!(sim.pullrequest_commits("acme", "api", unknown as u32).is_empty());
}

#[test]
fn pullrequest_diffstat_redirects_then_pages() {
    let sim = sim();
    let pr = &sim.pullrequests("acme", "api")[6];
    let id = pr["id"].as_u64().unwrap();
    let reply = get_reply(&sim, &format!("{API}/pullrequests/{id}/diffstat"));
    assert_eq!(reply.status, 302);
    let location = &reply.headers["location"];
    let expected = format!(
        "http://{}{API}/diffstat/{}..{}?from_pullrequest_id={id}&topic=true",
        sim.local_addr(),
        s(&pr["source"]["commit"]["hash"]),
        s(&pr["destination"]["commit"]["hash"]),
    );
    assert_eq!(location, &expected);
    let target = location
        .strip_prefix(&format!("http://{}", sim.local_addr()))
        .unwrap();
    let (status, page) = get(&sim, target);
    assert_eq!(status, 200);
    assert_eq!(page["pagelen"], 500);
    let truth = sim.pullrequest_diffstat("acme", "api", id as u32);
    assert_eq!(page["values"], Value::Array(truth.clone()));
    assert_eq!(values_of(&pages(&sim, &format!("{target}&pagelen=2"))), truth);
    assert_eq!(get(&sim, &format!("{target}&pagelen=501")).0, 400);
    // The pull request's own `links.diffstat` form works too.
    let link = s(&pr["links"]["diffstat"]["href"]);
    let path = &link[link.find("/2.0/").unwrap()..];
    assert_eq!(get(&sim, path).1["values"], Value::Array(truth));

    let mut files = 0;
    for p in sim.pullrequests("acme", "api") {
        let list = sim.pullrequest_diffstat("acme", "api", p["id"].as_u64().unwrap() as u32);
        assert!((1..=30).contains(&list.len()), "{}", list.len());
        files += list.len();
        for e in &list {
            assert_eq!(e["type"], "diffstat");
            match s(&e["status"]) {
                "added" => assert!(e["old"].is_null() && e["new"]["type"] == "commit_file"),
                "removed" => assert!(e["new"].is_null() && e["old"]["path"].is_string()),
                "modified" => assert_eq!(e["old"]["path"], e["new"]["path"]),
                "renamed" => assert_ne!(e["old"]["path"], e["new"]["path"]),
                other => panic!("{other}"),
            }
            assert!(e["lines_added"].is_u64() && e["lines_removed"].is_u64());
        }
    }
    assert!(files > 300);

    // Status overrides reach both paths.
    sim.set_status_override(&format!("{API}/pullrequests/7/diffstat"), 555);
    assert_eq!(
        get_reply(&sim, &format!("{API}/pullrequests/7/diffstat")).status,
        555
    );
    assert_eq!(
        get_reply(&sim, &format!("{API}/pullrequests/8/diffstat")).status,
        302
    );
    sim.set_status_override(&format!("{API}/diffstat"), 404);
    assert_eq!(get(&sim, target).0, 404);
    sim.clear_status_overrides();
}

#[test]
fn pullrequest_statuses_and_tasks() {
    let sim = sim();
    let prs = sim.pullrequests("acme", "api");
    let pipelines: HashMap<String, Value> = sim
        .pipelines("acme", "api")
        .into_iter()
        .map(|p| (s(&p["uuid"]).trim_matches(['{', '}']).to_string(), p))
        .collect();
    let (mut from_pipelines, mut external, mut resolved) = (0, 0, 0);
    for p in &prs {
        let id = p["id"].as_u64().unwrap() as u32;
        let commits: HashSet<String> = sim
            .pullrequest_commits("acme", "api", id)
            .iter()
            .map(|c| s(&c["hash"]).to_string())
            .collect();
        for st in sim.pullrequest_statuses("acme", "api", id) {
            assert_eq!(st["type"], "build");
            assert_eq!(st["refname"], p["source"]["branch"]["name"]);
            let href = s(&st["links"]["commit"]["href"]);
            let hash = href.rsplit('/').next().unwrap();
            assert_eq!(hash.len(), 40);
            if id != sim.pullrequest_with_deleted_source_branch("acme", "api").unwrap() {
                assert!(commits.contains(hash), "#{id} {hash}");
            }
            let state = s(&st["state"]);
            assert!(["SUCCESSFUL", "FAILED", "INPROGRESS", "STOPPED"].contains(&state));
            match pipelines.get(s(&st["key"])) {
                Some(pipeline) => {
                    from_pipelines += 1;
                    assert_eq!(pipeline["target"]["pullrequest"]["id"], id);
                    let expected = match s(&pipeline["state"]["name"]) {
                        "COMPLETED" => match s(&pipeline["state"]["result"]["name"]) {
                            "SUCCESSFUL" => "SUCCESSFUL",
                            "STOPPED" => "STOPPED",
                            _ => "FAILED",
                        },
                        _ => "INPROGRESS",
                    };
                    assert_eq!(state, expected);
                }
                None => external += 1,
            }
        }
        let tasks = sim.pullrequest_tasks("acme", "api", id);
        let open = tasks.iter().filter(|t| t["state"] == "UNRESOLVED").count();
        assert_eq!(open as u64, p["task_count"].as_u64().unwrap(), "#{id}");
        for t in &tasks {
            assert_eq!(t["content"]["type"], "rendered");
            assert_eq!(t["pending"], false);
            if t["state"] == "RESOLVED" {
                resolved += 1;
                assert!(t["resolved_on"].is_string() && t["resolved_by"]["type"] == "user");
                let comment = sim
                    .pullrequest_activity_of("acme", "api", id)
                    .into_iter()
                    .find(|a| a["comment"]["id"] == t["comment"]["id"])
                    .expect("the task's comment is in the activity");
                assert_eq!(comment["comment"]["created_on"], t["created_on"]);
            }
        }
    }
    assert!(
        from_pipelines > 20 && external > 20,
        "{from_pipelines} {external}"
    );
    assert!(resolved > 3, "{resolved}");
    let with_tasks = prs.iter().find(|p| p["task_count"].as_u64() > Some(0)).unwrap();
    let id = with_tasks["id"].as_u64().unwrap();
    assert_eq!(
        values_of(&pages(&sim, &format!("{API}/pullrequests/{id}/tasks?pagelen=1"))),
        sim.pullrequest_tasks("acme", "api", id as u32)
    );
    assert_eq!(
        values_of(&pages(&sim, &format!("{API}/pullrequests/{id}/statuses"))),
        sim.pullrequest_statuses("acme", "api", id as u32)
    );
    // Without Pipelines every status comes from the external CI.
    let docs = sim.pullrequests("globex", "docs-site");
    let key = docs
        .iter()
        .flat_map(|p| sim.pullrequest_statuses("globex", "docs-site", p["id"].as_u64().unwrap() as u32))
        .map(|st| s(&st["key"]).to_string())
        .collect::<HashSet<_>>();
    assert_eq!(key.into_iter().collect::<Vec<_>>(), ["docs-site-ci"]);
}
