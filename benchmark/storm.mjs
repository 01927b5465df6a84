// Error storm against an ingest that rate-limits, then recovers: this addon beside
// @sentry/node, in the same run, alternating. Each contender runs in a fresh child process,
// throws STORM errors in one burst, then flushes; a loopback ingest answers 429 (Retry-After and
// X-Sentry-Rate-Limits) for the first LIMIT_MS, then 200, and counts the distinct events it
// accepted. Reports the delivered fraction, the time until the last event arrived, the child's
// event-loop p99 delay and peak RSS, medians of ROUNDS. The ingest runs in its own process at
// nice 19, so the contender comes first when both want a core (a remote Sentry would not compete).
// Env: STORM (errors, 20000), LIMIT_MS (2000), ROUNDS (2). Writes benchmark/results/storm.json.
// Not a test: run `npm run bench:storm` after `npm run build`.
import { startIngest } from './lib/ingest.mjs';
import { CONTENDERS, order } from './lib/contenders.mjs';
import { runChild } from './lib/child.mjs';
import { envNumber, median, packageVersion, pct, writeResult } from './lib/results.mjs';

const STORM = envNumber('STORM', 20000);
const LIMIT_MS = envNumber('LIMIT_MS', 2000);
const ROUNDS = envNumber('ROUNDS', 2);
const FLUSH_MS = 180_000;

const BODY = `
import { monitorEventLoopDelay } from 'node:perf_hooks';
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
let peak = 0;
const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
mark('start');
const t0 = performance.now();
for (let i = 0; i < ${STORM}; i++) capture(new Error('storm error ' + i));
const burstMs = performance.now() - t0;
const flushed = await flush();
clearInterval(sampler);
delay.disable();
peak = Math.max(peak, process.memoryUsage().rss);
report({ burstMs, flushed, p99DelayMs: delay.percentile(99) / 1e6, peakRssMb: peak / 1e6 });
process.exit(0);
`;

const runs = { ours: [], sentry: [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const who of order(round)) {
    const ingest = await startIngest({ limitMs: LIMIT_MS });
    let starting;
    const reports = await runChild(
      ({ dataDir }) => CONTENDERS[who].prelude({ dsn: ingest.dsn, dataDir, flushMs: FLUSH_MS }) + BODY,
      {
        label: `storm-${who}`,
        // The rate limit's clock starts with the burst (or the first request, if that is sooner),
        // timed here, when the child says so: the message's trip to the ingest does not shift it.
        onLine: (line) => {
          if (line === 'start') starting = ingest.setStart(Date.now());
        },
      },
    );
    await starting;
    const state = await ingest.state();
    await ingest.close();
    const r = {
      name: CONTENDERS[who].name,
      delivered: state.accepted,
      deliveredFraction: state.accepted / STORM,
      drainMs: state.lastAt ? state.lastAt - state.start : null,
      limitedAnswers: state.limited,
      requests: state.requests,
      ...reports.at(-1),
    };
    runs[who].push(r);
    console.log(JSON.stringify(r));
  }
}
const summary = (rs) => ({
  deliveredFraction: median(rs.map((r) => r.deliveredFraction)),
  drainMs: median(rs.map((r) => r.drainMs)), // null: nothing arrived (in most rounds)
  p99DelayMs: median(rs.map((r) => r.p99DelayMs)),
  peakRssMb: median(rs.map((r) => r.peakRssMb)),
});
const ours = summary(runs.ours);
const sentry = summary(runs.sentry);
writeResult('storm', {
  benchmark: 'storm',
  storm: STORM,
  rateLimitedForMs: LIMIT_MS,
  rounds: ROUNDS,
  node: process.version,
  sentryNode: packageVersion('@sentry/node'),
  ours,
  sentry,
  // A ratio is undefined when @sentry/node delivered nothing; the fractions say it all then.
  ratios: {
    deliveredFraction: sentry.deliveredFraction > 0 ? ours.deliveredFraction / sentry.deliveredFraction : null,
  },
  runs,
});
console.log(`\n${STORM} errors, ingest rate-limited for ${LIMIT_MS} ms, median of ${ROUNDS}:`);
for (const [name, s] of [
  [CONTENDERS.ours.name, ours],
  [CONTENDERS.sentry.name, sentry],
]) {
  console.log(
    `  ${name.padEnd(24)} delivered ${pct(s.deliveredFraction)}  drain ${s.drainMs != null ? `${s.drainMs} ms` : '(nothing arrived)'}  p99 loop delay ${s.p99DelayMs.toFixed(1)} ms  peak RSS ${s.peakRssMb.toFixed(0)} MB`,
  );
}
