//! The legacy wire format: `{"errors":[item, …]}`, one item per event (see README, "Legacy
//! endpoint format").

use super::super::{Content, Finished};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub fn item(f: &Finished, content: &Content) -> Value {
    let event = &content.event;
    let main = event.exception.values.last();
    let timestamp = OffsetDateTime::from(event.timestamp)
        .format(&Rfc3339)
        .unwrap_or_default();
    json!({
        "eventId": event.event_id.simple().to_string(),
        "timestamp": timestamp,
        "level": event.level.to_string(),
        // A message (`captureMessage`) has no exception: name "Message", its text.
        "name": main.map_or(if event.logentry.is_some() { "Message" } else { "Error" }, |e| e.ty.as_str()),
        "message": main
            .and_then(|e| e.value.as_deref())
            .or(event.logentry.as_ref().map(|l| l.message.as_str()))
            .unwrap_or(""),
        "stack": content.stack,
        // Resolved through source maps, innermost first as a stack reads.
        "frames": main
            .and_then(|e| e.stacktrace.as_ref())
            .map(|st| st.frames.iter().rev().map(|f| json!({
                "function": f.function,
                "file": f.filename.as_ref().or(f.abs_path.as_ref()),
                "line": f.lineno,
                "column": f.colno,
                "inApp": f.in_app.unwrap_or(false),
            })).collect::<Vec<_>>())
            .unwrap_or_default(),
        "fingerprint": f.fingerprint,
        "release": event.release,
        "environment": event.environment,
        "context": event.extra,
        "user": event.user,
    })
}

/// Serialises one batch body.
pub fn batch(items: &[&Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "errors": items })).unwrap_or_default()
}
