// Main-thread cost of trackError against the floor: reading `err.stack` of a fresh error
// (V8 formats it lazily on first read, which any tracker must pay). Both loops create the
// same errors; the difference is what trackError adds. Run: node benchmark/capture-cost.mjs
// (after `npm run build`). Issue 7 turns this into the side-by-side benchmark.
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const tracker = createRequire(import.meta.url)('../index.js');
// No sink: events go to an outbox file, so delivery costs nothing on this thread either way.
tracker.init({ dataDir: mkdtempSync(join(tmpdir(), 'et-bench-')) });

const N = 20000;
const ROUNDS = 7;
const context = { orderId: 1234, listVersion: '2026.11', step: 'match' };

function floor() {
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const err = new Error(`order ${i} not found`);
    sink += err.stack.length;
  }
  return [Number(process.hrtime.bigint() - t0) / N, sink];
}

function tracked() {
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const err = new Error(`order ${i} not found`);
    sink += tracker.trackError(err, context).length;
  }
  return [Number(process.hrtime.bigint() - t0) / N, sink];
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const floors = [];
const ours = [];
for (let r = 0; r < ROUNDS; r++) {
  floors.push(floor()[0]);
  ours.push(tracked()[0]);
  await tracker.flush(30000);
}
const f = median(floors);
const t = median(ours);
console.log(JSON.stringify({
  errorsPerRound: N,
  rounds: ROUNDS,
  floorNsPerError: Math.round(f),
  trackErrorNsPerError: Math.round(t),
  overheadNsPerError: Math.round(t - f),
  node: process.version,
}, null, 2));
await tracker.close(30000);
