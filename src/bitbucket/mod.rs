//! Bitbucket Cloud REST API 2.0 over HTTP: the client, credentials (and OAuth 2.0 tokens),
//! pagination envelope, retries and the request budget. Nothing here knows about Singer.
//!
//! API facts this module relies on (Bitbucket's API reference; docs/http.md):
//! - collections come in a page envelope `{values, next, page, pagelen, size}`; `next` is
//!   absent on the last page and is followed only when it stays on the API's origin;
//! - errors come as `{"type":"error","error":{"message":…}}`, except 429, which is plain text;
//! - the page size is capped per endpoint (100; 50 for pull requests), and larger values
//!   answer 400 "Invalid pagelen" rather than being clamped.

mod auth;
mod body;
mod budget;
mod client;
mod connect;
mod error;
mod oauth;
mod page;
mod retry;

pub use auth::Credentials;
pub(crate) use client::shown;
pub use client::{decode, decode_text, Client, ClientOptions};
pub use error::ApiError;
pub use page::Page;

/// The largest `pagelen` most collection endpoints accept.
pub const MAX_PAGELEN: u32 = 100;
/// The largest `pagelen` the pull request endpoints accept (100 answers 400).
pub const MAX_PULLREQUEST_PAGELEN: u32 = 50;

/// A pull request state, as the `state` query parameter and the `state` field spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PullRequestState {
    /// Open for review.
    Open,
    /// Merged into its destination.
    Merged,
    /// Declined.
    Declined,
    /// Superseded by another pull request.
    Superseded,
}

impl PullRequestState {
    /// Every state; the list endpoint returns only OPEN unless told otherwise.
    pub const ALL: [PullRequestState; 4] = [
        PullRequestState::Open,
        PullRequestState::Merged,
        PullRequestState::Declined,
        PullRequestState::Superseded,
    ];

    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PullRequestState::Open => "OPEN",
            PullRequestState::Merged => "MERGED",
            PullRequestState::Declined => "DECLINED",
            PullRequestState::Superseded => "SUPERSEDED",
        }
    }

    /// Parses a state name, case-insensitively.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
    }
}
