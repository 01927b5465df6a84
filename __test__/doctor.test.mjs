// `npx error-tracker doctor`, run as a user would: from the environment alone, against a
// loopback ingest. It must say in one run whether the configuration works: all passing when
// both sinks take the test event, and naming the problem (a malformed DSN, a sink that refuses
// with its HTTP status) otherwise, with the exit code to match.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { tempDir } from './support/child.mjs';
import { startReceiver } from './support/receiver.mjs';

const CLI = resolve(import.meta.dirname, '..', 'bin', 'error-tracker.mjs');

function doctor(env) {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, 'doctor'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ERROR_TRACKER_DIR: tempDir(), ...env },
      cwd: tempDir(),
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('exit', (code) => done({ code, out }));
  });
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
    assert.ok(rx.events.some((e) => e.event_id === id), 'the test event reached Sentry');
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
  const rx = await startReceiver({ respond: (kind) => (kind === 'sentry' ? { status: 401, body: { detail: 'bad key' } } : undefined) });
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
