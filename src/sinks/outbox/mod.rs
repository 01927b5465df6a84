//! The outbox: with no network sink configured, events are appended to an NDJSON file under
//! `dataDir` rather than lost.

use super::{Finished, Sink};
use crate::files;
use crate::ledger::SinkKind;
use parking_lot::Mutex;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct Outbox {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl Outbox {
    pub fn new(path: PathBuf) -> Self {
        Outbox {
            path,
            file: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn append(&self, event: &Finished) -> std::io::Result<()> {
        // The event as the spool record holds it, copied without being parsed: this runs on
        // the worker, and a parse and a serialisation per event cost it a tenth of its speed.
        #[derive(serde::Deserialize)]
        struct EventOf<'a> {
            #[serde(borrow)]
            event: &'a serde_json::value::RawValue,
        }
        let payload = event.payload().map_err(std::io::Error::other)?;
        let record: EventOf<'_> = serde_json::from_slice(&payload)?;
        let mut line = Vec::with_capacity(record.event.get().len() + 1);
        line.extend_from_slice(record.event.get().as_bytes());
        line.push(b'\n');
        let mut file = self.file.lock();
        if file.is_none() {
            if let Some(dir) = self.path.parent() {
                files::private_dir(dir)?;
            }
            *file = Some(files::append(&self.path)?);
        }
        file.as_mut().map_or(Ok(()), |f| f.write_all(&line))
    }
}

impl Sink for Outbox {
    fn kind(&self) -> SinkKind {
        SinkKind::Outbox
    }

    /// Runs on the worker: one small append, cheaper than handing it to another thread.
    fn submit(&self, event: Arc<Finished>) {
        let outcome = self
            .append(&event)
            .map_err(|e| format!("could not write {}: {e}", self.path.display()));
        event.done(SinkKind::Outbox, outcome);
    }
}
