//! No input can crash the tap (spec §1, "never a panic or backtrace, whatever the input").
//!
//! Property tests feed generated documents to the code that reads user files and server
//! answers: config files (`Settings::load`), catalogs (`Selection::from_catalog_file`), state
//! files (`State::load`) and API page bodies (`bitbucket::decode` for each stream's record
//! type). Inputs are valid seeds mutated at a random JSON path (a wrong type, a removed or an
//! added key), whole random documents, and raw texts JSON values cannot express: `1e400`,
//! `NaN`, integers past 64 bits, lone surrogates, deep nesting, long strings, truncation and
//! bytes that are not UTF-8. Each must be accepted or give the module's own error with a
//! message; a panic fails the test (proptest catches it and shrinks the input). Accepted
//! inputs are then used as a sync would use them (windows, filters, bookmarks, serializing
//! decoded records), so a value that parses but breaks later is caught too.
//!
//! A few cases go through the binary: a file that is not UTF-8, a 1 MB string, 10 000 levels
//! of nesting and a value with a line break each end with exit 2 and exactly one short
//! `tap-bitbucket: error:` line, never "panicked".
//!
//! The case counts are modest so the whole module stays well under 30 s in a debug build.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Utc;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use tap_bitbucket::bitbucket::{decode, ApiError, Page};
use tap_bitbucket::config::Settings;
use tap_bitbucket::filter::RepositoryFilter;
use tap_bitbucket::singer::{discover, Context, Selection, State};
use tap_bitbucket::streams::{
    self, PullRequestRecord, RepositoryRecord, Timestamp, WorkspaceMemberRecord, WorkspaceRecord,
};
use tap_bitbucket::window::WindowRules;

use crate::harness::{simulator, tap, Run, Scratch};

/// Cases per property: enough to reach every key of the seeds several times over, few
/// enough for a debug build (the module runs in a few seconds).
const CASES: u32 = 512;

/// Accepted and rejected inputs of one property: both must occur, or the generator is not
/// reaching one side of the code.
#[derive(Default)]
struct Tally {
    accepted: AtomicUsize,
    rejected: AtomicUsize,
}

impl Tally {
    fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    fn rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    fn assert_both(&self, what: &str) {
        let (ok, err) = (
            self.accepted.load(Ordering::Relaxed),
            self.rejected.load(Ordering::Relaxed),
        );
        assert!(
            ok > 0 && err > 0,
            "{what}: {ok} accepted, {err} rejected; the generator misses a side"
        );
    }
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: CASES,
        // No regression files in the source tree; a failure prints its shrunk input.
        failure_persistence: None,
        ..Config::default()
    })
}

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

/// Keys the tap's readers look for, so random objects often hit a real field.
const KEYS: &[&str] = &[
    // config
    "api_url",
    "access_token",
    "email",
    "api_token",
    "username",
    "app_password",
    "client_id",
    "client_secret",
    "refresh_token",
    "workspace",
    "workspaces",
    "repositories",
    "exclude_repositories",
    "start_date",
    "days_back",
    "end_date",
    "pullrequest_states",
    "page_size",
    "max_concurrency",
    "requests_per_hour",
    "shard_index",
    "shard_count",
    "log_format",
    // catalog
    "streams",
    "tap_stream_id",
    "stream",
    "schema",
    "metadata",
    "breadcrumb",
    "selected",
    "properties",
    "inclusion",
    // state
    "type",
    "value",
    "bookmarks",
    "partitions",
    "context",
    "replication_key",
    "replication_key_value",
    "pullrequests",
    // page envelope and records
    "values",
    "next",
    "page",
    "pagelen",
    "size",
    "id",
    "uuid",
    "updated_on",
    "created_on",
    "author",
    "reviewers",
    "participants",
    "links",
    "href",
];

