//! List-based pagination, as Bitbucket does it for repositories, pull requests and members.
//!
//! `?page=P&pagelen=L` (defaults 1 and 10). `pagelen` above the endpoint's maximum, below 1
//! or not a number is `400 Invalid pagelen` (Bitbucket does not clamp). A page past the end is
//! empty and has no `next`. The envelope is
//! `{"size", "page", "pagelen", "next"?, "previous"?, "values"}`, where `next` and `previous`
//! are absolute URLs built from the request's `Host` header and path, keeping every other
//! query parameter unchanged and setting `page`.
//!
//! Iterator-based pagination (commits: `page=<40 hex digits>`) and cursors (pull request
//! activity: `ctx=<opaque>`) use [`iterator_envelope`] — only `pagelen`, `values` and `next` —
//! with tokens from [`encode_hash_token`] and [`encode_cursor`]. Tokens are opaque to clients
//! but checked: a token that was not issued by the simulator is `400 Invalid page`.

use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::urlenc::Query;

/// Default `pagelen`.
pub const DEFAULT_PAGELEN: usize = 10;
/// Maximum `pagelen` of most collections.
pub const MAX_PAGELEN: usize = 100;
/// Maximum `pagelen` of pull request lists.
pub const MAX_PAGELEN_PULLREQUESTS: usize = 50;
/// Maximum `pagelen` of pull request activity.
pub const MAX_PAGELEN_ACTIVITY: usize = 50;
/// Default `pagelen` of commit lists.
pub const DEFAULT_PAGELEN_COMMITS: usize = 30;
/// Default `pagelen` of pull request activity.
pub const DEFAULT_PAGELEN_ACTIVITY: usize = 20;

/// Reads `pagelen` alone (for iterator and cursor pagination), with a default and a maximum.
pub fn pagelen_from_query(query: &Query, default: usize, max: usize) -> Result<usize, ApiError> {
    match query.get("pagelen") {
        None => Ok(default),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request("Invalid pagelen")),
        },
    }
}

/// The envelope of iterator-based and cursor pagination: `{"pagelen", "values", "next"?}`.
pub fn iterator_envelope(values: Vec<Value>, pagelen: usize, next: Option<String>) -> Value {
    let mut env = Map::new();
    env.insert("pagelen".into(), json!(pagelen));
    env.insert("values".into(), Value::Array(values));
    if let Some(n) = next {
        env.insert("next".into(), json!(n));
    }
    Value::Object(env)
}

const TOKEN_MASK: u64 = 0x5bd1_e995_9e37_79b9;

fn token_check(value: u64, salt: u64) -> (u64, u32) {
    let a = crate::prng::mix(value ^ crate::prng::mix(salt ^ 0x2545_f491_4f6c_dd1d));
    (a, crate::prng::mix(a) as u32)
}

/// A 40-hex-digit token (it looks like a commit hash) carrying `value`, bound to `salt`.
pub fn encode_hash_token(value: u64, salt: u64) -> String {
    let (a, b) = token_check(value, salt);
    let masked = value ^ TOKEN_MASK ^ crate::prng::mix(salt);
    format!("{masked:016x}{a:016x}{b:08x}")
}

/// The value of a token from [`encode_hash_token`] with the same salt.
pub fn decode_hash_token(token: &str, salt: u64) -> Option<u64> {
    if token.len() != 40 || !token.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let masked = u64::from_str_radix(&token[..16], 16).ok()?;
    let a = u64::from_str_radix(&token[16..32], 16).ok()?;
    let b = u32::from_str_radix(&token[32..], 16).ok()?;
    let value = masked ^ TOKEN_MASK ^ crate::prng::mix(salt);
    (token_check(value, salt) == (a, b)).then_some(value)
}

