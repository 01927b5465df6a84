// Hosts that freeze after the response (issue 19, item 7): where the platform offers a
// `waitUntil` (Vercel's request context, which Next's after() uses too), a capture inside a
// request registers the delivery with it. The child plays the platform: it waits for what was
// registered, then freezes for good (SIGKILL). The receiver must have the errors by then.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runNode, tempDir } from './support/child.mjs';
import { startReceiver } from './support/receiver.mjs';

const CHILD = (dsn, dataDir, withContext) => `
import http from 'node:http';
const registered = [];
// The platform's context for the one request this instance serves.
const context = { waitUntil: (p) => registered.push(p) };
${withContext ? `globalThis[Symbol.for('@vercel/request-context')] = { get: () => context };` : ''}
tracker.init({ dsn: ${JSON.stringify(dsn)}, dataDir: ${JSON.stringify(dataDir)} });
const server = http.createServer((req, res) => {
  tracker.trackError(new Error('first of the request'));
  tracker.trackError(new Error('second of the request'));
  res.end('failed');
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
await fetch('http://127.0.0.1:' + server.address().port + '/').then((r) => r.text());
const results = await Promise.all(registered);
console.log(JSON.stringify({ registered: registered.length, results }));
process.kill(process.pid, 'SIGKILL');
`;

test('a request on a host with waitUntil has its errors delivered before the host freezes', async () => {
  const rx = await startReceiver();
  try {
    const run = await runNode(CHILD(rx.dsn, tempDir('et-freeze-'), true));
    assert.equal(run.signal, 'SIGKILL', run.stderr);
    const said = JSON.parse(run.stdout.trim());
    assert.deepEqual(said, { registered: 1, results: [true] }, 'one flush for the two captures, done');
    const messages = rx.events.map((e) => e.exception.values.at(-1).value).sort();
    assert.deepEqual(messages, ['first of the request', 'second of the request']);
    assert.deepEqual(rx.problems, []);
  } finally {
    await rx.close();
  }
});

test('without a platform waitUntil nothing is registered (the spool keeps the errors)', async () => {
  const rx = await startReceiver();
  try {
    const run = await runNode(CHILD(rx.dsn, tempDir('et-freeze-'), false));
    assert.equal(JSON.parse(run.stdout.trim()).registered, 0);
  } finally {
    await rx.close();
  }
});
