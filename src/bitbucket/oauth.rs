//! OAuth 2.0 consumers (`client_id` + `client_secret` [+ `refresh_token`]): getting the
//! access token the client sends as Bearer, and renewing it.
//!
//! - The grant is the refresh-token grant when the config has a refresh token, else client
//!   credentials (a token of the consumer's owner). The `oauth2` crate builds the requests
//!   (client authentication as HTTP Basic, as Bitbucket asks) and reads the answers; they
//!   travel over this crate's own reqwest client, which never follows a redirect, so the
//!   consumer secret and refresh token go to `oauth_token_url` and nowhere else.
//! - A token is renewed shortly before it expires (60 s, or half its lifetime if shorter),
//!   and when the API answers 401 "expired" ([`OAuth::expire`]); concurrent requests share
//!   one renewal.
//! - When Bitbucket rotates the refresh token, the new one is used for the rest of the run,
//!   with a warning that the configured one is stale. No token is ever logged.
//! - A refused grant is [`ApiError::TokenRefused`] (fatal, naming the URL and the OAuth
//!   error code); a network failure, 429 or 5xx is a retryable [`ApiError::Token`].

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use oauth2::basic::BasicClient;
use oauth2::{
    AsyncHttpClient, ClientId, ClientSecret, EndpointNotSet, EndpointSet, HttpRequest, HttpResponse,
    RefreshToken, RequestTokenError, TokenResponse, TokenUrl,
};
use reqwest::redirect;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use super::body::{self, BodyError};
use super::client::{describe, shown};
use super::ApiError;
use crate::metrics;

/// The oauth2 client with only its token endpoint set.
type TokenClient = BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// How long before its expiry a token is renewed, at most.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// An OAuth 2.0 consumer and its current access token.
pub(crate) struct OAuth {
    client: TokenClient,
    http: TokenHttp,
    url: Url,
    /// The consumer secret, kept to mask it in server messages.
    client_secret: SecretString,
    state: Mutex<TokenState>,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth")
            .field("client_id", self.client.client_id())
            .field("token_url", &shown(&self.url))
            .finish_non_exhaustive()
    }
}

struct TokenState {
    grant: Grant,
    issued: Option<Issued>,
    /// Counts the tokens issued, so a 401 renews only the token that got it.
    generation: u64,
    /// Whether the rotation warning was given.
    warned_rotation: bool,
}

enum Grant {
    RefreshToken(SecretString),
    ClientCredentials,
}

impl Grant {
    fn name(&self) -> &'static str {
        match self {
            Grant::RefreshToken(_) => "refresh-token",
            Grant::ClientCredentials => "client-credentials",
        }
    }
}

struct Issued {
    token: SecretString,
    renew_at: Option<Instant>,
}

/// An access token to send, and which one it is (for [`OAuth::expire`]).
pub(crate) struct Bearer {
    /// The access token.
    pub token: SecretString,
    /// Its generation.
    pub generation: u64,
}

/// Why a token request got no token, before it becomes an [`ApiError`].
#[derive(Debug, thiserror::Error)]
enum TokenHttpError {
    /// No answer (connection, timeout, an unreadable body).
    #[error("{0}")]
    Transport(String),
    /// An answer over `max_response_bytes`: the same request would get the same.
    #[error("{0}")]
    TooLarge(String),
    /// An answer other than 200.
    #[error("HTTP {status}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The OAuth `error` code, when the body had one.
        code: Option<String>,
        /// The OAuth `error_description`, unmasked yet.
        description: Option<String>,
    },
}

/// The OAuth error body (RFC 6749 §5.2), read leniently.
#[derive(Deserialize)]
struct ErrorBody {
    error: Option<String>,
    error_description: Option<String>,
}

