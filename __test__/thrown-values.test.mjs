// What the event looks like for every kind of value JavaScript can throw, and how the
// `context` and `scope` arguments land in it. Each test tracks one value, flushes, and
// checks the Sentry event and the legacy item that carry the returned id.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { assertNormalized } from './support/normalize.mjs';
import { trackedFile } from './support/tracked.mjs';

const tracker = createRequire(import.meta.url)('../index.js');

const THIS_FILE = fileURLToPath(import.meta.url);

const GENERIC = { type: 'generic', handled: true };
const SYNTHETIC = { type: 'generic', handled: true, synthetic: true };
const chained = (source, { synthetic = false } = {}) => ({
  type: 'chained',
  handled: true,
  ...(synthetic ? { synthetic: true } : {}),
  data: { source },
});

const file = trackedFile(tracker, import.meta.url);
const { capture, locate } = file;

/** Checks one exception's type, value and mechanism (value `undefined` means absent). */
function assertException(ex, { type, value, mechanism }) {
  assert.equal(ex.type, type, 'type');
  assert.equal(ex.value, value, 'value');
  assert.deepEqual(ex.mechanism, mechanism, 'mechanism');
}

function assertLegacy(legacy, { name, message }) {
  assert.equal(legacy.name, name, 'legacy name');
  assert.equal(legacy.message, message, 'legacy message');
}

// ---------------------------------------------------------------------------------------
// Errors

test('a plain Error: type, value, generic mechanism, no extra contexts', async () => {
  const { main, values, legacy, event } = await capture(new Error('plain failure'));
  assert.equal(values.length, 1);
  assertException(main, { type: 'Error', value: 'plain failure', mechanism: GENERIC });
  assertLegacy(legacy, { name: 'Error', message: 'plain failure' });
  assert.deepEqual(Object.keys(event.contexts).sort(), ['os', 'runtime']);
  assert.equal(event.extra, undefined, 'no context given, so no extra');
});

test('a plain Error: frames point at this file and the line of `new Error`', async () => {
  const err = new Error('where am I'); /* here:plain */
  const where = locate('plain');
  const { main, legacy } = await capture(err);
  const frames = main.stacktrace?.frames;
  assert.ok(
    Array.isArray(frames) && frames.length > 0,
    `expected parsed frames, got ${JSON.stringify(main.stacktrace)}`,
  );
  const last = frames.at(-1);
  assert.equal(last.abs_path, THIS_FILE, 'abs_path of the throwing frame');
  assert.equal(last.lineno, where.lineno, 'lineno of the throwing frame');
  assert.equal(last.colno, where.colno, 'colno of the throwing frame');
  assert.equal(last.in_app, true, 'this test file is application code');
  for (const f of frames.filter((f) => f.abs_path?.startsWith('node:'))) {
    assert.equal(f.in_app, false, `node internals are not in_app: ${JSON.stringify(f)}`);
  }
  assert.equal(legacy.stack, err.stack, 'the legacy item carries the stack as V8 printed it');
});

test('TypeError and RangeError keep their type', async () => {
  const t = await capture(new TypeError('not a function'));
  assertException(t.main, { type: 'TypeError', value: 'not a function', mechanism: GENERIC });
  assertLegacy(t.legacy, { name: 'TypeError', message: 'not a function' });
  assert.ok(t.main.stacktrace?.frames.length > 0, 'TypeError has frames');

  const r = await capture(new RangeError('out of range'));
  assertException(r.main, { type: 'RangeError', value: 'out of range', mechanism: GENERIC });
  assertLegacy(r.legacy, { name: 'RangeError', message: 'out of range' });
});

test('a subclass without its own name is typed by its constructor', async () => {
  class NotFound extends Error {}
  const { main, legacy } = await capture(new NotFound('no such order'));
  assertException(main, { type: 'NotFound', value: 'no such order', mechanism: GENERIC });
  assertLegacy(legacy, { name: 'NotFound', message: 'no such order' });
});

test('a subclass that sets this.name is typed by that name', async () => {
  class BadInput extends Error {
    constructor(message) {
      super(message);
      this.name = 'ValidationError';
    }
  }
  const { main, legacy } = await capture(new BadInput('email is required'));
  assertException(main, { type: 'ValidationError', value: 'email is required', mechanism: GENERIC });
  assertLegacy(legacy, { name: 'ValidationError', message: 'email is required' });
});

