//! Scrubbing by value: the policy's patterns (and the user's), compiled once per `init`, run
//! over every string. A `RegexSet` pass first tells which rules can match at all, so a string
//! with nothing personal in it costs one scan.

use super::policy::{Check, ValueRule, FILTERED, IBAN_LENGTHS, VALUE_RULES};
use regex::{Regex, RegexSet};
use std::borrow::Cow;
use std::net::Ipv6Addr;

struct Rule {
    regex: Regex,
    check: Check,
    replace: &'static str,
}

pub struct Values {
    any: RegexSet,
    rules: Vec<Rule>,
}

impl Values {
    /// The policy's rules, then `extra` (the user's `scrub.patterns`, already validated).
    pub fn new(extra: &[Regex]) -> Values {
        let mut rules: Vec<Rule> = VALUE_RULES
            .iter()
            .map(|r: &ValueRule| Rule {
                regex: Regex::new(r.pattern).expect("policy patterns compile (tested)"),
                check: r.check,
                replace: r.replace,
            })
            .collect();
        rules.extend(extra.iter().map(|regex| Rule {
            regex: regex.clone(),
            check: Check::Whole,
            replace: FILTERED,
        }));
        let any = RegexSet::new(rules.iter().map(|r| r.regex.as_str()))
            .expect("the same patterns compile as a set");
        Values { any, rules }
    }

    /// `text` with every personal match replaced; borrowed when there was none.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        // Most strings match nothing, and a set's yes/no search stops at the first hit.
        if !self.any.is_match(text) {
            return Cow::Borrowed(text);
        }
        let hits = self.any.matches(text);
        let mut out = Cow::Borrowed(text);
        for i in hits.iter() {
            let rule = &self.rules[i];
            if let Cow::Owned(s) = replace(rule, &out) {
                out = Cow::Owned(s);
            }
        }
        out
    }
}

fn replace<'a>(rule: &Rule, text: &'a str) -> Cow<'a, str> {
    let mut out = String::new();
    let mut last = 0;
    for m in rule.regex.find_iter(text) {
        let (start, end) = (m.start(), m.end());
        let parts = match rule.check {
            // One candidate can hold several: "GB82WEST12345698765432 and DE89 3704 …" is one
            // match of the case-insensitive IBAN pattern.
            Check::Luhn => valid_runs(m.as_str(), 13, 19, card),
            Check::Iban => valid_runs(m.as_str(), 15, 34, iban),
            check => personal_part(check, text, start, end).map_or_else(Vec::new, |p| vec![p]),
        };
        for (a, b) in parts {
            let (from, to) = match rule.check {
                Check::Luhn | Check::Iban => (start + a, start + b),
                _ => (a, b),
            };
            out.push_str(&text[last..from]);
            out.push_str(rule.replace);
            last = to;
        }
    }
    if last == 0 && out.is_empty() {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

/// The byte range of `text[start..end]` (a match) that is personal, if any.
fn personal_part(check: Check, text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let m = &text[start..end];
    match check {
        Check::Whole => Some((start, end)),
        Check::Luhn => best_groups(m, 13, 19, card).map(|(a, b)| (start + a, start + b)),
        Check::Iban => best_groups(m, 15, 34, iban).map(|(a, b)| (start + a, start + b)),
        Check::Ipv6 => {
            let stands_alone = |c: Option<char>| {
                c.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '.'))
            };
            let address = m.split('%').next().unwrap_or(m);
            (m.bytes().any(|b| b.is_ascii_hexdigit())
                && stands_alone(text[..start].chars().next_back())
                && stands_alone(text[end..].chars().next())
                && address.parse::<Ipv6Addr>().is_ok())
            .then_some((start, end))
        }
        Check::Credential => {
            let at = m.find(char::is_whitespace)?;
            let token = m[at..].trim_start();
            let from = end - token.len();
            (token.len() >= 8 && token.bytes().any(|b| b.is_ascii_digit())).then_some((from, end))
        }
        Check::Assigned => {
            let at = m.find(['=', ':'])?;
            let value = m[at + 1..].trim_start();
            (!value.is_empty()).then_some((end - value.len(), end))
        }
    }
}

/// Every run `best_groups` finds: the longest valid run, then the longest in what is left on
/// each side of it, and so on; in order.
fn valid_runs(m: &str, min: usize, max: usize, valid: fn(&str) -> bool) -> Vec<(usize, usize)> {
    let groups = groups(m);
    let mut runs = Vec::new();
    let mut todo = vec![(0, groups.len())];
    while let Some((lo, hi)) = todo.pop() {
        if let Some((first, last)) = best_run(m, &groups[lo..hi], min, max, valid) {
            runs.push((groups[lo + first].0, groups[lo + last].1));
            todo.push((lo, lo + first));
            todo.push((lo + last + 1, hi));
        }
    }
    runs.sort_unstable();
    runs
}

/// The longest run of whole groups (separated by spaces or dashes) in `m` whose characters
/// number `min..=max` and pass `valid`: a card number followed by a year, or preceded by a
/// reference, is still found.
fn best_groups(m: &str, min: usize, max: usize, valid: fn(&str) -> bool) -> Option<(usize, usize)> {
    let groups = groups(m);
    best_run(m, &groups, min, max, valid).map(|(first, last)| (groups[first].0, groups[last].1))
}

