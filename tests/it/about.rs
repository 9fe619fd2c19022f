//! `--about`, `--test` and `--config ENV`, through the real binary; and the two documents
//! that must say what `--about` says: the settings table of docs/configuration.md and `meltano.yml`'s
//! settings. `UPDATE_README=1 cargo test --test it about` rewrites both generated blocks.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tap_bitbucket::about::{self, Setting};
use tap_bitbucket::streams::REGISTRY;

use crate::harness::{config_for, simulator, tap, tap_with_env, Run, Scratch, TOKEN};

/// The settings that hold a secret (marked `secret` in `--about` and never in meltano.yml).
const SECRET_SETTINGS: [&str; 5] = [
    "access_token",
    "api_token",
    "app_password",
    "client_secret",
    "refresh_token",
];

const README_BEGIN: &str =
    "<!-- BEGIN settings: generated from `tap-bitbucket --about --format markdown` by UPDATE_README=1 cargo test --test it about -->\n";
const README_END: &str = "<!-- END settings -->\n";
const MELTANO_BEGIN: &str =
    "    # BEGIN settings: generated from `tap-bitbucket --about` by UPDATE_README=1 cargo test --test it about\n";
const MELTANO_END: &str = "    # END settings\n";

/// The auth methods, as Meltano's `settings_group_validation` lists them.
const AUTH_GROUPS: &[&[&str]] = &[
    &["access_token"],
    &["email", "api_token"],
    &["username", "app_password"],
    &["client_id", "client_secret"],
];

