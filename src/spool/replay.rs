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
        let mut acked: HashSet<(String, String)> = HashSet::new();
        corrupt += lines(&self.dir.join("acks.log"), |payload| {
            if let Ok(a) = serde_json::from_slice::<Ack>(payload) {
                acked.insert((a.id, a.sink));
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
                    .filter(|s| !acked.contains(&(head.id.clone(), (*s).clone())))
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