/// The byte ranges of the runs of ASCII letters and digits in `m`.
fn groups(m: &str) -> Vec<(usize, usize)> {
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    for (i, c) in m.char_indices().chain([(m.len(), ' ')]) {
        match (c.is_ascii_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                groups.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    groups
}

/// The indexes (first, last) of the longest run of `groups` that passes, as `best_groups`.
fn best_run(
    m: &str,
    groups: &[(usize, usize)],
    min: usize,
    max: usize,
    valid: fn(&str) -> bool,
) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    let span = |(first, last): (usize, usize)| groups[last].1 - groups[first].0;
    for first in 0..groups.len() {
        for last in (first..groups.len()).rev() {
            if best.is_some_and(|b| span(b) >= span((first, last))) {
                break;
            }
            let (a, b) = (groups[first].0, groups[last].1);
            let compact: String = m[a..b]
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            if (min..=max).contains(&compact.len()) && valid(&compact) {
                best = Some((first, last));
                break;
            }
        }
    }
    best
}

/// Card numbers start with 2 to 6 (Mastercard, Amex, Visa, Discover…) and pass Luhn; the
/// prefix keeps millisecond timestamps and other long ids out.
fn card(digits: &str) -> bool {
    matches!(digits.as_bytes().first(), Some(b'2'..=b'6')) && luhn(digits)
}

fn luhn(digits: &str) -> bool {
    let mut sum = 0;
    for (i, b) in digits.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

fn iban(s: &str) -> bool {
    let upper = s.to_ascii_uppercase();
    let b = upper.as_bytes();
    if b.len() < 15 || !b[..2].iter().all(u8::is_ascii_uppercase) {
        return false;
    }
    let country = &upper[..2];
    if !IBAN_LENGTHS
        .iter()
        .any(|&(c, len)| c == country && len == b.len())
    {
        return false;
    }
    // Move the country code and check digits to the end; letters count as 10..35.
    let mut rem: u32 = 0;
    for &c in b[4..].iter().chain(&b[..4]) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(s: &str) -> String {
        Values::new(&[]).scrub(s).into_owned()
    }

    #[test]
    fn every_policy_pattern_compiles() {
        for r in VALUE_RULES {
            Regex::new(r.pattern).unwrap_or_else(|e| panic!("{}: {e}", r.name));
        }
    }

    #[test]
    fn replaces_only_the_personal_part() {
        let cases = [
            (
                "Lookup failed for jane.doe@example.co.uk from 203.0.113.7",
                "Lookup failed for [email] from [ip]",
            ),
            ("card 4111 1111 1111 1111 declined", "card [card] declined"),
            ("card 5555-5555-5555-4444", "card [card]"),
            ("card 4111111111111111 2024", "card [card] 2024"),
            ("ref 123 4111 1111 1111 1111", "ref 123 [card]"),
            ("pay GB82 WEST 1234 5698 7654 32 FOR rent", "pay [iban] FOR rent"),
            ("pay GB82WEST12345698765432.", "pay [iban]."),
            ("NI QQ 12 34 56 C on file", "NI [ni-number] on file"),
            ("pay gb82west12345698765432 now", "pay [iban] now"),
            (
                "seen as GB82WEST12345698765432 and DE89 3704 0044 0532 0130 00",
                "seen as [iban] and [iban]",
            ),
            ("pay de89 3704 0044 0532 0130 00", "pay [iban]"),
            ("card 4539.1488.0343.6467 declined", "card [card] declined"),
            ("amex 3782.822463.10005", "amex [card]"),
            ("mail jöhn.smïth@exämple.com ok", "mail [email] ok"),
            ("mail 用户@例子.广告 ok", "mail [email] ok"),
            ("NI qq123456c", "NI [ni-number]"),
            ("Authorization: Bearer abc123def456ghi", "Authorization: Bearer [token]"),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "jwt [jwt]",
            ),
            ("key sk_live_51Habcdefghijklmnop used", "key [secret] used"),
            ("call +44 7700 900123 now", "call [phone] now"),
            ("call +1 (555) 123-4567", "call [phone]"),
            ("from 2001:db8::8a2e:370:7334 ok", "from [ip] ok"),
            ("from ::1", "from [ip]"),
            ("lives at SW1A 1AA now", "lives at [postcode] now"),
            ("login password=hunter2 rejected", "login password=[Filtered] rejected"),
            (r#"{"api_key": "abc"}"#, r#"{"api_key": [Filtered]}"#),
        ];
        for (input, want) in cases {
            assert_eq!(scrub(input), want, "{input}");
        }
    }

    #[test]
    fn harmless_values_survive() {
        for s in [
            "Order ORD-2024-000123 not found (HTTP 404)",
            "OFSI list version 2024-11-18 loaded, 1234567 entries",
            "at screenSubject (/srv/app/lib/screen.js:42:17)",
            "Foo::bar failed at 12:30:45",
            "timestamp 1700000000000",
            "version 1.2.3 of node v20.11.1",
            "Bearer authentication failed",
            "uuid 550e8400-e29b-41d4-a716-446655440000",
            "sha a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
            "ref 4929.1234.5678.9012 fails Luhn",
            "build ab12cdef34567890ab12",
            "amount 1234567.891234 GBP",
            "version 2024.1118.0007.12 of the list",
        ] {
            assert_eq!(scrub(s), s);
        }
    }

    #[test]
    fn user_patterns_run_after_the_policy() {
        let v = Values::new(&[Regex::new(r"CASE-\d{6}").unwrap()]);
        assert_eq!(v.scrub("case CASE-123456 open"), "case [Filtered] open");
    }

    #[test]
    fn checksums() {
        assert!(luhn("4111111111111111"));
        assert!(!luhn("4111111111111112"));
        assert!(iban("GB82WEST12345698765432"));
        assert!(!iban("GB82WEST12345698765433"));
        assert!(iban("gb82west12345698765432"));
        // One character short of a German IBAN: not one, whatever its checksum.
        assert!(!iban("DE8937040044053201300"));
    }
}
