// End to end with a real Next.js app: examples/nextjs is copied to a temporary folder, gets the
// addon by the path users take (the two tarballs `npm run pack:local` leaves), is built with
// `next build` and served by `next start`. Its route handler, server action and server
// component throw; the loopback receiver must get each error with frames resolved to the
// app's .ts/.tsx sources, with the request and route, and without the subject's personal data.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { cpSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { assertNormalized, closeNormalizer } from './support/normalize.mjs';
import { startReceiver } from './support/receiver.mjs';
import { tempDir } from './support/child.mjs';

const root = resolve(import.meta.dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
// The subject the app screens: none of this may reach a sink.
const NAME = 'Adaeze Okonkwo-Whitfield';
const DOB = '1984-03-17';
const PERSONAL = ['Adaeze', 'Okonkwo', 'Whitfield', DOB];
// Users are pseudonymised with this key: Sentry sees HMAC-SHA256(salt, id), never the id.
const SALT = 'e2e-pepper';
const OPS_TOKEN = 'ops-token-e2e';

let rx;
let app;
let server;
let base;
let serverLog = '';

before(
  async () => {
    const pack = tempDir('et-next-pack-');
    execFileSync(npm, ['run', 'pack:local', '--', '--out', pack], { cwd: root, stdio: 'pipe' });
    app = tempDir('et-next-app-');
    cpSync(join(root, 'examples', 'nextjs'), app, {
      recursive: true,
      filter: (src) => !/[\\/](node_modules|\.next)$/.test(src),
    });
    const tarballs = readdirSync(pack).map((t) => join(pack, t));
    assert.equal(tarballs.length, 2, tarballs.join(', '));
    const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1' };
    execFileSync(npm, ['install', '--no-audit', '--no-fund', ...tarballs], { cwd: app, stdio: 'pipe', env });
    execFileSync(npm, ['run', 'build'], { cwd: app, stdio: 'pipe', env });

    rx = await startReceiver();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = spawn(join(app, 'node_modules', '.bin', 'next'), ['start', '-H', '127.0.0.1', '-p', String(port)], {
      cwd: app,
      env: {
        ...env,
        SENTRY_DSN: rx.dsn,
        CAPTURE_ERROR_URL: rx.legacyUrl,
        ERROR_TRACKER_DIR: join(app, 'error-tracker-data'),
        SENTRY_RELEASE: 'screening-example@1.0.0',
        ERROR_TRACKER_USER_ID_SALT: SALT,
        OPS_TOKEN,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout.on('data', (d) => {
      serverLog += d;
    });
    server.stderr.on('data', (d) => {
      serverLog += d;
    });
    await waitUntilServing();
  },
  { timeout: 600_000 },
);

after(async () => {
  server?.kill('SIGTERM');
  await rx?.close();
  await closeNormalizer();
});

test('a route handler error arrives source-mapped, with request and route, scrubbed', async () => {
  const query = new URLSearchParams({ name: NAME, dob: DOB });
  const res = await fetch(`${base}/api/screen?${query}`);
  assert.equal(res.status, 500);
  const event = await eventFor((e) => e.tags?.routePath === '/api/screen');

  assert.equal(event.transaction, 'GET /api/screen');
  assert.deepEqual(event.tags, { routePath: '/api/screen', routeType: 'route', routerKind: 'App Router' });
  assert.equal(event.request.method, 'GET');
  assert.match(event.request.url, new RegExp(`^${base}/api/screen\\b`));
  assert.equal(event.release, 'screening-example@1.0.0');
  const exception = event.exception.values.at(-1);
  assert.equal(exception.type, 'ScreeningError');
  assert.match(exception.value, /^OFSI list unavailable while screening /);
  assertFrames(exception, [
    ['lib/screening.ts', 'screenSubject', /throw new ScreeningError/],
    ['app/api/screen/route.ts', 'GET', /screenSubject\(/],
  ]);
});

test('a server action error arrives source-mapped, with its route, scrubbed', async () => {
  // The form posted as Next's client posts it: the action id (from the page's hidden field)
  // in the Next-Action header, and the FormData argument in React's reply encoding (field
  // "0" is the argument list, `$K1` a FormData whose fields carry the prefix "_1_").
  const page = await (await fetch(`${base}/`)).text();
  const actionId = /name="\$ACTION_ID_([0-9a-f]+)"/.exec(page)?.[1];
  assert.ok(actionId, `no server action in the home page:\n${page.slice(0, 2000)}`);
  const form = new FormData();
  form.set('0', '["$K1"]');
  form.set('_1_name', NAME);
  form.set('_1_dob', DOB);
  const res = await fetch(`${base}/`, {
    method: 'POST',
    body: form,
    headers: { origin: base, 'next-action': actionId, accept: 'text/x-component' },
  });
  assert.equal(res.status, 500);
  const event = await eventFor((e) => e.tags?.routeType === 'action');

  assert.equal(event.tags.routePath, '/');
  assert.equal(event.transaction, 'POST /');
  assert.equal(event.request.method, 'POST');
  const exception = event.exception.values.at(-1);
  assert.equal(exception.type, 'ScreeningError');
  assert.match(exception.value, /^OFSI list unavailable while screening /);
  assertFrames(exception, [
    ['lib/screening.ts', 'screenSubject', /throw new ScreeningError/],
    ['app/actions.ts', 'submitScreening', /screenSubject\(/],
  ]);
});

test('a server component that throws while rendering arrives source-mapped', async () => {
  const res = await fetch(`${base}/subjects/S-1042`);
  assert.equal(res.status, 500);
  const event = await eventFor((e) => e.tags?.routePath === '/subjects/[id]');

  assert.equal(event.tags.routePath, '/subjects/[id]');
  assert.equal(event.transaction, 'GET /subjects/[id]');
  assert.match(event.request.url, new RegExp(`^${base}/subjects/S-1042$`));
  const exception = event.exception.values.at(-1);
  assert.equal(exception.value, 'subject S-1042 has no screening record');
  assertFrames(exception, [
    ['lib/screening.ts', 'loadSubject', /throw new ScreeningError/],
    ['app/subjects/[id]/page.tsx', 'Subject', /loadSubject\(/],
  ]);
});

test('internalServerError: the client gets a generic 500 with the id of the event', async () => {
  const res = await fetch(`${base}/api/subjects?id=S-2001`);
  assert.equal(res.status, 500);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const body = await res.json();
  assert.deepEqual(Object.keys(body).sort(), ['error', 'requestId']);
  assert.equal(body.error, 'Internal server error');
  const event = await eventFor((e) => e.event_id === body.requestId);
  assert.equal(event.exception.values.at(-1).value, 'subject S-2001 has no screening record');
  assert.equal(event.extra?.lookup, 'subject');
  assertFrames(event.exception.values.at(-1), [
    ['lib/screening.ts', 'loadSubject', /throw new ScreeningError/],
    ['app/api/subjects/route.ts', 'GET', /loadSubject\(/],
  ]);
});

test('interleaved requests for different users: each event carries its own user, tags and breadcrumbs', async () => {
  const users = ['analyst-ada', 'analyst-bo', 'analyst-cy', 'analyst-di', 'analyst-ed', 'analyst-fay'];
  const sends = [];
  for (let round = 0; round < 3; round++) {
    users.forEach((user, i) => sends.push({ user, team: `team${i}`, ref: `R${round}${i}` }));
  }
  const statuses = await Promise.all(
    sends.map(({ user, team, ref }) =>
      fetch(`${base}/api/report`, { headers: { 'x-user-id': user, 'x-team': team, 'x-request-ref': ref } }).then(
        (r) => r.status,
      ),
    ),
  );
  assert.deepEqual(new Set(statuses), new Set([500]));
  const isReport = (e) => e.tags?.routePath === '/api/report';
  await eventFor((e) => rx.events.filter(isReport).length >= sends.length);
  const pseudonym = (id) => createHmac('sha256', SALT).update(id).digest('hex');
  for (const { user, team, ref } of sends) {
    const event = rx.events.find((e) => isReport(e) && e.tags.ref === ref);
    assert.ok(event, `the event of request ${ref}`);
    assert.deepEqual(event.user, { id: pseudonym(user) }, `${ref}: its own user, pseudonymised`);
    assert.equal(event.tags.team, team, `${ref}: its own tag`);
    const crumbs = event.breadcrumbs.values;
    const mine = crumbs.filter((c) => /\bR\d\d\b/.test(c.message ?? ''));
    assert.deepEqual(
      mine.map((c) => [c.category, c.message]),
      [
        ['console', `report ${ref} requested`],
        ['report', `report ${ref}: lists are ok`],
      ],
      `${ref}: its own breadcrumbs and no one else's`,
    );
    const fetches = crumbs.filter((c) => c.category === 'fetch' && /\/api\/health$/.test(c.data?.url ?? ''));
    assert.equal(fetches.length, 1, `${ref}: its one fetch`);
    assert.equal(fetches[0].data.status_code, 200);
    assert.equal(fetches[0].data.method, 'GET');
    assert.equal(typeof fetches[0].data.duration_ms, 'number');
  }
  // The app's own counters: the route's error hit six people.
  const ops = await (await fetch(`${base}/api/ops`, { headers: { authorization: `Bearer ${OPS_TOKEN}` } })).json();
  const group = ops.groups.find((g) => g.title.startsWith('ScreeningError: report for'));
  assert.ok(group, JSON.stringify(ops.groups));
  assert.equal(group.count, sends.length);
  assert.equal(group.users, users.length);
  assert.equal(ops.releases[0].release, 'screening-example@1.0.0');
});

test('every event is valid for Relay, both sinks got them, and no personal data left', async () => {
  await rx.waitFor((r) => r.events.length >= 4 && r.legacyErrors.length >= 4, 30_000);
  assert.deepEqual(rx.problems, []);
  await assertNormalized(rx.events);
  const raw = [...rx.envelopes, ...rx.legacyRequests].map((r) => r.raw).join('\n');
  for (const value of PERSONAL) {
    assert.ok(!raw.includes(value), `${value} reached a sink`);
    assert.ok(
      !raw.toLowerCase().includes(encodeURIComponent(value).toLowerCase()),
      `${value} reached a sink URL-encoded`,
    );
  }
  // The harmless part of each message survives the scrubbing.
  assert.ok(
    rx.events.some((e) => /OFSI list unavailable while screening \[Filtered\]/.test(e.exception.values.at(-1).value)),
  );
});

/** Asserts the innermost frames, in order, are in these app files and functions, with context. */
function assertFrames(exception, expected) {
  const inApp = exception.stacktrace.frames.filter((f) => f.in_app).reverse(); // innermost first
  const shown = JSON.stringify(
    inApp.map((f) => [f.filename, f.function, f.lineno, f.context_line]),
    null,
    1,
  );
  assert.ok(inApp.length >= expected.length, `in-app frames: ${shown}`);
  expected.forEach(([file, fn, line], i) => {
    const frame = inApp[i];
    assert.ok(
      frame.filename.endsWith(file) && !frame.filename.includes('.next'),
      `frame ${i}: want ${file}, frames: ${shown}`,
    );
    assert.equal(frame.function, fn, `frame ${i}: frames: ${shown}`);
    assert.match(frame.context_line ?? '', line, `frame ${i}: frames: ${shown}`);
  });
}

async function eventFor(predicate) {
  try {
    await rx.waitFor((r) => r.events.some(predicate), 30_000);
  } catch (e) {
    e.message += `\nevents: ${JSON.stringify(rx.events.map((ev) => [ev.transaction, ev.tags]))}\nnext start said:\n${serverLog}`;
    throw e;
  }
  return rx.events.find(predicate);
}

async function waitUntilServing() {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`next start exited ${server.exitCode}:\n${serverLog}`);
    try {
      if ((await fetch(`${base}/`)).ok) return;
    } catch {}
    await sleep(200);
  }
  throw new Error(`next start did not serve within 60 s:\n${serverLog}`);
}

async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });
}
