//! Discovery: no network, no credentials, every stream with its metadata.

use serde_json::Value;

use crate::harness::{tap, Scratch};

fn catalog(args: &[&str]) -> Value {
    let run = tap(args).success();
    // One JSON document, indented: Meltano reads discovery output line by line with a 64 KiB
    // limit per line ("Separator is found, but chunk is longer than limit" otherwise).
    assert_eq!(run.messages.len(), 1);
    assert!(
        run.stdout.lines().all(|l| l.len() < 4096),
        "a catalog line is too long for Meltano"
    );
    run.messages[0].clone()
}

#[test]
fn discovery_needs_no_credentials_or_network() {
    let scratch = Scratch::new();
    // An unroutable API and no credentials: discovery must not care.
    let config = scratch.json(
        "c.json",
        &serde_json::json!({"api_url": "http://127.0.0.1:9/2.0"}),
    );
    let state = scratch.json("s.json", &serde_json::json!({}));
    let catalog = catalog(&[
        "--config",
        config.to_str().unwrap(),
        "--discover",
        "--state",
        state.to_str().unwrap(),
    ]);
    let names: Vec<&str> = catalog["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["tap_stream_id"].as_str().unwrap())
        .collect();
    for expected in ["repositories", "pullrequests", "workspaces", "workspace_members"] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
}

#[test]
fn catalog_metadata_is_complete() {
    let catalog = catalog(&["--discover"]);
    let stream = |name: &str| {
        catalog["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["tap_stream_id"] == name)
            .unwrap()
            .clone()
    };
    let prs = stream("pullrequests");
    assert_eq!(
        prs["key_properties"],
        serde_json::json!(["repository_uuid", "id"])
    );
    assert_eq!(prs["replication_key"], "updated_on");
    let top = &prs["metadata"][0];
    assert_eq!(top["breadcrumb"], serde_json::json!([]));
    assert_eq!(top["metadata"]["forced-replication-method"], "INCREMENTAL");
    assert_eq!(
        top["metadata"]["valid-replication-keys"],
        serde_json::json!(["updated_on"])
    );
    assert_eq!(
        top["metadata"]["table-key-properties"],
        serde_json::json!(["repository_uuid", "id"])
    );
    assert_eq!(top["metadata"]["selected-by-default"], true);
    let props = prs["schema"]["properties"].as_object().unwrap();
    let breadcrumbs: Vec<&Value> = prs["metadata"].as_array().unwrap()[1..].iter().collect();
    assert_eq!(breadcrumbs.len(), props.len(), "one breadcrumb per property");
    for m in breadcrumbs {
        let field = m["breadcrumb"][1].as_str().unwrap();
        let expected = if ["repository_uuid", "id", "updated_on"].contains(&field) {
            "automatic"
        } else {
            "available"
        };
        assert_eq!(m["metadata"]["inclusion"], expected, "{field}");
    }
    let members = stream("workspace_members");
    assert_eq!(
        members["metadata"][0]["metadata"]["forced-replication-method"],
        "FULL_TABLE"
    );
    assert!(members.get("replication_key").is_none());
}
