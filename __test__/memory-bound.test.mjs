// Memory bounded end to end (issue 15): with the ingest down and maxQueueMemoryBytes at 32 MiB,
// a child tracks 20,000, 60,000 and 120,000 errors with 4 KB of context each, in steps of
// 2,000 with setImmediate between (a storm the worker cannot keep up with). Raw captures past
// the cap spill to an encrypted file, so peak RSS must not grow with the count; while they are
// spilled, no file under dataDir holds the planted personal data in plaintext; and once the
// ingest comes back, the next start delivers every error.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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

/**
 * One child: tracks `count` errors with 4 KB contexts against a dead ingest. At the end of the
 * storm (captures still spilled, the worker catching up) it records its peak RSS and asks the
 * parent to look at dataDir. With `deliver`, the parent then brings the ingest up on the same
 * port and the child flushes until every error is delivered.
 */
async function storm(count, dataDir, port, deliver) {
  const gate = join(tempDir(), 'gate');
  const running = runNode(
    `
    import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
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
    // Give the worker time to catch up part of the way: its peak counts too.
    for (let t = 0; t < 20; t++) {
      await new Promise((r) => setTimeout(r, 50));
      const st = tracker.stats();
      trail.push('t' + t + ':' + Math.round(process.memoryUsage().rss / 1048576) + '/s' + st.spooled + '/q' + st.queued);
    }
    // The peak of this process's own memory (VmHWM). Not getrusage's maxRSS: Linux carries
    // that over from the parent it was forked from, which here holds the earlier runs' files.
    const maxRss = Number(/VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
    const waiting = tracker.stats().spooled; // finished by the worker, owed to the sink
    const buffer = tracker.stats().buffer;
    writeFileSync(${J(gate)}, 'look');
    while (!existsSync(${J(gate)} + '.done')) await new Promise((r) => setTimeout(r, 20));
    const ok = ${deliver ? 'await tracker.flush(300000)' : 'null'};
    // A file, not stdout: process.exit does not wait for a pipe to drain.
    writeFileSync(${J(gate)} + '.out', JSON.stringify({ maxRss, waiting, buffer, ok, stats: tracker.stats(), trail }));
    process.exit(0);
  `,
    { env: { NODE_OPTIONS: '--expose-gc' }, timeoutMs: 600000 },
  );
  // While the child waits: nothing under dataDir may hold the planted name in plaintext.
  const deadline = Date.now() + 300000;
  for (;;) {
    try {
      if (readFileSync(gate, 'utf8') === 'look') break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error('the child never reached the end of its storm');
    await new Promise((r) => setTimeout(r, 50));
  }
  const seen = files(dataDir);
  const spill = seen.filter((f) => f.endsWith('raw.spill'));
  const spillBytes = spill.reduce((n, f) => n + statSync(f).size, 0);
  const leaks = seen.filter((f) => readFileSync(f).includes(PLANTED));
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
  for (const count of [20000, 60000, 120000]) {
    const port = await closedPort();
    const run = await storm(count, tempDir(), port, count === 20000);
    runs.push(run);
    const mb = (b) => (b / 1048576).toFixed(0);
    console.log(
      `# ${count} errors: peak RSS ${mb(run.maxRss)} MB, ${mb(run.spillBytes)} MB spilled, ${run.waiting} finished events waiting at the end of the storm`,
    );
    assert.equal(run.ids.length, count);
    assert.ok(run.spill.length === 1 && run.spillBytes > 0, `captures past the cap were spilled: ${J(run.spill)}`);
    assert.deepEqual(run.leaks, [], 'no file under dataDir holds the planted name in plaintext');
    // What stats() says of the buffer at the end of the storm: captures spilled, and the bytes
    // held within the cap (two threads may each take the last room at once: a capture's worth).
    assert.ok(run.buffer.spilled > 0, J(run.buffer));
    assert.equal(run.buffer.capBytes, CAP);
    assert.ok(run.buffer.bytes <= CAP + 64 * 1024, J(run.buffer));
  }
  // Peak RSS is Node itself (about 65 MB), the cap (raw captures and finished events held in
  // memory: about 40 MB of RSS for 32 MiB counted), and each event the worker has finished and
  // spooled keeping its place in the sinks' queues until delivered (a few hundred bytes: ids
  // and counters, not content). How much of the cap is in use at the peak depends on where the
  // worker is when the storm ends: two runs of the same size differ by up to 30 MB. So the
  // allowance between 20,000 and 120,000 errors is 48 MB, plus 600 bytes per extra waiting
  // event; issue 15 measured 213 and 552 MB for the same storms before the buffer. (240,000 errors peak
  // where 120,000 do: `node --expose-gc` on this test's child gave 141 and 142 MB.)
  const [small, , large] = runs;
  const allowance = 48 * 1048576 + 600 * Math.max(0, large.waiting - small.waiting);
  assert.ok(
    large.maxRss - small.maxRss < allowance,
    `peak RSS grew from ${small.maxRss} to ${large.maxRss} bytes between 20,000 and 120,000 errors ` +
      `(${small.waiting} and ${large.waiting} finished events waiting; allowance ${allowance}); ` +
      `RSS/V8 heap/external MB by step: ${large.trail.join(' ')}`,
  );
  assert.ok(large.maxRss < 256 * 1048576, `peak RSS ${large.maxRss} for 120,000 errors`);

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
