//! The catalog: what discovery prints (every stream with its schema and full metadata), and
//! what a sync reads back (which streams and fields are selected).
//!
//! Selection follows the Singer spec and the Meltano SDK: a stream is selected by
//! `selected: true` in its stream-level metadata (or the legacy `schema.selected`); a field
//! is kept unless its metadata says `selected: false` (or legacy
//! `schema.properties.<f>.selected: false`); key and replication-key fields are `automatic`
//! and always kept. Without a catalog, streams selected by default are synced whole.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;
use serde_json::{json, Map, Value};

/// How a stream describes itself to the protocol layer.
#[derive(Debug, Clone)]
pub struct StreamDescription {
    /// The stream name (`tap_stream_id`).
    pub name: &'static str,
    /// The primary key fields.
    pub key_properties: &'static [&'static str],
    /// The replication key, for INCREMENTAL streams.
    pub replication_key: Option<&'static str>,
    /// Whether a sync without a catalog includes it.
    pub selected_by_default: bool,
    /// The record JSON Schema.
    pub schema: Value,
}

impl StreamDescription {
    /// `INCREMENTAL` or `FULL_TABLE`.
    pub fn replication_method(&self) -> &'static str {
        if self.replication_key.is_some() {
            "INCREMENTAL"
        } else {
            "FULL_TABLE"
        }
    }

    fn is_automatic(&self, field: &str) -> bool {
        self.key_properties.contains(&field) || self.replication_key == Some(field)
    }
}

/// The catalog discovery prints: one entry per stream with its schema and metadata.
pub fn discover(streams: &[StreamDescription]) -> Value {
    let entries: Vec<Value> = streams
        .iter()
        .map(|s| {
            let mut metadata = vec![json!({
                "breadcrumb": [],
                "metadata": {
                    "inclusion": "available",
                    "selected-by-default": s.selected_by_default,
                    "table-key-properties": s.key_properties,
                    "valid-replication-keys": s.replication_key.into_iter().collect::<Vec<_>>(),
                    "forced-replication-method": s.replication_method(),
                }
            })];
            if let Some(props) = s.schema["properties"].as_object() {
                for field in props.keys() {
                    let inclusion = if s.is_automatic(field) {
                        "automatic"
                    } else {
                        "available"
                    };
                    metadata.push(json!({
                        "breadcrumb": ["properties", field],
                        "metadata": {"inclusion": inclusion}
                    }));
                }
            }
            let mut entry = json!({
                "tap_stream_id": s.name,
                "stream": s.name,
                "schema": s.schema,
                "key_properties": s.key_properties,
                "replication_method": s.replication_method(),
                "metadata": metadata,
            });
            if let Some(key) = s.replication_key {
                entry["replication_key"] = json!(key);
            }
            entry
        })
        .collect();
    json!({ "streams": entries })
}

/// A catalog file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("cannot read catalog file `{path}`: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The file is not a catalog.
    #[error("catalog file `{path}` is not a Singer catalog ({reason}); expected {{\"streams\": [{{\"tap_stream_id\": \"…\", \"schema\": {{…}}, \"metadata\": [{{\"breadcrumb\": [], \"metadata\": {{\"selected\": true}}}}]}}]}}")]
    Shape {
        /// The file.
        path: String,
        /// What is wrong and where.
        reason: String,
    },
    /// The catalog names a stream this tap does not have.
    #[error(
        "catalog file `{path}` names stream `{stream}`, which this tap does not have (streams: {known})"
    )]
    UnknownStream {
        /// The file.
        path: String,
        /// The unknown name.
        stream: String,
        /// The streams that exist.
        known: String,
    },
}

#[derive(Debug, Deserialize)]
struct CatalogFile {
    streams: Vec<CatalogEntry>,
}

#[derive(Debug, Deserialize)]
struct CatalogEntry {
    #[serde(default)]
    tap_stream_id: Option<String>,
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    schema: Option<Map<String, Value>>,
    #[serde(default)]
    metadata: Vec<MetadataEntry>,
}

