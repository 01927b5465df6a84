//! Stage 3, the background thread: turn each captured error into a finished event (parse the
//! stack, resolve source maps, build the event, fingerprint it, scrub it) and hand it to the sinks of the setup it
//! was captured under. Nothing leaves this module unscrubbed. The stages after the build
//! (`finish`) and the commit (`release`) are also how the browser tunnel (`tunnel`) keeps a
//! page's event: one way through for both halves.
//!
//! The worker prepares events (everything up to the serialised spool record) on as many
//! threads as the host has cores, up to four, and writes them to the spool and hands them on
//! alone, in the order they were captured (`prepare_all`, then `spool`).
//!
//! The worker never blocks the calling thread: it is not woken per error (that would be a
//! syscall on every `trackError`) but looks at its queue every `TICK`, or at once when a flush
//! asks.

use crate::buffer::{Job, BUFFER};
use crate::event::{self, Origin};
use crate::ledger::{SinkKind, LEDGER};
use crate::log;
use crate::scrub::Texts;
use crate::setup::Setup;
use crate::sinks::Finished;
use crate::sourcemaps::Resolver;
use crate::spool::Record;
use crate::{filter, fingerprint, groups};
use parking_lot::Mutex;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, LazyLock};
use std::thread;
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(20);

/// One resolver for the process: parsed maps outlive any one `init`.
pub static RESOLVER: LazyLock<Resolver> = LazyLock::new(Resolver::new);

/// Events written to the spool but not yet committed are handed to the sinks in groups of at
/// most this many, after one fsync for the group.
const GROUP: usize = 256;

/// A finished event written (not yet committed) to its setup's spool.
pub struct Ready {
    finished: Finished,
    setup: Arc<Setup>,
}

pub fn run() {
    let threads = threads();
    let mut group: Vec<Ready> = Vec::new();
    loop {
        let batch = take(BATCH);
        if batch.is_empty() {
            if !group.is_empty() {
                release(&mut group);
            } else if ThreadTicks.park() {
                // Unparked early: a flush or an exit wants the events now.
                wait_out_burst(|| BUFFER.waiting(), &mut ThreadTicks);
            }
            continue;
        }
        // Built, scrubbed and serialised on every thread; written to the spool here, one at
        // a time, in the order they were captured.
        for (seq, prepared) in prepare_all(batch, threads) {
            let ready = prepared.and_then(|p| p.map(|p| caught(|| spool(p))).transpose());
            match ready {
                Ok(Some(ready)) => group.push(ready),
                // `ignoreErrors` matched: counted, never sent.
                Ok(None) => {
                    LEDGER.ignored.fetch_add(1, Relaxed);
                    LEDGER.committed.fetch_add(1, Relaxed);
                    LEDGER.settle(seq);
                }
                Err(why) => {
                    log::warn(format_args!("event {seq} could not be processed: {why}"));
                    LEDGER.failed.fetch_add(1, Relaxed);
                    LEDGER.committed.fetch_add(1, Relaxed);
                    LEDGER.settle(seq);
                }
            }
            if group.len() >= GROUP {
                release(&mut group);
            }
        }
    }
}

/// Captures taken from the buffer at once. Each thread works on one at a time, so a batch
/// bounds how many captures are out of the buffer's count (and its memory cap) and not yet
/// in the spool: this many, a few hundred kilobytes for errors with large contexts.
const BATCH: usize = 64;
/// Below this many captures the worker does them alone: starting a helper would cost more.
const SHARED_FROM: usize = 8;
/// Most threads that prepare events (the worker and its helpers), whatever the host has.
const MAX_THREADS: usize = 4;

/// The worker's threads: one per core the process may use, up to `MAX_THREADS`. They run at
/// background priority (`threads`), so they take only cores the app leaves idle.
fn threads() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS))
}

/// Up to `n` captures from the buffer, oldest first.
fn take(n: usize) -> Vec<Job> {
    let mut batch = Vec::new();
    while batch.len() < n {
        match BUFFER.pop() {
            Some(job) => batch.push(job),
            None => break,
        }
    }
    batch
}

/// A bug here must cost one event, not the thread that serves them all.
fn caught<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|panic| crate::threads::panic_text(&*panic))
}