/// Strings that mean something somewhere: dates, slugs, states, globs, URLs.
const WORDS: &[&str] = &[
    "",
    " ",
    "OPEN",
    "merged",
    "json",
    "text",
    "acme",
    "api-*",
    "a/b",
    "[",
    "{",
    "**/x",
    "{1234-abcd}",
    "2026-01-01",
    "2026-01-01T00:00:00Z",
    "2026-11-20T09:15:02.123456+00:00",
    "0000-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-23:59",
    "1970-01-01T00:00:00Z",
    "2026-02-30",
    "http://127.0.0.1:1/2.0",
    "ftp://x",
    "http://",
    "STATE",
    "RECORD",
    "pullrequests",
    "repositories",
    "workspaces",
    "workspace_members",
    "properties",
    "line\nbreak",
    "nul\u{0}byte",
    "emoji 🦀 and RTL \u{202e}",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(KEYS).prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-3i64..3000).prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        proptest::sample::select(WORDS).prop_map(Value::from),
        proptest::sample::select(KEYS).prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ]
}

/// Any JSON document of modest size, with the tap's keys over-represented.
fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Raw JSON texts a `Value` cannot hold, spliced in where a value goes.
fn raw_token() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(
            &[
                "1e400",
                "-1e400",
                "1e-400",
                "NaN",
                "-Infinity",
                "Infinity",
                "18446744073709551616",
                "-9223372036854775809",
                "123456789012345678901234567890",
                "-0",
                "0.0",
                "1.5",
                "\"\\ud800\"",
                "\"\\udc00\\ud800\"",
                "\"\\u0000\"",
                "\"bad escape \\q\"",
                "tru",
                "nul",
                "[1,]",
                "{\"a\":1,}",
                "{\"a\" 1}",
                "'single'",
                "\"unterminated",
            ][..]
        )
        .prop_map(str::to_string),
        // Nesting far past the parser's recursion limit, of both kinds.
        (100usize..5000, any::<bool>()).prop_map(|(depth, arrays)| {
            let (open, close) = if arrays { ("[", "]") } else { ("{\"a\":", "}") };
            format!("{}1{}", open.repeat(depth), close.repeat(depth))
        }),
        // A long string, sometimes full of escapes.
        (1usize..300_000, any::<bool>()).prop_map(|(len, escaped)| {
            if escaped {
                format!("\"{}\"", "\\n\\u00e9\\\"".repeat(len / 10 + 1))
            } else {
                format!("\"{}\"", "x".repeat(len))
            }
        }),
    ]
}

/// What to do to a seed document at a path.
#[derive(Debug, Clone)]
enum Edit {
    /// Put this value there.
    Replace(Value),
    /// Remove it from its parent.
    Remove,
    /// Add this key with this value to the object there (or push to the array).
    Insert(String, Value),
    /// Put this raw text there (spliced into the serialized document).
    Raw(String),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => json_value().prop_map(Edit::Replace),
        1 => Just(Edit::Remove),
        1 => (key(), json_value()).prop_map(|(k, v)| Edit::Insert(k, v)),
        2 => raw_token().prop_map(Edit::Raw),
    ]
}

/// What to do to the document's bytes at the end.
#[derive(Debug, Clone)]
enum Bytes {
    /// Nothing.
    Keep,
    /// Cut at a position (a fraction of the length).
    Truncate(f64),
    /// Put a byte sequence that is not UTF-8 at a position.
    NotUtf8(f64, Vec<u8>),
    /// Put a byte-order mark in front.
    Bom,
}

fn bytes_edit() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        8 => Just(Bytes::Keep),
        1 => (0.0..1.0f64).prop_map(Bytes::Truncate),
        1 => (
            0.0..1.0f64,
            proptest::sample::select(NOT_UTF8)
        )
            .prop_map(|(at, b)| Bytes::NotUtf8(at, b.to_vec())),
        1 => Just(Bytes::Bom),
    ]
}

/// Byte sequences that are never valid UTF-8: a lone 0xFF, a cut two-byte sequence, an
/// encoded surrogate, a five-byte form, an overlong NUL.
const NOT_UTF8: &[&[u8]] = &[
    &[0xff],
    &[0xc3],
    &[0xed, 0xa0, 0x80],
    &[0xf8, 0x88, 0x80, 0x80, 0x80],
    &[0xc0, 0x80],
];

const HOLE: &str = "\u{1}fuzz-hole\u{1}";

