// trackError runs inside the caller's catch block, so nothing it is handed may make it throw,
// hang, or lose the event. Each test feeds it something hostile, then checks that the event
// still arrives, says what it can, and passes Relay's normaliser.
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
const MESSAGE_BYTES = 8 * 1024;

const file = trackedFile(tracker, import.meta.url);
const { capture, locate } = file;

/** The throwing frame is the line of this file marked `marker`. */
function assertThrownHere(ex, marker) {
  const frames = ex.stacktrace?.frames;
  assert.ok(Array.isArray(frames) && frames.length > 0, `expected parsed frames, got ${JSON.stringify(ex.stacktrace)}`);
  const last = frames.at(-1);
  const where = locate(marker);
  assert.equal(last.abs_path, THIS_FILE, 'abs_path of the throwing frame');
  assert.equal(last.lineno, where.lineno, 'lineno of the throwing frame');
  assert.equal(last.in_app, true);
}

const boom = () => {
  throw new Error('hostile getter');
};
const TRAPS = [
  'get',
  'set',
  'has',
  'ownKeys',
  'getOwnPropertyDescriptor',
  'getPrototypeOf',
  'setPrototypeOf',
  'defineProperty',
  'deleteProperty',
  'isExtensible',
  'preventExtensions',
  'apply',
  'construct',
];
/** A Proxy whose every trap throws. */
const hostileProxy = (target = {}) => new Proxy(target, Object.fromEntries(TRAPS.map((t) => [t, boom])));

// ---------------------------------------------------------------------------------------
// Context values

test('circular context, direct and deep, becomes [Circular ~]; shared siblings do not', async () => {
  const direct = { label: 'root' };
  direct.self = direct;
  direct.list = [direct];
  const { event: e1 } = await capture(new Error('direct cycle'), direct);
  assert.deepEqual(e1.extra, { label: 'root', self: '[Circular ~]', list: ['[Circular ~]'] });

  const deep = { a: { b: { c: { d: {} } } } };
  deep.a.b.c.d.back = deep.a;
  deep.a.b.c.d.top = deep;
  const { event: e2 } = await capture(new Error('deep cycle'), deep);
  assert.deepEqual(e2.extra, { a: { b: { c: { d: { back: '[Circular ~]', top: '[Circular ~]' } } } } });

  const shared = { v: 1 };
  const { event: e3 } = await capture(new Error('shared'), { x: shared, y: [shared] });
  assert.deepEqual(e3.extra, { x: { v: 1 }, y: [{ v: 1 }] }, 'a repeated (not circular) object is copied each time');
});

test('a throwing getter in the context costs that value only', async () => {
  const context = {
    ok: 1,
    get bad() {
      return boom();
    },
    after: 'still here',
  };
  const { event, main } = await capture(new Error('getter in context'), context);
  assert.deepEqual(event.extra, { ok: 1, bad: '[Unreadable]', after: 'still here' });
  assert.equal(main.value, 'getter in context');
});

test('a throwing getter in the scope costs that field only', async () => {
  const scope = {
    get user() {
      return boom();
    },
    tags: { region: 'eu' },
    level: 'warning',
  };
  const { event } = await capture(new Error('getter in scope'), null, scope);
  assert.equal(event.user, undefined);
  assert.deepEqual(event.tags, { region: 'eu' });
  assert.equal(event.level, 'warning');
});

test('a Proxy whose every trap throws, as context and as scope', async () => {
  const { event, main } = await capture(new Error('proxy context'), { p: hostileProxy(), ok: true });
  assert.equal(main.value, 'proxy context');
  assert.equal(event.extra.ok, true);
  assert.equal(typeof event.extra.p, 'object', 'the proxy is copied as far as it lets us');
  assert.ok(
    Object.values(event.extra.p).every((v) => v === '[Unreadable]'),
    JSON.stringify(event.extra.p),
  );

  const root = await capture(new Error('proxy root context'), hostileProxy(), hostileProxy());
  assert.equal(root.main.value, 'proxy root context');
  assert.deepEqual(root.event.tags ?? {}, {});
  assert.equal(root.event.user, undefined);
});

