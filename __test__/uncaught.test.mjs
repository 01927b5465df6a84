// captureUncaught: an uncaught exception or unhandled rejection is captured at level fatal and
// written to the spool before the process dies, Node's own behaviour (the error printed, exit
// code 1) is kept, and the next start delivers it with an unhandled mechanism. Off, nothing is
// captured.
import assert from 'node:assert/strict';
import { test, after } from 'node:test';
import { runNode, tempDir } from './support/child.mjs';
import { startReceiver } from './support/receiver.mjs';
import { assertNormalized, closeNormalizer } from './support/normalize.mjs';

after(() => closeNormalizer());

const J = JSON.stringify;

/** A child that inits with `options`, then fails as `fail` says; returns what runNode does. */
const dying = (options, fail) => runNode(`tracker.init(${J(options)});\n${fail}`);

/** Starts a process on `dataDir` with a healthy ingest; returns the events it delivered. */
async function nextStart(dataDir) {
  const rx = await startReceiver();
  try {
    const r = await runNode(`tracker.init(${J({ dsn: rx.dsn, dataDir, contextLines: 0 })});
      console.log(await tracker.flush(10000));`);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(rx.problems, []);
    await assertNormalized(rx.events);
    return rx.events;
  } finally {
    await rx.close();
  }
}

const DOWN = 'http://k@127.0.0.1:9/1';

test('an uncaught exception is spooled before the process dies, and delivered by the next start', async () => {
  const dataDir = tempDir();
  const r = await dying({ dsn: DOWN, dataDir }, `setTimeout(() => { throw new Error('uncaught boom 41'); }, 10);`);
  assert.equal(r.code, 1, 'Node still exits with 1');
  assert.match(r.stderr, /uncaught boom 41/, 'Node still prints the error');
  const events = await nextStart(dataDir);
  const event = events.find((e) => e.exception.values.at(-1).value === 'uncaught boom 41');
  assert.ok(event, `not delivered: ${J(events.map((e) => e.exception.values.at(-1).value))}`);
  assert.equal(event.level, 'fatal');
  assert.deepEqual(event.exception.values.at(-1).mechanism, { type: 'onuncaughtexception', handled: false });
});

test('an unhandled rejection is spooled and delivered with its own mechanism', async () => {
  const dataDir = tempDir();
  const r = await dying({ dsn: DOWN, dataDir }, `Promise.reject(new Error('rejected boom 42'));`);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /rejected boom 42/);
  const events = await nextStart(dataDir);
  const event = events.find((e) => e.exception.values.at(-1).value === 'rejected boom 42');
  assert.ok(event, 'not delivered');
  assert.equal(event.level, 'fatal');
  assert.deepEqual(event.exception.values.at(-1).mechanism, { type: 'onunhandledrejection', handled: false });
});

test('captureUncaught: false captures nothing and changes nothing', async () => {
  const dataDir = tempDir();
  const r = await dying(
    { dsn: DOWN, dataDir, captureUncaught: false },
    `setTimeout(() => { throw new Error('not mine 43'); }, 10);`,
  );
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not mine 43/);
  assert.deepEqual(await nextStart(dataDir), []);
});
