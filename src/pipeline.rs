//! Stage 2: the hand-off. The calling thread stamps each error with an id and a sequence
//! number and pushes it on an unbounded channel; the worker takes it from there. This module
//! also owns the current setup (configuration plus sinks) that `init` replaces.

use crate::audit::Audit;
use crate::capture::Captured;
use crate::event::Host;
use crate::ledger::SinkKind;
use crate::ledger::LEDGER;
use crate::log;
use crate::options::{Config, ConfigError};
use crate::scrub::{Scrubber, Texts};
use crate::sinks::{self, Durable, Finished, Record, Sink};
use crate::spool::{replay, Spool, SpoolRef};
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

/// Installs a new setup for errors captured from now on. Fails only when `dataDir` was given
/// as an option and events cannot be kept there: a programming error the caller must hear of.
/// From the environment (or by default) the same trouble is a warning and `stats().storageError`.
pub fn configure(config: Config, host: Host) -> Result<Arc<Setup>, ConfigError> {
    log::set_debug(config.debug);
    log::debug(format_args!(
        "init: sentry={} legacy={} environment={} release={}",
        config
            .dsn
            .as_ref()
            .map_or("off".to_owned(), |d| d.envelope_api_url().to_string()),
        config
            .legacy_endpoint
            .as_ref()
            .map_or("off".to_owned(), |u| crate::options::redact_url(u.as_str())),
        config.environment,
        config.release.as_deref().unwrap_or("(none)"),
    ));
    let (spool, problem) = match Spool::open(&config.data_dir) {
        Ok(spool) => (Some(spool), None),
        Err(e) => {
            let problem = format!(
                "cannot keep events under {} ({e}): no spool, outbox or audit trail, so a crash \
                 or an outage loses what is waiting",
                config.data_dir.display()
            );
            if config.data_dir_given {
                return Err(ConfigError {
                    field: "dataDir".to_owned(),
                    message: problem,
                    variable: None,
                });
            }
            log::warn(format_args!("{problem}"));
            // The audit trail and the outbox fail for the same reason: said once, here.
            log::covered("audit");
            log::covered("outbox");
            (None, Some(problem))
        }
    };
    let durable = Arc::new(Durable {
        spool,
        audit: Audit::new(config.data_dir.join("audit"), config.audit_retention_days),
        problem,
    });
    warn_ignored(&config);
    let setup = Arc::new(Setup {
        scrubber: Scrubber::new(&config.scrub),
        sinks: sinks::for_config(&config),
        config,
        host,
        durable,
    });
    replay(&setup);
    *pipeline().setup.write() = Some(setup.clone());
    Ok(setup)
}

/// Says loudly, once per variable for the life of the process, that a malformed environment
/// variable is ignored, and where events go meanwhile: nothing is lost, but a sink may be.
fn warn_ignored(config: &Config) {
    let mut going: Vec<&str> = Vec::new();
    if config.dsn.is_some() {
        going.push("Sentry");
    }
    if config.legacy_endpoint.is_some() {
        going.push("the legacy endpoint");
    }
    if going.is_empty() {
        going.push("the outbox file under dataDir");
    }
    for e in &config.ignored {
        let Some(var) = e.variable else { continue };
        log::warn_once(
            var,
            format_args!(
                "{var} is malformed and ignored as if unset (option `{}`): {}. Events go to {} \
                 until it is fixed; stats().configErrors and `npx error-tracker doctor` report it",
                e.field,
                e.message,
                going.join(" and ")
            ),
        );
    }
}

/// Sends again what earlier processes captured and did not deliver everywhere, on a thread of
/// its own so that `init` never waits on the disk. The events are copied into this setup's
/// spool (with the sinks they are still owed to) before the old directory goes, so a crash in
/// between costs a duplicate at worst.
fn replay(setup: &Arc<Setup>) {
    let Some(spool) = &setup.durable.spool else {
        return;
    };
    let orphans = replay::find(&setup.config.data_dir, spool);
    if orphans.is_empty() {
        return;
    }
    LEDGER.replaying.fetch_add(1, Relaxed);
    let setup = setup.clone();
    let spawned = threads::spawn("error-tracker-replay".into(), move || {
        for orphan in orphans {
            replay_dir(&setup, orphan);
        }
        LEDGER.replaying.fetch_sub(1, Relaxed);
    });
    if let Err(e) = spawned {
        LEDGER.replaying.fetch_sub(1, Relaxed);
        log::warn(format_args!(
            "spool: cannot start replaying ({e}); the next start will"
        ));
    }
}

