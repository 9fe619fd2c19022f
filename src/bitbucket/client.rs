//! The HTTP client: builds URLs under `api_url`, sends authenticated GETs under the shared
//! budget, retries what is worth retrying, and decodes bodies with the JSON path of any bad
//! value. Credentials only ever go to `api_url`'s origin (and, for an OAuth consumer, to the
//! token URL; see [`super::oauth`]): `next` links and redirects that leave it are refused.
//!
//! Every attempt is measured ([`crate::metrics::http_request`]); what the rate-limit headers
//! and 429s say goes to the shared [`Budget`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::redirect;
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use url::Url;

use super::body::{self, BodyError};
use super::budget::Budget;
use super::connect;
use super::oauth::OAuth;
use super::{retry, ApiError, Credentials, Page};
use crate::metrics;

/// What the client needs from the settings.
#[derive(Debug)]
pub struct ClientOptions {
    /// The API root (`https://api.bitbucket.org/2.0`).
    pub api_url: Url,
    /// How to authenticate.
    pub credentials: Credentials,
    /// The OAuth 2.0 token endpoint (used by OAuth consumers only).
    pub oauth_token_url: Url,
    /// The User-Agent header.
    pub user_agent: String,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Retries of one request.
    pub max_retries: u32,
    /// Longest wait between retries.
    pub backoff_max: Duration,
    /// Requests in flight at once.
    pub max_concurrency: usize,
    /// Hourly request budget (0 = none).
    pub requests_per_hour: u32,
    /// The most bytes one response body may hold (see [`super::body`]).
    pub max_response_bytes: u64,
}

/// An authenticated Bitbucket client, shared by every stream of a run.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    api_url: Url,
    auth: Auth,
    max_retries: u32,
    backoff_max: Duration,
    budget: Budget,
    max_response_bytes: u64,
    /// Timeout of one request (named in the message when one times out).
    timeout: Duration,
    /// Whether any request has been answered (with any status): until then, a connection
    /// failure most likely means a wrong `api_url`, and is retried once only.
    answered: AtomicBool,
}

/// How requests are authenticated: a fixed header, or an OAuth token that is renewed.
#[derive(Debug)]
enum Auth {
    Fixed(Credentials),
    OAuth(Box<OAuth>),
}

/// One attempt's outcome, with the OAuth token generation it used (to renew that one on a
/// 401 "expired").
struct Attempt<T> {
    result: Result<T, ApiError>,
    token_generation: Option<u64>,
}

/// Scheme, host and port: what "the same origin" compares.
fn origin(url: &Url) -> (String, Option<String>, Option<u16>) {
    (
        url.scheme().to_string(),
        url.host_str().map(str::to_ascii_lowercase),
        url.port_or_known_default(),
    )
}

/// A URL as shown in messages: scheme, host, port and path, never the query.
pub(crate) fn shown(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// Why the redirect policy stopped a redirect: its target (as shown) is off the API origin.
#[derive(Debug)]
struct OffOrigin {
    to: String,
}

impl std::fmt::Display for OffOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a redirect to `{}` leaves the API origin", self.to)
    }
}

impl std::error::Error for OffOrigin {}

