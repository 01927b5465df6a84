//! Frame strings the value patterns have already cleared. A stack's source lines, paths and
//! function names come from the app's code, so the same few hundred of them recur in every
//! event from the same throw sites; the value pass over them (base64 and URL decoding, then
//! the value patterns' set) was the largest single cost of scrubbing an event. Whether a string
//! is clear of those depends on the string and the compiled policy alone, so it is remembered
//! per `init` (the `Scrubber`). Taint depends on the event and is always applied afresh.
//!
//! Only strings that are in frames and hold nothing any value pattern takes are remembered,
//! in memory, and never more than `MAX_BYTES` of them: past that the memo starts afresh.

use parking_lot::RwLock;
use std::collections::HashSet;

/// Bytes of strings remembered at most (a large app's hot frames fit many times over).
const MAX_BYTES: usize = 1024 * 1024;
/// Longer strings are not worth keeping: source lines are short, a minified line is not.
const MAX_LEN: usize = 1024;

#[derive(Default)]
pub struct Clean {
    seen: RwLock<Seen>,
}

#[derive(Default)]
struct Seen {
    strings: HashSet<Box<str>>,
    bytes: usize,
}

impl Clean {
    pub fn contains(&self, text: &str) -> bool {
        self.seen.read().strings.contains(text)
    }

    /// Remembers `text`, which the value patterns (and the decodings) leave unchanged.
    pub fn insert(&self, text: &str) {
        if text.len() > MAX_LEN {
            return;
        }
        let mut seen = self.seen.write();
        if seen.bytes + text.len() > MAX_BYTES {
            seen.strings.clear();
            seen.bytes = 0;
        }
        if seen.strings.insert(text.into()) {
            seen.bytes += text.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_within_its_bound_and_starts_afresh_past_it() {
        let clean = Clean::default();
        clean.insert("const total = validateOrder(order);");
        assert!(clean.contains("const total = validateOrder(order);"));
        assert!(!clean.contains("const total"));
        clean.insert(&"x".repeat(MAX_LEN + 1));
        assert!(
            !clean.contains(&"x".repeat(MAX_LEN + 1)),
            "too long to keep"
        );
        for i in 0..(MAX_BYTES / 1000 + 1) {
            clean.insert(&format!("{i:01000}"));
        }
        assert!(
            !clean.contains("const total = validateOrder(order);"),
            "past its bound the memo starts afresh"
        );
        assert!(clean.seen.read().bytes <= MAX_BYTES);
    }
}
