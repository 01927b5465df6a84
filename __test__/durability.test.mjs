// Durability ("nothing lost", issue 4), across processes: a child SIGKILLed in the middle of an
// error storm loses nothing that reached its spool, nor anything captured before that (the next
// start with the same dataDir delivers it, and never re-sends what a sink had acknowledged); a child that ends
// without flush (end of script, process.exit, SIGTERM) while the ingest is down leaves every
// event in the spool for the next start; a damaged spool tail costs only the damaged record,
// with a warning; the audit trail accounts for every event once per transition and holds no
// event data; and past maxQueueMemoryBytes events wait on disk, not in memory.
// Children get an empty environment: every option is written into their source.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import { closedPort, startReceiver } from './support/receiver.mjs';
import { assertNormalized } from './support/normalize.mjs';
import { runNode, tempDir } from './support/child.mjs';

/** The thrown error's message in a Sentry envelope record. */
const mainValue = (rec) =>
  rec.items.find((i) => i.header.type === 'event')?.json?.exception?.values?.at(-1)?.value ?? '';
const idOf = (envelope) => envelope.headers.event_id.replaceAll('-', '');
const sorted = (ids) => [...ids].sort();
const accepted = (r) => r.envelopes.filter((e) => e.status === 200);
const acceptedIds = (r) => accepted(r).map(idOf);
const acceptedLegacyIds = (r) =>
  r.legacyRequests.filter((q) => q.status === 200).flatMap((q) => q.body.errors.map((e) => e.eventId));
const eventsOf = (envelopes) =>
  envelopes.flatMap((e) => e.items.filter((i) => i.header.type === 'event').map((i) => i.json));
const idLines = (stdout) => stdout.split('\n').filter((l) => /^[0-9a-f]{32}$/.test(l));
const missing = (want, got) => {
  const have = new Set(got);
  return want.filter((id) => !have.has(id));
};
const J = JSON.stringify;

const open = [];
after(async () => {
  for (const r of open) await r.close();
});
async function receiver(opts) {
  const r = await startReceiver(opts);
  open.push(r);
  return r;
}

const dsnAt = (port) => `http://testpublickey@127.0.0.1:${port}/42`;
const legacyAt = (port) => `http://127.0.0.1:${port}/capture-error`;

const child = (source, opts = {}) => runNode(source, { env: {}, timeoutMs: 60000, ...opts });

