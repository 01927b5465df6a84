// Delivery end to end: both sinks, flush and close semantics, slow and failing ingests,
// process exit, and reconfiguration. Every event that arrives goes through Sentry's normaliser.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { startReceiver } from './support/receiver.mjs';
import { assertNormalized } from './support/normalize.mjs';
import { runNode, tempDir } from './support/child.mjs';

const tracker = createRequire(import.meta.url)('../index.js');
const receivers = [];
const ok = (r) => r.envelopes.filter((e) => e.status === 200);
const idOf = (envelope) => envelope.headers.event_id.replaceAll('-', '');

async function receiver(opts) {
  const r = await startReceiver(opts);
  receivers.push(r);
  return r;
}

after(async () => {
  await tracker.close(5000);
  try {
    await assertNormalized(receivers.flatMap((r) => r.events));
    for (const r of receivers) assert.deepEqual(r.problems, []);
  } finally {
    // Closed even when an assertion fails, or the open servers keep the file from ending.
    for (const r of receivers) await r.close();
  }
});

test('every event reaches Sentry and the legacy sink, and flush waits for both', async () => {
  const r = await receiver({ legacyToken: 's3cret' });
  tracker.init({
    dsn: r.dsn,
    legacyEndpoint: r.legacyUrl,
    legacyToken: 's3cret',
    dataDir: tempDir(),
    release: 'app@1.2.3',
    environment: 'test',
  });
  const ids = [];
  for (let i = 0; i < 25; i++) ids.push(tracker.trackError(new Error(`order ${i} failed`), { orderId: i }));
  assert.equal(await tracker.flush(10000), true);
  // flush resolved, so both sinks must already hold every event: no waiting here.
  assert.deepEqual(ok(r).map(idOf).sort(), [...ids].sort());
  assert.deepEqual(r.legacyErrors.map((e) => e.eventId).sort(), [...ids].sort());
  for (const req of r.legacyRequests) assert.equal(req.headers.authorization, 'Bearer s3cret');
  const event = r.events.find((e) => e.event_id === ids[3]);
  assert.equal(event.release, 'app@1.2.3');
  assert.equal(event.environment, 'test');
  assert.deepEqual(event.extra, { orderId: 3 });
  const item = r.legacyErrors.find((e) => e.eventId === ids[3]);
  assert.deepEqual(
    Object.keys(item).sort(),
    [
      'context',
      'environment',
      'eventId',
      'fingerprint',
      'frames',
      'level',
      'message',
      'name',
      'release',
      'stack',
      'timestamp',
      'user',
    ].sort(),
  );
  assert.equal(item.message, 'order 3 failed');
  assert.match(item.stack, /^Error: order 3 failed\n\s+at /);
  assert.ok(!Number.isNaN(Date.parse(item.timestamp)) && /T.*Z$/.test(item.timestamp), item.timestamp);
  // Same throw site, different numbers: one group.
  assert.equal(new Set(r.legacyErrors.map((e) => e.fingerprint)).size, 1);
  const s = tracker.stats();
  assert.equal(s.queued, 0);
  assert.ok(s.delivered.sentry >= 25 && s.delivered.legacy >= 25, JSON.stringify(s));
});

test('trackError does not wait for the network: an ingest that has not answered yet holds nothing up', async () => {
  let release;
  const gate = new Promise((resolve) => {
    release = resolve;
  });
  const r = await receiver({
    respond: async () => {
      await gate;
      return {};
    },
  });
  tracker.init({ dsn: r.dsn, dataDir: tempDir() });
  const before = tracker.stats();
  const ids = [];
  for (let i = 0; i < 200; i++) ids.push(tracker.trackError(new Error(`held ${i}`)));
  // All 200 were captured while not a single response had come back.
  assert.equal(tracker.stats().captured - before.captured, 200);
  assert.equal(ok(r).length, 0);
  assert.equal(await tracker.flush(300), false, 'flush cannot be done while the ingest holds every request');
  release();
  assert.equal(await tracker.flush(20000), true);
  assert.equal(ok(r).length, 200);
});

