//! The audit trail SOC 2 asks for: `dataDir/audit/audit-YYYY-MM-DD.ndjson`, append-only, one
//! line per transition of every event (`captured`, then `retry`, `delivered` or `failed` per
//! sink), kept `auditRetentionDays`. Lines carry ids, the fingerprint, release and environment
//! and a short reason: never the event's content, so never personal data.

use crate::files;
use crate::ledger::SinkKind;
use crate::log;
use parking_lot::Mutex;
use serde_json::json;
use std::fs::{self, File};
use std::io::Write;
use std::path::PathBuf;
use time::OffsetDateTime;

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
    file: Mutex<Option<(time::Date, File)>>,
}

impl Audit {
    pub fn new(dir: PathBuf, retention_days: u32) -> Audit {
        Audit {
            dir,
            retention_days,
            file: Mutex::new(None),
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
        let now = OffsetDateTime::now_utc();
        let mut bytes = Vec::new();
        line(&mut bytes, now, subject, action, sink, reason);
        self.append(now, &bytes);
    }

    /// The `captured` lines of a group of events the worker wrote down together, in one
    /// `write`: a syscall per group rather than per event.
    pub fn captured<'a>(&self, subjects: impl Iterator<Item = Subject<'a>>) {
        let now = OffsetDateTime::now_utc();
        let mut bytes = Vec::new();
        for subject in subjects {
            line(&mut bytes, now, &subject, Action::Captured, None, None);
        }
        if !bytes.is_empty() {
            self.append(now, &bytes);
        }
    }

    fn append(&self, now: OffsetDateTime, bytes: &[u8]) {
        let mut file = self.file.lock();
        let result = (|| {
            if file.as_ref().is_none_or(|(day, _)| *day != now.date()) {
                files::private_dir(&self.dir)?;
                let path = self.dir.join(format!("audit-{}.ndjson", now.date()));
                *file = Some((now.date(), files::append(&path)?));
                self.prune(now.date());
            }
            file.as_mut().expect("just opened").1.write_all(bytes)
        })();
        if let Err(e) = result {
            log::warn_once(
                "audit",
                format_args!(
                    "audit: could not write {}: {e}; the audit trail is off",
                    self.dir.display()
                ),
            );
        }
    }

    /// Deletes days older than the retention period.
    fn prune(&self, today: time::Date) {
        let Some(oldest) = today.checked_sub(time::Duration::days(i64::from(self.retention_days)))
        else {
            return;
        };
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(day) = name
                .to_str()
                .and_then(|n| n.strip_prefix("audit-"))
                .and_then(|n| n.strip_suffix(".ndjson"))
                .and_then(|d| {
                    time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
                        .ok()
                })
            else {
                continue;
            };
            if day < oldest {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// One audit line, with its newline, appended to `out`.
fn line(
    out: &mut Vec<u8>,
    now: OffsetDateTime,
    subject: &Subject<'_>,
    action: Action,
    sink: Option<SinkKind>,
    reason: Option<&str>,
) {
    let mut line = json!({
        "ts": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "eventId": subject.event_id,
        "action": action.name(),
        "sink": sink.map(SinkKind::name),
        "fingerprint": subject.fingerprint,
        "release": subject.release,
        "environment": subject.environment,
    });
    if let Some(reason) = reason {
        line["reason"] = json!(reason);
    }
    // Writing a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &line);
    out.push(b'\n');
}
