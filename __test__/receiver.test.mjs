// Self-tests of the test harness: the receiver and normaliser are only worth
// trusting if they demonstrably reject what real Sentry/Relay would reject.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import { ensureRelay } from '../scripts/ensure-relay.mjs';
import { assertNormalized, closeNormalizer, normalize } from './support/normalize.mjs';
import { startReceiver } from './support/receiver.mjs';

const AUTH = 'Sentry sentry_version=7, sentry_key=testpublickey, sentry_client=harness-selftest/1.0.0';
const newId = () => randomUUID().replace(/-/g, '');
const nodeEvent = (over = {}) => ({
  event_id: newId(),
  timestamp: Date.now() / 1000,
  platform: 'node',
  level: 'error',
  exception: { values: [{ type: 'Error', value: 'x' }] },
  ...over,
});

/** Builds an envelope by hand; `length` picks how the event item's length is declared. */
function envelope(
  event,
  { headers = { event_id: event.event_id, sent_at: new Date().toISOString() }, length = 'bytes' } = {},
) {
  const payload = JSON.stringify(event);
  const itemHeader = { type: 'event' };
  if (length === 'bytes') itemHeader.length = Buffer.byteLength(payload);
  else if (length === 'chars') itemHeader.length = payload.length;
  else if (typeof length === 'number') itemHeader.length = Buffer.byteLength(payload) + length;
  return Buffer.from(`${JSON.stringify(headers)}\n${JSON.stringify(itemHeader)}\n${payload}\n`);
}

let rx;
const post = (body, { headers = {}, path = '/api/42/envelope/' } = {}) =>
  fetch(`http://127.0.0.1:${rx.port}${path}`, {
    method: 'POST',
    // undefined drops a default header (fetch would send the string "undefined")
    headers: Object.fromEntries(
      Object.entries({ 'content-type': 'application/x-sentry-envelope', 'x-sentry-auth': AUTH, ...headers }).filter(
        ([, v]) => v !== undefined,
      ),
    ),
    body,
  });

/** Posts and expects a rejection whose problem matches `re`. */
async function expectProblem(responsePromise, re, status = 400) {
  const res = await responsePromise;
  await res.arrayBuffer();
  assert.equal(res.status, status, `status; problems: ${JSON.stringify(rx.problems)}`);
  assert.ok(
    rx.problems.some((p) => re.test(p)),
    `expected a problem matching ${re}, got ${JSON.stringify(rx.problems)}`,
  );
  assert.equal(rx.events.length, 0, 'a rejected envelope must not yield events');
}

