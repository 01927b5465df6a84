// Error storm against an ingest that rate-limits, then recovers: this addon beside
// @sentry/node, in the same run, alternating. Each contender runs in a fresh child process,
// throws STORM errors in one burst, then flushes; a loopback ingest answers 429 (Retry-After and
// X-Sentry-Rate-Limits) for the first LIMIT_MS, then 200, and counts the distinct events it
// accepted. Reports the delivered fraction, the time until the last event arrived, the child's
// event-loop p99 delay and peak RSS. Not a test: run `npm run bench:storm` after `npm run build`.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const STORM = Number(process.env.STORM ?? 20000);
const LIMIT_MS = Number(process.env.LIMIT_MS ?? 2000);
const ROUNDS = Number(process.env.ROUNDS ?? 2);
const FLUSH_MS = 180_000;
const root = resolve(import.meta.dirname, '..');

/** A Sentry envelope endpoint that counts distinct accepted event ids. */
async function startIngest() {
  const state = { start: 0, accepted: new Set(), lastAt: 0, limited: 0, requests: 0 };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      state.requests += 1;
      const now = Date.now();
      if (now - state.start < LIMIT_MS) {
        state.limited += 1;
        res.writeHead(429, { 'retry-after': '1', 'x-sentry-rate-limits': '1:error:project' }).end();
        return;
      }
      const lines = Buffer.concat(chunks).toString('utf8').split('\n');
      for (let i = 1; i < lines.length; i++) {
        let header;
        try { header = JSON.parse(lines[i]); } catch { continue; }
        if (header?.type === 'event') {
          const id = JSON.parse(lines[0]).event_id ?? JSON.parse(lines[i + 1] ?? '{}').event_id;
          if (id) state.accepted.add(id.replaceAll('-', ''));
          state.lastAt = now;
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return { state, dsn: `http://benchkey@127.0.0.1:${port}/1`, close: () => new Promise((r) => server.close(r)) };
}

const OURS = (dsn, dataDir) => `
import { createRequire } from 'node:module';
const t = createRequire(import.meta.url)(${JSON.stringify(join(root, 'index.js'))});
t.init({ dsn: ${JSON.stringify(dsn)}, dataDir: ${JSON.stringify(dataDir)} });
const capture = (e) => t.trackError(e);
const flush = () => t.flush(${FLUSH_MS});
`;

const SENTRY = (dsn) => `
import { createRequire } from 'node:module';
const Sentry = createRequire(${JSON.stringify(join(root, 'package.json'))})('@sentry/node');
Sentry.init({ dsn: ${JSON.stringify(dsn)} });
const capture = (e) => Sentry.captureException(e);
const flush = () => Sentry.flush(${FLUSH_MS});
`;

const BODY = `
import { monitorEventLoopDelay } from 'node:perf_hooks';
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
let peak = 0;
const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
process.stdout.write('start\\n');
const t0 = performance.now();
for (let i = 0; i < ${STORM}; i++) capture(new Error('storm error ' + i));
const burstMs = performance.now() - t0;
const flushed = await flush();
clearInterval(sampler);
delay.disable();
peak = Math.max(peak, process.memoryUsage().rss);
process.stdout.write(JSON.stringify({ burstMs, flushed, p99DelayMs: delay.percentile(99) / 1e6, peakRssMb: peak / 1e6 }) + '\\n');
process.exit(0);
`;

async function run(name, prelude, ingest) {
  const dir = mkdtempSync(join(tmpdir(), 'et-storm-'));
  const file = join(dir, 'main.mjs');
  writeFileSync(file, prelude + BODY);
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'], cwd: dir });
  let out = '';
  const started = new Promise((r) => child.stdout.on('data', (d) => {
    out += d;
    if (out.includes('start\n') && !ingest.state.start) { ingest.state.start = Date.now(); r(); }
  }));
  await started;
  await new Promise((r) => child.on('exit', r));
  const report = JSON.parse(out.trim().split('\n').at(-1));
  const { state } = ingest;
  return {
    name,
    delivered: state.accepted.size,
    deliveredFraction: state.accepted.size / STORM,
    drainMs: state.lastAt ? state.lastAt - state.start : null,
    limitedAnswers: state.limited,
    requests: state.requests,
    ...report,
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = { ours: [], sentry: [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const who of round % 2 ? ['sentry', 'ours'] : ['ours', 'sentry']) {
    const ingest = await startIngest();
    const prelude = who === 'ours'
      ? OURS(ingest.dsn, mkdtempSync(join(tmpdir(), 'et-storm-data-')))
      : SENTRY(ingest.dsn);
    const r = await run(who === 'ours' ? '@calmony/error-tracker' : '@sentry/node', prelude, ingest);
    await ingest.close();
    results[who].push(r);
    console.log(JSON.stringify(r));
  }
}
const summary = (rs) => ({
  deliveredFraction: median(rs.map((r) => r.deliveredFraction)),
  drainMs: median(rs.map((r) => r.drainMs ?? Infinity)),  // Infinity (null in JSON): nothing arrived
  p99DelayMs: median(rs.map((r) => r.p99DelayMs)),
  peakRssMb: median(rs.map((r) => r.peakRssMb)),
});
const ours = summary(results.ours);
const theirs = summary(results.sentry);
const out = {
  benchmark: 'storm',
  storm: STORM,
  rateLimitedForMs: LIMIT_MS,
  rounds: ROUNDS,
  node: process.version,
  sentryNode: (await import('@sentry/node')).SDK_VERSION,
  ours,
  sentry: theirs,
  // A ratio is undefined when @sentry/node delivered nothing; the fractions say it all then.
  ratios: {
    deliveredFraction: theirs.deliveredFraction > 0 ? ours.deliveredFraction / theirs.deliveredFraction : null,
  },
  runs: results,
};
mkdirSync(join(root, 'benchmark', 'results'), { recursive: true });
writeFileSync(join(root, 'benchmark', 'results', 'storm.json'), JSON.stringify(out, null, 2) + '\n');
console.log(`\n${STORM} errors, ingest rate-limited for ${LIMIT_MS} ms, median of ${ROUNDS}:`);
for (const [name, s] of [['@calmony/error-tracker', ours], ['@sentry/node', theirs]]) {
  console.log(`  ${name.padEnd(24)} delivered ${(s.deliveredFraction * 100).toFixed(1)}%  drain ${Number.isFinite(s.drainMs) ? `${s.drainMs} ms` : "(nothing arrived)"}  p99 loop delay ${s.p99DelayMs.toFixed(1)} ms  peak RSS ${s.peakRssMb.toFixed(0)} MB`);
}
