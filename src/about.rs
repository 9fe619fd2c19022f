//! `--about`: what the tap is, in the Meltano Singer SDK's shape, so that a Meltano plugin
//! definition (or a Hub entry) can be generated from it and checked against it.
//!
//! Three formats, as in the SDK: `text` (the default), `json` (`name`, `description`,
//! `version`, `sdk_version`, `supported_python_versions`, `capabilities`, `settings`) and
//! `markdown` (a settings table for the README). Everything comes from one place:
//! [`RawConfig`] is the definition of the settings (its doc comments are the descriptions, its
//! JSON Schema gives the types, defaults and `secret` marks), and [`CAPABILITIES`] lists
//! only what the binary implements.

use std::io::Write;

use clap::ValueEnum;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::config::{RawConfig, ENV_PREFIX};
use crate::error::Error;
use crate::singer::WriteError;

/// The plugin name, as Meltano and the SDK call it.
pub const NAME: &str = "tap-bitbucket";

/// What the tap implements, in the SDK's capability names: `catalog` and `properties`
/// (selection files), `discover`, `state` (incremental bookmarks), `about` and `test`.
pub const CAPABILITIES: &[&str] = &["catalog", "properties", "discover", "state", "about", "test"];

/// How `--about` prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum AboutFormat {
    /// Human-readable lines, like the SDK's text format.
    #[default]
    Text,
    /// One JSON document in the SDK's shape.
    Json,
    /// Markdown: capabilities and a settings table, for a README.
    Markdown,
}

/// The JSON type of a setting (the non-null member of its schema's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingType {
    /// A string.
    String,
    /// An RFC 3339 date or date-time string.
    DateTime,
    /// An integer.
    Integer,
    /// A boolean.
    Boolean,
    /// A list of strings.
    Array,
    /// A JSON object.
    Object,
}

impl SettingType {
    fn from_schema(schema: &Value) -> SettingType {
        let base = match &schema["type"] {
            Value::String(t) => t.as_str(),
            Value::Array(types) => types
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("string"),
            _ => "string",
        };
        match base {
            "integer" | "number" => SettingType::Integer,
            "boolean" => SettingType::Boolean,
            "array" => SettingType::Array,
            "object" => SettingType::Object,
            _ if schema["format"] == "date-time" => SettingType::DateTime,
            _ => SettingType::String,
        }
    }

    /// The type as the settings table shows it.
    pub fn label(self) -> &'static str {
        match self {
            SettingType::String => "string",
            SettingType::DateTime => "date-time",
            SettingType::Integer => "integer",
            SettingType::Boolean => "boolean",
            SettingType::Array => "array of strings",
            SettingType::Object => "object",
        }
    }

    /// The Meltano setting `kind` for this type.
    pub fn meltano_kind(self) -> &'static str {
        match self {
            SettingType::String => "string",
            SettingType::DateTime => "date_iso8601",
            SettingType::Integer => "integer",
            SettingType::Boolean => "boolean",
            SettingType::Array => "array",
            SettingType::Object => "object",
        }
    }
}

/// One setting, as the text and markdown formats (and a Meltano plugin definition) list it.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The config key.
    pub name: String,
    /// Its type.
    pub kind: SettingType,
    /// Its default, when the schema states one.
    pub default: Option<Value>,
    /// Whether it is a secret (never printed; `sensitive` in Meltano).
    pub secret: bool,
    /// What it means (the doc comment of its [`RawConfig`] field).
    pub description: String,
    /// The variable `--config ENV` reads it from.
    pub env_var: String,
}

/// The settings as JSON Schema, generated from [`RawConfig`]: types, defaults, descriptions,
/// and `secret: true` / `writeOnly: true` on secrets.
pub fn settings_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(RawConfig)).unwrap_or_else(|_| json!({}))
}

/// Every setting, in the order [`RawConfig`] declares them (its JSON Schema is sorted by
/// name; the declaration order groups related keys, such as each auth method's pair).
pub fn settings() -> Vec<Setting> {
    let schema = settings_schema();
    let empty = Map::new();
    let properties = schema["properties"].as_object().unwrap_or(&empty);
    let mut names: Vec<&str> = declared_keys()
        .iter()
        .copied()
        .filter(|k| properties.contains_key(*k))
        .collect();
    // Anything the declaration order does not name still appears, at the end.
    let rest: Vec<&str> = properties
        .keys()
        .map(String::as_str)
        .filter(|k| !names.contains(k))
        .collect();
    names.extend(rest);
    names
        .into_iter()
        .map(|name| {
            let property = &properties[name];
            Setting {
                name: name.to_string(),
                kind: SettingType::from_schema(property),
                default: property.get("default").cloned(),
                secret: property["secret"] == true || property["writeOnly"] == true,
                description: one_line(property["description"].as_str().unwrap_or_default()),
                env_var: env_var(name),
            }
        })
        .collect()
}

/// The environment variable `--config ENV` reads a setting from.
pub fn env_var(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
}

/// The `--about --format json` document, with the Meltano SDK's keys in the SDK's order.
#[derive(Debug, Serialize)]
pub struct AboutInfo {
    /// The plugin name.
    pub name: &'static str,
    /// What the tap extracts.
    pub description: &'static str,
    /// The tap's version.
    pub version: &'static str,
    /// This implementation's name and version (see [`sdk_version`]).
    pub sdk_version: String,
    /// Always `null`: a compiled binary needs no Python.
    pub supported_python_versions: Option<Vec<String>>,
    /// [`CAPABILITIES`].
    pub capabilities: &'static [&'static str],
    /// [`settings_schema`].
    pub settings: Value,
}

