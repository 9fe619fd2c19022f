//! JSON Schema for record types, in the form Singer targets read: draft-07, every subschema
//! inlined (targets do not resolve `$ref`), optional fields typed `[T, "null"]`, integers
//! bounded by their Rust type, describing the record as serialized.

use schemars::generate::{Contract, SchemaSettings};
use schemars::transform::RecursiveTransform;
use schemars::{JsonSchema, Schema};
use serde_json::Value;

/// The Singer-ready JSON Schema of a record type.
pub fn record_schema<T: JsonSchema>() -> Value {
    let mut settings = SchemaSettings::draft07().with_transform(RecursiveTransform(bound_integers));
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

/// Gives an integer subschema the range of its Rust type (`minimum`/`maximum`, from the
/// `format` schemars writes), because SQL targets choose the column type from it: without a
/// `maximum`, target-duckdb makes every integer a 128-bit `HUGEINT`; with `i64`'s, a
/// `BIGINT`, as target-postgres does. `uint64` and the pointer-sized formats stay unbounded
/// (above `i64::MAX` a target could not use `BIGINT` anyway).
fn bound_integers(schema: &mut Schema) {
    let (min, max): (i64, i64) = match schema.get("format").and_then(Value::as_str) {
        Some("int8") => (i8::MIN.into(), i8::MAX.into()),
        Some("int16") => (i16::MIN.into(), i16::MAX.into()),
        Some("int32") => (i32::MIN.into(), i32::MAX.into()),
        Some("int64") => (i64::MIN, i64::MAX),
        Some("uint8") => (0, u8::MAX.into()),
        Some("uint16") => (0, u16::MAX.into()),
        Some("uint32") => (0, u32::MAX.into()),
        _ => return,
    };
    let is_integer = match schema.get("type") {
        Some(Value::String(t)) => t == "integer",
        Some(Value::Array(types)) => types.iter().any(|t| t == "integer"),
        _ => false,
    };
    if let (true, Some(object)) = (is_integer, schema.as_object_mut()) {
        object.entry("minimum").or_insert(min.into());
        object.entry("maximum").or_insert(max.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use serde_json::json;

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
        count: Option<u32>,
        huge: u64,
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

    #[test]
    fn integers_carry_the_range_of_their_rust_type() {
        let schema = record_schema::<Outer>();
        let id = &schema["properties"]["id"];
        assert_eq!(
            (&id["minimum"], &id["maximum"]),
            (&json!(i64::MIN), &json!(i64::MAX))
        );
        let count = &schema["properties"]["count"];
        assert_eq!(count["type"], json!(["integer", "null"]));
        assert_eq!(
            (&count["minimum"], &count["maximum"]),
            (&json!(0), &json!(u32::MAX))
        );
        // Beyond i64 no SQL BIGINT holds it: left unbounded.
        assert_eq!(schema["properties"]["huge"].get("maximum"), None);
    }
}
