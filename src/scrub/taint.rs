//! Scrubbing by taint: a value removed by key is personal, so every other occurrence of it in
//! the same event goes too. "No match for John Smith born 1970-01-01" loses the name and the
//! date when the context held them under `name` and `dob`.

use super::policy::{Taint, FILTERED, NAME_WORDS_KEPT};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeSet;

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

    /// A matcher for every remembered value, case-insensitive, longest first.
    pub fn matcher(&self) -> Option<Matcher> {
        if self.values.is_empty() {
            return None;
        }
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&self.values)
            .ok()
            .map(Matcher)
    }
}

pub struct Matcher(AhoCorasick);

impl Matcher {
    /// `text` with each tainted value that stands as a whole word replaced by `[Filtered]`
    /// ("Smith" goes from "Mr Smith," but not from "Smithfield").
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = String::new();
        let mut last = 0;
        for m in self.0.find_iter(text) {
            let (from, to) = (m.start(), m.end());
            let word_char = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
            let hit = &text[from..to];
            let glued_before =
                word_char(hit.chars().next()) && word_char(text[..from].chars().next_back());
            let glued_after =
                word_char(hit.chars().next_back()) && word_char(text[to..].chars().next());
            if glued_before || glued_after {
                continue;
            }
            out.push_str(&text[last..from]);
            out.push_str(FILTERED);
            last = to;
        }
        if last == 0 {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[last..]);
        Cow::Owned(out)
    }
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
        ];
        // Month-first too, when the day could be a month.
        if d <= 12 {
            out.push(format!("{m:02}/{d:02}/{y:04}"));
            out.push(format!("{m}/{d}/{y:04}"));
        }
        out
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
