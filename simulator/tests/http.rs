//! End-to-end tests over real HTTP, with a minimal std-only client.

use std::io::{Read, Write};
use std::net::TcpStream;

use bitbucket_simulator::{SimConfig, Simulator};
use chrono::DateTime;
use serde_json::Value;

#[path = "http/metrics.rs"]
mod metrics;

/// The simulator's access token: a workspace access token, not a user.
const BEARER: &str = "Bearer demo-token";
/// The simulator's user: `demo@example.com` with an Atlassian API token, as Basic.
const BASIC: &str = "Basic ZGVtb0BleGFtcGxlLmNvbTpkZW1vLWFwaS10b2tlbg==";
const ALL_STATES: &str = "state=OPEN&state=MERGED&state=DECLINED&state=SUPERSEDED";

fn sim() -> Simulator {
    let anchor = DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
        .unwrap()
        .to_utc();
    Simulator::start(SimConfig::default().with_anchor(anchor)).unwrap()
}

/// Sends a raw request target (path + query) and returns (status, body).
fn raw(sim: &Simulator, method: &str, target: &str, auth: Option<&str>) -> (u16, Vec<u8>) {
    let addr = sim.local_addr();
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(a) = auth {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, buf[split + 4..].to_vec())
}

fn get(sim: &Simulator, target: &str) -> (u16, Value) {
    get_as(sim, target, BEARER)
}

/// [`get`] with another `Authorization` header.
fn get_as(sim: &Simulator, target: &str, auth: &str) -> (u16, Value) {
    let (status, body) = raw(sim, "GET", target, Some(auth));
    (status, serde_json::from_slice(&body).unwrap())
}

/// Follows `next` links from a `/2.0/...` target; returns every value and the request count.
fn collect(sim: &Simulator, target: &str) -> (Vec<Value>, usize) {
    collect_as(sim, target, BEARER)
}

/// [`collect`] with another `Authorization` header.
fn collect_as(sim: &Simulator, target: &str, auth: &str) -> (Vec<Value>, usize) {
    let prefix = format!("http://{}", sim.local_addr());
    let mut url = target.to_string();
    let mut values = Vec::new();
    let mut pages = 0;
    loop {
        let (status, page) = get_as(sim, &url, auth);
        assert_eq!(status, 200, "{url}: {page}");
        pages += 1;
        values.extend(page["values"].as_array().unwrap().iter().cloned());
        match page.get("next").and_then(Value::as_str) {
            Some(next) => url = next.strip_prefix(&prefix).unwrap().to_string(),
            None => break,
        }
    }
    (values, pages)
}

fn by_id(mut v: Vec<Value>) -> Vec<Value> {
    v.sort_by_key(|p| p["id"].as_u64());
    v
}

#[test]
fn authentication() {
    let sim = sim();
    let (status, body) = raw(&sim, "GET", "/2.0/user", None);
    assert_eq!(status, 401);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(raw(&sim, "GET", "/2.0/user", Some("Bearer nope")).0, 401);
    let (status, body) = raw(&sim, "GET", "/2.0/user", Some(BASIC));
    assert_eq!(status, 200);
    let user: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(user, sim.current_user());
    assert_eq!(user["display_name"], "Demo User");

    let reqs = sim.requests();
    assert_eq!(reqs.len(), 3);
    assert!(!reqs[0].has_authorization && reqs[2].has_authorization);
    assert_eq!(reqs[0].status, 401);
    assert_eq!(reqs[2].path_and_query, "/2.0/user");
}

#[test]
fn pullrequests_match_ground_truth_and_default_to_open() {
    let sim = sim();
    let truth = sim.pullrequests("acme", "api");
    assert!(truth.len() > 100);
    let fields = "fields=%2Bvalues.reviewers%2C%2Bvalues.participants";
    let (all, pages) = collect(
        &sim,
        &format!("/2.0/repositories/acme/api/pullrequests?{ALL_STATES}&pagelen=50&{fields}"),
    );
    assert_eq!(pages, truth.len().div_ceil(50));
    assert_eq!(by_id(all), truth);

    // Without `state`: only OPEN, newest first, and no reviewers/participants.
    let (open, _) = collect(&sim, "/2.0/repositories/acme/api/pullrequests?pagelen=50");
    let open_truth: Vec<&Value> = truth.iter().filter(|p| p["state"] == "OPEN").collect();
    assert_eq!(open.len(), open_truth.len());
    assert!(open
        .iter()
        .all(|p| p["state"] == "OPEN" && p.get("reviewers").is_none() && p.get("participants").is_none()));
    let ids: Vec<u64> = open.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]));

    // `+values.reviewers` alone adds only reviewers.
    let (_, page) = get(
        &sim,
        "/2.0/repositories/acme/api/pullrequests?fields=%2Bvalues.reviewers",
    );
    let first = &page["values"][0];
    assert!(first.get("reviewers").is_some() && first.get("participants").is_none());
}