/// What became of one capture: prepared, ignored (`None`), or the panic it caused.
type Outcome = Result<Option<Prepared>, String>;

/// Each job prepared (`process`), on up to `threads` threads, returned in the batch's order.
/// Threads take the next job as they finish one, so a helper that the scheduler holds back
/// (it runs at background priority) delays only the job it holds.
fn prepare_all(batch: Vec<Job>, threads: usize) -> Vec<(u64, Outcome)> {
    let seqs: Vec<u64> = batch.iter().map(|j| j.seq).collect();
    let jobs: Vec<Mutex<Option<Job>>> = batch.into_iter().map(|j| Mutex::new(Some(j))).collect();
    let done: Vec<Mutex<Option<Outcome>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let work = || loop {
        let i = next.fetch_add(1, Relaxed);
        let Some(job) = jobs.get(i).and_then(|j| j.lock().take()) else {
            break;
        };
        *done[i].lock() = Some(caught(|| process(job)));
    };
    let helpers = if jobs.len() >= SHARED_FROM {
        threads.saturating_sub(1)
    } else {
        0
    };
    thread::scope(|scope| {
        for _ in 0..helpers {
            // No helper (no thread to be had): the worker does their share.
            let _ = crate::threads::spawn_scoped(scope, "error-tracker-helper".into(), work);
        }
        work();
    });
    seqs.into_iter()
        .zip(done)
        .map(|(seq, d)| {
            let prepared = d
                .into_inner()
                .unwrap_or_else(|| Err("not prepared".to_owned()));
            (seq, prepared)
        })
        .collect()
}

/// Errors a tick that make a burst: 10,000 a second.
const BURST: usize = 200;
/// Longest a burst holds the worker back.
const MAX_DEFER: Duration = Duration::from_millis(500);

/// What the worker waits with: its thread's park and the clock. Tests script it, so that what
/// `wait_out_burst` decides does not depend on how fast the machine running them is.
trait Ticks {
    fn now(&self) -> Instant;
    /// Parks for up to one tick; false when unparked before it ended (a flush or an exit
    /// wants the events now).
    fn park(&mut self) -> bool;
    /// The events are wanted now: a flush is waiting, or the buffer is near its memory cap
    /// (or spilling), so the worker must catch up.
    fn flushing(&self) -> bool;
}

struct ThreadTicks;

impl Ticks for ThreadTicks {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn park(&mut self) -> bool {
        let parked = Instant::now();
        thread::park_timeout(TICK);
        parked.elapsed() >= TICK
    }

    fn flushing(&self) -> bool {
        LEDGER.is_flushing() || BUFFER.pressed()
    }
}

/// While errors arrive faster than `BURST` a tick, the thread capturing them is busy: the
/// worker leaves it the cores, and starts once the burst ends, `MAX_DEFER` after it began at
/// the latest, or at once when a flush or an exit asks (they unpark the worker). On 2 cores,
/// a worker running beside a 20,000-error burst cost the JS thread about 0.4 µs per error
/// waiting for a core, plus the caches the two threads share. It does not stand aside while
/// the buffer is pressed (near its memory cap, or spilling): then the worker must catch up.
/// Returns the ticks it waited.
fn wait_out_burst(waiting: impl Fn() -> usize, ticks: &mut impl Ticks) -> u32 {
    let start = ticks.now();
    let mut seen = waiting();
    let mut waited = 0;
    while seen >= BURST && ticks.now().duration_since(start) < MAX_DEFER && !ticks.flushing() {
        waited += 1;
        if !ticks.park() {
            break; // unparked: someone wants the events now
        }
        let now = waiting();
        if now < seen + BURST {
            break;
        }
        seen = now;
    }
    if waited > 0 {
        log::debug(format_args!(
            "worker: waited {waited} tick(s) for a burst to end, {} queued",
            waiting()
        ));
    }
    waited
}