/// Runs the tap for output that is not Singer messages (`--about`): stdout is kept as text.
fn tap_plain(args: &[&str]) -> Run {
    let out = assert_cmd::Command::cargo_bin("tap-bitbucket")
        .expect("the tap binary is built")
        .args(args)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("run the tap");
    Run {
        messages: Vec::new(),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

fn repo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn about_json() -> Value {
    let run = tap_plain(&["--about", "--format", "json"]).success();
    serde_json::from_str(&run.stdout).expect("--about --format json prints one JSON document")
}

#[test]
fn about_json_has_the_sdk_shape_and_every_setting() {
    let about = about_json();
    let keys: Vec<&str> = about.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([
            "name",
            "description",
            "version",
            "sdk_version",
            "supported_python_versions",
            "capabilities",
            "settings"
        ])
    );
    assert_eq!(about["name"], "tap-bitbucket");
    assert_eq!(about["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        about["sdk_version"],
        format!("tap-bitbucket-rs {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(about["description"]
        .as_str()
        .is_some_and(|d| d.contains("Bitbucket")));
    assert_eq!(
        about["capabilities"],
        json!(["catalog", "properties", "discover", "state", "about", "test"])
    );

    let settings = &about["settings"];
    assert_eq!(settings["type"], "object");
    let properties = settings["properties"].as_object().unwrap();
    let mut known = tap_bitbucket::config::known_keys();
    known.sort();
    assert_eq!(properties.keys().cloned().collect::<Vec<_>>(), known);
    for (name, schema) in properties {
        assert!(
            schema["description"].as_str().is_some_and(|d| !d.is_empty()),
            "setting `{name}` has no description"
        );
        assert!(schema.get("type").is_some(), "setting `{name}` has no type");
    }
    for secret in SECRET_SETTINGS {
        assert_eq!(properties[secret]["secret"], true, "{secret}");
        assert_eq!(properties[secret]["writeOnly"], true, "{secret}");
    }
    assert_eq!(properties["max_concurrency"]["default"], 4);
    assert_eq!(properties["api_url"]["default"], "https://api.bitbucket.org/2.0");
}

#[test]
fn about_text_is_the_default_and_needs_no_config() {
    // A config file that does not exist is not even read.
    let run = tap_plain(&["--about", "--config", "/nonexistent/config.json"]).success();
    assert!(run.stdout.starts_with("Name: tap-bitbucket\n"), "{}", run.stdout);
    assert!(run.stdout.contains("\nCapabilities:\n  - catalog\n"));
    assert!(run
        .stdout
        .contains("  - Name: access_token\n    Type: string\n    Secret: yes\n"));
    assert!(run
        .stdout
        .contains("    Environment Variable: TAP_BITBUCKET_WORKSPACES\n"));
    assert_eq!(
        run.stdout,
        tap_plain(&["--about", "--format", "text"]).success().stdout
    );

    // --format belongs to --about; --about and --discover exclude each other.
    let run = tap_plain(&["--format", "json"]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty());
    assert_eq!(tap_plain(&["--about", "--discover"]).code, 2);
    assert_eq!(tap_plain(&["--about", "--format", "yaml"]).code, 2);
}

#[test]
fn readme_settings_table_is_the_about_markdown() {
    let run = tap_plain(&["--about", "--format", "markdown"]).success();
    let table = about::settings_markdown();
    assert!(run.stdout.starts_with("# `tap-bitbucket`\n"), "{}", run.stdout);
    assert!(
        run.stdout.ends_with(&format!("## Settings\n\n{table}")),
        "the markdown ends with the settings table"
    );
    assert_eq!(
        table.lines().filter(|l| l.starts_with("| `")).count(),
        tap_bitbucket::config::known_keys().len()
    );
    check_block(
        &repo_file("docs/configuration.md"),
        README_BEGIN,
        README_END,
        &table,
    );
}

#[test]
fn meltano_yml_declares_exactly_the_about_settings() {
    let path = repo_file("meltano.yml");
    let settings = about::settings();
    check_block(
        &path,
        MELTANO_BEGIN,
        MELTANO_END,
        &meltano_settings_yaml(&settings),
    );

    let text = std::fs::read_to_string(&path).unwrap();
    let project: Value = serde_yaml_ng::from_str(&text).expect("meltano.yml is YAML");
    let extractors = project["plugins"]["extractors"].as_array().expect("extractors");
    let tap = extractors
        .iter()
        .find(|p| p["name"] == "tap-bitbucket")
        .expect("an extractor named tap-bitbucket");
    assert_eq!(tap["namespace"], "tap_bitbucket");
    assert_eq!(tap["executable"], "tap-bitbucket");
    let about = about_json();
    let capabilities = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        capabilities(&tap["capabilities"]),
        capabilities(&about["capabilities"])
    );

    // Every setting of --about, in its order, with its kind, secrecy, default and description.
    let declared = tap["settings"].as_array().expect("settings");
    let names: Vec<&str> = declared.iter().map(|s| s["name"].as_str().unwrap()).collect();
    let expected: Vec<&str> = settings.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, expected);
    let properties = &about["settings"]["properties"];
    for (setting, entry) in settings.iter().zip(declared) {
        let name = &setting.name;
        let schema = &properties[name];
        let sensitive = schema["secret"] == true;
        assert_eq!(entry["sensitive"] == true, sensitive, "{name}: sensitive");
        let kind = entry["kind"].as_str().unwrap_or_default();
        let types = schema["type"].to_string();
        let want = if schema["format"] == "date-time" {
            "date_iso8601"
        } else if types.contains("integer") {
            "integer"
        } else if types.contains("boolean") {
            "boolean"
        } else if types.contains("array") {
            "array"
        } else {
            "string"
        };
        assert_eq!(kind, want, "{name}: kind");
        let description = one_line(schema["description"].as_str().unwrap_or_default());
        assert_eq!(entry["description"], Value::String(description), "{name}");
        assert_eq!(entry.get("value"), schema.get("default"), "{name}: default");
    }

    let groups: Vec<Vec<String>> =
        serde_json::from_value(tap["settings_group_validation"].clone()).expect("settings_group_validation");
    let want: Vec<Vec<String>> = AUTH_GROUPS
        .iter()
        .map(|g| g.iter().map(|s| s.to_string()).collect())
        .collect();
    assert_eq!(groups, want);

    // The default environment runs offline against the simulator (TAP_BITBUCKET_API_URL
    // overrides the URL), as its user; `prod` is the real Bitbucket, with the credential
    // from the environment, never from this file.
    let environment = |name: &str| -> &Value {
        let env = project["environments"]
            .as_array()
            .expect("environments")
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("an environment named {name}"));
        env["config"]["plugins"]["extractors"]
            .as_array()
            .and_then(|list| list.iter().find(|p| p["name"] == "tap-bitbucket"))
            .map(|p| &p["config"])
            .unwrap_or_else(|| panic!("{name} configures tap-bitbucket"))
    };
    assert_eq!(project["default_environment"], "dev");
    let dev = environment("dev");
    assert!(dev["api_url"]
        .as_str()
        .is_some_and(|u| u.starts_with("http://127.0.0.1:")));
    assert!(dev["email"].is_string() && dev["api_token"].is_string());
    let prod = environment("prod");
    assert_eq!(prod["api_url"], "https://api.bitbucket.org/2.0");
    for secret in SECRET_SETTINGS {
        assert!(
            prod.get(secret).is_none() && tap["config"].get(secret).is_none(),
            "{secret}"
        );
    }
    // The selection is the tap's default one: everything except the streams that are not
    // selected by default.
    let select: Vec<&str> = tap["select"]
        .as_array()
        .expect("select")
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(select.first(), Some(&"*.*"));
    let excluded: BTreeSet<&str> = select[1..]
        .iter()
        .map(|s| {
            s.strip_prefix('!')
                .and_then(|s| s.strip_suffix(".*"))
                .expect("exclusions are `!stream.*`")
        })
        .collect();
    let not_default: BTreeSet<&str> = REGISTRY
        .iter()
        .filter(|s| !s.selected_by_default)
        .map(|s| s.name)
        .collect();
    assert_eq!(excluded, not_default);

    let loaders = project["plugins"]["loaders"].as_array().expect("loaders");
    assert!(loaders.iter().any(|l| l["name"] == "target-jsonl"));
    // Custom plugins only: nothing is looked up on Meltano Hub.
    for plugin in extractors.iter().chain(loaders) {
        assert!(plugin.get("namespace").is_some(), "{plugin}");
    }
}