test('BigInt, Symbol, function, undefined and NaN values become markers', async () => {
  const context = {
    big: 10n,
    sym: Symbol('desc'),
    named: function handler() {},
    arrow: () => 1,
    missing: undefined,
    nan: NaN,
    inf: -Infinity,
  };
  const { event } = await capture(new Error('unserialisable'), context);
  assert.deepEqual(event.extra, {
    big: '[BigInt: 10]',
    sym: '[Symbol(desc)]',
    named: '[Function: handler]',
    arrow: '[Function: arrow]',
    missing: '[undefined]',
    nan: '[NaN]',
    inf: '[-Infinity]',
  });
});

test('lone surrogates in the message and context become U+FFFD', async () => {
  const { main, event, legacy } = await capture(new Error('bad \uD800 text'), { s: 'x\uDC00y', ['k\uD800']: 1 });
  assert.equal(main.value, 'bad \uFFFD text');
  assert.deepEqual(event.extra, { s: 'x\uFFFDy', 'k\uFFFD': 1 });
  assert.equal(legacy.message, 'bad \uFFFD text');
});

test('a context with 10,000 keys keeps 200 and a [MaxProperties ~] marker', async () => {
  const wide = {};
  for (let i = 0; i < 10_000; i++) wide[`k${i}`] = i;
  const { event } = await capture(new Error('wide context'), wide);
  const keys = Object.keys(event.extra);
  assert.equal(keys.length, 201);
  assert.equal(event.extra['[MaxProperties ~]'], '[MaxProperties ~]');
  for (const k of keys.filter((k) => k !== '[MaxProperties ~]')) assert.equal(event.extra[k], Number(k.slice(1)));
});

test('a context 50 levels deep is cut to [Object] below depth 8', async () => {
  const root = {};
  let node = root;
  for (let i = 0; i < 50; i++) node = node.next = { level: i + 1 };
  const { event } = await capture(new Error('deep context'), { root });
  let levels = 1; // the context object itself
  let cur = event.extra;
  for (const key of ['root', ...Array(50).fill('next')]) {
    cur = cur[key];
    if (typeof cur !== 'object') break;
    levels += 1;
  }
  assert.equal(cur, '[Object]');
  assert.equal(levels, 8, 'eight levels of objects are copied');
});

test('frozen objects, null-prototype objects, Dates and typed arrays', async () => {
  const bare = Object.create(null);
  bare.x = 1;
  const context = {
    frozen: Object.freeze({ a: 1, list: Object.freeze([1, 2]) }),
    bare,
    epoch: new Date(0),
    invalid: new Date(NaN),
    bytes: new Uint8Array([1, 2, 3]),
    floats: new Float64Array(2),
    buf: Buffer.from('hi'),
  };
  const { event } = await capture(new Error('odd objects'), context);
  assert.deepEqual(event.extra.frozen, { a: 1, list: [1, 2] });
  assert.deepEqual(event.extra.bare, { x: 1 });
  assert.equal(Date.parse(event.extra.epoch), 0, `epoch as a date string, got ${event.extra.epoch}`);
  assert.equal(event.extra.invalid, '[Invalid Date]');
  assert.equal(event.extra.bytes, '[Uint8Array]');
  assert.equal(event.extra.floats, '[Float64Array]');
  assert.equal(event.extra.buf, '[Buffer]');

  const frozenRoot = await capture(new Error('frozen root'), Object.freeze({ k: 'v' }));
  assert.deepEqual(frozenRoot.event.extra, { k: 'v' });
  const bareRoot = await capture(new Error('null-proto root'), bare);
  assert.deepEqual(bareRoot.event.extra, { x: 1 });
});

test('a toJSON that throws is not called into trouble', async () => {
  const context = {
    order: {
      id: 5,
      toJSON() {
        throw new Error('toJSON exploded');
      },
    },
  };
  const { event, main } = await capture(new Error('toJSON'), context);
  assert.equal(main.value, 'toJSON');
  assert.equal(event.extra.order.id, 5);
});

// ---------------------------------------------------------------------------------------
// The thrown value