/// The prepared event, or `None` when `ignoreErrors` matches it.
fn process(mut job: Job) -> Option<Prepared> {
    job.captured.unpack();
    let setup = job.setup;
    if let Some(sessions) = job.captured.sessions.take() {
        let (release, environment) = (
            setup.config.release.clone(),
            Some(setup.config.environment.clone()),
        );
        return Some(item_record(
            job.seq,
            job.event_id,
            job.timestamp,
            Item {
                ty: None,
                payload: sessions,
                release,
                environment,
            },
            setup,
        ));
    }
    let (event, debug_images) = event::build(
        &job.captured,
        &Origin {
            event_id: job.event_id,
            resolver: &RESOLVER,
            timestamp: job.timestamp,
            config: &setup.config,
            host: &setup.host,
        },
    );
    if filter::ignored(&setup.config.ignore_errors, &event) {
        log::debug(format_args!("event {}: ignoreErrors matched", job.seq));
        return None;
    }
    let stack = job
        .captured
        .exceptions
        .into_iter()
        .next()
        .and_then(|t| t.stack)
        .unwrap_or_default();
    let built = Built {
        event,
        debug_images,
        stack,
    };
    Some(prepare(
        job.seq,
        job.timestamp,
        built,
        setup,
        |scrubber, event, texts| scrubber.event(event, texts),
    ))
}

/// An event built from what was captured (or what a browser sent), before it is scrubbed.
pub struct Built {
    pub event: sentry_types::protocol::v7::Event<'static>,
    pub debug_images: Vec<event::SourceMapImage>,
    /// The thrown error's stack as printed, scrubbed along with the event.
    pub stack: String,
}

/// The stages every event goes through once built, server and browser alike: fingerprint,
/// scrub (`scrub` applies the policy for where it came from), count in `stats().groups`, write
/// to the spool (committed by `release`).
pub fn finish(
    seq: u64,
    timestamp: std::time::SystemTime,
    built: Built,
    setup: Arc<Setup>,
    scrub: impl FnOnce(
        &crate::scrub::Scrubber,
        sentry_types::protocol::v7::Event<'static>,
        Texts<'_>,
    ) -> sentry_types::protocol::v7::Event<'static>,
) -> Ready {
    spool(prepare(seq, timestamp, built, setup, scrub))
}

/// An event fingerprinted, scrubbed and serialised as its spool record, not yet counted or
/// written: what any thread can do, before what must happen in capture order.
pub struct Prepared {
    seq: u64,
    at_ms: f64,
    title: String,
    user_id: Option<String>,
    record: Record,
    payload: Vec<u8>,
    setup: Arc<Setup>,
}

/// The part of `finish` that touches nothing shared but caches: fingerprint, scrub, serialise.
fn prepare(
    seq: u64,
    timestamp: std::time::SystemTime,
    built: Built,
    setup: Arc<Setup>,
    scrub: impl FnOnce(
        &crate::scrub::Scrubber,
        sentry_types::protocol::v7::Event<'static>,
        Texts<'_>,
    ) -> sentry_types::protocol::v7::Event<'static>,
) -> Prepared {
    let Built {
        event,
        debug_images,
        mut stack,
    } = built;
    // A hash, so it carries nothing to scrub.
    let fingerprint = fingerprint::of(&event);
    let event = scrub(&setup.scrubber, event, Texts(vec![&mut stack]));
    let title = title(&event);
    let user_id = event.user.as_ref().and_then(|u| u.id.clone());
    let record = Record {
        id: event.event_id.simple().to_string(),
        sinks: setup.kinds().iter().map(|k| k.name().to_owned()).collect(),
        fingerprint,
        stack: Some(stack).filter(|s| !s.is_empty()),
        debug_images,
        sessions: None,
        item_type: None,
        event,
    };
    // Sized for a typical event up front: grown from empty, the buffer was reallocated
    // (and copied) a dozen times per event.
    let mut payload = Vec::with_capacity(16 * 1024);
    let payload = match serde_json::to_writer(&mut payload, &record) {
        Ok(()) => payload,
        Err(_) => Vec::new(),
    };
    Prepared {
        seq,
        at_ms: timestamp
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        title,
        user_id,
        record,
        payload,
        setup,
    }
}

/// An envelope item that is not an event, ready for the spool.
pub struct Item {
    /// `None` for `sessions`; `session` or `client_report` from a browser.
    pub ty: Option<String>,
    /// Already free of personal data: release-health counts hold none, and the tunnel scrubs
    /// what a browser sent (`scrub::browser`).
    pub payload: serde_json::Value,
    pub release: Option<String>,
    pub environment: Option<String>,
}

