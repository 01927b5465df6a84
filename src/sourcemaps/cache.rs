//! A small bounded cache keyed by file path, and the stamp that says whether a cached copy of a
//! file is still the file on disk.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Paths whose stamps are remembered at once; past it the memory starts afresh.
const MAX_STAMPS: usize = 4096;

/// What a file looked like when it was read. A rebuild rewrites the file, which changes its
/// modification time or (with coarse clocks, or a build that preserves times) its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

impl Stamp {
    pub fn of(meta: &Metadata) -> Stamp {
        Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
        }
    }

    /// The stamp of the file at `path`, if it is a readable regular file.
    pub fn read(path: &Path) -> Option<Stamp> {
        std::fs::metadata(path)
            .ok()
            .filter(Metadata::is_file)
            .map(|m| Stamp::of(&m))
    }

    pub fn len(&self) -> u64 {
        self.len
    }
}

/// Stamps read within the last `recheck`, so that a burst of errors thrown from the same files
/// costs one `stat` per file per `recheck` instead of several per event (a `stat` is a path
/// walk in the kernel, and was about a tenth of the worker's time). A file rebuilt within the
/// window is seen at the next check.
pub struct Stamps {
    recheck: Duration,
    recent: Mutex<HashMap<PathBuf, (Instant, Option<Stamp>)>>,
    /// Added to the clock: tests move time on past the window instead of sleeping through it.
    #[cfg(test)]
    skew: Mutex<Duration>,
}

impl Stamps {
    pub fn new(recheck: Duration) -> Stamps {
        Stamps {
            recheck,
            recent: Mutex::new(HashMap::new()),
            #[cfg(test)]
            skew: Mutex::new(Duration::ZERO),
        }
    }

    fn now(&self) -> Instant {
        #[cfg(test)]
        return Instant::now() + *self.skew.lock();
        #[cfg(not(test))]
        Instant::now()
    }

    /// Moves this cache's clock `by` forward.
    #[cfg(test)]
    pub fn advance(&self, by: Duration) {
        *self.skew.lock() += by;
    }

    /// `Stamp::read`, or what it said less than `recheck` ago.
    pub fn read(&self, path: &Path) -> Option<Stamp> {
        let now = self.now();
        if let Some((at, stamp)) = self.recent.lock().get(path) {
            if now.duration_since(*at) < self.recheck {
                return *stamp;
            }
        }
        let stamp = Stamp::read(path);
        self.note(path, now, stamp);
        stamp
    }

    /// Records a stamp read elsewhere just now (a map file read whole).
    pub fn remember(&self, path: &Path, stamp: Stamp) {
        self.note(path, self.now(), Some(stamp));
    }

    fn note(&self, path: &Path, at: Instant, stamp: Option<Stamp>) {
        let mut recent = self.recent.lock();
        if recent.len() >= MAX_STAMPS {
            recent.clear();
        }
        recent.insert(path.to_path_buf(), (at, stamp));
    }
}

/// Least-recently-used eviction over at most `max_entries` entries and `max_bytes` of their
/// declared cost. Eviction scans all entries, which is fine at the sizes used here (tens to a
/// few thousand) and is paid only when something new is loaded from disk.
pub struct Lru<V> {
    entries: HashMap<PathBuf, Slot<V>>,
    clock: u64,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

struct Slot<V> {
    value: V,
    cost: usize,
    used: u64,
}

impl<V: Clone> Lru<V> {
    pub fn new(max_entries: usize, max_bytes: usize) -> Lru<V> {
        Lru {
            entries: HashMap::new(),
            clock: 0,
            bytes: 0,
            max_entries,
            max_bytes,
        }
    }

    pub fn get(&mut self, key: &Path) -> Option<V> {
        self.clock += 1;
        let slot = self.entries.get_mut(key)?;
        slot.used = self.clock;
        Some(slot.value.clone())
    }

    /// Stores `value`, evicting the least recently used entries until the bounds hold again. The
    /// new entry itself is never evicted, even when it alone is over the byte budget: dropping
    /// it would mean parsing the same big map again for every event.
    pub fn insert(&mut self, key: PathBuf, value: V, cost: usize) {
        self.clock += 1;
        self.remove(&key);
        while !self.entries.is_empty()
            && (self.entries.len() >= self.max_entries || self.bytes + cost > self.max_bytes)
        {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, slot)| slot.used)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.remove(&k),
                None => break,
            }
        }
        self.bytes += cost;
        let used = self.clock;
        self.entries.insert(key, Slot { value, cost, used });
    }

    pub fn remove(&mut self, key: &Path) {
        if let Some(slot) = self.entries.remove(key) {
            self.bytes -= slot.cost;
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_by_count_and_bytes() {
        let mut lru = Lru::new(2, 100);
        lru.insert("a".into(), 1, 10);
        lru.insert("b".into(), 2, 10);
        assert_eq!(lru.get(Path::new("a")), Some(1));
        lru.insert("c".into(), 3, 10);
        assert_eq!(lru.get(Path::new("b")), None, "b was least recently used");
        assert_eq!(lru.get(Path::new("a")), Some(1));

        lru.insert("big".into(), 4, 95);
        assert_eq!(lru.len(), 1, "over the byte budget, everything older goes");
        assert_eq!(lru.get(Path::new("big")), Some(4));
        lru.insert("huge".into(), 5, 500);
        assert_eq!(lru.get(Path::new("huge")), Some(5), "the new entry stays");
        assert_eq!(lru.len(), 1);
    }

    #[test]
    fn reinserting_a_key_replaces_its_cost() {
        let mut lru = Lru::new(10, 100);
        lru.insert("a".into(), 1, 60);
        lru.insert("a".into(), 2, 60);
        lru.insert("b".into(), 3, 30);
        assert_eq!(lru.get(Path::new("a")), Some(2));
        assert_eq!(lru.get(Path::new("b")), Some(3));
    }
}