async function waitForFile(path, ms = 15000) {
  const deadline = Date.now() + ms;
  while (!existsSync(path) || statSync(path).size === 0) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear within ${ms} ms`);
    await sleep(10);
  }
  return readFileSync(path, 'utf8');
}

/** The second start: same dataDir and sinks, healthy ingest; prints { ok, stats }. */
async function restart(options) {
  const res = await child(`
    tracker.init(${J(options)});
    const ok = await tracker.flush(20000);
    console.log(JSON.stringify({ ok, stats: tracker.stats() }));
  `);
  assert.equal(res.timedOut, false, res.stderr);
  assert.equal(res.code, 0, res.stderr);
  const out = JSON.parse(res.stdout.trim().split('\n').at(-1));
  return { ...out, stderr: res.stderr };
}

const spoolDirs = (dataDir) => (existsSync(join(dataDir, 'spool')) ? readdirSync(join(dataDir, 'spool')) : []);

/** Parses one spool file: [{ start, end, crc, json, intact }] per line, torn tail included. */
function parseSpoolFile(path) {
  const buf = readFileSync(path);
  const lines = [];
  let start = 0;
  while (start < buf.length) {
    const nl = buf.indexOf(10, start);
    const end = nl === -1 ? buf.length : nl + 1;
    const text = buf.subarray(start, nl === -1 ? buf.length : nl).toString('utf8');
    const m = /^([0-9a-f]{8}) (.*)$/s.exec(text);
    const intact = nl !== -1 && !!m && crc32(m[2]).toString(16).padStart(8, '0') === m[1];
    lines.push({ start, end, crc: m?.[1], json: intact ? JSON.parse(m[2]) : null, intact });
    start = end;
  }
  return lines;
}

function readAudit(dataDir) {
  const dir = join(dataDir, 'audit');
  if (!existsSync(dir)) return { lines: [], text: '' };
  const text = readdirSync(dir)
    .filter((f) => /^audit-\d{4}-\d{2}-\d{2}\.ndjson$/.test(f))
    .sort()
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('');
  return {
    lines: text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l)),
    text,
  };
}

/**
 * What a process's spool directory holds now: the ids of its intact records, in order, and the
 * ids each sink has acknowledged. Read while the process runs, a file may go between listing
 * and reading it: that throws, and the caller looks again.
 */
function spoolState(dir) {
  const files = readdirSync(dir).sort();
  const spooled = files
    .filter((f) => f.endsWith('.seg'))
    .flatMap((f) =>
      parseSpoolFile(join(dir, f))
        .filter((l) => l.intact)
        .map((l) => l.json.id),
    );
  const acks = { sentry: new Set(), legacy: new Set() };
  if (files.includes('acks.log')) {
    for (const l of parseSpoolFile(join(dir, 'acks.log'))) if (l.intact) acks[l.json.sink]?.add(l.json.id);
  }
  return { spooled, acks };
}

test('SIGKILL mid-storm: what reached the spool, and all captured before it, is delivered by the next start; acked ones are not re-sent', async () => {
  // Nothing here waits on a clock. Sentry's requests are held until the child's spool holds
  // SPOOLED events; then it takes ACKED of them and never answers again. So when the kill comes
  // (once the child's own files show an acknowledgement) the spool holds events acknowledged
  // and owed, however fast or slow the machine.
  const SPOOLED = 500;
  const ACKED = 50;
  let phase = 1;
  let answered = 0;
  let spooledEnough;
  const enoughSpooled = new Promise((done) => {
    spooledEnough = done;
  });
  const never = new Promise(() => {});
  const rx = await receiver({
    allowAborted: true, // the kill may cut a request short
    // Which process's connection a request came on: a request the killed child sent may be
    // handled after the restart began, and would pass for one the restart sent.
    tag: () => phase,
    respond: async (kind, req, rec) => {
      rec.phase = phase;
      if (kind === 'sentry' && phase === 1) {
        await enoughSpooled;
        // A request the child gave up on is not an acknowledgement it can write down.
        if (req.socket.destroyed || ++answered > ACKED) await never; // never recorded
      }
      return undefined;
    },
  });
  const dataDir = tempDir();
  const pidFile = join(tempDir(), 'pid');
  const options = { dsn: rx.dsn, legacyEndpoint: rx.legacyUrl, legacyMaxRequestsPerMinute: 120, dataDir };
  const running = child(`
    import { writeFileSync } from 'node:fs';
    tracker.init(${J(options)});
    writeFileSync(${J(pidFile)}, String(process.pid));
    let n = 0;
    setInterval(() => {
      let out = '';
      // 1,000 errors a second: a storm, not a burst the worker would wait out.
      for (let i = 0; i < 10; i++, n++) out += tracker.trackError(new Error('storm ' + n), { n }) + '\\n';
      process.stdout.write(out); // synchronous to a pipe: printed before the next capture
    }, 10);
  `);
  const pid = Number(await waitForFile(pidFile));
  const deadline = Date.now() + 60000; // turns a hang into a failure, nothing more
  let dir;
  let state;
  for (;;) {
    dir ??= spoolDirs(dataDir)
      .filter((d) => d.startsWith(`${pid}-`))
      .map((d) => join(dataDir, 'spool', d))[0];
    try {
      state = dir && spoolState(dir);
    } catch {
      state = undefined;
    }
    if (state && state.spooled.length >= SPOOLED) spooledEnough();
    if (state && state.spooled.length >= SPOOLED && state.acks.sentry.size > 0) break;
    assert.ok(
      Date.now() < deadline,
      `no spool with ${SPOOLED} events and a Sentry acknowledgement: ${J(state && { spooled: state.spooled.length, acked: state.acks.sentry.size })}`,
    );
    await sleep(20);
  }
  process.kill(pid, 'SIGKILL');
  const first = await running;
  assert.equal(first.signal, 'SIGKILL', `child was not killed: code ${first.code} ${first.stderr}`);
  assert.equal(first.timedOut, false);

  // The dead child's spool, as the next start finds it.
  const dead = spoolState(dir);
  const printed = idLines(first.stdout);
  const at = new Map(printed.map((id, i) => [id, i]));
  // The worker writes events to the spool in capture order, and commits each group before any
  // sink sees it. So everything captured before the last event in the spool, or before the
  // last one a sink got, was written (what is no longer there was delivered to both sinks).
  const seenInRun1 = new Set([...acceptedIds(rx), ...acceptedLegacyIds(rx)]);
  const last = Math.max(-1, ...[...dead.spooled, ...seenInRun1].map((id) => at.get(id) ?? -1));
  const must = [...new Set([...printed.slice(0, last + 1), ...dead.spooled, ...seenInRun1])];
  assert.ok(must.length >= SPOOLED, `only ${must.length} ids due (of ${printed.length} printed)`);
  const ackedSentry = dead.acks.sentry;
  const ackedLegacy = dead.acks.legacy;
  assert.ok(
    ackedSentry.size > 0 && ackedSentry.size < must.length,
    `run 1 should deliver some, not all, to Sentry (acked ${ackedSentry.size} of ${must.length})`,
  );

  phase = 2;
  const second = await restart(options);
  console.log(
    `SIGKILL: ${printed.length} ids printed, ${must.length} due (${dead.spooled.length} in the spool); ` +
      `run 1 acks: Sentry ${ackedSentry.size}, legacy ${ackedLegacy.size}; run 2 replayed ${second.stats.replayed}`,
  );
  assert.equal(second.ok, true, `flush after restart: ${J(second.stats)}\n${second.stderr}`);
  assert.ok(second.stats.replayed > 0, J(second.stats));

  const sentryAll = acceptedIds(rx);
  const legacyAll = acceptedLegacyIds(rx);
  const lostSentry = missing(must, sentryAll);
  const lostLegacy = missing(must, legacyAll);
  assert.deepEqual(lostSentry, [], `${lostSentry.length} of ${must.length} ids never reached Sentry`);
  assert.deepEqual(lostLegacy, [], `${lostLegacy.length} of ${must.length} ids never reached the legacy sink`);

  const secondSentry = accepted(rx)
    .filter((e) => e.tag === 2)
    .map(idOf);
  const secondLegacy = rx.legacyRequests
    .filter((q) => q.tag === 2 && q.status === 200)
    .flatMap((q) => q.body.errors.map((e) => e.eventId));
  const resentSentry = secondSentry.filter((id) => ackedSentry.has(id));
  const resentLegacy = secondLegacy.filter((id) => ackedLegacy.has(id));
  assert.deepEqual(resentSentry, [], `${resentSentry.length} ids Sentry had acknowledged were sent to it again`);
  assert.deepEqual(
    resentLegacy,
    [],
    `${resentLegacy.length} ids the legacy sink had acknowledged were sent to it again`,
  );
  assert.equal(new Set(secondSentry).size, secondSentry.length, 'the restart sent some id to Sentry twice');
  assert.equal(new Set(secondLegacy).size, secondLegacy.length, 'the restart sent some id to the legacy sink twice');

  assert.deepEqual(
    spoolDirs(dataDir).filter((d) => d.startsWith(`${pid}-`)),
    [],
    "the dead child's spool directory is gone",
  );
  assert.deepEqual(rx.problems, []);
  // What was replayed from disk is still a valid event.
  await assertNormalized(eventsOf(accepted(rx).filter((e) => e.phase === 2)));
});

for (const variant of ['end of script', 'process.exit(0)', 'SIGTERM']) {
  test(`exit without flush (${variant}) with the ingest down: the next start delivers every event`, async () => {
    const port = await closedPort();
    const dataDir = tempDir();
    const readyFile = join(tempDir(), 'ready');
    const options = { dsn: dsnAt(port), legacyEndpoint: legacyAt(port), dataDir };
    const ending = {
      'end of script': '',
      'process.exit(0)': 'process.exit(0);',
      SIGTERM: `
        setInterval(() => {}, 1000);
        const { writeFileSync } = await import('node:fs');
        writeFileSync(${J(readyFile)}, String(process.pid));
        console.log('ready');`,
    }[variant];
    const running = child(
      `
      tracker.init(${J(options)});
      const ids = [];
      for (let i = 0; i < 10; i++) ids.push(tracker.trackError(new Error('left at exit ' + i), { i }));
      console.log(ids.join('\\n'));
      ${ending}
    `,
      { timeoutMs: 30000 },
    );
    if (variant === 'SIGTERM') {
      const pid = Number(await waitForFile(readyFile));
      process.kill(pid, 'SIGTERM');
    }
    const first = await running;
    assert.equal(first.timedOut, false, `the child did not exit: ${first.stderr}`);
    if (variant === 'SIGTERM')
      assert.equal(first.signal, 'SIGTERM', `exit code ${first.code}, signal ${first.signal}: ${first.stderr}`);
    else assert.equal(first.code, 0, first.stderr);
    const ids = idLines(first.stdout);
    assert.equal(ids.length, 10, first.stdout);

    const rx = await receiver({ port });
    const second = await restart(options);
    assert.equal(second.ok, true, `flush after restart: ${J(second.stats)}\n${second.stderr}`);
    assert.equal(second.stats.replayed, 10, J(second.stats));
    assert.deepEqual(sorted(acceptedIds(rx)), sorted(ids));
    assert.deepEqual(sorted(acceptedLegacyIds(rx)), sorted(ids));
    assert.doesNotMatch(second.stderr, /damaged/, 'a clean spool is replayed without a warning');
    assert.deepEqual(rx.problems, []);
    await assertNormalized(eventsOf(accepted(rx)));
  });
}

test("past the sinks' window (issue 15): events wait in the spool only, and the next start delivers each to every sink once", async () => {
  const port = await closedPort();
  const dataDir = tempDir();
  // 256 KiB gives the least window, 512 events: of 3,000 events waiting for two sinks that are
  // down, the sinks hold 512 and the rest are runs of spool records; after the restart the
  // replayed ones go through the window again, read forward from the spool as it drains.
  const options = {
    dsn: dsnAt(port),
    legacyEndpoint: legacyAt(port),
    legacyMaxRequestsPerMinute: 120,
    dataDir,
    maxQueueMemoryBytes: 256 * 1024,
  };
  const first = await child(
    `
    tracker.init(${J(options)});
    const ids = [];
    for (let i = 0; i < 3000; i++) ids.push(tracker.trackError(new Error('past the window ' + i), { i }));
    while (tracker.stats().spooled < 3000) await new Promise((r) => setTimeout(r, 20));
    console.log(ids.join('\\n'));
  `,
    { timeoutMs: 120000 },
  );
  assert.equal(first.code, 0, first.stderr);
  const ids = idLines(first.stdout);
  assert.equal(ids.length, 3000);

  const rx = await receiver({ port });
  const second = await child(
    `
    tracker.init(${J(options)});
    const ok = await tracker.flush(120000);
    console.log(JSON.stringify({ ok, stats: tracker.stats() }));
  `,
    { timeoutMs: 180000 },
  );
  assert.equal(second.code, 0, second.stderr);
  const out = JSON.parse(second.stdout.trim().split('\n').at(-1));
  assert.equal(out.ok, true, `flush after restart: ${J(out.stats)}\n${second.stderr}`);
  assert.equal(out.stats.replayed, 3000, J(out.stats));
  assert.deepEqual(sorted(acceptedIds(rx)), sorted(ids), 'every event reached Sentry once');
  assert.deepEqual(sorted(acceptedLegacyIds(rx)), sorted(ids), 'every event reached the legacy endpoint once');
  assert.deepEqual(rx.problems, []);
});

test("past the sinks' window (issue 15): when the ingest comes back, the same process delivers each event to every sink once", async () => {
  const port = await closedPort();
  const gate = join(tempDir(), 'gate');
  // As above, a window of 512 events: once the sinks give one back, the next is read from the
  // spool, the only way the other 2,488 events reach them.
  const options = {
    dsn: dsnAt(port),
    legacyEndpoint: legacyAt(port),
    legacyMaxRequestsPerMinute: 120,
    dataDir: tempDir(),
    maxQueueMemoryBytes: 256 * 1024,
  };
  const running = child(
    `
    import { existsSync, writeFileSync } from 'node:fs';
    tracker.init(${J(options)});
    const ids = [];
    for (let i = 0; i < 3000; i++) ids.push(tracker.trackError(new Error('past the window ' + i), { i }));
    while (tracker.stats().spooled < 3000) await new Promise((r) => setTimeout(r, 20));
    writeFileSync(${J(gate)}, 'waiting');
    while (!existsSync(${J(gate)} + '.up')) await new Promise((r) => setTimeout(r, 20));
    const ok = await tracker.flush(120000);
    console.log(ids.join('\\n'));
    console.log(JSON.stringify({ ok, stats: tracker.stats() }));
  `,
    { timeoutMs: 180000 },
  );
  await waitForFile(gate, 120000);
  const rx = await receiver({ port });
  writeFileSync(`${gate}.up`, '');
  const res = await running;
  assert.equal(res.code, 0, res.stderr);
  const ids = idLines(res.stdout);
  assert.equal(ids.length, 3000);
  const out = JSON.parse(res.stdout.trim().split('\n').at(-1));
  assert.equal(out.ok, true, `flush: ${J(out.stats)}\n${res.stderr}`);
  assert.deepEqual(sorted(acceptedIds(rx)), sorted(ids), 'every event reached Sentry once');
  assert.deepEqual(sorted(acceptedLegacyIds(rx)), sorted(ids), 'every event reached the legacy endpoint once');
  assert.deepEqual(rx.problems, []);
});

for (const damage of ['garbage appended', 'last record cut in half']) {
  test(`corrupted spool tail (${damage}): intact records are replayed, damage is skipped with a warning`, async () => {
    const port = await closedPort();
    const dataDir = tempDir();
    const options = { dsn: dsnAt(port), legacyEndpoint: legacyAt(port), dataDir };
    const first = await child(
      `
      tracker.init(${J(options)});
      for (let i = 0; i < 10; i++) console.log(tracker.trackError(new Error('spooled ' + i), { i }));
    `,
      { timeoutMs: 30000 },
    );
    assert.equal(first.code, 0, first.stderr);
    const ids = idLines(first.stdout);
    assert.equal(ids.length, 10);

    const dirs = spoolDirs(dataDir);
    assert.equal(dirs.length, 1, `spool dirs: ${dirs}`);
    assert.match(dirs[0], /^\d+-[0-9a-f]{8}$/);
    const dir = join(dataDir, 'spool', dirs[0]);
    const segs = readdirSync(dir)
      .filter((f) => /^\d{8}\.seg$/.test(f))
      .sort();
    assert.ok(segs.length >= 1, `no segments in ${dir}`);
    const bySeg = segs.map((f) => ({ f, lines: parseSpoolFile(join(dir, f)) }));
    for (const { f, lines } of bySeg)
      for (const l of lines) assert.ok(l.intact, `${f} has a damaged line before the test touched it`);
    const records = bySeg.flatMap(({ lines }) => lines.map((l) => l.json));
    assert.deepEqual(sorted(records.map((r) => r.id)), sorted(ids), 'the spool holds exactly the 10 events');
    for (const r of records) assert.deepEqual(sorted(r.sinks), ['legacy', 'sentry']);

    const newest = bySeg.at(-1);
    const path = join(dir, newest.f);
    let intact = ids;
    if (damage === 'garbage appended') {
      appendFileSync(
        path,
        Buffer.concat([
          Buffer.from('0badc0de {"id":"00000000000000000000000000000000","sinks":["sentry"]}\n'),
          Buffer.from([0, 0xff, 0xfe, 0x13, 0x37]),
          Buffer.from('torn garbage without a newline'),
        ]),
      );
    } else {
      const last = newest.lines.at(-1);
      truncateSync(path, last.start + Math.floor((last.end - last.start) / 2));
      intact = ids.filter((id) => id !== last.json.id);
      assert.equal(intact.length, 9);
    }

    const rx = await receiver({ port });
    const second = await restart(options);
    assert.equal(second.ok, true, `flush after restart: ${J(second.stats)}\n${second.stderr}`);
    assert.deepEqual(sorted(acceptedIds(rx)), sorted(intact));
    assert.deepEqual(sorted(acceptedLegacyIds(rx)), sorted(intact));
    assert.match(second.stderr, /skipped [1-9]\d* damaged record/, second.stderr);
    assert.equal(second.stats.replayed, intact.length, J(second.stats));
    assert.deepEqual(rx.problems, []);
    await assertNormalized(eventsOf(accepted(rx)));
  });
}

test('audit trail: one captured line per event, one delivered or failed per sink, no event data', async () => {
  const planted = {
    message: 'BASKET-PLANTED-19c2',
    context: 'ORDER-PLANTED-7f3a9',
    email: 'jane.doe@example.org',
  };
  // The refusal echoes the event's message, as proxies and WAFs do: the audit must not keep it.
  const rx = await receiver({
    // Matched on the message, not the raw body: context lines carry this test's source.
    respond: (kind, req, rec) =>
      kind === 'sentry' && mainValue(rec).includes('poison-pill')
        ? {
            status: 400,
            headers: { 'content-type': 'text/plain' },
            body: `invalid event: poison-pill checkout failed for basket ${planted.message}`,
          }
        : undefined,
  });
  const dataDir = tempDir();
  const options = {
    dsn: rx.dsn,
    legacyEndpoint: rx.legacyUrl,
    dataDir,
    release: 'shop@9.9.9',
    environment: 'audit-test',
  };
  const res = await child(`
    tracker.init(${J(options)});
    const ids = [];
    for (let i = 0; i < 8; i++) {
      const what = i === 3 ? 'poison-pill checkout' : 'checkout';
      ids.push(tracker.trackError(new Error(what + ' failed for basket ${planted.message} #' + i),
        { orderRef: ${J(planted.context)}, contact: ${J(planted.email)}, i }));
    }
    console.log(ids.join('\\n'));
    console.log('closed', await tracker.close(15000));
  `);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /closed true/);
  const ids = idLines(res.stdout);
  assert.equal(ids.length, 8);
  const poison = ids[3];

  // The planted values did leave the process, so their absence from the audit means something.
  const raw = accepted(rx)
    .map((e) => e.raw)
    .join('\n');
  assert.ok(raw.includes(planted.message) && raw.includes(planted.context), 'planted values reach Sentry');
  assert.deepEqual(sorted(acceptedIds(rx)), sorted(ids.filter((id) => id !== poison)));
  assert.deepEqual(sorted(acceptedLegacyIds(rx)), sorted(ids));

  const { lines, text } = readAudit(dataDir);
  for (const id of ids) {
    const mine = lines.filter((l) => l.eventId === id);
    assert.equal(mine.filter((l) => l.action === 'captured' && l.sink === null).length, 1, `captured lines of ${id}`);
    for (const sink of ['sentry', 'legacy']) {
      const ends = mine
        .filter((l) => l.sink === sink && (l.action === 'delivered' || l.action === 'failed'))
        .map((l) => l.action);
      const expected = id === poison && sink === 'sentry' ? ['failed'] : ['delivered'];
      assert.deepEqual(ends, expected, `${sink} outcome of ${id}`);
      assert.ok(
        mine.filter((l) => l.sink === sink && l.action === 'retry').length <= 1,
        `retry lines of ${id} at ${sink}`,
      );
    }
    assert.deepEqual(
      mine.filter((l) => l.sink === 'outbox'),
      [],
      'no outbox lines with sinks configured',
    );
    for (const l of mine) {
      assert.equal(l.release, 'shop@9.9.9');
      assert.equal(l.environment, 'audit-test');
      assert.match(l.fingerprint, /^\S+$/);
      assert.ok(!Number.isNaN(Date.parse(l.ts)), l.ts);
    }
  }
  assert.deepEqual(sorted(new Set(lines.map((l) => l.eventId))), sorted(ids), 'only these events are audited');
  for (const l of lines) {
    assert.ok(['captured', 'delivered', 'retry', 'failed'].includes(l.action), J(l));
    const allowed = ['ts', 'eventId', 'action', 'sink', 'fingerprint', 'release', 'environment', 'reason'];
    // The chain (issue 20) and, on `captured`, the sinks the event is owed to: sink names only.
    allowed.push('prev', 'hash', 'sinks');
    assert.match(l.prev, /^[0-9a-f]{64}$/);
    assert.match(l.hash, /^[0-9a-f]{64}$/);
    if (l.sinks)
      assert.ok(
        l.sinks.every((s) => ['sentry', 'legacy', 'outbox'].includes(s)),
        J(l),
      );
    assert.deepEqual(
      Object.keys(l).filter((k) => !allowed.includes(k)),
      [],
      `unexpected audit fields: ${J(l)}`,
    );
  }
  for (const [what, value] of Object.entries(planted)) {
    const hit = text.split('\n').find((l) => l.includes(value));
    assert.equal(hit, undefined, `the audit holds the planted ${what} ${value}: ${hit}`);
  }
  for (const word of ['checkout failed', 'poison-pill', 'jane.doe']) {
    const hit = text.split('\n').find((l) => l.includes(word));
    assert.equal(hit, undefined, `the audit holds event text "${word}": ${hit}`);
  }
  assert.deepEqual(rx.problems, []);
  await assertNormalized(eventsOf(accepted(rx)));
});

test('memory cap: past maxQueueMemoryBytes events wait in the spool, and peak RSS shows it', async () => {
  const run = async (cap) => {
    const port = await closedPort();
    const options = { dsn: dsnAt(port), dataDir: tempDir(), maxQueueMemoryBytes: cap };
    const res = await child(
      `
      tracker.init(${J(options)});
      let peak = process.memoryUsage().rss;
      const sample = () => { peak = Math.max(peak, process.memoryUsage().rss); };
      const sampler = setInterval(sample, 20);
      const pad = 'lorem ipsum dolor sit amet consectetur '.repeat(52); // ~2 KB
      for (let chunk = 0; chunk < 40; chunk++) {
        for (let i = 0; i < 500; i++) {
          const n = chunk * 500 + i;
          tracker.trackError(new Error('queued while down ' + n), { pad, n });
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      while (tracker.stats().spooled < 20000) await new Promise((resolve) => setTimeout(resolve, 20));
      sample();
      clearInterval(sampler);
      console.log(JSON.stringify({ peak, stats: tracker.stats() }));
    `,
      { timeoutMs: 60000 },
    );
    assert.equal(res.timedOut, false, `child with cap ${cap} did not spool 20000 events in time: ${res.stderr}`);
    assert.equal(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout.trim().split('\n').at(-1));
    assert.equal(out.stats.captured, 20000);
    assert.ok(out.stats.spooled >= 20000, J(out.stats));
    return out.peak;
  };
  const capped = await run(1_000_000);
  const uncapped = await run(512 * 1024 * 1024);
  const mb = (b) => (b / 1048576).toFixed(1);
  console.log(`peak RSS with maxQueueMemoryBytes 1 MB: ${mb(capped)} MiB; with 512 MiB: ${mb(uncapped)} MiB`);
  assert.ok(
    uncapped - capped >= 30 * 1048576,
    `capped peak ${mb(capped)} MiB is not at least 30 MiB below uncapped ${mb(uncapped)} MiB`,
  );
});
