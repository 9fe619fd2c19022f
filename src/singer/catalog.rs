//! The catalog: what discovery prints (every stream with its schema and full metadata), and
//! what a sync reads back (which streams and fields are selected).
//!
//! Selection is resolved as the Meltano SDK resolves it (`MetadataMapping._breadcrumb_is_selected`),
//! so a catalog that `--discover` printed, passed back unchanged, syncs the streams selected
//! by default. For the stream (breadcrumb `[]`) and for each field (`["properties", f]`, or
//! nested: `["properties", f, "properties", g]`), the first rule that applies decides:
//!
//! 1. `inclusion: unsupported` → not selected; `inclusion: automatic` → selected;
//! 2. an explicit `selected` → that value (for older catalogs without it in the metadata,
//!    the legacy `schema.selected` / `schema.properties.<f>.selected`);
//! 3. `selected-by-default` → that value;
//! 4. else the parent's value: a field follows its stream; a stream has no parent, so it is
//!    not selected, except when its entry has no metadata at all (the SDK's "no metadata to
//!    say otherwise": selected).
//!
//! The tap's own key and replication-key fields are always kept, whatever the catalog says
//! (discovery marks them `automatic`). Without a catalog, the streams selected by default are
//! synced whole.

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
    /// The fields deselected by the catalog.
    pub deselected: Deselected,
}

impl StreamSelection {
    /// The stream's schema without the deselected fields.
    pub fn schema(&self, full: &Value) -> Value {
        let mut schema = full.clone();
        self.deselected.prune_schema(&mut schema);
        schema
    }
}

/// The fields a catalog leaves out of a stream: each named by its breadcrumb, a top-level
/// field (`["properties", "summary"]`) or one nested in an object (`["properties", "links",
/// "properties", "html"]`) or in the objects of a list (`[…, "items", "properties", …]`);
/// none inside another. Records and the SCHEMA lose the same fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deselected(BTreeSet<Vec<String>>);

