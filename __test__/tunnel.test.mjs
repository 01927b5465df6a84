// The browser tunnel from the outside (issue 17): `handleTunnel` called with Web `Request`s as
// Next.js passes them, in front of the strict loopback receiver. What a page sends goes through
// the same pipeline as a server error and reaches both sinks scrubbed; everything else is
// refused without detail or dropped with 200; Sentry's own 429 never reaches the browser.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import { closedPort, startReceiver } from './support/receiver.mjs';
import { assertNormalized, closeNormalizer } from './support/normalize.mjs';
import { addonPath, runNode, tempDir } from './support/child.mjs';
import {
  PLANTED,
  PLANTED_TEXTS,
  envelope,
  eventEnvelope,
  browserEvent,
  browserSession,
  clientReport,
  newId,
  tunnelRequest,
} from './support/envelopes.mjs';

const tracker = createRequire(import.meta.url)(addonPath);
const ORIGIN = 'http://127.0.0.1:3000';
let rx;
let dataDir;
let clients = 0;
// Each test posts as its own client, so the per-client limit of one never touches another.
const client = () => ({ address: `198.51.100.${++clients}` });
const post = (body, opts, who = client()) => tracker.handleTunnel(tunnelRequest(ORIGIN, body, opts), who);

before(async () => {
  rx = await startReceiver();
  dataDir = tempDir('et-tunnel-');
  tracker.init({
    dsn: rx.dsn,
    legacyEndpoint: rx.legacyUrl,
    dataDir,
    release: 'screening-example@1.0.0',
    tunnel: { maxRequestsPerMinute: 5 },
  });
});
after(async () => {
  await tracker.close(5000);
  await rx.close();
  await closeNormalizer();
});

/** Every file under `dir`, as bytes decoded leniently. */
function filesUnder(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push([path, readFileSync(path).toString('latin1')]);
  }
  return out;
}

const eventsWithId = (id) => rx.events.filter((e) => e.event_id === id);
const legacyWithId = (id) => rx.legacyErrors.filter((e) => e.eventId === id);

test('a browser error reaches both sinks scrubbed, through the same pipeline as a server one', async () => {
  const id = newId();
  const res = await post(eventEnvelope(rx.dsn, ORIGIN, id));
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { id });
  assert.ok(await tracker.flush(10000));
  const [event] = eventsWithId(id);
  assert.ok(event, 'Sentry got the event');
  assert.equal(legacyWithId(id).length, 1, 'the legacy endpoint got it');
  assert.equal(event.platform, 'javascript');
  assert.deepEqual(event.sdk.settings, { infer_ip: 'never' });
  assert.equal(event.sdk.name, 'sentry.javascript.browser');
  assert.equal(event.request.url, `${ORIGIN}/screen`);
  assert.equal(event.breadcrumbs.values[0].message, '[Filtered]');
  assert.deepEqual(event.user, { id: 'officer-17' });
  assert.equal(event.server_name, undefined);
  assert.match(event.exception.values[0].value, /^Screening failed for /);
  // Counted as a group, like a server error.
  assert.ok(tracker.stats().groups.some((g) => g.title.startsWith('Error: Screening failed')));
  await assertNormalized([event]);

  const sent = [...rx.envelopes.map((e) => e.raw), ...rx.legacyRequests.map((q) => q.raw)].join('\n');
  const onDisk = filesUnder(dataDir);
  assert.ok(
    onDisk.some(([, text]) => text.includes(id)),
    'the event was spooled and audited',
  );
  for (const planted of PLANTED_TEXTS) {
    assert.ok(!sent.includes(planted), `${planted} was sent`);
    for (const [path, text] of onDisk) assert.ok(!text.includes(planted), `${planted} in ${path}`);
  }
  const audit = onDisk
    .filter(([path]) => path.includes('audit'))
    .map(([, t]) => t)
    .join('');
  assert.ok(audit.includes(id), 'the audit trail names the event');
});

