// Hostile world (issue 14): what an attacker or an unlucky production system does to the
// tracker, from outside. Absurd waits from the ingest, redirects, a start without a sink, an
// unusable dataDir, hostile files in a dead process's spool, flush(-1), other local users,
// secrets in URLs, a header-breaking token, and a forged spool record. Each test fails on the
// code before the fix (checked by hand, see the closing note) and children run with an
// empty environment, every option written into their source.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { closedPort, startReceiver } from './support/receiver.mjs';
import { assertNormalized } from './support/normalize.mjs';
import { runNode, tempDir } from './support/child.mjs';

const J = JSON.stringify;
const idOf = (envelope) => envelope.headers.event_id.replaceAll('-', '');
const sorted = (ids) => [...ids].sort();
const acceptedIds = (r) => r.envelopes.filter((e) => e.status === 200).map(idOf);
const acceptedLegacyIds = (r) =>
  r.legacyRequests.filter((q) => q.status === 200).flatMap((q) => q.body.errors.map((e) => e.eventId));
const eventsOf = (r) =>
  r.envelopes
    .filter((e) => e.status === 200)
    .flatMap((e) => e.items.filter((i) => i.header.type === 'event').map((i) => i.json));

const tracker = createRequire(import.meta.url)('../index.js');

const open = [];
after(async () => {
  await tracker.close(500);
  for (const r of open) await r.close();
});
async function receiver(opts) {
  const r = await startReceiver(opts);
  open.push(r);
  return r;
}
const dsnAt = (port) => `http://testpublickey@127.0.0.1:${port}/42`;

/** Runs `source` in a child; its last stdout line is JSON, returned parsed beside the rest. */
async function child(source, opts = {}) {
  const res = await runNode(source, { env: {}, timeoutMs: 60000, ...opts });
  assert.equal(res.timedOut, false, `child timed out; stderr: ${res.stderr}`);
  assert.equal(res.code, 0, res.stderr);
  const last = res.stdout.trim().split('\n').at(-1);
  return { ...res, out: last ? JSON.parse(last) : null };
}

/** The next start with a healthy ingest: init, flush, print stats. */
const restart = (options) =>
  child(`
  tracker.init(${J(options)});
  const ok = await tracker.flush(20000);
  console.log(JSON.stringify({ ok, stats: tracker.stats() }));
`);

/** A first process that captures `n` errors while its ingest cannot take them, then ends. */
const captureAndEnd = (options, n, tag) =>
  child(`
  tracker.init(${J(options)});
  const ids = [];
  for (let i = 0; i < ${n}; i++) ids.push(tracker.trackError(new Error(${J(tag)} + ' ' + i)));
  console.log(JSON.stringify(ids));
`);

test('1. an absurd Retry-After or rate limit stops no sender: every event stays owed and the next start delivers it', async () => {
  const absurd = await receiver({
    respond: (kind) =>
      kind === 'sentry'
        ? { status: 429, headers: { 'retry-after': '1e20', 'x-sentry-rate-limits': '1e19::organization' } }
        : { status: 503, headers: { 'retry-after': '1e20' } },
  });
  const dataDir = tempDir();
  const options = { dsn: absurd.dsn, legacyEndpoint: absurd.legacyUrl, legacyMaxRequestsPerMinute: 600, dataDir };
  const first = await child(`
    tracker.init(${J(options)});
    const ids = [];
    for (let i = 0; i < 20; i++) ids.push(tracker.trackError(new Error('absurd wait ' + i)));
    // Tracked once both sinks have read an absurd answer (the child's own timeout ends a hang).
    for (let s = tracker.stats(); s.rateLimitedUntil == null || s.sinks.legacy.retrying === 0; s = tracker.stats()) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (let i = 0; i < 5; i++) ids.push(tracker.trackError(new Error('after the absurd answer ' + i)));
    await tracker.flush(1000);
    console.log(JSON.stringify({ ids, stats: tracker.stats() }));
  `);
  const { ids, stats } = first.out;
  assert.ok(absurd.envelopes.length >= 1 && absurd.legacyRequests.length >= 1, 'both sinks got the absurd answer');
  assert.equal(stats.failed, 0, `no event may fail because a sender died: ${J(stats.sinks)}`);
  assert.doesNotMatch(first.stderr, /panicked|no sender thread/);
  assert.ok(stats.rateLimitedUntil <= Date.now() + 24 * 3600 * 1000 + 5000, 'a limit lasts a day at most');

  const healthy = await receiver();
  const second = await restart({
    dsn: healthy.dsn,
    legacyEndpoint: healthy.legacyUrl,
    legacyMaxRequestsPerMinute: 600,
    dataDir,
  });
  assert.equal(second.out.ok, true, second.stderr);
  assert.deepEqual(sorted(acceptedIds(healthy)), sorted(ids), 'every event reaches Sentry after the restart');
  assert.deepEqual(sorted(acceptedLegacyIds(healthy)), sorted(ids), 'and the legacy endpoint');
  assert.deepEqual(healthy.problems, []);
  await assertNormalized(eventsOf(healthy));
});