#[test]
fn keyset_query_with_encoded_plus() {
    let sim = sim();
    let truth = sim.pullrequests("acme", "web-app");
    let lower = "2026-03-01T00:00:00+00:00";
    let q = "updated_on%3E%3D2026-03-01T00%3A00%3A00%2B00%3A00";
    let (got, _) = collect(
        &sim,
        &format!("/2.0/repositories/acme/web-app/pullrequests?{ALL_STATES}&q={q}&sort=updated_on&pagelen=10"),
    );
    let expected = truth
        .iter()
        .filter(|p| p["updated_on"].as_str().unwrap() >= lower)
        .count();
    assert_eq!(got.len(), expected);
    let keys: Vec<(String, u64)> = got
        .iter()
        .map(|p| {
            (
                p["updated_on"].as_str().unwrap().to_string(),
                p["id"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "sorted by (updated_on, id)");

    // A raw '+' decodes to a space: the query is invalid.
    let (status, body) = get(
        &sim,
        "/2.0/repositories/acme/web-app/pullrequests?q=updated_on%3E%3D2026-03-01T00:00:00+00:00",
    );
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Invalid query"));
}

#[test]
fn errors_and_limits() {
    let sim = sim();
    let cases = [
        (
            "/2.0/repositories/acme/api/pullrequests?pagelen=51",
            400,
            "Invalid pagelen",
        ),
        ("/2.0/repositories/acme?pagelen=101", 400, "Invalid pagelen"),
        ("/2.0/repositories/acme?pagelen=0", 400, "Invalid pagelen"),
        (
            "/2.0/repositories/acme?sort=stars",
            400,
            "Invalid sort field 'stars'",
        ),
        ("/2.0/workspaces/foo", 404, "No workspace with identifier 'foo'."),
        (
            "/2.0/repositories/foo",
            404,
            "No workspace with identifier 'foo'.",
        ),
        (
            "/2.0/repositories/acme/nope",
            404,
            "Repository acme/nope not found",
        ),
        (
            "/2.0/repositories/acme/mobile-app",
            404,
            "Repository acme/mobile-app not found",
        ),
        ("/2.0/repositories/acme/api/issues", 404, "Resource not found"),
    ];
    for (target, status, message) in cases {
        let (s, body) = get(&sim, target);
        assert_eq!(
            (s, body["error"]["message"].as_str()),
            (status, Some(message)),
            "{target}"
        );
    }
    assert_eq!(get(&sim, "/2.0/repositories/acme?pagelen=100").0, 200);
    // Past the end: empty, no next.
    let (s, body) = get(&sim, "/2.0/repositories/acme?page=7");
    assert_eq!(s, 200);
    assert_eq!(body["values"].as_array().unwrap().len(), 0);
    assert!(body.get("next").is_none());
    // Odd inputs never break the server.
    for target in [
        "/2.0/repositories/%ff%fe/x",
        "/2.0/repositories/acme?q=%ff%00&page=99999999999999999999",
        "/2.0/repositories/acme/api/pullrequests?page=18446744073709551615&pagelen=50",
        "/2.0/repositories/acme?q=updated_on%3E%3D%22x",
        "/2.0/%7B%7D",
    ] {
        let (s, _) = raw(&sim, "GET", target, Some(BEARER));
        assert!((200..500).contains(&s), "{target}: {s}");
    }
    assert_eq!(get(&sim, "/2.0/workspaces/acme").0, 200);
}

#[test]
fn clock_reveals_new_and_updated_objects() {
    let sim = sim();
    assert_eq!(
        sim.repository_slugs("acme"),
        ["api", "data-pipeline", "infra", "sandbox", "web-app"]
    );
    let before = sim.pullrequests("acme", "api");
    let (repos, _) = collect(&sim, "/2.0/repositories/acme?pagelen=100");
    assert_eq!(repos, sim.repositories("acme"));

    // Move the clock with the admin endpoint, as a script would.
    let (status, body) = raw(&sim, "POST", "/_simulator/clock?offset_hours=720", None);
    assert_eq!(status, 200);
    let clock: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(clock["offset_hours"], 720);
    assert_eq!(clock["now"], "2026-07-01T12:00:00.000000+00:00");
    assert_eq!(sim.clock_offset_hours(), 720);

    assert!(sim.repository_slugs("acme").contains(&"mobile-app".to_string()));
    let after = sim.pullrequests("acme", "api");
    assert!(after.len() > before.len());
    let changed = before
        .iter()
        .zip(&after)
        .filter(|(a, b)| a["updated_on"] != b["updated_on"])
        .count();
    assert!(changed > 0);
    assert!(before
        .iter()
        .zip(&after)
        .any(|(a, b)| a["state"] == "OPEN" && b["state"] == "MERGED"));
    assert!(before.iter().zip(&after).any(|(a, b)| a["title"] != b["title"]));

    sim.set_clock_offset_hours(0);
    assert_eq!(sim.pullrequests("acme", "api"), before);
}

#[test]
fn members_workspaces_and_links() {
    let sim = sim();
    let (members, _) = collect(&sim, "/2.0/workspaces/acme/members?pagelen=3");
    assert_eq!(members, sim.members("acme"));
    assert!((5..=12).contains(&members.len()));
    let (ws, _) = collect(&sim, "/2.0/user/workspaces");
    let slugs: Vec<&str> = ws
        .iter()
        .map(|w| w["workspace"]["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, sim.workspace_slugs());
    let (s, w) = get(&sim, "/2.0/workspaces/globex");
    assert_eq!((s, w["type"].as_str()), (200, Some("workspace")));

    // next keeps the other parameters and uses the Host header.
    let (_, page) = get(&sim, "/2.0/workspaces/acme/members?pagelen=2&x=a%20b%2Bc");
    assert_eq!(
        page["next"],
        format!(
            "http://{}/2.0/workspaces/acme/members?pagelen=2&x=a%20b%2Bc&page=2",
            sim.local_addr()
        )
    );
}

#[test]
fn simulator_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Simulator>();
}

#[test]
fn odd_configurations_do_not_panic() {
    let mut config = SimConfig::scaled(2, 3, 0);
    config.workspaces[0].members = 1;
    config.workspaces[1].repositories[0].created_offset_hours = Some(i64::MAX);
    config.workspaces[1].repositories[1].created_offset_hours = Some(i64::MIN);
    config.workspaces[1].repositories[2].pullrequests = 5;
    let sim = Simulator::start(config).unwrap();
    for hours in [i64::MIN, -100_000, 0, 720, i64::MAX] {
        sim.set_clock_offset_hours(hours);
        for ws in sim.workspace_slugs() {
            let _ = sim.repositories(&ws);
            for slug in ["repo-0001", "repo-0002", "repo-0003"] {
                let _ = sim.pullrequests(&ws, slug);
                let _ = sim.commits(&ws, slug);
                let _ = sim.pullrequest_activity(&ws, slug);
                let _ = sim.src_tree(&ws, slug);
                let _ = sim.branch_restrictions(&ws, slug);
                let _ = sim.forks(&ws, slug);
                let _ = sim.watchers(&ws, slug);
                let _ = sim.repository_permissions(&ws, slug);
                let _ = sim.group_permissions(&ws, slug);
                for target in ["commits", "pullrequests/activity", "src", "src/main/", "forks"] {
                    let (s, _) = raw(
                        &sim,
                        "GET",
                        &format!("/2.0/repositories/{ws}/{slug}/{target}"),
                        Some(BEARER),
                    );
                    assert!((200..500).contains(&s), "{target}: {s}");
                }
            }
        }
        assert_eq!(get(&sim, "/2.0/repositories/ws-002?pagelen=100").0, 200);
    }
}

#[test]
fn drop_stops_the_server() {
    let sim = sim();
    let addr = sim.local_addr();
    assert!(TcpStream::connect(addr).is_ok());
    drop(sim);
    assert!(TcpStream::connect(addr).is_err());
}

// ----- phase 2 ------------------------------------------------------------------------------

use std::collections::{HashMap, HashSet};

use bitbucket_simulator::{Faults, IssueTrackers};

struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// A request with any headers and body, to any `Host`.
fn send(
    sim: &Simulator,
    method: &str,
    target: &str,
    host: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let addr = sim.local_addr();
    let mut stream = TcpStream::connect(addr).unwrap();
    let host = host.map_or_else(|| addr.to_string(), str::to_string);
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: buf[split + 4..].to_vec(),
    }
}

fn get_reply(sim: &Simulator, target: &str) -> Reply {
    send(sim, "GET", target, None, &[("Authorization", BEARER)], b"")
}

/// Follows `next` links; returns every page.
fn pages(sim: &Simulator, target: &str) -> Vec<Value> {
    let prefix = format!("http://{}", sim.local_addr());
    let mut url = target.to_string();
    let mut out = Vec::new();
    loop {
        let (status, page) = get(sim, &url);
        assert_eq!(status, 200, "{url}: {page}");
        let next = page.get("next").and_then(Value::as_str).map(str::to_string);
        out.push(page);
        match next {
            Some(n) => url = n.strip_prefix(&prefix).unwrap().to_string(),
            None => break,
        }
        assert!(out.len() < 1000, "runaway pagination");
    }
    out
}

fn values_of(pages: &[Value]) -> Vec<Value> {
    pages
        .iter()
        .flat_map(|p| p["values"].as_array().unwrap().iter().cloned())
        .collect()
}

#[test]
fn commits_iterator_pagination_in_graph_order() {
    let sim = sim();
    let truth = sim.commits("acme", "api");
    assert!((100..600).contains(&truth.len()), "{}", truth.len());
    let got = pages(&sim, "/2.0/repositories/acme/api/commits?pagelen=40");
    for (i, p) in got.iter().enumerate() {
        let mut keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        let expected: &[&str] = if i + 1 < got.len() {
            &["next", "pagelen", "values"]
        } else {
            &["pagelen", "values"]
        };
        assert_eq!(keys, expected, "iterator envelope");
        assert_eq!(p["pagelen"], 40);
        if let Some(next) = p.get("next").and_then(Value::as_str) {
            let token = next.split("page=").nth(1).unwrap();
            assert!(next.contains("pagelen=40"));
            assert_eq!(token.len(), 40);
            assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }
    let commits = values_of(&got);
    assert_eq!(commits, truth);
    // Topological: every parent comes later; dates are not monotonic.
    let pos: HashMap<&str, usize> = commits
        .iter()
        .enumerate()
        .map(|(i, c)| (c["hash"].as_str().unwrap(), i))
        .collect();
    for (i, c) in commits.iter().enumerate() {
        assert_eq!(c["type"], "commit");
        assert_eq!(c["hash"].as_str().unwrap().len(), 40);
        assert!(c["date"].as_str().unwrap().ends_with("+00:00"));
        assert_eq!(c["author"]["type"], "author");
        assert_eq!(c["summary"]["type"], "rendered");
        assert_eq!(c["repository"]["full_name"], "acme/api");
        for p in c["parents"].as_array().unwrap() {
            assert!(pos[p["hash"].as_str().unwrap()] > i, "parent after child");
        }
    }
    let dates: Vec<&str> = commits.iter().map(|c| c["date"].as_str().unwrap()).collect();
    let inversions = dates.windows(2).filter(|w| w[0] < w[1]).count();
    assert!(inversions >= 5, "graph order is not date order ({inversions})");
    // The late push: on the first page, about ten days older than the newest commit there.
    let first = &dates[..10];
    let newest = first.iter().max().unwrap();
    let ts = |s: &str| DateTime::parse_from_rfc3339(s).unwrap();
    assert!(first.iter().any(|d| (ts(newest) - ts(d)).num_days() >= 8));
    assert!(
        commits.iter().any(|c| c["author"].get("user").is_none()),
        "external authors"
    );
    let merges = commits
        .iter()
        .filter(|c| c["parents"].as_array().unwrap().len() == 2)
        .count();
    assert!(merges > 50);
    // The pull requests' merge commits are commits of the repository.
    let merged = sim
        .pullrequests("acme", "api")
        .into_iter()
        .filter(|p| p["state"] == "MERGED")
        .collect::<Vec<_>>();
    for pr in &merged {
        let short = pr["merge_commit"]["hash"].as_str().unwrap();
        assert!(commits
            .iter()
            .any(|c| c["hash"].as_str().unwrap().starts_with(short)));
    }

    // The clock reveals more commits, at the top.
    sim.set_clock_offset_hours(720);
    let later = sim.commits("acme", "api");
    assert!(later.len() > truth.len());
    let old: HashSet<&str> = truth.iter().map(|c| c["hash"].as_str().unwrap()).collect();
    assert!(later.iter().all(|c| c["hash"].as_str().is_some()));
    assert!(
        later
            .iter()
            .filter(|c| !old.contains(c["hash"].as_str().unwrap()))
            .count()
            > 5
    );
    sim.set_clock_offset_hours(0);

    // The empty repository, limits, bad tokens.
    let (s, empty) = get(&sim, "/2.0/repositories/acme/sandbox/commits");
    assert_eq!(s, 200);
    assert_eq!(empty, serde_json::json!({"pagelen": 30, "values": []}));
    assert_eq!(get(&sim, "/2.0/repositories/acme/api/commits?pagelen=101").0, 400);
    assert_eq!(get(&sim, "/2.0/repositories/acme/api/commits?pagelen=100").0, 200);
    let (s, body) = get(&sim, "/2.0/repositories/acme/api/commits?page=2");
    assert_eq!(
        (s, body["error"]["message"].as_str()),
        (400, Some("Invalid page"))
    );
    assert_eq!(get(&sim, "/2.0/repositories/acme/mobile-app/commits").0, 404);
}

fn event_time(item: &Value) -> (String, &'static str) {
    for kind in ["comment", "approval", "changes_requested", "update"] {
        if let Some(o) = item.get(kind) {
            let t = if kind == "comment" {
                &o["updated_on"]
            } else {
                &o["date"]
            };
            return (t.as_str().unwrap().to_string(), kind);
        }
    }
    panic!("no event in {item}");
}

#[test]
fn activity_cursor_pagination_newest_first() {
    let sim = sim();
    let truth = sim.pullrequest_activity("acme", "web-app");
    let got = pages(
        &sim,
        "/2.0/repositories/acme/web-app/pullrequests/activity?pagelen=50",
    );
    assert!(got.len() > 3);
    for p in &got[..got.len() - 1] {
        let next = p["next"].as_str().unwrap();
        assert!(next.contains("/pullrequests/activity?pagelen=50&ctx="), "{next}");
        assert!(p.get("size").is_none() && p.get("page").is_none());
    }
    assert!(got.last().unwrap().get("next").is_none());
    let items = values_of(&got);
    assert_eq!(items, truth);
    let prs: HashMap<u64, Value> = sim
        .pullrequests("acme", "web-app")
        .into_iter()
        .map(|p| (p["id"].as_u64().unwrap(), p))
        .collect();
    let mut kinds = HashSet::new();
    let mut edited = 0;
    let mut previous = String::from("9999");
    for item in &items {
        let keys = ["comment", "approval", "changes_requested", "update"]
            .iter()
            .filter(|k| item.get(**k).is_some())
            .count();
        assert_eq!(keys, 1, "exactly one event: {item}");
        let (t, kind) = event_time(item);
        kinds.insert(kind);
        assert!(t <= previous, "newest first");
        previous = t.clone();
        let pr = &prs[&item["pull_request"]["id"].as_u64().unwrap()];
        assert_eq!(item["pull_request"]["type"], "pullrequest");
        assert_eq!(item["pull_request"]["title"], pr["title"]);
        assert!(pr["created_on"].as_str().unwrap() <= t.as_str());
        assert!(t.as_str() <= pr["updated_on"].as_str().unwrap());
        if let Some(c) = item.get("comment") {
            assert_eq!(c["type"], "pullrequest_comment");
            assert!(c["id"].is_u64());
            if c["updated_on"] != c["created_on"] {
                edited += 1;
            }
        }
    }
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    assert!(edited > 0, "some comments were edited");
    // Every pull request has its creation update and its comments.
    for (id, pr) in &prs {
        let comments = items
            .iter()
            .filter(|i| i["pull_request"]["id"] == *id && i.get("comment").is_some())
            .count();
        assert_eq!(comments as u64, pr["comment_count"].as_u64().unwrap(), "PR {id}");
    }
    assert_eq!(
        get(
            &sim,
            "/2.0/repositories/acme/web-app/pullrequests/activity?pagelen=51"
        )
        .0,
        400
    );
    assert_eq!(
        get(
            &sim,
            "/2.0/repositories/acme/web-app/pullrequests/activity?ctx=bogus"
        )
        .0,
        400
    );
    let one = pages(
        &sim,
        "/2.0/repositories/acme/web-app/pullrequests/activity?pagelen=50",
    );
    assert_eq!(values_of(&one), truth, "deterministic");

    // Later: more activity, at the top.
    sim.set_clock_offset_hours(720);
    let later = sim.pullrequest_activity("acme", "web-app");
    assert!(later.len() > truth.len());
}

#[test]
fn src_listings_recursion_and_redirect() {
    let sim = sim();
    let main = sim.main_branch("acme", "api").unwrap();
    assert_eq!(sim.main_branch("acme", "sandbox"), None);
    let r = get_reply(&sim, "/2.0/repositories/acme/api/src");
    assert_eq!(r.status, 302);
    let location = &r.headers["location"];
    let prefix = format!("http://{}/2.0/repositories/acme/api/src/", sim.local_addr());
    let hash = location
        .strip_prefix(&prefix)
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    assert_eq!(hash.len(), 40);

    // Walk the tree directory by directory, following self links page by page.
    let truth = sim.src_tree("acme", "api");
    let origin = format!("http://{}", sim.local_addr());
    let mut queue = vec![format!("/2.0/repositories/acme/api/src/{main}/")];
    let mut walked = Vec::new();
    let mut big = false;
    while let Some(dir) = queue.pop() {
        let ps = pages(&sim, &format!("{dir}?pagelen=100"));
        big |= ps.len() > 1;
        for e in values_of(&ps) {
            assert_eq!(e["commit"]["hash"], hash.as_str());
            if e["type"] == "commit_directory" {
                let href = e["links"]["self"]["href"].as_str().unwrap();
                queue.push(href.strip_prefix(&origin).unwrap().to_string());
            } else {
                assert_eq!(e["type"], "commit_file");
                assert!(e["attributes"].is_array() && e["size"].is_u64());
                assert!(e["mimetype"].is_null() || e["mimetype"].is_string());
            }
            walked.push(e);
        }
    }
    assert!(big, "a directory with more than 100 entries paginates");
    let key = |v: &Value| v["path"].as_str().unwrap().to_string();
    let mut a: Vec<String> = walked.iter().map(key).collect();
    let mut b: Vec<String> = truth.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert!(b.iter().any(|p| p.matches('/').count() >= 3), "three levels deep");
    assert!(truth
        .iter()
        .any(|e| e["escaped_path"] != e["path"] && e["type"] == "commit_file"));

    // max_depth: breadth-first, the same entries as the ground truth.
    let deep = values_of(&pages(
        &sim,
        &format!("/2.0/repositories/acme/api/src/{hash}/?max_depth=50&pagelen=100"),
    ));
    assert_eq!(deep, truth);
    let one = values_of(&pages(
        &sim,
        &format!("/2.0/repositories/acme/api/src/{main}/docs/?max_depth=1"),
    ));
    let two = values_of(&pages(
        &sim,
        &format!("/2.0/repositories/acme/api/src/{main}/docs/?max_depth=2"),
    ));
    assert!(two.len() > one.len() && two[..one.len()] == one[..]);
    assert!(one
        .iter()
        .all(|e| e["path"].as_str().unwrap().matches('/').count() == 1));

    // Meta data and raw files.
    let (s, meta) = get(
        &sim,
        &format!("/2.0/repositories/acme/api/src/{main}/README.md?format=meta"),
    );
    assert_eq!((s, meta["type"].as_str()), (200, Some("commit_file")));
    let raw = get_reply(&sim, &format!("/2.0/repositories/acme/api/src/{main}/README.md"));
    assert_eq!(raw.body.len() as u64, meta["size"].as_u64().unwrap());

    // Errors.
    for target in [
        "/2.0/repositories/acme/api/src/no-such-branch/".to_string(),
        format!("/2.0/repositories/acme/api/src/{main}/no/such/dir/"),
        "/2.0/repositories/acme/sandbox/src/main/".to_string(),
        "/2.0/repositories/acme/sandbox/src".to_string(),
    ] {
        let (s, body) = get(&sim, &target);
        assert_eq!((s, body["type"].as_str()), (404, Some("error")), "{target}");
    }
    assert_eq!(
        get(
            &sim,
            &format!("/2.0/repositories/acme/api/src/{main}/?pagelen=101")
        )
        .0,
        400
    );
}

#[test]
fn permissions_issue_trackers_and_removed_endpoints() {
    let sim = sim();
    // acme: admin.
    let (restrictions, _) = collect(&sim, "/2.0/repositories/acme/api/branch-restrictions");
    assert_eq!(restrictions, sim.branch_restrictions("acme", "api"));
    assert!(restrictions
        .iter()
        .all(|r| r["type"] == "branchrestriction" && r["id"].is_u64()));
    // Permissions need a user credential (here Basic: email + API token).
    let (perms, _) = collect_as(
        &sim,
        "/2.0/workspaces/acme/permissions/repositories/api?pagelen=2",
        BASIC,
    );
    assert_eq!(perms, sim.repository_permissions("acme", "api"));
    let (groups, _) = collect_as(
        &sim,
        "/2.0/repositories/acme/api/permissions-config/groups",
        BASIC,
    );
    assert_eq!(groups, sim.group_permissions("acme", "api"));
    let slug = groups[0]["group"]["slug"].as_str().unwrap();
    let one_group = format!("/2.0/repositories/acme/api/permissions-config/groups/{slug}");
    let (s, one) = get_as(&sim, &one_group, BASIC);
    assert_eq!((s, &one), (200, &groups[0]));
    let (s, body) = get_as(
        &sim,
        "/2.0/repositories/acme/api/permissions-config/groups/nobody",
        BASIC,
    );
    assert_eq!((s, body["type"].as_str()), (404, Some("error")));
    // An access token cannot query permissions, even where it may read everything else.
    for target in [
        "/2.0/workspaces/acme/permissions/repositories/api",
        "/2.0/repositories/acme/api/permissions-config/groups",
        one_group.as_str(),
    ] {
        let (s, body) = get(&sim, target);
        assert_eq!(s, 403, "{target}");
        assert_eq!(body["type"], "error");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("Access tokens cannot query"), "{message}");
    }

    // globex: not an admin (branch restrictions are refused to the access token too, which
    // may read them where it is an admin).
    for (target, auth) in [
        (
            "/2.0/repositories/globex/core-service/branch-restrictions",
            BEARER,
        ),
        (
            "/2.0/workspaces/globex/permissions/repositories/core-service",
            BASIC,
        ),
        (
            "/2.0/repositories/globex/core-service/permissions-config/groups",
            BASIC,
        ),
    ] {
        let (s, body) = get_as(&sim, target, auth);
        assert_eq!(s, 403, "{target}");
        assert!(body["error"]["message"].as_str().unwrap().contains("admin"));
    }
    assert!(!sim.branch_restrictions("globex", "core-service").is_empty());
    assert!(!sim.repository_permissions("globex", "core-service").is_empty());

    // Issue trackers: removed, then enabled.
    let (s, body) = get(&sim, "/2.0/repositories/acme/data-pipeline/components");
    assert_eq!(s, 410);
    assert!(body["error"]["detail"].as_str().unwrap().contains("CHANGE-3071"));
    sim.set_issue_trackers(IssueTrackers::Enabled);
    for kind in ["components", "versions", "milestones"] {
        let (got, _) = collect(&sim, &format!("/2.0/repositories/acme/data-pipeline/{kind}"));
        assert!(!got.is_empty());
        assert_eq!(got, sim.issue_objects("acme", "data-pipeline", kind));
        let (s, body) = get(&sim, &format!("/2.0/repositories/acme/api/{kind}"));
        assert_eq!(s, 404);
        assert_eq!(body["error"]["message"], "Repository has no issue tracker.");
    }
    sim.set_issue_trackers(IssueTrackers::Removed);
    assert_eq!(get(&sim, "/2.0/repositories/acme/data-pipeline/versions").0, 410);

    // GET /repositories: 410 CHANGE-2770, then served.
    let (s, body) = get(&sim, "/2.0/repositories");
    assert_eq!(s, 410);
    assert_eq!(
        body["error"]["message"],
        "CHANGE-2770 - Functionality has been deprecated"
    );
    assert_eq!(body["data"], body["error"]["data"]);
    sim.set_public_repositories_enabled(true);
    let (all, _) = collect(&sim, "/2.0/repositories?pagelen=1");
    assert_eq!(all, sim.public_repositories());
    assert!(all.len() >= 2 && all.iter().all(|r| r["is_private"] == false));
    let first = all[0]["created_on"].as_str().unwrap().replace('+', "%2B");
    let (after, _) = collect(&sim, &format!("/2.0/repositories?after={first}"));
    assert_eq!(after.len(), all.len() - 1, "after is exclusive");
    assert_eq!(get(&sim, "/2.0/repositories?after=yesterday").0, 400);
}

#[test]
fn forks_watchers_users_and_emails() {
    let sim = sim();
    let (forks, _) = collect(&sim, "/2.0/repositories/acme/web-app/forks");
    assert_eq!(forks, sim.forks("acme", "web-app"));
    assert!(!forks.is_empty());
    for f in &forks {
        assert_eq!(f["parent"]["full_name"], "acme/web-app");
        assert_ne!(f["workspace"]["slug"], "acme");
        assert_eq!(f["type"], "repository");
    }
    assert!(sim.forks("globex", "core-service").is_empty());
    sim.set_clock_offset_hours(720);
    assert!(
        sim.forks("acme", "web-app").len() > forks.len(),
        "a fork appears later"
    );
    sim.set_clock_offset_hours(0);
    let (q, _) = collect(
        &sim,
        "/2.0/repositories/acme/web-app/forks?q=is_private%3Dfalse&sort=-created_on",
    );
    assert!(q.iter().all(|f| f["is_private"] == false));

    let (watchers, _) = collect(&sim, "/2.0/repositories/acme/web-app/watchers?pagelen=2");
    assert_eq!(watchers, sim.watchers("acme", "web-app"));
    assert!(watchers.iter().all(|w| w["type"] == "user"));

    let ids = sim.user_account_ids();
    assert!(ids.len() >= 3);
    for id in &ids {
        let (s, u) = get(&sim, &format!("/2.0/users/{id}"));
        assert_eq!(s, 200);
        assert_eq!(Some(&u), sim.user(id).as_ref());
        let uuid = u["uuid"]
            .as_str()
            .unwrap()
            .replace('{', "%7B")
            .replace('}', "%7D");
        assert_eq!(get(&sim, &format!("/2.0/users/{uuid}")).1, u);
    }
    assert_eq!(get(&sim, "/2.0/users/557058:nope").0, 404);
    assert!(sim.user("557058:nope").is_none());

    let (emails, _) = collect_as(&sim, "/2.0/user/emails", BASIC);
    assert_eq!(emails, sim.emails());
    // An access token is not a user: no `/user`, no `/user/emails`; but it may list its
    // workspaces and look up an account by id (above).
    for target in ["/2.0/user", "/2.0/user/emails"] {
        let (s, body) = get(&sim, target);
        assert_eq!(s, 403, "{target}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("not users"), "{message}");
    }
    assert_eq!(get(&sim, "/2.0/user/workspaces").0, 200);
    assert_eq!(get_as(&sim, "/2.0/user", BASIC).1, sim.current_user());
    assert_eq!(emails.iter().filter(|e| e["is_primary"] == true).count(), 1);
    assert!(emails.iter().all(|e| e["type"] == "email"));
}

#[test]
fn status_overrides() {
    let sim = sim();
    sim.set_status_override("/2.0/repositories/acme/infra", 403);
    sim.set_status_override("/2.0/repositories/acme/api/commits", 409);
    let (s, body) = get(&sim, "/2.0/repositories/acme/infra/pullrequests");
    assert_eq!((s, body["type"].as_str()), (403, Some("error")));
    assert_eq!(get(&sim, "/2.0/repositories/acme/infra").0, 403);
    assert_eq!(get(&sim, "/2.0/repositories/acme/api/commits?pagelen=5").0, 409);
    assert_eq!(get(&sim, "/2.0/repositories/acme/api/pullrequests").0, 200);
    sim.clear_status_overrides();
    assert_eq!(get(&sim, "/2.0/repositories/acme/infra").0, 200);
}

#[test]
fn faults_rate_limits_server_errors_and_truncation() {
    let sim = sim();
    sim.set_faults(Faults {
        rate_limit_every: 3,
        rate_limit_retry_after_secs: Some(2),
        ..Faults::default()
    });
    let statuses: Vec<u16> = (0..6)
        .map(|_| get_reply(&sim, "/2.0/workspaces/acme").status)
        .collect();
    assert_eq!(statuses, [200, 200, 429, 200, 200, 429]);
    let r = get_reply(&sim, "/2.0/workspaces/acme");
    let r2 = get_reply(&sim, "/2.0/workspaces/acme");
    let limited = get_reply(&sim, "/2.0/workspaces/acme");
    assert_eq!((r.status, r2.status, limited.status), (200, 200, 429));
    assert_eq!(limited.body, b"Rate limit for this resource has been exceeded");
    assert!(limited.headers["content-type"].starts_with("text/plain"));
    assert_eq!(limited.headers["retry-after"], "2");
    // Admin requests are not counted and never fail.
    for _ in 0..5 {
        assert_eq!(raw(&sim, "GET", "/_simulator/clock", None).0, 200);
    }

    sim.set_faults(Faults {
        server_error_every: 2,
        ..Faults::default()
    });
    let replies: Vec<Reply> = (0..6).map(|_| get_reply(&sim, "/2.0/workspaces/acme")).collect();
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 500, 200, 502, 200, 503]);
    assert_eq!(replies[1].json()["type"], "error");
    assert!(replies[3].headers["content-type"].starts_with("text/html"));
    assert_eq!(replies[5].json()["type"], "error");

    sim.set_faults(Faults {
        truncate_every: 2,
        ..Faults::default()
    });
    let full = get_reply(&sim, "/2.0/repositories/acme");
    let cut = get_reply(&sim, "/2.0/repositories/acme");
    assert_eq!((full.status, cut.status), (200, 200));
    assert_eq!(cut.body.len(), full.body.len() / 2);
    assert_eq!(cut.headers["content-length"], cut.body.len().to_string());
    assert!(serde_json::from_slice::<Value>(&cut.body).is_err());
    // Errors are not counted as 200s: the next 200 is whole again.
    assert_eq!(get_reply(&sim, "/2.0/repositories/nope").status, 404);
    assert_eq!(get_reply(&sim, "/2.0/repositories/acme").body, full.body);
    sim.set_faults(Faults::default());
    assert_eq!(get_reply(&sim, "/2.0/repositories/acme").body, full.body);
}

#[test]
fn faults_latency_concurrency_and_cross_origin_next() {
    let anchor = DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
        .unwrap()
        .to_utc();
    let config = SimConfig {
        faults: Faults {
            latency_ms: 150,
            ..Faults::default()
        },
        ..SimConfig::default().with_anchor(anchor)
    };
    let sim = Simulator::start(config).unwrap();
    assert_eq!(sim.max_in_flight(), 0);
    let started = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| assert_eq!(get_reply(&sim, "/2.0/workspaces/acme").status, 200));
        }
    });
    let elapsed = started.elapsed();
    assert!(elapsed >= std::time::Duration::from_millis(150));
    assert!(
        elapsed < std::time::Duration::from_millis(550),
        "served concurrently: {elapsed:?}"
    );
    assert!(sim.max_in_flight() >= 2, "{}", sim.max_in_flight());
    sim.reset_max_in_flight();
    assert_eq!(sim.max_in_flight(), 0);
    get_reply(&sim, "/2.0/workspaces/acme");
    assert_eq!(sim.max_in_flight(), 1);
    // The clock endpoint has no latency.
    let t = std::time::Instant::now();
    raw(&sim, "GET", "/_simulator/clock", None);
    assert!(t.elapsed() < std::time::Duration::from_millis(100));

    sim.set_faults(Faults {
        cross_origin_next: true,
        ..Faults::default()
    });
    let (_, page) = get(&sim, "/2.0/repositories/acme?pagelen=2");
    let next = page["next"].as_str().unwrap();
    let port = sim.local_addr().port();
    let expected_prefix = format!("http://localhost:{port}/2.0/repositories/acme?");
    assert!(next.starts_with(&expected_prefix), "{next}");
    // A client that follows it without credentials: recorded with its Host header.
    sim.clear_requests();
    let target = next.strip_prefix(&format!("http://localhost:{port}")).unwrap();
    let host = format!("localhost:{port}");
    let r = send(&sim, "GET", target, Some(&host), &[], b"");
    assert_eq!(r.status, 401);
    let log = sim.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].host, host);
    assert!(!log[0].has_authorization);
    // Commits and activity cursors too.
    let (_, c) = get(&sim, "/2.0/repositories/acme/api/commits?pagelen=2");
    assert!(c["next"].as_str().unwrap().starts_with("http://localhost:"));
    let (_, a) = get(&sim, "/2.0/repositories/acme/api/pullrequests/activity?pagelen=2");
    assert!(a["next"].as_str().unwrap().starts_with("http://localhost:"));
}