describe('receiver: sentry envelopes', () => {
  beforeEach(async () => {
    rx = await startReceiver();
  });
  afterEach(() => rx.close());

  test('listens on loopback and builds a matching DSN', () => {
    assert.match(rx.dsn, new RegExp(`^http://testpublickey@127\\.0\\.0\\.1:${rx.port}/42$`));
    assert.equal(rx.legacyUrl, `http://127.0.0.1:${rx.port}/capture-error`);
  });

  test('accepts and parses a correct envelope', async () => {
    const ev = nodeEvent();
    const headers = { event_id: ev.event_id, dsn: `${rx.dsn}/`, sent_at: new Date().toISOString() };
    const res = await post(envelope(ev, { headers }));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { id: ev.event_id });
    assert.deepEqual(rx.problems, []);
    assert.deepEqual(rx.events, [ev]);
    assert.equal(rx.envelopes[0].items[0].header.type, 'event');
    assert.equal(rx.envelopes[0].status, 200);
    assert.equal(rx.envelopes[0].httpHeaders['x-sentry-auth'], AUTH);
    assert.equal(rx.requests, 1);
  });

  test('accepts items with and without length, unknown types and a missing final newline', async () => {
    const ev = nodeEvent();
    const bin = Buffer.from([0, 10, 255, 10]); // binary attachment containing \n bytes
    const body = Buffer.concat([
      Buffer.from(`{"event_id":"${ev.event_id}"}\n{"type":"event"}\n${JSON.stringify(ev)}\n`),
      Buffer.from(`{"type":"attachment","length":${bin.length},"filename":"a.bin"}\n`),
      bin,
      Buffer.from('\n{"type":"some_future_type"}\n{"any":"thing"}'),
    ]);
    const res = await post(body);
    assert.equal(res.status, 200, JSON.stringify(rx.problems));
    assert.deepEqual(rx.problems, []);
    const items = rx.envelopes[0].items;
    assert.deepEqual(
      items.map((i) => i.header.type),
      ['event', 'attachment', 'some_future_type'],
    );
    assert.deepEqual(items[1].payload, bin);
    assert.deepEqual(items[2].json, { any: 'thing' });
  });

  test('accepts auth in the query string', async () => {
    const ev = nodeEvent();
    const res = await post(envelope(ev), {
      headers: { 'x-sentry-auth': undefined },
      path: '/api/42/envelope/?sentry_key=testpublickey&sentry_version=7',
    });
    assert.equal(res.status, 200, JSON.stringify(rx.problems));
    assert.equal(rx.events.length, 1);
  });

  test('accepts gzip and deflate bodies', async () => {
    const a = nodeEvent();
    const b = nodeEvent();
    assert.equal((await post(gzipSync(envelope(a)), { headers: { 'content-encoding': 'gzip' } })).status, 200);
    assert.equal((await post(deflateSync(envelope(b)), { headers: { 'content-encoding': 'deflate' } })).status, 200);
    assert.deepEqual(rx.problems, []);
    assert.deepEqual(rx.events, [a, b]);
  });

  test('rejects a wrong sentry_key', () =>
    expectProblem(
      post(envelope(nodeEvent()), { headers: { 'x-sentry-auth': AUTH.replace('testpublickey', 'nope') } }),
      /sentry_key/,
    ));

  test('rejects a missing X-Sentry-Auth', () =>
    expectProblem(post(envelope(nodeEvent()), { headers: { 'x-sentry-auth': undefined } }), /missing X-Sentry-Auth/));

  test('rejects a wrong sentry_version and a sentry_client without version', () =>
    expectProblem(
      post(envelope(nodeEvent()), {
        headers: { 'x-sentry-auth': 'Sentry sentry_version=6, sentry_key=testpublickey, sentry_client=nameonly' },
      }),
      /sentry_version must be 7/,
    ).then(() => assert.ok(rx.problems.some((p) => /sentry_client must be name\/version/.test(p)))));

  test('rejects a length one byte too long', () =>
    expectProblem(post(envelope(nodeEvent(), { length: +1 })), /length/));
  test('rejects a length one byte too short', () =>
    expectProblem(post(envelope(nodeEvent(), { length: -1 })), /not followed by \\n/));

  test('rejects an event without event_id', () => {
    const ev = nodeEvent();
    delete ev.event_id;
    return expectProblem(
      post(envelope(ev, { headers: { event_id: newId() } })),
      /event\.event_id must be 32 lowercase hex/,
    );
  });

  test('rejects an envelope header without event_id for an event', () =>
    expectProblem(post(envelope(nodeEvent(), { headers: {} })), /lacks event_id/));

  test('rejects mismatched event_ids', () =>
    expectProblem(post(envelope(nodeEvent(), { headers: { event_id: newId() } })), /!= event\.event_id/));

  test('rejects uppercase event_id in the event', () => {
    const ev = nodeEvent();
    ev.event_id = ev.event_id.toUpperCase();
    return expectProblem(post(envelope(ev, { headers: { event_id: ev.event_id } })), /32 lowercase hex/);
  });

  test('rejects a non-JSON envelope header', () =>
    expectProblem(post(Buffer.from('not json\n{"type":"event"}\n{}\n')), /envelope header is not JSON/));

  test('rejects a wrong content type', () =>
    expectProblem(post(envelope(nodeEvent()), { headers: { 'content-type': 'application/json' } }), /Content-Type/));

  test('rejects an empty line between items', () => {
    const ev = nodeEvent();
    const body = `{"event_id":"${ev.event_id}"}\n{"type":"event"}\n${JSON.stringify(ev)}\n\n{"type":"session"}\n{}\n`;
    return expectProblem(post(body), /empty line/);
  });

  test('rejects two events in one envelope', () => {
    const ev = nodeEvent();
    const item = `{"type":"event"}\n${JSON.stringify(ev)}\n`;
    return expectProblem(post(`{"event_id":"${ev.event_id}"}\n${item}${item}`), /2 event items/);
  });

  test('rejects a non-RFC 3339 sent_at and a foreign dsn', async () => {
    const ev = nodeEvent();
    await expectProblem(
      post(
        envelope(ev, { headers: { event_id: ev.event_id, sent_at: 'yesterday', dsn: 'http://k@example.invalid/1' } }),
      ),
      /sent_at/,
    );
    assert.ok(rx.problems.some((p) => /dsn/.test(p)));
  });

  test('byte length vs char length with multi-byte UTF-8', async () => {
    const ev = nodeEvent({ exception: { values: [{ type: 'Error', value: 'héllo ✓ 😀 日本' }] } });
    const res = await post(envelope(ev, { length: 'bytes' }));
    assert.equal(res.status, 200, JSON.stringify(rx.problems));
    assert.deepEqual(rx.events, [ev]);
    assert.deepEqual(rx.problems, []);
    rx.events.length = 0;
    await expectProblem(post(envelope(nodeEvent({ message: 'ünïcödé ✓' }), { length: 'chars' })), /length/);
  });

  test('unknown routes are 404 problems', async () => {
    await expectProblem(post(envelope(nodeEvent()), { path: '/api/43/envelope/' }), /unexpected request/, 404);
    await expectProblem(fetch(`http://127.0.0.1:${rx.port}/api/42/envelope/`), /GET .*unexpected request/, 404);
  });

  test('waitFor resolves when the predicate holds and rejects descriptively on timeout', async () => {
    const pending = rx.waitFor((r) => r.events.length === 1);
    await post(envelope(nodeEvent()));
    assert.equal(await pending, rx);
    await assert.rejects(
      rx.waitFor((r) => r.events.length === 5, 50),
      /waitFor timed out after 50 ms[\s\S]*events=1/,
    );
  });
});

