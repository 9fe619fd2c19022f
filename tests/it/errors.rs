//! Bad input from every side: one readable line naming the problem, the spec's exit code,
//! no panic, and no secret anywhere in the output.

use serde_json::json;

use crate::harness::{config_for, simulator, sync, tap, Run, Scratch, TOKEN};

fn assert_clean_failure(run: &Run, code: i32, needles: &[&str]) {
    assert_eq!(run.code, code, "exit code; stderr:\n{}", run.stderr);
    let line = run.last_error_line();
    assert!(line.starts_with("tap-bitbucket: error: "), "last line: {line}");
    for needle in needles {
        assert!(line.contains(needle), "`{needle}` not in: {line}");
    }
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
        "{}",
        run.stderr
    );
}

fn with_config(scratch: &Scratch, text: &str, extra: &[&str]) -> Run {
    let path = scratch.text("config.json", text);
    let mut args = vec!["--config", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    tap(&args)
}

#[test]
fn config_errors_exit_2_naming_the_problem() {
    let scratch = Scratch::new();
    let run = with_config(&scratch, "{not json", &[]);
    assert_clean_failure(&run, 2, &["config.json", "not a JSON object"]);

    let run = with_config(
        &scratch,
        r#"{"access_token": "a", "email": "me@example.com", "api_token": "b"}"#,
        &[],
    );
    assert_clean_failure(&run, 2, &["`access_token`", "`email` + `api_token`"]);

    let run = with_config(&scratch, r#"{"email": "me@example.com"}"#, &[]);
    assert_clean_failure(&run, 2, &["`api_token` is missing"]);

    let run = with_config(
        &scratch,
        r#"{"access_token": "a", "start_date": "last tuesday"}"#,
        &[],
    );
    assert_clean_failure(&run, 2, &["`start_date`", "last tuesday"]);

    let run = with_config(&scratch, r#"{"access_token": "a", "days_back": -3}"#, &[]);
    assert_clean_failure(&run, 2, &["`days_back`"]);

    let run = with_config(
        &scratch,
        r#"{"access_token": "a", "max_concurrency": "many"}"#,
        &[],
    );
    assert_clean_failure(&run, 2, &["`max_concurrency`"]);

    let run = with_config(
        &scratch,
        r#"{"access_token": "a", "shard_index": 2, "shard_count": 2}"#,
        &[],
    );
    assert_clean_failure(&run, 2, &["`shard_index`"]);

    let run = with_config(&scratch, "{}", &[]);
    assert_clean_failure(&run, 2, &["no credentials"]);

    let run = with_config(
        &scratch,
        r#"{"access_token": "a", "repositories": ["api-[x"]}"#,
        &[],
    );
    assert_clean_failure(&run, 2, &["`repositories`", "api-[x"]);

    let run = tap(&["--config", "/nonexistent/config.json"]);
    assert_clean_failure(&run, 2, &["/nonexistent/config.json"]);
}

#[test]
fn unknown_config_keys_are_warned_by_name() {
    let scratch = Scratch::new();
    let run = with_config(&scratch, r#"{"acess_token": "typo"}"#, &["--discover"]).success();
    assert!(run.stderr.contains("`acess_token`"), "{}", run.stderr);
}

#[test]
fn catalog_errors_exit_2() {
    let scratch = Scratch::new();
    let config = scratch.json("config.json", &json!({"access_token": "a"}));
    let config = config.to_str().unwrap();
    let bad = scratch.text("bad.json", "[1, 2");
    let run = tap(&["--config", config, "--catalog", bad.to_str().unwrap()]);
    assert_clean_failure(&run, 2, &["bad.json", "catalog"]);

    let unknown = scratch.json(
        "unknown.json",
        &json!({"streams": [{"tap_stream_id": "pull_requestz", "schema": {}}]}),
    );
    let run = tap(&["--config", config, "--catalog", unknown.to_str().unwrap()]);
    assert_clean_failure(&run, 2, &["`pull_requestz`"]);

    let shape = scratch.json("shape.json", &json!({"streams": {"a": 1}}));
    let run = tap(&["--config", config, "--properties", shape.to_str().unwrap()]);
    assert_clean_failure(&run, 2, &["shape.json", "streams"]);

    let run = tap(&["--config", config, "--catalog", "/nonexistent/catalog.json"]);
    assert_clean_failure(&run, 2, &["/nonexistent/catalog.json"]);
}

#[test]
fn state_errors_exit_2_showing_the_expected_shape() {
    let scratch = Scratch::new();
    let config = scratch.json("config.json", &json!({"access_token": "a"}));
    let config = config.to_str().unwrap();
    for (name, text, needle) in [
        ("a.json", "{\"bookmarks\": 5}", "`bookmarks`"),
        ("b.json", "{\"bookmarks\": {\"acme/api\": {\"pullrequests\": \"2026-01-01\"}}}", "`bookmarks.acme/api`"),
        (
            "c.json",
            "{\"bookmarks\": {\"pullrequests\": {\"partitions\": [{\"context\": {}, \"replication_key_value\": 7}]}}}",
            "replication_key_value",
        ),
        ("d.json", "not json", "not JSON"),
    ] {
        let path = scratch.text(name, text);
        let run = tap(&["--config", config, "--state", path.to_str().unwrap()]);
        assert_clean_failure(&run, 2, &[name, needle, "expected {\"bookmarks\""]);
    }
}

#[test]
fn refused_credentials_fail_clearly_without_leaking() {
    let sim = simulator();
    let scratch = Scratch::new();
    let secret = "wrong-token-5c1f0e9b";
    let mut config = config_for(&sim);
    config["access_token"] = json!(secret);
    let run = sync(&scratch, &config, None);
    assert_clean_failure(&run, 1, &["401"]);
    assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
    assert!(!run.stdout.contains("\"RECORD\""));
}

#[test]
fn basic_auth_works_and_never_prints_the_password() {
    let sim = simulator();
    let scratch = Scratch::new();
    let config = json!({
        "api_url": sim.api_url(), "email": "demo@example.com", "api_token": "demo-api-token",
        "workspace": sim.workspace_slugs()[0],
    });
    let run = sync(&scratch, &config, None).success();
    assert!(!run.records("pullrequests").is_empty());
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains("demo-api-token"));
    }
    let legacy = json!({
        "api_url": sim.api_url(), "username": "demo@example.com", "app_password": "demo-api-token",
        "workspace": sim.workspace_slugs()[0],
    });
    let run = sync(&scratch, &legacy, None).success();
    assert!(
        run.stderr.contains("app_password") && run.stderr.contains("2026-07-28"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("demo-api-token"));
}

#[test]
fn unknown_workspace_or_repository_is_fatal_and_named() {
    let sim = simulator();
    let scratch = Scratch::new();
    let mut config = config_for(&sim);
    config["workspace"] = json!("no-such-workspace");
    let run = sync(&scratch, &config, None);
    assert_clean_failure(&run, 1, &["`no-such-workspace`"]);

    let mut config = config_for(&sim);
    config["repositories"] = json!(["no-such-repo"]);
    let run = sync(&scratch, &config, None);
    assert_clean_failure(&run, 1, &["`no-such-repo`"]);
}

#[test]
fn unreachable_server_is_one_line_naming_the_endpoint() {
    let scratch = Scratch::new();
    let config = json!({"api_url": "http://127.0.0.1:9/2.0", "access_token": TOKEN, "max_retries": 0, "workspace": "acme"});
    let run = sync(&scratch, &config, None);
    assert_clean_failure(&run, 1, &["/2.0/workspaces/acme"]);
    assert!(!run.stderr.contains(TOKEN));
}