test('2. a redirect is not delivery: retried like a 5xx, credentials never reach the other host', async () => {
  const elsewhere = [];
  const other = createServer((req, res) => {
    elsewhere.push({ method: req.method, url: req.url, headers: req.headers });
    req.resume();
    res.end('{}');
  });
  await new Promise((done) => other.listen(0, '127.0.0.1', done));
  const location = `http://127.0.0.1:${other.address().port}/moved`;
  let redirecting = true;
  const r = await receiver({
    respond: (kind) =>
      redirecting
        ? {
            status: kind === 'sentry' ? 301 : 302,
            headers: { location: `http://user:pw@127.0.0.1:${other.address().port}/moved` },
          }
        : undefined,
  });
  try {
    tracker.init({
      dsn: r.dsn,
      legacyEndpoint: r.legacyUrl,
      legacyToken: 'tok',
      legacyMaxRequestsPerMinute: 600,
      dataDir: tempDir(),
    });
    const ids = [1, 2, 3].map((i) => tracker.trackError(new Error(`behind a redirect ${i}`)));
    await r.waitFor(() => r.envelopes.length >= 3 && r.legacyRequests.length >= 1);
    // Both sinks have read a redirect once they retry, which lasts while the ingest redirects;
    // following one or calling it delivery shows at once. (The deadline only ends a hang.)
    const settled = (x) =>
      (x.sinks.sentry.retrying > 0 && x.sinks.legacy.retrying > 0) ||
      elsewhere.length > 0 ||
      x.delivered.sentry + x.delivered.legacy > 0;
    let during = tracker.stats();
    for (const deadline = Date.now() + 20000; !settled(during); during = tracker.stats()) {
      assert.ok(Date.now() < deadline, `no sink retries after a redirect: ${J(during.sinks)}`);
      await new Promise((done) => setTimeout(done, 10));
    }
    assert.deepEqual(elsewhere, [], `nothing may follow the redirect to ${location}`);
    assert.equal(during.delivered.sentry + during.delivered.legacy, 0, 'a redirect is not delivery');
    assert.ok(during.sinks.sentry.retrying > 0 && during.sinks.legacy.retrying > 0, J(during.sinks));
    redirecting = false;
    assert.equal(await tracker.flush(20000), true);
    assert.deepEqual(sorted(acceptedIds(r)), sorted(ids));
    assert.deepEqual(sorted(acceptedLegacyIds(r)), sorted(ids));
    assert.deepEqual(elsewhere, []);
    assert.deepEqual(r.problems, []);
  } finally {
    other.close();
  }
});

test('3. a start without SENTRY_DSN carries what Sentry is owed forward; the DSN back, all of it arrives', async () => {
  const dataDir = tempDir();
  const first = await captureAndEnd({ dsn: dsnAt(await closedPort()), dataDir }, 3, 'owed to sentry');
  const ids = first.out;
  assert.equal(ids.length, 3);
  const without = await restart({ dataDir });
  assert.equal(without.out.stats.failed, 0, `a missing sink fails nothing: ${without.stderr}`);
  assert.doesNotMatch(without.stderr, /no longer configured/);
  const r = await receiver();
  const back = await restart({ dsn: r.dsn, dataDir });
  assert.equal(back.out.ok, true, back.stderr);
  assert.deepEqual(sorted(acceptedIds(r)), sorted(ids));
  assert.deepEqual(r.problems, []);
});

