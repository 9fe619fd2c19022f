//! Configuration: the sources (`--config` files and `ENV`), their merge, and validation into
//! [`Settings`], the checked form every other module uses.
//!
//! [`RawConfig`] is the one definition of the config keys: its doc comments are the user
//! documentation, its JSON Schema (schemars) lists the known keys, and a key it does not
//! know gets a warning naming it, so a typo never passes silently. Every problem is reported
//! before any request is made.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use crate::bitbucket::{Credentials, PullRequestState};

/// The default Bitbucket Cloud API root.
pub const DEFAULT_API_URL: &str = "https://api.bitbucket.org/2.0";
/// The default OAuth 2.0 token endpoint.
pub const DEFAULT_OAUTH_TOKEN_URL: &str = "https://bitbucket.org/site/oauth2/access_token";
/// The default cap on one response body: 64 MiB (see [`RawConfig::max_response_bytes`]).
pub const DEFAULT_MAX_RESPONSE_BYTES: i64 = 64 << 20;
/// The prefix of the environment variables read by `--config ENV`.
pub const ENV_PREFIX: &str = "TAP_BITBUCKET_";

/// Every config key the tap understands, as found in the config files.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(title = "tap-bitbucket settings")]
pub struct RawConfig {
    /// Bitbucket API root. Point it at a local server for tests.
    #[schemars(extend("default" = DEFAULT_API_URL))]
    pub api_url: Option<String>,
    /// OAuth 2.0 token endpoint, used with `client_id` + `client_secret`.
    #[schemars(extend("default" = DEFAULT_OAUTH_TOKEN_URL))]
    pub oauth_token_url: Option<String>,
    /// Workspace, project or repository access token (or a ready OAuth token), sent as Bearer.
    #[schemars(with = "Option<String>", extend("secret" = true, "writeOnly" = true))]
    pub access_token: Option<SecretString>,
    /// Atlassian account email, the user name for `api_token`.
    pub email: Option<String>,
    /// Atlassian API token (with `email`), sent as Basic auth. Needed for the permission and
    /// email streams, which access tokens cannot read.
    #[schemars(with = "Option<String>", extend("secret" = true, "writeOnly" = true))]
    pub api_token: Option<SecretString>,
    /// Bitbucket user name for the legacy `app_password`.
    pub username: Option<String>,
    /// Legacy app password (with `username`). Bitbucket removed app passwords on 2026-07-28.
    #[schemars(with = "Option<String>", extend("secret" = true, "writeOnly" = true))]
    pub app_password: Option<SecretString>,
    /// OAuth 2.0 consumer key.
    pub client_id: Option<String>,
    /// OAuth 2.0 consumer secret.
    #[schemars(with = "Option<String>", extend("secret" = true, "writeOnly" = true))]
    pub client_secret: Option<SecretString>,
    /// OAuth 2.0 refresh token; without it the client-credentials grant is used.
    #[schemars(with = "Option<String>", extend("secret" = true, "writeOnly" = true))]
    pub refresh_token: Option<SecretString>,
    /// One workspace slug to extract (legacy "Owner", "Team" or "Account Name").
    pub workspace: Option<String>,
    /// Workspace slugs to extract. Default (with `workspace` unset): every workspace the
    /// credential can see.
    pub workspaces: Option<Vec<String>>,
    /// Repository slugs or glob patterns to include (`api-*`; with a `/`, matched against
    /// `workspace/slug`). A literal name that does not exist is an error; a pattern that
    /// matches nothing is a warning. Default: every repository.
    pub repositories: Option<Vec<String>>,
    /// Repository slugs or glob patterns to leave out.
    pub exclude_repositories: Option<Vec<String>>,
    /// Account ids or `{uuid}`s for the `users` stream (legacy "Account Name"; Bitbucket no
    /// longer accepts user names). An unknown one is warned about and skipped. Default: the
    /// authenticated user.
    pub accounts: Option<Vec<String>>,
    /// Group slugs for `group_permissions` (legacy "Group Name"), read with one request per
    /// group and repository; a group without a grant on a repository is skipped. Default:
    /// every group, in one request per repository.
    pub group_slugs: Option<Vec<String>>,
    /// Branch, tag or commit listed by `directory_contents`. Default: each repository's main
    /// branch.
    pub src_ref: Option<String>,
    /// Directory listed by `directory_contents`. Default: the repository root.
    pub src_path: Option<String>,
    /// Depth listed by `directory_contents`: 1 = that directory only, 0 = the whole tree.
    #[schemars(extend("default" = 1))]
    pub src_max_depth: Option<i64>,
    /// RFC 3339 date or date-time: the floor of every incremental window (legacy "Report
    /// Start Date").
    #[schemars(extend("format" = "date-time"))]
    pub start_date: Option<String>,
    /// Re-read at least the last N days on every run, never skipping an older bookmark
    /// (legacy "Days Back").
    pub days_back: Option<i64>,
    /// RFC 3339 date or date-time: exclusive upper bound of what is emitted, for backfills.
    #[schemars(extend("format" = "date-time"))]
    pub end_date: Option<String>,
    /// Pull request states to extract. Default: OPEN, MERGED, DECLINED, SUPERSEDED.
    pub pullrequest_states: Option<Vec<String>>,
    /// How many days below its bookmark `commits` keeps reading (graph order is not date
    /// order).
    #[schemars(extend("default" = 7))]
    pub commits_lookback_days: Option<i64>,
    /// A cap on the page size. Default: the largest each endpoint accepts (100; 50 for pull
    /// requests and their activity).
    pub page_size: Option<i64>,
    /// Requests in flight at once; all share one rate budget.
    #[schemars(extend("default" = 4))]
    pub max_concurrency: Option<i64>,
    /// Client-side request budget per hour (a token bucket); 0 turns it off.
    #[schemars(extend("default" = 1000))]
    pub requests_per_hour: Option<i64>,
    /// Retries of a failed request (429, 5xx, network errors, malformed bodies).
    #[schemars(extend("default" = 5))]
    pub max_retries: Option<i64>,
    /// Timeout of one request, in seconds.
    #[schemars(extend("default" = 60))]
    pub request_timeout_secs: Option<i64>,
    /// Longest wait between two retries, in seconds.
    #[schemars(extend("default" = 300))]
    pub backoff_max_secs: Option<i64>,
    /// The most bytes one response body may hold. 64 MiB by default: about a hundred times a
    /// large Bitbucket page (a page of 100 repositories or 50 pull requests is typically a few
    /// hundred KiB), yet small enough that a server whose answer never ends costs about this much
    /// memory per request in flight, not all of the machine's (a body just under the cap that
    /// parses costs a few times more while its records are decoded). A larger body stops the
    /// run at once, unretried, with the rest unread. The tap asks for no compression, and
    /// refuses a compressed body.
    #[schemars(extend("default" = DEFAULT_MAX_RESPONSE_BYTES))]
    pub max_response_bytes: Option<i64>,
    /// This process's shard, from 0 to `shard_count` − 1: it syncs the repositories whose
    /// shard (the first 8 bytes, big-endian, of SHA-256 of the lower-cased `workspace/slug`,
    /// mod `shard_count`) is this index. Workspace- and user-level streams run in shard 0.
    pub shard_index: Option<i64>,
    /// How many processes share the repositories (each with its own `shard_index` and state);
    /// shards are disjoint and together cover everything.
    pub shard_count: Option<i64>,
    /// Send ACTIVATE_VERSION after each FULL_TABLE stream, with a `version` on its RECORDs, so
    /// targets can drop vanished rows (a revoked permission, a deleted fork). Not sent for a
    /// stream with a skipped partition, whose rows would otherwise be dropped.
    #[schemars(extend("default" = false))]
    pub activate_version: Option<bool>,
    /// The User-Agent header. Default: `tap-bitbucket/<version>`.
    pub user_agent: Option<String>,
    /// `text` (default) or `json` logs on stderr.
    pub log_format: Option<String>,
}

