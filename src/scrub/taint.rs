//! Scrubbing by taint: a value removed by key is personal, so every other occurrence of it in
//! the same event goes too. "No match for John Smith born 1970-01-01" loses the name and the
//! date when the context held them under `name` and `dob`.

use super::policy::{Taint, FILTERED, NAME_WORDS_KEPT};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

/// Shorter values would take common words and numbers with them.
const MIN_WHOLE: usize = 3;
const MIN_WORD: usize = 2;

/// What one event's key rules removed.
#[derive(Default)]
pub struct Tainted {
    values: BTreeSet<String>,
}

impl Tainted {
    /// Remembers every scalar under a value that was removed by key.
    pub fn add_value(&mut self, value: &Value, how: Taint) {
        match value {
            Value::String(s) => self.add(s, how),
            Value::Number(n) => self.add(&n.to_string(), how),
            Value::Array(items) => items.iter().for_each(|v| self.add_value(v, how)),
            Value::Object(map) => map.values().for_each(|v| self.add_value(v, how)),
            Value::Bool(_) | Value::Null => {}
        }
    }

    pub fn add(&mut self, text: &str, how: Taint) {
        let text = text.trim();
        if text == FILTERED {
            return;
        }
        self.insert(text, MIN_WHOLE);
        let parts: Vec<&str> = text.split([',', ';', '\n']).map(str::trim).collect();
        if parts.len() > 1 {
            for part in &parts {
                self.insert(part, MIN_WHOLE);
                // `sid=abc` in a cookie: the value alone is the secret.
                if let Some((_, v)) = part.split_once('=') {
                    self.insert(v, MIN_WHOLE);
                }
            }
        }
        for date in dates::variants(text) {
            self.values.insert(date);
        }
        if how == Taint::Words {
            for word in text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-')) {
                let word = word.trim_matches(['\'', '-']);
                if !NAME_WORDS_KEPT.contains(&word.to_lowercase().as_str()) {
                    self.insert(word, MIN_WORD);
                }
            }
        }
    }

    fn insert(&mut self, s: &str, min: usize) {
        if s.chars().count() >= min {
            self.values.insert(s.to_owned());
        }
    }

    /// Every value tainted so far, each spelling and part on its own.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(String::as_str)
    }

    /// A matcher for every remembered value.
    pub fn matcher(&self) -> Option<Matcher> {
        if self.values.is_empty() {
            return None;
        }
        let mut by_first_word: HashMap<String, Vec<String>> = HashMap::new();
        let mut unworded = Vec::new();
        for value in &self.values {
            let lower = value.to_lowercase();
            match first_word(&lower) {
                Some(word) => by_first_word
                    .entry(word.to_owned())
                    .or_default()
                    .push(lower),
                None => unworded.push(lower),
            }
        }
        for candidates in by_first_word.values_mut() {
            candidates.sort_by_key(|c| std::cmp::Reverse(c.len()));
        }
        let mut ascii = AsciiWords::default();
        for word in by_first_word.keys().filter(|w| w.is_ascii()) {
            ascii.add(word.as_bytes());
        }
        Some(Matcher {
            by_first_word,
            unworded,
            ascii,
        })
    }
}

/// Finds tainted values by the word they start with: an event's few dozen values are indexed
/// in a hash map, and each string is read once, word by word. (An Aho-Corasick automaton
/// searches as fast but cost more to build per event than the whole rest of scrubbing.)
pub struct Matcher {
    /// Lowercased values, longest first, under their lowercased first word.
    by_first_word: HashMap<String, Vec<String>>,
    /// Values that do not start with a letter or digit (`+44 …`), tried at every symbol.
    unworded: Vec<String>,
    /// What the ASCII first words look like, so that most words of a text are passed over
    /// without being lowercased and hashed (those took a sixth of the worker's time).
    ascii: AsciiWords,
}

/// The lengths and first letters of a set of lowercase ASCII words. A word whose length or
/// first letter no word in the set has is not in it.
#[derive(Default)]
struct AsciiWords {
    /// Bit `n` for a word of `n` bytes (63 for any longer).
    lengths: u64,
    /// Bit `b` for a word starting with byte `b`.
    firsts: [u64; 2],
}

impl AsciiWords {
    fn add(&mut self, word: &[u8]) {
        self.lengths |= 1 << word.len().min(63);
        self.firsts[usize::from(word[0] >> 6)] |= 1 << (word[0] & 63);
    }

    /// Whether the ASCII `word` (any case) may be one of them.
    fn may_hold(&self, word: &[u8]) -> bool {
        let first = word[0].to_ascii_lowercase();
        self.lengths & (1 << word.len().min(63)) != 0
            && self.firsts[usize::from(first >> 6)] & (1 << (first & 63)) != 0
    }
}

