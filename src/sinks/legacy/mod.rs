//! The legacy capture-error endpoint: JSON batches within a request budget. One thread gathers
//! what waits and sends it all in one request whenever the budget allows, so the budget limits
//! requests, never errors.

mod budget;
mod encode;

use super::http::{self, Attempt};
use super::{Finished, Sink};
use crate::ledger::{SinkKind, LEDGER};
use crate::log;
use crate::threads;
use budget::Budget;
use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use sentry_types::protocol::v7::Url;
use serde_json::Value;
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Most items in one request, and most body bytes.
const BATCH_ITEMS: usize = 500;
const BATCH_BYTES: usize = 1024 * 1024;
/// How long the first waiting error waits for company before a request goes.
const LINGER: Duration = Duration::from_millis(500);
/// While a flush waits, a request goes once no error has arrived for this long: soon, but not
/// in the middle of a burst the worker is still handing over, which would spend the budget
/// on a partial batch.
const QUIET: Duration = Duration::from_millis(50);
const POLL: Duration = Duration::from_millis(50);

pub struct LegacySink {
    queue: Sender<Arc<Finished>>,
}

impl LegacySink {
    pub fn new(url: Url, token: Option<String>, per_minute: u32) -> Self {
        let (queue, rx) = unbounded();
        let sender = Batcher {
            url: url.to_string(),
            auth: token.map(|t| format!("Bearer {t}")),
            agent: http::agent(1),
            budget: Budget::new(per_minute),
            waiting: VecDeque::new(),
            retry_at: None,
            attempt: 0,
        };
        let spawned = threads::spawn("error-tracker-legacy".into(), move || sender.run(rx));
        if let Err(e) = spawned {
            log::warn(format_args!(
                "could not start the legacy sender thread: {e}"
            ));
        }
        LegacySink { queue }
    }
}

impl Sink for LegacySink {
    fn kind(&self) -> SinkKind {
        SinkKind::Legacy
    }

    fn submit(&self, event: Arc<Finished>) {
        if let Err(e) = self.queue.send(event) {
            e.0.unsent(SinkKind::Legacy);
        }
    }
}

/// An event waiting for a request. Its item is encoded only when a batch goes, so an event
/// that waits in the spool while memory is capped stays there until then.
struct Waiting {
    event: Arc<Finished>,
    since: Instant,
}

struct Batcher {
    url: String,
    auth: Option<String>,
    agent: ureq::Agent,
    budget: Budget,
    waiting: VecDeque<Waiting>,
    /// Set after a failed request: no request before it.
    retry_at: Option<Instant>,
    attempt: u32,
}

impl Batcher {
    fn run(mut self, rx: Receiver<Arc<Finished>>) {
        let mut open = true;
        loop {
            // Wake when a send is due, and every POLL meanwhile: a flush may start.
            let now = Instant::now();
            let wake = self.due(now).map(|due| due.min(now + POLL));
            if open {
                let received = match wake {
                    None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    Some(at) => rx.recv_deadline(at),
                };
                match received {
                    Ok(event) => self.take(event),
                    Err(RecvTimeoutError::Disconnected) => open = false,
                    Err(RecvTimeoutError::Timeout) => {}
                }
                while let Ok(event) = rx.try_recv() {
                    self.take(event);
                }
            } else {
                match wake {
                    None => return,
                    Some(at) => thread::sleep(at.saturating_duration_since(Instant::now())),
                }
            }
            let now = Instant::now();
            if self.due(now).is_some_and(|due| due <= now) {
                // A panic (a bug, or an answer nobody foresaw) costs this batch a retry, never
                // the thread: the events stay waiting, owed, in order.
                let sent = panic::catch_unwind(AssertUnwindSafe(|| self.send_batch(now)));
                if let Err(panic) = sent {
                    let reason = format!("sender panicked: {}", threads::panic_text(&*panic));
                    log::warn(format_args!("legacy: {reason}"));
                    for w in self.waiting.iter().take(BATCH_ITEMS) {
                        w.event.retrying(SinkKind::Legacy, &reason);
                    }
                    self.retry_at = Some(Instant::now() + http::backoff(self.attempt));
                    self.attempt += 1;
                }
            }
        }
    }

    fn take(&mut self, event: Arc<Finished>) {
        self.waiting.push_back(Waiting {
            event,
            since: Instant::now(),
        });
    }

    /// When the next request may go, if anything waits: after the first waiting error has
    /// lingered (less while a flush waits, not at all once a batch is full), within the
    /// budget, and after any retry pause.
    fn due(&mut self, now: Instant) -> Option<Instant> {
        let first = self.waiting.front()?;
        let last = self.waiting.back().map_or(now, |w| w.since);
        let lingered = if self.waiting.len() >= BATCH_ITEMS {
            now
        } else if LEDGER.is_flushing() {
            (last + QUIET).min(first.since + LINGER)
        } else {
            first.since + LINGER
        };
        let slot = self.budget.next_slot(now);
        Some(lingered.max(slot).max(self.retry_at.unwrap_or(now)))
    }

    fn send_batch(&mut self, now: Instant) {
        // Encode up to a batch's worth; an event that cannot be read back fails alone.
        let mut items: Vec<Value> = Vec::new();
        let mut bytes = 0;
        let mut i = 0;
        while i < self.waiting.len() && items.len() < BATCH_ITEMS {
            let event = &self.waiting[i].event;
            match event.content() {
                Ok(content) => {
                    let item = encode::item(event, &content);
                    let size = item.to_string().len();
                    if !items.is_empty() && bytes + size > BATCH_BYTES {
                        break;
                    }
                    bytes += size;
                    items.push(item);
                    i += 1;
                }
                Err(reason) => {
                    let w = self.waiting.remove(i).expect("i is in range");
                    w.event.done(SinkKind::Legacy, Err(reason));
                }
            }
        }
        let count = items.len();
        if count == 0 {
            return;
        }
        let body = encode::batch(&items.iter().collect::<Vec<_>>());
        drop(items);
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(auth) = &self.auth {
            headers.push(("Authorization", auth.as_str()));
        }
        self.budget.spend(now);
        match http::post(&self.agent, &self.url, &headers, &body).attempt {
            Attempt::Delivered => {
                log::debug(format_args!("legacy: delivered a batch of {count}"));
                self.finish(count, Ok(()));
            }
            Attempt::Rejected(reason) => self.finish(count, Err(reason)),
            Attempt::Retry { after, reason } => {
                for w in self.waiting.iter().take(count) {
                    w.event.retrying(SinkKind::Legacy, &reason);
                }
                let wait = after.unwrap_or_else(|| http::backoff(self.attempt));
                log::debug(format_args!(
                    "legacy: batch of {count} retried in {wait:?}: {reason}"
                ));
                self.retry_at = Some(Instant::now() + wait);
                self.attempt += 1;
            }
        }
    }

    fn finish(&mut self, count: usize, outcome: Result<(), String>) {
        self.attempt = 0;
        self.retry_at = None;
        for w in self.waiting.drain(..count) {
            w.event.done(SinkKind::Legacy, outcome.clone());
        }
    }
}
