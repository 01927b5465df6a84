//! Recovery at start-up: the spool directories of processes that are gone (their lock is free)
//! still hold events some sink never got. Each such event is read back with the sinks it
//! still owes; damaged records are skipped and reported, the rest kept.

use super::{record, Spool};
use crate::ledger::SinkKind;
use crate::log;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// One event a previous process captured and did not deliver everywhere.
pub struct Recovered {
    /// The sinks that still owe it.
    pub sinks: Vec<SinkKind>,
    /// Its whole spool record (event, stack, fingerprint …), to be written again.
    pub payload: Vec<u8>,
}

/// What a previous process left behind.
pub struct Orphans {
    dirs: Vec<(PathBuf, File)>,
    pub events: Vec<Recovered>,
    pub corrupt: usize,
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

/// Reads every unlocked spool directory under `data_dir` other than `ours`.
pub fn find(data_dir: &Path, ours: &Spool) -> Orphans {
    let mut orphans = Orphans {
        dirs: Vec::new(),
        events: Vec::new(),
        corrupt: 0,
    };
    let Ok(entries) = fs::read_dir(Spool::root(data_dir)) else {
        return orphans;
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p != ours.dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        // Held while we read, so two starting processes cannot both replay it.
        let Ok(lock) = File::options()
            .create(true)
            .append(true)
            .open(dir.join("lock"))
        else {
            continue;
        };
        if lock.try_lock().is_err() {
            continue; // a live process owns it
        }
        read_dir(&dir, &mut orphans);
        orphans.dirs.push((dir, lock));
    }
    if orphans.corrupt > 0 {
        log::warn(format_args!(
            "spool: skipped {} damaged record(s) left by an earlier process; the rest are replayed",
            orphans.corrupt
        ));
    }
    orphans
}

fn read_dir(dir: &Path, orphans: &mut Orphans) {
    let acks = fs::read(dir.join("acks.log")).unwrap_or_default();
    let acks = record::read_all(&acks);
    orphans.corrupt += acks.corrupt;
    let acked: HashSet<(String, String)> = acks
        .records
        .iter()
        .filter_map(|(_, p)| serde_json::from_slice::<Ack>(p).ok())
        .map(|a| (a.id, a.sink))
        .collect();

    let mut segments: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segments.sort();
    for segment in segments {
        let Ok(bytes) = fs::read(&segment) else {
            continue;
        };
        let read = record::read_all(&bytes);
        orphans.corrupt += read.corrupt;
        for (_, payload) in read.records {
            let Ok(head) = serde_json::from_slice::<Head>(payload) else {
                orphans.corrupt += 1;
                continue;
            };
            let sinks: Vec<SinkKind> = head
                .sinks
                .iter()
                .filter(|s| !acked.contains(&(head.id.clone(), (*s).clone())))
                .filter_map(|s| SinkKind::from_name(s))
                .collect();
            if !sinks.is_empty() {
                orphans.events.push(Recovered {
                    sinks,
                    payload: payload.to_vec(),
                });
            }
        }
    }
}

impl Orphans {
    /// Removes the directories read, once their events are safely in the new spool.
    pub fn remove(self) {
        for (dir, lock) in self.dirs {
            drop(lock);
            if let Err(e) = fs::remove_dir_all(&dir) {
                log::warn(format_args!(
                    "spool: could not remove {}: {e}",
                    dir.display()
                ));
            }
        }
    }
}

/// The record payload with `sinks` replaced (what is still owed).
pub fn with_sinks(payload: &[u8], sinks: &[SinkKind]) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(payload).ok()?;
    value["sinks"] = sinks.iter().map(|s| Value::from(s.name())).collect();
    serde_json::to_vec(&value).ok()
}