impl Client {
    /// Builds the client. Fails only when the TLS stack cannot be set up.
    pub fn new(options: ClientOptions) -> Result<Client, ApiError> {
        let api_origin = origin(&options.api_url);
        let policy = redirect::Policy::custom(move |attempt| {
            // `previous` holds the URLs before this redirect (as in reqwest's own limit).
            if attempt.previous().len() > 10 {
                attempt.error("too many redirects")
            } else if origin(attempt.url()) == api_origin {
                attempt.follow()
            } else {
                let to = shown(attempt.url());
                attempt.error(OffOrigin { to })
            }
        });
        let http = reqwest::Client::builder()
            .user_agent(options.user_agent.as_str())
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(30)))
            .redirect(policy)
            .build()
            .map_err(|e| ApiError::Transport {
                endpoint: shown(&options.api_url),
                reason: format!("cannot set up the HTTP client: {e}"),
            })?;
        let auth = match options.credentials {
            Credentials::OAuth {
                client_id,
                client_secret,
                refresh_token,
            } => Auth::OAuth(Box::new(OAuth::new(
                &client_id,
                &client_secret,
                refresh_token.as_ref(),
                &options.oauth_token_url,
                &options.user_agent,
                options.timeout,
                options.max_response_bytes,
            )?)),
            fixed => Auth::Fixed(fixed),
        };
        Ok(Client {
            http,
            api_url: options.api_url,
            auth,
            max_retries: options.max_retries,
            backoff_max: options.backoff_max,
            budget: Budget::new(options.max_concurrency, options.requests_per_hour),
            max_response_bytes: options.max_response_bytes,
            timeout: options.timeout,
            answered: AtomicBool::new(false),
        })
    }

    /// The URL of an API path: `api_url` followed by `segments`, each percent-encoded (so a
    /// `{uuid}` or a slug with odd characters stays one segment).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.api_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// The error of a redirect the policy refused: one leaving the API origin (where
    /// credentials must not go), or the eleventh in a row.
    fn refused_redirect(&self, endpoint: &str, error: &reqwest::Error) -> ApiError {
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            if let Some(off) = cause.downcast_ref::<OffOrigin>() {
                return ApiError::ForeignOrigin {
                    endpoint: endpoint.to_string(),
                    url: off.to.clone(),
                    origin: self.shown_origin(),
                };
            }
            source = cause.source();
        }
        ApiError::RedirectLoop {
            endpoint: endpoint.to_string(),
        }
    }

    /// The API's scheme, host and port, as shown in messages.
    fn shown_origin(&self) -> String {
        shown(&self.api_url)
            .trim_end_matches(self.api_url.path())
            .to_string()
    }

    /// Checks that a `next` link returned by `from` stays on the API origin and parses it.
    pub fn next_url(&self, from: &Url, next: &str) -> Result<Url, ApiError> {
        let endpoint = from.path().to_string();
        let url = from.join(next).map_err(|e| ApiError::Data {
            endpoint: endpoint.clone(),
            path: "next".into(),
            reason: format!("not a URL: {e}"),
        })?;
        if origin(&url) != origin(&self.api_url) {
            return Err(ApiError::ForeignOrigin {
                endpoint,
                url: shown(&url),
                origin: self.shown_origin(),
            });
        }
        Ok(url)
    }

    /// GETs one page of a collection, as owned values (see [`Client::page`]).
    pub async fn get_page<T: DeserializeOwned>(&self, url: &Url) -> Result<Page<T>, ApiError> {
        self.get_with(url, |text| self.page(url, text)).await
    }

    /// Decodes the body of the page at `url` (see [`decode_text`]). A page whose `next` link
    /// leaves the API's origin is refused at once, whether or not the reader would follow it.
    pub fn page<'b, T: Deserialize<'b>>(&self, url: &Url, text: &'b str) -> Result<Page<T>, ApiError> {
        let page: Page<T> = decode_text(url.path(), text)?;
        if let Some(next) = &page.next {
            self.next_url(url, next)?;
        }
        Ok(page)
    }

    /// GETs a JSON document as an owned value (see [`Client::get_with`]).
    pub async fn get_json<T: DeserializeOwned>(&self, url: &Url) -> Result<T, ApiError> {
        self.get_with(url, |text| decode_text(url.path(), text)).await
    }

    /// GETs a JSON document and hands its text to `read`, which decodes it (values that
    /// borrow from the text) and returns what must outlive it, such as the page's rendered
    /// records. Retries 429, 5xx, network failures and bodies that are not JSON (`read`
    /// answering [`ApiError::Malformed`]); `read` runs once per body received, and any other
    /// error it returns is final. An OAuth token the API calls expired is renewed once per
    /// request.
    pub async fn get_with<R>(
        &self,
        url: &Url,
        mut read: impl FnMut(&str) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let mut attempt = 0;
        let mut renewed = false;
        loop {
            let Attempt {
                result,
                token_generation,
            } = self.get_once(url, &mut read).await;
            match result {
                Ok(value) => return Ok(value),
                Err(error) if !renewed && token_expired(&error) && token_generation.is_some() => {
                    if let (Auth::OAuth(oauth), Some(generation)) = (&self.auth, token_generation) {
                        tracing::info!(
                            endpoint = url.path(),
                            "The OAuth access token expired; renewing it."
                        );
                        oauth.expire(generation).await;
                    }
                    renewed = true;
                }
                Err(ApiError::Connect { target, cause, .. })
                    if !self.answered.load(Ordering::Relaxed)
                        && attempt < self.max_retries.min(1)
                        && !cause.starts_with(connect::CERTIFICATE_REFUSED) =>
                {
                    // Nothing has answered yet: most likely a wrong `api_url` or a server that
                    // is not running, which the whole backoff schedule would not fix. Quietly:
                    // if the retry fails too, its one error line says it all.
                    let wait = connect::FIRST_CONTACT_WAIT;
                    tracing::debug!(
                        endpoint = url.path(),
                        "Cannot connect to {target} ({cause}); trying once more in {} s.",
                        wait.as_secs()
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(error @ ApiError::Connect { .. }) if !self.answered.load(Ordering::Relaxed) => {
                    return Err(if attempt > 0 {
                        ApiError::Exhausted {
                            last: Box::new(error),
                            retries: attempt,
                        }
                    } else {
                        error
                    })
                }
                Err(error) if error.is_retryable() && attempt < self.max_retries => {
                    let wait = retry::delay(&error, attempt, self.backoff_max);
                    if error.status() == Some(429) {
                        self.budget.hold_for(wait);
                    }
                    tracing::warn!(
                        endpoint = url.path(),
                        attempt = attempt + 1,
                        wait_secs = wait.as_secs_f64(),
                        "Retrying after: {error}"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(error) if attempt > 0 => {
                    return Err(ApiError::Exhausted {
                        last: Box::new(error),
                        retries: attempt,
                    })
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// One attempt: wait for the budget, authenticate, send, and hand the body to `read`.
    async fn get_once<R>(&self, url: &Url, read: &mut impl FnMut(&str) -> Result<R, ApiError>) -> Attempt<R> {
        let _slot = self.budget.acquire().await;
        let mut request = self.http.get(url.clone());
        let mut token_generation = None;
        match &self.auth {
            Auth::Fixed(credentials) => request = credentials.apply(request),
            Auth::OAuth(oauth) => match oauth.bearer().await {
                Ok(bearer) => {
                    request = request.bearer_auth(bearer.token.expose_secret());
                    token_generation = Some(bearer.generation);
                }
                Err(error) => {
                    return Attempt {
                        result: Err(error),
                        token_generation,
                    }
                }
            },
        }
        Attempt {
            result: self.send(url, request, read).await,
            token_generation,
        }
    }

    async fn send<R>(
        &self,
        url: &Url,
        request: reqwest::RequestBuilder,
        read: &mut impl FnMut(&str) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let endpoint = url.path().to_string();
        let started = Instant::now();
        let transport = |e: reqwest::Error| {
            metrics::http_request(&endpoint, None, started.elapsed(), false);
            if e.is_redirect() {
                // Refused by the redirect policy: the same request would be redirected the
                // same way, so this is not retried.
                return self.refused_redirect(&endpoint, &e);
            }
            match connect::classify(&e, url) {
                Some(failure) => ApiError::Connect {
                    endpoint: endpoint.clone(),
                    target: connect::host_port(url),
                    cause: failure.cause(),
                    advice: failure.advice("api_url", &self.api_url),
                },
                None if e.is_timeout() => ApiError::Transport {
                    endpoint: endpoint.clone(),
                    reason: format!(
                        "{} after {} s (`request_timeout_secs`)",
                        super::error::TIMED_OUT,
                        self.timeout.as_secs_f64()
                    ),
                },
                None => ApiError::Transport {
                    endpoint: endpoint.clone(),
                    reason: describe(&e),
                },
            }
        };
        let response = request.send().await.map_err(transport)?;
        self.answered.store(true, Ordering::Relaxed);
        let status = response.status();
        let headers = response.headers();
        let wait = retry::server_wait(headers);
        self.budget
            .observe(retry::near_limit(headers), retry::hourly_limit(headers));
        let content_type = header_text(headers, reqwest::header::CONTENT_TYPE);
        // No Accept-Encoding is sent, so a compressed body is a proxy's or a misconfigured
        // server's: not read (its decoded size is unknown). A success with one is refused,
        // unretried; an error status is judged by its status alone (a compressed 429 or 503
        // is still retried, a 404 still skips).
        let encoding = header_text(headers, reqwest::header::CONTENT_ENCODING)
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty() && e != "identity");
        if let Some(encoding) = encoding.as_ref().filter(|_| status.is_success()) {
            metrics::http_request(&endpoint, Some(status.as_u16()), started.elapsed(), false);
            return Err(ApiError::Encoded {
                endpoint: endpoint.clone(),
                encoding: encoding
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | ',' | ' '))
                    .take(40)
                    .collect(),
            });
        }
        let fetched = if encoding.is_some() {
            Ok(Vec::new())
        } else {
            body::read(response, self.max_response_bytes).await
        };
        let body = match fetched {
            Ok(body) => body,
            Err(BodyError::Transport(e)) => return Err(transport(e)),
            Err(BodyError::TooLarge { declared }) => {
                metrics::http_request(&endpoint, Some(status.as_u16()), started.elapsed(), false);
                return Err(ApiError::TooLarge {
                    endpoint: endpoint.clone(),
                    cap: self.max_response_bytes,
                    declared,
                });
            }
        };
        tracing::debug!(
            endpoint = %endpoint,
            status = status.as_u16(),
            bytes = body.len(),
            millis = started.elapsed().as_millis() as u64,
            "GET"
        );
        let result = if status.is_success() {
            let result = utf8(&endpoint, &body).and_then(read);
            match result {
                Err(ApiError::Malformed { .. }) => match body::not_json(content_type.as_deref(), &body) {
                    Some(what) => Err(ApiError::NotJson {
                        endpoint: endpoint.clone(),
                        what,
                    }),
                    None => result,
                },
                _ => result,
            }
        } else {
            Err(ApiError::Status {
                status: status.as_u16(),
                endpoint: endpoint.clone(),
                message: error_message(&body, status),
                retry_after: wait,
            })
        };
        metrics::http_request(
            &endpoint,
            Some(status.as_u16()),
            started.elapsed(),
            result.is_ok(),
        );
        result
    }
}

/// Text of a header, when it is text.
fn header_text(headers: &reqwest::header::HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_string)
}

/// Whether the API refused an OAuth token because it expired (401 "Access token expired").
fn token_expired(error: &ApiError) -> bool {
    matches!(error, ApiError::Status { status: 401, message, .. }
        if message.to_ascii_lowercase().contains("expired"))
}

/// Decodes a response body as every request does: a value of the wrong type in a known field
/// is [`ApiError::Data`] naming its JSON path (`values[3].author.uuid`), a body that is not
/// JSON (truncated, garbled, not UTF-8, nested too deep) is [`ApiError::Malformed`]. Public so
/// the property tests can feed it arbitrary bodies; it never panics.
pub fn decode<'b, T: Deserialize<'b>>(endpoint: &str, body: &'b [u8]) -> Result<T, ApiError> {
    decode_text(endpoint, utf8(endpoint, body)?)
}

/// A body as text: JSON is UTF-8, and one check of the whole body is cheaper than one per
/// string. A body that is not UTF-8 is [`ApiError::Malformed`].
fn utf8<'b>(endpoint: &str, body: &'b [u8]) -> Result<&'b str, ApiError> {
    std::str::from_utf8(body).map_err(|e| ApiError::Malformed {
        endpoint: endpoint.to_string(),
        reason: format!("the body is not UTF-8: {e}"),
    })
}

/// [`decode`] of a body already known to be UTF-8.
pub fn decode_text<'b, T: Deserialize<'b>>(endpoint: &str, text: &'b str) -> Result<T, ApiError> {
    // Nearly every body decodes, and tracking the path of every value costs an allocation per
    // key (a third of the decoding time of a page of pull requests): decode without it first,
    // and only a body that fails is decoded again to name the path.
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    decode_with_path(endpoint, text)
}

/// [`decode`]'s slow path: the same decoding, tracking the JSON path for the error.
fn decode_with_path<'b, T: Deserialize<'b>>(endpoint: &str, text: &'b str) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let malformed = |e: serde_json::Error| ApiError::Malformed {
        endpoint: endpoint.to_string(),
        reason: e.to_string(),
    };
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            ApiError::Data {
                endpoint: endpoint.to_string(),
                path,
                reason: inner.to_string(),
            }
        } else {
            malformed(inner)
        }
    })?;
    de.end().map_err(malformed)?;
    Ok(value)
}

