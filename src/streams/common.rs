//! API object shapes shared by several streams (accounts and users, groups, full and condensed
//! repositories, branches, commits, links), typed leniently: every field the API may omit or
//! null is optional, and fields we do not know are dropped.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::de::{Error as _, Unexpected};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

/// A JSON string exactly as the API sent it (quotes and escapes included), borrowed from the
/// page body. Records pass most strings through untouched, so they are neither decoded into
/// a new allocation nor escaped again on output: written as read. [`Text::to_str`] decodes
/// one when the tap needs its value. Anything but a string is an error naming its path.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(transparent)]
pub struct Text<'a>(&'a RawValue);

impl<'a> Text<'a> {
    /// The string's value.
    pub fn to_str(&self) -> Cow<'a, str> {
        let json = self.0.get();
        let inner = &json[1..json.len() - 1];
        if memchr::memchr(b'\\', inner.as_bytes()).is_none() {
            return Cow::Borrowed(inner);
        }
        // Checked to be a JSON string when it was read, so it decodes.
        Cow::Owned(serde_json::from_str(json).unwrap_or_default())
    }
}

impl std::fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_str())
    }
}

impl PartialEq for Text<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.to_str() == other.to_str()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&RawValue>::deserialize(d)?;
        if !raw.get().starts_with('"') {
            return Err(D::Error::invalid_type(unexpected(raw), &"a string"));
        }
        if may_hold_surrogate(raw.get()) {
            serde_json::from_str::<String>(raw.get()).map_err(D::Error::custom)?;
        }
        Ok(Text(raw))
    }
}

/// Whether the JSON text may hold a `\u` escape of a UTF-16 surrogate (`\uD800`–`\uDFFF`):
/// raw values are only scanned, and only decoding tells a valid pair from a lone half,
/// which is not text and is refused as the decoded fields refuse it.
fn may_hold_surrogate(json: &str) -> bool {
    let bytes = json.as_bytes();
    memchr::memchr_iter(b'\\', bytes).any(|i| {
        matches!(
            bytes.get(i + 1..i + 4),
            Some([b'u', b'd' | b'D', b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F'])
        )
    })
}

/// What kind of JSON value `raw` is, for an error message (never the value itself, which
/// may be huge).
fn unexpected(raw: &RawValue) -> Unexpected<'static> {
    match raw.get().as_bytes().first() {
        Some(b'{') => Unexpected::Map,
        Some(b'[') => Unexpected::Seq,
        Some(b'"') => Unexpected::Other("a string"),
        Some(b't' | b'f') => Unexpected::Other("a boolean"),
        Some(b'n') => Unexpected::Unit,
        _ => Unexpected::Other("a number"),
    }
}

impl JsonSchema for Text<'_> {
    fn schema_name() -> Cow<'static, str> {
        String::schema_name()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

/// A whole number the API sends (an id, a count, a size, seconds), also when a server writes
/// it as a float with no fraction (`3.0`): JSON Schema counts that as an integer, and one
/// such value must not fail a run. A fraction (`2.5`) or any other type is still an error
/// naming its path. Written back as an integer; typed `integer` in the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Int(pub i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Int;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Int, E> {
                // Whole and within i64's range (2^63 itself is not: `<`, not `<=`).
                if v.fract() == 0.0 && v >= -(2f64.powi(63)) && v < 2f64.powi(63) {
                    Ok(Int(v as i64))
                } else {
                    Err(E::invalid_value(Unexpected::Float(v), &self))
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl JsonSchema for Int {
    fn schema_name() -> Cow<'static, str> {
        i64::schema_name()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        i64::json_schema(generator)
    }
}

impl std::fmt::Display for Int {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A file's attributes (`binary`, `lfs`, `link`, `executable`, `subrepository`): Bitbucket
/// sends a list, its API description a single string; either is read, and written as a
/// list.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(transparent)]
pub struct Flags<'a>(pub Vec<Text<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Flags<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&RawValue>::deserialize(d)?;
        if raw.get().starts_with('"') {
            let one: Text<'a> = serde_json::from_str(raw.get()).map_err(D::Error::custom)?;
            return Ok(Flags(vec![one]));
        }
        if !raw.get().starts_with('[') {
            return Err(D::Error::invalid_type(
                unexpected(raw),
                &"a list of strings or a string",
            ));
        }
        serde_json::from_str(raw.get())
            .map(Flags)
            .map_err(D::Error::custom)
    }
}

impl JsonSchema for Flags<'_> {
    fn schema_name() -> Cow<'static, str> {
        <Vec<String>>::schema_name()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Vec<String>>::json_schema(generator)
    }
}

/// A timestamp exactly as the API wrote it (`2026-03-04T10:11:12.123456+00:00`): passed
/// through like any [`Text`], typed `date-time` in the schema.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(transparent, bound(deserialize = "'de: 'a"))]
pub struct Timestamp<'a>(Text<'a>);

