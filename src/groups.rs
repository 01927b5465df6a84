//! What `stats().groups` reports: per fingerprint, how often the error happened, to how many
//! distinct users (by `user.id` after pseudonymisation), and when it was first and last seen.
//! Recorded on the worker from the scrubbed event, so titles hold no personal data either.
//! Per release, what `stats().releases` reports: its errors, and the groups first seen in it,
//! so a deploy that brought a new error stands out.

use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::LazyLock;

/// Groups kept; past it, new fingerprints are not tracked (existing ones still count).
const MAX_GROUPS: usize = 10_000;
/// Distinct users remembered per group; past it, `users` stops growing.
const MAX_USERS: usize = 100_000;
const MAX_TITLE: usize = 200;

pub struct Group {
    pub fingerprint: String,
    pub title: String,
    pub count: u64,
    /// Hashes of the user ids seen, which is all counting needs.
    users: HashSet<u64>,
    pub first_seen_ms: f64,
    pub last_seen_ms: f64,
}

impl Group {
    pub fn users(&self) -> usize {
        self.users.len()
    }
}

static GROUPS: LazyLock<Mutex<HashMap<String, Group>>> = LazyLock::new(Default::default);

/// Releases kept, in the order they were first seen; past it, new ones are not tracked.
const MAX_RELEASES: usize = 100;

pub struct Release {
    pub release: String,
    pub errors: u64,
    /// Fingerprints of the groups whose first event came from this release.
    pub new_groups: Vec<String>,
}

static RELEASES: Mutex<Vec<Release>> = Mutex::new(Vec::new());

/// Counts one event of the group `fingerprint`, from `release`.
pub fn record(
    fingerprint: &str,
    title: &str,
    user_id: Option<&str>,
    at_ms: f64,
    release: Option<&str>,
) {
    let mut groups = GROUPS.lock();
    if !groups.contains_key(fingerprint) && groups.len() >= MAX_GROUPS {
        return;
    }
    if let Some(release) = release {
        count_release(
            release,
            (!groups.contains_key(fingerprint)).then_some(fingerprint),
        );
    }
    let group = groups
        .entry(fingerprint.to_owned())
        .or_insert_with(|| Group {
            fingerprint: fingerprint.to_owned(),
            title: title.chars().take(MAX_TITLE).collect(),
            count: 0,
            users: HashSet::new(),
            first_seen_ms: at_ms,
            last_seen_ms: at_ms,
        });
    group.count += 1;
    group.first_seen_ms = group.first_seen_ms.min(at_ms);
    group.last_seen_ms = group.last_seen_ms.max(at_ms);
    if let Some(id) = user_id {
        if group.users.len() < MAX_USERS {
            let mut h = DefaultHasher::new();
            id.hash(&mut h);
            group.users.insert(h.finish());
        }
    }
}

fn count_release(release: &str, new_group: Option<&str>) {
    let mut releases = RELEASES.lock();
    let at = match releases.iter().position(|r| r.release == release) {
        Some(at) => at,
        None if releases.len() < MAX_RELEASES => {
            releases.push(Release {
                release: release.to_owned(),
                errors: 0,
                new_groups: Vec::new(),
            });
            releases.len() - 1
        }
        None => return,
    };
    let entry = &mut releases[at];
    entry.errors += 1;
    if let Some(fingerprint) = new_group {
        entry.new_groups.push(fingerprint.to_owned());
    }
}

/// Every release seen, in the order it was first seen.
pub fn releases<T>(f: impl Fn(&Release) -> T) -> Vec<T> {
    RELEASES.lock().iter().map(f).collect()
}

/// Every group, most frequent first.
pub fn snapshot<T>(f: impl Fn(&Group) -> T) -> Vec<T> {
    let groups = GROUPS.lock();
    let mut all: Vec<&Group> = groups.values().collect();
    all.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(a.fingerprint.cmp(&b.fingerprint))
    });
    all.into_iter().map(f).collect()
}
