// Configuration: environment fallbacks (zero-config start), malformed options, and the outbox
// that keeps events when no sink is configured.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { startReceiver } from './support/receiver.mjs';
import { assertNormalized } from './support/normalize.mjs';
import { runNode, tempDir } from './support/child.mjs';

const tracker = createRequire(import.meta.url)('../index.js');
const receivers = [];
after(async () => {
  await assertNormalized(receivers.flatMap((r) => r.events));
  for (const r of receivers) {
    assert.deepEqual(r.problems, []);
    await r.close();
  }
});

test('with no init, the first trackError configures itself from the environment', async () => {
  const r = await startReceiver({ legacyToken: 'tok' });
  receivers.push(r);
  const child = await runNode(
    `
    const id = tracker.trackError(new Error('zero config'));
    console.log(JSON.stringify({ id, done: await tracker.flush(10000) }));
  `,
    {
      env: {
        SENTRY_DSN: r.dsn,
        SENTRY_RELEASE: 'screening@9.9.9',
        NODE_ENV: 'staging',
        CAPTURE_ERROR_URL: r.legacyUrl,
        CAPTURE_ERROR_TOKEN: 'tok',
        ERROR_TRACKER_DIR: tempDir(),
      },
    },
  );
  assert.equal(child.code, 0, child.stderr);
  const { id, done } = JSON.parse(child.stdout);
  assert.equal(done, true);
  const event = r.events.find((e) => e.event_id === id);
  assert.ok(event, 'event arrived');
  assert.equal(event.release, 'screening@9.9.9');
  assert.equal(event.environment, 'staging');
  assert.equal(event.platform, 'node');
  assert.equal(event.contexts.runtime.name, 'node');
  assert.equal(event.contexts.runtime.version, process.version);
  assert.deepEqual(
    r.legacyErrors.map((e) => e.eventId),
    [id],
  );
  assert.equal(r.legacyErrors[0].release, 'screening@9.9.9');
});

test('SENTRY_ENVIRONMENT wins over NODE_ENV, and the default is production', async () => {
  const r = await startReceiver();
  receivers.push(r);
  const script = `tracker.init({ dsn: process.env.DSN, dataDir: process.env.DIR }); tracker.trackError(new Error('env')); await tracker.flush(10000);`;
  await runNode(script, { env: { DSN: r.dsn, DIR: tempDir(), NODE_ENV: 'development', SENTRY_ENVIRONMENT: 'qa' } });
  await runNode(script, { env: { DSN: r.dsn, DIR: tempDir() } });
  assert.deepEqual(
    r.events.map((e) => e.environment),
    ['qa', 'production'],
  );
});

