//! Stage 4: where events go. Each sink is a folder with its encoder and its request logic; the
//! worker hands every finished event to each sink of the setup it was captured under, and each
//! sink reports back through [`Finished::done`] once that event has been delivered or has
//! failed for good. Every transition is written to the audit trail, and every `done` to the
//! spool, so a restart neither loses an event nor sends it twice to a sink that has it.

mod http;
pub mod legacy;
pub mod outbox;
pub mod sentry;
mod window;

pub use window::Fanout;

use crate::audit::{Action, Subject};
use crate::buffer::BUFFER;
use crate::event::SourceMapImage;
use crate::ledger::{SinkKind, LEDGER};
use crate::log;
use crate::options::Config;
use crate::spool::{Durable, Record, SpoolRef};
use sentry_types::protocol::v7::Event;
use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What a sink sends: the scrubbed event and the texts that travel with it.
pub struct Content {
    pub event: Event<'static>,
    /// The thrown error's stack as V8 printed it (the legacy format carries it).
    pub stack: Option<String>,
    /// Bundles with Sentry debug ids, for the event's `debug_meta`.
    pub debug_images: Vec<SourceMapImage>,
    /// Not an event: the payload of a `sessions` item (release-health counts) or of the item
    /// `item_type` names; sent instead of the event.
    pub sessions: Option<serde_json::Value>,
    pub item_type: Option<String>,
}

impl Content {
    /// The envelope item type of a non-event record: `sessions` unless the record says.
    pub fn item_type(&self) -> &str {
        self.item_type.as_deref().unwrap_or("sessions")
    }
}

/// Where the spool record is: in memory too, or only in the spool while memory is at its cap.
enum Body {
    Memory(Arc<[u8]>),
    Spooled,
}

/// A processed event on its way to every sink of its setup. Each sink reports back through
/// [`Finished::done`]; when the last has, the event is settled: out of the spool and counted.
pub struct Finished {
    pub seq: u64,
    /// The event id, 32 hex digits.
    pub id: String,
    /// Grouping key: the same throw site gives the same fingerprint.
    pub fingerprint: String,
    /// Shared with the setup's own when they are the same (they nearly always are): an event
    /// waiting for a sink should cost as few bytes as it can.
    pub release: Option<Arc<str>>,
    pub environment: Option<Arc<str>>,
    body: Body,
    spooled: Option<SpoolRef>,
    durable: Arc<Durable>,
    /// Sinks still to report.
    pending: AtomicUsize,
    /// Sinks that have counted it as retrying (bit per `SinkKind`).
    retrying: AtomicUsize,
    /// Also owed to a sink this setup lacks: its spool record stays once the others are done.
    carried: bool,
    /// Run when the last sink is done with it (or the process lets go of it): gives back the
    /// disk share a browser event took (`tunnel::limits::Share`).
    on_release: Option<Box<dyn FnOnce() + Send + Sync>>,
    /// Not an error (release health, a client report): not audited, counted apart.
    pub sessions: bool,
    /// The window of its setup's sinks it holds a place in, given back when it is released.
    window: Option<Arc<Fanout>>,
}

/// The few fields of a spool record an event in the window keeps in memory.
#[derive(serde::Deserialize)]
struct Head {
    id: String,
    fingerprint: String,
    event: HeadEvent,
    /// Present on a non-event record (release health, a client report).
    #[serde(default)]
    sessions: Option<serde::de::IgnoredAny>,
}

#[derive(serde::Deserialize)]
struct HeadEvent {
    #[serde(default)]
    release: Option<String>,
    #[serde(default)]
    environment: Option<String>,
}

impl Finished {
    /// `payload` is the event's spool record, as written. It stays in memory while the buffer
    /// has room (`BUFFER.keep_finished`), or when it is nowhere else; otherwise the sinks read
    /// it back from the spool. Either way they parse it when they send it, so what memory
    /// holds is exactly what the buffer counts.
    pub fn new(
        seq: u64,
        record: &Record,
        payload: Vec<u8>,
        spooled: Option<SpoolRef>,
        durable: Arc<Durable>,
    ) -> Self {
        let head = Head {
            id: record.id.clone(),
            fingerprint: record.fingerprint.clone(),
            event: HeadEvent {
                release: record.event.release.as_deref().map(str::to_owned),
                environment: record.event.environment.as_deref().map(str::to_owned),
            },
            sessions: record.sessions.as_ref().map(|_| serde::de::IgnoredAny),
        };
        Self::with_head(seq, head, payload, spooled, durable)
    }