test('a cause chain is listed deepest cause first, the thrown error last', async () => {
  const c3 = new RangeError('disk full');
  const c2 = new TypeError('write failed', { cause: c3 });
  const c1 = new Error('save failed', { cause: c2 });
  const top = new Error('checkout failed', { cause: c1 });
  const { values, legacy } = await capture(top);
  assert.deepEqual(
    values.map((v) => [v.type, v.value]),
    [
      ['RangeError', 'disk full'],
      ['TypeError', 'write failed'],
      ['Error', 'save failed'],
      ['Error', 'checkout failed'],
    ],
  );
  assert.deepEqual(
    values.map((v) => v.mechanism),
    [chained('cause'), chained('cause'), chained('cause'), GENERIC],
  );
  for (const v of values) assert.ok(v.stacktrace?.frames.length > 0, `${v.value} has frames`);
  assertLegacy(legacy, { name: 'Error', message: 'checkout failed' });
});

test('a string cause becomes a synthetic chained exception', async () => {
  const { values, legacy } = await capture(new Error('request failed', { cause: 'ECONNRESET' }));
  assert.equal(values.length, 2);
  assertException(values[0], { type: 'Error', value: 'ECONNRESET', mechanism: chained('cause', { synthetic: true }) });
  assert.equal(values[0].stacktrace, undefined, 'a string has no stack');
  assertException(values[1], { type: 'Error', value: 'request failed', mechanism: GENERIC });
  assertLegacy(legacy, { name: 'Error', message: 'request failed' });
});

test('a self-referencing cause does not loop', async () => {
  const err = new Error('I caused myself');
  err.cause = err;
  const { values } = await capture(err);
  assert.equal(values.length, 1);
  assertException(values[0], { type: 'Error', value: 'I caused myself', mechanism: GENERIC });
});

test('a cause cycle of two errors lists each once', async () => {
  const a = new Error('a');
  const b = new Error('b', { cause: a });
  a.cause = b;
  const { values } = await capture(a);
  assert.deepEqual(
    values.map((v) => [v.value, v.mechanism]),
    [
      ['b', chained('cause')],
      ['a', GENERIC],
    ],
  );
});

test('AggregateError members are chained as errors[0] and errors[1]', async () => {
  const agg = new AggregateError([new Error('first'), new RangeError('second')], 'all failed');
  const { values, legacy } = await capture(agg);
  assert.deepEqual(
    values.map((v) => [v.type, v.value, v.mechanism]),
    [
      ['RangeError', 'second', chained('errors[1]')],
      ['Error', 'first', chained('errors[0]')],
      ['AggregateError', 'all failed', GENERIC],
    ],
  );
  assertLegacy(legacy, { name: 'AggregateError', message: 'all failed' });
});

test("an Error's own enumerable properties go to contexts[<type>]", async () => {
  const err = Object.assign(new Error('open failed'), { code: 'ENOENT', errno: -2 });
  const { main, event, legacy } = await capture(err);
  assertException(main, { type: 'Error', value: 'open failed', mechanism: GENERIC });
  assert.equal(event.contexts.Error?.code, 'ENOENT');
  assert.equal(event.contexts.Error?.errno, -2);
  assert.equal(event.extra, undefined, "an Error's props are not extra");
  assertLegacy(legacy, { name: 'Error', message: 'open failed' });

  class NotFound extends Error {}
  const nf = await capture(Object.assign(new NotFound('gone'), { status: 404 }));
  assert.equal(nf.event.contexts.NotFound?.status, 404, 'keyed by the exception type');
});

// ---------------------------------------------------------------------------------------
// Primitives

for (const [label, thrown, value] of [
  ['a string', 'payment declined', 'payment declined'],
  ['an empty string', '', undefined],
  ['a number', 42, 'Non-Error exception captured with value: 42'],
  ['NaN', NaN, 'Non-Error exception captured with value: NaN'],
  ['true', true, 'Non-Error exception captured with value: true'],
  ['false', false, 'Non-Error exception captured with value: false'],
  ['null', null, 'Non-Error exception captured with value: null'],
  ['undefined', undefined, 'Non-Error exception captured with value: undefined'],
  ['a Symbol', Symbol('kaboom'), 'Non-Error exception captured with value: Symbol(kaboom)'],
  ['a BigInt', 10n, 'Non-Error exception captured with value: 10'],
]) {
  test(`thrown ${label}`, async () => {
    const { values, main, event, legacy } = await capture(thrown);
    assert.equal(values.length, 1);
    assertException(main, { type: 'Error', value, mechanism: SYNTHETIC });
    assert.equal(main.stacktrace, undefined, 'a primitive has no stack');
    assert.equal(event.extra, undefined, 'a primitive has nothing to serialise');
    assertLegacy(legacy, { name: 'Error', message: value ?? '' });
  });
}

