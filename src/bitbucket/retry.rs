//! How long to wait before retrying: exponential backoff with full jitter, starting at 1 s
//! (10 s for 429, since Bitbucket's limit is a rolling hour), capped, and overridden by the
//! server's own `Retry-After` / `X-RateLimit-Reset` when present.

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

/// The wait the server asked for: `Retry-After` in seconds (or an HTTP date, ignored), or
/// `X-RateLimit-Reset` as a Unix time.
pub fn server_wait(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(secs) = header("retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok())?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now)))
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
    fn jitter_is_in_range() {
        for _ in 0..1000 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
