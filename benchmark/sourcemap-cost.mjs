// Main-thread cost of readable stack traces: Node's --enable-source-maps (resolution on the
// calling thread, at every `err.stack` read) against this addon (V8's raw stack read on the
// calling thread, resolution on the worker). Both throw the same error from the same minified
// esbuild bundle (src/sourcemaps/fixtures/dist/min.js) in a fresh child process; medians of
// ROUNDS rounds of N errors each. Not a test: run `npm run bench:sourcemaps` after
// `npm run build`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const N = Number(process.env.N ?? 20000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const root = resolve(import.meta.dirname, '..');
const bundle = join(root, 'src', 'sourcemaps', 'fixtures', 'dist', 'min.js');

const child = (mode) => `
const { createRequire } = require('node:module');
const app = require(${JSON.stringify(bundle)});
${
  mode === 'ours'
    ? `const t = require(${JSON.stringify(join(root, 'index.js'))});
t.init({ dataDir: ${JSON.stringify(mkdtempSync(join(tmpdir(), 'et-smcost-')))} });`
    : ''
}
const body = '{"id":"o-1","quantity":1,"price":5000}';
const rounds = [];
let sink = 0;
for (let r = 0; r < ${ROUNDS}; r++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ${N}; i++) {
    try { app.handleRequest(body); } catch (e) {
      ${mode === 'ours' ? 'sink += t.trackError(e).length;' : 'sink += e.stack.length;'}
    }
  }
  rounds.push(Number(process.hrtime.bigint() - t0) / ${N});
}
rounds.sort((a, b) => a - b);
const first = (() => { try { app.handleRequest(body); } catch (e) { return e.stack.split('\\n')[1].trim(); } })();
console.log(JSON.stringify({ nsPerError: rounds[Math.floor(rounds.length / 2)], firstFrame: first, sink }));
process.exit(0);
`;

function run(mode, flags) {
  const dir = mkdtempSync(join(tmpdir(), 'et-smcost-'));
  const file = join(dir, 'main.cjs');
  writeFileSync(file, child(mode));
  const out = spawnSync(process.execPath, [...flags, file], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`${mode} failed: ${out.stderr}`);
  return JSON.parse(out.stdout.trim().split('\n').at(-1));
}

const nodeMaps = run('node', ['--enable-source-maps']);
const ours = run('ours', []);
const raw = run('node', []);
const result = {
  benchmark: 'sourcemap-cost',
  errorsPerRound: N,
  rounds: ROUNDS,
  node: process.version,
  rawStackNs: raw.nsPerError,
  enableSourceMapsNs: nodeMaps.nsPerError,
  trackErrorNs: ours.nsPerError,
  ratio: nodeMaps.nsPerError / ours.nsPerError,
  frames: { raw: raw.firstFrame, enableSourceMaps: nodeMaps.firstFrame },
};
mkdirSync(join(root, 'benchmark', 'results'), { recursive: true });
writeFileSync(join(root, 'benchmark', 'results', 'sourcemap-cost.json'), JSON.stringify(result, null, 2) + '\n');
console.log(`per error, throwing from a minified bundle (median of ${ROUNDS} x ${N}):`);
console.log(`  throw + err.stack, no source maps:           ${raw.nsPerError.toFixed(0)} ns   (${raw.firstFrame})`);
console.log(
  `  throw + err.stack, --enable-source-maps:     ${nodeMaps.nsPerError.toFixed(0)} ns   (${nodeMaps.firstFrame})`,
);
console.log(`  throw + trackError (resolved on the worker): ${ours.nsPerError.toFixed(0)} ns`);
console.log(`  --enable-source-maps costs ${result.ratio.toFixed(1)}x what trackError does on the calling thread`);