test('an envelope for another DSN is refused with 403, and nothing is sent', async () => {
  const before = rx.requests;
  const foreignKey = rx.dsn.replace('testpublickey', 'someoneelse');
  const foreignProject = rx.dsn.replace(/\/42$/, '/43');
  for (const dsn of [foreignKey, foreignProject, 'https://k@o1.ingest.sentry.io/42']) {
    const res = await post(eventEnvelope(dsn, ORIGIN));
    assert.equal(res.status, 403, dsn);
  }
  const noDsn = envelope({ event_id: newId() }, [[{ type: 'event' }, browserEvent(ORIGIN)]]);
  assert.equal((await post(noDsn)).status, 403);
  await tracker.flush(2000);
  assert.equal(rx.requests, before);
});

test("a page from another origin, or none, is refused with 403; allowedOrigins is not the app's", async () => {
  for (const origin of ['https://evil.example', 'http://127.0.0.1:3001', 'null']) {
    const req = new Request(`${ORIGIN}/monitoring`, {
      method: 'POST',
      headers: { origin, 'content-type': 'text/plain;charset=UTF-8' },
      body: eventEnvelope(rx.dsn, ORIGIN),
    });
    assert.equal((await tracker.handleTunnel(req, client())).status, 403, origin);
  }
  const none = new Request(`${ORIGIN}/monitoring`, { method: 'POST', body: eventEnvelope(rx.dsn, ORIGIN) });
  assert.equal((await tracker.handleTunnel(none, client())).status, 403);
});

test('a body over the limit is refused with 413, declared or streamed', async () => {
  const big = Buffer.alloc(300 * 1024, 'a');
  assert.equal((await post(big)).status, 413);
  // Streamed without a length: counted while it arrives, refused once past the limit.
  let pulled = 0;
  const stream = new ReadableStream({
    pull(controller) {
      pulled += 64 * 1024;
      controller.enqueue(new Uint8Array(64 * 1024));
      if (pulled > 10 * 1024 * 1024) controller.close();
    },
  });
  const req = new Request(`${ORIGIN}/monitoring`, {
    method: 'POST',
    headers: { origin: ORIGIN },
    body: stream,
    duplex: 'half',
  });
  assert.equal((await tracker.handleTunnel(req, client())).status, 413);
  assert.ok(pulled < 1024 * 1024, `read ${pulled} bytes of an endless body`);
});

test('garbage is refused with 400 and nothing of it echoed', async () => {
  const secret = `not an envelope ${'<script>alert(1)</script>'} ${newId()}`;
  for (const body of [
    secret,
    `{}\n{"type":"event","length":99999}\n${secret}`,
    `{"dsn":"${rx.dsn}"}\n{"type":"event"}\n${secret}`,
  ]) {
    const res = await post(body);
    assert.equal(res.status, 400);
    const text = await res.text();
    assert.equal(text, '');
    assert.ok(![...res.headers.values()].some((v) => v.includes('not an envelope')));
  }
});

test('a compressed body is refused with 415: the SDK never compresses', async () => {
  const res = await post(gzipSync(eventEnvelope(rx.dsn, ORIGIN)), { headers: { 'content-encoding': 'gzip' } });
  assert.equal(res.status, 415);
});