impl Timestamp<'_> {
    /// The instant, when the text is RFC 3339.
    pub fn parse(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.0.to_str())
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }
}

impl std::fmt::Display for Timestamp<'_> {
    /// The timestamp exactly as the API wrote it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl JsonSchema for Timestamp<'_> {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "date-time"})
    }
}

/// A `links` object: link names to `{href, name}` (or arrays of them, as `clone`), passed
/// through exactly as the API sent it, borrowed from the page body. The tap never reads
/// links, so they stay JSON text instead of a tree of maps and strings (links are most of a
/// pull request's bytes). Still checked: anything but an object is an error naming its path;
/// a value with line breaks is rewritten without them (a RECORD is one line).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Links<'a>(Cow<'a, RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for Links<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&RawValue>::deserialize(d)?;
        if !raw.get().starts_with('{') {
            return Err(D::Error::invalid_type(unexpected(raw), &"an object of links"));
        }
        if may_hold_surrogate(raw.get()) {
            serde_json::from_str::<Map<String, Value>>(raw.get()).map_err(D::Error::custom)?;
        }
        if memchr::memchr2(b'\n', b'\r', raw.get().as_bytes()).is_some() {
            let value: Map<String, Value> = serde_json::from_str(raw.get()).map_err(D::Error::custom)?;
            return serde_json::value::to_raw_value(&value)
                .map(|owned| Links(Cow::Owned(owned)))
                .map_err(D::Error::custom);
        }
        Ok(Links(Cow::Borrowed(raw)))
    }
}

impl Links<'_> {
    /// The links object as JSON text, for the rare record that reads a link.
    pub fn json(&self) -> &str {
        self.0.get()
    }
}

impl JsonSchema for Links<'_> {
    fn schema_name() -> Cow<'static, str> {
        "Links".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Map<String, Value>>::json_schema(generator)
    }
}

/// A user, team or app user, as embedded in other objects.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct Account<'a> {
    /// `user`, `team` or `app_user`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The account UUID, in braces.
    pub uuid: Option<Text<'a>>,
    /// The Atlassian account id (absent for some non-human actors).
    pub account_id: Option<Text<'a>>,
    /// For an app user (an access token or an app acting in Bitbucket), what kind it is;
    /// sent as `kind` (`type` being `app_user`).
    #[serde(rename = "kind")]
    pub app_user_kind: Option<Text<'a>>,
    /// The display name.
    pub display_name: Option<Text<'a>>,
    /// The nickname.
    pub nickname: Option<Text<'a>>,
    /// The user name (teams and workspaces still carry one; users no longer do).
    pub username: Option<Text<'a>>,
    /// Account status (`active`), on full objects.
    pub account_status: Option<Text<'a>>,
    /// When the account was created (omitted for private profiles).
    pub created_on: Option<Timestamp<'a>>,
    /// Whether two-factor authentication is on (often null).
    pub has_2fa_enabled: Option<bool>,
    /// Whether the account is Atlassian staff.
    pub is_staff: Option<bool>,
    /// The profile's location.
    pub location: Option<Text<'a>>,
    /// The profile's website.
    pub website: Option<Text<'a>>,
    /// Links (`self`, `html`, `avatar`).
    pub links: Option<Links<'a>>,
}

/// A condensed workspace, as embedded in repositories and memberships.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct WorkspaceRef<'a> {
    /// `workspace` (or `workspace_base`).
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The workspace UUID.
    pub uuid: Option<Text<'a>>,
    /// The workspace slug.
    pub slug: Option<Text<'a>>,
    /// The workspace name.
    pub name: Option<Text<'a>>,
    /// Links.
    pub links: Option<Links<'a>>,
}

/// A condensed project.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct ProjectRef<'a> {
    /// `project`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The project key.
    pub key: Option<Text<'a>>,
    /// The project UUID.
    pub uuid: Option<Text<'a>>,
    /// The project name.
    pub name: Option<Text<'a>>,
    /// Links.
    pub links: Option<Links<'a>>,
}

/// A condensed repository, as embedded in pull requests, forks and commits.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RepositoryRef<'a> {
    /// `repository`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The repository UUID.
    pub uuid: Option<Text<'a>>,
    /// `workspace/slug`.
    pub full_name: Option<Text<'a>>,
    /// The repository name.
    pub name: Option<Text<'a>>,
    /// Links.
    pub links: Option<Links<'a>>,
}

/// A condensed pull request, as an activity item or a pipeline names it.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct PullRequestRef<'a> {
    /// `pullrequest`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The pull request id.
    pub id: Option<Int>,
    /// Its title.
    pub title: Option<Text<'a>>,
    /// Its draft flag.
    pub draft: Option<bool>,
    /// Links.
    pub links: Option<Links<'a>>,
}

