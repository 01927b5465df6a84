// Event-loop cost per captured error at a steady rate, where nobody drops: this addon beside
// @sentry/node, in the same run, alternating, each round in a fresh child process per contender.
// loop-cost.mjs measures a burst, and there @sentry/node's transport drops almost every event
// (it keeps a bounded number of requests in flight), so its figure leaves out serialising and
// sending what it dropped. Here the child throws RATE errors a second (BATCH at a time, then a
// timer), slowly enough that @sentry/node sends every one, so each contender's figure is the
// event-loop time of capturing *and delivering* an error. Cost: event-loop active time
// (performance.eventLoopUtilization()) from the first capture until flush resolves, per error,
// minus the floor: the same paced loop (same timers) that only creates the errors and reads
// `err.stack`, in the same child, in SEGMENTS interleaved with the capture's. The loopback
// ingest runs in its own process at idle priority, so the contender comes first when both want a
// core (a remote Sentry would not compete at all). Reports medians of ROUNDS and @sentry/node's
// overhead / ours.
// Env: N (errors per round, 3000), RATE (errors/s, 1000), BATCH (10), SEGMENTS (6), ROUNDS (5),
// WARMUP (300).
// Writes benchmark/results/steady-cost.json. Not a test: `npm run bench:steady` after
// `npm run build`.
import { CONTENDERS, order, runContender } from './lib/contenders.mjs';
import { envNumber, median, packageVersion, pct, writeResult } from './lib/results.mjs';

const N = envNumber('N', 3000);
const RATE = envNumber('RATE', 1000);
const BATCH = envNumber('BATCH', 10);
const ROUNDS = envNumber('ROUNDS', 5);
const WARMUP = envNumber('WARMUP', 300);
const FLUSH_MS = 60_000;
const CONTEXT = { orderId: 1234, listVersion: '2026.11', step: 'match' };
const SEGMENTS = envNumber('SEGMENTS', 6);
const PAUSE_MS = (1000 * BATCH) / RATE;

const BODY = (round) => `
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync } from 'node:fs';
const schedFile = '/proc/self/task/' + process.pid + '/schedstat';
// [ns on CPU, ns waiting on the run queue] of the main thread, or null off Linux.
const sched = () => { try { return readFileSync(schedFile, 'utf8').split(' ').slice(0, 2).map(Number); } catch { return null; } };
const since = (s0) => { const s1 = sched(); return s0 && s1 ? [s1[0] - s0[0], s1[1] - s0[1]] : [NaN, NaN]; };
const context = ${JSON.stringify(CONTEXT)};
let sink = 0;
// The same pacing for both loops: BATCH errors, then a timer.
async function paced(n, each) {
  const e0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    each(new Error('order ' + i + ' not found'));
    if (i % ${BATCH} === ${BATCH - 1}) await sleep(${PAUSE_MS});
  }
  return { e0, t0 };
}
async function floor(n) {
  const s0 = sched();
  const { e0 } = await paced(n, (err) => { sink += err.stack.length; });
  const activeMs = performance.eventLoopUtilization(e0).active;
  const [cpu, wait] = since(s0);
  return { activeMs, cpu, wait };
}
async function tracked(n) {
  const s0 = sched();
  const { e0, t0 } = await paced(n, (err) => { sink += String(capture(err, context)).length; });
  const flushed = await flush();
  const activeMs = performance.eventLoopUtilization(e0).active;
  const [cpu, wait] = since(s0);
  return { activeMs, cpu, wait, flushed, wallMs: performance.now() - t0 };
}
await floor(${WARMUP});
await tracked(${WARMUP});
mark('ready');
await go(); // the parent stops counting the warm-up's events
// Interleaved in SEGMENTS, alternating which goes first, so slow drift (a neighbour's load, the
// CPU's clock) falls on both alike.
const seg = ${Math.floor(N / SEGMENTS)};
const base = { activeMs: 0, cpu: 0, wait: 0 };
const run = { activeMs: 0, cpu: 0, wait: 0, flushed: true, wallMs: 0 };
const add = (to, r) => { to.activeMs += r.activeMs; to.cpu += r.cpu; to.wait += r.wait; };
for (let k = 0; k < ${SEGMENTS}; k++) {
  const floorFirst = (k + ${round}) % 2 === 0;
  if (floorFirst) add(base, await floor(seg));
  const t = await tracked(seg);
  add(run, t);
  run.flushed &&= t.flushed;
  run.wallMs += t.wallMs;
  if (!floorFirst) add(base, await floor(seg));
}
const n = seg * ${SEGMENTS};
const per = (x) => (Number.isFinite(x) ? x / n : null);
report({ floorNs: base.activeMs * 1e6 / n, captureNs: run.activeMs * 1e6 / n, floorCpuNs: per(base.cpu), captureCpuNs: per(run.cpu),
  captureWaitNs: per(run.wait), flushed: run.flushed, wallMs: run.wallMs, sink });
process.exit(0);
`;

