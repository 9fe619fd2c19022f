//! Bounded under any server, and the cause named (issue 14): a body that never ends, a body
//! just over `max_response_bytes` (with and without `Content-Length`), an HTML page answered
//! with 200, and a stdout closed by the target. Each drives the real binary against a tiny
//! local server written here (one response, whatever the request) or the simulator.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitbucket_simulator::Faults;
use serde_json::{json, Value};

use crate::harness::{catalog_file, config_for, simulator, tap, Scratch};

/// The cap the tests set: small, so that crossing it is quick.
const CAP: u64 = 8 << 20;

/// What the tiny server answers to every request.
#[derive(Clone, Copy)]
enum Answer {
    /// `200 application/json`, a JSON array that never ends, delimited by the connection.
    Endless,
    /// `200 application/json`, a body of exactly `CAP + 1` bytes, with or without
    /// `Content-Length` (without: delimited by the connection closing).
    JustOverCap { content_length: bool },
    /// `200 text/html`: the login page of a proxy.
    LoginPage,
    /// The same page, sent as `application/json`.
    LoginPageAsJson,
    /// `200 application/json` with `Content-Encoding: gzip` (never asked for), endless.
    EndlessGzip,
    /// `503` with a gzip-encoded body (a proxy's error page, compressed).
    CompressedUnavailable,
    /// Workspace `acme` with one repository whose `is_private` is a string.
    WrongType,
    /// Workspace `acme`; the listing of its repositories (`in_listing`) or the watchers of
    /// its repository `api` answer the same page forever, each time with a new `next` link.
    MintedNext { in_listing: bool },
    /// The request's `Authorization` header echoed back: in the JSON error message of this
    /// status, or (`0`) in the title of an HTML page answered with 200.
    EchoAuthorization { status: u16 },
}

/// A one-answer HTTP/1.1 server on 127.0.0.1 that counts the requests it got.
struct TinyServer {
    port: u16,
    requests: Arc<AtomicUsize>,
}

impl TinyServer {
    fn start(answer: Answer) -> TinyServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port");
        let port = listener.local_addr().expect("local address").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        // Lives until the test binary ends; each connection on its own thread.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = counter.clone();
                std::thread::spawn(move || serve(stream, answer, &counter));
            }
        });
        TinyServer { port, requests }
    }

    fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/2.0", self.port)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads one request's head, then answers it and closes. Write errors (the tap hung up, as it
/// should) end the answer.
fn serve(mut stream: TcpStream, answer: Answer, requests: &AtomicUsize) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let _ = match answer {
        Answer::Endless => endless(&mut stream),
        Answer::JustOverCap { content_length } => just_over_cap(&mut stream, content_length),
        Answer::LoginPage => login_page(&mut stream, "text/html; charset=utf-8"),
        Answer::LoginPageAsJson => login_page(&mut stream, "application/json"),
        Answer::EndlessGzip => endless_gzip(&mut stream),
        Answer::CompressedUnavailable => stream.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nContent-Length: 10\r\nConnection: close\r\n\r\n\x1f\x8b\x08\0\0\0\0\0\0\xff",
        ),
        Answer::WrongType => wrong_type(&mut stream, &String::from_utf8_lossy(&head)),
        Answer::MintedNext { in_listing } => {
            minted_next(&mut stream, &String::from_utf8_lossy(&head), in_listing, requests)
        }
        Answer::EchoAuthorization { status } => echo_authorization(&mut stream, &String::from_utf8_lossy(&head), status),
    };
}

fn endless(stream: &mut TcpStream) -> std::io::Result<()> {
    stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")?;
    stream.write_all(br#"{"values":["#)?;
    let chunk = br#"{"uuid":"{00000000-0000-0000-0000-000000000000}","slug":"endless"},"#.repeat(1000);
    loop {
        stream.write_all(&chunk)?;
    }
}

fn just_over_cap(stream: &mut TcpStream, content_length: bool) -> std::io::Result<()> {
    // A valid JSON object of exactly CAP + 1 bytes.
    let frame = br#"{"values":[],"padding":""}"#;
    let mut body = Vec::with_capacity(CAP as usize + 1);
    body.extend_from_slice(&frame[..frame.len() - 2]);
    body.resize(CAP as usize + 1 - 2, b'x');
    body.extend_from_slice(b"\"}");
    assert_eq!(body.len() as u64, CAP + 1);
    let length = if content_length {
        format!("Content-Length: {}\r\n", body.len())
    } else {
        String::new()
    };
    let head =
        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(&body)
}

fn wrong_type(stream: &mut TcpStream, head: &str) -> std::io::Result<()> {
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let body = if path.starts_with("/2.0/workspaces/acme") {
        json!({"type": "workspace", "uuid": "{a}", "slug": "acme", "name": "Acme"})
    } else if path.starts_with("/2.0/repositories/acme") {
        json!({"pagelen": 100, "values": [{
            "type": "repository", "uuid": "{r}", "slug": "api", "full_name": "acme/api",
            "name": "api", "is_private": "yes", "updated_on": "2026-11-01T00:00:00+00:00",
        }]})
    } else {
        json!({"pagelen": 100, "values": []})
    }
    .to_string();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())
}

