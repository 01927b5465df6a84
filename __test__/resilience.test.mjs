// Resilience ("nothing lost", issue 4), in process, by fault injection at the loopback receiver:
// Sentry's 429 + Retry-After and X-Sentry-Rate-Limits are obeyed (no request before the pause
// ends, `stats().rateLimitedUntil` shows it), 5xx / refused connections / sockets destroyed
// mid-request / slow answers are retried until every event is delivered exactly once, a failing
// ingest only ever sees one probe at a time, a 400 fails the event for good (counted, audited,
// never retried), and the legacy sink survives 503s honouring Retry-After. Each test checks
// concrete event ids, the receiver's protocol `problems`, the audit trail where it matters, and
// runs every accepted event through Relay's normaliser.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { closedPort, startReceiver } from './support/receiver.mjs';
import { assertNormalized } from './support/normalize.mjs';
import { tempDir } from './support/child.mjs';

const tracker = createRequire(import.meta.url)('../index.js');

const DESTROYED = 599; // record.status of a request whose socket the receiver destroyed
/** The thrown error's message in a Sentry envelope record. */
const mainValue = (rec) =>
  rec.items.find((i) => i.header.type === 'event')?.json?.exception?.values?.at(-1)?.value ?? '';
const idOf = (envelope) => envelope.headers.event_id.replaceAll('-', '');
const accepted = (r) => r.envelopes.filter((e) => e.status === 200);
const acceptedIds = (r) => accepted(r).map(idOf).sort();
const acceptedLegacyIds = (r) =>
  r.legacyRequests
    .filter((q) => q.status === 200)
    .flatMap((q) => q.body.errors.map((e) => e.eventId))
    .sort();
const sorted = (ids) => [...ids].sort();
const track = (n, tag) =>
  Array.from({ length: n }, (_, i) => tracker.trackError(new Error(`${tag} ${i} failed`), { i }));

const open = [];
after(async () => {
  await tracker.close(1000);
  for (const r of open) await r.close();
});

async function receiver(opts) {
  const r = await startReceiver(opts);
  open.push(r);
  return r;
}

/** Every test ends here: a clean protocol record, and every accepted event valid for Relay. */
async function finish(r) {
  assert.deepEqual(r.problems, []);
  const events = accepted(r).flatMap((e) => e.items.filter((i) => i.header.type === 'event').map((i) => i.json));
  await assertNormalized(events);
  await r.close();
}

/**
 * Retries `fn` (which asserts) until it passes or `ms` pass; rethrows its last error. The
 * timeout only turns a hang into a failure: what `fn` waits for must stay true once it is
 * (a test that needs a passing state holds it, e.g. by not answering the ingest yet).
 */
async function eventually(fn, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() >= deadline) throw e;
    }
    await sleep(20);
  }
}

function readAudit(dataDir) {
  const dir = join(dataDir, 'audit');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^audit-\d{4}-\d{2}-\d{2}\.ndjson$/.test(f))
    .sort()
    .flatMap((f) =>
      readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    );
}

/** The actions audited for `id` at `sink` (null: the capture), in file order. */
const actions = (audit, id, sink) => audit.filter((a) => a.eventId === id && a.sink === sink).map((a) => a.action);

