//! One request budget for the whole process: at most `max_concurrency` requests in flight,
//! and a token bucket of `requests_per_hour` tokens that refills continuously, so a run of
//! up to that many requests goes at full speed and a longer one settles at the hourly rate.
//!
//! Two signals from the server tighten it for every request, not only the one that saw them:
//! `X-RateLimit-NearLimit: true` switches to an even pace of the hourly limit (no bursts)
//! until the server says `false`, and a 429 holds every request back for its retry delay.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

/// Bitbucket's authenticated hourly limit, used to pace requests when the server says the
/// limit is near and neither the server nor the config gives another figure.
const BITBUCKET_HOURLY_LIMIT: u32 = 1000;

/// The shared budget. Every request holds a [`Slot`] while in flight.
#[derive(Debug)]
pub struct Budget {
    in_flight: Semaphore,
    pace: Mutex<Pace>,
    /// The hourly rate to pace at near the limit when the server names none.
    fallback_hourly: u32,
}

/// Permission to send one request; dropping it frees the concurrency slot.
pub struct Slot<'a> {
    _permit: SemaphorePermit<'a>,
}

/// When requests may go: the clock-driven part of the budget, kept apart from the
/// semaphore so it can be tested with explicit instants.
#[derive(Debug, Default)]
struct Pace {
    bucket: Option<Bucket>,
    /// Set while the server says the limit is near: one request per interval, no bursts.
    near_limit: Option<Spacing>,
    /// After a 429: nothing goes before this instant.
    hold_until: Option<Instant>,
    /// Whether the near-limit slowdown was logged (once per run).
    warned: bool,
}

#[derive(Debug)]
struct Bucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    refilled: Instant,
}

#[derive(Debug)]
struct Spacing {
    interval: Duration,
    next: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.refilled = now;
    }
}

impl Pace {
    /// How long a request arriving at `now` must wait. Zero means it may go, and its cost
    /// has been taken; otherwise nothing was taken and the caller asks again after waiting.
    fn reserve(&mut self, now: Instant) -> Duration {
        let mut wait = Duration::ZERO;
        match self.hold_until {
            Some(until) if until > now => wait = until - now,
            _ => self.hold_until = None,
        }
        if let Some(bucket) = &mut self.bucket {
            bucket.refill(now);
            if bucket.tokens < 1.0 {
                wait = wait.max(Duration::from_secs_f64((1.0 - bucket.tokens) / bucket.per_second));
            }
        }
        if let Some(spacing) = &self.near_limit {
            wait = wait.max(spacing.next.saturating_duration_since(now));
        }
        if wait.is_zero() {
            if let Some(bucket) = &mut self.bucket {
                bucket.tokens -= 1.0;
            }
            if let Some(spacing) = &mut self.near_limit {
                spacing.next = now + spacing.interval;
            }
        }
        wait
    }

    /// Starts pacing at `hourly` requests per hour, without bursts; the bucket's savings are
    /// spent. Returns whether this is the first slowdown of the run (to log it once).
    fn slow_down(&mut self, hourly: u32, now: Instant) -> bool {
        if self.near_limit.is_none() {
            self.near_limit = Some(Spacing {
                interval: Duration::from_secs_f64(3600.0 / f64::from(hourly.max(1))),
                next: now,
            });
            if let Some(bucket) = &mut self.bucket {
                bucket.refill(now);
                bucket.tokens = bucket.tokens.min(0.0);
            }
        }
        !std::mem::replace(&mut self.warned, true)
    }
}

impl Budget {
    /// A budget of `max_concurrency` requests in flight and `requests_per_hour` (0 = no
    /// hourly limit).
    pub fn new(max_concurrency: usize, requests_per_hour: u32) -> Self {
        let now = Instant::now();
        let bucket = (requests_per_hour > 0).then(|| Bucket {
            capacity: f64::from(requests_per_hour),
            per_second: f64::from(requests_per_hour) / 3600.0,
            tokens: f64::from(requests_per_hour),
            refilled: now,
        });
        Budget {
            in_flight: Semaphore::new(max_concurrency.max(1)),
            pace: Mutex::new(Pace {
                bucket,
                ..Pace::default()
            }),
            fallback_hourly: if requests_per_hour > 0 {
                requests_per_hour
            } else {
                BITBUCKET_HOURLY_LIMIT
            },
        }
    }