test('4. an unusable dataDir is loud: a TypeError naming it as an option, a warning and stats().storageError from the environment', async () => {
  const file = join(tempDir(), 'not-a-folder');
  writeFileSync(file, 'x');
  for (const dataDir of [file, join(file, 'below'), '/proc/error-tracker-test']) {
    assert.throws(
      () => tracker.init({ dataDir }),
      (e) => e instanceof TypeError && /dataDir/.test(e.message),
      dataDir,
    );
  }
  const res = await child(
    `
    tracker.init();
    for (let i = 0; i < 200; i++) tracker.trackError(new Error('nowhere to go ' + i));
    await tracker.flush(5000);
    console.log(JSON.stringify(tracker.stats()));
  `,
    { env: { ERROR_TRACKER_DIR: file } },
  );
  assert.match(res.out.storageError ?? '', /not-a-folder/, 'stats() says events are not being kept');
  const warnings = res.stderr.split('\n').filter((l) => /warning/.test(l));
  assert.ok(warnings.length >= 1 && warnings.length <= 3, `warned once, not per error:\n${warnings.join('\n')}`);
  assert.equal(tracker.stats().storageError ?? null, null, 'a usable dataDir has no storage error');
});

test('5. hostile files in a dead spool (a FIFO, a link to /dev/zero, a 1 GiB segment) neither hang init nor cost memory; the real events arrive', async () => {
  const dataDir = tempDir();
  const first = await captureAndEnd({ dsn: dsnAt(await closedPort()), dataDir }, 2, 'beside hostile files');
  const [dead] = readdirSync(join(dataDir, 'spool'));
  const deadDir = join(dataDir, 'spool', dead);
  execFileSync('mkfifo', [join(deadDir, '00000090.seg')]);
  symlinkSync('/dev/zero', join(deadDir, '00000091.seg'));
  writeFileSync(join(deadDir, '00000092.seg'), '');
  truncateSync(join(deadDir, '00000092.seg'), 1024 ** 3); // sparse: a GiB of zeros, one line
  const r = await receiver();
  const second = await child(
    `
    import { readFileSync } from 'node:fs';
    tracker.init(${J({ dsn: r.dsn, dataDir })});
    console.log('init returned');
    const ok = await tracker.flush(30000);
    // VmHWM, this process's own peak: getrusage's maxRSS carries over the parent's from fork.
    const hwm = Number(/VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
    console.log(JSON.stringify({ ok, maxRss: hwm }));
  `,
    { timeoutMs: 90000 },
  );
  assert.equal(second.out.ok, true, second.stderr);
  assert.deepEqual(sorted(acceptedIds(r)), sorted(first.out));
  // maxRSS is in KiB: reading a GiB-long line whole, or /dev/zero, took over a GB.
  assert.ok(second.out.maxRss < 400 * 1024, `peak RSS ${second.out.maxRss} KiB`);
});

test('7. flush(-1) and flush(NaN) do not wait 49 days', async () => {
  // In a child: its event is owed for good, and would hold up later flushes in this process.
  const res = await child(`
    tracker.init(${J({ dsn: dsnAt(await closedPort()), dataDir: tempDir() })});
    tracker.trackError(new Error('owed while flushing with a negative timeout'));
    const never = new Promise((done) => setTimeout(() => done('still waiting'), 10000).unref());
    const results = [await Promise.race([tracker.flush(-1), never]), await Promise.race([tracker.flush(Number.NaN), never])];
    console.log(JSON.stringify(results));
    process.exit(0);
  `);
  assert.deepEqual(res.out, [false, false]);
});

test('a 429 holds events back even when its rate-limit header names other categories or does not parse', async () => {
  for (const header of ['60:transaction:key', 'garbage']) {
    const times = [];
    let limited = true;
    const r = await receiver({
      respond: (kind) => {
        times.push(Date.now());
        return limited ? { status: 429, headers: { 'retry-after': '2', 'x-sentry-rate-limits': header } } : undefined;
      },
    });
    tracker.init({ dsn: r.dsn, dataDir: tempDir() });
    const ids = [1, 2, 3, 4].map((i) => tracker.trackError(new Error(`limited ${i}`)));
    await r.waitFor(() => times.length >= 1);
    await new Promise((done) => setTimeout(done, 1500));
    const during = times.filter((t) => t < times[0] + 1500).length;
    // Up to 16 senders may each have had one request in flight when the first 429 came back.
    assert.ok(during <= 16, `${during} requests within the 2 s limit (header ${header})`);
    const countAt1500 = times.length;
    limited = false;
    assert.equal(await tracker.flush(15000), true);
    assert.ok(times.length - countAt1500 <= ids.length + 1, 'no burst of retries once the limit lifts');
    assert.deepEqual(sorted(acceptedIds(r)), sorted(ids));
  }
});