/// Keys whose values must never be printed, even in an error about their type.
const SECRET_KEYS: &[&str] = &[
    "access_token",
    "api_token",
    "app_password",
    "client_secret",
    "refresh_token",
];

/// A config problem, found before any request.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file `{path}`: {reason}")]
    Read {
        /// The file named on the command line.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The file is not a JSON object of settings.
    #[error("config file `{path}` cannot be used: {reason}")]
    NotJson {
        /// The file named on the command line.
        path: String,
        /// What the JSON parser said.
        reason: String,
    },
    /// A key has a value the tap cannot use.
    #[error("config key `{key}` (from {source_name}): {reason}")]
    Invalid {
        /// The key.
        key: String,
        /// Which source set it (a file name or an environment variable).
        source_name: String,
        /// What is wrong, without the value when the key is a secret.
        reason: String,
    },
    /// The credentials are missing, incomplete or ambiguous.
    #[error("config: {0}")]
    Auth(String),
}

/// `TAP_BITBUCKET_*` variables that are not settings but are meant for the tap.
const NOT_SETTINGS: &[&str] = &["loglevel"];

/// The merged config sources, remembering which source set each key (for error messages).
#[derive(Debug, Default)]
pub struct ConfigSources {
    values: Map<String, Value>,
    origin: BTreeMap<String, String>,
    /// `TAP_BITBUCKET_*` variables read by `--config ENV` that name no setting (a typo).
    unknown_variables: Vec<String>,
}

