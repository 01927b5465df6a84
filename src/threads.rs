//! The tracker's own threads (the worker and the senders): named, and below the JS thread's
//! priority. Error tracking must not take a core from the thread serving requests; on a small
//! server, a burst of errors otherwise has the worker and the app's thread competing for the
//! same CPU just when the app is in trouble. Lower priority delays delivery under load, never
//! stops it: the scheduler still gives a busy machine's background threads a share.

use std::io;
use std::thread::{self, JoinHandle};

/// Linux nice value of the tracker's threads (0 is normal, 19 the lowest). At 19 a thread gets
/// about 1.5% of a CPU that a normal thread also wants (scheduler weight 15 against 1024), and
/// all of one that nobody else wants. At 10 (weight 110) the JS thread of a 20,000-error burst
/// on 2 cores still waited 0.86 µs per error for a core; at 19, 0.35 µs
/// (benchmark/loop-cost.mjs, "waited for a core").
#[cfg(target_os = "linux")]
const NICE: libc::c_int = 19;

/// Starts `f` on a thread named `name` at background priority.
pub fn spawn<F, T>(name: String, f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    thread::Builder::new().name(name).spawn(move || {
        lower_priority();
        f()
    })
}

/// Starts `f` on a scoped thread named `name` at background priority (the worker's helpers,
/// which borrow the batch they work on).
pub fn spawn_scoped<'scope, 'env, F, T>(
    scope: &'scope thread::Scope<'scope, 'env>,
    name: String,
    f: F,
) -> io::Result<thread::ScopedJoinHandle<'scope, T>>
where
    F: FnOnce() -> T + Send + 'scope,
    T: Send + 'scope,
{
    thread::Builder::new()
        .name(name)
        .spawn_scoped(scope, move || {
            lower_priority();
            f()
        })
}

/// What a caught panic said, for a log line.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// On Linux, the `SCHED_IDLE` policy, with nice 19 under it in case the policy is refused. Both
/// are per thread, and neither needs privilege. Nice alone is not enough: a normal thread
/// waking up (the JS thread, when its timer fires) waits for a nice-19 thread on its core to
/// finish its time slice, while a `SCHED_IDLE` thread gives the core up at once. At a steady
/// 1,000 errors a second on 2 cores, the JS thread waited 4.75 µs per error for a core with
/// the threads at nice 19 (benchmark/steady-cost.mjs, "waited for a core").
#[cfg(target_os = "linux")]
fn lower_priority() {
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, NICE);
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
    }
}

/// On macOS, the utility quality-of-service class (below the default the JS thread runs at).
#[cfg(target_os = "macos")]
fn lower_priority() {
    unsafe {
        libc::pthread_set_qos_class_self_np(libc::qos_class_t::QOS_CLASS_UTILITY, 0);
    }
}

/// Elsewhere (Windows) threads keep the default priority.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn lower_priority() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn a_spawned_thread_runs_idle_at_the_background_nice_value_and_the_caller_does_not_change() {
        let before = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let (nice, policy) = super::spawn("nice-test".into(), || unsafe {
            let nice = libc::getpriority(
                libc::PRIO_PROCESS,
                libc::syscall(libc::SYS_gettid) as libc::id_t,
            );
            (nice, libc::sched_getscheduler(0))
        })
        .unwrap()
        .join()
        .unwrap();
        assert_eq!(nice, (before + super::NICE).min(19));
        assert_eq!(policy, libc::SCHED_IDLE);
        assert_eq!(unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }, before);
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
    }
}
