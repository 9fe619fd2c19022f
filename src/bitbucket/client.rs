//! The HTTP client: builds URLs under `api_url`, sends authenticated GETs under the shared
//! budget, retries what is worth retrying, and decodes bodies with the JSON path of any bad
//! value. Credentials only ever go to `api_url`'s origin: `next` links and redirects that
//! leave it are refused.

use std::time::{Duration, Instant};

use reqwest::redirect;
use serde::de::DeserializeOwned;
use url::Url;

use super::budget::Budget;
use super::{retry, ApiError, Credentials, Page};

/// What the client needs from the settings.
#[derive(Debug)]
pub struct ClientOptions {
    /// The API root (`https://api.bitbucket.org/2.0`).
    pub api_url: Url,
    /// How to authenticate.
    pub credentials: Credentials,
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
}

/// An authenticated Bitbucket client, shared by every stream of a run.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    api_url: Url,
    credentials: Credentials,
    max_retries: u32,
    backoff_max: Duration,
    budget: Budget,
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
fn shown(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

impl Client {
    /// Builds the client. Fails only when the TLS stack cannot be set up.
    pub fn new(options: ClientOptions) -> Result<Client, ApiError> {
        let api_origin = origin(&options.api_url);
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 10 {
                attempt.error("too many redirects")
            } else if origin(attempt.url()) == api_origin {
                attempt.follow()
            } else {
                let to = shown(attempt.url());
                attempt.error(format!(
                    "refusing a redirect to `{to}`: it is not on the API origin, and credentials are only sent there"
                ))
            }
        });
        let http = reqwest::Client::builder()
            .user_agent(options.user_agent)
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(30)))
            .redirect(policy)
            .build()
            .map_err(|e| ApiError::Transport {
                endpoint: shown(&options.api_url),
                reason: format!("cannot set up the HTTP client: {e}"),
            })?;
        if let Credentials::OAuth { .. } = options.credentials {
            return Err(ApiError::Auth(
                "OAuth 2.0 consumers (`client_id` + `client_secret`) are not supported yet; use \
                 `access_token` or `email` + `api_token`"
                    .into(),
            ));
        }
        Ok(Client {
            http,
            api_url: options.api_url,
            credentials: options.credentials,
            max_retries: options.max_retries,
            backoff_max: options.backoff_max,
            budget: Budget::new(options.max_concurrency, options.requests_per_hour),
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
                origin: shown(&self.api_url)
                    .trim_end_matches(self.api_url.path())
                    .to_string(),
            });
        }
        Ok(url)
    }

    /// GETs one page of a collection.
    pub async fn get_page<T: DeserializeOwned>(&self, url: &Url) -> Result<Page<T>, ApiError> {
        self.get_json(url).await
    }

    /// GETs a JSON document, retrying 429, 5xx, network failures and malformed bodies.
    pub async fn get_json<T: DeserializeOwned>(&self, url: &Url) -> Result<T, ApiError> {
        let mut attempt = 0;
        loop {
            match self.get_once(url).await {
                Ok(value) => return Ok(value),
                Err(error) if error.is_retryable() && attempt < self.max_retries => {
                    let wait = retry::delay(&error, attempt, self.backoff_max);
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

    async fn get_once<T: DeserializeOwned>(&self, url: &Url) -> Result<T, ApiError> {
        let endpoint = url.path().to_string();
        let transport = |e: reqwest::Error| ApiError::Transport {
            endpoint: endpoint.clone(),
            reason: describe(&e),
        };
        let _slot = self.budget.acquire().await;
        let started = Instant::now();
        let request = self.credentials.apply(self.http.get(url.clone()));
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let wait = retry::server_wait(response.headers());
        let body = response.bytes().await.map_err(transport)?;
        tracing::debug!(
            endpoint = %endpoint,
            status = status.as_u16(),
            bytes = body.len(),
            millis = started.elapsed().as_millis() as u64,
            "GET"
        );
        if !status.is_success() {
            return Err(ApiError::Status {
                status: status.as_u16(),
                endpoint,
                message: error_message(&body, status),
                retry_after: wait,
            });
        }
        decode(&endpoint, &body)
    }
}

/// Decodes a body, naming the JSON path of a value of the wrong type.
pub(crate) fn decode<T: DeserializeOwned>(endpoint: &str, body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
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

/// The readable part of an error body: Bitbucket's `error.message` (and `error.detail`), or
/// the first line of a plain-text body.
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
    let text = String::from_utf8_lossy(body);
    let line: String = text.lines().next().unwrap_or("").chars().take(200).collect();
    if line.trim().is_empty() {
        status.canonical_reason().unwrap_or("no message").to_string()
    } else {
        line.trim().to_string()
    }
}

/// A reqwest error without its URL, with its causes, on one line.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".into();
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
            user_agent: "test".into(),
            timeout: Duration::from_secs(5),
            max_retries: 0,
            backoff_max: Duration::ZERO,
            max_concurrency: 1,
            requests_per_hour: 0,
        })
        .unwrap()
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
