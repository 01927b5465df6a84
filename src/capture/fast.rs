//! The fast way in, for what `fast.js` (beside this file) has already read in JavaScript.
//!
//! Each Node-API property read costs 100 to 300 ns on a small server, because V8 runs it
//! through its generic lookup inside a fresh `TryCatch`; the same read in JavaScript costs a
//! few nanoseconds, and `JSON.stringify` copies a small object faster than walking it from
//! here. So for the common case (a native Error with no `cause` or `errors`, and context,
//! scope and own properties that JSON carries exactly) the JS half reads the fields and hands
//! over strings in one call, and the JSON is parsed on the worker. Everything else goes to
//! `capture`, which handles any value; `__test__/capture-paths.test.mjs` checks that both ways
//! give the same event.

use super::js::{Js, Kind, Val};
use super::{Captured, Thrown, MESSAGE_BYTES, STACK_BYTES};
use serde_json::Value;

/// The arguments of `captureFields`, in order.
pub const FIELDS: usize = 6;

/// JSON text for values the native reads would have snapshotted.
#[derive(Debug)]
pub struct Json {
    props: Option<String>,
    context: Option<String>,
    scope: Option<String>,
}

/// Reads `captureFields(type, message, stack, props, context, scope)`: the exception type as
/// `capture` would name it, `message` and `stack` as the error has them (a non-string stack
/// as `undefined`), and the rest as JSON text or `undefined`.
pub fn fields(js: &Js, [ty, message, stack, props, context, scope]: [Val; FIELDS]) -> Captured {
    let string = |v: Val, limit: usize| match js.kind(v) {
        Kind::String => js.text(v, limit),
        _ => None,
    };
    let (message, message_len) = js.text_and_len(message, MESSAGE_BYTES).unwrap_or_default();
    let json = |v: Val| string(v, usize::MAX);
    Captured {
        exceptions: vec![Thrown {
            ty: string(ty, 256).unwrap_or_else(|| "Error".to_owned()),
            message,
            message_len,
            stack: string(stack, STACK_BYTES),
            is_error: true,
            ..Thrown::default()
        }],
        json: Some(Box::new(Json {
            props: json(props),
            context: json(context),
            scope: json(scope),
        })),
        ..Captured::default()
    }
}

impl Json {
    pub(super) fn apply(self, captured: &mut Captured) {
        if let (Some(Value::Object(props)), Some(thrown)) =
            (parse(self.props), captured.exceptions.first_mut())
        {
            thrown.props = props;
        }
        captured.context = parse(self.context);
        captured.scope = parse(self.scope);
    }
}

fn parse(text: Option<String>) -> Option<Value> {
    // The JS half only sends what JSON.stringify wrote, so a failure means a bug there; keep
    // the event and mark the value.
    text.map(|t| serde_json::from_str(&t).unwrap_or_else(|_| Value::from("[Unreadable]")))
}