fn minted_next(
    stream: &mut TcpStream,
    head: &str,
    in_listing: bool,
    requests: &AtomicUsize,
) -> std::io::Result<()> {
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split('?').next().unwrap_or(path);
    let n = requests.load(Ordering::SeqCst);
    let repository = json!({
        "type": "repository", "uuid": "{r}", "slug": "api", "full_name": "acme/api",
        "name": "api", "updated_on": "2026-11-01T00:00:00+00:00",
    });
    let body = match path {
        "/2.0/workspaces/acme" => json!({"type": "workspace", "uuid": "{a}", "slug": "acme"}),
        "/2.0/repositories/acme" if in_listing => {
            json!({"pagelen": 1, "values": [repository], "next": format!("{path}?page={n}")})
        }
        "/2.0/repositories/acme" => json!({"pagelen": 1, "values": [repository]}),
        "/2.0/repositories/acme/api/watchers" => json!({
            "pagelen": 1,
            "values": [{"type": "user", "uuid": "{u}", "display_name": "Ann"}],
            "next": format!("{path}?page={n}"),
        }),
        _ => json!({"pagelen": 100, "values": []}),
    }
    .to_string();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())
}

fn endless_gzip(stream: &mut TcpStream) -> std::io::Result<()> {
    stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n",
    )?;
    // A gzip header, then bytes that never end: whatever they would decode to, they are not
    // to be read.
    stream.write_all(&[0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff])?;
    let chunk = [0u8; 64 << 10];
    loop {
        stream.write_all(&chunk)?;
    }
}

fn login_page(stream: &mut TcpStream, content_type: &str) -> std::io::Result<()> {
    let body = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n  <meta charset=\"utf-8\">\n  \
                <title>\n    Sign in \u{b7} Example Corp\n    web proxy\u{1b}[0m\n  </title>\n</head>\n\
                <body><form action=\"/login\"><input name=\"user\"></form></body>\n</html>\n";
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())
}

fn echo_authorization(stream: &mut TcpStream, head: &str, status: u16) -> std::io::Result<()> {
    let header = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("authorization: ")
                .or_else(|| l.strip_prefix("Authorization: "))
        })
        .unwrap_or("none");
    let (content_type, body) = if status == 0 {
        (
            "text/html",
            format!("<html><head><title>Denied for {header}</title></head></html>"),
        )
    } else {
        let message = serde_json::to_string(&format!("Invalid credentials: {header}")).unwrap();
        (
            "application/json",
            format!(r#"{{"type": "error", "error": {{"message": {message}}}}}"#),
        )
    };
    let status = if status == 0 { 200 } else { status };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())
}

/// A config for the tiny server: one configured workspace (so the first request is
/// `GET /2.0/workspaces/acme`), retries on but without waiting, and the small cap.
fn config(server: &TinyServer) -> Value {
    json!({
        "api_url": server.api_url(),
        "access_token": "t",
        "workspaces": ["acme"],
        "max_retries": 2,
        "backoff_max_secs": 0,
        "max_response_bytes": CAP,
    })
}

/// How a watched run ended, and the most memory it held.
struct Watched {
    status: ExitStatus,
    /// The highest `VmHWM` (peak resident set) seen while it ran, in KiB.
    peak_rss_kib: u64,
    stderr: String,
}

impl Watched {
    fn last_error_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }
}

/// The process's peak resident set so far (`VmHWM`), in KiB; `None` once it has exited.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the tap with `config`, polling its peak memory until it exits. A run past
/// `kill_above_kib` is killed at once (the bound is already broken; no need to let it take
/// the machine), and so is one still running after a minute.
fn run_watched(scratch: &Scratch, config: &Value, kill_above_kib: u64) -> Watched {
    let config = scratch.json("config.json", config);
    let stderr_path = scratch.dir.path().join("stderr.log");
    let mut child: Child = Command::new(assert_cmd::cargo::cargo_bin("tap-bitbucket"))
        .arg("--config")
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("spawn the tap");
    let started = Instant::now();
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().expect("poll the tap") {
            break status;
        }
        if peak > kill_above_kib || started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            break child.wait().expect("wait for the tap");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Watched {
        status,
        peak_rss_kib: peak,
        stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    }
}