impl ConfigSources {
    /// Merges the sources named by `--config`, left to right, top-level keys only.
    pub fn load(paths: &[impl AsRef<Path>]) -> Result<Self, ConfigError> {
        let mut sources = ConfigSources::default();
        for path in paths {
            let path = path.as_ref();
            if path.as_os_str() == "ENV" {
                sources.merge_env(std::env::vars());
            } else {
                sources.merge_file(path)?;
            }
        }
        Ok(sources)
    }

    fn merge_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|e| ConfigError::NotJson {
            path: shown.clone(),
            reason: format!("it is not valid JSON ({e})"),
        })?;
        let Value::Object(map) = value else {
            return Err(ConfigError::NotJson {
                path: shown,
                reason: "the top level must be an object of settings".into(),
            });
        };
        for (key, value) in map {
            self.origin.insert(key.clone(), format!("`{shown}`"));
            self.values.insert(key, value);
        }
        Ok(())
    }

    /// Adds every `TAP_BITBUCKET_<KEY>` variable whose key the tap knows. Lists, objects,
    /// numbers and booleans are read as JSON; anything else as a string.
    pub fn merge_env(&mut self, vars: impl IntoIterator<Item = (String, String)>) {
        let properties = config_properties();
        for (name, raw) in vars {
            let Some(suffix) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let key = suffix.to_ascii_lowercase();
            let Some(property) = properties.get(&key) else {
                // `TAP_BITBUCKET__SELECT` and the like are Meltano's own extras, and the log
                // level is read by the logger; anything else is probably a misspelt setting.
                if !key.starts_with('_') && !NOT_SETTINGS.contains(&key.as_str()) {
                    self.unknown_variables.push(name);
                }
                continue;
            };
            let is_string = property.get("type").is_some_and(|t| {
                t == "string" || t.as_array().is_some_and(|a| a.contains(&Value::from("string")))
            });
            let is_list = property.get("type").is_some_and(|t| {
                t == "array" || t.as_array().is_some_and(|a| a.contains(&Value::from("array")))
            });
            let value = match serde_json::from_str::<Value>(&raw) {
                Ok(v) if !is_string && !v.is_string() => v,
                // As the Meltano SDK reads a list from the environment: JSON, else
                // comma-separated (`TAP_BITBUCKET_WORKSPACES=acme,globex`). A value that
                // starts as JSON but does not parse stays a string, so the type error names
                // the variable; an empty one stays empty, which means unset.
                _ if is_list && !raw.trim().is_empty() && !raw.trim_start().starts_with('[') => Value::Array(
                    raw.split(',')
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(|item| Value::String(item.to_string()))
                        .collect(),
                ),
                _ => Value::String(raw),
            };
            self.origin
                .insert(key.clone(), format!("environment variable `{name}`"));
            self.values.insert(key, value);
        }
    }

    /// Parses the merged values into the typed settings. Unknown keys are returned (to be
    /// warned about), not rejected.
    pub fn into_raw(mut self) -> Result<(RawConfig, Vec<String>), ConfigError> {
        let known = known_keys();
        let unknown: Vec<String> = self
            .values
            .keys()
            .filter(|k| !known.contains(*k))
            .cloned()
            .collect();
        for key in &unknown {
            self.values.remove(key);
        }
        let mut unknown: Vec<String> = unknown.into_iter().map(|key| format!("`{key}`")).collect();
        unknown.extend(self.unknown_variables.drain(..).map(|name| {
            let key = name[ENV_PREFIX.len()..].to_ascii_lowercase();
            format!("`{key}` (environment variable `{name}`)")
        }));
        // Treat explicit nulls and empty strings as unset: Meltano and env files produce both.
        self.values
            .retain(|_, v| !(v.is_null() || v.as_str().is_some_and(str::is_empty)));
        let origin = self.origin;
        let raw = serde_path_to_error::deserialize(Value::Object(self.values)).map_err(|e| {
            let key = e.path().iter().next().map(|s| s.to_string()).unwrap_or_default();
            let key = key.trim_start_matches('.').to_string();
            let reason = if SECRET_KEYS.contains(&key.as_str()) {
                "must be a string".to_string()
            } else {
                plain_reason(&e.inner().to_string())
            };
            ConfigError::Invalid {
                source_name: origin.get(&key).cloned().unwrap_or_else(|| "config".into()),
                key,
                reason,
            }
        })?;
        Ok((raw, unknown))
    }

    /// Where a key came from, for messages.
    fn origin_of(&self, key: &str) -> String {
        self.origin.get(key).cloned().unwrap_or_else(|| "config".into())
    }
}

