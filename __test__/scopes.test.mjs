// Scopes, breadcrumbs, captureMessage, ignoreErrors and request data (issue 19), seen from
// outside: a real http server in this process, interleaved requests, every event through the
// strict receiver and Relay's normaliser.
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from './support/child.mjs';
import { assertNormalized, closeNormalizer } from './support/normalize.mjs';
import { startReceiver } from './support/receiver.mjs';

const require = createRequire(import.meta.url);
const tracker = require('../index.js');

let rx;
let dataDir;
let server;
let base;
const options = () => ({ dsn: rx.dsn, dataDir, legacyEndpoint: rx.legacyUrl, legacyMaxRequestsPerMinute: 10_000 });

before(async () => {
  rx = await startReceiver();
  dataDir = tempDir('et-scopes-');
  tracker.init(options());
  // An app server: an auth layer sets the user from a header, the handler logs, calls an
  // upstream (fetch and http), waits a random while so requests interleave, then fails.
  server = createServer(async (req, res) => {
    if (req.url.startsWith('/upstream')) {
      res.statusCode = req.url.endsWith('404') ? 404 : 200;
      res.end('ok');
      return;
    }
    const who = req.headers['x-user'];
    tracker.setUser({ id: who });
    tracker.setTag('tenant', `t-${who}`);
    tracker.setContext('order', { ref: `o-${who}` });
    console.warn(`screening for ${who}`);
    await sleep(Math.random() * 15);
    await fetch(`${base}/upstream/${who}`).then((r) => r.text());
    await new Promise((resolve) => {
      httpRequest(`${base}/upstream/${who}/404`, (r) => r.resume().on('end', resolve)).end();
    });
    await sleep(Math.random() * 15);
    tracker.addBreadcrumb({ category: 'screening', message: `matched ${who}` });
    if (req.url === '/route') {
      tracker.trackError(new Error(`route failed for ${who}`));
    } else {
      tracker.onRequestError(
        new Error(`render failed for ${who}`),
        { path: '/subjects/1', method: 'GET', headers: req.headers },
        { routerKind: 'App Router', routePath: '/subjects/[id]', routeType: 'render' },
      );
    }
    res.end('done');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});
after(async () => {
  server?.close();
  await tracker.close(10_000);
  await rx?.close();
  await closeNormalizer();
});

const get = (path, user) => fetch(`${base}${path}`, { headers: { 'x-user': user } }).then((r) => r.text());
const byMessage = (text) => rx.events.find((e) => e.exception?.values?.at(-1)?.value === text);

test('interleaved requests each carry their own user, tags, contexts and breadcrumbs', async () => {
  const users = Array.from({ length: 12 }, (_, i) => `user${i}`);
  await Promise.all(users.flatMap((u) => [get('/route', u), get('/render', u)]));
  assert.equal(await tracker.flush(10_000), true);
  assert.deepEqual(rx.problems, []);
  for (const u of users) {
    for (const text of [`route failed for ${u}`, `render failed for ${u}`]) {
      const event = byMessage(text);
      assert.ok(event, text);
      assert.deepEqual(event.user, { id: u }, `${text}: its user`);
      assert.equal(event.tags.tenant, `t-${u}`, `${text}: its tag`);
      assert.equal(event.contexts.order.ref, `o-${u}`, `${text}: its context`);
      const crumbs = event.breadcrumbs.values;
      const console = crumbs.filter((c) => c.category === 'console');
      assert.deepEqual(
        console.map((c) => [c.message, c.level]),
        [[`screening for ${u}`, 'warning']],
      );
      const outgoing = crumbs.filter((c) => c.type === 'http' && c.data.url.includes('/upstream/'));
      assert.deepEqual(
        // The URL's address is scrubbed (`[ip]`); the path says whose request it was.
        outgoing.map((c) => [c.category, c.data.method, c.data.url.replace(/^http:\/\/[^/]*/, ''), c.data.status_code]),
        [
          ['fetch', 'GET', `/upstream/${u}`, 200],
          ['http', 'GET', `/upstream/${u}/404`, 404],
        ],
        `${text}: its own outgoing requests`,
      );
      assert.ok(outgoing.every((c) => typeof c.data.duration_ms === 'number'));
      assert.equal(crumbs.at(-1).message, `matched ${u}`);
      assert.equal(event.request.method, 'GET');
    }
  }
  // onRequestError's events count the users the route set.
  const renders = tracker.stats().groups.filter((g) => g.title.startsWith('Error: render failed'));
  assert.equal(
    renders.reduce((n, g) => n + g.users, 0),
    users.length,
  );
  await assertNormalized(rx.events);
});

test('outside a request the process-wide scope applies, and withScope adds to it for a block', async () => {
  tracker.setTag('process', 'wide');
  let inner;
  tracker.withScope((scope) => {
    scope.setTag('block', 'yes').setUser({ id: 'batch-job' });
    inner = tracker.trackError(new Error('in a block'));
  });
  const outer = tracker.trackError(new Error('after the block'));
  tracker.getIsolationScope().setTags({ process: undefined });
  assert.equal(await tracker.flush(10_000), true);
  const a = rx.events.find((e) => e.event_id === inner);
  const b = rx.events.find((e) => e.event_id === outer);
  assert.equal(a.tags.process, 'wide');
  assert.equal(a.tags.block, 'yes');
  assert.deepEqual(a.user, { id: 'batch-job' });
  assert.equal(b.tags.block, undefined, 'the block scope is gone after it');
  assert.equal(b.user, undefined);
});

test('captureMessage sends a message event with no exception', async () => {
  const id = tracker.captureMessage('list refresh took 40s', 'warning', { tags: { list: 'OFSI' } });
  const info = tracker.captureMessage('nightly run done');
  assert.equal(await tracker.flush(10_000), true);
  assert.deepEqual(rx.problems, []);
  const event = rx.events.find((e) => e.event_id === id);
  assert.equal(event.level, 'warning');
  assert.equal(event.logentry.message, 'list refresh took 40s');
  assert.equal(event.exception, undefined);
  assert.equal(event.tags.list, 'OFSI');
  assert.equal(rx.events.find((e) => e.event_id === info).level, 'info');
  const legacy = rx.legacyErrors.find((e) => e.eventId === id);
  assert.equal(legacy.message, 'list refresh took 40s');
  const groups = tracker.stats().groups.map((g) => g.title);
  assert.ok(groups.includes('list refresh took 40s') && groups.includes('nightly run done'));
  await assertNormalized([event]);
});

test("Next.js's control-flow throws are never captured", async () => {
  const before = tracker.stats().captured;
  const redirect = Object.assign(new Error('NEXT_REDIRECT'), { digest: 'NEXT_REDIRECT;replace;/login;307;' });
  const notFound = Object.assign(new Error('NEXT_NOT_FOUND'), { digest: 'NEXT_NOT_FOUND' });
  const forbidden = Object.assign(new Error('NEXT_HTTP_ERROR_FALLBACK;403'), {
    digest: 'NEXT_HTTP_ERROR_FALLBACK;403',
  });
  for (const err of [redirect, notFound, forbidden]) assert.equal(tracker.trackError(err), '');
  assert.equal(tracker.stats().captured, before);
  assert.match(tracker.trackError(Object.assign(new Error('x'), { digest: '1234' })), /^[0-9a-f]{32}$/);
  assert.equal(await tracker.flush(10_000), true);
});

test('ignoreErrors (strings and RegExps) drops matches on the worker and counts them', async () => {
  tracker.init({ ...options(), ignoreErrors: ['ResizeObserver loop', /^aborterror: .*client/i] });
  const before = tracker.stats().ignored;
  const sent = rx.events.length;
  tracker.trackError(new Error('ResizeObserver loop limit exceeded'));
  tracker.trackError(Object.assign(new Error('request aborted by the client'), { name: 'AbortError' }));
  tracker.captureMessage('ResizeObserver loop noise');
  const kept = tracker.trackError(new Error('screening failed'));
  assert.equal(await tracker.flush(10_000), true);
  assert.equal(tracker.stats().ignored - before, 3);
  assert.deepEqual(
    rx.events.slice(sent).map((e) => e.event_id),
    [kept],
  );
  assert.throws(() => tracker.init({ ...options(), ignoreErrors: [/(?<=a)b/] }), /ignoreErrors\[0\]/);
  assert.throws(() => tracker.init({ ...options(), ignoreErrors: [7] }), /ignoreErrors\[0\]/);
  assert.throws(() => tracker.init({ ...options(), breadcrumbs: { consol: false } }), /breadcrumbs\.consol/);
  tracker.init(options());
});

test('scope.request.headers may be a Web Headers; trustProxy takes the URL from X-Forwarded-*', async () => {
  const headers = new Headers({
    host: '10.0.0.7:3000',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'screening.example',
    accept: 'application/json',
  });
  const scope = { request: { url: '/api/screen?list=OFSI', method: 'POST', headers } };
  const plain = tracker.trackError(new Error('behind a proxy, untrusted'), null, scope);
  tracker.init({ ...options(), trustProxy: true });
  const trusted = tracker.trackError(new Error('behind a proxy, trusted'), null, scope);
  tracker.init(options());
  assert.equal(await tracker.flush(10_000), true);
  const a = rx.events.find((e) => e.event_id === plain);
  const b = rx.events.find((e) => e.event_id === trusted);
  assert.match(a.request.url, /^http:\/\/10\.0\.0\.7:3000\/api\/screen/);
  assert.equal(a.request.headers.accept ?? a.request.headers.Accept, 'application/json');
  assert.match(b.request.url, /^https:\/\/screening\.example\/api\/screen/);
  await assertNormalized([a, b]);
});

test('each kind of automatic breadcrumb can be turned off', async () => {
  tracker.init({ ...options(), breadcrumbs: { console: false, fetch: false, http: false } });
  let id;
  try {
    await tracker.withScope(async () => {
      console.error('not recorded');
      await fetch(`${base}/upstream/x`).then((r) => r.text());
      await new Promise((resolve) => httpRequest(`${base}/upstream/y`, (r) => r.resume().on('end', resolve)).end());
      tracker.getCurrentScope().addBreadcrumb({ message: 'by hand' });
      id = tracker.trackError(new Error('no automatic crumbs'));
    });
  } finally {
    tracker.init(options());
  }
  assert.equal(await tracker.flush(10_000), true);
  const event = rx.events.find((e) => e.event_id === id);
  const mine = event.breadcrumbs.values.filter(
    (c) => c.message === 'not recorded' || /\/upstream\/[xy]$/.test(c.data?.url ?? '') || c.message === 'by hand',
  );
  assert.deepEqual(
    mine.map((c) => c.message),
    ['by hand'],
  );
});

test('recording http client breadcrumbs leaves an unhandled request error unhandled', async () => {
  const { runNode } = await import('./support/child.mjs');
  const { closedPort } = await import('./support/receiver.mjs');
  const port = await closedPort();
  // No 'error' listener: Node throws the connection error, and must still.
  const run = await runNode(`
    import http from 'node:http';
    tracker.init({ dataDir: ${JSON.stringify(tempDir('et-scopes-'))}, captureUncaught: false });
    http.get('http://127.0.0.1:${port}/');
    setTimeout(() => console.log('survived'), 2000);
  `);
  assert.notEqual(run.code, 0, run.stdout);
  assert.match(run.stderr, /ECONNREFUSED/);
});

test('a scope whose reading throws never makes a capture throw', () => {
  const hostile = new Proxy(
    {},
    {
      ownKeys() {
        throw new Error('no keys');
      },
    },
  );
  const withThrowingHeaders = {
    request: {
      get headers() {
        throw new Error('no headers');
      },
    },
  };
  tracker.withScope((scope) => {
    scope.setTag('in', 'scope');
    assert.match(tracker.trackError(new Error('hostile scope'), null, hostile), /^[0-9a-f]{32}$/);
    assert.match(tracker.trackError(new Error('hostile headers'), null, withThrowingHeaders), /^[0-9a-f]{32}$/);
    assert.match(tracker.captureMessage('hostile', 'info', hostile), /^[0-9a-f]{32}$/);
  });
});
