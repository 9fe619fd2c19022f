//! A large sync: 16 repositories of two workspaces, read concurrently, each over many pages,
//! through the real binary against the in-process simulator (`SimConfig::scaled`).
//!
//! Checks, against the simulator: every pull request of every repository arrives exactly once
//! (exact ids per repository, no duplicate key), every record names the repository it was
//! read from, and every partition's bookmark never decreases from one STATE message to the
//! next and ends at the newest `updated_on` emitted for it.
//!
//! Size: 200 pull requests per repository (3 200 records) read 10 per page, so 20 keyset
//! pages per repository and 320 in all, four repositories in flight at once: the same
//! property as 100 000 records at the largest page size (exactly once, in order, across many
//! pages and partitions) in a few seconds of a debug build, so `cargo test` stays quick.
//! `TAP_IT_LARGE_PRS_PER_REPO=6250 cargo test --release --test it large` runs it at 100 000
//! records; the release benchmark (`scripts/bench.sh`) syncs 100 000 and 1 000 000 and checks
//! that every pull request arrived.
//!
//! Stdout can be hundreds of megabytes at the large size, so it is read line by line as the
//! tap writes it, and RECORD lines are not parsed as JSON: the key fields are cut out of the
//! text (they come first in the record, in the record type's field order), and every 500th
//! line is parsed in full to check that cutting agrees with parsing. STATE lines are parsed in
//! full.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use bitbucket_simulator::{SimConfig, Simulator};
use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::harness::{ts, Scratch, TOKEN};

const WORKSPACES: usize = 2;
const REPOS_PER_WORKSPACE: usize = 8;
/// Pull requests per repository unless `TAP_IT_LARGE_PRS_PER_REPO` says otherwise.
const DEFAULT_PRS_PER_REPO: u32 = 200;
/// The tap's `page_size`: small, so that every repository takes many pages.
const PAGE_SIZE: u32 = 10;

fn prs_per_repo() -> u32 {
    std::env::var("TAP_IT_LARGE_PRS_PER_REPO")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_PRS_PER_REPO)
}

/// The key fields of a RECORD line of `pullrequests`, cut out of its text.
#[derive(Debug, PartialEq)]
struct Cut<'a> {
    workspace_slug: &'a str,
    repository_slug: &'a str,
    repository_uuid: &'a str,
    id: i64,
    updated_on: &'a str,
}

/// The text of a string field (`"key":"value"`), the first one after `from`.
fn string_field<'a>(line: &'a str, from: usize, key: &str) -> Option<(&'a str, usize)> {
    let needle = format!("\"{key}\":\"");
    let start = from + line[from..].find(&needle)? + needle.len();
    let len = line[start..].find('"')?;
    Some((&line[start..start + len], start + len))
}

const RECORD_PREFIX: &str = r#"{"type":"RECORD","stream":"pullrequests","record":{"#;

/// Cuts the key fields out of a pull request RECORD line: the parent keys and `id` lead the
/// record (field order of `PullRequestRecord`), and `updated_on` appears once, at the top
/// level (no nested object of a pull request has one).
fn cut(line: &str) -> Option<Cut<'_>> {
    let body = RECORD_PREFIX.len();
    if !line.starts_with(RECORD_PREFIX) {
        return None;
    }
    let (workspace_slug, at) = string_field(line, body, "workspace_slug")?;
    let (repository_slug, at) = string_field(line, at, "repository_slug")?;
    let (repository_uuid, at) = string_field(line, at, "repository_uuid")?;
    let id_at = at + line[at..].find("\"id\":")? + 5;
    let id_len = line[id_at..].find(|c: char| !c.is_ascii_digit())?;
    let id = line[id_at..id_at + id_len].parse().ok()?;
    let (updated_on, _) = string_field(line, id_at, "updated_on")?;
    Some(Cut {
        workspace_slug,
        repository_slug,
        repository_uuid,
        id,
        updated_on,
    })
}

/// What the run emitted for one repository.
#[derive(Default)]
struct Emitted {
    uuid: String,
    /// How many times each id was emitted (index = id).
    seen: Vec<u8>,
    newest: String,
}