test('replay, attachments, feedback and the rest are dropped with 200; the event beside them is kept', async () => {
  const before = rx.requests;
  const replay = envelope({ event_id: newId(), sent_at: new Date().toISOString(), dsn: rx.dsn }, [
    [{ type: 'replay_event' }, { type: 'replay_event', replay_id: newId(), urls: [`${ORIGIN}/screen?name=x`] }],
    [{ type: 'replay_recording', length: 6 }, Buffer.from([0x78, 0x9c, 0, 1, 10, 255])],
  ]);
  assert.equal((await post(replay)).status, 200);
  for (const type of ['feedback', 'profile', 'log', 'transaction', 'span', 'statsd']) {
    const body = envelope({ dsn: rx.dsn }, [[{ type }, { whatever: PLANTED_TEXTS[0] }]]);
    assert.equal((await post(body)).status, 200, type);
  }
  await tracker.flush(2000);
  assert.equal(rx.requests, before, 'nothing of them was sent');

  // An event with a binary attachment (with `length`, bytes that are not UTF-8 and hold \n).
  const id = newId();
  const attached = envelope({ event_id: id, dsn: rx.dsn }, [
    [{ type: 'event', length: Buffer.byteLength(JSON.stringify(browserEvent(ORIGIN, id))) }, browserEvent(ORIGIN, id)],
    [{ type: 'attachment', length: 5, filename: 'form.bin' }, Buffer.from([0, 10, 0xff, 0xfe, 10])],
  ]);
  assert.equal((await post(attached)).status, 200);
  assert.ok(await tracker.flush(10000));
  const envelopes = rx.envelopes.filter((e) => e.headers.event_id?.replaceAll('-', '') === id);
  assert.equal(envelopes.length, 1);
  assert.deepEqual(
    envelopes[0].items.map((i) => i.header.type),
    ['event'],
  );
});

test("the page's session and client report travel beside its event, to Sentry alone, without did or IP", async () => {
  const id = newId();
  const sid = newId();
  const sdk = { name: 'sentry.javascript.browser', version: '11.12.0' };
  const body = envelope({ event_id: id, sent_at: new Date().toISOString(), sdk, dsn: rx.dsn }, [
    [{ type: 'event' }, browserEvent(ORIGIN, id)],
    [{ type: 'session' }, browserSession(sid)],
    [{ type: 'client_report' }, clientReport()],
  ]);
  const res = await post(body);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { id });
  assert.ok(await tracker.flush(10000));
  assert.equal(eventsWithId(id).length, 1);
  assert.equal(legacyWithId(id).length, 1, 'the legacy endpoint got the error, and only the error');

  const [session] = rx.sessionUpdates.filter((s) => s.sid === sid);
  assert.ok(session, 'Sentry got the session');
  assert.equal(session.did, undefined, 'no distinct id');
  assert.deepEqual(session.attrs, { release: 'screening-example@1.0.0', environment: 'production' });
  assert.equal(session.status, 'ok');
  assert.equal(session.errors, 1);
  assert.ok(
    rx.clientReports.some((r) => r.discarded_events?.[0]?.reason === 'queue_overflow'),
    'Sentry got the client report',
  );
  const sessionEnvelope = rx.envelopes.find((e) => e.items.some((i) => i.json?.sid === sid));
  // No `{{auto}}` and no address anywhere: Sentry has nothing to infer an IP from.
  for (const gone of [PLANTED.email, 'ip_address', '{{auto}}', 'user_agent']) {
    assert.ok(!sessionEnvelope.raw.includes(gone), `${gone} was sent`);
  }
  for (const [path, text] of filesUnder(dataDir)) assert.ok(!text.includes(PLANTED.email), `the did in ${path}`);
  assert.ok(!rx.legacyRequests.some((q) => q.raw.includes(sid)), 'the legacy endpoint never sees sessions');
  assert.deepEqual(rx.problems, []);
});

test('an envelope holding only a session is kept too', async () => {
  const sid = newId();
  const res = await post(
    envelope({ sent_at: new Date().toISOString(), dsn: rx.dsn }, [[{ type: 'session' }, browserSession(sid)]]),
  );
  assert.equal(res.status, 200);
  assert.ok(await tracker.flush(10000));
  const [session] = rx.sessionUpdates.filter((s) => s.sid === sid);
  assert.ok(session, 'Sentry got the session');
  assert.equal(session.did, undefined);
  assert.deepEqual(rx.problems, []);
});

test('the same event posted twice is one event', async () => {
  const id = newId();
  const body = eventEnvelope(rx.dsn, ORIGIN, id);
  assert.equal((await post(body)).status, 200);
  assert.equal((await post(body)).status, 200);
  assert.ok(await tracker.flush(10000));
  assert.equal(eventsWithId(id).length, 1);
  assert.equal(legacyWithId(id).length, 1);
});

