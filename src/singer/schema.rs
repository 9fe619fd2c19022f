//! JSON Schema for record types, in the form Singer targets read: draft-07, every subschema
//! inlined (targets do not resolve `$ref`), optional fields typed `[T, "null"]`, describing
//! the record as serialized.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use schemars::generate::{Contract, SchemaSettings};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The Singer-ready JSON Schema of a record type.
pub fn record_schema<T: JsonSchema>() -> Value {
    let mut settings = SchemaSettings::draft07();
    settings.inline_subschemas = true;
    settings.contract = Contract::Serialize;
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut value = schema.to_value();
    if let Some(map) = value.as_object_mut() {
        map.remove("definitions");
        map.remove("$defs");
    }
    value
}

/// A timestamp exactly as the API wrote it (`2026-03-04T10:11:12.123456+00:00`): kept as
/// text so records carry the server's value unchanged, typed `date-time` in the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub String);

impl Timestamp {
    /// The instant, when the text is RFC 3339.
    pub fn parse(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.0)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "format": "date-time"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(dead_code)]
    #[derive(Serialize, JsonSchema)]
    struct Inner {
        name: String,
    }

    #[allow(dead_code)]
    #[derive(Serialize, JsonSchema)]
    struct Outer {
        id: i64,
        when: Option<Timestamp>,
        inner: Option<Inner>,
        list: Vec<Inner>,
    }

    #[test]
    fn schema_is_inlined_and_nullable() {
        let schema = record_schema::<Outer>();
        let text = schema.to_string();
        assert!(!text.contains("$ref") && !text.contains("definitions"), "{text}");
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
        assert_eq!(
            schema["properties"]["when"]["type"],
            serde_json::json!(["string", "null"])
        );
        assert_eq!(schema["properties"]["when"]["format"], "date-time");
        assert_eq!(
            schema["properties"]["inner"]["type"],
            serde_json::json!(["object", "null"])
        );
        assert_eq!(
            schema["properties"]["list"]["items"]["properties"]["name"]["type"],
            "string"
        );
    }
}
