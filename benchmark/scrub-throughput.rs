//! Scrubber throughput on one worker thread: events per second for a typical 5 KB screening
//! event (benchmark/fixtures/screening-event.json: a cause chain, a nested subject, a JSON
//! upstream body, request headers and cookies, breadcrumbs). Not a test; run with
//! `npm run bench:scrub` (`cargo bench --bench scrub-throughput`).
//!
//! Each iteration clones the event (the worker owns the event it scrubs) and scrubs it with the
//! default policy plus the raw stack beside it. The clone alone is timed too and reported, so
//! the scrubber's own share is visible.

use error_tracker::scrub::{ScrubConfig, Scrubber, Texts};
use sentry_types::protocol::v7::Event;
use std::hint::black_box;
use std::time::{Duration, Instant};

const FIXTURE: &str = include_str!("fixtures/screening-event.json");
const STACK: &str = "ScreeningError: No sanctions match could be confirmed for John Smith born 31/01/1970 (NI QQ 12 34 56 C), analyst jane.analyst@calmony.example\n    at ScreeningError (/srv/app/lib/errors.js:73:14)\n    at OfsiClient.lookup (/srv/app/lib/ofsi/client.js:66:13)\n    at scoreCandidate (/srv/app/lib/screening/score.js:59:12)\n    at Array.map (<anonymous>)\n    at normaliseName (/srv/app/lib/screening/normalise.js:45:10)\n    at fuzzyCompare (/srv/app/lib/screening/fuzzy.js:38:9)\n    at matchSubject (/srv/app/lib/screening/match.js:31:8)\n    at runScreening (/srv/app/.next/server/app/api/screen/route.js:24:7)\n    at async Promise.all (index 0)\n    at process.processTicksAndRejections (node:internal/process/task_queues:10:5)";
const ROUNDS: usize = 7;
const PER_ROUND: Duration = Duration::from_millis(700);

fn main() {
    let event: Event<'static> = serde_json::from_str(FIXTURE).expect("the fixture is an event");
    let size = serde_json::to_vec(&event).expect("serialises").len();
    let scrubber = Scrubber::new(&ScrubConfig {
        user_id_salt: Some("bench-salt".into()),
        ..ScrubConfig::default()
    });

    // What the fixture becomes, so a reader can see the work is real.
    let mut stack = STACK.to_owned();
    let once = scrubber.event(event.clone(), Texts(vec![&mut stack]));
    let scrubbed = serde_json::to_string(&once).expect("serialises");
    for planted in [
        "John",
        "Smith",
        "1970",
        "QQ",
        "4111",
        "jane",
        "203.0.113.9",
        "abc123def456",
    ] {
        assert!(
            !scrubbed.contains(planted) && !stack.contains(planted),
            "{planted} leaked"
        );
    }

    let (clone_ns, clone_cpu) = median_ns(|| {
        black_box(event.clone());
    });
    let (scrub_ns, scrub_cpu) = median_ns(|| {
        let mut stack = STACK.to_owned();
        black_box(scrubber.event(event.clone(), Texts(vec![&mut stack])));
    });
    let own = scrub_ns - clone_ns;
    println!(
        "event: {size} bytes serialised; scrubbed:\n  {}",
        &scrubbed[..scrubbed.len().min(400)]
    );
    println!("clone alone:        {:>9.1} µs/event", clone_ns / 1e3);
    println!(
        "clone + scrub:      {:>9.1} µs/event  = {:>8.0} events/s",
        scrub_ns / 1e3,
        1e9 / scrub_ns
    );
    println!(
        "scrub's own share:  {:>9.1} µs/event  = {:>8.0} events/s on one thread",
        own / 1e3,
        1e9 / own
    );
    // Other processes on a shared machine stretch wall-clock time, not this thread's CPU time:
    // compare builds by this line there.
    let own_cpu = scrub_cpu - clone_cpu;
    println!(
        "the same in CPU time: {:>7.1} µs/event  = {:>8.0} events/s of this thread's CPU",
        own_cpu / 1e3,
        1e9 / own_cpu
    );
}

/// Medians over `ROUNDS` of the mean wall-clock and thread CPU time per call in a round of
/// about `PER_ROUND`.
fn median_ns(mut f: impl FnMut()) -> (f64, f64) {
    let mut cpu = Vec::with_capacity(ROUNDS);
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let cpu_start = thread_cpu_ns();
            let start = Instant::now();
            let mut n = 0u64;
            while start.elapsed() < PER_ROUND {
                for _ in 0..100 {
                    f();
                }
                n += 100;
            }
            cpu.push((thread_cpu_ns() - cpu_start) as f64 / n as f64);
            start.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    (rounds[ROUNDS / 2], cpu[ROUNDS / 2])
}

/// This thread's CPU time so far, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}
