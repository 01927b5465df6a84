// `error-tracker hide-sourcemaps` on a real `next build` of a tiny app with a client component
// (productionBrowserSourceMaps on): afterwards no map is under .next/static, no chunk names
// one, the maps sit in a private folder with an index, `next start` answers 404 for every map
// URL, and a minified browser frame (`https://example.test/_next/static/chunks/…js:1:<col>`)
// resolves through the tracker to the .tsx file and the original function.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { before, test } from 'node:test';
import { startReceiver } from './support/receiver.mjs';
import { addonPath, tempDir } from './support/child.mjs';

const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'bin', 'error-tracker.mjs');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const example = JSON.parse(readFileSync(join(root, 'examples', 'nextjs', 'package.json'), 'utf8'));
const MARKER = 'marker-browser-screening';

const FILES = {
  'package.json': JSON.stringify({
    name: 'hide-sourcemaps-app',
    private: true,
    // The example's versions, so npm's cache serves both apps.
    dependencies: {
      next: example.dependencies.next,
      react: example.dependencies.react,
      'react-dom': example.dependencies['react-dom'],
    },
    devDependencies: example.devDependencies,
  }),
  'next.config.mjs': 'export default { productionBrowserSourceMaps: true };\n',
  'tsconfig.json': readFileSync(join(root, 'examples', 'nextjs', 'tsconfig.json'), 'utf8'),
  'app/layout.tsx': `export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
`,
  'app/page.tsx': `import ScreeningForm from './screening-form';

export default function Page() {
  return <ScreeningForm />;
}
`,
  'app/screening-form.tsx': `'use client';
import { useState } from 'react';

function checkSubject(name: string): string {
  if (name.trim().length > 0) {
    throw new Error(\`${MARKER} \${name.length}\`);
  }
  return name;
}

export default function ScreeningForm() {
  const [name, setName] = useState('');
  return (
    <form onSubmit={(e) => { e.preventDefault(); checkSubject(name); }}>
      <input value={name} onChange={(e) => setName(e.target.value)} />
      <button type="submit">Screen</button>
    </form>
  );
}
`,
};

let app;
let hidden;
let said;

before(
  () => {
    app = tempDir('et-hide-');
    for (const [name, text] of Object.entries(FILES)) {
      mkdirSync(join(app, name, '..'), { recursive: true });
      writeFileSync(join(app, name), text);
    }
    const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1' };
    execFileSync(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, stdio: 'pipe', env });
    execFileSync(join(app, 'node_modules', '.bin', 'next'), ['build'], { cwd: app, stdio: 'pipe', env });
    assert.ok(
      files(join(app, '.next', 'static')).some((f) => f.endsWith('.js.map')),
      'next build wrote browser maps',
    );
    said = execFileSync(process.execPath, [cli, 'hide-sourcemaps'], { cwd: app, encoding: 'utf8' });
    hidden = join(app, '.error-tracker', 'sourcemaps');
  },
  { timeout: 600_000 },
);

test('the served tree keeps no map and names none', () => {
  assert.match(said, /moved \d+ map\(s\)/);
  const served = files(join(app, '.next', 'static'));
  assert.deepEqual(
    served.filter((f) => f.endsWith('.map')),
    [],
  );
  for (const f of served.filter((f) => /\.(m?js|css)$/.test(f))) {
    assert.doesNotMatch(readFileSync(join(app, '.next', 'static', f), 'utf8'), /sourceMappingURL/, f);
  }
});