// ---------------------------------------------------------------------------------------
// Non-Error objects

test('a plain object: keys in the value, props in extra.__serialized__', async () => {
  const { main, event, legacy } = await capture({ reason: 'quota', limit: 10, nested: { a: [1] } });
  assertException(main, {
    type: 'Error',
    value: 'Object captured as exception with keys: limit, nested, reason',
    mechanism: SYNTHETIC,
  });
  assert.deepEqual(event.extra, { __serialized__: { reason: 'quota', limit: 10, nested: { a: [1] } } });
  assert.deepEqual(Object.keys(event.contexts).sort(), ['os', 'runtime'], "a non-Error's props are not contexts");
  assertLegacy(legacy, { name: 'Error', message: 'Object captured as exception with keys: limit, nested, reason' });
});

test("an empty plain object says it has no keys (as Sentry's SDK does)", async () => {
  const { main } = await capture({});
  assertException(main, {
    type: 'Error',
    value: 'Object captured as exception with keys: [object has no keys]',
    mechanism: SYNTHETIC,
  });
});

test('an object with name and message reads like an error', async () => {
  const { main, event, legacy } = await capture({ name: 'ValidationError', message: 'bad email', status: 400 });
  assertException(main, { type: 'ValidationError', value: 'bad email', mechanism: SYNTHETIC });
  assert.deepEqual(event.extra, { __serialized__: { status: 400 } });
  assertLegacy(legacy, { name: 'ValidationError', message: 'bad email' });
});

test('a class instance is typed by its constructor', async () => {
  class Point {
    constructor() {
      this.x = 1;
      this.y = 2;
    }
  }
  const { main, event, legacy } = await capture(new Point());
  assertException(main, { type: 'Point', value: 'Object captured as exception with keys: x, y', mechanism: SYNTHETIC });
  assert.deepEqual(event.extra, { __serialized__: { x: 1, y: 2 } });
  assertLegacy(legacy, { name: 'Point', message: 'Object captured as exception with keys: x, y' });
});

test('a thrown function is a non-Error value, not an exception type named after it', async () => {
  function onRetry() {}
  const { main, legacy } = await capture(onRetry);
  assert.ok(
    ['Error', 'Function'].includes(main.type),
    `type should be Error (or Function), got ${JSON.stringify(main.type)}`,
  );
  assert.match(main.value ?? '', /onRetry/, 'the value names the function');
  assert.deepEqual(main.mechanism, SYNTHETIC);
  assert.equal(legacy.name, main.type);
});

// ---------------------------------------------------------------------------------------
// Context and scope

test('the context object becomes extra (and the legacy context)', async () => {
  const context = { orderId: 7, cart: { items: ['a', 'b'], total: 9.5 }, note: null, paid: false };
  const { event, legacy } = await capture(new Error('with context'), context);
  assert.deepEqual(event.extra, context);
  assert.deepEqual(legacy.context, context);
});

test('a non-object context is kept under extra.context', async () => {
  const { event } = await capture(new Error('string context'), 'just a note');
  assert.deepEqual(event.extra, { context: 'just a note' });
});