impl OAuth {
    /// A consumer that gets its tokens from `token_url`.
    pub fn new(
        client_id: &str,
        client_secret: &SecretString,
        refresh_token: Option<&SecretString>,
        token_url: &Url,
        user_agent: &str,
        timeout: Duration,
        max_response_bytes: u64,
    ) -> Result<OAuth, ApiError> {
        let client = BasicClient::new(ClientId::new(client_id.to_string()))
            .set_client_secret(ClientSecret::new(client_secret.expose_secret().to_string()))
            .set_token_uri(TokenUrl::from_url(token_url.clone()));
        let http = reqwest::Client::builder()
            .user_agent(user_agent)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(30)))
            .redirect(redirect::Policy::none())
            .build()
            .map_err(|e| ApiError::Token {
                url: shown(token_url),
                reason: format!("cannot set up the HTTP client: {}", describe(&e)),
                retryable: false,
            })?;
        let grant = match refresh_token {
            Some(token) => Grant::RefreshToken(token.clone()),
            None => Grant::ClientCredentials,
        };
        Ok(OAuth {
            client,
            http: TokenHttp {
                http,
                endpoint: token_url.path().to_string(),
                max_response_bytes,
            },
            url: token_url.clone(),
            client_secret: client_secret.clone(),
            state: Mutex::new(TokenState {
                grant,
                issued: None,
                generation: 0,
                warned_rotation: false,
            }),
        })
    }

    /// The current access token, getting a new one first when there is none or it is about
    /// to expire.
    pub async fn bearer(&self) -> Result<Bearer, ApiError> {
        let mut state = self.state.lock().await;
        let fresh = state
            .issued
            .as_ref()
            .is_some_and(|t| t.renew_at.is_none_or(|at| Instant::now() < at));
        if !fresh {
            self.fetch(&mut state).await?;
        }
        match &state.issued {
            Some(issued) => Ok(Bearer {
                token: issued.token.clone(),
                generation: state.generation,
            }),
            None => Err(ApiError::Token {
                url: shown(&self.url),
                reason: "no access token was issued".into(),
                retryable: false,
            }),
        }
    }

    /// Forgets the token of `generation` (the API said it expired), so the next
    /// [`OAuth::bearer`] gets a new one. A token issued since is kept.
    pub async fn expire(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if state.generation == generation {
            state.issued = None;
        }
    }

    async fn fetch(&self, state: &mut TokenState) -> Result<(), ApiError> {
        let send = &self.http;
        let response = match &state.grant {
            Grant::RefreshToken(token) => {
                let token = RefreshToken::new(token.expose_secret().to_string());
                self.client
                    .exchange_refresh_token(&token)
                    .request_async(send)
                    .await
            }
            Grant::ClientCredentials => {
                self.client
                    .exchange_client_credentials()
                    .request_async(send)
                    .await
            }
        }
        .map_err(|e| self.error(&state.grant, e))?;

        let lifetime = response.expires_in();
        let renew_at = lifetime.map(|life| Instant::now() + life - REFRESH_MARGIN.min(life / 2));
        crate::redact::register(response.access_token().secret());
        if let Some(refresh) = response.refresh_token() {
            crate::redact::register(refresh.secret());
        }
        state.issued = Some(Issued {
            token: SecretString::from(response.access_token().secret().clone()),
            renew_at,
        });
        state.generation += 1;
        let grant = state.grant.name();
        if let (Grant::RefreshToken(current), Some(new)) = (&mut state.grant, response.refresh_token()) {
            if new.secret() != current.expose_secret() {
                *current = SecretString::from(new.secret().clone());
                if !std::mem::replace(&mut state.warned_rotation, true) {
                    tracing::warn!(
                        "Bitbucket issued a new OAuth refresh token; this run uses it, and the \
                         `refresh_token` in the config is now stale. If the next run is refused, \
                         authorize the consumer again for a new refresh token."
                    );
                }
            }
        }
        tracing::info!(
            grant,
            expires_in_secs = lifetime.map(|d| d.as_secs()),
            "Got an OAuth access token ({grant} grant)."
        );
        Ok(())
    }

    /// A failed token request as one secret-free line.
    fn error<TE: oauth2::ErrorResponse>(
        &self,
        grant: &Grant,
        error: RequestTokenError<TokenHttpError, TE>,
    ) -> ApiError {
        let url = shown(&self.url);
        let mask = |text: &str| mask(text, &self.client_secret, grant);
        let grant = grant.name();
        let failed = |reason: String, retryable: bool| ApiError::Token {
            url: url.clone(),
            reason,
            retryable,
        };
        match error {
            RequestTokenError::Request(TokenHttpError::Transport(reason)) => failed(reason, true),
            RequestTokenError::Request(TokenHttpError::TooLarge(reason)) => failed(reason, false),
            RequestTokenError::Request(TokenHttpError::Status {
                status,
                code,
                description,
            }) => {
                let description = description.map(|d| mask(&d));
                if (300..400).contains(&status) {
                    failed(
                        format!("it answered HTTP {status}, a redirect, which is not followed: the consumer secret goes to `oauth_token_url` only"),
                        false,
                    )
                } else if status == 429 || status >= 500 {
                    let detail = [code, description]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(": ");
                    failed(
                        if detail.is_empty() {
                            format!("HTTP {status}")
                        } else {
                            format!("HTTP {status}: {detail}")
                        },
                        true,
                    )
                } else {
                    ApiError::TokenRefused {
                        url,
                        grant,
                        code: code.unwrap_or_else(|| format!("HTTP {status} without an OAuth error code")),
                        description,
                    }
                }
            }
            RequestTokenError::ServerResponse(response) => ApiError::TokenRefused {
                url,
                grant,
                code: mask(&response.to_string()),
                description: None,
            },
            // The body may hold a token: name where it went wrong, never what it says.
            RequestTokenError::Parse(e, _body) => failed(
                format!(
                    "the token response is not what OAuth 2.0 specifies (at `{}`)",
                    e.path()
                ),
                false,
            ),
            RequestTokenError::Other(reason) => failed(reason, false),
        }
    }
}

