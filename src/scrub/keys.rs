//! Scrubbing by key: does this key name personal or secret data? Keys are compared with case
//! and separators removed, against the policy's patterns and the user's `scrub.keys`.

use super::policy::{Taint, KEY_RULES, TECHNICAL_KEYS};
use regex::Regex;
use std::collections::{HashMap, HashSet};

/// Keys the SDK itself writes into every event (the protocol's field names). Their rule is
/// worked out once, when the policy is compiled, and looked up after: an event has a hundred
/// or more of them, and normalising each (an allocation) and running the patterns over it cost
/// more than the rest of the key pass. Their rule is the policy's own, as for any other key.
const PROTOCOL_KEYS: &[&str] = &[
    "values",
    "type",
    "value",
    "stacktrace",
    "frames",
    "mechanism",
    "handled",
    "synthetic",
    "data",
    "source",
    "function",
    "module",
    "filename",
    "abs_path",
    "lineno",
    "colno",
    "in_app",
    "pre_context",
    "context_line",
    "post_context",
    "contexts",
    "extra",
    "exception",
    "breadcrumbs",
    "tags",
    "user",
    "request",
    "runtime",
    "os",
    "name",
    "version",
    "kernel_version",
    "message",
    "category",
    "level",
    "timestamp",
];

/// One regex per taint mode over the normalised key: the policy's ~150 patterns are tested in
/// a single pass, where a loop over them cost more than the rest of scrubbing a key.
pub struct Keys {
    words: Regex,
    /// `words` plus the rules that apply only to string values (all taint by word), so a
    /// string's key still costs one regex here.
    words_for_strings: Regex,
    whole: Regex,
    technical: HashSet<&'static str>,
    /// `rule` of each of `PROTOCOL_KEYS`, for a value that is not a string and one that is.
    known: HashMap<&'static str, [Option<Taint>; 2]>,
}

impl Keys {
    /// The policy's key rules plus `extra` (the user's `scrub.keys`, same syntax).
    pub fn new(extra: &[String]) -> Keys {
        let mut words = Vec::new();
        let mut whole = Vec::new();
        let mut strings = Vec::new();
        let policy = KEY_RULES
            .iter()
            .flat_map(|r| r.keys.iter().map(move |k| (*k, r.taint, r.strings_only)));
        let user = extra.iter().map(|k| (k.as_str(), Taint::Whole, false));
        for (pattern, taint, strings_only) in policy.chain(user) {
            let alternative = glob(pattern);
            match (strings_only, taint) {
                (true, _) => strings.push(alternative),
                (false, Taint::Words) => words.push(alternative),
                (false, Taint::Whole) => whole.push(alternative),
            }
        }
        strings.extend(words.iter().cloned());
        let compile = |alternatives: Vec<String>| {
            Regex::new(&format!("(?:{})", alternatives.join("|")))
                .expect("escaped key patterns compile")
        };
        let mut keys = Keys {
            words: compile(words),
            words_for_strings: compile(strings),
            whole: compile(whole),
            technical: TECHNICAL_KEYS.iter().copied().collect(),
            known: HashMap::new(),
        };
        keys.known = PROTOCOL_KEYS
            .iter()
            .map(|k| (*k, [keys.rule(k, false), keys.rule(k, true)]))
            .collect();
        keys
    }

    /// How the value under `key` taints the event, if the key names personal data.
    /// `is_string` says whether that value is a string (some rules apply only to strings).
    pub fn rule(&self, key: &str, is_string: bool) -> Option<Taint> {
        if let Some(rules) = self.known.get(key) {
            return rules[usize::from(is_string)];
        }
        let key = normalise(key);
        if key.is_empty() {
            return None;
        }
        let singular = key.strip_suffix('s').unwrap_or(&key);
        if self.technical.contains(key.as_str()) || self.technical.contains(singular) {
            return None;
        }
        let words = if is_string {
            &self.words_for_strings
        } else {
            &self.words
        };
        if words.is_match(&key) {
            Some(Taint::Words)
        } else if self.whole.is_match(&key) {
            Some(Taint::Whole)
        } else {
            None
        }
    }
}

/// `*name` → `name$`, `dob` → `^dob$`, `*email*` → `email`, `forename*` → `^forename`.
fn glob(pattern: &str) -> String {
    let core = regex::escape(&normalise(pattern.trim_matches('*')));
    let anchor_start = if pattern.starts_with('*') { "" } else { "^" };
    let anchor_end = if pattern.len() > 1 && pattern.ends_with('*') {
        ""
    } else {
        "$"
    };
    format!("{anchor_start}{core}{anchor_end}")
}

