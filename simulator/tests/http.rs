//! End-to-end tests over real HTTP, with a minimal std-only client.

use std::io::{Read, Write};
use std::net::TcpStream;

use bitbucket_simulator::{SimConfig, Simulator};
use chrono::DateTime;
use serde_json::Value;

const BEARER: &str = "Bearer demo-token";
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
    let (status, body) = raw(sim, "GET", target, Some(BEARER));
    (status, serde_json::from_slice(&body).unwrap())
}

/// Follows `next` links from a `/2.0/...` target; returns every value and the request count.
fn collect(sim: &Simulator, target: &str) -> (Vec<Value>, usize) {
    let prefix = format!("http://{}", sim.local_addr());
    let mut url = target.to_string();
    let mut values = Vec::new();
    let mut pages = 0;
    loop {
        let (status, page) = get(sim, &url);
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
    // demo@example.com:demo-api-token
    let basic = "Basic ZGVtb0BleGFtcGxlLmNvbTpkZW1vLWFwaS10b2tlbg==";
    let (status, body) = raw(&sim, "GET", "/2.0/user", Some(basic));
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
        ("/2.0/repositories/acme/api/commits", 404, "Resource not found"),
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
    assert_eq!(get(&sim, "/2.0/user").0, 200);
}

#[test]
fn clock_reveals_new_and_updated_objects() {
    let sim = sim();
    assert_eq!(
        sim.repository_slugs("acme"),
        ["api", "data-pipeline", "infra", "web-app"]
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
