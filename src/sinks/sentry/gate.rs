//! When the sender threads may send. One gate for all of them, so a limited or failing ingest
//! sees one request, not sixteen: while Sentry rate-limits errors nobody sends; after a
//! failure everybody waits out the backoff, then a single probe goes, and the rest follow only
//! once it gets through.

use super::super::http;
use super::ratelimit::{Category, RateLimits};
use crate::ledger::LEDGER;
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Default)]
struct State {
    limits: RateLimits,
    /// Failures in a row; while non-zero, one probe at a time.
    failures: u32,
    backoff_until: Option<Instant>,
    probe_in_flight: bool,
}

#[derive(Default)]
pub struct Gate {
    state: Mutex<State>,
    changed: Condvar,
    /// A clock that stands still where a test put it, so that what counts as "failed
    /// together" does not depend on how fast the test runs.
    #[cfg(test)]
    frozen: Mutex<Option<Instant>>,
}

/// What became of a request sent through the gate.
pub enum Outcome<'a> {
    /// A response arrived (any status); its rate-limit headers count.
    Answered {
        status: u16,
        rate_limits: Option<&'a str>,
        retry_after: Option<&'a str>,
    },
    /// The request failed or the server failed (5xx, timeout, no connection).
    Failed { after: Option<Duration> },
}

impl Gate {
    fn now(&self) -> Instant {
        #[cfg(test)]
        if let Some(at) = *self.frozen.lock() {
            return at;
        }
        Instant::now()
    }

    /// Blocks until a request may go.
    pub fn enter(&self) {
        let mut s = self.state.lock();
        loop {
            let now = self.now();
            let limited = s.limits.until(SystemTime::now()).map(|until| {
                now + until
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO)
            });
            let wait_until = match (limited, s.backoff_until.filter(|b| *b > now)) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            match wait_until {
                Some(at) => {
                    self.changed.wait_until(&mut s, at);
                }
                None if s.failures > 0 && s.probe_in_flight => self.changed.wait(&mut s),
                None => {
                    if s.failures > 0 {
                        s.probe_in_flight = true;
                    }
                    return;
                }
            }
        }
    }

    /// Blocks while Sentry rate-limits `category` (release health, client reports); then
    /// `enter`.
    pub fn enter_held(&self, category: Category) {
        let mut s = self.state.lock();
        while let Some(until) = s.limits.held_until(category, SystemTime::now()) {
            let wait = until
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            self.changed.wait_for(&mut s, wait);
        }
        drop(s);
        self.enter();
    }

    /// Reports what the request let through by `enter` came to.
    pub fn leave(&self, outcome: Outcome<'_>) {
        let mut s = self.state.lock();
        s.probe_in_flight = false;
        match outcome {
            Outcome::Answered {
                status,
                rate_limits,
                retry_after,
            } => {
                s.limits
                    .update(status, rate_limits, retry_after, SystemTime::now());
                if status == 429 {
                    // Be polite when the limit lifts: one request first.
                    s.failures = s.failures.max(1);
                } else {
                    s.failures = 0;
                    s.backoff_until = None;
                }
            }
            Outcome::Failed { after } => {
                // Requests in flight together that fail together are one failure, not
                // sixteen: the wait doubles once per round, not once per request.
                let now = self.now();
                if s.backoff_until.is_none_or(|b| b <= now) {
                    let wait = http::backoff(s.failures).max(after.unwrap_or_default());
                    s.failures += 1;
                    s.backoff_until = Some(now + wait);
                }
            }
        }
        let until = s.limits.until(SystemTime::now()).map_or(0, |u| {
            u.duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
        });
        LEDGER.rate_limited_until_ms.store(until, Relaxed);
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAILED: Outcome<'static> = Outcome::Failed { after: None };

    #[test]
    fn requests_that_fail_together_double_the_wait_once() {
        let gate = Gate::default();
        let t0 = Instant::now();
        *gate.frozen.lock() = Some(t0);
        // Sixteen senders' requests, in flight together, fail together.
        for _ in 0..16 {
            gate.leave(FAILED);
        }
        let first = {
            let s = gate.state.lock();
            assert_eq!(s.failures, 1, "one round, one failure");
            s.backoff_until.expect("a backoff")
        };
        let wait = first - t0;
        assert!(
            (Duration::from_millis(375)..=Duration::from_millis(625)).contains(&wait),
            "first backoff {wait:?}: 500 ms ±25%"
        );

        // The backoff is over: the probe fails too, and that is the next round.
        *gate.frozen.lock() = Some(first);
        gate.leave(FAILED);
        let s = gate.state.lock();
        assert_eq!(s.failures, 2);
        let wait = s.backoff_until.expect("a backoff") - first;
        assert!(
            (Duration::from_millis(750)..=Duration::from_millis(1250)).contains(&wait),
            "second backoff {wait:?}: 1 s ±25%"
        );
    }
}
