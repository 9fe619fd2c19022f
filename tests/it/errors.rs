//! Bad input from every side: one readable line naming the problem, the spec's exit code,
//! no panic, and no secret anywhere in the output.

use serde_json::json;

use crate::harness::{config_for, simulator, sync, sync_selected, tap, Run, Scratch, TOKEN};

fn assert_clean_failure(run: &Run, code: i32, needles: &[&str]) {
    assert_eq!(run.code, code, "exit code; stderr:\n{}", run.stderr);
    let line = run.last_error_line();
    assert!(line.starts_with("tap-bitbucket: error: "), "last line: {line}");
    // Said once: no log line before it repeats the failure.
    let reason = &line["tap-bitbucket: error: ".len()..];
    assert_eq!(run.stderr.matches(reason).count(), 1, "{}", run.stderr);
    assert!(!run.stderr.contains(" ERROR "), "{}", run.stderr);
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
    assert_clean_failure(&run, 2, &["config.json", "not valid JSON"]);
    let run = with_config(&scratch, "[1]", &[]);
    assert_clean_failure(&run, 2, &["config.json", "must be an object of settings"]);

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
    assert_clean_failure(&run, 2, &["`repositories`", "api-[x", "(from `"]);

    // The key as written, and the file that set it.
    let run = with_config(&scratch, r#"{"access_token": "a", "workspace": "acme/api"}"#, &[]);
    assert_clean_failure(&run, 2, &["`workspace` (from `", "config.json`)", "acme/api"]);

    // Sent as an HTTP header: a line break is a config error, not an HTTP client failure.
    let run = with_config(
        &scratch,
        r#"{"access_token": "a", "user_agent": "bad\nheader"}"#,
        &[],
    );
    assert_clean_failure(&run, 2, &["`user_agent`", "control characters"]);

    let run = tap(&["--config", "/nonexistent/config.json"]);
    assert_clean_failure(&run, 2, &["/nonexistent/config.json"]);
}

#[test]
fn unknown_config_keys_are_warned_by_name() {
    let scratch = Scratch::new();
    let run = with_config(&scratch, r#"{"acess_token": "typo"}"#, &["--discover"]).success();
    assert!(run.stderr.contains("`acess_token`"), "{}", run.stderr);
    // A misspelt variable with `--config ENV` too; Meltano's `TAP_BITBUCKET__*` extras and the
    // log level are not settings, and not warned about.
    let run = crate::harness::tap_with_env(
        &["--config", "ENV", "--discover"],
        &[
            ("TAP_BITBUCKET_STRAT_DATE", "2026-01-01"),
            ("TAP_BITBUCKET__SELECT", "[]"),
            ("TAP_BITBUCKET_LOGLEVEL", "info"),
        ],
    )
    .success();
    let warnings: Vec<&str> = run.stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(
        warnings[0].contains("`TAP_BITBUCKET_STRAT_DATE`"),
        "{}",
        run.stderr
    );
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
    // A few streams: what is checked is the credential, not the streams.
    let streams = ["workspaces", "pullrequests", "users"];
    let run = sync_selected(&scratch, &config, &streams, None).success();
    assert!(!run.records("pullrequests").is_empty());
    assert_eq!(run.records("users").len(), 1, "Basic is a user credential");
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains("demo-api-token"));
    }
    let legacy = json!({
        "api_url": sim.api_url(), "username": "demo@example.com", "app_password": "demo-api-token",
        "workspace": sim.workspace_slugs()[0],
    });
    let run = sync_selected(&scratch, &legacy, &streams, None).success();
    assert!(!run.records("pullrequests").is_empty());
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

/// Asserts that stderr is exactly one line, the error line, naming every needle.
fn assert_only_line(run: &Run, code: i32, needles: &[&str]) {
    assert_clean_failure(run, code, needles);
    let lines: Vec<&str> = run.stderr.lines().filter(|l| !l.contains("METRIC")).collect();
    assert_eq!(lines.len(), 1, "one line per failure:\n{}", run.stderr);
}

#[test]
fn input_errors_are_one_line_each() {
    let scratch = Scratch::new();
    let config = scratch.json("config.json", &json!({"access_token": "a"}));
    let config = config.to_str().unwrap();
    let catalog = scratch.text("catalog.json", "[1, 2");
    let unknown = scratch.json(
        "unknown.json",
        &json!({"streams": [{"tap_stream_id": "pull_requestz", "schema": {}}]}),
    );
    let state = scratch.text("state.json", "{\"bookmarks\": 5}");
    let bad_config = scratch.text("bad.json", "{not json");
    for (args, needle) in [
        (vec!["--config", bad_config.to_str().unwrap()], "bad.json"),
        (
            vec!["--config", config, "--catalog", catalog.to_str().unwrap()],
            "catalog.json",
        ),
        (
            vec!["--config", config, "--catalog", unknown.to_str().unwrap()],
            "`pull_requestz`",
        ),
        (
            vec!["--config", config, "--state", state.to_str().unwrap()],
            "state.json",
        ),
    ] {
        assert_only_line(&tap(&args), 2, &[needle]);
    }
}

#[test]
fn command_line_errors_are_one_line_and_exit_2() {
    // Clap's own errors, in the tap's form.
    let run = tap(&["--config"]);
    assert_only_line(&run, 2, &["--config", "--help"]);
    let run = tap(&["--discover", "--test"]);
    assert_only_line(&run, 2, &["--discover", "--test"]);
    let run = tap(&["--no-such-flag"]);
    assert_only_line(&run, 2, &["--no-such-flag"]);
    // Asked for JSON logs: the one line is a JSON event, also when clap refuses the rest.
    for args in [
        &["--log-format", "json", "--no-such-flag"][..],
        &["--no-such-flag", "--log-format=json"][..],
    ] {
        let run = tap(args);
        assert_eq!(run.code, 2, "{args:?}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{}", run.stderr);
        let event: serde_json::Value = serde_json::from_str(lines[0]).expect("a JSON line");
        assert_eq!(event["level"], "ERROR");
        assert!(
            event["message"].as_str().unwrap().contains("--no-such-flag"),
            "{event}"
        );
    }
    // Nothing to do: say which flag is missing, not "no credentials".
    for args in [&[][..], &["--state", "state.json"][..], &["--test"][..]] {
        let run = tap(args);
        assert_only_line(&run, 2, &["no `--config` given", "--about"]);
        assert!(run.stdout.is_empty());
    }
    // Help and version still print on stdout and exit 0.
    for flag in ["--help", "--version"] {
        let out = assert_cmd::Command::cargo_bin("tap-bitbucket")
            .unwrap()
            .arg(flag)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("tap-bitbucket"),
            "{flag}"
        );
        assert!(out.stderr.is_empty(), "{flag}");
    }
}

