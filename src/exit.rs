//! Endings that skip `flush`: the script runs out, `process.exit()`, SIGTERM or SIGINT, or an
//! uncaught exception (captured first, at level fatal, when `captureUncaught` is on). Each
//! runs a listener that waits (briefly, on the main thread, which is ending anyway) until every
//! captured error is in the spool, so the next start delivers it. Signals keep Node's
//! behaviour: when ours is the only listener, it re-raises the signal once the spool is written.

use crate::capture::{self, Js};
use crate::pipeline;
use napi::sys;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Once;
use std::time::Duration;

/// How long an ending process may wait for the worker to write what it still holds.
const PERSIST_TIMEOUT: Duration = Duration::from_secs(5);
const SIGNALS: [&str; 2] = ["SIGTERM", "SIGINT"];

static INSTALLED: Once = Once::new();
/// The signal listener, referenced so it can remove itself before re-raising.
static SIGNAL_LISTENER: AtomicPtr<sys::napi_ref__> = AtomicPtr::new(ptr::null_mut());

/// Adds the listeners to `process`, once per process.
pub fn install(env: sys::napi_env) {
    INSTALLED.call_once(|| {
        let js = Js::new(env);
        let Some(process) = js.global(c"process") else {
            return;
        };
        if let (Some(event), Some(monitor)) = (
            js.string("uncaughtExceptionMonitor"),
            js.function(c"errorTrackerOnUncaught", on_uncaught),
        ) {
            js.call(process, c"on", &[event, monitor]);
        }
        if let (Some(exit), Some(on_exit)) = (
            js.string("exit"),
            js.function(c"errorTrackerOnExit", on_exit),
        ) {
            js.call(process, c"on", &[exit, on_exit]);
        }
        let Some(on_signal) = js.function(c"errorTrackerOnSignal", on_signal) else {
            return;
        };
        let mut reference = ptr::null_mut();
        if unsafe { sys::napi_create_reference(env, on_signal, 1, &mut reference) }
            == sys::Status::napi_ok
        {
            SIGNAL_LISTENER.store(reference, Ordering::Release);
        }
        for signal in SIGNALS {
            if let Some(name) = js.string(signal) {
                js.call(process, c"on", &[name, on_signal]);
            }
        }
    });
}

/// Node's `uncaughtExceptionMonitor`: called for an uncaught exception, and for an unhandled
/// rejection Node is about to raise as one, before Node's own handling (which it leaves as is).
unsafe extern "C" fn on_uncaught(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    if pipeline::current().is_some_and(|s| !s.config.capture_uncaught) {
        return ptr::null_mut();
    }
    let js = Js::new(env);
    let Some(args) = js.args::<2>(info) else {
        return ptr::null_mut();
    };
    let rejection = js.text(args[1], 64).as_deref() == Some("unhandledRejection");
    pipeline::track(env, |js| {
        let mut captured = capture::capture(js, args[0], None, None);
        captured.scope = Some(serde_json::json!({ "level": "fatal" }));
        let mechanism = if rejection {
            "onunhandledrejection"
        } else {
            "onuncaughtexception"
        };
        captured.unhandled = Some(mechanism.to_owned());
        captured
    });
    // The process is about to die: write it down now.
    pipeline::persist(PERSIST_TIMEOUT);
    ptr::null_mut()
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
    let js = Js::new(env);
    let (Some(process), Some([signal])) = (js.global(c"process"), js.args::<1>(info)) else {
        return ptr::null_mut();
    };
    // Someone else listens too: they decide what the signal means.
    let alone = js
        .call(process, c"listenerCount", &[signal])
        .is_some_and(|count| js.number(count) <= 1.0);
    let mut listener = ptr::null_mut();
    let reference = SIGNAL_LISTENER.load(Ordering::Acquire);
    if !alone
        || reference.is_null()
        || sys::napi_get_reference_value(env, reference, &mut listener) != sys::Status::napi_ok
    {
        return ptr::null_mut();
    }
    js.call(process, c"removeListener", &[signal, listener]);
    if let Some(pid) = js.get(process, c"pid") {
        js.call(process, c"kill", &[pid, signal]);
    }
    ptr::null_mut()
}