fn assert_one_line(line: &str, needles: &[&str]) {
    assert!(line.starts_with("tap-bitbucket: error: "), "last line: {line}");
    for needle in needles {
        assert!(line.contains(needle), "`{needle}` not in: {line}");
    }
}

#[test]
fn an_endless_body_stops_at_the_cap_with_bounded_memory() {
    let server = TinyServer::start(Answer::Endless);
    let scratch = Scratch::new();
    // Generous: the tap's own footprint plus a few times the 8 MiB cap. Without the cap it
    // buffers the stream until the request timeout, gigabytes on loopback.
    let bound_kib = 200 << 10;
    let run = run_watched(&scratch, &config(&server), bound_kib);
    assert!(run.peak_rss_kib > 0, "no memory reading of the tap was taken");
    assert!(
        run.peak_rss_kib < bound_kib,
        "peak RSS {} MiB with an 8 MiB cap; stderr:\n{}",
        run.peak_rss_kib >> 10,
        run.stderr
    );
    assert_eq!(run.status.code(), Some(1), "stderr:\n{}", run.stderr);
    assert_one_line(
        run.last_error_line(),
        &[
            "GET /2.0/workspaces/acme",
            "over the 8 MiB cap (`max_response_bytes`)",
            "stopped reading",
            "not retried",
        ],
    );
    assert_eq!(server.requests(), 1, "a body over the cap is not retried");
}

#[test]
fn the_oauth_token_endpoint_is_capped_too() {
    let server = TinyServer::start(Answer::Endless);
    let scratch = Scratch::new();
    let mut config = config(&server);
    let map = config.as_object_mut().expect("an object");
    map.remove("access_token");
    map.insert("client_id".into(), json!("consumer"));
    map.insert("client_secret".into(), json!("consumer-secret"));
    map.insert(
        "oauth_token_url".into(),
        json!(format!(
            "http://127.0.0.1:{}/site/oauth2/access_token",
            server.port
        )),
    );
    let run = crate::harness::sync(&scratch, &config, None);
    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
    assert_one_line(
        run.last_error_line(),
        &[
            "OAuth token request to http://127.0.0.1:",
            "/site/oauth2/access_token",
            "8 MiB cap (`max_response_bytes`)",
            "not retried",
        ],
    );
    assert!(!run.stderr.contains("consumer-secret"), "{}", run.stderr);
    assert_eq!(server.requests(), 1, "not retried");
}

