// Release health (issue 19, item 6): request-mode sessions counted per request, handed over at
// most once a minute (close() hands over the rest), sent as a `sessions` envelope item that the
// strict receiver parses and Relay's release parser accepts, through the spool (a restart
// delivers what a dead process could not) and Sentry's rate limits for category `session`.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { runNode, tempDir } from './support/child.mjs';
import { assertSessionsValid, closeNormalizer } from './support/normalize.mjs';
import { closedPort, startReceiver } from './support/receiver.mjs';

after(closeNormalizer);

// An app in a child process: 5 requests end fine, 3 capture an error (one inside withScope),
// 2 crash (Next reports them through onRequestError), 1 captures an error after its response
// ended.
const APP = (dsn, dataDir, close = 10_000) => `
import http from 'node:http';
tracker.init({ dsn: ${JSON.stringify(dsn)}, dataDir: ${JSON.stringify(dataDir)}, release: 'screening@2.1.0', environment: 'staging' });
const server = http.createServer((req, res) => {
  if (req.url === '/errored') tracker.trackError(new Error('lookup failed'));
  if (req.url === '/errored-in-scope') tracker.withScope((scope) => tracker.trackError(new Error('lookup failed'), null, { tags: { in: 'scope' } }));
  if (req.url === '/crashed') tracker.onRequestError(new Error('render failed'), { path: req.url, method: 'GET', headers: {} }, { routePath: '/crashed', routeType: 'render', routerKind: 'App Router' });
  res.end('ok', () => { if (req.url === '/late') setImmediate(() => tracker.trackError(new Error('after the response'))); });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = 'http://127.0.0.1:' + server.address().port;
const paths = ['/ok', '/ok', '/ok', '/ok', '/ok', '/errored', '/errored', '/errored-in-scope', '/crashed', '/crashed', '/late'];
await Promise.all(paths.map((p) => fetch(base + p).then((r) => r.text())));
await new Promise((r) => setTimeout(r, 100));
server.close();
// Within the minute: flush sends the errors, not the counts.
await tracker.flush(10_000);
const s = tracker.stats();
console.log(JSON.stringify({ captured: s.captured, releases: s.releases, groups: s.groups.length }));
await tracker.close(${close});
console.log(JSON.stringify({ sessionsSent: tracker.stats().sessionsSent }));
`;

const totals = (items) => {
  const sum = { exited: 0, errored: 0, crashed: 0 };
  for (const item of items) for (const a of item.aggregates) for (const k of Object.keys(sum)) sum[k] += a[k] ?? 0;
  return sum;
};

test('requests are counted as exited, errored or crashed and sent once, as a sessions item', async () => {
  const rx = await startReceiver();
  const dataDir = tempDir('et-sessions-');
  let sessionsBeforeClose;
  try {
    const run = await runNode(APP(rx.dsn, dataDir));
    assert.equal(run.code, 0, run.stderr);
    const [stats, closed] = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(stats.captured, 6, 'release health is not counted as errors');
    assert.deepEqual(
      stats.releases.map((r) => [r.release, r.errors, r.newGroups.length]),
      [['screening@2.1.0', 6, 4]],
    );
    assert.equal(closed.sessionsSent, 1);
    assert.deepEqual(rx.problems, []);
    assert.equal(rx.sessions.length, 1, 'one sessions item, at close (flush within the minute sends none)');
    const [item] = rx.sessions;
    assert.deepEqual(item.attrs, { release: 'screening@2.1.0', environment: 'staging' });
    assert.deepEqual(totals(rx.sessions), { exited: 5, errored: 4, crashed: 2 });
    assert.match(item.aggregates[0].started, /^\d{4}-\d\d-\d\dT\d\d:\d\d:00Z$/);
    await assertSessionsValid(rx.sessions);
    sessionsBeforeClose = rx.envelopes.filter((e) => e.items.some((i) => i.header.type === 'sessions')).length;
    assert.equal(sessionsBeforeClose, 1);
  } finally {
    await rx.close();
  }
});

test('a sessions item waits out a rate limit on category session', async () => {
  // Like Sentry, the receiver refuses sessions for as long as the limit it announced lasts
  // (a little less, so clock granularity cannot fail a client that waited): a client that
  // did not wait would be refused again.
  let limitedUntil = 0;
  const rx = await startReceiver({
    respond: (kind, req, record) => {
      if (kind !== 'sentry' || !record.items.some((i) => i.header.type === 'sessions')) return undefined;
      if (limitedUntil === 0 || Date.now() < limitedUntil) {
        limitedUntil ||= Date.now() + 1500;
        return { status: 429, headers: { 'x-sentry-rate-limits': '2:session:project' }, body: {} };
      }
      return undefined;
    },
  });
  try {
    const run = await runNode(APP(rx.dsn, tempDir('et-sessions-')));
    assert.equal(run.code, 0, run.stderr);
    const statuses = rx.envelopes.filter((e) => e.items.some((i) => i.header.type === 'sessions')).map((e) => e.status);
    assert.deepEqual(statuses, [429, 200]);
    assert.deepEqual(totals(rx.sessions.slice(-1)), { exited: 5, errored: 4, crashed: 2 });
    assert.equal(rx.events.length, 6);
  } finally {
    await rx.close();
  }
});

test('counts handed over while Sentry is unreachable are delivered by the next start', async () => {
  const dataDir = tempDir('et-sessions-');
  const down = `http://testpublickey@127.0.0.1:${await closedPort()}/42`;
  const first = await runNode(APP(down, dataDir, 300));
  assert.equal(first.code, 0, first.stderr);
  const rx = await startReceiver();
  try {
    const second = await runNode(`
      tracker.init({ dsn: ${JSON.stringify(rx.dsn)}, dataDir: ${JSON.stringify(dataDir)}, release: 'screening@2.1.0', environment: 'staging' });
      console.log(await tracker.flush(10_000));
    `);
    assert.equal(second.stdout.trim(), 'true', second.stderr);
    assert.deepEqual(rx.problems, []);
    assert.deepEqual(totals(rx.sessions), { exited: 5, errored: 4, crashed: 2 });
    await assertSessionsValid(rx.sessions);
  } finally {
    await rx.close();
  }
});
