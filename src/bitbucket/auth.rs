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

    /// Every secret value of the credential, as configured and as sent (the `Authorization`
    /// header's Basic value, also the OAuth consumer's, whose parts are form-encoded first):
    /// for [`crate::redact`], so that a server echoing one back never gets it onto stderr.
    pub fn secrets(&self) -> Vec<String> {
        use base64::Engine as _;
        let basic = |user: &str, password: &str| {
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        };
        let form = |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
        match self {
            Credentials::Bearer(token) => vec![token.expose_secret().to_string()],
            Credentials::Basic {
                username, password, ..
            } => vec![
                password.expose_secret().to_string(),
                basic(username, password.expose_secret()),
            ],
            Credentials::OAuth {
                client_id,
                client_secret,
                refresh_token,
            } => {
                let secret = client_secret.expose_secret();
                let mut all = vec![
                    secret.to_string(),
                    basic(client_id, secret),
                    basic(&form(client_id), &form(secret)),
                ];
                all.extend(refresh_token.iter().map(|t| t.expose_secret().to_string()));
                all
            }
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

    #[test]
    fn the_secrets_include_the_header_values_sent() {
        let oauth = Credentials::OAuth {
            client_id: "cid".into(),
            client_secret: "SEKRET-cs-999".to_string().into(),
            refresh_token: Some("refresh-secret-4".to_string().into()),
        };
        let secrets = oauth.secrets();
        // What a token endpoint saw in `Authorization: Basic …` (seen echoed back in an
        // `error_description`).
        assert!(
            secrets.contains(&"Y2lkOlNFS1JFVC1jcy05OTk=".to_string()),
            "{secrets:?}"
        );
        assert!(
            secrets.contains(&"SEKRET-cs-999".to_string())
                && secrets.contains(&"refresh-secret-4".to_string())
        );
        let basic = Credentials::Basic {
            username: "me@example.com".into(),
            password: "SEKRET-api-token-77aa".to_string().into(),
            legacy_app_password: false,
        };
        assert!(basic
            .secrets()
            .contains(&"bWVAZXhhbXBsZS5jb206U0VLUkVULWFwaS10b2tlbi03N2Fh".to_string()));
    }
}
