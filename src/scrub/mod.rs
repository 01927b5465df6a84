//! Stage 3d, on the worker: remove personal data from the finished event before any sink or
//! file sees it. The policy is data (`policy.rs`); this module applies it in two passes over
//! the whole event, so nothing added to the event later escapes by being forgotten here:
//!
//! 1. **By key.** Every value under a key that names personal data becomes `"[Filtered]"`,
//!    and is remembered as tainted. Strings holding JSON, URLs, query strings or
//!    `key=value` text are scrubbed by key inside, and a value after a personal label in free
//!    text ("date of birth …", "passport no. …") goes as if keyed. The user keeps only a
//!    (pseudonymised) id. What this event tainted is then remembered, as keyed hashes, for
//!    later events (`memory.rs`).
//! 2. **By value.** In every string and key: each value pattern (emails, card numbers, …)
//!    becomes its placeholder, then each tainted value `"[Filtered]"`, then each value an
//!    earlier event tainted.
//!
//! Only what the SDK itself sets (ids, timestamps, release, SDK and runtime facts) is exempt.

mod browser;
mod clean;
pub use browser::{browser_item, BrowserItem};
mod keys;
mod labels;
mod memory;
pub mod policy;
pub mod preview;
mod structured;
mod taint;
mod values;

use crate::log;
use clean::Clean;
use hmac::{Hmac, Mac};
use keys::Keys;
use labels::Labels;
pub use memory::{process_wide as process_memory, Memory, MAX_TTL as MAX_MEMORY};
use parking_lot::Mutex;
use policy::{Taint, COOKIE_KEYS, FILTERED};
use regex::Regex;
use sentry_types::protocol::v7::{Event, Exception, Url, Values as List};
use serde_json::{Map, Value};
use sha2::Sha256;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};
use structured::KeyFilter;
use taint::{Matcher, Tainted};
use values::Values;

/// Nested JSON-in-a-string deeper than this is left to the value patterns.
const MAX_DEPTH: usize = 64;

/// Top-level event fields the SDK sets from configuration or itself.
const EXEMPT: &[&str] = &[
    "event_id",
    "timestamp",
    "level",
    "platform",
    "sdk",
    "release",
    "environment",
    "server_name",
    "dist",
];
/// Stack frame fields that hold source code or code locations, not data.
const SOURCE_FIELDS: &[&str] = &[
    "pre_context",
    "context_line",
    "post_context",
    "function",
    "abs_path",
    "filename",
    "module",
];
/// Contexts the SDK fills with facts about the host, not the error.
const EXEMPT_CONTEXTS: &[&str] = &["runtime", "os"];

/// What `init` says to scrub beyond the policy.
#[derive(Debug, Clone, Default)]
pub struct ScrubConfig {
    /// More key patterns (`scrub.keys`).
    pub keys: Vec<String>,
    /// More value patterns (`scrub.patterns`), compiled.
    pub patterns: Vec<Regex>,
    /// Key for pseudonymising `user.id` (`userIdSalt`).
    pub user_id_salt: Option<String>,
    /// How long a tainted value is remembered for later events (`scrub.rememberSeconds`);
    /// `None` is the longest, `MAX_MEMORY`.
    pub remember: Option<Duration>,
}

/// The compiled policy for one `init`.
pub struct Scrubber {
    keys: Keys,
    values: Values,
    labels: Labels,
    clean: Clean,
    salt: Option<Vec<u8>>,
    memory: Arc<Mutex<Memory>>,
    remember: Duration,
}

/// The texts that travel beside the event (the raw stack, the grouping key).
pub struct Texts<'a>(pub Vec<&'a mut String>);

impl Scrubber {
    /// A scrubber with a memory of its own (a preview, a benchmark, a test).
    pub fn new(config: &ScrubConfig) -> Scrubber {
        Scrubber::sharing(
            config,
            Arc::new(Mutex::new(Memory::new(memory::MAX_VALUES))),
        )
    }