impl Matcher {
    /// `text` with each tainted value that stands as a whole word replaced by `[Filtered]`,
    /// ignoring ASCII case ("Smith" goes from "Mr SMITH," and "Jane%20Smith" but not from
    /// "Smithfield").
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = String::new();
        let mut last = 0;
        let mut word = String::new();
        let mut i = 0;
        while i < text.len() {
            let rest = &text[i..];
            let c = rest
                .chars()
                .next()
                .expect("i is below len on a char boundary");
            // `get`, not indexing: after `%` and one ASCII byte a multi-byte character may start.
            if c == '%' && rest.get(..3).is_some_and(percent_escape_before) {
                i += 3; // `%20` separates words, as a space would
                continue;
            }
            let starts_word = c.is_alphanumeric() && word_start(&text[..i]);
            let hit = if starts_word {
                let end = rest
                    .find(|c: char| !c.is_alphanumeric())
                    .unwrap_or(rest.len());
                let head = &rest[..end];
                if head.is_ascii() && !self.ascii.may_hold(head.as_bytes()) {
                    None
                } else {
                    word.clear();
                    if head.is_ascii() {
                        word.push_str(head);
                        word.make_ascii_lowercase();
                    } else {
                        word.extend(head.chars().flat_map(char::to_lowercase));
                    }
                    self.by_first_word
                        .get(&word)
                        .and_then(|cands| matching(cands, rest))
                }
            } else if !c.is_alphanumeric() && !c.is_whitespace() {
                matching(&self.unworded, rest)
            } else {
                None
            };
            // `[email]`, `[Filtered]` …: a placeholder is never itself tainted text.
            let hit =
                hit.filter(|&len| !(text[..i].ends_with('[') && rest[len..].starts_with(']')));
            match hit {
                Some(len) => {
                    out.push_str(&text[last..i]);
                    out.push_str(FILTERED);
                    i += len;
                    last = i;
                }
                None if starts_word => {
                    i += rest
                        .find(|c: char| !c.is_alphanumeric())
                        .unwrap_or(rest.len());
                }
                None => i += c.len_utf8(),
            }
        }
        if last == 0 {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[last..]);
        Cow::Owned(out)
    }
}

/// The length of the first candidate `rest` starts with (ignoring ASCII case) that does not
/// run on into a longer word.
fn matching(candidates: &[String], rest: &str) -> Option<usize> {
    candidates
        .iter()
        .find(|cand| {
            let Some(head) = rest.get(..cand.len()) else {
                return false;
            };
            let runs_on = cand.chars().next_back().is_some_and(char::is_alphanumeric)
                && rest[cand.len()..]
                    .chars()
                    .next()
                    .is_some_and(char::is_alphanumeric);
            head.eq_ignore_ascii_case(cand) && !runs_on
        })
        .map(String::len)
}

/// The leading run of letters and digits, if the value starts with one.
fn first_word(value: &str) -> Option<&str> {
    let end = value
        .find(|c: char| !c.is_alphanumeric())
        .unwrap_or(value.len());
    (end > 0).then(|| &value[..end])
}

/// Whether a word may start after `before`: at the start, after a non-word character, or
/// after a `%XX` escape, which separates words in URLs (`Jane%20Smith`).
fn word_start(before: &str) -> bool {
    !before
        .chars()
        .next_back()
        .is_some_and(char::is_alphanumeric)
        || percent_escape_before(before)
}

/// Whether `before` ends in a `%XX` escape, which separates words in URLs (`Jane%20Smith`).
fn percent_escape_before(before: &str) -> bool {
    let b = before.as_bytes();
    b.len() >= 3 && b[b.len() - 3] == b'%' && b[b.len() - 2..].iter().all(u8::is_ascii_hexdigit)
}