/// What `--about` describes.
pub fn about_info() -> AboutInfo {
    AboutInfo {
        name: NAME,
        description: env!("CARGO_PKG_DESCRIPTION"),
        version: env!("CARGO_PKG_VERSION"),
        sdk_version: sdk_version(),
        supported_python_versions: None,
        capabilities: CAPABILITIES,
        settings: settings_schema(),
    }
}

/// What stands in the SDK's `sdk_version`: this implementation's name and version (there is
/// no Python SDK underneath).
pub fn sdk_version() -> String {
    format!("{NAME}-rs {}", env!("CARGO_PKG_VERSION"))
}

/// The settings table in markdown, with a line on environment variables. docs/configuration.md holds
/// exactly this text between its generated-block markers.
pub fn settings_markdown() -> String {
    let mut out = String::from(
        "| setting | type | default | secret | environment variable | description |\n\
         |---|---|---|---|---|---|\n",
    );
    for s in settings() {
        let default = match &s.default {
            None => "—".to_string(),
            Some(Value::String(text)) => format!("`{text}`"),
            Some(other) => format!("`{other}`"),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | `{}` | {} |\n",
            s.name,
            s.kind.label(),
            default,
            if s.secret { "yes" } else { "" },
            s.env_var,
            s.description.replace('|', "\\|"),
        ));
    }
    out.push_str(&format!(
        "\nWith `--config ENV`, each setting is read from its environment variable \
         (`{ENV_PREFIX}<SETTING>`); objects are written as JSON, lists as JSON or \
         comma-separated (`{ENV_PREFIX}WORKSPACES='[\"acme\"]'` or `acme,globex`). `{NAME} --about --format json` prints these \
         settings as JSON Schema.\n"
    ));
    out
}

/// Renders `--about` in a format.
pub fn render(format: AboutFormat) -> String {
    match format {
        AboutFormat::Json => {
            serde_json::to_string_pretty(&about_info()).unwrap_or_else(|_| "{}".into()) + "\n"
        }
        AboutFormat::Markdown => render_markdown(),
        AboutFormat::Text => render_text(),
    }
}

/// Prints `--about` on stdout.
pub fn print(format: AboutFormat) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(render(format).as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::Write(WriteError::Io(e)))
}

fn render_text() -> String {
    let mut out = format!(
        "Name: {NAME}\nDescription: {}\nVersion: {}\nSDK Version: {}\nCapabilities:\n",
        env!("CARGO_PKG_DESCRIPTION"),
        env!("CARGO_PKG_VERSION"),
        sdk_version()
    );
    for c in CAPABILITIES {
        out.push_str(&format!("  - {c}\n"));
    }
    out.push_str("Settings:\n");
    for s in settings() {
        out.push_str(&format!("  - Name: {}\n    Type: {}\n", s.name, s.kind.label()));
        if let Some(default) = &s.default {
            let default = match default {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            out.push_str(&format!("    Default: {default}\n"));
        }
        if s.secret {
            out.push_str("    Secret: yes\n");
        }
        out.push_str(&format!(
            "    Environment Variable: {}\n    Description: {}\n",
            s.env_var, s.description
        ));
    }
    out
}

fn render_markdown() -> String {
    let mut out = format!(
        "# `{NAME}`\n\n{}\n\nVersion {} ({}).\n\n## Capabilities\n\n",
        env!("CARGO_PKG_DESCRIPTION"),
        env!("CARGO_PKG_VERSION"),
        sdk_version()
    );
    for c in CAPABILITIES {
        out.push_str(&format!("- `{c}`\n"));
    }
    out.push_str("\n## Settings\n\n");
    out.push_str(&settings_markdown());
    out
}

/// Joins the lines of a doc comment into one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The config keys in the order [`RawConfig`] declares them, read from its `Deserialize`
/// implementation (the one place that order survives; the schema's map is sorted).
fn declared_keys() -> &'static [&'static str] {
    let mut probe = FieldNames(None);
    // The probe always answers with an error once it has the names; only they matter.
    let _ = RawConfig::deserialize(&mut probe);
    probe.0.unwrap_or(&[])
}

/// A deserializer that only records the field names a struct asks for.
struct FieldNames(Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for &mut FieldNames {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only a struct's field names are read"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = Some(fields);
        Err(de::Error::custom("field names read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_follow_declaration_order_and_cover_every_key() {
        let names: Vec<String> = settings().into_iter().map(|s| s.name).collect();
        assert_eq!(names.first().map(String::as_str), Some("api_url"));
        let mut sorted = names.clone();
        sorted.sort();
        let mut known = crate::config::known_keys();
        known.sort();
        assert_eq!(sorted, known);
        let pos = |k: &str| names.iter().position(|n| n == k).unwrap();
        assert_eq!(pos("api_token"), pos("email") + 1);
    }

    #[test]
    fn types_defaults_and_secrets_come_from_the_schema() {
        let all = settings();
        let get = |k: &str| all.iter().find(|s| s.name == k).unwrap().clone();
        assert_eq!(get("start_date").kind, SettingType::DateTime);
        assert_eq!(get("workspaces").kind, SettingType::Array);
        assert_eq!(get("max_concurrency").kind, SettingType::Integer);
        assert_eq!(get("max_concurrency").default, Some(json!(4)));
        assert_eq!(get("activate_version").kind, SettingType::Boolean);
        assert!(get("access_token").secret);
        assert!(get("client_secret").secret);
        assert!(!get("email").secret);
        assert_eq!(get("api_url").env_var, "TAP_BITBUCKET_API_URL");
    }

    #[test]
    fn markdown_rows_match_settings() {
        let table = settings_markdown();
        assert_eq!(
            table.lines().filter(|l| l.starts_with("| `")).count(),
            settings().len()
        );
        assert!(table.contains("| `access_token` | string | — | yes | `TAP_BITBUCKET_ACCESS_TOKEN` |"));
    }
}