#[test]
fn unreachable_server_is_one_line_naming_host_port_and_what_to_check() {
    let scratch = Scratch::new();
    // A port nothing listens on: bound, then closed.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let api_url = format!("http://127.0.0.1:{port}/2.0");
    // The default `max_retries` (5): a refused first connection is retried once, not five
    // times with growing waits.
    let config = json!({"api_url": api_url, "access_token": TOKEN, "workspace": "acme"});
    let run = sync(&scratch, &config, None);
    assert_only_line(
        &run,
        1,
        &[
            "/2.0/workspaces/acme",
            &format!("cannot connect to 127.0.0.1:{port}"),
            "connection refused",
            &format!("`api_url` ({api_url})"),
            "(gave up after 1 retry)",
        ],
    );
    assert!(!run.stderr.contains(TOKEN));

    // A host name that does not resolve (`.invalid` never does).
    let config =
        json!({"api_url": "http://no-such-host.invalid/2.0", "access_token": TOKEN, "workspace": "acme"});
    let run = sync(&scratch, &config, None);
    assert_only_line(
        &run,
        1,
        &["cannot connect to no-such-host.invalid:80", "DNS", "`api_url`"],
    );
}

#[test]
fn a_failed_tls_handshake_names_the_certificate_or_protocol_problem() {
    let sim = simulator();
    let scratch = Scratch::new();
    // `https` to a server that speaks plain HTTP.
    let api_url = sim.api_url().replace("http://", "https://");
    let port = sim.local_addr().port();
    let config = json!({"api_url": api_url, "access_token": TOKEN, "workspace": "acme", "max_retries": 0});
    let run = sync(&scratch, &config, None);
    assert_only_line(
        &run,
        1,
        &[
            &format!("cannot connect to 127.0.0.1:{port}"),
            "TLS handshake failed",
            "certificate",
            "http://",
        ],
    );
}

#[test]
fn a_connection_lost_after_the_first_answer_gets_the_normal_retries() {
    use std::io::{Read, Write};
    // A server that answers one request, then is gone: later refusals are a network
    // hiccup in a running sync, not a wrong `api_url`, so `max_retries` applies.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let body = r#"{"type":"workspace","uuid":"{1}","slug":"acme","name":"Acme"}"#;
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body.as_bytes());
        // The listener is dropped here: nothing listens on the port any more.
    });
    let scratch = Scratch::new();
    let config = json!({
        "api_url": format!("http://127.0.0.1:{port}/2.0"), "access_token": TOKEN,
        "workspace": "acme", "max_retries": 2, "backoff_max_secs": 0,
    });
    let catalog = crate::harness::catalog_file(&scratch, &["repositories"]);
    let config = scratch.json("config.json", &config);
    let run = tap(&[
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
    ]);
    server.join().unwrap();
    assert_clean_failure(
        &run,
        1,
        &[
            "/2.0/repositories/acme",
            "connection refused",
            "gave up after 2 retries",
        ],
    );
    assert_eq!(run.stderr.matches("Retrying after").count(), 2, "{}", run.stderr);
}