describe('receiver: respond hook', () => {
  afterEach(() => rx.close());

  test('injects statuses, headers and delays', async () => {
    let calls = 0;
    rx = await startReceiver({
      respond: (kind) =>
        ++calls === 1 ? { status: 429, headers: { 'retry-after': '7' }, body: '' } : { delayMs: 100 },
    });
    const first = await post(envelope(nodeEvent()));
    assert.equal(first.status, 429);
    assert.equal(first.headers.get('retry-after'), '7');
    const t0 = Date.now();
    const second = await post(envelope(nodeEvent()));
    assert.equal(second.status, 200);
    assert.ok(Date.now() - t0 >= 90, 'delayMs honoured');
    assert.deepEqual(
      rx.envelopes.map((e) => e.status),
      [429, 200],
    );
    assert.deepEqual(rx.problems, []);
  });
});

describe('receiver: legacy endpoint', () => {
  afterEach(() => rx.close());
  const postLegacy = (body, headers = {}) =>
    fetch(rx.legacyUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  test('accepts a batch without a token when none is required', async () => {
    rx = await startReceiver();
    const res = await postLegacy({ errors: [{ message: 'a' }, { message: 'b' }] });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true });
    assert.deepEqual(rx.legacyErrors, [{ message: 'a' }, { message: 'b' }]);
    assert.equal(typeof rx.legacyRequests[0].at, 'number');
    assert.deepEqual(rx.problems, []);
  });

  test('requires the bearer token when configured', async () => {
    rx = await startReceiver({ legacyToken: 's3cret' });
    const missing = await postLegacy({ errors: [{ message: 'a' }] });
    assert.equal(missing.status, 401);
    assert.equal(rx.problems.length, 1);
    assert.match(rx.problems[0], /Bearer/);
    const ok = await postLegacy({ errors: [{ message: 'b' }] }, { authorization: 'Bearer s3cret' });
    assert.equal(ok.status, 200);
    assert.deepEqual(rx.legacyErrors, [{ message: 'b' }]);
  });

  test('rejects empty or malformed batches', async () => {
    rx = await startReceiver();
    assert.equal((await postLegacy({ errors: [] })).status, 400);
    assert.equal((await postLegacy({ errors: ['str'] })).status, 400);
    assert.equal((await postLegacy([{ message: 'a' }])).status, 400);
    assert.equal(rx.problems.length, 3);
    assert.equal(rx.legacyRequests.length, 0);
  });
});

describe('normaliser (sentry-relay StoreNormalizer)', () => {
  before(
    async () => {
      await ensureRelay();
    },
    { timeout: 300_000 },
  );
  after(() => closeNormalizer());

  test('passes a minimal valid node event', async () => {
    const [r] = await assertNormalized([nodeEvent()]);
    assert.equal(r.normalized.platform, 'node');
  });

  test('fails for an invalid level, naming the event', async () => {
    const bad = nodeEvent({ level: 'bogus' });
    await assert.rejects(assertNormalized([nodeEvent(), bad]), (err) => {
      assert.equal(err.name, 'AssertionError');
      assert.match(err.message, new RegExp(`${bad.event_id}: invalid_data at level: invalid level`));
      return true;
    });
  });

  test('reports invalid timestamps and non-object events', async () => {
    const [ts, str] = await normalize([nodeEvent({ timestamp: 'not a time' }), 'just a string']);
    assert.equal(ts.ok, true);
    assert.ok(
      ts.errors.some((e) => e.name === 'timestamp'),
      JSON.stringify(ts.errors),
    );
    assert.equal(str.ok, false);
    assert.match(str.exception, /JSON object/);
  });
});