test('a client over its budget gets 429 with Retry-After and X-Sentry-Rate-Limits; others do not', async () => {
  const who = client();
  const statuses = [];
  for (let i = 0; i < 6; i++) {
    const res = await post(envelope({ dsn: rx.dsn }, [[{ type: 'client_report' }, { discarded_events: [] }]]), {}, who);
    statuses.push(res.status);
    if (res.status === 429) {
      assert.match(res.headers.get('retry-after'), /^\d+$/);
      assert.match(res.headers.get('x-sentry-rate-limits'), /^\d+::organization$/);
    }
  }
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
  assert.equal((await post(eventEnvelope(rx.dsn, ORIGIN))).status, 200, 'another client is served');
});

const J = JSON.stringify;
const child = (source) => runNode(source, { env: {}, timeoutMs: 60000 });
const dsnAt = (port) => `http://testpublickey@127.0.0.1:${port}/42`;

/** A child that posts `n` events through the tunnel and prints each answer. */
const postFromChild = (options, n, after = '') => `
  import { eventEnvelope, newId, tunnelRequest } from ${J(join(import.meta.dirname, 'support', 'envelopes.mjs'))};
  tracker.init(${J(options)});
  const answers = [];
  for (let i = 0; i < ${n}; i++) {
    const id = newId();
    const res = await tracker.handleTunnel(tunnelRequest(${J(ORIGIN)}, eventEnvelope(${J(options.dsn)}, ${J(ORIGIN)}, id)), { address: '203.0.113.' + i });
    answers.push({ id, status: res.status, headers: Object.fromEntries(res.headers) });
  }
  console.log(JSON.stringify(answers));
  ${after}
`;
const answersOf = (res) => JSON.parse(res.stdout.trim().split('\n').at(-1));

test('upstream down: the browser gets 200, and the event is delivered after a restart', async () => {
  const dir = tempDir('et-tunnel-down-');
  const down = await closedPort();
  // The process exits at once after its answers: only what was on disk before the 200 is left.
  const first = await child(postFromChild({ dsn: dsnAt(down), dataDir: dir }, 2, 'process.exit(0);'));
  assert.equal(first.code, 0, first.stderr);
  const answers = answersOf(first);
  assert.deepEqual(
    answers.map((a) => a.status),
    [200, 200],
  );

  const up = await startReceiver();
  try {
    const second = await child(`
      tracker.init(${J({ dsn: up.dsn, dataDir: dir })});
      console.log(await tracker.flush(20000));
    `);
    assert.equal(second.code, 0, second.stderr);
    await up.waitFor((r) => answers.every((a) => r.events.some((e) => e.event_id === a.id)), 20000);
    assert.deepEqual(up.problems, []);
    await assertNormalized(up.events);
  } finally {
    await up.close();
  }
});

test("upstream 429: the browser's answer carries no limit, and delivery follows when it lifts", async () => {
  let limited = 2;
  const up = await startReceiver({
    respond: (kind) =>
      kind === 'sentry' && limited-- > 0
        ? { status: 429, headers: { 'retry-after': '1', 'x-sentry-rate-limits': '1:error:organization' } }
        : undefined,
  });
  try {
    const res = await child(
      postFromChild({ dsn: up.dsn, dataDir: tempDir('et-tunnel-429-') }, 3, 'console.log(await tracker.flush(20000));'),
    );
    assert.equal(res.code, 0, res.stderr);
    const answers = JSON.parse(res.stdout.trim().split('\n').at(-2));
    for (const a of answers) {
      assert.equal(a.status, 200);
      assert.equal(a.headers['retry-after'], undefined);
      assert.equal(a.headers['x-sentry-rate-limits'], undefined);
    }
    assert.ok(
      up.envelopes.some((e) => e.status === 429),
      'Sentry did rate-limit',
    );
    for (const a of answers) {
      assert.equal(up.events.filter((e) => e.event_id === a.id && e).length >= 1, true, a.id);
    }
    assert.deepEqual(up.problems, []);
  } finally {
    await up.close();
  }
});