/// Applies `edit` at the node `path` picks (each step an index, taken modulo the children).
fn apply(doc: &mut Value, path: &[usize], edit: &Edit) {
    fn child(node: &mut Value, i: usize) -> Option<&mut Value> {
        match node {
            Value::Array(a) if !a.is_empty() => {
                let n = a.len();
                a.get_mut(i % n)
            }
            Value::Object(o) if !o.is_empty() => {
                let n = o.len();
                o.values_mut().nth(i % n)
            }
            _ => None,
        }
    }
    // Walk to the parent of the target, so `Remove` can take it out.
    let mut node = doc;
    let (last, steps) = match path.split_last() {
        Some((last, steps)) => (*last, steps),
        None => {
            if let Edit::Replace(v) = edit {
                *node = v.clone();
            } else if let Edit::Raw(_) = edit {
                *node = Value::from(HOLE);
            }
            return;
        }
    };
    for &i in steps {
        if child(node, i).is_none() {
            break;
        }
        node = child(node, i).expect("checked");
    }
    match edit {
        Edit::Insert(k, v) => match node {
            Value::Object(o) => {
                o.insert(k.clone(), v.clone());
            }
            Value::Array(a) => a.push(v.clone()),
            other => *other = v.clone(),
        },
        Edit::Remove => match node {
            Value::Object(o) if !o.is_empty() => {
                let k = o.keys().nth(last % o.len()).cloned().expect("non-empty");
                o.remove(&k);
            }
            Value::Array(a) if !a.is_empty() => {
                let n = a.len();
                a.remove(last % n);
            }
            _ => {}
        },
        Edit::Replace(v) => match child(node, last) {
            Some(target) => *target = v.clone(),
            None => *node = v.clone(),
        },
        Edit::Raw(_) => match child(node, last) {
            Some(target) => *target = Value::from(HOLE),
            None => *node = Value::from(HOLE),
        },
    }
}

/// A document's final bytes: the edited seed serialized, the raw token spliced in, the byte
/// edit applied.
fn render(doc: &Value, edit: &Edit, bytes: &Bytes) -> Vec<u8> {
    let mut text = doc.to_string();
    if let Edit::Raw(raw) = edit {
        let hole = Value::from(HOLE).to_string();
        text = text.replacen(&hole, raw, 1);
    }
    let mut out = text.into_bytes();
    let at = |f: f64, len: usize| ((len as f64 * f) as usize).min(len);
    match bytes {
        Bytes::Keep => {}
        Bytes::Truncate(f) => out.truncate(at(*f, out.len())),
        Bytes::NotUtf8(f, b) => {
            let i = at(*f, out.len());
            out.splice(i..i, b.iter().copied());
        }
        Bytes::Bom => {
            out.splice(0..0, [0xef, 0xbb, 0xbf]);
        }
    }
    out
}

/// A seed, mutated: a random path, an edit there, and a byte edit; or a whole random
/// document instead of the seed.
fn mutated(seeds: Vec<Value>) -> impl Strategy<Value = Vec<u8>> {
    let edited = (
        proptest::sample::select(seeds),
        proptest::collection::vec(any::<usize>(), 0..8),
        proptest::collection::vec(edit(), 1..3),
        bytes_edit(),
    )
        .prop_map(|(mut doc, path, edits, bytes)| {
            // Every edit but the last is a JSON one; the last may splice raw text.
            let (last, first) = edits.split_last().expect("at least one edit");
            for (n, e) in first.iter().enumerate() {
                if !matches!(e, Edit::Raw(_)) {
                    apply(&mut doc, &path[..path.len().saturating_sub(n)], e);
                }
            }
            apply(&mut doc, &path, last);
            render(&doc, last, &bytes)
        });
    prop_oneof![
        6 => edited,
        1 => (json_value(), bytes_edit()).prop_map(|(doc, bytes)| render(&doc, &Edit::Remove, &bytes)),
    ]
}

/// Checks one outcome: an error must say something; an accepted input goes on to `then`.
fn judge<T, E: std::fmt::Display>(
    tally: &Tally,
    result: Result<T, E>,
    then: impl FnOnce(T) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    match result {
        Ok(value) => {
            tally.accepted();
            then(value)
        }
        Err(e) => {
            tally.rejected();
            prop_assert!(!e.to_string().trim().is_empty(), "an empty error message");
            Ok(())
        }
    }
}

