//! The account of every captured event: counters for `stats()`, and which events have settled
//! (reached every sink, or failed for good) so `flush` knows when everything captured before
//! it is done. Sinks write here from their own threads; the calling thread only bumps a
//! counter.

use crossbeam_utils::CachePadded;
use parking_lot::{Condvar, Mutex};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

/// Where an event can be delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkKind {
    Sentry,
    Legacy,
    Outbox,
}

impl SinkKind {
    pub const ALL: [SinkKind; 3] = [SinkKind::Sentry, SinkKind::Legacy, SinkKind::Outbox];

    pub fn name(self) -> &'static str {
        match self {
            SinkKind::Sentry => "sentry",
            SinkKind::Legacy => "legacy",
            SinkKind::Outbox => "outbox",
        }
    }

    pub fn from_name(name: &str) -> Option<SinkKind> {
        SinkKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

pub struct Ledger {
    /// Events recovered from an earlier process's spool.
    pub replayed: AtomicU64,
    /// Replays under way (each on its own thread); `flush` waits for them.
    pub replaying: AtomicUsize,
    /// Sequence numbers handed out: captured plus replayed. Every `trackError` bumps it, so
    /// it has a cache line of its own: the counters the worker and senders bump beside it
    /// would otherwise pull the line away from the calling thread on every event.
    pub next_seq: CachePadded<AtomicU64>,
    /// Events the worker has processed and written to the spool (or failed to process).
    pub committed: AtomicU64,
    pub dropped: AtomicU64,
    /// Events `ignoreErrors` matched: processed, never sent.
    pub ignored: AtomicU64,
    /// Release-health records this process made, and a browser's sessions and client reports
    /// (the tunnel's): they take sequence numbers (so `flush` waits for them) but are not
    /// errors.
    pub sessions: AtomicU64,
    /// Release-health records (and browser client reports) Sentry accepted.
    pub sessions_sent: AtomicU64,
    /// Events that could not be processed at all (a bug), beside the per-sink failures.
    pub failed: AtomicU64,
    /// Events in a spool that some sink still owes.
    pub spooled: AtomicU64,
    failed_by: [AtomicU64; 3],
    retrying_by: [AtomicU64; 3],
    /// Milliseconds since the epoch until which Sentry rate-limits errors (0: not limited).
    pub rate_limited_until_ms: AtomicU64,
    delivered: [AtomicU64; 3],
    settled_count: AtomicU64,
    /// Callers waiting in `flush`: sinks that batch send at once while it is non-zero.
    flushing: AtomicUsize,
    settled: Mutex<Watermark>,
    changed: Condvar,
}

/// Every sequence number below `below` has settled; `above` holds settled ones past a gap.
struct Watermark {
    below: u64,
    above: BTreeSet<u64>,
}

pub static LEDGER: Ledger = Ledger::new();

impl Ledger {
    const fn new() -> Self {
        Ledger {
            replayed: AtomicU64::new(0),
            replaying: AtomicUsize::new(0),
            next_seq: CachePadded::new(AtomicU64::new(0)),
            committed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            ignored: AtomicU64::new(0),
            sessions: AtomicU64::new(0),
            sessions_sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            spooled: AtomicU64::new(0),
            failed_by: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            retrying_by: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            rate_limited_until_ms: AtomicU64::new(0),
            delivered: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            settled_count: AtomicU64::new(0),
            flushing: AtomicUsize::new(0),
            settled: Mutex::new(Watermark {
                below: 0,
                above: BTreeSet::new(),
            }),
            changed: Condvar::new(),
        }
    }

    /// Errors `trackError` accepted (sampled in): every sequence number not spent on a replay,
    /// so the calling thread bumps one counter, not two.
    pub fn captured(&self) -> u64 {
        self.next_seq
            .load(Relaxed)
            .saturating_sub(self.replayed.load(Relaxed))
            .saturating_sub(self.sessions.load(Relaxed))
    }

    pub fn delivered(&self, sink: SinkKind) -> u64 {
        self.delivered[sink as usize].load(Relaxed)
    }

    pub fn record_delivered(&self, sink: SinkKind) {
        self.delivered[sink as usize].fetch_add(1, Relaxed);
    }

    pub fn failed_at(&self, sink: SinkKind) -> u64 {
        self.failed_by[sink as usize].load(Relaxed)
    }

    pub fn record_failed(&self, sink: SinkKind) {
        self.failed_by[sink as usize].fetch_add(1, Relaxed);
    }

    /// Events failed anywhere: per sink, plus any the worker could not process.
    pub fn failed_total(&self) -> u64 {
        self.failed.load(Relaxed) + self.failed_by.iter().map(|f| f.load(Relaxed)).sum::<u64>()
    }

    pub fn retrying_at(&self, sink: SinkKind) -> u64 {
        self.retrying_by[sink as usize].load(Relaxed)
    }

    pub fn retrying_total(&self) -> u64 {
        self.retrying_by.iter().map(|f| f.load(Relaxed)).sum()
    }

    pub fn retry_started(&self, sink: SinkKind) {
        self.retrying_by[sink as usize].fetch_add(1, Relaxed);
    }

    pub fn retry_ended(&self, sink: SinkKind) {
        self.retrying_by[sink as usize].fetch_sub(1, Relaxed);
    }

    /// Events captured or replayed but not yet settled everywhere.
    pub fn queued(&self) -> u64 {
        self.next_seq
            .load(Relaxed)
            .saturating_sub(self.settled_count.load(Relaxed))
    }

    /// Marks event `seq` done with every sink.
    pub fn settle(&self, seq: u64) {
        self.settled_count.fetch_add(1, Relaxed);
        let mut w = self.settled.lock();
        if seq == w.below {
            w.below += 1;
            loop {
                let next = w.below;
                if !w.above.remove(&next) {
                    break;
                }
                w.below += 1;
            }
            self.changed.notify_all();
        } else if seq > w.below {
            w.above.insert(seq);
        }
    }

    /// Waits until every event numbered below `target` has settled, or `deadline` passes.
    pub fn wait_settled(&self, target: u64, deadline: Instant) -> bool {
        self.flushing.fetch_add(1, Relaxed);
        let mut w = self.settled.lock();
        let done = loop {
            if w.below >= target {
                break true;
            }
            if self.changed.wait_until(&mut w, deadline).timed_out() {
                break w.below >= target;
            }
        };
        drop(w);
        self.flushing.fetch_sub(1, Relaxed);
        done
    }

    pub fn is_flushing(&self) -> bool {
        self.flushing.load(Relaxed) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn watermark_waits_for_gaps() {
        let ledger = Ledger::new();
        ledger.settle(1);
        ledger.settle(2);
        let soon = || Instant::now() + Duration::from_millis(20);
        assert!(!ledger.wait_settled(1, soon()), "0 is still open");
        ledger.settle(0);
        assert!(ledger.wait_settled(3, soon()));
        assert!(!ledger.wait_settled(4, soon()));
    }

    #[test]
    fn waiter_wakes_when_another_thread_settles() {
        static L: Ledger = Ledger::new();
        let t = std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(30));
            L.settle(0);
        });
        assert!(L.wait_settled(1, Instant::now() + Duration::from_secs(10)));
        t.join().unwrap();
    }
}
