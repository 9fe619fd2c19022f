//! Credentials and how each is put on a request. Secrets stay in [`SecretString`], whose
//! `Debug` prints a redaction, and are exposed only while building the `Authorization`
//! header, which reqwest marks sensitive.

use reqwest::RequestBuilder;
use secrecy::{ExposeSecret, SecretString};

/// One way of authenticating to Bitbucket.
#[derive(Debug)]
pub enum Credentials {
    /// An access token (workspace, project or repository) or a ready OAuth token: Bearer.
    Bearer(SecretString),
    /// Atlassian account email + API token, or the legacy user name + app password: Basic.
    Basic {
        /// The Atlassian account email (or the Bitbucket user name for app passwords).
        username: String,
        /// The API token or app password.
        password: SecretString,
        /// Whether this is a (removed) app password, for the deprecation warning.
        legacy_app_password: bool,
    },
    /// An OAuth 2.0 consumer.
    OAuth {
        /// The consumer key.
        client_id: String,
        /// The consumer secret.
        client_secret: SecretString,
        /// A refresh token, for the refresh-token grant; else client credentials.
        refresh_token: Option<SecretString>,
    },
}

impl Credentials {
    /// A short, secret-free name of the credential kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Credentials::Bearer(_) => "access token",
            Credentials::Basic {
                legacy_app_password: false,
                ..
            } => "API token",
            Credentials::Basic { .. } => "app password",
            Credentials::OAuth { .. } => "OAuth consumer",
        }
    }

    /// Puts the credential on a request. OAuth consumers send a token obtained and renewed
    /// by the client (see [`super::oauth`]), so nothing is added for them here.
    pub(crate) fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Credentials::Bearer(token) => request.bearer_auth(token.expose_secret()),
            Credentials::Basic {
                username, password, ..
            } => request.basic_auth(username, Some(password.expose_secret())),
            Credentials::OAuth { .. } => request,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_secret() {
        let all = [
            Credentials::Bearer("bearer-secret-1".to_string().into()),
            Credentials::Basic {
                username: "me@example.com".into(),
                password: "basic-secret-2".to_string().into(),
                legacy_app_password: false,
            },
            Credentials::OAuth {
                client_id: "client".into(),
                client_secret: "client-secret-3".to_string().into(),
                refresh_token: Some("refresh-secret-4".to_string().into()),
            },
        ];
        for credentials in &all {
            let shown = format!("{credentials:?} {credentials:#?}");
            assert!(!shown.contains("-secret-"), "{shown}");
        }
    }
}