/// Fails the case with a readable message.
fn fail(what: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(what.to_string())
}

fn write(scratch: &Scratch, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    crate::harness::write_fresh(&scratch.dir.path().join(name), bytes)
}

// ---------------------------------------------------------------------------------------
// Config, catalog, state
// ---------------------------------------------------------------------------------------

fn config_seeds() -> Vec<Value> {
    vec![
        json!({"access_token": "t"}),
        json!({
            "api_url": "http://127.0.0.1:7990/2.0",
            "email": "me@example.com",
            "api_token": "secret",
            "workspaces": ["acme", "globex"],
            "repositories": ["api-*", "acme/web-app"],
            "exclude_repositories": ["*-archive"],
            "start_date": "2026-01-01",
            "days_back": 7,
            "end_date": "2026-12-31T00:00:00Z",
            "pullrequest_states": ["OPEN", "MERGED"],
            "page_size": 50,
            "max_concurrency": 8,
            "requests_per_hour": 0,
            "max_retries": 2,
            "request_timeout_secs": 30,
            "backoff_max_secs": 10,
            "shard_index": 1,
            "shard_count": 4,
            "activate_version": true,
            "user_agent": "ua",
            "log_format": "json",
            "src_max_depth": 0,
            "commits_lookback_days": 3
        }),
        json!({"client_id": "id", "client_secret": "s", "refresh_token": "r", "workspace": "acme"}),
        json!({"username": "u", "app_password": "p", "accounts": ["{abc}"], "group_slugs": ["devs"]}),
    ]
}

fn state_seeds() -> Vec<Value> {
    let partitions = json!([
        {"context": {"workspace": "acme", "repository": "api"}, "replication_key": "updated_on",
         "replication_key_value": "2026-11-20T09:15:02.123456+00:00"},
        {"context": {"workspace": "acme", "repository": "web"}, "replication_key": "updated_on",
         "replication_key_value": "2026-01-01T00:00:00Z"}
    ]);
    vec![
        json!({"bookmarks": {"pullrequests": {"partitions": partitions.clone()},
               "repositories": {"partitions": [{"context": {"workspace": "acme"},
                   "replication_key": "updated_on", "replication_key_value": "2026-05-01T00:00:00+02:00"}]}}}),
        json!({"type": "STATE", "value": {"bookmarks": {"pullrequests": {
               "replication_key": "updated_on", "replication_key_value": "2026-01-01T00:00:00Z",
               "partitions": partitions}}, "other": [1, 2]}}),
        json!({}),
    ]
}

fn catalog_seeds() -> Vec<Value> {
    let mut catalog = discover(&streams::descriptions());
    let all = catalog.clone();
    for (i, stream) in catalog["streams"]
        .as_array_mut()
        .expect("streams")
        .iter_mut()
        .enumerate()
    {
        stream["metadata"][0]["metadata"]["selected"] = json!(i % 2 == 0);
        if let Some(field) = stream["metadata"].get_mut(1) {
            field["metadata"]["selected"] = json!(false);
        }
    }
    let legacy = json!({"streams": [{"stream": "pullrequests", "tap_stream_id": "pullrequests",
        "schema": {"selected": true, "properties": {"title": {"selected": false}}}}]});
    vec![catalog, all, legacy]
}

/// Uses accepted settings the way a sync would, before any request.
fn use_settings(settings: &Settings) -> Result<(), TestCaseError> {
    let _ = settings.require_credentials();
    let rules = WindowRules {
        start_date: settings.start_date,
        days_back: settings.days_back,
        end_date: settings.end_date,
    };
    let now = Utc::now();
    for bookmark in [None, settings.start_date, settings.end_date, Some(now)] {
        let window = rules.window(bookmark, now);
        for seen in [window.lower, window.end, Some(now)].into_iter().flatten() {
            let _ = window.bookmark_value(seen);
        }
        let _ = window.lower.map(tap_bitbucket::window::bbql_datetime);
    }
    if let Ok(filter) = RepositoryFilter::new(settings) {
        for (ws, slug) in [("acme", "api"), ("acme", "api-v2"), ("", ""), ("ws", "a/b")] {
            let _ = filter.matches(ws, slug);
        }
    }
    Ok(())
}