/// Replays one dead process's spool directory, in groups of `REPLAY_GROUP` (one fsync each),
/// and removes it once all of it is in ours.
fn replay_dir(setup: &Setup, orphan: replay::Orphan) {
    const REPLAY_GROUP: usize = 256;
    let spool = setup.durable.spool.as_ref().expect("replay needs a spool");
    let mut group: Vec<(Record, SpoolRef, usize)> = Vec::new();
    let mut trouble: Option<String> = None;
    let commit = |group: &mut Vec<(Record, SpoolRef, usize)>| -> Result<(), String> {
        spool.commit().map_err(|e| e.to_string())?;
        for (record, at, bytes) in group.drain(..) {
            hand_over(setup, record, at, bytes);
        }
        Ok(())
    };
    orphan.read(|recovered| {
        if trouble.is_some() {
            return;
        }
        let Ok(mut record) = serde_json::from_slice::<Record>(&recovered.payload) else {
            log::warn(format_args!("spool: skipped a record that is not an event"));
            return;
        };
        record.sinks = recovered
            .sinks
            .iter()
            .map(|k| k.name().to_owned())
            .collect();
        // Nothing read from disk is trusted: a forged record, or one spooled under an older
        // policy, is scrubbed again under the policy in force now.
        let mut stack = record.stack.take().unwrap_or_default();
        record.event = setup.scrubber.event(record.event, Texts(vec![&mut stack]));
        record.stack = Some(stack).filter(|s| !s.is_empty());
        let payload = serde_json::to_vec(&record).unwrap_or_default();
        match spool.append(&payload) {
            Ok(at) => group.push((record, at, payload.len())),
            Err(e) => trouble = Some(e.to_string()),
        }
        if group.len() >= REPLAY_GROUP {
            if let Err(e) = commit(&mut group) {
                trouble = Some(e);
            }
        }
    });
    if trouble.is_none() {
        if let Err(e) = commit(&mut group) {
            trouble = Some(e);
        }
    }
    match trouble {
        None => orphan.remove(),
        Some(e) => log::warn(format_args!(
            "spool: cannot replay into {}: {e}; the rest waits for the next start",
            spool.dir().display()
        )),
    }
}

/// Hands a replayed event to the sinks this setup has among those it is owed to. Those it
/// lacks (a start without `SENTRY_DSN`, say) keep it owed in the spool, untouched, for a start
/// that has them; if it has none of them, the event just stays there.
fn hand_over(setup: &Setup, record: Record, at: SpoolRef, bytes: usize) {
    let owed: Vec<SinkKind> = record
        .sinks
        .iter()
        .filter_map(|s| SinkKind::from_name(s))
        .collect();
    let (now, later): (Vec<&dyn Sink>, usize) =
        owed.iter().fold((Vec::new(), 0), |(mut now, later), kind| {
            match setup.sinks.iter().find(|s| s.kind() == *kind) {
                Some(sink) => {
                    now.push(sink.as_ref());
                    (now, later)
                }
                None => (now, later + 1),
            }
        });
    if later > 0 {
        log::debug(format_args!(
            "spool: event {} stays owed to {later} sink(s) not configured now",
            record.id
        ));
    }
    if now.is_empty() {
        return;
    }
    // Replayed first, so `captured` (seqs minus replays) never counts this one.
    LEDGER.replayed.fetch_add(1, Relaxed);
    let seq = LEDGER.next_seq.fetch_add(1, Relaxed);
    LEDGER.committed.fetch_add(1, Relaxed);
    let finished = Arc::new(
        Finished::new(
            seq,
            record,
            bytes,
            false,
            Some(at),
            setup.durable.clone(),
            now.len(),
        )
        .carried(later > 0),
    );
    for sink in now {
        sink.submit(finished.clone());
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
    let deadline = Instant::now() + timeout;
    // Events being replayed count as captured before the call.
    while LEDGER.replaying.load(Relaxed) > 0 {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let target = LEDGER.next_seq.load(Relaxed);
    p.worker.unpark();
    LEDGER.wait_settled(target, deadline)
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
