//! The durable queue: every finished (scrubbed) event is written here before any sink gets it,
//! and stays until every sink has it, so a crash, a kill or an exit loses nothing the worker
//! had finished. It is also where events wait while memory is over `maxQueueMemoryBytes`:
//! the sinks then hold only a reference and read the event back when they send it.
//!
//! Layout: `dataDir/spool/<process>/` per live process, locked while it runs, holding
//! numbered segments (`00000001.seg`, framed records, see `record.rs`) and `acks.log` (which
//! sink has which event). A directory whose lock is free belongs to a process that is gone;
//! the next `init` replays what it still owes (`replay.rs`) and removes it.

pub mod record;
pub mod replay;

use crate::audit::Audit;
use crate::event::SourceMapImage;
use crate::files;
use crate::ledger::{SinkKind, LEDGER};
use crate::log;
use parking_lot::Mutex;
use sentry_types::protocol::v7::Event;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;

/// A segment is closed and a new one started past this size, so settled ones can be deleted.
const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

/// The spool record of an event: what a restart needs to send it again.
#[derive(Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// The sinks it is owed to.
    pub sinks: Vec<String>,
    pub fingerprint: String,
    pub stack: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub debug_images: Vec<SourceMapImage>,
    /// Not an event: release-health counts (`sessions.rs`), or what a browser sent through the
    /// tunnel (`tunnel::items`). Then this record is one item for Sentry alone, of type
    /// `item_type` (`sessions` when absent), and `event` only carries its id, release and
    /// environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<serde_json::Value>,
    /// `session` or `client_report`; absent for `sessions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_type: Option<String>,
    pub event: Event<'static>,
}

/// The files every event of a setup is accounted in.
pub struct Durable {
    pub spool: Option<Spool>,
    pub audit: Audit,
    /// Why events are not kept under `dataDir`, if they are not.
    pub problem: Option<String>,
    /// The setup's release and environment, which its events share.
    pub release: Option<std::sync::Arc<str>>,
    pub environment: Option<std::sync::Arc<str>>,
}

/// Where one event's record lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolRef {
    segment: u64,
    offset: u64,
    len: u32,
}

impl SpoolRef {
    /// Whether `next` is the record written right after this one, in the same segment: a
    /// stretch of such records is read back by its first position and a count
    /// ([`Spool::read_run`]).
    pub fn followed_by(&self, next: &SpoolRef) -> bool {
        next.segment == self.segment && next.offset == self.offset + u64::from(self.len)
    }

    /// Where the record after this one starts (its length not known yet).
    pub fn after(&self) -> SpoolRef {
        SpoolRef {
            segment: self.segment,
            offset: self.offset + u64::from(self.len),
            len: 0,
        }
    }
}

pub struct Spool {
    dir: PathBuf,
    /// Held for the life of the spool: tells other processes this directory is in use.
    _lock: File,
    inner: Mutex<Inner>,
}

struct Inner {
    active: Option<Active>,
    next_segment: u64,
    /// Events not yet settled, per segment.
    live: HashMap<u64, usize>,
    acks: Option<File>,
}

struct Active {
    n: u64,
    file: BufWriter<File>,
    len: u64,
}

