// Run to run: the figures the README quotes, each with its spread over the rounds that made
// its median, set beside the same figures from the run before. On a small shared VM one run's
// medians can be off by more than any tuning; this is how a reader (and the next session)
// sees whether `npm run bench` reproduces what the README shows, instead of taking it on trust.

/**
 * The headline figures of one results.json:
 * { program, key, label, unit, value, range: [min, max] | null }.
 */
export function headline(results) {
  const b = results.benchmarks ?? {};
  const out = [];
  // A key starts with the program that measured the figure.
  const add = (key, label, unit, value, rounds) => {
    if (value == null || !Number.isFinite(value)) return;
    const xs = (rounds ?? []).filter((x) => x != null && Number.isFinite(x));
    out.push({
      program: key.split('.')[0],
      key,
      label,
      unit,
      value,
      range: xs.length > 1 ? [Math.min(...xs), Math.max(...xs)] : null,
    });
  };
  const us = (ns) => (ns == null ? null : ns / 1000);
  for (const [name, what] of [
    ['loop-cost', 'burst'],
    ['steady-cost', 'steady rate'],
  ]) {
    const r = b[name];
    if (!r) continue;
    add(
      `${name}.ours`,
      `${what}: our event-loop time above the floor, per error`,
      'µs',
      us(r.ours.overheadNs),
      r.runs?.ours.map((x) => us(x.overheadNs)),
    );
    add(
      `${name}.sentry`,
      `${what}: @sentry/node's, per error`,
      'µs',
      us(r.sentry.overheadNs),
      r.runs?.sentry.map((x) => us(x.overheadNs)),
    );
  }
  const storm = b.storm;
  if (storm) {
    add(
      'storm.ours.delivered',
      'storm: our delivered share',
      '%',
      storm.ours.deliveredFraction * 100,
      storm.runs?.ours.map((x) => x.deliveredFraction * 100),
    );
    add(
      'storm.ours.drain',
      'storm: our time to the last delivery',
      's',
      storm.ours.drainMs / 1000,
      storm.runs?.ours.map((x) => x.drainMs / 1000),
    );
  }
  const slow = b['slow-ingest'];
  for (const d of slow?.delaysMs ?? []) {
    const s = slow.byDelay[d];
    add(
      `slow-ingest.${d}ms.ours.drain`,
      `slow ingest ${d} ms: our drain time`,
      's',
      s.ours.drainMs / 1000,
      s.runs?.ours.map((x) => x.drainMs / 1000),
    );
  }
  const next = b['next-route'];
  if (next) {
    for (const who of ['none', 'ours', 'sentry']) {
      add(
        `next-route.${who}.rps`,
        `Next.js route, ${{ none: 'no tracker', ours: 'ours', sentry: '@sentry/nextjs' }[who]}: requests/s`,
        'req/s',
        next[who].requestsPerSecond,
        next.runs?.[who]?.map((x) => x.requestsPerSecond),
      );
    }
  }
  const worker = b['worker-throughput'];
  if (worker) {
    add('worker-throughput.mapped', 'worker throughput through source maps', 'events/s', worker.mapped.eventsPerSecond);
    add('worker-throughput.unmapped', 'worker throughput without', 'events/s', worker.unmapped.eventsPerSecond);
  }
  return out;
}

/** How far a figure may move from the run before and still count as reproduced. */
export const TOLERANCE_PCT = 10;

/**
 * Whether a compared figure reproduced the run before: its median inside that run's range over
 * rounds, or within TOLERANCE_PCT of that run's median (a figure whose rounds hardly vary, such
 * as a drain time set by the ingest's own delay, has a range too narrow to land in).
 */
export function judge(c) {
  if (c.withinBeforeRange) return 'yes, inside its range';
  if (c.changePct != null && Math.abs(c.changePct) <= TOLERANCE_PCT) return `yes, within ${TOLERANCE_PCT}%`;
  return c.rangesOverlap ? 'no; the ranges overlap' : 'no';
}

/**
 * This run's headline beside the previous run's: each figure's change, and whether its median
 * fell inside the previous run's range over rounds (null where either has no range).
 */
export function compare(now, before) {
  if (!before?.length) return [];
  return now.flatMap((f) => {
    const b = before.find((x) => x.key === f.key);
    if (!b) return [];
    const within = b.range ? f.value >= b.range[0] && f.value <= b.range[1] : null;
    const overlap = b.range && f.range ? f.range[0] <= b.range[1] && b.range[0] <= f.range[1] : null;
    return [
      {
        key: f.key,
        label: f.label,
        unit: f.unit,
        now: f.value,
        nowRange: f.range,
        before: b.value,
        beforeRange: b.range,
        changePct: b.value ? ((f.value - b.value) / b.value) * 100 : null,
        withinBeforeRange: within,
        rangesOverlap: overlap,
      },
    ];
  });
}
