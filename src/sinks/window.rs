//! How many finished events a setup's sinks hold at once, and where the rest wait. Each event
//! handed to the sinks costs a few hundred bytes of bookkeeping (its ids, counters, a place in
//! each sender's queue) for as long as some sink still owes it; with the ingest down that is
//! every event, so those bytes would grow with the count. So the sinks hold at most a window
//! of events (`BUFFER.window()`, counted in `maxQueueMemoryBytes`); the rest wait in the spool
//! only, and what memory keeps of them is a list of runs: a first record, its sequence number
//! and a count for each stretch of records written one after another, which is one run per
//! spool segment (8 MiB) in a storm. As the sinks finish events the window is refilled from the
//! front run, reading the spool forward, so events reach the sinks in the order they were
//! handed over.
//!
//! The window is per setup and shared by its sinks, because an event is settled (out of the
//! spool, counted by `flush`) once every sink is done with it: a sink that lags by more than a
//! window holds the others back to its pace until it catches up. Nothing waits that long
//! unless a sink is down or over its request budget.
//!
//! Events the spool cannot give back (no spool, or a browser event whose disk share must be
//! returned when it is delivered) bypass the window: they are held in memory as before, and
//! the tunnel's own share bounds the browser's.

use super::{Finished, Sink};
use crate::buffer::BUFFER;
use crate::ledger::{SinkKind, LEDGER};
use crate::log;
use crate::spool::{Durable, SpoolRef};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Records read from the spool at a time when refilling.
const CHUNK: usize = 1024;

/// A setup's sinks, and the window of events they hold.
pub struct Fanout {
    sinks: Vec<Box<dyn Sink>>,
    durable: Arc<Durable>,
    state: Mutex<State>,
    /// One thread refills at a time; the others leave it to that one.
    refilling: AtomicBool,
}

struct State {
    /// Events handed to the sinks and not yet released by all of them.
    alive: usize,
    /// Events waiting in the spool only, oldest first.
    backlog: VecDeque<Run>,
}

/// Consecutive records of the spool, owed to the same sinks, with consecutive sequence numbers.
struct Run {
    /// The next record to read, and its sequence number.
    next: SpoolRef,
    seq: u64,
    count: usize,
    /// The last record in the run, which the next one must follow to extend it.
    last: SpoolRef,
    owed: Vec<SinkKind>,
}

impl Deref for Fanout {
    type Target = [Box<dyn Sink>];

    fn deref(&self) -> &Self::Target {
        &self.sinks
    }
}

impl Fanout {
    pub fn new(sinks: Vec<Box<dyn Sink>>, durable: Arc<Durable>) -> Arc<Fanout> {
        Arc::new(Fanout {
            sinks,
            durable,
            state: Mutex::new(State {
                alive: 0,
                backlog: VecDeque::new(),
            }),
            refilling: AtomicBool::new(false),
        })
    }

    /// The sinks this setup has among `owed`.
    pub fn sinks_for(&self, owed: &[SinkKind]) -> Vec<&dyn Sink> {
        self.sinks
            .iter()
            .filter(|s| owed.contains(&s.kind()))
            .map(|s| s.as_ref())
            .collect()
    }

    /// Events waiting in the spool only, beyond the window, and the runs memory keeps of them.
    #[cfg(test)]
    fn backlog(&self) -> (usize, usize) {
        let state = self.state.lock();
        (
            state.backlog.iter().map(|r| r.count).sum(),
            state.backlog.len(),
        )
    }