const CURSOR_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// An opaque cursor (`ctx=`) carrying two numbers, bound to `salt`.
pub fn encode_cursor(a: u64, b: u64, salt: u64) -> String {
    let check = crate::prng::mix(a ^ crate::prng::mix(b ^ salt)) as u16;
    let mut bytes = Vec::with_capacity(18);
    bytes.extend_from_slice(&(a ^ TOKEN_MASK).to_be_bytes());
    bytes.extend_from_slice(&(b ^ TOKEN_MASK.rotate_left(17)).to_be_bytes());
    bytes.extend_from_slice(&check.to_be_bytes());
    let mut out = String::with_capacity(24);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
        for shift in [18, 12, 6, 0] {
            out.push(char::from(CURSOR_ALPHABET[((n >> shift) & 63) as usize]));
        }
    }
    out
}

/// The numbers of a cursor from [`encode_cursor`] with the same salt.
pub fn decode_cursor(cursor: &str, salt: u64) -> Option<(u64, u64)> {
    if cursor.len() != 24 {
        return None;
    }
    let mut bytes = Vec::with_capacity(18);
    for chunk in cursor.as_bytes().chunks(4) {
        let mut n = 0u32;
        for &c in chunk {
            let v = CURSOR_ALPHABET.iter().position(|&x| x == c)? as u32;
            n = (n << 6) | v;
        }
        bytes.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    let a = u64::from_be_bytes(bytes[0..8].try_into().ok()?) ^ TOKEN_MASK;
    let b = u64::from_be_bytes(bytes[8..16].try_into().ok()?) ^ TOKEN_MASK.rotate_left(17);
    let check = u16::from_be_bytes(bytes[16..18].try_into().ok()?);
    (check == crate::prng::mix(a ^ crate::prng::mix(b ^ salt)) as u16).then_some((a, b))
}

/// The requested page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// 1-based page number.
    pub page: usize,
    /// Page length.
    pub pagelen: usize,
}

impl PageRequest {
    /// Reads `page` and `pagelen` from a query, with `max` the endpoint's largest `pagelen`.
    pub fn from_query(query: &Query, max: usize) -> Result<PageRequest, ApiError> {
        PageRequest::from_query_with_default(query, DEFAULT_PAGELEN, max)
    }

    /// Like [`PageRequest::from_query`], with another default `pagelen` (e.g. 500 for a
    /// diffstat).
    pub fn from_query_with_default(
        query: &Query,
        default: usize,
        max: usize,
    ) -> Result<PageRequest, ApiError> {
        let pagelen = match query.get("pagelen") {
            None => default,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => n,
                _ => return Err(ApiError::bad_request("Invalid pagelen")),
            },
        };
        let page = match query.get("page") {
            None => 1,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => return Err(ApiError::bad_request("Invalid page")),
            },
        };
        Ok(PageRequest { page, pagelen })
    }

    /// The range of item indexes of this page within `total` items (empty past the end).
    pub fn range(&self, total: usize) -> std::ops::Range<usize> {
        let start = (self.page - 1).saturating_mul(self.pagelen).min(total);
        let end = start.saturating_add(self.pagelen).min(total);
        start..end
    }

    /// Whether a page follows this one.
    pub fn has_next(&self, total: usize) -> bool {
        self.page.saturating_mul(self.pagelen) < total
    }
}

/// What is needed to build `next` / `previous` links for a request.
#[derive(Debug, Clone)]
pub struct PageLinks {
    /// `http://host:port/2.0/path`, without the query.
    pub base: String,
    /// The request's decoded query.
    pub query: Query,
}

impl PageLinks {
    /// The link to the same request with one parameter set (e.g. `ctx` or an iterator `page`).
    pub fn with_param(&self, name: &str, value: &str) -> String {
        format!("{}?{}", self.base, self.query.with(name, value).encode())
    }

    /// The link to another page of the same request.
    pub fn page_url(&self, page: usize) -> String {
        format!(
            "{}?{}",
            self.base,
            self.query.with("page", &page.to_string()).encode()
        )
    }
}