    /// A scrubber that remembers into `memory` (the process's, for `init`: reconfiguring
    /// does not forget).
    pub fn sharing(config: &ScrubConfig, memory: Arc<Mutex<Memory>>) -> Scrubber {
        Scrubber {
            keys: Keys::new(&config.keys),
            values: Values::new(&config.patterns),
            labels: Labels::default(),
            clean: Clean::default(),
            salt: config.user_id_salt.as_ref().map(|s| s.as_bytes().to_vec()),
            memory,
            remember: config.remember.unwrap_or(MAX_MEMORY).min(MAX_MEMORY),
        }
    }

    /// The event with its personal data removed; `texts` are scrubbed in place with the same
    /// taint. Fails closed: an event that cannot be rebuilt loses everything but its types.
    pub fn event(&self, event: Event<'static>, mut texts: Texts<'_>) -> Event<'static> {
        let mut doc = match serde_json::to_value(&event) {
            Ok(doc) => doc,
            Err(e) => return fail_closed(event, &e.to_string()),
        };
        let mut by_key = ByKey {
            keys: &self.keys,
            labels: &self.labels,
            values: &self.values,
            tainted: Tainted::default(),
            filtered: 0,
        };
        let user_id = self.user(&mut doc, &mut by_key);
        for field in scrubbed_fields(&mut doc) {
            by_key.document(field, 0);
        }
        for text in texts.0.iter_mut() {
            by_key.free_text(text, 0);
        }

        let mut memory = self.memory.lock();
        let now = Instant::now();
        memory.expire(now, self.remember);
        for value in by_key.tainted.values() {
            memory.remember(value, now);
        }
        let matcher = by_key.tainted.matcher();
        let by_value = ByValue {
            taint: matcher.as_ref(),
            values: &self.values,
            memory: Some(&memory),
            clean: &self.clean,
        };
        let server = ServerAddress::set_aside(&mut doc);
        for field in scrubbed_fields(&mut doc) {
            by_value.value(field);
        }
        server.restore(&mut doc);
        for text in texts.0.iter_mut() {
            if let Some(out) = by_value.text(text) {
                **text = out;
            }
        }
        drop(memory);
        if let (Some(id), Some(Value::Object(user))) = (user_id, doc.get_mut("user")) {
            user.insert("id".to_owned(), Value::String(id));
        }
        keep_typed_fields_valid(&mut doc);
        match serde_json::from_value(doc) {
            Ok(scrubbed) => scrubbed,
            Err(e) => fail_closed(event, &e.to_string()),
        }
    }

    /// The user keeps only its id: pseudonymised when a salt is set (returned, to be put back
    /// once the passes are done, and the raw id tainted), otherwise left to the passes like
    /// any string. Email, IP and username go whole.
    fn user(&self, doc: &mut Value, by_key: &mut ByKey<'_>) -> Option<String> {
        let Some(Value::Object(user)) = doc.get_mut("user") else {
            return None;
        };
        for field in ["email", "ip_address", "username"] {
            if let Some(v) = user.remove(field) {
                by_key.tainted.add_value(&v, Taint::Whole);
            }
        }
        let salt = self.salt.as_ref()?;
        let id = match user.remove("id")? {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        by_key.tainted.add(&id, Taint::Whole);
        let mut mac = Hmac::<Sha256>::new_from_slice(salt).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        Some(
            mac.finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        )
    }
}

/// The parts of the event that carry the app's data: everything but `EXEMPT`.
fn scrubbed_fields(doc: &mut Value) -> Vec<&mut Value> {
    let Value::Object(event) = doc else {
        return Vec::new();
    };
    let mut fields = Vec::new();
    for (key, value) in event.iter_mut() {
        match (key.as_str(), value) {
            (k, _) if EXEMPT.contains(&k) => {}
            ("contexts", Value::Object(contexts)) => fields.extend(
                contexts
                    .iter_mut()
                    .filter(|(k, _)| !EXEMPT_CONTEXTS.contains(&k.as_str()))
                    .map(|(_, v)| v),
            ),
            (_, value) => fields.push(value),
        }
    }
    fields
}

