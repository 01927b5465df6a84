//! Stage 1, on the calling thread: copy what the thrown value says into Rust values and
//! nothing more. Parsing, scrubbing and encoding wait for the worker.

mod fast;
mod js;
mod snapshot;

pub use fast::{fields, FIELDS};

pub use js::Js;
use js::{Kind, Val};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use snapshot::Limits;

/// Longest exception message kept, in UTF-8 bytes (Relay trims longer values anyway).
const MESSAGE_BYTES: usize = 8 * 1024;
/// Longest stack string kept. Generous because a huge message is repeated in the stack's
/// header and the frames come after it.
const STACK_BYTES: usize = 4 * 1024 * 1024;
/// Most exceptions kept from one thrown value: the error, its causes and aggregate members.
const MAX_LINKED: usize = 10;
/// Properties that are the exception itself or its links, not extra data.
const NOT_PROPS: &[&str] = &["name", "message", "stack", "cause", "errors"];

/// One exception as thrown: the error itself or one it links to.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Thrown {
    /// Exception type: the error's `name` (or constructor name for an unnamed subclass).
    pub ty: String,
    pub message: String,
    /// The message's full length in UTF-8 bytes, before any cut: where the stack's header
    /// ends, so that text in the message is never read as frames.
    pub message_len: usize,
    /// `err.stack` as V8 printed it.
    pub stack: Option<String>,
    /// The error's own enumerable properties (`code`, `status`, …).
    pub props: Map<String, Value>,
    /// False when a non-Error value was thrown (a string, a plain object, null …).
    pub is_error: bool,
    /// How this exception hangs off its parent: `"cause"` or `"errors[i]"`.
    pub link: Option<(usize, String)>,
}

/// Everything the worker needs about one `trackError` call. Serialisable for the buffer's
/// encrypted spill (`buffer.rs`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Captured {
    /// The thrown value first, then what it links to, parents before children.
    pub exceptions: Vec<Thrown>,
    pub context: Option<Value>,
    pub scope: Option<Value>,
    /// Set when nobody handled the error (the process-wide handlers): the mechanism type, such
    /// as `onuncaughtexception`.
    pub unhandled: Option<String>,
    /// What the fast path copied as text rather than values; see `unpack`.
    packed: Option<fast::Packed>,
    /// `captureMessage`'s text: the event is a message, with no exception.
    #[serde(default)]
    pub message: Option<String>,
    /// Not an error: release-health counts, the payload of a `sessions` item (`sessions.rs`).
    #[serde(default)]
    pub sessions: Option<Value>,
}

impl Captured {
    /// Turns the text the fast path copied into the values the native reads would have
    /// made. Runs on the worker, so the calling thread pays for one string copy only.
    pub fn unpack(&mut self) {
        if let Some(packed) = self.packed.take() {
            packed.unpack(self);
        }
    }

    /// About how many bytes it holds on the heap, for the buffer's cap: exact for the fast
    /// path's one buffer, an estimate (strings plus a node's size per value) for the rest.
    pub fn heap_bytes(&self) -> usize {
        let thrown = |t: &Thrown| {
            std::mem::size_of::<Thrown>()
                + t.ty.capacity()
                + t.message.capacity()
                + t.stack.as_ref().map_or(0, String::capacity)
                + t.props
                    .iter()
                    .map(|(k, v)| k.capacity() + value_bytes(v))
                    .sum::<usize>()
        };
        self.exceptions.iter().map(thrown).sum::<usize>()
            + self.context.as_ref().map_or(0, value_bytes)
            + self.scope.as_ref().map_or(0, value_bytes)
            + self.packed.as_ref().map_or(0, fast::Packed::heap_bytes)
            + self.message.as_ref().map_or(0, String::capacity)
            + self.sessions.as_ref().map_or(0, value_bytes)
    }
}

fn value_bytes(v: &Value) -> usize {
    std::mem::size_of::<Value>()
        + match v {
            Value::String(s) => s.capacity(),
            Value::Array(items) => items.iter().map(value_bytes).sum(),
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| k.capacity() + 32 + value_bytes(v))
                .sum(),
            _ => 0,
        }
}

pub fn capture(js: &Js, error: Val, context: Option<Val>, scope: Option<Val>) -> Captured {
    Captured {
        exceptions: exceptions(js, error),
        context: context.map(|c| snapshot::snapshot(js, c, Limits::CONTEXT)),
        scope: scope.map(|s| snapshot::snapshot(js, s, Limits::CONTEXT)),
        unhandled: None,
        packed: None,
        message: None,
        sessions: None,
    }
}

impl Captured {
    /// Release-health counts (`sessions.rs`), which travel like an error.
    pub fn sessions(payload: Value) -> Captured {
        Captured {
            sessions: Some(payload),
            ..Captured::default()
        }
    }
}

/// `captureMessage(message, level?, scope?)`: the text (anything else as `String()` makes
/// it), with `level` over the scope's.
pub fn message(js: &Js, text: Val, level: Option<Val>, scope: Option<Val>) -> Captured {
    let text = match js.kind(text) {
        Kind::String => js.text(text, MESSAGE_BYTES),
        _ => js.coerce_string(text, MESSAGE_BYTES),
    };
    let mut scope = scope.map(|s| snapshot::snapshot(js, s, Limits::CONTEXT));
    if let Some(level) = level.filter(|l| js.kind(*l) == Kind::String) {
        let level = js.text(level, 16).map_or(Value::Null, Value::from);
        match &mut scope {
            Some(Value::Object(scope)) => {
                scope.insert("level".to_owned(), level);
            }
            _ => scope = Some(serde_json::json!({ "level": level })),
        }
    }
    Captured {
        message: Some(text.unwrap_or_default()),
        scope,
        ..Captured::default()
    }
}

