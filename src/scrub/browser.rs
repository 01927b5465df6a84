//! What a browser event needs beyond the policy every event gets (`Scrubber::event`). A page
//! knows things a server error does not: the URL the user typed or was sent to, what the app
//! logged to the console, who is signed in. The rules, in the order they run:
//!
//! | where | rule | why |
//! |---|---|---|
//! | the whole event | the full policy first, by key then by value | a personal key in the page's query (`?name=…`) taints its value everywhere, the message included |
//! | `request.url`, `request.headers.Referer`, breadcrumb URLs (`data.url`, `from`, `to`) | query and fragment removed | search terms, tokens and form fields travel there |
//! | `request` | only `url`, `method` and the `User-Agent` and `Referer` headers kept | the SDK sends no more; anything else came from elsewhere |
//! | console breadcrumbs | message `[Filtered]`, data (the logged arguments) removed | apps log whole objects: form state, API replies |
//! | `user` | only `id` kept (pseudonymised with `userIdSalt`); `email`, `ip_address` (`{{auto}}` too), `username`, `geo`, `data` go | who the user is stays on the server |
//! | `sdk.settings.infer_ip` | `never` (set as the envelope is written) | Sentry would otherwise fill in the address it sees |
//!
//! A page's release health and client reports (`browser_item`) are rebuilt from their known
//! fields only, each checked, and refused when the shape is wrong:
//!
//! | item | kept | removed, and why |
//! |---|---|---|
//! | `session` | `sid`, `seq`, `init`, `started`, `timestamp`, `duration`, `status`, `errors`, `abnormal_mechanism`, `attrs.release`, `attrs.environment` | `did` (the distinct id: the SDK fills it with the user's id or email); `attrs.ip_address` (`{{auto}}` would make Sentry fill in the address it sees: without it nothing is inferred); `attrs.user_agent` (a fingerprinting aid crash-free rates do not need; the event keeps its `User-Agent`) |
//! | `sessions` | per aggregate `started`, `exited`, `errored`, `abnormal`, `crashed`; `attrs.release`, `attrs.environment` | `did` per aggregate, `attrs.ip_address`, `attrs.user_agent`, as above |
//! | `client_report` | `timestamp`, `discarded_events[]` of `reason`, `category` (short identifiers) and `quantity` | anything else: a report is counts, never text from the page |

use super::policy::FILTERED;
use super::{Scrubber, Texts};
use sentry_types::protocol::v7::{Event, Request, Url, User};
use serde_json::{Map, Value};

/// Request headers a browser event keeps (after the policy has scrubbed them).
const KEPT_HEADERS: &[&str] = &["user-agent", "referer"];
/// Breadcrumb data fields that hold URLs.
const URL_FIELDS: &[&str] = &["url", "from", "to"];

impl Scrubber {
    /// A browser event with its personal data removed: the full policy, then the rules above.
    pub fn browser_event(&self, event: Event<'static>, texts: Texts<'_>) -> Event<'static> {
        let mut event = self.event(event, texts);
        event.request = event.request.take().map(|r| Request {
            url: r.url.map(without_query),
            method: r.method,
            headers: r
                .headers
                .into_iter()
                .filter(|(k, _)| KEPT_HEADERS.contains(&k.to_ascii_lowercase().as_str()))
                .map(|(k, v)| (k, text_without_query(&v)))
                .collect(),
            ..Request::default()
        });
        for crumb in event.breadcrumbs.values.iter_mut() {
            if crumb.category.as_deref() == Some("console") {
                crumb.message = crumb.message.as_ref().map(|_| FILTERED.to_owned());
                crumb.data.clear();
                continue;
            }
            for field in URL_FIELDS {
                if let Some(serde_json::Value::String(s)) = crumb.data.get_mut(*field) {
                    *s = text_without_query(s);
                }
            }
        }
        event.user = event.user.take().and_then(|u| {
            u.id.map(|id| User {
                id: Some(id),
                ..User::default()
            })
        });
        event.server_name = None;
        event
    }
}

