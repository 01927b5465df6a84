// The legacy endpoint's request budget: batches carry every waiting error, and no more than
// legacyMaxRequestsPerMinute requests go in any minute, however many errors there are.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { startReceiver } from './support/receiver.mjs';
import { tempDir } from './support/child.mjs';

const tracker = createRequire(import.meta.url)('../index.js');

test('bursts are batched and the request budget holds', async () => {
  const r = await startReceiver();
  after(() => r.close());
  tracker.init({ legacyEndpoint: r.legacyUrl, legacyMaxRequestsPerMinute: 2, dataDir: tempDir() });
  const burst = (n, tag) => Array.from({ length: n }, (_, i) => tracker.trackError(new Error(`${tag} ${i}`)));

  const first = burst(40, 'first');
  assert.equal(await tracker.flush(10000), true);
  const second = burst(40, 'second');
  assert.equal(await tracker.flush(10000), true);
  assert.equal(r.legacyRequests.length, 2, 'one request per burst');
  assert.deepEqual(
    r.legacyErrors.map((e) => e.eventId),
    [...first, ...second],
  );

  // The budget of 2 a minute is spent: a third burst must wait, not be sent, not be dropped.
  const third = burst(10, 'third');
  assert.equal(await tracker.flush(1500), false);
  assert.equal(r.legacyRequests.length, 2);
  const s = tracker.stats();
  assert.equal(s.queued, third.length);
  assert.equal(s.failed, 0);
  assert.deepEqual(r.problems, []);
});