/// A branch reference.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct BranchRef<'a> {
    /// `branch`, when present.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The branch name.
    pub name: Option<Text<'a>>,
    /// Merge strategies allowed (pull request endpoints).
    pub merge_strategies: Option<Vec<Text<'a>>>,
    /// The default merge strategy (pull request endpoints).
    pub default_merge_strategy: Option<Text<'a>>,
}

/// A commit reference (hash and links).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct CommitRef<'a> {
    /// `commit`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The hash (12 characters in list views, 40 elsewhere).
    pub hash: Option<Text<'a>>,
    /// Links.
    pub links: Option<Links<'a>>,
}

/// Rendered text: the raw markup and its HTML.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RenderedText<'a> {
    /// `rendered`, when present.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The raw text.
    pub raw: Option<Text<'a>>,
    /// The markup language (`markdown`, `creole`, `plaintext`).
    pub markup: Option<Text<'a>>,
    /// The rendered HTML.
    pub html: Option<Text<'a>>,
}

/// A user account as a resource of its own (`GET /user`, `GET /users/{account}`, the watcher
/// list): the fields of [`Account`], but with `uuid` required, because the records built from
/// it are keyed on it.
#[skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct User<'a> {
    /// `user`, `team` or `app_user`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The account UUID, in braces (key).
    pub uuid: Text<'a>,
    /// The Atlassian account id (absent for some non-human actors).
    pub account_id: Option<Text<'a>>,
    /// For an app user (an access token or an app acting in Bitbucket), what kind it is;
    /// sent as `kind` (`type` being `app_user`).
    #[serde(rename = "kind")]
    pub app_user_kind: Option<Text<'a>>,
    /// The display name.
    pub display_name: Option<Text<'a>>,
    /// The nickname.
    pub nickname: Option<Text<'a>>,
    /// The user name (teams and workspaces still carry one; users no longer do).
    pub username: Option<Text<'a>>,
    /// Account status (`active`), on full objects.
    pub account_status: Option<Text<'a>>,
    /// When the account was created (omitted for private profiles).
    pub created_on: Option<Timestamp<'a>>,
    /// Whether two-factor authentication is on (often null).
    pub has_2fa_enabled: Option<bool>,
    /// Whether the account is Atlassian staff.
    pub is_staff: Option<bool>,
    /// The profile's location (omitted for private profiles).
    pub location: Option<Text<'a>>,
    /// The profile's website (omitted for private profiles).
    pub website: Option<Text<'a>>,
    /// Links (`self`, `html`, `avatar`).
    pub links: Option<Links<'a>>,
}

/// A user group of a workspace, as embedded in group permissions and branch restrictions.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct Group<'a> {
    /// `group`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The group name.
    pub name: Option<Text<'a>>,
    /// The group slug (ASCII form of the name, unique in its workspace).
    pub slug: Option<Text<'a>>,
    /// `workspace:slug`.
    pub full_slug: Option<Text<'a>>,
    /// The workspace privilege the group grants its members (`admin`, `collaborator`), as
    /// branch restrictions carry it.
    pub account_privilege: Option<Text<'a>>,
    /// The account owning the group (the workspace, for groups of current workspaces).
    pub owner: Option<Account<'a>>,
    /// The workspace of the group.
    pub workspace: Option<WorkspaceRef<'a>>,
    /// Links (`self`, `html`).
    pub links: Option<Links<'a>>,
}