/// A browser's non-event item kept by the tunnel, rebuilt from its known fields.
pub struct BrowserItem {
    pub payload: Value,
    pub release: Option<String>,
    pub environment: Option<String>,
}

/// Longest release Sentry takes; environments are shorter.
const MAX_RELEASE: usize = 200;
const MAX_ENVIRONMENT: usize = 64;
/// Timestamps (RFC 3339 or seconds), identifiers, statuses: short by nature.
const MAX_SHORT: usize = 64;
/// Most aggregates or discarded-event counts one item may carry.
const MAX_ENTRIES: usize = 1000;

/// A `session`, `sessions` or `client_report` payload as it may leave the app (table above), or
/// why it is refused.
pub fn browser_item(ty: &str, payload: &[u8]) -> Result<BrowserItem, &'static str> {
    let Ok(Value::Object(input)) = serde_json::from_slice::<Value>(payload) else {
        return Err("not a JSON object");
    };
    match ty {
        "session" => {
            let mut out = Map::new();
            if !input.get("sid").is_some_and(|v| short_text(v, MAX_SHORT)) {
                return Err("a session without a usable sid");
            }
            copy(&input, &mut out, "sid", |v| short_text(v, MAX_SHORT));
            copy(&input, &mut out, "seq", Value::is_u64);
            copy(&input, &mut out, "init", Value::is_boolean);
            copy(&input, &mut out, "errors", Value::is_u64);
            copy(&input, &mut out, "duration", |v| {
                v.as_f64().is_some_and(|d| d >= 0.0)
            });
            for key in ["started", "timestamp"] {
                copy(&input, &mut out, key, instant);
            }
            copy(&input, &mut out, "status", |v| {
                matches!(
                    v.as_str(),
                    Some("ok" | "exited" | "crashed" | "abnormal" | "errored")
                )
            });
            copy(&input, &mut out, "abnormal_mechanism", identifier);
            let (attrs, release, environment) = attrs(&input)?;
            out.insert("attrs".to_owned(), attrs);
            Ok(BrowserItem {
                payload: Value::Object(out),
                release,
                environment,
            })
        }
        "sessions" => {
            let Some(Value::Array(aggregates)) = input.get("aggregates") else {
                return Err("sessions without aggregates");
            };
            if aggregates.is_empty() || aggregates.len() > MAX_ENTRIES {
                return Err("sessions with no or too many aggregates");
            }
            let mut kept = Vec::with_capacity(aggregates.len());
            for aggregate in aggregates {
                let Value::Object(aggregate) = aggregate else {
                    return Err("an aggregate is not an object");
                };
                let mut out = Map::new();
                if !aggregate.get("started").is_some_and(instant) {
                    return Err("an aggregate without started");
                }
                copy(aggregate, &mut out, "started", instant);
                for key in ["exited", "errored", "abnormal", "crashed"] {
                    copy(aggregate, &mut out, key, |v| {
                        v.as_u64().is_some_and(|n| n <= u64::from(u32::MAX))
                    });
                }
                kept.push(Value::Object(out));
            }
            let (attrs, release, environment) = attrs(&input)?;
            let payload = serde_json::json!({ "aggregates": kept, "attrs": attrs });
            Ok(BrowserItem {
                payload,
                release,
                environment,
            })
        }
        "client_report" => {
            let mut out = Map::new();
            copy(&input, &mut out, "timestamp", instant);
            let Some(Value::Array(discarded)) = input.get("discarded_events") else {
                return Err("a client report without discarded_events");
            };
            if discarded.is_empty() || discarded.len() > MAX_ENTRIES {
                return Err("a client report with no or too many entries");
            }
            let mut kept = Vec::with_capacity(discarded.len());
            for entry in discarded {
                let (Some(reason), Some(category), Some(quantity)) = (
                    entry.get("reason").filter(|v| identifier(v)),
                    entry.get("category").filter(|v| identifier(v)),
                    entry.get("quantity").filter(|v| v.is_u64()),
                ) else {
                    return Err("a discarded_events entry is not reason, category, quantity");
                };
                kept.push(serde_json::json!({
                    "reason": reason, "category": category, "quantity": quantity
                }));
            }
            out.insert("discarded_events".to_owned(), Value::Array(kept));
            Ok(BrowserItem {
                payload: Value::Object(out),
                release: None,
                environment: None,
            })
        }
        _ => Err("not an item the tunnel keeps"),
    }
}

