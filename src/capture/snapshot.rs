//! Copies an arbitrary JS value into JSON on the calling thread, bounded in depth, breadth,
//! string length and total size, the way Sentry's JavaScript SDK normalises `extra` data
//! (`normalizeDepth`, `normalizeMaxBreadth`): what does not fit becomes a marker string such as
//! `"[Object]"` or `"[Circular ~]"`, never an exception.

use super::js::{Js, Kind, Val};
use serde_json::{Map, Number, Value};

/// Bounds for one snapshot. The defaults keep a pathological context from costing the
/// caller more than a few microseconds' worth of copying per level.
#[derive(Clone, Copy)]
pub struct Limits {
    /// Levels of objects/arrays copied below the root; deeper ones become `"[Object]"`.
    pub depth: usize,
    /// Keys or elements copied per object/array.
    pub breadth: usize,
    /// UTF-8 bytes kept of each string.
    pub string_bytes: usize,
    /// Values copied in all; past it everything becomes `"[Truncated]"`.
    pub nodes: usize,
    /// Write `undefined` as Sentry's `"[undefined]"` marker (data shown to people), or as JSON
    /// does (arguments the tracker reads itself): a property set to undefined is left out, any
    /// other undefined is `null`.
    pub mark_undefined: bool,
}

impl Limits {
    pub const CONTEXT: Limits = Limits {
        depth: 8,
        breadth: 200,
        string_bytes: 16 * 1024,
        nodes: 5_000,
        mark_undefined: true,
    };

    /// For arguments read as settings (options, Next's request and route): JSON's view.
    pub const ARGUMENTS: Limits = Limits {
        mark_undefined: false,
        ..Limits::CONTEXT
    };
}

pub struct Snapshot<'a> {
    js: &'a Js,
    limits: Limits,
    ancestors: Vec<Val>,
    nodes: usize,
}

pub fn snapshot(js: &Js, v: Val, limits: Limits) -> Value {
    Snapshot {
        js,
        limits,
        ancestors: Vec::new(),
        nodes: 0,
    }
    .value(v)
}

/// Copies the own enumerable properties of `obj`, skipping `skip`, at the root depth.
pub fn own_properties(js: &Js, obj: Val, limits: Limits, skip: &[&str]) -> Map<String, Value> {
    let mut s = Snapshot {
        js,
        limits,
        ancestors: vec![obj],
        nodes: 0,
    };
    s.object_entries(obj, skip)
}

impl Snapshot<'_> {
    fn value(&mut self, v: Val) -> Value {
        self.nodes += 1;
        if self.nodes > self.limits.nodes {
            return Value::from("[Truncated]");
        }
        let js = self.js;
        match js.kind(v) {
            Kind::Undefined if self.limits.mark_undefined => Value::from("[undefined]"),
            Kind::Undefined => Value::Null,
            Kind::Null => Value::Null,
            Kind::Boolean => Value::Bool(js.boolean(v)),
            Kind::Number => number(js.number(v)),
            Kind::String => self.string(v),
            Kind::BigInt => js
                .coerce_string(v, 64)
                .map(|s| Value::String(format!("[BigInt: {s}]")))
                .unwrap_or_else(|| Value::from("[BigInt]")),
            Kind::Symbol => Value::String(format!(
                "[{}]",
                js.coerce_string(v, 256)
                    .unwrap_or_else(|| "Symbol()".into())
            )),
            Kind::Function => {
                let name = js
                    .get(v, c"name")
                    .filter(|n| js.kind(*n) == Kind::String)
                    .and_then(|n| js.text(n, 256))
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "<anonymous>".into());
                Value::String(format!("[Function: {name}]"))
            }
            Kind::Object => self.object(v),
            Kind::Other => Value::from("[Unknown]"),
        }
    }

    fn string(&self, v: Val) -> Value {
        self.js
            .text(v, self.limits.string_bytes)
            .map_or_else(|| Value::from("[Unreadable]"), Value::String)
    }

    fn object(&mut self, v: Val) -> Value {
        let js = self.js;
        if self.ancestors.iter().any(|a| js.same(*a, v)) {
            return Value::from("[Circular ~]");
        }
        if js.is_date(v) {
            return date(js.date_ms(v));
        }
        if js.is_typed_array(v) {
            let name = js
                .constructor_name(v, 64)
                .unwrap_or_else(|| "TypedArray".into());
            return Value::String(format!("[{name}]"));
        }
        let is_array = js.is_array(v);
        if self.ancestors.len() >= self.limits.depth {
            return Value::from(if is_array { "[Array]" } else { "[Object]" });
        }
        self.ancestors.push(v);
        let out = if is_array {
            Value::Array(self.array_items(v))
        } else {
            let mut map = self.object_entries(v, &[]);
            if js.is_error(v) {
                // name/message/stack are not enumerable; an Error inside context is still
                // worth reading.
                for (key, prop) in [("name", c"name"), ("message", c"message")] {
                    if let Some(x) = js.get(v, prop).filter(|x| js.kind(*x) == Kind::String) {
                        map.insert(key.into(), self.string(x));
                    }
                }
            }
            Value::Object(map)
        };
        self.ancestors.pop();
        out
    }

    fn array_items(&mut self, arr: Val) -> Vec<Value> {
        let len = self.js.array_len(arr);
        let take = (len as usize).min(self.limits.breadth);
        let mut items = Vec::with_capacity(take + 1);
        for i in 0..take as u32 {
            items.push(match self.js.get_index(arr, i) {
                Some(x) => self.value(x),
                None => Value::from("[Unreadable]"),
            });
        }
        if (len as usize) > take {
            items.push(Value::from("[MaxProperties ~]"));
        }
        items
    }

    fn object_entries(&mut self, obj: Val, skip: &[&str]) -> Map<String, Value> {
        let js = self.js;
        let mut map = Map::new();
        let Some(keys) = js.own_keys(obj) else {
            map.insert("[Unreadable]".into(), Value::from("[Unreadable]"));
            return map;
        };
        let len = js.array_len(keys) as usize;
        for i in 0..len as u32 {
            if map.len() >= self.limits.breadth {
                map.insert("[MaxProperties ~]".into(), Value::from("[MaxProperties ~]"));
                break;
            }
            let Some(key) = js.get_index(keys, i) else {
                continue;
            };
            let Some(name) = js.text(key, 256) else {
                continue;
            };
            if skip.contains(&name.as_str()) {
                continue;
            }
            let value = match js.get_key(obj, key) {
                // As JSON.stringify does: a property set to undefined is not there at all.
                Some(x) if !self.limits.mark_undefined && js.kind(x) == Kind::Undefined => continue,
                Some(x) => self.value(x),
                None => Value::from("[Unreadable]"),
            };
            map.insert(name, value);
        }
        map
    }
}

fn number(n: f64) -> Value {
    if n.is_finite() {
        if n.fract() == 0.0 && n.abs() < 9.0e15 {
            Value::Number(Number::from(n as i64))
        } else {
            Number::from_f64(n).map_or(Value::Null, Value::Number)
        }
    } else if n.is_nan() {
        Value::from("[NaN]")
    } else if n > 0.0 {
        Value::from("[Infinity]")
    } else {
        Value::from("[-Infinity]")
    }
}

fn date(ms: f64) -> Value {
    if !ms.is_finite() {
        return Value::from("[Invalid Date]");
    }
    let nanos = (ms as i128) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map_or(Value::from("[Invalid Date]"), Value::String)
}
