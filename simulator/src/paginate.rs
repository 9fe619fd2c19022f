//! List-based pagination, as Bitbucket does it for repositories, pull requests and members.
//!
//! `?page=P&pagelen=L` (defaults 1 and 10). `pagelen` above the endpoint's maximum, below 1
//! or not a number is `400 Invalid pagelen` (Bitbucket does not clamp). A page past the end is
//! empty and has no `next`. The envelope is
//! `{"size", "page", "pagelen", "next"?, "previous"?, "values"}`, where `next` and `previous`
//! are absolute URLs built from the request's `Host` header and path, keeping every other
//! query parameter unchanged and setting `page`.
//!
//! Phase 2: iterator-based pagination (commits, `ctx=` cursors for pull request activity)
//! belongs in this module too; it needs only a different [`PageLinks`] method.

use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::urlenc::Query;

/// Default `pagelen`.
pub const DEFAULT_PAGELEN: usize = 10;
/// Maximum `pagelen` of most collections.
pub const MAX_PAGELEN: usize = 100;
/// Maximum `pagelen` of pull request lists.
pub const MAX_PAGELEN_PULLREQUESTS: usize = 50;

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
        let pagelen = match query.get("pagelen") {
            None => DEFAULT_PAGELEN,
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
