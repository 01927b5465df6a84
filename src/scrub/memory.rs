//! Taint that outlives its event. Sanctions screening handles the same subject across retries,
//! causes and follow-up errors: a passport number removed by key from one event turns up bare
//! in the next one's `cause` message, where nothing tells it from an order id. So every value
//! an event's key rules removed is remembered, and later events lose it too.
//!
//! What is remembered is not the value: only a keyed hash (SipHash-1-3, 128-bit, under a key
//! drawn from the OS when the process starts) of its normalised words, in memory, never
//! written anywhere. The memory is bounded in time (a value is forgotten `ttl` after it was
//! last removed by key, 24 hours at most) and in count (`MAX_VALUES`, least recently seen
//! first out).
//!
//! Matching a set of hashes against free text without knowing the values: each run of up to
//! `MAX_WORDS` words of the text is hashed the way a value was, and looked up. Only runs whose
//! first word starts some remembered value are hashed past their first word, and a cheap keyed
//! fingerprint passes over most first words before SipHash is run at all.

use super::policy::FILTERED;
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::OsRng;
use parking_lot::Mutex;
use siphasher::sip128::{Hasher128, SipHasher13};
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

/// The longest time a value is remembered, and the default.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// The most values remembered; past it, the least recently seen is forgotten first.
pub const MAX_VALUES: usize = 100_000;
/// Values of more words are remembered only by their parts (a name's words, an address's
/// `,`-separated parts), and no run of text longer than this is hashed.
pub const MAX_WORDS: usize = 8;
/// Shorter values (normalised) are not remembered: across events, two-letter words would take
/// markup and abbreviations from every later event.
const MIN_CHARS: usize = 3;
/// A value seen again within this long is not refreshed: a day's expiry is not that exact.
const REFRESH: Duration = Duration::from_secs(1);

/// The process's memory, shared by every `init`: reconfiguring does not forget.
pub fn process_wide() -> Arc<Mutex<Memory>> {
    static MEMORY: LazyLock<Arc<Mutex<Memory>>> =
        LazyLock::new(|| Arc::new(Mutex::new(Memory::new(MAX_VALUES))));
    MEMORY.clone()
}

/// Keyed hashes of remembered values, with when each was last seen.
pub struct Memory {
    key: Key,
    capacity: usize,
    /// Hash of a value → when it was last removed by key, and the hash of its first word.
    seen: HashMap<u128, Seen, BuildHasherDefault<Unhashed>>,
    /// Hashes in the order they were seen (stale entries, seen again later, are skipped).
    order: VecDeque<(u128, Instant)>,
    /// How many remembered values start with a word of each fingerprint …
    firsts: Box<[u32; FINGERPRINTS]>,
    /// … and, as bits small enough to stay in cache, whether any does.
    any_first: Box<[u64; FINGERPRINTS / 64]>,
}

#[derive(Clone, Copy)]
struct Seen {
    at: Instant,
    first: u16,
}

const FINGERPRINTS: usize = 1 << 16;

struct Key {
    sip: (u64, u64),
    fingerprint: u64,
}

impl Key {
    fn random() -> Key {
        let mut rng = OsRng;
        Key {
            sip: (rng.next_u64(), rng.next_u64()),
            fingerprint: rng.next_u64() | 1,
        }
    }
}