/// Pass 1: filters values by key (and by label) and remembers them.
struct ByKey<'a> {
    keys: &'a Keys,
    labels: &'a Labels,
    values: &'a Values,
    tainted: Tainted,
    /// Values filtered so far, so structured strings can tell whether they changed.
    filtered: usize,
}

impl KeyFilter for ByKey<'_> {
    fn filter(&mut self, key: &str, value: &Value) -> bool {
        let Some(how) = self.keys.rule(key, value.is_string()) else {
            return false;
        };
        self.tainted.add_value(value, how);
        self.filtered += 1;
        true
    }

    fn filtered(&self) -> usize {
        self.filtered
    }

    fn document(&mut self, doc: &mut Value, depth: usize) {
        match doc {
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    // Source code is full of `key: value` text that is not data: reading it by
                    // key would taint identifiers everywhere. It still gets the value pass.
                    if SOURCE_FIELDS.contains(&key.as_str()) {
                        continue;
                    }
                    if self.filter(key, value) {
                        *value = match value {
                            Value::String(s)
                                if COOKIE_KEYS.contains(&keys::normalise(key).as_str()) =>
                            {
                                Value::from(structured::cookie_names_only(s))
                            }
                            _ => Value::from(FILTERED),
                        };
                    } else {
                        self.document(value, depth);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.document(v, depth)),
            Value::String(s) if depth < MAX_DEPTH => self.free_text(s, depth),
            _ => {}
        }
    }
}

impl ByKey<'_> {
    /// A string read for keyed data: labelled values first ("name: Jane Roe" as a whole,
    /// before `key=value` reading would take only "Jane"), then what `structured` finds.
    fn free_text(&mut self, s: &mut String, depth: usize) {
        if !s.trim_start().starts_with(['{', '[']) {
            let found = self.labels.find(s);
            if !found.is_empty() {
                let mut out = String::with_capacity(s.len());
                let mut last = 0;
                for f in found {
                    let value = &s[f.start..f.end];
                    self.tainted.add(value, f.rule.taint);
                    self.filtered += 1;
                    // A value a pattern knows ("NI number QQ 12 34 56 C") is left to it, to
                    // read `[ni-number]`: it has been tainted all the same.
                    if matches!(self.values.scrub(value), Cow::Owned(_)) {
                        continue;
                    }
                    out.push_str(&s[last..f.start]);
                    out.push_str(FILTERED);
                    last = f.end;
                }
                out.push_str(&s[last..]);
                *s = out;
            }
        }
        if let Some(out) = structured::scrub(s, self, depth) {
            *s = out;
        }
    }
}

/// Pass 2: value patterns, then taint, then the memory of earlier events' taint, in every
/// string and key. Patterns go first so an email holding a tainted name reads `[email]`, not
/// `[Filtered]@example.com`.
#[derive(Clone, Copy)]
struct ByValue<'a> {
    taint: Option<&'a Matcher>,
    values: &'a Values,
    /// `None` in code locations (`SOURCE_FIELDS`): an earlier event's value is not looked for
    /// in function names and paths, which one over-eager key (`name: "screen"`) would
    /// otherwise cost every event for a day.
    memory: Option<&'a Memory>,
    clean: &'a Clean,
}

