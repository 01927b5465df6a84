//! Stage 2, the buffer between the calling thread and the sinks: one object, one policy, in
//! the way Vector's buffers are.
//!
//! `maxQueueMemoryBytes` (the cap) bounds every byte held in memory for errors that wait:
//! raw captures the worker has not processed yet, and finished events the sinks have not
//! delivered yet, counted together. Nothing is dropped and the calling thread never waits:
//!
//! 1. **Raw captures** wait in memory, in order, while the total is under the cap.
//! 2. **Past the cap, raw captures spill**, in order, to `raw.spill` in the process's own spool
//!    directory, each record sealed with ChaCha20-Poly1305 under a key that exists only in
//!    this process's memory, so no unscrubbed byte is on disk in plaintext. Once spilling has
//!    begun, every new capture goes to the file until the worker has read it all back, so
//!    order is kept. The worker stops standing aside for a burst while anything is spilled.
//!    After a crash the file is unreadable (its key died with the process) and the next start
//!    deletes it with the rest of that directory: the spill protects memory, not crash
//!    durability, which an unscrubbed capture cannot have anyway.
//! 3. **Finished events** (scrubbed) are always written to the spool first; they also stay in
//!    memory for the sinks while the total is under the cap, and past it the sinks read them
//!    back from the spool when they send them.
//! 4. **The sinks hold a window of finished events**, not all of them (`sinks/window.rs`):
//!    each event they hold costs bookkeeping (ids, counters, a place in each sender's queue)
//!    whether or not its payload is in memory, so they hold at most `window()` per setup, and
//!    the rest wait in the spool only, remembered as runs of consecutive records (one per
//!    8 MiB segment in a storm) and read forward as the sinks make room. An eighth of the cap
//!    is set aside for that bookkeeping; raw captures and payloads share the rest. So what
//!    memory holds for waiting errors does not grow with their count.
//!
//! If the spill file cannot be written (no spool directory, a full disk), captures wait in
//! memory past the cap rather than be lost, with one warning.

use crate::capture::Captured;
use crate::log;
use crate::setup::Setup;
use chacha20poly1305::aead::{Aead, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use crossbeam_channel::{unbounded, Receiver, Sender};
use parking_lot::Mutex;
use sentry_types::Uuid;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, LazyLock};
use std::time::SystemTime;

/// The process's one buffer; `init` sets its cap.
pub static BUFFER: LazyLock<Buffer> = LazyLock::new(|| Buffer::new(64 * 1024 * 1024));

/// One `trackError` call on its way to the worker.
pub struct Job {
    pub seq: u64,
    pub event_id: Uuid,
    pub timestamp: SystemTime,
    pub captured: Captured,
    pub setup: Arc<Setup>,
}

impl Job {
    /// The bytes this job holds in memory, as the cap counts them.
    fn weight(&self) -> usize {
        std::mem::size_of::<Job>() + self.captured.heap_bytes()
    }
}

pub struct Buffer {
    cap: AtomicUsize,
    /// Bytes of raw captures waiting in `queue`.
    raw: AtomicUsize,
    /// Bytes of finished events the sinks hold in memory.
    finished: AtomicUsize,
    /// Bookkeeping of the events in the sinks' windows.
    window: AtomicUsize,
    /// Captures in the spill file, not yet read back.
    spilled: AtomicUsize,
    queue: Sender<(Job, usize)>,
    taken: Receiver<(Job, usize)>,
    spill: Mutex<Option<Spill>>,
}

impl Buffer {
    pub fn new(cap: usize) -> Buffer {
        let (queue, taken) = unbounded();
        Buffer {
            cap: AtomicUsize::new(cap),
            raw: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            window: AtomicUsize::new(0),
            spilled: AtomicUsize::new(0),
            queue,
            taken,
            spill: Mutex::new(None),
        }
    }

    /// The cap from the latest `init`.
    pub fn set_cap(&self, cap: usize) {
        self.cap.store(cap, Relaxed);
    }

    /// Bytes held in memory for waiting errors.
    pub fn held(&self) -> usize {
        self.raw.load(Relaxed) + self.finished.load(Relaxed) + self.window.load(Relaxed)
    }