/// The `settings:` entries of meltano.yml for these settings.
fn meltano_settings_yaml(settings: &[Setting]) -> String {
    let mut out = String::new();
    for s in settings {
        let quoted = |v: &str| serde_json::to_string(v).unwrap();
        out.push_str(&format!("    - name: {}\n", s.name));
        out.push_str(&format!("      kind: {}\n", s.kind.meltano_kind()));
        if s.secret {
            out.push_str("      sensitive: true\n");
        }
        if let Some(default) = &s.default {
            out.push_str(&format!("      value: {default}\n"));
        }
        out.push_str(&format!("      description: {}\n", quoted(&s.description)));
    }
    out
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Asserts the text between `begin` and `end` in `path` is `want`, or rewrites it with
/// `UPDATE_README=1`.
fn check_block(path: &Path, begin: &str, end: &str, want: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = text
        .find(begin)
        .unwrap_or_else(|| panic!("{} has no line `{}`", path.display(), begin.trim()))
        + begin.len();
    let stop = start
        + text[start..]
            .find(end)
            .unwrap_or_else(|| panic!("{} has no line `{}`", path.display(), end.trim()));
    if &text[start..stop] == want {
        return;
    }
    if std::env::var_os("UPDATE_README").is_some() {
        let updated = format!("{}{want}{}", &text[..start], &text[stop..]);
        std::fs::write(path, updated).unwrap();
        return;
    }
    panic!(
        "the generated block of {} differs from `tap-bitbucket --about`; regenerate it with: \
         UPDATE_README=1 cargo test --test it about",
        path.display()
    );
}

/// The summary line of one stream in `--test`'s stderr.
fn summary_line<'a>(run: &'a Run, stream: &str) -> &'a str {
    run.stderr
        .lines()
        .find(|l| l.split_whitespace().next() == Some(stream) && l.starts_with("  "))
        .unwrap_or_else(|| panic!("no summary line for `{stream}`:\n{}", run.stderr))
}

