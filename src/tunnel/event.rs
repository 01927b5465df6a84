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
    let kept: Map<String, Value> = sent
        .into_iter()
        .filter(|(k, _)| FIELDS.contains(&k.as_str()))
        .collect();
    let mut event: Event<'static> =
        serde_json::from_value(Value::Object(kept)).map_err(|_| "the event does not parse")?;
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
        resolver.resolve(&mut stacktrace.frames);
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
