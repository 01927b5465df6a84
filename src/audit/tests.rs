use super::verify::verify;
use super::*;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use time::macros::datetime;

fn temp() -> PathBuf {
    std::env::temp_dir().join(format!("et-audit-{}", uuid::Uuid::new_v4().simple()))
}

/// A clock the test moves: seconds after 2026-03-01 00:00 UTC.
fn clock() -> (Arc<AtomicI64>, impl Fn() -> OffsetDateTime + Send + Sync) {
    let at = Arc::new(AtomicI64::new(0));
    let read = at.clone();
    (at, move || {
        datetime!(2026-03-01 00:00 UTC) + time::Duration::seconds(read.load(Ordering::Relaxed))
    })
}

const DAY: i64 = 86_400;

fn subject(id: &str) -> Subject<'_> {
    Subject {
        event_id: id,
        fingerprint: "f",
        release: None,
        environment: Some("test"),
    }
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

/// Three days of five events each, written by a process that restarts every day.
fn three_days(dir: &Path, retention: u32) {
    let (at, now) = clock();
    let now = Arc::new(now);
    for day in 0..3 {
        at.store(day * DAY + 60, Ordering::Relaxed);
        let now = now.clone();
        let audit = Audit::with_clock(dir.to_owned(), retention, move || now());
        let ids: Vec<String> = (0..5).map(|i| format!("d{day}e{i}")).collect();
        audit.captured(&[SinkKind::Sentry], ids.iter().map(|i| subject(i)));
        for id in &ids {
            audit.record(
                &subject(id),
                Action::Delivered,
                Some(SinkKind::Sentry),
                None,
            );
        }
    }
}