/// A non-event item (release health, a client report) as a spool record owed to Sentry alone:
/// written and committed like an event, delivered through its own category's rate limits,
/// not audited (it is no error).
fn item_record(
    seq: u64,
    id: sentry_types::Uuid,
    timestamp: std::time::SystemTime,
    item: Item,
    setup: Arc<Setup>,
) -> Prepared {
    let event = sentry_types::protocol::v7::Event {
        event_id: id,
        timestamp,
        release: item.release.map(Into::into),
        environment: item.environment.map(Into::into),
        ..Default::default()
    };
    let record = Record {
        id: id.simple().to_string(),
        sinks: vec![SinkKind::Sentry.name().to_owned()],
        fingerprint: String::new(),
        stack: None,
        debug_images: Vec::new(),
        sessions: Some(item.payload),
        item_type: item.ty,
        event,
    };
    Prepared {
        seq,
        at_ms: 0.0,
        title: String::new(),
        user_id: None,
        payload: serde_json::to_vec(&record).unwrap_or_default(),
        record,
        setup,
    }
}

/// A non-event item kept straight away, off the worker (the browser tunnel's sessions and
/// client reports): its record written to the spool, to be committed by `release`.
pub fn keep_item(
    seq: u64,
    id: sentry_types::Uuid,
    timestamp: std::time::SystemTime,
    item: Item,
    setup: Arc<Setup>,
) -> Ready {
    spool(item_record(seq, id, timestamp, item, setup))
}

/// "Type: first line of the message", as Sentry titles an issue.
fn title(event: &sentry_types::protocol::v7::Event<'_>) -> String {
    let Some(main) = event.exception.values.last() else {
        return match &event.logentry {
            Some(entry) => entry.message.lines().next().unwrap_or_default().to_owned(),
            None => "Error".to_owned(),
        };
    };
    match main.value.as_deref().and_then(|v| v.lines().next()) {
        Some(first) => format!("{}: {first}", main.ty),
        None => main.ty.clone(),
    }
}

/// Counts the event in `stats().groups` and writes it to the spool, where the buffer decides
/// whether it also stays in memory. In capture order: a group's title is its first event's,
/// and the spool holds events in the order they came.
fn spool(prepared: Prepared) -> Ready {
    let Prepared {
        seq,
        at_ms,
        title,
        user_id,
        record,
        payload,
        setup,
    } = prepared;
    // Release-health counts are no error: not in `stats().groups`.
    if record.sessions.is_none() {
        groups::record(
            &record.fingerprint,
            &title,
            user_id.as_deref(),
            at_ms,
            record.event.release.as_deref(),
        );
    }
    let spooled = setup.durable.spool.as_ref().and_then(|spool| {
        spool
            .append(&payload)
            .map_err(|e| log::warn(format_args!("spool: could not write an event: {e}")))
            .ok()
    });
    let finished = Finished::new(seq, &record, payload, spooled, setup.durable.clone());
    Ready { finished, setup }
}

impl Ready {
    /// Runs `f` once every sink is done with the event.
    pub fn on_release(self, f: impl FnOnce() + Send + Sync + 'static) -> Ready {
        Ready {
            finished: self.finished.on_release(f),
            setup: self.setup,
        }
    }
}

