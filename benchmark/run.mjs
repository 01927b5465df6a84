// npm run bench: the side-by-side benchmarks in sequence, each a program of its own that writes
// benchmark/results/<name>.json:
//   1. loop-cost.mjs          event-loop time per captured error in a burst, beside the floor
//      steady-cost.mjs        the same at a steady rate, where neither contender drops any
//   2. storm.mjs              an error storm against a rate-limiting ingest
//   3. slow-ingest.mjs        an ingest that answers after 50 / 200 ms
//   4. next-route.mjs         a Next.js route under load: no tracker, ours, @sentry/nextjs
//   5. worker-throughput.mjs  events per second through the worker
// then collects them into benchmark/results.json (with the machine, the versions and the date),
// and renders benchmark/chart.svg (chart.mjs) and benchmark/results.md (the headline table the
// README includes, between its `bench:start`/`bench:end` markers). Results of programs not run this time are taken from their last run.
// Usage: node benchmark/run.mjs [name ...]   only these programs (e.g. `storm next-route`)
//        QUICK=1                              small sizes for a quick look (not for the README)
//        --render                             no runs: re-render from benchmark/results/*.json
// The programs' own env overrides (N, ROUNDS, DURATION …) are passed through.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { renderChart } from './chart.mjs';
import { root } from './lib/contenders.mjs';
import { renderMarkdown } from './lib/markdown.mjs';
import { compare, headline } from './lib/reproduce.mjs';
import { packageVersion, resultsDir } from './lib/results.mjs';

const dir = join(root, 'benchmark');
const PROGRAMS = [
  { name: 'loop-cost', quick: { N: '1000', ROUNDS: '2', WARMUP: '200' } },
  { name: 'steady-cost', quick: { N: '600', ROUNDS: '1', WARMUP: '100' } },
  { name: 'storm', quick: { STORM: '2000', ROUNDS: '1', LIMIT_MS: '1000' } },
  { name: 'slow-ingest', quick: { N: '200', ROUNDS: '1' } },
  { name: 'next-route', quick: { DURATION: '3', WARMUP: '1', ROUNDS: '1' } },
  { name: 'worker-throughput', quick: { N: '2000' } },
];

const args = process.argv.slice(2);
const renderOnly = args.includes('--render');
const only = args.filter((a) => !a.startsWith('--'));
for (const name of only) {
  if (!PROGRAMS.some((p) => p.name === name))
    throw new Error(`no benchmark ${name}: ${PROGRAMS.map((p) => p.name).join(', ')}`);
}

const previous = existsSync(join(dir, 'results.json'))
  ? JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'))
  : null;
const runtimes = { ...(previous?.programs ?? {}) };
const started = Date.now();
if (!renderOnly) {
  for (const p of PROGRAMS) {
    if (only.length && !only.includes(p.name)) continue;
    const env = { ...process.env };
    if (process.env.QUICK === '1') {
      for (const [k, v] of Object.entries(p.quick)) env[k] ??= v;
    }
    console.log(`\n=== ${p.name} ===`);
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [join(dir, `${p.name}.mjs`)], { stdio: 'inherit', env });
    if (r.status !== 0) throw new Error(`${p.name}.mjs exited ${r.status ?? r.signal}`);
    runtimes[p.name] = { runtimeS: (Date.now() - t0) / 1000, quick: process.env.QUICK === '1' };
  }
}
const runS = (Date.now() - started) / 1000;

const benchmarks = {};
for (const p of PROGRAMS) {
  const file = join(resultsDir, `${p.name}.json`);
  if (!existsSync(file)) {
    console.log(`(no results for ${p.name} yet)`);
    continue;
  }
  benchmarks[p.name] = JSON.parse(readFileSync(file, 'utf8'));
  runtimes[p.name] = { ...runtimes[p.name], measuredAt: statSync(file).mtime.toISOString() };
}

const cpus = os.cpus();
const next = benchmarks['next-route'];
const results = {
  date: new Date().toISOString(),
  // The time this `npm run bench` took; with a subset or --render, the sum of each program's
  // last runtime.
  totalRuntimeS: only.length || renderOnly ? Object.values(runtimes).reduce((s, r) => s + (r.runtimeS ?? 0), 0) : runS,
  machine: {
    cpu: cpus[0]?.model?.trim() ?? 'unknown CPU',
    cores: os.availableParallelism?.() ?? cpus.length,
    ramGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
  },
  versions: {
    node: process.version,
    errorTracker: JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version,
    sentryNode: packageVersion('@sentry/node'),
    sentryNextjs: next?.sentryNextjs ?? null,
    next: next?.next ?? null,
    autocannon: packageVersion('autocannon'),
  },
  programs: runtimes,
  benchmarks,
};
// Run to run: this run's headline figures beside the last run's (programs run this time only).
results.headline = headline(results);
const ran = renderOnly ? [] : PROGRAMS.map((p) => p.name).filter((n) => !only.length || only.includes(n));
if (previous && !renderOnly) {
  results.previousRun = {
    date: previous.date,
    // Derived from the previous run's own results, not its stored headline, so a
    // change to what counts as a headline figure applies to both sides.
    comparison: compare(
      results.headline.filter((f) => ran.includes(f.program)),
      headline(previous),
    ),
  };
} else {
  results.previousRun = previous?.previousRun ?? null;
}
writeFileSync(join(dir, 'results.json'), JSON.stringify(results, null, 2) + '\n');
writeFileSync(join(dir, 'chart.svg'), renderChart(results));
const md = renderMarkdown(results);
writeFileSync(join(dir, 'results.md'), md);
// The README shows the same table, between its bench markers, so its figures are this run's.
const readme = join(root, 'README.md');
const [start, end] = ['<!-- bench:start -->', '<!-- bench:end -->'];
const text = readFileSync(readme, 'utf8');
if (text.includes(start) && text.includes(end)) {
  writeFileSync(
    readme,
    `${text.slice(0, text.indexOf(start) + start.length)}\n${md.trim()}\n${text.slice(text.indexOf(end))}`,
  );
}
console.log(`\n${md}`);
console.log(
  `wrote benchmark/results.json, benchmark/results.md and benchmark/chart.svg (${(runS / 60).toFixed(1)} min)`,
);
