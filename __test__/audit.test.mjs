// The audit trail as SOC 2 evidence (issue 20), end to end: a child process captures errors
// through a storm, a restart and a 4xx refusal; `error-tracker audit verify` proves the chain,
// a tampered copy names the broken file:line, `audit report --format json` accounts for every
// event id the processes returned, and the HTML report renders its table and chart in a real
// browser without fetching anything.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startReceiver } from './support/receiver.mjs';
import { assertNormalized } from './support/normalize.mjs';
import { runNode, tempDir } from './support/child.mjs';
import { launchBrowser } from './support/browser.mjs';

const CLI = resolve(import.meta.dirname, '..', 'bin', 'error-tracker.mjs');
const ARTIFACTS = resolve(import.meta.dirname, 'artifacts');
const STORM = 1000;
const idLines = (stdout) => stdout.split('\n').filter((l) => /^[0-9a-f]{32}$/.test(l));
const mainValue = (rec) =>
  rec.items.find((i) => i.header.type === 'event')?.json?.exception?.values?.at(-1)?.value ?? '';

/** Runs the CLI from a clean environment; resolves with { code, stdout, stderr }. */
function cli(args) {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      cwd: tempDir(),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

let rx;
const dataDir = tempDir();
let phase = 1;
let ids = [];
let poison;

before(async () => {
  rx = await startReceiver({
    respond: (kind, req, rec) => {
      if (kind !== 'sentry') return undefined;
      // A 4xx: this event is refused for good, in either phase.
      if (mainValue(rec).includes('poison-pill')) return { status: 400, body: { detail: 'invalid event' } };
      // Before the restart Sentry is down: events wait in the spool, retried.
      if (phase === 1) return { status: 503, body: { detail: 'unavailable' } };
      return undefined;
    },
  });
  const env = { SENTRY_DSN: rx.dsn, CAPTURE_ERROR_URL: rx.legacyUrl, ERROR_TRACKER_DIR: dataDir };
  // The storm, then an exit while Sentry still owes every event (it answered 503).
  const first = await runNode(
    `
    const ids = [];
    for (let i = 0; i < ${STORM}; i++) ids.push(tracker.trackError(new Error('storm ' + i), { i }));
    ids.push(tracker.trackError(new Error('poison-pill event')));
    while (tracker.stats().sinks.sentry.retrying === 0) await tracker.flush(50);
    console.log(ids.join('\\n'));
    `,
    { env, timeoutMs: 60_000 },
  );
  assert.equal(first.code, 0, first.stderr);
  // The restart: the next process delivers what the first one owed, and captures a few more.
  phase = 2;
  const second = await runNode(
    `
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(tracker.trackError(new Error('after restart ' + i)));
    if (!(await tracker.flush(30000))) throw new Error('not flushed');
    console.log(ids.join('\\n'));
    `,
    { env, timeoutMs: 60_000 },
  );
  assert.equal(second.code, 0, second.stderr);
  ids = [...idLines(first.stdout), ...idLines(second.stdout)];
  poison = idLines(first.stdout).at(-1);
  assert.equal(ids.length, STORM + 6);
});

after(async () => {
  try {
    await assertNormalized(rx.events);
    assert.deepEqual(rx.problems, []);
  } finally {
    await rx.close();
  }
});

test('audit verify passes on the trail the processes wrote, and names file:line in a tampered copy', async () => {
  const ok = await cli(['audit', 'verify', dataDir]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /✓ chain intact from its first line: \d+ files?, \d+ lines/);

  for (const [what, tamper, expect] of [
    // One character of the event id changed: the line's own hash no longer matches.
    [
      'edited',
      (l) => (l[9] = l[9].replace(/"eventId":"(.)/, (m, c) => `"eventId":"${c === 'a' ? 'b' : 'a'}`)),
      [10, /edited/],
    ],
    ['deleted', (l) => l.splice(9, 1), [10, /does not follow line 9/]],
    ['reordered', (l) => ([l[9], l[10]] = [l[10], l[9]]), [10, /does not follow line 9/]],
  ]) {
    const copy = join(tempDir(), 'audit');
    cpSync(join(dataDir, 'audit'), copy, { recursive: true });
    chmodSync(copy, 0o700);
    const file = readdirSync(copy).find((f) => f.startsWith('audit-'));
    const lines = readFileSync(join(copy, file), 'utf8').split('\n');
    tamper(lines);
    writeFileSync(join(copy, file), lines.join('\n'));
    const bad = await cli(['audit', 'verify', copy]);
    assert.equal(bad.code, 1, `${what}: ${bad.stdout}`);
    assert.ok(bad.stdout.includes(`${join(copy, file)}:${expect[0]}: `), `${what}: ${bad.stdout}`);
    assert.match(bad.stdout, expect[1], what);
  }
});

test('the chain is SHA-256 over bytes anyone can recompute (node:crypto here)', () => {
  const dir = join(dataDir, 'audit');
  let prev = '0'.repeat(64);
  let n = 0;
  for (const file of readdirSync(dir)
    .filter((f) => f.startsWith('audit-'))
    .sort()) {
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n').slice(0, -1)) {
      const cut = line.lastIndexOf(',"hash":"');
      const body = Buffer.from(line.slice(0, cut), 'utf8');
      const json = JSON.parse(line);
      assert.equal(json.prev, prev, `${file}:${n + 1}`);
      assert.equal(createHash('sha256').update(body).digest('hex'), json.hash, `${file}:${n + 1}`);
      assert.ok(line.startsWith(`{"prev":"${prev}",`) && line.endsWith(`,"hash":"${json.hash}"}`));
      prev = json.hash;
      n += 1;
    }
  }
  assert.ok(n > STORM, `${n} lines`);
});

test('audit report --format json accounts for every event id, each delivered or failed', async () => {
  const out = join(tempDir(), 'report.json');
  const run = await cli(['audit', 'report', dataDir, '--format', 'json', '--out', out, '--grace-minutes', '0']);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const report = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(report.verified, true);
  assert.deepEqual(report.sinks, ['legacy', 'sentry']);
  const byId = new Map(report.events.map((e) => [e.eventId, e]));
  assert.deepEqual([...byId.keys()].sort(), [...ids].sort());
  for (const id of ids) {
    const e = byId.get(id);
    assert.deepEqual(Object.keys(e.sinks).sort(), ['legacy', 'sentry'], id);
    for (const sink of ['legacy', 'sentry']) {
      const want = id === poison && sink === 'sentry' ? 'failed' : 'delivered';
      assert.equal(e.sinks[sink].status, want, `${id} ${sink}`);
    }
  }
  assert.equal(byId.get(poison).sinks.sentry.reason, 'HTTP 400');
  assert.equal(byId.get(poison).outcome, 'failed');
  assert.deepEqual(report.unsettled, []);
  const t = report.totals;
  assert.equal(t.captured, ids.length);
  assert.equal(t.deliveredEverywhere, ids.length - 1);
  assert.equal(t.sinks.sentry.delivered, ids.length - 1);
  assert.equal(t.sinks.sentry.failed, 1);
  assert.deepEqual(t.sinks.sentry.reasons, { 'HTTP 400': 1 });
  assert.equal(t.sinks.legacy.delivered, ids.length);
  // Every event the first process captured waited for Sentry across the restart.
  assert.ok(t.sinks.sentry.retried >= 1, JSON.stringify(t));
  assert.equal(t.sinks.sentry.owed + t.sinks.legacy.owed, 0);
  assert.equal(report.hosts[0].oldestDay, report.period.since);
});

test('audit report: --since/--until bound the period; md form; bad options are named', async () => {
  const day = readdirSync(join(dataDir, 'audit'))
    .find((f) => f.startsWith('audit-'))
    .slice(6, 16);
  const next = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  const later = JSON.parse((await cli(['audit', 'report', dataDir, '--since', next, '--until', next])).stdout);
  assert.deepEqual([later.totals.captured, later.days.map((d) => d.day)], [0, [next]]);
  const md = await cli(['audit', 'report', dataDir, '--since', day, '--until', day, '--format', 'md']);
  assert.equal(md.code, 0, md.stderr);
  assert.match(md.stdout, /\*\*Chain verified: yes\.\*\*/);
  assert.ok(
    md.stdout.includes(`| ${day} | ${ids.length} | ${ids.length} | 0 | 0 | 0 | ${ids.length - 1} |`),
    md.stdout,
  );
  const bad = await cli(['audit', 'report', dataDir, '--since', '2026-02-30']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--since must be a day as YYYY-MM-DD, got "2026-02-30"/);
});

test('two hosts merged: each chain verified on its own, events summed', async () => {
  const other = tempDir();
  cpSync(join(dataDir, 'audit'), join(other, 'audit'), { recursive: true });
  chmodSync(join(other, 'audit'), 0o700);
  const file = readdirSync(join(other, 'audit')).find((f) => f.startsWith('audit-'));
  const path = join(other, 'audit', file);
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.splice(4, 1);
  writeFileSync(path, lines.join('\n'));
  const out = join(tempDir(), 'merged.json');
  const run = await cli(['audit', 'report', dataDir, other, '--out', out]);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(report.verified, false);
  assert.deepEqual(
    report.hosts.map((h) => [h.source, h.verified, h.chain.broken?.line ?? null]),
    [
      [dataDir, true, null],
      [other, false, 5],
    ],
  );
  // The copy lost one line (a capture or a transition), no more.
  const counts = (r) => r.totals.captured + r.sinks.reduce((n, s) => n + r.totals.sinks[s].delivered, 0);
  const single = ids.length + (2 * ids.length - 1);
  assert.ok([2 * single, 2 * single - 1].includes(counts(report)), `${counts(report)} vs ${2 * single}`);
});

test('the HTML report renders its table and chart in Chromium, fetching nothing', async () => {
  const out = join(tempDir(), 'report.html');
  const run = await cli(['audit', 'report', dataDir, '--format', 'html', '--out', out]);
  assert.equal(run.code, 0, run.stderr);
  const url = pathToFileURL(out).href;
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const left = [];
    page.on('request', (req) => {
      if (req.url() !== url) left.push(req.url());
    });
    await page.route('**/*', (route) => (route.request().url() === url ? route.continue() : route.abort()));
    await page.goto(url);
    assert.deepEqual(left, [], 'requests left the page');
    const dom = await page.evaluate(() => ({
      verdict: document.querySelector('#verdict')?.textContent,
      rows: [...document.querySelectorAll('#days tbody tr[data-day]')].map((tr) =>
        [...tr.children].map((td) => td.textContent),
      ),
      header: [...document.querySelectorAll('#days thead th')].map((th) => th.textContent),
      captured: [...document.querySelectorAll('#chart rect.bar.captured')].map((r) => ({
        value: Number(r.dataset.value),
        height: r.getBBox().height,
      })),
      delivered: [...document.querySelectorAll('#chart rect.bar.delivered')].map((r) => Number(r.dataset.value)),
      reasons: document.querySelector('#reasons')?.textContent,
      chartBox: document.querySelector('#chart').getBoundingClientRect().width,
    }));
    assert.match(dom.verdict, /Trail verified/);
    assert.ok(dom.rows.length >= 1);
    assert.deepEqual(dom.header.slice(0, 2), ['Day (UTC)', 'Captured']);
    assert.equal(
      dom.rows.reduce((n, r) => n + Number(r[1]), 0),
      ids.length,
    );
    assert.equal(dom.captured.length, dom.rows.length);
    assert.equal(
      dom.captured.reduce((n, c) => n + c.value, 0),
      ids.length,
    );
    assert.equal(
      dom.delivered.reduce((n, v) => n + v, 0),
      ids.length - 1,
    );
    assert.ok(dom.captured.some((c) => c.height > 0) && dom.chartBox > 0);
    assert.match(dom.reasons, /HTTP 400/);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'audit-report.png'), fullPage: true });
    assert.deepEqual(left, [], 'requests left the page');
  } finally {
    await browser.close();
  }
});