    /// Hands `finished` to each of these sinks that it is owed to, if the window has room and
    /// nothing waits before it; else it waits in the spool, and memory keeps only its place in
    /// a run. Those it is owed to that this setup lacks keep it owed in the spool, untouched,
    /// for a start that has them.
    pub fn hand_over(self: &Arc<Self>, finished: Finished, owed: &[SinkKind]) {
        let now = self.sinks_for(owed);
        let finished = finished.owed(now.len(), now.len() < owed.len());
        let at = match finished.spooled {
            Some(at) if finished.on_release.is_none() && !now.is_empty() => at,
            _ => return submit(finished, &now),
        };
        let mut state = self.state.lock();
        if state.backlog.is_empty() && state.alive < BUFFER.window() {
            state.alive += 1;
            drop(state);
            return submit(self.admit(finished), &now);
        }
        let seq = finished.seq;
        match state.backlog.back_mut() {
            Some(run)
                if run.seq + run.count as u64 == seq
                    && run.last.followed_by(&at)
                    && run.owed == owed =>
            {
                run.count += 1;
                run.last = at;
            }
            _ => state.backlog.push_back(Run {
                next: at,
                seq,
                count: 1,
                last: at,
                owed: owed.to_vec(),
            }),
        }
        let room = state.alive < BUFFER.window();
        drop(state);
        // Its payload goes from memory; the spool keeps it.
        drop(finished);
        if room {
            self.refill();
        }
    }

    /// `finished` takes a place in the window: its bookkeeping counts in the buffer, and its
    /// release gives the place back.
    fn admit(self: &Arc<Self>, mut finished: Finished) -> Finished {
        BUFFER.hold_window(Finished::BOOKKEEPING);
        finished.window = Some(self.clone());
        finished
    }

    /// An event of the window is done with every sink: refill once a quarter has gone.
    pub(super) fn released(self: &Arc<Self>) {
        BUFFER.release_window(Finished::BOOKKEEPING);
        let mut state = self.state.lock();
        state.alive -= 1;
        let low = state.alive <= BUFFER.window() * 3 / 4;
        let waiting = !state.backlog.is_empty();
        drop(state);
        if low && waiting {
            self.refill();
        }
    }

    /// Fills the window from the front of the backlog. Whoever finds another thread at it
    /// leaves it to that one, which looks again once it is done.
    fn refill(self: &Arc<Self>) {
        loop {
            if self.refilling.swap(true, Ordering::Acquire) {
                return;
            }
            self.refill_some();
            self.refilling.store(false, Ordering::Release);
            let state = self.state.lock();
            if state.backlog.is_empty() || state.alive >= BUFFER.window() {
                return;
            }
        }
    }

    fn refill_some(self: &Arc<Self>) {
        let Some(spool) = &self.durable.spool else {
            return;
        };
        loop {
            // Take places in the window for the next records of the front run. Only the
            // refilling thread takes from the front; `hand_over` only extends the back.
            let (from, seq, take, owed, rest) = {
                let mut state = self.state.lock();
                let room = BUFFER.window().saturating_sub(state.alive);
                let Some(run) = state.backlog.front_mut() else {
                    return;
                };
                if room == 0 {
                    return;
                }
                let take = room.min(run.count).min(CHUNK);
                run.count -= take;
                let taken = (run.next, run.seq, take, run.owed.clone(), run.count > 0);
                run.seq += take as u64;
                if run.count == 0 {
                    state.backlog.pop_front();
                }
                state.alive += take;
                taken
            };
            let now = self.sinks_for(&owed);
            let carried = now.len() < owed.len();
            let mut read = 0;
            let mut last = from;
            let result = spool.read_run(from, take, |at, payload| {
                let seq = seq + read as u64;
                read += 1;
                last = at;
                match payload.and_then(|p| {
                    Finished::from_spool(seq, p, at, self.durable.clone())
                        .ok_or("spool record unreadable")
                }) {
                    Ok(finished) => {
                        submit(self.admit(finished.owed(now.len(), carried)), &now);
                    }
                    Err(why) => self.lost(seq, Some(at), &now, carried, why),
                }
            });
            if let Err(e) = result {
                let why = format!("spool read failed: {e}");
                for i in read..take {
                    self.lost(seq + i as u64, None, &now, carried, &why);
                }
            }
            // What is left of the run starts after the last record read.
            if rest && read > 0 {
                if let Some(run) = self.state.lock().backlog.front_mut() {
                    run.next = last.after();
                }
            }
        }
    }