test('429 with Retry-After: 1 pauses Sentry for a second, then everything is delivered', async () => {
  // The ingest answers 429 until the test has seen the limit in stats(): a probe after each
  // pause gets another one, so the test never races a pause's end, however slow the machine.
  const arrivals = []; // { at, id, status } for every Sentry request
  let limiting = true;
  const r = await receiver({
    respond: (kind, req, rec) => {
      if (kind !== 'sentry') return undefined;
      const status = limiting ? 429 : 200;
      arrivals.push({ at: Date.now(), id: idOf(rec), status });
      return limiting ? { status: 429, headers: { 'retry-after': '1' } } : undefined;
    },
  });
  tracker.init({ dsn: r.dsn, dataDir: tempDir() });
  const first = tracker.trackError(new Error('rate limited first'));
  await r.waitFor(() => arrivals.length >= 1, 5000);
  const limitedAt = arrivals[0].at;
  const { until, readAt } = await eventually(() => {
    const u = tracker.stats().rateLimitedUntil;
    assert.ok(u != null, 'rateLimitedUntil is set while Sentry rate-limits');
    return { until: u, readAt: Date.now() };
  });
  // A second from when the tracker read a 429: after the first one came back, and no later
  // than a second after this read. A slow machine moves neither bound.
  assert.ok(
    until >= limitedAt + 800 && until <= readAt + 1000 + 50,
    `rateLimitedUntil ${until - limitedAt} ms after the first 429, read ${readAt - limitedAt} ms after it`,
  );
  const rest = track(5, 'during the pause');
  limiting = false;
  assert.equal(await tracker.flush(15000), true);

  // Every 429 starts a second of its own with nothing sent (only one request is ever in
  // flight while limited: the probe).
  const early = arrivals.filter((a, i) =>
    arrivals.slice(0, i).some((b) => b.status === 429 && a.at < b.at + 1000 - 100),
  );
  assert.deepEqual(early, [], `requests within a Retry-After second: ${JSON.stringify(arrivals)}`);
  assert.deepEqual(acceptedIds(r), sorted([first, ...rest]));
  const limited = r.envelopes.filter((e) => e.status === 429).map(idOf);
  assert.equal(limited[0], first);
  for (const id of limited) assert.ok([first, ...rest].includes(id), id);
  assert.equal(tracker.stats().rateLimitedUntil ?? null, null, 'no longer limited once delivered');
  await finish(r);
});

test('429 with Retry-After as an HTTP date pauses until that date', async () => {
  // As above: 429s until the test has seen the limit, each with its own date.
  const arrivals = []; // { at, id, resumeAt } for every Sentry request; resumeAt only on a 429
  let limiting = true;
  const r = await receiver({
    respond: (kind, req, rec) => {
      if (kind !== 'sentry') return undefined;
      const at = Date.now();
      if (!limiting) {
        arrivals.push({ at, id: idOf(rec) });
        return undefined;
      }
      // HTTP dates have whole seconds: at least 1 s ahead, at most 2 s.
      const resumeAt = (Math.floor(at / 1000) + 2) * 1000;
      arrivals.push({ at, id: idOf(rec), resumeAt });
      return { status: 429, headers: { 'retry-after': new Date(resumeAt).toUTCString() } };
    },
  });
  tracker.init({ dsn: r.dsn, dataDir: tempDir() });
  const first = tracker.trackError(new Error('rate limited by date'));
  await r.waitFor(() => arrivals.length >= 1, 5000);
  await eventually(() => assert.ok(tracker.stats().rateLimitedUntil != null));
  const rest = track(3, 'waiting for the date');
  limiting = false;
  assert.equal(await tracker.flush(15000), true);
  const early = arrivals.filter((a, i) => arrivals.slice(0, i).some((b) => b.resumeAt && a.at < b.resumeAt - 100));
  assert.deepEqual(early, [], `requests before a Retry-After date: ${JSON.stringify(arrivals)}`);
  assert.deepEqual(acceptedIds(r), sorted([first, ...rest]));
  await finish(r);
});