test('the maps sit in a folder only this user can read, indexed by served path', () => {
  const index = JSON.parse(readFileSync(join(hidden, 'index.json'), 'utf8'));
  assert.equal(index.version, 1);
  assert.equal(index.builds.length, 1);
  const [build] = index.builds;
  assert.equal(build.id, readFileSync(join(app, '.next', 'BUILD_ID'), 'utf8').trim());
  assert.ok(build.maps.length > 0);
  for (const entry of build.maps) {
    assert.match(entry.path, /^\/_next\/static\/[^?#]+\.(js|css)$/);
    const chunk = join(app, '.next', 'static', entry.path.slice('/_next/static/'.length));
    assert.ok(statSync(chunk).isFile(), `${entry.path} is served`);
    assert.ok(statSync(join(hidden, entry.map)).isFile(), entry.map);
  }
  const mode = (p) => statSync(p).mode & 0o777;
  for (const f of files(hidden)) assert.equal(mode(join(hidden, f)), 0o600, f);
  for (const d of dirs(hidden)) assert.equal(mode(join(hidden, d)), 0o700, d);
  assert.equal(mode(hidden), 0o700);

  // A second run changes nothing.
  const before = readFileSync(join(hidden, 'index.json'), 'utf8');
  execFileSync(process.execPath, [cli, 'hide-sourcemaps'], { cwd: app, encoding: 'utf8' });
  assert.equal(readFileSync(join(hidden, 'index.json'), 'utf8'), before);
});

test('a minified browser frame resolves to the .tsx and its original function', async () => {
  const { url, line, col } = thrower();
  const rx = await startReceiver();
  try {
    const tracker = createRequire(import.meta.url)(addonPath);
    tracker.init({ dsn: rx.dsn, dataDir: tempDir('et-hide-data-'), sourcemapsDir: hidden });
    const error = new Error('browser failure');
    // What the browser printed, under a CDN assetPrefix and a basePath, with Vercel's ?dpl=.
    error.stack = `Error: browser failure\n    at t (${url}:${line}:${col})`;
    tracker.trackError(error);
    assert.equal(await tracker.flush(10_000), true);
    await rx.waitFor((r) => r.events.length === 1);
    const [frame] = rx.events[0].exception.values[0].stacktrace.frames;
    assert.equal(frame.filename, 'app/screening-form.tsx', JSON.stringify(frame));
    assert.equal(frame.function, 'checkSubject', JSON.stringify(frame));
    assert.equal(frame.lineno, 6);
    assert.match(frame.context_line, new RegExp(MARKER));
    assert.equal(frame.in_app, true);
    assert.deepEqual(rx.problems, []);
  } finally {
    await rx.close();
  }
});

test('next start answers 404 for every map URL, and still serves the chunks', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(join(app, 'node_modules', '.bin', 'next'), ['start', '-H', '127.0.0.1', '-p', String(port)], {
    cwd: app,
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
    stdio: 'ignore',
  });
  try {
    await waitUntilServing(base, server);
    const index = JSON.parse(readFileSync(join(hidden, 'index.json'), 'utf8'));
    for (const { path } of index.builds[0].maps) {
      assert.equal((await fetch(`${base}${path}`)).status, 200, path);
      assert.equal((await fetch(`${base}${path}.map`)).status, 404, `${path}.map`);
    }
  } finally {
    server.kill('SIGTERM');
  }
});

test('earlier builds are kept up to --keep, for tabs left open across a deploy', () => {
  const dist = join(tempDir('et-hide-keep-'), '.next');
  const build = (id) => {
    mkdirSync(join(dist, 'static', 'chunks'), { recursive: true });
    writeFileSync(join(dist, 'BUILD_ID'), id);
    writeFileSync(join(dist, 'static', 'chunks', `${id}.js`), `x()\n//# sourceMappingURL=${id}.js.map\n`);
    writeFileSync(join(dist, 'static', 'chunks', `${id}.js.map`), '{"version":3,"sources":[],"mappings":""}');
    execFileSync(process.execPath, [cli, 'hide-sourcemaps', dist, '--keep', '2'], { encoding: 'utf8' });
  };
  const out = join(dist, '..', '.error-tracker', 'sourcemaps');
  const ids = () => JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')).builds.map((b) => b.id);
  build('one');
  build('two');
  assert.deepEqual(ids(), ['two', 'one']);
  build('three');
  assert.deepEqual(ids(), ['three', 'two']);
  assert.deepEqual(readdirSync(join(out, 'builds')).sort(), ['three', 'two']);
});

test('the private folder may not be inside the served tree', () => {
  const dist = join(tempDir('et-hide-out-'), '.next');
  mkdirSync(join(dist, 'static'), { recursive: true });
  let failed;
  try {
    execFileSync(process.execPath, [cli, 'hide-sourcemaps', dist, '--out', join(dist, 'static', 'maps')], {
      stdio: 'pipe',
    });
  } catch (e) {
    failed = e;
  }
  assert.equal(failed?.status, 1);
  assert.match(String(failed.stderr), /would be served/);
});

/** The client chunk holding the throw, and the throw's position in it, as a browser URL. */
function thrower() {
  const staticDir = join(app, '.next', 'static');
  for (const f of files(staticDir).filter((f) => f.endsWith('.js'))) {
    const text = readFileSync(join(staticDir, f), 'utf8');
    const marker = text.indexOf(MARKER);
    if (marker < 0) continue;
    // The minifier may drop `new`; the frame is where `Error(` is called.
    const at = text.lastIndexOf('Error', marker);
    const before = text.slice(0, at);
    const line = before.split('\n').length;
    const col = at - before.lastIndexOf('\n');
    const path = f.split('\\').join('/');
    return { url: `https://cdn.example.test/assets/screening/_next/static/${path}?dpl=dpl_1`, line, col };
  }
  throw new Error(`no client chunk has ${MARKER}`);
}

function files(dir, prefix = '') {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) => {
    const rel = join(prefix, e.name);
    return e.isDirectory() ? files(dir, rel) : [rel];
  });
}

function dirs(dir, prefix = '') {
  return readdirSync(join(dir, prefix), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => [join(prefix, e.name), ...dirs(dir, join(prefix, e.name))]);
}

async function waitUntilServing(base, server) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`next start exited ${server.exitCode}`);
    try {
      if ((await fetch(`${base}/`)).ok) return;
    } catch {}
    await sleep(200);
  }
  throw new Error('next start did not serve within 60 s');
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
