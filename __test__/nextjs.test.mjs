// Next.js's instrumentation hook, `onRequestError(err, request, context)`: the event carries
// the request (absolute URL from the Host header, method, headers with credentials filtered),
// the route as tags and as the transaction, and passes Relay's normaliser. The example app in
// issue 6 exercises the same hook under a real `next start`.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { assertNormalized, closeNormalizer } from './support/normalize.mjs';
import { startReceiver } from './support/receiver.mjs';
import { tempDir } from './support/child.mjs';

const tracker = createRequire(import.meta.url)('../index.js');
let rx;

before(async () => {
  rx = await startReceiver();
  tracker.init({ dsn: rx.dsn, legacyEndpoint: rx.legacyUrl, legacyMaxRequestsPerMinute: 10_000, dataDir: tempDir() });
});

after(async () => {
  await tracker.close(5000);
  await rx.close();
  await closeNormalizer();
});

test('onRequestError: request, route tags and transaction; credentials filtered', async () => {
  const err = new Error('screening backend unavailable');
  const id = tracker.onRequestError(
    err,
    {
      path: '/api/screen?list=OFSI',
      method: 'POST',
      headers: {
        host: 'app.example',
        cookie: 'sid=abc123',
        authorization: 'Bearer tok_abc123xyz',
        'user-agent': 'test-agent',
      },
    },
    { routerKind: 'App Router', routePath: '/api/screen', routeType: 'route', renderSource: undefined },
  );
  assert.match(id, /^[0-9a-f]{32}$/);
  assert.equal(await tracker.flush(10_000), true);
  const event = rx.events.find((e) => e.event_id === id);
  assert.ok(event, `no event ${id}; problems ${JSON.stringify(rx.problems)}`);
  assert.equal(event.transaction, 'POST /api/screen');
  assert.deepEqual(event.tags, { routerKind: 'App Router', routePath: '/api/screen', routeType: 'route' });
  assert.equal(event.request.url, 'http://app.example/api/screen?list=OFSI');
  assert.equal(event.request.method, 'POST');
  assert.equal(event.request.headers['user-agent'], 'test-agent');
  assert.equal(event.request.headers.authorization, '[Filtered]');
  assert.equal(event.request.headers.cookie, 'sid=[Filtered]');
  assert.equal(event.exception.values.at(-1).value, 'screening backend unavailable');
  assert.ok(
    rx.legacyErrors.some((e) => e.eventId === id),
    'the legacy sink got it too',
  );
  assert.deepEqual(rx.problems, []);
  await assertNormalized([event]);
});

test('onRequestError never throws, whatever Next hands it', async () => {
  for (const args of [
    [],
    [null, null, null],
    ['a string', 42, 'x'],
    [new Error('x'), { headers: 7 }, { routePath: 9 }],
  ]) {
    let id;
    assert.doesNotThrow(() => {
      id = tracker.onRequestError(...args);
    });
    assert.match(id, /^[0-9a-f]{32}$/);
  }
  assert.equal(await tracker.flush(10_000), true);
  assert.deepEqual(rx.problems, []);
});

test('errorResponse: a generic body with the event id; the full error goes to the sinks', async () => {
  const err = new Error('list checksum mismatch at row 1187');
  const body = tracker.errorResponse(err, { listVersion: 'OFSI-2026-11-18' });
  assert.deepEqual(Object.keys(body).sort(), ['error', 'requestId']);
  assert.equal(body.error, 'Internal server error');
  assert.match(body.requestId, /^[0-9a-f]{32}$/);
  assert.equal(await tracker.flush(10_000), true);
  const event = rx.events.find((e) => e.event_id === body.requestId);
  assert.ok(event, 'the requestId is the Sentry event id');
  assert.equal(event.exception.values.at(-1).value, 'list checksum mismatch at row 1187');
  assert.deepEqual(event.extra, { listVersion: 'OFSI-2026-11-18' });
});

test('internalServerError: a ready 500 Response that leaks no stack', async () => {
  const response = tracker.internalServerError(new Error('secret internals at /srv/app/lib/db.ts'));
  assert.ok(response instanceof Response);
  assert.equal(response.status, 500);
  assert.equal(response.headers.get('cache-control'), 'no-store');
  assert.match(response.headers.get('content-type'), /^application\/json/);
  const text = await response.text();
  assert.doesNotMatch(text, /secret internals|db\.ts|at /);
  const { error, requestId } = JSON.parse(text);
  assert.equal(error, 'Internal server error');
  assert.equal(await tracker.flush(10_000), true);
  assert.ok(
    rx.events.some((e) => e.event_id === requestId),
    'the requestId names the captured event',
  );
});

test('onRequestError: a search term in the path (q=…) reaches no sink (issue 18, item 3)', async () => {
  const id = tracker.onRequestError(
    new Error('search backend timed out'),
    { path: '/api/search?q=Vladimir%20Putin&page=2', method: 'GET', headers: { host: 'app.example' } },
    { routerKind: 'App Router', routePath: '/api/search', routeType: 'route', renderSource: undefined },
  );
  assert.equal(await tracker.flush(10_000), true);
  const event = rx.events.find((e) => e.event_id === id);
  assert.ok(event, `no event ${id}; problems ${JSON.stringify(rx.problems)}`);
  assert.equal(event.request.url, 'http://app.example/api/search?q=[Filtered]&page=2');
  const raw = [
    ...rx.envelopes.filter((e) => e.raw.includes(id)).map((e) => e.raw),
    ...rx.legacyRequests.filter((r) => r.raw.includes(id)).map((r) => r.raw),
  ];
  assert.equal(raw.length, 2, 'one Sentry envelope and one legacy request');
  for (const body of raw) assert.doesNotMatch(body, /vladimir|putin/i);
  assert.equal(event.exception.values.at(-1).value, 'search backend timed out');
});
