//! How long to wait before retrying: exponential backoff with full jitter, starting at 1 s
//! (10 s for 429, since Bitbucket's limit is a rolling hour), capped, and overridden by the
//! server's own `Retry-After` / `X-RateLimit-Reset` when present; and what the rate-limit
//! headers say (`X-RateLimit-NearLimit`, `X-RateLimit-Limit`) for the shared budget.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;

use super::ApiError;

/// The wait before retry number `attempt` (0-based) of a request that failed with `error`.
pub fn delay(error: &ApiError, attempt: u32, cap: Duration) -> Duration {
    if let ApiError::Status {
        retry_after: Some(wait),
        ..
    } = error
    {
        return (*wait).min(cap);
    }
    let base = if error.status() == Some(429) {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(1)
    };
    let ceiling = base
        .checked_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
        .unwrap_or(cap)
        .min(cap);
    ceiling.mul_f64(jitter())
}

/// The wait the server asked for: `Retry-After` in seconds or as an HTTP date, or
/// `X-RateLimit-Reset` as a Unix time. Bitbucket Cloud's 429 usually carries neither;
/// proxies in front of it may.
pub fn server_wait(headers: &HeaderMap) -> Option<Duration> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    if let Some(value) = header(headers, "retry-after") {
        if let Ok(secs) = value.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        if let Ok(date) = chrono::DateTime::parse_from_rfc2822(value) {
            let at = u64::try_from(date.timestamp()).unwrap_or(0);
            return Some(Duration::from_secs(at.saturating_sub(now)));
        }
    }
    let reset = header(headers, "x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok())?;
    Some(Duration::from_secs(reset.saturating_sub(now)))
}

/// `X-RateLimit-NearLimit`: `Some(true)` when Bitbucket says less than about a fifth of the
/// hourly allowance is left, `Some(false)` when it says the opposite, `None` when absent
/// (it is only sent to access tokens on `/2.0/repositories/*`).
pub fn near_limit(headers: &HeaderMap) -> Option<bool> {
    let value = header(headers, "x-ratelimit-nearlimit")?;
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// `X-RateLimit-Limit`: the hourly allowance of the credential (not what is left of it).
pub fn hourly_limit(headers: &HeaderMap) -> Option<u32> {
    header(headers, "x-ratelimit-limit")?
        .parse()
        .ok()
        .filter(|n| *n > 0)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// A uniform number in [0, 1): a splitmix64 step over a process-wide counter seeded by the
/// clock. Jitter only needs to decorrelate clients, not to be unpredictable.
fn jitter() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut z = STATE
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(seed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, retry_after: Option<Duration>) -> ApiError {
        ApiError::Status {
            status: code,
            endpoint: "/x".into(),
            message: String::new(),
            retry_after,
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let cap = Duration::from_secs(300);
        for attempt in 0..12 {
            let d = delay(&status(503, None), attempt, cap);
            assert!(
                d <= Duration::from_secs(1 << attempt.min(9)).min(cap),
                "{attempt}: {d:?}"
            );
        }
        assert!(delay(&status(429, None), 0, cap) <= Duration::from_secs(10));
        assert_eq!(delay(&status(429, None), 3, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn server_wait_wins_but_is_capped() {
        let d = delay(
            &status(429, Some(Duration::from_secs(7))),
            0,
            Duration::from_secs(300),
        );
        assert_eq!(d, Duration::from_secs(7));
        let d = delay(
            &status(429, Some(Duration::from_secs(700))),
            0,
            Duration::from_secs(300),
        );
        assert_eq!(d, Duration::from_secs(300));
    }

    #[test]
    fn server_wait_reads_seconds_dates_and_resets() {
        use reqwest::header::HeaderValue;
        let mut h = HeaderMap::new();
        assert_eq!(server_wait(&h), None);
        h.insert("Retry-After", HeaderValue::from_static("7"));
        assert_eq!(server_wait(&h), Some(Duration::from_secs(7)));
        h.insert(
            "Retry-After",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(
            server_wait(&h),
            Some(Duration::ZERO),
            "a date in the past: no wait"
        );
        let mut h = HeaderMap::new();
        let soon = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 30;
        h.insert(
            "X-RateLimit-Reset",
            HeaderValue::from_str(&soon.to_string()).unwrap(),
        );
        let wait = server_wait(&h).unwrap();
        assert!(
            wait <= Duration::from_secs(30) && wait >= Duration::from_secs(28),
            "{wait:?}"
        );
    }

    #[test]
    fn rate_limit_headers() {
        use reqwest::header::HeaderValue;
        let mut h = HeaderMap::new();
        assert_eq!((near_limit(&h), hourly_limit(&h)), (None, None));
        h.insert("X-RateLimit-NearLimit", HeaderValue::from_static("True"));
        h.insert("X-RateLimit-Limit", HeaderValue::from_static("3000"));
        assert_eq!((near_limit(&h), hourly_limit(&h)), (Some(true), Some(3000)));
        h.insert("X-RateLimit-NearLimit", HeaderValue::from_static("false"));
        h.insert("X-RateLimit-Limit", HeaderValue::from_static("0"));
        assert_eq!((near_limit(&h), hourly_limit(&h)), (Some(false), None));
    }

    #[test]
    fn jitter_is_in_range() {
        for _ in 0..1000 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