impl Spool {
    /// Opens a fresh spool directory for this process under `data_dir/spool/`.
    pub fn open(data_dir: &Path) -> io::Result<Spool> {
        let dir = Self::root(data_dir).join(format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        files::private_dir(&Self::root(data_dir))?;
        files::private_dir(&dir)?;
        let lock = files::append(&dir.join("lock"))?;
        lock.try_lock()
            .map_err(|e| io::Error::other(format!("cannot lock {}: {e}", dir.display())))?;
        Ok(Spool {
            dir,
            _lock: lock,
            inner: Mutex::new(Inner {
                active: None,
                next_segment: 1,
                live: HashMap::new(),
                acks: None,
            }),
        })
    }

    pub fn root(data_dir: &Path) -> PathBuf {
        data_dir.join("spool")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Buffers one framed record; it is on disk after the next `commit`.
    pub fn append(&self, payload: &[u8]) -> io::Result<SpoolRef> {
        let mut inner = self.inner.lock();
        let rotate = inner.active.as_ref().is_none_or(|a| a.len >= SEGMENT_BYTES);
        if rotate {
            if let Some(mut old) = inner.active.take() {
                old.file.flush()?;
                let n = old.n;
                if inner.live.get(&n).is_none_or(|c| *c == 0) {
                    inner.live.remove(&n);
                    let _ = fs::remove_file(self.segment_path(n));
                }
            }
            let n = inner.next_segment;
            inner.next_segment += 1;
            let file = files::append(&self.segment_path(n))?;
            inner.active = Some(Active {
                n,
                file: BufWriter::with_capacity(256 * 1024, file),
                len: 0,
            });
        }
        let active = inner.active.as_mut().expect("just opened");
        let offset = active.len;
        let written = record::write(&mut active.file, payload)?;
        active.len += written as u64;
        let n = active.n;
        *inner.live.entry(n).or_insert(0) += 1;
        LEDGER.spooled.fetch_add(1, Relaxed);
        Ok(SpoolRef {
            segment: n,
            offset,
            len: written as u32,
        })
    }

    /// Makes every appended record durable: one write and one fsync for the whole group.
    pub fn commit(&self) -> io::Result<()> {
        let mut inner = self.inner.lock();
        if let Some(active) = inner.active.as_mut() {
            active.file.flush()?;
            active.file.get_ref().sync_data()?;
        }
        Ok(())
    }

    /// Reads back the payload of a record (for an event that waited on disk).
    pub fn read(&self, r: SpoolRef) -> io::Result<Vec<u8>> {
        let mut file = files::read_regular(&self.segment_path(r.segment))?;
        file.seek(SeekFrom::Start(r.offset))?;
        let mut line = vec![0; r.len as usize];
        file.read_exact(&mut line)?;
        let line = line.strip_suffix(b"\n").unwrap_or(&line);
        record::check(line)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| io::Error::other("spool record damaged on disk"))
    }

    /// Reads back up to `count` consecutive records from `from` on, in order, calling `each`
    /// with where each lies and its payload (or why it cannot be had). Stops early, with the
    /// error, only when the segment cannot be opened or ends before `count` records.
    pub fn read_run(
        &self,
        from: SpoolRef,
        count: usize,
        mut each: impl FnMut(SpoolRef, Result<&[u8], &'static str>),
    ) -> io::Result<()> {
        use std::io::BufRead;
        let mut file = files::read_regular(&self.segment_path(from.segment))?;
        file.seek(SeekFrom::Start(from.offset))?;
        let mut reader = io::BufReader::with_capacity(256 * 1024, file);
        let mut offset = from.offset;
        let mut line = Vec::new();
        for _ in 0..count {
            line.clear();
            let n = (&mut reader)
                .take(record::MAX_RECORD as u64 + 10)
                .read_until(b'\n', &mut line)?;
            if n == 0 || line.last() != Some(&b'\n') {
                return Err(io::Error::other("spool segment ends before its records"));
            }
            let at = SpoolRef {
                segment: from.segment,
                offset,
                len: n as u32,
            };
            offset += n as u64;
            line.pop();
            each(
                at,
                record::check(&line).ok_or("spool record damaged on disk"),
            );
        }
        Ok(())
    }

    /// Notes that `sink` is done with event `id`: after a restart it is not sent there again.
    pub fn ack(&self, id: &str, sink: SinkKind) {
        let payload = serde_json::json!({ "id": id, "sink": sink.name() }).to_string();
        let mut inner = self.inner.lock();
        let result = (|| {
            if inner.acks.is_none() {
                inner.acks = Some(files::append(&self.dir.join("acks.log"))?);
            }
            let mut line = Vec::with_capacity(payload.len() + 10);
            record::write(&mut line, payload.as_bytes())?;
            inner.acks.as_mut().expect("just opened").write_all(&line)
        })();
        if let Err(e) = result {
            log::warn(format_args!(
                "spool: could not record an acknowledgement: {e}"
            ));
        }
    }

    /// Every sink is done with the event at `r`: its segment goes once nothing in it is owed.
    pub fn settle(&self, r: SpoolRef) {
        LEDGER.spooled.fetch_sub(1, Relaxed);
        let mut inner = self.inner.lock();
        let left = inner.live.get_mut(&r.segment).map(|c| {
            *c = c.saturating_sub(1);
            *c
        });
        let active = inner.active.as_ref().map(|a| a.n);
        if left == Some(0) && active != Some(r.segment) {
            inner.live.remove(&r.segment);
            let _ = fs::remove_file(self.segment_path(r.segment));
        }
        // Nothing owed anywhere: the active segment holds only settled records, so it goes
        // too, and the acknowledgements start afresh. (Removing acks.log while a segment with
        // settled records stayed would make a restart after a crash re-send them.)
        if inner.live.values().all(|c| *c == 0) {
            if let Some(active) = inner.active.take() {
                drop(active.file);
                let _ = fs::remove_file(self.segment_path(active.n));
            }
            inner.live.clear();
            if let Some(acks) = inner.acks.take() {
                let _ = acks.set_len(0);
            }
            let _ = fs::remove_file(self.dir.join("acks.log"));
        }
    }

    fn segment_path(&self, n: u64) -> PathBuf {
        self.dir.join(format!("{n:08}.seg"))
    }
}

impl Drop for Spool {
    /// A spool with nothing owed leaves nothing behind.
    fn drop(&mut self) {
        let owed = self.inner.get_mut().live.values().sum::<usize>();
        if owed == 0 {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    fn temp() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("et-spool-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// What the dead processes' directories still owe: (id, sinks), and damaged records.
    fn owed(data: &Path, live: &Spool) -> (Vec<(String, Vec<SinkKind>)>, usize) {
        let mut owed = Vec::new();
        let mut corrupt = 0;
        for orphan in replay::find(data, live) {
            corrupt += orphan.read(|e| {
                let head: serde_json::Value = serde_json::from_slice(&e.payload).unwrap();
                owed.push((head["id"].as_str().unwrap().to_owned(), e.sinks));
            });
        }
        (owed, corrupt)
    }

    #[cfg(unix)]
    #[test]
    fn hostile_files_in_a_dead_spool_are_not_followed_or_read_whole() {
        let data = temp();
        let old = Spool::open(&data).unwrap();
        old.append(&record("a", &["sentry"])).unwrap();
        old.commit().unwrap();
        let old_dir = old.dir().to_owned();
        drop(old);
        // A FIFO would hang a reader, /dev/zero would never end: neither is a regular file.
        let fifo = old_dir.join("00000002.seg");
        let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
        std::os::unix::fs::symlink("/dev/zero", old_dir.join("00000003.seg")).unwrap();
        // A spool directory that is a link to a folder elsewhere is not ours to lock or read.
        let elsewhere = temp();
        fs::write(elsewhere.join("00000001.seg"), b"").unwrap();
        std::os::unix::fs::symlink(&elsewhere, Spool::root(&data).join("linked")).unwrap();

        let live = Spool::open(&data).unwrap();
        let (owed, corrupt) = owed(&data, &live);
        assert_eq!(owed, [("a".to_owned(), vec![SinkKind::Sentry])]);
        assert_eq!(corrupt, 2, "the FIFO and the link are reported");
        assert!(
            !elsewhere.join("lock").exists(),
            "no lock file is created through a link"
        );
        drop(live);
        fs::remove_dir_all(data).unwrap();
        fs::remove_dir_all(elsewhere).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn spool_files_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let data = temp();
        let spool = Spool::open(&data).unwrap();
        spool.append(&record("a", &["sentry"])).unwrap();
        spool.commit().unwrap();
        spool.ack("a", SinkKind::Sentry);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&Spool::root(&data)), 0o700);
        assert_eq!(mode(spool.dir()), 0o700);
        for file in ["lock", "00000001.seg", "acks.log"] {
            assert_eq!(mode(&spool.dir().join(file)), 0o600, "{file}");
        }
        drop(spool);
        fs::remove_dir_all(data).unwrap();
    }

    fn record(id: &str, sinks: &[&str]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "id": id, "sinks": sinks, "event": {} })).unwrap()
    }

