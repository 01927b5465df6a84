//! Stage 4: where events go. Each sink is a folder with its encoder and its request logic; the
//! worker hands every finished event to each sink of the setup it was captured under, and each
//! sink reports back through [`Finished::done`] once that event has been delivered or has
//! failed for good.

mod http;
pub mod legacy;
pub mod outbox;
pub mod sentry;

use crate::ledger::{SinkKind, LEDGER};
use crate::log;
use crate::options::Config;
use sentry_types::protocol::v7::Event;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A processed event, ready for every sink.
pub struct Finished {
    pub seq: u64,
    pub event: Event<'static>,
    /// The thrown error's stack as V8 printed it (the legacy format carries it).
    pub stack: Option<String>,
    /// Grouping key: the same throw site gives the same fingerprint.
    pub fingerprint: String,
    /// Sinks still to report.
    pending: AtomicUsize,
}

impl Finished {
    pub fn new(
        seq: u64,
        event: Event<'static>,
        stack: Option<String>,
        fingerprint: String,
        sinks: usize,
    ) -> Self {
        Finished {
            seq,
            event,
            stack,
            fingerprint,
            pending: AtomicUsize::new(sinks),
        }
    }

    /// A sink is done with this event: delivered (`Ok`) or failed for good (`Err(reason)`).
    pub fn done(&self, sink: SinkKind, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => LEDGER.record_delivered(sink),
            Err(reason) => {
                LEDGER.failed.fetch_add(1, Ordering::Relaxed);
                log::warn(format_args!(
                    "{} rejected event {}: {reason}",
                    sink.name(),
                    self.event.event_id.simple()
                ));
            }
        }
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            LEDGER.settle(self.seq);
        }
    }
}

pub trait Sink: Send + Sync {
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
