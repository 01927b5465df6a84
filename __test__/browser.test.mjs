// The browser half end to end (issue 17): examples/nextjs built and served as users run it, its
// screening form opened in a real Chromium (Debian's, through playwright-core), made to throw
// with the subject in its state, its URL, its console and Sentry's user. Sentry's own browser
// SDK posts the error to the app's `/monitoring` tunnel; the strict receiver must get it once
// in each sink, valid for Relay, with none of the planted values in any byte sent or written
// under the tracker's dataDir.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { assertNormalized, closeNormalizer } from './support/normalize.mjs';
import { startReceiver } from './support/receiver.mjs';
import { launchBrowser } from './support/browser.mjs';
import { tempDir } from './support/child.mjs';
import { PLANTED, PLANTED_TEXTS } from './support/envelopes.mjs';

const root = resolve(import.meta.dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let rx;
let app;
let server;
let base;
let browser;
let dataDir;
let serverLog = '';

before(
  async () => {
    rx = await startReceiver();
    const pack = tempDir('et-browser-pack-');
    execFileSync(npm, ['run', 'pack:local', '--', '--out', pack], { cwd: root, stdio: 'pipe' });
    app = tempDir('et-browser-app-');
    cpSync(join(root, 'examples', 'nextjs'), app, {
      recursive: true,
      filter: (src) => !/[\\/](node_modules|\.next)$/.test(src),
    });
    const tarballs = readdirSync(pack).map((t) => join(pack, t));
    // NEXT_PUBLIC_ variables are written into the browser bundle at build time.
    const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1', NEXT_PUBLIC_SENTRY_DSN: rx.dsn };
    execFileSync(npm, ['install', '--no-audit', '--no-fund', ...tarballs], { cwd: app, stdio: 'pipe', env });
    execFileSync(npm, ['run', 'build'], { cwd: app, stdio: 'pipe', env });
    // The example's `postbuild` ran `error-tracker hide-sourcemaps`: no map is left to serve.
    assert.match(readFileSync(join(app, 'package.json'), 'utf8'), /"postbuild": "error-tracker hide-sourcemaps"/);

    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    dataDir = join(app, 'error-tracker-data');
    server = spawn(join(app, 'node_modules', '.bin', 'next'), ['start', '-H', '127.0.0.1', '-p', String(port)], {
      cwd: app,
      env: { ...env, SENTRY_DSN: rx.dsn, CAPTURE_ERROR_URL: rx.legacyUrl, ERROR_TRACKER_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout.on('data', (d) => (serverLog += d));
    server.stderr.on('data', (d) => (serverLog += d));
    await waitUntilServing();
    browser = await launchBrowser();
  },
  { timeout: 900_000 },
);

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  await rx?.close();
  await closeNormalizer();
});

test('the screening form throws in Chromium; each sink gets the error once, with no planted value', async () => {
  const page = await browser.newPage();
  const tunnelled = [];
  page.on('response', (r) => {
    if (r.url().endsWith('/monitoring')) tunnelled.push(r.status());
  });
  const query = new URLSearchParams({ name: PLANTED.name, dob: PLANTED.dob });
  await page.goto(`${base}/screen?${query}`);
  await page.waitForFunction((name) => document.querySelector('input[name=name]')?.value === name, PLANTED.name);
  await page.fill('input[name=ni]', PLANTED.ni);
  await page.fill('input[name=email]', PLANTED.email);
  await page.fill('input[name=card]', PLANTED.card);
  await page.click('button[type=submit]');

  try {
    await rx.waitFor((r) => r.events.length >= 1 && r.legacyErrors.length >= 1, 30_000);
  } catch (e) {
    e.message += `\ntunnel answered ${JSON.stringify(tunnelled)}\nnext start said:\n${serverLog}`;
    throw e;
  }
  await sleep(1000); // a second copy, if there were one, would have come by now
  await page.close();
  assert.deepEqual(rx.problems, []);
  assert.ok(
    tunnelled.every((s) => s === 200),
    JSON.stringify(tunnelled),
  );
  assert.equal(rx.events.length, 1, 'one event at Sentry');
  assert.equal(rx.legacyErrors.length, 1, 'one error at the legacy endpoint');
  const [event] = rx.events;
  assert.equal(event.platform, 'javascript');
  assert.equal(event.sdk.name, 'sentry.javascript.browser');
  assert.deepEqual(event.sdk.settings, { infer_ip: 'never' });
  assert.equal(event.request.url, `${base}/screen`);
  assert.deepEqual(event.user, { id: 'officer-17' });
  assert.match(event.exception.values.at(-1).value, /^Screening failed for /);
  assert.equal(rx.legacyErrors[0].eventId, event.event_id);
  await assertNormalized(rx.events);

  const sent = [...rx.envelopes, ...rx.legacyRequests].map((r) => r.raw).join('\n');
  const written = filesUnder(dataDir);
  assert.ok(written.length > 0, 'the tracker wrote its spool and audit trail');
  for (const value of PLANTED_TEXTS) {
    for (const form of new Set([
      value,
      encodeURIComponent(value),
      new URLSearchParams({ v: value }).toString().slice(2),
    ])) {
      assert.ok(!sent.includes(form), `${form} reached a sink`);
      for (const [path, text] of written) assert.ok(!text.includes(form), `${form} written to ${path}`);
    }
  }
});

test('browser frames read as the app source, and map URLs answer 404', async () => {
  const event = rx.events[0];
  const frames = event.exception.values.at(-1).stacktrace.frames.filter((f) => f.in_app);
  const thrower = frames.at(-1);
  assert.match(thrower.filename, /\.tsx$/, JSON.stringify(frames, null, 1));
  assert.equal(thrower.function, 'screenSubject');
  assert.ok(event.exception.values.at(-1).raw_stacktrace, 'the minified frames are kept');
  // The SDK names a browser frame's script in `filename` (a URL), not `abs_path`.
  const minified = event.exception.values.at(-1).raw_stacktrace.frames.at(-1);
  const chunk = minified.abs_path ?? minified.filename;
  // Its host reads `[ip]`: the scrubber filters IP addresses, 127.0.0.1 included.
  assert.match(chunk, /^http:\/\/\[ip\]:\d+\/_next\/static\/chunks\/[^/]+\.js$/, JSON.stringify(minified));
  const path = new URL(chunk.replace('[ip]', '127.0.0.1')).pathname;
  const served = await fetch(new URL(path, base));
  assert.equal(served.status, 200, 'the chunk itself is still served');
  const script = await served.text();
  assert.ok(!/sourceMappingURL=/.test(script), 'the served chunk names no map');
  const res = await fetch(new URL(`${path}.map`, base));
  assert.equal(res.status, 404);
});

function filesUnder(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push([path, readFileSync(path).toString('latin1')]);
  }
  return out;
}

async function waitUntilServing() {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`next start exited ${server.exitCode}:\n${serverLog}`);
    try {
      if ((await fetch(`${base}/`)).ok) return;
    } catch {}
    await sleep(200);
  }
  throw new Error(`next start did not serve within 60 s:\n${serverLog}`);
}

async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });
}
