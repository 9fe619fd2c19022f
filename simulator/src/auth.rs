//! Credential checks for `/2.0` requests: `Bearer <token>` or `Basic base64(user:pass)`
//! (OAuth-issued tokens are checked by [`crate::oauth`]), and what each kind of credential may
//! not read.
//!
//! The configured `access_token` stands for a workspace, project or repository access token,
//! and Bitbucket refuses such tokens what only a user may do (Atlassian's authentication
//! guide): they "can't query repository, project, or workspace permissions", and they are not
//! users. [`access_token_refusal`] answers those requests as Bitbucket does; Basic
//! credentials (an Atlassian API token) and OAuth tokens are users and read everything.

/// The accepted credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// Accepted Bearer token.
    pub access_token: String,
    /// Accepted Basic user name.
    pub username: String,
    /// Accepted Basic password.
    pub password: String,
}

/// The result of checking an `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Accepted.
    Ok,
    /// No `Authorization` header.
    Missing,
    /// Present but wrong (unknown scheme, bad encoding, wrong secret).
    Invalid,
}

impl Credentials {
    /// Checks the value of an `Authorization` header (raw bytes; `None` when absent).
    pub fn check(&self, header: Option<&[u8]>) -> AuthOutcome {
        let Some(raw) = header else {
            return AuthOutcome::Missing;
        };
        let Ok(value) = std::str::from_utf8(raw) else {
            return AuthOutcome::Invalid;
        };
        let value = value.trim();
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        let ok = if scheme.eq_ignore_ascii_case("bearer") {
            !self.access_token.is_empty() && rest == self.access_token
        } else if scheme.eq_ignore_ascii_case("basic") {
            decode_base64(rest)
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|pair| {
                    pair.split_once(':')
                        .map(|(u, p)| u == self.username && p == self.password)
                })
                .unwrap_or(false)
        } else {
            false
        };
        if ok {
            AuthOutcome::Ok
        } else {
            AuthOutcome::Invalid
        }
    }
}

impl Credentials {
    /// Whether an `Authorization` header carries the configured access token (rather than
    /// Basic user credentials or an OAuth-issued token).
    pub fn is_access_token(&self, header: Option<&[u8]>) -> bool {
        let Some(value) = header.and_then(|raw| std::str::from_utf8(raw).ok()) else {
            return false;
        };
        let value = value.trim();
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        scheme.eq_ignore_ascii_case("bearer")
            && !self.access_token.is_empty()
            && rest.trim() == self.access_token
    }
}

/// What Bitbucket answers an access token on an endpoint it may not use, or `None` when
/// access tokens may use it.
///
/// - The permission endpoints (`/workspaces/{ws}/permissions/repositories/{repo}`,
///   `/repositories/{ws}/{repo}/permissions-config/…`): 403 with the JSON error body, as
///   Bitbucket refuses a credential lacking a permission.
/// - `/user` and `/user/emails` ("the current user", which an access token is not): 403 as
///   well. Not 401: the token is valid (every other endpoint accepts it), and 401 means
///   "who are you?", which clients rightly treat as a bad credential for the whole run. The
///   exact status Bitbucket sends here is not documented (the notes, §8, expect a refusal);
///   tap-bitbucket skips these streams on either.
///
/// `/user/workspaces` and `/users/{account}` stay open: the first lists what the token can
/// see (the tap's credential check may call it), and the second is a public profile lookup
/// that needs no user (the notes give it no scope).
pub fn access_token_refusal(route: &Route) -> Option<ApiError> {
    let message = match route {
        Route::RepositoryPermissions(..) | Route::GroupPermissions(..) | Route::GroupPermission(..) => {
            "Access tokens cannot query repository, project or workspace permissions."
        }
        Route::User | Route::UserEmails => {
            "Access tokens are not users: this resource is about the authenticated user."
        }
        _ => return None,
    };
    Some(ApiError::new(403, message))
}

