//! Scrubbing by label: in free text a personal value often follows the word that names it,
//! with no key to catch it by. "Invalid date of birth for John Smith: 31/01/1970" loses the
//! date; "passport no. 533401287 expired" the number. The labels and what kind of value each
//! takes are data in the policy (`LABEL_RULES`); this module finds them.

use super::keys;
use super::policy::{LabelRule, LabelValue, LABEL_RULES, LABEL_STOP_WORDS};
use regex::Regex;

/// A date as people write one: `1970-01-31`, `31/01/1970`, `31.1.70`, `23rd April 1968`,
/// `31 Jan 1970`, `January 31, 1970`.
const DATE: &str = r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2}(?:st|nd|rd|th)?(?:\s+of)?\s+MONTH\.?,?\s+\d{4}|MONTH\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4})";
const MONTH: &str = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)";
/// A document number: a token with a digit in it (`533401287`, `GB-1234567`, `X12/345`), or a
/// spaced NI number (`QQ 12 34 56 C`).
const ID: &str = r"(?:[A-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]|[A-Z0-9]*\d[A-Z0-9/-]*)";
/// The most text between a date label and its date ("date of birth for John Smith: …").
const DATE_GAP: usize = 40;
/// Most words a name or an address value is read to.
const NAME_WORDS: usize = 6;
const ADDRESS_WORDS: usize = 12;
/// Shorter document numbers are more likely counts ("passport 2 of 3").
const MIN_ID: usize = 4;
/// How far after a label its rule reads: the label's suffix, a date's gap and the value.
const WINDOW: usize = 160;

/// One labelled value in a text: its byte range and the rule that found it.
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub rule: &'static LabelRule,
}