/// The JSON Schema of each config key, from [`RawConfig`].
pub fn config_properties() -> Map<String, Value> {
    let schema = schemars::schema_for!(RawConfig);
    schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The names of every config key.
pub fn known_keys() -> Vec<String> {
    config_properties().keys().cloned().collect()
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Validated settings: every value checked, every default applied.
#[derive(Debug)]
pub struct Settings {
    /// The API root, without a trailing slash.
    pub api_url: Url,
    /// The OAuth token endpoint.
    pub oauth_token_url: Url,
    /// The credentials, or `None` when the config has none (fine for discovery only).
    pub credentials: Option<Credentials>,
    /// Configured workspaces; `None` means every workspace the credential can see.
    pub workspaces: Option<Vec<String>>,
    /// Repository include patterns (empty = all).
    pub repositories: Vec<String>,
    /// Repository exclude patterns.
    pub exclude_repositories: Vec<String>,
    /// Accounts for the `users` stream.
    pub accounts: Vec<String>,
    /// Groups for `group_permissions`.
    pub group_slugs: Vec<String>,
    /// Ref listed by `directory_contents` (`None` = main branch).
    pub src_ref: Option<String>,
    /// Path listed by `directory_contents` (empty = root).
    pub src_path: String,
    /// Depth listed by `directory_contents` (0 = whole tree).
    pub src_max_depth: u32,
    /// Floor of every window.
    pub start_date: Option<DateTime<Utc>>,
    /// Days re-read on every run.
    pub days_back: Option<u32>,
    /// Exclusive ceiling of what is emitted.
    pub end_date: Option<DateTime<Utc>>,
    /// Pull request states to read.
    pub pullrequest_states: Vec<PullRequestState>,
    /// Commit lookback below the bookmark, in days.
    pub commits_lookback_days: u32,
    /// Page size cap.
    pub page_size: Option<u32>,
    /// Requests in flight at once.
    pub max_concurrency: usize,
    /// Client-side budget; 0 = off.
    pub requests_per_hour: u32,
    /// Retries of one request.
    pub max_retries: u32,
    /// Timeout of one request.
    pub request_timeout: Duration,
    /// Longest wait between retries.
    pub backoff_max: Duration,
    /// The most bytes one response body may hold.
    pub max_response_bytes: u64,
    /// `(index, count)` when sharding.
    pub shard: Option<(u64, u64)>,
    /// Whether FULL_TABLE streams send ACTIVATE_VERSION.
    pub activate_version: bool,
    /// The User-Agent header.
    pub user_agent: String,
    /// Log format from the config (the CLI flag wins).
    pub log_format: LogFormat,
}

impl Settings {
    /// Loads, merges and validates the config sources. Returns the settings and the unknown
    /// keys and `TAP_BITBUCKET_*` variables (each named as the warning shows it), which the
    /// caller warns about once logging is set up.
    pub fn load(paths: &[impl AsRef<Path>]) -> Result<(Settings, Vec<String>), ConfigError> {
        let sources = ConfigSources::load(paths)?;
        Self::from_sources(sources)
    }

    /// Validates merged sources.
    pub fn from_sources(sources: ConfigSources) -> Result<(Settings, Vec<String>), ConfigError> {
        let origins = ConfigSources {
            origin: sources.origin.clone(),
            ..ConfigSources::default()
        };
        let (raw, unknown) = sources.into_raw()?;
        let v = Validator { origins: &origins };
        let settings = v.validate(raw)?;
        Ok((settings, unknown))
    }

    /// The credentials, or a clear error when a sync needs them and the config has none.
    pub fn require_credentials(&self) -> Result<&Credentials, ConfigError> {
        self.credentials.as_ref().ok_or_else(|| {
            ConfigError::Auth(
                "no credentials: set `access_token`, or `email` + `api_token`, or `client_id` + \
                 `client_secret` (legacy: `username` + `app_password`)"
                    .into(),
            )
        })
    }
}

/// A type error of the JSON reader in the words of the settings' documentation (an
/// integer, a list), not Rust's (`i64`, a sequence).
fn plain_reason(reason: &str) -> String {
    let mut text = reason.to_string();
    for (rust, plain) in [
        ("expected i64", "expected an integer"),
        ("expected u64", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected f64", "expected a number"),
        (
            "expected a sequence",
            "expected a list of strings, such as [\"a\", \"b\"]",
        ),
    ] {
        text = text.replace(rust, plain);
    }
    text
}

struct Validator<'a> {
    origins: &'a ConfigSources,
}

impl Validator<'_> {
    fn invalid(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.into(),
            source_name: self.origins.origin_of(key),
            reason: reason.into(),
        }
    }

    fn count(
        &self,
        key: &str,
        value: Option<i64>,
        default: i64,
        min: i64,
        max: i64,
    ) -> Result<i64, ConfigError> {
        let n = value.unwrap_or(default);
        if n < min || n > max {
            return Err(self.invalid(key, format!("must be an integer from {min} to {max}, got {n}")));
        }
        Ok(n)
    }

    fn url(&self, key: &str, value: Option<String>, default: &str) -> Result<Url, ConfigError> {
        let text = value.unwrap_or_else(|| default.to_string());
        let url = Url::parse(text.trim_end_matches('/'))
            .map_err(|e| self.invalid(key, format!("`{text}` is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(self.invalid(key, format!("`{text}` must be an http or https URL")));
        }
        Ok(url)
    }

    fn date(&self, key: &str, value: Option<String>) -> Result<Option<DateTime<Utc>>, ConfigError> {
        value
            .map(|text| {
                parse_date_or_datetime(&text).ok_or_else(|| {
                    self.invalid(
                        key,
                        format!("`{text}` is not an RFC 3339 date (2026-01-31) or date-time (2026-01-31T00:00:00Z)"),
                    )
                })
            })
            .transpose()
    }

    fn credentials(&self, raw: &mut RawConfig) -> Result<Option<Credentials>, ConfigError> {
        let mut methods: Vec<&str> = Vec::new();
        let pair = |a: &str, a_set: bool, b: &str, b_set: bool| -> Result<bool, ConfigError> {
            match (a_set, b_set) {
                (true, true) => Ok(true),
                (false, false) => Ok(false),
                (true, false) => Err(ConfigError::Auth(format!("`{a}` is set but `{b}` is missing"))),
                (false, true) => Err(ConfigError::Auth(format!("`{b}` is set but `{a}` is missing"))),
            }
        };
        let bearer = raw.access_token.is_some();
        let api_token = pair("email", raw.email.is_some(), "api_token", raw.api_token.is_some())?;
        let app_password = pair(
            "username",
            raw.username.is_some(),
            "app_password",
            raw.app_password.is_some(),
        )?;
        let oauth = pair(
            "client_id",
            raw.client_id.is_some(),
            "client_secret",
            raw.client_secret.is_some(),
        )?;
        if raw.refresh_token.is_some() && !oauth {
            return Err(ConfigError::Auth(
                "`refresh_token` is set but `client_id` and `client_secret` are missing".into(),
            ));
        }
        if bearer {
            methods.push("`access_token`");
        }
        if api_token {
            methods.push("`email` + `api_token`");
        }
        if app_password {
            methods.push("`username` + `app_password`");
        }
        if oauth {
            methods.push("`client_id` + `client_secret`");
        }
        if methods.len() > 1 {
            return Err(ConfigError::Auth(format!(
                "more than one auth method is set ({}); keep exactly one",
                methods.join(" and ")
            )));
        }
        let credentials = if let Some(token) = raw.access_token.take() {
            Some(Credentials::Bearer(token))
        } else if api_token {
            Some(Credentials::Basic {
                username: raw.email.take().unwrap_or_default(),
                password: raw.api_token.take().unwrap_or_else(|| SecretString::from("")),
                legacy_app_password: false,
            })
        } else if app_password {
            Some(Credentials::Basic {
                username: raw.username.take().unwrap_or_default(),
                password: raw.app_password.take().unwrap_or_else(|| SecretString::from("")),
                legacy_app_password: true,
            })
        } else if oauth {
            Some(Credentials::OAuth {
                client_id: raw.client_id.take().unwrap_or_default(),
                client_secret: raw.client_secret.take().unwrap_or_else(|| SecretString::from("")),
                refresh_token: raw.refresh_token.take(),
            })
        } else {
            None
        };
        if let Some(Credentials::Bearer(token)) = &credentials {
            if token.expose_secret().trim().is_empty() {
                return Err(ConfigError::Auth("`access_token` is empty".into()));
            }
        }
        Ok(credentials)
    }

    fn validate(&self, mut raw: RawConfig) -> Result<Settings, ConfigError> {
        let credentials = self.credentials(&mut raw)?;
        let api_url = self.url("api_url", raw.api_url.take(), DEFAULT_API_URL)?;
        let oauth_token_url = self.url(
            "oauth_token_url",
            raw.oauth_token_url.take(),
            DEFAULT_OAUTH_TOKEN_URL,
        )?;

        let mut workspaces: Vec<String> = Vec::new();
        let named = raw.workspace.take().into_iter().map(|ws| ("workspace", ws));
        for (key, ws) in named.chain(
            raw.workspaces
                .take()
                .unwrap_or_default()
                .into_iter()
                .map(|ws| ("workspaces", ws)),
        ) {
            if ws.trim().is_empty() || ws.contains('/') {
                return Err(self.invalid(key, format!("`{ws}` is not a workspace slug")));
            }
            if !workspaces.contains(&ws) {
                workspaces.push(ws);
            }
        }
        let user_agent = raw
            .user_agent
            .take()
            .unwrap_or_else(|| format!("tap-bitbucket/{}", env!("CARGO_PKG_VERSION")));
        // What an HTTP header may hold: no line breaks or other control characters.
        if user_agent
            .chars()
            .any(|c| (c.is_control() && c != '\t') || c == '\u{7f}')
        {
            return Err(self.invalid(
                "user_agent",
                "must not contain line breaks or other control characters (it is sent as an HTTP header)",
            ));
        }
        for key in ["repositories", "exclude_repositories"] {
            let patterns = if key == "repositories" {
                &raw.repositories
            } else {
                &raw.exclude_repositories
            };
            if let Some(problem) = patterns
                .iter()
                .flatten()
                .find_map(|p| crate::filter::pattern_problem(p))
            {
                return Err(self.invalid(key, problem));
            }
        }
        let workspaces = (!workspaces.is_empty()).then_some(workspaces);

        let start_date = self.date("start_date", raw.start_date.take())?;
        let end_date = self.date("end_date", raw.end_date.take())?;
        if let (Some(start), Some(end)) = (start_date, end_date) {
            if end <= start {
                return Err(self.invalid("end_date", "must be later than `start_date`"));
            }
        }
        let days_back = raw
            .days_back
            .map(|n| self.count("days_back", Some(n), 0, 0, 36_500))
            .transpose()?
            .map(|n| n as u32);

        let pullrequest_states = match raw.pullrequest_states.take() {
            None => PullRequestState::ALL.to_vec(),
            Some(list) if list.is_empty() => {
                return Err(self.invalid("pullrequest_states", "must name at least one state"))
            }
            Some(list) => {
                let mut states = Vec::new();
                for s in list {
                    let state = PullRequestState::parse(&s).ok_or_else(|| {
                        self.invalid(
                            "pullrequest_states",
                            format!("`{s}` is not one of OPEN, MERGED, DECLINED, SUPERSEDED"),
                        )
                    })?;
                    if !states.contains(&state) {
                        states.push(state);
                    }
                }
                states
            }
        };

        let shard = match (raw.shard_index, raw.shard_count) {
            (None, None) => None,
            (Some(_), None) => return Err(self.invalid("shard_index", "is set but `shard_count` is missing")),
            (None, Some(_)) => return Err(self.invalid("shard_count", "is set but `shard_index` is missing")),
            (Some(index), Some(count)) => {
                let count = self.count("shard_count", Some(count), 1, 1, 1 << 20)?;
                if index < 0 || index >= count {
                    return Err(self.invalid(
                        "shard_index",
                        format!("must be from 0 to {} (shard_count − 1), got {index}", count - 1),
                    ));
                }
                Some((index as u64, count as u64))
            }
        };

        let log_format = match raw.log_format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(self.invalid("log_format", format!("must be `text` or `json`, got `{other}`")))
            }
        };

        Ok(Settings {
            api_url,
            oauth_token_url,
            credentials,
            workspaces,
            repositories: raw.repositories.take().unwrap_or_default(),
            exclude_repositories: raw.exclude_repositories.take().unwrap_or_default(),
            accounts: raw.accounts.take().unwrap_or_default(),
            group_slugs: raw.group_slugs.take().unwrap_or_default(),
            src_ref: raw.src_ref.take(),
            src_path: raw
                .src_path
                .take()
                .unwrap_or_default()
                .trim_matches('/')
                .to_string(),
            src_max_depth: self.count("src_max_depth", raw.src_max_depth, 1, 0, 1000)? as u32,
            start_date,
            days_back,
            end_date,
            pullrequest_states,
            commits_lookback_days: self.count(
                "commits_lookback_days",
                raw.commits_lookback_days,
                7,
                0,
                36_500,
            )? as u32,
            page_size: raw
                .page_size
                .map(|n| self.count("page_size", Some(n), 100, 1, 100))
                .transpose()?
                .map(|n| n as u32),
            max_concurrency: self.count("max_concurrency", raw.max_concurrency, 4, 1, 256)? as usize,
            requests_per_hour: self.count("requests_per_hour", raw.requests_per_hour, 1000, 0, 10_000_000)?
                as u32,
            max_retries: self.count("max_retries", raw.max_retries, 5, 0, 100)? as u32,
            request_timeout: Duration::from_secs(self.count(
                "request_timeout_secs",
                raw.request_timeout_secs,
                60,
                1,
                3600,
            )? as u64),
            backoff_max: Duration::from_secs(self.count(
                "backoff_max_secs",
                raw.backoff_max_secs,
                300,
                0,
                86_400,
            )? as u64),
            max_response_bytes: self.count(
                "max_response_bytes",
                raw.max_response_bytes,
                DEFAULT_MAX_RESPONSE_BYTES,
                1 << 10,
                1 << 40,
            )? as u64,
            shard,
            activate_version: raw.activate_version.unwrap_or(false),
            user_agent,
            log_format,
        })
    }
}

