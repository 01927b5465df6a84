//! The audit trail SOC 2 asks for: `dataDir/audit/audit-YYYY-MM-DD.ndjson`, append-only, one
//! line per transition of every event (`captured`, then `retry`, `delivered` or `failed` per
//! sink), kept `auditRetentionDays`. Lines carry ids, the fingerprint, release and environment,
//! the sinks an event is owed to and a short reason: never the event's content, so never
//! personal data.
//!
//! Every line is chained to the one before it by SHA-256 ([`chain`]), across days, restarts
//! and retention, so a deleted, moved or edited line is found by [`verify`].
//!
//! Several processes may share a `dataDir` (each has its own spool directory), and they share
//! one chain: appends take an exclusive lock on `audit/.lock` (`flock`, or `LockFileEx` on
//! Windows), read the time under it so the day files follow each other in the chain's order,
//! and chain to the file's last line, which is read back only when another writer appended
//! since this one (the file's length says so). A process never writes to a day older than the
//! newest file there, so a clock stepping back cannot fork the chain. Retention deletes old
//! days under the same lock, after writing the hash the last deleted day ended with to
//! `anchor.json`, where verification of the oldest kept day starts.

mod chain;
pub mod verify;

use crate::files;
use crate::ledger::SinkKind;
use crate::log;
use parking_lot::Mutex;
use serde_json::json;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use time::{Date, OffsetDateTime};

const LOCK: &str = ".lock";
const ANCHOR: &str = "anchor.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Captured,
    Delivered,
    Retry,
    Failed,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Captured => "captured",
            Action::Delivered => "delivered",
            Action::Retry => "retry",
            Action::Failed => "failed",
        }
    }
}

/// The facts about an event an audit line repeats.
pub struct Subject<'a> {
    pub event_id: &'a str,
    pub fingerprint: &'a str,
    pub release: Option<&'a str>,
    pub environment: Option<&'a str>,
}

pub struct Audit {
    dir: PathBuf,
    retention_days: u32,
    state: Mutex<State>,
    clock: Box<dyn Fn() -> OffsetDateTime + Send + Sync>,
}

#[derive(Default)]
struct State {
    lock: Option<File>,
    file: Option<(Date, File)>,
    /// The file's length after this process's last append, and the hash of its last line.
    end: Option<u64>,
    head: String,
}

impl Audit {
    pub fn new(dir: PathBuf, retention_days: u32) -> Audit {
        Audit::with_clock(dir, retention_days, OffsetDateTime::now_utc)
    }

    /// An audit trail whose lines are dated by `clock` (the tests' days go by faster).
    pub fn with_clock(
        dir: PathBuf,
        retention_days: u32,
        clock: impl Fn() -> OffsetDateTime + Send + Sync + 'static,
    ) -> Audit {
        Audit {
            dir,
            retention_days,
            state: Mutex::new(State::default()),
            clock: Box::new(clock),
        }
    }

    /// Appends one line. A line is one `write`, so concurrent writers never interleave.
    pub fn record(
        &self,
        subject: &Subject<'_>,
        action: Action,
        sink: Option<SinkKind>,
        reason: Option<&str>,
    ) {
        self.append(|ts| vec![object(ts, subject, action, sink, reason, None)]);
    }

    /// The `captured` lines of a group of events the worker wrote down together, each naming
    /// the `sinks` it is owed to, in one `write`: a syscall per group rather than per event.
    pub fn captured<'a>(&self, sinks: &[SinkKind], subjects: impl Iterator<Item = Subject<'a>>) {
        let subjects: Vec<Subject<'a>> = subjects.collect();
        if subjects.is_empty() {
            return;
        }
        self.append(|ts| {
            subjects
                .iter()
                .map(|s| object(ts, s, Action::Captured, None, None, Some(sinks)))
                .collect()
        });
    }

    fn append(&self, objects: impl FnOnce(&str) -> Vec<Vec<u8>>) {
        let mut state = self.state.lock();
        if let Err(e) = self.append_locked(&mut state, objects) {
            state.end = None;
            log::warn_once(
                "audit",
                format_args!(
                    "audit: could not write {}: {e}; the audit trail is off",
                    self.dir.display()
                ),
            );
        }
    }

    fn append_locked(
        &self,
        state: &mut State,
        objects: impl FnOnce(&str) -> Vec<Vec<u8>>,
    ) -> io::Result<()> {
        if state.lock.is_none() {
            files::private_dir(&self.dir)?;
            state.lock = Some(files::append(&self.dir.join(LOCK))?);
        }
        let State {
            lock,
            file,
            end,
            head,
        } = state;
        let lock = lock.as_ref().expect("just opened");
        // Blocks while another process (or another setup of this one) appends.
        lock.lock()?;
        let result = (|| {
            let now = (self.clock)();
            if file.as_ref().is_none_or(|(day, _)| now.date() > *day) {
                files::private_dir(&self.dir)?;
                let days = days(&self.dir)?;
                let day = days.last().map_or(now.date(), |&d| d.max(now.date()));
                *file = Some((day, files::append(&day_path(&self.dir, day))?));
                *end = None;
                self.prune(day, &days);
            }
            let (day, file) = file.as_mut().expect("just opened");
            let len = file.metadata()?.len();
            let mut out = Vec::new();
            if *end != Some(len) {
                let (last, torn) = match last_line(&day_path(&self.dir, *day))? {
                    Some((line, torn)) => (chain::hash_after(&line), torn),
                    None => (end_of(&self.dir, *day)?, false),
                };
                if torn {
                    out.push(b'\n');
                }
                *head = last;
            }
            let ts = now
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            for object in objects(&ts) {
                *head = chain::seal(&mut out, head, &object);
            }
            *end = None;
            file.write_all(&out)?;
            *end = Some(len + out.len() as u64);
            Ok(())
        })();
        let _ = lock.unlock();
        result
    }

    /// Deletes days older than the retention period, first writing the hash the last of them
    /// ended with to `anchor.json`, where the kept chain starts. Runs under the lock.
    fn prune(&self, today: Date, days: &[Date]) {
        let Some(oldest) = today.checked_sub(time::Duration::days(i64::from(self.retention_days)))
        else {
            return;
        };
        let Some(&last) = days.iter().rev().find(|&&d| d < oldest) else {
            return;
        };
        let anchored = end_of(&self.dir, last.next_day().unwrap_or(last)).and_then(|hash| {
            let anchor = json!({ "day": last.to_string(), "hash": hash });
            let tmp = self.dir.join(format!("{ANCHOR}.tmp"));
            files::create(&tmp)?.write_all(format!("{anchor}\n").as_bytes())?;
            fs::rename(&tmp, self.dir.join(ANCHOR))
        });
        if let Err(e) = anchored {
            // Deleting without the anchor would leave a chain that cannot be verified.
            log::warn(format_args!(
                "audit: could not write {}: {e}; old days are kept",
                self.dir.join(ANCHOR).display()
            ));
            return;
        }
        for &day in days.iter().filter(|&&d| d <= last) {
            let _ = fs::remove_file(day_path(&self.dir, day));
        }
    }
}