    /// An event of the backlog that cannot be read back: failed at every sink, and settled so
    /// that `flush` does not wait for it.
    fn lost(&self, seq: u64, at: Option<SpoolRef>, now: &[&dyn Sink], carried: bool, why: &str) {
        log::warn(format_args!(
            "spool: an event waiting for delivery is lost: {why}"
        ));
        for sink in now {
            LEDGER.record_failed(sink.kind());
        }
        if let (Some(spool), Some(at), false) = (&self.durable.spool, at, carried) {
            spool.settle(at);
        }
        LEDGER.settle(seq);
        self.state.lock().alive -= 1;
    }
}

/// Hands one event to each of `now`.
fn submit(finished: Finished, now: &[&dyn Sink]) {
    let finished = Arc::new(finished);
    for sink in now {
        sink.submit(finished.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Audit;
    use crate::spool::{Record, Spool};

    /// A sink whose ingest is down: it keeps every event it is given until the test lets go.
    #[derive(Default)]
    struct Holding(Arc<Mutex<Vec<Arc<Finished>>>>);

    impl Sink for Holding {
        fn kind(&self) -> SinkKind {
            SinkKind::Sentry
        }

        fn submit(&self, event: Arc<Finished>) {
            self.0.lock().push(event);
        }
    }

    #[test]
    fn past_the_window_events_wait_in_the_spool_as_runs_and_all_come_back_in_order() {
        let dir = std::env::temp_dir().join(format!("et-window-{}", uuid::Uuid::new_v4().simple()));
        let durable = Arc::new(Durable {
            spool: Some(Spool::open(&dir).unwrap()),
            audit: Audit::new(dir.join("audit"), 1),
            problem: None,
            release: None,
            environment: None,
        });
        let spool = durable.spool.as_ref().unwrap();
        let held = Holding::default();
        let sink = held.0.clone();
        let fanout = Fanout::new(vec![Box::new(held)], durable.clone());
        let window = BUFFER.window();
        let count = 2 * window + window / 2;
        // Sequence numbers of their own, far from any other test's.
        let first = 1 << 40;
        let mut ids = Vec::new();
        for group in (0..count).collect::<Vec<_>>().chunks(256) {
            let mut ready = Vec::new();
            for &i in group {
                let record = Record {
                    id: format!("{i:032x}"),
                    sinks: vec!["sentry".into()],
                    fingerprint: "f".into(),
                    stack: None,
                    debug_images: Vec::new(),
                    sessions: None,
                    item_type: None,
                    event: Default::default(),
                };
                let payload = serde_json::to_vec(&record).unwrap();
                let at = spool.append(&payload).unwrap();
                ready.push(Finished::new(
                    first + i as u64,
                    &record,
                    payload,
                    Some(at),
                    durable.clone(),
                ));
                ids.push(record.id);
            }
            spool.commit().unwrap();
            for finished in ready {
                fanout.hand_over(finished, &[SinkKind::Sentry]);
            }
        }
        assert_eq!(sink.lock().len(), window, "the sink holds a window's worth");
        let (waiting, runs) = fanout.backlog();
        assert_eq!(waiting, count - window);
        assert!(
            runs <= 2,
            "{runs} runs for {waiting} events in one segment or two"
        );

        // The ingest comes back: each event the sink is done with makes room for the next.
        let mut seen = Vec::new();
        loop {
            let batch: Vec<Arc<Finished>> = std::mem::take(&mut *sink.lock());
            if batch.is_empty() {
                break;
            }
            for event in batch {
                seen.push((event.seq, event.id.clone()));
                event.done(SinkKind::Sentry, Ok(()));
            }
        }
        let expected: Vec<(u64, String)> = (0..count)
            .map(|i| (first + i as u64, ids[i].clone()))
            .collect();
        assert_eq!(seen.len(), count);
        assert!(
            seen == expected,
            "every event once, in the order handed over"
        );
        assert_eq!(fanout.backlog(), (0, 0));
        assert_eq!(fanout.state.lock().alive, 0);
        drop((fanout, durable));
        assert!(
            !dir.join("spool").read_dir().unwrap().any(|_| true),
            "every record settled"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