impl ByValue<'_> {
    /// `text` after the value patterns and taint, or `None` if they left it alone. A string
    /// with `%XX` escapes (or `+` for space in a query) is read decoded too: an email in a URL
    /// path is `john.smith%40example.com` there. When the decoded text has something to
    /// remove, the result is that text, decoded, with it removed.
    fn text(&self, text: &str) -> Option<String> {
        // Base64 of text with an email (say) in it goes whole, as in pass 1.
        if let Some(decoded) = structured::base64_text(text) {
            if self.plain_text(&decoded).is_some() {
                return Some(FILTERED.to_owned());
            }
        }
        if let Some(decoded) = url_decoded(text) {
            if let Some(out) = self.plain_text(&decoded) {
                return Some(out);
            }
        }
        self.plain_text(text)
    }

    fn plain_text(&self, text: &str) -> Option<String> {
        let patterned = self.values.scrub(text);
        let tainted = match self.taint {
            Some(m) => match m.scrub(&patterned) {
                Cow::Borrowed(_) => patterned,
                Cow::Owned(s) => s.into(),
            },
            None => patterned,
        };
        let out = match self.memory.map(|m| m.scrub(&tainted)) {
            Some(Cow::Owned(s)) => Cow::Owned(s),
            _ => tainted,
        };
        match out {
            Cow::Borrowed(_) => None,
            Cow::Owned(s) => Some(s),
        }
    }

    /// `text` as `text` leaves it, remembering (in `clean`) a string the value patterns and
    /// the decodings find nothing in, so that next time only the taint is looked for. For the
    /// strings of stack frames, which recur from event to event.
    fn frame_text(&self, text: &str) -> Option<String> {
        if !self.clean.contains(text) {
            let plain = structured::base64_text(text).is_none()
                && url_decoded(text).is_none()
                && matches!(self.values.scrub(text), Cow::Borrowed(_));
            if !plain {
                return self.text(text);
            }
            self.clean.insert(text);
        }
        // What `text` does with a string the patterns leave unchanged: the taint alone.
        match self.taint.as_ref().map(|m| m.scrub(text)) {
            Some(Cow::Owned(s)) => Some(s),
            _ => None,
        }
    }

    fn value(&self, v: &mut Value) {
        self.value_in(v, Place::Any);
    }

    /// In a frame (an item of `stacktrace.frames`) the keys and the source fields are the
    /// frame's own and go through `frame_text`.
    fn value_in(&self, v: &mut Value, place: Place) {
        let frame = place == Place::Frame;
        let text = |s: &str| {
            if frame {
                self.frame_text(s)
            } else {
                self.text(s)
            }
        };
        match v {
            Value::String(s) => {
                if let Some(out) = self.text(s) {
                    *s = out;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Value::Object(map) => {
                if map.keys().any(|k| text(k).is_some()) {
                    *map = std::mem::take(map)
                        .into_iter()
                        .map(|(k, v)| (text(&k).unwrap_or(k), v))
                        .collect::<Map<_, _>>();
                }
                for (key, v) in map.iter_mut() {
                    let source = SOURCE_FIELDS.contains(&key.as_str());
                    // Code locations are not searched for earlier events' values (`memory`).
                    let this = if source {
                        ByValue {
                            memory: None,
                            ..*self
                        }
                    } else {
                        *self
                    };
                    match v {
                        Value::String(s) if frame && source => {
                            if let Some(out) = this.frame_text(s) {
                                *s = out;
                            }
                        }
                        Value::Array(lines) if frame && source => {
                            for line in lines.iter_mut() {
                                match line {
                                    Value::String(s) => {
                                        if let Some(out) = this.frame_text(s) {
                                            *s = out;
                                        }
                                    }
                                    other => this.value(other),
                                }
                            }
                        }
                        Value::Array(frames) if place == Place::Stacktrace && key == "frames" => {
                            frames
                                .iter_mut()
                                .for_each(|f| this.value_in(f, Place::Frame));
                        }
                        v if key == "stacktrace" => this.value_in(v, Place::Stacktrace),
                        v => this.value(v),
                    }
                }
            }
            // A card number given as a JS number (`amount: 4539148803436467`) is still one.
            Value::Number(n) => {
                if let Some(digits) = long_integer(n) {
                    if let Cow::Owned(s) = self.values.scrub(&digits) {
                        *v = Value::String(s);
                    }
                }
            }
            Value::Bool(_) | Value::Null => {}
        }
    }
}

/// Where a value is, for `ByValue::value_in`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Any,
    Stacktrace,
    Frame,
}

