//! Stage 3, the background thread: turn each captured error into a finished event (parse the
//! stack, build the event, fingerprint it, scrub it) and hand it to the sinks of the setup it
//! was captured under. Nothing leaves this module unscrubbed.
//!
//! The worker never blocks the calling thread: it is not woken per error (that would be a
//! syscall on every `trackError`) but looks at its queue every `TICK`, or at once when a flush
//! asks.

use crate::capture::Captured;
use crate::event::{self, Origin};
use crate::fingerprint;
use crate::ledger::LEDGER;
use crate::log;
use crate::pipeline::Setup;
use crate::scrub::Texts;
use crate::sinks::Finished;
use crossbeam_channel::{Receiver, TryRecvError};
use sentry_types::Uuid;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

const TICK: Duration = Duration::from_millis(20);

/// One `trackError` call on its way to the worker.
pub struct Job {
    pub seq: u64,
    pub event_id: Uuid,
    pub timestamp: SystemTime,
    pub captured: Captured,
    pub setup: Arc<Setup>,
}

pub fn run(queue: Receiver<Job>) {
    loop {
        match queue.try_recv() {
            Ok(job) => {
                let seq = job.seq;
                // A bug here must cost one event, not the thread that serves them all.
                if let Err(panic) = panic::catch_unwind(AssertUnwindSafe(|| process(job))) {
                    log::warn(format_args!(
                        "event {seq} could not be processed: {panic:?}"
                    ));
                    LEDGER.failed.fetch_add(1, Relaxed);
                    LEDGER.settle(seq);
                }
            }
            Err(TryRecvError::Empty) => thread::park_timeout(TICK),
            Err(TryRecvError::Disconnected) => return,
        }
    }
}

fn process(job: Job) {
    let setup = &job.setup;
    let event = event::build(
        &job.captured,
        &Origin {
            event_id: job.event_id,
            timestamp: job.timestamp,
            config: &setup.config,
            host: &setup.host,
        },
    );
    let mut fingerprint = fingerprint::of(&event);
    let mut stack = job
        .captured
        .exceptions
        .into_iter()
        .next()
        .and_then(|t| t.stack)
        .unwrap_or_default();
    let event = setup
        .scrubber
        .event(event, Texts(vec![&mut stack, &mut fingerprint]));
    let stack = Some(stack).filter(|s| !s.is_empty());
    let finished = Arc::new(Finished::new(
        job.seq,
        event,
        stack,
        fingerprint,
        setup.sinks.len(),
    ));
    for sink in &setup.sinks {
        sink.submit(finished.clone());
    }
}
