//! Envelopes as browsers post them, read as bytes (develop.sentry.dev/sdk/data-model/envelopes/):
//! a JSON header line, then items, each a JSON header line and a payload that is either
//! `length` bytes (any bytes, binary attachments included) followed by `\n` or the end, or,
//! without `length`, everything up to the next `\n` or the end.
//!
//! Nothing here is trusted: every length is checked against what is left, and any fault makes
//! the whole envelope malformed. The error says what for the log; the client never sees it.

use serde_json::{Map, Value};

/// Most items an envelope may carry; Sentry's SDKs send a handful.
const MAX_ITEMS: usize = 100;

pub struct Envelope<'a> {
    pub header: Map<String, Value>,
    pub items: Vec<Item<'a>>,
}

pub struct Item<'a> {
    /// The item's `type`: `event`, `session`, `replay_recording`, …
    pub ty: String,
    pub payload: &'a [u8],
}

/// Reads `bytes` as an envelope, or says why it is not one.
pub fn parse(bytes: &[u8]) -> Result<Envelope<'_>, &'static str> {
    let (first, mut rest) = line(bytes);
    let header = object(first).ok_or("the envelope header is not a JSON object")?;
    let mut items = Vec::new();
    while !rest.is_empty() {
        // A newline after the last item is allowed; an empty header line elsewhere is not.
        if rest == b"\n" {
            break;
        }
        if items.len() == MAX_ITEMS {
            return Err("too many items");
        }
        let (head, after) = line(rest);
        let header = object(head).ok_or("an item header is not a JSON object")?;
        let ty = match header.get("type") {
            Some(Value::String(t)) if !t.is_empty() => t.clone(),
            _ => return Err("an item header has no type"),
        };
        let (payload, after) = match header.get("length") {
            None | Some(Value::Null) => line(after),
            Some(length) => {
                let len = length
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or("an item length is not a whole number")?;
                if len > after.len() {
                    return Err("an item length runs past the end");
                }
                let (payload, after) = after.split_at(len);
                match after.split_first() {
                    None => (payload, after),
                    Some((b'\n', after)) => (payload, after),
                    Some(_) => return Err("an item payload is not followed by a newline"),
                }
            }
        };
        items.push(Item { ty, payload });
        rest = after;
    }
    Ok(Envelope { header, items })
}

/// The first line of `bytes` (without its `\n`) and what follows it.
fn line(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(at) => (&bytes[..at], &bytes[at + 1..]),
        None => (bytes, &[]),
    }
}

fn object(line: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(line) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_with_and_without_length_and_binary() {
        let mut body = br#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"https://k@o0.ingest.sentry.io/1"}
{"type":"attachment","length":5,"filename":"a.bin"}
"#
        .to_vec();
        body.extend_from_slice(&[0, b'\n', 0xff, 1, 2]);
        body.extend_from_slice(b"\n{\"type\":\"event\"}\n{\"message\":\"hi\"}\n");
        let e = parse(&body).unwrap();
        assert_eq!(e.items.len(), 2);
        assert_eq!(e.items[0].ty, "attachment");
        assert_eq!(e.items[0].payload, &[0, b'\n', 0xff, 1, 2]);
        assert_eq!(e.items[1].payload, br#"{"message":"hi"}"#);

        // The last payload may end the body without a newline, with or without length.
        let e = parse(b"{}\n{\"type\":\"event\",\"length\":2}\n{}").unwrap();
        assert_eq!(e.items[0].payload, b"{}");
        let e = parse(b"{}\n{\"type\":\"session\"}\n{\"sid\":\"x\"}").unwrap();
        assert_eq!(e.items[0].payload, br#"{"sid":"x"}"#);
        // A header alone is an envelope with no items.
        assert_eq!(parse(b"{}").unwrap().items.len(), 0);
    }

    #[test]
    fn malformed_envelopes_are_refused() {
        for bad in [
            &b""[..],
            b"not json\n",
            b"[]\n",
            b"{}\n{\"length\":2}\n{}",
            b"{}\n{\"type\":\"event\",\"length\":50}\n{}",
            b"{}\n{\"type\":\"event\",\"length\":1}\n{}",
            b"{}\n{\"type\":\"event\",\"length\":-1}\n{}",
            b"{}\n\n{\"type\":\"event\"}\n{}",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
