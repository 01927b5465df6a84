//! The few raw Node-API calls the addon makes (capture's reads, and the calls into `process`
//! and `Response` the exit hooks and `internalServerError` need), each of which swallows the JS
//! exception it may raise. Capture runs inside the caller's `catch` block: a throwing getter or
//! a hostile Proxy must cost us one value, never leave an exception pending that would surface
//! as a throw from `trackError`.

use napi::sys;
use std::ffi::CString;
use std::ptr;

/// What `typeof` says, plus the distinctions capture cares about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Undefined,
    Null,
    Boolean,
    Number,
    String,
    Symbol,
    Object,
    Function,
    BigInt,
    Other,
}

#[derive(Clone, Copy)]
pub struct Js {
    env: sys::napi_env,
}

pub type Val = sys::napi_value;

/// Stack strings, messages and JSON a few KiB long are read in one call through this buffer.
const SCRATCH_BYTES: usize = 16 * 1024;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> =
        std::cell::RefCell::new(Vec::with_capacity(SCRATCH_BYTES));
}

/// Lends the calling thread's scratch buffer, empty. A buffer a huge string grew is let go
/// afterwards rather than kept for the life of the thread.
pub fn with_scratch<T>(f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    SCRATCH.with_borrow_mut(|buf| {
        buf.clear();
        let out = f(buf);
        if buf.capacity() > 16 * SCRATCH_BYTES {
            *buf = Vec::with_capacity(SCRATCH_BYTES);
        }
        out
    })
}

