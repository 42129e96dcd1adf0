//! Per-channel limits: how many sends run at once, and how many start per second. The rate is
//! kept by spacing starts evenly (each send reserves the next free slot), which is what
//! providers' "N messages per second" caps mean.

use std::time::Duration;

use tokio::sync::{Mutex, Semaphore, SemaphorePermit};
use tokio::time::Instant;

use crate::config::ChannelLimits;

pub struct Throttle {
    slots: Semaphore,
    /// Time between starts; zero means unlimited.
    spacing: Duration,
    next: Mutex<Instant>,
}

impl Throttle {
    pub fn new(limits: ChannelLimits) -> Throttle {
        let spacing = if limits.rate_per_second > 0.0 {
            Duration::from_secs_f64(1.0 / limits.rate_per_second)
        } else {
            Duration::ZERO
        };
        Throttle {
            slots: Semaphore::new(limits.concurrency),
            spacing,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for a free slot and the next start time; the permit ends the send's slot.
    pub async fn acquire(&self) -> SemaphorePermit<'_> {
        let permit = self.slots.acquire().await.expect("the semaphore is never closed");
        if !self.spacing.is_zero() {
            let start = {
                let mut next = self.next.lock().await;
                let start = (*next).max(Instant::now());
                *next = start + self.spacing;
                start
            };
            tokio::time::sleep_until(start).await;
        }
        permit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn starts_are_spaced_by_the_rate() {
        let t = Throttle::new(ChannelLimits {
            concurrency: 10,
            rate_per_second: 4.0,
        });
        let begin = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..5 {
            let _p = t.acquire().await;
            starts.push(begin.elapsed());
        }
        assert_eq!(starts[0], Duration::ZERO);
        assert_eq!(starts[4], Duration::from_millis(1000), "{starts:?}");
    }

    #[tokio::test]
    async fn concurrency_is_capped() {
        let t = Throttle::new(ChannelLimits {
            concurrency: 2,
            rate_per_second: 0.0,
        });
        let a = t.acquire().await;
        let _b = t.acquire().await;
        assert!(t.slots.try_acquire().is_err(), "a third send waits");
        drop(a);
        assert!(t.slots.try_acquire().is_ok());
    }
}