test('a slow ingest (200 ms a request) is worked in parallel', async () => {
  // No request is answered before 8 are in flight at once: a tracker that sends one at a time
  // never gets an answer and its flush fails, however fast or slow the machine.
  const PARALLEL = 8;
  let inFlight = 0;
  let peak = 0;
  let enough;
  const parallel = new Promise((done) => {
    enough = done;
  });
  const r = await receiver({
    respond: async () => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      if (peak >= PARALLEL) enough();
      await parallel;
      await new Promise((done) => setTimeout(done, 200));
      inFlight -= 1;
      return {};
    },
  });
  tracker.init({ dsn: r.dsn, dataDir: tempDir() });
  for (let i = 0; i < 150; i++) tracker.trackError(new Error(`slow ${i}`));
  assert.equal(await tracker.flush(60000), true, `expected ${PARALLEL} parallel requests, peak was ${peak}`);
  assert.equal(ok(r).length, 150);
  assert.ok(peak >= PARALLEL, `expected parallel requests, peak was ${peak}`);
});

test('5xx and 429 are retried until delivered; the rate-limited ingest is honoured', async () => {
  let calls = 0;
  const r = await receiver({
    respond: () => {
      calls += 1;
      if (calls <= 2) return { status: 503 };
      if (calls === 3) return { status: 429, headers: { 'retry-after': '1' } };
      return {};
    },
  });
  tracker.init({ dsn: r.dsn, dataDir: tempDir() });
  const id = tracker.trackError(new Error('flaky ingest'));
  await r.waitFor(() => calls >= 1);
  assert.equal(await tracker.flush(15000), true);
  assert.deepEqual(ok(r).map(idOf), [id]);
  assert.deepEqual(
    r.envelopes.map((e) => e.status),
    [503, 503, 429, 200],
  );
  assert.equal(tracker.stats().retrying, 0);
});

test('a 4xx other than 429 fails the event for good, counted, and flush still completes', async () => {
  const r = await receiver({ respond: () => ({ status: 400, body: { detail: 'bad' } }) });
  tracker.init({ dsn: r.dsn, dataDir: tempDir() });
  const failed = tracker.stats().failed;
  tracker.trackError(new Error('refused'));
  assert.equal(await tracker.flush(10000), true);
  assert.equal(tracker.stats().failed, failed + 1);
  assert.equal(r.envelopes.length, 1, 'a permanent failure is not retried');
});

test('init again reroutes new errors; queued ones still go where they were headed', async () => {
  const a = await receiver();
  const b = await receiver();
  tracker.init({ dsn: a.dsn, dataDir: tempDir() });
  const first = tracker.trackError(new Error('for a'));
  tracker.init({ dsn: b.dsn, dataDir: tempDir() });
  const second = tracker.trackError(new Error('for b'));
  assert.equal(await tracker.flush(10000), true);
  assert.deepEqual(ok(a).map(idOf), [first]);
  assert.deepEqual(ok(b).map(idOf), [second]);
});

test('sampleRate 0 drops and counts; the id is still returned', async () => {
  const r = await receiver();
  tracker.init({ dsn: r.dsn, dataDir: tempDir(), sampleRate: 0 });
  const dropped = tracker.stats().dropped;
  const id = tracker.trackError(new Error('sampled out'));
  assert.match(id, /^[0-9a-f]{32}$/);
  assert.equal(await tracker.flush(2000), true);
  assert.equal(tracker.stats().dropped, dropped + 1);
  assert.equal(r.envelopes.length, 0);
});

test('after close the process exits by itself, with everything delivered', async () => {
  const r = await receiver();
  const child = await runNode(
    `
    tracker.init({ dsn: process.env.DSN, legacyEndpoint: process.env.LEGACY, dataDir: process.env.DIR });
    for (let i = 0; i < 20; i++) tracker.trackError(new Error('child ' + i));
    console.log(await tracker.close(10000));
  `,
    { env: { DSN: r.dsn, LEGACY: r.legacyUrl, DIR: tempDir() } },
  );
  assert.equal(child.timedOut, false, 'the tracker kept the process alive');
  assert.equal(child.code, 0, child.stderr);
  assert.equal(child.stdout.trim(), 'true');
  assert.equal(ok(r).length, 20);
  assert.equal(r.legacyErrors.length, 20);
});

test('the tracker never keeps Node alive, even without close', async () => {
  const r = await receiver({
    respond: async () => {
      await new Promise(() => {});
    },
  });
  const child = await runNode(
    `
    tracker.init({ dsn: process.env.DSN, dataDir: process.env.DIR });
    tracker.trackError(new Error('left behind'));
  `,
    { env: { DSN: r.dsn, DIR: tempDir() }, timeoutMs: 20000 },
  );
  assert.equal(child.timedOut, false, 'the tracker kept the process alive');
  assert.equal(child.code, 0, child.stderr);
});