/// V8 writes whole characters and replaces lone surrogates, so this is valid UTF-8; the check
/// stays because the bytes come from across an FFI boundary.
fn utf8(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

impl Js {
    pub fn new(env: sys::napi_env) -> Self {
        Js { env }
    }

    /// Clears any pending exception. Called after every failed call, so the next call starts
    /// clean and nothing escapes to the caller.
    fn recover(&self) {
        let mut pending = false;
        unsafe {
            if sys::napi_is_exception_pending(self.env, &mut pending) == sys::Status::napi_ok
                && pending
            {
                let mut ignored = ptr::null_mut();
                sys::napi_get_and_clear_last_exception(self.env, &mut ignored);
            }
        }
    }

    fn ok(&self, status: sys::napi_status) -> bool {
        if status == sys::Status::napi_ok {
            true
        } else {
            self.recover();
            false
        }
    }

    pub fn kind(&self, v: Val) -> Kind {
        let mut t = 0;
        if !self.ok(unsafe { sys::napi_typeof(self.env, v, &mut t) }) {
            return Kind::Other;
        }
        match t {
            sys::ValueType::napi_undefined => Kind::Undefined,
            sys::ValueType::napi_null => Kind::Null,
            sys::ValueType::napi_boolean => Kind::Boolean,
            sys::ValueType::napi_number => Kind::Number,
            sys::ValueType::napi_string => Kind::String,
            sys::ValueType::napi_symbol => Kind::Symbol,
            sys::ValueType::napi_object => Kind::Object,
            sys::ValueType::napi_function => Kind::Function,
            sys::ValueType::napi_bigint => Kind::BigInt,
            _ => Kind::Other,
        }
    }

    /// `obj[name]`, or `None` when the read throws (getter, Proxy trap).
    pub fn get(&self, obj: Val, name: &'static std::ffi::CStr) -> Option<Val> {
        let mut out = ptr::null_mut();
        self.ok(unsafe { sys::napi_get_named_property(self.env, obj, name.as_ptr(), &mut out) })
            .then_some(out)
    }

    pub fn get_key(&self, obj: Val, key: Val) -> Option<Val> {
        let mut out = ptr::null_mut();
        self.ok(unsafe { sys::napi_get_property(self.env, obj, key, &mut out) })
            .then_some(out)
    }

    pub fn get_index(&self, arr: Val, i: u32) -> Option<Val> {
        let mut out = ptr::null_mut();
        self.ok(unsafe { sys::napi_get_element(self.env, arr, i, &mut out) })
            .then_some(out)
    }

    /// Reads a string's UTF-8 bytes, at most `limit` of them, ending a cut string with `…`.
    /// V8 writes whole characters only and replaces lone surrogates with U+FFFD, so the bytes
    /// are valid UTF-8; a 2 MB message costs a length query, not a 2 MB copy.
    pub fn text(&self, v: Val, limit: usize) -> Option<String> {
        self.text_and_len(v, limit).map(|(s, _)| s)
    }

    /// Like `text`, and also the string's full UTF-8 length before any cut.
    pub fn text_and_len(&self, v: Val, limit: usize) -> Option<(String, usize)> {
        with_scratch(|buf| {
            let len = self.append_text(v, limit, buf)?;
            Some((utf8(buf.clone()), len))
        })
    }

    /// Appends what `text` would read to `out`, and returns the string's full UTF-8 length.
    /// One call reads any string that fits `out`'s spare room whole; asking for the length
    /// first would walk the string twice (a Node-API call each, and most of a stack string's
    /// cost). Only a longer string, or one to cut, pays for the query.
    pub fn append_text(&self, v: Val, limit: usize, out: &mut Vec<u8>) -> Option<usize> {
        let start = out.len();
        if out.capacity() - start < SCRATCH_BYTES / 4 {
            out.reserve(SCRATCH_BYTES);
        }
        let room = out.capacity() - start;
        let mut written = 0usize;
        if !self.ok(unsafe {
            sys::napi_get_value_string_utf8(
                self.env,
                v,
                out.as_mut_ptr().add(start).cast(),
                room,
                &mut written,
            )
        }) {
            return None;
        }
        // Node writes at most `room - 1` bytes and a NUL: anything shorter is all of it.
        if written + 1 < room && written <= limit {
            unsafe { out.set_len(start + written) };
            return Some(written);
        }
        let mut len = 0usize;
        if !self.ok(unsafe {
            sys::napi_get_value_string_utf8(self.env, v, ptr::null_mut(), 0, &mut len)
        }) {
            return None;
        }
        let take = len.min(limit);
        out.reserve(take + 1);
        if !self.ok(unsafe {
            sys::napi_get_value_string_utf8(
                self.env,
                v,
                out.as_mut_ptr().add(start).cast(),
                take + 1,
                &mut written,
            )
        }) {
            return None;
        }
        unsafe { out.set_len(start + written) };
        if written < len {
            out.extend_from_slice("…".as_bytes());
        }
        Some(len)
    }

    /// `String(v)` for primitives such as symbols and bigints that have no JSON form.
    pub fn coerce_string(&self, v: Val, limit: usize) -> Option<String> {
        if self.kind(v) == Kind::Symbol {
            // String(symbol) is fine, but napi_coerce_to_string throws on symbols.
            let desc = self.get(v, c"description")?;
            return match self.kind(desc) {
                Kind::String => self.text(desc, limit).map(|s| format!("Symbol({s})")),
                _ => Some("Symbol()".to_owned()),
            };
        }
        let mut out = ptr::null_mut();
        if !self.ok(unsafe { sys::napi_coerce_to_string(self.env, v, &mut out) }) {
            return None;
        }
        self.text(out, limit)
    }

    pub fn number(&self, v: Val) -> f64 {
        let mut n = f64::NAN;
        self.ok(unsafe { sys::napi_get_value_double(self.env, v, &mut n) });
        n
    }

    pub fn boolean(&self, v: Val) -> bool {
        let mut b = false;
        self.ok(unsafe { sys::napi_get_value_bool(self.env, v, &mut b) });
        b
    }

    fn test(
        &self,
        f: unsafe fn(sys::napi_env, Val, *mut bool) -> sys::napi_status,
        v: Val,
    ) -> bool {
        let mut b = false;
        self.ok(unsafe { f(self.env, v, &mut b) }) && b
    }

    pub fn is_error(&self, v: Val) -> bool {
        self.test(sys::napi_is_error, v)
    }

    pub fn is_array(&self, v: Val) -> bool {
        self.test(sys::napi_is_array, v)
    }

    pub fn is_typed_array(&self, v: Val) -> bool {
        self.test(sys::napi_is_typedarray, v)
    }

    pub fn is_date(&self, v: Val) -> bool {
        self.test(sys::napi_is_date, v)
    }

    pub fn date_ms(&self, v: Val) -> f64 {
        let mut ms = f64::NAN;
        self.ok(unsafe { sys::napi_get_date_value(self.env, v, &mut ms) });
        ms
    }

    pub fn array_len(&self, v: Val) -> u32 {
        let mut n = 0;
        self.ok(unsafe { sys::napi_get_array_length(self.env, v, &mut n) });
        n
    }

    pub fn same(&self, a: Val, b: Val) -> bool {
        let mut eq = false;
        self.ok(unsafe { sys::napi_strict_equals(self.env, a, b, &mut eq) }) && eq
    }

    /// Own enumerable string keys, as `Object.keys` gives them.
    pub fn own_keys(&self, obj: Val) -> Option<Val> {
        let mut out = ptr::null_mut();
        self.ok(unsafe {
            sys::napi_get_all_property_names(
                self.env,
                obj,
                sys::KeyCollectionMode::own_only,
                sys::KeyFilter::enumerable | sys::KeyFilter::skip_symbols,
                sys::KeyConversion::numbers_to_strings,
                &mut out,
            )
        })
        .then_some(out)
    }

    /// The name of `v.constructor`, when it has a readable one.
    pub fn constructor_name(&self, v: Val, limit: usize) -> Option<String> {
        let ctor = self.get(v, c"constructor")?;
        if self.kind(ctor) != Kind::Function {
            return None;
        }
        let name = self.get(ctor, c"name")?;
        (self.kind(name) == Kind::String)
            .then(|| self.text(name, limit))
            .flatten()
            .filter(|s| !s.is_empty())
    }

    /// The arguments of a call into a raw callback, `undefined` past the ones given.
    pub fn args<const N: usize>(&self, info: sys::napi_callback_info) -> Option<[Val; N]> {
        let mut argc = N;
        let mut argv = [ptr::null_mut(); N];
        self.ok(unsafe {
            sys::napi_get_cb_info(
                self.env,
                info,
                &mut argc,
                argv.as_mut_ptr(),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        })
        .then_some(argv)
    }

    /// A JS function that calls `cb` directly, without napi-rs's argument conversion.
    pub fn function(
        &self,
        name: &std::ffi::CStr,
        cb: unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> Val,
    ) -> Option<Val> {
        let mut f = ptr::null_mut();
        self.ok(unsafe {
            sys::napi_create_function(
                self.env,
                name.as_ptr(),
                name.count_bytes() as isize,
                Some(cb),
                ptr::null_mut(),
                &mut f,
            )
        })
        .then_some(f)
    }

    /// The running Node's version, as `process.version` says it (`v20.11.0`).
    pub fn node_version(&self) -> Option<String> {
        let mut version: *const sys::napi_node_version = ptr::null();
        unsafe {
            (sys::napi_get_node_version(self.env, &mut version) == sys::Status::napi_ok
                && !version.is_null())
            .then(|| {
                let v = &*version;
                format!("v{}.{}.{}", v.major, v.minor, v.patch)
            })
        }
    }

    /// `globalThis[name]`.
    pub fn global(&self, name: &'static std::ffi::CStr) -> Option<Val> {
        let mut global = ptr::null_mut();
        self.ok(unsafe { sys::napi_get_global(self.env, &mut global) })
            .then(|| self.get(global, name))
            .flatten()
    }

    /// A JS string. ASCII text (an event id, every time) is made as Latin-1, which V8 copies
    /// as it is instead of decoding it as UTF-8 first.
    pub fn string(&self, s: &str) -> Option<Val> {
        let mut v = ptr::null_mut();
        let (ptr, len) = (s.as_ptr().cast(), s.len() as isize);
        self.ok(unsafe {
            if s.is_ascii() {
                sys::napi_create_string_latin1(self.env, ptr, len, &mut v)
            } else {
                sys::napi_create_string_utf8(self.env, ptr, len, &mut v)
            }
        })
        .then_some(v)
    }

    /// `this[method](...args)`; `None` if it is not a function or it threw.
    pub fn call(&self, this: Val, method: &'static std::ffi::CStr, args: &[Val]) -> Option<Val> {
        let f = self.get(this, method)?;
        let mut result = ptr::null_mut();
        self.ok(unsafe {
            sys::napi_call_function(self.env, this, f, args.len(), args.as_ptr(), &mut result)
        })
        .then_some(result)
    }

    /// A JS value from JSON text, through the global `JSON.parse`.
    pub fn parse_json(&self, value: &serde_json::Value) -> Option<Val> {
        let json = self.global(c"JSON")?;
        let text = self.string(&value.to_string())?;
        self.call(json, c"parse", &[text])
    }

    /// Throws a `TypeError` on the JS side; the caller then returns a pending-exception error.
    pub fn throw_type_error(&self, msg: &str) {
        let msg = CString::new(msg.replace('\0', " ")).unwrap_or_default();
        unsafe { sys::napi_throw_type_error(self.env, ptr::null(), msg.as_ptr()) };
    }
}