const runs = { ours: [], sentry: [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const who of order(round)) {
    const { report: r, delivered } = await runContender(who, {
      body: BODY(round),
      label: `steady-${who}`,
      flushMs: FLUSH_MS,
    });
    const row = {
      round,
      floorNs: r.floorNs,
      captureNs: r.captureNs,
      overheadNs: r.captureNs - r.floorNs,
      floorCpuNs: r.floorCpuNs,
      captureCpuNs: r.captureCpuNs,
      cpuOverheadNs: r.captureCpuNs == null || r.floorCpuNs == null ? null : r.captureCpuNs - r.floorCpuNs,
      captureWaitNs: r.captureWaitNs,
      delivered,
      deliveredFraction: delivered / (Math.floor(N / SEGMENTS) * SEGMENTS),
      flushed: r.flushed,
      wallMs: r.wallMs,
    };
    runs[who].push(row);
    console.log(
      `round ${round + 1}/${ROUNDS} ${CONTENDERS[who].name.padEnd(24)} floor ${row.floorNs.toFixed(0)} ns  capture ${row.captureNs.toFixed(0)} ns  delivered ${pct(row.deliveredFraction)}  wall ${(row.wallMs / 1000).toFixed(1)} s`,
    );
  }
}

const summary = (rs) => ({
  floorNs: median(rs.map((r) => r.floorNs)),
  captureNs: median(rs.map((r) => r.captureNs)),
  overheadNs: median(rs.map((r) => r.overheadNs)), // median of the per-child differences
  // Main-thread CPU only (Linux), without the time it waited for a core:
  cpuOverheadNs: median(rs.map((r) => r.cpuOverheadNs)),
  captureWaitNs: median(rs.map((r) => r.captureWaitNs)),
  deliveredFraction: median(rs.map((r) => r.deliveredFraction)),
});
const ours = summary(runs.ours);
const sentry = summary(runs.sentry);
const ratio = ours.overheadNs > 0 ? sentry.overheadNs / ours.overheadNs : null;
const result = {
  benchmark: 'steady-cost',
  errorsPerRound: Math.floor(N / SEGMENTS) * SEGMENTS,
  segments: SEGMENTS,
  ratePerSecond: RATE,
  batch: BATCH,
  rounds: ROUNDS,
  warmup: WARMUP,
  context: CONTEXT,
  node: process.version,
  sentryNode: packageVersion('@sentry/node'),
  ours,
  sentry,
  ratios: { overhead: ratio, captureNs: sentry.captureNs / ours.captureNs },
  runs,
};
writeResult('steady-cost', result);

const us = (ns) => `${(ns / 1000).toFixed(2)} µs`;
console.log(
  `\nEvent-loop time per error at ${RATE} errors/s, capture through flush, ${N} errors, median of ${ROUNDS}:`,
);
for (const [name, s] of [
  [CONTENDERS.ours.name, ours],
  [CONTENDERS.sentry.name, sentry],
]) {
  console.log(
    `  ${name.padEnd(24)} floor ${us(s.floorNs)}  capture ${us(s.captureNs)}  overhead ${us(s.overheadNs)}  delivered ${pct(s.deliveredFraction)}`,
  );
  if (s.cpuOverheadNs != null)
    console.log(
      `  ${''.padEnd(24)} main-thread CPU: overhead ${us(s.cpuOverheadNs)}, waited for a core ${us(s.captureWaitNs)} per error`,
    );
}
console.log(
  `  @sentry/node overhead / ours: ${ratio === null ? "n/a (ours within the floor's noise)" : `${ratio.toFixed(1)}x`}`,
);
