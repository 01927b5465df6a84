// The PII scrubber, from the outside: a corpus of realistic sanctions-screening errors
// (fixtures/screening-corpus.mjs) planted with personal and secret data in every field, at
// depth, by key, by pattern, by taint and inside structured strings. Proves that no planted
// value reaches either sink (raw bodies and decoded strings), the outbox or any other file
// under dataDir, or stderr; that the harmless part of every error survives; that user.id is
// an HMAC keyed with userIdSalt; that custom keys (globs) and patterns work; and that bad scrub
// options are rejected by name.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  CARDS,
  IBANS,
  NOT_A_CARD,
  SALT,
  allPlanted,
  cases,
  describeLeaks,
  fileSources,
  filesUnder,
  findLeaks,
  hashedUserId,
  ibanValid,
  luhnValid,
  missing,
  scrubOptions,
} from './fixtures/screening-corpus.mjs';
import { runNode, tempDir } from './support/child.mjs';
import { assertNormalized, closeNormalizer } from './support/normalize.mjs';
import { startReceiver } from './support/receiver.mjs';

const tracker = createRequire(import.meta.url)('../index.js');
const CORPUS_URL = pathToFileURL(resolve(import.meta.dirname, 'fixtures', 'screening-corpus.mjs')).href;
const HEX32 = /^[0-9a-f]{32}$/;

class ScreeningError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ScreeningError';
  }
}

let rx;
let dataDir;
let sinkOptions;
/** id → case name, for every event the corpus tests tracked. */
const tracked = new Map();

before(async () => {
  rx = await startReceiver();
  dataDir = mkdtempSync(join(tmpdir(), 'error-tracker-scrub-'));
  sinkOptions = {
    dsn: rx.dsn,
    legacyEndpoint: rx.legacyUrl,
    dataDir,
    // One legacy request per flush; the default budget (5/min) would stall the file.
    legacyMaxRequestsPerMinute: 10_000,
  };
  tracker.init({ ...sinkOptions, ...scrubOptions });
});