test('getters that throw on the error itself: message, name, stack, all three', async () => {
  const noMessage = new Error('secret'); /* here:noMessage */
  void noMessage.stack; // V8 formats the stack lazily, from name and message
  Object.defineProperty(noMessage, 'message', { get: boom });
  const m = await capture(noMessage);
  assert.equal(m.main.type, 'Error');
  assert.ok(m.main.value === undefined || m.main.value === '[Unreadable]', `value ${JSON.stringify(m.main.value)}`);
  assert.deepEqual(m.main.mechanism, GENERIC);
  assertThrownHere(m.main, 'noMessage');

  const noName = new TypeError('nameless');
  void noName.stack;
  Object.defineProperty(noName, 'name', { get: boom });
  const n = await capture(noName);
  assert.equal(n.main.type, 'TypeError', 'falls back to the constructor name');
  assert.equal(n.main.value, 'nameless');
  assert.equal(n.legacy.name, 'TypeError');

  const noStack = new Error('stackless');
  Object.defineProperty(noStack, 'stack', { get: boom });
  const s = await capture(noStack);
  assert.equal(s.main.type, 'Error');
  assert.equal(s.main.value, 'stackless');
  assert.equal(s.main.stacktrace, undefined);
  assert.equal(s.legacy.stack, null);

  const none = new RangeError('nothing readable');
  Object.defineProperty(none, 'stack', { get: boom });
  Object.defineProperty(none, 'message', { get: boom });
  Object.defineProperty(none, 'name', { get: boom });
  Object.defineProperty(none, 'cause', { get: boom });
  Object.defineProperty(none, 'code', { get: boom, enumerable: true });
  const all = await capture(none);
  assert.equal(all.values.length, 1);
  assert.equal(all.main.type, 'RangeError');
  assert.equal(all.main.stacktrace, undefined);
  assert.equal(all.event.contexts.RangeError?.code, '[Unreadable]');
});

test('a Proxy whose every trap throws, thrown (object and function targets) and as a cause', async () => {
  for (const target of [{}, function target() {}, new Error('wrapped')]) {
    const { main, values } = await capture(hostileProxy(target));
    assert.equal(values.length, 1);
    assert.equal(main.type, 'Error');
    assert.deepEqual(main.mechanism, SYNTHETIC);
    // A callable target makes the Proxy a function, reported by name like any thrown function.
    const expected =
      typeof target === 'function'
        ? /^Non-Error exception captured with value: \[Function: /
        : /^Object captured as exception with keys: /;
    assert.match(main.value, expected);
  }
  const { values } = await capture(new Error('proxy cause', { cause: hostileProxy() }));
  assert.equal(values.length, 2);
  assert.equal(values[0].type, 'Error');
  assert.deepEqual(values[0].mechanism, { type: 'chained', handled: true, synthetic: true, data: { source: 'cause' } });
  assert.equal(values[1].value, 'proxy cause');
  assert.deepEqual(values[1].mechanism, GENERIC);
});

test('a revoked Proxy, thrown and as context', async () => {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  const { main, event } = await capture(proxy, { revoked: proxy });
  assert.equal(main.type, 'Error');
  assert.deepEqual(main.mechanism, SYNTHETIC);
  assert.equal(typeof event.extra.revoked, 'object');
});

test('a null-prototype object and a frozen object, thrown', async () => {
  const bare = Object.create(null);
  bare.reason = 'bare';
  const b = await capture(bare);
  assert.equal(b.main.type, 'Error');
  assert.equal(b.main.value, 'Object captured as exception with keys: reason');
  assert.deepEqual(b.event.extra, { __serialized__: { reason: 'bare' } });

  const f = await capture(Object.freeze(new Error('frozen error')));
  assert.equal(f.main.value, 'frozen error');
  assert.ok(f.main.stacktrace?.frames.length > 0);
});

test('a 2 MB message: the event arrives, the value is cut to 8 KiB with …, frames still parsed', async () => {
  const huge = new Error('x'.repeat(2 * 1024 * 1024)); /* here:huge */
  const { main, legacy } = await capture(huge);
  assert.ok(main.value.endsWith('…'), 'a cut value ends with …');
  assert.ok(Buffer.byteLength(main.value) <= MESSAGE_BYTES + 3, `value is ${Buffer.byteLength(main.value)} bytes`);
  assert.ok(Buffer.byteLength(main.value) >= MESSAGE_BYTES - 4, 'the cut keeps (almost) 8 KiB');
  assert.match(main.value, /^x+…$/);
  assertThrownHere(main, 'huge');
  assert.equal(legacy.message, main.value);
});

test('a long multi-byte message is cut on a character boundary', async () => {
  const { main } = await capture(new Error('é'.repeat(5000) + '😀'.repeat(3000)));
  assert.ok(main.value.endsWith('…'));
  assert.ok(Buffer.byteLength(main.value) <= MESSAGE_BYTES + 3);
  assert.ok(
    !/[\uD800-\uDFFF]/.test(main.value.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '')),
    'no split surrogate pair',
  );
  assert.ok(!main.value.includes('\uFFFD'), 'no character mangled by the cut');
});