test('X-Sentry-Rate-Limits 2:error:project on a 200 pauses errors for two seconds', async () => {
  const arrivals = [];
  let limitedAt = null;
  const r = await receiver({
    respond: (kind, req, rec) => {
      if (kind !== 'sentry') return undefined;
      const at = Date.now();
      arrivals.push({ at, id: idOf(rec) });
      if (limitedAt === null) {
        limitedAt = at;
        return {
          status: 200,
          headers: { 'x-sentry-rate-limits': '2:error:project' },
          body: { id: rec.headers.event_id },
        };
      }
      return undefined;
    },
  });
  tracker.init({ dsn: r.dsn, dataDir: tempDir() });
  const first = tracker.trackError(new Error('accepted but limiting'));
  await r.waitFor(() => limitedAt !== null, 5000);
  // The event was delivered, so nothing renews this limit: the poll must run within the two
  // seconds after the tracker read the header (however long that took it).
  const { until, readAt } = await eventually(() => {
    const u = tracker.stats().rateLimitedUntil;
    assert.ok(u != null, 'rateLimitedUntil is set after X-Sentry-Rate-Limits for errors');
    return { until: u, readAt: Date.now() };
  });
  assert.ok(
    until >= limitedAt + 1500 && until <= readAt + 2000 + 50,
    `rateLimitedUntil ${until - limitedAt} ms after the header, read ${readAt - limitedAt} ms after it`,
  );
  const rest = track(5, 'under the category limit');
  assert.equal(await tracker.flush(15000), true);
  const early = arrivals.slice(1).filter((a) => a.at < limitedAt + 2000 - 100);
  assert.deepEqual(early, [], `requests within the 2 s limit (header at ${limitedAt})`);
  assert.deepEqual(acceptedIds(r), sorted([first, ...rest]));
  assert.equal(accepted(r).filter((e) => idOf(e) === first).length, 1, 'the limiting 200 delivered its own event');
  await finish(r);
});

test('X-Sentry-Rate-Limits 60:transaction:key does not pause errors', async () => {
  const r = await receiver({
    respond: (kind, req, rec) =>
      kind === 'sentry'
        ? { status: 200, headers: { 'x-sentry-rate-limits': '60:transaction:key' }, body: { id: rec.headers.event_id } }
        : undefined,
  });
  tracker.init({ dsn: r.dsn, dataDir: tempDir() });
  const first = tracker.trackError(new Error('transactions limited, not errors'));
  await r.waitFor((x) => x.envelopes.length >= 1, 5000);
  await sleep(100); // the client has read the header by now
  assert.equal(tracker.stats().rateLimitedUntil ?? null, null, 'a transaction limit does not limit errors');
  const rest = track(5, 'after a transaction limit');
  // A 60 s pause would make this flush time out.
  assert.equal(await tracker.flush(10000), true);
  assert.deepEqual(acceptedIds(r), sorted([first, ...rest]));
  assert.equal(tracker.stats().rateLimitedUntil ?? null, null);
  await finish(r);
});

test('500 then 503 then OK: retried on the backoff schedule, delivered, audited retry then delivered', async () => {
  const arrivals = []; // { at, id, status } for every Sentry request
  let seen;
  const retryingSeen = new Promise((done) => {
    seen = done;
  });
  const r = await receiver({
    respond: async (kind, req, rec) => {
      if (kind !== 'sentry') return undefined;
      const n = arrivals.push({ at: Date.now(), id: idOf(rec) });
      if (n === 1) return { status: 500, body: { detail: 'boom' } };
      if (n === 2) return { status: 503, body: { detail: 'unavailable' } };
      // The event stays retrying until this answer: held until the test has seen it so.
      if (n === 3) await retryingSeen;
      return undefined;
    },
  });
  const dataDir = tempDir();
  tracker.init({ dsn: r.dsn, dataDir, release: 'shop@1.0.0', environment: 'resilience' });
  const first = tracker.trackError(new Error('flaky first'));
  await r.waitFor(() => arrivals.length >= 1, 5000);
  // Tracked while the ingest is known to fail: they wait behind the probe.
  const ids = [first, ...track(2, 'flaky later')];
  await eventually(() => assert.ok(tracker.stats().sinks.sentry.retrying >= 1, 'an event is retrying'));
  seen();
  assert.equal(await tracker.flush(15000), true);
  assert.deepEqual(acceptedIds(r), sorted(ids));
  assert.deepEqual(r.envelopes.map((e) => e.status).slice(0, 3), [500, 503, 200]);
  // Backoff from 500 ms, doubling, ±25%: ≥ 375 ms before the 2nd request, ≥ 750 ms before the 3rd.
  const gaps = [arrivals[1].at - arrivals[0].at, arrivals[2].at - arrivals[1].at];
  assert.ok(gaps[0] >= 375 - 50 && gaps[1] >= 750 - 50, `gaps between attempts ${gaps} ms`);
  const s = tracker.stats();
  assert.equal(s.sinks.sentry.retrying, 0, JSON.stringify(s));
  assert.equal(s.retrying, 0, JSON.stringify(s));

  const retried = new Set(r.envelopes.filter((e) => e.status !== 200).map(idOf));
  assert.ok(retried.has(first));
  await eventually(() => {
    const audit = readAudit(dataDir);
    for (const id of ids) {
      assert.deepEqual(actions(audit, id, null), ['captured'], `capture of ${id}`);
      assert.deepEqual(
        actions(audit, id, 'sentry'),
        retried.has(id) ? ['retry', 'delivered'] : ['delivered'],
        `sentry trail of ${id}`,
      );
      for (const a of audit.filter((x) => x.eventId === id)) {
        assert.equal(a.release, 'shop@1.0.0');
        assert.equal(a.environment, 'resilience');
        assert.match(a.fingerprint, /\S/);
        assert.ok(!Number.isNaN(Date.parse(a.ts)), a.ts);
      }
    }
  });
  await finish(r);
});