after(async () => {
  await tracker.close(10_000);
  await rx?.close();
  await closeNormalizer();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** Tracks one error, flushes, and returns what each sink received for its id, raw and parsed. */
async function deliver(error, context, scope) {
  let id;
  assert.doesNotThrow(() => {
    id = tracker.trackError(error, context, scope);
  }, 'trackError threw');
  assert.match(id, HEX32);
  assert.equal(await tracker.flush(10_000), true, 'flush resolves true');
  const envelope = rx.envelopes.find((e) => e.items.some((i) => i.header.type === 'event' && i.json?.event_id === id));
  assert.ok(envelope, `the Sentry receiver got no event ${id}; problems: ${JSON.stringify(rx.problems)}`);
  const legacyRequest = rx.legacyRequests.find((r) => r.body.errors.some((e) => e.eventId === id));
  assert.ok(legacyRequest, `the legacy receiver got no item ${id}; problems: ${JSON.stringify(rx.problems)}`);
  return {
    id,
    envelope,
    event: envelope.items.find((i) => i.header.type === 'event').json,
    legacyRequest,
    legacy: legacyRequest.body.errors.find((e) => e.eventId === id),
  };
}

/** Where a delivered event can leak: both raw bodies, and both as decoded JSON. */
const sinkSources = ({ envelope, legacyRequest }) => [
  { where: 'Sentry envelope', raw: envelope.raw },
  { where: 'Sentry envelope', json: { headers: envelope.headers, items: envelope.items.map((i) => i.json ?? null) } },
  { where: 'legacy request', raw: legacyRequest.raw },
  { where: 'legacy request', json: legacyRequest.body },
];

function assertNoLeaks(planted, sources, label) {
  const leaks = findLeaks(planted, sources);
  assert.equal(leaks.length, 0, `${label}: ${leaks.length} planted value(s) leaked:\n${describeLeaks(leaks)}`);
}

// ---------------------------------------------------------------------------------------
// The corpus, through both sinks

test("the corpus's own samples are what they claim (Luhn, mod-97)", () => {
  for (const card of CARDS) assert.ok(luhnValid(card), `${card} should be Luhn-valid`);
  assert.ok(!luhnValid(NOT_A_CARD), `${NOT_A_CARD} should fail Luhn`);
  for (const iban of IBANS) assert.ok(ibanValid(iban), `${iban} should be mod-97 valid`);
});

for (const c of cases) {
  test(`corpus: ${c.name}`, async () => {
    const { error, context, scope } = c.make();
    const delivered = await deliver(error, context, scope);
    tracked.set(delivered.id, c.name);
    const { event, legacy } = delivered;

    assertNoLeaks(c.planted, sinkSources(delivered), c.name);

    const goneFromSentry = missing([...c.survives, ...(c.survivesInSentry ?? [])], event);
    assert.deepEqual(
      goneFromSentry,
      [],
      `harmless text missing from the Sentry event:\n${JSON.stringify(event, null, 1)}`,
    );
    const goneFromLegacy = missing(c.survives, legacy);
    assert.deepEqual(
      goneFromLegacy,
      [],
      `harmless text missing from the legacy item:\n${JSON.stringify(legacy, null, 1)}`,
    );

    await assertNormalized([event]);
  });
}

test('user.id is an HMAC-SHA256 keyed with userIdSalt; email, ip_address and username are gone', async () => {
  for (const id of ['CUST-55120', 480913377]) {
    const user = { id, email: 'h.tester@example.com', username: 'htester77', ip_address: '192.0.2.44', segment: 'sme' };
    const delivered = await deliver(new ScreeningError(`Screening failed for customer ${id}`), null, { user });
    const expected = createHmac('sha256', 'test-salt').update(String(id)).digest('hex');
    assert.equal(hashedUserId(id), expected, 'the corpus helper agrees with the definition');
    for (const [sink, u] of [
      ['Sentry', delivered.event.user],
      ['legacy', delivered.legacy.user],
    ]) {
      assert.ok(u, `${sink}: the user is kept`);
      assert.equal(u.id, expected, `${sink}: user.id = HMAC-SHA256(salt, id) in hex`);
      for (const field of ['email', 'ip_address', 'username']) {
        assert.ok(!(field in u), `${sink}: user.${field} is removed entirely, got ${JSON.stringify(u[field])}`);
      }
      assert.equal(u.segment, 'sme', `${sink}: a harmless user field survives`);
    }
    // The raw id is tainted: it is gone from the message too.
    assertNoLeaks(
      [String(id), 'h.tester@example.com', 'htester77', '192.0.2.44'],
      sinkSources(delivered),
      `user ${id}`,
    );
    assert.match(delivered.legacy.message, /^Screening failed for customer /);
    await assertNormalized([delivered.event]);
  }
});

test('custom scrub.keys globs (*ref*, acct*) and scrub.patterns, after re-init', async () => {
  tracker.init({
    ...sinkOptions,
    scrub: { keys: ['*ref*', 'acct*'], patterns: ['OP-[A-Z]{3}\\d{3}'] },
    userIdSalt: SALT,
    contextLines: 0,
  });
  try {
    const context = {
      caseReference: 'GLOBVAL-one',
      ref_code: 'GLOBVAL-two',
      'X-Ref-Id': 'GLOBVAL-three',
      acctNo: 'GLOBVAL-four',
      ACCT_TYPE: 'GLOBVAL-five',
      nested: { deeper: [{ crossRef: 'GLOBVAL-six' }] },
      subacct: 'kept-subacct-label',
      orderId: 'ORD-2024-000777',
      stage: 'kept-stage',
    };
    const delivered = await deliver(new ScreeningError('Operation OP-ABC123 failed for GLOBVAL-one'), context);
    assertNoLeaks(
      ['GLOBVAL-one', 'GLOBVAL-two', 'GLOBVAL-three', 'GLOBVAL-four', 'GLOBVAL-five', 'GLOBVAL-six', 'OP-ABC123'],
      sinkSources(delivered),
      'custom globs',
    );
    const kept = ['Operation', 'failed for', 'kept-subacct-label', 'ORD-2024-000777', 'kept-stage'];
    assert.deepEqual(missing(kept, delivered.event), [], 'harmless text survives in the Sentry event');
    assert.deepEqual(missing(kept, delivered.legacy), [], 'harmless text survives in the legacy item');
    await assertNormalized([delivered.event]);
  } finally {
    tracker.init({ ...sinkOptions, ...scrubOptions });
  }
});

test('across everything both sinks received: no planted value anywhere, Relay accepts every event, no protocol problems', async () => {
  assert.equal(await tracker.flush(10_000), true);
  assert.deepEqual(rx.problems, []);
  const sources = [
    ...rx.envelopes.map((e, i) => ({ where: `envelope #${i}`, raw: e.raw })),
    ...rx.legacyRequests.map((r, i) => ({ where: `legacy request #${i}`, raw: r.raw })),
    ...rx.legacyRequests.map((r, i) => ({ where: `legacy request #${i}`, json: r.body })),
    ...rx.events.map((e) => ({ where: `event ${e.event_id} (${tracked.get(e.event_id) ?? 'other test'})`, json: e })),
  ];
  assertNoLeaks(allPlanted, sources, 'all bodies');
  for (const id of tracked.keys()) {
    assert.equal(rx.events.filter((e) => e.event_id === id).length, 1, `event ${id} arrived once at Sentry`);
    assert.equal(
      rx.legacyErrors.filter((e) => e.eventId === id).length,
      1,
      `event ${id} arrived once at the legacy endpoint`,
    );
  }
  await assertNormalized(rx.events);
  // Whatever the tracker keeps under dataDir while sinks are configured (spools, audit logs…).
  assertNoLeaks(allPlanted, fileSources(filesUnder(dataDir)), 'files under dataDir');
});

// ---------------------------------------------------------------------------------------
// No sinks: the outbox, and every other file under dataDir

test('with no sink, nothing planted lands in any file under dataDir (nor on stderr), and the outbox holds every event', async () => {
  const dir = tempDir('et-scrub-outbox-');
  try {
    const child = await runNode(
      `
      const { cases, scrubOptions } = await import(process.env.CORPUS);
      tracker.init({ dataDir: process.env.DIR, debug: true, ...scrubOptions });
      const ids = cases.map((c) => { const { error, context, scope } = c.make(); return tracker.trackError(error, context, scope); });
      const flushed = await tracker.flush(20000);
      await tracker.close(5000);
      console.log(JSON.stringify({ ids, flushed, stats: tracker.stats() }));
    `,
      { env: { DIR: dir, CORPUS: CORPUS_URL }, timeoutMs: 60_000 },
    );
    assert.equal(child.code, 0, child.stderr);
    const { ids, flushed, stats } = JSON.parse(child.stdout);
    assert.equal(flushed, true);
    assert.equal(ids.length, cases.length);
    assert.equal(stats.delivered.outbox, cases.length, JSON.stringify(stats));

    const files = filesUnder(dir);
    assert.ok(files.length > 0, 'at least one file was written under dataDir');
    const everything = files.map((f) => f.text).join('\n');
    for (const id of ids) assert.ok(everything.includes(id), `event ${id} is kept under dataDir`);

    assertNoLeaks(
      allPlanted,
      [
        ...fileSources(files),
        { where: 'child stderr', raw: child.stderr },
        { where: 'child stdout', raw: child.stdout },
      ],
      'no-sink run',
    );

    // The outbox holds the Sentry event: the harmless text survives there too.
    const events = files
      .flatMap((f) => f.text.split('\n'))
      .flatMap((line) => {
        try {
          const e = JSON.parse(line);
          return e?.event_id ? [e] : [];
        } catch {
          return [];
        }
      });
    cases.forEach((c, i) => {
      const event = events.find((e) => e.event_id === ids[i]);
      assert.ok(event, `the outbox holds event ${ids[i]} (${c.name})`);
      const gone = missing([...c.survives, ...(c.survivesInSentry ?? [])], event);
      assert.deepEqual(gone, [], `${c.name}: harmless text missing from the outbox event`);
    });
    await assertNormalized(events);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ERROR_TRACKER_USER_ID_SALT supplies the salt when userIdSalt is not given', async () => {
  const dir = tempDir('et-scrub-salt-');
  try {
    const child = await runNode(
      `
      tracker.init({ dataDir: process.env.DIR });
      const id = tracker.trackError(new Error('salted from the environment'), null, { user: { id: 'CUST-31337', email: 'env.salt@example.com' } });
      await tracker.flush(5000);
      console.log(id);
    `,
      { env: { DIR: dir, ERROR_TRACKER_USER_ID_SALT: 'env-salt' } },
    );
    assert.equal(child.code, 0, child.stderr);
    const id = child.stdout.trim();
    const event = readFileSync(join(dir, 'outbox.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((e) => e.event_id === id);
    assert.ok(event, 'the event is in the outbox');
    assert.equal(event.user?.id, hashedUserId('CUST-31337', 'env-salt'));
    assert.ok(!('email' in event.user), 'user.email is removed');
    assertNoLeaks(['CUST-31337', 'env.salt@example.com'], fileSources(filesUnder(dir)), 'env salt');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------
// Configuration (last: a wrongly accepted init would reconfigure the tracker)

test('malformed scrub options throw a TypeError naming the bad entry', () => {
  const bad = [
    [{ scrub: { patterns: ['('] } }, /scrub\.patterns\[0\]/],
    [{ scrub: { patterns: ['CASE-\\d{6}', '[z-a]'] } }, /scrub\.patterns\[1\]/],
    [{ scrub: { keys: [42] } }, /scrub\.keys\[0\]/],
    [{ scrub: { keys: ['customerRef', null] } }, /scrub\.keys\[1\]/],
    [{ scrub: { kyes: [] } }, /scrub/],
    [{ scrub: 'everything' }, /scrub/],
    [{ userIdSalt: 5 }, /userIdSalt/],
  ];
  for (const [options, field] of bad) {
    assert.throws(
      () => tracker.init({ ...sinkOptions, ...options }),
      (e) => e instanceof TypeError && field.test(e.message),
      `init(${JSON.stringify(options)}) should throw a TypeError matching ${field}`,
    );
  }
});
