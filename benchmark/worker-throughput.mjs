// Worker throughput: events per second through the whole background pipeline (stack parse,
// source-map resolution and context lines, event build, fingerprint, scrub, serialise, spool,
// outbox), for errors thrown from the minified esbuild bundle (resolved through its map)
// beside the same errors from a file with no map. The errors are captured first, then the
// clock runs until the worker has settled them all. The worker prepares events on up to one
// thread per core (at most 4). Env: N (events, 20000); NAPI_RS_NATIVE_LIBRARY_PATH (another
// build of the addon, to compare: binding.js loads it instead of the one here); writes
// benchmark/results/worker-throughput.json. Not a test: `npm run bench:worker` after
// `npm run build`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { root } from './lib/contenders.mjs';
import { envNumber, writeResult } from './lib/results.mjs';

const N = envNumber('N', 20000);
const dist = join(root, 'src', 'sourcemaps', 'fixtures', 'dist');

const child = (bundle) => `
const t = require(${JSON.stringify(join(root, 'index.js'))});
t.init({ dataDir: ${JSON.stringify(mkdtempSync(join(tmpdir(), 'et-worker-')))}, contextLines: 5 });
const app = require(${JSON.stringify(bundle)});
const body = '{"id":"o-1","quantity":1,"price":5000}';
const errors = [];
for (let i = 0; i < ${N}; i++) { try { app.handleRequest(body); } catch (e) { errors.push(e); } }
const t0 = process.hrtime.bigint();
for (const e of errors) t.trackError(e, { orderId: 'o-1', subject: { name: 'Jane Roe' } });
const poll = setInterval(() => {
  if (t.stats().queued > 0) return;
  clearInterval(poll);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ eventsPerSecond: ${N} / seconds, seconds }));
  process.exit(0);
}, 5);
`;

function run(bundle) {
  const dir = mkdtempSync(join(tmpdir(), 'et-worker-'));
  const file = join(dir, 'main.cjs');
  writeFileSync(file, child(bundle));
  const out = spawnSync(process.execPath, [file], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(out.stderr);
  return JSON.parse(out.stdout.trim().split('\n').at(-1));
}

// The plain bundle with its map comment stripped stands in for code that has no map.
const unmappedDir = mkdtempSync(join(tmpdir(), 'et-worker-nomap-'));
const unmapped = join(unmappedDir, 'plain.js');
writeFileSync(unmapped, readFileSync(join(dist, 'plain.js'), 'utf8').replace(/\/\/# sourceMappingURL=.*$/m, ''));

const mapped = run(join(dist, 'min.js'));
const plain = run(unmapped);
const result = { benchmark: 'worker-throughput', events: N, node: process.version, mapped, unmapped: plain };
writeResult('worker-throughput', result);
console.log(`${N} events through the worker (${Math.min(availableParallelism(), 4)} threads on this host):`);
console.log(`  minified bundle, resolved through its map: ${mapped.eventsPerSecond.toFixed(0)} events/s`);
console.log(`  the same code with no map:                 ${plain.eventsPerSecond.toFixed(0)} events/s`);
