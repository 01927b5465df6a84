//! The bytes on the wire: an envelope holding one event, or one item of another kind
//! (`sessions`, a browser's `session` or `client_report`)
//! (develop.sentry.dev/sdk/data-model/envelopes/). The event is serialised by `sentry-types`;
//! the framing is written here because the event may need a `debug_meta` image of type
//! `sourcemap`, which `sentry-types` does not model. The header leaves out the optional `dsn`:
//! only tunnels need it.

use super::super::Content;
use serde_json::{json, Value};
use std::io;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub fn encode(content: &Content) -> io::Result<Vec<u8>> {
    if let Some(sessions) = &content.sessions {
        // No `event` item, so no `sdk.settings.infer_ip` to set: a session's `attrs.ip_address`
        // (the only field Sentry fills in from the sender's address) was removed by the tunnel.
        return encode_item(
            json!({}),
            content.item_type(),
            &serde_json::to_vec(sessions)?,
        );
    }
    let mut event = serde_json::to_value(&content.event)?;
    if !content.debug_images.is_empty() {
        let images: Vec<Value> = content
            .debug_images
            .iter()
            .map(|i| json!({ "type": "sourcemap", "code_file": i.code_file, "debug_id": i.debug_id }))
            .collect();
        event["debug_meta"] = json!({ "images": images });
    }
    // A browser event: Sentry must not fill in the address it sees (the server's, here).
    if content.event.platform == "javascript" {
        if let Some(sdk) = event.get_mut("sdk").and_then(Value::as_object_mut) {
            sdk.insert("settings".to_owned(), json!({ "infer_ip": "never" }));
        }
    }
    let payload = serde_json::to_vec(&event)?;
    let header = json!({ "event_id": content.event.event_id.simple().to_string() });
    encode_item(header, "event", &payload)
}

/// An envelope of one item: `header` (with `sent_at` added), then the item.
fn encode_item(mut header: Value, ty: &str, payload: &[u8]) -> io::Result<Vec<u8>> {
    let sent_at = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .map_err(io::Error::other)?;
    header["sent_at"] = Value::from(sent_at);
    let item = json!({ "type": ty, "length": payload.len() });
    let mut out = Vec::with_capacity(payload.len() + 200);
    serde_json::to_writer(&mut out, &header)?;
    out.push(b'\n');
    serde_json::to_writer(&mut out, &item)?;
    out.push(b'\n');
    out.extend_from_slice(payload);
    out.push(b'\n');
    Ok(out)
}