/// The digits of a whole number long enough to be a card number (13 or more), whether JSON
/// read it as an integer (the JS fast path) or a float (the native copy reads JS numbers as
/// `f64`).
fn long_integer(n: &serde_json::Number) -> Option<String> {
    let digits = if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        let f = n.as_f64()?;
        if !(1e12..1e20).contains(&f) || f.fract() != 0.0 {
            return None;
        }
        format!("{f:.0}")
    };
    (digits.len() >= 13).then_some(digits)
}

/// `text` percent-decoded (and, in a query, `+` read as a space), if that changes it.
fn url_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let escaped = bytes
        .windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit());
    let form = text.contains('+') && text.contains('=') && !text.contains(char::is_whitespace);
    if !escaped && !form {
        return None;
    }
    // `+` means a space only in a query: after `?`, or throughout a bare `a=1&b=2`.
    let query_at = match text.find('?') {
        Some(q) if form => q + 1,
        None if form && !text.contains("://") => 0,
        _ => text.len(),
    };
    let (path, query) = text.split_at(query_at);
    let mut out = percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned();
    out.push_str(
        &percent_encoding::percent_decode_str(&query.replace('+', " ")).decode_utf8_lossy(),
    );
    (out != text).then_some(out)
}

/// The address of this server, as the request names it: the scheme, host and port of
/// `request.url`, and the `Host` and `X-Forwarded-Host` headers. It says where the app runs,
/// not who used it, so the value patterns leave it alone: an app served at `10.0.0.7:3000`
/// keeps a URL Sentry can parse instead of `http://[ip]:3000/…`. They were already read by
/// key in pass 1, and the rest of the URL (path, query, fragment) still gets pass 2.
#[derive(Default)]
struct ServerAddress {
    origin: Option<String>,
    headers: Vec<(String, Value)>,
}

const SERVER_HEADERS: &[&str] = &["host", "x-forwarded-host"];

impl ServerAddress {
    fn set_aside(doc: &mut Value) -> ServerAddress {
        let mut server = ServerAddress::default();
        let Some(Value::Object(request)) = doc.get_mut("request") else {
            return server;
        };
        if let Some(Value::String(url)) = request.get_mut("url") {
            if let Ok(parsed) = Url::parse(url) {
                if parsed.has_host() {
                    // `origin` ends after the port; what follows starts with `/`, `?` or `#`.
                    let end = parsed[..url::Position::AfterPort].len();
                    if url.is_char_boundary(end) {
                        let rest = url.split_off(end);
                        server.origin = Some(std::mem::replace(url, rest));
                    }
                }
            }
        }
        if let Some(Value::Object(headers)) = request.get_mut("headers") {
            let names: Vec<String> = headers
                .keys()
                .filter(|k| SERVER_HEADERS.contains(&k.to_ascii_lowercase().as_str()))
                .cloned()
                .collect();
            for name in names {
                if let Some(v) = headers.remove(&name) {
                    server.headers.push((name, v));
                }
            }
        }
        server
    }

    fn restore(self, doc: &mut Value) {
        let Some(Value::Object(request)) = doc.get_mut("request") else {
            return;
        };
        if let (Some(origin), Some(Value::String(url))) = (self.origin, request.get_mut("url")) {
            url.insert_str(0, &origin);
        }
        if let Some(Value::Object(headers)) = request.get_mut("headers") {
            headers.extend(self.headers);
        }
    }
}

/// A scrubbed URL that no longer parses would fail the whole event; drop just the URL.
fn keep_typed_fields_valid(doc: &mut Value) {
    if let Some(Value::Object(request)) = doc.get_mut("request") {
        if let Some(Value::String(url)) = request.get("url") {
            if Url::parse(url).is_err() {
                request.remove("url");
            }
        }
    }
}

