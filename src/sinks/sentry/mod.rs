//! Sentry: one envelope per event, POSTed to the DSN's envelope endpoint by a small pool of
//! threads sharing one keep-alive agent, so a slow ingest is worked in parallel.

mod envelope;

use super::http::{self, Attempt};
use super::{Finished, Sink};
use crate::ledger::{SinkKind, LEDGER};
use crate::log;
use crossbeam_channel::{unbounded, Receiver, Sender};
use parking_lot::Mutex;
use sentry_types::Dsn;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

/// Requests in flight at once. At 200 ms a request that drains 80 events a second.
const CONCURRENCY: usize = 16;

pub struct SentrySink {
    queue: Sender<Arc<Finished>>,
}

struct Transport {
    url: String,
    auth: String,
    agent: ureq::Agent,
    /// While the server has asked us to wait, no thread sends.
    paused_until: Mutex<Option<Instant>>,
}

impl SentrySink {
    pub fn new(dsn: Dsn) -> Self {
        let transport = Arc::new(Transport {
            url: dsn.envelope_api_url().to_string(),
            auth: dsn.to_auth(Some(http::USER_AGENT)).to_string(),
            agent: http::agent(CONCURRENCY),
            paused_until: Mutex::new(None),
        });
        let (queue, rx) = unbounded();
        for i in 0..CONCURRENCY {
            let (transport, rx) = (transport.clone(), rx.clone());
            let spawned = thread::Builder::new()
                .name(format!("error-tracker-sentry-{i}"))
                .spawn(move || transport.run(rx));
            if let Err(e) = spawned {
                log::warn(format_args!("could not start a Sentry sender thread: {e}"));
            }
        }
        SentrySink { queue }
    }
}

impl Sink for SentrySink {
    fn submit(&self, event: Arc<Finished>) {
        // Fails only once every sender thread is gone, and then nothing could send it.
        if let Err(e) = self.queue.send(event) {
            e.0.done(SinkKind::Sentry, Err("no sender thread".into()));
        }
    }
}

impl Transport {
    /// Sends until the sink is dropped and its queue is empty.
    fn run(&self, rx: Receiver<Arc<Finished>>) {
        while let Ok(event) = rx.recv() {
            let outcome = self.deliver(&event);
            event.done(SinkKind::Sentry, outcome);
        }
    }

    fn deliver(&self, event: &Finished) -> Result<(), String> {
        let body = envelope::encode(&event.event).map_err(|e| e.to_string())?;
        let headers = [
            ("Content-Type", "application/x-sentry-envelope"),
            ("X-Sentry-Auth", self.auth.as_str()),
        ];
        let mut attempt = 0;
        loop {
            self.wait_out_pause();
            match http::post(&self.agent, &self.url, &headers, &body) {
                Attempt::Delivered => break,
                Attempt::Rejected(reason) => {
                    self.end_retrying(attempt);
                    return Err(reason);
                }
                Attempt::Retry { after, reason } => {
                    if attempt == 0 {
                        LEDGER.retrying.fetch_add(1, Relaxed);
                    }
                    let wait = after.unwrap_or_else(|| http::backoff(attempt));
                    log::debug(format_args!(
                        "sentry: event {} will be retried in {wait:?}: {reason}",
                        event.event.event_id.simple()
                    ));
                    if after.is_some() {
                        let mut paused = self.paused_until.lock();
                        let until = Instant::now() + wait;
                        *paused = Some(paused.map_or(until, |p| p.max(until)));
                    } else {
                        thread::sleep(wait);
                    }
                    attempt += 1;
                }
            }
        }
        self.end_retrying(attempt);
        log::debug(format_args!(
            "sentry: delivered {}",
            event.event.event_id.simple()
        ));
        Ok(())
    }

    fn end_retrying(&self, attempts: u32) {
        if attempts > 0 {
            LEDGER.retrying.fetch_sub(1, Relaxed);
        }
    }

    fn wait_out_pause(&self) {
        let until = *self.paused_until.lock();
        if let Some(until) = until {
            let now = Instant::now();
            if until > now {
                thread::sleep(until - now);
            }
        }
    }
}