test('an event that got a 500 waits out its backoff even while other requests succeed', async () => {
  const arrivals = [];
  const r = await receiver({
    respond: (kind, req, rec) => {
      if (kind !== 'sentry') return undefined;
      const n = arrivals.push({ at: Date.now(), id: idOf(rec) });
      return n === 1 ? { status: 500 } : undefined;
    },
  });
  tracker.init({ dsn: r.dsn, dataDir: tempDir() });
  const ids = track(3, 'mostly fine');
  assert.equal(await tracker.flush(15000), true);
  assert.deepEqual(acceptedIds(r), sorted(ids));
  const failedOnce = arrivals[0];
  const again = arrivals.slice(1).find((a) => a.id === failedOnce.id);
  assert.ok(
    again.at - failedOnce.at >= 375 - 50,
    `event ${failedOnce.id} was sent again ${again.at - failedOnce.at} ms after its 500 (backoff starts at 500 ms ±25%)`,
  );
  await finish(r);
});

test('connection refused: events wait and are delivered once the ingest comes up', async () => {
  const port = await closedPort();
  const dataDir = tempDir();
  tracker.init({ dsn: `http://testpublickey@127.0.0.1:${port}/42`, dataDir });
  const ids = track(3, 'nobody listening');
  await eventually(() => assert.ok(tracker.stats().sinks.sentry.retrying >= 1, 'retrying after refused connections'));
  assert.equal(await tracker.flush(800), false, 'nothing can be delivered while the port is closed');
  const r = await receiver({ port });
  assert.equal(await tracker.flush(20000), true);
  assert.deepEqual(acceptedIds(r), sorted(ids));
  assert.equal(tracker.stats().sinks.sentry.retrying, 0);
  await eventually(() => {
    const audit = readAudit(dataDir);
    // Refused connections leave no trace at the receiver, so which events were tried before the
    // port opened is not known here; those that were carry exactly one retry.
    const trails = ids.map((id) => actions(audit, id, 'sentry'));
    for (const [i, t] of trails.entries()) {
      assert.ok(['delivered', 'retry,delivered'].includes(t.join()), `sentry trail of ${ids[i]}: ${t}`);
    }
    assert.ok(
      trails.some((t) => t[0] === 'retry'),
      'at least the first event was retried',
    );
  });
  await finish(r);
});

test('sockets destroyed mid-request: retried until each event is delivered exactly once', async () => {
  const cut = []; // ids whose request lost its socket before any answer
  const r = await receiver({
    respond: async (kind, req, rec) => {
      if (kind !== 'sentry' || cut.length >= 3) return undefined;
      cut.push(idOf(rec));
      req.socket.destroy();
      await sleep(20);
      return { status: DESTROYED };
    },
  });
  tracker.init({ dsn: r.dsn, dataDir: tempDir() });
  const ids = track(5, 'cut off');
  assert.equal(await tracker.flush(20000), true);
  assert.equal(cut.length, 3);
  for (const id of cut) assert.ok(ids.includes(id));
  assert.deepEqual(acceptedIds(r), sorted(ids), 'each id accepted exactly once');
  assert.equal(tracker.stats().sinks.sentry.retrying, 0);
  await finish(r);
});