test('malformed options throw a TypeError naming the option', () => {
  const cases = [
    [{ dsn: 'not a dsn' }, /dsn/],
    [{ dsn: 12 }, /dsn/],
    [{ sampleRate: 1.5 }, /sampleRate/],
    [{ sampleRate: 'all' }, /sampleRate/],
    [{ legacyEndpoint: 'ftp://example.invalid/x' }, /legacyEndpoint/],
    [{ legacyMaxRequestsPerMinute: 0 }, /legacyMaxRequestsPerMinute/],
    [{ debug: 'yes' }, /debug/],
    [{ release: 5 }, /release/],
    [{ sampelRate: 1 }, /invalid option `sampelRate`: unknown option \(known: dsn, /],
    [{ scrub: { kyes: ['ref'] } }, /invalid option `scrub.kyes`/],
    [{ dsn: 'http://abc@127.0.0.1:9/notanumber' }, /invalid option `dsn`: .*project id/],
    [
      { legacyEndpoint: 'localhost:8787/capture' },
      /invalid option `legacyEndpoint`: has no scheme: write http:\/\/localhost:8787\/capture/,
    ],
    ['dsn', /options/],
  ];
  for (const [options, field] of cases) {
    assert.throws(
      () => tracker.init(options),
      (e) => e instanceof TypeError && field.test(e.message),
      JSON.stringify(options),
    );
  }
});

test('a malformed environment variable does not stop init: one warning, every event kept, stats().configErrors', async () => {
  const r = await startReceiver();
  receivers.push(r);
  // What instrumentation.ts's register() does, with a typo in SENTRY_DSN (no project id) and a
  // retention of 0 days: the app must start, and the events reach the sink that works.
  const child = await runNode(
    `
    tracker.init();
    tracker.init();
    const id = tracker.trackError(new Error('kept despite a typo'));
    const done = await tracker.flush(10000);
    let thrown = null;
    try { tracker.init({ sampleRate: 2 }); } catch (e) { thrown = e.constructor.name + ': ' + e.message; }
    console.log(JSON.stringify({ id, done, stats: tracker.stats(), thrown }));
  `,
    {
      env: {
        SENTRY_DSN: 'https://key@127.0.0.1:9',
        ERROR_TRACKER_AUDIT_RETENTION_DAYS: '0',
        CAPTURE_ERROR_URL: r.legacyUrl,
        ERROR_TRACKER_DIR: tempDir(),
      },
    },
  );
  assert.equal(child.code, 0, child.stderr);
  const { id, done, stats, thrown } = JSON.parse(child.stdout);
  assert.equal(done, true);
  assert.deepEqual(
    r.legacyErrors.map((e) => e.eventId),
    [id],
  );
  const errors = Object.fromEntries(stats.configErrors.map((e) => [e.variable, e]));
  assert.deepEqual(Object.keys(errors).sort(), ['ERROR_TRACKER_AUDIT_RETENTION_DAYS', 'SENTRY_DSN']);
  assert.equal(errors.SENTRY_DSN.option, 'dsn');
  assert.match(errors.SENTRY_DSN.message, /not a valid Sentry DSN/);
  assert.equal(errors.ERROR_TRACKER_AUDIT_RETENTION_DAYS.option, 'auditRetentionDays');
  assert.match(errors.ERROR_TRACKER_AUDIT_RETENTION_DAYS.message, /at least 1, got 0/);
  // Loud, and once per variable however often init runs.
  assert.equal(child.stderr.match(/warning: .*SENTRY_DSN/g)?.length, 1, child.stderr);
  assert.equal(child.stderr.match(/warning: .*ERROR_TRACKER_AUDIT_RETENTION_DAYS/g)?.length, 1, child.stderr);
  // An option given in code is still a programming error.
  assert.match(thrown, /^TypeError: .*invalid option `sampleRate`/);

  // With the DSN as the only sink, events are kept in the outbox, whether init ran or not.
  for (const start of ['tracker.init();', '']) {
    const dir = tempDir();
    const alone = await runNode(
      `
      ${start}
      const id = tracker.trackError(new Error('still kept'));
      console.log(JSON.stringify({ id, done: await tracker.flush(5000), stats: tracker.stats() }));
    `,
      { env: { SENTRY_DSN: 'garbage', ERROR_TRACKER_DIR: dir } },
    );
    assert.equal(alone.code, 0, alone.stderr);
    const out = JSON.parse(alone.stdout);
    assert.equal(out.done, true);
    assert.equal(out.stats.delivered.outbox, 1, start);
    assert.deepEqual(
      out.stats.configErrors.map((e) => e.variable),
      ['SENTRY_DSN'],
      start,
    );
    assert.match(readFileSync(join(dir, 'outbox.ndjson'), 'utf8'), new RegExp(out.id));
    assert.match(alone.stderr, /warning: .*SENTRY_DSN/);
  }
});

test('stats().configErrors is empty when the environment is well formed', async () => {
  const child = await runNode(
    `
    tracker.init({ dataDir: process.env.DIR });
    console.log(JSON.stringify(tracker.stats().configErrors));
  `,
    { env: { DIR: tempDir(), SENTRY_DSN: 'http://key@127.0.0.1:9/7' } },
  );
  assert.equal(child.code, 0, child.stderr);
  assert.deepEqual(JSON.parse(child.stdout), []);
});

test('with no sink configured, events are kept in the outbox with one warning', async () => {
  const dir = tempDir();
  const child = await runNode(
    `
    tracker.init({ dataDir: process.env.DIR });
    const ids = [tracker.trackError(new Error('kept 1')), tracker.trackError(new TypeError('kept 2'))];
    await tracker.flush(5000);
    console.log(JSON.stringify({ ids, stats: tracker.stats() }));
  `,
    { env: { DIR: dir } },
  );
  assert.equal(child.code, 0, child.stderr);
  const { ids, stats } = JSON.parse(child.stdout);
  assert.equal(stats.delivered.outbox, 2);
  const lines = readFileSync(join(dir, 'outbox.ndjson'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((e) => e.event_id),
    ids,
  );
  assert.deepEqual(
    lines.map((e) => e.exception.values.at(-1).type),
    ['Error', 'TypeError'],
  );
  assert.equal(child.stderr.match(/warning/g)?.length, 1, child.stderr);
  await assertNormalized(lines);
});

test('an option given as undefined counts as unset and falls back to the environment', async () => {
  const r = await runNode(
    `
    tracker.init({ dsn: undefined, environment: undefined, dataDir: process.env.DIR });
    console.log(JSON.stringify(tracker.configuration()));
  `,
    { env: { DIR: tempDir(), SENTRY_DSN: 'http://key@127.0.0.1:9/7', NODE_ENV: 'staging' } },
  );
  assert.equal(r.code, 0, r.stderr);
  const config = JSON.parse(r.stdout.trim());
  assert.equal(config.sentryEndpoint, 'http://127.0.0.1:9/api/7/envelope/');
  assert.equal(config.environment, 'staging');
});