/// `attrs` with `release` (required) and `environment` only, and the two as text.
fn attrs(
    input: &Map<String, Value>,
) -> Result<(Value, Option<String>, Option<String>), &'static str> {
    let attrs = input.get("attrs").and_then(Value::as_object);
    let release = attrs
        .and_then(|a| a.get("release"))
        .filter(|v| short_text(v, MAX_RELEASE))
        .and_then(Value::as_str)
        .ok_or("no usable attrs.release")?;
    let environment = attrs
        .and_then(|a| a.get("environment"))
        .filter(|v| short_text(v, MAX_ENVIRONMENT))
        .and_then(Value::as_str);
    let mut out = Map::new();
    out.insert("release".to_owned(), Value::from(release));
    if let Some(environment) = environment {
        out.insert("environment".to_owned(), Value::from(environment));
    }
    Ok((
        Value::Object(out),
        Some(release.to_owned()),
        environment.map(str::to_owned),
    ))
}

/// Copies `input[key]` to `out` when it is there and `valid`.
fn copy(
    input: &Map<String, Value>,
    out: &mut Map<String, Value>,
    key: &str,
    valid: impl Fn(&Value) -> bool,
) {
    if let Some(v) = input.get(key).filter(|v| valid(v)) {
        out.insert(key.to_owned(), v.clone());
    }
}

/// Non-empty text of at most `max` characters, without control characters.
fn short_text(v: &Value, max: usize) -> bool {
    v.as_str().is_some_and(|s| {
        !s.is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
    })
}

/// A point in time: RFC 3339 text (checked for its shape by Sentry) or seconds.
fn instant(v: &Value) -> bool {
    short_text(v, MAX_SHORT) || v.as_f64().is_some_and(|n| n >= 0.0)
}

/// A short lowercase identifier, as reasons, categories and mechanisms are (`queue_overflow`,
/// `error`, `unhandled_rejection`…): never free text.
fn identifier(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        !s.is_empty()
            && s.len() <= MAX_SHORT
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    })
}

fn without_query(mut url: Url) -> Url {
    url.set_query(None);
    url.set_fragment(None);
    url
}

