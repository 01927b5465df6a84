//! Scrubbing by key: does this key name personal or secret data? Keys are compared with case
//! and separators removed, against the policy's patterns and the user's `scrub.keys`.

use super::policy::{Taint, KEY_RULES, TECHNICAL_KEYS};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Glob {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
}

impl Glob {
    fn parse(pattern: &str) -> Glob {
        let starts = pattern.starts_with('*');
        let ends = pattern.len() > 1 && pattern.ends_with('*');
        let core = normalise(pattern.trim_matches('*'));
        match (starts, ends) {
            (true, true) => Glob::Contains(core),
            (true, false) => Glob::Suffix(core),
            (false, true) => Glob::Prefix(core),
            (false, false) => Glob::Exact(core),
        }
    }

    fn matches(&self, key: &str) -> bool {
        match self {
            Glob::Exact(k) => key == k,
            Glob::Prefix(k) => key.starts_with(k.as_str()),
            Glob::Suffix(k) => key.ends_with(k.as_str()),
            Glob::Contains(k) => key.contains(k.as_str()),
        }
    }
}

pub struct Keys {
    exact: HashMap<String, Taint>,
    globs: Vec<(Glob, Taint)>,
}

impl Keys {
    /// The policy's key rules plus `extra` (the user's `scrub.keys`, same syntax).
    pub fn new(extra: &[String]) -> Keys {
        let mut exact = HashMap::new();
        let mut globs = Vec::new();
        let policy = KEY_RULES
            .iter()
            .flat_map(|r| r.keys.iter().map(move |k| (*k, r.taint)));
        let user = extra.iter().map(|k| (k.as_str(), Taint::Whole));
        for (pattern, taint) in policy.chain(user) {
            match Glob::parse(pattern) {
                Glob::Exact(k) => {
                    exact.entry(k).or_insert(taint);
                }
                glob => globs.push((glob, taint)),
            }
        }
        Keys { exact, globs }
    }

    /// How the value under `key` taints the event, if the key names personal data.
    pub fn rule(&self, key: &str) -> Option<Taint> {
        let key = normalise(key);
        if key.is_empty() {
            return None;
        }
        if let Some(t) = self.exact.get(&key) {
            return Some(*t);
        }
        let singular = key.strip_suffix('s').unwrap_or(&key);
        if TECHNICAL_KEYS.contains(&key.as_str()) || TECHNICAL_KEYS.contains(&singular) {
            return None;
        }
        self.globs
            .iter()
            .find(|(g, _)| g.matches(&key))
            .map(|(_, t)| *t)
    }
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
        ] {
            assert!(keys.rule(k).is_some(), "{k} should be filtered");
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
        ] {
            assert_eq!(keys.rule(k), None, "{k} should be kept");
        }
    }

    #[test]
    fn names_taint_by_word_and_user_keys_extend() {
        let keys = Keys::new(&["customerRef".into(), "*internal*".into()]);
        assert_eq!(keys.rule("first_name"), Some(Taint::Words));
        assert_eq!(keys.rule("dob"), Some(Taint::Whole));
        assert_eq!(keys.rule("customer_ref"), Some(Taint::Whole));
        assert_eq!(keys.rule("myInternalNote"), Some(Taint::Whole));
        assert_eq!(keys.rule("customer"), None);
    }
}
