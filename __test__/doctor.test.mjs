// `npx error-tracker doctor`, run as a user would: from the environment alone, against a
// loopback ingest. It must say in one run whether the configuration works: all passing when
// both sinks take the test event, and naming the problem (a malformed DSN, a sink that refuses
// with its HTTP status, a port nobody listens on) otherwise, with the exit code to match, and
// leave nothing behind that the app would send later.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { runNode, tempDir } from './support/child.mjs';
import { closedPort, startReceiver } from './support/receiver.mjs';

const CLI = resolve(import.meta.dirname, '..', 'bin', 'error-tracker.mjs');

/** Runs the CLI; a run still going after `timeoutMs` is killed and reported as timedOut. */
function cli(args, env, { timeoutMs = 60_000 } = {}) {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ERROR_TRACKER_DIR: tempDir(), ...env },
      cwd: tempDir(),
    });
    let out = '';
    let stdout = '';
    child.stdout.on('data', (d) => {
      out += d;
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      done({ code, out, stdout, timedOut });
    });
  });
}

const doctor = (env, options) => cli(['doctor'], env, options);

/** A loopback port with nothing listening on it. */

/** Every file under `dir`, as [path, text]. */
function filesUnder(dir) {
  return readdirSync(dir, { recursive: true })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile())
    .map((f) => [f, readFileSync(f, 'latin1')]);
}

test('doctor passes when both sinks take the test event', async () => {
  const rx = await startReceiver();
  try {
    const { code, out } = await doctor({ SENTRY_DSN: rx.dsn, CAPTURE_ERROR_URL: rx.legacyUrl });
    assert.equal(code, 0, out);
    assert.match(out, /✓ sentry: test event delivered/);
    assert.match(out, /✓ legacy: test event delivered/);
    assert.match(out, /all checks passed/);
    const id = /test event:\s+([0-9a-f]{32})/.exec(out)?.[1];
    assert.ok(
      rx.events.some((e) => e.event_id === id),
      'the test event reached Sentry',
    );
    assert.deepEqual(rx.problems, []);
  } finally {
    await rx.close();
  }
});

test('doctor names a malformed DSN and exits 1', async () => {
  const { code, out } = await doctor({ SENTRY_DSN: 'not a dsn' });
  assert.equal(code, 1);
  assert.match(out, /✗ configuration: .*SENTRY_DSN/);
});

test('doctor reports a sink that refuses, with its status', async () => {
  const rx = await startReceiver({
    respond: (kind) => (kind === 'sentry' ? { status: 401, body: { detail: 'bad key' } } : undefined),
  });
  try {
    const { code, out } = await doctor({ SENTRY_DSN: rx.dsn, CAPTURE_ERROR_URL: rx.legacyUrl });
    assert.equal(code, 1, out);
    assert.match(out, /✗ sentry: refused the test event \(HTTP 401\)/);
    assert.match(out, /✓ legacy: test event delivered/);
  } finally {
    await rx.close();
  }
});

test('doctor says when no sink is configured', async () => {
  const { code, out } = await doctor({});
  assert.equal(code, 1);
  assert.match(out, /no sink configured/);
});

test('doctor names a DSN whose project id is not a number', async () => {
  const { code, out } = await doctor({ SENTRY_DSN: 'http://abc@127.0.0.1:9/notanumber' });
  assert.equal(code, 1, out);
  assert.match(out, /✗ configuration: .*SENTRY_DSN.*project id/);
});

test('doctor says a CAPTURE_ERROR_URL without a scheme has none, and how to write it', async () => {
  const { code, out } = await doctor({ CAPTURE_ERROR_URL: 'localhost:8787/capture' });
  assert.equal(code, 1, out);
  assert.match(out, /✗ configuration: .*CAPTURE_ERROR_URL.*has no scheme: write http:\/\/localhost:8787\/capture/);
});

