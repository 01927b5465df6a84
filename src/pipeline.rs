//! Stage 2: the hand-off. The calling thread stamps each error with an id and a sequence
//! number and pushes it on an unbounded channel; the worker takes it from there. This module
//! also owns the current setup (configuration plus sinks) that `init` replaces.

use crate::audit::Audit;
use crate::capture::Captured;
use crate::event::Host;
use crate::ledger::LEDGER;
use crate::log;
use crate::options::Config;
use crate::scrub::Scrubber;
use crate::sinks::{self, Durable, Finished, Record, Sink};
use crate::spool::{replay, Spool};
use crate::threads;
use crate::worker::{self, Job};
use crossbeam_channel::{unbounded, Sender};
use parking_lot::RwLock;
use sentry_types::Uuid;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant, SystemTime};

/// A configuration and the sinks it opened. Each queued error holds the setup it was captured
/// under, so an `init` that changes the DSN does not reroute errors already on their way;
/// the old sinks close once their last error is delivered.
pub struct Setup {
    pub config: Config,
    pub host: Host,
    pub scrubber: Scrubber,
    pub sinks: Vec<Box<dyn Sink>>,
    /// The spool and the audit trail under `dataDir`.
    pub durable: Arc<Durable>,
}

struct Pipeline {
    queue: Sender<Job>,
    worker: Thread,
    setup: RwLock<Option<Arc<Setup>>>,
}

static PIPELINE: OnceLock<Pipeline> = OnceLock::new();

fn pipeline() -> &'static Pipeline {
    PIPELINE.get_or_init(|| {
        let (queue, rx) = unbounded();
        let worker = threads::spawn("error-tracker-worker".into(), move || worker::run(rx))
            .expect("error-tracker: cannot start the worker thread");
        Pipeline {
            queue,
            worker: worker.thread().clone(),
            setup: RwLock::new(None),
        }
    })
}

/// Installs a new setup for errors captured from now on.
pub fn configure(config: Config, host: Host) -> Arc<Setup> {
    log::set_debug(config.debug);
    log::debug(format_args!(
        "init: sentry={} legacy={} environment={} release={}",
        config
            .dsn
            .as_ref()
            .map_or("off".to_owned(), |d| d.to_string()),
        config
            .legacy_endpoint
            .as_ref()
            .map_or("off", |u| u.as_str()),
        config.environment,
        config.release.as_deref().unwrap_or("(none)"),
    ));
    let sinks = sinks::for_config(&config);
    let spool = Spool::open(&config.data_dir)
        .map_err(|e| {
            log::warn(format_args!(
                "cannot keep a spool under {} ({e}); events wait in memory only and a crash loses them",
                config.data_dir.display()
            ))
        })
        .ok();
    let durable = Arc::new(Durable {
        spool,
        audit: Audit::new(config.data_dir.join("audit"), config.audit_retention_days),
    });
    let setup = Arc::new(Setup {
        scrubber: Scrubber::new(&config.scrub),
        config,
        host,
        sinks,
        durable,
    });
    replay(&setup);
    *pipeline().setup.write() = Some(setup.clone());
    setup
}

