//! Debug logging to stderr, off unless `debug` is set. One prefix, so the lines are easy to
//! grep out of a server's log.

use std::fmt::Arguments;
use std::sync::atomic::{AtomicBool, Ordering};

static DEBUG: AtomicBool = AtomicBool::new(false);

pub fn set_debug(on: bool) {
    DEBUG.store(on, Ordering::Relaxed);
}

pub fn debug(args: Arguments<'_>) {
    if DEBUG.load(Ordering::Relaxed) {
        eprintln!("[error-tracker] {args}");
    }
}

/// Always printed: something the user must know about (a sink missing, a bad variable).
pub fn warn(args: Arguments<'_>) {
    eprintln!("[error-tracker] warning: {args}");
}

/// `warn`, once per `topic` for the life of the process: for trouble that would otherwise
/// repeat on every event (an unwritable `dataDir`).
pub fn warn_once(topic: &'static str, args: Arguments<'_>) {
    if first(topic) {
        warn(args);
    }
}

/// Counts `topic` as warned about already: a warning that named the cause covers it.
pub fn covered(topic: &'static str) {
    first(topic);
}

fn first(topic: &'static str) -> bool {
    static WARNED: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    let first = !warned.contains(&topic);
    if first {
        warned.push(topic);
    }
    first
}