    /// Waits until a request may be sent.
    pub async fn acquire(&self) -> Slot<'_> {
        loop {
            let wait = self.pace().reserve(Instant::now());
            if wait.is_zero() {
                break;
            }
            if wait >= Duration::from_secs(5) {
                tracing::info!(
                    wait_secs = wait.as_secs_f64(),
                    "Request budget spent; waiting for it to refill."
                );
            } else {
                tracing::debug!(wait_secs = wait.as_secs_f64(), "Pacing requests.");
            }
            tokio::time::sleep(wait).await;
        }
        let permit = self
            .in_flight
            .acquire()
            .await
            .expect("the budget's semaphore is never closed");
        Slot { _permit: permit }
    }

    /// Takes in what a response said about the rate limit: `near` is its
    /// `X-RateLimit-NearLimit`, `hourly` its `X-RateLimit-Limit`.
    pub fn observe(&self, near: Option<bool>, hourly: Option<u32>) {
        match near {
            Some(true) => {
                let hourly = hourly.unwrap_or(self.fallback_hourly);
                if self.pace().slow_down(hourly, Instant::now()) {
                    tracing::warn!(
                        requests_per_hour = hourly,
                        "Bitbucket says the rate limit is nearly used up (X-RateLimit-NearLimit); \
                         slowing down to an even {hourly} requests per hour."
                    );
                }
            }
            Some(false) => {
                let mut pace = self.pace();
                if pace.near_limit.take().is_some() {
                    tracing::debug!("Bitbucket no longer says the rate limit is near; full speed again.");
                }
            }
            None => {}
        }
    }

    /// Holds every request back for `wait` (after a 429: the limit is per credential, so
    /// the other requests in flight would only be refused too).
    pub fn hold_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut pace = self.pace();
        if pace.hold_until.is_none_or(|t| t < until) {
            pace.hold_until = Some(until);
        }
    }

    fn pace(&self) -> std::sync::MutexGuard<'_, Pace> {
        self.pace.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(requests_per_hour: u32, now: Instant) -> Pace {
        let budget = Budget::new(1, requests_per_hour);
        let mut pace = budget.pace.into_inner().unwrap();
        if let Some(b) = &mut pace.bucket {
            b.refilled = now;
        }
        pace
    }

    #[test]
    fn bucket_bursts_then_paces() {
        let t0 = Instant::now();
        let mut p = pace(3600, t0);
        for _ in 0..3600 {
            assert_eq!(p.reserve(t0), Duration::ZERO);
        }
        let wait = p.reserve(t0);
        assert!(
            wait > Duration::from_millis(990) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(p.reserve(t0 + Duration::from_secs(1)), Duration::ZERO);
    }

    #[test]
    fn near_limit_paces_evenly_without_bursts() {
        let t0 = Instant::now();
        let mut p = pace(0, t0);
        assert_eq!(p.reserve(t0), Duration::ZERO);
        assert!(p.slow_down(1800, t0), "the first slowdown is logged");
        assert!(!p.slow_down(1800, t0), "and only the first");
        assert_eq!(p.reserve(t0), Duration::ZERO);
        assert_eq!(p.reserve(t0), Duration::from_secs(2));
        assert_eq!(p.reserve(t0 + Duration::from_secs(1)), Duration::from_secs(1));
        assert_eq!(p.reserve(t0 + Duration::from_secs(2)), Duration::ZERO);
        p.near_limit = None;
        assert_eq!(p.reserve(t0 + Duration::from_secs(2)), Duration::ZERO);
    }

    #[test]
    fn near_limit_spends_the_bucket_savings() {
        let t0 = Instant::now();
        let mut p = pace(3600, t0);
        p.slow_down(3600, t0);
        let wait = p.reserve(t0);
        assert!(wait > Duration::from_millis(990), "{wait:?}");
    }

    #[test]
    fn a_hold_stops_everything_until_it_ends() {
        let t0 = Instant::now();
        let mut p = pace(0, t0);
        p.hold_until = Some(t0 + Duration::from_secs(10));
        assert_eq!(p.reserve(t0), Duration::from_secs(10));
        assert_eq!(p.reserve(t0 + Duration::from_secs(10)), Duration::ZERO);
        assert_eq!(p.hold_until, None);
    }
}