#[test]
fn any_config_file_is_accepted_or_a_config_error() {
    let scratch = Scratch::new();
    let tally = Tally::default();
    runner()
        .run(&mutated(config_seeds()), |bytes| {
            let path = write(&scratch, "config.json", &bytes);
            judge(&tally, Settings::load(&[&path]), |(settings, _unknown)| {
                use_settings(&settings)
            })
        })
        .unwrap();
    tally.assert_both("config files");
}

#[test]
fn any_config_from_env_is_accepted_or_a_config_error() {
    // `--config ENV`: every value arrives as a string and is read as JSON when it parses.
    let strategy = proptest::collection::vec(
        (
            proptest::sample::select(tap_bitbucket::config::known_keys()),
            prop_oneof![
                json_value().prop_map(|v| v.to_string()),
                raw_token(),
                any::<String>(),
            ],
        ),
        0..6,
    );
    let tally = Tally::default();
    runner()
        .run(&strategy, |vars| {
            let mut sources = tap_bitbucket::config::ConfigSources::default();
            sources.merge_env(vars.into_iter().map(|(k, v)| {
                (
                    format!("{}{}", tap_bitbucket::config::ENV_PREFIX, k.to_uppercase()),
                    v,
                )
            }));
            judge(&tally, Settings::from_sources(sources), |(settings, _)| {
                use_settings(&settings)
            })
        })
        .unwrap();
    tally.assert_both("config variables");
}

#[test]
fn any_state_file_is_accepted_or_a_state_error() {
    let scratch = Scratch::new();
    let names = streams::names();
    let contexts = [
        Context::new(),
        Context::new().with("workspace", "acme"),
        Context::new().with("workspace", "acme").with("repository", "api"),
    ];
    let tally = Tally::default();
    runner()
        .run(&mutated(state_seeds()), |bytes| {
            let path = write(&scratch, "state.json", &bytes);
            judge(&tally, State::load(&path, &names), |mut state| {
                // What a sync does with it: read each bookmark as a window's lower bound,
                // move bookmarks, and print the whole state.
                for stream in &names {
                    for context in &contexts {
                        if let Some(mark) = state.bookmark(stream, context) {
                            let _ = tap_bitbucket::config::parse_date_or_datetime(mark)
                                .map(|at| WindowRules::default().window(Some(at), Utc::now()));
                        }
                        let _ = state.stream_bookmark(stream);
                        state.set_bookmark(
                            stream,
                            context,
                            "updated_on",
                            "2026-01-01T00:00:00+00:00",
                            Default::default(),
                        );
                    }
                }
                let _ = state.to_value().to_string();
                Ok(())
            })
        })
        .unwrap();
    tally.assert_both("state files");
}

#[test]
fn any_catalog_file_is_accepted_or_a_catalog_error() {
    let scratch = Scratch::new();
    let descriptions = streams::descriptions();
    let tally = Tally::default();
    runner()
        .run(&mutated(catalog_seeds()), |bytes| {
            let path = write(&scratch, "catalog.json", &bytes);
            judge(
                &tally,
                Selection::from_catalog_file(&path, &descriptions),
                |selection| {
                    for selected in &selection.streams {
                        // The schema as discovery made it (generated once, not per case).
                        let full = descriptions
                            .iter()
                            .find(|d| d.name == selected.name)
                            .ok_or_else(|| fail("unknown stream selected"))?;
                        let schema = selected.schema(&full.schema);
                        prop_assert!(schema.is_object());
                    }
                    Ok(())
                },
            )
        })
        .unwrap();
    tally.assert_both("catalog files");
}

// ---------------------------------------------------------------------------------------
// API page bodies
// ---------------------------------------------------------------------------------------