/// Commits the group to disk (one fsync per spool), then hands each event to its sinks.
pub fn release(group: &mut Vec<Ready>) {
    let mut committed: Vec<*const Setup> = Vec::new();
    for ready in group.iter() {
        let key = Arc::as_ptr(&ready.setup);
        if !committed.contains(&key) {
            committed.push(key);
            if let Some(spool) = &ready.setup.durable.spool {
                if let Err(e) = spool.commit() {
                    log::warn(format_args!("spool: could not commit: {e}"));
                }
            }
        }
    }
    // The worker wrote them down: the first line of each one's audit trail, one write per setup.
    for key in committed {
        let mut of_setup = group
            .iter()
            .filter(|r| Arc::as_ptr(&r.setup) == key && !r.finished.sessions)
            .peekable();
        if let Some(first) = of_setup.peek() {
            let audit = &first.setup.durable.audit;
            audit.captured(&first.setup.kinds(), of_setup.map(|r| r.finished.subject()));
        }
    }
    for Ready { finished, setup } in group.drain(..) {
        let owed = if finished.sessions {
            vec![SinkKind::Sentry]
        } else {
            setup.kinds()
        };
        setup.hand_over(finished, &owed);
        LEDGER.committed.fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::{unbounded, Receiver, Sender};

    /// Ticks that last exactly `TICK` on a clock of their own, during each of which
    /// `arrivals(tick)` errors arrive (ticks count from 1): a producer paced by the script, not
    /// by how the machine schedules threads.
    struct Script<F> {
        start: Instant,
        now: Instant,
        ticks: u32,
        queue: Sender<u32>,
        arrivals: F,
        /// The tick during which a flush or an exit unparks the worker, halfway through (the
        /// burst goes on meanwhile).
        unparked_at: Option<u32>,
        flushing: bool,
    }

    impl<F: FnMut(u32) -> usize> Script<F> {
        fn new(queue: Sender<u32>, arrivals: F) -> Script<F> {
            let now = Instant::now();
            Script {
                start: now,
                now,
                ticks: 0,
                queue,
                arrivals,
                unparked_at: None,
                flushing: false,
            }
        }
    }

    impl<F: FnMut(u32) -> usize> Ticks for Script<F> {
        fn now(&self) -> Instant {
            self.now
        }

        fn park(&mut self) -> bool {
            self.ticks += 1;
            assert!(self.ticks < 10_000, "the worker never stopped waiting");
            for _ in 0..(self.arrivals)(self.ticks) {
                self.queue.send(0).unwrap();
            }
            if self.unparked_at == Some(self.ticks) {
                self.now += TICK / 2;
                return false;
            }
            self.now += TICK;
            true
        }

        fn flushing(&self) -> bool {
            self.flushing
        }
    }

    /// A queue holding `n` errors, and its sender.
    fn queued(n: usize) -> (Sender<u32>, Receiver<u32>) {
        let (tx, rx) = unbounded();
        for _ in 0..n {
            tx.send(0).unwrap();
        }
        (tx, rx)
    }

    #[test]
    fn a_trickle_is_taken_at_once() {
        let (tx, rx) = queued(BURST - 1);
        let mut script = Script::new(tx, |_| BURST);
        assert_eq!(wait_out_burst(|| rx.len(), &mut script), 0);
        assert_eq!(
            script.ticks, 0,
            "a queue below a burst's size is not waited on"
        );

        // A burst's worth queued, but what follows comes slower than a burst: one look, then go.
        let (tx, rx) = queued(BURST);
        let mut script = Script::new(tx, |_| BURST - 1);
        assert_eq!(wait_out_burst(|| rx.len(), &mut script), 1);
    }

    #[test]
    fn a_burst_is_taken_once_it_ends() {
        // Four bursts' worth a tick for ten ticks, then quiet: the worker starts in the first
        // quiet tick, with everything that came already queued.
        let (tx, rx) = queued(BURST);
        let mut script = Script::new(tx, |tick| if tick <= 10 { 4 * BURST } else { 0 });
        assert_eq!(wait_out_burst(|| rx.len(), &mut script), 11);
        assert_eq!(rx.len(), BURST + 10 * 4 * BURST);
    }

    #[test]
    fn a_burst_that_goes_on_holds_the_worker_back_for_max_defer_only() {
        let (tx, rx) = queued(BURST);
        let mut script = Script::new(tx, |_| 4 * BURST);
        let waited = wait_out_burst(|| rx.len(), &mut script);
        assert_eq!(waited as u128, MAX_DEFER.as_millis() / TICK.as_millis());
        assert_eq!(script.now - script.start, MAX_DEFER);
    }

    #[test]
    fn a_flush_or_an_exit_ends_the_wait() {
        let (tx, rx) = queued(BURST);
        let mut script = Script::new(tx, |_| 4 * BURST);
        script.unparked_at = Some(3);
        assert_eq!(
            wait_out_burst(|| rx.len(), &mut script),
            3,
            "unparked in the third tick"
        );

        let (tx, rx) = queued(BURST);
        let mut script = Script::new(tx, |_| 4 * BURST);
        script.flushing = true;
        assert_eq!(
            wait_out_burst(|| rx.len(), &mut script),
            0,
            "a flush is waiting"
        );
    }
}
