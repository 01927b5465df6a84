//! The fast way in, for what `fast.js` (beside this file) has already read in JavaScript.
//!
//! Each Node-API property read costs 100 to 300 ns on a small server, because V8 runs it
//! through its generic lookup inside a fresh `TryCatch`; the same read in JavaScript costs a
//! few nanoseconds, and `JSON.stringify` copies a small object faster than walking it from
//! here. So for the common case (a native Error with no `cause` or `errors`, and context,
//! scope and own properties that JSON carries exactly) the JS half reads the fields and hands
//! over strings in one call, copied into one buffer; the worker cuts it up and parses the
//! JSON. Everything else goes to `capture`, which handles any value;
//! `__test__/capture-paths.test.mjs` checks that both ways give the same event.

use super::js::{self, Js, Kind, Val};
use super::{Captured, Thrown, MESSAGE_BYTES, STACK_BYTES};
use serde_json::Value;
use std::ops::Range;

/// The arguments of `captureFields`, in order.
pub const FIELDS: usize = 6;
const TYPE: usize = 0;
const MESSAGE: usize = 1;
const STACK: usize = 2;
const PROPS: usize = 3;
const CONTEXT: usize = 4;
const SCOPE: usize = 5;

/// Most UTF-8 bytes kept of each argument, as the native reads keep them.
const LIMITS: [usize; FIELDS] = [
    256,
    MESSAGE_BYTES,
    STACK_BYTES,
    usize::MAX,
    usize::MAX,
    usize::MAX,
];

/// Where each argument's text is (named apart: serde's derive has a `FIELDS` of its own).
type Spans = [Option<Range<usize>>; FIELDS];

/// What the fast path copied: all six arguments' text in one allocation, because on the calling
/// thread each allocation is a trip through the allocator's lock that the worker, freeing what
/// it is done with, also takes. The worker cuts it into fields (`unpack`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Packed {
    text: String,
    /// Where each argument's text is in `text`; `None` for one that was not a string.
    spans: Spans,
    /// The message's full UTF-8 length, before any cut.
    message_len: usize,
}

/// Reads `captureFields(type, message, stack, props, context, scope)`: the exception type as
/// `capture` would name it, `message` and `stack` as the error has them (a non-string stack
/// as `undefined`), and the rest as JSON text or `undefined`.
pub fn fields(js: &Js, args: [Val; FIELDS]) -> Captured {
    let packed = js::with_scratch(|buf| {
        let mut spans: [Option<Range<usize>>; FIELDS] = Default::default();
        let mut message_len = 0;
        for (i, v) in args.into_iter().enumerate() {
            // The message is read whatever it is, as the native copy reads it: the JS half
            // only ever sends a string.
            if i != MESSAGE && js.kind(v) != Kind::String {
                continue;
            }
            let start = buf.len();
            if let Some(len) = js.append_text(v, LIMITS[i], buf) {
                spans[i] = Some(start..buf.len());
                if i == MESSAGE {
                    message_len = len;
                }
            }
        }
        match String::from_utf8(buf.clone()) {
            Ok(text) => Packed {
                text,
                spans,
                message_len,
            },
            // Never seen (V8 writes valid UTF-8); each field on its own, so spans stay whole.
            Err(e) => Packed::lossy(e.as_bytes(), spans, message_len),
        }
    });
    Captured {
        packed: Some(packed),
        ..Captured::default()
    }
}

impl Packed {
    fn lossy(bytes: &[u8], spans: [Option<Range<usize>>; FIELDS], message_len: usize) -> Packed {
        let mut text = String::new();
        let spans = spans.map(|span| {
            let start = text.len();
            text.push_str(&String::from_utf8_lossy(&bytes[span?]));
            Some(start..text.len())
        });
        Packed {
            text,
            spans,
            message_len,
        }
    }

    fn field(&self, i: usize) -> Option<&str> {
        self.spans[i].clone().map(|span| &self.text[span])
    }

    /// Gives `captured` the values the native reads would have made. On the worker.
    pub(super) fn heap_bytes(&self) -> usize {
        self.text.capacity()
    }

    pub(super) fn unpack(self, captured: &mut Captured) {
        let mut thrown = Thrown {
            ty: self.field(TYPE).unwrap_or("Error").to_owned(),
            message: self.field(MESSAGE).unwrap_or_default().to_owned(),
            message_len: self.message_len,
            stack: self.field(STACK).map(str::to_owned),
            is_error: true,
            ..Thrown::default()
        };
        if let Some(Value::Object(props)) = parse(self.field(PROPS)) {
            thrown.props = props;
        }
        captured.exceptions = vec![thrown];
        captured.context = parse(self.field(CONTEXT));
        captured.scope = parse(self.field(SCOPE));
    }
}

fn parse(text: Option<&str>) -> Option<Value> {
    // The JS half only sends what JSON.stringify wrote, so a failure means a bug there; keep
    // the event and mark the value.
    text.map(|t| serde_json::from_str(t).unwrap_or_else(|_| Value::from("[Unreadable]")))
}