#[derive(Debug, Deserialize)]
struct MetadataEntry {
    breadcrumb: Vec<String>,
    metadata: Map<String, Value>,
}

/// What to sync: the selected streams, in registry order, each with its field selection.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The selected streams.
    pub streams: Vec<StreamSelection>,
}

/// One selected stream and the fields left out of its SCHEMA and RECORDs.
#[derive(Debug, Clone)]
pub struct StreamSelection {
    /// The stream name.
    pub name: &'static str,
    /// Top-level fields deselected by the catalog.
    pub deselected: BTreeSet<String>,
}

impl StreamSelection {
    /// The stream's schema without the deselected fields.
    pub fn schema(&self, full: &Value) -> Value {
        let mut schema = full.clone();
        if let Some(props) = schema["properties"].as_object_mut() {
            props.retain(|k, _| !self.deselected.contains(k));
        }
        if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
            required.retain(|k| k.as_str().is_none_or(|k| !self.deselected.contains(k)));
        }
        schema
    }
}

impl Selection {
    /// Every stream selected by default, whole.
    pub fn by_default(streams: &[StreamDescription]) -> Selection {
        Selection {
            streams: streams
                .iter()
                .filter(|s| s.selected_by_default)
                .map(|s| StreamSelection {
                    name: s.name,
                    deselected: BTreeSet::new(),
                })
                .collect(),
        }
    }

    /// The selection a catalog file makes.
    pub fn from_catalog_file(path: &Path, streams: &[StreamDescription]) -> Result<Selection, CatalogError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| CatalogError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        Self::from_catalog_text(&shown, &text, streams)
    }

    /// The selection a catalog document makes; `path` is only for messages.
    pub fn from_catalog_text(
        path: &str,
        text: &str,
        streams: &[StreamDescription],
    ) -> Result<Selection, CatalogError> {
        let shape = |reason: String| CatalogError::Shape {
            path: path.to_string(),
            reason,
        };
        let mut de = serde_json::Deserializer::from_str(text);
        let file: CatalogFile = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let at = e.path().to_string();
            if at.is_empty() || at == "." {
                shape(e.inner().to_string())
            } else {
                shape(format!("at `{at}`: {}", e.inner()))
            }
        })?;
        let mut chosen: Vec<StreamSelection> = Vec::new();
        for (i, entry) in file.streams.iter().enumerate() {
            let Some(name) = entry.tap_stream_id.as_ref().or(entry.stream.as_ref()) else {
                return Err(shape(format!("`streams[{i}]` has no `tap_stream_id`")));
            };
            let Some(description) = streams.iter().find(|s| s.name == name) else {
                return Err(CatalogError::UnknownStream {
                    path: path.to_string(),
                    stream: name.clone(),
                    known: streams.iter().map(|s| s.name).collect::<Vec<_>>().join(", "),
                });
            };
            if !entry.is_selected() || chosen.iter().any(|c| c.name == description.name) {
                continue;
            }
            let deselected = entry
                .deselected_fields()
                .into_iter()
                .filter(|f| !description.is_automatic(f))
                .collect();
            chosen.push(StreamSelection {
                name: description.name,
                deselected,
            });
        }
        // Registry order, whatever the file's order: parents' listings are shared and the
        // output stays predictable.
        let ordered = streams
            .iter()
            .filter_map(|s| chosen.iter().find(|c| c.name == s.name).cloned())
            .collect();
        Ok(Selection { streams: ordered })
    }
}

impl CatalogEntry {
    fn stream_metadata(&self) -> Option<&Map<String, Value>> {
        self.metadata
            .iter()
            .find(|m| m.breadcrumb.is_empty())
            .map(|m| &m.metadata)
    }