pub struct Labels {
    /// Any label at all: most strings have none, and this costs one scan.
    any: Regex,
    rules: Vec<(Regex, &'static LabelRule)>,
}

impl Default for Labels {
    fn default() -> Labels {
        let alternation = |labels: &[&str]| {
            labels
                .iter()
                .map(|l| regex::escape(l).replace(' ', r"\s+"))
                .collect::<Vec<_>>()
                .join("|")
        };
        let all: Vec<&str> = LABEL_RULES
            .iter()
            .flat_map(|r| r.labels.iter().copied())
            .collect();
        // ASCII case folding (the labels are ASCII) lets the regex search for the labels
        // as literals, where Unicode folding would read every byte through its automaton.
        let any =
            Regex::new(&format!(r"(?i-u)\b(?:{})\b", alternation(&all))).expect("labels compile");
        let rules = LABEL_RULES
            .iter()
            .map(|rule| {
                let labels = alternation(rule.labels);
                let after = match rule.value {
                    LabelValue::Date => format!(
                        r"(?:[ \t:=#(]|\.\s)[^\n]{{0,{DATE_GAP}}}?(?-u:\b)({})(?-u:\b)",
                        DATE.replace("MONTH", MONTH)
                    ),
                    LabelValue::Id => format!(
                        r"(?:\s*(?:no\.?|nr\.?|number|num|#))?\s*[:=#]?\s*(?:(?:is|was)\s+)?(?-u:\b)({ID})(?-u:\b)"
                    ),
                    // Free words need the label to say it is assigning: "name: …".
                    LabelValue::Name | LabelValue::Address => r"\s*[:=]\s*()".to_owned(),
                };
                let re = Regex::new(&format!(r"(?i)(?-u:\b)({labels})(?-u:\b){after}"))
                    .expect("label rules compile");
                (re, rule)
            })
            .collect();
        Labels { any, rules }
    }
}

impl Labels {
    /// The labelled values in `text`, in order and not overlapping.
    pub fn find(&self, text: &str) -> Vec<Found> {
        let mut found: Vec<Found> = Vec::new();
        // Each label, found as a literal, is read on from where it stands over no more than a
        // label, its gap and its value: the rules' own patterns are slow to run over a whole
        // stack trace, and most strings have no label at all.
        for m in self.any.find_iter(text) {
            let mut reach = (m.end() + WINDOW).min(text.len());
            while !text.is_char_boundary(reach) {
                reach += 1;
            }
            let window = &text[..reach];
            for (re, rule) in &self.rules {
                let Some(caps) = re.captures_at(window, m.start()) else {
                    continue;
                };
                let label = caps.get(1).expect("group 1 is the label");
                if label.start() != m.start() {
                    continue;
                }
                let value = caps.get(2).expect("group 2 is the value");
                let (start, end) = match rule.value {
                    LabelValue::Date => (value.start(), value.end()),
                    LabelValue::Id if value.len() < MIN_ID => continue,
                    LabelValue::Id => (value.start(), value.end()),
                    LabelValue::Name | LabelValue::Address => {
                        if keys::technical_phrase(&text[..label.start()], label.as_str()) {
                            continue;
                        }
                        let words = if rule.value == LabelValue::Name {
                            NAME_WORDS
                        } else {
                            ADDRESS_WORDS
                        };
                        let len = free_value_len(&text[value.end()..], rule.value, words);
                        (value.end(), value.end() + len)
                    }
                };
                if end > start && !text[start..end].starts_with('[') {
                    found.push(Found { start, end, rule });
                }
            }
        }
        found.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
        let mut kept: Vec<Found> = Vec::with_capacity(found.len());
        for f in found {
            if kept.last().is_none_or(|k| f.start >= k.end) {
                kept.push(f);
            }
        }
        kept
    }
}

/// The length of a name or an address at the start of `rest`: up to punctuation that ends it,
/// a word that starts the rest of the sentence ("failed", "not" …), or `max_words` words.
fn free_value_len(rest: &str, kind: LabelValue, max_words: usize) -> usize {
    let stops: &[char] = match kind {
        LabelValue::Address => &[
            ';', '&', '\n', '\r', '\t', '(', ')', '[', ']', '{', '}', '"', '|', '<', '>',
        ],
        _ => &[
            ',', ';', '&', '\n', '\r', '\t', '(', ')', '[', ']', '{', '}', '"', '|', '<', '>',
        ],
    };
    let clause = &rest[..rest.find(stops).unwrap_or(rest.len())];
    let mut end = 0;
    let mut words = 0;
    let mut at = 0;
    for word in clause.split_inclusive(char::is_whitespace) {
        let bare = word
            .trim()
            .trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-');
        if words == max_words
            || (words > 0 && LABEL_STOP_WORDS.contains(&bare.to_lowercase().as_str()))
        {
            break;
        }
        at += word.len();
        if !bare.is_empty() {
            words += 1;
            end = at - (word.len() - word.trim_end().len());
        }
    }
    // "name: Jane Roe." ends the sentence, not the name.
    let value = clause[..end].trim_end_matches(['.', ':', '!', '?', ',']);
    value.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrub::policy::FILTERED;

    fn scrub(text: &str) -> String {
        let mut out = String::new();
        let mut last = 0;
        for f in Labels::default().find(text) {
            out.push_str(&text[last..f.start]);
            out.push_str(FILTERED);
            last = f.end;
        }
        out.push_str(&text[last..]);
        out
    }

    #[test]
    fn values_after_personal_labels_go() {
        for (text, want) in [
            (
                "Invalid date of birth for John Smith: 31/01/1970",
                "Invalid date of birth for John Smith: [Filtered]",
            ),
            (
                "subject born 23rd April 1968 in Kyiv",
                "subject born [Filtered] in Kyiv",
            ),
            ("DOB: 1970-01-31, list OFSI", "DOB: [Filtered], list OFSI"),
            ("dob 31 Jan 1970", "dob [Filtered]"),
            ("born on January 31, 1970.", "born on [Filtered]."),
            (
                "passport no. 533401287 expired",
                "passport no. [Filtered] expired",
            ),
            ("Passport number: 533401287", "Passport number: [Filtered]"),
            ("passport #X1234567", "passport #[Filtered]"),
            (
                "NI number QQ 12 34 56 C on file",
                "NI number [Filtered] on file",
            ),
            (
                "national insurance number is AB123456C",
                "national insurance number is [Filtered]",
            ),
            (
                "national id 8801015800085 invalid",
                "national id [Filtered] invalid",
            ),
            ("name: Jane Roe, list OFSI", "name: [Filtered], list OFSI"),
            (
                "Name=Oleksandr Petrenko not matched",
                "Name=[Filtered] not matched",
            ),
            ("full name: jane roe.", "full name: [Filtered]."),
            (
                "address: 1 High Street, London SW1A 1AA; retry",
                "address: [Filtered]; retry",
            ),
        ] {
            assert_eq!(scrub(text), want, "{text}");
        }
    }

    #[test]
    fn harmless_neighbours_stay() {
        for text in [
            "named export screenSubject not found",
            "a born-again retry of order ORD-2024-000123",
            "passport check failed for order 12345 (HTTP 404)",
            "passport 2 of 3 uploaded",
            "DOB field missing for ORD-2024-000123 (HTTP 400)",
            "at name (/srv/app/lib/name.js:10:5)",
            "file name: /srv/app/lib/screen.js",
            "listen address: 0.0.0.0:3000",
            "function name: checkSanctionsList",
            "renamed: screen -> screenSubject",
            "the name field is required",
            "name: [Filtered] retried",
        ] {
            assert_eq!(scrub(text), text);
        }
    }
}
