//! The process-wide pipeline, read top to bottom: `track` copies an error on the calling
//! thread (`capture`) and pushes it into the buffer (`buffer`); the worker (`worker`) turns it
//! into a finished event, writes it to the spool and hands it to the sinks of its setup
//! (`setup`). At start-up, `configure` also replays what earlier processes left in the spool,
//! through the same hand-over. `flush`, `persist` and `close` wait on the ledger.

use crate::buffer::{Job, BUFFER};
use crate::capture::{Captured, Js};
use crate::event::Host;
use crate::ledger::{SinkKind, LEDGER};
use crate::log;
use crate::options::{Config, ConfigError};
use crate::scrub::Texts;
use crate::setup::Setup;
use crate::sinks::Finished;
use crate::spool::{replay, Record, SpoolRef};
use crate::threads;
use crate::worker;
use parking_lot::RwLock;
use sentry_types::Uuid;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant, SystemTime};

struct Pipeline {
    worker: Thread,
    setup: RwLock<Option<Arc<Setup>>>,
}

static PIPELINE: OnceLock<Pipeline> = OnceLock::new();

fn pipeline() -> &'static Pipeline {
    PIPELINE.get_or_init(|| {
        let worker = threads::spawn("error-tracker-worker".into(), worker::run)
            .expect("error-tracker: cannot start the worker thread");
        Pipeline {
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
    warn_ignored(&config);
    let setup = Arc::new(Setup::open(config, host)?);
    BUFFER.set_cap(setup.config.max_queue_memory_bytes);
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
    let mut group: Vec<(Record, SpoolRef, Vec<u8>)> = Vec::new();
    let mut trouble: Option<String> = None;
    let commit = |group: &mut Vec<(Record, SpoolRef, Vec<u8>)>| -> Result<(), String> {
        spool.commit().map_err(|e| e.to_string())?;
        for (record, at, payload) in group.drain(..) {
            hand_over(setup, record, at, payload);
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
            Ok(at) => group.push((record, at, payload)),
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

/// Hands a replayed event to the sinks this setup has among those it is owed to, as the
/// worker hands its own. If this setup has none of them, it just stays owed in the spool.
fn hand_over(setup: &Setup, record: Record, at: SpoolRef, payload: Vec<u8>) {
    let owed: Vec<SinkKind> = record
        .sinks
        .iter()
        .filter_map(|s| SinkKind::from_name(s))
        .collect();
    if !setup.serves(&owed) {
        log::debug(format_args!(
            "spool: event {} stays owed to sinks not configured now",
            record.id
        ));
        return;
    }
    // Replayed first, so `captured` (seqs minus replays) never counts this one.
    LEDGER.replayed.fetch_add(1, Relaxed);
    let seq = LEDGER.next_seq.fetch_add(1, Relaxed);
    LEDGER.committed.fetch_add(1, Relaxed);
    let finished = Finished::new(seq, &record, payload, Some(at), setup.durable.clone());
    setup.hand_over(finished, &owed);
}

/// The current setup, if `init` (or a first `trackError`) made one.
pub fn current() -> Option<Arc<Setup>> {
    PIPELINE.get().and_then(|p| p.setup.read().clone())
}

/// The current setup, or (when `init` has not run) one configured from the environment, as
/// the first `trackError` or tunnelled request makes it. `None` only when that fails.
pub fn current_or_from_env(env: napi::sys::napi_env) -> Option<Arc<Setup>> {
    if let Some(setup) = current() {
        return Some(setup);
    }
    // From the environment, storage trouble is a warning, never an error.
    let config = Config::from_env_lenient(|name| std::env::var(name).ok());
    let setup = configure(config, Host::detect(Js::new(env).node_version()))
        .map_err(|e| log::warn(format_args!("{e}")))
        .ok()?;
    crate::exit::install(env);
    Some(setup)
}

/// Decides whether the error is sampled in. Sampling reuses the id's random bits, so it costs
/// no second random draw.
fn admit(setup: &Setup) -> (Uuid, bool) {
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

/// The one way an error is tracked: configure from the environment if `init` has not, sample,
/// copy, queue. A panic here costs the event (counted as failed), never the caller; the id
/// is nil then.
pub fn track(env: napi::sys::napi_env, copy: impl FnOnce(&Js) -> Captured) -> Uuid {
    let js = Js::new(env);
    let tracked = panic::catch_unwind(AssertUnwindSafe(|| {
        let setup = current_or_from_env(env)?;
        let (event_id, keep) = admit(&setup);
        if keep {
            BUFFER.push(Job {
                seq: LEDGER.next_seq.fetch_add(1, Relaxed),
                event_id,
                timestamp: SystemTime::now(),
                captured: copy(&js),
                setup,
            });
        }
        Some(event_id)
    }));
    tracked.ok().flatten().unwrap_or_else(|| {
        LEDGER.failed.fetch_add(1, Relaxed);
        Uuid::nil()
    })
}

/// Queues release-health counts (`sessions.rs`) the way an error is queued, for the Sentry
/// sink only: without a DSN or a release there is nowhere to send them, and they are let go.
/// Never sampled.
pub fn track_sessions(counts: &serde_json::Value) {
    let Some(setup) = current() else { return };
    let Some(release) = setup.config.release.as_deref() else {
        return;
    };
    if !setup.kinds().contains(&SinkKind::Sentry) {
        return;
    }
    let Some(payload) = crate::sessions::payload(counts, release, &setup.config.environment) else {
        return;
    };
    LEDGER.sessions.fetch_add(1, Relaxed);
    BUFFER.push(Job {
        seq: LEDGER.next_seq.fetch_add(1, Relaxed),
        event_id: Uuid::new_v4(),
        timestamp: SystemTime::now(),
        captured: Captured::sessions(payload),
        setup,
    });
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