/// A date of birth is written many ways; taint them all.
mod dates {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];

    /// Other spellings of `text` if it is a date (1970-01-31, 31/01/1970, 31.01.1970 …).
    pub fn variants(text: &str) -> Vec<String> {
        let Some((y, m, d)) = parse(text) else {
            return Vec::new();
        };
        let month = MONTHS[m as usize - 1];
        let mut out = vec![
            format!("{y:04}-{m:02}-{d:02}"),
            format!("{d:02}/{m:02}/{y:04}"),
            format!("{d}/{m}/{y:04}"),
            format!("{d:02}-{m:02}-{y:04}"),
            format!("{d:02}.{m:02}.{y:04}"),
            format!("{y:04}/{m:02}/{d:02}"),
            format!("{y:04}{m:02}{d:02}"),
            format!("{d} {month} {y}"),
            format!("{d:02} {month} {y}"),
            format!("{d} {} {y}", &month[..3]),
            format!("{d:02} {} {y}", &month[..3]),
            format!("{month} {d}, {y}"),
            format!("{month} {d} {y}"),
            format!("{} {d}, {y}", &month[..3]),
            // Ordinal spellings: "23rd April 1968", "23rd of April 1968", "April 23rd, 1968".
            format!("{d}{} {month} {y}", ordinal(d)),
            format!("{d}{} of {month} {y}", ordinal(d)),
            format!("{d}{} {} {y}", ordinal(d), &month[..3]),
            format!("{month} {d}{}, {y}", ordinal(d)),
            format!("{month} {d}{} {y}", ordinal(d)),
        ];
        // Month-first too, when the day could be a month.
        if d <= 12 {
            out.push(format!("{m:02}/{d:02}/{y:04}"));
            out.push(format!("{m}/{d}/{y:04}"));
        }
        out
    }

    /// English ordinal suffix of a day of the month: 1st, 2nd, 3rd, 4th … 11th, 12th, 13th, 21st.
    fn ordinal(d: u32) -> &'static str {
        match (d % 10, d % 100) {
            (_, 11..=13) => "th",
            (1, _) => "st",
            (2, _) => "nd",
            (3, _) => "rd",
            _ => "th",
        }
    }

    fn parse(text: &str) -> Option<(u32, u32, u32)> {
        let date = text.split(['T', ' ']).next()?;
        let parts: Vec<&str> = date.split(['-', '/', '.']).collect();
        let [a, b, c] = parts[..] else { return None };
        let num = |s: &str| {
            (s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u32>().ok())
                .flatten()
        };
        let (y, m, d) = if a.len() == 4 {
            (num(a)?, num(b)?, num(c)?)
        } else if c.len() == 4 {
            (num(c)?, num(b)?, num(a)?)
        } else {
            return None;
        };
        ((1800..=2200).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d))
            .then_some((y, m, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scrub(t: &Tainted, s: &str) -> String {
        t.matcher().unwrap().scrub(s).into_owned()
    }

    #[test]
    fn a_percent_sign_before_a_multibyte_character_is_text_not_a_panic() {
        let mut t = Tainted::default();
        t.add_value(&json!("John Smith"), Taint::Words);
        assert_eq!(scrub(&t, "%aé Smith"), "%aé [Filtered]");
        assert_eq!(scrub(&t, "50%é Smith%"), "50%é [Filtered]%");
        assert_eq!(scrub(&t, "Jane%20Smith%2"), "Jane%20[Filtered]%2");
    }

    #[test]
    fn a_date_of_birth_is_tainted_in_its_ordinal_spellings_too() {
        let mut t = Tainted::default();
        t.add_value(&json!("1968-04-23"), Taint::Whole);
        for text in [
            "born 23rd April 1968, flagged",
            "on the 23rd of April 1968",
            "April 23rd, 1968 was a Tuesday",
            "Apr 23, 1968",
        ] {
            assert!(
                !scrub(&t, text).contains("1968"),
                "{text} -> {}",
                scrub(&t, text)
            );
        }
        // Another date in the same spellings is not this one.
        assert_eq!(scrub(&t, "23rd April 1969"), "23rd April 1969");
        assert!(dates::variants("2001-05-11").contains(&"11th May 2001".to_owned()));
        assert!(dates::variants("2001-05-22").contains(&"22nd May 2001".to_owned()));
        assert!(dates::variants("2001-05-01").contains(&"May 1st, 2001".to_owned()));
    }

    #[test]
    fn whole_values_parts_words_and_dates() {
        let mut t = Tainted::default();
        t.add_value(&json!("John Smith"), Taint::Words);
        t.add_value(&json!("1970-01-31"), Taint::Whole);
        t.add_value(
            &json!({ "line1": "1 High Street", "city": "London" }),
            Taint::Whole,
        );
        assert_eq!(
            scrub(&t, "No sanctions match for JOHN SMITH born 31/01/1970"),
            "No sanctions match for [Filtered] born [Filtered]"
        );
        assert_eq!(
            scrub(&t, "Smith, J. (31 January 1970)"),
            "[Filtered], J. ([Filtered])"
        );
        assert_eq!(
            scrub(&t, "moved from 1 High Street to London"),
            "moved from [Filtered] to [Filtered]"
        );
        assert_eq!(
            scrub(&t, "/subjects/John%20Smith/matches"),
            "/subjects/[Filtered]%20[Filtered]/matches"
        );
        // Whole words only: a surname inside another word stays.
        assert_eq!(
            scrub(&t, "Smithfield market, Johnson"),
            "Smithfield market, Johnson"
        );
    }

    #[test]
    fn short_and_common_values_do_not_taint() {
        let mut t = Tainted::default();
        t.add_value(&json!("Mr Al Li"), Taint::Words);
        t.add_value(&json!(7), Taint::Whole);
        t.add_value(&json!(true), Taint::Whole);
        t.add_value(&json!("[Filtered]"), Taint::Whole);
        assert_eq!(
            scrub(&t, "Mr Li paid 7 at al dente"),
            "Mr [Filtered] paid 7 at al dente"
        );
    }
}

#[cfg(test)]
mod prefilter_tests {
    use super::AsciiWords;

    #[test]
    fn a_word_the_prefilter_passes_over_is_never_one_of_the_set() {
        let words = ["jane", "roe", "o", "1970", &"x".repeat(80)];
        let mut set = AsciiWords::default();
        for w in words {
            set.add(w.as_bytes());
        }
        for w in words {
            assert!(set.may_hold(w.to_ascii_uppercase().as_bytes()), "{w}");
        }
        let others = ["janet", "doe", "be", "2970", "at", "Object"];
        let passed = others.iter().filter(|w| set.may_hold(w.as_bytes())).count();
        assert!(passed < others.len(), "the filter passes over some words");
    }
}
