// Slow ingest: a loopback Sentry endpoint that takes DELAYS ms (50, then 200) to answer every
// request, with no rate limit, while each contender, in a fresh child process, captures N
// errors in one burst (the same errors and 3-key context as loop-cost.mjs) and then flushes
// with the same generous timeout (FLUSH_MS, 180 s) for both. Reports, per contender and delay,
// the delivered fraction (distinct events the ingest accepted / N), the drain time (first
// capture to the last event accepted), whether flush() reported success, and the most requests
// the ingest had open at once (counted by the ingest). Alternating, medians of ROUNDS. The ingest
// runs in its own process at idle priority, so the contender comes first when both want a core (a
// remote Sentry would not compete at all).
// Env: N (2000), DELAYS (comma-separated ms, "50,200"), ROUNDS (2), FLUSH_MS (180000). Writes
// benchmark/results/slow-ingest.json. Not a test: `npm run bench:slow` after `npm run build`.
import { startIngest } from './lib/ingest.mjs';
import { CONTENDERS, order } from './lib/contenders.mjs';
import { runChild } from './lib/child.mjs';
import { envNumber, median, packageVersion, pct, writeResult } from './lib/results.mjs';

const N = envNumber('N', 2000);
const DELAYS = (process.env.DELAYS ?? '50,200').split(',').map(Number);
const ROUNDS = envNumber('ROUNDS', 2);
const FLUSH_MS = envNumber('FLUSH_MS', 180_000);
const CONTEXT = { orderId: 1234, listVersion: '2026.11', step: 'match' };

const BODY = `
const context = ${JSON.stringify(CONTEXT)};
const startedAt = Date.now();
const t0 = performance.now();
for (let i = 0; i < ${N}; i++) capture(new Error('order ' + i + ' not found'), context);
const burstMs = performance.now() - t0;
const flushed = await flush();
report({ startedAt, burstMs, flushed, flushMs: performance.now() - t0 });
process.exit(0);
`;

const byDelay = {};
for (const delayMs of DELAYS) {
  const runs = { ours: [], sentry: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const who of order(round)) {
      const ingest = await startIngest({ delayMs });
      const reports = await runChild(
        ({ dataDir }) => CONTENDERS[who].prelude({ dsn: ingest.dsn, dataDir, flushMs: FLUSH_MS }) + BODY,
        { label: `slow-${who}` },
      );
      const state = await ingest.state();
      await ingest.close();
      const r = reports.at(-1);
      const row = {
        name: CONTENDERS[who].name,
        delayMs,
        delivered: state.accepted,
        deliveredFraction: state.accepted / N,
        drainMs: state.lastAt ? state.lastAt - r.startedAt : null,
        requests: state.requests,
        maxOpenRequests: state.maxOpen,
        burstMs: r.burstMs,
        flushed: r.flushed,
        flushMs: r.flushMs,
      };
      runs[who].push(row);
      console.log(JSON.stringify(row));
    }
  }
  const summary = (rs) => ({
    deliveredFraction: median(rs.map((r) => r.deliveredFraction)),
    drainMs: median(rs.map((r) => r.drainMs)),
    flushMs: median(rs.map((r) => r.flushMs)),
    flushedAll: rs.every((r) => r.flushed),
    maxOpenRequests: Math.max(...rs.map((r) => r.maxOpenRequests)),
  });
  byDelay[delayMs] = { ours: summary(runs.ours), sentry: summary(runs.sentry), runs };
}

writeResult('slow-ingest', {
  benchmark: 'slow-ingest',
  errors: N,
  delaysMs: DELAYS,
  rounds: ROUNDS,
  flushTimeoutMs: FLUSH_MS,
  node: process.version,
  sentryNode: packageVersion('@sentry/node'),
  byDelay,
});
console.log(
  `\n${N} errors in one burst, ingest answering after a delay, flush timeout ${FLUSH_MS / 1000} s, median of ${ROUNDS}:`,
);
for (const delayMs of DELAYS) {
  for (const who of ['ours', 'sentry']) {
    const s = byDelay[delayMs][who];
    console.log(
      `  ${String(delayMs).padStart(4)} ms  ${CONTENDERS[who].name.padEnd(24)} delivered ${pct(s.deliveredFraction).padStart(6)}  drain ${s.drainMs != null ? `${(s.drainMs / 1000).toFixed(1)} s` : '(nothing arrived)'}  flush ${s.flushedAll ? 'ok' : 'reported failure'}  up to ${s.maxOpenRequests} requests open`,
    );
  }
}