/// Real pages, as the simulator serves them: pull requests (with reviewers and
/// participants), repositories, workspace members and a workspace.
fn page_seeds() -> Vec<Value> {
    let sim = simulator();
    let page = |values: Vec<Value>, next: bool| {
        let mut page = json!({"pagelen": 50, "size": 500, "page": 2, "values": values});
        if next {
            page["next"] = json!(format!("{}/x?page=3", sim.api_url()));
        }
        page
    };
    let prs = sim.pullrequests("acme", "api");
    let repos = sim.repositories("acme");
    let members = sim.members("acme");
    vec![
        page(prs.iter().take(3).cloned().collect(), true),
        page(prs.iter().rev().take(2).cloned().collect(), false),
        page(repos.iter().take(3).cloned().collect(), true),
        page(members.iter().take(3).cloned().collect(), false),
        sim.workspace("acme"),
        json!({"values": []}),
    ]
}

/// Decodes a body as `T`: Ok, or the decoder's own errors (a wrong type naming its path, or
/// a malformed body), never a panic.
fn check_decode<'b, T: serde::Deserialize<'b>>(body: &'b [u8]) -> Result<Option<T>, TestCaseError> {
    match decode::<T>("/2.0/fuzz", body) {
        Ok(value) => Ok(Some(value)),
        Err(ApiError::Data { reason, .. }) | Err(ApiError::Malformed { reason, .. }) => {
            prop_assert!(!reason.is_empty());
            Ok(None)
        }
        Err(other) => Err(fail(format!("unexpected error kind: {other}"))),
    }
}

/// Decodes a page of `T` and, when it decodes, serializes its records as the emitter would.
fn check_page<'b, T>(body: &'b [u8]) -> Result<Option<Page<T>>, TestCaseError>
where
    T: serde::Deserialize<'b> + serde::Serialize,
{
    let page = check_decode::<Page<T>>(body)?;
    if let Some(page) = &page {
        for record in &page.values {
            serde_json::to_vec(record).map_err(|e| fail(format!("decoded but does not serialize: {e}")))?;
        }
    }
    Ok(page)
}

fn timestamps_parse(t: Option<&Timestamp<'_>>) {
    let _ = t.and_then(Timestamp::parse);
}

#[test]
fn any_page_body_decodes_or_is_a_data_or_malformed_error() {
    let tally = Tally::default();
    runner()
        .run(&mutated(page_seeds()), |body| {
            let prs = check_page::<PullRequestRecord>(&body)?;
            if prs.is_some() {
                tally.accepted();
            } else {
                tally.rejected();
            }
            if let Some(page) = prs {
                for pr in &page.values {
                    timestamps_parse(pr.updated_on.as_ref());
                    timestamps_parse(pr.created_on.as_ref());
                }
            }
            if let Some(page) = check_page::<RepositoryRecord>(&body)? {
                for repo in &page.values {
                    timestamps_parse(repo.repository.updated_on.as_ref());
                }
            }
            check_page::<WorkspaceMemberRecord>(&body)?;
            if let Some(ws) = check_decode::<WorkspaceRecord>(&body)? {
                serde_json::to_vec(&ws).map_err(|e| fail(format!("decoded but does not serialize: {e}")))?;
            }
            check_decode::<Value>(&body)?;
            Ok(())
        })
        .unwrap();
    tally.assert_both("pull request pages");
}