/// A full repository object, as the fork list and the (removed) global repository list send
/// it.
#[skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct Repository<'a> {
    /// `repository`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The repository UUID (survives renames).
    pub uuid: Text<'a>,
    /// `workspace/slug`.
    pub full_name: Option<Text<'a>>,
    /// The display name.
    pub name: Option<Text<'a>>,
    /// The URL slug.
    pub slug: Option<Text<'a>>,
    /// The description.
    pub description: Option<Text<'a>>,
    /// Whether the repository is private.
    pub is_private: Option<bool>,
    /// `git`.
    pub scm: Option<Text<'a>>,
    /// The owner (deprecated by Bitbucket in favour of `workspace`, still sent).
    pub owner: Option<Account<'a>>,
    /// The workspace.
    pub workspace: Option<WorkspaceRef<'a>>,
    /// The project.
    pub project: Option<ProjectRef<'a>>,
    /// The main branch.
    pub mainbranch: Option<BranchRef<'a>>,
    /// The repository this one was forked from.
    pub parent: Option<RepositoryRef<'a>>,
    /// The main language.
    pub language: Option<Text<'a>>,
    /// Size in bytes.
    pub size: Option<Int>,
    /// Whether the (removed) issue tracker was enabled.
    pub has_issues: Option<bool>,
    /// Whether the (removed) wiki was enabled.
    pub has_wiki: Option<bool>,
    /// `allow_forks`, `no_public_forks` or `no_forks`.
    pub fork_policy: Option<Text<'a>>,
    /// The website.
    pub website: Option<Text<'a>>,
    /// When the repository was created.
    pub created_on: Option<Timestamp<'a>>,
    /// When the repository was last updated.
    pub updated_on: Option<Timestamp<'a>>,
    /// Which workspace or project defaults the repository overrides, by setting name
    /// (`default_merge_strategy`, `branching_model`, …: true when overridden). Undocumented
    /// in the OpenAPI description but sent by Bitbucket; kept as the object it sends, since
    /// its set of names is open.
    pub override_settings: Option<Map<String, Value>>,
    /// Links (`clone` is a list of `{name, href}`).
    pub links: Option<Links<'a>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(json: &str) -> Result<Links<'_>, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn whole_numbers_written_as_floats_are_integers() {
        for (sent, want) in [
            ("3", 3),
            ("3.0", 3),
            ("-2.0", -2),
            ("1e3", 1000),
            ("9007199254740992", 1 << 53),
        ] {
            let got: Int = serde_json::from_str(sent).unwrap_or_else(|e| panic!("{sent}: {e}"));
            assert_eq!(got, Int(want), "{sent}");
            assert_eq!(serde_json::to_string(&got).unwrap(), want.to_string());
        }
        for bad in [
            "2.5",
            "\"3\"",
            "true",
            "null",
            "1e19",
            "18446744073709551615",
            "[]",
        ] {
            let err = serde_json::from_str::<Int>(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} was accepted"));
            assert!(err.to_string().contains("expected an integer"), "{bad}: {err}");
        }
    }

    #[test]
    fn file_attributes_are_a_list_whether_sent_as_one_or_many() {
        for (sent, want) in [
            (r#"["binary","lfs"]"#, r#"["binary","lfs"]"#),
            (r#""binary""#, r#"["binary"]"#),
            ("[]", "[]"),
        ] {
            let got: Flags = serde_json::from_str(sent).unwrap_or_else(|e| panic!("{sent}: {e}"));
            assert_eq!(serde_json::to_string(&got).unwrap(), want);
        }
        for bad in ["1", "{}", "[1]", "null"] {
            assert!(serde_json::from_str::<Flags>(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn links_pass_through_as_sent() {
        let sent = r#"{"self": {"href": "https://api.example/x"},"clone":[{"name":"https","href":"h"}]}"#;
        assert_eq!(serde_json::to_string(&links(sent).unwrap()).unwrap(), sent);
    }

    #[test]
    fn links_that_are_not_objects_are_errors() {
        for bad in [r#"[]"#, r#""https://x""#, "null", "1"] {
            let err = links(bad).err().unwrap_or_else(|| panic!("{bad} was accepted"));
            assert!(err.to_string().contains("an object of links"), "{bad}: {err}");
        }
    }

    #[test]
    fn links_with_line_breaks_become_one_line() {
        let sent = "{\n  \"self\": {\r\n \"href\": \"a\\nb\"}\n}";
        let out = serde_json::to_string(&links(sent).unwrap()).unwrap();
        assert!(!out.contains('\n') && !out.contains('\r'), "{out}");
        let back: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(sent).unwrap());
    }

    fn text(json: &str) -> Result<Text<'_>, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn text_is_written_as_sent_and_read_decoded() {
        for (sent, value) in [
            (r#""plain""#, "plain"),
            (r#""caf\u00e9 \"q\" a\/b\nc""#, "café \"q\" a/b\nc"),
            (r#""\ud83d\ude00""#, "😀"),
            (r#""""#, ""),
        ] {
            let t = text(sent).unwrap();
            assert_eq!(serde_json::to_string(&t).unwrap(), sent);
            assert_eq!(t.to_str(), value);
        }
    }

    #[test]
    fn text_refuses_what_is_not_a_string() {
        for (bad, kind) in [
            ("5", "a number"),
            ("{}", "map"),
            ("[1]", "sequence"),
            ("true", "a boolean"),
        ] {
            let err = text(bad).err().unwrap_or_else(|| panic!("{bad} was accepted"));
            assert!(
                err.to_string().contains(kind) && err.to_string().contains("expected a string"),
                "{bad}: {err}"
            );
        }
        for lone in [r#""\ud800""#, r#""x\uDC00y""#] {
            assert!(text(lone).is_err(), "{lone} was accepted");
            assert!(
                links(&format!(r#"{{"self": {{"href": {lone}}}}}"#)).is_err(),
                "{lone} in links was accepted"
            );
        }
    }

    #[test]
    fn links_schema_is_an_object_of_anything() {
        let schema = schemars::schema_for!(Links);
        assert_eq!(schema.get("type"), Some(&Value::from("object")));
    }
}