    /// An event read back from the spool at `at` to refill the window (`window.rs`); `None`
    /// when the record does not parse.
    fn from_spool(seq: u64, payload: &[u8], at: SpoolRef, durable: Arc<Durable>) -> Option<Self> {
        let head: Head = serde_json::from_slice(payload).ok()?;
        Some(Self::with_head(
            seq,
            head,
            payload.to_vec(),
            Some(at),
            durable,
        ))
    }

    /// What an event in the window costs in memory besides its payload, as the buffer counts
    /// it: this struct, its ids, and its place in each sender's queue.
    pub const BOOKKEEPING: usize = std::mem::size_of::<Finished>() + 128;

    fn with_head(
        seq: u64,
        head: Head,
        payload: Vec<u8>,
        spooled: Option<SpoolRef>,
        durable: Arc<Durable>,
    ) -> Self {
        let body = if spooled.is_none() || BUFFER.keep_finished(payload.len()) {
            Body::Memory(payload.into())
        } else {
            Body::Spooled
        };
        Finished {
            seq,
            id: head.id,
            fingerprint: head.fingerprint,
            release: shared(head.event.release.as_deref(), &durable.release),
            environment: shared(head.event.environment.as_deref(), &durable.environment),
            body,
            spooled,
            durable,
            pending: AtomicUsize::new(0),
            retrying: AtomicUsize::new(0),
            carried: false,
            on_release: None,
            sessions: head.sessions.is_some(),
            window: None,
        }
    }

    /// Runs `f` once every sink is done with the event.
    pub fn on_release(mut self, f: impl FnOnce() + Send + Sync + 'static) -> Self {
        self.on_release = Some(Box::new(f));
        self
    }

    /// Owed to `sinks` sinks of this setup, and (`carried`) to some this setup lacks.
    pub fn owed(mut self, sinks: usize, carried: bool) -> Self {
        self.pending = AtomicUsize::new(sinks);
        self.carried = carried;
        self
    }

