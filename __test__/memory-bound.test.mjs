// Memory bounded end to end (issue 15): with the ingest down and maxQueueMemoryBytes at 32 MiB,
// a child tracks 20,000, 60,000, 120,000 and 240,000 errors with 4 KB of context each, in steps
// of 2,000 with setImmediate between (a storm the worker cannot keep up with), and waits until
// the worker has finished them all, so every one waits for the sink. Raw captures past the cap
// spill to an encrypted file, and finished events past the sinks' window wait in the spool only,
// so peak RSS must not grow with the count; while captures are spilled, no file under dataDir
// holds the planted personal data in plaintext; and once the ingest comes back, every error is
// delivered (20,000 is past the window of some 13,000 events a 32 MiB cap allows, so the spool
// gives back the rest).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { closedPort, startReceiver } from './support/receiver.mjs';
import { runNode, tempDir } from './support/child.mjs';

const J = JSON.stringify;
const CAP = 32 * 1024 * 1024;
const PLANTED = 'Oleksandra Plantedname-Kovalenko';

const open = [];
after(async () => {
  for (const r of open) await r.close();
});

/** Every regular file under `dir`, recursively. */
function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    return e.isDirectory() ? files(path) : e.isFile() ? [path] : [];
  });
}

/** Waits until the file at `path` exists (a child's signal), for up to `ms`. */
async function waitFor(path, ms = 300000) {
  const deadline = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`the child never wrote ${path}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * One child: tracks `count` errors with 4 KB contexts against a dead ingest. At the end of the
 * storm (captures still spilled, the worker catching up) it asks the parent to look at dataDir;
 * then it waits until the worker has finished every error (all of them waiting for the sink,
 * the most the sinks' bookkeeping can ever hold) and records its peak RSS. With `deliver`, the
 * parent then brings the ingest up on the same port and the child flushes until every error is
 * delivered.
 */
async function storm(count, dataDir, port, deliver) {
  const gate = join(tempDir(), 'gate');
  const running = runNode(
    `
    import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
    const until = async (path) => { while (!existsSync(path)) await new Promise((r) => setTimeout(r, 20)); };
    tracker.init(${J({ dsn: `http://testpublickey@127.0.0.1:${port}/42`, dataDir, maxQueueMemoryBytes: CAP })});
    const padding = 'p'.repeat(4000);
    const trail = []; // RSS / V8 heap / external MB after each step, for a failure message
    for (let done = 0; done < ${count}; done += 2000) {
      // The ids go to a file as they come: an array of 120,000 of them would grow V8's heap
      // by some 30 MB, and this test measures the tracker, not the array.
      let ids = '';
      for (let i = done; i < done + 2000; i++) {
        ids += tracker.trackError(new Error('screening ' + i + ' failed'), { fullName: ${J(PLANTED)}, padding, i }) + '\\n';
      }
      appendFileSync(${J(gate)} + '.ids', ids);
      // V8 sizes its heap by the allocation rate, not by what is live; collected each step, it
      // stays the same for 20,000 errors as for 120,000, and the peak measures the tracker.
      gc();
      const m = process.memoryUsage();
      trail.push(done + ':' + Math.round(m.rss / 1048576) + '/' + Math.round(m.heapTotal / 1048576) + '/' + Math.round(m.external / 1048576));
      await new Promise((r) => setImmediate(r));
    }
    // Give the worker time to catch up part of the way, then let the parent look at dataDir
    // while captures are still spilled.
    await new Promise((r) => setTimeout(r, 200));
    const buffer = tracker.stats().buffer;
    writeFileSync(${J(gate)}, 'look');
    await until(${J(gate)} + '.seen');
    // Every error finished and waiting for the sink: the peak (VmHWM) so far covers the storm
    // and the backlog at its largest. Not getrusage's maxRSS: Linux carries that over from the
    // parent it was forked from, which here holds the earlier runs' files.
    for (let t = 0; tracker.stats().spooled < ${count}; t++) {
      await new Promise((r) => setTimeout(r, 50));
      if (t % 20 === 0) {
        const st = tracker.stats();
        trail.push('t' + t + ':' + Math.round(process.memoryUsage().rss / 1048576) + '/s' + st.spooled + '/q' + st.queued);
      }
    }
    gc();
    const maxRss = Number(/VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
    const waiting = tracker.stats().spooled; // finished by the worker, owed to the sink
    writeFileSync(${J(gate)} + '.measured', '');
    await until(${J(gate)} + '.done');
    const ok = ${deliver ? 'await tracker.flush(300000)' : 'null'};
    // A file, not stdout: process.exit does not wait for a pipe to drain.
    writeFileSync(${J(gate)} + '.out', JSON.stringify({ maxRss, waiting, buffer, ok, stats: tracker.stats(), trail }));
    process.exit(0);
  `,
    { env: { NODE_OPTIONS: '--expose-gc' }, timeoutMs: 600000 },
  );
  // While captures are spilled: nothing under dataDir may hold the planted name in plaintext.
  await waitFor(gate);
  const seen = files(dataDir);
  const spill = seen.filter((f) => f.endsWith('raw.spill'));
  const spillBytes = spill.reduce((n, f) => n + statSync(f).size, 0);
  const leaks = seen.filter((f) => readFileSync(f).includes(PLANTED));
  writeFileSync(`${gate}.seen`, '');
  await waitFor(`${gate}.measured`);
  let receiver;
  if (deliver) {
    receiver = await startReceiver({ port });
    open.push(receiver);
  }
  writeFileSync(`${gate}.done`, '');
  const res = await running;
  assert.equal(res.timedOut, false, res.stderr);
  assert.equal(res.code, 0, res.stderr);
  const out = JSON.parse(readFileSync(`${gate}.out`, 'utf8'));
  out.ids = readFileSync(`${gate}.ids`, 'utf8').split('\n').filter(Boolean);
  return { ...out, spill, spillBytes, leaks, receiver, stderr: res.stderr };
}

test('peak RSS does not grow with the storm; spilled captures are sealed; every error is delivered once the ingest is back', async () => {
  const runs = [];
  for (const count of [20000, 60000, 120000, 240000]) {
    const port = await closedPort();
    const run = await storm(count, tempDir(), port, count === 20000);
    runs.push(run);
    const mb = (b) => (b / 1048576).toFixed(0);
    console.log(
      `# ${count} errors: peak RSS ${mb(run.maxRss)} MB, ${mb(run.spillBytes)} MB spilled, ${run.waiting} finished events waiting for the sink`,
    );
    assert.equal(run.ids.length, count);
    assert.equal(run.waiting, count, 'the worker finished every error before the peak was read');
    assert.ok(run.spill.length === 1 && run.spillBytes > 0, `captures past the cap were spilled: ${J(run.spill)}`);
    assert.deepEqual(run.leaks, [], 'no file under dataDir holds the planted name in plaintext');
    // What stats() says of the buffer at the end of the storm: captures spilled, and the bytes
    // held within the cap (two threads may each take the last room at once: a capture's worth).
    assert.ok(run.buffer.spilled > 0, J(run.buffer));
    assert.equal(run.buffer.capBytes, CAP);
    assert.ok(run.buffer.bytes <= CAP + 64 * 1024, J(run.buffer));
  }
  // Peak RSS is Node itself (about 65 MB) and the cap: raw captures, finished events' payloads
  // and the bookkeeping of the events the sinks hold (a window of at most an eighth of the cap;
  // the rest wait in the spool, remembered as one run per 8 MiB segment). None of it grows with
  // the count. What does differ between runs is bounded but not small: V8 sizes its heap by
  // the allocation rate of the storm (8 MB of heap for 20,000 errors, 20 MB for 240,000), and
  // 32 MiB counted make 40 to 60 MB of RSS depending on how the allocator's arenas are
  // fragmented as the worker catches up. Measured: 126, 135, 149 and 151 MB for 20,000, 60,000,
  // 120,000 and 240,000 errors (a probe of this child at 480,000 peaked at 146 MB). So the
  // allowance between the smallest storm and any larger one is a fixed 40 MB, not a figure per
  // event. Before the sinks' window each waiting event kept some 330 bytes in the senders'
  // queues: this test then measured 137, 158, 188 and 221 MB and failed at 120,000. Issue 15
  // measured 213 and 552 MB for 20,000 and 120,000 errors before the buffer.
  const [small, ...larger] = runs;
  for (const run of larger) {
    assert.ok(
      run.maxRss - small.maxRss < 40 * 1048576,
      `peak RSS grew from ${small.maxRss} bytes for 20,000 errors to ${run.maxRss} for ${run.ids.length} ` +
        `(${run.waiting} finished events waiting); RSS/V8 heap/external MB by step: ${run.trail.join(' ')}`,
    );
    assert.ok(run.maxRss < 256 * 1048576, `peak RSS ${run.maxRss} for ${run.ids.length} errors`);
  }

  // The 20,000 run brought its ingest back and flushed: every error arrived, scrubbed.
  const r = small.receiver;
  assert.equal(small.ok, true, small.stderr.slice(0, 2000));
  const got = new Set(r.envelopes.filter((e) => e.status === 200).map((e) => e.headers.event_id.replaceAll('-', '')));
  const missing = small.ids.filter((id) => !got.has(id));
  assert.equal(missing.length, 0, `${missing.length} of ${small.ids.length} not delivered`);
  assert.deepEqual(r.problems, []);
  assert.doesNotMatch(
    r.envelopes
      .slice(0, 50)
      .map((e) => e.raw)
      .join(''),
    /Plantedname/,
  );
});
