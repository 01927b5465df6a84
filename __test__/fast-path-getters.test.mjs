// trackError's fast path (src/capture/fast.js) checks context, scope and an error's own
// properties against its size limits, then hands JSON of them to the native side. It must
// serialise what it checked: if it read the caller's objects again to serialise them, a getter
// could answer small to the check and huge to JSON (a 100,000-item array, a 20 MB string) and
// get past every limit, into a many-megabyte envelope built on the calling thread. Each case
// here puts such a getter somewhere the fast path reads, and checks that it was read once, that
// the event says what the check saw, and that what left the process is small and well-formed.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { trackedFile } from './support/tracked.mjs';

const require = createRequire(import.meta.url);
// Count the fast path's native calls: wrap `captureFields` before index.js takes it.
const binding = require('../binding.js');
const captureFields = binding.captureFields;
let fastCalls = 0;
binding.captureFields = (...args) => {
  fastCalls += 1;
  return captureFields(...args);
};
const tracker = require('../index.js');

const file = trackedFile(tracker, import.meta.url);

// Far under this whatever the case: an event with a short stack and a few small fields.
const MAX_RAW_BYTES = 1024 * 1024;

const HUGE = [
  ['a 100,000-item array', Array.from({ length: 100_000 }, (_, i) => `item ${i} of a long list`)],
  ['a 20 MB string', 'x'.repeat(20 * 1024 * 1024)],
];

/** A getter that answers 'small' on its first read and `huge` on every later one. */
function flipping(huge) {
  const getter = {
    calls: 0,
    /** Defines the getter as `obj[key]`, enumerable like a property written in a literal. */
    on(obj, key) {
      Object.defineProperty(obj, key, {
        get() {
          getter.calls += 1;
          return getter.calls === 1 ? 'small' : huge;
        },
        enumerable: true,
        configurable: true,
      });
      return obj;
    },
  };
  return getter;
}

// [where, (getter) => trackError's arguments, (event) => checks that the event says 'small']
const PLACES = [
  [
    'in context',
    (g) => [new Error('getter in context'), g.on({ step: 'load' }, 'big')],
    (event) => assert.deepEqual(event.extra, { step: 'load', big: 'small' }),
  ],
  [
    'in an object nested in context',
    (g) => [new Error('getter nested in context'), { order: g.on({ id: 7 }, 'big') }],
    (event) => assert.deepEqual(event.extra, { order: { id: 7, big: 'small' } }),
  ],
  [
    'on the error as an own property',
    (g) => [g.on(Object.assign(new Error('getter on the error'), { code: 'E_FLIP' }), 'big')],
    (event) => assert.deepEqual(errorContext(event), { code: 'E_FLIP', big: 'small' }),
  ],
  [
    'in an object that is an own property of the error',
    (g) => [Object.assign(new Error('getter nested in a property'), { details: g.on({ id: 7 }, 'big') })],
    (event) => assert.deepEqual(errorContext(event), { details: { id: 7, big: 'small' } }),
  ],
  [
    'in scope.tags',
    (g) => [new Error('getter in scope tags'), null, { tags: g.on({ region: 'eu' }, 'big'), level: 'warning' }],
    (event) => {
      assert.deepEqual(event.tags, { region: 'eu', big: 'small' });
      assert.equal(event.level, 'warning');
    },
  ],
];

/** The error's own properties as the event carries them: its context named for its type. */
function errorContext(event) {
  const { type: _type, ...props } = event.contexts?.Error ?? {};
  return props;
}

/** The raw bodies that carried event `id`: the Sentry envelope and the legacy request. */
function rawFor(id) {
  const envelope = file.rx.envelopes.find((e) =>
    e.items.some((i) => i.header.type === 'event' && i.json?.event_id === id),
  );
  const legacy = file.rx.legacyRequests.find((r) => r.body.errors.some((e) => e.eventId === id));
  assert.ok(envelope, `no envelope carried ${id}`);
  assert.ok(legacy, `no legacy request carried ${id}`);
  return { envelope: Buffer.byteLength(envelope.raw), legacy: Buffer.byteLength(legacy.raw) };
}

for (const [where, make, check] of PLACES) {
  for (const [what, huge] of HUGE) {
    test(`a getter ${where} that returns ${what} after 'small' is read once, and 'small' is sent`, async () => {
      const getter = flipping(huge);
      const args = make(getter);
      const before = fastCalls;
      const { id, event, main } = await file.capture(...args);
      assert.equal(fastCalls, before + 1, 'trackError took the fast path');
      assert.equal(getter.calls, 1, 'the getter was read once');
      const raw = rawFor(id);
      assert.ok(raw.envelope < MAX_RAW_BYTES, `the envelope is ${raw.envelope} bytes`);
      assert.ok(raw.legacy < MAX_RAW_BYTES, `the legacy request is ${raw.legacy} bytes`);
      assert.equal(main.value, args[0].message);
      check(event);
      assert.deepEqual(file.rx.problems, []);
    });
  }
}

test('a getter that grows the array it is in cannot grow the copy past what was checked', async () => {
  let calls = 0;
  const list = [];
  Object.defineProperty(list, 0, {
    get() {
      calls += 1;
      for (let i = 0; i < 100_000; i++) list.push(`item ${i} of a long list`);
      return 'small';
    },
    enumerable: true,
    configurable: true,
  });
  const before = fastCalls;
  const { id, event } = await file.capture(new Error('getter grows its array'), { list });
  assert.equal(fastCalls, before + 1, 'trackError took the fast path');
  assert.equal(calls, 1, 'the getter was read once');
  const raw = rawFor(id);
  assert.ok(raw.envelope < MAX_RAW_BYTES, `the envelope is ${raw.envelope} bytes`);
  assert.deepEqual(event.extra, { list: ['small'] });
  assert.deepEqual(file.rx.problems, []);
});
