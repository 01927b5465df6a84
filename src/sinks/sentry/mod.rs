//! Sentry: one envelope per event, POSTed to the DSN's envelope endpoint by a small pool of
//! threads sharing one keep-alive agent, so a slow ingest is worked in parallel. Every thread
//! passes one gate (`gate.rs`) that holds them all back while Sentry rate-limits
//! (`ratelimit.rs`) or fails, so a struggling ingest is not hammered; events wait, never drop.

mod envelope;
mod gate;
mod ratelimit;

use super::http::{self, Attempt};
use super::{Finished, Sink};
use crate::ledger::SinkKind;
use crate::log;
use crate::threads;
use crossbeam_channel::{unbounded, Receiver, Sender};
use gate::{Gate, Outcome};
use ratelimit::Category;
use sentry_types::Dsn;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;

/// Requests in flight at once. At 200 ms a request that drains 80 events a second.
const CONCURRENCY: usize = 16;
/// Threads of their own for what is not an error (release health, client reports), which may
/// wait out a rate limit on their own category: however many of them wait, no error waits
/// behind them.
const ITEM_CONCURRENCY: usize = 2;

pub struct SentrySink {
    queue: Sender<Arc<Finished>>,
    items: Sender<Arc<Finished>>,
}

struct Transport {
    url: String,
    auth: String,
    agent: ureq::Agent,
    /// Rate limits and backoff, shared by every sender thread.
    gate: Gate,
}

impl SentrySink {
    pub fn new(dsn: Dsn) -> Self {
        let transport = Arc::new(Transport {
            url: dsn.envelope_api_url().to_string(),
            auth: dsn.to_auth(Some(http::USER_AGENT)).to_string(),
            agent: http::agent(CONCURRENCY),
            gate: Gate::default(),
        });
        let (queue, rx) = unbounded();
        let (items, items_rx) = unbounded();
        let pools = [
            (rx, CONCURRENCY, "sentry"),
            (items_rx, ITEM_CONCURRENCY, "sentry-items"),
        ];
        for (rx, count, name) in pools {
            for i in 0..count {
                let (transport, rx) = (transport.clone(), rx.clone());
                let spawned = threads::spawn(format!("error-tracker-{name}-{i}"), move || {
                    transport.run(rx)
                });
                if let Err(e) = spawned {
                    log::warn(format_args!("could not start a Sentry sender thread: {e}"));
                }
            }
        }
        SentrySink { queue, items }
    }
}

impl Sink for SentrySink {
    fn kind(&self) -> SinkKind {
        SinkKind::Sentry
    }

    fn submit(&self, event: Arc<Finished>) {
        let queue = if event.sessions {
            &self.items
        } else {
            &self.queue
        };
        if let Err(e) = queue.send(event) {
            e.0.unsent(SinkKind::Sentry);
        }
    }
}

impl Transport {
    /// Sends until the sink is dropped and its queue is empty. A panic while delivering (a
    /// bug, or an answer nobody foresaw) costs a retry of that event, never the thread.
    fn run(&self, rx: Receiver<Arc<Finished>>) {
        while let Ok(event) = rx.recv() {
            let mut attempt = 0;
            let outcome = loop {
                match panic::catch_unwind(AssertUnwindSafe(|| self.deliver(&event))) {
                    Ok(outcome) => break outcome,
                    Err(panic) => {
                        let reason = format!("sender panicked: {}", threads::panic_text(&*panic));
                        log::warn(format_args!("sentry: event {}: {reason}", event.id));
                        event.retrying(SinkKind::Sentry, &reason);
                        thread::sleep(http::backoff(attempt));
                        attempt += 1;
                    }
                }
            };
            event.done(SinkKind::Sentry, outcome);
        }
    }

    fn deliver(&self, event: &Finished) -> Result<(), String> {
        let content = event.content()?;
        let body = envelope::encode(&content).map_err(|e| e.to_string())?;
        // Not an event: release health or a client report, held by its own category's limits.
        let held = content
            .sessions
            .is_some()
            .then(|| Category::of_item(content.item_type()));
        drop(content);
        let headers = [
            ("Content-Type", "application/x-sentry-envelope"),
            ("X-Sentry-Auth", self.auth.as_str()),
        ];
        let mut attempt = 0;
        let outcome = loop {
            if let Some(category) = held {
                self.gate.enter_held(category);
            } else {
                self.gate.enter();
            }
            let reply = http::post(&self.agent, &self.url, &headers, &body);
            self.gate.leave(match &reply.attempt {
                Attempt::Retry { after, .. } if reply.status != 429 => {
                    Outcome::Failed { after: *after }
                }
                _ => Outcome::Answered {
                    status: reply.status,
                    rate_limits: reply.rate_limits.as_deref(),
                    retry_after: reply.retry_after.as_deref(),
                },
            });
            match reply.attempt {
                Attempt::Delivered => break Ok(()),
                Attempt::Rejected(reason) => break Err(reason),
                Attempt::Retry { reason, after } => {
                    event.retrying(SinkKind::Sentry, &reason);
                    // Each event backs off on its own too: a request that succeeds meanwhile
                    // opens the gate, but this event still waits its turn.
                    let wait = http::backoff(attempt).max(after.unwrap_or_default());
                    attempt += 1;
                    log::debug(format_args!(
                        "sentry: event {} will be retried in {wait:?}: {reason}",
                        event.id
                    ));
                    if reply.status != 429 {
                        thread::sleep(wait);
                    }
                }
            }
        };
        if outcome.is_ok() {
            log::debug(format_args!("sentry: delivered {}", event.id));
        }
        outcome
    }
}