#[test]
fn chains_across_rotation_and_restarts() {
    let dir = temp();
    three_days(&dir, 400);
    let v = verify(&dir);
    assert!(
        v.intact(),
        "{:?} {:?}",
        v.broken.map(|b| b.reason),
        v.problems
    );
    assert_eq!((v.files, v.lines), (3, 30));
    assert_eq!(v.oldest_day.as_deref(), Some("2026-03-01"));
    // The first line of a day chains to the last line of the day before.
    let first = &lines(&dir.join("audit-2026-03-02.ndjson"))[0];
    let last = lines(&dir.join("audit-2026-03-01.ndjson")).pop().unwrap();
    assert_eq!(
        chain::open(first.as_bytes()).unwrap().prev,
        chain::hash_after(last.as_bytes())
    );
    // Captured lines name the sinks the event is owed to; nothing else about the event.
    let line: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(line["sinks"], json!(["sentry"]));
    assert_eq!(
        v.head,
        chain::hash_after(
            lines(&dir.join("audit-2026-03-03.ndjson"))
                .pop()
                .unwrap()
                .as_bytes()
        )
    );
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn retention_anchors_the_chain_at_the_oldest_kept_day() {
    let dir = temp();
    let end_of_day_one = {
        three_days(&dir, 400);
        chain::hash_after(
            lines(&dir.join("audit-2026-03-01.ndjson"))
                .pop()
                .unwrap()
                .as_bytes(),
        )
    };
    // A process on 2026-03-03 keeping one day deletes 2026-03-01 on its first write.
    let (at, now) = clock();
    at.store(2 * DAY + 7200, Ordering::Relaxed);
    let audit = Audit::with_clock(dir.clone(), 1, now);
    audit.record(
        &subject("late"),
        Action::Retry,
        Some(SinkKind::Legacy),
        Some("HTTP 503"),
    );
    assert!(!dir.join("audit-2026-03-01.ndjson").exists());
    let anchor = read_anchor(&dir).unwrap().unwrap();
    assert_eq!(
        (anchor.day.as_str(), anchor.hash.as_str()),
        ("2026-03-01", end_of_day_one.as_str())
    );
    let v = verify(&dir);
    assert!(
        v.intact(),
        "{:?} {:?}",
        v.broken.map(|b| b.reason),
        v.problems
    );
    assert_eq!((v.files, v.lines), (2, 21));
    assert_eq!(v.oldest_day.as_deref(), Some("2026-03-02"));
    // Without the anchor the oldest kept day no longer proves where it started.
    fs::remove_file(dir.join(ANCHOR)).unwrap();
    let broken = verify(&dir).broken.unwrap();
    assert_eq!(
        (broken.file.as_str(), broken.line),
        ("audit-2026-03-02.ndjson", 1)
    );
    fs::remove_dir_all(dir).unwrap();
}

/// Runs `tamper` on the middle day's lines and returns where verification breaks.
fn broken_after(tamper: impl FnOnce(&mut Vec<String>)) -> (String, u64, String) {
    let dir = temp();
    three_days(&dir, 400);
    let path = dir.join("audit-2026-03-02.ndjson");
    let mut kept = lines(&path);
    tamper(&mut kept);
    write_lines(&path, &kept);
    let v = verify(&dir);
    fs::remove_dir_all(dir).unwrap();
    assert!(!v.intact());
    let b = v.broken.expect("a broken link");
    (b.file, b.line, b.reason)
}

#[test]
fn an_edited_line_is_found_where_it_is() {
    let (file, line, reason) = broken_after(|l| l[6] = l[6].replace("delivered", "failed"));
    assert_eq!((file.as_str(), line), ("audit-2026-03-02.ndjson", 7));
    assert!(reason.contains("edited"), "{reason}");
}

#[test]
fn a_deleted_line_is_found_at_the_line_after_it() {
    let (file, line, reason) = broken_after(|l| {
        l.remove(3);
    });
    assert_eq!((file.as_str(), line), ("audit-2026-03-02.ndjson", 4));
    assert!(reason.contains("does not follow line 3"), "{reason}");
}

#[test]
fn reordered_lines_are_found_at_the_first_moved() {
    let (file, line, _) = broken_after(|l| l.swap(4, 5));
    assert_eq!((file.as_str(), line), ("audit-2026-03-02.ndjson", 5));
    // The first line of a day removed: the day no longer follows the one before.
    let (file, line, reason) = broken_after(|l| {
        l.remove(0);
    });
    assert_eq!((file.as_str(), line), ("audit-2026-03-02.ndjson", 1));
    assert!(reason.contains("audit-2026-03-01.ndjson"), "{reason}");
}

#[test]
fn a_whole_day_deleted_is_found_at_the_next() {
    let dir = temp();
    three_days(&dir, 400);
    fs::remove_file(dir.join("audit-2026-03-02.ndjson")).unwrap();
    let b = verify(&dir).broken.unwrap();
    fs::remove_dir_all(dir).unwrap();
    assert_eq!((b.file.as_str(), b.line), ("audit-2026-03-03.ndjson", 1));
}

/// Two writers on one directory (two processes sharing a `dataDir`, or two setups of one)
/// interleave their appends, and the chain stays whole.
#[test]
fn writers_sharing_a_directory_share_one_chain() {
    let dir = temp();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let audit = Audit::new(dir, 400);
                for i in 0..200 {
                    let id = format!("w{w}e{i}");
                    audit.captured(&[SinkKind::Outbox], std::iter::once(subject(&id)));
                    audit.record(
                        &subject(&id),
                        Action::Delivered,
                        Some(SinkKind::Outbox),
                        None,
                    );
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let v = verify(&dir);
    fs::remove_dir_all(&dir).unwrap();
    assert!(
        v.intact(),
        "{:?} {:?}",
        v.broken.map(|b| (b.file, b.line, b.reason)),
        v.problems
    );
    // Around midnight UTC the lines may span two files.
    assert_eq!(v.lines, 800);
}

#[test]
fn a_torn_last_line_is_reported_and_what_follows_still_chains() {
    let dir = temp();
    three_days(&dir, 400);
    let path = dir.join("audit-2026-03-03.ndjson");
    let mut text = fs::read(&path).unwrap();
    text.truncate(text.len() - 20);
    fs::write(&path, &text).unwrap();
    let (at, now) = clock();
    at.store(2 * DAY + 7200, Ordering::Relaxed);
    Audit::with_clock(dir.clone(), 400, now).record(
        &subject("after"),
        Action::Retry,
        Some(SinkKind::Sentry),
        Some("HTTP 503"),
    );
    let b = verify(&dir).broken.unwrap();
    assert_eq!((b.file.as_str(), b.line), ("audit-2026-03-03.ndjson", 10));
    // The line after it was written whole, on a line of its own.
    let all = lines(&path);
    assert_eq!(all.len(), 11);
    assert!(chain::open(all[10].as_bytes()).unwrap().intact());
    fs::remove_dir_all(dir).unwrap();
}

#[cfg(unix)]
#[test]
fn files_readable_by_others_are_a_problem() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp();
    three_days(&dir, 400);
    assert!(verify(&dir).intact());
    let path = dir.join("audit-2026-03-02.ndjson");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let v = verify(&dir);
    fs::remove_dir_all(dir).unwrap();
    assert!(v.broken.is_none() && !v.intact());
    assert!(
        v.problems[0].contains("audit-2026-03-02.ndjson: mode 644"),
        "{:?}",
        v.problems
    );
}

/// A trail begun by a version without the chain: its lines are not proven (so not intact),
/// but the chain after them is checked, and tampering there is still found.
#[test]
fn lines_from_before_the_chain_are_unproven_and_the_rest_is_checked() {
    let dir = temp();
    fs::create_dir_all(&dir).unwrap();
    let old = r#"{"ts":"2026-03-01T00:00:00Z","eventId":"old","action":"captured","sink":null,"fingerprint":"f","release":null,"environment":"test"}"#;
    write_lines(
        &dir.join("audit-2026-03-01.ndjson"),
        &[old.to_owned(), old.replace("captured", "delivered")],
    );
    let (at, now) = clock();
    at.store(60, Ordering::Relaxed);
    let audit = Audit::with_clock(dir.clone(), 400, now);
    for id in ["a", "b", "c"] {
        audit.record(
            &subject(id),
            Action::Delivered,
            Some(SinkKind::Sentry),
            None,
        );
    }
    let v = verify(&dir);
    assert!(v.broken.is_none() && !v.intact());
    assert_eq!((v.unchained, v.lines), (2, 3));
    assert!(
        v.problems[0].contains("audit-2026-03-01.ndjson:2"),
        "{:?}",
        v.problems
    );
    let path = dir.join("audit-2026-03-01.ndjson");
    let mut kept = lines(&path);
    kept.swap(3, 4);
    write_lines(&path, &kept);
    let b = verify(&dir).broken.unwrap();
    fs::remove_dir_all(dir).unwrap();
    assert_eq!((b.file.as_str(), b.line), ("audit-2026-03-01.ndjson", 4));
}
