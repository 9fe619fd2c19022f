//! Fault injection for `/2.0` requests: latency, rate limiting, server errors, truncated bodies
//! and cross-origin `next` links. Never applied to `/_simulator/…` or the OAuth token endpoint.
//!
//! Every counter is deterministic: it counts `/2.0` requests (429 and 5xx) or `/2.0` 200
//! responses (truncation) since the faults were last set. When both a 429 and a 5xx fall on the
//! same request, the 429 wins. Server errors rotate through 500 (JSON error), 502 (an HTML
//! gateway page) and 503 (JSON error).

use serde_json::json;

use crate::api::ApiResponse;
use crate::error::ApiError;

/// What to inject. `Default` injects nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Added to every `/2.0` response, in milliseconds.
    pub latency_ms: u64,
    /// Every Nth `/2.0` request answers 429, `text/plain` body
    /// `Rate limit for this resource has been exceeded` (0 = off).
    pub rate_limit_every: u32,
    /// When set, those 429s carry `Retry-After: <secs>`.
    pub rate_limit_retry_after_secs: Option<u64>,
    /// Every Nth `/2.0` request answers 500, 502 or 503 in turn (0 = off).
    pub server_error_every: u32,
    /// Every Nth 200 response of `/2.0` has its body cut in half (0 = off).
    pub truncate_every: u32,
    /// `next` (and `previous`) links point at `http://localhost:PORT` instead of the request's
    /// host: another origin for a client, the same server in fact.
    pub cross_origin_next: bool,
    /// Redirects (`src`, pull-request `diffstat`) point at `http://localhost:PORT`, as
    /// `cross_origin_next` does for links.
    pub cross_origin_redirect: bool,
}

/// The body of Bitbucket's 429.
pub const RATE_LIMIT_BODY: &str = "Rate limit for this resource has been exceeded";

const BAD_GATEWAY_HTML: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n";

/// The faults and their counters.
#[derive(Debug, Default)]
pub struct FaultState {
    /// The configured faults.
    pub faults: Faults,
    requests: u64,
    ok_responses: u64,
    server_errors: u64,
}

impl FaultState {
    /// Fresh counters for a set of faults.
    pub fn new(faults: Faults) -> FaultState {
        FaultState {
            faults,
            ..FaultState::default()
        }
    }

    /// Counts a `/2.0` request; returns the injected answer if this one must fail.
    pub fn before(&mut self) -> Option<ApiResponse> {
        self.requests += 1;
        let n = self.requests;
        let every = |k: u32| k > 0 && n.is_multiple_of(u64::from(k));
        if every(self.faults.rate_limit_every) {
            let mut headers = Vec::new();
            if let Some(secs) = self.faults.rate_limit_retry_after_secs {
                headers.push(("retry-after", secs.to_string()));
            }
            return Some(ApiResponse {
                status: 429,
                content_type: "text/plain",
                headers,
                body: RATE_LIMIT_BODY.as_bytes().to_vec(),
            });
        }
        if every(self.faults.server_error_every) {
            let k = self.server_errors;
            self.server_errors += 1;
            return Some(match k % 3 {
                0 => ApiResponse::error(
                    &ApiError::new(500, "Internal Server Error")
                        .with_detail("Something went wrong (injected by the simulator)."),
                ),
                1 => ApiResponse {
                    status: 502,
                    content_type: "text/html",
                    headers: Vec::new(),
                    body: BAD_GATEWAY_HTML.as_bytes().to_vec(),
                },
                _ => ApiResponse::json(
                    503,
                    &json!({
                        "type": "error",
                        "error": { "message": "Service Unavailable", "detail": "Try again later (injected by the simulator)." }
                    }),
                ),
            });
        }
        None
    }

    /// Counts a 200 response and truncates it when its turn has come.
    pub fn after(&mut self, response: &mut ApiResponse) {
        if response.status != 200 {
            return;
        }
        self.ok_responses += 1;
        let k = self.faults.truncate_every;
        if k > 0 && self.ok_responses.is_multiple_of(u64::from(k)) {
            let half = response.body.len() / 2;
            response.body.truncate(half);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters() {
        assert_eq!(RATE_LIMIT_BODY.len(), 46);
        let mut f = FaultState::new(Faults {
            rate_limit_every: 3,
            rate_limit_retry_after_secs: Some(7),
            server_error_every: 2,
            ..Faults::default()
        });
        let statuses: Vec<u16> = (0..12).map(|_| f.before().map_or(200, |r| r.status)).collect();
        assert_eq!(
            statuses,
            [200, 500, 429, 502, 200, 429, 200, 503, 429, 500, 200, 429]
        );
        let mut t = FaultState::new(Faults {
            truncate_every: 2,
            ..Faults::default()
        });
        let mut r = ApiResponse::json(200, &json!({"a": "bcdefgh"}));
        let full = r.body.len();
        t.after(&mut r);
        assert_eq!(r.body.len(), full);
        t.after(&mut r);
        assert_eq!(r.body.len(), full / 2);
    }
}
