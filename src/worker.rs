//! Stage 3, the background thread: turn each captured error into a finished event (parse the
//! stack, resolve source maps, build the event, fingerprint it, scrub it) and hand it to the sinks of the setup it
//! was captured under. Nothing leaves this module unscrubbed.
//!
//! The worker never blocks the calling thread: it is not woken per error (that would be a
//! syscall on every `trackError`) but looks at its queue every `TICK`, or at once when a flush
//! asks.

use crate::buffer::{Job, BUFFER};
use crate::event::{self, Origin};
use crate::ledger::LEDGER;
use crate::log;
use crate::scrub::Texts;
use crate::setup::Setup;
use crate::sinks::Finished;
use crate::sourcemaps::Resolver;
use crate::spool::Record;
use crate::{fingerprint, groups};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, LazyLock};
use std::thread;
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(20);

/// One resolver for the process: parsed maps outlive any one `init`.
static RESOLVER: LazyLock<Resolver> = LazyLock::new(Resolver::new);

/// Events written to the spool but not yet committed are handed to the sinks in groups of at
/// most this many, after one fsync for the group.
const GROUP: usize = 256;

/// A finished event written (not yet committed) to its setup's spool.
struct Ready {
    finished: Finished,
    setup: Arc<Setup>,
}

pub fn run() {
    let mut group: Vec<Ready> = Vec::new();
    loop {
        match BUFFER.pop() {
            Some(job) => {
                let seq = job.seq;
                // A bug here must cost one event, not the thread that serves them all.
                match panic::catch_unwind(AssertUnwindSafe(|| process(job))) {
                    Ok(ready) => group.push(ready),
                    Err(panic) => {
                        log::warn(format_args!(
                            "event {seq} could not be processed: {}",
                            crate::threads::panic_text(&*panic)
                        ));
                        LEDGER.failed.fetch_add(1, Relaxed);
                        LEDGER.committed.fetch_add(1, Relaxed);
                        LEDGER.settle(seq);
                    }
                }
                if group.len() >= GROUP {
                    release(&mut group);
                }
            }
            None if !group.is_empty() => release(&mut group),
            None => {
                let parked = Instant::now();
                thread::park_timeout(TICK);
                // Unparked early: a flush or an exit wants the events now.
                if parked.elapsed() >= TICK {
                    wait_out_burst(|| BUFFER.waiting(), || BUFFER.pressed());
                }
            }
        }
    }
}

/// Errors a tick that make a burst: 10,000 a second.
const BURST: usize = 200;
/// Longest a burst holds the worker back.
const MAX_DEFER: Duration = Duration::from_millis(500);

/// While errors arrive faster than `BURST` a tick, the thread capturing them is busy: the
/// worker leaves it the cores, and starts once the burst ends, `MAX_DEFER` after it began at
/// the latest, or at once when a flush or an exit asks (they unpark the worker). On 2 cores,
/// a worker running beside a 20,000-error burst cost the JS thread about 0.4 µs per error
/// waiting for a core, plus the caches the two threads share. It does not stand aside while
/// the buffer is pressed (near its memory cap, or spilling): then the worker must catch up.
/// Returns the ticks it waited.
fn wait_out_burst(waiting: impl Fn() -> usize, pressed: impl Fn() -> bool) -> u32 {
    let start = Instant::now();
    let mut seen = waiting();
    let mut ticks = 0;
    while seen >= BURST && start.elapsed() < MAX_DEFER && !LEDGER.is_flushing() && !pressed() {
        let parked = Instant::now();
        thread::park_timeout(TICK);
        ticks += 1;
        if parked.elapsed() < TICK {
            break; // unparked: someone wants the events now
        }
        let now = waiting();
        if now < seen + BURST {
            break;
        }
        seen = now;
    }
    if ticks > 0 {
        log::debug(format_args!(
            "worker: waited {ticks} tick(s) for a burst to end, {} queued",
            waiting()
        ));
    }
    ticks
}

