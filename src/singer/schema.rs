//! JSON Schema for record types, in the form Singer targets read: draft-07, every subschema
//! inlined (targets do not resolve `$ref`), optional fields typed `[T, "null"]`, describing
//! the record as serialized.

use schemars::generate::{Contract, SchemaSettings};
use schemars::JsonSchema;
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[allow(dead_code)]
    #[derive(Serialize, JsonSchema)]
    struct Inner {
        name: String,
    }

    #[allow(dead_code)]
    #[derive(Serialize, JsonSchema)]
    struct Outer {
        id: i64,
        when: Option<chrono::DateTime<chrono::Utc>>,
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
