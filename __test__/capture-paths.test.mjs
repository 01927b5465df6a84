// trackError has two ways in: the fast path (src/capture/fast.js reads a plain Error and JSON-like
// context in JavaScript and hands strings to the native `captureFields`) and the native copy,
// which handles any value. Each case here is tracked both ways, with the same error object, and
// the two events must be the same apart from their ids and timestamps: both the Sentry event
// (after scrubbing, as it left the process) and the legacy item. Each case also says which way
// index.js must take, so a guard that lets through what JSON would copy differently (undefined,
// NaN, a Date, a big integer…) or turns away the common case fails here.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assertNormalized, closeNormalizer } from './support/normalize.mjs';
import { startReceiver } from './support/receiver.mjs';

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

let rx;
let dataDir;
before(async () => {
  rx = await startReceiver();
  dataDir = mkdtempSync(join(tmpdir(), 'error-tracker-paths-'));
  tracker.init({ dsn: rx.dsn, legacyEndpoint: rx.legacyUrl, dataDir, legacyMaxRequestsPerMinute: 10_000 });
});
after(async () => {
  await tracker.close(10_000);
  await rx?.close();
  await closeNormalizer();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

class NotFound extends Error {}
class ValidationError extends Error {
  constructor(message, field) {
    super(message);
    this.name = 'ValidationError';
    this.field = field;
  }
}
class Money {
  constructor(pence) {
    this.pence = pence;
  }
}
const withProps = (err, props) => Object.assign(err, props);
const nullProto = (o) => Object.assign(Object.create(null), o);

// [name, () => [error, context?, scope?], the way index.js must take]
const CASES = [
  ['a plain Error', () => [new Error('order 7 not found')], 'fast'],
  ['a TypeError', () => [new TypeError('x is not a function')], 'fast'],
  ['a subclass typed by its constructor', () => [new NotFound('no such order')], 'fast'],
  ['a subclass that sets an own name and a field', () => [new ValidationError('bad field', 'dob')], 'fast'],
  ['an empty message', () => [new Error('')], 'fast'],
  ['a message over 8 KiB', () => [new Error('é'.repeat(6000))], 'fast'],
  ['a message with a lone surrogate', () => [new Error('half \uD800 a pair')], 'fast'],
  ['an error whose stack is a number', () => [withProps(new Error('odd stack'), { stack: 42 })], 'fast'],
  [
    'a system error with code, errno, syscall and path',
    () => [
      withProps(new Error('ENOENT: no such file'), {
        code: 'ENOENT',
        errno: -2,
        syscall: 'open',
        path: '/srv/app/list.csv',
      }),
    ],
    'fast',
  ],
  [
    'a flat context',
    () => [new Error('screening failed'), { orderId: 1234, listVersion: '2026.11', step: 'match' }],
    'fast',
  ],
  [
    'a nested context of every JSON kind',
    () => [
      new Error('nested'),
      {
        ints: [0, -0, 1, -1, 2 ** 52, -(2 ** 52)],
        floats: [0.1, 1e-7, 1.5e-300, -2.5, 123456.789],
        flags: [true, false, null],
        text: 'naïve café ☕ 👩‍⚖️',
        ключ: { deeper: { deeper: { deeper: 'still' } } },
        empty: {},
        none: [],
      },
    ],
    'fast',
  ],
  ['a null-prototype context', () => [new Error('bare'), nullProto({ a: 1, b: 'two' })], 'fast'],
  [
    'personal data in context, scrubbed by key and taint',
    () => [
      new Error('no match for Jane Doe born 1980-04-01'),
      { subject: { fullName: 'Jane Doe', dateOfBirth: '1980-04-01' }, email: 'jane@example.com' },
    ],
    'fast',
  ],
  [
    'a full scope',
    () => [
      new Error('with scope'),
      { step: 1 },
      {
        user: { id: 'u-17', ip_address: '10.0.0.8' },
        tags: { route: '/api/screen', region: 'eu' },
        level: 'warning',
        fingerprint: ['screening', 'timeout'],
        request: { url: 'http://127.0.0.1/api/screen?x=1', method: 'POST' },
        breadcrumbs: [{ message: 'list loaded', category: 'ofsi', data: { rows: 51234 }, timestamp: 1795346000.5 }],
      },
    ],
    'fast',
  ],
  ['a null context and a scope', () => [new Error('null context'), null, { level: 'info' }], 'fast'],

  ['an error with a cause', () => [new Error('outer', { cause: new Error('inner') })], 'native'],
  ['an AggregateError', () => [new AggregateError([new Error('a'), new Error('b')], 'both')], 'native'],
  ['a thrown string', () => ['just a string'], 'native'],
  ['a thrown plain object', () => [{ code: 'E_PLAIN' }], 'native'],
  ['a Proxy of an Error', () => [new Proxy(new Error('proxied'), {})], 'native'],
  [
    'an error with its own Symbol.toStringTag',
    () => [withProps(new Error('tagged'), { [Symbol.toStringTag]: 'Tagged' })],
    'native',
  ],
  ['a non-string message', () => [withProps(new Error('x'), { message: 42 })], 'native'],
  ['undefined in context', () => [new Error('u'), { a: undefined }], 'native'],
  ['NaN and Infinity in context', () => [new Error('n'), { a: NaN, b: Infinity }], 'native'],
  ['an integer past 9e15 in context', () => [new Error('big'), { id: 2 ** 60 }], 'native'],
  ['a BigInt in context', () => [new Error('b'), { id: 10n }], 'native'],
  ['a function in context', () => [new Error('f'), { cb() {} }], 'native'],
  ['a Date in context', () => [new Error('d'), { at: new Date(Date.UTC(2026, 10, 22, 10, 30)) }], 'native'],
  ['a class instance in context', () => [new Error('c'), { price: new Money(250) }], 'native'],
  ['a Map in context', () => [new Error('m'), { seen: new Map([['a', 1]]) }], 'native'],
  [
    'a cycle in context',
    () => {
      const c = { name: 'loop' };
      c.self = c;
      return [new Error('cycle'), c];
    },
    'native',
  ],
  [
    'a context nested 8 deep',
    () => [new Error('deep'), { a: { b: { c: { d: { e: { f: { g: { h: 1 } } } } } } } }],
    'native',
  ],
  ['a string past the fast limit in context', () => [new Error('long'), { blob: 'x'.repeat(20_000) }], 'native'],
  ['a lone surrogate in context', () => [new Error('s'), { text: 'half \uDC00' }], 'native'],
  ['an array hole in context', () => [new Error('hole'), { list: [1, , 3] }], 'native'], // eslint-disable-line no-sparse-arrays
  [
    'a throwing getter in context',
    () => [
      new Error('g'),
      {
        get bad() {
          throw new Error('nope');
        },
      },
    ],
    'native',
  ],
  ['a Date as an error property', () => [withProps(new Error('p'), { at: new Date(0) })], 'native'],
  ['undefined in the scope', () => [new Error('s'), undefined, { user: { id: undefined } }], 'native'],
];

/** What must match: the event without its id and timestamp, and the legacy item likewise. */
function comparable(event, legacy) {
  const { event_id: _id, timestamp: _ts, ...rest } = event;
  const { eventId: _eid, timestamp: _lts, ...item } = legacy;
  return { event: rest, legacy: item };
}

test('both ways give the same event, and index.js takes the expected way', async () => {
  const pairs = [];
  for (const [name, make, way] of CASES) {
    const args = make();
    const before = fastCalls;
    const viaIndex = tracker.trackError(...args);
    const took = fastCalls > before ? 'fast' : 'native';
    assert.equal(took, way, `${name}: index.js took the ${took} way`);
    const viaNative = binding.trackError(...args);
    assert.equal(fastCalls, before + (took === 'fast' ? 1 : 0), `${name}: the native call must not take the fast path`);
    pairs.push({ name, ids: [viaIndex, viaNative] });
  }
  assert.equal(await tracker.flush(20_000), true, 'flush');
  assert.deepEqual(rx.problems, []);
  const events = new Map(rx.events.map((e) => [e.event_id, e]));
  const legacy = new Map(rx.legacyErrors.map((e) => [e.eventId, e]));
  for (const { name, ids } of pairs) {
    const [a, b] = ids.map((id) => {
      assert.ok(events.has(id) && legacy.has(id), `${name}: both sinks got ${id}`);
      return comparable(events.get(id), legacy.get(id));
    });
    assert.deepEqual(a, b, `${name}: the fast and native events differ`);
  }
  await assertNormalized([...events.values()]);
});

test('the fast path never throws and never loses the event when a read throws midway', async () => {
  // Its name is the inherited "Error", so the fast path reads `constructor`, which throws: it
  // gives up, and the native copy reads what it can.
  const err = new Error('constructor getter');
  Object.defineProperty(err, 'constructor', {
    get() {
      throw new Error('no constructor');
    },
  });
  const before = fastCalls;
  let id;
  assert.doesNotThrow(() => {
    id = tracker.trackError(err, { step: 'x' });
  });
  assert.equal(fastCalls, before, 'the fast path gave up before calling native');
  assert.equal(await tracker.flush(10_000), true);
  const event = rx.events.find((e) => e.event_id === id);
  assert.ok(event, 'the event arrived through the native copy');
  assert.equal(event.exception.values.at(-1).value, 'constructor getter');
  assert.deepEqual(event.extra, { step: 'x' });
});

test('with scopes set, both ways give the same event from the same merged scope', async () => {
  const scopes = require('../src/capture/scope.js');
  const pairs = [];
  const run = (name, make, way) => {
    const [error, context, scope] = make();
    const before = fastCalls;
    const viaIndex = tracker.trackError(error, context, scope);
    const took = fastCalls > before ? 'fast' : 'native';
    assert.equal(took, way, `${name}: index.js took the ${took} way`);
    pairs.push({ name, ids: [viaIndex, binding.trackError(error, context, scopes.scopeFor(scope))] });
  };
  tracker.setTag('process', 'wide');
  tracker.addBreadcrumb({ category: 'boot', message: 'lists loaded' });
  try {
    tracker.withScope((scope) => {
      scope.setUser({ id: 'u-42' }).setTags({ step: 'match', attempt: 2 }).setContext('order', { id: 7 });
      console.warn('slow list %s', 'OFSI');
      scope.addBreadcrumb({ category: 'screening', message: 'matched', data: { rows: 3 } });
      run('scopes only', () => [new Error('in a scope')], 'fast');
      run(
        'scopes under the call scope',
        () => [
          new Error('scopes and call'),
          { k: 1 },
          {
            tags: { step: 'override' },
            breadcrumbs: [{ message: 'from the call', timestamp: 1 }],
            request: { url: '/api/screen', headers: new Headers({ host: 'app.test', accept: 'text/html' }) },
          },
        ],
        'fast',
      );
      run('scopes with a native-only error', () => [new Error('outer', { cause: new Error('inner') })], 'native');
    });
  } finally {
    scopes.processScope._tags = undefined;
    scopes.processScope._crumbs = undefined;
    scopes.processScope._next = 0;
  }
  assert.equal(await tracker.flush(20_000), true, 'flush');
  assert.deepEqual(rx.problems, []);
  const events = new Map(rx.events.map((e) => [e.event_id, e]));
  const legacy = new Map(rx.legacyErrors.map((e) => [e.eventId, e]));
  for (const { name, ids } of pairs) {
    const [a, b] = ids.map((id) => comparable(events.get(id), legacy.get(id)));
    assert.deepEqual(a, b, `${name}: the fast and native events differ`);
  }
  const merged = events.get(pairs[1].ids[0]);
  assert.deepEqual(merged.user, { id: 'u-42' });
  assert.deepEqual(merged.tags, { process: 'wide', step: 'override', attempt: '2' });
  assert.equal(merged.contexts.order.id, 7);
  assert.equal(merged.request.url, 'http://app.test/api/screen');
  assert.equal(merged.request.headers.accept ?? merged.request.headers.Accept, 'text/html');
  const crumbs = merged.breadcrumbs.values.map((b) => b.message);
  assert.deepEqual(crumbs, ['from the call', 'lists loaded', 'slow list OFSI', 'matched']);
  await assertNormalized([...events.values()]);
});
