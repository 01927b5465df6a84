//! Recovery at start-up: the spool directories of processes that are gone (their lock is free)
//! still hold events some sink never got. Each such event is read back with the sinks it
//! still owes; damaged records are skipped and reported, the rest kept.
//!
//! Nothing under `dataDir` is trusted: only real folders and regular files are read (never a
//! symbolic link, a FIFO or a device), records are read one at a time and each is bounded,
//! and the caller scrubs every record again before anything is sent.

use super::{record, Spool};
use crate::files;
use crate::ledger::SinkKind;
use crate::log;
use serde::Deserialize;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

/// One event a previous process captured and did not deliver everywhere.
pub struct Recovered {
    /// The sinks that still owe it.
    pub sinks: Vec<SinkKind>,
    /// Its whole spool record (event, stack, fingerprint …), to be written again.
    pub payload: Vec<u8>,
}

/// The spool directory of a process that is gone, locked by us while we read it.
pub struct Orphan {
    dir: PathBuf,
    lock: File,
}

#[derive(Deserialize)]
struct Head {
    id: String,
    sinks: Vec<String>,
}

#[derive(Deserialize)]
struct Ack {
    id: String,
    sink: String,
}

/// Which sinks have which event, as `acks.log` says. A process that delivered to one sink
/// while another was down leaves an ack per event, all held at once while its spool is
/// replayed: the ids this tracker writes (32 lowercase hex digits) are kept as a number, some
/// 33 bytes of table an ack rather than two strings and their allocations (over 100); any
/// other id (a forged log) is kept as text.
#[derive(Default)]
struct Acked {
    ids: HashSet<(u128, u8)>,
    other: HashSet<(String, String)>,
}

impl Acked {
    fn key(id: &str, sink: &str) -> Option<(u128, u8)> {
        let sink = SinkKind::from_name(sink)? as u8;
        let hex = id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        hex.then(|| u128::from_str_radix(id, 16).ok())
            .flatten()
            .map(|id| (id, sink))
    }

    fn insert(&mut self, id: String, sink: String) {
        match Self::key(&id, &sink) {
            Some(key) => self.ids.insert(key),
            None => self.other.insert((id, sink)),
        };
    }

    fn contains(&self, id: &str, sink: &str) -> bool {
        match Self::key(id, sink) {
            Some(key) => self.ids.contains(&key),
            None => self.other.contains(&(id.to_owned(), sink.to_owned())),
        }
    }
}

/// Every unlocked spool directory under `data_dir` other than `ours`, oldest name first.
pub fn find(data_dir: &Path, ours: &Spool) -> Vec<Orphan> {
    let Ok(entries) = fs::read_dir(Spool::root(data_dir)) else {
        return Vec::new();
    };
    // `file_type` does not follow links: a link to a folder elsewhere is not ours to read,
    // nor to put a lock file in.
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| p != ours.dir())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .filter_map(|dir| {
            // Held while we read, so two starting processes cannot both replay it.
            let lock = files::append(&dir.join("lock")).ok()?;
            lock.try_lock().ok()?; // a live process owns it
            Some(Orphan { dir, lock })
        })
        .collect()
}

impl Orphan {
    /// Calls `each` with every event this directory still owes to some sink, reading one
    /// record at a time; returns how many records were damaged (and skipped).
    pub fn read(&self, mut each: impl FnMut(Recovered)) -> usize {
        let mut corrupt = 0;
        let mut acked = Acked::default();
        corrupt += lines(&self.dir.join("acks.log"), |payload| {
            if let Ok(a) = serde_json::from_slice::<Ack>(payload) {
                acked.insert(a.id, a.sink);
            }
        });
        let mut segments: Vec<PathBuf> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "seg"))
            .collect();
        segments.sort();
        let mut headless = 0;
        for segment in segments {
            corrupt += lines(&segment, |payload| {
                let Ok(head) = serde_json::from_slice::<Head>(payload) else {
                    headless += 1;
                    return;
                };
                let sinks: Vec<SinkKind> = head
                    .sinks
                    .iter()
                    .filter(|s| !acked.contains(&head.id, s))
                    .filter_map(|s| SinkKind::from_name(s))
                    .collect();
                if !sinks.is_empty() {
                    each(Recovered {
                        sinks,
                        payload: payload.to_vec(),
                    });
                }
            });
        }
        corrupt += headless;
        if corrupt > 0 {
            log::warn(format_args!(
                "spool: skipped {corrupt} damaged record(s) in {}; the rest are replayed",
                self.dir.display()
            ));
        }
        corrupt
    }

    /// Removes the directory, once its events are safely in the new spool.
    pub fn remove(self) {
        drop(self.lock);
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            log::warn(format_args!(
                "spool: could not remove {}: {e}",
                self.dir.display()
            ));
        }
    }
}

/// Calls `each` with the payload of every intact record in the file at `path`, one at a time;
/// returns how many lines were damaged. A file that is not a regular file, or cannot be read,
/// counts as one damaged record.
fn lines(path: &Path, each: impl FnMut(&[u8])) -> usize {
    match files::read_regular(path) {
        Ok(file) => record::read(BufReader::with_capacity(256 * 1024, file), each),
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => {
            log::warn(format_args!("spool: not reading {}: {e}", path.display()));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_of_our_ids_are_kept_as_numbers_and_any_other_as_text() {
        let mut acked = Acked::default();
        let id = "0123456789abcdef0123456789abcdef";
        acked.insert(id.into(), "sentry".into());
        acked.insert("forged".into(), "legacy".into());
        acked.insert(id.to_uppercase(), "legacy".into());
        assert!(acked.contains(id, "sentry"));
        assert!(!acked.contains(id, "legacy"), "acked at sentry only");
        assert!(acked.contains("forged", "legacy"));
        assert!(acked.contains(&id.to_uppercase(), "legacy"));
        assert!(
            !acked.contains(&id.to_uppercase(), "sentry"),
            "ids compare as their text does"
        );
        assert_eq!((acked.ids.len(), acked.other.len()), (1, 2));
    }
}