    /// The spool record as written: from memory, or read back from the spool.
    pub fn payload(&self) -> Result<Cow<'_, [u8]>, String> {
        match (&self.body, self.spooled, &self.durable.spool) {
            (Body::Memory(bytes), _, _) => Ok(Cow::Borrowed(bytes)),
            (Body::Spooled, Some(at), Some(spool)) => spool
                .read(at)
                .map(Cow::Owned)
                .map_err(|e| format!("spool read failed: {e}")),
            _ => Err("the event is neither in memory nor in the spool".into()),
        }
    }

    /// The event to send, parsed from its spool record.
    pub fn content(&self) -> Result<Content, String> {
        let record: Record = serde_json::from_slice(&self.payload()?)
            .map_err(|e| format!("spool record unreadable: {e}"))?;
        Ok(Content {
            event: record.event,
            stack: record.stack,
            debug_images: record.debug_images,
            sessions: record.sessions,
            item_type: record.item_type,
        })
    }

    /// What its audit lines say about it.
    pub fn subject(&self) -> Subject<'_> {
        Subject {
            event_id: &self.id,
            fingerprint: &self.fingerprint,
            release: self.release.as_deref(),
            environment: self.environment.as_deref(),
        }
    }

    /// A sink could not deliver it yet and will try again: counted once per sink.
    pub fn retrying(&self, sink: SinkKind, reason: &str) {
        let bit = 1 << sink as usize;
        if self.sessions {
            return;
        }
        if self.retrying.fetch_or(bit, Ordering::AcqRel) & bit == 0 {
            LEDGER.retry_started(sink);
            self.durable.audit.record(
                &self.subject(),
                Action::Retry,
                Some(sink),
                Some(&short(reason)),
            );
        }
    }

    /// A sink has no thread left to send it (one could not be started). The event is not
    /// acknowledged: it stays owed in the spool, and the next start delivers it.
    pub fn unsent(&self, sink: SinkKind) {
        log::warn(format_args!(
            "{}: no sender thread; event {} stays in the spool for the next start",
            sink.name(),
            self.id
        ));
        self.retrying(sink, "no sender thread");
    }

    /// A sink is done with this event: delivered (`Ok`) or failed for good (`Err(reason)`).
    pub fn done(&self, sink: SinkKind, outcome: Result<(), String>) {
        if self.retrying.load(Ordering::Acquire) & (1 << sink as usize) != 0 {
            LEDGER.retry_ended(sink);
        }
        match &outcome {
            Ok(()) if self.sessions => {
                LEDGER.sessions_sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(reason) if self.sessions => {
                log::warn(format_args!(
                    "{} rejected release health: {reason}",
                    sink.name()
                ));
            }
            Ok(()) => {
                LEDGER.record_delivered(sink);
                self.durable
                    .audit
                    .record(&self.subject(), Action::Delivered, Some(sink), None);
            }
            Err(reason) => {
                LEDGER.record_failed(sink);
                // The outbox fails only when `dataDir` cannot be written: once is enough.
                let warn: fn(std::fmt::Arguments<'_>) = match sink {
                    SinkKind::Outbox => |args| log::warn_once("outbox", args),
                    _ => log::warn,
                };
                warn(format_args!(
                    "{} rejected event {}: {reason}",
                    sink.name(),
                    self.id
                ));
                self.durable.audit.record(
                    &self.subject(),
                    Action::Failed,
                    Some(sink),
                    Some(&short(reason)),
                );
            }
        }
        if let Some(spool) = &self.durable.spool {
            spool.ack(&self.id, sink);
        }
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let (Some(spool), Some(at), false) =
                (&self.durable.spool, self.spooled, self.carried)
            {
                spool.settle(at);
            }
            LEDGER.settle(self.seq);
        }
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        if let Some(f) = self.on_release.take() {
            f();
        }
        if let (Body::Memory(bytes), Some(_)) = (&self.body, self.spooled) {
            BUFFER.release_finished(bytes.len());
        }
        if let Some(window) = self.window.take() {
            window.released();
        }
    }
}

/// `text` as an `Arc<str>`: `known`'s own when they are equal.
fn shared(text: Option<&str>, known: &Option<Arc<str>>) -> Option<Arc<str>> {
    let text = text?;
    match known {
        Some(k) if **k == *text => Some(k.clone()),
        _ => Some(Arc::from(text)),
    }
}

/// An audit reason: the HTTP status alone, or the first line of a network error; never a
/// response body, which a proxy may fill with the event it refused.
fn short(reason: &str) -> String {
    if let Some(rest) = reason.strip_prefix("HTTP ") {
        return format!("HTTP {}", rest.split_whitespace().next().unwrap_or(""));
    }
    reason
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(120)
        .collect()
}

pub trait Sink: Send + Sync {
    fn kind(&self) -> SinkKind;
    /// Queues the event; never blocks the worker on the network.
    fn submit(&self, event: Arc<Finished>);
}

/// The sinks a configuration asks for; the outbox when it asks for none, so events are kept.
pub fn for_config(config: &Config) -> Vec<Box<dyn Sink>> {
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if let Some(dsn) = &config.dsn {
        sinks.push(Box::new(sentry::SentrySink::new(dsn.clone())));
    }
    if let Some(url) = &config.legacy_endpoint {
        sinks.push(Box::new(legacy::LegacySink::new(
            url.clone(),
            config.legacy_token.clone(),
            config.legacy_max_requests_per_minute,
        )));
    }
    if sinks.is_empty() {
        let outbox = outbox::Outbox::new(config.data_dir.join("outbox.ndjson"));
        log::warn(format_args!(
            "no SENTRY_DSN or CAPTURE_ERROR_URL configured; keeping events in {}",
            outbox.path().display()
        ));
        sinks.push(Box::new(outbox));
    }
    sinks
}