    fn is_selected(&self) -> bool {
        if let Some(selected) = self.stream_metadata().and_then(|m| m.get("selected")) {
            return selected.as_bool() == Some(true);
        }
        self.schema
            .as_ref()
            .and_then(|s| s.get("selected"))
            .and_then(Value::as_bool)
            == Some(true)
    }

    fn deselected_fields(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for m in &self.metadata {
            if let [properties, field] = m.breadcrumb.as_slice() {
                let unsupported = m.metadata.get("inclusion").and_then(Value::as_str) == Some("unsupported");
                if properties == "properties"
                    && (m.metadata.get("selected").and_then(Value::as_bool) == Some(false) || unsupported)
                {
                    out.insert(field.clone());
                }
            }
        }
        if let Some(props) = self
            .schema
            .as_ref()
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
        {
            for (field, schema) in props {
                if schema.get("selected").and_then(Value::as_bool) == Some(false) {
                    out.insert(field.clone());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streams() -> Vec<StreamDescription> {
        let schema = json!({"type": "object", "properties": {"id": {}, "updated_on": {}, "title": {}, "body": {}}, "required": ["id", "title"]});
        vec![
            StreamDescription {
                name: "a",
                key_properties: &["id"],
                replication_key: Some("updated_on"),
                selected_by_default: true,
                schema: schema.clone(),
            },
            StreamDescription {
                name: "b",
                key_properties: &["id"],
                replication_key: None,
                selected_by_default: false,
                schema,
            },
        ]
    }

    #[test]
    fn discovery_marks_keys_automatic() {
        let catalog = discover(&streams());
        let meta = &catalog["streams"][0]["metadata"];
        assert_eq!(meta[0]["metadata"]["forced-replication-method"], "INCREMENTAL");
        assert_eq!(
            meta[0]["metadata"]["valid-replication-keys"],
            json!(["updated_on"])
        );
        let inclusion = |f: &str| {
            meta.as_array()
                .unwrap()
                .iter()
                .find(|m| m["breadcrumb"] == json!(["properties", f]))
                .unwrap()["metadata"]["inclusion"]
                .clone()
        };
        assert_eq!(inclusion("id"), "automatic");
        assert_eq!(inclusion("updated_on"), "automatic");
        assert_eq!(inclusion("title"), "available");
    }

    #[test]
    fn selection_reads_metadata_and_legacy_schema() {
        let text = json!({"streams": [
            {"tap_stream_id": "b", "schema": {"selected": true, "properties": {"body": {"selected": false}}}, "metadata": []},
            {"tap_stream_id": "a", "schema": {}, "metadata": [
                {"breadcrumb": [], "metadata": {"selected": true}},
                {"breadcrumb": ["properties", "title"], "metadata": {"selected": false}},
                {"breadcrumb": ["properties", "id"], "metadata": {"selected": false}}
            ]}
        ]})
        .to_string();
        let sel = Selection::from_catalog_text("c.json", &text, &streams()).unwrap();
        assert_eq!(sel.streams.iter().map(|s| s.name).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(sel.streams[0].deselected, BTreeSet::from(["title".to_string()]));
        assert_eq!(sel.streams[1].deselected, BTreeSet::from(["body".to_string()]));
        let schema = sel.streams[0].schema(&streams()[0].schema);
        assert!(schema["properties"].get("title").is_none());
        assert_eq!(schema["required"], json!(["id"]));
    }

    #[test]
    fn unknown_stream_and_bad_shape_are_errors() {
        let err =
            Selection::from_catalog_text("c.json", r#"{"streams":[{"tap_stream_id":"zzz"}]}"#, &streams())
                .unwrap_err()
                .to_string();
        assert!(err.contains("`zzz`") && err.contains("c.json"), "{err}");
        let err = Selection::from_catalog_text("c.json", r#"{"streams":{}}"#, &streams())
            .unwrap_err()
            .to_string();
        assert!(err.contains("streams"), "{err}");
        let err = Selection::from_catalog_text("c.json", "not json", &streams())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a Singer catalog"), "{err}");
    }
}