    /// Whether `bytes` more of captures or payloads fit: they share the cap less the eighth
    /// set aside for the windows' bookkeeping.
    fn room_for(&self, bytes: usize) -> bool {
        let cap = self.cap.load(Relaxed);
        self.raw.load(Relaxed) + self.finished.load(Relaxed) + bytes <= cap - cap / 8
    }

    /// The cap in force.
    pub fn cap(&self) -> usize {
        self.cap.load(Relaxed)
    }

    /// Captures in the spill file, not yet read back.
    pub fn spilled(&self) -> usize {
        self.spilled.load(Relaxed)
    }

    /// Whether the worker must not stand aside: the cap is reached, or captures are spilled.
    pub fn pressed(&self) -> bool {
        self.spilled.load(Relaxed) > 0 || self.held() > self.cap.load(Relaxed) / 2
    }

    /// Raw captures waiting, in memory or spilled.
    pub fn waiting(&self) -> usize {
        self.taken.len() + self.spilled.load(Relaxed)
    }

    /// Takes a capture from the calling thread: in memory under the cap, else to the spill.
    /// Never blocks on another thread, never drops.
    pub fn push(&self, job: Job) {
        let weight = job.weight();
        if self.spilled.load(Relaxed) == 0 && self.room_for(weight) {
            self.hold(job, weight);
            return;
        }
        let mut spill = self.spill.lock();
        match spill_into(&mut spill, &job) {
            Ok(()) => {
                self.spilled.fetch_add(1, Relaxed);
            }
            Err(e) => {
                drop(spill);
                log::warn_once(
                    "spill",
                    format_args!(
                        "cannot spill captures past maxQueueMemoryBytes ({e}); they wait in memory"
                    ),
                );
                self.hold(job, weight);
            }
        }
    }

    fn hold(&self, job: Job, weight: usize) {
        self.raw.fetch_add(weight, Relaxed);
        // The receiver lives in `self`: the channel cannot be disconnected.
        let _ = self.queue.send((job, weight));
    }

    /// The next capture for the worker, oldest first: memory, then the spill.
    pub fn pop(&self) -> Option<Job> {
        if let Ok((job, weight)) = self.taken.try_recv() {
            self.raw.fetch_sub(weight, Relaxed);
            return Some(job);
        }
        if self.spilled.load(Relaxed) == 0 {
            return None;
        }
        let mut spill = self.spill.lock();
        let job = match spill.as_mut().map(Spill::next) {
            Some(Ok(Some(job))) => job,
            Some(Ok(None)) | None => return None,
            Some(Err(e)) => {
                // Only a bug or a disk that lost what it was given: say so, and start afresh
                // rather than hang the queue on it.
                log::warn(format_args!(
                    "spill: {} capture(s) could not be read back: {e}",
                    self.spilled.load(Relaxed)
                ));
                self.spilled.store(0, Relaxed);
                *spill = None;
                return None;
            }
        };
        if self.spilled.fetch_sub(1, Relaxed) == 1 {
            *spill = None; // read it all: the file goes, and memory is used again
        }
        Some(job)
    }

    /// Decides whether a finished event of `bytes` also stays in memory (else the sinks read
    /// it back from the spool), and counts it if so. `release_finished` gives it back.
    pub fn keep_finished(&self, bytes: usize) -> bool {
        let keep = self.room_for(bytes);
        if keep {
            self.finished.fetch_add(bytes, Relaxed);
        }
        keep
    }

    /// Counts the bookkeeping of an event taking a place in a sinks' window; `window` bounds
    /// how many do.
    pub fn hold_window(&self, bytes: usize) {
        self.window.fetch_add(bytes, Relaxed);
    }

    pub fn release_window(&self, bytes: usize) {
        self.window.fetch_sub(bytes, Relaxed);
    }

    /// How many finished events a setup's sinks hold at once (`sinks/window.rs`); the rest
    /// wait in the spool only. An eighth of the cap goes to their bookkeeping, within bounds:
    /// at least a legacy batch's worth (512 events, some 170 KB), so a small cap still fills a
    /// request.
    pub fn window(&self) -> usize {
        (self.cap.load(Relaxed) / 8 / crate::sinks::Finished::BOOKKEEPING).clamp(512, 65_536)
    }