/// The transport of token requests: this crate's reqwest client (no redirects), measured
/// like every other request, and bodies read within `max_response_bytes` like every other.
struct TokenHttp {
    http: reqwest::Client,
    endpoint: String,
    max_response_bytes: u64,
}

impl<'c> AsyncHttpClient<'c> for TokenHttp {
    type Error = TokenHttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, TokenHttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

impl TokenHttp {
    /// Sends one token request. Only a 200 goes back to `oauth2` to be read; anything else
    /// becomes a [`TokenHttpError`] here, where the status is still known.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TokenHttpError> {
        let started = Instant::now();
        let endpoint = self.endpoint.as_str();
        let request =
            reqwest::Request::try_from(request).map_err(|e| TokenHttpError::Transport(describe(&e)))?;
        let cap = self.max_response_bytes;
        let url = request.url().clone();
        let answer = async {
            let response = self.http.execute(request).await.map_err(BodyError::Transport)?;
            let status = response.status();
            let content_type = response.headers().get(reqwest::header::CONTENT_TYPE).cloned();
            body::read(response, cap)
                .await
                .map(|body| (status, content_type, body))
        }
        .await;
        let (status, content_type, body) = match answer {
            Ok(answer) => answer,
            Err(BodyError::Transport(e)) => {
                metrics::http_request(endpoint, None, started.elapsed(), false);
                let reason = match super::connect::classify(&e, &url) {
                    Some(failure) => format!(
                        "cannot connect to {}: {}; {}",
                        super::connect::host_port(&url),
                        failure.cause(),
                        failure.advice("oauth_token_url", &url)
                    ),
                    None => describe(&e),
                };
                return Err(TokenHttpError::Transport(reason));
            }
            Err(BodyError::TooLarge { declared }) => {
                metrics::http_request(endpoint, Some(200), started.elapsed(), false);
                return Err(TokenHttpError::TooLarge(format!(
                    "its answer {} the {} cap (`max_response_bytes`); not retried",
                    if declared.is_some() {
                        "announced a body over"
                    } else {
                        "kept coming past"
                    },
                    body::byte_size(cap)
                )));
            }
        };
        let ok = status == reqwest::StatusCode::OK;
        metrics::http_request(endpoint, Some(status.as_u16()), started.elapsed(), ok);
        if !ok {
            let error = serde_json::from_slice::<ErrorBody>(&body).ok();
            return Err(TokenHttpError::Status {
                status: status.as_u16(),
                code: error.as_ref().and_then(|e| e.error.clone()),
                description: error.and_then(|e| e.error_description),
            });
        }
        let mut response = oauth2::http::Response::builder().status(status.as_u16());
        if let Some(content_type) = content_type {
            response = response.header(oauth2::http::header::CONTENT_TYPE, content_type);
        }
        response
            .body(body.to_vec())
            .map_err(|e| TokenHttpError::Transport(e.to_string()))
    }
}