test('slow answers (300 ms each): many events all delivered, exactly once', async () => {
  const r = await receiver({ respond: (kind) => (kind === 'sentry' ? { delayMs: 300 } : undefined) });
  tracker.init({ dsn: r.dsn, dataDir: tempDir() });
  const failed = tracker.stats().sinks.sentry.failed;
  const ids = track(120, 'slow');
  assert.equal(await tracker.flush(30000), true);
  assert.deepEqual(acceptedIds(r), sorted(ids));
  assert.equal(r.envelopes.length, 120, 'no request was repeated');
  assert.equal(tracker.stats().sinks.sentry.failed, failed);
  await finish(r);
});

test('a failing ingest sees one probe at a time until a request gets through', async () => {
  let failing = true;
  let inFlight = 0;
  let peakWhileFailing = 0;
  let failures = 0;
  const r = await receiver({
    respond: async (kind) => {
      if (kind !== 'sentry') return undefined;
      inFlight += 1;
      try {
        if (!failing) return undefined;
        peakWhileFailing = Math.max(peakWhileFailing, inFlight);
        await sleep(100); // hold each failing request open, so overlapping ones would show
        failures += 1;
        return { status: 503 };
      } finally {
        inFlight -= 1;
      }
    },
  });
  tracker.init({ dsn: r.dsn, dataDir: tempDir() });
  const first = tracker.trackError(new Error('first to fail'));
  await r.waitFor(() => failures >= 1, 5000);
  // The failure is known: whatever comes now meets the gate.
  const rest = track(20, 'behind the probe');
  await r.waitFor(() => failures >= 3, 60000); // backoffs of 0.5, 1 and 2 s (±25%) come first
  failing = false;
  assert.equal(await tracker.flush(20000), true);
  assert.equal(peakWhileFailing, 1, `concurrent requests to a failing ingest: ${peakWhileFailing}`);
  assert.deepEqual(acceptedIds(r), sorted([first, ...rest]));
  await finish(r);
});

test('a 400 fails that event for good: counted, audited failed, never retried', async () => {
  const r = await receiver({
    // Matched on the message, not the raw body: context lines carry this test's source.
    respond: (kind, req, rec) =>
      kind === 'sentry' && mainValue(rec).includes('poison-pill')
        ? { status: 400, body: { detail: 'invalid event' } }
        : undefined,
  });
  const dataDir = tempDir();
  tracker.init({ dsn: r.dsn, dataDir });
  const before = tracker.stats();
  const good1 = tracker.trackError(new Error('fine one'));
  const poison = tracker.trackError(new Error('poison-pill event'));
  const good2 = tracker.trackError(new Error('fine two'));
  assert.equal(await tracker.flush(10000), true);
  await sleep(1500); // longer than the first backoff: a retry would have come by now
  const s = tracker.stats();
  assert.equal(s.sinks.sentry.failed, before.sinks.sentry.failed + 1, JSON.stringify(s));
  assert.equal(s.failed, before.failed + 1, JSON.stringify(s));
  assert.equal(s.sinks.sentry.retrying, 0);
  assert.deepEqual(acceptedIds(r), sorted([good1, good2]));
  assert.equal(r.envelopes.filter((e) => idOf(e) === poison).length, 1, 'the refused event was sent once');
  await eventually(() => {
    const audit = readAudit(dataDir);
    assert.deepEqual(actions(audit, poison, 'sentry'), ['failed']);
    assert.deepEqual(actions(audit, poison, null), ['captured']);
    for (const id of [good1, good2]) assert.deepEqual(actions(audit, id, 'sentry'), ['delivered']);
  });
  await finish(r);
});