test('--help prints the usage and exits 0; an unknown command exits 2', async () => {
  for (const flag of ['--help', '-h', 'help']) {
    const { code, stdout } = await cli([flag], {});
    assert.equal(code, 0, flag);
    assert.match(stdout, /usage: error-tracker doctor/, flag);
  }
  const { code, out } = await cli(['docter'], {});
  assert.equal(code, 2);
  assert.match(out, /unknown command `docter`[^]*usage: error-tracker doctor/);
});

test('doctor says what it is doing, and reports a refused connection at once', async () => {
  const port = await closedPort();
  // doctor's own wait is 20 s: a run still going at 15 s has not reported "at once".
  const { code, out, timedOut } = await doctor(
    { SENTRY_DSN: `http://key@127.0.0.1:${port}/42` },
    { timeoutMs: 15_000 },
  );
  assert.equal(timedOut, false, `doctor was still waiting after 15 s:\n${out}`);
  assert.equal(code, 1, out);
  const sending = out.search(/sending the test event to sentry/);
  const refused = out.search(new RegExp(`✗ sentry: connection refused by 127\\.0\\.0\\.1:${port}`));
  assert.ok(sending >= 0 && refused > sending, `says what it does, then the refusal:\n${out}`);
  assert.doesNotMatch(out, /within 20 s/);
});

test("doctor leaves nothing in the app's data directory for the app to send later", async () => {
  const dir = tempDir();
  const port = await closedPort();
  const run = await doctor({ SENTRY_DSN: `http://key@127.0.0.1:${port}/42`, ERROR_TRACKER_DIR: dir });
  assert.equal(run.code, 1, run.out);
  const id = /test event:\s+([0-9a-f]{32})/.exec(run.out)?.[1];
  assert.ok(id, run.out);
  for (const [file, text] of filesUnder(dir)) assert.ok(!text.includes(id), `${file} mentions the test event`);

  // The app starts in that directory with the ingest up: the doctor's event must not reach it.
  const rx = await startReceiver();
  try {
    const app = await runNode(
      `
      tracker.init();
      console.log(JSON.stringify({ done: await tracker.flush(10000), stats: tracker.stats() }));
    `,
      { env: { SENTRY_DSN: rx.dsn, ERROR_TRACKER_DIR: dir } },
    );
    assert.equal(app.code, 0, app.stderr);
    const { done, stats } = JSON.parse(app.stdout);
    assert.equal(done, true);
    assert.equal(stats.replayed, 0);
    assert.deepEqual(
      rx.events.map((e) => e.event_id),
      [],
    );
    assert.deepEqual(rx.problems, []);
  } finally {
    await rx.close();
  }
});

test('doctor lists per release the errors and the groups first seen in it, from the audit trail', async () => {
  const appDir = tempDir('et-doctor-releases-');
  // Two deploys of the app: the second brings one new error (a group is a type and a throw
  // site, so the types tell them apart here).
  // The same code in both (a module of its own: the in-app frames are part of a group).
  const code = join(appDir, 'app.mjs');
  writeFileSync(
    code,
    'for (const type of globalThis.TYPES) globalThis.tracker.trackError(new globalThis[type]("failed"));\n',
  );
  const app = (release, types) =>
    runNode(`
      tracker.init({ dataDir: ${JSON.stringify(appDir)}, release: ${JSON.stringify(release)} });
      Object.assign(globalThis, { tracker, TYPES: ${JSON.stringify(types)} });
      await import(${JSON.stringify(code)});
      await tracker.close(10_000);
    `);
  assert.equal((await app('screening@1.0.0', ['Error', 'Error', 'RangeError'])).code, 0);
  assert.equal((await app('screening@1.1.0', ['Error', 'TypeError'])).code, 0);
  const run = await doctor({ ERROR_TRACKER_DIR: appDir });
  assert.match(run.stdout, /screening@1\.0\.0: 3 errors, new groups: [0-9a-f]+, [0-9a-f]+\n/);
  assert.match(run.stdout, /screening@1\.1\.0: 2 errors, new groups: [0-9a-f]+\n/);
});
