//! Endings that skip `flush`: the script runs out, `process.exit()`, SIGTERM or SIGINT. Each
//! runs a listener that waits (briefly, on the main thread, which is ending anyway) until every
//! captured error is in the spool, so the next start delivers it. Signals keep Node's
//! behaviour: when ours is the only listener, it re-raises the signal once the spool is written.

use crate::pipeline;
use napi::sys;
use std::ffi::{c_char, CStr};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Once;
use std::time::Duration;

/// How long an ending process may wait for the worker to write what it still holds.
const PERSIST_TIMEOUT: Duration = Duration::from_secs(5);
const SIGNALS: [&CStr; 2] = [c"SIGTERM", c"SIGINT"];

static INSTALLED: Once = Once::new();
/// The signal listener, referenced so it can remove itself before re-raising.
static SIGNAL_LISTENER: AtomicPtr<sys::napi_ref__> = AtomicPtr::new(ptr::null_mut());

/// Adds the listeners to `process`, once per process.
pub fn install(env: sys::napi_env) {
    INSTALLED.call_once(|| unsafe {
        let Some(process) = process(env) else {
            return;
        };
        if let Some(on_exit) = function(env, c"errorTrackerOnExit", on_exit) {
            call(env, process, c"on", &[string(env, c"exit"), on_exit]);
        }
        let Some(on_signal) = function(env, c"errorTrackerOnSignal", on_signal) else {
            return;
        };
        let mut reference = ptr::null_mut();
        if sys::napi_create_reference(env, on_signal, 1, &mut reference) == sys::Status::napi_ok {
            SIGNAL_LISTENER.store(reference, Ordering::Release);
        }
        for signal in SIGNALS {
            call(env, process, c"on", &[string(env, signal), on_signal]);
        }
    });
}

unsafe extern "C" fn on_exit(
    _env: sys::napi_env,
    _info: sys::napi_callback_info,
) -> sys::napi_value {
    pipeline::persist(PERSIST_TIMEOUT);
    ptr::null_mut()
}

unsafe extern "C" fn on_signal(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    pipeline::persist(PERSIST_TIMEOUT);
    let mut argc = 1;
    let mut signal = ptr::null_mut();
    let got = sys::napi_get_cb_info(
        env,
        info,
        &mut argc,
        &mut signal,
        ptr::null_mut(),
        ptr::null_mut(),
    );
    let (Some(process), true) = (process(env), got == sys::Status::napi_ok && argc >= 1) else {
        return ptr::null_mut();
    };
    // Someone else listens too: they decide what the signal means.
    let count = call(env, process, c"listenerCount", &[signal]);
    let mut listeners = 0.0;
    if count.is_null()
        || sys::napi_get_value_double(env, count, &mut listeners) != sys::Status::napi_ok
        || listeners > 1.0
    {
        return ptr::null_mut();
    }
    let mut listener = ptr::null_mut();
    let reference = SIGNAL_LISTENER.load(Ordering::Acquire);
    if reference.is_null()
        || sys::napi_get_reference_value(env, reference, &mut listener) != sys::Status::napi_ok
    {
        return ptr::null_mut();
    }
    call(env, process, c"removeListener", &[signal, listener]);
    let mut pid = ptr::null_mut();
    if sys::napi_get_named_property(env, process, c"pid".as_ptr(), &mut pid) == sys::Status::napi_ok
    {
        call(env, process, c"kill", &[pid, signal]);
    }
    ptr::null_mut()
}

unsafe fn process(env: sys::napi_env) -> Option<sys::napi_value> {
    let mut global = ptr::null_mut();
    let mut process = ptr::null_mut();
    (sys::napi_get_global(env, &mut global) == sys::Status::napi_ok
        && sys::napi_get_named_property(env, global, c"process".as_ptr(), &mut process)
            == sys::Status::napi_ok)
        .then_some(process)
}

unsafe fn function(
    env: sys::napi_env,
    name: &CStr,
    cb: unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value,
) -> Option<sys::napi_value> {
    let mut f = ptr::null_mut();
    (sys::napi_create_function(
        env,
        name.as_ptr(),
        name.count_bytes() as isize,
        Some(cb),
        ptr::null_mut(),
        &mut f,
    ) == sys::Status::napi_ok)
        .then_some(f)
}

unsafe fn string(env: sys::napi_env, s: &CStr) -> sys::napi_value {
    let mut v = ptr::null_mut();
    sys::napi_create_string_utf8(
        env,
        s.as_ptr() as *const c_char,
        s.count_bytes() as isize,
        &mut v,
    );
    v
}

/// Calls `obj[method](...args)`; null if that threw (the exception is cleared: an ending
/// process must not fail in our listener).
unsafe fn call(
    env: sys::napi_env,
    obj: sys::napi_value,
    method: &CStr,
    args: &[sys::napi_value],
) -> sys::napi_value {
    let mut f = ptr::null_mut();
    let mut result = ptr::null_mut();
    let ok = sys::napi_get_named_property(env, obj, method.as_ptr(), &mut f)
        == sys::Status::napi_ok
        && sys::napi_call_function(env, obj, f, args.len(), args.as_ptr(), &mut result)
            == sys::Status::napi_ok;
    if !ok {
        let mut pending = false;
        sys::napi_is_exception_pending(env, &mut pending);
        if pending {
            let mut e = ptr::null_mut();
            sys::napi_get_and_clear_last_exception(env, &mut e);
        }
        return ptr::null_mut();
    }
    result
}