test('a thrown string over 8 KiB is cut with …', async () => {
  const { main } = await capture('s'.repeat(100_000));
  assert.match(main.value, /^s+…$/);
  assert.ok(Buffer.byteLength(main.value) <= MESSAGE_BYTES + 3);
});

test('an error whose stack is deleted, a number or an object has no frames but arrives', async () => {
  const deleted = new Error('stack deleted');
  delete deleted.stack;
  const number = new Error('stack is a number');
  number.stack = 42;
  const object = new Error('stack is an object');
  object.stack = { frames: ['not', 'a', 'string'] };
  for (const err of [deleted, number, object]) {
    const { main, legacy, values } = await capture(err);
    assert.equal(values.length, 1);
    assert.equal(main.type, 'Error');
    assert.equal(main.value, err.message);
    assert.deepEqual(main.mechanism, GENERIC);
    assert.equal(main.stacktrace, undefined);
    assert.equal(legacy.stack, null);
    assert.equal(legacy.message, err.message);
  }
});

test('a message with stack-like lines does not forge frames', async () => {
  const userInput = 'x\n    at forged (/etc/forged.js:6:6)';
  const err = new Error(`bad input: ${userInput}`); /* here:forged */
  const { main } = await capture(err);
  assert.equal(main.value, `bad input: ${userInput}`);
  const paths = main.stacktrace?.frames.map((f) => f.abs_path) ?? [];
  assert.ok(!paths.includes('/etc/forged.js'), `a frame was parsed out of the message: ${JSON.stringify(paths)}`);
  assertThrownHere(main, 'forged');
});

test('a cause chain of 100 and an AggregateError of 1,000 are bounded', async () => {
  let chain = new Error('c0');
  for (let i = 1; i < 100; i++) chain = new Error(`c${i}`, { cause: chain });
  const c = await capture(chain);
  assert.equal(c.values.length, 10);
  assert.equal(c.main.value, 'c99');
  assert.deepEqual(
    c.values.map((v) => v.value),
    ['c90', 'c91', 'c92', 'c93', 'c94', 'c95', 'c96', 'c97', 'c98', 'c99'],
  );

  const agg = await capture(
    new AggregateError(
      Array.from({ length: 1000 }, (_, i) => new Error(`m${i}`)),
      'many',
    ),
  );
  assert.equal(agg.values.length, 10);
  assert.equal(agg.main.type, 'AggregateError');
});

test('trackError() with no arguments returns an id and sends an event', async () => {
  const { main } = await capture();
  assert.equal(main.type, 'Error');
  assert.equal(main.value, 'Non-Error exception captured with value: undefined');
  assert.deepEqual(main.mechanism, SYNTHETIC);
});

// ---------------------------------------------------------------------------------------

test('counters, delivery and normalisation over the whole file', async () => {
  assert.equal(await tracker.flush(10_000), true);
  const s = tracker.stats();
  assert.equal(s.captured, file.calls, 'captured counts every call this process made');
  assert.equal(s.failed, 0);
  assert.equal(s.queued, 0);
  assert.equal(s.dropped, 0);
  assert.equal(s.delivered.sentry, file.calls);
  assert.equal(s.delivered.legacy, file.calls);
  assert.deepEqual(file.rx.problems, []);
  assert.deepEqual(file.rx.events.map((e) => e.event_id).sort(), [...file.ids].sort());
  assert.deepEqual(file.rx.legacyErrors.map((e) => e.eventId).sort(), [...file.ids].sort());
  await assertNormalized(file.rx.events);
});