impl Memory {
    pub fn new(capacity: usize) -> Memory {
        Memory {
            key: Key::random(),
            capacity,
            seen: HashMap::default(),
            order: VecDeque::new(),
            firsts: vec![0u32; FINGERPRINTS]
                .into_boxed_slice()
                .try_into()
                .expect("the length is FINGERPRINTS"),
            any_first: Box::new([0; FINGERPRINTS / 64]),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen.len()
    }

    /// Remembers `value` (as its keyed hash) as seen at `now`.
    pub fn remember(&mut self, value: &str, now: Instant) {
        let mut h = self.hasher();
        let mut lower = String::new();
        let (mut words, mut chars, mut first) = (0, 0, 0);
        let mut at = 0;
        while let Some((s, e)) = next_word(value, at) {
            words += 1;
            if words > MAX_WORDS {
                return;
            }
            let word = lowercase(&value[s..e], &mut lower);
            if words == 1 {
                first = self.fingerprint(word);
            }
            chars += word.chars().count();
            h.word(word);
            at = e;
        }
        if words == 0 || chars + words - 1 < MIN_CHARS {
            return;
        }
        let hash = h.finish();
        // The same subject in event after event: refreshing it each time would only grow
        // `order`.
        if let Some(seen) = self.seen.get(&hash) {
            if now.saturating_duration_since(seen.at) < REFRESH {
                return;
            }
        }
        if let Some(old) = self.seen.insert(hash, Seen { at: now, first }) {
            self.count_first(old.first, -1);
        }
        self.count_first(first, 1);
        self.order.push_back((hash, now));
        while self.seen.len() > self.capacity {
            self.pop_oldest();
        }
        if self.order.len() > 2 * self.capacity + 64 {
            self.compact();
        }
    }

    /// Forgets every value not seen within `ttl` before `now`.
    pub fn expire(&mut self, now: Instant, ttl: Duration) {
        while let Some(&(hash, at)) = self.order.front() {
            let current = self.seen.get(&hash).is_some_and(|s| s.at == at);
            if current && now.saturating_duration_since(at) < ttl {
                break;
            }
            self.pop_oldest();
        }
    }

    /// Drops the front of `order`: the least recently seen value, or a stale entry.
    fn pop_oldest(&mut self) {
        let Some((hash, at)) = self.order.pop_front() else {
            return;
        };
        if let Some(s) = self.seen.get(&hash).copied() {
            if s.at == at {
                self.seen.remove(&hash);
                self.count_first(s.first, -1);
            }
        }
    }

    fn count_first(&mut self, first: u16, by: i32) {
        let n = &mut self.firsts[usize::from(first)];
        *n = n.saturating_add_signed(by);
        let (word, bit) = (usize::from(first / 64), first % 64);
        if *n == 0 {
            self.any_first[word] &= !(1 << bit);
        } else {
            self.any_first[word] |= 1 << bit;
        }
    }

    fn compact(&mut self) {
        let seen = &self.seen;
        self.order
            .retain(|(hash, at)| seen.get(hash).is_some_and(|s| s.at == *at));
    }

    /// `text` with every remembered value that stands as whole words replaced by
    /// `[Filtered]`, ignoring case and the punctuation between words (`31/01/1970` is
    /// remembered as the words `31 01 1970`, and so found in `31.01.1970` too). Allocates
    /// nothing unless it finds one: it runs on every string and key of every event.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.seen.is_empty() {
            return Cow::Borrowed(text);
        }
        let bytes = text.as_bytes();
        let mut out = String::new();
        let mut last = 0;
        let mut pos = 0;
        let mut lower = String::new();
        // One pass over the bytes, fingerprinting each ASCII word as it is read; only a word
        // whose fingerprint starts some remembered value is looked at again.
        while pos < bytes.len() {
            let b = bytes[pos];
            if b.is_ascii() && !b.is_ascii_alphanumeric() {
                pos += 1;
                continue;
            }
            let start = pos;
            let mut h = self.key.fingerprint;
            let mut ascii = true;
            while pos < bytes.len() {
                let b = bytes[pos];
                if b.is_ascii() {
                    if !b.is_ascii_alphanumeric() {
                        break;
                    }
                    h = fnv(h, b.to_ascii_lowercase());
                    pos += 1;
                } else {
                    let c = text[pos..]
                        .chars()
                        .next()
                        .expect("pos is on a char boundary");
                    if !c.is_alphanumeric() {
                        break;
                    }
                    ascii = false;
                    pos += c.len_utf8();
                }
            }
            if pos == start {
                // A character that is neither ASCII nor part of a word.
                pos += text[pos..].chars().next().map_or(1, char::len_utf8);
                continue;
            }
            let fingerprint = if ascii {
                mix(h)
            } else {
                self.fingerprint(lowercase(&text[start..pos], &mut lower))
            };
            if self.any_first[usize::from(fingerprint / 64)] & (1 << (fingerprint % 64)) == 0 {
                continue;
            }
            let mut h = self.hasher();
            let mut hit = None;
            let mut at = start;
            for _ in 0..MAX_WORDS {
                let Some((s, e)) = next_word(text, at) else {
                    break;
                };
                h.word(lowercase(&text[s..e], &mut lower));
                if self.seen.contains_key(&h.finish()) {
                    hit = Some(e);
                }
                at = e;
            }
            let Some(end) = hit else {
                continue;
            };
            // `[email]`, `[Filtered]` …: a placeholder is never itself remembered text.
            if text[..start].ends_with('[') && text[end..].starts_with(']') {
                continue;
            }
            out.push_str(&text[last..start]);
            out.push_str(FILTERED);
            last = end;
            pos = end;
        }
        if last == 0 {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[last..]);
        Cow::Owned(out)
    }

    fn hasher(&self) -> Words {
        Words {
            sip: SipHasher13::new_with_keys(self.key.sip.0, self.key.sip.1),
            any: false,
        }
    }

    /// A 16-bit keyed fingerprint of a lowercased word (FNV-1a under the key, then mixed):
    /// cheap enough to run on every word of every string.
    fn fingerprint(&self, word: &str) -> u16 {
        self.fingerprint_bytes(word.bytes())
    }

    fn fingerprint_bytes(&self, bytes: impl Iterator<Item = u8>) -> u16 {
        mix(bytes.fold(self.key.fingerprint, fnv))
    }
}