#[test]
fn a_wrong_type_in_a_known_field_names_its_path() {
    // Not random: the contract the property above relies on, spelled out once.
    let sim = simulator();
    let mut prs = sim.pullrequests("acme", "api");
    prs.truncate(3);
    prs[2]["author"]["uuid"] = json!(42);
    let body = json!({"values": prs}).to_string();
    match decode::<Page<PullRequestRecord>>("/2.0/x", body.as_bytes()) {
        Err(ApiError::Data { path, .. }) => assert_eq!(path, "values[2].author.uuid"),
        other => panic!("expected a Data error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Through the binary
// ---------------------------------------------------------------------------------------

/// Exit 2, exactly one `tap-bitbucket: error:` line (the last), short, naming `needle`, and
/// no panic anywhere.
fn assert_one_line_failure(run: &Run, needle: &str) {
    assert_eq!(
        run.code, 2,
        "exit code; stderr (first 2000 bytes):\n{:.2000}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
        "{:.2000}",
        run.stderr
    );
    let error_lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("tap-bitbucket: error:"))
        .collect();
    assert_eq!(error_lines.len(), 1, "error lines in:\n{:.4000}", run.stderr);
    let line = run.last_error_line();
    assert!(
        line.starts_with("tap-bitbucket: error:"),
        "last line: {line:.500}"
    );
    assert!(line.contains(needle), "`{needle}` not in: {line:.500}");
    assert!(line.len() <= 2048, "the error line is {} bytes long", line.len());
    assert!(
        run.stderr.len() <= 16 * 1024,
        "stderr is {} bytes long",
        run.stderr.len()
    );
}

/// Runs the tap with one bad file in the role `role` (`config`, `catalog` or `state`).
fn run_with_bad(scratch: &Scratch, role: &str, bytes: &[u8]) -> Run {
    let config = scratch.json(
        "good-config.json",
        &json!({"access_token": "t", "api_url": "http://127.0.0.1:9/2.0"}),
    );
    let bad = write(scratch, &format!("bad-{role}.json"), bytes);
    let bad: &Path = &bad;
    let (config, bad) = (config.to_str().unwrap(), bad.to_str().unwrap());
    match role {
        "config" => tap(&["--config", bad]),
        "catalog" => tap(&["--config", config, "--catalog", bad]),
        "state" => tap(&["--config", config, "--state", bad]),
        _ => unreachable!("a file role"),
    }
}

#[test]
fn files_that_are_not_utf8_fail_cleanly() {
    let scratch = Scratch::new();
    let mut bytes = br#"{"access_token": "t", "workspace": "ac"#.to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    bytes.extend_from_slice(br#"me"}"#);
    for role in ["config", "catalog", "state"] {
        let run = run_with_bad(&scratch, role, &bytes);
        assert_one_line_failure(&run, &format!("bad-{role}.json"));
    }
}

#[test]
fn megabyte_strings_fail_cleanly() {
    let scratch = Scratch::new();
    // A thousand times the longest error line: enough to show the middle is left out.
    let huge = "2".repeat(1 << 20);
    let config = json!({"access_token": "t", "start_date": huge}).to_string();
    let catalog = json!({"streams": [{"tap_stream_id": huge, "schema": {}}]}).to_string();
    let state = json!({"bookmarks": {"pullrequests": {"partitions": [
        {"context": {"workspace": "acme"}, "replication_key_value": huge}]}}})
    .to_string();
    for (role, text, needle) in [
        ("config", config, "start_date"),
        ("catalog", catalog, "bad-catalog.json"),
        ("state", state, "replication_key_value"),
    ] {
        let run = run_with_bad(&scratch, role, text.as_bytes());
        assert_one_line_failure(&run, needle);
    }
}

#[test]
fn ten_thousand_levels_of_nesting_fail_cleanly() {
    let scratch = Scratch::new();
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_objects = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    for (role, text) in [
        (
            "config",
            format!("{{\"access_token\": \"t\", \"workspaces\": {deep}}}"),
        ),
        (
            "catalog",
            format!("{{\"streams\": [{{\"tap_stream_id\": \"pullrequests\", \"schema\": {deep_objects}}}]}}"),
        ),
        (
            "state",
            format!("{{\"bookmarks\": {{\"pullrequests\": {deep_objects}}}}}"),
        ),
    ] {
        let run = run_with_bad(&scratch, role, text.as_bytes());
        assert_one_line_failure(&run, &format!("bad-{role}.json"));
    }
}

#[test]
fn values_with_line_breaks_stay_on_one_line() {
    let scratch = Scratch::new();
    let config = json!({"access_token": "t", "start_date": "first\nsecond\r\nthird"}).to_string();
    let run = run_with_bad(&scratch, "config", config.as_bytes());
    assert_one_line_failure(&run, "start_date");
    let state = json!({"bookmarks": {"bad\nstream": {}}}).to_string();
    let run = run_with_bad(&scratch, "state", state.as_bytes());
    assert_one_line_failure(&run, "bad-state.json");
}