test("8. the spool, outbox and audit trail are the owner's alone whatever the umask", async () => {
  const dataDir = tempDir();
  const outboxDir = tempDir();
  await child(`
    process.umask(0o000);
    tracker.init(${J({ dsn: dsnAt(await closedPort()), dataDir })});
    tracker.trackError(new Error('kept in the spool'));
    await tracker.flush(300);
    console.log('null');
  `);
  await child(`
    process.umask(0o000);
    tracker.init(${J({ dataDir: outboxDir })});
    tracker.trackError(new Error('kept in the outbox'));
    await tracker.flush(3000);
    console.log('null');
  `);
  const modes = [];
  const walk = (path) => {
    const s = lstatSync(path);
    modes.push([path, s.mode & 0o777, s.isDirectory()]);
    if (s.isDirectory()) for (const f of readdirSync(path)) walk(join(path, f));
  };
  for (const root of [dataDir, outboxDir]) for (const f of readdirSync(root)) walk(join(root, f));
  assert.ok(
    modes.some(([p]) => p.endsWith('.seg')) &&
      modes.some(([p]) => p.endsWith('outbox.ndjson')) &&
      modes.some(([p]) => /audit-.*\.ndjson$/.test(p)),
    J(modes),
  );
  const open = modes.filter(([, mode, dir]) => mode !== (dir ? 0o700 : 0o600));
  assert.deepEqual(
    open.map(([p, m]) => `${p} ${m.toString(8)}`),
    [],
  );
});

test('9. configuration() and debug logs never show a password in a URL', async () => {
  const legacyEndpoint = 'https://svc:Sup3rS3cret@127.0.0.1:9/capture-error';
  tracker.init({ legacyEndpoint, dataDir: tempDir() });
  const shown = J(tracker.configuration());
  assert.doesNotMatch(shown, /Sup3rS3cret|svc@|svc:/);
  assert.match(shown, /127\.0\.0\.1:9\/capture-error/);
  const res = await child(`
    tracker.init(${J({ legacyEndpoint, dataDir: tempDir(), debug: true })});
    console.log('null');
  `);
  assert.match(res.stderr, /legacy=https:\/\/127\.0\.0\.1:9\/capture-error/);
  assert.doesNotMatch(res.stderr, /Sup3rS3cret/);
});

test('10. a legacyToken that would break its header is a TypeError naming it', () => {
  for (const legacyToken of ['abc\r\nX-Injected: 1', 'abc\ndef', 'a\u0000b']) {
    assert.throws(
      () => tracker.init({ legacyEndpoint: 'http://127.0.0.1:9/capture-error', legacyToken, dataDir: tempDir() }),
      (e) => e instanceof TypeError && /legacyToken/.test(e.message),
    );
  }
});

test('11. replay trusts nothing on disk: a forged record is scrubbed again, a linked spool folder is left alone', async () => {
  const dataDir = tempDir();
  const first = await captureAndEnd({ dsn: dsnAt(await closedPort()), dataDir }, 1, 'to be forged');
  const [dead] = readdirSync(join(dataDir, 'spool'));
  const segment = join(dataDir, 'spool', dead, '00000001.seg');
  // Forge the record: plant an email and a card number, with a checksum that holds.
  const line = readFileSync(segment, 'utf8').split('\n')[0];
  const record = JSON.parse(line.slice(9));
  record.event.exception.values.at(-1).value = 'forged for jane.forged@example.com card 4539 1488 0343 6467';
  record.event.extra = { ...record.event.extra, email: 'jane.forged@example.com' };
  const payload = J(record);
  writeFileSync(segment, `${crc32(payload).toString(16).padStart(8, '0')} ${payload}\n`);
  // A spool folder that is a link to a folder outside dataDir.
  const outside = tempDir();
  symlinkSync(outside, join(dataDir, 'spool', 'linked'));

  const r = await receiver();
  const second = await restart({ dsn: r.dsn, dataDir });
  assert.equal(second.out.ok, true, second.stderr);
  assert.deepEqual(acceptedIds(r), first.out);
  const raw = r.envelopes.map((e) => e.raw).join('\n');
  assert.doesNotMatch(raw, /jane\.forged|example\.com|4539/);
  assert.match(raw, /forged for/);
  assert.deepEqual(readdirSync(outside), [], 'no lock file created through the link');
  assert.ok(lstatSync(join(dataDir, 'spool', 'linked')).isSymbolicLink());
  assert.ok(existsSync(outside) && statSync(outside).isDirectory());
  mkdirSync(join(outside, 'x')); // still ours to use: nothing was locked there
});
