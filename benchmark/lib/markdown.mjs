// benchmark/results.md from results.json: the headline figures and ratios as a markdown table,
// for the README to include. Every figure comes from results.json.
import { fmt } from '../chart.mjs';
import { judge, TOLERANCE_PCT } from './reproduce.mjs';

export function renderMarkdown(results) {
  const b = results.benchmarks;
  const rows = [];
  const costCell = (s) =>
    `${fmt.us(s.captureNs)}: floor ${fmt.us(s.floorNs)} + ${fmt.us(s.overheadNs)}; ${fmt.pct(s.deliveredFraction)} delivered`;
  const costRatio = (r) =>
    r.ratios.overhead != null
      ? `${fmt.x(r.ratios.overhead)} less overhead above the floor`
      : 'ours within the floor’s noise';
  const loop = b['loop-cost'];
  if (loop) {
    rows.push([
      `Event-loop time per captured error, capture until delivered: ${fmt.int(loop.errorsPerRound)} errors at once (median of ${loop.rounds})`,
      costCell(loop.ours),
      costCell(loop.sentry),
      costRatio(loop),
    ]);
  }
  const steady = b['steady-cost'];
  if (steady) {
    rows.push([
      `The same at a steady ${fmt.int(steady.ratePerSecond)} errors/s, so that neither drops any: ${fmt.int(steady.errorsPerRound)} errors (median of ${steady.rounds})`,
      costCell(steady.ours),
      costCell(steady.sentry),
      costRatio(steady),
    ]);
  }
  const storm = b.storm;
  if (storm) {
    const cell = (s) =>
      `${fmt.pct(s.deliveredFraction)} delivered${s.drainMs != null ? `, last after ${fmt.s(s.drainMs)}` : ''}`;
    rows.push([
      `Error storm: ${fmt.int(storm.storm)} errors at once, ingest answers 429 for ${fmt.s(storm.rateLimitedForMs)}`,
      cell(storm.ours),
      cell(storm.sentry),
      storm.ratios.deliveredFraction != null
        ? `${fmt.x(storm.ratios.deliveredFraction)} more delivered`
        : `${fmt.pct(storm.ours.deliveredFraction)} against none`,
    ]);
  }
  const slow = b['slow-ingest'];
  if (slow) {
    for (const d of slow.delaysMs) {
      const { ours, sentry } = slow.byDelay[d];
      const cell = (s) =>
        `${fmt.pct(s.deliveredFraction)} delivered${s.drainMs != null ? ` in ${fmt.s(s.drainMs)}` : ''}`;
      rows.push([
        `Slow ingest: ${fmt.int(slow.errors)} errors at once, each request answered after ${d} ms`,
        cell(ours),
        cell(sentry),
        sentry.deliveredFraction > 0
          ? `${fmt.x(ours.deliveredFraction / sentry.deliveredFraction)} more delivered`
          : `${fmt.pct(ours.deliveredFraction)} against none`,
      ]);
    }
  }
  const next = b['next-route'];
  if (next) {
    rows.push([
      `Next.js ${next.next} route, 1 in ${next.throwEvery} requests throws: requests/s (no tracker: ${fmt.int(next.none.requestsPerSecond)})`,
      `${fmt.int(next.ours.requestsPerSecond)} (${fmt.pct(next.ratios.ours.requestsPerSecond)} of no tracker)`,
      `${fmt.int(next.sentry.requestsPerSecond)} (${fmt.pct(next.ratios.sentry.requestsPerSecond)} of no tracker)`,
      `${fmt.x(next.ours.requestsPerSecond / next.sentry.requestsPerSecond)} the throughput`,
    ]);
    rows.push([
      `Same route: p99 latency (no tracker: ${fmt.ms(next.none.p99Ms)})`,
      `${fmt.ms(next.ours.p99Ms)} (×${next.ratios.ours.p99Ms.toFixed(2)}); ${fmt.pct(next.ours.deliveredFraction)} of errors delivered`,
      `${fmt.ms(next.sentry.p99Ms)} (×${next.ratios.sentry.p99Ms.toFixed(2)}); ${fmt.pct(next.sentry.deliveredFraction)} of errors delivered`,
      `${fmt.x(next.sentry.p99Ms / next.ours.p99Ms)} lower p99`,
    ]);
  }
  const worker = b['worker-throughput'];
  if (worker) {
    rows.push([
      `Worker throughput, background thread (${fmt.int(worker.events)} errors from a minified bundle)`,
      `${fmt.int(worker.mapped.eventsPerSecond)} events/s through source maps, ${fmt.int(worker.unmapped.eventsPerSecond)} without`,
      '— (works on the event loop)',
      '',
    ]);
  }
  const m = results.machine;
  const v = results.versions;
  const lines = [
    '| Benchmark | @calmony/error-tracker | @sentry/node (Next.js: @sentry/nextjs) | Ratio |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`),
    '',
    `Measured ${results.date.slice(0, 10)} by \`npm run bench\` (${Math.round(results.totalRuntimeS / 60)} min) on ${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB RAM; ` +
      `Node ${v.node}, @sentry/node ${v.sentryNode ?? '–'}, @sentry/nextjs ${v.sentryNextjs ?? '–'}, next ${v.next ?? '–'}. ` +
      'Figures are medians over fresh processes; every one is in `benchmark/results.json`.',
  ];
  const notes = [];
  if (loop && loop.sentry.deliveredFraction < 1) {
    notes.push(
      `@sentry/node delivered ${fmt.pct(loop.sentry.deliveredFraction)} of the burst: its transport keeps a bounded number of requests in flight and drops the rest, which skips their serialisation and sending, so its figure covers fewer deliveries than ours. The steady row is the like-for-like one.`,
    );
  }
  if (loop) {
    const steadyRatio = steady?.ratios.overhead;
    notes.push(
      `Targets: ours within 1 µs of the floor — ${loop.ours.overheadNs < 1000 ? 'holds' : 'not met'} (${fmt.us(loop.ours.overheadNs)} in the burst${steady ? `, ${fmt.us(steady.ours.overheadNs)} at a steady rate` : ''}); at least 20× less overhead than @sentry/node — ${loop.ratios.overhead >= 20 ? 'holds' : 'not met'} in the burst (${loop.ratios.overhead != null ? fmt.x(loop.ratios.overhead) : 'n/a'})${steady ? `, ${steadyRatio >= 20 ? 'holds' : 'not met'} at a steady rate (${steadyRatio != null ? fmt.x(steadyRatio) : 'n/a'})` : ''}.`,
    );
  }
  if (loop?.ours.syncNs != null) {
    notes.push(
      `In the burst, the loop of trackError calls itself took ${fmt.us(loop.ours.syncNs - loop.ours.floorNs)} per error more than the floor's loop (@sentry/node's captureException: ${fmt.us(loop.sentry.syncNs - loop.sentry.floorNs)}); the rest of the overhead is event-loop time until flush resolved.`,
    );
  }
  if (loop && loop.ours.cpuOverheadNs != null) {
    const wait =
      loop.ours.captureWaitNs != null
        ? ` It waited ${fmt.us(loop.ours.captureWaitNs)} per error for a core while capturing.`
        : '';
    notes.push(
      loop.ours.cpuOverheadNs >= loop.ours.overheadNs
        ? `Our overhead in the burst is the main thread's own work: it used ${fmt.us(loop.ours.cpuOverheadNs)} of CPU per error more than the floor (median over rounds, as the overhead is; the two medians come from different rounds).${wait}`
        : `Of our ${fmt.us(loop.ours.overheadNs)} above the floor, the main thread itself used ${fmt.us(loop.ours.cpuOverheadNs)} of CPU per error; the rest is time it waited for a core while the worker and the loopback ingest ran on the same ${m.cores} cores.${wait}`,
    );
  }
  if (steady?.ours.cpuOverheadNs != null) {
    notes.push(
      `At the steady rate our main thread used ${fmt.us(steady.ours.cpuOverheadNs)} of CPU per error more than the floor and waited ${fmt.us(steady.ours.captureWaitNs)} per error for a core${loop?.ours.cpuOverheadNs != null ? `, against ${fmt.us(loop.ours.cpuOverheadNs)} of CPU in the burst` : ''}. Why a call after a 10 ms pause costs more than one in a burst is not established (cold caches are the likely cause; not measured).`,
    );
  }
  if (next?.sentryNextjsNote) notes.push(next.sentryNextjsNote + '.');
  if (notes.length) lines.push('', ...notes.map((n) => `- ${n}`));
  const rerun = results.previousRun;
  if (rerun?.comparison?.length) {
    const num = (x, unit) =>
      unit === 'µs' || unit === 's'
        ? x.toFixed(2)
        : unit === '%'
          ? x.toFixed(1)
          : Math.round(x).toLocaleString('en-US');
    const cell = (x, range, unit) =>
      `${num(x, unit)} ${unit}${range ? ` (${num(range[0], unit)}–${num(range[1], unit)})` : ''}`;
    lines.push(
      '',
      `Run to run: this run beside the one before it (${rerun.date.slice(0, 16).replace('T', ' ')} UTC), medians with the range over rounds in brackets.`,
      '',
      '| Figure | This run | Run before | Change | Reproduced |',
      '|---|---|---|---|---|',
      ...rerun.comparison.map(
        (c) =>
          `| ${c.label} | ${cell(c.now, c.nowRange, c.unit)} | ${cell(c.before, c.beforeRange, c.unit)} | ${c.changePct == null ? '–' : `${c.changePct >= 0 ? '+' : ''}${c.changePct.toFixed(0)}%`} | ${judge(c)} |`,
      ),
      '',
      `Reproduced: this run's median inside the run before's range over rounds, or within ${TOLERANCE_PCT}% of its median. ${rerun.comparison.filter((c) => judge(c).startsWith('yes')).length} of ${rerun.comparison.length} figures reproduced.`,
    );
  }
  return lines.join('\n') + '\n';
}
