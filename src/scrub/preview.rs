//! What the policy would send, for `npx error-tracker scrub`: a document (an event, or any
//! JSON) scrubbed exactly as the worker scrubs an event, and beside it what was removed where
//! and by which rule, in the shape of Sentry's `_meta` (path → `rem: [[rule, "s"|"x"]]`, `len`).
//! Not on the worker's path: explaining costs a diff and a pass per rule, which only a
//! reviewer waiting for an answer should pay.

use super::labels::Labels;
use super::policy::{FILTERED, KEY_RULES, VALUE_RULES};
use super::{keys, ScrubConfig, Scrubber, Texts};
use regex::Regex;
use sentry_types::protocol::v7::Event;
use serde_json::{json, Map, Value};

/// An object is read as an event when it has one of these …
const EVENT_CORE: &[&str] = &["event_id", "exception", "message", "logentry"];
/// … and no top-level field Sentry's event does not have.
const EVENT_FIELDS: &[&str] = &[
    "event_id",
    "level",
    "fingerprint",
    "culprit",
    "transaction",
    "transaction_info",
    "message",
    "logentry",
    "logger",
    "modules",
    "platform",
    "timestamp",
    "start_timestamp",
    "server_name",
    "release",
    "dist",
    "environment",
    "user",
    "request",
    "contexts",
    "breadcrumbs",
    "exception",
    "stacktrace",
    "template",
    "threads",
    "tags",
    "extra",
    "debug_meta",
    "sdk",
    "type",
    "spans",
    "measurements",
];
/// Where any other document goes, to be scrubbed as an event's data is.
const WRAPPER: &str = "document";

/// `{ "sent": <scrubbed>, "_meta": { <path>: { "rem": [[rule, kind]], "len": n } } }`.
pub fn preview(input: &Value, config: &ScrubConfig) -> Value {
    let as_event = input
        .as_object()
        .filter(|o| {
            o.keys().any(|k| EVENT_CORE.contains(&k.as_str()))
                && o.keys().all(|k| EVENT_FIELDS.contains(&k.as_str()))
        })
        .and_then(|_| serde_json::from_value::<Event<'static>>(input.clone()).ok());
    let wrapped = as_event.is_none();
    let event = as_event.unwrap_or_else(|| Event {
        extra: [(WRAPPER.to_owned(), input.clone())].into_iter().collect(),
        ..Event::default()
    });
    let before = serde_json::to_value(&event).unwrap_or(Value::Null);
    let scrubbed = Scrubber::new(config).event(event, Texts(Vec::new()));
    let after = serde_json::to_value(&scrubbed).unwrap_or(Value::Null);
    let (before, after) = if wrapped {
        let inner = |v: &Value| v["extra"][WRAPPER].clone();
        (inner(&before), inner(&after))
    } else {
        (before, after)
    };
    let why = Why::new(config);
    let mut meta = Map::new();
    why.diff("", None, &before, Some(&after), &mut meta);
    json!({ "sent": after, "_meta": meta })
}

/// The rules, one by one, to say which of them explains a change.
struct Why<'a> {
    config: &'a ScrubConfig,
    values: Vec<(Regex, &'static str, &'static str)>,
    labels: Labels,
    policy_keys: keys::Keys,
    user_keys: keys::Keys,
}