/// Snapshots an argument the tracker reads as settings (options, Next's request and route):
/// bounded like context, with `undefined` as JSON has it, so `{ dsn: undefined }` reads as
/// not given.
pub fn to_json(js: &Js, v: Val) -> Value {
    snapshot::snapshot(js, v, Limits::ARGUMENTS)
}

fn exceptions(js: &Js, error: Val) -> Vec<Thrown> {
    let mut out = Vec::with_capacity(1);
    let mut seen: Vec<Val> = Vec::new();
    let mut todo: Vec<(Val, Option<(usize, String)>)> = vec![(error, None)];
    while let Some((value, link)) = todo.pop() {
        if out.len() >= MAX_LINKED {
            break;
        }
        let is_object = js.kind(value) == Kind::Object;
        if is_object && seen.iter().any(|s| js.same(*s, value)) {
            continue;
        }
        let index = out.len();
        let mut thrown = if is_object {
            seen.push(value);
            let links = links(js, value, index);
            // Reverse so the first link is popped (and numbered) first.
            todo.extend(links.into_iter().rev());
            object(js, value)
        } else {
            primitive(js, value)
        };
        thrown.link = link;
        out.push(thrown);
    }
    out
}

fn links(js: &Js, value: Val, index: usize) -> Vec<(Val, Option<(usize, String)>)> {
    let mut links = Vec::new();
    if let Some(cause) = js
        .get(value, c"cause")
        .filter(|c| js.kind(*c) != Kind::Undefined)
    {
        links.push((cause, Some((index, "cause".to_owned()))));
    }
    if let Some(errors) = js.get(value, c"errors").filter(|e| js.is_array(*e)) {
        let n = js.array_len(errors).min(MAX_LINKED as u32);
        for i in 0..n {
            if let Some(member) = js.get_index(errors, i) {
                links.push((member, Some((index, format!("errors[{i}]")))));
            }
        }
    }
    links
}

fn read_string(js: &Js, obj: Val, name: &'static std::ffi::CStr, limit: usize) -> Option<String> {
    let v = js.get(obj, name)?;
    if js.kind(v) != Kind::String {
        return None;
    }
    js.text(v, limit)
}

fn object(js: &Js, value: Val) -> Thrown {
    // A thrown Buffer or typed array is bytes, often text: its own properties are its bytes
    // (`{"0":106,"1":97,…}`), which say nothing about the error and may spell personal data.
    // It reads as it does in context.
    if js.is_typed_array(value) {
        let name = js
            .constructor_name(value, 64)
            .unwrap_or_else(|| "TypedArray".into());
        return Thrown {
            ty: "Error".to_owned(),
            message: format!("Non-Error exception captured with value: [{name}]"),
            ..Thrown::default()
        };
    }
    let is_error = js.is_error(value);
    let props = snapshot::own_properties(js, value, Limits::CONTEXT, NOT_PROPS);
    let name = read_string(js, value, c"name", 256);
    let ctor = || js.constructor_name(value, 256);
    // `class NotFound extends Error {}` keeps name "Error"; its constructor says more.
    let ty = match name {
        Some(n) if n != "Error" && !n.is_empty() => n,
        _ => ctor()
            .filter(|c| is_error || c != "Object")
            .unwrap_or_else(|| "Error".to_owned()),
    };
    let message = js
        .get(value, c"message")
        .filter(|m| js.kind(*m) == Kind::String)
        .and_then(|m| js.text_and_len(m, MESSAGE_BYTES));
    let (message, message_len) = match message {
        Some(read) => read,
        None if is_error => (String::new(), 0),
        None => {
            let keys: Vec<&str> = props.keys().map(String::as_str).collect();
            let keys = if keys.is_empty() {
                "[object has no keys]".to_owned()
            } else {
                keys.join(", ")
            };
            (format!("Object captured as exception with keys: {keys}"), 0)
        }
    };
    let stack = js.get(value, c"stack").and_then(|s| match js.kind(s) {
        Kind::String => js.text(s, STACK_BYTES),
        _ => None,
    });
    Thrown {
        ty,
        message,
        message_len,
        stack,
        props,
        is_error,
        link: None,
    }
}

fn primitive(js: &Js, value: Val) -> Thrown {
    let text = match js.kind(value) {
        Kind::Undefined => "undefined".to_owned(),
        Kind::Null => "null".to_owned(),
        Kind::String => js.text(value, MESSAGE_BYTES).unwrap_or_default(),
        // A function's source could be long and say anything; its name is enough.
        Kind::Function => {
            let name = read_string(js, value, c"name", 256).filter(|n| !n.is_empty());
            format!("[Function: {}]", name.as_deref().unwrap_or("<anonymous>"))
        }
        _ => js.coerce_string(value, MESSAGE_BYTES).unwrap_or_default(),
    };
    let message = match js.kind(value) {
        Kind::String => text,
        _ => format!("Non-Error exception captured with value: {text}"),
    };
    Thrown {
        ty: "Error".to_owned(),
        message,
        ..Thrown::default()
    }
}