/// The readable part of an error body: Bitbucket's `error.message` (and `error.detail`), the
/// title of an HTML page (a proxy's `502 Bad Gateway`), or the first line of a plain-text body.
fn error_message(body: &[u8], status: reqwest::StatusCode) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let error = &value["error"];
        if let Some(message) = error["message"].as_str() {
            return match error["detail"].as_str() {
                Some(detail) if !detail.is_empty() => format!("{message} ({detail})"),
                _ => message.to_string(),
            };
        }
    }
    if let Some(title) = body::page_title(body) {
        return title;
    }
    let text = String::from_utf8_lossy(body);
    let line: String = text.lines().next().unwrap_or("").chars().take(200).collect();
    if line.trim().is_empty() {
        status.canonical_reason().unwrap_or("no message").to_string()
    } else {
        line.trim().to_string()
    }
}

/// A reqwest error without its URL, with its causes, on one line.
pub(super) fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return super::error::TIMED_OUT.into();
    }
    let mut text = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        let part = e.to_string();
        if !part.starts_with("error sending request") && !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        source = e.source();
    }
    if text.is_empty() {
        "request failed".into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_message_reads_bitbucket_envelope() {
        let body = br#"{"type":"error","error":{"message":"Invalid pagelen"}}"#;
        assert_eq!(
            error_message(body, reqwest::StatusCode::BAD_REQUEST),
            "Invalid pagelen"
        );
        let body = br#"{"type":"error","error":{"message":"CHANGE-2770 - Functionality has been deprecated","detail":"Please read the changelog."}}"#;
        assert_eq!(
            error_message(body, reqwest::StatusCode::GONE),
            "CHANGE-2770 - Functionality has been deprecated (Please read the changelog.)"
        );
        let body = b"Rate limit for this resource has been exceeded";
        assert_eq!(
            error_message(body, reqwest::StatusCode::TOO_MANY_REQUESTS),
            "Rate limit for this resource has been exceeded"
        );
        let body = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n";
        assert_eq!(
            error_message(body, reqwest::StatusCode::BAD_GATEWAY),
            "502 Bad Gateway"
        );
    }

    #[test]
    fn decode_names_path_or_malformed() {
        #[derive(Debug, serde::Deserialize)]
        struct Item {
            #[allow(dead_code)]
            id: u64,
        }
        let err = decode::<Page<Item>>("/x", br#"{"values":[{"id":1},{"id":"two"}]}"#).unwrap_err();
        assert!(
            matches!(&err, ApiError::Data { path, .. } if path == "values[1].id"),
            "{err}"
        );
        let err = decode::<Page<Item>>("/x", br#"{"values":[{"id":1},"#).unwrap_err();
        assert!(matches!(err, ApiError::Malformed { .. }));
        assert!(err.is_retryable());
    }

    fn client(api: &str) -> Client {
        Client::new(ClientOptions {
            api_url: Url::parse(api).unwrap(),
            credentials: Credentials::Bearer("t".to_string().into()),
            oauth_token_url: Url::parse("https://bitbucket.org/site/oauth2/access_token").unwrap(),
            user_agent: "test".into(),
            timeout: Duration::from_secs(5),
            max_retries: 0,
            backoff_max: Duration::ZERO,
            max_concurrency: 1,
            requests_per_hour: 0,
            max_response_bytes: 1 << 20,
        })
        .unwrap()
    }

    #[test]
    fn only_an_expired_token_is_renewed() {
        let status = |status: u16, message: &str| ApiError::Status {
            status,
            endpoint: "/2.0/user".into(),
            message: message.into(),
            retry_after: None,
        };
        assert!(token_expired(&status(
            401,
            "Access token expired. Use your refresh token to obtain a new access token."
        )));
        assert!(!token_expired(&status(401, "Invalid credentials")));
        assert!(!token_expired(&status(403, "Token expired")));
    }

    #[test]
    fn urls_stay_under_api_root_and_encode_segments() {
        let c = client("https://api.bitbucket.org/2.0");
        assert_eq!(
            c.url(&["repositories", "acme", "{1234}"]).as_str(),
            "https://api.bitbucket.org/2.0/repositories/acme/%7B1234%7D"
        );
    }

    #[test]
    fn next_links_must_keep_the_origin() {
        let c = client("http://127.0.0.1:8080/2.0");
        let from = c.url(&["repositories", "acme"]);
        assert!(c
            .next_url(&from, "http://127.0.0.1:8080/2.0/repositories/acme?page=2")
            .is_ok());
        for bad in [
            "http://127.0.0.1:8081/2.0/repositories/acme?page=2",
            "https://127.0.0.1:8080/2.0/repositories/acme?page=2",
            "http://evil.example/2.0/repositories/acme?page=2",
        ] {
            let err = c.next_url(&from, bad).unwrap_err();
            assert!(matches!(err, ApiError::ForeignOrigin { .. }), "{bad}");
        }
    }
}
