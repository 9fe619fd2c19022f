//! The OAuth 2.0 token endpoint (`POST /site/oauth2/access_token`) and the issued tokens.
//!
//! Client authentication: HTTP Basic `client_id:client_secret`, or the `client_id` and
//! `client_secret` form fields. Grants: `client_credentials`, and `refresh_token` with
//! `refresh_token=…`. Issued access tokens are accepted as `Bearer` on `/2.0` until they expire
//! (wall clock); an expired one answers 401 "Access token expired…". With rotation, every
//! refresh-token grant returns a new refresh token and invalidates the one it used.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::api::{ApiRequest, ApiResponse};
use crate::auth::decode_base64;
use crate::prng::mix;
use crate::urlenc::Query;

/// The path of the token endpoint.
pub const TOKEN_PATH: &str = "/site/oauth2/access_token";

/// The scopes every token carries.
pub const SCOPES: &str = "repository pullrequest account";

/// The result of looking up a Bearer token among the issued ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    /// Issued and not expired.
    Valid,
    /// Issued, expired.
    Expired,
    /// Never issued.
    Unknown,
}

#[derive(Debug, Default)]
struct Inner {
    access: HashMap<String, Instant>,
    refresh: HashSet<String>,
    counter: u64,
}

/// The OAuth consumer and the tokens issued so far.
#[derive(Debug)]
pub struct OAuth {
    client_id: String,
    client_secret: String,
    configured_refresh: String,
    rotate: bool,
    lifetime_secs: AtomicU64,
    grants: AtomicUsize,
    inner: Mutex<Inner>,
}

fn oauth_error(status: u16, error: &str, description: &str) -> ApiResponse {
    ApiResponse::json(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

impl OAuth {
    /// A consumer with its credentials, the refresh token that is valid from the start, the
    /// access-token lifetime and whether refresh tokens rotate.
    pub fn new(
        client_id: &str,
        client_secret: &str,
        refresh_token: &str,
        lifetime_secs: u64,
        rotate: bool,
    ) -> OAuth {
        let mut refresh = HashSet::new();
        if !refresh_token.is_empty() {
            refresh.insert(refresh_token.to_string());
        }
        OAuth {
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            configured_refresh: refresh_token.to_string(),
            rotate,
            lifetime_secs: AtomicU64::new(lifetime_secs),
            grants: AtomicUsize::new(0),
            inner: Mutex::new(Inner {
                refresh,
                ..Inner::default()
            }),
        }
    }

    /// Sets the lifetime of tokens issued from now on.
    pub fn set_lifetime_secs(&self, secs: u64) {
        self.lifetime_secs.store(secs, Ordering::SeqCst);
    }

    /// How many grants were issued.
    pub fn grants(&self) -> usize {
        self.grants.load(Ordering::SeqCst)
    }

    /// Looks up a Bearer token.
    pub fn check(&self, token: &str) -> TokenStatus {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match inner.access.get(token) {
            None => TokenStatus::Unknown,
            Some(&expires) if Instant::now() < expires => TokenStatus::Valid,
            Some(_) => TokenStatus::Expired,
        }
    }

    fn new_token(inner: &mut Inner, kind: &str) -> String {
        inner.counter += 1;
        let n = inner.counter;
        let a = mix(n ^ 0x6a09_e667_f3bc_c908 ^ mix(kind.len() as u64));
        let b = mix(a ^ n);
        format!("sim{kind}{a:016x}{b:016x}")
    }

    /// Handles `POST /site/oauth2/access_token`.
    pub fn handle(&self, req: &ApiRequest<'_>) -> ApiResponse {
        if req.method != "POST" {
            return oauth_error(405, "invalid_request", "The token endpoint accepts POST only.");
        }
        let form = Query::parse(&String::from_utf8_lossy(req.body));
        // Client authentication: Basic header, else form fields.
        let basic = req
            .authorization
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|v| {
                let v = v.trim();
                let (scheme, rest) = v.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("basic")
                    .then(|| rest.trim().to_string())
            })
            .and_then(|b64| decode_base64(&b64))
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|pair| pair.split_once(':').map(|(u, p)| (u.to_string(), p.to_string())));
        let (id, secret) = match basic {
            Some(pair) => pair,
            None => (
                form.get("client_id").unwrap_or_default().to_string(),
                form.get("client_secret").unwrap_or_default().to_string(),
            ),
        };
        if id.is_empty() || id != self.client_id || secret != self.client_secret {
            return oauth_error(400, "invalid_grant", "Invalid OAuth client credentials");
        }
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (state, refresh) = match form.get("grant_type") {
            Some("client_credentials") => {
                let refresh = if self.rotate {
                    let t = OAuth::new_token(&mut inner, "rt");
                    inner.refresh.insert(t.clone());
                    t
                } else {
                    self.configured_refresh.clone()
                };
                ("client_credentials", refresh)
            }
            Some("refresh_token") => {
                let Some(presented) = form.get("refresh_token").filter(|t| !t.is_empty()) else {
                    return oauth_error(400, "invalid_request", "Missing refresh_token parameter.");
                };
                if !inner.refresh.contains(presented) {
                    return oauth_error(400, "invalid_grant", "Invalid refresh_token");
                }
                let refresh = if self.rotate {
                    inner.refresh.remove(presented);
                    let t = OAuth::new_token(&mut inner, "rt");
                    inner.refresh.insert(t.clone());
                    t
                } else {
                    presented.to_string()
                };
                ("refresh_token", refresh)
            }
            Some(other) => {
                return oauth_error(
                    400,
                    "unsupported_grant_type",
                    &format!("Unsupported grant type: {other}"),
                )
            }
            None => return oauth_error(400, "invalid_request", "Missing grant_type parameter."),
        };
        let lifetime = self.lifetime_secs.load(Ordering::SeqCst);
        let access = OAuth::new_token(&mut inner, "at");
        inner
            .access
            .insert(access.clone(), Instant::now() + Duration::from_secs(lifetime));
        drop(inner);
        self.grants.fetch_add(1, Ordering::SeqCst);
        let mut response = ApiResponse::json(
            200,
            &json!({
                "access_token": access,
                "scopes": SCOPES,
                "expires_in": lifetime,
                "token_type": "bearer",
                "state": state,
                "refresh_token": refresh,
            }),
        );
        response.headers.push(("cache-control", "no-store".to_string()));
        response
    }
}
