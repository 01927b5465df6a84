//! The build stage for a browser event: what the SDK sent, read into the protocol's types. Only
//! the fields an error event needs are read (everything else the page sent is left out, so
//! nothing new gets past the scrubber by being unknown to it), the frames go through the same
//! source-map stage as a server error's, and the minified ones are kept in `raw_stacktrace`.

use crate::event::keep_context;
use crate::options::Config;
use crate::sourcemaps::Resolver;
use crate::worker::Built;
use sentry_types::protocol::v7::Event;
use sentry_types::Uuid;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Top-level fields read from a browser event.
const FIELDS: &[&str] = &[
    "level",
    "fingerprint",
    "transaction",
    "message",
    "logentry",
    "logger",
    "timestamp",
    "release",
    "dist",
    "environment",
    "user",
    "request",
    "contexts",
    "breadcrumbs",
    "exception",
    "tags",
    "extra",
    "sdk",
];

/// What is kept when the rest of an event does not parse.
const ESSENTIAL: &[&str] = &[
    "level",
    "timestamp",
    "release",
    "environment",
    "exception",
    "message",
    "sdk",
];

/// Writes what SDKs send in shapes JSON allows but `sentry-types` does not read: lists sent as
/// bare arrays (`"breadcrumbs": […]`, which Relay takes) as `{ "values": […] }`, tag values
/// and a user id that are not strings as strings.
fn as_sentry_types_read(event: &mut Map<String, Value>) {
    for list in ["breadcrumbs", "exception"] {
        if let Some(v @ Value::Array(_)) = event.get_mut(list) {
            *v = serde_json::json!({ "values": v.take() });
        }
    }
    if let Some(Value::Object(tags)) = event.get_mut("tags") {
        for v in tags.values_mut() {
            if !v.is_string() {
                *v = Value::String(v.to_string());
            }
        }
    }
    if let Some(id) = event.get_mut("user").and_then(|u| u.get_mut("id")) {
        if id.is_number() {
            *id = Value::String(id.to_string());
        }
    }
}

/// The `(code_file, debug_id)` pairs of the `sourcemap` images in the page's `debug_meta`,
/// which Sentry's bundler plugins inject: the page's word for which build a chunk came from.
/// They only select an entry of the hidden maps' index; anything else is ignored.
fn sourcemap_debug_ids(sent: &Map<String, Value>) -> Vec<(String, String)> {
    let images = sent
        .get("debug_meta")
        .and_then(|d| d.get("images"))
        .and_then(Value::as_array);
    images
        .into_iter()
        .flatten()
        .filter(|i| i.get("type").and_then(Value::as_str) == Some("sourcemap"))
        .filter_map(|i| {
            let file = i.get("code_file")?.as_str()?;
            let id = i.get("debug_id")?.as_str()?;
            (file.len() <= 2048 && id.len() <= 64).then(|| (file.to_owned(), id.to_owned()))
        })
        .take(256)
        .collect()
}

/// Builds the event the page sent under `event_id`; `Err` when it is no event.
pub fn build(
    payload: &[u8],
    event_id: Uuid,
    config: &Config,
    resolver: &Resolver,
) -> Result<Built, &'static str> {
    let Ok(Value::Object(sent)) = serde_json::from_slice::<Value>(payload) else {
        return Err("the event is not a JSON object");
    };
    let debug_ids = sourcemap_debug_ids(&sent);
    let mut kept: Map<String, Value> = sent
        .into_iter()
        .filter(|(k, _)| FIELDS.contains(&k.as_str()))
        .collect();
    as_sentry_types_read(&mut kept);
    // A field in a shape the protocol's types do not take must not cost the error: without the
    // fields around it, the exception still arrives.
    let mut event: Event<'static> = serde_json::from_value(Value::Object(kept.clone()))
        .or_else(|_| {
            kept.retain(|k, _| ESSENTIAL.contains(&k.as_str()));
            serde_json::from_value(Value::Object(kept))
        })
        .map_err(|_| "the event does not parse")?;
    event.event_id = event_id;
    event.platform = Cow::Borrowed("javascript");
    if event.release.is_none() {
        event.release = config.release.clone().map(Cow::Owned);
    }
    if event.environment.is_none() {
        event.environment = Some(Cow::Owned(config.environment.clone()));
    }
    for exception in event.exception.values.iter_mut() {
        let Some(stacktrace) = exception.stacktrace.as_mut() else {
            continue;
        };
        let raw = stacktrace.clone();
        // Through the hidden maps' index only (`sourcemapsDir`): by the chunk's URL, else by
        // the debug id the page's SDK reported for it.
        resolver.set_sourcemaps_dir(&config.sourcemaps_dir);
        resolver.resolve_with_debug_ids(&mut stacktrace.frames, &debug_ids);
        for frame in stacktrace.frames.iter_mut() {
            keep_context(frame, config.context_lines);
        }
        if stacktrace.frames != raw.frames {
            exception.raw_stacktrace = Some(raw);
        }
    }
    Ok(Built {
        event,
        debug_images: Vec::new(),
        stack: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_browser_sdk_sends_is_read() {
        let sent = serde_json::json!({
            "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
            "platform": "javascript",
            "timestamp": 1767225600.123,
            "breadcrumbs": [{ "timestamp": 1767225599.5, "category": "console", "level": "log",
                              "message": "x" }],
            "exception": { "values": [{ "type": "Error", "value": "boom",
                "stacktrace": { "frames": [{ "filename": "https://a.example/_next/static/chunks/x.js",
                                             "function": "r", "lineno": 1, "colno": 2, "in_app": true }] } }] },
            "tags": { "n": 1 },
            "user": { "id": 7 },
            "spans": [], "debug_meta": { "images": [{ "type": "sourcemap", "code_file": "x" }] }
        });
        let config = Config::resolve(&Value::Null, |_| None).unwrap();
        let built = build(
            &serde_json::to_vec(&sent).unwrap(),
            Uuid::new_v4(),
            &config,
            &Resolver::new(),
        )
        .unwrap();
        assert_eq!(built.event.breadcrumbs.values.len(), 1);
        assert_eq!(
            built.event.exception.values[0].value.as_deref(),
            Some("boom")
        );
        assert_eq!(built.event.tags["n"], "1");
        assert_eq!(built.event.user.unwrap().id.as_deref(), Some("7"));
        assert_eq!(built.event.platform, "javascript");

        // A field in an odd shape costs that field, not the error.
        let odd = serde_json::json!({ "exception": sent["exception"], "contexts": { "trace": 5 } });
        let built = build(
            &serde_json::to_vec(&odd).unwrap(),
            Uuid::new_v4(),
            &config,
            &Resolver::new(),
        )
        .unwrap();
        assert_eq!(built.event.exception.values.len(), 1);
        assert!(build(b"[1]", Uuid::new_v4(), &config, &Resolver::new()).is_err());
    }
}