/// Decodes standard base64 (RFC 4648 alphabet, `=` padding optional). `None` on any invalid
/// character or impossible length.
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let trimmed = s.trim_end_matches('=');
    if s.len() - trimmed.len() > 2 || trimmed.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    for chunk in trimmed.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = (acc << 6) | val(c)?;
        }
        match chunk.len() {
            4 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]),
            3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
            2 => out.push((acc >> 4) as u8),
            _ => return None,
        }
    }
    Some(out)
}

use crate::api::Route;
use crate::error::ApiError;

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            access_token: "demo-token".into(),
            username: "demo@example.com".into(),
            password: "demo-api-token".into(),
        }
    }

    #[test]
    fn base64() {
        assert_eq!(decode_base64("").unwrap(), b"");
        assert_eq!(decode_base64("Zg==").unwrap(), b"f");
        assert_eq!(decode_base64("Zm8=").unwrap(), b"fo");
        assert_eq!(decode_base64("Zm9v").unwrap(), b"foo");
        assert_eq!(decode_base64("Zm9vYg").unwrap(), b"foob");
        assert!(decode_base64("Zm9v!").is_none());
        assert!(decode_base64("Z").is_none());
        assert!(decode_base64("Zg===").is_none());
    }

    #[test]
    fn headers() {
        let c = creds();
        assert_eq!(c.check(None), AuthOutcome::Missing);
        assert_eq!(c.check(Some(b"Bearer demo-token")), AuthOutcome::Ok);
        assert_eq!(c.check(Some(b"bearer  demo-token ")), AuthOutcome::Ok);
        assert_eq!(c.check(Some(b"Bearer nope")), AuthOutcome::Invalid);
        // base64("demo@example.com:demo-api-token")
        assert_eq!(
            c.check(Some(b"Basic ZGVtb0BleGFtcGxlLmNvbTpkZW1vLWFwaS10b2tlbg==")),
            AuthOutcome::Ok
        );
        // base64("demo@example.com:wrong")
        assert_eq!(
            c.check(Some(b"Basic ZGVtb0BleGFtcGxlLmNvbTp3cm9uZw==")),
            AuthOutcome::Invalid
        );
        assert_eq!(c.check(Some(b"Basic !!!")), AuthOutcome::Invalid);
        assert_eq!(c.check(Some(b"Digest x")), AuthOutcome::Invalid);
        assert_eq!(c.check(Some(b"\xff\xfe")), AuthOutcome::Invalid);
    }

    #[test]
    fn only_the_access_token_is_an_access_token() {
        let c = creds();
        assert!(c.is_access_token(Some(b"Bearer demo-token")));
        assert!(c.is_access_token(Some(b"bearer  demo-token ")));
        assert!(!c.is_access_token(Some(b"Bearer an-oauth-token")));
        assert!(!c.is_access_token(Some(b"Basic ZGVtb0BleGFtcGxlLmNvbTpkZW1vLWFwaS10b2tlbg==")));
        assert!(!c.is_access_token(None));
    }

    #[test]
    fn access_tokens_are_refused_permissions_and_the_current_user_only() {
        let refused = |path: &str| access_token_refusal(&Route::parse(path).unwrap()).map(|e| e.status);
        for path in [
            "/workspaces/acme/permissions/repositories/api",
            "/repositories/acme/api/permissions-config/groups",
            "/repositories/acme/api/permissions-config/groups/developers",
            "/user",
            "/user/emails",
        ] {
            assert_eq!(refused(path), Some(403), "{path}");
        }
        for path in [
            "/user/workspaces",
            "/users/557058:1",
            "/workspaces/acme",
            "/workspaces/acme/members",
            "/repositories/acme",
            "/repositories/acme/api/pullrequests",
            "/repositories/acme/api/branch-restrictions",
        ] {
            assert_eq!(refused(path), None, "{path}");
        }
    }
}