    pub fn release_finished(&self, bytes: usize) {
        self.finished.fetch_sub(bytes, Relaxed);
    }
}

/// A capture as it is spilled: the setup it belongs to is an index into `Spill::setups`.
#[derive(Serialize, Deserialize)]
struct Spilled<C> {
    seq: u64,
    event_id: Uuid,
    timestamp: SystemTime,
    setup: usize,
    captured: C,
}

/// The encrypted file of captures past the cap: length-prefixed sealed records, written at the
/// end and read from the front.
struct Spill {
    path: PathBuf,
    cipher: ChaCha20Poly1305,
    writer: BufWriter<File>,
    reader: File,
    /// Records written and read: each record's nonce is its number.
    written: u64,
    read: u64,
    /// Setups of the spilled captures, held so their spool and sinks outlive the file.
    setups: Vec<Arc<Setup>>,
}

fn spill_into(spill: &mut Option<Spill>, job: &Job) -> io::Result<()> {
    if spill.is_none() {
        *spill = Some(Spill::create(&job.setup)?);
    }
    spill.as_mut().expect("just made").write(job)
}

impl Spill {
    fn create(setup: &Setup) -> io::Result<Spill> {
        let dir = setup
            .durable
            .spool
            .as_ref()
            .map(|s| s.dir().to_owned())
            .ok_or_else(|| io::Error::other("no spool directory"))?;
        let path = dir.join("raw.spill");
        let writer = crate::files::create(&path)?;
        let reader = File::open(&path)?;
        Ok(Spill {
            path,
            cipher: ChaCha20Poly1305::new(&ChaCha20Poly1305::generate_key(&mut OsRng)),
            writer: BufWriter::with_capacity(256 * 1024, writer),
            reader,
            written: 0,
            read: 0,
            setups: Vec::new(),
        })
    }

    fn nonce(n: u64) -> Nonce {
        let mut nonce = Nonce::default();
        nonce[..8].copy_from_slice(&n.to_le_bytes());
        nonce
    }

    fn write(&mut self, job: &Job) -> io::Result<()> {
        let setup = match self.setups.iter().position(|s| Arc::ptr_eq(s, &job.setup)) {
            Some(i) => i,
            None => {
                self.setups.push(job.setup.clone());
                self.setups.len() - 1
            }
        };
        let plain = serde_json::to_vec(&Spilled {
            seq: job.seq,
            event_id: job.event_id,
            timestamp: job.timestamp,
            setup,
            captured: &job.captured,
        })?;
        let sealed = self
            .cipher
            .encrypt(&Self::nonce(self.written), plain.as_slice())
            .map_err(|_| io::Error::other("encryption failed"))?;
        self.writer
            .write_all(&(sealed.len() as u64).to_le_bytes())?;
        self.writer.write_all(&sealed)?;
        self.written += 1;
        Ok(())
    }

