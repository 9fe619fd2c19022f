//! One request budget for the whole process: at most `max_concurrency` requests in flight,
//! and a token bucket of `requests_per_hour` tokens that refills continuously, so a run of
//! up to that many requests goes at full speed and a longer one settles at the hourly rate.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

/// The shared budget. Every request holds a [`Slot`] while in flight.
#[derive(Debug)]
pub struct Budget {
    in_flight: Semaphore,
    bucket: Option<Mutex<Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    refilled: Instant,
}

/// Permission to send one request; dropping it frees the concurrency slot.
pub struct Slot<'a> {
    _permit: SemaphorePermit<'a>,
}

impl Budget {
    /// A budget of `max_concurrency` requests in flight and `requests_per_hour` (0 = no
    /// hourly limit).
    pub fn new(max_concurrency: usize, requests_per_hour: u32) -> Self {
        let bucket = (requests_per_hour > 0).then(|| {
            Mutex::new(Bucket {
                capacity: f64::from(requests_per_hour),
                per_second: f64::from(requests_per_hour) / 3600.0,
                tokens: f64::from(requests_per_hour),
                refilled: Instant::now(),
            })
        });
        Budget {
            in_flight: Semaphore::new(max_concurrency.max(1)),
            bucket,
        }
    }

    /// Waits until a request may be sent.
    pub async fn acquire(&self) -> Slot<'_> {
        loop {
            let wait = match &self.bucket {
                None => Duration::ZERO,
                Some(bucket) => {
                    let mut b = bucket.lock().unwrap_or_else(|e| e.into_inner());
                    let now = Instant::now();
                    let elapsed = now.duration_since(b.refilled).as_secs_f64();
                    b.tokens = (b.tokens + elapsed * b.per_second).min(b.capacity);
                    b.refilled = now;
                    if b.tokens >= 1.0 {
                        b.tokens -= 1.0;
                        Duration::ZERO
                    } else {
                        Duration::from_secs_f64((1.0 - b.tokens) / b.per_second)
                    }
                }
            };
            if wait.is_zero() {
                break;
            }
            tracing::info!(
                wait_secs = wait.as_secs_f64(),
                "Request budget spent; waiting for the hourly budget to refill."
            );
            tokio::time::sleep(wait).await;
        }
        let permit = self
            .in_flight
            .acquire()
            .await
            .expect("the budget's semaphore is never closed");
        Slot { _permit: permit }
    }
}