#[test]
fn test_mode_reads_one_page_per_stream_and_prints_nothing() {
    let sim = simulator();
    let scratch = Scratch::new();
    let mut config = config_for(&sim);
    config["workspaces"] = json!(["acme"]);
    config["page_size"] = json!(10);
    let config = scratch.json("config.json", &config);
    sim.clear_requests();
    let run = tap(&["--config", config.to_str().unwrap(), "--test"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "--test wrote on stdout: {}", run.stdout);
    assert!(
        run.stderr
            .contains("tap-bitbucket --test: connection test against"),
        "{}",
        run.stderr
    );
    assert!(summary_line(&run, "credentials").contains("ok: access token accepted; workspaces: acme"));
    for stream in ["workspaces", "workspace_members", "repositories", "pullrequests"] {
        let line = summary_line(&run, stream);
        assert!(line.contains(" ok: "), "{line}");
    }
    assert!(summary_line(&run, "pullrequests").contains("10 records on the first page of acme/api"));
    // Not selected by default, so not tested.
    assert!(!run.stderr.contains("  public_repositories "));
    // One page each, although `api` has 150 pull requests (15 pages of 10).
    let pr_pages = sim
        .requests()
        .iter()
        .filter(|r| r.path().ends_with("/pullrequests"))
        .count();
    assert_eq!(pr_pages, 1);
    let member_pages = sim
        .requests()
        .iter()
        .filter(|r| r.path().ends_with("/members"))
        .count();
    assert_eq!(member_pages, 1);
}

#[test]
fn test_mode_follows_the_catalog_and_names_refused_credentials() {
    let sim = simulator();
    let scratch = Scratch::new();
    let catalog = crate::harness::catalog_file(&scratch, &["repositories"]);
    let config = scratch.json("config.json", &config_for(&sim));
    let run = tap(&[
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
        "--test",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(summary_line(&run, "repositories").contains(" ok: "));
    assert!(!run.stderr.contains("  pullrequests "), "{}", run.stderr);
    assert!(run.stderr.contains("1 ok, 0 skipped, 0 failed"), "{}", run.stderr);

    let mut bad = config_for(&sim);
    bad["access_token"] = json!("not-the-token");
    let bad = scratch.json("bad.json", &bad);
    let run = tap(&["--config", bad.to_str().unwrap(), "--test"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.is_empty());
    let last = run.last_error_line();
    assert!(
        last.starts_with("tap-bitbucket: error: Bitbucket refused the credentials"),
        "{last}"
    );
    assert!(last.contains("401"), "{last}");
    assert!(
        summary_line(&run, "credentials").contains("failed (the last line says why)"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches("refused the credentials").count(),
        1,
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("not-the-token"));
}

/// A stand-in for Bitbucket with two workspaces: `closed` answers 403 to its member list,
/// `broken` answers 500.
fn stub_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("/");
            let path = path.split('?').next().unwrap_or(path);
            let error = |message: &str| json!({"type": "error", "error": {"message": message}});
            let (status, body) = match path {
                "/2.0/workspaces/closed" | "/2.0/workspaces/broken" => {
                    let slug = path.rsplit('/').next().unwrap();
                    (
                        200,
                        json!({"type": "workspace", "uuid": format!("{{{slug}}}"), "slug": slug}),
                    )
                }
                "/2.0/workspaces/closed/members" => (403, error("Forbidden")),
                "/2.0/workspaces/broken/members" => (500, error("Something broke")),
                _ => (404, error("Not found")),
            };
            let body = body.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}/2.0")
}

#[test]
fn test_mode_reports_skipped_and_failed_streams() {
    let api_url = stub_server();
    let scratch = Scratch::new();
    let catalog = crate::harness::catalog_file(&scratch, &["workspaces", "workspace_members"]);
    let run_with = |workspace: &str| {
        let config = scratch.json(
            &format!("{workspace}.json"),
            &json!({"api_url": api_url, "access_token": TOKEN, "workspaces": [workspace],
                    "max_retries": 0, "backoff_max_secs": 0}),
        );
        tap(&[
            "--config",
            config.to_str().unwrap(),
            "--catalog",
            catalog.to_str().unwrap(),
            "--test",
        ])
    };

    let run = run_with("closed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(summary_line(&run, "workspaces").contains(" ok: 1 record on the first page of closed"));
    let line = summary_line(&run, "workspace_members");
    assert!(
        line.contains("skipped (closed): ") && line.contains("403"),
        "{line}"
    );
    assert!(run.stderr.contains("1 ok, 1 skipped, 0 failed"), "{}", run.stderr);

    let run = run_with("broken");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    let line = summary_line(&run, "workspace_members");
    assert!(
        line.contains("failed (broken) (the last line says why)"),
        "{line}"
    );
    // The last line says why, with the status and endpoint; the row does not repeat it.
    let last = run.last_error_line();
    assert!(
        last.starts_with(
            "tap-bitbucket: error: connection test failed: `workspace_members` (broken: HTTP 500 from GET /2.0/workspaces/broken/members"
        ),
        "{last}"
    );
    assert_eq!(run.stderr.matches("Something broke").count(), 1, "{}", run.stderr);
    assert!(
        !run.stderr.contains("METRIC"),
        "a summary, not metric points: {}",
        run.stderr
    );

    // A credential failure is said once, on the last line.
    let config = scratch.json(
        "unreachable.json",
        &json!({"api_url": "http://127.0.0.1:1/2.0", "access_token": TOKEN,
                "max_retries": 0, "backoff_max_secs": 0}),
    );
    let run = tap(&["--config", config.to_str().unwrap(), "--test"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let last = run.last_error_line();
    assert!(last.contains("cannot connect to 127.0.0.1:1"), "{last}");
    assert_eq!(run.stderr.matches("cannot connect").count(), 1, "{}", run.stderr);
}

/// The pull requests of a run, as `workspace/repository` → count.
fn pullrequest_repos(run: &Run) -> BTreeSet<String> {
    run.records("pullrequests")
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["workspace_slug"].as_str().unwrap(),
                r["repository_slug"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn config_env_alone_with_lists_as_json_or_commas() {
    let sim = simulator();
    let scratch = Scratch::new();
    let catalog = crate::harness::catalog_file(&scratch, &["pullrequests"]);
    let api_url = sim.api_url();
    let run = tap_with_env(
        &["--config", "ENV", "--catalog", catalog.to_str().unwrap()],
        &[
            ("TAP_BITBUCKET_API_URL", api_url.as_str()),
            ("TAP_BITBUCKET_ACCESS_TOKEN", TOKEN),
            ("TAP_BITBUCKET_WORKSPACES", r#"["acme"]"#),
            ("TAP_BITBUCKET_REPOSITORIES", r#"["api", "infra"]"#),
            ("TAP_BITBUCKET_PULLREQUEST_STATES", r#"["MERGED"]"#),
            ("TAP_BITBUCKET_MAX_CONCURRENCY", "2"),
        ],
    )
    .success();
    assert_eq!(
        pullrequest_repos(&run),
        BTreeSet::from(["acme/api".to_string(), "acme/infra".to_string()])
    );
    let served = ["api", "infra"]
        .iter()
        .flat_map(|r| sim.pullrequests("acme", r))
        .filter(|pr| pr["state"] == "MERGED")
        .count();
    assert_eq!(run.records("pullrequests").len(), served);
    assert!(run
        .records("pullrequests")
        .iter()
        .all(|pr| pr["state"] == "MERGED"));

    // A list may be comma-separated too, as the Meltano SDK reads it.
    let commas = tap_with_env(
        &["--config", "ENV", "--catalog", catalog.to_str().unwrap()],
        &[
            ("TAP_BITBUCKET_API_URL", api_url.as_str()),
            ("TAP_BITBUCKET_ACCESS_TOKEN", TOKEN),
            ("TAP_BITBUCKET_WORKSPACES", "acme"),
            ("TAP_BITBUCKET_REPOSITORIES", "api, infra"),
            ("TAP_BITBUCKET_PULLREQUEST_STATES", "MERGED"),
        ],
    )
    .success();
    assert_eq!(commas.records("pullrequests").len(), served);

    // A value of the wrong type is named, with its variable, in plain words.
    let run = tap_with_env(
        &["--config", "ENV", "--discover"],
        &[("TAP_BITBUCKET_MAX_CONCURRENCY", "two")],
    );
    assert_eq!(run.code, 2);
    let line = run.last_error_line();
    assert!(
        line.contains("TAP_BITBUCKET_MAX_CONCURRENCY") && line.contains("expected an integer"),
        "{}",
        run.stderr
    );
}

#[test]
fn config_env_and_files_merge_in_order_later_wins() {
    let sim = simulator();
    let scratch = Scratch::new();
    let catalog = crate::harness::catalog_file(&scratch, &["pullrequests"]);
    let mut file = config_for(&sim);
    file["workspaces"] = json!(["acme"]);
    // Patterns, so that a name missing from the other workspace is no error.
    file["repositories"] = json!(["infr?", "core-servic?"]);
    let file = scratch.json("config.json", &file);
    let env = [("TAP_BITBUCKET_WORKSPACES", r#"["globex"]"#)];
    let run_in = |order: [&str; 2]| {
        tap_with_env(
            &[
                "--config",
                order[0],
                "--config",
                order[1],
                "--catalog",
                catalog.to_str().unwrap(),
            ],
            &env,
        )
        .success()
    };
    let file = file.to_str().unwrap();
    assert_eq!(
        pullrequest_repos(&run_in([file, "ENV"])),
        BTreeSet::from(["globex/core-service".to_string()])
    );
    assert_eq!(
        pullrequest_repos(&run_in(["ENV", file])),
        BTreeSet::from(["acme/infra".to_string()])
    );
}

#[test]
fn loglevel_env_changes_logging() {
    let sim = simulator();
    let scratch = Scratch::new();
    let catalog = crate::harness::catalog_file(&scratch, &["workspaces"]);
    let config = scratch.json("config.json", &config_for(&sim));
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
    ];
    let has = |run: &Run, level: &str| run.stderr.lines().any(|l| l.contains(&format!(" {level} ")));

    let default = tap(&args).success();
    assert!(
        has(&default, "INFO") && !has(&default, "DEBUG"),
        "{}",
        default.stderr
    );
    let debug = tap_with_env(&args, &[("TAP_BITBUCKET_LOGLEVEL", "debug")]).success();
    assert!(has(&debug, "DEBUG"), "{}", debug.stderr);
    let quiet = tap_with_env(&args, &[("TAP_BITBUCKET_LOGLEVEL", "WARN")]).success();
    assert!(!has(&quiet, "INFO") && !has(&quiet, "DEBUG"), "{}", quiet.stderr);
    // The records are the same whatever the level.
    let uuids = |run: &Run| -> BTreeSet<String> {
        run.records("workspaces")
            .iter()
            .map(|r| r["uuid"].to_string())
            .collect()
    };
    assert_eq!(uuids(&default), uuids(&debug));
    assert_eq!(uuids(&default).len(), sim.workspace_slugs().len());
}