/// One audit line's members, as a JSON object.
fn object(
    ts: &str,
    subject: &Subject<'_>,
    action: Action,
    sink: Option<SinkKind>,
    reason: Option<&str>,
    sinks: Option<&[SinkKind]>,
) -> Vec<u8> {
    let mut line = json!({
        "ts": ts,
        "eventId": subject.event_id,
        "action": action.name(),
        "sink": sink.map(SinkKind::name),
        "fingerprint": subject.fingerprint,
        "release": subject.release,
        "environment": subject.environment,
    });
    if let Some(sinks) = sinks {
        line["sinks"] = json!(sinks.iter().map(|s| s.name()).collect::<Vec<_>>());
    }
    if let Some(reason) = reason {
        line["reason"] = json!(reason);
    }
    // Writing a Value into a Vec cannot fail.
    serde_json::to_vec(&line).unwrap_or_default()
}

pub fn day_path(dir: &Path, day: Date) -> PathBuf {
    dir.join(format!("audit-{day}.ndjson"))
}

/// The days with a file in `dir`, oldest first.
pub fn days(dir: &Path) -> io::Result<Vec<Date>> {
    let mut days: Vec<Date> = fs::read_dir(dir)?
        .flatten()
        .filter_map(|entry| day_of(entry.file_name().to_str()?))
        .collect();
    days.sort();
    Ok(days)
}

/// The day of an audit file's name, `audit-YYYY-MM-DD.ndjson`.
pub fn day_of(name: &str) -> Option<Date> {
    let day = name.strip_prefix("audit-")?.strip_suffix(".ndjson")?;
    Date::parse(
        day,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// The hash the chain has reached just before `day`: the last line of the newest earlier
/// file that has one, else the anchor retention left, else [`chain::GENESIS`].
fn end_of(dir: &Path, day: Date) -> io::Result<String> {
    for earlier in days(dir)?.into_iter().rev().filter(|&d| d < day) {
        if let Some((line, _)) = last_line(&day_path(dir, earlier))? {
            return Ok(chain::hash_after(&line));
        }
    }
    Ok(read_anchor(dir)?.map_or_else(|| chain::GENESIS.to_owned(), |a| a.hash))
}

/// What retention left of the deleted days: the last one and the hash it ended with.
pub struct Anchor {
    pub day: String,
    pub hash: String,
}

pub fn read_anchor(dir: &Path) -> io::Result<Option<Anchor>> {
    let mut text = String::new();
    match files::read_regular(&dir.join(ANCHOR)) {
        Ok(mut file) => file.read_to_string(&mut text)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| io::Error::other(format!("{ANCHOR} does not parse: {e}")))?;
    match (value["day"].as_str(), value["hash"].as_str()) {
        (Some(day), Some(hash)) => Ok(Some(Anchor {
            day: day.to_owned(),
            hash: hash.to_owned(),
        })),
        _ => Err(io::Error::other(format!("{ANCHOR} lacks day or hash"))),
    }
}

/// The last line of `path` (without its newline) and whether it was cut short (no newline
/// after it); `None` when the file is empty or missing.
fn last_line(path: &Path) -> io::Result<Option<(Vec<u8>, bool)>> {
    let mut file = match files::read_regular(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // Lines are well under a kilobyte; 64 KiB from the end always holds the last one whole.
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    let torn = !tail.ends_with(b"\n");
    let text = tail.strip_suffix(b"\n").unwrap_or(&tail);
    if text.is_empty() {
        return Ok(None);
    }
    let start = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    Ok(Some((text[start..].to_vec(), torn)))
}

#[cfg(test)]
mod tests;