/// The last resort when the scrubbed event does not fit the protocol types: keep the ids,
/// the exception types and the SDK facts, and nothing the app supplied.
fn fail_closed(event: Event<'static>, why: &str) -> Event<'static> {
    log::warn(format_args!(
        "event {} could not be scrubbed field by field ({why}); sending only its exception types",
        event.event_id.simple()
    ));
    Event {
        exception: List {
            values: event
                .exception
                .values
                .iter()
                .map(|e| Exception {
                    ty: e.ty.clone(),
                    value: Some(FILTERED.to_owned()),
                    ..Exception::default()
                })
                .collect(),
        },
        event_id: event.event_id,
        timestamp: event.timestamp,
        level: event.level,
        platform: event.platform,
        release: event.release,
        environment: event.environment,
        server_name: event.server_name,
        sdk: event.sdk,
        ..Event::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(doc: Value) -> Event<'static> {
        serde_json::from_value(doc).unwrap()
    }

    fn scrub(config: &ScrubConfig, doc: Value) -> (Value, String) {
        let mut stack = "Error: No sanctions match for John Smith born 1970-01-01\n    at screen (/srv/app/screen.js:1:1)".to_owned();
        let out = Scrubber::new(config).event(event(doc), Texts(vec![&mut stack]));
        (serde_json::to_value(out).unwrap(), stack)
    }

    fn screening_event() -> Value {
        json!({
            "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
            "timestamp": 1_700_000_000.0,
            "level": "error",
            "platform": "node",
            "release": "app@1.0.0",
            "exception": { "values": [{
                "type": "ScreeningError",
                "value": "No sanctions match for John Smith born 1970-01-01",
                "stacktrace": { "frames": [{ "function": "screen", "abs_path": "/srv/app/screen.js", "lineno": 1, "in_app": true }] },
                "mechanism": { "type": "generic", "handled": true },
            }]},
            "extra": {
                "subject": { "name": "John Smith", "dob": "1970-01-01", "orderId": "ORD-7" },
                "payload": "{\"passport_number\":\"123456789\",\"list\":\"OFSI\"}",
                "note": "passport 123456789 checked",
            },
            "contexts": {
                "runtime": { "type": "runtime", "name": "node", "version": "v20" },
                "ScreeningError": { "type": "unknown", "code": "E_MATCH", "email": "js@example.org" },
            },
            "tags": { "route": "/screen", "customer_email": "js@example.org" },
            "user": { "id": "u-42", "email": "js@example.org", "ip_address": "203.0.113.9", "username": "jsmith", "plan": "pro" },
            "request": {
                "url": "https://app.example/screen?name=John+Smith&list=OFSI",
                "method": "POST",
                "headers": { "Authorization": "Bearer abc123def456", "Accept": "application/json" },
                "query_string": "name=John+Smith&list=OFSI",
            },
            "breadcrumbs": { "values": [{ "message": "called +44 7700 900123", "data": { "Phone-Number": "+44 7700 900123", "step": 2 } }] },
        })
    }

    #[test]
    fn the_servers_own_address_is_not_personal_data() {
        let mut doc = screening_event();
        doc["request"] = json!({
            "url": "http://10.0.0.7:3000/clients/203.0.113.9?name=John+Smith",
            "method": "GET",
            "headers": { "Host": "10.0.0.7:3000", "x-forwarded-host": "10.0.0.7:3000", "X-Forwarded-For": "203.0.113.9" },
        });
        let (out, _) = scrub(&ScrubConfig::default(), doc);
        let request = &out["request"];
        let url = request["url"].as_str().unwrap();
        assert!(url.starts_with("http://10.0.0.7:3000/clients/"), "{url}");
        assert!(
            !url.contains("203.0.113.9") && !url.contains("John"),
            "{url}"
        );
        assert_eq!(request["headers"]["Host"], "10.0.0.7:3000");
        assert_eq!(request["headers"]["x-forwarded-host"], "10.0.0.7:3000");
        assert_eq!(request["headers"]["X-Forwarded-For"], FILTERED);
    }

    #[test]
    fn keyed_values_go_and_taint_the_rest() {
        let (out, stack) = scrub(&ScrubConfig::default(), screening_event());
        let text = out.to_string();
        for leaked in [
            "John",
            "Smith",
            "1970-01-01",
            "123456789",
            "js@example.org",
            "203.0.113.9",
            "jsmith",
            "abc123def456",
            "7700",
        ] {
            assert!(!text.contains(leaked), "{leaked} leaked: {text}");
            assert!(
                !stack.contains(leaked),
                "{leaked} leaked into the stack: {stack}"
            );
        }
        assert_eq!(
            out["exception"]["values"][0]["value"],
            "No sanctions match for [Filtered] born [Filtered]"
        );
        assert_eq!(
            stack.lines().next().unwrap(),
            "Error: No sanctions match for [Filtered] born [Filtered]"
        );
        assert_eq!(out["extra"]["subject"]["orderId"], "ORD-7");
        assert_eq!(out["extra"]["note"], "passport [Filtered] checked");
        assert_eq!(out["request"]["headers"]["Accept"], "application/json");
        assert_eq!(out["request"]["headers"]["Authorization"], FILTERED);
        assert_eq!(out["request"]["query_string"], "name=[Filtered]&list=OFSI");
        assert_eq!(out["contexts"]["runtime"]["name"], "node");
        assert_eq!(out["contexts"]["ScreeningError"]["code"], "E_MATCH");
        assert_eq!(out["user"], json!({ "id": "u-42", "plan": "pro" }));
        assert_eq!(out["breadcrumbs"]["values"][0]["message"], "called [phone]");
        assert_eq!(out["breadcrumbs"]["values"][0]["data"]["step"], 2);
        assert_eq!(out["release"], "app@1.0.0");
        assert_eq!(
            out["exception"]["values"][0]["stacktrace"]["frames"][0]["function"],
            "screen"
        );
    }

    #[test]
    fn user_id_is_pseudonymised_with_the_salt() {
        let config = ScrubConfig {
            user_id_salt: Some("pepper".into()),
            ..ScrubConfig::default()
        };
        let mut doc = screening_event();
        doc["extra"]["remark"] = json!("ticket raised by u-42");
        let (out, _) = scrub(&config, doc);
        // echo -n u-42 | openssl dgst -sha256 -hmac pepper
        let id = out["user"]["id"].as_str().unwrap();
        assert_eq!(
            id,
            "453f7252384d0b42fb2efc71f536e00f5587f9aaafe0b352afcc5036b48f1ce2"
        );
        assert_eq!(out["extra"]["remark"], "ticket raised by [Filtered]");
        let (again, _) = scrub(&config, screening_event());
        assert_eq!(
            again["user"]["id"], id,
            "the same id pseudonymises the same way"
        );
    }

    #[test]
    fn a_value_removed_by_key_is_scrubbed_from_later_events() {
        let scrubber = Scrubber::new(&ScrubConfig::default());
        let mut first = screening_event();
        first["extra"] = json!({ "passportNumber": "533401287", "orderId": "ORD-7" });
        let run = |doc: Value| {
            let out = scrubber.event(event(doc), Texts(Vec::new()));
            serde_json::to_value(out).unwrap()
        };
        run(first);
        let mut later = screening_event();
        later["extra"] = json!({ "orderId": "ORD-7" });
        later["exception"]["values"][0]["value"] = json!("Provider rejected 533401287 for ORD-7");
        let out = run(later);
        assert_eq!(
            out["exception"]["values"][0]["value"],
            "Provider rejected [Filtered] for ORD-7"
        );
        assert_eq!(out["extra"]["orderId"], "ORD-7");

        // Code locations are not searched for earlier events' values: one `name: "screen"`
        // would cost every later event its function names.
        let mut named = screening_event();
        named["extra"] = json!({ "name": "screen" });
        run(named);
        let mut later = screening_event();
        later["extra"] = json!({ "step": "screen" });
        let out = run(later);
        assert_eq!(out["extra"]["step"], FILTERED);
        assert_eq!(
            out["exception"]["values"][0]["stacktrace"]["frames"][0]["function"],
            "screen"
        );

        // A scrubber with a memory of its own knows nothing of the first event.
        let mut alone = screening_event();
        alone["exception"]["values"][0]["value"] = json!("Provider rejected 533401287");
        let fresh = Scrubber::new(&ScrubConfig::default()).event(event(alone), Texts(Vec::new()));
        assert_eq!(
            serde_json::to_value(fresh).unwrap()["exception"]["values"][0]["value"],
            "Provider rejected 533401287"
        );
    }

    #[test]
    fn a_labelled_value_goes_and_taints_like_a_keyed_one() {
        let mut doc = screening_event();
        doc["exception"]["values"][0]["value"] =
            json!("Invalid date of birth for John Smith: 31/01/1970");
        doc["extra"]["note"] = json!("checked 1970-01-31 against the list; named export kept");
        let (out, _) = scrub(&ScrubConfig::default(), doc);
        assert_eq!(
            out["exception"]["values"][0]["value"],
            "Invalid date of birth for [Filtered]: [Filtered]"
        );
        assert_eq!(
            out["extra"]["note"],
            "checked [Filtered] against the list; named export kept"
        );
    }

    #[test]
    fn an_error_property_named_type_survives_the_round_trip() {
        let mut doc = screening_event();
        doc["contexts"]["ScreeningError"] =
            json!({ "type": "unknown", "kind": "fuzzy", "email": "a@b.co" });
        let (out, _) = scrub(&ScrubConfig::default(), doc);
        assert_eq!(out["contexts"]["ScreeningError"]["kind"], "fuzzy");
        assert_eq!(out["contexts"]["ScreeningError"]["email"], FILTERED);
    }

    #[test]
    fn frames_scrub_the_same_once_their_strings_are_remembered() {
        let mut doc = screening_event();
        doc["exception"]["values"][0]["stacktrace"]["frames"][0] = json!({
            "function": "screen",
            "abs_path": "/srv/app/screen.js",
            "lineno": 1,
            "in_app": true,
            "pre_context": ["// reviewer: js@example.org", "const who = 'John Smith';", "am9obkBleGFtcGxlLm9yZw=="],
            "context_line": "throw new ScreeningError(`No sanctions match for ${who}`);",
            "post_context": ["// see /u/john.smith%40example.org", "}"],
        });
        doc["breadcrumbs"]["values"][0]["timestamp"] = json!(1_700_000_000.0);
        let scrubber = Scrubber::new(&ScrubConfig::default());
        let run = |doc: &Value| {
            let mut stack = String::new();
            serde_json::to_value(scrubber.event(event(doc.clone()), Texts(vec![&mut stack])))
                .unwrap()
        };
        let first = run(&doc);
        let frame = &first["exception"]["values"][0]["stacktrace"]["frames"][0];
        assert_eq!(
            frame["pre_context"],
            json!([
                "// reviewer: [email]",
                "const who = '[Filtered]';",
                "[Filtered]"
            ])
        );
        assert_eq!(frame["post_context"][0], "// see /u/[email]");
        assert_eq!(run(&doc), first, "the memo changes nothing");
        // An event that taints nothing keeps the remembered line as it is.
        let plain = json!({
            "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
            "timestamp": 1_700_000_000.0,
            "exception": { "values": [{ "type": "Error", "stacktrace": { "frames": [
                { "function": "screen", "pre_context": ["const who = 'John Smith';"] }
            ]}}]},
        });
        let later = run(&plain);
        let frame = &later["exception"]["values"][0]["stacktrace"]["frames"][0];
        assert_eq!(frame["pre_context"][0], "const who = 'John Smith';");
    }
}