#[test]
fn many_pages_of_many_repositories_arrive_exactly_once_with_monotonic_bookmarks() {
    let prs_per_repo = prs_per_repo();
    // Anchor the dataset 31 days back and move the clock 30 days on: the dataset is final
    // (every pull request exists, ids 1..=n in each repository) and lies in the past.
    let mut config = SimConfig::scaled(WORKSPACES, REPOS_PER_WORKSPACE, prs_per_repo)
        .with_anchor(Utc::now() - Duration::days(31));
    config.clock_offset_hours = 720;
    let sim = Simulator::start(config).expect("start simulator");
    let scratch = Scratch::new();
    let config = scratch.json(
        "config.json",
        &json!({
            "api_url": sim.api_url(), "access_token": TOKEN, "requests_per_hour": 0,
            "page_size": PAGE_SIZE,
        }),
    );
    let catalog = crate::harness::catalog_file(&scratch, &["pullrequests"]);

    let mut child = Command::new(assert_cmd::cargo::cargo_bin("tap-bitbucket"))
        .args(["--config", config.to_str().unwrap()])
        .args(["--catalog", catalog.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .env_remove("TAP_BITBUCKET_LOGLEVEL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the tap");
    let stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());

    // One repository is also checked field by field against the simulator's ground truth.
    let (checked_ws, checked_repo) = ("ws-002", "repo-0007");
    let mut checked: BTreeMap<i64, String> = BTreeMap::new();
    let mut repos: HashMap<(String, String), Emitted> = HashMap::new();
    let mut bookmarks: BTreeMap<String, String> = BTreeMap::new();
    let (mut records, mut states, mut duplicates) = (0u64, 0u64, 0u64);
    let mut reader = BufReader::with_capacity(1 << 20, child.stdout.take().unwrap());
    let mut line = String::new();
    let mut lines = 0u64;
    loop {
        line.clear();
        if reader.read_line(&mut line).expect("read stdout") == 0 {
            break;
        }
        lines += 1;
        let text = line.trim_end();
        if let Some(c) = cut(text) {
            if lines.is_multiple_of(500) {
                let full: Value = serde_json::from_str(text).unwrap();
                let r = &full["record"];
                assert_eq!(
                    c,
                    Cut {
                        workspace_slug: r["workspace_slug"].as_str().unwrap(),
                        repository_slug: r["repository_slug"].as_str().unwrap(),
                        repository_uuid: r["repository_uuid"].as_str().unwrap(),
                        id: r["id"].as_i64().unwrap(),
                        updated_on: r["updated_on"].as_str().unwrap(),
                    },
                    "cutting the key fields out of the text disagrees with parsing it"
                );
            }
            records += 1;
            let repo = repos
                .entry((c.workspace_slug.to_string(), c.repository_slug.to_string()))
                .or_insert_with(|| Emitted {
                    uuid: c.repository_uuid.to_string(),
                    seen: vec![0; prs_per_repo as usize + 1],
                    newest: String::new(),
                });
            assert_eq!(repo.uuid, c.repository_uuid, "one repository, one uuid");
            let slot = repo
                .seen
                .get_mut(c.id as usize)
                .unwrap_or_else(|| panic!("pull request id {} out of range", c.id));
            if *slot > 0 {
                duplicates += 1;
            }
            *slot = slot.saturating_add(1);
            if (c.workspace_slug, c.repository_slug) == (checked_ws, checked_repo) {
                checked.insert(c.id, c.updated_on.to_string());
            }
            if ts(c.updated_on) > ts_or_min(&repo.newest) {
                repo.newest = c.updated_on.to_string();
            }
            continue;
        }
        let message: Value = serde_json::from_str(text).expect("stdout lines are JSON");
        match message["type"].as_str() {
            Some("STATE") => {
                states += 1;
                let partitions = message["value"]["bookmarks"]["pullrequests"]["partitions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                for p in partitions {
                    let key = p["context"].to_string();
                    let value = p["replication_key_value"].as_str().unwrap().to_string();
                    if let Some(before) = bookmarks.get(&key) {
                        assert!(
                            ts(&value) >= ts(before),
                            "the bookmark of {key} went back from {before} to {value}"
                        );
                    }
                    bookmarks.insert(key, value);
                }
            }
            Some("SCHEMA") => assert_eq!(message["stream"], "pullrequests"),
            other => panic!("unexpected message type {other:?}: {text:.300}"),
        }
    }
    let status = child.wait().expect("wait for the tap");
    let stderr = stderr.join().unwrap();
    assert!(status.success(), "tap failed: {status}\n{stderr}");

    // Every repository, every id exactly once.
    let expected_repos = WORKSPACES * REPOS_PER_WORKSPACE;
    assert_eq!(repos.len(), expected_repos, "repositories with records");
    assert_eq!(duplicates, 0, "records emitted twice");
    for ws in sim.workspace_slugs() {
        for slug in sim.repository_slugs(&ws) {
            let repo = repos
                .get(&(ws.clone(), slug.clone()))
                .unwrap_or_else(|| panic!("no records from {ws}/{slug}"));
            let missing: Vec<usize> = (1..repo.seen.len()).filter(|&id| repo.seen[id] == 0).collect();
            assert!(
                missing.is_empty(),
                "{ws}/{slug}: {} pull requests missing, e.g. {:?}",
                missing.len(),
                &missing[..missing.len().min(10)]
            );
            // The last STATE holds the newest timestamp emitted for the repository.
            let context = json!({"workspace": ws, "repository": slug}).to_string();
            let mark = bookmarks
                .get(&context)
                .unwrap_or_else(|| panic!("no bookmark for {context}"));
            assert_eq!(ts(mark), ts(&repo.newest), "final bookmark of {context}");
        }
    }
    assert_eq!(records, u64::from(prs_per_repo) * expected_repos as u64);
    // Many pages per repository, each followed by a STATE.
    let pages = expected_repos as u64 * u64::from(prs_per_repo.div_ceil(PAGE_SIZE));
    assert!(
        states >= pages,
        "a STATE per page at least: {states} for {pages} pages"
    );

    // The simulator agrees for one repository: the same ids with the same `updated_on`.
    let truth: BTreeMap<i64, String> = sim
        .pullrequests(checked_ws, checked_repo)
        .iter()
        .map(|pr| {
            (
                pr["id"].as_i64().unwrap(),
                pr["updated_on"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(truth.len(), prs_per_repo as usize);
    assert!(
        checked == truth,
        "{checked_ws}/{checked_repo} differs from the simulator"
    );
}

/// A timestamp, or the earliest one for "none yet".
fn ts_or_min(text: &str) -> chrono::DateTime<Utc> {
    if text.is_empty() {
        chrono::DateTime::<Utc>::MIN_UTC
    } else {
        ts(text)
    }
}
