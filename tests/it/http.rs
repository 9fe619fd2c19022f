//! HTTP behaviour through the real binary (spec §5, issue 5): the shared concurrency limit,
//! retries of every transient failure without a duplicated or lost record, the cross-origin
//! `next` guard, OAuth 2.0 (both grants, renewal, rotation, refusal), secrets kept out of every
//! output, and the Singer metric lines in both log formats.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use bitbucket_simulator::{Faults, SimConfig, Simulator};
use serde_json::{json, Value};

use crate::harness::{
    assert_protocol, bookmark, config_for, simulator, tap_with_env, ts, Run, Scratch, TOKEN,
};

/// Every pull request the simulator holds, as `(workspace, repository, id) -> updated_on`.
fn server_prs(sim: &Simulator) -> BTreeMap<(String, String, i64), String> {
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

fn pr_key(record: &Value) -> (String, String, i64) {
    (
        record["workspace_slug"].as_str().unwrap().to_string(),
        record["repository_slug"].as_str().unwrap().to_string(),
        record["id"].as_i64().unwrap(),
    )
}

/// Runs a sync of `streams` with `config`, extra arguments and environment variables.
fn sync_streams(
    scratch: &Scratch,
    config: &Value,
    streams: &[&str],
    extra: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let catalog = crate::harness::catalog_file(scratch, streams);
    let config = scratch.json("config.json", config);
    let mut args = vec![
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    tap_with_env(&args, env)
}

/// `config_for(sim)` with some keys replaced.
fn config_with(sim: &Simulator, extra: Value) -> Value {
    let mut config = config_for(sim);
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config
}

/// An OAuth consumer config for the simulator (refresh-token grant unless removed).
fn oauth_config(sim: &Simulator) -> Value {
    json!({
        "api_url": sim.api_url(),
        "oauth_token_url": sim.oauth_token_url(),
        "client_id": "demo-client",
        "client_secret": "demo-secret",
        "refresh_token": "demo-refresh",
        "backoff_max_secs": 0,
    })
}

/// Asserts no secret appears anywhere in what the run printed. Besides the configured values,
/// every token the simulator issues starts with `simat` (access) or `simrt` (refresh).
fn assert_no_secret(run: &Run, secrets: &[&str]) {
    for secret in secrets.iter().chain(&["simat", "simrt"]) {
        for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(
                !text.contains(secret),
                "`{secret}` appears on {name}:\n{}",
                text.lines()
                    .filter(|l| l.contains(secret))
                    .take(3)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    let stderr = run.stderr.to_ascii_lowercase();
    for header in ["authorization: ", "authorization\":", "\"authorization\""] {
        assert!(
            !stderr.contains(header),
            "an Authorization header appears on stderr"
        );
    }
}

/// The requests the simulator served under `/2.0/` (the API, not the OAuth endpoint).
fn api_requests(sim: &Simulator) -> Vec<bitbucket_simulator::RecordedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path().starts_with("/2.0/"))
        .collect()
}

/// The `INFO METRIC: {…}` points of a text-format run.
fn metrics(run: &Run) -> Vec<Value> {
    run.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("INFO METRIC: "))
        .map(|j| serde_json::from_str(j).unwrap_or_else(|e| panic!("metric is not JSON ({e}): {j}")))
        .collect()
}

/// Asserts every STATE of the run covers only records emitted before it: a rerun from it
/// would start at each bookmark, so every pull request below a bookmark must already be out.
fn assert_states_cover_only_emitted(run: &Run, server: &BTreeMap<(String, String, i64), String>) {
    let mut emitted = HashSet::new();
    let mut states = 0;
    for m in &run.messages {
        match m["type"].as_str() {
            Some("RECORD") if m["stream"] == "pullrequests" => {
                emitted.insert(pr_key(&m["record"]));
            }
            Some("STATE") => {
                states += 1;
                for (key, updated) in server {
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
    assert!(states > 1, "a STATE after every page, got {states}");
}

#[test]
fn requests_in_flight_never_exceed_max_concurrency() {
    let sim = simulator();
    let scratch = Scratch::new();
    let server = server_prs(&sim);
    sim.set_faults(Faults {
        latency_ms: 30,
        ..Faults::default()
    });
    for limit in [1, 4] {
        sim.reset_max_in_flight();
        let config = config_with(&sim, json!({"max_concurrency": limit, "page_size": 50}));
        let run = sync_streams(&scratch, &config, &["repositories", "pullrequests"], &[], &[]).success();
        let peak = sim.max_in_flight();
        assert!(
            peak <= limit,
            "{peak} requests in flight with max_concurrency {limit}"
        );
        if limit > 1 {
            assert!(peak > 1, "repositories are read concurrently (peak {peak})");
        }
        assert_protocol(&run);
        assert_states_cover_only_emitted(&run, &server);
        let got: BTreeSet<_> = run.records("pullrequests").into_iter().map(pr_key).collect();
        assert_eq!(got, server.keys().cloned().collect(), "max_concurrency {limit}");
    }
}

#[test]
fn transient_failures_are_retried_and_every_record_arrives_once() {
    let sim = simulator();
    let scratch = Scratch::new();
    sim.set_faults(Faults {
        rate_limit_every: 7,
        server_error_every: 5,
        truncate_every: 4,
        ..Faults::default()
    });
    let config = config_with(&sim, json!({"page_size": 20, "max_retries": 12}));
    let run = sync_streams(&scratch, &config, &["repositories", "pullrequests"], &[], &[]).success();
    // Unique keys and valid records: a retried page is never half-emitted nor emitted twice.
    assert_protocol(&run);
    let got: BTreeSet<_> = run.records("pullrequests").into_iter().map(pr_key).collect();
    assert_eq!(got, server_prs(&sim).keys().cloned().collect());
    for ws in sim.workspace_slugs() {
        let got = run
            .records("repositories")
            .into_iter()
            .filter(|r| r["workspace_slug"] == ws.as_str())
            .count();
        assert_eq!(got, sim.repositories(&ws).len(), "repositories of {ws}");
    }
    for needle in [
        "HTTP 429",
        "Rate limit for this resource has been exceeded",
        "HTTP 500",
        "HTTP 502",
        "HTTP 503",
        "malformed JSON",
    ] {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains("Retrying after") && l.contains(needle)),
            "no retry of `{needle}`:\n{}",
            run.stderr
        );
    }
    // Failed attempts are measured too.
    let failed: BTreeSet<u64> = metrics(&run)
        .iter()
        .filter(|m| m["metric"] == "http_request_duration" && m["tags"]["status"] == "failed")
        .filter_map(|m| m["tags"]["http_status_code"].as_u64())
        .collect();
    assert!(
        failed.is_superset(&BTreeSet::from([200, 429, 500, 502, 503])),
        "{failed:?}"
    );
}

#[test]
fn retry_after_is_honoured_up_to_backoff_max() {
    let sim = simulator();
    let scratch = Scratch::new();
    sim.set_faults(Faults {
        rate_limit_every: 3,
        rate_limit_retry_after_secs: Some(1),
        ..Faults::default()
    });
    let config = config_with(
        &sim,
        json!({"workspace": "acme", "repositories": ["infra"], "backoff_max_secs": 300}),
    );
    let run = sync_streams(&scratch, &config, &["pullrequests"], &[], &[]).success();
    let waits: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("Retrying after") && l.contains("HTTP 429"))
        .collect();
    assert!(!waits.is_empty(), "{}", run.stderr);
    for line in waits {
        assert!(
            line.contains("wait_secs=1.0") || line.contains("wait_secs=1 "),
            "{line}"
        );
    }
}

#[test]
fn retries_run_out_with_one_clear_line() {
    let sim = simulator();
    let scratch = Scratch::new();
    sim.set_faults(Faults {
        rate_limit_every: 1,
        ..Faults::default()
    });
    let config = config_with(&sim, json!({"workspace": "acme", "max_retries": 2}));
    let run = sync_streams(&scratch, &config, &["pullrequests"], &[], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let line = run.last_error_line();
    for needle in [
        "tap-bitbucket: error: ",
        "HTTP 429 from GET /2.0/workspaces/acme",
        "Rate limit for this resource has been exceeded",
        "gave up after 2 retries",
    ] {
        assert!(line.contains(needle), "`{needle}` not in: {line}");
    }
    assert_eq!(api_requests(&sim).len(), 3);
}

#[test]
fn timeouts_are_retried_then_fail_clearly() {
    let sim = simulator();
    let scratch = Scratch::new();
    sim.set_faults(Faults {
        latency_ms: 2500,
        ..Faults::default()
    });
    let config = config_with(
        &sim,
        json!({"workspace": "acme", "request_timeout_secs": 1, "max_retries": 1}),
    );
    let run = sync_streams(&scratch, &config, &["pullrequests"], &[], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let line = run.last_error_line();
    assert!(
        line.contains("/2.0/workspaces/acme")
            && line.contains("timed out after 1 s (`request_timeout_secs`)")
            && line.contains("gave up after 1 retry"),
        "{line}"
    );
    assert!(run.stderr.contains("Retrying after"), "{}", run.stderr);
}

#[test]
fn a_cross_origin_next_link_stops_the_run_and_gets_no_credentials() {
    let sim = simulator();
    let scratch = Scratch::new();
    sim.set_faults(Faults {
        cross_origin_next: true,
        ..Faults::default()
    });
    // Small pages, so the first listing already has a `next` link.
    let config = config_with(&sim, json!({"page_size": 2}));
    let run = sync_streams(&scratch, &config, &["repositories", "pullrequests"], &[], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let line = run.last_error_line();
    assert!(
        line.contains("refusing to follow `http://localhost:")
            && line.contains("credentials are only sent there"),
        "{line}"
    );
    let foreign: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.host.starts_with("localhost"))
        .collect();
    assert!(
        foreign.is_empty(),
        "requests sent to the other origin: {foreign:?}"
    );
    assert_no_secret(&run, &[TOKEN]);
}

#[test]
fn a_cross_origin_redirect_stops_the_run_at_once_and_gets_no_credentials() {
    let sim = simulator();
    let scratch = Scratch::new();
    sim.set_faults(Faults {
        cross_origin_redirect: true,
        ..Faults::default()
    });
    // The pull-request diffstat answers with a 302, here to another origin.
    let config = config_with(&sim, json!({"requests_per_hour": 0}));
    let run = sync_streams(&scratch, &config, &["pullrequest_diffstat"], &[], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let line = run.last_error_line();
    assert!(
        line.contains("refusing to follow `http://localhost:")
            && line.contains("/diffstat/")
            && line.contains("credentials are only sent there"),
        "{line}"
    );
    let requests = sim.requests();
    let foreign: Vec<_> = requests
        .iter()
        .filter(|r| r.host.starts_with("localhost"))
        .collect();
    assert!(
        foreign.is_empty(),
        "requests sent to the other origin: {foreign:?}"
    );
    // Not retried: the same request would be redirected the same way (other repositories'
    // diffstats may be in flight at the same time, each asked once).
    let diffstats: Vec<_> = requests
        .iter()
        .map(|r| r.path_and_query.as_str())
        .filter(|p| p.split('?').next().unwrap().ends_with("/diffstat"))
        .collect();
    let distinct: HashSet<_> = diffstats.iter().collect();
    assert!(
        !diffstats.is_empty() && distinct.len() == diffstats.len(),
        "{diffstats:?}"
    );
    assert!(!run.stderr.contains("Retrying after"), "{}", run.stderr);
    assert_no_secret(&run, &[TOKEN]);
}

#[test]
fn oauth_refresh_token_grant_syncs_without_printing_a_secret() {
    let sim = simulator();
    let scratch = Scratch::new();
    let run = sync_streams(
        &scratch,
        &oauth_config(&sim),
        &["repositories", "pullrequests"],
        &[],
        &[("TAP_BITBUCKET_LOGLEVEL", "trace")],
    )
    .success();
    assert_protocol(&run);
    let got: BTreeSet<_> = run.records("pullrequests").into_iter().map(pr_key).collect();
    assert_eq!(got, server_prs(&sim).keys().cloned().collect());
    assert_eq!(sim.token_requests(), 1, "one token serves the whole run");
    let api = api_requests(&sim);
    assert!(
        api.iter().all(|r| r.has_authorization && r.status == 200),
        "{api:?}"
    );
    assert!(run.stderr.contains("refresh-token grant"), "{}", run.stderr);
    assert_no_secret(&run, &["demo-secret", "demo-refresh"]);
    // The token endpoint is measured like any request.
    assert!(metrics(&run)
        .iter()
        .any(|m| m["metric"] == "http_request_duration"
            && m["tags"]["endpoint"] == "/site/oauth2/access_token"));
}

#[test]
fn oauth_client_credentials_grant_syncs() {
    let sim = simulator();
    let scratch = Scratch::new();
    let mut config = oauth_config(&sim);
    config.as_object_mut().unwrap().remove("refresh_token");
    let run = sync_streams(&scratch, &config, &["repositories"], &[], &[]).success();
    assert!(!run.records("repositories").is_empty());
    assert!(run.stderr.contains("client-credentials grant"), "{}", run.stderr);
    assert_no_secret(&run, &["demo-secret", "demo-refresh"]);
}

/// Syncs pull requests with OAuth tokens that live 1 s (renewed at half their life) in a run
/// that lasts well over a second (one request at a time, 40 ms each), so it needs several.
fn sync_with_short_lived_tokens(sim: &Simulator) -> Run {
    let scratch = Scratch::new();
    sim.set_token_lifetime_secs(1);
    sim.set_faults(Faults {
        latency_ms: 40,
        ..Faults::default()
    });
    let mut config = oauth_config(sim);
    config["max_concurrency"] = json!(1);
    // About 30 pages at 40 ms each: longer than the half-second after which a one-second
    // token is renewed.
    config["page_size"] = json!(20);
    sync_streams(&scratch, &config, &["pullrequests"], &[], &[]).success()
}

#[test]
fn oauth_tokens_are_renewed_before_they_expire() {
    let sim = simulator();
    let run = sync_with_short_lived_tokens(&sim);
    assert!(
        sim.token_requests() >= 2,
        "{} token requests",
        sim.token_requests()
    );
    let got: BTreeSet<_> = run.records("pullrequests").into_iter().map(pr_key).collect();
    assert_eq!(got, server_prs(&sim).keys().cloned().collect());
    assert_no_secret(&run, &["demo-secret", "demo-refresh"]);
}

#[test]
fn a_rotated_refresh_token_is_used_from_then_on_with_one_warning() {
    let sim = Simulator::start(SimConfig {
        rotate_refresh_tokens: true,
        ..SimConfig::default()
    })
    .expect("start simulator");
    let run = sync_with_short_lived_tokens(&sim);
    // With rotation the configured token is revoked by the first grant: later grants only
    // succeed with the rotated one.
    assert!(
        sim.token_requests() >= 2,
        "{} token requests",
        sim.token_requests()
    );
    let warnings = run.stderr.lines().filter(|l| l.contains("is now stale")).count();
    assert_eq!(warnings, 1, "{}", run.stderr);
    assert_no_secret(&run, &["demo-secret", "demo-refresh"]);
}

#[test]
fn a_refused_grant_is_one_fatal_line_and_no_api_request() {
    let sim = simulator();
    let scratch = Scratch::new();
    for (key, value) in [
        ("refresh_token", "wrong-refresh-7f3a"),
        ("client_secret", "wrong-secret-91c2"),
    ] {
        let mut config = oauth_config(&sim);
        config[key] = json!(value);
        let run = sync_streams(
            &scratch,
            &config,
            &["repositories"],
            &[],
            &[("TAP_BITBUCKET_LOGLEVEL", "debug")],
        );
        assert_eq!(run.code, 1, "{}", run.stderr);
        let line = run.last_error_line();
        assert!(
            line.starts_with("tap-bitbucket: error: ")
                && line.contains(&sim.oauth_token_url())
                && line.contains("invalid_grant"),
            "{line}"
        );
        assert_no_secret(&run, &[value, "demo-secret", "demo-refresh"]);
        assert!(!run.stdout.contains("\"RECORD\""));
    }
    assert_eq!(api_requests(&sim).len(), 0);
}

#[test]
fn an_access_token_that_keeps_expiring_is_renewed_once_then_fails_clearly() {
    let sim = simulator();
    let scratch = Scratch::new();
    // Tokens that are expired when issued: the first request is refused as expired, the token
    // is renewed once, the second refusal stops the run.
    sim.set_token_lifetime_secs(0);
    let mut config = oauth_config(&sim);
    config["workspace"] = json!("acme");
    let run = sync_streams(&scratch, &config, &["repositories"], &[], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let line = run.last_error_line();
    assert!(
        line.contains("401") && line.to_ascii_lowercase().contains("expired"),
        "{line}"
    );
    assert_eq!(
        api_requests(&sim).len(),
        2,
        "the request is tried again once with a new token"
    );
    assert_eq!(sim.token_requests(), 2);
    assert_no_secret(&run, &["demo-secret", "demo-refresh"]);
}

#[test]
fn no_secret_appears_in_any_output_of_any_credential() {
    let sim = simulator();
    let scratch = Scratch::new();
    let basic = "ZGVtb0BleGFtcGxlLmNvbTpkZW1vLWFwaS10b2tlbg"; // base64 of the Basic pair
    let cases = [
        (json!({"access_token": TOKEN}), 0, vec![TOKEN]),
        (
            json!({"access_token": "wrong-bearer-0c4d"}),
            1,
            vec!["wrong-bearer-0c4d"],
        ),
        (
            json!({"email": "demo@example.com", "api_token": "demo-api-token"}),
            0,
            vec!["demo-api-token", basic],
        ),
        (
            json!({"email": "demo@example.com", "api_token": "wrong-api-token-5e6f"}),
            1,
            vec!["wrong-api-token-5e6f"],
        ),
    ];
    for (credentials, code, secrets) in cases {
        let mut config = json!({"api_url": sim.api_url(), "workspace": "acme", "backoff_max_secs": 0});
        for (k, v) in credentials.as_object().unwrap() {
            config[k] = v.clone();
        }
        for format in ["text", "json"] {
            let run = sync_streams(
                &scratch,
                &config,
                &["repositories", "pullrequests"],
                &["--log-format", format],
                &[("TAP_BITBUCKET_LOGLEVEL", "trace")],
            );
            assert_eq!(run.code, code, "{credentials}: {}", run.stderr);
            assert_no_secret(&run, &secrets);
        }
    }
}

#[test]
fn metric_lines_are_singer_points_that_add_up() {
    let sim = simulator();
    let scratch = Scratch::new();
    let config = config_with(&sim, json!({"page_size": 30}));
    let run = sync_streams(
        &scratch,
        &config,
        &["workspace_members", "repositories", "pullrequests"],
        &[],
        &[],
    )
    .success();
    let points = metrics(&run);
    for point in &points {
        assert!(
            matches!(point["type"].as_str(), Some("timer" | "counter")),
            "{point}"
        );
        assert!(point["value"].is_number() && point["tags"].is_object(), "{point}");
    }
    let named = |name: &'static str| points.iter().filter(move |p| p["metric"] == name);

    // One timer per request the server saw, tagged with a query-free endpoint.
    let served = api_requests(&sim).len();
    assert_eq!(named("http_request_duration").count(), served);
    for point in named("http_request_duration") {
        let tags = &point["tags"];
        let endpoint = tags["endpoint"].as_str().unwrap();
        assert!(
            endpoint.starts_with("/2.0/") && !endpoint.contains('?'),
            "{point}"
        );
        assert_eq!(tags["http_status_code"], 200, "{point}");
        assert_eq!(tags["status"], "succeeded", "{point}");
    }
    // Partition requests carry their stream and context.
    assert!(named("http_request_duration")
        .any(|p| p["tags"]["stream"] == "pullrequests" && p["tags"]["context"]["repository"].is_string()));
    // The counters add up to the requests and the records.
    let counted: u64 = named("http_request_count")
        .map(|p| p["value"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, served as u64);
    for stream in ["workspace_members", "repositories", "pullrequests"] {
        let counted: u64 = named("record_count")
            .filter(|p| p["tags"]["stream"] == stream)
            .map(|p| p["value"].as_u64().unwrap())
            .sum();
        assert_eq!(
            counted,
            run.records(stream).len() as u64,
            "record_count of {stream}"
        );
    }
    let partitions = named("record_count")
        .filter(|p| p["tags"]["stream"] == "pullrequests")
        .count();
    let repos: usize = sim
        .workspace_slugs()
        .iter()
        .map(|w| sim.repository_slugs(w).len())
        .sum();
    assert_eq!(partitions, repos, "one record_count per pull request partition");
    assert_eq!(named("sync_duration").count(), 1);
    assert_eq!(
        named("sync_duration").next().unwrap()["tags"]["status"],
        "succeeded"
    );
}

#[test]
fn json_log_format_makes_every_stderr_line_json() {
    let sim = simulator();
    let scratch = Scratch::new();
    let run = sync_streams(
        &scratch,
        &config_for(&sim),
        &["repositories", "pullrequests"],
        &["--log-format", "json"],
        &[],
    )
    .success();
    let lines: Vec<Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {l}")))
        .collect();
    let metrics: Vec<&Value> = lines.iter().filter(|l| l["message"] == "METRIC").collect();
    assert!(metrics.iter().any(|m| m["metric"]["metric"] == "record_count"));
    assert!(metrics
        .iter()
        .all(|m| m["level"] == "INFO" && m["metric"]["tags"].is_object() && m["timestamp"].is_string()));
    assert!(!run.stderr.contains("INFO METRIC:"));

    // A failing run: JSON lines to the end, the last one the failure, once: an ERROR event
    // with the one line of text mode as its message and the exit code.
    let mut config = config_for(&sim);
    config["access_token"] = json!("wrong-token");
    let run = sync_streams(
        &scratch,
        &config,
        &["repositories"],
        &["--log-format", "json"],
        &[],
    );
    assert_eq!(run.code, 1);
    let lines: Vec<Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {l}")))
        .collect();
    let errors: Vec<&Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert_eq!(errors[0], lines.last().unwrap(), "the failure is the last line");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("tap-bitbucket: error: ") && message.contains("HTTP 401"),
        "{message}"
    );
    assert_eq!(errors[0]["exit_code"], 1);

    // A config error, found before the logger knew the format from the config: still JSON,
    // as the command line asked.
    let bad = scratch.text("bad-config.json", "{not json");
    let run = crate::harness::tap(&["--config", bad.to_str().unwrap(), "--log-format", "json"]);
    assert_eq!(run.code, 2);
    let line: Value = serde_json::from_str(run.stderr.trim_end())
        .unwrap_or_else(|e| panic!("not one JSON line ({e}): {}", run.stderr));
    assert_eq!((&line["level"], &line["exit_code"]), (&json!("ERROR"), &json!(2)));
    assert!(
        line["message"].as_str().unwrap().contains("bad-config.json"),
        "{line}"
    );
}

#[test]
fn page_size_caps_every_request_the_run_makes() {
    let sim = simulator();
    let scratch = Scratch::new();
    // Every workspace (so the workspace listing is read too), every stream selected; two of
    // the smaller repositories, for time.
    let mut config = config_with(
        &sim,
        json!({"page_size": 3, "requests_per_hour": 0, "repositories": ["infra", "docs-site"]}),
    );
    config.as_object_mut().unwrap().remove("workspaces");
    let all: Vec<&str> = tap_bitbucket::streams::names();
    let run = crate::harness::sync_selected(&scratch, &config, &all, None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = sim.requests();
    let mut capped = 0;
    for r in &requests {
        let pagelen = r
            .path_and_query
            .split(['?', '&'])
            .find_map(|p| p.strip_prefix("pagelen="));
        if let Some(n) = pagelen {
            assert!(n.parse::<u32>().is_ok_and(|n| n <= 3), "{}", r.path_and_query);
            capped += 1;
        }
    }
    assert!(
        requests
            .iter()
            .any(|r| r.path_and_query.starts_with("/2.0/user/workspaces?"))
            && requests
                .iter()
                .any(|r| r.path_and_query.contains("/2.0/repositories/acme?")),
        "the partition listings were read"
    );
    assert!(
        capped > 50,
        "{capped} of {} requests carried a pagelen",
        requests.len()
    );
}