    #[test]
    fn records_read_back_and_settled_segments_go() {
        let data = temp();
        let spool = Spool::open(&data).unwrap();
        let a = spool.append(&record("a", &["sentry"])).unwrap();
        let b = spool.append(&record("b", &["sentry"])).unwrap();
        spool.commit().unwrap();
        assert_eq!(spool.read(b).unwrap(), record("b", &["sentry"]));
        spool.ack("a", SinkKind::Sentry);
        spool.settle(a);
        spool.settle(b);
        let dir = spool.dir().to_owned();
        drop(spool);
        assert!(
            !dir.exists(),
            "a spool with nothing owed leaves nothing behind"
        );
        fs::remove_dir_all(data).unwrap();
    }

    #[test]
    fn what_was_settled_is_not_replayed_when_the_process_dies_afterwards() {
        let data = temp();
        let spool = Spool::open(&data).unwrap();
        let a = spool.append(&record("a", &["sentry"])).unwrap();
        spool.commit().unwrap();
        spool.ack("a", SinkKind::Sentry);
        spool.settle(a);
        // The process dies now (SIGKILL, or an exit that skips Drop): its files stay as they
        // are, and the next start finds them unlocked.
        let dead = Spool::root(&data).join("dead");
        fs::create_dir(&dead).unwrap();
        for file in fs::read_dir(spool.dir()).unwrap() {
            let file = file.unwrap();
            fs::copy(file.path(), dead.join(file.file_name())).unwrap();
        }
        let live = Spool::open(&data).unwrap();
        let (owed, _) = owed(&data, &live);
        assert_eq!(owed.len(), 0, "a delivered event would be sent again");
        // The spool still takes new events after settling everything.
        let b = spool.append(&record("b", &["sentry"])).unwrap();
        spool.commit().unwrap();
        assert_eq!(spool.read(b).unwrap(), record("b", &["sentry"]));
        drop((spool, live));
        fs::remove_dir_all(data).unwrap();
    }