/// Sends again what an earlier process captured and did not deliver everywhere. The events are
/// copied into this setup's spool (with the sinks they are still owed to) before the old
/// directory goes, so a crash in between costs a duplicate at worst.
fn replay(setup: &Arc<Setup>) {
    let Some(spool) = &setup.durable.spool else {
        return;
    };
    let orphans = replay::find(&setup.config.data_dir, spool);
    if orphans.events.is_empty() {
        orphans.remove();
        return;
    }
    let mut ready = Vec::new();
    for recovered in &orphans.events {
        let Some(payload) = replay::with_sinks(&recovered.payload, &recovered.sinks) else {
            continue;
        };
        let Ok(record) = serde_json::from_slice::<Record>(&payload) else {
            continue;
        };
        let at = match spool.append(&payload) {
            Ok(at) => at,
            Err(e) => {
                log::warn(format_args!(
                    "spool: cannot replay into {}: {e}",
                    spool.dir().display()
                ));
                return; // leave the old directory for the next start
            }
        };
        ready.push((record, at, payload.len(), recovered.sinks.clone()));
    }
    if let Err(e) = spool.commit() {
        log::warn(format_args!(
            "spool: cannot replay into {}: {e}",
            spool.dir().display()
        ));
        return;
    }
    log::debug(format_args!(
        "spool: replaying {} event(s) from an earlier process",
        ready.len()
    ));
    orphans.remove();
    for (record, at, bytes, owed) in ready {
        // Replayed first, so `captured` (seqs minus replays) never counts this one.
        LEDGER.replayed.fetch_add(1, Relaxed);
        let seq = LEDGER.next_seq.fetch_add(1, Relaxed);
        LEDGER.committed.fetch_add(1, Relaxed);
        let finished = Arc::new(Finished::new(
            seq,
            record,
            bytes,
            false,
            Some(at),
            setup.durable.clone(),
            owed.len(),
        ));
        for kind in owed {
            match setup.sinks.iter().find(|s| s.kind() == kind) {
                Some(sink) => sink.submit(finished.clone()),
                None => finished.done(
                    kind,
                    Err(format!("{} is no longer configured", kind.name())),
                ),
            }
        }
    }
}

/// The current setup, if `init` (or a first `trackError`) made one.
pub fn current() -> Option<Arc<Setup>> {
    PIPELINE.get().and_then(|p| p.setup.read().clone())
}

/// Decides whether the error is sampled in. Sampling reuses the id's random bits, so it costs
/// no second random draw.
pub fn admit(setup: &Setup) -> (Uuid, bool) {
    let event_id = Uuid::new_v4();
    let rate = setup.config.sample_rate;
    let keep = rate >= 1.0 || {
        let bits = (event_id.as_u128() >> 64) as u64 >> 11; // 53 random bits
        (bits as f64 / (1u64 << 53) as f64) < rate
    };
    if !keep {
        LEDGER.dropped.fetch_add(1, Relaxed);
    }
    (event_id, keep)
}

/// Queues a captured error for the worker. No lock, no syscall: the worker polls.
pub fn submit(event_id: Uuid, captured: Captured, setup: Arc<Setup>) {
    let seq = LEDGER.next_seq.fetch_add(1, Relaxed);
    let job = Job {
        seq,
        event_id,
        timestamp: SystemTime::now(),
        captured,
        setup,
    };
    if pipeline().queue.send(job).is_err() {
        // Only if the worker died; account for the event rather than hang a flush on it.
        LEDGER.failed.fetch_add(1, Relaxed);
        LEDGER.committed.fetch_add(1, Relaxed);
        LEDGER.settle(seq);
    }
}

/// Waits (off the JS thread) until every error captured before the call has settled.
pub fn flush(timeout: Duration) -> bool {
    let Some(p) = PIPELINE.get() else {
        return true;
    };
    let target = LEDGER.next_seq.load(Relaxed);
    p.worker.unpark();
    LEDGER.wait_settled(target, Instant::now() + timeout)
}

/// Waits until every error captured so far is in the spool (not delivered: written down), so
/// the process can end without losing it. For exits that skip `flush`.
pub fn persist(timeout: Duration) -> bool {
    let Some(p) = PIPELINE.get() else {
        return true;
    };
    let target = LEDGER.next_seq.load(Relaxed);
    let deadline = Instant::now() + timeout;
    while LEDGER.committed.load(Relaxed) < target {
        if Instant::now() >= deadline {
            return false;
        }
        p.worker.unpark();
        thread::sleep(Duration::from_millis(2));
    }
    true
}

/// Flushes, then retires the setup: its sinks close once drained. A later `trackError` starts
/// afresh from the environment.
pub fn close(timeout: Duration) -> bool {
    let done = flush(timeout);
    if let Some(p) = PIPELINE.get() {
        *p.setup.write() = None;
    }
    done
}