#[test]
fn a_body_one_byte_over_the_cap_fails_with_or_without_its_length() {
    for content_length in [true, false] {
        let server = TinyServer::start(Answer::JustOverCap { content_length });
        let scratch = Scratch::new();
        let run = crate::harness::sync(&scratch, &config(&server), None);
        assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
        let mut needles = vec![
            "GET /2.0/workspaces/acme",
            "8 MiB cap (`max_response_bytes`)",
            "not retried",
            "check `api_url`",
        ];
        if content_length {
            // Refused from the header alone.
            needles.extend(["announced a body of 8388609 bytes (Content-Length)", "not read"]);
        } else {
            needles.push("stopped reading at the cap");
        }
        assert_one_line(run.last_error_line(), &needles);
        assert_eq!(
            server.requests(),
            1,
            "content_length {content_length}: not retried"
        );
        assert!(
            run.stdout.lines().all(|l| l.contains("\"STATE\"")),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn an_html_page_answered_with_200_is_named_not_parsed() {
    // As `text/html`, and with the API's own content type.
    for (answer, content_type) in [
        (Answer::LoginPage, "text/html"),
        (Answer::LoginPageAsJson, "application/json"),
    ] {
        let server = TinyServer::start(answer);
        let scratch = Scratch::new();
        let run = crate::harness::sync(&scratch, &config(&server), None);
        assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
        let line = run.last_error_line();
        assert_one_line(
            line,
            &[
                &format!("GET /2.0/workspaces/acme answered 200 with `{content_type}`"),
                "(title \"Sign in \u{b7} Example Corp web proxy\")",
                "instead of JSON",
                "`api_url`",
                "proxy",
            ],
        );
        assert!(
            !line.contains("malformed JSON") && !line.contains('\u{1b}'),
            "{line}"
        );
        // A login page or captive portal answers the same again: not retried.
        assert_eq!(server.requests(), 1, "{content_type}");
    }
}

#[test]
fn a_compressed_body_nobody_asked_for_is_refused_unread() {
    let server = TinyServer::start(Answer::EndlessGzip);
    let scratch = Scratch::new();
    let started = Instant::now();
    let run = crate::harness::sync(&scratch, &config(&server), None);
    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
    assert_one_line(
        run.last_error_line(),
        &["GET /2.0/workspaces/acme", "`gzip`-encoded body", "`api_url`"],
    );
    assert_eq!(server.requests(), 1, "not retried");
    // Refused from the headers: not read until the cap or the request timeout.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_compressed_error_status_is_judged_by_its_status() {
    let server = TinyServer::start(Answer::CompressedUnavailable);
    let scratch = Scratch::new();
    let run = crate::harness::sync(&scratch, &config(&server), None);
    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
    let line = run.last_error_line();
    assert_one_line(
        line,
        &[
            "HTTP 503 from GET /2.0/workspaces/acme",
            "gave up after 2 retries",
        ],
    );
    assert!(!line.contains("-encoded"), "{line}");
    assert_eq!(server.requests(), 3, "a 503 is retried, compressed or not");
}

#[test]
fn a_known_field_of_the_wrong_type_names_the_stream_and_path() {
    let server = TinyServer::start(Answer::WrongType);
    let scratch = Scratch::new();
    let run = crate::harness::sync_selected(&scratch, &config(&server), &["repositories"], None);
    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
    assert_one_line(
        run.last_error_line(),
        &[
            "stream `repositories` (workspace=acme)",
            "GET /2.0/repositories/acme",
            "`values[0].is_private`",
        ],
    );
    assert!(!run.stdout.contains("\"RECORD\""), "{}", run.stdout);
}

#[test]
fn a_listing_that_never_ends_stops_at_the_repeated_page() {
    for in_listing in [true, false] {
        let server = TinyServer::start(Answer::MintedNext { in_listing });
        let scratch = Scratch::new();
        let run = crate::harness::sync_selected(&scratch, &config(&server), &["watchers"], None);
        assert_eq!(run.code, 1, "in_listing {in_listing}: {}", run.stderr);
        let endpoint = if in_listing {
            "GET /2.0/repositories/acme returned a page again"
        } else {
            "GET /2.0/repositories/acme/api/watchers returned a page again"
        };
        assert_one_line(
            run.last_error_line(),
            &[endpoint, "the same records under a new one"],
        );
        // The workspace, the listing, and (for the watchers) two pages of them: the second
        // page repeats the first and is not followed.
        let expected = if in_listing { 3 } else { 4 };
        assert_eq!(server.requests(), expected, "in_listing {in_listing}");
    }
}

/// A pull request's or repository's identity, for the rerun check.
fn key(message: &Value) -> Option<(String, String)> {
    let stream = message["stream"].as_str()?;
    let record = &message["record"];
    let id = match stream {
        "repositories" => record["uuid"].as_str()?.to_string(),
        "pullrequests" => format!(
            "{}/{}#{}",
            record["workspace_slug"].as_str()?,
            record["repository_slug"].as_str()?,
            record["id"]
        ),
        _ => return None,
    };
    Some((stream.to_string(), id))
}

fn spawn_piped(config: &Path, catalog: &Path, stderr: &Path) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("tap-bitbucket"))
        .arg("--config")
        .arg(config)
        .arg("--catalog")
        .arg(catalog)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(stderr).expect("stderr file"))
        .spawn()
        .expect("spawn the tap")
}

#[test]
fn a_target_gone_during_a_backoff_ends_the_wait() {
    let sim = simulator();
    let scratch = Scratch::new();
    let mut config = config_for(&sim);
    config["backoff_max_secs"] = json!(300);
    let config = scratch.json("config.json", &config);
    let catalog = catalog_file(&scratch, &["repositories"]);
    // Every request is refused for a minute: the tap waits, writing nothing.
    sim.set_faults(Faults {
        rate_limit_every: 1,
        rate_limit_retry_after_secs: Some(60),
        ..Faults::default()
    });
    let stderr_path = scratch.dir.path().join("stderr.log");
    let mut child = spawn_piped(&config, &catalog, &stderr_path);
    // The target exits before reading anything.
    drop(child.stdout.take());
    let stderr = exits_within(
        &mut child,
        30,
        "waiting out the 429 for a target that is gone",
        &stderr_path,
    );
    sim.set_faults(Faults::default());
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert_one_line(last, &["stdout was closed before the sync finished"]);
}