/// A server message, shortened, with the consumer secret and the refresh token masked in
/// case it echoes them.
fn mask(text: &str, client_secret: &SecretString, grant: &Grant) -> String {
    let mut text = text.to_string();
    let mut secrets = vec![client_secret.expose_secret()];
    if let Grant::RefreshToken(token) = grant {
        secrets.push(token.expose_secret());
    }
    for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "****");
    }
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use oauth2::basic::BasicErrorResponse;

    use super::*;

    const URL: &str = "https://bitbucket.org/site/oauth2/access_token";

    fn consumer() -> OAuth {
        OAuth::new(
            "demo-client",
            &SecretString::from("consumer-secret-x"),
            Some(&SecretString::from("refresh-secret-y")),
            &Url::parse(URL).unwrap(),
            "test",
            Duration::from_secs(5),
            1 << 20,
        )
        .unwrap()
    }

    fn refused(oauth: &OAuth, status: u16, code: Option<&str>, description: Option<&str>) -> ApiError {
        let grant = Grant::RefreshToken(SecretString::from("refresh-secret-y"));
        oauth.error::<BasicErrorResponse>(
            &grant,
            RequestTokenError::Request(TokenHttpError::Status {
                status,
                code: code.map(str::to_string),
                description: description.map(str::to_string),
            }),
        )
    }

    #[test]
    fn debug_shows_no_secret() {
        let shown = format!("{:?}", consumer());
        assert!(shown.contains("demo-client") && shown.contains(URL), "{shown}");
        assert!(!shown.contains("secret-"), "{shown}");
    }

    #[test]
    fn a_refused_grant_is_one_fatal_line_naming_url_and_code() {
        let oauth = consumer();
        let e = refused(
            &oauth,
            400,
            Some("invalid_grant"),
            Some("refresh-secret-y is not valid for consumer-secret-x"),
        );
        let line = e.to_string();
        assert!(!e.is_retryable());
        assert!(line.contains(URL) && line.contains("invalid_grant"), "{line}");
        assert!(
            line.contains("refresh-token grant") && line.contains("`refresh_token`"),
            "{line}"
        );
        assert!(!line.contains("secret-"), "{line}");

        let e = refused(&oauth, 401, None, None);
        assert!(e.to_string().contains("HTTP 401"), "{e}");
    }

    #[tokio::test]
    async fn only_the_token_that_expired_is_forgotten() {
        let oauth = consumer();
        {
            let mut state = oauth.state.lock().await;
            state.issued = Some(Issued {
                token: SecretString::from("t2"),
                renew_at: None,
            });
            state.generation = 2;
        }
        // A request that used token 1 comes back 401 after token 2 was issued: keep token 2.
        oauth.expire(1).await;
        let bearer = oauth.bearer().await.unwrap();
        assert_eq!((bearer.token.expose_secret(), bearer.generation), ("t2", 2));
        oauth.expire(2).await;
        assert!(oauth.state.lock().await.issued.is_none());
    }

    #[test]
    fn server_trouble_at_the_token_endpoint_is_retried() {
        let oauth = consumer();
        for status in [429, 500, 503] {
            let e = refused(&oauth, status, None, None);
            assert!(e.is_retryable(), "{status}: {e}");
            assert!(e.to_string().contains(URL), "{e}");
        }
        let e = refused(&oauth, 302, None, None);
        assert!(!e.is_retryable() && e.to_string().contains("not followed"), "{e}");
    }
}