/// `text` up to its first `?` or `#`.
fn text_without_query(text: &str) -> String {
    text.split(['?', '#']).next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::super::ScrubConfig;
    use super::*;
    use serde_json::json;

    #[test]
    fn the_browser_rules_hold() {
        let event: Event<'static> = serde_json::from_value(json!({
            "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
            "message": "Screening failed for Adaeze Okonkwo",
            "request": {
                "url": "https://app.example/screen?name=Adaeze%20Okonkwo&dob=1984-03-17#x",
                "headers": {
                    "User-Agent": "Mozilla/5.0",
                    "Referer": "https://app.example/list?q=Adaeze",
                    "Cookie": "session=abc"
                }
            },
            "breadcrumbs": { "values": [
                { "category": "console", "message": "state {\"dob\":\"1984-03-17\"}",
                  "data": { "arguments": ["state", { "dob": "1984-03-17" }] } },
                { "category": "navigation", "data": { "from": "/a?name=Adaeze", "to": "/b#dob" } },
                { "category": "fetch", "data": { "url": "/api/screen?q=Okonkwo", "method": "GET" } }
            ] },
            "user": { "id": "u1", "email": "a@b.example", "ip_address": "{{auto}}",
                      "username": "adaeze", "geo": { "city": "Leeds" } }
        }))
        .unwrap();
        let out = Scrubber::new(&ScrubConfig::default()).browser_event(event, Texts(vec![]));
        let text = serde_json::to_string(&out).unwrap();
        for planted in [
            "Adaeze",
            "Okonkwo",
            "1984-03-17",
            "a@b.example",
            "{{auto}}",
            "Leeds",
            "session=",
        ] {
            assert!(!text.contains(planted), "{planted} in {text}");
        }
        let request = out.request.unwrap();
        assert_eq!(request.url.unwrap().as_str(), "https://app.example/screen");
        assert_eq!(request.headers.len(), 2);
        assert_eq!(out.breadcrumbs.values[0].message.as_deref(), Some(FILTERED));
        assert_eq!(out.breadcrumbs.values[1].data["from"], "/a");
        assert_eq!(out.breadcrumbs.values[2].data["url"], "/api/screen");
        assert_eq!(out.user.unwrap().id.as_deref(), Some("u1"));
    }

    #[test]
    fn sessions_lose_did_ip_and_user_agent_and_reports_keep_counts_only() {
        let session = json!({
            "sid": "7c7b6e2a7a8e4a5c9b1d2e3f4a5b6c7d", "did": "adaeze@example.com", "init": true,
            "started": "2026-12-03T10:00:00.000Z", "timestamp": "2026-12-03T10:00:01.000Z",
            "status": "ok", "errors": 0, "duration": 1.5, "extra": "Adaeze",
            "attrs": { "release": "app@1", "environment": "production",
                       "ip_address": "{{auto}}", "user_agent": "Mozilla/5.0" }
        });
        let out = browser_item("session", session.to_string().as_bytes()).unwrap();
        let text = out.payload.to_string();
        for gone in [
            "did",
            "adaeze",
            "Adaeze",
            "{{auto}}",
            "ip_address",
            "user_agent",
            "Mozilla",
        ] {
            assert!(!text.contains(gone), "{gone} in {text}");
        }
        assert_eq!(
            out.payload["attrs"],
            json!({ "release": "app@1", "environment": "production" })
        );
        assert_eq!(out.payload["status"], "ok");
        assert_eq!(out.release.as_deref(), Some("app@1"));

        let aggregates = json!({
            "aggregates": [{ "started": "2026-12-03T10:00:00Z", "did": "u1", "exited": 3 }],
            "attrs": { "release": "app@1", "ip_address": "{{auto}}" }
        });
        let out = browser_item("sessions", aggregates.to_string().as_bytes()).unwrap();
        assert_eq!(
            out.payload,
            json!({ "aggregates": [{ "started": "2026-12-03T10:00:00Z", "exited": 3 }],
                    "attrs": { "release": "app@1" } })
        );

        let report = json!({ "timestamp": 1764756000.5, "note": "Adaeze",
            "discarded_events": [{ "reason": "queue_overflow", "category": "error", "quantity": 2 }] });
        let out = browser_item("client_report", report.to_string().as_bytes()).unwrap();
        assert_eq!(
            out.payload,
            json!({ "timestamp": 1764756000.5,
                    "discarded_events": [{ "reason": "queue_overflow", "category": "error", "quantity": 2 }] })
        );

        for (ty, bad) in [
            ("session", json!({ "attrs": { "release": "app@1" } })),
            ("session", json!({ "sid": "x" })),
            (
                "sessions",
                json!({ "aggregates": [], "attrs": { "release": "a" } }),
            ),
            (
                "client_report",
                json!({ "discarded_events": [{ "reason": "Adaeze Okonkwo", "category": "error", "quantity": 1 }] }),
            ),
            ("client_report", json!([])),
            ("replay_event", json!({})),
        ] {
            assert!(
                browser_item(ty, bad.to_string().as_bytes()).is_err(),
                "{ty} {bad}"
            );
        }
    }
}