test('scope: user, tags, level, fingerprint, request and breadcrumbs land in place', async () => {
  const before = Date.now() / 1000;
  const scope = {
    user: { id: 42, email: 'ada@example.com', username: 'ada', ip_address: '10.0.0.1', plan: 'pro' },
    tags: { route: '/checkout', attempt: 3, retried: true },
    level: 'warning',
    fingerprint: ['{{ default }}', 'payments-db'],
    request: {
      url: 'https://shop.example.com/checkout?step=2',
      method: 'POST',
      headers: { 'User-Agent': 'test', 'X-Request-Id': 'r1' },
      query_string: 'step=2',
      data: 'raw body',
      cookies: 'session=abc',
      env: { REMOTE_ADDR: '10.0.0.1' },
    },
    breadcrumbs: [
      { timestamp: 1700000000.5, category: 'http', message: 'GET /cart', level: 'warning', data: { status: 200 } },
      { timestamp: '2024-01-01T00:00:00Z', type: 'navigation', message: 'to checkout' },
      { message: 'no timestamp' },
    ],
  };
  const { event, legacy, main } = await capture(new Error('scoped'), { orderId: 1 }, scope);
  const after = Date.now() / 1000;

  assertException(main, { type: 'Error', value: 'scoped', mechanism: GENERIC });
  // The scrubber keeps the id and harmless fields; email, username and IP never leave.
  assert.deepEqual(event.user, { id: '42', plan: 'pro' });
  assert.deepEqual(event.tags, { route: '/checkout', attempt: '3', retried: 'true' });
  assert.equal(event.level, 'warning');
  assert.deepEqual(event.fingerprint, ['{{ default }}', 'payments-db']);
  // Cookie values and the client address are personal; the rest of the request is kept as given.
  assert.deepEqual(event.request, {
    ...scope.request,
    cookies: 'session=[Filtered]',
    env: { REMOTE_ADDR: '[Filtered]' },
  });
  assert.deepEqual(event.extra, { orderId: 1 });

  const crumbs = event.breadcrumbs?.values;
  assert.equal(crumbs?.length, 3);
  assert.deepEqual(crumbs[0], scope.breadcrumbs[0]);
  assert.deepEqual(crumbs[1], {
    timestamp: Date.parse('2024-01-01T00:00:00Z') / 1000,
    type: 'navigation',
    message: 'to checkout',
  });
  assert.equal(crumbs[2].message, 'no timestamp');
  assert.ok(
    crumbs[2].timestamp >= before - 1 && crumbs[2].timestamp <= after + 1,
    `a breadcrumb without timestamp is stamped now, got ${crumbs[2].timestamp}`,
  );

  assert.equal(legacy.level, 'warning');
  assert.deepEqual(legacy.user, event.user);
});

test('scope: a request with an object body and cookie map is kept (as the Scope type allows), cookies filtered', async () => {
  const request = {
    url: 'https://shop.example.com/orders',
    method: 'POST',
    data: { sku: 'A1', qty: 2 },
    cookies: { session: 'abc' },
  };
  const { event } = await capture(new Error('json body'), null, { request });
  assert.ok(event.request, 'the whole request was dropped');
  assert.equal(event.request.url, request.url);
  assert.equal(event.request.method, 'POST');
  const data = typeof event.request.data === 'string' ? JSON.parse(event.request.data) : event.request.data;
  assert.deepEqual(data, request.data);
  assert.equal(event.request.cookies, 'session=[Filtered]', 'cookie names stay, values go');
});

test('scope: fields of the wrong shape are ignored, valid ones kept, the event intact', async () => {
  const scope = {
    level: 'bogus',
    tags: 'not-an-object',
    user: 'bob',
    request: 5,
    breadcrumbs: { not: 'an array' },
    fingerprint: ['still-valid'],
    unknownField: true,
  };
  const { event, legacy, main } = await capture(new Error('bad scope'), { k: 1 }, scope);
  assertException(main, { type: 'Error', value: 'bad scope', mechanism: GENERIC });
  assert.equal(event.level ?? 'error', 'error', 'an unknown level falls back to error');
  assert.deepEqual(event.tags ?? {}, {});
  assert.equal(event.user, undefined);
  assert.equal(event.request, undefined);
  assert.deepEqual(event.breadcrumbs?.values ?? [], []);
  assert.deepEqual(event.fingerprint, ['still-valid']);
  assert.deepEqual(event.extra, { k: 1 });
  assert.equal(legacy.level, 'error');
  assertLegacy(legacy, { name: 'Error', message: 'bad scope' });
});

test('scope: bad entries inside fields are dropped one by one', async () => {
  const scope = {
    level: 'fatal',
    fingerprint: ['a', 3], // not all strings: ignored
    breadcrumbs: [1, 'x', null, { message: 'kept' }],
    user: { id: { nested: true } }, // an id must be a string or number
    tags: { nested: { x: 1 } },
  };
  const { event } = await capture(new Error('partly bad scope'), null, scope);
  assert.equal(event.level, 'fatal');
  assert.equal(event.fingerprint, undefined);
  assert.deepEqual(
    event.breadcrumbs?.values.map((b) => b.message),
    ['kept'],
  );
  assert.equal(event.user, undefined);
  assert.deepEqual(event.tags, { nested: '{"x":1}' });
});

// ---------------------------------------------------------------------------------------

test('every tracked id arrived exactly once at each sink, relay accepts all, no protocol problems', async () => {
  assert.equal(await tracker.flush(10_000), true);
  assert.deepEqual(file.rx.problems, []);
  assert.equal(new Set(file.ids).size, file.ids.length, 'ids are unique');
  assert.deepEqual(file.rx.events.map((e) => e.event_id).sort(), [...file.ids].sort());
  assert.deepEqual(file.rx.legacyErrors.map((e) => e.eventId).sort(), [...file.ids].sort());
  await assertNormalized(file.rx.events);
});