/// Wraps one page of already rendered values in Bitbucket's envelope.
pub fn envelope(values: Vec<Value>, total: usize, req: &PageRequest, links: &PageLinks) -> Value {
    let mut env = Map::new();
    env.insert("size".into(), json!(total));
    env.insert("page".into(), json!(req.page));
    env.insert("pagelen".into(), json!(req.pagelen));
    if req.has_next(total) {
        env.insert("next".into(), json!(links.page_url(req.page + 1)));
    }
    if req.page > 1 {
        env.insert("previous".into(), json!(links.page_url(req.page - 1)));
    }
    env.insert("values".into(), Value::Array(values));
    Value::Object(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(q: &str, max: usize) -> Result<PageRequest, ApiError> {
        PageRequest::from_query(&Query::parse(q), max)
    }

    #[test]
    fn pagelen_limits() {
        assert_eq!(req("", 50).unwrap(), PageRequest { page: 1, pagelen: 10 });
        assert_eq!(req("pagelen=50&page=3", 50).unwrap().pagelen, 50);
        for bad in ["pagelen=51", "pagelen=0", "pagelen=-1", "pagelen=ten", "pagelen="] {
            let e = req(bad, 50).unwrap_err();
            assert_eq!((e.status, e.message.as_str()), (400, "Invalid pagelen"), "{bad}");
        }
        assert!(req("pagelen=100", 100).is_ok());
        assert!(req("pagelen=101", 100).is_err());
        assert!(req("page=0", 100).is_err());
        assert!(req("page=x", 100).is_err());
    }

    #[test]
    fn tokens_round_trip() {
        for v in [0u64, 1, 77, u64::MAX] {
            let t = encode_hash_token(v, 42);
            assert_eq!(t.len(), 40);
            assert_eq!(decode_hash_token(&t, 42), Some(v));
            assert_eq!(decode_hash_token(&t, 43), None);
            let c = encode_cursor(v, v / 3, 9);
            assert_eq!(decode_cursor(&c, 9), Some((v, v / 3)));
            assert_eq!(decode_cursor(&c, 8), None);
        }
        assert_eq!(decode_hash_token("2", 42), None);
        assert_eq!(decode_cursor("not-a-cursor", 1), None);
        assert_eq!(decode_cursor("AAAAAAAAAAAAAAAAAAAAAAA!", 1), None);
    }

    #[test]
    fn ranges() {
        let r = PageRequest { page: 2, pagelen: 10 };
        assert_eq!(r.range(25), 10..20);
        assert!(r.has_next(25));
        assert!(!r.has_next(20));
        let past = PageRequest { page: 9, pagelen: 10 };
        assert_eq!(past.range(25), 25..25);
        assert!(!past.has_next(25));
        let huge = PageRequest {
            page: usize::MAX,
            pagelen: 100,
        };
        assert!(huge.range(5).is_empty());
    }

    #[test]
    fn next_links_keep_the_query() {
        let links = PageLinks {
            base: "http://127.0.0.1:4000/2.0/repositories/acme/api/pullrequests".into(),
            query: Query::parse(
                "state=OPEN&state=MERGED&q=updated_on%3E%3D2026-01-01T00%3A00%3A00%2B00%3A00&sort=updated_on&pagelen=50",
            ),
        };
        let r = PageRequest { page: 1, pagelen: 50 };
        let env = envelope(vec![], 120, &r, &links);
        assert_eq!(
            env["next"],
            "http://127.0.0.1:4000/2.0/repositories/acme/api/pullrequests?state=OPEN&state=MERGED&q=updated_on%3E%3D2026-01-01T00%3A00%3A00%2B00%3A00&sort=updated_on&pagelen=50&page=2"
        );
        assert!(env.get("previous").is_none());
        assert_eq!(env["size"], 120);
        let last = envelope(vec![], 120, &PageRequest { page: 3, pagelen: 50 }, &links);
        assert!(last.get("next").is_none());
        assert!(last["previous"].as_str().unwrap().ends_with("&page=2"));
    }
}