impl Settings {
    /// The `pagelen` to send to an endpoint whose largest page is `max`: `max`, capped by
    /// `page_size`, for every request of the run (partition listings included).
    pub fn pagelen(&self, max: u32) -> String {
        self.page_size.map_or(max, |p| p.min(max)).to_string()
    }
}

/// Parses an RFC 3339 date-time, or a bare date (taken as midnight UTC).
pub fn parse_date_or_datetime(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(text.trim()) {
        return Some(dt.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: Value) -> Result<Settings, ConfigError> {
        let mut sources = ConfigSources::default();
        if let Value::Object(map) = json {
            for (k, v) in map {
                sources.origin.insert(k.clone(), "`test.json`".into());
                sources.values.insert(k, v);
            }
        }
        Settings::from_sources(sources).map(|(s, _)| s)
    }

    #[test]
    fn defaults_apply() {
        let s = settings(serde_json::json!({"access_token": "t"})).unwrap();
        assert_eq!(s.api_url.as_str(), "https://api.bitbucket.org/2.0");
        assert_eq!(s.max_concurrency, 4);
        assert_eq!(s.pullrequest_states.len(), 4);
        assert_eq!(s.src_max_depth, 1);
        assert_eq!(s.max_response_bytes, 64 << 20);
    }

    #[test]
    fn two_auth_methods_conflict() {
        let err = settings(serde_json::json!({"access_token": "t", "email": "a@b", "api_token": "x"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`access_token` and `email` + `api_token`"), "{err}");
    }

    #[test]
    fn missing_half_is_named() {
        let err = settings(serde_json::json!({"email": "a@b"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`api_token` is missing"), "{err}");
    }

    #[test]
    fn secret_of_wrong_type_is_not_printed() {
        let err = settings(serde_json::json!({"access_token": 987654321}))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("987654321"), "{err}");
        assert!(err.contains("access_token"), "{err}");
    }

    #[test]
    fn bad_values_name_key_and_source() {
        let err = settings(serde_json::json!({"days_back": -1}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`days_back`") && err.contains("test.json"), "{err}");
        let err = settings(serde_json::json!({"start_date": "yesterday"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`start_date`"), "{err}");
        let err = settings(serde_json::json!({"shard_index": 3, "shard_count": 3}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`shard_index`"), "{err}");
    }

    #[test]
    fn dates_accept_date_or_datetime() {
        assert_eq!(
            parse_date_or_datetime("2026-01-02").unwrap().to_rfc3339(),
            "2026-01-02T00:00:00+00:00"
        );
        assert!(parse_date_or_datetime("2026-01-02T03:04:05.5+02:00").is_some());
        assert!(parse_date_or_datetime("02/01/2026").is_none());
    }

    #[test]
    fn env_source_reads_known_keys_with_types() {
        let mut sources = ConfigSources::default();
        sources.merge_env([
            ("TAP_BITBUCKET_WORKSPACES".to_string(), "[\"acme\"]".to_string()),
            ("TAP_BITBUCKET_DAYS_BACK".to_string(), "3".to_string()),
            ("TAP_BITBUCKET_ACCESS_TOKEN".to_string(), "123".to_string()),
            ("OTHER".to_string(), "x".to_string()),
        ]);
        let (s, _) = Settings::from_sources(sources).unwrap();
        assert_eq!(s.workspaces.unwrap(), vec!["acme"]);
        assert_eq!(s.days_back, Some(3));
        // A numeric-looking secret stays a string.
        assert!(matches!(s.credentials, Some(Credentials::Bearer(_))));

        // A list may also be comma-separated, as the Meltano SDK reads it.
        let mut sources = ConfigSources::default();
        sources.merge_env([
            ("TAP_BITBUCKET_WORKSPACES".to_string(), "acme, globex".to_string()),
            ("TAP_BITBUCKET_ACCESS_TOKEN".to_string(), "t".to_string()),
        ]);
        let (s, _) = Settings::from_sources(sources).unwrap();
        assert_eq!(s.workspaces.unwrap(), vec!["acme", "globex"]);

        // Broken JSON is an error naming the variable, not a list of one odd pattern.
        let mut sources = ConfigSources::default();
        sources.merge_env([
            (
                "TAP_BITBUCKET_EXCLUDE_REPOSITORIES".to_string(),
                "[\"secret-*\"".to_string(),
            ),
            ("TAP_BITBUCKET_ACCESS_TOKEN".to_string(), "t".to_string()),
        ]);
        let error = Settings::from_sources(sources).unwrap_err().to_string();
        assert!(error.contains("TAP_BITBUCKET_EXCLUDE_REPOSITORIES"), "{error}");

        // An empty value is unset.
        let mut sources = ConfigSources::default();
        sources.merge_env([
            ("TAP_BITBUCKET_WORKSPACES".to_string(), String::new()),
            ("TAP_BITBUCKET_ACCESS_TOKEN".to_string(), "t".to_string()),
        ]);
        let (s, _) = Settings::from_sources(sources).unwrap();
        assert_eq!(s.workspaces, None);
    }

    #[test]
    fn type_errors_are_in_the_documentation_words() {
        let mut sources = ConfigSources::default();
        sources.merge_env([
            ("TAP_BITBUCKET_ACCESS_TOKEN".to_string(), "t".to_string()),
            ("TAP_BITBUCKET_MAX_CONCURRENCY".to_string(), "four".to_string()),
        ]);
        let error = Settings::from_sources(sources).unwrap_err().to_string();
        assert!(
            error.contains("`max_concurrency`") && error.contains("expected an integer"),
            "{error}"
        );
        assert!(!error.contains("i64"), "{error}");
    }
}
