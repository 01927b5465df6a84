//! What keeps a public route from being turned against the app: the DSN is in every page, so
//! anyone can post to the tunnel. Three limits, all in memory and bounded:
//!
//! - `Clients`: a token bucket per client address, so one client cannot take every other
//!   browser's share. Past it the client is told to back off (429), as Sentry would tell it.
//! - `Share`: the bytes browser events hold in the spool while they wait for delivery. Past it
//!   new browser events are refused (429), so a flood cannot fill the disk; server errors are
//!   never refused.
//! - `Seen`: event ids already accepted, so an SDK that retries (or a replayed request) does
//!   not make a second event.

use parking_lot::Mutex;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Clients remembered at once. Past it, those whose bucket is full again are forgotten first
/// (they lose nothing), then the oldest.
const MAX_CLIENTS: usize = 10_000;
/// Event ids remembered for deduplication.
const MAX_SEEN: usize = 10_000;

pub struct Clients {
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Clients {
    pub fn new() -> Clients {
        Clients {
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `client`'s budget of `per_minute` (a burst of up to that many,
    /// refilled evenly over the minute). `Err(wait)` when it is spent: how long until the next.
    pub fn take(&self, client: &str, per_minute: u32, now: Instant) -> Result<(), Duration> {
        let per_minute = f64::from(per_minute.max(1));
        let rate = per_minute / 60.0;
        let mut buckets = self.buckets.lock();
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(client) {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < per_minute
            });
            if buckets.len() >= MAX_CLIENTS {
                if let Some(oldest) = buckets
                    .iter()
                    .min_by_key(|(_, b)| b.at)
                    .map(|(k, _)| k.clone())
                {
                    buckets.remove(&oldest);
                }
            }
        }
        let bucket = buckets.entry(client.to_owned()).or_insert(Bucket {
            tokens: per_minute,
            at: now,
        });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refill).min(per_minute);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate).max(Duration::from_secs(1)))
        }
    }
}

/// Bytes of browser events in the spool, not yet delivered everywhere.
pub struct Share {
    held: AtomicU64,
}

impl Share {
    pub const fn new() -> Share {
        Share {
            held: AtomicU64::new(0),
        }
    }

    /// Charges `bytes` if they fit under `cap`; false (nothing charged) if not.
    pub fn charge(&self, bytes: u64, cap: u64) -> bool {
        self.held
            .fetch_update(Relaxed, Relaxed, |held| {
                (held + bytes <= cap).then_some(held + bytes)
            })
            .is_ok()
    }

    pub fn release(&self, bytes: u64) {
        self.held.fetch_sub(bytes, Relaxed);
    }

    #[cfg(test)]
    pub fn held(&self) -> u64 {
        self.held.load(Relaxed)
    }
}

/// Recently accepted event ids, oldest forgotten first.
pub struct Seen {
    ids: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl Seen {
    pub fn new() -> Seen {
        Seen {
            ids: Mutex::new((HashSet::new(), VecDeque::new())),
        }
    }

    /// Claims `id`; false when it was already claimed (a duplicate).
    pub fn claim(&self, id: &str) -> bool {
        let mut guard = self.ids.lock();
        let (set, order) = &mut *guard;
        if !set.insert(id.to_owned()) {
            return false;
        }
        order.push_back(id.to_owned());
        if order.len() > MAX_SEEN {
            if let Some(old) = order.pop_front() {
                set.remove(&old);
            }
        }
        true
    }

    /// Gives a claim back: the event was not kept, so the SDK's retry must be taken.
    pub fn unclaim(&self, id: &str) {
        let mut guard = self.ids.lock();
        let (set, order) = &mut *guard;
        set.remove(id);
        order.retain(|o| o != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_budget_and_then_waits() {
        let clients = Clients::new();
        let t = Instant::now();
        for _ in 0..3 {
            assert!(clients.take("a", 3, t).is_ok());
        }
        let wait = clients.take("a", 3, t).unwrap_err();
        assert_eq!(wait, Duration::from_secs(20));
        // Another client is not held back by the first.
        assert!(clients.take("b", 3, t).is_ok());
        // A third of a minute later, one more.
        assert!(clients.take("a", 3, t + Duration::from_secs(20)).is_ok());
        assert!(clients.take("a", 3, t + Duration::from_secs(20)).is_err());
    }

    #[test]
    fn the_share_is_capped_and_released() {
        let share = Share::new();
        assert!(share.charge(60, 100));
        assert!(!share.charge(41, 100));
        share.release(60);
        assert!(share.charge(100, 100));
        assert_eq!(share.held(), 100);
    }

    #[test]
    fn a_duplicate_is_seen_until_given_back() {
        let seen = Seen::new();
        assert!(seen.claim("x"));
        assert!(!seen.claim("x"));
        seen.unclaim("x");
        assert!(seen.claim("x"));
    }
}
