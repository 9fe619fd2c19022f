//! `schemas/<stream>.json` are generated from the record types and committed; this test fails
//! when they drift. `UPDATE_SCHEMAS=1 cargo test --test it schemas` rewrites them.

use std::path::Path;

use tap_bitbucket::streams::REGISTRY;

#[test]
fn committed_schemas_match_record_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let mut drifted = Vec::new();
    for stream in REGISTRY {
        let generated = serde_json::to_string_pretty(&(stream.schema)()).unwrap() + "\n";
        let path = dir.join(format!("{}.json", stream.name));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &generated).unwrap();
            } else {
                drifted.push(path.display().to_string());
            }
        }
    }
    assert!(
        drifted.is_empty(),
        "these schema files differ from their record types: {drifted:?}\nregenerate them with: UPDATE_SCHEMAS=1 cargo test --test it schemas"
    );
    // No file for a stream that no longer exists.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        let stream = name.trim_end_matches(".json");
        assert!(
            REGISTRY.iter().any(|s| s.name == stream),
            "schemas/{name} has no stream"
        );
    }
}

#[test]
fn schemas_are_singer_ready() {
    for stream in REGISTRY {
        let schema = (stream.schema)();
        let text = schema.to_string();
        assert!(
            !text.contains("$ref") && !text.contains("$defs"),
            "{}: not inlined",
            stream.name
        );
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
        assert_eq!(schema["type"], "object", "{}", stream.name);
        for key in stream.key_properties.iter().chain(stream.replication_key.iter()) {
            assert!(
                schema["properties"].get(*key).is_some(),
                "{}: no property `{key}`",
                stream.name
            );
        }
    }
}
