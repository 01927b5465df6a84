// The worker prepares events on several threads where the host has the cores, and must still
// write them to the spool, and hand them to the sinks, in the order they were captured: the
// spool's replay after a crash relies on it (durability.test.mjs). The outbox is written in
// that order, so its lines show it from outside.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { runNode, tempDir } from './support/child.mjs';

test('events reach the outbox in capture order, whatever thread prepared them', async () => {
  const dataDir = tempDir('et-order-');
  const N = 3000;
  // Stacks of different depths and contexts of different sizes, so that events take unequal
  // times to prepare and a thread finishing early would overtake another.
  const child = await runNode(
    `
tracker.init({ dataDir: ${JSON.stringify(dataDir)}, contextLines: 3 });
const deep = (n, i) => (n === 0 ? new Error('e-' + i) : deep(n - 1, i));
for (let i = 0; i < ${N}; i++) {
  tracker.trackError(deep(i % 17, i), { i, pad: 'x'.repeat((i % 5) * 500) });
}
const ok = await tracker.flush(60000);
console.log(JSON.stringify({ ok, stats: tracker.stats() }));
`,
    { timeoutMs: 120000 },
  );
  assert.equal(child.code, 0, child.stderr);
  const { ok } = JSON.parse(child.stdout.trim().split('\n').at(-1));
  assert.equal(ok, true);
  const messages = readFileSync(join(dataDir, 'outbox.ndjson'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line).exception.values.at(-1).value);
  assert.equal(messages.length, N);
  const expected = Array.from({ length: N }, (_, i) => `e-${i}`);
  const first = messages.findIndex((m, i) => m !== expected[i]);
  assert.equal(first, -1, `out of order from line ${first}: ${messages.slice(first, first + 5)}`);
});
