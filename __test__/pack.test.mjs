// npm run pack:local leaves the two tarballs a registry would serve for this platform, and they
// install into a fresh project the way users will install them: the main package loads this
// platform's binary package, tracks an error, and ships the doctor CLI; neither tarball
// carries anything users do not need (sources, tests, the Rust build).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { tempDir } from './support/child.mjs';

const root = resolve(import.meta.dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

test('pack:local tarballs install into a fresh project and work', { timeout: 300_000 }, () => {
  execFileSync(npm, ['run', 'pack:local'], { cwd: root, stdio: 'pipe' });
  const tarballs = readdirSync(join(root, 'pack'))
    .filter((f) => f.endsWith('.tgz'))
    .sort();
  assert.equal(tarballs.length, 2, tarballs.join(', '));
  const [main, binary] = tarballs; // calmony-error-tracker-0.1.0.tgz sorts first
  const list = (t) =>
    execFileSync('tar', ['tzf', join(root, 'pack', t)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .sort();
  assert.deepEqual(list(main), [
    'package/README.md',
    'package/bin/audit.mjs',
    'package/bin/error-tracker.mjs',
    'package/bin/hide-sourcemaps.mjs',
    'package/bin/report-html.mjs',
    'package/bin/scrub.mjs',
    'package/binding.js',
    'package/index.d.ts',
    'package/index.js',
    'package/package.json',
    'package/src/capture/fast.js',
    'package/src/capture/scope.js',
    'package/src/tunnel/handle.js',
  ]);
  assert.ok(
    list(binary).some((f) => /^package\/error-tracker\.[\w-]+\.node$/.test(f)),
    list(binary).join(', '),
  );
  assert.ok(list(binary).every((f) => !/\.(rs|mjs|ts)$/.test(f)));

  const app = tempDir('et-app-');
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'fresh-app', version: '1.0.0', private: true }));
  execFileSync(npm, ['install', '--no-audit', '--no-fund', ...tarballs.map((t) => join(root, 'pack', t))], {
    cwd: app,
    stdio: 'pipe',
  });
  const run = spawnSync(
    process.execPath,
    [
      '-e',
      `
    const t = require('@calmony/error-tracker');
    t.init({ dataDir: ${JSON.stringify(join(app, 'data'))} });
    const id = t.trackError(new Error('from the packed addon'));
    t.flush(5000).then((ok) => { console.log(JSON.stringify({ id, ok, outbox: t.stats().delivered.outbox })); });
  `,
    ],
    { cwd: app, encoding: 'utf8' },
  );
  assert.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout.trim());
  assert.match(out.id, /^[0-9a-f]{32}$/);
  assert.deepEqual([out.ok, out.outbox], [true, 1]);
  // Node's ESM loader finds every export by name (index.js assigns them one by one), and the
  // fast path's native half is not among them.
  const esm = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `
    import * as t from '@calmony/error-tracker';
    import { trackError } from '@calmony/error-tracker';
    console.log(JSON.stringify({ names: Object.keys(t).sort(), id: trackError(new Error('from ESM')) }));
  `,
    ],
    { cwd: app, encoding: 'utf8', env: { ...process.env, ERROR_TRACKER_DIR: join(app, 'data-esm') } },
  );
  assert.equal(esm.status, 0, esm.stderr);
  const exported = JSON.parse(esm.stdout.trim());
  assert.deepEqual(exported.names, [
    'addBreadcrumb',
    'captureMessage',
    'close',
    'configuration',
    'default',
    'errorResponse',
    'flush',
    'getCurrentScope',
    'getIsolationScope',
    'handleTunnel',
    'init',
    'internalServerError',
    'onRequestError',
    'setContext',
    'setTag',
    'setTags',
    'setUser',
    'stats',
    'trackError',
    'verifyAuditTrail',
    'withScope',
  ]);
  assert.match(exported.id, /^[0-9a-f]{32}$/);
  const doctor = spawnSync(join(app, 'node_modules', '.bin', 'error-tracker'), ['doctor'], {
    cwd: app,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ERROR_TRACKER_DIR: join(app, 'data') },
  });
  assert.match(doctor.stdout, /error-tracker doctor/);
  assert.match(doctor.stdout, /no sink configured/);
  // The audit commands ship with the package: the first run's trail verifies and reports.
  const auditCli = (...args) =>
    spawnSync(join(app, 'node_modules', '.bin', 'error-tracker'), ['audit', ...args], {
      cwd: app,
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });
  const verified = auditCli('verify', join(app, 'data'));
  assert.equal(verified.status, 0, verified.stdout + verified.stderr);
  const html = auditCli('report', join(app, 'data'), '--format', 'html');
  assert.equal(html.status, 0, html.stderr);
  assert.match(html.stdout, /<svg id="chart"/);
  // `scrub` is in the package too (bin/scrub.mjs), and finds the binary from there.
  const scrub = spawnSync(join(app, 'node_modules', '.bin', 'error-tracker'), ['scrub'], {
    cwd: app,
    encoding: 'utf8',
    input: '{"fullName":"Jane Roe"}',
    env: { PATH: process.env.PATH },
  });
  assert.equal(scrub.status, 0, scrub.stderr);
  assert.match(scrub.stdout, /"fullName": "\[Filtered\]"/);

  // The binary package missing, as when npm skips an optional dependency: the error names it.
  const platform = binary.match(/-(\w+-\w+(?:-\w+)?)-\d/)[1]; // calmony-error-tracker-linux-x64-gnu-0.1.0.tgz
  rmSync(join(app, 'node_modules', '@calmony', `error-tracker-${platform}`), { recursive: true });
  const load = (preload = '') =>
    spawnSync(
      process.execPath,
      [
        '-e',
        `${preload}
    try { require('@calmony/error-tracker'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, cause: Boolean(e.cause) })); }
  `,
      ],
      { cwd: app, encoding: 'utf8' },
    );
  const missing = JSON.parse(load().stdout);
  assert.equal(missing.code, 'ERR_ERROR_TRACKER_BINARY');
  assert.ok(missing.cause);
  assert.match(missing.message, new RegExp(`npm install @calmony/error-tracker-${platform}\``));

  // A platform with no prebuilt binary: the error says so and lists the ones that exist.
  const odd = JSON.parse(load(`Object.defineProperty(process, 'arch', { value: 'riscv64' });`).stdout);
  assert.equal(odd.code, 'ERR_ERROR_TRACKER_BINARY');
  assert.match(odd.message, /no prebuilt binary for \w+-riscv64/);
  assert.match(
    odd.message,
    /linux-x64-gnu, linux-x64-musl, linux-arm64-gnu, linux-arm64-musl, darwin-x64, darwin-arm64, win32-x64-msvc/,
  );
});