    fn next(&mut self) -> io::Result<Option<Job>> {
        if self.read == self.written {
            return Ok(None);
        }
        self.writer.flush()?;
        let mut len = [0u8; 8];
        self.reader.read_exact(&mut len)?;
        let mut sealed = vec![0; u64::from_le_bytes(len) as usize];
        self.reader.read_exact(&mut sealed)?;
        let plain = self
            .cipher
            .decrypt(&Self::nonce(self.read), sealed.as_slice())
            .map_err(|_| io::Error::other("a spilled capture failed its integrity check"))?;
        self.read += 1;
        let spilled: Spilled<Captured> = serde_json::from_slice(&plain)?;
        let setup = self
            .setups
            .get(spilled.setup)
            .cloned()
            .ok_or_else(|| io::Error::other("a spilled capture names no setup"))?;
        Ok(Some(Job {
            seq: spilled.seq,
            event_id: spilled.event_id,
            timestamp: spilled.timestamp,
            captured: spilled.captured,
            setup,
        }))
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Thrown;
    use crate::event::Host;
    use crate::options::Config;

    fn setup(dir: &std::path::Path) -> Arc<Setup> {
        let config = Config::resolve(
            &serde_json::json!({ "dataDir": dir.to_str().unwrap() }),
            |_| None,
        )
        .unwrap();
        Arc::new(Setup::open(config, Host::detect(None)).unwrap())
    }

    fn job(seq: u64, setup: &Arc<Setup>, secret: &str) -> Job {
        Job {
            seq,
            event_id: Uuid::new_v4(),
            timestamp: SystemTime::now(),
            captured: {
                let mut c = Captured::default();
                c.exceptions = vec![Thrown {
                    ty: "Error".into(),
                    message: format!("screening failed for {secret}"),
                    ..Thrown::default()
                }];
                c.context = Some(serde_json::json!({ "padding": "x".repeat(4096) }));
                c
            },
            setup: setup.clone(),
        }
    }

    /// A setup in a fresh temporary `dataDir`, and where its spill file goes.
    fn fresh() -> (std::path::PathBuf, Arc<Setup>, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("et-buffer-{}", Uuid::new_v4().simple()));
        let setup = setup(&dir);
        let file = setup
            .durable
            .spool
            .as_ref()
            .unwrap()
            .dir()
            .join("raw.spill");
        (dir, setup, file)
    }

    /// Flushes the spill's writer, so the file holds everything spilled so far.
    fn written(buffer: &Buffer) {
        buffer
            .spill
            .lock()
            .as_mut()
            .unwrap()
            .writer
            .flush()
            .unwrap();
    }

    #[test]
    fn past_the_cap_captures_spill_encrypted_and_come_back_in_order() {
        let (dir, setup, file) = fresh();
        let buffer = Buffer::new(20 * 1024);
        for seq in 0..50 {
            buffer.push(job(seq, &setup, "Jane Plaintext-Doe"));
        }
        let spilled = buffer.spilled.load(Relaxed);
        assert!(spilled >= 40, "{spilled} of 50 spilled past a 20 KiB cap");
        assert!(buffer.held() <= 20 * 1024, "{} bytes held", buffer.held());
        written(&buffer);
        let on_disk = std::fs::read(&file).unwrap();
        assert!(on_disk.len() > 40 * 4096);
        assert!(
            !on_disk.windows(9).any(|w| w == b"Plaintext")
                && !on_disk.windows(8).any(|w| w == b"xxxxxxxx"),
            "no capture is on disk in plaintext"
        );
        let seqs: Vec<u64> = std::iter::from_fn(|| buffer.pop()).map(|j| j.seq).collect();
        assert_eq!(
            seqs,
            (0..50).collect::<Vec<_>>(),
            "every capture back, in order"
        );
        assert!(!file.exists(), "the spill goes once it is read back");
        assert_eq!(buffer.held(), 0);
        // Memory is used again once the spill is empty.
        buffer.push(job(50, &setup, "x"));
        assert_eq!(buffer.spilled.load(Relaxed), 0);
        assert_eq!(buffer.pop().map(|j| j.seq), Some(50));
        drop(setup);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_window_takes_an_eighth_of_the_cap() {
        // The figures README.md gives ("Memory: one buffer, one cap").
        assert_eq!(crate::sinks::Finished::BOOKKEEPING, 320);
        assert_eq!(Buffer::new(32 * 1024 * 1024).window(), 13_107);
        assert_eq!(
            Buffer::new(64 * 1024).window(),
            512,
            "never below a legacy batch"
        );
    }

    #[test]
    fn a_tampered_spill_is_reported_not_trusted() {
        let (dir, setup, file) = fresh();
        let buffer = Buffer::new(0);
        buffer.push(job(0, &setup, "a"));
        buffer.push(job(1, &setup, "b"));
        written(&buffer);
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[20] ^= 1;
        std::fs::write(&file, bytes).unwrap();
        assert!(
            buffer.pop().is_none(),
            "a record that fails its tag is not used"
        );
        assert_eq!(buffer.waiting(), 0);
        drop(setup);
        let _ = std::fs::remove_dir_all(dir);
    }
}