fn process(mut job: Job) -> Ready {
    job.captured.unpack();
    let setup = job.setup;
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
    // A hash, so it carries nothing to scrub.
    let fingerprint = fingerprint::of(&event);
    let mut stack = job
        .captured
        .exceptions
        .into_iter()
        .next()
        .and_then(|t| t.stack)
        .unwrap_or_default();
    let event = setup.scrubber.event(event, Texts(vec![&mut stack]));
    groups::record(
        &fingerprint,
        &title(&event),
        event.user.as_ref().and_then(|u| u.id.as_deref()),
        job.timestamp
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    );
    let record = Record {
        id: job.event_id.simple().to_string(),
        sinks: setup.kinds().iter().map(|k| k.name().to_owned()).collect(),
        fingerprint,
        stack: Some(stack).filter(|s| !s.is_empty()),
        debug_images,
        event,
    };
    let finished = spool(job.seq, record, &setup);
    Ready { finished, setup }
}

/// "Type: first line of the message", as Sentry titles an issue.
fn title(event: &sentry_types::protocol::v7::Event<'_>) -> String {
    let Some(main) = event.exception.values.last() else {
        return "Error".to_owned();
    };
    match main.value.as_deref().and_then(|v| v.lines().next()) {
        Some(first) => format!("{}: {first}", main.ty),
        None => main.ty.clone(),
    }
}

/// Writes the event to the spool; the buffer decides whether it also stays in memory.
fn spool(seq: u64, record: Record, setup: &Setup) -> Finished {
    let payload = serde_json::to_vec(&record).unwrap_or_default();
    let spooled = setup.durable.spool.as_ref().and_then(|spool| {
        spool
            .append(&payload)
            .map_err(|e| log::warn(format_args!("spool: could not write an event: {e}")))
            .ok()
    });
    Finished::new(seq, &record, payload, spooled, setup.durable.clone())
}

/// Commits the group to disk (one fsync per spool), then hands each event to its sinks.
fn release(group: &mut Vec<Ready>) {
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
            .filter(|r| Arc::as_ptr(&r.setup) == key)
            .peekable();
        if let Some(first) = of_setup.peek() {
            let audit = &first.setup.durable.audit;
            audit.captured(of_setup.map(|r| r.finished.subject()));
        }
    }
    for Ready { finished, setup } in group.drain(..) {
        setup.hand_over(finished, &setup.kinds());
        LEDGER.committed.fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::unbounded;

    #[test]
    fn a_trickle_is_taken_at_once_and_a_burst_once_it_ends() {
        let (tx, rx) = unbounded::<u32>();
        for i in 0..(BURST as u32 - 1) {
            tx.send(i).unwrap();
        }
        assert_eq!(
            wait_out_burst(|| rx.len(), || false),
            0,
            "a queue below a burst's size is not waited on"
        );

        // 40 ticks' worth of a burst, then quiet: the worker starts after the last of it.
        let total = 40 * 4 * BURST;
        let producer = thread::spawn(move || {
            for i in 0..total as u32 {
                tx.send(i).unwrap();
                if i % (BURST as u32 / 2) == 0 {
                    thread::sleep(TICK / 8);
                }
            }
        });
        while rx.len() < BURST {
            thread::yield_now();
        }
        let ticks = wait_out_burst(|| rx.len(), || false);
        let at_start = rx.len();
        producer.join().unwrap();
        assert!(ticks > 0, "a burst is waited on");
        assert!(
            at_start == total
                || at_start as f64 >= MAX_DEFER.as_secs_f64() / TICK.as_secs_f64() * BURST as f64,
            "the worker started with {at_start} of {total} queued"
        );
    }

    #[test]
    fn a_pressed_buffer_is_not_waited_on() {
        assert_eq!(wait_out_burst(|| 100 * BURST, || true), 0);
    }
}