/// Whether `key`, written in free text after `before`, names a technical thing with the word
/// before it: "file name: …", "listen address = …" (`filename`, `listenaddress`).
pub fn technical_phrase(before: &str, key: &str) -> bool {
    let word = before
        .trim_end()
        .rsplit(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("");
    !word.is_empty() && TECHNICAL_KEYS.contains(&normalise(&format!("{word}{key}")).as_str())
}

/// Whether the normalised `key` matches one `pattern` of the policy's syntax: for saying which
/// rule caught a key (`npx error-tracker scrub`), where `Keys` only says whether one did.
pub fn glob_matches(pattern: &str, key: &str) -> bool {
    Regex::new(&glob(pattern)).is_ok_and(|re| re.is_match(key))
}

/// `Date-Of-Birth`, `date_of_birth` and `dateOfBirth` all become `dateofbirth`.
pub fn normalise(key: &str) -> String {
    key.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_keys_in_any_spelling() {
        let keys = Keys::new(&[]);
        for k in [
            "name",
            "firstName",
            "first_name",
            "LAST-NAME",
            "fullName",
            "middle_name",
            "surname",
            "forenames",
            "alias",
            "aliases",
            "knownAliases",
            "subjectName",
            "dob",
            "DOB",
            "dateOfBirth",
            "date_of_birth",
            "birth-date",
            "birthDate",
            "placeOfBirth",
            "address",
            "addressLine1",
            "address_line_2",
            "street",
            "city",
            "postcode",
            "post_code",
            "zip",
            "nationalId",
            "national_id_number",
            "nino",
            "NI_number",
            "niNumber",
            "nationalInsuranceNumber",
            "ssn",
            "passport",
            "passportNumber",
            "passport_no",
            "email",
            "emailAddress",
            "phone",
            "phoneNumber",
            "mobile",
            "tel",
            "ip",
            "ip_address",
            "ipAddress",
            "clientIp",
            "x-forwarded-for",
            "password",
            "newPassword",
            "secret",
            "clientSecret",
            "token",
            "accessToken",
            "api_key",
            "apiKey",
            "X-Api-Key",
            "authorization",
            "Authorization",
            "cookie",
            "Set-Cookie",
            "cookies",
            "session",
            "sessionId",
            "iban",
            "cardNumber",
            "q",
            "query",
            "search",
            "searchTerm",
            "search_term",
            "term",
            "keyword",
            "keywords",
            "filter[name]",
            "travelDocument",
            "travel_document_number",
            "travelDocumentExpiry",
            "who",
            "documentNumber",
        ] {
            assert!(keys.rule(k, true).is_some(), "{k} should be filtered");
        }
    }

    #[test]
    fn technical_keys_survive() {
        let keys = Keys::new(&[]);
        for k in [
            "fileName",
            "filename",
            "hostname",
            "functionName",
            "type",
            "code",
            "status",
            "statusCode",
            "orderId",
            "listVersion",
            "route",
            "method",
            "url",
            "lineno",
            "abs_path",
            "module",
            "in_app",
            "category",
            "level",
            "message",
            "source",
            "server_name",
            "environment",
            "release",
            "tableName",
            "queueName",
            "fileNames",
            "matchScore",
            "regime",
            "listName",
            "placeholder",
            "placeholders",
            "query_string",
            "queryTimeMs",
            "searchType",
            "termsAccepted",
            "whom",
        ] {
            assert_eq!(keys.rule(k, true), None, "{k} should be kept");
        }
    }

    #[test]
    fn protocol_keys_are_looked_up_as_the_patterns_would_decide() {
        // The user's keys count too: one that names a protocol field filters it.
        for extra in [vec![], vec!["*module*".to_owned(), "lineno".to_owned()]] {
            let keys = Keys::new(&extra);
            let mut computed = Keys::new(&extra);
            computed.known.clear();
            for k in PROTOCOL_KEYS {
                for is_string in [false, true] {
                    assert_eq!(
                        keys.rule(k, is_string),
                        computed.rule(k, is_string),
                        "{k} ({extra:?})"
                    );
                }
            }
            if !extra.is_empty() {
                assert_eq!(keys.rule("module", true), Some(Taint::Whole));
                assert_eq!(keys.rule("lineno", false), Some(Taint::Whole));
            }
        }
        assert_eq!(Keys::new(&[]).rule("name", true), Some(Taint::Words));
    }

    #[test]
    fn names_taint_by_word_and_user_keys_extend() {
        let keys = Keys::new(&["customerRef".into(), "*internal*".into()]);
        assert_eq!(keys.rule("first_name", true), Some(Taint::Words));
        assert_eq!(keys.rule("dob", true), Some(Taint::Whole));
        assert_eq!(keys.rule("customer_ref", true), Some(Taint::Whole));
        assert_eq!(keys.rule("myInternalNote", true), Some(Taint::Whole));
        assert_eq!(keys.rule("customer", true), None);
    }

    #[test]
    fn person_is_personal_only_as_a_string() {
        let keys = Keys::new(&[]);
        assert_eq!(keys.rule("person", true), Some(Taint::Words));
        assert_eq!(keys.rule("Person", true), Some(Taint::Words));
        assert_eq!(keys.rule("person", false), None);
        assert_eq!(keys.rule("personId", true), None);
        assert_eq!(keys.rule("cardHolder", true), Some(Taint::Words));
        assert_eq!(keys.rule("holder", false), None);
        assert_eq!(keys.rule("placeholder", true), None);
    }
}