    #[test]
    fn a_dead_process_is_replayed_without_what_was_acknowledged() {
        let data = temp();
        // The "dead" process: its spool is dropped with events owed, and its lock released.
        let old = Spool::open(&data).unwrap();
        old.append(&record("a", &["sentry", "legacy"])).unwrap();
        old.append(&record("b", &["sentry"])).unwrap();
        old.commit().unwrap();
        old.ack("a", SinkKind::Sentry);
        let old_dir = old.dir().to_owned();
        drop(old);
        assert!(old_dir.exists(), "owed events keep the directory");
        // A torn record at the end, as a crash mid-write leaves.
        let seg = old_dir.join("00000001.seg");
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(b"0badc0de {\"id\":\"c\",\"si").unwrap();

        // Another live process: its directory must not be touched.
        let busy = Spool::open(&data).unwrap();
        busy.append(&record("z", &["sentry"])).unwrap();
        busy.commit().unwrap();
        let live = Spool::open(&data).unwrap();
        let (owed, corrupt) = owed(&data, &live);
        assert_eq!(corrupt, 1);
        assert_eq!(
            owed,
            [
                ("a".to_owned(), vec![SinkKind::Legacy]),
                ("b".to_owned(), vec![SinkKind::Sentry])
            ]
        );
        for orphan in replay::find(&data, &live) {
            orphan.remove();
        }
        assert!(!old_dir.exists());
        assert!(busy.dir().exists() && live.dir().exists());
        drop((busy, live));
        fs::remove_dir_all(data).unwrap();
    }
}