fn fnv(h: u64, b: u8) -> u64 {
    (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
}

fn mix(mut h: u64) -> u16 {
    h ^= h >> 31;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (h >> 48) as u16
}

/// SipHash over words, each followed by a byte no UTF-8 text holds.
#[derive(Clone)]
struct Words {
    sip: SipHasher13,
    any: bool,
}

impl Words {
    fn word(&mut self, w: &str) {
        self.sip.write(w.as_bytes());
        self.sip.write_u8(0xff);
        self.any = true;
    }

    fn finish(&self) -> u128 {
        debug_assert!(self.any);
        self.sip.finish128().as_u128()
    }
}

/// The next word of `text` at or after byte `from`: a run of letters and digits. Reads ASCII
/// byte by byte, decoding only other characters: this runs over every byte of every event.
fn next_word(text: &str, from: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let word_char_at = |i: usize| -> (bool, usize) {
        let b = bytes[i];
        if b.is_ascii() {
            (b.is_ascii_alphanumeric(), 1)
        } else {
            let c = text[i..].chars().next().expect("i is on a char boundary");
            (c.is_alphanumeric(), c.len_utf8())
        }
    };
    let mut i = from;
    let start = loop {
        if i >= bytes.len() {
            return None;
        }
        match word_char_at(i) {
            (true, _) => break i,
            (false, len) => i += len,
        }
    };
    while i < bytes.len() {
        match word_char_at(i) {
            (true, len) => i += len,
            (false, _) => break,
        }
    }
    Some((start, i))
}

/// `word` in lower case, borrowed when it already is.
fn lowercase<'a>(word: &'a str, buf: &'a mut String) -> &'a str {
    if word.is_ascii() {
        if !word.bytes().any(|b| b.is_ascii_uppercase()) {
            return word;
        }
        buf.clear();
        buf.push_str(word);
        buf.make_ascii_lowercase();
    } else {
        buf.clear();
        buf.extend(word.chars().flat_map(char::to_lowercase));
    }
    buf
}

/// The keys are already keyed hashes: hashing them again would only cost time.
#[derive(Default)]
struct Unhashed(u64);

impl Hasher for Unhashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn scrub(m: &Memory, s: &str) -> String {
        m.scrub(s).into_owned()
    }

    #[test]
    fn a_value_removed_once_is_found_in_later_text_by_its_words() {
        let mut m = Memory::new(100);
        let t0 = Instant::now();
        for v in [
            "533401287",
            "31/01/1970",
            "John Smith",
            "Smith",
            "1 High Street",
        ] {
            m.remember(v, t0);
        }
        assert_eq!(
            scrub(&m, "cause: passport 533401287 rejected"),
            "cause: passport [Filtered] rejected"
        );
        assert_eq!(scrub(&m, "born 31.01.1970, ok"), "born [Filtered], ok");
        assert_eq!(
            scrub(&m, "JOHN  SMITH and Mrs Smith at 1 high street"),
            "[Filtered] and Mrs [Filtered] at [Filtered]"
        );
        // Whole words only, and placeholders stay.
        assert_eq!(
            scrub(&m, "Smithfield 5334012870 [Filtered]"),
            "Smithfield 5334012870 [Filtered]"
        );
        assert_eq!(scrub(&m, "nothing here"), "nothing here");
        m.remember("Петренко", t0);
        assert_eq!(scrub(&m, "Справа: ПЕТРЕНКО, ok"), "Справа: [Filtered], ok");
    }

    #[test]
    fn short_and_long_values_are_not_remembered() {
        let mut m = Memory::new(100);
        let now = Instant::now();
        m.remember("Li", now);
        m.remember("a b c d e f g h i", now);
        m.remember("", now);
        assert_eq!(m.len(), 0);
        assert_eq!(
            scrub(&m, "<li>a b c d e f g h i</li>"),
            "<li>a b c d e f g h i</li>"
        );
    }

    #[test]
    fn values_are_forgotten_after_their_time_and_refreshed_when_seen_again() {
        let mut m = Memory::new(100);
        let t0 = Instant::now();
        m.remember("533401287", t0);
        m.remember("Petrenko", t0);
        m.expire(t0 + 23 * HOUR, MAX_TTL);
        assert_eq!(m.len(), 2);
        m.remember("Petrenko", t0 + 23 * HOUR);
        m.expire(t0 + 24 * HOUR, MAX_TTL);
        assert_eq!(scrub(&m, "533401287 Petrenko"), "533401287 [Filtered]");
        m.expire(t0 + 47 * HOUR, MAX_TTL);
        assert_eq!(scrub(&m, "533401287 Petrenko"), "533401287 Petrenko");
        assert_eq!(m.len(), 0);
        assert!(m.firsts.iter().all(|&n| n == 0));
        assert!(m.any_first.iter().all(|&bits| bits == 0));
    }

    #[test]
    fn past_its_capacity_the_least_recently_seen_goes_first() {
        let mut m = Memory::new(3);
        let t0 = Instant::now();
        for (i, v) in ["alpha1", "bravo2", "charlie3"].iter().enumerate() {
            m.remember(v, t0 + Duration::from_secs(i as u64));
        }
        m.remember("alpha1", t0 + Duration::from_secs(10)); // seen again
        m.remember("delta4", t0 + Duration::from_secs(11));
        assert_eq!(m.len(), 3);
        assert_eq!(
            scrub(&m, "alpha1 bravo2 charlie3 delta4"),
            "[Filtered] bravo2 [Filtered] [Filtered]"
        );
        for i in 0..1000 {
            m.remember(&format!("value{i}"), t0 + Duration::from_secs(20 + i));
        }
        assert_eq!(m.len(), 3);
        assert!(m.order.len() <= 2 * 3 + 64 + 1);
    }

    #[test]
    fn the_memory_holds_no_value_only_keyed_hashes() {
        let mut a = Memory::new(10);
        let mut b = Memory::new(10);
        let now = Instant::now();
        a.remember("533401287", now);
        b.remember("533401287", now);
        let (ha, hb) = (a.seen.keys().next().unwrap(), b.seen.keys().next().unwrap());
        assert_ne!(ha, hb, "each memory has its own random key");
    }
}