// Installed from a checkout instead of from the pack:local tarballs: `npm pack` of the checkout
// ships no binary (and no platform package among its optional dependencies), and
// `npm install /path/to/checkout` links a checkout that may not be built yet. Neither has a
// platform package to install from a registry, so the error must say how to build one, and not
// send anyone to `npm install @calmony/error-tracker-<platform>`.
test('installed from a checkout without a binary, the loader says to build it', { timeout: 120_000 }, () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const load = (app) => {
    const r = spawnSync(
      process.execPath,
      [
        '-e',
        `
      try { require('@calmony/error-tracker'); console.log('{}'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, cause: Boolean(e.cause) })); }
    `,
      ],
      { cwd: app, encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const freshApp = () => {
    const app = tempDir('et-app-');
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'fresh-app', version: '1.0.0', private: true }));
    return app;
  };

  // `npm pack` in the checkout, then that tarball installed: `npm run pack:local` is the way.
  const out = tempDir('et-npm-pack-');
  execFileSync(npm, ['pack', '--pack-destination', out], { cwd: root, stdio: 'pipe' });
  const [tarball] = readdirSync(out).filter((f) => f.endsWith('.tgz'));
  const packed = freshApp();
  execFileSync(npm, ['install', '--no-audit', '--no-fund', join(out, tarball)], { cwd: packed, stdio: 'pipe' });
  const fromTarball = load(packed);
  assert.equal(fromTarball.code, 'ERR_ERROR_TRACKER_BINARY');
  assert.ok(fromTarball.cause);
  assert.match(fromTarball.message, /npm run pack:local/);
  assert.doesNotMatch(fromTarball.message, /npm install @calmony\/error-tracker-/);

  // `npm install /path/to/checkout` of a checkout not built yet (a copy of this one without its
  // .node): build it there with `npm run build`.
  const checkout = tempDir('et-checkout-');
  for (const file of [...pkg.files, 'package.json', 'Cargo.toml', 'src/lib.rs']) {
    mkdirSync(dirname(join(checkout, file)), { recursive: true });
    copyFileSync(join(root, file), join(checkout, file));
  }
  const linked = freshApp();
  execFileSync(npm, ['install', '--no-audit', '--no-fund', '--install-links=false', checkout], {
    cwd: linked,
    stdio: 'pipe',
  });
  const fromCheckout = load(linked);
  assert.equal(fromCheckout.code, 'ERR_ERROR_TRACKER_BINARY');
  assert.ok(fromCheckout.cause);
  assert.match(fromCheckout.message, /npm run build/);
  assert.ok(fromCheckout.message.includes(realpathSync(checkout)), fromCheckout.message);
  assert.doesNotMatch(fromCheckout.message, /npm install @calmony\/error-tracker-/);
});