/// Waits for the tap to exit, within `seconds` (else kills it and fails, saying it kept
/// `doing`), asserts it exited 1, and returns its stderr.
fn exits_within(child: &mut Child, seconds: u64, doing: &str, stderr_path: &Path) -> String {
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the tap") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(seconds) {
            let _ = child.kill();
            panic!("the tap kept {doing}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = std::fs::read_to_string(stderr_path).unwrap_or_default();
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    stderr
}

#[test]
fn a_closed_stdout_names_the_target_and_the_last_state_holds() {
    let sim = simulator();
    let scratch = Scratch::new();
    let mut config = config_for(&sim);
    config["page_size"] = json!(10);
    let config = scratch.json("config.json", &config);
    let streams = ["repositories", "pullrequests"];
    let catalog = catalog_file(&scratch, &streams);
    // Latency keeps the tap writing long after the target has gone.
    sim.set_faults(Faults {
        latency_ms: 15,
        ..Faults::default()
    });
    let stderr_path = scratch.dir.path().join("stderr.log");
    let mut child = spawn_piped(&config, &catalog, &stderr_path);
    let mut reader = BufReader::new(child.stdout.take().expect("piped stdout"));
    // Read as a target would, and exit (close the pipe) once the first STATE arrived.
    let mut read = Vec::new();
    let mut line = String::new();
    while !read.iter().any(|m: &Value| m["type"] == "STATE") {
        line.clear();
        let n = reader.read_line(&mut line).expect("read the tap's stdout");
        assert!(n > 0, "the tap ended before its first STATE");
        read.push(serde_json::from_str::<Value>(&line).expect("a JSON line"));
    }
    drop(reader);
    let stderr = exits_within(
        &mut child,
        60,
        "running after its stdout was closed",
        &stderr_path,
    );
    sim.set_faults(Faults::default());
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert_one_line(
        last,
        &[
            "stdout was closed before the sync finished",
            "the target's own log has the reason",
        ],
    );
    assert!(
        !stderr.contains("writer has stopped")
            && !stderr.contains("Broken pipe")
            && !stderr.contains("panicked"),
        "{stderr}"
    );

    // The STATE read covers only records read before it: a rerun from it, plus what was
    // read, is everything the server holds.
    let state = read.iter().rev().find(|m| m["type"] == "STATE").expect("a STATE")["value"].clone();
    let state_path = scratch.json("state.json", &state);
    let rerun = tap(&[
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
        "--state",
        state_path.to_str().unwrap(),
    ])
    .success();
    let got: BTreeSet<_> = read.iter().chain(&rerun.messages).filter_map(key).collect();
    let mut want = BTreeSet::new();
    for ws in sim.workspace_slugs() {
        for repo in sim.repositories(&ws) {
            want.insert((
                "repositories".to_string(),
                repo["uuid"].as_str().unwrap().to_string(),
            ));
        }
        for repo in sim.repository_slugs(&ws) {
            for pr in sim.pullrequests(&ws, &repo) {
                want.insert(("pullrequests".to_string(), format!("{ws}/{repo}#{}", pr["id"])));
            }
        }
    }
    let missing: Vec<_> = want.difference(&got).take(5).collect();
    assert!(missing.is_empty(), "lost after the closed stdout: {missing:?}");
}

#[test]
fn a_server_echoing_the_credentials_back_never_gets_them_onto_stderr() {
    let token = "SEKRET-token-5c1f0e9b";
    let (email, api_token) = ("me@example.com", "SEKRET-api-token-77aa");
    let basic = "bWVAZXhhbXBsZS5jb206U0VLUkVULWFwaS10b2tlbi03N2Fh"; // base64 of email:api_token
    for status in [401, 404, 500, 0] {
        for basic_auth in [false, true] {
            let server = TinyServer::start(Answer::EchoAuthorization { status });
            let scratch = Scratch::new();
            let mut config = config(&server);
            if basic_auth {
                config["email"] = json!(email);
                config["api_token"] = json!(api_token);
                config.as_object_mut().unwrap().remove("access_token");
            } else {
                config["access_token"] = json!(token);
            }
            for log_format in ["text", "json"] {
                config["log_format"] = json!(log_format);
                let run = crate::harness::sync(&scratch, &config, None);
                assert_ne!(run.code, 0, "{status}: stderr:\n{}", run.stderr);
                let all = format!("{}{}", run.stdout, run.stderr);
                assert!(
                    !all.contains("SEKRET") && !all.contains(basic),
                    "{status} {log_format} basic={basic_auth}: {}",
                    run.stderr
                );
                assert!(
                    run.stderr.contains("****"),
                    "{status} {log_format}: the echo is shown masked: {}",
                    run.stderr
                );
            }
        }
    }
}