test('legacy sink under 503 (Retry-After: 1) then OK: every id delivered exactly once', async () => {
  const legacyArrivals = [];
  const r = await receiver({
    respond: (kind) => {
      if (kind !== 'legacy') return undefined;
      legacyArrivals.push(Date.now());
      if (legacyArrivals.length === 1) return { status: 503, headers: { 'retry-after': '1' } };
      if (legacyArrivals.length === 2) return { status: 503 };
      return undefined;
    },
  });
  tracker.init({ legacyEndpoint: r.legacyUrl, legacyMaxRequestsPerMinute: 20, dataDir: tempDir() });
  const first = track(10, 'legacy burst');
  await r.waitFor(() => legacyArrivals.length >= 1, 5000);
  const second = track(5, 'legacy while failing');
  assert.equal(await tracker.flush(20000), true);
  assert.ok(
    legacyArrivals[1] >= legacyArrivals[0] + 900,
    `second legacy request ${legacyArrivals[1] - legacyArrivals[0]} ms after a 503 with Retry-After: 1`,
  );
  assert.deepEqual(acceptedLegacyIds(r), sorted([...first, ...second]));
  assert.ok(r.legacyRequests.length <= 20, `${r.legacyRequests.length} legacy requests within a minute (budget 20)`);
  assert.equal(tracker.stats().sinks.legacy.retrying, 0);
  assert.deepEqual(r.problems, []);
  await r.close();
});

// Near the end: were a round counted per request, its events would wait out a minute-long
// backoff, and every later flush with them.
test('a burst whose first requests all fail together is retried and delivered, each event once', async () => {
  // The ingest holds the first requests until all sixteen senders have one in flight, then
  // fails them together: one round of failures, whatever the machine's pace. (That such a
  // round doubles the backoff once, not sixteen times, is checked on a clock of its own in
  // src/sinks/sentry/gate.rs: requests_that_fail_together_double_the_wait_once.)
  const ROUND = 16;
  const held = [];
  const statuses = [];
  const r = await receiver({
    respond: async (kind) => {
      if (kind !== 'sentry') return undefined;
      if (held.length >= ROUND) {
        statuses.push(200);
        return undefined;
      }
      const answered = new Promise((done) => held.push(done));
      if (held.length === ROUND) for (const done of held) done();
      await answered;
      statuses.push(503);
      return { status: 503 };
    },
  });
  tracker.init({ dsn: r.dsn, dataDir: tempDir() });
  const ids = track(20, 'burst in outage');
  const delivered = await tracker.flush(60000);
  assert.equal(
    delivered,
    true,
    `not delivered after ${ROUND} requests failed together; answers so far: ${JSON.stringify(statuses)}; ` +
      `stats ${JSON.stringify(tracker.stats())}`,
  );
  assert.deepEqual(statuses.slice(0, ROUND), Array(ROUND).fill(503));
  assert.deepEqual(acceptedIds(r), sorted(ids));
  await finish(r);
});

// Last: it leaves an event waiting out a minute-long limit.
test('429 without Retry-After limits Sentry for 60 s', async () => {
  const arrivals = [];
  const r = await receiver({
    respond: (kind) => {
      if (kind !== 'sentry') return undefined;
      arrivals.push(Date.now());
      return { status: 429 };
    },
  });
  tracker.init({ dsn: r.dsn, dataDir: tempDir() });
  tracker.trackError(new Error('limited for the default minute'));
  await r.waitFor(() => arrivals.length >= 1, 5000);
  const { until, readAt } = await eventually(() => {
    const u = tracker.stats().rateLimitedUntil;
    assert.ok(u != null);
    return { until: u, readAt: Date.now() };
  });
  assert.ok(
    until >= arrivals[0] + 55000 && until <= readAt + 60000 + 50,
    `limited for ${until - arrivals[0]} ms after the 429, read ${readAt - arrivals[0]} ms after it`,
  );
  track(2, 'under the default limit');
  await sleep(1500);
  assert.equal(arrivals.length, 1, 'nothing sent during the default 60 s limit');
  assert.deepEqual(r.problems, []);
});