test("upstream 429 for category session holds the page's sessions, not its errors", async () => {
  // Like Sentry, the receiver refuses sessions for as long as the limit it announced lasts
  // (a little less, so clock granularity cannot fail a client that waited).
  let limitedUntil = 0;
  const up = await startReceiver({
    respond: (kind, req, record) => {
      if (kind !== 'sentry' || !record.items.some((i) => i.header.type === 'session')) return undefined;
      if (limitedUntil === 0 || Date.now() < limitedUntil) {
        limitedUntil ||= Date.now() + 1500;
        return { status: 429, headers: { 'x-sentry-rate-limits': '2:session:project' }, body: {} };
      }
      return undefined;
    },
  });
  try {
    const res = await child(`
      import { browserEvent, browserSession, envelope, newId, tunnelRequest } from ${J(join(import.meta.dirname, 'support', 'envelopes.mjs'))};
      tracker.init(${J({ dsn: up.dsn, dataDir: tempDir('et-tunnel-session-429-') })});
      const post = (items, i) =>
        tracker.handleTunnel(tunnelRequest(${J(ORIGIN)}, envelope({ dsn: ${J(up.dsn)} }, items)), { address: '203.0.113.' + i });
      // More sessions than Sentry has sender threads (16): were they sent by the same threads
      // as errors, every one of those would be waiting out the limit, and the errors with them.
      const statuses = [(await post(Array.from({ length: 20 }, () => [{ type: 'session' }, browserSession()]), 0)).status];
      for (let i = 1; i < 3; i++) {
        statuses.push((await post([[{ type: 'event' }, browserEvent(${J(ORIGIN)})], [{ type: 'session' }, browserSession()]], i)).status);
      }
      console.log(JSON.stringify(statuses));
      console.log(await tracker.flush(20000));
    `);
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(JSON.parse(res.stdout.trim().split('\n').at(-2)), [200, 200, 200]);
    assert.equal(res.stdout.trim().split('\n').at(-1), 'true');
    const kinds = up.envelopes.map((e) => [e.items[0].header.type, e.status]);
    const sessions = kinds.filter(([type]) => type === 'session').map(([, status]) => status);
    // Sessions met the limit and waited it out: all 22 delivered in the end.
    assert.equal(sessions[0], 429);
    assert.equal(sessions.filter((s) => s === 200).length, 22);
    assert.deepEqual(
      kinds.filter(([type]) => type === 'event').map(([, status]) => status),
      [200, 200],
    );
    // Both errors went while sessions were held: before the first session Sentry took.
    const firstSessionTaken = kinds.findIndex(([type, status]) => type === 'session' && status === 200);
    assert.equal(
      kinds.slice(0, firstSessionTaken).filter(([type]) => type === 'event').length,
      2,
      JSON.stringify(kinds),
    );
    assert.deepEqual(up.problems, []);
  } finally {
    await up.close();
  }
});

test('browser events may hold only tunnel.maxSpoolBytes of the disk; server errors are never refused', async () => {
  const down = await closedPort();
  const res = await child(
    postFromChild(
      { dsn: dsnAt(down), dataDir: tempDir('et-tunnel-share-'), tunnel: { maxSpoolBytes: 3000 } },
      3,
      `
      console.log(JSON.stringify(tracker.trackError(new Error('server side'))));
      process.exit(0);
    `,
    ),
  );
  assert.equal(res.code, 0, res.stderr);
  const answers = JSON.parse(res.stdout.trim().split('\n').at(-2));
  assert.deepEqual(
    answers.map((a) => a.status),
    [200, 429, 429],
  );
  assert.match(answers[1].headers['retry-after'], /^\d+$/);
  assert.match(res.stdout.trim().split('\n').at(-1), /^"[0-9a-f]{32}"$/);
});