fn basic(user: &str, pass: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{user}:{pass}").into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

fn token_request(sim: &Simulator, auth: Option<&str>, form: &str) -> Reply {
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    if let Some(a) = auth {
        headers.push(("Authorization", a));
    }
    send(
        sim,
        "POST",
        "/site/oauth2/access_token",
        None,
        &headers,
        form.as_bytes(),
    )
}

#[test]
fn oauth_grants_expiry_and_rotation() {
    let sim = sim();
    assert_eq!(
        sim.oauth_token_url(),
        format!("http://{}/site/oauth2/access_token", sim.local_addr())
    );
    let client = basic("demo-client", "demo-secret");
    // Faults never touch the token endpoint.
    sim.set_faults(Faults {
        rate_limit_every: 1,
        ..Faults::default()
    });
    let r = token_request(&sim, Some(&client), "grant_type=client_credentials");
    assert_eq!(r.status, 200);
    let t = r.json();
    assert_eq!(t["token_type"], "bearer");
    assert_eq!(t["state"], "client_credentials");
    assert_eq!(t["scopes"], "repository pullrequest account");
    assert_eq!(t["expires_in"], 3600);
    assert_eq!(t["refresh_token"], "demo-refresh");
    sim.set_faults(Faults::default());
    let access = t["access_token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {access}");
    let r = send(&sim, "GET", "/2.0/user", None, &[("Authorization", &bearer)], b"");
    assert_eq!(r.status, 200);
    assert_eq!(sim.token_requests(), 1);

    // Form-field client authentication and the refresh-token grant.
    let r = token_request(
        &sim,
        None,
        "grant_type=refresh_token&refresh_token=demo-refresh&client_id=demo-client&client_secret=demo-secret",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["state"], "refresh_token");
    assert_eq!(r.json()["refresh_token"], "demo-refresh");
    assert_eq!(sim.token_requests(), 2);

    // Bad client, bad refresh token, bad grant.
    for (auth, form) in [
        (basic("demo-client", "wrong"), "grant_type=client_credentials"),
        (client.clone(), "grant_type=refresh_token&refresh_token=nope"),
    ] {
        let r = token_request(&sim, Some(&auth), form);
        assert_eq!(r.status, 400, "{form}");
        assert_eq!(r.json()["error"], "invalid_grant");
        assert!(r.json()["error_description"].is_string());
    }
    assert_eq!(
        token_request(&sim, Some(&client), "grant_type=password").status,
        400
    );
    assert_eq!(sim.token_requests(), 2);

    // Expiry (wall clock): a zero lifetime expires at once.
    sim.set_token_lifetime_secs(0);
    let r = token_request(&sim, Some(&client), "grant_type=client_credentials");
    assert_eq!(r.json()["expires_in"], 0);
    let expired = format!("Bearer {}", r.json()["access_token"].as_str().unwrap());
    let r = send(
        &sim,
        "GET",
        "/2.0/user",
        None,
        &[("Authorization", &expired)],
        b"",
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json()["error"]["message"],
        "Access token expired. Use your refresh token to obtain a new access token."
    );
    let r = send(
        &sim,
        "GET",
        "/2.0/user",
        None,
        &[("Authorization", "Bearer unknown")],
        b"",
    );
    assert_eq!(
        (r.status, r.json()["error"]["message"].as_str()),
        (401, Some("Access denied"))
    );
    // The first token is still valid.
    assert_eq!(
        send(&sim, "GET", "/2.0/user", None, &[("Authorization", &bearer)], b"").status,
        200
    );

    // Rotation.
    let anchor = DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
        .unwrap()
        .to_utc();
    let rot = Simulator::start(SimConfig {
        rotate_refresh_tokens: true,
        ..SimConfig::default().with_anchor(anchor)
    })
    .unwrap();
    let r = token_request(
        &rot,
        Some(&client),
        "grant_type=refresh_token&refresh_token=demo-refresh",
    );
    assert_eq!(r.status, 200);
    let new_refresh = r.json()["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(new_refresh, "demo-refresh");
    let r = token_request(
        &rot,
        Some(&client),
        "grant_type=refresh_token&refresh_token=demo-refresh",
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let r = token_request(
        &rot,
        Some(&client),
        &format!("grant_type=refresh_token&refresh_token={new_refresh}"),
    );
    assert_eq!(r.status, 200);
    assert_ne!(r.json()["refresh_token"], new_refresh.as_str());
    assert_eq!(rot.token_requests(), 2);
    let log = rot.requests();
    assert!(log.iter().all(|r| r.path() == "/site/oauth2/access_token"));
}