impl Why<'_> {
    fn new(config: &ScrubConfig) -> Why<'_> {
        Why {
            config,
            values: VALUE_RULES
                .iter()
                .map(|r| {
                    let re = Regex::new(r.pattern).expect("policy patterns compile (tested)");
                    (re, r.name, r.replace)
                })
                .collect(),
            labels: Labels::default(),
            policy_keys: keys::Keys::new(&[]),
            user_keys: keys::Keys::new(&config.keys),
        }
    }

    fn diff(
        &self,
        path: &str,
        key: Option<&str>,
        before: &Value,
        after: Option<&Value>,
        meta: &mut Map<String, Value>,
    ) {
        let child = |k: &str| {
            if path.is_empty() {
                k.to_owned()
            } else {
                format!("{path}.{k}")
            }
        };
        match (before, after) {
            (_, None) => {
                let rule = key
                    .and_then(|k| self.key_rule(k, before.is_string()))
                    .unwrap_or_else(|| {
                        "user: only the id and fields no rule names are kept".to_owned()
                    });
                meta.insert(path.to_owned(), json!({ "rem": [[rule, "x"]] }));
            }
            (Value::Object(b), Some(Value::Object(a))) => {
                for (k, v) in b {
                    self.diff(&child(k), Some(k), v, a.get(k), meta);
                }
            }
            (Value::Array(b), Some(Value::Array(a))) if a.len() == b.len() => {
                for (i, (v, w)) in b.iter().zip(a).enumerate() {
                    self.diff(&child(&i.to_string()), key, v, Some(w), meta);
                }
            }
            (b, Some(a)) if b == a => {}
            (b, Some(a)) => {
                let rules = self.explain(key, b, a);
                let len = match b {
                    Value::String(s) => s.chars().count(),
                    other => other.to_string().chars().count(),
                };
                let rem: Vec<Value> = rules.into_iter().map(|r| json!([r, "s"])).collect();
                meta.insert(path.to_owned(), json!({ "rem": rem, "len": len }));
            }
        }
    }

    /// The rules that explain `before` becoming `after`.
    fn explain(&self, key: Option<&str>, before: &Value, after: &Value) -> Vec<String> {
        if after.as_str() == Some(FILTERED) {
            if let Some(rule) = key.and_then(|k| self.key_rule(k, before.is_string())) {
                return vec![rule];
            }
        }
        let text = match before {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return vec!["by key, inside".to_owned()],
        };
        let out = after.as_str().unwrap_or_default();
        let mut rules = Vec::new();
        for (re, name, replace) in &self.values {
            if re.is_match(&text) && out.contains(replace) {
                rules.push(format!("value: {name}"));
            }
        }
        for (i, re) in self.config.patterns.iter().enumerate() {
            if re.is_match(&text) {
                rules.push(format!("scrub.patterns[{i}]"));
            }
        }
        for found in self.labels.find(&text) {
            let rule = format!("label: {}", found.rule.category);
            if !rules.contains(&rule) {
                rules.push(rule);
            }
        }
        if rules.is_empty()
            || (out.contains(FILTERED) && rules.iter().all(|r| !r.starts_with("label")))
        {
            // Nothing above names it: a value removed by key elsewhere in the event (or in an
            // earlier one), or keyed data inside JSON, a URL, `key=value` text or base64.
            rules.push("taint or keyed data inside".to_owned());
        }
        rules
    }

    /// `key: <category>` of the key rule that names `key`, or `scrub.keys`.
    fn key_rule(&self, key: &str, is_string: bool) -> Option<String> {
        if self.policy_keys.rule(key, is_string).is_some() {
            let normal = keys::normalise(key);
            let category = KEY_RULES
                .iter()
                .find(|r| {
                    (!r.strings_only || is_string)
                        && r.keys.iter().any(|p| keys::glob_matches(p, &normal))
                })
                .map_or("key", |r| r.category);
            return Some(format!("key: {category}"));
        }
        self.user_keys
            .rule(key, is_string)
            .map(|_| "scrub.keys".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_json_is_scrubbed_and_each_removal_named() {
        let doc = json!({
            "user": "reads as a key, not as the event's user",
            "subject": { "fullName": "Jane Roe", "orderId": "ORD-7" },
            "note": "Invalid date of birth for Jane Roe: 31/01/1970, mail jane@example.com",
        });
        let out = preview(&doc, &ScrubConfig::default());
        assert_eq!(out["sent"]["subject"]["fullName"], FILTERED);
        assert_eq!(out["sent"]["subject"]["orderId"], "ORD-7");
        assert_eq!(
            out["sent"]["note"],
            "Invalid date of birth for [Filtered]: [Filtered], mail [email]"
        );
        let meta = &out["_meta"];
        assert_eq!(meta["subject.fullName"]["rem"][0][0], "key: person's name");
        assert_eq!(meta["subject.fullName"]["len"], 8);
        let note: Vec<&str> = meta["note"]["rem"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[0].as_str().unwrap())
            .collect();
        assert!(note.contains(&"label: date of birth"), "{note:?}");
        assert!(
            note.iter().any(|r| r.starts_with("value: email")),
            "{note:?}"
        );
        assert!(meta.get("subject.orderId").is_none());
        assert_eq!(
            out["sent"]["user"],
            "reads as a key, not as the event's user"
        );
    }

    #[test]
    fn an_event_is_scrubbed_as_an_event() {
        let doc = json!({
            "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
            "exception": { "values": [{ "type": "ScreeningError", "value": "No match for Jane Roe" }] },
            "extra": { "name": "Jane Roe" },
            "user": { "id": "u-1", "email": "jane@example.com" },
        });
        let out = preview(&doc, &ScrubConfig::default());
        assert_eq!(
            out["sent"]["exception"]["values"][0]["value"],
            "No match for [Filtered]"
        );
        assert_eq!(out["sent"]["event_id"], "9ec79c33ec9942ab8353589fcb2e04dc");
        assert_eq!(out["_meta"]["user.email"]["rem"][0][1], "x");
        assert_eq!(
            out["_meta"]["extra.name"]["rem"][0][0],
            "key: person's name"
        );
        assert_eq!(
            out["_meta"]["exception.values.0.value"]["rem"][0][0],
            "taint or keyed data inside"
        );
    }
}