impl Deselected {
    /// These top-level fields left out, as a catalog deselecting each would.
    pub fn fields<'a>(fields: impl IntoIterator<Item = &'a str>) -> Self {
        Deselected(
            fields
                .into_iter()
                .map(|f| vec!["properties".to_string(), f.to_string()])
                .collect(),
        )
    }

    /// Whether every field is kept.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The deselected top-level fields (those whose breadcrumb is `["properties", f]`).
    pub fn top_level(&self) -> BTreeSet<&str> {
        self.0
            .iter()
            .filter_map(|crumb| match crumb.as_slice() {
                [properties, field] if properties == "properties" => Some(field.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Removes the deselected fields from one record.
    pub fn prune_record(&self, record: &mut Value) {
        for crumb in &self.0 {
            remove_at(record, crumb);
        }
    }

    /// Removes the deselected fields (and their `required` entries) from a stream's schema.
    pub fn prune_schema(&self, schema: &mut Value) {
        for crumb in &self.0 {
            let [parent @ .., properties, field] = crumb.as_slice() else {
                continue;
            };
            if properties != "properties" {
                continue;
            }
            let Some(holder) = parent
                .iter()
                .try_fold(&mut *schema, |node, step| node.get_mut(step))
            else {
                continue;
            };
            if let Some(props) = holder.get_mut("properties").and_then(Value::as_object_mut) {
                props.remove(field);
            }
            if let Some(required) = holder.get_mut("required").and_then(Value::as_array_mut) {
                required.retain(|k| k.as_str() != Some(field));
            }
        }
    }
}

/// Removes the field a breadcrumb names from a record (every element's, through `items`).
fn remove_at(value: &mut Value, crumb: &[String]) {
    match crumb {
        [properties, field] if properties == "properties" => {
            if let Some(map) = value.as_object_mut() {
                map.remove(field);
            }
        }
        [properties, field, rest @ ..] if properties == "properties" => {
            if let Some(inner) = value.get_mut(field) {
                remove_at(inner, rest);
            }
        }
        [items, rest @ ..] if items == "items" => {
            if let Some(list) = value.as_array_mut() {
                for element in list {
                    remove_at(element, rest);
                }
            }
        }
        _ => {}
    }
}

/// Whether a breadcrumb names a field of a schema: `properties`/name pairs and `items`, each
/// step present.
fn names_a_field(schema: &Value, crumb: &[String]) -> bool {
    let well_formed =
        crumb.last().is_some_and(|_| crumb.len() >= 2) && crumb[crumb.len() - 2] == "properties";
    well_formed
        && crumb
            .iter()
            .try_fold(schema, |node, step| node.get(step))
            .is_some()
}

impl Selection {
    /// Whether no stream is selected: a sync would have nothing to do.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Every stream selected by default, whole.
    pub fn by_default(streams: &[StreamDescription]) -> Selection {
        Selection {
            streams: streams
                .iter()
                .filter(|s| s.selected_by_default)
                .map(|s| StreamSelection {
                    name: s.name,
                    deselected: Deselected::default(),
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
        // As the SDK reads a catalog: by stream name, a later entry replacing an earlier one.
        let mut entries: Vec<(&'static str, &CatalogEntry)> = Vec::new();
        for (i, entry) in file.streams.iter().enumerate() {
            let Some(name) = entry.tap_stream_id.as_ref().or(entry.stream.as_ref()) else {
                return Err(shape(format!("`streams[{i}]` has no `tap_stream_id`")));
            };
            if let Some(at) = entry.non_boolean_selection() {
                return Err(shape(format!(
                    "at `streams[{i}].{at}`: `selected` must be true or false"
                )));
            }
            let Some(description) = streams.iter().find(|s| s.name == name) else {
                if !entry.is_selected() {
                    tracing::warn!(
                        "Catalog file `{path}` names stream `{name}`, which this tap does not have; it is not selected, so it is ignored."
                    );
                    continue;
                }
                return Err(CatalogError::UnknownStream {
                    path: path.to_string(),
                    stream: name.clone(),
                    known: streams.iter().map(|s| s.name).collect::<Vec<_>>().join(", "),
                });
            };
            if let Some(slot) = entries.iter_mut().find(|(n, _)| *n == description.name) {
                tracing::warn!(
                    "Catalog file `{path}` lists stream `{name}` more than once; the last entry is used."
                );
                slot.1 = entry;
            } else {
                entries.push((description.name, entry));
            }
        }
        let mut chosen: Vec<StreamSelection> = Vec::new();
        for (name, entry) in entries {
            let description = streams.iter().find(|s| s.name == name).expect("found above");
            if !entry.is_selected() {
                continue;
            }
            let unknown = entry.unknown_breadcrumbs(&description.schema);
            if !unknown.is_empty() {
                tracing::warn!(
                    "Catalog file `{path}` has metadata for {} of stream `{name}`, which its records do not have; ignored.",
                    unknown.join(", ")
                );
            }
            // Only fields the records have: a breadcrumb naming no field changes nothing, and
            // records and SCHEMA must lose the same fields.
            let deselected = entry
                .deselected_fields()
                .into_iter()
                .filter(|crumb| names_a_field(&description.schema, crumb))
                .filter(|crumb| !matches!(crumb.as_slice(), [_, f] if description.is_automatic(f)))
                .collect();
            chosen.push(StreamSelection {
                name: description.name,
                deselected: Deselected(deselected),
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
    /// The metadata of one breadcrumb (`[]` for the stream, `["properties", f]` for a field);
    /// the last entry when several name it, as the SDK reads them.
    fn metadata_at(&self, breadcrumb: &[&str]) -> Option<&Map<String, Value>> {
        self.metadata
            .iter()
            .rev()
            .find(|m| {
                m.breadcrumb
                    .iter()
                    .map(String::as_str)
                    .eq(breadcrumb.iter().copied())
            })
            .map(|m| &m.metadata)
    }

    /// The legacy selection written in the schema: `schema.selected`, or
    /// `schema.properties.<field>.selected`.
    fn legacy_selected(&self, field: Option<&str>) -> Option<bool> {
        let schema = self.schema.as_ref()?;
        let holder = match field {
            None => schema,
            Some(f) => schema.get("properties")?.get(f)?.as_object()?,
        };
        holder.get("selected")?.as_bool()
    }

    /// Whether the stream is selected (see the module documentation for the rules).
    fn is_selected(&self) -> bool {
        let inherited = self.metadata.is_empty();
        resolve(self.metadata_at(&[]), self.legacy_selected(None), inherited)
    }

    /// The fields the catalog leaves out of a selected stream, as breadcrumbs: every field
    /// named in its metadata (at any depth) or in its legacy schema (top level) whose
    /// resolution is "not selected", except those inside a field already left out.
    fn deselected_fields(&self) -> BTreeSet<Vec<String>> {
        let mut named: BTreeSet<Vec<String>> = BTreeSet::new();
        for m in &self.metadata {
            if m.breadcrumb.len() >= 2 && m.breadcrumb[m.breadcrumb.len() - 2] == "properties" {
                named.insert(m.breadcrumb.clone());
            }
        }
        if let Some(props) = self
            .schema
            .as_ref()
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
        {
            named.extend(props.keys().map(|f| vec!["properties".to_string(), f.clone()]));
        }
        let mut out: BTreeSet<Vec<String>> = BTreeSet::new();
        // Shorter breadcrumbs sort first among those sharing a prefix, so a field's parent
        // is decided before it.
        for crumb in named {
            if out.iter().any(|parent| crumb.starts_with(parent)) {
                continue;
            }
            let path: Vec<&str> = crumb.iter().map(String::as_str).collect();
            let legacy = match path.as_slice() {
                ["properties", field] => self.legacy_selected(Some(field)),
                _ => None,
            };
            if !resolve(self.metadata_at(&path), legacy, true) {
                out.insert(crumb);
            }
        }
        out
    }

    /// The path of the first `selected` in the metadata that is neither a boolean nor null
    /// (null is "not set", as in the SDK)
    /// (`metadata[2].metadata.selected`): a catalog edited by hand with `"false"` must not
    /// select what it meant to leave out.
    fn non_boolean_selection(&self) -> Option<String> {
        self.metadata.iter().enumerate().find_map(|(i, m)| {
            m.metadata
                .get("selected")
                .filter(|v| !v.is_boolean() && !v.is_null())
                .map(|_| format!("metadata[{i}].metadata.selected"))
        })
    }

    /// The breadcrumbs of its metadata that name no field of the stream's records (a typo,
    /// or a field of another version), as `["properties", "x"]` texts.
    fn unknown_breadcrumbs(&self, schema: &Value) -> Vec<String> {
        self.metadata
            .iter()
            .filter(|m| !m.breadcrumb.is_empty() && !names_a_field(schema, &m.breadcrumb))
            .map(|m| format!("{:?}", m.breadcrumb))
            .collect()
    }
}

/// The Meltano SDK's rule for one breadcrumb: `inclusion` first (`unsupported` never,
/// `automatic` always), then an explicit `selected` (in the metadata, else the legacy one in
/// the schema), then `selected-by-default`, then what the parent resolved to.
fn resolve(metadata: Option<&Map<String, Value>>, legacy: Option<bool>, parent: bool) -> bool {
    let get = |key: &str| metadata.and_then(|m| m.get(key));
    match get("inclusion").and_then(Value::as_str) {
        Some("unsupported") => return false,
        Some("automatic") => return true,
        _ => {}
    }
    get("selected")
        .and_then(Value::as_bool)
        .or(legacy)
        .or_else(|| get("selected-by-default").and_then(Value::as_bool))
        .unwrap_or(parent)
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
        assert_eq!(sel.streams[0].deselected.top_level(), BTreeSet::from(["title"]));
        assert_eq!(sel.streams[1].deselected.top_level(), BTreeSet::from(["body"]));
        let schema = sel.streams[0].schema(&streams()[0].schema);
        assert!(schema["properties"].get("title").is_none());
        assert_eq!(schema["required"], json!(["id"]));
    }

    fn names(sel: &Selection) -> Vec<&'static str> {
        sel.streams.iter().map(|s| s.name).collect()
    }

    #[test]
    fn a_discovered_catalog_passed_back_unchanged_selects_the_default_streams() {
        let text = discover(&streams()).to_string();
        let sel = Selection::from_catalog_text("c.json", &text, &streams()).unwrap();
        assert_eq!(names(&sel), ["a"], "`a` is selected by default, `b` is not");
        assert!(sel.streams[0].deselected.is_empty());
    }

    #[test]
    fn stream_selection_follows_the_sdk_order_of_rules() {
        let entry = |meta: Value| json!({"tap_stream_id": "a", "schema": {}, "metadata": [{"breadcrumb": [], "metadata": meta}]});
        let selects = |entries: Vec<Value>| {
            let text = json!({ "streams": entries }).to_string();
            !Selection::from_catalog_text("c.json", &text, &streams())
                .unwrap()
                .streams
                .is_empty()
        };
        // An explicit `selected` wins over `selected-by-default`, both ways.
        assert!(!selects(vec![entry(
            json!({"selected": false, "selected-by-default": true})
        )]));
        assert!(selects(vec![entry(
            json!({"selected": true, "selected-by-default": false})
        )]));
        // Else `selected-by-default`; else not selected (a stream has no parent).
        assert!(selects(vec![entry(json!({"selected-by-default": true}))]));
        assert!(!selects(vec![entry(json!({"selected-by-default": false}))]));
        assert!(!selects(vec![entry(json!({"inclusion": "available"}))]));
        // `inclusion` comes first.
        assert!(selects(vec![entry(
            json!({"inclusion": "automatic", "selected": false})
        )]));
        assert!(!selects(vec![entry(
            json!({"inclusion": "unsupported", "selected": true})
        )]));
        // The legacy `schema.selected` counts as an explicit choice.
        let legacy = |selected: bool, meta: Value| json!({"tap_stream_id": "a", "schema": {"selected": selected}, "metadata": meta});
        assert!(!selects(vec![legacy(false, json!([]))]));
        assert!(!selects(vec![legacy(
            false,
            json!([{"breadcrumb": [], "metadata": {"selected-by-default": true}}])
        )]));
        assert!(selects(vec![legacy(
            false,
            json!([{"breadcrumb": [], "metadata": {"selected": true}}])
        )]));
        // No metadata at all: nothing says otherwise, so selected (the SDK's default).
        assert!(selects(vec![json!({"tap_stream_id": "a", "schema": {}})]));
        // Metadata for fields only: the stream itself is not selected.
        assert!(!selects(vec![
            json!({"tap_stream_id": "a", "schema": {}, "metadata": [
                {"breadcrumb": ["properties", "title"], "metadata": {"selected": true}}
            ]})
        ]));
    }

    #[test]
    fn field_selection_follows_the_sdk_order_of_rules_and_keeps_keys() {
        let text = json!({"streams": [{"tap_stream_id": "a", "schema": {"properties": {
            "body": {"selected": false}, "title": {}
        }}, "metadata": [
            {"breadcrumb": [], "metadata": {"selected": true}},
            // Explicit `selected` wins over `selected-by-default` and the legacy schema.
            {"breadcrumb": ["properties", "body"], "metadata": {"selected": true, "selected-by-default": false}},
            // `selected-by-default` when nothing explicit.
            {"breadcrumb": ["properties", "title"], "metadata": {"selected-by-default": false}},
            // Unsupported is never selected, whatever else it says.
            {"breadcrumb": ["properties", "extra"], "metadata": {"inclusion": "unsupported", "selected": true}},
            // The tap's own keys are always kept.
            {"breadcrumb": ["properties", "updated_on"], "metadata": {"inclusion": "unsupported"}},
            {"breadcrumb": ["properties", "id"], "metadata": {"inclusion": "available", "selected": false}},
            // Nothing said about `other`: it follows the stream.
            {"breadcrumb": ["properties", "other"], "metadata": {}}
        ]}]})
        .to_string();
        let sel = Selection::from_catalog_text("c.json", &text, &streams()).unwrap();
        // `extra` is no field of the stream: nothing to leave out.
        assert_eq!(sel.streams[0].deselected.top_level(), BTreeSet::from(["title"]));
    }

    #[test]
    fn nested_fields_are_left_out_of_records_and_schema() {
        let mut described = streams();
        described[0].schema = json!({"type": "object", "required": ["id"], "properties": {
            "id": {}, "updated_on": {},
            "links": {"type": "object", "required": ["self"], "properties": {"self": {}, "html": {}}},
            "reviewers": {"type": "array", "items": {"type": "object", "properties": {"uuid": {}, "links": {}}}}
        }});
        let text = json!({"streams": [{"tap_stream_id": "a", "schema": {}, "metadata": [
            {"breadcrumb": [], "metadata": {"selected": true}},
            {"breadcrumb": ["properties", "links", "properties", "self"], "metadata": {"selected": false}},
            {"breadcrumb": ["properties", "reviewers", "items", "properties", "links"], "metadata": {"selected": false}},
            // Inside a field that stays: kept.
            {"breadcrumb": ["properties", "links", "properties", "html"], "metadata": {"selected": true}},
            // No such field (the schema does not name it): records and SCHEMA keep what they have.
            {"breadcrumb": ["properties", "reviewers", "items", "properties", "nickname"], "metadata": {"selected": false}},
            // Null is "not set".
            {"breadcrumb": ["properties", "updated_on"], "metadata": {"selected": null}}
        ]}]})
        .to_string();
        let sel = Selection::from_catalog_text("c.json", &text, &described).unwrap();
        let mut record = json!({"id": 1, "links": {"self": "s", "html": "h"}, "reviewers": [{"uuid": "u", "links": {}, "nickname": "n"}, {"uuid": "v"}]});
        sel.streams[0].deselected.prune_record(&mut record);
        assert_eq!(
            record,
            json!({"id": 1, "links": {"html": "h"}, "reviewers": [{"uuid": "u", "nickname": "n"}, {"uuid": "v"}]})
        );
        let schema = sel.streams[0].schema(&described[0].schema);
        assert_eq!(
            schema["properties"]["links"],
            json!({"type": "object", "required": [], "properties": {"html": {}}})
        );
        assert_eq!(
            schema["properties"]["reviewers"]["items"]["properties"],
            json!({"uuid": {}})
        );
    }

    #[test]
    fn the_last_of_repeated_entries_decides_as_in_the_sdk() {
        let text = json!({"streams": [
            {"tap_stream_id": "a", "schema": {}, "metadata": [
                {"breadcrumb": [], "metadata": {"selected": true}},
                {"breadcrumb": [], "metadata": {"selected": false}}
            ]},
            {"tap_stream_id": "b", "schema": {}, "metadata": [{"breadcrumb": [], "metadata": {"selected": true}}]},
            {"tap_stream_id": "b", "schema": {}, "metadata": [{"breadcrumb": [], "metadata": {"selected": false}}]},
            {"tap_stream_id": "b", "schema": {}, "metadata": [
                {"breadcrumb": [], "metadata": {"selected": true}},
                {"breadcrumb": ["properties", "title"], "metadata": {"selected": false}}
            ]}
        ]})
        .to_string();
        let sel = Selection::from_catalog_text("c.json", &text, &streams()).unwrap();
        assert_eq!(names(&sel), ["b"]);
        assert_eq!(sel.streams[0].deselected.top_level(), BTreeSet::from(["title"]));
    }

    #[test]
    fn a_selected_that_is_not_a_boolean_is_an_error_naming_it() {
        let text = json!({"streams": [{"tap_stream_id": "a", "schema": {}, "metadata": [
            {"breadcrumb": [], "metadata": {"selected": true}},
            {"breadcrumb": ["properties", "title"], "metadata": {"selected": "false"}}
        ]}]})
        .to_string();
        let err = Selection::from_catalog_text("c.json", &text, &streams())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("streams[0].metadata[1].metadata.selected") && err.contains("true or false"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_stream_left_unselected_is_ignored() {
        let text = json!({"streams": [
            {"tap_stream_id": "gone", "schema": {}, "metadata": [{"breadcrumb": [], "metadata": {"selected": false}}]},
            {"tap_stream_id": "a", "schema": {}, "metadata": [{"breadcrumb": [], "metadata": {"selected": true}}]}
        ]})
        .to_string();
        let sel = Selection::from_catalog_text("c.json", &text, &streams()).unwrap();
        assert_eq!(names(&sel), ["a"]);
    }

    #[test]
    fn a_catalog_selecting_nothing_is_an_empty_selection() {
        let mut catalog = discover(&streams());
        for stream in catalog["streams"].as_array_mut().unwrap() {
            stream["metadata"][0]["metadata"]["selected"] = json!(false);
        }
        let sel = Selection::from_catalog_text("c.json", &catalog.to_string(), &streams()).unwrap();
        assert!(sel.is_empty());
        assert!(!Selection::by_default(&streams()).is_empty());
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
