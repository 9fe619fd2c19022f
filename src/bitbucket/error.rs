//! The ways a request can fail, each rendered as one line naming the endpoint.

use std::time::Duration;

/// How a timed-out request's reason reads.
pub(super) const TIMED_OUT: &str = "timed out";

/// A failed request to Bitbucket.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The server answered with an error status.
    #[error("HTTP {status} from GET {endpoint}: {message}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The request path (no query, no credentials).
        endpoint: String,
        /// The server's message (`error.message` and `error.detail`, or the plain text).
        message: String,
        /// How long the server asked us to wait (`Retry-After`, `X-RateLimit-Reset`).
        retry_after: Option<Duration>,
    },
    /// The request did not get a complete answer (connection, timeout, truncated body).
    #[error("GET {endpoint} failed: {reason}")]
    Transport {
        /// The request path.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// The request never reached the server: no connection could be made to its host and
    /// port (refused, unknown host, failed TLS handshake, no answer).
    #[error("GET {endpoint} failed: cannot connect to {target}: {cause}; {advice}")]
    Connect {
        /// The request path.
        endpoint: String,
        /// `host:port`.
        target: String,
        /// What happened, in plain words.
        cause: String,
        /// What to check, naming the setting.
        advice: String,
    },
    /// The body is not valid JSON (truncated or garbled).
    #[error("GET {endpoint} returned malformed JSON: {reason}")]
    Malformed {
        /// The request path.
        endpoint: String,
        /// What the parser said.
        reason: String,
    },
    /// The body is JSON, but a known field has a value of the wrong type.
    #[error("GET {endpoint} returned unexpected data at `{path}`: {reason}")]
    Data {
        /// The request path.
        endpoint: String,
        /// The JSON path of the bad value (`values[3].author.uuid`).
        path: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The body is larger than `max_response_bytes`. Not retried: the same request would get
    /// the same body, and no Bitbucket page comes near the cap, so the server or `api_url`
    /// is wrong.
    #[error("{}", too_large(endpoint, *cap, *declared))]
    TooLarge {
        /// The request path.
        endpoint: String,
        /// The cap, in bytes.
        cap: u64,
        /// The `Content-Length`, when it exceeded the cap before anything was read.
        declared: Option<u64>,
    },
    /// A 200 whose body is not JSON and whose `Content-Type` does not say JSON: a proxy's
    /// login page, a captive portal, or an `api_url` that is not the API. Not retried: such a
    /// server answers the same way again.
    #[error(
        "GET {endpoint} answered 200 with {what} instead of JSON: `api_url` is likely wrong (it must be the API root, such as https://api.bitbucket.org/2.0), or a proxy between the tap and Bitbucket answered instead (a login page, a captive portal)"
    )]
    NotJson {
        /// The request path.
        endpoint: String,
        /// The content type and the page's title or first words, sanitised.
        what: String,
    },
    /// A body with a `Content-Encoding` (gzip, br…) although the tap asks for none: a proxy
    /// or server that compresses regardless. Not retried: it would answer the same way.
    #[error(
        "GET {endpoint} answered with a `{encoding}`-encoded body, which the tap does not ask for or decode: a proxy between the tap and Bitbucket, or a server that is not the API (check `api_url`), compressed it"
    )]
    Encoded {
        /// The request path.
        endpoint: String,
        /// The `Content-Encoding`, sanitised.
        encoding: String,
    },
    /// A `next` link or redirect pointing away from the API's origin.
    #[error(
        "refusing to follow `{url}` from {endpoint}: it is not on the API origin {origin}, and credentials are only sent there"
    )]
    ForeignOrigin {
        /// The request that returned the link.
        endpoint: String,
        /// The link (without query).
        url: String,
        /// The API's scheme, host and port.
        origin: String,
    },
    /// More than ten redirects in a row on the API origin. Not retried: the server would
    /// redirect the same way again.
    #[error("GET {endpoint} was redirected more than ten times in a row; stopping (is `api_url` right?)")]
    RedirectLoop {
        /// The request path.
        endpoint: String,
    },
    /// A `next` link that repeats, or a page that repeats the one before under a new link,
    /// which would loop forever.
    #[error(
        "GET {endpoint} returned a page again (a `next` link already followed, or the same records under a new one); stopping to avoid a loop"
    )]
    PaginationLoop {
        /// The request path.
        endpoint: String,
    },
    /// The OAuth token endpoint refused the grant: the consumer, its secret or the refresh
    /// token is wrong, revoked or lacks a permission. Retrying cannot help.
    #[error(
        "the OAuth token endpoint {url} refused the {grant} grant: {code}{} (check `client_id`, `client_secret`{})",
        description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default(),
        if *grant == "refresh-token" { " and `refresh_token`" } else { "" }
    )]
    TokenRefused {
        /// The token endpoint (no query).
        url: String,
        /// `refresh-token` or `client-credentials`.
        grant: &'static str,
        /// The OAuth error code (`invalid_grant`), or the HTTP status when the answer had none.
        code: String,
        /// The server's `error_description`, with any configured secret masked.
        description: Option<String>,
    },
    /// The token request got no usable answer (network failure, 429 or 5xx, a garbled body).
    #[error("OAuth token request to {url} failed: {reason}")]
    Token {
        /// The token endpoint (no query).
        url: String,
        /// What went wrong, secret-free.
        reason: String,
        /// Whether trying again may help (network failures, 429, 5xx).
        retryable: bool,
    },
    /// Retries ran out.
    #[error("{last} (gave up after {retries} {})", if *retries == 1 { "retry" } else { "retries" })]
    Exhausted {
        /// The last failure.
        last: Box<ApiError>,
        /// How many retries were made.
        retries: u32,
    },
}

/// The line of [`ApiError::TooLarge`].
fn too_large(endpoint: &str, cap: u64, declared: Option<u64>) -> String {
    let cap = super::body::byte_size(cap);
    let what = match declared {
        Some(n) => format!("announced a body of {n} bytes (Content-Length), over the {cap} cap (`max_response_bytes`): not read"),
        None => format!("sent a body over the {cap} cap (`max_response_bytes`): stopped reading at the cap"),
    };
    format!(
        "GET {endpoint} {what}, not retried. No Bitbucket page comes near that size: check `api_url` (or raise `max_response_bytes`)"
    )
}

impl ApiError {
    /// Whether the request timed out (`request_timeout_secs`), retries included.
    pub fn is_timeout(&self) -> bool {
        match self {
            ApiError::Transport { reason, .. } => reason.starts_with(TIMED_OUT),
            ApiError::Exhausted { last, .. } => last.is_timeout(),
            _ => false,
        }
    }

    /// The HTTP status, when the server answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            ApiError::Exhausted { last, .. } => last.status(),
            _ => None,
        }
    }

    /// Whether trying the same request again may succeed: 429, 5xx, network failures and
    /// malformed bodies (of the API or of the OAuth token endpoint). Not 555: Bitbucket's
    /// answer when computing the response took too long (a huge diffstat, a deep `src`
    /// listing), which the same request meets again.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Status { status, .. } => *status == 429 || (*status >= 500 && *status != 555),
            ApiError::Transport { .. } | ApiError::Connect { .. } | ApiError::Malformed { .. } => true,
            ApiError::Token { retryable, .. } => *retryable,
            _ => false,
        }
    }
}
